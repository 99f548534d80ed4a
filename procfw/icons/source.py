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

The reader is the console's own: :mod:`procfw.language` parses the text and binds each
definition's arguments (no variables: a ``$`` in icon source is always escaped as ``\\$``),
so a file this module reads runs unchanged in the console and means the same there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from procfw.container import ContainerItem, ProcessContainer
from procfw.errors import UnknownNameError
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
from procfw.language import ast
from procfw.language.binder import DESCRIPTION_OPTION, bind_process
from procfw.language.errors import ArgumentError, ConsoleSyntaxError
from procfw.language.parser import parse
from procfw.language.values import ArgValue, literal_args
from procfw.literals import MAX_LINE_LENGTH, parse_literal
from procfw.names import suggest, unique_id
from procfw.params import String
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
    "placeholder_from_xpsm",
    "read_console_source",
    "to_console",
    "to_pjsr",
]

XPSM_OPTION = "xpsm"
"""The ``--xpsm="..."`` option that carries a placeholder's raw XPSM instance element."""


_QUOTER = String()


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
# The console's own parser reads the text (procfw.language); the arguments of each
# ``icon NAME = ProcessId ...`` are evaluated without variables and bound by the console's
# binder, so the console and this reader accept the same lines and convert them the same way.
_SLASH_COMMENT = re.compile(r"^[ \t]*//[^\n]*", re.MULTILINE)


def _parse(text: str, source: str) -> ast.Program:
    """The parsed source; ``//`` comment lines are blanked first (line numbers kept)."""
    text = _SLASH_COMMENT.sub("", text)
    try:
        return parse(text, file=source)
    except ConsoleSyntaxError as exc:
        raise IconFileError(source, exc.message, line=exc.line, column=exc.column) from None


def _unknown_process(process_id: str) -> str:
    """Why ``process_id`` cannot be used: unknown (with a suggestion) or installed but broken."""
    try:
        processes.get(process_id)
    except UnknownNameError as exc:
        return str(exc)
    return f"process '{process_id}' is not a Process class"


def _name(node: ast.Text, what: str) -> str:
    text = node.literal
    if text is None or not is_identifier(text):
        raise ArgumentError(
            f"invalid {what} {shown(node.text)}: ids are letters, digits and _, not starting with a digit", node
        )
    return text


def _options(args: list[ArgValue]) -> dict[str, ArgValue]:
    """The ``--xpsm`` and ``--description`` options of an icon definition, each a quoted string."""
    options: dict[str, ArgValue] = {}
    for arg in args:
        if arg.kind != "literal" or arg.name not in (XPSM_OPTION, DESCRIPTION_OPTION):
            continue
        if not isinstance(arg.value, str) or arg.text is not None:
            raise ArgumentError(f"--{arg.name} needs a quoted string", arg.node or ast.Node(1, 1))
        options[arg.name] = arg
    return options


def _command_icon(command: ast.Command, source: str, warnings: list[str]) -> tuple[Process, InstanceMeta]:
    process_id = _name(command.name, "process id")
    if command.into is not None:
        raise ArgumentError("'-> NAME' has no meaning in an icon definition", command.into)
    args = literal_args(command.args)
    options = _options(args)
    if XPSM_OPTION in options:
        if len(args) != 1:
            raise ArgumentError(f"--{XPSM_OPTION} cannot be combined with parameters or other options", command)
        xpsm = options[XPSM_OPTION]
        return placeholder_from_xpsm(process_id, xpsm.value, warnings, source=source, where=xpsm.node)
    cls = process_class(process_id)
    if cls is None:
        raise ArgumentError(_unknown_process(process_id), command.name)
    for arg in args:
        if arg.kind == "literal" and arg.name != DESCRIPTION_OPTION:
            raise ArgumentError(f"unknown option --{arg.name} (icon definitions accept --{XPSM_OPTION} and "
                           f"--{DESCRIPTION_OPTION})", arg.node or command)
    instance, targets = bind_process(cls, args, for_icon=True)
    if targets:
        raise ArgumentError(f"an icon definition takes no target views (got {shown(targets[0].value)})",
                       targets[0].node or command)
    description = options[DESCRIPTION_OPTION].value if DESCRIPTION_OPTION in options else None
    return instance, InstanceMeta(class_id=instance.process_id, description=description)


