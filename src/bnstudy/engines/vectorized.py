"""The vectorized engine: all seeds of a condition trained together in one XLA-compiled step.

Every seed keeps what an independent Keras run has: its initial weights (taken from the Keras
model built for that seed), its batch order (:func:`batch_orders`), its BN batch statistics and
moving mean/variance, its SGD momentum and its dropout masks. Weights are stacked along a
leading seed axis S and the layers become batched matmuls, so one compiled call trains S
networks for one epoch. The arithmetic mirrors Keras 3 on TensorFlow op for op (tf.nn.moments,
tf.nn.batch_normalization, sigmoid cross-entropy from logits, SGD ``m = m*momentum - lr*g;
w += m``, Keras's stateless dropout), which is what the equivalence tests check.

The model options (``model.use_bias``, ``model.input_bn``, dropout on or off) and the extra
measurements (``train.extra_eval``, ``train.layer_stats``) are Python-level switches: with
their defaults the traced graph has exactly the ops it had before they existed, so today's
results are bit-identical and as fast.

The values a grid varies (SGD learning rate and momentum, BN momentum, dropout rate:
``bnstudy.studies.PER_SLOT``)
are per-slot float32 tensors of shape (n_slots,), inputs of the compiled epoch, and so are the
data (every slot has its run's dataset, (n_slots, rows, ...)), so conditions that differ only
in them and in their data train together in one computation (:func:`train_vectorized_group`).
Each is the float32 Keras uses (``1 - momentum`` and ``1 / (1 - rate)`` computed in float64
first, as Keras computes them from Python floats), and elementwise products with them round
exactly as products with the scalar constants did: a condition's results are bit-identical
alone or in a group (tests/test_vectorized_group.py), and to the engine before per-slot values
(checked by hand). With ``train.xla`` the dropout scale stays a compiled-in constant (XLA folds
it into neighbouring products, so a tensor moved results by an ulp) and conditions train alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

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
from bnstudy.models import bn_layer_names, initial_weights

TRAINABLE = (
    "hidden/kernel",
    "hidden/bias",
    "bn/gamma",
    "bn/beta",
    "output/kernel",
    "output/bias",
    "input_bn/gamma",
    "input_bn/beta",
)
STATS = ("moving_mean", "moving_variance")
SLOT_PERIOD = 32
#: Keras's SeedGenerator seeds (int64) are cast to int32 modulo this before stateless ops.
_SEED_MOD = 2**31 - 2
#: For code without tensor-dependent control flow: AutoGraph would trace the same ops, only
#: slower (converting the step and the forward pass cost ~0.5 s per traced epoch function).
_plain = tf.autograph.experimental.do_not_convert


def stacked_initial_weights(
    model: DictConfig, seeds: list[int], n_features: int = 2
) -> dict[str, np.ndarray]:
    """Keras's initial weights for each seed, stacked: name -> (S, *shape)."""
    per_seed = [initial_weights(model, s, n_features) for s in seeds]
    return {k: np.stack([w[k] for w in per_seed]) for k in per_seed[0]}


