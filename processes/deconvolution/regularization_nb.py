"""Compiled (numba) passes behind :mod:`processes.deconvolution.regularization`, imported only with it.

Both work on a band of rows of the plane and read the residual ``r0 = f − b`` (the observed
plane minus the blurred estimate; divided by the Poisson scale ``√(max(b, floor)/level)``
when ``level > 0``) on the fly, so that it is never stored.  Smoothing is the engine's
(:func:`processes.kernels.multiscale_nb.smooth_separable`): column taps into a float64 row,
then row taps, symmetric edges (scipy's ``reflect``), each value rounded once to float32;
``zero`` stands for a filter wider than the plane (a level of zeros, as PCL's).

:func:`smooth_band`
    rows ``[y0, y0 + n)`` of one smoothing level ``c_j = S_j(c_{j−1})``: ``c_{j−1}`` is the
    residual itself (``j = 1``) or a band buffer whose first row is plane row ``src_y0``;
:func:`finish_band`
    rows ``[y0, y1)`` of the regularized residual ``Σ_j θ_j(c_{j−1} − c_j) + c_J`` (``θ_j``
    the hard threshold: coefficients under ``t_j`` times ``keep_j``), the last level
    ``c_J`` smoothed on the fly from ``c_{J−1}``; times the Poisson scale, then, for
    Richardson–Lucy (``ratio``), turned into ``max(0, r'/max(b, ε) + 1)``.
"""

from __future__ import annotations

import numba
import numpy as np

from processes.kernels.multiscale_nb import row_pass as _row_pass
from processes.kernels.numba_common import reflect

__all__ = ["finish_band", "smooth_band"]

_CHUNK = 8


@numba.njit(cache=True, nogil=True, inline="always")
def _scale(b, floor, level):  # pragma: no cover - compiled
    """The Poisson scale ``√(max(b, floor)/level)`` in float32 (as numpy computes it)."""
    v = b if b > floor else floor
    return np.float32(np.sqrt(np.float32(v / level)))


@numba.njit(cache=True, nogil=True, inline="always")
def _column_pass(src, src_y0, f, b, residual, y, height, hcol, step, row, floor, level):  # pragma: no cover
    """``row`` = the column taps of ``S`` at plane row ``y`` (float64)."""
    width = row.size
    ncol = hcol.size
    hc = ncol // 2
    row[:] = 0.0
    for k in range(ncol):
        weight = hcol[k]
        if weight == 0.0:
            continue
        yy = reflect(y + (k - hc) * step, height)
        if residual:
            fr = f[yy]
            br = b[yy]
            if level > 0:
                for x in range(width):
                    value = np.float32(fr[x] - br[x]) / _scale(br[x], floor, level)
                    row[x] += weight * value
            else:
                for x in range(width):
                    row[x] += weight * np.float32(fr[x] - br[x])
        else:
            source = src[yy - src_y0]
            for x in range(width):
                row[x] += weight * source[x]


@numba.njit(cache=True, nogil=True, parallel=True)
def smooth_band(src, src_y0, out, y0, n, f, b, residual, hcol, hrow, step, zero, floor, level):  # pragma: no cover
    """``out[i]`` = row ``y0 + i`` of ``S(c)`` for ``i < n``; ``c`` the residual (``residual``)
    or ``src`` (plane row ``src_y0`` first)."""
    height, width = f.shape
    chunks = (n + _CHUNK - 1) // _CHUNK
    for chunk in numba.prange(chunks):
        row = np.empty(width, dtype=np.float64)
        for i in range(chunk * _CHUNK, min(n, (chunk + 1) * _CHUNK)):
            if zero:
                out[i, :] = 0
                continue
            _column_pass(src, src_y0, f, b, residual, y0 + i, height, hcol, step, row, floor, level)
            _row_pass(row, hrow, step, out[i])


@numba.njit(cache=True, nogil=True, parallel=True)
def finish_band(levels, offsets, f, b, out, y0, y1, hcol, hrow, step, zero, thresholds, keeps,
                floor, level, ratio, eps):  # pragma: no cover - compiled
    """``out[y − y0]`` for plane rows ``y0 ≤ y < y1``: the regularized residual (or RL ratio).

    ``levels[j − 1]`` holds ``c_j`` for ``j < J`` (its first row is plane row ``offsets[j − 1]``);
    ``thresholds``/``keeps`` (J values, float32) the hard threshold of each layer."""
    height, width = f.shape
    nlev = thresholds.size
    n = y1 - y0
    chunks = (n + _CHUNK - 1) // _CHUNK
    zero32 = np.float32(0)
    one32 = np.float32(1)
    for chunk in numba.prange(chunks):
        row = np.empty(width, dtype=np.float64)
        last = np.empty(width, dtype=np.float32)
        first = np.empty(width, dtype=np.float32)
        scale = np.empty(width, dtype=np.float32)
        total = np.empty(width, dtype=np.float32)
        for i in range(chunk * _CHUNK, min(n, (chunk + 1) * _CHUNK)):
            y = y0 + i
            if zero:
                last[:] = 0
            elif nlev == 1:
                _column_pass(f, 0, f, b, True, y, height, hcol, step, row, floor, level)
                _row_pass(row, hrow, step, last)
            else:
                _column_pass(levels[nlev - 2], offsets[nlev - 2], f, b, False, y, height, hcol, step, row,
                             floor, level)
                _row_pass(row, hrow, step, last)
            fr = f[y]
            br = b[y]
            for x in range(width):
                first[x] = fr[x] - br[x]
            if level > 0:
                for x in range(width):
                    scale[x] = _scale(br[x], floor, level)
                    first[x] = first[x] / scale[x]
            total[:] = zero32
            previous = first
            for j in range(nlev):
                current = last if j == nlev - 1 else levels[j, y - offsets[j]]
                t = thresholds[j]
                keep = keeps[j]
                for x in range(width):
                    w = np.float32(previous[x] - current[x])
                    total[x] = total[x] + (np.float32(w * keep) if abs(w) < t else w)
                previous = current
            for x in range(width):
                total[x] = total[x] + previous[x]
            if level > 0:
                for x in range(width):
                    total[x] = total[x] * scale[x]
            target = out[i]
            if ratio:
                for x in range(width):
                    bx = br[x]
                    value = np.float32(total[x] / (bx if bx > eps else eps)) + one32
                    target[x] = value if value > zero32 else zero32
            else:
                target[:] = total
