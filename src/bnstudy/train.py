"""``train_study``: the one training function behind the Hydra app, the DVC stage and
``bnstudy study``.

For each condition and a list of seeds it reuses the FINISHED MLflow runs that already exist
for the same identity, trains the others with the configured engine, and logs each new run.
All conditions share one process (one TensorFlow import); while one condition trains, the
runs of the previous one are logged by a background thread, which does only MLflow and file
I/O (no Keras, no matplotlib), so it cannot disturb the training thread's random state.
"""

from __future__ import annotations

import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from bnstudy.data import Dataset, build_dataset, dataset_file, load_dataset
from bnstudy.engines.common import TrainResult
from bnstudy.metrics import FINAL_METRICS, LOGGED_FINAL, epoch_metrics
from bnstudy.progress import Progress
from bnstudy.results import RunRecord, divergence
from bnstudy.studies import Condition
from bnstudy.tracking import (
    CONDITION_TAG,
    DIVERGED_TAG,
    GROUP_TAG,
    KEY_TAG,
    Tracker,
    dataset_input,
    flat_params,
)
from bnstudy.weights import write_condition_folder


def run_name(condition: str, seed: int) -> str:
    """What the MLflow UI shows for a run: ``bn_after · s07``."""
    return f"{condition} · s{seed:02d}"


def study_datasets(
    study: str, conds: list[Condition], build_missing: bool = False
) -> dict[str, Dataset]:
    """Each condition's dataset by condition name, read from ``data/<study>/`` (the data
    stage's output); ``build_missing`` builds absent files in memory instead (the Hydra app)."""
    out, cache = {}, {}
    for c in conds:
        path = dataset_file(study, c.data)
        if path not in cache:
            missing = build_missing and not path.exists()
            cache[path] = build_dataset(c.data) if missing else load_dataset(path)
        out[c.name] = cache[path]
    return out


def train_study(
    cfg: DictConfig,
    conds: list[Condition],
    seeds: list[int],
    stage: str,
    datasets: dict[str, Dataset] | None = None,
) -> dict[str, list[RunRecord]]:
    """Train (or reuse) every seed of every condition: name -> one record per seed, in order.

    A FINISHED run with the same identity is reused (``tracking.resume``); the others are
    trained together by ``train.engine``, one condition at a time, and published as MLflow
    runs, children of their condition's parent run, in the study's experiment.
    """
    datasets = datasets or study_datasets(cfg.study.name, conds)
    tracker = Tracker.open(cfg)
    done: dict[str, dict[int, RunRecord]] = {}
    todo: dict[str, list[int]] = {}
    for c in conds:
        done[c.name], todo[c.name] = _reusable(cfg, c, seeds, tracker, datasets[c.name])
    pending: list[tuple[str, Future]] = []
    # One logging thread: a condition's runs are written while the next condition trains.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlflow-log") as logger:
        for c in conds:
            if not todo[c.name]:
                continue
            _raise_failed(pending)
            ds = datasets[c.name]
            result = _train(c, todo[c.name], ds)
            job = logger.submit(_log_runs, cfg, c, result, stage, ds, tracker, time.time())
            pending.append((c.name, job))
        for name, job in pending:
            done[name].update(job.result())
    return {c.name: [done[c.name][s] for s in seeds] for c in conds}


def _reusable(
    cfg: DictConfig, cond: Condition, seeds: list[int], tracker: Tracker, ds: Dataset
) -> tuple[dict[int, RunRecord], list[int]]:
    """(records of the seeds with a FINISHED run to reuse, the seeds still to train).

    A reused run's divergence is judged again with the study's current rule."""
    records: dict[int, RunRecord] = {}
    todo: list[int] = []
    for seed in seeds:
        key = cond.run_key(seed)
        run = tracker.finished(key) if cfg.tracking.resume else None
        if run is None:
            todo.append(seed)
            continue
        history = tracker.history(run.info.run_id, epoch_metrics(cond.train), cond.train.epochs)
        logged = run.data.metrics
        final = {m: logged.get(LOGGED_FINAL[m], logged.get(m, float("nan"))) for m in FINAL_METRICS}
        records[seed] = RunRecord(
            cond.name,
            seed,
            key,
            run.info.run_id,
            history,
            final,
            reused=True,
            diverged_epoch=_divergence(cfg, history, final, ds),
        )
    if records:
        print(
            f"{cond.name}: reusing {len(records)} finished run(s) from {tracker.uri}",
            file=sys.stderr,
        )
    return records, todo


