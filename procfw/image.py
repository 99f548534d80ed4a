"""Image: planar float pixels plus FITS keywords, XISF-style properties and a sample format.

Pixels are always floating point in memory; :attr:`Image.sample_format` is the format of
the samples the image is *stored* in (PixInsight's sample type: UInt8, UInt16, UInt32,
Float32, Float64).  A file reader sets it from the file (a 16-bit integer FITS or XISF
opens as UInt16), the writers write it unless told otherwise, and it travels with the
image through processes (:meth:`Image.with_pixels` keeps it), as PixInsight keeps an
image's sample type; an image built from an array alone is Float32 (Float64 for float64
pixels).

An Image knows nothing of rendering.  Its notebook preview (``_repr_png_``) calls the
function installed with :func:`set_png_preview`; :mod:`procfw.display` installs its
:func:`~procfw.display.repr_png` when it is imported (:mod:`procfw.workspace` imports it).
Until then an Image shows as its text ``repr``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs
import numpy as np


@attrs.frozen
class FITSKeyword:
    """One FITS header card: name, value (bool, int, float, str or None) and comment."""

    name: str
    value: Any = None
    comment: str = ""


def _as_planar(pixels: Any) -> np.ndarray:
    array = np.asarray(pixels)
    if array.ndim == 2:
        array = array[np.newaxis]
    if array.ndim != 3:
        raise ValueError(
            f"image pixels must be 2-D (height, width) or 3-D (channels, height, width); got shape {array.shape}"
        )
    if array.shape[0] < 1 or array.shape[1] < 1 or array.shape[2] < 1:
        raise ValueError(f"image pixels must not be empty; got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            f"image pixels must be floating point in [0, 1]; got dtype {array.dtype} "
            "(integer data is scaled by the file readers)"
        )
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float32)
    return array


SAMPLE_FORMATS: tuple[str, ...] = ("UInt8", "UInt16", "UInt32", "Float32", "Float64")
"""The sample formats of PixInsight's images (XISF's names)."""


SAMPLE_FORMAT_CODES: dict[str, str] = {
    "i8": "UInt8", "i16": "UInt16", "i32": "UInt32", "f32": "Float32", "f64": "Float64",
}
"""PixInsight's sample format enumeration elements (NewImage, PixelMath, ...) -> sample formats."""


def sample_format_for(code: str, source: Image | None = None) -> str:
    """The sample format a process parameter ``code`` names (``i16`` -> UInt16, ...); any other
    element (``SameAsTarget``, ``SameAsSource``) is ``source``'s format (Float32 without one)."""
    if code in SAMPLE_FORMAT_CODES:
        return SAMPLE_FORMAT_CODES[code]
    return source.sample_format if source is not None else "Float32"


def _check_sample_format(value: object) -> str | None:
    if value is None or value in SAMPLE_FORMATS:
        return value  # type: ignore[return-value]
    raise ValueError(f"sample format {value!r} is not one of {', '.join(SAMPLE_FORMATS)}")


