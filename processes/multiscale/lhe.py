"""LocalHistogramEqualization (PixInsight's, by Zbynek Vrastil: PCL
``src/modules/processes/contrib/zvrastil/LocalHistogramEqualization``).

Contrast-limited adaptive histogram equalization (CLAHE), computed per pixel as the module
does (:mod:`processes.multiscale.lhe_nb`): the histogram (``histogramBins``: 2⁸, 2¹⁰ or
2¹² bins) of the pixels within ``radius − 1`` of the pixel (a disk with
``circularKernel``, else a square), clipped so that the cumulative distribution's slope
stays under ``slopeLimit``; the pixel becomes its clipped cumulative distribution value,
blended with the original by ``amount``.  A colour image's lightness (CIE L*) is equalized.
"""

from __future__ import annotations

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids
import numpy as np

from processes.multiscale import common
from procfw.image import Image
from procfw.params import Boolean, Double, Enumeration, Int32, param
from procfw.process import ExecutionContext, Process

__all__ = ["LocalHistogramEqualization"]

_BINS = {"Bit8": 1 << 8, "Bit10": 1 << 10, "Bit12": 1 << 12}


class LocalHistogramEqualization(Process):
    """Local (contrast-limited adaptive) histogram equalization of the lightness."""

    process_id = "LocalHistogramEqualization"
    categories = ("IntensityTransformations",)

    radius: int = param(Int32(minimum=16, maximum=512, default=64, description="Kernel radius (pixels)."))
    histogramBins: str = param(Enumeration(elements=tuple(_BINS), default="Bit8",
                                           description="Histogram resolution: 8, 10 or 12 bits."))
    slopeLimit: float = param(Double(minimum=1, maximum=64, default=2, precision=1,
                                     description="Contrast limit: the largest slope of the mapping."))
    amount: float = param(Double(minimum=0, maximum=1, default=1, precision=3,
                                 description="Blend of the equalized and the original lightness."))
    circularKernel: bool = param(Boolean(default=True, description="A circular kernel instead of a square one."))

    def equalize(self, plane: np.ndarray) -> np.ndarray:
        """CLAHE of one plane (float32 in [0, 1])."""
        from processes.multiscale import lhe_nb

        plane = np.ascontiguousarray(np.clip(plane, 0, 1), dtype=np.float32)
        return lhe_nb.clahe(plane, self.radius, _BINS[self.histogramBins], float(self.slopeLimit),
                            float(self.amount), self.circularKernel)

    def apply(self, image: Image, context: ExecutionContext) -> Image:
        out = common.apply_to_target(image, self.equalize, to_luminance=True, to_chrominance=False, linear=False,
                                     process_id=self.process_id)
        return image.with_pixels(out)
