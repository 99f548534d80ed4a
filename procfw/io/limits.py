"""How much decoded data one image file may declare: the guard against decompression bombs.

Readers call :meth:`DecodeBudget.charge` with the size a file *declares* (geometry x
sample size, the uncompressed size of a compressed block, the length of a property)
before they allocate or decompress anything.  A file that declares more than the limit
is refused with an :class:`~procfw.errors.ImageFileError` naming the file, the declared
size, the limit and how to raise it.

Two limits, each read when a file is opened:

``PROCFW_MAX_IMAGE_BYTES`` (default 4 GiB)
    all decoded data of one file together: pixel samples as stored (uncompressed) plus
    property blocks.  The float pixels procfw keeps in memory take up to twice this
    (8- and 16-bit samples become float32, 32-bit samples float64).
``PROCFW_MAX_PROPERTY_BYTES`` (default 256 MiB)
    one metadata property (an XISF String, vector or matrix); real files hold kilobytes.
``PROCFW_MAX_COMPRESSION_RATIO`` (default 100; 0 turns the check off)
    compressed data (a gzipped FITS file, a compressed XISF block) that would decode to
    more than 256 MiB may not expand more than this many times: real images compress
    2-10 times, a decompression bomb thousands of times, so a bomb is refused before it
    is decompressed even when it declares less than the image limit.

Both accept a byte count with an optional binary suffix (``512M``, ``8G``, ``16GiB``).
From Python, :func:`set_limits` sets them for the process (``None`` goes back to the
environment/default) and :func:`limits` sets them for a ``with`` block.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator

from procfw.errors import ImageFileError

__all__ = [
    "DEFAULT_MAX_IMAGE_BYTES",
    "DEFAULT_MAX_PROPERTY_BYTES",
    "IMAGE_BYTES_VARIABLE",
    "PROPERTY_BYTES_VARIABLE",
    "RATIO_VARIABLE",
    "DecodeBudget",
    "check_compression_ratio",
    "check_image_size",
    "human_bytes",
    "limits",
    "max_image_bytes",
    "max_property_bytes",
    "set_limits",
]

#: Default limit of decoded data (bytes) one file may declare.
DEFAULT_MAX_IMAGE_BYTES = 4 << 30
#: Default limit of one decoded property (bytes).
DEFAULT_MAX_PROPERTY_BYTES = 256 << 20
#: Environment variable that sets the image limit.
IMAGE_BYTES_VARIABLE = "PROCFW_MAX_IMAGE_BYTES"
#: Environment variable that sets the property limit.
PROPERTY_BYTES_VARIABLE = "PROCFW_MAX_PROPERTY_BYTES"

#: Default limit of how many times compressed data may expand (above RATIO_FLOOR_BYTES).
DEFAULT_MAX_COMPRESSION_RATIO = 100
#: Environment variable that sets the compression-ratio limit (0: no limit).
RATIO_VARIABLE = "PROCFW_MAX_COMPRESSION_RATIO"
#: Decoded sizes up to this are never refused for their compression ratio.
RATIO_FLOOR_BYTES = 256 << 20

_SIZE = re.compile(r"\s*([0-9]+)\s*([kmgt]?)(i?b)?\s*", re.IGNORECASE)
_SHIFT = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}
_overrides: dict[str, int | None] = {IMAGE_BYTES_VARIABLE: None, PROPERTY_BYTES_VARIABLE: None}


def parse_size(text: str, name: str) -> int:
    """A byte count such as ``4294967296``, ``512M`` or ``8GiB``; ValueError names ``name`` otherwise."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ValueError(f"{name}={text!r} is not a byte count (examples: 4294967296, 512M, 8G)")
    return int(match.group(1)) << _SHIFT[match.group(2).lower()]


def _limit(variable: str, default: int) -> int:
    override = _overrides[variable]
    if override is not None:
        return override
    text = os.environ.get(variable)
    if text is None or not text.strip():
        return default
    try:
        return parse_size(text, variable)
    except ValueError as exc:
        raise ImageFileError(f"${variable}", str(exc)) from None


def max_image_bytes() -> int:
    """The limit of decoded data one file may declare (bytes)."""
    return _limit(IMAGE_BYTES_VARIABLE, DEFAULT_MAX_IMAGE_BYTES)


def max_property_bytes() -> int:
    """The limit of one decoded property (bytes)."""
    return _limit(PROPERTY_BYTES_VARIABLE, DEFAULT_MAX_PROPERTY_BYTES)


def set_limits(*, image_bytes: int | None = None, property_bytes: int | None = None) -> None:
    """Set the limits for this process; ``None`` returns to the environment variable or default."""
    for variable, value in ((IMAGE_BYTES_VARIABLE, image_bytes), (PROPERTY_BYTES_VARIABLE, property_bytes)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"{variable}: a limit must be a byte count >= 0, not {value!r}")
        _overrides[variable] = value


