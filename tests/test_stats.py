"""Unit tests for bnstudy.stats on small, hand-checkable arrays."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.power import TTestPower

from bnstudy import stats

INF = math.inf
FAST = 999  # resamples: enough for stable tests, fast


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    """The module must not leak scipy/numpy warnings to callers."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# --- bootstrap_ci -------------------------------------------------------------------------------


def test_bootstrap_ci_contains_mean_and_is_plain_float():
    x = [0.81, 0.84, 0.79, 0.86, 0.83, 0.80, 0.85]
    lo, hi = stats.bootstrap_ci(x, n_resamples=FAST)
    assert type(lo) is float and type(hi) is float
    assert lo < np.mean(x) < hi
    assert min(x) <= lo and hi <= max(x)


def test_bootstrap_ci_deterministic_per_seed_and_seed_matters():
    x = [0.81, 0.84, 0.79, 0.86, 0.83, 0.80, 0.85]
    a = stats.bootstrap_ci(x, n_resamples=FAST, seed=1)
    assert a == stats.bootstrap_ci(x, n_resamples=FAST, seed=1)
    assert a != stats.bootstrap_ci(x, n_resamples=FAST, seed=2)


def test_bootstrap_ci_wider_at_higher_confidence():
    x = [1.0, 2.0, 4.0, 8.0, 16.0, 3.0]
    lo90, hi90 = stats.bootstrap_ci(x, confidence=0.90, n_resamples=FAST)
    lo99, hi99 = stats.bootstrap_ci(x, confidence=0.99, n_resamples=FAST)
    assert lo99 < lo90 and hi90 < hi99


def test_bootstrap_ci_degenerate_returns_value():
    assert stats.bootstrap_ci([0.7] * 5) == (0.7, 0.7)
    assert stats.bootstrap_ci([3.0]) == (3.0, 3.0)


def test_bootstrap_ci_with_inf_uses_percentile():
    lo, hi = stats.bootstrap_ci([1.0, 2.0, INF, 4.0, 5.0], np.median, n_resamples=FAST)
    assert lo == 1.0 and hi == INF


def test_bootstrap_ci_bca_nan_falls_back_to_percentile():
    x = [1.0] * 9 + [2.0]  # every jackknife median is 1: scipy's BCa gives nan here
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = sps.bootstrap((x,), np.median, n_resamples=FAST, rng=np.random.default_rng(0))
    assert math.isnan(raw.confidence_interval.low)
    assert stats.bootstrap_ci(x, np.median, n_resamples=FAST) == (1.0, 1.0)


# --- simple summaries ---------------------------------------------------------------------------


def test_iqm():
    assert stats.iqm([1, 2, 3, 4, 5, 6, 7, 8]) == 4.5  # mean of 3, 4, 5, 6
    assert stats.iqm([100, 1, 2, 3, 4, 5, 6, -100]) == 3.5  # outliers trimmed, order irrelevant


def test_noise_floor():
    assert stats.noise_floor(0.85, 500) == pytest.approx(0.0159687, abs=1e-7)
    assert stats.noise_floor(0.5, 100) == pytest.approx(0.05)
    assert stats.noise_floor(1.0, 10) == 0.0


# --- censoring ----------------------------------------------------------------------------------


def test_censored_median_counts_censored_runs():
    assert stats.censored_median([3, 5, INF]) == 5.0  # dropping inf would give 4
    assert stats.censored_median([3, 9, 5, INF, 7]) == 7.0  # 1 of 5 censored
    assert stats.censored_median([3, 5, INF, INF, INF]) == INF  # 3 of 5 censored
    assert stats.censored_median([2, 4, 6, 8]) == 5.0


def test_censored_median_ci_mostly_censored():
    lo, hi = stats.censored_median_ci([3, 5, INF, INF, INF], n_resamples=FAST)
    assert hi == INF
    assert 3.0 <= lo <= 5.0


def test_censored_median_ci_even_n_mix_maps_sentinel_back_to_inf():
    lo, hi = stats.censored_median_ci([1, 2, INF, INF], n_resamples=FAST)
    assert hi == INF and math.isfinite(lo)


def test_censored_median_ci_rarely_censored_is_finite():
    e = [*range(1, 20), INF]
    lo, hi = stats.censored_median_ci(e, n_resamples=FAST)
    assert 1.0 <= lo < stats.censored_median(e) < hi <= 19.0


