"""Hypothesis strategies for parameter values of every kind, process instances and placeholders."""

from __future__ import annotations

import functools
import math
from typing import Any

from hypothesis import strategies as st

from procfw.container import ContainerItem, ProcessContainer
from procfw.errors import ProcfwError
from procfw.params import (
    Block,
    Boolean,
    Enumeration,
    Float,
    ParameterKind,
    String,
    Table,
    _Integer,
    _Real,
)
from procfw.process import Process
from procfw.unknown import RawElement, UnknownProcess
from procfw.workspace import MaskRef

FLOAT32_MAX = 3.4028234663852886e38

# Characters XML 1.0 can carry (tab, newline and CR included; surrogates and other controls not).
XML_CHARS = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters=[chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"] + ["\ufffe", "\uffff"],
)
SPECIAL_TEXT = st.sampled_from(['"', "'", "<", ">", "&", "&amp;", "\n", "\t", "\r", "\\", "é", "日本", "//", "]]>"])


def xml_text(max_size: int = 20) -> st.SearchStrategy[str]:
    """Text that XML can carry, biased towards characters that need escaping."""
    return st.lists(st.one_of(XML_CHARS, SPECIAL_TEXT), max_size=max_size).map("".join)


def _converts(kind: ParameterKind, value: Any) -> bool:
    try:
        kind.convert(value)
    except ProcfwError:
        return False
    return True


def values(kind: ParameterKind, *, in_table: bool = False, written: bool = False) -> st.SearchStrategy[Any]:
    """Canonical values of ``kind`` (finite reals inside tables: the literal syntax has no ``-inf``).

    ``written``: reals as an XPSM file holds them, rounded to the parameter's precision (the
    values PixInsight's icons carry; arbitrary ones would round into each other and may then
    break a rule between values, such as distinct curve points)."""
    if isinstance(kind, Boolean):
        return st.booleans()
    if isinstance(kind, _Integer):
        low, high = kind.bounds()
        return st.integers(low, high)
    if isinstance(kind, _Real):
        low = kind.minimum if kind.minimum is not None else (-FLOAT32_MAX if isinstance(kind, Float) else None)
        high = kind.maximum if kind.maximum is not None else (FLOAT32_MAX if isinstance(kind, Float) else None)
        numbers = st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)
        if kind.allow_nonfinite and not in_table:
            numbers = st.one_of(numbers, st.sampled_from([math.inf, -math.inf]))
        numbers = numbers.filter(lambda v: _converts(kind, v)).map(kind.convert)
        return numbers.map(lambda v: kind.parse(kind.format(v))) if written else numbers
    if isinstance(kind, Enumeration):
        return st.sampled_from(kind.element_ids())
    if isinstance(kind, String):
        high = kind.max_length if kind.max_length is not None else 24
        high = max(min(high, 24), kind.min_length)
        if kind.allowed_characters is not None:
            alphabet = sorted(c for c in set(kind.allowed_characters) if _converts(String(), c))
            text = st.text(alphabet=st.sampled_from(alphabet), min_size=kind.min_length, max_size=high)
        else:
            text = st.lists(st.one_of(XML_CHARS, SPECIAL_TEXT), min_size=kind.min_length, max_size=high).map(
                "".join
            )
        return text.filter(lambda v: _converts(kind, v)).map(kind.convert)
    if isinstance(kind, Block):
        return st.binary(max_size=24)
    if isinstance(kind, Table):
        high = kind.max_rows if kind.max_rows is not None else 4
        high = max(min(high, 4), kind.min_rows)
        row = st.tuples(*(values(c, in_table=True, written=written) for c in kind.columns))
        return st.lists(row, min_size=kind.min_rows, max_size=high).map(kind.convert)
    raise TypeError(f"no strategy for {kind!r}")


def _build(cls: type[Process], parameters: dict[str, Any]) -> Process:
    try:
        return cls(**parameters)
    except ProcfwError:
        return cls()  # a cross-parameter rule refused the random combination


@functools.cache
def instances(cls: type[Process], written: bool = False) -> st.SearchStrategy[Process]:
    """Valid instances of ``cls`` with random values for every parameter (read-only ones too);
    ``written``: reals rounded to their precision, as an XPSM file holds them."""
    if issubclass(cls, ProcessContainer):
        return containers(written=written)
    schema = cls.schema()
    return st.fixed_dictionaries({pid: values(kind, written=written) for pid, kind in schema.items()}).map(
        lambda parameters: _build(cls, parameters)
    )


_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)


def raw_elements(max_depth: int = 2) -> st.SearchStrategy[RawElement]:
    """Raw elements as PixInsight writes them: leaves with text or none, or elements with children."""
    attributes = st.lists(st.tuples(_NAMES, xml_text(8)), max_size=3, unique_by=lambda p: p[0])
    leaf = st.builds(
        lambda tag, attrs, text: RawElement(tag=tag, attributes=attrs, text=text),
        _NAMES, attributes, st.one_of(st.none(), xml_text()),
    )
    if max_depth <= 0:
        return leaf
    branch = st.builds(
        lambda tag, attrs, children: RawElement(tag=tag, attributes=attrs, children=children),
        _NAMES, attributes, st.lists(raw_elements(max_depth - 1), min_size=1, max_size=3),
    )
    return st.one_of(leaf, branch)


def placeholders() -> st.SearchStrategy[UnknownProcess]:
    """Placeholders of made-up, unregistered process ids."""
    return st.builds(
        lambda cid, version, elements: UnknownProcess(class_id="Zq" + cid, class_version=version, elements=elements),
        _NAMES,
        st.one_of(st.none(), st.integers(0, 2**31)),
        st.lists(raw_elements(), max_size=4),
    )


def leaves(
    classes: list[type[Process]] | tuple[type[Process], ...], written: bool = False
) -> st.SearchStrategy[Process]:
    """Instances of any of ``classes`` (containers excluded) or placeholders."""
    plain = [c for c in classes if not issubclass(c, ProcessContainer)]
    return st.one_of(*(instances(c, written) for c in plain), placeholders())


def masks() -> st.SearchStrategy[MaskRef | None]:
    """No mask, or a mask reference (XPSM cannot hold masks)."""
    return st.one_of(st.none(), st.builds(MaskRef, _NAMES, st.booleans()))


def containers(
    classes: list[type[Process]] | None = None, *, with_masks: bool = False, written: bool = False
) -> st.SearchStrategy[Process]:
    """ProcessContainers, possibly nested, of ``classes`` (default: every registered process)
    instances and placeholders."""
    from procfw.registry import processes

    pool = classes if classes is not None else [c for _, c in processes.items()]
    return _containers(tuple(pool), with_masks, written)


@functools.cache
def _containers(pool: tuple[type[Process], ...], with_masks: bool, written: bool) -> st.SearchStrategy[Process]:
    mask = masks() if with_masks else st.none()

    def extend(children: st.SearchStrategy[Process]) -> st.SearchStrategy[Process]:
        item = st.builds(lambda i, e, m: ContainerItem(instance=i, enabled=e, mask=m), children, st.booleans(), mask)
        return st.lists(item, max_size=4).map(lambda items: ProcessContainer(items=items))

    return extend(st.recursive(leaves(pool, written), extend, max_leaves=6))
