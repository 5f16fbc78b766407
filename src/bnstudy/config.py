"""The configuration schema, its validation, and composition of conf/.

conf/ (Hydra) is the only hand-edited source of parameters. It is composed either by Hydra
(the `bnstudy-train` app), by :func:`compose`, or per study into params.yaml
(:mod:`bnstudy.params`). Whatever composed it, :func:`validate` checks it against the
dataclass schema below and turns every mistake into a :class:`ConfigError` with one line that
names the key and what is allowed.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from bnstudy.families import FAMILIES
from bnstudy.paths import CONF_DIR, PARAMS_FILE

PLACEMENTS = ("none", "before", "after", "input")
ENGINES = ("vectorized", "keras", "stateless")
#: Engines by model family: the hand-written vectorized engine knows the MLP only.
FAMILY_ENGINES = {"mlp": ENGINES}
#: Datasets (bnstudy.data builds them); tests check the two lists agree.
DATASETS = ("circles", "digits", "digit_rows", "classification")
#: Options of the MLP only, at the values that leave them off (other families keep these).
MLP_ONLY = {"hidden_units": 50, "use_bias": True, "input_bn": False, "dropout": 0.0}
CLAIM_KINDS = (
    "superiority",
    "equivalence",
    "interval",
    "published",
    "spread",
    "usable_rate",
    "rate_range",
    "divergence",
    "at_best",
    "every",
    "parameters",
    "interaction",
)
DIRECTIONS = ("greater", "less")
#: Claims on two conditions, ``a`` and ``b``.
PAIR_KINDS = ("superiority", "equivalence", "spread", "parameters")
#: Claims on two groups, ``pair``, over the values of an ``axis`` (a group is a condition name
#: without that axis's label: "bn_after" groups "bn_after lr=0.01", "bn_after lr=0.1", ...).
GROUP_KINDS = ("usable_rate", "rate_range", "divergence", "at_best", "every")
#: Claims on a numeric grid: the axis must be {key:, values:} with increasing numbers.
GRID_KINDS = ("usable_rate", "rate_range")
#: The rules that ``at_best`` and ``every`` apply to the pair's conditions.
RULES = ("superiority", "equivalence", "spread")
#: What may pick a group's best value of an axis: never a measure of the test split. The
#: validation measures need a validation split (``data.n_validation`` > 0).
SELECT_ON = ("train_accuracy", "fit_accuracy", "validation_accuracy")


class ConfigError(ValueError):
    """A configuration mistake; its message is one line naming the key."""


@dataclass
class BNConfig:
    momentum: float = 0.99
    epsilon: float = 0.001
    center: bool = True
    scale: bool = True


@dataclass
class ModelConfig:
    family: str = "mlp"
    placement: str = "none"
    hidden_units: int = 50
    bn: BNConfig = field(default_factory=BNConfig)
    use_bias: bool = True
    input_bn: bool = False
    dropout: float = 0.0
    spec: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    name: str = "circles"
    n_samples: int = 1000
    noise: float = 0.1
    random_state: int = 1
    n_train: int = 500
    n_test: int = 0
    shuffle: bool = False
    n_features: int = 0
    n_informative: int = 0
    n_classes: int = 0
    # Badly scaled inputs (the data_preparation study): feature i becomes
    # x_i * feature_scale[i] + feature_shift[i] (empty: unchanged), before any standardizing.
    feature_scale: list[float] = field(default_factory=list)
    feature_shift: list[float] = field(default_factory=list)
    # Standardize every feature with a StandardScaler fitted on the training split.
    standardize: bool = False
    # Rows taken out of the training split (stratified by class, from random_state) as a
    # validation split that selects (e.g. a best learning rate); the model trains on the rest.
    n_validation: int = 0


@dataclass
class TrainConfig:
    epochs: int = 100
    batch_size: int = 32
    learning_rate: float = 0.01
    momentum: float = 0.9
    engine: str = "vectorized"
    xla: bool = False
    extra_eval: bool = False
    layer_stats: bool = False


@dataclass
class TrackingConfig:
    uri: str | None = None
    resume: bool = True


@dataclass
class ComparisonConfig:
    axis: str = "variant"
    pairs: list[list[str]] = field(default_factory=list)


@dataclass
class ClaimConfig:
    id: str = "C0"
    reading: str = ""
    kind: str = "superiority"
    measure: str = "test_accuracy"
    a: str | None = None
    b: str | None = None
    condition: str | None = None
    direction: str = "greater"
    margin: float = 0.01
    low: float | None = None
    high: float | None = None
    # Group claims (GROUP_KINDS): the axis swept (usable_rate, rate_range, divergence,
    # at_best) or within whose every value the rule is applied (every), and the two groups
    # compared, A then B: condition names without that axis's label.
    axis: str | None = None
    pair: list[str] = field(default_factory=list)
    # at_best / every: the rule applied to the pair's conditions (RULES).
    rule: str | None = None
    # at_best, usable_rate, rate_range: the measure whose mean over seeds picks a group's best
    # value of the axis (SELECT_ON: the training split, never the test split).
    select_on: str = "train_accuracy"
    # A value of the axis is usable for a group when at most this share of its seeds diverged
    # (and its mean ``measure`` is within ``margin`` of the group's at its best value).
    max_diverged: float = 0.1
    # divergence: a run also counts as failed when its final ``measure`` is below ``floor``
    # (e.g. a network collapsed to chance without a non-finite loss); null: diverged only.
    floor: float | None = None
    # divergence: the labels of ``axis`` it counts over (empty: every value).
    only: list[str] = field(default_factory=list)
    # interaction: the claim is on (a - b) - (c - d) over paired seeds, e.g. the effect of
    # dropout with BN minus its effect without BN.
    c: str | None = None
    d: str | None = None
    # parameters: the trainable parameters claimed per unit of a BN layer (gamma and beta).
    per_unit: int = 2


@dataclass
class StudyConfig:
    name: str = "study"
    title: str = ""
    axes: dict[str, Any] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: list(range(30)))
    comparisons: list[ComparisonConfig] = field(default_factory=list)
    published: dict[str, dict[str, float]] = field(default_factory=dict)
    claims: list[ClaimConfig] = field(default_factory=list)
    thresholds: list[float] = field(default_factory=lambda: [0.8, 0.9])
    confidence: float = 0.95
    n_resamples: int = 9999
    chance_margin: float = 0.05
    # The placement report's decision boundaries of a typical seed per condition (2-D inputs).
    boundaries: bool = False


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    study: StudyConfig = field(default_factory=StudyConfig)
    condition: str | None = None
    seed: int = 0
    seeds: list[int] | None = None


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


def structured(raw: DictConfig | dict, schema: type) -> DictConfig:
    """``raw`` merged into the dataclass ``schema``; a type or key mistake is a ConfigError."""
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(schema), raw)
        OmegaConf.resolve(cfg)
    except OmegaConfBaseException as exc:
        raise _schema_error(exc) from None
    return cfg


def check_model(model: DictConfig, at: str = "") -> None:
    """The family, its placement and spec, and the options only the MLP has."""
    fam = FAMILIES.get(model.family)
    require(fam is not None, f"{at}model.family", f"one of {tuple(FAMILIES)}", model.family)
    require(
        model.placement in fam.placements,
        f"{at}model.placement",
        f"one of {fam.placements} for model.family={model.family}",
        model.placement,
    )
    spec = sorted(model.spec or {})
    require(
        spec == sorted(fam.spec_keys),
        f"{at}model.spec",
        f"exactly the keys {sorted(fam.spec_keys)} for model.family={model.family}",
        spec,
    )
    if model.family != "mlp":
        for key, off in MLP_ONLY.items():
            require(
                model[key] == off,
                f"{at}model.{key}",
                f"{off!r} (an MLP option; model.family={model.family} sets its own in model.spec)",
                model[key],
            )
    require(model.hidden_units > 0, f"{at}model.hidden_units", "an integer > 0", model.hidden_units)
    bn = model.bn
    require(0.0 <= bn.momentum <= 1.0, f"{at}model.bn.momentum", "a number in [0, 1]", bn.momentum)
    require(bn.epsilon > 0, f"{at}model.bn.epsilon", "a number > 0", bn.epsilon)
    require(
        not (model.input_bn and model.placement == "input"),
        f"{at}model.input_bn",
        "false with model.placement=input (that placement is already BN on the inputs)",
        model.input_bn,
    )
    require(0.0 <= model.dropout < 1.0, f"{at}model.dropout", "a number in [0, 1)", model.dropout)


def check_data(data: DictConfig, at: str = "") -> None:
    """The dataset's name and split sizes."""
    require(data.name in DATASETS, f"{at}data.name", f"one of {DATASETS}", data.name)
    require(data.n_samples >= 4, f"{at}data.n_samples", "an integer >= 4", data.n_samples)
    require(
        0 < data.n_train < data.n_samples,
        f"{at}data.n_train",
        f"an integer in [1, {data.n_samples - 1}]",
        data.n_train,
    )
    require(
        0 <= data.n_test <= data.n_samples - data.n_train,
        f"{at}data.n_test",
        f"an integer in [0, n_samples - n_train = {data.n_samples - data.n_train}] (0: the rest)",
        data.n_test,
    )
    require(data.noise >= 0, f"{at}data.noise", "a number >= 0", data.noise)
    require(
        0 <= data.n_validation < data.n_train,
        f"{at}data.n_validation",
        f"an integer in [0, data.n_train - 1 = {data.n_train - 1}] (rows of the training split)",
        data.n_validation,
    )
    if data.name == "classification":
        for key in ("n_features", "n_informative", "n_classes"):
            require(data[key] >= 2, f"{at}data.{key}", "an integer >= 2", data[key])


