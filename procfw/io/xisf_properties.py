"""Typed XISF properties and FITS keyword values, to and from Python/numpy values.

How properties appear in :attr:`procfw.image.Image.properties` (XISF 1.0, "XISF
Property" and "Property Core Element"):

* scalar types give Python values: Boolean -> ``bool``; Int8...UInt64 (and 128-bit
  integers) -> ``int``; Float32/Float64/Float128 -> ``float``; Complex32/Complex64 ->
  ``complex``;
* String and TimePoint give ``str`` (TimePoint is kept as its ISO 8601 text);
* vectors give 1-D and matrices 2-D numpy arrays of the matching dtype
  (ByteArray/UI8Vector -> ``uint8``, F64Vector -> ``float64``, C32Vector ->
  ``complex64``, ...).

The XISF type of every property read is remembered in
``properties["XISF:PropertyTypes"]`` (a ``{id: type name}`` dict, canonical type names),
so writing the image again stores each property with its original type, e.g. a Float32
stays Float32 and an Int16 stays Int16.  A property whose value no longer fits its
recorded type, or that has no recorded type, is written with a type inferred from the
value (bool -> Boolean, int -> Int32/Int64/UInt64, float -> Float64, numpy scalars and
arrays by dtype, str -> String, datetime -> TimePoint, bytes -> ByteArray).
"""

from __future__ import annotations

import base64
import datetime as _dt
import math
import numbers
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import numpy as np

from procfw.io.xisf_codec import FormatProblem, parse_uint
from procfw.io.xisf_xml import INVALID_XML_CHARS, Node

#: Key of the ``{property id: XISF type name}`` registry inside ``Image.properties``.
PROPERTY_TYPES_KEY = "XISF:PropertyTypes"

#: Largest property data block serialized inline (base64) in the header, as PixInsight does.
MAX_INLINE_BLOCK_SIZE = 3072

_INT_TYPES: dict[str, np.dtype] = {
    name: np.dtype(dt)
    for name, dt in (
        ("Int8", np.int8),
        ("UInt8", np.uint8),
        ("Int16", np.int16),
        ("UInt16", np.uint16),
        ("Int32", np.int32),
        ("UInt32", np.uint32),
        ("Int64", np.int64),
        ("UInt64", np.uint64),
    )
}
_BIG_INT_TYPES = {"Int128": (True, 128), "UInt128": (False, 128)}
_FLOAT_TYPES = {"Float32": np.dtype(np.float32), "Float64": np.dtype(np.float64), "Float128": np.dtype(np.float64)}
_COMPLEX_TYPES = {
    "Complex32": np.dtype(np.complex64),
    "Complex64": np.dtype(np.complex128),
    "Complex128": np.dtype(np.complex128),
}
_ELEMENT_DTYPES = {
    "I8": np.int8,
    "UI8": np.uint8,
    "I16": np.int16,
    "UI16": np.uint16,
    "I32": np.int32,
    "UI32": np.uint32,
    "I64": np.int64,
    "UI64": np.uint64,
    "F32": np.float32,
    "F64": np.float64,
    "C32": np.complex64,
    "C64": np.complex128,
}
VECTOR_TYPES: dict[str, np.dtype] = {f"{p}Vector": np.dtype(dt) for p, dt in _ELEMENT_DTYPES.items()}
MATRIX_TYPES: dict[str, np.dtype] = {f"{p}Matrix": np.dtype(dt) for p, dt in _ELEMENT_DTYPES.items()}

ALIASES = {
    "Byte": "UInt8",
    "Short": "Int16",
    "UShort": "UInt16",
    "Int": "Int32",
    "UInt": "UInt32",
    "Float": "Float32",
    "Double": "Float64",
    "Quad": "Float128",
    "Complex": "Complex64",
    "ByteArray": "UI8Vector",
    "IVector": "I32Vector",
    "UIVector": "UI32Vector",
    "Vector": "F64Vector",
    "ByteMatrix": "UI8Matrix",
    "IMatrix": "I32Matrix",
    "UIMatrix": "UI32Matrix",
    "Matrix": "F64Matrix",
}

#: Every type name this module reads (canonical names; aliases are accepted too).
SUPPORTED_TYPES = (
    {"Boolean", "String", "TimePoint"}
    | set(_INT_TYPES)
    | set(_BIG_INT_TYPES)
    | set(_FLOAT_TYPES)
    | set(_COMPLEX_TYPES)
    | set(VECTOR_TYPES)
    | set(MATRIX_TYPES)
)

_PROPERTY_ID = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*(:[_a-zA-Z][_a-zA-Z0-9]*)*")


class UnsupportedProperty(Exception):
    """A property that cannot be read or written here; the caller skips it with a warning."""


