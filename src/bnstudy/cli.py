"""Entry points: the ``bnstudy-train`` Hydra app and the ``bnstudy`` stage commands.

Thin by design: each command validates its input, calls one library function, and turns a
:class:`ConfigError` into one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import os
import shutil
import sys
import time
from collections.abc import Callable

from bnstudy.config import (
    ConfigError,
    compose,
    hydra_error_line,
    load_params,
    study_params,
    validate,
)
from bnstudy.paths import CONF_DIR, PARAMS_FILE


def _fail(msg: str) -> None:
    print(f"bnstudy: error: {msg}", file=sys.stderr)
    sys.exit(2)


def friendly(fn: Callable) -> Callable:
    """Run ``fn``; a ConfigError becomes one line on stderr and exit status 2, and an MLflow
    store that fails mid-way (server or database down) one line and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            _fail(str(exc))
        except Exception as exc:
            mlflow_errors = sys.modules.get("mlflow.exceptions")  # loaded if MLflow was used
            if mlflow_errors is None or not isinstance(exc, mlflow_errors.MlflowException):
                raise
            line = str(exc).strip().splitlines()[0][:300]
            print(f"bnstudy: error: tracking store: {line}", file=sys.stderr)
            sys.exit(1)

    return wrapper


# --- the Hydra app -------------------------------------------------------------------------


def sweep_jobs(overrides: list[str]) -> list[list[str]]:
    """Expand Hydra command-line overrides into the override list of every job.

    ``["variant=a,b", "seed=range(2)"]`` -> 4 jobs; ``hydra.*`` overrides are dropped.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as exc:
        raise ConfigError(hydra_error_line(exc)) from None
    axes = []
    for o in parsed:
        if o.key_or_group.startswith("hydra.") or o.key_or_group == "hydra":
            continue
        prefix = o.input_line.split("=", 1)[0]
        values = (
            list(o.sweep_string_iterator())
            if o.is_sweep_override()
            else [o.get_value_element_as_str()]
        )
        axes.append([f"{prefix}={v}" for v in values])
    return [list(job) for job in itertools.product(*axes)]


def precheck(overrides: list[str]) -> int:
    """Compose and validate every job of a command line before anything runs.

    Returns the number of jobs; raises ConfigError for the first bad job.
    """
    from bnstudy.studies import app_condition

    jobs = sweep_jobs(overrides)
    for job in jobs:
        app_condition(validate(compose(job)))
    launcher = launcher_config([*jobs[0], *hydra_settings(overrides)])
    if str(launcher.get("_target_")).endswith(".SlurmLauncher") and not shutil.which("sbatch"):
        raise ConfigError(
            "hydra/launcher: SLURM's sbatch is not on PATH; submit from a SLURM login node, "
            "or use hydra/launcher=local to run the same jobs on this machine"
        )
    return len(jobs)


def hydra_settings(overrides: list[str]) -> list[str]:
    """The ``hydra.*`` overrides of a command line that set one value (not sweeps)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    return [
        o.input_line
        for o in parsed
        if o.key_or_group.startswith("hydra.") and not o.is_sweep_override()
    ]


