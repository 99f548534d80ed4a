"""StarAlignment: register images to a reference by matching their stars (PixInsight StarAlignment).

PixInsight's process id, parameter ids, enumeration element ids and defaults (module of
PixInsight 1.8.9), so scripts and icons carry over.

What it does, per target: detect stars (:mod:`~processes.staralignment.stars`), match
asterisms against the reference's stars (triangle descriptors matched by their invariants, surviving
shifts, rotations, mirror flips and scale changes; :mod:`~processes.staralignment.matching`),
estimate the transformation with RANSAC and fit it by least squares to every star pair it
explains (:mod:`~processes.staralignment.ransac`), then resample the target onto the
reference grid (:mod:`~processes.staralignment.resample`).  Every target reports its
detected and matched stars, RANSAC inliers, RMS residual (reference pixels) and the
registration matrix ``H`` (reference → target pixel coordinates, PixInsight's convention); a
frame that cannot be registered is reported with the reason (``too few stars (3 < 6)``,
``no asterism match: ...``), not dropped silently.

Execution:

* **Globally** over ``targets`` (rows ``enabled, isFile, image``; on the console also a glob
  such as ``-targets="lights/*.fits"``), the reference being a file (``referenceIsFile``) or a
  view id.  In ``RegisterMatch`` mode each registered frame is written to
  ``outputDirectory/outputPrefix + name + outputPostfix + outputExtension`` (atomically,
  never replacing a file unless ``overwriteExistingFiles``), with ``generateMasks`` also its
  coverage mask (``... + outputPostfix + maskPostfix``); view targets open as new images
  ``<view>_r``.  ``OutputMatrix`` computes and reports without writing.
* **On a view**: the view is registered to the reference (``RegisterMatch``; its geometry
  becomes the reference's), or only measured (``OutputMatrix``), or merged with the reference
  on a canvas holding both (``RegisterUnion``: one mosaic image replacing the view, target
  pixels over reference pixels; ``RegisterUnionSeparate``: two new images
  ``<view>_mosaic_1``/``_2``); the diagnostic modes open new images: ``DrawStars``
  (detected stars), ``DrawPutativeStarMatches`` / ``DrawMatchedStars`` (target stars of
  matched triangles / of the final fit), ``StructureMap`` (pixels of detected structures) and
  ``Structures`` (the multiscale structure map).

Outputs per target (``outputs["outputData"]`` rows in global execution, ``outputs`` on a
view): ``status``/``error`` (the reason when it failed), ``outputFilePath`` (file or new view
id), ``referenceStars``, ``starsDetected``, ``putativeMatches`` (star pairs most voted by the
``triangleMatches`` matched triangles), ``matchedStars`` = ``inliers`` (pairs the final
transformation maps within ``ransacTolerance``), ``rmsError`` (reference pixels),
``peakErrorX``/``peakErrorY``, ``overlapping``, ``regularity``, ``quality``, the matrix
(``matrix`` and ``H11``..``H33``, reference → target), its decomposition (``dx``, ``dy``,
``rotation`` in degrees, ``scale``, ``scaleX``, ``scaleY``, ``skew``, ``mirror``), the
``interpolation`` kernel used, ``frameAdaptation`` coefficients and ``seconds``.  Registered
images carry HISTORY cards (reference, model, matrix rows, interpolation, star pairs, RMS)
and the keywords ``ALIGNRMS`` and ``ALIGNSTR`` when ``writeKeywords``.

``generateDrizzleData`` (on by default, as in PixInsight): each registered file gets its drizzle
data ``<output name without extension>.xdrz`` beside it (source file, reference geometry, the
matrix ``H``, and the raw CFA source of a debayered target; see ``_write_drizzle_data`` and
:mod:`processes.kernels.drizzledata`); ImageIntegration adds its normalization, weights and
rejection maps, DrizzleIntegration integrates them.

Registration model: PixInsight fits a projective transformation (homography), or a rigid
one with ``rigidTransformations``; so does procfw (the engine can also fit affine and
similarity models, :class:`~processes.staralignment.engine.MatchSettings`, but no
parameter selects them: PixInsight 1.9 has none).

Parameters: exactly PixInsight 1.9's (ids, order, defaults; ``toSource()`` of a PixInsight
1.9.4 instance), with the read-only ``outputData`` table PixInsight writes into icons after
an execution (see :meth:`StarAlignment.icon_outputs`).  Ids of older procfw icons that
PixInsight 1.9 does not have (``transformationModel``, ``trianglesPerStar``,
``noGUIMessages``, ``distortionTolerance``, ``distortionAmplitude``, ``useSurfaceSplines``,
``localDistortion*``, ``extrapolateLocalDistortion``) are reported as unknown parameters
and ignored when such an icon is loaded.

Accepted for icon compatibility without effect (a message says so when they would
matter): distortion correction and surface splines (``distortionCorrection``,
``rbfType``, ``spline*``, ``distortionModel``...; the projective model is always used),
``generateDistortionMaps``, ``targetCSVFilePath``, polygon descriptors (``useTriangles`` =
false and ``polygonSides``: triangle descriptors are always used, which also handle
mirrored frames), ``intersection``, hints, threads and memory options.  ``onError`` =
AskUser stops like Abort.
"""

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids
from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from processes.common import outputs as ro
from processes.common.filelists import (
    FileListTable,
    check_output_paths,
    file_key,
    float_fits_bitpix,
    output_file_path,
    run_file_list,
    runs_remotely,
    summarize,
    worker_state,
)
from processes.staralignment import models
from processes.staralignment.engine import AlignmentError, MatchSettings, align_stars, check_star_count
from processes.staralignment.frames import (
    adapt_frame,
    detection_plane,
    output_keywords,
    read_for_detection,
    sample_format_of,
    without_pixels,
    write_output,
)
from processes.staralignment.ransac import RansacSettings, Registration
from processes.staralignment.resample import INTERPOLATIONS, choose_kernel, warp, warp_bands
from processes.staralignment.stars import DetectionSettings, StarList, detect_stars, robust_sigma, structure_map
from procfw.errors import ExecutionError, ProcfwError, UnknownNameError
from procfw.image import FITSKeyword, Image
from procfw.io import read_image
from procfw.params import Block, Boolean, Double, Enumeration, Float, Int32, ParameterKind, String, UInt32, param
from procfw.process import ExecutionContext, Process, ProcessOutput
from procfw.workspace import View, make_id

