"""Exact neighbour searches among points of the plane: :class:`scipy.spatial.cKDTree`'s answers, numpy alone.

StarAlignment runs in every pre-processing worker; ``scipy.spatial`` (with ``scipy.sparse`` and
``scipy.special``: ~0.1 s to import, and their memory in every process) stays out of them.  Its star
lists are small (tens to a few thousand stars), so a sort and sweep along x finds every candidate pair,
and the exact test decides with the arithmetic the tree uses (Minkowski p = 2: ``dx·dx + dy·dy`` against
``r·r`` in float64, the distance its square root; p = ∞: ``max(|dx|, |dy|)`` against ``r``):

* :func:`close_pairs` — the pairs ``i < j`` within ``r`` (``cKDTree.query_pairs(r, p)``, ≤);
* :func:`cross_pairs` — the pairs of two sets within ``r`` and their distances
  (``cKDTree.sparse_distance_matrix(other, r)``, ≤);
* :func:`nearest_within` — each query's nearest point closer than ``r``
  (``cKDTree.query(q, k=1, distance_upper_bound=r)``, <; ``inf`` and ``n`` when none);
* :func:`nearest_neighbours` — the ``k`` nearest points of each point, itself included
  (``cKDTree.query(xy, k)``; brute force: meant for the few hundred brightest stars).

The sets of pairs and the distances are the tree's, bit for bit.  Orders are canonical where
the tree's follow its layout: pairs sorted by ``(i, j)``; among points at the same distance,
the lower index comes first (the tree keeps the first one its traversal meets).
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import numpy as np

__all__ = ["SortedPoints", "close_pairs", "cross_pairs", "nearest_neighbours", "nearest_within"]

_CANDIDATES = 1 << 20
"""Candidate pairs tested at once (bounded memory in dense fields)."""

_ROUNDING = 1e-9
"""Relative widening of the sweep's window in x: far above float64's rounding, so the window holds every pair
the exact test accepts, whatever the rounding of ``x ± r``."""


def _x_candidates(sorted_x: np.ndarray, query_x: np.ndarray, radius: float) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(query index, position in ``sorted_x``) of every point whose x lies within about ``radius`` of a query's x.

    A superset of the pairs within ``radius``, in blocks of whole queries of about :data:`_CANDIDATES` pairs, the
    queries in order and each one's points in ``sorted_x``'s order.  Non-finite queries have no candidates.
    """
    reach = radius * (1.0 + _ROUNDING) + _ROUNDING * np.abs(query_x)
    with np.errstate(invalid="ignore"):
        low = np.searchsorted(sorted_x, query_x - reach, side="left")
        counts = np.searchsorted(sorted_x, query_x + reach, side="right") - low
    counts = np.where(np.isfinite(query_x), np.maximum(counts, 0), 0)
    ends = np.cumsum(counts)
    cuts = np.searchsorted(ends, np.arange(_CANDIDATES, int(ends[-1]) if ends.size else 0, _CANDIDATES), side="right")
    for start, stop in zip(np.r_[0, cuts], np.r_[cuts, query_x.size], strict=True):
        if start == stop:
            continue
        n = counts[start:stop]
        query = np.repeat(np.arange(start, stop), n)
        before = ends[start:stop] - n  # candidates of the earlier queries of the block, plus the earlier blocks'
        offset = int(ends[start - 1]) if start else 0
        yield query, np.repeat(low[start:stop] - (before - offset), n) + np.arange(query.size)


def _squared(ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray) -> np.ndarray:
    """``dx·dx + dy·dy`` in float64, the tree's squared Euclidean distance (the same sum, in the same order)."""
    dx, dy = ax - bx, ay - by
    return dx * dx + dy * dy


@attrs.frozen(eq=False)
class SortedPoints:
    """Points of the plane sorted by x (stable): their indices ``order`` and coordinates ``x``, ``y`` in that order.

    Sorted once for the many searches RANSAC makes among one frame's stars.
    """

    order: np.ndarray
    x: np.ndarray
    y: np.ndarray

    @classmethod
    def of(cls, xy: np.ndarray) -> SortedPoints:
        """The points ``xy`` (n, 2) sorted by x."""
        xy = _points(xy)
        order = np.argsort(xy[:, 0], kind="stable")
        return cls(order, np.ascontiguousarray(xy[order, 0]), np.ascontiguousarray(xy[order, 1]))

    def __len__(self) -> int:
        return int(self.order.size)


def _points(xy: np.ndarray) -> np.ndarray:
    """``xy`` as float64 points (n, 2), the tree's coordinates."""
    return np.asarray(xy, dtype=np.float64).reshape(-1, 2)


