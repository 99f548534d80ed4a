"""Compiled (numba) passes behind :mod:`processes._kernels.robust` for large arrays.

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
    "ChannelMoments", "abs_dev_sum", "bwmv_sums", "channel_moments", "dev_select", "pbmv_sums", "prepare", "select",
]

_SAMPLE = 200_000


# -- compiled passes ------------------------------------------------------------------------
# Each pass walks the array in blocks: a branch-free (vectorizable) loop accumulates the
# sums, extremes and the count below the bracket, then a branch-free compaction loop copies
# the block's values inside the bracket (every value is stored at the current end of the
# buffer, and the end advances only for a candidate; the buffer has one spare slot).
_BLOCK = 4096
_FAST = {"reassoc", "nsz", "contract"}  # lets the float64 sums vectorize (order of addition only)


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _moments_block(x, a, b, clip01, shift, lo):  # pragma: no cover - compiled
    n = 0
    s = 0.0
    ss = 0.0
    below = 0
    for i in range(a, b):
        v = x[i]
        k = (v == v) & (abs(v) < np.inf)
        if clip01:
            k = k & (v != 0) & (v != 1)
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
    for i in range(a, b):
        v = x[i]
        k = (v == v) & (abs(v) < np.inf)
        if clip01:
            k = k & (v != 0) & (v != 1)
        t = abs(np.float64(v) - c64) if k else 0.0
        n += k
        total += t
        below += k & (abs(v - c) < lo)
    return n, total, below


@numba.njit(cache=True, nogil=True)
def _compact(x, a, b, clip01, dev, c, lo, hi, buf, ncand):  # pragma: no cover - compiled
    """Append the kept values of x[a:b] (or |x − c| with ``dev``) that lie in [lo, hi]."""
    cap = buf.size - 1
    for i in range(a, b):
        v = x[i]
        if dev:
            v = abs(v - c)
        k = (v >= lo) & (v <= hi)
        if clip01:
            w = x[i]
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
