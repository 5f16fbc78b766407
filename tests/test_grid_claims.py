"""The claim kinds over an axis, spreads, failures, parameters and "in every value"
(bnstudy.claims, bnstudy.sweeps, the new rules of bnstudy.verdicts), on hand-made runs whose
truth is known by construction, and their config checks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from bnstudy import verdicts
from bnstudy.aggregate import comparison_pairs, comparisons_table, extra_tables
from bnstudy.claims import claims_table
from bnstudy.config import ConfigError, axis_groups, validate
from bnstudy.studies import conditions
from bnstudy.sweeps import (
    best_cell,
    cells,
    grid,
    grid_difference,
    group_of,
    largest,
    usable,
)

SEEDS = list(range(12))
_raw = np.random.default_rng(7).standard_normal(12)
#: Exactly mean 0, sd 1 (ddof=1): a fixed pattern of seed-to-seed noise, with distinct
#: magnitudes (ties would send scipy's Wilcoxon test to a slow permutation test).
Z = (_raw - _raw.mean()) / _raw.std(ddof=1)
Z2 = np.roll(Z, 5)  # another pattern
LR_AXES = {
    "variant": {"a": {"model": {"placement": "after"}}, "b": {"model": {"placement": "none"}}},
    "lr": {"key": "train.learning_rate", "values": [0.01, 0.1, 1.0]},
}
DRAW_AXES = {
    "variant": {"a": {"model": {"placement": "after"}}, "b": {"model": {"placement": "none"}}},
    "draw": {"key": "data.random_state", "values": [1, 2]},
}


def study_cfg(axes: dict, claims: list[dict]):
    return validate(
        {
            "train": {"epochs": 6},
            "study": {
                "name": "synthetic",
                "axes": axes,
                "seeds": SEEDS,
                "n_resamples": 200,
                "claims": claims,
            },
        }
    )


def make_runs(conds, truth) -> pd.DataFrame:
    """runs.csv rows: ``truth(condition, seed)`` -> (test, train) accuracy, or None: diverged
    (its accuracies are nan, as a run with a non-finite loss)."""
    rows = []
    for c in conds:
        for s in SEEDS:
            t = truth(c.name, s)
            test, train = (np.nan, np.nan) if t is None else t
            rows.append(
                {
                    "condition": c.name,
                    **c.labels,
                    "seed": s,
                    "test_accuracy": test,
                    "train_accuracy": train,
                    "fit_accuracy": train,
                    "auc_test_accuracy": test - 0.1,
                    "epochs_to_80": 2.0 + 0.2 * Z[s]
                    if c.labels["variant"] == "a"
                    else 4.0 + 0.1 * Z2[s],
                    "epochs": 6,
                    "diverged": t is None,
                }
            )
    return pd.DataFrame(rows)


#: (test, train) means per condition of the learning-rate grid; None: every seed diverged.
#: a: best on train at 0.01 (0.88), although its test accuracy is highest at 0.1; every
#: value within 1 point of 0.850. b: best 0.01; 0.1 is 3 points worse; 1.0 diverges.
LR_TRUTH = {
    "a lr=0.01": (0.850, 0.880),
    "a lr=0.1": (0.858, 0.870),
    "a lr=1.0": (0.845, 0.860),
    "b lr=0.01": (0.850, 0.870),
    "b lr=0.1": (0.820, 0.830),
    "b lr=1.0": None,
}


def lr_truth(name: str, s: int):
    means = LR_TRUTH[name]
    if means is None:
        return None
    sd = 0.002 if name.startswith("a") else 0.01  # a varies less from seed to seed
    return means[0] + sd * Z[s], means[1] + 0.001 * Z2[s]


def lr_verdicts(claims: list[dict]) -> pd.DataFrame:
    cfg = study_cfg(LR_AXES, claims)
    conds = conditions(cfg)
    runs = make_runs(conds, lr_truth)
    comparisons = comparisons_table(runs, cfg.study, conds)
    return claims_table(runs, pd.DataFrame(), comparisons, cfg.study, conds)


def grid_claim(kind: str, pair=("a", "b"), **kw) -> dict:
    return {"id": "C11", "reading": f"{kind} {pair}", "kind": kind, "axis": "lr"} | {
        "pair": list(pair),
        "margin": 0.01,
        **kw,
    }


# --- sweeps: groups, best and usable values ---------------------------------------------------


def test_groups_are_condition_names_without_the_axis_label():
    assert group_of({"variant": "a", "lr": "lr=0.1"}, "lr") == "a"
    assert group_of({"variant": "a", "lr": "lr=0.1", "m": "m=0"}, "lr") == "a m=0"
    assert group_of({"lr": "lr=0.1"}, "lr") == "base"
    axes = OmegaConf.create(LR_AXES)
    assert axis_groups(axes, "lr") == ["a", "b"]
    assert axis_groups(axes, "variant") == ["lr=0.01", "lr=0.1", "lr=1.0"]
    cfg = study_cfg(LR_AXES, [])
    table = cells(make_runs(conditions(cfg), lr_truth), cfg.study.axes, "lr")
    assert list(table["condition"]) == list(LR_TRUTH)
    assert list(table["group"]) == ["a"] * 3 + ["b"] * 3
    assert list(table["position"]) == [0, 1, 2] * 2
    assert list(table["value"]) == [0.01, 0.1, 1.0] * 2


def test_usable_values_by_hand():
    measure = np.array([[0.80, 0.85, 0.845, 0.83], [0.85, 0.86, np.nan, 0.70]])
    select = np.array([[0.81, 0.86, 0.87, 0.84], [0.88, 0.86, np.nan, 0.71]])
    diverged = np.array([[0.0, 0.0, 0.2, 0.1], [0.0, 0.0, 1.0, 0.0]])
    use, best = usable(measure, select, diverged, margin=0.01, max_diverged=0.1)
    # Row 0: 0.87 is the highest select but 20% diverged there: best is index 1 (0.86);
    # usable: >= 0.85 - 0.01 and at most 10% diverged: indices 1 and 3 is 0.83 < 0.84: no.
    assert best.tolist() == [1, 0]
    assert use.tolist() == [[False, True, False, False], [True, True, False, False]]
    assert largest(use).tolist() == [1, 1]
    assert use.sum(axis=-1).tolist() == [1, 2]
    # Ties on the select measure: the first (lowest) value; a mean exactly at the margin is in.
    use, best = usable(
        np.array([0.84, 0.85]), np.array([0.9, 0.9]), np.zeros(2), 0.01, max_diverged=0.0
    )
    assert best.tolist() == 0 and use.tolist() == [True, True]
    # Nothing admissible: no best, nothing usable.
    use, best = usable(np.array([0.9]), np.array([0.9]), np.array([0.5]), 0.01, 0.1)
    assert best.tolist() == -1 and use.tolist() == [False]
    assert largest(np.zeros((2, 3), bool)).tolist() == [-1, -1]


def test_best_value_is_chosen_on_the_training_split_not_the_test_split():
    cfg = study_cfg(LR_AXES, [])
    runs = make_runs(conditions(cfg), lr_truth)
    assert best_cell(runs, cfg.study.axes, "lr", "a", "train_accuracy", 0.1) == "a lr=0.01"
    # The test split would have picked 0.1: that is what the config refuses (select_on).
    assert runs.groupby("condition")["test_accuracy"].mean().idxmax() == "a lr=0.1"
    assert best_cell(runs, cfg.study.axes, "lr", "b", "train_accuracy", 0.1) == "b lr=0.01"
    every_diverged = runs.assign(diverged=True)
    assert best_cell(every_diverged, cfg.study.axes, "lr", "a", "train_accuracy", 0.1) is None


def test_grid_difference_of_a_known_grid():
    cfg = study_cfg(LR_AXES, [])
    runs = make_runs(conditions(cfg), lr_truth)
    g = grid(runs, cfg.study.axes, "lr", ["a", "b"], "test_accuracy", "train_accuracy")
    assert g.measure.shape == (2, 3, 12)
    assert g.diverged[1, 2].all() and not g.diverged[:, :2].any()
    res = grid_difference(g, "usable_rate", 0.01, 0.1, n_resamples=300)
    assert res["stat"].tolist() == [2, 0]  # a: up to lr=1.0; b: lr=0.01 only
    assert (res["estimate"], res["ci_low"], res["ci_high"]) == (2.0, 2.0, 2.0)
    assert res["best"].tolist() == [0, 0]
    res = grid_difference(g, "rate_range", 0.01, 0.1, n_resamples=300)
    assert res["stat"].tolist() == [3, 1]
    assert (res["estimate"], res["ci_low"], res["ci_high"]) == (2.0, 2.0, 2.0)
    # A margin of 0.001: a's 1.0 (0.845) and b's 0.1 drop out; a keeps 0.1 (0.858 > 0.850).
    res = grid_difference(g, "rate_range", 0.001, 0.1, n_resamples=300)
    assert res["stat"].tolist() == [2, 1]


def test_grid_bootstrap_ci_reflects_seed_noise():
    """b's lr=0.1 sits at the margin's edge: resampled seeds flip it in and out."""
    cfg = study_cfg(LR_AXES, [])
    runs = make_runs(conditions(cfg), lr_truth)
    edge = runs["condition"] == "b lr=0.1"
    runs.loc[edge, "test_accuracy"] = 0.84 + 0.01 * Z2
    g = grid(runs, cfg.study.axes, "lr", ["a", "b"], "test_accuracy", "train_accuracy")
    res = grid_difference(g, "rate_range", 0.01, 0.1, n_resamples=400)
    assert res["ci_low"] < res["ci_high"]
    assert res["ci_low"] <= res["estimate"] <= res["ci_high"]
    assert float(res["ci_low"]).is_integer() and float(res["ci_high"]).is_integer()


# --- verdict rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "direction", "verdict", "seeds"),
    [
        ((2, 1, 3), "greater", "supported", math.nan),
        ((-2, -3, -1), "greater", "contradicted", math.nan),
        ((0, 0, 0), "greater", "contradicted", math.nan),  # not higher on this grid
        ((1, 0, 2), "greater", "not resolved", 121.0),  # 30 (1 / 0.5)^2 = 120 -> 121
        ((-1, -2, 0), "less", "not resolved", 121.0),
        ((-2, -3, -1), "less", "supported", math.nan),
        ((1, 1, 2), "less", "contradicted", math.nan),
    ],
)
def test_grid_steps_rule(args, direction, verdict, seeds):
    v = verdicts.grid_steps(*args, "largest usable lr", n=30, direction=direction)
    assert v.verdict == verdict
    assert (v.estimate, v.ci_low, v.ci_high) == args
    assert v.seeds_needed == pytest.approx(seeds, nan_ok=True)
    assert f"{args[0]:+d} grid steps" in v.evidence


def test_ratio_rule():
    assert verdicts.ratio(0.5, 0.3, 0.8, "std ratio", n=30).verdict == "supported"
    assert verdicts.ratio(1.5, 1.2, 2.0, "std ratio", n=30).verdict == "contradicted"
    assert verdicts.ratio(1.5, 1.2, 2.0, "r", n=30, direction="greater").verdict == "supported"
    v = verdicts.ratio(0.9, 0.6, 1.3, "std ratio", n=30, detail="more numbers")
    # log scale: gap -ln 0.9 = 0.1054, facing side ln 1.3 - ln 0.9 = 0.3677:
    # 30 (0.3677 / 0.1054)^2 = 365.4 -> 366.
    assert (v.verdict, v.seeds_needed) == ("not resolved", 366.0)
    assert v.evidence.endswith("; more numbers")
    assert math.isinf(verdicts.ratio(1.0, 0.8, 1.2, "r", n=30).seeds_needed)


def test_fewer_events_rule():
    v = verdicts.fewer_events(0, 6, 0.03125, "failed runs", seeds_needed=math.nan)
    assert (v.verdict, v.estimate, v.p) == ("supported", -6.0, 0.03125)
    assert verdicts.fewer_events(6, 0, 0.03125, "x", seeds_needed=1).verdict == "contradicted"
    v = verdicts.fewer_events(1, 3, 0.625, "x", seeds_needed=80.0)
    assert (v.verdict, v.seeds_needed) == ("not resolved", 80.0)
    assert "about 80 seeds" in v.evidence


def test_count_and_every_rules():
    assert verdicts.count(100, 100, "trainable").verdict == "supported"
    assert verdicts.count(0, 100, "trainable").verdict == "contradicted"
    ok = verdicts.count(1, 1, "x")
    bad = verdicts.count(0, 1, "x")
    open_ = verdicts.Verdict("not resolved", 0.1, 0, 0.2, 0.3, 40.0, "open")
    open2 = verdicts.Verdict("not resolved", 0.1, 0, 0.2, 0.3, 90.0, "open 2")
    v = verdicts.every([("d=1", ok), ("d=2", ok)], "draw")
    assert (v.verdict, v.estimate) == ("supported", 2.0)
    assert v.evidence.startswith("holds in 2/2 values of draw")
    v = verdicts.every([("d=1", ok), ("d=2", bad), ("d=3", open_)], "draw")
    assert (v.verdict, v.estimate) == ("contradicted", 1.0)
    assert "contradicted in 1 (d=2)" in v.evidence and "not resolved in 1 (d=3)" in v.evidence
    v = verdicts.every([("d=1", ok), ("d=2", open_), ("d=3", open2)], "draw")
    assert (v.verdict, v.seeds_needed) == ("not resolved", 90.0)


# --- claims over the learning-rate grid ---------------------------------------------------------


def test_grid_claims_decide_from_the_known_grid():
    t = lr_verdicts(
        [
            grid_claim("usable_rate"),
            grid_claim("usable_rate", ("b", "a")),
            grid_claim("rate_range"),
            grid_claim("rate_range", direction="less"),
        ]
    )
    assert list(t["verdict"]) == ["supported", "contradicted", "supported", "contradicted"]
    assert list(t["estimate"]) == [2.0, -2.0, 2.0, 2.0]
    ev = t["evidence"].iloc[0]
    assert "a: best lr=0.01 (on mean train_accuracy)" in ev
    assert "usable ['lr=0.01', 'lr=0.1', 'lr=1.0']" in ev
    assert "b: best lr=0.01" in ev and "usable ['lr=0.01']" in ev
    assert "reaches the end of the grid" in ev


def test_spread_divergence_and_at_best_claims():
    spread = {"id": "C13", "kind": "spread", "a": "a lr=0.01", "b": "b lr=0.01"}
    failed = grid_claim("divergence", direction="less")
    at_best = grid_claim("at_best", rule="equivalence")
    t = lr_verdicts(
        [
            spread | {"direction": "less"},
            spread | {"direction": "greater", "reading": "other way"},
            failed,
            failed | {"pair": ["b", "a"], "reading": "b fewer"},
            at_best,
            at_best | {"rule": "spread", "direction": "less", "reading": "spread at best"},
        ]
    )
    assert list(t["verdict"]) == [
        "supported",
        "contradicted",
        "supported",
        "contradicted",
        "supported",
        "supported",
    ]
    # sd 0.002 against 0.01 on the same pattern: the ratio is exactly 0.2.
    assert t["estimate"].iloc[0] == pytest.approx(0.2)
    assert "Pitman-Morgan" in t["evidence"].iloc[0]
    # b diverged in all 12 seeds at lr=1.0, a never: 12 discordant pairs, p = 2 / 2^12.
    assert t["p"].iloc[2] == pytest.approx(2 * 0.5**12)
    assert "a 0 (0 diverged), b 12 (12 diverged)" in t["evidence"].iloc[2]
    # Each at its best lr chosen on train accuracy: 0.01 for both (0.1 for a on test).
    assert "a lr=0.01 and b lr=0.01" in t["evidence"].iloc[4]
    assert "not the test split" in t["evidence"].iloc[4]


def test_a_floor_counts_collapsed_runs_as_failed():
    """A run at chance with a finite loss is not 'diverged'; with a floor it has failed."""
    cfg = study_cfg(LR_AXES, [grid_claim("divergence", direction="less")])
    conds = conditions(cfg)

    def collapsed(name, s):  # b at lr=1.0 ends at chance instead of diverging
        return (0.5, 0.5) if name == "b lr=1.0" else lr_truth(name, s)

    runs = make_runs(conds, collapsed)
    claim = grid_claim("divergence", direction="less")
    plain = validate({"study": {"axes": LR_AXES, "claims": [claim]}}).study
    floored = validate(
        {
            "study": {
                "axes": LR_AXES,
                "claims": [claim | {"measure": "train_accuracy", "floor": 0.55}],
            }
        }
    ).study
    t0 = claims_table(runs, pd.DataFrame(), pd.DataFrame(), plain, conds)
    t1 = claims_table(runs, pd.DataFrame(), pd.DataFrame(), floored, conds)
    assert t0["verdict"].iloc[0] == "not resolved"  # nobody diverged
    assert math.isinf(t0["seeds_needed"].iloc[0])
    assert t1["verdict"].iloc[0] == "supported"
    assert "below 0.55" in t1["evidence"].iloc[0]
    # Counted only at 0.01 and 0.1, where nobody failed: no evidence either way.
    only = claim | {"measure": "train_accuracy", "floor": 0.55, "only": ["lr=0.01", "lr=0.1"]}
    study = validate({"study": {"axes": LR_AXES, "claims": [only]}}).study
    t2 = claims_table(runs, pd.DataFrame(), pd.DataFrame(), study, conds)
    assert t2["verdict"].iloc[0] == "not resolved"
    assert "over 2 values of lr (lr=0.01, lr=0.1) x 12 seeds" in t2["evidence"].iloc[0]
    # The grid table counts the failed runs per cell (with the floor of that claim).
    sweep = extra_tables(
        runs,
        pd.DataFrame({"condition": [c.name for c in conds]}),
        validate({"study": {"axes": LR_AXES, "claims": [grid_claim("usable_rate"), only]}}).study,
        conds,
    )["sweep_lr"]
    assert list(sweep["n_failed"]) == [0, 0, 0, 0, 0, 12]
    assert sweep["failed_ci_high"].iloc[5] == 1.0
    assert sweep["failed_ci_low"].iloc[0] == pytest.approx(0.0, abs=1e-12)


def test_at_best_pairs_join_the_comparisons():
    claim = grid_claim("at_best", rule="superiority", direction="greater")
    cfg = study_cfg(LR_AXES, [claim])
    conds = conditions(cfg)
    runs = make_runs(conds, lr_truth)
    assert comparison_pairs(cfg.study, conds) == []  # without runs: nothing to pick from
    assert comparison_pairs(cfg.study, conds, runs) == [("a lr=0.01", "b lr=0.01")]
    c = comparisons_table(runs, cfg.study, conds)
    assert set(c["comparison"]) == {"a lr=0.01 - b lr=0.01"}


def test_extra_tables_of_a_grid_study():
    claims = [grid_claim("usable_rate"), {"id": "C21", "kind": "parameters", "a": "a lr=0.01"}]
    claims[1] |= {"b": "b lr=0.01"}
    cfg = study_cfg(LR_AXES, claims)
    conds = conditions(cfg)
    runs = make_runs(conds, lr_truth)
    summary = pd.DataFrame({"condition": [c.name for c in conds], "test_accuracy_mean": [0.8] * 6})
    tables = extra_tables(runs, summary, cfg.study, conds)
    assert sorted(tables) == ["parameters", "sweep_lr"]
    sweep = tables["sweep_lr"]
    assert list(sweep["condition"]) == list(LR_TRUTH)
    assert list(sweep["best"]) == [True, False, False, True, False, False]
    assert list(sweep["usable"]) == [True, True, True, True, False, False]
    assert list(sweep["value"]) == [0.01, 0.1, 1.0] * 2
    params = tables["parameters"].set_index("condition")
    assert params.loc["a lr=0.01", ["trainable", "non_trainable"]].tolist() == [301, 100]
    assert params.loc["b lr=1.0", ["trainable", "non_trainable", "bn_units"]].tolist() == [
        201,
        0,
        0,
    ]
    t = claims_table(runs, pd.DataFrame(), pd.DataFrame(), cfg.study, conds)
    assert t["verdict"].iloc[1] == "supported"
    assert "301 - 201): 100, claimed 100 = 2 x 50 BN units" in t["evidence"].iloc[1]


# --- "holds in every value of an axis" ----------------------------------------------------------

#: Per draw: a - b in test accuracy (b = 0.80 + seed noise shared by a).
DRAW_DIFF = {"draw=1": 0.02, "draw=2": 0.03}


def draw_verdicts(claims: list[dict], diff=DRAW_DIFF, sd: float = 0.002):
    cfg = study_cfg(DRAW_AXES, claims)
    conds = conditions(cfg)
    names = {c.name: c.labels for c in conds}

    def truth(name, s):
        labels = names[name]
        b = 0.80 + 0.01 * Z2[s]
        if labels["variant"] == "b":
            return b, b
        return b + diff[labels["draw"]] + sd * Z[s], b

    runs = make_runs(conds, truth)
    comparisons = comparisons_table(runs, cfg.study, conds)
    return claims_table(runs, pd.DataFrame(), comparisons, cfg.study, conds), runs, cfg


def every(rule: str, **kw) -> dict:
    return {"id": "C25", "reading": f"{rule} {kw}", "kind": "every", "rule": rule} | {
        "axis": "draw",
        "pair": ["a", "b"],
        **kw,
    }


def test_every_counts_the_values_in_which_the_rule_holds():
    t, _, _ = draw_verdicts(
        [
            every("superiority", direction="greater"),
            every("superiority", direction="less"),
            every("equivalence", margin=0.05),
            every("equivalence", margin=0.01),
            every("superiority", measure="epochs_to_80", direction="less"),
        ]
    )
    assert list(t["verdict"]) == [
        "supported",
        "contradicted",
        "supported",
        "contradicted",
        "supported",
    ]
    assert list(t["estimate"]) == [2.0, 0.0, 2.0, 0.0, 2.0]
    assert t["evidence"].iloc[0].startswith("holds in 2/2 values of draw")
    assert "draw=1: paired difference 0.0200" in t["evidence"].iloc[0]
    assert "contradicted in 2 (draw=1, draw=2)" in t["evidence"].iloc[1]


def test_every_with_one_value_open_is_not_resolved():
    t, _, _ = draw_verdicts(
        [every("superiority", direction="greater")], diff={"draw=1": 0.02, "draw=2": 0.0}
    )
    assert t["verdict"].iloc[0] == "not resolved"
    assert t["evidence"].iloc[0].startswith("holds in 1/2 values of draw")
    assert "not resolved in 1 (draw=2)" in t["evidence"].iloc[0]


def test_every_contradicts_an_equivalence_only_at_the_bonferroni_level():
    """Per draw, a - b = 0.017 + 0.01 z over 12 seeds (se 0.00289): the 95% CI's lower end is
    0.017 - 2.201 se = 0.01065 > 0.01 (outside the margin), the 97.5% one's (Bonferroni over
    2 draws) 0.017 - 2.593 se = 0.00951 < 0.01: not a contradiction across the draws."""
    diff = {"draw=1": 0.017, "draw=2": 0.017}
    t, _, _ = draw_verdicts([every("equivalence", margin=0.01)], diff=diff, sd=0.01)
    assert t["verdict"].iloc[0] == "not resolved"
    assert "not outside at the Bonferroni level" in t["evidence"].iloc[0]
    t, _, _ = draw_verdicts([every("equivalence", margin=0.01)], diff=diff | {"draw=2": 0.03})
    assert t["verdict"].iloc[0] == "contradicted"


def test_every_pairs_join_the_comparisons_and_the_variance_table():
    _, runs, cfg = draw_verdicts([every("superiority", direction="greater")])
    conds = conditions(cfg)
    assert comparison_pairs(cfg.study, conds) == [
        ("a draw=1", "b draw=1"),
        ("a draw=2", "b draw=2"),
    ]
    tables = extra_tables(runs, pd.DataFrame({"condition": []}), cfg.study, conds)
    v = tables["variance_draw"].set_index("quantity")
    assert list(v.index) == ["a", "b", "a - b"]
    # b is the same in both draws: no between-draw variance; a - b is 0.02 / 0.03 + 0.002 z.
    assert v.loc["b", "var_between"] == 0.0
    assert v.loc["a - b", "mean"] == pytest.approx(0.025)
    assert v.loc["a - b", "var_within"] == pytest.approx(0.002**2)
    assert v.loc["a - b", "var_between"] == pytest.approx((12 * 2 * 0.005**2 - 0.002**2) / 12)


# --- config checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claim", "key"),
    [
        (grid_claim("usable_rate", ("a", "c")), ".pair"),
        (grid_claim("usable_rate", ("a",)), ".pair"),
        (grid_claim("usable_rate") | {"pair": ["lr=0.1", "b"]}, ".pair"),
        (grid_claim("usable_rate") | {"axis": "momentum"}, ".axis"),
        (grid_claim("rate_range") | {"axis": "variant", "pair": ["lr=0.1", "lr=1.0"]}, ".axis"),
        (grid_claim("at_best", rule="equivalence", select_on="test_accuracy"), ".select_on"),
        (grid_claim("at_best"), ".rule"),
        (grid_claim("at_best", rule="interval"), ".rule"),
        (grid_claim("usable_rate", max_diverged=1.0), ".max_diverged"),
        (grid_claim("rate_range", margin=0.0), ".margin"),
        (grid_claim("divergence", only=["lr=0.5"]), ".only"),
        (grid_claim("rate_range", only=["lr=0.1"]), ".only"),
        ({"id": "C21", "kind": "parameters", "a": "a lr=0.1"}, ".a/.b"),
        ({"id": "C13", "kind": "spread", "b": "a lr=0.1"}, ".a/.b"),
    ],
)
def test_bad_group_claims_are_one_line_errors(claim, key):
    with pytest.raises(ConfigError) as err:
        study_cfg(LR_AXES, [claim])
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"study.claims[0] ({claim['id']}){key}")


def test_the_real_studies_groups_match_their_conditions():
    """config.axis_groups (used to check claims before training) names groups exactly as
    the conditions' names without the axis label."""
    from bnstudy.params import study_config

    for name, axis in (("learning_rate", "lr"), ("dataset_draws", "draw")):
        cfg = validate(study_config(name))
        conds = conditions(cfg)
        groups = list(dict.fromkeys(group_of(c.labels, axis) for c in conds))
        assert groups == axis_groups(cfg.study.axes, axis)
