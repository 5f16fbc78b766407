"""A study's claims -> verdicts (reports/<study>/claims.csv), and the ledger across studies
(reports/claims.{md,csv}).

Claims are data (conf/study/*.yaml ``claims:``, conf/ledger.yaml); the rules that decide them
are :mod:`bnstudy.verdicts`, written once. This module only looks up the numbers each rule
needs in a study's tables.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from bnstudy import spread, stats, sweeps, verdicts
from bnstudy.aggregate import paired_values
from bnstudy.config import ConfigError
from bnstudy.parameters import model_counts
from bnstudy.studies import Condition

COLUMNS = (
    "id",
    "study",
    "reading",
    "kind",
    "measure",
    "verdict",
    "estimate",
    "ci_low",
    "ci_high",
    "p",
    "seeds_needed",
    "evidence",
)


def _comparison(comparisons: pd.DataFrame, a: str, b: str, measure: str) -> pd.Series:
    c = comparisons
    hit = c[(c["a"] == a) & (c["b"] == b) & (c["measure"] == measure)]
    if hit.empty:
        raise KeyError(f"no paired comparison {a} - {b} on {measure}")
    return hit.iloc[0]


def _interval(claim: DictConfig, summary: pd.DataFrame, study: DictConfig) -> verdicts.Verdict:
    row = summary.set_index("condition").loc[claim.condition]
    m = claim.measure
    low = -math.inf if claim.low is None else float(claim.low)
    high = math.inf if claim.high is None else float(claim.high)
    if m.startswith("epochs_to_"):
        est, lo, hi = row[f"{m}_median"], row[f"{m}_median_ci_low"], row[f"{m}_median_ci_high"]
        what = f"{claim.condition}'s Kaplan-Meier median {m}"
        spread = math.nan
    else:
        est, lo, hi = row[f"{m}_mean"], row[f"{m}_ci_low"], row[f"{m}_ci_high"]
        what = f"{claim.condition}'s mean {m}"
        spread = row.get(f"{m}_std", math.nan)
    n = int(row["n_seeds"] - row["n_diverged"])
    return verdicts.interval(
        float(est),
        float(lo),
        float(hi),
        low,
        high,
        what,
        confidence=study.confidence,
        n=n,
        spread=float(spread),
    )


def _published(claim: DictConfig, runs: pd.DataFrame, study: DictConfig) -> verdicts.Verdict:
    """Each published value inside the central ``confidence`` range of the seeds' values."""
    alpha = 1 - study.confidence
    parts, inside = [], []
    ok = runs[~runs["diverged"]]
    for cond, values in study.published.items():
        if claim.measure not in values:
            continue
        x = ok.loc[ok["condition"] == cond, claim.measure].to_numpy(float)
        lo, hi = np.quantile(x, [alpha / 2, 1 - alpha / 2])
        v = float(values[claim.measure])
        inside.append(lo <= v <= hi)
        parts.append(
            f"{cond} {v:.3f} vs seeds' central {study.confidence:.0%} [{lo:.3f}, {hi:.3f}]"
        )
    if not parts:
        raise ConfigError(f"study.published: no {claim.measure} value for claim {claim.id}")
    verdict = verdicts.SUPPORTED if all(inside) else verdicts.CONTRADICTED
    return verdicts.Verdict(
        verdict,
        math.nan,
        math.nan,
        math.nan,
        math.nan,
        math.nan,
        "; ".join(parts) + ("" if all(inside) else " (outside)") + ".",
    )


def _unresolved(text: str) -> verdicts.Verdict:
    """Not resolved for want of runs: no estimate, no seed count."""
    nan = math.nan
    return verdicts.Verdict(verdicts.NOT_RESOLVED, nan, nan, nan, nan, nan, text)


def _too_few(a: str, b: str, k: int) -> verdicts.Verdict:
    return _unresolved(f"fewer than {k} seeds of both {a} and {b} ran without diverging")


def _unit(measure: str) -> str:
    return "epochs" if measure.startswith("epochs_to_") else ""


def _superiority(
    claim: DictConfig, a: str, b: str, comparisons: pd.DataFrame, study: DictConfig
) -> verdicts.Verdict:
    try:
        c = _comparison(comparisons, a, b, claim.measure)
    except KeyError:  # the comparisons table leaves out pairs with fewer than 2 shared seeds
        return _too_few(a, b, 2)
    return verdicts.superiority(
        c.mean_diff,
        c.diff_sd,
        int(c.n),
        c.diff_ci_low,
        c.diff_ci_high,
        c.t_p_holm,
        claim.direction,
        confidence=study.confidence,
        unit=_unit(claim.measure),
    )


