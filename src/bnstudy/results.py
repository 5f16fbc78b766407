"""Run records and the train stage's outputs: results/<study>/{history,runs}.csv.

Nothing here depends on the MLflow store: runs are named by their stable run key, so the
files (and dvc.lock, which hashes them) are the same whichever store logged them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bnstudy.atomic import write_with
from bnstudy.metrics import FINAL_METRICS, METRICS, VALIDATION_METRICS
from bnstudy.paths import RESULTS_DIR

#: Significant digits kept in results and reports: float32 training gives about 7, and the
#: last of them differ between CPUs.
DIGITS = 6


@dataclass
class RunRecord:
    """One (condition, seed) run: its stable key, its MLflow id (in this store), per-epoch
    history (metric -> list, nan after a divergence), the final evaluation on the training set
    (FINAL_METRICS -> float; VALIDATION_METRICS too with a validation split), and the epoch
    at which it diverged (nan: it did not)."""

    condition: str
    seed: int
    run_key: str
    run_id: str
    history: dict[str, list[float]]
    final: dict[str, float]
    reused: bool
    diverged_epoch: float = math.nan

    @property
    def diverged(self) -> bool:
        return not math.isnan(self.diverged_epoch)


def divergence(
    history: dict, final: dict, chance: float, margin: float, chance_loss: float
) -> float:
    """The epoch (1-based) at which a run diverged, or nan.

    Diverged: its training or test loss became non-finite (that epoch); or it stayed at
    chance (the last epoch): its final accuracy on the training set and its best test accuracy
    are within ``margin`` of ``chance``, and its last training loss is at least twice
    ``chance_loss`` (the loss of predicting the class prior), so it is not merely slow.
    """
    losses = np.vstack([history["loss"], history["val_loss"]])
    bad = np.flatnonzero(~np.isfinite(losses).all(axis=0))
    if bad.size:
        return float(bad[0] + 1)
    acc, best = final["train_accuracy"], np.nanmax(history["val_accuracy"])
    stuck = acc <= chance + margin and best <= chance + margin
    if not math.isfinite(acc) or (stuck and history["loss"][-1] >= 2 * chance_loss):
        return float(len(history["loss"]))
    return math.nan


def history_frame(records: list[RunRecord]) -> pd.DataFrame:
    """Long table: condition, seed, epoch (1-based), the four METRICS and the other per-epoch
    metrics the runs recorded (bnstudy.metrics.epoch_metrics; empty for runs without them)."""
    frames = []
    for r in records:
        names = [*METRICS, *(m for m in r.history if m not in METRICS)]
        df = pd.DataFrame({m: np.asarray(r.history[m], dtype=float) for m in names})
        df.insert(0, "epoch", np.arange(1, len(df) + 1))
        df.insert(0, "seed", r.seed)
        df.insert(0, "condition", r.condition)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def runs_frame(records: list[RunRecord]) -> pd.DataFrame:
    """One row per run: condition, seed, run_key, FINAL_METRICS, diverged_epoch, then
    VALIDATION_METRICS when a run has them (NaN for runs without; absent if none has)."""
    val = [m for m in VALIDATION_METRICS if any(m in r.final for r in records)]
    return pd.DataFrame(
        [
            {
                "condition": r.condition,
                "seed": r.seed,
                "run_key": r.run_key,
                **{m: r.final[m] for m in FINAL_METRICS},
                "diverged_epoch": r.diverged_epoch,
                **{m: r.final.get(m, math.nan) for m in val},
            }
            for r in records
        ]
    )


def write_results(records: list[RunRecord], out: Path) -> None:
    """Write the long per-epoch history and the per-run table of a study, atomically."""
    fmt = f"%.{DIGITS}g"
    out.mkdir(parents=True, exist_ok=True)
    write_with(
        out / "history.csv",
        lambda p: history_frame(records).to_csv(p, index=False, float_format=fmt),
    )
    write_with(
        out / "runs.csv", lambda p: runs_frame(records).to_csv(p, index=False, float_format=fmt)
    )


def load_results(study: str, root: Path = RESULTS_DIR) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(history, runs) of a study, as :func:`write_results` wrote them."""
    folder = root / study
    return pd.read_csv(folder / "history.csv"), pd.read_csv(folder / "runs.csv")
