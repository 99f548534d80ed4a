"""Conformance checks for process authors: ``check_process(MyProcess)``.

The checks a plugin runs to prove it obeys the process contract: it is documented, it
constructs with defaults, it round-trips through its parameters (values, file text,
JSON), it rejects out-of-range values with a message naming the parameter, and, when it
can run on a view, it leaves its input untouched and keeps float32 pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from procfw.errors import ParameterError, ProcfwError
from procfw.image import Image
from procfw.names import is_valid_id
from procfw.process import Process
from procfw.workspace import Workspace


@attrs.define
class ConformanceReport:
    """What :func:`check_process` found: the checks that ran and the failures."""

    process_id: str
    passed: list[str] = attrs.field(factory=list)
    failures: list[str] = attrs.field(factory=list)
    skipped: list[str] = attrs.field(factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failures

    def raise_if_failed(self) -> None:
        """Raise AssertionError listing every failure."""
        if self.failures:
            raise AssertionError(f"{self.process_id} fails conformance:\n  " + "\n  ".join(self.failures))

    def __str__(self) -> str:
        lines = [f"{self.process_id}: {len(self.passed)} passed, {len(self.failures)} failed"]
        lines += [f"  FAIL {f}" for f in self.failures] + [f"  skip {s}" for s in self.skipped]
        return "\n".join(lines)


def test_image(channels: int = 3, height: int = 32, width: int = 48, seed: int = 0) -> Image:
    """A deterministic float32 test image with values in [0, 1]."""
    rng = np.random.default_rng(seed)
    return Image(rng.random((channels, height, width), dtype=np.float32))


def _check(report: ConformanceReport, name: str, func: Callable[[], Any]) -> Any:
    try:
        result = func()
    except AssertionError as exc:
        report.failures.append(f"{name}: {exc}")
        return None
    except Exception as exc:  # noqa: BLE001 - any error is a conformance failure to report
        report.failures.append(f"{name}: {type(exc).__name__}: {exc}")
        return None
    report.passed.append(name)
    return result


def check_process(cls: type[Process], *, instance: Process | None = None) -> ConformanceReport:
    """Run the conformance checks on ``cls`` (optionally on a given ``instance``; by default an
    instance with the class's ``conformance_parameters``)."""
    report = ConformanceReport(getattr(cls, "process_id", repr(cls)))

    def identity() -> None:
        assert isinstance(cls, type) and issubclass(cls, Process), "not a Process subclass"
        assert is_valid_id(cls.process_id), f"process id {cls.process_id!r} is not a valid identifier"

    def documented() -> None:
        assert cls.description.strip(), "the process has no description (docstring)"
        undocumented = [p for p, k in cls.schema().items() if not k.description.strip()]
        assert not undocumented, f"parameters without a description: {', '.join(undocumented)}"

    _check(report, "identity", identity)
    _check(report, "documented", documented)
    made = _check(report, "default-constructible", lambda: instance if instance is not None else cls())
    if made is not None and instance is None and getattr(cls, "conformance_parameters", None):
        made = _check(report, "constructible with its conformance parameters",
                      lambda: cls(**dict(cls.conformance_parameters)))
    if made is None:
        return report
    _check(report, "round-trip", lambda: _round_trips(cls, made))
    _check(report, "rejects invalid values", lambda: _rejects_invalid(cls, made))
    for channels in (1, 3):
        _check_view_execution(report, made, channels)
    return report


def _round_trips(cls: type[Process], made: Process) -> None:
    again = cls.from_parameters(made.parameters())
    assert again == made, f"rebuilding from parameters gives {again!r}, not {made!r}"
    for pid, kind in cls.schema().items():
        value = getattr(made, pid)
        text = kind.format(value)  # rounded to the declared precision, as PixInsight writes it
        assert kind.format(kind.parse(text)) == text, f"{pid}: {value!r} written as {text!r} reads back as another"
        assert kind.convert(kind.to_json(value)) == value, f"{pid}: JSON round trip of {value!r} changes it"
        assert kind.convert(_console_value(kind.console(value))) == value, f"{pid}: console literal changes it"


def _console_value(text: str) -> Any:
    from procfw.literals import parse_literal

    return parse_literal(text)


def _rejects_invalid(cls: type[Process], made: Process) -> None:
    for pid, kind in cls.schema().items():
        for bad in kind.invalid_examples():
            try:
                made.evolve(**{pid: bad})
            except ParameterError as exc:
                assert pid in str(exc) and cls.process_id in str(exc), (
                    f"error for {pid}={bad!r} does not name the process and parameter: {exc}"
                )
            else:
                raise AssertionError(f"{pid} = {bad!r} was accepted; it breaks {kind.rule()}")


def _check_view_execution(report: ConformanceReport, made: Process, channels: int) -> None:
    workspace = Workspace()
    image = test_image(channels)
    original = image.pixels.copy()
    view = workspace.add_image(image, "conformance").main_view
    ok, why = made.can_execute_on(view)
    name = f"executes on a {channels}-channel view"
    if not ok:
        report.skipped.append(f"{name}: {why}")
        return

    def run() -> None:
        try:
            made.execute_on(view)
        except ProcfwError as exc:
            raise AssertionError(f"raised {type(exc).__name__}: {exc}") from None
        assert np.array_equal(image.pixels, original), "the input image was modified in place"
        assert view.image.pixels.dtype == np.float32, f"output is {view.image.pixels.dtype}, not float32"

    _check(report, name, run)


test_image.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
