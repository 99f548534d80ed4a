"""ImageCalibration, StarAlignment, ImageIntegration and Debayer declare exactly PixInsight 1.9's parameters.

Each list below is transcribed from PixInsight's declarations, in their order: ``id:Kind``,
``*`` marking a read-only parameter (an output PixInsight writes into icons after an
execution) and a leading ``.`` a column of the table before it.  A parameter added to or
dropped from a process, or one whose kind changes, fails the test of that process.
"""

from __future__ import annotations

import re
import warnings

import pytest

from procfw.icons import dumps_icons, loads_icons
from procfw.params import Table
from procfw.process import Process
from procfw.registry import PluginWarning, processes

pytestmark = pytest.mark.filterwarnings("ignore::procfw.registry.PluginWarning")

with warnings.catch_warnings():
    warnings.simplefilter("ignore", PluginWarning)
    BUILT_IN = {pid: cls for pid, cls in processes.items() if cls.__module__.startswith("processes.")}

# PCL (github:vahlkar/PCL), src/modules/processes/ImageCalibration/ImageCalibrationParameters.cpp at bf047a139
# ("Update to PixInsight 1.9.1 / PCL 2.8.4", the last commit before the module left the open sources)
IMAGE_CALIBRATION = """
    targetFrames:Table .enabled:Boolean .path:String enableCFA:Boolean cfaPattern:Enumeration inputHints:String
    outputHints:String pedestal:Int32 pedestalMode:Enumeration pedestalKeyword:String overscanEnabled:Boolean
    overscanImageX0:Int32 overscanImageY0:Int32 overscanImageX1:Int32 overscanImageY1:Int32
    overscanRegions:Table .enabled:Boolean .sourceX0:Int32 .sourceY0:Int32 .sourceX1:Int32 .sourceY1:Int32
    .targetX0:Int32 .targetY0:Int32 .targetX1:Int32 .targetY1:Int32 masterBiasEnabled:Boolean
    masterBiasPath:String masterDarkEnabled:Boolean masterDarkPath:String masterFlatEnabled:Boolean
    masterFlatPath:String calibrateBias:Boolean calibrateDark:Boolean calibrateFlat:Boolean
    optimizeDarks:Boolean darkOptimizationThreshold:Float darkOptimizationLow:Float darkOptimizationWindow:Int32
    darkCFADetectionMode:Enumeration separateCFAFlatScalingFactors:Boolean flatScaleClippingFactor:Float
    cosmeticCorrectionLow:Boolean cosmeticLowSigma:Int32 cosmeticCorrectionHigh:Boolean cosmeticHighSigma:Int32
    cosmeticKernelRadius:Int32 cosmeticShowMap:Boolean cosmeticShowMapAndStop:Boolean evaluateNoise:Boolean
    noiseEvaluationAlgorithm:Enumeration evaluateSignal:Boolean structureLayers:Int32 saturationThreshold:Float
    saturationRelative:Boolean noiseLayers:Int32 hotPixelFilterRadius:Int32 noiseReductionFilterRadius:Int32
    minStructureSize:Int32 psfType:Enumeration psfGrowth:Float maxStars:Int32 outputDirectory:String
    outputExtension:String outputPrefix:String outputPostfix:String outputSampleFormat:Enumeration
    outputPedestal:Int32 outputPedestalMode:Enumeration autoPedestalLimit:Float overwriteExistingFiles:Boolean
    onError:Enumeration noGUIMessages:Boolean useFileThreads:Boolean fileThreadOverload:Float
    maxFileReadThreads:Int32 maxFileWriteThreads:Int32 outputData:Table* .outputFilePath:String
    .darkScalingFactorRK:Float .darkScalingFactorG:Float .darkScalingFactorB:Float
    .psfTotalFluxEstimateRK:Double .psfTotalFluxEstimateG:Double .psfTotalFluxEstimateB:Double
    .psfTotalPowerFluxEstimateRK:Double .psfTotalPowerFluxEstimateG:Double .psfTotalPowerFluxEstimateB:Double
    .psfTotalMeanFluxEstimateRK:Double .psfTotalMeanFluxEstimateG:Double .psfTotalMeanFluxEstimateB:Double
    .psfTotalMeanPowerFluxEstimateRK:Double .psfTotalMeanPowerFluxEstimateG:Double
    .psfTotalMeanPowerFluxEstimateB:Double .psfMStarEstimateRK:Double .psfMStarEstimateG:Double
    .psfMStarEstimateB:Double .psfNStarEstimateRK:Double .psfNStarEstimateG:Double .psfNStarEstimateB:Double
    .psfCountRK:Int32 .psfCountG:Int32 .psfCountB:Int32 .noiseEstimateRK:Double .noiseEstimateG:Double
    .noiseEstimateB:Double .noiseFractionRK:Double .noiseFractionG:Double .noiseFractionB:Double
    .noiseScaleLowRK:Double .noiseScaleLowG:Double .noiseScaleLowB:Double .noiseScaleHighRK:Double
    .noiseScaleHighG:Double .noiseScaleHighB:Double .noiseAlgorithmRK:String .noiseAlgorithmG:String
    .noiseAlgorithmB:String .cosmeticCorrectionLowCountRK:UInt64 .cosmeticCorrectionLowCountG:UInt64
    .cosmeticCorrectionLowCountB:UInt64 .cosmeticCorrectionHighCountRK:UInt64
    .cosmeticCorrectionHighCountG:UInt64 .cosmeticCorrectionHighCountB:UInt64 cosmeticCorrectionMapId:String*
"""

