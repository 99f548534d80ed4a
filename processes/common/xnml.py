"""PixInsight's local normalization data files (``.xnml``, XNML 1.0), read and written.

Written from PCL's ``LocalNormalizationData`` (``include/pcl/LocalNormalizationData.h``,
``src/pcl/LocalNormalizationData.cpp``).  An XNML file is XML::

    <xnml version="1.0" [valid="false"] xmlns="http://www.pixinsight.com/xnml" ...>
       <CreationTime>2024-05-01T12:00:00.000Z</CreationTime>
       <ReferenceImage>/path/reference.xisf</ReferenceImage>          (optional)
       <TargetImage>/path/target.xisf</TargetImage>                   (optional)
       <ReferenceGeometry width="W" height="H" numberOfChannels="n"/>  (required)
       <LocalNormalization scale="1024" version="1">
          <Scale width="w" height="h" numberOfChannels="n" sampleFormat="Float32">
             <ChannelData compression="lz4+sh">
                <Subblock uncompressedSize="4·w·h">base64</Subblock> ...
             </ChannelData> ...                                         (one per channel)
          </Scale>
          <ZeroOffset ...same layout.../>
          <Bias>c0,c1,...</Bias>                                        (optional)
       </LocalNormalization>
       <GlobalNormalization>                                            (optional)
          <Scale>s,...</Scale><ReferenceLocation>r,...</ReferenceLocation><TargetLocation>t,...</TargetLocation>
       </GlobalNormalization>
       <RelativeScaleFactors>k,...</RelativeScaleFactors>               (optional)
    </xnml>

Channel data is the matrix's float32 samples (row by row, little-endian) in base64, or
``Float64`` samples when ``sampleFormat="Float64"``; compressed (``compression`` = lz4,
lz4hc, zlib or zstd, ``+sh`` for byte shuffling with an item size of 4 bytes, as PCL)
as one or more ``Subblock`` elements whose concatenated, then unshuffled, contents are the
samples (a subblock no smaller than its uncompressed size is stored as is).

The normalization of a pixel value ``v`` at image pixel ``(x, y)``, channel ``c`` is

    v' = A_c(x, y)·(v − C_c) + B_c(x, y)             [then (v' − T_c)·S_c + R_c if global]

with ``A`` the ``Scale`` matrices, ``B`` the ``ZeroOffset`` matrices and ``C`` the bias,
both matrices evaluated by PCL's bicubic B-spline at matrix coordinates
``(x·w/W, y·h/H)`` (:mod:`processes.kernels.bspline_grid`).

Reading is safe on hostile files: the XML parser refuses entities and DOCTYPEs, the file
size is limited, and every declared size (matrix dimensions, channels, subblock sizes)
is checked against the limits and against each other *before* anything is allocated or
decompressed.  Every problem is an :class:`XnmlFileError` naming the file and the rule.
"""

from __future__ import annotations

import base64
import datetime as _dt
import math
import os
from collections.abc import Sequence
from pathlib import Path

import attrs
import numpy as np

from procfw.errors import ImageFileError
from procfw.io.xisf_codec import CODECS

__all__ = [
    "MAX_XNML_BYTES",
    "MIN_NORMALIZATION_SCALE",
    "LocalNormalizationData",
    "XnmlFileError",
    "parse_xnml",
    "read_xnml",
    "serialize_xnml",
    "write_xnml",
]

MIN_NORMALIZATION_SCALE = 16
"""Smallest ``scale`` attribute PCL accepts."""

MAX_XNML_BYTES = 256 * 1024 * 1024
"""Largest .xnml file read (bytes)."""

MAX_MATRIX_SIDE = 65536
MAX_CHANNELS = 64
MAX_VECTOR_ITEMS = 256  # PCL's ParseVector limit
_NAMESPACE = "http://www.pixinsight.com/xnml"
_BAND_ROWS = 256


