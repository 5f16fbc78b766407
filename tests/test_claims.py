"""Claims -> verdicts (bnstudy.claims) on hand-made runs whose truth is known by construction,
and diverged runs: detected (bnstudy.results.divergence), counted, and left out."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bnstudy import stats
from bnstudy.aggregate import comparisons_table, runs_table, summary_table
from bnstudy.claims import COLUMNS, claims_table
from bnstudy.config import ConfigError, validate
from bnstudy.results import divergence
from bnstudy.studies import conditions

EPOCHS = 12
SEEDS = list(range(20))
CHANCE, MARGIN = 0.5, 0.05
CHANCE_LOSS = 0.2  # the test histories have loss 1 - accuracy: 0.5 at chance
#: Conditions: only their names matter here (the placements make them distinct configs).
AXES = {
    "variant": {
        "a": {"model": {"placement": "after"}},
        "b": {"model": {"placement": "none"}},
        "same": {"model": {"placement": "before"}},
        "near": {"model": {"placement": "input"}},
        "far": {"model": {"placement": "after", "bn": {"momentum": 0.5}}},
    }
}

_rng = np.random.default_rng(42)
#: Paired seeds: every condition shares a seed's noise, plus a little of its own.
SEED_NOISE = 0.01 * _rng.standard_normal(len(SEEDS))
OWN_NOISE = 0.002 * _rng.standard_normal(len(SEEDS))
OWN_NOISE_2 = 0.002 * _rng.standard_normal(len(SEEDS))


def b_final(s: int) -> float:
    return 0.82 + SEED_NOISE[s]


#: condition -> (final test accuracy of seed s, epoch at which it is reached)
TRUTH = {
    "a": (lambda s: b_final(s) + 0.02 + OWN_NOISE[s], lambda s: 4),  # b + 0.02, at epoch 4
    "b": (b_final, lambda s: 6 + s % 5),  # 80% at epochs 6..10, median 8
    "same": (b_final, lambda s: 6 + s % 5),  # identical to b
    "near": (lambda s: b_final(s) + 0.001 + OWN_NOISE_2[s], lambda s: 5),  # within 0.01 of b
    "far": (lambda s: b_final(s) + 0.05 + OWN_NOISE_2[s], lambda s: 5),  # 0.05 above b
}


def study_cfg(claims: list[dict], **study) -> object:
    """A validated config whose study has AXES and ``claims`` (the schema's other defaults)."""
    return validate(
        {
            "train": {"epochs": EPOCHS},
            "study": {
                "name": "synthetic",
                "axes": AXES,
                "seeds": SEEDS,
                "n_resamples": 100,
                "claims": claims,
                **study,
            },
        }
    )


def history_of(acc: np.ndarray, nan_at: int | None = None) -> dict[str, np.ndarray]:
    """Per-epoch metrics with losses 1 - accuracy; from epoch ``nan_at`` on, every metric is
    NaN (the engines' record of a divergence)."""
    h = {"loss": 1 - acc, "accuracy": acc.copy(), "val_loss": 1 - acc, "val_accuracy": acc.copy()}
    if nan_at is not None:
        for v in h.values():
            v[nan_at - 1 :] = np.nan
    return h


def make_tables(cfg, diverge: dict[tuple[str, int], str] | None = None):
    """(runs, summary, comparisons) of TRUTH; ``diverge`` maps (condition, seed) to "nan"
    (NaN loss from epoch 3, and a garbage final accuracy) or "stuck" (at chance throughout)."""
    diverge = diverge or {}
    conds = conditions(cfg)
    epochs = np.arange(1, EPOCHS + 1)
    hist, finals = [], []
    for c in conds:
        final, reach = TRUTH[c.name]
        for s in SEEDS:
            kind = diverge.get((c.name, s))
            acc = np.where(epochs >= reach(s), final(s), 0.6)
            if kind == "stuck":
                acc = np.full(EPOCHS, CHANCE)
            h = history_of(acc, nan_at=3 if kind == "nan" else None)
            fin = {
                "train_accuracy": 0.0 if kind == "nan" else float(acc[-1]),
                "train_loss": float(1 - acc[-1]),
            }
            hist.append(pd.DataFrame({"condition": c.name, "seed": s, "epoch": epochs, **h}))
            finals.append(
                {
                    "condition": c.name,
                    "seed": s,
                    "run_key": c.run_key(s),
                    **fin,
                    "diverged_epoch": divergence(h, fin, CHANCE, MARGIN, CHANCE_LOSS),
                }
            )
    history, finals = pd.concat(hist, ignore_index=True), pd.DataFrame(finals)
    runs = runs_table(history, finals, list(cfg.study.thresholds), conds)
    summary = summary_table(runs, cfg.study)
    return runs, summary, comparisons_table(runs, cfg.study, conds)


def verdicts_of(claims: list[dict], diverge=None, **study) -> pd.DataFrame:
    cfg = study_cfg(claims, **study)
    return claims_table(*make_tables(cfg, diverge), cfg.study)


def sup(a: str, b: str, direction: str = "greater", measure: str = "test_accuracy") -> dict:
    return {"id": "C1", "reading": f"{a} vs {b}", "kind": "superiority", "measure": measure} | {
        "a": a,
        "b": b,
        "direction": direction,
    }


# --- divergence ----------------------------------------------------------------------------------


def test_divergence_at_the_first_non_finite_loss():
    acc = np.linspace(0.6, 0.9, 10)
    assert (
        divergence(history_of(acc, nan_at=3), {"train_accuracy": 0.9}, CHANCE, MARGIN, CHANCE_LOSS)
        == 3.0
    )
    h = history_of(acc)
    h["val_loss"][6] = np.inf  # the test loss counts too
    assert divergence(h, {"train_accuracy": 0.9}, CHANCE, MARGIN, CHANCE_LOSS) == 7.0


def test_divergence_stuck_at_chance_is_the_last_epoch():
    stuck = history_of(np.full(10, 0.5))
    assert divergence(stuck, {"train_accuracy": 0.52}, CHANCE, MARGIN, CHANCE_LOSS) == 10.0
    # A non-finite final accuracy is a divergence too.
    ok = history_of(np.linspace(0.6, 0.9, 10))
    assert divergence(ok, {"train_accuracy": math.nan}, CHANCE, MARGIN, CHANCE_LOSS) == 10.0


def test_no_divergence_is_nan():
    learned = history_of(np.linspace(0.6, 0.9, 10))
    assert math.isnan(divergence(learned, {"train_accuracy": 0.9}, CHANCE, MARGIN, CHANCE_LOSS))
    # Train accuracy near chance, but the test accuracy rose above chance + margin: it learned.
    rose = history_of(np.r_[np.full(5, 0.5), np.full(5, 0.7)])
    assert math.isnan(divergence(rose, {"train_accuracy": 0.52}, CHANCE, MARGIN, CHANCE_LOSS))
    # At chance, but with a loss below twice the prior's: slow, not diverged.
    slow = history_of(np.full(10, 0.5))
    assert math.isnan(divergence(slow, {"train_accuracy": 0.52}, CHANCE, MARGIN, 0.3))


# --- verdicts with a known truth -------------------------------------------------------------


def test_superiority_verdicts_follow_the_truth():
    claims = [
        sup("a", "b"),  # a = b + 0.02: supported
        sup("a", "b", "less"),  # the wrong direction: contradicted
        sup("b", "a"),  # b - a < 0 claimed > 0: contradicted
        sup("same", "b"),  # identical samples: not resolved, no seeds would do
    ]
    t = verdicts_of(claims)
    assert list(t.columns) == list(COLUMNS)
    assert list(t["verdict"]) == ["supported", "contradicted", "contradicted", "not resolved"]
    assert t["estimate"].iloc[0] == pytest.approx(0.02, abs=0.002)
    assert t["estimate"].iloc[2] == pytest.approx(-0.02, abs=0.002)
    assert t["ci_low"].iloc[0] < 0.02 < t["ci_high"].iloc[0]
    assert t["p"].iloc[0] < 0.001
    assert math.isinf(t["seeds_needed"].iloc[3])
    assert "identical" in t["evidence"].iloc[3]
    assert list(t["reading"]) == [c["reading"] for c in claims]
    assert set(t["study"]) == {"synthetic"}


def test_superiority_on_epochs_to_a_threshold():
    """a reaches 80% at epoch 4, b at 6..10: a needs fewer epochs (paired restricted times)."""
    t = verdicts_of(
        [sup("a", "b", "less", "epochs_to_80"), sup("a", "b", "greater", "epochs_to_80")]
    )
    assert list(t["verdict"]) == ["supported", "contradicted"]
    assert t["estimate"].iloc[0] == pytest.approx(4 - np.mean([6 + s % 5 for s in SEEDS]))
    assert "epochs" in t["evidence"].iloc[0]


def test_equivalence_verdicts_follow_the_truth():
    def eq(a: str, margin: float = 0.01) -> dict:
        return {"id": "C2", "kind": "equivalence", "a": a, "b": "b", "margin": margin}

    t = verdicts_of([eq("near"), eq("far"), eq("a", margin=0.02)])
    # near = b + 0.001: inside +-0.01; far = b + 0.05: outside; a = b + 0.02 on a +-0.02
    # margin: the CI straddles the margin, not resolved.
    assert list(t["verdict"]) == ["supported", "contradicted", "not resolved"]
    assert t["estimate"].iloc[0] == pytest.approx(0.001, abs=0.002)
    assert t["p"].iloc[0] < 0.05
    assert t["ci_low"].iloc[1] > 0.01
    assert t["seeds_needed"].iloc[2] > len(SEEDS)
    assert "outside" in t["evidence"].iloc[1]


@pytest.mark.parametrize(
    ("bounds", "verdict"),
    [
        ({"high": 20}, "supported"),  # median 8 (CI within [6, 10]) is at most 20
        ({"low": 5, "high": 11}, "supported"),
        ({"low": 30, "high": 40}, "contradicted"),
        ({"high": 5}, "contradicted"),
        ({"high": 8}, "not resolved"),  # the CI straddles 8
    ],
)
def test_interval_claim_on_the_median_epochs_to_80(bounds, verdict):
    claim = {"id": "C3", "kind": "interval", "measure": "epochs_to_80", "condition": "b", **bounds}
    cfg = study_cfg([claim])
    runs, summary, comparisons = make_tables(cfg)
    row = summary.set_index("condition").loc["b"]
    assert row["epochs_to_80_median"] == 8.0
    (t,) = claims_table(runs, summary, comparisons, cfg.study).itertuples()
    assert t.verdict == verdict
    assert (t.estimate, t.ci_low, t.ci_high) == (
        8.0,
        row["epochs_to_80_median_ci_low"],
        row["epochs_to_80_median_ci_high"],
    )
    assert row["epochs_to_80_median_ci_low"] < 8.0 < row["epochs_to_80_median_ci_high"]
    if verdict == "not resolved":
        assert t.seeds_needed > len(SEEDS)


def test_interval_claim_on_a_mean():
    def iv(low, high):
        return {"id": "C6", "kind": "interval", "measure": "fit_accuracy", "condition": "b"} | {
            "low": low,
            "high": high,
        }

    t = verdicts_of([iv(0.80, 0.85), iv(0.70, 0.75)])
    assert list(t["verdict"]) == ["supported", "contradicted"]
    assert t["estimate"].iloc[0] == pytest.approx(np.mean([b_final(s) for s in SEEDS]))


@pytest.mark.parametrize(
    ("published", "verdict"),
    [
        ({"b": {"test_accuracy": 0.82}, "a": {"test_accuracy": 0.84}}, "supported"),
        ({"b": {"test_accuracy": 0.82}, "a": {"test_accuracy": 0.95}}, "contradicted"),
        # Values for another measure are not this claim's.
        ({"b": {"test_accuracy": 0.82, "train_accuracy": 0.1}}, "supported"),
    ],
)
def test_published_values_against_the_seeds_central_range(published, verdict):
    claim = {"id": "C8", "kind": "published", "measure": "test_accuracy"}
    (t,) = verdicts_of([claim], published=published).itertuples()
    assert t.verdict == verdict
    assert ("(outside)" in t.evidence) == (verdict == "contradicted")
    for cond in published:
        assert f"{cond} {published[cond]['test_accuracy']:.3f}" in t.evidence


def test_claims_keep_the_study_files_order():
    claims = [
        {"id": "C9", "kind": "interval", "measure": "test_accuracy", "condition": "a", "low": 0.5},
        sup("a", "b"),
        {"id": "C2", "kind": "equivalence", "a": "near", "b": "b"},
    ]
    t = verdicts_of(claims)
    assert list(t["id"]) == ["C9", "C1", "C2"]
    assert list(t["kind"]) == ["interval", "superiority", "equivalence"]


# --- diverged runs -------------------------------------------------------------------------------


def test_diverged_runs_are_counted_and_left_out():
    diverge = {("a", 0): "nan", ("a", 1): "stuck", ("b", 2): "nan"}
    cfg = study_cfg([sup("a", "b")])
    runs, summary, comparisons = make_tables(cfg, diverge)
    by = runs.set_index(["condition", "seed"])
    assert by.loc[("a", 0), "diverged_epoch"] == 3.0
    assert by.loc[("a", 1), "diverged_epoch"] == float(EPOCHS)
    assert by.loc[("b", 2), "diverged_epoch"] == 3.0
    assert int(runs["diverged"].sum()) == 3

    s = summary.set_index("condition")
    assert (s.loc["a", "n_seeds"], s.loc["a", "n_diverged"]) == (len(SEEDS), 2)
    assert s.loc["a", "diverged_rate"] == pytest.approx(2 / len(SEEDS))
    lo, hi = stats.wilson_ci(2, len(SEEDS), confidence=0.95)
    assert (s.loc["a", "diverged_ci_low"], s.loc["a", "diverged_ci_high"]) == pytest.approx(
        (lo, hi)
    )
    assert s.loc["same", "n_diverged"] == 0
    assert s.loc["same", "diverged_ci_low"] == 0.0
    # Statistics are over the runs that did not diverge: the stuck run's 0.5 is not in them.
    ok_a = [TRUTH["a"][0](x) for x in SEEDS if x not in (0, 1)]
    assert s.loc["a", "test_accuracy_mean"] == pytest.approx(np.mean(ok_a))
    assert s.loc["a", "test_accuracy_worst"] == pytest.approx(min(ok_a))
    assert s.loc["a", "epochs_to_80_n_reached"] == len(SEEDS) - 2

    # Paired comparisons use the seeds both ran without diverging (0, 1 and 2 are out).
    row = comparisons[(comparisons["a"] == "a") & (comparisons["measure"] == "test_accuracy")]
    assert int(row["n"].iloc[0]) == len(SEEDS) - 3
    (t,) = claims_table(runs, summary, comparisons, cfg.study).itertuples()
    assert t.verdict == "supported"
    assert f"over {len(SEEDS) - 3} seeds" in t.evidence


def test_a_stuck_condition_is_not_evidence_for_a_claim():
    """If every diverged run counted, 'b > a' would be supported by a's runs stuck at chance;
    left out, a = b + 0.02 over the remaining seeds still contradicts it."""
    diverge = {("a", s): "stuck" for s in range(6)}
    t = verdicts_of([sup("b", "a")], diverge)
    assert t["verdict"].iloc[0] == "contradicted"
    assert f"over {len(SEEDS) - 6} seeds" in t["evidence"].iloc[0]


def test_a_published_claim_without_published_values_is_not_supported():
    claim = {"id": "C8", "kind": "published", "measure": "test_accuracy"}
    try:
        t = verdicts_of([claim], published={"b": {"train_accuracy": 0.82}})
    except ConfigError:
        return  # refusing the claim is a fix too
    assert t["verdict"].iloc[0] != "supported"
