"""Compiled (numba) passes behind :mod:`processes.kernels.noise`, imported only when a noise
estimate of a large plane runs.

:func:`b3_smooth`
    one level of the starlet (à trous) B3-spline smoothing, holes ``step`` apart, mirrored
    edges: the column pass then the row pass, exactly as two ``scipy.ndimage.correlate1d``
    calls in ``mode="mirror"`` compute them (products and sums in float64, the symmetric
    taps paired and added from the outermost in, each pass rounded to the plane's type,
    float32 or float64), so the result is bit-identical; the column pass goes through a one-row
    buffer instead of a full intermediate image.
:func:`mrs_planes`
    ``layers`` levels of the transform in one call, keeping only what the estimators need:
    the first detail layer ``w₁`` (for the k-sigma estimate), the significance
    ``max_j |w_j|/k_j`` (in the plane's type, as the array code formed it) and the signal
    ``image − residual``.
:func:`interval_moments`, :func:`below_moments`, :func:`band_moments`
    count, Σx and Σx² (float64) of the finite values inside an open interval, of the
    values whose significance is below a threshold, or inside a band: one branch-free pass
    per iteration of the k-sigma and MRS loops and of the noise scaling factors, with no
    copies of the selected values.
"""

from __future__ import annotations

import numba
import numpy as np

from processes.kernels.numba_common import mirror

__all__ = [
    "b3_level", "b3_smooth", "band_moments", "below_moments", "interval_moments", "mrs_planes", "subtract_from",
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


@numba.njit(cache=True, nogil=True, inline="always")
def _row_interior(row, lo, hi, step, out_row):  # pragma: no cover - compiled
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
        target[i] = _tap(centre[i], near_a[i], near_b[i], far_a[i], far_b[i])


@numba.njit(cache=True, nogil=True, inline="always")
def _smooth_row(src, y, step, out, row):  # pragma: no cover - compiled
    # row y of the smoothing: the column pass into the buffer ``row``, then the row pass
    height, width = src.shape
    s2 = 2 * step
    ym2 = mirror(y - s2, height)
    ym1 = mirror(y - step, height)
    yp1 = mirror(y + step, height)
    yp2 = mirror(y + s2, height)
    for x in range(width):
        row[x] = _tap(src[y, x], src[ym1, x], src[yp1, x], src[ym2, x], src[yp2, x])
    lo = min(s2, width)
    hi = max(lo, width - s2)
    for x in range(lo):
        out[y, x] = _tap(row[x], row[mirror(x - step, width)], row[mirror(x + step, width)],
                         row[mirror(x - s2, width)], row[mirror(x + s2, width)])
    _row_interior(row, lo, hi, step, out[y])
    for x in range(hi, width):
        out[y, x] = _tap(row[x], row[mirror(x - step, width)], row[mirror(x + step, width)],
                         row[mirror(x - s2, width)], row[mirror(x + s2, width)])


@numba.njit(cache=True, nogil=True)
def b3_smooth(src, step, out, row):  # pragma: no cover - compiled
    """Smooth ``src`` (h, w) into ``out`` with holes ``step`` apart; ``row`` is a buffer of
    ``w`` values; all of the same float type (float32 results are rounded as scipy's are)."""
    for y in range(src.shape[0]):
        _smooth_row(src, y, step, out, row)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def b3_level(src, step, out, row, k, first, w1, significance):  # pragma: no cover - compiled
    """:func:`b3_smooth` fused with the detail layer's significance update (one pass less):
    with ``first`` the detail ``src − out`` goes to ``w1`` and ``|w|/k`` to ``significance``,
    otherwise ``significance`` keeps the maximum."""
    height, width = src.shape
    for y in range(height):
        _smooth_row(src, y, step, out, row)
        # the row's detail coefficients while it is in cache (separate simple loops vectorize)
        src_row = src[y]
        out_row = out[y]
        sig_row = significance[y]
        if first:
            w1_row = w1[y]
            for x in range(width):
                w = src_row[x] - out_row[x]
                w1_row[x] = w
                sig_row[x] = abs(w) / k
        else:
            for x in range(width):
                a = abs(src_row[x] - out_row[x]) / k
                old = sig_row[x]
                sig_row[x] = a if a > old else old


@numba.njit(cache=True, nogil=True)
def mrs_planes(image, layers, coefficients, w1, significance, signal):  # pragma: no cover - compiled
    """Fill ``w1`` (first detail layer), ``significance`` (max_j |w_j| / k_j) and ``signal``
    (image − residual after ``layers`` levels); all (h, w) of the image's float type, and
    ``coefficients`` of that type too."""
    height, width = image.shape
    row = np.empty(width, dtype=image.dtype)
    smooth = np.empty_like(image)
    spare = np.empty_like(image)
    b3_level(image, 1, smooth, row, coefficients[0], True, w1, significance)
    current = smooth
    smooth = spare
    for j in range(1, layers):
        b3_level(current, 1 << j, smooth, row, coefficients[j], False, w1, significance)
        current, smooth = smooth, current
    for y in range(height):
        for x in range(width):
            signal[y, x] = image[y, x] - current[y, x]


@numba.njit(cache=True, nogil=True)
def exclude_outside(image, significance, low, high):  # pragma: no cover - compiled
    """significance ← ∞ where the image value is not inside (low, high): never in the MRS noise set."""
    a = image.ravel()
    s = significance.ravel()
    for i in range(a.size):
        v = a[i]
        if not (v > low and v < high):
            s[i] = np.inf


@numba.njit(cache=True, nogil=True)
def subtract_from(image, residual):  # pragma: no cover - compiled
    """residual ← image − residual, in place: the signal of the MRS estimator."""
    a = image.ravel()
    b = residual.ravel()
    for i in range(b.size):
        b[i] = a[i] - b[i]


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
