"""The PixelMath abstract syntax tree: small immutable node classes.

Nodes are frozen and hashable, so structurally equal subexpressions compare equal (the
evaluator uses this to compute a repeated subexpression once).  Every node carries the
source offset of its first character (``pos``) for error messages; ``pos`` does not take
part in equality.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Assign",
    "Binary",
    "Call",
    "Directive",
    "Meta",
    "Name",
    "Node",
    "Number",
    "Program",
    "Unary",
]


@dataclass(frozen=True, slots=True)
class Number:
    """A numeric literal."""

    value: float
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Name:
    """An identifier: a symbol (variable or constant) or an image id, with an optional channel index."""

    id: str
    index: int | None = None
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Meta:
    """A metasymbol: ``$T``/``$target`` (the target), ``$M``/``$mask``, ``$A``/``$active``, ``$T<suffix>``."""

    id: str
    index: int | None = None
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Unary:
    """A prefix operator: ``-`` (sign change), ``+``, ``~`` (1 - x) or ``!`` (logical NOT)."""

    op: str
    operand: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Binary:
    """A binary operator; ``pos`` is the position of the operator."""

    op: str
    left: Node
    right: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Call:
    """A function call; ``name`` is the canonical function name (aliases resolved by the parser)."""

    name: str
    args: tuple[Node, ...]
    pos: int = field(default=0, compare=False)
    written: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Assign:
    """An assignment ``target op value`` (op is ``=``, ``+=``, ``-=``, ...)."""

    op: str
    target: Name
    value: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Directive:
    """A leading directive: ``.pragma arg, ...;`` or ``.symbols def, ...;``."""

    name: str
    args: tuple[str, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Program:
    """A parsed expression: its directives and its ``;``-separated statements, in order."""

    statements: tuple[Node, ...]
    directives: tuple[Directive, ...] = ()
    text: str = field(default="", compare=False)

    @property
    def is_empty(self) -> bool:
        """True when the expression has no statement (blank or comments only)."""
        return not self.statements


Node = Number | Name | Meta | Unary | Binary | Call | Assign
"""Any expression node."""


def walk(node: Node):  # type: ignore[no-untyped-def]
    """Yield ``node`` and every node below it (pre-order)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, Unary):
            stack.append(current.operand)
        elif isinstance(current, Binary):
            stack.extend((current.right, current.left))
        elif isinstance(current, Call):
            stack.extend(reversed(current.args))
        elif isinstance(current, Assign):
            stack.extend((current.value, current.target))
