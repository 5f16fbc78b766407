"""Where things live: the one place that defines the project's paths."""

from __future__ import annotations

from pathlib import Path

#: The checkout this package was installed from (editable install): its conf/ is the config.
CODE_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = CODE_ROOT / "conf"

# Stage inputs and outputs are relative to the working directory, which is the repository
# root under `dvc repro` and a temporary copy of it under `dvc exp run`.
PARAMS_FILE = Path("params.yaml")
DATA_DIR = Path("data")
RESULTS_DIR = Path("results")
REPORTS_DIR = Path("reports")
#: Each study's claim verdicts, <study>.csv: what the ledger reads.
CLAIMS_DIR = REPORTS_DIR / "claims"


def workspace_root(cwd: Path | None = None) -> Path:
    """The repository a working directory belongs to, seen through DVC's temporary copies.

    `dvc exp run --queue/--temp` runs stages in ``<repo>/.dvc/tmp/exps/<tmp>/``, which is
    deleted afterwards; anything meant to last (the MLflow store) must live in ``<repo>``.
    """
    cwd = (cwd or Path.cwd()).resolve()
    parts = cwd.parts
    for i in range(len(parts) - 2):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    for candidate in (cwd, *cwd.parents):
        if (candidate / "dvc.yaml").exists() or (candidate / ".git").exists():
            return candidate
    return cwd


def lock_dir(cwd: Path | None = None) -> Path:
    """``<repository root>/.bnstudy/locks``: inter-process locks of this workspace only."""
    d = workspace_root(cwd) / ".bnstudy" / "locks"
    d.mkdir(parents=True, exist_ok=True)
    return d


def default_tracking_uri(cwd: Path | None = None) -> str:
    """``sqlite:///<absolute repository root>/mlflow.db``."""
    return f"sqlite:///{workspace_root(cwd) / 'mlflow.db'}"
