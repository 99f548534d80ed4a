"""Resampling a target image onto the reference grid with a registration matrix.

For every output pixel ``(x, y)`` of the reference grid the matrix gives the position
``H·(x, y, 1)`` in the target, sampled with the kernels of
:mod:`processes.kernels.pixel_interpolation` (the same mathematics as its ``remap``),
computed by the compiled :func:`processes.kernels.warp_numba.warp_rows`: one pass per band
of output rows, every channel of a pixel from one set of tap weights, no coordinate grids.
Output pixels that fall outside the target get 0 (PixInsight's convention: ImageIntegration
range-rejects them), and the coverage mask marks the pixels that do not.

``pixelInterpolation`` maps to the kernels as in PixInsight; ``Auto`` chooses by the local
scale of the mapping (target pixels per output pixel, √|det J| at the frame centre):
Lanczos-3 for registrations at about the same scale (0.8–1.25), the Mitchell–Netravali
filter of radius ``max(2, ⌈1.5·s⌉)`` when the target is shrunk by more than 1.25 (to avoid
aliasing), and the bicubic spline when it is enlarged by more than 1.25 (no ringing from
Lanczos on upsampling).  Clamping applies to the bicubic spline and Lanczos kernels.

The bands are independent (each writes its own output rows), so they are shared among
:func:`warp_threads` threads (the compiled kernel releases the GIL): all the cores when the
warp runs in the submitting process (a serial run), one in a worker process of a pool that
already shares the cores among frames.  The result does not depend on the number of threads.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from processes.kernels import pixel_interpolation as pi
from processes.staralignment import models

__all__ = ["INTERPOLATIONS", "choose_kernel", "coverage_mask", "warp", "warp_threads"]

MAX_THREADS = 8
"""At most this many threads resample one image."""

INTERPOLATIONS: tuple[str, ...] = (
    "NearestNeighbor",
    "Bilinear",
    "BicubicSpline",
    "BicubicBSpline",
    "Lanczos3",
    "Lanczos4",
    "Lanczos5",
    "MitchellNetravaliFilter",
    "CatmullRomSplineFilter",
    "CubicBSplineFilter",
    "Auto",
)
"""StarAlignment's pixelInterpolation elements, in PixInsight's order (values 0..10)."""

_KERNELS = {
    "NearestNeighbor": "nearest",
    "Bilinear": "bilinear",
    "BicubicSpline": "bicubic",
    "BicubicBSpline": "bicubic_bspline",
    "Lanczos3": "lanczos3",
    "Lanczos4": "lanczos4",
    "Lanczos5": "lanczos5",
    "MitchellNetravaliFilter": "mitchell",
    "CatmullRomSplineFilter": "catmull_rom",
    "CubicBSplineFilter": "cubic_bspline",
}
_CLAMPED = frozenset({"bicubic", "lanczos3", "lanczos4", "lanczos5"})


def choose_kernel(element: str, h: np.ndarray, ref_size: tuple[int, int]) -> tuple[str, int]:
    """The remap kernel and filter radius for ``element`` under the mapping ``h``."""
    w, hgt = ref_size
    scale = models.jacobian_scale(h, (w - 1) / 2.0, (hgt - 1) / 2.0)
    radius = max(2, math.ceil(1.5 * scale))
    if element != "Auto":
        kernel = _KERNELS[element]
        return kernel, radius if kernel in ("mitchell", "catmull_rom", "cubic_bspline") else 2
    if scale > 1.25:
        return "mitchell", radius
    if scale < 0.8:
        return "bicubic", 2
    return "lanczos3", 2


def warp_threads() -> int:
    """Threads for one warp: :func:`procfw.batch.task_threads` (1 in a worker process whose
    cores are shared, as :mod:`procfw.batch` marks its workers with ``OMP_NUM_THREADS=1``,
    else the cores this process may use), at most :data:`MAX_THREADS`."""
    from procfw.batch import task_threads

    return task_threads(MAX_THREADS)


def _grid(h: np.ndarray, rows: slice, width: int) -> tuple[np.ndarray, np.ndarray]:
    ys = np.arange(rows.start, rows.stop, dtype=np.float64)[:, None]
    xs = np.arange(width, dtype=np.float64)[None, :]
    w = h[2, 0] * xs + h[2, 1] * ys + h[2, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        tx = (h[0, 0] * xs + h[0, 1] * ys + h[0, 2]) / w
        ty = (h[1, 0] * xs + h[1, 1] * ys + h[1, 2]) / w
    bad = ~np.isfinite(tx) | ~np.isfinite(ty) | (w <= 0)
    tx = np.where(bad, -1e9, tx)
    ty = np.where(bad, -1e9, ty)
    return tx, ty


def warp(
    pixels: np.ndarray,
    h: np.ndarray,
    out_size: tuple[int, int],
    *,
    kernel: str = "lanczos3",
    clamping: float | None = 0.3,
    radius: int = 2,
    band_rows: int = 256,
    progress: Callable[[float], None] | None = None,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample planar ``pixels`` (C, H, W) through ``h`` onto an ``out_size`` (width, height) grid.

    Returns the float32 result (C, height, width) and the boolean coverage mask
    (height, width) of the pixels that map inside the source.  ``threads``: how many
    threads share the bands of ``band_rows`` rows (None: :func:`warp_threads`); the result
    is the same for any number.
    """
    from processes.kernels import warp_numba

    pi.check_method(kernel)
    width, height = out_size
    planes = pi.kernel_planes(pixels)
    channels, src_h, src_w = planes.shape
    out = np.empty((channels, height, width), dtype=np.float32)
    mask = np.empty((height, width), dtype=bool)
    clamp = clamping if kernel in _CLAMPED else None
    if clamp is not None and not 0 <= clamp <= 1:
        raise ValueError(f"clamping threshold {clamp} must be in [0, 1] (or None)")
    code, table, fb, fc = warp_numba.method_parameters(kernel)
    source = warp_numba.sampling_source(planes, code, table)
    r = min(max(1, int(radius)), src_w), min(max(1, int(radius)), src_h)
    matrix = np.ascontiguousarray(h, dtype=np.float64)
    workers = max(1, min(height, int(threads if threads is not None else warp_threads())))
    step = max(1, int(band_rows))
    if workers > 1:  # bands small enough to keep every thread busy to the end
        step = max(1, min(step, -(-height // (4 * workers))))
    bands = [(start, min(height, start + step)) for start in range(0, height, step)]

    def band(rows: tuple[int, int]) -> int:
        warp_numba.warp_rows(source, matrix, rows[0], rows[1], code, table, r[0], r[1], fb, fc,
                             0.0 if clamp is None else float(clamp), clamp is not None, out, mask)
        return rows[1]

    if workers <= 1:
        for rows in bands:
            stop = band(rows)
            if progress is not None:
                progress(min(1.0, stop / height))
        return out, mask
    from concurrent.futures import ThreadPoolExecutor, as_completed

    with ThreadPoolExecutor(workers, thread_name_prefix="warp") as pool:
        done = 0
        for future in as_completed([pool.submit(band, rows) for rows in bands]):
            future.result()
            done += 1
            if progress is not None:
                progress(done / len(bands))
    return out, mask


def coverage_mask(h: np.ndarray, src_size: tuple[int, int], out_size: tuple[int, int]) -> np.ndarray:
    """(height, width) boolean mask of the output pixels that map inside a ``src_size`` (width, height) source."""
    width, height = out_size
    sw, sh = src_size
    tx, ty = _grid(h, slice(0, height), width)
    return (tx >= -0.5) & (tx <= sw - 0.5) & (ty >= -0.5) & (ty <= sh - 0.5)
