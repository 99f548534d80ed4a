"""ScreenTransferFunction (a view's display stretch) and AutoStretch (PixInsight's AutoSTF).

ScreenTransferFunction is PixInsight's process: table ``STF`` of four rows — R/K, G, B and
CIE L* (the lightness display channel) — each ``(c0, c1, m, r0, r1)``, and the
``interaction`` enumeration (SeparateChannels, Grayscale).  Executing it on a view sets the
view's display function and leaves the pixels alone: it is neither a history updater nor
maskable.  :meth:`ScreenTransferFunction.to_histogram_transformation` converts it to the
equal HistogramTransformation, as dragging an STF icon to PixInsight's HT window does.

AutoStretch is procfw's own process with the algorithm of PixInsight's STF AutoStretch
(the "AutoSTF" button): from each channel's median ``med`` and normalized MAD
``σ = 1.4826·MAD``,

* shadows clipping ``c0 = med + shadowsClipping·σ`` (clamped to [0, 1]);
* midtones balance ``m = mtf(targetBackground, med − c0)``, so that the median is shown
  at ``targetBackground``;
* linked: one stretch for all channels, c0 and m computed from the channel averages (c0
  averages the per-channel clipping points, channels with zero MAD contributing 0; m uses
  the average median);
* images whose median lies above 0.5 (negatives) are stretched mirrored: ``c0 = 0``,
  ``c1 = med − shadowsClipping·σ``, ``m = mtf(c1 − med, targetBackground)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from processes.intensity.histogram import RGBK_ROW, HistogramTransformation, nominal_channels
from processes.kernels.mtf import histogram_transform, is_identity, mtf
from processes.kernels.robust import MAD_TO_SIGMA, median_mad
from procfw.errors import ExecutionError, ParameterError
from procfw.image import Image
from procfw.params import Boolean, Double, Enumeration, Float, Table, param
from procfw.process import ExecutionContext, Process, ProcessOutput, ProcessResult, ProgressCallback

if TYPE_CHECKING:
    from procfw.workspace import MaskRef, View

STF_ROW_NAMES = ("R/K", "G", "B", "L")
"""What each row of the ``STF`` table stretches: red (or grey), green, blue, CIE L*/Y."""

IDENTITY_STF_ROW = (0.0, 1.0, 0.5, 0.0, 1.0)
"""An identity STF row: ``(c0, c1, m, r0, r1)`` (note the order differs from HistogramTransformation's)."""

BOOST_CLIPPING_FACTOR = 0.75
"""PixInsight's default factor on the shadows clipping of a boosted AutoStretch."""


def _column(id_: str, default: float, minimum: float, maximum: float, description: str) -> Float:
    return Float(id=id_, default=default, minimum=minimum, maximum=maximum, precision=5, description=description)


STF_TABLE = Table(
    columns=(
        _column("c0", 0.0, 0.0, 1.0, "Shadows clipping point of the display stretch."),
        _column("c1", 1.0, 0.0, 1.0, "Highlights clipping point of the display stretch."),
        _column("m", 0.5, 0.0, 1.0, "Midtones balance of the display stretch."),
        _column("r0", 0.0, -10.0, 0.0, "Low dynamic range expansion bound (≤ 0)."),
        _column("r1", 1.0, 1.0, 11.0, "High dynamic range expansion bound (≥ 1)."),
    ),
    default=(IDENTITY_STF_ROW,) * 4,
    min_rows=4,
    max_rows=4,
    description="Display stretches (c0, c1, m, r0, r1) for R/K, G, B and CIE L*, in that order.",
)


class ScreenTransferFunction(Process):
    """Set a view's screen transfer function (display stretch) without changing its pixels.

    PixInsight's ScreenTransferFunction: four ``(c0, c1, m, r0, r1)`` rows for the R/K, G, B
    and lightness display channels.  Executing it stores this instance as the view's
    ``display_function``; nothing is recorded in the history.
    """

    process_id = "ScreenTransferFunction"
    categories = ("IntensityTransformations",)
    is_history_updater = False
    is_maskable = False

    STF: tuple[tuple[float, ...], ...] = param(STF_TABLE)
    interaction: str = param(
        Enumeration(
            elements=("SeparateChannels", "Grayscale"),
            default="SeparateChannels",
            description="How the channels were edited: separately (colour) or as one grey channel.",
        )
    )

    def validate(self) -> None:
        for index, (c0, c1, *_rest) in enumerate(self.STF):
            if c0 > c1:
                why = f"row {index} ({STF_ROW_NAMES[index]}): c0 = {c0} exceeds c1 = {c1}"
                raise self.invalid("STF", self.STF, why)

    def row(self, index: int) -> tuple[float, float, float, float, float]:
        """Row ``index`` as ``(c0, c1, m, r0, r1)``."""
        c0, c1, m, r0, r1 = self.STF[index]
        return (c0, c1, m, r0, r1)

    # -- execution: the view's display function, pixels untouched -----------------------
    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        """Pixels are never changed by an STF; the view's display function is set by :meth:`execute_on`."""
        return ProcessOutput()

    def execute_on(
        self, view: View, *, mask: MaskRef | None = None, progress: ProgressCallback | None = None
    ) -> ProcessResult:
        """Make this instance the display function of ``view``; no pixels, no history."""
        self.require_executable_on(view)
        view.display_function = self
        return ProcessResult(process_id=self.process_id, target=view.id)

    # -- conversions -----------------------------------------------------------------------
    def to_histogram_transformation(self) -> HistogramTransformation:
        """The equal HistogramTransformation, as PixInsight's STF → HT import makes it.

        Grayscale interaction, or three identical R/G/B rows, go to the combined RGB/K row;
        otherwise each of R, G, B goes to its own row.  The lightness row has no HT
        counterpart and is not used.
        """
        rows: dict[int, tuple[float, float, float, float, float]] = {}
        f0, f1, f2 = self.STF[0], self.STF[1], self.STF[2]
        if self.interaction == "Grayscale" or f0 == f1 == f2:
            rows[RGBK_ROW] = _ht_row(f0)
        else:
            for c in range(3):
                rows[c] = _ht_row(self.STF[c])
        return HistogramTransformation.from_rows(rows)

    def to_display_dict(self) -> dict[str, list[float]]:
        """The display dict files store (XISF ``DisplayFunction``): ``m, s, h, l, r`` for R/K, G, B, L.

        ``m`` is the midtones balance, ``s``/``h`` the shadows/highlights clipping points
        (c0/c1), ``l``/``r`` the dynamic range bounds (r0/r1).
        """
        rows = [self.row(i) for i in range(4)]
        return {key: [float(row[column]) for row in rows] for key, column in _DISPLAY_COLUMNS.items()}

    @classmethod
    def from_display_dict(cls, values: Mapping[str, Any]) -> ScreenTransferFunction:
        """The STF of a display dict (see :meth:`to_display_dict`); raises ParameterError if malformed."""
        try:
            columns = {key: [float(v) for v in values[key]] for key in _DISPLAY_COLUMNS}
        except (KeyError, TypeError, ValueError) as exc:
            raise ParameterError(f"{cls.process_id}: a display function needs m, s, h, l and r lists: {exc}") from exc
        if any(len(components) != 4 for components in columns.values()):
            raise ParameterError(f"{cls.process_id}: each display function key needs 4 components (R/K, G, B, L)")
        by_column = {column: columns[key] for key, column in _DISPLAY_COLUMNS.items()}
        rows = [tuple(by_column[column][i] for column in range(5)) for i in range(4)]
        return cls(STF=rows)

    def render(self, image: Image) -> Image:
        """The display rendition of ``image``: channel k stretched by row k (row 0 for grey).

        This is what PixInsight shows on screen for the RGB/K display channel; extra (alpha)
        channels are copied.
        """
        pixels = image.pixels
        out = np.empty_like(pixels)
        nominal = nominal_channels(image.channels)
        for c in range(image.channels):
            c0, c1, m, r0, r1 = self.row(c) if c < nominal else IDENTITY_STF_ROW
            if c >= nominal or is_identity(c0, m, c1, r0, r1):
                np.copyto(out[c], pixels[c])
            else:
                histogram_transform(pixels[c], c0, m, c1, r0, r1, out=out[c])
        return image.with_pixels(out)


_DISPLAY_COLUMNS = {"m": 2, "s": 0, "h": 1, "l": 3, "r": 4}
"""Display dict key → STF column (c0, c1, m, r0, r1)."""


def _ht_row(stf_row: tuple[float, ...]) -> tuple[float, float, float, float, float]:
    c0, c1, m, r0, r1 = stf_row
    return (c0, m, c1, r0, r1)


def channel_names(nominal: int) -> tuple[str, ...]:
    """Output keys for the nominal channels of an image: ``("K",)`` or ``("R", "G", "B")``."""
    return ("R", "G", "B") if nominal == 3 else ("K",)


class AutoStretch(Process):
    """Automatic stretch from each channel's median and MAD, as PixInsight's AutoSTF computes it.

    Applies the stretch permanently (through a HistogramTransformation), or with
    ``display`` only sets it as the view's screen transfer function.
    """

    process_id = "AutoStretch"
    pixinsight = False  # procfw's own: PixInsight has no AutoStretch process
    categories = ("IntensityTransformations",)

    shadowsClipping: float = param(  # noqa: N815
        Double(
            default=-2.8,
            minimum=-10.0,
            maximum=0.0,
            precision=2,
            description="Shadows clipping point in units of σ = 1.4826·MAD from the median (negative: below it).",
        )
    )
    targetBackground: float = param(  # noqa: N815
        Double(
            default=0.25,
            minimum=0.0,
            maximum=1.0,
            precision=4,
            description="Where the median (the background) lands after the stretch, in [0, 1].",
        )
    )
    linked: bool = param(
        Boolean(
            default=True,
            description="One stretch for all colour channels from the channel averages (true) or one per channel.",
        )
    )
    boost: float = param(
        Double(
            default=1.0,
            minimum=1.0,
            maximum=10.0,
            precision=2,
            description=(
                "Boost factor: the target background is multiplied by it and, when it is not 1, the shadows "
                "clipping by 0.75; 2 reproduces PixInsight's boosted AutoStretch (Shift+click)."
            ),
        )
    )
    display: bool = param(
        Boolean(
            default=False,
            description="Only set the view's screen transfer function (display stretch), leaving the pixels alone.",
        )
    )

    def validate(self) -> None:
        if self.targetBackground * self.boost > 1:
            raise self.invalid(
                "boost",
                self.boost,
                f"targetBackground × boost = {self.targetBackground * self.boost:g} must not exceed 1",
            )

    # -- the stretch -------------------------------------------------------------------------
    def effective_parameters(self) -> tuple[float, float]:
        """``(shadows clipping, target background)`` after the boost."""
        clipping = self.shadowsClipping * (BOOST_CLIPPING_FACTOR if self.boost != 1 else 1.0)
        return clipping, self.targetBackground * self.boost

    def compute_stf(self, image: Image) -> ScreenTransferFunction:
        """The screen transfer function this instance computes for ``image``."""
        nominal = nominal_channels(image.channels)
        medians, sigmas = [], []
        for c in range(nominal):
            try:
                med, raw_mad = median_mad(image.pixels[c])
            except ValueError:
                raise ExecutionError(f"{self.process_id}: channel {c} has no finite pixel values") from None
            medians.append(med)
            sigmas.append(raw_mad * MAD_TO_SIGMA)
        clipping, target = self.effective_parameters()
        rows = [IDENTITY_STF_ROW] * 4
        if self.linked:
            rows[0:3] = [_linked_row(medians, sigmas, clipping, target)] * 3
        else:
            for c in range(nominal):
                rows[c] = _channel_row(medians[c], sigmas[c], clipping, target)
            if nominal == 1:
                rows[1] = rows[2] = rows[0]
        interaction = "SeparateChannels" if nominal == 3 else "Grayscale"
        return ScreenTransferFunction(STF=rows, interaction=interaction)

    def _outputs(self, stf: ScreenTransferFunction, nominal: int) -> dict[str, Any]:
        return {
            name: {"c0": stf.row(c)[0], "m": stf.row(c)[2], "c1": stf.row(c)[1]}
            for c, name in enumerate(channel_names(nominal))
        }

    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        stf = self.compute_stf(image)
        outputs = self._outputs(stf, nominal_channels(image.channels))
        if self.display:
            return ProcessOutput(outputs=outputs)
        context.report(0.5, "applying the stretch")
        return ProcessOutput(image=stf.to_histogram_transformation().apply(image, context), outputs=outputs)

    def execute_on(
        self, view: View, *, mask: MaskRef | None = None, progress: ProgressCallback | None = None
    ) -> ProcessResult:
        """Stretch the view's pixels, or with ``display`` set only its display function."""
        if not self.display:
            return super().execute_on(view, mask=mask, progress=progress)
        self.require_executable_on(view)
        stf = self.compute_stf(view.image)
        view.display_function = stf
        outputs = self._outputs(stf, nominal_channels(view.image.channels))
        return ProcessResult(process_id=self.process_id, target=view.id, outputs=outputs)


def _linked_row(medians: list[float], sigmas: list[float], clipping: float, target: float) -> tuple[float, ...]:
    n = len(medians)
    mean_median = sum(medians) / n
    inverted = sum(1 for med in medians if med > 0.5)
    if inverted < n:
        c0 = sum(med + clipping * s for med, s in zip(medians, sigmas) if 1 + s != 1) / n
        c0 = min(max(c0, 0.0), 1.0)
        m = float(mtf(target, mean_median - c0))
        return (c0, 1.0, m, 0.0, 1.0)
    c1 = sum((med - clipping * s) if 1 + s != 1 else 1.0 for med, s in zip(medians, sigmas)) / n
    c1 = min(max(c1, 0.0), 1.0)
    m = float(mtf(c1 - mean_median, target))
    return (0.0, c1, m, 0.0, 1.0)


def _channel_row(med: float, sigma: float, clipping: float, target: float) -> tuple[float, ...]:
    if med < 0.5:
        c0 = min(max(med + clipping * sigma, 0.0), 1.0) if 1 + sigma != 1 else 0.0
        return (c0, 1.0, float(mtf(target, med - c0)), 0.0, 1.0)
    c1 = min(max(med - clipping * sigma, 0.0), 1.0) if 1 + sigma != 1 else 1.0
    return (0.0, c1, float(mtf(c1 - med, target)), 0.0, 1.0)
