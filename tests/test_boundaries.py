"""Decision boundaries of a typical seed (study.boundaries): the seed choice on hand-made
accuracies, the grid against the Keras model of that seed's weights, the report's figure."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bnstudy.boundaries import grid_axes, load_boundaries, typical_seed

NAN = math.nan


@pytest.mark.parametrize(
    ("seeds", "acc", "expected"),
    [
        ([0, 1, 2, 3, 4], [0.80, 0.85, 0.90, 0.84, 0.87], 1),  # median 0.85: seed 1 exactly
        ([0, 1, 2, 3], [0.80, 0.84, 0.86, 0.90], 1),  # median 0.85: 1 and 2 tie, lowest wins
        ([7, 2, 5], [0.86, 0.84, 0.80], 2),  # median 0.84, and seeds need not be sorted
        ([3, 1, 2], [0.80, 0.90, 0.80], 2),  # the median is 0.80: seeds 3 and 2 tie -> 2
        ([0, 1, 2], [NAN, 0.70, 0.90], 1),  # diverged (NaN) never chosen nor counted: 0.80
        ([0, 1], [NAN, NAN], None),  # every seed diverged
    ],
)
def test_typical_seed_is_closest_to_the_median_ties_to_the_lowest(seeds, acc, expected):
    assert typical_seed(seeds, acc) == expected


def test_grid_covers_the_data_with_a_margin():
    xs, ys = grid_axes(np.array([[0.0, -1.0], [1.0, 1.0]]), n=11, pad=0.1)
    np.testing.assert_allclose(xs[[0, -1]], [-0.1, 1.1])
    np.testing.assert_allclose(ys[[0, -1]], [-1.2, 1.2])
    assert xs.shape == ys.shape == (11,)


@pytest.mark.slow
def test_train_stage_writes_the_typical_seeds_boundaries_and_the_report_draws_them(
    tmp_path, monkeypatch
):
    """The placement study, tiny: boundaries.npz holds each placement's typical seed (checked
    against the runs' final test accuracies) and its probabilities on the grid, which equal
    the predictions of a Keras model given that seed's weights trained again independently;
    the report section draws figures/boundaries.png."""
    from bnstudy.engines import train_engine
    from bnstudy.models import build_model, set_model_weights
    from bnstudy.pipeline import build_data, train
    from bnstudy.report import boundaries_md
    from bnstudy.results import load_results
    from bnstudy.studies import conditions
    from bnstudy.train import study_datasets
    from tests.conftest import tiny_cfg

    monkeypatch.chdir(tmp_path)
    cfg = tiny_cfg(tmp_path, "study.seeds=[0,1,2]")
    assert cfg.study.boundaries  # on in conf/study/placement.yaml
    build_data(cfg)
    train(cfg)
    b = load_boundaries(tmp_path / "results" / "placement")
    assert b is not None
    conds = conditions(cfg)
    assert list(b["conditions"]) == [c.name for c in conds]
    assert b["prob"].shape == (3, 200, 200)
    history, _ = load_results("placement", tmp_path / "results")
    last = history[history["epoch"] == 3]
    ds = study_datasets("placement", conds)[conds[0].name]
    gx, gy = np.meshgrid(b["xs"], b["ys"])
    points = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    for i, c in enumerate(conds):
        acc = last[last["condition"] == c.name].sort_values("seed")
        seed = typical_seed(acc["seed"].tolist(), acc["val_accuracy"].tolist())
        assert b["seeds"][i] == seed
        assert b["test_accuracy"][i] == pytest.approx(acc["val_accuracy"][acc.seed == seed].item())
        assert b["median"][i] == pytest.approx(np.median(acc["val_accuracy"]))
        res = train_engine(c.train.engine, c.model, c.train, ds, [seed])
        model = build_model(c.model, seed, ds.x_train.shape[1:], ds.n_classes)
        set_model_weights(model, res.seed_weights(0))
        expected = model.predict(points, batch_size=4096, verbose=0).reshape(200, 200)
        np.testing.assert_allclose(b["prob"][i], expected, rtol=0, atol=1e-5)
        assert 0.0 < (b["prob"][i] > 0.5).mean() < 1.0  # a boundary crosses the grid
    md = boundaries_md(cfg.study, tmp_path / "figs")
    png = tmp_path / "figs" / "boundaries.png"
    assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG"
    for i, c in enumerate(conds):
        assert f"| {c.name} | " in md and f" | {b['seeds'][i]} | " in md
    assert "closest to" in md and "median" in md