class _Net:
    """Forward pass of S stacked MLPs; ``params`` maps weight names to (S, ...) tensors and
    ``stats`` maps each BN layer's name to its (moving mean, moving variance), (S, C) each."""

    def __init__(self, model: DictConfig, xla: bool = False):
        self.placement = model.placement
        self.input_bn = bool(model.input_bn)
        self.use_bias = bool(model.use_bias)
        #: XLA folds chains of multiplications by constants: with the dropout scale a tensor
        #: its results moved by an ulp (BN + dropout), so under XLA it stays a constant.
        self.const_scale = np.float32(1 / (1 - float(model.dropout))) if xla else None
        self.epsilon = float(model.bn.epsilon)
        self.bn_names = bn_layer_names(model)

    def _bn(self, name, h, p, stats, training, batch, hp):
        moving_mean, moving_var = stats[name]
        if training:
            mean, var = tf.nn.moments(h, axes=[1], keepdims=True)  # (S, 1, C)
            new_stats = (moving_mean, moving_var)  # hp None: the moving statistics untouched
            if hp is not None:
                m, one_minus_m = hp["bn_momentum"][:, None], hp["bn_one_minus_momentum"][:, None]
                new_stats = (
                    moving_mean * m + mean[:, 0] * one_minus_m,
                    moving_var * m + var[:, 0] * one_minus_m,
                )
            if batch is not None:
                batch[name] = (mean[:, 0], var[:, 0])
        else:
            mean, var = moving_mean[:, None], moving_var[:, None]
            new_stats = (moving_mean, moving_var)
        gamma = p[f"{name}/gamma"][:, None] if f"{name}/gamma" in p else None
        beta = p[f"{name}/beta"][:, None] if f"{name}/beta" in p else None
        out = tf.nn.batch_normalization(h, mean, var, beta, gamma, self.epsilon)
        return out, new_stats

    @_plain
    def __call__(self, p, stats, x, training, hp=None, keep=None, taps=None, batch=None):
        """x: (S, B, features) -> (logits (S, B), new moving stats).

        hp: the per-slot values (:func:`slot_values`, (S,) each); in training mode without
        them the moving statistics are returned unchanged (and dropout needs them).
        keep: (S, B, hidden) dropout keep-mask, applied when given (training steps only).
        taps: a dict that receives each BN layer's input under its name and the hidden block's
        output (before dropout) under ``"hidden"``. batch: a dict that receives each BN layer's
        batch (mean, variance) in training mode.
        """
        stats = dict(stats)
        h = x

        def bn(name, h):
            if taps is not None:
                taps[name] = h
            h, stats[name] = self._bn(name, h, p, stats, training, batch, hp)
            return h

        if self.input_bn:
            h = bn("input_bn", h)
        if self.placement == "input":
            h = bn("bn", h)
        h = tf.einsum("sbi,sij->sbj", h, p["hidden/kernel"])
        if self.use_bias:
            h = h + p["hidden/bias"][:, None]
        if self.placement == "before":
            h = bn("bn", h)
        h = tf.nn.relu(h)
        if self.placement == "after":
            h = bn("bn", h)
        if taps is not None:
            taps["hidden"] = h
        if keep is not None:  # Keras's dropout: where(u >= rate, x * (1 / (1 - rate)), 0)
            scale = self.const_scale
            scale = hp["dropout_scale"][:, None, None] if scale is None else tf.constant(scale)
            h = tf.where(keep, h * scale, tf.constant(0, dtype=h.dtype))
        logits = tf.einsum("sbj,sjk->sbk", h, p["output/kernel"]) + p["output/bias"][:, None]
        return logits[..., 0], stats


def slot_values(model: DictConfig, train: DictConfig) -> dict[str, np.float32]:
    """The PER_SLOT values of one run as the float32 numbers Keras computes with: the SGD
    learning rate and momentum, BN's momentum and ``1 - momentum``, the dropout rate and its
    scale ``1 / (1 - rate)`` (both differences computed in float64, then rounded once)."""
    m, rate = float(model.bn.momentum), float(model.dropout)
    values = {
        "learning_rate": float(train.learning_rate),
        "momentum": float(train.momentum),
        "bn_momentum": m,
        "bn_one_minus_momentum": 1.0 - m,
        "dropout_rate": rate,
        "dropout_scale": 1 / (1 - rate),
    }
    return {k: np.float32(x) for k, x in values.items()}


def per_slot(x, like):
    """A per-slot value x (S,) shaped to broadcast against ``like`` (S, ...)."""
    return tf.reshape(x, [-1] + [1] * (like.shape.rank - 1))


def _loss_and_correct(logits, y):
    """Per-sample cross-entropy and 0/1 correctness, as Keras computes them; (S, B) each."""
    loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits)
    correct = tf.cast(tf.equal(y, tf.cast(tf.sigmoid(logits) > 0.5, y.dtype)), tf.float32)
    return loss, correct


def _unit_moments(h):
    """Per-unit mean and standard deviation over the rows of h (S, n, C): (S, C) each."""
    mean, var = tf.nn.moments(h, axes=[1])
    return mean, tf.sqrt(var)


