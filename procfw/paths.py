"""File-name patterns: the one glob of procfw, streamed, deterministic and safe on symlink loops.

:func:`iter_glob` expands a pattern lazily (a generator), so a loop over ``"lights/**/*.fits"``
starts on the first match instead of after the last, and a tree as big as ``/usr/**``
costs memory for one directory at a time.

Pattern rules (those of :func:`glob.glob` with ``recursive=True``):

- ``*``, ``?`` and ``[...]`` match within one path component; ``~`` is expanded first;
- ``**`` as a whole component matches any number of directories, zero included
  (``a/**/*.fits`` finds ``a/x.fits`` and ``a/b/c/y.fits``); as the last component it
  matches every file and directory beneath (not the directory itself);
- names starting with ``.`` are matched only by a component that starts with ``.``, and
  ``**`` does not enter hidden directories.

Symlinks: ``**`` follows symlinks to directories, but enters each directory (by
``(st_dev, st_ino)``) at most once per ``**``; so a link back to an ancestor ends the
descent instead of looping forever, and a directory reached by two links is listed once,
under the first path in walk order.

Order: depth first; within each directory, names in code-point order (:func:`sorted`);
with ``**``, a directory's own matches come before those of its subdirectories.  The same
tree always gives the same sequence.  Directories that cannot be read are skipped, as
:func:`glob.glob` does.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterator

GLOB_CHARACTERS = re.compile(r"[*?\[]")
"""The characters that make a file name a pattern."""

_SEPARATORS = "".join(sorted({"/", os.sep, os.altsep or "/"}))


def has_wildcards(text: str) -> bool:
    """True if ``text`` contains a wildcard (``*``, ``?`` or ``[``)."""
    return bool(GLOB_CHARACTERS.search(text))


def iter_glob(pattern: str | os.PathLike[str], *, files_only: bool = False) -> Iterator[str]:
    """The paths matching ``pattern``, one at a time, in the documented order (see the module).

    A pattern without wildcards yields itself when it exists.  ``files_only`` keeps regular
    files (and links to them) and drops directories.  Paths are spelled as in the pattern
    (relative stays relative, ``~`` expanded).
    """
    text = os.path.expanduser(os.fspath(pattern))
    if not has_wildcards(text):
        if os.path.lexists(text) and (not files_only or os.path.isfile(text)):
            yield text
        return
    drive, rest = os.path.splitdrive(text)
    anchor = drive
    if rest[:1] and rest[0] in _SEPARATORS:
        anchor += rest[0]
    parts = [p for p in re.split(f"[{re.escape(_SEPARATORS)}]", rest) if p]
    literal = 0
    while literal < len(parts) and not has_wildcards(parts[literal]):
        literal += 1
    base = anchor + os.path.join(*parts[:literal]) if literal else anchor
    if literal and not os.path.isdir(base):
        return
    yield from _match(base, parts[literal:], files_only)


def _join(base: str, name: str) -> str:
    return os.path.join(base, name) if base else name


def _entries(directory: str) -> list[tuple[str, bool]]:
    """(name, is a directory, following links) for each entry, sorted by name; [] if unreadable."""
    found = []
    try:
        with os.scandir(directory or os.curdir) as it:
            for entry in it:
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    is_dir = False
                found.append((entry.name, is_dir))
    except OSError:
        return []
    found.sort()
    return found


def _wanted(path: str, files_only: bool) -> bool:
    return not files_only or os.path.isfile(path)


def _match(base: str, parts: list[str], files_only: bool) -> Iterator[str]:
    """Paths under directory ``base`` matching the remaining pattern components ``parts``."""
    part, rest = parts[0], parts[1:]
    if part == "**":
        yield from _recursive(base, rest, files_only, set())
        return
    if not has_wildcards(part):
        path = _join(base, part)
        if rest:
            if os.path.isdir(path):
                yield from _match(path, rest, files_only)
        elif os.path.lexists(path) and _wanted(path, files_only):
            yield path
        return
    hidden_ok = part.startswith(".")
    for name, is_dir in _entries(base):
        if (name.startswith(".") and not hidden_ok) or not fnmatch.fnmatchcase(name, part):
            continue
        path = _join(base, name)
        if rest:
            if is_dir:
                yield from _match(path, rest, files_only)
        elif _wanted(path, files_only):
            yield path


def _directory_key(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path or os.curdir)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _recursive(base: str, rest: list[str], files_only: bool, visited: set[tuple[int, int]]) -> Iterator[str]:
    """``**`` at ``base``: ``rest`` matched in ``base`` and every directory beneath, each directory once."""
    key = _directory_key(base)
    if key is None or key in visited:
        return
    visited.add(key)
    if rest:
        yield from _match(base, rest, files_only)
    for name, is_dir in _entries(base):
        if name.startswith("."):
            continue
        path = _join(base, name)
        if not rest and _wanted(path, files_only):
            yield path
        if is_dir:
            yield from _recursive(path, rest, files_only, visited)