@attrs.define(eq=False)
class Image:
    """Pixels in planar layout ``(channels, height, width)``, normalized to [0, 1].

    ``pixels`` is float32 (float64 where a process needs it).  ``keywords`` are FITS
    header cards in order; ``properties`` are XISF-style typed properties by id.
    Processes treat an Image as a value: they return a new one and never modify theirs.
    The framework enforces this: the image a process is handed (:meth:`read_only`) has
    pixels that cannot be written; a process that wants scratch space asks for a copy
    (:meth:`writable_copy`, or ``image.pixels.copy()``) and returns that.
    """

    pixels: np.ndarray = attrs.field(converter=_as_planar)
    keywords: list[FITSKeyword] = attrs.field(factory=list, converter=list)
    properties: dict[str, Any] = attrs.field(factory=dict, converter=dict)
    sample_format: str = attrs.field(default=None, converter=_check_sample_format, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.sample_format is None:
            self.sample_format = "Float64" if self.pixels.dtype == np.float64 else "Float32"

    @property
    def is_integer_format(self) -> bool:
        """True when the image is stored as integers (UInt8, UInt16, UInt32): [0, 1], quantized."""
        return self.sample_format.startswith("UInt")

    def with_sample_format(self, sample_format: str) -> Image:
        """A new image sharing the pixels, stored as ``sample_format`` from now on (one of
        :data:`SAMPLE_FORMATS`; what PixInsight's SampleFormatConversion changes)."""
        return Image(self.pixels, list(self.keywords), dict(self.properties), sample_format=sample_format)

    def with_properties(self, properties: dict[str, Any]) -> Image:
        """A new image sharing the pixels and keywords, with ``properties`` instead of its own."""
        return Image(self.pixels, list(self.keywords), dict(properties), sample_format=self.sample_format)

    @property
    def channels(self) -> int:
        """Number of channels (1 for grey, 3 for RGB)."""
        return int(self.pixels.shape[0])

    @property
    def height(self) -> int:
        """Rows."""
        return int(self.pixels.shape[1])

    @property
    def width(self) -> int:
        """Columns."""
        return int(self.pixels.shape[2])

    @property
    def is_color(self) -> bool:
        """True for an image of three or more channels (RGB)."""
        return self.channels >= 3

    @property
    def nbytes(self) -> int:
        """Size of the pixel data in bytes."""
        return int(self.pixels.nbytes)

    def copy(self) -> Image:
        """A deep copy: new pixel buffer, new keyword list, new property dict."""
        return Image(self.pixels.copy(), list(self.keywords), dict(self.properties), sample_format=self.sample_format)

    def writable_copy(self) -> Image:
        """A deep copy whose pixels a process may modify in place (its scratch image)."""
        return self.copy()

    def read_only(self) -> Image:
        """A new Image sharing these pixels through a view that cannot be written.

        Keywords and properties are shallow copies, so appending to them does not reach
        this image either.  This is what a process is handed by the framework.
        """
        view = self.pixels.view()
        view.flags.writeable = False
        return Image(view, list(self.keywords), dict(self.properties), sample_format=self.sample_format)

    @property
    def is_writable(self) -> bool:
        """Whether the pixel array may be written in place."""
        return bool(self.pixels.flags.writeable)

    def with_pixels(self, pixels: Any) -> Image:
        """A new image with other pixels and the same keywords, properties and sample format."""
        return Image(pixels, list(self.keywords), dict(self.properties), sample_format=self.sample_format)

    def keyword(self, name: str, default: Any = None) -> Any:
        """The value of the first keyword called ``name`` (case-insensitive), or ``default``."""
        wanted = name.upper()
        for card in self.keywords:
            if card.name.upper() == wanted:
                return card.value
        return default

    def with_keywords(self, cards: Iterable[FITSKeyword]) -> Image:
        """A new image sharing the pixels, with ``cards`` appended to the keywords."""
        return Image(self.pixels, [*self.keywords, *cards], dict(self.properties), sample_format=self.sample_format)

    def _repr_png_(self) -> bytes | None:
        """A stretched PNG preview for Jupyter, from the installed :func:`set_png_preview` function.

        With :mod:`procfw.display` imported, :func:`procfw.display.repr_png` (at most 1024
        pixels long); before that None, which tells Jupyter to show the text ``repr``.
        """
        preview = _png_preview
        return None if preview is None else preview(self)

    def __repr__(self) -> str:
        return f"Image({self.channels}x{self.height}x{self.width} {self.pixels.dtype}, {self.sample_format})"


PngPreview = Callable[[Image], bytes]
"""A function that makes the PNG bytes Jupyter shows for an Image."""

_png_preview: PngPreview | None = None


def set_png_preview(preview: PngPreview | None) -> PngPreview | None:
    """Install the function behind ``Image._repr_png_`` (None: no preview); return the previous one.

    :mod:`procfw.display` installs :func:`procfw.display.repr_png` when it is imported.
    """
    global _png_preview
    previous, _png_preview = _png_preview, preview
    return previous
