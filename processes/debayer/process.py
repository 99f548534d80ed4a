"""Debayer: demosaic raw CFA frames into RGB images (PixInsight Debayer).

``cfaPattern`` ``Auto`` reads the pattern from the image (XISF property
``PCL:CFASourcePattern``, else the FITS keyword ``BAYERPAT`` shifted by
``XBAYROFF``/``YBAYROFF``, and flipped for ``ROWORDER = 'BOTTOM-UP'``); the other elements
force a pattern.  ``debayerMethod``: ``SuperPixel`` (half size, no interpolation),
``Bilinear`` or ``VNG`` (Variable Number of Gradients, edge-aware; the default); see
:mod:`processes.debayer.demosaic`.

On a view the process opens the RGB result as a new image ``<view>_RGB_<method>`` (and
``..._R``/``_G``/``_B`` with ``outputSeparateChannels``); the CFA view is left unchanged, so
Debayer is neither a history updater nor maskable.  On a preview the pattern is shifted by
the preview's origin.  Globally it demosaics every enabled file of ``targetItems`` into
``outputDirectory/outputPrefix + name + outputPostfix + outputExtension`` (never
overwriting unless ``overwriteExistingFiles``).  The output keeps the input's keywords
except the CFA ones (BAYERPAT, XBAYROFF, YBAYROFF), which no longer apply.

``evaluateNoise`` estimates the noise of each channel as PixInsight's Debayer does: on the raw
frame's CFA components, not on the demosaiced planes (which interpolation smooths) — per
channel, the mean of its samples in each 2×2 cell, a half-size image: the SuperPixel
demosaic (:func:`processes.debayer.demosaic.superpixel`), whatever ``debayerMethod``.
PCL 1.9.2 (DebayerInstance.cpp, ``SignalAndNoiseEvaluationThread``) looks the pattern up
transposed there (``index(row, column, c)`` of an ``(x, y, c)`` operator), so that for GRBG and
GBRG frames its R estimate is that of the B sites and its B that of the R sites; here each
channel's estimate is that of its own sites.  As there, the MRS noise set leaves out black and
saturated samples (:data:`processes.kernels.noise.MRS_VALID_RANGE`, ``NoiseMRS``'s defaults).

Accepted for icon compatibility without effect: ``fbddNoiseReduction``, ``showImages``
(the result always opens), ``cfaSourceFilePath``, ``evaluateSignal`` and the PSF parameters,
the hints and the file-thread/memory parameters.  ``onError = OnError_AskUser`` stops like
``OnError_Abort``.

Parameters: exactly PixInsight 1.9's (DebayerParameters.cpp), read-only outputs included:
the image ids and per-channel PSF signal and noise estimates of an execution on a view, and
the ``outputFileData`` table of a global one, which PixInsight writes into icons.  The run
reports the image id and noise estimates under the same ids; :meth:`Debayer.icon_outputs`
gives the read-only values (PSF signal estimates stay zero: not evaluated).
"""

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from processes.common import outputs as ro
from processes.common.filelists import (
    as_written,
    check_output_paths,
    file_list_table,
    output_file_path,
    run_file_list,
    start_frame_write,
    summarize,
    write_frame,
)
from processes.debayer.demosaic import demosaic, superpixel
from processes.kernels import signal_params as signal
from processes.kernels.cfa import CFAPattern, detect_pattern
from processes.kernels.noise import MRS_VALID_RANGE, estimate_noise
from procfw.errors import ExecutionError
from procfw.image import FITSKeyword, Image
from procfw.io import read_image
from procfw.params import Boolean, Enumeration, Float, Int32, ParameterKind, String, param
from procfw.process import ExecutionContext, Process, ProcessOutput
from procfw.workspace import View

if TYPE_CHECKING:
    from procfw.io.fits import PendingWrite

__all__ = ["Debayer", "debayer_image"]

