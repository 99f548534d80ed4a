"""Asterism matching: triangle descriptors of star fields, matched by their invariants.

Each star forms triangles with pairs of its nearest neighbours.  A triangle with sides
``a ≥ b ≥ c`` is described by the invariants ``(b/a, c/a)``, unchanged by translation,
rotation, uniform scale *and mirroring*, so matching survives all four.  Its vertices are put
in a canonical order (opposite the longest, the middle and the shortest side), which gives
three star correspondences per matched triangle, and its *orientation* (the sign of the
cross product of two edges, in canonical order) is kept: matched triangles of a mirrored
frame have opposite orientations, so the majority of orientation products is the flip check
(``parity`` −1) that constrains the rigid and similarity fits.

Triangles that are too small (longest side < 4 px), too flat (``c/a`` < 0.1) or nearly
isosceles (their canonical order would be ambiguous under centroid noise) are skipped.
Descriptors are matched within ``tolerance`` (Euclidean distance in invariant space) by
:func:`processes.kernels.neighbours.cross_pairs` (the pairs and distances of
``scipy.spatial.cKDTree.sparse_distance_matrix``, by reference then target triangle);
optional filters keep matches of consistent scale (``useScaleDifferences``) or brightness
order (``useBrightnessRelations``).
"""

from __future__ import annotations

import math
from itertools import combinations

import attrs
import numpy as np

from processes.kernels.neighbours import cross_pairs, nearest_neighbours

__all__ = ["TriangleMatches", "Triangles", "build_triangles", "match_triangles", "neighbours_for", "vote_matrix"]

_MIN_SIDE = 4.0
_MIN_FLATNESS = 0.1
_AMBIGUITY = 0.03


@attrs.frozen(kw_only=True, eq=False)
class Triangles:
    """Triangle descriptors: canonical vertex indices (T, 3), invariants (T, 2),
    orientation (T,) ±1 and longest side (T,)."""

    vertices: np.ndarray
    invariants: np.ndarray
    orientation: np.ndarray
    size: np.ndarray

    def __len__(self) -> int:
        return int(self.vertices.shape[0])


@attrs.frozen(kw_only=True, eq=False)
class TriangleMatches:
    """Matched triangle pairs: reference and target vertex indices (M, 3) in corresponding
    order, the orientation product (M,) (+1 same handedness, −1 mirrored), the scale
    target/reference (M,) and the descriptor distance (M,)."""

    ref: np.ndarray
    tgt: np.ndarray
    parity: np.ndarray
    scale: np.ndarray
    distance: np.ndarray

    def __len__(self) -> int:
        return int(self.ref.shape[0])

    def take(self, index: np.ndarray) -> TriangleMatches:
        """The matches selected by ``index``."""
        return TriangleMatches(
            ref=self.ref[index],
            tgt=self.tgt[index],
            parity=self.parity[index],
            scale=self.scale[index],
            distance=self.distance[index],
        )


def neighbours_for(descriptors_per_star: int) -> int:
    """Neighbours per star so that each star gets about ``descriptors_per_star`` triangles (C(k, 2))."""
    k = 2
    while k * (k - 1) // 2 < descriptors_per_star and k < 12:
        k += 1
    return k


