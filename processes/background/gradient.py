"""GradientCorrection (PixInsight 1.9): procfw's own multiscale gradient model.

PixInsight's GradientCorrection is closed source and its mathematics is not published.
The parameter ids, defaults and precisions here are those PixInsight writes (the corpus
icons, version 1); **the model procfw computes is its own**, of the same kind:

1. the image is reduced to the medians of ``downsamplingFactor``² blocks (stars drop out); pixels at or below
   ``lowClippingLevel`` (black borders) are ignored;
2. a base surface is fitted by least squares: a polynomial of degree
   ``simplificationDegree`` with ``useSimplification``, else a quadric (degree 2);
3. what the base leaves is smoothed by a masked Gaussian (normalized convolution) of σ =
   ``scale`` · ``smoothness`` / 20 of the image's longer side (defaults: 10 %), and added
   back: a large-scale base plus a smooth local term;
4. pixels more than 3σ·(1 + ``highTolerance``) above the model (stars, nebulae) or
   3σ·(1 + ``lowTolerance``)·(1 + ``lowThreshold``) below it (σ: the robust spread of what
   the model leaves) are left out (with
   ``protection``, bright ones grown by ``protectionSmoothingFactor``/``downsamplingFactor``
   pixels) and steps 2–4 repeat, ``iterations`` times at most, earlier with
   ``automaticConvergence`` once the model moves less than ``convergenceLimit``;
5. the model, interpolated linearly to full size, is subtracted and its ``reference``
   quantile (0.5: the median) added back; a result outside [0, 1] is rescaled into it.

``generateGradientModel`` opens the gradient (model − reference level) as
``<id>_gradient_model``, ``generateSimpleModel`` the base surface as ``<id>_simple_model``,
``generateProtectionMasks`` the rejected pixels as ``<id>_protection_mask``.
``highThreshold``, ``protectionThreshold``, ``protectionAmount``, ``maxIterations``,
``simplificationScale`` and ``gridSamplingDelta`` are kept for icons and do not change
procfw's model.
"""

from __future__ import annotations

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids
import numpy as np
from scipy import ndimage

from processes.background.correction import apply_model
from processes.background.polynomial import evaluate_at, fit_polynomial, max_degree_for, normalized
from processes.background.sampling import block_median
from processes.background.spline import linear_weights
from procfw.image import Image
from procfw.params import Boolean, Double, Float, UInt32, param
from procfw.process import ExecutionContext, Process, ProcessOutput

__all__ = ["GradientCorrection", "gradient_model"]


def _masked_gaussian(values: np.ndarray, weights: np.ndarray, sigma: float) -> np.ndarray:
    num = ndimage.gaussian_filter(values * weights, sigma, mode="nearest")
    den = ndimage.gaussian_filter(weights, sigma, mode="nearest")
    return num / np.maximum(den, 1e-6)


