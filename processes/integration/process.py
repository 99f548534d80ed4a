"""ImageIntegration: combine a stack of frames into one image with pixel rejection.

PixInsight's ImageIntegration with its process id, parameter ids, enumeration element ids,
defaults, ranges and precision (PCL's declarations of PixInsight 1.8.9-3, the last public
ones, plus the five parameters PixInsight 1.9 added: ``overrideImageType``, ``imageType``,
``csvWeightsFilePath``, ``generateSlopeMaps``, ``generateFITSKeywords``, and the weight mode
``CSVWeightsFile``), read-only outputs included, so its icons load.  It runs globally: the
frames are files listed in ``images``; the result opens as ``integration`` and, with
``generateRejectionMaps``, the maps ``rejection_low`` and ``rejection_high`` (the fraction
of each pixel's values rejected low/high, 0..1) and, for LinearFit with
``generateSlopeMaps``, a ``slope_map``.  The run reports PixInsight's read-only outputs
under their ids (``integrationImageId``, ``totalRejectedLowRK``, ``imageData``, ...).

Implemented: combinations Average (weighted), Median, Minimum, Maximum; normalizations
NoNormalization, Additive, Multiplicative, AdditiveWithScaling, MultiplicativeWithScaling
(location = median, scale = the ``weightScale`` estimator; see
:mod:`processes.integration.normalization`); every rejection algorithm
(:mod:`processes.integration.rejection`) with rejection normalizations
NoRejectionNormalization, Scale and EqualizeFluxes; local normalization
(``normalization=LocalNormalization`` with ``rejectionNormalization=
LocalRejectionNormalization``): each frame is read through its LocalNormalization .xnml
function, band by band (:mod:`processes.integration.localnorm`); range rejection; weights
(:mod:`processes.integration.weights`); ROI; 64-bit results; pedestal subtraction; drizzle data
(``generateDrizzleData``: :mod:`processes.integration.drizzle`).

Not implemented (accepted so icons load; choosing them is an error or noted in the
messages): AdaptiveNormalization and its rejection variant, local output normalization
mixed with a global rejection normalization (or the reverse),
large-scale rejection, CSV file weights (SNREstimate is used instead; so is it for PSFScaleSNR
when a frame has no .xnml relative scale factors),
N*-based noise evaluation (MRS is used instead), ``overrideImageType``/``imageType``.  GUI
and cache options have no meaning here.

The work streams row bands through a memory budget (:mod:`processes.integration.engine`):
``stackSizeMB + bufferSizeMB`` MiB, or ``autoMemoryLimit`` of the available memory when
``autoMemorySize`` is set.  The Average combination with NoRejection, SigmaClip or
WinsorizedSigmaClip runs in a compiled kernel (:mod:`processes.integration.compiled`,
numba, threads); the other combinations and algorithms in the numpy engine.  Frame noise
comes from the ``NOISEnn`` keywords that calibration writes when present (as PixInsight
does, unless ``ignoreNoiseKeywords``); frame statistics are computed in threads.
"""

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids
from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from processes.common import outputs as ro
from processes.integration.engine import IntegrationPlan, budget_from_memory, integrate, mib
from processes.integration.estimators import fast_median, scale_estimate
from processes.integration.filelist import enabled_paths, enabled_xnml_paths, image_table
from processes.integration.frames import FrameSource, open_frame
from processes.integration.localnorm import relative_scale_factors, stored_frame, wrap_frames
from processes.integration.normalization import (
    OUTPUT_NORMALIZATIONS,
    output_normalization,
    rejection_normalization,
)
from processes.integration.rejection import RejectionSettings
from processes.integration.statistics import (
    MIN_FOOTPRINT_FRACTION,
    STATS_BYTES_PER_VALUE,
    ChannelStats,
    channel_statistics,
    footprint_sample,
    sample_bytes,
    statistics_range,
    statistics_sample,
)
from processes.integration.weights import (
    NOISE_MODES,
    PSF_MODES,
    STAT_MODES,
    compute_weights,
    normalized_weights,
    parse_csv_weights,
)
from procfw.batch import release_memory
from procfw.errors import ExecutionError, ProcfwError
from procfw.image import FITSKeyword, Image
from procfw.io import read_image
from procfw.params import Boolean, Enumeration, Float, Int32, ParameterKind, String, UInt32, UInt64, param
from procfw.process import ExecutionContext, Process, ProcessOutput
from procfw.workspace import View

__all__ = ["ImageIntegration"]

log = logging.getLogger(__name__)

INT32_MAX = 2**31 - 1
FINAL_STATS_VALUES = 1 << 20
"""At most this many values (1 Mi, an even row subsample of larger results) enter the
location/scale estimates of the result: the same sampling as the frames' statistics
(:data:`processes.integration.statistics.FRAME_STATS_VALUES`)."""
_CHANNEL_SUFFIXES = ("RK", "G", "B")
_NOISE_ALGORITHMS = {
    "NoiseEvaluation_KSigma": "K-Sigma",
    "NoiseEvaluation_MRS": "MRS",
    "NoiseEvaluation_NStar": "MRS",
}


def _enum(elements: tuple[str, ...], default: str, description: str, **kw: Any) -> Any:
    return param(Enumeration(elements=elements, default=default, description=description, **kw))


def _float(default: float, low: float | None, high: float | None, precision: int, description: str) -> Any:
    return param(Float(default=default, minimum=low, maximum=high, precision=precision, description=description))


def _bool(default: bool, description: str, **kw: Any) -> Any:
    return param(Boolean(default=default, description=description, **kw))


def _int(default: int, low: int | None, high: int | None, description: str) -> Any:
    return param(Int32(default=default, minimum=low, maximum=high, description=description))



def _image_data_columns() -> tuple[ParameterKind, ...]:
    """The columns of PixInsight's read-only ``imageData`` table (ImageIntegrationParameters.cpp)."""
    names = {"RK": "red or gray", "G": "green", "B": "blue"}
    return (
        *(Float(id=f"weight{c}", read_only=True, precision=5, description=f"Image weight, {names[c]}.")
          for c in ro.CHANNELS_RK),
        *(UInt64(id=f"rejected{side}{c}", read_only=True, description=f"{side} rejected pixels, {names[c]}.")
          for side in ("Low", "High") for c in ro.CHANNELS_RK),
    )


_IMAGE_DATA_COLUMNS = _image_data_columns()
# weight modes procfw cannot compute: SNREstimate weights are used, with a message
_FALLBACK_MODES = (*PSF_MODES, "CSVWeightsFile")

