"""The vectorized engine: all seeds of a condition trained together in one XLA-compiled step.

Every seed keeps what an independent Keras run has: its initial weights (taken from the Keras
model built for that seed), its batch order (:func:`batch_orders`), its BN batch statistics and
moving mean/variance, and its SGD momentum. Weights are stacked along a leading seed axis S and
the layers become batched matmuls, so one compiled call trains S networks for one epoch.
The arithmetic mirrors Keras 3 on TensorFlow op for op (tf.nn.moments, tf.nn.batch_normalization,
sigmoid cross-entropy from logits, SGD ``m = m*momentum - lr*g; w += m``), which is what the
equivalence tests check.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from bnstudy.data import Dataset
from bnstudy.engines.common import METRICS, TrainResult, batch_orders
from bnstudy.models import initial_weights

TRAINABLE = ("hidden/kernel", "hidden/bias", "bn/gamma", "bn/beta", "output/kernel", "output/bias")
STATS = ("bn/moving_mean", "bn/moving_variance")
SLOT_PERIOD = 32


def stacked_initial_weights(
    model: DictConfig, seeds: list[int], n_features: int = 2
) -> dict[str, np.ndarray]:
    """Keras's initial weights for each seed, stacked: name -> (S, *shape)."""
    per_seed = [initial_weights(model, s, n_features) for s in seeds]
    return {k: np.stack([w[k] for w in per_seed]) for k in per_seed[0]}


class _Net:
    """Forward pass of S stacked MLPs; ``params`` maps weight names to (S, ...) tensors."""

    def __init__(self, model: DictConfig):
        self.placement = model.placement
        self.momentum = float(model.bn.momentum)
        self.epsilon = float(model.bn.epsilon)

    def _bn(self, h, p, stats, training):
        if training:
            mean, var = tf.nn.moments(h, axes=[1], keepdims=True)  # (S, 1, C)
            m = self.momentum
            new_stats = (
                stats[0] * m + mean[:, 0] * (1.0 - m),
                stats[1] * m + var[:, 0] * (1.0 - m),
            )
        else:
            mean, var = stats[0][:, None], stats[1][:, None]
            new_stats = stats
        gamma = p["bn/gamma"][:, None] if "bn/gamma" in p else None
        beta = p["bn/beta"][:, None] if "bn/beta" in p else None
        out = tf.nn.batch_normalization(h, mean, var, beta, gamma, self.epsilon)
        return out, new_stats

    def __call__(self, p, stats, x, training):
        """x: (S, B, features) -> (logits (S, B), new moving stats)."""
        h = x
        if self.placement == "input":
            h, stats = self._bn(h, p, stats, training)
        h = tf.einsum("sbi,sij->sbj", h, p["hidden/kernel"]) + p["hidden/bias"][:, None]
        if self.placement == "before":
            h, stats = self._bn(h, p, stats, training)
        h = tf.nn.relu(h)
        if self.placement == "after":
            h, stats = self._bn(h, p, stats, training)
        logits = tf.einsum("sbj,sjk->sbk", h, p["output/kernel"]) + p["output/bias"][:, None]
        return logits[..., 0], stats


def _loss_and_correct(logits, y):
    """Per-sample cross-entropy and 0/1 correctness, as Keras computes them; (S, B) each."""
    loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits)
    correct = tf.cast(tf.equal(y, tf.cast(tf.sigmoid(logits) > 0.5, y.dtype)), tf.float32)
    return loss, correct


def _make_epoch_fn(model: DictConfig, train: DictConfig, n: int):
    net = _Net(model)
    bs, lr, mom = int(train.batch_size), float(train.learning_rate), float(train.momentum)
    xla = bool(train.xla)
    n_full, tail = divmod(n, bs)

    def step(p, v, stats, xb, yb):
        with tf.GradientTape() as tape:
            tape.watch(list(p.values()))
            logits, new_stats = net(p, stats, xb, training=True)
            loss, correct = _loss_and_correct(logits, yb)
            mean_loss = tf.reduce_mean(loss, axis=1)  # (S,)
            objective = tf.reduce_sum(mean_loss)  # seeds are independent: sum keeps grads apart
        grads = tape.gradient(objective, p)
        v = {k: v[k] * mom - grads[k] * lr for k in p}
        p = {k: p[k] + v[k] for k in p}
        size = tf.cast(tf.shape(yb)[1], tf.float32)
        return p, v, new_stats, mean_loss * size, tf.reduce_sum(correct, axis=1)

    @tf.function(jit_compile=xla, reduce_retracing=True)
    def epoch(p, v, stats, x_train, y_train, order, x_test, y_test):
        xs = tf.gather(x_train, order)  # (S, n, 2)
        ys = tf.gather(y_train, order)  # (S, n)
        n_seeds = tf.shape(order)[0]
        loss_sum = tf.zeros([n_seeds])
        correct_sum = tf.zeros([n_seeds])
        for i in tf.range(n_full):
            xb = tf.slice(xs, [0, i * bs, 0], [-1, bs, -1])
            yb = tf.slice(ys, [0, i * bs], [-1, bs])
            p, v, stats, dl, dc = step(p, v, stats, xb, yb)
            loss_sum += dl
            correct_sum += dc
        if tail:
            p, v, stats, dl, dc = step(p, v, stats, xs[:, n_full * bs :], ys[:, n_full * bs :])
            loss_sum += dl
            correct_sum += dc
        vloss, vacc = evaluate(p, stats, x_test, y_test)
        metrics = tf.stack([loss_sum / n, correct_sum / n, vloss, vacc])  # (4, S)
        return p, v, stats, metrics

    def evaluate(p, stats, x, y):
        """Inference-mode loss and accuracy of every seed on (x, y); (S,) each."""
        n_seeds = tf.shape(p["hidden/kernel"])[0]
        xt = tf.broadcast_to(x[None], [n_seeds, tf.shape(x)[0], tf.shape(x)[1]])
        yt = tf.broadcast_to(y[None], [n_seeds, tf.shape(y)[0]])
        logits, _ = net(p, stats, xt, training=False)
        loss, correct = _loss_and_correct(logits, yt)
        return tf.reduce_mean(loss, axis=1), tf.reduce_mean(correct, axis=1)

    return epoch, tf.function(evaluate, jit_compile=xla)


