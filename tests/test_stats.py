"""Unit tests for bnstudy.stats on small, hand-checkable arrays."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats as sps

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
