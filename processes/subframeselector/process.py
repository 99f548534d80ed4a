"""SubframeSelector: measure subframes, approve and weight them by expressions, output the approved ones.

PixInsight's process (PCL ``contrib/cleger/SubframeSelector``, version 2), with its
parameter ids.  It runs globally over the ``subframes`` table:

``routine = MeasureSubframes``
    Measures every enabled subframe (:mod:`processes.kernels.subframe`; frames go
    through :func:`processes.common.filelists.run_file_list`, so through any executor),
    evaluates ``weightingExpression`` (blank: weight 0) and then ``approvalExpression``
    (blank: all approved) for every frame, with the variables PixInsight declares
    (:mod:`processes.subframeselector.properties`), and returns the read-only
    ``measurements`` table (rows sorted by index; ``measurementEnabled`` = approved).
``routine = OutputSubframes``
    Writes a copy of every approved frame to ``outputDirectory/outputPrefix + name +
    outputPostfix + outputExtension`` with the weight in the keyword ``outputKeyword``
    (FITS keyword, also in XISF files; ``%.6f`` as PixInsight), replacing an existing card
    of that name, plus HISTORY lines.  It uses the instance's ``measurements`` when set
    (the table MeasureSubframes returned, as PixInsight's Output uses the measurements of
    its interface), re-evaluating the expressions for the rows that are not locked; with an
    empty table it measures first.  Existing files are never replaced unless
    ``overwriteExistingFiles``; writes are atomic.
``routine = StarDetectionPreview``
    Measures the first enabled subframe and opens nothing; its outputs are the frame's
    star measurements (procfw has no structure map to show).

Expressions are a JavaScript subset parsed with Lark (:mod:`processes.subframeselector.expressions`),
never run by ``eval``.  Accepted for icon compatibility without effect: ``nonInteractive``,
``fileCache`` (nothing is cached between runs), ``siteLocalMidnight``, ``sortProperty``,
``graphProperty``, ``auxGraphProperty`` (the GUI's), the star detector's structure/noise
layers, hot pixel and noise reduction radii, ``minStructureSize``, ``peakResponse``,
``brightThreshold``, ``maxDistortion``, ``allowClusteredSources``, ``psfFit`` and
``psfFitCircular`` (stars are fitted with elliptical Gaussians), ``noNoiseAndSignalWarnings``,
the hints and the file-thread parameters; ``localNormalizationDataPath`` and ``drizzlePath``
are kept but not copied.  ``sensitivity`` sets the detection threshold, ``upperLimit`` the
saturation limit and ``maxPSFFits`` the number of stars fitted.
"""

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from processes.common.filelists import (
    FileListTable,
    check_output_paths,
    output_file_path,
    run_file_list,
    summarize,
    write_frame,
)
from processes.kernels.subframe import MeasureSettings, as_row_values, measure_subframe
from processes.subframeselector import properties as props
from processes.subframeselector.expressions import Expression, ExpressionError, compile_expression
from procfw.errors import ExecutionError, ParameterError
from procfw.image import FITSKeyword, Image
from procfw.io import read_image
from procfw.params import Boolean, Double, Enumeration, Float, Int32, String, Table, UInt32, param
from procfw.process import ExecutionContext, Process, ProcessOutput

__all__ = ["SubframeSelector"]

_INT32_MAX = 2**31 - 1
_UINT32_MAX = 2**32 - 1
_ON_ERROR = {"Continue": "Continue", "Abort": "Abort", "AskUser": "Abort"}
_SORT = ("Index", "Weight", "FWHM", "Eccentricity", "SNR", "Median", "MedianMeanDev", "Noise", "NoiseRatio", "Stars",
         "StarResidual", "FWHMMeanDev", "EccentricityMeanDev", "StarResidualMeanDev", "PSFSignalWeight", "PSFSNR",
         "PSFScale", "PSFScaleSNR", "Azimuth", "Altitude", "PSFFlux", "PSFFluxPower", "PSFTotalMeanFlux",
         "PSFTotalMeanPowerFlux", "PSFCount", "MStar", "NStar")
