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
    """Percentile-bootstrap CI of the mean of every column of x (n_seeds, n_cols) in one call.

    Returns (low, high), each (n_cols,). Used for learning-curve bands (one column per epoch).
    Columns with zero spread get (v, v).
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"expected a non-empty 2-D array, got shape {x.shape}")
    if x.shape[0] == 1:
        return x[0].copy(), x[0].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (RuntimeWarning, stats.DegenerateDataWarning))
        res = stats.bootstrap(
            (x,),
            np.mean,
            axis=0,
            n_resamples=n_resamples,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    lo, hi = res.confidence_interval
    flat = np.all(x == x[0], axis=0)
    lo = np.where(flat, x[0], lo)
    hi = np.where(flat, x[0], hi)
    return np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)


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
    u = stats.mannwhitneyu(a, b, axis=axis, method="asymptotic").statistic
    return u / (a.shape[axis] * b.shape[axis])


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
