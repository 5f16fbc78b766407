"""Fixtures for the service tests: a REAL PostgreSQL + ``mlflow server`` (started through
:mod:`bnstudy.server` on free loopback ports, data in a temporary folder, always stopped and
removed afterwards), and the one function that launches a tiny sweep.

The sweep's command line lives only in :func:`run_sweep`, and the names the tests look for in
the constants below, so that renaming the sweep's interface means editing this file only.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from bnstudy import server
from bnstudy.tracking import KEY_TAG, ROLE_TAG
from tests.conftest import BIN, subprocess_env

#: The experiment a sweep logs to.
EXPERIMENT = "bnstudy/placement"
#: The tag that names a run's condition: the UI groups runs by it.
GROUP_TAG = "condition"
#: The conditions a sweep runs.
CONDITIONS = ("baseline", "bn_after", "bn_before")


def run_sweep(
    uri: str,
    overrides: Sequence[str] = (),
    *,
    workdir: Path,
    conditions: Sequence[str] = CONDITIONS,
    seeds: Sequence[int] = (0, 1),
    epochs: int = 3,
    n_jobs: int = 0,
    env: dict[str, str] | None = None,
    background: bool = False,
    timeout: float = 600,
) -> subprocess.CompletedProcess | subprocess.Popen:
    """Run ``bnstudy-train -m`` over ``conditions`` x ``seeds`` of the placement study against
    tracking server ``uri`` in ``workdir`` (the app builds the dataset from its config).

    ``n_jobs > 0``: Hydra's joblib launcher with that many workers. ``background``: return the
    running process (its own process group; stdout and stderr in the file ``proc.log``)
    instead of waiting for it. Extra ``env`` is added to the project's environment."""
    env = {**subprocess_env(), **(env or {})}
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(BIN / "bnstudy-train"),
        "-m",
        f"condition={','.join(conditions)}",
        f"seed={','.join(str(s) for s in seeds)}",
        f"train.epochs={epochs}",
        f"tracking.uri={uri}",
    ]
    if n_jobs:
        cmd += ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={n_jobs}"]
    cmd += list(overrides)
    if background:
        log = workdir / f"sweep-{time.time_ns()}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                cmd, cwd=workdir, env=env, stdout=out, stderr=out, start_new_session=True
            )
        proc.log = log
        return proc
    return subprocess.run(
        cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout
    )


# --- reading the store ---------------------------------------------------------------------


def child_runs(uri: str) -> list:
    """Every per-seed run of the experiment, whatever its status."""
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    if exp is None:
        return []
    return client.search_runs(
        [exp.experiment_id], f"tags.`{ROLE_TAG}` = 'child'", run_view_type=3, max_results=10_000
    )


def finished_per_key(uri: str) -> Counter:
    """Run key -> number of FINISHED runs with it."""
    return Counter(r.data.tags[KEY_TAG] for r in child_runs(uri) if r.info.status == "FINISHED")


def conditions_seeds(runs: list, status: str = "FINISHED") -> list[tuple[str, int]]:
    """Sorted (condition, seed) of the runs with ``status``."""
    return sorted(
        (r.data.tags[GROUP_TAG], int(r.data.tags["seed"])) for r in runs if r.info.status == status
    )


def expected(seeds: Sequence[int], conditions: Sequence[str] = CONDITIONS) -> list:
    return sorted((c, s) for c in conditions for s in seeds)


def wait_for(predicate, timeout: float, what: str, every: float = 1.0):
    """Poll ``predicate()`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


# --- the server ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def service_dir(tmp_path_factory) -> Iterator[Path]:
    """Where the servers keep their data: a folder of its own under the system's temporary
    folder, not under pytest's. Under root PostgreSQL runs as ``postgres``, which must get
    through every folder above its data; pytest resets its own base folder to 0700 whenever any
    pytest session starts. The servers' logs are kept with pytest's temporary files."""
    root = Path(tempfile.mkdtemp(prefix="bnstudy-services-"))
    root.chmod(0o711)
    yield root
    logs = tmp_path_factory.mktemp("service-logs")
    for log in root.glob("*/*.log"):
        shutil.copy(log, logs / f"{log.parent.name}-{log.name}")
    shutil.rmtree(root, ignore_errors=True)


def server_settings(service_dir: Path, name: str, **kwargs) -> server.Settings:
    """Settings for a server with its data in ``service_dir/name`` (new), on free ports."""
    root = service_dir / name
    root.mkdir()
    return server.Settings(
        root=root,
        pg_port=server.free_port(),
        port=server.free_port(),
        timeout=240,
        **kwargs,
    )


@contextlib.contextmanager
def running_server(s: server.Settings) -> Iterator[server.Settings]:
    """Start PostgreSQL + mlflow server for ``s``; always stop both afterwards."""
    try:
        server.start(s)
        yield s
    finally:
        server.stop(s)


@pytest.fixture(scope="session")
def tracking_server(service_dir) -> Iterator[server.Settings]:
    """One PostgreSQL + mlflow server for the sweep and failure tests."""
    with running_server(server_settings(service_dir, "server")) as s:
        yield s


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    """Where sweeps run (params.yaml, the dataset, Hydra's multirun folders)."""
    return tmp_path_factory.mktemp("work")