_GRAPH = _SORT[1:]
_ROW_PROPERTY = {
    "measurementWeight": "Weight", "measurementFWHM": "FWHM", "measurementEccentricity": "Eccentricity",
    "measurementPSFSignalWeight": "PSFSignalWeight", "measurementSNRWeight": "SNRWeight",
    "measurementMedian": "Median", "measurementMedianMeanDev": "MedianMeanDev", "measurementNoise": "Noise",
    "measurementNoiseRatio": "NoiseRatio", "measurementStars": "Stars", "measurementStarResidual": "StarResidual",
    "measurementFWHMMeanDev": "FWHMMeanDev", "measurementEccentricityMeanDev": "EccentricityMeanDev",
    "measurementStarResidualMeanDev": "StarResidualMeanDev", "measurementAzimuth": "Azimuth",
    "measurementAltitude": "Altitude", "measurementPSFFlux": "PSFFlux", "measurementPSFFluxPower": "PSFFluxPower",
    "measurementPSFTotalMeanFlux": "PSFTotalMeanFlux", "measurementPSFTotalMeanPowerFlux": "PSFTotalMeanPowerFlux",
    "measurementPSFCount": "PSFCount", "measurementMStar": "MStar", "measurementNStar": "NStar",
    "measurementPSFSNR": "PSFSNR", "measurementPSFScale": "PSFScale", "measurementPSFScaleSNR": "PSFScaleSNR",
}


class SubframeTable(FileListTable):
    """The ``subframes`` table: a file list whose rows may omit the trailing columns.

    PixInsight fills missing trailing cells with their defaults, and scripts rely on it
    (``P.subframes = [[true, path]]`` for a four-column table); so does procfw.
    """

    def convert(self, value: Any) -> tuple[tuple[Any, ...], ...]:
        if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
            value = [self._padded(row) for row in value]
        return super().convert(value)

    def _padded(self, row: Any) -> Any:
        if isinstance(row, Sequence) and not isinstance(row, (str, bytes)) and 0 < len(row) < len(self.columns):
            return [*row, *(c.default_value for c in self.columns[len(row):])]
        return row


def _sci(id_: str, description: str) -> Double:
    return Double(id=id_, precision=4, scientific=True, read_only=True, description=description)


def _measurements_table() -> Table:
    columns = (
        UInt32(id="measurementIndex", minimum=0, maximum=_UINT32_MAX, default=0, read_only=True,
               description="Row of the subframe in the subframes table (from 0)."),
        Boolean(id="measurementEnabled", default=True, read_only=True, description="Approved."),
        Boolean(id="measurementLocked", default=False, read_only=True,
                description="Locked: the approval expression leaves the row's approval as it is."),
        String(id="measurementPath", read_only=True, description="Path of the subframe."),
        Double(id="measurementWeight", precision=4, read_only=True,
               description="Value of the weighting expression."),
        Double(id="measurementFWHM", precision=4, minimum=0.0, read_only=True,
               description="Robust mean FWHM of the stars in pixels."),
        Double(id="measurementEccentricity", precision=4, minimum=0.0, maximum=1.0, default=0.5, read_only=True,
               description="Robust mean eccentricity of the stars."),
        _sci("measurementPSFSignalWeight", "PSF signal weight."),
        Double(id="measurementUnused01", precision=0, read_only=True, description="Unused (kept by PCL)."),
        _sci("measurementSNRWeight", "SNR weight ((σ_low+σ_high)/noise)²."),
        Double(id="measurementMedian", precision=12, read_only=True,
               description="Median less the pedestal."),
        Double(id="measurementMedianMeanDev", precision=12, minimum=0.0, read_only=True,
               description="Trimmed mean absolute deviation from the median."),
        Double(id="measurementNoise", precision=12, minimum=0.0, read_only=True,
               description="Noise σ (keywords or MRS)."),
        Double(id="measurementNoiseRatio", precision=8, minimum=0.0, maximum=1.0, read_only=True,
               description="Fraction of pixels of the noise estimate."),
        UInt32(id="measurementStars", minimum=0, maximum=_UINT32_MAX, read_only=True,
               description="Number of measured stars."),
        Double(id="measurementStarResidual", precision=4, minimum=0.0, read_only=True,
               description="Robust mean of the stars' PSF fit residuals (mean |data - model|)."),
        Double(id="measurementFWHMMeanDev", precision=6, minimum=0.0, read_only=True,
               description="Mean absolute deviation of the FWHMs."),
        Double(id="measurementEccentricityMeanDev", precision=4, minimum=0.0, read_only=True,
               description="Mean absolute deviation of the eccentricities."),
        Double(id="measurementStarResidualMeanDev", precision=4, minimum=0.0, read_only=True,
               description="Mean absolute deviation of the stars' fit residuals."),
        Double(id="measurementAzimuth", precision=4, minimum=0.0, maximum=360.0, read_only=True,
               description="Azimuth (OBJCTAZ/CENTAZ keyword) in degrees."),
        Double(id="measurementAltitude", precision=4, minimum=0.0, maximum=90.0, read_only=True,
               description="Altitude (OBJCTALT/CENTALT keyword) in degrees."),
        _sci("measurementPSFFlux", "Sum of the PSF fluxes."),
        _sci("measurementPSFFluxPower", "Sum of the squared PSF fluxes."),
        _sci("measurementPSFTotalMeanFlux", "Sum of the mean PSF fluxes."),
        _sci("measurementPSFTotalMeanPowerFlux", "Sum of the squared mean PSF fluxes."),
        UInt32(id="measurementPSFCount", minimum=0, maximum=_UINT32_MAX, read_only=True,
               description="Number of PSF fluxes."),
        _sci("measurementMStar", "M* robust mean background residual."),
        _sci("measurementNStar", "N* robust noise of the background residual."),
        _sci("measurementPSFSNR", "PSF SNR."),
        _sci("measurementPSFScale", "PSF scale (needs local normalization: 0)."),
        _sci("measurementPSFScaleSNR", "PSF scale SNR (needs local normalization: 0)."),
    )
    return Table(columns=columns, read_only=True,
                 description="Measurements of the last MeasureSubframes run (read-only output), one row per subframe.")


