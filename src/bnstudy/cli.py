"""Entry points: the ``bnstudy-train`` Hydra app and the ``bnstudy`` stage commands.

Thin by design: each command validates its input, calls one library function, and turns a
:class:`ConfigError` into one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bnstudy.config import (
    ConfigError,
    compose,
    hydra_error_line,
    load_params,
    require,
    validate,
)
from bnstudy.paths import CONF_DIR, PARAMS_FILE


def _fail(msg: str) -> None:
    print(f"bnstudy: error: {msg}", file=sys.stderr)
    sys.exit(2)


def friendly(fn: Callable) -> Callable:
    """Run ``fn``; a ConfigError becomes one line on stderr and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            _fail(str(exc))

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
    jobs = sweep_jobs(overrides)
    for job in jobs:
        validate(compose(job))
    return len(jobs)


def _hydra_task(cfg) -> None:
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from bnstudy.train import train_runs

    cfg = validate(OmegaConf.to_container(cfg, resolve=True))
    hc = HydraConfig.get()
    total = os.environ.get("BNSTUDY_SWEEP_TOTAL", "1")
    start = float(os.environ.get("BNSTUDY_SWEEP_START", time.time()))
    job = (hc.job.num + 1) if hc.mode.name == "MULTIRUN" else 1
    print(
        f"[run {job}/{total}] variant={cfg.variant} seed={cfg.seed} "
        f"elapsed {time.time() - start:.1f}s",
        file=sys.stderr,
        flush=True,
    )
    (record,) = train_runs(cfg, cfg.variant, [cfg.seed], stage="hydra")
    acc = record.history["val_accuracy"][-1]
    state = "reused" if record.reused else "trained"
    print(
        f"[run {job}/{total}] {state} run {record.run_id}: variant={cfg.variant} "
        f"seed={cfg.seed} test_accuracy={acc:.4f} train_accuracy="
        f"{record.final['train_accuracy']:.4f}",
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


# --- the DVC stages ------------------------------------------------------------------------


def cmd_params(args: argparse.Namespace) -> None:
    """Compose conf/ into params.yaml (``--check``: only compare)."""
    from bnstudy.params import check_params, write_params

    if args.check:
        check_params(PARAMS_FILE)
        print(f"{PARAMS_FILE} matches {CONF_DIR}")
    else:
        write_params(PARAMS_FILE, args.overrides)
        print(f"wrote {PARAMS_FILE}")


def cmd_data(args: argparse.Namespace) -> None:
    from bnstudy.data import make_dataset, save_dataset

    cfg = load_params()
    ds = make_dataset(cfg.data.n_samples, cfg.data.noise, cfg.data.random_state, cfg.data.n_train)
    save_dataset(ds, cfg.data.path)
    print(
        f"wrote {cfg.data.path} ({len(ds.x_train)} train, {len(ds.x_test)} test rows, "
        f"sha256 {ds.digest()[:12]})"
    )


def cmd_train(args: argparse.Namespace) -> None:
    from bnstudy.results import write_variant_results
    from bnstudy.train import train_study

    cfg = load_params()
    variants = args.variant or list(cfg.variants)
    allowed = f"one of {', '.join(sorted(cfg.variants))}"
    for v in variants:
        require(v in cfg.variants, "--variant", allowed, v)
    records = train_study(cfg, variants, list(cfg.study.seeds), stage="train")
    for variant, recs in records.items():
        write_variant_results(recs, Path(args.out) / variant)


def cmd_aggregate(args: argparse.Namespace) -> None:
    from bnstudy.aggregate import aggregate

    aggregate(load_params())


def cmd_report(args: argparse.Namespace) -> None:
    from bnstudy.report import build_report

    build_report(load_params())


def main(argv: list[str] | None = None) -> None:
    """``bnstudy {params,data,train,aggregate,report}``: the commands DVC's stages run."""
    parser = argparse.ArgumentParser(prog="bnstudy", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("params", help="compose conf/ into params.yaml")
    p.add_argument("--check", action="store_true", help="fail if params.yaml is stale")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. train.epochs=5")
    p.set_defaults(fn=cmd_params)
    sub.add_parser("data", help="generate the dataset").set_defaults(fn=cmd_data)
    p = sub.add_parser("train", help="train every seed of every variant (or of --variant)")
    p.add_argument("--variant", action="append", help="only this variant (repeatable)")
    p.add_argument("--out", required=True, help="folder for <variant>/{history,runs}.csv")
    p.set_defaults(fn=cmd_train)
    sub.add_parser("aggregate", help="results/ -> reports/*.csv").set_defaults(fn=cmd_aggregate)
    sub.add_parser("report", help="figures and report.md").set_defaults(fn=cmd_report)
    args = parser.parse_args(argv)
    friendly(args.fn)(args)
