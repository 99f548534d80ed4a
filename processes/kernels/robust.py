"""Robust statistics on numpy arrays (location and scale estimators used by processes).

Estimators return *raw* values, as PixInsight's PCL does; the normalization factors that
make a scale estimator consistent with the standard deviation of a normal distribution
are the ``*_TO_SIGMA`` constants below.  Every estimator ignores non-finite values.

Definitions follow PCL (pcl/Math.h) so that numbers agree with PixInsight:

* ``median``: the middle order statistic; the mean of the two middle ones for even n.
* ``mad``: median of |x − median|.   ``avg_dev``: mean of |x − median|.
* ``bwmv``: biweight midvariance with k = 9 and the raw MAD as the reference scale,
  ``n·Σ d²(1−u²)⁴ / (Σ (1−u²)(1−5u²))²`` over |u| < 1, u = d/(k·MAD) (Wilcox 2012, 3.12.1).
* ``pbmv``: percentage bend midvariance with β = 0.2 (Wilcox 2012, 3.12.3), bend point
  taken as PCL does (0-based order statistic ⌊(1−β)n + 0.5⌋ of |x − median|).
* ``sn``, ``qn``: Rousseeuw & Croux (1993) estimators with their finite-sample correction
  factors, computed exactly by vectorised O(n log n) selection (no subsampling).

Large float arrays (more than 2¹⁷ values) take compiled passes (:mod:`robust_nb`, numba,
imported only then): a deterministic subsample brackets the wanted order statistic, one
pass counts the values below the bracket and copies the few inside it, and a partition of
those gives the exact value; |x − median| is formed on the fly, and the midvariance sums
are single passes, so no full-size temporaries are made.  Smaller arrays use numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

MAD_TO_SIGMA = 1.4826
"""MAD × 1.4826 estimates σ for normally distributed data."""

AVGDEV_TO_SIGMA = 1.2533
"""Average absolute deviation from the median × 1.2533 (√(π/2)) estimates σ for normal data."""

SN_TO_SIGMA = 1.1926
"""Sn × 1.1926 estimates σ for normal data (Rousseeuw & Croux 1993)."""

QN_TO_SIGMA = 2.2219
"""Qn × 2.2219 estimates σ for normal data: the constant PixInsight (and Rousseeuw & Croux
1993) use; the exact value 1/(√2·Φ⁻¹(5/8)) = 2.21914 differs by 0.13 %."""

BWMV_TO_SIGMA = 0.9909
"""√BWMV (k = 9) × 0.9909 estimates σ for normal data (asymptotic value √BWMV = 1.00918 σ)."""

PBMV_TO_SIGMA = 0.9711
"""√PBMV (β = 0.2) × 0.9711 estimates σ for normal data (asymptotic value √PBMV = 1.02976 σ)."""

_SMALL = 1 << 17
_SAMPLE = 200_000


def _compiled(values: np.ndarray) -> bool:
    """True when ``values`` is large enough (and a float array) for the compiled passes."""
    return values.size > _SMALL and values.dtype.kind == "f" and values.dtype.itemsize in (4, 8)


# -- helpers --------------------------------------------------------------------------
def _finite(a: np.ndarray) -> np.ndarray:
    values = np.asarray(a).ravel()
    if values.dtype.kind not in "fiu":
        values = values.astype(np.float64)
    if values.dtype.kind == "f" and values.size and not np.isfinite(values).all():
        values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("no finite values")
    return values


def order_statistics(a: np.ndarray, ranks: Sequence[int]) -> list[float]:
    """The order statistics of 0-based ``ranks`` of the (already finite) 1-D array ``a``.

    Exact.  Large arrays use a deterministic strided subsample to bracket the ranks, count
    the values below the bracket, and partition only the values inside it.
    """
    values = np.asarray(a).ravel()
    n = values.size
    wanted = sorted({int(r) for r in ranks})
    if not wanted or wanted[0] < 0 or wanted[-1] >= n:
        raise ValueError(f"ranks {list(ranks)} out of range for {n} values")
    if _compiled(values):
        from processes.kernels import robust_nb

        return robust_nb.select(values, [int(r) for r in ranks])
    if n > _SMALL:
        found = _bracketed_select(values, wanted)
        if found is not None:
            return [found[int(r)] for r in ranks]
    part = np.partition(values, wanted)
    return [float(part[int(r)]) for r in ranks]


def _bracketed_select(values: np.ndarray, wanted: list[int]) -> dict[int, float] | None:
    n = values.size
    step = max(1, n // _SAMPLE)
    sample = np.sort(values[::step])
    s = sample.size
    q_lo, q_hi = wanted[0] / n, wanted[-1] / n
    margin = 5.0 * math.sqrt(s * max(q_lo * (1 - q_lo), q_hi * (1 - q_hi), 1.0 / s)) + 4.0 + 0.002 * s
    i_lo = math.floor(q_lo * s - margin)
    i_hi = math.ceil(q_hi * s + margin)
    if i_lo <= 0 and i_hi >= s - 1:
        return None
    below_mask = values < sample[i_lo] if i_lo > 0 else None
    upto_mask = values <= sample[i_hi] if i_hi < s - 1 else None
    below = int(np.count_nonzero(below_mask)) if below_mask is not None else 0
    if upto_mask is None:
        inside = ~below_mask if below_mask is not None else None
    elif below_mask is None:
        inside = upto_mask
    else:
        inside = np.logical_xor(upto_mask, below_mask, out=upto_mask)  # below ⊂ upto
    candidates = values[inside] if inside is not None else values
    if not below <= wanted[0] or below + candidates.size <= wanted[-1]:
        return None
    local = [r - below for r in wanted]
    part = np.partition(candidates, local)
    return {r: float(part[r - below]) for r in wanted}


def _median_sorted_ranks(n: int) -> list[int]:
    return [(n - 1) // 2, n // 2]


def _median_of(values: np.ndarray) -> float:
    lo, hi = order_statistics(values, _median_sorted_ranks(values.size))
    return (lo + hi) / 2 if values.size % 2 == 0 else hi


def _abs_dev(values: np.ndarray, center: float) -> np.ndarray:
    """|values − center|, in float32 for float32 data (no float64 copy of a whole image)."""
    if values.dtype == np.float32:
        dev = np.subtract(values, np.float32(center), dtype=np.float32)
    else:
        dev = np.subtract(values, center, dtype=np.float64)
    return np.abs(dev, out=dev)


def _chunks(values: np.ndarray, size: int = 1 << 20):
    for start in range(0, values.size, size):
        yield values[start : start + size].astype(np.float64, copy=False)


# -- location and simple scale ----------------------------------------------------------
def median(a: np.ndarray) -> float:
    """The median of all finite elements (mean of the two middle ones for an even count)."""
    return _median_of(_finite(a))


def mad(a: np.ndarray, center: float | None = None) -> float:
    """Median absolute deviation from the median (or from ``center``), unnormalized."""
    values = _finite(a)
    c = _median_of(values) if center is None else float(center)
    if _compiled(values):
        from processes.kernels import robust_nb

        return robust_nb.dev_select(values, c)[2][0]
    return _median_of(_abs_dev(values, c))


def median_mad(a: np.ndarray) -> tuple[float, float]:
    """``(median, MAD)`` of the finite elements in one call (one finiteness check)."""
    values = _finite(a)
    c = _median_of(values)
    if _compiled(values):
        from processes.kernels import robust_nb

        return c, robust_nb.dev_select(values, c)[2][0]
    return c, _median_of(_abs_dev(values, c))


def avg_dev(a: np.ndarray, center: float | None = None) -> float:
    """Mean absolute deviation from the median (or from ``center``), unnormalized."""
    values = _finite(a)
    c = _median_of(values) if center is None else float(center)
    if _compiled(values):
        from processes.kernels import robust_nb

        return robust_nb.abs_dev_sum(values, c) / values.size
    total = sum(float(np.abs(chunk - c).sum()) for chunk in _chunks(values))
    return total / values.size


# -- midvariances -----------------------------------------------------------------------
def bwmv(a: np.ndarray, center: float | None = None, sigma: float | None = None, k: float = 9.0) -> float:
    """Biweight midvariance (a variance: take √ for a scale), PCL's definition.

    ``center`` defaults to the median and ``sigma`` to the raw MAD; 0 for fewer than two
    values or a zero reference scale.
    """
    values = _finite(a)
    n = values.size
    if n < 2:
        return 0.0
    c = _median_of(values) if center is None else float(center)
    s = mad(values, c) if sigma is None else float(sigma)
    kd = k * s
    if kd <= 0 or 1 + kd == 1:
        return 0.0
    num, den = _bwmv_sums(values, c, kd)
    den *= den
    if 1 + den == 1:
        return 0.0
    return n * num / den


def pbmv(a: np.ndarray, center: float | None = None, beta: float = 0.2) -> float:
    """Percentage bend midvariance (a variance: take √ for a scale), PCL's definition."""
    values = _finite(a)
    n = values.size
    if n < 2:
        return 0.0
    c = _median_of(values) if center is None else float(center)
    beta = min(max(beta, 0.0), 0.5)
    m = min(int(math.floor((1 - beta) * n + 0.5)), n - 1)
    if _compiled(values):
        from processes.kernels import robust_nb

        (wb,) = robust_nb.dev_select(values, c, [m])[2]
    else:
        (wb,) = order_statistics(_abs_dev(values, c), [m])
    if 1 + wb == 1:
        return 0.0
    num, den = _pbmv_sums(values, c, wb)
    if den == 0:
        return 0.0
    return n * wb * wb * num / den / den


