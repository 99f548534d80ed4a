"""The process icons of the shared corpus, read with procfw's own XPSM reader, for process tests.

``corpus_instances(process_id)`` gives ``(label, instance)`` for every instance of a process
in the corpus ``.xpsm`` files, as :func:`procfw.icons.load_icons` reads it: typed and
validated, ProcessContainer children included (label ``file:icon`` or ``file:icon[i]``).
``corpus_parameters`` gives the same as parameter dicts.  The reader is held to what the
tests relied on before it existed: an instance it keeps as a placeholder, or any warning it
gives about the process (an ignored parameter...), fails the test instead of silently
dropping coverage.

``raw_instances`` gives the ``<instance>`` elements as written (through the reader's safe
XML parser), for checks on the file text itself and for the ``.xosm`` project, which
``load_icons`` refuses (it is not an icon file); ``xosm_instances`` converts those elements
with the reader's own element converter.

Everything skips when the corpus is absent.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS

from procfw.icons import LoadResult, load_icons
from procfw.icons.lookup import process_class
from procfw.icons.safexml import parse_xml
from procfw.icons.xpsm import element_to_instance
from procfw.process import Process
from procfw.unknown import RawElement, UnknownProcess

__all__ = [
    "CORPUS",
    "ICONS",
    "corpus_instances",
    "corpus_parameters",
    "icon_files",
    "raw_instances",
    "xosm_instances",
]

ICONS = CORPUS / "xpsm"
"""Where the corpus keeps its PixInsight icon (.xpsm) and project (.xosm) files."""


def icon_files(pattern: str = "*.xpsm") -> list[Path]:
    """The corpus files matching ``pattern`` (any depth), sorted; skips when there are none."""
    files = sorted(ICONS.rglob(pattern)) if ICONS.is_dir() else []
    if not files:
        pytest.skip(f"no {pattern} files in the shared corpus at {ICONS}")
    return files


@cache
def _loaded(path: Path) -> LoadResult:
    return load_icons(path)


def _walk(label: str, instance: Process) -> Iterator[tuple[str, Process]]:
    yield label, instance
    for index, item in enumerate(getattr(instance, "items", ()) or ()):
        yield from _walk(f"{label}[{index}]", item.instance)


def _is(instance: Process, process_id: str) -> bool:
    """Whether ``instance`` is of ``process_id``; a placeholder for it (or an alias of it) fails the test."""
    if not isinstance(instance, UnknownProcess):
        return instance.process_id == process_id
    cls = process_class(instance.class_id)
    if cls is not None and cls.process_id == process_id:
        pytest.fail(f"the XPSM reader kept a {instance.class_id} instance as a placeholder (invalid values?)")
    return False


def _no_warnings(source: str, warnings: list[str], process_id: str) -> None:
    about = [w for w in warnings if f": {process_id}" in w]
    if about:
        pytest.fail(f"{source}: the XPSM reader warned about {process_id}: " + "; ".join(about))


def corpus_instances(process_id: str) -> list[tuple[str, Process]]:
    """(label, typed instance) of every ``process_id`` instance in the corpus icons, in file order."""
    found = []
    for path in icon_files():
        result = _loaded(path)
        _no_warnings(path.name, result.warnings, process_id)
        for icon_id, top in result.icons.items():
            found += [(label, i) for label, i in _walk(f"{path.name}:{icon_id}", top) if _is(i, process_id)]
    return found


def corpus_parameters(process_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(label, parameter values by id) of every ``process_id`` instance in the corpus icons."""
    return [(label, instance.parameters()) for label, instance in corpus_instances(process_id)]


def _local(tag: str) -> str:
    return tag.rsplit(":", 1)[-1]


def raw_instances(process_id: str, pattern: str = "*.xpsm") -> list[tuple[str, RawElement]]:
    """(label, ``<instance>`` element as written) of every ``process_id`` instance in the files matching
    ``pattern``, in document order (nested and history instances included; ``class`` compared as written)."""
    found = []
    for path in icon_files(pattern):
        root = parse_xml(path.read_bytes(), source=str(path))
        elements = [e for e in root.walk() if _local(e.tag) == "instance" and e.get("class") == process_id]
        found += [(f"{path.name}:{e.line}", e) for e in elements]
    return found


def xosm_instances(process_id: str) -> list[tuple[str, Process]]:
    """(label, typed instance) of every ``process_id`` instance in the corpus .xosm projects
    (window histories, icons), converted by the XPSM reader's element converter."""
    found = []
    for label, element in raw_instances(process_id, "*.xosm"):
        warnings: list[str] = []
        instance, _meta = element_to_instance(element, warnings, source=label)
        _no_warnings(label, warnings, process_id)
        if _is(instance, process_id):
            found.append((label, instance))
    return found