# PCL, src/modules/processes/ImageIntegration/ImageIntegrationParameters.cpp at fd570d584 ("Update to PixInsight
# core version 1.8.9-3", the last commit before the module left the open sources; no 1.9 source is public),
# with the five parameters PixInsight 1.9 added, as instance sources PixInsight 1.9 wrote show them (copied into
# public scripts): overrideImageType = false, imageType = 0 after inputHints; csvWeightsFilePath = "" after
# weightKeyword; generateSlopeMaps = false after generateRejectionMaps; generateFITSKeywords = true after psfType
# (and the weightMode element CSVWeightsFile)
IMAGE_INTEGRATION = """
    images:Table .enabled:Boolean .path:String .drizzlePath:String .localNormalizationDataPath:String
    inputHints:String overrideImageType:Boolean imageType:Int32 combination:Enumeration weightMode:Enumeration
    weightKeyword:String csvWeightsFilePath:String weightScale:Enumeration minWeight:Float csvWeights:String
    adaptiveGridSize:Int32 adaptiveNoScale:Boolean ignoreNoiseKeywords:Boolean normalization:Enumeration
    rejection:Enumeration rejectionNormalization:Enumeration minMaxLow:Int32 minMaxHigh:Int32 pcClipLow:Float
    pcClipHigh:Float sigmaLow:Float sigmaHigh:Float winsorizationCutoff:Float linearFitLow:Float
    linearFitHigh:Float esdOutliersFraction:Float esdAlpha:Float esdLowRelaxation:Float rcrLimit:Float
    ccdGain:Float ccdReadNoise:Float ccdScaleNoise:Float clipLow:Boolean clipHigh:Boolean rangeClipLow:Boolean
    rangeLow:Float rangeClipHigh:Boolean rangeHigh:Float mapRangeRejection:Boolean reportRangeRejection:Boolean
    largeScaleClipLow:Boolean largeScaleClipLowProtectedLayers:Int32 largeScaleClipLowGrowth:Int32
    largeScaleClipHigh:Boolean largeScaleClipHighProtectedLayers:Int32 largeScaleClipHighGrowth:Int32
    generate64BitResult:Boolean generateRejectionMaps:Boolean generateSlopeMaps:Boolean
    generateIntegratedImage:Boolean generateDrizzleData:Boolean closePreviousImages:Boolean bufferSizeMB:Int32
    stackSizeMB:Int32 autoMemorySize:Boolean autoMemoryLimit:Float useROI:Boolean roiX0:Int32 roiY0:Int32
    roiX1:Int32 roiY1:Int32 useCache:Boolean evaluateSNR:Boolean noiseEvaluationAlgorithm:Enumeration
    mrsMinDataFraction:Float psfStructureLayers:Int32 psfType:Enumeration generateFITSKeywords:Boolean
    subtractPedestals:Boolean truncateOnOutOfRange:Boolean noGUIMessages:Boolean showImages:Boolean
    useFileThreads:Boolean fileThreadOverload:Float useBufferThreads:Boolean maxBufferThreads:Int32
    integrationImageId:String* lowRejectionMapImageId:String* highRejectionMapImageId:String*
    slopeMapImageId:String* numberOfChannels:Int32* numberOfPixels:UInt64* totalPixels:UInt64*
    outputRangeLow:Double* outputRangeHigh:Double* totalRejectedLowRK:UInt64* totalRejectedLowG:UInt64*
    totalRejectedLowB:UInt64* totalRejectedHighRK:UInt64* totalRejectedHighG:UInt64* totalRejectedHighB:UInt64*
    finalNoiseEstimateRK:Double* finalNoiseEstimateG:Double* finalNoiseEstimateB:Double*
    finalNoiseScaleEstimateLowRK:Double* finalNoiseScaleEstimateLowG:Double* finalNoiseScaleEstimateLowB:Double*
    finalNoiseScaleEstimateHighRK:Double* finalNoiseScaleEstimateHighG:Double*
    finalNoiseScaleEstimateHighB:Double* finalNoiseAlgorithmRK:String* finalNoiseAlgorithmG:String*
    finalNoiseAlgorithmB:String* finalScaleEstimateRK:Double* finalScaleEstimateG:Double*
    finalScaleEstimateB:Double* finalLocationEstimateRK:Double* finalLocationEstimateG:Double*
    finalLocationEstimateB:Double* finalPSFTotalFluxEstimateRK:Double* finalPSFTotalFluxEstimateG:Double*
    finalPSFTotalFluxEstimateB:Double* finalPSFTotalPowerFluxEstimateRK:Double*
    finalPSFTotalPowerFluxEstimateG:Double* finalPSFTotalPowerFluxEstimateB:Double*
    finalPSFTotalMeanFluxEstimateRK:Double* finalPSFTotalMeanFluxEstimateG:Double*
    finalPSFTotalMeanFluxEstimateB:Double* finalPSFTotalMeanPowerFluxEstimateRK:Double*
    finalPSFTotalMeanPowerFluxEstimateG:Double* finalPSFTotalMeanPowerFluxEstimateB:Double*
    finalPSFMStarEstimateRK:Double* finalPSFMStarEstimateG:Double* finalPSFMStarEstimateB:Double*
    finalPSFNStarEstimateRK:Double* finalPSFNStarEstimateG:Double* finalPSFNStarEstimateB:Double*
    finalPSFCountRK:UInt32* finalPSFCountG:UInt32* finalPSFCountB:UInt32* referenceNoiseReductionRK:Float*
    referenceNoiseReductionG:Float* referenceNoiseReductionB:Float* medianNoiseReductionRK:Float*
    medianNoiseReductionG:Float* medianNoiseReductionB:Float* referenceSNRIncrementRK:Float*
    referenceSNRIncrementG:Float* referenceSNRIncrementB:Float* averageSNRIncrementRK:Float*
    averageSNRIncrementG:Float* averageSNRIncrementB:Float* imageData:Table* .weightRK:Float .weightG:Float
    .weightB:Float .rejectedLowRK:UInt64 .rejectedLowG:UInt64 .rejectedLowB:UInt64 .rejectedHighRK:UInt64
    .rejectedHighG:UInt64 .rejectedHighB:UInt64
"""

