"""Keras models of the model configs (conf/model/): a family's body between an input and an
output layer, its initial weights, compilation and weights by stable name."""

from __future__ import annotations

import keras
from omegaconf import DictConfig


def bn_layer_names(model: DictConfig) -> list[str]:
    """The model's BatchNormalization layers, input to output: ``input_bn`` (model.input_bn)
    and ``bn`` (any placement but none)."""
    return [
        name for name, on in (("input_bn", model.input_bn), ("bn", model.placement != "none")) if on
    ]


def build_model(
    model: DictConfig, seed: int, input_shape: int | tuple = 2, n_classes: int = 2
) -> keras.Sequential:
    """The network of a model config with the initial weights of ``seed`` (uncompiled).

    Input(input_shape) -> the family's body (:mod:`bnstudy.families`, BN where
    ``model.placement`` says) -> Dense(1, sigmoid) for two classes, Dense(n_classes, softmax)
    for more. An int ``input_shape`` is a number of features.

    The MLP (family mlp):

    placement none:   Dense(h, relu) -> Dense(1, sigmoid)
    placement after:  Dense(h, relu) -> BN -> Dense(1, sigmoid)
    placement before: Dense(h) -> BN -> Activation(relu) -> Dense(1, sigmoid)
    placement input:  BN -> Dense(h, relu) -> Dense(1, sigmoid)

    Options (their defaults give exactly the layouts above):

    - ``model.input_bn``: an extra BN named ``input_bn`` first, on the inputs (weights
      ``input_bn/gamma``, ...), before any of the layouts but ``input``;
    - ``model.use_bias: false``: the hidden Dense layer has no bias (no ``hidden/bias``);
    - ``model.dropout > 0``: ``Dropout(rate, seed=seed)`` named ``dropout`` after the hidden
      block, right before the output layer: after the ReLU (none, before, input) or after the
      BN that follows the ReLU (after). Its explicit seed makes its masks a function of the run's
      seed and the step (``[seed, step]`` for Keras's stateless dropout), which the vectorized
      engine reproduces, and leaves the initial weights as without dropout.
    """
    from bnstudy.families import FAMILIES, Body

    keras.utils.set_random_seed(seed)
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    spec = dict(model.get("spec") or {})
    body = FAMILIES[model.family].build(Body(model, seed), **spec)
    head = (
        keras.layers.Dense(1, activation="sigmoid", name="output")
        if n_classes <= 2
        else keras.layers.Dense(n_classes, activation="softmax", name="output")
    )
    layers = [keras.Input(shape=shape, name="x"), *body, head]
    return keras.Sequential(layers, name=f"{model.family}_bn_{model.placement}")


def initial_weights(model: DictConfig, seed: int, n_features: int = 2) -> dict:
    """The weights :func:`build_model` gives ``seed``, without building a model (~100x faster).

    Keras 3 initializers take their seed from Python's ``random`` when they are created; the
    MLP creates two random ones, the hidden kernel's (he_uniform) and then the output kernel's
    (glorot_uniform). Everything else starts at zeros (biases, beta, moving mean) or ones
    (gamma, moving variance); Dropout has an explicit seed and takes none from ``random``.
    tests/test_models.py checks equality with the built model.
    """
    import numpy as np

    keras.utils.set_random_seed(seed)
    hidden, output = keras.initializers.HeUniform(), keras.initializers.GlorotUniform()
    h = model.hidden_units
    weights = {"hidden/kernel": np.asarray(hidden((n_features, h)))}
    if model.use_bias:
        weights["hidden/bias"] = np.zeros(h, "float32")
    weights |= {"output/kernel": np.asarray(output((h, 1))), "output/bias": np.zeros(1, "float32")}
    for name in bn_layer_names(model):
        c = n_features if name == "input_bn" or model.placement == "input" else h
        ones, zeros = np.ones(c, "float32"), np.zeros(c, "float32")
        if model.bn.scale:
            weights[f"{name}/gamma"] = ones
        if model.bn.center:
            weights[f"{name}/beta"] = zeros
        weights |= {f"{name}/moving_mean": zeros, f"{name}/moving_variance": ones}
    return weights


def loss_name(n_classes: int) -> str:
    """The Keras loss of a task: binary cross-entropy for two classes, sparse categorical
    cross-entropy (integer labels) for more."""
    return "binary_crossentropy" if n_classes <= 2 else "sparse_categorical_crossentropy"


def compile_model(
    model: keras.Model, learning_rate: float, momentum: float, n_classes: int = 2
) -> keras.Model:
    """SGD with momentum, the task's cross-entropy, accuracy: the reference's compile call."""
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum),
        loss=loss_name(n_classes),
        metrics=["accuracy"],
    )
    return model


def model_weights(model: keras.Model) -> dict[str, list]:
    """Weights by stable name: input_bn/gamma, input_bn/beta, input_bn/moving_mean,
    input_bn/moving_variance, hidden/kernel, hidden/bias, bn/gamma, bn/beta, bn/moving_mean,
    bn/moving_variance, output/kernel, output/bias (those that exist)."""
    return {f"{layer.name}/{w.name}": w.numpy() for layer in model.layers for w in layer.weights}


def set_model_weights(model: keras.Model, weights: dict) -> keras.Model:
    """Inverse of :func:`model_weights`."""
    for layer in model.layers:
        for w in layer.weights:
            w.assign(weights[f"{layer.name}/{w.name}"])
    return model
