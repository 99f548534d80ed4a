"""Background samples: boxes on a regular grid, with the rejection rules of PixInsight's ABE.

The image (one channel) is first block-averaged by the downsampling factor.  Boxes of
``box_size``² pixels are laid on a grid, ``box_separation`` pixels apart (edge to edge),
centred on the image.  Within each box a pixel is *valid* when

* it lies within ``[ref − unbalance·tolerance·σ, ref + tolerance·σ]``, ``ref`` being the
  box median and σ the noise of the channel (stars are what lies above), and
* with brightness limits, within ``[min_background, max_background]``;

a box whose valid fraction is below ``min_box_fraction`` is dropped; the others give the
mean of their valid pixels.  :func:`robust_surface` then rejects, iteratively, the boxes
more than ``deviation·σ`` above (or ``unbalance·deviation·σ`` below) the current model
(nebulosity and large objects), and refits.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import numpy as np

__all__ = ["BoxSamples", "block_mean", "block_median", "expected_fraction", "grid_samples", "measure_boxes",
           "noise_sigma", "robust_surface"]


@attrs.frozen
class BoxSamples:
    """Box samples of one channel: centres (full-image pixel coordinates), values, half size."""

    col: np.ndarray
    row: np.ndarray
    value: np.ndarray
    radius: float


def block_mean(plane: np.ndarray, factor: int) -> np.ndarray:
    """``plane`` averaged over ``factor × factor`` blocks (the edge remainder is dropped), float64."""
    if factor <= 1:
        return np.asarray(plane, dtype=np.float64)
    h, w = plane.shape[0] // factor, plane.shape[1] // factor
    if h == 0 or w == 0:
        return np.asarray(plane, dtype=np.float64)
    total = np.zeros((h, w), dtype=np.float64)
    for dy in range(factor):  # strided sums: much faster than a reshaped mean for small factors
        for dx in range(factor):
            total += plane[dy: h * factor: factor, dx: w * factor: factor]
    total *= 1.0 / (factor * factor)
    return total


def block_median(plane: np.ndarray, factor: int) -> np.ndarray:
    """Medians of ``factor × factor`` blocks of ``plane`` (the edge remainder is dropped), float64."""
    if factor <= 1:
        return np.asarray(plane, dtype=np.float64)
    h, w = plane.shape[0] // factor, plane.shape[1] // factor
    if h == 0 or w == 0:
        return np.asarray(plane, dtype=np.float64)
    blocks = np.asarray(plane[: h * factor, : w * factor], dtype=np.float32).reshape(h, factor, w, factor)
    return np.median(blocks.transpose(0, 2, 1, 3).reshape(h, w, factor * factor), axis=2).astype(np.float64)


def noise_sigma(plane: np.ndarray) -> float:
    """Gaussian noise σ from the MAD of horizontal first differences (insensitive to smooth gradients)."""
    if plane.shape[1] < 2:
        return 0.0
    step = max(1, int(np.sqrt(plane.size / 250_000)))  # about 250 000 differences or fewer
    sub = np.asarray(plane[::step, ::step], dtype=np.float64)
    diff = (sub[:, 1:] - sub[:, :-1]).ravel()
    mad = np.median(np.abs(diff - np.median(diff)))
    return float(1.4826 * mad / np.sqrt(2.0))


def grid_samples(
    plane: np.ndarray, *, box_size: int, box_separation: int, downsample: int = 1, tolerance: float = 1.0,
    unbalance: float = 1.8, min_box_fraction: float = 0.05, limits: tuple[float, float] | None = None,
) -> tuple[BoxSamples, float]:
    """Box samples of ``plane`` (height × width) and the noise σ of the downsampled plane."""
    small = block_mean(plane, downsample)
    factor = plane.shape[0] / small.shape[0]
    sigma = noise_sigma(small)
    size = max(1, min(box_size, small.shape[0], small.shape[1]))
    step = size + box_separation
    ny = max(1, (small.shape[0] + box_separation) // step)
    nx = max(1, (small.shape[1] + box_separation) // step)
    oy = (small.shape[0] - (ny * step - box_separation)) // 2
    ox = (small.shape[1] - (nx * step - box_separation)) // 2
    region = small[oy: oy + ny * step, ox: ox + nx * step]
    if region.shape != (ny * step, nx * step):  # one box, separation beyond the edge
        region = np.pad(region, ((0, ny * step - region.shape[0]), (0, nx * step - region.shape[1])), mode="edge")
    boxes = region.reshape(ny, step, nx, step)[:, :size, :, :size].transpose(0, 2, 1, 3).reshape(ny * nx, size * size)
    ref = np.median(boxes, axis=1, keepdims=True)
    valid = (boxes <= ref + tolerance * sigma) & (boxes >= ref - unbalance * tolerance * sigma)
    if limits is not None:
        valid &= (boxes >= limits[0]) & (boxes <= limits[1])
    count = valid.sum(axis=1)
    keep = count >= max(1.0, min_box_fraction * size * size)
    value = np.where(valid, boxes, 0.0).sum(axis=1)[keep] / count[keep]
    cy = oy + np.arange(ny) * step + (size - 1) / 2
    cx = ox + np.arange(nx) * step + (size - 1) / 2
    gy, gx = np.meshgrid(cy, cx, indexing="ij")
    row = ((gy.ravel() + 0.5) * factor - 0.5)[keep]
    col = ((gx.ravel() + 0.5) * (plane.shape[1] / small.shape[1]) - 0.5)[keep]
    return BoxSamples(col=col, row=row, value=value, radius=size * factor / 2), sigma


def robust_surface(
    values: np.ndarray, fit: Callable[[np.ndarray], Callable[[], np.ndarray]], *, sigma: float, deviation: float,
    unbalance: float, max_iterations: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Iteratively reject samples off the model and refit.

    ``fit(kept)`` fits a model to the samples where ``kept`` is true and returns a function
    giving the model at every sample.  A sample is kept when its residual ``r`` satisfies
    ``−unbalance·t ≤ r ≤ t``, ``t = max(deviation·σ, 2.5·s)``, ``s`` the robust spread of the
    kept residuals (so a model pulled up by nebulosity at first rejects it step by step).
    Returns (kept mask, model at the samples).
    """
    kept = np.ones(values.shape, dtype=bool)
    model = fit(kept)()
    for _ in range(max_iterations):
        residual = values - model
        spread = 1.4826 * float(np.median(np.abs(residual[kept] - np.median(residual[kept]))))
        threshold = max(deviation * sigma, 2.5 * spread)
        new = (residual <= threshold) & (residual >= -unbalance * threshold)
        if new.sum() < max(3, kept.sum() // 4) or np.array_equal(new, kept):
            break
        kept = new
        model = fit(kept)()
    return kept, model


def expected_fraction(tolerance: float, relaxation: float) -> float:
    """The fraction of pure Gaussian noise inside ``[−relaxation·tolerance·σ, tolerance·σ]``."""
    from math import erf, sqrt

    def phi(z: float) -> float:
        return 0.5 * (1 + erf(z / sqrt(2)))

    return phi(tolerance) - phi(-relaxation * tolerance)


def measure_boxes(
    plane: np.ndarray, col: np.ndarray, row: np.ndarray, radius: float, *, sigma: float, tolerance: float,
    relaxation: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Values and weights of square samples of half side ``radius`` centred at pixel positions.

    Pixels more than ``tolerance``·σ above the box median, or ``relaxation``·``tolerance``·σ
    below it, are left out; the value is the mean of the rest, the weight the fraction kept
    relative to what pure noise would keep (1: a clean background box; a star lowers it).
    """
    height, width = plane.shape
    r = max(0, int(round(radius)))
    expected = expected_fraction(tolerance, relaxation) if sigma > 0 else 1.0
    values = np.full(len(col), np.nan)
    weights = np.zeros(len(col))
    for k, (cx, cy) in enumerate(zip(np.rint(col).astype(int), np.rint(row).astype(int))):
        box = plane[max(0, cy - r): min(height, cy + r + 1), max(0, cx - r): min(width, cx + r + 1)]
        if box.size == 0:
            continue
        box = np.asarray(box, dtype=np.float64)
        ref = np.median(box)
        valid = (box <= ref + tolerance * sigma) & (box >= ref - relaxation * tolerance * sigma)
        n = int(valid.sum())
        if n:
            values[k] = box[valid].mean()
            weights[k] = min(1.0, n / box.size / expected)
    return values, weights
