"""Parameter counts of a model config on a dataset, from the configs alone (no Keras, no
TensorFlow).

The analysis stages count parameters for claim C21 ("BN adds two trainable parameters per
unit") without importing TensorFlow; tests/test_parameters.py checks every formula here against
``count_params`` of the Keras models that :func:`bnstudy.models.build_model` builds, for every
family and placement.

The layers (Keras's defaults: biases on, ``valid`` padding, stride 1, pooling stride = pool):

- ``Dense(n)`` on ``m`` inputs: ``m*n`` kernel weights plus ``n`` biases (trainable);
- ``Conv2D(f, (kh, kw))`` on ``c`` channels: ``kh*kw*c*f`` plus ``f`` biases; an ``h x w``
  image becomes ``(h-kh+1) x (w-kw+1)``; ``MaxPooling2D(p)`` makes it ``h//p x w//p``;
- ``LSTM(n)`` on ``m`` features a step: four gates of ``m*n + n*n + n`` (trainable);
- ``BatchNormalization`` on ``u`` units (features, or channels after a convolution): ``u``
  gamma (if ``scale``) and ``u`` beta (if ``center``), trainable; ``u`` moving means and ``u``
  moving variances, non-trainable.

The families (bnstudy.families), the placement slot adding BN on the slot layer's outputs
(after or before its activation: the same count):

- mlp: Dense(hidden_units) [bias: ``use_bias``], BN on the inputs with placement ``input``
  and with ``input_bn``; Dropout adds nothing;
- cnn: Conv2D x conv_layers (the slot on the last), MaxPooling2D, Flatten;
- lstm: LSTM(units) (its last output), the slot after it;
- classifier: Dense(units) with the slot;

then the output layer of :func:`bnstudy.models.build_model`: Dense(1) for two classes,
Dense(classes) for more. The input shape and the classes come from the data config
(:func:`input_shape`, :func:`n_classes`; tests check them against the datasets bnstudy.data
builds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from omegaconf import DictConfig

from bnstudy.config import ConfigError

#: Input shape and classes of the datasets whose shape is fixed (conf/data/<name>.yaml);
#: classification's come from its config (n_features, n_classes).
DATASETS = {"circles": ((2,), 2), "digits": ((8, 8, 1), 10), "digit_rows": ((8, 8), 2)}
KNOWN_DATA = (*DATASETS, "classification")


def _dataset(data: DictConfig) -> tuple[tuple[int, ...], int]:
    if data.name == "classification":
        return (int(data.n_features),), int(data.n_classes)
    if data.name not in DATASETS:
        raise ConfigError(f"data.name: {data.name!r} is not allowed; expected one of {KNOWN_DATA}")
    return DATASETS[data.name]


def input_shape(data: DictConfig) -> tuple[int, ...]:
    """One example's shape in a data config's dataset: (features,), (steps, features) or
    (height, width, channels)."""
    return _dataset(data)[0]


def n_classes(data: DictConfig) -> int:
    """The classes of a data config's dataset (2: one sigmoid output)."""
    return _dataset(data)[1]


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


def conv2d_counts(channels: int, filters: int, kernel: tuple[int, int]) -> Counts:
    """One Conv2D layer: a ``kh x kw x channels`` kernel per filter plus one bias each."""
    return Counts(kernel[0] * kernel[1] * channels * filters + filters, 0, 0)


def lstm_counts(n_in: int, units: int) -> Counts:
    """One LSTM layer: four gates (input, forget, cell, output), each an input kernel
    ``n_in x units``, a recurrent kernel ``units x units`` and ``units`` biases."""
    return Counts(4 * (n_in * units + units * units + units), 0, 0)


def add(*parts: Counts) -> Counts:
    """Counts of layers stacked together."""
    return Counts(
        sum(p.trainable for p in parts),
        sum(p.non_trainable for p in parts),
        sum(p.bn_units for p in parts),
    )


