"""Least-absolute-deviation (L1) straight-line fits, vectorised over many pixel stacks.

PixInsight's ``LinearFit`` (used by linear fit clipping and by RCR) fits the line
``y = a + b·x`` that minimizes the mean absolute deviation.  An L1 line through ``n``
points always passes through (at least) two of them, so the exact fit is the best of the
``n·(n−1)/2`` lines through pairs of points.  That is O(n³) per stack, done here with
one vectorised pass per pair over all stacks of a group; ties between equally good lines
go to the first pair in (i, j) order.
"""

from __future__ import annotations

import numpy as np

__all__ = ["lad_fit"]


def lad_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """L1 line fits of the columns of ``y`` (shape (n, G)) against abscissae ``x`` (n,).

    Returns ``(a, b, adev)``: intercepts, slopes and mean absolute deviations, each (G,).
    ``x`` must hold distinct values and ``n >= 2``.
    """
    x = np.asarray(x, dtype=np.float64)
    n, g = y.shape
    work = y.astype(np.float64, copy=False)
    best_s = np.full(g, np.inf)
    best_a = np.zeros(g)
    best_b = np.zeros(g)
    resid = np.empty((n, g))
    for i in range(n - 1):
        for j in range(i + 1, n):
            b = (work[j] - work[i]) / (x[j] - x[i])
            a = work[i] - b * x[i]
            np.multiply(x[:, None], b, out=resid)
            resid += a
            np.subtract(work, resid, out=resid)
            np.abs(resid, out=resid)
            s = resid.sum(axis=0)
            better = s < best_s
            if better.any():
                best_s = np.where(better, s, best_s)
                best_a = np.where(better, a, best_a)
                best_b = np.where(better, b, best_b)
    return best_a, best_b, best_s / n
