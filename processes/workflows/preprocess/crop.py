"""The area every registered frame covers, for cropping an integrated master to it.

Registration resamples each frame onto the reference frame's grid and leaves zeros where
the frame has no data (:mod:`processes.staralignment`): integrated, those borders become
ragged strips where fewer frames — in colour, different frames per channel — contribute.
:func:`common_area` finds the axis-aligned rectangle of the reference grid that every
frame covers, from the registration matrices alone (no pixels are read), as WBPP's
auto-crop does with its integrated coverage.

A frame's matrix ``H`` maps a reference pixel ``(x, y)`` to the frame's coordinates
``(u, v) = (H·[x, y, 1])`` (projectively); the pixel is covered when ``(u, v)`` lies within
the frame, ``−0.5 ≤ u ≤ width − 0.5`` and ``−0.5 ≤ v ≤ height − 0.5`` — the test the warp
itself applies.  For a fixed row ``y`` each of those conditions (multiplied by the positive
denominator) is linear in ``x``, so a frame covers one interval of columns per row; the
common area's intervals are their intersection.  The area is convex, so its left edge is
a convex function of the row and its right edge a concave one, and the extremes of either
over a band of rows lie at the band's first or last row: the largest rectangle is found
over every band in one vectorized pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs
import numpy as np

__all__ = ["Rectangle", "common_area", "covered_columns"]


@attrs.frozen
class Rectangle:
    """Columns ``x0 .. x1 − 1`` and rows ``y0 .. y1 − 1`` of an image."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        """Columns in the rectangle."""
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        """Rows in the rectangle."""
        return self.y1 - self.y0


def _bounds(a: np.ndarray, b: np.ndarray, low: np.ndarray, high: np.ndarray) -> None:
    """Narrow ``[low, high]`` (per row) to the ``x`` with ``a·x + b ≥ 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        root = -b / a
    rising, falling = a > 0, a < 0
    np.maximum(low, np.where(rising, root, -np.inf), out=low)
    np.minimum(high, np.where(falling, root, np.inf), out=high)
    flat_and_false = ~rising & ~falling & (b < 0)
    high[flat_and_false] = -np.inf


def covered_columns(
    matrix: Sequence[Sequence[float]], source_size: tuple[int, int], size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Per row ``y`` of a ``size = (width, height)`` reference grid, the first and last column that
    a frame of ``source_size = (width, height)`` registered with ``matrix`` covers (first > last:
    none)."""
    h = np.asarray(matrix, dtype=np.float64).reshape(3, 3)
    width, height = size
    src_w, src_h = source_size
    y = np.arange(height, dtype=np.float64)
    d_a, d_b = h[2, 0], h[2, 1] * y + h[2, 2]  # denominator: d_a·x + d_b
    low = np.zeros(height)
    high = np.full(height, float(width - 1))
    _bounds(np.full(height, d_a), d_b - 1e-12, low, high)  # d > 0
    for row, limit in ((0, src_w), (1, src_h)):
        n_a, n_b = h[row, 0], h[row, 1] * y + h[row, 2]  # numerator: n_a·x + n_b
        _bounds(np.full(height, n_a + 0.5 * d_a), n_b + 0.5 * d_b, low, high)  # u ≥ −0.5
        _bounds(np.full(height, (limit - 0.5) * d_a - n_a), (limit - 0.5) * d_b - n_b, low, high)  # u ≤ w − 0.5
    return np.ceil(low - 1e-9), np.floor(high + 1e-9)


def common_area(
    frames: Iterable[tuple[Sequence[Sequence[float]], tuple[int, int]]], size: tuple[int, int]
) -> Rectangle | None:
    """The largest axis-aligned rectangle of the ``size = (width, height)`` reference grid that
    every frame — ``(matrix, source size)`` — covers; None when they share no pixel."""
    width, height = size
    first = np.zeros(height)
    last = np.full(height, float(width - 1))
    for matrix, source_size in frames:
        lo, hi = covered_columns(matrix, source_size, size)
        np.maximum(first, lo, out=first)
        np.minimum(last, hi, out=last)
    rows = np.flatnonzero(last >= first)
    if rows.size == 0:
        return None
    top, bottom = int(rows[0]), int(rows[-1])  # convex: the covered rows are contiguous
    first, last = first[top : bottom + 1], last[top : bottom + 1]
    best, found = 0.0, None
    # every band of rows [i, j], j >= i: its columns are bounded at its first or last row (a chunk of i at a
    # time, with the j from the chunk's first i on: the first largest area in (i, j) order wins, as before)
    for start in range(0, first.size, _BAND_CHUNK):
        i = np.arange(start, min(start + _BAND_CHUNK, first.size))[:, None]
        j = np.arange(start, first.size)[None, :]
        left = np.maximum(first[i], first[j])
        right = np.minimum(last[i], last[j])
        area = np.where(j >= i, (j - i + 1) * np.maximum(right - left + 1, 0), 0)
        k = int(np.argmax(area))
        a, b = divmod(k, j.size)
        if area.flat[k] > best:
            best = float(area.flat[k])
            found = Rectangle(int(left[a, b]), top + start + a, int(right[a, b]) + 1, top + start + b + 1)
    return found


_BAND_CHUNK = 256
"""Rows of band starts examined at once (memory: a few arrays of this × the image's rows)."""
