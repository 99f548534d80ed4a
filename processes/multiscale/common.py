"""What the multiscale processes share: parameter kinds, the target (luminance, chrominance,
RGB), the linear mask, per-layer thresholding and the dynamic range extension.

Target, as PixInsight's ``toLuminance`` / ``toChrominance`` / ``linear``: on a colour
image both flags process every RGB channel; ``toLuminance`` alone the CIE L* component
(CIE Y with ``linear``), ``toChrominance`` alone the CIE a*, b* components; a grey image's
channel is always processed.

Thresholding of a detail layer ``w`` at ``t = k·σ_j`` (``σ_j`` the layer's noise): only
coefficients under ``t`` (insignificant: noise) change, so that structures above the
noise (stars) keep their coefficients and their flux; so do the coefficients within the
scale's reach (the scaling function's half-width at that scale) of a significant one, which
holds the rings that a star leaves in every layer.  Hard thresholding multiplies them
by ``1 − amount``; soft thresholding by ``1 − amount·(1 − |w|/t)``, which is ``1 − amount``
at zero and rises continuously to 1 at the threshold.  Each of ``iterations`` repeats the
step.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from procfw.errors import ExecutionError
from procfw.image import Image
from procfw.params import Boolean, Enumeration, Float, FloatBlock, String, UInt32

__all__ = [
    "LINEAR_3", "PlaneFunction", "apply_to_target", "dynamic_range", "estimate_sigma", "linear_mask",
    "threshold_layer",
]

PlaneFunction = Callable[[np.ndarray], np.ndarray]

# PixInsight's default scaling function of ATrousWaveletTransform / MultiscaleLinearTransform icons
LINEAR_3 = {
    "data": (0.25, 0.5, 0.25, 0.5, 1.0, 0.5, 0.25, 0.5, 0.25),
    "row": (0.5, 1.0, 0.5),
    "noise": (0.8003, 0.2729, 0.1198, 0.0578, 0.0287, 0.0143, 0.0072, 0.0036, 0.0019, 0.001),
    "name": "Linear Interpolation (3)",
}
B3_5 = {
    "data": (0.003906, 0.015625, 0.023438, 0.015625, 0.003906, 0.015625, 0.0625, 0.09375, 0.0625, 0.015625,
             0.023438, 0.09375, 0.140625, 0.09375, 0.023438, 0.015625, 0.0625, 0.09375, 0.0625, 0.015625,
             0.003906, 0.015625, 0.023438, 0.015625, 0.003906),
    "row": (0.0625, 0.25, 0.375, 0.25, 0.0625),
    "name": "B3 Spline (5)",
}


# -- parameter kinds ----------------------------------------------------------------------
def scaling_kinds(defaults: dict, *, noise: bool = True) -> dict[str, object]:
    """The scaling-function parameters as PixInsight stores them in icons."""
    kinds: dict[str, object] = {
        "scalingFunctionData": FloatBlock(default=defaults["data"], min_length=1, description=(
            "The scaling function's 2-D kernel, row by row (informative: the separable filters are used).")),
        "scalingFunctionRowFilter": FloatBlock(default=defaults["row"], description=(
            "The scaling function's filter along the rows (odd length; normalized to unit sum).")),
        "scalingFunctionColFilter": FloatBlock(default=defaults["row"], description=(
            "The scaling function's filter down the columns (odd length; normalized to unit sum).")),
    }
    if noise:
        kinds["scalingFunctionNoiseSigma"] = FloatBlock(default=defaults["noise"], description=(
            "σ of each detail layer for unit-σ white Gaussian noise (scales the noise thresholds)."))
    kinds["scalingFunctionName"] = String(default=defaults["name"], description="The scaling function's name.")
    return kinds


def bias_kind() -> Float:
    """A layer's bias: its coefficients are multiplied by 1 + bias."""
    return Float(id="bias", minimum=-1, maximum=15, default=0, precision=3,
                 description="Layer bias: the layer is multiplied by 1 + bias.")