# PCL, src/modules/processes/contrib/spool/Debayer/DebayerParameters.cpp at 61a604bd5 (PixInsight 1.9.2 / PCL 2.8.5)
DEBAYER = """
    cfaPattern:Enumeration debayerMethod:Enumeration fbddNoiseReduction:Int32 showImages:Boolean
    cfaSourceFilePath:String targetItems:Table .enabled:Boolean .image:String noGUIMessages:Boolean
    evaluateNoise:Boolean noiseEvaluationAlgorithm:Enumeration evaluateSignal:Boolean structureLayers:Int32
    saturationThreshold:Float saturationRelative:Boolean noiseLayers:Int32 hotPixelFilterRadius:Int32
    noiseReductionFilterRadius:Int32 minStructureSize:Int32 psfType:Enumeration psfGrowth:Float maxStars:Int32
    inputHints:String outputHints:String outputRGBImages:Boolean outputSeparateChannels:Boolean
    outputDirectory:String outputExtension:String outputPrefix:String outputPostfix:String
    overwriteExistingFiles:Boolean onError:Enumeration useFileThreads:Boolean fileThreadOverload:Float
    maxFileReadThreads:Int32 maxFileWriteThreads:Int32 memoryLoadControl:Boolean memoryLoadLimit:Float
    outputImage:String* outputChannelImageR:String* outputChannelImageG:String* outputChannelImageB:String*
    psfTotalFluxEstimateR:Double* psfTotalFluxEstimateG:Double* psfTotalFluxEstimateB:Double*
    psfTotalPowerFluxEstimateR:Double* psfTotalPowerFluxEstimateG:Double* psfTotalPowerFluxEstimateB:Double*
    psfTotalMeanFluxEstimateR:Double* psfTotalMeanFluxEstimateG:Double* psfTotalMeanFluxEstimateB:Double*
    psfTotalMeanPowerFluxEstimateR:Double* psfTotalMeanPowerFluxEstimateG:Double*
    psfTotalMeanPowerFluxEstimateB:Double* psfMStarEstimateR:Double* psfMStarEstimateG:Double*
    psfMStarEstimateB:Double* psfNStarEstimateR:Double* psfNStarEstimateG:Double* psfNStarEstimateB:Double*
    psfCountR:Int32* psfCountG:Int32* psfCountB:Int32* noiseEstimateR:Double* noiseEstimateG:Double*
    noiseEstimateB:Double* noiseFractionR:Double* noiseFractionG:Double* noiseFractionB:Double*
    noiseScaleLowR:Double* noiseScaleLowG:Double* noiseScaleLowB:Double* noiseScaleHighR:Double*
    noiseScaleHighG:Double* noiseScaleHighB:Double* noiseAlgorithmR:String* noiseAlgorithmG:String*
    noiseAlgorithmB:String* outputFileData:Table* .filePath:String .channelFilePathR:String
    .channelFilePathG:String .channelFilePathB:String .psfTotalFluxEstimateR:Double
    .psfTotalFluxEstimateG:Double .psfTotalFluxEstimateB:Double .psfTotalPowerFluxEstimateR:Double
    .psfTotalPowerFluxEstimateG:Double .psfTotalPowerFluxEstimateB:Double .psfTotalMeanFluxEstimateR:Double
    .psfTotalMeanFluxEstimateG:Double .psfTotalMeanFluxEstimateB:Double .psfTotalMeanPowerFluxEstimateR:Double
    .psfTotalMeanPowerFluxEstimateG:Double .psfTotalMeanPowerFluxEstimateB:Double .psfMStarEstimateR:Double
    .psfMStarEstimateG:Double .psfMStarEstimateB:Double .psfNStarEstimateR:Double .psfNStarEstimateG:Double
    .psfNStarEstimateB:Double .psfCountR:Int32 .psfCountG:Int32 .psfCountB:Int32 .noiseEstimateR:Double
    .noiseEstimateG:Double .noiseEstimateB:Double .noiseFractionR:Double .noiseFractionG:Double
    .noiseFractionB:Double .noiseScaleLowR:Double .noiseScaleLowG:Double .noiseScaleLowB:Double
    .noiseScaleHighR:Double .noiseScaleHighG:Double .noiseScaleHighB:Double .noiseAlgorithmR:String
    .noiseAlgorithmG:String .noiseAlgorithmB:String
"""

