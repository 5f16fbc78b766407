"""The validation split (data.n_validation): carved from the training split, stratified and
deterministic; off (0) it changes nothing; every engine evaluates the final model on it; only
it (or the training split) may select a sweep's best value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bnstudy.atomic import write_npz
from bnstudy.config import ConfigError, compose, validate
from bnstudy.data import build_dataset, dataset_file, load_dataset, save_dataset
from bnstudy.metrics import FINAL_METRICS, VALIDATION_METRICS, final_metrics
from bnstudy.paths import CODE_ROOT
from bnstudy.studies import conditions
from bnstudy.sweeps import best_cell


def data_cfg(*overrides: str):
    return validate(compose(list(overrides))).data


def _rows(x: np.ndarray) -> set[tuple]:
    return {tuple(r) for r in np.asarray(x).tolist()}


# --- the split ----------------------------------------------------------------------------


def test_split_is_stratified_disjoint_and_deterministic():
    full = build_dataset(data_cfg())
    ds = build_dataset(data_cfg("data.n_validation=100"))
    assert ds.has_validation and not full.has_validation
    assert ds.x_val.shape == (100, 2) and ds.y_val.shape == (100,)
    assert ds.x_train.shape == (400, 2)
    # Carved from the training split: train + validation = the original training rows.
    assert _rows(ds.x_train) | _rows(ds.x_val) == _rows(full.x_train)
    assert not _rows(ds.x_train) & _rows(ds.x_val)
    assert not _rows(ds.x_val) & _rows(ds.x_test) and not _rows(ds.x_train) & _rows(ds.x_test)
    np.testing.assert_array_equal(ds.x_test, full.x_test)  # the test split is untouched
    # Stratified: the validation split has the training split's class shares (to one row).
    share = np.bincount(full.y_train.astype(int)) / len(full.y_train)
    assert np.abs(np.bincount(ds.y_val.astype(int)) - 100 * share).max() <= 1
    # Deterministic: the same rows each time, from data.random_state.
    again = build_dataset(data_cfg("data.n_validation=100"))
    assert again.digest() == ds.digest()
    other = build_dataset(data_cfg("data.n_validation=100", "data.random_state=2"))
    assert other.digest() != ds.digest()


def test_split_of_a_many_class_dataset_keeps_every_class():
    ds = build_dataset(data_cfg("data=classification", "data.n_validation=400"))
    assert ds.x_val.shape == (400, 32) and ds.x_train.shape == (1600, 32)
    assert sorted(set(ds.y_val.tolist())) == list(range(10))
    counts = np.bincount(ds.y_val.astype(int))
    assert counts.min() >= 35 and counts.max() <= 45


def test_standardize_is_fitted_on_the_rows_trained_on():
    ds = build_dataset(data_cfg("data.n_validation=100", "data.standardize=true"))
    np.testing.assert_allclose(ds.x_train.mean(axis=0), 0, atol=1e-5)
    assert ds.x_val.shape == (100, 2) and np.abs(ds.x_val.mean(axis=0)).max() > 1e-4


def test_saved_and_loaded_with_the_validation_split(tmp_path):
    ds = build_dataset(data_cfg("data.n_validation=100"))
    save_dataset(ds, tmp_path / "d.npz")
    back = load_dataset(tmp_path / "d.npz")
    assert back.digest() == ds.digest()
    np.testing.assert_array_equal(back.y_val, ds.y_val)


def test_no_validation_split_leaves_files_and_identities_as_before(tmp_path):
    """n_validation 0 is the neutral value: the same bytes as a dataset of the four arrays
    written as before the option existed, the same data file name, the same run keys (those
    of the committed placement runs)."""
    ds = build_dataset(data_cfg())
    assert ds.x_val is None and ds.arrays().keys() == {"x_train", "y_train", "x_test", "y_test"}
    save_dataset(ds, tmp_path / "new.npz")
    four = {"x_train": ds.x_train, "y_train": ds.y_train, "x_test": ds.x_test, "y_test": ds.y_test}
    write_npz(tmp_path / "old.npz", four)
    assert (tmp_path / "new.npz").read_bytes() == (tmp_path / "old.npz").read_bytes()
    assert "x_val" not in np.load(tmp_path / "new.npz").files
    cfg = validate(compose(["study=placement"]))
    committed = pd.read_csv(CODE_ROOT / "reports" / "placement" / "runs.csv")
    keys = {(c.name, s): c.run_key(s) for c in conditions(cfg) for s in cfg.study.seeds}
    assert {(r.condition, r.seed): r.run_key for r in committed.itertuples()} == keys
    with_val = validate(compose(["study=placement", "data.n_validation=100"]))
    c0, c1 = conditions(cfg)[0], conditions(with_val)[0]
    assert c1.key != c0.key
    assert dataset_file("placement", c1.data) != dataset_file("placement", c0.data)


def test_final_metrics_name_the_validation_measures_only_with_a_split():
    assert final_metrics(data_cfg()) == FINAL_METRICS
    assert final_metrics(data_cfg("data.n_validation=10")) == FINAL_METRICS + VALIDATION_METRICS


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["data.n_validation=-1"], "data.n_validation"),
        (["data.n_validation=500"], "data.n_validation"),
        (["data.n_validation=490", "train.batch_size=32"], "train.batch_size"),
    ],
)
def test_bad_sizes_are_one_line_errors(overrides, key):
    with pytest.raises(ConfigError) as err:
        validate(compose(overrides))
    assert "\n" not in str(err.value) and str(err.value).startswith(f"{key}: ")


def test_a_class_left_without_rows_is_a_one_line_error():
    # One validation row cannot hold both classes of circles.
    with pytest.raises(ConfigError) as err:
        build_dataset(data_cfg("data.n_validation=1"))
    assert "\n" not in str(err.value) and str(err.value).startswith("data.n_validation: 1 ")


# --- selection on the validation split ------------------------------------------------------

LR_AXES = {
    "variant": {"a": {"model": {"placement": "after"}}, "b": {"model": {"placement": "none"}}},
    "lr": {"key": "train.learning_rate", "values": [0.01, 0.1, 1.0]},
}


def at_best(select_on: str) -> dict:
    return {
        "id": "C1",
        "reading": "at best",
        "kind": "at_best",
        "rule": "equivalence",
        "axis": "lr",
        "pair": ["a", "b"],
        "select_on": select_on,
    }


def study(claims: list[dict], n_validation: int = 100):
    return validate(
        {
            "data": {"n_validation": n_validation},
            "train": {"epochs": 6},
            "study": {"name": "synthetic", "axes": LR_AXES, "seeds": [0, 1], "claims": claims},
        }
    )


@pytest.mark.parametrize("measure", ["test_accuracy", "test_loss", "auc_test_accuracy"])
def test_select_on_refuses_test_measures(measure):
    with pytest.raises(ConfigError) as err:
        study([at_best(measure)])
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("study.claims[0] (C1).select_on: ")
    assert "never a test-split measure" in msg


def test_select_on_validation_needs_a_validation_split():
    assert study([at_best("validation_accuracy")]).data.n_validation == 100
    with pytest.raises(ConfigError) as err:
        study([at_best("validation_accuracy")], n_validation=0)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("study.claims[0] (C1).select_on: ")
    assert "data.n_validation > 0" in msg


def test_select_on_validation_needs_it_in_every_condition():
    from bnstudy.studies import check_names

    axes = {**LR_AXES, "val": {"off": {"data": {"n_validation": 0}}, "on": {}}}
    claim = at_best("validation_accuracy") | {"pair": ["a off", "b off"]}
    cfg = validate(
        {
            "data": {"n_validation": 100},
            "train": {"epochs": 6},
            "study": {"name": "s", "axes": axes, "seeds": [0], "claims": [claim]},
        }
    )
    with pytest.raises(ConfigError) as err:
        check_names(cfg.study, conditions(cfg))
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("study.claims[0] (C1).select_on: ")
    assert "in condition 'a lr=0.01 off'" in msg


def test_the_best_value_is_chosen_on_the_validation_measure():
    """Hand-made runs where train, validation and test accuracy each pick a different best
    learning rate for group a: the claim's select_on decides."""
    cfg = study([at_best("validation_accuracy")])
    means = {  # (train, validation, test) accuracy per condition
        "a lr=0.01": (0.95, 0.80, 0.84),
        "a lr=0.1": (0.90, 0.86, 0.83),
        "a lr=1.0": (0.85, 0.82, 0.88),
        "b lr=0.01": (0.90, 0.85, 0.85),
        "b lr=0.1": (0.85, 0.80, 0.80),
        "b lr=1.0": (0.80, 0.75, 0.75),
    }
    rows = []
    for c in conditions(cfg):
        for s in (0, 1):
            tr, va, te = (m + 0.001 * s for m in means[c.name])
            rows.append(
                {
                    "condition": c.name,
                    **c.labels,
                    "seed": s,
                    "train_accuracy": tr,
                    "validation_accuracy": va,
                    "test_accuracy": te,
                    "diverged": False,
                }
            )
    runs = pd.DataFrame(rows)
    axes = cfg.study.axes
    assert best_cell(runs, axes, "lr", "a", "validation_accuracy", 0.1) == "a lr=0.1"
    assert best_cell(runs, axes, "lr", "a", "train_accuracy", 0.1) == "a lr=0.01"
    assert runs.groupby("condition")["test_accuracy"].mean().idxmax() == "a lr=1.0"
    from bnstudy.claims import best_pair

    assert best_pair(cfg.study.claims[0], runs, cfg.study) == ("a lr=0.1", "b lr=0.01")


