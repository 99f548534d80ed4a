"""MultiscaleLinearTransform and ATrousWaveletTransform (PixInsight's, as their icons store them).

The image (its target components, see :mod:`processes.multiscale.common`) is split by the
starlet transform (the scaling function of the icon, taps ``2^j`` apart, or
``1 + j·scaleDelta``) or, for MultiscaleLinearTransform with
``transform=MultiscaleLinearTransform``, by Gaussian filters of growing size
(:mod:`processes.kernels.multiscale`), into ``rows − 1`` detail layers and a residual; the
``layers`` table has one row per layer and the residual last.  Each layer, in turn:

* disabled: removed (a disabled residual removes the large scales);
* ``noiseReductionEnabled``: thresholded at ``noiseReductionThreshold·σ_j`` with
  ``noiseReductionAmount`` and ``noiseReductionIterations`` (soft or hard after
  ``softThresholding``), ``σ_j = σ·k_j``: ``k_j`` the layer's noise coefficient
  (``scalingFunctionNoiseSigma`` for the starlet, the Gaussian layers' own otherwise) and σ
  the image's noise, MAD/0.6745 of the first layer divided by ``k_1`` (with
  ``useMultiresolutionSupport`` the multiresolution-support estimate);
* ``noiseThresholding``: every enabled layer thresholded at ``noiseThreshold·σ_j`` with
  ``noiseThresholdingAmount``;
* ``biasEnabled``: multiplied by ``1 + bias``;

the layers kept are added up; with ``deringing``, PCL's deringing of UnsharpMask
(:func:`processes.multiscale.common.dering`: ``deringingDark``, ``deringingBright``) is
applied to the result against the processed plane (PixInsight's own MLT/ATWT deringing is
unpublished); the result is truncated and rescaled by the dynamic range extension
(``lowRange``, ``highRange``) and, with ``linearMask``, blended with the original through
the linear mask.  ``largeScaleFunction`` other than ``NoFunction`` is refused (PixInsight's
transfer functions of the residual are unpublished); ``outputDeringingMaps`` (new windows in
PixInsight) and the preview parameters are kept for icons, with no effect.
"""

from __future__ import annotations

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids
from collections.abc import Iterator

import numpy as np

from processes.kernels import multiscale as ms
from processes.multiscale import common
from procfw.errors import ExecutionError
from procfw.image import Image
from procfw.params import Boolean, Enumeration, Float, Table, UInt32, param
from procfw.process import ExecutionContext, Process

__all__ = ["ATrousWaveletTransform", "MultiscaleLinearTransform", "reconstruct"]

_LAYER_ROW = (True, True, 0.0, False, 3.0, 1.0, 1)
_LAYERS = Table(
    columns=(
        Boolean(id="enabled", default=True, description="The layer is kept."),
        Boolean(id="biasEnabled", default=True, description="The bias applies."),
        common.bias_kind(),
        Boolean(id="noiseReductionEnabled", default=False, description="Threshold the layer's noise."),
        Float(id="noiseReductionThreshold", minimum=0, maximum=20, default=3, precision=3,
              description="Noise threshold in units of the layer's noise σ_j."),
        Float(id="noiseReductionAmount", minimum=0, maximum=1, default=1, precision=2,
              description="Strength of the noise reduction (0: none, 1: full)."),
        UInt32(id="noiseReductionIterations", minimum=1, maximum=16, default=1,
               description="Times the noise reduction is applied."),
    ),
    default=(_LAYER_ROW,) * 5, min_rows=2, max_rows=17,
    description="One row per detail layer (scales 1, 2, 4, ...), the residual last.",
)
_SCALING = common.scaling_kinds(common.LINEAR_3)
_RANGES = common.range_kinds()
_TARGET = common.target_kinds()
_PREVIEW = common.preview_kinds()
_MASK = common.linear_mask_kinds()
_LARGE_SCALE = Enumeration(elements=("NoFunction", "Log10", "Ln", "Hyperbolic"), default="NoFunction",
                           description="Transfer function of the residual layer (only NoFunction here).")


