"""CurvesTransformation: tone curves per channel and per colour component (PixInsight).

Eleven curves, each a table of ``(x, y)`` points from x = 0 to x = 1 with its own
interpolation (``AkimaSubsplines`` — a natural cubic spline below five points, as in
PixInsight — ``CubicSpline`` or ``Linear``), applied in PixInsight's order:

1. R, G, B on their channels (colour images);
2. K (RGB/K) on every colour channel, or on the grey channel;
3. A on the first alpha channel;
4. CIE L*, a*, b*, c* (colour images): L*a*b* curves in CIE L*a*b*, then the c* curve in
   CIE L*c*h* (L* alone with c* works in L*c*h* directly);
5. H and S (colour images): HSV hue and saturation, keeping CIE L*.

Components are PixInsight's normalized ones in the sRGB (D50) working space (see
:mod:`processes.kernels.colorspace`).  Curve outputs are clipped to [0, 1].
"""

from __future__ import annotations

import numpy as np

from processes.intensity.histogram import nominal_channels
from processes.kernels.colorspace import rgb_to_hsv, srgb
from processes.kernels.interpolation import Interpolator, curve_interpolator
from procfw.image import Image
from procfw.params import Double, Enumeration, Table, param
from procfw.process import ExecutionContext, Process

CURVE_IDS = ("R", "G", "B", "K", "A", "L", "a", "b", "c", "H", "S")
"""The curve tables, in PixInsight's order; each has an interpolation parameter ``<id>t``."""

_MEANING = {
    "R": "red channel",
    "G": "green channel",
    "B": "blue channel",
    "K": "combined RGB/K channel (every colour channel, or the grey channel)",
    "A": "alpha channel",
    "L": "CIE L* (lightness)",
    "a": "CIE a*",
    "b": "CIE b*",
    "c": "CIE c* (chroma)",
    "H": "HSV hue",
    "S": "HSV saturation",
}

_BAND_PIXELS = 1 << 20
IDENTITY_CURVE = ((0.0, 0.0), (1.0, 1.0))


def _curve(curve_id: str) -> Table:
    point = "Curve point coordinate in [0, 1]."
    return Table(
        columns=(
            Double(id="x", default=0.0, minimum=0.0, maximum=1.0, precision=5, description=point),
            Double(id="y", default=0.0, minimum=0.0, maximum=1.0, precision=5, description=point),
        ),
        default=IDENTITY_CURVE,
        min_rows=2,
        description=f"Curve points (x, y) for the {_MEANING[curve_id]}, x increasing from 0 to 1.",
    )


def _kind(curve_id: str) -> Enumeration:
    return Enumeration(
        elements=(("CubicSpline", 0), ("Linear", 1), ("AkimaSubsplines", 2)),
        default="AkimaSubsplines",
        description=f"Interpolation of the {_MEANING[curve_id]} curve.",
    )


