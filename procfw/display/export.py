"""Writing what a view looks like: rendered exports, saving views, notebook previews."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from procfw.display.functions import display_function_of, image_of, render, with_display_function
from procfw.errors import ParameterError
from procfw.image import Image
from procfw.io import ImageFormat, format_for_path, write_image
from procfw.io.samples import MAX_RASTER_CHANNELS, check_bits, interleaved_samples

REPR_MAX_SIZE = 1024
"""The long side, in pixels, of the previews that images and views show in notebooks."""


def _with_bits(fmt: ImageFormat, bits: int | None) -> ImageFormat:
    if bits is None:
        return fmt
    if not (attrs.has(type(fmt)) and "bits" in attrs.fields_dict(type(fmt))):
        raise ParameterError(f"bits: {fmt.id} files have no bit depth option (it applies to PNG and TIFF)")
    return attrs.evolve(fmt, bits=check_bits(bits))  # type: ignore[misc]


def export_rendered(
    target: Any,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    bits: int | None = None,
    stf: object = None,
) -> Path:
    """Write ``target`` (an Image or a view) as it is displayed, atomically; return the path.

    The stretch is ``stf`` when given, else the view's display function, else the
    automatic stretch (see :func:`procfw.display.render`).  The format follows the
    extension: ``.png`` (8 bits unless ``bits=16``), ``.tif``/``.tiff`` (16 bits unless
    ``bits=8``), or any other writable format (``bits`` then not allowed).  An existing
    file is replaced only when ``overwrite`` is true.
    """
    fmt = _with_bits(format_for_path(path, for_writing=True), bits)
    return write_image(render(target, stf), path, overwrite=overwrite, format=fmt)


def save_view(
    view: Any, path: str | os.PathLike[str], *, overwrite: bool = False, bits: int | None = None,
    stretch: bool = False,
) -> Path:
    """Save a view to a file, as the console's ``save`` does; return the path.

    The pixels are written as they are (PNG and TIFF quantize [0, 1]), with the view's
    display function stored as the image's display dict (XISF writes it as its
    ``DisplayFunction``).  ``stretch`` writes the view as displayed instead
    (:func:`export_rendered`: its STF, else the automatic stretch).
    """
    if stretch:
        return export_rendered(view, path, overwrite=overwrite, bits=bits)
    fmt = _with_bits(format_for_path(path, for_writing=True), bits)
    image = with_display_function(view.image, getattr(view, "display_function", None))
    return write_image(image, path, overwrite=overwrite, format=fmt)


def downsample(image: Image, max_size: int = REPR_MAX_SIZE) -> Image:
    """``image`` reduced by area averaging so its long side is ``max_size`` (unchanged if smaller).

    The other side is scaled in proportion (rounded, at least 1 pixel).
    """
    from PIL import Image as PILImage

    if max_size < 1:
        raise ParameterError(f"max_size must be at least 1; got {max_size}")
    long_side = max(image.width, image.height)
    if long_side <= max_size:
        return image
    scale = max_size / long_side
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    box = PILImage.Resampling.BOX  # area averaging
    planes = [
        np.asarray(PILImage.fromarray(np.ascontiguousarray(plane, dtype=np.float32)).resize(size, box))
        for plane in image.pixels
    ]
    return image.with_pixels(np.stack(planes))


def repr_png(target: Any, *, max_size: int = REPR_MAX_SIZE) -> bytes:
    """An 8-bit PNG of ``target`` (an Image or a view) as displayed, at most ``max_size`` pixels long.

    The stretch is chosen on the full image (the view's display function, else the
    automatic stretch); the image is then reduced by area averaging and rendered.
    """
    from PIL import Image as PILImage

    function = display_function_of(target)
    small = downsample(image_of(target), max_size)
    shown = render(small, function)
    buffer = io.BytesIO()
    samples = interleaved_samples(shown.pixels[:MAX_RASTER_CHANNELS], 8)  # colour + alpha; more are not shown
    PILImage.fromarray(samples).save(buffer, format="PNG")
    return buffer.getvalue()
