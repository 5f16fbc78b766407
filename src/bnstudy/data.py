"""Datasets: build from config, save, load and check; one file per distinct data config.

``data.name`` picks a builder (:data:`BUILDERS`), which returns every row of the source; the
split is the same for all: optionally shuffled with ``data.random_state`` (``data.shuffle``),
the first ``n_train`` rows train, the next ``n_test`` rows (0: all the remaining rows up to
``n_samples``) test; the test split is also the per-epoch "validation" data of Keras's
``fit`` (``val_*`` metrics), as in the reference article. With ``data.n_validation`` > 0 that
many training rows, stratified by class, become a separate validation split (``x_val``,
``y_val``) that selects (e.g. a best learning rate) and is never trained on; the test split
never selects anything. Everything comes with scikit-learn: nothing is downloaded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from bnstudy.atomic import write_npz
from bnstudy.config import ConfigError
from bnstudy.paths import DATA_DIR


@dataclass(frozen=True)
class Dataset:
    """Train, test and (optional) validation splits: x arrays (n, *input_shape) float32, y
    arrays (n,) float32 class labels 0, 1, ... Without a validation split x_val and y_val are
    None."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    @property
    def has_validation(self) -> bool:
        return self.x_val is not None and len(self.x_val) > 0

    def arrays(self) -> dict[str, np.ndarray]:
        """The splits by name, the validation split only when there is one (so a dataset
        without one is stored and hashed exactly as before it existed)."""
        out = {"x_train": self.x_train, "y_train": self.y_train}
        out |= {"x_test": self.x_test, "y_test": self.y_test}
        if self.has_validation:
            out |= {"x_val": self.x_val, "y_val": self.y_val}
        return out

    def shapes(self) -> tuple:
        """The splits' names, shapes and dtypes: datasets with equal ones can be trained side
        by side (``studies.group_conditions``)."""
        return tuple((k, a.shape, a.dtype.str) for k, a in self.arrays().items())

    @property
    def n_classes(self) -> int:
        """Number of classes: 1 + the largest label in either split (at least 2)."""
        return max(2, int(max(self.y_train.max(), self.y_test.max())) + 1)

    def chance(self) -> float:
        """Accuracy of always predicting the training split's majority class."""
        if self.n_classes == 2:
            p = float(np.mean(self.y_train))
            return max(p, 1.0 - p)
        return float(np.bincount(self.y_train.astype(int)).max() / len(self.y_train))

    def chance_loss(self) -> float:
        """Cross-entropy of predicting the training split's class prior (its entropy)."""
        if self.n_classes == 2:
            p = min(max(float(np.mean(self.y_train)), 1e-12), 1 - 1e-12)
            return float(-(p * np.log(p) + (1 - p) * np.log(1 - p)))
        q = np.bincount(self.y_train.astype(int)) / len(self.y_train)
        q = q[q > 0]
        return float(-(q * np.log(q)).sum())

    def digest(self) -> str:
        """sha256 over the arrays (bytes, shapes and dtypes): train, test, then validation if
        there is one."""
        h = hashlib.sha256()
        for a in self.arrays().values():
            h.update(str((a.shape, a.dtype.str)).encode())
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()


def dataset_file(study: str, data: DictConfig) -> Path:
    """``data/<study>/<name>-<hash of the data config>.npz``: one file per distinct dataset."""
    from bnstudy.studies import digest, part_identity

    return DATA_DIR / study / f"{data.name}-{digest(part_identity('data', data), 8)}.npz"


def _circles(data: DictConfig) -> tuple[np.ndarray, np.ndarray]:
    """``make_circles(n_samples, noise, random_state)``: (n, 2) points, label 1 inner circle."""
    from sklearn.datasets import make_circles

    return make_circles(n_samples=data.n_samples, noise=data.noise, random_state=data.random_state)


def _digit_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's ``load_digits`` (shipped with it): (1797, 8, 8) in [0, 1], labels 0-9."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images / 16.0, d.target


def _digits(data: DictConfig) -> tuple[np.ndarray, np.ndarray]:
    """8x8 digit images with one channel (n, 8, 8, 1); the label is the digit (10 classes)."""
    x, y = _digit_images()
    return x[..., None], y


def _digit_rows(data: DictConfig) -> tuple[np.ndarray, np.ndarray]:
    """Each digit image as a sequence of its 8 rows of 8 pixels (n, 8, 8); label 1 if the
    digit is odd."""
    x, y = _digit_images()
    return x, y % 2


def _classification(data: DictConfig) -> tuple[np.ndarray, np.ndarray]:
    """``make_classification(n_samples, n_features, n_informative, n_classes, random_state)``,
    scikit-learn's other defaults (2 redundant features, 2 clusters per class, 1% flipped
    labels)."""
    from sklearn.datasets import make_classification

    return make_classification(
        n_samples=data.n_samples,
        n_features=data.n_features,
        n_informative=data.n_informative,
        n_classes=data.n_classes,
        random_state=data.random_state,
    )


#: data.name -> builder(data config) -> (x, y) with every row of the source.
BUILDERS = {
    "circles": _circles,
    "digits": _digits,
    "digit_rows": _digit_rows,
    "classification": _classification,
}