def _row_for(index: int, path: str, values: Mapping[str, float], *, enabled: bool, locked: bool) -> tuple:
    cells: dict[str, Any] = {"measurementIndex": index, "measurementEnabled": enabled, "measurementLocked": locked,
                             "measurementPath": path, "measurementUnused01": 0.0}
    for column, name in _ROW_PROPERTY.items():
        value = float(values.get(name, 0.0))
        if not math.isfinite(value):
            value = 0.0
        if column in ("measurementStars", "measurementPSFCount"):
            cells[column] = max(0, int(round(value)))
        elif column in ("measurementEccentricity", "measurementNoiseRatio"):
            cells[column] = min(max(value, 0.0), 1.0)
        elif column not in ("measurementWeight", "measurementMedian"):
            cells[column] = max(value, 0.0)
        else:
            cells[column] = value
    return tuple(cells[c] for c in props.TABLE_COLUMNS)


def _values_of(row: Sequence[Any]) -> dict[str, float]:
    cells = dict(zip(props.TABLE_COLUMNS, row))
    return {name: float(cells[column]) for column, name in _ROW_PROPERTY.items()}


class SubframeSelector(Process):
    """Measure subframes (FWHM, eccentricity, noise, SNR, PSF signal), approve and weight them, output approved ones."""

    process_id = "SubframeSelector"
    categories = ("ImageInspection", "Preprocessing")
    process_version = 2
    is_history_updater = False
    is_maskable = False
    key_outputs = ("approved", "rejected", "succeeded", "failed", "skipped")

    routine: str = param(Enumeration(elements=("MeasureSubframes", "OutputSubframes", "StarDetectionPreview"),
                                     default="MeasureSubframes", description="MeasureSubframes: measure, approve "
                                     "and weight; OutputSubframes: write approved frames with their weight; "
                                     "StarDetectionPreview: measure the first subframe."))
    nonInteractive: bool = param(Boolean(default=False, description="Non-interactive (no effect: procfw never asks)."))
    subframes: tuple = param(SubframeTable(
        columns=(
            Boolean(id="subframeEnabled", default=True, description="Whether this subframe is measured."),
            String(id="subframePath", description="Path of the subframe file."),
            String(id="localNormalizationDataPath", description="Local normalization data file (kept; not used)."),
            String(id="drizzlePath", description="Drizzle data file (kept; not used)."),
        ),
        path_column="subframePath",
        description="Subframes: rows (enabled, path, local normalization file, drizzle file). On the console also "
                    "a glob such as \"lights/*.fits\"."))
    fileCache: bool = param(Boolean(default=True, description="Use the measurement cache (no effect: procfw keeps "
                                    "no cache between runs)."))
    subframeScale: float = param(Float(minimum=0.01, maximum=100.0, default=1.0, precision=4,
                                       description="Subframe scale in arcseconds per pixel (with scaleUnit = "
                                       "ArcSeconds, FWHM variables are in arcseconds)."))
    cameraGain: float = param(Float(minimum=0.01, maximum=100.0, default=1.0, precision=4,
                                    description="Camera gain in electrons per DN (dataUnit = Electron)."))
    cameraResolution: str = param(Enumeration(elements=("Bits8", "Bits10", "Bits12", "Bits14", "Bits16"),
                                              default="Bits16", description="Camera resolution (DN range of "
                                              "dataUnit = DataNumber and Electron)."))
    siteLocalMidnight: int = param(Int32(minimum=0, maximum=24, default=24, description="UTC hour of local "
                                         "midnight (for PixInsight's graphs; no effect)."))
    scaleUnit: str = param(Enumeration(elements=("ArcSeconds", "Pixel"), default="ArcSeconds",
                                       description="Unit of FWHM in the expressions."))
    dataUnit: str = param(Enumeration(elements=("Electron", "DataNumber", "Normalized"), default="Normalized",
                                      description="Unit of Median, MedianMeanDev and Noise in the expressions."))
    trimmingFactor: float = param(Float(minimum=0.0, maximum=0.5, default=0.1, precision=2,
                                        description="Fraction trimmed from each side for MedianMeanDev."))
    structureLayers: int = param(Int32(minimum=1, maximum=20, default=5, description="Star detector: wavelet "
                                       "layers (no effect)."))
    noiseLayers: int = param(Int32(minimum=0, maximum=20, default=0, description="Star detector: noise layers "
                                   "(no effect)."))
    hotPixelFilterRadius: int = param(Int32(minimum=0, maximum=20, default=1, description="Star detector: hot pixel "
                                            "filter radius (no effect; narrow fits are rejected)."))
    noiseReductionFilterRadius: int = param(Int32(minimum=0, maximum=20, default=0, description="Star detector: "
                                                  "noise reduction radius (no effect)."))
    minStructureSize: int = param(Int32(minimum=0, maximum=999999, default=0, description="Star detector: minimum "
                                        "structure size (no effect)."))
    sensitivity: float = param(Float(minimum=0.0, maximum=1.0, default=0.5, precision=2,
                                     description="Star detection sensitivity: 0.5 detects at 5σ, 1 at 2σ, 0 at 20σ."))
    peakResponse: float = param(Float(minimum=0.0, maximum=1.0, default=0.5, precision=2,
                                      description="Star detector: peak response (no effect)."))
    brightThreshold: float = param(Float(minimum=1.0, maximum=100.0, default=3.0, precision=2,
                                         description="Star detector: bright threshold (no effect)."))
    maxDistortion: float = param(Float(minimum=0.0, maximum=1.0, default=0.6, precision=2,
                                       description="Star detector: maximum distortion (no effect)."))
    allowClusteredSources: bool = param(Boolean(default=False, description="Star detector: clustered sources (no "
                                                "effect: blends are always skipped)."))
    upperLimit: float = param(Float(minimum=0.0, maximum=1.0, default=1.0, precision=4,
                                    description="Stars whose peak reaches this value are not measured (1: 0.98)."))
    psfFit: str = param(Enumeration(elements=("Gaussian", "Moffat10", "Moffat8", "Moffat6", "Moffat4", "Moffat25",
                                              "Moffat15", "Lorentzian"), default="Moffat4",
                                    description="PSF model (no effect: elliptical Gaussian fits)."))
    psfFitCircular: bool = param(Boolean(default=False, description="Circular PSF fits (no effect)."))
    maxPSFFits: int = param(Int32(minimum=0, maximum=_INT32_MAX, default=8000, description="At most this many "
                                  "stars are fitted, brightest first (0: all)."))
    roiX0: int = param(Int32(minimum=0, maximum=_INT32_MAX, default=0, description="ROI left edge (pixels)."))
    roiY0: int = param(Int32(minimum=0, maximum=_INT32_MAX, default=0, description="ROI top edge (pixels)."))
    roiX1: int = param(Int32(minimum=0, maximum=_INT32_MAX, default=0, description="ROI right edge, exclusive "
                             "(roiX1 <= roiX0: no ROI)."))
    roiY1: int = param(Int32(minimum=0, maximum=_INT32_MAX, default=0, description="ROI bottom edge, exclusive."))
    noNoiseAndSignalWarnings: bool = param(Boolean(default=False, description="Silence the warnings about "
                                                   "estimates computed from the data (no effect)."))
    pedestalMode: str = param(Enumeration(elements=("Pedestal_Literal", "Pedestal_Keyword", "Pedestal_CustomKeyword"),
                                          default="Pedestal_Keyword", description="Where the pedestal (16-bit DN) "
                                          "subtracted from Median comes from."))
    pedestal: int = param(Int32(minimum=0, maximum=1000, default=0, description="Literal pedestal in DN."))
    pedestalKeyword: str = param(String(default="", description="Custom pedestal keyword."))
    inputHints: str = param(String(default="", description="Input format hints (no effect)."))
    outputHints: str = param(String(default="", description="Output format hints (no effect)."))
    outputDirectory: str = param(String(default="", description="Directory of the output files (empty: each "
                                        "subframe's own)."))
    outputExtension: str = param(String(default=".xisf", description="Output file extension, which selects the "
                                        "format (.xisf, .fits, .fit)."))
    outputPrefix: str = param(String(default="", description="Prefix of the output file names."))
    outputPostfix: str = param(String(default="_a", description="Postfix of the output file names."))
    outputKeyword: str = param(String(default="SSWEIGHT", description="FITS keyword that receives the weight."))
    overwriteExistingFiles: bool = param(Boolean(default=False, description="Replace existing output files."))
    onError: str = param(Enumeration(elements=("Continue", "Abort", "AskUser"), default="Continue",
                                     description="What to do when a file fails (AskUser stops like Abort)."))
    approvalExpression: str = param(String(default="", description="Approval expression, e.g. \"FWHM < 4.5 && "
                                           "Eccentricity < 0.6\" (blank: approve all)."))
    weightingExpression: str = param(String(default="", description="Weighting expression, e.g. \"15*(1-(FWHM-"
                                            "FWHMMin)/(FWHMMax-FWHMMin)) + 20*(SNRWeight-SNRWeightMin)/"
                                            "(SNRWeightMax-SNRWeightMin)\" (blank: weight 0)."))
    sortProperty: str = param(Enumeration(elements=_SORT, default="Index", element_aliases={"SNRWeight": "SNR"},
                                          description="Sort order of PixInsight's table (no effect)."))
    graphProperty: str = param(Enumeration(elements=_GRAPH, default="PSFSignalWeight",
                                           element_aliases={"SNRWeight": "SNR"},
                                           description="PixInsight's graph (no effect)."))
    auxGraphProperty: str = param(Enumeration(elements=_GRAPH, default="PSFSignalWeight",
                                              element_aliases={"SNRWeight": "SNR"},
                                              description="PixInsight's second graph (no effect)."))
    useFileThreads: bool = param(Boolean(default=True, description="Parallel file threads (no effect)."))
    fileThreadOverload: float = param(Float(minimum=1.0, maximum=10.0, default=1.0, precision=2,
                                            description="File thread overload (no effect)."))
    maxFileReadThreads: int = param(Int32(minimum=0, maximum=1024, default=0, description="Maximum file reading "
                                          "threads (no effect)."))
    maxFileWriteThreads: int = param(Int32(minimum=0, maximum=1024, default=0, description="Maximum file writing "
                                           "threads (no effect)."))
    measurements: tuple = param(_measurements_table())

    # -- checks ---------------------------------------------------------------------------------
    def validate(self) -> None:
        for name in ("approvalExpression", "weightingExpression"):
            try:
                compile_expression(getattr(self, name), name).check_names(props.variable_names())
            except ExpressionError as exc:
                raise ParameterError(str(exc), parameter=name) from None

    def can_execute_on(self, view: Any) -> tuple[bool, str]:
        return False, "SubframeSelector can only be executed in the global context"

    def can_execute_global(self) -> tuple[bool, str]:
        if self.routine == "OutputSubframes":
            if not self.outputKeyword.strip():
                return False, "the output keyword (outputKeyword) is blank"
            if self.measurements:
                return True, ""
        if not any(bool(r[0]) for r in self.subframes):
            return False, "no subframes have been specified (subframes has no enabled row)"
        return True, ""

    # -- running ----------------------------------------------------------------------------------
    def run_global(self, context: ExecutionContext) -> ProcessOutput:
        self.require_executable_global()
        if self.routine == "OutputSubframes":
            return self._output(context)
        if self.routine == "StarDetectionPreview":
            first = next(i for i, r in enumerate(self.subframes) if bool(r[0]))
            values = self._measure_one(Path(str(self.subframes[first][1])))
            return ProcessOutput(outputs={"subframe": str(self.subframes[first][1]), **values})
        rows, outputs, messages = self._measure(context)
        return ProcessOutput(outputs={**outputs, "measurements": rows}, messages=messages)

    def settings(self) -> MeasureSettings:
        """The measurement settings of this instance."""
        return MeasureSettings(trimming_factor=self.trimmingFactor, pedestal_mode=self.pedestalMode,
                               pedestal=self.pedestal, pedestal_keyword=self.pedestalKeyword,
                               roi=(self.roiX0, self.roiY0, self.roiX1, self.roiY1), upper_limit=self.upperLimit,
                               max_psf_fits=self.maxPSFFits, sensitivity=self.sensitivity)

    def _measure_one(self, path: Path) -> dict[str, float]:
        return as_row_values(measure_subframe(read_image(path), self.settings()))

    def process_file(self, index: int, path: Path, options: Mapping[str, Any]) -> tuple[Path | str, dict[str, Any]]:
        """One frame, on any worker: measure it (``options["step"] == "measure"``) or write its output copy."""
        if options.get("step") == "output":
            written = self._write_output(index, path, float(options["weights"][str(index)]))
            return written, {"weight": float(options["weights"][str(index)])}
        return str(path), self._measure_one(path)

    def _units(self) -> props.Units:
        return props.Units(scale_unit=self.scaleUnit, subframe_scale=self.subframeScale, data_unit=self.dataUnit,
                           camera_gain=self.cameraGain, camera_resolution=self.cameraResolution)

    def _measure(self, context: ExecutionContext) -> tuple[tuple, dict[str, Any], tuple[str, ...]]:
        """Measure every enabled subframe; the measurements table (approved, weighted), outputs and messages."""
        rows = [(bool(r[0]), str(r[1])) for r in self.subframes]
        outcomes = run_file_list(rows, process_id=self.process_id, on_error=_ON_ERROR[self.onError],
                                 context=context, instance=self, options={"step": "measure"})
        summary, messages = summarize(self.process_id, outcomes)
        measured = [(o.index, o.path, dict(o.data)) for o in outcomes if o.ok]
        table = self.evaluate(measured)
        return table, {**summary, **self._counts(table)}, messages

    def evaluate(self, measured: Sequence[tuple[int, str, Mapping[str, float]]],
                 locked: Mapping[int, bool] | None = None, approved: Mapping[int, bool] | None = None) -> tuple:
        """The measurements table of ``(index, path, values)``: weights, then approvals, by the expressions.

        Rows whose index is in ``locked`` keep the approval given there (True: approved), as
        PixInsight's locked rows; their weight is still evaluated.  With ``approved`` (the
        approvals of a table being re-evaluated), a blank expression keeps what the table
        holds (the ``Weight`` of ``values``, the approval in ``approved``) instead of
        PixInsight's blank results (weight 0, all approved).
        """
        units = self._units()
        frames = [dict(values) for _, _, values in measured]
        weighting = compile_expression(self.weightingExpression, "weightingExpression")
        approval = compile_expression(self.approvalExpression, "approvalExpression")
        names = props.variable_names()
        weighting.check_names(names)
        approval.check_names(names)
        stats = props.aggregates(frames, units)
        for (index, _, _), frame in zip(measured, frames):
            if weighting.empty:
                frame["Weight"] = float(frame.get("Weight", 0.0)) if approved is not None else 0.0
            else:
                frame["Weight"] = _number(weighting.evaluate(props.expression_variables(frame, index, stats, units)),
                                          weighting)
        stats = props.aggregates(frames, units)  # Weight's aggregates for the approval expression
        table = []
        for (index, path, _), frame in sorted(zip(measured, frames), key=lambda item: item[0][0]):
            is_locked = locked is not None and index in locked
            if is_locked:
                enabled = bool(locked[index])  # type: ignore[index]
            elif approval.empty:
                enabled = bool(approved.get(index, True)) if approved is not None else True
            else:
                enabled = _truthy(approval.evaluate(props.expression_variables(frame, index, stats, units)))
            table.append(_row_for(index, path, frame, enabled=enabled, locked=is_locked))
        return tuple(table)

    @staticmethod
    def _counts(table: Sequence[Sequence[Any]]) -> dict[str, Any]:
        approved = [row for row in table if row[1]]
        return {"approved": len(approved), "rejected": len(table) - len(approved),
                "weights": {str(row[3]): float(row[4]) for row in table}}

    # -- output -------------------------------------------------------------------------------------
    def _output(self, context: ExecutionContext) -> ProcessOutput:
        messages: tuple[str, ...] = ()
        if self.measurements:
            locked = {int(row[0]): bool(row[1]) for row in self.measurements if row[2]}
            measured = [(int(row[0]), str(row[3]), _values_of(row)) for row in self.measurements]
            stored = {int(row[0]): bool(row[1]) for row in self.measurements}
            table = self.evaluate(measured, locked, stored)
        else:
            table, _, messages = self._measure(context)
        if not table:
            raise ExecutionError("SubframeSelector: no measurements have been made")
        paths = {int(row[0]): str(row[3]) for row in table}
        approved = {int(row[0]) for row in table if row[1]}
        weights = {str(int(row[0])): float(row[4]) for row in table}
        order = sorted(paths)
        rows = [(i in approved, paths[i]) for i in order]
        check_output_paths(self.process_id, [(paths[i], self._output_path(paths[i])) for i in order if i in approved],
                           self.outputDirectory)
        if not approved:
            raise ExecutionError("SubframeSelector: no subframe is approved: nothing to output")
        instance = self.evolve(measurements=table) if table != self.measurements else self
        outcomes = run_file_list(rows, process_id=self.process_id, on_error=_ON_ERROR[self.onError],
                                 context=context, instance=instance,
                                 options={"step": "output", "weights": {str(k): weights[str(i)]
                                                                        for k, i in enumerate(order)}})
        summary, more = summarize(self.process_id, outcomes)
        return ProcessOutput(outputs={**summary, **self._counts(table), "measurements": table},
                             messages=messages + more)

    def _output_path(self, source: str) -> Path:
        return output_file_path(source, directory=self.outputDirectory, prefix=self.outputPrefix,
                                postfix=self.outputPostfix, extension=self.outputExtension)

    def _write_output(self, index: int, path: Path, weight: float) -> Path:
        """Copy ``path`` with the weight keyword, atomically; never over an existing file unless asked."""
        image = read_image(path)
        name = self.outputKeyword.strip().upper()
        cards = [k for k in image.keywords if k.name.upper() != name]
        cards += [FITSKeyword("HISTORY", "Measured with SubframeSelector process (procfw)", ""),
                  FITSKeyword(name, float(f"{weight:.6f}"), "SubframeSelector.weight")]
        out = Image(image.pixels, cards, dict(image.properties))
        return write_frame(out, self._output_path(str(path)), sample_format=_sample_format(image),
                           overwrite=self.overwriteExistingFiles)


def _sample_format(image: Image) -> str:
    """The sample format to write a copy of ``image`` in (its file's, as far as it is known)."""
    bitpix = image.properties.get("FITS:BITPIX")
    return {8: "i16", 16: "i16", 32: "i32", -64: "f64"}.get(bitpix, "f32") if isinstance(bitpix, int) else "f32"


def _truthy(value: float | bool) -> bool:
    return bool(value) and not (isinstance(value, float) and math.isnan(value))


def _number(value: float | bool, expression: Expression) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ExecutionError(f"SubframeSelector: {expression.parameter} {expression.text!r} gives {number} "
                             "(not a finite number)")
    return number