def check_run(model: DictConfig, data: DictConfig, train: DictConfig, where: str = "") -> None:
    """Range checks of what one run trains; ``where`` prefixes the key (a condition's name)."""
    at = f"{where}: " if where else ""
    check_model(model, at)
    check_data(data, at)
    require(train.epochs > 0, f"{at}train.epochs", "an integer > 0", train.epochs)
    # The rows trained on: the training split less the validation rows (if any).
    n_fit, rows = data.n_train - data.n_validation, f"data.n_train={data.n_train}"
    if data.n_validation:
        rows = f"data.n_train - data.n_validation = {n_fit}"
    require(
        0 < train.batch_size <= n_fit,
        f"{at}train.batch_size",
        f"an integer in [1, {rows}]",
        train.batch_size,
    )
    require(
        (model.placement == "none" and not model.input_bn) or n_fit % train.batch_size != 1,
        f"{at}train.batch_size",
        f"a size that does not leave a last batch of one row of {rows} "
        "(BN in training mode turns a batch of one into beta)",
        train.batch_size,
    )
    require(
        train.learning_rate > 0 and math.isfinite(train.learning_rate),
        f"{at}train.learning_rate",
        "a finite number > 0",
        train.learning_rate,
    )
    require(
        0.0 <= train.momentum < 1.0, f"{at}train.momentum", "a number in [0, 1)", train.momentum
    )
    require(train.engine in ENGINES, f"{at}train.engine", f"one of {ENGINES}", train.engine)
    engines = FAMILY_ENGINES.get(model.family, ("keras", "stateless"))
    require(
        train.engine in engines,
        f"{at}train.engine",
        f"one of {engines} for model.family={model.family}",
        train.engine,
    )
    if model.family != "mlp" or train.engine == "stateless":
        for key in ("extra_eval", "layer_stats"):
            require(
                not train[key],
                f"{at}train.{key}",
                "false here (measured for the MLP by train.engine=vectorized or keras)",
                train[key],
            )


