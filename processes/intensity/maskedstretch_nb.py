"""The compiled loop of MaskedStretch: every pixel through all the masked steps at once.

Each pixel's steps depend on that pixel only, so the loop runs pixel by pixel with the
samples held in registers, instead of a pass over the whole image per step.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["masked_stretch"]


@numba.njit(cache=True, nogil=True, inline="always")
def _mtf(m: float, x: float) -> float:  # pragma: no cover - compiled
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if m == 0.0:
        return 1.0
    if m == 1.0:
        return 0.0
    p = (1.0 - m) * x
    return p / (p + m * (1.0 - x))


@numba.njit(cache=True, nogil=True)
def masked_stretch(data: np.ndarray, balances: np.ndarray, value_mask: bool) -> None:  # pragma: no cover - compiled
    """In place on ``data`` (channels × pixels, float64): for each balance m, every sample
    v becomes ``f·v + (1 − f)·MTF(m, v)`` with f the pixel's intensity (mean of its
    channels) or value (their maximum) before the step."""
    channels, pixels = data.shape
    v = np.empty(channels)
    for k in range(pixels):
        for c in range(channels):
            v[c] = data[c, k]
        for m in balances:
            if value_mask:
                f = v[0]
                for c in range(1, channels):
                    f = max(f, v[c])
            else:
                f = 0.0
                for c in range(channels):
                    f += v[c]
                f /= channels
            for c in range(channels):
                v[c] = f * v[c] + (1.0 - f) * _mtf(m, v[c])
        for c in range(channels):
            data[c, k] = v[c]