# StarAlignment's sources have never been published: the ids and their order are those of toSource() of a
# new PixInsight 1.9.4 StarAlignment instance (read-only outputData columns from its "Read-only properties"
# comment); the kinds of the columns are procfw's reading of what they hold.
STAR_ALIGNMENT = """
    structureLayers:Int32 noiseLayers:Int32 hotPixelFilterRadius:Int32 noiseReductionFilterRadius:Int32
    minStructureSize:Int32 sensitivity:Float peakResponse:Float brightThreshold:Float maxStarDistortion:Float
    allowClusteredSources:Boolean localMaximaDetectionLimit:Float upperLimit:Float invert:Boolean
    distortionModel:String undistortedReference:Boolean rigidTransformations:Boolean
    distortionCorrection:Boolean distortionMaxIterations:Int32 distortionMatcherExpansion:Float
    rbfType:Enumeration maxSplinePoints:Int32 splineOrder:Int32 splineSmoothness:Float
    splineOutlierDetectionRadius:Int32 splineOutlierDetectionMinThreshold:Float
    splineOutlierDetectionSigma:Float matcherTolerance:Float ransacTolerance:Float ransacMaxIterations:Int32
    ransacMaximizeInliers:Float ransacMaximizeOverlapping:Float ransacMaximizeRegularity:Float
    ransacMinimizeError:Float maxStars:Int32 fitPSF:Enumeration psfTolerance:Float useTriangles:Boolean
    polygonSides:Int32 descriptorsPerStar:Int32 restrictToPreviews:Boolean intersection:Enumeration
    useBrightnessRelations:Boolean useScaleDifferences:Boolean scaleTolerance:Float referenceImage:String
    referenceIsFile:Boolean targets:Table .enabled:Boolean .isFile:Boolean .image:String
    targetCSVFilePath:String inputHints:String outputHints:String mode:Enumeration writeKeywords:Boolean
    generateMasks:Boolean generateDrizzleData:Boolean generateDistortionMaps:Boolean
    generateHistoryProperties:Boolean inheritAstrometricSolution:Boolean frameAdaptation:Boolean
    randomizeMosaic:Boolean pixelInterpolation:Enumeration clampingThreshold:Float outputDirectory:String
    outputExtension:String outputPrefix:String outputPostfix:String maskPostfix:String
    distortionMapPostfix:String outputSampleFormat:Enumeration overwriteExistingFiles:Boolean
    onError:Enumeration useFileThreads:Boolean fileThreadOverload:Float maxFileReadThreads:Int32
    maxFileWriteThreads:Int32 memoryLoadControl:Boolean memoryLoadLimit:Float outputData:Table*
    .outputImage:String .outputMask:String .totalPairMatches:UInt32 .inliers:UInt32 .overlapping:Double
    .regularity:Double .quality:Double .rmsError:Double .rmsErrorDev:Double .peakErrorX:Double
    .peakErrorY:Double .H11:Double .H12:Double .H13:Double .H21:Double .H22:Double .H23:Double .H31:Double
    .H32:Double .H33:Double .frameAdaptationBiasRK:Double .frameAdaptationBiasG:Double
    .frameAdaptationBiasB:Double .frameAdaptationSlopeRK:Double .frameAdaptationSlopeG:Double
    .frameAdaptationSlopeB:Double .frameAdaptationAvgDevRK:Double .frameAdaptationAvgDevG:Double
    .frameAdaptationAvgDevB:Double .referenceStarX:Block .referenceStarY:Block .targetStarX:Block
    .targetStarY:Block .outputDistortionMap:String
"""

PIXINSIGHT = {
    "ImageCalibration": IMAGE_CALIBRATION,
    "ImageIntegration": IMAGE_INTEGRATION,
    "Debayer": DEBAYER,
    "StarAlignment": STAR_ALIGNMENT,
}


def _declared(cls: type[Process]) -> list[str]:
    tokens = []
    for pid, kind in cls.schema().items():
        tokens.append(f"{pid}:{kind.kind_name}{'*' if kind.read_only else ''}")
        if isinstance(kind, Table):
            tokens += [f".{column.id}:{column.kind_name}" for column in kind.columns]
    return tokens


@pytest.mark.parametrize("process_id", sorted(PIXINSIGHT))
def test_parameters_are_pixinsight_s_ids_kinds_order_and_read_only_flags(process_id: str):
    assert _declared(BUILT_IN[process_id]) == PIXINSIGHT[process_id].split()


@pytest.mark.parametrize("process_id", sorted(PIXINSIGHT))
def test_every_column_of_a_read_only_table_is_read_only(process_id: str):
    for kind in BUILT_IN[process_id].schema().values():
        if isinstance(kind, Table):
            assert all(c.read_only == kind.read_only for c in kind.columns), kind.id


def test_image_calibration_s_cosmetic_correction_parameters():
    # ImageCalibrationParameters.cpp: ICCosmeticCorrectionLow ... ICCosmeticShowMapAndStop
    schema = BUILT_IN["ImageCalibration"].schema()
    expected = {
        "cosmeticCorrectionLow": ("Boolean", False, None, None),
        "cosmeticLowSigma": ("Int32", 5, 1, 100),
        "cosmeticCorrectionHigh": ("Boolean", False, None, None),
        "cosmeticHighSigma": ("Int32", 10, 1, 100),
        "cosmeticKernelRadius": ("Int32", 1, 1, 5),
        "cosmeticShowMap": ("Boolean", False, None, None),
        "cosmeticShowMapAndStop": ("Boolean", False, None, None),
    }
    for pid, (kind_name, default, low, high) in expected.items():
        kind = schema[pid]
        assert (kind.kind_name, kind.default_value) == (kind_name, default), pid
        assert (getattr(kind, "minimum", None), getattr(kind, "maximum", None)) == (low, high), pid
    assert schema["cosmeticCorrectionMapId"].read_only and schema["outputData"].read_only


def test_image_integration_s_pixinsight_1_9_additions():
    cls = BUILT_IN["ImageIntegration"]
    p = cls()
    assert (p.overrideImageType, p.imageType, p.csvWeightsFilePath) == (False, 0, "")
    assert (p.generateSlopeMaps, p.generateFITSKeywords) == (False, True)
    assert "CSVWeightsFile" in cls.parameter("weightMode").element_ids()


def test_star_alignment_s_pixinsight_1_9_defaults_and_removed_ids():
    cls = BUILT_IN["StarAlignment"]
    schema, p = cls.schema(), cls()
    # P.targetCSVFilePath = ""; P.generateDrizzleData = true; P.inheritAstrometricSolution = false;
    # P.ransacTolerance = 1.9000 (four decimals)
    assert (schema["targetCSVFilePath"].kind_name, p.targetCSVFilePath) == ("String", "")
    assert (p.generateDrizzleData, p.inheritAstrometricSolution) == (True, False)
    assert schema["ransacTolerance"].precision == 4 and schema["ransacTolerance"].format(p.ransacTolerance) == "1.9000"
    for gone in ("transformationModel", "trianglesPerStar", "noGUIMessages", "distortionTolerance",
                 "distortionAmplitude", "useSurfaceSplines", "localDistortion", "localDistortionScale",
                 "localDistortionTolerance", "localDistortionRejection", "localDistortionRejectionWindow",
                 "localDistortionRegularization", "extrapolateLocalDistortion"):
        assert gone not in schema


