"""The binder: console arguments converted once, errors at the argument that set the parameter;
the console and the icon source reader read the same lines the same way."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from procfw.icons.source import parse_console_command
from procfw.language import ast
from procfw.language.binder import bind_process
from procfw.language.errors import ArgumentError
from procfw.language.parser import parse
from procfw.language.values import format_value, literal_args, literal_value
from procfw.literals import parse_literal
from procfw.params import Boolean, Double, Enumeration, String, param
from procfw.process import Process


@attrs.frozen(kw_only=True)
class CountingDouble(Double):
    """A Double that counts its conversions (a test double)."""

    calls: ClassVar[list[Any]] = []

    def convert(self, value: Any) -> float:
        CountingDouble.calls.append(value)
        return super().convert(value)


class Gain(Process):
    """A test double: a gain with a few parameter kinds."""

    process_id = "TestBinderGain"
    parameter_aliases = {"k": "gain"}

    gain: float = param(CountingDouble(minimum=0, maximum=4, default=1.0, precision=3, description="gain"))
    clip: bool = param(Boolean(default=True, description="clip"))
    mode: str = param(Enumeration(elements=["Fast", "Exact"], default="Fast", description="mode"))
    label: str = param(String(default="", max_length=8, description="label"))
    mean: float = param(Double(read_only=True, default=0.0, description="output"))

    def validate(self) -> None:
        if self.mode == "Exact" and self.gain == 0:
            raise self.invalid("gain", self.gain, "must be non-zero in Exact mode")


def _command(text: str) -> ast.Command:
    (statement,) = parse(text).statements
    assert isinstance(statement, ast.Command)
    return statement


def _bind(text: str, **kwargs: Any) -> tuple[Process, list[Any]]:
    return bind_process(Gain, literal_args(_command(text).args), **kwargs)


def test_each_value_is_converted_once():
    CountingDouble.calls.clear()
    instance, targets = _bind("TestBinderGain -k=2.5 -clip- -mode=Exact -label=0.10 img")
    assert (instance.gain, instance.clip, instance.mode, instance.label) == (2.5, False, "Exact", "0.10")
    assert CountingDouble.calls == [2.5]
    assert [t.value for t in targets] == ["img"]


@pytest.mark.parametrize(
    ("text", "column", "match"),
    [
        ("TestBinderGain -clip+ -k=9", 23, "TestBinderGain: parameter gain = 9: out of range"),
        ("TestBinderGain -mode=Exact -k=0", 28, "must be non-zero in Exact mode"),
        ("TestBinderGain -label=123456789", 16, "label"),
        ("TestBinderGain -gian=1", 16, "did you mean gain"),
        ("TestBinderGain -mean=1", 16, "read-only output"),
        ("TestBinderGain -k=1 -gain=2", 21, "given twice"),
        ("TestBinderGain -mode+", 16, "is a switch, but mode is"),
        ("TestBinderGain -clip", 16, "needs a value: -clip\\+ or -clip-"),
        ("TestBinderGain --fast", 16, "unknown option --fast"),
    ],
)
def test_errors_are_at_the_argument_that_set_the_parameter(text: str, column: int, match: str):
    with pytest.raises(ArgumentError, match=match) as info:
        _bind(text)
    assert info.value.node is not None
    assert (info.value.node.line, info.value.node.column) == (1, column)


def test_an_icon_may_carry_read_only_outputs_and_a_description():
    instance, targets = _bind('TestBinderGain -mean=0.25 --description="kept by the caller"', for_icon=True)
    assert instance.mean == 0.25 and targets == []


def test_literals_read_without_variables():
    assert literal_value(_command('x [1, -inf, "a\\$b", true, word]').args[0]) == [1, -math.inf, "a$b", True, "word"]
    with pytest.raises(ArgumentError, match="variables are not allowed"):
        literal_args(_command("x -label=$HOME").args)


def test_the_console_and_the_icon_reader_bind_alike(tmp_path):
    from procfw.console import Session
    from procfw.registry import processes

    unregister = processes.register(Gain.process_id, Gain)
    try:
        line = 'TestBinderGain -k=0.5 -clip- -mode=Exact -label="a b" -mean=2'
        session = Session()
        session.run_text(f"icon G = {line}")
        assert session.workspace.icons["G"] == parse_console_command(line) == Gain(
            gain=0.5, clip=False, mode="Exact", label="a b", mean=2.0)
    finally:
        unregister()


_SCALARS = st.one_of(
    st.integers(min_value=-10**12, max_value=10**12),
    st.floats(allow_nan=False, width=64),
    st.booleans(),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=12),
)
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(_VALUES, min_size=1, max_size=4))
@example([["$0", "inf", "nan", "a\nb"]])
def test_the_value_syntax_reads_the_same_in_both_readers(value: list[Any]):
    """procfw.literals (the parameter layer's reader of table text) and the console grammar agree."""
    text = format_value(value)
    (arg,) = _command(f"x {text}").args
    assert literal_value(arg) == parse_literal(text) == value
