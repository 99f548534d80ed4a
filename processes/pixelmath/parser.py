"""Parse PixelMath expressions with the Lark grammar ``pixelmath.lark`` into :mod:`nodes`.

:func:`parse` is cached by expression text, so an expression is parsed once however many
times (and on however many images) it is executed.  Syntax errors are
:class:`PixelMathSyntaxError` with the offending position.
"""

from __future__ import annotations

import functools
import importlib.resources
import math
import re
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from processes.pixelmath import catalog
from processes.pixelmath.errors import PixelMathSyntaxError
from processes.pixelmath.nodes import Assign, Binary, Call, Directive, Meta, Name, Number, Program, Unary

__all__ = ["parse", "DIRECTIVES", "PRAGMAS"]

PRAGMAS = frozenset(
    {
        "rescale", "no-rescale", "truncate", "no-truncate", "64_bit", "no-64_bit", "single_thread",
        "no-single_thread", "optimize", "no-optimize", "cache", "no-cache", "single_expr", "no-single_expr",
        "new_image", "no-new_image", "alpha", "no-alpha",
    }
)
"""Arguments accepted by the ``.pragma`` directive (PixInsight's list)."""

DIRECTIVES = ("pragma", "symbols")
"""Directive names PixelMath knows."""

_SPACE = re.compile(r"\s+")

_TERMINAL_TEXT = {
    "NUMBER": "a number", "NAME": "an identifier", "META": "a metasymbol ($T)", "ASSIGN": "'='",
    "LOR": "'||'", "LAND": "'&&'", "BOR": "'|'", "BNOR": "'!|'", "BXOR": "'&|'", "BXNOR": "'!&|'",
    "BAND": "'&'", "BNAND": "'!&'", "EQ": "'=='", "NE": "'!='", "LT": "'<'", "LE": "'<='", "GT": "'>'",
    "GE": "'>='", "SHIFT": "'<<' or '>>'", "PLUS": "'+'", "MINUS": "'-'", "DIF": "'--'", "STAR": "'*'", "SLASH": "'/'",
    "PERCENT": "'%'", "CARET": "'^'", "TILDE": "'~'", "BANG": "'!'", "_SEMI": "';'", "_COMMA": "','",
    "_LPAR": "'('", "_RPAR": "')'", "_LBRACK": "'['", "_RBRACK": "']'", "_LBRACE": "'{'", "_RBRACE": "'}'",
    "DIRECTIVE": "a directive", "$END": "the end of the expression",
}


class _UnterminatedComment(Exception):
    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.pos = pos


def _unterminated(token: Token) -> Token:
    raise _UnterminatedComment(token.start_pos or 0)


@functools.lru_cache(maxsize=1)
def _lark() -> Lark:
    grammar = importlib.resources.files("processes.pixelmath").joinpath("pixelmath.lark").read_text("utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="basic",
        maybe_placeholders=True,
        lexer_callbacks={"UNTERMINATED_COMMENT": _unterminated},
    )


