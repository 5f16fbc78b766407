"""Statistics for paired multi-seed comparisons, all delegated to scipy / statsmodels.

Every array argument is a 1-D float array of shape (n_seeds,); paired functions take two arrays
of the same shape whose i-th entries come from the same seed. Bootstrap results are
deterministic: ``seed`` feeds ``np.random.default_rng`` passed as ``rng=`` to
``scipy.stats.bootstrap``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import DescrStatsW, ttost_paired


def _as_1d(x: ArrayLike) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"expected a non-empty 1-D array, got shape {arr.shape}")
    return arr


def _ci(res: Any) -> tuple[float, float]:
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def bootstrap_ci(
    x: ArrayLike,
    statistic: Callable[..., Any] = np.mean,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    seed: int = 0,
    method: str = "BCa",
) -> tuple[float, float]:
    """Bootstrap CI of ``statistic`` over x (n,); ``statistic(sample, axis=-1)`` must work.

    Zero spread gives (v, v); values with inf switch to the percentile method; a BCa interval
    that comes out nan (near-degenerate data) is recomputed with the percentile method.
    """
    x = _as_1d(x)
    if np.all(x == x[0]):
        v = float(statistic(x))
        return v, v
    if np.isinf(x).any():
        method = "percentile"

    def run(m: str) -> tuple[float, float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (RuntimeWarning, stats.DegenerateDataWarning))
            return _ci(
                stats.bootstrap(
                    (x,),
                    statistic,
                    n_resamples=n_resamples,
                    confidence_level=confidence,
                    method=m,
                    rng=np.random.default_rng(seed),
                )
            )

    lo, hi = run(method)
    if method.lower() == "bca" and (math.isnan(lo) or math.isnan(hi)):
        lo, hi = run("percentile")
    return lo, hi


def bootstrap_ci_columns(
    x: ArrayLike, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile-bootstrap CI of the mean of every column of x (n_seeds, n_cols).

    Returns (low, high), each (n_cols,). Used for learning-curve bands (one column per epoch).
    Every column is resampled with the same draws, those of ``scipy.stats.bootstrap`` with
    ``rng=np.random.default_rng(seed)``, and the same linear quantiles; the resampled means
    are one matrix product, x transposed times the (n_seeds, n_resamples) draw counts, instead
    of scipy's gather of n_resamples x n_seeds x n_cols values (measured with 9,999 resamples,
    30 seeds, 100 epochs: about 3 times faster, bounds equal to 1e-15).
    Columns with zero spread get (v, v).
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"expected a non-empty 2-D array, got shape {x.shape}")
    if x.shape[0] == 1:
        return x[0].copy(), x[0].copy()
    n = x.shape[0]
    draws = np.random.default_rng(seed).integers(0, n, (n_resamples, n))
    cells = np.repeat(np.arange(n_resamples) * n, n) + draws.ravel()
    counts = np.bincount(cells, minlength=n_resamples * n).reshape(n_resamples, n)
    means = x.T @ counts.T / n  # (n_cols, n_resamples)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha], axis=1)
    flat = np.all(x == x[0], axis=0)
    return np.where(flat, x[0], lo), np.where(flat, x[0], hi)


def iqm(x: ArrayLike) -> float:
    """Interquartile mean of x (n,): mean of the middle 50% (scipy trim_mean, 25% each side)."""
    return float(stats.trim_mean(_as_1d(x), 0.25))


def noise_floor(accuracy: float, n: int) -> float:
    """Binomial standard error sqrt(p(1-p)/n) of an accuracy measured on n test examples."""
    return math.sqrt(accuracy * (1.0 - accuracy) / n)


def censored_median(epochs: ArrayLike) -> float:
    """Median of epochs-to-threshold (n,), where np.inf marks a seed that never got there."""
    return float(np.median(_as_1d(epochs)))


def censored_median_ci(
    epochs: ArrayLike, confidence: float = 0.95, n_resamples: int = 9999, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap CI of the censored median of epochs (n,); bounds may be inf.

    inf is replaced by a finite sentinel above every finite value before resampling; any bound
    above the largest finite value involves a censored seed and is mapped back to inf.
    """
    e = _as_1d(epochs)
    finite = e[np.isfinite(e)]
    if finite.size == 0:
        return math.inf, math.inf
    top = float(finite.max())
    sentinel = 10.0 * abs(top) + 1e9
    lo, hi = bootstrap_ci(
        np.where(np.isinf(e), sentinel, e),
        np.median,
        confidence,
        n_resamples,
        seed,
        method="percentile",
    )
    return tuple(math.inf if v > top else v for v in (lo, hi))  # type: ignore[return-value]


