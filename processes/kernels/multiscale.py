"""Redundant multiscale transforms: starlet (à trous), multiscale linear and multiscale median.

Each transform splits a 2-D plane into detail layers ``w_1 .. w_J`` and a residual ``c_J``
with ``c_0 = plane``, ``c_j = F_j(c_{j-1})`` and ``w_j = c_{j-1} − c_j``, so that the layers
and the residual add up to the plane again.  As in PCL (``RedundantMultiscaleTransform``),
scale ``j`` (0-based ``j0 = j − 1``) has the "distance" ``d_j = 2^j0`` (dyadic) or, with a
``scale_delta`` δ ≥ 1, ``1 + j0·δ`` for the starlet and ``(1 + j0)·δ`` for the others:

``starlet``
    PCL's ``ATrousWaveletTransform``: ``F_j`` is the separable scaling function (the B3
    spline ``[1, 4, 6, 4, 1]/16`` by default) with its taps ``d_j`` pixels apart;
``multiscale_linear``
    PCL's ``MultiscaleLinearTransform``: ``F_j`` is a Gaussian filter of ``1 + 2·d_j``
    coefficients (σ = d_j/√(−2 ln 0.01): truncated where it falls to 1 %);
``multiscale_median``
    PCL's ``MultiscaleMedianTransform``: ``F_j`` is a median filter over a disk of
    diameter ``1 + 2·d_j`` (larger than 11 pixels: on the plane reduced by ``n/9``, then
    interpolated back); with ``median_wavelet_threshold`` the median-wavelet transform,
    where pixels whose median change is below ``k·σ`` (σ from the MAD of the change) take
    the Gaussian-smoothed value instead.

Edges are extended symmetrically (−1 → 0), as PCL's separable convolution does, and a
filter whose extent ``(n − 1)·d + 1`` exceeds the plane's width or height leaves zeros, as
PCL's does.  Work is float32 for float32 planes (float64 otherwise).

The ``iter_*`` generators yield the detail layers one at a time and the residual last,
reusing their buffers: a layer is valid until the next one is asked for, so a process
can modify and accumulate layers with about three planes of memory.  :func:`noise_coefficients`
gives σ of each layer for unit-σ white Gaussian noise (the layers' impulse responses).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from scipy import ndimage

__all__ = [
    "B3_SPLINE",
    "LINEAR_INTERPOLATION",
    "iter_multiscale_linear",
    "iter_multiscale_median",
    "iter_starlet",
    "multiscale_linear",
    "multiscale_median",
    "noise_coefficients",
    "scale_distance",
    "smooth",
    "smoothings",
    "starlet",
]

B3_SPLINE = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)
"""The B3 spline scaling function (one axis of the separable 5×5 kernel)."""

LINEAR_INTERPOLATION = (0.25, 0.5, 0.25)
"""The linear interpolation scaling function (one axis of the separable 3×3 kernel)."""

_GAUSSIAN_EPSILON = 0.01
Smoother = Callable[[np.ndarray, np.ndarray, int], None]


def scale_distance(j0: int, scale_delta: int = 0, *, starlet: bool = False) -> int:
    """Distance of 0-based scale ``j0``: ``2^j0``, or ``1 + j0·δ`` (starlet) / ``(1 + j0)·δ``."""
    if scale_delta < 1:
        return 1 << j0
    return 1 + j0 * scale_delta if starlet else (1 + j0) * scale_delta


def _work_type(plane: np.ndarray) -> np.dtype:
    return np.dtype(np.float32) if plane.dtype == np.float32 else np.dtype(np.float64)


def _normalized(filter_: Sequence[float]) -> np.ndarray:
    taps = np.asarray(filter_, dtype=np.float64)
    if taps.ndim != 1 or taps.size % 2 == 0:
        raise ValueError(f"a scaling function filter needs an odd number of coefficients, got {taps.size}")
    total = taps.sum()
    if total == 0:
        raise ValueError("a scaling function filter must not add up to zero")
    return taps / total


def smooth(src: np.ndarray, out: np.ndarray, col: Sequence[float], row: Sequence[float] | None = None,
           step: int = 1) -> np.ndarray:
    """``out`` = ``src`` smoothed by the separable filter (``col`` down, ``row`` across; both
    normalized to unit sum), taps ``step`` apart, symmetric edges; zeros where the filter
    is wider than the plane (PCL)."""
    hcol = _normalized(col)
    hrow = hcol if row is None else _normalized(row)
    extent = (max(hcol.size, hrow.size) - 1) * step + 1
    if extent > src.shape[0] or extent > src.shape[1]:
        out[...] = 0
        return out
    from processes.kernels import multiscale_nb

    multiscale_nb.smooth_separable(np.ascontiguousarray(src), out, hcol, hrow, int(step))
    return out


def _iterate(plane: np.ndarray, layers: int, smoother: Smoother) -> Iterator[np.ndarray]:
    if layers < 1:
        raise ValueError(f"a multiscale transform needs at least one layer, got {layers}")
    if plane.ndim != 2:
        raise ValueError(f"a multiscale transform works on one 2-D plane, got shape {plane.shape}")
    dtype = _work_type(plane)
    current = np.array(plane, dtype=dtype, order="C", copy=True)
    spare = np.empty_like(current)
    for j0 in range(layers):
        smoother(current, spare, j0)
        np.subtract(current, spare, out=current)  # the detail layer, in the finer level's buffer
        yield current
        current, spare = spare, current
    yield current


def iter_starlet(plane: np.ndarray, layers: int, *, scaling_function: Sequence[float] = B3_SPLINE,
                 col_function: Sequence[float] | None = None, scale_delta: int = 0) -> Iterator[np.ndarray]:
    """Starlet layers of ``plane`` one at a time (``layers`` details, then the residual)."""
    col = scaling_function if col_function is None else col_function

    def step(src: np.ndarray, out: np.ndarray, j0: int) -> None:
        smooth(src, out, col, scaling_function, scale_distance(j0, scale_delta, starlet=True))

    return _iterate(plane, layers, step)


@functools.lru_cache(maxsize=64)
def gaussian_taps(size: int) -> tuple[float, ...]:
    """PCL's ``GaussianFilter(size)``: σ = (size // 2)/√(−2 ln 0.01), unnormalized taps."""
    half = size // 2
    sigma = half / math.sqrt(-2 * math.log(_GAUSSIAN_EPSILON))
    return tuple(math.exp(-(x * x) / (2 * sigma * sigma)) for x in range(-half, half + 1))


