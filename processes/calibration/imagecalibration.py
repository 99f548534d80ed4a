"""ImageCalibration: bias, dark and flat calibration of image files (PixInsight ImageCalibration).

Global execution calibrates every enabled file of ``targetFrames`` and writes
``outputDirectory/outputPrefix + name + outputPostfix + outputExtension``::

    calibrated = (target − bias − k·dark) / (flat / mean(flat))   [+ output pedestal], truncated to [0, 1]

with the dark scaling factor k found per frame and channel when ``optimizeDarks`` is on
(the k minimizing the noise of the result; see :mod:`processes.calibration.darkopt`), and
the flat divided by its trimmed mean per channel, or per CFA colour for raw CFA flats.
See :mod:`processes.calibration.engine` for the exact order of operations.

Parameter ids, enumerations, defaults, ranges and precisions are PixInsight's
(ImageCalibration 1.9.x).  Differences:

* dark optimization minimizes a robust noise measure (mean absolute deviation of the
  high-passed residual over the dark-significant pixels) instead of the plain standard
  deviation, so stars on hot pixels and sky gradients do not bias k;
* an existing output file is never overwritten unless ``overwriteExistingFiles`` is set:
  the frame fails with "file exists" (PixInsight writes to ``name_1.ext`` instead);
* ``onError = AskUser`` stops like ``Abort`` (there is nobody to ask);
* PSF signal evaluation (``evaluateSignal`` and the PSF parameters) is accepted for icon
  compatibility but not performed; ``NoiseEvaluation_NStar`` evaluates noise with MRS;
* automatic cosmetic correction (``cosmeticCorrectionLow``/``High``, PixInsight 1.9's map
  of hot and cold pixels of the master dark, see :mod:`processes.calibration.autocosmetic`)
  replaces every defective pixel by the median of the calibrated neighbours; PixInsight
  corrects them one after the other, in place;
* ``inputHints``, ``outputHints`` and the file-thread parameters are kept but have no effect;
* the process also runs on a view when a master frame is set (PixInsight cannot).

Per-frame results (``outputs["outputData"]``, one row per target): ``status`` (ok, failed,
skipped), ``outputFilePath``, ``darkScalingFactors``, ``noiseEstimates``, ``noiseFractions``,
``noiseAlgorithms`` (one value per channel) and ``outputPedestal``, or ``error`` for a
failed frame.  The calibrated files carry PixInsight's NOISExx/NOISEFxx/NOISELxx/NOISEHxx/
NOISEAxx keywords and HISTORY lines.  PixInsight's read-only parameters (its ``outputData``
table, whose columns are ``outputFilePath``, ``darkScalingFactorRK`` ..., and
``cosmeticCorrectionMapId``) are declared as PixInsight 1.9 declares them, so icons
carrying them load and write back unchanged; :meth:`ImageCalibration.icon_outputs` gives
their values after an execution.
"""

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from processes.calibration.engine import Masters, Settings, calibrate_image, load_masters
from processes.calibration.frames import Overscan
from processes.common import outputs as ro
from processes.common.filelists import (
    FRAME_WORKER_PRELOAD,
    as_written,
    check_output_paths,
    file_key,
    file_list_table,
    output_file_path,
    run_file_list,
    summarize,
    worker_state,
    write_frame,
)
from processes.kernels import signal_params as signal
from procfw.image import Image
from procfw.io import read_image
from procfw.params import Boolean, Enumeration, Float, Int32, ParameterKind, String, Table, UInt64, param
from procfw.process import ExecutionContext, Process, ProcessOutput
from procfw.workspace import View

__all__ = ["ImageCalibration"]

_CC_MAP = "IC_CC_map"
_CFA_PATTERNS = ("Auto", "RGGB", "BGGR", "GBRG", "GRBG", "GRGB", "GBGR", "RGBG", "BGRG")


def _output_columns() -> tuple[ParameterKind, ...]:
    """The columns of PixInsight's read-only ``outputData`` (ImageCalibrationParameters.cpp)."""
    return (
        String(id="outputFilePath", read_only=True, description="Calibrated file written."),
        *(Float(id=f"darkScalingFactor{c}", read_only=True, precision=3, description=f"Dark scaling factor, {c}.")
          for c in ro.CHANNELS_RK),
        *ro.signal_noise_columns(ro.CHANNELS_RK),
        *(UInt64(id=f"cosmeticCorrection{side}Count{c}", read_only=True,
                 description=f"Pixels replaced by {side.lower()} cosmetic correction, {c}.")
          for side in ("Low", "High") for c in ro.CHANNELS_RK),
    )