def reconstruct(levels: Iterator[np.ndarray], rows: tuple, coefficients: tuple[float, ...], *,
                soft: bool, noise_thresholding: tuple[float, float] | None,
                sigma_of: common.PlaneFunction | None = None, reach: tuple[int, ...] = ()) -> np.ndarray:
    """Sum of the processed layers (see the module docstring); ``levels`` as the engine's
    ``iter_*`` generators yield them; ``coefficients`` the layers' noise coefficients;
    ``noise_thresholding`` (k, amount) or None; ``sigma_of`` estimates the image's noise
    from the first layer (default: MAD/0.6745 divided by the first coefficient); ``reach``
    the layers' protected distances around significant coefficients (pixels)."""
    details = len(rows) - 1
    needs_noise = noise_thresholding is not None or any(row[3] for row in rows[:details])
    out: np.ndarray | None = None
    sigma = 0.0
    for j, layer in enumerate(levels):
        if out is None:
            out = np.zeros_like(layer)
        enabled, bias_enabled, bias, reduce, threshold, amount, iterations = rows[j]
        if j == details:
            if enabled:
                out += layer
            break
        if j == 0 and needs_noise:
            sigma = sigma_of(layer) if sigma_of is not None else common.estimate_sigma(layer) / coefficients[0]
        if not enabled:
            continue
        sigma_j = sigma * coefficients[j]
        if reduce:
            common.threshold_layer(layer, threshold * sigma_j, amount, iterations, soft, reach[j] if reach else 0)
        if noise_thresholding is not None:
            common.threshold_layer(layer, noise_thresholding[0] * sigma_j, noise_thresholding[1], 1, soft,
                                   reach[j] if reach else 0)
        if bias_enabled and bias != 0:
            layer *= layer.dtype.type(1 + bias)
        out += layer
    assert out is not None
    return out


class _Wavelets:
    """Shared execution of MultiscaleLinearTransform and ATrousWaveletTransform (a mixin of
    their Process classes, which declare the parameters)."""

    layers: tuple
    scaleDelta: int
    scalingFunctionRowFilter: tuple
    scalingFunctionColFilter: tuple
    scalingFunctionNoiseSigma: tuple

    def validate(self) -> None:
        for name in ("scalingFunctionRowFilter", "scalingFunctionColFilter"):
            taps = getattr(self, name)
            if len(taps) % 2 == 0 or not taps or sum(taps) == 0:
                raise self.invalid(name, taps, "needs an odd number of coefficients that do not add up to zero")
        if len(self.scalingFunctionColFilter) != len(self.scalingFunctionRowFilter):
            raise self.invalid("scalingFunctionColFilter", self.scalingFunctionColFilter,
                               "must have as many coefficients as scalingFunctionRowFilter")

    def _starlet(self) -> bool:
        return getattr(self, "transform", "StarletTransform") == "StarletTransform"

    def noise_coefficients(self) -> tuple[float, ...]:
        """σ of each detail layer for unit white Gaussian noise (see the module docstring)."""
        details = len(self.layers) - 1
        if not self._starlet():
            return ms.noise_coefficients("linear", details, scale_delta=self.scaleDelta)
        stored = tuple(self.scalingFunctionNoiseSigma)
        if len(stored) >= details and self.scaleDelta == 0 and all(k > 0 for k in stored[:details]):
            return stored[:details]
        return ms.noise_coefficients("starlet", details, tuple(self.scalingFunctionRowFilter), self.scaleDelta)

    def reach(self) -> tuple[int, ...]:
        """Half-width of each layer's wavelet (the smoothing's reach summed over the scales up
        to it): the distance protected around a significant coefficient."""
        details = len(self.layers) - 1
        half = len(self.scalingFunctionRowFilter) // 2 if self._starlet() else 1
        distances = [half * ms.scale_distance(j, self.scaleDelta, starlet=self._starlet()) for j in range(details)]
        return tuple(int(sum(distances[: j + 1])) for j in range(details))

    def _levels(self, plane: np.ndarray) -> Iterator[np.ndarray]:
        details = len(self.layers) - 1
        if self._starlet():
            return ms.iter_starlet(plane, details, scaling_function=self.scalingFunctionRowFilter,
                                   col_function=self.scalingFunctionColFilter, scale_delta=self.scaleDelta)
        return ms.iter_multiscale_linear(plane, details, scale_delta=self.scaleDelta)

    def process_plane(self, plane: np.ndarray) -> np.ndarray:
        """The transform, layer processing and reconstruction of one plane (float32)."""
        coefficients = self.noise_coefficients()
        sigma_of = None
        if self.useMultiresolutionSupport:
            from processes.kernels.noise import noise_mrs

            def sigma_of(_layer: np.ndarray) -> float:
                return noise_mrs(plane).sigma

        thresholding = (self.noiseThreshold, self.noiseThresholdingAmount) if self.noiseThresholding else None
        out = reconstruct(self._levels(np.asarray(plane, dtype=np.float32)), self.layers, coefficients,
                          soft=self.softThresholding, noise_thresholding=thresholding, sigma_of=sigma_of,
                          reach=self.reach())
        if self.deringing and (self.deringingDark > 0 or self.deringingBright > 0):
            original = np.asarray(plane, dtype=np.float64)[None]
            out = common.dering(out.astype(np.float64)[None], original, self.deringingDark,
                                self.deringingBright)[0].astype(np.float32)
        return common.dynamic_range(out, self.lowRange, self.highRange)

    def apply(self, image: Image, context: ExecutionContext) -> Image:
        if self.largeScaleFunction != "NoFunction":
            raise ExecutionError(f"{self.process_id}: largeScaleFunction={self.largeScaleFunction} is not "
                                 "implemented (PixInsight's large-scale transfer functions are unpublished); "
                                 "use largeScaleFunction=NoFunction")
        out = common.apply_to_target(image, self.process_plane, to_luminance=self.toLuminance,
                                     to_chrominance=self.toChrominance, linear=self.linear,
                                     process_id=self.process_id)
        if getattr(self, "linearMask", False):
            mask = common.linear_mask(image.pixels, self.linearMaskAmpFactor, self.linearMaskSmoothness,
                                      self.linearMaskInverted).astype(np.float32)
            out = mask * out + (1 - mask) * image.pixels
        return image.with_pixels(out.astype(np.float32, copy=False))


