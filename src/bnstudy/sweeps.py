"""Claims over the values of one axis: a group's cells, its best value, the values at which it
is usable, and the seed bootstrap of these grid statistics.

A group of an axis is a condition name without that axis's label ("bn_after" groups the
conditions "bn_after lr=0.001", ..., "bn_after lr=3.0" of the axis ``lr``); its cells are its
conditions in the axis's order. A group's **best** value is the one with the highest mean
``select_on`` (a training- or validation-split measure: the test split never selects) among the
values where at most ``max_diverged`` of its seeds diverged (the first on ties). A value is
**usable** when at most ``max_diverged`` of the seeds diverged there and the mean ``measure``
is at least the mean at the best value minus ``margin``. On a numeric grid the largest usable
value (C11) and the number of usable values (C12) are compared between two groups in grid
steps, with a percentile bootstrap that resamples seeds (the same seeds for every cell, as
runs are paired by seed).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from bnstudy.config import ConfigError, axis_labels

#: Tolerance of "within the margin": means of accuracies on a finite test set tie exactly.
TOL = 1e-9
#: Resamples per chunk of the grid bootstrap (bounds its memory).
CHUNK = 1000


def group_of(labels: dict[str, str], axis: str) -> str:
    """The group of a condition with these axis labels: its name without ``axis``'s label."""
    return " ".join(v for k, v in labels.items() if k != axis) or "base"


def cells(runs: pd.DataFrame, axes: DictConfig, axis: str) -> pd.DataFrame:
    """One row per condition of ``runs``: condition, group, label (its ``axis`` label),
    position (of the label in the axis's order) and value (the axis value for {key:,
    values:} axes, else nan)."""
    order = axis_labels(axis, axes[axis])
    axis_cfg = axes[axis]
    values = list(axis_cfg.get("values")) if "key" in axis_cfg else [np.nan] * len(order)
    value_of = dict(zip(order, values, strict=True))
    names = list(axes)
    first = runs.drop_duplicates("condition")
    rows = []
    for r in first.to_dict("records"):
        labels = {n: str(r[n]) for n in names}
        rows.append(
            {
                "condition": r["condition"],
                "group": group_of(labels, axis),
                "label": labels[axis],
                "position": order.index(labels[axis]),
                "value": value_of[labels[axis]],
            }
        )
    return pd.DataFrame(rows)


def cell(table: pd.DataFrame, group: str, label: str) -> str:
    """The condition of ``group`` at axis label ``label`` in a :func:`cells` table."""
    hit = table[(table["group"] == group) & (table["label"] == label)]
    if hit.empty:
        raise ConfigError(f"no condition of group {group!r} at {label!r}")
    return str(hit["condition"].iloc[0])


@dataclass(frozen=True)
class Grid:
    """Runs of some groups over every value of an axis, as arrays over (groups G, values R,
    seeds S): ``measure`` and ``select`` (nan where the run diverged) and ``diverged``."""

    groups: list[str]
    labels: list[str]
    conditions: list[list[str]]  # (G, R)
    seeds: list[int]
    measure: np.ndarray
    select: np.ndarray
    diverged: np.ndarray


def grid(
    runs: pd.DataFrame,
    axes: DictConfig,
    axis: str,
    groups: list[str],
    measure: str,
    select_on: str,
) -> Grid:
    """The :class:`Grid` of ``groups`` over ``axis``; every cell must have the same seeds."""
    table = cells(runs, axes, axis)
    labels = axis_labels(axis, axes[axis])
    conds = [[cell(table, g, lb) for lb in labels] for g in groups]
    seeds = sorted(set(runs["seed"]))
    shape = (len(groups), len(labels), len(seeds))
    arrays = {k: np.full(shape, np.nan) for k in ("measure", "select", "diverged")}
    by = runs.set_index(["condition", "seed"])
    for i, row in enumerate(conds):
        for j, c in enumerate(row):
            r = by.loc[c].reindex(seeds)
            if r["diverged"].isna().any():
                raise ConfigError(f"condition {c!r} lacks seeds of the study")
            div = r["diverged"].to_numpy(bool)
            arrays["diverged"][i, j] = div
            arrays["measure"][i, j] = np.where(div, np.nan, r[measure].to_numpy(float))
            arrays["select"][i, j] = np.where(div, np.nan, r[select_on].to_numpy(float))
    return Grid(
        list(groups),
        labels,
        conds,
        seeds,
        arrays["measure"],
        arrays["select"],
        arrays["diverged"].astype(bool),
    )


