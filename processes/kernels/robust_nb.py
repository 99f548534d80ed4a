"""Compiled (numba) passes behind :mod:`processes.kernels.robust` for large arrays.

Imported only when a large array is measured (``robust`` imports this module lazily), so
``import procfw`` and small measurements never load numba.

Every pass reads a 1-D float array once, with no temporary copies, and skips the samples a
measurement ignores: non-finite values always, and values equal to 0 or 1 when ``clip01``
is set (PixInsight's Statistics without ``unclipped``).

Exact order statistics use a *bracketed selection*: a deterministic strided subsample of
the data (sorted; ~200 000 values) gives a value interval ``[lo, hi]`` that almost surely
holds the wanted ranks; one compiled pass counts the samples below ``lo`` and copies the
few inside the interval into a buffer, and ``np.partition`` of that buffer gives the exact
values.  When the interval misses (a pathological sample) the pass is repeated with the
whole range, which is still exact.  Absolute deviations ``|x − c|`` are computed on the fly
in the array's own precision (float32 for float32 data, as ``robust._abs_dev`` does).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numba
import numpy as np

__all__ = [
    "ChannelMoments", "ChannelSummary", "abs_dev_sum", "bwmv_sums", "channel_moments", "channel_summary",
    "dev_select", "pbmv_sums", "prepare", "select",
]

_SAMPLE = 200_000


# -- compiled passes ------------------------------------------------------------------------
# Each pass walks the array in blocks: a branch-free (vectorizable) loop accumulates the
# sums, extremes and the count below the bracket, then a branch-free compaction loop copies
# the block's values inside the bracket (every value is stored at the current end of the
# buffer, and the end advances only for a candidate; the buffer has one spare slot).
_BLOCK = 4096
_FAST = {"reassoc", "nsz", "contract"}  # lets the float64 sums vectorize (order of addition only)


@numba.njit(cache=True, nogil=True, inline="always")
def _kept_flag(v, clip01):  # pragma: no cover - compiled
    # branch-free :func:`_kept` (finite, and neither 0 nor 1 with ``clip01``), for vectorized loops
    k = (v == v) & (abs(v) < np.inf)
    if clip01:
        k = k & (v != 0) & (v != 1)
    return k


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _moments_block(x, a, b, clip01, shift, lo):  # pragma: no cover - compiled
    n = 0
    s = 0.0
    ss = 0.0
    below = 0
    xs = x[a:b]
    for i in range(b - a):
        v = xs[i]
        k = _kept_flag(v, clip01)
        d = (np.float64(v) - shift) if k else 0.0
        n += k
        s += d
        ss += d * d
        below += k & (v < lo)
    return n, s, ss, below


@numba.njit(cache=True, nogil=True)
def _kept_extremes(x, clip01):  # pragma: no cover - compiled
    """(min, max) of the kept samples (the slow path, when NaN, ±inf, 0 or 1 are present)."""
    mn = np.inf
    mx = -np.inf
    for i in range(x.size):
        v = x[i]
        if _kept(v, clip01):
            if v < mn:
                mn = v
            if v > mx:
                mx = v
    return mn, mx


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _dev_block(x, a, b, clip01, c, c64, lo):  # pragma: no cover - compiled
    n = 0
    total = 0.0
    below = 0
    xs = x[a:b]
    for i in range(b - a):
        v = xs[i]
        k = _kept_flag(v, clip01)
        t = abs(np.float64(v) - c64) if k else 0.0
        n += k
        total += t
        below += k & (abs(v - c) < lo)
    return n, total, below


@numba.njit(cache=True, nogil=True)
def _compact(x, a, b, clip01, dev, c, lo, hi, buf, ncand):  # pragma: no cover - compiled
    """Append the kept values of x[a:b] (or |x − c| with ``dev``) that lie in [lo, hi]."""
    cap = buf.size - 1
    xs = x[a:b]
    for i in range(b - a):
        v = xs[i]
        if dev:
            v = abs(v - c)
        k = (v >= lo) & (v <= hi)
        if clip01:
            w = xs[i]
            k = k & (w != 0) & (w != 1)
        buf[min(ncand, cap)] = v
        ncand += k
    return ncand


@numba.njit(cache=True, nogil=True)
def _moments_select_pass(x, clip01, shift, lo, hi, buf):  # pragma: no cover - compiled
    """Count, shifted sum and sum of squares; count below ``lo``; copy [lo, hi] into ``buf``."""
    n = 0
    s = 0.0
    ss = 0.0
    below = 0
    ncand = 0
    for a in range(0, x.size, _BLOCK):
        b = min(a + _BLOCK, x.size)
        n1, s1, ss1, below1 = _moments_block(x, a, b, clip01, shift, lo)
        n += n1
        s += s1
        ss += ss1
        below += below1
        ncand = _compact(x, a, b, clip01, False, lo, lo, hi, buf, ncand)
    return n, s, ss, below, ncand


@numba.njit(cache=True, nogil=True)
def _select_pass(x, clip01, lo, hi, buf):  # pragma: no cover - compiled
    """Count of kept samples, of those below ``lo``; copy those in [lo, hi] into ``buf``."""
    n, _, _, below, ncand = _moments_select_pass(x, clip01, 0.0, lo, hi, buf)
    return n, below, ncand


@numba.njit(cache=True, nogil=True)
def _dev_select_pass(x, clip01, c, c64, lo, hi, buf):  # pragma: no cover - compiled
    """Σ|x − c| (float64), count; select |x − c| (array precision) as :func:`_select_pass`."""
    n = 0
    total = 0.0
    below = 0
    ncand = 0
    for a in range(0, x.size, _BLOCK):
        b = min(a + _BLOCK, x.size)
        n1, t1, below1 = _dev_block(x, a, b, clip01, c, c64, lo)
        n += n1
        total += t1
        below += below1
        ncand = _compact(x, a, b, clip01, True, c, lo, hi, buf, ncand)
    return n, total, below, ncand


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _summary_block(x, keys, a, b, clip01, shift, lo0, hi0, a_l, b_l, a_r, b_r, sign_shift, magnitude,
                   flags):  # pragma: no cover - compiled
    # sums shifted by ``shift`` (and the part at or above it, for Σ|x − m|), counts below
    # the three windows, min/max as order-preserving integer keys of the bit patterns
    # (integer reductions vectorize; float ones would need a no-NaN assumption), and in
    # ``flags`` which values lie in a window (for the compaction that follows)
    n = 0
    s = 0.0
    ss = 0.0
    s_pos = 0.0
    n_pos = 0
    below0 = 0
    below_l = 0
    below_r = 0
    big = magnitude  # keys of finite values lie strictly inside (−magnitude, magnitude)
    kmin = big
    kmax = -big
    xs = x[a:b]  # unit-stride views from 0 (these vectorize better than offset indices)
    ks = keys[a:b]
    for i in range(b - a):
        v = xs[i]
        k = _kept_flag(v, clip01)
        d = (np.float64(v) - shift) if k else 0.0
        n += k
        s += d
        ss += d * d
        pos = k & (d >= 0.0)
        s_pos += d if pos else 0.0
        n_pos += pos
        below0 += k & (v < lo0)
        below_l += k & (v < a_l)
        below_r += k & (v < a_r)
        key = ks[i]
        key = key ^ ((key >> sign_shift) & magnitude)
        low = key if k else big
        high = key if k else -big
        kmin = low if low < kmin else kmin
        kmax = high if high > kmax else kmax
        inside = ((v >= lo0) & (v <= hi0)) | ((v >= a_l) & (v <= b_l)) | ((v >= a_r) & (v <= b_r))
        flags[i] = k & inside
    return n, s, ss, s_pos, n_pos, below0, below_l, below_r, kmin, kmax


@numba.njit(cache=True, nogil=True)
def _compact_flagged(x, a, b, flags, buf, ncand):  # pragma: no cover - compiled
    """Append x[i] for the flagged i of [a, b) (branch-free)."""
    cap = buf.size - 1
    xs = x[a:b]
    for i in range(b - a):
        buf[min(ncand, cap)] = xs[i]
        ncand += flags[i]
    return ncand


@numba.njit(cache=True, nogil=True)
def _summary_pass(x, keys, clip01, shift, lo0, hi0, a_l, b_l, a_r, b_r, sign_shift, magnitude,
                  buf):  # pragma: no cover - compiled
    n = 0
    s = 0.0
    ss = 0.0
    s_pos = 0.0
    n_pos = 0
    below0 = 0
    below_l = 0
    below_r = 0
    kmin = magnitude
    kmax = -magnitude
    ncand = 0
    flags = np.empty(_BLOCK, dtype=np.uint8)
    for a in range(0, x.size, _BLOCK):
        b = min(a + _BLOCK, x.size)
        r = _summary_block(x, keys, a, b, clip01, shift, lo0, hi0, a_l, b_l, a_r, b_r, sign_shift, magnitude, flags)
        n += r[0]
        s += r[1]
        ss += r[2]
        s_pos += r[3]
        n_pos += r[4]
        below0 += r[5]
        below_l += r[6]
        below_r += r[7]
        kmin = min(kmin, r[8])
        kmax = max(kmax, r[9])
        ncand = _compact_flagged(x, a, b, flags, buf, ncand)
    return n, s, ss, s_pos, n_pos, below0, below_l, below_r, kmin, kmax, ncand


@numba.njit(cache=True, nogil=True)
def _kept(v, clip01):  # pragma: no cover - compiled
    if not np.isfinite(v):
        return False
    if clip01 and (v == 0 or v == 1):
        return False
    return True


@numba.njit(cache=True, nogil=True)
def _bwmv_pass(x, clip01, c, kd):  # pragma: no cover - compiled
    num = 0.0
    den = 0.0
    for i in range(x.size):
        v = x[i]
        if not _kept(v, clip01):
            continue
        d = np.float64(v) - c
        u = d / kd
        u2 = u * u
        if u2 < 1.0:
            w = 1.0 - u2
            w2 = w * w
            num += d * d * (w2 * w2)
            den += w * (1.0 - 5.0 * u2)
    return num, den


@numba.njit(cache=True, nogil=True)
def _pbmv_pass(x, clip01, c, wb):  # pragma: no cover - compiled
    num = 0.0
    den = 0
    for i in range(x.size):
        v = x[i]
        if not _kept(v, clip01):
            continue
        y = (np.float64(v) - c) / wb
        if y > 1.0:
            y = 1.0
        elif y < -1.0:
            y = -1.0
        else:
            if abs(y) < 1.0:
                den += 1
        num += y * y
    return num, den


# -- orchestration --------------------------------------------------------------------------
def prepare(values: np.ndarray) -> np.ndarray:
    """``values`` as a contiguous 1-D native-endian float32/float64 array (no copy if it is one)."""
    x = np.asarray(values).ravel()
    if x.dtype.kind != "f" or x.dtype.itemsize not in (4, 8):
        x = x.astype(np.float64)
    if not x.dtype.isnative:
        x = x.astype(x.dtype.newbyteorder("="))
    return np.ascontiguousarray(x)


def extremes(x: np.ndarray, clip01: bool = False) -> tuple[float, float]:
    """(min, max) of the kept samples: numpy's vectorized reductions, with a compiled masked
    pass only when the raw extremes are not kept samples (NaN, ±inf, or 0/1 with ``clip01``)."""
    x = prepare(x)
    mn, mx = float(x.min()), float(x.max())
    if math.isfinite(mn) and math.isfinite(mx) and not (clip01 and (mn in (0.0, 1.0) or mx in (0.0, 1.0))):
        return mn, mx
    mn, mx = _kept_extremes(x, clip01)
    return float(mn), float(mx)


def _subsample(x: np.ndarray, clip01: bool) -> tuple[np.ndarray, int]:
    """A strided subsample of the kept samples (a copy) and an estimate of their total count."""
    step = max(1, x.size // _SAMPLE)
    sample = x[::step]
    keep = np.isfinite(sample)
    if clip01:
        keep &= (sample != 0) & (sample != 1)
    kept = sample[keep] if not keep.all() else sample.copy()
    n_est = round(x.size * kept.size / sample.size) if sample.size else 0
    return kept, max(n_est, 1)


def _bracket(sample: np.ndarray, q_lo: float, q_hi: float, n_estimate: int) -> tuple[float, float, int]:
    """(lo, hi, buffer capacity) holding the quantiles q_lo..q_hi with near certainty."""
    s = sample.size
    if s < 64:
        return -math.inf, math.inf, n_estimate
    margin = 5.0 * math.sqrt(s * max(q_lo * (1 - q_lo), q_hi * (1 - q_hi), 1.0 / s)) + 4.0 + 0.002 * s
    i_lo = math.floor(q_lo * s - margin)
    i_hi = math.ceil(q_hi * s + margin)
    if i_lo <= 0 and i_hi >= s - 1:
        return -math.inf, math.inf, n_estimate
    lo = float(sample[i_lo]) if i_lo > 0 else -math.inf
    hi = float(sample[i_hi]) if i_hi < s - 1 else math.inf
    fraction = (min(i_hi, s - 1) - max(i_lo, 0) + 1) / s
    capacity = min(n_estimate, int(1.5 * fraction * n_estimate) + 4096)
    return lo, hi, capacity


def _partition_ranks(buf: np.ndarray, below: int, ranks: Sequence[int]) -> list[float]:
    local = sorted({int(r) - below for r in ranks})
    part = np.partition(buf, local)
    return [float(part[int(r) - below]) for r in ranks]


def _inside(below: int, ncand: int, cap: int, ranks: Sequence[int]) -> bool:
    return ncand <= cap and below <= min(ranks) and max(ranks) < below + ncand


def _median_ranks(n: int) -> list[int]:
    return [(n - 1) // 2, n // 2]


def _median_from(ranked: list[float], n: int) -> float:
    lo, hi = ranked
    return (lo + hi) / 2 if n % 2 == 0 else hi


class ChannelMoments:
    """Count, mean, sample variance, minimum, maximum and median of the kept samples."""

    __slots__ = ("count", "maximum", "mean", "median", "minimum", "variance")

    def __init__(self, count: int, mean: float, variance: float, minimum: float, maximum: float,
                 median: float) -> None:
        self.count = count
        self.mean = mean
        self.variance = variance
        self.minimum = minimum
        self.maximum = maximum
        self.median = median


def _reselect(x, clip01, lo, hi, below, ncand, cap, ranks, n, dev_center=None):
    """Repeat a selection pass that missed: with an exact buffer if the bracket held the
    ranks but overflowed the buffer, else over the whole range."""
    dt = x.dtype.type
    if ncand > cap and below <= min(ranks) and max(ranks) < below + ncand:
        buf = np.empty(ncand + 1, dtype=x.dtype)
    else:
        buf = np.empty(n + 1, dtype=x.dtype)
        lo, hi = -math.inf, math.inf
    if dev_center is None:
        _, below, ncand = _select_pass(x, clip01, dt(lo), dt(hi), buf)
    else:
        _, _, below, ncand = _dev_select_pass(x, clip01, dt(dev_center), float(dev_center), dt(lo), dt(hi),
                                             buf)
    return buf[:ncand], below


def channel_moments(x: np.ndarray, clip01: bool) -> ChannelMoments:
    """One pass (two if the bracket misses): count, mean, variance (n − 1), min, max, median."""
    x = prepare(x)
    sample, n_est = _subsample(x, clip01)
    sample.sort()
    shift = float(sample[sample.size // 2]) if sample.size else 0.0
    lo, hi, cap = _bracket(sample, 0.5, 0.5, x.size)
    dt = x.dtype.type
    buf = np.empty(cap + 1, dtype=x.dtype)
    n, s, ss, below, ncand = _moments_select_pass(x, clip01, shift, dt(lo), dt(hi), buf)
    if n == 0:
        return ChannelMoments(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    mn, mx = extremes(x, clip01)
    ranks = _median_ranks(n)
    if _inside(below, ncand, cap, ranks):
        cand = buf[:ncand]
    else:
        cand, below = _reselect(x, clip01, lo, hi, below, ncand, cap, ranks, n)
    med = _median_from(_partition_ranks(cand, below, ranks), n)
    mean_shift = s / n
    variance = max(ss - s * mean_shift, 0.0) / (n - 1) if n > 1 else 0.0
    return ChannelMoments(n, shift + mean_shift, variance, float(mn), float(mx), med)


class ChannelSummary(ChannelMoments):
    """:class:`ChannelMoments` plus the mean and the median absolute deviation from the median."""

    __slots__ = ("avg_dev", "mad")

    def __init__(self, moments: ChannelMoments, avg_dev: float, mad: float) -> None:
        super().__init__(moments.count, moments.mean, moments.variance, moments.minimum, moments.maximum,
                         moments.median)
        self.avg_dev = avg_dev
        self.mad = mad


def _from_key(key: int, dtype: np.dtype) -> float:
    """The float whose order-preserving integer key is ``key`` (inverse of the kernel's map)."""
    bits = 8 * dtype.itemsize
    magnitude = (1 << (bits - 1)) - 1
    key = int(key)
    raw = key ^ magnitude if key < 0 else key
    itype = np.int32 if bits == 32 else np.int64
    return float(np.array([raw], dtype=itype).view(dtype)[0])  # raw is within the signed range


def _window(sample: np.ndarray, value: float) -> tuple[float, float, float]:
    """A value window [a, b] around ``value`` holding its sample quantile with near certainty,
    and the fraction of the sample inside it."""
    s = sample.size
    i = int(np.searchsorted(sample, value))
    q = min(max(i / s, 1.0 / s), 1 - 1.0 / s)
    margin = 5.0 * math.sqrt(s * q * (1 - q)) + 4.0 + 0.002 * s
    i_lo, i_hi = math.floor(i - margin), math.ceil(i + margin)
    a = float(sample[i_lo]) if i_lo > 0 else -math.inf
    b = float(sample[i_hi]) if i_hi < s - 1 else math.inf
    return a, b, (min(i_hi, s - 1) - max(i_lo, 0) + 1) / s


def channel_summary(x: np.ndarray, clip01: bool) -> ChannelSummary:
    """Count, mean, variance, extremes, median, avgDev and MAD, usually in one pass.

    Besides the median's bracket, the pass collects the samples in two windows around
    ``median ∓ MAD`` as estimated from the subsample, and the sums above and below the
    subsample median.  Once the exact median ``c`` is known, every sample strictly between
    the windows is closer to ``c`` than any window sample that can be the MAD, and every
    sample outside them is farther, so the MAD is an order statistic of the window samples'
    deviations; Σ|x − median| follows from the split sums and the bracket samples between
    the two medians.  When the windows cannot be trusted (they overlap, or the MAD falls
    outside them) a second pass selects the MAD directly; either way the values are exact.
    """
    x = prepare(x)
    sample, _ = _subsample(x, clip01)
    sample.sort()
    if sample.size < 64:
        return _two_pass_summary(x, clip01)
    shift = float(sample[sample.size // 2])
    lo0, hi0, _ = _bracket(sample, 0.5, 0.5, x.size)
    mad_est = float(np.median(np.abs(sample - sample.dtype.type(shift))))
    a_l, b_l, f_l = _window(sample, shift - mad_est)
    a_r, b_r, f_r = _window(sample, shift + mad_est)
    if not (mad_est > 0 and b_l < lo0 and hi0 < a_r):
        return _two_pass_summary(x, clip01)
    f0 = 1.0 - (sample.size - 1 - np.searchsorted(sample, hi0, "right") + np.searchsorted(sample, lo0)) / sample.size
    cap = min(x.size, int(1.5 * (f0 + f_l + f_r) * x.size) + 4096)
    dt = x.dtype.type
    buf = np.empty(cap + 1, dtype=x.dtype)
    itype = np.int32 if x.dtype.itemsize == 4 else np.int64
    sign_shift = 8 * x.dtype.itemsize - 1
    n, s, ss, s_pos, n_pos, below0, below_l, below_r, kmin, kmax, ncand = _summary_pass(
        x, x.view(itype), clip01, shift, dt(lo0), dt(hi0), dt(a_l), dt(b_l), dt(a_r), dt(b_r), itype(sign_shift),
        itype((1 << sign_shift) - 1), buf)
    if n == 0:
        return ChannelSummary(ChannelMoments(0, 0.0, 0.0, 0.0, 0.0, 0.0), 0.0, 0.0)
    if ncand > cap:
        return _two_pass_summary(x, clip01)
    cand = buf[:ncand]
    ranks = _median_ranks(n)
    in0 = cand[(cand >= dt(lo0)) & (cand <= dt(hi0))]
    if not _inside(below0, in0.size, in0.size, ranks):
        return _two_pass_summary(x, clip01)
    med = _median_from(_partition_ranks(in0, below0, ranks), n)
    mean_shift = s / n
    variance = max(ss - s * mean_shift, 0.0) / (n - 1) if n > 1 else 0.0
    moments = ChannelMoments(n, shift + mean_shift, variance, _from_key(kmin, x.dtype), _from_key(kmax, x.dtype),
                             med)
    # Σ|x − med| from the sums split at ``shift``, corrected over the samples between the medians
    delta = med - shift
    n_neg = n - n_pos
    s_neg = s - s_pos
    total = (s_pos - n_pos * delta) - (s_neg - n_neg * delta)
    between = in0[(in0 >= dt(shift)) & (in0 < med)] if delta > 0 else in0[(in0 >= med) & (in0 < dt(shift))]
    total += 2.0 * float(np.abs(between.astype(np.float64) - med).sum())
    # the MAD from the window samples
    c32 = dt(med)
    c = float(c32)
    t1 = max(c - b_l, a_r - c)
    t2 = min(c - a_l, b_r - c)
    window = cand[((cand >= dt(a_l)) & (cand <= dt(b_l))) | ((cand >= dt(a_r)) & (cand <= dt(b_r)))]
    n_left = int(np.count_nonzero(window <= dt(b_l)))
    middle = below_r - below_l - n_left
    distance = np.abs(window.astype(np.float64) - c)
    closer = middle + int(np.count_nonzero(distance < t1))
    pick = window[(distance >= t1) & (distance <= t2)]
    if not (b_l < c < a_r and t1 <= t2 and _inside(closer, pick.size, pick.size, ranks)):
        n2, total2, (mad,) = dev_select(x, med, clip01=clip01)
        return ChannelSummary(moments, total2 / n2, mad)
    devs = np.abs(pick - c32)
    mad = _median_from(_partition_ranks(devs, closer, ranks), n)
    return ChannelSummary(moments, total / n, mad)


def _two_pass_summary(x: np.ndarray, clip01: bool) -> ChannelSummary:
    moments = channel_moments(x, clip01)
    if moments.count == 0:
        return ChannelSummary(moments, 0.0, 0.0)
    n, total, (mad,) = dev_select(x, moments.median, clip01=clip01)
    return ChannelSummary(moments, total / n, mad)


def select(x: np.ndarray, ranks: Sequence[int], clip01: bool = False) -> list[float]:
    """Exact order statistics of 0-based ``ranks`` among the kept samples of ``x``."""
    x = prepare(x)
    ranks = [int(r) for r in ranks]
    sample, n_est = _subsample(x, clip01)
    sample.sort()
    q = [min(1.0, r / n_est) for r in ranks]
    lo, hi, cap = _bracket(sample, min(q), max(q), x.size)
    dt = x.dtype.type
    buf = np.empty(cap + 1, dtype=x.dtype)
    n, below, ncand = _select_pass(x, clip01, dt(lo), dt(hi), buf)
    if not ranks or min(ranks) < 0 or max(ranks) >= n:
        raise ValueError(f"ranks {ranks} out of range for {n} values")
    if _inside(below, ncand, cap, ranks):
        cand = buf[:ncand]
    else:
        cand, below = _reselect(x, clip01, lo, hi, below, ncand, cap, ranks, n)
    return _partition_ranks(cand, below, ranks)


def dev_select(x: np.ndarray, center: float, ranks_of: str | Sequence[int] = "median",
               clip01: bool = False) -> tuple[int, float, list[float]]:
    """``(count, Σ|x − center|, order statistics of |x − center|)`` in one pass (two on a miss).

    ``ranks_of="median"`` selects the two middle ranks (returned as ``[median]``); otherwise
    the 0-based ranks given.  Σ is accumulated in float64; the deviations that are ranked
    are computed in the array's precision.
    """
    x = prepare(x)
    dt = x.dtype.type
    c = dt(center)
    sample, n_est = _subsample(x, clip01)
    sample = np.abs(sample - c)
    sample.sort()
    if isinstance(ranks_of, str):
        q_lo = q_hi = 0.5
    else:
        q = [min(1.0, int(r) / n_est) for r in ranks_of]
        q_lo, q_hi = min(q), max(q)
    lo, hi, cap = _bracket(sample, q_lo, q_hi, x.size)
    buf = np.empty(cap + 1, dtype=x.dtype)
    n, total, below, ncand = _dev_select_pass(x, clip01, c, float(center), dt(lo), dt(hi), buf)
    if n == 0:
        return 0, 0.0, []
    ranks = _median_ranks(n) if isinstance(ranks_of, str) else [int(r) for r in ranks_of]
    if not ranks or min(ranks) < 0 or max(ranks) >= n:
        raise ValueError(f"ranks {ranks} out of range for {n} values")
    if _inside(below, ncand, cap, ranks):
        cand = buf[:ncand]
    else:
        cand, below = _reselect(x, clip01, lo, hi, below, ncand, cap, ranks, n, dev_center=center)
    ranked = _partition_ranks(cand, below, ranks)
    if isinstance(ranks_of, str):
        return n, total, [_median_from(ranked, n)]
    return n, total, ranked


@numba.njit(cache=True, nogil=True)
def _abs_dev_pass(x, c):  # pragma: no cover - compiled
    total = 0.0
    for i in range(x.size):
        v = x[i]
        if np.isfinite(v):
            total += abs(np.float64(v) - c)
    return total


def abs_dev_sum(x: np.ndarray, center: float) -> float:
    """Σ|x − center| over the finite samples, in float64."""
    return float(_abs_dev_pass(prepare(x), float(center)))


def bwmv_sums(x: np.ndarray, center: float, kd: float, clip01: bool = False) -> tuple[float, float]:
    """(Σ d²(1−u²)⁴, Σ (1−u²)(1−5u²)) over |u| < 1, u = (x − center)/kd (float64)."""
    return _bwmv_pass(prepare(x), clip01, float(center), float(kd))


def pbmv_sums(x: np.ndarray, center: float, wb: float, clip01: bool = False) -> tuple[float, int]:
    """(Σ ψ(y)², #{|y| < 1}) with y = (x − center)/wb and ψ clipping to [−1, 1] (float64)."""
    num, den = _pbmv_pass(prepare(x), clip01, float(center), float(wb))
    return float(num), int(den)