class _Fail(Exception):
    """A semantic error found while building the tree (converted to PixelMathSyntaxError)."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


def _op(token: Token) -> str:
    return _SPACE.sub("", str(token))


def _channel_index(index: Any) -> int | None:
    if index is None:
        return None
    node, pos = index
    if not isinstance(node, Number):
        raise _Fail("a channel index must be a non-negative integer literal, as in $T[0]", pos)
    if not math.isfinite(node.value) or node.value != int(node.value):
        raise _Fail(f"a channel index must be an integer literal, not {node.value!r}", pos)
    return int(node.value)


def _split_arguments(text: str) -> list[str]:
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth <= 0:
            out.append(text[start:i].strip())
            start = i + 1
    out.append(text[start:].strip())
    return out


def _directive(token: Token) -> Directive:
    pos = token.start_pos or 0
    parts = str(token)[1:-1].split(None, 1)  # without '.' and ';'
    name = parts[0]
    rest = parts[1].strip() if len(parts) > 1 else ""
    if name not in DIRECTIVES:
        raise _Fail(f"unknown directive '.{name}' (PixelMath directives are .pragma and .symbols)", pos)
    args = tuple(_split_arguments(rest)) if rest else ()
    if not args or any(not a for a in args):
        raise _Fail(f"the {name} directive requires one or more comma-separated arguments", pos)
    if name == "pragma":
        for arg in args:
            if arg not in PRAGMAS:
                raise _Fail(f"unknown pragma directive argument '{arg}'; expected one of {', '.join(sorted(PRAGMAS))}",
                            pos)
    return Directive(name, args, pos)


@v_args(inline=True)
class _ToNodes(Transformer):  # type: ignore[type-arg]
    """Lark tree -> nodes."""

    def start(self, *children: Any) -> Program:
        directives = tuple(_directive(c) for c in children if isinstance(c, Token) and c.type == "DIRECTIVE")
        statements = tuple(c for c in children if c is not None and not isinstance(c, Token))
        return Program(statements, directives)

    def number(self, token: Token) -> Number:
        return Number(float(token), token.start_pos or 0)

    def index(self, node: Any) -> tuple[Any, int]:
        return node, getattr(node, "pos", 0)

    def name(self, token: Token, index: Any) -> Name:
        return Name(str(token), _channel_index(index), token.start_pos or 0)

    def meta(self, token: Token, index: Any) -> Meta:
        return Meta(str(token)[1:], _channel_index(index), token.start_pos or 0)

    def lvalue(self, token: Token, index: Any) -> Name:
        return Name(str(token), _channel_index(index), token.start_pos or 0)

    def call(self, token: Token, *args: Any) -> Call:
        written = str(token)
        pos = token.start_pos or 0
        spec = catalog.lookup(written)
        if spec is None:
            raise _Fail(f"unknown function '{written}'{catalog.suggest_function(written)}", pos)
        arguments = tuple(a for a in args if a is not None)
        problem = spec.arity_error(len(arguments))
        if problem:
            raise _Fail(problem, pos)
        return Call(spec.name, arguments, pos, written)

    def unary(self, token: Token, operand: Any) -> Unary:
        return Unary(_op(token), operand, token.start_pos or 0)

    def binary(self, left: Any, token: Token, right: Any) -> Binary:
        return Binary(_op(token), left, right, token.start_pos or 0)

    def shift(self, left: Any, token: Token, right: Any) -> Binary:
        raise _Fail(f"operator '{_op(token)}' is not implemented: PixelMath has no bit shift operators",
                    token.start_pos or 0)

    def assign(self, target: Name, token: Token, value: Any) -> Assign:
        return Assign(_op(token), target, value, token.start_pos or 0)


_TRANSFORMER = _ToNodes()


def _expected(expected: Any) -> str:
    names = sorted({_TERMINAL_TEXT.get(e, e) for e in expected if not str(e).startswith("__")})
    if not names:
        return ""
    if len(names) > 6:
        return ""
    return f"; expected {', '.join(names)}"


def _describe(token: Token) -> str:
    if token.type == "$END":
        return "end of expression"
    return f"'{token}'"


def _syntax_error(exc: UnexpectedInput, text: str) -> PixelMathSyntaxError:
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        ch = text[pos] if pos < len(text) else ""
        if ch == ".":
            message = "expected digit(s) or a directive specification after '.'"
        elif ch == "$":
            message = "illegal metasymbol identifier after '$' (metasymbols are $T, $target, $M, $A...)"
        elif ch in "#@'\"`\\:?":
            message = f"'{ch}' is not a PixelMath operator or separator"
        else:
            message = f"invalid character {ch!r} in expression"
        return PixelMathSyntaxError(message, text, pos)
    if isinstance(exc, UnexpectedEOF):
        return PixelMathSyntaxError(f"unexpected end of expression{_expected(exc.expected)}", text, len(text))
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        pos = len(text) if token.type == "$END" else (token.start_pos or 0)
        if token.type == "ASSIGN":
            message = "expected lvalue (variable) operand: an assignment needs a variable name on its left"
        elif token.type == "DIRECTIVE":
            message = "illegal directive specification inside an expression (directives must come first)"
        elif token.type == "_LBRACK":
            message = "a channel index specification must follow an image or variable identifier"
        elif token.type == "_LPAR":
            message = "unexpected '(': a function call needs a function name; missing operator?"
        elif token.type in ("_RPAR", "_COMMA", "_SEMI", "_RBRACK", "_RBRACE") and "NUMBER" in exc.expected:
            message = f"unexpected {_describe(token)}: missing operand"
        elif token.type == "_RPAR" and "_RPAR" not in exc.expected:
            message = "mismatched right parenthesis"
        elif token.type in ("NUMBER", "NAME", "META") and "PLUS" in exc.expected:
            message = f"unexpected {_describe(token)}: missing operator (or ';' between statements)?"
        elif token.type == "$END":
            message = f"unexpected end of expression{_expected(exc.expected)}"
        else:
            message = f"unexpected {_describe(token)}{_expected(exc.expected)}"
        return PixelMathSyntaxError(message, text, pos)
    return PixelMathSyntaxError(str(exc), text, getattr(exc, "pos_in_stream", 0) or 0)


@functools.lru_cache(maxsize=512)
def parse(text: str) -> Program:
    """Parse one PixelMath expression (its directives and ``;``-separated statements).

    Raises :class:`PixelMathSyntaxError` naming the problem and its line and column.
    """
    if not isinstance(text, str):
        raise PixelMathSyntaxError(f"an expression must be text, not {type(text).__name__}")
    try:
        tree = _lark().parse(text)
        program = _TRANSFORMER.transform(tree)
    except _UnterminatedComment as exc:
        raise PixelMathSyntaxError("unmatched block comment delimiter '/*'", text, exc.pos) from None
    except UnexpectedInput as exc:
        inner = getattr(exc, "orig_exc", None)
        if isinstance(inner, _UnterminatedComment):
            raise PixelMathSyntaxError("unmatched block comment delimiter '/*'", text, inner.pos) from None
        raise _syntax_error(exc, text) from None
    except RecursionError:
        raise PixelMathSyntaxError("expression too deeply nested", text, 0) from None
    except VisitError as exc:
        inner = exc.orig_exc
        if isinstance(inner, _Fail):
            raise PixelMathSyntaxError(inner.message, text, inner.pos) from None
        raise
    return Program(program.statements, program.directives, text)