def _prob_improvement(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mann-Whitney U / (n m) along ``axis``, counted over all pairs: the same numbers as
    ``scipy.stats.mannwhitneyu(a, b).statistic / (n m)`` (U is a multiple of 0.5, exact either
    way) without ranking every bootstrap resample (measured: a 9,999-resample CI over 30 seeds
    about twice as fast, bounds identical)."""
    a, b = np.moveaxis(a, axis, -1), np.moveaxis(b, axis, -1)
    pairs = a[..., :, None], b[..., None, :]
    u = np.greater(*pairs).sum(axis=(-2, -1)) + 0.5 * np.equal(*pairs).sum(axis=(-2, -1))
    return u / (a.shape[-1] * b.shape[-1])


def prob_improvement(a: ArrayLike, b: ArrayLike) -> float:
    """P(A > B) + 0.5 P(A = B) over all pairs of a (n,) and b (m,): Mann-Whitney U / (n m)."""
    return float(_prob_improvement(_as_1d(a), _as_1d(b)))


def prob_improvement_ci(
    a: ArrayLike, b: ArrayLike, confidence: float = 0.95, n_resamples: int = 9999, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap CI of prob_improvement, resampling shared seeds (paired, (n,) each)."""
    a, b = _as_1d(a), _as_1d(b)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in shape: {a.shape} vs {b.shape}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _ci(
            stats.bootstrap(
                (a, b),
                _prob_improvement,
                paired=True,
                vectorized=True,
                n_resamples=n_resamples,
                confidence_level=confidence,
                method="percentile",
                rng=np.random.default_rng(seed),
            )
        )


def hedges_g_paired(a: ArrayLike, b: ArrayLike) -> float:
    """Paired effect size on a, b (n,): d_z = mean(a-b)/std(a-b, ddof=1) times J.

    J = 1 - 3/(4(n-1) - 1) is the usual small-sample correction (note J = 0 at n = 2).
    Zero spread gives nan (zero mean difference) or +-inf.
    """
    d = _as_1d(a) - _as_1d(b)
    if d.size < 2:
        return math.nan
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd == 0.0:
        return math.nan if mean == 0.0 else math.copysign(math.inf, mean)
    return mean / sd * (1.0 - 3.0 / (4.0 * (d.size - 1) - 1.0))


def paired_test(
    a: ArrayLike, b: ArrayLike, confidence: float = 0.95, n_resamples: int = 9999, seed: int = 0
) -> dict[str, float]:
    """Compare paired finite samples a, b (n,) (a censored epoch count should be epochs + 1).

    Keys: n, mean_diff (of a-b), diff_ci_low/high (BCa), t_p (ttest_rel), wilcoxon_p (zeros
    dropped), p_improve with p_improve_low/high, hedges_g. p-values are nan when a == b.
    """
    a, b = _as_1d(a), _as_1d(b)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in shape: {a.shape} vs {b.shape}")
    d = a - b
    lo, hi = bootstrap_ci(d, np.mean, confidence, n_resamples, seed)
    t_p = w_p = math.nan
    if np.any(d != 0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            t_p = float(stats.ttest_rel(a, b).pvalue)
            w_p = float(stats.wilcoxon(a, b, zero_method="wilcox").pvalue)
    pi_lo, pi_hi = prob_improvement_ci(a, b, confidence, n_resamples, seed)
    return {
        "n": a.size,
        "mean_diff": float(d.mean()),
        "diff_ci_low": lo,
        "diff_ci_high": hi,
        "t_p": t_p,
        "wilcoxon_p": w_p,
        "p_improve": prob_improvement(a, b),
        "p_improve_low": pi_lo,
        "p_improve_high": pi_hi,
        "hedges_g": hedges_g_paired(a, b),
    }


def holm(pvalues: ArrayLike) -> np.ndarray:
    """Holm-adjusted p-values (k,) via statsmodels; nan entries stay nan and are not counted."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out


# --- proportions, equivalence, time to threshold, sample size -----------------------------------

#: Tolerance for "S(t) <= 0.5": a Kaplan-Meier product that is 0.5 in exact arithmetic may come
#: out a few ulps above it in floating point.
_HALF = 0.5 + 1e-12


def wilson_ci(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of the proportion k/n (statsmodels proportion_confint); n = 0: nan."""
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return math.nan, math.nan
    lo, hi = proportion_confint(k, n, alpha=1.0 - confidence, method="wilson")
    return float(lo), float(hi)


def _tconfint(d: np.ndarray, confidence: float) -> tuple[float, float]:
    """Two-sided t-interval of the mean of d (n,); (m, m) when d has zero spread."""
    if np.all(d == d[0]):
        return float(d[0]), float(d[0])
    lo, hi = DescrStatsW(d).tconfint_mean(alpha=1.0 - confidence)
    return float(lo), float(hi)


def tost_paired(
    a: ArrayLike, b: ArrayLike, margin: float, confidence: float = 0.95
) -> dict[str, float]:
    """Equivalence test (TOST) of paired a, b (n,), n >= 2: is |mean(a - b)| < margin?

    statsmodels ttost_paired(a, b, -margin, margin). Keys: p (the larger one-sided p), mean_diff,
    ci_low/ci_high (the (1 - 2 alpha) t-interval of the mean difference, alpha = 1 - confidence:
    p < alpha exactly when it lies inside (-margin, margin)), margin. Zero spread: p = 0 if
    |mean| < margin else 1, and the interval is (mean, mean).
    """
    a, b = _as_1d(a), _as_1d(b)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in shape: {a.shape} vs {b.shape}")
    if a.size < 2 or not margin > 0:
        raise ValueError(f"need n >= 2 pairs and margin > 0, got n={a.size}, margin={margin}")
    d = a - b
    mean = float(d.mean())
    if np.all(d == d[0]):
        p = 0.0 if abs(mean) < margin else 1.0
    else:
        p = float(ttost_paired(a, b, -margin, margin)[0])
    lo, hi = _tconfint(d, 1.0 - 2.0 * (1.0 - confidence))
    return {"p": p, "mean_diff": mean, "ci_low": lo, "ci_high": hi, "margin": float(margin)}


def _km(epochs: ArrayLike, horizon: int) -> tuple[Any, int]:
    e = _as_1d(epochs)
    reached = np.isfinite(e)
    if np.any(e[reached] > horizon) or np.any(e[reached] < 0):
        raise ValueError(f"finite epochs must lie in [0, horizon={horizon}], got {e[reached]}")
    data = stats.CensoredData(uncensored=e[reached], right=np.full((~reached).sum(), horizon))
    return stats.ecdf(data), int(reached.sum())


def _first_at_or_below_half(t: np.ndarray, s: np.ndarray) -> float:
    idx = np.flatnonzero(s <= _HALF)
    return float(t[idx[0]]) if idx.size else math.inf


def km_summary(epochs: ArrayLike, horizon: int, confidence: float = 0.95) -> dict[str, float]:
    """Kaplan-Meier summary of epochs-to-threshold (n,): inf/nan = not reached by ``horizon``.

    Runs that never reached are right-censored at ``horizon`` (scipy ecdf on CensoredData).
    Keys: median (smallest t with S(t) <= 0.5, inf if S never gets there; unlike
    censored_median, no midpoint: [1, 2, 3, inf] gives 2), median_ci_low/median_ci_high,
    rmst, n_reached, n_censored.

    The median CI inverts the pointwise log-log band of S (as R's survfit does): it is the set
    of t whose band contains 0.5, i.e. from the first t where the band's lower curve is <= 0.5
    to the first t where its upper curve is <= 0.5 (inf where a curve never gets there).
    rmst is the area under S from 0 to horizon (restricted mean epochs to threshold); with
    censoring only at horizon it equals mean(restricted_times(epochs, horizon)).
    """
    res, n_reached = _km(epochs, horizon)
    t, s = res.sf.quantiles, res.sf.probabilities
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # log-log band undefined at S = 0, 1
        band = res.sf.confidence_interval(confidence_level=confidence, method="log-log")
    lo, hi = (np.where(np.isnan(c.probabilities), s, c.probabilities) for c in band)
    knots = np.concatenate([[0.0], t[t < horizon], [float(horizon)]])
    rmst = float(np.sum(res.sf.evaluate(knots[:-1]) * np.diff(knots)))
    return {
        "median": _first_at_or_below_half(t, s),
        "median_ci_low": _first_at_or_below_half(band.low.quantiles, lo),
        "median_ci_high": _first_at_or_below_half(band.high.quantiles, hi),
        "rmst": rmst,
        "n_reached": n_reached,
        "n_censored": _as_1d(epochs).size - n_reached,
    }


def km_curve(epochs: ArrayLike, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier fraction reached, 1 - S(t), at t = 1..horizon: two arrays (horizon,).

    A right-continuous step function; with censoring only at horizon it is the fraction of runs
    that reached the threshold by epoch t.
    """
    res, _ = _km(epochs, horizon)
    axis = np.arange(1, horizon + 1, dtype=float)
    return axis, 1.0 - np.asarray(res.sf.evaluate(axis), dtype=float)


def restricted_times(epochs: ArrayLike, horizon: int) -> np.ndarray:
    """min(T, horizon) for epochs (n,), never reached (inf/nan) = horizon: input to paired RMST."""
    e = _as_1d(epochs)
    return np.where(np.isfinite(e), np.minimum(e, horizon), float(horizon))


def _smallest_n(power_at: Callable[[int], float], start: float, power: float) -> float:
    """Smallest integer n >= 2 with power_at(n) >= power (power_at increasing in n).

    Doubles from ``start`` until the power is reached, then bisects; inf past 2**62.
    """
    lo, hi = 1, max(2, math.ceil(start))  # lo: known too small (n = 1 is never evaluated)
    while power_at(hi) < power:
        lo, hi = hi, 2 * hi
        if hi > 2**62:
            return math.inf
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if power_at(mid) >= power else (mid, hi)
    return float(hi)


def seeds_for_power(
    diff_mean: float, diff_sd: float, confidence: float = 0.95, power: float = 0.8
) -> float:
    """Paired seeds for a two-sided paired t-test at alpha = 1 - confidence to detect diff_mean.

    statsmodels TTestPower().solve_power (effect size |diff_mean| / diff_sd), rounded up: the
    smallest integer n >= 2 whose power is >= ``power``. Checked by bisection on TTestPower's
    power formula, nct.sf(t_c, n-1, es sqrt(n)) + nct.cdf(-t_c, n-1, es sqrt(n)), with the
    second term computed as nct.sf(t_c, n-1, -es sqrt(n)) (statsmodels' cdf gives nan once
    es sqrt(n) > ~8, and its solver then stalls). inf when diff_mean = 0; 2 when
    diff_sd = 0 < |diff_mean|; nan for nan input.
    """
    if math.isnan(diff_mean) or math.isnan(diff_sd):
        return math.nan
    if diff_mean == 0.0:
        return math.inf
    if diff_sd == 0.0:
        return 2.0
    es, alpha = abs(diff_mean) / diff_sd, 1.0 - confidence
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: the search below does not need it
        solved = TTestPower().solve_power(effect_size=es, alpha=alpha, power=power)
    z = stats.norm.ppf(1.0 - alpha / 2.0) + stats.norm.ppf(power)
    start = solved if math.isfinite(solved) else (z / es) ** 2

    def power_at(n: int) -> float:
        tc, nc = stats.t.ppf(1.0 - alpha / 2.0, n - 1), es * math.sqrt(n)
        return float(np.sum(stats.nct.sf(tc, n - 1, [nc, -nc])))

    return _smallest_n(power_at, start, power)


def seeds_for_equivalence(
    diff_mean: float, diff_sd: float, margin: float, confidence: float = 0.95, power: float = 0.8
) -> float:
    """Paired seeds for TOST at alpha = 1 - confidence to conclude |mean difference| < margin.

    Assumes the true mean difference and sd are the observed ones. Power is the noncentral-t
    approximation for TOST (Chow, Shao & Wang, Sample Size Calculations in Clinical Research,
    3.2): nct.sf(t_c, n-1, sqrt(n)(margin - |m|)/sd) + nct.sf(t_c, n-1, sqrt(n)(margin + |m|)/sd)
    - 1, t_c = t_{1-alpha, n-1}; it is slightly conservative and tends to the textbook normal
    formulas n = ((z_{1-alpha} + z_{1-beta/2}) sd / margin)^2 at m = 0 and
    ((z_{1-alpha} + z_{1-beta}) sd / (margin - |m|))^2 for |m| well away from 0, without a switch
    between them. Returns the smallest such integer n >= 2; inf when |m| >= margin; 2 when sd = 0.
    """
    if math.isnan(diff_mean) or math.isnan(diff_sd):
        return math.nan
    m, alpha = abs(diff_mean), 1.0 - confidence
    if m >= margin:
        return math.inf
    if diff_sd == 0.0:
        return 2.0
    z = stats.norm.ppf(1.0 - alpha) + stats.norm.ppf(1.0 - (1.0 - power) / 2.0)
    start = (z * diff_sd / (margin - m)) ** 2  # the normal formula at m = 0: a starting point

    def power_at(n: int) -> float:
        tc = stats.t.ppf(1.0 - alpha, n - 1)
        nc = math.sqrt(n) / diff_sd
        sf = stats.nct.sf(tc, n - 1, [nc * (margin - m), nc * (margin + m)])
        return float(sf[0] + sf[1] - 1.0)

    return _smallest_n(power_at, start, power)
