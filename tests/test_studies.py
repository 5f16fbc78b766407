"""A study's conditions (bnstudy.studies) from the real conf/, and a new study added as
configuration only, evaluated end to end on hand-made runs."""

from __future__ import annotations

import dataclasses
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from omegaconf import DictConfig, ListConfig, OmegaConf

import bnstudy
from bnstudy.aggregate import comparisons_table, runs_table, summary_table
from bnstudy.claims import claims_table
from bnstudy.config import (
    Config,
    ConfigError,
    DataConfig,
    ModelConfig,
    TrainConfig,
    compose,
    validate,
)
from bnstudy.params import composed_text, pipeline_studies, study_config
from bnstudy.paths import CODE_ROOT, CONF_DIR
from bnstudy.results import divergence
from bnstudy.studies import Condition, app_condition, conditions, make_condition

HEX16 = re.compile(r"[0-9a-f]{16}")


@pytest.fixture(scope="module")
def placement_raw():
    """conf/ composed for the placement study (the default), not validated."""
    return compose()


@pytest.fixture(scope="module")
def placement(placement_raw):
    return conditions(validate(placement_raw))


def expand(raw, axes) -> list[Condition]:
    """The conditions of ``raw`` with its study.axes replaced by ``axes``."""
    raw = raw.copy()
    OmegaConf.update(raw, "study.axes", axes, merge=False)
    return conditions(validate(raw))


# --- the real studies --------------------------------------------------------------------------


def test_placement_study_has_its_three_conditions(placement):
    assert [c.name for c in placement] == ["baseline", "bn_after", "bn_before"]
    assert [c.model.placement for c in placement] == ["none", "after", "before"]
    assert [c.labels for c in placement] == [
        {"variant": "baseline"},
        {"variant": "bn_after"},
        {"variant": "bn_before"},
    ]
    # Everything the axis does not set is the study's model/data/train.
    for c in placement:
        assert (c.model.hidden_units, c.model.bn.momentum) == (50, 0.99)
        assert (c.train.epochs, c.train.learning_rate, c.data.n_train) == (100, 0.01, 500)
    keys = [c.key for c in placement]
    assert all(HEX16.fullmatch(k) for k in keys)
    assert len(set(keys)) == 3


def test_condition_keys_are_stable_across_compositions(placement):
    again = conditions(validate(compose()))
    assert [c.key for c in again] == [c.key for c in placement]
    assert [c.run_key(7) for c in again] == [c.run_key(7) for c in placement]


def test_bn_momentum_study_is_the_product_of_its_axes():
    conds = conditions(validate(compose(["study=bn_momentum"])))
    # First axis slowest: variant x momentum.
    assert [c.name for c in conds] == [
        "bn_after momentum=0.99",
        "bn_after momentum=0.0",
        "bn_before momentum=0.99",
        "bn_before momentum=0.0",
    ]
    assert [(c.model.placement, c.model.bn.momentum) for c in conds] == [
        ("after", 0.99),
        ("after", 0.0),
        ("before", 0.99),
        ("before", 0.0),
    ]
    assert conds[1].labels == {"variant": "bn_after", "momentum": "momentum=0.0"}
    assert len({c.key for c in conds}) == 4


def test_a_key_depends_on_the_config_not_on_the_name_or_study(placement):
    """bn_momentum's "bn_after momentum=0.99" trains exactly placement's bn_after."""
    momentum = {c.name: c for c in conditions(validate(compose(["study=bn_momentum"])))}
    bn_after = {c.name: c for c in placement}["bn_after"]
    assert momentum["bn_after momentum=0.99"].key == bn_after.key
    assert momentum["bn_after momentum=0.99"].run_key(3) == bn_after.run_key(3)


def test_a_key_axis_given_as_a_hydra_override():
    raw = compose(["+study.axes.lr={key:train.learning_rate,values:[0.01,0.1]}"])
    conds = conditions(validate(raw))
    assert [c.name for c in conds] == [
        "baseline lr=0.01",
        "baseline lr=0.1",
        "bn_after lr=0.01",
        "bn_after lr=0.1",
        "bn_before lr=0.01",
        "bn_before lr=0.1",
    ]
    assert [c.train.learning_rate for c in conds] == [0.01, 0.1] * 3
    assert [c.model.placement for c in conds] == ["none"] * 2 + ["after"] * 2 + ["before"] * 2
    assert conds[3].labels == {"variant": "bn_after", "lr": "lr=0.1"}
    # The lr=0.01 conditions are the placement study's own: same config, same key.
    base = {c.name: c.key for c in conditions(validate(compose()))}
    assert conds[2].key == base["bn_after"]
    assert conds[3].key != base["bn_after"]


