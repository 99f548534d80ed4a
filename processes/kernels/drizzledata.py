"""PixInsight drizzle data files (``.xdrz``, XDRZ version 1.0): read and write.

The format is PCL's ``DrizzleData`` (``include/pcl/DrizzleData.h``, ``src/pcl/DrizzleData.cpp``):
an XML document, root ``<xdrz version="1.0" xmlns="http://www.pixinsight.com/xdrz">``, with the
child elements (names exactly as PCL writes them)

* ``CreationTime`` (ISO 8601 text), ``SourceImage`` (the registration input: the file drizzle
  integration reads), ``CFASourceImage`` (optional; attributes ``pattern`` and ``channel``: the
  raw mosaiced file a debayered source came from, read by CFA drizzle), ``AlignmentTargetImage``
  (optional: the registered output file);
* ``ReferenceGeometry`` (attributes ``width``, ``height`` and, with integration data,
  ``numberOfChannels``), ``AlignmentOrigin`` (attributes ``x``, ``y``; default 0.5, 0.5: the
  matrix works in coordinates whose origin is the centre of the top-left pixel);
* ``AlignmentMatrix``: nine comma-separated reals, row major, the homography ``H`` that maps
  *reference* coordinates to *source* coordinates (DrizzleIntegration maps each output pixel's
  corners through ``H`` into the source image: PCL's ``DrizzleIntegrationInstance.cpp``);
* integration data written by ImageIntegration: ``Metadata`` (Base64 UTF-16), ``Pedestal``,
  ``LocationEstimates``, ``ReferenceLocation``, ``ScaleFactors``, ``Weights`` (one real per
  channel; a normalized sample is ``(v − L)·S + L0``), and ``RejectionMap`` (attributes ``width``,
  ``height``, ``numberOfChannels``; one ``ChannelData`` child per channel, the map's bytes in the
  *reference* geometry, bit 0 high / bit 1 low statistical rejection, bit 2 high / bit 3 low
  range rejection);
* binary elements are Base64 text, or ``compression="zlib|lz4|lz4hc|zstd[+sh]"`` (``itemSize``
  with byte shuffling) with ``<Subblock uncompressedSize="n">`` children.

Elements this module does not interpret (``AlignmentSpline*``, ``AlignmentReferenceMatrix``,
``LocalDistortionModel``, ``AdaptiveNormalization``) are kept verbatim in :attr:`DrizzleData.extra`
and written back unchanged; a file whose registration is given only by splines is read, and
:meth:`DrizzleData.require_matrix` refuses it with a clear message.  Unknown elements are skipped
(PCL warns and skips them too).  Every size a file declares is checked before memory is
allocated; errors are :class:`DrizzleDataError` naming the file, the element and the rule.
The legacy plain-text ``.drz`` format is not read (refused with a message).
"""

from __future__ import annotations

import base64
import datetime as _dt
import math
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import attrs
import numpy as np

from procfw.errors import ProcfwError

__all__ = [
    "MAX_CHANNELS",
    "MAX_DIMENSION",
    "NAMESPACE",
    "DrizzleData",
    "DrizzleDataError",
    "read_drizzle_data",
    "write_drizzle_data",
]

NAMESPACE = "http://www.pixinsight.com/xdrz"
MAX_DIMENSION = 1 << 20
"""Largest reference width or height accepted (a million pixels a side)."""
MAX_CHANNELS = 16
"""Largest number of channels accepted in integration data."""
MAX_FILE_BYTES = 2 << 30
"""Largest .xdrz file read (2 GiB)."""

_KEPT = ("AlignmentSplineX", "AlignmentSplineY", "AlignmentReferenceMatrix", "AlignmentInverseSplineX",
         "AlignmentInverseSplineY", "AlignmentInverseReferenceMatrix", "LocalDistortionModel",
         "AdaptiveNormalization")
_REAL = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


class DrizzleDataError(ProcfwError):
    """A drizzle data file is malformed, unsupported or inconsistent; the message says where and why."""


def _vector(value: object) -> np.ndarray | None:
    if value is None:
        return None
    return np.asarray(value, dtype=np.float64).reshape(-1)