def close_pairs(xy: np.ndarray, radius: float, p: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays ``(i, j)``, ``i < j``, of the pairs of points ``xy`` (n, 2) within ``radius`` (≤), by ``(i, j)``.

    ``p`` is 2 (Euclidean) or ``inf`` (Chebyshev): the pairs of ``cKDTree(xy).query_pairs(radius, p)``.
    """
    points = SortedPoints.of(xy)
    order, sx, sy = points.order, points.x, points.y
    firsts, seconds = [np.zeros(0, dtype=np.intp)], [np.zeros(0, dtype=np.intp)]
    for query, pos in _x_candidates(sx, sx, radius):
        later = pos > query  # each unordered pair once, no point with itself
        a, b = query[later], pos[later]
        if p == 2.0:
            near = _squared(sx[a], sy[a], sx[b], sy[b]) <= radius * radius
        elif p == np.inf:
            near = np.maximum(np.abs(sx[a] - sx[b]), np.abs(sy[a] - sy[b])) <= radius
        else:
            raise ValueError(f"close_pairs: p = {p} (2 or inf)")
        i, j = order[a[near]], order[b[near]]
        firsts.append(np.minimum(i, j))
        seconds.append(np.maximum(i, j))
    i, j = np.concatenate(firsts), np.concatenate(seconds)
    by_pair = np.lexsort((j, i))
    return i[by_pair], j[by_pair]


def cross_pairs(a: np.ndarray, b: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(i, j, distance)`` of the pairs of a point ``a[i]`` and a point ``b[j]`` within ``radius`` (≤), by ``(i, j)``.

    The entries of ``cKDTree(a).sparse_distance_matrix(cKDTree(b), radius, output_type="ndarray")`` (Euclidean).
    """
    a, points = _points(a), SortedPoints.of(b)
    order, sx, sy = points.order, points.x, points.y
    found = [(np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp), np.zeros(0))]
    for query, pos in _x_candidates(sx, a[:, 0], radius):
        squared = _squared(a[query, 0], a[query, 1], sx[pos], sy[pos])
        near = squared <= radius * radius
        found.append((query[near], order[pos[near]], squared[near]))
    i, j, squared = (np.concatenate(parts) for parts in zip(*found, strict=True))
    by_pair = np.lexsort((j, i))  # the queries come in order, each one's points by x
    return i[by_pair], j[by_pair], np.sqrt(squared[by_pair])


def nearest_within(
    points: np.ndarray | SortedPoints, queries: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(distance, index)`` of each query's nearest point closer than ``radius`` (``inf`` and ``len(points)``
    when there is none), ties to the lower index: ``cKDTree(points).query(queries, k=1,
    distance_upper_bound=radius)``.  Non-finite queries find nothing.

    The same sweep as the pairs', compiled (:func:`processes.kernels.neighbours_nb.nearest_in_sweep`: RANSAC's
    hundreds of thousands of queries).  ``points`` may be a :class:`SortedPoints` made once for many calls.
    """
    from processes.kernels.neighbours_nb import nearest_in_sweep

    points = points if isinstance(points, SortedPoints) else SortedPoints.of(points)
    queries = _points(queries)
    return nearest_in_sweep(points.x, points.y, points.order, np.ascontiguousarray(queries[:, 0]),
                            np.ascontiguousarray(queries[:, 1]), float(radius), _ROUNDING)


def nearest_neighbours(xy: np.ndarray, k: int) -> np.ndarray:
    """Indices (n, k) of the ``k`` (≤ n) nearest points of each point of ``xy`` (n, 2, finite), itself included,
    nearest first, ties by index: the indices of ``cKDTree(xy).query(xy, k)``.

    Brute force, a block of rows at a time: O(n²) distances, for the few hundred stars that build triangles.
    Each row's ``k`` smallest distances are selected (``np.partition``), and only the points at or below the
    ``k``-th are sorted (by distance, then index).
    """
    xy = _points(xy)
    n = len(xy)
    if not 0 < k <= n:
        raise ValueError(f"nearest_neighbours: k = {k} of {n} points")
    if not np.isfinite(xy).all():
        raise ValueError("nearest_neighbours: the points must be finite")
    rows = max(1, _CANDIDATES // n)
    out = np.empty((n, k), dtype=np.intp)
    for start in range(0, n, rows):
        block = xy[start : start + rows]
        squared = _squared(xy[None, :, 0], xy[None, :, 1], block[:, 0, None], block[:, 1, None])
        kth = np.partition(squared, k - 1, axis=1)[:, k - 1, None]
        row, col = np.nonzero(squared <= kth)  # at least k points per row: the k nearest and any tied with the k-th
        ranked = np.lexsort((col, squared[row, col], row))
        row, col = row[ranked], col[ranked]
        firsts = np.searchsorted(row, np.arange(len(block)))
        out[start : start + rows] = col[firsts[:, None] + np.arange(k)]
    return out
