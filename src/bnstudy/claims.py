"""A study's claims -> verdicts (reports/<study>/claims.csv), and the ledger across studies
(reports/claims.{md,csv}).

Claims are data (conf/study/*.yaml ``claims:``, conf/ledger.yaml); the rules that decide them
are :mod:`bnstudy.verdicts`, written once. This module only looks up the numbers each rule
needs in a study's tables.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from bnstudy import verdicts
from bnstudy.aggregate import paired_values
from bnstudy.config import ConfigError

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


def evaluate(
    claim: DictConfig,
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    comparisons: pd.DataFrame,
    study: DictConfig,
) -> verdicts.Verdict:
    """The verdict on one claim of ``study`` from its tables."""
    if claim.kind == "interval":
        return _interval(claim, summary, study)
    if claim.kind == "published":
        return _published(claim, runs, study)
    if claim.kind == "equivalence":
        a, b = paired_values(runs, claim.a, claim.b, claim.measure)
        return verdicts.equivalence(a, b, claim.margin, confidence=study.confidence)
    c = _comparison(comparisons, claim.a, claim.b, claim.measure)
    return verdicts.superiority(
        c.mean_diff,
        c.diff_sd,
        int(c.n),
        c.diff_ci_low,
        c.diff_ci_high,
        c.t_p_holm,
        claim.direction,
        confidence=study.confidence,
        unit=" epochs" if claim.measure.startswith("epochs_to_") else "",
    )


def claims_table(
    runs: pd.DataFrame, summary: pd.DataFrame, comparisons: pd.DataFrame, study: DictConfig
) -> pd.DataFrame:
    """One row per claim of the study (COLUMNS), in the study file's order."""
    rows = []
    for claim in study.claims:
        v = evaluate(claim, runs, summary, comparisons, study)
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