def launcher_config(overrides: list[str]):
    """The ``hydra.launcher`` config of a job, composed as the sweep will compose it (a bad
    ``hydra.launcher.*`` key or value raises ConfigError)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException

    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            cfg = hydra_compose("config", overrides=overrides, return_hydra_config=True)
    except HydraException as exc:
        raise ConfigError(hydra_error_line(exc)) from None
    return cfg.hydra.launcher


def _hydra_task(cfg) -> None:
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from bnstudy.studies import app_condition
    from bnstudy.train import study_datasets, train_study

    cfg = validate(OmegaConf.to_container(cfg, resolve=True))
    cond = app_condition(cfg)
    seeds = list(cfg.seeds) if cfg.seeds is not None else [cfg.seed]
    hc = HydraConfig.get()
    total = os.environ.get("BNSTUDY_SWEEP_TOTAL", "1")
    start = float(os.environ.get("BNSTUDY_SWEEP_START", time.time()))
    job = (hc.job.num + 1) if hc.mode.name == "MULTIRUN" else 1
    print(
        f"[job {job}/{total}] study={cfg.study.name} condition={cond.name!r} seeds={seeds} "
        f"elapsed {time.time() - start:.1f}s",
        file=sys.stderr,
        flush=True,
    )
    datasets = study_datasets(cfg.study.name, [cond], build_missing=True)
    for record in train_study(cfg, [cond], seeds, stage="hydra", datasets=datasets)[cond.name]:
        state = "reused" if record.reused else "trained"
        outcome = f"diverged at epoch {record.diverged_epoch:.0f}" if record.diverged else "ok"
        print(
            f"[job {job}/{total}] {state} run {record.run_id}: condition={cond.name!r} "
            f"seed={record.seed} test_accuracy={record.history['val_accuracy'][-1]:.4f} "
            f"train_accuracy={record.final['train_accuracy']:.4f} ({outcome})",
            flush=True,
        )


def train_app() -> None:
    """``bnstudy-train [overrides]``: one run, or a sweep with ``-m``; see the README."""
    import hydra

    args = sys.argv[1:]
    overrides = [a for a in args if not a.startswith("-")]
    # Flags that print instead of running, or that compose from elsewhere: leave them to Hydra.
    hydra_only = (
        "-h",
        "-i",
        "-c",
        "-p",
        "-cp",
        "-cd",
        "-cn",
        "--hydra-help",
        "--shell-comp",
        "--experimental-rerun",
    )
    passthrough = any(
        a.split("=")[0] in hydra_only
        or a.startswith(("--help", "--info", "--cfg", "--package", "--config"))
        for a in args
    )
    if not passthrough:
        try:
            n_jobs = precheck(overrides)
        except ConfigError as exc:
            _fail(str(exc))
        os.environ["BNSTUDY_SWEEP_TOTAL"] = str(n_jobs)
        os.environ["BNSTUDY_SWEEP_START"] = str(time.time())
    main = hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")(
        friendly(_hydra_task)
    )
    main()


# --- the DVC stages and `bnstudy study` ------------------------------------------------------


def cmd_params(args: argparse.Namespace) -> None:
    """Compose conf/ into params.yaml (``--check``: only compare)."""
    from bnstudy.params import check_params, write_params

    if args.check:
        check_params(PARAMS_FILE)
        print(f"{PARAMS_FILE} matches {CONF_DIR}")
    else:
        write_params(PARAMS_FILE, args.overrides)
        print(f"wrote {PARAMS_FILE}")


def _stage(fn_name: str) -> Callable[[argparse.Namespace], None]:
    """A DVC stage command: the study's validated section of params.yaml -> pipeline.<fn>."""

    def run(args: argparse.Namespace) -> None:
        from bnstudy import pipeline

        out = getattr(pipeline, fn_name)(study_params(args.study))
        for line in out or []:
            print(line)

    return run


def cmd_ledger(args: argparse.Namespace) -> None:
    from bnstudy import pipeline

    params = load_params()
    pipeline.ledger(params.ledger, list(params.pipeline))


def cmd_study(args: argparse.Namespace) -> None:
    """One study end to end from conf/ (with overrides), outside DVC; then the ledger."""
    from omegaconf import OmegaConf

    from bnstudy import pipeline
    from bnstudy.params import pipeline_studies, study_config

    pipeline.run_study(validate(study_config(args.study, args.overrides)))
    names = list(dict.fromkeys([*pipeline_studies(), args.study]))
    pipeline.ledger(OmegaConf.load(CONF_DIR / "ledger.yaml"), names)


def cmd_check(args: argparse.Namespace) -> None:
    from bnstudy.reproduce import check_reproduction

    ok = check_reproduction(list(load_params().studies))
    if not ok:
        sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    """``bnstudy {params,data,train,analyze,report,ledger,study,check}``: the pipeline's
    commands (DVC's stages run them)."""
    parser = argparse.ArgumentParser(prog="bnstudy", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("params", help="compose conf/ into params.yaml")
    p.add_argument("--check", action="store_true", help="fail if params.yaml is stale")
    p.add_argument("overrides", nargs="*", help="Hydra overrides for every study")
    p.set_defaults(fn=cmd_params)
    for name, fn, text in (
        ("data", "build_data", "generate the study's datasets -> data/<study>/"),
        ("train", "train", "train every run of the study -> results/<study>/ + MLflow"),
        ("analyze", "analyze", "results/<study>/ -> reports/<study>/*.csv, claim verdicts"),
        ("report", "report", "figures and reports/<study>/report.md"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("study", help="a study in params.yaml")
        p.set_defaults(fn=_stage(fn))
    sub.add_parser("ledger", help="reports/claims.{md,csv}").set_defaults(fn=cmd_ledger)
    p = sub.add_parser("study", help="one study end to end from conf/, outside DVC")
    p.add_argument("study", help="a study in conf/study/")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. train.epochs=5")
    p.set_defaults(fn=cmd_study)
    sub.add_parser("check", help="did the rebuild reproduce the committed results?").set_defaults(
        fn=cmd_check
    )
    args = parser.parse_args(argv)
    friendly(args.fn)(args)