_SHARED = {
    "scaleDelta": UInt32(minimum=0, maximum=16, default=0,
        description="0: dyadic scales (1, 2, 4, ...); δ ≥ 1: linear scales."),
    "curveBreakPoint": Float(minimum=0, maximum=1, default=0.75, precision=2,
        description="Break point of the Hyperbolic large-scale function."),
    "noiseThresholding": Boolean(default=False, description="Threshold every layer's noise."),
    "noiseThresholdingAmount": Float(minimum=0, maximum=1, default=1, precision=2,
        description="Strength of the noise thresholding."),
    "noiseThreshold": Float(minimum=0, maximum=20, default=3, precision=2,
        description="Noise thresholding in units of each layer's σ_j."),
    "softThresholding": Boolean(default=True, description="Soft (shrink) instead of hard thresholding."),
    "useMultiresolutionSupport": Boolean(default=False, description=(
        "Estimate the noise with the multiresolution support instead of the first layer's MAD.")),
    "deringing": Boolean(default=False, description="PCL's (UnsharpMask's) deringing of the result."),
    "deringingDark": Float(minimum=0, maximum=1, default=0.1, precision=4,
        description="Deringing of dark rings."),
    "deringingBright": Float(minimum=0, maximum=1, default=0, precision=4,
        description="Deringing of bright rings."),
    "outputDeringingMaps": Boolean(default=False, description="Create the deringing maps (no effect here)."),
}
"""Parameters MultiscaleLinearTransform and ATrousWaveletTransform declare alike."""


