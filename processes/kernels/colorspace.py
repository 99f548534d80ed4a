"""RGB working space conversions as PixInsight defines them (PCL ``RGBColorSystem``).

PixInsight converts colours through its *RGB working space* (RGBWS), by default **sRGB
adapted to D50** (ICC convention): the sRGB transfer function and the sRGB primaries
Bradford-adapted to D50 (chromaticities and luminance coefficients of PCL's
``RGBColorSystem::sRGB``).  All components are normalized to [0, 1] exactly as PCL does,
so values here equal PixInsight's channel values:

* CIE XYZ: ``X/x_white, Y, Z/z_white`` (x_white, z_white: X and Z of RGB white); RGB
  white is (1, 1, 1);
* CIE L* as ``1.16·f(Y) − 0.16`` (L*/100);
* CIE a* as ``(a*/100 + a_offset)/a_delta`` and b* as ``(b*/100 + b_offset)/b_delta``,
  the offsets and deltas mapping the extreme a*, b* reachable from normalized XYZ in
  [0, 1] onto [0, 1] (PCL's zA/mA, zB/mB; neutral grey has a = b = 0.5 for sRGB);
* CIE c* as ``(c*/100)/c_delta`` (PCL's mC) and h* as a fraction of a full turn;
* HSV and HSI (HSL) colour ordering systems, hue as a fraction of a turn.

Results are clipped to [0, 1] where PCL clips them (XYZ, L*a*b*, c*, RGB).  Functions take
and return float64 arrays of any (equal) shape; callers process large images in bands.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = [
    "SRGB",
    "RGBWorkingSpace",
    "hsi_to_rgb",
    "hsv_to_rgb",
    "linear_to_srgb",
    "rgb_to_hsi",
    "rgb_to_hsv",
    "srgb",
    "srgb_to_linear",
]

_EPSILON = 216 / 24389
_KAPPA_116 = (24389 / 27) / 116
_16_116 = 16 / 116

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


def _f_lab(t: np.ndarray) -> np.ndarray:
    return np.where(t > _EPSILON, np.cbrt(t), _KAPPA_116 * t + _16_116)


def _f_lab_inverse(t: np.ndarray) -> np.ndarray:
    t3 = t * t * t
    return np.where(t3 > _EPSILON, t3, (t - _16_116) / _KAPPA_116)


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    """The sRGB transfer function inverted: encoded value → linear light."""
    v = np.asarray(v, dtype=np.float64)
    return np.where(v > 0.04045, ((np.maximum(v, 0.04045) + 0.055) / 1.055) ** 2.4, v / 12.92)


def linear_to_srgb(v: np.ndarray) -> np.ndarray:
    """The sRGB transfer function: linear light → encoded value."""
    v = np.asarray(v, dtype=np.float64)
    return np.where(v > 0.0031308, 1.055 * np.maximum(v, 0.0031308) ** (1 / 2.4) - 0.055, 12.92 * v)


class RGBWorkingSpace:
    """A colorimetric RGB space: gamma, primaries' chromaticities and luminance coefficients (D50)."""

    def __init__(
        self,
        gamma: float = 2.2,
        srgb_gamma: bool = True,
        x: tuple[float, float, float] = (0.648431, 0.321152, 0.155886),
        y: tuple[float, float, float] = (0.330856, 0.597871, 0.066044),
        luminance: tuple[float, float, float] = (0.222491, 0.716888, 0.060621),
    ) -> None:
        self.gamma = float(gamma)
        self.srgb_gamma = bool(srgb_gamma)
        xs, ys = np.asarray(x, float), np.asarray(y, float)
        lum = np.asarray(luminance, float)
        self.luminance = lum / lum.sum()
        self.matrix = np.vstack([self.luminance * xs / ys, self.luminance, self.luminance * (1 - xs - ys) / ys])
        self.inverse = np.linalg.inv(self.matrix)
        self.x_white = float(self.matrix[0].sum())
        self.z_white = float(self.matrix[2].sum())
        # PCL's normalization of a*, b*, c*: the extremes reachable from XYZ in [0, 1].
        f0 = float(_f_lab(np.float64(0.0)))
        a_min, a_max = 5 * (f0 - 1), 5 * (1 - f0)
        b_min, b_max = 2 * (f0 - 1), 2 * (1 - f0)
        self.a_offset, self.a_delta = -a_min, a_max - a_min
        self.b_offset, self.b_delta = -b_min, b_max - b_min
        self.c_delta = float(np.hypot(max(a_max, abs(a_min)), max(b_max, abs(b_min))))

    # -- gamma --------------------------------------------------------------------------
    def linear(self, v: np.ndarray) -> np.ndarray:
        """Gamma-encoded RGB → linear RGB."""
        if self.srgb_gamma:
            return srgb_to_linear(v)
        return np.power(np.maximum(np.asarray(v, dtype=np.float64), 0.0), self.gamma)

    def encoded(self, v: np.ndarray) -> np.ndarray:
        """Linear RGB → gamma-encoded RGB."""
        if self.srgb_gamma:
            return linear_to_srgb(v)
        return np.power(np.maximum(np.asarray(v, dtype=np.float64), 0.0), 1 / self.gamma)

    # -- XYZ ----------------------------------------------------------------------------
    def rgb_to_xyz(self, r: np.ndarray, g: np.ndarray, b: np.ndarray) -> Planes:
        """RGB → normalized CIE XYZ (each clipped to [0, 1])."""
        lr, lg, lb = self.linear(r), self.linear(g), self.linear(b)
        m = self.matrix
        xx = np.clip((m[0, 0] * lr + m[0, 1] * lg + m[0, 2] * lb) / self.x_white, 0, 1)
        yy = np.clip(m[1, 0] * lr + m[1, 1] * lg + m[1, 2] * lb, 0, 1)
        zz = np.clip((m[2, 0] * lr + m[2, 1] * lg + m[2, 2] * lb) / self.z_white, 0, 1)
        return xx, yy, zz

    def xyz_to_rgb(self, xx: np.ndarray, yy: np.ndarray, zz: np.ndarray) -> Planes:
        """Normalized CIE XYZ → RGB (linear values clipped to [0, 1], then gamma-encoded)."""
        xx = np.asarray(xx, dtype=np.float64) * self.x_white
        yy = np.asarray(yy, dtype=np.float64)
        zz = np.asarray(zz, dtype=np.float64) * self.z_white
        out = [self.encoded(np.clip(row[0] * xx + row[1] * yy + row[2] * zz, 0, 1)) for row in self.inverse]
        return out[0], out[1], out[2]

    # -- CIE L*a*b* and L*c*h* ------------------------------------------------------------
    def lightness(self, r: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Normalized CIE L* of RGB values."""
        lr, lg, lb = self.linear(r), self.linear(g), self.linear(b)
        yy = np.clip(self.luminance[0] * lr + self.luminance[1] * lg + self.luminance[2] * lb, 0, 1)
        return 1.16 * _f_lab(yy) - 0.16

    def rgb_to_lab(self, r: np.ndarray, g: np.ndarray, b: np.ndarray) -> Planes:
        """RGB → normalized CIE L*, a*, b*."""
        fx, fy, fz = (_f_lab(t) for t in self.rgb_to_xyz(r, g, b))
        lum = np.clip(1.16 * fy - 0.16, 0, 1)
        a = np.clip((5 * (fx - fy) + self.a_offset) / self.a_delta, 0, 1)
        bb = np.clip((2 * (fy - fz) + self.b_offset) / self.b_delta, 0, 1)
        return lum, a, bb

    def lab_to_rgb(self, lum: np.ndarray, a: np.ndarray, bb: np.ndarray) -> Planes:
        """Normalized CIE L*, a*, b* → RGB."""
        fy = (np.asarray(lum, dtype=np.float64) + 0.16) / 1.16
        fx = (self.a_delta * np.asarray(a, dtype=np.float64) - self.a_offset) / 5 + fy
        fz = fy - (self.b_delta * np.asarray(bb, dtype=np.float64) - self.b_offset) / 2
        return self.xyz_to_rgb(_f_lab_inverse(fx), _f_lab_inverse(fy), _f_lab_inverse(fz))

    def rgb_to_lch(self, r: np.ndarray, g: np.ndarray, b: np.ndarray) -> Planes:
        """RGB → normalized CIE L*, c*, h* (h* as a fraction of a turn)."""
        fx, fy, fz = (_f_lab(t) for t in self.rgb_to_xyz(r, g, b))
        lum = np.clip(1.16 * fy - 0.16, 0, 1)
        a = 5 * (fx - fy)
        bb = 2 * (fy - fz)
        c = np.clip(np.hypot(a, bb) / self.c_delta, 0, 1)
        h = np.mod(np.arctan2(bb, a) / (2 * np.pi), 1.0)
        return lum, c, np.where(h >= 1, 0.0, h)

    def lch_to_rgb(self, lum: np.ndarray, c: np.ndarray, h: np.ndarray) -> Planes:
        """Normalized CIE L*, c*, h* → RGB."""
        chroma = np.asarray(c, dtype=np.float64) * self.c_delta
        angle = 2 * np.pi * np.asarray(h, dtype=np.float64)
        a = chroma * np.cos(angle)
        bb = chroma * np.sin(angle)
        fy = (np.asarray(lum, dtype=np.float64) + 0.16) / 1.16
        return self.xyz_to_rgb(_f_lab_inverse(a / 5 + fy), _f_lab_inverse(fy), _f_lab_inverse(fy - bb / 2))

    def with_lightness(self, r: np.ndarray, g: np.ndarray, b: np.ndarray, lum: np.ndarray) -> Planes:
        """RGB with its CIE L* replaced by ``lum``, a* and b* kept."""
        _, a, bb = self.rgb_to_lab(r, g, b)
        return self.lab_to_rgb(lum, a, bb)

    def hsvl_to_rgb(self, h: np.ndarray, s: np.ndarray, v: np.ndarray, lum: np.ndarray) -> Planes:
        """HSV chrominance with the CIE L* replaced by ``lum`` → RGB (PCL HSVLToRGB)."""
        r, g, b = hsv_to_rgb(h, s, v)
        return self.with_lightness(r, g, b, lum)


# -- HSV and HSI (colour ordering systems, no working space) ---------------------------------
def _hue(r: np.ndarray, g: np.ndarray, b: np.ndarray, mx: np.ndarray, delta: np.ndarray) -> np.ndarray:
    safe = np.where(delta != 0, delta, 1.0)
    h = np.where(r == mx, (g - b) / safe, np.where(g == mx, 2 + (b - r) / safe, 4 + (r - g) / safe)) / 6
    h = np.where(h < 0, h + 1, h)
    return np.where(delta != 0, h, 0.0)


def rgb_to_hsv(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> Planes:
    """RGB → HSV with hue as a fraction of a turn (0 for greys), Sv = (max − min)/max, V = max."""
    r, g, b = (np.asarray(c, dtype=np.float64) for c in (r, g, b))
    v = np.maximum(np.maximum(r, g), b)
    delta = v - np.minimum(np.minimum(r, g), b)
    s = np.where(v != 0, delta / np.where(v != 0, v, 1.0), 0.0)
    return _hue(r, g, b, v, delta), s, v


def hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> Planes:
    """HSV (hue as a fraction of a turn) → RGB."""
    h, s, v = (np.asarray(c, dtype=np.float64) for c in (h, s, v))
    h6 = np.mod(h, 1.0) * 6
    sector = np.floor(h6)
    f = h6 - sector
    p = v * (1 - s)
    q = v * (1 - s * f)
    t = v * (1 - s * (1 - f))
    sector = sector.astype(np.int64) % 6
    r = np.choose(sector, [v, q, p, p, t, v])
    g = np.choose(sector, [t, v, v, q, p, p])
    b = np.choose(sector, [p, p, t, v, v, q])
    grey = s == 0
    return np.where(grey, v, r), np.where(grey, v, g), np.where(grey, v, b)


def rgb_to_hsi(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> Planes:
    """RGB → HSI (HSL): hue, Si = (max − min)/(1 − |max + min − 1|), I = (max + min)/2."""
    r, g, b = (np.asarray(c, dtype=np.float64) for c in (r, g, b))
    mx = np.maximum(np.maximum(r, g), b)
    mn = np.minimum(np.minimum(r, g), b)
    delta = mx - mn
    i = (mx + mn) / 2
    denom = np.where(i < 0.5, mx + mn, 2 - mx - mn)
    s = np.where(delta != 0, delta / np.where(denom != 0, denom, 1.0), 0.0)
    return _hue(r, g, b, mx, delta), s, i


def hsi_to_rgb(h: np.ndarray, s: np.ndarray, i: np.ndarray) -> Planes:
    """HSI (HSL, hue as a fraction of a turn) → RGB."""
    h, s, i = (np.asarray(c, dtype=np.float64) for c in (h, s, i))
    v2 = np.where(i < 0.5, i * (1 + s), i + s - s * i)
    v1 = 2 * i - v2

    def channel(hh: np.ndarray) -> np.ndarray:
        hh = np.where(hh < 0, hh + 1, np.where(hh > 1, hh - 1, hh))
        return np.where(
            hh < 1 / 6,
            v1 + 6 * hh * (v2 - v1),
            np.where(hh < 0.5, v2, np.where(hh < 2 / 3, v1 + 6 * (2 / 3 - hh) * (v2 - v1), v1)),
        )

    grey = s == 0
    return (
        np.where(grey, i, channel(h + 1 / 3)),
        np.where(grey, i, channel(h)),
        np.where(grey, i, channel(h - 1 / 3)),
    )


@functools.cache
def srgb() -> RGBWorkingSpace:
    """PixInsight's default working space: sRGB (D50), sRGB gamma function."""
    return RGBWorkingSpace()


SRGB = srgb()
"""PixInsight's default RGB working space (the same object :func:`srgb` returns)."""
