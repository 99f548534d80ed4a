"""AutomaticBackgroundExtractor (ABE): a polynomial background fitted to automatic samples.

PixInsight's ABE is closed source; its parameter ids, defaults and precisions here are those
PixInsight writes in icons and PJSR scripts (version 256).  What procfw computes:

1. each nominal channel is block-averaged by ``abeDownsample`` (rounded to an integer);
2. boxes of ``boxSize``² downsampled pixels are laid on a grid, ``boxSeparation`` pixels
   apart edge to edge; within a box, pixels more than ``tolerance``·σ above the box median
   (stars) or ``unbalance``·``tolerance``·σ below it are ignored (σ: the channel's noise,
   from first differences), as are, with ``useBrightnessLimits``, pixels outside
   [``minBackground``, ``maxBackground``]; a box keeps the mean of its valid pixels if at
   least ``minBoxFraction`` of them are valid;
3. a polynomial of degree ``polyDegree`` (terms ``x^i·y^j``, ``i + j ≤ polyDegree``) is fitted
   by least squares in coordinates normalized to [-1, 1]; boxes more than ``deviation``·σ
   above the model (or ``unbalance`` times that below) are rejected and the model refitted
   until nothing changes (nebulosity);
4. ``targetCorrection`` subtracts or divides the model (``normalize``: the result keeps the
   model's median level); a result outside [0, 1] is rescaled into it.  With
   ``replaceTarget`` the target changes, otherwise the corrected image opens as
   ``correctedImageId`` (or ``<id>_ABE``); unless ``discardModel``, the model opens as
   ``<id>_ABE_background``.

``writeSampleBoxes``, ``justTrySamples``, ``verboseCoefficients``, ``compareModel`` and
``compareFactor`` only change what PixInsight shows; they are kept for icons.  The fitted
coefficients and the sample counts are reported as outputs.
"""

from __future__ import annotations

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids
import numpy as np

from processes.background.correction import CORRECTED_FORMATS, CORRECTIONS, SAMPLE_FORMATS, build_output
from processes.background.polynomial import evaluate_at, evaluate_polynomial, fit_polynomial, max_degree_for, normalized
from processes.background.sampling import grid_samples, robust_surface
from procfw.image import Image
from procfw.params import Boolean, Enumeration, Float, String, UInt32, param
from procfw.process import ExecutionContext, Process, ProcessOutput

__all__ = ["AutomaticBackgroundExtractor", "abe_model"]


def abe_model(plane: np.ndarray, process: AutomaticBackgroundExtractor) -> tuple[np.ndarray, dict]:
    """The polynomial coefficients for one channel and a summary of the sampling."""
    height, width = plane.shape
    limits = (process.minBackground, process.maxBackground) if process.useBrightnessLimits else None
    samples, sigma = grid_samples(
        plane, box_size=process.boxSize, box_separation=process.boxSeparation,
        downsample=max(1, round(process.abeDownsample)), tolerance=process.tolerance, unbalance=process.unbalance,
        min_box_fraction=process.minBoxFraction, limits=limits)
    x, y = normalized(samples.col, width), normalized(samples.row, height)
    if samples.value.size == 0:  # nothing valid: a flat model at the median
        flat = np.zeros((1, 1))
        flat[0, 0] = float(np.median(plane))
        return flat, {"samples": 0, "rejected": 0, "degree": 0, "sigma": sigma}
    degree = max_degree_for(samples.value.size, process.polyDegree)

    latest: list[np.ndarray] = []

    def fit(kept: np.ndarray):
        deg = max_degree_for(int(kept.sum()), degree)
        latest[:] = [fit_polynomial(x[kept], y[kept], samples.value[kept], deg)]
        return lambda: evaluate_at(latest[0], x, y)

    kept, _ = robust_surface(samples.value, fit, sigma=sigma, deviation=process.deviation,
                             unbalance=process.unbalance)
    coefficients = latest[0]
    return coefficients, {"samples": int(samples.value.size), "rejected": int((~kept).sum()),
                          "degree": coefficients.shape[0] - 1, "sigma": sigma}


