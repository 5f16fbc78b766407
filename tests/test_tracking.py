"""MLflow tracking: real runs in a temporary SQLite store, identities, resume, failure states."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from bnstudy.config import ConfigError
from bnstudy.paths import default_tracking_uri, workspace_root
from bnstudy.studies import by_name, conditions, make_condition
from bnstudy.tracking import GROUP_TAG, KEY_TAG, Tracker, experiment_name, resolve_uri
from bnstudy.train import train_study
from tests.conftest import tiny_cfg


def _runs(cfg, role="child"):
    client = MlflowClient(resolve_uri(cfg))
    exp = client.get_experiment_by_name(experiment_name(cfg.study.name))
    return client, client.search_runs([exp.experiment_id], f"tags.`bnstudy.role` = '{role}'")


def _conds(cfg, *names):
    conds = conditions(cfg)
    return [by_name(conds, n) for n in names]


def train_runs(cfg, name, seeds, stage="test"):
    """Train (or reuse) ``seeds`` of the study's condition ``name``: one record per seed."""
    return train_study(cfg, _conds(cfg, name), seeds, stage)[name]


@pytest.mark.slow
def test_train_runs_logs_real_runs(saved_data):
    cfg = saved_data
    records = train_runs(cfg, "bn_after", [0, 1], stage="test")
    client, runs = _runs(cfg)
    assert sorted(r.info.run_id for r in runs) == sorted(r.run_id for r in records)
    (parent,) = _runs(cfg, "parent")[1]
    assert "condition" not in parent.data.tags  # outside the UI's groups of seeds
    for run in runs:
        assert run.info.status == "FINISHED"
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.tags["condition"] == "bn_after"
        assert run.data.tags["axis.variant"] == "bn_after"
        assert run.data.tags["study"] == "placement"
        assert run.data.tags["diverged"] == "false"
        assert run.data.tags["dvc.stage"] == "test"
        assert run.data.tags["git.commit"]
        assert run.data.tags["data.sha256"]
        assert run.data.params["train.epochs"] == "3"
        assert run.data.params["model.placement"] == "after"
        assert run.data.params["model.bn.momentum"] == "0.99"
        seed = int(run.data.tags["seed"])
        assert run.data.params["seed"] == str(seed)
        assert run.info.run_name == f"bn_after · s{seed:02d}"
        for metric in ("loss", "accuracy", "val_loss", "val_accuracy"):
            steps = [m.step for m in client.get_metric_history(run.info.run_id, metric)]
            assert sorted(steps) == [1, 2, 3]
        record = records[[r.seed for r in records].index(seed)]
        hist = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert [m.value for m in sorted(hist, key=lambda m: m.step)] == pytest.approx(
            record.history["val_accuracy"], abs=1e-12
        )
        # what the final model scores on the training set: one value each, named as such
        assert run.data.metrics["final_train_accuracy"] == record.final["train_accuracy"]
        assert run.data.metrics["final_train_loss"] == record.final["train_loss"]
        assert not {"train_accuracy", "train_loss"} & set(run.data.metrics)
        final = client.get_metric_history(run.info.run_id, "final_train_accuracy")
        assert [m.step for m in final] == [3]
        (inp,) = run.inputs.dataset_inputs
        assert inp.dataset.name.startswith("circles-") and inp.dataset.source_type == "code"
        stamps = [m.timestamp for m in client.get_metric_history(run.info.run_id, "loss")]
        assert len(set(stamps)) == 3, "each epoch keeps its own time"
        assert not client.list_artifacts(run.info.run_id)  # per run: params, tags, metrics
    files = [a.path for a in client.list_artifacts(parent.info.run_id)]
    assert sorted(files) == ["config.yaml", "weights"]
    weights = [a.path for a in client.list_artifacts(parent.info.run_id, "weights")]
    assert sorted(weights) == ["weights/s000.npz", "weights/s001.npz"]
    exp = client.get_experiment_by_name("bnstudy/placement")
    assert Path(exp.artifact_location[7:]) == Path(resolve_uri(cfg)[10:]).parent / "mlartifacts"