@contextlib.contextmanager
def limits(*, image_bytes: int | None = None, property_bytes: int | None = None) -> Iterator[None]:
    """Use these limits inside a ``with`` block (``None`` keeps the current one)."""
    saved = dict(_overrides)
    try:
        set_limits(
            image_bytes=image_bytes if image_bytes is not None else saved[IMAGE_BYTES_VARIABLE],
            property_bytes=property_bytes if property_bytes is not None else saved[PROPERTY_BYTES_VARIABLE],
        )
        yield
    finally:
        _overrides.update(saved)


def _how_to_raise(variable: str, needed: int) -> str:
    function = "image_bytes" if variable == IMAGE_BYTES_VARIABLE else "property_bytes"
    return (
        f"if the file is genuine, raise the limit: environment variable {variable}={needed} "
        f"(or e.g. {-(-needed >> 30)}G), or procfw.io.limits.set_limits({function}={needed})"
    )


class DecodeBudget:
    """The decoded bytes one file may still declare; each :meth:`charge` spends some.

    ``path`` names the file in errors.  The limits are read when the budget is made.
    """

    def __init__(self, path: object) -> None:
        self.path = path
        self.limit = max_image_bytes()
        self.property_limit = max_property_bytes()
        self.spent = 0

    def charge(self, nbytes: int, what: str) -> None:
        """Record ``nbytes`` of decoded data for ``what``; raise ImageFileError past the limit."""
        if nbytes > self.limit - self.spent:
            total = self.spent + nbytes
            earlier = f" (with {self.spent} bytes declared before it)" if self.spent else ""
            raise ImageFileError(
                self.path,
                f"{what} declares {nbytes} bytes of decoded data{earlier}, more than the limit of "
                f"{self.limit} bytes ({human_bytes(self.limit)}); refused before reading (a decompression bomb or a "
                f"corrupt header?); {_how_to_raise(IMAGE_BYTES_VARIABLE, total)}",
            )
        self.spent += nbytes

    def charge_property(self, nbytes: int, what: str) -> None:
        """Like :meth:`charge`, for one property, which also has its own, smaller limit."""
        if nbytes > self.property_limit:
            raise ImageFileError(
                self.path,
                f"{what} declares {nbytes} bytes of decoded data, more than the limit of "
                f"{self.property_limit} bytes ({human_bytes(self.property_limit)}) for one property; refused before "
                f"reading; {_how_to_raise(PROPERTY_BYTES_VARIABLE, nbytes)}",
            )
        self.charge(nbytes, what)


def max_compression_ratio() -> int:
    """How many times compressed data may expand when it decodes to more than RATIO_FLOOR_BYTES (0: no limit)."""
    text = os.environ.get(RATIO_VARIABLE)
    if text is None or not text.strip():
        return DEFAULT_MAX_COMPRESSION_RATIO
    if not text.strip().isdigit():
        raise ImageFileError(f"${RATIO_VARIABLE}", f"{RATIO_VARIABLE}={text!r} is not a whole number (0: no limit)")
    return int(text)


def check_compression_ratio(path: object, decoded: int, stored: int, what: str) -> None:
    """Refuse compressed data of ``stored`` bytes that declares ``decoded`` bytes: a likely decompression bomb.

    Only decoded sizes over :data:`RATIO_FLOOR_BYTES` are checked; the error names the
    file, both sizes, the ratio and how to allow it.
    """
    ratio = max_compression_ratio()
    if ratio <= 0 or decoded <= RATIO_FLOOR_BYTES or decoded <= ratio * max(stored, 0):
        return
    raise ImageFileError(
        path,
        f"{what}: {stored} compressed bytes declare {decoded} bytes ({human_bytes(decoded)}) of decoded data, "
        f"{decoded / max(stored, 1):.0f} times as much — more than the limit of {ratio} times for data over "
        f"{human_bytes(RATIO_FLOOR_BYTES)}; refused before decompressing (a decompression bomb?); if the file is "
        f"genuine, allow it: environment variable {RATIO_VARIABLE}=0 (no limit) or a larger ratio",
    )


def check_image_size(path: object, shape: tuple[int, ...], sample_bytes: int, what: str = "the image") -> None:
    """Refuse an image whose declared ``shape`` x ``sample_bytes`` is over the image limit."""
    count = 1
    for length in shape:
        count *= int(length)
    geometry = "x".join(str(int(n)) for n in shape)
    DecodeBudget(path).charge(count * sample_bytes, f"{what} ({geometry} samples of {sample_bytes} bytes)")


def human_bytes(nbytes: int) -> str:
    """``nbytes`` for people: ``1.5 GiB``, ``256 MiB``, ``12 bytes``."""
    for shift, unit in ((40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")):
        if nbytes >= 1 << shift:
            return f"{nbytes / (1 << shift):.4g} {unit}"
    return f"{nbytes} bytes"
