"""Compiled (numba) kernel of CosmeticCorrection's auto detection, imported only when it runs.

:func:`ring_median` is ``scipy.ndimage.median_filter(plane, footprint=<3×3 without the
centre>, mode="mirror")``: per pixel the upper median (the 5th smallest, scipy's rank
``8 // 2``) of its eight neighbours, mirrored at the edges, by a sorting network of
compare-exchanges (branch-free, so the interior rows vectorize).
"""

from __future__ import annotations

import numba

from processes.kernels.numba_common import mirror

__all__ = ["ring_median"]


@numba.njit(cache=True, nogil=True, inline="always")
def _cx(a, b):  # pragma: no cover - compiled
    return (a, b) if a <= b else (b, a)


@numba.njit(cache=True, nogil=True, inline="always")
def _upper_median8(v0, v1, v2, v3, v4, v5, v6, v7):  # pragma: no cover - compiled
    # Batcher's odd-even merge sort of eight values (19 compare-exchanges); element 4
    v0, v1 = _cx(v0, v1)
    v2, v3 = _cx(v2, v3)
    v4, v5 = _cx(v4, v5)
    v6, v7 = _cx(v6, v7)
    v0, v2 = _cx(v0, v2)
    v1, v3 = _cx(v1, v3)
    v4, v6 = _cx(v4, v6)
    v5, v7 = _cx(v5, v7)
    v1, v2 = _cx(v1, v2)
    v5, v6 = _cx(v5, v6)
    v0, v4 = _cx(v0, v4)
    v1, v5 = _cx(v1, v5)
    v2, v6 = _cx(v2, v6)
    v3, v7 = _cx(v3, v7)
    v2, v4 = _cx(v2, v4)
    v3, v5 = _cx(v3, v5)
    v1, v2 = _cx(v1, v2)
    v3, v4 = _cx(v3, v4)
    v5, v6 = _cx(v5, v6)
    return v4


@numba.njit(cache=True, nogil=True)
def ring_median(plane, out):  # pragma: no cover - compiled
    """``out`` ← the upper median of each pixel's eight neighbours (mirror borders)."""
    height, width = plane.shape
    for y in range(height):
        ym = mirror(y - 1, height)
        yp = mirror(y + 1, height)
        for x in (0, width - 1):
            xm = mirror(x - 1, width)
            xp = mirror(x + 1, width)
            out[y, x] = _upper_median8(plane[ym, xm], plane[ym, x], plane[ym, xp], plane[y, xm], plane[y, xp],
                                       plane[yp, xm], plane[yp, x], plane[yp, xp])
        for x in range(1, width - 1):
            out[y, x] = _upper_median8(plane[ym, x - 1], plane[ym, x], plane[ym, x + 1], plane[y, x - 1],
                                       plane[y, x + 1], plane[yp, x - 1], plane[yp, x], plane[yp, x + 1])
