"""The train stage's per-variant outputs: results/<variant>/{history,runs}.csv."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bnstudy.atomic import write_with
from bnstudy.paths import RESULTS_DIR


def write_variant_results(records: list, out: Path) -> None:
    """Write the long per-epoch history and the per-run table of one variant, atomically."""
    from bnstudy.train import history_frame, runs_frame

    out.mkdir(parents=True, exist_ok=True)
    write_with(out / "history.csv", lambda p: history_frame(records).to_csv(p, index=False))
    write_with(out / "runs.csv", lambda p: runs_frame(records).to_csv(p, index=False))


def load_results(variants: list[str], root: Path = RESULTS_DIR) -> tuple[pd.DataFrame,
                                                                          pd.DataFrame]:
    """(history, runs) of ``variants``, concatenated in that order.

    history: variant, seed, run_id, epoch, loss, accuracy, val_loss, val_accuracy
    runs: variant, seed, run_id, train_loss, train_accuracy
    """
    hist = [pd.read_csv(root / v / "history.csv") for v in variants]
    runs = [pd.read_csv(root / v / "runs.csv") for v in variants]
    return pd.concat(hist, ignore_index=True), pd.concat(runs, ignore_index=True)
