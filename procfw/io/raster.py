"""PNG and TIFF as registered formats (entry points ``procfw.formats: png, tiff``).

They store the pixel values as they are, clipped to [0, 1] and quantized to ``bits`` (PNG
8 by default, TIFF 16), as PixInsight does; :func:`procfw.display.export_rendered` (the
console's ``save ... --stretch``) writes a view as displayed instead.  Reading gives
[0, 1] floats (see :mod:`procfw.io.png`, :mod:`procfw.io.tiff`).

Each format object is defined next to its reader and writer (:data:`procfw.io.png.PNG_FORMAT`,
:data:`procfw.io.tiff.TIFF_FORMAT`); this module gathers the two, and is where the entry
points name them.
"""

from __future__ import annotations

from procfw.io.png import PNG_FORMAT, PNGFormat
from procfw.io.tiff import TIFF_FORMAT, TIFFFormat

__all__ = ["PNG_FORMAT", "PNGFormat", "TIFF_FORMAT", "TIFFFormat"]
