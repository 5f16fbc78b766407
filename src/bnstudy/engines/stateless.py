"""The stateless engine: every seed of a condition trained together, any model family.

The network is the Keras model that :func:`bnstudy.models.build_model` makes (the same one
``train.engine=keras`` fits); nothing about a family is written here. Each seed's variables
(its initial weights come from the model built for that seed) are stacked along a leading
seed axis, and one training step of every seed runs as Keras 3's
``model.stateless_call(trainable, non_trainable, x, training=True)`` under
``tf.vectorized_map``: per-seed forward pass, BN batch statistics and moving averages, loss
(the compiled loss: the same Keras function ``fit`` wraps), gradient and SGD momentum update
``m = m*momentum - lr*g; w += m`` (Keras's SGD). Every seed visits its own batches in
:func:`batch_orders` order, as the keras engine does. One compiled TensorFlow graph runs an epoch
of all seeds.

Partial last batches are trained as ``fit`` trains them (a step of the remaining rows); the
configuration refuses a last batch of one row when the model has BN (BN in training mode maps
a single row to beta). Seeds sit at fixed positions of the stacked axis
(:func:`bnstudy.engines.vectorized.seed_slots`), so a seed's numbers do not depend on which
other seeds it is trained with.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from bnstudy.data import Dataset
from bnstudy.engines.common import METRICS, TrainResult, batch_orders
from bnstudy.engines.vectorized import seed_slots
from bnstudy.models import build_model, loss_name

#: Rows per inference-mode forward pass when evaluating (bounds memory for big test sets).
EVAL_CHUNK = 512


def _task(n_classes: int) -> tuple[Callable, Callable]:
    """(loss, per-row correctness) as ``compile(loss=loss_name(n_classes),
    metrics=["accuracy"])`` makes them: Keras's loss function in the wrapper that ``compile``
    puts around it (mean over the batch), and the accuracy Keras picks for that loss."""
    from keras.src.trainers.compile_utils import get_loss  # what compile() calls (Keras 3.15)

    loss = get_loss(loss_name(n_classes), None, None)
    if n_classes <= 2:
        return loss, keras.metrics.binary_accuracy
    return loss, keras.metrics.sparse_categorical_accuracy


def _weight_names(net: keras.Model) -> dict[str, str]:
    """Variable path -> the stable ``layer/weight`` name of :func:`bnstudy.models.model_weights`."""
    return {w.path: f"{layer.name}/{w.name}" for layer in net.layers for w in layer.weights}


def _make_fns(net: keras.Model, train: DictConfig, n: int, n_classes: int):
    bs, lr, mom = int(train.batch_size), float(train.learning_rate), float(train.momentum)
    n_full, tail = divmod(n, bs)
    loss_fn, correct_fn = _task(n_classes)

    def seed_step(args):
        """One training step of one seed: new (trainable, non-trainable, velocity), its mean
        loss and its predictions."""
        tv, ntv, vel, xb, yb = args
        with tf.GradientTape() as tape:
            tape.watch(tv)
            y_pred, ntv = net.stateless_call(tv, ntv, xb, training=True)
            loss = loss_fn(yb, y_pred)
        grads = tape.gradient(loss, tv)
        vel = [v * mom - g * lr for v, g in zip(vel, grads, strict=True)]
        tv = [w + v for w, v in zip(tv, vel, strict=True)]
        return tv, ntv, vel, loss, y_pred

    # Accuracy is taken on the stacked predictions, outside vectorized_map: it needs no
    # gradient, and Keras's argmax has no vectorized form (it would run seed by seed).
    def step(state, xb, yb):
        tv, ntv, vel, loss, y_pred = tf.vectorized_map(seed_step, (*state, xb, yb))
        size = tf.cast(tf.shape(yb)[1], tf.float32)
        return (tv, ntv, vel), loss * size, tf.reduce_sum(correct_fn(yb, y_pred), axis=1)

    def seed_eval(args):
        tv, ntv, x, y = args
        y_pred, _ = net.stateless_call(tv, ntv, x, training=False)
        return loss_fn(y, y_pred) * tf.cast(tf.shape(y)[0], tf.float32), y_pred

    @tf.function
    def evaluate(tv, ntv, x, y):
        """Inference-mode mean loss and accuracy of every seed on (x, y): (S,) each."""
        n_seeds = tf.shape(tv[0])[0]
        loss_sum, correct_sum = tf.zeros([n_seeds]), tf.zeros([n_seeds])
        rows = int(x.shape[0])
        for a in range(0, rows, EVAL_CHUNK):
            xc, yc = x[a : a + EVAL_CHUNK], y[a : a + EVAL_CHUNK]
            xs = tf.broadcast_to(xc[None], tf.concat([[n_seeds], tf.shape(xc)], 0))
            ys = tf.broadcast_to(yc[None], tf.concat([[n_seeds], tf.shape(yc)], 0))
            dl, y_pred = tf.vectorized_map(seed_eval, (tv, ntv, xs, ys))
            loss_sum += dl
            correct_sum += tf.reduce_sum(correct_fn(ys, y_pred), axis=1)
        return loss_sum / rows, correct_sum / rows

    @tf.function
    def epoch(state, x_train, y_train, order, x_test, y_test):
        xs = tf.gather(x_train, order)  # (S, n, *input_shape)
        ys = tf.gather(y_train, order)  # (S, n)
        n_seeds = tf.shape(order)[0]
        loss_sum, correct_sum = tf.zeros([n_seeds]), tf.zeros([n_seeds])
        for i in tf.range(n_full):
            state, dl, dc = step(state, xs[:, i * bs : (i + 1) * bs], ys[:, i * bs : (i + 1) * bs])
            loss_sum += dl
            correct_sum += dc
        if tail:
            state, dl, dc = step(state, xs[:, n_full * bs :], ys[:, n_full * bs :])
            loss_sum += dl
            correct_sum += dc
        vloss, vacc = evaluate(state[0], state[1], x_test, y_test)
        return state, tf.stack([loss_sum / n, correct_sum / n, vloss, vacc])

    return epoch, evaluate


def train_stateless(
    model: DictConfig,
    train: DictConfig,
    ds: Dataset,
    seeds: list[int],
    progress: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train all ``seeds`` of a model config at once; ``progress(len(seeds))`` after each epoch.

    Returns the same TrainResult as :func:`bnstudy.engines.keras_fit.train_keras` (METRICS per
    epoch, the trained weights by ``layer/weight`` name, the final training-set evaluation).
    """
    start = time.perf_counter()
    slot_of, filler = seed_slots(list(seeds))
    shape, k = ds.x_train.shape[1:], ds.n_classes
    built = [build_model(model, s, shape, k) for s in seeds]
    net = built[0]

    def stacked(variables: Callable[[keras.Model], list]) -> list[tf.Tensor]:
        per_seed = [[v.numpy() for v in variables(m)] for m in built]
        return [
            tf.constant(np.stack([w[i] for w in per_seed])[filler]) for i in range(len(per_seed[0]))
        ]

    tv = stacked(lambda m: m.trainable_variables)
    ntv = stacked(lambda m: m.non_trainable_variables)
    state = (tv, ntv, [tf.zeros_like(t) for t in tv])
    n = len(ds.x_train)
    orders = np.stack([batch_orders(s, train.epochs, n) for s in seeds], axis=1)[:, filler]
    epoch, evaluate = _make_fns(net, train, n, k)
    data = [tf.constant(a) for a in (ds.x_train, ds.y_train)]
    test = [tf.constant(a) for a in (ds.x_test, ds.y_test)]
    rows, ends = [], []
    for e in range(train.epochs):
        state, metrics = epoch(state, *data, tf.constant(orders[e]), *test)
        rows.append(metrics.numpy()[:, slot_of])
        ends.append(time.perf_counter() - start)
        if progress:
            progress(len(seeds))
    hist = np.stack(rows, axis=2).astype(np.float64)  # (metrics, S, E)
    train_loss, train_acc = (
        t.numpy()[slot_of].astype(np.float64) for t in evaluate(*state[:2], *data)
    )
    final = {"train_loss": train_loss, "train_accuracy": train_acc}
    if ds.has_validation:
        val = [tf.constant(a) for a in (ds.x_val, ds.y_val)]
        loss, acc = (t.numpy()[slot_of].astype(np.float64) for t in evaluate(*state[:2], *val))
        final |= {"validation_loss": loss, "validation_accuracy": acc}
    names = _weight_names(net)
    variables = list(net.trainable_variables) + list(net.non_trainable_variables)
    values = list(state[0]) + list(state[1])
    weights = {
        names[v.path]: t.numpy()[slot_of]
        for v, t in zip(variables, values, strict=True)
        if v.path in names
    }
    keras.backend.clear_session()
    return TrainResult(
        seeds=list(seeds),
        history=dict(zip(METRICS, hist, strict=True)),
        weights=weights,
        engine="stateless",
        seconds=time.perf_counter() - start,
        final=final,
        epoch_end=np.tile(np.array(ends), (len(seeds), 1)),
    )
