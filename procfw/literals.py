"""Parse the small literal syntax parameter values use in text: numbers, strings, lists.

``[[0, 0.5, 1], [0, 0.5, 1]]``, ``"quoted \\"text\\""``, ``true``, bare words.  This is
the value syntax of console command lines and of tables written as text; it is parsed
by hand here so that reading a value never needs the console grammar (or ``eval``).
"""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<open>\[) | (?P<close>\]) | (?P<comma>,) |
        (?P<string>"(?:[^"\\]|\\.)*") |
        (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![\w.])|[+-](?:inf|nan)(?!\w)) |
        (?P<word>[A-Za-z_][\w.]*)
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
MAX_DEPTH = 32


def unquote(token: str) -> str:
    """The text of a double-quoted literal, with backslash escapes resolved."""
    body = token[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def _scalar(kind: str, text: str) -> Any:
    if kind == "string":
        return unquote(text)
    if kind == "number":
        return int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
    if text in ("inf", "nan"):
        return float(text)
    if text in ("true", "false"):
        return text == "true"
    return text


def parse_literal(text: str) -> Any:
    """Parse one literal; raises ValueError with the character position on bad input."""
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"unexpected character {text[pos:].lstrip()[:1]!r} at position {pos}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind), match.start(kind)))
        pos = match.end()
    if not tokens:
        raise ValueError("empty value")
    value, index = _parse(tokens, 0, 0)
    if index != len(tokens):
        raise ValueError(f"unexpected {tokens[index][1]!r} at position {tokens[index][2]}")
    return value


def _parse(tokens: list[tuple[str, str, int]], index: int, depth: int) -> tuple[Any, int]:
    if index >= len(tokens):
        raise ValueError("value ends too early")
    kind, text, where = tokens[index]
    if kind in ("string", "number", "word"):
        return _scalar(kind, text), index + 1
    if kind != "open":
        raise ValueError(f"unexpected {text!r} at position {where}")
    if depth >= MAX_DEPTH:
        raise ValueError(f"lists nested deeper than {MAX_DEPTH}")
    items: list[Any] = []
    index += 1
    if index < len(tokens) and tokens[index][0] == "close":
        return items, index + 1
    while True:
        item, index = _parse(tokens, index, depth + 1)
        items.append(item)
        if index >= len(tokens):
            raise ValueError("missing ']'")
        kind, text, where = tokens[index]
        if kind == "close":
            return items, index + 1
        if kind != "comma":
            raise ValueError(f"expected ',' or ']' at position {where}, found {text!r}")
        index += 1
