"""End to end: `dvc exp run` / `dvc repro` in a temporary copy of the repository, and Hydra
sweeps, on tiny configs; checks the outputs against the MLflow store."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from bnstudy.aggregate import summary_table
from tests.conftest import subprocess_env

pytestmark = pytest.mark.slow
TINY = ["train.epochs=4", "study.seeds=[0,1,2]", "study.n_resamples=300"]


def _run(cmd: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    res = subprocess.run(
        cmd, cwd=cwd, env=subprocess_env(), capture_output=True, text=True, timeout=timeout
    )
    assert res.returncode == 0, f"{cmd} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope="module")
def study(tmp_path_factory, repo_root):
    """A committed copy of the repository where `dvc exp run -S <tiny>` has run once."""
    repo = tmp_path_factory.mktemp("repo")
    for item in (
        "dvc.yaml",
        "params.yaml",
        "conf",
        "src",
        ".dvc/config",
        ".dvcignore",
        ".gitignore",
    ):
        src, dst = repo_root / item, repo / item
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    _run(["git", "init", "-q"], repo)
    _run(["git", "add", "-A"], repo)
    _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], repo)
    args = [a for o in TINY for a in ("-S", o)]
    res = _run(["dvc", "exp", "run", *args], repo)
    return repo, res


def _store(repo: Path):
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    exp = client.get_experiment_by_name("bn-placement")
    return client, client.search_runs([exp.experiment_id], "tags.`bnstudy.role` = 'child'")


def test_exp_run_composes_conf_with_overrides(study):
    repo, _ = study
    params = OmegaConf.load(repo / "params.yaml")
    assert params.train.epochs == 4 and list(params.study.seeds) == [0, 1, 2]


def test_outputs_exist(study):
    repo, _ = study
    for name in (
        "runs.csv",
        "summary.csv",
        "comparisons.csv",
        "curves.csv",
        "metrics.json",
        "report.md",
        "plots/test_accuracy.csv",
    ):
        assert (repo / "reports" / name).stat().st_size > 0, name
    figures = sorted(p.name for p in (repo / "reports" / "figures").iterdir())
    assert figures == [
        "accuracy_ecdf.png",
        "final_accuracy.png",
        "forest.png",
        "learning_curves.png",
        "reached.png",
    ]
    report = (repo / "reports" / "report.md").read_text()
    for heading in ("Table 1", "Table 2", "Figures", "Verdicts"):
        assert heading in report
    assert report.index("Table 1") < report.index("Figures") < report.index("Verdicts")


def test_every_run_is_in_mlflow_and_runs_csv_matches_it(study):
    repo, _ = study
    client, runs = _store(repo)
    assert len(runs) == 9 and {r.info.status for r in runs} == {"FINISHED"}
    table = pd.read_csv(repo / "reports" / "runs.csv")
    assert sorted(table["run_id"]) == sorted(r.info.run_id for r in runs)
    for row in table.itertuples():
        hist = client.get_metric_history(row.run_id, "val_accuracy")
        assert [m.step for m in sorted(hist, key=lambda m: m.step)] == [1, 2, 3, 4]
        assert row.test_accuracy == pytest.approx(max(hist, key=lambda m: m.step).value, abs=1e-6)
        assert row.train_accuracy == pytest.approx(
            client.get_run(row.run_id).data.metrics["train_accuracy"], abs=1e-6
        )
        run = client.get_run(row.run_id)
        assert run.data.tags["variant"] == row.variant
        assert run.data.tags["dvc.stage"] == "train"


def test_summary_is_recomputed_from_runs_csv(study):
    repo, _ = study
    runs = pd.read_csv(repo / "reports" / "runs.csv")
    cfg = OmegaConf.load(repo / "params.yaml")
    recomputed = summary_table(runs, cfg.study)
    saved = pd.read_csv(repo / "reports" / "summary.csv")
    pd.testing.assert_frame_equal(recomputed, saved, check_dtype=False, rtol=1e-5)


def test_second_repro_is_a_no_op(study):
    repo, _ = study
    res = _run(["dvc", "repro"], repo)
    assert "Data and pipelines are up to date" in res.stdout + res.stderr
    assert len(_store(repo)[1]) == 9


def test_dvc_metrics_and_plots(study):
    repo, _ = study
    metrics = json.loads(_run(["dvc", "metrics", "show", "--json"], repo).stdout)
    (entry,) = metrics.values()
    values = entry["data"]["reports/metrics.json"]["data"]
    assert set(values) == {"baseline", "bn_after", "bn_before"}
    _run(["dvc", "plots", "show", "-o", "plots_html"], repo)
    assert (repo / "plots_html" / "index.html").exists()


def test_editing_one_variant_trains_only_that_variant_again(study):
    """The train stage reruns, but the unchanged variants' runs are reused from MLflow.

    Runs last among the tests on ``study``: it adds 3 runs to the store, then restores
    params.yaml and the train stage's outputs."""
    repo, _ = study
    ids = {v: _run_ids(repo, v) for v in ("baseline", "bn_after", "bn_before")}
    _run(["bnstudy", "params", *TINY, "variants.bn_before.bn.momentum=0.9"], repo)
    try:
        assert "train" in json.loads(_run(["dvc", "status", "--json"], repo).stdout)
        res = _run(["dvc", "repro", "train"], repo)
        for v in ("baseline", "bn_after"):
            assert f"{v}: reusing 3 finished run(s)" in res.stderr
            assert _run_ids(repo, v) == ids[v]
        assert "bn_before: logged 3 run(s)" in res.stderr
        assert not set(_run_ids(repo, "bn_before")) & set(ids["bn_before"])
        client, runs = _store(repo)
        assert len(runs) == 12
        new = client.get_run(_run_ids(repo, "bn_before")[0])
        assert new.data.params["model.bn.momentum"] == "0.9"
    finally:
        _run(["bnstudy", "params", *TINY], repo)
        _run(["dvc", "repro", "train"], repo)
    assert {v: _run_ids(repo, v) for v in ids} == ids


def _run_ids(repo: Path, variant: str) -> list[str]:
    return pd.read_csv(repo / "results" / variant / "runs.csv")["run_id"].tolist()


def test_parallel_hydra_sweep_logs_every_run_and_shows_progress(tmp_path):
    """Two joblib workers write to one fresh SQLite store: nothing may be lost."""
    from bnstudy.data import make_dataset, save_dataset

    save_dataset(make_dataset(), tmp_path / "data" / "circles.npz")
    sweep = ["variant=baseline,bn_before", "seed=range(2)", "train.epochs=2"]
    parallel = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    res = _run(["bnstudy-train", "-m", *sweep, *parallel], tmp_path)
    for i in range(1, 5):
        assert f"[run {i}/4]" in res.stderr
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("bn-placement")
    runs = client.search_runs([exp.experiment_id], "tags.`bnstudy.role` = 'child'")
    assert sorted((r.data.tags["variant"], r.data.tags["seed"]) for r in runs) == [
        ("baseline", "0"),
        ("baseline", "1"),
        ("bn_before", "0"),
        ("bn_before", "1"),
    ]
    assert {r.info.status for r in runs} == {"FINISHED"}