class XnmlFileError(ImageFileError):
    """A local normalization data file cannot be read or written (the message names it and the problem)."""


def _vector(values: Sequence[float] | np.ndarray | None) -> np.ndarray | None:
    if values is None:
        return None
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    return array if array.size else None


@attrs.frozen(kw_only=True, eq=False)
class LocalNormalizationData:
    """The content of an .xnml file: normalization matrices, geometry and provenance.

    ``scale_matrices`` (A) and ``offset_matrices`` (B) are float32 arrays (channels, h, w);
    ``bias`` (C), ``global_scale`` (S), ``reference_location`` (R), ``target_location`` (T)
    and ``relative_scale_factors`` are per-channel vectors or None.  ``valid=False`` files
    (PixInsight's ``generateInvalidData``) carry no matrices.
    """

    scale: int
    reference_width: int
    reference_height: int
    scale_matrices: np.ndarray | None = None
    offset_matrices: np.ndarray | None = None
    bias: np.ndarray | None = attrs.field(default=None, converter=_vector)
    global_scale: np.ndarray | None = attrs.field(default=None, converter=_vector)
    reference_location: np.ndarray | None = attrs.field(default=None, converter=_vector)
    target_location: np.ndarray | None = attrs.field(default=None, converter=_vector)
    relative_scale_factors: np.ndarray | None = attrs.field(default=None, converter=_vector)
    reference_path: str = ""
    target_path: str = ""
    creation_time: str = ""
    version: int = 1
    valid: bool = True

    def __attrs_post_init__(self) -> None:
        problem = self.problem()
        if problem:
            raise ValueError(f"invalid local normalization data: {problem}")

    @property
    def channels(self) -> int:
        """Number of channels of the matrices (0 for invalid data)."""
        return 0 if self.scale_matrices is None else int(self.scale_matrices.shape[0])

    def problem(self) -> str:
        """Why these data are inconsistent ("" when they are fine): PCL's validation rules."""
        if self.scale < MIN_NORMALIZATION_SCALE:
            return f"the normalization scale {self.scale} is below {MIN_NORMALIZATION_SCALE}"
        if self.reference_width < 1 or self.reference_height < 1:
            return f"invalid reference dimensions {self.reference_width}x{self.reference_height}"
        if not self.valid:
            return ""
        a, b = self.scale_matrices, self.offset_matrices
        if a is None or b is None:
            return "missing Scale or ZeroOffset matrices"
        if a.ndim != 3 or a.shape != b.shape or min(a.shape) < 1:
            return f"incongruent normalization matrices {a.shape} and {b.shape}"
        channels, h, w = a.shape
        if self.reference_width < w or self.reference_height < h:
            return (f"the {w}x{h} matrices are larger than the reference "
                    f"{self.reference_width}x{self.reference_height}")
        for name in ("bias", "global_scale", "reference_location", "target_location", "relative_scale_factors"):
            vector = getattr(self, name)
            if vector is not None and vector.size != channels:
                return f"{name} has {vector.size} components for {channels} channel(s)"
        has_global = [v is not None for v in (self.global_scale, self.reference_location, self.target_location)]
        if any(has_global) and not all(has_global):
            return "incomplete global normalization vectors (Scale, ReferenceLocation and TargetLocation)"
        return ""

    # -- applying -------------------------------------------------------------------------
    def check_geometry(self, width: int, height: int, channels: int, what: str) -> None:
        """Raise ExecutionError-like XnmlFileError when ``what`` does not match these data."""
        if not self.valid:
            raise XnmlFileError(self.target_path or "<xnml>", f"the data are tagged invalid (valid=\"false\"); "
                                f"{what} cannot be normalized with them")
        if (width, height) != (self.reference_width, self.reference_height):
            raise XnmlFileError(self.target_path or "<xnml>", f"{what} is {width}x{height} but the normalization "
                                f"data are for {self.reference_width}x{self.reference_height} images")
        if channels != self.channels:
            raise XnmlFileError(self.target_path or "<xnml>", f"{what} has {channels} channel(s) but the "
                                f"normalization data have {self.channels}")

    def normalize_rows(self, values: np.ndarray, channel: int, rows: np.ndarray | Sequence[int],
                       *, keep_zeros: bool = True) -> None:
        """Normalize ``values`` (len(rows), reference width) of ``channel`` in place.

        ``rows`` are the image rows the values come from.  Zero pixels stay zero when
        ``keep_zeros`` (PixInsight leaves black pixels alone).  Work goes in bands of rows.
        """
        from processes.kernels.bspline_grid import evaluate_rows

        assert self.scale_matrices is not None and self.offset_matrices is not None
        rows = np.asarray(rows, dtype=np.int64)
        a_m = self.scale_matrices[channel]
        b_m = self.offset_matrices[channel]
        bias = float(self.bias[channel]) if self.bias is not None else 0.0
        w, h = self.reference_width, self.reference_height
        for start in range(0, rows.size, _BAND_ROWS):
            part = slice(start, min(rows.size, start + _BAND_ROWS))
            block = values[part]
            a = evaluate_rows(a_m, rows[part], w, h)
            b = evaluate_rows(b_m, rows[part], w, h)
            out = a * (block.astype(np.float64) - bias) + b
            if self.global_scale is not None:
                out = (out - self.target_location[channel]) * self.global_scale[channel] \
                    + self.reference_location[channel]
            if keep_zeros:
                out = np.where(block == 0, 0.0, out)
            block[...] = out

    def coefficient_planes(self, channel: int) -> tuple[np.ndarray, np.ndarray]:
        """The whole function of ``channel`` as two float32 (reference height, width) planes
        ``(slope, offset)``: ``v' = slope·v + offset`` at every reference pixel, bias and global
        normalization folded in (for code that normalizes samples at scattered positions)."""
        rows = np.arange(self.reference_height)
        offset = np.zeros((self.reference_height, self.reference_width))
        slope = np.ones_like(offset)
        self.normalize_rows(offset, channel, rows, keep_zeros=False)
        self.normalize_rows(slope, channel, rows, keep_zeros=False)
        slope -= offset
        return slope.astype(np.float32), offset.astype(np.float32)


