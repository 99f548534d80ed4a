"""A small, safe XML reader and a PixInsight-style writer for :class:`~procfw.unknown.RawElement` trees.

Reading refuses what icon files never need and attackers love: DOCTYPE and ENTITY
declarations (entity expansion bombs, external entities), documents over a size limit
and elements nested beyond a depth limit.  It is built on :mod:`xml.parsers.expat`
with handlers that raise, so nothing is expanded or fetched.  Every failure is an
:class:`~procfw.icons.model.IconFileError` naming the source, line, column and problem.

Writing follows PixInsight's style: 3-space indentation, ``<tag/>`` for empty elements,
text escaped as ``&amp; &lt; &gt; &quot;``.
"""

from __future__ import annotations

import re
from typing import Any
from xml.parsers import expat

from procfw.icons.model import IconFileError
from procfw.unknown import XML_NAME, RawElement

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "escape_attribute", "escape_text", "parse_xml", "write_element"]

MAX_FILE_BYTES = 64 * 1024 * 1024
"""Largest icon file read (bytes)."""

MAX_DEPTH = 64
"""Deepest element nesting accepted (PixInsight files nest 6 levels; containers add 1 each)."""

INDENT = "   "

_FORBIDDEN = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
# Characters XML 1.0 cannot carry at all, not even as character references.
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


class _Refused(Exception):
    """Raised inside expat handlers; carries the reason."""


class _Builder:
    """Collects expat events into RawElement trees."""

    def __init__(self, parser: Any, data: bytes, max_depth: int) -> None:
        self.parser = parser
        self.data = data
        self.max_depth = max_depth
        # Each open element: [tag, attrs, children, text chunks, first text byte, start byte, line, col]
        self.stack: list[list[Any]] = []
        self.root: RawElement | None = None

    def start(self, tag: str, attributes: list[str]) -> None:
        if len(self.stack) >= self.max_depth:
            raise _Refused(f"elements nested deeper than {self.max_depth} levels")
        pairs = list(zip(attributes[0::2], attributes[1::2]))
        p = self.parser
        where = (p.CurrentByteIndex, p.CurrentLineNumber, p.CurrentColumnNumber + 1)
        self.stack.append([tag, pairs, [], [], None, *where])

    def text(self, chunk: str) -> None:
        if not self.stack:
            return
        top = self.stack[-1]
        if top[4] is None:
            top[4] = self.parser.CurrentByteIndex
        top[3].append(chunk)

    def end(self, tag: str) -> None:
        name, pairs, children, chunks, first_text, start, line, column = self.stack.pop()
        end = self.parser.CurrentByteIndex
        text: str | None
        raw: str | None = None
        if children:
            text = None
        elif chunks:
            text = "".join(chunks)
            raw = self._raw(first_text, end, text)
        else:
            self_closing = end >= 2 and self.data[end - 2 : end] == b"/>" and end > start
            text = None if self_closing else ""
        element = RawElement(tag=name, attributes=pairs, text=text, children=children, raw=raw, line=line,
                             column=column)
        if self.stack:
            self.stack[-1][2].append(element)
        else:
            self.root = element

    def _raw(self, first: int | None, end: int, text: str) -> str | None:
        if first is None or not 0 <= first <= end:
            return None
        try:
            raw = self.data[first:end].decode("utf-8")
        except UnicodeDecodeError:
            return None
        if raw == escape_text(text) or "<" in raw:
            return None
        return raw


def _refuse(what: str) -> Any:
    def handler(*_args: Any) -> Any:
        raise _Refused(f"{what} are not allowed in icon files (entity expansion and external entities are refused)")

    return handler


def _line_of(data: bytes, index: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, index) + 1
    column = index - (data.rfind(b"\n", 0, index) + 1) + 1
    return line, column


