"""New icons are written as PixInsight writes them: its process versions and per-parameter precisions.

``PCL`` below holds, for every built-in process that PixInsight has, the version its
``...Process.cpp`` returns from ``Version()`` (PixInsight's default, 0x100 = 256, where the
process does not declare one: ``MetaProcess::Version()``) and the ``Precision()`` of every
real parameter procfw declares, from its ``...Parameters.cpp`` (PixInsight's PCL, mirror
vahlkar/PCL through PixInsight 1.9.2, paths under ``src/modules/processes/``).  A negative
precision is PCL's: C's ``%g`` with that many significant digits.  Modules PixInsight
removed from the open sources in 1.9.2 are read in the last commit that had them.
"""

from __future__ import annotations

import re
import warnings

import pytest

from procfw.icons import dumps_icons, loads_icons, save_icons
from procfw.params import Float, Table, _Real
from procfw.process import Process
from procfw.registry import PluginWarning, processes

pytestmark = pytest.mark.filterwarnings("ignore::procfw.registry.PluginWarning")



def _channels(stems: dict[str, int], channels: tuple[str, ...], table: str = "") -> dict[str, int]:
    """``{table.stemC: precision}`` for each channel suffix C (PCL declares one parameter per channel)."""
    return {f"{table}{stem}{c}": precision for stem, precision in stems.items() for c in channels}


# the per-channel PSF signal and noise estimates of ImageCalibration's outputData and Debayer
# (ImageCalibrationParameters.cpp, DebayerParameters.cpp: ICPSFTotalFluxEstimateRK ... DENoiseScaleHighB)
_SIGNAL_NOISE = {
    "psfTotalFluxEstimate": 4, "psfTotalPowerFluxEstimate": 4, "psfTotalMeanFluxEstimate": 4,
    "psfTotalMeanPowerFluxEstimate": 4, "psfMStarEstimate": 4, "psfNStarEstimate": 4, "noiseEstimate": 3,
    "noiseFraction": 3, "noiseScaleLow": 6, "noiseScaleHigh": 6,
}
_RK, _RGB = ("RK", "G", "B"), ("R", "G", "B")

