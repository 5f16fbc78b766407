"""Model options (use_bias, input_bn, dropout) and extra measurements (extra_eval, layer_stats).

Equivalence of the two engines for every option is in tests/test_engines.py (CASES). Here:
their configuration errors, that the options off leave today's results as committed, that the
extra measurements never change training, and that the extra metrics mean what their names
say (recomputed in numpy, float64, from the trained weights).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from bnstudy.config import ConfigError, compose, validate
from bnstudy.engines.common import EXTRA_METRICS, LAYER_METRICS, METRICS
from bnstudy.engines.vectorized import train_vectorized
from bnstudy.models import bn_layer_names, initial_weights
from bnstudy.studies import conditions

SEEDS = [0, 3]
#: Every option at once: input BN, a bias-free hidden Dense, BN after the ReLU, dropout.
OPTIONS = [
    "model.placement=after",
    "model.input_bn=true",
    "model.use_bias=false",
    "model.dropout=0.2",
]
MEASURE = ["train.extra_eval=true", "train.layer_stats=true"]


def _cfg(*overrides: str):
    return validate(compose(list(overrides)))


# --- configuration ---------------------------------------------------------------------------


def test_defaults_keep_todays_model_and_training():
    cfg = _cfg()
    assert (cfg.model.use_bias, cfg.model.input_bn, cfg.model.dropout) == (True, False, 0.0)
    assert (cfg.train.extra_eval, cfg.train.layer_stats) == (False, False)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("model.dropout=1.0", "model.dropout"),
        ("model.dropout=-0.1", "model.dropout"),
        ("model.dropout=nan", "model.dropout"),
        ("model.use_bias=maybe", "model.use_bias"),
        ("model.input_bn=sometimes", "model.input_bn"),
        ("train.extra_eval=often", "train.extra_eval"),
        ("train.layer_stats=later", "train.layer_stats"),
    ],
)
def test_bad_option_values_give_one_line_naming_the_key(override, key):
    with pytest.raises(ConfigError) as err:
        _cfg(override)
    msg = str(err.value)
    assert msg.startswith(f"{key}:") and "\n" not in msg, msg


def test_input_bn_is_refused_with_placement_input():
    with pytest.raises(ConfigError, match=r"^model\.input_bn: True is not allowed; expected false"):
        _cfg("model.placement=input", "model.input_bn=true")
    _cfg("model.placement=none", "model.input_bn=true")  # any hidden placement is fine


def test_a_study_axis_with_a_bad_option_names_the_condition_and_key():
    raw = OmegaConf.to_container(compose())
    raw["study"]["axes"] = {"dropout": {"key": "model.dropout", "values": [0.0, 1.5]}}
    with pytest.raises(ConfigError, match=r"^study\.axes \(dropout=1\.5\): model\.dropout: "):
        conditions(validate(raw))
    raw["study"]["axes"] = {"extra": {"key": "train.extra_eval", "values": [False, True]}}
    assert [c.train.extra_eval for c in conditions(validate(raw))] == [False, True]


# --- today's results -------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("condition", ["bn_after", "bn_before"])
def test_options_off_reproduce_the_committed_placement_study(condition, dataset, repo_root):
    """With every option at its default, the vectorized engine gives the committed study's
    numbers (reports/placement/runs.csv, 6 significant digits) for all 30 seeds: accuracies
    to the test point, losses to their printed digits. Bit-identity with the engine before the
    options existed was checked by hand (weights, histories and final metrics of every
    placement, both engines); this guards against later drift. Numbers from another CPU may
    differ (see README "Reproducibility")."""
    cond = next(c for c in conditions(_cfg()) if c.name == condition)
    runs = pd.read_csv(repo_root / "reports" / "placement" / "runs.csv")
    runs = runs[runs.condition == condition].sort_values("seed")
    seeds = runs.seed.tolist()
    res = train_vectorized(cond.model, cond.train, dataset, seeds)
    # accuracies are multiples of 1/500 (float32 in the engine): 1e-6 tells them apart
    np.testing.assert_allclose(res.history["val_accuracy"][:, -1], runs.test_accuracy, atol=1e-6)
    np.testing.assert_allclose(res.final["train_accuracy"], runs.train_accuracy, atol=1e-6)
    np.testing.assert_allclose(res.history["val_loss"][:, -1], runs.test_loss, rtol=2e-6)
    np.testing.assert_allclose(res.final["train_loss"], runs.train_loss, rtol=2e-6)
    np.testing.assert_allclose(res.history["loss"][:, -1], runs.fit_loss, rtol=2e-6)


# --- the extra measurements ------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(dataset):
    """One epoch of the all-options model: measured (extra_eval, layer_stats), unmeasured, and
    without dropout; BN momentum 0.9, so the m90 statistics must equal the model's own."""
    out = {}
    for name, over in {
        "measured": [*OPTIONS, *MEASURE],
        "plain": OPTIONS,
        "no_dropout": [*OPTIONS, "model.dropout=0.0"],
    }.items():
        cfg = _cfg("train.epochs=1", "model.bn.momentum=0.9", *over)
        out[name] = (cfg, train_vectorized(cfg.model, cfg.train, dataset, SEEDS))
    return out


