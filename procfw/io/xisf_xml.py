"""The XML side of XISF: a guarded header parser and a small, exact serializer.

Parsing reads the header as UTF-8 whatever it declares (as XISF requires), and expat
handlers refuse any document type, entity or notation declaration the moment the
parser meets one, in any encoding (so no entity expansion, no external entities, no DTD
processing); malformed XML is a :class:`FormatProblem`.

Writing uses a tiny element model (:class:`Node`) and escapes text and attribute values
so that they parse back identically: ``&``, ``<``, ``>``, quotes, and the white-space
characters that XML parsers would otherwise normalize (tab, line feed, carriage return)
are written as character references.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from xml.parsers import expat

from attrs import define, field

from procfw.io.xisf_codec import FormatProblem

XISF_NAMESPACE = "http://www.pixinsight.com/xisf"
XSI_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = "http://www.pixinsight.com/xisf http://pixinsight.com/xisf/xisf-1.0.xsd"

_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([^"']*)["']""")
#: Characters XML 1.0 cannot carry at all, not even as character references.
INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def local_name(element: ET.Element) -> str:
    """An element's tag without its ``{namespace}`` prefix."""
    tag = element.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


class _Refused(Exception):
    """Raised inside an expat handler to stop parsing; carries the reason."""


def _refuse(what: str) -> Callable[..., None]:
    def handler(*_args: object) -> None:
        raise _Refused(
            f"XML header contains {what}; refused for safety (XISF headers never need one, and entity "
            "expansion or external entities could exhaust memory or read other files)"
        )

    return handler


def _name(name: str) -> str:
    """expat's ``namespace}local`` as ElementTree's ``{namespace}local``."""
    return "{" + name if "}" in name else name


def parse_header(data: bytes) -> ET.Element:
    """Parse an XISF header document and return its root element (safely).

    The document is parsed as UTF-8 whatever it declares or looks like (XISF headers
    are UTF-8; a UTF-16 header is malformed, not re-decoded).  Expat handlers refuse any
    document type declaration, entity or notation declaration and entity reference the
    moment the parser meets one, so nothing is expanded or fetched in any encoding.
    Raises FormatProblem for those, for a declared encoding other than UTF-8 and for
    malformed XML.
    """
    data = data.rstrip(b"\0")
    declared = _ENCODING.match(data)
    if declared and declared.group(1).strip().lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        raise FormatProblem(f"XML header encoding {declared.group(1).decode('ascii', 'replace')!r} is not UTF-8")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatProblem(f"XML header is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    nul = data.find(b"\0")
    if nul >= 0:
        raise FormatProblem(f"XML header contains a NUL byte at byte {nul}: not UTF-8 (UTF-16?) as XISF requires")
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate("UTF-8", "}")  # the encoding given here overrides the document's
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True

    def start(tag: str, attributes: dict[str, str]) -> None:
        builder.start(_name(tag), {_name(key): value for key, value in attributes.items()})

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda tag: builder.end(_name(tag))
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = _refuse("a document type declaration (<!DOCTYPE)")
    parser.EntityDeclHandler = _refuse("an entity declaration (<!ENTITY)")
    parser.UnparsedEntityDeclHandler = _refuse("an unparsed entity declaration")
    parser.NotationDeclHandler = _refuse("a notation declaration")
    parser.ElementDeclHandler = _refuse("an element declaration (<!ELEMENT)")
    parser.AttlistDeclHandler = _refuse("an attribute list declaration (<!ATTLIST)")
    parser.ExternalEntityRefHandler = _refuse("an external entity reference")
    parser.SkippedEntityHandler = _refuse("a reference to an undeclared entity")
    try:
        parser.Parse(data, True)
    except _Refused as exc:
        raise FormatProblem(
            f"{exc} (line {parser.CurrentLineNumber}, column {parser.CurrentColumnNumber + 1})"
        ) from None
    except expat.ExpatError as exc:
        raise FormatProblem(
            f"malformed XML header: {expat.ErrorString(exc.code)}: line {exc.lineno}, column {exc.offset + 1}"
        ) from None
    except RecursionError:
        raise FormatProblem("malformed XML header: elements nested too deeply") from None
    return builder.close()


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
