"""Synthetic truth for LocalNormalization tests: a star field seen through varying sky and transparency.

``scene`` is the noiseless truth S (a sky with a gentle gradient plus Gaussian stars);
the reference is ``S + noise``; each target is ``a(x, y)·S + b(x, y) + noise`` with a
smooth transparency ``a`` and an additive sky ``b`` (gradient and curvature), so the
normalization that maps a target onto the reference is known exactly: ``(t − b)/a``.
"""

from __future__ import annotations

import numpy as np

SIGMA = 0.002
"""Gaussian noise of every frame (the reference's too)."""


def scene(n: int = 256, stars: int = 150, seed: int = 1) -> np.ndarray:
    """The noiseless truth, (n, n) float64."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n].astype(np.float64)
    image = 0.08 + 0.01 * xx / n + 0.005 * (yy / n) ** 2
    xs, ys = rng.uniform(8, n - 8, stars), rng.uniform(8, n - 8, stars)
    amps = np.minimum(0.03 * rng.pareto(1.5, stars) + 0.02, 0.6)
    s = 1.4
    for x, y, a in zip(xs, ys, amps):
        x0, y0 = int(x), int(y)
        box = (slice(y0 - 7, y0 + 8), slice(x0 - 7, x0 + 8))
        image[box] += a * np.exp(-((xx[box] - x) ** 2 + (yy[box] - y) ** 2) / (2 * s * s))
    return image


def transparency(n: int, k: int, varying: bool) -> np.ndarray:
    """Frame k's a(x, y): 0.8 .. 1.0 across the field when ``varying``, else a constant."""
    yy, xx = np.mgrid[:n, :n].astype(np.float64)
    if varying:
        return 0.8 + 0.12 * xx / n + 0.06 * yy / n + 0.03 * k
    return np.full((n, n), 0.85 + 0.03 * k)


def sky(n: int, k: int) -> np.ndarray:
    """Frame k's additive b(x, y): a tilted plane plus curvature (amplitude ~0.05)."""
    yy, xx = np.mgrid[:n, :n].astype(np.float64)
    tilt = (0.03 + 0.01 * k) * xx / n - (0.02 + 0.005 * k) * yy / n
    return 0.03 + 0.005 * k + tilt + 0.02 * ((xx - n / 2) ** 2 + (yy - n / 3) ** 2) / n**2


def frames(count: int = 1, *, n: int = 256, varying: bool = True, seed: int = 1):
    """(truth S, reference, [(target, a, b), ...]), float64 planes."""
    truth = scene(n, seed=seed)
    rng = np.random.default_rng(seed + 100)
    reference = truth + rng.normal(0, SIGMA, truth.shape)
    targets = []
    for k in range(count):
        a, b = transparency(n, k, varying), sky(n, k)
        targets.append((a * truth + b + rng.normal(0, SIGMA, truth.shape), a, b))
    return truth, reference, targets
