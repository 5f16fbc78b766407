"""The MLflow side of training, run in the logging processes: which runs can be reused, and
publishing the runs just trained.

:func:`bnstudy.train.train_study` calls these in separate processes (no TensorFlow there, no
shared random state), each opening the study's store once (:func:`store`): the first
answers which runs exist already while the training process imports TensorFlow; then each
condition's new runs are logged, a part of its seeds per process, while the next condition
trains.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from bnstudy.data import Dataset, dataset_file
from bnstudy.engines.common import TrainResult
from bnstudy.metrics import LOGGED_FINAL, epoch_metrics, final_metrics
from bnstudy.progress import seed_span
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
    resolve_uri,
)
from bnstudy.weights import write_condition_folder

_stores: dict[tuple[str, str], Tracker] = {}


def store(cfg: DictConfig) -> Tracker:
    """The study's store, opened (and created if new) on first use in this process, with
    fresh planner statistics for the lookups of runs to reuse."""
    at = (resolve_uri(cfg), cfg.study.name)
    if at not in _stores:
        _stores[at] = Tracker.open(cfg)
        _stores[at].analyze()
    return _stores[at]


def run_name(condition: str, seed: int) -> str:
    """What the MLflow UI shows for a run: ``bn_after · s07``."""
    return f"{condition} · s{seed:02d}"


def reusable(
    cfg: DictConfig, cond: Condition, seeds: list[int], ds: Dataset
) -> tuple[dict[int, RunRecord], list[int]]:
    """(records of the seeds with a FINISHED run to reuse, the seeds still to train).

    A reused run's divergence is judged again with the study's current rule."""
    tracker = store(cfg)
    records: dict[int, RunRecord] = {}
    todo: list[int] = []
    keys = {seed: cond.run_key(seed) for seed in seeds}
    runs = tracker.finished(cond.key, list(keys.values())) if cfg.tracking.resume else {}
    for seed, key in keys.items():
        run = runs.get(key)
        if run is None:
            todo.append(seed)
            continue
        history = tracker.history(run.info.run_id, epoch_metrics(cond.train), cond.train.epochs)
        logged = run.data.metrics
        final = {
            m: logged.get(LOGGED_FINAL[m], logged.get(m, float("nan")))
            for m in final_metrics(cond.data)
        }
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


def reusable_conditions(
    cfg: DictConfig, conds: list[Condition], seeds: list[int], datasets: dict[str, Dataset]
) -> dict[str, tuple[dict[int, RunRecord], list[int]]]:
    """:func:`reusable` for every condition (``datasets``: condition name -> Dataset), in one
    call: one logging process answers while the others are still starting."""
    return {c.name: reusable(cfg, c, seeds, datasets[c.name]) for c in conds}


def _divergence(cfg: DictConfig, history: dict, final: dict, ds: Dataset) -> float:
    return divergence(history, final, ds.chance(), cfg.study.chance_margin, ds.chance_loss())


def log_runs(
    cfg: DictConfig,
    cond: Condition,
    result: TrainResult,
    stage: str,
    ds: Dataset,
    provenance: dict[str, str],
    started_at: float,
) -> dict[int, RunRecord]:
    """Store the seeds' weights on the condition's parent run, then log one MLflow run per
    trained seed, tagged with ``provenance`` (the training process's): seed -> record.
    ``result`` may be a part of the condition's seeds (``TrainResult.parts``); ``started_at``
    is when the condition's training started (seconds since the epoch)."""
    tracker = store(cfg)
    base_tags = {
        **provenance,
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
    path = dataset_file(cfg.study.name, cond.data)
    source = {"file": path, **OmegaConf.to_container(cond.data)}
    dataset = dataset_input(ds.x_train, ds.y_train, path.stem, ds.digest()[:16], source)
    records, ends = {}, result.epoch_end
    for i, seed in enumerate(result.seeds):
        history = {m: _meaningful(result.history[m][i]) for m in epoch_metrics(cond.train)}
        final = {m: _meaningful([result.final[m][i]])[0] for m in final_metrics(cond.data)}
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
        times = None if ends is None else (started_at + ends[i]).tolist()
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
    what = f"{len(records)} run(s), seeds {seed_span(result.seeds)}"
    tqdm.write(f"{cond.name}: logged {what} to {tracker.uri}", file=sys.stderr)
    return records


def _meaningful(values) -> list[float]:
    """float32 results with the 7 significant digits float32 has (0.82200002 -> 0.822)."""
    return [float(f"{v:.7g}") for v in np.asarray(values, dtype=np.float64)]
