"""Parameter counts of a model config, from the config alone (no Keras, no TensorFlow).

The analysis stages count parameters for claim C21 ("BN adds two trainable parameters per
unit") without importing TensorFlow; tests/test_parameters.py checks every formula here against
``count_params`` of the Keras models that :func:`bnstudy.models.build_model` builds.

The MLP of conf/model/mlp.yaml, with ``h`` hidden units and ``f`` input features:

- ``Dense(h)`` on ``f`` inputs: ``f*h`` kernel weights plus ``h`` biases (trainable);
- ``BatchNormalization`` on ``u`` units: ``u`` gamma (if ``scale``) and ``u`` beta (if
  ``center``), trainable; ``u`` moving means and ``u`` moving variances, non-trainable;
- ``Dense(1)`` on ``h`` inputs: ``h + 1`` (trainable).

Options that a model config may gain later are read with defaults that leave the counts above
unchanged: ``use_bias`` (the hidden Dense layer's bias; default true) and ``input_bn`` (a BN
layer on the inputs besides the placement's; default false). Dropout adds no parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig

from bnstudy.config import ConfigError

#: Input features per dataset (conf/data/<name>.yaml).
FEATURES = {"circles": 2}


def n_features(data: DictConfig) -> int:
    """The number of input features of a data config's dataset."""
    if data.name not in FEATURES:
        raise ConfigError(f"data.name: {data.name!r} is not allowed; expected one of {FEATURES}")
    return FEATURES[data.name]


@dataclass(frozen=True)
class Counts:
    """Parameters of one model: trainable, non-trainable, and the units its BN layers
    normalize (0 without BN)."""

    trainable: int
    non_trainable: int
    bn_units: int

    @property
    def total(self) -> int:
        """All weights: what Keras's ``model.count_params()`` returns."""
        return self.trainable + self.non_trainable


def bn_counts(units: int, center: bool = True, scale: bool = True) -> Counts:
    """One BatchNormalization layer on ``units`` features."""
    return Counts(units * (int(center) + int(scale)), 2 * units, units)


def dense_counts(n_in: int, n_out: int, use_bias: bool = True) -> Counts:
    """One Dense layer: ``n_in * n_out`` kernel weights plus ``n_out`` biases if ``use_bias``."""
    return Counts(n_in * n_out + (n_out if use_bias else 0), 0, 0)


def add(*parts: Counts) -> Counts:
    """Counts of layers stacked together."""
    return Counts(
        sum(p.trainable for p in parts),
        sum(p.non_trainable for p in parts),
        sum(p.bn_units for p in parts),
    )


def model_counts(model: DictConfig, features: int) -> Counts:
    """Counts of the MLP that a model config describes, on ``features`` inputs."""
    if model.family != "mlp":
        raise ConfigError(f"model.family: {model.family!r} is not allowed; expected 'mlp'")
    h, bn = model.hidden_units, model.bn
    parts = [
        dense_counts(features, h, bool(model.get("use_bias", True))),
        dense_counts(h, 1),
    ]
    if model.get("input_bn", False):
        parts.append(bn_counts(features, bn.center, bn.scale))
    if model.placement == "input":
        parts.append(bn_counts(features, bn.center, bn.scale))
    elif model.placement in ("before", "after"):
        parts.append(bn_counts(h, bn.center, bn.scale))
    return add(*parts)