# -- reading -----------------------------------------------------------------------------------


def read_xnml(path: str | os.PathLike[str]) -> LocalNormalizationData:
    """Read and validate an .xnml file (XnmlFileError naming it on any problem)."""
    target = Path(path)
    try:
        size = target.stat().st_size
    except OSError as exc:
        raise XnmlFileError(target, f"cannot read the local normalization data file: {exc.strerror or exc}") from exc
    if size > MAX_XNML_BYTES:
        raise XnmlFileError(target, f"the file is {size} bytes; .xnml files are limited to {MAX_XNML_BYTES} bytes")
    try:
        data = target.read_bytes()
    except OSError as exc:
        raise XnmlFileError(target, f"cannot read the local normalization data file: {exc.strerror or exc}") from exc
    return parse_xnml(data, source=str(target))


def parse_xnml(data: bytes | str, *, source: str = "<xnml>") -> LocalNormalizationData:
    """Parse XNML document text (see the module docstring); XnmlFileError naming ``source``."""
    from procfw.icons.model import IconFileError
    from procfw.icons.safexml import parse_xml

    if isinstance(data, str):
        data = data.encode("utf-8")
    if not data.strip():
        raise XnmlFileError(source, "empty normalization data file")
    try:
        root = parse_xml(data, source=source, max_bytes=MAX_XNML_BYTES, max_depth=16)
    except IconFileError as exc:
        raise XnmlFileError(source, str(exc).removeprefix(f"{source}: ").removeprefix(f"{source}:")) from None
    return _Parser(source).root(root)


