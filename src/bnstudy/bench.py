"""Benchmark of the training engines: ``python -m bnstudy.bench`` (``make bench``).

The same runs trained three ways: (a) one fresh Python process per run, as the article's script
does; (b) ``train_keras`` for every run in one process; (c) ``train_vectorized``, all seeds of a
condition at once. Then the scaling of the whole training path in seeds (train and MLflow
logging into a fresh store, ``train_study``), each family's ``model.fit`` against its stateless
engine, and the placement study (``dvc repro`` in a fresh copy of the repository). Every
measurement runs in a fresh subprocess, whose wall time and peak memory are recorded. Writes
``<out>/benchmark.json`` and ``<out>/benchmark.md``.
``--only-equivalence`` (``make bench-equivalence``) compares the two engines' final test
accuracies over 30 seeds instead, into ``<out>/equivalence.{json,md}``; ``--only-grid``
(``make bench-grid``) times the learning_rate study's grid trained condition by condition vs
in groups (``train_vectorized_group``, training only), into ``<out>/benchmark_grid.{json,md}``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from bnstudy.atomic import write_text
from bnstudy.paths import CODE_ROOT, REPORTS_DIR

TARGET_SPEEDUP, TARGET_STUDY_S, TARGET_RSS = 50.0, 60.0, 2e9  # (a)/(c), dvc repro s, bytes
TARGET_BENCH_S = 600.0  # `make bench` itself
TARGET_FAMILY_SPEEDUP = 5.0  # a family study's clean rebuild vs one fit process per run
PACKAGES = "tensorflow tensorflow-cpu keras numpy scipy scikit-learn hydra-core mlflow dvc psutil"
FULL = {"seeds": 1, "epochs": 100, "repeats": 3, "scale_seeds": "5,30,100,300"}
FULL |= {"scaling": True, "equivalence_seeds": 30, "study_repeats": 3}
FULL |= {"families": "cnn,lstm,classifier", "family_epochs": 10}
FULL |= {"scale_conditions": "baseline,bn_after,bn_before", "grid_repeats": 2}
QUICK = {"seeds": 2, "epochs": 2, "repeats": 1, "scale_seeds": "2,3"}
QUICK |= {"scaling": True, "equivalence_seeds": 2, "study_repeats": 0}
QUICK |= {"families": "classifier", "family_epochs": 1, "scale_conditions": "bn_after"}
QUICK |= {"grid_repeats": 1}
GRID_STUDY = "learning_rate"  # the grid of the per-condition vs grouped rows
STUDY_SEEDS = 30  # seeds per variant in the default study
QUICK_STUDY = ["train.epochs=2", "study.seeds=[0,1]", "study.n_resamples=200"]
Step = Callable[..., Any]  # step(description, fn, *args) -> fn(*args), advancing the progress bar


def _print_step(desc: str, fn: Callable, *args: Any) -> Any:
    """The Step of the single-part targets (equivalence, families, grid): say, then run."""
    print(desc, file=sys.stderr, flush=True)
    return fn(*args)


def train_jobs(engine: str, jobs: list[dict], warmup: bool) -> list[dict]:
    """Worker side: train each job {variant, seeds, epochs (0: the study's own), xla, study
    (default: the placement study), engine (default: ``engine``)} and time it. The import, the
    data and (``warmup``) a first 1-seed, 1-epoch run per engine that pays TF's one-off
    start-up (runtime, XLA compiler) stay out of the timings; each job still traces its own
    tf.function."""
    import tensorflow  # noqa: F401  (the one-off import stays out of the timings)

    from bnstudy.config import compose, validate
    from bnstudy.data import build_dataset
    from bnstudy.engines import train_engine
    from bnstudy.studies import conditions

    first_of: dict[str, dict] = {}  # the first job of each engine, for its warm-up
    for job in jobs if warmup else []:
        first_of.setdefault(job.get("engine", engine), job)
    first = [j | {"seeds": j["seeds"][:1], "epochs": 1} for j in first_of.values()]
    out = []
    for job in [*first, *jobs]:
        xla = str(job.get("xla", False)).lower()
        over = [f"train.xla={xla}"] + ([f"train.epochs={job['epochs']}"] if job["epochs"] else [])
        cfg = validate(compose([f"study={job.get('study', 'placement')}", *over]))
        cond = {c.name: c for c in conditions(cfg)}[job["variant"]]
        ds = build_dataset(cond.data)
        start = time.perf_counter()
        res = train_engine(job.get("engine", engine), cond.model, cond.train, ds, job["seeds"])
        seconds = time.perf_counter() - start
        out.append({**job, "seconds": seconds, "test_accuracy": res.history["val_accuracy"][:, -1]})
    return out[len(first) :]


def grid_jobs(jobs: list[dict]) -> list[dict]:
    """Worker side: for each job {mode: per | grouped, seeds, epochs (0: the study's own)}, the
    GRID_STUDY's conditions trained with the vectorized engine, no MLflow: ``per`` one
    ``train_vectorized`` per condition, ``grouped`` one ``train_vectorized_group`` per group of
    ``studies.group_conditions``. An untimed 1-seed, 1-epoch run first pays TF's start-up."""
    import tensorflow  # noqa: F401  (the one-off import stays out of the timings)

    from bnstudy.config import compose, validate
    from bnstudy.data import build_dataset
    from bnstudy.engines.vectorized import train_vectorized, train_vectorized_group
    from bnstudy.studies import conditions, group_conditions

    out = []
    for job in jobs:
        over = [f"train.epochs={job['epochs']}"] if job["epochs"] else []
        conds = conditions(validate(compose([f"study={GRID_STUDY}", *over])))
        seeds, ds = list(range(job["seeds"])), build_dataset(conds[0].data)
        warm = conditions(validate(compose([f"study={GRID_STUDY}", "train.epochs=1"])))[0]
        train_vectorized(warm.model, warm.train, ds, [0])
        start = time.perf_counter()
        if job["mode"] == "per":
            for c in conds:
                train_vectorized(c.model, c.train, ds, seeds)
            n_groups = len(conds)
        else:
            groups = group_conditions(conds, {c.name: len(seeds) for c in conds})
            for g in groups:
                train_vectorized_group([(c.model, c.train, seeds) for c in g], ds)
            n_groups = len(groups)
        seconds = time.perf_counter() - start
        epochs = conds[0].train.epochs
        out.append({**job, "epochs": epochs, "seconds": seconds, "calls": n_groups})
        out[-1] |= {"conditions": len(conds), "runs": len(conds) * len(seeds)}
    return out


def bench_grid(repeats: int, seeds: int, epochs: int, step: Step) -> dict:
    """GRID_STUDY's conditions x ``seeds``, per condition vs grouped, training only, each in a
    fresh process, interleaved ``repeats`` times: seconds (median, min, max), peak RSS."""
    reps: dict[str, list[dict]] = {"per": [], "grouped": []}
    for r in range(repeats):
        for mode in reps:
            job = [{"mode": mode, "seeds": seeds, "epochs": epochs}]
            res, m = step(f"grid rep {r + 1}: {mode}", worker, "grid", job)
            reps[mode].append(res[0] | {"peak_rss_bytes": m["peak_rss_bytes"]})
    out = {
        mode: {"repetitions": v, "seconds": spread([x["seconds"] for x in v])}
        | {"peak_rss_bytes": max(x["peak_rss_bytes"] for x in v)}
        for mode, v in reps.items()
    }
    ratio = out["per"]["seconds"]["median"] / out["grouped"]["seconds"]["median"]
    return out | {"per_over_grouped": ratio}


def run_measured(cmd: list[str], cwd: Path | None = None) -> dict:
    """Run ``cmd`` (venv bin first on PATH, no MLFLOW_TRACKING_URI): wall seconds, stdout and
    peak RSS, the larger of the largest process's ru_maxrss (wait4, waited-for descendants
    included) and the process tree's summed RSS (psutil, sampled every 0.1 s)."""
    import psutil

    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)
        tree, ps = 0, psutil.Process(proc.pid)
        while not (done := os.wait4(proc.pid, os.WNOHANG))[0]:
            with contextlib.suppress(psutil.Error):
                tree = max(tree, sum(p.memory_info().rss for p in [ps, *ps.children(True)]))
            time.sleep(0.1)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(done[1])
        out.seek(0), err.seek(0)
        if proc.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.read()[-3000:]}")
        peak = max(done[2].ru_maxrss * 1024, tree)  # ru_maxrss is in KiB on Linux
        return {"seconds": seconds, "peak_rss_bytes": peak, "stdout": out.read()}


def worker_cmd(engine: str, jobs: list[dict]) -> list[str]:
    """The command of a fresh worker process (engine keras, vectorized, or pipeline)."""
    return [sys.executable, "-m", "bnstudy.bench", "--worker", engine, json.dumps(jobs)]


def worker(engine: str, jobs: list[dict]) -> tuple[list[dict], dict]:
    """Run :func:`train_jobs` in a fresh process; (its per-job results, its measurement)."""
    m = run_measured(worker_cmd(engine, jobs))
    return json.loads(m.pop("stdout").strip().splitlines()[-1]), m


def spread(values: list[float]) -> dict:
    """Median, min and max of ``values``."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def bench_ways(variants: list[str], seeds: int, epochs: int, repeats: int, step: Step) -> dict:
    """Ways (a), (b), (c) on the same runs, ``repeats`` times each: (a) a fresh process per
    run and repetition; (b) and (c) one fresh process each, its repetitions in turn after one
    untimed warm-up (the way itself is "every run in one process")."""
    n_runs = len(variants) * seeds
    jobs = [{"variant": v, "seeds": list(range(seeds)), "epochs": epochs} for v in variants]
    reps: dict[str, list[dict]] = {"a_process_per_run": [], "b_keras": [], "c_vectorized": []}
    for r in range(repeats):
        runs = [
            step(f"(a) rep {r + 1}: {v} seed {s}", run_measured, one_run_cmd(v, s, epochs))
            for v in variants
            for s in range(seeds)
        ]
        secs = [m["seconds"] for m in runs]
        peak = max(m["peak_rss_bytes"] for m in runs)
        reps["a_process_per_run"].append(
            {"seconds_per_run": sum(secs) / n_runs, "run_seconds": secs, "peak_rss_bytes": peak}
        )
    for key, engine in (("b_keras", "keras"), ("c_vectorized", "vectorized")):
        desc = f"({key[0]}) {repeats} rep(s) in one process: {engine}"
        res, m = step(desc, worker, engine, jobs * repeats)
        for r in range(repeats):
            t = sum(j["seconds"] for j in res[r * len(jobs) : (r + 1) * len(jobs)])
            reps[key].append({"seconds_per_run": t / n_runs, "seconds": t})
            reps[key][-1] |= {
                "process_seconds": m["seconds"],
                "peak_rss_bytes": m["peak_rss_bytes"],
            }
    ways = {
        k: {"repetitions": v, "seconds_per_run": spread([x["seconds_per_run"] for x in v])}
        | {"peak_rss_bytes": max(x["peak_rss_bytes"] for x in v)}
        for k, v in reps.items()
    }
    med = {k: w["seconds_per_run"]["median"] for k, w in ways.items()}
    a = med["a_process_per_run"]
    ratios = {"a_over_b": a / med["b_keras"], "a_over_c": a / med["c_vectorized"]}
    return {"runs": n_runs, "ways": ways, "ratios": ratios}


def one_run_cmd(variant: str, seed: int, epochs: int, study: str = "placement") -> list[str]:
    """Way (a): a fresh interpreter that imports TF, builds the data, trains one seed with
    ``model.fit``, exits (``epochs`` 0: the study's own)."""
    cmd = [sys.executable, "-m", "bnstudy.bench", "--one-run", variant, str(seed), str(epochs)]
    return [*cmd, "--study", study]


def pipeline_jobs(jobs: list[dict]) -> list[dict]:
    """Worker side: for each job {seeds, epochs, conditions}, ``train_study`` of those
    conditions of the placement study into a fresh SQLite store: total seconds (training,
    logging, store creation), the number of runs and the store's size (database and
    artifacts)."""
    import tensorflow  # noqa: F401  (the one-off import stays out of the timings)

    from bnstudy.config import compose, validate
    from bnstudy.studies import by_name, conditions
    from bnstudy.train import study_datasets, train_study

    out = []
    for job in jobs:
        with tempfile.TemporaryDirectory(prefix="bnstudy-bench-") as tmp:
            seeds = list(range(job["seeds"]))
            over = [f"train.epochs={job['epochs']}", f"tracking.uri=sqlite:///{tmp}/mlflow.db"]
            cfg = validate(compose(over))
            conds = [by_name(conditions(cfg), c) for c in job["conditions"]]
            ds = study_datasets(cfg.study.name, conds, build_missing=True)
            start = time.perf_counter()
            with contextlib.redirect_stderr(open(os.devnull, "w")):
                records = train_study(cfg, conds, seeds, "bench", ds)
            total = time.perf_counter() - start
            store = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
        runs = sum(len(r) for r in records.values())
        out.append({**job, "seconds": total, "store_bytes": store, "runs": runs})
    return out


def bench_scaling(seed_counts: list[int], conds: list[str], epochs: int, step: Step) -> dict:
    """Training and logging ``conds`` at each seed count per condition, in one fresh process
    (TensorFlow imported once, outside the timings): seconds, seconds per run, store size."""
    jobs = [{"seeds": n, "epochs": epochs, "conditions": conds} for n in seed_counts]
    m = step("scaling: train + log", run_measured, worker_cmd("pipeline", jobs))
    res = json.loads(m["stdout"].strip().splitlines()[-1])
    rows = [r | {"seconds_per_run": r["seconds"] / r["runs"]} for r in res]
    return {"points": rows, "peak_rss_bytes": m["peak_rss_bytes"]}


def bench_equivalence(variants: list[str], seeds: int, epochs: int, step: Step) -> dict:
    """Final test accuracy per seed, keras vs vectorized: means, max |diff|, Wilcoxon, KS."""
    import numpy as np
    from scipy.stats import ks_2samp, wilcoxon

    jobs = [{"variant": v, "seeds": list(range(seeds)), "epochs": epochs} for v in variants]
    ref, _ = step("equivalence: keras", worker, "keras", jobs)
    vec, _ = step("equivalence: vectorized", worker, "vectorized", jobs)
    out = {}
    for k, v in zip(ref, vec, strict=True):
        a, b = np.array(k["test_accuracy"]), np.array(v["test_accuracy"])
        differ = int(np.count_nonzero(a - b))  # Wilcoxon drops zero differences; none left: p=1
        out[k["variant"]] = {
            "seeds": seeds,
            "keras_mean": a.mean(),
            "vectorized_mean": b.mean(),
            "max_abs_diff": np.abs(a - b).max(),
            "seeds_differing": differ,
            "wilcoxon_p": wilcoxon(a, b).pvalue if differ else 1.0,
            "ks_p": ks_2samp(a, b).pvalue,
            "keras_seconds": k["seconds"],
            "vectorized_seconds": v["seconds"],
        }
    return out


def bench_families(studies: list[str], seeds: int, fit_seeds: int, epochs: int, step: Step) -> dict:
    """Per family study: its bn_after condition trained by ``model.fit`` run after run (way b,
    ``fit_seeds`` seeds) and by the stateless engine (all ``seeds`` at once), ``epochs`` epochs,
    both in one fresh process after a warm-up of each engine: seconds per run, their ratio."""
    out = {}
    for study in studies:
        job = {"study": study, "variant": "bn_after", "epochs": epochs}
        fit_job = job | {"engine": "keras", "seeds": list(range(fit_seeds))}
        fast_job = job | {"engine": "stateless", "seeds": list(range(seeds))}
        (fit, fast), m = step(
            f"{study}: keras fit, stateless", worker, "keras", [fit_job, fast_job]
        )
        b, c = fit["seconds"] / fit_seeds, fast["seconds"] / seeds
        out[study] = {
            "epochs": epochs,
            "fit_seeds": fit_seeds,
            "fit_seconds_per_run": b,
            "stateless_seeds": seeds,
            "stateless_seconds_per_run": c,
            "fit_over_stateless": b / c,
            "peak_rss_bytes": m["peak_rss_bytes"],
        }
    return out


def bench_family_studies(studies: list[str], step: Step) -> dict:
    """Per family study, the target of its issue: its clean rebuild (``dvc repro
    report@<study>``, fresh copy, empty store: training, logging, analysis, report) against
    its runs done one ``model.fit`` process per run, timed on one run (bn_after, seed 0, the
    study's own settings) and scaled to the study's number of runs."""
    from bnstudy.config import compose, validate
    from bnstudy.studies import conditions

    out = {}
    for study in studies:
        cfg = validate(compose([f"study={study}"]))
        runs = len(conditions(cfg)) * len(cfg.study.seeds)
        one = step(
            f"{study}: one model.fit process", run_measured, one_run_cmd("bn_after", 0, 0, study)
        )
        st = bench_study(1, [], step, study)
        fit_s = one["seconds"] * runs
        out[study] = {
            "runs": runs,
            "process_per_run_seconds": one["seconds"],
            "process_per_run_total_seconds": fit_s,
            "study_seconds": st["seconds"]["median"],
            "speedup": fit_s / st["seconds"]["median"],
            "study_peak_rss_bytes": st["peak_rss_bytes"],
        }
    return out


def families_main(a: argparse.Namespace) -> dict:
    """``--only-family-studies`` (``make bench-families``): writes benchmark_families.{json,md}."""
    start = time.perf_counter()

    fam = bench_family_studies(a.family_studies, _print_step)
    res = {"seconds_total": time.perf_counter() - start, "machine": machine_info()}
    res["families"] = fam
    head = ["study", "runs", "one fit process s", "x runs s", "clean rebuild s", "speedup"]
    head += ["peak RSS MB", "target 5x"]
    rows = [
        [
            k,
            v["runs"],
            v["process_per_run_seconds"],
            v["process_per_run_total_seconds"],
            v["study_seconds"],
            v["speedup"],
            v["study_peak_rss_bytes"] / 1e6,
            "PASS" if v["speedup"] >= TARGET_FAMILY_SPEEDUP else "FAIL",
        ]
        for k, v in fam.items()
    ]
    md = (
        "# Family studies: clean rebuild vs one `model.fit` process per run\n\n"
        f"`make bench-families` ({res['seconds_total']:.0f} s), one repetition each. One fit "
        "process: `python -m bnstudy.bench --one-run bn_after 0 0 --study <study>` (import, data, "
        "`model.fit` at the study's settings, exit), times the study's runs. Clean rebuild: "
        "`dvc repro report@<study>` in a fresh copy with an empty MLflow store.\n\n"
        + table(head, rows)
    )
    write_text(a.out / "benchmark_families.json", json.dumps(res, indent=2, default=float) + "\n")
    write_text(a.out / "benchmark_families.md", md + "\n")
    return res


def bench_study(repeats: int, overrides: list[str], step: Step, study: str = "placement") -> dict:
    """``dvc repro`` of a study's stages (``report@<study>`` and what it needs) in a fresh copy
    of the repository (tracked files, conf/, src/, params.yaml, dvc.yaml; ``git init``; clean
    MLflow store), ``repeats`` times."""
    git = ["git", "ls-files"]
    tracked = subprocess.run(git, cwd=CODE_ROOT, capture_output=True, text=True, check=True)
    runs = []
    for r in range(repeats):
        with tempfile.TemporaryDirectory(prefix="bnstudy-bench-") as tmp:
            copy = Path(tmp) / "repo"
            for name in [*tracked.stdout.splitlines(), "params.yaml", "dvc.yaml"]:
                if (CODE_ROOT / name).is_file():
                    (copy / name).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(CODE_ROOT / name, copy / name)
            skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
            for d in ("conf", "src"):
                shutil.copytree(CODE_ROOT / d, copy / d, dirs_exist_ok=True, ignore=skip)
            subprocess.run(["git", "init", "-q"], cwd=copy, check=True)
            run_measured(["bnstudy", "params", *overrides], cwd=copy)  # untimed, as `make study`
            cmd = ["dvc", "repro", f"report@{study}"]
            m = step(f"study rep {r + 1}: {' '.join(cmd)}", run_measured, cmd, copy)
            runs.append({"seconds": m["seconds"], "peak_rss_bytes": m["peak_rss_bytes"]})
    return {
        "overrides": overrides,
        "repetitions": runs,
        "peak_rss_bytes": max(x["peak_rss_bytes"] for x in runs),
        "seconds": spread([x["seconds"] for x in runs]),
    }


def machine_info() -> dict:
    """CPU count, platform, memory, load and library versions."""
    import psutil

    dists = {
        d.metadata["Name"].lower().replace("_", "-"): d.version for d in metadata.distributions()
    }
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "memory_bytes": psutil.virtual_memory().total,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
        "versions": {p: dists[p] for p in PACKAGES.split() if p in dists},
    }


def with_targets(res: dict) -> dict:
    """``res`` plus each target's goal, measured value and pass (None: not measured)."""
    st = res["study"] or {}
    a = res["ways"]["a_process_per_run"]["seconds_per_run"]["median"]
    points = (res["scaling"] or {}).get("points", [])
    at_study = [p["seconds_per_run"] for p in points if p["seeds"] == STUDY_SEEDS]
    at_900 = [p for p in points if p["runs"] == 900]
    res["ratios"]["a_over_c_at_study_seeds"] = at_study and a / at_study[0]
    res["ratios"]["study_in_article_runs"] = st and st["seconds"]["median"] / a
    checks = {
        "speedup_a_over_c": (TARGET_SPEEDUP, res["ratios"]["a_over_c"], 1),
        # the default study trains 30 seeds per condition at once, logging included: its
        # per-run cost is the one the target is about
        f"speedup_a_over_c_at_{STUDY_SEEDS}_seeds": (
            TARGET_SPEEDUP,
            at_study and a / at_study[0],
            1,
        ),
        "study_seconds": (TARGET_STUDY_S, st and st["seconds"]["median"], -1),
        "study_in_article_runs": (1.0, st and st["seconds"]["median"] / a, -1),
        "study_peak_rss_bytes": (TARGET_RSS, st and st["peak_rss_bytes"], -1),
        "runs_900_seconds_in_article_runs": (3.0, at_900 and at_900[0]["seconds"] / a, -1),
        "runs_900_store_bytes": (50e6, at_900 and at_900[0]["store_bytes"], -1),
        "runs_900_peak_rss_bytes": (TARGET_RSS, at_900 and res["scaling"]["peak_rss_bytes"], -1),
        "bench_seconds": (TARGET_BENCH_S, res["seconds_total"], -1),
    }
    res["targets"] = {
        k: {"goal": g, "value": v or None, "pass": None if not v else (v - g) * sign >= 0}
        for k, (g, v, sign) in checks.items()
    }
    return res


def table(head: list[str], rows: list[list[Any]]) -> str:
    """A markdown table; floats with 3 significant digits."""
    rows = [[f"{x:.3g}" if isinstance(x, float) else str(x) for x in r] for r in rows]
    return "\n".join("| " + " | ".join(r) + " |" for r in [head, ["---"] * len(head), *rows])


def render(res: dict) -> str:
    """benchmark.md: how it was measured, then one table per part."""
    s, mach, ratios = res["settings"], res["machine"], res["ratios"]
    verdict = {True: "PASS", False: "FAIL", None: "not measured"}
    ways = [
        [k, *w["seconds_per_run"].values(), w["peak_rss_bytes"] / 1e6]
        for k, w in res["ways"].items()
    ]
    md = [
        f"# Engine benchmark\n\nCommand: `{res['command']}` ({res['seconds_total']:.0f} s). "
        f"Machine: {mach['cpus_usable']} CPUs, {mach['platform']}, Python {mach['python']}, "
        f"load average at start {mach['load_average_at_start'][0]:.2f}; versions in "
        f"benchmark.json.\n\n{res['runs']} runs ({', '.join(s['variants'])} x {s['seeds']} "
        f"seeds x {s['epochs']} epochs), {s['repeats']} repetition(s). Seconds per run: (a) "
        "wall time of one fresh `python -m bnstudy.bench --one-run` process per run and "
        "repetition (import, data, model.fit, exit); (b) `train_keras`, every run and "
        "repetition in one fresh process, import excluded; (c) `train_vectorized` per "
        "variant, likewise, tf.function tracing included; (b), (c) and the scaling runs "
        "follow an untimed 1-seed, 1-epoch warm-up run. "
        "Peak RSS: max of the largest process's ru_maxrss and the tree's summed RSS.\n",
        "## Three ways\n\n" + table(["way", "median s/run", "min", "max", "peak RSS MB"], ways),
        f"\nRatios of medians: (a)/(b) = {ratios['a_over_b']:.1f}x, "
        f"(a)/(c) = {ratios['a_over_c']:.1f}x"
        + (
            f"; (a) against (c) at the study's {STUDY_SEEDS} seeds per variant (scaling table "
            f"below): {ratios['a_over_c_at_study_seeds']:.0f}x"
            if ratios.get("a_over_c_at_study_seeds")
            else ""
        )
        + ".\n\n## Scaling in seeds: training and logging\n\n"
        f"`train_study` of {', '.join(s['scale_conditions'])} at each number of seeds per "
        "condition into a fresh SQLite store, one process tree, one repetition: training, "
        "MLflow logging (runs, per-epoch metrics, weights on the parent run) and store "
        "creation.\n" + ("" if res["scaling"] else "\nNot measured.\n"),
    ]
    if sc := res["scaling"]:
        rows = [
            [p[k] for k in ("seeds", "runs", "epochs", "seconds", "seconds_per_run")]
            + [p["store_bytes"] / 1e6]
            for p in sc["points"]
        ]
        md.append(f"Peak RSS {sc['peak_rss_bytes'] / 1e6:.0f} MB.\n")
        head = ["seeds per condition", "runs", "epochs", "seconds", "s/run", "store MB"]
        md.append(table(head, rows) + "\n")
    if res["equivalence"]:
        head = ["variant", "seeds", "keras mean", "vectorized mean", "max abs diff"]
        head += ["seeds differing", "Wilcoxon p", "KS p", "keras s", "vectorized s"]
        rows = [[k, *v.values()] for k, v in res["equivalence"].items()]
        md += ["## Equivalence: final test accuracy\n", table(head, rows) + "\n"]
    if fam := res.get("families"):
        head = ["study (bn_after)", "epochs", "fit seeds", "fit s/run", "stateless seeds"]
        head += ["stateless s/run", "fit / stateless", "peak RSS MB"]
        rows = [[k, *list(v.values())[:-1], v["peak_rss_bytes"] / 1e6] for k, v in fam.items()]
        md += [
            "## Families: model.fit run after run vs the stateless engine\n\n"
            "Each family study's bn_after condition, both engines in one fresh process, each "
            "after an untimed warm-up; tf.function tracing and compilation included.\n",
            table(head, rows) + "\n",
        ]
    if st := res["study"]:
        md.append(
            f"## Placement study\n\n`dvc repro report@placement` in a fresh copy (clean MLflow "
            "store), "
            f"{len(st['repetitions'])} repetition(s), overrides: {st['overrides'] or 'none'}; "
            f"median {st['seconds']['median']:.1f} s "
            f"(min {st['seconds']['min']:.1f}, max {st['seconds']['max']:.1f}), "
            f"peak RSS {st['peak_rss_bytes'] / 1e6:.0f} MB.\n"
        )
    md.append(
        "The learning_rate grid trained condition by condition vs in groups has its own "
        "target: `make bench-grid` (reports/benchmark_grid.md).\n"
    )
    if steps := res.get("steps"):
        rows = [[x["step"], x["seconds"]] for x in steps]
        md += ["## Where the time goes\n", table(["step", "seconds"], rows) + "\n"]
    note = " (--quick sizes, not the target's setting)" if s["quick"] else ""
    rows = []
    for k, t in res["targets"].items():
        unit = 1e6 if k.endswith("bytes") else 1  # bytes -> MB
        value = t["value"] and t["value"] / unit
        judged = verdict[t["pass"]] + (note if t["pass"] is not None else "")
        rows.append([k.replace("bytes", "MB"), t["goal"] / unit, value, judged])
    return "\n".join([*md, "## Targets\n", table(["target", "goal", "measured", "verdict"], rows)])


def render_grid(grid: dict) -> str:
    """The grid rows: per condition vs grouped."""
    head = ["way", "calls", "runs", "epochs", "median s", "min", "max", "peak RSS MB"]
    rows = []
    for k in ("per", "grouped"):
        first = grid[k]["repetitions"][0]
        rows.append([k, *(first[x] for x in ("calls", "runs", "epochs"))])
        rows[-1] += [*grid[k]["seconds"].values(), grid[k]["peak_rss_bytes"] / 1e6]
    return (
        f"## {GRID_STUDY} grid: per-condition vs grouped, training only\n\n"
        "The study's conditions with the vectorized engine, no MLflow: one "
        "`train_vectorized` per condition, or one `train_vectorized_group` per group of "
        "conditions that differ only in per-slot values (`studies.group_conditions`); "
        f"fresh processes after an untimed warm-up, {len(grid['per']['repetitions'])} "
        "repetition(s) interleaved.\n\n"
        + table(head, rows)
        + f"\n\nRatio of medians per / grouped: {grid['per_over_grouped']:.2f}x.\n"
    )


def grid_main(a: argparse.Namespace) -> dict:
    """``--only-grid`` (``make bench-grid``): writes benchmark_grid.{json,md}."""
    start = time.perf_counter()

    seeds = STUDY_SEEDS if not a.quick else 2
    grid = bench_grid(a.grid_repeats, seeds, a.epochs, _print_step)
    res = {"seconds_total": time.perf_counter() - start, "machine": machine_info(), "grid": grid}
    md = (
        f"# Grouped training benchmark\n\n`{' '.join(['python -m bnstudy.bench', *a.argv])}` "
        f"({res['seconds_total']:.0f} s).\n\n" + render_grid(grid)
    )
    write_text(a.out / "benchmark_grid.json", json.dumps(res, indent=2, default=float) + "\n")
    write_text(a.out / "benchmark_grid.md", md)
    return res


def equivalence_main(a: argparse.Namespace) -> dict:
    """``--only-equivalence``: both engines over the same seeds; writes equivalence.{json,md}."""
    start = time.perf_counter()

    eq = bench_equivalence(a.equivalence_variants, a.equivalence_seeds, a.epochs, _print_step)
    res = {"seconds_total": time.perf_counter() - start, "machine": machine_info()}
    res["equivalence"] = eq
    head = ["condition", "seeds", "keras mean", "vectorized mean", "max abs diff"]
    head += ["seeds differing", "Wilcoxon p", "KS p", "keras s", "vectorized s"]
    rows = [[k, *v.values()] for k, v in eq.items()]
    md = (
        "# Engine equivalence: final test accuracy, keras `fit` vs vectorized\n\n"
        f"`make bench-equivalence` ({res['seconds_total']:.0f} s), {a.epochs} epochs, "
        f"seeds 0..{a.equivalence_seeds - 1}, one fresh process per engine.\n\n" + table(head, rows)
    )
    write_text(a.out / "equivalence.json", json.dumps(res, indent=2, default=float) + "\n")
    write_text(a.out / "equivalence.md", md + "\n")
    return res


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The CLI; ``--quick`` shrinks every size not given explicitly (defaults: FULL, QUICK)."""
    p = argparse.ArgumentParser(prog="python -m bnstudy.bench", description=__doc__)
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    add = p.add_argument
    add("--variants", default="bn_after", help="comma-separated conditions of the placement study")
    add("--seeds", type=int, help="seeds per condition for ways (a)-(c) (2)")
    add("--epochs", type=int, help="epochs everywhere (100)")
    add("--repeats", type=int, help="repetitions of ways (a)-(c) (3)")
    add("--scale-seeds", help="seed counts of the train + log scaling (5,30,100,300)")
    add("--scaling", action=argparse.BooleanOptionalAction, help="the scaling in seeds (on)")
    add("--scale-conditions", help="conditions of the scaling (baseline,bn_after,bn_before)")
    add("--only-equivalence", action="store_true", help="keras vs vectorized over 30 seeds only")
    add("--equivalence-variants", default="baseline,bn_after,bn_before", help="comma-separated")
    add("--equivalence-seeds", type=int, help="seeds per condition for the equivalence (30)")
    add("--study-repeats", type=int, help="timed `dvc repro` of the study; 0 skips it (3)")
    add("--families", help="family studies timed fit vs stateless; '' skips (cnn,lstm,classifier)")
    add("--family-epochs", type=int, help="epochs of the family rows (10)")
    add("--only-grid", action="store_true", help="the learning-rate grid, per vs grouped, only")
    add("--grid-repeats", type=int, help="repetitions of --only-grid's rows (2)")
    add("--quick", action="store_true", help="tiny sizes (2 seeds, 2 epochs), no study")
    add("--out", type=Path, default=REPORTS_DIR, help="output folder (reports)")
    add("--only-family-studies", action="store_true", help="family studies vs fit processes")
    add("--family-studies", default="cnn,lstm,classifier", help="comma-separated")
    add("--one-run", nargs=3, metavar=("VARIANT", "SEED", "EPOCHS"), help="internal: way (a)")
    add("--study", default="placement", help="internal: the study of --one-run")
    add("--worker", nargs=2, metavar=("ENGINE", "JOBS"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    a.argv = sys.argv[1:] if argv is None else list(argv)
    for k, v in (QUICK if a.quick else FULL).items():
        setattr(a, k, v if getattr(a, k) is None else getattr(a, k))
    a.variants = a.variants.split(",")
    a.equivalence_variants = a.equivalence_variants.split(",")
    a.scale_seeds = [int(x) for x in str(a.scale_seeds).split(",")]
    a.scale_conditions = a.scale_conditions.split(",")
    a.families = [f for f in a.families.split(",") if f]
    a.family_studies = [f for f in a.family_studies.split(",") if f]
    return a


def main(argv: list[str] | None = None) -> dict | None:
    """Run the benchmark and write its reports (or, internally, one worker); returns results."""
    a = parse_args(argv)
    if a.one_run or a.worker:
        v, s, e = a.one_run or ("", 0, 0)
        one = [{"variant": v, "seeds": [int(s)], "epochs": int(e), "study": a.study}]
        engine, jobs = a.worker or ("keras", one)
        jobs = json.loads(jobs) if isinstance(jobs, str) else jobs
        if engine == "pipeline":
            res = pipeline_jobs(jobs)
        elif engine == "grid":
            res = grid_jobs(jobs)
        else:
            res = train_jobs(engine, jobs, bool(a.worker))
        print(json.dumps(res, default=lambda x: x.tolist()))
        return None
    if a.only_equivalence:
        return equivalence_main(a)
    if a.only_family_studies:
        return families_main(a)
    if a.only_grid:
        return grid_main(a)
    from rich.console import Console
    from rich.progress import Progress, TimeElapsedColumn

    start, console = time.perf_counter(), Console(stderr=True)
    settings = {k: v for k, v in vars(a).items() if k not in ("one_run", "worker", "argv")}
    settings["out"] = str(a.out)
    res: dict[str, Any] = {"command": " ".join(["python -m bnstudy.bench", *a.argv])}
    res |= {"settings": settings, "machine": machine_info()}
    total = a.repeats * len(a.variants) * a.seeds + 2 + a.scaling + a.study_repeats
    total += len(a.families)
    steps: list[dict] = []
    with Progress(*Progress.get_default_columns(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("benchmark", total=total)

        def step(desc: str, fn: Callable, *args: Any) -> Any:
            bar.update(task, description=desc)
            begin = time.perf_counter()
            out = fn(*args)
            steps.append({"step": desc, "seconds": time.perf_counter() - begin})
            bar.advance(task)
            return out

        res |= bench_ways(a.variants, a.seeds, a.epochs, a.repeats, step)
        scaling = a.scaling and bench_scaling(a.scale_seeds, a.scale_conditions, a.epochs, step)
        res["scaling"] = scaling
        fit_seeds = 2 if not a.quick else 1
        res["families"] = bench_families(
            a.families, STUDY_SEEDS if not a.quick else 2, fit_seeds, a.family_epochs, step
        )
        st = a.study_repeats and bench_study(a.study_repeats, QUICK_STUDY if a.quick else [], step)
        res |= {"equivalence": None, "study": st or None, "scaling": res["scaling"] or None}
    res = with_targets(res | {"steps": steps, "seconds_total": time.perf_counter() - start})
    write_text(a.out / "benchmark.json", json.dumps(res, indent=2, default=float) + "\n")
    write_text(a.out / "benchmark.md", render(res) + "\n")
    med = ", ".join(f"{k} {w['seconds_per_run']['median']:.2f}" for k, w in res["ways"].items())
    console.print(
        f"median s/run: {med}; (a)/(b) {res['ratios']['a_over_b']:.1f}x, "
        f"(a)/(c) {res['ratios']['a_over_c']:.1f}x"
    )
    for k, t in res["targets"].items():
        console.print(f"target {k}: measured {t['value']}, goal {t['goal']}, pass: {t['pass']}")
    console.print(f"wrote {a.out}/benchmark.json and benchmark.md ({res['seconds_total']:.0f} s)")
    return res


if __name__ == "__main__":
    main()