def test_censored_median_ci_all_censored_and_none_censored():
    assert stats.censored_median_ci([INF, INF, INF]) == (INF, INF)
    lo, hi = stats.censored_median_ci([4, 6, 5, 7, 3], n_resamples=FAST)
    assert 3.0 <= lo <= 5.0 <= hi <= 7.0


# --- probability of improvement -----------------------------------------------------------------


def test_prob_improvement_by_hand():
    # pairs (1,0)>, (1,3)<, (2,0)>, (2,3)<  -> 2/4
    assert stats.prob_improvement([1, 2], [0, 3]) == 0.5
    # 3 vs [1, 2, 3, 4]: two wins, one tie, one loss -> (2 + 0.5) / 4
    assert stats.prob_improvement([3], [1, 2, 3, 4]) == 0.625


def test_prob_improvement_ties():
    # pairs (1,1)=, (1,1)=, (2,1)>, (2,1)>  -> (2 + 0.5 * 2) / 4
    assert stats.prob_improvement([1, 2], [1, 1]) == 0.75
    assert stats.prob_improvement([1, 1], [1, 1]) == 0.5
    assert stats.prob_improvement([1, 2], [1, 1]) + stats.prob_improvement([1, 1], [1, 2]) == 1.0


def test_prob_improvement_equals_mann_whitney_on_resamples():
    # the vectorized pair count gives scipy's U / (n m) exactly, ties and all, row by row
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 6, (50, 12)) / 4, rng.integers(0, 6, (50, 12)) / 4
    u = sps.mannwhitneyu(a, b, axis=-1).statistic / 144
    np.testing.assert_array_equal(stats._prob_improvement(a, b), u)
    np.testing.assert_array_equal(stats._prob_improvement(a.T, b.T, axis=0), u)


def test_bootstrap_ci_columns_equals_scipy_percentile_bootstrap():
    # the same draws and quantiles as scipy.stats.bootstrap, column by column
    x = np.random.default_rng(4).normal(size=(9, 5))
    x[:, 2] = 0.25  # a flat column keeps its value
    lo, hi = stats.bootstrap_ci_columns(x, confidence=0.9, n_resamples=FAST, seed=7)
    for j in (0, 1, 3, 4):
        ci = sps.bootstrap(
            (x[:, j],),
            np.mean,
            n_resamples=FAST,
            confidence_level=0.9,
            method="percentile",
            rng=np.random.default_rng(7),
        ).confidence_interval
        assert (lo[j], hi[j]) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert lo[2] == hi[2] == 0.25


def test_prob_improvement_ci_is_paired():
    b = np.arange(1.0, 6.0)
    a = b + 0.5  # each seed improves by 0.5, seeds overlap across
    lo, hi = stats.prob_improvement_ci(a, b, n_resamples=FAST)
    # paired resampling keeps a_i = b_i + 0.5, so P(a > b) >= 15/25 in every resample;
    # resampling a and b independently could reach 0.
    assert lo == pytest.approx(0.6)
    assert 0.6 < hi <= 1.0
    assert (lo, hi) == stats.prob_improvement_ci(a, b, n_resamples=FAST)


def test_prob_improvement_ci_rejects_unpaired_lengths():
    with pytest.raises(ValueError):
        stats.prob_improvement_ci([1, 2, 3], [1, 2])


# --- effect size --------------------------------------------------------------------------------


def test_hedges_g_paired_by_hand():
    # d = [2, 3, 4, 2], mean 2.75, var = 2.75 / 3, J = 1 - 3 / 11 = 8 / 11
    g = stats.hedges_g_paired([3, 5, 7, 4], [1, 2, 3, 2])
    assert g == pytest.approx(math.sqrt(2.75 * 3) * 8 / 11)
    assert stats.hedges_g_paired([1, 2, 3, 2], [3, 5, 7, 4]) == pytest.approx(-g)


def test_hedges_g_paired_zero_spread():
    assert math.isnan(stats.hedges_g_paired([1, 2, 3], [1, 2, 3]))
    assert stats.hedges_g_paired([2, 3, 4], [1, 2, 3]) == INF
    assert stats.hedges_g_paired([1, 2, 3], [2, 3, 4]) == -INF


# --- paired_test --------------------------------------------------------------------------------