@pytest.mark.slow
def test_extra_measurements_never_change_training(runs):
    (_, measured), (_, plain) = runs["measured"], runs["plain"]
    assert sorted(plain.history) == sorted(METRICS)
    assert sorted(measured.history) == sorted(METRICS + EXTRA_METRICS + LAYER_METRICS)
    for k in plain.weights:
        np.testing.assert_array_equal(measured.weights[k], plain.weights[k], err_msg=k)
    for m in METRICS:
        np.testing.assert_array_equal(measured.history[m], plain.history[m], err_msg=m)


@pytest.mark.slow
def test_dropout_changes_training(runs):
    """Guards the dropout equivalence test against comparing a dropout that does nothing."""
    (_, plain), (_, no_dropout) = runs["plain"], runs["no_dropout"]
    assert np.abs(plain.weights["hidden/kernel"] - no_dropout.weights["hidden/kernel"]).max() > 1e-3


@pytest.mark.slow
def test_m90_statistics_equal_the_models_own_at_momentum_0_9(runs):
    _, res = runs["measured"]
    np.testing.assert_array_equal(res.history["val_loss_m90"], res.history["val_loss"])
    np.testing.assert_array_equal(res.history["val_accuracy_m90"], res.history["val_accuracy"])
    assert not np.allclose(res.history["val_loss_pop"], res.history["val_loss"], atol=1e-4)


def _forward(w: dict, model, x: np.ndarray, stats: dict | None) -> tuple[np.ndarray, dict]:
    """float64 forward pass of one seed's MLP: (logits, taps: each BN layer's input and the
    hidden block's output under "hidden"). stats: BN name -> (mean, var); None: training mode
    (each BN uses the statistics of ``x``). Dropout is off (inference)."""
    w = {k: np.asarray(v, np.float64) for k, v in w.items()}
    taps = {}

    def bn(name, h):
        taps[name] = h
        mean, var = (h.mean(0), h.var(0)) if stats is None else stats[name]
        out = (h - mean) / np.sqrt(var + model.bn.epsilon)
        return out * w.get(f"{name}/gamma", 1.0) + w.get(f"{name}/beta", 0.0)

    h = np.asarray(x, np.float64)
    if model.input_bn:
        h = bn("input_bn", h)
    if model.placement == "input":
        h = bn("bn", h)
    h = h @ w["hidden/kernel"] + w.get("hidden/bias", 0.0)
    if model.placement == "before":
        h = bn("bn", h)
    h = np.maximum(h, 0.0)
    if model.placement == "after":
        h = bn("bn", h)
    taps["hidden"] = h
    return (h @ w["output/kernel"] + w["output/bias"])[:, 0], taps


def _moving(w: dict, model) -> dict:
    return {n: (w[f"{n}/moving_mean"], w[f"{n}/moving_variance"]) for n in bn_layer_names(model)}


def _loss_acc(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    loss = np.maximum(logits, 0) - logits * y + np.log1p(np.exp(-np.abs(logits)))
    return loss.mean(), ((logits > 0) == (y > 0.5)).mean()


def _unit_stats(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return h.mean(0), h.std(0)


@pytest.mark.slow
def test_population_and_layer_metrics_recomputed_in_numpy(runs, dataset):
    """After the epoch, for each seed: population statistics layer by layer (each BN's input
    over the training set, earlier BNs already on population statistics), the test set
    evaluated with them; the hidden output's statistics in inference and training mode; and
    its drift from the initial weights."""
    cfg, res = runs["measured"]
    model = cfg.model
    assert bn_layer_names(model) == ["input_bn", "bn"]
    for i, seed in enumerate(SEEDS):
        w = res.seed_weights(i)
        pop = _moving(w, model)
        for name in bn_layer_names(model):
            _, taps = _forward(w, model, dataset.x_train, pop)
            pop[name] = (taps[name].mean(0), taps[name].var(0))
        assert not np.allclose(pop["bn"][0], w["bn/moving_mean"], atol=1e-3)
        loss, acc = _loss_acc(_forward(w, model, dataset.x_test, pop)[0], dataset.y_test)
        got = {m: res.history[m][i, 0] for m in res.history}
        np.testing.assert_allclose(
            [got["val_loss_pop"], got["val_accuracy_pop"]], [loss, acc], atol=1e-5
        )

        mean, std = _unit_stats(_forward(w, model, dataset.x_train, _moving(w, model))[1]["hidden"])
        mean_t, std_t = _unit_stats(_forward(w, model, dataset.x_train, None)[1]["hidden"])
        w0 = initial_weights(model, seed)
        mean0, std0 = _unit_stats(
            _forward(w0, model, dataset.x_train, _moving(w0, model))[1]["hidden"]
        )
        expected = {
            "hidden_mean_infer": mean.mean(),
            "hidden_std_infer": std.mean(),
            "hidden_mean_train": mean_t.mean(),
            "hidden_std_train": std_t.mean(),
            "hidden_drift": np.mean(np.abs(mean - mean0) + np.abs(std - std0)),
        }
        for m, value in expected.items():
            np.testing.assert_allclose(got[m], value, atol=1e-5, err_msg=m)
        assert abs(got["hidden_mean_train"]) < 0.05  # BN after the ReLU, beta ~ 0: mean ~ 0