def _make_epoch_fn(model: DictConfig, train: DictConfig, n: int, n_slots: int):
    """The compiled functions of one group of runs; ``model``/``train`` give the structure
    only (the PER_SLOT values come in as tensors)."""
    xla = bool(train.xla)
    net = _Net(model, xla)
    bs = int(train.batch_size)
    n_full, tail = divmod(n, bs)
    units = int(model.hidden_units)
    extra_eval, layer_stats = bool(train.extra_eval), bool(train.layer_stats)

    @_plain
    def keep_mask(seeds, slot_seed, rate, step, rows):
        """Each slot's dropout keep-mask (n_slots, rows, units) for training step ``step``
        (0-based, counted over all epochs): Keras's ``Dropout(rate, seed=s)`` draws
        ``stateless_uniform((rows, units), seed=[s, step])`` (its SeedGenerator state, cast to
        int32 as Keras casts it) and keeps ``u >= rate`` (rate: (n_slots,)). The uniforms are
        drawn once per distinct seed (``seeds``) and gathered to the slots (``slot_seed``: the
        index into ``seeds`` of each slot's seed): conditions of a group share their seeds."""
        n_seeds = seeds.shape[0]
        steps = tf.fill([n_seeds], step)
        keys = tf.cast(tf.math.floormod(tf.stack([seeds, steps], axis=1), _SEED_MOD), tf.int32)
        u = tf.stack(
            [tf.random.stateless_uniform([rows, units], seed=keys[k]) for k in range(n_seeds)]
        )
        return tf.gather(u, slot_seed) >= rate[:, None, None]

    @tf.function
    def epoch_masks(seeds, slot_seed, rate, step0):
        """The keep-masks of one epoch's steps, whose first step is ``step0``: full batches
        (n_full, n_slots, batch, units) and the partial last batch (n_slots, tail, units).
        Never XLA-compiled: XLA's stateless random numbers differ from TensorFlow's kernels'."""
        full = tf.TensorArray(tf.bool, size=n_full, element_shape=[n_slots, bs, units])
        for i in tf.range(n_full):
            step = step0 + tf.cast(i, tf.int64)
            full = full.write(i, keep_mask(seeds, slot_seed, rate, step, bs))
        last = tf.zeros([0], tf.bool)
        if tail:
            last = keep_mask(seeds, slot_seed, rate, step0 + n_full, tail)
        return {"full": full.stack(), "tail": last}

    @_plain
    def step(p, v, stats, aux, hp, xb, yb, keep):
        batch = {} if extra_eval else None
        with tf.GradientTape() as tape:
            tape.watch(list(p.values()))
            logits, new_stats = net(p, stats, xb, training=True, hp=hp, keep=keep, batch=batch)
            loss, correct = _loss_and_correct(logits, yb)
            mean_loss = tf.reduce_mean(loss, axis=1)  # (S,)
            objective = tf.reduce_sum(mean_loss)  # seeds are independent: sum keeps grads apart
        grads = tape.gradient(objective, p)
        lr, mom = hp["learning_rate"], hp["momentum"]
        v = {k: v[k] * per_slot(mom, v[k]) - grads[k] * per_slot(lr, v[k]) for k in p}
        p = {k: p[k] + v[k] for k in p}
        size = tf.cast(tf.shape(yb)[1], tf.float32)
        if batch:  # the momentum-0.9 shadow of each BN layer's moving statistics
            m = M90_MOMENTUM
            aux = dict(aux)
            for name, (mean, var) in batch.items():
                old_mean, old_var = aux[f"{name}/m90"]
                aux[f"{name}/m90"] = (
                    old_mean * m + mean * (1.0 - m),
                    old_var * m + var * (1.0 - m),
                )
        return p, v, new_stats, aux, mean_loss * size, tf.reduce_sum(correct, axis=1)

    @tf.function(jit_compile=xla, reduce_retracing=True)
    def epoch(p, v, stats, aux, hp, masks, x_train, y_train, order, x_test, y_test):
        xs = tf.gather(x_train, order, batch_dims=1)  # (S, n, features)
        ys = tf.gather(y_train, order, batch_dims=1)  # (S, n)
        n_seeds = tf.shape(order)[0]
        loss_sum = tf.zeros([n_seeds])
        correct_sum = tf.zeros([n_seeds])
        for i in tf.range(n_full):
            xb = tf.slice(xs, [0, i * bs, 0], [-1, bs, -1])
            yb = tf.slice(ys, [0, i * bs], [-1, bs])
            keep = masks["full"][i] if masks else None
            p, v, stats, aux, dl, dc = step(p, v, stats, aux, hp, xb, yb, keep)
            loss_sum += dl
            correct_sum += dc
        if tail:
            xb, yb = xs[:, n_full * bs :], ys[:, n_full * bs :]
            keep = masks["tail"] if masks else None
            p, v, stats, aux, dl, dc = step(p, v, stats, aux, hp, xb, yb, keep)
            loss_sum += dl
            correct_sum += dc
        vloss, vacc = evaluate(p, stats, x_test, y_test)
        rows = [loss_sum / n, correct_sum / n, vloss, vacc]
        if extra_eval:
            rows += extra_evaluation(p, stats, aux, x_train, x_test, y_test, vloss, vacc)
        if layer_stats:
            new, infer = hidden_stats(p, stats, x_train, training=False)
            _, trained = hidden_stats(p, stats, x_train, training=True)
            old_mean, old_std = aux["hidden_prev"]
            drift = tf.reduce_mean(tf.abs(new[0] - old_mean) + tf.abs(new[1] - old_std), axis=1)
            aux = {**aux, "hidden_prev": new}
            rows += [*infer, *trained, drift]
        metrics = tf.stack(rows)  # (len(rows), S)
        return p, v, stats, aux, metrics

    @_plain
    def evaluate(p, stats, x, y):
        """Inference-mode loss and accuracy of every slot on its (x, y) ((S, n, features),
        (S, n)); (S,) each."""
        logits, _ = net(p, stats, x, training=False)
        loss, correct = _loss_and_correct(logits, y)
        return tf.reduce_mean(loss, axis=1), tf.reduce_mean(correct, axis=1)

    def population_stats(p, stats, x_train):
        """Each BN layer's population statistics, input to output: the mean and (biased)
        variance over the whole training set of that layer's input, computed in inference mode
        with the layers before it already using their population statistics."""
        pop = dict(stats)
        for name in net.bn_names:
            taps = {}
            net(p, pop, x_train, training=False, taps=taps)
            pop[name] = tuple(tf.nn.moments(taps[name], axes=[1]))
        return pop

    @_plain
    def extra_evaluation(p, stats, aux, x_train, x_test, y_test, vloss, vacc):
        """[val_loss_m90, val_accuracy_m90, val_loss_pop, val_accuracy_pop]: the test set
        evaluated in inference mode with BN's momentum-0.9 statistics, then with population
        statistics (equal to val_loss, val_accuracy without BN)."""
        if not net.bn_names:
            return [vloss, vacc, vloss, vacc]
        m90 = {name: aux[f"{name}/m90"] for name in net.bn_names}
        pop = population_stats(p, stats, x_train)
        return [*evaluate(p, m90, x_test, y_test), *evaluate(p, pop, x_test, y_test)]

    @_plain
    def hidden_stats(p, stats, x_train, training):
        """The hidden block's output (before dropout) on the whole training set as one batch,
        in inference or training mode (BN normalizing with that batch's own statistics, moving
        statistics untouched, no dropout): ((per-unit mean, per-unit std) (S, C) each,
        [their means over units] (S,) each)."""
        taps = {}
        net(p, stats, x_train, training=training, taps=taps)
        mean, std = _unit_moments(taps["hidden"])
        return (mean, std), [tf.reduce_mean(mean, axis=1), tf.reduce_mean(std, axis=1)]

    first_hidden = tf.function(lambda p, stats, x: hidden_stats(p, stats, x, False)[0])
    return epoch, tf.function(evaluate, jit_compile=xla), first_hidden, epoch_masks


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