def test_paired_test_values():
    b = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    a = b + np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    r = stats.paired_test(a, b, n_resamples=FAST)
    assert r["n"] == 5 and r["mean_diff"] == 3.0
    assert r["diff_ci_low"] < 3.0 < r["diff_ci_high"]
    # t = mean / (sd / sqrt(n)) = 3 / sqrt(2.5 / 5), two-sided with n - 1 df
    assert r["t_p"] == pytest.approx(2 * sps.t.sf(3 / math.sqrt(0.5), 4))
    assert r["wilcoxon_p"] == pytest.approx(2 / 2**5)  # exact: all 5 signs positive
    assert r["p_improve"] == pytest.approx(15 / 25)
    assert r["p_improve_low"] <= r["p_improve"] <= r["p_improve_high"]
    assert r["hedges_g"] == pytest.approx(3 / math.sqrt(2.5) * (1 - 3 / 15))


def test_paired_test_wilcoxon_drops_zero_differences():
    d = np.array([0.0, 1.0, -2.0, 3.0, 4.0, 5.0, 6.0, 7.0, -8.0, 9.0])
    b = np.arange(10.0)
    a = b + d
    r = stats.paired_test(a, b, n_resamples=FAST)
    # zero pair discarded: n = 9, R- = 2 + 8 = 10; 42 of the 2**9 sign patterns have R- <= 10
    # ("pratt"/"zsplit" keep the zero in the ranking and give 0.1445)
    assert r["wilcoxon_p"] == pytest.approx(2 * 42 / 2**9)
    assert r["wilcoxon_p"] == pytest.approx(sps.wilcoxon(d[d != 0]).pvalue)
    assert r["t_p"] == pytest.approx(sps.ttest_1samp(a - b, 0.0).pvalue)


def test_paired_test_identical_inputs():
    r = stats.paired_test([0.8, 0.9, 0.85], [0.8, 0.9, 0.85], n_resamples=FAST)
    assert math.isnan(r["t_p"]) and math.isnan(r["wilcoxon_p"]) and math.isnan(r["hedges_g"])
    assert (r["mean_diff"], r["diff_ci_low"], r["diff_ci_high"]) == (0.0, 0.0, 0.0)
    assert (r["p_improve"], r["p_improve_low"], r["p_improve_high"]) == (0.5, 0.5, 0.5)


def test_paired_test_censored_epochs_as_epochs_plus_one():
    epochs = 30
    a = np.array([12.0, 15.0, epochs + 1, 14.0, 13.0])
    b = np.array([20.0, 22.0, epochs + 1, 25.0, epochs + 1])
    r = stats.paired_test(a, b, n_resamples=FAST)
    assert all(math.isfinite(r[k]) for k in ("t_p", "wilcoxon_p", "diff_ci_low", "hedges_g"))
    assert r["mean_diff"] == pytest.approx(-(8 + 7 + 0 + 11 + 18) / 5)


# --- holm ---------------------------------------------------------------------------------------