def range_kinds() -> dict[str, Float]:
    """``lowRange`` / ``highRange``: PixInsight's dynamic range extension."""
    return {
        "lowRange": Float(minimum=0, maximum=1, default=0, precision=4,
                          description="Dynamic range extension below zero (values down to −lowRange are kept)."),
        "highRange": Float(minimum=0, maximum=1, default=0, precision=4,
                           description="Dynamic range extension above one (values up to 1 + highRange are kept)."),
    }


def target_kinds() -> dict[str, Boolean]:
    """``toLuminance`` / ``toChrominance`` / ``linear``."""
    return {
        "toLuminance": Boolean(default=True, description="Process the luminance (CIE L*, or CIE Y with linear)."),
        "toChrominance": Boolean(default=True, description="Process the chrominance (CIE a*, b*); with "
                                                            "toLuminance: every RGB channel."),
        "linear": Boolean(default=False, description="Luminance is CIE Y (linear) instead of CIE L*."),
    }


def preview_kinds() -> dict[str, object]:
    """PixInsight's real-time preview settings (kept for icons; no effect here)."""
    return {
        "previewMode": Enumeration(elements=("Disabled", "IncreasingPixels", "DecreasingPixels", "AllPixelChanges"),
                                   default="Disabled", description="PixInsight's real-time preview mode (no effect "
                                                                   "here)."),
        "previewLayer": UInt32(minimum=0, maximum=16, default=0, description="Layer shown by PixInsight's preview "
                                                                             "(no effect here)."),
    }


def linear_mask_kinds() -> dict[str, object]:
    """The linear mask parameters."""
    return {
        "linearMask": Boolean(default=False, description="Protect the image with a mask made of its own "
                                                          "luminance, amplified linearly."),
        "linearMaskAmpFactor": UInt32(minimum=1, maximum=10000, default=100,
                                      description="Amplification of the luminance in the linear mask."),
        "linearMaskSmoothness": Float(minimum=0, maximum=25, default=1, precision=2,
                                      description="σ of the Gaussian that smooths the linear mask (0: none)."),
        "linearMaskInverted": Boolean(default=True, description="Invert the linear mask (protect bright areas)."),
        "linearMaskPreview": Boolean(default=False, description="PixInsight shows the mask instead (no effect here)."),
    }


# -- the maths -----------------------------------------------------------------------------
def estimate_sigma(layer: np.ndarray) -> float:
    """σ of zero-mean Gaussian noise in ``layer``: MAD / 0.6745 (robust to structures)."""
    values = np.abs(layer.ravel())
    return float(np.median(values)) / 0.6745 if values.size else 0.0


def threshold_layer(layer: np.ndarray, threshold: float, amount: float, iterations: int = 1,
                    soft: bool = True, reach: int = 0) -> None:
    """Attenuate (in place) the coefficients of ``layer`` under ``threshold`` that lie
    farther than ``reach`` pixels from any coefficient above it (see the module docstring)."""
    if threshold <= 0 or amount <= 0:
        return
    t = layer.dtype.type(threshold)
    a = layer.dtype.type(amount)
    for _ in range(max(1, iterations)):
        magnitude = np.abs(layer)
        small = magnitude < t
        if reach > 0:
            small &= ndimage.minimum_filter(small, size=2 * reach + 1, mode="nearest")
        if soft:
            # factor 1 − a·(1 − |w|/t): 1 − a at zero, rising to 1 at the threshold (continuous)
            factor = magnitude[small]
            factor *= a / t
            factor += 1 - a
            layer[small] *= factor
        else:
            layer[small] *= 1 - a


def dynamic_range(plane: np.ndarray, low: float, high: float) -> np.ndarray:
    """Truncate to [−low, 1 + high], then rescale to [0, 1] when outside it (PCL's Normalize)."""
    np.clip(plane, -low, 1 + high, out=plane)
    lo, hi = float(plane.min()), float(plane.max())
    if (lo < 0 or hi > 1) and hi > lo:
        plane -= lo
        plane *= 1 / (hi - lo)
    return plane


