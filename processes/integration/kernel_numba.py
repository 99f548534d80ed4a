"""Compiled (numba) ImageIntegration kernel: whole rows of a band, pixel by pixel, in one loop.

This module imports numba at import time; :mod:`processes.integration.compiled` imports it
only when an integration runs.  :func:`integrate_rows` does, for every pixel of rows
``[row0, row1)`` of a band stack ``(N, rows, width)``, what the numpy engine does with
whole-chunk array passes (:mod:`processes.integration.engine`), without any temporary
larger than one pixel's stack:

1. range rejection of the input values (``rangeLow``/``rangeHigh``; non-finite values
   count as low);
2. rejection normalization (``Scale``: ``v·k_i + o_i`` for frames i ≥ 1, zeros kept, frame
   0 as is, plus the per-row pedestal that keeps values positive; ``EqualizeFluxes``:
   ``v·k_i``), in float32 as the numpy engine;
3. the N values sorted by Batcher's sorting networks (branch-free compare-exchanges of
   (value, frame) pairs: each rank's frame, ties in frame order, as the numpy engine's
   stable argsort), 32 pixels side by side; a pixel alone (one with range-rejected values)
   of RADIX_MIN values or more by a stable radix sort, which orders them the same way;
4. the rejection passes on the surviving sorted ranks ``[lo, hi)``: SigmaClip or
   WinsorizedSigmaClip with PixInsight's iteration rule (repeat while something was
   rejected and at least 3 values remain);
5. per-frame counts, rejection maps and the weighted average of the output-normalized
   kept values ``A_i·v + B_i`` (a pixel that lost every value takes the median of all).

Statistics (median, Sn, winsorized mean and σ) are those of
:mod:`processes.integration.rejection`; the median and the Sn distances are evaluated in
float32 exactly as there, the winsorization sums and the average in float64.  Every
function is ``nogil``: callers run row ranges of one band from a thread pool.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["abs_dev", "abs_dev_median", "bwmv_sums", "extremes", "finite_median", "in_range_values", "integrate_rows",
           "masked_values", "median_between", "median_mad_windows", "select_two_binned"]

TINY = 2.0**-53
HUBER_MAX_ITERATIONS = 100
QUADRATIC_MAX = 24
"""Up to this many values, a pixel's Sn scans every window (branch-free, faster for few values than
the sweeps); more values take the sweeps (:func:`_himed_sweep`).  The same values either way."""
BLOCK_QUADRATIC_MAX = 136
"""A block's first pass scans every Sn window of its pixels side by side (vector operations) up to
this many values; beyond, where the scan's O(n²) outgrows it, each pixel takes the sweep."""
SELECT_COUNT_MAX = 128
"""Up to this many values, Sn's order statistic is selected by counting (O(m²) vectorized comparisons,
no branch to mispredict); more values take a quickselect.  The same value either way."""
RADIX_MIN = 64
"""A pixel sorted alone (one with range-rejected values: registration borders) takes the radix sort
(:func:`_radix_sort_indexed`) from this many values on; fewer, the sorting network."""
NEAR_RANKS = 16
"""A further rejection pass selects Sn's order statistic from the last pass's Sn (:func:`_select_near`)
when that lies within this many ranks of it (nearly always: a pass removes a few extreme values)."""
NO_REJECTION, SIGMA_CLIP, WINSORIZED = 0, 1, 2
MODE_NONE, MODE_SCALE, MODE_FLUX = 0, 1, 2


@numba.njit(cache=True, nogil=True)
def _sort_plain(vals, n):  # pragma: no cover - compiled
    for i in range(1, n):
        v = vals[i]
        j = i - 1
        while j >= 0 and vals[j] > v:
            vals[j + 1] = vals[j]
            j -= 1
        vals[j + 1] = v


@numba.njit(cache=True, nogil=True)
def _network_sort(vals, base, m, net_pairs, net_start):  # pragma: no cover - compiled
    """Sort vals[base:base + m] with the sorting network for m inputs (branch-free compare-exchanges)."""
    for k in range(net_start[m], net_start[m + 1]):
        i = base + net_pairs[k, 0]
        j = base + net_pairs[k, 1]
        a = vals[i]
        b = vals[j]
        vals[i] = b if b < a else a
        vals[j] = a if b < a else b


@numba.njit(cache=True, nogil=True)
def _median_sorted(vals, lo, hi):  # pragma: no cover - compiled
    """Median of the sorted float32 vals[lo:hi] (mean of the two central values; 0 below 2)."""
    m = hi - lo
    if m < 2:
        return np.float32(0.0)
    half = m // 2
    if m % 2:
        return vals[lo + half]
    return (vals[lo + half - 1] + vals[lo + half]) * np.float32(0.5)


@numba.njit(cache=True, nogil=True, inline="always")
def _sweep_step(y, m, h, himed, i, a):  # pragma: no cover - compiled
    """One step of the merge of :func:`_himed_sweep` at (i, a): stores himed[i] (the closing step's
    value is the last one stored) and returns the next (i, a)."""
    a0 = i - h if i - h > 0 else 0
    a1 = i if i < m - 1 - h else m - 1 - h
    a = a if a > a0 else a0
    yi = y[i]
    inside = a <= a1
    ia = a if inside else a1  # a valid index when a is past the window
    d2 = y[ia + h] - yi
    move = inside and d2 < yi - y[ia]
    left = yi - y[a - 1 if a > a0 else a0]
    best = left if a > a0 else np.float32(np.inf)
    best = d2 if inside and d2 < best else best
    himed[i] = best
    return i + (not move), a + move


@numba.njit(cache=True, nogil=True, inline="always")
def _crossing(y, m, h, i):  # pragma: no cover - compiled
    """The window start where :func:`_himed_sweep` closes i: the first a in [a0, a1] with
    y_{a+h} − y_i ≥ y_i − y_a (a1 + 1 if none), by bisection (the test is false, then true, as a grows)."""
    lo = i - h if i - h > 0 else 0
    hi = (i if i < m - 1 - h else m - 1 - h) + 1
    yi = y[i]
    while lo < hi:
        mid = (lo + hi) >> 1
        if y[mid + h] - yi < yi - y[mid]:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True, nogil=True, inline="always")
def _himed_sweep(y, m, h, himed):  # pragma: no cover - compiled
    """himed_i of the sorted, finite float32 y[:m] (h = m // 2) for :func:`_sn_sorted`, by a branch-free
    merge of i and the first window start a with y_{a+h} − y_i ≥ y_i − y_a.

    Every step (:func:`_sweep_step`) either moves a (the test holds not, a is still in i's window) or
    closes i with min(y_i − y_{a−1}, y_{a+h} − y_i) (the terms that exist).  Each step waits on the
    last, so the i are cut into four runs, each started at its first i's window start
    (:func:`_crossing`), and the four merges advance side by side: independent chains the core
    overlaps (about twice as fast for a few hundred values).  The values are the same.
    """
    q = m // 4
    i0, i1, i2, i3 = 0, q, 2 * q, 3 * q
    a0, a1, a2, a3 = 0, _crossing(y, m, h, q), _crossing(y, m, h, 2 * q), _crossing(y, m, h, 3 * q)
    for _ in range(2 * m):
        busy = False
        if i0 < q:
            i0, a0 = _sweep_step(y, m, h, himed, i0, a0)
            busy = True
        if i1 < 2 * q:
            i1, a1 = _sweep_step(y, m, h, himed, i1, a1)
            busy = True
        if i2 < 3 * q:
            i2, a2 = _sweep_step(y, m, h, himed, i2, a2)
            busy = True
        if i3 < m:
            i3, a3 = _sweep_step(y, m, h, himed, i3, a3)
            busy = True
        if not busy:
            break


