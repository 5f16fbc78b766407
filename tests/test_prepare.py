"""Badly scaled and standardized inputs (data.feature_scale, feature_shift, standardize)."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from bnstudy.config import ConfigError, compose, validate
from bnstudy.data import build_dataset, dataset_file, make_dataset


def data_cfg(*overrides: str):
    return validate(compose(list(overrides))).data


def test_neutral_options_leave_the_data_and_its_file_name_unchanged():
    data = data_cfg()
    assert build_dataset(data).digest() == make_dataset().digest()
    # The file name hashes the config without the options at their neutral value, so data
    # files (and the runs' dataset inputs) keep the names they had before the options existed.
    old = OmegaConf.create(
        {k: data[k] for k in ("name", "n_samples", "noise", "random_state", "n_train")}
    )
    assert dataset_file("s", data).name == dataset_file("s", old).name


def test_scale_and_shift_apply_per_feature():
    raw = make_dataset()
    ds = build_dataset(data_cfg("data.feature_scale=[100.0,1.0]", "data.feature_shift=[50.0,0.0]"))
    np.testing.assert_allclose(ds.x_train[:, 0], raw.x_train[:, 0] * 100 + 50, rtol=1e-6)
    np.testing.assert_array_equal(ds.x_test[:, 1], raw.x_test[:, 1])
    np.testing.assert_array_equal(ds.y_train, raw.y_train)


def test_standardizing_is_fitted_on_the_training_split_only():
    over = ["data.feature_scale=[100.0,1.0]", "data.feature_shift=[50.0,0.0]"]
    ds = build_dataset(data_cfg(*over, "data.standardize=true"))
    np.testing.assert_allclose(ds.x_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(ds.x_train.std(axis=0), 1, atol=1e-4)
    assert np.abs(ds.x_test.mean(axis=0)).max() > 1e-3  # the test split's own mean is not used
    raw = build_dataset(data_cfg(*over))
    mu, sd = raw.x_train.mean(axis=0), raw.x_train.std(axis=0)
    np.testing.assert_allclose(ds.x_test, (raw.x_test - mu) / sd, atol=1e-4)


def test_a_scale_of_the_wrong_length_is_one_clear_error():
    with pytest.raises(ConfigError, match=r"data.feature_scale: .* expected \[\] or 2 numbers"):
        build_dataset(data_cfg("data.feature_scale=[1.0,2.0,3.0]"))
