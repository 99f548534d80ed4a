"""Colour processes: BackgroundNeutralization, SCNR and ColorSaturation (PixInsight).

Colour conversions use PixInsight's default RGB working space, sRGB D50
(:mod:`processes.kernels.colorspace`).  The three processes work on the first three
(RGB) channels; alpha channels pass through.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from processes.kernels import colorspace as cs
from processes.kernels.interpolation import curve_interpolator
from procfw.errors import ExecutionError, ProcfwError
from procfw.image import Image
from procfw.params import Boolean, Double, Enumeration, Float, Int32, String, Table, param
from procfw.process import ExecutionContext, Process, ProcessOutput

if TYPE_CHECKING:
    from procfw.workspace import View

log = logging.getLogger(__name__)

__all__ = ["SCNR", "BackgroundNeutralization", "ColorSaturation", "background_reference", "scnr"]

_VIEW_ID_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_->"


def _require_color(process: Process, image: Image) -> None:
    if image.channels < 3:
        raise ExecutionError(f"{process.process_id} can only be executed on color images")


def _color_only(process: Process, view: View) -> tuple[bool, str]:
    if view.image.channels < 3:
        return False, f"{process.process_id} can only be executed on color images"
    return True, ""


def _replace_rgb(image: Image, rgb: np.ndarray) -> Image:
    pixels = np.concatenate([rgb.astype(image.pixels.dtype), image.pixels[3:]])
    return image.with_pixels(pixels)


# -- BackgroundNeutralization -----------------------------------------------------------
def background_reference(pixels: np.ndarray, low: float, high: float) -> np.ndarray:
    """Per-channel background of planar RGB ``pixels``: medians of the pixels with all of R, G, B in (low, high).

    Returns zeros when no pixel qualifies (as PixInsight).
    """
    r, g, b = pixels[0], pixels[1], pixels[2]
    selected = (r > low) & (r < high) & (g > low) & (g < high) & (b > low) & (b < high)
    if not selected.any():
        return np.zeros(3)
    return np.array([float(np.median(channel[selected])) for channel in (r, g, b)])


class BackgroundNeutralization(Process):
    """Make the background neutral: shift R, G, B so their background levels become equal.

    The background of each channel is the median of the reference image's pixels (the
    target, or ``backgroundReferenceViewId``; optionally the ROI ``[roiX0, roiX1) ×
    [roiY0, roiY1)`` of it) whose R, G and B all lie strictly between ``backgroundLow``
    and ``backgroundHigh``.  Each channel c becomes ``x + t − b_c``, with t =
    ``targetBackground`` in mode TargetBackground and 0 otherwise; then values are
    truncated to [0, 1] (TargetBackground, Truncate), rescaled from [min, max] to
    [0, 1] (Rescale), or rescaled only if they leave [0, 1] (RescaleAsNeeded).
    """

    process_id = "BackgroundNeutralization"
    categories = ("ColorCalibration",)

    backgroundReferenceViewId: str = param(  # noqa: N815
        String(
            default="",
            allowed_characters=_VIEW_ID_CHARACTERS,
            description="View whose background is measured ('' for the target itself).",
        )
    )
    backgroundLow: float = param(  # noqa: N815
        Float(default=0.0, minimum=0.0, maximum=1.0, precision=7, description="Background pixels must be above this.")
    )
    backgroundHigh: float = param(  # noqa: N815
        Float(default=0.1, minimum=0.0, maximum=1.0, precision=7, description="Background pixels must be below this.")
    )
    useROI: bool = param(Boolean(default=False, description="Measure the background in a rectangle of the reference."))  # noqa: N815
    roiX0: int = param(Int32(default=0, minimum=0, description="Left column of the region of interest."))  # noqa: N815
    roiY0: int = param(Int32(default=0, minimum=0, description="Top row of the region of interest."))  # noqa: N815
    roiX1: int = param(Int32(default=0, minimum=0, description="Right edge (exclusive) of the region of interest."))  # noqa: N815
    roiY1: int = param(Int32(default=0, minimum=0, description="Bottom edge (exclusive) of the region of interest."))  # noqa: N815
    mode: str = param(
        Enumeration(
            elements=("TargetBackground", "Rescale", "RescaleAsNeeded", "Truncate"),
            default="RescaleAsNeeded",
            description="How the result is brought back to [0, 1] (TargetBackground: shift to targetBackground).",
        )
    )
    targetBackground: float = param(  # noqa: N815
        Float(
            default=0.001,
            minimum=0.0,
            maximum=1.0,
            precision=7,
            description="Background level in TargetBackground mode.",
        )
    )

    def validate(self) -> None:
        if self.useROI and (self.roiX0 == self.roiX1 or self.roiY0 == self.roiY1):
            roi = (self.roiX0, self.roiY0, self.roiX1, self.roiY1)
            raise self.invalid("useROI", self.useROI, f"the region of interest {roi} is empty")

    def can_execute_on(self, view: View) -> tuple[bool, str]:
        return _color_only(self, view)

    def reference_pixels(self, image: Image, context: ExecutionContext) -> np.ndarray:
        """The pixels the background is measured on (reference view, ROI applied)."""
        reference = image
        if self.backgroundReferenceViewId:
            try:
                reference = context.image(self.backgroundReferenceViewId)
            except ProcfwError as exc:
                raise ExecutionError(f"BackgroundNeutralization: no such view (background reference): {exc}") from None
            if reference.channels < 3:
                raise ExecutionError(
                    f"BackgroundNeutralization: the background reference {self.backgroundReferenceViewId} "
                    "must be a color image"
                )
        pixels = reference.pixels
        if self.useROI:
            x0, x1 = sorted((self.roiX0, self.roiX1))
            y0, y1 = sorted((self.roiY0, self.roiY1))
            x1, y1 = min(x1, reference.width), min(y1, reference.height)
            if x1 > x0 and y1 > y0:
                pixels = pixels[:, y0:y1, x0:x1]
            else:
                log.warning("BackgroundNeutralization: ROI outside the reference image; using the whole image")
        return pixels

    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        _require_color(self, image)
        background = background_reference(
            self.reference_pixels(image, context), self.backgroundLow, self.backgroundHigh
        )
        target = self.targetBackground if self.mode == "TargetBackground" else 0.0
        rgb = image.pixels[:3].astype(np.float64) + (target - background)[:, None, None]
        if self.mode in ("TargetBackground", "Truncate"):
            rgb = np.clip(rgb, 0.0, 1.0)
        else:
            low, high = float(rgb.min()), float(rgb.max())
            needed = self.mode == "Rescale" or low < 0 or high > 1
            if needed and high > low:
                rgb = (rgb - low) / (high - low)
        outputs = {"backgroundR": background[0], "backgroundG": background[1], "backgroundB": background[2]}
        return ProcessOutput(image=_replace_rgb(image, rgb), outputs=outputs)


# -- SCNR -------------------------------------------------------------------------------
def scnr(rgb: np.ndarray, color: int, method: str, amount: float, preserve_lightness: bool) -> np.ndarray:
    """Subtractive chromatic noise reduction of planar float64 RGB: remove ``color`` (0 R, 1 G, 2 B)."""
    c = rgb[color]
    o1, o2 = (rgb[i] for i in range(3) if i != color)
    if method == "MaximumMask":
        m = np.maximum(o1, o2)
        new = c * (1 - amount) * (1 - m) + m * c
    elif method == "AdditiveMask":
        m = np.minimum(1.0, o1 + o2)
        new = c * (1 - amount) * (1 - m) + m * c
    else:
        neutral = {
            "AverageNeutral": (o1 + o2) / 2,
            "MaximumNeutral": np.maximum(o1, o2),
            "MinimumNeutral": np.minimum(o1, o2),
        }[method]
        new = (1 - amount) * c + amount * np.minimum(c, neutral)
    out = rgb.copy()
    out[color] = new
    if preserve_lightness:
        w = cs.srgb()
        lightness = w.lightness(rgb[0], rgb[1], rgb[2])
        out = np.stack(w.with_lightness(out[0], out[1], out[2], lightness))
    return out


class SCNR(Process):
    """Subtractive chromatic noise reduction: remove a dominant colour cast (green by default).

    For the colour c removed, with o1, o2 the other two channels and a = amount:
    AverageNeutral ``c' = (1−a)·c + a·min(c, (o1+o2)/2)``; MaximumNeutral and
    MinimumNeutral use max(o1, o2) and min(o1, o2); MaximumMask ``m = max(o1, o2)``,
    AdditiveMask ``m = min(1, o1+o2)``, both ``c' = c·(1−a)·(1−m) + m·c``.  With
    ``preserveLightness`` the CIE L* of each pixel is restored afterwards.
    """

    process_id = "SCNR"
    categories = ("NoiseReduction",)

    amount: float = param(
        Float(default=1.0, minimum=0.0, maximum=1.0, precision=2, description="Strength of the colour removal.")
    )
    protectionMethod: str = param(  # noqa: N815
        Enumeration(
            elements=("MaximumMask", "AdditiveMask", "AverageNeutral", "MaximumNeutral", "MinimumNeutral"),
            default="AverageNeutral",
            description="How neutral (or other-coloured) pixels are protected.",
        )
    )
    colorToRemove: str = param(  # noqa: N815
        Enumeration(elements=("Red", "Green", "Blue"), default="Green", description="The colour to remove.")
    )
    preserveLightness: bool = param(  # noqa: N815
        Boolean(default=True, description="Keep each pixel's CIE L* (lightness).")
    )

    def can_execute_on(self, view: View) -> tuple[bool, str]:
        return _color_only(self, view)

    def apply(self, image: Image, context: ExecutionContext) -> Image:
        _require_color(self, image)
        color = ("Red", "Green", "Blue").index(self.colorToRemove)
        rgb = scnr(
            image.pixels[:3].astype(np.float64), color, self.protectionMethod, self.amount, self.preserveLightness
        )
        return _replace_rgb(image, rgb)


# -- ColorSaturation --------------------------------------------------------------------
def _curve_value_kind(axis: str) -> Double:
    what = "Hue (0..1)" if axis == "x" else "Saturation bias (0: unchanged, +k: ×(1+k), −k: ÷(1+k))"
    return Double(id=axis, default=0.0, minimum=-10.0, maximum=10.0, precision=5, description=f"{what}.")


class ColorSaturation(Process):
    """Change colour saturation as a function of hue, keeping lightness (PixInsight's HSVL method).

    For every pixel: H, S, V (HSV) and the CIE L*; the curve ``HS`` at the (shifted) hue
    gives a bias k (clamped to ±10), the saturation becomes ``S·(1 + k)`` for k ≥ 0 or
    ``S/(1 − k)`` for k < 0 (clamped to [0, 1]); the colour returns to RGB and its
    CIE L* is set back to the original.  ``hueShift`` h0 rotates the hue axis of the
    curve: a hue H is read at ``H + h0`` (wrapping at 1).  ``HSt`` is the curve's
    interpolation (Akima subsplines need five points; fewer fall back to a cubic spline).
    """

    process_id = "ColorSaturation"
    categories = ("IntensityTransformations",)

    HS: tuple[tuple[Any, ...], ...] = param(  # noqa: N815
        Table(
            columns=(_curve_value_kind("x"), _curve_value_kind("y")),
            default=((0.0, 0.0), (1.0, 0.0)),
            min_rows=2,
            description="Hue–saturation curve points (x: hue, y: saturation bias).",
        )
    )
    HSt: str = param(  # noqa: N815
        Enumeration(
            elements=("CubicSpline", "Linear", "AkimaSubsplines"),
            default="AkimaSubsplines",
            description="Interpolation of the hue–saturation curve.",
        )
    )
    hueShift: float = param(  # noqa: N815
        Float(default=0.0, minimum=0.0, maximum=1.0, precision=3, description="Rotation of the curve's hue axis.")
    )

    def validate(self) -> None:
        xs = sorted(row[0] for row in self.HS)
        if any(b == a for a, b in zip(xs, xs[1:])):
            raise self.invalid("HS", self.HS, "curve points must have distinct x (hue) values")

    def is_identity(self) -> bool:
        """True when every curve point has bias 0."""
        return all(1 + row[1] == 1 for row in self.HS)

    def bias(self, hue: np.ndarray) -> np.ndarray:
        """The saturation bias k at ``hue`` (HSV hue in [0, 1)), hue shift applied."""
        points = sorted(self.HS)
        xk = np.array([p[0] for p in points])
        yk = np.array([p[1] for p in points])
        shift = self.hueShift
        h = np.where(hue > 1 - shift, hue - (1 - shift), hue + shift)
        return np.clip(curve_interpolator(self.HSt, xk, yk)(h), -10.0, 10.0)

    def can_execute_on(self, view: View) -> tuple[bool, str]:
        return _color_only(self, view)

    def apply(self, image: Image, context: ExecutionContext) -> Image:
        _require_color(self, image)
        if self.is_identity():
            return image
        rgb = image.pixels[:3].astype(np.float64)
        h, s, v = cs.rgb_to_hsv(rgb[0], rgb[1], rgb[2])
        w = cs.srgb()
        lightness = w.lightness(rgb[0], rgb[1], rgb[2])
        k = self.bias(h)
        factor = np.where(k >= 0, 1 + k, 1 / (1 - np.minimum(k, 0.0)))
        s_new = np.clip(s * factor, 0.0, 1.0)
        out = np.stack(w.hsvl_to_rgb(h, s_new, v, lightness))
        out = np.where((k != 0)[None], out, rgb)
        return _replace_rgb(image, out)