@numba.njit(cache=True, nogil=True, inline="always")
def _select_finite(values, m, k):  # pragma: no cover - compiled
    """The k-th smallest (0-based) of the finite values[:m], exactly: the value v with
    #(x < v) ≤ k < #(x ≤ v), found by counting (vectorized comparisons, no sort)."""
    for j in range(m):
        v = values[j]
        less = 0
        not_more = 0
        for t in range(m):
            less += values[t] < v
            not_more += values[t] <= v
        if less <= k < not_more:
            return v
    return values[0]


@numba.njit(cache=True, nogil=True, inline="always")
def _quickselect(values, m, k):  # pragma: no cover - compiled
    """The k-th smallest (0-based) of the finite values[:m], exactly, reordering them (Hoare's
    selection, the median of three as pivot): O(m) where :func:`_select_finite` counts in O(m²)."""
    lo = 0
    hi = m - 1
    while hi > lo:
        mid = (lo + hi) // 2
        a = values[lo]
        b = values[mid]
        c = values[hi]
        pivot = max(min(a, b), min(max(a, b), c))
        i = lo
        j = hi
        while i <= j:
            while values[i] < pivot:
                i += 1
            while values[j] > pivot:
                j -= 1
            if i <= j:
                t = values[i]
                values[i] = values[j]
                values[j] = t
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return values[k]
    return values[k]


@numba.njit(cache=True, nogil=True, inline="always")
def _select_near(values, m, k, guess, kept):  # pragma: no cover - compiled
    """The k-th smallest (0-based) of the finite values[:m], exactly, from ``guess``, a value near it:
    (the value, True), or (0, False) when the guess is more than NEAR_RANKS ranks away (or negative: none).

    The values below and up to the guess are counted (vector comparisons).  The guess is the k-th
    itself when some values equal it and the count of those below reaches k; else the k-th is the r-th
    largest of the values below the guess (or the r-th smallest above it), r ≤ NEAR_RANKS, which one
    scan finds keeping the r nearest in ``kept`` (sorted; a value enters rarely, so the scan's branch is
    well predicted).  A quickselect's branches mispredict on every other value.
    """
    if guess < 0:
        return np.float32(0.0), False
    less = 0
    not_more = 0
    for j in range(m):
        v = values[j]
        less += v < guess
        not_more += v <= guess
    if less <= k < not_more:
        return guess, True
    if k < less:  # the r-th largest below the guess: kept[0] the smallest of the r largest so far
        r = less - k
        if r > NEAR_RANKS:
            return np.float32(0.0), False
        for t in range(r):
            kept[t] = -np.inf
        for j in range(m):
            v = values[j]
            if v < guess and v > kept[0]:
                t = 0
                while t + 1 < r and kept[t + 1] < v:
                    kept[t] = kept[t + 1]
                    t += 1
                kept[t] = v
        return kept[0], True
    r = k - not_more + 1  # the r-th smallest above the guess: kept[r − 1] the largest of the r smallest so far
    if r > NEAR_RANKS:
        return np.float32(0.0), False
    for t in range(r):
        kept[t] = np.inf
    for j in range(m):
        v = values[j]
        if v > guess and v < kept[r - 1]:
            t = r - 1
            while t > 0 and kept[t - 1] > v:
                kept[t] = kept[t - 1]
                t -= 1
            kept[t] = v
    return kept[r - 1], True


@numba.njit(cache=True, nogil=True)
def _sn_sorted(y, m, himed, net_pairs, net_start, guess, kept):  # pragma: no cover - compiled
    """Rousseeuw–Croux Sn (c = 1) of the sorted float32 y[:m] (as rejection.sn_of_sorted).

    himed_i = min over the windows [a, a + h] (h = m // 2) that contain i of
    max(y_i − y_a, y_{a+h} − y_i).  In a in [a0, a1], d1 = y_i − y_a never grows and
    d2 = y_{a+h} − y_i never shrinks (float32 rounding is monotonic), so the minimum of
    the larger one lies at the first a where d2 ≥ d1 or just before it; that first a never
    decreases as i grows.  For more than QUADRATIC_MAX finite values sweeps find them all
    (:func:`_himed_sweep`, O(m)); for fewer, the scan of every window (O(m²) but branch-free) is
    faster.  The order statistic is selected by counting (:func:`_select_finite`) up to
    SELECT_COUNT_MAX values, by a quickselect (:func:`_quickselect`) above, or from ``guess`` (the
    last pass's Sn; negative: none) when it is near (:func:`_select_near`, ``kept``: NEAR_RANKS float32
    of scratch); a stack with an inf or NaN is scanned and sorted.  The values compared are the same
    float32 differences, so Sn is the same bit for bit.
    """
    if m < 2:
        return np.float32(0.0)
    k = (m + 1) // 2 - 1
    if not _himed(y, m, himed):
        _network_sort(himed, 0, m, net_pairs, net_start)
        return himed[k]
    value, found = _select_near(himed, m, k, guess, kept)
    if found:
        return value
    return _select_finite(himed, m, k) if m <= SELECT_COUNT_MAX else _quickselect(himed, m, k)


@numba.njit(cache=True, nogil=True, inline="always")
def _himed(y, m, himed):  # pragma: no cover - compiled
    """The himed_i of :func:`_sn_sorted` of the sorted float32 y[:m] (m ≥ 2) into himed[:m]; whether every
    y is finite.  One sweep (:func:`_himed_sweep`) for more than QUADRATIC_MAX finite values; else the
    scan of every window."""
    h = m // 2
    finite = True
    for j in range(m):
        finite &= y[j] - y[j] == 0
    if finite and m > QUADRATIC_MAX:
        _himed_sweep(y, m, h, himed)
        return True
    for i in range(m):
        a0 = i - h if i - h > 0 else 0
        a1 = i if i < m - 1 - h else m - 1 - h
        best = np.float32(np.inf)
        for a in range(a0, a1 + 1):
            d1 = y[i] - y[a]
            d2 = y[a + h] - y[i]
            d = d1 if d1 > d2 else d2
            best = d if d < best else best
        himed[i] = best
    return finite


@numba.njit(cache=True, nogil=True)
def _winsorize(y, m, sigma0, cutoff, work):  # pragma: no cover - compiled
    """PixInsight's rejection winsorization of y[:m] (centred on its median): (mean, σ)."""
    if abs(sigma0) <= TINY:
        return 0.0, sigma0
    for j in range(m):
        work[j] = y[j]
    return _winsorize_rounds(work, m, 0.0, sigma0, cutoff, 1)


@numba.njit(cache=True, nogil=True)
def _winsorize_rounds(work, m, mean, sigma, cutoff, first):  # pragma: no cover - compiled
    """Rounds ``first``, ``first`` + 1, ... (up to HUBER_MAX_ITERATIONS) of :func:`_winsorize` on the
    values work[:m], winsorized in place, from (mean, σ): the final (mean, σ)."""
    for rounds in range(first, HUBER_MAX_ITERATIONS + 1):
        t0 = mean - 1.5 * sigma
        t1 = mean + 1.5 * sigma
        c0 = mean - cutoff * sigma
        c1 = mean + cutoff * sigma
        total = 0.0
        squares = 0.0
        for j in range(m):
            e = work[j]
            if e < t0:
                e = t0 if (cutoff <= 0.0 or e > c0) else mean
            elif e > t1:
                e = t1 if (cutoff <= 0.0 or e < c1) else mean
            work[j] = e
            total += e
            squares += e * e
        new_mean = total / m
        var = (squares - total * new_mean) / (m - 1)
        new_sigma = 1.134 * math.sqrt(var) if var > 0.0 else 0.0
        done = new_sigma < TINY or (rounds > 1 and abs(sigma - new_sigma) < 0.0005 * sigma)
        mean = new_mean
        sigma = new_sigma
        if done:
            break
    return mean, sigma


