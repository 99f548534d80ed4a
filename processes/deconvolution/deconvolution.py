"""Deconvolution (PixInsight's Deconvolution process, closed source: ids from PJSR).

Each target plane ``f`` (see ``toLuminance``) is restored by ``numberOfIterations`` of

* **Richardson–Lucy**: ``u ← u · (P^T ∗ (g / (P ∗ u)))``, ``u_0 = f``;
* **Van Cittert**: ``u ← max(0, u + (g − P ∗ u))``;

where ``P`` is the PSF and ``g = P ∗ u + r'`` with ``r' = f − P ∗ u`` the residual (so ``g = f``
without regularization).  Convolutions are FFTs (``scipy.fft``, float32/complex64, the PSF's
transfer function computed once; real when the PSF is centro-symmetric) on the plane extended
symmetrically by the PSF's half-size (rounded up to a fast FFT length) and cropped back; a
PSF even along both axes (a round or axis-aligned parametric PSF) goes instead through the
DCT-II, which diagonalizes convolution with symmetric edges exactly (no padding).

**PSF** (``psfMode``): ``Parametric`` is Convolution's variable-shape kernel
``exp(−r^β / (β·σ^β))`` (σ ``psfSigma``, β ``psfShape``, ``psfAspectRatio``,
``psfRotationAngle``; :func:`processes.multiscale.convolution.variable_shape_kernel`);
``MotionBlur`` a line of ``psfMotionLength`` pixels at ``psfMotionRotationAngle`` degrees
(sampled every 1/8 pixel and splatted bilinearly); ``External`` the first channel of view
``psfViewId`` (centred at ``shape // 2``, normalized to unit sum).  Every PSF is normalized.
``psfFFTSizeLimit`` is kept for icons: procfw always convolves by FFT.

**Regularization** (``useRegularization``): at each iteration the residual ``r`` is split
into ``numberOfWaveletLayers`` starlet layers (``scalingFunction``; the residual's large
scales are kept) and each layer ``j`` is hard-thresholded: coefficients under
``noiseThreshold_j · σ · k_j`` are multiplied by ``1 − noiseReduction_j`` (row ``j`` of
``waveletLayers``; ``k_j`` the layers' noise coefficients, σ the noise of ``f``: MAD/0.6745 of
its first layer over ``k_1``).  Only significant residual structure drives the update, so
noise is not amplified (Starck & Murtagh's multiresolution-support regularization).  With
``noiseModel=Poisson`` the residual is divided by ``√(P∗u / median(P∗u))`` before the
thresholds and multiplied back (a variance-stabilized threshold).  The work is done a band of
rows at a time by compiled passes (:mod:`processes.deconvolution.regularization`), in the
blurred estimate's buffer.

**Deringing** (global, procfw's rule): ``floor`` is the minimum of ``f`` and ``ceiling`` its
maximum over the PSF's support around each pixel.  After each iteration a pixel below its
floor is raised by ``min(1, 10·deringingDark)`` of the shortfall, and a pixel above its
ceiling lowered by ``min(1, 10·deringingBright)`` of the excess: a restored pixel may not
fall (much) below the darkest observed value within a PSF's reach, which is where dark
rings go.  ``deringingBright`` also limits star peaks: keep it at 0 for star fields.
Local deringing (``deringingSupport``, with ``deringing``): the first channel of view
``deringingSupportViewId`` (a star mask, the image's size), clipped to [0, 1] and times
``deringingSupportAmount``, is the fraction of the dark shortfall restored where it exceeds
the global one (procfw's rule: ``max(min(1, 10·deringingDark), amount·support)``).

**Convergence**: with ``convergence > 0`` the iterations of a plane stop when
``mean|Δu| / mean|u| < convergence``.  The iterations done per processed plane are the
read-only table ``iterations``.  The result is truncated to ``[−rangeLow, 1 + rangeHigh]``
and rescaled into [0, 1] if it leaves it (as the multiscale processes do).

**Target**: a grey image's channel; a colour image's CIE Y (linear luminance; chrominance
kept) with ``toLuminance``, each RGB channel otherwise.
"""

from __future__ import annotations

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids
import math
from collections.abc import Callable

import numpy as np
import scipy.fft as sfft
from scipy import ndimage

