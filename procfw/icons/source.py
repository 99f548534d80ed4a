"""Instances and icons as console source, written and read back (PJSR output: :mod:`procfw.icons.pjsr`,
re-exported here).

Console source is PixInsight's process command line, one statement per line::

    icon Stretch = HistogramTransformation -H=[[0,0.5,1,0,1],[0,0.5,1,0,1]]
    icon Combine_1 = PixelMath -expression="Sii" -rescale=false
    icon Combine_2 = Invert
    icon Combine = Combine_1, -Combine_2
    icon Blur = BlurXTerminator --xpsm="<instance class=\\"BlurXTerminator\\" ...>...</instance>"

``icon NAME = ProcessId -param=value ...`` defines an icon; ``-param+``/``-param-`` also set
Booleans.  ``icon NAME = A, -B, C@M, D@~M`` is a ProcessContainer of earlier icons: ``-``
marks a disabled child, ``@M`` a child mask (``@~M`` inverted); a one-child container is
written with a trailing comma (``icon NAME = A,``).  A placeholder for a process that is
not installed carries its XPSM instance element in ``--xpsm="..."``.  Lines that are blank
or start with ``#`` or ``//`` are ignored.  See ``docs/icons.md``.

The output is a script the console runs, so the writer puts nothing into it unchecked:
icon, process, parameter and mask ids must be identifiers, and every value must be one
console literal (a number, a word, a list, or a quoted string with ``\\``, ``\"``, line
breaks and ``$`` escaped) on one line; anything else is refused with an
:class:`~procfw.icons.model.IconFileError`.  The reader refuses containers nested deeper
than :data:`~procfw.icons.model.MAX_NESTING`.

The reader here needs neither the console package nor its grammar: values are read with
:mod:`procfw.literals` and each parameter kind's ``parse``/``convert``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from procfw.container import ContainerItem, ProcessContainer
from procfw.errors import ProcfwError, UnknownNameError
from procfw.icons.lookup import process_class
from procfw.icons.model import (
    MAX_NESTING,
    IconFileError,
    IconMeta,
    InstanceMeta,
    LoadResult,
    check_nesting,
    container_depth,
    is_identifier,
    shown,
)
from procfw.icons.pjsr import icons_to_pjsr, to_pjsr
from procfw.icons.safexml import element_to_string, parse_xml
from procfw.literals import MAX_LINE_LENGTH, parse_literal, unquote
from procfw.names import suggest, unique_id
from procfw.params import Boolean, ParameterKind, String, Table
from procfw.process import MaskRef, Process
from procfw.registry import processes
from procfw.unknown import UnknownProcess

__all__ = [
    "DESCRIPTION_OPTION",
    "XPSM_OPTION",
    "icons_to_console",
    "icons_to_pjsr",
    "parse_console_command",
    "parse_console_source",
    "read_console_source",
    "to_console",
    "to_pjsr",
]

XPSM_OPTION = "xpsm"
"""The ``--xpsm="..."`` option that carries a placeholder's raw XPSM instance element."""

DESCRIPTION_OPTION = "description"
"""The ``--description="..."`` option that carries an icon's description."""

_QUOTER = String()
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _no_interpolation(literal: str) -> str:
    """A console literal with ``$`` escaped, so the console does not expand it as a variable
    (``$T`` in PixelMath, ``$PXI_SRCDIR`` in paths).  ``$`` occurs only inside quoted
    strings of console literals, and ``\\$`` reads back as ``$``."""
    return literal.replace("$", "\\$")


def _ident(text: object, what: str) -> str:
    """``text`` if it is an identifier; otherwise refuse to write it into console source."""
    if not is_identifier(text):
        raise IconFileError("<console>", f"{what} {shown(text)} is not an identifier; console source needs one")
    return str(text)


def _literal(text: str, what: str) -> str:
    """``text`` if it is exactly one console literal on one line, with ``$`` escaped; refused otherwise."""
    problem = ""
    if "\n" in text or "\r" in text:
        problem = "it spans lines"
    else:
        try:
            parse_literal(text)
        except ValueError as exc:
            problem = str(exc)
    if problem:
        raise IconFileError("<console>", f"{what}: {shown(text)} is not one console literal ({problem})")
    return _no_interpolation(text)


