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
:func:`warp` returns the whole result; :func:`warp_bands` gives it a band of rows at a time in
two small reused buffers (a registered frame written to its file as it is made, never held
whole).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

from processes.kernels import pixel_interpolation as pi
from processes.staralignment import models

__all__ = ["BAND_BYTES", "INTERPOLATIONS", "choose_kernel", "coverage_mask", "warp", "warp_bands", "warp_threads"]

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
    width, height = out_size
    sampler = _BandSampler(pixels, h, kernel, clamping, radius)
    out = np.empty((sampler.channels, height, width), dtype=np.float32)
    mask = np.empty((height, width), dtype=bool)
    workers = _workers(threads, height)
    step = max(1, int(band_rows))
    if workers > 1:  # bands small enough to keep every thread busy to the end
        step = max(1, min(step, -(-height // (4 * workers))))
    bands = [(start, min(height, start + step)) for start in range(0, height, step)]

    def band(rows: tuple[int, int]) -> int:
        sampler(rows[0], rows[1], out, mask, 0)
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


BAND_BYTES = 4 << 20
"""About the size of a band of :func:`warp_bands` (float32 values of all channels; 323 rows of a
1080-pixel-wide RGB frame): few enough bands that their calls cost nothing, and a small part of
the frame."""


def warp_bands(
    pixels: np.ndarray,
    h: np.ndarray,
    out_size: tuple[int, int],
    *,
    kernel: str = "lanczos3",
    clamping: float | None = 0.3,
    radius: int = 2,
    band_rows: int | None = None,
    threads: int | None = None,
    ahead: bool = False,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """:func:`warp` a band of rows at a time, top to bottom: ``(first row, values, mask)`` of each
    band of ``band_rows`` output rows (None: about :data:`BAND_BYTES`), ``values`` (C, rows,
    width) float32 and ``mask`` (rows, width) bool, the same numbers as those rows of
    :func:`warp`'s result.

    The two arrays are buffers reused for every band (use or copy a band before asking for
    the next): the whole result is never held.  ``threads`` share each band's rows as in
    :func:`warp`.  With ``ahead``, each next band is made in a thread of its own while the
    caller uses the current one (writes it to a file: the disk's time hides behind the
    resampling), in a second pair of buffers; bands are then half as tall by default, so the
    buffers take the same memory.
    """
    width, height = out_size
    sampler = _BandSampler(pixels, h, kernel, clamping, radius)
    if band_rows is None:
        band_rows = BAND_BYTES // (2 if ahead else 1) // (4 * sampler.channels * max(1, width))
    step = max(1, min(int(band_rows), height))
    buffers = [(np.empty((sampler.channels, step, width), dtype=np.float32), np.empty((step, width), dtype=bool))
               for _ in range(2 if ahead else 1)]
    workers = _workers(threads, step)
    pool = next_band = None
    if workers > 1 or ahead:
        from concurrent.futures import ThreadPoolExecutor

        if workers > 1:
            pool = ThreadPoolExecutor(workers, thread_name_prefix="warp")
        if ahead:
            next_band = ThreadPoolExecutor(1, thread_name_prefix="warp-ahead")

    def fill(first: int) -> tuple[int, np.ndarray, np.ndarray]:
        """Band ``first``'s rows made in its pair of buffers (the pairs take turns); the band."""
        stop = min(height, first + step)
        out, mask = buffers[first // step % len(buffers)]
        if pool is None:
            sampler(first, stop, out, mask, first)
        else:  # the band's rows shared among the threads
            share = -(-(stop - first) // workers)
            parts = [pool.submit(sampler, row, min(stop, row + share), out, mask, first)
                     for row in range(first, stop, share)]
            for part in parts:
                part.result()
        return first, out[:, : stop - first], mask[: stop - first]

    try:
        if next_band is None:
            for first in range(0, height, step):
                yield fill(first)
            return
        coming = next_band.submit(fill, 0)
        for first in range(step, height + step, step):
            band = coming.result()
            if first < height:  # the next band, in the other buffers, while the caller uses this one
                coming = next_band.submit(fill, first)
            yield band
    finally:
        if next_band is not None:
            next_band.shutdown(wait=True)
        if pool is not None:
            pool.shutdown()


def _workers(threads: int | None, rows: int) -> int:
    """Threads for a warp of ``rows`` output rows (None: :func:`warp_threads`)."""
    return max(1, min(rows, int(threads if threads is not None else warp_threads())))


class _BandSampler:
    """Resamples output rows through the compiled :func:`processes.kernels.warp_numba.warp_rows`:
    ``sampler(row0, row1, out, mask, first)`` writes rows ``row0..row1`` into ``out``/``mask``,
    which hold the output rows from ``first`` on."""

    def __init__(self, pixels: np.ndarray, h: np.ndarray, kernel: str, clamping: float | None,
                 radius: int) -> None:
        from processes.kernels import warp_numba

        pi.check_method(kernel)
        planes = pi.kernel_planes(pixels)
        self.channels, src_h, src_w = planes.shape
        clamp = clamping if kernel in _CLAMPED else None
        if clamp is not None and not 0 <= clamp <= 1:
            raise ValueError(f"clamping threshold {clamp} must be in [0, 1] (or None)")
        self._code, self._table, self._fb, self._fc = warp_numba.method_parameters(kernel)
        self._source = warp_numba.sampling_source(planes, self._code, self._table)
        self._radii = min(max(1, int(radius)), src_w), min(max(1, int(radius)), src_h)
        self._matrix = np.ascontiguousarray(h, dtype=np.float64)
        self._clamping = 0.0 if clamp is None else float(clamp)
        self._clamped = clamp is not None
        self._warp_rows = warp_numba.warp_rows

    def __call__(self, row0: int, row1: int, out: np.ndarray, mask: np.ndarray, first: int) -> None:
        self._warp_rows(self._source, self._matrix, row0, row1, self._code, self._table, self._radii[0],
                        self._radii[1], self._fb, self._fc, self._clamping, self._clamped, out, mask, first)



def coverage_mask(h: np.ndarray, src_size: tuple[int, int], out_size: tuple[int, int]) -> np.ndarray:
    """(height, width) boolean mask of the output pixels that map inside a ``src_size`` (width, height) source."""
    width, height = out_size
    sw, sh = src_size
    tx, ty = _grid(h, slice(0, height), width)
    return (tx >= -0.5) & (tx <= sw - 0.5) & (ty >= -0.5) & (ty <= sh - 0.5)
