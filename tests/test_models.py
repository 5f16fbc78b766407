"""Model structure per placement, BN settings reaching the layer, initial weights per seed."""

from __future__ import annotations

import numpy as np
import pytest

from bnstudy.config import compose, validate
from bnstudy.models import build_model, initial_weights, model_weights
from bnstudy.studies import conditions
from tests.conftest import model_cfg

LAYERS = {
    "none": [("Dense", "relu"), ("Dense", "sigmoid")],
    "after": [("Dense", "relu"), ("BatchNormalization", None), ("Dense", "sigmoid")],
    "before": [
        ("Dense", "linear"),
        ("BatchNormalization", None),
        ("Activation", "relu"),
        ("Dense", "sigmoid"),
    ],
    "input": [("BatchNormalization", None), ("Dense", "relu"), ("Dense", "sigmoid")],
}


def _variant(placement="after", **bn):
    return model_cfg(placement, **bn)


def _placement_models():
    return {c.name: c.model for c in conditions(validate(compose()))}


def _layout(model):
    out = []
    for layer in model.layers:
        act = getattr(layer, "activation", None)
        out.append((type(layer).__name__, act.__name__ if act else None))
    return out


@pytest.mark.parametrize("placement", sorted(LAYERS))
def test_layer_order_per_placement(placement):
    model = build_model(_variant(placement), seed=0)
    assert _layout(model) == LAYERS[placement]
    assert model.input_shape == (None, 2)
    assert model.output_shape == (None, 1)
    hidden = model.get_layer("hidden")
    assert hidden.units == 50
    assert type(hidden.kernel_initializer).__name__ == "HeUniform"


def test_reference_variants_have_the_article_layouts():
    models = _placement_models()
    assert _layout(build_model(models["baseline"], 0)) == LAYERS["none"]
    assert _layout(build_model(models["bn_after"], 0)) == LAYERS["after"]
    assert _layout(build_model(models["bn_before"], 0)) == LAYERS["before"]


def test_bn_settings_reach_the_layer():
    model = build_model(_variant(momentum=0.5, epsilon=0.01, center=False, scale=False), 0)
    bn = model.get_layer("bn")
    assert (bn.momentum, bn.epsilon, bn.center, bn.scale) == (0.5, 0.01, False, False)
    assert [w.name for w in bn.weights] == ["moving_mean", "moving_variance"]


def test_defaults_are_keras_defaults():
    bn = build_model(_variant(), 0).get_layer("bn")
    assert (bn.momentum, bn.epsilon, bn.center, bn.scale) == (0.99, 0.001, True, True)


@pytest.mark.parametrize(
    ("placement", "bn"),
    [
        ("none", {}),
        ("after", {}),
        ("before", {}),
        ("input", {}),
        ("after", {"center": False}),
        ("before", {"scale": False}),
    ],
)
@pytest.mark.parametrize("seed", [0, 7])
def test_initial_weights_equal_the_built_model(placement, bn, seed):
    variant = _variant(placement, **bn)
    expected = model_weights(build_model(variant, seed))
    got = initial_weights(variant, seed)
    assert sorted(got) == sorted(expected)
    for k in expected:
        np.testing.assert_array_equal(got[k], expected[k], err_msg=k)


def test_seeds_give_different_initial_weights():
    v = _variant()
    a, b = initial_weights(v, 0), initial_weights(v, 1)
    assert not np.array_equal(a["hidden/kernel"], b["hidden/kernel"])


def test_a_seed_gives_every_variant_the_same_initial_weights_where_shapes_allow():
    models = _placement_models()
    base, after, before = (
        initial_weights(models[v], 4) for v in ("baseline", "bn_after", "bn_before")
    )
    for k in ("hidden/kernel", "output/kernel"):
        np.testing.assert_array_equal(base[k], after[k])
        np.testing.assert_array_equal(base[k], before[k])