def _check_seeds(seeds: list[int], key: str) -> None:
    seeds = list(seeds)
    require(len(seeds) > 0, key, "a non-empty list of integers", seeds)
    dupes = sorted({x for x in seeds if seeds.count(x) > 1})
    require(not dupes, key, f"distinct integers (duplicates: {dupes})", seeds)
    require(all(x >= 0 for x in seeds), key, "integers >= 0", seeds)


def _check_study(s: DictConfig) -> None:
    require(
        bool(re.fullmatch(r"[a-z][a-z0-9_]*", s.name)),
        "study.name",
        "lower-case letters, digits and _ (it names files and the MLflow experiment)",
        s.name,
    )
    _check_seeds(s.seeds, "study.seeds")
    require(
        len(s.thresholds) > 0 and all(0 < x <= 1 for x in s.thresholds),
        "study.thresholds",
        "a non-empty list of accuracies in (0, 1]",
        list(s.thresholds),
    )
    require(0 < s.confidence < 1, "study.confidence", "a number in (0, 1)", s.confidence)
    require(s.n_resamples >= 100, "study.n_resamples", "an integer >= 100", s.n_resamples)
    require(
        0 <= s.chance_margin < 0.5, "study.chance_margin", "a number in [0, 0.5)", s.chance_margin
    )
    for i, c in enumerate(s.claims):
        key = f"study.claims[{i}] ({c.id})"
        require(c.kind in CLAIM_KINDS, f"{key}.kind", f"one of {CLAIM_KINDS}", c.kind)
        require(c.direction in DIRECTIONS, f"{key}.direction", f"one of {DIRECTIONS}", c.direction)
        rule = c.rule if c.kind in ("at_best", "every") else c.kind
        if c.kind in PAIR_KINDS:
            require(c.a is not None and c.b is not None, f"{key}.a/.b", "two condition names", None)
        if c.kind in GROUP_KINDS:
            _check_group_claim(s, c, key)
        if c.kind == "interaction":
            require(
                None not in (c.a, c.b, c.c, c.d), f"{key}.a/.b/.c/.d", "four condition names", None
            )
        if c.kind in ("at_best", "every"):
            require(c.rule in RULES, f"{key}.rule", f"one of {RULES}", c.rule)
        if rule in ("equivalence", *GRID_KINDS):
            require(c.margin > 0, f"{key}.margin", "a number > 0", c.margin)
        if c.kind in (*GRID_KINDS, "at_best"):
            require(
                c.select_on in SELECT_ON,
                f"{key}.select_on",
                f"one of {SELECT_ON} (never a test-split measure)",
                c.select_on,
            )
            require(
                0 <= c.max_diverged < 1, f"{key}.max_diverged", "a number in [0, 1)", c.max_diverged
            )
        if c.kind == "parameters":
            require(c.per_unit >= 0, f"{key}.per_unit", "an integer >= 0", c.per_unit)
        if c.kind == "interval":
            require(c.condition is not None, f"{key}.condition", "a condition name", None)
            require(c.low is not None or c.high is not None, f"{key}.low/.high", "a bound", None)


