"""Parse the small literal syntax parameter values use in text: numbers, strings, lists.

``[[0, 0.5, 1], [0, 0.5, 1]]``, ``"quoted \\"text\\""``, ``true``, bare words.  This is
the value syntax of console command lines and of tables written as text; it is parsed
by hand here so that reading a value never needs the console grammar (or ``eval``).

The parser runs in time linear in the length of the text: a compiled regular expression
scans tokens from a position index (the text is never sliced per token), lists are built
with an explicit stack (no recursion), and limits are checked while parsing: lists nest at
most :data:`MAX_DEPTH` deep, and ``max_items`` (a table's row limit) is enforced as soon
as the outermost list grows past it.  Text that is also plain JSON (numbers, strings
without escapes, ``true``/``false``, lists; the usual shape of a large table) is read by
the C JSON decoder, which gives the same values faster.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_LINE_LENGTH", "MAX_SCRIPT_BYTES", "TooManyItemsError", "parse_literal", "unquote"]

MAX_SCRIPT_BYTES = 64 << 20
"""The largest console script file the console reads (64 MiB), checked before reading it."""

MAX_LINE_LENGTH = 1 << 20
"""The longest line of console text, in characters (1 MiB of ASCII): console scripts and
``.pcs`` icon files alike.  Both readers refuse a longer line before tokenizing it (no
token spans lines, so this bounds tokens too), and the ``.pcs`` writer refuses to write one."""

# Strings as an "unrolled loop" (a run of plain characters is one step of the regex engine),
# possessive where Python has it (3.11+): a long string costs no backtracking memory.
_LOOP = "*+" if sys.version_info >= (3, 11) else "*"
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<open>\[) | (?P<close>\]) | (?P<comma>,) |
        (?P<string>"[^"\\]*(?:\\.[^"\\]*)""" + _LOOP + r"""") |
        (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![\w.])|[+-](?:inf|nan)(?!\w)) |
        (?P<word>[A-Za-z_][\w.]*)
    )""",
    re.VERBOSE,
)
_SPACE = re.compile(r"\s*")
_INTEGER = re.compile(r"[+-]?\d+")
_ESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_PLAIN_STRING = re.compile(r'"[^"]*"')
_NOT_BRACKET = re.compile(r"[^\[\]]+")

MAX_DEPTH = 32
"""How deeply lists may nest in a literal."""

_NOT_JSON = object()


def unquote(token: str) -> str:
    """The text of a double-quoted literal, with backslash escapes resolved."""
    body = token[1:-1]
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def _scalar(kind: str, text: str) -> Any:
    if kind == "string":
        return unquote(text)
    if kind == "number":
        return int(text) if _INTEGER.fullmatch(text) else float(text)
    if text in ("inf", "nan"):
        return float(text)
    if text in ("true", "false"):
        return text == "true"
    return text


def _tokens(text: str) -> Iterator[tuple[str, str, int]]:
    """``(kind, token text, position)`` for each token of ``text``, scanned from a position index."""
    pos = 0
    end = len(text)
    match_token = _TOKEN.match
    while pos < end:
        match = match_token(text, pos)
        if match is None:
            blank = _SPACE.match(text, pos).end()
            if blank >= end:
                return
            raise ValueError(f"unexpected character {text[blank]!r} at position {pos}")
        kind = match.lastgroup or ""
        yield kind, match.group(kind), match.start(kind)
        pos = match.end()


class TooManyItemsError(ValueError):
    """A list literal holds more items than ``max_items`` allows (raised while parsing)."""

    def __init__(self, max_items: int) -> None:
        super().__init__(f"more than {max_items} items in the list (the limit)")
        self.max_items = max_items


def _too_many(max_items: int) -> TooManyItemsError:
    return TooManyItemsError(max_items)


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


def _json_subset(text: str, max_items: int | None) -> Any:
    """The value of ``text`` when it is JSON that means the same as the literal syntax;
    ``_NOT_JSON`` otherwise.  (No backslash escapes, objects or null: those differ.)"""
    if "\\" in text or "{" in text or "null" in text or len(text) < 64:
        return _NOT_JSON
    try:
        value = json.loads(text, strict=False, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return _NOT_JSON
    # The depth of the list nesting: strip strings and everything but brackets, then remove
    # innermost "[]" pairs once per level (each pass is one C-speed scan).
    brackets = _NOT_BRACKET.sub("", _PLAIN_STRING.sub("", text))
    for _ in range(MAX_DEPTH):
        if not brackets:
            break
        brackets = brackets.replace("[]", "")
    if brackets:
        raise ValueError(f"lists nested deeper than {MAX_DEPTH}")
    if max_items is not None and isinstance(value, list) and len(value) > max_items:
        raise _too_many(max_items)
    return value


def parse_literal(text: str, *, max_items: int | None = None) -> Any:
    """Parse one literal; raises ValueError with the character position on bad input.

    ``max_items`` bounds the number of items of the outermost list (a table's rows): the
    text is refused as soon as it holds more, without reading the rest.  Time is linear in
    ``len(text)``.
    """
    fast = _json_subset(text, max_items)
    if fast is not _NOT_JSON:
        return fast
    stack: list[list[Any]] = []
    state = "value"  # value: a value is due; first: a value or ']'; after: ',' or ']'; end: nothing
    result: Any = None
    for kind, token, where in _tokens(text):
        if state == "end":
            raise ValueError(f"unexpected {token!r} at position {where}")
        if state == "after":
            if kind == "comma":
                state = "value"
                continue
            if kind != "close":
                raise ValueError(f"expected ',' or ']' at position {where}, found {token!r}")
            value: Any = stack.pop()
        elif kind == "open":
            if len(stack) >= MAX_DEPTH:
                raise ValueError(f"lists nested deeper than {MAX_DEPTH}")
            stack.append([])
            state = "first"
            continue
        elif kind == "close" and state == "first":
            value = stack.pop()
        elif kind in ("string", "number", "word"):
            value = _scalar(kind, token)
        else:
            raise ValueError(f"unexpected {token!r} at position {where}")
        if stack:
            items = stack[-1]
            items.append(value)
            if max_items is not None and len(stack) == 1 and len(items) > max_items:
                raise _too_many(max_items)
            state = "after"
        else:
            result = value
            state = "end"
    if state == "end":
        return result
    if not stack and state == "value":
        raise ValueError("empty value")
    if state == "after":
        raise ValueError("missing ']'")
    raise ValueError("value ends too early")