#: The runs of one group: (model config, train config, seeds) of each condition.
Runs = Sequence[tuple[DictConfig, DictConfig, Sequence[int]]]


def train_vectorized(
    model: DictConfig,
    train: DictConfig,
    ds: Dataset,
    seeds: list[int],
    progress: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train all ``seeds`` of a model config at once; ``progress(len(seeds))`` after each epoch.

    A seed's result is bit-identical whichever other seeds are trained with it (see
    :func:`seed_slots`). ``train.extra_eval`` adds EXTRA_METRICS and ``train.layer_stats``
    LAYER_METRICS to the history (see :mod:`bnstudy.metrics`).
    """
    return train_vectorized_group([(model, train, seeds)], ds, progress)[0]


def group_structure(runs: Runs) -> tuple[DictConfig, DictConfig]:
    """The (model, train) configs that build the graph of a group: the first run's, with
    dropout on when any run has it. Raises ValueError if the runs differ in anything but the
    PER_SLOT values, or if several train with XLA (``bnstudy.studies.group_conditions`` groups
    only such runs): under XLA a run's rounding depends on the number of slots (measured: 32
    and 64 agree, 32 and 96 do not), and the dropout scale is compiled in."""
    from omegaconf import open_dict

    from bnstudy.studies import without_per_slot

    if runs[0][1].xla and len(runs) > 1:
        raise ValueError("train_vectorized_group: with train.xla each condition trains alone")
    first = without_per_slot({"model": runs[0][0], "train": runs[0][1]})
    for model, train, _ in runs[1:]:
        if without_per_slot({"model": model, "train": train}) != first:
            raise ValueError("train_vectorized_group: runs differ in more than PER_SLOT values")
    model = runs[0][0].copy()
    with open_dict(model):
        model.dropout = max(float(m.dropout) for m, _, _ in runs)
    return model, runs[0][1]


def slot_datasets(
    ds: Dataset | Sequence[Dataset], n_runs: int, run_of_slot: np.ndarray
) -> dict[str, np.ndarray]:
    """Each slot's splits, stacked: name -> (n_slots, rows, ...). ``ds`` is the dataset of
    every run or one per run; they must have the same splits of the same shapes."""
    datasets = [ds] * n_runs if isinstance(ds, Dataset) else list(ds)
    if len(datasets) != n_runs:
        raise ValueError(f"train_vectorized_group: {len(datasets)} datasets for {n_runs} runs")
    distinct = list({id(d): d for d in datasets}.values())  # each dataset object once
    if len({d.shapes() for d in distinct}) > 1:
        raise ValueError("train_vectorized_group: the runs' datasets differ in their shapes")
    position = {id(d): i for i, d in enumerate(distinct)}
    index = np.array([position[id(datasets[r])] for r in run_of_slot])
    arrays = [d.arrays() for d in distinct]
    return {k: np.stack([x[k] for x in arrays])[index] for k in arrays[0]}


def train_vectorized_group(
    runs: Runs,
    ds: Dataset | Sequence[Dataset],
    progress: Callable[[int], None] | None = None,
) -> list[TrainResult]:
    """Train several conditions that differ only in PER_SLOT values, and in their data, in one
    computation: their seeds side by side on the slot axis (a seed repeated between conditions
    takes the next free slot of its residue, see :func:`seed_slots`), each slot with its own
    run's values and its own copy of its run's dataset (``ds``: one for every run, or one per
    run, all of the same shapes). ``progress(n)`` after each epoch with the number of runs.

    Returns one TrainResult per condition, in order, each bit-identical to training that
    condition alone; its ``seconds`` and ``epoch_end`` are the group's times scaled by the
    condition's share of the group's runs.
    """
    start = time.perf_counter()
    model, train = group_structure(runs)
    seeds = [s for _, _, ss in runs for s in ss]
    slot_of, filler = seed_slots(seeds)
    run_of_seed = np.repeat(np.arange(len(runs)), [len(ss) for _, _, ss in runs])
    splits = slot_datasets(ds, len(runs), run_of_seed[filler])
    n_slots, n, n_features = splits["x_train"].shape
    weights0 = [stacked_initial_weights(m, list(ss), n_features) for m, _, ss in runs]
    weights0 = {k: np.concatenate([w[k] for w in weights0]) for k in weights0[0]}
    slots0 = {k: w[filler] for k, w in weights0.items()}
    orders = np.stack([batch_orders(s, train.epochs, n) for s in seeds], axis=1)  # (E, S, n)
    orders = orders[:, filler]  # (E, n_slots, n)
    values = [slot_values(m, t) for m, t, ss in runs for _ in ss]
    hp = {k: tf.constant(np.array([values[i][k] for i in filler])) for k in values[0]}
    p = {k: tf.constant(slots0[k]) for k in TRAINABLE if k in slots0}
    v = {k: tf.zeros_like(t) for k, t in p.items()}
    bn_names = bn_layer_names(model)
    stats = {name: tuple(tf.constant(slots0[f"{name}/{s}"]) for s in STATS) for name in bn_names}
    epoch, evaluate, first_hidden, epoch_masks = _make_epoch_fn(model, train, n, n_slots)
    data = [tf.constant(splits[k]) for k in ("x_train", "y_train")]
    test = [tf.constant(splits[k]) for k in ("x_test", "y_test")]
    aux, masks = {}, {}
    # Dropout(seed=<run seed>): the distinct seeds, and which one each slot has
    distinct, slot_seed = np.unique(np.asarray(seeds, np.int64)[filler], return_inverse=True)
    dropout_seeds = (tf.constant(distinct), tf.constant(slot_seed.astype(np.int32)))
    steps_per_epoch = -(-n // int(train.batch_size))
    if train.extra_eval:  # initialized as Keras initializes moving statistics
        aux |= {f"{name}/m90": stats[name] for name in bn_names}
    if train.layer_stats:
        aux["hidden_prev"] = first_hidden(p, stats, data[0])
    names = (
        METRICS
        + (EXTRA_METRICS if train.extra_eval else ())
        + (LAYER_METRICS if train.layer_stats else ())
    )
    rows, ends = [], []
    for e in range(train.epochs):
        if model.dropout > 0:
            step0 = tf.constant(e * steps_per_epoch, tf.int64)
            masks = epoch_masks(*dropout_seeds, hp["dropout_rate"], step0)
        order = tf.constant(orders[e])
        p, v, stats, aux, metrics = epoch(p, v, stats, aux, hp, masks, *data, order, *test)
        rows.append(metrics.numpy()[:, slot_of])
        ends.append(time.perf_counter() - start)
        if progress:
            progress(len(seeds))
    hist = np.stack(rows, axis=2).astype(np.float64)  # (metrics, S, E)
    train_loss, train_acc = (
        t.numpy()[slot_of].astype(np.float64) for t in evaluate(p, stats, *data)
    )
    final = {"train_loss": train_loss, "train_accuracy": train_acc}
    if "x_val" in splits:
        val = (tf.constant(splits["x_val"]), tf.constant(splits["y_val"]))
        loss, acc = (t.numpy()[slot_of].astype(np.float64) for t in evaluate(p, stats, *val))
        final |= {"validation_loss": loss, "validation_accuracy": acc}
    trained = {k: t.numpy() for k, t in p.items()}
    for name in bn_names:
        trained |= {f"{name}/{s}": t.numpy() for s, t in zip(STATS, stats[name], strict=True)}
    return _split(
        runs,
        history=dict(zip(names, hist, strict=True)),
        weights={k: trained[k][slot_of] for k in weights0},
        final=final,
        seconds=time.perf_counter() - start,
        ends=np.array(ends),
    )


def _split(runs: Runs, history, weights, final, seconds, ends) -> list[TrainResult]:
    """One TrainResult per condition from the group's arrays (every array (S_total, ...), the
    conditions' seeds in order)."""
    out, i, total = [], 0, sum(len(ss) for _, _, ss in runs)
    for _, _, ss in runs:
        part = slice(i, i + len(ss))
        share = len(ss) / total
        out.append(
            TrainResult(
                seeds=list(ss),
                history={k: a[part] for k, a in history.items()},
                weights={k: a[part] for k, a in weights.items()},
                engine="vectorized",
                seconds=seconds * share,
                final={k: a[part] for k, a in final.items()},
                epoch_end=np.tile(ends * share, (len(ss), 1)),
            )
        )
        i += len(ss)
    return out
