"""SubframeSelector's approval and weighting expressions: a JavaScript subset, parsed and evaluated as a tree.

PixInsight prefixes each expression with ``let NAME = value;`` declarations of the frame's
properties and runs it as JavaScript.  procfw parses the text once with the Lark grammar
``expression.lark`` into a small tree of nodes and evaluates the tree per frame, with the
frame's variables in a mapping -- no Python ``eval``/``exec`` ever sees the text.

Supported: numbers, ``true``/``false``, the variables, ``( )``, ``?:``, ``|| &&`` (with
JavaScript's value semantics: ``a || b`` is ``a`` when truthy, else ``b``), ``| ^ &``
(32-bit integer bitwise, as JavaScript), ``== != === !==``, ``< <= > >=``, ``+ - * / %``,
``**``, unary ``! - +``, ``Math.<function>(...)`` and ``Math.<constant>``, ``//`` and
``/* */`` comments, and several statements separated by ``;`` (the value of the last one
is the result).  Errors (:class:`ExpressionError`) name the expression parameter, the
line and column, and, for an unknown variable, its name and the nearest known ones.
"""

from __future__ import annotations

import functools
import importlib.resources
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from procfw.errors import ExecutionError
from procfw.names import suggest

__all__ = ["Expression", "ExpressionError", "MATH_CONSTANTS", "MATH_FUNCTIONS", "compile_expression"]

Value = float | bool


class ExpressionError(ExecutionError):
    """A bad approval or weighting expression: where, and what is wrong."""


def _locate(text: str, pos: int) -> tuple[int, int, str]:
    line = text.count("\n", 0, pos) + 1
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return line, pos - start + 1, text[start : end if end >= 0 else len(text)]


def _error(parameter: str, text: str, pos: int, what: str) -> ExpressionError:
    line, column, source = _locate(text, pos)
    caret = f"\n    {source}\n    {' ' * (column - 1)}^"
    return ExpressionError(f"SubframeSelector: {parameter} {text!r}: line {line}, column {column}: {what}{caret}")


# -- Math ------------------------------------------------------------------------------------
def _js_round(x: float) -> float:
    return math.floor(x + 0.5)


def _sign(x: float) -> float:
    return math.nan if math.isnan(x) else float((x > 0) - (x < 0))


def _log(x: float) -> float:
    return math.nan if x < 0 else -math.inf if x == 0 else math.log(x)


def _log10(x: float) -> float:
    return math.nan if x < 0 else -math.inf if x == 0 else math.log10(x)


def _log2(x: float) -> float:
    return math.nan if x < 0 else -math.inf if x == 0 else math.log2(x)


def _sqrt(x: float) -> float:
    return math.nan if x < 0 else math.sqrt(x)


def _pow(x: float, y: float) -> float:
    try:
        result = x**y
    except ZeroDivisionError:
        return math.inf
    except OverflowError:
        return math.inf
    return math.nan if isinstance(result, complex) else float(result)


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


MATH_FUNCTIONS: Mapping[str, tuple[Callable[..., float], int | None]] = {
    "abs": (abs, 1), "sqrt": (_sqrt, 1), "cbrt": (lambda x: math.copysign(abs(x) ** (1 / 3), x), 1),
    "exp": (_exp, 1), "log": (_log, 1), "log10": (_log10, 1), "log2": (_log2, 1),
    "floor": (math.floor, 1), "ceil": (math.ceil, 1), "round": (_js_round, 1), "trunc": (math.trunc, 1),
    "sign": (_sign, 1), "sin": (math.sin, 1), "cos": (math.cos, 1), "tan": (math.tan, 1),
    "asin": (math.asin, 1), "acos": (math.acos, 1), "atan": (math.atan, 1), "atan2": (math.atan2, 2),
    "pow": (_pow, 2), "min": (lambda *a: min(a) if a else math.inf, None),
    "max": (lambda *a: max(a) if a else -math.inf, None), "hypot": (lambda *a: math.hypot(*a), None),
}
"""``Math.<name>``: (function, number of arguments; None: any)."""

