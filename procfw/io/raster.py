"""PNG and TIFF as registered formats (entry points ``procfw.formats: png, tiff``).

These are formats *for people to look at*: ``for_display`` is true, so
:func:`procfw.display.save_view` (the console's ``save``) renders a view with its
screen stretch before writing it.  Through :func:`procfw.io.write_image` they store the
pixel values as they are, clipped to [0, 1] and quantized to ``bits`` (PNG 8 by default,
TIFF 16).  Reading gives [0, 1] floats (see :mod:`procfw.io.png`, :mod:`procfw.io.tiff`).
"""

from __future__ import annotations

from pathlib import Path

import attrs

from procfw.image import Image
from procfw.io.png import read_png, write_png_file
from procfw.io.samples import check_bits
from procfw.io.tiff import read_tiff, write_tiff_file

__all__ = ["PNG_FORMAT", "PNGFormat", "TIFF_FORMAT", "TIFFFormat"]


def _valid_bits(_instance: object, _attribute: object, value: int) -> None:
    check_bits(value)


@attrs.frozen
class PNGFormat:
    """Portable Network Graphics, 8-bit (default) or 16-bit; ``attrs.evolve(PNG_FORMAT, bits=16)``."""

    id: str = "png"
    extensions: tuple[str, ...] = (".png",)
    description: str = "Portable Network Graphics (PNG), 8 or 16 bits, for display"
    can_read: bool = True
    can_write: bool = True
    for_display: bool = True
    bits: int = attrs.field(default=8, validator=_valid_bits)

    def read(self, path: Path) -> Image:
        """Read a PNG file (see :func:`procfw.io.png.read_png`)."""
        return read_png(path)

    def write(self, image: Image, path: Path) -> None:
        """Write ``image`` to exactly ``path`` at ``bits`` (the caller handles atomicity)."""
        write_png_file(image, Path(path), bits=self.bits)


@attrs.frozen
class TIFFFormat:
    """Tagged Image File Format, 16-bit (default) or 8-bit, uncompressed."""

    id: str = "tiff"
    extensions: tuple[str, ...] = (".tif", ".tiff")
    description: str = "Tagged Image File Format (TIFF), 16 or 8 bits, for display"
    can_read: bool = True
    can_write: bool = True
    for_display: bool = True
    bits: int = attrs.field(default=16, validator=_valid_bits)

    def read(self, path: Path) -> Image:
        """Read the first page of a TIFF file (see :func:`procfw.io.tiff.read_tiff`)."""
        return read_tiff(path)

    def write(self, image: Image, path: Path) -> None:
        """Write ``image`` to exactly ``path`` at ``bits`` (the caller handles atomicity)."""
        write_tiff_file(image, Path(path), bits=self.bits)


#: The registered PNG format (8 bits).
PNG_FORMAT = PNGFormat()

#: The registered TIFF format (16 bits).
TIFF_FORMAT = TIFFFormat()