def _spread_detail(runs: pd.DataFrame, a: str, b: str, measure: str, x, y) -> str:
    """Each condition's std, IQR, worst seed and divergences, and two tests of equal spread."""
    parts = []
    for name, v in ((a, x), (b, y)):
        d = spread.describe(v)
        r = runs[runs["condition"] == name]
        parts.append(
            f"{name}: std {d['std']:.4f}, IQR {d['iqr']:.4f}, worst seed {d['worst']:.4f}, "
            f"diverged {int(r['diverged'].sum())}/{len(r)}"
        )
    pm, bf = spread.pitman_morgan(x, y), spread.brown_forsythe(x, y)
    return (
        f"{'; '.join(parts)}; Pitman-Morgan (paired) p = {pm:.3g}, Brown-Forsythe (unpaired) "
        f"p = {bf:.3g} ({measure} over {len(x)} paired seeds)"
    )


def _spread(
    claim: DictConfig, a: str, b: str, runs: pd.DataFrame, study: DictConfig, confidence: float
) -> verdicts.Verdict:
    """std(A) / std(B) of the measure over paired seeds that did not diverge, bootstrap CI."""
    x, y = paired_values(runs, a, b, claim.measure)
    if x.size < 3:
        return _too_few(a, b, 3)
    est, lo, hi = spread.std_ratio(x, y, confidence, study.n_resamples)
    return verdicts.ratio(
        est,
        lo,
        hi,
        f"std ratio {a} / {b}",
        confidence,
        n=x.size,
        direction=claim.direction,
        detail=_spread_detail(runs, a, b, claim.measure, x, y),
    )


def _rule(
    claim: DictConfig,
    rule: str,
    a: str,
    b: str,
    runs: pd.DataFrame,
    comparisons: pd.DataFrame,
    study: DictConfig,
    confidence: float | None = None,
) -> verdicts.Verdict:
    """superiority, equivalence or spread of conditions a and b."""
    confidence = study.confidence if confidence is None else confidence
    if rule == "superiority":
        return _superiority(claim, a, b, comparisons, study)
    if rule == "spread":
        return _spread(claim, a, b, runs, study, confidence)
    x, y = paired_values(runs, a, b, claim.measure)
    if x.size < 2:
        return _too_few(a, b, 2)
    return verdicts.equivalence(
        x, y, claim.margin, confidence=confidence, unit=_unit(claim.measure)
    )


def _grid(claim: DictConfig, runs: pd.DataFrame, study: DictConfig) -> verdicts.Verdict:
    """usable_rate / rate_range: A - B in grid steps, seed bootstrap."""
    g = sweeps.grid(runs, study.axes, claim.axis, list(claim.pair), claim.measure, claim.select_on)
    res = sweeps.grid_difference(
        g,
        claim.kind,
        claim.margin,
        claim.max_diverged,
        study.confidence,
        study.n_resamples,
    )
    name, _ = sweeps.STATISTICS[claim.kind]
    parts = []
    for i, group in enumerate(g.groups):
        use = [lb for lb, u in zip(g.labels, res["usable"][i], strict=True) if u]
        best = g.labels[res["best"][i]] if res["best"][i] >= 0 else "none"
        parts.append(f"{group}: best {best} (on mean {claim.select_on}), usable {use or 'none'}")
    edges = {g.labels[0], g.labels[-1]}
    touches = any(lb in edges for i in range(2) for lb in np.array(g.labels)[res["usable"][i]])
    v = verdicts.grid_steps(
        res["estimate"],
        res["ci_low"],
        res["ci_high"],
        f"{name} of {claim.axis}, {claim.pair[0]} - {claim.pair[1]},",
        study.confidence,
        n=res["n"],
        direction=claim.direction,
    )
    note = (
        f"usable: at most {claim.max_diverged:.0%} of seeds diverged and mean {claim.measure} "
        f"within {claim.margin:g} of the best value's; " + "; ".join(parts)
    )
    if touches:
        note += " (a usable range reaches the end of the grid: its extent there is a bound)"
    return replace(v, evidence=f"{v.evidence}; {note}")


