"""reports/report.md and reports/figures/: the study written up as a results section."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from bnstudy import plots, stats
from bnstudy.aggregate import pct
from bnstudy.atomic import write_text
from bnstudy.paths import FIGURES_DIR, REPORTS_DIR
from bnstudy.results import load_results

#: The article's single-run results (train, test accuracy).
PUBLISHED = {"baseline": (0.838, 0.846), "bn_after": (0.846, 0.848), "bn_before": (0.826, 0.830)}


def _f(x: float, nd: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if math.isinf(x):
        return "never" if x > 0 else "-inf"
    return f"{x:.{nd}f}"


def _p(p: float, name: str = "") -> str:
    """0.0001 -> '< 0.001'; with ``name``: 'p < 0.001' or 'p = 0.092'."""
    if p is None or math.isnan(p):
        return f"{name} n/a".strip()
    text = "< 0.001" if p < 0.001 else f"= {p:.3f}"
    return f"{name} {text}" if name else text.removeprefix("= ")


def _ci(lo: float, hi: float, nd: int = 3) -> str:
    return f"[{_f(lo, nd)}, {_f(hi, nd)}]"


def _verdict_from_ci(lo: float, hi: float, positive: bool) -> str:
    """Direction claim on a paired difference: supported if the CI excludes 0 on the claimed
    side, contradicted if it excludes 0 on the other side, else not resolved."""
    if positive:
        return "supported" if lo > 0 else "contradicted" if hi < 0 else "not resolved"
    return "supported" if hi < 0 else "contradicted" if lo > 0 else "not resolved"


def _cmp(comparisons: pd.DataFrame, a: str, b: str, measure: str) -> pd.Series | None:
    if comparisons.empty:
        return None
    c = comparisons
    m = c[(c["a"] == a) & (c["b"] == b) & (c["measure"] == measure)]
    return None if m.empty else m.iloc[0]


def verdicts(summary: pd.DataFrame, comparisons: pd.DataFrame, t0: float) -> list[tuple]:
    """(claim, verdict, evidence sentence) for each published claim that the variants allow."""
    out = []
    acc = "test_accuracy"
    c = _cmp(comparisons, "bn_after", "baseline", acc)
    if c is not None:
        v = _verdict_from_ci(c.diff_ci_low, c.diff_ci_high, positive=True)
        out.append(
            (
                "bn_after gives higher test accuracy than baseline",
                v,
                f"paired difference {_f(c.mean_diff, 4)}, 95% CI "
                f"{_ci(c.diff_ci_low, c.diff_ci_high, 4)}, Holm-adjusted t-test "
                f"{_p(c.t_p_holm, 'p')}, P(bn_after > baseline) = {_f(c.p_improve, 2)}.",
            )
        )
    c = _cmp(comparisons, "bn_before", "baseline", acc)
    if c is not None:
        v = _verdict_from_ci(c.diff_ci_low, c.diff_ci_high, positive=False)
        out.append(
            (
                "bn_before is worse than baseline",
                v,
                f"paired difference {_f(c.mean_diff, 4)}, 95% CI "
                f"{_ci(c.diff_ci_low, c.diff_ci_high, 4)}, Holm-adjusted t-test "
                f"{_p(c.t_p_holm, 'p')}, P(bn_before > baseline) = "
                f"{_f(c.p_improve, 2)}.",
            )
        )
    c = _cmp(comparisons, "bn_after", "baseline", f"epochs_to_{pct(t0)}")
    rows = summary.set_index("variant")
    if c is not None:
        col = f"epochs_to_{pct(t0)}"
        after, base = rows.loc["bn_after"], rows.loc["baseline"]
        a_lo, a_hi = after[f"{col}_ci_low"], after[f"{col}_ci_high"]
        b_lo, b_hi = base[f"{col}_ci_low"], base[f"{col}_ci_high"]
        v = "supported" if a_hi <= 20 else "contradicted" if a_lo > 20 else "not resolved"
        out.append(
            (
                f"bn_after passes {t0:.0%} test accuracy within ~20 epochs",
                v,
                f"median epochs to {t0:.0%} over seeds: {_f(after[f'{col}_median'], 0)}, "
                f"95% CI {_ci(a_lo, a_hi, 0)} ({int(after[f'{col}_censored'])} seeds "
                "never got there).",
            )
        )
        inside = b_lo >= 30 and b_hi <= 40
        v = (
            "supported"
            if inside
            else "contradicted"
            if b_hi < 30 or b_lo > 40
            else ("not resolved")
        )
        out.append(
            (
                f"baseline needs 30-40 epochs to pass {t0:.0%}",
                v,
                f"median {_f(base[f'{col}_median'], 0)}, 95% CI {_ci(b_lo, b_hi, 0)} "
                f"({int(base[f'{col}_censored'])} seeds never got there).",
            )
        )
        v = _verdict_from_ci(c.diff_ci_low, c.diff_ci_high, positive=False)
        out.append(
            (
                f"bn_after passes {t0:.0%} sooner than baseline",
                v,
                f"paired difference {_f(c.mean_diff, 1)} epochs, 95% CI "
                f"{_ci(c.diff_ci_low, c.diff_ci_high, 1)}, Holm-adjusted Wilcoxon "
                f"{_p(c.wilcoxon_p_holm, 'p')}.",
            )
        )
    c = _cmp(comparisons, "bn_after", "bn_before", acc)
    if c is not None:
        v = _verdict_from_ci(c.diff_ci_low, c.diff_ci_high, positive=True)
        out.append(
            (
                "BN is more effective after the ReLU than before it",
                v,
                f"paired difference bn_after - bn_before {_f(c.mean_diff, 4)}, 95% CI "
                f"{_ci(c.diff_ci_low, c.diff_ci_high, 4)}, Holm-adjusted t-test "
                f"{_p(c.t_p_holm, 'p')}.",
            )
        )
    return out


def _summary_md(summary: pd.DataFrame, thresholds: list[float]) -> str:
    t = [pct(x) for x in thresholds]
    head = (
        "| variant | seeds | test acc mean ± std | 95% CI | median | IQM | worst | failed | "
        "train acc mean [CI] | "
        + " | ".join(f"epochs to {x}% median [CI] (never)" for x in t)
        + " | curve area [CI] | train-test gap [CI] |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for _, r in summary.iterrows():
        ep = " | ".join(
            f"{_f(r[f'epochs_to_{x}_median'], 0)} "
            f"{_ci(r[f'epochs_to_{x}_ci_low'], r[f'epochs_to_{x}_ci_high'], 0)} "
            f"({int(r[f'epochs_to_{x}_censored'])})"
            for x in t
        )
        lines.append(
            f"| {r.variant} | {r.n_seeds} | {_f(r.test_accuracy_mean, 4)} ± "
            f"{_f(r.test_accuracy_std, 4)} | "
            f"{_ci(r.test_accuracy_ci_low, r.test_accuracy_ci_high, 4)}"
            f" | {_f(r.test_accuracy_median, 3)} | {_f(r.test_accuracy_iqm, 3)} | "
            f"{_f(r.test_accuracy_worst, 3)} | {r.n_failed} | {_f(r.train_accuracy_mean, 4)} "
            f"{_ci(r.train_accuracy_ci_low, r.train_accuracy_ci_high, 3)} | {ep} | "
            f"{_f(r.auc_test_accuracy_mean, 3)} "
            f"{_ci(r.auc_test_accuracy_ci_low, r.auc_test_accuracy_ci_high, 3)} | "
            f"{_f(r.gap_mean, 3)} {_ci(r.gap_ci_low, r.gap_ci_high, 3)} |"
        )
    return "\n".join(lines)


def _comparisons_md(comparisons: pd.DataFrame) -> str:
    head = (
        "| comparison (A - B) | measure | mean paired difference [95% CI] | t-test p (Holm) | "
        "Wilcoxon p (Holm) | P(A > B) [CI] | Hedges' g |"
    )
    lines = [head, "|---|---|---|---|---|---|---|"]
    for _, c in comparisons.iterrows():
        lines.append(
            f"| {c.comparison} | {c.measure} | {_f(c.mean_diff, 4)} "
            f"{_ci(c.diff_ci_low, c.diff_ci_high, 4)} | {_p(c.t_p_holm)} | "
            f"{_p(c.wilcoxon_p_holm)} | {_f(c.p_improve, 2)} "
            f"{_ci(c.p_improve_low, c.p_improve_high, 2)} | {_f(c.hedges_g, 2)} |"
        )
    return "\n".join(lines)


def _published_md(summary: pd.DataFrame) -> str:
    lines = [
        "| variant | published train | measured train mean [95% CI] | published test | "
        "measured test mean [95% CI] | published test inside CI? |",
        "|---|---|---|---|---|---|",
    ]
    for _, r in summary.iterrows():
        if r.variant not in PUBLISHED:
            continue
        ptrain, ptest = PUBLISHED[r.variant]
        inside = r.test_accuracy_ci_low <= ptest <= r.test_accuracy_ci_high
        lines.append(
            f"| {r.variant} | {ptrain:.3f} | {_f(r.train_accuracy_mean, 4)} "
            f"{_ci(r.train_accuracy_ci_low, r.train_accuracy_ci_high, 4)} | {ptest:.3f} | "
            f"{_f(r.test_accuracy_mean, 4)} "
            f"{_ci(r.test_accuracy_ci_low, r.test_accuracy_ci_high, 4)} | "
            f"{'yes' if inside else 'no'} |"
        )
    return "\n".join(lines)


def build_report(cfg: DictConfig) -> str:
    """Draw the figures from reports/*.csv and write reports/report.md; returns the markdown."""
    runs = pd.read_csv(REPORTS_DIR / "runs.csv")
    summary = pd.read_csv(REPORTS_DIR / "summary.csv")
    comparisons = pd.read_csv(REPORTS_DIR / "comparisons.csv")
    curves = pd.read_csv(REPORTS_DIR / "curves.csv")
    reached = pd.read_csv(REPORTS_DIR / "reached.csv")
    history, _ = load_results(list(cfg.variants))
    t0 = float(cfg.study.thresholds[0])
    figs = {
        "learning_curves": "Learning curves",
        "final_accuracy": "Final test accuracy",
        "accuracy_ecdf": "ECDF of final test accuracy",
        "reached": f"Seeds at {t0:.0%} by epoch",
        "forest": "Paired differences",
    }
    plots.learning_curves(curves, history, FIGURES_DIR / "learning_curves.png")
    plots.final_accuracy(runs, summary, FIGURES_DIR / "final_accuracy.png")
    plots.accuracy_ecdf(runs, FIGURES_DIR / "accuracy_ecdf.png")
    plots.reached_fraction(reached, t0, FIGURES_DIR / "reached.png")
    if len(comparisons):
        plots.forest(comparisons, FIGURES_DIR / "forest.png")
    else:
        figs.pop("forest")
    n_test = cfg.data.n_samples - cfg.data.n_train
    mean_acc = float(np.mean(runs["test_accuracy"]))
    floor = stats.noise_floor(mean_acc, n_test)
    seeds = int(summary["n_seeds"].max())
    verdict_lines = "\n".join(
        f"- **{claim}: {v}.** {why}" for claim, v, why in verdicts(summary, comparisons, t0)
    )
    fig_md = "\n\n".join(f"![{title}](figures/{name}.png)" for name, title in figs.items())
    md = f"""# Batch normalization placement: results over {seeds} seeds

Each variant of the MLP was trained {cfg.train.epochs} epochs on the two-circles problem
({cfg.data.n_train} training / {n_test} test points) with seeds
{min(cfg.study.seeds)}..{max(cfg.study.seeds)}, shared across variants (seed s gives every
variant the same batch order: comparisons are paired). Engine: `{cfg.train.engine}`.
Confidence intervals are {cfg.study.confidence:.0%} bootstrap intervals (BCa for means, percentile
for medians), {cfg.study.n_resamples} resamples, fixed random state. Test-set noise floor: one
accuracy near {mean_acc:.3f} measured on {n_test} points has a binomial standard error of
{floor:.4f} ({floor * 100:.1f} points), so a single run cannot resolve differences of a
point or two.

## Table 1: per variant

Train accuracy is the trained model evaluated on the training set (inference mode, as the
article's `model.evaluate`). "never" counts seeds that did not reach the threshold in
{cfg.train.epochs} epochs; they are kept as censored, not dropped. Failed = test accuracy
< {cfg.study.failure_accuracy}.

{_summary_md(summary, list(cfg.study.thresholds))}

## Table 2: paired comparisons

For epochs-to-{pct(t0)}%, a seed that never got there counts as {cfg.train.epochs} + 1 epochs.
p-values are Holm-adjusted across the comparisons of each measure.

{_comparisons_md(comparisons) if len(comparisons) else "(fewer than two variants)"}

## Published single runs against the multi-seed means

{_published_md(summary)}

## Figures

{fig_md}

## Verdicts on the published claims (95%)

{verdict_lines or "- (the claims need the baseline, bn_after and bn_before variants)"}

During training, the running training accuracy that Keras reports (BN in training mode, batch
statistics) ends at {_fit_line(summary, runs)}; the article's "hovers around 70-75%" for
bn_before refers to this number, not to the evaluated training accuracy in Table 1.
"""
    write_text(REPORTS_DIR / "report.md", md)
    return md


def _fit_line(summary: pd.DataFrame, runs: pd.DataFrame) -> str:
    means = runs.groupby("variant", sort=False)["fit_accuracy"].mean()
    return ", ".join(f"{v} {means[v]:.3f}" for v in summary["variant"])