@numba.njit(cache=True, nogil=True)
def _reject(vals, lo, hi, algorithm, clip_low, clip_high, sigma_low, sigma_high, cutoff,
            y, himed, work, net_pairs, net_start, it, sn, kept):  # pragma: no cover - compiled
    """Rejection passes ``it``, ``it`` + 1, ... over the sorted vals[lo:hi]; returns the final (lo, hi).
    ``sn``: the last pass's Sn (negative: none), from which the next is selected when near (``kept``:
    scratch for :func:`_select_near`)."""
    while hi - lo >= 3:
        m = hi - lo
        med = _median_sorted(vals, lo, hi)
        for j in range(m):
            y[j] = vals[lo + j] - med
        if algorithm == WINSORIZED:
            sn = _sn_sorted(y, m, himed, net_pairs, net_start, sn, kept)
            sigma0 = np.float32(1.1926) * sn
            mean, sigma = _winsorize(y, m, np.float64(sigma0), cutoff if it == 0 else 0.0, work)
        else:
            total = 0.0
            for j in range(m):
                total += y[j]
            mu = total / m
            eps = 0.0
            squares = 0.0
            for j in range(m):
                d = y[j] - mu
                eps += d
                squares += d * d
            var = (squares - eps * eps / m) / (m - 1)
            sigma = math.sqrt(var) if var > 0.0 else 0.0
            mean = 0.0
        if abs(sigma) <= TINY:
            break
        nl = 0
        if clip_low:
            limit = mean - sigma_low * sigma
            while nl < m and y[nl] < limit:
                nl += 1
        nh = 0
        if clip_high:
            limit = mean + sigma_high * sigma
            while nh < m - nl and y[m - 1 - nh] > limit:
                nh += 1
        if nl + nh == 0:
            break
        lo += nl
        hi -= nh
        it += 1
    return lo, hi


@numba.njit(cache=True, nogil=True)
def _gather(band, r, x, rej_mode, rej_scale, rej_offset, shift, range_low_on, range_low, range_high_on, range_high,
            vals):  # pragma: no cover - compiled
    """The rejection values of pixel (r, x) into vals (range-rejected at ∓inf); (n range low, n range high)."""
    n = band.shape[0]
    n_low = 0
    n_high = 0
    inf32 = np.float32(np.inf)
    for i in range(n):
        v = band[i, r, x]
        if range_low_on:
            if not v > range_low:
                vals[i] = -inf32
                n_low += 1
                continue
        elif not np.isfinite(v):
            vals[i] = -inf32
            n_low += 1
            continue
        if range_high_on and v >= range_high:
            vals[i] = inf32
            n_high += 1
        elif rej_mode == MODE_NONE or i == 0:
            vals[i] = v
        elif rej_mode == MODE_SCALE:
            nv = np.float32(0.0) if v == 0 else v * rej_scale[i] + rej_offset[i]
            vals[i] = nv + shift
        else:
            vals[i] = v * rej_scale[i]
    return n_low, n_high


@numba.njit(cache=True, nogil=True)
def _row_shift(band, r, rej_scale, rej_offset, range_low_on, range_low, range_high_on,
               range_high):  # pragma: no cover - compiled
    """The Scale rejection normalization's pedestal of row r (minus the row minimum when negative)."""
    n, _, width = band.shape
    row_min = np.float32(np.inf)
    for i in range(1, n):
        s = rej_scale[i]
        o = rej_offset[i]
        for x in range(width):
            v = band[i, r, x]
            if v == 0:
                continue
            if range_low_on:
                if not v > range_low:
                    continue
            elif not np.isfinite(v):
                continue
            if range_high_on and v >= range_high:
                continue
            nv = v * s + o
            if nv < row_min:
                row_min = nv
    return -row_min if row_min < 0 else np.float32(0.0)


BLOCK = 32
"""Pixels integrated side by side by :func:`_block_winsorized` (SIMD lanes)."""
LOCK_STEP_MIN_LANES = 4
"""The block's winsorization rounds run in lock step while more than this many pixels still
iterate; the last few finish one by one (:func:`_winsorize_rounds`): per pixel the rounds number
3.6 on average but the slowest of a block's 32 takes 10 (the corpus session)."""


@numba.njit(cache=True, nogil=True, inline="always")
def _sort_columns(block, n, nb, net_pairs, net_start):  # pragma: no cover - compiled
    """Sort rows 0..n−1 of each of the ``nb`` columns of ``block`` by the compare-exchange
    network of size ``n`` (pairs ``net_pairs[net_start[n]:net_start[n + 1]]``), branch-free."""
    for k in range(net_start[n], net_start[n + 1]):
        i = net_pairs[k, 0]
        j = net_pairs[k, 1]
        for b in range(nb):
            a = block[i, b]
            c = block[j, b]
            block[i, b] = c if c < a else a
            block[j, b] = a if c < a else c


@numba.njit(cache=True, nogil=True, inline="always")
def _sort_columns_indexed(block, frames, n, nb, net_pairs, net_start):  # pragma: no cover - compiled
    """:func:`_sort_columns` of ``block``, with frames[j, b] set to the frame of each sorted value,
    ties in frame order: a stable sort (the compare-exchanges order (value, frame) pairs).  One
    pixel's values: a column (``block`` of shape (m, 1))."""
    for j in range(n):
        for b in range(nb):
            frames[j, b] = j
    for k in range(net_start[n], net_start[n + 1]):
        i = net_pairs[k, 0]
        j = net_pairs[k, 1]
        for b in range(nb):
            a = block[i, b]
            c = block[j, b]
            fa = frames[i, b]
            fc = frames[j, b]
            swap = (c < a) | ((c == a) & (fc < fa))
            block[i, b] = c if swap else a
            block[j, b] = a if swap else c
            frames[i, b] = fc if swap else fa
            frames[j, b] = fa if swap else fc


@numba.njit(cache=True, nogil=True, inline="always")
def _radix_sort_indexed(vals, frames, n, keys, spare_keys, spare_frames, counts):  # pragma: no cover - compiled
    """Sort vals[:n] (float32) with frames[j] set to the frame of each sorted value, ties in frame order: what
    :func:`_sort_columns_indexed` gives a column, in O(n) (a stable LSD radix sort, a byte at a time, of the
    values' bits mapped to an unsigned order; −0 counts as +0, a tie as in the network's comparisons; the
    values themselves are kept, −0 included).  Passes whose byte every value shares are skipped.  Returns
    False, ``vals`` unchanged, when a value is NaN (which the network's comparisons order their own way).
    Scratch: ``keys``/``spare_keys`` (uint32) and ``spare_frames`` (int32) of n, ``counts`` (int64) of 256."""
    bits = vals.view(np.uint32)
    for j in range(n):
        if vals[j] != vals[j]:
            return False
        u = np.uint32(0) if vals[j] == 0 else bits[j]
        keys[j] = u ^ np.uint32(0xFFFFFFFF) if u & np.uint32(0x80000000) else u | np.uint32(0x80000000)
        frames[j] = j
    src_k, src_f, dst_k, dst_f = keys, frames, spare_keys, spare_frames
    for shift in range(0, 32, 8):
        for b in range(256):
            counts[b] = 0
        for j in range(n):
            counts[(src_k[j] >> np.uint32(shift)) & np.uint32(255)] += 1
        if counts[(src_k[0] >> np.uint32(shift)) & np.uint32(255)] == n:
            continue  # every value has this byte: the order stays
        total = 0
        for b in range(256):
            c = counts[b]
            counts[b] = total
            total += c
        for j in range(n):
            b = (src_k[j] >> np.uint32(shift)) & np.uint32(255)
            at = counts[b]
            counts[b] = at + 1
            dst_k[at] = src_k[j]
            dst_f[at] = src_f[j]
        src_k, src_f, dst_k, dst_f = dst_k, dst_f, src_k, src_f
    for j in range(n):  # the values in their sorted order, from their frames (kept as they were, −0 too)
        spare_keys[j] = bits[src_f[j]]
    for j in range(n):
        bits[j] = spare_keys[j]
        frames[j] = src_f[j]
    return True


