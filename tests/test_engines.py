"""The vectorized engine is Keras ``fit``, seed by seed: same weights, same metrics."""

from __future__ import annotations

import numpy as np
import pytest

from bnstudy.config import compose, validate
from bnstudy.engines.common import EXTRA_METRICS, LAYER_METRICS, METRICS, batch_orders
from bnstudy.engines.keras_fit import train_keras
from bnstudy.engines.vectorized import train_vectorized, train_vectorized_group

pytestmark = pytest.mark.slow
SEEDS = [0, 3]
CASES = {
    "baseline": ["model.placement=none"],
    "bn_after": ["model.placement=after"],
    "bn_before": ["model.placement=before"],
    "bn_input": ["model.placement=input"],
    "bn_no_beta_gamma": ["model.placement=after", "model.bn.center=false", "model.bn.scale=false"],
    "bn_no_momentum": ["model.placement=after", "model.bn.momentum=0.0"],
    "bn_before_no_bias": ["model.placement=before", "model.use_bias=false"],
    "input_bn_after": ["model.placement=after", "model.input_bn=true"],
    "dropout_after": ["model.placement=after", "model.dropout=0.3"],
    "extra_eval_after": [
        "model.placement=after",
        "train.extra_eval=true",
        "train.layer_stats=true",
    ],
    "extra_eval_no_bn": ["model.placement=none", "train.extra_eval=true", "train.layer_stats=true"],
    "extra_eval_all_options": [
        "model.placement=before",
        "model.input_bn=true",
        "model.use_bias=false",
        "model.dropout=0.2",
        "train.extra_eval=true",
        "train.layer_stats=true",
    ],
}
#: Cases trained with both seeds (the others with the second only, to keep the suite short).
TWO_SEEDS = ("baseline", "bn_after", "bn_before", "extra_eval_all_options")


def _setup(case, *extra):
    cfg = validate(compose(["train.epochs=3", *CASES[case], *extra]))
    return cfg.model, cfg.train


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_weights_and_metrics_as_keras_fit(case, dataset):
    """Every option is proven here: same final weights and every history metric within 1e-5.

    Dropout: the Keras model's ``Dropout(rate, seed=<run seed>)`` draws stateless masks from
    ``[seed, step]``, which the vectorized engine reproduces, so the masks are identical and
    the weights must agree like those of any other case (no distributional test needed).
    extra_eval / layer_stats: the keras engine measures them with a callback
    (:class:`~bnstudy.engines.keras_fit.ExtraMetrics`), the vectorized engine in its graph.
    """
    variant, train = _setup(case)
    seeds = SEEDS if case in TWO_SEEDS else SEEDS[1:]
    ref = train_keras(variant, train, dataset, seeds)
    vec = train_vectorized(variant, train, dataset, seeds)
    assert sorted(vec.weights) == sorted(ref.weights)
    for k in ref.weights:
        np.testing.assert_allclose(vec.weights[k], ref.weights[k], rtol=0, atol=1e-5, err_msg=k)
    expected = (
        METRICS
        + (EXTRA_METRICS if train.extra_eval else ())
        + (LAYER_METRICS if train.layer_stats else ())
    )
    assert sorted(ref.history) == sorted(vec.history) == sorted(expected)
    for m in expected:
        assert vec.history[m].shape == (len(seeds), 3)
        np.testing.assert_allclose(vec.history[m], ref.history[m], rtol=0, atol=1e-5, err_msg=m)
    if train.extra_eval and variant.placement == "none" and not variant.input_bn:
        for res in (ref, vec):  # without BN, other BN statistics change nothing
            for m in EXTRA_METRICS:
                np.testing.assert_array_equal(res.history[m], res.history[m.rsplit("_", 1)[0]])
    for m in ref.final:
        np.testing.assert_allclose(vec.final[m], ref.final[m], rtol=0, atol=1e-5, err_msg=m)


#: learning rate, SGD momentum, BN momentum, dropout rate: per-slot values of one group.
GROUPED = [(0.01, 0.9, 0.99, 0.0), (0.1, 0.5, 0.9, 0.3), (0.03, 0.0, 0.0, 0.5)]


