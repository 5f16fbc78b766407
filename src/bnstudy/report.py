"""reports/<study>/report.md and figures/: one study written up as a results section.

Every number printed comes from the study's tables and config: the confidence level, the
thresholds, the resamples, the published values and the claims.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from bnstudy import plots, stats
from bnstudy.aggregate import pct
from bnstudy.atomic import write_text
from bnstudy.boundaries import load_boundaries
from bnstudy.data import dataset_file, load_dataset
from bnstudy.paths import CLAIMS_DIR, REPORTS_DIR, RESULTS_DIR
from bnstudy.report_sweeps import _f, _n, _table, extra_md
from bnstudy.results import load_results
from bnstudy.studies import Condition


def _p(p: float) -> str:
    """0.0001 -> '< 0.001'."""
    if p is None or math.isnan(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _ci(lo: float, hi: float, nd: int = 3) -> str:
    return f"[{_f(lo, nd)}, {_f(hi, nd)}]"


def conditions_md(conds: list[Condition]) -> str:
    """What each condition changes: the model/data/train keys that differ between them."""
    flat = {c.name: pd.json_normalize(c.identity()).iloc[0].to_dict() for c in conds}
    keys = [k for k in flat[conds[0].name] if len({str(f.get(k)) for f in flat.values()}) > 1]
    keys = [k for k in keys if not k.startswith("seed")]
    rows = [[c.name, c.key[:8], *(str(flat[c.name].get(k)) for k in keys)] for c in conds]
    return _table(["condition", "key", *keys], rows)


def summary_md(summary: pd.DataFrame, study: DictConfig) -> str:
    conf = f"{study.confidence:.0%}"
    head = [
        "condition",
        "seeds",
        f"diverged [{conf} CI]",
        "test acc mean ± std",
        f"{conf} CI",
        "median",
        "IQM",
        "IQR",
        "worst",
        f"train acc mean [{conf} CI]",
        *(f"epochs to {pct(t)}% median [CI] (never)" for t in study.thresholds),
        f"curve area [{conf} CI]",
        f"train-test gap [{conf} CI]",
    ]
    rows = []
    for _, r in summary.iterrows():
        rows.append(
            [
                r.condition,
                str(r.n_seeds),
                f"{r.n_diverged} {_ci(r.diverged_ci_low, r.diverged_ci_high, 2)}",
                f"{_f(r.test_accuracy_mean, 4)} ± {_f(r.get('test_accuracy_std'), 4)}",
                _ci(r.get("test_accuracy_ci_low"), r.get("test_accuracy_ci_high"), 4),
                _f(r.get("test_accuracy_median")),
                _f(r.get("test_accuracy_iqm")),
                _f(r.get("test_accuracy_iqr")),
                _f(r.get("test_accuracy_worst")),
                f"{_f(r.train_accuracy_mean, 4)} "
                f"{_ci(r.get('train_accuracy_ci_low'), r.get('train_accuracy_ci_high'))}",
                *(
                    f"{_f(r.get(f'epochs_to_{pct(t)}_median'), 0)} "
                    f"{_ci(r.get(f'epochs_to_{pct(t)}_median_ci_low'), r.get(f'epochs_to_{pct(t)}_median_ci_high'), 0)} "  # noqa: E501
                    f"({_n(r.get(f'epochs_to_{pct(t)}_n_censored'))})"
                    for t in study.thresholds
                ),
                f"{_f(r.auc_test_accuracy_mean)} "
                f"{_ci(r.get('auc_test_accuracy_ci_low'), r.get('auc_test_accuracy_ci_high'))}",
                f"{_f(r.gap_mean)} {_ci(r.get('gap_ci_low'), r.get('gap_ci_high'))}",
            ]
        )
    return _table(head, rows)


def comparisons_md(comparisons: pd.DataFrame, study: DictConfig) -> str:
    conf = f"{study.confidence:.0%}"
    head = [
        "comparison (A - B)",
        "measure",
        "seeds",
        f"mean paired difference [{conf} CI]",
        "t-test p (Holm)",
        "Wilcoxon p (Holm)",
        "P(A > B) [CI]",
        "Hedges' g",
    ]
    rows = [
        [
            c.comparison,
            c.measure,
            str(int(c.n)),
            f"{_f(c.mean_diff, 4)} {_ci(c.diff_ci_low, c.diff_ci_high, 4)}",
            _p(c.t_p_holm),
            _p(c.wilcoxon_p_holm),
            f"{_f(c.p_improve, 2)} {_ci(c.p_improve_low, c.p_improve_high, 2)}",
            _f(c.hedges_g, 2),
        ]
        for c in comparisons.itertuples()
    ]
    return _table(head, rows)


def published_md(summary: pd.DataFrame, study: DictConfig) -> str:
    conf = f"{study.confidence:.0%}"
    rows = []
    by = summary.set_index("condition")
    for cond, values in study.published.items():
        r = by.loc[cond]
        for m, v in values.items():
            lo, hi = r[f"{m}_ci_low"], r[f"{m}_ci_high"]
            rows.append(
                [
                    cond,
                    m,
                    f"{v:.3f}",
                    f"{_f(r[f'{m}_mean'], 4)} {_ci(lo, hi, 4)}",
                    "yes" if lo <= v <= hi else "no",
                ]
            )
    return _table(
        [
            "condition",
            "measure",
            "published (one run)",
            f"mean [{conf} CI]",
            "published inside CI?",
        ],
        rows,
    )


def evaluation_md(summary: pd.DataFrame, study: DictConfig) -> str:
    """Per condition and BN evaluation of the test split: final accuracy, curve area and the
    Kaplan-Meier median epochs to the first threshold (train.extra_eval studies)."""
    t = pct(study.thresholds[0])
    rows = []
    for _, r in summary.iterrows():
        for s, label in plots.EVALUATIONS.items():
            if f"test_accuracy{s}_mean" not in r:
                continue
            rows.append(
                [
                    r.condition,
                    label,
                    f"{_f(r[f'test_accuracy{s}_mean'], 4)} "
                    f"{_ci(r.get(f'test_accuracy{s}_ci_low'), r.get(f'test_accuracy{s}_ci_high'), 4)}",  # noqa: E501
                    _f(r.get(f"auc_test_accuracy{s}_mean")),
                    f"{_f(r.get(f'epochs_to_{t}{s}_median'), 0)} "
                    f"{_ci(r.get(f'epochs_to_{t}{s}_median_ci_low'), r.get(f'epochs_to_{t}{s}_median_ci_high'), 0)} "  # noqa: E501
                    f"({_n(r.get(f'epochs_to_{t}{s}_n_censored'))})",
                ]
            )
    conf = f"{study.confidence:.0%}"
    head = [
        "condition",
        "BN statistics at evaluation",
        f"final test acc [{conf} CI]",
        "curve area",
        f"epochs to {t}% median [CI] (never)",
    ]
    return f"""## The same runs evaluated three ways

