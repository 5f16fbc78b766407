"""params.yaml: conf/ composed the way `dvc exp run` composes it (DVC's own function)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bnstudy.atomic import write_text
from bnstudy.config import ConfigError, hydra_error_line
from bnstudy.paths import CODE_ROOT, CONF_DIR


def composed_text(overrides: list[str] | None = None, config_dir: Path = CONF_DIR) -> str:
    """The YAML that DVC's Hydra integration writes for ``overrides``."""
    from dvc.utils.hydra import compose_and_dump
    from hydra.errors import HydraException

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "params.yaml"
        try:
            compose_and_dump(
                out, str(config_dir), None, "config", str(CODE_ROOT), list(overrides or [])
            )
        except HydraException as exc:
            raise ConfigError(hydra_error_line(exc)) from None
        return out.read_text()


def write_params(path: Path, overrides: list[str] | None = None) -> None:
    """Compose conf/ (with ``overrides``), validate it, and write ``path`` atomically."""
    from omegaconf import OmegaConf

    from bnstudy.config import validate

    text = composed_text(overrides)
    validate(OmegaConf.create(text))
    write_text(path, text)


def check_params(path: Path) -> None:
    """Raise ConfigError unless ``path`` equals conf/ composed without overrides."""
    if not path.exists() or path.read_text() != composed_text():
        raise ConfigError(
            f"{path}: out of date with conf/; run `make params` "
            "(or `bnstudy params`) to compose it again"
        )
