"""Sweeps against a real PostgreSQL-backed ``mlflow server``: parallel workers log every run
exactly once; a sweep killed part-way, or cut off from its database, completes on a rerun with
exactly one FINISHED run per run key."""

from __future__ import annotations

import multiprocessing
import os
import signal
import uuid

import pytest
from mlflow.tracking import MlflowClient

from bnstudy import server
from bnstudy.config import compose, validate
from tests.services.conftest import (
    child_runs,
    conditions_seeds,
    expected,
    finished_per_key,
    run_sweep,
    wait_for,
)

pytestmark = pytest.mark.services

#: An MLflow client gives up after one retry (instead of ~4 minutes of back-off per request),
#: so that a sweep whose server lost its database fails within seconds.
FAIL_FAST = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}


def _ours(uri: str, seeds) -> list:
    return [r for r in child_runs(uri) if int(r.data.tags["seed"]) in seeds]


def _assert_one_finished_run_per_key(uri: str, seeds) -> None:
    runs = _ours(uri, seeds)
    assert conditions_seeds(runs) == expected(seeds)
    counts = finished_per_key(uri)
    assert counts and set(counts.values()) == {1}, counts
    assert "RUNNING" not in {r.info.status for r in runs}


def test_parallel_sweep_logs_every_run_exactly_once(tracking_server, workdir):
    uri, seeds = tracking_server.tracking_uri, (0, 1)
    res = run_sweep(uri, workdir=workdir, seeds=seeds, n_jobs=4)
    assert res.returncode == 0, res.stderr[-3000:]
    for i in range(1, 7):
        assert f"[job {i}/6]" in res.stderr
    _assert_one_finished_run_per_key(uri, seeds)
    # the weights went through the server (proxied) into its artifact folder, one file per
    # seed on each condition's parent run
    client = MlflowClient(uri)
    for run in _ours(uri, seeds):
        assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
        parent = run.data.tags["mlflow.parentRunId"]
        seed = int(run.data.tags["seed"])
        files = {f.path for f in client.list_artifacts(parent, "weights")}
        assert f"weights/s{seed:03d}.npz" in files
    assert len(list(tracking_server.artifacts.rglob("s0*.npz"))) >= 6


def test_killed_parallel_sweep_rerun_leaves_one_finished_run_per_key(tracking_server, workdir):
    uri, seeds = tracking_server.tracking_uri, (10, 11)
    proc = run_sweep(uri, workdir=workdir, seeds=seeds, n_jobs=2, background=True)
    try:
        wait_for(
            lambda: conditions_seeds(_ours(uri, seeds)),
            300,
            "the sweep's first finished run",
            every=0.5,
        )
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its joblib workers
        proc.wait()
    wait_for(lambda: not server.group_alive(proc.pid), 30, "the killed workers to exit")
    partial = conditions_seeds(_ours(uri, seeds))
    # 2 workers on 6 jobs, killed when the first run finished: most runs never finished
    assert 1 <= len(partial) < 6, proc.log.read_text()[-3000:]

    res = run_sweep(uri, workdir=workdir, seeds=seeds)  # one process: TensorFlow imported once
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count("reused run") == len(partial)
    _assert_one_finished_run_per_key(uri, seeds)


def test_postgres_stopped_mid_sweep_fails_clearly_and_rerun_completes(tracking_server, workdir):
    s, seeds = tracking_server, (20, 21)
    uri = s.tracking_uri
    proc = run_sweep(uri, workdir=workdir, seeds=seeds, env=FAIL_FAST, background=True)
    try:
        wait_for(lambda: conditions_seeds(_ours(uri, seeds)), 300, "the sweep's first finished run")
        assert server.stop_postgres(s)
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        server.start_postgres(s)
    log = proc.log.read_text()
    assert proc.returncode != 0, log[-3000:]
    # One line naming the store and the server's answer, no traceback.
    errors = [ln for ln in log.splitlines() if ln.startswith("bnstudy: error")]
    assert errors == [ln for ln in errors if "tracking store: API request to" in ln], log[-3000:]
    assert len(errors) == 1 and f"{uri}/api/" in errors[0], log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    assert "Service Unavailable" in s.mlflow_log.read_text()  # and why, in the server's log

    res = run_sweep(uri, workdir=workdir, seeds=seeds)
    assert res.returncode == 0, res.stderr[-3000:]
    _assert_one_finished_run_per_key(uri, seeds)


def _open_tracker(experiment: str, uri: str, barrier, results) -> None:
    from bnstudy.tracking import Tracker

    cfg = validate(compose([f"tracking.uri={uri}", f"study.name={experiment}"]))
    barrier.wait()
    try:
        Tracker.open(cfg)
        results.put("ok")
    except Exception as exc:
        results.put(f"{type(exc).__name__}: {str(exc)[:200]}")


def test_workers_opening_a_new_experiment_together_all_succeed(tracking_server):
    ctx = multiprocessing.get_context("fork")
    failures = []
    for _ in range(3):
        name = f"race_{uuid.uuid4().hex[:8]}"
        barrier, results = ctx.Barrier(4), ctx.Queue()
        procs = [
            ctx.Process(
                target=_open_tracker, args=(name, tracking_server.tracking_uri, barrier, results)
            )
            for _ in range(4)
        ]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join()
        failures += [o for o in outcomes if o != "ok"]
    assert not failures, failures