def _divergence(cfg: DictConfig, history: dict, final: dict, ds: Dataset) -> float:
    return divergence(history, final, ds.chance(), cfg.study.chance_margin, ds.chance_loss())


def _raise_failed(pending: list[tuple[str, Future]]) -> None:
    """Stop before training more if logging an earlier condition has already failed."""
    for _, job in pending:
        if job.done() and job.exception() is not None:
            raise job.exception()


def _train(cond: Condition, seeds: list[int], ds: Dataset) -> TrainResult:
    """Train ``seeds`` of ``cond`` with its configured engine."""
    import tensorflow as tf

    from bnstudy.engines import train_engine

    tf.config.experimental.enable_op_determinism()
    engine = cond.train.engine
    label = f"{cond.name} [{engine}] seeds {_span(seeds)}"
    with Progress(label, len(seeds), cond.train.epochs) as bar:
        return train_engine(engine, cond.model, cond.train, ds, seeds, bar)


def _log_runs(
    cfg: DictConfig,
    cond: Condition,
    result: TrainResult,
    stage: str,
    ds: Dataset,
    tracker: Tracker,
    finished_at: float,
) -> dict[int, RunRecord]:
    """Store the seeds' weights on the condition's parent run, then log one MLflow run per
    trained seed: seed -> record. Runs only MLflow and file I/O: it is called on the logging
    thread."""
    from bnstudy.provenance import provenance

    base_tags = {
        **provenance(),
        "study": cfg.study.name,
        CONDITION_TAG: cond.name,
        GROUP_TAG: cond.key,
        **{f"axis.{k}": v for k, v in cond.labels.items()},
        "dvc.stage": stage,
        "engine": result.engine,
        "data.sha256": ds.digest(),
    }
    # The parent carries no `condition` tag: the UI's "Group by condition" groups seeds only.
    parent_tags = {k: v for k, v in base_tags.items() if k != CONDITION_TAG}
    parent_id = tracker.parent(cond.key, cond.name, parent_tags)
    # The weights first: a run is only FINISHED (and so reusable) once its weights are stored.
    with tempfile.TemporaryDirectory(prefix="bnstudy-") as tmp:
        config = {
            "study": cfg.study.name,
            "condition": cond.name,
            **OmegaConf.to_container(OmegaConf.create(cond.identity())),
        }
        weights = {seed: result.seed_weights(i) for i, seed in enumerate(result.seeds)}
        write_condition_folder(Path(tmp), config, weights)
        tracker.log_artifacts(parent_id, Path(tmp))
    start = finished_at - result.seconds
    path = dataset_file(cfg.study.name, cond.data)
    source = {"file": path, **OmegaConf.to_container(cond.data)}
    dataset = dataset_input(ds.x_train, ds.y_train, path.stem, ds.digest()[:16], source)
    records = {}
    for i, seed in enumerate(result.seeds):
        history = {m: _meaningful(result.history[m][i]) for m in epoch_metrics(cond.train)}
        final = {m: _meaningful([result.final[m][i]])[0] for m in FINAL_METRICS}
        diverged = _divergence(cfg, history, final, ds)
        record = RunRecord(
            cond.name,
            seed,
            cond.run_key(seed),
            "",
            history,
            final,
            reused=False,
            diverged_epoch=diverged,
        )
        times = (start + result.epoch_end[i]).tolist() if result.epoch_end is not None else None
        record.run_id = tracker.log_run(
            run_name=run_name(cond.name, seed),
            parent_id=parent_id,
            params=flat_params(cond.identity(seed)),
            tags={
                **base_tags,
                KEY_TAG: record.run_key,
                "seed": str(seed),
                DIVERGED_TAG: "false" if np.isnan(diverged) else f"epoch {int(diverged)}",
            },
            history=history,
            final={
                **{LOGGED_FINAL[m]: v for m, v in final.items()},
                "train_seconds": result.seconds / len(result.seeds),
            },
            times=times,
            dataset=dataset,
        )
        records[seed] = record
    tqdm.write(f"{cond.name}: logged {len(records)} run(s) to {tracker.uri}", file=sys.stderr)
    return records


def _meaningful(values) -> list[float]:
    """float32 results with the 7 significant digits float32 has (0.82200002 -> 0.822)."""
    return [float(f"{v:.7g}") for v in np.asarray(values, dtype=np.float64)]


def _span(seeds: list[int]) -> str:
    if seeds == list(range(seeds[0], seeds[0] + len(seeds))) and len(seeds) > 2:
        return f"{seeds[0]}..{seeds[-1]}"
    return ",".join(map(str, seeds))