def _local(tag: str) -> str:
    return tag.rsplit(":", 1)[-1].rsplit("}", 1)[-1]


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, problem: str) -> XnmlFileError:
        return XnmlFileError(self.source, problem)

    def attribute(self, element, name: str) -> str:
        for key, value in element.attributes:
            if key == name:
                return value
        return ""

    def integer(self, element, name: str, *, required: bool = True, minimum: int = 1,
                maximum: int = 2**31 - 1) -> int | None:
        text = self.attribute(element, name).strip()
        where = f"{_local(element.tag)} {name} attribute"
        if not text:
            if required:
                raise self.fail(f"missing {where}")
            return None
        try:
            value = int(text, 10)
        except ValueError:
            raise self.fail(f"invalid {where} value {text!r}: not an integer") from None
        if not minimum <= value <= maximum:
            raise self.fail(f"invalid {where} value {value}: must be in [{minimum}, {maximum}]")
        return value

    def vector(self, element) -> np.ndarray:
        text = (element.text or "").strip()
        name = _local(element.tag)
        if not text:
            raise self.fail(f"empty {name} vector")
        items = text.split(",")
        if len(items) > MAX_VECTOR_ITEMS:
            raise self.fail(f"{name} vector: too many items ({len(items)} > {MAX_VECTOR_ITEMS})")
        out = []
        for item in items:
            try:
                value = float(item.strip())
            except ValueError:
                raise self.fail(f"{name} vector: invalid floating point literal {item.strip()!r}") from None
            if not math.isfinite(value):
                raise self.fail(f"{name} vector: non-finite value {item.strip()!r}")
            out.append(value)
        return np.asarray(out, dtype=np.float64)

    def root(self, root) -> LocalNormalizationData:
        if _local(root.tag) != "xnml" or self.attribute(root, "version") != "1.0":
            raise self.fail("not an XNML version 1.0 document (root element <xnml version=\"1.0\"> expected)")
        valid_text = self.attribute(root, "valid").strip().lower()
        valid = valid_text not in ("false", "0", "no")
        ignore = not valid  # an invalid file carries no normalization data (PCL ignores them)
        fields: dict = {"valid": valid}
        geometry = None
        local = None
        for element in root.children:
            name = _local(element.tag)
            if name == "ReferenceImage":
                fields["reference_path"] = (element.text or "").strip()
            elif name == "TargetImage":
                fields["target_path"] = (element.text or "").strip()
            elif name == "CreationTime":
                fields["creation_time"] = (element.text or "").strip()
            elif name == "ReferenceGeometry":
                geometry = element
            elif name == "LocalNormalization":
                local = element
            elif name == "GlobalNormalization" and not ignore:
                found = {_local(c.tag): c for c in element.children}
                for key, field in (("Scale", "global_scale"), ("ReferenceLocation", "reference_location"),
                                   ("TargetLocation", "target_location")):
                    if key not in found:
                        raise self.fail(f"GlobalNormalization: missing {key} vector")
                    fields[field] = self.vector(found[key])
            elif name == "RelativeScaleFactors" and not ignore:
                fields["relative_scale_factors"] = self.vector(element)
        if geometry is None:
            raise self.fail("missing required ReferenceGeometry element")
        width = self.integer(geometry, "width", maximum=2**31 - 1)
        height = self.integer(geometry, "height", maximum=2**31 - 1)
        if local is None:
            raise self.fail("missing required LocalNormalization element")
        scale = self.integer(local, "scale", minimum=MIN_NORMALIZATION_SCALE)
        version = self.integer(local, "version", required=False, minimum=0) or 1
        if not ignore:
            found = {}
            for element in local.children:
                name = _local(element.tag)
                if name in ("Scale", "ZeroOffset"):
                    if name in found:
                        raise self.fail(f"LocalNormalization: more than one {name} element")
                    found[name] = self.matrices(element, width, height)
                elif name == "Bias":
                    fields["bias"] = self.vector(element)
            if "Scale" not in found:
                raise self.fail("missing local normalization scale matrices (LocalNormalization/Scale)")
            if "ZeroOffset" not in found:
                raise self.fail("missing local normalization zero offset matrices (LocalNormalization/ZeroOffset)")
            fields["scale_matrices"], fields["offset_matrices"] = found["Scale"], found["ZeroOffset"]
        if width < scale or height < scale:
            raise self.fail(f"invalid reference dimensions {width}x{height}: smaller than the normalization scale "
                            f"{scale}")
        try:
            return LocalNormalizationData(scale=scale, reference_width=width, reference_height=height,
                                          version=version, **fields)
        except ValueError as exc:
            raise self.fail(str(exc)) from None

    def matrices(self, element, ref_width: int, ref_height: int) -> np.ndarray:
        name = _local(element.tag)
        w = self.integer(element, "width", maximum=min(MAX_MATRIX_SIDE, ref_width))
        h = self.integer(element, "height", maximum=min(MAX_MATRIX_SIDE, ref_height))
        channels = self.integer(element, "numberOfChannels", maximum=MAX_CHANNELS)
        sample_format = self.attribute(element, "sampleFormat").strip() or "Float32"
        if sample_format not in ("Float32", "Float64"):
            raise self.fail(f"invalid or unsupported {name} sampleFormat attribute value {sample_format!r}")
        from procfw.io.limits import check_image_size

        try:
            check_image_size(self.source, (channels, h, w), 4, f"the {name} matrices")
        except ImageFileError as exc:
            raise self.fail(exc.problem) from None
        channel_bytes = 4 * w * h
        allowed = {channel_bytes} | ({2 * channel_bytes} if sample_format == "Float64" else set())
        blocks = [c for c in element.children if _local(c.tag) == "ChannelData"]
        if len(blocks) > channels:
            raise self.fail(f"{name}: {len(blocks)} ChannelData elements for numberOfChannels={channels}")
        if len(blocks) < channels:
            raise self.fail(f"missing {name} channel data ({len(blocks)} of {channels} channels)")
        out = np.empty((channels, h, w), dtype=np.float32)
        for c, block in enumerate(blocks):
            raw = self.channel_bytes(block, name, allowed)
            if len(raw) == channel_bytes:
                out[c] = np.frombuffer(raw, dtype="<f4").reshape(h, w)
            else:
                out[c] = np.frombuffer(raw, dtype="<f8").reshape(h, w)
        if not np.isfinite(out).all():
            raise self.fail(f"{name}: the matrices contain non-finite values")
        return out

    def channel_bytes(self, block, name: str, allowed: set[int]) -> bytes:
        from procfw.io.pcl_xml_binary import b64decode, decode_subblocks
        from procfw.io.xisf_codec import FormatProblem

        codec_text = self.attribute(block, "compression").strip()
        what = f"{name} ChannelData"
        try:
            if not codec_text:
                raw = b64decode(block.text, what)
                if len(raw) not in allowed:
                    expected = " or ".join(str(n) for n in sorted(allowed))
                    raise FormatProblem(f"{what}: invalid channel data size: expected {expected} bytes, "
                                        f"got {len(raw)} bytes")
                return raw
            subblocks = [(self.integer(sub, "uncompressedSize", maximum=2**63 - 1), sub.text)
                         for sub in block.children if _local(sub.tag) == "Subblock"]
            return decode_subblocks(codec_text, subblocks, allowed=allowed, item_size=4, what=what)
        except FormatProblem as exc:
            raise self.fail(str(exc)) from None


