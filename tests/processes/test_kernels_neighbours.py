"""processes.kernels.neighbours against scipy.spatial.cKDTree: the same pairs, neighbours, distances and counts.

Point sets are drawn as floats, as integers on a small grid (many equal distances, duplicates and
pairs exactly at the radius) and as either with repeated points.  Where the tree's answer depends
on its layout (which of several points at the same distance it names, the order of its pairs),
the functions answer canonically (the lower index, pairs by index) and the tests check that the
tree's answer is one of the equally good ones.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree

from processes.kernels.neighbours import SortedPoints, close_pairs, cross_pairs, nearest_neighbours, nearest_within

RADII = (0.0, 0.5, 1.0, math.sqrt(2.0), 2.0, 2.5, 3.0, 7.0)
"""Radii that fall exactly on distances of grid points (0, 1, √2, 2, 3) and between them."""


@st.composite
def point_sets(draw, min_size: int = 0, max_size: int = 80) -> np.ndarray:
    """(n, 2) float64 points: uniform floats, integers on a small grid, or either with some points repeated."""
    n = draw(st.integers(min_size, max_size))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["floats", "grid", "fine grid"]))
    if kind == "floats":
        xy = rng.uniform(-5.0, 40.0, (n, 2))
    elif kind == "grid":
        xy = rng.integers(0, 12, (n, 2)).astype(np.float64)
    else:
        xy = rng.integers(0, 80, (n, 2)) / 8.0
    if n and draw(st.booleans()):  # duplicates
        xy[rng.integers(0, n, n // 3)] = xy[rng.integers(0, n, n // 3)]
    return xy


def _squared(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All squared distances (len(a), len(b)) with the tree's arithmetic."""
    dx = b[None, :, 0] - a[:, None, 0]
    dy = b[None, :, 1] - a[:, None, 1]
    return dx * dx + dy * dy


@settings(max_examples=150, deadline=None)
@given(xy=point_sets(), radius=st.sampled_from(RADII), p=st.sampled_from([2.0, np.inf]))
def test_close_pairs_are_the_query_pairs(xy: np.ndarray, radius: float, p: float) -> None:
    i, j = close_pairs(xy, radius, p)
    want = cKDTree(xy).query_pairs(radius, p=p, output_type="ndarray") if len(xy) else np.zeros((0, 2), int)
    want = want[np.lexsort((want[:, 1], want[:, 0]))]
    np.testing.assert_array_equal(np.column_stack([i, j]), want)
    assert (i < j).all()


@settings(max_examples=150, deadline=None)
@given(a=point_sets(min_size=1), b=point_sets(min_size=1), radius=st.sampled_from(RADII))
def test_cross_pairs_are_the_sparse_distance_matrix(a: np.ndarray, b: np.ndarray, radius: float) -> None:
    i, j, distance = cross_pairs(a, b, radius)
    want = cKDTree(a).sparse_distance_matrix(cKDTree(b), radius, output_type="ndarray")
    want = want[np.lexsort((want["j"], want["i"]))]
    np.testing.assert_array_equal(i, want["i"])
    np.testing.assert_array_equal(j, want["j"])
    assert distance.tobytes() == want["v"].astype(np.float64).tobytes()  # bit for bit


@settings(max_examples=150, deadline=None)
@given(points=point_sets(min_size=1), queries=point_sets(), radius=st.sampled_from(RADII[1:]),
       shift=st.sampled_from([0.0, 0.5, 1e-3]))
def test_nearest_within_is_the_bounded_query(points: np.ndarray, queries: np.ndarray, radius: float,
                                             shift: float) -> None:
    queries = queries + shift  # on the grid (ties, distances exactly at the radius) or just off it
    distance, index = nearest_within(points, queries, radius)
    want_distance, want_index = cKDTree(points).query(queries, k=1, distance_upper_bound=radius)
    assert distance.tobytes() == want_distance.tobytes()
    squared = _squared(queries, points)
    for q in range(len(queries)):
        if not math.isfinite(distance[q]):
            assert index[q] == want_index[q] == len(points)
            continue
        tied = np.flatnonzero(squared[q] == squared[q, index[q]])
        assert index[q] == tied[0]  # the lowest index of the nearest points
        assert want_index[q] in tied  # the tree names one of them
    assert np.array_equal(nearest_within(SortedPoints.of(points), queries, radius)[1], index)


