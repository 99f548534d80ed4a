"""Background kernels of LocalNormalization: the coarse sky model and the large-scale component.

* :func:`coarse_background` — PixInsight's ``FixZero`` model: the median of the nonzero
  pixels of ``delta``×``delta`` boxes on a regular grid (``backgroundSamplingDelta``),
  interpolated to every pixel.  Used to replace rejected (zeroed) pixels and as the
  reference level of outlier rejection.
* :func:`large_scale` — PixInsight's ``LS``: the residual of a multiscale median transform
  at the normalization ``scale`` on the image decimated by ``r`` (nearest neighbour), then
  smoothed by a Gaussian of size ``scale/2`` (PixInsight's table of layers and ratios per
  scale, ``LocalNormalizationInstance.cpp``).  The image is padded by point reflection
  (``2·edge − mirror``) before the transform, so a linear gradient comes out unbent at the
  borders (median and Gaussian filters keep a plane; a plain mirror would flatten it near
  the edges).  The result stays decimated: :func:`upsample` and :func:`sample_at` read it
  at full-resolution coordinates.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import ndimage

__all__ = ["LS_TABLE", "coarse_background", "decimation", "large_scale", "sample_at", "upsample"]

LS_TABLE: dict[int, tuple[int, int]] = {
    8192: (9, 16), 6144: (9, 12), 4096: (9, 8), 3072: (8, 12), 2048: (8, 8), 1536: (8, 6),
    1024: (7, 8), 768: (7, 6), 512: (6, 8), 384: (6, 6), 256: (6, 4), 192: (6, 3), 128: (6, 2),
    64: (5, 2), 32: (4, 2),
}
"""Normalization scale -> (multiscale median layers, decimation ratio), PixInsight's table;
other scales use the 1024 entry, as PixInsight does."""

_GAUSSIAN_EPSILON = 0.01  # PCL's GaussianFilter default: the kernel is cut where it falls to 1 %


def decimation(scale: int) -> tuple[int, int]:
    """(layers, ratio) for ``scale``."""
    return LS_TABLE.get(int(scale), LS_TABLE[1024])


def _axis(coords: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    coords = np.clip(coords, 0, size - 1)
    low = np.minimum(np.floor(coords).astype(np.int64), max(size - 2, 0))
    frac = coords - low
    return low, np.minimum(low + 1, size - 1), frac


def grid_interpolate(small: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Bilinear values of ``small`` at grid coordinates ys (rows) × xs (columns), clamped (float32)."""
    small = np.asarray(small, dtype=np.float32)
    y0, y1, fy = _axis(np.asarray(ys, dtype=np.float64), small.shape[0])
    x0, x1, fx = _axis(np.asarray(xs, dtype=np.float64), small.shape[1])
    fy = fy.astype(np.float32)[:, None]
    rows = small[y0] * (1 - fy) + small[y1] * fy
    fx = fx.astype(np.float32)[None, :]
    return rows[:, x0] * (1 - fx) + rows[:, x1] * fx


def upsample(small: np.ndarray, ratio: int, height: int, width: int) -> np.ndarray:
    """A decimated plane (pixel k = full pixel ratio·k) at every full-resolution pixel (float32)."""
    return grid_interpolate(small, np.arange(height) / ratio, np.arange(width) / ratio)


def sample_at(small: np.ndarray, ratio: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """A decimated plane at full-resolution grid coordinates ys × xs (float64)."""
    return grid_interpolate(small, np.asarray(ys) / ratio, np.asarray(xs) / ratio).astype(np.float64)


def coarse_background(plane: np.ndarray, delta: int) -> np.ndarray:
    """Median of the nonzero pixels of each ``delta`` box, interpolated to full size (float32).

    Raises ValueError when fewer than 16 boxes have data (PixInsight: "Insufficient data to
    sample background image pixels").
    """
    h, w = plane.shape
    d = max(1, min(int(delta), h, w))
    ny, nx = h // d, w // d
    oy, ox = (h - ny * d) // 2, (w - nx * d) // 2
    boxes = plane[oy : oy + ny * d, ox : ox + nx * d].reshape(ny, d, nx, d).transpose(0, 2, 1, 3)
    boxes = boxes.reshape(ny, nx, d * d).astype(np.float32)
    valid = boxes != 0
    counts = valid.sum(axis=2)
    data = np.where(valid, boxes, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN boxes: filled below
        medians = np.nanmedian(data, axis=2)
    good = counts > 0
    if int(good.sum()) < min(16, ny * nx):
        raise ValueError("insufficient data to sample the background (fewer than 16 boxes have nonzero pixels)")
    if not good.all():
        _, (iy, ix) = ndimage.distance_transform_edt(~good, return_indices=True)
        medians = medians[iy, ix]
    # box k is centred at o + k·d + (d−1)/2
    ys = (np.arange(h) - oy - (d - 1) / 2) / d
    xs = (np.arange(w) - ox - (d - 1) / 2) / d
    return grid_interpolate(medians, ys, xs)


def gaussian_sigma(scale: int) -> float:
    """σ (full-resolution pixels) of PCL's ``GaussianFilter((scale >> 1) | 1)``: the kernel of that
    size is cut where it falls to 1 % of its peak."""
    size = (int(scale) >> 1) | 1
    return (size // 2) / math.sqrt(-2 * math.log(_GAUSSIAN_EPSILON))


def large_scale(plane: np.ndarray, scale: int) -> tuple[np.ndarray, int]:
    """(decimated large-scale component of ``plane`` at ``scale``, decimation ratio)."""
    from processes.kernels.multiscale import iter_multiscale_median

    layers, ratio = decimation(scale)
    small = np.ascontiguousarray(plane[::ratio, ::ratio], dtype=np.float32)
    sigma = gaussian_sigma(scale) / ratio
    reach = (1 << layers) + int(math.ceil(3 * sigma)) + 2
    pad_y, pad_x = min(reach, 4 * small.shape[0]), min(reach, 4 * small.shape[1])
    padded = np.pad(small, ((pad_y, pad_y), (pad_x, pad_x)), mode="reflect", reflect_type="odd")
    # no layer wider than the padded plane (the transform would zero it)
    layers = max(1, min(layers, int(math.log2(max(2, min(padded.shape) - 1)))))
    residual = None
    for level in iter_multiscale_median(padded, layers):
        residual = level
    assert residual is not None
    smooth = ndimage.gaussian_filter(residual, sigma, mode="nearest", truncate=3.0) if sigma > 0.3 else residual
    out = smooth[pad_y : pad_y + small.shape[0], pad_x : pad_x + small.shape[1]]
    return np.ascontiguousarray(out, dtype=np.float32), ratio