# -- icons as PixInsight writes them -------------------------------------------------------------------------
_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!--
PixInsight XML Process Serialization Module - XPSM 1.0
-->
<xpsm version="1.0" xmlns="http://www.pixinsight.com/xpsm" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" \
xsi:schemaLocation="http://www.pixinsight.com/xpsm http://pixinsight.com/xpsm/xpsm-1.0.xsd">
"""
_TAIL = """   <icon id="{icon}" instance="{icon}_instance" xpos="8" ypos="8" workspace="Workspace01"/>
</xpsm>
"""


def _cells(values: dict[str, str], texts: tuple[str, ...] = ()) -> str:
    """A <tr> as PixInsight writes it: value attributes, text for String cells."""
    tds = [f'<td id="{k}">{v}</td>' if k in texts else f'<td id="{k}" value="{v}"/>' for k, v in values.items()]
    return "         <tr>\n" + "".join(f"            {td}\n" for td in tds) + "         </tr>\n"


def _signal_noise(channels: tuple[str, ...], noise: tuple[str, ...]) -> dict[str, str]:
    cells = {}
    for stem in ("psfTotalFluxEstimate", "psfTotalPowerFluxEstimate", "psfTotalMeanFluxEstimate",
                 "psfTotalMeanPowerFluxEstimate", "psfMStarEstimate", "psfNStarEstimate"):
        cells.update({f"{stem}{c}": "0.0000e+00" for c in channels})
    cells.update({f"psfCount{c}": "0" for c in channels})
    cells.update({f"noiseEstimate{c}": n for c, n in zip(channels, noise)})
    cells.update({f"noiseFraction{c}": "0.812" for c in channels})
    cells.update({f"noiseScaleLow{c}": "1.000000e+00" for c in channels})
    cells.update({f"noiseScaleHigh{c}": "1.000000e+00" for c in channels})
    cells.update({f"noiseAlgorithm{c}": "MRS" for c in channels})
    return cells


_IC_ROW = {"outputFilePath": "/data/calibrated/light_001_c.xisf", "darkScalingFactorRK": "0.986",
           "darkScalingFactorG": "0.000", "darkScalingFactorB": "0.000",
           **_signal_noise(("RK", "G", "B"), ("1.234e-03", "0.000e+00", "0.000e+00")),
           **{f"cosmeticCorrection{s}Count{c}": "17" if c == "RK" else "0" for s in ("Low", "High")
              for c in ("RK", "G", "B")}}
IMAGE_CALIBRATION_ICON = _HEAD + """   <instance class="ImageCalibration" version="256" id="IC_instance">
      <table id="targetFrames" rows="1">
         <tr>
            <td id="enabled" value="true"/>
            <td id="path">/data/lights/light_001.fits</td>
         </tr>
      </table>
      <parameter id="masterDarkPath">/data/masters/dark.xisf</parameter>
      <parameter id="optimizeDarks" value="true"/>
      <parameter id="cosmeticCorrectionLow" value="true"/>
      <parameter id="cosmeticLowSigma" value="3"/>
      <parameter id="cosmeticCorrectionHigh" value="true"/>
      <parameter id="cosmeticHighSigma" value="7"/>
      <parameter id="cosmeticKernelRadius" value="2"/>
      <parameter id="cosmeticShowMap" value="true"/>
      <parameter id="cosmeticShowMapAndStop" value="false"/>
      <table id="outputData" rows="1">
""" + _cells(_IC_ROW, ("outputFilePath", "noiseAlgorithmRK", "noiseAlgorithmG", "noiseAlgorithmB")) + """\
      </table>
      <parameter id="cosmeticCorrectionMapId">cosmetic_map</parameter>
   </instance>
""" + _TAIL.format(icon="IC")

_SA_ROW = {"outputImage": "/data/registered/light_001_c_r.xisf", "outputMask": "", "totalPairMatches": "812",
           "inliers": "790", "overlapping": "0.985", "regularity": "0.91", "quality": "0.88", "rmsError": "0.214",
           "rmsErrorDev": "0.05", "peakErrorX": "0.61", "peakErrorY": "0.58",
           "H11": "0.99998", "H12": "-0.0021", "H13": "12.5", "H21": "0.0021", "H22": "0.99998", "H23": "-7.25",
           "H31": "0", "H32": "0", "H33": "1",
           **{f"frameAdaptation{w}{c}": "0" for w in ("Bias", "Slope", "AvgDev") for c in ("RK", "G", "B")},
           "referenceStarX": "", "referenceStarY": "", "targetStarX": "", "targetStarY": "",
           "outputDistortionMap": ""}
STAR_ALIGNMENT_ICON = _HEAD + """   <instance class="StarAlignment" version="256" id="SA_instance">
      <parameter id="structureLayers" value="5"/>
      <parameter id="ransacTolerance" value="2.5000"/>
      <parameter id="referenceImage">/data/calibrated/light_010_c.xisf</parameter>
      <parameter id="referenceIsFile" value="true"/>
      <table id="targets" rows="1">
         <tr>
            <td id="enabled" value="true"/>
            <td id="isFile" value="true"/>
            <td id="image">/data/calibrated/light_001_c.xisf</td>
         </tr>
      </table>
      <parameter id="targetCSVFilePath">/data/targets.csv</parameter>
      <parameter id="generateDrizzleData" value="true"/>
      <parameter id="inheritAstrometricSolution" value="false"/>
      <parameter id="outputDirectory">/data/registered</parameter>
      <table id="outputData" rows="1">
