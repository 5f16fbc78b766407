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

STUDY = OmegaConf.create(
    {"thresholds": [0.8, 0.9], "confidence": 0.95, "n_resamples": 500, "failure_accuracy": 0.6}
)


def _history(curves: dict[tuple[str, int], list[float]]) -> pd.DataFrame:
    rows = []
    for (variant, seed), acc in curves.items():
        for e, a in enumerate(acc, start=1):
            rows.append(
                {
                    "variant": variant,
                    "seed": seed,
                    "run_id": f"{variant}{seed}",
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
}


@pytest.fixture
def runs():
    hist = _history(CURVES)
    finals = pd.DataFrame(
        [
            {
                "variant": v,
                "seed": s,
                "run_id": f"{v}{s}",
                "train_accuracy": c[-1] + 0.01,
                "train_loss": 0.3,
            }
            for (v, s), c in CURVES.items()
        ]
    )
    return runs_table(hist, finals, [0.8, 0.9])


def test_epochs_to_threshold_is_first_epoch_reaching_it():
    assert epochs_to(np.array([0.5, 0.79, 0.8, 0.9]), 0.8) == 3.0
    assert epochs_to(np.array([0.81]), 0.8) == 1.0
    assert math.isnan(epochs_to(np.array([0.5, 0.79]), 0.8))


def test_runs_table_values(runs):
    r = runs.set_index(["variant", "seed"])
    assert len(runs) == 6
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
    assert r.loc[("bn_after", 1), "run_id"] == "bn_after1"
    assert r.loc[("bn_after", 1), "epochs"] == 4


def test_summary_counts_failures_and_censored_runs(runs):
    s = summary_table(runs, STUDY).set_index("variant")
    assert s.loc["baseline", "n_seeds"] == 3
    assert s.loc["baseline", "n_failed"] == 1  # 0.58 < 0.6
    assert s.loc["bn_after", "n_failed"] == 0
    assert s.loc["baseline", "test_accuracy_mean"] == pytest.approx((0.85 + 0.75 + 0.58) / 3)
    assert s.loc["baseline", "test_accuracy_std"] == pytest.approx(
        np.std([0.85, 0.75, 0.58], ddof=1)
    )
    assert s.loc["baseline", "test_accuracy_worst"] == 0.58
    assert s.loc["baseline", "test_accuracy_median"] == 0.75
    # baseline: only seed 0 reaches 80% (epoch 3); two of three are censored -> median never
    assert s.loc["baseline", "epochs_to_80_censored"] == 2
    assert math.isinf(s.loc["baseline", "epochs_to_80_median"])
    # bn_after reaches 80% at epochs 1, 2, 2 -> median 2, nobody censored
    assert s.loc["bn_after", "epochs_to_80_median"] == 2
    assert s.loc["bn_after", "epochs_to_80_censored"] == 0
    assert s.loc["bn_after", "epochs_to_90_censored"] == 1
    lo, hi = s.loc["bn_after", ["test_accuracy_ci_low", "test_accuracy_ci_high"]]
    assert 0.88 <= lo <= s.loc["bn_after", "test_accuracy_mean"] <= hi <= 0.95


def test_comparisons_are_paired_and_censored_epochs_count_as_epochs_plus_one(runs):
    c = comparisons_table(runs, STUDY).set_index(["comparison", "measure"])
    acc = c.loc[("bn_after - baseline", "test_accuracy")]
    assert acc["n"] == 3
    assert acc["mean_diff"] == pytest.approx(((0.95 - 0.85) + (0.88 - 0.75) + (0.91 - 0.58)) / 3)
    ep = c.loc[("bn_after - baseline", "epochs_to_80")]
    # baseline epochs to 80%: 3, never (=5), never (=5); bn_after: 1, 2, 2
    assert ep["mean_diff"] == pytest.approx(((1 - 3) + (2 - 5) + (2 - 5)) / 3)
    assert acc["p_improve"] == pytest.approx(1.0)  # every bn_after run beats every baseline run
    assert 0 <= acc["t_p_holm"] <= 1


def test_comparison_pairs():
    assert comparison_pairs(["baseline", "bn_after", "bn_before"]) == [
        ("bn_after", "baseline"),
        ("bn_before", "baseline"),
        ("bn_after", "bn_before"),
    ]
    assert comparison_pairs(["bn_after"]) == []


def test_reached_fraction_by_epoch(runs):
    r = reached_table(runs, 0.8)
    base = r[r["variant"] == "baseline"]["fraction"].tolist()
    after = r[r["variant"] == "bn_after"]["fraction"].tolist()
    assert base == pytest.approx([0, 0, 1 / 3, 1 / 3])
    assert after == pytest.approx([1 / 3, 1, 1, 1])