from processes.deconvolution.regularization import regularize_residual
from processes.kernels import multiscale as ms
from processes.multiscale import common
from processes.multiscale.convolution import variable_shape_kernel
from procfw.errors import ExecutionError
from procfw.image import Image
from procfw.params import Boolean, Double, Enumeration, Float, String, Table, UInt32, param
from procfw.process import ExecutionContext, Process, ProcessOutput

__all__ = ["DCTConvolver", "Deconvolution", "FFTConvolver", "deconvolve", "motion_blur_kernel"]

SCALING_FUNCTIONS: dict[str, tuple[float, ...]] = {
    "B3Spline5x5": ms.B3_SPLINE,
    "LinearInterpolation3x3": ms.LINEAR_INTERPOLATION,
    "SmallScale3x3": (0.125, 0.75, 0.125),  # procfw's choice: a 3x3 function narrower than linear interpolation
}

_WAVELET_LAYERS = Table(
    columns=(
        Float(id="noiseThreshold", minimum=0, maximum=20, default=3, precision=2,
              description="Noise threshold of the layer, in units of the layer's noise σ_j."),
        Float(id="noiseReduction", minimum=0, maximum=1, default=1, precision=2,
              description="Attenuation of the residual's coefficients under the threshold (0 none, 1 all)."),
    ),
    default=((3.0, 1.0), (2.0, 0.5)), min_rows=1, max_rows=16,
    description="Wavelet regularization of each residual layer (scale 1, 2, 4, ...).",
)
_ITERATIONS = Table(
    columns=(UInt32(id="count", minimum=0, maximum=100000, default=0, read_only=True,
                    description="Iterations done."),),
    default=(), read_only=True,
    description="Iterations done per processed plane (output).",
)


