"""What every training engine shares: the batch order and the result type."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from bnstudy.metrics import EXTRA_METRICS, FINAL_METRICS, LAYER_METRICS, METRICS

__all__ = [
    "EXTRA_METRICS",
    "FINAL_METRICS",
    "LAYER_METRICS",
    "M90_MOMENTUM",
    "METRICS",
    "TrainResult",
    "batch_orders",
]

#: Momentum of the extra moving statistics behind the ``_m90`` metrics (``train.extra_eval``).
M90_MOMENTUM = 0.9


def batch_orders(seed: int, epochs: int, n: int) -> np.ndarray:
    """The order in which seed ``seed`` visits the ``n`` training rows, per epoch.

    Returns int32 of shape (epochs, n): a fresh permutation each epoch from
    ``numpy.random.default_rng(seed)``. Both engines use it, so a seed sees the same batches
    whichever engine trains it.
    """
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(n) for _ in range(epochs)]).astype(np.int32)


@dataclass
class TrainResult:
    """Per-seed outcome of training one condition.

    history: metric name -> float array (n_seeds, epochs): METRICS, then EXTRA_METRICS with
        ``train.extra_eval`` and LAYER_METRICS with ``train.layer_stats`` (absent otherwise)
    weights: ``layer/weight`` name -> float32 array (n_seeds, *weight_shape)
    final: FINAL_METRICS name -> (n_seeds,): the trained model evaluated (inference mode,
        moving BN statistics) on the training set, as the article's ``model.evaluate`` does;
        with a validation split also VALIDATION_METRICS, the same on the validation split
    epoch_end: (n_seeds, epochs) seconds from the start of training to the end of each epoch
    """

    seeds: list[int]
    history: dict[str, np.ndarray]
    weights: dict[str, np.ndarray]
    engine: str
    seconds: float
    final: dict[str, np.ndarray] = field(default_factory=dict)
    epoch_end: np.ndarray | None = None

    def seed_weights(self, i: int) -> dict[str, np.ndarray]:
        """Weights of the i-th seed, in the shapes of the Keras model."""
        return {k: v[i] for k, v in self.weights.items()}

    def parts(self, n: int) -> list[TrainResult]:
        """The seeds in at most ``n`` consecutive parts of near-equal size, each with its
        seeds' rows of every array and its share of ``seconds`` (the same seconds per run)."""
        bounds = np.linspace(0, len(self.seeds), min(n, len(self.seeds)) + 1).round().astype(int)
        out = []
        for lo, hi in itertools.pairwise(bounds):
            rows = slice(int(lo), int(hi))
            out.append(
                TrainResult(
                    seeds=self.seeds[rows],
                    history={k: a[rows] for k, a in self.history.items()},
                    weights={k: a[rows] for k, a in self.weights.items()},
                    engine=self.engine,
                    seconds=self.seconds * (hi - lo) / len(self.seeds),
                    final={k: a[rows] for k, a in self.final.items()},
                    epoch_end=None if self.epoch_end is None else self.epoch_end[rows],
                )
            )
        return out
