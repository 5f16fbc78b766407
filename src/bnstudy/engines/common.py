"""What every training engine shares: the batch order and the result type."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Per-epoch metrics, as Keras ``fit`` names them: train (running mean over the epoch's
#: batches, BN in training mode) and validation = test split (inference mode).
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")
#: After training: the model evaluated on the training set (inference mode).
FINAL_METRICS = ("train_loss", "train_accuracy")


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
    """Per-seed outcome of training one variant.

    history: metric name (see METRICS) -> float array (n_seeds, epochs)
    weights: ``layer/weight`` name -> float32 array (n_seeds, *weight_shape)
    final: FINAL_METRICS name -> (n_seeds,): the trained model evaluated (inference mode,
        moving BN statistics) on the training set, as the article's ``model.evaluate`` does
    """

    seeds: list[int]
    history: dict[str, np.ndarray]
    weights: dict[str, np.ndarray]
    engine: str
    seconds: float
    final: dict[str, np.ndarray] = field(default_factory=dict)

    def seed_weights(self, i: int) -> dict[str, np.ndarray]:
        """Weights of the i-th seed, in the shapes of the Keras model."""
        return {k: v[i] for k, v in self.weights.items()}