def canonical_type(name: str) -> str:
    """The canonical XISF type name for ``name`` (resolving aliases)."""
    name = ALIASES.get(name, name)
    if name not in SUPPORTED_TYPES:
        raise UnsupportedProperty(f"property type {name!r} is not supported")
    return name


def is_valid_id(identifier: str) -> bool:
    """True when ``identifier`` is a valid XISF property identifier."""
    return bool(_PROPERTY_ID.fullmatch(identifier))


# -- plain-text scalars ---------------------------------------------------------------


def parse_float(text: str) -> float:
    """Parse a plain-text floating point value (including NaN, +Inf, -Inf)."""
    try:
        return float(text.strip())
    except ValueError:
        raise FormatProblem(f"{text!r} is not a floating point number") from None


def format_float(value: float, single: bool = False) -> str:
    """Shortest text that parses back to ``value`` (as float32 when ``single``)."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(np.float32(value)) if single else repr(value)


def parse_int(text: str, signed: bool = True, bits: int = 64) -> int:
    """Parse a plain-text integer (decimal, 0x, 0b or 0o; two's complement for signed non-decimal)."""
    token = text.strip()
    try:
        if re.fullmatch(r"[+-]?0[xXbBoO][0-9a-fA-F]+", token):
            value = int(token, 0)
            if signed and 2 ** (bits - 1) <= value < 2**bits:
                value -= 2**bits
            return value
        return int(token, 10)
    except ValueError:
        raise FormatProblem(f"{text!r} is not an integer") from None


def _parse_bool(text: str) -> bool:
    token = text.strip().lower()
    if token in ("1", "true"):
        return True
    if token in ("0", "false"):
        return False
    raise FormatProblem(f"{text!r} is not a Boolean value (0, 1, false, true)")


def _parse_complex(text: str) -> complex:
    match = re.fullmatch(r"\s*\(([^,]*),([^)]*)\)\s*", text)
    if match is None:
        raise FormatProblem(f"{text!r} is not a complex value '(real,imag)'")
    return complex(parse_float(match.group(1)), parse_float(match.group(2)))


# -- reading --------------------------------------------------------------------------


BlockReader = Callable[[ET.Element, "int | None"], Any]


def read_property(element: ET.Element, read_block: BlockReader) -> tuple[str, str, Any]:
    """Decode a ``Property`` element into ``(id, canonical type, value)``.

    ``read_block(element, expected_size)`` returns the bytes of the element's data
    block.  Raises UnsupportedProperty for types or features that are skipped, and
    FormatProblem for malformed values.
    """
    identifier = element.get("id")
    if not identifier:
        raise UnsupportedProperty("Property element without an id")
    kind = canonical_type(element.get("type", ""))
    location = (element.get("location") or "").strip()
    if location.startswith(("url(", "path(")):
        raise UnsupportedProperty(f"property {identifier!r} is stored in an external data block ({location[:60]})")
    value_text = element.get("value")
    if kind == "String":
        if element.get("location") is not None:
            return identifier, kind, str(read_block(element, None), "utf-8", "replace")  # no copy of the bytes
        return identifier, kind, element.text or ""
    if kind in VECTOR_TYPES or kind in MATRIX_TYPES:
        return identifier, kind, _read_array(identifier, element, kind, read_block)
    try:
        if value_text is None:
            raise FormatProblem(f"{kind} property has no value attribute")
        if kind == "TimePoint":
            return identifier, kind, value_text.strip()
        if kind == "Boolean":
            return identifier, kind, _parse_bool(value_text)
        if kind in _INT_TYPES:
            info = np.iinfo(_INT_TYPES[kind])
            return identifier, kind, parse_int(value_text, info.min < 0, info.bits)
        if kind in _BIG_INT_TYPES:
            signed, bits = _BIG_INT_TYPES[kind]
            return identifier, kind, parse_int(value_text, signed, bits)
        if kind in _FLOAT_TYPES:
            return identifier, kind, parse_float(value_text)
        return identifier, kind, _parse_complex(value_text)
    except FormatProblem as exc:
        raise UnsupportedProperty(f"property {identifier!r} has a malformed value: {exc}") from None


def _read_array(identifier: str, element: ET.Element, kind: str, read_block: BlockReader) -> np.ndarray:
    try:
        if kind in VECTOR_TYPES:
            dtype = VECTOR_TYPES[kind]
            shape: tuple[int, ...] = (parse_uint(element.get("length", ""), "vector length"),)
        else:
            dtype = MATRIX_TYPES[kind]
            shape = (
                parse_uint(element.get("rows", ""), "matrix rows"),
                parse_uint(element.get("columns", ""), "matrix columns"),
            )
    except FormatProblem as exc:
        raise UnsupportedProperty(f"property {identifier!r}: {exc}") from None
    expected = math.prod(shape) * dtype.itemsize
    data = read_block(element, expected)
    order = ">" if element.get("byteOrder", "little").strip().lower() == "big" else "<"
    stored = dtype.newbyteorder(order) if dtype.itemsize > 1 else dtype
    return np.frombuffer(data, dtype=stored, count=math.prod(shape)).astype(dtype).reshape(shape)


# -- writing --------------------------------------------------------------------------


def infer_type(value: Any) -> str:
    """The XISF type a Python/numpy value is written as when it has no recorded type."""
    if isinstance(value, (bool, np.bool_)):
        return "Boolean"
    if isinstance(value, np.integer):
        return _dtype_scalar_type(value.dtype)
    if isinstance(value, numbers.Integral):
        number = int(value)
        if -(2**31) <= number < 2**31:
            return "Int32"
        if -(2**63) <= number < 2**63:
            return "Int64"
        if 0 <= number < 2**64:
            return "UInt64"
        raise UnsupportedProperty(f"integer {number} does not fit in 64 bits")
    if isinstance(value, np.floating):
        return "Float32" if value.dtype.itemsize <= 4 else "Float64"
    if isinstance(value, float):
        return "Float64"
    if isinstance(value, np.complexfloating):
        return "Complex32" if value.dtype == np.complex64 else "Complex64"
    if isinstance(value, complex):
        return "Complex64"
    if isinstance(value, str):
        return "String"
    if isinstance(value, _dt.datetime):
        return "TimePoint"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "UI8Vector"
    if isinstance(value, (np.ndarray, list, tuple)):
        array = np.asarray(value)
        prefix = _array_prefix(array.dtype)
        if array.ndim == 1:
            return f"{prefix}Vector"
        if array.ndim == 2:
            return f"{prefix}Matrix"
        raise UnsupportedProperty(f"a {array.ndim}-D array cannot be stored as an XISF property")
    raise UnsupportedProperty(f"a value of type {type(value).__name__} cannot be stored as an XISF property")


def _dtype_scalar_type(dtype: np.dtype) -> str:
    for name, candidate in _INT_TYPES.items():
        if candidate == dtype:
            return name
    raise UnsupportedProperty(f"numpy integer type {dtype} is not supported")


def _array_prefix(dtype: np.dtype) -> str:
    if dtype.kind == "b":
        return "UI8"
    if dtype.kind in "iu":
        return ("I" if dtype.kind == "i" else "UI") + str(8 * dtype.itemsize)
    if dtype.kind == "f":
        return "F32" if dtype.itemsize <= 4 else "F64"
    if dtype.kind == "c":
        return "C32" if dtype.itemsize <= 8 else "C64"
    raise UnsupportedProperty(f"arrays of {dtype} cannot be stored as XISF properties")


def coerce(value: Any, kind: str) -> Any:
    """``value`` converted for writing as ``kind``; TypeError/ValueError if it does not fit."""
    if kind == "Boolean":
        if isinstance(value, (bool, np.bool_)) or (isinstance(value, numbers.Integral) and int(value) in (0, 1)):
            return bool(value)
        raise TypeError("not a Boolean")
    if kind in _INT_TYPES or kind in _BIG_INT_TYPES:
        if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)):
            raise TypeError("not an integer")
        number = int(value)
        if kind in _INT_TYPES:
            info = np.iinfo(_INT_TYPES[kind])
            low, high = int(info.min), int(info.max)
        else:
            signed, bits = _BIG_INT_TYPES[kind]
            low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        if not low <= number <= high:
            raise ValueError("out of range")
        return number
    if kind in _FLOAT_TYPES:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise TypeError("not a real number")
        return float(value)
    if kind in _COMPLEX_TYPES:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Complex):
            raise TypeError("not a number")
        return complex(value)
    if kind == "String":
        if not isinstance(value, str):
            raise TypeError("not a string")
        return value
    if kind == "TimePoint":
        if isinstance(value, _dt.datetime):
            text = value.isoformat()
            return text + "Z" if value.tzinfo is None else text
        if isinstance(value, str):
            return value.strip()
        raise TypeError("not a time point")
    dtype = VECTOR_TYPES.get(kind, MATRIX_TYPES.get(kind))
    if dtype is None:
        raise TypeError(f"unknown type {kind}")
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = np.frombuffer(value, dtype=np.uint8)
    array = np.asarray(value)
    if array.ndim != (1 if kind in VECTOR_TYPES else 2):
        raise ValueError("wrong number of dimensions")
    if array.size and array.dtype != dtype:
        if array.dtype.kind not in "biufc":
            raise TypeError("not numeric")
        if dtype.kind in "iu":
            if array.dtype.kind not in "biu":
                raise TypeError("not integers")
            info = np.iinfo(dtype)
            if array.min() < info.min or array.max() > info.max:
                raise ValueError("out of range")
        elif dtype.kind == "f" and array.dtype.kind == "c":
            raise TypeError("complex")
    return np.ascontiguousarray(array, dtype=dtype)


