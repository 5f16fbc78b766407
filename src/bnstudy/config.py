"""The configuration schema, its validation, and composition of conf/ into params.yaml.

conf/ (Hydra) is the only hand-edited source of parameters. It is composed either by
Hydra (the `bnstudy-train` app), by DVC (`dvc exp run`, into params.yaml), or by
:func:`compose`. Whatever composed it, :func:`validate` checks it against the dataclass
schema below and turns every mistake into a :class:`ConfigError` with one line that names
the key and what is allowed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from bnstudy.paths import CONF_DIR, PARAMS_FILE

PLACEMENTS = ("none", "before", "after", "input")
ENGINES = ("vectorized", "keras")


class ConfigError(ValueError):
    """A configuration mistake; its message is one line naming the key."""


@dataclass
class BNConfig:
    momentum: float = 0.99
    epsilon: float = 0.001
    center: bool = True
    scale: bool = True


@dataclass
class VariantConfig:
    placement: str = "none"
    hidden_units: int = 50
    bn: BNConfig = field(default_factory=BNConfig)


@dataclass
class DataConfig:
    n_samples: int = 1000
    noise: float = 0.1
    random_state: int = 1
    n_train: int = 500
    path: str = "data/circles.npz"


@dataclass
class TrainConfig:
    epochs: int = 100
    batch_size: int = 32
    learning_rate: float = 0.01
    momentum: float = 0.9
    engine: str = "vectorized"
    xla: bool = False


@dataclass
class TrackingConfig:
    uri: str | None = None
    experiment: str = "bn-placement"
    resume: bool = True


@dataclass
class StudyConfig:
    seeds: list[int] = field(default_factory=lambda: list(range(30)))
    thresholds: list[float] = field(default_factory=lambda: [0.8, 0.9])
    confidence: float = 0.95
    n_resamples: int = 9999
    failure_accuracy: float = 0.6


@dataclass
class Config:
    variant: str = "baseline"
    seed: int = 0
    variants: dict[str, VariantConfig] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    study: StudyConfig = field(default_factory=StudyConfig)


def _schema_error(exc: OmegaConfBaseException) -> ConfigError:
    key = getattr(exc, "full_key", None) or "config"
    msg = str(exc).splitlines()[0]
    if "not in struct" in msg or ("Key '" in msg and "not" in msg):
        return ConfigError(f"{key}: unknown key (see conf/ for the keys that exist)")
    value = getattr(exc, "value", None)
    return ConfigError(f"{key}: invalid value {value!r} ({msg})")


def require(ok: bool, key: str, allowed: str, value: Any) -> None:
    """Raise the one-line ConfigError "<key>: <value> is not allowed; expected <allowed>"."""
    if not ok:
        raise ConfigError(f"{key}: {value!r} is not allowed; expected {allowed}")


def validate(raw: DictConfig | dict) -> DictConfig:
    """Merge ``raw`` into the schema and check every range; returns the typed config.

    Raises :class:`ConfigError` (one line: key and what is allowed) on any mistake.
    """
    schema = OmegaConf.structured(Config)
    try:
        cfg = OmegaConf.merge(schema, raw)
        OmegaConf.resolve(cfg)
    except OmegaConfBaseException as exc:
        raise _schema_error(exc) from None
    names = sorted(cfg.variants)
    require(bool(names), "variants", "at least one variant under conf/variants/", "{}")
    require(cfg.variant in cfg.variants, "variant", f"one of {', '.join(names)}", cfg.variant)
    for name, var in cfg.variants.items():
        key = f"variants.{name}"
        require(
            var.placement in PLACEMENTS, f"{key}.placement", f"one of {PLACEMENTS}", var.placement
        )
        require(var.hidden_units > 0, f"{key}.hidden_units", "an integer > 0", var.hidden_units)
        require(
            0.0 <= var.bn.momentum <= 1.0,
            f"{key}.bn.momentum",
            "a number in [0, 1]",
            var.bn.momentum,
        )
        require(var.bn.epsilon > 0, f"{key}.bn.epsilon", "a number > 0", var.bn.epsilon)
    d = cfg.data
    require(d.n_samples >= 4, "data.n_samples", "an integer >= 4", d.n_samples)
    require(
        0 < d.n_train < d.n_samples,
        "data.n_train",
        f"an integer in [1, {d.n_samples - 1}]",
        d.n_train,
    )
    require(d.noise >= 0, "data.noise", "a number >= 0", d.noise)
    t = cfg.train
    require(t.epochs > 0, "train.epochs", "an integer > 0", t.epochs)
    require(
        0 < t.batch_size <= d.n_train,
        "train.batch_size",
        f"an integer in [1, data.n_train={d.n_train}]",
        t.batch_size,
    )
    require(
        t.learning_rate > 0 and math.isfinite(t.learning_rate),
        "train.learning_rate",
        "a finite number > 0",
        t.learning_rate,
    )
    require(0.0 <= t.momentum < 1.0, "train.momentum", "a number in [0, 1)", t.momentum)
    require(t.engine in ENGINES, "train.engine", f"one of {ENGINES}", t.engine)
    s = cfg.study
    require(len(s.seeds) > 0, "study.seeds", "a non-empty list of integers", list(s.seeds))
    dupes = sorted({x for x in s.seeds if list(s.seeds).count(x) > 1})
    require(not dupes, "study.seeds", f"distinct integers (duplicates: {dupes})", list(s.seeds))
    require(all(x >= 0 for x in s.seeds), "study.seeds", "integers >= 0", list(s.seeds))
    require(cfg.seed >= 0, "seed", "an integer >= 0", cfg.seed)
    require(
        all(0 < x <= 1 for x in s.thresholds) and len(s.thresholds) > 0,
        "study.thresholds",
        "a non-empty list of accuracies in (0, 1]",
        list(s.thresholds),
    )
    require(0 < s.confidence < 1, "study.confidence", "a number in (0, 1)", s.confidence)
    require(s.n_resamples >= 100, "study.n_resamples", "an integer >= 100", s.n_resamples)
    return cfg


def compose(overrides: list[str] | None = None, config_dir: Path = CONF_DIR) -> DictConfig:
    """Compose conf/ with Hydra overrides, exactly as DVC does; returns the raw config."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException

    try:
        with initialize_config_dir(str(config_dir), version_base="1.3"):
            return hydra_compose("config", overrides=list(overrides or []))
    except HydraException as exc:
        raise ConfigError(hydra_error_line(exc)) from None


