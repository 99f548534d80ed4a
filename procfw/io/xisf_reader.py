"""XISF reading internals: file structure, data blocks and pixel decoding.

The public entry point is :func:`procfw.io.xisf.read_xisf`; :func:`read_unit` here
raises :class:`~procfw.io.xisf_codec.FormatProblem` (no file name), which that function
turns into :class:`~procfw.errors.ImageFileError`.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import os
import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, BinaryIO

import attrs
import numpy as np

from procfw.image import FITSKeyword, Image
from procfw.io import xisf_codec as codec
from procfw.io.limits import DecodeBudget, check_compression_ratio
from procfw.io.xisf_codec import FormatProblem, parse_uint
from procfw.io.xisf_properties import (
    PROPERTY_TYPES_KEY,
    UnsupportedProperty,
    parse_float,
    parse_keyword_value,
    read_property,
)
from procfw.io.xisf_xml import children, local_name, parse_header

log = logging.getLogger("procfw.io.xisf")

SIGNATURE = b"XISF0100"
#: Largest XML header accepted (the header is read into memory in one piece).
MAX_HEADER_LENGTH = 64 << 20
#: Position alignment of the attached pixel block (as PixInsight writes it).
BLOCK_ALIGNMENT = 4096

DISPLAY_FUNCTION_KEY = "XISF:DisplayFunction"
COLOR_FILTER_ARRAY_KEY = "XISF:ColorFilterArray"
RESOLUTION_KEY = "XISF:Resolution"
#: sampleFormat -> (sample dtype, largest integer value or None for floating point).
SAMPLE_FORMATS: dict[str, tuple[np.dtype, float | None]] = {
    "UInt8": (np.dtype(np.uint8), 255.0),
    "UInt16": (np.dtype(np.uint16), 65535.0),
    "UInt32": (np.dtype(np.uint32), 4294967295.0),
    "UInt64": (np.dtype(np.uint64), 18446744073709551615.0),
    "Float32": (np.dtype(np.float32), None),
    "Float64": (np.dtype(np.float64), None),
}


@attrs.frozen
class _Location:
    kind: str  # "attachment", "inline" or "embedded"
    position: int = 0
    size: int = 0
    encoding: str = ""


class _Blocks:
    """Access to the data blocks of one open monolithic XISF file."""

    def __init__(self, path: Path, handle: BinaryIO, file_size: int, budget: DecodeBudget | None = None) -> None:
        self.path = path
        self.handle = handle
        self.file_size = file_size
        self.budget = budget if budget is not None else DecodeBudget(path)

    @staticmethod
    def location(element: ET.Element) -> _Location:
        """Parse an element's ``location`` attribute (external locations are refused)."""
        text = (element.get("location") or "").strip()
        what = local_name(element)
        if not text:
            raise FormatProblem(f"{what} element has no location attribute")
        if text.startswith(("url(", "path(")):
            raise FormatProblem(
                f"external data blocks (location={text[:60]!r} in {what}) are not supported; "
                "only monolithic XISF files with attached, inline or embedded blocks are"
            )
        kind, _, rest = text.partition(":")
        if kind in ("attachment", "attached"):
            fields = rest.split(":")
            if len(fields) != 2:
                raise FormatProblem(f"{what} location {text!r} is not 'attachment:position:size'")
            return _Location("attachment", parse_uint(fields[0], "block position"), parse_uint(fields[1], "block size"))
        if kind == "inline":
            return _Location("inline", encoding=rest.strip().lower())
        if kind == "embedded" and not rest:
            return _Location("embedded")
        raise FormatProblem(f"{what} has an unsupported data block location {text[:60]!r}")

    @staticmethod
    def _decode_text(text: str | None, encoding: str) -> bytes:
        clean = re.sub(r"\s+", "", text or "")
        try:
            if encoding == "base64":
                return base64.b64decode(clean, validate=True)
            if encoding == "hex":
                return bytes.fromhex(clean)
        except (binascii.Error, ValueError) as exc:
            raise FormatProblem(f"malformed {encoding} data block: {exc}") from None
        raise FormatProblem(f"data block encoding {encoding!r} is not supported (base64, hex)")

    def _check_extent(self, where: _Location) -> None:
        end = where.position + where.size
        if end > self.file_size:
            raise FormatProblem(
                f"data block at bytes {where.position}..{end} extends past the end of the file "
                f"({self.file_size} bytes): the file is truncated"
            )

    def stored(self, element: ET.Element) -> tuple[Any, ET.Element]:
        """The block's bytes as stored, and the element carrying its compression attributes."""
        where = self.location(element)
        if where.kind == "attachment":
            self._check_extent(where)
            self.handle.seek(where.position)
            data = self.handle.read(where.size)
            if len(data) != where.size:
                raise FormatProblem(f"data block at byte {where.position} is truncated")
            return data, element
        if where.kind == "inline":
            return self._decode_text(element.text, where.encoding), element
        data_elements = [child for child in element if local_name(child) == "Data"]
        if not data_elements:
            raise FormatProblem(f"{local_name(element)} has location='embedded' but no Data child element")
        carrier = data_elements[0]
        return self._decode_text(carrier.text, (carrier.get("encoding") or "").strip().lower()), carrier

    def declared_size(self, element: ET.Element) -> int:
        """The decoded size a block declares, from the header alone (nothing is read).

        The uncompressed size of a compressed block, the size of an attached block, or
        the length of the text of an inline/embedded block (at least its decoded size).
        """
        where = self.location(element)
        carrier = element
        if where.kind == "embedded":
            carrier = next((child for child in element if local_name(child) == "Data"), element)
        compression = carrier.get("compression") or element.get("compression")
        if compression:
            subblocks = carrier.get("subblocks") or element.get("subblocks")
            return codec.parse_compression(compression, subblocks).uncompressed_size
        if where.kind == "attachment":
            return where.size
        return len(carrier.text or "")

    def read_property(self, element: ET.Element, expected: int | None) -> Any:
        """A property's block, after charging its declared size to the file's decode budget."""
        declared = max(self.declared_size(element), expected or 0)
        self.budget.charge_property(declared, f"property {element.get('id')!r}")
        return self.read(element, expected)

    def read(self, element: ET.Element, expected: int | None) -> Any:
        """The block's decoded bytes: checksum verified, decompressed, size checked."""
        data, carrier = self.stored(element)
        checksum = carrier.get("checksum") or element.get("checksum")
        if checksum:
            codec.verify_checksum(data, checksum)
        compression = carrier.get("compression") or element.get("compression")
        if compression:
            spec = codec.parse_compression(compression, carrier.get("subblocks") or element.get("subblocks"))
            check_compression_ratio(self.path, spec.uncompressed_size, len(data),
                                    f"the compressed {local_name(element)} block")
            if expected is not None and spec.uncompressed_size != expected:
                raise FormatProblem(
                    f"{local_name(element)} compression declares {spec.uncompressed_size} uncompressed bytes "
                    f"but its geometry needs {expected}"
                )
            decoded = codec.decompress(data, spec, unshuffled=False)
            del data  # free the compressed bytes before unshuffling
            if spec.shuffled and spec.item_size > 1:
                decoded = codec.unshuffle(decoded, spec.item_size)
            return decoded
        if expected is not None and len(data) != expected:
            raise FormatProblem(
                f"{local_name(element)} data block has {len(data)} bytes but its geometry needs {expected}"
            )
        return data

    def map(self, element: ET.Element, dtype: np.dtype, count: int) -> np.ndarray | None:
        """A read-only memory map of an uncompressed attached block, or None for other blocks."""
        where = self.location(element)
        if where.kind != "attachment" or element.get("compression"):
            return None
        expected = count * dtype.itemsize
        if where.size != expected:
            raise FormatProblem(f"Image data block has {where.size} bytes but its geometry needs {expected}")
        self._check_extent(where)
        array = np.memmap(self.path, dtype=dtype, mode="r", offset=where.position, shape=(count,))
        checksum = element.get("checksum")
        if checksum:
            codec.verify_checksum(array, checksum)
        return array


