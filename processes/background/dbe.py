"""DynamicBackgroundExtraction (DBE): a smoothed thin-plate spline through background samples.

PixInsight's DBE is closed source; the parameter ids, defaults and precisions here are those
PixInsight writes in icons and PJSR scripts.  Samples come from, in this order:

* the ``samples`` table (pixel positions on an ``imageWidth × imageHeight`` image, scaled to
  the target, so an icon runs on an image of any size), its ``radius`` scaled likewise;
* else the ``data`` table (positions as fractions of the width and height);
* else an automatic grid, ``samplesPerRow`` samples across, of radius
  ``defaultSampleRadius``, then rejected as ABE rejects boxes (stars inside a box by
  ``tolerance``/``shadowsRelaxation``; boxes off a degree-4 polynomial by ``tolerance``σ:
  nebulosity).

Each sample's value is the mean of the pixels of its box within
[median − ``shadowsRelaxation``·``tolerance``·σ, median + ``tolerance``·σ]; its weight the
fraction kept relative to pure noise; samples lighter than ``minWeight`` (or keeping less
than ``minSampleFraction`` of their pixels) are dropped.  An ``isFixed`` sample keeps the value
and weight stored in the table.  The model is
:class:`scipy.interpolate.RBFInterpolator`'s thin-plate spline with per-sample smoothing
``smoothing²·0.02/weight`` (``ignoreWeights``: weight 1), evaluated on a grid at most 128
nodes across and interpolated linearly between nodes.  This is procfw's engine, not
PixInsight's (whose surface-spline code is unpublished): expect the same kind of model, not
the same numbers.  ``derivativeOrder``, ``symmetries``/``axialCount`` of the samples,
``symmetryCenterX/Y`` and the colours are kept for icons (symmetric samples are not
generated).  Corrections and outputs are as ABE's: the model opens as ``modelId`` (or
``<id>_background``), a corrected copy as ``correctedImageId`` (or ``<id>_DBE``).
"""

from __future__ import annotations

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids
import math

import numpy as np

from processes.background.correction import CORRECTED_FORMATS, CORRECTIONS, SAMPLE_FORMATS, build_output
from processes.background.polynomial import evaluate_at, fit_polynomial, max_degree_for, normalized
from processes.background.sampling import expected_fraction, measure_boxes, noise_sigma, robust_surface
from processes.background.spline import SplineSurface
from procfw.errors import ExecutionError
from procfw.image import Image
from procfw.params import Boolean, Double, Enumeration, Float, String, Table, UInt32, param
from procfw.process import ExecutionContext, Process, ProcessOutput

__all__ = ["DynamicBackgroundExtraction"]


def _value_columns(precision: int) -> tuple:
    cols = []
    for c in range(3):
        cols.append(Double(id=f"z{c}", precision=precision, description=f"Background value of channel {c}."))
        cols.append(Float(id=f"w{c}", minimum=0, maximum=1, default=1, precision=3,
                          description=f"Weight of channel {c}."))
    return tuple(cols)


DATA_COLUMNS = (
    Double(id="x", minimum=0, maximum=1, precision=8, description="Position across, fraction of the width."),
    Double(id="y", minimum=0, maximum=1, precision=8, description="Position down, fraction of the height."),
    *_value_columns(8),
)
SAMPLE_COLUMNS = (
    UInt32(id="x", description="Column of the sample centre on the imageWidth × imageHeight image."),
    UInt32(id="y", description="Row of the sample centre."),
    UInt32(id="radius", minimum=1, default=5, description="Half side of the sample box (px)."),
    UInt32(id="symmetries", description="PixInsight's symmetry flags (kept; not generated here)."),
    UInt32(id="axialCount", default=6, description="Samples of an axial symmetry (kept)."),
    UInt32(id="isFixed", maximum=1, description="1: use the stored values and weights instead of measuring."),
    *_value_columns(6),
)


