"""Compiled (numba) CLAHE behind :mod:`processes.multiscale.lhe`, imported only with it.

:func:`clahe`
    PCL's LocalHistogramEqualization, pixel by pixel: a histogram of the kernel's
    neighbourhood slid along each row, clipped at the slope limit (the excess spread over
    the bins, iterated while it shrinks), the pixel mapped through the clipped histogram's
    cumulative distribution and blended with ``amount``.  Edges and their quirks are
    PCL's (rows mirrored as ``−y`` and ``2·height − y``; beyond the right edge columns are
    mirrored about ``2·height``, as the module does; samples that still fall outside are
    left out of the histogram).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["clahe"]


@numba.njit(cache=True, nogil=True, inline="always")
def _bin(value, factor, size):  # pragma: no cover - compiled
    b = int(value * factor) if value > 0 else 0
    return min(b, size - 1)


@numba.njit(cache=True, nogil=True)
def _clip(histogram, clipped, count, limit):  # pragma: no cover - compiled
    size = histogram.size
    clipped[:] = histogram
    hist_limit = int(limit * count / (size - 1) + 0.5)
    if hist_limit == 0:
        hist_limit = 1
    clipped_values = 0
    iterations = 0
    while True:
        before = clipped_values
        clipped_values = 0
        for i in range(size):
            d = clipped[i] - hist_limit
            if d > 0:
                clipped_values += d
                clipped[i] = hist_limit
        if iterations == 0 or clipped_values < before:
            d = clipped_values // size
            m = clipped_values % size
            if d != 0:
                for i in range(size):
                    clipped[i] += d
            if m != 0:
                s = (size - 1) // m
                for i in range(0, size, s):
                    clipped[i] += 1
        iterations += 1
        if not (iterations == 1 or clipped_values < before):
            break


@numba.njit(cache=True, nogil=True, parallel=True)
def clahe(src, radius, size, limit, amount, circular):  # pragma: no cover - compiled
    """The equalized plane (float32) of ``src`` (2-D float32 in [0, 1])."""
    height, width = src.shape
    out = np.empty_like(src)
    r = radius - 1
    ksize = 2 * radius - 1
    mask = np.ones((ksize, ksize), dtype=np.bool_)
    front = np.zeros(ksize, dtype=np.int64)
    back = np.zeros(ksize, dtype=np.int64)
    for y in range(ksize):
        first = False
        for x in range(ksize):
            if circular:
                dx = x - radius + 1
                dy = y - radius + 1
                mask[y, x] = np.sqrt(dx * dx + dy * dy) <= r + 1e-6
            if mask[y, x]:
                if not first:
                    first = True
                    front[y] = x - radius + 1
                    back[y] = x - radius + 1
                else:
                    front[y] = x - radius + 1
    factor = float(size - 1)
    for y in numba.prange(height):
        histogram = np.zeros(size, dtype=np.int64)
        clipped = np.zeros(size, dtype=np.int64)
        count = 0
        for x in range(width):
            if x == 0:
                for ky in range(-r, r + 1):
                    yy = y + ky
                    if yy < 0:
                        yy = -yy
                    if yy >= height:
                        yy = 2 * height - yy
                    if yy < 0 or yy >= height:
                        continue
                    for kx in range(-r, r + 1):
                        xx = -kx if kx < 0 else kx
                        if xx < width and mask[ky + r, kx + r]:
                            histogram[_bin(src[yy, xx], factor, size)] += 1
                            count += 1
            else:
                for ky in range(-r, r + 1):
                    yy = y + ky
                    if yy < 0:
                        yy = -yy
                    if yy >= height:
                        yy = 2 * height - yy
                    if yy < 0 or yy >= height:
                        continue
                    xx = x + back[ky + r] - 1
                    if xx < 0:
                        xx = -xx
                    if xx >= width:
                        xx = 2 * height - xx
                    if 0 <= xx < width:
                        histogram[_bin(src[yy, xx], factor, size)] -= 1
                        count -= 1
                    xx = x + front[ky + r]
                    if xx < 0:
                        xx = -xx
                    if xx >= width:
                        xx = 2 * height - xx
                    if 0 <= xx < width:
                        histogram[_bin(src[yy, xx], factor, size)] += 1
                        count += 1
            _clip(histogram, clipped, count, limit)
            value = src[y, x]
            b = _bin(value, factor, size)
            cdf_min = 0
            for i in range(size):
                if clipped[i] != 0:
                    cdf_min = clipped[i]
                    break
            cdf = 0
            for i in range(b + 1):
                cdf += clipped[i]
            cdf_max = cdf
            for i in range(b + 1, size):
                cdf_max += clipped[i]
            equalized = (cdf - cdf_min) / (cdf_max - cdf_min) if cdf_max != cdf_min else value
            out[y, x] = amount * equalized + (1 - amount) * value
    return out