def test_a_key_axis_on_a_nested_key(placement_raw):
    conds = expand(
        placement_raw,
        {
            "variant": {"bn_after": {"model": {"placement": "after"}}},
            "eps": {"key": "model.bn.epsilon", "values": [1e-3, 1e-5]},
        },
    )
    assert [c.name for c in conds] == ["bn_after eps=0.001", "bn_after eps=1e-05"]
    assert [c.model.bn.epsilon for c in conds] == [1e-3, 1e-5]


def test_no_axes_is_one_condition_with_the_study_config(placement_raw):
    (cond,) = expand(placement_raw, {})
    assert (cond.name, cond.labels, cond.model.placement) == ("base", {}, "none")


# --- keys ----------------------------------------------------------------------------------------


def test_run_keys_differ_per_seed_and_per_condition(placement):
    keys = [c.run_key(s) for c in placement for s in range(30)]
    assert all(HEX16.fullmatch(k) for k in keys)
    assert len(set(keys)) == len(keys)
    assert not {c.key for c in placement} & set(keys)  # a run is not its condition


def _leaves(schema, prefix: str) -> list[str]:
    """The dotted key of every leaf of a config dataclass."""
    out = []
    for f in dataclasses.fields(schema):
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            out += _leaves(type(default), f"{prefix}.{f.name}")
        else:
            out.append(f"{prefix}.{f.name}")
    return out


#: Every leaf of model/data/train: a new field is covered without editing this test.
LEAVES = [
    *_leaves(ModelConfig, "model"),
    *_leaves(DataConfig, "data"),
    *_leaves(TrainConfig, "train"),
]
#: A valid other value for the string leaves that have one.
OTHER_STRING = {"model.placement": "before", "train.engine": "keras"}