class DynamicBackgroundExtraction(Process):
    """Model the background with a smoothed thin-plate spline through samples (placed or automatic); subtract or
    divide.  The spline engine is scipy's, not PixInsight's."""

    process_id = "DynamicBackgroundExtraction"
    categories = ("BackgroundModelization",)

    data: tuple = param(Table(columns=DATA_COLUMNS, description=(
        "Samples as PixInsight lists them for the model: normalized position, value and weight per channel.")))
    numberOfChannels: int = param(UInt32(maximum=3, default=0, description="Channels the samples hold (informative)."))
    derivativeOrder: int = param(UInt32(minimum=1, maximum=10, default=2, description=(
        "Order of the derivatives the surface spline minimizes (kept; procfw's spline is a thin plate, order 2).")))
    smoothing: float = param(Float(minimum=0, maximum=10, default=0.25, precision=3, description=(
        "Smoothing of the spline: 0 passes through every sample.")))
    ignoreWeights: bool = param(Boolean(default=False, description="Give every sample the same weight."))
    modelId: str = param(String(default="", description="Id of the model image (default <id>_background)."))
    modelWidth: int = param(UInt32(default=0, description="Kept for icons (PixInsight's model image size)."))
    modelHeight: int = param(UInt32(default=0, description="Kept for icons (PixInsight's model image size)."))
    downsample: int = param(UInt32(minimum=1, maximum=64, default=2, description=(
        "Spacing of the nodes the model is evaluated on (at least this many pixels).")))
    modelSampleFormat: str = param(Enumeration(elements=SAMPLE_FORMATS, default="f32", description=(
        "Sample format of the model image.")))
    targetCorrection: str = param(Enumeration(elements=CORRECTIONS, default="None", description=(
        "Subtract the model (additive gradients), divide by it (vignetting), or only build it.")))
    normalize: bool = param(Boolean(default=False, description="Keep the model's median level in the result."))
    discardModel: bool = param(Boolean(default=False, description="Do not open the model image."))
    replaceTarget: bool = param(Boolean(default=False, description=(
        "Correct the target in place instead of opening a corrected copy.")))
    correctedImageId: str = param(String(default="", description="Id of the corrected copy (default <id>_DBE)."))
    correctedImageSampleFormat: str = param(Enumeration(elements=CORRECTED_FORMATS, default="SameAsTarget",
                                                        description="Sample format of the corrected copy."))
    samples: tuple = param(Table(columns=SAMPLE_COLUMNS, description=(
        "Samples in pixels of an imageWidth × imageHeight image: position, radius, symmetries, isFixed, values.")))
    imageWidth: int = param(UInt32(default=0, description="Width of the image the samples were placed on."))
    imageHeight: int = param(UInt32(default=0, description="Height of the image the samples were placed on."))
    symmetryCenterX: float = param(Double(minimum=0, maximum=1, default=0.5, precision=6, description=(
        "Centre of symmetry, fraction of the width (kept).")))
    symmetryCenterY: float = param(Double(minimum=0, maximum=1, default=0.5, precision=6, description=(
        "Centre of symmetry, fraction of the height (kept).")))
    tolerance: float = param(Float(minimum=0.1, maximum=10, default=0.5, precision=3, description=(
        "Pixels more than this many σ above a sample's median are left out; automatic samples this far "
        "above the trend are rejected.")))
    shadowsRelaxation: float = param(Float(minimum=0, maximum=100, default=3, precision=3, description=(
        "The lower limits are this many times the upper ones.")))
    minSampleFraction: float = param(Float(minimum=0, maximum=1, default=0.05, precision=3, description=(
        "Minimum fraction of a sample's pixels that must be kept.")))
    defaultSampleRadius: int = param(UInt32(minimum=1, maximum=1000, default=5, description=(
        "Half side of automatic samples (px).")))
    samplesPerRow: int = param(UInt32(minimum=2, maximum=100, default=10, description=(
        "Automatic samples across the image.")))
    minWeight: float = param(Float(minimum=0, maximum=1, default=0.75, precision=3, description=(
        "Samples with a lower weight are not used.")))
    sampleColor: int = param(UInt32(default=0xFFE0E0E0, description="PixInsight only: colour of samples."))
    selectedSampleColor: int = param(UInt32(default=0xFF00FF00, description="PixInsight only: selected sample."))
    selectedSampleFillColor: int = param(UInt32(default=0, description="PixInsight only: selected sample fill."))
    badSampleColor: int = param(UInt32(default=0xFFFF0000, description="PixInsight only: rejected sample."))
    badSampleFillColor: int = param(UInt32(default=0x80FF0000, description="PixInsight only: rejected sample fill."))
    axisColor: int = param(UInt32(default=0xFFE0E0E0, description="PixInsight only: symmetry axes."))

    def validate(self) -> None:
        if self.samples and (self.imageWidth == 0 or self.imageHeight == 0):
            raise self.invalid("imageWidth", self.imageWidth,
                               "the samples table needs imageWidth and imageHeight (the image it was made on)")

    # -- sample positions -------------------------------------------------------------------
    def positions(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        """Sample columns, rows and radii on a ``height × width`` target, and where they came from."""
        if self.samples:
            sx, sy = width / self.imageWidth, height / self.imageHeight
            table = np.array([row[:3] for row in self.samples], dtype=np.float64)
            return table[:, 0] * sx, table[:, 1] * sy, np.maximum(1, table[:, 2] * math.sqrt(sx * sy)), "samples"
        if self.data:
            table = np.array([row[:2] for row in self.data], dtype=np.float64)
            radius = self.defaultSampleRadius * (math.sqrt(width / self.imageWidth * height / self.imageHeight)
                                                 if self.imageWidth and self.imageHeight else 1.0)
            return table[:, 0] * width, table[:, 1] * height, np.full(len(table), max(1.0, radius)), "data"
        r = min(self.defaultSampleRadius, (min(height, width) - 1) // 2)
        spacing = max(width - 1 - 2 * r, 1) / max(self.samplesPerRow - 1, 1)
        ny = max(2, round((height - 1 - 2 * r) / spacing) + 1)
        cols = np.linspace(r, width - 1 - r, self.samplesPerRow)  # edge to edge, as PixInsight's grid
        rows = np.linspace(r, height - 1 - r, ny)
        gr, gc = np.meshgrid(rows, cols, indexing="ij")
        return gc.ravel(), gr.ravel(), np.full(gc.size, float(self.defaultSampleRadius)), "automatic"

    def _stored(self, source: str, channel: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stored values, weights and fixed flags of one channel."""
        if source == "samples":
            rows = self.samples
            return (np.array([r[6 + 2 * channel] for r in rows]), np.array([r[7 + 2 * channel] for r in rows]),
                    np.array([bool(r[5]) for r in rows]))
        rows = self.data
        return (np.array([r[2 + 2 * channel] for r in rows]), np.array([r[3 + 2 * channel] for r in rows]),
                np.zeros(len(rows), dtype=bool))

    # -- one channel -----------------------------------------------------------------------
    def channel_model(self, plane: np.ndarray, channel: int) -> tuple[np.ndarray, dict]:
        """The model of one channel on every pixel, and a summary."""
        height, width = plane.shape
        col, row, radius, source = self.positions(height, width)
        sigma = noise_sigma(plane)
        values, weights = np.full(len(col), np.nan), np.zeros(len(col))
        for r in np.unique(radius):
            sel = radius == r
            values[sel], weights[sel] = measure_boxes(plane, col[sel], row[sel], r, sigma=sigma,
                                                      tolerance=self.tolerance, relaxation=self.shadowsRelaxation)
        if source != "automatic":
            stored, stored_w, fixed = self._stored(source, channel)
            values[fixed], weights[fixed] = stored[fixed], stored_w[fixed]
        else:
            fixed = np.zeros(len(col), dtype=bool)
        usable = np.isfinite(values) & ((weights >= self.minWeight) | fixed)
        kept_fraction = weights * expected_fraction(self.tolerance, self.shadowsRelaxation)
        usable &= (kept_fraction >= self.minSampleFraction) | fixed
        if source == "automatic" and usable.sum() >= 6:
            usable[usable] = self._reject_off_trend(col[usable], row[usable], values[usable], height, width, sigma)
        if usable.sum() < 3:
            raise ExecutionError(f"DynamicBackgroundExtraction: channel {channel} has {int(usable.sum())} usable "
                                 f"samples of {len(col)} ({source}); at least 3 are needed (lower minWeight, raise "
                                 "tolerance, or place samples)")
        w = None if self.ignoreWeights else weights[usable]
        surface = SplineSurface(col[usable], row[usable], values[usable], height=height, width=width,
                                smoothing=self.smoothing, weights=w)
        spacing = max(self.downsample, math.ceil(max(height, width) / 128))
        model = surface.render(spacing)
        summary = {"source": source, "samples": len(col), "used": int(usable.sum()), "sigma": sigma}
        return model, summary

    def _reject_off_trend(self, col, row, values, height, width, sigma) -> np.ndarray:
        x, y = normalized(col, width), normalized(row, height)
        degree = max_degree_for(len(values), 4)
        latest: list[np.ndarray] = []

        def fit(kept: np.ndarray):
            latest[:] = [fit_polynomial(x[kept], y[kept], values[kept], max_degree_for(int(kept.sum()), degree))]
            return lambda: evaluate_at(latest[0], x, y)

        kept, _ = robust_surface(values, fit, sigma=sigma, deviation=self.tolerance, unbalance=self.shadowsRelaxation)
        return kept

    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        view = context.view_id or "image"
        nominal = 3 if image.channels >= 3 else 1
        models = np.empty((nominal, image.height, image.width), dtype=np.float32)
        summaries = []
        for c in range(nominal):
            models[c], summary = self.channel_model(image.pixels[c], c)
            summaries.append(summary)
            context.report((c + 1) / nominal, f"channel {c}: {summary['used']} samples")
        messages = tuple(f"channel {c}: {s['used']} of {s['samples']} {s['source']} samples used"
                         for c, s in enumerate(summaries))
        return build_output(
            image, models, correction=self.targetCorrection, normalize=self.normalize,
            discard_model=self.discardModel, replace_target=self.replaceTarget,
            model_id=self.modelId or f"{view}_background", model_format=self.modelSampleFormat,
            corrected_id=self.correctedImageId or f"{view}_DBE", corrected_format=self.correctedImageSampleFormat,
            outputs={"channels": summaries}, messages=messages)

