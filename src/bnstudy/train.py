"""``train_study``: the one training function behind both the Hydra app and the DVC stage.

For each variant and a list of seeds it reuses the FINISHED MLflow runs that already exist
for the same identity, trains the others with the configured engine, and logs each new run.
All variants share one process (one TensorFlow import); while one variant trains, the runs
of the previous one are logged by a background thread.
"""

from __future__ import annotations

import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from bnstudy.data import Dataset, load_dataset
from bnstudy.engines.common import FINAL_METRICS, METRICS, TrainResult
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


def train_runs(
    cfg: DictConfig, variant: str, seeds: list[int], stage: str, ds: Dataset | None = None
) -> list[RunRecord]:
    """Train (or reuse) every seed of one variant; one record per seed, in order."""
    return train_study(cfg, [variant], seeds, stage, ds)[variant]


def train_study(
    cfg: DictConfig,
    variants: list[str],
    seeds: list[int],
    stage: str,
    ds: Dataset | None = None,
) -> dict[str, list[RunRecord]]:
    """Train (or reuse) every seed of every variant: variant -> one record per seed, in order.

    A FINISHED run with the same identity is reused (``tracking.resume``); the others are
    trained together by ``train.engine``, one variant at a time, and published as MLflow
    runs, children of their variant group's parent run.
    """
    ds = ds if ds is not None else load_dataset(cfg.data.path)
    tracker = Tracker.open(cfg)
    done: dict[str, dict[int, RunRecord]] = {}
    todo: dict[str, list[int]] = {}
    for variant in variants:
        done[variant], todo[variant] = _reusable(cfg, variant, seeds, tracker)
    pending: list[tuple[str, Future]] = []
    # One logging thread: a variant's runs are written while the next variant trains.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlflow-log") as logger:
        for variant in variants:
            if not todo[variant]:
                continue
            _raise_failed(pending)
            result, model = _train(cfg, variant, todo[variant], ds)
            job = logger.submit(_log_runs, cfg, variant, result, model, stage, ds, tracker)
            pending.append((variant, job))
        for variant, job in pending:
            done[variant].update(job.result())
    return {v: [done[v][s] for s in seeds] for v in variants}


def _reusable(
    cfg: DictConfig, variant: str, seeds: list[int], tracker: Tracker
) -> tuple[dict[int, RunRecord], list[int]]:
    """(records of the seeds with a FINISHED run to reuse, the seeds still to train)."""
    records: dict[int, RunRecord] = {}
    todo: list[int] = []
    for seed in seeds:
        run = tracker.finished(identity(cfg, variant, seed)[0]) if cfg.tracking.resume else None
        if run is None:
            todo.append(seed)
            continue
        records[seed] = RunRecord(
            variant,
            seed,
            run.info.run_id,
            tracker.history(run.info.run_id, METRICS),
            {m: run.data.metrics[m] for m in FINAL_METRICS},
            reused=True,
        )
    if records:
        print(
            f"{variant}: reusing {len(records)} finished run(s) from {tracker.uri}", file=sys.stderr
        )
    return records, todo


def _raise_failed(pending: list[tuple[str, Future]]) -> None:
    """Stop before training more if logging an earlier variant has already failed."""
    for _, job in pending:
        if job.done() and job.exception() is not None:
            raise job.exception()


def _train(cfg: DictConfig, variant: str, seeds: list[int], ds: Dataset):
    """Train ``seeds`` of ``variant`` with the configured engine: (result, a Keras model of the
    variant to save each seed's weights in)."""
    import tensorflow as tf

    from bnstudy.engines import train_engine
    from bnstudy.models import build_model, compile_model

    tf.config.experimental.enable_op_determinism()
    engine, variant_cfg = cfg.train.engine, cfg.variants[variant]
    label = f"{variant} [{engine}] seeds {_span(seeds)}"
    with Progress(label, len(seeds), cfg.train.epochs) as bar:
        result = train_engine(engine, variant_cfg, cfg.train, ds, seeds, bar)
    # Built here, not in the logging thread: building seeds Keras's global random state.
    model = compile_model(
        build_model(variant_cfg, seeds[0]), cfg.train.learning_rate, cfg.train.momentum
    )
    return result, model


def _log_runs(
    cfg: DictConfig,
    variant: str,
    result: TrainResult,
    model,
    stage: str,
    ds: Dataset,
    tracker: Tracker,
) -> dict[int, RunRecord]:
    """Log one MLflow run per trained seed, with its artifacts: seed -> record."""
    from bnstudy.provenance import provenance

    base_tags = {
        **provenance(),
        "variant": variant,
        "dvc.stage": stage,
        "engine": result.engine,
        "data.sha256": ds.digest(),
    }
    parent_id = tracker.parent(identity(cfg, variant, None)[0], variant, base_tags)
    losses = np.concatenate([result.history["loss"], result.history["val_loss"]])
    curve = RunCurve(cfg.train.epochs, float(np.nanmax(losses[np.isfinite(losses)], initial=1.0)))
    records = {}
    with tempfile.TemporaryDirectory(prefix="bnstudy-") as tmp:
        for i, seed in enumerate(result.seeds):
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
    tqdm.write(f"{variant}: logged {len(records)} run(s) to {tracker.uri}", file=sys.stderr)
    return records


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


def _span(seeds: list[int]) -> str:
    if seeds == list(range(seeds[0], seeds[0] + len(seeds))) and len(seeds) > 2:
        return f"{seeds[0]}..{seeds[-1]}"
    return ",".join(map(str, seeds))