def dering(result: np.ndarray, original: np.ndarray, dark: float, bright: float) -> np.ndarray:
    """PCL's deringing (UnsharpMask's ``deringingDark``/``deringingBright``) of ``result``
    (channels, h, w; float64) against ``original``: the ratio of the result to the original
    (both offset to be positive) rescaled to [0, 1]; where a channel's ratio is under its
    median, dark rings are lifted by ``10·dark`` times the shortfall, and bright ones lowered
    by ``10·bright`` times the excess above it.  Returns a new array."""
    kd, kb = 10 * dark, 10 * bright
    pmin = float(result.min())
    pmin = (-pmin if pmin < 0 else pmin) + 0.001
    result = result + pmin
    ratio = result / (original + pmin)
    lo, hi = float(ratio.min()), float(ratio.max())
    ratio = (ratio - lo) / (hi - lo) if hi > lo else np.zeros_like(ratio)
    for c in range(result.shape[0]):
        median = float(np.median(ratio[c]))
        if kd > 0:
            result[c] += kd * np.clip(median - ratio[c], 0, 1)
        if kb > 0:
            result[c] -= kb * np.clip(ratio[c] - median, 0, 1)
    return result - pmin


def _luminance(pixels: np.ndarray) -> np.ndarray:
    if pixels.shape[0] < 3:
        return pixels[0].astype(np.float64)
    from processes.kernels.colorspace import SRGB

    return SRGB.lightness(*(pixels[c].astype(np.float64) for c in range(3)))


def linear_mask(pixels: np.ndarray, amplification: float, smoothness: float, inverted: bool) -> np.ndarray:
    """PixInsight's linear mask: the luminance × amplification clipped to [0, 1], smoothed,
    inverted (1 where the process applies fully)."""
    mask = np.clip(_luminance(pixels) * amplification, 0, 1)
    if smoothness > 0:
        mask = ndimage.gaussian_filter(mask, smoothness, mode="reflect")
    return 1 - mask if inverted else mask


def apply_to_target(image: Image, func: PlaneFunction, *, to_luminance: bool, to_chrominance: bool,
                    linear: bool, process_id: str) -> np.ndarray:
    """New pixels: ``func`` applied to the target components of ``image`` (a copy)."""
    pixels = image.pixels
    out = pixels.copy()
    if pixels.shape[0] < 3:
        out[0] = func(pixels[0])
        return out
    if to_luminance and to_chrominance:
        for c in range(3):
            out[c] = func(pixels[c])
        return out
    if not (to_luminance or to_chrominance):
        raise ExecutionError(f"{process_id}: toLuminance and toChrominance are both off; nothing to process")
    from processes.kernels.colorspace import SRGB

    rgb = [pixels[c].astype(np.float64) for c in range(3)]
    if to_luminance and linear:
        # CIE Y changed, chromaticity kept: the working space's linear R, G and B scaled by Y'/Y
        # (keeping X and Z instead turns a brightened star's core red-less: its R goes negative)
        _, yy, _ = SRGB.rgb_to_xyz(*rgb)
        new_y = np.clip(func(yy.astype(np.float32)), 0, 1).astype(np.float64)
        lit = yy > 1e-12
        ratio = np.divide(new_y, yy, out=np.zeros_like(yy), where=lit)
        new_rgb = [SRGB.encoded(np.clip(np.where(lit, SRGB.linear(channel) * ratio, new_y), 0, 1))
                   for channel in rgb]
    else:
        lum, a, b = SRGB.rgb_to_lab(*rgb)
        if to_luminance:
            lum = np.clip(func(lum.astype(np.float32)), 0, 1)
        else:
            a = np.clip(func(a.astype(np.float32)), 0, 1)
            b = np.clip(func(b.astype(np.float32)), 0, 1)
        new_rgb = SRGB.lab_to_rgb(lum, a, b)
    for c in range(3):
        out[c] = np.clip(new_rgb[c], 0, 1)
    return out
