"""Compiled (numba) hot spots of StarAlignment's star detection (:mod:`processes.staralignment.stars`).

Each function computes exactly what the numpy/scipy code it replaces computed (same
arithmetic, same rounding), in one compiled pass instead of several full-frame passes:

:func:`median3`
    ``scipy.ndimage.median_filter(plane, size=3, mode="mirror")`` of a float32 plane;
:func:`b3_pass`, :func:`b3_smooth`
    one axis / both axes of the à trous B3 spline smoothing with holes ``step`` apart,
    mirrored edges, float32 accumulation of float64 products (as ``acc += w * padded[...]``
    did);
:func:`label_stats`
    per-structure area, bounding box, peak of the structure map and its position, sum of
    the structure map and peak of the raw plane (what ``ndimage.find_objects``,
    ``maximum``, ``maximum_position``, ``mean`` and ``sum`` gave, in one pass);
:func:`local_maxima`
    pixels of structures that equal the maximum of their 5×5 mirrored neighbourhood
    (``maximum_filter(detail, size=5, mode="mirror") == detail``);
:func:`half_maximum_counts`
    per-structure count of pixels at or above half the structure's peak.

Import this module only when star detection runs (it imports numba).
"""

from __future__ import annotations

import numba
import numpy as np

from processes.kernels.numba_common import int_pair_arrays, mirror

__all__ = ["b3_pass", "b3_smooth", "half_maximum_counts", "label8", "label_stats", "local_maxima", "median3"]

_B3 = (1.0 / 16.0, 4.0 / 16.0, 6.0 / 16.0, 4.0 / 16.0, 1.0 / 16.0)


@numba.njit(cache=True, nogil=True, inline="always")
def _sort2(a, b):
    return min(a, b), max(a, b)


@numba.njit(cache=True, nogil=True, inline="always")
def _median9(p0, p1, p2, p3, p4, p5, p6, p7, p8):
    # Paeth's 19-exchange median-of-9 network
    p1, p2 = _sort2(p1, p2)
    p4, p5 = _sort2(p4, p5)
    p7, p8 = _sort2(p7, p8)
    p0, p1 = _sort2(p0, p1)
    p3, p4 = _sort2(p3, p4)
    p6, p7 = _sort2(p6, p7)
    p1, p2 = _sort2(p1, p2)
    p4, p5 = _sort2(p4, p5)
    p7, p8 = _sort2(p7, p8)
    p0, p3 = _sort2(p0, p3)
    p5, p8 = _sort2(p5, p8)
    p4, p7 = _sort2(p4, p7)
    p3, p6 = _sort2(p3, p6)
    p1, p4 = _sort2(p1, p4)
    p2, p5 = _sort2(p2, p5)
    p4, p7 = _sort2(p4, p7)
    p4, p2 = _sort2(p4, p2)
    p6, p4 = _sort2(p6, p4)
    p4, p2 = _sort2(p4, p2)
    return p4


@numba.njit(cache=True, nogil=True)
def median3(plane):
    """3×3 median of a 2-D float32 plane with mirrored edges (d c b | a b c d | c b a)."""
    height, width = plane.shape
    out = np.empty_like(plane)
    for y in range(height):
        ya = mirror(y - 1, height)
        yb = mirror(y + 1, height)
        ra = plane[ya]
        rc = plane[y]
        rb = plane[yb]
        for x in range(1, width - 1):
            out[y, x] = _median9(ra[x - 1], ra[x], ra[x + 1], rc[x - 1], rc[x], rc[x + 1], rb[x - 1], rb[x], rb[x + 1])
        for x in (0, width - 1):
            xa = mirror(x - 1, width)
            xb = mirror(x + 1, width)
            out[y, x] = _median9(ra[xa], ra[x], ra[xb], rc[xa], rc[x], rc[xb], rb[xa], rb[x], rb[xb])
    return out


_TINY = 2.0**-100
"""Nonzero float32 values at least this large keep every product of :func:`_b3_float32` exact (see there)."""

_W16 = np.float32(1.0 / 16.0)
_W4 = np.float32(4.0 / 16.0)