_PATTERNS = ("Auto", "RGGB", "BGGR", "GBRG", "GRBG", "GRGB", "GBGR", "RGBG", "BGRG")
_CFA_KEYWORDS = frozenset({"BAYERPAT", "XBAYROFF", "YBAYROFF"})
_ON_ERROR = {"OnError_Continue": "Continue", "OnError_Abort": "Abort", "OnError_AskUser": "AskUser"}


def _output_file_columns() -> tuple[ParameterKind, ...]:
    """The columns of PixInsight's read-only ``outputFileData`` (DebayerParameters.cpp)."""
    return (
        String(id="filePath", read_only=True, description="RGB file written."),
        *(String(id=f"channelFilePath{c}", read_only=True, description=f"Channel file written, {c}.")
          for c in ro.CHANNELS_RGB),
        *ro.signal_noise_columns(ro.CHANNELS_RGB),
    )


_OUTPUT_FILE_COLUMNS = _output_file_columns()


def resolve_pattern(image: Image, requested: str, *, offset: tuple[int, int] = (0, 0)) -> tuple[CFAPattern, str]:
    """The CFA pattern to use for ``image`` and where it came from; ExecutionError if none.

    ``offset`` (x, y) is the position of ``image`` on the sensor (a preview's origin).
    """
    if requested != "Auto":
        pattern, source = CFAPattern.parse(requested), "cfaPattern parameter"
    else:
        found, source = detect_pattern(image)
        if found is None:
            raise ExecutionError(f"cfaPattern is Auto but {source}; set cfaPattern to the sensor's pattern")
        pattern = found
    if offset != (0, 0):
        pattern = pattern.shifted(*offset)
        source += f", shifted by ({offset[0]}, {offset[1]})"
    return pattern, source


def debayer_image(image: Image, pattern: CFAPattern, method: str) -> Image:
    """The RGB image of a one-channel CFA ``image`` (keywords kept except the CFA ones)."""
    if image.channels != 1:
        raise ExecutionError(f"Debayer needs a one-channel raw CFA image; this image has {image.channels} channels")
    try:
        rgb = demosaic(image.pixels[0], pattern, method)
    except ValueError as exc:
        raise ExecutionError(f"Debayer: {exc}") from None
    keywords = [k for k in image.keywords if k.name.upper() not in _CFA_KEYWORDS]
    keywords.append(FITSKeyword("HISTORY", f"Debayer: CFA pattern {pattern.text}, method {method}", ""))
    properties = {k: v for k, v in image.properties.items() if not k.startswith("PCL:CFASource")}
    return Image(rgb.astype(np.float32, copy=False), keywords, properties)


def _noise(components: np.ndarray, algorithm: str) -> dict[str, Any]:
    """The noise estimates of the three channels, evaluated as PixInsight's Debayer does on the raw frame's
    CFA ``components`` (its SuperPixel demosaic: each a quarter of a demosaiced plane's pixels), in threads
    when this task may use several cores (:func:`procfw.batch.task_threads`: a serial run; one thread in a
    pool's worker)."""
    from procfw.batch import task_threads

    out: dict[str, Any] = {}
    name = "K-Sigma" if algorithm == "NoiseEvaluation_KSigma" else "MRS"
    threads = task_threads(3)
    if threads > 1:  # the estimators' compiled passes release the GIL
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads, thread_name_prefix="debayer-noise") as pool:
            estimates = list(pool.map(lambda c: estimate_noise(components[c], name, MRS_VALID_RANGE), range(3)))
    else:
        estimates = [estimate_noise(components[c], name, MRS_VALID_RANGE) for c in range(3)]
    for letter, est in zip("RGB", estimates):
        out[f"noiseEstimate{letter}"] = est.sigma
        out[f"noiseFraction{letter}"] = est.fraction
        out[f"noiseAlgorithm{letter}"] = est.algorithm
    return out


