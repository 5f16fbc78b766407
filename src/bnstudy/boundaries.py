"""Decision boundaries of a typical seed per condition (``study.boundaries``).

For each condition the train stage picks its **typical seed**: the seed whose final test
accuracy is closest to the condition's median over the seeds that did not diverge (ties: the
lowest seed). Its trained model (rebuilt from the weights stored on the condition's MLflow
parent run, :func:`bnstudy.weights.load_run_model`: the same path for runs trained now and
runs reused) is evaluated in inference mode on a regular grid over the data's range, and the
probabilities are written to ``results/<study>/boundaries.npz``; the report draws them.
Only for two input features and two classes (a sigmoid output).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from bnstudy.atomic import write_npz
from bnstudy.config import ConfigError

#: Points per side of the grid.
GRID = 200
#: The grid extends this share of the data's range beyond it on every side.
PAD = 0.1
FILE = "boundaries.npz"


def typical_seed(seeds: list[int], accuracies: list[float]) -> int | None:
    """The seed whose accuracy is closest to the median of the finite ``accuracies`` (NaN:
    diverged, never chosen); ties (to 1e-9) go to the lowest seed. None when none is finite."""
    acc = np.asarray(accuracies, dtype=float)
    ok = np.isfinite(acc)
    if not ok.any():
        return None
    # Rounded so that float noise does not break a tie (0.9 - 0.8 vs 0.8 - 0.7).
    distance = np.round(np.abs(acc - np.median(acc[ok])), 9)
    candidates = [(d, s) for d, s, good in zip(distance, seeds, ok, strict=True) if good]
    return int(min(candidates)[1])


def grid_axes(x: np.ndarray, n: int = GRID, pad: float = PAD) -> tuple[np.ndarray, np.ndarray]:
    """The grid's coordinates over the range of the points ``x`` (m, 2), widened by ``pad``
    of the range on each side: (n,) along the first feature, (n,) along the second."""
    lo, hi = x.min(axis=0), x.max(axis=0)
    margin = pad * (hi - lo)
    lo, hi = lo - margin, hi + margin
    return np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n)


def grid_probabilities(model, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """The model's probability of class 1 at every grid point, in inference mode (BN with its
    moving statistics): (len(ys), len(xs)), row i at ys[i], column j at xs[j]."""
    gx, gy = np.meshgrid(xs, ys)
    points = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    prob = np.asarray(model(points, training=False), dtype=np.float64)
    return prob.reshape(len(ys), len(xs))


def boundaries(
    records: dict[str, list],
    datasets: dict[str, object],
    load_model: Callable[[str], object],
    n: int = GRID,
) -> dict[str, np.ndarray]:
    """Every condition's typical seed and its probabilities on the grid.

    records: condition -> RunRecords (one per seed); datasets: condition -> Dataset;
    load_model: run id -> the run's trained Keras model. Returns arrays: conditions (C,),
    seeds (C,), test_accuracy (C,), median (C,), xs (n,), ys (n,), prob (C, n, n), and the
    first condition's x_test (m, 2) and y_test (m,). A condition whose seeds all diverged has
    seed -1 and NaN probabilities.
    """
    names = list(records)
    first = datasets[names[0]]
    if first.x_train.shape[1:] != (2,) or first.n_classes != 2:
        raise ConfigError(
            "study.boundaries: true is not allowed; expected false for data with input shape "
            f"{first.x_train.shape[1:]} and {first.n_classes} classes (boundaries need 2 "
            "features and 2 classes)"
        )
    every = [datasets[c] for c in names]
    x_all = np.concatenate([a for d in every for a in (d.x_train, d.x_test)])
    xs, ys = grid_axes(x_all, n)
    out = {"seeds": [], "test_accuracy": [], "median": [], "prob": []}
    for name in names:
        recs = records[name]
        acc = [r.history["val_accuracy"][-1] if not r.diverged else np.nan for r in recs]
        seed = typical_seed([r.seed for r in recs], acc)
        finite = [a for a in acc if np.isfinite(a)]
        out["median"].append(float(np.median(finite)) if finite else np.nan)
        if seed is None:
            out["seeds"].append(-1)
            out["test_accuracy"].append(np.nan)
            out["prob"].append(np.full((n, n), np.nan))
            continue
        rec = next(r for r in recs if r.seed == seed)
        out["seeds"].append(seed)
        out["test_accuracy"].append(float(rec.history["val_accuracy"][-1]))
        out["prob"].append(grid_probabilities(load_model(rec.run_id), xs, ys))
    return {
        "conditions": np.array(names),
        "seeds": np.array(out["seeds"], dtype=np.int64),
        "test_accuracy": np.array(out["test_accuracy"]),
        "median": np.array(out["median"]),
        "xs": xs,
        "ys": ys,
        "prob": np.stack(out["prob"]),
        "x_test": first.x_test,
        "y_test": first.y_test,
    }


def write_boundaries(arrays: dict[str, np.ndarray], folder: Path) -> Path:
    """Write ``arrays`` (:func:`boundaries`) to ``folder/boundaries.npz`` atomically."""
    path = Path(folder) / FILE
    write_npz(path, arrays)
    return path


def load_boundaries(folder: Path) -> dict[str, np.ndarray] | None:
    """The arrays of ``folder/boundaries.npz``, or None when there is no such file."""
    path = Path(folder) / FILE
    if not path.is_file():
        return None
    with np.load(path) as f:
        return {k: f[k] for k in f.files}
