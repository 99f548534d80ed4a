"""Small compiled (numba) helpers shared by the kernel modules, imported only with them.

:func:`mirror`
    scipy's ``mirror`` edge index (−1 → 1, size → size − 2), periodic beyond;
:func:`reflect`
    scipy's ``reflect`` edge index (−1 → 0, size → size − 1), periodic beyond;
:func:`int_pair_arrays`
    two typed lists of indices as two int64 arrays.

Everything here is ``inline="always"``: the callers compile it into their own loops.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["int_pair_arrays", "mirror", "reflect"]


@numba.njit(cache=True, nogil=True, inline="always")
def mirror(i: int, size: int) -> int:  # pragma: no cover - compiled
    """Reflect an index about the edge pixels (−1 → 1, size → size − 2), periodic beyond."""
    if size == 1:
        return 0
    if 0 <= i < size:
        return i
    period = 2 * size - 2
    i = i % period
    if i >= size:
        i = period - i
    return i


@numba.njit(cache=True, nogil=True, inline="always")
def reflect(i: int, size: int) -> int:  # pragma: no cover - compiled
    """scipy's ``reflect`` edge mode: −1 → 0, −2 → 1, size → size − 1 (periodic beyond)."""
    if 0 <= i < size:
        return i
    period = 2 * size
    i = i % period
    if i >= size:
        i = period - 1 - i
    return i


@numba.njit(cache=True, nogil=True, inline="always")
def int_pair_arrays(ys, xs):  # pragma: no cover - compiled
    """The typed lists ``ys`` and ``xs`` (same length) as two int64 arrays."""
    out_y = np.empty(len(ys), np.int64)
    out_x = np.empty(len(xs), np.int64)
    for k in range(len(ys)):
        out_y[k] = ys[k]
        out_x[k] = xs[k]
    return out_y, out_x