@numba.njit(cache=True, nogil=True, inline="always")
def _b3(v0, v1, v2, v3, v4):
    """Σ_k w_k·v_k: each product in float64, the running sum rounded to float32 after every term."""
    w0, w1, w2, w3, w4 = _B3
    acc = np.float32(w0 * np.float64(v0))
    acc = np.float32(np.float64(acc) + w1 * np.float64(v1))
    acc = np.float32(np.float64(acc) + w2 * np.float64(v2))
    acc = np.float32(np.float64(acc) + w3 * np.float64(v3))
    return np.float32(np.float64(acc) + w4 * np.float64(v4))


@numba.njit(cache=True, nogil=True, inline="always")
def _b3_float32(v0, v1, v2, v3, v4):
    """:func:`_b3` of float32 values, bit for bit, with float32 arithmetic for the weights 1/16 and 4/16.

    A power-of-two weight times a float32 ``v`` is exact in float32 (unless it falls among the
    subnormals with bits to spare, which no nonzero ``|v| ≥ 2⁻¹⁰⁰`` — :data:`_TINY` — and no value
    formed from such values by one pass does), and rounding the float64 sum of two float32
    values to float32 is rounding their exact sum (53 ≥ 2·24 + 2: double rounding is
    innocuous), so those terms need no conversions; the 6/16 term, 26 bits wide, keeps float64.
    Half the time of :func:`_b3`, which converts 13 times per value.
    """
    acc = v0 * _W16
    acc = acc + v1 * _W4
    acc = np.float32(np.float64(acc) + _B3[2] * np.float64(v2))
    acc = acc + v3 * _W4
    return acc + v4 * _W16


@numba.njit(cache=True, nogil=True, inline="always")
def _b3_taps(v0, v1, v2, v3, v4, fast):
    """:func:`_b3_float32` when ``fast`` (a constant where the callers are compiled), else :func:`_b3`."""
    if fast:
        return _b3_float32(v0, v1, v2, v3, v4)
    return _b3(v0, v1, v2, v3, v4)


@numba.njit(cache=True, nogil=True)
def _float32_exact(plane) -> bool:
    """Whether :func:`_b3_float32` gives :func:`_b3`'s bits on ``plane``: float32, and no nonzero
    value below :data:`_TINY` in magnitude (NaN and infinities are fine)."""
    if not plane.dtype == np.dtype("float32"):  # (numba types ==, not !=, on dtypes)
        return False
    height, width = plane.shape
    for y in range(height):
        row = plane[y]
        tiny = 0
        for x in range(width):  # branch-free: vectorised
            a = abs(row[x])
            tiny += (a < _TINY) & (a != 0.0)
        if tiny:
            return False
    return True


@numba.njit(cache=True, nogil=True, inline="always")
def _column_pass(plane, y, step, o, fast):
    """Row ``y`` of the pass along columns into ``o``."""
    height = plane.shape[0]
    r0 = plane[mirror(y - 2 * step, height)]
    r1 = plane[mirror(y - step, height)]
    r2 = plane[y]
    r3 = plane[mirror(y + step, height)]
    r4 = plane[mirror(y + 2 * step, height)]
    for x in range(o.size):
        o[x] = _b3_taps(r0[x], r1[x], r2[x], r3[x], r4[x], fast)


@numba.njit(cache=True, nogil=True, inline="always")
def _row_pass(r, step, o, fast):
    """The pass along the row ``r`` into ``o``."""
    width = r.size
    lo = min(2 * step, width)
    hi = max(lo, width - 2 * step)
    # interior: shifted views, so that every index is the loop counter (vectorisable)
    a0 = r[lo - 2 * step : hi - 2 * step]
    a1 = r[lo - step : hi - step]
    a2 = r[lo:hi]
    a3 = r[lo + step : hi + step]
    a4 = r[lo + 2 * step : hi + 2 * step]
    oi = o[lo:hi]
    for i in range(hi - lo):
        oi[i] = _b3_taps(a0[i], a1[i], a2[i], a3[i], a4[i], fast)
    # the mirrored edges only (not a test per pixel of the row)
    for x in range(lo):
        o[x] = _b3_mirrored(r, x, step, fast)
    for x in range(hi, width):
        o[x] = _b3_mirrored(r, x, step, fast)


