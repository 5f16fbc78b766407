"""Atomic file writes: a temporary file in the same folder, then a rename."""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_with(path: str | Path, writer: Callable[[Path], object]) -> None:
    """Call ``writer(tmp_path)`` and move the result onto ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)


def write_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to an .npz file (what ``np.load`` reads) atomically, its bytes a
    function of the arrays alone.

    ``np.savez`` streams each member with ``force_zip64=True``, and the zip64 fields zipfile
    writes for that changed within CPython 3.11 (3.11.2 and 3.11.7 wrote different bytes for
    the same arrays), so a DVC output's hash depended on the Python patch version. Here each
    member is written whole, its size known (no zip64 below 4 GB), stored, dated 1980-01-01.
    """

    def _write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for name, array in arrays.items():
                member = io.BytesIO()
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
                zf.writestr(zipfile.ZipInfo(f"{name}.npy"), member.getvalue())

    write_with(path, _write)
