"""ArcsinhStretch: a colour-preserving non-linear stretch (PixInsight's ArcsinhStretch, by Mark Shelley).

Every pixel is scaled by one factor computed from its intensity ``I`` (the mean of the
nominal channels, or their luminance in the RGB working space with ``useRGBWS``), so the
ratios between channels — the colour — are kept while the brightness is stretched:

    r = (I − blackPoint) / (max − blackPoint)
    f = asinh(a·r) / (asinh(a) · r)                       (f = 1 where r = 0 or a = 0)
    v' = clip((v − blackPoint) / (max − blackPoint) · f · k, 0, 1)

``max`` is the image's largest sample; ``a`` is the parameter for which ``a / asinh(a)``
equals ``stretch`` (found, as PixInsight does, by 20 bisections of [0, 10000]), so that
faint pixels (``r → 0``) are multiplied by ``stretch`` relative to a linear rescale; ``k``
is 1, or with ``protectHighlights`` the inverse of the largest stretched value, so that no
channel clips.  ``previewClipped`` only changes PixInsight's real-time preview and is kept
for icons.
"""

from __future__ import annotations

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids
import math

import numpy as np

from procfw.errors import ExecutionError
from procfw.image import Image
from procfw.params import Boolean, Float, param
from procfw.process import ExecutionContext, Process

__all__ = ["ArcsinhStretch", "asinh_parameter"]

_EQUAL_WEIGHTS = (1 / 3, 1 / 3, 1 / 3)


def asinh_parameter(stretch: float) -> float:
    """The ``a`` with ``a / asinh(a) = stretch`` (0 for no stretch), by PixInsight's 20 bisections."""
    if stretch == 1:
        return 0.0
    low, high, mid = 0.0, 10000.0, 0.0
    for _ in range(20):
        mid = (low + high) / 2
        if stretch <= mid / math.asinh(mid):
            high = mid
        else:
            low = mid
    return mid


class ArcsinhStretch(Process):
    """Stretch brightness with an inverse hyperbolic sine while keeping every pixel's colour."""

    process_id = "ArcsinhStretch"
    categories = ("IntensityTransformations",)

    stretch: float = param(Float(minimum=1, maximum=1000, default=1, precision=2,
                                 description="Stretch factor: how much the faintest pixels are amplified."))
    blackPoint: float = param(Float(minimum=0, maximum=0.2, default=0, precision=6,
                                    description="Black point subtracted before stretching."))
    protectHighlights: bool = param(Boolean(default=False,
                                            description="Scale the result so that no channel clips at 1."))
    useRGBWS: bool = param(Boolean(default=False, description="Intensity from the RGB working space's luminance "
                                                              "coefficients instead of equal weights."))
    previewClipped: bool = param(Boolean(default=True, description="PixInsight's real-time preview only: mark "
                                                                   "pixels clipped to zero (no effect here)."))

    def apply(self, image: Image, context: ExecutionContext) -> Image:
        pixels = image.pixels
        nominal = 3 if image.channels >= 3 else 1
        data = pixels[:nominal].astype(np.float64)
        maximum = float(pixels.max()) if pixels.size else 0.0
        span = maximum - self.blackPoint
        if not span > 0:
            raise ExecutionError(f"ArcsinhStretch: the image maximum ({maximum:g}) is not above the black point "
                                 f"({self.blackPoint:g}); nothing to stretch")
        weights = np.asarray(self._weights(nominal), dtype=np.float64)
        weights /= weights.sum()
        rescaled = (np.tensordot(weights, data, axes=1) - self.blackPoint) / span
        a = asinh_parameter(self.stretch)
        factor = np.ones_like(rescaled)
        if a != 0:
            nonzero = rescaled != 0
            factor[nonzero] = np.arcsinh(a * rescaled[nonzero]) / (math.asinh(a) * rescaled[nonzero])
        stretched = (data - self.blackPoint) / span * factor
        if self.protectHighlights:
            stretched *= 1 / stretched.max()
        out = pixels.copy()
        out[:nominal] = np.clip(stretched, 0, 1)
        return image.with_pixels(out)

    def _weights(self, nominal: int) -> tuple[float, ...]:
        if nominal == 1:
            return (1.0,)
        if not self.useRGBWS:
            return _EQUAL_WEIGHTS
        from processes.kernels.colorspace import SRGB

        return tuple(SRGB.luminance)
