"""MLflow: where runs go, what identifies them, and how a run is logged.

Each study has its own experiment, ``bnstudy/<study>``. Each (condition, seed) is one run, a
child of one parent run per condition, which the UI shows nested; the ``condition`` tag
groups a condition's seeds in the UI. Runs are written with an explicit
:class:`MlflowClient` (never the fluent "active run"), so nothing leaks between the jobs of a
Hydra sweep, and a run that fails while being logged is ended FAILED. A run's identity
(``bnstudy.run_key``) is a hash of its condition's resolved config and its seed
(:mod:`bnstudy.studies`): a FINISHED run with the same key is reused instead of trained again.
"""

from __future__ import annotations

import math
import os
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import numpy as np
from filelock import FileLock
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bnstudy.config import ConfigError
from bnstudy.paths import default_tracking_uri, lock_dir

KEY_TAG = "bnstudy.run_key"
GROUP_TAG = "bnstudy.condition_key"
ROLE_TAG = "bnstudy.role"
CONDITION_TAG = "condition"
DIVERGED_TAG = "diverged"


def experiment_name(study: str) -> str:
    """The MLflow experiment of a study."""
    return f"bnstudy/{study}"


def resolve_uri(cfg: DictConfig) -> str:
    """``tracking.uri``, else ``$MLFLOW_TRACKING_URI``, else the repository's SQLite store.

    A relative ``sqlite:///`` path is made absolute, so runs never land in a temporary copy.
    """
    uri = cfg.tracking.uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = f"sqlite:///{Path(uri.removeprefix('sqlite:///')).resolve()}"
    return uri


def _check_reachable(uri: str, timeout: float = 3.0) -> None:
    """Fail within seconds, with one line, if the store cannot be reached."""
    parsed = urlparse(uri)
    if parsed.scheme == "sqlite":
        folder = Path(uri.removeprefix("sqlite:///")).parent
        if not folder.is_dir():
            raise ConfigError(f"tracking.uri: folder {str(folder)!r} of {uri!r} does not exist")
    elif parsed.scheme in ("http", "https"):
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            socket.create_connection((parsed.hostname, port), timeout=timeout).close()
        except OSError as exc:
            raise ConfigError(
                f"tracking.uri: cannot reach {uri!r} ({exc.strerror or exc}); "
                "start the server or use a sqlite:/// URI"
            ) from None
    else:
        raise ConfigError(
            f"tracking.uri: {uri!r} is not supported; expected sqlite:///<path> "
            "or http(s)://host:port"
        )


def dataset_input(x: np.ndarray, y: np.ndarray, name: str, digest: str, source: dict):
    """The training split as an MLflow dataset input (the UI's Dataset column and lineage);
    ``source``: what generated it (the data stage's file and the generating config)."""
    import mlflow.data
    from mlflow.data.code_dataset_source import CodeDatasetSource

    src = CodeDatasetSource({k: str(v) for k, v in source.items()})
    data = mlflow.data.from_numpy(x, targets=y, name=name, digest=digest, source=src)
    return DatasetInput(data._to_mlflow_entity(), [InputTag("mlflow.data.context", "training")])


def flat_params(ident: dict) -> dict[str, str]:
    """Flatten a run's identity dict into MLflow params (``train.epochs`` -> ``100``).

    A model without BN logs no ``model.bn.*`` params: it has no BN to configure.
    """
    out: dict[str, str] = {}

    def walk(prefix: str, node) -> None:
        if prefix == "model.bn" and ident.get("model", {}).get("placement") == "none":
            return
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            out[prefix] = str(node)

    walk("", ident)
    return out


def retry(fn, *args, attempts: int = 8, **kwargs):
    """Call ``fn``, retrying SQLite's "database is locked" with back-off."""
    for i in range(attempts):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # MlflowException wraps sqlalchemy's OperationalError
            if "locked" not in str(exc) or i == attempts - 1:
                raise
            time.sleep(0.2 * 2**i)
    raise AssertionError("unreachable")