def _parse_geometry(text: str) -> tuple[int, int, int]:
    try:
        numbers = [parse_uint(part, "geometry") for part in text.split(":")]
    except FormatProblem:
        raise FormatProblem(f"Image geometry {text!r} is not 'width:height:channels'") from None
    if len(numbers) < 2 or min(numbers) < 1:
        raise FormatProblem(f"Image geometry {text!r} is not 'width:height:channels' with positive values")
    dims, channels = numbers[:-1], numbers[-1]
    if len(dims) > 2:
        raise FormatProblem(f"{len(dims)}-dimensional images (geometry {text!r}) are not supported")
    width, height = dims[0], dims[1] if len(dims) == 2 else 1
    return width, height, channels


def _parse_bounds(text: str | None, maximum: float | None) -> tuple[float, float]:
    if text is None:
        return 0.0, maximum if maximum is not None else 1.0
    parts = text.split(":")
    if len(parts) != 2:
        raise FormatProblem(f"Image bounds {text!r} is not 'lower:upper'")
    low, high = parse_float(parts[0]), parse_float(parts[1])
    if not (math.isfinite(low) and math.isfinite(high) and high > low):
        raise FormatProblem(f"Image bounds {text!r} do not define a range (need lower < upper)")
    return low, high


def _read_pixels(element: ET.Element, blocks: _Blocks) -> np.ndarray:
    width, height, channels = _parse_geometry(element.get("geometry", ""))
    sample_format = element.get("sampleFormat", "")
    if sample_format not in SAMPLE_FORMATS:
        raise FormatProblem(f"sampleFormat {sample_format!r} is not supported (supported: {', '.join(SAMPLE_FORMATS)})")
    base, maximum = SAMPLE_FORMATS[sample_format]
    color_space = element.get("colorSpace", "Gray")
    if color_space not in ("Gray", "RGB"):
        raise FormatProblem(f"colorSpace {color_space!r} is not supported (Gray, RGB)")
    storage = element.get("pixelStorage", "Planar")
    if storage not in ("Planar", "Normal"):
        raise FormatProblem(f"pixelStorage {storage!r} is not supported (Planar, Normal)")
    byte_order = element.get("byteOrder", "little").strip().lower()
    if byte_order not in ("little", "big"):
        raise FormatProblem(f"byteOrder {byte_order!r} is not 'little' or 'big'")
    if sample_format.startswith("Float") and element.get("bounds") is None:
        log.debug("%s: floating point Image without bounds; assuming 0:1", blocks.path)
    low, high = _parse_bounds(element.get("bounds"), maximum)

    dtype = base.newbyteorder("<" if byte_order == "little" else ">") if base.itemsize > 1 else base
    count = width * height * channels
    blocks.budget.charge(
        count * dtype.itemsize, f"the Image (geometry {width}:{height}:{channels}, sampleFormat {sample_format})"
    )
    raw = blocks.map(element, dtype, count)
    if raw is None:
        raw = np.frombuffer(blocks.read(element, count * dtype.itemsize), dtype=dtype, count=count)
    if storage == "Normal":
        samples = raw.reshape(height, width, channels).transpose(2, 0, 1)
    else:
        samples = raw.reshape(channels, height, width)

    if maximum is None:
        native = base.newbyteorder("=")
        if (low, high) == (0.0, 1.0):
            if samples.dtype.isnative and storage == "Planar":
                return samples
            return np.ascontiguousarray(samples, dtype=native)
        out = np.empty(samples.shape, dtype=native)
        np.subtract(samples, low, out=out, dtype=native)
        out /= high - low
        return out
    out_dtype = np.dtype(np.float32) if base.itemsize <= 2 else np.dtype(np.float64)
    out = np.empty(samples.shape, dtype=out_dtype)
    if low == 0.0:
        np.divide(samples, high, out=out, dtype=out_dtype)
    else:
        np.subtract(samples, low, out=out, dtype=out_dtype)
        out /= high - low
    return out


