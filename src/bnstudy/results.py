"""Run records and the train stage's per-variant outputs: results/<variant>/{history,runs}.csv."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bnstudy.atomic import write_with
from bnstudy.engines.common import METRICS
from bnstudy.paths import RESULTS_DIR


@dataclass
class RunRecord:
    """One (variant, seed) run: its MLflow id, per-epoch history (metric -> list) and the
    final evaluation on the training set (FINAL_METRICS -> float)."""

    variant: str
    seed: int
    run_id: str
    history: dict[str, list[float]]
    final: dict[str, float]
    reused: bool


def history_frame(records: list[RunRecord]) -> pd.DataFrame:
    """Long table: variant, seed, run_id, epoch (1-based) and the four METRICS."""
    frames = []
    for r in records:
        df = pd.DataFrame({m: np.asarray(r.history[m], dtype=float) for m in METRICS})
        df.insert(0, "epoch", np.arange(1, len(df) + 1))
        df.insert(0, "run_id", r.run_id)
        df.insert(0, "seed", r.seed)
        df.insert(0, "variant", r.variant)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def runs_frame(records: list[RunRecord]) -> pd.DataFrame:
    """One row per run: variant, seed, run_id and the FINAL_METRICS."""
    return pd.DataFrame(
        [{"variant": r.variant, "seed": r.seed, "run_id": r.run_id, **r.final} for r in records]
    )


def write_variant_results(records: list[RunRecord], out: Path) -> None:
    """Write the long per-epoch history and the per-run table of one variant, atomically."""
    out.mkdir(parents=True, exist_ok=True)
    write_with(out / "history.csv", lambda p: history_frame(records).to_csv(p, index=False))
    write_with(out / "runs.csv", lambda p: runs_frame(records).to_csv(p, index=False))


def load_results(
    variants: list[str], root: Path = RESULTS_DIR
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(history, runs) of ``variants``, concatenated in that order.

    history: variant, seed, run_id, epoch, loss, accuracy, val_loss, val_accuracy
    runs: variant, seed, run_id, train_loss, train_accuracy
    """
    hist = [pd.read_csv(root / v / "history.csv") for v in variants]
    runs = [pd.read_csv(root / v / "runs.csv") for v in variants]
    return pd.concat(hist, ignore_index=True), pd.concat(runs, ignore_index=True)
