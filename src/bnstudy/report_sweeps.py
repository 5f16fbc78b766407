"""Report sections for the tables of reports/<study>/tables/: a swept axis (per group and
value: divergences, accuracy, speed, best and usable values, with a figure), the variance
between the values of an axis and between seeds, and the parameter counts."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from omegaconf import DictConfig

from bnstudy.atomic import write_with
from bnstudy.plots import colour


def _f(x: float, nd: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if math.isinf(x):
        return "never" if x > 0 else "-inf"
    return f"{x:.{nd}f}"


def _n(x: float | None) -> str:
    """A count that may be missing (every seed diverged): '3' or 'n/a'."""
    return "n/a" if x is None or math.isnan(x) else str(int(x))


def _table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _pivot(grid: pd.DataFrame, cell) -> str:
    """Rows: groups; columns: the axis's labels; ``cell(row) -> str``."""
    labels = list(dict.fromkeys(grid["label"]))
    rows = []
    for group, g in grid.groupby("group", sort=False):
        by = g.set_index("label")
        rows.append([str(group), *(cell(by.loc[lb]) for lb in labels)])
    return _table(["group", *labels], rows)


def _claim_of(study: DictConfig, axis: str) -> DictConfig:
    return next(
        c
        for c in study.claims
        if c.kind in ("usable_rate", "rate_range", "at_best") and c.axis == axis
    )