def seed_slots(seeds: list[int], period: int = SLOT_PERIOD) -> tuple[np.ndarray, np.ndarray]:
    """Where each seed sits on the stacked axis, so its arithmetic never depends on its company.

    CPU kernels vectorize by memory alignment, so a seed's float rounding depends on its
    position along the stacked axis (measured: position 0 and 1 differ, 1 and 33 agree). Seed s
    therefore always sits at a position congruent to s modulo ``period``; unused positions
    train a copy of the first seed, whose results are dropped.

    Returns (slot of each seed (S,), index into ``seeds`` trained at each slot (n_slots,)).
    """
    taken: dict[int, int] = {}
    slot_of = []
    for i, seed in enumerate(seeds):
        slot = seed % period
        while slot in taken:
            slot += period
        taken[slot] = i
        slot_of.append(slot)
    n_slots = period * (max(taken) // period + 1)
    filler = [taken.get(k, 0) for k in range(n_slots)]
    return np.array(slot_of), np.array(filler)


def train_vectorized(
    model: DictConfig,
    train: DictConfig,
    ds: Dataset,
    seeds: list[int],
    progress: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train all ``seeds`` of a model config at once; ``progress(len(seeds))`` after each epoch.

    A seed's result is bit-identical whichever other seeds are trained with it (see
    :func:`seed_slots`).
    """
    start = time.perf_counter()
    slot_of, filler = seed_slots(list(seeds))
    weights0 = stacked_initial_weights(model, list(seeds), ds.x_train.shape[1])
    slots0 = {k: w[filler] for k, w in weights0.items()}
    n = len(ds.x_train)
    orders = np.stack([batch_orders(s, train.epochs, n) for s in seeds], axis=1)  # (E, S, n)
    orders = orders[:, filler]  # (E, n_slots, n)
    p = {k: tf.constant(slots0[k]) for k in TRAINABLE if k in slots0}
    v = {k: tf.zeros_like(t) for k, t in p.items()}
    if model.placement == "none":
        stats = (tf.zeros([len(filler), 1]), tf.zeros([len(filler), 1]))
    else:
        stats = tuple(tf.constant(slots0[k]) for k in STATS)
    epoch, evaluate = _make_epoch_fn(model, train, n)
    data = [tf.constant(a) for a in (ds.x_train, ds.y_train)]
    test = [tf.constant(a) for a in (ds.x_test, ds.y_test)]
    rows, ends = [], []
    for e in range(train.epochs):
        p, v, stats, metrics = epoch(p, v, stats, *data, tf.constant(orders[e]), *test)
        rows.append(metrics.numpy()[:, slot_of])
        ends.append(time.perf_counter() - start)
        if progress:
            progress(len(seeds))
    hist = np.stack(rows, axis=2).astype(np.float64)  # (4, S, E)
    train_loss, train_acc = (
        t.numpy()[slot_of].astype(np.float64) for t in evaluate(p, stats, *data)
    )
    trained = {k: t.numpy() for k, t in p.items()}
    if model.placement != "none":
        trained.update(zip(STATS, (s.numpy() for s in stats), strict=True))
    return TrainResult(
        seeds=list(seeds),
        history=dict(zip(METRICS, hist, strict=True)),
        weights={k: trained[k][slot_of] for k in weights0},
        engine="vectorized",
        seconds=time.perf_counter() - start,
        final={"train_loss": train_loss, "train_accuracy": train_acc},
        epoch_end=np.tile(np.array(ends), (len(seeds), 1)),
    )
