"""PixInsight's midtones transfer function (MTF) and histogram transformation.

``mtf(m, x) = (m − 1)·x / ((2m − 1)·x − m)`` for 0 < x < 1, with mtf(m, 0) = 0 and
mtf(m, 1) = 1; it maps m to 0.5.  It is evaluated here in the algebraically equal form
``(1 − m)·x / ((1 − m)·x + m·(1 − x))``, whose terms are all non-negative (no
cancellation) and which gives exactly 0 and 1 at the ends.  The inverse of mtf(m, ·) is
mtf(1 − m, ·).

A histogram transformation (PCL ``HistogramTransformation``) maps a value in [0, 1] by

1. shadows/highlights clipping: ``x ≤ c0 → 0``, ``x ≥ c1 → 1``, else ``(x − c0)/(c1 − c0)``
   (when c1 − c0 is negligible, every value becomes c0, as PCL does);
2. the MTF with midtones balance m;
3. dynamic range expansion: ``(x − r0)/(r1 − r0)`` with r0 ≤ 0 and r1 ≥ 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def mtf(m: Any, x: Any) -> Any:
    """The midtones transfer function of balance ``m`` applied to ``x`` (both in [0, 1])."""
    x = np.asarray(x)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)
    xf = x.astype(dtype, copy=False)
    m = np.asarray(m, dtype=dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (1 - m) * xf
        y = p / (p + m * (1 - xf))
    y = np.where(xf <= 0, 0, np.where(xf >= 1, 1, y))
    y = np.where((m == 0) & (xf > 0), 1, y)
    y = np.where((m == 1) & (xf < 1), 0, y)
    y = y.astype(dtype, copy=False)
    return y if y.ndim else y[()]


def mtf_inplace(m: float, y: np.ndarray, scratch: np.ndarray | None = None) -> np.ndarray:
    """Apply mtf(m, ·) to the float array ``y`` (values in [0, 1]) in place; returns ``y``.

    Uses one temporary array of ``y``'s size and dtype, or ``scratch`` when given (same
    shape and dtype as ``y``; its contents are overwritten).
    """
    m = float(m)
    if m == 0.5:
        return y
    if m <= 0:
        np.greater(y, 0, out=y, casting="unsafe")
        return y
    if m >= 1:
        np.greater_equal(y, 1, out=y, casting="unsafe")
        return y
    dt = y.dtype.type
    q = np.subtract(dt(1), y, out=scratch, dtype=y.dtype)
    q *= dt(m)
    y *= dt(1 - m)
    q += y
    np.divide(y, q, out=y)  # q = (1 − m)·y + m·(1 − y) > 0 for 0 < m < 1
    return y


def midtones_balance(x: float, target: float) -> float:
    """The balance m for which mtf(m, x) == target (PixInsight computes it as mtf(target, x))."""
    return float(mtf(target, x))


def is_identity(c0: float = 0.0, m: float = 0.5, c1: float = 1.0, r0: float = 0.0, r1: float = 1.0) -> bool:
    """True when a histogram transformation row changes nothing (PCL IsIdentityTransformation)."""
    return m == 0.5 and c0 == 0 and c1 == 1 and r0 == 0 and r1 == 1


def histogram_transform(
    x: np.ndarray,
    c0: float = 0.0,
    m: float = 0.5,
    c1: float = 1.0,
    r0: float = 0.0,
    r1: float = 1.0,
    *,
    out: np.ndarray | None = None,
    scratch: np.ndarray | None = None,
) -> np.ndarray:
    """One histogram transformation row applied to ``x`` (input clipped to [0, 1] first).

    Returns a new array of ``x``'s float dtype, or writes into ``out`` (which may be ``x``
    itself for in-place work).  ``x`` is never modified unless it is ``out``.  ``scratch``
    (same shape and dtype as the result) saves the one temporary the MTF needs.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    if x.ndim == 0 and out is None:
        return histogram_transform(x.reshape(1), c0, m, c1, r0, r1)[0]
    dt = (out if out is not None else x).dtype.type
    if c0 != 0 or c1 != 1:
        d = float(c1) - float(c0)
        if 1 + d == 1:
            y = np.empty_like(x) if out is None else out
            y.fill(dt(c0))
        else:
            # clip((clip(x, 0, 1) − c0)/d, 0, 1) == clip((x − c0)/d, 0, 1) for 0 ≤ c0 < c1 ≤ 1
            y = np.subtract(x, dt(c0), out=out)
            y *= dt(1 / d)
            np.clip(y, 0, 1, out=y)
    else:
        y = np.clip(x, 0, 1, out=out)
    mtf_inplace(m, y, scratch)
    if r0 != 0 or r1 != 1:
        y -= dt(r0)
        y *= dt(1 / (float(r1) - float(r0)))
    return y


def histogram_transform_chain(x: np.ndarray, rows: list[tuple[float, float, float, float, float]]) -> np.ndarray:
    """Apply several ``(c0, m, c1, r0, r1)`` rows in order (a PCL transformation chain)."""
    y = np.clip(np.asarray(x), 0, 1)
    for c0, m, c1, r0, r1 in rows:
        if not is_identity(c0, m, c1, r0, r1):
            histogram_transform(y, c0, m, c1, r0, r1, out=y)
    return y
