"""MaskedStretch: a non-linear stretch that protects bright structures (PixInsight's MaskedStretch).

The image is stretched in ``numberOfIterations`` small midtones transfer steps, each
applied through a mask made from the image as it stands (its intensity, the mean of R, G
and B, or its value, their maximum), so bright pixels — stars, galaxy cores — are barely
stretched while the background is lifted to ``targetBackground``:

    v ← f·v + (1 − f)·MTF(mᵢ, v)            f = intensity (or value) of the pixel, before step i

The balances ``mᵢ`` are chosen beforehand so that the background ``b`` walks to the target
in equal steps: with ``tᵢ = b + (target − b)/(n − i)``, ``mᵢ = MTF(tᵢ, b)`` and then
``b ← b² + (1 − b)·tᵢ``, as PixInsight precomputes them.  The initial background is the
median of the pixels (mean of R, G, B) with every channel inside ``(backgroundLow,
backgroundHigh)``, measured on ``backgroundReferenceViewId`` (default: the target), in
the ROI if ``useROI``.  First, ``clippingFraction`` of the samples are clipped to black: the
clipping point is the least, over the nominal channels, of the level below which that
fraction of samples lies (a 2¹⁸-bin histogram, as PixInsight's), applied as a shadows
clip.
"""

from __future__ import annotations

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids
import numpy as np

from processes.kernels.mtf import mtf
from procfw.errors import ExecutionError, ProcfwError
from procfw.image import Image
from procfw.params import Boolean, Double, Enumeration, Int32, String, param
from procfw.process import ExecutionContext, Process, ProcessOutput

__all__ = ["MaskedStretch", "clipping_point", "initial_background", "stretch_balances"]

_HISTOGRAM_BINS = 1 << 18
_VIEW_ID_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_->"


def clipping_point(pixels: np.ndarray, fraction: float) -> float:
    """The shadows clipping point that clips ``fraction`` of the samples of each nominal
    channel (the least over channels), on PixInsight's 2¹⁸-bin histogram."""
    point = 1.0
    resolution = _HISTOGRAM_BINS - 1
    for plane in pixels:
        bins = np.rint(np.clip(plane, 0, 1).ravel() * resolution).astype(np.int64)
        counts = np.bincount(bins, minlength=_HISTOGRAM_BINS)
        wanted = counts[0] + round(plane.size * fraction)
        cumulative = np.cumsum(counts[:-1])
        index = int(np.searchsorted(cumulative, wanted, side="right"))  # first level whose running sum exceeds it
        point = min(point, index / resolution)
    return point


def initial_background(pixels: np.ndarray, low: float, high: float, clip: float = 0.0) -> float:
    """The median of the pixels whose every nominal channel lies in ``(low, high)`` (mean of
    the channels), after the shadows clip ``clip`` if there is one."""
    data = pixels.astype(np.float64)
    if clip > 0:
        data = (data - clip) / (1 - clip)
    inside = np.all((data > low) & (data < high), axis=0)
    values = data[:, inside].mean(axis=0)
    return float(np.median(values)) if values.size else 0.0


def stretch_balances(background: float, target: float, iterations: int) -> list[float]:
    """The midtones balance of each step, walking ``background`` to ``target`` in equal steps."""
    balances = []
    for i in range(iterations):
        step_target = background + (target - background) / (iterations - i)
        balances.append(float(mtf(step_target, background)))
        background = background * background + (1 - background) * step_target
    return balances


