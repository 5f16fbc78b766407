"""Conditions that differ only in per-slot values (studies.PER_SLOT: SGD learning rate and
momentum, BN momentum, dropout rate) train in one computation, and each condition's results
are bit-identical to training it alone: histories, final metrics and weights."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bnstudy.config import compose, validate
from bnstudy.data import Dataset, build_dataset
from bnstudy.engines.vectorized import seed_slots, train_vectorized, train_vectorized_group
from bnstudy.studies import conditions, group_conditions, group_key

SEEDS = [0, 3]
#: learning rate x SGD momentum x BN momentum x dropout rate: 16 conditions.
GRID = list(itertools.product([0.01, 0.3], [0.9, 0.0], [0.99, 0.0], [0.0, 0.3]))


def _cfg(*overrides: str):
    return validate(compose(["train.epochs=2", *overrides]))


def _grid(*structure: str):
    return [
        _cfg(
            *structure,
            f"train.learning_rate={lr}",
            f"train.momentum={mom}",
            f"model.bn.momentum={bn}",
            f"model.dropout={rate}",
        )
        for lr, mom, bn, rate in GRID
    ]


@pytest.fixture(scope="module")
def tiny(dataset) -> Dataset:
    """100 training rows (3 batches of 32 and a partial one), 100 test rows."""
    d = dataset
    return Dataset(d.x_train[:100], d.y_train[:100], d.x_test[:100], d.y_test[:100])


def assert_identical(a, b, what=""):
    for part in ("history", "weights", "final"):
        da, db = getattr(a, part), getattr(b, part)
        assert sorted(da) == sorted(db), (what, part)
        for k in da:
            np.testing.assert_array_equal(da[k], db[k], err_msg=f"{what} {part}.{k}")
    assert a.seeds == b.seeds


@pytest.mark.slow
@pytest.mark.parametrize(
    "structure",
    [
        ["model.placement=after"],
        [
            "model.placement=before",
            "model.input_bn=true",
            "model.use_bias=false",
            "train.extra_eval=true",
            "train.layer_stats=true",
        ],
    ],
    ids=["after", "before_all_options"],
)
def test_a_grouped_grid_equals_each_condition_alone(structure, tiny):
    """16 conditions (learning rate x SGD momentum x BN momentum x dropout), one group; the
    same seeds in every condition (slots s, s + 32, s + 64, ...), and one condition with a
    different seed list. Dropout 0 in a group with dropout on (its scale 1, all kept) must
    equal the graph without dropout."""
    cfgs = _grid(*structure)
    seeds = [SEEDS] * (len(cfgs) - 1) + [[5, 0, 40]]
    grouped = train_vectorized_group(
        [(c.model, c.train, s) for c, s in zip(cfgs, seeds, strict=True)], tiny
    )
    assert len(grouped) == len(cfgs)
    for c, s, g in zip(cfgs, seeds, grouped, strict=True):
        alone = train_vectorized(c.model, c.train, tiny, s)
        assert_identical(g, alone, f"{c.train.learning_rate} {c.model.dropout}")
    # the grid really varies: every condition ends with different weights (BN momentum: only
    # the moving statistics differ)
    ends = {b"".join(w[0].tobytes() for w in g.weights.values()) for g in grouped[:-1]}
    assert len(ends) == len(cfgs) - 1


@pytest.mark.slow
def test_runs_on_different_data_train_together_as_they_train_alone(dataset, tiny):
    """Each condition on its own dataset (same shapes: another draw of the rows), in one group
    with a seed shared between them: each equals its condition trained alone on its data."""
    d = dataset
    other = Dataset(d.x_train[100:200], d.y_train[100:200], d.x_test[100:200], d.y_test[100:200])
    a = _cfg("model.placement=after", "model.dropout=0.3")
    b = _cfg("model.placement=after", "model.dropout=0.3", "train.learning_rate=0.3")
    runs = [(a.model, a.train, [0, 3]), (a.model, a.train, [3]), (b.model, b.train, [3, 5])]
    data = [tiny, other, other]
    grouped = train_vectorized_group(runs, data)
    for (model, train, seeds), ds, g in zip(runs, data, grouped, strict=True):
        assert_identical(g, train_vectorized(model, train, ds, seeds), f"{seeds}")
    # the data matters: the same condition and seed on the two datasets ends differently
    assert not np.array_equal(grouped[0].history["loss"][1], grouped[1].history["loss"][0])
    smaller = Dataset(d.x_train[:50], d.y_train[:50], d.x_test[:100], d.y_test[:100])
    with pytest.raises(ValueError, match="shapes"):
        train_vectorized_group(runs[:2], [tiny, smaller])


def test_group_rejects_runs_that_differ_in_structure(tiny):
    a, b = _cfg("model.placement=after"), _cfg("model.placement=before")
    with pytest.raises(ValueError, match="PER_SLOT"):
        train_vectorized_group([(a.model, a.train, [0]), (b.model, b.train, [0])], tiny)
    x = _cfg("train.xla=true")
    with pytest.raises(ValueError, match="xla"):
        train_vectorized_group([(x.model, x.train, [0]), (x.model, x.train, [1])], tiny)


def test_seed_slots_put_a_repeated_seed_at_the_next_slot_of_its_residue():
    slot_of, filler = seed_slots([0, 1, 0, 1, 33, 0])
    assert slot_of.tolist() == [0, 1, 32, 33, 65, 64]
    assert len(filler) == 96
    assert [filler[s] for s in slot_of] == list(range(6))
    assert all(s % 32 == seed % 32 for s, seed in zip(slot_of, [0, 1, 0, 1, 33, 0], strict=True))


def _study(name: str, *overrides: str):
    return conditions(validate(compose([f"study={name}", *overrides])))


def _groups(conds, max_runs=10_000):
    return [
        [c.name for c in g]
        for g in group_conditions(conds, dict.fromkeys((c.name for c in conds), 30), max_runs)
    ]


def test_learning_rate_study_groups_by_placement():
    conds = _study("learning_rate")
    groups = _groups(conds)
    assert len(conds) == 27 and [len(g) for g in groups] == [9, 9, 9]
    for g, variant in zip(groups, ("baseline", "bn_after", "bn_before"), strict=True):
        assert all(name.startswith(variant + " ") for name in g)


@pytest.mark.parametrize(
    ("study", "sizes"),
    [("regularization", [3, 3]), ("bn_momentum", [2, 2]), ("placement", [1, 1, 1])],
)
def test_other_studies_group_only_per_slot_axes(study, sizes):
    assert [len(g) for g in _groups(_study(study))] == sizes


def test_groups_are_capped_and_need_the_vectorized_engine_without_xla():
    conds = _study("learning_rate")
    assert [len(g) for g in _groups(conds, max_runs=120)] == [4, 4, 1] * 3
    assert [len(g) for g in _groups(_study("learning_rate", "train.engine=keras"))] == [1] * 27
    lr = _study("learning_rate", "train.xla=true")
    assert [len(g) for g in _groups(lr)] == [1] * 27  # XLA's rounding depends on the slots
    assert len({group_key(c) for c in lr}) == 3


def test_conditions_on_data_of_the_same_shapes_group_when_the_shapes_are_known():
    """dataset_draws: 3 placements x 10 draws of the circles data, grouped by placement once
    the datasets' shapes are given (without them, data configs that differ never group);
    data_preparation: raw and standardized inputs of each model share a group."""
    draws = _study("dataset_draws")
    n_runs = dict.fromkeys((c.name for c in draws), 30)
    assert [len(g) for g in group_conditions(draws, n_runs)] == [1] * 30
    shapes = {c.name: build_dataset(c.data).shapes() for c in draws}
    groups = group_conditions(draws, n_runs, shapes=shapes)
    assert [len(g) for g in groups] == [10, 10, 10]
    assert all(len({c.model.placement for c in g}) == 1 for g in groups)
    shapes[draws[0].name] = (("x_train", (499, 2), "<f4"),)
    assert [len(g) for g in group_conditions(draws, n_runs, shapes=shapes)] == [1, 9, 10, 10]
    prep = _study("data_preparation")
    shapes = {c.name: build_dataset(c.data).shapes() for c in prep}
    groups = group_conditions(prep, dict.fromkeys(shapes, 30), shapes=shapes)
    assert [len(g) for g in groups] == [2, 2, 2, 2]
    assert all({c.labels["inputs"] for c in g} == {"raw", "standardized"} for g in groups)
