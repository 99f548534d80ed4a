"""ColorCalibration: white balance from a white reference, around a neutral background
(PixInsight's ColorCalibration, as PCL's ColorCalibrationInstance.cpp does it).

1. **Background**: in the background reference (the target, or the view or preview
   ``backgroundReferenceViewId``; optionally its ROI ``[X0, X1) × [Y0, Y1)``), the
   per-channel *median* ``b_c`` of the pixels whose R, G and B all lie strictly between
   ``backgroundLow`` and ``backgroundHigh`` (0 when none does).
2. **White reference**: in the white reference (the target, or ``whiteReferenceViewId``;
   optionally its ROI), the per-channel *mean* ``W_c`` of the pixels whose R, G and B all
   lie strictly between ``whiteLow`` and ``whiteHigh``.  With ``structureDetection`` only
   detected structures count: the intensity (mean of R, G, B) is split by an à trous
   transform with the 3×3 linear scaling function into ``structureLayers`` layers; four
   times over, the first ``noiseLayers`` layers plus the residual (truncated to [0, 1])
   are subtracted from the map, which is then truncated and rescaled to [0, 1]; the map
   is binarized at 0.0005 and multiplies the reference, so everything else is 0 and falls
   below ``whiteLow``.
3. **Factors**: ``w_c = |W_c − b_c|``; the channel with the largest ``w`` keeps factor 1,
   the others get ``k_c = w_max / w_c`` (``manualWhiteBalance``: the manual factors).
4. **Calibration**: ``x_c ← (x_c − b_c)·k_c + b_c`` on R, G, B; if the result leaves
   [0, 1] the three channels are rescaled together from [min, max] to [0, 1] (PCL's
   ``Normalize``).

A HISTORY card records the factors and the background.  The factors, the background and
the white reference come back as read-only outputs of
procfw (PixInsight only prints them): ``factorR/G/B``, ``backgroundR/G/B``, ``whiteR/G/B``.
``outputWhiteReferenceMask`` / ``outputBackgroundReferenceMask`` open masks of the pixels
used (1) as new windows ``<reference>_white`` / ``<reference>_background``.
"""

from __future__ import annotations

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids
from typing import TYPE_CHECKING

import numpy as np

from processes.kernels.multiscale import LINEAR_INTERPOLATION, smoothings
from procfw.errors import ExecutionError, ProcfwError
from procfw.image import FITSKeyword, Image
from procfw.params import Boolean, Float, Int32, String, param
from procfw.process import ExecutionContext, Process, ProcessOutput

if TYPE_CHECKING:
    from procfw.process import ViewLike

__all__ = ["ColorCalibration", "structure_map"]

_VIEW_ID_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_->"
_INT32_MAX = 2**31 - 1
_SD_ITERATIONS = 4
_CHANNELS = "RGB"


def structure_map(intensity: np.ndarray, structure_layers: int, noise_layers: int) -> np.ndarray:
    """PCL's structure map (0/1) of a 2-D ``intensity``: see the module docstring, step 2."""
    m = np.asarray(intensity, dtype=np.float64)
    for _ in range(_SD_ITERATIONS):
        # the noise layers plus the residual: (m − c_noise) + c_last, layers visited one at a time
        noise = np.zeros_like(m)
        residual = m
        for j, smooth in enumerate(smoothings(m, structure_layers, LINEAR_INTERPOLATION), start=1):
            if j == noise_layers:
                noise = m - smooth
            residual = smooth
        m = np.clip(m - np.clip(noise + residual, 0, 1), 0, 1)
        low, high = float(m.min()), float(m.max())
        m = (m - low) / (high - low) if high > low else np.zeros_like(m)
    return (m >= 0.0005).astype(np.float64)


def _selected(rgb: np.ndarray, low: float, high: float) -> np.ndarray:
    return np.all((rgb > low) & (rgb < high), axis=0)


def _roi(width: int, height: int, x0: int, y0: int, x1: int, y1: int) -> tuple[slice, slice] | None:
    """The ROI clipped to the image (as PCL's SelectRectangle), or None when nothing of it is inside."""
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    x0, x1, y0, y1 = min(x0, width), min(x1, width), min(y0, height), min(y1, height)
    return (slice(y0, y1), slice(x0, x1)) if x1 > x0 and y1 > y0 else None