# -- writing -----------------------------------------------------------------------------------


def _text(value: str) -> str:
    from procfw.icons.safexml import escape_text

    return escape_text(value)


def _attr(value: str) -> str:
    from procfw.icons.safexml import escape_attribute

    return escape_attribute(value)


def _csv(vector: np.ndarray) -> str:
    return ",".join(repr(float(v)) for v in vector)


def _channel_xml(plane: np.ndarray, compression: str | None, indent: str) -> list[str]:
    raw = np.ascontiguousarray(plane, dtype="<f4").tobytes()
    if compression:
        from procfw.io.pcl_xml_binary import encode_subblock

        packed = encode_subblock(raw, compression, 4)
        if packed is not None:
            return [f'{indent}<ChannelData compression="{compression}">',
                    f'{indent}   <Subblock uncompressedSize="{len(raw)}">{packed}</Subblock>',
                    f"{indent}</ChannelData>"]
    return [f"{indent}<ChannelData>{base64.b64encode(raw).decode('ascii')}</ChannelData>"]


def serialize_xnml(data: LocalNormalizationData, *, compression: str | None = "lz4+sh",
                   creation_time: str | None = None) -> str:
    """The XNML text of ``data`` in PCL's layout (3-space indentation, lz4+sh compressed channels)."""
    if compression is not None and compression.removesuffix("+sh") not in CODECS:
        raise ValueError(f"unsupported .xnml compression {compression!r} (lz4, lz4hc, zlib, zstd, +sh)")
    when = creation_time or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<!--",
             "PixInsight XML Local Normalization Data Format - XNML version 1.0",
             "Created with PixInsight software - http://pixinsight.com/", "-->"]
    valid = "" if data.valid else ' valid="false"'
    lines.append(f'<xnml version="1.0"{valid} xmlns="{_NAMESPACE}" '
                 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                 'xsi:schemaLocation="http://www.pixinsight.com/xnml http://pixinsight.com/xnml/xnml-1.0.xsd">')
    lines.append(f"   <CreationTime>{_text(when)}</CreationTime>")
    lines.append(f"   <ReferenceImage>{_text(data.reference_path)}</ReferenceImage>")
    lines.append(f"   <TargetImage>{_text(data.target_path)}</TargetImage>")
    lines.append(f'   <ReferenceGeometry width="{data.reference_width}" height="{data.reference_height}" '
                 f'numberOfChannels="{data.channels}"/>')
    lines.append(f'   <LocalNormalization scale="{data.scale}" version="{max(1, data.version)}"'
                 + (">" if data.valid else "/>"))
    if data.valid:
        assert data.scale_matrices is not None and data.offset_matrices is not None
        for tag, matrices in (("Scale", data.scale_matrices), ("ZeroOffset", data.offset_matrices)):
            c, h, w = matrices.shape
            lines.append(f'      <{tag} width="{w}" height="{h}" numberOfChannels="{c}" sampleFormat="Float32">')
            for plane in matrices:
                lines += _channel_xml(plane, compression, "         ")
            lines.append(f"      </{tag}>")
        if data.bias is not None:
            lines.append(f"      <Bias>{_csv(data.bias)}</Bias>")
        lines.append("   </LocalNormalization>")
        if data.global_scale is not None:
            lines += ["   <GlobalNormalization>", f"      <Scale>{_csv(data.global_scale)}</Scale>",
                      f"      <ReferenceLocation>{_csv(data.reference_location)}</ReferenceLocation>",
                      f"      <TargetLocation>{_csv(data.target_location)}</TargetLocation>",
                      "   </GlobalNormalization>"]
        if data.relative_scale_factors is not None:
            lines.append(f"   <RelativeScaleFactors>{_csv(data.relative_scale_factors)}</RelativeScaleFactors>")
    lines.append("</xnml>")
    return "\n".join(lines) + "\n"


def write_xnml(data: LocalNormalizationData, path: str | os.PathLike[str], *, overwrite: bool = False,
               compression: str | None = "lz4+sh") -> Path:
    """Write ``data`` atomically as an .xnml file; an existing file is replaced only with ``overwrite``."""
    from procfw.io.atomic import atomic_path

    text = serialize_xnml(data, compression=compression)
    target = Path(path)
    with atomic_path(target, overwrite=overwrite) as temp:
        temp.write_text(text, encoding="utf-8")
    return target
