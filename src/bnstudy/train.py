"""``train_runs``: the one training function behind both the Hydra app and the DVC stage.

For a variant and a list of seeds it reuses the FINISHED MLflow runs that already exist for
the same identity, trains the others with the configured engine, and logs each new run.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from bnstudy.data import Dataset, load_dataset
from bnstudy.engines import train_engine
from bnstudy.engines.common import FINAL_METRICS, METRICS, TrainResult
from bnstudy.progress import Progress
from bnstudy.tracking import KEY_TAG, Tracker, flat_params, identity


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
    return pd.DataFrame([{"variant": r.variant, "seed": r.seed, "run_id": r.run_id, **r.final}
                         for r in records])


def run_config(cfg: DictConfig, variant: str, seed: int) -> DictConfig:
    """The config of a single run: ``cfg`` with ``variant`` and ``seed`` set."""
    run_cfg = cfg.copy()
    run_cfg.variant, run_cfg.seed = variant, seed
    return run_cfg


def _artifacts(folder: Path, cfg: DictConfig, record: RunRecord, result: TrainResult,
               index: int, ds: Dataset) -> list[Path]:
    """Write the resolved config, history CSV, learning-curve PNG and model into ``folder``."""
    from bnstudy.models import build_model, compile_model, set_model_weights
    from bnstudy.plots import run_curve

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "config.yaml", folder / "history.csv", folder / "learning_curve.png",
             folder / "model.keras"]
    OmegaConf.save(run_config(cfg, record.variant, record.seed), paths[0])
    history_frame([record]).to_csv(paths[1], index=False)
    run_curve(record.history, f"{record.variant}, seed {record.seed}", paths[2])
    variant = cfg.variants[record.variant]
    model = compile_model(build_model(variant, record.seed), cfg.train.learning_rate,
                          cfg.train.momentum)
    set_model_weights(model, result.seed_weights(index)).save(paths[3])
    return paths


def train_runs(cfg: DictConfig, variant: str, seeds: list[int], stage: str,
               ds: Dataset | None = None) -> list[RunRecord]:
    """Train (or reuse) every seed of ``variant``; returns one record per seed, in order."""
    import tensorflow as tf

    from bnstudy.provenance import provenance

    tf.config.experimental.enable_op_determinism()
    ds = ds if ds is not None else load_dataset(cfg.data.path)
    tracker = Tracker.open(cfg)
    records: dict[int, RunRecord] = {}
    todo: list[int] = []
    for seed in seeds:
        key, _ = identity(cfg, variant, seed)
        run = tracker.finished(key) if cfg.tracking.resume else None
        if run is None:
            todo.append(seed)
        else:
            final = {m: run.data.metrics[m] for m in FINAL_METRICS}
            records[seed] = RunRecord(variant, seed, run.info.run_id,
                                      tracker.history(run.info.run_id, METRICS), final,
                                      reused=True)
    if records:
        print(f"{variant}: reusing {len(records)} finished run(s) from {tracker.uri}",
              file=sys.stderr)
    if todo:
        engine = cfg.train.engine
        with Progress(f"{variant} [{engine}] seeds {_span(todo)}", len(todo),
                      cfg.train.epochs) as bar:
            result = train_engine(engine, cfg.variants[variant], cfg.train, ds, todo, bar)
        base_tags = {**provenance(), "variant": variant, "dvc.stage": stage, "engine": engine,
                     "data.sha256": ds.digest()}
        group_key, _ = identity(cfg, variant, None)
        parent_id = tracker.parent(group_key, variant, base_tags)
        with tempfile.TemporaryDirectory(prefix="bnstudy-") as tmp:
            for i, seed in enumerate(todo):
                key, ident = identity(cfg, variant, seed)
                history = {m: result.history[m][i].tolist() for m in METRICS}
                final = {m: float(result.final[m][i]) for m in FINAL_METRICS}
                record = RunRecord(variant, seed, "", history, final, reused=False)
                files = _artifacts(Path(tmp) / str(seed), cfg, record, result, i, ds)
                record.run_id = tracker.log_run(
                    run_name=f"{variant}-seed{seed}", parent_id=parent_id,
                    params=flat_params(ident),
                    tags={**base_tags, KEY_TAG: key, "seed": str(seed)},
                    history=history, final=final, artifacts=files)
                records[seed] = record
    return [records[s] for s in seeds]


def _span(seeds: list[int]) -> str:
    if seeds == list(range(seeds[0], seeds[0] + len(seeds))) and len(seeds) > 2:
        return f"{seeds[0]}..{seeds[-1]}"
    return ",".join(map(str, seeds))