class ColorCalibration(Process):
    """White-balance an RGB image: equalise a white reference's channels about a neutral background."""

    process_id = "ColorCalibration"
    categories = ("ColorCalibration",)
    key_outputs = (("factors", ("factorR", "factorG", "factorB")),
                   ("background", ("backgroundR", "backgroundG", "backgroundB")))

    whiteReferenceViewId: str = param(String(default="", allowed_characters=_VIEW_ID_CHARACTERS,
                                             description="View or preview (img->preview) of the white reference "
                                                         "('' for the target)."))
    whiteLow: float = param(Float(minimum=0, maximum=1, default=0, precision=7,
                                  description="White reference pixels must be above this in R, G and B."))
    whiteHigh: float = param(Float(minimum=0, maximum=1, default=0.9, precision=7,
                                   description="White reference pixels must be below this in R, G and B."))
    whiteUseROI: bool = param(Boolean(default=False, description="Use only a rectangle of the white reference."))
    whiteROIX0: int = param(Int32(minimum=0, maximum=_INT32_MAX, default=0, description="White ROI: left column."))
    whiteROIY0: int = param(Int32(minimum=0, maximum=_INT32_MAX, default=0, description="White ROI: top row."))
    whiteROIX1: int = param(Int32(minimum=0, maximum=_INT32_MAX, default=0,
                                  description="White ROI: right edge (exclusive)."))
    whiteROIY1: int = param(Int32(minimum=0, maximum=_INT32_MAX, default=0,
                                  description="White ROI: bottom edge (exclusive)."))
    structureDetection: bool = param(Boolean(default=True, description="Take the white reference only from "
                                                                       "detected structures (stars, galaxies)."))
    structureLayers: int = param(Int32(minimum=2, maximum=8, default=5,
                                       description="Wavelet layers of structure detection."))
    noiseLayers: int = param(Int32(minimum=0, maximum=4, default=1,
                                   description="Smallest wavelet layers left out of structure detection as noise."))
    manualWhiteBalance: bool = param(Boolean(default=False, description="Use the manual factors instead of a "
                                                                        "white reference."))
    manualRedFactor: float = param(Float(minimum=0, maximum=1, default=1, precision=4,
                                         description="Manual white balance: red factor."))
    manualGreenFactor: float = param(Float(minimum=0, maximum=1, default=1, precision=4,
                                           description="Manual white balance: green factor."))
    manualBlueFactor: float = param(Float(minimum=0, maximum=1, default=1, precision=4,
                                          description="Manual white balance: blue factor."))
    backgroundReferenceViewId: str = param(String(default="", allowed_characters=_VIEW_ID_CHARACTERS,
                                                  description="View or preview of the background reference "
                                                              "('' for the target)."))
    backgroundLow: float = param(Float(minimum=0, maximum=1, default=0, precision=7,
                                       description="Background pixels must be above this in R, G and B."))
    backgroundHigh: float = param(Float(minimum=0, maximum=1, default=0.1, precision=7,
                                        description="Background pixels must be below this in R, G and B."))
    backgroundUseROI: bool = param(Boolean(default=False, description="Use only a rectangle of the background "
                                                                      "reference."))
    backgroundROIX0: int = param(Int32(minimum=0, maximum=_INT32_MAX, default=0,
                                       description="Background ROI: left column."))
    backgroundROIY0: int = param(Int32(minimum=0, maximum=_INT32_MAX, default=0,
                                       description="Background ROI: top row."))
    backgroundROIX1: int = param(Int32(minimum=0, maximum=_INT32_MAX, default=0,
                                       description="Background ROI: right edge (exclusive)."))
    backgroundROIY1: int = param(Int32(minimum=0, maximum=_INT32_MAX, default=0,
                                       description="Background ROI: bottom edge (exclusive)."))
    outputWhiteReferenceMask: bool = param(Boolean(default=False, description="Open a mask of the white reference "
                                                                              "pixels used."))
    outputBackgroundReferenceMask: bool = param(Boolean(default=False, description="Open a mask of the background "
                                                                                   "pixels used."))

    def can_execute_on(self, view: ViewLike) -> tuple[bool, str]:
        if view.image.channels < 3:
            return False, "ColorCalibration can only be executed on color images"
        return True, ""

    # -- references --------------------------------------------------------------------
    def _reference(self, image: Image, context: ExecutionContext, view_id: str, what: str) -> tuple[Image, str]:
        if not view_id:
            return image, context.view_id or "image"
        try:
            reference = context.image(view_id)
        except ProcfwError as exc:
            raise ExecutionError(f"ColorCalibration: no such view ({what} reference): {exc}") from None
        if reference.channels < 3:
            raise ExecutionError(f"ColorCalibration: the {what} reference view must be a color image: {view_id}")
        return reference, view_id

    def _region(self, image: Image, use: bool, corners: tuple[int, int, int, int], what: str) -> tuple[slice, slice]:
        whole = (slice(0, image.height), slice(0, image.width))
        if not use:
            return whole
        x0, y0, x1, y1 = corners
        if x0 == x1 or y0 == y1:
            raise ExecutionError(f"ColorCalibration: empty {what} reference ROI defined {corners}")
        return _roi(image.width, image.height, *corners) or whole

    def background(self, image: Image, context: ExecutionContext) -> tuple[np.ndarray, np.ndarray, str]:
        """(b_R, b_G, b_B), the mask of the pixels used and the reference's id."""
        reference, ref_id = self._reference(image, context, self.backgroundReferenceViewId, "background")
        rows, cols = self._region(reference, self.backgroundUseROI, (self.backgroundROIX0, self.backgroundROIY0,
                                                                    self.backgroundROIX1, self.backgroundROIY1),
                                  "background")
        rgb = reference.pixels[:3, rows, cols]
        used = np.zeros((reference.height, reference.width), dtype=bool)
        used[rows, cols] = _selected(rgb, self.backgroundLow, self.backgroundHigh)
        inside = used[rows, cols]
        if not inside.any():
            return np.zeros(3), used, ref_id
        return np.array([float(np.median(rgb[c][inside])) for c in range(3)]), used, ref_id

    def white(self, image: Image, context: ExecutionContext) -> tuple[np.ndarray, np.ndarray, str]:
        """(W_R, W_G, W_B) before the background is subtracted, the mask of the pixels used, the reference's id."""
        reference, ref_id = self._reference(image, context, self.whiteReferenceViewId, "white")
        rgb = reference.pixels[:3].astype(np.float64)
        if self.structureDetection:
            rgb = rgb * structure_map(rgb.mean(axis=0), self.structureLayers, self.noiseLayers)
        rows, cols = self._region(reference, self.whiteUseROI, (self.whiteROIX0, self.whiteROIY0,
                                                               self.whiteROIX1, self.whiteROIY1), "white")
        rgb = rgb[:, rows, cols]
        used = np.zeros((reference.height, reference.width), dtype=bool)
        used[rows, cols] = _selected(rgb, self.whiteLow, self.whiteHigh)
        inside = used[rows, cols]
        w = np.array([float(rgb[c][inside].mean()) for c in range(3)]) if inside.any() else np.zeros(3)
        return w, used, ref_id

    # -- the process -------------------------------------------------------------------
    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        if image.channels < 3:
            raise ExecutionError("ColorCalibration can only be executed on color images")
        bg, bg_used, bg_id = self.background(image, context)
        outputs: dict[str, float] = {f"background{c}": float(bg[i]) for i, c in enumerate(_CHANNELS)}
        new_images: dict[str, Image] = {}
        if self.outputBackgroundReferenceMask:
            new_images[bg_id.replace("->", "_") + "_background"] = Image(bg_used.astype(np.float32)[None])
        if self.manualWhiteBalance:
            factors = np.array([self.manualRedFactor, self.manualGreenFactor, self.manualBlueFactor], dtype=np.float64)
        else:
            white, white_used, white_id = self.white(image, context)
            for i, c in enumerate(_CHANNELS):
                if 1 + white[i] == 1:
                    raise ExecutionError(f"ColorCalibration: no significant white reference pixels for channel "
                                         f"#{i} ({c}) of {white_id} (whiteLow={self.whiteLow:g}, "
                                         f"whiteHigh={self.whiteHigh:g}, structureDetection={self.structureDetection})")
            white = np.abs(white - bg)
            outputs.update({f"white{c}": float(white[i]) for i, c in enumerate(_CHANNELS)})
            reference = int(np.argmax(white))
            factors = np.array([1.0 if c == reference else white[reference] / white[c] for c in range(3)])
            if self.outputWhiteReferenceMask:
                new_images[white_id.replace("->", "_") + "_white"] = Image(white_used.astype(np.float32)[None])
        outputs.update({f"factor{c}": float(factors[i]) for i, c in enumerate(_CHANNELS)})
        rgb = image.pixels[:3].astype(np.float64)
        rgb = (rgb - bg[:, None, None]) * factors[:, None, None] + bg[:, None, None]
        low, high = float(rgb.min()), float(rgb.max())
        if low < 0 or high > 1:
            rgb = (rgb - low) / (high - low) if high > low else np.zeros_like(rgb)
        pixels = np.concatenate([rgb.astype(image.pixels.dtype), image.pixels[3:]])
        history = FITSKeyword("HISTORY", "ColorCalibration: factors " + " ".join(f"{k:.5f}" for k in factors)
                              + ", background " + " ".join(f"{b:.5e}" for b in bg), "")
        return ProcessOutput(image=image.with_pixels(pixels).with_keywords([history]), outputs=outputs,
                             new_images=new_images)
