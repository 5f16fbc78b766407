"""Runs -> tables of one study: reports/<study>/{runs,summary,comparisons,curves,reached}.csv,
claims.csv and metrics.json.

Every number in the tables is computed from runs.csv (and the curves from the per-epoch
histories) by the functions below, so a test can recompute them. Diverged runs are counted
per condition (with a Wilson interval) and left out of every other statistic.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from bnstudy import stats
from bnstudy.atomic import write_text, write_with
from bnstudy.paths import CLAIMS_DIR, REPORTS_DIR
from bnstudy.results import DIGITS, load_results
from bnstudy.studies import Condition

#: Measures of one run that comparisons and claims can name (besides epochs_to_<pct>).
MEASURES = (
    "test_accuracy",
    "train_accuracy",
    "fit_accuracy",
    "auc_test_accuracy",
    "gap",
    "test_loss",
    "validation_accuracy",
    "validation_loss",
)
#: Test accuracy under other BN statistics (``train.extra_eval``): each suffix gives
#: test_accuracy<s>, test_loss<s>, auc_test_accuracy<s> and epochs_to_<pct><s> per run.
EVAL_SUFFIXES = ("_m90", "_pop")
#: With ``train.layer_stats``: the hidden block's output statistics in the last epoch, and
#: hidden_drift_mean, the mean of hidden_drift over the epochs (bnstudy.metrics.LAYER_METRICS).
LAYER_MEASURES = (
    "hidden_mean_train",
    "hidden_std_train",
    "hidden_mean_infer",
    "hidden_std_infer",
    "hidden_drift_mean",
)


def pct(threshold: float) -> str:
    """0.8 -> '80': the suffix of the epochs-to-threshold columns."""
    return f"{round(threshold * 100):d}"


def epochs_to(curve: np.ndarray, threshold: float) -> float:
    """First epoch (1-based) at which ``curve`` (epochs,) reaches ``threshold``; NaN if never."""
    hits = np.flatnonzero(np.asarray(curve) >= threshold)
    return float(hits[0] + 1) if hits.size else float("nan")


def runs_table(
    history: pd.DataFrame, finals: pd.DataFrame, thresholds: list[float], conds: list[Condition]
) -> pd.DataFrame:
    """One row per (condition, seed) from the per-epoch history and the final evaluations.

    Columns: condition, one column per axis (its label), seed, run_key, train_accuracy,
    test_accuracy, train_loss, test_loss, fit_accuracy, fit_loss, auc_test_accuracy,
    epochs_to_<pct> (NaN = never reached), gap (train - test accuracy), epochs, diverged,
    diverged_epoch (and validation_accuracy, validation_loss with a validation split).
    Metrics of a diverged run are those of its last epoch (maybe NaN).
    """
    labels = {c.name: c.labels for c in conds}
    rows = []
    for (cond, seed), h in history.groupby(["condition", "seed"], sort=False):
        h = h.sort_values("epoch")
        last = h.iloc[-1]
        row = {
            "condition": cond,
            **labels[cond],
            "seed": int(seed),
            "test_accuracy": last["val_accuracy"],
            "test_loss": last["val_loss"],
            "fit_accuracy": last["accuracy"],
            "fit_loss": last["loss"],
            "auc_test_accuracy": h["val_accuracy"].mean(),
            "epochs": int(last["epoch"]),
        }
        for s in ("", *EVAL_SUFFIXES):
            if f"val_accuracy{s}" not in h or h[f"val_accuracy{s}"].isna().all():
                continue
            if s:
                row[f"test_accuracy{s}"] = last[f"val_accuracy{s}"]
                row[f"test_loss{s}"] = last[f"val_loss{s}"]
                row[f"auc_test_accuracy{s}"] = h[f"val_accuracy{s}"].mean()
            for t in thresholds:
                row[f"epochs_to_{pct(t)}{s}"] = epochs_to(h[f"val_accuracy{s}"].to_numpy(), t)
        if "hidden_drift" in h and not h["hidden_drift"].isna().all():
            row |= {m: last[m] for m in LAYER_MEASURES[:-1]}
            row["hidden_drift_mean"] = h["hidden_drift"].mean()
        rows.append(row)
    val = [m for m in ("validation_accuracy", "validation_loss") if m in finals]
    keep = ["condition", "seed", "run_key", "train_accuracy", "train_loss", "diverged_epoch", *val]
    runs = pd.DataFrame(rows).merge(
        finals[keep],
        on=["condition", "seed"],
        how="left",
        validate="1:1",
    )
    runs["gap"] = runs["train_accuracy"] - runs["test_accuracy"]
    runs["diverged"] = runs["diverged_epoch"].notna()
    first = ["condition", *dict.fromkeys(k for c in conds for k in c.labels), "seed", "run_key"]
    first += ["train_accuracy", "test_accuracy", "train_loss", "test_loss"]
    return runs[first + [c for c in runs.columns if c not in first]]


def _mean_stats(x: np.ndarray, col: str, study: DictConfig) -> dict:
    if x.size == 0:
        return {f"{col}_mean": np.nan}
    lo, hi = stats.bootstrap_ci(x, confidence=study.confidence, n_resamples=study.n_resamples)
    return {
        f"{col}_mean": x.mean(),
        f"{col}_std": x.std(ddof=1) if len(x) > 1 else 0.0,
        f"{col}_ci_low": lo,
        f"{col}_ci_high": hi,
        f"{col}_median": float(np.median(x)),
        f"{col}_iqm": stats.iqm(x),
        f"{col}_iqr": float(np.subtract(*np.percentile(x, [75, 25]))),
        f"{col}_worst": x.min(),
    }


def runs_measures(runs: pd.DataFrame) -> list[str]:
    """The measures of a runs table, in order: MEASURES, the EVAL_SUFFIXES variants, the
    LAYER_MEASURES (those present), then every epochs_to_* column."""
    extra = [f"{m}{s}" for s in EVAL_SUFFIXES for m in ("test_accuracy", "test_loss")]
    extra += [f"auc_test_accuracy{s}" for s in EVAL_SUFFIXES]
    named = [*MEASURES, *extra, *LAYER_MEASURES]
    return [m for m in named if m in runs] + [c for c in runs if c.startswith("epochs_to_")]


def summary_table(runs: pd.DataFrame, study: DictConfig) -> pd.DataFrame:
    """One row per condition (in runs' order): divergences (Wilson CI), then accuracy, speed
    (Kaplan-Meier) and gap statistics with CIs over the runs that did not diverge."""
    conf = float(study.confidence)
    rows = []
    for cond, r in runs.groupby("condition", sort=False):
        k, n = int(r["diverged"].sum()), len(r)
        lo, hi = stats.wilson_ci(k, n, confidence=conf)
        row: dict = {
            "condition": cond,
            "n_seeds": n,
            "n_diverged": k,
            "diverged_rate": k / n,
            "diverged_ci_low": lo,
            "diverged_ci_high": hi,
        }
        ok = r[~r["diverged"]]
        for col in [c for c in runs_measures(runs) if not c.startswith("epochs_to_")]:
            row |= _mean_stats(ok[col].to_numpy(dtype=float), col, study)
        horizon = int(r["epochs"].max())
        for col in [c for c in runs_measures(runs) if c.startswith("epochs_to_")]:
            e = ok[col].fillna(np.inf).to_numpy(dtype=float)
            km = stats.km_summary(e, horizon, confidence=conf) if e.size else {}
            row |= {f"{col}_{k}": v for k, v in km.items()}
        rows.append(row)
    return pd.DataFrame(rows)


#: Claim kinds that compare two named conditions through the comparisons table.
_PAIRED = ("superiority", "equivalence")


def _rule(claim: DictConfig) -> str:
    """What a claim applies to conditions: its kind, or its rule for at_best / every."""
    return claim.rule if claim.kind in ("at_best", "every") else claim.kind


def comparison_pairs(
    study: DictConfig, conds: list[Condition], runs: pd.DataFrame | None = None
) -> list[tuple[str, str]]:
    """(A, B) condition names: each configured axis pair within every combination of the
    other axes, then the pairs that claims name (for ``every`` claims: the pair's conditions
    at each value of the axis; for ``at_best`` claims, given ``runs``: each group at its best
    value of the axis); without repeats."""
    from bnstudy.sweeps import group_of

    pairs = []
    for comp in study.comparisons:
        for a_label, b_label in comp.pairs:
            for c in conds:
                if c.labels.get(comp.axis) != a_label:
                    continue
                want = {**c.labels, comp.axis: b_label}
                pairs += [(c.name, d.name) for d in conds if d.labels == want]
    for cl in study.claims:
        if _rule(cl) not in _PAIRED:
            continue
        if cl.kind == "every":
            a, b = cl.pair
            for c in conds:
                if group_of(c.labels, cl.axis) != a:
                    continue
                pairs += [
                    (c.name, d.name)
                    for d in conds
                    if group_of(d.labels, cl.axis) == b and d.labels[cl.axis] == c.labels[cl.axis]
                ]
        elif cl.kind == "at_best":
            if runs is not None:
                from bnstudy.claims import best_pair

                pairs += [best] if (best := best_pair(cl, runs, study)) else []
        else:
            pairs.append((cl.a, cl.b))
    return list(dict.fromkeys(pairs))


def comparison_measures(study: DictConfig) -> list[str]:
    """Speed and accuracy measures every comparison reports, plus those claims name."""
    base = ["test_accuracy", f"epochs_to_{pct(study.thresholds[0])}", "auc_test_accuracy"]
    named = [cl.measure for cl in study.claims if _rule(cl) in _PAIRED]
    return list(dict.fromkeys(base + named))


def paired_values(runs: pd.DataFrame, a: str, b: str, measure: str) -> tuple:
    """(a values, b values) over the seeds both conditions ran without diverging.

    epochs_to_* become restricted times min(T, epochs): a paired comparison of restricted mean
    time to the threshold (never reached = the number of epochs).
    """
    ok = runs[~runs["diverged"]]
    seeds = sorted(
        set(ok.loc[ok["condition"] == a, "seed"]) & set(ok.loc[ok["condition"] == b, "seed"])
    )
    if not seeds:
        return np.array([]), np.array([])
    pair = ok.pivot(index="seed", columns="condition", values=measure).loc[seeds, [a, b]]
    if measure.startswith("epochs_to_"):
        horizon = int(runs["epochs"].max())
        pair = pair.apply(lambda col: stats.restricted_times(col.fillna(np.inf), horizon))
    pair = pair.dropna()
    return pair[a].to_numpy(float), pair[b].to_numpy(float)


def comparisons_table(
    runs: pd.DataFrame, study: DictConfig, conds: list[Condition]
) -> pd.DataFrame:
    """Paired comparisons (A - B over shared seeds) of every comparison measure; Holm-adjusted
    p-values across the comparisons of each measure (the family)."""
    rows = []
    for a, b in comparison_pairs(study, conds, runs):
        for m in comparison_measures(study):
            x, y = paired_values(runs, a, b, m)
            if x.size < 2:
                continue
            res = stats.paired_test(
                x, y, confidence=study.confidence, n_resamples=study.n_resamples
            )
            d = x - y
            rows.append(
                {
                    "comparison": f"{a} - {b}",
                    "a": a,
                    "b": b,
                    "measure": m,
                    **res,
                    "diff_sd": float(d.std(ddof=1)),
                }
            )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    for col in ("t_p", "wilcoxon_p"):
        table[f"{col}_holm"] = table.groupby("measure")[col].transform(
            lambda p: stats.holm(p.to_numpy())
        )
    return table


def curves_table(history: pd.DataFrame, runs: pd.DataFrame, study: DictConfig) -> pd.DataFrame:
    """Per (condition, epoch): mean and percentile-bootstrap CI over the non-diverged seeds of
    test accuracy, train loss, running train accuracy and test loss."""
    ok = runs.loc[~runs["diverged"], ["condition", "seed"]]
    history = history.merge(ok, on=["condition", "seed"])
    frames = []
    for cond, h in history.groupby("condition", sort=False):
        out = {"condition": cond}
        extra = [f"val_accuracy{s}" for s in EVAL_SUFFIXES if f"val_accuracy{s}" in h]
        for metric in ("val_accuracy", "loss", "accuracy", "val_loss", *extra):
            if h[metric].isna().all():
                continue
            w = h.pivot(index="seed", columns="epoch", values=metric)  # (seeds, epochs)
            lo, hi = stats.bootstrap_ci_columns(
                w.to_numpy(float), confidence=study.confidence, n_resamples=study.n_resamples
            )
            out |= {
                "epoch": w.columns.to_numpy(),
                f"{metric}_mean": w.mean().to_numpy(),
                f"{metric}_lo": lo,
                f"{metric}_hi": hi,
            }
        frames.append(pd.DataFrame(out))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def reached_table(runs: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Kaplan-Meier fraction of non-diverged seeds per condition that have reached
    ``threshold`` by each epoch."""
    col = f"epochs_to_{pct(threshold)}"
    horizon = int(runs["epochs"].max())
    frames = []
    for cond, r in runs[~runs["diverged"]].groupby("condition", sort=False):
        epochs, frac = stats.km_curve(r[col].fillna(np.inf).to_numpy(float), horizon)
        frames.append(pd.DataFrame({"condition": cond, "epoch": epochs, "fraction": frac}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def metrics_json(summary: pd.DataFrame, thresholds: list[float]) -> dict:
    """The headline numbers per condition for ``dvc metrics show``."""
    out = {}
    for _, row in summary.iterrows():
        m = {}
        for k in (
            "test_accuracy_mean",
            "test_accuracy_std",
            "train_accuracy_mean",
            "auc_test_accuracy_mean",
        ):
            v = float(row.get(k, np.nan))
            m[k] = float(f"{v:.{DIGITS}g}") if np.isfinite(v) else None
        for t in thresholds:
            v = float(row.get(f"epochs_to_{pct(t)}_median", np.nan))
            m[f"epochs_to_{pct(t)}_median"] = v if np.isfinite(v) else None
        m["n_seeds"] = int(row["n_seeds"])
        m["n_diverged"] = int(row["n_diverged"])
        out[row["condition"]] = m
    return out


def parameters_table(conds: list[Condition]) -> pd.DataFrame:
    """Per condition: trainable, non-trainable and all parameters, and the units its BN
    layers normalize, counted from the model and data configs (bnstudy.parameters)."""
    from bnstudy.parameters import model_counts

    rows = []
    for c in conds:
        n = model_counts(c.model, c.data)
        rows.append(
            {
                "condition": c.name,
                "trainable": n.trainable,
                "non_trainable": n.non_trainable,
                "total": n.total,
                "bn_units": n.bn_units,
            }
        )
    columns = ["condition", "trainable", "non_trainable", "total", "bn_units"]
    return pd.DataFrame(rows, columns=columns)


def extra_tables(
    runs: pd.DataFrame, summary: pd.DataFrame, study: DictConfig, conds: list[Condition]
) -> dict[str, pd.DataFrame]:
    """reports/<study>/tables/: ``parameters`` (every study); ``sweep_<axis>`` for each axis
    that a grid or at_best claim sweeps (per group and value: summary numbers, best, usable;
    the first such claim's measure, margin and selection); ``variance_<axis>`` for each axis
    of an ``every`` claim (variance between its values and between seeds, per group and per
    claimed pair)."""
    from bnstudy.sweeps import grid_table, variance_table

    # every study has the table (a DVC output folder), every family counted
    out = {"parameters": parameters_table(conds)}
    for cl in study.claims:
        if cl.kind in ("usable_rate", "rate_range", "at_best"):
            name = f"sweep_{cl.axis}"
            if name not in out:
                failed = [c for c in study.claims if c.kind == "divergence" and c.axis == cl.axis]
                failed = [c for c in failed if c.floor is not None]
                out[name] = grid_table(
                    runs,
                    summary,
                    study.axes,
                    cl.axis,
                    cl,
                    failed[0] if failed else None,
                    study.confidence,
                )
        if cl.kind == "every":
            name = f"variance_{cl.axis}"
            if name not in out:
                pairs = [list(c.pair) for c in study.claims if c.kind == "every"]
                pairs = [list(p) for p in dict.fromkeys(tuple(p) for p in pairs)]
                out[name] = variance_table(runs, study.axes, cl.axis, cl.measure, pairs)
    return out


def write_csv(df: pd.DataFrame, path) -> None:
    """A table with DIGITS significant digits, atomically."""
    write_with(path, lambda p: df.to_csv(p, index=False, float_format=f"%.{DIGITS}g"))


def aggregate(cfg: DictConfig, conds: list[Condition]) -> dict[str, pd.DataFrame]:
    """Read results/<study>/, write reports/<study>/ tables, plots CSVs and metrics.json, and
    the study's claim verdicts (reports/claims/<study>.csv); returns the tables."""
    from bnstudy.claims import claims_table
    from bnstudy.studies import check_names

    study = cfg.study
    check_names(study, conds)
    out = REPORTS_DIR / study.name
    history, finals = load_results(study.name)
    runs = runs_table(history, finals, list(study.thresholds), conds)
    summary = summary_table(runs, study)
    comparisons = comparisons_table(runs, study, conds)
    tables = {
        "runs": runs,
        "summary": summary,
        "comparisons": comparisons,
        "curves": curves_table(history, runs, study),
        "reached": reached_table(runs, study.thresholds[0]),
        "claims": claims_table(runs, summary, comparisons, study, conds),
    }
    for name, df in tables.items():
        write_csv(df, CLAIMS_DIR / f"{study.name}.csv" if name == "claims" else out / f"{name}.csv")
    names = [c.name for c in conds]
    for metric, name in (("val_accuracy", "test_accuracy"), ("loss", "train_loss")):
        curves = tables["curves"]
        wide = curves.pivot(index="epoch", columns="condition", values=f"{metric}_mean")
        write_csv(
            wide[[n for n in names if n in wide]].reset_index(), out / "plots" / f"{name}.csv"
        )
    write_text(
        out / "metrics.json",
        json.dumps(metrics_json(summary, list(study.thresholds)), indent=2) + "\n",
    )
    extra = extra_tables(runs, summary, study, conds)
    folder = out / "tables"
    for stale in folder.glob("*.csv") if folder.exists() else []:
        if stale.stem not in extra:
            stale.unlink()
    for name, df in extra.items():
        write_csv(df, folder / f"{name}.csv")
    return tables | extra