@pytest.mark.parametrize(
    "structure",
    [["model.placement=after"], ["model.placement=before", "model.input_bn=true"]],
    ids=["after", "before_input_bn"],
)
def test_a_grouped_grid_is_keras_fit_condition_by_condition(structure, dataset):
    """Conditions that differ in every per-slot value, dropout included, trained as one group:
    each equals its own Keras ``fit`` (weights and every history metric within 1e-5). The
    dropout masks are Keras's own (stateless, from ``[seed, step]``), identical, not only
    equal in distribution; seed 3 sits at slots 3, 35 and 67."""
    cfgs = [
        validate(
            compose(
                [
                    "train.epochs=3",
                    *structure,
                    f"train.learning_rate={lr}",
                    f"train.momentum={mom}",
                    f"model.bn.momentum={bn}",
                    f"model.dropout={rate}",
                ]
            )
        )
        for lr, mom, bn, rate in GROUPED
    ]
    grouped = train_vectorized_group([(c.model, c.train, [3]) for c in cfgs], dataset)
    for c, vec in zip(cfgs, grouped, strict=True):
        ref = train_keras(c.model, c.train, dataset, [3])
        what = f"lr={c.train.learning_rate} dropout={c.model.dropout}"
        assert sorted(vec.weights) == sorted(ref.weights)
        for k in ref.weights:
            np.testing.assert_allclose(vec.weights[k], ref.weights[k], atol=1e-5, err_msg=what + k)
        for m in METRICS:
            np.testing.assert_allclose(vec.history[m], ref.history[m], atol=1e-5, err_msg=what + m)
        for m in ref.final:
            np.testing.assert_allclose(vec.final[m], ref.final[m], atol=1e-5, err_msg=what + m)


def test_partial_last_batch_is_trained_like_keras(dataset):
    """500 = 15 x 32 + 20; with batch 64 it is 7 x 64 + 52: both engines must agree."""
    variant, train = _setup("bn_before", "train.batch_size=64")
    ref = train_keras(variant, train, dataset, [1])
    vec = train_vectorized(variant, train, dataset, [1])
    for k in ref.weights:
        np.testing.assert_allclose(vec.weights[k], ref.weights[k], rtol=0, atol=1e-5, err_msg=k)


def test_weights_actually_change_and_differ_between_seeds(dataset):
    """Guards the equivalence test against comparing two untrained models."""
    from bnstudy.models import initial_weights

    variant, train = _setup("bn_after")
    vec = train_vectorized(variant, train, dataset, SEEDS)
    init = initial_weights(variant, SEEDS[0])["hidden/kernel"]
    assert np.abs(vec.weights["hidden/kernel"][0] - init).max() > 1e-3
    assert not np.allclose(vec.history["loss"][0], vec.history["loss"][1])


@pytest.mark.parametrize("case", ["baseline", "bn_after", "bn_before", "extra_eval_all_options"])
def test_vectorized_is_bit_identical_across_calls_and_seed_sets(case, dataset):
    """A seed's result (dropout masks included) does not depend on which other seeds share
    its batch."""
    variant, train = _setup(case)
    a = train_vectorized(variant, train, dataset, [0, 1])
    b = train_vectorized(variant, train, dataset, [1, 0, 5])
    for k in a.weights:
        np.testing.assert_array_equal(a.weights[k][0], b.weights[k][1], err_msg=k)
        np.testing.assert_array_equal(a.weights[k][1], b.weights[k][0], err_msg=k)
    for m in a.history:
        np.testing.assert_array_equal(a.history[m][0], b.history[m][1], err_msg=m)


@pytest.mark.parametrize("case", ["baseline", "bn_after", "bn_before"])
def test_keras_engine_is_bit_identical_in_one_process(case, dataset):
    variant, train = _setup(case)
    a = train_keras(variant, train, dataset, [2])
    b = train_keras(variant, train, dataset, [2])
    for k in a.weights:
        np.testing.assert_array_equal(a.weights[k], b.weights[k], err_msg=k)


def test_seed_slots_keep_each_seed_at_its_residue():
    from bnstudy.engines.vectorized import seed_slots

    slot_of, filler = seed_slots([1, 0, 33, 5], period=32)
    assert slot_of.tolist() == [1, 0, 33, 5]
    assert len(filler) == 64
    assert [filler[s] for s in slot_of] == [0, 1, 2, 3]
    slot_of, filler = seed_slots([3], period=32)
    assert slot_of.tolist() == [3] and len(filler) == 32


def test_batch_orders_are_seeded_permutations():
    a = batch_orders(4, epochs=3, n=10)
    assert a.shape == (3, 10)
    assert all(sorted(row) == list(range(10)) for row in a)
    assert not np.array_equal(a[0], a[1])
    np.testing.assert_array_equal(a, batch_orders(4, epochs=3, n=10))
    assert not np.array_equal(a, batch_orders(5, epochs=3, n=10))
