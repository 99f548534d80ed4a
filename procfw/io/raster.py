"""PNG and TIFF as registered formats (entry points ``procfw.formats: png, tiff``).

These are formats *for people to look at*: ``for_display`` is true, so
:func:`procfw.display.save_view` (the console's ``save``) renders a view with its
screen stretch before writing it.  Through :func:`procfw.io.write_image` they store the
pixel values as they are, clipped to [0, 1] and quantized to ``bits`` (PNG 8 by default,
TIFF 16).  Reading gives [0, 1] floats (see :mod:`procfw.io.png`, :mod:`procfw.io.tiff`).

Each format object is defined next to its reader and writer (:data:`procfw.io.png.PNG_FORMAT`,
:data:`procfw.io.tiff.TIFF_FORMAT`); this module gathers the two, and is where the entry
points name them.
"""

from __future__ import annotations

from procfw.io.png import PNG_FORMAT, PNGFormat
from procfw.io.tiff import TIFF_FORMAT, TIFFFormat

__all__ = ["PNG_FORMAT", "PNGFormat", "TIFF_FORMAT", "TIFFFormat"]
