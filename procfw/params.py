"""Parameter kinds, as PixInsight's MetaParameter family, and the :func:`param` field wrapper.

A kind is a frozen value describing one parameter: its rule (range, precision, elements,
allowed characters, columns...), its default, and how its values travel:

``convert(value)``
    tolerant input (Python values, console literals, text) -> the canonical value, or a
    :class:`ParameterError` naming the value and the rule it broke;
``format(value)`` / ``parse(text)``
    the text written to files (XPSM ``value=`` attributes, element text) and back;
``console(value)``
    the literal that recreates the value on a console command line;
``to_json(value)``
    a JSON-compatible value (``convert`` reads it back);
``describe()``
    one line for ``help``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import attrs

from procfw.errors import ParameterError, SchemaError
from procfw.names import suggest

__all__ = [
    "Block",
    "Boolean",
    "Double",
    "Enumeration",
    "Float",
    "FloatBlock",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "ParameterKind",
    "String",
    "Table",
    "UInt8",
    "UInt16",
    "UInt32",
    "UInt64",
    "kind_of",
    "param",
]

_TRUE_WORDS = frozenset({"true", "1", "yes", "on", "+"})
_FALSE_WORDS = frozenset({"false", "0", "no", "off", "-"})


def _as_tuple(values: Iterable[str]) -> tuple[str, ...]:
    """``tuple(values)``, as a Python function: attrs reads a converter's signature for every class that
    declares or inherits the field, and ``inspect`` parses a builtin's text signature to give it
    (~0.1 ms each, for every parameter kind)."""
    return tuple(values)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@attrs.frozen(kw_only=True)
class ParameterKind:
    """Common metadata of every parameter kind.

    ``id`` is the parameter id (PixInsight's, camelCase); it is filled in from the field
    name when the kind is declared with :func:`param`.  ``aliases`` are old ids accepted
    on input.  ``read_only`` parameters are outputs: reported by the process, settable
    only when an icon is loaded.
    """

    kind_name: ClassVar[str] = "Parameter"

    id: str = ""
    description: str = ""
    aliases: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple)
    required: bool = False
    read_only: bool = False

    # -- the contract every kind implements -----------------------------------------
    @property
    def default_value(self) -> Any:
        """The value a new instance gets."""
        return getattr(self, "default", None)

    def convert(self, value: Any) -> Any:
        """Tolerant input -> canonical value; raises ParameterError naming the rule."""
        raise NotImplementedError

    def format(self, value: Any) -> str:
        """The text written to files for ``value``."""
        return str(value)

    def parse(self, text: str) -> Any:
        """Read text written by :meth:`format` (or by PixInsight) back into a value."""
        return self.convert(text)

    def console(self, value: Any) -> str:
        """The console literal for ``value``."""
        return self.format(value)

    def to_json(self, value: Any) -> Any:
        """A JSON-compatible form of ``value``."""
        return value

    def rule(self) -> str:
        """The rule a value must obey, in words (used in errors and help)."""
        return self.kind_name

    def invalid_examples(self) -> list[Any]:
        """Values this kind must reject (generated from its rule; used by conformance tests)."""
        return [object()]

    def describe(self) -> str:
        """One line for ``help``: kind, rule and default."""
        flags = []
        if self.read_only:
            flags.append("read-only output")
        if self.required:
            flags.append("required")
        extra = f" [{', '.join(flags)}]" if flags else ""
        default = "" if self.read_only else f"; default {self.console(self.default_value)}"
        return f"{self.rule()}{default}{extra}"

    def with_id(self, id_: str) -> ParameterKind:
        """This kind with its parameter id set."""
        return attrs.evolve(self, id=id_)

    def _error(self, value: Any, why: str) -> ParameterError:
        name = self.id or self.kind_name
        return ParameterError(f"parameter {name} = {_short(value)}: {why}")


def _normalize_default(kind: ParameterKind) -> None:
    """Convert a kind's declared default to canonical form; a bad default is a schema error."""
    try:
        object.__setattr__(kind, "default", kind.convert(kind.default_value))
    except ParameterError as exc:
        raise SchemaError(f"{kind.kind_name} {kind.id}: bad default: {exc}") from None


# -- Boolean -----------------------------------------------------------------------------
@attrs.frozen(kw_only=True)
class Boolean(ParameterKind):
    """A true/false switch (console ``-name+`` / ``-name-``)."""

    kind_name: ClassVar[str] = "Boolean"
    default: bool = False

    def __attrs_post_init__(self) -> None:
        _normalize_default(self)

    def convert(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _TRUE_WORDS:
                return True
            if word in _FALSE_WORDS:
                return False
        raise self._error(value, "must be a Boolean: true or false")

    def format(self, value: Any) -> str:
        return "true" if value else "false"

    def rule(self) -> str:
        return "Boolean (true/false)"

    def invalid_examples(self) -> list[Any]:
        return ["maybe", 2, None]


# -- Integers ----------------------------------------------------------------------------
@attrs.frozen(kw_only=True)
class _Integer(ParameterKind):
    """An integer of a fixed width, optionally narrowed by ``minimum``/``maximum``."""

    bits: ClassVar[int] = 32
    signed: ClassVar[bool] = True
    default: int = 0
    minimum: int | None = None
    maximum: int | None = None

    def __attrs_post_init__(self) -> None:
        low, high = self.type_range()
        for name, bound in (("minimum", self.minimum), ("maximum", self.maximum)):
            if bound is not None and not low <= bound <= high:
                raise SchemaError(f"{self.kind_name} {self.id or ''} {name} {bound} is outside [{low}, {high}]")
        _normalize_default(self)

    @classmethod
    def type_range(cls) -> tuple[int, int]:
        """The range of the integer type itself."""
        if cls.signed:
            return -(1 << (cls.bits - 1)), (1 << (cls.bits - 1)) - 1
        return 0, (1 << cls.bits) - 1

    def bounds(self) -> tuple[int, int]:
        """The accepted range: the type's, narrowed by minimum/maximum."""
        low, high = self.type_range()
        return (low if self.minimum is None else self.minimum, high if self.maximum is None else self.maximum)

    def convert(self, value: Any) -> int:
        number: int
        if isinstance(value, bool):
            raise self._error(value, f"must be an integer ({self.rule()}), not a Boolean")
        if isinstance(value, int) or (hasattr(value, "dtype") and value.dtype.kind in "iu"):
            number = int(value)
        elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            number = int(value)
        else:
            raise self._error(value, f"must be an integer ({self.rule()})")
        low, high = self.bounds()
        if not low <= number <= high:
            raise self._error(value, f"out of range: must be in [{low}, {high}]")
        return number

    def rule(self) -> str:
        low, high = self.bounds()
        return f"{self.kind_name} in [{low}, {high}]"

    def invalid_examples(self) -> list[Any]:
        low, high = self.bounds()
        return [low - 1, high + 1, 1.5, "one", True]


@attrs.frozen(kw_only=True)
class Int8(_Integer):
    """Signed 8-bit integer."""

    kind_name: ClassVar[str] = "Int8"
    bits: ClassVar[int] = 8


@attrs.frozen(kw_only=True)
class Int16(_Integer):
    """Signed 16-bit integer."""

    kind_name: ClassVar[str] = "Int16"
    bits: ClassVar[int] = 16


@attrs.frozen(kw_only=True)
class Int32(_Integer):
    """Signed 32-bit integer."""

    kind_name: ClassVar[str] = "Int32"
    bits: ClassVar[int] = 32


@attrs.frozen(kw_only=True)
class Int64(_Integer):
    """Signed 64-bit integer."""

    kind_name: ClassVar[str] = "Int64"
    bits: ClassVar[int] = 64


@attrs.frozen(kw_only=True)
class UInt8(_Integer):
    """Unsigned 8-bit integer."""

    kind_name: ClassVar[str] = "UInt8"
    bits: ClassVar[int] = 8
    signed: ClassVar[bool] = False


@attrs.frozen(kw_only=True)
class UInt16(_Integer):
    """Unsigned 16-bit integer."""

    kind_name: ClassVar[str] = "UInt16"
    bits: ClassVar[int] = 16
    signed: ClassVar[bool] = False


@attrs.frozen(kw_only=True)
class UInt32(_Integer):
    """Unsigned 32-bit integer."""

    kind_name: ClassVar[str] = "UInt32"
    bits: ClassVar[int] = 32
    signed: ClassVar[bool] = False


@attrs.frozen(kw_only=True)
class UInt64(_Integer):
    """Unsigned 64-bit integer."""

    kind_name: ClassVar[str] = "UInt64"
    bits: ClassVar[int] = 64
    signed: ClassVar[bool] = False


# -- Reals -------------------------------------------------------------------------------
@attrs.frozen(kw_only=True)
class _Real(ParameterKind):
    """A real number with optional bounds, written with ``precision`` decimals.

    ``precision`` is PCL's ``MetaReal::Precision()``: the number of decimals PixInsight
    writes (``%.Nf``; with ``scientific``, ``%.Ne``), at most 7 for a 32-bit Float and 16
    for a Double.  :meth:`format` (the text of XPSM files and PJSR scripts) rounds to it,
    as PixInsight does: STF's ``m`` = 0.123456789 is written ``0.12346``.  With
    ``general`` (PCL's negative precision, C's ``%g``) nothing is rounded away: the value
    is written with as many significant digits as it needs.  :meth:`console` (console
    literals) and JSON keep every value exactly.  The bounds must be values the declared
    precision can write, so a written value never reads back out of range.
    """

    max_decimals: ClassVar[int] = 16

    default: float = 0.0
    minimum: float | None = None
    maximum: float | None = None
    precision: int = 6
    scientific: bool = False
    general: bool = False
    allow_nonfinite: bool = False

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.precision <= 17:
            raise SchemaError(f"{self.kind_name} {self.id}: precision {self.precision} must be in [0, 17]")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise SchemaError(f"{self.kind_name} {self.id}: minimum {self.minimum} > maximum {self.maximum}")
        for name, bound in (("minimum", self.minimum), ("maximum", self.maximum)):
            written = None if bound is None or not math.isfinite(bound) else float(self.format(bound))
            if written is not None and self._round(written) != self._round(bound):
                raise SchemaError(f"{self.kind_name} {self.id}: {name} {bound!r} cannot be written with "
                                  f"precision {self.precision} (it would read back as {self.format(bound)})")
        _normalize_default(self)

    @property
    def decimals(self) -> int:
        """The digits PixInsight writes: ``precision``, at most 7 for a Float and 16 for a Double."""
        return min(self.precision, self.max_decimals)

    def _round(self, number: float) -> float:
        return number

    def convert(self, value: Any) -> float:
        if isinstance(value, bool):
            raise self._error(value, f"must be a number ({self.rule()}), not a Boolean")
        try:
            if isinstance(value, str):
                number = float(value.strip())
            elif isinstance(value, (int, float)) or hasattr(value, "__float__"):
                number = float(value)
            else:
                raise TypeError
        except (TypeError, ValueError, OverflowError):
            raise self._error(value, f"must be a number ({self.rule()})") from None
        if not math.isfinite(number) and not self.allow_nonfinite:
            raise self._error(value, "must be a finite number")
        number = self._round(number)
        # the bounds compared at the kind's own width: a Float's maximum of 0.2 is reached by
        # float32(0.2), which is a little more than 0.2
        if self.minimum is not None and number < self._round(self.minimum):
            raise self._error(value, f"out of range: must be >= {self.console(self.minimum)} ({self.rule()})")
        if self.maximum is not None and number > self._round(self.maximum):
            raise self._error(value, f"out of range: must be <= {self.console(self.maximum)} ({self.rule()})")
        return number

    def _exact_text(self, number: float) -> str:
        return repr(number)

    def format(self, value: Any) -> str:
        """PixInsight's text: rounded to :attr:`decimals` (``%.Nf``/``%.Ne``); exact with ``general``."""
        number = float(value)
        if not math.isfinite(number) or self.general:
            return self.console(number)
        text = f"{number:.{self.decimals}{'e' if self.scientific else 'f'}}"
        try:
            self._round(float(text))
        except ParameterError:  # rounded past the largest Float
            return self.console(number)
        return text if math.isfinite(float(text)) else self.console(number)  # nor past the largest Double

    def console(self, value: Any) -> str:
        """A literal that gives back exactly ``value``: the declared style when that is exact,
        else as many digits as it needs."""
        number = float(value)
        if not math.isfinite(number):
            return repr(number)
        style = "g" if self.general else "e" if self.scientific else "f"
        fixed = f"{number:.{self.decimals}{style}}"
        return fixed if self._round(float(fixed)) == number else self._exact_text(number)

    def parse(self, text: str) -> float:
        return self.convert(text)

    def to_json(self, value: Any) -> Any:
        return float(value) if math.isfinite(value) else repr(float(value))

    def rule(self) -> str:
        low = "-inf" if self.minimum is None else self.console(self.minimum)
        high = "+inf" if self.maximum is None else self.console(self.maximum)
        notation = "significant digits" if self.scientific or self.general else "decimals"
        return f"{self.kind_name} in [{low}, {high}], {self.precision} {notation}"

    def invalid_examples(self) -> list[Any]:
        bad: list[Any] = ["not a number", True]
        if self.minimum is not None:
            bad.append(self.minimum - max(1.0, abs(self.minimum)))
        if self.maximum is not None:
            bad.append(self.maximum + max(1.0, abs(self.maximum)))
        if not self.allow_nonfinite:
            bad.append(float("nan"))
        return bad


@attrs.frozen(kw_only=True)
class Double(_Real):
    """64-bit real (PixInsight MetaDouble)."""

    kind_name: ClassVar[str] = "Double"


@attrs.frozen(kw_only=True)
class Float(_Real):
    """32-bit real (PixInsight MetaFloat): values are rounded to float32 on input."""

    kind_name: ClassVar[str] = "Float"
    max_decimals: ClassVar[int] = 7

    def _round(self, number: float) -> float:
        import numpy as np

        if math.isfinite(number) and abs(number) > float(np.finfo(np.float32).max):
            raise self._error(number, "out of range of a 32-bit float")
        return float(np.float32(number))

    def _exact_text(self, number: float) -> str:
        import numpy as np

        return np.format_float_positional(np.float32(number), unique=True, trim="-")


# -- Enumeration -------------------------------------------------------------------------
def _as_elements(value: Any) -> tuple[tuple[str, int], ...]:
    items = list(value.items()) if isinstance(value, Mapping) else list(value)
    out: list[tuple[str, int]] = []
    for index, item in enumerate(items):
        out.append((item, index) if isinstance(item, str) else (str(item[0]), int(item[1])))
    return tuple(out)


@attrs.frozen(kw_only=True)
class Enumeration(ParameterKind):
    """One of a fixed set of named elements (PixInsight MetaEnumeration).

    ``elements`` are ids (values 0, 1, ...) or (id, value) pairs; ``element_aliases``
    map old element ids to current ones.  Values are element ids; the integer value,
    as PixInsight's JavaScript uses it, is :meth:`value_of`.
    """

    kind_name: ClassVar[str] = "Enumeration"
    elements: tuple[tuple[str, int], ...] = attrs.field(converter=_as_elements)
    default: str = ""
    element_aliases: Mapping[str, str] = attrs.field(factory=dict, converter=lambda m: dict(m))

    def __attrs_post_init__(self) -> None:
        if not self.elements:
            raise SchemaError(f"Enumeration {self.id}: no elements")
        ids = self.element_ids()
        if len(set(ids)) != len(ids):
            raise SchemaError(f"Enumeration {self.id}: duplicate element ids {ids}")
        if not self.default:
            object.__setattr__(self, "default", ids[0])
        _normalize_default(self)
        for alias, target in self.element_aliases.items():
            if target not in ids:
                raise SchemaError(f"Enumeration {self.id}: alias {alias} names unknown element {target}")

    def element_ids(self) -> list[str]:
        """Element ids in declaration order."""
        return [e for e, _ in self.elements]

    def value_of(self, element: str) -> int:
        """The integer value of an element id."""
        return dict(self.elements)[self.convert(element)]

    def convert(self, value: Any) -> str:
        ids = self.element_ids()
        if isinstance(value, str):
            word = value.strip()
            if word in ids:
                return word
            if word in self.element_aliases:
                return self.element_aliases[word]
            folded = {e.lower(): e for e in [*ids, *self.element_aliases]}
            if word.lower() in folded:
                return self.convert(folded[word.lower()])
        elif isinstance(value, int) and not isinstance(value, bool):
            for element, number in self.elements:
                if number == value:
                    return element
        hint = suggest(str(value), ids) if isinstance(value, str) else ""
        raise self._error(value, f"not an element of this enumeration{hint}; expected one of {', '.join(ids)}")

    def rule(self) -> str:
        return f"Enumeration of {', '.join(self.element_ids())}"

    def invalid_examples(self) -> list[Any]:
        return ["NoSuchElement_", max(v for _, v in self.elements) + 1]


# -- String ------------------------------------------------------------------------------
def _quote(text: str) -> str:
    escaped = (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    )
    return f'"{escaped}"'


@attrs.frozen(kw_only=True)
class String(ParameterKind):
    """Text, optionally restricted to ``allowed_characters`` and a length range."""

    kind_name: ClassVar[str] = "String"
    default: str = ""
    allowed_characters: str | None = None
    min_length: int = 0
    max_length: int | None = None

    def __attrs_post_init__(self) -> None:
        _normalize_default(self)

    def convert(self, value: Any) -> str:
        if not isinstance(value, str):
            raise self._error(value, "must be a string")
        if len(value) < self.min_length:
            raise self._error(value, f"too short: at least {self.min_length} characters")
        if self.max_length is not None and len(value) > self.max_length:
            raise self._error(value, f"too long: at most {self.max_length} characters")
        if self.allowed_characters is not None:
            bad = sorted({c for c in value if c not in self.allowed_characters})
            if bad:
                raise self._error(value, f"character(s) {''.join(bad)!r} not allowed ({self.rule()})")
        return value

    def parse(self, text: str) -> str:
        return self.convert(text)

    def console(self, value: Any) -> str:
        return _quote(str(value))

    def rule(self) -> str:
        parts = ["String"]
        if self.min_length or self.max_length is not None:
            high = "" if self.max_length is None else str(self.max_length)
            parts.append(f"length {self.min_length}..{high}")
        if self.allowed_characters is not None:
            parts.append(f"characters from {self.allowed_characters!r}")
        return ", ".join(parts)

    def invalid_examples(self) -> list[Any]:
        bad: list[Any] = [42]
        if self.max_length is not None:
            bad.append("x" * (self.max_length + 1))
        if self.allowed_characters is not None:
            outside = next((c for c in "\x00!@#$%^&*~ ?" if c not in self.allowed_characters), None)
            if outside is not None:
                bad.append(outside * max(1, self.min_length))
        return bad


# -- Block -------------------------------------------------------------------------------
_BYTE_LIST = re.compile(r"0x[0-9a-fA-F]{2}(?:,0x[0-9a-fA-F]{2})*")


@attrs.frozen(kw_only=True)
class Block(ParameterKind):
    """Opaque bytes (PixInsight MetaBlock).

    In files as PixInsight writes them, a list of bytes (``0x01,0x01,0x00``); hexadecimal
    digits (``010100``, the console's and JSON's form) are read too."""

    kind_name: ClassVar[str] = "Block"
    default: bytes = b""

    def convert(self, value: Any) -> bytes:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        if isinstance(value, str):
            text = re.sub(r"\s+", "", value)
            if text.lower().startswith("hex:"):
                text = text[4:]
            if _BYTE_LIST.fullmatch(text):
                return bytes(int(item, 16) for item in text.split(","))
            try:
                return bytes.fromhex(text)
            except ValueError:
                raise self._error(value, "must be bytes given as hexadecimal digits or 0x.. bytes") from None
        raise self._error(value, "must be bytes given as hexadecimal digits")

    def format(self, value: Any) -> str:
        return ",".join(f"0x{byte:02x}" for byte in bytes(value))

    def console(self, value: Any) -> str:
        return f'"{bytes(value).hex()}"'

    def to_json(self, value: Any) -> Any:
        return bytes(value).hex()

    def rule(self) -> str:
        return "Block of bytes (hexadecimal)"

    def invalid_examples(self) -> list[Any]:
        return ["zz", 12]


@attrs.frozen(kw_only=True)
class FloatBlock(Block):
    """A block of real numbers (a PixInsight MetaBlock whose data are Float32 or Float64
    values: scaling functions, kernels, noise coefficients).

    A value is a tuple of floats.  In files as PixInsight writes them, the numbers separated
    by commas, each with at most ``decimals`` decimals and no trailing zeros
    (``0.0625,0.25,0.375,0.25,0.0625``); a list of numbers (console, JSON) is read too.
    """

    default: tuple[float, ...] = ()
    decimals: int = 6
    min_length: int = 0

    def __attrs_post_init__(self) -> None:
        _normalize_default(self)

    def convert(self, value: Any) -> tuple[float, ...]:
        if isinstance(value, str):
            text = re.sub(r"\s+", "", value).strip("[]")
            items: Sequence[Any] = [item for item in text.split(",") if item] if text else []
        elif isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
            items = value
        else:
            raise self._error(value, "must be a list of numbers")
        out = []
        for item in items:
            if isinstance(item, bool):
                raise self._error(value, f"{item!r} is not a number")
            try:
                number = float(item)
            except (TypeError, ValueError):
                raise self._error(value, f"{item!r} is not a number") from None
            if not math.isfinite(number):
                raise self._error(value, f"{item!r} is not a finite number")
            out.append(number)
        if len(out) < self.min_length:
            raise self._error(value, f"needs at least {self.min_length} numbers, got {len(out)}")
        return tuple(out)

    def format(self, value: Any) -> str:
        return ",".join(_plain_number(number, self.decimals) for number in value)

    def console(self, value: Any) -> str:
        return "[" + ",".join(_plain_number(number, 17) for number in value) + "]"

    def to_json(self, value: Any) -> Any:
        return list(value)

    def rule(self) -> str:
        return f"Block of real numbers (at least {self.min_length})"

    def invalid_examples(self) -> list[Any]:
        return ["0.5,zz", 12]


def _plain_number(number: float, decimals: int) -> str:
    """``number`` with at most ``decimals`` decimals and no trailing zeros (``1``, ``0.0625``);
    17 decimals: the shortest text that reads back exactly."""
    if decimals >= 17:
        text = repr(float(number))
        return text[:-2] if text.endswith(".0") else text
    text = f"{number:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# -- Table -------------------------------------------------------------------------------
def _as_columns(columns: Sequence[ParameterKind]) -> tuple[ParameterKind, ...]:
    return tuple(columns)


@attrs.frozen(kw_only=True)
class Table(ParameterKind):
    """Rows of typed cells (PixInsight MetaTable); ``columns`` are kinds with ids.

    A value is a tuple of rows, each a tuple of cells in column order.  Rows may be given
    as sequences (column order) or mappings (by column id; missing cells take the
    column default).
    """

    kind_name: ClassVar[str] = "Table"
    columns: tuple[ParameterKind, ...] = attrs.field(converter=_as_columns)
    default: tuple[tuple[Any, ...], ...] = ()
    min_rows: int = 0
    max_rows: int | None = None

    def __attrs_post_init__(self) -> None:
        if not self.columns:
            raise SchemaError(f"Table {self.id}: no columns")
        ids = [c.id for c in self.columns]
        if not all(ids) or len(set(ids)) != len(ids):
            raise SchemaError(f"Table {self.id}: every column needs a unique id, got {ids}")
        _normalize_default(self)

    def column(self, id_: str) -> ParameterKind:
        """The column called ``id_`` (or one of its aliases)."""
        for col in self.columns:
            if id_ == col.id or id_ in col.aliases:
                return col
        raise self._error(id_, f"no such column; columns are {', '.join(c.id for c in self.columns)}")

    def row_from_cells(self, cells: Mapping[str, Any]) -> dict[str, Any]:
        """Map cell ids (or column aliases) to canonical column ids."""
        return {self.column(k).id: v for k, v in cells.items()}

    def convert(self, value: Any) -> tuple[tuple[Any, ...], ...]:
        if isinstance(value, str):
            from procfw.literals import TooManyItemsError, parse_literal

            try:
                value = parse_literal(value, max_items=self.max_rows)  # refused while parsing, not after
            except TooManyItemsError:
                raise self._error(value, f"allows at most {self.max_rows} rows, got more") from None
            except ValueError as exc:
                raise self._error(value, f"not a table literal: {exc}") from None
        if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
            raise self._error(value, "must be a list of rows")
        rows = list(value)
        if len(rows) < self.min_rows:
            raise self._error(value, f"needs at least {self.min_rows} rows, got {len(rows)}")
        if self.max_rows is not None and len(rows) > self.max_rows:
            raise self._error(value, f"allows at most {self.max_rows} rows, got {len(rows)}")
        return tuple(self._convert_row(i, row) for i, row in enumerate(rows))

    def _convert_row(self, index: int, row: Any) -> tuple[Any, ...]:
        if isinstance(row, Mapping):
            cells = self.row_from_cells(row)
            row = [cells.get(col.id, col.default_value) for col in self.columns]
        if not isinstance(row, Sequence) or isinstance(row, (str, bytes)):
            raise self._error(row, f"row {index} must be a list of {len(self.columns)} cells")
        if len(row) != len(self.columns):
            names = ", ".join(c.id for c in self.columns)
            raise self._error(row, f"row {index} has {len(row)} cells; expected {len(self.columns)} ({names})")
        out = []
        for col, cell in zip(self.columns, row):
            try:
                out.append(col.convert(cell))
            except ParameterError as exc:
                raise self._error(cell, f"row {index}, column {col.id}: {exc}") from None
        return tuple(out)

    def console(self, value: Any) -> str:
        rows = ",".join("[" + ",".join(c.console(v) for c, v in zip(self.columns, row)) + "]" for row in value)
        return f"[{rows}]"

    def format(self, value: Any) -> str:
        return self.console(value)

    def to_json(self, value: Any) -> Any:
        return [[c.to_json(v) for c, v in zip(self.columns, row)] for row in value]

    def rule(self) -> str:
        rows = f"{self.min_rows}..{'' if self.max_rows is None else self.max_rows} rows"
        return f"Table of ({', '.join(f'{c.id}: {c.kind_name}' for c in self.columns)}), {rows}"

    def invalid_examples(self) -> list[Any]:
        bad: list[Any] = [42, [[None] * (len(self.columns) + 1)]]
        if self.max_rows is not None:
            row = tuple(c.default_value for c in self.columns)
            bad.append([row] * (self.max_rows + 1))
        return bad


# -- declaring parameters on a process ---------------------------------------------------
_KIND_KEY = "procfw.kind"


def _convert_field(value: Any, self_: Any, field: attrs.Attribute) -> Any:
    kind: ParameterKind = type(self_).__procfw_schema__.get(field.name) or field.metadata[_KIND_KEY]
    try:
        return kind.convert(value)
    except ParameterError as exc:
        owner = getattr(type(self_), "process_id", type(self_).__name__)
        raise ParameterError(f"{owner}: {exc}", parameter=field.name) from None


def param(kind: ParameterKind) -> Any:
    """Declare a process parameter of ``kind``: an attrs field with the kind as metadata.

    The field name is the parameter id; values are converted and validated on every
    construction and evolve.
    """
    if not isinstance(kind, ParameterKind):
        raise SchemaError(f"param() needs a ParameterKind, got {kind!r}")
    default = kind.default_value
    return attrs.field(
        default=default,
        converter=attrs.Converter(_convert_field, takes_self=True, takes_field=True),
        metadata={_KIND_KEY: kind},
    )


def kind_of(field: attrs.Attribute) -> ParameterKind | None:
    """The parameter kind of an attrs field declared with :func:`param`, or None."""
    kind = field.metadata.get(_KIND_KEY)
    return kind.with_id(field.name) if kind is not None and kind.id != field.name else kind
