"""Composition of the real conf/, params.yaml in sync, and one-line errors for bad config."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from bnstudy.config import ConfigError, compose, validate
from bnstudy.params import check_params, composed_text
from bnstudy.studies import conditions


def test_default_config_is_the_reference_experiment():
    cfg = validate(compose())
    conds = {c.name: c.model for c in conditions(cfg)}
    assert list(conds) == ["baseline", "bn_after", "bn_before"]
    assert {n: m.placement for n, m in conds.items()} == {
        "baseline": "none",
        "bn_after": "after",
        "bn_before": "before",
    }
    bn = conds["bn_after"].bn
    assert (bn.momentum, bn.epsilon, bn.center, bn.scale) == (0.99, 0.001, True, True)
    assert conds["bn_after"].hidden_units == 50
    assert cfg.study.name == "placement"
    t = cfg.train
    assert (t.epochs, t.batch_size, t.learning_rate, t.momentum) == (100, 32, 0.01, 0.9)
    d = cfg.data
    assert (d.n_samples, d.noise, d.random_state, d.n_train) == (1000, 0.1, 1, 500)
    assert list(cfg.study.seeds) == list(range(30))


def test_params_yaml_matches_conf(repo_root):
    """params.yaml is what `dvc exp run` would compose from conf/: edit conf/, run `make params`."""
    assert (repo_root / "params.yaml").read_text() == composed_text()
    check_params(repo_root / "params.yaml")


def test_params_yaml_reads_back_as_omegaconf_reads_it(repo_root):
    """The stages read params.yaml with PyYAML's safe loader (fast); it must give exactly what
    OmegaConf.load gives, and the study list the ledger depends on."""
    from bnstudy.config import load_params
    from bnstudy.params import pipeline_studies

    path = repo_root / "params.yaml"
    fast = load_params(path)
    assert OmegaConf.to_container(fast) == OmegaConf.to_container(OmegaConf.load(path))
    assert list(fast.pipeline) == list(fast.studies) == pipeline_studies()


def test_check_params_detects_a_stale_file(tmp_path):
    stale = tmp_path / "params.yaml"
    stale.write_text(composed_text(["train.epochs=7"]))
    with pytest.raises(ConfigError, match="out of date"):
        check_params(stale)


def test_overrides_reach_the_composed_config():
    cfg = validate(compose(["condition=bn_before", "seed=3", "train.epochs=5"]))
    assert (cfg.condition, cfg.seed, cfg.train.epochs) == ("bn_before", 3, 5)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("model.placement=middle", "model.placement"),
        ("train.epochs=0", "train.epochs"),
        ("train.epochs=-3", "train.epochs"),
        ("train.batch_size=0", "train.batch_size"),
        ("train.batch_size=501", "train.batch_size"),
        ("train.learning_rate=0", "train.learning_rate"),
        ("train.learning_rate=-0.1", "train.learning_rate"),
        ("model.bn.momentum=1.5", "model.bn.momentum"),
        ("model.bn.momentum=-0.1", "model.bn.momentum"),
        ("model.bn.epsilon=0", "model.bn.epsilon"),
        ("study.confidence=1.5", "study.confidence"),
        ("study.name=Bad-Name", "study.name"),
        ("study.seeds=[]", "study.seeds"),
        ("study.seeds=[1,2,2]", "study.seeds"),
        ("seed=1.5", "seed"),
        ("seed=abc", "seed"),
        ("train.epochs=many", "train.epochs"),
        ("train.engine=pytorch", "train.engine"),
    ],
)
def test_bad_values_name_the_key_in_one_line(override, key):
    with pytest.raises(ConfigError) as err:
        validate(compose([override]))
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(key)


def test_unknown_key_is_rejected_with_its_name():
    raw = compose()
    OmegaConf.set_struct(raw, False)
    raw.train.epocs = 5
    with pytest.raises(ConfigError, match=r"^train\.epocs: unknown key"):
        validate(raw)


def test_unknown_key_override_fails_at_composition():
    with pytest.raises(ConfigError, match=r"^trian\.epochs: unknown key"):
        compose(["trian.epochs=3"])


def test_unknown_config_group_option_fails_at_composition():
    with pytest.raises(
        ConfigError, match=r"^train: option 'fast' not found; available: reference$"
    ):
        compose(["train=fast"])