def placeholder_from_xpsm(
    process_id: str, text: str, warnings: list[str], *, source: str = "<console>", where: ast.Node | None = None
) -> tuple[Process, InstanceMeta]:
    """The instance an ``icon X = ProcessId --xpsm="<instance ...>"`` line keeps: the XPSM
    instance element of ``process_id`` read as an XPSM file would be (a placeholder when the
    process is not installed).  Errors are located at ``where``."""
    from procfw.icons.xpsm import element_to_instance

    node = where or ast.Node(1, 1)
    location = f"{source}:{node.line}"
    try:
        element = parse_xml(text, source=location)
    except IconFileError as exc:
        raise ArgumentError(f"--{XPSM_OPTION}: {exc.problem}", node) from None
    if element.tag != "instance" or element.get("class") != process_id:
        raise ArgumentError(f"--{XPSM_OPTION} must hold an <instance class=\"{process_id}\"> element", node)
    try:
        return element_to_instance(element, warnings, source=location)
    except IconFileError as exc:
        raise ArgumentError(f"--{XPSM_OPTION}: {exc.problem}", node) from None


def _container_icon(
    statement: ast.IconDef, defined: Mapping[str, Process], metas: Mapping[str, InstanceMeta], depths: dict[str, int]
) -> tuple[ProcessContainer, InstanceMeta, int]:
    """``icon NAME = A, -B, C@M``: a container of earlier icons, its metadata and its nesting depth."""
    description = None
    for option in statement.options:
        if option.name != DESCRIPTION_OPTION:
            raise ArgumentError(f"a container takes only --{DESCRIPTION_OPTION}", option)
        value = literal_args([option])[0]
        if not isinstance(value.value, str) or value.text is not None:
            raise ArgumentError(f"--{DESCRIPTION_OPTION} needs a quoted string", option)
        description = value.value
    deepest = 0
    items: list[ContainerItem] = []
    children: list[InstanceMeta | None] = []
    for ref in statement.items:
        if ref.name not in defined:
            hint = suggest(ref.name, list(defined))
            raise ArgumentError(
                f"unknown icon '{ref.name}'{hint}; a container can only use icons defined before it", ref
            )
        if ref.name not in depths:
            depths[ref.name] = container_depth(defined[ref.name])
        deepest = max(deepest, depths[ref.name])
        if deepest >= MAX_NESTING:
            raise ArgumentError(f"containers nested deeper than {MAX_NESTING} levels (the limit): icon {ref.name} "
                           f"already nests {deepest}", ref)
        mask = MaskRef(ref.mask, ref.mask_inverted) if ref.mask else None
        items.append(ContainerItem(instance=defined[ref.name], enabled=ref.enabled, mask=mask))
        children.append(metas.get(ref.name))
    container_cls = process_class("ProcessContainer") or ProcessContainer
    meta = InstanceMeta(class_id=container_cls.process_id, description=description, children=children)
    return container_cls(items=items), meta, deepest + 1


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
    for statement in _parse(text, source).statements:
        try:
            if not isinstance(statement, ast.IconDef):
                raise ArgumentError("only icon definitions are allowed here: icon NAME = ProcessId -param=value ...",
                               statement)
            name = _name(statement.name, "icon id")
            instance: Process
            if statement.command is not None:
                instance, meta = _command_icon(statement.command, source, result.warnings)
                depths[name] = container_depth(instance)
            else:
                instance, meta, depths[name] = _container_icon(statement, defined, metas, depths)
        except ArgumentError as exc:
            node = exc.node or statement
            raise IconFileError(source, exc.message, line=node.line, column=node.column) from None
        if name in result.icons:
            result.warnings.append(f"{source}:{statement.name.line}:{statement.name.column}: icon {name} is defined "
                                   "again; the last wins")
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
    statements = _parse(text.strip(" \t\r\n"), source).statements
    if not statements:
        raise IconFileError(source, "empty command", line=1, column=1)
    command = statements[0]
    if len(statements) != 1 or not isinstance(command, ast.Command):
        raise IconFileError(source, "not one process command line: ProcessId -param=value ...", line=1, column=1)
    try:
        instance, _meta = _command_icon(command, source, [])
    except ArgumentError as exc:
        node = exc.node or command
        raise IconFileError(source, exc.message, line=node.line, column=node.column) from None
    return instance