@attrs.frozen(kw_only=True)
class DrizzleData:
    """The contents of one ``.xdrz`` file (PCL's ``DrizzleData``), as immutable values.

    ``alignment_matrix`` maps reference → source coordinates (with ``alignment_origin``
    subtracted from both); ``rejection_map`` is ``(channels, reference height, reference
    width)`` uint8 with PCL's bit codes.
    """

    source_file_path: str
    reference_width: int
    reference_height: int
    alignment_matrix: np.ndarray | None = attrs.field(default=None, eq=False)
    alignment_origin: tuple[float, float] = (0.5, 0.5)
    cfa_source_file_path: str = ""
    cfa_source_pattern: str = ""
    cfa_source_channel: int = -1
    align_target_file_path: str = ""
    creation_time: str = ""
    metadata: str = ""
    pedestal: float = 0.0
    location: np.ndarray | None = attrs.field(default=None, converter=_vector, eq=False)
    reference_location: np.ndarray | None = attrs.field(default=None, converter=_vector, eq=False)
    scale: np.ndarray | None = attrs.field(default=None, converter=_vector, eq=False)
    weight: np.ndarray | None = attrs.field(default=None, converter=_vector, eq=False)
    rejection_map: np.ndarray | None = attrs.field(default=None, eq=False)
    extra: tuple[str, ...] = ()
    """Uninterpreted elements (splines, local distortion, adaptive normalization), verbatim XML."""

    @property
    def has_integration_data(self) -> bool:
        """Whether ImageIntegration has stored normalization data (location estimates)."""
        return self.location is not None and self.location.size > 0

    @property
    def has_splines(self) -> bool:
        """Whether the file defines surface-spline registration (not interpreted here)."""
        return any(x.lstrip().startswith(("<AlignmentSplineX", "<xdrz:AlignmentSplineX")) for x in self.extra)

    def require_matrix(self, where: str) -> np.ndarray:
        """The 3×3 alignment matrix, or a clear error when the file has none (splines only)."""
        if self.alignment_matrix is None:
            raise DrizzleDataError(f"{where}: the drizzle data define the registration by surface splines only "
                                   "(no AlignmentMatrix); distortion-corrected registration is not supported")
        return self.alignment_matrix

    def without_integration_data(self) -> DrizzleData:
        """A copy without ImageIntegration's data (as PCL's ``ClearIntegrationData``)."""
        kept = tuple(x for x in self.extra if "AdaptiveNormalization" not in x.split(">", 1)[0])
        return attrs.evolve(self, metadata="", pedestal=0.0, location=None, reference_location=None, scale=None,
                            weight=None, rejection_map=None, extra=kept)

    # -- serialization -------------------------------------------------------------------------
    def validate(self, where: str = "drizzle data") -> None:
        """Check the consistency rules of PCL's ``DrizzleData::Serialize``; raise DrizzleDataError."""
        if not self.source_file_path:
            raise DrizzleDataError(f"{where}: the source file path is empty")
        for name, v in (("width", self.reference_width), ("height", self.reference_height)):
            if not 1 <= v <= MAX_DIMENSION:
                raise DrizzleDataError(f"{where}: reference {name} {v} is outside 1..{MAX_DIMENSION}")
        if self.alignment_matrix is not None:
            m = np.asarray(self.alignment_matrix)
            if m.shape != (3, 3) or not np.all(np.isfinite(m)):
                raise DrizzleDataError(f"{where}: the alignment matrix must be 3x3 and finite")
        elif not self.has_splines:
            raise DrizzleDataError(f"{where}: no alignment matrix and no alignment splines")
        n = 0 if self.location is None else self.location.size
        ref = 0 if self.reference_location is None else self.reference_location.size
        if n != ref:
            raise DrizzleDataError(f"{where}: {n} location estimates but {ref} reference locations")
        for name, v in (("scale factors", self.scale), ("weights", self.weight)):
            if v is not None and v.size != n:
                raise DrizzleDataError(f"{where}: {v.size} {name} for {n} channels")
        if self.rejection_map is not None:
            r = self.rejection_map
            if r.ndim != 3 or r.shape[0] != n or r.dtype != np.uint8:
                raise DrizzleDataError(f"{where}: the rejection map must be uint8 (channels={n}, height, width), "
                                       f"got {r.dtype} {r.shape}")
        if not 0 <= self.pedestal < 1:
            raise DrizzleDataError(f"{where}: pedestal {self.pedestal} is outside [0, 1)")

    def to_xml(self, *, compression: str | None = "zlib") -> str:
        """The XDRZ 1.0 document (PCL's element and attribute names and order)."""
        self.validate()
        out = ['<?xml version="1.0" encoding="UTF-8"?>',
               "<!--\nPixInsight XML Drizzle Data Format - XDRZ version 1.0\n"
               "Created with procfw - PixInsight-compatible processing framework\n-->",
               f'<xdrz version="1.0" xmlns="{NAMESPACE}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
               f'xsi:schemaLocation="{NAMESPACE} http://pixinsight.com/xdrz/xdrz-1.0.xsd">']
        created = self.creation_time or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        out.append(f"   <CreationTime>{_esc(created)}</CreationTime>")
        out.append(f"   <SourceImage>{_esc(self.source_file_path)}</SourceImage>")
        if self.cfa_source_file_path:
            attrs_ = ""
            if self.cfa_source_pattern:
                attrs_ += f' pattern="{_esc(self.cfa_source_pattern)}"'
            if self.cfa_source_channel >= 0:
                attrs_ += f' channel="{self.cfa_source_channel}"'
            out.append(f"   <CFASourceImage{attrs_}>{_esc(self.cfa_source_file_path)}</CFASourceImage>")
        if self.align_target_file_path:
            out.append(f"   <AlignmentTargetImage>{_esc(self.align_target_file_path)}</AlignmentTargetImage>")
        channels = "" if not self.has_integration_data else f' numberOfChannels="{self.location.size}"'
        out.append(f'   <ReferenceGeometry width="{self.reference_width}" height="{self.reference_height}"{channels}/>')
        out.append(f'   <AlignmentOrigin x="{_real(self.alignment_origin[0])}" y="{_real(self.alignment_origin[1])}"/>')
        if self.alignment_matrix is not None:
            out.append(f"   <AlignmentMatrix>{_reals(np.asarray(self.alignment_matrix).reshape(-1))}</AlignmentMatrix>")
        out.extend("   " + x for x in self.extra if "AdaptiveNormalization" not in x.split(">", 1)[0])
        if self.metadata:
            data = base64.b64encode(self.metadata.encode("utf-16-le")).decode("ascii")
            out.append(f'   <Metadata encoding="Base64">{data}</Metadata>')
        if self.pedestal > 0:
            out.append(f"   <Pedestal>{_real(self.pedestal)}</Pedestal>")
        if self.has_integration_data:
            out.append(f"   <LocationEstimates>{_reals(self.location)}</LocationEstimates>")
            out.append(f"   <ReferenceLocation>{_reals(self.reference_location)}</ReferenceLocation>")
            if self.scale is not None:
                out.append(f"   <ScaleFactors>{_reals(self.scale)}</ScaleFactors>")
            if self.weight is not None:
                out.append(f"   <Weights>{_reals(self.weight)}</Weights>")
            if self.rejection_map is not None:
                c, h, w = self.rejection_map.shape
                out.append(f'   <RejectionMap width="{w}" height="{h}" numberOfChannels="{c}">')
                for k in range(c):
                    out.append("      " + _binary("ChannelData", np.ascontiguousarray(self.rejection_map[k]).tobytes(),
                                                  compression))
                out.append("   </RejectionMap>")
        out.extend("   " + x for x in self.extra if "AdaptiveNormalization" in x.split(">", 1)[0])
        out.append("</xdrz>")
        return "\n".join(out) + "\n"


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _real(x: float) -> str:
    return repr(float(x)) if math.isfinite(x) else "0"