@numba.njit(cache=True, nogil=True, inline="always")
def _b3_mirrored(r, x, step, fast):
    """:func:`_b3_taps` of the taps of ``r`` around ``x``, mirrored at both ends of ``r``."""
    width = r.size
    return _b3_taps(r[mirror(x - 2 * step, width)], r[mirror(x - step, width)], r[x],
                    r[mirror(x + step, width)], r[mirror(x + 2 * step, width)], fast)


@numba.njit(cache=True, nogil=True)
def b3_pass(plane, step, axis):
    """One axis (0: along columns, 1: along rows) of the B3 spline smoothing with holes ``step`` apart.

    ``out = Σ_k w_k·plane[i + (k − 2)·step]`` over k = 0..4 with w = (1, 4, 6, 4, 1)/16, edges
    mirrored; each product is formed in float64 and the running sum rounded to float32
    after every term (numpy's ``acc += w * padded[...]`` on float32 ``acc``).
    """
    height, width = plane.shape
    out = np.empty((height, width), np.float32)
    if (height if axis == 0 else width) == 1:
        out[:, :] = plane
        return out
    for y in range(height):
        if axis == 0:
            _column_pass(plane, y, step, out[y], False)
        else:
            _row_pass(plane[y], step, out[y], False)
    return out


@numba.njit(cache=True, nogil=True)
def b3_smooth(plane, step):
    """Both axes of the B3 smoothing (:func:`b3_pass` along columns, then along rows), one row at a time.

    The same values as ``b3_pass(b3_pass(plane, step, 0), step, 1)`` without the
    intermediate full plane; in float32 arithmetic where that gives the same bits
    (:func:`_float32_exact`, :func:`_b3_float32`).
    """
    height, width = plane.shape
    if height == 1 or width == 1:
        return b3_pass(b3_pass(plane, step, 0), step, 1)
    out = np.empty((height, width), np.float32)
    line = np.empty(width, np.float32)
    if _float32_exact(plane):
        for y in range(height):
            _column_pass(plane, y, step, line, True)
            _row_pass(line, step, out[y], True)
    else:
        for y in range(height):
            _column_pass(plane, y, step, line, False)
            _row_pass(line, step, out[y], False)
    return out


@numba.njit(cache=True, nogil=True)
def label_stats(labels, detail, raw, count):
    """Per-structure statistics of the labels 1..count, index 0 being label 1.

    Returns area (int64), bounding box y0, y1, x0, x1 (half-open), peak of ``detail``
    (float32) and its row and column (the first in raster order on ties), the float64 sum
    of ``detail`` (added in raster order) and the peak of ``raw`` (float32).
    """
    height, width = labels.shape
    area = np.zeros(count, np.int64)
    y0 = np.full(count, height, np.int64)
    y1 = np.zeros(count, np.int64)
    x0 = np.full(count, width, np.int64)
    x1 = np.zeros(count, np.int64)
    peak = np.full(count, -np.inf, np.float32)
    peak_y = np.zeros(count, np.int64)
    peak_x = np.zeros(count, np.int64)
    total = np.zeros(count, np.float64)
    peak_raw = np.full(count, -np.inf, np.float32)
    for y in range(height):
        for x in range(width):
            lab = labels[y, x]
            if lab <= 0:
                continue
            i = lab - 1
            area[i] += 1
            if y < y0[i]:
                y0[i] = y
            if y + 1 > y1[i]:
                y1[i] = y + 1
            if x < x0[i]:
                x0[i] = x
            if x + 1 > x1[i]:
                x1[i] = x + 1
            v = detail[y, x]
            if v > peak[i]:
                peak[i] = v
                peak_y[i] = y
                peak_x[i] = x
            total[i] += np.float64(v)
            r = raw[y, x]
            if r > peak_raw[i]:
                peak_raw[i] = r
    return area, y0, y1, x0, x1, peak, peak_y, peak_x, total, peak_raw