def _quote(text: str) -> str:
    return _literal(_QUOTER.console(text), "quoted text")


# -- console source: writing ----------------------------------------------------------------
def _description_option(meta: InstanceMeta | None) -> str:
    if meta is None or meta.description is None:
        return ""
    return f" --{DESCRIPTION_OPTION}={_quote(meta.description)}"


def _command(instance: Process, meta: InstanceMeta | None = None) -> str:
    if isinstance(instance, UnknownProcess):
        from procfw.icons.xpsm import check_element_ids, instance_to_element

        class_id = _ident(instance.class_id, "process id")
        check_element_ids(instance.elements, "<console>")  # what the reader would refuse is not written
        try:
            fragment = element_to_string(instance_to_element(instance), indent=False)
        except ValueError as exc:
            raise IconFileError("<console>", f"{class_id}: {exc}") from None
        return f"{class_id} --{XPSM_OPTION}={_quote(fragment)}"
    parts = [_ident(instance.process_id, "process id")]
    for pid, kind in type(instance).schema().items():
        value = getattr(instance, pid)
        if kind.read_only and value == kind.default_value:
            continue
        _ident(pid, "parameter id")
        parts.append(f"-{pid}={_literal(kind.console(value), f'{instance.process_id}.{pid}')}")
    return " ".join(parts) + _description_option(meta)


def to_console(instance: Process, *, icon: str = "Container") -> str:
    """``instance`` as one console command line (``ProcessId -param=value ...``).

    A container cannot be one command: it is returned as the icon definitions of its
    children followed by ``icon <icon> = child, child...`` (see :func:`icons_to_console`).
    """
    if isinstance(instance, ProcessContainer):
        return icons_to_console({icon: instance}).rstrip("\n")
    return _command(instance)


def icons_to_console(icons: Mapping[str, Process], *, meta: Mapping[str, IconMeta] | None = None) -> str:
    """A console source file (``.pcs``) defining ``icons``, one ``icon`` statement per line.

    A container's children are written first as icons of their own, named
    ``NAME_1``, ``NAME_2``... (suffixed further if those names are taken).  Descriptions
    from ``meta`` are written as ``--description="..."``.
    """
    meta = meta or {}
    taken = set(icons)
    lines: list[str] = []
    for name, instance in icons.items():
        _ident(name, "icon id")
        check_nesting(instance, "<console>", f"icon {name}")
        icon_meta = meta.get(name)
        _emit(name, instance, lines, taken, icon_meta.instance if icon_meta else None)
    for line in lines:
        if len(line) > MAX_LINE_LENGTH:
            icon = line.split(" ", 2)[1]
            raise IconFileError("<console>", f"icon {icon} would be a line of {len(line)} characters; console "
                                f"source lines are limited to {MAX_LINE_LENGTH} (write .xpsm or .json instead)")
    return "\n".join(lines) + "\n"


def _emit(name: str, instance: Process, lines: list[str], taken: set[str], meta: InstanceMeta | None) -> None:
    if meta is not None and not meta.applies_to(instance.process_id):
        meta = None
    if not isinstance(instance, ProcessContainer) or not instance.items:
        lines.append(f"icon {name} = {_command(instance, meta)}")
        return
    refs = []
    for index, item in enumerate(instance.items, 1):
        child = f"{name}_{index}"
        if child in taken:
            child = unique_id(child, taken)
        taken.add(child)
        _emit(child, item.instance, lines, taken, meta.child(index - 1) if meta else None)
        ref = ("" if item.enabled else "-") + child
        if item.mask is not None:
            ref += "@" + ("~" if item.mask.inverted else "") + _ident(item.mask.window_id, "mask view id")
        refs.append(ref)
    trailing = "," if len(refs) == 1 else ""
    lines.append(f"icon {name} = {', '.join(refs)}{trailing}{_description_option(meta)}")