def build_dataset(data: DictConfig) -> Dataset:
    """The dataset a data config describes: the builder of ``data.name``, then the split."""
    if data.name not in BUILDERS:
        raise ConfigError(
            f"data.name: {data.name!r} is not allowed; expected one of {tuple(BUILDERS)}"
        )
    x, y = BUILDERS[data.name](data)
    if len(x) < data.n_samples:
        raise ConfigError(
            f"data.n_samples: {data.n_samples} is not allowed; expected at most {len(x)} "
            f"(the rows {data.name} has)"
        )
    if data.shuffle:
        rows = np.random.default_rng(data.random_state).permutation(len(x))
        x, y = x[rows], y[rows]
    x, y = x[: data.n_samples].astype(np.float32), y[: data.n_samples].astype(np.float32)
    end = data.n_train + data.n_test if data.n_test else data.n_samples
    ds = Dataset(x[: data.n_train], y[: data.n_train], x[data.n_train : end], y[data.n_train : end])
    return prepare(split_validation(ds, data), data)


def split_validation(ds: Dataset, data: DictConfig) -> Dataset:
    """``data.n_validation`` rows of the training split as the validation split, stratified by
    class (scikit-learn's ``train_test_split`` with ``random_state=data.random_state``); the
    rest, in their original order, train. 0: ``ds`` unchanged."""
    n_val = int(data.get("n_validation", 0) or 0)  # its range: config.check_data
    if n_val == 0:
        return ds
    n = len(ds.y_train)
    from sklearn.model_selection import train_test_split

    classes, counts = np.unique(ds.y_train, return_counts=True)
    try:
        rest, val = train_test_split(
            np.arange(n), test_size=n_val, stratify=ds.y_train, random_state=data.random_state
        )
    except ValueError as exc:  # too few rows of a class to stratify
        raise ConfigError(
            f"data.n_validation: {n_val} is not allowed; expected a size that leaves every "
            f"class rows in both the training and the validation split ({exc})"
        ) from None
    for name, rows in (("validation", val), ("training", rest)):
        missing = sorted(set(classes.tolist()) - set(ds.y_train[rows].tolist()))
        if missing:
            raise ConfigError(
                f"data.n_validation: {n_val} is not allowed; expected a size that leaves every "
                f"class rows in the {name} split (none of class {missing[0]:g} of "
                f"{len(classes)} classes, smallest has {counts.min()} training rows)"
            )
    rest, val = np.sort(rest), np.sort(val)
    return Dataset(
        ds.x_train[rest], ds.y_train[rest], ds.x_test, ds.y_test, ds.x_train[val], ds.y_train[val]
    )


def make_dataset(
    n_samples: int = 1000, noise: float = 0.1, random_state: int = 1, n_train: int = 500
) -> Dataset:
    """``make_circles``; the first ``n_train`` rows train, the rest test."""
    from sklearn.datasets import make_circles

    x, y = make_circles(n_samples=n_samples, noise=noise, random_state=random_state)
    x = x.astype(np.float32)
    y = y.astype(np.float32)
    return Dataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


def prepare(ds: Dataset, data: DictConfig) -> Dataset:
    """Scale and shift features (``data.feature_scale``, ``data.feature_shift``), then, with
    ``data.standardize``, standardize them with a StandardScaler fitted on the training split."""
    n = ds.x_train.shape[1]
    scale, shift = data.get("feature_scale") or [], data.get("feature_shift") or []
    for key, values in (("feature_scale", scale), ("feature_shift", shift)):
        if len(values) not in (0, n):
            raise ConfigError(
                f"data.{key}: {list(values)} is not allowed; expected [] or {n} numbers"
            )
    if not (scale or shift or data.get("standardize", False)):
        return ds
    a = np.asarray(scale or [1.0] * n, dtype=np.float32)
    b = np.asarray(shift or [0.0] * n, dtype=np.float32)
    x_train, x_test = ds.x_train * a + b, ds.x_test * a + b
    x_val = ds.x_val * a + b if ds.has_validation else None
    if data.get("standardize", False):
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(x_train)
        x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
        x_val = scaler.transform(x_val) if x_val is not None else None
    f32 = np.float32
    return Dataset(
        x_train.astype(f32),
        ds.y_train,
        x_test.astype(f32),
        ds.y_test,
        x_val.astype(f32) if x_val is not None else None,
        ds.y_val,
    )


def save_dataset(ds: Dataset, path: str | Path) -> None:
    """Write the splits to an .npz file atomically (:func:`bnstudy.atomic.write_npz`)."""
    write_npz(path, ds.arrays())


def load_dataset(path: str | Path) -> Dataset:
    """Read and check a dataset file; a missing, truncated or misshapen file is a ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"data: {str(path)!r} does not exist; build it first (`bnstudy data <study>`)"
        )
    try:
        with np.load(path) as f:
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
            arrays |= {k: f[k] for k in ("x_val", "y_val") if k in f.files}
    except Exception as exc:  # zipfile/pickle/EOF errors all mean a broken file
        raise ConfigError(
            f"data: {str(path)!r} is not a readable dataset file "
            f"({type(exc).__name__}); rebuild it with `bnstudy data <study>`"
        ) from None
    splits = [s for s in ("train", "test", "val") if f"x_{s}" in arrays]
    for split in splits:
        x, y = arrays[f"x_{split}"], arrays.get(f"y_{split}", np.zeros(0))
        if x.ndim < 2 or y.shape != (x.shape[0],) or x.shape[0] == 0:
            raise ConfigError(
                f"data: {str(path)!r} has x_{split} {x.shape} and y_{split} "
                f"{y.shape}; expected (n, *input_shape) and (n,) with n > 0"
            )
    for other in (f"x_{s}" for s in splits[1:]):
        if arrays["x_train"].shape[1:] != arrays[other].shape[1:]:
            raise ConfigError(
                f"data: {str(path)!r} has x_train {arrays['x_train'].shape} and {other} "
                f"{arrays[other].shape}; expected the same input shape"
            )
    return Dataset(**{k: v.astype(np.float32) for k, v in arrays.items()})