def _other(key: str, value):
    """A different value, valid for the study's conditions."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value / 2 if value else 0.5
    if isinstance(value, list | ListConfig):  # data.feature_scale, feature_shift
        return [2.0, 1.0]
    return OTHER_STRING.get(key)


@pytest.mark.parametrize("key", LEAVES)
def test_every_config_value_is_part_of_the_condition_key(placement, key):
    """At the Condition level: the identity hashes every model/data/train value."""
    cond = placement[1]
    part, rest = key.split(".", 1)
    value = OmegaConf.select(getattr(cond, part), rest)
    if isinstance(value, bool):
        new = not value
    elif isinstance(value, DictConfig):  # model.spec: a family's layer spec
        new = {**value, "extra": 1}
    elif isinstance(value, ListConfig):  # data.feature_scale, feature_shift: one a feature
        new = [*value, 1.0] if len(value) else [2.0, 1.0]
    else:
        new = f"{value}x" if isinstance(value, str) else value + 1
    changed = {p: getattr(cond, p).copy() for p in ("model", "data", "train")}
    OmegaConf.update(changed[part], rest, new)
    other = Condition(cond.name, cond.labels, **changed)
    assert other.key != cond.key
    assert other.run_key(0) != cond.run_key(0)


@pytest.mark.parametrize(
    "key", [k for k in LEAVES if k not in ("model.family", "model.spec", "data.name")]
)
def test_a_changed_study_value_changes_every_key_it_reaches(placement_raw, placement, key):
    """At the study level: an override of model/data/train reaches every condition's key,
    except a value the axis sets (model.placement: each condition sets its own)."""
    # model.family, model.spec and data.name have no other valid value for the circles MLP:
    # the Condition-level test covers them.
    # a key the study's YAML leaves out has the schema's default
    default = OmegaConf.select(OmegaConf.structured(Config), key)
    new = _other(key, OmegaConf.select(placement_raw, key, default=default))
    assert new is not None
    raw = placement_raw.copy()
    OmegaConf.update(raw, key, new, force_add=True)
    after = conditions(validate(raw))
    if key == "model.placement":
        assert [c.key for c in after] == [c.key for c in placement]
    else:
        for a, b in zip(after, placement, strict=True):
            assert a.key != b.key, f"{key}={new!r} left the key of {a.name} unchanged"
            assert a.run_key(0) != b.run_key(0)


def test_the_package_version_is_part_of_the_key(placement, monkeypatch):
    before = [c.key for c in placement]
    monkeypatch.setattr(bnstudy, "__version__", "999.0.0")
    assert all(c.key != k for c, k in zip(placement, before, strict=True))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("study.thresholds", [0.7]),
        ("study.confidence", 0.9),
        ("study.n_resamples", 500),
        ("study.chance_margin", 0.1),
        ("study.claims", []),
        ("study.comparisons", []),
        ("study.published", {}),
        ("study.title", "another"),
        ("study.name", "another"),
        ("study.seeds", [0, 1]),
        ("tracking.resume", False),
        ("tracking.uri", "sqlite:///elsewhere.db"),
        ("seed", 5),
    ],
)
def test_study_level_keys_do_not_change_run_keys(placement_raw, placement, key, value):
    raw = placement_raw.copy()
    OmegaConf.update(raw, key, value, merge=False)
    assert OmegaConf.select(validate(raw), key) == value
    after = conditions(validate(raw))
    assert [c.run_key(s) for c in after for s in (0, 1)] == [
        c.run_key(s) for c in placement for s in (0, 1)
    ]


# --- bad axes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("axes", "names"),
    [
        pytest.param(
            {"variant": {"odd": {"optimizer": {"name": "adam"}}}},
            ["study.axes.variant.odd", "model, data, train"],
            id="unknown-part",
        ),
        pytest.param(
            {"variant": {"a": "after"}}, ["study.axes.variant.a"], id="value-not-a-mapping"
        ),
        pytest.param(
            {"variant": {"mid": {"model": {"placement": "middle"}}}},
            ["study.axes (mid)", "model.placement", "'middle'"],
            id="invalid-value",
        ),
        pytest.param(
            {"variant": {"big": {"train": {"batch_size": 501}}}},
            ["study.axes (big)", "train.batch_size", "501"],
            id="out-of-range",
        ),
        pytest.param(
            {"x": {"a b": {}, "a": {}}, "y": {"c": {}, "b c": {}}},
            ["study.axes", "distinct", "a b c"],
            id="duplicate-names",
        ),
        pytest.param(
            {"lr": {"key": "train.learning_rate"}}, ["study.axes.lr", "values"], id="no-values"
        ),
        pytest.param(
            {"lr": {"key": "train.learning_rate", "values": []}},
            ["study.axes.lr", "values"],
            id="empty-values",
        ),
        pytest.param(
            {"lr": {"key": "optimizer.lr", "values": [0.1]}},
            ["study.axes.lr", "<model|data|train>"],
            id="key-outside-parts",
        ),
        pytest.param(
            {"lr": {"key": "train.learning_rate", "values": [-1.0]}},
            ["study.axes (lr=-1.0)", "train.learning_rate"],
            id="invalid-key-value",
        ),
        pytest.param({"variant": [1, 2]}, ["study.axes.variant"], id="axis-a-list"),
        pytest.param({"variant": {}}, ["study.axes.variant"], id="axis-empty"),
        pytest.param(
            {"lr": {"key": "train.lr", "values": [0.1]}},
            ["study.axes", "train.lr"],
            id="key-axis-unknown-key",
        ),
        pytest.param(
            {"variant": {"a": {"model": {"bn": {"momentm": 0.1}}}}},
            ["study.axes (a)", "model.bn.momentm"],
            id="unknown-nested-key",
        ),
        pytest.param(
            {"variant": {"a": {"model": {"hidden_units": "many"}}}},
            ["study.axes (a)", "model.hidden_units"],
            id="wrong-type",
        ),
    ],
)
def test_bad_axes_are_one_line_config_errors_naming_the_key(placement_raw, axes, names):
    with pytest.raises(ConfigError) as err:
        expand(placement_raw, axes)
    msg = str(err.value)
    assert "\n" not in msg
    for name in names:
        assert name in msg


def test_a_bad_condition_added_by_a_hydra_override():
    with pytest.raises(ConfigError, match=r"study\.axes \(mid\): model\.placement: 'middle'"):
        conditions(validate(compose(["+study.axes.variant.mid={model:{placement:middle}}"])))


# --- the Hydra app's condition -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ([], "baseline"),
        (["model.placement=after"], "bn_after"),
        (["model.placement=before"], "bn_before"),
        (["condition=bn_before", "model.placement=after"], "bn_before"),  # condition wins
        (
            ["study=bn_momentum", "model.placement=after", "model.bn.momentum=0.0"],
            "bn_after momentum=0.0",
        ),
        (["study=bn_momentum", "condition='bn_before momentum=0.0'"], "bn_before momentum=0.0"),
    ],
)
def test_app_condition_is_the_study_condition_it_equals(overrides, name):
    cfg = validate(compose(overrides))
    cond = app_condition(cfg)
    study = {c.name: c for c in conditions(cfg)}
    assert cond.name == name
    assert cond.key == study[name].key


def test_app_condition_of_a_config_no_condition_has_is_custom():
    cfg = validate(compose(["model.placement=input"]))
    cond = app_condition(cfg)
    assert re.fullmatch(r"custom-[0-9a-f]{8}", cond.name)
    assert cond.name == f"custom-{make_condition(cfg, {}, []).key[:8]}"
    assert cond.model.placement == "input"
    other = app_condition(validate(compose(["model.placement=input", "model.hidden_units=8"])))
    assert other.name.startswith("custom-") and other.name != cond.name


def test_app_condition_overrides_apply_to_the_study_conditions():
    """A non-axis override (the learning rate) changes every condition of the study alike: the
    run is still named after the condition it equals, but its key is not the default's."""
    cond = app_condition(validate(compose(["model.placement=after", "train.learning_rate=0.1"])))
    default = {c.name: c for c in conditions(validate(compose()))}
    assert cond.name == "bn_after"
    assert cond.train.learning_rate == 0.1
    assert cond.key != default["bn_after"].key