@pytest.mark.parametrize(
    ("placement", "options", "layout"),
    [
        ("after", ["model.input_bn=true"], [("BatchNormalization", None), *LAYERS["after"]]),
        ("none", ["model.input_bn=true"], [("BatchNormalization", None), *LAYERS["none"]]),
        ("before", ["model.use_bias=false"], LAYERS["before"]),
        (
            "none",
            ["model.dropout=0.3"],
            [*LAYERS["none"][:-1], ("Dropout", None), LAYERS["none"][-1]],
        ),
        (
            "after",
            ["model.dropout=0.3"],
            [*LAYERS["after"][:-1], ("Dropout", None), LAYERS["after"][-1]],
        ),
        (
            "before",
            ["model.dropout=0.3"],
            [*LAYERS["before"][:-1], ("Dropout", None), LAYERS["before"][-1]],
        ),
        (
            "input",
            ["model.dropout=0.3"],
            [*LAYERS["input"][:-1], ("Dropout", None), LAYERS["input"][-1]],
        ),
        ("after", ["model.dropout=0.0"], LAYERS["after"]),
    ],
)
def test_layer_order_with_options(placement, options, layout):
    """input_bn first; dropout right before the output layer (after the ReLU, or after the BN
    that follows it); rate 0 adds no layer."""
    model = build_model(model_cfg(placement, *options), seed=5)
    assert _layout(model) == layout
    names = [layer.name for layer in model.layers]
    if "model.input_bn=true" in options:
        assert names[0] == "input_bn"
        assert ("bn" in names) == (placement != "none")
    if "model.dropout=0.3" in options:
        drop = model.get_layer("dropout")
        assert (drop.rate, drop.seed) == (0.3, 5)
        assert names[-2:] == ["dropout", "output"]


def test_use_bias_false_removes_only_the_hidden_bias():
    model = build_model(model_cfg("before", "model.use_bias=false"), seed=0)
    assert not model.get_layer("hidden").use_bias
    assert "hidden/bias" not in model_weights(model)
    assert "output/bias" in model_weights(model)


def test_input_bn_weights_have_their_own_names_and_the_bn_options():
    model = build_model(model_cfg("after", "model.input_bn=true", momentum=0.5), seed=0)
    names = sorted(model_weights(model))
    assert [n for n in names if n.startswith("input_bn/")] == [
        "input_bn/beta",
        "input_bn/gamma",
        "input_bn/moving_mean",
        "input_bn/moving_variance",
    ]
    assert "bn/gamma" in names
    assert model.get_layer("input_bn").momentum == 0.5
    assert model_weights(model)["input_bn/gamma"].shape == (2,)


@pytest.mark.parametrize(
    ("placement", "options"),
    [
        ("after", ["model.input_bn=true"]),
        ("none", ["model.input_bn=true", "model.dropout=0.5"]),
        ("before", ["model.use_bias=false", "model.input_bn=true"]),
        ("before", ["model.use_bias=false", "model.bn.center=false"]),
        ("input", ["model.dropout=0.2", "model.use_bias=false"]),
    ],
)
def test_initial_weights_equal_the_built_model_with_options(placement, options):
    variant = model_cfg(placement, *options)
    expected = model_weights(build_model(variant, 7))
    got = initial_weights(variant, 7)
    assert sorted(got) == sorted(expected)
    for k in expected:
        np.testing.assert_array_equal(got[k], expected[k], err_msg=k)


def test_options_leave_a_seeds_kernels_unchanged():
    """Dropout's explicit seed draws nothing from Python's random, and BN layers and the bias
    have constant initializers: every option starts from the same kernels as today."""
    base = initial_weights(model_cfg("after"), 4)
    for options in (["model.dropout=0.5"], ["model.input_bn=true"], ["model.use_bias=false"]):
        v = model_cfg("after", *options)
        built = model_weights(build_model(v, 4))
        for k in ("hidden/kernel", "output/kernel"):
            np.testing.assert_array_equal(built[k], base[k], err_msg=f"{options} {k}")