def _reals(v: np.ndarray) -> str:
    return ",".join(_real(float(x)) for x in np.asarray(v).reshape(-1))


def _binary(name: str, data: bytes, compression: str | None) -> str:
    if compression:
        from procfw.io.pcl_xml_binary import encode_subblock

        text = encode_subblock(data, compression, 1)
        if text is not None:
            return (f'<{name} compression="{compression}"><Subblock uncompressedSize="{len(data)}">{text}'
                    f"</Subblock></{name}>")
    return f"<{name}>{base64.b64encode(data).decode('ascii')}</{name}>"


# -- parsing ------------------------------------------------------------------------------------
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _int_attr(element: ET.Element, name: str, where: str, low: int, high: int) -> int:
    text = element.get(name)
    if text is None or not text.strip():
        raise DrizzleDataError(f"{where}: {_local(element.tag)} lacks the {name} attribute")
    try:
        value = int(text.strip(), 10)
    except ValueError:
        raise DrizzleDataError(f"{where}: {_local(element.tag)} {name}={text!r} is not an integer") from None
    if not low <= value <= high:
        raise DrizzleDataError(f"{where}: {_local(element.tag)} {name}={value} is outside {low}..{high}")
    return value


def _real_text(text: str, where: str, what: str) -> float:
    if not _REAL.fullmatch(text or "") and text.strip().lower() not in ("nan", "inf", "-inf", "+inf"):
        raise DrizzleDataError(f"{where}: {what}: {text.strip()[:40]!r} is not a real number")
    value = float(text)
    if not math.isfinite(value):
        raise DrizzleDataError(f"{where}: {what}: {text.strip()!r} is not finite")
    return value


