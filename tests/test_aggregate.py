"""Runs -> tables on small hand-made inputs with hand-checked values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from bnstudy.aggregate import (
    comparison_pairs,
    comparisons_table,
    epochs_to,
    reached_table,
    runs_table,
    summary_table,
)
from bnstudy.config import compose, validate
from bnstudy.studies import conditions

CFG = validate(compose(["study.n_resamples=500"]))
STUDY = CFG.study
CONDS = conditions(CFG)


def _history(curves: dict[tuple[str, int], list[float]]) -> pd.DataFrame:
    rows = []
    for (variant, seed), acc in curves.items():
        for e, a in enumerate(acc, start=1):
            rows.append(
                {
                    "condition": variant,
                    "seed": seed,
                    "epoch": e,
                    "loss": 1.0 - a / 2,
                    "accuracy": a - 0.05,
                    "val_loss": 1.0 - a / 3,
                    "val_accuracy": a,
                }
            )
    return pd.DataFrame(rows)


CURVES = {
    ("baseline", 0): [0.50, 0.70, 0.80, 0.85],
    ("baseline", 1): [0.50, 0.60, 0.70, 0.75],
    ("baseline", 2): [0.40, 0.50, 0.55, 0.58],
    ("bn_after", 0): [0.80, 0.90, 0.92, 0.95],
    ("bn_after", 1): [0.60, 0.82, 0.85, 0.88],
    ("bn_after", 2): [0.70, 0.81, 0.86, 0.91],
    ("baseline", 3): [0.50, 0.50, 0.50, 0.50],  # diverged at epoch 2
    ("bn_after", 3): [0.80, 0.80, 0.80, 0.80],
}


@pytest.fixture
def runs():
    hist = _history(CURVES)
    finals = pd.DataFrame(
        [
            {
                "condition": v,
                "seed": s,
                "run_key": f"{v}{s}",
                "train_accuracy": c[-1] + 0.01,
                "train_loss": 0.3,
                "diverged_epoch": 2.0 if (v, s) == ("baseline", 3) else math.nan,
            }
            for (v, s), c in CURVES.items()
        ]
    )
    return runs_table(hist, finals, [0.8, 0.9], CONDS)


def test_epochs_to_threshold_is_first_epoch_reaching_it():
    assert epochs_to(np.array([0.5, 0.79, 0.8, 0.9]), 0.8) == 3.0
    assert epochs_to(np.array([0.81]), 0.8) == 1.0
    assert math.isnan(epochs_to(np.array([0.5, 0.79]), 0.8))


def test_runs_table_values(runs):
    r = runs.set_index(["condition", "seed"])
    assert len(runs) == 8
    assert list(runs.columns[:4]) == ["condition", "variant", "seed", "run_key"]
    assert r.loc[("baseline", 3), "diverged"] and not r.loc[("baseline", 0), "diverged"]
    assert r.loc[("baseline", 0), "test_accuracy"] == 0.85
    assert r.loc[("baseline", 0), "fit_accuracy"] == pytest.approx(0.80)
    assert r.loc[("baseline", 0), "epochs_to_80"] == 3
    assert math.isnan(r.loc[("baseline", 0), "epochs_to_90"])
    assert math.isnan(r.loc[("baseline", 1), "epochs_to_80"])
    assert r.loc[("bn_after", 0), "epochs_to_90"] == 2
    assert r.loc[("bn_after", 2), "auc_test_accuracy"] == pytest.approx(
        (0.7 + 0.81 + 0.86 + 0.91) / 4
    )
    assert r.loc[("bn_after", 1), "gap"] == pytest.approx(0.01)
    assert r.loc[("bn_after", 1), "run_key"] == "bn_after1"
    assert r.loc[("bn_after", 1), "epochs"] == 4


def test_summary_counts_divergences_and_censored_runs(runs):
    runs = runs[runs["seed"] < 4]
    s = summary_table(runs, STUDY).set_index("condition")
    assert s.loc["baseline", "n_seeds"] == 4
    assert s.loc["baseline", "n_diverged"] == 1
    assert s.loc["bn_after", "n_diverged"] == 0
    assert s.loc["baseline", ["diverged_ci_low", "diverged_ci_high"]].tolist() == pytest.approx(
        [0.0456, 0.6994], abs=1e-4
    )  # Wilson interval of 1/4
    assert s.loc["baseline", "test_accuracy_mean"] == pytest.approx((0.85 + 0.75 + 0.58) / 3)
    lo, hi = s.loc["bn_after", ["test_accuracy_ci_low", "test_accuracy_ci_high"]]
    assert 0.80 <= lo <= s.loc["bn_after", "test_accuracy_mean"] <= hi <= 0.95
    assert s.loc["baseline", "test_accuracy_std"] == pytest.approx(
        np.std([0.85, 0.75, 0.58], ddof=1)
    )
    assert s.loc["baseline", "test_accuracy_worst"] == 0.58
    assert s.loc["baseline", "test_accuracy_median"] == 0.75
    # baseline (diverged seed left out): only seed 0 reaches 80% (epoch 3); two of three are
    # censored -> the Kaplan-Meier survival never drops to 0.5 -> median never
    assert s.loc["baseline", "epochs_to_80_n_censored"] == 2
    assert math.isinf(s.loc["baseline", "epochs_to_80_median"])
    # bn_after reaches 80% at epochs 1, 2, 2, 1 -> KM median 1 (S(1) = 0.5), nobody censored
    assert s.loc["bn_after", "epochs_to_80_median"] == 1
    assert s.loc["bn_after", "epochs_to_80_n_censored"] == 0
    assert s.loc["bn_after", "epochs_to_90_n_censored"] == 2
    assert s.loc["bn_after", "epochs_to_80_rmst"] == pytest.approx((1 + 2 + 2 + 1) / 4)


def test_comparisons_are_paired_over_non_diverged_seeds_with_restricted_epochs(runs):
    runs = runs[runs["seed"] < 4]
    c = comparisons_table(runs, STUDY, CONDS).set_index(["comparison", "measure"])
    acc = c.loc[("bn_after - baseline", "test_accuracy")]
    assert acc["n"] == 3  # seed 3 diverged for baseline
    assert acc["mean_diff"] == pytest.approx(((0.95 - 0.85) + (0.88 - 0.75) + (0.91 - 0.58)) / 3)
    ep = c.loc[("bn_after - baseline", "epochs_to_80")]
    # baseline epochs to 80%: 3, never (=4 epochs), never (=4); bn_after: 1, 2, 2
    assert ep["mean_diff"] == pytest.approx(((1 - 3) + (2 - 4) + (2 - 4)) / 3)
    assert acc["p_improve"] == pytest.approx(1.0)  # every bn_after run beats every baseline run
    assert 0 <= acc["t_p_holm"] <= 1


def test_comparison_pairs_come_from_the_study_config():
    assert comparison_pairs(STUDY, CONDS) == [
        ("bn_after", "baseline"),
        ("bn_before", "baseline"),
        ("bn_after", "bn_before"),
    ]
    study = OmegaConf.merge(STUDY, {"comparisons": [], "claims": []})
    assert comparison_pairs(study, CONDS) == []


def test_comparison_pairs_within_the_other_axes():
    cfg = validate(compose(["study=bn_momentum"]))
    pairs = comparison_pairs(cfg.study, conditions(cfg))
    assert pairs == [
        ("bn_after momentum=0.0", "bn_after momentum=0.99"),
        ("bn_before momentum=0.0", "bn_before momentum=0.99"),
    ]


def test_reached_fraction_by_epoch(runs):
    r = reached_table(runs[runs["seed"] < 3], 0.8)
    base = r[r["condition"] == "baseline"]["fraction"].tolist()
    after = r[r["condition"] == "bn_after"]["fraction"].tolist()
    assert base == pytest.approx([0, 0, 1 / 3, 1 / 3])
    assert after == pytest.approx([1 / 3, 1, 1, 1])


def test_other_evaluations_and_layer_statistics_become_measures():
    """train.extra_eval / layer_stats histories give per-run measures and summary columns."""
    hist = _history(CURVES)
    hist["val_accuracy_pop"] = (hist["val_accuracy"] + 0.15).clip(upper=1.0)  # 0.15 higher
    hist["val_loss_pop"] = hist["val_loss"]
    hist["hidden_drift"] = hist["epoch"] * 0.1  # 0.1, 0.2, 0.3, 0.4: mean 0.25
    for m in ("hidden_mean_train", "hidden_std_train", "hidden_mean_infer", "hidden_std_infer"):
        hist[m] = 1.0
    finals = pd.DataFrame(
        [
            {
                "condition": v,
                "seed": s,
                "run_key": f"{v}{s}",
                "train_accuracy": 0.9,
                "train_loss": 0.3,
                "diverged_epoch": math.nan,
            }
            for (v, s) in CURVES
        ]
    )
    runs = runs_table(hist, finals, [0.8], CONDS).set_index(["condition", "seed"])
    # baseline seed 1: 0.65, 0.75, 0.85, 0.90 with population statistics: 80% at epoch 3
    assert runs.loc[("baseline", 1), "epochs_to_80_pop"] == 3
    assert runs.loc[("baseline", 1), "epochs_to_80"] == pytest.approx(math.nan, nan_ok=True)
    assert runs.loc[("baseline", 1), "test_accuracy_pop"] == pytest.approx(0.90)
    assert runs.loc[("baseline", 1), "hidden_drift_mean"] == pytest.approx(0.25)
    assert "epochs_to_80_m90" not in runs  # not recorded: no column
    summary = summary_table(runs.reset_index(), STUDY)
    assert {"epochs_to_80_pop_median", "test_accuracy_pop_mean", "hidden_drift_mean_mean"} <= set(
        summary.columns
    )
