"""Pixel combination of ImageIntegration: average (weighted), median, minimum, maximum.

Stacks are ``(N, P)`` arrays of raw frame values (frame axis first); each frame's values
are output-normalized as ``A_i·v + B_i`` before combining.  :func:`combine_clean` is the
fast path for pixels without rejections (the weighted average is one matrix-vector
product); :func:`combine_masked` combines the kept values of pixels that lost some, and a
pixel that lost all takes the median of all its values, as PixInsight does.
"""

from __future__ import annotations

import numpy as np

from processes.integration.sorting import median_of_sorted, sort_stack

__all__ = ["combine_clean", "combine_masked"]


def combine_clean(combination: str, raw: np.ndarray, scale: np.ndarray, offset: np.ndarray, weights: np.ndarray,
                  float64: bool = False) -> np.ndarray:
    """Combination of every pixel (columns of ``raw``) as if nothing were rejected (the fast path)."""
    if combination == "Average":
        total = float(weights.sum())
        coef = weights * scale / total
        const = float((weights * offset).sum() / total)
        if float64:
            out = coef @ raw.astype(np.float64)
        else:
            out = coef.astype(np.float32) @ raw
        if const:
            out += const
        return out
    values = _normalized(raw, scale, offset)
    if combination == "Median":
        return median_of_sorted(sort_stack(values))
    if combination == "Minimum":
        return values.min(axis=0)
    return values.max(axis=0)


def _normalized(raw: np.ndarray, scale: np.ndarray, offset: np.ndarray) -> np.ndarray:
    if np.all(scale == 1) and np.all(offset == 0):
        return raw
    return raw * scale.astype(np.float32)[:, None] + offset.astype(np.float32)[:, None]


def combine_masked(combination: str, raw: np.ndarray, keep: np.ndarray, scale: np.ndarray, offset: np.ndarray,
                    weights: np.ndarray) -> np.ndarray:
    """Combination of the kept values of a few pixels; all-rejected pixels take the median of all."""
    values = raw * scale.astype(np.float32)[:, None] + offset.astype(np.float32)[:, None]
    none_kept = ~keep.any(axis=0)
    if combination == "Average":
        w = keep * weights.astype(np.float32)[:, None]
        den = w.sum(axis=0, dtype=np.float64)
        np.copyto(values, 0, where=~keep)  # rejected values may be non-finite
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.einsum("ij,ij->j", w, values, dtype=np.float64) / den
    else:
        masked = np.where(keep, values, np.nan)
        with np.errstate(all="ignore"):
            if combination == "Median":
                out = _nanmedian(masked)
            elif combination == "Minimum":
                out = np.nanmin(np.where(none_kept, 0.0, masked), axis=0)
            else:
                out = np.nanmax(np.where(none_kept, 0.0, masked), axis=0)
    if none_kept.any():
        everything = raw[:, none_kept] * scale.astype(np.float32)[:, None] + offset.astype(np.float32)[:, None]
        out[none_kept] = np.median(everything, axis=0)
    return out


def _nanmedian(masked: np.ndarray) -> np.ndarray:
    """Column medians ignoring NaN (mean of the two central values for even counts)."""
    ordered = np.sort(masked, axis=0)  # NaNs sort last
    count = (~np.isnan(masked)).sum(axis=0)
    col = np.arange(masked.shape[1])
    upper = np.clip(count // 2, 0, masked.shape[0] - 1)
    lower = np.clip((count - 1) // 2, 0, masked.shape[0] - 1)
    return (ordered[lower, col] + ordered[upper, col]) / 2