def test_runs_logged_before_the_final_prefix_are_reused_with_their_final_metrics(cfg, dataset):
    from bnstudy.metrics import METRICS
    from bnstudy.runlog import reusable

    (cond,) = _conds(cfg, "bn_after")
    tracker = Tracker.open(cfg)
    tracker.log_run(
        run_name="logged with the plain names",
        parent_id=tracker.parent(cond.key, cond.name, {}),
        params={},
        tags={KEY_TAG: cond.run_key(0), GROUP_TAG: cond.key},
        history={m: [0.5, 0.6, 0.7] for m in METRICS},
        final={"train_loss": 0.25, "train_accuracy": 0.875},
        times=None,
    )
    done, todo = reusable(cfg, cond, [0, 1], dataset)
    assert todo == [1]
    assert done[0].final == {"train_loss": 0.25, "train_accuracy": 0.875}


@pytest.mark.slow
def test_a_baseline_run_logs_no_bn_params_and_its_model_loads(saved_data):
    from bnstudy.models import model_weights
    from bnstudy.weights import load_run_model

    cfg = saved_data
    (rec,) = train_runs(cfg, "baseline", [0])
    run = MlflowClient(resolve_uri(cfg)).get_run(rec.run_id)
    assert not [k for k in run.data.params if k.startswith("model.bn")]
    model = load_run_model(rec.run_id, resolve_uri(cfg))
    assert [layer.name for layer in model.layers] == ["hidden", "output"]
    assert not np.array_equal(model_weights(model)["hidden/bias"], np.zeros(50))