def _sqlite_wal(dbapi_connection, _record) -> None:
    """SQLite stores in WAL mode with ``synchronous=NORMAL``: a commit appends to the log
    instead of syncing the database file (logging a run takes ~40% less time), and readers
    such as the UI never block the writer. The database stays consistent after a crash; only
    the last commits can be lost to a power cut."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


@dataclass
class Tracker:
    """An MLflow store and the study's experiment in it."""

    client: MlflowClient
    experiment_id: str
    uri: str

    @classmethod
    def open(cls, cfg: DictConfig) -> Tracker:
        """Connect (checking reachability first) and get or create the study's experiment.

        For SQLite the store is created under a file lock, so parallel jobs don't race on
        schema migration, and artifacts go to ``mlartifacts/`` beside the database file.
        """
        uri = resolve_uri(cfg)
        _check_reachable(uri)
        mlflow.set_tracking_uri(uri)
        name = experiment_name(cfg.study.name)
        if uri.startswith("sqlite:///"):
            if not event.contains(Engine, "connect", _sqlite_wal):
                event.listen(Engine, "connect", _sqlite_wal)
            db = Path(uri.removeprefix("sqlite:///"))
            # Creating the client creates (and migrates) the database: one process at a time.
            with FileLock(str(db) + ".lock", timeout=120):
                client = MlflowClient(uri)
                exp_id = cls._experiment(client, name, (db.parent / "mlartifacts").as_uri())
        else:
            client = MlflowClient(uri)
            exp_id = cls._experiment(client, name, None)
        return cls(client, exp_id, uri)

    def analyze(self) -> None:
        """Refresh a SQLite store's planner statistics (sampled: well under a second). Without
        them SQLite reads a run's metric history through the wrong index, scanning that
        metric's rows of every run: 36 ms instead of 0.3 ms per metric with 1.5 M rows."""
        if not self.uri.startswith("sqlite:///"):
            return
        with sqlite3.connect(self.uri.removeprefix("sqlite:///"), timeout=60) as db:
            db.execute("PRAGMA analysis_limit=400")
            db.execute("ANALYZE")
        db.close()

    @staticmethod
    def _experiment(client: MlflowClient, name: str, artifacts: str | None) -> str:
        """Get or create the experiment; a worker that loses the race to create it (several
        starting together against a server: mlflow #10334) gets the winner's."""
        exp = retry(client.get_experiment_by_name, name)
        if exp is not None:
            return exp.experiment_id
        try:
            return retry(client.create_experiment, name, artifact_location=artifacts)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return retry(client.get_experiment_by_name, name).experiment_id

    def _search(self, filt: str) -> list:
        return retry(self.client.search_runs, [self.experiment_id], filt, max_results=10_000)

    def finished(self, group_key: str, keys: list[str]) -> dict:
        """The FINISHED runs of condition ``group_key`` whose identity is in ``keys``: key ->
        run (one search for the condition). Runs with those keys left RUNNING by a killed
        process are marked KILLED on the way."""
        wanted, found = set(keys), {}
        for run in self._search(f"tags.`{GROUP_TAG}` = '{group_key}'"):
            key, status = run.data.tags.get(KEY_TAG), run.info.status
            if key not in wanted or run.data.tags.get(ROLE_TAG) == "parent":
                continue
            if status == "FINISHED":
                found.setdefault(key, run)
            elif status == "RUNNING":
                retry(self.client.set_terminated, run.info.run_id, "KILLED")
        return found

    def parent(self, group_key: str, name: str, tags: dict[str, str]) -> str:
        """The parent run id of a condition, created on first use."""
        with FileLock(str(lock_dir() / f"{group_key}.lock"), timeout=120):
            runs = self._search(
                f"tags.`{GROUP_TAG}` = '{group_key}' and tags.`{ROLE_TAG}` = 'parent'"
            )
            if runs:
                return runs[0].info.run_id
            run = retry(
                self.client.create_run,
                self.experiment_id,
                run_name=name,
                tags={**tags, GROUP_TAG: group_key, ROLE_TAG: "parent"},
            )
            retry(self.client.set_terminated, run.info.run_id, "FINISHED")
            return run.info.run_id

    def study_run(self, study: str) -> str:
        """The study's own run (role ``study``), created on first use: it carries the report."""
        with FileLock(str(lock_dir() / f"study-{study}.lock"), timeout=120):
            runs = self._search(f"tags.`{ROLE_TAG}` = 'study'")
            if runs:
                return runs[0].info.run_id
            tags = {ROLE_TAG: "study", "study": study}
            run = retry(self.client.create_run, self.experiment_id, run_name=study, tags=tags)
            retry(self.client.set_terminated, run.info.run_id, "FINISHED")
            return run.info.run_id

    def log_run(
        self,
        *,
        run_name: str,
        parent_id: str,
        params: dict[str, str],
        tags: dict[str, str],
        history: dict,
        final: dict[str, float],
        times: list[float] | None,
        dataset: DatasetInput | None = None,
    ) -> str:
        """Create one FINISHED run with params, per-epoch metrics (step = epoch, 1-based; only
        finite values: a diverged run's curves stop where it diverged), ``final`` metrics (at
        the last step), in one request. ``times`` are the epochs' end times (seconds since the
        epoch), the metrics' timestamps. On any error the run is ended FAILED and the error
        re-raised."""
        run = retry(
            self.client.create_run,
            self.experiment_id,
            run_name=run_name,
            tags={**tags, "mlflow.parentRunId": parent_id, ROLE_TAG: "child"},
        )
        run_id = run.info.run_id
        try:
            last = max(len(v) for v in history.values())
            now = time.time()
            stamps = [int(1000 * t) for t in (times or [now] * last)]
            metrics = [
                Metric(name, float(v), stamps[epoch], epoch + 1)
                for name, values in history.items()
                for epoch, v in enumerate(values)
                if math.isfinite(v)
            ]
            metrics += [
                Metric(name, float(v), stamps[-1], last)
                for name, v in final.items()
                if math.isfinite(v)
            ]
            ps = [Param(k, v[:6000]) for k, v in params.items()]
            for i in range(0, max(len(metrics), 1), 1000):
                retry(
                    self.client.log_batch,
                    run_id,
                    metrics=metrics[i : i + 1000],
                    params=ps if i == 0 else [],
                    tags=[],
                )
            if dataset is not None:
                retry(self.client.log_inputs, run_id, datasets=[dataset])
        except BaseException:
            retry(self.client.set_terminated, run_id, RunStatus.to_string(RunStatus.FAILED))
            raise
        retry(self.client.set_terminated, run_id, "FINISHED")
        return run_id

    def log_artifacts(self, run_id: str, folder: Path) -> None:
        """Upload the files under ``folder`` to the run ``run_id``."""
        retry(self.client.log_artifacts, run_id, str(folder))

    def history(self, run_id: str, names: tuple[str, ...], epochs: int) -> dict:
        """Per-epoch values of ``names`` for a run: name -> list[float] of length ``epochs``
        (nan where nothing was logged: after a divergence)."""
        out = {}
        for name in names:
            values = [math.nan] * epochs
            for m in retry(self.client.get_metric_history, run_id, name):
                if 1 <= m.step <= epochs:
                    values[m.step - 1] = m.value
            out[name] = values
        return out
