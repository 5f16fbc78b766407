"""Runs -> tables: reports/runs.csv, summary.csv, comparisons.csv, curves and metrics.json.

Every number in summary.csv and comparisons.csv is computed from runs.csv (and the curves from
the per-epoch histories) by the functions below, so a test can recompute them.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from bnstudy import stats
from bnstudy.atomic import write_text, write_with
from bnstudy.paths import REPORTS_DIR
from bnstudy.results import load_results

#: Paired comparisons (A, B), read as "A minus B".
REFERENCE = "baseline"


def pct(threshold: float) -> str:
    """0.8 -> '80': the suffix of the epochs-to-threshold columns."""
    return f"{round(threshold * 100):d}"


def epochs_to(curve: np.ndarray, threshold: float) -> float:
    """First epoch (1-based) at which ``curve`` (epochs,) reaches ``threshold``; NaN if never."""
    hits = np.flatnonzero(np.asarray(curve) >= threshold)
    return float(hits[0] + 1) if hits.size else float("nan")


def runs_table(
    history: pd.DataFrame, finals: pd.DataFrame, thresholds: list[float]
) -> pd.DataFrame:
    """One row per (variant, seed) from the per-epoch history and the final evaluations.

    Columns: variant, seed, run_id, train_accuracy, train_loss (inference mode on the training
    set, as the article's ``evaluate``), test_accuracy, test_loss (last epoch), fit_accuracy,
    fit_loss (last epoch's running training metrics), epochs_to_<pct> (NaN = never reached),
    auc_test_accuracy (mean test accuracy over epochs), gap (train - test accuracy), epochs.
    """
    rows = []
    for (variant, seed), h in history.groupby(["variant", "seed"], sort=False):
        h = h.sort_values("epoch")
        last = h.iloc[-1]
        row = {
            "variant": variant,
            "seed": int(seed),
            "run_id": last["run_id"],
            "test_accuracy": last["val_accuracy"],
            "test_loss": last["val_loss"],
            "fit_accuracy": last["accuracy"],
            "fit_loss": last["loss"],
            "auc_test_accuracy": h["val_accuracy"].mean(),
            "epochs": int(last["epoch"]),
        }
        for t in thresholds:
            row[f"epochs_to_{pct(t)}"] = epochs_to(h["val_accuracy"].to_numpy(), t)
        rows.append(row)
    runs = pd.DataFrame(rows).merge(
        finals[["variant", "seed", "train_accuracy", "train_loss"]],
        on=["variant", "seed"],
        how="left",
        validate="1:1",
    )
    runs["gap"] = runs["train_accuracy"] - runs["test_accuracy"]
    first = [
        "variant",
        "seed",
        "run_id",
        "train_accuracy",
        "test_accuracy",
        "train_loss",
        "test_loss",
    ]
    return runs[first + [c for c in runs.columns if c not in first]]


def _censored(epochs: pd.Series) -> np.ndarray:
    """Epochs-to-threshold with never-reached runs as +inf (censored, not dropped)."""
    return epochs.fillna(np.inf).to_numpy(dtype=float)


def summary_table(runs: pd.DataFrame, study: DictConfig) -> pd.DataFrame:
    """One row per variant (in runs' order): accuracy, speed and gap statistics with CIs."""
    conf, n_res = float(study.confidence), int(study.n_resamples)
    rows = []
    for variant, r in runs.groupby("variant", sort=False):
        row: dict = {
            "variant": variant,
            "n_seeds": len(r),
            "n_failed": int((r["test_accuracy"] < study.failure_accuracy).sum()),
        }
        for col in ("test_accuracy", "train_accuracy"):
            x = r[col].to_numpy(dtype=float)
            lo, hi = stats.bootstrap_ci(x, confidence=conf, n_resamples=n_res)
            row.update(
                {
                    f"{col}_mean": x.mean(),
                    f"{col}_std": x.std(ddof=1) if len(x) > 1 else 0.0,
                    f"{col}_ci_low": lo,
                    f"{col}_ci_high": hi,
                    f"{col}_median": float(np.median(x)),
                    f"{col}_iqm": stats.iqm(x),
                    f"{col}_worst": x.min(),
                }
            )
        for t in study.thresholds:
            e = _censored(r[f"epochs_to_{pct(t)}"])
            lo, hi = stats.censored_median_ci(e, confidence=conf, n_resamples=n_res)
            row.update(
                {
                    f"epochs_to_{pct(t)}_median": stats.censored_median(e),
                    f"epochs_to_{pct(t)}_ci_low": lo,
                    f"epochs_to_{pct(t)}_ci_high": hi,
                    f"epochs_to_{pct(t)}_censored": int(np.isinf(e).sum()),
                }
            )
        for col in ("auc_test_accuracy", "gap"):
            x = r[col].to_numpy(dtype=float)
            lo, hi = stats.bootstrap_ci(x, confidence=conf, n_resamples=n_res)
            row.update({f"{col}_mean": x.mean(), f"{col}_ci_low": lo, f"{col}_ci_high": hi})
        rows.append(row)
    return pd.DataFrame(rows)


def comparison_pairs(variants: list[str]) -> list[tuple[str, str]]:
    """Each other variant against baseline, and bn_after against bn_before."""
    pairs = [(v, REFERENCE) for v in variants if v != REFERENCE and REFERENCE in variants]
    if "bn_after" in variants and "bn_before" in variants:
        pairs.append(("bn_after", "bn_before"))
    return pairs


def comparisons_table(runs: pd.DataFrame, study: DictConfig) -> pd.DataFrame:
    """Paired comparisons (A - B over shared seeds) of final test accuracy, epochs to the
    first threshold (never reached = epochs + 1) and curve area; Holm-adjusted p-values
    across the comparisons of each measure."""
    t0 = pct(study.thresholds[0])
    measures = ("test_accuracy", f"epochs_to_{t0}", "auc_test_accuracy")
    wide = {m: runs.pivot(index="seed", columns="variant", values=m) for m in measures}
    epochs = runs.pivot(index="seed", columns="variant", values="epochs")
    rows = []
    for a, b in comparison_pairs(list(dict.fromkeys(runs["variant"]))):
        for m, w in wide.items():
            pair = w[[a, b]]
            if m.startswith("epochs_to_"):
                pair = pair.fillna(epochs[[a, b]] + 1)
            pair = pair.dropna()  # seeds that only one of the two variants has
            res = stats.paired_test(
                pair[a].to_numpy(float),
                pair[b].to_numpy(float),
                confidence=study.confidence,
                n_resamples=study.n_resamples,
            )
            rows.append({"comparison": f"{a} - {b}", "a": a, "b": b, "measure": m, **res})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    for col in ("t_p", "wilcoxon_p"):
        table[f"{col}_holm"] = table.groupby("measure")[col].transform(
            lambda p: stats.holm(p.to_numpy())
        )
    return table


def curves_table(history: pd.DataFrame, study: DictConfig) -> pd.DataFrame:
    """Per (variant, epoch): mean and bootstrap CI (percentile) of test accuracy and train loss."""
    frames = []
    for variant, h in history.groupby("variant", sort=False):
        out = {"variant": variant}
        for metric in ("val_accuracy", "loss", "accuracy", "val_loss"):
            w = h.pivot(index="seed", columns="epoch", values=metric)  # (seeds, epochs)
            lo, hi = stats.bootstrap_ci_columns(w.to_numpy(float), confidence=study.confidence)
            out |= {
                "epoch": w.columns.to_numpy(),
                f"{metric}_mean": w.mean().to_numpy(),
                f"{metric}_lo": lo,
                f"{metric}_hi": hi,
            }
        frames.append(pd.DataFrame(out))
    return pd.concat(frames, ignore_index=True)


def reached_table(runs: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Fraction of seeds per variant that have reached ``threshold`` by each epoch."""
    col = f"epochs_to_{pct(threshold)}"
    rows = []
    for variant, r in runs.groupby("variant", sort=False):
        e = _censored(r[col])
        for epoch in range(1, int(r["epochs"].max()) + 1):
            rows.append(
                {"variant": variant, "epoch": epoch, "fraction": float(np.mean(e <= epoch))}
            )
    return pd.DataFrame(rows)


def metrics_json(summary: pd.DataFrame, thresholds: list[float]) -> dict:
    """The headline numbers per variant for ``dvc metrics show``."""
    out = {}
    for _, row in summary.iterrows():
        m = {
            k: round(float(row[k]), 6)
            for k in (
                "test_accuracy_mean",
                "test_accuracy_std",
                "train_accuracy_mean",
                "auc_test_accuracy_mean",
            )
        }
        for t in thresholds:
            v = float(row[f"epochs_to_{pct(t)}_median"])
            m[f"epochs_to_{pct(t)}_median"] = v if np.isfinite(v) else None
        m["n_seeds"] = int(row["n_seeds"])
        out[row["variant"]] = m
    return out


def _csv(df: pd.DataFrame, name: str) -> None:
    # runs.csv keeps full precision: every other table is recomputed from it.
    fmt = None if name == "runs.csv" else "%.6g"
    write_with(REPORTS_DIR / name, lambda p: df.to_csv(p, index=False, float_format=fmt))


def aggregate(cfg: DictConfig) -> dict[str, pd.DataFrame]:
    """Read results/, write reports/{runs,summary,comparisons,curves,reached}.csv,
    reports/plots/*.csv (for ``dvc plots``) and reports/metrics.json; returns the tables."""
    variants = list(cfg.variants)
    history, finals = load_results(variants)
    runs = runs_table(history, finals, list(cfg.study.thresholds))
    tables = {
        "runs": runs,
        "summary": summary_table(runs, cfg.study),
        "comparisons": comparisons_table(runs, cfg.study),
        "curves": curves_table(history, cfg.study),
        "reached": reached_table(runs, cfg.study.thresholds[0]),
    }
    for name, df in tables.items():
        _csv(df, f"{name}.csv")
    for metric, name in (("val_accuracy", "test_accuracy"), ("loss", "train_loss")):
        wide = (
            tables["curves"]
            .pivot(index="epoch", columns="variant", values=f"{metric}_mean")[variants]
            .reset_index()
        )
        _csv(wide, f"plots/{name}.csv")
    write_text(
        REPORTS_DIR / "metrics.json",
        json.dumps(metrics_json(tables["summary"], list(cfg.study.thresholds)), indent=2) + "\n",
    )
    return tables
