"""The XML side of XISF: a guarded header parser and a small, exact serializer.

Parsing refuses any document type declaration or entity declaration before the XML
reaches the parser (so no entity expansion, no external entities, no DTD processing),
requires UTF-8 as XISF does, and reports malformed XML as :class:`FormatProblem`.

Writing uses a tiny element model (:class:`Node`) and escapes text and attribute values
so that they parse back identically: ``&``, ``<``, ``>``, quotes, and the white-space
characters that XML parsers would otherwise normalize (tab, line feed, carriage return)
are written as character references.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from attrs import define, field

from procfw.io.xisf_codec import FormatProblem

XISF_NAMESPACE = "http://www.pixinsight.com/xisf"
XSI_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = "http://www.pixinsight.com/xisf http://pixinsight.com/xisf/xisf-1.0.xsd"

_FORBIDDEN = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)", re.IGNORECASE)
_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([^"']*)["']""")
#: Characters XML 1.0 cannot carry at all, not even as character references.
INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def local_name(element: ET.Element) -> str:
    """An element's tag without its ``{namespace}`` prefix."""
    tag = element.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def parse_header(data: bytes) -> ET.Element:
    """Parse an XISF header document and return its root element (safely).

    Raises FormatProblem for a DTD or entity declaration, a non-UTF-8 encoding or
    malformed XML.
    """
    data = data.rstrip(b"\0")
    if _FORBIDDEN.search(data):
        raise FormatProblem(
            "XML header contains a document type or entity declaration (<!DOCTYPE/<!ENTITY); "
            "refused for safety (XISF headers never need one)"
        )
    declared = _ENCODING.match(data)
    if declared and declared.group(1).strip().lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        raise FormatProblem(f"XML header encoding {declared.group(1).decode('ascii', 'replace')!r} is not UTF-8")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatProblem(f"XML header is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise FormatProblem(f"malformed XML header: {exc}") from None


def children(element: ET.Element, uids: dict[str, ET.Element]) -> Iterator[ET.Element]:
    """An element's children, with ``<Reference ref="uid"/>`` replaced by the element it names."""
    for child in element:
        if local_name(child) == "Reference":
            target = uids.get(child.get("ref", ""))
            if target is not None and local_name(target) != "Reference":
                yield target
        elif isinstance(child.tag, str):
            yield child


# -- writing --------------------------------------------------------------------------


@define
class Node:
    """An element to serialize: tag, attributes (in order), children and text.

    ``block`` is binary data that must be stored as an attached data block; the writer
    fills in the element's ``location`` (and places the bytes) when it lays out the file.
    """

    tag: str
    attrs: dict[str, str] = field(factory=dict)
    children: list[Node] = field(factory=list)
    text: str | None = None
    block: bytes | None = None


_TEXT_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}
_ATTR_ESCAPES = {**_TEXT_ESCAPES, '"': "&quot;", "\n": "&#10;", "\t": "&#9;"}
_TEXT_RE = re.compile("[&<>\r]")
_ATTR_RE = re.compile('[&<>"\r\n\t]')


def clean_text(text: str) -> str:
    """``text`` with characters XML cannot carry replaced by U+FFFD."""
    return INVALID_XML_CHARS.sub("\ufffd", text)


def escape_text(text: str) -> str:
    """Escape character data so that it parses back to exactly ``text``."""
    return _TEXT_RE.sub(lambda m: _TEXT_ESCAPES[m.group(0)], clean_text(text))


def escape_attribute(value: str) -> str:
    """Escape a double-quoted attribute value so that it parses back to exactly ``value``."""
    return _ATTR_RE.sub(lambda m: _ATTR_ESCAPES[m.group(0)], clean_text(value))


def serialize(node: Node, out: list[str]) -> None:
    """Append the XML text of ``node`` (no added white space) to ``out``."""
    out.append(f"<{node.tag}")
    for name, value in node.attrs.items():
        out.append(f' {name}="{escape_attribute(value)}"')
    if not node.children and node.text is None:
        out.append("/>")
        return
    out.append(">")
    if node.text is not None:
        out.append(escape_text(node.text))
    for child in node.children:
        serialize(child, out)
    out.append(f"</{node.tag}>")


def header_document(elements: list[Node], creator: str) -> bytes:
    """The complete UTF-8 XISF header: declaration, initial comment and root element."""
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f"<!--\nExtensible Image Serialization Format - XISF version 1.0\nCreated with {creator}\n-->",
        f'<xisf version="1.0" xmlns="{XISF_NAMESPACE}" xmlns:xsi="{XSI_NAMESPACE}" '
        f'xsi:schemaLocation="{SCHEMA_LOCATION}">',
    ]
    for element in elements:
        serialize(element, out)
    out.append("</xisf>")
    return "".join(out).encode("utf-8")