def _gaussian_smooth(src: np.ndarray, out: np.ndarray, size: int) -> None:
    if size > src.shape[0] or size > src.shape[1]:
        out[...] = 0
        return
    taps = _normalized(gaussian_taps(size)).astype(src.dtype)
    ndimage.correlate1d(src, taps, axis=1, mode="reflect", output=out)
    ndimage.correlate1d(out, taps, axis=0, mode="reflect", output=out)


def iter_multiscale_linear(plane: np.ndarray, layers: int, *, scale_delta: int = 0) -> Iterator[np.ndarray]:
    """Multiscale linear (Gaussian) layers of ``plane`` one at a time, then the residual."""

    def step(src: np.ndarray, out: np.ndarray, j0: int) -> None:
        _gaussian_smooth(src, out, 1 + 2 * scale_distance(j0, scale_delta))

    return _iterate(plane, layers, step)


def _disk(size: int) -> np.ndarray:
    radius = size / 2
    centre = size // 2
    y, x = np.mgrid[:size, :size] - centre
    return (x * x + y * y) <= radius * radius


def _median(src: np.ndarray, size: int) -> np.ndarray:
    if size <= 11:
        return ndimage.median_filter(src, footprint=_disk(size), mode="reflect")
    factor = size / 9
    small = ndimage.zoom(src, 1 / factor, order=1, mode="reflect", grid_mode=True)
    small = ndimage.median_filter(small, footprint=_disk(9), mode="reflect")
    zoom = (src.shape[0] / small.shape[0], src.shape[1] / small.shape[1])
    back = ndimage.zoom(small, zoom, order=3, mode="reflect", grid_mode=True)
    return back[: src.shape[0], : src.shape[1]]


