"""Dark frame optimization: the dark scaling factor k that minimizes the noise of ``target − k·dark``.

Follows PixInsight's method (thresholded dark, golden-section search), with a more robust
noise measure:

1. *Dark-significant pixels*: in the (bias-free) master dark, the pixels at or above
   ``t = median + darkOptimizationLow · 1.4826·MAD`` (hot and warm pixels, glow); the
   deprecated ``darkOptimizationThreshold`` > 0 gives ``t`` directly.  A CFA dark is first
   binned 2×2 (mean), and so is each target, so k does not depend on colour.
   ``darkOptimizationWindow`` > 0 keeps only a central square of that size.
2. Dark and target are high-pass filtered (``x − median3×3(x)``), which removes the sky
   background, gradients, vignetting and bias structure without touching isolated hot pixels.
3. For each target channel, k minimizes the noise of the residual over the
   dark-significant pixels, measured as the mean absolute deviation
   ``f(k) = mean |T_hp − k·D_hp|`` (×1.2533 is σ for Gaussian noise).  The minimum is
   bracketed from [0.5, 2] (golden-ratio expansion with parabolic steps, Numerical
   Recipes §10.1) and refined by golden-section search to an interval of 0.0005; k ≥ 0.

PixInsight minimizes the plain standard deviation of the whole window instead; the
absolute deviation of the high-passed residual gives the same k for clean data but is not
pulled by stars that happen to fall on hot pixels, nor by sky gradients.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

__all__ = ["DarkOptimizer", "OptimizingDark", "golden_section_minimum", "optimizing_dark", "scaling_factors"]

GOLD = 1.618034
R = 0.61803399
C = 1.0 - R


def bin2x2(plane: np.ndarray) -> np.ndarray:
    """Mean of 2×2 blocks (an odd last row/column is dropped)."""
    h, w = (plane.shape[0] // 2) * 2, (plane.shape[1] // 2) * 2
    p = plane[:h, :w].astype(np.float64)
    return 0.25 * (p[0::2, 0::2] + p[0::2, 1::2] + p[1::2, 0::2] + p[1::2, 1::2])


def central_window(plane: np.ndarray, size: int) -> np.ndarray:
    """The central ``size``×``size`` part of a plane (the whole plane when it is smaller)."""
    h, w = plane.shape
    sh, sw = min(size, h), min(size, w)
    y0, x0 = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return plane[y0 : y0 + sh, x0 : x0 + sw]


def high_pass(plane: np.ndarray) -> np.ndarray:
    """``plane − median3×3(plane)`` in float64 (mirror borders)."""
    p = np.asarray(plane, dtype=np.float64)
    from scipy import ndimage  # imported where used (~0.15 s)
    return p - ndimage.median_filter(p, size=3, mode="mirror")


def _mirror(index: np.ndarray, size: int) -> np.ndarray:
    """scipy's 'mirror' extension for offsets of one pixel (−1 → 1, size → size − 2)."""
    if size == 1:
        return np.zeros_like(index)
    index = np.where(index < 0, -index, index)
    return np.where(index >= size, 2 * size - 2 - index, index)


