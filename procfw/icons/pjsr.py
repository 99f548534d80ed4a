"""Instances and icons as PixInsight JavaScript (PJSR): ``var P = new ProcessId; P.param = value;``.

Write-only, in the form PixInsight 1.9's V8 runtime runs (and its scripts, such as WBPP,
are written in): enumerations as ``ProcessId.Element`` (the runtime of 1.9.4 no longer
has ``ProcessId.prototype.Element``), tables as arrays of rows assigned to the parameter,
with a comment naming the columns, strings as JavaScript literals, reals rounded to their
precision as PixInsight writes them; a container adds its children with ``P.add(P1)`` (a
disabled child's ``add`` is commented out).  A variable is never named after a process
(``var Invert = new Invert;`` would hide the class) nor after a core PJSR object: such an
icon's variable gets the suffix ``_icon``.  A process PixInsight cannot load (procfw's
own) is marked by a comment.

The output is code, so nothing is written into it unchecked: process ids, parameter ids,
column ids, enumeration elements, mask ids and variable names must be identifiers (an
:class:`~procfw.icons.model.IconFileError` otherwise), every text is a JSON-escaped string
literal (line separators included), and anything else that is not a plain number or
Boolean is written as a string.
"""

from __future__ import annotations

import json as _json
import re
from collections.abc import Mapping
from typing import Any

from procfw.container import ProcessContainer
from procfw.icons.model import IconFileError, check_nesting, is_identifier, shown
from procfw.names import is_valid_id
from procfw.params import Block, Boolean, Double, Enumeration, Float, FloatBlock, ParameterKind, String, Table
from procfw.process import Process
from procfw.unknown import RawElement, UnknownProcess

