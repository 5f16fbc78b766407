"""Model families and datasets as configuration, and the stateless engine equal to Keras fit.

The families' equivalence tests train the REAL conf/model/<family>.yaml at reduced width on
real datasets cut small: a few steps, a partial last batch, both engines.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from bnstudy.config import DATASETS, ConfigError, compose, validate
from bnstudy.data import BUILDERS, build_dataset
from bnstudy.families import FAMILIES, family
from bnstudy.paths import CONF_DIR

#: family -> (its dataset, spec overrides that shrink it)
SMALL = {
    "cnn": ("digits", ["model.spec.filters=4"]),
    "lstm": ("digit_rows", ["model.spec.units=4"]),
    "classifier": ("classification", ["model.spec.units=8"]),
}
#: 40 training rows at batch 16: two full batches and a partial one of 8 each epoch.
TINY_TRAIN = ["data.n_train=40", "data.n_test=60", "train.batch_size=16", "train.epochs=2"]


def family_cfg(name: str, placement: str, *overrides: str, engine: str = "keras"):
    data, spec = SMALL[name]
    return validate(
        compose(
            [
                f"model={name}",
                f"data={data}",
                f"model.placement={placement}",
                f"train.engine={engine}",
                *spec,
                *overrides,
            ]
        )
    )


def test_every_dataset_name_has_a_builder():
    assert set(DATASETS) == set(BUILDERS)


@pytest.mark.parametrize(
    ("name", "shape", "classes"),
    [("digits", (8, 8, 1), 10), ("digit_rows", (8, 8), 2), ("classification", (32,), 10)],
)
def test_datasets_from_config(name, shape, classes):
    cfg = validate(compose([f"data={name}", "data.n_train=100", "data.n_test=50"]))
    ds = build_dataset(cfg.data)
    assert ds.x_train.shape == (100, *shape) and ds.x_test.shape == (50, *shape)
    assert ds.n_classes == classes and ds.x_train.dtype == np.float32
    assert 0 < ds.chance() < 1 and ds.chance_loss() > 0
    again = build_dataset(cfg.data)
    assert again.digest() == ds.digest()
    other = validate(compose([f"data={name}", "data.n_train=100", "data.random_state=7"]))
    assert build_dataset(other.data).digest() != ds.digest()


def test_digit_rows_are_the_digits_rows_labelled_odd():
    digits = build_dataset(validate(compose(["data=digits"])).data)
    rows = build_dataset(validate(compose(["data=digit_rows"])).data)
    np.testing.assert_array_equal(digits.x_train[..., 0], rows.x_train)
    np.testing.assert_array_equal(digits.y_train % 2, rows.y_train)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["model=cnn", "model.family=resnet"], "model.family"),
        (["model=lstm", "model.placement=before"], "model.placement"),
        (["model=cnn", "+model.spec.strides=2"], "model.spec"),
        (["model=classifier", "+model.dropout=0.5"], "model.dropout"),
        (["model=cnn", "data=digits"], "train.engine"),  # the MLP's vectorized engine
        (["data=digits", "data.n_train=2000"], "data.n_train"),
        (["data=digits", "data.n_samples=5000"], "data.n_samples"),
        (["data=classification", "data.n_classes=1"], "data.n_classes"),
        (["model.placement=after", "data.n_train=33", "data.n_samples=100"], "train.batch_size"),
    ],
)
def test_bad_family_or_data_config_is_one_line_naming_the_key(overrides, key):
    with pytest.raises(ConfigError) as err:
        cfg = validate(compose(overrides))
        build_dataset(cfg.data)
    msg = str(err.value)
    assert "\n" not in msg and key in msg and ("expected" in msg or "allowed" in msg)


def test_a_last_batch_of_one_is_refused_only_with_bn():
    ok = ["data.n_train=33", "data.n_samples=100", "model.placement=none"]
    assert validate(compose(ok)).data.n_train == 33
    with pytest.raises(ConfigError, match="last batch of one"):
        validate(compose([*ok[:2], "model.placement=before"]))


def _train_both(cfg, seeds=(0, 3)):
    from bnstudy.engines import train_engine

    ds = build_dataset(cfg.data)
    return [train_engine(e, cfg.model, cfg.train, ds, list(seeds)) for e in ("keras", "stateless")]


def _assert_equal(keras_run, stateless_run, tol=1e-5):
    assert sorted(keras_run.weights) == sorted(stateless_run.weights)
    for name, w in keras_run.weights.items():
        np.testing.assert_allclose(stateless_run.weights[name], w, atol=tol, err_msg=name)
    for name, h in keras_run.history.items():
        np.testing.assert_allclose(stateless_run.history[name], h, atol=tol, err_msg=name)
    for name, v in keras_run.final.items():
        np.testing.assert_allclose(stateless_run.final[name], v, atol=tol, err_msg=name)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "placement"),
    [("cnn", "after"), ("lstm", "after"), ("classifier", "before")],
)
def test_stateless_engine_equals_keras_fit(name, placement):
    """Same weights (every BN moving statistic included), per-epoch metrics and final
    evaluation after 2 epochs of 3 steps (the last one partial), for two seeds."""
    keras_run, stateless_run = _train_both(family_cfg(name, placement, *TINY_TRAIN))
    assert any(k.startswith("bn/") for k in keras_run.weights)
    _assert_equal(keras_run, stateless_run)
    # the runs did train: the weights moved away from the initial ones
    assert not np.allclose(keras_run.history["loss"][:, 0], keras_run.history["loss"][:, 1])


@pytest.mark.slow
def test_a_family_is_a_yaml_and_one_builder(tmp_path):
    """A family that exists only in this test: registered with one function, declared by one
    YAML in a copy of conf/, composed, checked, and trained equally by both engines."""

    @family("tiny_test", placements=("none", "after", "before"))
    def tiny_test(body, *, units):
        return body.slot(
            lambda act: body.layers.Dense(units, activation=act, name="hidden"), "tanh"
        )

    try:
        conf = tmp_path / "conf"
        shutil.copytree(CONF_DIR, conf)
        (conf / "model" / "tiny_test.yaml").write_text(
            "family: tiny_test\nplacement: before\nspec: {units: 3}\n"
            "bn: {momentum: 0.9, epsilon: 0.001, center: true, scale: false}\n"
        )
        over = ["model=tiny_test", "data=classification", "train.engine=keras", *TINY_TRAIN]
        cfg = validate(compose(over, config_dir=conf))
        with pytest.raises(ConfigError, match=r"model\.spec"):
            validate(compose([*over, "+model.spec.depth=2"], config_dir=conf))
        keras_run, stateless_run = _train_both(cfg)
        assert set(keras_run.weights) == {
            "hidden/kernel", "hidden/bias", "bn/beta", "bn/moving_mean", "bn/moving_variance",
            "output/kernel", "output/bias",
        }  # fmt: skip
        assert keras_run.weights["output/kernel"].shape == (2, 3, 10)
        _assert_equal(keras_run, stateless_run)
    finally:
        del FAMILIES["tiny_test"]
