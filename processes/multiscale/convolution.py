"""Convolution and UnsharpMask (PixInsight's Convolution module, PCL ``src/modules/processes/Convolution``).

**Convolution**, ``mode=Parametric``: PCL's ``VariableShapeFilter``, the kernel
``exp(−r^shape / (shape·sigma^shape))`` (a Gaussian for shape 2) on a square of
``1 + 2·max(1, round((−shape·sigma^shape·ln 0.01)^(1/shape)))`` pixels (truncated where it
falls to 1 %), squeezed to ``aspectRatio`` along its minor axis and rotated by
``rotationAngle`` degrees, normalized to unit sum.  PCL resamples the circular kernel with
bicubic interpolation to squeeze and rotate it; procfw evaluates the elliptical function
exactly instead.  ``mode=Image`` convolves with the image of view ``viewId`` (normalized).
``mode=Library``: ``filterSource`` is a filter's library source (its first filter is used,
:mod:`processes.multiscale.filter_library`), applied as PCL's Convolution module does: a
``KernelFilter`` is convolved (the kernel rotated by 180°), a ``SeparableFilter``
correlated by its row vector along rows and its column vector down columns; the result is
divided by the filter's weight (the coefficients' sum; 1 when it is under 1e-20); a
high-pass filter (PCL's rule) is then truncated to [0, 1] or, with ``rescaleHighPass``,
rescaled into it (over all channels) when it leaves it.  :func:`library_filter_source` picks
a filter by name from a ``.filters`` file.  Edges are extended symmetrically (−1 → 0), as
PCL's convolutions do.

**UnsharpMask**: with ``G`` the Gaussian of ``sigma`` truncated at 5 % (PCL's
``GaussianFilter(sigma, 0.05)``), ``a = 1 − 0.499·amount``, each nominal channel becomes
``(a·v − (1 − a)·G∗v) / (2a − 1)``; then, with ``deringing``, PCL's deringing (the ratio of
the result to the original, rescaled, compared with its median: dark rings are lifted by
``10·deringingDark`` times the shortfall, bright rings lowered by ``10·deringingBright``);
finally values are truncated to ``[−rangeLow, 1 + rangeHigh]`` and rescaled into [0, 1]
if they leave it.  ``useLuminance`` sharpens only the lightness (CIE L*; CIE Y with
``linear``) of a colour image.  ``outputDeringingMaps`` (new windows in PixInsight) has
no effect here.
"""

from __future__ import annotations

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids
import math

import numpy as np
from scipy import ndimage, signal

from processes.multiscale import common
from processes.multiscale.filter_library import FilterSourceError, LibraryFilter, parse_filters, read_filter_library
from procfw.errors import ExecutionError
from procfw.image import Image
from procfw.params import Boolean, Enumeration, Float, String, param
from procfw.process import ExecutionContext, Process

__all__ = ["Convolution", "UnsharpMask", "convolve", "gaussian_taps", "library_filter_source",
           "variable_shape_kernel"]

_FFT_ABOVE = 31  # kernels wider than this go through FFT convolution


def variable_shape_kernel(sigma: float, shape: float = 2.0, epsilon: float = 0.01, aspect_ratio: float = 1.0,
                          rotation_deg: float = 0.0) -> np.ndarray:
    """PCL's VariableShapeFilter coefficients (see the module docstring), normalized to unit sum."""
    half = max(1, round((-shape * sigma**shape * math.log(epsilon)) ** (1 / shape)))
    size = 2 * half + 1
    rho = max(0.5 / size, min(1.0, aspect_ratio))
    theta = math.radians(rotation_deg)
    i, j = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    u = math.cos(theta) * j - math.sin(theta) * i
    v = (math.sin(theta) * j + math.cos(theta) * i) / rho
    kernel = np.exp(-np.hypot(u, v) ** shape / (shape * sigma**shape))
    return kernel / kernel.sum()


def gaussian_taps(sigma: float, epsilon: float) -> np.ndarray:
    """One axis of PCL's GaussianFilter(sigma, epsilon), normalized."""
    half = max(1, round(math.sqrt(-2 * sigma * sigma * math.log(epsilon))))
    x = np.arange(-half, half + 1, dtype=np.float64)
    taps = np.exp(-(x * x) / (2 * sigma * sigma))
    return taps / taps.sum()


