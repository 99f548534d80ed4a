"""LocalNormalization: map each target frame onto a reference with smooth local functions.

PixInsight's LocalNormalization with its process id, parameter ids, kinds, ranges,
defaults, precisions and enumeration elements (LocalNormalizationParameters.cpp of the
PixInsight 1.8.9 module, PCL 2.5; ``rejectionLimit`` keeps its alias ``psfRejectionLimit``),
read-only ``outputData`` included, so icons load and write back.

For each target the normalization function ``v' = A(x, y)·v + B(x, y)`` maps the target
onto the reference (:mod:`processes.localnormalization.model`: large-scale backgrounds at
``scale`` pixels, outlier rejection, a global scale from matched star fluxes —
``scaleEvaluationMethod=PSFSignal`` — with optional ``localScaleCorrections``, or from
significant pixels — ``MultiscaleAnalysis``).

* **Global execution** (files): the reference is the file ``referencePathOrViewId``
  (or, with ``referenceIsView``, that view of the workspace); for every enabled row of
  ``targetItems``, with ``generateNormalizationData``, ``DIR/NAME.xnml`` is written
  (PixInsight's XNML format, :mod:`processes.common.xnml`; ImageIntegration reads it with
  ``normalization=LocalNormalization``), and with ``generateNormalizedImages`` =
  ``Always``/``GlobalExecutionOnly`` the normalized image
  ``DIR/outputPrefix + NAME + outputPostfix + outputExtension``.  Frames go through the
  executor (serial, processes, dask) one task per frame; each worker prepares the
  reference once.  With ``generateInvalidData``, a frame whose scale cannot be estimated
  gets an .xnml tagged ``valid="false"`` instead of failing.
* **On a view**: the view is the target; with ``generateNormalizedImages`` =
  ``Always``/``ViewExecutionOnly`` (the default) its pixels are normalized
  (truncated to [0, 1] with ``truncate``), otherwise only the scale factors are reported.

Zero pixels stay zero.  Not implemented (accepted so icons load): ``referenceRejection``
(no reference outlier rejection), the PSF detector options (``psfType``, ``psfGrowth``,
``psfNoiseLayers``, ``psfHotPixelFilterRadius``, ``psfNoiseReductionFilterRadius``,
``psfMinStructureSize``, ``psfMinSNR``, ``psfAllowClusteredSources``,
``psfStructureLayers``), the GUI/graph options (``show*``, ``plotNormalizationFunctions``,
``graph*``) and the file-thread and memory options.  An existing output is never replaced
unless ``overwriteExistingFiles`` (PixInsight writes ``NAME_1`` instead); ``onError=AskUser``
stops like ``Abort``.
"""

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from processes.common import outputs as ro
from processes.common.filelists import (
    FileListTable,
    check_output_paths,
    file_key,
    output_file_path,
    run_file_list,
    summarize,
    worker_state,
    write_frame,
)
from processes.common.xnml import LocalNormalizationData, write_xnml
from procfw.errors import ExecutionError, ProcfwError
from procfw.image import FITSKeyword, Image
from procfw.params import Boolean, Double, Enumeration, Float, Int32, String, param
from procfw.process import ExecutionContext, Process, ProcessOutput

__all__ = ["LocalNormalization"]

_SCALE_METHODS = ("ScaleEvaluationMethod_PSFSignal", "ScaleEvaluationMethod_MultiscaleAnalysis")
_PSF_TYPES = ("PSFType_Gaussian", "PSFType_Moffat15", "PSFType_Moffat4", "PSFType_Moffat6", "PSFType_Moffat8",
              "PSFType_MoffatA", "PSFType_Auto")
_GENERATE = ("GenerateNormalizedImages_Never", "GenerateNormalizedImages_Always",
             "GenerateNormalizedImages_ViewExecutionOnly", "GenerateNormalizedImages_GlobalExecutionOnly")