PCL: dict[str, tuple[int, dict[str, int]]] = {
    # IntensityTransformations/InvertProcess.cpp (no parameters)
    "Invert": (256, {}),
    # NoOperation/NoOperationProcess.cpp (no parameters)
    "NoOperation": (256, {}),
    # IntensityTransformations/ScreenTransferFunctionParameters.cpp (version: ScreenTransferFunctionProcess.cpp)
    "ScreenTransferFunction": (256, {"STF.c0": 5, "STF.c1": 5, "STF.m": 5, "STF.r0": 5, "STF.r1": 5}),
    # IntensityTransformations/HistogramTransformationParameters.cpp (version: HistogramTransformationProcess.cpp)
    "HistogramTransformation": (256, {"H.c0": 8, "H.m": 8, "H.c1": 8, "H.r0": 8, "H.r1": 8}),
    # IntensityTransformations/CurvesTransformationParameters.cpp (version: CurvesTransformationProcess.cpp)
    "CurvesTransformation": (
        256,
        {
            "R.x": 5,
            "R.y": 5,
            "G.x": 5,
            "G.y": 5,
            "B.x": 5,
            "B.y": 5,
            "K.x": 5,
            "K.y": 5,
            "A.x": 5,
            "A.y": 5,
            "L.x": 5,
            "L.y": 5,
            "a.x": 5,
            "a.y": 5,
            "b.x": 5,
            "b.y": 5,
            "c.x": 5,
            "c.y": 5,
            "H.x": 5,
            "H.y": 5,
            "S.x": 5,
            "S.y": 5,
        },
    ),
    # IntensityTransformations/ColorSaturationParameters.cpp (version: ColorSaturationProcess.cpp)
    "ColorSaturation": (256, {"HS.x": 5, "HS.y": 5, "hueShift": 3}),
    # Image/NewImageParameters.cpp (version: NewImageProcess.cpp)
    "NewImage": (256, {"v0": 8, "v1": 8, "v2": 8, "va": 8}),
    # Image/ImageIdentifierParameters.cpp (version: ImageIdentifierProcess.cpp)
    "ImageIdentifier": (256, {}),
    # ColorSpaces/ChannelCombinationParameters.cpp (version: ChannelCombinationProcess.cpp)
    "ChannelCombination": (256, {}),
    # ColorSpaces/ChannelExtractionParameters.cpp (version: ChannelExtractionProcess.cpp)
    "ChannelExtraction": (256, {}),
    # ColorSpaces/LRGBCombinationParameters.cpp (version: LRGBCombinationProcess.cpp)
    "LRGBCombination": (256, {"channels.k": 5, "mL": 3, "mc": 3}),
    # Geometry/DynamicCropParameters.cpp (version: DynamicCropProcess.cpp)
    "DynamicCrop": (
        2,
        {
            "outWidth": 2,
            "outHeight": 2,
            "centerX": 8,
            "centerY": 8,
            "width": 8,
            "height": 8,
            "angle": 10,
            "scaleX": 8,
            "scaleY": 8,
            "clampingThreshold": 2,
            "smoothness": 2,
            "xResolution": 3,
            "yResolution": 3,
            "red": 6,
            "green": 6,
            "blue": 6,
            "alpha": 6,
        },
    ),
    # Geometry/ResampleParameters.cpp (version: ResampleProcess.cpp)
    "Resample": (
        256,
        {"xSize": 4, "ySize": 4, "xResolution": 3, "yResolution": 3, "clampingThreshold": 2, "smoothness": 2},
    ),
    # Geometry/IntegerResampleParameters.cpp (version: IntegerResampleProcess.cpp)
    "IntegerResample": (256, {"xResolution": 3, "yResolution": 3}),
    # Geometry/FastRotationParameters.cpp (version: FastRotationProcess.cpp)
    "FastRotation": (256, {}),
    # PixelMath/PixelMathParameters.cpp (version: PixelMathProcess.cpp)
    "PixelMath": (
        256,
        {
            "rescaleLower": -16,
            "rescaleUpper": -16,
            "truncateLower": -16,
            "truncateUpper": -16,
            "outputData.globalVariableRK": -16,
            "outputData.globalVariableG": -16,
            "outputData.globalVariableB": -16,
        },
    ),
    # contrib/nvolkov/CosmeticCorrection/CosmeticCorrectionParameters.cpp (version: CosmeticCorrectionProcess.cpp)
    "CosmeticCorrection": (
        256,
        {"amount": 2, "hotDarkLevel": 10, "coldDarkLevel": 10, "hotAutoValue": 1, "coldAutoValue": 1},
    ),
    # contrib/cleger/SubframeSelector/SubframeSelectorParameters.cpp (version: SubframeSelectorProcess.cpp)
    "SubframeSelector": (
        2,
        {
            "subframeScale": 4, "cameraGain": 4, "trimmingFactor": 2, "sensitivity": 2, "peakResponse": 2,
            "brightThreshold": 2, "maxDistortion": 2, "upperLimit": 4, "fileThreadOverload": 2,
            **{f"measurements.measurement{c}": 4 for c in (
                "Weight", "FWHM", "Eccentricity", "PSFSignalWeight", "SNRWeight", "StarResidual",
                "EccentricityMeanDev", "StarResidualMeanDev", "Azimuth", "Altitude", "PSFFlux", "PSFFluxPower",
                "PSFTotalMeanFlux", "PSFTotalMeanPowerFlux", "MStar", "NStar", "PSFSNR", "PSFScale", "PSFScaleSNR")},
            "measurements.measurementUnused01": 0, "measurements.measurementMedian": 12,
            "measurements.measurementMedianMeanDev": 12, "measurements.measurementNoise": 12,
            "measurements.measurementNoiseRatio": 8, "measurements.measurementFWHMMeanDev": 6,
        },
    ),
    # contrib/spool/Debayer/DebayerParameters.cpp (version: DebayerProcess.cpp)
    "Debayer": (256, {"saturationThreshold": 2, "psfGrowth": 2, "fileThreadOverload": 2, "memoryLoadLimit": 2,
                      **_channels(_SIGNAL_NOISE, _RGB), **_channels(_SIGNAL_NOISE, _RGB, "outputFileData.")}),
    # ColorCalibration/LinearFitParameters.cpp (last open version;
    # removed in 1.9.2), LinearFitProcess.cpp
    "LinearFit": (256, {"rejectLow": 6, "rejectHigh": 6}),
    # ColorCalibration/BackgroundNeutralizationParameters.cpp (last open version;
    # removed in 1.9.2), BackgroundNeutralizationProcess.cpp
    "BackgroundNeutralization": (256, {"backgroundLow": 7, "backgroundHigh": 7, "targetBackground": 7}),
    # ImageCalibration/ImageCalibrationParameters.cpp (last open version;
    # removed in 1.9.2), ImageCalibrationProcess.cpp
    "ImageCalibration": (
        256,
        {
            "darkOptimizationThreshold": 5,
            "darkOptimizationLow": 4,
            "flatScaleClippingFactor": 2,
            "saturationThreshold": 2,
            "psfGrowth": 2,
            "autoPedestalLimit": 5,
            "fileThreadOverload": 2,
            **_channels({"darkScalingFactor": 3, **_SIGNAL_NOISE}, _RK, "outputData."),
        },
    ),
    # ImageIntegration/DrizzleIntegrationParameters.cpp and DrizzleIntegrationProcess.cpp at b6c435e (2024-06,
    # the last commit holding the module's sources)
    "DrizzleIntegration": (
        256,
        {
            "scale": 2, "dropShrink": 2, "originX": 2, "originY": 2, "outputRangeLow": -15, "outputRangeHigh": -15,
            "totalData": 3, **_channels({"weight": 5, "location": 3, "referenceLocation": 3, "scalingFactor": 3},
                                        _RK, "imageData."),
            "imageData.totalData": 3,
        },
    ),
    # ImageCalibration/LocalNormalizationParameters.cpp (PCL 2.5.3, module 1.9.8), LocalNormalizationProcess.cpp
    "LocalNormalization": (
        257,
        {
            "lowClippingLevel": 6, "highClippingLevel": 2, "referenceRejectionThreshold": 2,
            "targetRejectionThreshold": 2, "modelScalingFactor": 2, "saturationThreshold": 2,
            "rejectionLimit": 2, "psfMinSNR": 2, "psfGrowth": 2, "autoMemoryLimit": 2, "fileThreadOverload": 2,
            "outputData.scaleFactorRK": 4, "outputData.scaleFactorG": 4, "outputData.scaleFactorB": 4,
        },
    ),
    # ImageIntegration/ImageIntegrationParameters.cpp (last open version;
    # removed in 1.9.2), ImageIntegrationProcess.cpp
    "ImageIntegration": (
        256,
        {
            "minWeight": 6,
            "pcClipLow": 3,
            "pcClipHigh": 3,
            "sigmaLow": 3,
            "sigmaHigh": 3,
            "winsorizationCutoff": 3,
            "linearFitLow": 3,
            "linearFitHigh": 3,
            "esdOutliersFraction": 2,
            "esdAlpha": 2,
            "esdLowRelaxation": 2,
            "rcrLimit": 2,
            "ccdGain": 2,
            "ccdReadNoise": 2,
            "ccdScaleNoise": 2,
            "rangeLow": 6,
            "rangeHigh": 6,
            "autoMemoryLimit": 2,
            "mrsMinDataFraction": 3,
            "fileThreadOverload": 2,
            "outputRangeLow": -15,
            "outputRangeHigh": -15,
            **_channels({"finalNoiseEstimate": 3, "finalNoiseScaleEstimateLow": 6, "finalNoiseScaleEstimateHigh": 6,
                         "finalScaleEstimate": 4, "finalLocationEstimate": 4, "finalPSFTotalFluxEstimate": 4,
                         "finalPSFTotalPowerFluxEstimate": 4, "finalPSFTotalMeanFluxEstimate": 4,
                         "finalPSFTotalMeanPowerFluxEstimate": 4, "finalPSFMStarEstimate": 4,
                         "finalPSFNStarEstimate": 4, "referenceNoiseReduction": 4, "medianNoiseReduction": 4,
                         "referenceSNRIncrement": 4, "averageSNRIncrement": 4}, _RK),
            **_channels({"weight": 5}, _RK, "imageData."),
        },
    ),
    # not in PCL (a closed-source module): version and precisions as PixInsight writes them in the
    # corpus icons (GHS_for_SHO_starless: stretchFactor="0.000", symmetryPoint="0.000000", ...)
    "GeneralizedHyperbolicStretch": (
        256,
        {
            "stretchFactor": 3,
            "localIntensity": 3,
            "symmetryPoint": 6,
            "highlightProtection": 6,
            "shadowProtection": 6,
            "blackPoint": 6,
            "whitePoint": 6,
            "colourBlend": 3,
        },
    ),
    # not in PCL (closed source): the corpus icon SCNR_if_too_green writes amount="0.30"
    "SCNR": (256, {"amount": 2}),
    # contrib/sharkmelley/ArcsinhStretch/ArcsinhStretchParameters.cpp (version: ArcsinhStretchProcess.cpp)
    "ArcsinhStretch": (256, {"stretch": 2, "blackPoint": 6}),
    # IntensityTransformations/MaskedStretchParameters.cpp (version: MaskedStretchProcess.cpp)
    "MaskedStretch": (256, {"targetBackground": 8, "clippingFraction": 8, "backgroundLow": 8, "backgroundHigh": 8}),
    # Morphology/MorphologicalTransformationParameters.cpp (version: MorphologicalTransformationProcess.cpp)
    "MorphologicalTransformation": (256, {"lowThreshold": 6, "highThreshold": 6, "amount": 2, "selectionPoint": 2}),
    # ColorCalibration/ColorCalibrationParameters.cpp (last open version, 2021; removed in 1.9.2),
    # version: ColorCalibrationProcess.cpp
    "ColorCalibration": (
        256,
        {"whiteLow": 7, "whiteHigh": 7, "backgroundLow": 7, "backgroundHigh": 7,
         "manualRedFactor": 4, "manualGreenFactor": 4, "manualBlueFactor": 4},
    ),
    # not in PCL (closed source) and in no corpus icon: PixInsight's default version, and the
    # decimals its generated scripts write (StarMask: "noiseThreshold = 0.10000", ...)
    "StarMask": (
        256,
        {"shadowsClipping": 5, "midtonesBalance": 5, "highlightsClipping": 5, "noiseThreshold": 5,
         "truncation": 5, "limit": 5},
    ),
    "RangeSelection": (256, {"lowRange": 6, "highRange": 6, "fuzziness": 2, "smoothness": 2}),
    # not in PCL (closed source): version and precisions as PixInsight writes them in the corpus
    # icon ABE_each_SHO (SHO-Workflow.xpsm) and in PJSR scripts
    "AutomaticBackgroundExtractor": (
        256,
        {"tolerance": 3, "deviation": 3, "unbalance": 3, "minBoxFraction": 3, "maxBackground": 4,
         "minBackground": 4, "abeDownsample": 2, "compareFactor": 2},
    ),
    # not in PCL (PixInsight 1.9, closed source): version and precisions as the seven corpus
    # instances write them (GradientCorrection_instance, GC_each_SHO_instance, ...)
    "GradientCorrection": (
        1,
        {"reference": 2, "lowThreshold": 2, "lowTolerance": 2, "highThreshold": 2, "highTolerance": 2, "scale": 2,
         "smoothness": 2, "protectionThreshold": 2, "protectionAmount": 2, "lowClippingLevel": 6,
         "convergenceLimit": 8},
    ),
    # Convolution/ConvolutionParameters.cpp (version: ConvolutionProcess.cpp)
    "Convolution": (256, {"sigma": 2, "shape": 2, "aspectRatio": 2, "rotationAngle": 2}),
    # Convolution/UnsharpMaskParameters.cpp (version: UnsharpMaskProcess.cpp)
    "UnsharpMask": (
        256,
        {"sigma": 2, "amount": 2, "deringingDark": 4, "deringingBright": 4, "rangeLow": 7, "rangeHigh": 7},
    ),
    # contrib/zvrastil/LocalHistogramEqualization/LocalHistogramEqualizationParameters.cpp (no Version():
    # MetaProcess's 256, as the corpus icons LocalHistEQ_TWEAK write)
    "LocalHistogramEqualization": (256, {"slopeLimit": 1, "amount": 3}),
    # not in PCL (closed source): version and precisions as the corpus icons HDR_MX_MAYBE write them
    "HDRMultiscaleTransform": (
        256,
        {"overdrive": 3, "smallScaleDeringing": 3, "largeScaleDeringing": 3, "midtonesBalance": 6},
    ),
    # not in PCL (MultiscaleProcessing is closed source): version 256 as the corpus icons of its
    # module (HDRMultiscaleTransform) and precisions as PixInsight writes them in the PJSR it
    # generates (bias = 0.000, noiseReductionAmount = 1.00, deringingDark = 0.1000, ...)
    "MultiscaleLinearTransform": (
        256,
        {
            "layers.bias": 3,
            "layers.noiseReductionThreshold": 3,
            "layers.noiseReductionAmount": 2,
            "linearMaskSmoothness": 2,
            "curveBreakPoint": 2,
            "noiseThresholdingAmount": 2,
            "noiseThreshold": 2,
            "deringingDark": 4,
            "deringingBright": 4,
            "lowRange": 4,
            "highRange": 4,
        },
    ),
    "MultiscaleMedianTransform": (
        256,
        {
            "layers.bias": 3,
            "layers.noiseReductionThreshold": 4,
            "layers.noiseReductionAmount": 2,
            "layers.noiseReductionAdaptive": 4,
            "medianWaveletThreshold": 2,
            "linearMaskSmoothness": 2,
            "lowRange": 4,
            "highRange": 4,
        },
    ),
    "ATrousWaveletTransform": (
        256,
        {
            "layers.bias": 3,
            "layers.noiseReductionThreshold": 3,
            "layers.noiseReductionAmount": 2,
            "curveBreakPoint": 2,
            "noiseThresholdingAmount": 2,
            "noiseThreshold": 2,
            "deringingDark": 4,
            "deringingBright": 4,
            "lowRange": 4,
            "highRange": 4,
        },
    ),
}