def motion_blur_kernel(length: float, angle_deg: float) -> np.ndarray:
    """A line of ``length`` pixels at ``angle_deg`` (counter-clockwise from +x), unit sum."""
    half = max(1, math.ceil(length / 2) + 1)
    size = 2 * half + 1
    kernel = np.zeros((size, size), dtype=np.float64)
    n = max(2, math.ceil(8 * length))
    t = np.linspace(-length / 2, length / 2, n)
    theta = math.radians(angle_deg)
    x = half + t * math.cos(theta)
    y = half - t * math.sin(theta)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    for dy, dx, w in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)), (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(kernel, (y0 + dy, x0 + dx), w)
    return kernel / kernel.sum()


class FFTConvolver:
    """Convolution of planes of one padded shape with one PSF, by real FFTs (float32)."""

    def __init__(self, psf: np.ndarray, shape: tuple[int, int], workers: int = -1) -> None:
        self.shape = shape
        self.workers = workers
        psf = np.asarray(psf, dtype=np.float64)
        ky, kx = psf.shape
        self.symmetric = ky % 2 == 1 and kx % 2 == 1 and np.allclose(
            psf, psf[::-1, ::-1], rtol=1e-6, atol=1e-12 * float(np.abs(psf).max()))
        # the PSF with its centre at (0, 0), wrapped around: no full-size float64 or roll copies
        padded = np.zeros(shape, dtype=np.float32)
        rows = (np.arange(ky) - ky // 2) % shape[0]
        cols = (np.arange(kx) - kx // 2) % shape[1]
        np.add.at(padded, (rows[:, None], cols[None, :]), psf.astype(np.float32))
        otf = sfft.rfft2(padded, workers=workers)
        del padded
        self.otf: np.ndarray = otf.real.copy() if self.symmetric else otf

    def spectrum(self, plane: np.ndarray, overwrite: bool = False) -> np.ndarray:
        """The real FFT of ``plane`` (complex64); the caller may drop ``plane`` afterwards."""
        return sfft.rfft2(plane, workers=self.workers)

    def inverse(self, spectrum: np.ndarray, adjoint: bool = False) -> np.ndarray:
        """``P ∗ x`` (or ``Pᵀ ∗ x`` with ``adjoint``) from the spectrum of ``x``, consumed in place."""
        if adjoint and not self.symmetric:
            spectrum *= np.conj(self.otf)
        else:
            spectrum *= self.otf
        return sfft.irfft2(spectrum, s=self.shape, workers=self.workers, overwrite_x=True)

    def _apply(self, plane: np.ndarray, adjoint: bool) -> np.ndarray:
        return self.inverse(self.spectrum(plane), adjoint)

    def convolve(self, plane: np.ndarray) -> np.ndarray:
        """``P ∗ plane`` (circular on the padded shape), float32."""
        return self._apply(plane, False)

    def correlate(self, plane: np.ndarray) -> np.ndarray:
        """``P^T ∗ plane`` (the adjoint), float32."""
        return self._apply(plane, True)


class DCTConvolver:
    """Convolution of planes of one shape with a PSF even along both axes, with symmetric
    edges (``d c b a | a b c d``), exactly: the DCT-II diagonalizes it, with eigenvalues
    ``λ(u, v) = Σ k(i, j) cos(π u i / H) cos(π v j / W)``.  No padding, float32; ``λ`` is
    kept as two vectors when the PSF is separable."""

    symmetric = True

    def __init__(self, psf: np.ndarray, shape: tuple[int, int], workers: int = -1) -> None:
        self.shape = shape
        self.workers = workers
        psf = np.asarray(psf, dtype=np.float64)
        ky, kx = psf.shape
        cy = np.cos(np.pi * np.arange(shape[0])[:, None] * (np.arange(ky) - ky // 2)[None, :] / shape[0])
        cx = np.cos(np.pi * np.arange(shape[1])[:, None] * (np.arange(kx) - kx // 2)[None, :] / shape[1])
        u, singular, vt = np.linalg.svd(psf)
        self.rows: np.ndarray | None = None
        self.cols: np.ndarray | None = None
        self.eigen: np.ndarray | None = None
        if singular[1:].sum() <= 1e-9 * singular[0]:
            self.rows = (cy @ (u[:, 0] * singular[0])).astype(np.float32)[:, None]
            self.cols = (cx @ vt[0]).astype(np.float32)[None, :]
        else:
            self.eigen = (cy @ psf @ cx.T).astype(np.float32)

    @staticmethod
    def applies(psf: np.ndarray, shape: tuple[int, int]) -> bool:
        """Whether ``psf`` is even along both axes (odd sizes) and smaller than ``shape``."""
        ky, kx = psf.shape
        if ky % 2 == 0 or kx % 2 == 0 or ky // 2 >= shape[0] or kx // 2 >= shape[1]:
            return False
        tol = 1e-12 * float(np.abs(psf).max())
        return bool(np.allclose(psf, psf[::-1], rtol=1e-6, atol=tol)
                    and np.allclose(psf, psf[:, ::-1], rtol=1e-6, atol=tol))

    def spectrum(self, plane: np.ndarray, overwrite: bool = False) -> np.ndarray:
        """The DCT-II of ``plane`` (float32; in ``plane``'s buffer when ``overwrite``)."""
        return sfft.dctn(plane, type=2, norm="ortho", workers=self.workers, overwrite_x=overwrite)

    def inverse(self, spectrum: np.ndarray, adjoint: bool = False) -> np.ndarray:
        """``P ∗ x`` from the DCT of ``x`` (the PSF is its own adjoint), consumed in place."""
        if self.eigen is not None:
            spectrum *= self.eigen
        else:
            spectrum *= self.rows
            spectrum *= self.cols
        return sfft.idctn(spectrum, type=2, norm="ortho", workers=self.workers, overwrite_x=True)

    def convolve(self, plane: np.ndarray) -> np.ndarray:
        """``P ∗ plane`` with symmetric edges, float32."""
        return self.inverse(self.spectrum(plane))

    correlate = convolve


def _padding(shape: tuple[int, int], psf: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]]:
    pads = []
    for n, k in zip(shape, psf.shape):
        half = k // 2 + 1
        total = sfft.next_fast_len(n + 2 * half, real=True)
        pads.append((half, total - n - half))
    return pads[0], pads[1]


def _noise_sigma(plane: np.ndarray, scaling: tuple[float, ...], coefficient: float) -> float:
    """σ of the noise of ``plane`` (float32): MAD/0.6745 of its first starlet layer over its
    noise coefficient, with one plane of work memory."""
    work = ms.smooth(plane, np.empty_like(plane), scaling)
    np.subtract(plane, work, out=work)  # the first layer
    np.abs(work, out=work)
    median = float(np.median(work.ravel(), overwrite_input=True)) if work.size else 0.0
    return median / 0.6745 / coefficient


def deconvolve(plane: np.ndarray, psf: np.ndarray, *, algorithm: str = "RichardsonLucy", iterations: int = 10,
               regularization: tuple[tuple[float, float], ...] = (), scaling_function: tuple[float, ...] = ms.B3_SPLINE,
               poisson: bool = False, dering: tuple[float, float] = (0.0, 0.0), convergence: float = 0.0,
               support: np.ndarray | None = None, workers: int = -1) -> tuple[np.ndarray, int]:
    """Deconvolve the 2-D ``plane`` by ``psf`` (see the module docstring): (float32 plane, iterations done).

    ``regularization`` holds (k_j, amount_j) per wavelet layer (empty: none); ``dering``
    (dark, bright) amounts; ``support`` the local deringing fractions (the plane's shape) or None."""
    if plane.ndim != 2:
        raise ValueError(f"deconvolve works on one 2-D plane, got shape {plane.shape}")
    conv: FFTConvolver | DCTConvolver
    if DCTConvolver.applies(psf, plane.shape):
        pad_y, pad_x = (0, 0), (0, 0)
        observed = np.asarray(plane, dtype=np.float32)  # read only: no copy when it is float32 and >= 0
        if observed.min() < 0:
            observed = np.maximum(observed, 0)
        conv = DCTConvolver(psf, observed.shape, workers)
    else:
        pad_y, pad_x = _padding(plane.shape, psf)
        observed = np.pad(np.asarray(plane, dtype=np.float32), (pad_y, pad_x), mode="symmetric")
        np.maximum(observed, 0, out=observed)
        conv = FFTConvolver(psf, observed.shape, workers)
    layers = len(regularization)
    sigma = 0.0
    coefficients: tuple[float, ...] = ()
    if layers:
        coefficients = ms.noise_coefficients("starlet", layers, tuple(scaling_function))
        sigma = _noise_sigma(observed, tuple(scaling_function), coefficients[0])
    dark, bright = (min(1.0, 10 * d) for d in dering)
    if support is not None:
        if support.shape != plane.shape:
            raise ValueError(f"the deringing support is {support.shape}, the plane {plane.shape}")
        support = np.pad(np.asarray(support, dtype=np.float32), (pad_y, pad_x), mode="symmetric")
        dark = np.maximum(np.float32(dark), support)
    floor = ndimage.minimum_filter(observed, size=psf.shape, mode="reflect") if np.any(dark > 0) else None
    ceiling = ndimage.maximum_filter(observed, size=psf.shape, mode="reflect") if bright > 0 else None
    estimate = observed.copy()
    eps = np.float32(1e-12)
    done = 0
    limits = [k * sigma * c for (k, _), c in zip(regularization, coefficients)]
    amounts = [a for _, a in regularization]
    for _ in range(iterations):
        blurred = conv.convolve(estimate)
        previous = estimate.copy() if convergence > 0 else None
        richardson_lucy = algorithm == "RichardsonLucy"
        if layers and sigma > 0:
            # in place: the RL ratio g / (P∗u) with g = P∗u + r', or the regularized residual r'
            regularize_residual(observed, blurred, limits, amounts, scaling_function, poisson=poisson,
                                ratio=richardson_lucy, eps=float(eps))
        elif richardson_lucy:
            np.maximum(blurred, eps, out=blurred)
            np.divide(observed, blurred, out=blurred)
        else:
            np.subtract(observed, blurred, out=blurred)
        if richardson_lucy:
            spectrum = conv.spectrum(blurred, overwrite=True)
            del blurred
            estimate *= conv.inverse(spectrum, adjoint=True)
            del spectrum
        else:
            estimate += blurred
            np.maximum(estimate, 0, out=estimate)
            del blurred
        if floor is not None:
            estimate += dark * np.maximum(floor - estimate, 0)
        if ceiling is not None:
            estimate -= bright * np.maximum(estimate - ceiling, 0)
        done += 1
        if previous is not None:
            change = float(np.mean(np.abs(estimate - previous), dtype=np.float64))
            level = float(np.mean(np.abs(estimate), dtype=np.float64))
            if level > 0 and change / level < convergence:
                break
    del observed, floor, ceiling, dark
    if estimate.shape == plane.shape:
        return estimate, done
    out = estimate[pad_y[0] : pad_y[0] + plane.shape[0], pad_x[0] : pad_x[0] + plane.shape[1]]
    return np.ascontiguousarray(out, dtype=np.float32), done


class Deconvolution(Process):
    """Richardson–Lucy / Van Cittert deconvolution with wavelet regularization and deringing."""

    process_id = "Deconvolution"
    categories = ("Deconvolution",)

    algorithm: str = param(Enumeration(elements=("RichardsonLucy", "VanCittert"), default="RichardsonLucy",
                                       description="Iterative algorithm: Richardson–Lucy or Van Cittert."))
    numberOfIterations: int = param(UInt32(minimum=1, maximum=1000, default=10,
                                           description="Number of iterations (at most; see convergence)."))
    deringing: bool = param(Boolean(default=False, description="Apply global deringing."))
    deringingDark: float = param(Float(minimum=0, maximum=1, default=0.1, precision=4,
                                       description="Deringing of dark rings (10× is the fraction of the shortfall "
                                                   "below the local observed minimum restored)."))
    deringingBright: float = param(Float(minimum=0, maximum=1, default=0, precision=4,
                                         description="Deringing of bright rings (limits star peaks too)."))
    deringingSupport: bool = param(Boolean(default=False, description="Local deringing with a support image "
                                                                      "(with deringing)."))
    deringingSupportAmount: float = param(Float(minimum=0, maximum=1, default=0.7, precision=2,
                                                description="Strength of local deringing."))
    deringingSupportViewId: str = param(String(default="", description="The local deringing support image "
                                                                       "(a star mask, the image's size)."))
    toLuminance: bool = param(Boolean(default=True, description="Deconvolve the luminance (CIE Y) of colour "
                                                                "images, keeping their chrominance."))
    psfMode: str = param(Enumeration(elements=("Parametric", "MotionBlur", "External"), default="Parametric",
                                     element_aliases={"Gaussian": "Parametric"},
                                     description="The PSF: parametric, motion blur, or an image."))
    psfSigma: float = param(Float(minimum=0.1, maximum=250, default=2, precision=2,
                                  description="σ of the parametric PSF (pixels, major axis)."))
    psfShape: float = param(Float(minimum=0.25, maximum=6, default=2, precision=2,
                                  description="Shape exponent β of the parametric PSF (2: Gaussian)."))
    psfAspectRatio: float = param(Float(minimum=0, maximum=1, default=1, precision=2,
                                        description="Minor/major axis ratio of the parametric PSF."))
    psfRotationAngle: float = param(Float(minimum=0, maximum=180, default=0, precision=2,
                                          description="Rotation of the parametric PSF (degrees)."))
    psfMotionLength: float = param(Float(minimum=1, maximum=500, default=5, precision=2,
                                         description="Length of the motion-blur PSF (pixels)."))
    psfMotionRotationAngle: float = param(Float(minimum=0, maximum=360, default=0, precision=2,
                                                description="Direction of the motion blur (degrees from +x)."))
    psfViewId: str = param(String(default="", description="The view whose image is the External PSF."))
    psfFFTSizeLimit: int = param(UInt32(minimum=0, maximum=65535, default=15,
                                        description="PixInsight's PSF size above which it convolves by FFT "
                                                    "(no effect: procfw always uses FFTs)."))
    useRegularization: bool = param(Boolean(default=True, description="Wavelet regularization of the residual."))
    waveletLayers: tuple = param(_WAVELET_LAYERS)
    noiseModel: str = param(Enumeration(elements=("Gaussian", "Poisson"), default="Gaussian",
                                        description="Noise model of the regularization thresholds."))
    numberOfWaveletLayers: int = param(UInt32(minimum=1, maximum=16, default=2,
                                              description="Wavelet layers regularized (rows of waveletLayers used)."))
    scalingFunction: str = param(Enumeration(elements=tuple(SCALING_FUNCTIONS), default="B3Spline5x5",
                                             description="Scaling function of the regularization's starlet."))
    convergence: float = param(Double(minimum=0, maximum=1, default=0, precision=4,
                                      description="Stop when mean|Δu|/mean|u| falls below this (0: never)."))
    rangeLow: float = param(Float(minimum=0, maximum=1, default=0, precision=7,
                                  description="Dynamic range extension below zero."))
    rangeHigh: float = param(Float(minimum=0, maximum=1, default=0, precision=7,
                                   description="Dynamic range extension above one."))
    iterations: tuple = param(_ITERATIONS)

    def validate(self) -> None:
        if self.useRegularization and self.numberOfWaveletLayers > len(self.waveletLayers):
            raise self.invalid("numberOfWaveletLayers", self.numberOfWaveletLayers,
                               f"waveletLayers has only {len(self.waveletLayers)} rows")

    def psf(self, context: ExecutionContext | None = None) -> np.ndarray:
        """The normalized PSF (float64) of ``psfMode``."""
        if self.psfMode == "Parametric":
            return variable_shape_kernel(self.psfSigma, self.psfShape, 0.01, self.psfAspectRatio,
                                         self.psfRotationAngle)
        if self.psfMode == "MotionBlur":
            return motion_blur_kernel(self.psfMotionLength, self.psfMotionRotationAngle)
        if not self.psfViewId:
            raise ExecutionError("Deconvolution: psfMode=External needs psfViewId (the PSF image)")
        if context is None:
            raise ExecutionError(f"Deconvolution: no workspace to find the PSF view psfViewId={self.psfViewId!r}")
        kernel = context.image(self.psfViewId).pixels[0].astype(np.float64)
        if np.any(kernel < 0):
            raise ExecutionError(f"Deconvolution: the PSF image psfViewId={self.psfViewId!r} has negative values")
        total = float(kernel.sum())
        if not total > 0:
            raise ExecutionError(f"Deconvolution: the PSF image psfViewId={self.psfViewId!r} adds up to {total:g}")
        return kernel / total

    def support(self, image: Image, context: ExecutionContext | None) -> np.ndarray | None:
        """The local deringing fractions (``deringingSupportAmount`` × the support), or None."""
        if not (self.deringing and self.deringingSupport):
            return None
        name = f"deringingSupportViewId={self.deringingSupportViewId!r}"
        if not self.deringingSupportViewId:
            raise ExecutionError("Deconvolution: deringingSupport=true needs deringingSupportViewId (a star mask)")
        if context is None:
            raise ExecutionError(f"Deconvolution: no workspace to find the support view {name}")
        pixels = context.image(self.deringingSupportViewId).pixels
        if pixels.shape[1:] != image.pixels.shape[1:]:
            raise ExecutionError(f"Deconvolution: the support {name} is {pixels.shape[2]}x{pixels.shape[1]}, the "
                                 f"image {image.pixels.shape[2]}x{image.pixels.shape[1]}")
        return np.clip(pixels[0], 0, 1) * np.float32(self.deringingSupportAmount)

    def plane_function(self, psf: np.ndarray, counts: list[int],
                       support: np.ndarray | None = None) -> Callable[[np.ndarray], np.ndarray]:
        """The deconvolution of one plane with these parameters (appends its iterations to ``counts``)."""
        rows = tuple((float(r[0]), float(r[1])) for r in self.waveletLayers[: self.numberOfWaveletLayers])
        dering = (self.deringingDark, self.deringingBright) if self.deringing else (0.0, 0.0)

        def run(plane: np.ndarray) -> np.ndarray:
            out, done = deconvolve(plane, psf, algorithm=self.algorithm, iterations=self.numberOfIterations,
                                   regularization=rows if self.useRegularization else (),
                                   scaling_function=SCALING_FUNCTIONS[self.scalingFunction],
                                   poisson=self.noiseModel == "Poisson", dering=dering,
                                   convergence=self.convergence, support=support)
            counts.append(done)
            return common.dynamic_range(out, self.rangeLow, self.rangeHigh)

        return run

    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        psf = self.psf(context)
        counts: list[int] = []
        run = self.plane_function(psf, counts, self.support(image, context))
        pixels = image.pixels
        if pixels.shape[0] >= 3 and self.toLuminance:
            out = common.apply_to_target(image, run, to_luminance=True, to_chrominance=False, linear=True,
                                         process_id=self.process_id)
        else:
            nominal = 3 if pixels.shape[0] >= 3 else 1
            planes = [run(pixels[c]) for c in range(nominal)]  # the copy after the work: less peak memory
            if pixels.shape[0] == 1:
                out = planes[0][None]
            else:
                out = np.concatenate([np.stack(planes), pixels[nominal:]])
            del planes
        return ProcessOutput(image=image.with_pixels(out), outputs={"iterations": tuple((n,) for n in counts)})
