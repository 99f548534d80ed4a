"""RangeSelection: a mask of the pixels whose values lie in a range (PixInsight's RangeSelection).

PixInsight has never published RangeSelection's sources; the parameter ids are those of
its scripting object (``lowRange``, ``highRange``, ``fuzziness``, ``smoothness``,
``screening``, ``toLightness``, ``invert``).  procfw computes, from the source value ``v``
(CIE L* of a colour image with ``toLightness``, else each nominal channel):

    m = 1                              for lowRange ≤ v ≤ highRange
    m = (v − (lowRange − f)) / f       for lowRange − f < v < lowRange      (f = fuzziness > 0)
    m = ((highRange + f) − v) / f      for highRange < v < highRange + f
    m = 0                              elsewhere

then smooths ``m`` with a Gaussian of σ = ``smoothness`` pixels, multiplies it by ``v``
with ``screening``, and takes ``1 − m`` with ``invert``.  The mask opens as a new window
``range_mask`` (one channel, or three for a colour image without ``toLightness``).
"""

from __future__ import annotations

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids
import numpy as np

from processes.masks.common import gaussian_smooth, intensity_planes
from procfw.image import Image
from procfw.params import Boolean, Float, param
from procfw.process import ExecutionContext, Process, ProcessOutput

__all__ = ["RangeSelection", "range_mask"]

WINDOW_ID = "range_mask"


def range_mask(values: np.ndarray, low: float, high: float, fuzziness: float) -> np.ndarray:
    """The unsmoothed range mask of ``values`` (1 inside [low, high], linear fuzzy edges of width ``fuzziness``)."""
    v = np.asarray(values, dtype=np.float64)
    m = ((v >= low) & (v <= high)).astype(np.float64)
    if fuzziness > 0:
        below = (v < low) & (v > low - fuzziness)
        m[below] = (v[below] - (low - fuzziness)) / fuzziness
        above = (v > high) & (v < high + fuzziness)
        m[above] = ((high + fuzziness) - v[above]) / fuzziness
    return m


class RangeSelection(Process):
    """Build a mask of the pixels whose values lie between two limits, with fuzzy edges."""

    process_id = "RangeSelection"
    categories = ("MaskGeneration",)
    is_history_updater = False  # the target is not changed: the mask opens as a new window

    lowRange: float = param(Float(minimum=0, maximum=1, default=0, precision=6,
                                  description="Lower limit of the selected range."))
    highRange: float = param(Float(minimum=0, maximum=1, default=1, precision=6,
                                   description="Upper limit of the selected range."))
    fuzziness: float = param(Float(minimum=0, maximum=1, default=0, precision=2,
                                   description="Width of the linear transitions outside both limits (0: hard edges)."))
    smoothness: float = param(Float(minimum=0, maximum=100, default=0, precision=2,
                                    description="σ in pixels of the Gaussian that smooths the mask (0: none)."))
    screening: bool = param(Boolean(default=False,
                                    description="Multiply the mask by the source values (a screened mask)."))
    toLightness: bool = param(Boolean(default=True, description="For colour images, select on CIE L* (one-channel "
                                                                "mask) instead of on each RGB channel."))
    invert: bool = param(Boolean(default=False, description="Invert the mask (select what is outside the range)."))

    def validate(self) -> None:
        if self.lowRange > self.highRange:
            raise self.invalid("lowRange", self.lowRange, f"must not exceed highRange ({self.highRange})")

    def mask(self, image: Image) -> np.ndarray:
        """The float32 mask of ``image``, ``(channels, height, width)``."""
        source = intensity_planes(image, lightness=self.toLightness)
        m = range_mask(source, self.lowRange, self.highRange, self.fuzziness)
        m = gaussian_smooth(m, self.smoothness)
        if self.screening:
            m = m * source
        if self.invert:
            m = 1 - m
        return np.clip(m, 0, 1).astype(np.float32)

    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        return ProcessOutput(new_images={WINDOW_ID: Image(self.mask(image))})
