"""Synthetic processes covering every parameter kind, registered for the icon tests, and corpus helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from xml.parsers import expat

import pytest
from conftest import CORPUS as SHARED_CORPUS

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
    param,
)
from procfw.process import Process
from procfw.registry import processes

CORPUS = SHARED_CORPUS / "xpsm"


def corpus_files() -> list[Path]:
    """Every .xpsm file of the shared corpus (empty when the corpus is absent)."""
    return sorted(CORPUS.rglob("*.xpsm")) if CORPUS.is_dir() else []


def need_corpus() -> None:
    """Skip when the shared corpus is missing."""
    if not corpus_files():
        pytest.skip(f"XPSM corpus not found at {CORPUS}")


class KitchenSink(Process):
    """Every scalar parameter kind (a synthetic test process)."""

    process_id = "TestKitchenSink"
    process_aliases = ("TestKitchenSinkOld",)
    process_version = 3
    parameter_aliases = {"oldFlag": "flag"}

    flag: bool = param(Boolean(default=True, description="a switch"))
    i8: int = param(Int8(default=-3, description="int8"))
    u8: int = param(UInt8(default=200, description="uint8"))
    i16: int = param(Int16(minimum=-100, maximum=100, description="int16 narrowed"))
    u16: int = param(UInt16(description="uint16"))
    i32: int = param(Int32(default=-70000, description="int32"))
    u32: int = param(UInt32(description="uint32"))
    i64: int = param(Int64(description="int64"))
    u64: int = param(UInt64(description="uint64"))
    ratio: float = param(Float(minimum=0, maximum=1, default=0.5, precision=3, description="float32 in [0, 1]"))
    scale: float = param(Float(default=1.0, description="float32"))
    amount: float = param(Double(minimum=-10, maximum=10, precision=8, description="double"))
    tiny: float = param(Double(precision=4, scientific=True, description="scientific notation"))
    wide: float = param(Double(allow_nonfinite=True, description="may be infinite"))
    mode: str = param(
        Enumeration(elements=["Linear", "Log", ("Gamma", 7)], element_aliases={"Lin": "Linear"}, description="mode")
    )
    text: str = param(String(default="", description="any text"))
    label: str = param(
        String(default="abc", allowed_characters="abcdefghijklmnopqrstuvwxyz_0123456789", min_length=1, max_length=8,
               description="restricted text")
    )
    data: bytes = param(Block(description="opaque bytes"))
    result: float = param(Double(read_only=True, description="an output"))


class Curves(Process):
    """Tables with typed columns (a synthetic test process)."""

    process_id = "TestCurves"

    points: tuple = param(
        Table(
            columns=[
                Double(id="x", minimum=0, maximum=1, precision=5),
                Float(id="y", minimum=0, maximum=1, precision=5),
                Boolean(id="on", default=True),
                Enumeration(id="shape", elements=["Akima", "Linear"], element_aliases={"Cubic": "Akima"}),
                Int32(id="n"),
                String(id="note"),
                Block(id="blob"),
            ],
            default=((0.0, 0.0, True, "Akima", 0, "", b""), (1.0, 1.0, True, "Akima", 0, "", b"")),
            description="curve points",
        )
    )
    pairs: tuple = param(
        Table(columns=[String(id="id"), String(id="value")], max_rows=5, description="name/value rows")
    )
    name: str = param(String(default="curve", description="a name"))


SYNTHETIC: list[type[Process]] = [KitchenSink, Curves]


@pytest.fixture(scope="module")
def synthetic() -> Iterator[list[type[Process]]]:
    """Register the synthetic processes for the duration of a test module."""
    undo = [processes.register(cls.process_id, cls, distribution="tests") for cls in SYNTHETIC]
    try:
        yield SYNTHETIC
    finally:
        for unregister in reversed(undo):
            unregister()


def instance_elements(data: bytes) -> list[tuple[str, bytes]]:
    """(class, exact bytes) of every <instance> element of an XML document, in document order."""
    found: list[list] = []
    stack: list[list | None] = []
    parser = expat.ParserCreate()

    def start(tag: str, attrs: dict[str, str]) -> None:
        if tag.rsplit(":", 1)[-1] != "instance":
            stack.append(None)
            return
        entry = [attrs.get("class", ""), parser.CurrentByteIndex, b""]
        found.append(entry)
        stack.append(entry)

    def end(tag: str) -> None:
        entry = stack.pop()
        if entry is None:
            return
        begin, stop = entry[1], parser.CurrentByteIndex
        if data[stop - 2 : stop] != b"/>" or data[begin:stop].count(b"<") > 1:
            stop = data.index(b">", stop) + 1
        entry[2] = data[begin:stop]

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.Parse(data, True)
    return [(cls, raw) for cls, _begin, raw in found]


def as_written(instance: Process) -> Process:
    """``instance`` as PixInsight would read it back from an XPSM file procfw wrote: every real
    value rounded to its parameter's precision (a container's children likewise)."""
    from procfw.container import ContainerItem, ProcessContainer
    from procfw.params import ParameterKind, _Real
    from procfw.unknown import UnknownProcess

    def written(kind: ParameterKind, value: object) -> object:
        if isinstance(kind, _Real):
            return kind.parse(kind.format(value))
        if isinstance(kind, Table):
            return tuple(tuple(written(c, v) for c, v in zip(kind.columns, row)) for row in value)
        return value

    if isinstance(instance, UnknownProcess):
        return instance
    if isinstance(instance, ProcessContainer):
        return ProcessContainer(items=[ContainerItem(instance=as_written(item.instance), enabled=item.enabled,
                                                     mask=item.mask) for item in instance.items])
    schema = type(instance).schema()
    return instance.evolve(**{pid: written(kind, getattr(instance, pid)) for pid, kind in schema.items()})
