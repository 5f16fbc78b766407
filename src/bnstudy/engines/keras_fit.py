"""The reference engine: one Keras ``model.fit`` per run, as in the article."""

from __future__ import annotations

import time
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from bnstudy.data import Dataset
from bnstudy.engines.common import (
    EXTRA_METRICS,
    LAYER_METRICS,
    M90_MOMENTUM,
    METRICS,
    TrainResult,
    batch_orders,
)
from bnstudy.models import bn_layer_names, build_model, compile_model, model_weights


def _epoch_batches(ds: Dataset, orders: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """Every epoch's batches in ``orders`` (epochs, n) order, one after another."""
    x = ds.x_train[orders]  # (epochs, n, *input_shape)
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

    history: metric name -> (epochs,): METRICS, plus EXTRA_METRICS with ``train.extra_eval``
    and LAYER_METRICS with ``train.layer_stats`` (measured by :class:`ExtraMetrics`).
    ``orders`` (epochs, n) defaults to :func:`batch_orders` of ``seed``.
    """
    n = len(ds.x_train)
    if orders is None:
        orders = batch_orders(seed, train.epochs, n)
    model = compile_model(
        build_model(model_cfg, seed, ds.x_train.shape[1:], ds.n_classes),
        train.learning_rate,
        train.momentum,
        ds.n_classes,
    )
    extra = None
    if train.extra_eval or train.layer_stats:
        extra = ExtraMetrics(model_cfg, train, ds, orders)
        callbacks = [*(callbacks or []), extra]
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
    out = {m: np.asarray(hist.history[m], dtype=np.float64) for m in METRICS}
    if extra is not None:
        out |= {m: np.asarray(v, dtype=np.float64) for m, v in extra.history.items()}
    return model, out


class ExtraMetrics(keras.callbacks.Callback):
    """EXTRA_METRICS (``train.extra_eval``) and LAYER_METRICS (``train.layer_stats``) of a
    ``model.fit``, measured from outside the model as the vectorized engine measures them inside
    its graph (tests compare the two within 1e-5).

    - ``_m90``: before each training step, the step's batch (rebuilt from ``orders``) is run
      through the model up to each BN layer in training mode, as ``fit`` is about to run it; the
      moments of each BN layer's input update a momentum-0.9 copy of its moving statistics
      (started at 0 and 1 like Keras's). After each epoch the test set is evaluated with them in
      place of the moving statistics.
    - ``_pop``: after each epoch, for each BN layer in order, the mean and (biased) variance of
      its input over the whole training set in inference mode (the layers before it already
      using their population statistics) replace its moving statistics; then the test set is
      evaluated.
    - LAYER_METRICS: the input of the layer after the hidden block (Dropout's input if any,
      else the output layer's) on the whole training set as one batch, in inference and in
      training mode.

    Every probe in training mode, and every evaluation, leaves the model's moving statistics
    exactly as they were (saved and assigned back), so training is that of plain ``fit``.
    """

    def __init__(self, model_cfg: DictConfig, train: DictConfig, ds: Dataset, orders: np.ndarray):
        super().__init__()
        self.cfg, self.train, self.ds, self.orders = model_cfg, train, ds, orders
        self.bs = int(train.batch_size)
        self.history: dict[str, list[float]] = {}
        self.epoch = 0
        self._compiled: dict = {}

    def set_model(self, model):
        super().set_model(model)
        self.bns = [model.get_layer(name) for name in bn_layer_names(self.cfg)]
        after_hidden = "dropout" if self.cfg.dropout > 0 else "output"
        x = model.inputs[0]
        self.hidden_probe = keras.Model(x, model.get_layer(after_hidden).input)
        if self.bns:
            self.bn_probe = keras.Model(x, [bn.input for bn in self.bns])

    def _moving(self) -> list[tuple]:
        return [(bn.moving_mean.numpy(), bn.moving_variance.numpy()) for bn in self.bns]

    def _assign(self, stats: list[tuple]) -> None:
        for bn, (mean, var) in zip(self.bns, stats, strict=True):
            bn.moving_mean.assign(mean)
            bn.moving_variance.assign(var)

    def _probe(self, probe: keras.Model, x: np.ndarray, training: bool) -> list:
        """``probe(x)``; in training mode BN layers update their moving statistics: undone."""
        saved = self._moving()
        if probe not in self._compiled:
            self._compiled[probe] = tf.function(lambda x, training: probe(x, training=training))
        out = self._compiled[probe](tf.constant(x), training)
        self._assign(saved)
        return out if isinstance(out, list | tuple) else [out]

    def _record(self, name: str, value) -> None:
        self.history.setdefault(name, []).append(float(value))

    def _evaluate(self, stats: list[tuple]) -> tuple[float, float]:
        saved = self._moving()
        self._assign(stats)
        res = self.model.evaluate(
            self.ds.x_test, self.ds.y_test, batch_size=self.bs, verbose=0, return_dict=True
        )
        self._assign(saved)
        return res["loss"], res["accuracy"]

    def _hidden(self, training: bool) -> tuple[np.ndarray, np.ndarray]:
        (h,) = self._probe(self.hidden_probe, self.ds.x_train, training)
        mean, var = tf.nn.moments(h, axes=[0])
        return mean.numpy(), tf.sqrt(var).numpy()

    def on_train_begin(self, logs=None):
        self.m90 = self._moving()  # Keras's initial moving statistics: zeros and ones
        if self.train.layer_stats:
            self.prev = self._hidden(training=False)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if not (self.train.extra_eval and self.bns):
            return
        rows = self.orders[self.epoch, batch * self.bs : (batch + 1) * self.bs]
        inputs = self._probe(self.bn_probe, self.ds.x_train[rows], training=True)
        m = M90_MOMENTUM
        for i, h in enumerate(inputs):
            mean, var = keras.ops.moments(h, axes=[0])  # what BatchNormalization computes
            old_mean, old_var = (tf.constant(t) for t in self.m90[i])
            self.m90[i] = (
                (old_mean * m + mean * (1.0 - m)).numpy(),  # BatchNormalization's update
                (old_var * m + var * (1.0 - m)).numpy(),
            )

    def on_epoch_end(self, epoch, logs=None):
        if self.train.extra_eval:
            if self.bns:
                loss_m90, acc_m90 = self._evaluate(self.m90)
                saved, pop = self._moving(), []
                for i, bn in enumerate(self.bns):
                    h = self._probe(self.bn_probe, self.ds.x_train, training=False)[i]
                    mean, var = keras.ops.moments(h, axes=[0])
                    pop.append((mean.numpy(), var.numpy()))
                    bn.moving_mean.assign(pop[-1][0])
                    bn.moving_variance.assign(pop[-1][1])
                self._assign(saved)
                loss_pop, acc_pop = self._evaluate(pop)
            else:
                loss_m90 = loss_pop = logs["val_loss"]
                acc_m90 = acc_pop = logs["val_accuracy"]
            values = (loss_m90, acc_m90, loss_pop, acc_pop)
            for name, value in zip(EXTRA_METRICS, values, strict=True):
                self._record(name, value)
        if self.train.layer_stats:
            mean, std = self._hidden(training=False)
            mean_t, std_t = self._hidden(training=True)
            drift = np.mean(np.abs(mean - self.prev[0]) + np.abs(std - self.prev[1]))
            self.prev = (mean, std)
            values = (mean.mean(), std.mean(), mean_t.mean(), std_t.mean(), drift)
            for name, value in zip(LAYER_METRICS, values, strict=True):
                self._record(name, value)


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
        if ds.has_validation:
            loss, acc = model.evaluate(ds.x_val, ds.y_val, batch_size=train.batch_size, verbose=0)
            finals[-1] |= {"validation_loss": loss, "validation_accuracy": acc}
        keras.backend.clear_session()
        if progress:
            progress(train.epochs)
    return TrainResult(
        seeds=list(seeds),
        history={m: np.stack([h[m] for h in histories]) for m in histories[0]},
        weights={k: np.stack([w[k] for w in weights]) for k in weights[0]},
        engine="keras",
        seconds=time.perf_counter() - start,
        final={m: np.array([f[m] for f in finals], dtype=np.float64) for m in finals[0]},
        epoch_end=np.array(clock.ends).reshape(len(seeds), train.epochs),
    )
