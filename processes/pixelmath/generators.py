"""PixelMath image generators: functions that make a whole new image from an image.

Each function takes planar pixels ``(channels, height, width)`` and numeric parameters and
returns new planar pixels (same dtype).  Boundaries are mirrored, as PixInsight's filters do.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage, signal

__all__ = [
    "COMBINE_OPERATIONS",
    "binarize",
    "box_convolution",
    "combine",
    "gaussian_convolution",
    "kernel_convolution",
    "local_variance",
    "morphology",
    "normalize",
    "rotate",
    "structure",
    "translate",
    "truncate",
]


def _per_channel(pixels: np.ndarray, func) -> np.ndarray:  # type: ignore[no-untyped-def]
    out = np.empty_like(pixels)
    for c in range(pixels.shape[0]):
        out[c] = func(pixels[c])
    return out


def _convolve(pixels: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    kernel = kernel.astype(np.float64)
    if kernel.size <= 49:
        return _per_channel(pixels, lambda p: ndimage.convolve(p, kernel.astype(p.dtype), mode="mirror"))
    ky, kx = kernel.shape[0] // 2, kernel.shape[1] // 2

    def fft(plane: np.ndarray) -> np.ndarray:
        padded = np.pad(plane, ((ky, ky), (kx, kx)), mode="reflect")
        return signal.fftconvolve(padded, kernel[::-1, ::-1].astype(plane.dtype), mode="valid")

    return _per_channel(pixels, fft)


def gaussian_convolution(pixels: np.ndarray, sigma: float = 2, rho: float = 1, theta: float = 0,
                         eps: float = 0.01) -> np.ndarray:
    """Convolution with an elliptical Gaussian: standard deviation ``sigma`` on the major axis,
    minor/major axis ratio ``rho``, major axis rotated ``theta`` degrees; the kernel is
    truncated where the Gaussian falls below ``eps`` of its peak."""
    if not sigma > 0:
        raise ValueError(f"gconv(): sigma must be > 0, got {sigma}")
    if not 0 < rho <= 1:
        raise ValueError(f"gconv(): rho must be in (0, 1], got {rho}")
    if not 0 < eps < 1:
        raise ValueError(f"gconv(): eps must be in (0, 1), got {eps}")
    extent = math.sqrt(-2 * math.log(eps))
    if rho == 1:
        return _per_channel(
            pixels, lambda p: ndimage.gaussian_filter(p, sigma, mode="mirror", truncate=extent).astype(p.dtype)
        )
    radius = max(1, math.ceil(sigma * extent))
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1].astype(np.float64)
    t = math.radians(theta)
    u = xx * math.cos(t) + yy * math.sin(t)
    v = -xx * math.sin(t) + yy * math.cos(t)
    kernel = np.exp(-0.5 * ((u / sigma) ** 2 + (v / (rho * sigma)) ** 2))
    kernel[kernel < eps] = 0
    return _convolve(pixels, kernel / kernel.sum())


def box_convolution(pixels: np.ndarray, n: int = 3) -> np.ndarray:
    """Convolution with an ``n`` x ``n`` average filter (odd ``n`` >= 3)."""
    if n < 3 or n % 2 == 0:
        raise ValueError(f"bconv(): the filter size must be an odd integer >= 3, got {n}")
    return _per_channel(pixels, lambda p: ndimage.uniform_filter(p, n, mode="mirror"))


def kernel_convolution(pixels: np.ndarray, coefficients: list[float]) -> np.ndarray:
    """Convolution with a square kernel given in row order (normalized when its sum is not zero)."""
    n = math.isqrt(len(coefficients))
    if n * n != len(coefficients) or n < 3 or n % 2 == 0:
        raise ValueError(
            f"kconv(): {len(coefficients)} kernel elements do not make an odd square kernel (9, 25, 49, ...)"
        )
    kernel = np.asarray(coefficients, dtype=np.float64).reshape(n, n)
    total = kernel.sum()
    if total != 0:
        kernel = kernel / total
    return _convolve(pixels, kernel)


def structure(name: str, n: int) -> np.ndarray:
    """The footprint of a structuring element of odd size ``n`` (PixelMath's str_xxx())."""
    r = n // 2
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    if name == "square":
        return np.ones((n, n), bool)
    if name == "circular":
        return xx * xx + yy * yy <= r * r + r  # PixInsight's circle: 7x7 keeps rows of 3, 5, 7, 7, 7, 5, 3
    if name == "orthogonal":
        return (xx == 0) | (yy == 0)
    if name == "diagonal":
        return np.abs(xx) == np.abs(yy)
    if name == "star":
        return (xx == 0) | (yy == 0) | ((np.abs(xx) == np.abs(yy)) & (np.abs(xx) < r))
    raise ValueError(f"unknown structuring element str_{name}()")


def morphology(pixels: np.ndarray, operation: str, n: int = 3, element: str = "square") -> np.ndarray:
    """Median, erosion (minimum) or dilation (maximum) filter of odd size ``n`` >= 3."""
    if n < 3 or n % 2 == 0:
        raise ValueError(f"the filter size must be an odd integer >= 3, got {n}")
    footprint = structure(element, n)
    filters = {"median": ndimage.median_filter, "erosion": ndimage.minimum_filter, "dilation": ndimage.maximum_filter}
    func = filters[operation]
    return _per_channel(pixels, lambda p: func(p, footprint=footprint, mode="mirror"))


def translate(pixels: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """The image moved by (``dx``, ``dy``) pixels; uncovered pixels are zero."""
    if not (math.isfinite(dx) and math.isfinite(dy)):
        raise ValueError(f"translate(): the increments must be finite numbers, got ({dx}, {dy})")
    if float(dx).is_integer() and float(dy).is_integer():
        out = np.zeros_like(pixels)
        h, w = pixels.shape[1:]
        ix, iy = int(dx), int(dy)
        src_x, dst_x = slice(max(0, -ix), min(w, w - ix)), slice(max(0, ix), min(w, w + ix))
        src_y, dst_y = slice(max(0, -iy), min(h, h - iy)), slice(max(0, iy), min(h, h + iy))
        if src_x.start < src_x.stop and src_y.start < src_y.stop:
            out[:, dst_y, dst_x] = pixels[:, src_y, src_x]
        return out
    return _per_channel(pixels, lambda p: ndimage.shift(p, (dy, dx), order=3, mode="constant", cval=0))


def rotate(pixels: np.ndarray, angle: float, cx: float | None = None, cy: float | None = None) -> np.ndarray:
    """The image rotated counter-clockwise by ``angle`` degrees around (``cx``, ``cy``) (default:
    the centre), bicubic interpolation, uncovered pixels zero."""
    h, w = pixels.shape[1:]
    if not all(math.isfinite(v) for v in (angle, cx if cx is not None else 0, cy if cy is not None else 0)):
        raise ValueError("rotate(): the angle and center must be finite numbers")
    cx = w / 2 if cx is None else cx
    cy = h / 2 if cy is None else cy
    t = math.radians(angle)
    c, s = math.cos(t), math.sin(t)
    # output (y, x) -> input: rotate the offset from the centre by +angle (y axis points down)
    matrix = np.array([[c, s], [-s, c]])
    offset = np.array([cy, cx]) - matrix @ np.array([cy, cx])
    return _per_channel(
        pixels, lambda p: ndimage.affine_transform(p, matrix, offset=offset, order=3, mode="constant", cval=0)
    )


def normalize(pixels: np.ndarray, a: float = 0, b: float = 1) -> np.ndarray:
    """The image scaled linearly from its [min, max] to [a, b] (all channels together)."""
    lo, hi = float(np.nanmin(pixels)), float(np.nanmax(pixels))
    if hi == lo:
        return np.full_like(pixels, a)
    out = pixels - pixels.dtype.type(lo)
    out *= pixels.dtype.type((b - a) / (hi - lo))
    out += pixels.dtype.type(a)
    return out


def truncate(pixels: np.ndarray, a: float = 0, b: float = 1) -> np.ndarray:
    """The image truncated to [a, b]."""
    return np.clip(pixels, a, b)


def binarize(pixels: np.ndarray, t: float = 0.5) -> np.ndarray:
    """1 where the image is >= ``t``, else 0."""
    return (pixels >= t).astype(pixels.dtype)


def local_variance(pixels: np.ndarray, d: int = 3, kernel: str = "flat") -> np.ndarray:
    """Local variance in a ``d`` x ``d`` window with a flat or Gaussian weighting kernel (float64)."""
    if d < 3 or d % 2 == 0:
        raise ValueError(f"lvar(): the window size must be an odd integer >= 3, got {d}")
    r = d // 2
    if kernel == "flat":
        weights = np.ones((d, d))
    else:  # 1 at the centre, 0.01 at distance r on the axes (PixelMath's krn_gauss)
        yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
        weights = 10.0 ** (-2.0 * (xx * xx + yy * yy) / (r * r))
    weights /= weights.sum()
    data = pixels.astype(np.float64)
    mean = _per_channel(data, lambda p: ndimage.correlate(p, weights, mode="mirror"))
    mean_sq = _per_channel(data * data, lambda p: ndimage.correlate(p, weights, mode="mirror"))
    return np.maximum(mean_sq - mean * mean, 0)


def _vivid(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        burn = 1 - np.minimum((1 - a) / (2 * b - 1), 1)
        dodge = np.minimum(a / (1 - 2 * b), 1)
    return np.where(b > 0.5, burn, dodge)


COMBINE_OPERATIONS = {
    "mov": lambda a, b: np.broadcast_arrays(a, b)[1].copy(),
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: np.where(np.abs(b) > np.finfo(np.float64).eps, a / np.where(b == 0, 1, b),
                                 np.finfo(a.dtype).max),
    "pow": lambda a, b: np.power(a, b),
    "dif": lambda a, b: np.abs(a - b),
    "min": np.minimum,
    "max": np.maximum,
    "atan2": np.arctan2,
    "color_burn": lambda a, b: 1 - np.minimum((1 - a) / np.where(b == 0, np.finfo(a.dtype).tiny, b), 1),
    "linear_burn": lambda a, b: a + b - 1,
    "screen": lambda a, b: 1 - (1 - a) * (1 - b),
    "color_dodge": lambda a, b: np.minimum(a / np.where(b == 1, np.finfo(a.dtype).eps, 1 - b), 1),
    "overlay": lambda a, b: np.where(a > 0.5, 1 - (1 - 2 * (a - 0.5)) * (1 - b), 2 * a * b),
    "soft_light": lambda a, b: np.where(b > 0.5, 1 - (1 - a) * (1 - (b - 0.5)), a * (b + 0.5)),
    "hard_light": lambda a, b: np.where(b > 0.5, 1 - (1 - a) * (1 - 2 * (b - 0.5)), 2 * a * b),
    "vivid_light": _vivid,
    "linear_light": lambda a, b: np.clip(a + 2 * b - 1, 0, 1),
    "pin_light": lambda a, b: np.where(b > 0.5, np.maximum(a, 2 * (b - 0.5)), np.minimum(a, 2 * b)),
    "exclusion": lambda a, b: 0.5 - 2 * (a - 0.5) * (b - 0.5),
}
"""combine() operations, by the name after ``op_``: f(image1, image2)."""


def combine(a: np.ndarray, b: np.ndarray, operation: str) -> np.ndarray:
    """``a op b`` pixel by pixel (the images must have the same geometry; gray broadcasts to RGB)."""
    with np.errstate(all="ignore"):
        out = COMBINE_OPERATIONS[operation](a, b)
    return np.asarray(out, dtype=np.result_type(a, b))
