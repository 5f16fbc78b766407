"""The sweep of the joblib test through Hydra's submitit launcher (``hydra/launcher=local``:
submitit's local executor, real job processes started from pickles, as on SLURM) against a
real PostgreSQL-backed ``mlflow server``: one job per condition trains all its seeds, every
run is logged exactly once, and a rerun with more conditions reuses the finished runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.services.conftest import child_runs, conditions_seeds, expected, run_sweep

pytestmark = pytest.mark.services

SEEDS = (30, 31)


def _job_logs(sweep_dir: Path) -> dict[str, str]:
    """submitit job id -> that job's stdout and stderr (``.submitit/<id>/<id>_0_log.*``)."""
    logs = {}
    for folder in sorted((sweep_dir / ".submitit").iterdir()):
        if folder.name.isdigit():
            logs[folder.name] = "".join(
                p.read_text() for p in sorted(folder.glob(f"{folder.name}_0_log.*"))
            )
    return logs


def _sweep(uri: str, workdir: Path, name: str, conditions) -> dict[str, str]:
    sweep_dir = workdir / "submitit" / name
    res = run_sweep(
        uri,
        [f"hydra.sweep.dir={sweep_dir}"],
        workdir=workdir,
        conditions=conditions,
        seeds=SEEDS,
        blocks=True,
        launcher="local",
    )
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    logs = _job_logs(sweep_dir)
    assert len(logs) == len(conditions), logs.keys()  # one job (process) per condition
    for log in logs.values():
        assert "Job completed successfully" in log, log[-3000:]
        # each job a block: the condition's seeds, trained or reused in that one process
        header = re.search(rf"\[job \d/{len(conditions)}\] .* seeds=\[30, 31\]", log)
        assert header, log[-3000:]
        assert len(re.findall(r"(?:trained|reused) run \w+: .* seed=3[01] ", log)) == 2, log
    return logs


def _ours(uri: str) -> list:
    return [r for r in child_runs(uri) if int(r.data.tags["seed"]) in SEEDS]


def _assert_exactly_once(uri: str, conditions) -> None:
    runs = _ours(uri)
    assert conditions_seeds(runs) == expected(SEEDS, conditions)
    assert len(runs) == len(conditions) * len(SEEDS), [r.info.status for r in runs]


def test_submitit_local_sweep_logs_blocks_once_and_a_rerun_resumes(tracking_server, workdir):
    uri = tracking_server.tracking_uri
    first = ("baseline", "bn_after")
    logs = _sweep(uri, workdir, "first", first)
    assert sum(log.count("trained run") for log in logs.values()) == 4
    _assert_exactly_once(uri, first)

    # The full sweep: the first two conditions' jobs reuse their runs, bn_before trains.
    every = ("baseline", "bn_after", "bn_before")
    logs = _sweep(uri, workdir, "again", every)
    assert sum(log.count("reused run") for log in logs.values()) == 4
    trained = [log for log in logs.values() if "trained run" in log]
    assert len(trained) == 1 and trained[0].count("condition='bn_before'") >= 2
    _assert_exactly_once(uri, every)