def _floats(element: ET.Element, name: str) -> list[float]:
    text = element.get(name)
    if text is None:
        raise FormatProblem(f"{local_name(element)} has no {name} attribute")
    return [parse_float(part) for part in text.split(":")]


def _display_function(element: ET.Element) -> dict[str, Any]:
    result: dict[str, Any] = {key: _floats(element, key) for key in "mshlr"}
    if element.get("name") is not None:
        result["name"] = element.get("name")
    return result


def _color_filter_array(element: ET.Element) -> dict[str, Any]:
    result: dict[str, Any] = {
        "pattern": element.get("pattern", ""),
        "width": parse_uint(element.get("width", ""), "ColorFilterArray width"),
        "height": parse_uint(element.get("height", ""), "ColorFilterArray height"),
    }
    if element.get("name") is not None:
        result["name"] = element.get("name")
    return result


def _resolution(element: ET.Element) -> dict[str, Any]:
    return {
        "horizontal": parse_float(element.get("horizontal", "")),
        "vertical": parse_float(element.get("vertical", "")),
        "unit": element.get("unit", "inch"),
    }


_COMMENTARY = frozenset({"COMMENT", "HISTORY", ""})


def _keyword(element: ET.Element) -> FITSKeyword:
    """A FITSKeyword element; COMMENT/HISTORY text becomes the value, as procfw's FITS reader does."""
    name, value, comment = element.get("name", ""), element.get("value", ""), element.get("comment", "")
    if name.strip().upper() in _COMMENTARY and not value.strip():
        return FITSKeyword(name, comment, "")
    return FITSKeyword(name, parse_keyword_value(value), comment)


