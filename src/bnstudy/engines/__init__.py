"""Training engines: ``keras`` (one model.fit per run), ``vectorized`` (all seeds of the MLP at
once, hand-written) and ``stateless`` (all seeds of any model family at once, Keras's own model).

Both take (model config, train config, dataset, seeds, progress) and return a
:class:`~bnstudy.engines.common.TrainResult` with the same per-seed histories and weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from bnstudy.data import Dataset
    from bnstudy.engines.common import TrainResult


def train_engine(
    name: str,
    model: DictConfig,
    train: DictConfig,
    ds: Dataset,
    seeds: list[int],
    progress: Callable[[int], None] | None = None,
) -> TrainResult:
    """Dispatch to the engine called ``name`` (``train.engine``)."""
    if name == "keras":
        from bnstudy.engines.keras_fit import train_keras

        return train_keras(model, train, ds, seeds, progress)
    if name == "vectorized":
        from bnstudy.engines.vectorized import train_vectorized

        return train_vectorized(model, train, ds, seeds, progress)
    if name == "stateless":
        from bnstudy.engines.stateless import train_stateless

        return train_stateless(model, train, ds, seeds, progress)
    raise ValueError(f"train.engine: {name!r} is not one of keras, vectorized, stateless")


def train_group(
    name: str,
    runs: list[tuple[DictConfig, DictConfig, list[int]]],
    datasets: Sequence[Dataset],
    progress: Callable[[int], None] | None = None,
) -> list[TrainResult]:
    """Train a group of conditions ((model, train, seeds) each, and each its dataset; see
    ``bnstudy.studies.group_conditions``): the vectorized engine in one computation, the others
    (one condition per group) as :func:`train_engine`. One TrainResult per condition."""
    if name == "vectorized":
        from bnstudy.engines.vectorized import train_vectorized_group

        return train_vectorized_group(runs, datasets, progress)
    if len(runs) != 1:
        raise ValueError(f"train.engine: {name!r} trains one condition at a time")
    model, train, seeds = runs[0]
    return [train_engine(name, model, train, datasets[0], seeds, progress)]