""" + _cells(_SA_ROW, ("outputImage", "outputMask", "referenceStarX", "referenceStarY", "targetStarX",
                       "targetStarY", "outputDistortionMap")) + """\
      </table>
   </instance>
""" + _TAIL.format(icon="SA")

IMAGE_INTEGRATION_ICON = _HEAD + """   <instance class="ImageIntegration" version="256" id="II_instance">
      <table id="images" rows="2">
         <tr>
            <td id="enabled" value="true"/>
            <td id="path">/data/registered/light_001_c_r.xisf</td>
            <td id="drizzlePath"></td>
            <td id="localNormalizationDataPath"></td>
         </tr>
         <tr>
            <td id="enabled" value="true"/>
            <td id="path">/data/registered/light_002_c_r.xisf</td>
            <td id="drizzlePath"></td>
            <td id="localNormalizationDataPath"></td>
         </tr>
      </table>
      <parameter id="overrideImageType" value="false"/>
      <parameter id="imageType" value="0"/>
      <parameter id="weightMode" value="CSVWeightsFile"/>
      <parameter id="csvWeightsFilePath">/data/weights.csv</parameter>
      <parameter id="rejection" value="WinsorizedSigmaClip"/>
      <parameter id="generateSlopeMaps" value="true"/>
      <parameter id="generateFITSKeywords" value="false"/>
      <parameter id="integrationImageId">integration</parameter>
      <parameter id="lowRejectionMapImageId">rejection_low</parameter>
      <parameter id="highRejectionMapImageId">rejection_high</parameter>
      <parameter id="numberOfChannels" value="1"/>
      <parameter id="numberOfPixels" value="24000000"/>
      <parameter id="totalPixels" value="48000000"/>
      <parameter id="outputRangeLow" value="0.0123456789012345"/>
      <parameter id="totalRejectedLowRK" value="1234"/>
      <parameter id="totalRejectedHighRK" value="5678"/>
      <parameter id="finalNoiseEstimateRK" value="1.234e-04"/>
      <parameter id="finalNoiseScaleEstimateLowRK" value="9.876543e-01"/>
      <parameter id="finalNoiseAlgorithmRK">MRS</parameter>
      <parameter id="finalLocationEstimateRK" value="1.2345e-02"/>
      <parameter id="finalPSFCountRK" value="3210"/>
      <parameter id="medianNoiseReductionRK" value="1.3579"/>
      <table id="imageData" rows="2">
""" + _cells({"weightRK": "1.00000", "weightG": "0.00000", "weightB": "0.00000", "rejectedLowRK": "600",
              "rejectedLowG": "0", "rejectedLowB": "0", "rejectedHighRK": "2800", "rejectedHighG": "0",
              "rejectedHighB": "0"}) + _cells(
             {"weightRK": "0.87654", "weightG": "0.00000", "weightB": "0.00000", "rejectedLowRK": "634",
              "rejectedLowG": "0", "rejectedLowB": "0", "rejectedHighRK": "2878", "rejectedHighG": "0",
              "rejectedHighB": "0"}) + """\
      </table>
   </instance>
""" + _TAIL.format(icon="II")

_DB_ROW = {"filePath": "/data/debayered/light_001_c_d.xisf", "channelFilePathR": "", "channelFilePathG": "",
           "channelFilePathB": "", **_signal_noise(("R", "G", "B"), ("2.345e-03", "1.234e-03", "3.456e-03"))}
DEBAYER_ICON = _HEAD + """   <instance class="Debayer" version="256" id="DB_instance">
      <parameter id="cfaPattern" value="RGGB"/>
      <parameter id="debayerMethod" value="VNG"/>
      <table id="targetItems" rows="1">
         <tr>
            <td id="enabled" value="true"/>
            <td id="image">/data/calibrated/light_001_c.xisf</td>
         </tr>
      </table>
      <parameter id="outputImage">light_001_c_RGB_VNG</parameter>
      <parameter id="noiseEstimateR" value="2.345e-03"/>
      <parameter id="noiseFractionG" value="0.791"/>
      <parameter id="noiseScaleLowB" value="1.012345e+00"/>
      <parameter id="noiseAlgorithmR">MRS</parameter>
      <table id="outputFileData" rows="1">
""" + _cells(_DB_ROW, ("filePath", "channelFilePathR", "channelFilePathG", "channelFilePathB", "noiseAlgorithmR",
                       "noiseAlgorithmG", "noiseAlgorithmB")) + """\
      </table>
   </instance>
