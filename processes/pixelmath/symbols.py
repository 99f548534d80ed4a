"""PixelMath's ``symbols`` parameter: declarations of variables, constants and globals.

Definitions are separated by ``,`` or ``;`` (outside parentheses).  Each one is

``name``
    a variable, initially 0, assignable in the expression;
``name = 0.5`` / ``name = 0.2:0.3:0.4``
    a constant, gray or RGB (not assignable);
``name = init(0.5)``
    a variable with an initial value;
``name = global(+[, v])`` / ``name = global(*[, v])``
    a global variable accumulated over all pixels (reported in ``outputData``);
``name = fn(args)``
    a constant computed once from an image: ``width``, ``height``, ``area``, ``invarea``,
    ``iscolor``, ``maximum``/``max``, ``minimum``/``min``, ``median``/``med``, ``mean``,
    ``mdev``, ``adev``, ``sdev``, ``modulus``/``mod``, ``ssqr``, ``asqr`` (arguments: image
    id or ``$T``, then an optional channel index), ``pixel(image, x, y[, c])``,
    ``keyword_value``/``kwd_value(image, name)``, ``keyword_defined``, ``property_value``,
    ``property_defined``, ``envvar_value(name)``, ``envvar_defined(name)``.

As in PixInsight, a symbol function is not an expression: ``c = mean($T)`` is a symbol
function, ``c = 2*mean($T)`` is an error.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from processes.pixelmath.errors import PixelMathSyntaxError

__all__ = ["SymbolDefinition", "parse_symbols", "SYMBOL_FUNCTIONS"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*\Z")

_STATISTIC_FUNCTIONS = {
    "maximum": "max", "max": "max", "minimum": "min", "min": "min", "median": "med", "med": "med",
    "mean": "mean", "mdev": "mdev", "adev": "adev", "sdev": "sdev", "modulus": "mod", "mod": "mod",
    "ssqr": "ssqr", "asqr": "asqr",
}
_FUNCTION_ALIASES = {
    "kwd_value": "keyword_value", "kwd_defined": "keyword_defined", "pty_value": "property_value",
    "pty_defined": "property_defined",
}
SYMBOL_FUNCTIONS = frozenset(
    {
        "keyword_value", "keyword_defined", "property_value", "property_defined", "envvar_value", "envvar_defined",
        "width", "height", "area", "invarea", "iscolor", "pixel", "init", "global",
        *_STATISTIC_FUNCTIONS, *_FUNCTION_ALIASES,
    }
)
"""Symbol function names (with aliases)."""


@dataclass(frozen=True)
class SymbolDefinition:
    """One symbol definition.

    ``kind`` is ``variable``, ``constant``, ``global`` or ``function``; ``value`` the
    initial value of a variable or global, or the value of an immediate constant (a float
    or an (r, g, b) tuple); ``function`` the canonical symbol function name (statistics use
    the PixelMath function names: med, mean, mdev...); ``image`` the image id ('' for the
    target); ``args`` the remaining arguments as text; ``op`` a global's operator (+ or *).
    """

    name: str
    kind: str
    value: float | tuple[float, float, float] = 0.0
    function: str = ""
    image: str = ""
    args: tuple[str, ...] = ()
    op: str = ""
    pos: int = 0


def _split(text: str) -> list[tuple[str, int]]:
    parts: list[tuple[str, int]] = []
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch in ",;" and depth <= 0:
            chunk = text[start:i]
            if not chunk.strip():
                raise PixelMathSyntaxError("missing symbol definition", text, i)
            parts.append((chunk, start))
            start = i + 1
    if text[start:].strip():
        parts.append((text[start:], start))
    return parts


def _unquote(token: str, text: str, pos: int) -> str:
    token = token.strip()
    for q in "'\"":
        if token.startswith(q):
            if len(token) < 2 or not token.endswith(q):
                raise PixelMathSyntaxError(f"missing right quote in {token}", text, pos)
            return token[1:-1].strip()
    return token


def _image_id(token: str, text: str, pos: int) -> str:
    token = token.strip()
    if token in ("", "$T", "$target"):
        return ""
    if not _IDENT.match(token):
        raise PixelMathSyntaxError(f"in symbol function specification: invalid image identifier '{token}'", text, pos)
    return token


def _function_definition(name: str, value: str, text: str, pos: int) -> SymbolDefinition:
    lp = value.find("(")
    if lp < 0:
        raise PixelMathSyntaxError(
            f"in symbol function specification: missing left parenthesis: {name} = {value} "
            "(a symbol is a number, r:g:b, or a symbol function such as mean($T); not an expression)",
            text, pos,
        )
    rp = value.find(")", lp + 1)
    if rp < 0:
        raise PixelMathSyntaxError(f"in symbol function specification: missing right parenthesis: {value}", text, pos)
    if rp != len(value) - 1:
        raise PixelMathSyntaxError(
            f"in symbol function specification: extra token(s) after right parenthesis: {name} = {value} "
            "(symbol values are not expressions)",
            text, pos,
        )
    function = value[:lp].strip()
    inner = value[lp + 1 : rp]
    tokens = [t.strip() for t in inner.split(",")] if inner.strip() else []
    function = _FUNCTION_ALIASES.get(function, function)
    if function not in SYMBOL_FUNCTIONS:
        import difflib

        close = difflib.get_close_matches(function, sorted(SYMBOL_FUNCTIONS), n=2)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        raise PixelMathSyntaxError(f"unknown or unsupported symbol function '{function}'{hint}", text, pos)

    def need(lo: int, hi: int) -> None:
        if not lo <= len(tokens) <= hi:
            count = f"{lo}" if lo == hi else f"{lo} to {hi}"
            raise PixelMathSyntaxError(
                f"the {function}() symbol function takes {count} argument(s): {value}", text, pos
            )

    if function == "init":
        need(0, 1)
        if tokens and not _NUMBER.match(tokens[0]):
            raise PixelMathSyntaxError(f"in variable initialization: invalid numeric value '{tokens[0]}'", text, pos)
        return SymbolDefinition(name, "variable", float(tokens[0]) if tokens else 0.0, pos=pos)
    if function == "global":
        need(1, 2)
        op = tokens[0]
        if op not in ("+", "*"):
            raise PixelMathSyntaxError(f"in global variable initialization: unknown global operator '{op}'", text, pos)
        if len(tokens) == 2 and not _NUMBER.match(tokens[1]):
            raise PixelMathSyntaxError(f"in global variable initialization: invalid numeric value '{tokens[1]}'",
                                       text, pos)
        init = float(tokens[1]) if len(tokens) == 2 else (0.0 if op == "+" else 1.0)
        return SymbolDefinition(name, "global", init, op=op, pos=pos)
    if function in ("keyword_value", "keyword_defined", "property_value", "property_defined"):
        need(1, 2)
        image = _image_id(tokens[0], text, pos) if len(tokens) == 2 else ""
        key = _unquote(tokens[-1], text, pos)
        if not key:
            raise PixelMathSyntaxError(f"in {function}() symbol function specification: missing name", text, pos)
        return SymbolDefinition(name, "function", function=function, image=image, args=(key,), pos=pos)
    if function in ("envvar_value", "envvar_defined"):
        need(1, 1)
        return SymbolDefinition(name, "function", function=function, args=(_unquote(tokens[0], text, pos),), pos=pos)
    if function in ("width", "height", "area", "invarea", "iscolor"):
        need(0, 1)
        image = _image_id(tokens[0], text, pos) if tokens else ""
        return SymbolDefinition(name, "function", function=function, image=image, pos=pos)
    if function == "pixel":
        need(2, 4)
        if len(tokens) == 2:
            image, rest = "", tokens
        else:
            image, rest = _image_id(tokens[0], text, pos), tokens[1:]
        return SymbolDefinition(name, "function", function="pixel", image=image,
                                args=tuple(_unquote(t, text, pos) for t in rest), pos=pos)
    need(0, 2)  # statistics: ([image[, channel]])
    image = _image_id(tokens[0], text, pos) if tokens else ""
    channel = (_unquote(tokens[1], text, pos),) if len(tokens) == 2 else ()
    return SymbolDefinition(name, "function", function=_STATISTIC_FUNCTIONS[function], image=image, args=channel,
                            pos=pos)


@functools.lru_cache(maxsize=256)
def parse_symbols(text: str) -> tuple[SymbolDefinition, ...]:
    """The symbol definitions in ``text`` (PixelMath's ``symbols`` parameter), in order.

    Raises :class:`PixelMathSyntaxError` for a malformed or duplicate definition.
    """
    definitions: list[SymbolDefinition] = []
    seen: set[str] = set()
    offset = len(text) - len(text.lstrip())
    for chunk, start in _split(text.strip()):
        pos = offset + start + (len(chunk) - len(chunk.lstrip()))
        definition = chunk.strip()
        name, eq, value = definition.partition("=")
        name = name.strip()
        if not name:
            raise PixelMathSyntaxError(f"missing symbol identifier: {definition}", text, pos)
        if not _IDENT.match(name):
            raise PixelMathSyntaxError(f"invalid symbol identifier '{name}': {definition}", text, pos)
        if name in seen:
            raise PixelMathSyntaxError(f"duplicate symbol identifier '{name}': {definition}", text, pos)
        seen.add(name)
        if not eq:
            definitions.append(SymbolDefinition(name, "variable", pos=pos))
            continue
        value = value.strip()
        if not value:
            raise PixelMathSyntaxError(f"missing symbol value: {definition}", text, pos)
        if value[0].isalpha() or value[0] == "_":
            definitions.append(_function_definition(name, value, text, pos))
            continue
        components = [c.strip() for c in value.split(":") if c.strip()]
        if len(components) not in (1, 3) or not all(_NUMBER.match(c) for c in components):
            raise PixelMathSyntaxError(
                f"invalid immediate symbol value - expected a numeric literal or r:g:b: {definition}", text, pos
            )
        numbers = [float(c) for c in components]
        constant: float | tuple[float, float, float] = (
            numbers[0] if len(numbers) == 1 else (numbers[0], numbers[1], numbers[2])
        )
        definitions.append(SymbolDefinition(name, "constant", constant, pos=pos))
    return tuple(definitions)