_PLOTS = ("PlotNormalizationFunctions_DontPlot", "PlotNormalizationFunctions_Line3D",
          "PlotNormalizationFunctions_Palette3D", "PlotNormalizationFunctions_Map3D")
_NOT_USED = "Accepted for icons; not used by procfw."


def _bool(default: bool, description: str) -> Any:
    return param(Boolean(default=default, description=description))


def _int(default: int, low: int, high: int, description: str) -> Any:
    return param(Int32(minimum=low, maximum=high, default=default, description=description))


def _float(default: float, low: float, high: float, precision: int, description: str, **kw: Any) -> Any:
    return param(Float(minimum=low, maximum=high, default=default, precision=precision, description=description,
                       **kw))


def _output_columns() -> tuple:
    return (
        String(id="outputFilePathXNML", read_only=True, description="Normalization data file written (.xnml)."),
        String(id="outputFilePath", read_only=True, description="Normalized image file written."),
        Float(id="scaleFactorRK", read_only=True, precision=4, description="Global scale factor, red or gray."),
        Float(id="scaleFactorG", read_only=True, precision=4, description="Global scale factor, green."),
        Float(id="scaleFactorB", read_only=True, precision=4, description="Global scale factor, blue."),
        Boolean(id="valid", default=True, read_only=True, description="Whether valid normalization data were made."),
    )


