"""Keras models of the model configs (conf/model/): where batch normalization sits in the MLP."""

from __future__ import annotations

import keras
from omegaconf import DictConfig


def _bn(model: DictConfig, name: str) -> keras.layers.BatchNormalization:
    bn = model.bn
    return keras.layers.BatchNormalization(
        momentum=bn.momentum, epsilon=bn.epsilon, center=bn.center, scale=bn.scale, name=name
    )


def bn_layer_names(model: DictConfig) -> list[str]:
    """The model's BatchNormalization layers, input to output: ``input_bn`` (model.input_bn)
    and ``bn`` (any placement but none)."""
    return [
        name for name, on in (("input_bn", model.input_bn), ("bn", model.placement != "none")) if on
    ]


def build_model(model: DictConfig, seed: int, n_features: int = 2) -> keras.Sequential:
    """The MLP of a model config with the initial weights of ``seed`` (uncompiled).

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
    keras.utils.set_random_seed(seed)
    p = model.placement
    layers: list[keras.layers.Layer] = [keras.Input(shape=(n_features,), name="x")]
    if model.input_bn:
        layers.append(_bn(model, "input_bn"))
    if p == "input":
        layers.append(_bn(model, "bn"))
    layers.append(
        keras.layers.Dense(
            model.hidden_units,
            kernel_initializer="he_uniform",
            activation=None if p == "before" else "relu",
            use_bias=model.use_bias,
            name="hidden",
        )
    )
    if p == "before":
        layers += [_bn(model, "bn"), keras.layers.Activation("relu", name="relu")]
    elif p == "after":
        layers.append(_bn(model, "bn"))
    if model.dropout > 0:
        layers.append(keras.layers.Dropout(model.dropout, seed=seed, name="dropout"))
    layers.append(keras.layers.Dense(1, activation="sigmoid", name="output"))
    return keras.Sequential(layers, name=f"mlp_bn_{p}")


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


def compile_model(model: keras.Model, learning_rate: float, momentum: float) -> keras.Model:
    """SGD with momentum, binary cross-entropy, accuracy: the reference's compile call."""
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum),
        loss="binary_crossentropy",
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
