"""Polynomial background surfaces: least squares in normalized coordinates, separable evaluation.

Coordinates are normalized to [-1, 1] over the image (``x = 2·col/(width−1) − 1``), so a
model fitted on a downsampled grid evaluates on the full image, or on an image of another
size, unchanged.  A model of degree ``d`` has the terms ``x^i·y^j`` with ``i + j ≤ d``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["evaluate_at", "evaluate_polynomial", "fit_polynomial", "max_degree_for", "normalized", "terms"]


def terms(degree: int) -> list[tuple[int, int]]:
    """The exponents ``(i, j)`` of ``x^i·y^j`` with ``i + j ≤ degree``."""
    return [(i, j) for j in range(degree + 1) for i in range(degree + 1 - j)]


def max_degree_for(samples: int, degree: int) -> int:
    """The largest degree ≤ ``degree`` whose term count does not exceed ``samples``."""
    while degree > 0 and len(terms(degree)) > samples:
        degree -= 1
    return degree


def normalized(index: np.ndarray, size: int) -> np.ndarray:
    """Pixel coordinates (centres at 0..size−1) mapped to [-1, 1]."""
    return 2.0 * np.asarray(index, dtype=np.float64) / max(size - 1, 1) - 1.0


def fit_polynomial(x: np.ndarray, y: np.ndarray, z: np.ndarray, degree: int,
                   weights: np.ndarray | None = None) -> np.ndarray:
    """Least-squares coefficients of a degree-``degree`` surface through ``z`` at normalized ``(x, y)``.

    Returns a ``(degree+1, degree+1)`` matrix ``C`` with ``C[j, i]`` the coefficient of
    ``x^i·y^j`` (zero where ``i + j > degree``).
    """
    exps = terms(degree)
    design = np.stack([x**i * y**j for i, j in exps], axis=1)
    rhs = np.asarray(z, dtype=np.float64)
    if weights is not None:
        w = np.sqrt(np.asarray(weights, dtype=np.float64))
        design, rhs = design * w[:, None], rhs * w
    try:  # normal equations: a few dozen terms at most, so this is fast and well enough conditioned
        solution = np.linalg.solve(design.T @ design, design.T @ rhs)
    except np.linalg.LinAlgError:
        solution, *_ = np.linalg.lstsq(design, rhs, rcond=None)
    if not np.all(np.isfinite(solution)):
        solution, *_ = np.linalg.lstsq(design, rhs, rcond=None)
    coefficients = np.zeros((degree + 1, degree + 1))
    for (i, j), c in zip(exps, solution):
        coefficients[j, i] = c
    return coefficients


def evaluate_polynomial(coefficients: np.ndarray, height: int, width: int,
                        dtype: type = np.float32, out: np.ndarray | None = None) -> np.ndarray:
    """The surface on every pixel of a ``height × width`` image: ``Vy · C · Vxᵀ`` (separable),
    into ``out`` when given."""
    n = coefficients.shape[0]
    vx = normalized(np.arange(width), width)[:, None] ** np.arange(n)[None, :]
    vy = normalized(np.arange(height), height)[:, None] ** np.arange(n)[None, :]
    left = (vy @ coefficients).astype(dtype)
    return np.matmul(left, vx.T.astype(dtype), out=out)


def evaluate_at(coefficients: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The surface at normalized points ``(x, y)``."""
    n = coefficients.shape[0]
    out = np.zeros(np.broadcast(x, y).shape)
    for j in range(n):
        for i in range(n - j):
            if coefficients[j, i]:
                out += coefficients[j, i] * x**i * y**j
    return out