@numba.njit(cache=True, nogil=True)
def local_maxima(detail, labels):
    """(rows, columns) of the structure pixels not exceeded in their 5×5 mirrored neighbourhood."""
    height, width = detail.shape
    ys = []
    xs = []
    for y in range(height):
        for x in range(width):
            if labels[y, x] <= 0:
                continue
            v = detail[y, x]
            is_max = True
            for dy in range(-2, 3):
                row = detail[mirror(y + dy, height)]
                for dx in range(-2, 3):
                    if row[mirror(x + dx, width)] > v:
                        is_max = False
                        break
                if not is_max:
                    break
            if is_max:
                ys.append(y)
                xs.append(x)
    return int_pair_arrays(ys, xs)


@numba.njit(cache=True, nogil=True)
def half_maximum_counts(detail, labels, peak):
    """Per structure (index 0 = label 1): pixels whose ``detail`` ≥ half the structure's ``peak``."""
    height, width = labels.shape
    counts = np.zeros(peak.size, np.int64)
    for y in range(height):
        for x in range(width):
            lab = labels[y, x]
            if lab > 0 and detail[y, x] >= np.float32(0.5) * peak[lab - 1]:
                counts[lab - 1] += 1
    return counts


@numba.njit(cache=True, nogil=True, inline="always")
def _root(parent, a):
    """The root of provisional label ``a`` (path halving; a parent is never larger than its child)."""
    while parent[a] != a:
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a


@numba.njit(cache=True, nogil=True, inline="always")
def _join(parent, a, b):
    """The root of the union of root ``a`` (0: none yet) and the set of label ``b`` (0: background).

    The smaller root becomes the root, so a structure's root is the provisional label of its
    first pixel in raster order.
    """
    if b == 0:
        return a
    b = _root(parent, b)
    if a == 0 or a == b:
        return b
    if b < a:
        parent[a] = b
        return b
    parent[b] = a
    return a


@numba.njit(cache=True, nogil=True)
def label8(values, threshold):
    """``ndimage.label(values > threshold, structure=np.ones((3, 3)))``: 8-connected structures of the
    pixels of a 2-D plane above ``threshold`` (NaN is not), without the frame-sized boolean plane.

    Returns the int32 labels (0: background; structures numbered 1, 2, … in the raster order
    of their first pixel, as scipy numbers them) and their count.  One raster pass gives
    provisional labels and joins those of touching pixels (west, north-west, north,
    north-east) in a union-find whose roots are the smallest labels; a second pass
    renumbers them.
    """
    height, width = values.shape
    labels = np.zeros((height, width), np.int32)
    # a new label needs a background pixel to its west: at most ⌈width / 2⌉ per row
    parent = np.empty(height * ((width + 1) // 2) + 1, np.int32)
    parent[0] = 0
    n = 0
    labelled = np.zeros(height, np.bool_)
    for y in range(height):
        row = values[y]
        out = labels[y]
        up = labels[y - 1] if y > 0 else labels[y]
        for x in range(width):
            if not row[x] > threshold:
                continue
            a = out[x - 1] if x > 0 else 0
            if y > 0:
                if x > 0:
                    a = _join(parent, a, up[x - 1])
                a = _join(parent, a, up[x])
                if x + 1 < width:
                    a = _join(parent, a, up[x + 1])
            elif a != 0:
                a = _root(parent, a)
            if a == 0:
                n += 1
                parent[n] = n
                a = n
            out[x] = a
            labelled[y] = True
    final = np.empty(n + 1, np.int32)
    final[0] = 0
    count = 0
    for i in range(1, n + 1):
        if parent[i] == i:
            count += 1
            final[i] = count
        else:
            final[i] = final[parent[i]]
    if count == n:  # nothing was joined: the provisional labels are the final ones
        return labels, count
    for y in range(height):
        if not labelled[y]:
            continue
        out = labels[y]
        for x in range(width):
            out[x] = final[out[x]]
    return labels, count
