"""A study's conditions: the product of its axes, each a named, keyed training setup.

A condition is one point of the study's axes: the study's model/data/train with the axis
values merged in. Its key is a hash of everything that makes its runs (model, data, training,
package version); a run is a condition and a seed. Everything downstream (MLflow tags and
resume, results, tables, figures, claims) is keyed on conditions, never on hard-coded names.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

import bnstudy
from bnstudy.config import (
    MLP_ONLY,
    ConfigError,
    DataConfig,
    ModelConfig,
    TrainConfig,
    check_run,
    check_selection,
    structured,
)

PARTS = ("model", "data", "train")
#: Options added after runs were recorded, at the value that means "off": left out of
#: identities when they have it, so existing runs keep their keys (and are reused).
NEUTRAL = {
    "model.use_bias": True,
    "model.input_bn": False,
    "model.dropout": 0.0,
    "model.spec": {},
    "data.n_test": 0,
    "data.shuffle": False,
    "data.n_features": 0,
    "data.n_informative": 0,
    "data.n_classes": 0,
    "train.extra_eval": False,
    "train.layer_stats": False,
    "data.feature_scale": [],
    "data.feature_shift": [],
    "data.standardize": False,
    "data.n_validation": 0,
}


#: The values the vectorized engine takes per run (per slot of its stacked axis) rather than
#: compiling them in: conditions that differ only in them train in one computation
#: (:func:`group_conditions`, ``engines.vectorized.train_vectorized_group``).
PER_SLOT = ("train.learning_rate", "train.momentum", "model.bn.momentum", "model.dropout")
#: At most this many runs in one group. Measured on the learning_rate study (2 cores, 100
#: epochs, training only): 30 seeds in groups of 9 conditions (270 runs) 28.7 s, of 3 (90
#: runs) 45.5 s, condition by condition 58.7 s; 100 seeds in groups of 900 runs 75.0 s (peak
#: RSS 1.41 GB), of 300 runs 81.9 s (1.03 GB). Gains flatten past a few hundred runs while
#: memory grows (~0.45 MB per run of the 50-unit MLP).
MAX_GROUP_RUNS = 1024


def without_per_slot(parts: dict[str, DictConfig]) -> dict:
    """``parts`` (part name -> config) as plain dicts without the PER_SLOT values: what must be
    equal for runs to train in one group."""
    out = {part: OmegaConf.to_container(cfg, resolve=True) for part, cfg in parts.items()}
    for key in PER_SLOT:
        *path, name = key.split(".")
        node = out.get(path[0])
        for p in path[1:]:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(name, None)
    return out


def group_key(cond: Condition) -> str:
    """Conditions with the same key can train in one group if their datasets have the same
    shapes: same model structure and training setup, whatever their PER_SLOT values."""
    return digest(without_per_slot({"model": cond.model, "train": cond.train}))


def group_conditions(
    conds: list[Condition],
    n_runs: dict[str, int],
    max_runs: int = MAX_GROUP_RUNS,
    shapes: dict[str, tuple] | None = None,
) -> list[list[Condition]]:
    """``conds`` in groups that train together, in order of first appearance: those of the
    vectorized engine by :func:`group_key` and their datasets' shapes (``shapes``: condition
    name -> ``Dataset.shapes()``; without it, by their data config: conditions on different
    data never share a group), split so that no group has more than ``max_runs`` runs
    (``n_runs``: condition name -> its runs to train); those of other engines, and those
    compiled with XLA (whose rounding depends on the number of slots), alone."""
    groups: dict[tuple, list[list[Condition]]] = {}
    for c in conds:
        if c.train.engine != "vectorized" or c.train.xla:
            groups[(c.name,)] = [[c]]
            continue
        data = shapes[c.name] if shapes is not None else digest(part_identity("data", c.data))
        chunks = groups.setdefault((group_key(c), data), [[]])
        if chunks[-1] and sum(n_runs[x.name] for x in chunks[-1]) + n_runs[c.name] > max_runs:
            chunks.append([])
        chunks[-1].append(c)
    return [chunk for chunks in groups.values() for chunk in chunks]


def part_identity(part: str, cfg: DictConfig) -> dict:
    """One part (model, data or train) of an identity: ``cfg`` as a dict without the options
    at their NEUTRAL value, and without the MLP's options in another family's model."""
    out = OmegaConf.to_container(cfg, resolve=True)
    for key, value in NEUTRAL.items():
        p, name = key.split(".")
        if p == part and out.get(name) == value and type(out.get(name)) is type(value):
            del out[name]
    if part == "model" and out.get("family") != "mlp":
        for name in MLP_ONLY:
            out.pop(name, None)
    return out


def digest(obj: object, n: int = 16) -> str:
    """The first ``n`` hex digits of sha256 over ``obj`` as sorted JSON."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:n]


@dataclass(frozen=True)
class Condition:
    """One point of a study's axes.

    name: its axis labels joined by spaces ("bn_after momentum=0.0"); labels: axis -> label;
    model, data, train: the resolved configs its runs train with.
    """

    name: str
    labels: dict[str, str]
    model: DictConfig = field(compare=False)
    data: DictConfig = field(compare=False)
    train: DictConfig = field(compare=False)

    def identity(self, seed: int | None = None) -> dict:
        """What makes a run the same run (``seed=None``: the condition itself); options at
        their NEUTRAL value are left out."""
        out = {part: part_identity(part, getattr(self, part)) for part in PARTS}
        return {**out, "seed": seed, "version": bnstudy.__version__}

    @property
    def key(self) -> str:
        """Stable hash of the condition's identity (16 hex digits)."""
        return digest(self.identity())

    def run_key(self, seed: int) -> str:
        """Stable hash of one run's identity (16 hex digits)."""
        return digest(self.identity(seed))