def test_app_condition_unknown_name_lists_the_conditions():
    with pytest.raises(ConfigError) as err:
        app_condition(validate(compose(["condition=bn_middle"])))
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("condition: 'bn_middle'")
    for name in ("baseline", "bn_after", "bn_before"):
        assert name in msg


# --- a new study is configuration only -----------------------------------------------------------

NEW_STUDY = "zeta_sweep"
NEW_STUDY_YAML = """\
# @package _global_
train: {epochs: 12}
study:
  name: zeta_sweep
  title: A study that no code names
  axes:
    norm:
      plainnet: {model: {placement: none}}
      inputbn: {model: {placement: input, bn: {momentum: 0.9}}}
    width: {key: model.hidden_units, values: [8, 16]}
  seeds: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
  n_resamples: 200
  comparisons:
    - axis: norm
      pairs: [[inputbn, plainnet]]
  claims:
    - id: C16
      reading: inputbn beats plainnet at width 16
      kind: superiority
      measure: test_accuracy
      a: inputbn width=16
      b: plainnet width=16
      direction: greater
    - id: C16
      reading: width-8 inputbn needs at most 5 epochs to 80%
      kind: interval
      measure: epochs_to_80
      condition: inputbn width=8
      high: 5
    - id: C17
      reading: width-8 plainnet is within a point of width-16 plainnet
      kind: equivalence
      measure: test_accuracy
      a: plainnet width=8
      b: plainnet width=16
      margin: 0.01
"""
NEW_NAMES = ("zeta_sweep", "plainnet", "inputbn")


@pytest.fixture
def new_conf(tmp_path):
    """A copy of conf/ with conf/study/zeta_sweep.yaml added (and listed in pipeline.yaml)."""
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "study" / f"{NEW_STUDY}.yaml").write_text(NEW_STUDY_YAML)
    pipeline = OmegaConf.load(conf / "pipeline.yaml")
    pipeline.studies.append(NEW_STUDY)
    OmegaConf.save(pipeline, conf / "pipeline.yaml")
    return conf


