"""Smooth evaluation of a small coefficient matrix at image pixels (PCL's bicubic B-spline).

PixInsight stores local normalization functions as small matrices (a few dozen samples a
side) and evaluates them at each image pixel with PCL's ``BicubicBSplineInterpolation``:
for matrix coordinates ``(x, y)`` the value is ``Σ p[i][j]·B(x − j)·B(y − i)`` over the
4×4 samples around ``(⌊x⌋, ⌊y⌋)`` (indices clamped to the matrix: the border repeats),
with the cubic B-spline kernel

    B(t) = ((t+2)³₊ − 4(t+1)³₊ + 6t³₊ − 4(t−1)³₊) / 6

(an approximating, not interpolating, spline: the surface is C² and smoother than the
samples).  Image pixel ``(X, Y)`` of a ``W×H`` image maps to matrix coordinates
``(X·w/W, Y·h/H)`` for a ``w×h`` matrix (``LocalNormalizationData::operator()``).

The evaluation is separable: :func:`evaluate_rows` interpolates along y for the rows
asked for, then along x, so a band of rows costs ``rows × (w + 4·W)`` operations and
never the whole image.  :func:`fit_matrix` goes the other way: the matrix whose surface
best fits samples of a smooth function (least squares, separable).
"""

from __future__ import annotations

import numpy as np

__all__ = ["axis_weights", "bspline_kernel", "design_matrix", "evaluate_rows", "fit_matrix"]


def bspline_kernel(t: np.ndarray) -> np.ndarray:
    """The centred cubic B-spline B(t) (support [−2, 2], B(0) = 2/3)."""
    t = np.asarray(t, dtype=np.float64)

    def cube(v: np.ndarray) -> np.ndarray:
        return np.where(v > 0, v * v * v, 0.0)

    return (cube(t + 2) - 4 * cube(t + 1) + 6 * cube(t) - 4 * cube(t - 1)) / 6


def axis_weights(coords: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices, weights), each (len(coords), 4), of the 4 samples used at matrix ``coords``.

    As PCL: the centre index is ``trunc(coord)`` clamped to ``[0, size − 1]``; the four
    samples are centre − 1 .. centre + 2, clamped to the matrix.
    """
    coords = np.asarray(coords, dtype=np.float64)
    centre = np.clip(np.trunc(coords).astype(np.int64), 0, size - 1)
    offsets = np.arange(-1, 3)
    indices = centre[:, None] + offsets[None, :]
    weights = bspline_kernel(offsets[None, :] - (coords - centre)[:, None])
    return np.clip(indices, 0, size - 1), weights


def evaluate_rows(matrix: np.ndarray, rows: np.ndarray, width: int, height: int) -> np.ndarray:
    """The B-spline surface of ``matrix`` (h, w) at image rows ``rows`` of a ``width``×``height`` image.

    Returns a float64 array (len(rows), width).
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    mh, mw = matrix.shape
    rows = np.asarray(rows, dtype=np.float64)
    yi, yw = axis_weights(rows * (mh / height), mh)
    # along y: (rows, 4, w) gathered rows weighted and summed -> (rows, w)
    partial = np.einsum("rk,rkw->rw", yw, matrix[yi])
    xi, xw = axis_weights(np.arange(width, dtype=np.float64) * (mw / width), mw)
    # along x: (rows, width, 4) gathered columns weighted and summed
    return np.einsum("xk,rxk->rx", xw, partial[:, xi])


def design_matrix(coords: np.ndarray, size: int) -> np.ndarray:
    """(len(coords), size): row k holds the B-spline weights of the matrix samples at ``coords[k]``
    (clamped indices add up, as PCL's evaluation repeats the border samples)."""
    indices, weights = axis_weights(coords, size)
    out = np.zeros((indices.shape[0], size))
    np.add.at(out, (np.repeat(np.arange(indices.shape[0]), 4), indices.ravel()), weights.ravel())
    return out


def fit_matrix(values: np.ndarray, rows: np.ndarray, cols: np.ndarray, width: int, height: int,
               mw: int, mh: int) -> np.ndarray:
    """The (mh, mw) matrix whose B-spline surface best fits ``values`` (len(rows), len(cols)).

    ``values`` are samples of a smooth function at image rows × columns of a
    ``width``×``height`` image; the matrix is the separable least-squares solution, so that
    :func:`evaluate_rows` reproduces the function (also near the borders, where a matrix
    of point samples would be pulled toward the interior by the approximating spline and
    the repeated border samples).
    """
    ky = design_matrix(np.asarray(rows, dtype=np.float64) * (mh / height), mh)
    kx = design_matrix(np.asarray(cols, dtype=np.float64) * (mw / width), mw)
    partial, *_ = np.linalg.lstsq(ky, np.asarray(values, dtype=np.float64), rcond=None)  # (mh, ncols)
    full, *_ = np.linalg.lstsq(kx, partial.T, rcond=None)  # (mw, mh)
    return full.T
