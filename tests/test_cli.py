"""Entry points: bad input gives one line, exit status 2, and writes nothing."""

from __future__ import annotations

import subprocess

import pytest

from bnstudy.cli import launcher_config, main, sweep_jobs
from bnstudy.params import composed_text
from tests.conftest import BIN, subprocess_env


def _stage_dir(tmp_path, monkeypatch, *overrides):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(composed_text(list(overrides)))
    return tmp_path


def _fails_with_one_line(capsys, argv, startswith):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"bnstudy: error: {startswith}"), err


def test_unknown_study_for_a_stage(tmp_path, monkeypatch, capsys):
    d = _stage_dir(tmp_path, monkeypatch)
    _fails_with_one_line(capsys, ["train", "sideways"], "study: 'sideways' is not allowed")
    assert sorted(p.name for p in d.iterdir()) == ["params.yaml"]


def test_bad_study_file_stops_before_anything_is_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    over = "study.axes.variant.bn_after.model.placement=middle"
    _fails_with_one_line(capsys, ["study", "placement", over], "study.axes (bn_after)")
    _fails_with_one_line(capsys, ["study", "nope"], "study: option 'nope' not found")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("train.epochs=0", "train.epochs"),
        ("train.batch_size=1000", "train.batch_size"),
        ("study.seeds=[3,3]", "study.seeds"),
        ("model.bn.epsilon=-1", "model.bn.epsilon"),
    ],
)
def test_bad_params_stop_every_stage_before_it_writes(tmp_path, monkeypatch, capsys, override, key):
    d = _stage_dir(tmp_path, monkeypatch)
    text = (d / "params.yaml").read_text()
    from omegaconf import OmegaConf

    params = OmegaConf.create(text)
    k, v = override.split("=")
    OmegaConf.update(params, f"studies.placement.{k}", OmegaConf.create(f"x: {v}").x)
    OmegaConf.save(params, d / "params.yaml")
    for stage in ("data", "train", "analyze", "report"):
        _fails_with_one_line(capsys, [stage, "placement"], key)
    assert sorted(p.name for p in d.iterdir()) == ["params.yaml"]


def test_missing_dataset_stops_training_before_mlflow(tmp_path, monkeypatch, capsys):
    d = _stage_dir(tmp_path, monkeypatch)
    _fails_with_one_line(capsys, ["train", "placement"], "data: 'data/placement/circles-")
    assert sorted(p.name for p in d.iterdir()) == ["params.yaml"]


def test_missing_params_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _fails_with_one_line(capsys, ["data", "placement"], "params.yaml")


def test_sweep_jobs_expand_like_hydra():
    jobs = sweep_jobs(
        [
            "condition=baseline,bn_after",
            "seed=range(3)",
            "train.epochs=2",
            "hydra.launcher.n_jobs=2",
        ]
    )
    assert len(jobs) == 6
    assert jobs[0] == ["condition=baseline", "seed=0", "train.epochs=2"]
    assert jobs[-1] == ["condition=bn_after", "seed=2", "train.epochs=2"]


def _app(tmp_path, *args):
    env = subprocess_env()
    return subprocess.run(
        [str(BIN / "bnstudy-train"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (["condition=bn_middle"], "condition"),
        (["-m", "condition=baseline,bn_middle"], "condition"),
        (["study=nope"], "study: option 'nope' not found"),
        (["train.epochs=0"], "train.epochs"),
        (["seed=1.5"], "seed"),
        (["trian.epochs=3"], "trian.epochs: unknown key"),
        (["train=fast"], "train: option 'fast' not found; available: reference"),
        (["tracking.uri=http://127.0.0.1:9"], "tracking.uri"),
        (["-m", "condition=baseline", "hydra/launcher=slurmm"], "hydra/launcher: option 'slurmm'"),
        (
            ["-m", "condition=baseline", "hydra/launcher=slurm", "hydra.launcher.partitio=a"],
            "hydra.launcher.partitio: unknown key",
        ),
        (
            ["-m", "condition=baseline", "hydra/launcher=local", "hydra.launcher.timeout_min=x"],
            "hydra.launcher.timeout_min=x: Value 'x' of type 'str' could not be converted",
        ),
    ],
)
def test_hydra_app_bad_input(tmp_path, args, key):
    res = _app(tmp_path, *args)
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("bnstudy: error")]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert lines[0].startswith(f"bnstudy: error: {key}"), lines[0]
    assert not (tmp_path / "mlflow.db").exists()
    assert not (tmp_path / "mlartifacts").exists()


@pytest.mark.parametrize(
    ("name", "launcher"),
    [
        ("slurm", "submitit_launcher.SlurmLauncher"),
        ("local", "submitit_launcher.LocalLauncher"),
        ("workers", "joblib_launcher.JoblibLauncher"),
    ],
)
def test_shipped_launchers_compose_to_installed_plugins(name, launcher):
    from hydra.utils import get_class

    cfg = launcher_config(["condition=bn_after", f"hydra/launcher={name}"])
    assert cfg._target_.endswith(launcher)
    get_class(cfg._target_)  # the plugin is installed
    if name == "slurm":
        cfg = launcher_config(
            ["hydra/launcher=slurm", "hydra.launcher.partition=cpu", "hydra.launcher.mem_gb=8"]
        )
        assert (cfg.partition, cfg.mem_gb, cfg.cpus_per_task) == ("cpu", 8, 2)


def test_slurm_launcher_without_sbatch_is_one_line(tmp_path):
    env = {**subprocess_env(), "PATH": str(BIN)}  # no SLURM client on PATH
    res = subprocess.run(
        [str(BIN / "bnstudy-train"), "-m", "condition=bn_after", "hydra/launcher=slurm"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip() == (
        "bnstudy: error: hydra/launcher: SLURM's sbatch is not on PATH; submit from a SLURM "
        "login node, or use hydra/launcher=local to run the same jobs on this machine"
    )
    assert list(tmp_path.iterdir()) == []