def synthetic_runs(conds, seeds, final, reach, chance=0.5, margin=0.05):
    """A per-epoch history and final evaluations, as the train stage writes them.

    Test accuracy is 0.6 until epoch ``reach(cond)``, then ``final(cond, seed)``; running and
    final train accuracy follow it; losses are 1 - accuracy.
    """
    hist, finals = [], []
    for c in conds:
        epochs = np.arange(1, c.train.epochs + 1)
        for s in seeds:
            acc = np.where(epochs >= reach(c), final(c, s), 0.6)
            h = {"loss": 1 - acc, "accuracy": acc, "val_loss": 1 - acc, "val_accuracy": acc}
            hist.append(pd.DataFrame({"condition": c.name, "seed": s, "epoch": epochs, **h}))
            fin = {"train_accuracy": float(acc[-1]), "train_loss": float(1 - acc[-1])}
            finals.append(
                {
                    "condition": c.name,
                    "seed": s,
                    "run_key": c.run_key(s),
                    **fin,
                    "diverged_epoch": divergence(h, fin, chance, margin, 0.2),
                }
            )
    return pd.concat(hist, ignore_index=True), pd.DataFrame(finals)


def test_a_new_study_needs_no_code(new_conf):
    # No source file names the study, its axes' labels or its conditions.
    for path in (CODE_ROOT / "src").rglob("*.py"):
        text = path.read_text()
        for name in NEW_NAMES:
            assert name not in text, f"{path} names {name}"

    assert NEW_STUDY in pipeline_studies(new_conf)
    raw = study_config(NEW_STUDY, config_dir=new_conf)
    assert not {"condition", "seed", "seeds"} & set(raw)
    cfg = validate(raw)
    study = cfg.study
    conds = conditions(cfg)
    assert [c.name for c in conds] == [
        "plainnet width=8",
        "plainnet width=16",
        "inputbn width=8",
        "inputbn width=16",
    ]
    assert [(c.model.placement, c.model.hidden_units, c.model.bn.momentum) for c in conds] == [
        ("none", 8, 0.99),
        ("none", 16, 0.99),
        ("input", 8, 0.9),
        ("input", 16, 0.9),
    ]
    assert all(c.train.epochs == 12 for c in conds)

    # inputbn: +0.05 test accuracy and 80% reached at epoch 3 (plainnet: epoch 9); width does
    # not matter. Seed noise is shared by the conditions (paired seeds) plus a little of its own.
    rng = np.random.default_rng(0)
    noise = {(c.name, s): 0.002 * rng.standard_normal() for c in conds for s in study.seeds}
    seed_noise = {s: 0.01 * rng.standard_normal() for s in study.seeds}

    def final(c, s):
        return 0.84 + 0.05 * (c.labels["norm"] == "inputbn") + seed_noise[s] + noise[c.name, s]

    def reach(c):
        return 3 if c.labels["norm"] == "inputbn" else 9

    history, finals = synthetic_runs(conds, list(study.seeds), final, reach)
    runs = runs_table(history, finals, list(study.thresholds), conds)
    assert list(runs.columns[:4]) == ["condition", "norm", "width", "seed"]
    assert set(runs["width"]) == {"width=8", "width=16"}
    assert not runs["diverged"].any()
    summary = summary_table(runs, study)
    assert list(summary["condition"]) == [c.name for c in conds]
    assert list(summary["epochs_to_80_median"]) == [9.0, 9.0, 3.0, 3.0]
    comparisons = comparisons_table(runs, study, conds)
    # The axis comparison within every value of the other axis, then the claims' pairs.
    assert list(dict.fromkeys(comparisons["comparison"])) == [
        "inputbn width=8 - plainnet width=8",
        "inputbn width=16 - plainnet width=16",
        "plainnet width=8 - plainnet width=16",
    ]
    claims = claims_table(runs, summary, comparisons, study)
    assert list(claims["study"]) == [NEW_STUDY] * 3
    assert list(claims["id"]) == ["C16", "C16", "C17"]
    assert list(claims["verdict"]) == ["supported", "supported", "supported"]
    assert claims["estimate"].iloc[0] == pytest.approx(0.05, abs=0.005)


def test_params_composed_from_another_conf_lists_its_studies(new_conf):
    params = OmegaConf.create(composed_text(config_dir=new_conf))
    assert list(params.studies) == pipeline_studies(new_conf)