class Debayer(Process):
    """Demosaic a raw one-channel CFA (Bayer) image into an RGB image."""

    process_id = "Debayer"
    worker_preload = ("processes.debayer.worker",)  # its kernels alone, not every per-frame step's
    categories = ("ColorSpaces", "Preprocessing")
    key_outputs = ("cfaPattern", ("noise", ("noiseEstimateR", "noiseEstimateG", "noiseEstimateB")),
                   "succeeded", "failed", "skipped")
    is_history_updater = False
    is_maskable = False

    cfaPattern: str = param(Enumeration(elements=_PATTERNS, default="Auto", aliases=("BayerPattern", "bayerPattern"),
                                        description="CFA pattern; Auto reads BAYERPAT (with XBAYROFF/YBAYROFF and "
                                        "ROWORDER) or the PCL:CFASourcePattern property."))
    debayerMethod: str = param(Enumeration(elements=("SuperPixel", "Bilinear", "VNG"), default="VNG",
                                           aliases=("DebayerMethod",), description="Demosaicing method: SuperPixel "
                                           "(half size), Bilinear, or VNG (edge-aware variable number of gradients)."))
    fbddNoiseReduction: int = param(Int32(minimum=0, maximum=2, default=0, description="FBDD noise reduction "
                                          "(accepted; no effect)."))
    showImages: bool = param(Boolean(default=True, description="Show output images (the result of a view execution "
                                     "always opens)."))
    cfaSourceFilePath: str = param(String(description="Source file of the CFA view (kept; no effect)."))
    targetItems: tuple = param(file_list_table(
        "Raw CFA files to demosaic: rows (enabled, image). On the console also a glob such as \"raw/*.fits\".",
        path_column="image", path_description="Path of the raw CFA image file."))
    noGUIMessages: bool = param(Boolean(default=True, description="Deprecated (no effect)."))
    evaluateNoise: bool = param(Boolean(default=True, description="Estimate the noise of each channel on "
                                        "the raw frame's CFA components (noiseEstimateR/G/B outputs)."))
    noiseEvaluationAlgorithm: str = param(Enumeration(
        elements=("NoiseEvaluation_KSigma", "NoiseEvaluation_MRS", "NoiseEvaluation_NStar"),
        default="NoiseEvaluation_MRS", description="Noise estimator (NStar is evaluated as MRS)."))
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
    inputHints: str = param(String(default="raw cfa", description="Input format hints (kept; no effect)."))
    outputHints: str = param(String(default="", description="Output format hints (kept; no effect)."))
    outputRGBImages: bool = param(Boolean(default=True, description="Write the RGB result of each target file."))
    outputSeparateChannels: bool = param(Boolean(default=False, description="Also output the R, G and B channels "
                                                 "as separate images (files with _R/_G/_B after the postfix)."))
    outputDirectory: str = param(String(description="Directory of the output files (empty: each target's own)."))
    outputExtension: str = param(String(default=".xisf", description="Output file extension, which selects the "
                                        "format (.xisf, .fits, .fit)."))
    outputPrefix: str = param(String(default="", description="Prefix of the output file names."))
    outputPostfix: str = param(String(default="_d", description="Postfix of the output file names."))
    overwriteExistingFiles: bool = param(Boolean(default=False, description="Replace existing output files (else a "
                                                 "frame whose output exists fails)."))
    onError: str = param(Enumeration(elements=("OnError_Continue", "OnError_Abort", "OnError_AskUser"),
                                     default="OnError_Continue", description="What to do when a file fails: continue "
                                     "with the others, or stop (AskUser stops too)."))
    useFileThreads: bool = param(Boolean(default=True, description="Parallel file threads (no effect)."))
    fileThreadOverload: float = param(Float(minimum=1.0, maximum=10.0, default=1.0, precision=2,
                                            description="File thread overload (no effect)."))
    maxFileReadThreads: int = param(Int32(minimum=0, maximum=1024, default=0, description="Maximum file reading "
                                          "threads (no effect)."))
    maxFileWriteThreads: int = param(Int32(minimum=0, maximum=1024, default=0, description="Maximum file writing "
                                           "threads (no effect)."))
    memoryLoadControl: bool = param(Boolean(default=True, description="Memory load control (no effect)."))
    memoryLoadLimit: float = param(Float(minimum=0.10, maximum=1.00, default=0.85, precision=2,
                                         description="Memory load limit (no effect)."))
    # -- read-only outputs (PixInsight's: the run's outputs of the same ids, written into icons) -------------------
    outputImage: str = ro.text("Id of the RGB image of the last execution on a view.")
    outputChannelImageR: str = ro.text("Id of the red channel image (outputSeparateChannels).")
    outputChannelImageG: str = ro.text("Id of the green channel image (outputSeparateChannels).")
    outputChannelImageB: str = ro.text("Id of the blue channel image (outputSeparateChannels).")
    psfTotalFluxEstimateR: float = ro.real("PSF total flux estimate, red.", 4, scientific=True)
    psfTotalFluxEstimateG: float = ro.real("PSF total flux estimate, green.", 4, scientific=True)
    psfTotalFluxEstimateB: float = ro.real("PSF total flux estimate, blue.", 4, scientific=True)
    psfTotalPowerFluxEstimateR: float = ro.real("PSF total power flux estimate, red.", 4, scientific=True)
    psfTotalPowerFluxEstimateG: float = ro.real("PSF total power flux estimate, green.", 4, scientific=True)
    psfTotalPowerFluxEstimateB: float = ro.real("PSF total power flux estimate, blue.", 4, scientific=True)
    psfTotalMeanFluxEstimateR: float = ro.real("PSF total mean flux estimate, red.", 4, scientific=True)
    psfTotalMeanFluxEstimateG: float = ro.real("PSF total mean flux estimate, green.", 4, scientific=True)
    psfTotalMeanFluxEstimateB: float = ro.real("PSF total mean flux estimate, blue.", 4, scientific=True)
    psfTotalMeanPowerFluxEstimateR: float = ro.real("PSF total mean power flux estimate, red.", 4, scientific=True)
    psfTotalMeanPowerFluxEstimateG: float = ro.real("PSF total mean power flux estimate, green.", 4, scientific=True)
    psfTotalMeanPowerFluxEstimateB: float = ro.real("PSF total mean power flux estimate, blue.", 4, scientific=True)
    psfMStarEstimateR: float = ro.real("M* mean background estimate, red.", 4, scientific=True)
    psfMStarEstimateG: float = ro.real("M* mean background estimate, green.", 4, scientific=True)
    psfMStarEstimateB: float = ro.real("M* mean background estimate, blue.", 4, scientific=True)
    psfNStarEstimateR: float = ro.real("N* noise estimate, red.", 4, scientific=True)
    psfNStarEstimateG: float = ro.real("N* noise estimate, green.", 4, scientific=True)
    psfNStarEstimateB: float = ro.real("N* noise estimate, blue.", 4, scientific=True)
    psfCountR: int = ro.integer("Number of PSF fits, red.")
    psfCountG: int = ro.integer("Number of PSF fits, green.")
    psfCountB: int = ro.integer("Number of PSF fits, blue.")
    noiseEstimateR: float = ro.real("Noise estimate (standard deviation of Gaussian noise), red.", 3, scientific=True)
    noiseEstimateG: float = ro.real("Noise estimate (standard deviation of Gaussian noise), green.", 3, scientific=True)
    noiseEstimateB: float = ro.real("Noise estimate (standard deviation of Gaussian noise), blue.", 3, scientific=True)
    noiseFractionR: float = ro.real("Fraction of noise pixels, red.", 3)
    noiseFractionG: float = ro.real("Fraction of noise pixels, green.", 3)
    noiseFractionB: float = ro.real("Fraction of noise pixels, blue.", 3)
    noiseScaleLowR: float = ro.real("Noise scaling factor, low pixels, red.", 6, scientific=True)
    noiseScaleLowG: float = ro.real("Noise scaling factor, low pixels, green.", 6, scientific=True)
    noiseScaleLowB: float = ro.real("Noise scaling factor, low pixels, blue.", 6, scientific=True)
    noiseScaleHighR: float = ro.real("Noise scaling factor, high pixels, red.", 6, scientific=True)
    noiseScaleHighG: float = ro.real("Noise scaling factor, high pixels, green.", 6, scientific=True)
    noiseScaleHighB: float = ro.real("Noise scaling factor, high pixels, blue.", 6, scientific=True)
    noiseAlgorithmR: str = ro.text("Noise evaluation algorithm, red.")
    noiseAlgorithmG: str = ro.text("Noise evaluation algorithm, green.")
    noiseAlgorithmB: str = ro.text("Noise evaluation algorithm, blue.")
    outputFileData: tuple = ro.table(_OUTPUT_FILE_COLUMNS, "Per target file of the last global execution: "
                                     "files written and PSF signal and noise estimates per channel.")

    # -- read-only outputs ------------------------------------------------------------------------
    def icon_outputs(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """PixInsight's read-only parameters from the ``outputs`` of an execution: on a view, the
        image ids and noise estimates (reported under the same ids); globally, a row of
        ``outputFileData`` per target file.  PSF signal estimates stay zero (not evaluated)."""
        schema = type(self).schema()
        values = ro.scalars(schema, outputs)
        if self.outputSeparateChannels and "outputImage" in outputs:
            for c in ro.CHANNELS_RGB:
                values[f"outputChannelImage{c}"] = f"{outputs['outputImage']}_{c}"
        rows = outputs.get("outputData")
        if isinstance(rows, (list, tuple)):
            def cells(row: Mapping[str, Any]) -> dict[str, Any]:
                given = dict(row)
                given["filePath"] = row.get("outputFilePath") or "" if self.outputRGBImages else ""
                for c in ro.CHANNELS_RGB:
                    given[f"channelFilePath{c}"] = row.get(f"outputChannelFilePath{c}") or ""
                return given

            values["outputFileData"] = ro.table_rows(schema["outputFileData"],
                                                     [r for r in rows if isinstance(r, Mapping)], cells)
        return values

    # -- views ----------------------------------------------------------------------------------
    @staticmethod
    def _offset(view: View) -> tuple[int, int]:
        rect = getattr(view, "rect", None)
        return (rect.x0, rect.y0) if view.is_preview and rect is not None else (0, 0)

    def can_execute_on(self, view: View) -> tuple[bool, str]:
        image = view.image
        if image.channels != 1:
            return False, f"Debayer needs a one-channel raw CFA image; {view.id} has {image.channels} channels"
        minimum = 3 if self.debayerMethod == "VNG" else 2
        if image.width < minimum or image.height < minimum:
            return False, f"{view.id} is too small to demosaic ({image.width}×{image.height})"
        try:
            resolve_pattern(image, self.cfaPattern, offset=self._offset(view))
        except ExecutionError as exc:
            return False, str(exc)
        return True, ""

    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        offset = (0, 0)
        if context.workspace is not None and context.view_id is not None:
            offset = self._offset(context.workspace.view(context.view_id))
        pattern, source = resolve_pattern(image, self.cfaPattern, offset=offset)
        rgb = debayer_image(image, pattern, self.debayerMethod)
        base = f"{(context.view_id or 'Image').replace('->', '_')}_RGB_{self.debayerMethod}"
        new_images = {base: rgb}
        if self.outputSeparateChannels:
            for c, letter in enumerate("RGB"):
                new_images[f"{base}_{letter}"] = rgb.with_pixels(rgb.pixels[c : c + 1].copy())
        outputs: dict[str, Any] = {"outputImage": base, "cfaPattern": pattern.text, "cfaPatternSource": source}
        if self.evaluateNoise:
            outputs.update(_noise(self._noise_components(image, rgb, pattern), self.noiseEvaluationAlgorithm))
        return ProcessOutput(new_images=new_images, outputs=outputs)

    def _noise_components(self, image: Image, rgb: Image, pattern: CFAPattern) -> np.ndarray:
        """The raw frame's CFA components (the SuperPixel demosaic, which ``rgb`` already is with that method),
        whose noise Debayer evaluates."""
        return rgb.pixels if self.debayerMethod == "SuperPixel" else superpixel(image.pixels[0], pattern)

    # -- files -----------------------------------------------------------------------------------
    def can_execute_global(self) -> tuple[bool, str]:
        if not self.targetItems:
            return False, "no target images have been specified (targetItems is empty)"
        if not (self.outputRGBImages or self.outputSeparateChannels):
            return False, "neither outputRGBImages nor outputSeparateChannels is set: nothing to write"
        return True, ""

    def run_global(self, context: ExecutionContext) -> ProcessOutput:
        self.require_executable_global()
        rows = [(bool(r[0]), str(r[1])) for r in self.targetItems]
        outputs = {i: self._output_path(path) for i, (enabled, path) in enumerate(rows) if enabled}
        check_output_paths(self.process_id, [(rows[i][1], p) for i, p in outputs.items()], self.outputDirectory)
        outcomes = run_file_list(rows, process_id=self.process_id, on_error=_ON_ERROR[self.onError],
                                 context=context, instance=self)
        result, messages = summarize(self.process_id, outcomes)
        return ProcessOutput(outputs=result, messages=messages)

    def _output_path(self, source: str) -> Path:
        return output_file_path(source, directory=self.outputDirectory, prefix=self.outputPrefix,
                                postfix=self.outputPostfix, extension=self.outputExtension)

    def process_file(self, index: int, path: Path, options: Mapping[str, Any]) -> tuple[Path, dict[str, Any]]:
        """Demosaic one target file and write it (any worker; see :func:`run_file_list`)."""
        _, written, data = self.process_image(index, read_image(path), path, options)
        return written, data

    def _start_write(self, rgb: Image, target: Path) -> PendingWrite | None:
        """The RGB output's pixels written in a thread while the noise is evaluated (on the raw frame's CFA
        components), the header
        (with the noise keywords) written last (:func:`start_frame_write`), when the output is a plain
        float FITS file: the disk's time hides behind the noise evaluation.  Its header is placed
        for stand-in estimates: the real ones make the same cards unless one is not finite (then
        the file is written whole afterwards, as without this)."""
        if not self.outputRGBImages:
            return None
        stand_in = {f"{key}{letter}": value for letter in "RGB"
                    for key, value in (("noiseEstimate", 1.0), ("noiseFraction", 1.0), ("noiseAlgorithm", "MRS"))}
        return start_frame_write(Image(rgb.pixels, _noise_keywords(rgb.keywords, stand_in), rgb.properties), target,
                                 overwrite=self.overwriteExistingFiles)

    def process_image(self, index: int, image: Image, path: Path, options: Mapping[str, Any]
                      ) -> tuple[Image, Path, dict[str, Any]]:
        """Demosaic ``image`` (the content of target ``path``) and write it: ``(RGB image, written, results)``.

        The RGB image returned is the file's content (:func:`as_written`), for a next step
        applied in the same task.

        With ``evaluateNoise`` the noise estimates are also written as PixInsight's
        ``NOISExx``/``NOISEFxx``/``NOISEAxx`` keywords (ImageIntegration uses them for its
        noise weights, as it does those of ImageCalibration); the CFA frame's own noise
        keywords, which no longer apply, are dropped.
        """
        if image.channels != 1:
            raise ExecutionError(f"Debayer needs a one-channel raw CFA image; this one has {image.channels} "
                                 "channels")
        pattern, source = resolve_pattern(image, self.cfaPattern)
        rgb = debayer_image(image, pattern, self.debayerMethod)
        components = self._noise_components(image, rgb, pattern) if self.evaluateNoise else None
        del image  # the raw frame, freed here (its small noise components kept) when the caller handed it over
        # as PixInsight's Debayer: the raw source is recorded for CFA drizzle (StarAlignment copies it into .xdrz)
        rgb = Image(rgb.pixels, rgb.keywords, {**rgb.properties, "PCL:CFASourceFilePath": str(Path(path).absolute()),
                                               "PCL:CFASourcePattern": pattern.text,
                                               "PCL:CFASourceInterpolation": self.debayerMethod})
        target = self._output_path(str(path))
        data: dict[str, Any] = {"cfaPattern": pattern.text, "cfaPatternSource": source}
        pending = self._start_write(rgb, target) if components is not None else None
        try:
            if components is not None:
                data.update(_noise(components, self.noiseEvaluationAlgorithm))
                rgb = Image(rgb.pixels, _noise_keywords(rgb.keywords, data), rgb.properties)
            elif any(k.name.upper().startswith("NOISE") for k in rgb.keywords):
                rgb = Image(rgb.pixels, _noise_keywords(rgb.keywords, data, ""), rgb.properties)
        except BaseException:  # the started write must not be left waiting for its header
            if pending is not None:
                pending.abandon()
            raise
        finished = pending.finish(rgb.keywords) if pending is not None else None  # (abandons itself on failure)
        written = target
        if self.outputRGBImages:
            written = finished or write_frame(rgb, target, overwrite=self.overwriteExistingFiles)
            rgb = as_written(rgb, written)
        if self.outputSeparateChannels:
            for c, letter in enumerate("RGB"):
                channel_path = target.with_name(_channel_name(target, letter))
                channel = rgb.with_pixels(rgb.pixels[c : c + 1].copy())
                if self.evaluateNoise:
                    channel = Image(channel.pixels, _noise_keywords(channel.keywords, data, letter), channel.properties)
                write_frame(channel, channel_path, overwrite=self.overwriteExistingFiles)
                data[f"outputChannelFilePath{letter}"] = str(channel_path)
        return rgb, written, data


def _noise_keywords(keywords: Sequence[FITSKeyword], data: Mapping[str, Any], letters: str = "RGB"
                    ) -> list[FITSKeyword]:
    """``keywords`` without NOISE* cards, plus NOISExx/NOISEFxx/NOISEAxx of the noise estimates in ``data`` of
    the channels ``letters`` (channel #0 is the first letter)."""
    cards = [k for k in keywords if not k.name.upper().startswith("NOISE")]
    for i, letter in enumerate(letters):
        sigma, fraction = data[f"noiseEstimate{letter}"], data[f"noiseFraction{letter}"]
        if not (math.isfinite(sigma) and math.isfinite(fraction)):
            continue  # no estimate (a blank channel): ImageIntegration estimates it itself
        cards += [
            FITSKeyword(f"NOISE{i:02d}", float(f"{sigma:.4e}"), f"Noise estimate, channel #{i}"),
            FITSKeyword(f"NOISEF{i:02d}", float(f"{fraction:.3f}"), f"Fraction of noise pixels, channel #{i}"),
            FITSKeyword(f"NOISEA{i:02d}", str(data[f"noiseAlgorithm{letter}"]),
                        f"Noise evaluation algorithm, channel #{i}"),
        ]
    return cards


def _channel_name(target: Path, letter: str) -> str:
    name = target.name
    for compound in (".fits.gz", ".fit.gz", ".fts.gz"):
        if name.lower().endswith(compound):
            return f"{name[: -len(compound)]}_{letter}{name[-len(compound):]}"
    return f"{target.stem}_{letter}{target.suffix}"
