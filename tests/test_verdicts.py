"""Unit tests for bnstudy.verdicts: every rule, every branch, on hand-checkable numbers."""

from __future__ import annotations

import dataclasses
import math
import warnings

import pytest
from statsmodels.stats.power import TTestPower

from bnstudy import stats
from bnstudy.verdicts import (
    CONTRADICTED,
    NOT_RESOLVED,
    SUPPORTED,
    Verdict,
    either,
    equivalence,
    interval,
    superiority,
)

INF = math.inf
NAN = math.nan


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    """The module must not leak scipy/numpy/statsmodels warnings to callers."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# --- Verdict ------------------------------------------------------------------------------------


def test_verdict_checks_label_stores_floats_and_is_frozen():
    v = Verdict(SUPPORTED, 14, 10, 22, NAN, NAN, "x")
    assert type(v.estimate) is float and v.ci_high == 22.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.verdict = CONTRADICTED  # type: ignore[misc]
    with pytest.raises(ValueError):
        Verdict("maybe", 0.0, 0.0, 0.0, NAN, NAN, "x")


# --- superiority --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mean", "direction", "want"),
    [
        (0.01, "greater", SUPPORTED),
        (-0.01, "less", SUPPORTED),
        (-0.01, "greater", CONTRADICTED),
        (0.01, "less", CONTRADICTED),
    ],
)
def test_superiority_significant(mean, direction, want):
    v = superiority(mean, 0.005, 10, mean - 0.005, mean + 0.005, 0.012, direction)
    assert v.verdict == want
    assert (v.estimate, v.p) == (mean, 0.012) and math.isnan(v.seeds_needed)
    lo, hi = sorted((mean - 0.005, mean + 0.005))
    assert v.evidence == (
        f"paired difference {mean:.4f} over 10 seeds (95% CI [{lo:.4f}, {hi:.4f}]), "
        "Holm-adjusted t-test p = 0.012"
    )


def test_superiority_not_resolved_gives_seeds_at_80_percent_power():
    v = superiority(-0.0031, 0.0066, 10, -0.0064, 0.0004, 0.071, "less")
    want = math.ceil(TTestPower().solve_power(effect_size=0.0031 / 0.0066, alpha=0.05, power=0.8))
    assert v.verdict == NOT_RESOLVED and v.seeds_needed == want == 38
    assert v.evidence == (
        "paired difference -0.0031 over 10 seeds (95% CI [-0.0064, 0.0004]), "
        "Holm-adjusted t-test p = 0.071; about 38 seeds would resolve it at 80% power"
    )


def test_superiority_p_at_alpha_is_not_significant_and_confidence_is_used():
    assert superiority(0.01, 0.01, 5, 0.0, 0.02, 0.05, "greater").verdict == NOT_RESOLVED
    v = superiority(0.01, 0.01, 5, 0.001, 0.019, 0.07, "greater", confidence=0.90)
    assert v.verdict == SUPPORTED and "(90% CI [0.0010, 0.0190])" in v.evidence
    v = superiority(0.01, 0.01, 5, 0.001, 0.019, 0.07, "greater")
    assert v.seeds_needed == stats.seeds_for_power(0.01, 0.01)  # 10


def test_superiority_seeds_needed_exceed_the_seeds_used():
    # raw p would be significant at d = 1 with 12 seeds, but the Holm-adjusted p is not
    assert stats.seeds_for_power(0.01, 0.01) == 10
    v = superiority(0.01, 0.01, 12, 0.004, 0.016, 0.08, "greater")
    assert (v.verdict, v.seeds_needed) == (NOT_RESOLVED, 13.0)


def test_superiority_identical_samples_and_zero_mean():
    v = superiority(0.0, 0.0, 5, 0.0, 0.0, NAN, "greater")
    assert v.verdict == NOT_RESOLVED and v.seeds_needed == INF and math.isnan(v.p)
    assert v.evidence.endswith("p undefined (the paired samples are identical)")
    v = superiority(0.0, 0.01, 5, -0.01, 0.01, 0.5, "less")
    assert v.verdict == NOT_RESOLVED and v.seeds_needed == INF
    assert v.evidence.endswith("p = 0.5; no number of seeds would resolve it")


def test_superiority_formats_epochs_and_small_p():
    v = superiority(-3.25, 1.0, 8, -4.0, -2.5, 0.0004, "less", unit="epochs")
    assert v.verdict == SUPPORTED
    assert v.evidence == (
        "paired difference -3.2 epochs over 8 seeds (95% CI [-4.0, -2.5]), "
        "Holm-adjusted t-test p < 0.001"
    )


def test_superiority_rejects_unknown_direction():
    with pytest.raises(ValueError):
        superiority(0.01, 0.01, 5, 0.0, 0.02, 0.01, "two-sided")


# --- equivalence --------------------------------------------------------------------------------
# d = [1, 2, 3]: mean 2, se 1/sqrt(3), 2 df (closed forms as in test_stats.py)


def _t2_ppf(q: float) -> float:
    return (2 * q - 1) / math.sqrt(2 * q * (1 - q))


def test_equivalence_supported():
    v = equivalence([1, 2, 3], [0, 0, 0], margin=4.0)
    half = _t2_ppf(0.95) / math.sqrt(3)  # the 90% CI that TOST at 5% is equivalent to
    assert v.verdict == SUPPORTED and math.isnan(v.seeds_needed)
    assert v.p == pytest.approx((1 - math.sqrt(6 / 7)) / 2)  # 0.0371
    assert (v.estimate, v.ci_low, v.ci_high) == pytest.approx((2, 2 - half, 2 + half))
    assert v.evidence == (
        "paired difference 2.0000 (90% CI [0.3141, 3.6859]) against the ±4.0000 margin, "
        "TOST p = 0.0371"
    )


def test_equivalence_not_resolved():
    v = equivalence([1, 2, 3], [0, 0, 0], margin=2.5)
    assert v.verdict == NOT_RESOLVED
    assert v.p == pytest.approx((1 - math.sqrt(3 / 11)) / 2)  # 0.239
    assert v.seeds_needed == stats.seeds_for_equivalence(2.0, 1.0, 2.5) == 27
    assert v.evidence.endswith(
        "±2.5000 margin, TOST p = 0.239; about 27 seeds would resolve it at 80% power"
    )


@pytest.mark.parametrize("sign", [1, -1])
def test_equivalence_contradicted_both_sides(sign):
    v = equivalence([sign * 10, sign * 11, sign * 12], [0, 0, 0], margin=1.0)
    half = _t2_ppf(0.975) / math.sqrt(3)  # the 95% CI is the one that must clear the margin
    assert v.verdict == CONTRADICTED and math.isnan(v.seeds_needed)
    assert (v.ci_low, v.ci_high) == pytest.approx(sorted((sign * (11 - half), sign * (11 + half))))
    assert "(95% CI [" in v.evidence and "outside the ±1.0000 margin" in v.evidence


def test_equivalence_confidence_changes_the_verdict():
    # margin 3.5: TOST p = (1 - 1.5 sqrt(3) / sqrt(6.75 + 2)) / 2 = 0.061
    assert equivalence([1, 2, 3], [0, 0, 0], 3.5).verdict == NOT_RESOLVED
    v = equivalence([1, 2, 3], [0, 0, 0], 3.5, confidence=0.90)
    assert v.verdict == SUPPORTED and v.p == pytest.approx(0.0608, abs=1e-4)
    assert "(80% CI [" in v.evidence


def test_equivalence_wide_ci_that_straddles_the_margin_is_not_contradicted():
    # mean 2 outside the 1.0 margin, but the 95% CI [-0.48, 4.48] reaches into it; only a
    # contradiction can resolve it: a t-test of mean = 1 with effect (2 - 1) / sd = 1
    v = equivalence([1, 2, 3], [0, 0, 0], margin=1.0)
    assert v.verdict == NOT_RESOLVED and v.seeds_needed == stats.seeds_for_power(1.0, 1.0) == 10
    v = equivalence([0, 2, 4], [0, 0, 0], margin=2.0)  # mean on the margin
    assert v.verdict == NOT_RESOLVED and v.seeds_needed == INF


def test_equivalence_zero_spread():
    v = equivalence([1.5, 2.5, 3.5], [0.5, 1.5, 2.5], margin=2.0)
    assert (v.verdict, v.p, v.ci_low, v.ci_high) == (SUPPORTED, 0.0, 1.0, 1.0)
    assert "p < 0.001" in v.evidence
    v = equivalence([3.0, 4.0], [0.0, 1.0], margin=2.0)
    assert (v.verdict, v.ci_low, v.ci_high) == (CONTRADICTED, 3.0, 3.0)
    v = equivalence([2.0, 2.0], [0.0, 0.0], margin=2.0)  # exactly on the margin
    assert (v.verdict, v.seeds_needed) == (NOT_RESOLVED, INF)
    assert v.evidence.endswith("no number of seeds would resolve it")


def test_equivalence_rejects_a_single_pair():
    with pytest.raises(ValueError):
        equivalence([1.0], [0.0], 1.0)


# --- interval -----------------------------------------------------------------------------------


def test_interval_supported_one_sided_from_below():
    v = interval(0.87, 0.86, 0.88, 0.85, INF, "final accuracy", n=10)
    assert (v.verdict, v.estimate, v.ci_low, v.ci_high) == (SUPPORTED, 0.87, 0.86, 0.88)
    assert math.isnan(v.p) and math.isnan(v.seeds_needed)
    assert v.evidence == "final accuracy 0.8700 (95% CI [0.8600, 0.8800]), claimed at least 0.8500"


def test_interval_supported_touching_bounds():
    assert interval(20.0, 18.0, 20.0, -INF, 20.0, "m", n=5).verdict == SUPPORTED
    assert interval(0.5, 0.25, 0.75, 0.25, 0.75, "x", n=5).verdict == SUPPORTED


def test_interval_contradicted_both_sides():
    v = interval(25.0, 22.0, 30.0, -INF, 20.0, "median epochs to 80%", n=10, unit="epochs")
    assert v.verdict == CONTRADICTED and math.isnan(v.seeds_needed)
    assert v.evidence == (
        "median epochs to 80% 25.0 epochs (95% CI [22.0, 30.0]), claimed at most 20.0"
    )
    assert interval(0.80, 0.78, 0.82, 0.85, INF, "acc", n=10).verdict == CONTRADICTED
    # a CI that only touches the claimed range still overlaps it
    assert interval(0.84, 0.82, 0.85, 0.85, INF, "acc", n=10).verdict == NOT_RESOLVED
    assert interval(21.0, 20.0, 22.0, -INF, 20.0, "m", n=10).verdict == NOT_RESOLVED
    # all runs censored: the KM median and its CI are inf
    assert interval(INF, INF, INF, -INF, 20.0, "m", n=10).verdict == CONTRADICTED


def test_interval_not_resolved_estimate_inside_one_sided():
    # CI side facing 20 is 22 - 14 = 8, gap 6: n' > 10 (8 / 6)^2 = 17.8
    v = interval(14.0, 10.0, 22.0, -INF, 20.0, "median epochs", n=10, unit="epochs")
    assert (v.verdict, v.seeds_needed) == (NOT_RESOLVED, 18.0)
    assert v.evidence == (
        "median epochs 14.0 epochs (95% CI [10.0, 22.0]), claimed at most 20.0; "
        "about 18 seeds would resolve it (CI half-width scaled as 1/sqrt(n))"
    )


def test_interval_not_resolved_two_sided_takes_the_binding_bound():
    # upper: side 0.375, gap 0.125 -> 9 n; lower: side 0.25, gap 0.125 -> 4 n; n' > 36
    v = interval(0.5, 0.25, 0.875, 0.375, 0.625, "x", n=4)
    assert (v.verdict, v.seeds_needed) == (NOT_RESOLVED, 37.0)
    assert "claimed in [0.3750, 0.6250]" in v.evidence


def test_interval_not_resolved_estimate_outside_resolves_towards_contradiction():
    # estimate 22 beyond 20: the lower side 4 must clear the gap 2: n' > 5 * 4
    v = interval(22.0, 18.0, 26.0, -INF, 20.0, "m", n=5)
    assert (v.verdict, v.seeds_needed) == (NOT_RESOLVED, 21.0)


def test_interval_not_resolved_infinite_side_and_spread():
    # KM-style CI [10, inf]: the finite side 4 stands in (n' = 10 (4/6)^2 < n, so n + 1)
    assert interval(14.0, 10.0, INF, -INF, 20.0, "m", n=10).seeds_needed == 11.0
    # a given spread (half-width 12 at n = 10) is scaled instead: n' > 10 (12 / 6)^2 = 40
    assert interval(14.0, 10.0, INF, -INF, 20.0, "m", n=10, spread=12.0).seeds_needed == 41.0


def test_interval_not_resolved_degenerate():
    v = interval(20.0, 18.0, 22.0, -INF, 20.0, "m", 0.90, n=5)  # on the bound
    assert (v.verdict, v.seeds_needed) == (NOT_RESOLVED, INF)
    assert "(90% CI [" in v.evidence and v.evidence.endswith("no number of seeds would resolve it")
    v = interval(INF, 12.0, INF, -INF, 20.0, "m", n=5)  # KM median never reached, CI open
    assert v.verdict == NOT_RESOLVED and math.isnan(v.seeds_needed)
    assert v.evidence.endswith("cannot be estimated")


def test_interval_on_a_km_summary():
    r = stats.km_summary([1, 2, 3, INF], horizon=5)  # median 2, CI [1, inf]
    v = interval(r["median"], r["median_ci_low"], r["median_ci_high"], -INF, 3.0, "m", n=4)
    assert (v.verdict, v.estimate, v.seeds_needed) == (NOT_RESOLVED, 2.0, 5.0)


# --- either -------------------------------------------------------------------------------------

_S = Verdict(SUPPORTED, 0.01, 0.005, 0.015, 0.01, NAN, "s")
_C1 = Verdict(CONTRADICTED, -0.02, -0.03, -0.01, 0.001, NAN, "c1")
_C2 = Verdict(CONTRADICTED, 0.02, 0.01, 0.03, 0.002, NAN, "c2")
_N40 = Verdict(NOT_RESOLVED, 0.001, -0.001, 0.003, 0.2, 40.0, "n40")
_N12 = Verdict(NOT_RESOLVED, 0.002, -0.001, 0.005, 0.1, 12.0, "n12")
_NNAN = Verdict(NOT_RESOLVED, INF, 12.0, INF, NAN, NAN, "nnan")


def test_either_first_supported():
    v = either(_N40, _S, _C1)
    assert dataclasses.replace(v, evidence="s") == _S
    assert v.evidence == "not resolved: n40; or supported: s; or contradicted: c1"


def test_either_contradicted_only_if_all_are():
    v = either(_C2, _C1)
    assert dataclasses.replace(v, evidence="c2") == _C2
    assert v.evidence == "contradicted: c2; or contradicted: c1"
    v = either(_C1, _N40)
    assert dataclasses.replace(v, evidence="n40") == _N40


def test_either_not_resolved_takes_the_fewest_seeds():
    assert either(_N40, _C1, _N12).seeds_needed == 12.0
    assert either(_NNAN, _N40).seeds_needed == 40.0
    assert math.isnan(either(_NNAN).seeds_needed)


def test_either_of_real_rules_and_empty():
    eq = equivalence([1, 2, 3], [0, 0, 0], margin=2.5)  # not resolved
    sup = superiority(2.0, 1.0, 3, 0.3, 3.7, 0.04, "greater")  # supported
    v = either(eq, sup)
    assert v.verdict == SUPPORTED and v.p == 0.04
    assert "TOST p = 0.239" in v.evidence and "t-test p = 0.04" in v.evidence
    with pytest.raises(ValueError):
        either()
