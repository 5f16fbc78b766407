"""End to end: `dvc repro` of every study in a temporary copy of the repository, on tiny
configs; outputs checked against the MLflow store; what reruns after an edit; Hydra sweeps."""

from __future__ import annotations

import json
import re
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
STUDIES = ("placement", "bn_momentum")


def _run(cmd: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    res = subprocess.run(
        cmd, cwd=cwd, env=subprocess_env(), capture_output=True, text=True, timeout=timeout
    )
    assert res.returncode == 0, f"{cmd} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def _commit(repo: Path, message: str) -> None:
    _run(["git", "add", "-A"], repo)
    _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message], repo)


@pytest.fixture(scope="module")
def study(tmp_path_factory, repo_root):
    """A committed copy of the repository with tiny params, after `dvc exp run -S` once."""
    repo = tmp_path_factory.mktemp("repo")
    for item in (
        "dvc.yaml",
        "conf",
        "src",
        ".dvc/config",
        ".dvc/plots.html",
        ".dvcignore",
        ".gitignore",
    ):
        src, dst = repo_root / item, repo / item
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    _run(["git", "init", "-q"], repo)
    _run(["bnstudy", "params", *TINY], repo)
    # Two studies are enough to test the pipeline's wiring; the others only add minutes.
    params = OmegaConf.load(repo / "params.yaml")
    params.studies = {k: v for k, v in params.studies.items() if k in STUDIES}
    OmegaConf.save(params, repo / "params.yaml")
    _commit(repo, "init")
    res = _run(["dvc", "exp", "run", "-S", "studies.placement.study.n_resamples=301"], repo)
    return repo, res


def _store(repo: Path, study: str = "placement"):
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    exp = client.get_experiment_by_name(f"bnstudy/{study}")
    return client, client.search_runs([exp.experiment_id], "tags.`bnstudy.role` = 'child'")


def test_exp_run_sets_the_param_of_one_study(study):
    repo, _ = study
    params = OmegaConf.load(repo / "params.yaml")
    assert params.studies.placement.study.n_resamples == 301
    assert params.studies.bn_momentum.study.n_resamples == 300
    assert params.studies.placement.train.epochs == 4


def test_outputs_exist_for_every_study_and_the_ledger(study):
    repo, _ = study
    for s in STUDIES:
        for name in (
            "runs.csv",
            "summary.csv",
            "comparisons.csv",
            "curves.csv",
            "metrics.json",
            "report.md",
            "plots/test_accuracy.csv",
        ):
            assert (repo / "reports" / s / name).stat().st_size > 0, (s, name)
        figures = sorted(p.name for p in (repo / "reports" / s / "figures").iterdir())
        # placement draws its typical seeds' decision boundaries (study.boundaries: true)
        boundaries = ["boundaries.png"] if s == "placement" else []
        assert figures == [
            "accuracy_ecdf.png",
            *boundaries,
            "data.png",
            "final_accuracy.png",
            "forest.png",
            "learning_curves.png",
            "reached.png",
        ]
        assert (repo / "results" / s / "boundaries.npz").exists() == bool(boundaries)
        report = (repo / "reports" / s / "report.md").read_text()
        assert report.index("Table 1") < report.index("Figures") < report.index("## Claims")
    ledger = pd.read_csv(repo / "reports" / "claims.csv")
    assert ledger["id"].tolist() == [f"C{i}" for i in range(1, 27)]
    measured = ledger.set_index("id")["studies"].fillna("")
    assert measured["C1"] == "placement" and measured["C19"] == "bn_momentum"
    assert ledger.set_index("id").loc["C26", "verdict"] == "not measured"


def test_every_run_is_in_mlflow_and_runs_csv_matches_it(study):
    repo, _ = study
    for s, n in (("placement", 9), ("bn_momentum", 12)):
        client, runs = _store(repo, s)
        assert len(runs) == n and {r.info.status for r in runs} == {"FINISHED"}
        by_key = {r.data.tags["bnstudy.run_key"]: r for r in runs}
        table = pd.read_csv(repo / "reports" / s / "runs.csv")
        assert sorted(table["run_key"]) == sorted(by_key)
        for row in table.itertuples():
            run = by_key[row.run_key]
            hist = client.get_metric_history(run.info.run_id, "val_accuracy")
            assert [m.step for m in sorted(hist, key=lambda m: m.step)] == [1, 2, 3, 4]
            last = max(hist, key=lambda m: m.step).value
            assert row.test_accuracy == pytest.approx(last, rel=1e-5)
            assert run.data.tags["condition"] == row.condition
            assert run.data.tags["dvc.stage"] == "train"


def test_each_study_has_a_run_carrying_its_report(study):
    repo, _ = study
    for s in STUDIES:
        client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
        exp = client.get_experiment_by_name(f"bnstudy/{s}")
        (run,) = client.search_runs([exp.experiment_id], "tags.`bnstudy.role` = 'study'")
        files = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"report.md", "figures", "claims.csv", "summary.csv"} <= files
        assert run.info.run_name == s


def test_no_per_store_value_in_tracked_outputs(study):
    """Run ids differ per MLflow store: they must not reach results/ (and so dvc.lock)."""
    repo, _ = study
    _, runs = _store(repo)
    text = "".join(p.read_text() for p in (repo / "results").rglob("*.csv"))
    text += (repo / "dvc.lock").read_text()
    assert not [r.info.run_id for r in runs if r.info.run_id in text]


