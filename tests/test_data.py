"""The dataset: the reference make_circles split, atomic save, and checks on load."""

from __future__ import annotations

import struct
import zipfile

import numpy as np
import pytest
from sklearn.datasets import make_circles

from bnstudy.atomic import write_npz
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


def test_npz_files_hold_the_arrays_and_no_zip64_fields(tmp_path):
    """write_npz's bytes depend on the arrays only: members written whole, without the zip64
    extra fields whose bytes changed between CPython 3.11 patch releases (np.savez's)."""
    arrays = {
        "x": np.arange(12, dtype=np.float32).reshape(4, 3),
        "names": np.array(["bn_after", "baseline"]),
        "seeds": np.array([0, 7], dtype=np.int64),
    }
    write_npz(tmp_path / "a.npz", arrays)
    with np.load(tmp_path / "a.npz") as f:
        assert sorted(f.files) == sorted(arrays)
        for k, a in arrays.items():
            np.testing.assert_array_equal(f[k], a)
            assert f[k].dtype == a.dtype
    data = (tmp_path / "a.npz").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.npz") as zf:
        members = zf.infolist()
    assert [(m.extra, m.date_time) for m in members] == [(b"", (1980, 1, 1, 0, 0, 0))] * 3
    # each member's local header: extra-field length (bytes 28-29) 0, where np.savez has 20
    assert [
        struct.unpack("<H", data[m.header_offset + 28 : m.header_offset + 30]) for m in members
    ] == [(0,)] * 3