_SPECIAL_READERS = {
    "DisplayFunction": (DISPLAY_FUNCTION_KEY, _display_function),
    "ColorFilterArray": (COLOR_FILTER_ARRAY_KEY, _color_filter_array),
    "Resolution": (RESOLUTION_KEY, _resolution),
}


def read_unit(path: Path) -> Image:
    """Read the first image of a monolithic XISF file; problems raise FormatProblem."""
    if path.suffix.lower() == ".xish":
        raise FormatProblem("XISF header files (.xish, distributed XISF units) are not supported")
    with open(path, "rb") as handle:
        file_size = os.fstat(handle.fileno()).st_size
        start = handle.read(16)
        if start[:8] != SIGNATURE:
            if start.lstrip().startswith(b"<?xml"):
                raise FormatProblem("XISF header files (.xish, distributed XISF units) are not supported")
            if start[:8] == b"XISB0100":
                raise FormatProblem("this is an XISF data blocks file (.xisb), not an image; it is not supported")
            raise FormatProblem(f"not a monolithic XISF file: bad signature {start[:8]!r} (expected b'XISF0100')")
        if len(start) < 16:
            raise FormatProblem("file is truncated inside the 16-byte XISF file header")
        (header_length,) = struct.unpack("<I", start[8:12])
        if header_length > MAX_HEADER_LENGTH:
            raise FormatProblem(
                f"XML header length {header_length} bytes exceeds the {MAX_HEADER_LENGTH >> 20} MiB limit"
            )
        if 16 + header_length > file_size:
            raise FormatProblem(
                f"XML header length {header_length} bytes exceeds the file size ({file_size} bytes): truncated file"
            )
        root = parse_header(handle.read(header_length))
        if local_name(root) != "xisf":
            raise FormatProblem(f"XML header root element is <{local_name(root)}>, not <xisf>")
        if root.get("version", "").strip() != "1.0":
            raise FormatProblem(f"XISF version {root.get('version')!r} is not supported (only 1.0)")
        uids = {el.get("uid", ""): el for el in root.iter() if isinstance(el.tag, str) and el.get("uid")}
        images = [el for el in children(root, uids) if local_name(el) == "Image"]
        if not images:
            raise FormatProblem("the file contains no Image element")
        if len(images) > 1:
            log.info("%s: the file holds %d images; reading the first one only", path, len(images))
        blocks = _Blocks(path, handle, file_size, DecodeBudget(path))
        image_element = images[0]
        pixels = _read_pixels(image_element, blocks)

        keywords: list[FITSKeyword] = []
        properties: dict[str, Any] = {}
        types: dict[str, str] = {}

        def add_property(element: ET.Element) -> None:
            """Read one Property element into ``properties``/``types``; skip unsupported ones."""
            try:
                identifier, kind, value = read_property(element, blocks.read_property)
            except UnsupportedProperty as exc:
                log.warning("%s: skipping a property: %s", path, exc)
                return
            properties[identifier] = value
            types[identifier] = kind

        for child in children(image_element, uids):
            name = local_name(child)
            if name == "FITSKeyword":
                keywords.append(_keyword(child))
            elif name == "Property":
                add_property(child)
            elif name in _SPECIAL_READERS:
                key, reader = _SPECIAL_READERS[name]
                try:
                    properties[key] = reader(child)
                except FormatProblem as exc:
                    log.warning("%s: skipping a malformed %s element: %s", path, name, exc)
            elif name != "Data":
                log.debug("%s: ignoring <%s> in the Image element", path, name)
        for metadata in (el for el in root if local_name(el) == "Metadata"):
            for child in children(metadata, uids):
                if local_name(child) == "Property":
                    add_property(child)
        if types:
            properties[PROPERTY_TYPES_KEY] = types
    stored = image_element.get("sampleFormat", "")
    return Image(pixels, keywords, properties, sample_format="Float64" if stored == "UInt64" else stored)