def sweep_figure(grid: pd.DataFrame, axis: str, measure: str, path: Path, conf: float) -> None:
    """Mean ``measure`` with its CI (over the seeds that did not diverge) and the share of
    seeds that diverged, against the axis's values (log scale), one line per group."""
    groups = list(dict.fromkeys(grid["group"]))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    x_is_num = grid["value"].notna().all()
    for group in groups:
        g = grid[grid["group"] == group]
        x = g["value"].to_numpy(float) if x_is_num else np.arange(len(g))
        c = colour(group, groups)
        mean = g[f"{measure}_mean"].to_numpy(float)
        lo, hi = g[f"{measure}_ci_low"].to_numpy(float), g[f"{measure}_ci_high"].to_numpy(float)
        axes[0].errorbar(x, mean, yerr=[mean - lo, hi - mean], color=c, capsize=3, label=group)
        best, use = g["best"].to_numpy(bool), g["usable"].to_numpy(bool)
        axes[0].scatter(x[use], mean[use], color=c, s=40, zorder=3)
        axes[0].scatter(x[best], mean[best], color=c, marker="*", s=180, zorder=4)
        rate = "failed" if "failed_rate" in g else "diverged"
        axes[1].plot(x, g[f"{rate}_rate"], color=c, marker="o", label=group)
        axes[1].fill_between(x, g[f"{rate}_ci_low"], g[f"{rate}_ci_high"], color=c, alpha=0.15)
    for ax in axes:
        if x_is_num:
            ax.set_xscale("log")
        ax.set_xlabel(axis)
        ax.grid(alpha=0.3)
        ax.legend(title="group", fontsize=8)
    axes[0].set_ylabel(f"final {measure.replace('_', ' ')} (fraction)")
    axes[0].set_title(f"Mean, {conf:.0%} CI; dots: usable, star: best", fontsize=10)
    if "failed_rate" in grid:
        floor, fm = grid["failed_floor"].iloc[0], grid["failed_measure"].iloc[0]
        axes[1].set_ylabel("share of seeds that failed")
        title = f"Failed: diverged or final {fm} below {floor:g}; {conf:.0%} Wilson band"
    else:
        axes[1].set_ylabel("share of seeds that diverged")
        title = f"Divergences, {conf:.0%} Wilson band"
    axes[1].set_ylim(-0.02, 1.02)
    axes[1].set_title(title, fontsize=10)
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def sweep_md(grid: pd.DataFrame, axis: str, study: DictConfig, figures: Path) -> str:
    """The section of one swept axis: what best and usable mean, the pivot tables, a figure."""
    claim = _claim_of(study, axis)
    conf = float(study.confidence)
    m, t0 = claim.measure, study.thresholds[0]
    ep = f"epochs_to_{round(t0 * 100):d}"
    sweep_figure(grid, axis, m, figures / f"sweep_{axis}.png", conf)

    def diverged(r) -> str:
        return (
            f"{int(r.n_diverged)}/{int(r.n_seeds)} "
            f"[{_f(r.diverged_ci_low, 2)}, {_f(r.diverged_ci_high, 2)}]"
        )

    def failed(r) -> str:
        return (
            f"{int(r.n_failed)}/{int(r.n_seeds)} "
            f"[{_f(r.failed_ci_low, 2)}, {_f(r.failed_ci_high, 2)}]"
        )

    failed_md = ""
    if "n_failed" in grid:
        floor, fm = grid["failed_floor"].iloc[0], grid["failed_measure"].iloc[0]
        failed_md = f"""
Seeds that failed: diverged, or ended with {fm} below {floor:g} (a network collapsed to chance
keeps a finite loss; the divergence rule above counts it only when its loss stays above twice
the class prior's). At the smallest values a run near chance is often merely slow within the
epochs trained: each divergence claim counts the values it lists (its `only`) [{conf:.0%}
Wilson CI]:

{_pivot(grid, failed)}
"""

    def measure(r) -> str:
        mark = (" ★" if r.best else "") + (" ✓" if r.usable else "")
        return f"{_f(r[f'{m}_mean'], 4)} [{_f(r[f'{m}_ci_low'])}, {_f(r[f'{m}_ci_high'])}]{mark}"

    def select(r) -> str:
        return _f(r[f"{claim.select_on}_mean"], 4)

    def speed(r) -> str:
        return (
            f"{_f(r[f'{ep}_median'], 0)} [{_f(r[f'{ep}_median_ci_low'], 0)}, "
            f"{_f(r[f'{ep}_median_ci_high'], 0)}] ({_n(r[f'{ep}_n_censored'])})"
        )

    return f"""## The {axis} grid

Each group's **best** {axis} (★) is the one with the highest mean **{claim.select_on}** over
its seeds, among the values at which at most {claim.max_diverged:.0%} of its seeds diverged;
{claim.select_on} is {_selecting_split(claim.select_on)}. **The best {axis} is chosen on the
{_split_name(claim.select_on)} split, never on the test split**: every comparison "at each
group's best {axis}" uses the {axis} chosen on mean {claim.select_on}, and the test split only
measures it. A value is **usable** (✓) for a group when at most
{claim.max_diverged:.0%} of its seeds diverged there and its mean {m} is at least the mean {m}
at the group's best value minus {claim.margin:g}. Diverged runs are counted and left out of
the means.

Seeds that diverged, of all seeds [{conf:.0%} Wilson CI]:

{_pivot(grid, diverged)}
{failed_md}
Final {m}, mean over the seeds that did not diverge [{conf:.0%} BCa CI] (★ best, ✓ usable):

{_pivot(grid, measure)}

Final {claim.select_on} (what picks the best value), mean:

{_pivot(grid, select)}

Kaplan-Meier median epochs to {t0:.0%} test accuracy [{conf:.0%} CI] (seeds that never got
there):

{_pivot(grid, speed)}

![{m} and failed runs against {axis}](figures/sweep_{axis}.png)
"""


def _split_name(select_on: str) -> str:
    """The split a selection measure is taken on: validation or training."""
    return "validation" if select_on.startswith("validation_") else "training"


def _selecting_split(select_on: str) -> str:
    """How the final model is evaluated for ``select_on``, for the report's text."""
    if select_on.startswith("validation_"):
        return (
            "the final model evaluated on the validation split: rows carved out of the training "
            "data, stratified by class, never trained on"
        )
    if select_on.startswith("fit_"):
        return "the running training accuracy of the last epoch, BN in training mode"
    return "the final model evaluated on the training split"