@pytest.mark.slow
def test_a_diverging_run_is_tagged_and_counted_not_crashed(saved_data):
    cfg = saved_data
    cfg.train.learning_rate = 1e6
    (rec,) = train_runs(cfg, "bn_after", [0])
    assert rec.diverged and 1 <= rec.diverged_epoch <= 3
    run = MlflowClient(resolve_uri(cfg)).get_run(rec.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["diverged"] == f"epoch {int(rec.diverged_epoch)}"


@pytest.mark.slow
def test_finished_runs_are_reused_not_duplicated(saved_data):
    cfg = saved_data
    first = train_runs(cfg, "baseline", [0, 1], stage="test")
    again = train_runs(cfg, "baseline", [1, 0, 2], stage="test")
    _, runs = _runs(cfg)
    assert len(runs) == 3
    assert [r.reused for r in again] == [True, True, False]
    assert again[0].run_id == first[1].run_id
    assert again[0].history == first[1].history
    assert again[0].final == pytest.approx(first[1].final)


@pytest.mark.slow
def test_resume_false_trains_again(saved_data):
    cfg = saved_data
    train_runs(cfg, "baseline", [0], stage="test")
    cfg.tracking.resume = False
    train_runs(cfg, "baseline", [0], stage="test")
    assert len(_runs(cfg)[1]) == 2


@pytest.mark.slow
def test_a_result_splits_into_parts_that_keep_every_seed_row_and_the_seconds_per_run():
    from bnstudy.engines.common import TrainResult

    seeds = [4, 0, 7, 1, 3]
    rows = np.arange(5.0)[:, None] * np.ones((1, 3))  # seed i's rows hold i
    res = TrainResult(
        seeds, {"loss": rows}, {"w": rows[:, :2]}, "vectorized", 10.0, {"train_loss": rows[:, 0]}
    )
    res.epoch_end = rows + 0.5
    parts = res.parts(2)
    assert [p.seeds for p in parts] == [[4, 0], [7, 1, 3]]
    for p in parts:
        idx = [seeds.index(s) for s in p.seeds]
        for arr in (p.history["loss"], p.weights["w"], p.final["train_loss"], p.epoch_end - 0.5):
            assert (arr.reshape(len(idx), -1)[:, 0] == idx).all()
        assert p.seconds / len(p.seeds) == pytest.approx(res.seconds / len(seeds))
    assert [p.seeds for p in res.parts(9)] == [[s] for s in seeds]
    assert [p.seeds for p in res.parts(1)] == [seeds]


@pytest.mark.slow
def test_a_condition_logged_in_parts_has_every_run_finished_with_its_weights(
    saved_data, monkeypatch
):
    """Five seeds, logged in two parts by the two logging processes: one parent, every run
    FINISHED, every seed's weights on the parent, each record's run id in the store."""
    from bnstudy import train
    from bnstudy.engines.common import TrainResult

    monkeypatch.setattr(train, "LOG_PART_MIN", 2)
    sizes, real = [], TrainResult.parts
    monkeypatch.setattr(TrainResult, "parts", lambda r, n: sizes.append(n) or real(r, n))
    cfg = saved_data
    records = train_runs(cfg, "bn_after", [0, 1, 2, 3, 4])
    client, runs = _runs(cfg)
    (parent,) = _runs(cfg, "parent")[1]
    assert {r.info.status for r in runs} == {"FINISHED"} and len(runs) == 5
    assert sorted(r.info.run_id for r in runs) == sorted(r.run_id for r in records)
    weights = [a.path for a in client.list_artifacts(parent.info.run_id, "weights")]
    assert sorted(weights) == [f"weights/s00{s}.npz" for s in range(5)]
    hosts = {r.data.tags["mlflow.parentRunId"] for r in runs}
    assert hosts == {parent.info.run_id} and sizes == [2]


def test_train_study_logs_every_variant_in_one_call(saved_data):
    cfg = saved_data
    records = train_study(cfg, _conds(cfg, "bn_before", "baseline"), [1, 0], stage="test")
    assert list(records) == ["bn_before", "baseline"]
    assert [[r.seed for r in recs] for recs in records.values()] == [[1, 0], [1, 0]]
    runs = _runs(cfg)[1]
    by_id = {r.info.run_id: r for r in runs}
    assert len(by_id) == 4 and {r.info.status for r in runs} == {"FINISHED"}
    for variant, recs in records.items():
        for rec in recs:
            run = by_id[rec.run_id]
            assert (run.data.tags["condition"], run.data.tags["seed"]) == (variant, str(rec.seed))
    assert len(_runs(cfg, "parent")[1]) == 2


@pytest.mark.slow
def test_train_study_trains_conditions_differing_in_per_slot_values_as_one_group(
    saved_data, monkeypatch
):
    """Two conditions that differ in learning rate, SGD and BN momentum and dropout train in
    one ``train_vectorized_group`` call (a reused run left out), each logged as its own
    condition, each run equal bit for bit to its condition trained alone."""
    from bnstudy.engines import vectorized
    from bnstudy.engines.vectorized import train_vectorized
    from bnstudy.train import study_datasets

    cfg = saved_data
    parts = {
        "a": {"model": {"placement": "after", "dropout": 0.3}, "train": {"learning_rate": 0.1}},
        "b": {
            "model": {"placement": "after", "bn": {"momentum": 0.9}},
            "train": {"learning_rate": 0.03, "momentum": 0.5},
        },
    }
    conds = [make_condition(cfg, {"v": k}, [p]) for k, p in parts.items()]
    calls, real = [], vectorized.train_vectorized_group

    def spy(runs, ds, progress=None):
        calls.append([list(r[2]) for r in runs])
        return real(runs, ds, progress)

    monkeypatch.setattr(vectorized, "train_vectorized_group", spy)
    train_study(cfg, conds[:1], [0], stage="test")
    records = train_study(cfg, conds, [0, 1], stage="test")
    assert calls == [[[0]], [[1], [0, 1]]]
    assert [r.reused for r in records["a"]] == [True, False]
    ds = study_datasets(cfg.study.name, conds)["a"]
    for c in conds:
        alone = train_vectorized(c.model, c.train, ds, [0, 1])
        for i, rec in enumerate(records[c.name]):
            for m in ("loss", "val_loss", "val_accuracy"):
                # records keep float32's 7 significant digits (runlog._meaningful)
                assert rec.history[m] == [float(f"{v:.7g}") for v in alone.history[m][i]], m
    children = _runs(cfg)[1]
    assert sorted(r.data.tags["condition"] for r in children) == ["a", "a", "b", "b"]


@pytest.mark.slow
def test_a_logging_failure_stops_the_study_and_leaves_no_finished_run(saved_data, tmp_path):
    cfg = saved_data
    # A real failure in the logging process: the artifact folder is a file, so storing the
    # first condition's weights fails (before any of its runs could be FINISHED).
    (tmp_path / "mlartifacts").write_text("not a folder")
    with pytest.raises(OSError):
        train_study(cfg, _conds(cfg, "baseline", "bn_after"), [0], stage="test")
    assert _runs(cfg, "parent")[1]  # the logging process reached the store
    assert [r.info.status for r in _runs(cfg)[1]] == []


def test_a_run_left_running_is_marked_killed_when_seen(cfg):
    tracker = Tracker.open(cfg)
    cond = _conds(cfg, "baseline")[0]
    tags = {KEY_TAG: cond.run_key(0), GROUP_TAG: cond.key}
    stale = tracker.client.create_run(tracker.experiment_id, tags=tags)
    assert tracker.finished(cond.key, [cond.run_key(0)]) == {}
    assert tracker.client.get_run(stale.info.run_id).info.status == "KILLED"


def test_a_run_that_fails_while_logging_ends_failed(cfg, tmp_path, monkeypatch):
    tracker = Tracker.open(cfg)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(tracker.client, "log_batch", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        tracker.log_run(
            run_name="x",
            parent_id="p",
            params={"a": "1"},
            tags={},
            history={"loss": [1.0]},
            final={},
            times=None,
        )
    (run,) = tracker.client.search_runs([tracker.experiment_id])
    assert run.info.status == "FAILED"


def test_identity_depends_on_what_changes_the_result(cfg):
    def key(name, seed):
        return _conds(cfg, name)[0].run_key(seed)

    k = key("bn_after", 0)
    assert k == key("bn_after", 0)
    assert k != key("bn_after", 1)
    assert k != key("bn_before", 0)
    cfg.train.epochs = 4
    assert k != key("bn_after", 0)
    cfg.train.epochs = 3
    cfg.study.thresholds = [0.7]
    cfg.tracking.resume = False
    assert k == key("bn_after", 0)


def test_relative_sqlite_uri_becomes_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = tiny_cfg(tmp_path, "tracking.uri=sqlite:///rel/mlflow.db")
    assert resolve_uri(cfg) == f"sqlite:///{tmp_path / 'rel' / 'mlflow.db'}"


def test_default_store_is_the_repository_root_also_from_dvc_temp_copies(tmp_path):
    repo = tmp_path / "repo"
    tmp_exp = repo / ".dvc" / "tmp" / "exps" / "tmpabc123"
    tmp_exp.mkdir(parents=True)
    (tmp_exp / "dvc.yaml").write_text("stages: {}\n")
    assert workspace_root(tmp_exp) == repo
    assert default_tracking_uri(tmp_exp) == f"sqlite:///{repo / 'mlflow.db'}"
    (repo / "dvc.yaml").write_text("stages: {}\n")
    (repo / "src").mkdir()
    assert workspace_root(repo / "src") == repo


def test_unreachable_tracking_server_fails_fast_with_one_line(tmp_path):
    cfg = tiny_cfg(tmp_path, "tracking.uri=http://127.0.0.1:9")
    t0 = time.monotonic()
    with pytest.raises(ConfigError) as err:
        Tracker.open(cfg)
    assert time.monotonic() - t0 < 5
    assert str(err.value).startswith("tracking.uri: cannot reach")
    assert "\n" not in str(err.value)


def test_sqlite_store_in_a_missing_folder_is_rejected(tmp_path):
    cfg = tiny_cfg(tmp_path, f"tracking.uri=sqlite:///{tmp_path}/nope/mlflow.db")
    with pytest.raises(ConfigError, match="does not exist"):
        Tracker.open(cfg)
    assert not (tmp_path / "nope").exists()


def test_provenance_names_the_pipeline_state_and_the_dvc_experiment(tmp_path, monkeypatch):
    from bnstudy.provenance import provenance

    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_EXP_NAME", "lucky-dace")
    tags = provenance.__wrapped__()
    assert tags["dvc.exp_name"] == "lucky-dace"
    assert len(tags["dvc.lock.sha256"]) == 16
    monkeypatch.delenv("DVC_EXP_NAME")
    (tmp_path / "dvc.lock").unlink()
    tags = provenance.__wrapped__()
    assert "dvc.exp_name" not in tags and "dvc.lock.sha256" not in tags