def _real_list(element: ET.Element, where: str, low: int, high: int) -> np.ndarray:
    text = (element.text or "").strip()
    items = text.split(",") if text else []
    name = _local(element.tag)
    if not low <= len(items) <= high:
        raise DrizzleDataError(f"{where}: {name} has {len(items)} values; {low}..{high} expected")
    return np.array([_real_text(t, where, name) for t in items], dtype=np.float64)


def _binary_data(element: ET.Element, where: str, expected: int) -> bytes:
    """Decode a maybe-compressed binary element whose decoded size must be ``expected`` bytes."""
    from procfw.io.pcl_xml_binary import decode_subblocks
    from procfw.io.xisf_codec import FormatProblem

    name = _local(element.tag)
    codec_attr = (element.get("compression") or "").strip()
    try:
        if not codec_attr:
            text = (element.text or "").strip()
            if len(text) > 4 * (expected // 3 + 2):
                raise DrizzleDataError(f"{where}: {name} holds more Base64 text than {expected} bytes need")
            data = _b64(text, where, name)
        else:
            item = _int_attr(element, "itemSize", where, 1, 64) if element.get("itemSize") else 1
            blocks = [b for b in element if _local(b.tag) == "Subblock"]
            subblocks = [(_int_attr(b, "uncompressedSize", where, 0, expected), b.text) for b in blocks]
            data = decode_subblocks(codec_attr, subblocks, allowed=(expected,), item_size=item, what=name)
    except FormatProblem as exc:
        raise DrizzleDataError(f"{where}: {exc}") from None
    if len(data) != expected:
        raise DrizzleDataError(f"{where}: {name} holds {len(data)} bytes; {expected} expected")
    return data


def _b64(text: str, where: str, name: str) -> bytes:
    from procfw.io.pcl_xml_binary import b64decode
    from procfw.io.xisf_codec import FormatProblem

    try:
        return b64decode(text, name)
    except FormatProblem as exc:
        raise DrizzleDataError(f"{where}: {exc}") from None


def _rejection_map(element: ET.Element, where: str) -> np.ndarray:
    w = _int_attr(element, "width", where, 1, MAX_DIMENSION)
    h = _int_attr(element, "height", where, 1, MAX_DIMENSION)
    c = _int_attr(element, "numberOfChannels", where, 1, MAX_CHANNELS)
    channels = [e for e in element if _local(e.tag) == "ChannelData"]
    if len(channels) != c:
        raise DrizzleDataError(f"{where}: RejectionMap declares {c} channels but has {len(channels)} ChannelData")
    size = w * h
    # a declared size is checked against the text actually present before anything is allocated
    for e in channels:
        if not (e.get("compression") or "").strip() and len((e.text or "").strip()) < 4 * (size // 3):
            raise DrizzleDataError(f"{where}: RejectionMap ChannelData is shorter than {w}x{h} bytes")
    out = np.empty((c, h, w), dtype=np.uint8)
    for k, e in enumerate(channels):
        out[k] = np.frombuffer(_binary_data(e, where, size), dtype=np.uint8).reshape(h, w)
    return out


def parse_drizzle_data(text: bytes | str, where: str = "drizzle data") -> DrizzleData:
    """Parse an XDRZ 1.0 document; ``where`` (the file name) prefixes every error."""
    from procfw.io.xisf_codec import FormatProblem
    from procfw.io.xisf_xml import parse_header

    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    stripped = data.lstrip()
    if not stripped:
        raise DrizzleDataError(f"{where}: empty drizzle data file")
    if not stripped.startswith(b"<"):
        raise DrizzleDataError(f"{where}: not an XML document (the old plain-text .drz format is not supported)")
    try:
        root = parse_header(stripped)
    except FormatProblem as exc:
        raise DrizzleDataError(f"{where}: {exc}") from None
    if _local(root.tag) != "xdrz" or root.get("version") != "1.0":
        raise DrizzleDataError(f"{where}: not an XDRZ version 1.0 document (root <{_local(root.tag)}>)")
    fields: dict[str, object] = {}
    extra: list[str] = []
    width = height = 0
    for element in root:
        name = _local(element.tag)
        text_ = (element.text or "").strip()
        if name == "SourceImage":
            if not text_:
                raise DrizzleDataError(f"{where}: empty SourceImage")
            fields["source_file_path"] = text_
        elif name == "CFASourceImage":
            fields["cfa_source_file_path"] = text_
            fields["cfa_source_pattern"] = (element.get("pattern") or "").strip()
            if (element.get("channel") or "").strip():
                fields["cfa_source_channel"] = _int_attr(element, "channel", where, -1, 2**31 - 1)
        elif name == "AlignmentTargetImage":
            fields["align_target_file_path"] = text_
        elif name == "ReferenceGeometry":
            width = _int_attr(element, "width", where, 1, MAX_DIMENSION)
            height = _int_attr(element, "height", where, 1, MAX_DIMENSION)
        elif name == "AlignmentOrigin":
            for axis in ("x", "y"):
                if element.get(axis) is None:
                    raise DrizzleDataError(f"{where}: AlignmentOrigin lacks the {axis} attribute")
            fields["alignment_origin"] = (_real_text(element.get("x"), where, "AlignmentOrigin x"),
                                          _real_text(element.get("y"), where, "AlignmentOrigin y"))
        elif name == "AlignmentMatrix":
            fields["alignment_matrix"] = _real_list(element, where, 9, 9).reshape(3, 3)
        elif name == "Metadata":
            enc = (element.get("encoding") or "").strip().lower()
            if not enc:
                fields["metadata"] = text_
            elif enc != "base64":
                raise DrizzleDataError(f"{where}: Metadata encoding {enc!r}: Base64 expected")
            else:
                fields["metadata"] = _b64(text_, where, "Metadata").decode("utf-16-le", "replace")
        elif name == "Pedestal":
            value = _real_text(text_, where, "Pedestal")
            if not 0 <= value < 1:
                raise DrizzleDataError(f"{where}: Pedestal {value} is outside [0, 1)")
            fields["pedestal"] = value
        elif name in ("LocationEstimates", "ReferenceLocation", "ScaleFactors", "Weights"):
            key = {"LocationEstimates": "location", "ReferenceLocation": "reference_location",
                   "ScaleFactors": "scale", "Weights": "weight"}[name]
            fields[key] = _real_list(element, where, 1, MAX_CHANNELS)
        elif name == "RejectionMap":
            fields["rejection_map"] = _rejection_map(element, where)
        elif name == "CreationTime":
            fields["creation_time"] = text_
        elif name in _KEPT:
            extra.append(_verbatim(element))
        # anything else: skipped, as PCL does (with a warning there)
    if "source_file_path" not in fields:
        raise DrizzleDataError(f"{where}: missing required SourceImage element")
    if width < 1:
        raise DrizzleDataError(f"{where}: missing required ReferenceGeometry element")
    has_spline = any("AlignmentSplineX" in x.split(">", 1)[0] for x in extra)
    if "alignment_matrix" not in fields and not has_spline:
        raise DrizzleDataError(f"{where}: missing required AlignmentMatrix or AlignmentSplineX/Y element(s)")
    result = DrizzleData(reference_width=width, reference_height=height, extra=tuple(extra), **fields)
    rmap = result.rejection_map
    if rmap is not None and rmap.shape[1:] != (height, width):
        raise DrizzleDataError(f"{where}: the rejection map is {rmap.shape[2]}x{rmap.shape[1]} but the reference "
                               f"geometry is {width}x{height}")
    try:
        result.validate(where)
    except DrizzleDataError as exc:
        raise DrizzleDataError(f"{exc} (incongruent integration data)") from None
    return result


def _verbatim(element: ET.Element) -> str:
    """An element as XML text without namespace prefixes (the default namespace is the root's)."""
    copy = ET.fromstring(ET.tostring(element))
    for e in copy.iter():
        e.tag = _local(e.tag)
    return ET.tostring(copy, encoding="unicode").strip()


def read_drizzle_data(path: str | os.PathLike[str]) -> DrizzleData:
    """Read an ``.xdrz`` file; errors name the file."""
    p = Path(path).expanduser()
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DrizzleDataError(f"{p}: {size} bytes is larger than the {MAX_FILE_BYTES} bytes accepted")
        data = p.read_bytes()
    except OSError as exc:
        raise DrizzleDataError(f"{p}: cannot read the drizzle data file: {exc.strerror or exc}") from None
    return parse_drizzle_data(data, str(p))


def write_drizzle_data(data: DrizzleData, path: str | os.PathLike[str], *, overwrite: bool = False,
                       compression: str | None = "zlib") -> Path:
    """Write ``data`` atomically to ``path`` (an existing file only when ``overwrite``)."""
    from procfw.io.atomic import atomic_path

    target = Path(path).expanduser()
    data.validate(str(target))
    text = data.to_xml(compression=compression)
    with atomic_path(target, overwrite=overwrite) as temp:
        Path(temp).write_text(text, encoding="utf-8")
    return target
