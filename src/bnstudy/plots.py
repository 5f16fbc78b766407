"""Figures: one colour per condition everywhere; titles, labelled axes and legends.

Every function writes one PNG atomically and returns nothing.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bnstudy.atomic import write_with

_FIXED = {"baseline": "#1f77b4", "bn_after": "#2ca02c", "bn_before": "#d62728"}
_SPARE = ["#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]


def colour(condition: str, conditions: list[str] | None = None) -> str:
    """The colour of ``condition``: fixed for the tutorial's three, stable for the others."""
    if condition in _FIXED:
        return _FIXED[condition]
    others = sorted(v for v in (conditions or [condition]) if v not in _FIXED)
    return _SPARE[others.index(condition) % len(_SPARE)] if condition in others else _SPARE[0]


def _save(fig: plt.Figure, path: str | Path) -> None:
    fig.tight_layout()
    _write(fig, path)


def _write(fig: plt.Figure, path: str | Path) -> None:
    """Write ``fig`` as a PNG atomically and close it (its layout already done)."""
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


#: Conditions up to which each panel keeps its own legend; more get one legend beside both.
_INSIDE_LEGEND = 8


def learning_curves(
    curves: pd.DataFrame,
    histories: pd.DataFrame,
    path: str | Path,
    threshold: float,
    confidence: float,
) -> None:
    """:func:`learning_curves_figure`, written to ``path``."""
    _write(learning_curves_figure(curves, histories, threshold, confidence), path)


def learning_curves_figure(
    curves: pd.DataFrame, histories: pd.DataFrame, threshold: float, confidence: float
) -> plt.Figure:
    """Test accuracy and train loss per condition: mean with CI band, faint per-seed traces,
    and the first accuracy threshold as a dotted line.

    curves: rows (variant, epoch) with columns ``<metric>_mean``, ``<metric>_lo``, ``<metric>_hi``
    for metric in (val_accuracy, loss); histories: the long per-epoch table of the runs to
    trace (the report passes the runs that did not diverge, whose losses would set the scale).
    """
    variants = list(dict.fromkeys(curves["condition"]))
    inside = len(variants) <= _INSIDE_LEGEND
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    # fixed legend corners, where the curves leave room (accuracy rises away from the lower
    # right, the loss falls away from the upper right): matplotlib's "best" tests every seed's
    # trace and cost seconds per figure
    for ax, metric, ylabel, title, corner in (
        (axes[0], "val_accuracy", "test accuracy (fraction)", "Test accuracy", "lower right"),
        (axes[1], "loss", "train loss (binary cross-entropy)", "Training loss", "upper right"),
    ):
        for v in variants:
            c = colour(v, variants)
            for _, run in histories[histories["condition"] == v].groupby("seed"):
                ax.plot(run["epoch"], run[metric], color=c, alpha=0.08, lw=0.7)
            cv = curves[curves["condition"] == v]
            ax.fill_between(
                cv["epoch"], cv[f"{metric}_lo"], cv[f"{metric}_hi"], color=c, alpha=0.25
            )
            ax.plot(cv["epoch"], cv[f"{metric}_mean"], color=c, lw=2, label=v)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title}: mean, {confidence:.0%} CI band, faint: seeds", fontsize=10)
        ax.grid(alpha=0.3)
        if inside:
            ax.legend(title="condition", fontsize=8, loc=corner)
    axes[0].axhline(threshold, color="grey", ls=":", lw=1)
    if histories["loss"].max() > 10:  # a run that blew up without diverging: keep the rest visible
        axes[1].set_yscale("log")
        axes[1].set_ylabel("train loss (binary cross-entropy, log scale)")
    if inside:
        fig.tight_layout()
        return fig
    ncol = -(-len(variants) // 14)
    fig.set_size_inches(11 + 1.9 * ncol, 4.6)
    fig.tight_layout(rect=(0, 0, 11 / (11 + 1.9 * ncol), 1))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, title="condition", fontsize=7, ncol=ncol, loc="center right")
    return fig