def parse_xml(
    data: bytes | str, *, source: str = "<string>", max_bytes: int = MAX_FILE_BYTES, max_depth: int = MAX_DEPTH
) -> RawElement:
    """Parse an XML document into a :class:`RawElement` tree, safely.

    Raises :class:`IconFileError` (with line and column) on malformed XML, on DOCTYPE or
    ENTITY declarations, when the document exceeds ``max_bytes`` or nests deeper than
    ``max_depth``.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > max_bytes:
        raise IconFileError(source, f"file is {len(data)} bytes; icon files are limited to {max_bytes} bytes")
    forbidden = _FORBIDDEN.search(data)
    if forbidden is not None:
        line, column = _line_of(data, forbidden.start())
        what = forbidden.group(1).decode().upper()
        raise IconFileError(
            source, f"{what} declarations are not allowed in icon files (entity expansion and external entities "
            "are refused)", line=line, column=column,
        )
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.ordered_attributes = True
    builder = _Builder(parser, data, max_depth)
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.text
    parser.StartDoctypeDeclHandler = _refuse("DOCTYPE declarations")
    parser.EntityDeclHandler = _refuse("ENTITY declarations")
    parser.UnparsedEntityDeclHandler = _refuse("unparsed entity declarations")
    parser.NotationDeclHandler = _refuse("NOTATION declarations")
    parser.ExternalEntityRefHandler = _refuse("external entity references")
    parser.SkippedEntityHandler = _refuse("entity references")
    try:
        parser.Parse(data, True)
    except _Refused as exc:
        raise IconFileError(
            source, str(exc), line=parser.CurrentLineNumber, column=parser.CurrentColumnNumber + 1
        ) from None
    except expat.ExpatError as exc:
        raise IconFileError(
            source, f"malformed XML: {expat.ErrorString(exc.code)}", line=exc.lineno, column=exc.offset + 1
        ) from None
    except RecursionError:
        raise IconFileError(source, "document too deeply nested") from None
    except LookupError as exc:  # an XML declaration naming an encoding Python does not know
        raise IconFileError(source, f"malformed XML: {exc}") from None
    if builder.root is None:
        raise IconFileError(source, "no root element")
    return builder.root


# -- writing ------------------------------------------------------------------------------
def escape_text(text: str) -> str:
    """Element text escaped as PixInsight writes it (``&amp; &lt; &gt; &quot;``; CR as ``&#13;``)."""
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
        .replace("\r", "&#13;")
    )


def escape_attribute(text: str) -> str:
    """An attribute value escaped so that it reads back unchanged (tabs and newlines as references)."""
    return escape_text(text).replace("\n", "&#10;").replace("\t", "&#9;")


def check_writable(text: str, where: str) -> None:
    """Raise ValueError if ``text`` holds a character XML 1.0 cannot carry."""
    bad = _ILLEGAL_XML.search(text)
    if bad is not None:
        raise ValueError(f"{where}: character U+{ord(bad.group()):04X} cannot be written to XML")


def _check_name(name: str, what: str) -> None:
    if not XML_NAME.match(name):
        raise ValueError(f"{what} {name[:60]!r} is not an XML name and cannot be written")


def _start_tag(element: RawElement, close: bool) -> str:
    _check_name(element.tag, "element tag")
    parts = [element.tag]
    for name, value in element.attributes:
        _check_name(name, f"<{element.tag}> attribute name")
        check_writable(value, f"<{element.tag} {name}>")
        parts.append(f'{name}="{escape_attribute(value)}"')
    return "<" + " ".join(parts) + ("/>" if close else ">")


def write_element(element: RawElement, out: list[str], level: int | None = 0) -> None:
    """Append ``element`` to ``out``: indented lines at ``level`` (3 spaces per level), or
    one compact string when ``level`` is None."""
    pad = "" if level is None else INDENT * level
    if element.children:
        out.append(pad + _start_tag(element, False))
        for child in element.children:
            write_element(child, out, None if level is None else level + 1)
        out.append(f"{pad}</{element.tag}>")
    elif element.text is None:
        out.append(pad + _start_tag(element, True))
    else:
        check_writable(element.text, f"<{element.tag}>")
        body = element.raw if element.raw is not None else escape_text(element.text)
        out.append(f"{pad}{_start_tag(element, False)}{body}</{element.tag}>")


def element_to_string(element: RawElement, *, indent: bool = True) -> str:
    """``element`` as XML text: indented lines joined by newlines, or compact on one line."""
    out: list[str] = []
    write_element(element, out, 0 if indent else None)
    return ("\n" if indent else "").join(out)
