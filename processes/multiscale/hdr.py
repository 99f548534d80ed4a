"""HDRMultiscaleTransform (PixInsight's, as its icons store it) — an approximation.

PixInsight's HDRMultiscaleTransform (Vicent Peris and Juan Conejero's HDR wavelet
transform) is closed source and its algorithm is not published in detail.  procfw runs
this approximation of it, with the icon's parameters:

for each of ``numberOfIterations`` (on the inverted image with ``invertedIterations``):

1. the plane is split into ``numberOfLayers`` starlet layers (the icon's scaling function;
   the multiscale median transform with ``medianTransform``) and a residual;
2. the large scales are flattened: the result is the sum of the detail layers plus the
   residual's mean, stretched back to [0, 1] (``overdrive`` pushes it further from the
   input: ``r + overdrive·(r − input)``);
3. midtones balance: ``Automatic`` maps the result's median to the input's median with the
   midtones transfer function, ``Manual`` applies ``midtonesBalance``, and
   ``NoMidtonesBalance`` leaves it.

Colour images: ``toLightness`` processes CIE L*, ``toIntensity`` the mean of R, G, B (the
channels scaled by the change), neither every RGB channel; ``lightnessMask`` blends the
result with the original through the lightness (bright areas get the most).
``preserveHue`` has no further effect here; ``deringing`` is refused.
"""

from __future__ import annotations

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids
import numpy as np

from processes.kernels import multiscale as ms
from processes.kernels.mtf import midtones_balance, mtf
from processes.multiscale import common
from procfw.errors import ExecutionError
from procfw.image import Image
from procfw.params import Boolean, Enumeration, Float, UInt32, param
from procfw.process import ExecutionContext, Process

__all__ = ["HDRMultiscaleTransform"]

_SCALING = common.scaling_kinds(common.B3_5, noise=False)


class HDRMultiscaleTransform(Process):
    """HDR multiscale transform: compress the large-scale dynamic range to reveal small-scale structures."""

    process_id = "HDRMultiscaleTransform"
    categories = ("MultiscaleProcessing",)
    parameter_aliases = {"luminanceMask": "lightnessMask"}

    numberOfLayers: int = param(UInt32(minimum=1, maximum=16, default=6,
                                       description="Detail layers kept; larger scales are compressed."))
    numberOfIterations: int = param(UInt32(minimum=1, maximum=64, default=1, description="Times the transform runs."))
    invertedIterations: bool = param(Boolean(default=True, description="Run the iterations on the inverted image."))
    overdrive: float = param(Float(minimum=0, maximum=1, default=0, precision=3,
                                   description="Push the compression beyond its natural limit."))
    medianTransform: bool = param(Boolean(default=False, description="Multiscale median transform instead of the "
                                                                     "starlet."))
    scalingFunctionData: tuple = param(_SCALING["scalingFunctionData"])
    scalingFunctionRowFilter: tuple = param(_SCALING["scalingFunctionRowFilter"])
    scalingFunctionColFilter: tuple = param(_SCALING["scalingFunctionColFilter"])
    scalingFunctionName: str = param(_SCALING["scalingFunctionName"])
    deringing: bool = param(Boolean(default=False, description="Deringing (not implemented: refused)."))
    smallScaleDeringing: float = param(Float(minimum=0, maximum=1, default=0, precision=3,
                                             description="Deringing of small scales."))
    largeScaleDeringing: float = param(Float(minimum=0, maximum=1, default=0.25, precision=3,
                                             description="Deringing of large scales."))
    outputDeringingMaps: bool = param(Boolean(default=False, description="Create the deringing maps."))
    midtonesBalanceMode: str = param(Enumeration(elements=("NoMidtonesBalance", "Automatic", "Manual"),
                                                 default="Automatic",
                                                 description="How the result's midtones are balanced."))
    midtonesBalance: float = param(Float(minimum=0, maximum=1, default=0.5, precision=6,
                                         description="Midtones balance of the Manual mode."))
    toIntensity: bool = param(Boolean(default=False, description="Process the intensity (mean of R, G, B)."))
    toLightness: bool = param(Boolean(default=True, description="Process the lightness (CIE L*)."))
    preserveHue: bool = param(Boolean(default=False, description="Preserve hue (no further effect here)."))
    lightnessMask: bool = param(Boolean(default=True, description="Protect dark areas with a lightness mask."))

    def validate(self) -> None:
        taps = self.scalingFunctionRowFilter
        if len(taps) % 2 == 0 or sum(taps) == 0 or len(self.scalingFunctionColFilter) != len(taps):
            raise self.invalid("scalingFunctionRowFilter", taps, "needs an odd number of coefficients, as many as "
                                                                 "scalingFunctionColFilter, not adding up to zero")

    def _once(self, plane: np.ndarray) -> np.ndarray:
        if self.medianTransform:
            levels = ms.iter_multiscale_median(plane, self.numberOfLayers)
        else:
            levels = ms.iter_starlet(plane, self.numberOfLayers, scaling_function=self.scalingFunctionRowFilter,
                                     col_function=self.scalingFunctionColFilter)
        flat = np.zeros(plane.shape, dtype=np.float64)
        for j, layer in enumerate(levels):
            flat += layer if j < self.numberOfLayers else float(layer.mean())
        if self.overdrive:
            flat += self.overdrive * (flat - plane)
        lo, hi = float(flat.min()), float(flat.max())
        flat = (flat - lo) / (hi - lo) if hi > lo else np.zeros_like(flat)
        if self.midtonesBalanceMode == "Automatic":
            before, after = float(np.median(plane)), float(np.median(flat))
            if 0 < after < 1 and 0 < before < 1:
                flat = mtf(midtones_balance(after, before), flat)
        elif self.midtonesBalanceMode == "Manual":
            flat = mtf(self.midtonesBalance, flat)
        return flat.astype(np.float32)

    def process_plane(self, plane: np.ndarray) -> np.ndarray:
        """The HDR transform of one plane (float32 in [0, 1])."""
        x = np.clip(np.asarray(plane, dtype=np.float32), 0, 1)
        for _ in range(self.numberOfIterations):
            x = 1 - self._once(1 - x) if self.invertedIterations else self._once(x)
        return x

    def apply(self, image: Image, context: ExecutionContext) -> Image:
        if self.deringing:
            raise ExecutionError("HDRMultiscaleTransform: deringing is not implemented; set deringing=false")
        pixels = image.pixels
        if pixels.shape[0] >= 3 and self.toIntensity and not self.toLightness:
            intensity = pixels[:3].mean(axis=0)
            new = self.process_plane(intensity)
            out = pixels.copy()
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(intensity > 0, new / intensity, 0)
            out[:3] = np.clip(pixels[:3] * ratio, 0, 1)
        else:
            out = common.apply_to_target(image, self.process_plane, to_luminance=True,
                                         to_chrominance=not self.toLightness, linear=False,
                                         process_id=self.process_id)
        if self.lightnessMask:
            mask = np.clip(common.linear_mask(pixels, 1, 0, False), 0, 1).astype(np.float32)
            out = mask * out + (1 - mask) * pixels
        return image.with_pixels(out.astype(np.float32, copy=False))