# PixInsight processes whose sources PixInsight has never published and that no corpus icon
# shows: the version is MetaProcess's default; precisions are not checked.
# DynamicBackgroundExtraction: precisions as PixInsight's PJSR writes them (smoothing 0.250,
# symmetryCenterX 0.500000, data z 8 decimals, weights 3), checked in test_proc_background_dbe.
UNPUBLISHED = {"StarAlignment": 256, "DynamicBackgroundExtraction": 256, "Deconvolution": 256, "TGVDenoise": 256}

# PixInsight's core objects, written without a version (as in the corpus files).
CORE = {"ProcessContainer", "ImageContainer"}

with warnings.catch_warnings():
    warnings.simplefilter("ignore", PluginWarning)
    BUILT_IN = {pid: cls for pid, cls in processes.items() if cls.__module__.startswith(("processes.", "procfw."))}


def _reals(cls: type[Process]) -> dict[str, _Real]:
    out: dict[str, _Real] = {}
    for pid, kind in cls.schema().items():
        if isinstance(kind, _Real):
            out[pid] = kind
        elif isinstance(kind, Table):
            out.update({f"{pid}.{c.id}": c for c in kind.columns if isinstance(c, _Real)})
    return out


def _pcl_precision(kind: _Real) -> int:
    return -kind.precision if kind.general else kind.precision