def test_holm_by_hand():
    # sorted: 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, max(0.04 * 1, 0.06) = 0.06
    np.testing.assert_allclose(stats.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(stats.holm([0.5, 0.9]), [1.0, 1.0])


def test_holm_passes_nan_through():
    out = stats.holm([0.01, np.nan, 0.04, 0.03])
    np.testing.assert_allclose(out, [0.03, np.nan, 0.06, 0.06])  # nan not counted in k
    assert np.isnan(stats.holm([np.nan, np.nan])).all()


# --- wilson_ci ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    # Newcombe (1998), Stat Med 17:857, Table I, method 3 (score interval without correction)
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_ci_textbook_values(k, n, lo, hi):
    got = stats.wilson_ci(k, n)
    assert type(got[0]) is float and type(got[1]) is float
    assert got == pytest.approx((lo, hi), abs=5e-5)


def test_wilson_ci_by_formula_and_confidence():
    # centre (k + z^2/2) / (n + z^2), half-width z sqrt(k (n - k) / n + z^2 / 4) / (n + z^2)
    k, n = 3, 10
    for conf in (0.95, 0.90):
        z = sps.norm.ppf(1 - (1 - conf) / 2)
        centre = (k + z * z / 2) / (n + z * z)
        half = z * math.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
        assert stats.wilson_ci(k, n, conf) == pytest.approx((centre - half, centre + half))
    lo90, hi90 = stats.wilson_ci(k, n, 0.90)
    lo95, hi95 = stats.wilson_ci(k, n)
    assert lo95 < lo90 < hi90 < hi95


def test_wilson_ci_empty_and_invalid():
    lo, hi = stats.wilson_ci(0, 0)
    assert math.isnan(lo) and math.isnan(hi)
    with pytest.raises(ValueError):
        stats.wilson_ci(3, 2)


# --- tost_paired --------------------------------------------------------------------------------
# d = a - b = [1, 2, 3]: mean 2, sd 1, se 1/sqrt(3), df 2. With 2 df the t distribution has
# closed forms: sf(x) = (1 - x / sqrt(x^2 + 2)) / 2 and quantile(q) = (2q - 1) / sqrt(2 q (1 - q)).


def _t2_sf(x: float) -> float:
    return (1 - x / math.sqrt(x * x + 2)) / 2


def _t2_ppf(q: float) -> float:
    return (2 * q - 1) / math.sqrt(2 * q * (1 - q))


def test_tost_paired_equivalent_by_hand():
    r = stats.tost_paired([1, 2, 3], [0, 0, 0], margin=4.0)
    # lower test t = (2 + 4) sqrt(3), upper test t = (2 - 4) sqrt(3): the upper one decides
    assert r["p"] == pytest.approx(_t2_sf(2 * math.sqrt(3)))  # 0.0371
    assert r["p"] == pytest.approx((1 - math.sqrt(6 / 7)) / 2)
    assert r["mean_diff"] == 2.0 and r["margin"] == 4.0
    half = _t2_ppf(0.95) / math.sqrt(3)  # the 90% interval at confidence 0.95
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((2 - half, 2 + half))


def test_tost_paired_not_equivalent_by_hand():
    r = stats.tost_paired([1, 2, 3], [0, 0, 0], margin=2.5)
    assert r["p"] == pytest.approx(_t2_sf(0.5 * math.sqrt(3)))  # 0.239
    assert r["p"] > 0.05
    assert r["ci_high"] > 2.5  # the 90% CI sticks out of the margin exactly when p >= 0.05


def test_tost_paired_confidence_and_symmetry():
    r80 = stats.tost_paired([1, 2, 3], [0, 0, 0], 4.0, confidence=0.90)
    half = _t2_ppf(0.90) / math.sqrt(3)  # the 80% interval
    assert (r80["ci_low"], r80["ci_high"]) == pytest.approx((2 - half, 2 + half))
    swapped = stats.tost_paired([0, 0, 0], [1, 2, 3], 4.0)
    assert swapped["mean_diff"] == -2.0
    assert swapped["p"] == pytest.approx(stats.tost_paired([1, 2, 3], [0, 0, 0], 4.0)["p"])


def test_tost_paired_zero_spread():
    r = stats.tost_paired([1.5, 2.5, 3.5], [0.5, 1.5, 2.5], margin=2.0)
    assert (r["p"], r["mean_diff"], r["ci_low"], r["ci_high"]) == (0.0, 1.0, 1.0, 1.0)
    r = stats.tost_paired([3.0, 4.0], [0.0, 1.0], margin=2.0)
    assert (r["p"], r["ci_low"], r["ci_high"]) == (1.0, 3.0, 3.0)
    assert stats.tost_paired([2.0, 2.0], [0.0, 0.0], margin=2.0)["p"] == 1.0  # on the margin


def test_tost_paired_rejects_bad_input():
    with pytest.raises(ValueError):
        stats.tost_paired([1.0], [0.0], 1.0)
    with pytest.raises(ValueError):
        stats.tost_paired([1.0, 2.0], [0.0, 0.0], 0.0)
    with pytest.raises(ValueError):
        stats.tost_paired([1.0, 2.0], [0.0, 0.0, 0.0], 1.0)


# --- Kaplan-Meier -------------------------------------------------------------------------------


def test_km_summary_by_hand():
    r = stats.km_summary([1, 2, 3, INF], horizon=5)
    # S = 3/4, 2/4, 1/4 after epochs 1, 2, 3; censored at 5
    assert r["median"] == 2.0  # np.median would give 2.5
    assert r["rmst"] == pytest.approx(1 + 0.75 + 0.5 + 0.25 * 2)  # 2.75
    assert (r["n_reached"], r["n_censored"]) == (3, 1)
    # log-log band: lower curve 0.128 at epoch 1; upper curve 0.665 at its lowest (epoch 3)
    assert (r["median_ci_low"], r["median_ci_high"]) == (1.0, INF)


def _loglog_band(n: int, times: list[float], confidence: float = 0.95):
    """Greenwood variance and log-log band, by hand, for distinct event times (no ties)."""
    z = sps.norm.ppf(1 - (1 - confidence) / 2)
    s, greenwood, lo, hi = 1.0, 0.0, [], []
    for i, _ in enumerate(times):
        at_risk = n - i
        s *= (at_risk - 1) / at_risk
        greenwood += 1 / (at_risk * (at_risk - 1)) if at_risk > 1 else 0.0
        if s == 0:
            lo.append(0.0)
            hi.append(0.0)
            continue
        w = z * math.sqrt(greenwood) / abs(math.log(s))
        lo.append(s ** math.exp(w))
        hi.append(s ** math.exp(-w))
    return np.array(lo), np.array(hi)


@pytest.mark.parametrize("n_censored", [2, 5, 9])
def test_km_summary_median_ci_against_hand_band(n_censored):
    times = [float(t) for t in range(1, 21 - n_censored)]
    e = times + [INF] * n_censored
    lo, hi = _loglog_band(20, times)
    t = np.array(times)

    def first(band):
        return float(t[band <= 0.5 + 1e-12][0]) if (band <= 0.5 + 1e-12).any() else INF

    r = stats.km_summary(e, horizon=20)
    assert (r["median_ci_low"], r["median_ci_high"]) == (first(lo), first(hi))
    assert r["median_ci_low"] <= r["median"] <= r["median_ci_high"]


def test_km_summary_ci_for_ten_runs_and_confidence():
    e = [1, 2, 3, 4, 5, 6, 7, 8, INF, INF]
    r = stats.km_summary(e, horizon=10)
    # S(5) = 0.5; lower band 0.473 at epoch 1; upper band 0.578 at 7, 0.475 at 8
    assert (r["median"], r["median_ci_low"], r["median_ci_high"]) == (5.0, 1.0, 8.0)
    r80 = stats.km_summary(e, horizon=10, confidence=0.80)
    assert 1.0 < r80["median_ci_low"] <= 5.0 <= r80["median_ci_high"] < 8.0


def test_km_summary_rmst_is_mean_restricted_time():
    e = [2, 5, 5, 7, np.nan, INF, 3, 9, 10, 4, 6, INF]
    r = stats.km_summary(e, horizon=10)
    assert r["rmst"] == pytest.approx(stats.restricted_times(e, 10).mean())
    assert r["rmst"] == pytest.approx((2 + 5 + 5 + 7 + 10 + 10 + 3 + 9 + 10 + 4 + 6 + 10) / 12)
    assert (r["n_reached"], r["n_censored"]) == (9, 3)  # nan counts as never reached


def test_km_summary_median_where_the_float_product_overshoots_half():
    e = [2, 3, 4, 5, 6, 6, 7, 8, 8, 9, 10, 10, INF, INF]  # 7 of 14 reached by epoch 7
    res = sps.ecdf(sps.CensoredData(uncensored=e[:12], right=[10, 10]))
    assert res.sf.evaluate(7.0) > 0.5  # 0.5000000000000001
    assert stats.km_summary(e, horizon=10)["median"] == 7.0


def test_km_summary_all_censored_and_none_censored():
    r = stats.km_summary([INF, INF, INF], horizon=5)
    assert (r["median"], r["median_ci_low"], r["median_ci_high"]) == (INF, INF, INF)
    assert r["rmst"] == 5.0 and (r["n_reached"], r["n_censored"]) == (0, 3)
    r = stats.km_summary([2, 4, 6, 8], horizon=10)
    assert r["median"] == 4.0 and r["rmst"] == 5.0 and r["median_ci_high"] == 8.0


def test_km_rejects_epochs_past_horizon():
    with pytest.raises(ValueError):
        stats.km_summary([1, 6], horizon=5)
    with pytest.raises(ValueError):
        stats.km_curve([1, 6], horizon=5)


def test_km_curve_by_hand():
    axis, reached = stats.km_curve([1, 2, 3, INF], horizon=5)
    np.testing.assert_array_equal(axis, [1, 2, 3, 4, 5])
    np.testing.assert_allclose(reached, [0.25, 0.5, 0.75, 0.75, 0.75])


def test_km_curve_is_fraction_reached_under_administrative_censoring():
    e = np.array([2, 5, 5, 7, np.nan, INF, 3, 9, 10, 4, 6, INF])
    axis, reached = stats.km_curve(e, horizon=10)
    assert axis.shape == reached.shape == (10,)
    np.testing.assert_allclose(reached, (e[:, None] <= axis).mean(axis=0))


def test_restricted_times():
    out = stats.restricted_times([1, INF, np.nan, 5, 3.5], horizon=5)
    np.testing.assert_array_equal(out, [1, 5, 5, 5, 3.5])


# --- seeds for power ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("es", "confidence", "power"), [(0.3, 0.95, 0.8), (1.0, 0.95, 0.8), (0.5, 0.90, 0.9)]
)
def test_seeds_for_power_is_statsmodels_rounded_up(es, confidence, power):
    direct = TTestPower().solve_power(effect_size=es, alpha=1 - confidence, power=power)
    want = math.ceil(direct)
    assert stats.seeds_for_power(es * 0.01, 0.01, confidence, power) == want
    assert stats.seeds_for_power(-es * 0.01, 0.01, confidence, power) == want


