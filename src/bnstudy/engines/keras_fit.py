"""The reference engine: one Keras ``model.fit`` per run, as in the article."""

from __future__ import annotations

import time
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from bnstudy.data import Dataset
from bnstudy.engines.common import FINAL_METRICS, METRICS, TrainResult, batch_orders
from bnstudy.models import build_model, compile_model, model_weights


def _epoch_batches(ds: Dataset, orders: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """Every epoch's batches in ``orders`` (epochs, n) order, one after another."""
    x = ds.x_train[orders]  # (epochs, n, features)
    y = ds.y_train[orders]  # (epochs, n)
    per_epoch = tf.data.Dataset.from_tensor_slices((x, y))
    return per_epoch.flat_map(
        lambda xe, ye: tf.data.Dataset.from_tensor_slices((xe, ye)).batch(batch_size)
    )


def fit_one(
    model_cfg: DictConfig,
    train: DictConfig,
    ds: Dataset,
    seed: int,
    orders: np.ndarray | None = None,
    callbacks: list | None = None,
) -> tuple[keras.Model, dict[str, np.ndarray]]:
    """Train one seed with ``model.fit``; returns the model and its history.

    history: metric name -> (epochs,). ``orders`` (epochs, n) defaults to
    :func:`batch_orders` of ``seed``.
    """
    n = len(ds.x_train)
    if orders is None:
        orders = batch_orders(seed, train.epochs, n)
    model = compile_model(
        build_model(model_cfg, seed, ds.x_train.shape[1]), train.learning_rate, train.momentum
    )
    steps = -(-n // train.batch_size)
    hist = model.fit(
        _epoch_batches(ds, orders, train.batch_size),
        epochs=train.epochs,
        steps_per_epoch=steps,
        validation_data=(ds.x_test, ds.y_test),
        validation_batch_size=train.batch_size,
        shuffle=False,
        verbose=0,
        callbacks=callbacks,
    )
    return model, {m: np.asarray(hist.history[m], dtype=np.float64) for m in METRICS}


class _EpochClock(keras.callbacks.Callback):
    """Seconds from ``start`` to the end of each epoch."""

    def __init__(self, start: float):
        super().__init__()
        self.start, self.ends = start, []

    def on_epoch_end(self, epoch, logs=None):
        self.ends.append(time.perf_counter() - self.start)


def train_keras(
    model_cfg: DictConfig,
    train: DictConfig,
    ds: Dataset,
    seeds: list[int],
    progress: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train each seed in turn with :func:`fit_one`; ``progress(epochs)`` after each seed."""
    start = time.perf_counter()
    histories, weights, finals, clock = [], [], [], _EpochClock(start)
    for seed in seeds:
        model, hist = fit_one(model_cfg, train, ds, seed, callbacks=[clock])
        histories.append(hist)
        weights.append(model_weights(model))
        loss, acc = model.evaluate(ds.x_train, ds.y_train, batch_size=train.batch_size, verbose=0)
        finals.append({"train_loss": loss, "train_accuracy": acc})
        keras.backend.clear_session()
        if progress:
            progress(train.epochs)
    return TrainResult(
        seeds=list(seeds),
        history={m: np.stack([h[m] for h in histories]) for m in METRICS},
        weights={k: np.stack([w[k] for w in weights]) for k in weights[0]},
        engine="keras",
        seconds=time.perf_counter() - start,
        final={m: np.array([f[m] for f in finals], dtype=np.float64) for m in FINAL_METRICS},
        epoch_end=np.array(clock.ends).reshape(len(seeds), train.epochs),
    )