def slot_counts(model: DictConfig, units: int) -> list[Counts]:
    """The BN that the placement slot adds on a layer's ``units`` outputs: after or before the
    activation, none otherwise (placement none, or input: the MLP's own)."""
    if model.placement in ("after", "before"):
        return [bn_counts(units, model.bn.center, model.bn.scale)]
    return []


def _pair(value) -> tuple[int, int]:
    """A Keras size argument: an int or a (height, width) pair."""
    return (int(value), int(value)) if isinstance(value, int) else tuple(int(v) for v in value)


def _rank(model: DictConfig, shape: tuple[int, ...], rank: int, what: str) -> None:
    if len(shape) != rank:
        raise ConfigError(
            f"model.family: {model.family!r} is not allowed on inputs of shape {shape}; "
            f"expected {what}"
        )


def mlp_counts(model: DictConfig, shape: tuple[int, ...]) -> tuple[list[Counts], int]:
    """The MLP's body (conf/model/mlp.yaml) and its output width. Options a config may lack
    are read with the defaults that leave the layout of mlp.yaml unchanged."""
    _rank(model, shape, 1, "flat features (n,)")
    (features,), h, bn = shape, model.hidden_units, model.bn
    parts = [dense_counts(features, h, bool(model.get("use_bias", True)))]
    if model.get("input_bn", False):
        parts.append(bn_counts(features, bn.center, bn.scale))
    if model.placement == "input":
        parts.append(bn_counts(features, bn.center, bn.scale))
    return parts + slot_counts(model, h), h


def cnn_counts(model: DictConfig, shape: tuple[int, ...]) -> tuple[list[Counts], int]:
    """The CNN's body (conf/model/cnn.yaml): BN on the last convolution's channels; its output
    width is the flattened pooled feature map."""
    _rank(model, shape, 3, "images (height, width, channels)")
    (h, w, c), spec = shape, model.spec
    (kh, kw), (ph, pw), parts = _pair(spec.kernel_size), _pair(spec.pool_size), []
    for _ in range(spec.conv_layers):
        parts.append(conv2d_counts(c, spec.filters, (kh, kw)))
        h, w, c = h - kh + 1, w - kw + 1, spec.filters
    h, w = h // ph, w // pw
    if h < 1 or w < 1:
        raise ConfigError(
            f"model.spec: {dict(spec)} is not allowed on {shape} images; expected convolutions "
            "and pooling that leave at least one pixel"
        )
    return parts + slot_counts(model, c), h * w * c


def lstm_body_counts(model: DictConfig, shape: tuple[int, ...]) -> tuple[list[Counts], int]:
    """The LSTM's body (conf/model/lstm.yaml): its last output, BN on its units."""
    _rank(model, shape, 2, "sequences (steps, features)")
    units = model.spec.units
    return [lstm_counts(shape[1], units), *slot_counts(model, units)], units


def classifier_counts(model: DictConfig, shape: tuple[int, ...]) -> tuple[list[Counts], int]:
    """The classifier's body (conf/model/classifier.yaml): Dense(units) with the slot."""
    _rank(model, shape, 1, "flat features (n,)")
    units = model.spec.units
    return [dense_counts(shape[0], units), *slot_counts(model, units)], units


#: model.family -> fn(model config, input shape) -> (the body's layer counts, its output width).
BODIES: dict[str, Callable[[DictConfig, tuple[int, ...]], tuple[list[Counts], int]]] = {
    "mlp": mlp_counts,
    "cnn": cnn_counts,
    "lstm": lstm_body_counts,
    "classifier": classifier_counts,
}


def model_counts(model: DictConfig, data: DictConfig) -> Counts:
    """Counts of the network a model config builds on a data config's dataset: the family's
    body, then the output layer (Dense(1) for two classes, Dense(classes) for more)."""
    if model.family not in BODIES:
        raise ConfigError(
            f"model.family: {model.family!r} is not allowed; expected one of {tuple(BODIES)}"
        )
    parts, width = BODIES[model.family](model, input_shape(data))
    classes = n_classes(data)
    return add(*parts, dense_counts(width, 1 if classes <= 2 else classes))