class CurvesTransformation(Process):
    """Apply tone curves to RGB/K, single channels, alpha, CIE L*a*b*c* and HSV hue/saturation.

    PixInsight's CurvesTransformation: eleven point tables (R, G, B, K, A, L, a, b, c, H,
    S) with interpolations Rt, Gt, ... (AkimaSubsplines, CubicSpline or Linear).
    """

    process_id = "CurvesTransformation"
    categories = ("IntensityTransformations",)

    R: tuple = param(_curve("R"))
    Rt: str = param(_kind("R"))
    G: tuple = param(_curve("G"))
    Gt: str = param(_kind("G"))
    B: tuple = param(_curve("B"))
    Bt: str = param(_kind("B"))
    K: tuple = param(_curve("K"))
    Kt: str = param(_kind("K"))
    A: tuple = param(_curve("A"))
    At: str = param(_kind("A"))
    L: tuple = param(_curve("L"))
    Lt: str = param(_kind("L"))
    a: tuple = param(_curve("a"))
    at: str = param(_kind("a"))
    b: tuple = param(_curve("b"))
    bt: str = param(_kind("b"))
    c: tuple = param(_curve("c"))
    ct: str = param(_kind("c"))
    H: tuple = param(_curve("H"))
    Ht: str = param(_kind("H"))
    S: tuple = param(_curve("S"))
    St: str = param(_kind("S"))

    def validate(self) -> None:
        for curve_id in CURVE_IDS:
            points = getattr(self, curve_id)
            xs = [p[0] for p in points]
            if xs[0] != 0 or xs[-1] != 1:
                raise self.invalid(curve_id, points, "the first point must have x = 0 and the last x = 1")
            if any(b <= a for a, b in zip(xs, xs[1:])):
                raise self.invalid(curve_id, points, "point x values must be strictly increasing")

    # -- curves --------------------------------------------------------------------------------
    def is_identity_curve(self, curve_id: str) -> bool:
        """True when every point of the curve lies on the diagonal (the curve is y = x)."""
        return all(x == y for x, y in getattr(self, curve_id))

    def interpolator(self, curve_id: str) -> Interpolator:
        """The curve ``curve_id`` as a function on [0, 1], clipped to [0, 1]."""
        points = np.asarray(getattr(self, curve_id), dtype=np.float64)
        raw = curve_interpolator(getattr(self, curve_id + "t"), points[:, 0], points[:, 1])
        return lambda x: np.clip(raw(np.clip(np.asarray(x, dtype=np.float64), 0, 1)), 0, 1)

    # -- the maths --------------------------------------------------------------------------
    def apply(self, image: Image, context: ExecutionContext) -> Image:
        pixels = image.pixels
        out = pixels.copy()
        nominal = nominal_channels(image.channels)
        color = nominal == 3
        if color:
            for c, curve_id in enumerate("RGB"):
                if not self.is_identity_curve(curve_id):
                    _banded(self.interpolator(curve_id), out[c])
        if not self.is_identity_curve("K"):
            curve = self.interpolator("K")
            for c in range(nominal):
                _banded(curve, out[c])
        if image.channels > nominal and not self.is_identity_curve("A"):
            _banded(self.interpolator("A"), out[nominal])
        if color:
            self._color_curves(out)
        return image.with_pixels(out)

    def _color_curves(self, out: np.ndarray) -> None:
        active = {k for k in "LabcHS" if not self.is_identity_curve(k)}
        if not active:
            return
        curves = {k: self.interpolator(k) for k in active}
        rgb = out[:3].reshape(3, -1)
        ws = srgb()
        for start in range(0, rgb.shape[1], _BAND_PIXELS):
            band = slice(start, start + _BAND_PIXELS)
            r, g, b = rgb[:, band].astype(np.float64)
            if active & {"a", "b"}:
                lum, ca, cb = ws.rgb_to_lab(r, g, b)
                r, g, b = ws.lab_to_rgb(
                    curves["L"](lum) if "L" in active else lum,
                    curves["a"](ca) if "a" in active else ca,
                    curves["b"](cb) if "b" in active else cb,
                )
                if "c" in active:
                    lum, cc, hh = ws.rgb_to_lch(r, g, b)
                    r, g, b = ws.lch_to_rgb(lum, curves["c"](cc), hh)
            elif "c" in active:
                lum, cc, hh = ws.rgb_to_lch(r, g, b)
                r, g, b = ws.lch_to_rgb(curves["L"](lum) if "L" in active else lum, curves["c"](cc), hh)
            elif "L" in active:
                lum, ca, cb = ws.rgb_to_lab(r, g, b)
                r, g, b = ws.lab_to_rgb(curves["L"](lum), ca, cb)
            if active & {"H", "S"}:
                hue, sat, val = rgb_to_hsv(r, g, b)
                lightness = ws.lightness(r, g, b)
                r, g, b = ws.hsvl_to_rgb(
                    curves["H"](hue) if "H" in active else hue,
                    curves["S"](sat) if "S" in active else sat,
                    val,
                    lightness,
                )
            rgb[:, band] = np.stack((r, g, b))


def _banded(curve: Interpolator, channel: np.ndarray) -> None:
    """channel ← curve(channel), in place, a million pixels at a time (float64 inside)."""
    flat = channel.reshape(-1)
    for start in range(0, flat.size, _BAND_PIXELS):
        band = slice(start, start + _BAND_PIXELS)
        flat[band] = curve(flat[band])