def _divergence(claim: DictConfig, runs: pd.DataFrame, study: DictConfig) -> verdicts.Verdict:
    """Failed runs of A against B, paired by (axis value, seed); exact McNemar. A run failed
    when it diverged, or (with ``floor``) when its final ``measure`` is below ``floor``."""
    g = sweeps.grid(runs, study.axes, claim.axis, list(claim.pair), claim.measure, claim.measure)
    keep = [i for i, lb in enumerate(g.labels) if not claim.only or lb in claim.only]
    failed = g.diverged.copy()
    if claim.floor is not None:
        failed |= g.measure < claim.floor  # nan (diverged) compares False
    failed, diverged = failed[:, keep], g.diverged[:, keep]
    res = spread.mcnemar(failed[0].ravel(), failed[1].ravel())
    a, b = claim.pair
    n_values, n_seeds = diverged.shape[1:]
    needed = spread.pairs_for_mcnemar(res["a_only"], res["b_only"], res["n"], study.confidence)
    seeds = max(n_seeds + 1.0, math.ceil(needed / n_values)) if math.isfinite(needed) else needed
    event = "diverged"
    if claim.floor is not None:
        event += f" or ended with {claim.measure} below {claim.floor:g}"
    what = (
        f"over {n_values} values of {claim.axis} ({', '.join(g.labels[i] for i in keep)}) x "
        f"{n_seeds} seeds, runs that {event}: {a} {res['a']} ({int(diverged[0].sum())} "
        f"diverged), {b} {res['b']} ({int(diverged[1].sum())} diverged); {a} only: "
        f"{res['a_only']}, {b} only: "
        f"{res['b_only']}"
    )
    return verdicts.fewer_events(
        res["a_only"],
        res["b_only"],
        res["p"],
        what,
        study.confidence,
        seeds_needed=seeds,
        direction=claim.direction,
    )


def best_pair(claim: DictConfig, runs: pd.DataFrame, study: DictConfig) -> tuple[str, str] | None:
    """at_best: the conditions of the claim's two groups, each at its own best value of the
    axis (chosen on mean ``select_on``, a training- or validation-split measure); None if a
    group has no value where at most ``max_diverged`` of its seeds diverged."""
    best = [
        sweeps.best_cell(runs, study.axes, claim.axis, g, claim.select_on, claim.max_diverged)
        for g in claim.pair
    ]
    return None if None in best else (best[0], best[1])


def every_pairs(claim: DictConfig, runs: pd.DataFrame, study: DictConfig) -> list[tuple]:
    """every: (label, condition of A, condition of B) for each value of the claim's axis."""
    table = sweeps.cells(runs, study.axes, claim.axis)
    labels = [lb for lb in dict.fromkeys(table.sort_values("position")["label"])]
    return [(lb, *(sweeps.cell(table, g, lb) for g in claim.pair)) for lb in labels]


def _every(
    claim: DictConfig, runs: pd.DataFrame, comparisons: pd.DataFrame, study: DictConfig
) -> verdicts.Verdict:
    """The rule within each value of the axis. "Holds in every value" is an intersection of
    tests, each at alpha; a contradiction in some value is a union, so where the rule's own
    p-values are not already adjusted across values (equivalence, spread) its CI is widened to
    the Bonferroni level 1 - alpha / (number of values) before it may contradict."""
    pairs = every_pairs(claim, runs, study)
    alpha = 1.0 - study.confidence
    per_value = []
    for label, a, b in pairs:
        v = _rule(claim, claim.rule, a, b, runs, comparisons, study)
        if v.verdict == verdicts.CONTRADICTED and claim.rule != "superiority":
            wide = _rule(claim, claim.rule, a, b, runs, comparisons, study, 1 - alpha / len(pairs))
            if wide.verdict != verdicts.CONTRADICTED:
                v = replace(
                    v,
                    verdict=verdicts.NOT_RESOLVED,
                    evidence=v.evidence + " (not outside at the Bonferroni level)",
                )
        per_value.append((label, v))
    return verdicts.every(per_value, claim.axis)


def _parameters(claim: DictConfig, conds: list[Condition] | None) -> verdicts.Verdict:
    """Trainable parameters A - B against per_unit x the units A's BN layers normalize."""
    if not conds:
        raise ConfigError(f"claim {claim.id}: counting parameters needs the study's conditions")
    by = {c.name: c for c in conds}
    counts = {n: model_counts(by[n].model, by[n].data) for n in (claim.a, claim.b)}
    a, b = counts[claim.a], counts[claim.b]
    units = a.bn_units - b.bn_units
    v = verdicts.count(
        a.trainable - b.trainable,
        claim.per_unit * units,
        f"trainable parameters {claim.a} - {claim.b} ({a.trainable} - {b.trainable})",
    )
    extra = (
        f" = {claim.per_unit} x {units} BN units claimed; non-trainable {a.non_trainable} - "
        f"{b.non_trainable} = {a.non_trainable - b.non_trainable} (moving mean and variance); "
        f"counted from the model configs (Keras count_params checked in tests)"
    )
    return replace(v, evidence=v.evidence + extra)