MATH_CONSTANTS: Mapping[str, float] = {
    "PI": math.pi, "E": math.e, "LN2": math.log(2), "LN10": math.log(10), "LOG2E": 1 / math.log(2),
    "LOG10E": 1 / math.log(10), "SQRT2": math.sqrt(2), "SQRT1_2": math.sqrt(0.5),
}
"""``Math.<NAME>`` constants."""

_LITERALS: Mapping[str, Value] = {"true": True, "false": False, "NaN": math.nan, "Infinity": math.inf}


# -- the tree --------------------------------------------------------------------------------
def _num(value: Value) -> float:
    return float(value)


def _truthy(value: Value) -> bool:
    return bool(value) and not (isinstance(value, float) and math.isnan(value))


def _int32(value: Value) -> int:
    x = float(value)
    if not math.isfinite(x):
        return 0
    n = int(x) & 0xFFFFFFFF
    return n - (1 << 32) if n & 0x80000000 else n


def _divide(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _modulo(a: float, b: float) -> float:
    if b == 0 or not math.isfinite(a):
        return math.nan
    return math.fmod(a, b) if math.isfinite(b) else a


_BINARY: Mapping[str, Callable[[Value, Value], Value]] = {
    "+": lambda a, b: _num(a) + _num(b), "-": lambda a, b: _num(a) - _num(b),
    "*": lambda a, b: _num(a) * _num(b), "/": lambda a, b: _divide(_num(a), _num(b)),
    "%": lambda a, b: _modulo(_num(a), _num(b)), "**": lambda a, b: _pow(_num(a), _num(b)),
    "<": lambda a, b: _num(a) < _num(b), "<=": lambda a, b: _num(a) <= _num(b),
    ">": lambda a, b: _num(a) > _num(b), ">=": lambda a, b: _num(a) >= _num(b),
    "==": lambda a, b: _num(a) == _num(b), "!=": lambda a, b: _num(a) != _num(b),
    "===": lambda a, b: type(a) is type(b) and a == b, "!==": lambda a, b: not (type(a) is type(b) and a == b),
    "&": lambda a, b: float(_int32(a) & _int32(b)), "|": lambda a, b: float(_int32(a) | _int32(b)),
    "^": lambda a, b: float(_int32(a) ^ _int32(b)),
}


@attrs.frozen
class Node:
    """A node of an expression tree; ``pos`` is its offset in the expression text."""

    pos: int

    def evaluate(self, variables: Mapping[str, Value]) -> Value:
        """The node's value with ``variables``."""
        raise NotImplementedError

    def names(self) -> set[tuple[str, int]]:
        """The variables the node reads: (name, offset)."""
        return set()


@attrs.frozen
class Number(Node):
    """A numeric or Boolean literal."""

    value: Value

    def evaluate(self, variables: Mapping[str, Value]) -> Value:
        return self.value


@attrs.frozen
class Name(Node):
    """A variable."""

    name: str

    def evaluate(self, variables: Mapping[str, Value]) -> Value:
        return variables[self.name]

    def names(self) -> set[tuple[str, int]]:
        return {(self.name, self.pos)}


@attrs.frozen
class Unary(Node):
    """``!x``, ``-x``, ``+x``."""

    op: str
    operand: Node

    def evaluate(self, variables: Mapping[str, Value]) -> Value:
        value = self.operand.evaluate(variables)
        if self.op == "!":
            return not _truthy(value)
        return -_num(value) if self.op == "-" else _num(value)

    def names(self) -> set[tuple[str, int]]:
        return self.operand.names()


@attrs.frozen
class Binary(Node):
    """An arithmetic, comparison or bitwise operator."""

    op: str
    left: Node
    right: Node

    def evaluate(self, variables: Mapping[str, Value]) -> Value:
        return _BINARY[self.op](self.left.evaluate(variables), self.right.evaluate(variables))

    def names(self) -> set[tuple[str, int]]:
        return self.left.names() | self.right.names()


@attrs.frozen
class Logical(Node):
    """``a || b`` and ``a && b``, short-circuit, with JavaScript's value semantics."""

    op: str
    left: Node
    right: Node

    def evaluate(self, variables: Mapping[str, Value]) -> Value:
        left = self.left.evaluate(variables)
        if self.op == "&&":
            return self.right.evaluate(variables) if _truthy(left) else left
        return left if _truthy(left) else self.right.evaluate(variables)

    def names(self) -> set[tuple[str, int]]:
        return self.left.names() | self.right.names()


@attrs.frozen
class Conditional(Node):
    """``test ? a : b``."""

    test: Node
    then: Node
    otherwise: Node

    def evaluate(self, variables: Mapping[str, Value]) -> Value:
        branch = self.then if _truthy(self.test.evaluate(variables)) else self.otherwise
        return branch.evaluate(variables)

    def names(self) -> set[tuple[str, int]]:
        return self.test.names() | self.then.names() | self.otherwise.names()


@attrs.frozen
class Call(Node):
    """``Math.f(args)``."""

    function: str
    args: tuple[Node, ...]

    def evaluate(self, variables: Mapping[str, Value]) -> Value:
        func, _ = MATH_FUNCTIONS[self.function]
        values = [_num(a.evaluate(variables)) for a in self.args]
        if any(math.isnan(v) for v in values):
            return math.nan
        try:
            return float(func(*values))
        except (ValueError, OverflowError):
            return math.nan

    def names(self) -> set[tuple[str, int]]:
        return set().union(*(a.names() for a in self.args)) if self.args else set()


# -- parsing ---------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = importlib.resources.files("processes.subframeselector").joinpath("expression.lark").read_text("utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)


class _Syntax(Exception):
    """A construct outside the supported subset, at ``pos``."""

    def __init__(self, pos: int, what: str) -> None:
        super().__init__(what)
        self.pos = pos
        self.what = what


def _pos(item: Any) -> int:
    if isinstance(item, Token):
        return int(item.start_pos or 0)
    if isinstance(item, Node):
        return item.pos
    return int(getattr(getattr(item, "meta", None), "start_pos", 0) or 0)


@v_args(inline=True)
class _ToTree(Transformer):
    """Lark parse tree -> :class:`Node` tree."""

    def start(self, *statements: Node | None) -> tuple[Node, ...]:
        return tuple(_plain(s) for s in statements if s is not None)

    def number(self, token: Token) -> Node:
        return Number(_pos(token), float(token))

    def name(self, token: Token) -> Node:
        text = str(token)
        if text in _LITERALS:
            return Number(_pos(token), _LITERALS[text])
        return Name(_pos(token), text)

    def member(self, obj: Node, attr: Token) -> Node:
        if not (isinstance(obj, _MathRef) or (isinstance(obj, Name) and obj.name == "Math")):
            raise _Syntax(_pos(attr), f"'.{attr}': only Math.<function> and Math.<constant> are supported")
        name = str(attr)
        if name in MATH_CONSTANTS:
            return _MathRef(obj.pos, name, MATH_CONSTANTS[name])
        if name in MATH_FUNCTIONS:
            return _MathRef(obj.pos, name, None)
        known = list(MATH_CONSTANTS) + list(MATH_FUNCTIONS)
        raise _Syntax(_pos(attr), f"Math has no member '{name}'{suggest(name, known)}")

    def call(self, callee: Node, *args: Node | None) -> Node:
        if not isinstance(callee, _MathRef) or callee.value is not None:
            raise _Syntax(callee.pos, "only Math functions can be called")
        arguments = tuple(a for a in args if a is not None)
        _, count = MATH_FUNCTIONS[callee.name]
        if count is not None and len(arguments) != count:
            raise _Syntax(callee.pos, f"Math.{callee.name} takes {count} argument{'s' if count != 1 else ''}, "
                          f"not {len(arguments)}")
        return Call(callee.pos, callee.name, arguments)

    def unary(self, op: Token, operand: Node) -> Node:
        return Unary(_pos(op), str(op), _plain(operand))

    def binary(self, left: Node, op: Token, right: Node) -> Node:
        return Binary(_pos(left), str(op), _plain(left), _plain(right))

    def logical(self, left: Node, op: Token, right: Node) -> Node:
        return Logical(_pos(left), str(op), _plain(left), _plain(right))

    def conditional(self, test: Node, then: Node, otherwise: Node) -> Node:
        return Conditional(_pos(test), _plain(test), _plain(then), _plain(otherwise))


@attrs.frozen
class _MathRef(Node):
    """``Math.NAME`` while parsing: a constant (``value``) or a function to be called."""

    name: str
    value: float | None

    def evaluate(self, variables: Mapping[str, Value]) -> Value:
        return math.nan if self.value is None else self.value


def _plain(node: Node) -> Node:
    if isinstance(node, _MathRef):
        if node.value is None:
            raise _Syntax(node.pos, f"Math.{node.name} is a function: call it, Math.{node.name}(...)")
        return Number(node.pos, node.value)
    return node


def _expected(exc: UnexpectedInput) -> str:
    expected = sorted(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ())
    pretty = {"NUMBER": "a number", "NAME": "a name", "LPAR": "'('", "RPAR": "')'", "UNOP": "'!', '-', '+'",
              "ADDOP": "'+', '-'", "MULOP": "'*', '/', '%'", "RELOP": "a comparison", "EQOP": "'==', '!='",
              "AND": "'&&'", "OR": "'||'", "BAND": "'&'", "BOR": "'|'", "BXOR": "'^'", "COLON": "':'",
              "QMARK": "'?'", "POW": "'**'", "COMMA": "','", "DOT": "'.'"}
    shown = [pretty.get(e, e) for e in expected if not e.startswith("__")][:6]
    return f" (expected {', '.join(shown)})" if shown else ""


@attrs.frozen
class Expression:
    """A parsed expression: its text, the parameter it came from, and its statements."""

    text: str
    parameter: str
    statements: tuple[Node, ...]

    @property
    def empty(self) -> bool:
        """True for a blank expression (only white space and comments)."""
        return not self.statements

    def check_names(self, known: Sequence[str]) -> None:
        """Raise ExpressionError at the first variable that is not in ``known``."""
        allowed = set(known)
        used = set().union(*(s.names() for s in self.statements)) if self.statements else set()
        for name, pos in sorted(used, key=lambda item: item[1]):
            if name not in allowed:
                raise _error(self.parameter, self.text, pos, f"unknown variable '{name}'{suggest(name, list(known))}")

    def evaluate(self, variables: Mapping[str, Value]) -> Value:
        """The value of the last statement with ``variables`` (call :meth:`check_names` first)."""
        value: Value = math.nan
        for statement in self.statements:
            try:
                value = statement.evaluate(variables)
            except KeyError as exc:
                name = str(exc.args[0])
                pos = min((p for n, p in statement.names() if n == name), default=statement.pos)
                raise _error(self.parameter, self.text, pos, f"unknown variable '{name}'") from None
        return value


@functools.lru_cache(maxsize=64)
def compile_expression(text: str, parameter: str) -> Expression:
    """Parse ``text`` (the value of ``parameter``); ExpressionError with the position on bad syntax."""
    try:
        tree = _parser().parse(text)
        statements = _ToTree().transform(tree)
    except UnexpectedEOF as exc:
        raise _error(parameter, text, len(text), f"unexpected end of expression{_expected(exc)}") from None
    except UnexpectedCharacters as exc:
        raise _error(parameter, text, exc.pos_in_stream, f"unexpected character {text[exc.pos_in_stream]!r}") from None
    except UnexpectedToken as exc:
        token = exc.token
        if token.type == "$END":
            raise _error(parameter, text, len(text), f"unexpected end of expression{_expected(exc)}") from None
        raise _error(parameter, text, _pos(token), f"unexpected {str(token)!r}{_expected(exc)}") from None
    except UnexpectedInput as exc:  # pragma: no cover - other Lark input errors
        raise _error(parameter, text, getattr(exc, "pos_in_stream", 0) or 0, "syntax error") from None
    except Exception as exc:  # a _Syntax raised inside the transformer arrives wrapped in VisitError
        inner = getattr(exc, "orig_exc", exc)
        if isinstance(inner, _Syntax):
            raise _error(parameter, text, inner.pos, inner.what) from None
        raise
    return Expression(text=text, parameter=parameter, statements=statements)
