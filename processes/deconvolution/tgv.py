"""TGVDenoise: second-order total generalized variation denoising (PixInsight's TGVDenoise,
closed source: parameter ids from PJSR, defaults from PixInsight's documentation).

Each processed plane ``f`` becomes the minimizer ``u`` of

``½‖u − f‖² + Σ_x α1(x)·|∇u − w|(x) + α0(x)·|E w|(x)``

(Bredies, Kunisch & Pock's TGV², ``w`` a vector field, ``E w`` its symmetrized gradient,
forward differences with Neumann edges), found by Chambolle–Pock's primal–dual algorithm
(step sizes τ = σ = 0.99/4, since ‖K‖² ≤ 16), float32.  PixInsight's parameters map to
the weights as (procfw's mapping):

* ``α1(x) = strength · edgeProtection · φ(x)``, ``φ(x) = min(1, edgeProtection / |∇f_s(x)|)``
  with ``f_s`` the plane smoothed by a Gaussian of σ 2: where the (smoothed) gradient
  exceeds ``edgeProtection`` (set it near the background noise σ) the regularization weakens
  in proportion, which protects edges and stars;
* ``α0(x) = smoothness · α1(x)``: larger smoothness favours piecewise-affine results
  (smooth gradients) over piecewise-constant ones;
* ``maxIterations`` primal–dual iterations at most; with ``convergenceEnabled`` they stop
  when ``mean|Δu| / mean|u|`` falls below ``convergenceLimit``.

TGV is invariant to adding constants and affine ramps, so the mean of each plane (and so
its total flux) is kept.

Components: ``rgbkMode`` processes every channel (grey, or each of R, G, B) with the ``L``
parameters; otherwise a grey channel takes the ``L`` parameters, a colour image is
converted to CIE L*a*b*: L* with the ``L`` parameters (``filterEnabledL``), a* and b* with
the ``C`` parameters (``filterEnabledC``).

**Local support** (``supportEnabled``; procfw's mapping, PixInsight's is unpublished): the
support ``S`` is the first channel of view ``supportViewId`` (the image's size) or, with no
``supportViewId``, the image itself (its CIE L* when it is in colour); its
``supportRemovedWaveletLayers`` smallest starlet layers are removed (the B3 spline
smoothing of that scale), then it goes through a histogram transformation (shadows
``supportShadowsClip``, highlights ``supportHighlightsClip``, midtones
``supportMidtonesBalance``) into [0, 1]; both weights become ``α(x)·(1 − S(x))``: full
denoising where the support is dark (low signal), none where it is white.
``supportPreview`` has no effect.
"""

from __future__ import annotations

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids
import numpy as np
from scipy import ndimage

from procfw.errors import ExecutionError
from procfw.image import Image
from procfw.params import Boolean, Double, Float, String, UInt32, param
from procfw.process import ExecutionContext, Process, ProcessOutput

__all__ = ["TGVDenoise", "tgv_denoise"]

_STEP = np.float32(0.99 / 4)


