"""Model families: a layer spec in conf/model/<family>.yaml and one small builder each.

A builder returns the body of its network as Keras layers. Its keyword-only parameters are
its spec: ``model.spec`` in the YAML must give exactly those keys (a missing or unknown key is a
ConfigError). It receives a :class:`Body` whose :meth:`Body.slot` puts batch normalization
where ``model.placement`` says, with the ``model.bn`` options. :func:`bnstudy.models.build_model`
adds the input and the output layer (sigmoid for two classes, softmax for more), and every
engine trains that one Keras model. Adding a family is a YAML file and one function::

    @family("tiny", placements=("none", "after"))
    def tiny(body, *, units):
        dense = lambda act: body.layers.Dense(units, activation=act, name="hidden")
        return body.slot(dense, "relu")

This module imports Keras only when a model is built, so configuration checks stay light.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

#: ``placement`` values: BN after the slot's activation, before it (layer, BN, activation), on
#: the inputs (the MLP only), or none.
SLOT_PLACEMENTS = ("none", "after", "before")


@dataclass(frozen=True)
class Family:
    """A registered family: its name, the placements it allows and its builder."""

    name: str
    placements: tuple[str, ...]
    build: Callable[..., list]

    @property
    def spec_keys(self) -> tuple[str, ...]:
        """The keys ``model.spec`` must have: the builder's keyword-only parameters."""
        params = inspect.signature(self.build).parameters.values()
        return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)


FAMILIES: dict[str, Family] = {}


def family(name: str, placements: tuple[str, ...]) -> Callable:
    """Register ``fn(body, **spec) -> list of Keras layers`` as family ``name``."""

    def register(fn: Callable) -> Callable:
        FAMILIES[name] = Family(name, tuple(placements), fn)
        return fn

    return register


class Body:
    """What a builder gets: the model config, the seed, ``layers`` (keras.layers) and the BN
    slot."""

    def __init__(self, model: DictConfig, seed: int):
        import keras

        self.model, self.seed, self.layers = model, seed, keras.layers
        self.slots = 0

    def bn(self, name: str = "bn") -> Any:
        """A BatchNormalization with the ``model.bn`` options."""
        bn = self.model.bn
        return self.layers.BatchNormalization(
            momentum=bn.momentum, epsilon=bn.epsilon, center=bn.center, scale=bn.scale, name=name
        )

    def slot(self, make: Callable[[str | None], Any], activation: str | None = None) -> list:
        """The placement slot around one layer ``make(activation)``.

        none: [layer(activation)]; after: [layer(activation), BN]; before: [layer(None), BN,
        Activation(activation)]. With ``activation=None`` (a layer with its own nonlinearity,
        e.g. an LSTM), after is [layer, BN] and before is not offered.
        """
        self.slots += 1
        p = self.model.placement
        if p in ("none", "input"):
            return [make(activation)]
        if p == "after":
            return [make(activation), self.bn()]
        return [make(None), self.bn(), self.layers.Activation(activation, name=activation)]


# --- the families ------------------------------------------------------------------------------


@family("mlp", placements=("none", "after", "before", "input"))
def mlp(body: Body) -> list:
    """The tutorial's MLP: Dense(hidden_units, relu, he_uniform) with the slot; its options are
    model.hidden_units, use_bias, input_bn, dropout (see conf/model/mlp.yaml)."""
    m, L = body.model, body.layers
    out = [body.bn("input_bn")] if m.input_bn else []
    if m.placement == "input":
        out.append(body.bn("bn"))
    out += body.slot(
        lambda act: L.Dense(
            m.hidden_units,
            kernel_initializer="he_uniform",
            activation=act,
            use_bias=m.use_bias,
            name="hidden",
        ),
        "relu",
    )
    if m.dropout > 0:
        out.append(L.Dropout(m.dropout, seed=body.seed, name="dropout"))
    return out


@family("cnn", placements=SLOT_PLACEMENTS)
def cnn(body: Body, *, filters, kernel_size, conv_layers, pool_size, kernel_initializer) -> list:
    """Conv2D(filters, kernel_size, relu) x conv_layers, the slot on the last one, then
    MaxPooling2D(pool_size) and Flatten."""
    L, out = body.layers, []
    for i in range(1, conv_layers + 1):

        def conv(act, i=i):
            return L.Conv2D(
                filters, kernel_size, activation=act, kernel_initializer=kernel_initializer,
                name=f"conv{i}",
            )  # fmt: skip

        out += body.slot(conv, "relu") if i == conv_layers else [conv("relu")]
    return [*out, L.MaxPooling2D(pool_size, name="pool"), L.Flatten(name="flatten")]


@family("lstm", placements=("none", "after"))
def lstm(body: Body, *, units, unroll) -> list:
    """LSTM(units) over the sequence (its last output), the slot after it."""
    return body.slot(lambda _: body.layers.LSTM(units, unroll=unroll, name="lstm"))


@family("classifier", placements=SLOT_PLACEMENTS)
def classifier(body: Body, *, units, kernel_initializer) -> list:
    """The Q&A's classifier body: Dense(units) with the slot around its relu."""
    return body.slot(
        lambda act: body.layers.Dense(
            units, activation=act, kernel_initializer=kernel_initializer, name="hidden"
        ),
        "relu",
    )