""" + _TAIL.format(icon="DB")

ICONS = {
    "ImageCalibration": ("IC", IMAGE_CALIBRATION_ICON),
    "StarAlignment": ("SA", STAR_ALIGNMENT_ICON),
    "ImageIntegration": ("II", IMAGE_INTEGRATION_ICON),
    "Debayer": ("DB", DEBAYER_ICON),
}


@pytest.mark.parametrize("process_id", sorted(ICONS))
def test_a_pixinsight_icon_loads_typed_without_warnings_and_writes_back_equal(process_id: str):
    name, text = ICONS[process_id]
    result = loads_icons(text, "xpsm")
    assert result.warnings == []
    icon = result.icons[name]
    assert isinstance(icon, BUILT_IN[process_id])
    written = dumps_icons(result.icons, "xpsm", meta=result.meta)
    again = loads_icons(written, "xpsm")
    assert again.warnings == [] and again.icons[name] == icon
    # every parameter, table and cell PixInsight wrote comes back as it wrote it
    lines = {line.strip() for line in written.splitlines()}
    for line in text.splitlines():
        if line.strip().startswith(("<parameter", "<td", "<table")):
            assert line.strip() in lines, line


def test_the_values_are_typed():
    icons = {name: loads_icons(text, "xpsm").icons[name] for name, text in ICONS.values()}
    ic, sa, ii, db = icons["IC"], icons["SA"], icons["II"], icons["DB"]
    assert (ic.cosmeticCorrectionLow, ic.cosmeticLowSigma, ic.cosmeticHighSigma, ic.cosmeticKernelRadius) == (
        True, 3, 7, 2)
    assert ic.cosmeticCorrectionMapId == "cosmetic_map"
    row = dict(zip((c.id for c in ic.schema()["outputData"].columns), ic.outputData[0]))
    assert row["outputFilePath"].endswith("light_001_c.xisf") and row["noiseEstimateRK"] == pytest.approx(1.234e-3)
    assert row["darkScalingFactorRK"] == pytest.approx(0.986) and row["cosmeticCorrectionLowCountRK"] == 17
    assert (sa.targetCSVFilePath, sa.ransacTolerance) == ("/data/targets.csv", pytest.approx(2.5))
    sa_row = dict(zip((c.id for c in sa.schema()["outputData"].columns), sa.outputData[0]))
    assert (sa_row["inliers"], sa_row["H13"], sa_row["referenceStarX"]) == (790, 12.5, b"")
    assert (ii.integrationImageId, ii.numberOfPixels, ii.totalRejectedHighRK) == ("integration", 24000000, 5678)
    assert ii.outputRangeLow == 0.0123456789012345 and ii.finalNoiseEstimateRK == pytest.approx(1.234e-4)
    assert ii.imageData[1][:1] == pytest.approx((0.87654,)) and ii.imageData[1][3] == 634
    assert (db.outputImage, db.noiseEstimateR, db.noiseAlgorithmR) == ("light_001_c_RGB_VNG", 2.345e-3, "MRS")
    assert db.outputFileData[0][0] == "/data/debayered/light_001_c_d.xisf"


def test_read_only_outputs_cannot_be_set_on_the_console_but_load_from_icons():
    from procfw.console import Session

    session = Session()
    with pytest.raises(Exception, match="integrationImageId is a read-only output"):
        session.run_text("ImageIntegration -integrationImageId=x")


def test_old_procfw_star_alignment_icons_with_removed_ids_still_load_with_a_clear_warning():
    text = _HEAD + """   <instance class="StarAlignment" version="256" id="Old_instance">
      <parameter id="sensitivity" value="0.30"/>
      <parameter id="transformationModel" value="Similarity"/>
      <parameter id="trianglesPerStar" value="0"/>
      <parameter id="useSurfaceSplines" value="false"/>
      <parameter id="noGUIMessages" value="true"/>
      <parameter id="ransacTolerance" value="2.00"/>
   </instance>
