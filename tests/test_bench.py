"""The benchmark runs end to end at tiny sizes and writes its JSON and markdown reports."""

from __future__ import annotations

import json

import pytest

from bnstudy import bench


def test_quick_defaults_and_explicit_values():
    a = bench.parse_args(["--quick", "--seeds", "4"])
    assert (a.seeds, a.epochs, a.repeats) == (4, 2, 1)
    assert not a.only_equivalence and a.study_repeats == 0 and a.scaling
    full = bench.parse_args([])
    assert (full.seeds, full.epochs, full.repeats, full.study_repeats) == (1, 100, 3, 3)
    assert full.scale_seeds == [5, 30, 100, 300] and full.variants == ["bn_after"]
    assert full.scale_conditions == ["baseline", "bn_after", "bn_before"]
    assert (full.grid_repeats, a.grid_repeats) == (2, 1) and not full.only_grid
    assert full.families == ["cnn", "lstm", "classifier"] and a.families == ["classifier"]
    assert bench.parse_args(["--families", ""]).families == []
    fam = bench.parse_args(["--only-family-studies", "--family-studies", "classifier"])
    assert fam.only_family_studies and fam.family_studies == ["classifier"]
    assert bench.one_run_cmd("bn_after", 0, 0, "cnn")[-2:] == ["--study", "cnn"]


@pytest.mark.slow
def test_quick_benchmark_writes_reports(tmp_path):
    """Three fresh processes (one per way): 1 variant x 1 seed x 2 epochs, 1 repetition; the
    scaling at 2 seeds; the classifier's family row."""
    argv = ["--quick", "--variants", "bn_after", "--seeds", "1", "--scale-seeds", "2"]
    bench.main([*argv, "--out", str(tmp_path)])
    res = json.loads((tmp_path / "benchmark.json").read_text())
    for key in ("command", "settings", "machine", "runs", "ways", "ratios", "targets"):
        assert key in res
    assert res["runs"] == 1 and res["equivalence"] is None and res["study"] is None
    assert set(res["ways"]) == {"a_process_per_run", "b_keras", "c_vectorized"}
    for way in res["ways"].values():
        assert len(way["repetitions"]) == 1
        assert way["seconds_per_run"]["median"] > 0 and way["peak_rss_bytes"] > 0
    assert res["ratios"]["a_over_b"] > 0 and res["ratios"]["a_over_c"] > 0
    assert res["machine"]["cpu_count"] > 0 and "keras" in res["machine"]["versions"]
    assert set(res["targets"]) == {
        "speedup_a_over_c",
        "speedup_a_over_c_at_30_seeds",
        "study_seconds",
        "study_in_article_runs",
        "study_peak_rss_bytes",
        "runs_900_seconds_in_article_runs",
        "runs_900_store_bytes",
        "runs_900_peak_rss_bytes",
        "bench_seconds",
    }
    assert res["targets"]["bench_seconds"]["value"] == res["seconds_total"]
    (point,) = res["scaling"]["points"]
    assert (point["seeds"], point["runs"]) == (2, 2) and point["store_bytes"] > 0
    assert res["targets"]["speedup_a_over_c_at_30_seeds"]["pass"] is None  # no 30-seed point
    assert res["targets"]["study_seconds"]["pass"] is None
    md = (tmp_path / "benchmark.md").read_text()
    assert "(a)/(b) =" in md and "(a)/(c) =" in md and "## Targets" in md
    assert "## Scaling in seeds: training and logging" in md
    # --quick: the classifier's family row, 1 epoch, model.fit on 1 seed vs stateless on 2
    row = res["families"]["classifier"]
    assert (row["fit_seeds"], row["stateless_seeds"], row["epochs"]) == (1, 2, 1)
    assert row["fit_seconds_per_run"] > 0 and row["stateless_seconds_per_run"] > 0
    assert "## Families: model.fit run after run vs the stateless engine" in md
    # every step timed, in order: (a), (b), (c), scaling, the family row
    steps = [x["step"] for x in res["steps"]]
    assert steps[0].startswith("(a) rep 1") and steps[1].startswith("(b) 1 rep(s)")
    assert steps[2].startswith("(c)") and steps[3].startswith("scaling")
    assert steps[4] == "classifier: keras fit, stateless" and len(steps) == 5
    assert all(x["seconds"] > 0 for x in res["steps"]) and "## Where the time goes" in md
    assert "grid" not in res and "make bench-grid" in md


@pytest.mark.slow
def test_grid_benchmark_writes_its_report(tmp_path):
    """--only-grid --quick: the learning_rate grid (27 conditions x 2 seeds x 2 epochs), once
    each way."""
    bench.main(["--only-grid", "--quick", "--out", str(tmp_path)])
    grid = json.loads((tmp_path / "benchmark_grid.json").read_text())["grid"]
    assert grid["per"]["repetitions"][0]["calls"] == 27
    assert grid["grouped"]["repetitions"][0]["calls"] == 3  # one group per placement
    assert grid["grouped"]["repetitions"][0]["runs"] == 54 and grid["per_over_grouped"] > 0
    md = (tmp_path / "benchmark_grid.md").read_text()
    assert "## learning_rate grid: per-condition vs grouped, training only" in md


@pytest.mark.slow
def test_equivalence_benchmark_writes_its_report(tmp_path):
    argv = ["--only-equivalence", "--equivalence-variants", "bn_before"]
    bench.main([*argv, "--equivalence-seeds", "2", "--epochs", "2", "--out", str(tmp_path)])
    res = json.loads((tmp_path / "equivalence.json").read_text())
    eq = res["equivalence"]["bn_before"]
    assert eq["seeds"] == 2 and eq["max_abs_diff"] < 1e-6
    assert "keras mean" in (tmp_path / "equivalence.md").read_text()
