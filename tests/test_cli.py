"""Entry points: bad input gives one line, exit status 2, and writes nothing."""

from __future__ import annotations

import subprocess

import pytest

from bnstudy.cli import main, sweep_jobs
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


def test_unknown_variant_for_the_train_stage(tmp_path, monkeypatch, capsys):
    d = _stage_dir(tmp_path, monkeypatch)
    _fails_with_one_line(capsys, ["train", "--variant", "bn_sideways", "--out", "r"], "--variant")
    assert sorted(p.name for p in d.iterdir()) == ["params.yaml"]


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("train.epochs=0", "train.epochs"),
        ("train.batch_size=1000", "train.batch_size"),
        ("study.seeds=[3,3]", "study.seeds"),
        ("variants.bn_after.bn.epsilon=-1", "variants.bn_after.bn.epsilon"),
    ],
)
def test_bad_params_stop_every_stage_before_it_writes(tmp_path, monkeypatch, capsys, override, key):
    d = _stage_dir(tmp_path, monkeypatch, override)
    for argv in (["data"], ["train", "--variant", "baseline", "--out", "r"], ["aggregate"]):
        _fails_with_one_line(capsys, argv, key)
    assert sorted(p.name for p in d.iterdir()) == ["params.yaml"]


def test_missing_dataset_stops_training_before_mlflow(tmp_path, monkeypatch, capsys):
    d = _stage_dir(tmp_path, monkeypatch)
    _fails_with_one_line(capsys, ["train", "--variant", "baseline", "--out", "r"], "data.path")
    assert sorted(p.name for p in d.iterdir()) == ["params.yaml"]


def test_missing_params_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _fails_with_one_line(capsys, ["data"], "params.yaml")


def test_sweep_jobs_expand_like_hydra():
    jobs = sweep_jobs(
        ["variant=baseline,bn_after", "seed=range(3)", "train.epochs=2", "hydra.launcher.n_jobs=2"]
    )
    assert len(jobs) == 6
    assert jobs[0] == ["variant=baseline", "seed=0", "train.epochs=2"]
    assert jobs[-1] == ["variant=bn_after", "seed=2", "train.epochs=2"]


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
        (["variant=bn_middle"], "variant"),
        (["-m", "variant=baseline,bn_middle"], "variant"),
        (["train.epochs=0"], "train.epochs"),
        (["seed=1.5"], "seed"),
        (["trian.epochs=3"], "trian.epochs: unknown key"),
        (["train=fast"], "train: option 'fast' not found; available: reference"),
        (["tracking.uri=http://127.0.0.1:9"], "tracking.uri"),
    ],
)
def test_hydra_app_bad_input(tmp_path, args, key):
    (tmp_path / "data").mkdir()
    from bnstudy.data import make_dataset, save_dataset

    save_dataset(make_dataset(), tmp_path / "data" / "circles.npz")
    res = _app(tmp_path, *args)
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("bnstudy: error")]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert lines[0].startswith(f"bnstudy: error: {key}"), lines[0]
    assert not (tmp_path / "mlflow.db").exists()
    assert not (tmp_path / "mlartifacts").exists()
