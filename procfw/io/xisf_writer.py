"""XISF writing internals: pixel encoding, header layout and the monolithic file.

The public entry points are :func:`procfw.io.xisf.write_xisf` and
``procfw.io.xisf.XISF_FORMAT.write``.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import platform
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from procfw.errors import ParameterError
from procfw.image import FITSKeyword, Image
from procfw.io import xisf_codec as codec
from procfw.io.pagecache import open_write_through
from procfw.io.samples import warn_if_lossy
from procfw.io.xisf_codec import FormatProblem
from procfw.io.xisf_properties import (
    PROPERTY_TYPES_KEY,
    UnsupportedProperty,
    format_float,
    format_keyword_value,
    property_node,
)
from procfw.io.xisf_reader import (
    _COMMENTARY,
    BLOCK_ALIGNMENT,
    COLOR_FILTER_ARRAY_KEY,
    DISPLAY_FUNCTION_KEY,
    RESOLUTION_KEY,
    SAMPLE_FORMATS,
    SIGNATURE,
)
from procfw.io.xisf_xml import Node, header_document

log = logging.getLogger("procfw.io.xisf")

_SPECIAL_KEYS = frozenset({PROPERTY_TYPES_KEY, DISPLAY_FUNCTION_KEY, COLOR_FILTER_ARRAY_KEY, RESOLUTION_KEY})
#: Metadata properties that describe a particular file; the writer replaces them.
_FILE_METADATA = frozenset(
    {
        "XISF:CreationTime",
        "XISF:CreatorApplication",
        "XISF:CreatorModule",
        "XISF:CreatorOS",
        "XISF:BlockAlignmentSize",
        "XISF:MaxInlineBlockSize",
        "XISF:CompressionCodecs",
        "XISF:CompressionLevel",
    }
)

#: Sample formats the writer produces.
WRITE_SAMPLE_FORMATS = ("UInt8", "UInt16", "UInt32", "Float32", "Float64")

_CHUNK_SAMPLES = 1 << 22


def _creator() -> str:
    from procfw import __version__

    return f"procfw {__version__}"


@attrs.frozen
class WriteOptions:
    """Validated options of :func:`procfw.io.xisf.write_xisf` (defaults: the image's sample
    format, raw, SHA-1)."""

    sample_format: str | None = None
    compression: str | None = None
    shuffle: bool = False
    checksum: str | None = "sha1"
    level: int | None = None

    @classmethod
    def checked(
        cls, sample_format: str | None, compression: str | None, shuffle: bool, checksum: str | None,
        level: int | None,
    ) -> WriteOptions:
        """Validate the options; bad values raise ParameterError."""
        if sample_format is not None and sample_format not in WRITE_SAMPLE_FORMATS:
            raise ParameterError(f"sample_format {sample_format!r} is not one of {', '.join(WRITE_SAMPLE_FORMATS)}")
        if compression is not None:
            compression = compression.lower()
            if compression not in codec.CODECS:
                raise ParameterError(f"compression {compression!r} is not None or one of {', '.join(codec.CODECS)}")
            try:
                level = codec.check_level(compression, level)
            except ValueError as exc:
                raise ParameterError(str(exc)) from None
        if checksum is not None:
            try:
                codec.hasher_for(checksum)
            except FormatProblem as exc:
                raise ParameterError(str(exc)) from None
        return cls(sample_format, compression, bool(shuffle) and compression is not None, checksum, level)


def _encoded_chunks(pixels: np.ndarray, sample_format: str) -> Iterator[np.ndarray]:
    """The pixel block in planar order as little-endian samples, in bounded chunks."""
    base, maximum = SAMPLE_FORMATS[sample_format]
    target = base.newbyteorder("<") if base.itemsize > 1 else base
    if maximum is None and pixels.dtype == target and pixels.flags.c_contiguous:
        yield pixels.reshape(-1)
        return
    channels, height, width = pixels.shape
    rows = max(1, _CHUNK_SAMPLES // width)
    for channel in range(channels):
        for top in range(0, height, rows):
            chunk = pixels[channel, top : top + rows]
            if maximum is None:
                yield np.ascontiguousarray(chunk, dtype=target).reshape(-1)
                continue
            scaled = np.clip(chunk, 0.0, 1.0, dtype=np.float64)
            np.nan_to_num(scaled, copy=False, nan=0.0)
            scaled *= maximum
            np.rint(scaled, out=scaled)
            yield scaled.astype(target).reshape(-1)


def _encoded_block(pixels: np.ndarray, sample_format: str) -> np.ndarray:
    chunks = _encoded_chunks(pixels, sample_format)
    first = next(chunks)
    if first.size == pixels.size:
        return first
    out = np.empty(pixels.size, dtype=first.dtype)
    out[: first.size] = first
    filled = first.size
    for chunk in chunks:
        out[filled : filled + chunk.size] = chunk
        filled += chunk.size
    return out


def _keyword_node(card: FITSKeyword) -> Node:
    name, value, comment = str(card.name), card.value, str(card.comment or "")
    if name.strip().upper() in _COMMENTARY:
        text = "" if value is None else str(value)
        comment = f"{text} {comment}" if text and comment else text or comment
        value = None
    return Node("FITSKeyword", {"name": name, "value": format_keyword_value(value), "comment": comment})


def _special_nodes(properties: Mapping[str, Any], path: Path) -> list[Node]:
    nodes: list[Node] = []
    df = properties.get(DISPLAY_FUNCTION_KEY)
    if df is not None:
        try:
            attributes = {key: ":".join(format_float(float(v)) for v in df[key]) for key in "mshlr"}
            if any(len(df[key]) != 4 for key in "mshlr"):
                raise ValueError("each parameter needs 4 components (R/K, G, B, L)")
            if df.get("name") is not None:
                attributes["name"] = str(df["name"])
            nodes.append(Node("DisplayFunction", attributes))
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            log.warning("%s: %s not written (%s: %s)", path, DISPLAY_FUNCTION_KEY, type(exc).__name__, exc)
    cfa = properties.get(COLOR_FILTER_ARRAY_KEY)
    if cfa is not None:
        try:
            pattern, width, height = str(cfa["pattern"]), int(cfa["width"]), int(cfa["height"])
            if width < 1 or height < 1 or len(pattern) != width * height:
                raise ValueError(f"pattern {pattern!r} does not have width*height = {width}*{height} elements")
            attributes = {"pattern": pattern, "width": str(width), "height": str(height)}
            if cfa.get("name") is not None:
                attributes["name"] = str(cfa["name"])
            nodes.append(Node("ColorFilterArray", attributes))
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            log.warning("%s: %s not written (%s: %s)", path, COLOR_FILTER_ARRAY_KEY, type(exc).__name__, exc)
    resolution = properties.get(RESOLUTION_KEY)
    if resolution is not None:
        try:
            unit = str(resolution.get("unit", "inch"))
            if unit not in ("inch", "cm"):
                raise ValueError(f"unit {unit!r} is not 'inch' or 'cm'")
            attributes = {
                "horizontal": format_float(float(resolution["horizontal"])),
                "vertical": format_float(float(resolution["vertical"])),
                "unit": unit,
            }
            nodes.append(Node("Resolution", attributes))
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            log.warning("%s: %s not written (%s: %s)", path, RESOLUTION_KEY, type(exc).__name__, exc)
    return nodes


def _creator_os() -> str:
    system = platform.system()
    return {"Darwin": "macOS"}.get(system, system) or "unknown"


def _align(position: int) -> int:
    return -(-position // BLOCK_ALIGNMENT) * BLOCK_ALIGNMENT


def write_unit(image: Image, path: Path, options: WriteOptions) -> None:
    """Write ``image`` as a monolithic XISF file to exactly ``path``."""
    pixels = image.pixels
    channels, height, width = pixels.shape
    sample_format = options.sample_format or image.sample_format
    base, maximum = SAMPLE_FORMATS[sample_format]
    block_size = pixels.size * base.itemsize
    warn_if_lossy(pixels, sample_format, path)

    image_node = Node("Image", {"geometry": f"{width}:{height}:{channels}", "sampleFormat": sample_format})
    if maximum is None:
        image_node.attrs["bounds"] = "0:1"
    image_node.attrs["colorSpace"] = "RGB" if channels >= 3 else "Gray"
    image_node.attrs["location"] = ""

    stored: Any = None
    if options.compression is not None:
        raw = _encoded_block(pixels, sample_format)
        stored, spec = codec.compress(
            raw, options.compression, item_size=base.itemsize, shuffled=options.shuffle, level=options.level
        )
        del raw
        block_size = len(stored)
        image_node.attrs["compression"] = spec.attribute()
        if spec.subblocks_attribute():
            image_node.attrs["subblocks"] = spec.subblocks_attribute() or ""
    if options.checksum is not None:
        if stored is not None:
            hasher = codec.hasher_for(options.checksum)
            hasher.update(stored)
            image_node.attrs["checksum"] = codec.checksum_attribute(hasher)
        else:
            image_node.attrs["checksum"] = codec.placeholder_checksum(options.checksum)

    properties = image.properties
    recorded = properties.get(PROPERTY_TYPES_KEY)
    recorded = recorded if isinstance(recorded, Mapping) else {}
    image_properties: list[Node] = []
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    metadata_nodes = [
        Node("Property", {"id": "XISF:CreationTime", "type": "TimePoint", "value": now}),
        Node("Property", {"id": "XISF:CreatorApplication", "type": "String"}, text=_creator()),
        Node("Property", {"id": "XISF:CreatorOS", "type": "String"}, text=_creator_os()),
        Node("Property", {"id": "XISF:BlockAlignmentSize", "type": "UInt16", "value": str(BLOCK_ALIGNMENT)}),
    ]
    if options.compression is not None:
        codec_name = options.compression + ("+sh" if options.shuffle else "")
        metadata_nodes.append(Node("Property", {"id": "XISF:CompressionCodecs", "type": "String"}, text=codec_name))
    for identifier, value in properties.items():
        if not isinstance(identifier, str) or identifier in _SPECIAL_KEYS or identifier in _FILE_METADATA:
            continue
        try:
            node, _ = property_node(identifier, value, recorded.get(identifier))
        except (UnsupportedProperty, TypeError, ValueError, OverflowError) as exc:
            log.warning("%s: property %r not written: %s", path, identifier, exc)
            continue
        (metadata_nodes if identifier.startswith("XISF:") else image_properties).append(node)
    image_node.children = [
        *image_properties,
        *(_keyword_node(card) for card in image.keywords),
        *_special_nodes(properties, path),
    ]
    attached = [node for node in (*image_properties, *metadata_nodes) if node.block is not None]
    if options.checksum is not None:
        for node in attached:
            hasher = codec.hasher_for(options.checksum)
            hasher.update(node.block or b"")
            node.attrs["checksum"] = codec.checksum_attribute(hasher)
    elements = [image_node, Node("Metadata", children=metadata_nodes)]

    data_start = BLOCK_ALIGNMENT
    while True:
        position = data_start
        image_node.attrs["location"] = f"attachment:{position}:{block_size}"
        position += block_size
        for node in attached:
            node.attrs["location"] = f"attachment:{position}:{len(node.block or b'')}"
            position += len(node.block or b"")
        header = header_document(elements, _creator())
        needed = _align(16 + len(header))
        if needed <= data_start:
            break
        data_start = needed

    with open_write_through(path) as out:  # procfw.io.pagecache: a frame does not fill the cache
        out.write(SIGNATURE + struct.pack("<I", len(header)) + bytes(4))
        out.write(header)
        out.write(bytes(data_start - 16 - len(header)))
        if stored is not None:
            out.write(stored)
        else:
            hasher = codec.hasher_for(options.checksum) if options.checksum is not None else None
            for chunk in _encoded_chunks(pixels, sample_format):
                out.write(chunk.data)
                if hasher is not None:
                    hasher.update(chunk.data)
            if hasher is not None:
                image_node.attrs["checksum"] = codec.checksum_attribute(hasher)
                final = header_document(elements, _creator())
                if len(final) != len(header):  # pragma: no cover - the placeholder has the final length
                    raise RuntimeError("XISF header length changed after checksumming")
                out.seek(16)
                out.write(final)
                out.seek(0, os.SEEK_END)
        for node in attached:
            out.write(node.block or b"")
