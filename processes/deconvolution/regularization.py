"""Deconvolution's wavelet regularization of the residual, a band of rows at a time.

Each iteration the residual ``r0 = f − P∗u`` is split into ``J`` starlet layers
``w_j = c_{j−1} − c_j`` (``c_0 = r0``, ``c_j`` the scaling function with taps ``2^(j−1)``
apart, symmetric edges: :mod:`processes.kernels.multiscale`'s starlet), each layer is hard
thresholded (coefficients under ``t_j`` multiplied by ``keep_j``) and the layers and the
residual ``c_J`` are added up again.  :func:`regularize_residual` does it in the buffer of
the blurred estimate ``b``, which it replaces by the regularized residual ``r'`` or, for
Richardson–Lucy, by the ratio ``max(0, r'/max(b, ε) + 1)``: ``r0`` is computed on the fly,
the levels ``c_1 .. c_{J−1}`` are kept only for a band of rows (with the halo the coarser
levels need) and ``c_J`` is never stored, so the work needs a few bands of memory instead
of several planes.  A band's result is written back one band late, once the next band has
read the rows of ``b`` it needs.  The compiled passes are in :mod:`.regularization_nb`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from processes.kernels import multiscale as ms

__all__ = ["regularize_residual"]

BAND_ROWS = 256
"""Rows of the plane regularized at once (more when the levels' halo needs it)."""


def _taps(scaling: Sequence[float]) -> np.ndarray:
    taps = np.asarray(scaling, dtype=np.float64)
    return taps / taps.sum()


def regularize_residual(observed: np.ndarray, blurred: np.ndarray, thresholds: Sequence[float],
                        amounts: Sequence[float], scaling: Sequence[float] = ms.B3_SPLINE, *,
                        poisson: bool = False, ratio: bool = False, eps: float = 1e-12,
                        band_rows: int = BAND_ROWS) -> np.ndarray:
    """Replace ``blurred`` (float32, C-contiguous, ``observed``'s shape) by the regularized
    residual of ``observed − blurred`` (``ratio``: by Richardson–Lucy's ratio); returns it.

    ``thresholds[j]`` and ``amounts[j]`` are layer ``j + 1``'s threshold (in data units) and
    noise reduction (the fraction taken off coefficients under the threshold); ``poisson``
    divides the residual by ``√(b / median(b))`` before thresholding and multiplies it back."""
    from processes.deconvolution import regularization_nb as nb

    if observed.shape != blurred.shape or observed.ndim != 2:
        raise ValueError(f"regularization needs two planes of one shape, got {observed.shape} and {blurred.shape}")
    if blurred.dtype != np.float32 or not blurred.flags.c_contiguous:
        raise ValueError("regularization works in place on a C-contiguous float32 plane")
    f = np.ascontiguousarray(observed, dtype=np.float32)
    layers = len(thresholds)
    if layers < 1 or len(amounts) != layers:
        raise ValueError(f"regularization needs one amount per threshold, got {layers} and {len(amounts)}")
    height, width = f.shape
    taps = _taps(scaling)
    half = taps.size // 2
    steps = [ms.scale_distance(j, starlet=True) for j in range(layers)]
    zeros = [(taps.size - 1) * s + 1 > min(height, width) for s in steps]
    reach = [0 if z else half * s for s, z in zip(steps, zeros)]
    # halo[j]: rows of c_j needed beyond a band (c_0 the residual; c_J is made row by row)
    halo = [sum(reach[j:]) for j in range(layers)]
    band = max(band_rows, halo[0] + 1)
    keep = np.array([1 - a if a > 0 else 1 for a in amounts], dtype=np.float32)
    limit = np.array([t if a > 0 and t > 0 else 0 for t, a in zip(thresholds, amounts)], dtype=np.float32)
    level = np.float32(0)
    floor = np.float32(0)
    if poisson:
        median = float(np.median(blurred))
        if median > 0:
            level = np.float32(median)
            floor = np.float32(1e-6 * median)
    rows = [min(height, band + 2 * halo[j]) for j in range(1, layers)]
    levels = np.empty((max(layers - 1, 1), max(rows, default=1), width if layers > 1 else 1), dtype=np.float32)
    offsets = np.zeros(max(layers - 1, 1), dtype=np.int64)
    pending = [np.empty((min(band, height), width), dtype=np.float32) for _ in range(2)]
    waiting: tuple[int, int, np.ndarray] | None = None
    f32eps = np.float32(eps)
    for index, y0 in enumerate(range(0, height, band)):
        y1 = min(height, y0 + band)
        for j in range(1, layers):  # c_j over the band and its halo
            lo, hi = max(0, y0 - halo[j]), min(height, y1 + halo[j])
            offsets[j - 1] = lo
            src = levels[j - 2] if j > 1 else f
            nb.smooth_band(src, int(offsets[j - 2]) if j > 1 else 0, levels[j - 1], lo, hi - lo, f, blurred,
                           j == 1, taps, taps, steps[j - 1], zeros[j - 1], floor, level)
        out = pending[index % 2]
        nb.finish_band(levels, offsets, f, blurred, out, y0, y1, taps, taps, steps[-1], zeros[-1], limit, keep,
                       floor, level, ratio, f32eps)
        if waiting is not None:
            blurred[waiting[0] : waiting[1]] = waiting[2][: waiting[1] - waiting[0]]
        waiting = (y0, y1, out)
    if waiting is not None:
        blurred[waiting[0] : waiting[1]] = waiting[2][: waiting[1] - waiting[0]]
    return blurred
