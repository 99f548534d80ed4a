"""Process icons: saved instances in PixInsight XPSM, procfw JSON and console source.

``save_icons(path, icons)`` picks the format by extension (``.xpsm``, ``.json``, ``.pcs``
console source, ``.js`` PJSR, write-only), writes atomically and never replaces a file
unless asked; ``load_icons(path)`` reads ``.xpsm``, ``.json`` and ``.pcs`` into a
:class:`LoadResult` (icons in file order, placeholders, warnings, metadata);
``add_loaded(workspace, result)`` puts them into a workspace.

Instances of processes that are not installed load as
:class:`procfw.unknown.UnknownProcess` placeholders and write back unchanged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from procfw.icons.model import IconFileError, IconMeta, InstanceMeta, LoadResult, not_for_pixinsight, read_bounded
from procfw.names import is_valid_id, make_id
from procfw.process import Process
from procfw.unknown import UnknownProcess, placeholders_in
from procfw.workspace import Workspace

log = logging.getLogger(__name__)

__all__ = [
    "FORMATS",
    "IconFileError",
    "IconMeta",
    "InstanceMeta",
    "LoadResult",
    "UnknownProcess",
    "add_loaded",
    "dumps_icons",
    "format_of",
    "load_icons",
    "loads_icons",
    "placeholders_in",
    "save_icons",
]

FORMATS: dict[str, str] = {".xpsm": "xpsm", ".json": "json", ".pcs": "console", ".js": "pjsr"}
"""File extension -> icon format.  ``pjsr`` is write-only."""


def format_of(path: str | os.PathLike[str]) -> str:
    """The icon format of ``path``, from its extension; raises IconFileError for others."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(FORMATS)
        raise IconFileError(path, f"unknown icon file extension {suffix or '(none)'!r}; use one of {known}")
    return FORMATS[suffix]


def dumps_icons(
    icons: Mapping[str, Process], fmt: str, *, meta: Mapping[str, IconMeta] | None = None,
    warnings: list[str] | None = None,
) -> str:
    """``icons`` as the text of format ``fmt`` (``xpsm``, ``json``, ``console`` or ``pjsr``).

    For PixInsight's formats (``xpsm``, ``pjsr``) ``warnings`` receives what PixInsight
    cannot load (procfw's own processes) and what the format cannot hold."""
    from procfw.icons import json as json_format
    from procfw.icons import source, xpsm

    if fmt == "xpsm":
        return xpsm.dumps(icons, meta=meta, warnings=warnings)
    if fmt == "json":
        return json_format.dumps(icons, meta=meta)
    if fmt == "console":
        return source.icons_to_console(icons, meta=meta)
    if fmt == "pjsr":
        if warnings is not None:
            warnings.extend(w for name, instance in icons.items() for w in not_for_pixinsight(name, instance))
        return source.icons_to_pjsr(icons)
    raise IconFileError(f"<{fmt}>", f"unknown icon format {fmt!r}")


def save_icons(
    path: str | os.PathLike[str],
    icons: Mapping[str, Process],
    *,
    overwrite: bool = False,
    meta: Mapping[str, IconMeta] | None = None,
) -> list[str]:
    """Write ``icons`` to ``path`` in the format its extension names, atomically (UTF-8).

    An existing file is replaced only when ``overwrite`` is true.  ``meta`` (from a
    :class:`LoadResult`) keeps icon positions, descriptions and versions.  Returns
    warnings about things the format cannot hold and, for ``.xpsm`` and ``.js``, processes
    PixInsight cannot load; each is also logged (logger ``procfw.icons``).
    """
    from procfw.io.atomic import atomic_path

    target = Path(path)
    fmt = format_of(target)
    warnings: list[str] = []
    try:
        text = dumps_icons(icons, fmt, meta=meta, warnings=warnings)
    except IconFileError as exc:
        raise IconFileError(target, exc.problem, line=exc.line, column=exc.column) from None
    with atomic_path(target, overwrite=overwrite) as temp:
        temp.write_bytes(text.encode("utf-8"))
    for warning in warnings:  # for those who only watch the log: the console's `icons save`, the CLI
        log.warning("%s: %s", target, warning)
    return warnings


def loads_icons(text: str | bytes, fmt: str, *, source: str = "<string>") -> LoadResult:
    """Read icons from ``text`` in format ``fmt`` (``xpsm``, ``json`` or ``console``)."""
    from procfw.icons import json as json_format
    from procfw.icons import source as console_source
    from procfw.icons import xpsm

    if fmt == "xpsm":
        return xpsm.loads(text, source=source)
    if fmt == "json":
        return json_format.loads(text, source=source)
    if fmt == "console":
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise IconFileError(source, f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
        return console_source.read_console_source(text, source=source)
    if fmt == "pjsr":
        raise IconFileError(source, "PJSR (.js) icon files are write-only; read .xpsm, .json or .pcs")
    raise IconFileError(source, f"unknown icon format {fmt!r}")


def load_icons(path: str | os.PathLike[str]) -> LoadResult:
    """Read an icon file (``.xpsm``, ``.json`` or ``.pcs``), safely and without importing
    anything named in it; the result lists icons in file order, placeholders and warnings."""
    from procfw.icons.safexml import MAX_FILE_BYTES

    target = Path(path)
    fmt = format_of(target)
    if fmt == "pjsr":
        raise IconFileError(target, "PJSR (.js) icon files are write-only; read .xpsm, .json or .pcs")
    return loads_icons(read_bounded(target, MAX_FILE_BYTES), fmt, source=str(target))


def add_loaded(workspace: Workspace, result: LoadResult) -> dict[str, str]:
    """Add the icons of ``result`` to ``workspace.icons``; returns file id -> id used, for every icon.

    An id that is taken gets PixInsight's ``_1``, ``_2``... suffix; an id that is not a
    valid identifier is made one first.  Entries whose key and value differ were renamed.
    """
    used: dict[str, str] = {}
    for icon_id, instance in result.icons.items():
        base = icon_id if is_valid_id(icon_id) else make_id(icon_id)
        used[icon_id] = workspace.add_icon(base, instance)
    return used