def test_seeds_for_power_large_effects_where_statsmodels_stalls():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert math.isnan(TTestPower().solve_power(effect_size=6.0, alpha=0.05, power=0.8))
    # power at n = 2 for d = 6: P(T_1(nc = 6 sqrt 2) > t_{0.975, 1}) about 0.5; at n = 3: 0.995
    assert stats.seeds_for_power(6.0, 1.0) == 3
    assert stats.seeds_for_power(100.0, 1.0) == 2
    grid = [stats.seeds_for_power(es, 1.0) for es in np.geomspace(0.2, 40, 40)]
    assert all(x >= y for x, y in itertools.pairwise(grid))  # larger effect, fewer seeds


def test_seeds_for_power_tiny_effect_matches_normal_formula():
    z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)
    # 7.85 million seeds; scipy's noncentral t is good to ~1e-6 in power at such df
    assert stats.seeds_for_power(1e-3, 1.0) == pytest.approx((z / 1e-3) ** 2, rel=1e-5)


def test_seeds_for_power_degenerate():
    assert stats.seeds_for_power(0.0, 0.01) == INF
    assert stats.seeds_for_power(0.0, 0.0) == INF
    assert stats.seeds_for_power(0.003, 0.0) == 2
    assert math.isnan(stats.seeds_for_power(0.003, math.nan))