def property_node(identifier: str, value: Any, recorded_type: str | None = None) -> tuple[Node, str]:
    """A ``Property`` element for a value, and the XISF type it is written as.

    Uses ``recorded_type`` when the value still fits it, else :func:`infer_type`.
    Large vector/matrix blocks are left in ``Node.block`` for the writer to attach.
    Raises UnsupportedProperty when the value cannot be stored.
    """
    if not is_valid_id(identifier):
        raise UnsupportedProperty(f"{identifier!r} is not a valid XISF property identifier")
    kind = None
    if recorded_type is not None:
        try:
            kind = canonical_type(recorded_type)
            value = coerce(value, kind)
        except (UnsupportedProperty, TypeError, ValueError, OverflowError):
            kind = None
    if kind is None:
        kind = infer_type(value)
        value = coerce(value, kind)
    node = Node("Property", {"id": identifier, "type": kind})
    if kind == "String":
        if INVALID_XML_CHARS.search(value):
            node.attrs["location"] = "inline:base64"
            node.text = base64.b64encode(value.encode("utf-8", "surrogatepass")).decode("ascii")
        else:
            node.text = value
    elif kind in VECTOR_TYPES or kind in MATRIX_TYPES:
        if kind in VECTOR_TYPES:
            node.attrs["length"] = str(value.shape[0])
        else:
            node.attrs["rows"], node.attrs["columns"] = str(value.shape[0]), str(value.shape[1])
        data = value.astype(value.dtype.newbyteorder("<"), copy=False).tobytes()
        if len(data) <= MAX_INLINE_BLOCK_SIZE:
            node.attrs["location"] = "inline:base64"
            node.text = base64.b64encode(data).decode("ascii")
        else:
            node.block = data
    else:
        node.attrs["value"] = format_scalar(value, kind)
    return node, kind


