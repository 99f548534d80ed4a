"""Smoothed thin-plate spline surfaces, evaluated on a coarse grid and upsampled separably.

The engine is :class:`scipy.interpolate.RBFInterpolator` with the ``thin_plate_spline``
kernel.  Sample coordinates are pixel positions divided by the image's longer side, so the
surface is isotropic and independent of the image size.  ``smoothing`` (DBE's 0..10 factor)
becomes the interpolator's per-sample regularization ``λᵢ = (smoothing²·SCALE)/wᵢ``; 0
interpolates the samples exactly.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import sparse
from scipy.interpolate import RBFInterpolator

__all__ = ["SCALE", "SplineSurface", "linear_weights"]

SCALE = 0.02
"""λ for smoothing = 1, in squared units of the sample values per unit bending (chosen so that
DBE's default 0.25 averages sample noise away without following nebulosity-sized bumps)."""


def linear_weights(size: int, nodes: np.ndarray) -> sparse.csr_matrix:
    """A ``size × len(nodes)`` matrix interpolating linearly from ``nodes`` (increasing pixel
    positions) to every pixel ``0..size−1`` (extrapolating linearly beyond the outer nodes)."""
    pixels = np.arange(size, dtype=np.float64)
    if len(nodes) == 1:
        return sparse.csr_matrix(np.ones((size, 1)))
    right = np.clip(np.searchsorted(nodes, pixels, side="right"), 1, len(nodes) - 1)
    left = right - 1
    span = nodes[right] - nodes[left]
    t = (pixels - nodes[left]) / np.where(span > 0, span, 1)
    rows = np.repeat(np.arange(size), 2)
    cols = np.stack([left, right], axis=1).ravel()
    vals = np.stack([1 - t, t], axis=1).ravel()
    return sparse.csr_matrix((vals, (rows, cols)), shape=(size, len(nodes)))


class SplineSurface:
    """A smoothed thin-plate spline through samples at pixel positions of a ``height × width`` image."""

    def __init__(self, col: np.ndarray, row: np.ndarray, value: np.ndarray, *, height: int, width: int,
                 smoothing: float = 0.25, weights: np.ndarray | None = None, degree: int = 1) -> None:
        self.height, self.width = height, width
        self.unit = float(max(height, width, 2) - 1)
        points = np.column_stack([row, col]) / self.unit
        w = np.ones(len(value)) if weights is None else np.maximum(np.asarray(weights, dtype=np.float64), 1e-3)
        lam = smoothing**2 * SCALE / w
        self.interpolator = RBFInterpolator(points, np.asarray(value, dtype=np.float64), kernel="thin_plate_spline",
                                            smoothing=lam, degree=degree)

    def at(self, col: np.ndarray, row: np.ndarray) -> np.ndarray:
        """The surface at pixel positions."""
        return self.interpolator(np.column_stack([row, col]) / self.unit)

    def grid(self, spacing: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Node rows, node columns and the surface on a grid ``spacing`` pixels apart (edges included)."""
        rows = np.unique(np.r_[np.arange(0, self.height, spacing), self.height - 1]).astype(np.float64)
        cols = np.unique(np.r_[np.arange(0, self.width, spacing), self.width - 1]).astype(np.float64)
        gr, gc = np.meshgrid(rows, cols, indexing="ij")
        values = self.at(gc.ravel(), gr.ravel()).reshape(len(rows), len(cols))
        return rows, cols, values

    def render(self, spacing: int | None = None) -> np.ndarray:
        """The surface on every pixel (float32): exact on a grid of nodes, linear in between."""
        if spacing is None:
            spacing = max(1, math.ceil(max(self.height, self.width) / 128))
        rows, cols, values = self.grid(spacing)
        if spacing == 1:
            return values.astype(np.float32)
        wy, wx = linear_weights(self.height, rows), linear_weights(self.width, cols)
        across = np.asarray((wx @ values.T).T, dtype=np.float32)  # len(rows) × width
        return np.asarray(wy.astype(np.float32) @ across, dtype=np.float32)
