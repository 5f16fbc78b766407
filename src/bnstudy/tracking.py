"""MLflow: where runs go, what identifies them, and how a run is logged.

One experiment holds the study. Each (variant, seed) is one run, a child of a parent run
per variant group (same variant, data and training config), which the UI shows nested.
Runs are written with an explicit :class:`MlflowClient` (never the fluent "active run"),
so nothing leaks between the jobs of a Hydra sweep, and a run that fails while being logged
is ended FAILED. A run's identity (``bnstudy.run_key``) is a hash of its resolved config and
seed: a FINISHED run with the same key is reused instead of trained again.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import mlflow
from filelock import FileLock
from mlflow.entities import Metric, Param, RunStatus
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

import bnstudy
from bnstudy.config import ConfigError
from bnstudy.paths import default_tracking_uri

KEY_TAG = "bnstudy.run_key"
GROUP_TAG = "bnstudy.group_key"
ROLE_TAG = "bnstudy.role"


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


def identity(cfg: DictConfig, variant: str, seed: int | None) -> tuple[str, dict]:
    """(sha256 key, the dict it hashes): what makes a run the same run.

    ``seed=None`` gives the key of the variant group (the parent run).
    """
    ident = {
        "variant": variant,
        "model": OmegaConf.to_container(cfg.variants[variant], resolve=True),
        "data": {k: v for k, v in OmegaConf.to_container(cfg.data).items() if k != "path"},
        "train": OmegaConf.to_container(cfg.train, resolve=True),
        "seed": seed,
        "version": bnstudy.__version__,
    }
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
    return digest, ident


def flat_params(ident: dict) -> dict[str, str]:
    """Flatten a run's identity dict into MLflow params (``train.epochs`` -> ``100``)."""
    out: dict[str, str] = {}

    def walk(prefix: str, node) -> None:
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


@dataclass
class Tracker:
    """An MLflow store and the study's experiment in it."""

    client: MlflowClient
    experiment_id: str
    uri: str

    @classmethod
    def open(cls, cfg: DictConfig) -> Tracker:
        """Connect (checking reachability first) and get or create the experiment.

        For SQLite the store is created under a file lock, so parallel jobs don't race on
        schema migration, and artifacts go to ``mlartifacts/`` beside the database file.
        """
        uri = resolve_uri(cfg)
        _check_reachable(uri)
        mlflow.set_tracking_uri(uri)
        name = cfg.tracking.experiment
        if uri.startswith("sqlite:///"):
            db = Path(uri.removeprefix("sqlite:///"))
            # Creating the client creates (and migrates) the database: one process at a time.
            with FileLock(str(db) + ".lock", timeout=120):
                client = MlflowClient(uri)
                exp_id = cls._experiment(client, name, (db.parent / "mlartifacts").as_uri())
        else:
            client = MlflowClient(uri)
            exp_id = cls._experiment(client, name, None)
        return cls(client, exp_id, uri)

    @staticmethod
    def _experiment(client: MlflowClient, name: str, artifacts: str | None) -> str:
        exp = retry(client.get_experiment_by_name, name)
        if exp is not None:
            return exp.experiment_id
        return retry(client.create_experiment, name, artifact_location=artifacts)

    def _search(self, filt: str) -> list:
        return retry(self.client.search_runs, [self.experiment_id], filt, max_results=10_000)

    def finished(self, key: str):
        """The FINISHED run with identity ``key``, or None. Runs with that key left RUNNING by
        a killed process are marked KILLED on the way."""
        found = None
        for run in self._search(f"tags.`{KEY_TAG}` = '{key}'"):
            status = run.info.status
            if status == "FINISHED" and found is None:
                found = run
            elif status == "RUNNING":
                retry(self.client.set_terminated, run.info.run_id, "KILLED")
        return found

    def parent(self, group_key: str, variant: str, tags: dict[str, str]) -> str:
        """The parent run id of a variant group, created on first use."""
        with FileLock(str(_lock_dir() / f"{group_key}.lock"), timeout=120):
            runs = self._search(
                f"tags.`{GROUP_TAG}` = '{group_key}' and tags.`{ROLE_TAG}` = 'parent'"
            )
            if runs:
                return runs[0].info.run_id
            run = retry(
                self.client.create_run,
                self.experiment_id,
                run_name=variant,
                tags={**tags, GROUP_TAG: group_key, ROLE_TAG: "parent", "variant": variant},
            )
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
        artifacts: Path | None,
    ) -> str:
        """Create one FINISHED run with params, per-epoch metrics (step = epoch, 1-based),
        ``final`` metrics (at the last step) and the files in the folder ``artifacts``; on any
        error the run is ended FAILED and the error re-raised."""
        run = retry(
            self.client.create_run,
            self.experiment_id,
            run_name=run_name,
            tags={**tags, "mlflow.parentRunId": parent_id, ROLE_TAG: "child"},
        )
        run_id = run.info.run_id
        try:
            now = int(time.time() * 1000)
            metrics = [
                Metric(name, float(v), now, epoch + 1)
                for name, values in history.items()
                for epoch, v in enumerate(values)
            ]
            last = max(len(v) for v in history.values())
            metrics += [Metric(name, float(v), now, last) for name, v in final.items()]
            ps = [Param(k, v[:6000]) for k, v in params.items()]
            for i in range(0, max(len(metrics), 1), 1000):
                retry(
                    self.client.log_batch,
                    run_id,
                    metrics=metrics[i : i + 1000],
                    params=ps if i == 0 else [],
                    tags=[],
                )
            if artifacts is not None:
                retry(self.client.log_artifacts, run_id, str(artifacts))
        except BaseException:
            retry(self.client.set_terminated, run_id, RunStatus.to_string(RunStatus.FAILED))
            raise
        retry(self.client.set_terminated, run_id, "FINISHED")
        return run_id

    def history(self, run_id: str, names: tuple[str, ...]) -> dict:
        """Per-epoch values of ``names`` for a run, ordered by step: name -> list[float]."""
        out = {}
        for name in names:
            points = retry(self.client.get_metric_history, run_id, name)
            out[name] = [m.value for m in sorted(points, key=lambda m: m.step)]
        return out


def _lock_dir() -> Path:
    d = Path(tempfile.gettempdir()) / "bnstudy-locks"
    d.mkdir(exist_ok=True)
    return d