def high_pass_at(plane: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """:func:`high_pass` evaluated only at the pixels (rows, cols): the same values, without
    filtering the whole plane (the dark-significant pixels are a small fraction of it)."""
    p = np.asarray(plane, dtype=np.float64)
    h, w = p.shape
    neighbourhood = np.empty((rows.size, 9), dtype=np.float64)
    k = 0
    for dy in (-1, 0, 1):
        r = _mirror(rows + dy, h)
        for dx in (-1, 0, 1):
            neighbourhood[:, k] = p[r, _mirror(cols + dx, w)]
            k += 1
    return p[rows, cols] - np.partition(neighbourhood, 4, axis=1)[:, 4]


@attrs.frozen(kw_only=True, eq=False)
class OptimizingDark:
    """Per dark channel: the dark-significant pixels (flat indices into the prepared plane),
    the high-passed dark values there, the threshold used, and how planes are prepared."""

    indices: tuple[np.ndarray, ...]
    values: tuple[np.ndarray, ...]
    thresholds: tuple[float, ...]
    shape: tuple[int, int]
    binned: bool
    window: int
    origin: tuple[int, int] = (0, 0)

    @property
    def counts(self) -> tuple[int, ...]:
        """Number of dark-significant pixels per channel."""
        return tuple(int(i.size) for i in self.indices)

    def prepare(self, plane: np.ndarray) -> np.ndarray:
        """A target or dark plane binned, high-passed and cropped like the optimizing dark."""
        p = bin2x2(plane) if self.binned else np.asarray(plane, dtype=np.float64)
        p = high_pass(p)
        if self.window > 0:
            p = central_window(p, self.window)
        if p.shape != self.shape:
            raise ValueError(f"target window {p.shape} does not match the optimizing dark {self.shape}")
        return p

    def prepared_values(self, plane: np.ndarray, channel: int) -> np.ndarray:
        """``prepare(plane).ravel()[indices[channel]]``, computed only at those pixels."""
        p = bin2x2(plane) if self.binned else np.asarray(plane, dtype=np.float64)
        if self.window > 0 and central_window(p, self.window).shape != self.shape:
            raise ValueError(f"target window {central_window(p, self.window).shape} does not match the optimizing "
                             f"dark {self.shape}")
        if self.window == 0 and p.shape != self.shape:
            raise ValueError(f"target window {p.shape} does not match the optimizing dark {self.shape}")
        rows, cols = np.divmod(self.indices[channel], self.shape[1])
        return high_pass_at(p, rows + self.origin[0], cols + self.origin[1])


def optimizing_dark(dark: np.ndarray, *, low: float, threshold: float = 0.0, window: int = 0, cfa: bool = False) -> (
    OptimizingDark
):
    """Select the dark-significant pixels of a calibrated master dark (channels, h, w)."""
    indices, values, thresholds = [], [], []
    shape: tuple[int, int] = (0, 0)
    origin = (0, 0)
    h, w = dark.shape[1], dark.shape[2]
    use_window = window if window > 0 and (window < w or window < h) else 0
    for plane in dark:
        p = bin2x2(plane) if cfa else plane.astype(np.float64)
        location = float(np.median(p))
        scale = 1.4826 * float(np.median(np.abs(p - location)))
        t = min(max(threshold, 0.0), 1.0) if threshold > 0 else min(max(location + low * scale, 0.0), 1.0)
        full = p
        if use_window:
            ph, pw = p.shape
            origin = (max(0, (ph - use_window) // 2), max(0, (pw - use_window) // 2))
            p = central_window(p, use_window)
        shape = p.shape
        index = np.flatnonzero(p.ravel() >= t)
        rows, cols = np.divmod(index, shape[1])
        indices.append(index)
        values.append(high_pass_at(full, rows + origin[0], cols + origin[1]))
        thresholds.append(t)
    return OptimizingDark(indices=tuple(indices), values=tuple(values), thresholds=tuple(thresholds), shape=shape,
                          binned=cfa, window=use_window, origin=origin)


def golden_section_minimum(f, *, start: tuple[float, float] = (0.5, 2.0), tolerance: float = 0.0005,
                           max_steps: int = 200) -> float:
    """The abscissa of a local minimum of ``f``: bracketing from ``start``, then golden sections."""
    ax, bx = start
    fa, fb = f(ax), f(bx)
    if fb > fa:
        ax, bx, fa, fb = bx, ax, fb, fa
    cx = bx + GOLD * (bx - ax)
    fc = f(cx)
    steps = 0
    while fb > fc and steps < max_steps:
        steps += 1
        r = (bx - ax) * (fb - fc)
        q = (bx - cx) * (fb - fa)
        denom = 2.0 * math.copysign(max(abs(q - r), 1e-20), q - r)
        u = bx - ((bx - cx) * q - (bx - ax) * r) / denom
        ulim = bx + 10.0 * (cx - bx)
        if (bx - u) * (u - cx) > 0:
            fu = f(u)
            if fu < fc:
                ax, bx, fa, fb = bx, u, fb, fu
                break
            if fu > fb:
                cx, fc = u, fu
                break
            u = cx + GOLD * (cx - bx)
            fu = f(u)
        elif (cx - u) * (u - ulim) > 0:
            fu = f(u)
            if fu < fc:
                bx, cx, u = cx, u, u + GOLD * (u - cx)
                fb, fc, fu = fc, fu, f(u)
        elif (u - ulim) * (ulim - cx) >= 0:
            u = ulim
            fu = f(u)
        else:
            u = cx + GOLD * (cx - bx)
            fu = f(u)
        ax, bx, cx = bx, cx, u
        fa, fb, fc = fb, fc, fu
    x0, x3 = ax, cx
    if abs(bx - ax) < abs(cx - bx):
        x1, x2 = bx, bx + C * (cx - bx)
    else:
        x1, x2 = bx - C * (bx - ax), bx
    f1, f2 = f(x1), f(x2)
    steps = 0
    while abs(x3 - x0) > tolerance and steps < max_steps:
        steps += 1
        if f2 < f1:
            x0, x1, x2 = x1, x2, R * x2 + C * x3
            f1, f2 = f2, f(x2)
        else:
            x3, x2, x1 = x2, x1, R * x1 + C * x0
            f2, f1 = f1, f(x1)
    return x1 if f1 < f2 else x2


class DarkOptimizer:
    """k for one target against one optimizing-dark channel: minimizes mean |T_hp − k·D_hp|."""

    def __init__(self, target_values: np.ndarray, dark_values: np.ndarray) -> None:
        self.t = np.asarray(target_values, dtype=np.float64)
        self.d = np.asarray(dark_values, dtype=np.float64)

    def noise(self, k: float) -> float:
        """Mean absolute deviation of the high-passed residual over the dark-significant pixels."""
        return float(np.mean(np.abs(self.t - k * self.d))) if self.t.size else 0.0

    def optimize(self) -> float:
        """The minimizing k (≥ 0), by bracketing + golden-section search on :meth:`noise`."""
        if self.t.size == 0 or not np.any(self.d):
            return 1.0
        return max(0.0, golden_section_minimum(self.noise))


def scaling_factors(target: np.ndarray, opt: OptimizingDark) -> list[float]:
    """One k per target channel (dark channel min(c, dark channels − 1), as PixInsight)."""
    ks = []
    for c, plane in enumerate(target):
        index = min(c, len(opt.indices) - 1)
        values = opt.prepared_values(plane, index)
        ks.append(DarkOptimizer(values, opt.values[index]).optimize())
    return ks
