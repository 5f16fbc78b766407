"""Shared fixtures: the REAL conf/ composed with tiny overrides, temporary stores."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from bnstudy.config import compose, validate
from bnstudy.paths import CODE_ROOT

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.pop("MLFLOW_TRACKING_URI", None)

TINY = ["train.epochs=3", "study.seeds=[0,1]", "study.n_resamples=200"]
PLACEMENT = {"baseline": "none", "bn_after": "after", "bn_before": "before"}
#: The venv's bin folder: ``bnstudy``, ``bnstudy-train``, ``dvc``.
BIN = Path(sys.executable).parent


def subprocess_env() -> dict[str, str]:
    """The environment for the project's commands: venv first on PATH, default MLflow store."""
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def model_cfg(placement: str = "after", *overrides: str, **bn):
    """The real conf/model/mlp.yaml with ``placement``, ``model.*`` overrides and BN options."""
    over = [f"model.placement={placement}", *(f"model.bn.{k}={v}" for k, v in bn.items())]
    return validate(compose([*over, *overrides])).model


def tiny_cfg(tmp_path: Path, *overrides: str):
    """conf/ composed with tiny overrides; MLflow store under ``tmp_path``, working directory
    (data/, results/, reports/) ``tmp_path`` (the ``cfg`` fixture chdirs there)."""
    return validate(
        compose([*TINY, f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}", *overrides])
    )


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tiny_cfg(tmp_path)


@pytest.fixture(scope="session")
def dataset():
    from bnstudy.data import make_dataset

    return make_dataset()


@pytest.fixture
def saved_data(cfg):
    """``cfg`` with its study's datasets written under data/ (the data stage)."""
    from bnstudy.pipeline import build_data

    build_data(cfg)
    return cfg


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return CODE_ROOT
