"""Keras models of the model configs (conf/model/): where batch normalization sits in the MLP."""

from __future__ import annotations

import keras
from omegaconf import DictConfig


def _bn(model: DictConfig, name: str) -> keras.layers.BatchNormalization:
    bn = model.bn
    return keras.layers.BatchNormalization(
        momentum=bn.momentum, epsilon=bn.epsilon, center=bn.center, scale=bn.scale, name=name
    )


def build_model(model: DictConfig, seed: int, n_features: int = 2) -> keras.Sequential:
    """The MLP of a model config with the initial weights of ``seed`` (uncompiled).

    placement none:   Dense(h, relu) -> Dense(1, sigmoid)
    placement after:  Dense(h, relu) -> BN -> Dense(1, sigmoid)
    placement before: Dense(h) -> BN -> Activation(relu) -> Dense(1, sigmoid)
    placement input:  BN -> Dense(h, relu) -> Dense(1, sigmoid)
    """
    keras.utils.set_random_seed(seed)
    p = model.placement
    layers: list[keras.layers.Layer] = [keras.Input(shape=(n_features,), name="x")]
    if p == "input":
        layers.append(_bn(model, "bn"))
    layers.append(
        keras.layers.Dense(
            model.hidden_units,
            kernel_initializer="he_uniform",
            activation=None if p == "before" else "relu",
            name="hidden",
        )
    )
    if p == "before":
        layers += [_bn(model, "bn"), keras.layers.Activation("relu", name="relu")]
    elif p == "after":
        layers.append(_bn(model, "bn"))
    layers.append(keras.layers.Dense(1, activation="sigmoid", name="output"))
    return keras.Sequential(layers, name=f"mlp_bn_{p}")


def initial_weights(model: DictConfig, seed: int, n_features: int = 2) -> dict:
    """The weights :func:`build_model` gives ``seed``, without building a model (~100x faster).

    Keras 3 initializers take their seed from Python's ``random`` when they are created; the
    MLP creates two random ones, the hidden kernel's (he_uniform) and then the output kernel's
    (glorot_uniform). Everything else starts at zeros (biases, beta, moving mean) or ones
    (gamma, moving variance). tests/test_models.py checks equality with the built model.
    """
    import numpy as np

    keras.utils.set_random_seed(seed)
    hidden, output = keras.initializers.HeUniform(), keras.initializers.GlorotUniform()
    h = model.hidden_units
    weights = {
        "hidden/kernel": np.asarray(hidden((n_features, h))),
        "hidden/bias": np.zeros(h, "float32"),
        "output/kernel": np.asarray(output((h, 1))),
        "output/bias": np.zeros(1, "float32"),
    }
    if model.placement != "none":
        c = n_features if model.placement == "input" else h
        ones, zeros = np.ones(c, "float32"), np.zeros(c, "float32")
        if model.bn.scale:
            weights["bn/gamma"] = ones
        if model.bn.center:
            weights["bn/beta"] = zeros
        weights |= {"bn/moving_mean": zeros, "bn/moving_variance": ones}
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
    """Weights by stable name: hidden/kernel, hidden/bias, bn/gamma, bn/beta,
    bn/moving_mean, bn/moving_variance, output/kernel, output/bias (those that exist)."""
    return {f"{layer.name}/{w.name}": w.numpy() for layer in model.layers for w in layer.weights}


def set_model_weights(model: keras.Model, weights: dict) -> keras.Model:
    """Inverse of :func:`model_weights`."""
    for layer in model.layers:
        for w in layer.weights:
            w.assign(weights[f"{layer.name}/{w.name}"])
    return model
