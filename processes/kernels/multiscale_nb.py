"""Compiled (numba) pass behind :mod:`processes.kernels.multiscale`, imported only with it.

:func:`smooth_separable`
    one smoothing level of a redundant (à trous) transform: a separable low-pass filter
    whose taps are ``step`` pixels apart, edges extended symmetrically as PCL's
    ``SeparableConvolution`` does (scipy's ``reflect``: −1 → 0, ``size`` → ``size − 1``).
    The column pass goes through a one-row float64 buffer, so no intermediate image is
    made; sums are float64, each result rounded once to the plane's type.  Rows are
    spread over numba's threads.
"""

from __future__ import annotations

import numba
import numpy as np

from processes.kernels.numba_common import reflect

__all__ = ["row_pass", "smooth_separable"]


@numba.njit(cache=True, nogil=True, inline="always")
def row_pass(row, hrow, step, target):  # pragma: no cover - compiled
    """``target`` = ``row`` filtered by the taps ``hrow`` (odd length, centred), ``step`` pixels
    apart, symmetric edges; each sum rounded once to ``target``'s type."""
    width = row.size
    nrow = hrow.size
    hr = nrow // 2
    lo = min(hr * step, width)
    hi = max(lo, width - hr * step)
    for x in range(lo, hi):
        acc = 0.0
        for k in range(nrow):
            acc += hrow[k] * row[x + (k - hr) * step]
        target[x] = acc
    for x in range(lo):
        acc = 0.0
        for k in range(nrow):
            acc += hrow[k] * row[reflect(x + (k - hr) * step, width)]
        target[x] = acc
    for x in range(hi, width):
        acc = 0.0
        for k in range(nrow):
            acc += hrow[k] * row[reflect(x + (k - hr) * step, width)]
        target[x] = acc


@numba.njit(cache=True, nogil=True, parallel=True)
def smooth_separable(src, out, hcol, hrow, step):  # pragma: no cover - compiled
    """``out`` = ``src`` (h, w) filtered by ``hcol`` down the columns and ``hrow`` along the
    rows (odd lengths, centred), taps ``step`` apart, symmetric edges."""
    height, width = src.shape
    ncol = hcol.size
    hc = ncol // 2
    for y in numba.prange(height):
        row = np.zeros(width, dtype=np.float64)
        for k in range(ncol):
            weight = hcol[k]
            if weight == 0.0:
                continue
            source = src[reflect(y + (k - hc) * step, height)]
            for x in range(width):
                row[x] += weight * source[x]
        row_pass(row, hrow, step, out[y])