# --- seeds for equivalence ----------------------------------------------------------------------


def _tost_rejection_rate(n: int, mean: float, sd: float, margin: float, reps: int = 20000):
    """Monte-Carlo power of TOST at alpha = 0.05 with n paired seeds (fixed rng)."""
    d = np.random.default_rng(0).normal(mean, sd, size=(reps, n))
    m, se = d.mean(axis=1), d.std(axis=1, ddof=1) / math.sqrt(n)
    tc = sps.t.ppf(0.95, n - 1)
    return float(np.mean(((m + margin) / se > tc) & ((m - margin) / se < -tc)))


@pytest.mark.parametrize("mean", [0.0, 0.1, -0.25])
def test_seeds_for_equivalence_has_the_power_it_claims(mean):
    n = int(stats.seeds_for_equivalence(mean, 1.0, 0.5))
    assert 0.79 <= _tost_rejection_rate(n, mean, 1.0, 0.5) < 0.83  # MC standard error 0.003
    assert _tost_rejection_rate(n - 2, mean, 1.0, 0.5) < 0.8


def test_seeds_for_equivalence_tends_to_normal_formulas():
    z_a, sd, margin = sps.norm.ppf(0.95), 1.0, 0.5
    centred = ((z_a + sps.norm.ppf(0.9)) * sd / margin) ** 2  # z_{1 - beta/2}: 34.3
    assert centred < stats.seeds_for_equivalence(0.0, sd, margin) <= centred + 3
    off = ((z_a + sps.norm.ppf(0.8)) * sd / (margin - 0.4)) ** 2  # z_{1 - beta}: 618.3
    assert off < stats.seeds_for_equivalence(0.4, sd, margin) <= off + 3


def test_seeds_for_equivalence_degenerate():
    assert stats.seeds_for_equivalence(0.5, 1.0, 0.5) == INF
    assert stats.seeds_for_equivalence(-0.7, 1.0, 0.5) == INF
    assert stats.seeds_for_equivalence(0.2, 0.0, 0.5) == 2
    assert stats.seeds_for_equivalence(0.0, 1.0, 100.0) == 2
    assert math.isnan(stats.seeds_for_equivalence(math.nan, 1.0, 0.5))
