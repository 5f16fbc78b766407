"""What a run records so that it can be rebuilt: code, data, libraries, threads."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from functools import cache
from importlib.metadata import version

from bnstudy.paths import CODE_ROOT, workspace_root

LIBRARIES = ("tensorflow-cpu", "keras", "numpy", "scikit-learn", "mlflow", "hydra-core", "dvc")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=CODE_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def op_determinism() -> bool:
    """Whether ``tf.config.experimental.enable_op_determinism()`` is in force."""
    from tensorflow.python.framework import config as tf_config

    return bool(tf_config.is_op_determinism_enabled())


@cache
def provenance() -> dict[str, str]:
    """Tags describing the code and environment: git commit and dirtiness, the pipeline state
    (dvc.lock hash, the DVC experiment's name inside `dvc exp run`), library versions, Python,
    CPU and the TensorFlow thread settings that affect float summation order."""
    import tensorflow as tf

    tags = {
        "git.commit": _git("rev-parse", "HEAD") or "unknown",
        "git.dirty": str(bool(_git("status", "--porcelain", "--untracked-files=no"))).lower(),
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "tf.intra_op_threads": str(tf.config.threading.get_intra_op_parallelism_threads()),
        "tf.inter_op_threads": str(tf.config.threading.get_inter_op_parallelism_threads()),
        "tf.op_determinism": str(op_determinism()).lower(),
        "tf.onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
    }
    lock = workspace_root() / "dvc.lock"
    if lock.is_file():
        tags["dvc.lock.sha256"] = hashlib.sha256(lock.read_bytes()).hexdigest()[:16]
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    for lib in LIBRARIES:
        try:
            tags[f"lib.{lib}"] = version(lib)
        except Exception:  # a library that is not installed is simply not recorded
            continue
    return tags
