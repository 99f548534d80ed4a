"""Colour functions of PixelMath (CIE L*a*b*/L*c*h*, XYZ, HSV/HSI) on whole images.

The RGB working space is PixInsight's default: sRGB primaries adapted to D50, the sRGB
transfer function, normalized components in [0, 1] (as PCL's ``RGBColorSystem``):
L* is scaled by 1/100; a* and b* are offset and scaled by the range they take over the
unit RGB cube; c* by the largest chroma; X and Z by the white point.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["RGBWorkingSpace", "SRGB"]

_EPS = 216 / 24389  # CIE epsilon
_KAPPA116 = (24389 / 27) / 116
_16_116 = 16 / 116


def _lab_f(t: float) -> float:
    return t ** (1 / 3) if t > _EPS else _KAPPA116 * t + _16_116


class RGBWorkingSpace:
    """An RGB working space: chromaticities and luminance coefficients (D50), transfer function."""

    def __init__(
        self,
        x: tuple[float, float, float] = (0.648431, 0.321152, 0.155886),
        y: tuple[float, float, float] = (0.330856, 0.597871, 0.066044),
        luminance: tuple[float, float, float] = (0.222491, 0.716888, 0.060621),
        gamma: float = 2.2,
        srgb: bool = True,
    ) -> None:
        s = sum(luminance)
        lum = [v / s for v in luminance]
        self.gamma = gamma
        self.srgb = srgb
        self.matrix = np.array(
            [
                [lum[i] * x[i] / y[i] for i in range(3)],
                lum,
                [lum[i] * (1 - x[i] - y[i]) / y[i] for i in range(3)],
            ]
        )
        self.mx = float(self.matrix[0].sum())
        self.mz = float(self.matrix[2].sum())
        a_min = 5 * (_lab_f(0) - _lab_f(1))
        a_max = 5 * (_lab_f(1) - _lab_f(0))
        b_min = 2 * (_lab_f(0) - _lab_f(1))
        b_max = 2 * (_lab_f(1) - _lab_f(0))
        self.za, self.zb = -a_min, -b_min
        self.ma, self.mb = a_max - a_min, b_max - b_min
        self.mc = math.hypot(max(a_max, abs(a_min)), max(b_max, abs(b_min)))

    # -- primitives ----------------------------------------------------------------------
    def linear(self, c: np.ndarray) -> np.ndarray:
        """Linear RGB from gamma-encoded components in [0, 1] (a new array)."""
        c = np.clip(c, 0, 1)
        if not self.srgb:
            return np.power(c, self.gamma, dtype=c.dtype)
        out = np.power((c + 0.055) / 1.055, 2.4, dtype=c.dtype)
        np.copyto(out, c / 12.92, where=c <= 0.04045)
        return out

    def _linear_rgb(self, rgb: np.ndarray) -> np.ndarray:
        return self.linear(rgb if rgb.shape[0] == 3 else np.broadcast_to(rgb[:1], (3, *rgb.shape[1:])))

    def _row(self, lin: np.ndarray, row: int, scale: float = 1.0) -> np.ndarray:
        m = self.matrix[row] / scale
        out = lin[0] * lin.dtype.type(m[0])
        out += lin[1] * lin.dtype.type(m[1])
        out += lin[2] * lin.dtype.type(m[2])
        return np.clip(out, 0, 1, out=out)

    def xyz(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Normalized CIE X, Y, Z (each (h, w)) of an RGB (3, h, w) or gray (1, h, w) array."""
        lin = self._linear_rgb(rgb)
        return self._row(lin, 0, self.mx), self._row(lin, 1), self._row(lin, 2, self.mz)

    @staticmethod
    def lab_f(t: np.ndarray) -> np.ndarray:
        """The CIE XYZ -> L*a*b* companding function (in place on ``t``)."""
        small = t <= _EPS
        lin = t * t.dtype.type(_KAPPA116) + t.dtype.type(_16_116)
        np.cbrt(t, out=t)
        np.copyto(t, lin, where=small)
        return t

    # -- components (each returns an (h, w) array) -------------------------------------
    def CIEX(self, rgb: np.ndarray) -> np.ndarray:  # noqa: N802 - PixelMath's function names
        """Normalized CIE X."""
        return self._row(self._linear_rgb(rgb), 0, self.mx)

    def CIEY(self, rgb: np.ndarray) -> np.ndarray:  # noqa: N802
        """CIE Y (relative luminance)."""
        return self._row(self._linear_rgb(rgb), 1)

    def CIEZ(self, rgb: np.ndarray) -> np.ndarray:  # noqa: N802
        """Normalized CIE Z."""
        return self._row(self._linear_rgb(rgb), 2, self.mz)

    def CIEL(self, rgb: np.ndarray) -> np.ndarray:  # noqa: N802
        """Normalized CIE L* (lightness / 100)."""
        fy = self.lab_f(self.CIEY(rgb))
        fy *= fy.dtype.type(1.16)
        fy -= fy.dtype.type(0.16)
        return np.clip(fy, 0, 1, out=fy)

    def _ab(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y, z = (self.lab_f(c) for c in self.xyz(rgb))
        a = x - y
        a *= a.dtype.type(5)
        b = y - z
        b *= b.dtype.type(2)
        return a, b

    def CIEa(self, rgb: np.ndarray) -> np.ndarray:  # noqa: N802
        """Normalized CIE a*."""
        a, _ = self._ab(rgb)
        a += a.dtype.type(self.za)
        a /= a.dtype.type(self.ma)
        return np.clip(a, 0, 1, out=a)

    def CIEb(self, rgb: np.ndarray) -> np.ndarray:  # noqa: N802
        """Normalized CIE b*."""
        _, b = self._ab(rgb)
        b += b.dtype.type(self.zb)
        b /= b.dtype.type(self.mb)
        return np.clip(b, 0, 1, out=b)

    def CIEc(self, rgb: np.ndarray) -> np.ndarray:  # noqa: N802
        """Normalized CIE c* (chroma)."""
        a, b = self._ab(rgb)
        c = np.hypot(a, b)
        c /= c.dtype.type(self.mc)
        return np.clip(c, 0, 1, out=c)

    def CIEhr(self, rgb: np.ndarray) -> np.ndarray:  # noqa: N802
        """CIE h* in radians, [0, 2 pi); 0 for a grayscale image."""
        if rgb.shape[0] < 3:
            return np.zeros(rgb.shape[1:], rgb.dtype)
        a, b = self._ab(rgb)
        h = np.arctan2(b, a)
        h[h < 0] += h.dtype.type(2 * math.pi)
        return h

    def CIEh(self, rgb: np.ndarray) -> np.ndarray:  # noqa: N802
        """Normalized CIE h* in [0, 1)."""
        h = self.CIEhr(rgb)
        h /= h.dtype.type(2 * math.pi)
        return h

    def CIEhd(self, rgb: np.ndarray) -> np.ndarray:  # noqa: N802
        """CIE h* in degrees."""
        h = self.CIEhr(rgb)
        h *= h.dtype.type(180 / math.pi)
        return h

    # -- HSV / HSI (colour ordering systems, independent of the working space) ---------------
    @staticmethod
    def hue(rgb: np.ndarray) -> np.ndarray:
        """Normalized HSV/HSI hue in [0, 1); 0 for achromatic pixels and grayscale images."""
        if rgb.shape[0] < 3:
            return np.zeros(rgb.shape[1:], rgb.dtype)
        r, g, b = rgb[0], rgb[1], rgb[2]
        mx = np.maximum(np.maximum(r, g), b)
        delta = mx - np.minimum(np.minimum(r, g), b)
        with np.errstate(divide="ignore", invalid="ignore"):
            h = np.where(r == mx, (g - b) / delta, np.where(g == mx, 2 + (b - r) / delta, 4 + (r - g) / delta))
        h /= h.dtype.type(6)
        h[h < 0] += 1
        h[delta == 0] = 0
        return h.astype(rgb.dtype, copy=False)

    @staticmethod
    def value(rgb: np.ndarray) -> np.ndarray:
        """HSV value: the largest component."""
        return rgb.max(axis=0)

    @staticmethod
    def intensity(rgb: np.ndarray) -> np.ndarray:
        """HSI intensity: the mean of the largest and smallest components."""
        out = rgb.max(axis=0) + rgb.min(axis=0)
        out *= out.dtype.type(0.5)
        return out

    @staticmethod
    def hsv_saturation(rgb: np.ndarray) -> np.ndarray:
        """HSV saturation; 0 for grayscale images."""
        if rgb.shape[0] < 3:
            return np.zeros(rgb.shape[1:], rgb.dtype)
        mx = rgb.max(axis=0)
        delta = mx - rgb.min(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(1 + mx != 1, delta / mx, 0)
        return s.astype(rgb.dtype, copy=False)

    @staticmethod
    def hsi_saturation(rgb: np.ndarray) -> np.ndarray:
        """HSI saturation; 0 for grayscale images."""
        if rgb.shape[0] < 3:
            return np.zeros(rgb.shape[1:], rgb.dtype)
        mn, mx = rgb.min(axis=0), rgb.max(axis=0)
        delta, total = mx - mn, mx + mn
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(delta != 0, delta / np.where(total <= 1, total, 2 - total), 0)
        return s.astype(rgb.dtype, copy=False)


SRGB = RGBWorkingSpace()
"""PixInsight's default RGB working space (sRGB, D50)."""
