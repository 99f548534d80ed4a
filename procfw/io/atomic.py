"""Atomic file writes: write a temporary file beside the target, then rename it.

The temporary file is ``.NAME.tmp-PID-RANDOM.EXT`` in the target's directory (``NAME``
the target's file name, ``PID`` the writing process, ``EXT`` the target's suffix so that
writers that look at the extension work).  On success it is flushed to disk
(``fsync``), renamed onto the target and the directory is flushed, so that after a crash
the target is either the old file or the complete new one.  If the writer raises, or
the process is interrupted (Ctrl-C, or SIGTERM under the ``procfw`` command), the
temporary file is removed.  A temporary file left by a process killed outright
(``kill -9``, power loss) is removed by the next write to the same name, once its
process is gone or it has not changed for :data:`STALE_AFTER_S` seconds.

Errors name the target, never the temporary file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from procfw.errors import FileExistsProcfwError, ImageFileError

__all__ = ["STALE_AFTER_S", "atomic_path", "remove_stale_temps", "temp_prefix"]

log = logging.getLogger("procfw.io")

#: A temporary file of a live process is left alone unless unchanged for this long (seconds).
STALE_AFTER_S = 60.0
_NAME_KEEP = 100  # characters of the target's name kept in the temporary name (file names are limited)
_BLOCKED = {signal.SIGINT, signal.SIGTERM}


def temp_prefix(target: Path) -> str:
    """The start of every temporary file name used for writing ``target``."""
    return f".{target.name[:_NAME_KEEP]}.tmp-"


def _new_file_mode(target: Path) -> int:
    """The mode a new file gets (0o666 less the umask), or the replaced file's own mode."""
    if target.exists():
        return target.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # no cheap, harmless probe: rely on the age of the file
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, owned by someone else
        return True
    return True


def remove_stale_temps(target: str | os.PathLike[str], *, now: float | None = None) -> list[Path]:
    """Remove temporary files an interrupted write to ``target`` left behind; return them.

    A temporary file is stale when the process that made it no longer runs, or when it
    has not been modified for :data:`STALE_AFTER_S` seconds.  Failures are logged, not raised.
    """
    target = Path(target)
    directory = target.parent if str(target.parent) else Path(".")
    prefix = temp_prefix(target)
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = [entry for entry in os.scandir(directory) if entry.name.startswith(prefix)]
    except OSError:
        return removed
    for entry in entries:
        pid_text, sep, _rest = entry.name[len(prefix) :].partition("-")
        if not sep or not pid_text.isdigit():
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode):
            continue
        fresh = now - info.st_mtime < STALE_AFTER_S
        if fresh and (int(pid_text) == os.getpid() or _pid_alive(int(pid_text))):
            continue
        try:
            os.unlink(entry.path)
        except OSError as exc:
            log.warning("%s: cannot remove the stale temporary file %s: %s", target, entry.path, exc.strerror or exc)
            continue
        log.info("%s: removed the stale temporary file %s left by an interrupted write", target, entry.path)
        removed.append(Path(entry.path))
    return removed


def _make_temp(target: Path, directory: Path) -> Path:
    """Create the temporary file; SIGINT/SIGTERM wait until its name is known (so it is cleaned up)."""
    can_block = hasattr(signal, "pthread_sigmask")
    if can_block:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, _BLOCKED)
    try:
        fd, name = tempfile.mkstemp(prefix=f"{temp_prefix(target)}{os.getpid()}-", suffix=target.suffix, dir=directory)
        os.close(fd)
        return Path(name)
    finally:
        if can_block:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _fsync_path(path: Path, *, directory: bool = False) -> None:
    """Flush ``path`` to disk; a directory that cannot be opened (Windows) is skipped."""
    try:
        fd = os.open(path, os.O_RDONLY if directory else os.O_RDWR)
    except OSError:
        if directory:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


def _naming_target(exc: BaseException, temp: Path, target: Path) -> ImageFileError | None:
    """``exc`` (about the temporary file) as an ImageFileError about ``target``, or None."""
    names = (str(temp), os.fspath(temp.absolute()), temp.name)
    if isinstance(exc, ImageFileError):
        if exc.path not in names:
            return None
        problem = exc.problem
        for name in names[:2]:
            problem = problem.replace(name, str(target))
        return ImageFileError(target, problem.replace(temp.name, target.name))
    if isinstance(exc, OSError) and not isinstance(exc, FileExistsProcfwError):
        return ImageFileError(target, f"cannot write the file: {exc.strerror or exc}")
    return None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success flush it and rename it onto ``path``.

    If the body raises, the temporary file is removed and ``path`` is untouched; an
    :class:`~procfw.errors.ImageFileError` or :class:`OSError` about the temporary file
    is raised again as an :class:`~procfw.errors.ImageFileError` naming ``path``.  An
    existing ``path`` is replaced only when ``overwrite`` is true.  Stale temporary files
    of earlier, killed writes to ``path`` are removed first.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsProcfwError(target)
    directory = target.parent if str(target.parent) else Path(".")
    remove_stale_temps(target)
    try:
        temp = _make_temp(target, directory)
    except OSError as exc:
        raise ImageFileError(target, f"cannot create a file in {directory}: {exc.strerror or exc}") from exc
    try:
        try:
            yield temp
        except Exception as exc:
            renamed = _naming_target(exc, temp, target)
            if renamed is None:
                raise
            raise renamed from exc
        if target.exists() and not overwrite:
            raise FileExistsProcfwError(target)
        try:
            os.chmod(temp, _new_file_mode(target))
            _fsync_path(temp)
            os.replace(temp, target)
        except OSError as exc:
            raise ImageFileError(target, f"cannot write the file: {exc.strerror or exc}") from exc
        _fsync_path(directory, directory=True)
    finally:
        if temp.exists():
            temp.unlink()