def _bwmv_sums(values: np.ndarray, c: float, kd: float) -> tuple[float, float]:
    """(Σ d²(1−u²)⁴, Σ (1−u²)(1−5u²)) over |u| < 1, u = (x − c)/kd, in float64."""
    if _compiled(values):
        from processes.kernels import robust_nb

        return robust_nb.bwmv_sums(values, c, kd)
    num = den = 0.0
    for chunk in _chunks(values):
        d = chunk - c
        u2 = (d / kd) ** 2
        inside = u2 < 1
        d, u2 = d[inside], u2[inside]
        w = 1 - u2
        num += float(np.sum(d * d * w**4))
        den += float(np.sum(w * (1 - 5 * u2)))
    return num, den


def _pbmv_sums(values: np.ndarray, c: float, wb: float) -> tuple[float, int]:
    """(Σ ψ(y)², #{|y| < 1}), y = (x − c)/wb, ψ clipping to [−1, 1], in float64."""
    if _compiled(values):
        from processes.kernels import robust_nb

        return robust_nb.pbmv_sums(values, c, wb)
    num = 0.0
    den = 0
    for chunk in _chunks(values):
        y = (chunk - c) / wb
        num += float(np.sum(np.clip(y, -1.0, 1.0) ** 2))
        den += int(np.count_nonzero(np.abs(y) < 1))
    return num, den


