"""The two-circles dataset: build, save, load and check."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bnstudy.atomic import write_with
from bnstudy.config import ConfigError


@dataclass(frozen=True)
class Dataset:
    """Train and test splits; x arrays are (n, 2) float32, y arrays are (n,) float32."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def digest(self) -> str:
        """sha256 over the four arrays (bytes, shapes and dtypes)."""
        h = hashlib.sha256()
        for a in (self.x_train, self.y_train, self.x_test, self.y_test):
            h.update(str((a.shape, a.dtype.str)).encode())
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()


def make_dataset(
    n_samples: int = 1000, noise: float = 0.1, random_state: int = 1, n_train: int = 500
) -> Dataset:
    """``make_circles``; the first ``n_train`` rows train, the rest test."""
    from sklearn.datasets import make_circles

    x, y = make_circles(n_samples=n_samples, noise=noise, random_state=random_state)
    x = x.astype(np.float32)
    y = y.astype(np.float32)
    return Dataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


def save_dataset(ds: Dataset, path: str | Path) -> None:
    """Write the splits to an .npz file atomically."""

    def _write(tmp: Path) -> None:
        with tmp.open("wb") as f:
            np.savez(f, x_train=ds.x_train, y_train=ds.y_train, x_test=ds.x_test, y_test=ds.y_test)

    write_with(path, _write)


def load_dataset(path: str | Path) -> Dataset:
    """Read and check a dataset file; a missing, truncated or misshapen file is a ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"data.path: {str(path)!r} does not exist; run `dvc repro data` first")
    try:
        with np.load(path) as f:
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except Exception as exc:  # zipfile/pickle/EOF errors all mean a broken file
        raise ConfigError(
            f"data.path: {str(path)!r} is not a readable dataset file "
            f"({type(exc).__name__}); rebuild it with `dvc repro data`"
        ) from None
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 2 or x.shape[1] != 2 or y.shape != (x.shape[0],) or x.shape[0] == 0:
            raise ConfigError(
                f"data.path: {str(path)!r} has x_{split} {x.shape} and y_{split} "
                f"{y.shape}; expected (n, 2) and (n,) with n > 0"
            )
    return Dataset(**{k: v.astype(np.float32) for k, v in arrays.items()})