def _grad(u: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> None:
    gx[:, :-1] = u[:, 1:] - u[:, :-1]
    gx[:, -1] = 0
    gy[:-1] = u[1:] - u[:-1]
    gy[-1] = 0


def _div(px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """−∇ᵀ(px, py) (the adjoint of the forward differences, negated)."""
    d = np.empty_like(px)
    d[:, 0] = px[:, 0]
    d[:, 1:-1] = px[:, 1:-1] - px[:, :-2]
    d[:, -1] = -px[:, -2]
    d[0] += py[0]
    d[1:-1] += py[1:-1] - py[:-2]
    d[-1] -= py[-2]
    return d


def edge_weight(plane: np.ndarray, edge_protection: float) -> np.ndarray:
    """φ of the module docstring (float32)."""
    smooth = ndimage.gaussian_filter(plane.astype(np.float32), 2.0, mode="reflect")
    gy, gx = np.gradient(smooth)
    magnitude = np.hypot(gx, gy)
    return (edge_protection / np.maximum(magnitude, edge_protection)).astype(np.float32)


def support_map(plane: np.ndarray, removed_layers: int = 0, shadows: float = 0.0, highlights: float = 1.0,
                midtones: float = 0.5) -> np.ndarray:
    """The local support of the module docstring from a 2-D ``plane`` (float32, [0, 1])."""
    from processes.kernels import multiscale as ms
    from processes.kernels.mtf import histogram_transform

    support = np.asarray(plane, dtype=np.float32)
    for smoothed in ms.smoothings(support, removed_layers):
        support = smoothed
    if highlights <= shadows:
        raise ValueError(f"the support's supportHighlightsClip={highlights:g} must exceed "
                         f"supportShadowsClip={shadows:g}")
    return histogram_transform(support, shadows, midtones, highlights).astype(np.float32, copy=False)


def tgv_denoise(plane: np.ndarray, strength: float, edge_protection: float, smoothness: float,
                iterations: int, convergence: float = 0.0,
                support: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """TGV² denoising of a 2-D plane (see the module docstring): (float32 plane, iterations done);
    ``support`` (the plane's shape, [0, 1]) scales both weights by ``1 − support``."""
    f = np.asarray(plane, dtype=np.float32)
    if f.shape[0] < 2 or f.shape[1] < 2 or strength <= 0 or iterations < 1:
        return f.copy(), 0
    alpha1 = np.float32(strength * edge_protection) * edge_weight(f, edge_protection)
    if support is not None:
        if support.shape != f.shape:
            raise ValueError(f"the support is {support.shape}, the plane {f.shape}")
        alpha1 *= 1 - np.clip(support, 0, 1).astype(np.float32)
    alpha0 = np.float32(smoothness) * alpha1
    tau = sigma = _STEP
    u = f.copy()
    u_bar = u.copy()
    w1, w2 = np.zeros_like(f), np.zeros_like(f)
    w1_bar, w2_bar = w1.copy(), w2.copy()
    p1, p2 = np.zeros_like(f), np.zeros_like(f)
    q11, q22, q12 = np.zeros_like(f), np.zeros_like(f), np.zeros_like(f)
    gx, gy = np.empty_like(f), np.empty_like(f)
    a_x, a_y, b_x, b_y = (np.empty_like(f) for _ in range(4))
    done = 0
    for _ in range(iterations):
        # dual ascent: p on ∇ū − w̄, q on E w̄, projected on |p| ≤ α1, |q| ≤ α0
        _grad(u_bar, gx, gy)
        p1 += sigma * (gx - w1_bar)
        p2 += sigma * (gy - w2_bar)
        scale = np.maximum(1, np.sqrt(p1 * p1 + p2 * p2) / np.maximum(alpha1, 1e-12))
        p1 /= scale
        p2 /= scale
        _grad(w1_bar, a_x, a_y)
        _grad(w2_bar, b_x, b_y)
        q11 += sigma * a_x
        q22 += sigma * b_y
        q12 += sigma * 0.5 * (a_y + b_x)
        scale = np.maximum(1, np.sqrt(q11 * q11 + q22 * q22 + 2 * q12 * q12) / np.maximum(alpha0, 1e-12))
        q11 /= scale
        q22 /= scale
        q12 /= scale
        # primal descent: u (with the data term), w
        u_old = u
        u = (u + tau * _div(p1, p2) + tau * f) / (1 + tau)
        w1_old, w2_old = w1, w2
        w1 = w1 + tau * (p1 + _div(q11, q12))
        w2 = w2 + tau * (p2 + _div(q12, q22))
        u_bar = 2 * u - u_old
        w1_bar = 2 * w1 - w1_old
        w2_bar = 2 * w2 - w2_old
        done += 1
        if convergence > 0:
            level = float(np.mean(np.abs(u), dtype=np.float64))
            if level > 0 and float(np.mean(np.abs(u - u_old), dtype=np.float64)) / level < convergence:
                break
    return u.astype(np.float32, copy=False), done


def _strength() -> Float:
    return Float(minimum=0, maximum=100, default=5, precision=2,
                 description="Regularization strength (α1 = strength·edgeProtection in flat areas).")


def _edge() -> Double:
    return Double(minimum=0, maximum=1, default=1e-3, precision=3, scientific=True,
                  description="Gradient magnitude above which edges are protected (near the noise σ).")


def _smoothness() -> Float:
    return Float(minimum=0, maximum=100, default=2, precision=2, description="α0/α1: smooth gradients versus "
                                                                             "flat regions.")


def _iterations() -> UInt32:
    return UInt32(minimum=1, maximum=10000, default=100, description="Maximum number of iterations.")


def _convergence_limit() -> Double:
    return Double(minimum=0, maximum=1, default=0.002, precision=4,
                  description="Stop when mean|Δu|/mean|u| falls below this (with convergenceEnabled).")


class TGVDenoise(Process):
    """Total generalized variation (TGV²) noise reduction of lightness and chrominance, or RGB/K."""

    process_id = "TGVDenoise"
    categories = ("NoiseReduction",)

    rgbkMode: bool = param(Boolean(default=False, description="Process each channel (RGB/K) with the L "
                                                              "parameters instead of L* and a*b*."))
    filterEnabledL: bool = param(Boolean(default=True, description="Denoise the lightness (or RGB/K)."))
    filterEnabledC: bool = param(Boolean(default=True, description="Denoise the chrominance."))
    strengthL: float = param(_strength())
    strengthC: float = param(_strength())
    edgeProtectionL: float = param(_edge())
    edgeProtectionC: float = param(_edge())
    smoothnessL: float = param(_smoothness())
    smoothnessC: float = param(_smoothness())
    maxIterationsL: int = param(_iterations())
    maxIterationsC: int = param(_iterations())
    convergenceEnabledL: bool = param(Boolean(default=False, description="Stop the L iterations at convergence."))
    convergenceEnabledC: bool = param(Boolean(default=False, description="Stop the C iterations at convergence."))
    convergenceLimitL: float = param(_convergence_limit())
    convergenceLimitC: float = param(_convergence_limit())
    supportEnabled: bool = param(Boolean(default=False, description="Modulate the denoising by a local "
                                                                   "support image (1 − support)."))
    supportViewId: str = param(String(default="", description="The support image's view (empty: the image's "
                                                              "own lightness; not implemented)."))
    supportPreview: bool = param(Boolean(default=False, description="Show the support (no effect here)."))
    supportRemovedWaveletLayers: int = param(UInt32(minimum=0, maximum=8, default=0, description=(
        "Small-scale wavelet layers removed from the support.")))
    supportShadowsClip: float = param(Float(minimum=0, maximum=1, default=0, precision=5, description=(
        "Shadows clipping of the support.")))
    supportHighlightsClip: float = param(Float(minimum=0, maximum=1, default=1, precision=5, description=(
        "Highlights clipping of the support.")))
    supportMidtonesBalance: float = param(Float(minimum=0, maximum=1, default=0.5, precision=5, description=(
        "Midtones balance of the support.")))

    def _run(self, plane: np.ndarray, suffix: str, support: np.ndarray | None = None) -> tuple[np.ndarray, int]:
        g = lambda name: getattr(self, name + suffix)  # noqa: E731
        limit = g("convergenceLimit") if g("convergenceEnabled") else 0.0
        return tgv_denoise(plane, g("strength"), g("edgeProtection"), g("smoothness"), g("maxIterations"), limit,
                           support)

    def support(self, image: Image, context: ExecutionContext | None) -> np.ndarray | None:
        """The local support (see the module docstring) for ``image``, or None."""
        if not self.supportEnabled:
            return None
        pixels = image.pixels
        if self.supportViewId:
            name = f"supportViewId={self.supportViewId!r}"
            if context is None:
                raise ExecutionError(f"TGVDenoise: no workspace to find the support view {name}")
            source = context.image(self.supportViewId).pixels
            if source.shape[1:] != pixels.shape[1:]:
                raise ExecutionError(f"TGVDenoise: the support {name} is {source.shape[2]}x{source.shape[1]}, the "
                                     f"image {pixels.shape[2]}x{pixels.shape[1]}")
            plane = source[0]
        elif pixels.shape[0] >= 3:
            from processes.kernels.colorspace import SRGB

            plane = SRGB.lightness(*(pixels[c].astype(np.float64) for c in range(3))).astype(np.float32)
        else:
            plane = pixels[0]
        if self.supportHighlightsClip <= self.supportShadowsClip:
            raise self.invalid("supportHighlightsClip", self.supportHighlightsClip,
                               f"must exceed supportShadowsClip={self.supportShadowsClip:g}")
        return support_map(plane, self.supportRemovedWaveletLayers, self.supportShadowsClip,
                           self.supportHighlightsClip, self.supportMidtonesBalance)

    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        support = self.support(image, context)
        pixels = image.pixels
        out = pixels.copy()
        if pixels.shape[0] < 3 or self.rgbkMode:
            if self.filterEnabledL:
                for c in range(3 if pixels.shape[0] >= 3 else 1):
                    out[c] = self._run(pixels[c], "L", support)[0]
            return ProcessOutput(image=image.with_pixels(out))
        if not (self.filterEnabledL or self.filterEnabledC):
            return ProcessOutput(image=image.with_pixels(out))
        from processes.kernels.colorspace import SRGB

        lum, a, b = SRGB.rgb_to_lab(*(pixels[c].astype(np.float64) for c in range(3)))
        if self.filterEnabledL:
            lum = self._run(lum, "L", support)[0].astype(np.float64)
        if self.filterEnabledC:
            a = self._run(a, "C", support)[0].astype(np.float64)
            b = self._run(b, "C", support)[0].astype(np.float64)
        rgb = SRGB.lab_to_rgb(lum, a, b)
        for c in range(3):
            out[c] = np.clip(rgb[c], 0, 1)
        return ProcessOutput(image=image.with_pixels(out))
