"""One-dimensional interpolation of curve points (CurvesTransformation, GHS, ...).

Three interpolators over strictly increasing knots ``xk`` with values ``yk``:

* ``linear``: straight segments;
* ``natural cubic spline``: C² piecewise cubic with zero second derivative at both ends
  (PCL ``CubicSplineInterpolation`` with its default boundary conditions; two knots give
  the straight line);
* ``Akima subsplines`` (Akima 1970): piecewise cubic Hermite whose slope at each knot is
  the weighted mean ``(|m₊₁ − m₀|·m₋₁ + |m₋₁ − m₋₂|·m₀) / (|m₊₁ − m₀| + |m₋₁ − m₋₂|)`` of the
  neighbouring chord slopes, with two extra chord slopes extrapolated linearly at each end
  (m₋₁ = 2m₀ − m₁, m₋₂ = 3m₀ − 2m₁).  As PixInsight does, a knot lying between two straight
  runs (both weights zero) keeps a *corner*: the left segment ends with the left slope and
  the right segment starts with the right one, instead of Akima's averaged slope.
  Akima needs five knots; PixInsight's curves fall back to the natural cubic spline with
  fewer, and so does :func:`curve_interpolator`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.interpolate import CubicSpline

Interpolator = Callable[[np.ndarray], np.ndarray]


def _knots(xk: np.ndarray, yk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xk = np.asarray(xk, dtype=np.float64)
    yk = np.asarray(yk, dtype=np.float64)
    if xk.ndim != 1 or xk.shape != yk.shape or xk.size < 2:
        raise ValueError("need two or more (x, y) knots of equal length")
    if np.any(np.diff(xk) <= 0):
        raise ValueError("knot x values must be strictly increasing")
    return xk, yk


def linear(xk: np.ndarray, yk: np.ndarray) -> Interpolator:
    """Piecewise linear interpolation through the knots."""
    xk, yk = _knots(xk, yk)
    return lambda x: np.interp(np.asarray(x, dtype=np.float64), xk, yk)


def natural_cubic_spline(xk: np.ndarray, yk: np.ndarray) -> Interpolator:
    """Natural cubic spline through the knots (a line for two knots)."""
    xk, yk = _knots(xk, yk)
    if xk.size == 2:
        return linear(xk, yk)
    spline = CubicSpline(xk, yk, bc_type="natural", extrapolate=True)
    return lambda x: spline(np.asarray(x, dtype=np.float64))


def akima(xk: np.ndarray, yk: np.ndarray) -> Interpolator:
    """Akima subspline interpolation with corners kept (five or more knots)."""
    xk, yk = _knots(xk, yk)
    n = xk.size
    if n < 5:
        raise ValueError("Akima subsplines need five or more knots")
    h = np.diff(xk)
    chord = np.diff(yk) / h
    m = np.empty(n + 3)  # m[j + 2] is the chord slope of interval j, j = −2 .. n
    m[2 : n + 1] = chord
    m[1] = 2 * chord[0] - chord[1]
    m[0] = 3 * chord[0] - 2 * chord[1]
    m[n + 1] = 2 * chord[-1] - chord[-2]
    m[n + 2] = 3 * chord[-1] - 2 * chord[-2]
    i = np.arange(n)
    m_im2, m_im1, m_i, m_ip1 = m[i], m[i + 1], m[i + 2], m[i + 3]
    w_left = np.abs(m_im1 - m_im2)
    w_total = np.abs(m_ip1 - m_i) + w_left
    smooth = 1 + w_total != 1
    with np.errstate(divide="ignore", invalid="ignore"):
        blended = m_im1 + w_left * (m_i - m_im1) / w_total
    slope_in = np.where(smooth, blended, m_im1)  # slope arriving at knot i (end of interval i−1)
    slope_out = np.where(smooth, blended, m_i)  # slope leaving knot i (start of interval i)
    b = slope_out[:-1]
    c = (3 * chord - 2 * b - slope_in[1:]) / h
    d = (b + slope_in[1:] - 2 * chord) / (h * h)

    def evaluate(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        j = np.clip(np.searchsorted(xk, x, side="right") - 1, 0, n - 2)
        dx = x - xk[j]
        return yk[j] + dx * (b[j] + dx * (c[j] + dx * d[j]))

    return evaluate


def curve_interpolator(kind: str, xk: np.ndarray, yk: np.ndarray) -> Interpolator:
    """The interpolator PixInsight's curves use for ``kind``.

    ``kind`` is ``"AkimaSubsplines"`` (natural cubic spline below five knots),
    ``"CubicSpline"`` or ``"Linear"``.
    """
    if kind == "Linear":
        return linear(xk, yk)
    if kind == "AkimaSubsplines" and len(xk) >= 5:
        return akima(xk, yk)
    if kind in ("AkimaSubsplines", "CubicSpline"):
        return natural_cubic_spline(xk, yk)
    raise ValueError(f"unknown interpolation {kind!r}")


# -- 2-D pixel interpolation (image resampling) lives in pixel_interpolation; re-exported here.
from processes.kernels.pixel_interpolation import (  # noqa: E402
    METHODS,
    kernel_support,
    remap,
    remap_planes,
    resize,
    resize_coordinates,
    scaled_radius,
)

__all__ = [
    "METHODS",
    "akima",
    "curve_interpolator",
    "kernel_support",
    "linear",
    "natural_cubic_spline",
    "remap",
    "remap_planes",
    "resize",
    "resize_coordinates",
    "scaled_radius",
]