def test_summary_is_recomputed_from_runs_csv(study):
    repo, _ = study
    runs = pd.read_csv(repo / "reports" / "placement" / "runs.csv")
    cfg = OmegaConf.load(repo / "params.yaml").studies.placement
    recomputed = summary_table(runs, cfg.study)
    saved = pd.read_csv(repo / "reports" / "placement" / "summary.csv")
    pd.testing.assert_frame_equal(recomputed, saved, check_dtype=False, rtol=1e-5)


def test_second_repro_is_a_no_op_and_the_rebuild_reproduces(study):
    repo, _ = study
    res = _run(["dvc", "repro"], repo)
    assert "Data and pipelines are up to date" in res.stdout + res.stderr
    assert len(_store(repo)[1]) == 9
    _commit(repo, "results")
    _run(["dvc", "repro", "-f", "report@placement"], repo)
    assert "identical to the committed" in _run(["bnstudy", "check"], repo).stdout


def test_dvc_metrics_and_plots(study):
    repo, _ = study
    metrics = json.loads(_run(["dvc", "metrics", "show", "--json"], repo).stdout)
    (entry,) = metrics.values()
    values = entry["data"]["reports/placement/metrics.json"]["data"]
    assert set(values) == {"baseline", "bn_after", "bn_before"}
    _run(["dvc", "plots", "show", "-o", "plots_html"], repo)
    html = (repo / "plots_html" / "index.html").read_text()
    assert "vegaEmbed(" in html and "cdn." not in html  # Vega inlined: draws offline


def _stages_run(repo: Path) -> list[str]:
    res = _run(["dvc", "repro"], repo)
    return sorted(
        line.split("'")[1] for line in res.stdout.splitlines() if line.startswith("Running stage")
    )


def test_editing_a_module_reruns_exactly_the_stages_that_run_it(study):
    repo, _ = study
    report = repo / "src" / "bnstudy" / "report.py"
    original = report.read_text()
    try:
        report.write_text(original + "\n# edited\n")
        assert _stages_run(repo) == ["report@bn_momentum", "report@placement"]
    finally:
        report.write_text(original)
        _run(["dvc", "repro"], repo)


def test_editing_one_condition_reruns_one_study_and_trains_only_that_condition(study):
    """Runs last among the tests on ``study``: it adds 3 runs to the store, then restores
    params.yaml and the outputs."""
    repo, _ = study
    params = repo / "params.yaml"
    original = params.read_text()
    ids = {r.data.tags["bnstudy.run_key"]: r.info.run_id for r in _store(repo)[1]}
    edited = OmegaConf.load(params)
    edited.studies.placement.study.axes.variant.bn_before.model.bn = {"momentum": 0.9}
    OmegaConf.save(edited, params)
    try:
        res = _run(["dvc", "repro"], repo)
        ran = sorted(
            ln.split("'")[1] for ln in res.stdout.splitlines() if ln.startswith("Running stage")
        )
        assert ran == [
            "data@placement",
            "ledger",
            "report@placement",
            "train@placement",
        ] or ran == ["ledger", "report@placement", "train@placement"]
        for c in ("baseline", "bn_after"):
            assert f"{c}: reusing 3 finished run(s)" in res.stderr
        logged = re.findall(r"^bn_before: logged (\d+) run\(s\)", res.stderr, re.M)
        assert sum(map(int, logged)) == 3
        _client, runs = _store(repo)
        assert len(runs) == 12
        new = [r for r in runs if r.data.tags["bnstudy.run_key"] not in ids]
        assert {r.data.params["model.bn.momentum"] for r in new} == {"0.9"}
        assert {r.data.tags["condition"] for r in new} == {"bn_before"}
    finally:
        params.write_text(original)
        _run(["dvc", "repro"], repo)


def test_parallel_hydra_sweep_logs_every_run_and_shows_progress(tmp_path):
    """Two joblib workers write to one fresh SQLite store: nothing may be lost."""
    sweep = ["condition=baseline,bn_before", "seed=range(2)", "train.epochs=2"]
    parallel = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    res = _run(["bnstudy-train", "-m", *sweep, *parallel], tmp_path)
    for i in range(1, 5):
        assert f"[job {i}/4]" in res.stderr
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("bnstudy/placement")
    runs = client.search_runs([exp.experiment_id], "tags.`bnstudy.role` = 'child'")
    assert sorted((r.data.tags["condition"], r.data.tags["seed"]) for r in runs) == [
        ("baseline", "0"),
        ("baseline", "1"),
        ("bn_before", "0"),
        ("bn_before", "1"),
    ]
    assert {r.info.status for r in runs} == {"FINISHED"}


def test_the_app_records_a_diverging_run_as_diverged(tmp_path):
    res = _run(["bnstudy-train", "train.learning_rate=1e6", "seed=0", "train.epochs=3"], tmp_path)
    assert "diverged at epoch" in res.stdout
    _, runs = _store(tmp_path)
    (run,) = runs
    assert run.data.tags["diverged"].startswith("epoch ")
    assert run.info.status == "FINISHED"