@numba.njit(cache=True, nogil=True)
def _block_winsorized(band, r, x0, rej_mode, rej_scale, rej_offset, shift, clip_low, clip_high, sigma_low,
                      sigma_high, cutoff, net_pairs, net_start, bv, bf, by, bh, bw, lo_out, hi_out,
                      lane_vals, y, himed, work, kept):  # pragma: no cover - compiled
    """First winsorized pass of BLOCK pixels (r, x0 .. x0 + BLOCK − 1) in lock step (its
    winsorization rounds while more than LOCK_STEP_MIN_LANES pixels iterate), then the last
    rounds and the further passes of the pixels that need them one by one.

    The caller has checked that no value of the block is range-rejected.  Every lane does
    exactly the operations of :func:`_reject` in the same order (so the results are the
    same bit for bit); the lanes only share loop control.  Writes the final survivor ranks
    to lo_out/hi_out and the frame of each rank to ``bf`` (rank, lane).
    """
    n = band.shape[0]
    nb = bv.shape[1]
    # rejection values, rank-major (n, BLOCK)
    for i in range(n):
        s = rej_scale[i]
        o = rej_offset[i]
        for b in range(nb):
            v = band[i, r, x0 + b]
            if rej_mode == MODE_NONE or i == 0:
                bv[i, b] = v
            elif rej_mode == MODE_SCALE:
                nv = np.float32(0.0) if v == 0 else v * s + o
                bv[i, b] = nv + shift
            else:
                bv[i, b] = v * s
    _sort_columns_indexed(bv, bf, n, nb, net_pairs, net_start)
    half = n // 2
    for b in range(nb):
        med = bv[half, b] if n % 2 else (bv[half - 1, b] + bv[half, b]) * np.float32(0.5)
        for j in range(n):
            by[j, b] = bv[j, b] - med
    # Sn: himed_i = min over windows [a, a + h] containing i of max(y_i − y_a, y_{a+h} − y_i)
    h = n // 2
    if n <= BLOCK_QUADRATIC_MAX:  # every window of every pixel, the pixels side by side
        for i in range(n):
            a0 = i - h if i - h > 0 else 0
            a1 = i if i < n - 1 - h else n - 1 - h
            for b in range(nb):
                bh[i, b] = np.float32(np.inf)
            for a in range(a0, a1 + 1):
                for b in range(nb):
                    d1 = by[i, b] - by[a, b]
                    d2 = by[a + h, b] - by[i, b]
                    d = d1 if d1 > d2 else d2
                    cur = bh[i, b]
                    bh[i, b] = d if d < cur else cur
    else:  # one sweep per pixel (:func:`_sn_sorted`'s, the same values)
        for b in range(nb):
            for j in range(n):
                y[j] = by[j, b]
            _himed(y, n, himed)
            for j in range(n):
                bh[j, b] = himed[j]
    _sort_columns(bh, n, nb, net_pairs, net_start)
    rank = (n + 1) // 2 - 1
    mean = np.zeros(nb, np.float64)
    sigma = np.empty(nb, np.float64)
    live = np.empty(nb, np.bool_)
    total = np.empty(nb, np.float64)
    squares = np.empty(nb, np.float64)
    alive = 0
    for b in range(nb):
        sigma[b] = np.float64(np.float32(1.1926) * bh[rank, b])
        live[b] = not abs(sigma[b]) <= TINY
        alive += live[b]
    for j in range(n):
        for b in range(nb):
            bw[j, b] = by[j, b]
    rounds = 0
    while alive > LOCK_STEP_MIN_LANES and rounds < HUBER_MAX_ITERATIONS:
        rounds += 1
        for b in range(nb):
            total[b] = 0.0
            squares[b] = 0.0
        for j in range(n):
            for b in range(nb):
                m0 = mean[b]
                sg = sigma[b]
                t0 = m0 - 1.5 * sg
                t1 = m0 + 1.5 * sg
                c0 = m0 - cutoff * sg
                c1 = m0 + cutoff * sg
                e = bw[j, b]
                if e < t0:
                    e = t0 if (cutoff <= 0.0 or e > c0) else m0
                elif e > t1:
                    e = t1 if (cutoff <= 0.0 or e < c1) else m0
                bw[j, b] = e
                total[b] += e
                squares[b] += e * e
        alive = 0
        for b in range(nb):
            if live[b]:
                new_mean = total[b] / n
                var = (squares[b] - total[b] * new_mean) / (n - 1)
                new_sigma = 1.134 * math.sqrt(var) if var > 0.0 else 0.0
                done = new_sigma < TINY or (rounds > 1 and abs(sigma[b] - new_sigma) < 0.0005 * sigma[b])
                mean[b] = new_mean
                sigma[b] = new_sigma
                if done:
                    live[b] = False
                else:
                    alive += 1
    if alive > 0:  # the last few lanes finish one by one
        for b in range(nb):
            if live[b]:
                for j in range(n):
                    work[j] = bw[j, b]
                mean[b], sigma[b] = _winsorize_rounds(work, n, mean[b], sigma[b], cutoff, rounds + 1)
    for b in range(nb):
        sg = sigma[b]
        nl = 0
        nh = 0
        if not abs(sg) <= TINY:
            if clip_low:
                limit = mean[b] - sigma_low * sg
                for j in range(n):
                    nl += by[j, b] < limit
            if clip_high:
                limit = mean[b] + sigma_high * sg
                for j in range(n):
                    nh += by[j, b] > limit
        lo = nl
        hi = n - nh
        if nl + nh > 0 and hi - lo >= 3:
            for j in range(n):
                lane_vals[j] = bv[j, b]
            lo, hi = _reject(lane_vals, lo, hi, WINSORIZED, clip_low, clip_high, sigma_low, sigma_high, cutoff,
                             y, himed, work, net_pairs, net_start, 1, bh[rank, b], kept)
        lo_out[b] = lo
        hi_out[b] = hi


@numba.njit(cache=True, nogil=True)
def _block_in_range(band, r, x0, range_low_on, range_low, range_high_on, range_high, bad):  # pragma: no cover
    """0 when no value of pixels (r, x0 .. x0 + BLOCK − 1) is range-rejected (or non-finite); else one past the
    offset of the last pixel that has one: no block can start before ``x0`` plus that.  ``bad``: BLOCK uint8
    of scratch."""
    n = band.shape[0]
    bad[:] = 0
    for i in range(n):
        for b in range(BLOCK):
            v = band[i, r, x0 + b]
            if range_low_on:
                bad[b] |= not v > range_low
            else:
                bad[b] |= not np.isfinite(v)
            if range_high_on:
                bad[b] |= v >= range_high
    for b in range(BLOCK - 1, -1, -1):
        if bad[b]:
            return b + 1
    return 0


@numba.njit(cache=True, nogil=True)
def _block_weighted_sums(band, r, x0, out_scale, out_offset, weights, sums):  # pragma: no cover - compiled
    """sums[b] = Σ_f w_f·(A_f·v_f + B_f) over all frames, in frame order (float64), of the
    pixels (r, x0 + b), b < sums.size: the clean pixels' sums of :func:`integrate_rows` with
    the pixels side by side (a vector loop; each sum adds the same terms in the same order)."""
    nb = sums.size
    for b in range(nb):
        sums[b] = 0.0
    for f in range(band.shape[0]):
        w = np.float64(weights[f])
        a = out_scale[f]
        o = out_offset[f]
        for b in range(nb):
            sums[b] += w * np.float64(band[f, r, x0 + b] * a + o)