__all__ = ["StarAlignment"]

log = logging.getLogger(__name__)

MODES = (
    "RegisterMatch",
    "RegisterUnion",
    "RegisterUnionSeparate",
    "OutputMatrix",
    "StructureMap",
    "Structures",
    "DrawStars",
    "DrawPutativeStarMatches",
    "DrawMatchedStars",
)
_BATCH_MODES = frozenset({"RegisterMatch", "OutputMatrix"})
_ON_ERROR = {"Continue": "Continue", "Abort": "Abort", "AskUser": "AskUser"}


def _enum(elements: tuple[str, ...], default: str, description: str, **kw: Any) -> Any:
    return param(Enumeration(elements=elements, default=default, description=description, **kw))


def _float(default: float, low: float | None, high: float | None, precision: int, description: str) -> Any:
    return param(Float(default=default, minimum=low, maximum=high, precision=precision, description=description))


def _double(default: float, low: float | None, high: float | None, precision: int, description: str) -> Any:
    return param(Double(default=default, minimum=low, maximum=high, precision=precision, description=description))


def _bool(default: bool, description: str) -> Any:
    return param(Boolean(default=default, description=description))


def _int(default: int, low: int | None, high: int | None, description: str) -> Any:
    return param(Int32(default=default, minimum=low, maximum=high, description=description))


def _text(default: str, description: str) -> Any:
    return param(String(default=default, description=description))


def _output_columns() -> tuple[ParameterKind, ...]:
    """The columns of PixInsight 1.9's read-only ``outputData`` (ids and order as PixInsight lists them).

    StarAlignment's sources are not published: the kinds are procfw's reading of the
    values (image ids as text, counts as UInt32, coordinate lists as Blocks) and reals
    are written with as many significant digits as they need."""
    def real(id_: str, what: str) -> Double:
        return Double(id=id_, read_only=True, precision=16, general=True, allow_nonfinite=True, description=what)

    cols: list[ParameterKind] = [
        String(id="outputImage", read_only=True, description="Registered image: file path or view id."),
        String(id="outputMask", read_only=True, description="Coverage mask: file path or view id."),
        UInt32(id="totalPairMatches", read_only=True, description="Putative star pair matches."),
        UInt32(id="inliers", read_only=True, description="Star pairs the transformation maps within tolerance."),
        real("overlapping", "Overlap of the target with the reference (0..1)."),
        real("regularity", "Spatial regularity of the matched stars (0..1)."),
        real("quality", "Quality of the registration (RANSAC score)."),
        real("rmsError", "RMS error of the star pairs, reference pixels."),
        real("rmsErrorDev", "Deviation of the RMS error, reference pixels."),
        real("peakErrorX", "Largest error along X, reference pixels."),
        real("peakErrorY", "Largest error along Y, reference pixels."),
    ]
    cols += [real(f"H{i}{j}", f"Registration matrix element ({i},{j}), reference to target.")
             for i in (1, 2, 3) for j in (1, 2, 3)]
    cols += [real(f"frameAdaptation{what}{c}", f"Frame adaptation {what.lower()}, channel {c}.")
             for what in ("Bias", "Slope", "AvgDev") for c in ("RK", "G", "B")]
    cols += [Block(id=id_, read_only=True, description=f"Matched stars: {id_[:-1]} {id_[-1]} coordinates.")
             for id_ in ("referenceStarX", "referenceStarY", "targetStarX", "targetStarY")]
    cols.append(String(id="outputDistortionMap", read_only=True, description="Distortion map file (none in procfw)."))
    return tuple(cols)


_OUTPUT_COLUMNS = _output_columns()


def _targets_table() -> FileListTable:
    return FileListTable(
        columns=(
            Boolean(id="enabled", default=True, description="Whether this target is registered."),
            Boolean(id="isFile", default=True, description="True: image is a file path; false: a view id."),
            String(id="image", description="Path of the target image file, or the id of a target view."),
        ),
        path_column="image",
        description="Target images: rows (enabled, isFile, image). On the console also a glob such as "
                    "\"lights/*.fits\" or a list of paths.",
    )