def _nanmean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(x, axis=axis)


def usable(
    measure_mean: np.ndarray,
    select_mean: np.ndarray,
    diverged_share: np.ndarray,
    margin: float,
    max_diverged: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(usable (..., R) bool, best (...) int) from per-value means over seeds (..., R).

    best: the first value with the highest ``select_mean`` among those with
    ``diverged_share <= max_diverged`` and finite means; -1 if there is none (then nothing is
    usable). usable: those values whose ``measure_mean`` is at least ``measure_mean[best] -
    margin``.
    """
    ok = (diverged_share <= max_diverged + TOL) & np.isfinite(measure_mean)
    ok &= np.isfinite(select_mean)
    best = np.argmax(np.where(ok, select_mean, -np.inf), axis=-1)
    some = ok.any(axis=-1)
    ref = np.take_along_axis(measure_mean, best[..., None], axis=-1)
    use = ok & (measure_mean >= ref - margin - TOL) & some[..., None]
    return use, np.where(some, best, -1)


def largest(use: np.ndarray) -> np.ndarray:
    """Index of the last True along the last axis of ``use`` (..., R); -1 where none."""
    r = use.shape[-1]
    last = r - 1 - np.argmax(use[..., ::-1], axis=-1)
    return np.where(use.any(axis=-1), last, -1)


STATISTICS = {
    "usable_rate": ("largest usable value", lambda use: largest(use)),
    "rate_range": ("number of usable values", lambda use: use.sum(axis=-1)),
}


def grid_means(g: Grid, idx: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Means over seeds (G, R), or over resampled seeds ``idx`` (B, S) -> (B, G, R):
    measure and select (over the runs that did not diverge), and the diverged share."""
    if idx is None:
        return _nanmean(g.measure), _nanmean(g.select), g.diverged.mean(axis=-1)

    def resampled(x: np.ndarray, skip_nan: bool) -> np.ndarray:
        y = x[:, :, idx]  # (G, R, B, S)
        return np.moveaxis(_nanmean(y) if skip_nan else y.mean(axis=-1), -1, 0)

    return (
        resampled(g.measure, True),
        resampled(g.select, True),
        resampled(g.diverged.astype(float), False),
    )


def grid_difference(
    g: Grid,
    kind: str,
    margin: float,
    max_diverged: float,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    seed: int = 0,
) -> dict:
    """The ``kind`` statistic (usable_rate: index of the largest usable value; rate_range:
    number of usable values) of groups A and B (g.groups[0], g.groups[1]) and their
    difference A - B in grid steps, with a percentile bootstrap CI over resampled seeds
    (integer bounds: the lower and higher order statistics).

    Keys: estimate, ci_low, ci_high, stat (G,), best (G,), usable ((G, R) bool), n (seeds).
    """
    _, fn = STATISTICS[kind]
    m, s, d = grid_means(g)
    use, best = usable(m, s, d, margin, max_diverged)
    stat = fn(use)
    rng = np.random.default_rng(seed)
    n = len(g.seeds)
    diffs = []
    for start in range(0, n_resamples, CHUNK):
        idx = rng.integers(0, n, size=(min(CHUNK, n_resamples - start), n))
        u, _ = usable(*grid_means(g, idx), margin, max_diverged)
        st = fn(u)  # (B, G)
        diffs.append(st[:, 0] - st[:, 1])
    diff = np.concatenate(diffs)
    alpha = 1.0 - confidence
    return {
        "estimate": float(stat[0] - stat[1]),
        "ci_low": float(np.quantile(diff, alpha / 2, method="lower")),
        "ci_high": float(np.quantile(diff, 1 - alpha / 2, method="higher")),
        "stat": stat,
        "best": best,
        "usable": use,
        "n": n,
    }


def best_cell(
    runs: pd.DataFrame,
    axes: DictConfig,
    axis: str,
    group: str,
    select_on: str,
    max_diverged: float,
) -> str | None:
    """The condition of ``group`` at its best value of ``axis``: the highest mean
    ``select_on`` among the values where at most ``max_diverged`` of the seeds diverged (the
    first on ties); None if there is no such value."""
    g = grid(runs, axes, axis, [group], select_on, select_on)
    m, s, d = grid_means(g)
    _, best = usable(m, s, d, 0.0, max_diverged)
    return g.conditions[0][int(best[0])] if best[0] >= 0 else None


def grid_table(
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    axes: DictConfig,
    axis: str,
    claim: DictConfig,
    failed: DictConfig | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per group and value of ``axis`` (the groups of every condition in ``runs``): the
    summary's numbers, then best (chosen on ``claim.select_on``) and usable (``claim.measure``
    within ``claim.margin`` of the best's, at most ``claim.max_diverged`` diverged). With a
    ``failed`` claim (kind divergence, with a floor): n_failed, failed_rate and its Wilson CI
    (failed: diverged, or final ``failed.measure`` below ``failed.floor``)."""
    table = cells(runs, axes, axis)
    groups = list(dict.fromkeys(table["group"]))
    g = grid(runs, axes, axis, groups, claim.measure, claim.select_on)
    use, best = usable(*grid_means(g), claim.margin, claim.max_diverged)
    rows = []
    for i, group in enumerate(groups):
        for j, label in enumerate(g.labels):
            cond = g.conditions[i][j]
            rows.append(
                {
                    "group": group,
                    "label": label,
                    "value": table.set_index("condition").loc[cond, "value"],
                    "condition": cond,
                    "best": j == best[i],
                    "usable": bool(use[i, j]),
                }
            )
    out = pd.DataFrame(rows)
    if failed is not None and failed.floor is not None:
        from bnstudy.stats import wilson_ci

        bad = runs["diverged"] | (runs[failed.measure] < failed.floor)
        counts = bad.groupby(runs["condition"]).agg(["sum", "size"])
        n = counts.loc[out["condition"]]
        out["n_failed"] = n["sum"].to_numpy(int)
        out["failed_rate"] = (n["sum"] / n["size"]).to_numpy(float)
        cis = [
            wilson_ci(int(k), int(m), confidence) for k, m in zip(n["sum"], n["size"], strict=True)
        ]
        out["failed_ci_low"], out["failed_ci_high"] = zip(*cis, strict=True)
        out["failed_floor"] = failed.floor
        out["failed_measure"] = failed.measure
    return out.merge(summary, on="condition", how="left", validate="1:1")


def variance_table(
    runs: pd.DataFrame, axes: DictConfig, axis: str, measure: str, pairs: list[list[str]]
) -> pd.DataFrame:
    """How ``measure`` varies between the values of ``axis`` (e.g. dataset draws) and between
    seeds within them (:func:`bnstudy.spread.variance_components`), for each group, then for
    the paired difference A - B of each pair of groups (the runs of both at a value and seed
    that did not diverge). One row per quantity, with ``sd_*`` = sqrt of each variance."""
    from bnstudy.spread import variance_components

    table = cells(runs, axes, axis)
    ok = runs.loc[~runs["diverged"], ["condition", "seed", measure]]
    ok = ok.merge(table[["condition", "group", "label"]], on="condition")
    ok = ok.rename(columns={"label": "draw"})
    rows = []
    for group in dict.fromkeys(table["group"]):
        frame = ok[ok["group"] == group]
        rows.append({"quantity": group, **variance_components(frame, measure)})
    for a, b in pairs:
        wide = ok[ok["group"].isin([a, b])].pivot_table(
            index=["draw", "seed"], columns="group", values=measure
        )
        if a not in wide or b not in wide:
            continue
        frame = (wide[a] - wide[b]).rename("diff").dropna().reset_index()
        rows.append({"quantity": f"{a} - {b}", **variance_components(frame, "diff")})
    out = pd.DataFrame(rows)
    for v in ("between", "within", "draw", "seed", "resid"):
        out[f"sd_{v}"] = np.sqrt(out[f"var_{v}"])
    out.insert(1, "measure", measure)
    return out
