"""Every parameter kind: valid, boundary and invalid values, messages, and text round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from procfw.errors import ParameterError, SchemaError
from procfw.literals import parse_literal
from procfw.params import (
    Block,
    Boolean,
    Double,
    Enumeration,
    Float,
    Int8,
    Int16,
    Int32,
    Int64,
    String,
    Table,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
)

INTEGER_KINDS = [
    (Int8, -128, 127),
    (Int16, -32768, 32767),
    (Int32, -(2**31), 2**31 - 1),
    (Int64, -(2**63), 2**63 - 1),
    (UInt8, 0, 255),
    (UInt16, 0, 65535),
    (UInt32, 0, 2**32 - 1),
    (UInt64, 0, 2**64 - 1),
]


def rejects(kind, value, *fragments: str) -> str:
    with pytest.raises(ParameterError) as info:
        kind.convert(value)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


# -- Boolean ---------------------------------------------------------------------------
def test_boolean_accepts_words_and_bools():
    kind = Boolean(id="metric")
    assert kind.convert(True) is True
    assert kind.convert("false") is False
    assert kind.convert("TRUE") is True
    assert kind.convert(1) is True
    assert kind.format(True) == "true"
    assert kind.parse("false") is False


def test_boolean_rejects_other_values():
    rejects(Boolean(id="metric"), "maybe", "metric", "'maybe'", "Boolean")
    rejects(Boolean(id="metric"), 2, "metric")


# -- Integers --------------------------------------------------------------------------
@pytest.mark.parametrize(("cls", "low", "high"), INTEGER_KINDS)
def test_integer_type_bounds(cls, low, high):
    kind = cls(id="n")
    assert kind.convert(low) == low
    assert kind.convert(high) == high
    rejects(kind, low - 1, "n", "out of range", f"[{low}, {high}]")
    rejects(kind, high + 1, "n", "out of range")


def test_integer_narrowed_range_and_conversions():
    kind = Int32(id="zoomFactor", minimum=-8, maximum=8, default=1)
    assert kind.convert("-2") == -2
    assert kind.convert(3.0) == 3
    assert kind.convert(np.int16(4)) == 4
    rejects(kind, 9, "zoomFactor = 9", "[-8, 8]")
    rejects(kind, 1.5, "must be an integer")
    rejects(kind, True, "not a Boolean")
    rejects(kind, "two", "must be an integer")


def test_integer_schema_errors():
    with pytest.raises(SchemaError):
        UInt8(id="x", maximum=300)
    with pytest.raises(SchemaError):
        Int32(id="x", minimum=0, maximum=5, default=9)


# -- Reals -----------------------------------------------------------------------------
def test_double_range_precision_and_message():
    kind = Double(id="rejectHigh", minimum=0, maximum=1, default=0.92, precision=6)
    assert kind.default == 0.92
    assert kind.convert(0) == 0.0
    assert kind.convert(1) == 1.0
    assert kind.convert("0.5") == 0.5
    assert kind.format(0.5) == "0.500000"
    message = rejects(kind, 1.0000001, "rejectHigh = 1.0000001", "out of range", "<= 1.000000")
    assert "Double in [0.000000, 1.000000]" in message
    rejects(kind, -0.1, "out of range", ">= 0.000000")
    rejects(kind, "abc", "must be a number")
    rejects(kind, float("nan"), "finite")
    rejects(kind, True, "not a Boolean")


def test_double_format_rounds_as_pixinsight_and_console_never_loses_information():
    kind = Double(id="x", precision=2)
    assert kind.format(0.25) == "0.25"
    assert kind.format(0.5) == "0.50"
    assert kind.format(0.123456789) == "0.12"  # file text: PixInsight's %.2f
    assert kind.console(0.123456789) == "0.123456789"  # console literal: exact
    assert kind.console(0.5) == "0.50"
    assert kind.parse(kind.console(1 / 3)) == 1 / 3
    assert Double(id="g", precision=16, general=True).format(1 / 3) == repr(1 / 3)  # %g: nothing rounded away
    assert Float(id="f", precision=10).format(0.1) == "0.1000000"  # a Float has at most 7 decimals


def test_bounds_must_be_writable_at_the_declared_precision():
    with pytest.raises(SchemaError, match="cannot be written with precision 2"):
        Double(id="x", precision=2, minimum=0.001)


def test_scientific_notation():
    kind = Double(id="tolerance", precision=3, scientific=True, default=1e-5)
    assert kind.format(1e-5) == "1.000e-05"
    assert kind.parse("1.000e-05") == 1e-5


def test_float_rounds_to_float32():
    kind = Float(id="v0", precision=4, default=0.3)
    value = kind.convert(0.3)
    assert value == float(np.float32(0.3))
    assert kind.format(value) == "0.3000"
    assert kind.parse(kind.format(value)) == value
    rejects(kind, 1e39, "32-bit float")


def test_real_schema_errors():
    with pytest.raises(SchemaError):
        Double(id="x", minimum=1, maximum=0, default=0.5)
    with pytest.raises(SchemaError):
        Double(id="x", minimum=0, maximum=1, default=2)


# -- Enumeration -----------------------------------------------------------------------
def test_enumeration_ids_values_and_aliases():
    kind = Enumeration(
        id="interpolation",
        elements=[("Auto", 0), ("Bilinear", 2), ("Lanczos3", 5)],
        element_aliases={"Lanczos": "Lanczos3"},
        default="Auto",
    )
    assert kind.convert("Bilinear") == "Bilinear"
    assert kind.convert("bilinear") == "Bilinear"
    assert kind.convert("Lanczos") == "Lanczos3"
    assert kind.convert(5) == "Lanczos3"
    assert kind.value_of("Bilinear") == 2
    assert kind.format("Auto") == "Auto"
    message = rejects(kind, "Bilinar", "interpolation = 'Bilinar'", "not an element")
    assert "did you mean Bilinear?" in message
    rejects(kind, 4, "not an element")


def test_enumeration_default_is_first_element():
    assert Enumeration(id="m", elements=["A", "B"]).default == "A"
    with pytest.raises(SchemaError):
        Enumeration(id="m", elements=["A", "A"])
    with pytest.raises(SchemaError):
        Enumeration(id="m", elements=["A"], element_aliases={"Z": "Q"})


# -- String ----------------------------------------------------------------------------
def test_string_rules():
    kind = String(id="id", allowed_characters="abcdefghijklmnopqrstuvwxyz_", min_length=1, max_length=5, default="a")
    assert kind.convert("abc") == "abc"
    rejects(kind, "", "too short")
    rejects(kind, "abcdef", "too long", "at most 5")
    rejects(kind, "a-b", "'-'", "not allowed")
    rejects(kind, 3, "must be a string")
    assert kind.console('say "hi"\n') == '"say \\"hi\\"\\n"'


# -- Block -----------------------------------------------------------------------------
def test_block_hex():
    kind = Block(id="data")
    assert kind.convert("00ff10") == b"\x00\xff\x10"
    assert kind.format(b"\x01\x02") == "0x01,0x02"  # as PixInsight writes blocks in icons
    assert kind.convert("0x01,0x01,0x00") == b"\x01\x01\x00" == kind.parse(kind.format(b"\x01\x01\x00"))
    assert kind.convert(bytearray(b"ab")) == b"ab"
    rejects(kind, "xyz", "hexadecimal")


# -- Table -----------------------------------------------------------------------------
def h_table() -> Table:
    return Table(
        id="H",
        columns=[
            Double(id="c0", minimum=0, maximum=1, default=0.0, precision=8),
            Double(id="m", minimum=0, maximum=1, default=0.5, precision=8),
            Double(id="c1", minimum=0, maximum=1, default=1.0, precision=8),
        ],
        min_rows=1,
        max_rows=5,
        default=[[0, 0.5, 1]],
    )


def test_table_rows_cells_and_messages():
    kind = h_table()
    assert kind.default == ((0.0, 0.5, 1.0),)
    assert kind.convert([[0, 0.25, 1], {"m": 0.1}]) == ((0.0, 0.25, 1.0), (0.0, 0.1, 1.0))
    assert kind.convert("[[0,0.5,1],[0.1,0.5,0.9]]") == ((0.0, 0.5, 1.0), (0.1, 0.5, 0.9))
    rejects(kind, [], "at least 1 rows")
    rejects(kind, [[0, 0.5, 1]] * 6, "at most 5 rows")
    rejects(kind, [[0, 0.5]], "row 0 has 2 cells", "c0, m, c1")
    rejects(kind, [[0, 0.5, 1], [0, 2, 1]], "row 1, column m", "out of range")
    rejects(kind, 7, "list of rows")
    assert kind.console(((0.0, 0.5, 1.0),)) == "[[0.00000000,0.50000000,1.00000000]]"


def test_table_schema_errors():
    with pytest.raises(SchemaError):
        Table(id="T", columns=[])
    with pytest.raises(SchemaError):
        Table(id="T", columns=[Double(id="a"), Double(id="a")])
    with pytest.raises(SchemaError):
        Table(id="T", columns=[Double(id="a")], min_rows=1)


def test_describe_names_kind_range_and_default():
    text = Double(id="x", minimum=0, maximum=1, default=0.25, precision=3).describe()
    assert "Double in [0.000, 1.000]" in text and "default 0.250" in text
    assert "read-only" in Double(id="y", read_only=True).describe()


# -- property tests: format-then-parse returns any valid value --------------------------
def real_values(kind):
    low = -1e12 if kind.minimum is None else kind.minimum
    high = 1e12 if kind.maximum is None else kind.maximum
    values = st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)
    return values.map(kind.convert)


@pytest.mark.parametrize(("cls", "low", "high"), INTEGER_KINDS)
@given(data=st.data())
def test_integer_format_parse(cls, low, high, data):
    kind = cls(id="n")
    value = data.draw(st.integers(low, high))
    assert kind.parse(kind.format(value)) == value
    assert kind.convert(parse_literal(kind.console(value))) == value


@pytest.mark.parametrize(
    "kind",
    [
        Double(id="d"),
        Double(id="d", minimum=0, maximum=1, precision=2),
        Double(id="d", precision=4, scientific=True),
        Float(id="f"),
        Float(id="f", minimum=-1, maximum=1, precision=3),
    ],
    ids=lambda k: k.describe(),
)
@given(data=st.data())
def test_real_format_parse(kind, data):
    value = data.draw(real_values(kind))
    text = kind.format(value)  # rounded to the precision, as PixInsight writes it
    back = kind.parse(text)
    assert kind.format(back) == text  # and stable from then on
    if math.isfinite(value) and abs(value) < 1e15:
        unit = 0.5 * 10.0 ** -kind.decimals * (abs(value) if kind.scientific else 1)
        float32_step = abs(value) * 2.0**-23 if isinstance(kind, Float) else 0.0
        # the text read back is the double nearest to it: one unit in the last place of the value off at most
        # (beyond 2**32, a double's unit exceeds half the last of six decimals)
        assert abs(back - value) <= unit * 1.0001 + float32_step + math.ulp(value)
    assert kind.convert(parse_literal(kind.console(value))) == value  # console literals are exact
    assert kind.convert(kind.to_json(value)) == value


@given(st.booleans())
def test_boolean_format_parse(value):
    kind = Boolean(id="b")
    assert kind.parse(kind.format(value)) is value
    assert kind.convert(parse_literal(kind.console(value))) is value


ENUM = Enumeration(id="e", elements=["Auto", "Bilinear", "Bicubic", "Lanczos3"], element_aliases={"Old": "Bicubic"})


@given(st.sampled_from(ENUM.element_ids()))
def test_enumeration_format_parse(value):
    assert ENUM.parse(ENUM.format(value)) == value
    assert ENUM.convert(parse_literal(ENUM.console(value))) == value


@given(st.text(max_size=40))
def test_string_format_parse(value):
    kind = String(id="s")
    assert kind.parse(kind.format(value)) == value
    assert kind.convert(parse_literal(kind.console(value))) == value


@given(st.binary(max_size=64))
def test_block_format_parse(value):
    kind = Block(id="b")
    assert kind.parse(kind.format(value)) == value
    assert kind.convert(parse_literal(kind.console(value))) == value
    assert kind.convert(kind.to_json(value)) == value


TABLE = Table(
    id="T",
    columns=[
        Double(id="x", minimum=0, maximum=1, precision=5),
        Int32(id="n", minimum=0, maximum=100),
        Boolean(id="enabled"),
        String(id="path"),
        Enumeration(id="mode", elements=["A", "B"]),
    ],
    max_rows=8,
)
ROWS = st.lists(
    st.tuples(
        real_values(TABLE.columns[0]),
        st.integers(0, 100),
        st.booleans(),
        st.text(max_size=10),
        st.sampled_from(["A", "B"]),
    ),
    max_size=8,
)


@given(ROWS)
def test_table_format_parse(rows):
    value = TABLE.convert(rows)
    assert TABLE.parse(TABLE.format(value)) == value
    assert TABLE.convert(TABLE.to_json(value)) == value


def test_table_literal_over_the_row_limit_is_refused_while_parsing(monkeypatch):
    import procfw.literals as literals

    kind = h_table()
    seen: list[int | None] = []
    real = literals.parse_literal

    def spy(text, *, max_items=None):
        seen.append(max_items)
        return real(text, max_items=max_items)

    monkeypatch.setattr(literals, "parse_literal", spy)
    rejects(kind, "[" + ",".join(["[a,b,c]"] * 50_000) + "]", "at most 5 rows")
    assert seen == [5]  # the limit reached the parser, which stops at row 6


def test_a_float_bound_is_reachable_at_float32():
    """float32(0.2) is a little more than 0.2; a Float whose maximum is 0.2 must accept it."""
    kind = Float(minimum=0.1, maximum=0.2, default=0.15)
    assert kind.convert(0.2) == pytest.approx(0.2) and kind.convert(0.1) == pytest.approx(0.1)
    with pytest.raises(ParameterError, match="out of range"):
        kind.convert(0.2001)


def test_no_parameter_kind_converts_with_a_builtin() -> None:
    """attrs reads each field converter's signature for every class declaring or inheriting the field, and
    ``inspect`` parses a builtin's (``tuple``) from its text: the kinds' converters are Python functions,
    and ``aliases`` still becomes a tuple."""
    import inspect

    import attrs

    from procfw import params

    kinds = [k for k in vars(params).values() if isinstance(k, type) and issubclass(k, params.ParameterKind)]
    assert len(kinds) > 10
    for kind in kinds:
        for field in attrs.fields(kind):
            converter = field.converter
            assert not (isinstance(converter, type) or inspect.isbuiltin(converter)), (kind, field.name)
    assert params.Boolean(aliases=["old", "older"]).aliases == ("old", "older")