def _written(cls: type[Process]) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dumps_icons({"Icon": cls()}, "xpsm")


def test_every_built_in_process_is_pixinsight_s_or_declared_procfw_s_own():
    pixinsight = {pid for pid, cls in BUILT_IN.items() if cls.pixinsight}
    assert pixinsight == set(PCL) | set(UNPUBLISHED) | CORE
    assert {pid for pid, cls in BUILT_IN.items() if not cls.pixinsight} == {
        "AutoStretch",
        "SimulateLRGB",
        "SimulateSession",
        "Statistics",
    }


@pytest.mark.parametrize("process_id", sorted(PCL))
def test_a_new_icon_declares_pixinsight_s_version_and_precisions(process_id: str):
    version, precisions = PCL[process_id]
    cls = BUILT_IN[process_id]
    text = _written(cls)
    assert f'<instance class="{process_id}" version="{version}" id="Icon_instance"' in text
    reals = _reals(cls)
    assert set(reals) == set(precisions), "every real parameter is checked against PCL"
    for name, kind in reals.items():
        assert _pcl_precision(kind) == precisions[name], name
        value = kind.format(kind.default_value)
        if not kind.general:  # written with exactly the declared decimals (at most 7 for a Float)
            decimals = min(precisions[name], 7 if isinstance(kind, Float) else 16)
            fraction = rf"\.\d{{{decimals}}}" if decimals else ""
            exponent = r"e[+-]\d+" if kind.scientific else ""
            assert re.fullmatch(rf"-?\d+{fraction}{exponent}", value), (name, value)
            table, _, leaf = name.rpartition(".")
            if not table or f'<table id="{table}" rows="0"' not in text:  # an empty table writes no cells
                assert f'id="{leaf}" value="{value}"' in text


