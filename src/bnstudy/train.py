"""``train_runs``: the one training function behind both the Hydra app and the DVC stage.

For a variant and a list of seeds it reuses the FINISHED MLflow runs that already exist for
the same identity, trains the others with the configured engine, and logs each new run.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from bnstudy.data import Dataset, load_dataset
from bnstudy.engines.common import FINAL_METRICS, METRICS
from bnstudy.plots import RunCurve
from bnstudy.progress import Progress
from bnstudy.results import RunRecord, history_frame
from bnstudy.tracking import KEY_TAG, Tracker, flat_params, identity


def run_config(cfg: DictConfig, variant: str, seed: int) -> DictConfig:
    """The config of a single run: ``cfg`` with ``variant`` and ``seed`` set."""
    run_cfg = cfg.copy()
    run_cfg.variant, run_cfg.seed = variant, seed
    return run_cfg


#: What each run stores in MLflow besides params and metrics.
ARTIFACTS = ("config.yaml", "history.csv", "learning_curve.png", "model.keras")


def _write_artifacts(
    folder: Path, run_cfg: DictConfig, record: RunRecord, model, weights: dict, curve: RunCurve
) -> None:
    """The resolved config, per-epoch history CSV, learning-curve PNG and trained model."""
    from bnstudy.models import set_model_weights

    folder.mkdir(parents=True)
    OmegaConf.save(run_cfg, folder / "config.yaml")
    history_frame([record]).drop(columns="run_id").to_csv(folder / "history.csv", index=False)
    curve.save(
        record.history, f"{record.variant}, seed {record.seed}", folder / "learning_curve.png"
    )
    set_model_weights(model, weights).save(folder / "model.keras")


def train_runs(
    cfg: DictConfig, variant: str, seeds: list[int], stage: str, ds: Dataset | None = None
) -> list[RunRecord]:
    """Train (or reuse) every seed of ``variant``; returns one record per seed, in order.

    A FINISHED run with the same identity is reused (``tracking.resume``); the others are
    trained together by ``train.engine`` and published as MLflow runs, children of the
    variant group's parent run.
    """
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
            records[seed] = RunRecord(
                variant,
                seed,
                run.info.run_id,
                tracker.history(run.info.run_id, METRICS),
                final,
                reused=True,
            )
    if records:
        print(
            f"{variant}: reusing {len(records)} finished run(s) from {tracker.uri}", file=sys.stderr
        )
    if todo:
        records.update(_train_and_log(cfg, variant, todo, stage, ds, tracker))
    return [records[s] for s in seeds]


def _train_and_log(
    cfg: DictConfig, variant: str, todo: list[int], stage: str, ds: Dataset, tracker: Tracker
) -> dict[int, RunRecord]:
    """Train ``todo`` with the configured engine and log one MLflow run per seed."""
    import tensorflow as tf

    from bnstudy.engines import train_engine
    from bnstudy.models import build_model, compile_model
    from bnstudy.provenance import provenance

    tf.config.experimental.enable_op_determinism()
    engine = cfg.train.engine
    with Progress(f"{variant} [{engine}] seeds {_span(todo)}", len(todo), cfg.train.epochs) as bar:
        result = train_engine(engine, cfg.variants[variant], cfg.train, ds, todo, bar)
    base_tags = {
        **provenance(),
        "variant": variant,
        "dvc.stage": stage,
        "engine": engine,
        "data.sha256": ds.digest(),
    }
    parent_id = tracker.parent(identity(cfg, variant, None)[0], variant, base_tags)
    model = compile_model(
        build_model(cfg.variants[variant], todo[0]), cfg.train.learning_rate, cfg.train.momentum
    )
    losses = np.concatenate([result.history["loss"], result.history["val_loss"]])
    curve = RunCurve(cfg.train.epochs, float(np.nanmax(losses[np.isfinite(losses)], initial=1.0)))
    records = {}
    with tempfile.TemporaryDirectory(prefix="bnstudy-") as tmp:
        for i, seed in enumerate(todo):
            key, ident = identity(cfg, variant, seed)
            record = RunRecord(
                variant,
                seed,
                "",
                {m: result.history[m][i].tolist() for m in METRICS},
                {m: float(result.final[m][i]) for m in FINAL_METRICS},
                reused=False,
            )
            folder = Path(tmp) / str(seed)
            _write_artifacts(
                folder, run_config(cfg, variant, seed), record, model, result.seed_weights(i), curve
            )
            record.run_id = tracker.log_run(
                run_name=f"{variant}-seed{seed}",
                parent_id=parent_id,
                params=flat_params(ident),
                tags={**base_tags, KEY_TAG: key, "seed": str(seed)},
                history=record.history,
                final=record.final,
                artifacts=folder,
            )
            records[seed] = record
    curve.close()
    return records


def _span(seeds: list[int]) -> str:
    if seeds == list(range(seeds[0], seeds[0] + len(seeds))) and len(seeds) > 2:
        return f"{seeds[0]}..{seeds[-1]}"
    return ",".join(map(str, seeds))
