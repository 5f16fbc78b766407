"""Verdict rules, written once: is a claim about the data supported, contradicted or not resolved?

Every rule returns a :class:`Verdict` with the deciding numbers and a one-sentence ``evidence``
that states them, and, when not resolved, how many seeds would resolve the claim. Numbers are
printed with 4 decimals when ``unit`` is "" (accuracies and their differences) and with 1 decimal
followed by the unit otherwise (e.g. unit="epochs"). ``confidence`` is the level of every CI and
alpha = 1 - confidence the level of every test; the sentence prints the level it was given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike

from bnstudy import stats

SUPPORTED, CONTRADICTED, NOT_RESOLVED = "supported", "contradicted", "not resolved"
#: Power at which ``seeds_needed`` would resolve a claim.
POWER = 0.8


@dataclass(frozen=True)
class Verdict:
    verdict: str  # one of SUPPORTED, CONTRADICTED, NOT_RESOLVED
    estimate: float  # the number the claim is about (mean paired difference, median, ...)
    ci_low: float
    ci_high: float
    p: float  # the deciding p-value (nan where the rule is CI-based)
    seeds_needed: float  # nan unless not resolved; inf when no number of seeds would do
    evidence: str  # one sentence with the deciding numbers

    def __post_init__(self) -> None:
        if self.verdict not in (SUPPORTED, CONTRADICTED, NOT_RESOLVED):
            raise ValueError(f"unknown verdict {self.verdict!r}")
        for name in ("estimate", "ci_low", "ci_high", "p", "seeds_needed"):
            object.__setattr__(self, name, float(getattr(self, name)))


def _alpha(confidence: float) -> float:
    return round(1.0 - confidence, 12)  # 1 - 0.95 is 0.050000000000000044: p = 0.05 must fail


def _pct(confidence: float) -> str:
    return f"{round(100.0 * confidence, 6):g}%"


def _num(x: float, unit: str = "") -> str:
    return f"{x:.1f}" if unit else f"{x:.4f}"


def _ci(lo: float, hi: float, confidence: float, unit: str) -> str:
    return f"{_pct(confidence)} CI [{_num(lo, unit)}, {_num(hi, unit)}]"


def _est(x: float, unit: str) -> str:
    return f"{_num(x, unit)} {unit}" if unit else _num(x)


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3g}"


def _seeds(n: float, how: str) -> str:
    if math.isnan(n):
        return "; the number of seeds that would resolve it cannot be estimated"
    if math.isinf(n):
        return "; no number of seeds would resolve it"
    count = f"{n:.0f}" if n < 1e5 else f"{n:.2g}"
    return f"; about {count} seeds would resolve it {how}"


def superiority(
    diff_mean: float,
    diff_sd: float,
    n: int,
    ci_low: float,
    ci_high: float,
    p_adjusted: float,
    direction: str,
    confidence: float = 0.95,
    unit: str = "",
) -> Verdict:
    """Claim "A - B > 0" (direction="greater") or "A - B < 0" ("less") over n paired seeds.

    Decided by the caller's Holm-adjusted paired t-test p (the CI is only reported): supported
    if p_adjusted < alpha and diff_mean has the claimed sign, contradicted if p_adjusted < alpha
    and the opposite sign, else not resolved with seeds_for_power(diff_mean, diff_sd), at least
    n + 1 (it ignores the Holm adjustment, so in a family it is a lower bound). p_adjusted nan
    (identical samples): not resolved, seeds_needed inf.
    """
    if direction not in ("greater", "less"):
        raise ValueError(f"direction must be 'greater' or 'less', got {direction!r}")
    text = (
        f"paired difference {_est(diff_mean, unit)} over {n} seeds "
        f"({_ci(ci_low, ci_high, confidence, unit)}), Holm-adjusted t-test "
    )
    if math.isnan(p_adjusted):
        text += "p undefined (the paired samples are identical)"
        return Verdict(NOT_RESOLVED, diff_mean, ci_low, ci_high, p_adjusted, math.inf, text)
    text += _p(p_adjusted)
    if p_adjusted < _alpha(confidence) and diff_mean != 0.0:
        agrees = (diff_mean > 0.0) == (direction == "greater")
        verdict = SUPPORTED if agrees else CONTRADICTED
        return Verdict(verdict, diff_mean, ci_low, ci_high, p_adjusted, math.nan, text)
    seeds = max(n + 1.0, stats.seeds_for_power(diff_mean, diff_sd, confidence, POWER))
    text += _seeds(seeds, f"at {POWER:.0%} power")
    return Verdict(NOT_RESOLVED, diff_mean, ci_low, ci_high, p_adjusted, seeds, text)


def equivalence(
    a: ArrayLike, b: ArrayLike, margin: float, confidence: float = 0.95, unit: str = ""
) -> Verdict:
    """Claim "A and B are comparable within +-margin" on paired a, b (n,), n >= 2.

    Supported if the TOST p < alpha (its CI, the (1 - 2 alpha) one, is reported); contradicted
    if the (1 - alpha) CI of the mean difference lies entirely outside [-margin, margin] (that
    CI is reported); otherwise not resolved, with the TOST CI and seeds_for_equivalence, or,
    when |mean| >= margin, seeds_for_power(|mean| - margin, sd): the seeds at which the
    (1 - alpha) CI would clear the margin (inf when |mean| == margin).
    """
    tost = stats.tost_paired(a, b, margin, confidence)
    alpha, mean, p = _alpha(confidence), tost["mean_diff"], tost["p"]
    level, lo, hi = 1.0 - 2.0 * alpha, tost["ci_low"], tost["ci_high"]
    seeds, verdict = math.nan, SUPPORTED
    if p >= alpha:
        wide = stats.tost_paired(a, b, margin, 1.0 - alpha / 2.0)  # its CI is the (1 - alpha) one
        if wide["ci_low"] > margin or wide["ci_high"] < -margin:
            verdict, level, lo, hi = CONTRADICTED, confidence, wide["ci_low"], wide["ci_high"]
        else:
            verdict = NOT_RESOLVED
            d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
            sd = float(d.std(ddof=1))
            if abs(mean) < margin:
                seeds = stats.seeds_for_equivalence(mean, sd, margin, confidence)
            else:  # only a contradiction can resolve it: a t-test of mean = +-margin
                seeds = stats.seeds_for_power(abs(mean) - margin, sd, confidence)
    where = "outside" if verdict == CONTRADICTED else "against"
    text = (
        f"paired difference {_est(mean, unit)} ({_ci(lo, hi, level, unit)}) {where} the "
        f"±{_num(margin, unit)} margin, TOST {_p(p)}"
    )
    if verdict == NOT_RESOLVED:
        text += _seeds(seeds, f"at {POWER:.0%} power")
    return Verdict(verdict, mean, lo, hi, p, seeds, text)


def _interval_seeds(
    estimate: float, ci_low: float, ci_high: float, low: float, high: float, n: int, spread: float
) -> float:
    if estimate > high or estimate < low:
        bounds = [high if estimate > high else low]  # resolving it means contradicting it
    else:
        bounds = [x for x in (low, high) if math.isfinite(x)]
    needed = []
    for bound in bounds:
        gap = abs(estimate - bound)
        if gap == 0.0:
            return math.inf
        sides = (ci_high - estimate, estimate - ci_low)
        facing, other = sides if bound > estimate else sides[::-1]
        width = spread if not math.isnan(spread) else facing if math.isfinite(facing) else other
        if not math.isfinite(width / gap):
            return math.nan
        needed.append(n * (width / gap) ** 2)
    return float(max(n + 1, math.floor(max(needed)) + 1)) if needed else math.nan


def interval(
    estimate: float,
    ci_low: float,
    ci_high: float,
    low: float,
    high: float,
    what: str,
    confidence: float = 0.95,
    *,
    n: int,
    spread: float = math.nan,
    unit: str = "",
) -> Verdict:
    """Claim "``what`` lies in [low, high]" (-inf / inf for one-sided claims), from n seeds.

    Supported if [ci_low, ci_high] lies inside [low, high]; contradicted if the two do not
    overlap; otherwise not resolved. seeds_needed then scales the CI half-width w as
    1/sqrt(n): the smallest n' > n with w sqrt(n / n') < |estimate - bound| for the bound to
    clear (both finite bounds when the estimate is inside, the one it lies beyond otherwise).
    w is ``spread`` if given, else the CI side facing the bound (the opposite side where that
    one is infinite). inf if the estimate sits on that bound; nan if the estimate or w is
    infinite (cannot be estimated).
    """
    if low == -math.inf:
        claim = f"at most {_num(high, unit)}"
    elif high == math.inf:
        claim = f"at least {_num(low, unit)}"
    else:
        claim = f"in [{_num(low, unit)}, {_num(high, unit)}]"
    text = (
        f"{what} {_est(estimate, unit)} ({_ci(ci_low, ci_high, confidence, unit)}), claimed {claim}"
    )
    seeds = math.nan
    if low <= ci_low and ci_high <= high:
        verdict = SUPPORTED
    elif ci_high < low or ci_low > high:
        verdict = CONTRADICTED
    else:
        verdict = NOT_RESOLVED
        seeds = _interval_seeds(estimate, ci_low, ci_high, low, high, n, spread)
        text += _seeds(seeds, "(CI half-width scaled as 1/sqrt(n))")
    return Verdict(verdict, estimate, ci_low, ci_high, math.nan, seeds, text)


def either(*verdicts: Verdict) -> Verdict:
    """Claim "at least one of these holds" (e.g. equivalence or superiority).

    The first supported verdict; else the first verdict if all are contradicted; else the
    not-resolved one that needs the fewest seeds. Its evidence lists every verdict's numbers.
    """
    if not verdicts:
        raise ValueError("either() needs at least one verdict")
    text = "; or ".join(f"{v.verdict}: {v.evidence}" for v in verdicts)
    supported = [v for v in verdicts if v.verdict == SUPPORTED]
    if supported:
        return replace(supported[0], evidence=text)
    if all(v.verdict == CONTRADICTED for v in verdicts):
        return replace(verdicts[0], evidence=text)
    open_ = [v for v in verdicts if v.verdict == NOT_RESOLVED]
    best = min(open_, key=lambda v: math.inf if math.isnan(v.seeds_needed) else v.seeds_needed)
    return replace(best, evidence=text)