@numba.njit(cache=True, nogil=True)
def integrate_rows(band, row0, row1, rej_mode, rej_scale, rej_offset, range_low_on, range_low, range_high_on,
                   range_high, algorithm, clip_low, clip_high, sigma_low, sigma_high, cutoff, out_scale,
                   out_offset, weights, image, gen_image, low_map, high_map, gen_maps, map_range,
                   counts, net_pairs, net_start, frame_bits, gen_bits):  # pragma: no cover - compiled
    """Integrate rows [row0, row1) of ``band`` (N, rows, width) float32 into ``image``/maps rows.

    ``rej_scale``/``rej_offset``/``out_scale``/``out_offset``/``weights`` are (N,) float32;
    ``range_low``/``range_high`` float32; ``counts`` (4, N) int64 is incremented (low,
    high, range low, range high per frame).  ``image`` (rows, width) float32 or float64
    and the maps (rows, width) float32 are written only when ``gen_image``/``gen_maps``.
    ``net_pairs``/``net_start``: the sorting networks for 0..N inputs (network m is
    ``net_pairs[net_start[m]:net_start[m + 1]]``).  Winsorized clipping runs blocks of
    BLOCK pixels without range-rejected values in lock step (:func:`_block_winsorized`).
    ``frame_bits`` (N, rows, width) uint8, zero on entry, gets each frame's rejection of
    each pixel in PCL's drizzle bits (high 1, low 2, range high 4, range low 8) when
    ``gen_bits``.
    """
    n, _, width = band.shape
    vals = np.empty(n, np.float32)
    idx = np.arange(n)
    column = vals.reshape(n, 1)  # one pixel's values, sorted as a block of one (_sort_columns_indexed)
    rank_frames = np.empty((n, 1), np.int32)
    radix_keys = np.empty(n, np.uint32)
    radix_spare = np.empty(n, np.uint32)
    radix_frames = np.empty(n, np.int32)
    radix_counts = np.empty(256, np.int64)
    y = np.empty(n, np.float32)
    himed = np.empty(n, np.float32)
    work = np.empty(n, np.float64)
    kept = np.empty(NEAR_RANKS, np.float32)
    everything = np.empty(n, np.float32)
    bv = np.empty((n, BLOCK), np.float32)
    bf = np.empty((n, BLOCK), np.int32)
    by = np.empty((n, BLOCK), np.float32)
    bh = np.empty((n, BLOCK), np.float32)
    bw = np.empty((n, BLOCK), np.float64)
    block_lo = np.empty(BLOCK, np.int64)
    block_hi = np.empty(BLOCK, np.int64)
    block_sum = np.empty(BLOCK, np.float64)
    block_bad = np.empty(BLOCK, np.uint8)
    inv_n = np.float32(1.0 / n)
    clean_den = 0.0
    for i in range(n):
        clean_den += np.float64(weights[i])
    blocked = algorithm == WINSORIZED and n >= 3
    for r in range(row0, row1):
        shift = np.float32(0.0)
        if rej_mode == MODE_SCALE:
            shift = _row_shift(band, r, rej_scale, rej_offset, range_low_on, range_low, range_high_on, range_high)
        block_x = -BLOCK
        next_block = 0  # no block starts before: the pixels up to a range-rejected value's are integrated alone
        for x in range(width):
            if blocked and x >= block_x + BLOCK and x >= next_block and x + BLOCK <= width:
                next_block = x + _block_in_range(band, r, x, range_low_on, range_low, range_high_on, range_high,
                                                 block_bad)
            if blocked and x >= block_x + BLOCK and x == next_block and x + BLOCK <= width:
                block_x = x
                _block_winsorized(band, r, x, rej_mode, rej_scale, rej_offset, shift, clip_low, clip_high,
                                  sigma_low, sigma_high, cutoff, net_pairs, net_start, bv, bf, by, bh, bw, block_lo,
                                  block_hi, vals, y, himed, work, kept)
                if gen_image:
                    _block_weighted_sums(band, r, x, out_scale, out_offset, weights, block_sum)
            in_block = x < block_x + BLOCK
            if in_block:
                lo0 = 0
                hi0 = n
                lo = block_lo[x - block_x]
                hi = block_hi[x - block_x]
            else:
                n_low, n_high = _gather(band, r, x, rej_mode, rej_scale, rej_offset, shift, range_low_on, range_low,
                                        range_high_on, range_high, vals)
                lo0 = n_low
                hi0 = n - n_high
                lo, hi = lo0, hi0
                if lo0 > 0 or hi0 < n or (algorithm != NO_REJECTION and hi0 - lo0 >= 3):
                    # sorted with each value's frame: the frames of the ranks a pixel with a rejection needs
                    if n < RADIX_MIN or not _radix_sort_indexed(vals, rank_frames[:, 0], n, radix_keys, radix_spare,
                                                                radix_frames, radix_counts):
                        _sort_columns_indexed(column, rank_frames, n, 1, net_pairs, net_start)
                if algorithm != NO_REJECTION and hi0 - lo0 >= 3:
                    lo, hi = _reject(vals, lo0, hi0, algorithm, clip_low, clip_high, sigma_low, sigma_high, cutoff,
                                     y, himed, work, net_pairs, net_start, 0, np.float32(-1.0), kept)
            clean = lo0 == 0 and hi0 == n and lo == 0 and hi == n
            if not clean:
                # frame attribution: the frame of each rank (ties in frame order, as a stable sort); the
                # rejected ranks [0, lo) and [hi, n) counted (the kept ones' bits stay 0: zero on entry)
                for rank in range(n):
                    idx[rank] = bf[rank, x - block_x] if in_block else rank_frames[rank, 0]
                for rank in range(lo):
                    f = idx[rank]
                    out_of_range = rank < lo0
                    counts[2 if out_of_range else 0, f] += 1
                    if gen_bits:
                        frame_bits[f, r, x] = 8 if out_of_range else 2
                for rank in range(hi, n):
                    f = idx[rank]
                    out_of_range = rank >= hi0
                    counts[3 if out_of_range else 1, f] += 1
                    if gen_bits:
                        frame_bits[f, r, x] = 4 if out_of_range else 1
            if gen_maps:
                low_count = lo - lo0
                high_count = hi0 - hi
                if map_range:
                    low_count += lo0
                    high_count += n - hi0
                low_map[r, x] = np.float32(low_count) * inv_n
                high_map[r, x] = np.float32(high_count) * inv_n
            if gen_image:
                if clean and in_block:
                    image[r, x] = block_sum[x - block_x] / clean_den
                elif clean:
                    num = 0.0
                    for f in range(n):
                        num += np.float64(weights[f]) * np.float64(band[f, r, x] * out_scale[f] + out_offset[f])
                    image[r, x] = num / clean_den
                elif hi > lo:
                    num = 0.0
                    den = 0.0
                    for rank in range(lo, hi):
                        f = idx[rank]
                        w = np.float64(weights[f])
                        num += w * np.float64(band[f, r, x] * out_scale[f] + out_offset[f])
                        den += w
                    image[r, x] = num / den
                else:
                    for i in range(n):
                        everything[i] = band[i, r, x] * out_scale[i] + out_offset[i]
                    image[r, x] = _median_sorted_copy(everything, n)
    return 0


@numba.njit(cache=True, nogil=True)
def _median_sorted_copy(values, n):  # pragma: no cover - compiled
    _sort_plain(values, n)
    half = n // 2
    if n % 2:
        return values[half]
    return (values[half - 1] + values[half]) / np.float32(2.0)


@numba.njit(cache=True, nogil=True)
def bwmv_sums(data, center, kd):  # pragma: no cover - compiled
    """(Σ d²(1 − u²)⁴, Σ (1 − u²)(1 − 5u²)) over |u| < 1, d = x − center, u = d/kd (float64)."""
    num = 0.0
    den = 0.0
    for i in range(data.size):
        d = np.float64(data[i]) - center
        u = d / kd
        if abs(u) < 1.0:
            u2 = u * u
            w = 1.0 - u2
            w2 = w * w
            num += d * d * w2 * w2
            den += w * (1.0 - 5.0 * u2)
    return num, den


@numba.njit(cache=True, nogil=True)
def abs_dev(data, center):  # pragma: no cover - compiled
    """|x − center| of every value, as a new float64 array."""
    out = np.empty(data.size, np.float64)
    for i in range(data.size):
        out[i] = abs(np.float64(data[i]) - center)
    return out