@pytest.mark.parametrize("process_id", sorted(UNPUBLISHED))
def test_unpublished_processes_get_pixinsight_s_default_version(process_id: str):
    assert f'version="{UNPUBLISHED[process_id]}"' in _written(BUILT_IN[process_id])


def test_values_are_rounded_to_the_declared_precision_as_pixinsight_writes_them():
    stf, scnr = BUILT_IN["ScreenTransferFunction"], BUILT_IN["SCNR"]
    text = dumps_icons({"S": stf(STF=[[0, 1, 0.123456789, 0, 1]] * 4), "N": scnr(amount=0.123)}, "xpsm")
    assert '<td id="m" value="0.12346"/>' in text and "0.123456789" not in text
    assert '<parameter id="amount" value="0.12"/>' in text
    back = loads_icons(text, "xpsm").icons
    assert back["S"].STF[0][2] == pytest.approx(0.12346) and back["N"].amount == pytest.approx(0.12)
    # PixelMath's reals are %g (PCL precision -16): nothing is rounded away
    pm = BUILT_IN["PixelMath"](rescaleLower=0.123456789012345)
    assert 'value="0.123456789012345"' in dumps_icons({"P": pm}, "xpsm")
    # console source and JSON keep the value exactly (here a Float: float32's 0.12345679)
    assert "0.12345679" in dumps_icons({"S": stf(STF=[[0, 1, 0.123456789, 0, 1]] * 4)}, "console")