def _axis_values(name: str, axis) -> list[tuple[str, dict]]:
    """[(label, partial config)] of one axis, in order."""
    where = f"study.axes.{name}"
    if not isinstance(axis, DictConfig) or not len(axis):
        raise ConfigError(f"{where}: expected a mapping of named values, or {{key:, values:}}")
    if "key" in axis:
        key, values = axis.get("key"), axis.get("values")
        if not isinstance(key, str) or key.split(".")[0] not in PARTS or not values:
            raise ConfigError(
                f"{where}: expected key: <model|data|train>.<name> and a non-empty values list"
            )
        out = []
        for v in values:
            partial = OmegaConf.create()
            OmegaConf.update(partial, key, v, force_add=True)
            out.append((f"{name}={v}", OmegaConf.to_container(partial)))
        return out
    out = []
    for label, partial in axis.items():
        if not isinstance(partial, DictConfig) or set(partial) - set(PARTS):
            raise ConfigError(
                f"{where}.{label}: expected a partial config with keys among {', '.join(PARTS)}"
            )
        out.append((str(label), OmegaConf.to_container(partial)))
    return out


def make_condition(cfg: DictConfig, labels: dict[str, str], partials: list[dict]) -> Condition:
    """The study's model/data/train with ``partials`` merged in, checked."""
    name = " ".join(labels.values()) or "base"
    parts = {}
    for part, schema in zip(PARTS, (ModelConfig, DataConfig, TrainConfig), strict=True):
        merged = [cfg[part], *(p[part] for p in partials if part in p)]
        try:
            parts[part] = structured(OmegaConf.merge(*merged), schema)
        except OmegaConfBaseException as exc:
            key = getattr(exc, "full_key", "") or ""
            line = str(exc).splitlines()[0]
            raise ConfigError(f"study.axes ({name}): {part}.{key}: {line}") from None
        except ConfigError as exc:
            raise ConfigError(f"study.axes ({name}): {part}.{exc}") from None
    check_run(parts["model"], parts["data"], parts["train"], where=f"study.axes ({name})")
    return Condition(name, labels, **parts)


def conditions(cfg: DictConfig) -> list[Condition]:
    """Every condition of ``cfg.study``: the product of its axes, first axis slowest."""
    axes = {name: _axis_values(name, axis) for name, axis in cfg.study.axes.items()}
    out = []
    for combo in itertools.product(*axes.values()):
        labels = dict(zip(axes, (label for label, _ in combo), strict=True))
        out.append(make_condition(cfg, labels, [partial for _, partial in combo]))
    names = [c.name for c in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"study.axes: condition names must be distinct (repeated: {dupes})")
    return out


def check_names(study: DictConfig, conds: list[Condition]) -> None:
    """Every condition name that claims, published values and comparisons use must exist."""
    names = [c.name for c in conds]
    allowed = f"one of {', '.join(names)}"
    for c in conds:
        check_selection(study, [c.data], f" in condition {c.name!r}")
    for i, cl in enumerate(study.claims):
        for field_ in ("a", "b", "c", "d", "condition"):
            value = cl.get(field_)
            if value is not None and value not in names:
                raise ConfigError(
                    f"study.claims[{i}] ({cl.id}).{field_}: {value!r} is not allowed; "
                    f"expected {allowed}"
                )
    for cond, _values in study.published.items():
        if cond not in names:
            raise ConfigError(f"study.published.{cond}: not a condition; expected {allowed}")
    for cl in study.claims:
        if cl.kind == "published" and not any(cl.measure in v for v in study.published.values()):
            raise ConfigError(
                f"study.published: no {cl.measure} value for claim {cl.id} to compare with"
            )
    for i, comp in enumerate(study.comparisons):
        labels = {c.labels.get(comp.axis) for c in conds} - {None}
        if not labels:
            raise ConfigError(f"study.comparisons[{i}].axis: {comp.axis!r} is not an axis")
        for label in (x for pair in comp.pairs for x in pair):
            if label not in labels:
                raise ConfigError(
                    f"study.comparisons[{i}].pairs: {label!r} is not a value of axis "
                    f"{comp.axis!r} (one of {', '.join(sorted(labels))})"
                )


def by_name(conds: list[Condition], name: str) -> Condition:
    """The condition called ``name``; a ConfigError lists the names that exist."""
    for c in conds:
        if c.name == name:
            return c
    raise ConfigError(
        f"condition: {name!r} is not allowed; expected one of {', '.join(c.name for c in conds)}"
    )


def app_condition(cfg: DictConfig) -> Condition:
    """What a single run of the Hydra app trains.

    ``condition=<name>``: that condition of the study. Otherwise the composed model/data/train
    themselves, named after the study condition they equal, or ``custom-<key>``.
    """
    conds = conditions(cfg)
    if cfg.condition is not None:
        return by_name(conds, cfg.condition)
    base = make_condition(cfg, {}, [])
    same = [c for c in conds if c.key == base.key]
    if same:
        return same[0]
    return Condition(f"custom-{base.key[:8]}", {}, base.model, base.data, base.train)