def check_selection(study: DictConfig, datas: list[DictConfig], where: str = "") -> None:
    """A claim that selects on a validation measure needs a validation split in every data
    config of ``datas`` (the study's, or each condition's: ``where`` names it)."""
    for i, c in enumerate(study.claims):
        if not str(c.get("select_on", "")).startswith("validation_"):
            continue
        for data in datas:
            require(
                data.n_validation > 0,
                f"study.claims[{i}] ({c.id}).select_on",
                f"a training-split measure, or data.n_validation > 0{where} "
                "(there is no validation split to select on)",
                c.select_on,
            )


def axis_labels(name: str, axis: Any) -> list[str]:
    """The labels of one axis of study.axes, in order: a mapping's names, or "<name>=<value>"
    for {key:, values:} (as bnstudy.studies names them)."""
    if isinstance(axis, DictConfig) and "key" in axis:
        return [f"{name}={v}" for v in axis.get("values") or []]
    return [str(label) for label in axis or {}]


def axis_groups(axes: DictConfig, axis: str) -> list[str]:
    """The groups of ``axis``: the names conditions have without that axis's label (the
    product of the other axes' labels joined by spaces, as condition names are; "base" when
    there is no other axis)."""
    others = [axis_labels(n, a) for n, a in axes.items() if n != axis]
    return [" ".join(combo) or "base" for combo in itertools.product(*others)]