def format_scalar(value: Any, kind: str) -> str:
    """The ``value`` attribute text of a scalar, complex or TimePoint property."""
    if kind == "Boolean":
        return "1" if value else "0"
    if kind in _FLOAT_TYPES:
        return format_float(value, single=kind == "Float32")
    if kind in _COMPLEX_TYPES:
        single = kind == "Complex32"
        return f"({format_float(value.real, single)},{format_float(value.imag, single)})"
    return str(value)


# -- FITS keyword values --------------------------------------------------------------

_FITS_INT = re.compile(r"[+-]?[0-9]+")
_FITS_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eEdD][+-]?[0-9]+)?")
_FITS_COMPLEX = re.compile(r"\(\s*([^,]+?)\s*,\s*([^)]+?)\s*\)")


def parse_keyword_value(text: str) -> Any:
    """A FITSKeyword ``value`` attribute as a Python value.

    ``'quoted'`` -> str (quotes removed, ``''`` -> ``'``, trailing blanks dropped as in
    FITS), ``T``/``F`` -> bool, integers -> int, reals (also with a D exponent) ->
    float, ``(re, im)`` -> complex, empty -> None; anything else is kept as text.
    """
    token = text.strip()
    if not token:
        return None
    if len(token) >= 2 and token[0] == "'" and token[-1] == "'":
        return token[1:-1].replace("''", "'").rstrip(" ")
    if token in ("T", "F"):
        return token == "T"
    if _FITS_INT.fullmatch(token):
        return int(token)
    if _FITS_FLOAT.fullmatch(token):
        return float(token.replace("d", "e").replace("D", "E"))
    match = _FITS_COMPLEX.fullmatch(token)
    if match and _FITS_FLOAT.fullmatch(match.group(1)) and _FITS_FLOAT.fullmatch(match.group(2)):
        return complex(float(match.group(1).upper().replace("D", "E")), float(match.group(2).upper().replace("D", "E")))
    return text


def format_keyword_value(value: Any) -> str:
    """The FITSKeyword ``value`` attribute text for a Python value (inverse of parse_keyword_value)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            return format_float(number)
        return repr(number).upper()
    if isinstance(value, numbers.Complex):
        return f"({format_keyword_value(value.real)}, {format_keyword_value(value.imag)})"
    return "'" + str(value).replace("'", "''") + "'"