# --- the engines ------------------------------------------------------------------------------


@pytest.mark.slow
def test_engines_agree_on_the_validation_metrics():
    """keras, vectorized (MLP) and stateless evaluate the trained model on the validation
    split in inference mode: the same numbers (within float noise)."""
    from bnstudy.engines import train_engine

    cfg = validate(compose(["data.n_validation=100", "model.placement=after", "train.epochs=2"]))
    ds = build_dataset(cfg.data)
    results = {e: train_engine(e, cfg.model, cfg.train, ds, [0, 3]) for e in ENGINES}
    for res in results.values():
        assert sorted(res.final) == sorted(FINAL_METRICS + VALIDATION_METRICS)
        assert res.final["validation_accuracy"].shape == (2,)
    for e in ("vectorized", "stateless"):
        for m in VALIDATION_METRICS + FINAL_METRICS:
            np.testing.assert_allclose(
                results[e].final[m], results["keras"].final[m], atol=2e-5, err_msg=f"{e} {m}"
            )
    # The validation numbers are those of the validation rows, not a copy of the training ones.
    assert not np.allclose(
        results["keras"].final["validation_loss"], results["keras"].final["train_loss"]
    )


ENGINES = ("keras", "vectorized", "stateless")


@pytest.mark.slow
def test_stateless_family_evaluates_the_validation_split():
    """Another family (the classifier, 10 classes) on the stateless engine against keras."""
    from bnstudy.engines import train_engine

    cfg = validate(
        compose(
            [
                "model=classifier",
                "data=classification",
                "data.n_samples=600",
                "data.n_train=400",
                "data.n_validation=100",
                "model.placement=before",
                "train.engine=stateless",
                "train.epochs=1",
            ]
        )
    )
    ds = build_dataset(cfg.data)
    ref = train_engine("keras", cfg.model, cfg.train, ds, [1])
    res = train_engine("stateless", cfg.model, cfg.train, ds, [1])
    for m in VALIDATION_METRICS:
        np.testing.assert_allclose(res.final[m], ref.final[m], atol=2e-5, err_msg=m)