@numba.njit(cache=True, nogil=True)
def in_range_values(data, low, high):  # pragma: no cover - compiled
    """The values v of the 1-D ``data`` with low < v < high (never a NaN), in order, in one pass:
    ``data[(data > low) & (data < high)]`` without the mask."""
    out = np.empty(data.size, data.dtype)
    n = 0
    for i in range(data.size):
        v = data[i]
        if v > low and v < high:
            out[n] = v
            n += 1
    return out[:n]


_SELECT_BINS = 1 << 16


@numba.njit(cache=True, nogil=True, inline="always")
def _bin(v, lo, scale, bins):  # pragma: no cover - compiled
    """Histogram bin of ``v`` (bins of width 1/scale from ``lo``, the ends clamped)."""
    return min(max(int((np.float64(v) - np.float64(lo)) * scale), 0), bins - 1)


@numba.njit(cache=True, nogil=True, inline="always")
def _rank_bin(counts, k):  # pragma: no cover - compiled
    """(bin holding the value of rank ``k``, count of the values in the bins before it)."""
    total = 0
    for b in range(counts.size):
        if total + counts[b] > k:
            return b, total
        total += counts[b]
    return 0, 0


@numba.njit(cache=True, nogil=True)
def select_two_binned(data, k0, k1, counts, lo, hi):  # pragma: no cover - compiled
    """The ``k0``-th and ``k1``-th smallest of the finite 1-D ``data``, exactly, by a histogram of
    ``counts.size`` bins (``counts``, int64, the scratch histogram) between ``lo`` and ``hi``, the
    data's smallest and largest values (the caller found them, e.g. while copying the data).

    Small arrays (a few thousand values) select fastest with a few hundred bins.
    """
    return _select_values(data, 0.0, False, k0, k1, counts, lo, hi, data)