# -- robust line fit --------------------------------------------------------------------------
def lad_fit(x: np.ndarray, y: np.ndarray, *, tolerance: float = 1e-8) -> tuple[float, float, float]:
    """Least-absolute-deviation straight line ``y ≈ a + b·x``; returns ``(a, b, adev)``.

    Minimizes Σ|y − a − b·x|: for a slope b the best intercept is median(y − b·x), and the
    profiled objective is convex in b, so b is found by bisection on the sign of
    Σ x·sign(y − a − b·x), bracketed from the least-squares line (and, for large samples,
    first solved on a deterministic subsample).  ``adev`` is the mean absolute deviation
    of the fit.  Non-finite pairs are ignored.
    """
    x = np.asarray(x).ravel()
    y = np.asarray(y).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y differ in length ({x.size} and {y.size})")
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    if y.dtype.kind != "f":
        y = y.astype(np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.all():
        x, y = x[ok], y[ok]
    if x.size < 2:
        raise ValueError("a line fit needs two or more points")
    dtype = np.result_type(x.dtype, y.dtype)
    x, y = x.astype(dtype, copy=False), y.astype(dtype, copy=False)
    step = max(1, x.size // _SAMPLE)
    if step > 1:
        _, b0, _ = lad_fit(x[::step], y[::step], tolerance=1e-7)
        spread = _ls_slope_sigma(x[::step], y[::step])
    else:
        b0, spread = _ls_line(x, y)[1], _ls_slope_sigma(x, y)
    b = _lad_slope(x, y, b0, max(spread, 1e-9 * max(1.0, abs(b0))), tolerance)
    a = _median_of(_residual(x, y, b))
    dev = _residual(x, y, b)
    dev -= dev.dtype.type(a)
    adev = float(np.abs(dev, out=dev).sum(dtype=np.float64)) / x.size
    return a, b, adev


def _ls_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    xm = float(x.mean(dtype=np.float64))
    ym = float(y.mean(dtype=np.float64))
    sxx = sxy = 0.0
    for xc, yc in zip(_chunks(x), _chunks(y)):
        dx = xc - xm
        sxx += float(np.dot(dx, dx))
        sxy += float(np.dot(dx, yc - ym))
    b = sxy / sxx if sxx > 0 else 0.0
    return ym - b * xm, b


def _ls_slope_sigma(x: np.ndarray, y: np.ndarray) -> float:
    a, b = _ls_line(x, y)
    xm = float(x.mean(dtype=np.float64))
    sxx = chi2 = 0.0
    for xc, yc in zip(_chunks(x), _chunks(y)):
        sxx += float(np.dot(xc - xm, xc - xm))
        r = yc - a - b * xc
        chi2 += float(np.dot(r, r))
    return math.sqrt(chi2 / max(x.size - 2, 1) / sxx) if sxx > 0 else 0.0


def _residual(x: np.ndarray, y: np.ndarray, b: float) -> np.ndarray:
    r = np.multiply(x, x.dtype.type(-b))
    r += y
    return r


def _sign_balance(x: np.ndarray, y: np.ndarray, b: float) -> float:
    """Σ x·sign(y − a − b·x) with a = median(y − b·x): non-increasing in b, zero at the LAD slope."""
    r = _residual(x, y, b)
    a = r.dtype.type(_median_of(r))
    return float(np.sum(x, where=r > a, dtype=np.float64) - np.sum(x, where=r < a, dtype=np.float64))


def _lad_slope(x: np.ndarray, y: np.ndarray, b0: float, spread: float, tolerance: float) -> float:
    if float(np.ptp(x)) == 0:
        return 0.0
    b1, f1 = b0, _sign_balance(x, y, b0)
    if f1 == 0:
        return b1
    delta = 3 * spread
    b2 = b1 + math.copysign(delta, f1)
    f2 = _sign_balance(x, y, b2)
    for _ in range(200):
        if f2 == 0:
            return b2
        if (f1 > 0) != (f2 > 0):
            break
        b1, f1 = b2, f2
        delta *= 2
        b2 = b1 + math.copysign(delta, f1)
        f2 = _sign_balance(x, y, b2)
    for _ in range(200):
        if abs(b2 - b1) <= tolerance * max(1.0, abs(b1)):
            break
        bm = 0.5 * (b1 + b2)
        fm = _sign_balance(x, y, bm)
        if fm == 0:
            return bm
        if (fm > 0) == (f1 > 0):
            b1, f1 = bm, fm
        else:
            b2 = bm
    return 0.5 * (b1 + b2)


# -- Rousseeuw & Croux --------------------------------------------------------------------
_SN_SMALL = {2: 0.743, 3: 1.851, 4: 0.954, 5: 1.351, 6: 0.993, 7: 1.198, 8: 1.005, 9: 1.131}
_QN_SMALL = {2: 0.399, 3: 0.994, 4: 0.512, 5: 0.844, 6: 0.611, 7: 0.857, 8: 0.669, 9: 0.872}


def sn_correction(n: int) -> float:
    """Finite-sample correction factor c_n of Sn (Rousseeuw & Croux 1993; as PCL)."""
    if n in _SN_SMALL:
        return _SN_SMALL[n]
    return n / (n - 0.9) if n % 2 else 1.0


def qn_correction(n: int) -> float:
    """Finite-sample correction factor d_n of Qn (Rousseeuw & Croux 1993; as PCL)."""
    if n in _QN_SMALL:
        return _QN_SMALL[n]
    return n / (n + 1.4) if n % 2 else n / (n + 3.8)


def sn(a: np.ndarray) -> float:
    """Rousseeuw–Croux Sn = c_n · lomed_i himed_j |x_i − x_j| (raw: without the 1.1926 factor).

    Exact, O(n log n): for every i the ⌊n/2⌋-th smallest distance to the other points is
    the k-th element of two sorted runs (distances to the left and to the right of x_i in
    the sorted sample), found by a binary search vectorised over all i.
    """
    x = np.sort(_finite(a).astype(np.float64))
    n = x.size
    if n < 2:
        return 0.0
    k = n // 2  # 1-based rank among the n−1 distances to the other points
    i = np.arange(n)
    n_left = i
    n_right = n - 1 - i
    lo = np.maximum(0, k - n_right)
    hi = np.minimum(k, n_left)
    active = lo < hi
    while active.any():
        idx = np.nonzero(active)[0]
        lo_a, hi_a, ii = lo[idx], hi[idx], idx
        mid = (lo_a + hi_a) // 2
        left = x[ii] - x[ii - mid - 1]  # L_{mid+1}
        right = x[ii + k - mid] - x[ii]  # R_{k−mid}
        more = left < right
        lo[idx] = np.where(more, mid + 1, lo_a)
        hi[idx] = np.where(more, hi_a, mid)
        active = lo < hi
    take_left = lo
    take_right = k - lo
    left_val = np.where(take_left > 0, x - x[np.maximum(i - take_left, 0)], -np.inf)
    right_val = np.where(take_right > 0, x[np.minimum(i + take_right, n - 1)] - x, -np.inf)
    himed = np.maximum(left_val, right_val)
    (value,) = order_statistics(himed, [(n + 1) // 2 - 1])
    return sn_correction(n) * value


def qn(a: np.ndarray) -> float:
    """Rousseeuw–Croux Qn = d_n · {|x_i − x_j|; i < j}_(k), k = C(h, 2), h = ⌊n/2⌋ + 1 (raw).

    Exact: the k-th smallest pairwise difference is selected among the rows of the implicit
    sorted difference matrix by rounds of (deterministic) sampling, exact per-row counting
    with binary searches, and narrowing of the candidate columns; the final candidates are
    partitioned directly.  No subsampling of the data.
    """
    x = np.sort(_finite(a).astype(np.float64))
    n = x.size
    if n < 2:
        return 0.0
    h = n // 2 + 1
    k = h * (h - 1) // 2
    return qn_correction(n) * _kth_pairwise_difference(x, k)


def _kth_pairwise_difference(x: np.ndarray, k: int) -> float:
    """k-th smallest (1-based) of x[j] − x[i], i < j, for sorted ``x``."""
    n = x.size
    rows = np.arange(n - 1)
    lo_col = rows + 1  # first candidate column of each row (inclusive)
    hi_col = np.full(n - 1, n - 1)  # last candidate column (inclusive)
    kk = k
    rng = np.random.default_rng(20_240_601)
    limit = max(4 * n, 1 << 20)
    while True:
        width = np.maximum(hi_col - lo_col + 1, 0)
        total = int(width.sum())
        if total <= limit:
            return _gather_select(x, rows, lo_col, width, kk)
        s = min(total, 100_000)
        ends = np.cumsum(width)
        picks = rng.integers(0, total, size=s)
        r = np.searchsorted(ends, picks, side="right")
        c = lo_col[r] + (picks - (ends[r] - width[r]))
        sample = np.sort(x[c] - x[r])
        q = kk / total
        margin = 5.0 * math.sqrt(s * q * (1 - q)) + 3.0
        i_lo = math.floor(q * s - margin)
        i_hi = math.ceil(q * s + margin)
        cut_lo = _row_counts(x, rows, lo_col, hi_col, sample[i_lo], strict=True) if i_lo > 0 else None
        cut_hi = _row_counts(x, rows, lo_col, hi_col, sample[i_hi], strict=False) if i_hi < s - 1 else None
        n_lo = int(cut_lo.sum()) if cut_lo is not None else 0
        n_hi = int(cut_hi.sum()) if cut_hi is not None else total
        if n_lo < kk <= n_hi and n_hi - n_lo == total:
            # Heavy ties (integer data): the quantile band holds every candidate, so it cannot
            # narrow; bisect on the sampled values instead, which always removes them.
            found, lo_col, hi_col, kk = _narrow_by_values(x, rows, lo_col, hi_col, kk, np.unique(sample))
            if found is not None:
                return found
            continue
        if kk <= n_lo:
            hi_col = lo_col + cut_lo - 1
        elif kk > n_hi:
            kk -= n_hi
            lo_col = lo_col + cut_hi
        else:
            if cut_hi is not None:
                hi_col = lo_col + cut_hi - 1
            if cut_lo is not None:
                lo_col = lo_col + cut_lo
                kk -= n_lo


def _narrow_by_values(
    x: np.ndarray, rows: np.ndarray, lo_col: np.ndarray, hi_col: np.ndarray, kk: int, values: np.ndarray
) -> tuple[float | None, np.ndarray, np.ndarray, int]:
    """Find the kk-th candidate among ``values`` (sorted, distinct, drawn from the candidates),
    or narrow the candidates to the open interval between two neighbouring values."""

    def at_most(t: float) -> np.ndarray:
        return _row_counts(x, rows, lo_col, hi_col, t, strict=False)

    low, high = 0, values.size  # smallest index whose count of candidates <= value reaches kk
    while low < high:
        mid = (low + high) // 2
        if int(at_most(values[mid]).sum()) >= kk:
            high = mid
        else:
            low = mid + 1
    if low < values.size:
        below = _row_counts(x, rows, lo_col, hi_col, values[low], strict=True)
        if int(below.sum()) < kk:
            return float(values[low]), lo_col, hi_col, kk
        new_hi = lo_col + below - 1
    else:
        new_hi = hi_col
    if low > 0:
        skipped = at_most(values[low - 1])
        return None, lo_col + skipped, new_hi, kk - int(skipped.sum())
    return None, lo_col, new_hi, kk


def _row_counts(x: np.ndarray, rows: np.ndarray, lo_col: np.ndarray, hi_col: np.ndarray, t: float, *, strict: bool):
    """Per row, how many candidate columns j have x[j] − x[i] < t (strict) or ≤ t."""
    side = "left" if strict else "right"
    pos = np.searchsorted(x, x[rows] + t, side=side)
    # Make the count exact for the differences as computed (x[i] + t may round).
    for _ in range(64):
        before = np.clip(pos - 1, 0, x.size - 1)
        at = np.clip(pos, 0, x.size - 1)
        d_before = x[before] - x[rows]
        d_at = x[at] - x[rows]
        bad_before = (pos - 1 > rows) & ((d_before >= t) if strict else (d_before > t))
        bad_at = (pos < x.size) & ((d_at < t) if strict else (d_at <= t))
        if not (bad_before.any() or bad_at.any()):
            break
        pos = pos - bad_before + bad_at
    return np.clip(pos, lo_col, hi_col + 1) - lo_col


def _gather_select(x: np.ndarray, rows: np.ndarray, lo_col: np.ndarray, width: np.ndarray, kk: int) -> float:
    keep = width > 0
    r, lo, w = rows[keep], lo_col[keep], width[keep]
    total = int(w.sum())
    starts = np.cumsum(w) - w
    rr = np.repeat(r, w)
    cols = np.repeat(lo - starts, w) + np.arange(total)
    values = x[cols] - x[rr]
    return float(np.partition(values, kk - 1)[kk - 1])
