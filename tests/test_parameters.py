"""Parameter counts from the config (bnstudy.parameters): hand-checked values, and the same
formulas against Keras's count_params of the models bnstudy.models builds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from omegaconf import OmegaConf

from bnstudy.config import ConfigError, ModelConfig, structured
from bnstudy.parameters import Counts, bn_counts, dense_counts, model_counts, n_features


def model_cfg(placement: str, *overrides: str, **bn):
    """A model config of the schema's defaults (those of conf/model/mlp.yaml) with
    ``placement``, ``model.<key>=<value>`` overrides and BN options (no Hydra: fast)."""
    raw = OmegaConf.from_dotlist([o.removeprefix("model.") for o in overrides])
    return structured(OmegaConf.merge({"placement": placement, "bn": bn}, raw), ModelConfig)


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
    got = model_counts(model_cfg(placement, center=center, scale=scale), 2)
    assert (got.trainable, got.non_trainable) == counts
    assert got.total == sum(counts)
    assert got.bn_units == {"none": 0, "input": 2}.get(placement, 50)


def test_layer_formulas():
    assert dense_counts(3, 7) == Counts(28, 0, 0)
    assert dense_counts(3, 7, use_bias=False) == Counts(21, 0, 0)
    assert bn_counts(7) == Counts(14, 14, 7)
    assert bn_counts(7, center=False) == Counts(7, 14, 7)
    assert bn_counts(7, center=False, scale=False) == Counts(0, 14, 7)


def test_width_and_options_a_config_may_gain():
    model = model_cfg("before", "model.hidden_units=8")
    assert model_counts(model, 3) == Counts(3 * 8 + 8 + 8 + 1 + 16, 16, 8)
    raw = OmegaConf.merge(OmegaConf.to_container(model), {"use_bias": False, "input_bn": True})
    # No hidden bias (-8); a BN on the 3 inputs (+6 trainable, +6 non-trainable, 3 units).
    assert model_counts(raw, 3) == Counts(57 - 8 + 6, 16 + 6, 11)


def test_unknown_dataset_or_family_is_a_config_error():
    with pytest.raises(ConfigError, match=r"^data\.name"):
        n_features(OmegaConf.create({"name": "moons"}))
    assert n_features(OmegaConf.create({"name": "circles"})) == 2
    with pytest.raises(ConfigError, match=r"^model\.family"):
        model_counts(OmegaConf.merge(model_cfg("none"), {"family": "cnn"}), 2)


#: Every combination the model builder takes, and the options ModelConfig has gained since.
KERAS_CASES = [
    (placement, center, scale, units)
    for placement in ("none", "after", "before", "input")
    for center, scale in ((True, True), (False, False), (True, False))
    for units in (50, 3)
    if placement != "none" or (center and scale)
]
HAS = {f.name for f in dataclasses.fields(ModelConfig)}


def _keras_counts(model) -> tuple[int, int]:
    from bnstudy.models import build_model

    k = build_model(model, seed=0, input_shape=2)
    trainable = sum(int(np.prod(w.shape)) for w in k.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in k.non_trainable_weights)
    assert trainable + non_trainable == k.count_params()
    return trainable, non_trainable


@pytest.mark.parametrize(("placement", "center", "scale", "units"), KERAS_CASES)
def test_formulas_match_keras(placement, center, scale, units):
    model = model_cfg(placement, f"model.hidden_units={units}", center=center, scale=scale)
    got = model_counts(model, 2)
    assert (got.trainable, got.non_trainable) == _keras_counts(model)


@pytest.mark.parametrize("option", ["use_bias", "input_bn"])
def test_gained_options_match_keras(option):
    """Runs once ModelConfig has use_bias / input_bn (the engine work adds them)."""
    if option not in HAS:
        pytest.skip(f"model.{option} is not an option yet")
    value = {"use_bias": False, "input_bn": True}[option]
    for placement in ("none", "after", "before"):
        model = model_cfg(placement, f"model.{option}={str(value).lower()}")
        got = model_counts(model, 2)
        assert (got.trainable, got.non_trainable) == _keras_counts(model), placement