def gradient_model(plane: np.ndarray, process: GradientCorrection) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Model, base surface and rejection mask of one channel on the downsampled grid, and a summary."""
    factor = max(1, min(process.downsamplingFactor, min(plane.shape) // 4 or 1))
    small = block_median(plane, factor)
    h, w = small.shape
    yy, xx = np.mgrid[0:h, 0:w]
    x, y = normalized(xx, w), normalized(yy, h)
    usable = small > process.lowClippingLevel
    keep = usable.copy()
    smooth_sigma = max(1.0, max(h, w) * process.scale * process.smoothness / 20)
    degree = process.simplificationDegree if process.useSimplification else 2
    grow = max(1, round(process.protectionSmoothingFactor / factor)) if process.protection else 0
    model = base = np.full(small.shape, float(np.median(small)))
    sigma = 0.0
    iterations = 0
    for iterations in range(1, process.iterations + 1):  # noqa: B007 - the count is reported
        if keep.sum() < 3:
            break
        deg = max_degree_for(int(keep.sum()), degree)
        coefficients = fit_polynomial(x[keep], y[keep], small[keep], deg)
        base = evaluate_at(coefficients, x, y)
        local = _masked_gaussian(np.where(keep, small - base, 0.0), keep.astype(np.float64), smooth_sigma)
        new_model = base + local
        change = float(np.abs(new_model - model).max())
        model = new_model
        residual = small - model
        sigma = 1.4826 * float(np.median(np.abs(residual[usable] - np.median(residual[usable]))))
        bright = residual > 3 * sigma * (1 + process.highTolerance)
        if grow:
            bright = ndimage.binary_dilation(bright, iterations=grow)
        dark = residual < -3 * sigma * (1 + process.lowTolerance) * (1 + process.lowThreshold)
        new_keep = usable & ~bright & ~dark
        if process.automaticConvergence and change < process.convergenceLimit:
            break
        if np.array_equal(new_keep, keep) and iterations > 1:
            break
        keep = new_keep
    return model, base, ~keep, {"iterations": iterations, "rejected": float((~keep).mean()), "sigma": sigma,
                                "factor": factor}


def _upsample(small: np.ndarray, height: int, width: int, factor: int) -> np.ndarray:
    rows = (np.arange(small.shape[0]) + 0.5) * factor - 0.5
    cols = (np.arange(small.shape[1]) + 0.5) * factor - 0.5
    wy, wx = linear_weights(height, rows), linear_weights(width, cols)
    across = np.asarray((wx @ small.T).T, dtype=np.float32)
    return np.asarray(wy.astype(np.float32) @ across, dtype=np.float32)


class GradientCorrection(Process):
    """Remove large-scale gradients, with PixInsight 1.9's GradientCorrection ids.  PixInsight's maths is
    unpublished, so this is not its model: procfw fits its own multiscale model (a quadric or polynomial base plus
    a star-rejected, heavily smoothed local term, on block medians of the image) and subtracts it."""

    process_id = "GradientCorrection"
    process_version = 1
    categories = ("BackgroundModelization",)

    reference: float = param(Float(minimum=0, maximum=1, default=0.5, precision=2, description=(
        "Quantile of the model kept as the background level (0.5: median).")))
    lowThreshold: float = param(Float(minimum=0, maximum=1, default=0.2, precision=2, description=(
        "Widens the rejection of dark pixels (procfw: the dark limit × (1 + lowThreshold)).")))
    lowTolerance: float = param(Float(minimum=0, maximum=1, default=0.5, precision=2, description=(
        "Tolerance of dark pixels (procfw: the dark limit is 3σ·(1 + lowTolerance)·(1 + lowThreshold)).")))
    highThreshold: float = param(Float(minimum=0, maximum=1, default=0.05, precision=2, description=(
        "PixInsight's bright-structure threshold (kept; procfw rejects by highTolerance).")))
    highTolerance: float = param(Float(minimum=0, maximum=1, default=0, precision=2, description=(
        "Tolerance of bright pixels (procfw: the bright limit is 3σ·(1 + highTolerance)).")))
    iterations: int = param(UInt32(minimum=1, maximum=100, default=15, description="Refinement passes at most."))
    scale: float = param(Float(minimum=0.1, maximum=100, default=5, precision=2, description=(
        "Gradient scale (procfw: with smoothness, the smoothing σ is scale·smoothness/20 of the longer side).")))
    smoothness: float = param(Float(minimum=0, maximum=1, default=0.4, precision=2, description=(
        "Smoothness of the model.")))
    downsamplingFactor: int = param(UInt32(minimum=1, maximum=64, default=16, description=(
        "Block size the image is averaged over before modelling.")))
    protection: bool = param(Boolean(default=True, description="Grow rejected bright structures (halos)."))
    protectionThreshold: float = param(Float(minimum=0, maximum=1, default=0.1, precision=2, description=(
        "PixInsight's protection threshold (kept).")))
    protectionAmount: float = param(Float(minimum=0, maximum=1, default=0.5, precision=2, description=(
        "PixInsight's protection amount (kept).")))
    protectionSmoothingFactor: int = param(UInt32(minimum=0, maximum=256, default=16, description=(
        "Growth of protected structures, in full-resolution pixels.")))
    lowClippingLevel: float = param(Float(minimum=0, maximum=1, default=0.000076, precision=6, description=(
        "Pixels at or below this level (black borders) are ignored.")))
    automaticConvergence: bool = param(Boolean(default=False, description=(
        "Stop refining once the model moves less than convergenceLimit.")))
    convergenceLimit: float = param(Double(minimum=0, maximum=1, default=0.00001, precision=8, description=(
        "Largest model change that counts as converged.")))
    maxIterations: int = param(UInt32(minimum=1, maximum=100, default=10, description=(
        "PixInsight's iteration limit for automatic convergence (kept).")))
    useSimplification: bool = param(Boolean(default=False, description=(
        "Use a polynomial of simplificationDegree as the base surface instead of a quadric.")))
    simplificationDegree: int = param(UInt32(minimum=0, maximum=6, default=1, description=(
        "Degree of the base polynomial with useSimplification.")))
    simplificationScale: int = param(UInt32(minimum=1, maximum=65536, default=1024, description=(
        "PixInsight's simplification scale (kept).")))
    generateSimpleModel: bool = param(Boolean(default=False, description="Open the base surface as an image."))
    generateGradientModel: bool = param(Boolean(default=False, description="Open the gradient model as an image."))
    generateProtectionMasks: bool = param(Boolean(default=False, description="Open the rejected pixels as a mask."))
    gridSamplingDelta: int = param(UInt32(minimum=1, maximum=1024, default=16, description=(
        "PixInsight's grid sampling distance (kept).")))

    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        view = context.view_id or "image"
        nominal = 3 if image.channels >= 3 else 1
        height, width = image.height, image.width
        models, bases, masks, summaries = [], [], [], []
        for c in range(nominal):
            small, base, mask, summary = gradient_model(image.pixels[c], self)
            factor = summary["factor"]
            model = _upsample(small, height, width, factor)
            level = float(np.quantile(small, self.reference))
            models.append(model - np.float32(level))
            if self.generateSimpleModel:
                bases.append(_upsample(base, height, width, factor))
            if self.generateProtectionMasks:
                masks.append(_upsample(mask.astype(np.float64), height, width, factor).clip(0, 1))
            summaries.append(summary)
            context.report((c + 1) / nominal, f"channel {c}")
        gradient = np.stack(models)
        pixels = np.empty(image.pixels.shape, dtype=np.float32)
        apply_model(image.pixels, gradient, "Subtract", normalize=False, out=pixels[:nominal])
        pixels[nominal:] = image.pixels[nominal:]
        new_images = {}
        if self.generateGradientModel:
            new_images[f"{view}_gradient_model"] = Image(gradient)
        if bases:
            new_images[f"{view}_simple_model"] = Image(np.stack(bases))
        if masks:
            new_images[f"{view}_protection_mask"] = Image(np.stack(masks))
        messages = tuple(f"channel {c}: {s['iterations']} iterations, {100 * s['rejected']:.1f}% rejected"
                         for c, s in enumerate(summaries))
        return ProcessOutput(image=image.with_pixels(pixels), new_images=new_images,
                             outputs={"channels": summaries}, messages=messages)