def test_versions_read_from_files_are_kept():
    text = _written(BUILT_IN["Invert"]).replace('version="256"', 'version="7"')
    result = loads_icons(text, "xpsm")
    assert 'class="Invert" version="7"' in dumps_icons(result.icons, "xpsm", meta=result.meta)
    assert '"version": 7' in dumps_icons(result.icons, "json", meta=result.meta)


def test_writing_procfw_s_own_processes_for_pixinsight_warns(tmp_path, caplog):
    from procfw.container import ProcessContainer

    own = BUILT_IN["AutoStretch"]()
    chain = ProcessContainer.of(BUILT_IN["Invert"](), BUILT_IN["Statistics"]())
    icons = {"Stretch": own, "Chain": chain, "Neg": BUILT_IN["Invert"]()}
    for name in ("icons.xpsm", "icons.js"):
        with caplog.at_level("WARNING", logger="procfw.icons"):
            found = save_icons(tmp_path / name, icons)
        assert found == [
            "icon Stretch: AutoStretch is a process of procfw's own; PixInsight cannot load it",
            "icon Chain: Statistics is a process of procfw's own; PixInsight cannot load it",
        ]
        assert "AutoStretch is a process of procfw's own" in caplog.text
        caplog.clear()
    # procfw's own formats hold them without a word
    assert save_icons(tmp_path / "icons.json", icons) == []
