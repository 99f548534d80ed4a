"""Synthetic skies for the background tests: a known gradient, stars and Gaussian noise."""

from __future__ import annotations

import numpy as np

SIGMA = 0.004
LEVEL = 0.1


def stars(height: int, width: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` Gaussian stars (σ 1.2–2.5 px, peaks 0.02–0.5) on a black plane."""
    plane = np.zeros((height, width))
    yy, xx = np.mgrid[-7:8, -7:8]
    for _ in range(count):
        r, c = rng.integers(8, height - 8), rng.integers(8, width - 8)
        s, peak = rng.uniform(1.2, 2.5), 10 ** rng.uniform(np.log10(0.02), np.log10(0.5))
        plane[r - 7: r + 8, c - 7: c + 8] += peak * np.exp(-(xx**2 + yy**2) / (2 * s * s))
    return plane


def gradient(kind: str, height: int, width: int) -> np.ndarray:
    """An additive gradient (``linear``, ``quadratic``) or a multiplicative one (``vignetting``)."""
    y, x = np.mgrid[0:height, 0:width]
    u, v = 2 * x / (width - 1) - 1, 2 * y / (height - 1) - 1
    if kind == "none":
        return np.zeros((height, width))
    if kind == "linear":
        return 0.04 * u + 0.02 * v
    if kind == "quadratic":
        return 0.03 * u**2 - 0.02 * u * v + 0.025 * v**2 + 0.01 * u
    if kind == "glow":  # a light dome off the corner: not a low-order polynomial
        return 0.03 * np.exp(-((x - 0.1 * width) ** 2 + (y - 0.15 * height) ** 2) / (2 * (0.3 * width) ** 2))
    if kind == "vignetting":
        return 1 - 0.35 * (u**2 + (v * height / width) ** 2)
    raise ValueError(kind)


def sky(kind: str, height: int = 360, width: int = 540, channels: int = 1, seed: int = 5) -> np.ndarray:
    """(channels, height, width) float32: level + gradient (or × vignetting) + stars + noise."""
    rng = np.random.default_rng(seed)
    g = gradient(kind, height, width)
    out = np.empty((channels, height, width), dtype=np.float32)
    field = stars(height, width, height * width // 1500, rng)
    for c in range(channels):
        signal = LEVEL * (1 + 0.2 * c) + field
        signal = signal * g if kind == "vignetting" else signal + g
        out[c] = signal + rng.normal(0, SIGMA, (height, width))
    return out


def residual_ratio(corrected: np.ndarray, truth: np.ndarray, block: int = 24) -> float:
    """How far ``corrected`` is from the gradient-free ``truth`` (same stars, same noise), in noise σ.

    ``truth`` is first matched to ``corrected`` by least squares (``a·truth + b``: the level and
    scale a correction may legitimately change); the residual is smoothed heavily (medians
    of ``block``² blocks) and its peak-to-peak is divided by the noise σ.
    """
    t, c = truth.astype(np.float64).ravel(), corrected.astype(np.float64).ravel()
    a, b = np.polyfit(t, c, 1)
    plane = (corrected - (a * truth + b)) / a
    h, w = plane.shape[0] // block, plane.shape[1] // block
    blocks = plane[: h * block, : w * block].reshape(h, block, w, block).transpose(0, 2, 1, 3).reshape(h, w, -1)
    return float(np.ptp(np.median(blocks, axis=2)) / SIGMA)


def gradient_ratio(image: np.ndarray, truth: np.ndarray, block: int = 24) -> float:
    """The same figure for the uncorrected image (how large the gradient was)."""
    return residual_ratio(image, truth, block)
