"""Figures whose layout depends on the data (bnstudy.plots)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from bnstudy import plots


def _curves(n_conditions: int, loss_peak: float = 0.7) -> tuple[pd.DataFrame, pd.DataFrame]:
    epochs = np.arange(1, 6)
    curves, hist = [], []
    for i in range(n_conditions):
        name = f"c{i}"
        row = {"condition": name, "epoch": epochs}
        for m, v in (("val_accuracy", 0.8), ("loss", 0.5)):
            row |= {f"{m}_mean": np.full(5, v), f"{m}_lo": np.full(5, v), f"{m}_hi": np.full(5, v)}
        curves.append(pd.DataFrame(row))
        for seed in (0, 1):
            loss = np.linspace(loss_peak if i == 0 else 0.7, 0.4, 5)
            hist.append(
                pd.DataFrame(
                    {
                        "condition": name,
                        "seed": seed,
                        "epoch": epochs,
                        "val_accuracy": np.full(5, 0.8),
                        "loss": loss,
                    }
                )
            )
    return pd.concat(curves), pd.concat(hist)


@pytest.mark.parametrize("n", [3, 27])
def test_learning_curves_legend_inside_for_few_conditions_beside_for_many(n):
    fig = plots.learning_curves_figure(*_curves(n), threshold=0.8, confidence=0.95)
    inside = [ax.get_legend() is not None for ax in fig.axes]
    assert inside == ([True, True] if n <= plots._INSIDE_LEGEND else [False, False])
    assert len(fig.legends) == (0 if n <= plots._INSIDE_LEGEND else 1)
    if fig.legends:
        assert len(fig.legends[0].get_texts()) == n
    plt.close(fig)


def test_learning_curves_switch_the_loss_to_log_scale_when_a_run_blows_up():
    for peak, scale in ((0.7, "linear"), (1e9, "log")):
        fig = plots.learning_curves_figure(*_curves(2, peak), threshold=0.8, confidence=0.95)
        assert fig.axes[1].get_yscale() == scale
        plt.close(fig)
