"""Spread between seeds, paired divergence counts and variance components (bnstudy.spread)
on hand-made inputs with hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bnstudy import spread


def test_describe():
    d = spread.describe([0.80, 0.84, 0.82, 0.86, 0.78])
    assert d["n"] == 5
    assert d["std"] == pytest.approx(math.sqrt(0.004 / 4))  # squares: 4+4+0+16+16 (1e-4)
    assert d["iqr"] == pytest.approx(0.84 - 0.80)
    assert (d["worst"], d["range"]) == (0.78, pytest.approx(0.08))


def test_std_ratio_of_a_scaled_copy_is_exact():
    b = np.array([0.1, 0.4, 0.2, 0.8, 0.5, 0.3])
    est, lo, hi = spread.std_ratio(2 * b + 1, b, n_resamples=200)
    # Every resample of the pairs has std(2b + 1) = 2 std(b).
    assert (est, lo, hi) == pytest.approx((2.0, 2.0, 2.0))


def test_std_ratio_ci_covers_the_truth_and_a_spreadless_b_is_not_estimable():
    rng = np.random.default_rng(1)
    b = rng.normal(0, 1, 200)
    a = 0.5 * rng.normal(0, 1, 200)
    est, lo, hi = spread.std_ratio(a, b, n_resamples=500)
    assert lo < 0.5 < hi and hi < 1
    assert est == pytest.approx(np.std(a, ddof=1) / np.std(b, ddof=1))
    est, lo, hi = spread.std_ratio([1.0, 2.0, 3.0], [1.0, 1.0, 1.0])
    assert math.isinf(est) and math.isnan(lo) and math.isnan(hi)


def test_pitman_morgan():
    # a + b = [3, 3, 7, 7] and a - b = [-1, 1, -1, 1] are uncorrelated: equal variances.
    assert spread.pitman_morgan([1, 2, 3, 4], [2, 1, 4, 3]) == pytest.approx(1.0)
    # a = 2b: a + b = 3b, a - b = b, correlation 1.
    assert spread.pitman_morgan([2, 4, 6, 10], [1, 2, 3, 5]) == pytest.approx(0.0, abs=1e-12)


def test_brown_forsythe_by_hand():
    # |x - median|: [1, 0, 1] and [2, 0, 2]; one-way ANOVA of those: F = (2/3) / (10/12).
    assert spread.brown_forsythe([1, 2, 3], [1, 3, 5]) == pytest.approx(stats.f.sf(0.8, 1, 4))


def test_mcnemar_counts_discordant_pairs():
    a = [0] * 6 + [1, 1] + [0, 0]
    b = [1] * 6 + [1, 1] + [0, 0]
    res = spread.mcnemar(a, b)
    assert res == {"n": 10, "a": 2, "b": 8, "a_only": 0, "b_only": 6, "p": 2 * 0.5**6}
    assert spread.mcnemar([1, 0], [1, 0])["p"] == 1.0  # no discordant pair
    with pytest.raises(ValueError):
        spread.mcnemar([1, 0], [1, 0, 1])


def test_pairs_for_mcnemar():
    # psi = 0.12, delta = -0.08: (1.95996 sqrt(0.12) + 0.84162 sqrt(0.1136))^2 / 0.0064 = 144.8
    assert spread.pairs_for_mcnemar(2, 10, 100) == 145.0
    assert spread.pairs_for_mcnemar(10, 2, 100) == 145.0
    assert math.isinf(spread.pairs_for_mcnemar(3, 3, 100))


def _frame(values: list[list[float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"draw": f"draw={d}", "seed": s, "y": v}
            for d, row in enumerate(values)
            for s, v in enumerate(row)
        ]
    )


def test_variance_components_by_hand():
    # Draw means 2 and 5 (grand 3.5): SS_between 13.5 (1 df), SS_within 2 + 2 (4 df): MSW 1,
    # between (13.5 - 1) / 3. Seed means 2.5, 4, 4: SS_seed 3 (2 df), residual 17.5 - 13.5 - 3
    # = 1 (2 df): var_draw (13.5 - 0.5) / 3, var_seed (1.5 - 0.5) / 2, var_resid 0.5.
    v = spread.variance_components(_frame([[1, 2, 3], [4, 6, 5]]))
    assert (v["n_draws"], v["n_runs"], v["mean"]) == (2, 6, 3.5)
    assert v["var_within"] == pytest.approx(1.0)
    assert v["var_between"] == pytest.approx(12.5 / 3)
    assert v["share_draw"] == pytest.approx((12.5 / 3) / (12.5 / 3 + 1))
    assert v["p_draw"] == pytest.approx(stats.f.sf(13.5, 1, 4))
    assert v["var_draw"] == pytest.approx(13 / 3)
    assert v["var_seed"] == pytest.approx(0.5)
    assert v["var_resid"] == pytest.approx(0.5)


def test_variance_components_truncate_and_skip_the_two_way_when_incomplete():
    # Identical draw means: no between-draw variance (truncated at 0, not negative).
    v = spread.variance_components(_frame([[1, 3], [3, 1], [2, 2]]))
    assert v["var_between"] == 0.0 and v["share_draw"] == 0.0
    # A missing run (a diverged seed) leaves the one-way estimate (n0 = (5 - 13/5) / 1 = 2.4).
    f = _frame([[1, 2, 3], [4, 6, 5]]).iloc[:-1]
    v = spread.variance_components(f)
    assert math.isnan(v["var_draw"]) and math.isnan(v["var_resid"])
    ms_b = 3 * (2 - 3.2) ** 2 + 2 * (5 - 3.2) ** 2  # 1 df
    assert v["var_between"] == pytest.approx((ms_b - 4 / 3) / 2.4)
