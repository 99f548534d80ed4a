"""Noise estimation on 2-D images: à trous wavelets, k-sigma and MRS estimators.

``atrous(image, layers)``
    The starlet (à trous) transform with the B3-spline scaling function
    ``[1, 4, 6, 4, 1]/16``: ``layers`` detail arrays ``w_1 .. w_J`` and the residual.
``noise_ksigma(image)``
    σ of the first wavelet layer by iterated 3-sigma clipping (until the estimate changes
    by less than 1 %), divided by the first layer's noise coefficient ``k_1 = 0.8907``
    (the σ of ``w_1`` for unit Gaussian white noise).
``noise_mrs(image)``
    The multiresolution-support estimator of Starck & Murtagh (PASP 110, 1998): pixels
    whose wavelet coefficients are insignificant (``|w_j| < 3·σ·k_j``) at every scale form
    the noise set; σ is the standard deviation of ``image − residual`` over that set,
    iterated until it changes by less than 0.01 %.  As in PixInsight, the transform starts
    with 4 layers and falls back to fewer (down to 2), and finally to the k-sigma
    estimate, when fewer than 1 % of the pixels are left in the noise set.  With
    ``valid_range=(low, high)`` pixels outside the open interval are never in the noise
    set, as in PCL's ``ATrousWaveletTransform::NoiseMRS`` (whose ``low``/``high`` default
    to 0.00002 and 0.99998): the zero borders that registration leaves, whose wavelet
    coefficients are all zero, would otherwise pass for noiseless sky and pull σ down.
``noise_scale_factors(image)``
    PixInsight's "noise scaling factors": the clipped standard deviations of the pixels
    below and above the median (σ_low, σ_high).

Estimates are for Gaussian white noise; values are in the image's units.

float32 and float64 planes of 2¹⁶ pixels or more go through compiled passes
(:mod:`processes.kernels.noise_nb`, numba, imported only then): the à trous levels are
computed once for both estimators (bit-identical to the ``scipy.ndimage.correlate1d``
transform of :func:`atrous`) in two planes: the first detail layer and smoothing, then
in their place the significance map and the signal; each iteration of the k-sigma and
MRS loops is one pass with float64 sums over the selected pixels instead of a copy of them.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

__all__ = ["B3_NOISE_COEFFICIENTS", "MRS_VALID_RANGE", "NoiseEstimate", "atrous", "estimate_noise", "noise_ksigma",
           "noise_mrs"]

_B3 = np.array([1, 4, 6, 4, 1], dtype=np.float64) / 16.0

B3_NOISE_COEFFICIENTS = (0.8907, 0.2007, 0.0856, 0.0413, 0.0205, 0.0103, 0.0052, 0.0026)
"""σ of the starlet detail layers 1..8 for unit-σ Gaussian white noise (B3 spline)."""

MRS_VALID_RANGE = (0.00002, 0.99998)
"""The open range of the values that may enter the MRS noise set by default in PCL
(``ATrousWaveletTransform::NoiseMRS``'s ``low`` and ``high``): what PixInsight's processes that call it
without a range (Debayer, ImageIntegration's frames) leave out — black and saturated pixels."""


@attrs.frozen
class NoiseEstimate:
    """A noise estimate: ``sigma``, the fraction of pixels it used, and the algorithm's name."""

    sigma: float
    fraction: float
    algorithm: str


def atrous(image: np.ndarray, layers: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Starlet transform: (detail layers w_1..w_layers, residual); float32 for float32 input
    (else float64), mirror borders."""
    from scipy import ndimage  # imported where used (~0.15 s): the compiled paths do not need it

    image = np.asarray(image)
    current = image if image.dtype == np.float32 else image.astype(np.float64)
    details: list[np.ndarray] = []
    for j in range(layers):
        step = 2**j
        kernel = np.zeros(4 * step + 1, dtype=current.dtype)
        kernel[::step] = _B3
        smooth = ndimage.correlate1d(current, kernel, axis=0, mode="mirror")
        smooth = ndimage.correlate1d(smooth, kernel, axis=1, mode="mirror")
        details.append(current - smooth)
        current = smooth
    return details, current


def _ksigma(values: np.ndarray, k: float = 3.0, eps: float = 0.01, max_iter: int = 10) -> tuple[float, int]:
    """Iterated k-sigma clipped standard deviation (around zero-mean-ish data) and pixel count."""
    data = values[np.isfinite(values)].ravel()
    sigma = float(np.std(data)) if data.size else 0.0
    count = data.size
    for _ in range(max_iter):
        if sigma <= 0:
            break
        kept = data[np.abs(data - data.mean()) < k * sigma] if data.size else data
        if kept.size < 2:
            break
        new = float(np.std(kept))
        count = kept.size
        done = abs(new - sigma) < eps * new if new > 0 else True
        sigma, data = new, kept
        if done:
            break
    return sigma, count


_COMPILED_MIN = 1 << 16


def _compiled(image: np.ndarray) -> bool:
    return image.ndim == 2 and image.dtype in (np.float32, np.float64) and image.size >= _COMPILED_MIN


def _ksigma_compiled(w1: np.ndarray, k: float = 3.0, eps: float = 0.01, max_iter: int = 10) -> tuple[float, int]:
    """:func:`_ksigma` by compiled passes: the nested clipped sets are the finite values in
    an open interval that narrows at each iteration, so each iteration is one pass."""
    from processes.kernels import noise_nb

    lo, hi = -math.inf, math.inf
    count, total, squares = noise_nb.interval_moments(w1, lo, hi)
    if count == 0:
        return 0.0, 0
    mean = total / count
    sigma = math.sqrt(max(squares / count - mean * mean, 0.0))
    for _ in range(max_iter):
        if sigma <= 0:
            break
        lo, hi = max(lo, mean - k * sigma), min(hi, mean + k * sigma)
        n, total, squares = noise_nb.interval_moments(w1, lo, hi)
        if n < 2:
            break
        mean = total / n
        new = math.sqrt(max(squares / n - mean * mean, 0.0))
        count = n
        done = abs(new - sigma) < eps * new if new > 0 else True
        sigma = new
        if done:
            break
    return sigma, count


def _mrs_compiled(image: np.ndarray, layers: int, valid_range: tuple[float, float] | None = None) -> tuple[
        tuple[float, int], tuple[float, int]]:
    """((k-sigma σ, count), (MRS σ, count)) of a float plane from one compiled transform;
    pixels outside the open ``valid_range`` are left out of the MRS noise set."""
    from processes.kernels import noise_nb

    # two planes: the first level's detail (k-sigma) and smoothing, which the later levels (streamed
    # through rings of rows) turn into the significance and the signal (noise_nb.mrs_planes)
    image = np.ascontiguousarray(image)
    w1, smooth = np.empty_like(image), np.empty_like(image)
    noise_nb.first_level(image, w1, smooth)
    sigma0, count0 = _ksigma_compiled(w1)
    noise_nb.mrs_planes(image, layers, np.asarray(B3_NOISE_COEFFICIENTS[:layers], dtype=image.dtype), w1, smooth)
    significance, signal = w1, smooth
    del w1, smooth
    if valid_range is not None:
        kind = image.dtype.type
        noise_nb.exclude_outside(image, significance, kind(valid_range[0]), kind(valid_range[1]))
    base = (sigma0 / B3_NOISE_COEFFICIENTS[0], count0)
    sigma, count = base[0], 0
    for _ in range(100):
        if sigma <= 0:
            return base, (0.0, 0)
        count, total, squares = noise_nb.below_moments(significance, signal, image.dtype.type(3.0 * sigma))
        if count < 2:
            return base, (0.0, count)
        mean = total / count
        new = math.sqrt(max(squares / count - mean * mean, 0.0))
        if abs(new - sigma) <= 1e-4 * new:
            return base, (new, count)
        sigma = new
    return base, (sigma, count)


def noise_ksigma(image: np.ndarray) -> NoiseEstimate:
    """k-sigma noise estimate from the first starlet layer (see the module docstring)."""
    image = np.asarray(image)
    if _compiled(image):
        from processes.kernels import noise_nb

        image = np.ascontiguousarray(image)
        w1, smooth, significance = (np.empty_like(image) for _ in range(3))
        noise_nb.b3_level(image, 1, smooth, np.empty(image.shape[1], dtype=image.dtype),
                          image.dtype.type(B3_NOISE_COEFFICIENTS[0]), True, w1, significance)
        del smooth, significance
        sigma, count = _ksigma_compiled(w1)
        return NoiseEstimate(sigma / B3_NOISE_COEFFICIENTS[0], count / max(image.size, 1), "K-Sigma")
    (w1,), _ = atrous(image, 1)
    sigma, count = _ksigma(w1)
    return NoiseEstimate(sigma / B3_NOISE_COEFFICIENTS[0], count / max(image.size, 1), "K-Sigma")


def _mrs(image: np.ndarray, layers: int, sigma0: float, outside: np.ndarray | None = None,
         k: float = 3.0) -> tuple[float, int]:
    details, residual = atrous(image, layers)
    signal = (np.asarray(image, dtype=residual.dtype) - residual).ravel()
    # a pixel is in the noise set when |w_j| < k·σ·k_j for every j, i.e. max_j |w_j|/k_j < k·σ
    significance = np.abs(details[0]) / B3_NOISE_COEFFICIENTS[0]
    for j, w in enumerate(details[1:], start=1):
        np.maximum(significance, np.abs(w) / B3_NOISE_COEFFICIENTS[j], out=significance)
    if outside is not None:
        np.putmask(significance, outside, np.inf)
    sigma = sigma0
    count = 0
    for _ in range(100):
        if sigma <= 0:
            return 0.0, 0
        noise_set = significance.ravel() < k * sigma
        count = int(np.count_nonzero(noise_set))
        if count < 2:
            return 0.0, count
        new = float(np.std(signal[noise_set]))
        if abs(new - sigma) <= 1e-4 * new:
            return new, count
        sigma = new
    return sigma, count


def noise_mrs(image: np.ndarray, valid_range: tuple[float, float] | None = None) -> NoiseEstimate:
    """Multiresolution-support noise estimate with PixInsight's fallbacks (module docstring);
    pixels outside the open interval ``valid_range`` are left out of the noise set."""
    image = np.asarray(image)
    if image.dtype != np.float32:
        image = image.astype(np.float64)
    if _compiled(image) and image.shape[0] >= 16 and image.shape[1] >= 16:
        (sigma0, count0), mrs = _mrs_compiled(image, 4, valid_range)
        base = NoiseEstimate(sigma0, count0 / image.size, "K-Sigma")
        for layers in (4, 3, 2):
            sigma, count = mrs if layers == 4 else _mrs_compiled(image, layers, valid_range)[1]
            if sigma > 0 and count / image.size >= 0.01:
                return NoiseEstimate(sigma, count / image.size, "MRS")
        return base
    base = noise_ksigma(image)
    if image.shape[0] < 16 or image.shape[1] < 16:
        return base
    outside = None
    if valid_range is not None:
        kind = image.dtype.type
        outside = ~((image > kind(valid_range[0])) & (image < kind(valid_range[1])))
    for layers in (4, 3, 2):
        sigma, count = _mrs(image, layers, base.sigma, outside)
        fraction = count / image.size
        if sigma > 0 and fraction >= 0.01:
            return NoiseEstimate(sigma, fraction, "MRS")
    return base


def estimate_noise(image: np.ndarray, algorithm: str = "MRS",
                   valid_range: tuple[float, float] | None = None) -> NoiseEstimate:
    """Noise of a 2-D array by ``MRS`` (default) or ``K-Sigma``; ``valid_range``: see :func:`noise_mrs`
    (the k-sigma estimate, as PCL's ``NoiseKSigma``, takes every pixel)."""
    if algorithm == "MRS":
        return noise_mrs(image, valid_range)
    if algorithm in ("K-Sigma", "KSigma"):
        return noise_ksigma(image)
    raise ValueError(f"unknown noise evaluation algorithm {algorithm!r}; expected MRS or K-Sigma")


def noise_scale_factors(image: np.ndarray, clip_low: float = 2 / 65535, clip_high: float = 1 - 2 / 65535) -> tuple[
    float, float
]:
    """(σ_low, σ_high): clipped standard deviations below and above the median, as PixInsight."""
    values = np.asarray(image)
    if _compiled(values):
        return _noise_scale_factors_compiled(values, clip_low, clip_high)
    values = values.astype(np.float64).ravel()
    values = values[(values > clip_low) & (values < clip_high)]
    if values.size < 2:
        return 0.0, 0.0
    centre = float(np.median(values))

    def side(lo: float, hi: float, low_side: bool) -> float:
        data = values[(values >= lo) & (values <= hi)]
        for _ in range(2):
            if data.size < 2:
                return 0.0
            s = float(np.std(data))
            lo2, hi2 = (max(clip_low, centre - 4 * s), centre) if low_side else (centre, min(centre + 4 * s, clip_high))
            data = values[(values >= lo2) & (values <= hi2)]
        return float(np.std(data)) if data.size >= 2 else 0.0

    return side(clip_low, centre, True), side(centre, clip_high, False)


def _noise_scale_factors_compiled(image: np.ndarray, clip_low: float, clip_high: float) -> tuple[float, float]:
    """:func:`noise_scale_factors` with one compiled pass per clipped standard deviation."""
    from processes.kernels import noise_nb
    from processes.kernels.robust import median

    flat = image.ravel()
    inside = flat[(flat > clip_low) & (flat < clip_high)]
    if inside.size < 2:
        return 0.0, 0.0
    centre = median(inside)
    del inside

    def std(lo: float, hi: float) -> tuple[int, float]:
        n, s, ss = noise_nb.band_moments(image, lo, hi, clip_low, clip_high, centre)
        if n == 0:
            return 0, 0.0
        mean = s / n
        return n, math.sqrt(max(ss / n - mean * mean, 0.0))

    def side(lo: float, hi: float, low_side: bool) -> float:
        n, s = std(lo, hi)
        for _ in range(2):
            if n < 2:
                return 0.0
            lo, hi = (max(clip_low, centre - 4 * s), centre) if low_side else (centre, min(centre + 4 * s, clip_high))
            n, s = std(lo, hi)
        return s if n >= 2 else 0.0

    return side(clip_low, centre, True), side(centre, clip_high, False)