def final_accuracy(
    runs: pd.DataFrame, summary: pd.DataFrame, path: str | Path, confidence: float
) -> None:
    """Strip plot of final test accuracy per condition with the mean and its CI."""
    variants = list(summary["condition"])
    runs = runs[~runs["diverged"]]
    fig, ax = plt.subplots(figsize=(max(7, 1.6 * len(variants)), 4))
    rng = np.random.default_rng(0)
    for i, v in enumerate(variants):
        acc = runs.loc[runs["condition"] == v, "test_accuracy"].to_numpy()
        ax.scatter(
            i + rng.uniform(-0.15, 0.15, len(acc)),
            acc,
            color=colour(v, variants),
            alpha=0.6,
            s=18,
            label=v,
        )
        row = summary[summary["condition"] == v].iloc[0]
        ax.errorbar(
            i + 0.3,
            row["test_accuracy_mean"],
            yerr=[
                [row["test_accuracy_mean"] - row["test_accuracy_ci_low"]],
                [row["test_accuracy_ci_high"] - row["test_accuracy_mean"]],
            ],
            fmt="o",
            color="black",
            capsize=4,
        )
    ax.set_xticks(range(len(variants)), variants, fontsize=8)
    ax.set_xlabel("condition")
    ax.set_ylabel("final test accuracy (fraction)")
    ax.set_title(f"Final test accuracy per seed (black: mean with {confidence:.0%} CI)")
    ax.grid(alpha=0.3, axis="y")
    _save(fig, path)


def accuracy_ecdf(runs: pd.DataFrame, path: str | Path) -> None:
    """Empirical CDF of final test accuracy across seeds, one line per condition."""
    runs = runs[~runs["diverged"]]
    variants = list(dict.fromkeys(runs["condition"]))
    fig, ax = plt.subplots(figsize=(7, 4))
    for v in variants:
        acc = np.sort(runs.loc[runs["condition"] == v, "test_accuracy"].to_numpy())
        ax.step(
            acc,
            np.arange(1, len(acc) + 1) / len(acc),
            where="post",
            color=colour(v, variants),
            label=v,
            lw=2,
        )
    ax.set_xlabel("final test accuracy (fraction)")
    ax.set_ylabel("fraction of seeds at or below")
    ax.set_title("ECDF of final test accuracy across seeds")
    ax.grid(alpha=0.3)
    ax.legend(title="condition", fontsize=8)
    _save(fig, path)


def reached_fraction(reached: pd.DataFrame, threshold: float, path: str | Path) -> None:
    """Kaplan-Meier fraction of seeds whose test accuracy has reached ``threshold`` by each
    epoch. reached: columns condition, epoch, fraction.
    """
    variants = list(dict.fromkeys(reached["condition"]))
    fig, ax = plt.subplots(figsize=(7, 4))
    for v in variants:
        r = reached[reached["condition"] == v]
        ax.step(r["epoch"], r["fraction"], where="post", color=colour(v, variants), label=v, lw=2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("fraction of seeds")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"Seeds that have reached {threshold:.0%} test accuracy, by epoch")
    ax.grid(alpha=0.3)
    ax.legend(title="condition", fontsize=8)
    _save(fig, path)


def forest(comparisons: pd.DataFrame, path: str | Path, confidence: float) -> None:
    """Paired differences (A - B) with CIs, one panel per measure.

    comparisons: columns comparison, measure, mean_diff, diff_ci_low, diff_ci_high.
    """
    measures = list(dict.fromkeys(comparisons["measure"]))
    rows = int(comparisons.groupby("measure").size().max())
    height = max(3.2, 0.24 * rows + 1.4)  # many comparisons: a row per label, readable
    fig, axes = plt.subplots(
        1, len(measures), figsize=(4.2 * len(measures) + 2.5, height), squeeze=False
    )
    for ax, m in zip(axes[0], measures, strict=True):
        c = comparisons[comparisons["measure"] == m].reset_index(drop=True)
        y = np.arange(len(c))[::-1]
        ax.errorbar(
            c["mean_diff"],
            y,
            xerr=[c["mean_diff"] - c["diff_ci_low"], c["diff_ci_high"] - c["mean_diff"]],
            fmt="o",
            color="black",
            capsize=4,
        )
        ax.axvline(0, color="grey", ls="--", lw=1)
        ax.set_yticks(y, c["comparison"])
        unit = "epochs" if m.startswith("epochs_to") else "fraction"
        ax.set_xlabel(f"paired difference in {m} ({unit})")
        ax.set_title(m)
        ax.grid(alpha=0.3, axis="x")
    fig.suptitle(f"Paired differences between conditions (mean, {confidence:.0%} CI)")
    _save(fig, path)


