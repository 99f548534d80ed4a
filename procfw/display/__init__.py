"""What images look like on screen: display functions, rendering, exports and notebook previews.

* :func:`render` — an Image or a view as displayed (its STF, else an automatic stretch);
* :func:`export_rendered` — write that rendering to PNG (8/16 bits) or TIFF (16/8 bits);
* :func:`save_view` — the console's ``save``: the pixels as they are, with the view's
  display function (XISF ``DisplayFunction``); rendered when asked (``stretch``);
* :func:`export_histogram` — per-channel histogram plot as a PNG;
* :func:`repr_png` — the PNG preview that ``Image``, views and windows show in Jupyter
  (importing this package installs it as ``Image._repr_png_``'s renderer, through
  :func:`procfw.image.set_png_preview`: the image layer never imports the display layer).

The display function seam is described in :mod:`procfw.display.functions`.  Pillow is
imported only when a picture is made.
"""

from __future__ import annotations

from procfw.display.export import REPR_MAX_SIZE, downsample, export_rendered, repr_png, save_view
from procfw.display.functions import (
    AUTO_STRETCH_PROCESS,
    DISPLAY_FUNCTION_KEY,
    DISPLAY_FUNCTION_PROCESS,
    DisplayFunction,
    LinearStretch,
    auto_display_function,
    display_function_from_dict,
    display_function_of,
    percentile_stretch,
    render,
    split_display_function,
    with_display_function,
)
from procfw.display.histogram import bar_heights, export_histogram, histogram_counts
from procfw.image import set_png_preview

__all__ = [
    "AUTO_STRETCH_PROCESS",
    "DISPLAY_FUNCTION_KEY",
    "DISPLAY_FUNCTION_PROCESS",
    "REPR_MAX_SIZE",
    "DisplayFunction",
    "LinearStretch",
    "auto_display_function",
    "bar_heights",
    "display_function_from_dict",
    "display_function_of",
    "downsample",
    "export_histogram",
    "export_rendered",
    "histogram_counts",
    "percentile_stretch",
    "render",
    "repr_png",
    "save_view",
    "split_display_function",
    "with_display_function",
]

set_png_preview(repr_png)
