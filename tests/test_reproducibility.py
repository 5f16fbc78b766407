"""Bit-identical reruns, resume after a killed sweep without duplicates, atomic outputs."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from bnstudy.atomic import write_text, write_with
from tests.conftest import BIN, subprocess_env

SWEEP = ["-m", "condition=baseline,bn_after,bn_before", "seed=0,1", "train.epochs=3"]


def _workdir(tmp_path: Path, name: str) -> Path:
    """An empty working directory: the app builds the dataset in memory when data/ lacks it."""
    d = tmp_path / name
    d.mkdir()
    return d


def _train_app(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``bnstudy-train *args`` in ``cwd`` and require success."""
    res = subprocess.run(
        [str(BIN / "bnstudy-train"), *args],
        cwd=cwd,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def _sweep(cwd: Path) -> subprocess.CompletedProcess:
    return _train_app(cwd, *SWEEP)


def _store_table(cwd: Path) -> pd.DataFrame:
    """Every child run in the store: status, variant, seed and its full metric histories."""
    client = MlflowClient(f"sqlite:///{cwd / 'mlflow.db'}")
    exp = client.get_experiment_by_name("bnstudy/placement")
    rows = []
    for run in client.search_runs(
        [exp.experiment_id], "tags.`bnstudy.role` = 'child'", run_view_type=3
    ):
        row = {
            "status": run.info.status,
            "variant": run.data.tags.get("condition"),
            "seed": run.data.tags.get("seed"),
            **{k: v for k, v in run.data.metrics.items() if k != "train_seconds"},
        }
        for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
            hist = sorted(client.get_metric_history(run.info.run_id, name), key=lambda m: m.step)
            row[f"{name}_curve"] = tuple(m.value for m in hist)
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["variant", "seed"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> pd.DataFrame:
    """The store of a sweep that ran uninterrupted: 3 variants x 2 seeds, one job each."""
    full = _workdir(tmp_path_factory.mktemp("sweep"), "uninterrupted")
    _sweep(full)
    table = _store_table(full)
    assert len(table) == 6 and set(table["status"]) == {"FINISHED"}
    return table


@pytest.mark.slow
def test_killed_sweep_resumes_without_duplicates_and_matches_an_uninterrupted_one(
    tmp_path, reference
):
    cut = _workdir(tmp_path, "interrupted")
    proc = subprocess.Popen(
        [str(BIN / "bnstudy-train"), *SWEEP],
        cwd=cut,
        env=subprocess_env(),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    for line in proc.stderr:  # kill -9 while the 4th job trains
        if line.startswith("[job 4/6]") or time.monotonic() > deadline:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = _store_table(cut)
    assert 1 <= (partial["status"] == "FINISHED").sum() < 6

    res = _sweep(cut)
    assert res.stdout.count("reused run") == (partial["status"] == "FINISHED").sum()
    resumed = _store_table(cut)
    finished = resumed[resumed["status"] == "FINISHED"]
    assert sorted(zip(finished["variant"], finished["seed"], strict=True)) == sorted(
        zip(reference["variant"], reference["seed"], strict=True)
    )
    assert "RUNNING" not in set(resumed["status"])
    # the same numbers, bit for bit, as the sweep that was never interrupted
    pd.testing.assert_frame_equal(finished.reset_index(drop=True), reference, check_exact=True)


@pytest.mark.slow
def test_one_seed_in_a_sweep_equals_the_same_seed_in_the_stage(saved_data, reference):
    """The DVC stage trains all seeds of a variant at once, and logs one variant while the
    next trains; the Hydra app trains one run per job: the numbers must not depend on that."""
    from bnstudy.studies import conditions
    from bnstudy.train import train_study

    sweep = reference
    conds = conditions(saved_data)
    for variant, records in train_study(saved_data, conds, [1, 0], stage="test").items():
        for r in records:
            row = sweep[(sweep["variant"] == variant) & (sweep["seed"] == str(r.seed))].iloc[0]
            assert tuple(r.history["val_accuracy"]) == row["val_accuracy_curve"]
            assert tuple(r.history["loss"]) == row["loss_curve"]


@pytest.mark.slow
def test_keras_engine_is_bit_identical_across_processes(tmp_path):
    tables = []
    for name in ("a", "b"):
        cwd = _workdir(tmp_path, name)
        _train_app(cwd, "condition=bn_before", "seed=1", "train.epochs=2", "train.engine=keras")
        tables.append(_store_table(cwd))
    pd.testing.assert_frame_equal(tables[0], tables[1], check_exact=True)


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path):
    target = tmp_path / "reports" / "summary.csv"
    write_text(target, "old\n")

    def crash(tmp: Path) -> None:
        tmp.write_text("half a tab")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_with(target, crash)
    assert target.read_text() == "old\n"
    assert [p.name for p in target.parent.iterdir()] == ["summary.csv"]


@pytest.mark.parametrize(("preset", "expected"), [(None, "0"), ("1", "1")])
def test_onednn_kernels_are_off_unless_the_user_sets_them(preset, expected):
    """TensorFlow turns its oneDNN kernels on by itself on CPUs with AVX-512, which moves floats
    between machines; importing bnstudy turns them off, and a value the user set is kept."""
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if preset is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = preset
    code = "import os, bnstudy; print(os.environ['TF_ENABLE_ONEDNN_OPTS'])"
    res = subprocess.run(
        [str(BIN / "python"), "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert res.stdout.strip() == expected
