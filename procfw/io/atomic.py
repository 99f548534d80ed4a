"""Atomic file writes: write a temporary file beside the target, then rename it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from procfw.errors import FileExistsProcfwError


def _new_file_mode(target: Path) -> int:
    """The mode a new file gets (0o666 less the umask), or the replaced file's own mode."""
    if target.exists():
        return target.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary name keeps the target's suffix so writers that look at the extension
    work.  If the body raises, the temporary file is removed and ``path`` is untouched.
    An existing ``path`` is replaced only when ``overwrite`` is true.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsProcfwError(target)
    directory = target.parent if str(target.parent) else Path(".")
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=directory)
    os.close(fd)
    temp = Path(temp_name)
    try:
        yield temp
        if target.exists() and not overwrite:
            raise FileExistsProcfwError(target)
        os.chmod(temp, _new_file_mode(target))
        os.replace(temp, target)
    finally:
        if temp.exists():
            temp.unlink()
