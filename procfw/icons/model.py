"""What icon files hold besides the instances: metadata, load results and file errors."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from procfw.errors import ProcfwError
from procfw.unknown import placeholders_in

if TYPE_CHECKING:
    from procfw.process import Process

__all__ = [
    "MAX_NESTING",
    "IconFileError",
    "IconMeta",
    "InstanceMeta",
    "LoadResult",
    "check_identifier",
    "check_nesting",
    "container_depth",
    "is_identifier",
    "shown",
]

MAX_NESTING = 32
"""How deeply ProcessContainers may nest in an icon (PixInsight's own files nest a few levels).
Every reader refuses deeper icons and every writer refuses to write them."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SHOWN = 60


def is_identifier(text: object) -> bool:
    """Whether ``text`` is a PixInsight id: an identifier ``[A-Za-z_][A-Za-z0-9_]*``."""
    return isinstance(text, str) and _IDENTIFIER.match(text) is not None


def shown(text: object) -> str:
    """``text`` for a message: its repr (control characters visible), cut to a readable length."""
    if isinstance(text, str) and len(text) > _SHOWN:
        return repr(text[:_SHOWN]) + f"... ({len(text)} characters)"
    return repr(text)


def check_identifier(
    text: object, what: str, source: object, *, line: int | None = None, column: int | None = None
) -> str:
    """``text`` if it is a valid id (see :func:`is_identifier`); otherwise raise
    :class:`IconFileError` naming ``source``, ``line``, the id and the rule.

    Every process id, icon id, parameter id and mask id read from a file passes through here
    before it can reach a writer, so that nothing but an identifier is ever written as
    code into console source or PJSR.
    """
    if not is_identifier(text):
        raise IconFileError(
            source, f"invalid {what} {shown(text)}: ids are letters, digits and _, not starting with a digit",
            line=line, column=column,
        )
    return str(text)


def container_depth(instance: Process) -> int:
    """How deeply containers nest in ``instance`` (0: not a container), computed without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(instance, 0)]
    while stack:
        current, depth = stack.pop()
        items = getattr(current, "items", None)
        if not items or not isinstance(items, (tuple, list)):
            continue
        depth += 1
        deepest = max(deepest, depth)
        if depth > MAX_NESTING + 1:
            break
        stack.extend((getattr(item, "instance", None), depth) for item in items)
    return deepest


def check_nesting(instance: Process, source: object, what: str = "icon") -> None:
    """Raise :class:`IconFileError` when containers nest deeper than :data:`MAX_NESTING` in ``instance``."""
    if container_depth(instance) > MAX_NESTING:
        raise IconFileError(source, f"{what}: containers nested deeper than {MAX_NESTING} levels (the limit)")


def not_for_pixinsight(icon_id: str, instance: Process) -> list[str]:
    """Warnings naming each process in ``instance`` (itself or a container's child, at any depth)
    that PixInsight cannot load (``pixinsight = False``: a process of procfw's own)."""
    found: list[str] = []
    stack: list[object] = [instance]
    while stack:
        current = stack.pop()
        if not getattr(type(current), "pixinsight", True):
            process_id = getattr(current, "process_id", type(current).__name__)
            if process_id not in found:
                found.append(process_id)
        items = getattr(current, "items", None)
        if isinstance(items, (tuple, list)) and container_depth(instance) <= MAX_NESTING:
            stack.extend(getattr(item, "instance", None) for item in reversed(items))
    return [f"icon {icon_id}: {pid} is a process of procfw's own; PixInsight cannot load it" for pid in found]


class IconFileError(ProcfwError, ValueError):
    """An icon file (or icon source text) cannot be read or written.

    The message names the file, the line and column where known, and what was wrong.
    """

    def __init__(self, source: object, problem: str, *, line: int | None = None, column: int | None = None) -> None:
        self.source = str(source)
        self.problem = problem
        self.line = line
        self.column = column
        where = self.source
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {problem}")


def read_bounded(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The bytes of an icon file, refusing (before reading) one larger than ``max_bytes``."""
    target = Path(path)
    try:
        size = target.stat().st_size
        if size > max_bytes:
            raise IconFileError(target, f"file is {size} bytes; icon files are limited to {max_bytes} bytes")
        return target.read_bytes()
    except OSError as exc:
        raise IconFileError(target, f"cannot read: {exc.strerror or exc}") from None


@attrs.frozen(kw_only=True)
class InstanceMeta:
    """What a file says about an instance beyond its parameters.

    ``class_id`` is the process id the metadata was read with (metadata is applied only to
    an instance of that process); ``version`` the instance's version attribute as read
    (None: absent); ``description``
    its ``<description>`` text; ``time`` the ``(start, span)`` texts of its ``<time>``
    element; ``children`` the metadata of a container's children, by position.
    Placeholders keep all of this inside their raw elements instead.
    """

    class_id: str | None = None
    version: int | None = None
    description: str | None = None
    time: tuple[str, str] | None = None
    children: tuple[InstanceMeta | None, ...] = attrs.field(default=(), converter=tuple)

    def child(self, index: int) -> InstanceMeta | None:
        """The metadata of child ``index``, or None."""
        return self.children[index] if 0 <= index < len(self.children) else None

    def applies_to(self, process_id: str) -> bool:
        """Whether this metadata belongs to an instance of ``process_id``."""
        return self.class_id is None or self.class_id == process_id


@attrs.frozen(kw_only=True)
class IconMeta:
    """Where an icon sat in PixInsight (``xpos``, ``ypos``, ``workspace``) and its instance's metadata."""

    xpos: int | None = None
    ypos: int | None = None
    workspace: str | None = None
    instance: InstanceMeta = attrs.field(factory=InstanceMeta)


@attrs.define
class LoadResult:
    """The icons read from a file, in file order, and what the reader noticed.

    ``placeholders`` are the ids of icons that are, or contain, placeholders for processes
    that are not installed (:class:`procfw.unknown.UnknownProcess`); ``warnings`` are
    things the reader ignored or repaired (unknown parameters, odd elements...);
    ``meta`` keeps positions, descriptions and versions so that they write back.
    """

    icons: dict[str, Process] = attrs.field(factory=dict)
    meta: dict[str, IconMeta] = attrs.field(factory=dict)
    warnings: list[str] = attrs.field(factory=list)
    source: str = ""
    format: str = ""

    @property
    def placeholders(self) -> list[str]:
        """Ids of the icons that are, or contain, placeholders."""
        return [icon for icon, instance in self.icons.items() if placeholders_in(instance)]

    def missing_processes(self) -> list[str]:
        """The process ids that are not installed, sorted, each once."""
        return sorted({cid for instance in self.icons.values() for cid in placeholders_in(instance)})