class StarAlignment(Process):
    """Register images to a reference image by matching their stars.

    Detects stars, matches star asterisms (triangles) between each target and the
    reference, fits the transformation with RANSAC and least squares, and resamples the
    target onto the reference grid; reports matched stars and the RMS residual per frame.
    """

    process_id = "StarAlignment"
    worker_preload = ("processes.staralignment.worker",)  # its kernels alone, not every per-frame step's
    categories = ("ImageRegistration", "Preprocessing")
    is_history_updater = True
    is_maskable = False

    # -- star detection ------------------------------------------------------------------
    structureLayers: int = _int(5, 1, 8, "Wavelet layers for structure detection: structures up to 2^n pixels; "
                                         "larger ones form the background.")
    noiseLayers: int = _int(0, 0, 4, "Smallest wavelet layers left out of the structure map (noise reduction).")
    hotPixelFilterRadius: int = _int(1, 0, 2, "Radius of the median filter removing hot pixels before detection.")
    noiseReductionFilterRadius: int = _int(0, 0, 50, "Radius of a Gaussian noise reduction filter before detection "
                                                     "(0: none).")
    minStructureSize: int = _int(0, 0, 999999, "Smallest structure, in pixels, that can be a star (0: automatic, "
                                               "3 pixels).")
    sensitivity: float = _float(0.50, 0.0, 1.0, 2, "Star detection sensitivity: the threshold is 2 + 6(1 - s) "
                                                   "times the noise of the structure map.")
    peakResponse: float = _float(0.50, 0.0, 1.0, 2, "Peak response: structures flatter than 0.75 + 0.2 p (mean "
                                                    "over peak) are rejected.")
    brightThreshold: float = _float(3.00, 1.0, 100.0, 2, "Bright star threshold (no effect).")
    maxStarDistortion: float = _float(0.60, 0.0, 1.0, 2, "Maximum star distortion: structures covering less than "
                                                         "(1 - d) pi/4 of their bounding square are rejected.")
    allowClusteredSources: bool = _bool(False, "Accept structures with several local maxima (double stars, "
                                               "blends); their centroids are less accurate.")
    localMaximaDetectionLimit: float = _float(0.75, 0.0, 1.0, 2, "Pixels brighter than this are not tested for "
                                                                 "multiple local maxima (saturated cores).")
    upperLimit: float = _float(1.000, 0.0, 1.0, 3, "Stars whose peak exceeds this value are rejected.")
    invert: bool = _bool(False, "Detect dark stars on a bright background (invert the image).")

    # -- registration model --------------------------------------------------------------
    distortionModel: str = _text("", "Distortion model file (kept; distortion correction is not implemented).")
    undistortedReference: bool = _bool(False, "The reference is free of distortion (no effect).")
    rigidTransformations: bool = _bool(False, "Fit rigid transformations (rotation and translation only) instead "
                                              "of the projective transformation (homography).")
    distortionCorrection: bool = _bool(False, "Distortion correction with surface splines (not implemented: the "
                                              "projective model is fitted; noted in the messages).")
    distortionMaxIterations: int = _int(20, 0, 100, "Distortion correction iterations (no effect).")
    distortionMatcherExpansion: float = _float(1.0, 1.0, 10.0, 2, "Distortion matcher expansion (no effect).")
    rbfType: str = _enum(
        ("ThinPlateSpline", "VariableOrder", "Multiquadric", "DDMThinPlateSpline", "DDMVariableOrder",
         "DDMMultiquadric"),
        "DDMThinPlateSpline", "Radial basis function of surface splines (no effect).")
    maxSplinePoints: int = _int(4000, 16, 1000000, "Maximum surface spline points (no effect).")
    splineOrder: int = _int(2, 2, 5, "Surface spline derivative order (no effect).")
    splineSmoothness: float = _float(0.005, 0.0, 100.0, 3, "Surface spline smoothness (no effect).")
    splineOutlierDetectionRadius: int = _int(160, 0, 10000, "Surface spline outlier detection radius (no effect).")
    splineOutlierDetectionMinThreshold: float = _float(4.0, 0.0, 100.0, 1,
                                                       "Surface spline outlier minimum threshold (no effect).")
    splineOutlierDetectionSigma: float = _float(5.0, 0.0, 100.0, 1, "Surface spline outlier sigma (no effect).")

    # -- star matching -------------------------------------------------------------------
    matcherTolerance: float = _float(0.0500, 0.0001, 0.5, 4, "Star matcher tolerance: triangle descriptors match "
                                                             "within half this distance.")
    ransacTolerance: float = _float(1.90, 0.1, 100.0, 4, "RANSAC tolerance: largest distance in pixels between a "
                                                         "star and its transformed match.")
    ransacMaxIterations: int = _int(2000, 1, 1000000, "Maximum RANSAC hypotheses tried.")
    ransacMaximizeInliers: float = _float(1.00, 0.0, 1.0, 2, "Weight of the inlier count in RANSAC quality.")
    ransacMaximizeOverlapping: float = _float(1.00, 0.0, 1.0, 2, "Weight of the frame overlap in RANSAC quality.")
    ransacMaximizeRegularity: float = _float(1.00, 0.0, 1.0, 2, "Weight of the inliers' spatial regularity in "
                                                                "RANSAC quality.")
    ransacMinimizeError: float = _float(1.00, 0.0, 1.0, 2, "Weight of the RMS error in RANSAC quality.")
    maxStars: int = _int(0, 0, 999999, "Maximum stars detected per image, brightest first (0: no limit).")
    fitPSF: str = _enum(("FitPSF_Never", "FitPSF_Always", "FitPSF_DistortionOnly"), "FitPSF_DistortionOnly",
                        "Refine star positions with Gaussian PSF fits: always, or never (DistortionOnly: never, as "
                        "distortion correction is not implemented).")
    psfTolerance: float = _float(0.50, 0.1, 16.0, 2, "PSF fits whose centre lies farther than this (pixels) from "
                                                     "the barycentre are discarded.")
    useTriangles: bool = _bool(False, "Use triangle descriptors (procfw always does; polygons are not implemented).")
    polygonSides: int = _int(5, 3, 8, "Sides of polygon descriptors (no effect: triangles are used).")
    descriptorsPerStar: int = _int(20, 3, 200, "Triangle descriptors per star: each star forms triangles with "
                                               "pairs of its k nearest stars, C(k, 2) >= this.")
    restrictToPreviews: bool = _bool(True, "When the reference is a view with previews, use only the reference "
                                           "stars inside its previews.")
    intersection: str = _enum(("NoIntersection", "MosaicOnly", "Always"), "MosaicOnly",
                              "Intersection handling (no effect).")
    useBrightnessRelations: bool = _bool(False, "Match only triangles whose stars have the same brightness order.")
    useScaleDifferences: bool = _bool(False, "Match only triangles whose scale is within scaleTolerance of the "
                                             "dominant scale.")
    scaleTolerance: float = _float(0.100, 0.001, 1.0, 3, "Relative scale tolerance of useScaleDifferences.")

    # -- reference and targets -----------------------------------------------------------
    referenceImage: str = _text("", "Reference image: a view id, or a file path when referenceIsFile.")
    referenceIsFile: bool = _bool(False, "The reference is a file (true) or a view (false).")
    targets: tuple = param(_targets_table())
    targetCSVFilePath: str = _text("", "CSV file listing the target images (PixInsight 1.9; accepted, not read: "
                                      "give targets instead).")
    inputHints: str = _text("", "Format hints for reading input files (kept; no effect).")
    outputHints: str = _text("", "Format hints for writing output files (kept; no effect).")
    mode: str = _enum(MODES, "RegisterMatch",
                      "Working mode: register targets (RegisterMatch), mosaic with the reference (RegisterUnion, "
                      "RegisterUnionSeparate; view execution), compute and report only (OutputMatrix), or "
                      "diagnostic images of stars and structures (view execution).")
    writeKeywords: bool = _bool(True, "Write HISTORY and ALIGNRMS/ALIGNSTR keywords into registered images.")
    generateMasks: bool = _bool(False, "Also output the coverage mask of each registered image (1 where the target "
                                       "covers the reference grid).")
    generateDrizzleData: bool = _bool(True, "Write drizzle data (.xdrz) files beside the registered "
                                             "files.")
    generateDistortionMaps: bool = _bool(False, "Write distortion maps (not implemented; no effect).")
    generateHistoryProperties: bool = _bool(True, "Write history properties (no effect; see writeKeywords).")
    inheritAstrometricSolution: bool = _bool(False, "Copy the reference's astrometric solution (WCS keywords) into "
                                                   "registered images; the target's own is always removed.")
    frameAdaptation: bool = _bool(False, "Match each registered target's intensities to the reference over their "
                                         "overlap (robust linear fit per channel).")
    randomizeMosaic: bool = _bool(False, "RegisterUnion: take overlapping pixels at random from the target or the "
                                         "reference instead of always from the target.")

    # -- resampling ----------------------------------------------------------------------
    pixelInterpolation: str = _enum(
        INTERPOLATIONS, "Auto",
        "Pixel interpolation: Auto uses Lanczos-3 at about equal scales, the Mitchell-Netravali filter when the "
        "target is reduced by more than 1.25 and the bicubic spline when it is enlarged by more than 1.25.")
    clampingThreshold: float = _float(0.30, 0.0, 1.0, 2, "Deringing clamping threshold of the bicubic spline and "
                                                         "Lanczos interpolations (lower: stronger).")

    # -- output files --------------------------------------------------------------------
    outputDirectory: str = _text("", "Directory of the registered files (empty: each target's own directory).")
    outputExtension: str = _text(".xisf", "Output file extension, which selects the format (.xisf, .fits, .fit).")
    outputPrefix: str = _text("", "Prefix of the output file names.")
    outputPostfix: str = _text("_r", "Postfix of the output file names.")
    maskPostfix: str = _text("_m", "Postfix added after outputPostfix to the names of coverage mask files.")
    distortionMapPostfix: str = _text("_dm", "Postfix of distortion map files (no effect).")
    outputSampleFormat: str = _enum(("i8", "i16", "i32", "f32", "f64", "SameAsTarget"), "SameAsTarget",
                                    "Sample format of the output files (SameAsTarget: that of the target file).")
    overwriteExistingFiles: bool = _bool(False, "Replace existing output files (else such a target fails).")
    onError: str = _enum(("Continue", "Abort", "AskUser"), "Continue",
                         "When a target fails: continue with the others, or stop (AskUser stops too).")
    useFileThreads: bool = _bool(True, "Parallel file threads (no effect).")
    fileThreadOverload: float = _float(1.0, 1.0, 10.0, 2, "File thread overload (no effect).")
    maxFileReadThreads: int = _int(0, 0, 1024, "Maximum file reading threads (no effect).")
    maxFileWriteThreads: int = _int(0, 0, 1024, "Maximum file writing threads (no effect).")
    memoryLoadControl: bool = _bool(True, "Memory load control (no effect).")
    memoryLoadLimit: float = _float(0.85, 0.10, 1.00, 2, "Memory load limit (no effect).")

    # -- read-only outputs (PixInsight 1.9's, written into icons after an execution) -------------------------------
    outputData: tuple = ro.table(_OUTPUT_COLUMNS, "Per target of the last execution (read-only output, "
                                 "PixInsight's columns): output image and mask, star pair matches, inliers, "
                                 "quality figures, errors, the matrix H (reference to target), frame adaptation "
                                 "coefficients and the matched star coordinates. procfw's run outputs hold "
                                 "richer rows under the same id (status, error, outputFilePath, ...).")

    # -- read-only outputs ------------------------------------------------------------------------
    def icon_outputs(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """PixInsight's read-only ``outputData`` from the ``outputs`` of an execution of this instance.

        A row per target, as PixInsight writes them into an icon after an execution:
        ``outputImage`` (file or new view; empty when the target failed), ``outputMask``,
        ``totalPairMatches`` (putative matches), ``inliers``, the quality figures, ``H11`` ..
        ``H33`` and the frame adaptation coefficients.  procfw does not keep the matched star
        coordinates, so those Blocks are empty.  An execution on a view gives one row.
        """
        rows = outputs.get("outputData")
        if not isinstance(rows, (list, tuple)):
            rows = [outputs] if "H11" in outputs else []

        def cells(row: Mapping[str, Any]) -> dict[str, Any]:
            values = dict(row)
            values["outputImage"] = row.get("outputFilePath") or ""
            values["outputMask"] = row.get("outputMaskFilePath") or ""
            values["totalPairMatches"] = row.get("putativeMatches")
            for c, fit in zip(("RK", "G", "B"), row.get("frameAdaptation") or ()):
                values[f"frameAdaptationBias{c}"] = fit.get("offset")
                values[f"frameAdaptationSlope{c}"] = fit.get("scale")
            return values

        kind = type(self).parameter("outputData")
        return {"outputData": ro.table_rows(kind, [r for r in rows if isinstance(r, Mapping)], cells)}

    # -- settings --------------------------------------------------------------------------------
    def model(self) -> str:
        """The transformation model fitted (rigid, similarity, affine or homography)."""
        return "rigid" if self.rigidTransformations else "homography"

    def detection_settings(self) -> DetectionSettings:
        """Star detection settings from the parameters."""
        return DetectionSettings(
            structure_layers=self.structureLayers,
            noise_layers=self.noiseLayers,
            hot_pixel_radius=self.hotPixelFilterRadius,
            noise_reduction_radius=self.noiseReductionFilterRadius,
            min_structure_size=self.minStructureSize,
            sensitivity=self.sensitivity,
            peak_response=self.peakResponse,
            max_distortion=self.maxStarDistortion,
            allow_clustered=self.allowClusteredSources,
            local_maxima_limit=self.localMaximaDetectionLimit,
            upper_limit=self.upperLimit,
            invert=self.invert,
            max_stars=self.maxStars,
            fit_psf=self.fitPSF == "FitPSF_Always",
            psf_tolerance=self.psfTolerance,
        )

    def match_settings(self) -> MatchSettings:
        """Star matching settings from the parameters."""
        return MatchSettings(
            model=self.model(),
            matcher_tolerance=self.matcherTolerance,
            ransac=RansacSettings(
                tolerance=self.ransacTolerance,
                max_iterations=self.ransacMaxIterations,
                w_inliers=self.ransacMaximizeInliers,
                w_overlap=self.ransacMaximizeOverlapping,
                w_regularity=self.ransacMaximizeRegularity,
                w_error=self.ransacMinimizeError,
            ),
            descriptors_per_star=self.descriptorsPerStar,
            use_scale_differences=self.useScaleDifferences,
            scale_tolerance=self.scaleTolerance,
            use_brightness_relations=self.useBrightnessRelations,
        )

    def _notes(self) -> list[str]:
        notes = []
        if self.distortionCorrection:
            notes.append("distortion correction / surface splines are not implemented; the "
                         f"{self.model()} model was fitted")
        if self.generateDrizzleData and self.mode == "RegisterMatch" and not all(r[1] for r in self.targets if r[0]):
            notes.append("generateDrizzleData: drizzle data are written for file targets only (not for views)")
        return notes

    # -- execution contexts ----------------------------------------------------------------------
    def can_execute_on(self, view: View) -> tuple[bool, str]:
        if view.is_preview:
            return False, "StarAlignment cannot be executed on previews"
        if not self.referenceImage.strip():
            return False, "no reference image has been specified (referenceImage is empty)"
        if not self.referenceIsFile and view.workspace is not None:
            try:
                view.workspace.view(self.referenceImage.strip())
            except ProcfwError:
                return False, f"the reference view '{self.referenceImage}' does not exist"
        return True, ""

    def can_execute_global(self) -> tuple[bool, str]:
        if not self.referenceImage.strip():
            return False, "no reference image has been specified (referenceImage is empty)"
        if self.mode not in _BATCH_MODES:
            return False, ("StarAlignment batch tasks can only work in the RegisterMatch and OutputMatrix modes "
                           f"(mode is {self.mode})")
        if not any(row[0] for row in self.targets):
            return False, "no target images have been specified (targets has no enabled row)"
        return True, ""

    # -- the reference -----------------------------------------------------------------------------
    def _reference(self, context: ExecutionContext) -> tuple[Image, StarList, str]:
        name = self.referenceImage.strip()
        if self.referenceIsFile:
            image, stars = self._file_reference()
            return image, stars, name
        try:
            image = context.image(name)
        except UnknownNameError as exc:
            if "/" in name or "\\" in name or "." in name:  # a file name given as a view id
                raise ExecutionError(f"StarAlignment: {exc}; '{name}' looks like a file: for a reference file, "
                                     "set referenceIsFile (-referenceIsFile+)") from None
            raise
        stars = detect_stars(detection_plane(image), self.detection_settings())
        if self.restrictToPreviews and context.workspace is not None and "->" not in name:
            window = context.workspace.window(name)
            rects = [(p.rect.x0, p.rect.y0, p.rect.x1, p.rect.y1) for p in window.previews.values()]
            if rects:
                stars = stars.inside(rects)
        return image, self._checked_reference_stars(stars, name), name

    def _checked_reference_stars(self, stars: StarList, name: str) -> StarList:
        try:
            check_star_count(stars, f"reference image {name}")
        except AlignmentError as exc:
            raise ExecutionError(f"StarAlignment: {exc}") from None
        return stars

    def _file_reference(self, keep_pixels: bool = True) -> tuple[Image, StarList]:
        """The reference file and its stars, kept per worker process for the frames of one run.

        ``keep_pixels`` false: the image kept holds the reference's size, keywords and
        properties but not its pixels (a read-only zero view in their place), which is all
        that registering target files needs unless ``frameAdaptation`` is on.
        """
        name = self.referenceImage.strip()

        def load() -> tuple[Image, StarList]:
            if keep_pixels:
                image = read_image(Path(name).expanduser())
                plane = detection_plane(image)
            else:  # the pixels let go before the detection: its memory is the frame's, not the two at once
                image, plane, _ = read_for_detection(Path(name).expanduser())
                image = without_pixels(image)  # a mono frame's plane is its pixels: the plane alone holds them
            stars = detect_stars(plane, self.detection_settings())
            return image, self._checked_reference_stars(stars, name)

        return worker_state((self.process_id, self, file_key(name), keep_pixels), load)

    # -- one frame ------------------------------------------------------------------------------------
    def _register(self, target: Image, ref_stars: StarList) -> tuple[Registration, StarList]:
        return self._match(detection_plane(target), ref_stars)

    def _match(self, plane: np.ndarray, ref_stars: StarList) -> tuple[Registration, StarList]:
        """The registration of the target whose detection plane is ``plane``, and its stars."""
        stars = detect_stars(plane, self.detection_settings())
        return align_stars(ref_stars, stars, self.match_settings()), stars

    def _resample(self, target: Image, reference: Image, reg: Registration,
                  progress=None) -> tuple[Image, np.ndarray, dict[str, Any]]:
        size = (reference.width, reference.height)
        kernel, radius = choose_kernel(self.pixelInterpolation, reg.matrix, size)
        pixels, mask = warp(target.pixels, reg.matrix, size, kernel=kernel, clamping=self.clampingThreshold,
                            radius=radius, progress=progress)
        np.clip(pixels, 0.0, 1.0, out=pixels)
        info: dict[str, Any] = {"interpolation": kernel}
        if self.frameAdaptation:
            pixels, coefficients = adapt_frame(pixels, mask, reference.pixels)
            info["frameAdaptation"] = [{"offset": a, "scale": b} for a, b in coefficients]
        cards, properties = self._output_keywords(target, reference, reg, kernel)
        return Image(pixels, cards, properties), mask, info

    def _resample_to_fits(self, target: Image, reference: Image, reg: Registration, path: Path, bitpix: int,
                          mask: np.ndarray | None) -> tuple[Path, dict[str, Any]]:
        """Resample ``target`` into the FITS file ``path`` a band of rows at a time (:func:`warp_bands`,
        :func:`procfw.io.fits.write_fits_bands`): the registered image is never held whole, and each
        band is written while the next one is resampled (``ahead``: the disk's time hidden).

        The same file as :meth:`_resample` then :func:`write_output` without frame adaptation;
        ``mask`` (reference height, width), when given, receives the coverage mask.  Returns
        the path written and the report's additions (as :meth:`_resample`).
        """
        from procfw.io.fits import write_fits_bands

        size = (reference.width, reference.height)
        kernel, radius = choose_kernel(self.pixelInterpolation, reg.matrix, size)

        def bands() -> Iterator[np.ndarray]:
            for first, values, covered in warp_bands(target.pixels, reg.matrix, size, kernel=kernel,
                                                     clamping=self.clampingThreshold, radius=radius, ahead=True):
                np.clip(values, 0.0, 1.0, out=values)
                if mask is not None:
                    mask[first : first + covered.shape[0]] = covered
                yield values

        cards, _ = self._output_keywords(target, reference, reg, kernel)
        written = write_fits_bands(cards, (target.channels, size[1], size[0]), bands(), path,
                                   overwrite=self.overwriteExistingFiles, bitpix=bitpix)
        return written, {"interpolation": kernel}

    def _output_keywords(self, target: Image, reference: Image, reg: Registration,
                         kernel: str) -> tuple[list[FITSKeyword], dict[str, Any]]:
        """The keywords and properties of ``target`` registered onto ``reference`` with ``kernel``."""
        history = []
        extra: list[FITSKeyword] = []
        if self.writeKeywords:
            m = reg.matrix
            history = [
                "Registration with procfw StarAlignment",
                f"StarAlignment.referenceImage: {self.referenceImage}",
                f"StarAlignment.transformationModel: {reg.model}",
                # one row per card: a FITS HISTORY text holds 72 characters
                *(f"StarAlignment.matrix.row{i + 1}: " + ", ".join(f"{v:.8g}" for v in row)
                  for i, row in enumerate(m)),
                f"StarAlignment.pixelInterpolation: {self.pixelInterpolation} ({kernel})",
                f"StarAlignment.clampingThreshold: {self.clampingThreshold:.2f}",
                f"StarAlignment.starPairs: {reg.inliers}",
                f"StarAlignment.rmsError: {reg.rms:.4f} px",
            ]
            extra = [
                FITSKeyword("ALIGNRMS", round(reg.rms, 4), "StarAlignment RMS residual, pixels"),
                FITSKeyword("ALIGNSTR", reg.inliers, "StarAlignment matched star pairs"),
            ]
        return output_keywords(target, reference, inherit_astrometry=self.inheritAstrometricSolution,
                               history=history, extra=extra)

    @staticmethod
    def _report(reg: Registration, stars: StarList, ref_stars: StarList, seconds: float) -> dict[str, Any]:
        m = reg.matrix
        out: dict[str, Any] = {
            "referenceStars": len(ref_stars),
            "starsDetected": len(stars),
            "putativeMatches": reg.putative,
            "triangleMatches": reg.triangles,
            "matchedStars": reg.inliers,
            "inliers": reg.inliers,
            "rmsError": reg.rms,
            "peakErrorX": reg.peak_error_x,
            "peakErrorY": reg.peak_error_y,
            "overlapping": reg.overlap,
            "regularity": reg.regularity,
            "quality": reg.quality,
            "transformationModel": reg.model,
            "matrix": [[float(v) for v in row] for row in m],
        }
        for i in range(3):
            for j in range(3):
                out[f"H{i + 1}{j + 1}"] = float(m[i, j])
        out.update({k: v for k, v in models.decompose(m).items() if k not in ("h31", "h32")})
        out["seconds"] = seconds
        return out

    # -- global execution ---------------------------------------------------------------------------
    def run_global(self, context: ExecutionContext) -> ProcessOutput:
        self.require_executable_global()
        rows = [(bool(r[0]), bool(r[1]), str(r[2])) for r in self.targets]
        files_only = self.referenceIsFile and all(is_file for enabled, is_file, _ in rows if enabled)
        if files_only and Path(self.referenceImage.strip()).expanduser().is_file() and runs_remotely(self):
            # every frame goes to a worker, which loads the reference (once per worker): not here too
            return self._run_files(context, rows)
        context.report(0.0, "StarAlignment: reference stars")
        reference, ref_stars, ref_name = self._reference(context)
        writing = self.mode == "RegisterMatch"
        if writing:
            outputs = {i: self._output_path(path) for i, (enabled, is_file, path) in enumerate(rows)
                       if enabled and is_file}
            check_output_paths(self.process_id, [(rows[i][2], p) for i, p in outputs.items()], self.outputDirectory)
        new_images: dict[str, Image] = {}
        file_rows = [(e, p) for e, _, p in rows]
        if files_only:
            # files only: any worker can align a frame (through the current executor)
            outcomes = run_file_list(file_rows, process_id=self.process_id, on_error=_ON_ERROR[self.onError],
                                     context=context, instance=self)
        else:
            def work(index: int, path: Path) -> tuple[Path | str, dict[str, Any]]:
                enabled, is_file, name = rows[index]
                if is_file:
                    return self._align_file(Path(name), reference, ref_stars)
                start = time.perf_counter()
                data, image, mask = self._align(context.image(name), name, reference, ref_stars)
                written = ""
                if image is not None:
                    view_id = make_id(f"{name.replace('->', '_')}{self.outputPostfix or '_r'}")
                    new_images[view_id] = image
                    if self.generateMasks and mask is not None:
                        new_images[view_id + (self.maskPostfix or "_m")] = Image(mask.astype(np.float32)[None])
                    written = view_id
                data["seconds"] = time.perf_counter() - start
                return written, data

            outcomes = run_file_list(file_rows, work, process_id=self.process_id, on_error=_ON_ERROR[self.onError],
                                     context=context)
        cfa_targets = [o.path for o in outcomes if o.data.get("cfaTarget")]
        for outcome in outcomes:
            if isinstance(outcome.data, dict):
                outcome.data.pop("cfaTarget", None)
        result, messages = summarize(self.process_id, outcomes)
        result["referenceImage"] = ref_name
        result["referenceStars"] = len(ref_stars)
        notes = self._notes()
        if cfa_targets and writing:
            notes.append(f"{len(cfa_targets)} target(s) are raw CFA images (e.g. {cfa_targets[0]}): registration "
                         "interpolates across the Bayer mosaic; debayer them first")
        return ProcessOutput(outputs=result, new_images=new_images, messages=(*notes, *messages))

    def _run_files(self, context: ExecutionContext, rows: list[tuple[bool, bool, str]]) -> ProcessOutput:
        """Files only, every frame on a worker (see :func:`runs_remotely`): the reference is loaded there.

        A reference that cannot be used fails every frame with the same reason (and so the
        run: no image could be processed).
        """
        if self.mode == "RegisterMatch":
            outputs = {i: self._output_path(path) for i, (enabled, _, path) in enumerate(rows) if enabled}
            check_output_paths(self.process_id, [(rows[i][2], p) for i, p in outputs.items()], self.outputDirectory)
        outcomes = run_file_list([(e, p) for e, _, p in rows], process_id=self.process_id,
                                 on_error=_ON_ERROR[self.onError], context=context, instance=self)
        cfa_targets = [o.path for o in outcomes if o.data.get("cfaTarget")]
        for outcome in outcomes:
            if isinstance(outcome.data, dict):
                outcome.data.pop("cfaTarget", None)
        result, messages = summarize(self.process_id, outcomes)
        result["referenceImage"] = self.referenceImage.strip()
        result["referenceStars"] = next((int(o.data["referenceStars"]) for o in outcomes
                                         if o.ok and "referenceStars" in o.data), 0)
        notes = self._notes()
        if cfa_targets and self.mode == "RegisterMatch":
            notes.append(f"{len(cfa_targets)} target(s) are raw CFA images (e.g. {cfa_targets[0]}): registration "
                         "interpolates across the Bayer mosaic; debayer them first")
        return ProcessOutput(outputs=result, messages=(*notes, *messages))

    def _output_path(self, source: str, postfix: str = "") -> Path:
        return output_file_path(source, directory=self.outputDirectory, prefix=self.outputPrefix,
                                postfix=self.outputPostfix + postfix, extension=self.outputExtension)

    def _align(self, target: Image, name: str, reference: Image, ref_stars: StarList
               ) -> tuple[dict[str, Any], Image | None, np.ndarray | None]:
        """Register ``target`` (and resample it in RegisterMatch mode): the per-frame report, image and mask."""
        reg, stars = self._register(target, ref_stars)
        data = self._frame_report(reg, stars, ref_stars, target, name)
        image = mask = None
        if self.mode == "RegisterMatch":
            image, mask, info = self._resample(target, reference, reg)
            data.update(info)
        return data, image, mask

    def _frame_report(self, reg: Registration, stars: StarList, ref_stars: StarList, target: Image,
                      name: str) -> dict[str, Any]:
        """The per-frame report of ``target`` (its pixels are not needed), logged."""
        data = self._report(reg, stars, ref_stars, 0.0)
        if target.channels == 1 and (target.keyword("BAYERPAT") or "PCL:CFASourcePattern" in target.properties):
            data["cfaTarget"] = True
        log.info("StarAlignment: %s: %d/%d stars matched, rms %.3f px", name, reg.inliers, len(stars), reg.rms)
        return data

    def _align_file(self, path: Path, reference: Image, ref_stars: StarList) -> tuple[Path | str, dict[str, Any]]:
        """Register the file ``path`` and, in RegisterMatch mode, write it resampled (and its mask, drizzle data).

        When the detection plane is a new array (the mean of the frame's channels), the
        frame's pixels are let go before its stars are detected and the file is read again
        for the resampling (a few ms, from the page cache): the frame and the detection's
        planes are never held at once.  A float FITS output without frame adaptation is
        resampled and written a band of rows at a time (:meth:`_resample_to_fits`): no whole
        registered image either.
        """
        start = time.perf_counter()
        source = path.expanduser()
        target, plane, reread = read_for_detection(source)
        reg, stars = self._match(plane, ref_stars)
        del plane
        data = self._frame_report(reg, stars, ref_stars, target, str(path))
        written: Path | str = ""
        if self.mode == "RegisterMatch":
            if reread:
                target = read_image(source)
            fmt = sample_format_of(target, self.outputSampleFormat)
            output = self._output_path(str(path))
            bitpix = float_fits_bitpix(output, fmt)
            if not self.frameAdaptation and bitpix is not None:
                mask = np.empty((reference.height, reference.width), dtype=bool) if self.generateMasks else None
                written, info = self._resample_to_fits(target, reference, reg, output, bitpix, mask)
            else:
                image, mask, info = self._resample(target, reference, reg)
                written = write_output(image, output, fmt, overwrite=self.overwriteExistingFiles)
            data.update(info)
            if self.generateDrizzleData:
                data["drizzleDataPath"] = str(self._write_drizzle_data(path, Path(written), target, reference, data))
            if self.generateMasks and mask is not None:
                mask_path = self._output_path(str(path), self.maskPostfix)
                write_output(Image(mask.astype(np.float32)[None]), mask_path, "f32",
                             overwrite=self.overwriteExistingFiles)
                data["outputMaskFilePath"] = str(mask_path)
        data["seconds"] = time.perf_counter() - start
        return written, data

    def _write_drizzle_data(self, source: Path, written: Path, target: Image, reference: Image,
                            data: Mapping[str, Any]) -> Path:
        """Write ``<registered output without extension>.xdrz`` (PixInsight's name, beside the output).

        The alignment matrix is the registration's ``H`` (reference → source, pixel centres at
        integer coordinates: PCL's alignment origin 0.5, 0.5).  A target debayered from a raw
        CFA frame names it as ``CFASourceImage`` when the target carries the XISF properties
        ``PCL:CFASourceFilePath``/``PCL:CFASourcePattern`` that PixInsight's (and procfw's)
        Debayer writes.
        """
        from processes.kernels.drizzledata import DrizzleData, write_drizzle_data

        name = written.name
        for ext in (".fits.gz", ".fit.gz", ".fts.gz", written.suffix):
            if ext and name.lower().endswith(ext.lower()):
                name = name[: -len(ext)]
                break
        cfa_path = str(target.properties.get("PCL:CFASourceFilePath", "") or "")
        cfa_pattern = str(target.properties.get("PCL:CFASourcePattern", "") or "") if cfa_path else ""
        drz = DrizzleData(
            source_file_path=str(source.expanduser().absolute()), cfa_source_file_path=cfa_path,
            cfa_source_pattern=cfa_pattern, align_target_file_path=str(written.absolute()),
            reference_width=reference.width, reference_height=reference.height,
            alignment_matrix=np.array(data["matrix"], dtype=np.float64), alignment_origin=(0.5, 0.5),
        )
        return write_drizzle_data(drz, written.with_name(name + ".xdrz"), overwrite=self.overwriteExistingFiles)

    def process_file(self, index: int, path: Path, options: Mapping[str, Any]) -> tuple[Path | str, dict[str, Any]]:
        """Align one target file to the reference file and write it (any worker; see :func:`run_file_list`)."""
        reference, ref_stars = self._file_reference(keep_pixels=self.frameAdaptation)
        return self._align_file(path, reference, ref_stars)

    # -- view execution ------------------------------------------------------------------------------
    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        view_id = (context.view_id or "Image").replace("->", "_")
        if self.mode in ("StructureMap", "Structures", "DrawStars"):
            return self._diagnostic(image, view_id)
        start = time.perf_counter()
        reference, ref_stars, _ = self._reference(context)
        context.report(0.1, f"StarAlignment: matching {view_id}")
        try:
            reg, stars = self._register(image, ref_stars)
        except AlignmentError as exc:
            raise ExecutionError(f"StarAlignment: {view_id}: {exc}") from None
        outputs = self._report(reg, stars, ref_stars, 0.0)
        notes = self._notes()
        messages = [f"{view_id}: {reg.inliers} star pairs matched of {len(stars)} detected "
                    f"({len(ref_stars)} in the reference), rms {reg.rms:.3f} px"]

        def progress(fraction: float) -> None:
            context.report(0.3 + 0.65 * fraction, f"StarAlignment: resampling {view_id}")

        new_images: dict[str, Image] = {}
        result_image: Image | None = None
        if self.mode == "RegisterMatch":
            result_image, mask, info = self._resample(image, reference, reg, progress)
            outputs.update(info)
            if self.generateMasks:
                new_images[f"{view_id}_mask"] = Image(mask.astype(np.float32)[None])
        elif self.mode in ("RegisterUnion", "RegisterUnionSeparate"):
            result_image, extra = self._mosaic(image, reference, reg, view_id)
            new_images.update(extra)
        elif self.mode in ("DrawPutativeStarMatches", "DrawMatchedStars"):
            index = reg.tgt_index if self.mode == "DrawMatchedStars" else reg.putative_index
            new_images[f"{view_id}_{'matched' if self.mode == 'DrawMatchedStars' else 'putative'}_stars"] = \
                _draw_stars(stars.take(index), image.width, image.height)
        outputs["seconds"] = time.perf_counter() - start
        context.report(1.0, "StarAlignment: done")
        return ProcessOutput(image=result_image, outputs=outputs, new_images=new_images,
                             messages=(*notes, *messages))

    def _diagnostic(self, image: Image, view_id: str) -> ProcessOutput:
        settings = self.detection_settings()
        plane = detection_plane(image)
        if self.mode == "DrawStars":
            stars = detect_stars(plane, settings)
            return ProcessOutput(new_images={f"{view_id}_stars": _draw_stars(stars, image.width, image.height)},
                                 outputs={"starsDetected": len(stars)})
        _, _, detail = structure_map(plane, settings)
        sigma = robust_sigma(detail)
        binary = detail > settings.threshold_sigmas * sigma
        if self.mode == "StructureMap":
            pixels = binary.astype(np.float32)
            name = f"{view_id}_structure_map"
        else:
            peak = float(detail.max()) if detail.size else 0.0
            pixels = np.where(binary, np.clip(detail / peak, 0, 1) if peak > 0 else 0.0, 0.0).astype(np.float32)
            name = f"{view_id}_structures"
        return ProcessOutput(new_images={name: Image(pixels[None])},
                             outputs={"structurePixels": int(binary.sum()), "noise": sigma})

    def _mosaic(self, target: Image, reference: Image, reg: Registration,
                view_id: str) -> tuple[Image | None, dict[str, Image]]:
        """Union canvas holding the reference and the registered target (reference grid, translated)."""
        inv = np.linalg.inv(reg.matrix)
        tw, th = target.width, target.height
        corners = models.apply(inv, np.array([[-0.5, -0.5], [tw - 0.5, -0.5], [tw - 0.5, th - 0.5],
                                               [-0.5, th - 0.5]]))
        x0 = math.floor(min(-0.5, corners[:, 0].min()) + 0.5)
        y0 = math.floor(min(-0.5, corners[:, 1].min()) + 0.5)
        x1 = math.ceil(max(reference.width - 0.5, corners[:, 0].max()) - 0.5) + 1
        y1 = math.ceil(max(reference.height - 0.5, corners[:, 1].max()) - 0.5) + 1
        width, height = x1 - x0, y1 - y0
        if width * height > 400_000_000:
            raise ExecutionError(f"StarAlignment: the union of {view_id} and the reference would be {width}x{height} "
                                 "pixels; the registration looks wrong")
        shift = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
        kernel, radius = choose_kernel(self.pixelInterpolation, reg.matrix, (reference.width, reference.height))
        tgt_pix, tgt_mask = warp(target.pixels, reg.matrix @ shift, (width, height), kernel=kernel,
                                 clamping=self.clampingThreshold, radius=radius)
        channels = max(target.channels, reference.channels)
        ref_pix = np.zeros((channels, height, width), dtype=np.float32)
        ref_rows = slice(-y0, -y0 + reference.height)
        ref_cols = slice(-x0, -x0 + reference.width)
        for c in range(channels):
            ref_pix[c, ref_rows, ref_cols] = reference.pixels[min(c, reference.channels - 1)]
        tgt_full = np.stack([tgt_pix[min(c, target.channels - 1)] for c in range(channels)])
        np.clip(tgt_full, 0.0, 1.0, out=tgt_full)
        if self.frameAdaptation:
            tgt_full, _ = adapt_frame(tgt_full, tgt_mask, ref_pix)
        keywords = [k for k in target.keywords if k.name.upper() != "HISTORY"]
        if self.mode == "RegisterUnionSeparate":
            return None, {
                f"{view_id}_mosaic_1": Image(ref_pix, list(reference.keywords)),
                f"{view_id}_mosaic_2": Image(tgt_full, keywords),
            }
        use_target = tgt_mask.copy()
        if self.randomizeMosaic:
            ref_mask = np.zeros((height, width), dtype=bool)
            ref_mask[ref_rows, ref_cols] = True
            coin = np.random.default_rng(0).random((height, width)) < 0.5
            use_target &= ~(ref_mask & coin)
        mosaic = np.where(use_target[None], tgt_full, ref_pix).astype(np.float32)
        return Image(mosaic, keywords, dict(target.properties)), {}


def _draw_stars(stars: StarList, width: int, height: int) -> Image:
    """An image with a disc at each star (radius from its FWHM), value 1 on 0."""
    canvas = np.zeros((height, width), dtype=np.float32)
    yy, xx = np.ogrid[:height, :width]
    for x, y, fwhm in zip(stars.x, stars.y, stars.fwhm):
        r = max(1.5, float(fwhm))
        y0, y1 = max(0, int(y - r) - 1), min(height, int(y + r) + 2)
        x0, x1 = max(0, int(x - r) - 1), min(width, int(x + r) + 2)
        if y0 >= y1 or x0 >= x1:
            continue
        disc = (xx[:, x0:x1] - x) ** 2 + (yy[y0:y1, :] - y) ** 2 <= r * r
        canvas[y0:y1, x0:x1][disc] = 1.0
    return Image(canvas[None])
