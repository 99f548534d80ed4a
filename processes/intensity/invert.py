"""Invert: the negative of an image, ``1 − x`` (PixInsight Invert)."""

from __future__ import annotations

from procfw.image import Image
from procfw.process import ExecutionContext, Process


class Invert(Process):
    """Replace every pixel value x by 1 − x (the photographic negative)."""

    process_id = "Invert"
    categories = ("IntensityTransformations",)

    def apply(self, image: Image, context: ExecutionContext) -> Image:
        out = 1 - image.pixels
        return image.with_pixels(out.astype(image.pixels.dtype, copy=False))