class MaskedStretch(Process):
    """Stretch in many small masked steps, lifting the background while bright structures keep their shape."""

    process_id = "MaskedStretch"
    # its PixInsight defaults need a dark background (below 0.05); the conformance ramp's is 0.25
    conformance_parameters = {"backgroundHigh": 0.5, "targetBackground": 0.7}
    categories = ("IntensityTransformations",)
    key_outputs = ("initialBackground", "clippingPoint")

    targetBackground: float = param(Double(minimum=0, maximum=1, default=0.125, precision=8,
                                           description="Background level after the stretch."))
    numberOfIterations: int = param(Int32(minimum=2, maximum=1000, default=100,
                                          description="Number of masked stretch steps."))
    clippingFraction: float = param(Double(minimum=0, maximum=1, default=0.0005, precision=8,
                                           description="Fraction of the samples clipped to black first."))
    backgroundReferenceViewId: str = param(String(default="", allowed_characters=_VIEW_ID_CHARACTERS,
                                                  description="View whose background is measured ('' for the "
                                                              "target itself)."))
    backgroundLow: float = param(Double(minimum=0, maximum=1, default=0, precision=8,
                                        description="Background pixels are above this."))
    backgroundHigh: float = param(Double(minimum=0, maximum=1, default=0.05, precision=8,
                                         description="Background pixels are below this."))
    useROI: bool = param(Boolean(default=False, description="Measure the background in a rectangle."))
    roiX0: int = param(Int32(minimum=0, default=0, description="Left column of the region of interest."))
    roiY0: int = param(Int32(minimum=0, default=0, description="Top row of the region of interest."))
    roiX1: int = param(Int32(minimum=0, default=0, description="Right edge (exclusive) of the region of interest."))
    roiY1: int = param(Int32(minimum=0, default=0, description="Bottom edge (exclusive) of the region of interest."))
    maskType: str = param(Enumeration(elements=("MaskType_Intensity", "MaskType_Value"),
                                      default="MaskType_Intensity",
                                      description="The mask of each step: intensity (mean of R, G, B) or value "
                                                  "(their maximum)."))

    def validate(self) -> None:
        if self.useROI and (self.roiX0 == self.roiX1 or self.roiY0 == self.roiY1):
            roi = (self.roiX0, self.roiY0, self.roiX1, self.roiY1)
            raise self.invalid("useROI", self.useROI, f"the region of interest {roi} is empty")

    def _background_pixels(self, image: Image, context: ExecutionContext) -> tuple[np.ndarray, bool]:
        """The pixels the background is measured on, and whether they are the target's own."""
        own = not self.backgroundReferenceViewId or self.backgroundReferenceViewId == context.view_id
        reference = image
        if not own:
            try:
                reference = context.image(self.backgroundReferenceViewId)
            except ProcfwError as exc:
                raise ExecutionError(f"MaskedStretch: no such view (background reference): {exc}") from None
        pixels = reference.pixels[: 3 if reference.channels >= 3 else 1]
        if self.useROI:
            x0, x1 = sorted((self.roiX0, self.roiX1))
            y0, y1 = sorted((self.roiY0, self.roiY1))
            x1, y1 = min(x1, reference.width), min(y1, reference.height)
            if x1 > x0 and y1 > y0:
                pixels = pixels[:, y0:y1, x0:x1]
        return pixels, own

    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        nominal = 3 if image.channels >= 3 else 1
        data = image.pixels[:nominal].astype(np.float64)
        clip = clipping_point(data, self.clippingFraction) if self.clippingFraction > 0 else 0.0
        if clip >= 1:
            raise ExecutionError("MaskedStretch: black image (clipping it leaves nothing) - unable to stretch")
        if clip > 0:
            data = np.clip((data - clip) / (1 - clip), 0, 1)
        reference, own = self._background_pixels(image, context)
        background = initial_background(data if own else reference, self.backgroundLow, self.backgroundHigh)
        if 1 + background <= 1:
            raise ExecutionError("MaskedStretch: black or too dark image (no background between backgroundLow and "
                                 "backgroundHigh) - unable to stretch")
        if background >= self.targetBackground:
            raise ExecutionError(f"MaskedStretch: the initial background ({background:.5g}) is not below "
                                 f"targetBackground ({self.targetBackground:g})")
        balances = np.asarray(stretch_balances(background, self.targetBackground, self.numberOfIterations))
        from processes.intensity.maskedstretch_nb import masked_stretch

        flat = np.ascontiguousarray(data.reshape(nominal, -1))
        masked_stretch(flat, balances, self.maskType == "MaskType_Value")
        out = image.pixels.copy()
        out[:nominal] = flat.reshape(data.shape)
        return ProcessOutput(image=image.with_pixels(out),
                             outputs={"initialBackground": background, "clippingPoint": clip})
