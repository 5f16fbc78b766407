"""The dataset: the reference make_circles split, atomic save, and checks on load."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_circles

from bnstudy.config import ConfigError
from bnstudy.data import load_dataset, make_dataset, save_dataset


def test_reference_split(dataset):
    x, y = make_circles(n_samples=1000, noise=0.1, random_state=1)
    np.testing.assert_allclose(dataset.x_train, x[:500].astype(np.float32))
    np.testing.assert_array_equal(dataset.y_test, y[500:].astype(np.float32))
    assert dataset.x_train.shape == (500, 2) and dataset.y_train.shape == (500,)


def test_roundtrip_and_digest(tmp_path, dataset):
    path = tmp_path / "d" / "circles.npz"
    save_dataset(dataset, path)
    back = load_dataset(path)
    assert back.digest() == dataset.digest()
    assert [p.name for p in path.parent.iterdir()] == ["circles.npz"]  # no temp file left
    assert make_dataset(noise=0.2).digest() != dataset.digest()


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"^data: .* does not exist"):
        load_dataset(tmp_path / "nope.npz")


def test_truncated_file(tmp_path, dataset):
    path = tmp_path / "circles.npz"
    save_dataset(dataset, path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ConfigError, match="not a readable dataset file"):
        load_dataset(path)


def test_wrong_shape(tmp_path):
    path = tmp_path / "circles.npz"
    np.savez(
        path,
        x_train=np.zeros((10, 3)),
        y_train=np.zeros(10),
        x_test=np.zeros((5, 2)),
        y_test=np.zeros(5),
    )
    with pytest.raises(ConfigError, match=r"x_train \(10, 3\)"):
        load_dataset(path)