def values_figure(
    summary: pd.DataFrame, table: pd.DataFrame, axis: str, measure: str, path: Path, conf: float
) -> None:
    """Mean ``measure`` with its CI per value of ``axis`` (e.g. per dataset draw), one line
    per group. table: :func:`bnstudy.sweeps.cells` of the runs."""
    data = table.merge(summary, on="condition").sort_values(["position"])
    groups = list(dict.fromkeys(table["group"]))
    labels = list(dict.fromkeys(data["label"]))
    fig, ax = plt.subplots(figsize=(max(7, 0.8 * len(labels) + 3), 4))
    for k, group in enumerate(groups):
        g = data[data["group"] == group]
        x = np.array([labels.index(lb) for lb in g["label"]]) + (k - 1) * 0.12
        mean = g[f"{measure}_mean"].to_numpy(float)
        lo, hi = g[f"{measure}_ci_low"].to_numpy(float), g[f"{measure}_ci_high"].to_numpy(float)
        c = colour(group, groups)
        ax.errorbar(x, mean, yerr=[mean - lo, hi - mean], fmt="o-", color=c, capsize=3, label=group)
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel(axis)
    ax.set_ylabel(f"final {measure.replace('_', ' ')} (fraction)")
    ax.set_title(f"Mean over seeds per {axis}, {conf:.0%} CI", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(title="group", fontsize=8)
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def variance_md(table: pd.DataFrame, axis: str) -> str:
    """The section of the variance between the values of ``axis`` and between seeds."""
    rows = [
        [
            str(r.quantity),
            str(int(r.n_draws)),
            str(int(r.n_runs)),
            _f(r.mean, 4),
            _f(r.sd_between, 4),
            _f(r.sd_within, 4),
            _f(r.share_draw, 2),
            "< 0.001" if r.p_draw < 0.001 else _f(r.p_draw, 3),
            _f(r.sd_draw, 4),
            _f(r.sd_seed, 4),
            _f(r.sd_resid, 4),
        ]
        for r in table.itertuples()
    ]
    head = [
        "quantity",
        f"{axis} values",
        "runs",
        "mean",
        f"sd between {axis}",
        f"sd within {axis}",
        f"share of {axis}",
        f"F-test p ({axis})",
        f"two-way: sd {axis}",
        "sd seed",
        "sd residual",
    ]
    measure = table["measure"].iloc[0] if len(table) else "the measure"
    return f"""## Variance between values of {axis} and between seeds

How much of the spread of final {measure} comes from the value of {axis} (for dataset
draws: which 1000 points make_circles drew) and how much from the seed (initial weights and
batch order) within it, per group and for the paired difference between the groups of each
claimed pair (per {axis} value and seed, over the runs of both that did not diverge).
Method: one-way random-effects ANOVA, method-of-moments estimator (between =
(MS_between - MS_within) / n0, truncated at 0; within = MS_within; share = between /
(between + within); F test of no {axis} effect); and, where every {axis} value has every
seed, the crossed two-way decomposition {axis} + seed (statsmodels OLS and anova_lm): "sd
seed" is the part of a seed's effect shared by every {axis} value, "sd residual" the rest.

{_table(head, rows)}

![{measure} per {axis}](figures/values_{axis}.png)
"""


def parameters_md(table: pd.DataFrame) -> str:
    rows = [
        [str(r.condition), str(r.trainable), str(r.non_trainable), str(r.total), str(r.bn_units)]
        for r in table.itertuples()
    ]
    head = ["condition", "trainable", "non-trainable", "all (Keras count_params)", "BN units"]
    return f"""## Parameters

Counted from each condition's model and data configs (bnstudy.parameters; tests check the
formulas against Keras's count_params). A BN layer on u units (a convolution's channels) has u
gamma (scale) and u beta (center) trainable parameters and u moving means and u moving
variances, non-trainable.

{_table(head, rows)}
"""


def extra_md(study: DictConfig, out: Path, runs: pd.DataFrame, summary: pd.DataFrame) -> str:
    """Every section that reports/<study>/tables/ holds material for, in a fixed order (the
    parameters last, in every study); draws their figures."""
    from bnstudy.sweeps import cells

    folder = out / "tables"
    parts = []
    for path in sorted(folder.glob("sweep_*.csv")):
        axis = path.stem.removeprefix("sweep_")
        parts.append(sweep_md(pd.read_csv(path), axis, study, out / "figures"))
    for path in sorted(folder.glob("variance_*.csv")):
        axis = path.stem.removeprefix("variance_")
        table = pd.read_csv(path)
        measure = str(table["measure"].iloc[0]) if len(table) else "test_accuracy"
        figure = out / "figures" / f"values_{axis}.png"
        values_figure(
            summary, cells(runs, study.axes, axis), axis, measure, figure, float(study.confidence)
        )
        parts.append(variance_md(table, axis))
    counts = folder / "parameters.csv"
    if counts.exists() and len(table := pd.read_csv(counts)):
        parts.append(parameters_md(table))
    return "\n".join(parts)
