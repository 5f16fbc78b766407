"""How much runs differ: seed-to-seed spread of two conditions, paired divergence counts, and
the split of variance between dataset draws and seeds. Statistics via scipy and statsmodels.

Array arguments are 1-D float arrays of shape (n_seeds,); paired functions take two arrays of
the same shape whose i-th entries come from the same seed. Bootstraps are deterministic
(``seed`` feeds ``np.random.default_rng``).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats


def _pair(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape or a.size < 3:
        raise ValueError(f"need two paired 1-D arrays of >= 3 values, got {a.shape}, {b.shape}")
    return a, b


def describe(x: ArrayLike) -> dict[str, float]:
    """Spread of one condition's values x (n,): n, std (ddof=1), iqr (75th - 25th percentile,
    linear interpolation), worst (the minimum), range (max - min)."""
    x = np.asarray(x, dtype=float)
    q1, q3 = np.percentile(x, [25, 75])
    return {
        "n": int(x.size),
        "std": float(x.std(ddof=1)) if x.size > 1 else 0.0,
        "iqr": float(q3 - q1),
        "worst": float(x.min()),
        "range": float(x.max() - x.min()),
    }


def _log_std_ratio(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.std(a, axis=axis, ddof=1)) - np.log(np.std(b, axis=axis, ddof=1))


def std_ratio(
    a: ArrayLike, b: ArrayLike, confidence: float = 0.95, n_resamples: int = 9999, seed: int = 0
) -> tuple[float, float, float]:
    """std(a) / std(b) over paired a, b (n,) and its bootstrap CI (seeds resampled in pairs;
    BCa on the log ratio, percentile where BCa comes out nan). (ratio, low, high); inf or nan
    where b has no spread."""
    a, b = _pair(a, b)
    est = float(np.exp(_log_std_ratio(a, b)))
    if not math.isfinite(est) or est == 0.0:
        return est, math.nan, math.nan

    def run(method: str) -> tuple[float, float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (RuntimeWarning, stats.DegenerateDataWarning))
            res = stats.bootstrap(
                (a, b),
                _log_std_ratio,
                paired=True,
                vectorized=True,
                n_resamples=n_resamples,
                confidence_level=confidence,
                method=method,
                rng=np.random.default_rng(seed),
            )
        return float(res.confidence_interval.low), float(res.confidence_interval.high)

    lo, hi = run("BCa")
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = run("percentile")
    return est, float(np.exp(lo)), float(np.exp(hi))


def pitman_morgan(a: ArrayLike, b: ArrayLike) -> float:
    """Two-sided p of the Pitman-Morgan test of var(a) = var(b) for paired a, b (n,): the
    Pearson correlation of a + b with a - b is zero exactly when the variances are equal."""
    a, b = _pair(a, b)
    s, d = a + b, a - b
    if np.all(s == s[0]) or np.all(d == d[0]):
        return math.nan
    return float(stats.pearsonr(s, d).pvalue)


def brown_forsythe(a: ArrayLike, b: ArrayLike) -> float:
    """p of the Brown-Forsythe test (Levene's test about the medians, scipy) of equal spread;
    it treats a and b as independent samples (ignores the pairing)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(stats.levene(a, b, center="median").pvalue)
    return p


def mcnemar(a_events: ArrayLike, b_events: ArrayLike) -> dict[str, float]:
    """Exact McNemar test of paired binary outcomes a_events, b_events (n,) (e.g. diverged):
    n, a (events of A), b (events of B), a_only, b_only (the discordant pairs), p (two-sided
    exact binomial test of a_only against b_only; 1 without discordant pairs)."""
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    x, y = np.asarray(a_events, dtype=bool), np.asarray(b_events, dtype=bool)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired 1-D arrays expected, got {x.shape}, {y.shape}")
    a_only, b_only = int(np.sum(x & ~y)), int(np.sum(~x & y))
    both, neither = int(np.sum(x & y)), int(np.sum(~x & ~y))
    p = 1.0
    if a_only + b_only:
        p = float(sm_mcnemar([[both, a_only], [b_only, neither]], exact=True).pvalue)
    return {
        "n": int(x.size),
        "a": int(x.sum()),
        "b": int(y.sum()),
        "a_only": a_only,
        "b_only": b_only,
        "p": p,
    }


def pairs_for_mcnemar(
    a_only: int, b_only: int, n: int, confidence: float = 0.95, power: float = 0.8
) -> float:
    """Paired units for McNemar's test at alpha = 1 - confidence to detect the observed
    difference of discordant proportions (Connor 1987, normal approximation):
    N = (z_{1-alpha/2} sqrt(psi) + z_{power} sqrt(psi - delta^2))^2 / delta^2 with
    psi = (a_only + b_only) / n and delta = (a_only - b_only) / n, rounded up; inf when
    a_only == b_only."""
    if a_only == b_only or n <= 0:
        return math.inf
    psi, delta = (a_only + b_only) / n, (a_only - b_only) / n
    za, zb = stats.norm.ppf(1 - (1 - confidence) / 2), stats.norm.ppf(power)
    return float(math.ceil((za * math.sqrt(psi) + zb * math.sqrt(psi - delta**2)) ** 2 / delta**2))


def variance_components(frame: pd.DataFrame, value: str = "y") -> dict[str, float]:
    """Variance of ``value`` between and within the draws of ``frame`` (columns draw, seed,
    ``value``; one row per run).

    One-way random-effects ANOVA (method of moments): within = MS_within, between =
    max(0, (MS_between - MS_within) / n0) with n0 = (N - sum n_i^2 / N) / (k - 1) (n0 = n per
    draw when balanced), share_draw = between / (between + within), and the F test p of no
    draw effect. When every draw has every seed, also the crossed two-way decomposition
    draw + seed (statsmodels OLS, anova_lm): var_draw = max(0, (MS_draw - MS_resid) / seeds),
    var_seed = max(0, (MS_seed - MS_resid) / draws), var_resid = MS_resid; seed is the
    part of a seed's effect (initial weights, batch order) shared by every draw. Keys:
    n_draws, n_runs, mean, var_between, var_within, share_draw, p_draw, and var_draw,
    var_seed, var_resid (nan unless complete).
    """
    df = frame[["draw", "seed", value]].dropna()
    groups = [g[value].to_numpy(float) for _, g in df.groupby("draw", sort=False)]
    k, n_runs = len(groups), len(df)
    out = dict.fromkeys(("var_draw", "var_seed", "var_resid"), math.nan)
    out |= {"n_draws": k, "n_runs": n_runs, "mean": float(df[value].mean())}
    if k < 2 or n_runs <= k:
        return out | dict.fromkeys(("var_between", "var_within", "share_draw", "p_draw"), math.nan)
    grand = df[value].mean()
    ss_b = sum(len(g) * (g.mean() - grand) ** 2 for g in groups)
    ss_w = sum(((g - g.mean()) ** 2).sum() for g in groups)
    ms_b, ms_w = ss_b / (k - 1), ss_w / (n_runs - k)
    n0 = (n_runs - sum(len(g) ** 2 for g in groups) / n_runs) / (k - 1)
    between = max(0.0, (ms_b - ms_w) / n0)
    total = between + ms_w
    out |= {
        "var_between": float(between),
        "var_within": float(ms_w),
        "share_draw": float(between / total) if total > 0 else math.nan,
        "p_draw": float(stats.f.sf(ms_b / ms_w, k - 1, n_runs - k)) if ms_w > 0 else math.nan,
    }
    seeds = df["seed"].nunique()
    if seeds >= 2 and n_runs == k * seeds and not df.duplicated(["draw", "seed"]).any():
        out |= _two_way(df, value, k, seeds)
    return out


def _two_way(df: pd.DataFrame, value: str, draws: int, seeds: int) -> dict[str, float]:
    from statsmodels.formula.api import ols
    from statsmodels.stats.anova import anova_lm

    data = pd.DataFrame(
        {"y": df[value].to_numpy(float), "draw": df["draw"].astype(str), "seed": df["seed"]}
    )
    table = anova_lm(ols("y ~ C(draw) + C(seed)", data).fit(), typ=1)
    ms = table["sum_sq"] / table["df"]
    resid = float(ms["Residual"])
    return {
        "var_draw": max(0.0, float(ms["C(draw)"] - resid) / seeds),
        "var_seed": max(0.0, float(ms["C(seed)"] - resid) / draws),
        "var_resid": resid,
    }
