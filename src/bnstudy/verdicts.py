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


# --- rules for claims over a grid, spreads, event counts, exact counts, and "in every value" ---


def grid_steps(
    estimate: float,
    ci_low: float,
    ci_high: float,
    what: str,
    confidence: float = 0.95,
    *,
    n: int,
    direction: str = "greater",
) -> Verdict:
    """Claim "A's ``what`` is higher than B's" (direction "greater"; "less": lower) from the
    difference A - B counted in steps of a grid (an integer) and its bootstrap CI.

    On a grid, "higher" means at least one step: supported if the CI lies at or beyond one
    step on the claimed side (ci_low >= 1 for "greater"); contradicted if it lies at or
    beyond zero on the other side (ci_high <= 0: on this grid A's is not higher); otherwise
    not resolved, with seeds from scaling the CI side that faces the half step as 1/sqrt(n)
    (the rule of :func:`interval` with the bound 0.5).
    """
    if direction not in ("greater", "less"):
        raise ValueError(f"direction must be 'greater' or 'less', got {direction!r}")
    s = 1.0 if direction == "greater" else -1.0
    e, lo, hi = s * estimate, *sorted((s * ci_low, s * ci_high))
    claim = "at least one step higher" if direction == "greater" else "at least one step lower"
    text = (
        f"{what} {estimate:+.0f} grid steps ({_pct(confidence)} bootstrap CI "
        f"[{ci_low:+.0f}, {ci_high:+.0f}]), claimed {claim}"
    )
    seeds = math.nan
    if lo >= 0.5:
        verdict = SUPPORTED
    elif hi < 0.5:
        verdict = CONTRADICTED
    else:
        verdict = NOT_RESOLVED
        seeds = _interval_seeds(e, lo, hi, 0.5, math.inf, n, math.nan)
        text += _seeds(seeds, "(CI half-width scaled as 1/sqrt(n))")
    return Verdict(verdict, estimate, ci_low, ci_high, math.nan, seeds, text)


def ratio(
    estimate: float,
    ci_low: float,
    ci_high: float,
    what: str,
    confidence: float = 0.95,
    *,
    n: int,
    direction: str = "less",
    detail: str = "",
) -> Verdict:
    """Claim "``what`` (a ratio A / B) is below 1" (direction "less"; "greater": above 1).

    Supported if the CI lies entirely on the claimed side of 1, contradicted if it lies
    entirely on the other side, otherwise not resolved, with seeds from scaling the CI side
    that faces 1 as 1/sqrt(n) on the log scale (inf when the estimate is exactly 1).
    ``detail`` is appended to the evidence.
    """
    if direction not in ("greater", "less"):
        raise ValueError(f"direction must be 'greater' or 'less', got {direction!r}")
    claim = "below 1" if direction == "less" else "above 1"
    text = (
        f"{what} {estimate:.3f} ({_pct(confidence)} CI [{ci_low:.3f}, {ci_high:.3f}]), "
        f"claimed {claim}"
    )
    seeds, below, above = math.nan, ci_high < 1.0, ci_low > 1.0
    if (below and direction == "less") or (above and direction == "greater"):
        verdict = SUPPORTED
    elif below or above:
        verdict = CONTRADICTED
    else:
        verdict = NOT_RESOLVED
        logs = [math.log(x) if x > 0 else -math.inf for x in (estimate, ci_low, ci_high)]
        low, high = (-math.inf, 0.0) if direction == "less" else (0.0, math.inf)
        seeds = _interval_seeds(*logs, low, high, n, math.nan)
        text += _seeds(seeds, "(CI half-width on the log scale scaled as 1/sqrt(n))")
    text += f"; {detail}" if detail else ""
    return Verdict(verdict, estimate, ci_low, ci_high, math.nan, seeds, text)


def fewer_events(
    a_only: int,
    b_only: int,
    p: float,
    what: str,
    confidence: float = 0.95,
    *,
    seeds_needed: float,
    direction: str = "less",
) -> Verdict:
    """Claim "A has fewer events than B" (direction "less"; "greater": more) over paired units,
    from the discordant pairs (``a_only``: units where only A had the event, ``b_only``: only
    B) and an exact McNemar p-value.

    Supported if p < alpha and the discordant pairs lean the claimed way; contradicted if
    p < alpha and they lean the other way; otherwise not resolved with ``seeds_needed``
    (computed by the caller; at least 1 more than now is the caller's business). The estimate
    is a_only - b_only.
    """
    if direction not in ("greater", "less"):
        raise ValueError(f"direction must be 'greater' or 'less', got {direction!r}")
    diff = float(a_only - b_only)
    text = f"{what}, exact McNemar {_p(p)}"
    if p < _alpha(confidence) and diff != 0.0:
        agrees = (diff < 0.0) == (direction == "less")
        verdict = SUPPORTED if agrees else CONTRADICTED
        return Verdict(verdict, diff, math.nan, math.nan, p, math.nan, text)
    text += _seeds(seeds_needed, f"at {POWER:.0%} power")
    return Verdict(NOT_RESOLVED, diff, math.nan, math.nan, p, seeds_needed, text)


def count(observed: int, claimed: int, what: str) -> Verdict:
    """Claim "``what`` is ``claimed``" about a deterministic count: supported if equal, else
    contradicted (no seeds involved)."""
    verdict = SUPPORTED if observed == claimed else CONTRADICTED
    text = f"{what}: {observed}, claimed {claimed}"
    return Verdict(verdict, observed, math.nan, math.nan, math.nan, math.nan, text)


def every(per_value: list[tuple[str, Verdict]], what: str) -> Verdict:
    """Claim "a rule holds within every value of an axis" from the rule's verdict in each
    value (label, Verdict).

    Supported if every value's verdict is supported; contradicted if any is contradicted
    (the caller controls the family-wise error of the values' contradictions); otherwise not
    resolved, with the largest seeds_needed of the values not resolved. The estimate is the
    number of values in which the rule holds; the evidence says "holds in k/n" and gives each
    value's deciding numbers.
    """
    if not per_value:
        raise ValueError("every() needs at least one value")
    verdicts = [v for _, v in per_value]
    k, n = sum(v.verdict == SUPPORTED for v in verdicts), len(verdicts)
    bad = [(label, v) for label, v in per_value if v.verdict == CONTRADICTED]
    open_ = [(label, v) for label, v in per_value if v.verdict == NOT_RESOLVED]
    parts = [f"holds in {k}/{n} values of {what}"]
    if bad:
        parts.append(f"contradicted in {len(bad)} ({', '.join(lb for lb, _ in bad)})")
    if open_:
        parts.append(f"not resolved in {len(open_)} ({', '.join(lb for lb, _ in open_)})")
    text = "; ".join(parts) + ". " + " | ".join(f"{lb}: {v.evidence}" for lb, v in per_value)
    seeds = math.nan
    if bad:
        verdict = CONTRADICTED
    elif open_:
        verdict = NOT_RESOLVED
        needed = [v.seeds_needed for _, v in open_]
        seeds = math.nan if any(math.isnan(x) for x in needed) else max(needed)
    else:
        verdict = SUPPORTED
    return Verdict(verdict, k, math.nan, math.nan, math.nan, seeds, text)