def _check_group_claim(s: DictConfig, c: DictConfig, key: str) -> None:
    axes = list(s.axes)
    require(c.axis in axes, f"{key}.axis", f"one of the study's axes {axes}", c.axis)
    groups = axis_groups(s.axes, c.axis)
    require(
        len(c.pair) == 2 and all(g in groups for g in c.pair),
        f"{key}.pair",
        f"two of {groups} (condition names without the {c.axis!r} label)",
        list(c.pair),
    )
    labels = axis_labels(c.axis, s.axes[c.axis])
    require(
        all(v in labels for v in c.only) and (c.kind == "divergence" or not c.only),
        f"{key}.only",
        f"labels among {labels} (divergence claims only)",
        list(c.only),
    )
    if c.kind in GRID_KINDS:
        axis = s.axes[c.axis]
        values = list(axis.get("values") or []) if "key" in axis else []
        numeric = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        require(
            len(numeric) == len(values) >= 2 and all(x < y for x, y in itertools.pairwise(values)),
            f"{key}.axis",
            "an axis {key:, values:} of at least two increasing numbers",
            c.axis,
        )


def validate(raw: DictConfig | dict) -> DictConfig:
    """Merge ``raw`` into the schema and check every range; returns the typed config.

    Checks the composed model/data/train and the study's own keys; the study's conditions
    are checked when they are expanded (:func:`bnstudy.studies.conditions`). Raises
    :class:`ConfigError` (one line: key and what is allowed) on any mistake.
    """
    cfg = structured(raw, Config)
    check_run(cfg.model, cfg.data, cfg.train)
    _check_study(cfg.study)
    check_selection(cfg.study, [cfg.data])
    require(cfg.seed >= 0, "seed", "an integer >= 0", cfg.seed)
    if cfg.seeds is not None:
        _check_seeds(cfg.seeds, "seeds")
    return cfg


def compose(overrides: list[str] | None = None, config_dir: Path = CONF_DIR) -> DictConfig:
    """Compose conf/config.yaml with Hydra overrides; returns the raw config."""
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
    missing = re.search(r"Could not find '([^']+)/([^'/]+)'", text)
    options = re.search(r"Available options in '[^']+':\n((?:\t.*\n?)+)", text)
    if missing:
        found = ", ".join(o.strip() for o in options.group(1).splitlines()) if options else "none"
        return f"{missing.group(1)}: option {missing.group(2)!r} not found; available: {found}"
    unknown = re.search(r"Could not override '([^']+)'", text)
    if unknown:
        return f"{unknown.group(1)}: unknown key (see conf/ for the keys that exist)"
    merging = re.match(r"Error merging override (\S+)", text)
    if merging and exc.__cause__ is not None:  # e.g. a typed launcher key given a string
        return f"{merging.group(1)}: {str(exc.__cause__).splitlines()[0]}"
    return text.splitlines()[0]


def _read_params(path: Path) -> dict:
    """params.yaml as plain data, read with PyYAML's C loader: ~0.04 s, where OmegaConf.load
    takes ~0.5 s for every study of the pipeline (a cost each stage paid before its first
    line). params.yaml is written by OmegaConf.to_yaml, whose output the safe loader reads
    back equal (tests/test_config.py)."""
    if not path.exists():
        raise ConfigError(f"{path}: missing; run `make params` to compose it from conf/")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(), Loader=loader) or {}


def load_params(path: Path = PARAMS_FILE) -> DictConfig:
    """Read params.yaml (every study of the pipeline, composed) without validating it."""
    return OmegaConf.create(_read_params(path))


def study_params(name: str, path: Path = PARAMS_FILE) -> DictConfig:
    """The validated config of study ``name`` from params.yaml."""
    params = _read_params(path)
    names = list(params.get("studies") or {})
    require(name in names, "study", f"one of {', '.join(names) or '(none in params.yaml)'}", name)
    return validate(OmegaConf.create(params["studies"][name]))
