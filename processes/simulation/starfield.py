"""Synthetic star fields with exactly known positions, for tests and demonstrations.

Stars are circular Gaussians integrated over each pixel (``erf`` differences), so a star's
centroid is exactly its given position.  A target frame "seen through" a transformation
``h`` (reference → target pixel coordinates, as :mod:`~processes.staralignment.models`)
places the stars at ``h(position)`` and widens them by the local scale of ``h``, so that
registering it back must reproduce the reference.  Deterministic by seed.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erf

from processes.staralignment import models

__all__ = ["random_field", "render_stars", "seen_through"]


def render_stars(
    xy: np.ndarray,
    flux: np.ndarray,
    width: int,
    height: int,
    *,
    sigma: float = 1.5,
    background: float = 0.05,
    noise: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """A float32 (height, width) frame of pixel-integrated Gaussian stars (total ``flux`` each).

    ``noise`` is the standard deviation of added Gaussian noise; values are clipped to [0, 1].
    Stars outside the frame contribute their wings inside it.
    """
    img = np.full((height, width), background, dtype=np.float64)
    r = int(math.ceil(5 * sigma))
    s2 = sigma * math.sqrt(2.0)
    for (x, y), f in zip(np.asarray(xy, dtype=np.float64), np.asarray(flux, dtype=np.float64)):
        ix, iy = int(round(x)), int(round(y))
        x0, x1 = max(0, ix - r), min(width, ix + r + 1)
        y0, y1 = max(0, iy - r), min(height, iy + r + 1)
        if x0 >= x1 or y0 >= y1:
            continue
        xs, ys = np.arange(x0, x1), np.arange(y0, y1)
        gx = 0.5 * (erf((xs + 0.5 - x) / s2) - erf((xs - 0.5 - x) / s2))
        gy = 0.5 * (erf((ys + 0.5 - y) / s2) - erf((ys - 0.5 - y) / s2))
        img[y0:y1, x0:x1] += f * np.outer(gy, gx)
    if noise:
        img += np.random.default_rng(seed).normal(0.0, noise, img.shape)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def random_field(
    n: int, width: int, height: int, *, seed: int = 1, margin: float = -60.0, sigma: float = 1.5,
    peaks: tuple[float, float] = (0.01, 0.7),
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` star positions (N, 2) over the frame grown by −``margin`` pixels, and their fluxes.

    Peak values are log-uniform in ``peaks`` (many faint stars, few bright ones); the flux of
    a star of peak p is 2πσ²·p.
    """
    rng = np.random.default_rng(seed)
    xy = np.column_stack([rng.uniform(margin, width - margin, n), rng.uniform(margin, height - margin, n)])
    lo, hi = math.log10(peaks[0]), math.log10(peaks[1])
    flux = 10 ** rng.uniform(lo, hi, n) * 2 * math.pi * sigma**2
    return xy, flux


def seen_through(
    h: np.ndarray, xy: np.ndarray, flux: np.ndarray, width: int, height: int, *, sigma: float = 1.5, **kw: float
) -> np.ndarray:
    """The target frame of the field (xy, flux) through ``h``: stars at h(xy), σ and flux scaled by
    the local scale of ``h`` at the frame centre (the same stars observed at that scale)."""
    scale = models.jacobian_scale(h, (width - 1) / 2, (height - 1) / 2)
    return render_stars(models.apply(h, xy), np.asarray(flux) * scale**2, width, height, sigma=sigma * scale, **kw)