def test_nearest_within_finds_nothing_for_non_finite_queries_or_no_points() -> None:
    points = np.array([[0.0, 0.0], [1.0, 1.0]])
    queries = np.array([[np.nan, 0.0], [0.0, np.inf], [-np.inf, 0.0], [np.inf, np.nan], [1.0, 1.5]])
    distance, index = nearest_within(points, queries, 2.0)
    np.testing.assert_array_equal(index, [2, 2, 2, 2, 1])
    np.testing.assert_array_equal(distance, [np.inf] * 4 + [0.5])
    distance, index = nearest_within(np.zeros((0, 2)), queries, 2.0)
    assert np.isinf(distance).all() and (index == 0).all()


@settings(max_examples=150, deadline=None)
@given(xy=point_sets(min_size=1), k=st.integers(1, 9))
def test_nearest_neighbours_are_the_k_nearest_query(xy: np.ndarray, k: int) -> None:
    k = min(k, len(xy))
    got = nearest_neighbours(xy, k)
    want_distance, want_index = cKDTree(xy).query(xy, k=k)
    want_distance, want_index = want_distance.reshape(len(xy), k), want_index.reshape(len(xy), k)
    squared = _squared(xy, xy)
    rows = np.arange(len(xy))[:, None]
    assert np.sqrt(squared[rows, got]).tobytes() == want_distance.tobytes()  # the same distances, nearest first
    for row in range(len(xy)):  # ties by index; the tree's choice among ties is one of the same points
        key = squared[row, got[row]]
        assert ((np.diff(key) > 0) | ((np.diff(key) == 0) & (np.diff(got[row]) > 0))).all()
        np.testing.assert_array_equal(np.sort(squared[row, want_index[row]]), key)
        inside = squared[row] < key[-1]  # strictly nearer than the k-th: the same points, whatever the ties
        assert set(got[row][key < key[-1]]) == set(np.flatnonzero(inside)) == set(want_index[row][key < key[-1]])


def test_nearest_neighbours_of_distinct_points_are_the_trees() -> None:
    """Stars are at least a pixel apart: every point is its own nearest, and the tree's lists are met exactly."""
    rng = np.random.default_rng(5)
    xy = rng.uniform(0, 1000, (300, 2))
    np.testing.assert_array_equal(nearest_neighbours(xy, 8), cKDTree(xy).query(xy, k=8)[1])
    np.testing.assert_array_equal(nearest_neighbours(xy, 8)[:, 0], np.arange(300))
    with pytest.raises(ValueError, match="k = 301 of 300"):
        nearest_neighbours(xy, 301)


def test_large_sets_are_searched_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of candidate pairs (bounded memory) and of brute-force rows give the answers of one block."""
    from processes.kernels import neighbours

    rng = np.random.default_rng(11)
    xy = rng.integers(0, 200, (3000, 2)) / 4.0
    whole = close_pairs(xy, 1.0), cross_pairs(xy[:500], xy, 1.0), nearest_neighbours(xy[:300], 6)
    monkeypatch.setattr(neighbours, "_CANDIDATES", 1000)
    for got, want in zip((close_pairs(xy, 1.0), cross_pairs(xy[:500], xy, 1.0), nearest_neighbours(xy[:300], 6)),
                         whole, strict=True):
        for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,),
                        strict=True):
            assert g.tobytes() == w.tobytes()
    pairs = cKDTree(xy).query_pairs(1.0, output_type="ndarray")
    assert len(whole[0][0]) == len(pairs) > 1000


def test_far_queries_find_nothing_without_testing_every_point() -> None:
    """Mapped stars of a wild hypothesis land ~1e300 px away: the window in x stays ``radius`` wide there."""
    points = np.random.default_rng(2).uniform(0, 100, (50, 2))
    queries = np.array([[1e300, 5.0], [-1e300, 5.0], [5.0, 1e300], [1e15, 1e15]])
    distance, index = nearest_within(points, queries, 2.0)
    assert np.isinf(distance).all() and (index == 50).all()


def test_star_alignment_searches_import_no_scipy_spatial() -> None:
    """Detecting, matching and registering stars (a fresh interpreter) never imports scipy.spatial."""
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from processes.staralignment.engine import align_stars\n"
            "from processes.staralignment.stars import StarList\n"
            "rng = np.random.default_rng(3)\n"
            "xy = rng.uniform(0, 1000, (80, 2))\n"
            "moved = xy @ np.array([[0.999, -0.02], [0.02, 0.999]]).T + [3.5, -2.25]\n"
            "stars = lambda p: StarList(x=p[:, 0], y=p[:, 1], flux=np.linspace(2, 1, 80), peak=np.ones(80),\n"
            "    background=np.zeros(80), size=np.ones(80), fwhm=np.ones(80), width=1000, height=1000)\n"
            "reg = align_stars(stars(xy), stars(moved))\n"
            "print(reg.inliers, [m for m in ('scipy.spatial', 'scipy.sparse') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.split("\n")[0] == "80 []", done.stdout + done.stderr