class LocalNormalization(Process):
    """Normalize target frames to a reference with local (background) and global (scale) functions."""

    process_id = "LocalNormalization"
    process_version = 0x101  # LocalNormalizationProcess::Version(), core 1.8.9-1
    categories = ("ImageCalibration", "Preprocessing")
    is_history_updater = True
    is_maskable = False

    scale: int = _int(1024, 32, 8192, "Normalization scale in pixels: the size of the large-scale background "
                      "structures that are normalized (PixInsight uses 32, 64, 128, 192, 256, 384, 512, 768, 1024, "
                      "1536, 2048, 3072, 4096, 6144, 8192).")
    noScale: bool = _bool(False, "Do not scale: only the local offsets are normalized (A = 1).")
    globalLocationNormalization: bool = _bool(False, "After local normalization, match the median of each target "
                                              "to the reference's.")
    truncate: bool = _bool(True, "Truncate normalized images to [0, 1].")
    backgroundSamplingDelta: int = _int(32, 8, 64, "Box size in pixels of the coarse background that replaces "
                                        "rejected pixels.")
    rejection: bool = _bool(True, "Reject outliers of the targets (bright where the reference has nothing).")
    referenceRejection: bool = _bool(False, "Reject outliers of the reference too. " + _NOT_USED)
    lowClippingLevel: float = param(Double(minimum=0.0, maximum=0.5, default=4.5e-5, precision=6,
                                           description="Pixels at or below this value are ignored."))
    highClippingLevel: float = _float(0.85, 0.5, 1.0, 2, "Pixels at or above this value are ignored (saturated).")
    referenceRejectionThreshold: float = _float(3.0, 0.0, 10.0, 2, "A reference pixel is significant above its "
                                                "background by this many noise sigmas.")
    targetRejectionThreshold: float = _float(3.2, 0.0, 10.0, 2, "A target pixel this many noise sigmas above its "
                                             "background where the reference is not significant is rejected.")
    hotPixelFilterRadius: int = _int(2, 0, 4, "Radius of the median filter applied to the targets before the "
                                     "background is modelled (0: none).")
    noiseReductionFilterRadius: int = _int(0, 0, 24, "Radius of the Gaussian applied to the targets before the "
                                           "background is modelled (0: none).")
    modelScalingFactor: float = _float(8.0, 1.0, 32.0, 2, "Nodes of the normalization matrices per scale "
                                       "length: the matrices are W·f/scale × H·f/scale.")
    scaleEvaluationMethod: str = param(Enumeration(
        elements=_SCALE_METHODS, default="ScaleEvaluationMethod_PSFSignal",
        description="How the global scale is found: PSFSignal (flux ratios of the stars matched in both images) "
                    "or MultiscaleAnalysis (ratios of significant pixels above the backgrounds)."))
    localScaleCorrections: bool = _bool(False, "Add a smooth local correction to the scale, from the stars' flux "
                                        "ratios (PSFSignal; experimental in PixInsight).")
    psfStructureLayers: int = _int(5, 1, 8, "Star detection: wavelet layers. " + _NOT_USED)
    saturationThreshold: float = _float(0.75, 0.10, 1.00, 2, "Stars (PSFSignal) and pixels (MultiscaleAnalysis) "
                                        "at or above this level are not measured.")
    saturationRelative: bool = _bool(True, "saturationThreshold is relative to each image's maximum.")
    rejectionLimit: float = param(Float(minimum=0.0, maximum=1.0, default=0.3, precision=2, aliases=(
        "psfRejectionLimit",), description="Robust Chauvenet Rejection limit of the scale estimates."))
    psfNoiseLayers: int = _int(1, 0, 4, "Star detection: noise layers. " + _NOT_USED)
    psfHotPixelFilterRadius: int = _int(1, 0, 2, "Star detection: hot pixel filter radius. " + _NOT_USED)
    psfNoiseReductionFilterRadius: int = _int(0, 0, 50, "Star detection: noise reduction radius. " + _NOT_USED)
    psfMinStructureSize: int = _int(0, 0, 999999, "Star detection: minimum structure size. " + _NOT_USED)
    psfMinSNR: float = _float(40.0, 0.0, 1000.0, 2, "Star detection: minimum SNR. " + _NOT_USED)
    psfAllowClusteredSources: bool = _bool(True, "Star detection: allow clustered sources. " + _NOT_USED)
    psfType: str = param(Enumeration(elements=_PSF_TYPES, default="PSFType_Auto",
                                     description="PSF model of the star fits. " + _NOT_USED + " (Gaussian fits)"))
    psfGrowth: float = _float(1.0, 0.5, 4.0, 2, "Growth of the flux measurement region. " + _NOT_USED)
    psfMaxStars: int = _int(24576, 256, 999999, "Most stars measured per image (procfw fits at most 2000).")
    referencePathOrViewId: str = param(String(description="Reference image: a file, or a view id with "
                                              "referenceIsView."))
    referenceIsView: bool = _bool(True, "referencePathOrViewId is a view id (else a file path).")
    targetItems: tuple = param(FileListTable(
        columns=(Boolean(id="enabled", default=True, description="Whether this target is normalized."),
                 String(id="image", description="Path of the target image file.")),
        path_column="image",
        description="Target frames: rows (enabled, image). On the console also a glob such as \"reg/*.xisf\"."))
    inputHints: str = param(String(description="Input format hints. " + _NOT_USED))
    outputHints: str = param(String(description="Output format hints. " + _NOT_USED))
    generateNormalizedImages: str = param(Enumeration(
        elements=_GENERATE, default="GenerateNormalizedImages_ViewExecutionOnly",
        description="When normalized images are made: never, always, on views only or on files only."))
    generateNormalizationData: bool = _bool(True, "Write a .xnml normalization data file per target (global).")
    generateInvalidData: bool = _bool(False, "When a target's scale cannot be estimated, write a .xnml tagged "
                                      "invalid instead of failing.")
    showBackgroundModels: bool = _bool(False, "GUI: show background models. " + _NOT_USED)
    showLocalScaleModels: bool = _bool(False, "GUI: show local scale models. " + _NOT_USED)
    showRejectionMaps: bool = _bool(False, "GUI: show rejection maps. " + _NOT_USED)
    showStructureMaps: bool = _bool(False, "GUI: show structure maps. " + _NOT_USED)
    plotNormalizationFunctions: str = param(Enumeration(elements=_PLOTS, default="PlotNormalizationFunctions_DontPlot",
                                                        description="GUI: gnuplot graphs. " + _NOT_USED))
    noGUIMessages: bool = _bool(True, "Deprecated (no effect).")
    autoMemoryLimit: float = _float(0.85, 0.10, 1.00, 2, "Memory limit. " + _NOT_USED)
    outputDirectory: str = param(String(description="Directory of the output files (empty: each target's own)."))
    outputExtension: str = param(String(default=".xisf", description="Extension (format) of normalized images."))
    outputPrefix: str = param(String(default="", description="Prefix of normalized image file names."))
    outputPostfix: str = param(String(default="_n", description="Postfix of normalized image file names."))
    overwriteExistingFiles: bool = _bool(False, "Replace existing output files (else a frame whose output exists "
                                         "fails).")
    onError: str = param(Enumeration(elements=("OnError_Continue", "OnError_Abort", "OnError_AskUser"),
                                     default="OnError_Continue", description="What to do when a frame fails."))
    useFileThreads: bool = _bool(True, "Parallel file threads (no effect).")
    fileThreadOverload: float = _float(1.0, 1.0, 10.0, 2, "File thread overload (no effect).")
    maxFileReadThreads: int = _int(0, 0, 1024, "Maximum file reading threads (no effect).")
    maxFileWriteThreads: int = _int(0, 0, 1024, "Maximum file writing threads (no effect).")
    graphSize: int = _int(1024, 256, 8192, "Graph size. " + _NOT_USED)
    graphTextSize: int = _int(12, 8, 64, "Graph text size. " + _NOT_USED)
    graphTitleSize: int = _int(18, 8, 64, "Graph title size. " + _NOT_USED)
    graphTransparent: bool = _bool(False, "Transparent graphs. " + _NOT_USED)
    graphOutputDirectory: str = param(String(description="Graph directory. " + _NOT_USED))
    outputData: tuple = ro.table(_output_columns(), "Per target of the last execution (read-only output): .xnml "
                                 "file, normalized file, global scale factors, validity.")

    # -- configuration ----------------------------------------------------------------------
    def settings(self):
        """The algorithm settings these parameters describe."""
        from processes.localnormalization.model import Settings

        return Settings(
            scale=self.scale, no_scale=self.noScale, global_location=self.globalLocationNormalization,
            sampling_delta=self.backgroundSamplingDelta, rejection=self.rejection,
            low_clipping=self.lowClippingLevel, high_clipping=self.highClippingLevel,
            reference_threshold=self.referenceRejectionThreshold, target_threshold=self.targetRejectionThreshold,
            hot_pixel_radius=self.hotPixelFilterRadius, noise_reduction_radius=self.noiseReductionFilterRadius,
            model_scaling_factor=self.modelScalingFactor,
            scale_method=self.scaleEvaluationMethod.removeprefix("ScaleEvaluationMethod_"),
            local_scale_corrections=self.localScaleCorrections, saturation_threshold=self.saturationThreshold,
            saturation_relative=self.saturationRelative, rejection_limit=self.rejectionLimit,
            max_stars=self.psfMaxStars,
        )

    def _images_on(self, view_execution: bool) -> bool:
        mode = self.generateNormalizedImages.removeprefix("GenerateNormalizedImages_")
        return mode == "Always" or mode == ("ViewExecutionOnly" if view_execution else "GlobalExecutionOnly")

    def _notes(self) -> tuple[str, ...]:
        return ("LocalNormalization: referenceRejection is not implemented; the reference was not "
                "outlier-rejected",) if self.referenceRejection else ()

    def can_execute_on(self, view: Any) -> tuple[bool, str]:
        if not self.referencePathOrViewId.strip():
            return False, "no reference image has been specified (referencePathOrViewId is empty)"
        return True, ""

    def can_execute_global(self) -> tuple[bool, str]:
        ok, why = self.can_execute_on(None)
        if not ok:
            return ok, why
        if not any(bool(row[0]) for row in self.targetItems):
            return False, "no target images have been specified (targetItems has no enabled row)"
        if not self.generateNormalizationData and not self._images_on(False):
            return False, ("nothing to generate: generateNormalizationData is off and generateNormalizedImages "
                           f"is {self.generateNormalizedImages}")
        return True, ""

    # -- the reference ---------------------------------------------------------------------------
    def _reference_pixels(self, context: ExecutionContext | None) -> tuple[np.ndarray, str]:
        if self.referenceIsView:
            if context is None or context.workspace is None:
                raise ExecutionError(f"LocalNormalization: the reference is the view '{self.referencePathOrViewId}' "
                                     "(referenceIsView) but there is no workspace to find it in")
            return context.image(self.referencePathOrViewId.strip()).pixels, ""
        from procfw.io import read_image

        path = self.referencePathOrViewId.strip()
        if not Path(path).expanduser().is_file():
            raise ExecutionError(f"LocalNormalization: the reference image file does not exist: {path}")
        return read_image(Path(path).expanduser()).pixels, str(Path(path).expanduser().resolve())

    def _reference_model(self, context: ExecutionContext | None = None):
        """The prepared reference, kept per worker process (a file) or made here (a view)."""
        from processes.localnormalization.model import prepare_reference

        settings = self.settings()
        if self.referenceIsView:
            pixels, path = self._reference_pixels(context)
            return prepare_reference(pixels, settings, path)
        key = (self.process_id, settings, file_key(self.referencePathOrViewId))

        def make():
            pixels, path = self._reference_pixels(None)
            return prepare_reference(pixels, settings, path)

        return worker_state(key, make)

    def _build(self, pixels: np.ndarray, reference, target_path: str = ""):
        from processes.localnormalization.model import build_normalization

        try:
            return build_normalization(pixels, reference, self.settings(), target_path=target_path)
        except ValueError as exc:
            raise ExecutionError(f"LocalNormalization: {target_path or 'target'}: {exc}") from None

    # -- execution on a view ---------------------------------------------------------------------------
    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        from processes.localnormalization.model import apply_normalization

        reference = self._reference_model(context)
        data, estimates = self._build(image.pixels, reference, context.view_id or "")
        outputs = {"scaleFactors": [e.scale if e is not None else 1.0 for e in estimates],
                   "modelSize": list(data.scale_matrices.shape[1:][::-1])}
        if not self._images_on(True):
            return ProcessOutput(image=image, outputs=outputs, messages=self._notes())
        pixels = apply_normalization(image.pixels, data, truncate=self.truncate)
        return ProcessOutput(image=image.with_pixels(pixels.astype(image.pixels.dtype, copy=False)),
                             outputs=outputs, messages=self._notes())

    # -- global execution ---------------------------------------------------------------------------
    def _xnml_path(self, source: str) -> Path:
        return output_file_path(source, directory=self.outputDirectory, extension=".xnml")

    def _image_path(self, source: str) -> Path:
        return output_file_path(source, directory=self.outputDirectory, prefix=self.outputPrefix,
                                postfix=self.outputPostfix, extension=self.outputExtension)

    def run_global(self, context: ExecutionContext) -> ProcessOutput:
        self.require_executable_global()
        rows = [(bool(r[0]), str(r[1])) for r in self.targetItems]
        pairs = []
        for enabled, path in rows:
            if enabled:
                if self.generateNormalizationData:
                    pairs.append((path, self._xnml_path(path)))
                if self._images_on(False):
                    pairs.append((path, self._image_path(path)))
        check_output_paths(self.process_id, pairs, self.outputDirectory)
        on_error = self.onError.removeprefix("OnError_")
        context.report(0.0, "LocalNormalization: preparing the reference")
        if self.referenceIsView:
            reference = self._reference_model(context)

            def work(index: int, path: Path):
                return self._process_path(path, reference)

            outcomes = run_file_list(rows, work, process_id=self.process_id, on_error=on_error, context=context)
        else:
            self._reference_model()  # a bad reference fails once, here, before any frame
            outcomes = run_file_list(rows, process_id=self.process_id, on_error=on_error, context=context,
                                     instance=self)
        outputs, messages = summarize(self.process_id, outcomes)
        return ProcessOutput(outputs=outputs, messages=(*self._notes(), *messages))

    def process_file(self, index: int, path: Path, options: Mapping[str, Any]) -> tuple[Path, dict[str, Any]]:
        """Normalize one target file and write its outputs (any worker; see :func:`run_file_list`)."""
        return self._process_path(path, self._reference_model())

    def process_image(self, image: Image, path: Path, reference: Any = None) -> tuple[Path, dict[str, Any]]:
        """Normalize ``image`` (the content of target ``path``) and write its outputs."""
        reference = reference if reference is not None else self._reference_model()
        return self._write_outputs(image, path, reference)

    def _process_path(self, path: Path, reference: Any) -> tuple[Path, dict[str, Any]]:
        from procfw.io import read_image

        return self._write_outputs(read_image(path), path, reference)

    def _write_outputs(self, image: Image, path: Path, reference: Any) -> tuple[Path, dict[str, Any]]:
        from processes.localnormalization.model import apply_normalization

        target_path = str(Path(path).resolve())
        try:
            data, estimates = self._build(image.pixels, reference, target_path)
        except ProcfwError as exc:
            if not (self.generateInvalidData and self.generateNormalizationData and "scale estimate" in str(exc)):
                raise
            invalid = LocalNormalizationData(scale=self.scale, reference_width=reference.width,
                                             reference_height=reference.height, valid=False,
                                             reference_path=reference.path, target_path=target_path)
            xnml = write_xnml(invalid, self._xnml_path(str(path)), overwrite=self.overwriteExistingFiles)
            return xnml, {"outputFilePathXNML": str(xnml), "valid": False, "reason": str(exc)}
        scale_factors = [e.scale if e is not None else 1.0 for e in estimates]
        result: dict[str, Any] = {"scaleFactors": scale_factors, "valid": True}
        written: Path | None = None
        if self.generateNormalizationData:
            written = write_xnml(data, self._xnml_path(str(path)), overwrite=self.overwriteExistingFiles)
            result["outputFilePathXNML"] = str(written)
        if self._images_on(False):
            pixels = apply_normalization(image.pixels, data, truncate=self.truncate)
            cards = [FITSKeyword("HISTORY", f"LocalNormalization.scale: {self.scale}", ""),
                     FITSKeyword("HISTORY", "LocalNormalization.scaleFactors: "
                                 + " ".join(f"{s:.6f}" for s in scale_factors), "")]
            normalized = image.with_pixels(pixels).with_keywords(cards)
            written = write_frame(normalized, self._image_path(str(path)), overwrite=self.overwriteExistingFiles)
            result["normalizedFilePath"] = str(written)
        assert written is not None
        return written, result

    # -- read-only outputs -------------------------------------------------------------------------
    def icon_outputs(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """PixInsight's read-only ``outputData`` from the outputs of a global execution."""
        rows = outputs.get("outputData")
        if not isinstance(rows, (list, tuple)):
            return {}

        def cells(row: Mapping[str, Any]) -> dict[str, Any]:
            values: dict[str, Any] = {"outputFilePathXNML": row.get("outputFilePathXNML") or "",
                                      "outputFilePath": row.get("normalizedFilePath") or "",
                                      "valid": bool(row.get("valid", row.get("status") == "ok"))}
            for suffix, value in zip(ro.CHANNELS_RK, row.get("scaleFactors") or ()):
                values["scaleFactor" + suffix] = value
            return values

        kind = type(self).parameter("outputData")
        return {"outputData": ro.table_rows(kind, [r for r in rows if isinstance(r, Mapping)], cells)}