def hydra_error_line(exc: Exception) -> str:
    """Hydra's composition error in one line: the problem, and the options where it lists them.

    "Could not find 'train/fast'" -> "train: option 'fast' not found; available: reference".
    """
    text = str(exc)
    missing = re.search(r"Could not find '([^'/]+)/([^']+)'", text)
    options = re.search(r"Available options in '[^']+':\n((?:\t.*\n?)+)", text)
    if missing:
        found = ", ".join(o.strip() for o in options.group(1).splitlines()) if options else "none"
        return f"{missing.group(1)}: option {missing.group(2)!r} not found; available: {found}"
    unknown = re.search(r"Could not override '([^']+)'", text)
    if unknown:
        return f"{unknown.group(1)}: unknown key (see conf/ for the keys that exist)"
    return text.splitlines()[0]


def load_params(path: Path = PARAMS_FILE) -> DictConfig:
    """Read and validate the composed params.yaml that DVC tracks."""
    if not path.exists():
        raise ConfigError(f"{path}: missing; run `make params` to compose it from conf/")
    return validate(OmegaConf.load(path))


def variant_config(cfg: DictConfig, name: str) -> DictConfig:
    """The model config of one variant, with a helpful error for unknown names."""
    if name not in cfg.variants:
        raise ConfigError(
            f"variant: {name!r} is not allowed; expected one of {', '.join(sorted(cfg.variants))}"
        )
    return cfg.variants[name]
