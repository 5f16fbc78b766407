"""params.yaml: every study of the pipeline, composed from conf/, plus the claims ledger.

``studies.<name>`` is conf/config.yaml composed with ``study=<name>`` (each study listed in
conf/pipeline.yaml); ``ledger`` is conf/ledger.yaml; ``pipeline`` is the list of study names,
what the ledger stage depends on (not every study's whole section: the ledger reads only the
studies' claim verdicts, which are its file dependencies). DVC tracks params.yaml key by key, so
a stage of one study depends only on that study's section.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from bnstudy.atomic import write_text
from bnstudy.config import ConfigError, compose, validate
from bnstudy.paths import CONF_DIR

#: Keys of the Hydra app that are not part of a study.
APP_KEYS = ("condition", "seed", "seeds")


def pipeline_studies(config_dir: Path = CONF_DIR) -> list[str]:
    """The studies `dvc repro` builds (conf/pipeline.yaml)."""
    names = list(OmegaConf.load(config_dir / "pipeline.yaml").studies)
    available = sorted(p.stem for p in (config_dir / "study").glob("*.yaml"))
    for name in names:
        if name not in available:
            raise ConfigError(
                f"conf/pipeline.yaml studies: {name!r} is not allowed; expected names from "
                f"conf/study/ ({', '.join(available)})"
            )
    return names


def study_config(name: str, overrides: list[str] | None = None, config_dir: Path = CONF_DIR):
    """conf/config.yaml composed for study ``name`` (plus ``overrides``), validated, without
    the app's keys; returns a plain dict."""
    from bnstudy.studies import check_names, conditions

    cfg = compose([f"study={name}", *(overrides or [])], config_dir)
    checked = validate(cfg)  # every condition must be valid before anything is written
    check_names(checked.study, conditions(checked))
    out = OmegaConf.to_container(cfg, resolve=True)
    for key in APP_KEYS:
        out.pop(key, None)
    return out


def composed_text(overrides: list[str] | None = None, config_dir: Path = CONF_DIR) -> str:
    """The YAML of params.yaml; ``overrides`` apply to every study."""
    names = pipeline_studies(config_dir)
    studies = {name: study_config(name, overrides, config_dir) for name in names}
    ledger = OmegaConf.to_container(OmegaConf.load(config_dir / "ledger.yaml"))
    header = "# Composed from conf/ by `bnstudy params` (make params): edit conf/, not this file.\n"
    return header + OmegaConf.to_yaml({"studies": studies, "ledger": ledger, "pipeline": names})


def write_params(path: Path, overrides: list[str] | None = None) -> None:
    """Compose conf/ (with ``overrides``), validate it, and write ``path`` atomically."""
    write_text(path, composed_text(overrides))


def check_params(path: Path) -> None:
    """Raise ConfigError unless ``path`` equals conf/ composed without overrides."""
    if not path.exists() or path.read_text() != composed_text():
        raise ConfigError(
            f"{path}: out of date with conf/; run `make params` "
            "(or `bnstudy params`) to compose it again"
        )