class ImageIntegration(Process):
    """Integrate (stack) a set of image files with normalization, weighting and pixel rejection.

    Combines the frames listed in ``images`` pixel by pixel into the new image
    ``integration``, rejecting outliers (satellite trails, cosmic rays, hot pixels) with one
    of PixInsight's rejection algorithms and writing the rejection maps ``rejection_low``
    and ``rejection_high``.  Runs globally, streaming row bands within a memory budget.
    """

    process_id = "ImageIntegration"
    categories = ("ImageIntegration", "Preprocessing")
    key_outputs = (
        ("rejectedLow", ("totalRejectedLowRK", "totalRejectedLowG", "totalRejectedLowB")),
        ("rejectedHigh", ("totalRejectedHighRK", "totalRejectedHighG", "totalRejectedHighB")),
        ("noise", ("finalNoiseEstimateRK", "finalNoiseEstimateG", "finalNoiseEstimateB")),
    )
    is_history_updater = False
    is_maskable = False

    images: tuple = param(image_table(
        "Input images: rows of (enabled, path, drizzlePath, localNormalizationDataPath); also accepts "
        "a file glob such as \"lights/*.fits\" or a list of paths."
    ))
    inputHints: str = param(String(
        default="fits-keywords normalize raw cfa signed-is-physical",
        description="Format hints for reading the input files (kept for icons; the readers ignore them).",
    ))
    overrideImageType: bool = _bool(False, "PixInsight 1.9: override the image type of the inputs with imageType "
                                           "(kept for icons; no effect).")
    imageType: int = _int(0, 0, None, "PixInsight 1.9: image type used with overrideImageType (kept; no effect).")
    combination: str = _enum(("Average", "Median", "Minimum", "Maximum"), "Average",
                             "Pixel combination of the values that survive rejection.")
    weightMode: str = _enum(
        ("DontCare", "ExposureTime", "SNREstimate", "SignalWeight", "MedianWeight", "AverageWeight",
         "KeywordWeight", "PSFSignalWeight", "PSFSNR", "PSFScaleSNR", "CSVWeightsFile"),
        "PSFSignalWeight",
        "Image weights for the average combination: none, exposure time, inverse normalized noise variance "
        "(SNREstimate), signal, median, mean, a FITS keyword, PSF signal weight or PSF SNR (each frame "
        "measured as SubframeSelector does), PSF scale SNR (LocalNormalization's relative scale factors and "
        "noise); CSVWeightsFile falls back to SNREstimate.",
        element_aliases={"NoiseEvaluation": "SNREstimate", "ExposureTimeWeight": "ExposureTime"},
    )
    weightKeyword: str = param(String(description="FITS keyword holding the weights when weightMode=KeywordWeight."))
    csvWeightsFilePath: str = param(String(description="PixInsight 1.9: CSV file of weights (weightMode="
                                           "CSVWeightsFile; not read: SNREstimate weights are used, with a message)."))
    weightScale: str = _enum(
        ("WeightScale_AvgDev", "WeightScale_MAD", "WeightScale_BWMV", "WeightScale_PBMV", "WeightScale_Sn",
         "WeightScale_Qn", "WeightScale_IKSS"),
        "WeightScale_BWMV",
        "Scale estimator used for normalization and weights: average deviation, MAD, biweight midvariance, "
        "percentage bend midvariance, Sn, Qn or iterative k-sigma.",
    )
    minWeight: float = _float(0.005, 0.0, 1.0, 6,
                              "Images whose weight relative to the largest is below this are left out.")
    csvWeights: str = param(String(description="Comma-separated custom weights, one per enabled image (overrides "
                                               "weightMode when not empty)."))
    adaptiveGridSize: int = _int(16, 2, 50, "Grid size of adaptive normalization (not implemented; kept for icons).")
    adaptiveNoScale: bool = _bool(False, "Adaptive normalization without scaling (not implemented; kept for icons).")
    ignoreNoiseKeywords: bool = _bool(False, "Estimate noise even when the frames carry NOISEnn keywords.")
    normalization: str = _enum(
        ("NoNormalization", "Additive", "Multiplicative", "AdditiveWithScaling", "MultiplicativeWithScaling",
         "LocalNormalization", "AdaptiveNormalization"),
        "AdditiveWithScaling",
        "Output normalization matching frame locations (medians) and scales before combining; local and "
        "adaptive normalization are not implemented.",
    )
    rejection: str = _enum(
        ("NoRejection", "MinMax", "PercentileClip", "SigmaClip", "WinsorizedSigmaClip", "AveragedSigmaClip",
         "LinearFit", "CCDClip", "Rejection_ESD", "Rejection_RCR"),
        "NoRejection",
        "Pixel rejection algorithm.",
        element_aliases={"ESD": "Rejection_ESD", "RCR": "Rejection_RCR"},
    )
    rejectionNormalization: str = _enum(
        ("NoRejectionNormalization", "Scale", "EqualizeFluxes", "LocalRejectionNormalization",
         "AdaptiveRejectionNormalization"),
        "Scale",
        "Normalization of the values used to decide rejections (not of the result).",
    )
    minMaxLow: int = _int(1, 0, None, "MinMax: number of lowest values rejected per pixel.")
    minMaxHigh: int = _int(1, 0, None, "MinMax: number of highest values rejected per pixel.")
    pcClipLow: float = _float(0.2, 0.0, 1.0, 3, "PercentileClip: low limit as a fraction of the median.")
    pcClipHigh: float = _float(0.1, 0.0, 1.0, 3, "PercentileClip: high limit as a fraction of the median.")
    sigmaLow: float = _float(4.0, 0.0, 10.0, 3, "Sigma clipping algorithms: low limit in sigma units.")
    sigmaHigh: float = _float(3.0, 0.0, 10.0, 3, "Sigma clipping algorithms: high limit in sigma units.")
    winsorizationCutoff: float = _float(5.0, 3.0, 10.0, 3,
                                        "WinsorizedSigmaClip: values beyond this many sigma are replaced by the "
                                        "mean in the first winsorization.")
    linearFitLow: float = _float(5.0, 0.0, 10.0, 3, "LinearFit: low limit in sigma units.")
    linearFitHigh: float = _float(4.0, 0.0, 10.0, 3, "LinearFit: high limit in sigma units.")
    esdOutliersFraction: float = _float(0.30, 0.0, 1.0, 2, "ESD: maximum fraction of outliers.")
    esdAlpha: float = _float(0.05, 0.0, 1.0, 2, "ESD: significance level of the test.")
    esdLowRelaxation: float = _float(1.0, 1.0, 5.0, 2, "ESD: relaxation of the test for low values.")
    rcrLimit: float = _float(0.1, 0.0, 1.0, 2, "RCR: Chauvenet limit (expected outlier count).")
    ccdGain: float = _float(1.0, 0.1, 10.0, 2, "CCDClip: gain in e-/DN.")
    ccdReadNoise: float = _float(10.0, 0.0, 20.0, 2, "CCDClip: read noise in e-.")
    ccdScaleNoise: float = _float(0.0, 0.0, 1.0, 2, "CCDClip: scale noise (flat-field error fraction).")
    clipLow: bool = _bool(True, "Reject low outliers.")
    clipHigh: bool = _bool(True, "Reject high outliers.")
    rangeClipLow: bool = _bool(True, "Reject values at or below rangeLow (e.g. the zeros of registration borders).")
    rangeLow: float = _float(0.0, 0.0, 0.5, 6, "Range rejection low limit.")
    rangeClipHigh: bool = _bool(False, "Reject values at or above rangeHigh (saturation).")
    rangeHigh: float = _float(0.98, 0.5, 1.0, 6, "Range rejection high limit.")
    mapRangeRejection: bool = _bool(True, "Include range-rejected values in the rejection maps.")
    reportRangeRejection: bool = _bool(False, "Include range-rejected values in the rejection counts.")
    largeScaleClipLow: bool = _bool(False, "Large-scale low rejection (not implemented; ignored with a message).")
    largeScaleClipLowProtectedLayers: int = _int(2, 1, 6, "Large-scale low rejection: protected wavelet layers.")
    largeScaleClipLowGrowth: int = _int(2, 1, 20, "Large-scale low rejection: growth of rejected structures.")
    largeScaleClipHigh: bool = _bool(False, "Large-scale high rejection (not implemented; ignored with a message).")
    largeScaleClipHighProtectedLayers: int = _int(2, 1, 6, "Large-scale high rejection: protected wavelet layers.")
    largeScaleClipHighGrowth: int = _int(2, 1, 20, "Large-scale high rejection: growth of rejected structures.")
    generate64BitResult: bool = _bool(False, "Produce a 64-bit floating point result.")
    generateRejectionMaps: bool = _bool(True, "Produce the rejection_low and rejection_high maps.")
    generateSlopeMaps: bool = _bool(False, "Produce the slope_map image of LinearFit rejection (PixInsight 1.9).")
    generateIntegratedImage: bool = _bool(True, "Produce the integrated image.")
    generateDrizzleData: bool = _bool(False, "Update the drizzle data files (drizzlePath) with normalization, "
                                      "weights and rejection maps.")
    closePreviousImages: bool = _bool(False, "Close previous result windows (GUI option; no effect).")
    bufferSizeMB: int = _int(16, 0, 1024, "Row buffer size in MiB; with stackSizeMB it bounds the working memory.")
    stackSizeMB: int = _int(1024, 0, 1024 * 1024, "Pixel stack size in MiB: the memory budget for the row bands "
                                                  "(when autoMemorySize is off).")
    autoMemorySize: bool = _bool(True, "Use autoMemoryLimit of the available memory instead of the sizes above.")
    autoMemoryLimit: float = _float(0.75, 0.10, 1.00, 2, "Fraction of the available memory used by autoMemorySize.")
    useROI: bool = _bool(False, "Integrate only the region of interest roiX0, roiY0, roiX1, roiY1.")
    roiX0: int = _int(0, 0, INT32_MAX, "Region of interest: left column.")
    roiY0: int = _int(0, 0, INT32_MAX, "Region of interest: top row.")
    roiX1: int = _int(0, 0, INT32_MAX, "Region of interest: right column (exclusive).")
    roiY1: int = _int(0, 0, INT32_MAX, "Region of interest: bottom row (exclusive).")
    useCache: bool = _bool(True, "Cache frame statistics between runs (no effect here).")
    evaluateSNR: bool = _bool(True, "Estimate the noise of the result (outputs finalNoiseEstimate*).",
                              aliases=("evaluateNoise",))
    noiseEvaluationAlgorithm: str = _enum(
        ("NoiseEvaluation_KSigma", "NoiseEvaluation_MRS", "NoiseEvaluation_NStar"),
        "NoiseEvaluation_MRS",
        "Noise estimator: k-sigma of the first wavelet layer, or multiresolution support (N* falls back to MRS).",
    )
    mrsMinDataFraction: float = _float(0.01, 0.0, 1.0, 3,
                                       "MRS noise: minimum fraction of noise pixels (the estimator uses 1 %).")
    psfStructureLayers: int = _int(5, 1, 8, "PSF weights: structure layers (kept for icons; procfw's star "
                                            "detection has its own).")
    psfType: str = _enum(
        ("PSFType_Gaussian", "PSFType_Moffat15", "PSFType_Moffat4", "PSFType_Moffat6", "PSFType_Moffat8",
         "PSFType_MoffatA", "PSFType_Auto"),
        "PSFType_Moffat4",
        "PSF weights: PSF model (kept for icons; procfw fits elliptical Gaussians).",
    )
    generateFITSKeywords: bool = _bool(True, "Write NCOMBINE and the HISTORY lines of the integration into the "
                                             "result (PixInsight 1.9).")
    subtractPedestals: bool = _bool(False, "Subtract the PEDESTAL keyword (DN of 16-bit data) from each frame.")
    truncateOnOutOfRange: bool = _bool(False, "Clip an out-of-range result to [0, 1] instead of rescaling it.")
    noGUIMessages: bool = _bool(True, "GUI option (no effect).")
    showImages: bool = _bool(True, "GUI option (no effect).")
    useFileThreads: bool = _bool(True, "Read files in parallel (no effect: bands are read in sequence).")
    fileThreadOverload: float = _float(1.0, 1.0, 10.0, 2, "File thread overload (no effect).")
    useBufferThreads: bool = _bool(True, "Share the work among threads (compiled kernel: rows of each band; "
                                         "other algorithms: worker processes), one per CPU core.")
    maxBufferThreads: int = _int(0, 0, 1024, "Maximum number of threads or worker processes (0: one per CPU core).")
    # -- read-only outputs (PixInsight's: the run's outputs of the same ids, written into icons) -------------------
    integrationImageId: str = ro.text("Id of the integrated image.")
    lowRejectionMapImageId: str = ro.text("Id of the low rejection map image.")
    highRejectionMapImageId: str = ro.text("Id of the high rejection map image.")
    slopeMapImageId: str = ro.text("Id of the slope map image (LinearFit rejection).")
    numberOfChannels: int = ro.integer("Number of channels of the result.")
    numberOfPixels: int = ro.integer("Pixels per channel of the result.", UInt64)
    totalPixels: int = ro.integer("Pixels integrated per channel (all frames).", UInt64)
    outputRangeLow: float = ro.real("Lowest value of the result before any rescaling.", 15, general=True)
    outputRangeHigh: float = ro.real("Highest value of the result before any rescaling.", 15, general=True)
    totalRejectedLowRK: int = ro.integer("Total low rejected pixels, red or gray.", UInt64)
    totalRejectedLowG: int = ro.integer("Total low rejected pixels, green.", UInt64)
    totalRejectedLowB: int = ro.integer("Total low rejected pixels, blue.", UInt64)
    totalRejectedHighRK: int = ro.integer("Total high rejected pixels, red or gray.", UInt64)
    totalRejectedHighG: int = ro.integer("Total high rejected pixels, green.", UInt64)
    totalRejectedHighB: int = ro.integer("Total high rejected pixels, blue.", UInt64)
    finalNoiseEstimateRK: float = ro.real("Noise estimate of the result, red or gray.", 3, scientific=True)
    finalNoiseEstimateG: float = ro.real("Noise estimate of the result, green.", 3, scientific=True)
    finalNoiseEstimateB: float = ro.real("Noise estimate of the result, blue.", 3, scientific=True)
    finalNoiseScaleEstimateLowRK: float = ro.real(
        "Noise scale estimate of the result, low pixels, red or gray.", 6, scientific=True)
    finalNoiseScaleEstimateLowG: float = ro.real(
        "Noise scale estimate of the result, low pixels, green.", 6, scientific=True)
    finalNoiseScaleEstimateLowB: float = ro.real(
        "Noise scale estimate of the result, low pixels, blue.", 6, scientific=True)
    finalNoiseScaleEstimateHighRK: float = ro.real(
        "Noise scale estimate of the result, high pixels, red or gray.", 6, scientific=True)
    finalNoiseScaleEstimateHighG: float = ro.real(
        "Noise scale estimate of the result, high pixels, green.", 6, scientific=True)
    finalNoiseScaleEstimateHighB: float = ro.real(
        "Noise scale estimate of the result, high pixels, blue.", 6, scientific=True)
    finalNoiseAlgorithmRK: str = ro.text("Noise evaluation algorithm of the result, red or gray.")
    finalNoiseAlgorithmG: str = ro.text("Noise evaluation algorithm of the result, green.")
    finalNoiseAlgorithmB: str = ro.text("Noise evaluation algorithm of the result, blue.")
    finalScaleEstimateRK: float = ro.real("Scale estimate of the result, red or gray.", 4, scientific=True)
    finalScaleEstimateG: float = ro.real("Scale estimate of the result, green.", 4, scientific=True)
    finalScaleEstimateB: float = ro.real("Scale estimate of the result, blue.", 4, scientific=True)
    finalLocationEstimateRK: float = ro.real(
        "Location estimate (median) of the result, red or gray.", 4, scientific=True)
    finalLocationEstimateG: float = ro.real("Location estimate (median) of the result, green.", 4, scientific=True)
    finalLocationEstimateB: float = ro.real("Location estimate (median) of the result, blue.", 4, scientific=True)
    finalPSFTotalFluxEstimateRK: float = ro.real(
        "PSF total flux estimate of the result, red or gray.", 4, scientific=True)
    finalPSFTotalFluxEstimateG: float = ro.real("PSF total flux estimate of the result, green.", 4, scientific=True)
    finalPSFTotalFluxEstimateB: float = ro.real("PSF total flux estimate of the result, blue.", 4, scientific=True)
    finalPSFTotalPowerFluxEstimateRK: float = ro.real(
        "PSF total power flux estimate of the result, red or gray.", 4, scientific=True)
    finalPSFTotalPowerFluxEstimateG: float = ro.real(
        "PSF total power flux estimate of the result, green.", 4, scientific=True)
    finalPSFTotalPowerFluxEstimateB: float = ro.real(
        "PSF total power flux estimate of the result, blue.", 4, scientific=True)
    finalPSFTotalMeanFluxEstimateRK: float = ro.real(
        "PSF total mean flux estimate of the result, red or gray.", 4, scientific=True)
    finalPSFTotalMeanFluxEstimateG: float = ro.real(
        "PSF total mean flux estimate of the result, green.", 4, scientific=True)
    finalPSFTotalMeanFluxEstimateB: float = ro.real(
        "PSF total mean flux estimate of the result, blue.", 4, scientific=True)
    finalPSFTotalMeanPowerFluxEstimateRK: float = ro.real(
        "PSF total mean power flux estimate of the result, red or gray.", 4, scientific=True)
    finalPSFTotalMeanPowerFluxEstimateG: float = ro.real(
        "PSF total mean power flux estimate of the result, green.", 4, scientific=True)
    finalPSFTotalMeanPowerFluxEstimateB: float = ro.real(
        "PSF total mean power flux estimate of the result, blue.", 4, scientific=True)
    finalPSFMStarEstimateRK: float = ro.real("M* estimate of the result, red or gray.", 4, scientific=True)
    finalPSFMStarEstimateG: float = ro.real("M* estimate of the result, green.", 4, scientific=True)
    finalPSFMStarEstimateB: float = ro.real("M* estimate of the result, blue.", 4, scientific=True)
    finalPSFNStarEstimateRK: float = ro.real("N* estimate of the result, red or gray.", 4, scientific=True)
    finalPSFNStarEstimateG: float = ro.real("N* estimate of the result, green.", 4, scientific=True)
    finalPSFNStarEstimateB: float = ro.real("N* estimate of the result, blue.", 4, scientific=True)
    finalPSFCountRK: int = ro.integer("PSF fits of the result, red or gray.", UInt32)
    finalPSFCountG: int = ro.integer("PSF fits of the result, green.", UInt32)
    finalPSFCountB: int = ro.integer("PSF fits of the result, blue.", UInt32)
    referenceNoiseReductionRK: float = ro.real(
        "Noise reduction with respect to the reference frame, red or gray.", 4, single=True)
    referenceNoiseReductionG: float = ro.real(
        "Noise reduction with respect to the reference frame, green.", 4, single=True)
    referenceNoiseReductionB: float = ro.real(
        "Noise reduction with respect to the reference frame, blue.", 4, single=True)
    medianNoiseReductionRK: float = ro.real("Median noise reduction, red or gray.", 4, single=True)
    medianNoiseReductionG: float = ro.real("Median noise reduction, green.", 4, single=True)
    medianNoiseReductionB: float = ro.real("Median noise reduction, blue.", 4, single=True)
    referenceSNRIncrementRK: float = ro.real(
        "SNR increment with respect to the reference frame, red or gray.", 4, single=True)
    referenceSNRIncrementG: float = ro.real("SNR increment with respect to the reference frame, green.", 4, single=True)
    referenceSNRIncrementB: float = ro.real("SNR increment with respect to the reference frame, blue.", 4, single=True)
    averageSNRIncrementRK: float = ro.real("Average SNR increment, red or gray.", 4, single=True)
    averageSNRIncrementG: float = ro.real("Average SNR increment, green.", 4, single=True)
    averageSNRIncrementB: float = ro.real("Average SNR increment, blue.", 4, single=True)
    imageData: tuple = ro.table(_IMAGE_DATA_COLUMNS, "Per input image of the last execution: weights and "
                                "rejected pixel counts per channel.")

    # -- read-only outputs ------------------------------------------------------------
    def icon_outputs(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """PixInsight's read-only parameters from the ``outputs`` of an execution (the run
        reports them under the same ids; the PSF estimates and SNR increments, which procfw
        does not evaluate, stay zero)."""
        schema = type(self).schema()
        values = ro.scalars(schema, outputs)
        if "imageData" in outputs:
            values["imageData"] = ro.table_rows(schema["imageData"], outputs["imageData"],
                                                lambda row: dict(zip((c.id for c in _IMAGE_DATA_COLUMNS), row)))
        return values

    # -- execution contexts ----------------------------------------------------------
    def can_execute_on(self, view: View) -> tuple[bool, str]:
        return False, "ImageIntegration can only be executed in the global context."

    def can_execute_global(self) -> tuple[bool, str]:
        count = len(enabled_paths(self.images))
        if count < 3:
            return False, (
                f"This instance of ImageIntegration defines less than three source images ({count} enabled)."
            )
        return True, ""

    # -- the work ----------------------------------------------------------------------
    def run_global(self, context: ExecutionContext) -> ProcessOutput:
        self.require_executable_global()
        messages: list[str] = []
        self._check_supported(messages)
        paths = enabled_paths(self.images)
        frames = [open_frame(path) for path in paths]
        self._check_geometry(frames)
        if self._local_normalization():
            frames = wrap_frames(frames, enabled_xnml_paths(self.images))
        roi = self._roi(frames[0])
        budget = self._budget()
        threads = self._threads()
        context.report(0.0, f"ImageIntegration: {len(frames)} images")

        scale_factors = self._scale_snr_factors(frames, messages)
        stats = self._statistics(frames, budget, context, messages, scale_factors, self._result_bytes(frames, roi))
        release_memory()  # the samples the statistics' threads freed: not kept beside the result's images
        channels = frames[0].channels
        location = np.array([[s.location for s in frame_stats] for frame_stats in stats]).T if stats else None
        scale = np.array([[s.scale for s in frame_stats] for frame_stats in stats]).T if stats else None
        if self.normalization in OUTPUT_NORMALIZATIONS and location is not None:
            out_scale, out_offset = output_normalization(self.normalization, location, scale)
        else:
            out_scale, out_offset = np.ones((channels, len(frames))), np.zeros((channels, len(frames)))
        weights = self._weights(frames, stats, out_scale, messages, scale_factors)
        keep = self._apply_min_weight(frames, weights, messages)
        if not keep.all():
            frames = [f for f, k in zip(frames, keep) if k]
            stats = [s for s, k in zip(stats, keep) if k] if stats else stats
            weights, out_scale, out_offset = weights[:, keep], out_scale[:, keep], out_offset[:, keep]
            if len(frames) < 3:
                raise ExecutionError("ImageIntegration: fewer than three images are left after minWeight")
            if location is not None:
                # the first image left is the new reference of the normalizations
                location, scale = location[:, keep], scale[:, keep]
                if self.normalization in OUTPUT_NORMALIZATIONS:
                    out_scale, out_offset = output_normalization(self.normalization, location, scale)
            weights = normalized_weights(weights)
        rej_mode, rej_scale, rej_offset = "none", None, None
        if self.rejection != "NoRejection" and location is not None and not self._local_normalization():
            rej_mode, rej_scale, rej_offset = rejection_normalization(self.rejectionNormalization, location, scale)

        plan = IntegrationPlan(
            frames=frames, roi=roi, out_scale=out_scale, out_offset=out_offset, rej_mode=rej_mode,
            rej_scale=rej_scale, rej_offset=rej_offset, pedestals=self._pedestals(frames), weights=weights,
            combination=self.combination, rejection=self._rejection_settings(),
            range_low=float(self.rangeLow) if self.rangeClipLow else None,
            range_high=float(self.rangeHigh) if self.rangeClipHigh else None,
            map_range=self.mapRangeRejection, generate_image=self.generateIntegratedImage,
            generate_maps=self.generateRejectionMaps and self.rejection != "NoRejection",
            float64=self.generate64BitResult, budget_bytes=budget, threads=threads,
            frame_maps=self.generateDrizzleData and not self.useROI and self.rejection != "NoRejection",
        )
        start = 0.3 if stats else 0.05

        def band_progress(fraction: float, message: str) -> None:
            context.report(start + (0.95 - start) * fraction, message)

        result = integrate(plan, band_progress)
        if self.generateDrizzleData and not self.useROI:
            from processes.integration.drizzle import update_drizzle_files

            drizzle = {str(Path(str(r[1]))): str(r[2]).strip() for r in self.images if r[0]}
            written, notes = update_drizzle_files(
                [drizzle.get(str(f.path), "") for f in frames], out_scale, out_offset, location, weights,
                result.frame_maps)
            messages.extend(notes)
            messages.append(f"{len(written)} drizzle data file(s) updated")
        context.report(0.95, "ImageIntegration: final statistics")
        output = self._output(frames, stats, weights, result, plan, messages,
                              self._effective_weight_mode(scale_factors is not None))
        release_memory()  # the band buffers and the final statistics' samples: not kept beside the result
        return output

    # -- checks and settings -----------------------------------------------------------
    def _local_normalization(self) -> bool:
        """Whether the frames are read through their .xnml local normalization functions."""
        return self.normalization == "LocalNormalization" or (
            self.rejection != "NoRejection" and self.rejectionNormalization == "LocalRejectionNormalization")

    def _check_supported(self, messages: list[str]) -> None:
        if self.normalization == "AdaptiveNormalization":
            raise ExecutionError(f"ImageIntegration: normalization={self.normalization} is not implemented; use "
                                 "LocalNormalization or AdditiveWithScaling (or another global normalization)")
        if self.rejection != "NoRejection" and self.rejectionNormalization == "AdaptiveRejectionNormalization":
            raise ExecutionError(f"ImageIntegration: rejectionNormalization={self.rejectionNormalization} is not "
                                 "implemented; use LocalRejectionNormalization, Scale or EqualizeFluxes")
        if self._local_normalization():
            rejection_local = self.rejection == "NoRejection" or \
                self.rejectionNormalization == "LocalRejectionNormalization"
            if self.normalization != "LocalNormalization" or not rejection_local:
                raise ExecutionError(
                    "ImageIntegration: local normalization is applied to the frames as they are read, so output and "
                    "rejection normalization must both be local: use normalization=LocalNormalization with "
                    f"rejectionNormalization=LocalRejectionNormalization (not {self.normalization} with "
                    f"{self.rejectionNormalization})")
        if self.largeScaleClipLow or self.largeScaleClipHigh:
            messages.append("large-scale rejection (largeScaleClipLow/High) is not implemented and was ignored")
        if self.generateDrizzleData and self.useROI:
            messages.append("drizzle data files cannot be updated with an active ROI; integrate the whole image")
        if self.noiseEvaluationAlgorithm == "NoiseEvaluation_NStar" and self._needs_noise():
            messages.append("N* noise evaluation is not implemented; MRS noise evaluation was used")

    def _check_geometry(self, frames: list[FrameSource]) -> None:
        ref = frames[0]
        for frame in frames[1:]:
            if frame.shape != ref.shape:
                raise ExecutionError(
                    f"ImageIntegration: {frame.path} is {frame.channels}x{frame.height}x{frame.width} "
                    f"(channels x height x width) but {ref.path} is {ref.channels}x{ref.height}x{ref.width}; "
                    "all images must have the same geometry"
                )

    def _roi(self, frame: FrameSource) -> tuple[int, int, int, int]:
        if not self.useROI:
            return (0, 0, frame.width, frame.height)
        x0, x1 = sorted((self.roiX0, self.roiX1))
        y0, y1 = sorted((self.roiY0, self.roiY1))
        x0, x1 = min(x0, frame.width), min(x1, frame.width)
        y0, y1 = min(y0, frame.height), min(y1, frame.height)
        if x1 - x0 < 1 or y1 - y0 < 1:
            raise ExecutionError(
                f"ImageIntegration: the region of interest ({self.roiX0},{self.roiY0})-({self.roiX1},{self.roiY1}) "
                f"is empty within the {frame.width}x{frame.height} images"
            )
        return (x0, y0, x1, y1)

    def _budget(self) -> int:
        if self.autoMemorySize:
            return budget_from_memory(float(self.autoMemoryLimit))
        return max(mib(self.stackSizeMB + self.bufferSizeMB), 1)

    def _threads(self) -> int:
        if not self.useBufferThreads:
            return 1
        import os

        cores = os.cpu_count() or 1
        return max(1, min(cores, self.maxBufferThreads) if self.maxBufferThreads > 0 else cores)

    def _rejection_settings(self) -> RejectionSettings:
        return RejectionSettings(
            algorithm=self.rejection, clip_low=self.clipLow, clip_high=self.clipHigh,
            minmax_low=self.minMaxLow, minmax_high=self.minMaxHigh, pc_low=self.pcClipLow, pc_high=self.pcClipHigh,
            sigma_low=self.sigmaLow, sigma_high=self.sigmaHigh, winsorization_cutoff=self.winsorizationCutoff,
            linear_fit_low=self.linearFitLow, linear_fit_high=self.linearFitHigh,
            esd_outliers_fraction=self.esdOutliersFraction, esd_alpha=self.esdAlpha,
            esd_low_relaxation=self.esdLowRelaxation, rcr_limit=self.rcrLimit, ccd_gain=self.ccdGain,
            ccd_read_noise=self.ccdReadNoise, ccd_scale_noise=self.ccdScaleNoise,
        )

    def _effective_weight_mode(self, scale_snr: bool = False) -> str:
        """The weight mode computed: DontCare for CSV weights or other combinations; PSFScaleSNR
        only with relative scale factors (``scale_snr``); SNREstimate for the other fallbacks."""
        if self.csvWeights.strip() or self.combination != "Average":
            return "DontCare"
        if self.weightMode == "PSFScaleSNR" and scale_snr:
            return "PSFScaleSNR"
        return "SNREstimate" if self.weightMode in _FALLBACK_MODES else self.weightMode

    def _needs_noise(self) -> bool:
        return not self.csvWeights.strip() and self.combination == "Average" and (
            self.weightMode in NOISE_MODES or self.weightMode in _FALLBACK_MODES)

    def _needs_statistics(self) -> bool:
        return (
            self.normalization != "NoNormalization"
            or (self.rejection != "NoRejection" and self.rejectionNormalization != "NoRejectionNormalization")
            or self._effective_weight_mode() in STAT_MODES
        )

    def _statistics(self, frames, budget, context, messages, scale_factors=None, result_bytes=0
                    ) -> list[list[ChannelStats]] | None:
        """Each frame's statistics, in threads: each channel's common footprint
        (:func:`~processes.integration.statistics.footprint_sample`), then its statistics.

        When one channel's samples of every frame take no more than a quarter of the budget and
        than ``result_bytes`` (the result the integration allocates next, so the statistics raise
        no peak of memory), each sample is read once: kept from the footprint for the statistics,
        channel by channel (a channel's statistics run while the next channel is read); else every
        channel's footprint comes first and each sample is read twice.  With PSFScaleSNR
        ``scale_factors`` the noise is that of the frames as stored."""
        if not self._needs_statistics():
            return None
        from concurrent.futures import ThreadPoolExecutor

        workers = self._threads()
        budget_bytes = max(1, budget // workers)
        keep = len(frames) * sample_bytes(frames[0], budget_bytes=budget_bytes) <= min(budget // 4, result_bytes)
        channels = range(frames[0].channels)
        groups = [[c] for c in channels] if keep else [list(channels)]
        samples: dict[tuple[int, int], np.ndarray] | None = {} if keep else None
        total = 2 * len(frames) * len(channels)
        done = 0

        def report(what: str) -> None:
            nonlocal done
            done += 1
            context.report(0.3 * done / total, what)

        stats = self._statistics_task(frames, budget_bytes, samples, scale_factors)
        computing = {}
        with ThreadPoolExecutor(workers, thread_name_prefix="integration-stats") as pool:
            reading = self._submit_footprints(pool, frames, groups[0], budget_bytes, samples)
            for g in range(len(groups)):
                footprints = self._common_footprints(reading, messages, report)
                computing.update({pool.submit(stats, i, c, footprints[c]): (i, c) for i, c in
                                  sorted(reading.values())})
                if g + 1 < len(groups):  # read on while this channel's statistics run
                    reading = self._submit_footprints(pool, frames, groups[g + 1], budget_bytes, samples)
            found = {}
            for future, key in computing.items():
                found[key] = future.result()
                report("frame statistics")
        out = [[found[(i, c)] for c in channels] for i in range(len(frames))]
        if any(s.sampled for frame_stats in out for s in frame_stats):
            messages.append("frame statistics were computed on row subsamples to stay within the memory budget")
        return out

    def _result_bytes(self, frames, roi: tuple[int, int, int, int]) -> int:
        """The size of the images the integration of ``roi`` makes: the result and the rejection maps."""
        x0, y0, x1, y1 = roi
        plane = frames[0].channels * (x1 - x0) * (y1 - y0)
        image = plane * (8 if self.generate64BitResult else 4) if self.generateIntegratedImage else 0
        maps = 2 * plane * 4 if self.generateRejectionMaps and self.rejection != "NoRejection" else 0
        return image + maps

    def _value_range(self) -> tuple[float, float]:
        """The open range of the values the frames' statistics use."""
        return statistics_range(self.rangeLow if self.rangeClipLow else None,
                                self.rangeHigh if self.rangeClipHigh else None)

    def _submit_footprints(self, pool, frames, channels, budget_bytes, samples) -> dict:
        """{future: (frame index, channel)} of each frame's in-range mask of ``channels``, read in
        ``pool``; each sample read is kept in ``samples`` (by frame index and channel) unless it is None."""
        value_range = self._value_range()

        def mask(i: int, c: int) -> np.ndarray:
            data = statistics_sample(frames[i], c, budget_bytes=budget_bytes)
            if samples is not None:
                samples[(i, c)] = data
            return footprint_sample(frames[i], c, value_range=value_range, sample=data)

        return {pool.submit(mask, i, c): (i, c) for c in channels for i in range(len(frames))}

    @staticmethod
    def _common_footprints(reading, messages, report) -> dict[int, np.ndarray | None]:
        """The common footprint of each channel read by ``reading`` (the AND of the frames' masks), or
        None where it holds less than MIN_FOOTPRINT_FRACTION of the sample (with a message)."""
        from concurrent.futures import as_completed

        common: dict[int, np.ndarray] = {}
        for future in as_completed(reading):
            c = reading[future][1]
            found = future.result()
            common[c] = found if c not in common else np.logical_and(common[c], found, out=common[c])
            report("frame footprints")
        footprints: dict[int, np.ndarray | None] = {}
        for c, found in sorted(common.items()):
            kept = int(np.count_nonzero(found))
            footprints[c] = found if kept >= MIN_FOOTPRINT_FRACTION * found.size else None
            if footprints[c] is None:
                messages.append(f"channel {c}: the area every frame has in range is {kept / max(found.size, 1):.0%} "
                                "of the frame; each frame's statistics use its own in-range pixels")
        return footprints

    def _statistics_task(self, frames, budget_bytes, samples, scale_factors):
        """``task(i, c, footprint)``: the statistics of channel c of frame i, from its sample in
        ``samples`` when kept (dropped once used), else reading it again."""
        compute = functools.partial(
            channel_statistics, scale_estimator=self.weightScale,
            need_noise=self._effective_weight_mode(scale_factors is not None) in NOISE_MODES,
            noise_algorithm=_NOISE_ALGORITHMS[self.noiseEvaluationAlgorithm],
            use_noise_keywords=not self.ignoreNoiseKeywords, budget_bytes=budget_bytes,
            value_range=self._value_range(),
        )
        raw = scale_factors is not None

        def task(i: int, c: int, footprint: np.ndarray | None) -> ChannelStats:
            sample = None if samples is None else samples.pop((i, c))
            return compute(frames[i], c, footprint=footprint, noise_frame=stored_frame(frames[i]) if raw else None,
                           sample=sample)

        return task

    def _scale_snr_factors(self, frames, messages: list[str]) -> np.ndarray | None:
        """(channels, N) LocalNormalization relative scale factors for weightMode=PSFScaleSNR, or
        None (with a message when PSFScaleSNR was asked for: SNREstimate weights are used)."""
        if self.weightMode != "PSFScaleSNR" or self._effective_weight_mode() == "DontCare":
            return None
        factors, problem = relative_scale_factors(frames, enabled_xnml_paths(self.images))
        if factors is None:
            messages.append(f"weightMode=PSFScaleSNR needs local normalization data with relative scale factors "
                            f"for every frame: {problem}; SNREstimate (inverse normalized noise variance) weights "
                            "were used")
        return factors

    def _weights(self, frames, stats, out_scale, messages, scale_factors=None) -> np.ndarray:
        channels, n = out_scale.shape
        if self.combination != "Average":
            return np.ones((channels, n))
        if self.csvWeights.strip():
            values = parse_csv_weights(self.csvWeights, n)
            return normalized_weights(np.tile(values, (channels, 1)))
        if self.weightMode == "CSVWeightsFile":
            messages.append("weightMode=CSVWeightsFile: weight files are not read; SNREstimate (inverse normalized "
                            "noise variance) weights were used")
        elif self.weightMode in PSF_MODES and self.weightMode != "PSFScaleSNR":
            values = self._psf_weights(frames, messages)
            if values is not None:
                return normalized_weights(np.tile(values, (channels, 1)))
        return compute_weights(self._effective_weight_mode(scale_factors is not None), frames, stats, out_scale,
                               keyword=self.weightKeyword, relative_scale=scale_factors)

    def _psf_weights(self, frames: list[FrameSource], messages: list[str]) -> np.ndarray | None:
        """Each frame's PSFSignalWeight or PSFSNR, measured as SubframeSelector measures it
        (:func:`processes.kernels.subframe.measure_subframe`: star PSF photometry and noise);
        None, with a message, when a frame cannot be measured or the values cannot weigh.
        Frames are read one at a time."""
        fallback = "; SNREstimate (inverse normalized noise variance) weights were used"
        from processes.kernels.subframe import MeasureSettings, measure_subframe

        values = []
        for frame in frames:
            try:
                measured = measure_subframe(read_image(frame.path), MeasureSettings())
            except ProcfwError as exc:
                messages.append(f"weightMode={self.weightMode}: {frame.path.name}: {exc}{fallback}")
                return None
            values.append(measured[self.weightMode])
        array = np.asarray(values, dtype=np.float64)
        if not (np.isfinite(array).all() and (array >= 0).all() and (array > 0).any()):
            messages.append(f"weightMode={self.weightMode}: the frames' values cannot weigh them "
                            f"({', '.join(f'{v:.4g}' for v in values)}){fallback}")
            return None
        return array

    def _apply_min_weight(self, frames, weights, messages) -> np.ndarray:
        if self._effective_weight_mode() == "DontCare" and not self.csvWeights.strip():
            return np.ones(len(frames), dtype=bool)
        relative = weights / weights.max(axis=1, keepdims=True)
        keep = (relative >= self.minWeight).all(axis=0)
        for frame, k in zip(frames, keep):
            if not k:
                messages.append(f"{frame.path.name} left out: its weight is below minWeight={self.minWeight}")
        return keep

    def _pedestals(self, frames: list[FrameSource]) -> np.ndarray | None:
        if not self.subtractPedestals:
            return None
        values = []
        for frame in frames:
            value = frame.keyword("PEDESTAL", 0)
            values.append(float(value) / 65535.0 if isinstance(value, (int, float)) else 0.0)
        return np.asarray(values) if any(values) else None

    # -- results -----------------------------------------------------------------------
    def _output(self, frames, stats, weights, result, plan, messages, weight_mode: str) -> ProcessOutput:
        n = len(frames)
        channels = frames[0].channels
        new_images: dict[str, Image] = {}
        outputs: dict[str, Any] = {}
        x0, y0, x1, y1 = plan.roi
        pixels = (x1 - x0) * (y1 - y0)
        low = result.rejected_low.copy()
        high = result.rejected_high.copy()
        if self.reportRangeRejection:
            low += result.range_low
            high += result.range_high
        outputs["numberOfChannels"] = channels
        outputs["numberOfPixels"] = pixels
        outputs["totalPixels"] = pixels * n
        for c, suffix in enumerate(_CHANNEL_SUFFIXES):
            outputs[f"totalRejectedLow{suffix}"] = int(low[c].sum()) if c < channels else 0
            outputs[f"totalRejectedHigh{suffix}"] = int(high[c].sum()) if c < channels else 0
        if result.image is not None:
            image_pixels = self._fix_range(result.image, outputs, messages)
            image = Image(image_pixels, self._keywords(frames, plan, weight_mode),
                          {"ImageIntegration:numberOfImages": n})
            new_images["integration"] = image
            outputs["integrationImageId"] = "integration"
            self._final_statistics(image_pixels, outputs, plan.budget_bytes)
        if result.low_map is not None:
            new_images["rejection_low"] = Image(result.low_map)
            new_images["rejection_high"] = Image(result.high_map)
            outputs["lowRejectionMapImageId"] = "rejection_low"
            outputs["highRejectionMapImageId"] = "rejection_high"
        if result.slope_map is not None and self.generateSlopeMaps:
            new_images["slope_map"] = Image(result.slope_map)
            outputs["slopeMapImageId"] = "slope_map"
        image_data = []
        frame_rows = []
        for i, frame in enumerate(frames):
            row = [float(weights[c, i]) if c < channels else 0.0 for c in range(3)]
            row += [int(low[c, i]) if c < channels else 0 for c in range(3)]
            row += [int(high[c, i]) if c < channels else 0 for c in range(3)]
            image_data.append(tuple(row))
            frame_rows.append({
                "path": str(frame.path),
                "weight": [float(w) for w in weights[:, i]],
                "location": [s.location for s in stats[i]] if stats else None,
                "scale": [s.scale for s in stats[i]] if stats else None,
                "noise": [s.noise for s in stats[i]] if stats else None,
                "rejectedLow": [int(v) for v in low[:, i]],
                "rejectedHigh": [int(v) for v in high[:, i]],
                "rejectedLowPercent": [100.0 * float(v) / pixels for v in low[:, i]],
                "rejectedHighPercent": [100.0 * float(v) / pixels for v in high[:, i]],
                "rangeRejectedLow": [int(v) for v in result.range_low[:, i]],
                "rangeRejectedHigh": [int(v) for v in result.range_high[:, i]],
            })
        outputs["imageData"] = tuple(image_data)
        outputs["frames"] = frame_rows
        outputs["bands"] = result.bands
        outputs["bandRows"] = result.band_rows
        outputs["memoryBudgetMB"] = round(plan.budget_bytes / (1 << 20), 1)
        outputs["workers"] = result.workers
        outputs["workerPeakMemoryMB"] = round(result.worker_rss_mb, 1)
        return ProcessOutput(outputs=outputs, new_images=new_images, messages=tuple(messages))

    def _fix_range(self, pixels: np.ndarray, outputs: dict[str, Any], messages: list[str]) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            low, high = float(np.nanmin(pixels)), float(np.nanmax(pixels))
        if not (np.isfinite(low) and np.isfinite(high)):
            low, high = 0.0, 0.0
        outputs["outputRangeLow"] = low
        outputs["outputRangeHigh"] = high
        if low >= 0 and high <= 1:
            return pixels
        if self.truncateOnOutOfRange:
            messages.append(f"the result range [{low:.6g}, {high:.6g}] was truncated to [0, 1]")
            return np.clip(pixels, 0, 1)
        lo, hi = min(0.0, low), max(1.0, high)
        messages.append(f"the result range [{low:.6g}, {high:.6g}] was rescaled to [0, 1]")
        out = (pixels - pixels.dtype.type(lo)) / pixels.dtype.type(hi - lo)
        return out.astype(pixels.dtype, copy=False)

    def _final_statistics(self, pixels: np.ndarray, outputs: dict[str, Any], budget: int) -> None:
        """Location, scale and noise of the result, the channels in threads (the estimators'
        compiled passes release the GIL).

        Location and scale use at most ``FINAL_STATS_VALUES`` values (an even row subsample;
        fewer when the budget is small); the noise a central band of full rows.
        """
        from concurrent.futures import ThreadPoolExecutor

        channels = pixels.shape[0]
        with ThreadPoolExecutor(max(1, min(self._threads(), channels)),
                                thread_name_prefix="integration-final") as pool:
            for found in pool.map(lambda c: self._channel_final_statistics(pixels, c, budget), range(channels)):
                outputs.update(found)
        for suffix in _CHANNEL_SUFFIXES[channels:]:
            for key in ("finalNoiseEstimate", "finalScaleEstimate", "finalLocationEstimate"):
                outputs[f"{key}{suffix}"] = 0.0

    def _channel_final_statistics(self, pixels: np.ndarray, c: int, budget: int) -> dict[str, Any]:
        """:meth:`_final_statistics`' outputs of channel ``c`` (location, scale, noise)."""
        height, width = pixels.shape[1:]
        budget = min(budget, FINAL_STATS_VALUES * STATS_BYTES_PER_VALUE)
        stride = max(1, -(-height * width * STATS_BYTES_PER_VALUE // max(budget, 1)))
        suffix = _CHANNEL_SUFFIXES[c]
        plane = pixels[c, ::stride]
        found: dict[str, Any] = {f"finalLocationEstimate{suffix}": fast_median(plane),
                                 f"finalScaleEstimate{suffix}": scale_estimate(plane, self.weightScale)}
        if not self.evaluateSNR:
            return {**found, f"finalNoiseEstimate{suffix}": 0.0}
        from processes.kernels.noise import estimate_noise

        noise_rows = max(16, min(height, budget // max(width * 96, 1)))
        start = (height - noise_rows) // 2
        block = pixels[c, start : start + noise_rows]
        estimate = estimate_noise(block, _NOISE_ALGORITHMS[self.noiseEvaluationAlgorithm])
        return {**found, f"finalNoiseEstimate{suffix}": float(estimate.sigma),
                f"finalNoiseAlgorithm{suffix}": estimate.algorithm}

    def _keywords(self, frames: list[FrameSource], plan: IntegrationPlan, weight_mode: str) -> list[FITSKeyword]:
        skip = {"NCOMBINE", "HISTORY"}
        cards = [k for k in frames[0].keywords if k.name.upper() not in skip]
        history = [
            f"ImageIntegration.numberOfImages: {len(frames)}",
            f"ImageIntegration.pixelCombination: {self.combination}",
            f"ImageIntegration.outputNormalization: {self.normalization}",
            f"ImageIntegration.weightMode: {weight_mode}",
            f"ImageIntegration.scaleEstimator: {self.weightScale}",
            f"ImageIntegration.rejectionAlgorithm: {self.rejection}",
        ]
        if self.rejection != "NoRejection":
            history.append(f"ImageIntegration.rejectionNormalization: {self.rejectionNormalization}")
            history.append(f"ImageIntegration.rejectionClippings: low={self.clipLow} high={self.clipHigh}")
            history.append(f"ImageIntegration.rejectionParameters: sigmaLow={self.sigmaLow:.3f} "
                           f"sigmaHigh={self.sigmaHigh:.3f}")
        if self.generateFITSKeywords:
            cards.append(FITSKeyword("NCOMBINE", len(frames), "Number of combined images"))
            cards += [FITSKeyword("HISTORY", text) for text in history]
        return cards


