"""ImageCalibration's automatic cosmetic correction: hot and cold pixels found in the master dark.

What PixInsight's ImageCalibration does (1.9, ``cosmeticCorrectionLow``/``High``):

* **Map**, once per run, from the master dark as it is used (after its own calibration):
  per channel, the residual ``H = dark − median(dark)`` of a median filter over a disc 7
  pixels across; with ``m`` the median of ``H`` and ``σlow``/``σhigh`` two-sided
  biweight-midvariance scales around it, a pixel is hot (2) when ``H ≥ m + highSigma·σhigh``
  and, if not hot, cold (1) when ``H ≤ m − lowSigma·σlow``.
* **Correction** of each calibrated frame: a mapped pixel is replaced by the median of
  its neighbours within ``cosmeticKernelRadius`` — with a CFA master dark, of the same CFA
  colour (every second pixel); the counts of corrected pixels are reported per channel.

One difference: PixInsight corrects the pixels one after the other in place, so a
neighbour corrected just before takes part with its new value; here every replacement is
the median of the calibrated values (mapped neighbours included), which differs only
where mapped pixels touch.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["cosmetic_map", "correct"]

HOT, COLD = np.uint8(2), np.uint8(1)


def _disc(diameter: int) -> np.ndarray:
    r = (diameter - 1) / 2
    yy, xx = np.mgrid[:diameter, :diameter]
    return (xx - r) ** 2 + (yy - r) ** 2 <= r * r + 1e-9


def _side_sigma(values: np.ndarray, center: float) -> float:
    """The biweight midvariance scale (k = 9) of one side of a distribution around ``center``."""
    if values.size == 0:
        return 0.0
    d = values.astype(np.float64) - center
    mad = float(np.median(np.abs(d)))
    if mad <= 0:
        return 0.0
    u = d / (9.0 * mad)
    keep = np.abs(u) < 1
    u2 = u[keep] ** 2
    num = float(np.sum(d[keep] ** 2 * (1 - u2) ** 4))
    den = float(np.sum((1 - u2) * (1 - 5 * u2)))
    return float(np.sqrt(values.size * num) / abs(den)) if den else 0.0


def cosmetic_map(dark: np.ndarray, *, low: bool, low_sigma: float, high: bool, high_sigma: float) -> np.ndarray:
    """The defect map of a planar master dark: 2 hot, 1 cold, 0 good (uint8, the dark's shape)."""
    from scipy import ndimage  # imported where used (~0.15 s)

    out = np.zeros(dark.shape, dtype=np.uint8)
    footprint = _disc(7)
    for c, plane in enumerate(dark):
        plane = plane.astype(np.float32, copy=False)
        h = plane - ndimage.median_filter(plane, footprint=footprint, mode="mirror")
        m = float(np.median(h))
        s_low = _side_sigma(h[h <= m], m)
        s_high = _side_sigma(h[h >= m], m)
        hot = (h >= m + high_sigma * s_high) if high else np.zeros(h.shape, bool)
        cold = (h <= m - low_sigma * s_low) & ~hot if low else np.zeros(h.shape, bool)
        if high and s_high <= 0:
            hot[:] = False
        if low and s_low <= 0:
            cold[:] = False
        out[c][hot] = HOT
        out[c][cold] = COLD
    return out


def correct(pixels: np.ndarray, defects: np.ndarray, *, radius: int, cfa: bool) -> tuple[list[int], list[int]]:
    """Replace the mapped pixels of planar ``pixels`` in place; the (cold, hot) counts per channel."""
    step = 2 if cfa else 1
    reach = radius * step
    offsets = [(dy, dx) for dy in range(-reach, reach + 1, step) for dx in range(-reach, reach + 1, step)
               if (dy, dx) != (0, 0)]
    lows, highs = [], []
    for c in range(pixels.shape[0]):
        plane = pixels[c]
        mask = defects[min(c, defects.shape[0] - 1)]
        ys, xs = np.nonzero(mask)
        lows.append(int(np.count_nonzero(mask[ys, xs] == COLD)))
        highs.append(int(np.count_nonzero(mask[ys, xs] == HOT)))
        if ys.size == 0:
            continue
        height, width = plane.shape
        values = np.full((ys.size, len(offsets)), np.nan, dtype=np.float32)
        for k, (dy, dx) in enumerate(offsets):
            y, x = ys + dy, xs + dx
            inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
            values[inside, k] = plane[y[inside], x[inside]]
        with warnings.catch_warnings():  # a pixel with no neighbour inside the image keeps its value
            warnings.simplefilter("ignore", RuntimeWarning)
            replacement = np.nanmedian(values, axis=1)
        plane[ys, xs] = np.where(np.isnan(replacement), plane[ys, xs], replacement)
    return lows, highs
