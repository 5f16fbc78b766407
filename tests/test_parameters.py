"""Parameter counts from the config (bnstudy.parameters): hand-checked values, the datasets'
shapes against bnstudy.data, and the same formulas against Keras's count_params of the models
bnstudy.models builds, for every family and placement."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from omegaconf import OmegaConf

from bnstudy.config import DATASETS, ConfigError, DataConfig, ModelConfig, structured
from bnstudy.families import FAMILIES
from bnstudy.parameters import (
    BODIES,
    Counts,
    bn_counts,
    conv2d_counts,
    dense_counts,
    input_shape,
    lstm_counts,
    model_counts,
    n_classes,
)
from bnstudy.paths import CONF_DIR

#: family -> the dataset its study trains on (conf/study/<family>.yaml; the MLP: placement).
STUDY_DATA = {
    "mlp": "circles",
    "cnn": "digits",
    "lstm": "digit_rows",
    "classifier": "classification",
}


def model_cfg(placement: str, *overrides: str, family: str = "mlp", **bn):
    """conf/model/<family>.yaml with ``placement``, ``model.<key>=<value>`` overrides and BN
    options, merged into the schema (no Hydra: fast)."""
    raw = OmegaConf.from_dotlist([o.removeprefix("model.") for o in overrides])
    base = OmegaConf.load(CONF_DIR / "model" / f"{family}.yaml")
    return structured(OmegaConf.merge(base, {"placement": placement, "bn": bn}, raw), ModelConfig)


def data_cfg(name: str = "circles", *overrides: str):
    """conf/data/<name>.yaml with ``<key>=<value>`` overrides, merged into the schema."""
    base = OmegaConf.load(CONF_DIR / "data" / f"{name}.yaml")
    return structured(OmegaConf.merge(base, OmegaConf.from_dotlist(list(overrides))), DataConfig)


CIRCLES = data_cfg("circles")

#: (placement, center, scale) -> (trainable, non-trainable) with 50 hidden units, 2 inputs.
#: Dense(50) on 2 inputs: 2*50 + 50 = 150; Dense(1): 50 + 1 = 51; BN on u units: u per
#: gamma/beta it has, 2u moving statistics.
EXPECTED = {
    ("none", True, True): (201, 0),
    ("after", True, True): (301, 100),
    ("before", True, True): (301, 100),
    ("input", True, True): (205, 4),
    ("after", False, False): (201, 100),
    ("before", True, False): (251, 100),
    ("input", False, True): (203, 4),
}


@pytest.mark.parametrize(("key", "counts"), list(EXPECTED.items()), ids=str)
def test_counts_of_the_reference_mlp(key, counts):
    placement, center, scale = key
    got = model_counts(model_cfg(placement, center=center, scale=scale), CIRCLES)
    assert (got.trainable, got.non_trainable) == counts
    assert got.total == sum(counts)
    assert got.bn_units == {"none": 0, "input": 2}.get(placement, 50)


#: (family, placement, center, scale) -> Counts of the reference configs on their studies'
#: datasets, by hand:
#: cnn on 8x8x1 digits: Conv2D(32, 3x3) on 1 channel 9*1*32 + 32 = 320 (6x6x32); on 32
#: channels 9*32*32 + 32 = 9248 (4x4x32); pool 2 -> 2x2x32 = 128; Dense(10) 1280 + 10 = 1290;
#: BN on the 32 channels. lstm on 8 steps x 8 features: 4 * (8*32 + 32*32 + 32) = 5248;
#: Dense(1) 33; BN on 32 units. classifier on 32 features: Dense(64) 2112; Dense(10) 650; BN on
#: 64 units.
FAMILY_EXPECTED = {
    ("cnn", "none", True, True): Counts(10858, 0, 0),
    ("cnn", "after", True, True): Counts(10922, 64, 32),
    ("cnn", "before", True, True): Counts(10922, 64, 32),
    ("cnn", "after", False, False): Counts(10858, 64, 32),
    ("cnn", "before", True, False): Counts(10890, 64, 32),
    ("lstm", "none", True, True): Counts(5281, 0, 0),
    ("lstm", "after", True, True): Counts(5345, 64, 32),
    ("lstm", "after", False, True): Counts(5313, 64, 32),
    ("classifier", "none", True, True): Counts(2762, 0, 0),
    ("classifier", "after", True, True): Counts(2890, 128, 64),
    ("classifier", "before", True, True): Counts(2890, 128, 64),
    ("classifier", "before", False, False): Counts(2762, 128, 64),
}


@pytest.mark.parametrize(("key", "counts"), list(FAMILY_EXPECTED.items()), ids=str)
def test_counts_of_the_reference_families(key, counts):
    family, placement, center, scale = key
    model = model_cfg(placement, family=family, center=center, scale=scale)
    assert model_counts(model, data_cfg(STUDY_DATA[family])) == counts


def test_layer_formulas():
    assert dense_counts(3, 7) == Counts(28, 0, 0)
    assert dense_counts(3, 7, use_bias=False) == Counts(21, 0, 0)
    assert bn_counts(7) == Counts(14, 14, 7)
    assert bn_counts(7, center=False) == Counts(7, 14, 7)
    assert bn_counts(7, center=False, scale=False) == Counts(0, 14, 7)
    assert conv2d_counts(3, 5, (2, 4)) == Counts(2 * 4 * 3 * 5 + 5, 0, 0)
    assert lstm_counts(3, 5) == Counts(4 * (3 * 5 + 5 * 5 + 5), 0, 0)


def test_width_and_options_a_config_may_gain():
    model = model_cfg("before", "model.hidden_units=8")
    three = data_cfg("classification", "n_features=3", "n_classes=2")
    assert model_counts(model, three) == Counts(3 * 8 + 8 + 8 + 1 + 16, 16, 8)
    raw = OmegaConf.merge(OmegaConf.to_container(model), {"use_bias": False, "input_bn": True})
    # No hidden bias (-8); a BN on the 3 inputs (+6 trainable, +6 non-trainable, 3 units).
    assert model_counts(raw, three) == Counts(57 - 8 + 6, 16 + 6, 11)
    # Ten classes: a Dense(10) head (8*10 + 10) instead of Dense(1) (8 + 1).
    ten = data_cfg("classification", "n_features=3")
    assert model_counts(model, ten) == Counts(57 - 9 + 90, 16, 8)


@pytest.mark.parametrize("name", DATASETS)
def test_input_shape_and_classes_are_those_of_the_built_dataset(name):
    from bnstudy.data import build_dataset

    data = data_cfg(name)
    ds = build_dataset(data)
    assert input_shape(data) == ds.x_train.shape[1:]
    assert n_classes(data) == ds.n_classes


def test_every_family_is_counted():
    assert set(BODIES) == set(FAMILIES)


def test_unknown_dataset_or_family_or_shape_is_a_config_error():
    with pytest.raises(ConfigError, match=r"^data\.name: 'moons' is not allowed"):
        input_shape(OmegaConf.create({"name": "moons"}))
    with pytest.raises(ConfigError, match=r"^model\.family: 'gru' is not allowed"):
        model_counts(OmegaConf.merge(model_cfg("none"), {"family": "gru"}), CIRCLES)
    with pytest.raises(ConfigError, match=r"^model\.family: 'cnn' .* expected images"):
        model_counts(model_cfg("none", family="cnn"), CIRCLES)
    with pytest.raises(ConfigError, match=r"^model\.family: 'mlp' .* \(8, 8, 1\)"):
        model_counts(model_cfg("none"), data_cfg("digits"))
    with pytest.raises(ConfigError, match=r"^model\.spec: .* at least one pixel"):
        model_counts(
            model_cfg("none", "model.spec.conv_layers=4", family="cnn"), data_cfg("digits")
        )
    with pytest.raises(ConfigError, match=r"^model\.family: 'lstm' .* expected sequences"):
        model_counts(model_cfg("none", family="lstm"), CIRCLES)


# --- against Keras -----------------------------------------------------------------------------

BN_OPTIONS = ((True, True), (False, False), (True, False), (False, True))
HAS = {f.name for f in dataclasses.fields(ModelConfig)}


def _keras_counts(model, data) -> tuple[int, int]:
    from bnstudy.models import build_model

    k = build_model(model, seed=0, input_shape=input_shape(data), n_classes=n_classes(data))
    trainable = sum(int(np.prod(w.shape)) for w in k.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in k.non_trainable_weights)
    assert trainable + non_trainable == k.count_params()
    return trainable, non_trainable


def _check(model, data) -> None:
    got = model_counts(model, data)
    assert (got.trainable, got.non_trainable) == _keras_counts(model, data)


#: Every family, every placement it offers, every BN option (placement none: once), on its
#: study's dataset; the MLP also at width 3.
KERAS_CASES = [
    (family, placement, center, scale, over)
    for family, fam in FAMILIES.items()
    for placement in fam.placements
    for center, scale in BN_OPTIONS
    for over in (((), ("model.hidden_units=3",)) if family == "mlp" else ((),))
    if placement != "none" or (center and scale)
]


@pytest.mark.parametrize(("family", "placement", "center", "scale", "over"), KERAS_CASES, ids=str)
def test_formulas_match_keras(family, placement, center, scale, over):
    model = model_cfg(placement, *over, family=family, center=center, scale=scale)
    _check(model, data_cfg(STUDY_DATA[family]))


#: Other sizes and datasets: the shape arithmetic (kernel and pool sizes that do not divide,
#: one or three convolutions, non-square kernels), widths, and the heads of 2 and 10 classes.
SHAPE_CASES = [
    ("cnn", ["model.spec.kernel_size=2", "model.spec.pool_size=3", "model.spec.filters=5"], []),
    ("cnn", ["model.spec.conv_layers=1", "model.spec.filters=4"], []),
    ("cnn", ["model.spec.conv_layers=3", "model.spec.kernel_size=[3,2]"], []),
    ("lstm", ["model.spec.units=5"], []),
    ("classifier", ["model.spec.units=7"], ["n_features=5", "n_classes=2"]),
    ("mlp", [], ["n_features=6", "n_classes=4"]),
]


@pytest.mark.parametrize(("family", "over", "data_over"), SHAPE_CASES, ids=str)
@pytest.mark.parametrize("placement", ["none", "after"])
def test_other_shapes_match_keras(family, over, data_over, placement):
    model = model_cfg(placement, *over, family=family)
    data = data_cfg(STUDY_DATA[family] if family != "mlp" else "classification", *data_over)
    _check(model, data)


@pytest.mark.parametrize("option", ["use_bias", "input_bn"])
def test_gained_options_match_keras(option):
    """Runs once ModelConfig has use_bias / input_bn (the engine work adds them)."""
    if option not in HAS:
        pytest.skip(f"model.{option} is not an option yet")
    value = {"use_bias": False, "input_bn": True}[option]
    for placement in ("none", "after", "before"):
        _check(model_cfg(placement, f"model.{option}={str(value).lower()}"), CIRCLES)
