"""Values of the console language once read: evaluated arguments and their text.

:class:`ArgValue` is one evaluated command-line argument, whoever evaluated it: the
console session (variables substituted) or :func:`literal_args` (no variables: icon
source, where a ``$`` is always escaped).  :func:`format_value` writes a value back as
console text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from pathlib import PurePath
from typing import Any

import attrs

from procfw.language import ast
from procfw.language.errors import ArgumentError

__all__ = ["ArgValue", "evaluate_args", "format_value", "literal_args", "literal_value"]


@attrs.frozen
class ArgValue:
    """One evaluated argument of a command line.

    ``kind`` is ``value`` (positional), ``option`` (``-name=value``), ``switch``
    (``-name+``/``-name-``, value True/False), ``flag`` (``-name``) or ``literal``
    (``--name``, value None; ``--name=value``, the value).  ``text`` is the literal as
    written, for numbers (so ``0.10`` stays ``0.10`` when a command wants text).
    """

    kind: str
    value: Any = None
    name: str | None = None
    node: ast.Node | None = None
    text: str | None = None


def format_value(value: Any) -> str:
    """The text of a console value: strings as they are, booleans as true/false, lists as literals."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format_item(v) for v in value) + "]"
    if isinstance(value, PurePath):
        return str(value)
    return str(value)


_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "$": "\\$", "\n": "\\n", "\t": "\\t", "\r": "\\r"})
"""Backslash escapes of a quoted string item: both readers resolve them, and ``\\$`` is never a variable."""


def _format_item(value: Any) -> str:
    if isinstance(value, str):
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", value) and value not in ("true", "false", "inf", "nan"):
            return value
        return '"' + value.translate(_STRING_ESCAPES) + '"'
    return format_value(value)


def literal_value(node: ast.Value) -> Any:
    """The value of a literal with no variables, typed as the console types it: numbers,
    ``true``/``false`` as booleans, words and strings as text, lists as lists.

    A variable is an :class:`ArgumentError` at the variable's word or string: text read
    here (icon source) is data, never expanded.
    """
    if isinstance(node, ast.Number):
        return node.value
    if isinstance(node, ast.ListValue):
        return [literal_value(item) for item in node.items]
    text = node.literal
    if text is None:
        raise ArgumentError(f"{node.text}: variables are not allowed here (write \\$ for a '$' in a string)", node)
    if node.kind == "word" and text in ("true", "false"):
        return text == "true"
    return text


def evaluate_args(
    nodes: Sequence[ast.Arg],
    value_of: Callable[[ast.Value], Any],
    spread: Callable[[ast.Text], Sequence[Any] | None] | None = None,
) -> list[ArgValue]:
    """The arguments of a command line, each value evaluated by ``value_of``.

    ``spread`` may turn a positional word into several arguments (the console's ``$@``):
    it returns their values, or None for a plain word.
    """
    out: list[ArgValue] = []
    for node in nodes:
        if isinstance(node, ast.Option):
            out.append(ArgValue("option", value_of(node.value), node.name, node, _number_text(node.value)))
        elif isinstance(node, ast.Switch):
            out.append(ArgValue("switch", node.on, node.name, node))
        elif isinstance(node, ast.Flag):
            out.append(ArgValue("flag", True, node.name, node))
        elif isinstance(node, ast.Literal):
            value = None if node.value is None else value_of(node.value)
            text = None if node.value is None else _number_text(node.value)
            out.append(ArgValue("literal", value, node.name, node, text))
        else:
            spread_values = spread(node) if spread is not None and isinstance(node, ast.Text) else None
            if spread_values is not None:
                out.extend(ArgValue("value", v, None, node) for v in spread_values)
            else:
                out.append(ArgValue("value", value_of(node), None, node, _number_text(node)))
    return out


def literal_args(nodes: Sequence[ast.Arg]) -> list[ArgValue]:
    """The arguments of a command line with no variables (see :func:`literal_value`)."""
    return evaluate_args(nodes, literal_value)


def _number_text(node: ast.Value) -> str | None:
    return node.text if isinstance(node, ast.Number) else None
