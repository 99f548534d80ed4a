"""Sorting of pixel stacks along the frame axis (rank-major layout).

A *stack* here is a 2-D float array ``(m, G)``: ``m`` values (one per frame) for each of
``G`` pixels, the frame axis first so that every row is contiguous.  Sorting a stack
sorts each column.  For small ``m`` a Batcher odd-even merge sorting network is used:
each comparator is two vectorised ``minimum``/``maximum`` calls over ``G`` pixels, which
beats ``np.sort`` along a strided axis by a wide margin.  Larger stacks are transposed,
sorted with ``np.sort`` and transposed back.
"""

from __future__ import annotations

from functools import cache

import numpy as np

__all__ = ["NETWORK_MAX", "batcher_pairs", "block_columns", "median_of_sorted", "network_pairs", "sort_stack"]

NETWORK_MAX = 32
"""Stacks of up to this many values per pixel are sorted with a sorting network."""

BLOCK_VALUES = 1 << 17
"""Values per column block (``m·columns``): 512 KiB of float32, a few of which fit in L2 cache."""


def block_columns(m: int, g: int) -> list[tuple[int, int]]:
    """Column ranges that cut a (m, g) stack into cache-sized blocks."""
    width = max(256, BLOCK_VALUES // max(m, 1))
    return [(a, min(a + width, g)) for a in range(0, g, width)]


@cache
def _power_of_two_network(size: int) -> np.ndarray:
    """Comparators (i, j), i < j, of Batcher's odd-even merge sort of ``size`` (a power of two) inputs, in
    order: an (k, 2) int32 array (read-only).

    The loops of the textbook form — for p = 1, 2, 4, …; k = p, p/2, …, 1; j = k mod p, k mod p + 2k, …
    (below size − k); i = 0 … min(k, size − j − k) − 1 — compare i + j with i + j + k where both lie in
    the same block of 2p; the (j, i) grid of one (p, k) is built at once instead of pair by pair.
    """
    parts = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            js = np.arange(k % p, size - k, 2 * k)
            i = np.arange(k)
            a = (js[:, None] + i[None, :]).ravel()
            keep = (i[None, :] < size - js[:, None] - k).ravel()
            keep &= a // (2 * p) == (a + k) // (2 * p)
            a = a[keep]
            parts.append(np.stack([a, a + k], axis=1))
            k //= 2
        p *= 2
    pairs = np.concatenate(parts).astype(np.int32) if parts else np.empty((0, 2), np.int32)
    pairs.setflags(write=False)
    return pairs


def network_pairs(n: int) -> np.ndarray:
    """Comparators of Batcher's odd-even merge sort for ``n`` inputs, as a new (k, 2) int32 array.

    The network is built for the next power of two; comparators that touch the virtual
    padding (indices >= n, which hold +inf and never move) are dropped.
    """
    size = 1
    while size < n:
        size *= 2
    pairs = _power_of_two_network(size)
    return pairs[pairs[:, 1] < n]


@cache
def batcher_pairs(n: int) -> tuple[tuple[int, int], ...]:
    """:func:`network_pairs` of ``n`` inputs as a tuple of (i, j) pairs."""
    return tuple((int(a), int(b)) for a, b in network_pairs(n).tolist())


def sort_stack(stack: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Sort every column of the 2-D ``stack`` ascending; returns ``out`` (a new array by default).

    NaNs are not supported (callers replace them first).
    """
    m, g = stack.shape
    if out is None:
        out = np.empty_like(stack)
    if m <= 1:
        out[...] = stack
        return out
    if m > NETWORK_MAX:
        out[...] = np.sort(stack.T, axis=1).T
        return out
    pairs = batcher_pairs(m)
    blocks = block_columns(m, g)
    width = blocks[0][1] - blocks[0][0]
    work = np.empty((m + 1, width), dtype=stack.dtype)
    for c0, c1 in blocks:
        # Rotate row buffers instead of copying: every comparator costs two ufunc calls.
        w = work[:, : c1 - c0]
        w[:m] = stack[:, c0:c1]
        rows = [w[i] for i in range(m)]
        spare = w[m]
        for a, b in pairs:
            ra, rb = rows[a], rows[b]
            np.minimum(ra, rb, out=spare)
            np.maximum(ra, rb, out=rb)
            rows[a], spare = spare, ra
        for i in range(m):
            out[i, c0:c1] = rows[i]
    return out


def median_of_sorted(sorted_stack: np.ndarray) -> np.ndarray:
    """Column medians of a column-sorted stack (PixInsight's convention: mean of the two
    central values for an even count; 0 for fewer than two values)."""
    m = sorted_stack.shape[0]
    if m < 2:
        return np.zeros(sorted_stack.shape[1], dtype=sorted_stack.dtype)
    half = m // 2
    if m % 2:
        return sorted_stack[half].copy()
    return (sorted_stack[half - 1] + sorted_stack[half]) * sorted_stack.dtype.type(0.5)