__all__ = ["icons_to_pjsr", "to_pjsr"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_JS_RESERVED = frozenset(
    "break case catch class const continue debugger default delete do else enum export extends false finally for "
    "function if import in instanceof let new null return super switch this throw true try typeof var void while "
    "with yield".split()
)


# Core objects of PixInsight's JavaScript runtime (and of JavaScript) a variable must not hide.
_PJSR_GLOBALS = frozenset(
    "Array Boolean Console Date Dialog File FileFind Error Function ImageWindow Image Infinity JSON Math NaN "
    "Number Object Parameters ProcessInstance Promise RegExp Settings String Symbol View "
    "Workspace console undefined".split()
)


_JS_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")


def _ident(text: object, what: str) -> str:
    """``text`` if it is an identifier; otherwise refuse to write it as code."""
    if not is_identifier(text):
        raise IconFileError("<pjsr>", f"{what} {shown(text)} is not an identifier; it cannot be written as "
                            "JavaScript code")
    return str(text)


def _js_plain(text: str) -> str:
    """A formatted value as a JavaScript number or Boolean when it is one, else as a string literal."""
    return text if text in ("true", "false") or _JS_NUMBER.match(text) else _js_string(text)


def _js_comment(text: str) -> str:
    """``text`` for a ``//`` comment: an identifier as is, anything else as an escaped literal
    (so that no line terminator can end the comment)."""
    return text if is_identifier(text) else _json.dumps(text)


def _js_string(text: str) -> str:
    pieces = text.split("\n")
    if len(pieces) == 1:
        return _json.dumps(text)
    parts = [_json.dumps(p + "\n") for p in pieces[:-1]]
    if pieces[-1]:
        parts.append(_json.dumps(pieces[-1]))
    return " +\n".join(parts)


def _js_value(process_id: str, kind: ParameterKind, value: Any) -> str:
    if isinstance(kind, Boolean):
        return "true" if value else "false"
    if isinstance(kind, Enumeration):
        return f"{_ident(process_id, 'process id')}.{_ident(value, 'enumeration element')}"
    if isinstance(kind, (Float, Double)):
        number = float(value)
        if number != number:
            return "NaN"
        if number in (float("inf"), float("-inf")):
            return "Infinity" if number > 0 else "-Infinity"
        return _js_plain(kind.format(value))
    if isinstance(kind, String):
        return _js_string(str(value))
    if isinstance(kind, FloatBlock):
        return "[" + kind.format(value) + "]"
    if isinstance(kind, Block):
        return _json.dumps(bytes(value).hex()) + " /* bytes, hexadecimal */"
    return _js_plain(kind.format(value))


def _js_table(process_id: str, kind: Table, rows: Any) -> str:
    head = "[ // " + ", ".join(_ident(c.id, "table column id") for c in kind.columns)
    body = [
        "   [" + ", ".join(_js_value(process_id, c, v).replace("\n", " ") for c, v in zip(kind.columns, row)) + "]"
        for row in rows
    ]
    return _js_rows(head, body)


def _js_rows(head: str, rows: list[str]) -> str:
    return head + "\n" + "".join(row + ",\n" for row in rows[:-1]) + (rows[-1] + "\n" if rows else "") + "]"


def _raw_js_value(process_id: str, element: RawElement) -> str:
    value = element.get("value")
    if value is None:
        return _js_string(element.text or "")
    if value in ("true", "false"):
        return value
    if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", value):
        return value
    if _NAME.fullmatch(value):
        return f"{_ident(process_id, 'process id')}.{value}"
    return _js_string(value)


def _pjsr_lines(instance: Process, var: str, lines: list[str]) -> None:
    if isinstance(instance, UnknownProcess):
        _pjsr_placeholder(instance, var, lines)
        return
    if not type(instance).pixinsight:
        lines.append(f"// {_ident(instance.process_id, 'process id')} is a process of procfw's own: "
                     "PixInsight cannot run it")
    lines.append(f"var {_ident(var, 'variable name')} = new {_ident(instance.process_id, 'process id')};")
    if isinstance(instance, ProcessContainer):
        for index, item in enumerate(instance.items, 1):
            child = f"{var}_{index}" if var[-1:].isdigit() else f"{var}{index}"
            _pjsr_lines(item.instance, child, lines)
            if item.mask is not None:
                lines.append(f"// child {index} has mask {_ident(item.mask.window_id, 'mask view id')}"
                             f"{' (inverted)' if item.mask.inverted else ''}; set it in PixInsight")
            lines.append(f"{var}.add({child});" if item.enabled else f"// {var}.add({child}); // disabled child")
        return
    outputs: list[str] = []
    for pid, kind in type(instance).schema().items():
        value = getattr(instance, pid)
        if kind.read_only and value == kind.default_value:
            continue
        _ident(pid, "parameter id")
        if isinstance(kind, Table):
            line = f"{var}.{pid} = {_js_table(instance.process_id, kind, value)};"
        else:
            line = f"{var}.{pid} = {_js_value(instance.process_id, kind, value)};"
        (outputs if kind.read_only else lines).append(line)
    if outputs:  # as PixInsight's toSource(): read-only values are shown, not assigned (PJSR refuses that)
        lines += ["/*", " * Read-only properties", " *", *(line.replace("*/", "* /") for line in outputs), " */"]


def _pjsr_placeholder(instance: UnknownProcess, var: str, lines: list[str]) -> None:
    from procfw.icons.xpsm import check_element_ids

    pid = _ident(instance.class_id, "process id")
    check_element_ids(instance.elements, "<pjsr>")  # what the readers refuse is not written
    lines.append(f"var {_ident(var, 'variable name')} = new {pid}; // {pid} is not installed in procfw: "
                 "values written as read")
    for element in instance.elements:
        ident = element.get("id")
        if element.tag == "parameter" and ident:
            lines.append(f"{var}.{_ident(ident, 'parameter id')} = {_raw_js_value(pid, element)};")
        elif element.tag == "table" and ident:
            _ident(ident, "table id")
            trs = element.find_all("tr")
            columns = [_ident(td.get("id"), "table column id") if td.get("id") else ""
                       for td in trs[0].find_all("td")] if trs else []
            rows = ["   [" + ", ".join(_raw_js_value(pid, td).replace("\n", " ") for td in tr.find_all("td")) + "]"
                    for tr in trs]
            lines.append(f"{var}.{ident} = {_js_rows('[ // ' + ', '.join(columns), rows)};")
        elif element.tag not in ("description", "time"):
            lines.append(f"// element {_js_comment(element.tag)} not expressible in PJSR")


def to_pjsr(instance: Process, *, var: str = "P") -> str:
    """``instance`` as PixInsight JavaScript: ``var P = new ProcessId;`` and ``P.param = value;`` lines.

    Enumerations are written as ``ProcessId.Element``, tables as arrays of rows with a
    comment naming the columns; a container adds its children with ``P.add(P1)``.
    """
    check_nesting(instance, "<pjsr>")
    lines: list[str] = []
    _pjsr_lines(instance, var, lines)
    return "\n".join(lines) + "\n"


def _class_ids(instance: Process) -> set[str]:
    """The process ids ``instance`` uses as classes (itself, a container's children at any depth)."""
    found: set[str] = set()
    stack: list[Process] = [instance]
    while stack:
        current = stack.pop()
        found.add(current.class_id if isinstance(current, UnknownProcess) else current.process_id)
        if isinstance(current, ProcessContainer):
            stack.extend(item.instance for item in current.items)
    return found


def icons_to_pjsr(icons: Mapping[str, Process]) -> str:
    """A PJSR script creating one variable per icon, named after the icon unless that name would
    hide a class the script (or PixInsight's runtime) needs: then ``<icon>_icon``."""
    import procfw
    from procfw.registry import processes

    for instance in icons.values():
        check_nesting(instance, "<pjsr>")
    hidden = set(_PJSR_GLOBALS) | set(processes.ids())
    for instance in icons.values():
        hidden |= _class_ids(instance)
    out = [f"// Process icons written by procfw {procfw.__version__} as PixInsight JavaScript (PJSR)", ""]
    taken: set[str] = set()
    for name, instance in icons.items():
        var = name if is_valid_id(name) and name not in _JS_RESERVED else f"icon_{re.sub(r'[^A-Za-z0-9_]', '_', name)}"
        while var in hidden or var in taken:
            var += "_icon"
        taken.add(var)
        out.append(f"// icon {_js_comment(name)}")
        out.append(to_pjsr(instance, var=var))
    return "\n".join(out)
