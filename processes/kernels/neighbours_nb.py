"""The compiled (numba) search of :func:`processes.kernels.neighbours.nearest_within`.

RANSAC asks for the nearest target star of every reference star mapped by each of hundreds
of hypotheses (tens of thousands to hundreds of thousands of queries per batch); a sweep
along x with numpy's candidate arrays took 1.3–3× the time of ``scipy.spatial.cKDTree``,
this loop a fraction of it.  Import this module only where that search runs (it imports numba).
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["nearest_in_sweep"]


@numba.njit(cache=True, nogil=True)
def nearest_in_sweep(sx, sy, order, qx, qy, radius, widen):  # pragma: no cover - compiled
    """``(distance, index)`` of each query ``(qx, qy)``'s nearest point closer than ``radius``.

    ``sx``, ``sy``: the points' coordinates sorted by x (ascending), ``order``: their indices.
    The points whose x lies within ``radius·(1 + widen) + widen·|qx|`` of a query's are
    tested with the k-d tree's arithmetic (``dx·dx + dy·dy < radius·radius``, distance its
    square root); among points at the same distance the lowest index wins.  A query without
    such a point (or not finite) gets ``inf`` and ``len(sx)``.
    """
    n, m = sx.size, qx.size
    bound = radius * radius
    distance = np.full(m, np.inf)
    index = np.full(m, n, dtype=np.intp)
    for q in range(m):
        x, y = qx[q], qy[q]
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        reach = radius * (1.0 + widen) + widen * abs(x)
        best, found = bound, n
        p = np.searchsorted(sx, x - reach)
        while p < n and sx[p] <= x + reach:
            dx, dy = sx[p] - x, sy[p] - y
            squared = dx * dx + dy * dy
            if squared < best or (squared == best and found < n and order[p] < found):
                best, found = squared, order[p]
            p += 1
        if found < n:
            distance[q] = math.sqrt(best)
            index[q] = found
    return distance, index