def build_triangles(xy: np.ndarray, neighbours: int = 7) -> Triangles:
    """Triangles of each star with pairs of its ``neighbours`` nearest stars (duplicates removed)."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    n = len(xy)
    empty = Triangles(vertices=np.zeros((0, 3), dtype=np.int64), invariants=np.zeros((0, 2)),
                      orientation=np.zeros(0), size=np.zeros(0))
    if n < 3:
        return empty
    k = min(neighbours, n - 1)
    nearest = nearest_neighbours(xy, k + 1)[:, 1:]  # each star's own index first
    pairs = np.array(list(combinations(range(k), 2)), dtype=np.int64)
    tri = np.concatenate([
        np.repeat(np.arange(n), len(pairs))[:, None],
        nearest[:, pairs[:, 0]].reshape(-1, 1),
        nearest[:, pairs[:, 1]].reshape(-1, 1),
    ], axis=1)
    tri = np.unique(np.sort(tri, axis=1), axis=0)
    tri = tri[(tri[:, 0] != tri[:, 1]) & (tri[:, 1] != tri[:, 2])]
    if len(tri) == 0:
        return empty
    p = xy[tri]  # (T, 3, 2)
    # side opposite vertex i joins the other two
    opp = np.stack([
        np.linalg.norm(p[:, 1] - p[:, 2], axis=1),
        np.linalg.norm(p[:, 2] - p[:, 0], axis=1),
        np.linalg.norm(p[:, 0] - p[:, 1], axis=1),
    ], axis=1)
    order = np.argsort(-opp, axis=1, kind="stable")  # vertex opposite the longest side first
    sides = np.take_along_axis(opp, order, axis=1)
    verts = np.take_along_axis(tri, order, axis=1)
    a, b, c = sides[:, 0], sides[:, 1], sides[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.column_stack([b / a, c / a])
    good = (a >= _MIN_SIDE) & (inv[:, 1] >= _MIN_FLATNESS)
    good &= ((a - b) / a >= _AMBIGUITY) & ((b - c) / a >= _AMBIGUITY)
    verts, inv, a = verts[good], inv[good], a[good]
    q = xy[verts]
    e1, e2 = q[:, 1] - q[:, 0], q[:, 2] - q[:, 0]
    cross = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    return Triangles(vertices=verts, invariants=inv, orientation=np.sign(cross), size=a)


def match_triangles(ref: Triangles, tgt: Triangles, tolerance: float) -> TriangleMatches:
    """All pairs of triangles whose invariants lie within ``tolerance`` of each other, by reference then target
    triangle (RANSAC breaks ties of support in this order)."""
    if len(ref) == 0 or len(tgt) == 0:
        z = np.zeros((0, 3), dtype=np.int64)
        return TriangleMatches(ref=z, tgt=z, parity=np.zeros(0), scale=np.zeros(0), distance=np.zeros(0))
    i, j, distance = cross_pairs(ref.invariants, tgt.invariants, tolerance)
    return TriangleMatches(
        ref=ref.vertices[i],
        tgt=tgt.vertices[j],
        parity=ref.orientation[i] * tgt.orientation[j],
        scale=tgt.size[j] / ref.size[i],
        distance=distance,
    )


def consistent_scale(matches: TriangleMatches, tolerance: float) -> TriangleMatches:
    """Matches whose scale is within relative ``tolerance`` of the dominant (median) scale."""
    if len(matches) == 0:
        return matches
    log_scale = np.log(matches.scale)
    centre = _mode(log_scale, math.log1p(tolerance))
    keep = np.abs(log_scale - centre) <= math.log1p(tolerance)
    return matches.take(np.flatnonzero(keep))


def _mode(values: np.ndarray, width: float) -> float:
    """The centre of the densest window of ``width`` (a robust mode for voting)."""
    v = np.sort(values)
    if v.size == 0:
        return 0.0
    hi = np.searchsorted(v, v + width, side="right")
    best = int(np.argmax(hi - np.arange(v.size)))
    return float(np.median(v[best : hi[best]]))


def consistent_brightness(matches: TriangleMatches, ref_flux: np.ndarray, tgt_flux: np.ndarray) -> TriangleMatches:
    """Matches whose three vertices have the same brightness order in both frames."""
    if len(matches) == 0:
        return matches
    rank_r = np.argsort(np.argsort(-ref_flux[matches.ref], axis=1), axis=1)
    rank_t = np.argsort(np.argsort(-tgt_flux[matches.tgt], axis=1), axis=1)
    return matches.take(np.flatnonzero((rank_r == rank_t).all(axis=1)))


def dominant_parity(matches: TriangleMatches) -> int:
    """+1 when most matched triangles keep their handedness, −1 when most are mirrored."""
    return -1 if float(matches.parity.sum()) < 0 else 1


def vote_matrix(matches: TriangleMatches, n_ref: int, n_tgt: int) -> np.ndarray:
    """Votes (n_ref, n_tgt): how many matched triangles pair reference star i with target star j."""
    votes = np.zeros((n_ref, n_tgt), dtype=np.int64)
    np.add.at(votes, (matches.ref.ravel(), matches.tgt.ravel()), 1)
    return votes