def iter_multiscale_median(plane: np.ndarray, layers: int, *, scale_delta: int = 0,
                           median_wavelet_threshold: float | None = None) -> Iterator[np.ndarray]:
    """Multiscale median layers of ``plane`` one at a time, then the residual; with
    ``median_wavelet_threshold`` the median-wavelet transform (see the module docstring)."""

    def step(src: np.ndarray, out: np.ndarray, j0: int) -> None:
        size = 1 + 2 * scale_distance(j0, scale_delta)
        if size > src.shape[0] or size > src.shape[1]:
            out[...] = 0
            return
        median = _median(src, size)
        if median_wavelet_threshold is None:
            out[...] = median
            return
        change = src - median
        mad = float(np.median(np.abs(change - np.median(change))))
        threshold = median_wavelet_threshold * mad / 0.6745
        mixed = np.where(np.abs(change) > threshold, median, src).astype(src.dtype)
        _gaussian_smooth(mixed, out, size)

    return _iterate(plane, layers, step)


def smoothings(plane: np.ndarray, layers: int, scaling_function: Sequence[float] = B3_SPLINE
               ) -> Iterator[np.ndarray]:
    """The starlet's successive smoothings ``c_1 .. c_layers`` of ``plane`` (dyadic), one at a time and
    each a new array: detail layer ``w_j = c_{j−1} − c_j`` with ``c_0 = plane``, for callers that
    combine the layers in their own way (StarMask, ColorCalibration's structure detection)."""
    current = np.asarray(plane, dtype=_work_type(plane))
    for j0 in range(layers):
        current = smooth(current, np.empty_like(current), scaling_function,
                         step=scale_distance(j0, starlet=True))
        yield current


def _collect(levels: Iterator[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    arrays = [level.copy() for level in levels]
    return arrays[:-1], arrays[-1]


def starlet(plane: np.ndarray, layers: int, **options) -> tuple[list[np.ndarray], np.ndarray]:
    """The starlet transform of ``plane``: (``layers`` detail layers, residual); options as
    :func:`iter_starlet`."""
    return _collect(iter_starlet(plane, layers, **options))


def multiscale_linear(plane: np.ndarray, layers: int, **options) -> tuple[list[np.ndarray], np.ndarray]:
    """The multiscale linear (Gaussian) transform of ``plane``: (details, residual)."""
    return _collect(iter_multiscale_linear(plane, layers, **options))


def multiscale_median(plane: np.ndarray, layers: int, **options) -> tuple[list[np.ndarray], np.ndarray]:
    """The multiscale median transform of ``plane``: (details, residual)."""
    return _collect(iter_multiscale_median(plane, layers, **options))


@functools.lru_cache(maxsize=32)
def noise_coefficients(kind: str, layers: int, scaling_function: tuple[float, ...] = B3_SPLINE,
                       scale_delta: int = 0) -> tuple[float, ...]:
    """σ of each detail layer of a linear transform (``"starlet"`` or ``"linear"``) for
    unit-σ white Gaussian noise: the ℓ² norms of the layers' impulse responses."""
    reach = sum(2 * scale_distance(j, scale_delta, starlet=kind == "starlet") * (len(scaling_function) // 2 + 1)
                for j in range(layers))
    size = 2 * reach + 3
    impulse = np.zeros((size, size), dtype=np.float64)
    impulse[size // 2, size // 2] = 1.0
    if kind == "starlet":
        details, _ = starlet(impulse, layers, scaling_function=scaling_function, scale_delta=scale_delta)
    elif kind == "linear":
        details, _ = multiscale_linear(impulse, layers, scale_delta=scale_delta)
    else:
        raise ValueError(f"noise coefficients are known for linear transforms ('starlet', 'linear'), not {kind!r}")
    return tuple(float(np.sqrt(np.sum(w * w))) for w in details)
