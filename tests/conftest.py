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
#: The venv's bin folder: ``bnstudy``, ``bnstudy-train``, ``dvc``.
BIN = Path(sys.executable).parent


def subprocess_env() -> dict[str, str]:
    """The environment for the project's commands: venv first on PATH, default MLflow store."""
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def tiny_cfg(tmp_path: Path, *overrides: str):
    """conf/ composed with tiny overrides; data and MLflow store under ``tmp_path``."""
    return validate(
        compose(
            [
                *TINY,
                f"data.path={tmp_path / 'circles.npz'}",
                f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
                *overrides,
            ]
        )
    )


@pytest.fixture
def cfg(tmp_path):
    return tiny_cfg(tmp_path)


@pytest.fixture(scope="session")
def dataset():
    from bnstudy.data import make_dataset

    return make_dataset()


@pytest.fixture
def saved_data(cfg, dataset):
    from bnstudy.data import save_dataset

    save_dataset(dataset, cfg.data.path)
    return cfg


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return CODE_ROOT