def _interaction(claim: DictConfig, runs: pd.DataFrame, study: DictConfig) -> verdicts.Verdict:
    """(a - b) - (c - d) over the seeds all four ran without diverging: a paired t-test of the
    effect of a against b and of c against d (its own family: no Holm adjustment)."""
    names = (claim.a, claim.b, claim.c, claim.d)
    ok = runs[~runs["diverged"] & runs["condition"].isin(names)]
    wide = ok.pivot(index="seed", columns="condition", values=claim.measure)
    if claim.measure.startswith("epochs_to_"):
        horizon = int(runs["epochs"].max())
        wide = wide.apply(lambda col: stats.restricted_times(col.fillna(np.inf), horizon))
    wide = wide.reindex(columns=list(names)).dropna()
    if len(wide) < 2:
        return _unresolved(f"fewer than 2 seeds of all of {', '.join(names)} ran without diverging")
    x = (wide[claim.a] - wide[claim.b]).to_numpy(float)
    y = (wide[claim.c] - wide[claim.d]).to_numpy(float)
    res = stats.paired_test(x, y, confidence=study.confidence, n_resamples=study.n_resamples)
    v = verdicts.superiority(
        res["mean_diff"],
        float((x - y).std(ddof=1)),
        int(res["n"]),
        res["diff_ci_low"],
        res["diff_ci_high"],
        res["t_p"],
        claim.direction,
        confidence=study.confidence,
        unit=_unit(claim.measure),
    )
    what = (
        f"({claim.a} - {claim.b}) - ({claim.c} - {claim.d}): effects "
        f"{_effect(x)} and {_effect(y)}; "
    )
    return replace(v, evidence=what + v.evidence.replace("Holm-adjusted t-test", "t-test"))


def _effect(x: np.ndarray) -> str:
    return f"{x.mean():+.4f}"


def evaluate(
    claim: DictConfig,
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    comparisons: pd.DataFrame,
    study: DictConfig,
    conds: list[Condition] | None = None,
) -> verdicts.Verdict:
    """The verdict on one claim of ``study`` from its tables (``conds``: its conditions, for
    claims on the models themselves)."""
    if claim.kind == "interval":
        return _interval(claim, summary, study)
    if claim.kind == "published":
        return _published(claim, runs, study)
    if claim.kind in ("usable_rate", "rate_range"):
        return _grid(claim, runs, study)
    if claim.kind == "divergence":
        return _divergence(claim, runs, study)
    if claim.kind == "parameters":
        return _parameters(claim, conds)
    if claim.kind == "interaction":
        return _interaction(claim, runs, study)
    if claim.kind == "every":
        return _every(claim, runs, comparisons, study)
    if claim.kind == "at_best":
        pair = best_pair(claim, runs, study)
        if pair is None:
            return _unresolved(
                f"a group of {list(claim.pair)} diverged in more than "
                f"{claim.max_diverged:.0%} of its seeds at every value of {claim.axis}"
            )
        a, b = pair
        v = _rule(claim, claim.rule, a, b, runs, comparisons, study)
        where = (
            f"each at its best {claim.axis} chosen on mean {claim.select_on} (not the test "
            f"split): {a} and {b}; "
        )
        return replace(v, evidence=where + v.evidence)
    return _rule(claim, claim.kind, claim.a, claim.b, runs, comparisons, study)


def claims_table(
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    comparisons: pd.DataFrame,
    study: DictConfig,
    conds: list[Condition] | None = None,
) -> pd.DataFrame:
    """One row per claim of the study (COLUMNS), in the study file's order."""
    rows = []
    for claim in study.claims:
        v = evaluate(claim, runs, summary, comparisons, study, conds)
        rows.append(
            {
                "id": claim.id,
                "study": study.name,
                "reading": claim.reading,
                "kind": claim.kind,
                "measure": claim.measure,
                "verdict": v.verdict,
                "estimate": v.estimate,
                "ci_low": v.ci_low,
                "ci_high": v.ci_high,
                "p": v.p,
                "seeds_needed": v.seeds_needed,
                "evidence": v.evidence,
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))
