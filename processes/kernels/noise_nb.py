"""Compiled (numba) passes behind :mod:`processes.kernels.noise`, imported only when a noise
estimate of a large plane runs.

:func:`b3_level`
    one level of the starlet (à trous) B3-spline smoothing, holes ``step`` apart, mirrored
    edges: the column pass then the row pass, exactly as two ``scipy.ndimage.correlate1d``
    calls in ``mode="mirror"`` compute them (products and sums in float64, the symmetric
    taps paired and added from the outermost in, each pass rounded to the plane's type,
    float32 or float64), so the result is bit-identical; the column pass goes through a one-row
    buffer instead of a full intermediate image; fused with the detail layer's significance update.
:func:`first_level`, :func:`mrs_planes`
    ``layers`` levels of the transform in two calls, keeping only what the estimators need
    in two planes: the first level's detail ``w₁`` (for the k-sigma estimate) and smoothing,
    then, in their place, the significance ``max_j |w_j|/k_j`` (in the plane's type, as the
    array code formed it) and the signal ``image − residual``; the later levels stream
    through rings of rows (no further smoothed plane).
:func:`interval_moments`, :func:`below_moments`, :func:`band_moments`
    count, Σx and Σx² (float64) of the finite values inside an open interval, of the
    values whose significance is below a threshold, or inside a band: one branch-free pass
    per iteration of the k-sigma and MRS loops and of the noise scaling factors, with no
    copies of the selected values.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import overload

from processes.kernels.numba_common import mirror

__all__ = [
    "b3_level", "band_moments", "below_moments", "exclude_outside", "first_level", "interval_moments",
    "mrs_planes",
]

_FAST = {"reassoc", "nsz", "contract"}  # reductions may vectorize (order of addition only)
_W_CENTRE = 6.0 / 16.0
_W_NEAR = 4.0 / 16.0
_W_FAR = 1.0 / 16.0


@numba.njit(cache=True, nogil=True, inline="always")
def _tap(c, near_a, near_b, far_a, far_b):  # pragma: no cover - compiled
    # scipy's symmetric correlation: centre·w, then (x[-k] + x[+k])·w_k from the outermost
    # pair inwards (zero-weight holes between the taps add +0 and are skipped)
    acc = np.float64(c) * _W_CENTRE
    acc += (np.float64(far_a) + np.float64(far_b)) * _W_FAR
    acc += (np.float64(near_a) + np.float64(near_b)) * _W_NEAR
    return acc  # rounded to the plane's precision where it is stored


def _to_plane(value, plane):
    """``value`` rounded to the float type of the array ``plane`` (compiled code only)."""
    return plane.dtype.type(value)


@overload(_to_plane, inline="always")
def _to_plane_compiled(value, plane):
    # float32 planes: the pass's float64 result rounded as a store into the plane rounds it
    if plane.dtype == types.float32:
        return lambda value, plane: np.float32(value)
    return lambda value, plane: np.float64(value)


@numba.njit(cache=True, nogil=True, inline="always")
def _row_interior(row, lo, hi, step, out_row, plane):  # pragma: no cover - compiled
    # the five taps as unit-stride windows of the row (separate views vectorize well)
    n = hi - lo
    if n <= 0:
        return
    s2 = 2 * step
    far_a = row[lo - s2 : hi - s2]
    near_a = row[lo - step : hi - step]
    centre = row[lo:hi]
    near_b = row[lo + step : hi + step]
    far_b = row[lo + s2 : hi + s2]
    target = out_row[lo:hi]
    for i in range(n):
        target[i] = _to_plane(_tap(centre[i], near_a[i], near_b[i], far_a[i], far_b[i]), plane)


@numba.njit(cache=True, nogil=True, inline="always")
def _column_pass(centre, near_a, near_b, far_a, far_b, row, plane):  # pragma: no cover - compiled
    # the pass along axis 0 of one row: its five source rows (mirrored), into the buffer ``row``,
    # each value rounded to ``plane``'s type (``row`` may be float64: the rounded values widened)
    for x in range(row.size):
        row[x] = _to_plane(_tap(centre[x], near_a[x], near_b[x], far_a[x], far_b[x]), plane)


@numba.njit(cache=True, nogil=True, inline="always")
def _row_pass(row, step, out_row, plane):  # pragma: no cover - compiled
    # the pass along axis 1 of the column pass's ``row``: mirrored ends, unit-stride interior,
    # rounded to ``plane``'s type
    width = row.size
    s2 = 2 * step
    lo = min(s2, width)
    hi = max(lo, width - s2)
    for x in range(lo):
        out_row[x] = _to_plane(_tap(row[x], row[mirror(x - step, width)], row[mirror(x + step, width)],
                                    row[mirror(x - s2, width)], row[mirror(x + s2, width)]), plane)
    _row_interior(row, lo, hi, step, out_row, plane)
    for x in range(hi, width):
        out_row[x] = _to_plane(_tap(row[x], row[mirror(x - step, width)], row[mirror(x + step, width)],
                                    row[mirror(x - s2, width)], row[mirror(x + s2, width)]), plane)


@numba.njit(cache=True, nogil=True, inline="always")
def _smooth_row(src, y, step, out, row):  # pragma: no cover - compiled
    # row y of the smoothing: the column pass into the buffer ``row``, then the row pass
    height = src.shape[0]
    s2 = 2 * step
    _column_pass(src[y], src[mirror(y - step, height)], src[mirror(y + step, height)],
                 src[mirror(y - s2, height)], src[mirror(y + s2, height)], row, src)
    _row_pass(row, step, out[y], src)


@numba.njit(cache=True, nogil=True, inline="always")
def _detail_row(src_row, out_row, k, first, w1_row, sig_row):  # pragma: no cover - compiled
    # a row's detail coefficients src − out: with ``first`` into ``w1_row`` and |w|/k into
    # ``sig_row``, otherwise ``sig_row`` keeps the maximum (separate simple loops vectorize)
    if first:
        for x in range(src_row.size):
            w = src_row[x] - out_row[x]
            w1_row[x] = w
            sig_row[x] = abs(w) / k
    else:
        for x in range(src_row.size):
            a = abs(src_row[x] - out_row[x]) / k
            old = sig_row[x]
            sig_row[x] = a if a > old else old


@numba.njit(cache=True, nogil=True, error_model="numpy")
def b3_level(src, step, out, row, k, first, w1, significance):  # pragma: no cover - compiled
    """Smooth ``src`` (h, w) into ``out`` with holes ``step`` apart (``row``: a buffer of ``w`` values), fused
    with the detail layer's significance update (one pass less):
    with ``first`` the detail ``src − out`` goes to ``w1`` and ``|w|/k`` to ``significance``,
    otherwise ``significance`` keeps the maximum."""
    for y in range(src.shape[0]):
        _smooth_row(src, y, step, out, row)
        # the row's detail coefficients while it is in cache
        _detail_row(src[y], out[y], k, first, w1[y] if first else w1[0], significance[y])


@numba.njit(cache=True, nogil=True, inline="always")
def _level_row(image, rings, offsets, sizes, level, r):  # pragma: no cover - compiled
    # row r of level ``level`` of the transform: the image (0), or the level-th smoothing, in its ring
    if level == 0:
        return image[r]
    return rings[offsets[level - 1] + r % sizes[level - 1]]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def first_level(image, w1, smooth):  # pragma: no cover - compiled
    """The transform's first level: ``smooth`` the B3 smoothing of ``image`` (holes 1 apart) and ``w1``
    the first detail layer ``image − smooth``, row by row as :func:`b3_level` computes them (the buffer
    between the column and the row pass float64, holding the column pass's rounded values: same bits)."""
    row = np.empty(image.shape[1], dtype=np.float64)
    for y in range(image.shape[0]):
        _smooth_row(image, y, 1, smooth, row)
        image_row = image[y]
        smooth_row = smooth[y]
        w1_row = w1[y]
        for x in range(image_row.size):
            w1_row[x] = image_row[x] - smooth_row[x]


@numba.njit(cache=True, nogil=True, inline="always")
def _significance_row(w1_row, k):  # pragma: no cover - compiled
    # the first level's significance |w₁|/k₁ in place of w₁ (the value _detail_row forms from the same w)
    for x in range(w1_row.size):
        w1_row[x] = abs(w1_row[x]) / k


@numba.njit(cache=True, nogil=True, error_model="numpy")
def mrs_planes(image, layers, coefficients, w1, smooth):  # pragma: no cover - compiled
    """The other ``layers − 1`` levels after :func:`first_level`, in place: ``w1`` (the first detail
    layer) becomes the significance ``max_j |w_j| / k_j`` and ``smooth`` (the first level's smoothing)
    the signal ``image − residual``; all (h, w) of the image's float type, and ``coefficients`` (the
    ``layers`` k_j) of that type too.  Two planes besides the image, not three: the k-sigma estimate
    reads ``w₁`` between the two calls.

    The levels are streamed row by row, each row computed as :func:`b3_level` computes it:
    level j + 1 (holes ``s = 2^j`` apart) makes its row y as soon as level j has made row
    y + 2s, and keeps its rows in a ring of the 4s' + 1 rows the next level's window
    (``s' = 2s``) reads, so no further smoothed plane is written out and every row of the
    significance and the signal is finished while the rows it needs are in cache.  A signal
    row goes into ``smooth`` once the second level no longer reads that row (its window
    reaches 4 rows down): with two levels, the last level's rows wait in a ring of 5.  The
    rings hold every mirrored row a window needs when the plane has more than ``2^layers``
    rows; shorter planes are transformed level by level (:func:`b3_level`).  The buffer between
    the column and the row pass is float64 holding the column pass's values rounded to the
    image's type, so the row pass reads its five taps without converting each (same bits).
    """
    height, width = image.shape
    if layers == 1 or height <= 1 << layers:
        row = np.empty(width, dtype=image.dtype)
        for y in range(height):
            _significance_row(w1[y], coefficients[0])
        current = smooth
        spare = np.empty_like(image)
        for j in range(1, layers):
            b3_level(current, 1 << j, spare, row, coefficients[j], False, w1, w1)
            current, spare = spare, current
        for y in range(height):
            for x in range(width):
                smooth[y, x] = image[y, x] - current[y, x]
        return
    levels = layers - 1  # level i + 1 of the transform (holes 2^(i+1) apart) is level i here
    sizes = np.empty(levels, np.int64)  # ring rows of level i
    offsets = np.empty(levels, np.int64)
    lags = np.empty(levels, np.int64)  # level i makes row t − lags[i] at step t
    total = 0
    for i in range(levels):
        lags[i] = 0 if i == 0 else lags[i - 1] + 2 * (2 << i)
        offsets[i] = total
        sizes[i] = 4 * (4 << i) + 1 if i + 1 < levels else 1 + max(0, 4 - lags[i])
        total += sizes[i]
    delay = sizes[levels - 1] - 1  # steps between the last level's row and its signal row
    last = lags[levels - 1] + delay
    rings = np.empty((total, width), dtype=image.dtype)
    row = np.empty(width, dtype=np.float64)
    for t in range(height + last):
        for i in range(levels):
            y = t - lags[i]
            if y < 0 or y >= height:
                continue
            step = 2 << i
            s2 = 2 * step
            centre = _level_row(smooth, rings, offsets, sizes, i, y)
            _column_pass(centre, _level_row(smooth, rings, offsets, sizes, i, mirror(y - step, height)),
                         _level_row(smooth, rings, offsets, sizes, i, mirror(y + step, height)),
                         _level_row(smooth, rings, offsets, sizes, i, mirror(y - s2, height)),
                         _level_row(smooth, rings, offsets, sizes, i, mirror(y + s2, height)), row, image)
            out_row = rings[offsets[i] + y % sizes[i]]
            _row_pass(row, step, out_row, image)
            if i == 0:
                _significance_row(w1[y], coefficients[0])
            _detail_row(centre, out_row, coefficients[i + 1], False, w1[y], w1[y])
        y = t - last
        if y >= 0:
            residual_row = rings[offsets[levels - 1] + y % sizes[levels - 1]]
            image_row = image[y]
            signal_row = smooth[y]
            for x in range(width):
                signal_row[x] = image_row[x] - residual_row[x]


@numba.njit(cache=True, nogil=True)
def exclude_outside(image, significance, low, high):  # pragma: no cover - compiled
    """significance ← ∞ where the image value is not inside (low, high): never in the MRS noise set."""
    a = image.ravel()
    s = significance.ravel()
    for i in range(a.size):
        v = a[i]
        if not (v > low and v < high):
            s[i] = np.inf


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def interval_moments(values, lo, hi):  # pragma: no cover - compiled
    """(count, Σx, Σx²) of the values with lo < x < hi (NaN never qualifies)."""
    flat = values.ravel()
    n = 0
    s = 0.0
    ss = 0.0
    for i in range(flat.size):
        v = np.float64(flat[i])
        k = (v > lo) & (v < hi)
        d = v if k else 0.0
        n += k
        s += d
        ss += d * d
    return n, s, ss


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def below_moments(significance, signal, threshold):  # pragma: no cover - compiled
    """(count, Σs, Σs²) of ``signal`` where ``significance < threshold`` (compared in the
    planes' precision: pass ``threshold`` as their type)."""
    sig = significance.ravel()
    val = signal.ravel()
    n = 0
    s = 0.0
    ss = 0.0
    for i in range(sig.size):
        k = sig[i] < threshold
        d = np.float64(val[i]) if k else 0.0
        n += k
        s += d
        ss += d * d
    return n, s, ss


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def band_moments(values, lo, hi, open_lo, open_hi, shift):  # pragma: no cover - compiled
    """(count, Σ(x − shift), Σ(x − shift)²) over lo ≤ x ≤ hi and open_lo < x < open_hi."""
    flat = values.ravel()
    n = 0
    s = 0.0
    ss = 0.0
    for i in range(flat.size):
        v = np.float64(flat[i])
        k = (v >= lo) & (v <= hi) & (v > open_lo) & (v < open_hi)
        d = (v - shift) if k else 0.0
        n += k
        s += d
        ss += d * d
    return n, s, ss
