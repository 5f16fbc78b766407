"""Trained weights in MLflow: one folder per condition on its parent run, one file per seed.

Per run, MLflow holds only what a person browses (params, tags, per-epoch metrics); the
weights of a condition's seeds go to its parent run as ``weights/s<seed>.npz`` with the
condition's ``config.yaml``, in one artifact upload per logged part of the condition's
seeds. :func:`load_run_model` rebuilds the trained Keras model of any run from them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf


def write_condition_folder(folder: Path, config: dict, weights: dict[int, dict]) -> None:
    """``config.yaml`` and ``weights/s<seed>.npz`` (seed -> name -> array) under ``folder``."""
    (folder / "weights").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(config), folder / "config.yaml")
    for seed, arrays in weights.items():
        np.savez(folder / "weights" / f"s{seed:03d}.npz", **arrays)


def load_run_model(run_id: str, tracking_uri: str | None = None):
    """The trained Keras model of the MLflow run ``run_id`` (compiled as it was trained)."""
    from mlflow.tracking import MlflowClient

    from bnstudy.config import DataConfig, ModelConfig, structured
    from bnstudy.data import build_dataset
    from bnstudy.models import build_model, compile_model, set_model_weights

    client = MlflowClient(tracking_uri)
    run = client.get_run(run_id)
    parent, seed = run.data.tags["mlflow.parentRunId"], int(run.data.tags["seed"])
    with tempfile.TemporaryDirectory() as tmp:
        cfg = OmegaConf.load(client.download_artifacts(parent, "config.yaml", tmp))
        path = client.download_artifacts(parent, f"weights/s{seed:03d}.npz", tmp)
        with np.load(path) as f:
            weights = {k: f[k] for k in f.files}
    # A key left out of the identity (an option at its neutral value): the schema fills it.
    ds = build_dataset(structured(cfg.data, DataConfig))  # its input shape and classes
    model = build_model(
        structured(cfg.model, ModelConfig), seed, ds.x_train.shape[1:], ds.n_classes
    )
    compile_model(model, cfg.train.learning_rate, cfg.train.momentum, ds.n_classes)
    return set_model_weights(model, weights)