# -- console source: reading ----------------------------------------------------------------
class _Line:
    """A cursor over one source line, raising errors that name line and column."""

    def __init__(self, text: str, number: int, source: str) -> None:
        self.text = text
        self.number = number
        self.source = source
        self.pos = 0

    def error(self, problem: str, pos: int | None = None) -> IconFileError:
        column = (self.pos if pos is None else pos) + 1
        return IconFileError(self.source, problem, line=self.number, column=column)

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def at_end(self) -> bool:
        self.skip()
        return self.pos >= len(self.text)

    def peek(self, ahead: int = 0) -> str:
        return self.text[self.pos + ahead] if self.pos + ahead < len(self.text) else ""

    def expect(self, char: str) -> None:
        self.skip()
        if self.peek() != char:
            found = repr(self.peek()) if self.peek() else "end of line"
            raise self.error(f"expected '{char}', found {found}")
        self.pos += 1

    def name(self, what: str) -> str:
        self.skip()
        match = _NAME.match(self.text, self.pos)
        if match is None:
            found = repr(self.peek()) if self.peek() else "end of line"
            raise self.error(f"expected {what}, found {found}")
        self.pos = match.end()
        return match.group()

    def value(self) -> tuple[str, bool, int]:
        """The value text after ``=``: a quoted string, a bracketed list or a bare word."""
        start = self.pos
        text = self.text
        if self.peek() == '"':
            end = self._string_end(start)
            token, quoted = text[start:end], True
        elif self.peek() == "'":
            end = text.find("'", start + 1) + 1
            if end == 0:
                raise self.error("unterminated string", start)
            token, quoted = text[start:end], True
        elif self.peek() == "[":
            end = self._list_end(start)
            token, quoted = text[start:end], False
        else:
            end = start
            while end < len(text) and text[end] not in " \t":
                end += 1
            token, quoted = text[start:end], False
            if not token:
                raise self.error("missing value after '='")
        self.pos = end
        if self.pos < len(text) and text[self.pos] not in " \t":
            raise self.error(f"unexpected {text[self.pos]!r} after the value")
        return token, quoted, start

    def option(self) -> tuple[str, str, int]:
        """``--name="text"`` (the cursor is on the first ``-``): name, unquoted text, value position."""
        self.pos += 2
        name_pos = self.pos
        name = self.name("an option name")
        if name not in (XPSM_OPTION, DESCRIPTION_OPTION):
            raise self.error(f"unknown option --{name} (icon definitions accept --{XPSM_OPTION} and "
                             f"--{DESCRIPTION_OPTION})", name_pos)
        self.expect("=")
        token, quoted, where = self.value()
        if not quoted:
            raise self.error(f"--{name} needs a quoted string", where)
        return name, _string(token), where

    def _string_end(self, start: int) -> int:
        i = start + 1
        while i < len(self.text):
            if self.text[i] == "\\":
                i += 2
                continue
            if self.text[i] == '"':
                return i + 1
            i += 1
        raise self.error("unterminated string", start)

    def _list_end(self, start: int) -> int:
        depth = 0
        i = start
        while i < len(self.text):
            char = self.text[i]
            if char == '"':
                i = self._string_end(i)
                continue
            if char == "[":
                depth += 1
            elif char == "]":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        raise self.error("missing ']'", start)


def _unknown_process(process_id: str) -> str:
    """Why ``process_id`` cannot be used: unknown (with a suggestion) or installed but broken."""
    try:
        processes.get(process_id)
    except UnknownNameError as exc:
        return str(exc)
    return f"process '{process_id}' is not a Process class"


def _string(token: str) -> str:
    """The text of a quoted token: ``"..."`` with backslash escapes, ``'...'`` raw."""
    return token[1:-1] if token.startswith("'") else unquote(token)


def _convert(kind: ParameterKind, token: str, quoted: bool) -> Any:
    if quoted:
        return kind.convert(_string(token))
    if isinstance(kind, Table) and kind.max_rows is not None:
        try:  # the row limit is checked while the literal is read, not after
            rows = parse_literal(token, max_items=kind.max_rows)
        except ValueError as exc:
            raise IconFileError("<console>", f"{kind.id}: not a table literal: {exc}") from None
        return kind.convert(rows)
    return kind.parse(token)