def test_runs_table_has_validation_columns_only_with_a_split():
    from bnstudy.results import RunRecord, runs_frame

    def record(final: dict) -> RunRecord:
        return RunRecord("c", 0, "k", "", {}, final, reused=False)

    plain = runs_frame([record({"train_loss": 0.3, "train_accuracy": 0.9})])
    assert list(plain.columns) == [
        "condition",
        "seed",
        "run_key",
        "train_loss",
        "train_accuracy",
        "diverged_epoch",
    ]
    val = {"validation_loss": 0.4, "validation_accuracy": 0.85}
    table = runs_frame([record({"train_loss": 0.3, "train_accuracy": 0.9, **val})])
    assert list(table.columns[-2:]) == ["validation_loss", "validation_accuracy"]
    assert table["validation_accuracy"].iloc[0] == 0.85


@pytest.mark.slow
def test_validation_metrics_are_logged_and_read_back_when_reused(tmp_path, monkeypatch):
    """A study with a validation split: MLflow holds final_validation_* per run, runs.csv its
    columns, and a reused run reads them back (runlog's final_metrics(cond.data))."""
    from mlflow.tracking import MlflowClient

    from bnstudy.pipeline import build_data
    from bnstudy.results import runs_frame
    from bnstudy.studies import by_name
    from bnstudy.train import train_study
    from tests.conftest import tiny_cfg

    monkeypatch.chdir(tmp_path)
    cfg = tiny_cfg(tmp_path, "data.n_validation=100")
    build_data(cfg)
    cond = by_name(conditions(cfg), "bn_after")
    (first,) = train_study(cfg, [cond], [0], "test").values()
    (again,) = train_study(cfg, [cond], [0], "test").values()
    assert not first[0].reused and again[0].reused
    assert sorted(first[0].final) == sorted(FINAL_METRICS + VALIDATION_METRICS)
    assert again[0].final == first[0].final
    logged = MlflowClient(cfg.tracking.uri).get_run(first[0].run_id).data.metrics
    for m in VALIDATION_METRICS:
        assert logged[f"final_{m}"] == first[0].final[m]
    assert {"validation_loss", "validation_accuracy"} <= set(runs_frame(again).columns)