_OUTPUT_COLUMNS = _output_columns()


def _overscan_table() -> Table:
    int_col = [
        Int32(id=name, minimum=0, default=0, description=f"Overscan rectangle coordinate {name}.")
        for name in ("sourceX0", "sourceY0", "sourceX1", "sourceY1", "targetX0", "targetY0", "targetX1", "targetY1")
    ]
    return Table(
        columns=(Boolean(id="enabled", default=False, description="Whether this overscan region is used."), *int_col),
        default=tuple((False, 0, 0, 0, 0, 0, 0, 0, 0) for _ in range(4)),
        max_rows=4,
        description="Up to four overscan regions: the median of each source rectangle is subtracted from its "
        "target rectangle (regions sharing a target are averaged).",
    )


class ImageCalibration(Process):
    """Calibrate light frames with master bias, dark and flat frames (optimized dark scaling)."""

    process_id = "ImageCalibration"
    worker_preload = FRAME_WORKER_PRELOAD
    categories = ("ImageCalibration", "Preprocessing")
    is_history_updater = True
    is_maskable = False

    targetFrames: tuple = param(file_list_table(
        "Target frames to calibrate: rows (enabled, path). On the console also a glob such as \"lights/*.fits\"."
    ))
    enableCFA: bool = param(Boolean(default=True, description="Detect and use the CFA pattern of raw frames "
                                    "(2×2 binned dark optimization and noise evaluation, per-colour flat scaling)."))
    cfaPattern: str = param(Enumeration(elements=_CFA_PATTERNS, default="Auto", description="CFA pattern of the "
                                        "frames; Auto reads the BAYERPAT/XBAYROFF/YBAYROFF keywords."))
    inputHints: str = param(String(default="fits-keywords normalize raw cfa signed-is-physical",
                                   description="Input format hints (kept for compatibility; no effect)."))
    outputHints: str = param(String(default="properties fits-keywords no-compress-data no-embedded-data "
                                    "no-resolution", description="Output format hints (kept; no effect)."))
    pedestal: int = param(Int32(minimum=0, maximum=1000, default=0,
                                description="Input pedestal in DN subtracted from every frame (pedestalMode Literal)."))
    pedestalMode: str = param(Enumeration(elements=("Literal", "Keyword", "CustomKeyword"), default="Keyword",
                                          description="Where the input pedestal comes from: the pedestal parameter, "
                                          "the PEDESTAL keyword, or the keyword named by pedestalKeyword."))
    pedestalKeyword: str = param(String(description="Keyword holding the input pedestal (pedestalMode "
                                        "CustomKeyword)."))
    overscanEnabled: bool = param(Boolean(default=False, description="Apply overscan correction and crop to the "
                                          "overscan image rectangle."))
    overscanImageX0: int = param(Int32(minimum=0, default=0, description="Image rectangle after overscan: left."))
    overscanImageY0: int = param(Int32(minimum=0, default=0, description="Image rectangle after overscan: top."))
    overscanImageX1: int = param(Int32(minimum=0, default=0, description="Image rectangle after overscan: right "
                                       "(exclusive)."))
    overscanImageY1: int = param(Int32(minimum=0, default=0, description="Image rectangle after overscan: bottom "
                                       "(exclusive)."))
    overscanRegions: tuple = param(_overscan_table())
    masterBiasEnabled: bool = param(Boolean(default=True, description="Subtract the master bias frame."))
    masterBiasPath: str = param(String(description="Master bias frame file."))
    masterDarkEnabled: bool = param(Boolean(default=True, description="Subtract the (scaled) master dark frame."))
    masterDarkPath: str = param(String(description="Master dark frame file."))
    masterFlatEnabled: bool = param(Boolean(default=True, description="Divide by the normalized master flat frame."))
    masterFlatPath: str = param(String(description="Master flat frame file."))
    calibrateBias: bool = param(Boolean(default=False, description="Apply overscan correction to the master bias."))
    calibrateDark: bool = param(Boolean(default=False, description="Subtract the master bias from the master dark "
                                        "(and apply overscan) before use."))
    calibrateFlat: bool = param(Boolean(default=False, description="Subtract master bias and dark from the master "
                                        "flat (and apply overscan) before use."))
    optimizeDarks: bool = param(Boolean(default=True, description="Scale the master dark by the factor k that "
                                        "minimizes the noise of the calibrated frame."))
    darkOptimizationThreshold: float = param(Float(minimum=0.0, maximum=0.5, default=0.0, precision=5,
                                                   description="Deprecated absolute dark optimization threshold "
                                                   "(overrides darkOptimizationLow when > 0)."))
    darkOptimizationLow: float = param(Float(minimum=0.0, maximum=10.0, default=3.0, precision=4,
                                             description="Only dark pixels above median + this many sigma (MAD) take "
                                             "part in dark optimization."))
    darkOptimizationWindow: int = param(Int32(minimum=0, maximum=65536, default=0,
                                              description="Size in pixels of the central square used for dark "
                                              "optimization (0: the whole frame)."))
    darkCFADetectionMode: str = param(Enumeration(elements=("DetectCFA", "ForceCFA", "IgnoreCFA"),
                                                  default="DetectCFA", description="Deprecated: whether the master "
                                                  "dark is treated as CFA for optimization."))
    separateCFAFlatScalingFactors: bool = param(Boolean(default=True, description="Normalize a CFA master flat "
                                                        "separately for each colour."))
    flatScaleClippingFactor: float = param(Float(minimum=0.0, maximum=0.25, default=0.05, precision=2,
                                                 description="Fraction of the lowest and highest flat pixels excluded "
                                                 "from its scaling factor (trimmed mean)."))
    cosmeticCorrectionLow: bool = param(Boolean(default=False, description="Automatic cosmetic correction of cold "
                                                "pixels found in the master dark (needs a master dark)."))
    cosmeticLowSigma: int = param(Int32(minimum=1, maximum=100, default=5, description="Cold pixels: at least this "
                                        "many sigma below the median-filtered master dark."))
    cosmeticCorrectionHigh: bool = param(Boolean(default=False, description="Automatic cosmetic correction of hot "
                                                 "pixels found in the master dark (needs a master dark)."))
    cosmeticHighSigma: int = param(Int32(minimum=1, maximum=100, default=10, description="Hot pixels: at least this "
                                         "many sigma above the median-filtered master dark."))
    cosmeticKernelRadius: int = param(Int32(minimum=1, maximum=5, default=1, description="A defective pixel is "
                                            "replaced by the median of its neighbours within this radius (of its "
                                            "CFA colour with a CFA master dark)."))
    cosmeticShowMap: bool = param(Boolean(default=False, description="Open the map of defective pixels as the "
                                          "new image IC_CC_map (cosmeticCorrectionMapId)."))
    cosmeticShowMapAndStop: bool = param(Boolean(default=False, description="With cosmeticShowMap: stop after "
                                                 "building the map (no frame is calibrated)."))
    evaluateNoise: bool = param(Boolean(default=True, description="Estimate the noise of each calibrated frame "
                                        "(NOISExx keywords and outputs)."))
    noiseEvaluationAlgorithm: str = param(Enumeration(
        elements=("NoiseEvaluation_KSigma", "NoiseEvaluation_MRS", "NoiseEvaluation_NStar"),
        default="NoiseEvaluation_MRS", description="Noise estimator: k-sigma of the first wavelet layer, or "
        "multiresolution support (NStar is evaluated as MRS)."))
    evaluateSignal: bool = param(signal.EVALUATE_SIGNAL)
    structureLayers: int = param(signal.STRUCTURE_LAYERS)
    saturationThreshold: float = param(signal.SATURATION_THRESHOLD)
    saturationRelative: bool = param(signal.SATURATION_RELATIVE)
    noiseLayers: int = param(signal.NOISE_LAYERS)
    hotPixelFilterRadius: int = param(signal.HOT_PIXEL_FILTER_RADIUS)
    noiseReductionFilterRadius: int = param(signal.NOISE_REDUCTION_FILTER_RADIUS)
    minStructureSize: int = param(signal.MIN_STRUCTURE_SIZE)
    psfType: str = param(signal.PSF_TYPE)
    psfGrowth: float = param(signal.PSF_GROWTH)
    maxStars: int = param(signal.MAX_STARS)
    outputDirectory: str = param(String(description="Directory of the output files (empty: each target's own)."))
    outputExtension: str = param(String(default=".xisf", description="Output file extension, which selects the "
                                        "format (.xisf, .fits, .fit)."))
    outputPrefix: str = param(String(default="", description="Prefix of the output file names."))
    outputPostfix: str = param(String(default="_c", description="Postfix of the output file names."))
    outputSampleFormat: str = param(Enumeration(elements=("i16", "i32", "f32", "f64"), default="f32",
                                                description="Sample format of the output files."))
    outputPedestal: int = param(Int32(minimum=0, maximum=1000, default=0, description="Pedestal in DN added to the "
                                      "calibrated frames (outputPedestalMode Literal)."))
    outputPedestalMode: str = param(Enumeration(elements=("OutputPedestal_Literal", "OutputPedestal_Auto"),
                                                default="OutputPedestal_Literal", description="Literal: add "
                                                "outputPedestal; Auto: add the pedestal that keeps negative pixels "
                                                "below autoPedestalLimit."))
    autoPedestalLimit: float = param(Float(minimum=0.0, maximum=0.01, default=0.0001, precision=5,
                                           description="Largest fraction of pixels allowed to stay at or below zero "
                                           "with an automatic output pedestal."))
    overwriteExistingFiles: bool = param(Boolean(default=False, description="Replace existing output files (else a "
                                                 "frame whose output exists fails)."))
    onError: str = param(Enumeration(elements=("Continue", "Abort", "AskUser"), default="Continue",
                                     description="What to do when a frame fails: continue with the others, or stop "
                                     "(AskUser stops too)."))
    noGUIMessages: bool = param(Boolean(default=True, description="Deprecated (no effect)."))
    useFileThreads: bool = param(Boolean(default=True, description="Parallel file threads (no effect)."))
    fileThreadOverload: float = param(Float(minimum=1.0, maximum=10.0, default=1.0, precision=2,
                                            description="File thread overload (no effect)."))
    maxFileReadThreads: int = param(Int32(minimum=0, maximum=1024, default=0, description="Maximum file reading "
                                          "threads (no effect)."))
    maxFileWriteThreads: int = param(Int32(minimum=0, maximum=1024, default=0, description="Maximum file writing "
                                           "threads (no effect)."))
    # -- read-only outputs (PixInsight 1.9's, written into icons after an execution) ---------------------------
    outputData: tuple = ro.table(_OUTPUT_COLUMNS, "Per target frame of the last execution (read-only output, "
                                 "PixInsight's columns): output file, dark scaling factors, PSF signal and noise "
                                 "estimates, cosmetic correction counts. procfw's run outputs hold richer rows "
                                 "under the same id (status, error, per-channel lists).")
    cosmeticCorrectionMapId: str = ro.text("Id of the cosmetic correction map image (read-only output; none in "
                                           "procfw).")

    # -- configuration -------------------------------------------------------------------
    def _overscan(self) -> Overscan:
        regions = tuple(
            ((r[1], r[2], r[3], r[4]), (r[5], r[6], r[7], r[8])) for r in self.overscanRegions if r[0]
        )
        return Overscan(
            enabled=self.overscanEnabled,
            image_rect=(self.overscanImageX0, self.overscanImageY0, self.overscanImageX1, self.overscanImageY1),
            regions=regions,
        )

    def settings(self) -> Settings:
        """The engine settings these parameters describe."""
        return Settings(
            enable_cfa=self.enableCFA,
            cfa_pattern=self.cfaPattern,
            pedestal=self.pedestal,
            pedestal_mode=self.pedestalMode,
            pedestal_keyword=self.pedestalKeyword,
            overscan=self._overscan(),
            bias_path=self.masterBiasPath if self.masterBiasEnabled else "",
            dark_path=self.masterDarkPath if self.masterDarkEnabled else "",
            flat_path=self.masterFlatPath if self.masterFlatEnabled else "",
            calibrate_bias=self.calibrateBias,
            calibrate_dark=self.calibrateDark,
            calibrate_flat=self.calibrateFlat,
            optimize_darks=self.optimizeDarks,
            dark_optimization_threshold=self.darkOptimizationThreshold,
            dark_optimization_low=self.darkOptimizationLow,
            dark_optimization_window=self.darkOptimizationWindow,
            dark_cfa_detection_mode=self.darkCFADetectionMode,
            separate_cfa_flat_scaling_factors=self.separateCFAFlatScalingFactors,
            flat_scale_clipping_factor=self.flatScaleClippingFactor,
            evaluate_noise=self.evaluateNoise,
            noise_algorithm="KSigma" if self.noiseEvaluationAlgorithm == "NoiseEvaluation_KSigma" else "MRS",
            output_pedestal=self.outputPedestal,
            output_pedestal_mode=self.outputPedestalMode,
            auto_pedestal_limit=self.autoPedestalLimit,
            cosmetic_low=self.cosmeticCorrectionLow,
            cosmetic_low_sigma=self.cosmeticLowSigma,
            cosmetic_high=self.cosmeticCorrectionHigh,
            cosmetic_high_sigma=self.cosmeticHighSigma,
            cosmetic_kernel_radius=self.cosmeticKernelRadius,
        )

    def _masters_problem(self) -> str:
        """Why the master/overscan configuration cannot run ("" if it can)."""
        problem = self._overscan().problem()
        if problem:
            return problem
        for what, enabled, path in (
            ("bias", self.masterBiasEnabled, self.masterBiasPath),
            ("dark", self.masterDarkEnabled, self.masterDarkPath),
            ("flat", self.masterFlatEnabled, self.masterFlatPath),
        ):
            if enabled and not path.strip():
                return f"master {what} is enabled (master{what.title()}Enabled) but master{what.title()}Path is empty"
        if not (self.overscanEnabled or self.masterBiasEnabled or self.masterDarkEnabled or self.masterFlatEnabled):
            return "no master calibration frames or overscan regions have been specified"
        return ""

    def can_execute_global(self) -> tuple[bool, str]:
        if not self.targetFrames:
            return False, "no target frames have been specified (targetFrames is empty)"
        problem = self._masters_problem()
        return (False, problem) if problem else (True, "")

    def can_execute_on(self, view: View) -> tuple[bool, str]:
        problem = self._masters_problem()
        if problem:
            return False, f"ImageCalibration on a view needs master frames: {problem}"
        return True, ""

    # -- read-only outputs -------------------------------------------------------------------
    def icon_outputs(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """PixInsight's read-only ``outputData`` (and ``cosmeticCorrectionMapId``) from the
        ``outputs`` of an execution: a row per target frame with its output file, dark scaling
        factors, noise estimates and cosmetic correction counts (per channel: RK, G, B); PSF
        signal estimates stay zero (not evaluated)."""
        rows = outputs.get("outputData")
        if not isinstance(rows, (list, tuple)):
            rows = [outputs]

        def cells(row: Mapping[str, Any]) -> dict[str, Any]:
            values: dict[str, Any] = {"outputFilePath": row.get("outputFilePath") or ""}
            for key, stem in (("darkScalingFactors", "darkScalingFactor"), ("noiseEstimates", "noiseEstimate"),
                              ("noiseFractions", "noiseFraction"), ("noiseAlgorithms", "noiseAlgorithm"),
                              ("cosmeticCorrectionLowCounts", "cosmeticCorrectionLowCount"),
                              ("cosmeticCorrectionHighCounts", "cosmeticCorrectionHighCount")):
                for c, value in zip(ro.CHANNELS_RK, row.get(key) or ()):
                    values[stem + c] = value
            return values

        kind = type(self).parameter("outputData")
        values = {"outputData": ro.table_rows(kind, [r for r in rows if isinstance(r, Mapping)], cells)}
        if outputs.get("cosmeticCorrectionMapId"):
            values["cosmeticCorrectionMapId"] = str(outputs["cosmeticCorrectionMapId"])
        return values

    def _notes(self) -> tuple[str, ...]:
        if (self.cosmeticCorrectionLow or self.cosmeticCorrectionHigh) and not (
                self.masterDarkEnabled and self.masterDarkPath.strip()):
            return ("ImageCalibration: automatic cosmetic correction (cosmeticCorrectionLow/High) finds defects in "
                    "the master dark; with no master dark none was applied",)
        return ()

    # -- execution --------------------------------------------------------------------------
    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        settings = self.settings()
        masters = load_masters(settings)
        calibrated, results = calibrate_image(image, masters, settings, source=context.view_id or "")
        return ProcessOutput(image=calibrated, outputs=_frame_outputs(results), messages=self._notes())

    def run_global(self, context: ExecutionContext) -> ProcessOutput:
        self.require_executable_global()
        rows = [(bool(r[0]), str(r[1])) for r in self.targetFrames]
        outputs = {i: self._output_path(path) for i, (enabled, path) in enumerate(rows) if enabled}
        check_output_paths(self.process_id, [(rows[i][1], p) for i, p in outputs.items()], self.outputDirectory)
        context.report(0.0, f"{self.process_id}: loading master frames")
        _, masters = self._frame_state()  # fails early on a bad master; its outputs are reported
        new_images: dict[str, Image] = {}
        if masters.cosmetic is not None and self.cosmeticShowMap:  # PixInsight's IC_CC_map (rescaled)
            new_images[_CC_MAP] = Image(masters.cosmetic.astype(np.float32) / max(1, int(masters.cosmetic.max())))
            if self.cosmeticShowMapAndStop:
                return ProcessOutput(new_images=new_images, outputs={"cosmeticCorrectionMapId": _CC_MAP},
                                     messages=("ImageCalibration: cosmetic correction map built; no frame was "
                                               "calibrated (cosmeticShowMapAndStop)",))
        outcomes = run_file_list(rows, process_id=self.process_id, on_error=self.onError, context=context,
                                 instance=self)
        result, messages = summarize(self.process_id, outcomes)
        result.update(_masters_outputs(masters))
        if new_images:
            result["cosmeticCorrectionMapId"] = _CC_MAP
        return ProcessOutput(outputs=result, new_images=new_images, messages=(*self._notes(), *messages))

    def check_frame_state(self) -> None:
        """Load the master frames as a worker would (ExecutionError when one cannot be used)."""
        self._frame_state()

    def _frame_state(self) -> tuple[Settings, Masters]:
        """The settings and loaded masters, kept per worker process for the frames of one run."""
        settings = self.settings()
        key = (self.process_id, self, file_key(settings.bias_path, settings.dark_path, settings.flat_path))
        return worker_state(key, lambda: (settings, load_masters(settings)))

    def process_file(self, index: int, path: Path, options: Mapping[str, Any]) -> tuple[Path, dict[str, Any]]:
        """Calibrate one target file and write it (any worker; see :func:`run_file_list`)."""
        _, written, data = self.process_image(index, read_image(path), path, options)
        return written, data

    def process_image(self, index: int, image: Image, path: Path, options: Mapping[str, Any]
                      ) -> tuple[Image, Path, dict[str, Any]]:
        """Calibrate ``image`` (the content of target ``path``) and write it: ``(calibrated, written, results)``.

        The image returned is the file's content (:func:`as_written`), so that a next step
        applied in the same task gets exactly what it would read from the file.
        """
        settings, masters = self._frame_state()
        calibrated, results = calibrate_image(image, masters, settings, source=str(path))
        written = write_frame(
            calibrated, self._output_path(str(path)), sample_format=self.outputSampleFormat,
            overwrite=self.overwriteExistingFiles,
        )
        return as_written(calibrated, written, self.outputSampleFormat), written, _frame_outputs(results)

    def _output_path(self, source: str) -> Path:
        return output_file_path(
            source, directory=self.outputDirectory, prefix=self.outputPrefix, postfix=self.outputPostfix,
            extension=self.outputExtension,
        )


def _frame_outputs(results: dict[str, Any]) -> dict[str, Any]:
    """The per-frame results reported in outputs (the noise scale factors go to NOISEL/NOISEH keywords only)."""
    keep = ("darkScalingFactors", "noiseEstimates", "noiseFractions", "noiseAlgorithms", "outputPedestal",
            "cosmeticCorrectionLowCounts", "cosmeticCorrectionHighCounts")
    return {key: results[key] for key in keep if key in results}


def _masters_outputs(masters: Masters) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if masters.flat_scaling:
        out["flatScalingFactors"] = list(masters.flat_scaling)
    if masters.flat_dark_scaling:
        out["flatDarkScalingFactors"] = list(masters.flat_dark_scaling)
    if masters.optimizing is not None:
        out["darkOptimizationThresholds"] = list(masters.optimizing.thresholds)
        out["darkOptimizationPixels"] = list(masters.optimizing.counts)
    return out