def _parse_command(line: _Line, warnings: list[str]) -> tuple[Process, InstanceMeta]:
    start = line.pos
    line.skip()
    name_pos = line.pos
    process_id = line.name("a process id")
    cls = process_class(process_id)
    values: dict[str, Any] = {}
    options: dict[str, tuple[str, int]] = {}
    while not line.at_end():
        if line.peek() == "-" and line.peek(1) == "-":
            option, text, where = line.option()
            options[option] = (text, where)
            continue
        line.expect("-")
        param_pos = line.pos
        name = line.name("a parameter id")
        if cls is None:
            raise line.error(_unknown_process(process_id), name_pos)
        try:
            pid = cls.parameter_id(name)
        except UnknownNameError as exc:
            raise line.error(str(exc), param_pos) from None
        kind = cls.schema()[pid]
        if line.peek() in ("+", "-") and line.peek(1) in ("", " ", "\t"):
            if not isinstance(kind, Boolean):
                raise line.error(f"-{name}{line.peek()} is a switch, but {pid} is not a Boolean", param_pos)
            values[pid] = line.peek() == "+"
            line.pos += 1
            continue
        line.expect("=")
        token, quoted, where = line.value()
        try:
            values[pid] = _convert(kind, token, quoted)
        except ProcfwError as exc:
            raise line.error(f"{process_id}: {exc}", where) from None
    description = options[DESCRIPTION_OPTION][0] if DESCRIPTION_OPTION in options else None
    if XPSM_OPTION in options:
        if values or description is not None:
            raise line.error(f"--{XPSM_OPTION} cannot be combined with parameters or other options", start)
        return _from_fragment(process_id, options[XPSM_OPTION], line, warnings)
    if cls is None:
        raise line.error(_unknown_process(process_id), name_pos)
    try:
        instance = cls.from_parameters(values)
    except ProcfwError as exc:
        raise line.error(str(exc), name_pos) from None
    return instance, InstanceMeta(class_id=instance.process_id, description=description)


def _from_fragment(
    process_id: str, xpsm: tuple[str, int], line: _Line, warnings: list[str]
) -> tuple[Process, InstanceMeta]:
    from procfw.icons.xpsm import element_to_instance

    text, where = xpsm
    try:
        element = parse_xml(text, source=f"{line.source}:{line.number}")
    except IconFileError as exc:
        raise line.error(f"--{XPSM_OPTION}: {exc.problem}", where) from None
    if element.tag != "instance" or element.get("class") != process_id:
        raise line.error(f"--{XPSM_OPTION} must hold an <instance class=\"{process_id}\"> element", where)
    try:
        return element_to_instance(element, warnings, source=f"{line.source}:{line.number}")
    except IconFileError as exc:
        raise line.error(f"--{XPSM_OPTION}: {exc.problem}", where) from None