class MultiscaleLinearTransform(_Wavelets, Process):
    """Multiscale linear transform: starlet or Gaussian layers, each biased, thresholded for noise or removed."""

    process_id = "MultiscaleLinearTransform"
    categories = ("MultiscaleProcessing",)

    layers: tuple = param(_LAYERS)
    transform: str = param(Enumeration(elements=("StarletTransform", "MultiscaleLinearTransform"),
                                       default="StarletTransform",
                                       description="Starlet (à trous) or multiscale linear (Gaussian) layers."))
    scaleDelta: int = param(_SHARED["scaleDelta"])
    scalingFunctionData: tuple = param(_SCALING["scalingFunctionData"])
    scalingFunctionRowFilter: tuple = param(_SCALING["scalingFunctionRowFilter"])
    scalingFunctionColFilter: tuple = param(_SCALING["scalingFunctionColFilter"])
    scalingFunctionNoiseSigma: tuple = param(_SCALING["scalingFunctionNoiseSigma"])
    scalingFunctionName: str = param(_SCALING["scalingFunctionName"])
    linearMask: bool = param(_MASK["linearMask"])
    linearMaskAmpFactor: int = param(_MASK["linearMaskAmpFactor"])
    linearMaskSmoothness: float = param(_MASK["linearMaskSmoothness"])
    linearMaskInverted: bool = param(_MASK["linearMaskInverted"])
    linearMaskPreview: bool = param(_MASK["linearMaskPreview"])
    largeScaleFunction: str = param(_LARGE_SCALE)
    curveBreakPoint: float = param(_SHARED["curveBreakPoint"])
    noiseThresholding: bool = param(_SHARED["noiseThresholding"])
    noiseThresholdingAmount: float = param(_SHARED["noiseThresholdingAmount"])
    noiseThreshold: float = param(_SHARED["noiseThreshold"])
    softThresholding: bool = param(_SHARED["softThresholding"])
    useMultiresolutionSupport: bool = param(_SHARED["useMultiresolutionSupport"])
    deringing: bool = param(_SHARED["deringing"])
    deringingDark: float = param(_SHARED["deringingDark"])
    deringingBright: float = param(_SHARED["deringingBright"])
    outputDeringingMaps: bool = param(_SHARED["outputDeringingMaps"])
    lowRange: float = param(_RANGES["lowRange"])
    highRange: float = param(_RANGES["highRange"])
    previewMode: str = param(_PREVIEW["previewMode"])
    previewLayer: int = param(_PREVIEW["previewLayer"])
    toLuminance: bool = param(_TARGET["toLuminance"])
    toChrominance: bool = param(_TARGET["toChrominance"])
    linear: bool = param(_TARGET["linear"])


class ATrousWaveletTransform(_Wavelets, Process):
    """À trous (starlet) wavelet transform: layers biased, thresholded for noise or removed."""

    process_id = "ATrousWaveletTransform"
    categories = ("MultiscaleProcessing",)

    layers: tuple = param(_LAYERS)
    scaleDelta: int = param(_SHARED["scaleDelta"])
    scalingFunctionData: tuple = param(_SCALING["scalingFunctionData"])
    scalingFunctionRowFilter: tuple = param(_SCALING["scalingFunctionRowFilter"])
    scalingFunctionColFilter: tuple = param(_SCALING["scalingFunctionColFilter"])
    scalingFunctionNoiseSigma: tuple = param(_SCALING["scalingFunctionNoiseSigma"])
    scalingFunctionName: str = param(_SCALING["scalingFunctionName"])
    largeScaleFunction: str = param(_LARGE_SCALE)
    curveBreakPoint: float = param(_SHARED["curveBreakPoint"])
    noiseThresholding: bool = param(_SHARED["noiseThresholding"])
    noiseThresholdingAmount: float = param(_SHARED["noiseThresholdingAmount"])
    noiseThreshold: float = param(_SHARED["noiseThreshold"])
    softThresholding: bool = param(_SHARED["softThresholding"])
    useMultiresolutionSupport: bool = param(_SHARED["useMultiresolutionSupport"])
    deringing: bool = param(_SHARED["deringing"])
    deringingDark: float = param(_SHARED["deringingDark"])
    deringingBright: float = param(_SHARED["deringingBright"])
    outputDeringingMaps: bool = param(_SHARED["outputDeringingMaps"])
    lowRange: float = param(_RANGES["lowRange"])
    highRange: float = param(_RANGES["highRange"])
    previewMode: str = param(_PREVIEW["previewMode"])
    previewLayer: int = param(_PREVIEW["previewLayer"])
    toLuminance: bool = param(_TARGET["toLuminance"])
    toChrominance: bool = param(_TARGET["toChrominance"])
    linear: bool = param(_TARGET["linear"])