#: How each evaluation of the test split is labelled (bnstudy.metrics.EXTRA_METRICS).
EVALUATIONS = {
    "": "moving statistics, momentum 0.99 (Keras)",
    "_m90": "moving statistics, momentum 0.9",
    "_pop": "population statistics of the training set",
}


def evaluation_curves(
    curves: pd.DataFrame, path: str | Path, threshold: float, confidence: float
) -> None:
    """Mean test accuracy per condition under each BN evaluation (one panel each), with CI
    bands and the first threshold; the same trained weights in every panel."""
    variants = list(dict.fromkeys(curves["condition"]))
    modes = [s for s in EVALUATIONS if f"val_accuracy{s}_mean" in curves]
    fig, axes = plt.subplots(1, len(modes), figsize=(5 * len(modes), 4), sharey=True)
    for ax, s in zip(np.atleast_1d(axes), modes, strict=True):
        metric = f"val_accuracy{s}"
        for v in variants:
            c, cv = colour(v, variants), curves[curves["condition"] == v]
            ax.fill_between(
                cv["epoch"], cv[f"{metric}_lo"], cv[f"{metric}_hi"], color=c, alpha=0.25
            )
            ax.plot(cv["epoch"], cv[f"{metric}_mean"], color=c, lw=2, label=v)
        ax.axhline(threshold, color="grey", ls=":", lw=1)
        ax.set_xlabel("epoch")
        ax.set_title(f"Test accuracy, {EVALUATIONS[s]}", fontsize=9)
        ax.grid(alpha=0.3)
    first = np.atleast_1d(axes)[0]
    first.set_ylabel(f"test accuracy (mean, {confidence:.0%} CI)")
    first.legend(title="condition", fontsize=8)
    _save(fig, path)


def dataset_scatter(x_train, y_train, x_test, y_test, path: str | Path, title: str) -> None:
    """The two features of a dataset's training and test splits, coloured by class."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), sharex=True, sharey=True)
    for ax, x, y, split in (
        (axes[0], x_train, y_train, "train"),
        (axes[1], x_test, y_test, "test"),
    ):
        for cls, c in ((0, "#1f77b4"), (1, "#ff7f0e")):
            pts = x[y == cls]
            ax.scatter(pts[:, 0], pts[:, 1], s=6, color=c, alpha=0.7, label=f"class {cls}")
        ax.set_title(f"{split} split ({len(y)} points)", fontsize=10)
        ax.set_xlabel("feature 1")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("feature 2")
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def decision_boundaries(b: dict[str, np.ndarray], path: str | Path) -> None:
    """One panel per condition: its typical seed's probability of class 1 on the grid (shaded),
    the 0.5 contour (the decision boundary, in the condition's colour) and the test points by
    class. b: :func:`bnstudy.boundaries.boundaries`'s arrays (prob (C, n, n), xs, ys, ...)."""
    names = [str(n) for n in b["conditions"]]
    k = len(names)
    fig, axes = plt.subplots(1, k, figsize=(4.2 * k, 4.4), sharex=True, sharey=True)
    axes = np.atleast_1d(axes)
    gx, gy = np.meshgrid(b["xs"], b["ys"])
    x, y = b["x_test"], b["y_test"]
    shade = None
    for ax, i, name in zip(axes, range(k), names, strict=True):
        prob = b["prob"][i]
        if np.isfinite(prob).all():
            levels = np.linspace(0, 1, 11)
            shade = ax.contourf(gx, gy, prob, levels=levels, cmap="RdBu_r", alpha=0.35)
            ax.contour(gx, gy, prob, levels=[0.5], colors=[colour(name, names)], linewidths=2)
            title = f"{name}: seed {int(b['seeds'][i])}, test acc {b['test_accuracy'][i]:.3f}"
        else:
            title = f"{name}: every seed diverged"
        for cls, c in ((0, "#1f77b4"), (1, "#ff7f0e")):
            pts = x[y == cls]
            ax.scatter(pts[:, 0], pts[:, 1], s=5, color=c, alpha=0.6, label=f"test, class {cls}")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("feature 1")
        ax.grid(alpha=0.2)
    axes[0].set_ylabel("feature 2")
    axes[0].legend(fontsize=7, loc="upper right")
    fig.suptitle("Decision boundary (P = 0.5) of each condition's typical seed", fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.92, 1))
    if shade is not None:
        fig.colorbar(shade, cax=fig.add_axes((0.935, 0.15, 0.012, 0.7)), label="P(class 1)")
    _write(fig, path)