def _parse_items(
    line: _Line, defined: Mapping[str, Process], metas: Mapping[str, InstanceMeta], depths: dict[str, int]
) -> tuple[ProcessContainer, InstanceMeta, int]:
    """A container of earlier icons, its metadata and its nesting depth."""
    deepest = 0
    items: list[ContainerItem] = []
    children: list[InstanceMeta | None] = []
    description = None
    while True:
        line.skip()
        if line.peek() == "-" and line.peek(1) == "-":
            _option, description, where = line.option()
            if _option != DESCRIPTION_OPTION:
                raise line.error(f"a container takes only --{DESCRIPTION_OPTION}", where)
            if not line.at_end():
                raise line.error("--description must come last")
            break
        enabled = True
        if line.peek() == "-":
            enabled = False
            line.pos += 1
        ref_pos = line.pos
        ref = line.name("an icon id")
        if ref not in defined:
            hint = suggest(ref, list(defined))
            raise line.error(f"unknown icon '{ref}'{hint}; a container can only use icons defined before it", ref_pos)
        if ref not in depths:
            depths[ref] = container_depth(defined[ref])
        deepest = max(deepest, depths[ref])
        if deepest >= MAX_NESTING:
            raise line.error(f"containers nested deeper than {MAX_NESTING} levels (the limit): icon {ref} "
                             f"already nests {deepest}", ref_pos)
        mask = None
        if line.peek() == "@":
            line.pos += 1
            inverted = line.peek() == "~"
            if inverted:
                line.pos += 1
            mask = MaskRef(line.name("a mask view id"), inverted)
        items.append(ContainerItem(instance=defined[ref], enabled=enabled, mask=mask))
        children.append(metas.get(ref))
        if line.at_end():
            break
        line.skip()
        if line.peek() == "-" and line.peek(1) == "-":
            continue
        line.expect(",")
        if line.at_end():
            break
    container_cls = process_class("ProcessContainer") or ProcessContainer
    meta = InstanceMeta(class_id=container_cls.process_id, description=description, children=children)
    return container_cls(items=items), meta, deepest + 1


def _is_item_list(line: _Line) -> bool:
    line.skip()
    if line.peek() == "-":
        return True
    match = _NAME.match(line.text, line.pos)
    if match is None:
        return False
    rest = line.text[match.end() :].lstrip(" \t")
    return rest[:1] in (",", "@")


def read_console_source(
    text: str, *, source: str = "<console>", icons: Mapping[str, Process] | None = None
) -> LoadResult:
    """Read console source of ``icon`` definitions; returns the icons, in order, with
    descriptions in ``meta`` and warnings.

    ``icons`` are icons already defined elsewhere that container lists may refer to.
    Errors name the source, line and column.
    """
    result = LoadResult(source=source, format="console")
    defined: dict[str, Process] = dict(icons or {})
    metas: dict[str, InstanceMeta] = {}
    depths: dict[str, int] = {}
    for number, raw_line in enumerate(text.split("\n"), 1):
        if len(raw_line) > MAX_LINE_LENGTH:
            raise IconFileError(source, f"line is {len(raw_line)} characters long; console source lines are "
                                f"limited to {MAX_LINE_LENGTH} characters", line=number)
        body = raw_line[:-1] if raw_line.endswith("\r") else raw_line
        stripped = body.strip(" \t")
        if not stripped or stripped.startswith("#") or stripped.startswith("//"):
            continue
        line = _Line(body, number, source)
        keyword_pos = len(body) - len(body.lstrip(" \t"))
        if line.name("'icon'") != "icon":
            raise line.error("only icon definitions are allowed here: icon NAME = ProcessId -param=value ...",
                             keyword_pos)
        line.skip()
        name_pos = line.pos
        name = line.name("an icon id")
        line.expect("=")
        instance: Process
        if _is_item_list(line):
            instance, meta, depths[name] = _parse_items(line, defined, metas, depths)
        else:
            instance, meta = _parse_command(line, result.warnings)
            depths[name] = container_depth(instance)
        if name in result.icons:
            result.warnings.append(f"{source}:{number}:{name_pos + 1}: icon {name} is defined again; the last wins")
        result.icons[name] = instance
        defined[name] = instance
        metas[name] = meta
        result.meta[name] = IconMeta(instance=meta)
    return result


def parse_console_source(
    text: str, *, source: str = "<console>", icons: Mapping[str, Process] | None = None
) -> dict[str, Process]:
    """The icons defined by console source ``text`` (as written by :func:`icons_to_console`)."""
    return read_console_source(text, source=source, icons=icons).icons


def parse_console_command(text: str, *, source: str = "<console>") -> Process:
    """The instance one command line describes (as written by :func:`to_console`)."""
    if "\n" in text.strip():
        raise IconFileError(source, "a command is one line; use parse_console_source for several", line=1)
    line = _Line(text.strip(" \t\r\n"), 1, source)
    if line.at_end():
        raise line.error("empty command")
    instance, _meta = _parse_command(line, [])
    return instance