Every epoch the test split was evaluated with the model's moving BN statistics (momentum
0.99, what Keras reports), with moving statistics kept at momentum 0.9 from the same batches,
and with population statistics: each BN layer's input mean and variance over the whole
training set after the epoch. Moving statistics never affect training, so the three rows of a
condition are the same trained weights; without BN they coincide.

{_table(head, rows)}

![Test accuracy under each evaluation](figures/evaluation_curves.png)
"""


def layers_md(summary: pd.DataFrame, study: DictConfig) -> str:
    """Per condition: the hidden block's output statistics after training and their drift
    (train.layer_stats studies)."""
    cols = [
        ("hidden_mean_train", "mean (training mode)"),
        ("hidden_std_train", "std (training mode)"),
        ("hidden_mean_infer", "mean (inference)"),
        ("hidden_std_infer", "std (inference)"),
        ("hidden_drift_mean", "drift per epoch"),
    ]
    rows = [
        [r.condition]
        + [
            f"{_f(r[f'{c}_mean'], 3)} {_ci(r.get(f'{c}_ci_low'), r.get(f'{c}_ci_high'))}"
            for c, _ in cols
        ]
        for _, r in summary.iterrows()
    ]
    return f"""## The hidden layer's outputs

What the output layer receives (the hidden block's output), computed on the whole training
set after the last epoch: the per-unit mean and standard deviation, averaged over units, with
BN in training mode (that batch's statistics) and in inference mode (moving statistics).
Drift: the mean over units of |change of the per-unit mean| + |change of the per-unit std|
(inference mode) from one epoch to the next, averaged over the epochs. Means over seeds with
{study.confidence:.0%} CIs.

{_table(["condition", *(label for _, label in cols)], rows)}
"""


def boundaries_md(study: DictConfig, figs) -> str:
    """The decision-boundaries section: draws figures/boundaries.png from
    results/<study>/boundaries.npz (the train stage's) and says which seed each panel shows."""
    b = load_boundaries(RESULTS_DIR / study.name)
    if b is None:
        return "## Decision boundaries\n\n(no results/boundaries.npz: rerun the train stage)\n"
    plots.decision_boundaries(b, figs / "boundaries.png")
    rows = [
        f"| {c} | {_f(m, 4)} | {s} | {_f(a, 4)} |"
        for c, s, a, m in zip(
            b["conditions"], b["seeds"], b["test_accuracy"], b["median"], strict=True
        )
    ]
    n = len(b["xs"])
    return f"""## Decision boundaries of a typical seed

One seed per condition, the **typical** one: the seed whose final test accuracy is closest to
the condition's median over its seeds that did not diverge (ties: the lowest seed), so the
picture is neither a lucky nor an unlucky run. Its trained model (the weights stored on the
condition's MLflow parent run) is evaluated in inference mode (BN with its moving statistics)
on a {n} x {n} grid over the data's range; the line is where it predicts probability 0.5, the
shading its probability of class 1, the points the test split.

| condition | median test accuracy | typical seed | its test accuracy |
| --- | --- | --- | --- |
{chr(10).join(rows)}

![Decision boundaries of a typical seed per condition](figures/boundaries.png)
"""


def claims_md(claims: pd.DataFrame) -> str:
    rows = [[c.id, c.reading, f"**{c.verdict}**", c.evidence] for c in claims.itertuples()]
    return _table(["claim", "our reading", "verdict", "deciding numbers"], rows)


def build_report(cfg: DictConfig, conds: list[Condition]) -> str:
    """Draw the figures from reports/<study>/*.csv and write report.md; returns the markdown."""
    study = cfg.study
    out = REPORTS_DIR / study.name
    runs = pd.read_csv(out / "runs.csv")
    summary = pd.read_csv(out / "summary.csv")
    comparisons = pd.read_csv(out / "comparisons.csv")
    curves = pd.read_csv(out / "curves.csv")
    reached = pd.read_csv(out / "reached.csv")
    claims = pd.read_csv(CLAIMS_DIR / f"{study.name}.csv")
    history, _ = load_results(study.name)
    conf, t0 = float(study.confidence), float(study.thresholds[0])
    figs = out / "figures"
    traced = history.merge(runs.loc[~runs["diverged"], ["condition", "seed"]])
    plots.learning_curves(curves, traced, figs / "learning_curves.png", t0, conf)
    plots.final_accuracy(runs, summary, figs / "final_accuracy.png", conf)
    plots.accuracy_ecdf(runs, figs / "accuracy_ecdf.png")
    plots.reached_fraction(reached, t0, figs / "reached.png")
    names = {
        "learning_curves": "Learning curves",
        "final_accuracy": "Final test accuracy",
        "accuracy_ecdf": "ECDF of final test accuracy",
        "reached": f"Seeds at {t0:.0%} by epoch",
    }
    if len(comparisons):
        plots.forest(comparisons, figs / "forest.png", conf)
        names["forest"] = "Paired differences"
    data = conds[0].data
    ds = load_dataset(dataset_file(study.name, data))
    if ds.x_train.shape[1] == 2:
        title = f"{data.name} ({conds[0].name}'s data: {data.n_samples} points, noise {data.noise})"
        plots.dataset_scatter(
            ds.x_train, ds.y_train, ds.x_test, ds.y_test, figs / "data.png", title
        )
        names = {"data": "The dataset", **names}
    n_test = data.n_samples - data.n_train
    ok = runs[~runs["diverged"]]
    mean_acc = float(np.mean(ok["test_accuracy"])) if len(ok) else math.nan
    floor = stats.noise_floor(mean_acc, n_test) if len(ok) else math.nan
    seeds = list(study.seeds)
    fit = ok.groupby("condition", sort=False)["fit_accuracy"].mean()
    fig_md = "\n\n".join(f"![{title}](figures/{n}.png)" for n, title in names.items())
    md = f"""# {study.title or study.name}: results over {len(seeds)} seeds

Study `{study.name}` (conf/study/{study.name}.yaml): {len(conds)} conditions, each trained
with seeds {min(seeds)}..{max(seeds)}, shared across conditions (seed s gives every condition
the same initial weights where shapes agree, and the same batch order: comparisons are paired).
Each MLflow run is in the experiment `bnstudy/{study.name}`, tagged `condition` and `seed`.
Confidence intervals are {conf:.0%} bootstrap intervals ({study.n_resamples} resamples, fixed
random state: BCa for means, percentile for learning-curve bands); medians of epochs to a
threshold are Kaplan-Meier medians (runs that never get there are right-censored at the last
epoch), with their {conf:.0%} CI from the log-log band of the survival function. Test-set
noise floor: one accuracy near {_f(mean_acc)} measured on {n_test} points has a binomial
standard error of {_f(floor, 4)} ({_f(floor * 100, 1)} points).

## Conditions

{conditions_md(conds)}

## Table 1: per condition

Train accuracy is the trained model evaluated on the training set (inference mode, as the
article's `model.evaluate`). A run diverged when its loss became non-finite or its final
training accuracy stayed within {study.chance_margin} of chance; diverged runs are counted
(with a Wilson interval) and left out of every other statistic. "(never)" counts seeds that
did not reach the threshold within the epochs trained.

{summary_md(summary, study)}

## Table 2: paired comparisons

Over the seeds both conditions ran without diverging. For epochs to {pct(t0)}%, the paired
difference is in restricted time to the threshold, min(T, epochs): a seed that never got there
counts as the number of epochs (a paired restricted mean). p-values are Holm-adjusted across
the comparisons of each measure.

{comparisons_md(comparisons, study) if len(comparisons) else "(no comparisons)"}
"""
    if study.published:
        md += f"""
## Published single runs against the multi-seed means

{published_md(summary, study)}
"""
    if "test_accuracy_pop_mean" in summary:
        plots.evaluation_curves(curves, figs / "evaluation_curves.png", t0, conf)
        md += "\n" + evaluation_md(summary, study)
    if "hidden_drift_mean_mean" in summary:
        md += "\n" + layers_md(summary, study)
    if study.get("boundaries", False):
        md += "\n" + boundaries_md(study, figs)
    extra = extra_md(study, out, runs, summary)
    if extra:
        md += "\n" + extra
    md += f"""
## Figures

{fig_md}

## Claims

Each claim's test is configured in conf/study/{study.name}.yaml; the ledger across studies
is [../claims.md](../claims.md).

{claims_md(claims) if len(claims) else "(this study tests no claim)"}

The running training accuracy that Keras reports during `fit` (BN in training mode, batch
statistics) ends at: {", ".join(f"{k} {v:.3f}" for k, v in fit.items())}.
"""
    write_text(out / "report.md", md)
    return md
