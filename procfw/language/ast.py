"""The typed syntax tree of the console language.

Every node knows the 1-based ``line`` and ``column`` where it starts, so an error can
point at the statement, the argument or the variable that caused it.  Nodes are frozen
dataclasses; :mod:`procfw.language.parser` builds them, :mod:`procfw.console.session`
interprets them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "And",
    "Arg",
    "Arith",
    "Block",
    "Command",
    "Compare",
    "Condition",
    "Def",
    "DefParam",
    "Flag",
    "For",
    "IconDef",
    "IconRef",
    "If",
    "Let",
    "ListValue",
    "Literal",
    "Negate",
    "Node",
    "Not",
    "Number",
    "Option",
    "Or",
    "Program",
    "Statement",
    "Switch",
    "Text",
    "Value",
    "VarRef",
]


@dataclass(frozen=True)
class Node:
    """Base of every node: where it starts in the source."""

    line: int
    column: int


# -- values --------------------------------------------------------------------------------
@dataclass(frozen=True)
class VarRef(Node):
    """``$name``, ``${name}``, ``$1``, ``$@``, ``${f.stem}``, ``${1:-default}``.

    ``name`` is an identifier, a decimal argument number or ``@``; ``attr`` a path
    attribute (``stem``, ``name``, ``suffix``, ``parent``); ``default`` the text used
    when the variable is not set (``${name:-default}``); ``braced`` is True for ``${...}``.
    """

    name: str
    attr: str | None = None
    default: str | None = None
    braced: bool = False


@dataclass(frozen=True)
class Number(Node):
    """A number literal; ``text`` is how it was written."""

    value: int | float
    text: str


@dataclass(frozen=True)
class Text(Node):
    """A bare word or a string: literal pieces and variable references.

    ``kind`` is ``"word"`` (bare), ``"string"`` (double-quoted, interpolated) or ``"raw"``
    (single-quoted).  A word that is exactly one variable (``$x``) keeps the variable's
    value and type; anything else is text.
    """

    parts: tuple[str | VarRef, ...]
    kind: str
    text: str

    @property
    def single_var(self) -> VarRef | None:
        """The variable, when this is a bare word made of exactly one variable reference."""
        if self.kind == "word" and len(self.parts) == 1 and isinstance(self.parts[0], VarRef):
            return self.parts[0]
        return None

    @property
    def literal(self) -> str | None:
        """The text when it has no variables, else None."""
        if all(isinstance(p, str) for p in self.parts):
            return "".join(p for p in self.parts if isinstance(p, str))
        return None


@dataclass(frozen=True)
class ListValue(Node):
    """``[a, b, [c, d]]``."""

    items: tuple[Value, ...]


Value = Number | Text | ListValue


# -- command-line arguments ------------------------------------------------------------------
@dataclass(frozen=True)
class Option(Node):
    """``-name=value``."""

    name: str
    value: Value


@dataclass(frozen=True)
class Switch(Node):
    """``-name+`` (on) or ``-name-`` (off)."""

    name: str
    on: bool


@dataclass(frozen=True)
class Flag(Node):
    """``-name`` alone."""

    name: str


@dataclass(frozen=True)
class Literal(Node):
    """``--name``, or ``--name=value``."""

    name: str
    value: Value | None = None


Arg = Number | Text | ListValue | Option | Switch | Flag | Literal


# -- conditions ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Compare(Node):
    """``left OP right``; with ``op`` None, the truth of ``left``."""

    left: Value | Condition
    op: str | None = None
    right: Value | Condition | None = None


@dataclass(frozen=True)
class Not(Node):
    """``not x`` (``count`` nots)."""

    operand: Condition
    count: int = 1


@dataclass(frozen=True)
class And(Node):
    """``a and b and ...``."""

    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Or(Node):
    """``a or b or ...``."""

    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Arith(Node):
    """``left OP right`` with ``op`` one of ``+ - * / %``."""

    op: str
    left: Value | Condition
    right: Value | Condition


@dataclass(frozen=True)
class Negate(Node):
    """``- operand``."""

    operand: Value | Condition


Condition = Compare | Not | And | Or | Arith | Negate


# -- statements ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Block(Node):
    """``{ statements }``."""

    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class Command(Node):
    """``name args... [-> into]``: a built-in, registered or defined command, or a process."""

    name: Text
    args: tuple[Arg, ...] = ()
    into: Text | None = None


@dataclass(frozen=True)
class Let(Node):
    """``let name = expression`` (a value, or arithmetic and comparisons of values)."""

    name: str
    value: Value | Condition


@dataclass(frozen=True)
class For(Node):
    """``for var in iterable { body }``."""

    var: str
    iterable: Value
    body: Block


@dataclass(frozen=True)
class If(Node):
    """``if cond { body } else ...``."""

    condition: Condition
    body: Block
    orelse: Block | If | None = None


@dataclass(frozen=True)
class DefParam(Node):
    """A parameter of a defined command, with an optional default."""

    name: str
    default: Value | None = None


@dataclass(frozen=True)
class Def(Node):
    """``def name(params) { body }``."""

    name: str
    params: tuple[DefParam, ...]
    body: Block


@dataclass(frozen=True)
class IconRef(Node):
    """An icon in ``icon C = A, -B, D@M``: ``enabled`` is False for ``-B``; ``mask`` is the
    child's mask window (``@M``), ``mask_inverted`` True for ``@~M``."""

    name: str
    enabled: bool = True
    mask: str | None = None
    mask_inverted: bool = False


@dataclass(frozen=True)
class IconDef(Node):
    """``icon NAME = ProcessId args`` (``command``) or ``icon NAME = A, -B`` (``items``, and
    ``options`` such as ``--description="..."``)."""

    name: Text
    command: Command | None = None
    items: tuple[IconRef, ...] = ()
    options: tuple[Literal, ...] = ()


Statement = Command | Let | For | If | Def | IconDef


@dataclass(frozen=True)
class Program:
    """A parsed source: its statements, its file name and its text."""

    statements: tuple[Statement, ...]
    file: str
    source: str
