"""The stages of one study, as functions: data -> train -> analyze -> report, then the ledger.

The DVC stages (``bnstudy data|train|analyze|report <study>``, reading params.yaml) and
``bnstudy study <name>`` (composing conf/ directly) call these same functions.
"""

from __future__ import annotations

from omegaconf import DictConfig

from bnstudy.paths import REPORTS_DIR, RESULTS_DIR
from bnstudy.studies import conditions


def build_data(cfg: DictConfig) -> list[str]:
    """Write every distinct dataset of the study's conditions to data/<study>/; returns lines
    describing them."""
    from bnstudy.data import build_dataset, dataset_file, save_dataset

    lines, seen = [], set()
    for c in conditions(cfg):
        path = dataset_file(cfg.study.name, c.data)
        if path in seen:
            continue
        seen.add(path)
        ds = build_dataset(c.data)
        save_dataset(ds, path)
        val = f", {len(ds.x_val)} validation" if ds.has_validation else ""
        lines.append(
            f"wrote {path} ({len(ds.x_train)} train{val}, {len(ds.x_test)} test rows, "
            f"sha256 {ds.digest()[:12]})"
        )
    return lines


def train(cfg: DictConfig, stage: str = "train") -> None:
    """Train (or reuse) every run of the study; write results/<study>/ (with
    ``study.boundaries``, also the typical seeds' decision boundaries, boundaries.npz)."""
    from bnstudy.results import write_results
    from bnstudy.train import study_datasets, train_study

    conds = conditions(cfg)
    datasets = study_datasets(cfg.study.name, conds)
    records = train_study(cfg, conds, list(cfg.study.seeds), stage, datasets)
    write_results([r for recs in records.values() for r in recs], RESULTS_DIR / cfg.study.name)
    if cfg.study.get("boundaries", False):
        write_study_boundaries(cfg, datasets, records)


def write_study_boundaries(cfg: DictConfig, datasets: dict, records: dict[str, list]) -> None:
    """results/<study>/boundaries.npz: each condition's typical seed's decision boundary, its
    model rebuilt from the weights stored on its MLflow parent run (runs trained now and runs
    reused alike); ``datasets``: condition name -> Dataset."""
    from bnstudy.boundaries import boundaries, write_boundaries
    from bnstudy.tracking import resolve_uri
    from bnstudy.weights import load_run_model

    uri = resolve_uri(cfg)
    arrays = boundaries(records, datasets, lambda run_id: load_run_model(run_id, uri))
    write_boundaries(arrays, RESULTS_DIR / cfg.study.name)


def analyze(cfg: DictConfig) -> None:
    """results/<study>/ -> reports/<study>/ tables and reports/claims/<study>.csv."""
    from bnstudy.aggregate import aggregate

    aggregate(cfg, conditions(cfg))


def report(cfg: DictConfig) -> None:
    """reports/<study>/ tables -> figures and report.md, also attached to the study's own
    MLflow run (report.md, figures/, the tables and the claims) so the UI shows them."""
    import shutil
    import tempfile
    from pathlib import Path

    from bnstudy.paths import CLAIMS_DIR
    from bnstudy.report import build_report
    from bnstudy.tracking import Tracker

    build_report(cfg, conditions(cfg))
    tracker = Tracker.open(cfg)
    with tempfile.TemporaryDirectory(prefix="bnstudy-") as tmp:
        shutil.copytree(REPORTS_DIR / cfg.study.name, Path(tmp), dirs_exist_ok=True)
        shutil.copy(CLAIMS_DIR / f"{cfg.study.name}.csv", Path(tmp) / "claims.csv")
        tracker.log_artifacts(tracker.study_run(cfg.study.name), Path(tmp))


def ledger(ledger_cfg: DictConfig, studies: list[str]) -> None:
    """reports/claims/<study>.csv of ``studies`` -> reports/claims.{md,csv}."""
    from bnstudy.ledger import build_ledger
    from bnstudy.paths import CLAIMS_DIR

    build_ledger(ledger_cfg, [s for s in studies if (CLAIMS_DIR / f"{s}.csv").exists()])


def run_study(cfg: DictConfig) -> None:
    """Every stage of one study, in order (``bnstudy study <name>``)."""
    for line in build_data(cfg):
        print(line)
    train(cfg, stage="study")
    analyze(cfg)
    report(cfg)
    print(f"report: {REPORTS_DIR / cfg.study.name / 'report.md'}")