""" + _TAIL.format(icon="Old")
    result = loads_icons(text, "xpsm")
    old = result.icons["Old"]
    assert isinstance(old, BUILT_IN["StarAlignment"])
    assert (old.sensitivity, old.ransacTolerance) == pytest.approx((0.3, 2.0))
    for gone in ("transformationModel", "trianglesPerStar", "useSurfaceSplines", "noGUIMessages"):
        assert any(f"unknown parameter '{gone}'" in w and "ignored" in w for w in result.warnings), gone
    assert len(result.warnings) == 4


# toSource() of a new PixInsight 1.9.4 StarAlignment instance (its writable parameters; targets left out):
# the defaults, and for reals the precision PixInsight writes them with (the declarations are not public)
STAR_ALIGNMENT_SOURCE = """
P.structureLayers = 5;
P.noiseLayers = 0;
P.hotPixelFilterRadius = 1;
P.noiseReductionFilterRadius = 0;
P.minStructureSize = 0;
P.sensitivity = 0.50;
P.peakResponse = 0.50;
P.brightThreshold = 3.00;
P.maxStarDistortion = 0.60;
P.allowClusteredSources = false;
P.localMaximaDetectionLimit = 0.75;
P.upperLimit = 1.000;
P.invert = false;
P.distortionModel = "";
P.undistortedReference = false;
P.rigidTransformations = false;
P.distortionCorrection = false;
P.distortionMaxIterations = 20;
P.distortionMatcherExpansion = 1.00;
P.rbfType = StarAlignment.DDMThinPlateSpline;
P.maxSplinePoints = 4000;
P.splineOrder = 2;
P.splineSmoothness = 0.005;
P.splineOutlierDetectionRadius = 160;
P.splineOutlierDetectionMinThreshold = 4.0;
P.splineOutlierDetectionSigma = 5.0;
P.matcherTolerance = 0.0500;
P.ransacTolerance = 1.9000;
P.ransacMaxIterations = 2000;
P.ransacMaximizeInliers = 1.00;
P.ransacMaximizeOverlapping = 1.00;
P.ransacMaximizeRegularity = 1.00;
P.ransacMinimizeError = 1.00;
P.maxStars = 0;
P.fitPSF = StarAlignment.FitPSF_DistortionOnly;
P.psfTolerance = 0.50;
P.useTriangles = false;
P.polygonSides = 5;
P.descriptorsPerStar = 20;
P.restrictToPreviews = true;
P.intersection = StarAlignment.MosaicOnly;
P.useBrightnessRelations = false;
P.useScaleDifferences = false;
P.scaleTolerance = 0.100;
P.referenceImage = "";
P.referenceIsFile = false;
P.targetCSVFilePath = "";
P.inputHints = "";
P.outputHints = "";
P.mode = StarAlignment.RegisterMatch;
P.writeKeywords = true;
P.generateMasks = false;
P.generateDrizzleData = true;
P.generateDistortionMaps = false;
P.generateHistoryProperties = true;
P.inheritAstrometricSolution = false;
P.frameAdaptation = false;
P.randomizeMosaic = false;
P.pixelInterpolation = StarAlignment.Auto;
P.clampingThreshold = 0.30;
P.outputDirectory = "";
P.outputExtension = ".xisf";
P.outputPrefix = "";
P.outputPostfix = "_r";
P.maskPostfix = "_m";
P.distortionMapPostfix = "_dm";
P.outputSampleFormat = StarAlignment.SameAsTarget;
P.overwriteExistingFiles = false;
P.onError = StarAlignment.Continue;
P.useFileThreads = true;
P.fileThreadOverload = 1.00;
P.maxFileReadThreads = 0;
P.maxFileWriteThreads = 0;
P.memoryLoadControl = true;
P.memoryLoadLimit = 0.85;
"""


def test_star_alignment_defaults_are_written_as_pixinsight_1_9_4_writes_them():
    cls = BUILT_IN["StarAlignment"]
    schema, p = cls.schema(), cls()
    written = {}
    for pid, kind in schema.items():
        if kind.read_only or pid == "targets":
            continue
        value = getattr(p, pid)
        if kind.kind_name == "String":
            written[pid] = f'"{value}"'
        elif kind.kind_name == "Enumeration":
            written[pid] = f"StarAlignment.{value}"
        else:
            written[pid] = kind.format(value)
    lines = [f"P.{pid} = {text};" for pid, text in written.items()]
    assert lines == STAR_ALIGNMENT_SOURCE.split("\n")[1:-1]


# -- read-only outputs after an execution ---------------------------------------------------------------------
def test_exec_writes_the_read_only_outputs_into_the_icon(tmp_path, capsys):
    import numpy as np

    from procfw.console import Session
    from procfw.image import Image
    from procfw.io.fits import write_fits

    rng = np.random.default_rng(3)
    session = Session()
    session.workspace.add_image(Image(rng.uniform(0.1, 0.2, (1, 16, 16)).astype(np.float32)), "raw")
    session.workspace.icons["DB"] = BUILT_IN["Debayer"](cfaPattern="RGGB")
    for i in range(3):
        write_fits(Image(rng.uniform(0.1, 0.2, (1, 8, 8)).astype(np.float32)), tmp_path / f"f{i}.fits")
    session.workspace.icons["II"] = BUILT_IN["ImageIntegration"](images=str(tmp_path / "f*.fits"))
    session.run_text("exec DB raw\nexec II")
    db, ii = session.workspace.icons["DB"], session.workspace.icons["II"]
    assert db.outputImage == "raw_RGB_VNG" and db.noiseEstimateR > 0 and db.noiseAlgorithmR
    assert ii.integrationImageId == "integration" and ii.numberOfChannels == 1 and ii.numberOfPixels == 64
    assert len(ii.imageData) == 3 and ii.finalNoiseEstimateRK > 0
    text = dumps_icons({"DB": db, "II": ii}, "xpsm")
    assert '<parameter id="outputImage">raw_RGB_VNG</parameter>' in text
    assert '<parameter id="integrationImageId">integration</parameter>' in text
    back = loads_icons(text, "xpsm")  # values rounded to their precisions, as PixInsight writes them
    assert back.warnings == [] and back.icons["II"].imageData[0][3:] == ii.imageData[0][3:]
    assert back.icons["II"].finalNoiseEstimateRK == pytest.approx(ii.finalNoiseEstimateRK, rel=1e-3)
    assert dumps_icons(back.icons, "xpsm", meta=back.meta).split("-->")[1] == text.split("-->")[1]
    shown = capsys.readouterr().out  # the console shows read-only outputs as PixInsight writes them
    assert re.search(r"ImageIntegration: global -> integration, .*, noise \d\.\d{3}e-0\d 0\.000e\+00", shown)
    assert re.search(r"Debayer: raw -> raw_RGB_VNG, .*, cfaPattern RGGB, noise \d\.\d{3}e-0\d ", shown)


def test_icon_outputs_of_star_alignment_and_image_calibration_map_the_run_rows():
    sa = BUILT_IN["StarAlignment"]()
    rows = [
        {"status": "ok", "outputFilePath": "/r/a_r.xisf", "outputMaskFilePath": "/r/a_r_m.xisf", "error": "",
         "putativeMatches": 120, "inliers": 101, "rmsError": 0.25, "overlapping": 0.97, "regularity": 0.9,
         "quality": 0.8, "peakErrorX": 0.5, "peakErrorY": 0.4, "H11": 1.0, "H13": 3.5, "H22": 1.0, "H33": 1.0,
         "frameAdaptation": [{"offset": 0.01, "scale": 0.99}]},
        {"status": "failed", "outputFilePath": "", "error": "too few stars (3 < 6)"},
    ]
    table = sa.icon_outputs({"outputData": rows})["outputData"]
    cells = [dict(zip((c.id for c in sa.schema()["outputData"].columns), row)) for row in table]
    assert (cells[0]["outputImage"], cells[0]["outputMask"], cells[0]["totalPairMatches"]) == (
        "/r/a_r.xisf", "/r/a_r_m.xisf", 120)
    assert (cells[0]["inliers"], cells[0]["H13"], cells[0]["frameAdaptationSlopeRK"]) == (101, 3.5, 0.99)
    assert (cells[1]["outputImage"], cells[1]["inliers"]) == ("", 0)
    assert sa.evolve(outputData=table).outputData == table

    ic = BUILT_IN["ImageCalibration"]()
    out = ic.icon_outputs({"outputData": [{"status": "ok", "outputFilePath": "/c/a_c.xisf",
                                           "darkScalingFactors": [0.95], "noiseEstimates": [1e-3],
                                           "noiseFractions": [0.8], "noiseAlgorithms": ["MRS"]}]})
    row = dict(zip((c.id for c in ic.schema()["outputData"].columns), out["outputData"][0]))
    assert (row["outputFilePath"], row["noiseAlgorithmRK"], row["noiseAlgorithmG"]) == ("/c/a_c.xisf", "MRS", "")
    assert row["darkScalingFactorRK"] == pytest.approx(0.95) and row["noiseEstimateRK"] == pytest.approx(1e-3)