def convolve(plane: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``plane`` (2-D) correlated with ``kernel`` (2-D), symmetric edges, float64."""
    plane = np.asarray(plane, dtype=np.float64)
    if kernel.ndim == 1:
        out = ndimage.correlate1d(plane, kernel, axis=0, mode="reflect")
        return ndimage.correlate1d(out, kernel, axis=1, mode="reflect")
    ky, kx = kernel.shape
    if max(ky, kx) <= _FFT_ABOVE:
        return ndimage.correlate(plane, kernel, mode="reflect")
    py, px = ky // 2, kx // 2
    padded = np.pad(plane, ((py, ky - 1 - py), (px, kx - 1 - px)), mode="symmetric")
    return signal.fftconvolve(padded, kernel[::-1, ::-1], mode="valid")


def _separable_gaussian(kernel: np.ndarray) -> np.ndarray | None:
    """The 1-D factor of a separable (outer-product) kernel, or None."""
    centre = kernel.shape[0] // 2
    row = kernel[centre] / math.sqrt(kernel[centre, centre])
    if np.allclose(np.outer(row, row), kernel, rtol=1e-9, atol=1e-15):
        return row / row.sum()
    return None


class Convolution(Process):
    """Convolution with a parametric (Gaussian / variable shape, elliptical) filter or an image."""

    process_id = "Convolution"
    categories = ("Convolution",)

    mode: str = param(Enumeration(elements=("Parametric", "Library", "Image"), default="Parametric",
                                  element_aliases={"Gaussian": "Parametric"},
                                  description="Parametric filter, filter library source, or an image as the kernel."))
    sigma: float = param(Float(minimum=0.1, maximum=250, default=2, precision=2,
                               description="Standard deviation of the parametric filter (pixels, major axis)."))
    shape: float = param(Float(minimum=0.25, maximum=6, default=2, precision=2,
                               description="Shape exponent: 2 a Gaussian, < 2 peakier, > 2 flatter."))
    aspectRatio: float = param(Float(minimum=0, maximum=1, default=1, precision=2,
                                     description="Minor/major axis ratio of the parametric filter."))
    rotationAngle: float = param(Float(minimum=0, maximum=180, default=0, precision=2,
                                       description="Rotation of the parametric filter (degrees)."))
    filterSource: str = param(String(default="", description="Filter library source code of the filter "
                                                              "(Library mode; its first filter is used)."))
    rescaleHighPass: bool = param(Boolean(default=False, description="Rescale the result of a high-pass library "
                                                                     "filter (Library mode)."))
    viewId: str = param(String(default="", description="The view whose image is the kernel (Image mode)."))

    def kernel(self, context: ExecutionContext | None = None) -> np.ndarray:
        """The normalized kernel (2-D), or its 1-D factor when it is separable."""
        if self.mode == "Parametric":
            kernel = variable_shape_kernel(self.sigma, self.shape, 0.01, self.aspectRatio, self.rotationAngle)
            row = _separable_gaussian(kernel) if self.aspectRatio == 1 and self.shape == 2 else None
            return row if row is not None else kernel
        if self.mode == "Image":
            if not self.viewId:
                raise ExecutionError("Convolution: mode=Image needs a viewId (the kernel image)")
            if context is None:
                raise ExecutionError(f"Convolution: no workspace to find view {self.viewId!r}")
            pixels = context.image(self.viewId).pixels
            kernel = pixels[0].astype(np.float64)
            total = kernel.sum()
            if not total > 0:
                raise ExecutionError(f"Convolution: the kernel image {self.viewId!r} adds up to {total:g}, not > 0")
            return kernel / total
        return self.library_filter().kernel()

    def library_filter(self) -> LibraryFilter:
        """The first filter of ``filterSource`` (Library mode)."""
        if not self.filterSource.strip():
            raise ExecutionError("Convolution: mode=Library needs filterSource (a KernelFilter or SeparableFilter "
                                 "definition, as in PixInsight's .filters files)")
        try:
            filters = parse_filters(self.filterSource, "Convolution filterSource")
        except FilterSourceError as exc:
            raise ExecutionError(str(exc)) from None
        if not filters:
            raise ExecutionError("Convolution: filterSource defines no filter (only comments or blanks)")
        return filters[0]

    def _apply_library(self, image: Image) -> Image:
        flt = self.library_filter()
        weight = flt.weight if abs(flt.weight) >= 1e-20 else 1.0
        out = np.empty(image.pixels.shape, dtype=np.float64)
        for c in range(out.shape[0]):
            plane = image.pixels[c].astype(np.float64)
            if flt.separable:
                plane = ndimage.correlate1d(plane, flt.row, axis=1, mode="reflect")
                out[c] = ndimage.correlate1d(plane, flt.col, axis=0, mode="reflect")
            else:
                out[c] = convolve(plane, flt.coefficients[::-1, ::-1])  # type: ignore[index]
        if weight != 1:
            out /= weight
        if flt.high_pass:
            lo, hi = float(out.min()), float(out.max())
            if self.rescaleHighPass:  # PCL's Image::Normalize(): over all channels, only when out of range
                if (lo < 0 or hi > 1) and hi > lo:
                    out = (out - lo) / (hi - lo)
            else:
                np.clip(out, 0, 1, out=out)
        return image.with_pixels(out.astype(np.float32))

    def apply(self, image: Image, context: ExecutionContext) -> Image:
        if self.mode == "Library":
            return self._apply_library(image)
        kernel = self.kernel(context)
        out = image.pixels.copy()
        for c in range(out.shape[0]):
            out[c] = convolve(image.pixels[c], kernel)
        return image.with_pixels(out)


def library_filter_source(path: str, name: str) -> str:
    """The source of the filter ``name`` in the library file ``path`` (``.filters``), for
    Convolution's ``filterSource``: PixInsight's Library mode picks a filter by name the same way."""
    try:
        filters = read_filter_library(path)
    except FilterSourceError as exc:
        raise ExecutionError(str(exc)) from None
    for flt in filters:
        if flt.name == name:
            return flt.to_source()
    names = ", ".join(repr(f.name) for f in filters) or "none"
    raise ExecutionError(f"Convolution: the filter library {path} has no filter named {name!r} (it has {names})")


class UnsharpMask(Process):
    """Unsharp mask: subtract a Gaussian-blurred copy to sharpen, with deringing and range extension."""

    process_id = "UnsharpMask"
    categories = ("Convolution",)

    sigma: float = param(Float(minimum=0.1, maximum=250, default=2, precision=2,
                               description="Standard deviation of the Gaussian blur (pixels)."))
    amount: float = param(Float(minimum=0.1, maximum=1, default=0.8, precision=2,
                                description="Strength of the sharpening."))
    useLuminance: bool = param(Boolean(default=True, description="Sharpen only the lightness of colour images."))
    linear: bool = param(Boolean(default=False, description="The lightness is CIE Y (linear) instead of CIE L*."))
    deringing: bool = param(Boolean(default=False, description="Apply PCL's deringing."))
    deringingDark: float = param(Float(minimum=0, maximum=1, default=0.1, precision=4,
                                       description="Deringing of dark rings."))
    deringingBright: float = param(Float(minimum=0, maximum=1, default=0, precision=4,
                                         description="Deringing of bright rings."))
    outputDeringingMaps: bool = param(Boolean(default=False, description="Create the deringing maps (no effect "
                                                                         "here)."))
    rangeLow: float = param(Float(minimum=0, maximum=1, default=0, precision=7,
                                  description="Dynamic range extension below zero."))
    rangeHigh: float = param(Float(minimum=0, maximum=1, default=0, precision=7,
                                   description="Dynamic range extension above one."))

    def sharpen(self, planes: np.ndarray) -> np.ndarray:
        """The unsharp mask of ``planes`` (channels, h, w), float64, before normalization."""
        taps = gaussian_taps(self.sigma, 0.05)
        a = 1 - 0.499 * self.amount
        a1, a2 = a / (a + a - 1), (1 - a) / (a + a - 1)
        out = np.empty(planes.shape, dtype=np.float64)
        for c in range(planes.shape[0]):
            blurred = convolve(planes[c], taps).astype(np.float32)  # PCL's mask is a float32 image
            out[c] = a1 * planes[c].astype(np.float64) - a2 * blurred
        if self.deringing:
            out = common.dering(out, planes.astype(np.float64), self.deringingDark, self.deringingBright)
        return common.dynamic_range(out, self.rangeLow, self.rangeHigh)

    def apply(self, image: Image, context: ExecutionContext) -> Image:
        pixels = image.pixels
        if self.useLuminance and pixels.shape[0] >= 3:
            out = common.apply_to_target(image, lambda plane: self.sharpen(plane[None])[0], to_luminance=True,
                                         to_chrominance=False, linear=self.linear, process_id=self.process_id)
            return image.with_pixels(out)
        nominal = 3 if pixels.shape[0] >= 3 else 1
        out = pixels.copy()
        out[:nominal] = self.sharpen(pixels[:nominal])
        return image.with_pixels(out)