@numba.njit(cache=True, nogil=True)
def finite_median(data):  # pragma: no cover - compiled
    """(median, finite) of the 1-D float ``data``: ``np.median``'s value bit for bit, in the data's
    own type (the middle value of an odd count, ``(a + b) / 2`` of the two middle values of an
    even one).  The extremes are found in the pass that checks that every value is finite
    (``finite`` False: nothing else is computed, the median is returned as 0).
    """
    lo, hi, finite = _extremes(data)
    zero = lo - lo
    if not finite:
        return zero, False
    n = data.size
    a, b = _select_values(data, 0.0, False, (n - 1) // 2, n // 2, np.empty(_SELECT_BINS, np.int64), lo, hi, data)
    return (a if n % 2 else (a + b) / np.float32(2.0)), True


@numba.njit(cache=True, nogil=True)
def extremes(data):  # pragma: no cover - compiled
    """(``[smallest, largest]`` in the data's type, all finite) of the non-empty 1-D ``data`` in
    one pass (what :func:`finite_median` starts with)."""
    lo, hi, finite = _extremes(data)
    bounds = np.empty(2, data.dtype)
    bounds[0] = lo
    bounds[1] = hi
    return bounds, finite


@numba.njit(cache=True, nogil=True)
def masked_values(data, mask):  # pragma: no cover - compiled
    """(``data[mask]``, ``[smallest, largest]`` of it in the data's type, all finite) of the 1-D
    ``data`` and boolean ``mask`` in one pass: numpy's boolean selection and :func:`extremes`
    of the result (both extremes are 0 when nothing is selected)."""
    out = np.empty(data.size, data.dtype)
    zero = np.zeros(1, data.dtype)[0]
    lo = zero
    hi = zero
    finite = True
    n = 0
    for i in range(data.size):
        if mask[i]:
            v = data[i]
            if n == 0:
                lo = v
                hi = v
            finite &= v - v == 0
            if v < lo:
                lo = v
            if v > hi:
                hi = v
            out[n] = v
            n += 1
    bounds = np.empty(2, data.dtype)
    bounds[0] = lo
    bounds[1] = hi
    return out[:n], bounds, finite


@numba.njit(cache=True, nogil=True)
def median_between(data, bounds):  # pragma: no cover - compiled
    """The median of the non-empty, finite 1-D ``data`` whose extremes are ``bounds`` (an array
    of the data's type, from :func:`extremes`): :func:`finite_median`'s value without its first
    pass (in the data's type, as there)."""
    n = data.size
    a, b = _select_values(data, 0.0, False, (n - 1) // 2, n // 2, np.empty(_SELECT_BINS, np.int64), bounds[0],
                          bounds[1], data)
    return a if n % 2 else (a + b) / np.float32(2.0)


@numba.njit(cache=True, nogil=True)
def abs_dev_median(data, center, bounds):  # pragma: no cover - compiled
    """The median of |x − center| (float64) over the non-empty, finite 1-D ``data`` whose
    extremes are ``bounds`` (:func:`extremes`): ``finite_median(abs_dev(data, center))``
    exactly, without the float64 array of deviations (each pass forms them again)."""
    n = data.size
    c = np.float64(center)
    top = max(abs(np.float64(bounds[0]) - c), abs(np.float64(bounds[1]) - c))
    if top == 0.0:
        return 0.0
    a, b = _select_values(data, c, True, (n - 1) // 2, n // 2, np.empty(_SELECT_BINS, np.int64), 0.0, top,
                          np.empty(0, np.float64))
    return a if n % 2 else (a + b) / np.float32(2.0)


@numba.njit(cache=True, nogil=True, inline="always")
def _extremes(data):  # pragma: no cover - compiled
    """(smallest, largest, all finite) of the values of ``data`` (the extremes ignore NaNs after the first value)."""
    lo = data[0]
    hi = data[0]
    finite = True
    for i in range(data.size):
        v = data[i]
        finite &= v - v == 0
        if v < lo:
            lo = v
        if v > hi:
            hi = v
    return lo, hi, finite


@numba.njit(cache=True, nogil=True, inline="always")
def _value(data, i, center, deviation):  # pragma: no cover - compiled
    """``data[i]`` as float64, or its distance |data[i] − center| when ``deviation``."""
    v = np.float64(data[i])
    return abs(v - center) if deviation else v


@numba.njit(cache=True, nogil=True, inline="always")
def _select_values(data, center, deviation, k0, k1, counts, lo, hi, like):  # pragma: no cover - compiled
    """The k0-th and k1-th smallest of the values of ``data`` — or, when ``deviation``, of their
    distances to ``center`` (:func:`_value`), never stored as an array — exactly, in ``like``'s
    dtype (the data's own for the values: a float32 value round-trips float64 exactly).

    The histogram has ``counts.size`` equal bins from ``lo`` to ``hi`` (values beyond fall
    in the end bins: the bin stays monotonic in the value, so any range gives the same
    values, a range close to the values' extremes the fewest values to sort); ``lo == hi``
    means every value is ``lo``.
    """
    if lo == hi:
        return lo, lo
    n = data.size
    bins = counts.size
    scale = bins / (np.float64(hi) - np.float64(lo))
    if not (scale > 0.0 and scale < np.inf) or not np.isfinite(np.float64(hi) - np.float64(lo)):
        ordered = np.empty(n, like.dtype)
        for i in range(n):
            ordered[i] = _value(data, i, center, deviation)
        ordered.sort()
        return ordered[k0], ordered[k1]
    counts[:] = 0
    for i in range(n):
        counts[_bin(_value(data, i, center, deviation), lo, scale, bins)] += 1
    # the bins of both ranks and how many values lie before each
    b0, before0 = _rank_bin(counts, k0)
    b1, before1 = _rank_bin(counts, k1)
    inside = np.empty(counts[b0] + (counts[b1] if b1 != b0 else 0), like.dtype)
    m0 = 0
    m1 = counts[b0]
    for i in range(n):
        v = _value(data, i, center, deviation)
        b = _bin(v, lo, scale, bins)
        if b == b0:
            inside[m0] = v
            m0 += 1
        elif b == b1:
            inside[m1] = v
            m1 += 1
    first = np.sort(inside[: counts[b0]])
    v0 = first[k0 - before0]
    if b1 == b0:
        return v0, first[k1 - before0]
    second = np.sort(inside[counts[b0] :])
    return v0, second[k1 - before1]


_SAMPLE_SHIFT = 18
""":func:`median_mad_windows` estimates its windows from a strided subsample of about 2¹⁸ values (the stride
the smallest prime ≥ ``n >> 18``; below 2¹⁹ values, every value)."""
_WINDOW_BINS = 1 << 12
"""Bins of the subsample's two histograms: the first between its extremes finds the range of the second."""
_COARSE_STRIDE = 4
"""The first histogram takes every 4th value of the subsample."""
_LEVELS = 4
"""At most this many histograms of the subsample, each over the range the previous one found."""
_FINE_BINS = 64
"""Windows spanning this many bins of a histogram are fine enough: no narrower histogram is made."""
_MARGIN_SIGMAS = 4.0
"""Half-width of the estimated windows, in standard deviations of the subsample's rank (binomial)."""
_CHUNK = 1 << 14
"""Values classified at a time by :func:`_window_pass` (its mask of them stays in cache)."""
_ONE = np.uint64(1)
_BYTE_INDEX = np.uint64(0x0001020304050607)
_TOP_BYTE = np.uint64(56)


@numba.njit(cache=True, nogil=True, inline="always")
def _prime_stride(at_least):  # pragma: no cover - compiled
    """The smallest prime ≥ ``at_least`` (1 below 2): a subsample's stride that divides no image width
    with small prime factors only (1080 = 2³·3³·5), so that its values do not keep to a few columns."""
    if at_least < 2:
        return 1
    p = at_least
    while True:
        d = 2
        while d * d <= p and p % d:
            d += 1
        if d * d > p:
            return p
        p += 1


@numba.njit(cache=True, nogil=True, inline="always")
def _strided_sample(data, stride):  # pragma: no cover - compiled
    """(``data[::stride]`` as float64, its smallest and largest values)."""
    sample = np.empty((data.size + stride - 1) // stride, np.float64)
    lo = np.float64(data[0])
    hi = lo
    for i in range(sample.size):
        v = np.float64(data[i * stride])
        sample[i] = v
        lo = v if v < lo else lo
        hi = v if v > hi else hi
    return sample, lo, hi


@numba.njit(cache=True, nogil=True, inline="always")
def _histogram(sample, lo, hi, counts, lanes):  # pragma: no cover - compiled
    """``counts`` := the histogram of the values of ``sample`` from ``lo`` to ``hi`` (``lo`` < ``hi``) in
    ``counts.size`` equal bins; (the bin width, how many values lie below ``lo``).  Values outside are
    not counted (branch-free: they add 0 to an end bin).  Consecutive values count into the four rows
    of ``lanes`` (4, ``counts.size``) in turn, so that an increment seldom waits for the previous one to
    the same bin (values piled in few bins, or outside)."""
    lanes[:] = 0
    bins = counts.size
    scale = bins / (hi - lo)
    below = 0
    for i in range(sample.size):
        v = sample[i]
        below += v < lo
        lanes[i & 3, _bin(v, lo, scale, bins)] += (v >= lo) & (v <= hi)
    for b in range(bins):
        counts[b] = lanes[0, b] + lanes[1, b] + lanes[2, b] + lanes[3, b]
    return (hi - lo) / bins, below


@numba.njit(cache=True, nogil=True, inline="always")
def _deviation_quantiles(counts, centre_bin, low_rank, high_rank):  # pragma: no cover - compiled
    """(distances in bins from the middle of ``centre_bin`` within which more than ``low_rank`` and more
    than ``high_rank`` of the histogram's values lie; −1 where never): the bins taken nearest first."""
    bins = counts.size
    left = centre_bin - 1
    right = centre_bin + 1
    total = counts[centre_bin]
    d_low = 0.0 if total > low_rank else -1.0
    while left >= 0 or right < bins:
        if right >= bins or (left >= 0 and centre_bin - left <= right - centre_bin):
            d = centre_bin - left
            total += counts[left]
            left -= 1
        else:
            d = right - centre_bin
            total += counts[right]
            right += 1
        if d_low < 0.0 and total > low_rank:
            d_low = d
        if total > high_rank:
            return d_low, np.float64(d)
    return d_low, -1.0


@numba.njit(cache=True, nogil=True, inline="always")
def _bin_of_rank(counts, total, rank):  # pragma: no cover - compiled
    """The bin of ``counts`` (``total`` values) holding the value of ``rank`` (clamped to the binned values)."""
    return _rank_bin(counts, min(max(rank, 0), total - 1))[0]


@numba.njit(cache=True, nogil=True, inline="always")
def _bins_of_windows(counts, below, ns, n, with_mad):  # pragma: no cover - compiled
    """The bins of the windows of :func:`median_mad_windows` in the histogram ``counts`` of a subsample of
    ``ns`` of its ``n`` values (``below`` of them below the first bin): (bins of the lowest and of the
    highest rank the median may have in the subsample, the median's bin, and with ``with_mad`` the
    distances in bins within which the lowest and the highest rank the MAD may have lie, else 0).
    A rank outside the binned values takes the end bin (the windows are then too short: no harm)."""
    margin = _MARGIN_SIGMAS * math.sqrt(0.25 * ns) + 2.0
    total = 0
    for b in range(counts.size):
        total += counts[b]
    if total == 0:
        return 0, 0, 0, -1.0, -1.0
    k0 = (n - 1) // 2
    k1 = n // 2
    first = _bin_of_rank(counts, total, int(k0 * (ns / n) - margin) - below)
    last = _bin_of_rank(counts, total, int(k1 * (ns / n) + margin) + 1 - below)
    centre = _bin_of_rank(counts, total, k0 * ns // n - below)
    if not with_mad:
        return first, last, centre, 0.0, 0.0
    d_low, d_high = _deviation_quantiles(counts, centre, max(0, int(0.5 * ns - margin)),
                                         min(ns - 1, int(0.5 * ns + margin) + 1))
    return first, last, centre, d_low, d_high


@numba.njit(cache=True, nogil=True, inline="always")
def _estimate_windows(data, step, n, with_mad):  # pragma: no cover - compiled
    """(found, a, b, inner, outer): the windows of :func:`median_mad_windows` from a subsample of
    ``data[::step]`` (``n`` values) at a prime stride (:func:`_prime_stride`): [a, b] for the median,
    ``inner``…``outer`` from (a + b)/2 for the MAD.  A histogram of every 4th value of the subsample
    between its extremes finds the range a histogram of the whole subsample needs; that range is
    narrowed again (up to :data:`_LEVELS` histograms in all) while the windows span fewer than
    :data:`_FINE_BINS` of its bins (long tails)."""
    sample, lo, hi = _strided_sample(data, step * _prime_stride(n >> _SAMPLE_SHIFT))
    if not (lo < hi and hi - lo < np.inf):
        return False, 0.0, 0.0, 0.0, 0.0
    counts = np.empty(_WINDOW_BINS, np.int64)
    lanes = np.empty((4, _WINDOW_BINS), np.int64)
    binned = sample[::_COARSE_STRIDE]
    width = 0.0
    first = last = 0
    d_low = d_high = 0.0
    for level in range(_LEVELS):
        width, below = _histogram(binned, lo, hi, counts, lanes)
        first, last, centre, d_low, d_high = _bins_of_windows(counts, below, binned.size, n, with_mad)
        if d_low < 0.0 or d_high < 0.0:
            return False, 0.0, 0.0, 0.0, 0.0
        low_bin = min(first, centre - int(d_high)) if with_mad else first
        high_bin = max(last, centre + int(d_high)) if with_mad else last
        if (level > 0 and high_bin - low_bin >= _FINE_BINS) or level == _LEVELS - 1:
            break
        lo, hi = max(lo, lo + (low_bin - 2) * width), min(hi, lo + (high_bin + 3) * width)
        if not lo < hi:
            return False, 0.0, 0.0, 0.0, 0.0
        binned = sample
    a = lo + (first - 1) * width
    b = lo + (last + 2) * width
    spread = 0.5 * (b - a)
    return True, a, b, (d_low - 2.0) * width - spread, (d_high + 2.0) * width + spread


@numba.njit(cache=True, nogil=True, inline="always")
def _in_windows(v, a, b, c1, c2, c3, c4):  # pragma: no cover - compiled
    """Whether ``v`` lies in [a, b], [c1, c2] or [c3, c4] (branch-free)."""
    return ((v >= a) & (v <= b)) | ((v >= c1) & (v <= c2)) | ((v >= c3) & (v <= c4))


@numba.njit(cache=True, nogil=True, inline="always")
def _flag_chunk(chunk, mask, a, b, c1, c2, c3, c4):  # pragma: no cover - compiled
    """Flag in ``mask`` the values of the contiguous ``chunk`` that lie in the windows (:func:`_in_windows`);
    (#values < a, #values ≤ c2, #values < c3, #non-finite values): one vectorised loop (a lighter one
    for the median's window alone, c1…c4 = a)."""
    below_a = upto_c2 = below_c3 = bad = 0
    if c1 == a and c2 == a and c3 == a and c4 == a:
        for j in range(chunk.size):
            v = chunk[j]
            below_a += v < a
            bad += (v - v) != 0
            mask[j] = (v >= a) & (v <= b)
        return below_a, 0, 0, bad
    for j in range(chunk.size):
        v = chunk[j]
        below_a += v < a
        upto_c2 += v <= c2
        below_c3 += v < c3
        bad += (v - v) != 0
        mask[j] = _in_windows(v, a, b, c1, c2, c3, c4)
    return below_a, upto_c2, below_c3, bad


@numba.njit(cache=True, nogil=True, inline="always")
def _window_pass(data, step, a, b, c1, c2, c3, c4, out):  # pragma: no cover - compiled
    """One pass over ``data[::step]``: (how many of the values lie in the windows (copied to ``out`` in
    order while they fit), #values < a, #values ≤ c2, #values < c3, #non-finite values).

    A chunk at a time (gathered into a buffer when ``step`` > 1): :func:`_flag_chunk` counts and flags
    its values in a byte mask, which is then read eight flags at a time: only the flagged values are
    copied, each found from its word's lowest set bit (``2^(8j)`` times :data:`_BYTE_INDEX` has ``j`` in its
    top byte: no loop over the word's bytes, no branch on each).
    """
    mask = np.zeros(_CHUNK, np.uint8)
    words = mask.view(np.uint64)
    gathered = np.empty(_CHUNK if step > 1 else 0, data.dtype)
    found = below_a = upto_c2 = below_c3 = bad = 0
    n = (data.size + step - 1) // step
    for start in range(0, n, _CHUNK):
        m = min(_CHUNK, n - start)
        if step > 1:
            for j in range(m):
                gathered[j] = data[(start + j) * step]
            chunk = gathered[:m]
        else:
            chunk = data[start : start + m]
        counted = _flag_chunk(chunk, mask, a, b, c1, c2, c3, c4)
        below_a += counted[0]
        upto_c2 += counted[1]
        below_c3 += counted[2]
        bad += counted[3]
        mask[m:] = 0
        for w in range((m + 7) // 8):
            flags = words[w]
            while flags:  # each flag (a byte 1) of the word: the lowest set bit gives its byte
                lowest = flags & (~flags + _ONE)
                if found < out.size:
                    out[found] = chunk[8 * w + np.int64((lowest * _BYTE_INDEX) >> _TOP_BYTE)]
                found += 1
                flags ^= lowest
    return found, below_a, upto_c2, below_c3, bad


@numba.njit(cache=True, nogil=True)
def median_mad_windows(data, step, with_mad, like):  # pragma: no cover - compiled
    """(median, median of |x − median|, found) of the values ``data[::step]`` of the 1-D float ``data``,
    exactly: :func:`finite_median`'s median and the median of the deviations ``|x − m|`` formed in the
    type of the empty array ``like`` (the data's own type: ``finite_median`` of numpy's ``np.abs(x − m)``;
    float64 for float32 data: :func:`abs_dev_median`'s MAD), in one pass over the data instead of five.

    A strided subsample's histogram estimates the median and the MAD with their uncertainty, which gives
    a window around the median and, with ``with_mad``, two around the median ± MAD (about 1 % of the
    values each).  One pass (:func:`_window_pass`) counts the values below the windows and between them
    and copies those inside; the median is selected among the first window's values, then every copied
    value's deviation is formed and the MAD selected among those that fall between the largest
    deviation of a value inside the MAD windows' inner edges and the smallest outside their outer ones
    (bounds that rounding, being monotonic, cannot cross).  Ties, a skewed sample or any other miss show
    in the counts: ``found`` is False (and the values 0) whenever a wanted rank is not among the copied
    values, a window overflows its buffer, or a value is not finite; the caller then takes the
    histogram selections.  The sign of a zero median is the selection's (as :func:`finite_median`'s).
    """
    zero = data[0] - data[0]
    wide = like.dtype.type
    no_mad = wide(0.0)
    n = (data.size + step - 1) // step
    k0 = (n - 1) // 2
    k1 = n // 2
    found, a64, b64, inner, outer = _estimate_windows(data, step, n, with_mad)
    if not found:
        return zero, no_mad, False
    a = data.dtype.type(a64)
    b = data.dtype.type(b64)
    c1 = c2 = c3 = c4 = a
    if with_mad:
        centre = 0.5 * (a64 + b64)
        c1 = data.dtype.type(centre - outer)
        c2 = data.dtype.type(centre - inner)
        c3 = data.dtype.type(centre + inner)
        c4 = data.dtype.type(centre + outer)
        if not (c1 <= c2 and c2 < a and b < c3 and c3 <= c4):
            return zero, no_mad, False
    values = np.empty(n // 16 + 1024, data.dtype)
    found, below_a, upto_c2, below_c3, bad = _window_pass(data, step, a, b, c1, c2, c3, c4, values)
    if bad or found > values.size:
        return zero, no_mad, False
    values = values[:found]
    middle = values[(values >= a) & (values <= b)]
    if not (below_a <= k0 and k1 < below_a + middle.size):
        return zero, no_mad, False
    small = np.empty(1024, np.int64)
    u, v = _select_values(middle, 0.0, False, k0 - below_a, k1 - below_a, small, a, b, middle)
    median = u if n % 2 else (u + v) / np.float32(2.0)
    if not with_mad:
        return median, no_mad, True
    # |x − median| of every value between c2 and c3 is at most t_low, of every value below c1 or above c4
    # at least t_high (rounding is monotonic: a value nearer to the median never gets a larger deviation);
    # between those two bounds, only deviations of values in the MAD windows
    at = wide(median)
    t_low = max(abs(wide(c2) - at), abs(wide(c3) - at))
    t_high = min(abs(wide(c1) - at), abs(wide(c4) - at))
    if not (c2 < median and median < c3 and t_low < t_high):
        return zero, no_mad, False
    deviations = np.empty(found + 1, like.dtype)
    before = below_c3 - upto_c2 - middle.size  # the values between the windows, each within t_low
    m = 0
    for i in range(found):  # branch-free: the copied values' deviations, those between the bounds kept
        d = abs(wide(values[i]) - at)
        before += d <= t_low
        deviations[m] = d
        m += (d > t_low) & (d < t_high)
    if not (before <= k0 and k1 < before + m):
        return zero, no_mad, False
    deviations = deviations[:m]
    u, v = _select_values(deviations, 0.0, False, k0 - before, k1 - before, small, t_low, t_high, deviations)
    return median, (u if n % 2 else (u + v) / np.float32(2.0)), True