class AutomaticBackgroundExtractor(Process):
    """Fit a polynomial background to automatically placed, star- and nebula-rejected samples; subtract or divide."""

    process_id = "AutomaticBackgroundExtractor"
    categories = ("BackgroundModelization",)

    tolerance: float = param(Float(minimum=0.1, maximum=10, default=1, precision=3, description=(
        "Pixels more than this many σ above a box's median (stars) are left out of the box.")))
    deviation: float = param(Float(minimum=0.01, maximum=10, default=0.8, precision=3, description=(
        "Boxes more than this many σ above the model (nebulosity) are rejected.")))
    unbalance: float = param(Float(minimum=0, maximum=100, default=1.8, precision=3, description=(
        "Shadows relaxation: the lower limits are this many times the upper ones.")))
    minBoxFraction: float = param(Float(minimum=0, maximum=1, default=0.05, precision=3, description=(
        "Minimum fraction of valid pixels for a box to be a sample.")))
    maxBackground: float = param(Float(minimum=0, maximum=1, default=1, precision=4, description=(
        "With useBrightnessLimits: brighter pixels are not background.")))
    minBackground: float = param(Float(minimum=0, maximum=1, default=0, precision=4, description=(
        "With useBrightnessLimits: darker pixels are not background.")))
    useBrightnessLimits: bool = param(Boolean(default=False, description="Apply minBackground and maxBackground."))
    polyDegree: int = param(UInt32(minimum=0, maximum=6, default=4, description="Degree of the polynomial model."))
    boxSize: int = param(UInt32(minimum=1, maximum=50, default=5, description="Side of a sample box (downsampled px)."))
    boxSeparation: int = param(UInt32(minimum=1, maximum=50, default=5, description=(
        "Gap between adjacent sample boxes (downsampled px).")))
    modelImageSampleFormat: str = param(Enumeration(elements=SAMPLE_FORMATS, default="f32", description=(
        "Sample format of the background model image.")))
    abeDownsample: float = param(Float(minimum=1, maximum=8, default=2, precision=2, description=(
        "Downsampling factor of the image the samples are taken from (rounded to an integer).")))
    writeSampleBoxes: bool = param(Boolean(default=False, description="PixInsight only: draw the sample boxes."))
    justTrySamples: bool = param(Boolean(default=False, description="PixInsight only: show samples, build no model."))
    targetCorrection: str = param(Enumeration(elements=CORRECTIONS, default="None", description=(
        "Subtract the model (additive gradients), divide by it (vignetting), or only build it.")))
    normalize: bool = param(Boolean(default=False, description="Keep the model's median level in the result."))
    discardModel: bool = param(Boolean(default=False, description="Do not open the background model image."))
    replaceTarget: bool = param(Boolean(default=False, description=(
        "Correct the target in place instead of opening a corrected copy.")))
    correctedImageId: str = param(String(default="", description="Id of the corrected copy (default <id>_ABE)."))
    correctedImageSampleFormat: str = param(Enumeration(elements=CORRECTED_FORMATS, default="SameAsTarget",
                                                        description="Sample format of the corrected copy."))
    verboseCoefficients: bool = param(Boolean(default=False, description="PixInsight only: print the coefficients."))
    compareModel: bool = param(Boolean(default=False, description="PixInsight only: show a model comparison."))
    compareFactor: float = param(Float(minimum=1, maximum=100, default=10, precision=2, description=(
        "PixInsight only: amplification of the model comparison.")))

    def validate(self) -> None:
        if self.useBrightnessLimits and self.minBackground >= self.maxBackground:
            raise self.invalid("minBackground", self.minBackground,
                               f"must be below maxBackground ({self.maxBackground}) with useBrightnessLimits")

    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        view = context.view_id or "image"
        nominal = 3 if image.channels >= 3 else 1
        height, width = image.height, image.width
        model = np.empty((nominal, height, width), dtype=np.float32)
        summaries = []
        for c in range(nominal):
            coefficients, summary = abe_model(image.pixels[c], self)
            evaluate_polynomial(coefficients, height, width, out=model[c])
            summaries.append({**summary, "coefficients": coefficients.tolist()})
            context.report((c + 1) / nominal, f"channel {c}: {summary['samples']} samples")
        return build_output(
            image, model, correction=self.targetCorrection, normalize=self.normalize,
            discard_model=self.discardModel, replace_target=self.replaceTarget, model_id=f"{view}_ABE_background",
            model_format=self.modelImageSampleFormat, corrected_id=self.correctedImageId or f"{view}_ABE",
            corrected_format=self.correctedImageSampleFormat, outputs={"channels": summaries})
