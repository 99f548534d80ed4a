"""MultiscaleMedianTransform (PixInsight's, as its icons store it).

The image (its target components, see :mod:`processes.multiscale.common`) is split by the
multiscale median transform, or with ``transform=MedianWaveletTransform`` by the
median-wavelet transform (threshold ``medianWaveletThreshold``), into ``rows − 1`` layers
and a residual (:mod:`processes.kernels.multiscale`).  Each layer, in turn: disabled,
removed; ``noiseReductionEnabled``, thresholded (soft, see
:func:`processes.multiscale.common.threshold_layer`) at ``noiseReductionThreshold·σ_j``
with ``noiseReductionAmount``, where σ_j is the layer's own noise (MAD/0.6745: the median
transform is not linear, so no fixed coefficients scale one estimate); ``biasEnabled``,
multiplied by ``1 + bias``.  The sum is truncated and rescaled by the dynamic range
extension and, with ``linearMask``, blended with the original through the linear mask.
``noiseReductionAdaptive`` other than 0 is refused (PixInsight's adaptive rule is not
published).
"""

from __future__ import annotations

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids
import numpy as np

from processes.kernels import multiscale as ms
from processes.multiscale import common
from procfw.errors import ExecutionError
from procfw.image import Image
from procfw.params import Boolean, Enumeration, Float, Table, UInt32, param
from procfw.process import ExecutionContext, Process

__all__ = ["MultiscaleMedianTransform"]

_ROW = (True, True, 0.0, False, 1.0, 1.0, 0.0)
_LAYERS = Table(
    columns=(
        Boolean(id="enabled", default=True, description="The layer is kept."),
        Boolean(id="biasEnabled", default=True, description="The bias applies."),
        common.bias_kind(),
        Boolean(id="noiseReductionEnabled", default=False, description="Threshold the layer's noise."),
        Float(id="noiseReductionThreshold", minimum=0, maximum=20, default=1, precision=4,
              description="Noise threshold in units of the layer's noise σ_j."),
        Float(id="noiseReductionAmount", minimum=0, maximum=1, default=1, precision=2,
              description="Strength of the noise reduction (0: none, 1: full)."),
        Float(id="noiseReductionAdaptive", minimum=0, maximum=20, default=0, precision=4,
              description="PixInsight's adaptive noise reduction (only 0 here)."),
    ),
    default=(_ROW,) * 5, min_rows=2, max_rows=17,
    description="One row per layer (scales 1, 2, 4, ...), the residual last.",
)
_RANGES = common.range_kinds()
_TARGET = common.target_kinds()
_PREVIEW = common.preview_kinds()
_MASK = common.linear_mask_kinds()


class MultiscaleMedianTransform(Process):
    """Multiscale median transform: median layers, each biased, thresholded for noise or removed."""

    process_id = "MultiscaleMedianTransform"
    categories = ("MultiscaleProcessing",)

    layers: tuple = param(_LAYERS)
    transform: str = param(Enumeration(elements=("MultiscaleMedianTransform", "MedianWaveletTransform"),
                                       default="MultiscaleMedianTransform",
                                       description="Multiscale median or median-wavelet transform."))
    medianWaveletThreshold: float = param(Float(minimum=0, maximum=20, default=5, precision=2, description=(
        "Median-wavelet transform: median changes above this many σ keep the median value.")))
    scaleDelta: int = param(UInt32(minimum=0, maximum=16, default=0,
                                   description="0: dyadic scales (1, 2, 4, ...); δ ≥ 1: linear scales."))
    linearMask: bool = param(_MASK["linearMask"])
    linearMaskAmpFactor: int = param(_MASK["linearMaskAmpFactor"])
    linearMaskSmoothness: float = param(_MASK["linearMaskSmoothness"])
    linearMaskInverted: bool = param(_MASK["linearMaskInverted"])
    linearMaskPreview: bool = param(_MASK["linearMaskPreview"])
    lowRange: float = param(_RANGES["lowRange"])
    highRange: float = param(_RANGES["highRange"])
    previewMode: str = param(_PREVIEW["previewMode"])
    previewLayer: int = param(_PREVIEW["previewLayer"])
    toLuminance: bool = param(_TARGET["toLuminance"])
    toChrominance: bool = param(_TARGET["toChrominance"])
    linear: bool = param(_TARGET["linear"])

    def process_plane(self, plane: np.ndarray) -> np.ndarray:
        """Transform, layer processing and reconstruction of one plane (float32)."""
        details = len(self.layers) - 1
        threshold = self.medianWaveletThreshold if self.transform == "MedianWaveletTransform" else None
        levels = ms.iter_multiscale_median(np.asarray(plane, dtype=np.float32), details, scale_delta=self.scaleDelta,
                                           median_wavelet_threshold=threshold)
        out: np.ndarray | None = None
        reach = 0
        for j, layer in enumerate(levels):
            if out is None:
                out = np.zeros_like(layer)
            enabled, bias_enabled, bias, reduce, k, amount, _adaptive = self.layers[j]
            if j == details:
                if enabled:
                    out += layer
                break
            reach += ms.scale_distance(j, self.scaleDelta)
            if not enabled:
                continue
            if reduce:
                common.threshold_layer(layer, k * common.estimate_sigma(layer), amount, 1, True, reach)
            if bias_enabled and bias != 0:
                layer *= layer.dtype.type(1 + bias)
            out += layer
        assert out is not None
        return common.dynamic_range(out, self.lowRange, self.highRange)

    def apply(self, image: Image, context: ExecutionContext) -> Image:
        adaptive = [row[6] for row in self.layers if row[3] and row[6] != 0]
        if adaptive:
            raise ExecutionError(f"MultiscaleMedianTransform: noiseReductionAdaptive={adaptive[0]:g} is not "
                                 "implemented (only 0)")
        out = common.apply_to_target(image, self.process_plane, to_luminance=self.toLuminance,
                                     to_chrominance=self.toChrominance, linear=self.linear,
                                     process_id=self.process_id)
        if self.linearMask:
            mask = common.linear_mask(image.pixels, self.linearMaskAmpFactor, self.linearMaskSmoothness,
                                      self.linearMaskInverted).astype(np.float32)
            out = mask * out + (1 - mask) * image.pixels
        return image.with_pixels(out.astype(np.float32, copy=False))
