"""Placeholders for processes that are not installed: they keep their data and write it back.

An icon file may hold instances of processes procfw does not have: third-party PixInsight
modules (BlurXTerminator, StarXTerminator...), PixInsight processes nobody has written yet,
or a plugin that is not installed here.  Such an instance loads as an
:class:`UnknownProcess`: an inert :class:`~procfw.process.Process` that keeps the class id,
the version and the raw XPSM elements of the instance verbatim, refuses to run (saying why),
and serializes back unchanged.  :class:`RawElement` is that raw element tree.

Nothing is ever imported by a name read from a file: a placeholder is data, not code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

import attrs

from procfw.process import Process, ViewLike, processes

__all__ = ["MAX_RAW_DEPTH", "XML_NAME", "RawElement", "UnknownProcess", "placeholders_in"]

XML_NAME = re.compile(r"[^\W\d][\w.\-]*(?::[^\W\d][\w.\-]*)?\Z")
"""What a tag or attribute name must look like (an XML name, optionally with one prefix)."""

MAX_RAW_DEPTH = 64
"""How deeply raw elements may nest (as the XML reader's limit)."""


def _pairs(value: Any) -> tuple[tuple[str, str], ...]:
    items = value.items() if hasattr(value, "items") else value
    return tuple((str(k), str(v)) for k, v in items)


@attrs.frozen(kw_only=True)
class RawElement:
    """One XML element as read from a file: tag, attributes in file order, text, children.

    ``text`` is the character content of a leaf element (``None``: the element was empty,
    written ``<tag/>``; ``""``: written ``<tag></tag>``).  ``raw`` is the escaped source
    text of that content when the file escaped it differently from procfw's own escaping,
    so that it is written back byte for byte; it does not take part in equality.
    ``line``/``column`` say where the element started in its file (for messages).
    """

    tag: str
    attributes: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_pairs)
    text: str | None = None
    children: tuple[RawElement, ...] = attrs.field(default=(), converter=tuple)
    raw: str | None = attrs.field(default=None, eq=False, repr=False)
    line: int = attrs.field(default=0, eq=False, repr=False)
    column: int = attrs.field(default=0, eq=False, repr=False)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of attribute ``name``, or ``default``."""
        for key, value in self.attributes:
            if key == name:
                return value
        return default

    def find_all(self, tag: str) -> list[RawElement]:
        """The children called ``tag``, in order."""
        return [child for child in self.children if child.tag == tag]

    def walk(self) -> Iterator[RawElement]:
        """This element and every descendant, depth first (without recursion)."""
        stack: list[RawElement] = [self]
        while stack:
            element = stack.pop()
            yield element
            stack.extend(reversed(element.children))

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible form (read back by :meth:`from_json`)."""
        out: dict[str, Any] = {"tag": self.tag}
        if self.attributes:
            out["attributes"] = [list(pair) for pair in self.attributes]
        if self.text is not None:
            out["text"] = self.text
        if self.children:
            out["children"] = [child.to_json() for child in self.children]
        return out

    @classmethod
    def from_json(cls, data: Any, *, depth: int = 0) -> RawElement:
        """Read :meth:`to_json` output; raises ValueError on anything else."""
        if depth > MAX_RAW_DEPTH:
            raise ValueError(f"raw XML elements nested deeper than {MAX_RAW_DEPTH}")
        if not isinstance(data, dict) or not isinstance(data.get("tag"), str) or not data["tag"]:
            raise ValueError(f"a raw element must be an object with a 'tag', got {str(data)[:60]!r}")
        if not XML_NAME.match(data["tag"]):
            raise ValueError(f"raw element tag {data['tag'][:60]!r} is not an XML name")
        attributes = data.get("attributes", [])
        if not isinstance(attributes, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in attributes
        ):
            raise ValueError(f"<{data['tag']}>: 'attributes' must be a list of [name, value] strings")
        for name, _value in attributes:
            if not XML_NAME.match(name):
                raise ValueError(f"<{data['tag']}>: attribute name {name[:60]!r} is not an XML name")
        text = data.get("text")
        if text is not None and not isinstance(text, str):
            raise ValueError(f"<{data['tag']}>: 'text' must be a string")
        children = data.get("children", [])
        if not isinstance(children, list):
            raise ValueError(f"<{data['tag']}>: 'children' must be a list")
        return cls(
            tag=data["tag"],
            attributes=[tuple(p) for p in attributes],
            text=text,
            children=[cls.from_json(c, depth=depth + 1) for c in children],
        )


