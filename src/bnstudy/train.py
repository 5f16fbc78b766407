"""``train_study``: the one training function behind the Hydra app, the DVC stage and
``bnstudy study``.

For each condition and a list of seeds it reuses the FINISHED MLflow runs that already exist
for the same identity, trains the others with the configured engine, and logs each new run.
All conditions train in this process (one TensorFlow import); with the vectorized engine,
conditions that differ only in per-run values (``studies.PER_SLOT``) and in their data (of the
same shapes) train together in one computation (``studies.group_conditions``). Everything
MLflow happens in separate processes, started first (:mod:`bnstudy.runlog`): one imports
MLflow and opens the store while this one imports TensorFlow and says which runs can be
reused; then each condition's new runs are logged (from 2 * LOG_PART_MIN runs on, in
LOG_WORKERS parts at once) while the next group trains, sharing no state with training.
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor

from omegaconf import DictConfig

from bnstudy.data import Dataset, build_dataset, dataset_file, load_dataset
from bnstudy.engines.common import TrainResult
from bnstudy.progress import Progress, seed_span
from bnstudy.results import RunRecord
from bnstudy.studies import Condition, group_conditions

#: Logging processes. MLflow's SQLite store costs ~0.1 s of Python per run of 100 epochs (its
#: ORM), more than training a run at 30+ seeds; two processes share the store (WAL) and log
#: 300 runs in 18.5 s instead of 29.5 s on 2 cores.
LOG_WORKERS = 2
#: Fewest new runs of a condition per logging part: a second logging process costs ~3 s of CPU
#: to start (spawn, MLflow import), about what logging 30 runs costs.
LOG_PART_MIN = 50


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
    trained together by ``train.engine``, a group of conditions at a time, and published as
    MLflow runs (one submission per condition), children of their condition's parent run, in
    the study's experiment.
    """
    datasets = datasets or study_datasets(cfg.study.name, conds)
    with _logging_executor() as logger:
        found = logger.submit(_runlog, "reusable_conditions", cfg, conds, seeds, datasets)
        provenance = _start_tensorflow()  # while the logging process opens the store
        done: dict[str, dict[int, RunRecord]] = {}
        todo: dict[str, list[int]] = {}
        for name, (records, left) in found.result().items():
            done[name], todo[name] = records, left
        pending: list[tuple[str, Future]] = []
        to_train = [c for c in conds if todo[c.name]]
        n_runs = {c.name: len(todo[c.name]) for c in to_train}
        shapes = {c.name: datasets[c.name].shapes() for c in to_train}
        for group in group_conditions(to_train, n_runs, shapes=shapes):
            _raise_failed(pending)
            for c, result in zip(group, _train(group, todo, datasets), strict=True):
                started = time.time() - result.seconds
                n_parts = max(1, min(LOG_WORKERS, len(result.seeds) // LOG_PART_MIN))
                for part in result.parts(n_parts):
                    args = (cfg, c, part, stage, datasets[c.name], provenance, started)
                    pending.append((c.name, logger.submit(_runlog, "log_runs", *args)))
        for name, job in pending:
            done[name].update(job.result())
    return {c.name: [done[c.name][s] for s in seeds] for c in conds}


def _logging_executor() -> Executor:
    """The MLflow side: LOG_WORKERS fresh interpreters (spawn: no TensorFlow, no shared
    state), each condition's new runs split between them; one thread where spawn cannot
    rebuild this process's start method (the loky workers of Hydra's joblib launcher), which
    already run several jobs on the cores."""
    if multiprocessing.get_start_method(allow_none=True) in (None, "fork", "spawn", "forkserver"):
        ctx = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(max_workers=LOG_WORKERS, mp_context=ctx)
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlflow-log")


def _runlog(name: str, *args):
    """``bnstudy.runlog.<name>(*args)``, in the logging process (imported there only)."""
    from bnstudy import runlog

    return getattr(runlog, name)(*args)


def _start_tensorflow() -> dict[str, str]:
    """Import TensorFlow with op determinism on; the provenance tags of this process."""
    import tensorflow as tf

    from bnstudy.provenance import provenance

    tf.config.experimental.enable_op_determinism()
    return provenance()


def _raise_failed(pending: list[tuple[str, Future]]) -> None:
    """Stop before training more if logging an earlier condition has already failed."""
    for _, job in pending:
        if job.done() and job.exception() is not None:
            raise job.exception()


def _train(
    group: list[Condition], todo: dict[str, list[int]], datasets: dict[str, Dataset]
) -> list[TrainResult]:
    """Train ``todo[c.name]`` of each condition ``c`` of ``group`` on ``datasets[c.name]``
    with their engine."""
    from bnstudy.engines import train_group

    first, engine = group[0], group[0].train.engine
    seeds = todo[first.name]
    label = f"{first.name} [{engine}] seeds {seed_span(seeds)}"
    if len(group) > 1:
        label = f"{len(group)} conditions ({first.name} .. {group[-1].name}) [{engine}]"
    runs = [(c.model, c.train, todo[c.name]) for c in group]
    with Progress(label, sum(len(r[2]) for r in runs), first.train.epochs) as bar:
        return train_group(engine, runs, [datasets[c.name] for c in group], bar)