class UnknownProcess(Process):
    """An inert placeholder for an instance of a process that is not installed.

    ``class_id`` is the process id read from the file (the instance reports it as its
    ``process_id``), ``class_version`` its version attribute (None when the file had
    none), and ``elements`` the instance's child elements exactly as read (parameters,
    tables, description, time, anything else).  It cannot execute; it writes back
    unchanged to XPSM and round-trips through JSON and console source.
    """

    process_id: ClassVar[str] = "UnknownProcess"
    is_history_updater: ClassVar[bool] = False

    class_id: str = attrs.field()
    class_version: int | None = None
    elements: tuple[RawElement, ...] = attrs.field(default=(), converter=tuple)

    def __attrs_post_init__(self) -> None:
        # The instance answers to the class id it was read with; the class stays generic.
        object.__setattr__(self, "process_id", self.class_id)
        super().__attrs_post_init__()

    # -- what it holds -----------------------------------------------------------------
    def raw_parameters(self) -> dict[str, str]:
        """Scalar parameters as the text the file gave them (``value=`` or element text)."""
        out: dict[str, str] = {}
        for element in self.elements:
            if element.tag == "parameter" and element.get("id"):
                value = element.get("value")
                out[str(element.get("id"))] = value if value is not None else (element.text or "")
        return out

    def raw_tables(self) -> dict[str, list[dict[str, str]]]:
        """Tables as lists of rows, each a mapping of cell id to text."""
        tables: dict[str, list[dict[str, str]]] = {}
        for element in self.elements:
            if element.tag == "table" and element.get("id"):
                rows = []
                for tr in element.find_all("tr"):
                    row = {}
                    for td in tr.find_all("td"):
                        value = td.get("value")
                        row[str(td.get("id", ""))] = value if value is not None else (td.text or "")
                    rows.append(row)
                tables[str(element.get("id"))] = rows
        return tables

    def unavailable_reason(self) -> str:
        """Why this instance cannot run: not installed, or installed but broken."""
        entry = next((e for e in processes.entries() if e.id == self.class_id), None)
        if entry is not None and entry.failed:
            return f"process {self.class_id} is installed but failed to load: {entry.failed}"
        return f"process {self.class_id} is not installed (this icon is a placeholder that keeps its data)"

    # -- it never runs -----------------------------------------------------------------
    def can_execute_on(self, view: ViewLike) -> tuple[bool, str]:
        return False, self.unavailable_reason()

    def can_execute_global(self) -> tuple[bool, str]:
        return False, self.unavailable_reason()

    def __repr__(self) -> str:
        version = "" if self.class_version is None else f", version={self.class_version}"
        return f"UnknownProcess({self.class_id!r}{version}, {len(self.elements)} elements)"


def placeholders_in(instance: Process) -> list[str]:
    """Class ids of the placeholders in ``instance`` (itself or, for containers, its children)."""
    found: list[str] = []
    stack: list[Process] = [instance]
    while stack:  # without recursion: a deeply nested container must not exhaust the stack
        current = stack.pop()
        if isinstance(current, UnknownProcess):
            found.append(current.class_id)
            continue
        children = [getattr(item, "instance", None) for item in getattr(current, "items", ()) or ()]
        stack.extend(reversed([child for child in children if isinstance(child, Process)]))
    return found
