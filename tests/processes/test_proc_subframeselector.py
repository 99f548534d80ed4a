"""SubframeSelector: PixInsight's parameters, measurements against known truth, expressions, output."""

from __future__ import annotations

import ast
import inspect
import math
from pathlib import Path

import numpy as np
import pytest

from processes.simulation.starfield import random_field, render_stars
from processes.subframeselector import expressions as expr_module
from processes.subframeselector.expressions import ExpressionError, compile_expression
from processes.subframeselector.process import SubframeSelector
from procfw.errors import ExecutionError, ParameterError
from procfw.icons import dumps_icons, loads_icons
from procfw.image import Image
from procfw.io import read_image
from procfw.io.fits import write_fits
from procfw.testing import check_process
from procfw.workspace import Workspace

# src/modules/processes/contrib/cleger/SubframeSelector/SubframeSelectorProcess.cpp (order of instantiation)
# and SubframeSelectorParameters.cpp (ids), PCL mirror vahlkar/PCL 61a604bd (PixInsight 1.9.2)
PCL_PARAMETERS = [
    "routine", "nonInteractive", "subframes", "fileCache", "subframeScale", "cameraGain", "cameraResolution",
    "siteLocalMidnight", "scaleUnit", "dataUnit", "trimmingFactor", "structureLayers", "noiseLayers",
    "hotPixelFilterRadius", "noiseReductionFilterRadius", "minStructureSize", "sensitivity", "peakResponse",
    "brightThreshold", "maxDistortion", "allowClusteredSources", "upperLimit", "psfFit", "psfFitCircular",
    "maxPSFFits", "roiX0", "roiY0", "roiX1", "roiY1", "noNoiseAndSignalWarnings", "pedestalMode", "pedestal",
    "pedestalKeyword", "inputHints", "outputHints", "outputDirectory", "outputExtension", "outputPrefix",
    "outputPostfix", "outputKeyword", "overwriteExistingFiles", "onError", "approvalExpression",
    "weightingExpression", "sortProperty", "graphProperty", "auxGraphProperty", "useFileThreads",
    "fileThreadOverload", "maxFileReadThreads", "maxFileWriteThreads", "measurements",
]
PCL_SUBFRAME_COLUMNS = ["subframeEnabled", "subframePath", "localNormalizationDataPath", "drizzlePath"]
PCL_MEASUREMENT_COLUMNS = [
    "measurementIndex", "measurementEnabled", "measurementLocked", "measurementPath", "measurementWeight",
    "measurementFWHM", "measurementEccentricity", "measurementPSFSignalWeight", "measurementUnused01",
    "measurementSNRWeight", "measurementMedian", "measurementMedianMeanDev", "measurementNoise",
    "measurementNoiseRatio", "measurementStars", "measurementStarResidual", "measurementFWHMMeanDev",
    "measurementEccentricityMeanDev", "measurementStarResidualMeanDev", "measurementAzimuth", "measurementAltitude",
    "measurementPSFFlux", "measurementPSFFluxPower", "measurementPSFTotalMeanFlux",
    "measurementPSFTotalMeanPowerFlux", "measurementPSFCount", "measurementMStar", "measurementNStar",
    "measurementPSFSNR", "measurementPSFScale", "measurementPSFScaleSNR",
]
COL = {c: i for i, c in enumerate(PCL_MEASUREMENT_COLUMNS)}

# (star σ in px, noise σ): sharper and less noisy first, so the truth orders the weights
TRUTH = [(1.2, 0.0015), (1.5, 0.0025), (1.9, 0.0035), (2.5, 0.0050)]
SIZE = 320


def _fwhm(sigma: float) -> float:
    return 2 * math.sqrt(2 * math.log(2)) * sigma


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> list[str]:
    """Four synthetic frames with the same stars, widened and noisier in TRUTH's order."""
    folder = tmp_path_factory.mktemp("ss_frames")
    xy, flux = random_field(90, SIZE, SIZE, seed=5, sigma=1.5, peaks=(0.05, 0.6))
    paths = []
    for i, (sigma, noise) in enumerate(TRUTH):
        pixels = render_stars(xy, flux, SIZE, SIZE, sigma=sigma, background=0.1, noise=noise, seed=11 + i)
        path = folder / f"frame{i}.fits"
        write_fits(Image(pixels[None]), path)
        paths.append(str(path))
    return paths


def _rows(paths: list[str]) -> list[list]:
    return [[True, p, "", ""] for p in paths]


@pytest.fixture(scope="module")
def measured(frames) -> tuple:
    result = SubframeSelector(subframes=_rows(frames), scaleUnit="Pixel").execute_global(Workspace())
    return result.outputs["measurements"]


# -- schema -------------------------------------------------------------------------------------
def test_parameter_ids_are_pcl_s():
    schema = SubframeSelector.schema()
    assert list(schema) == PCL_PARAMETERS
    assert [c.id for c in schema["subframes"].columns] == PCL_SUBFRAME_COLUMNS
    assert [c.id for c in schema["measurements"].columns] == PCL_MEASUREMENT_COLUMNS
    assert schema["measurements"].read_only
    assert all(c.read_only for c in schema["measurements"].columns)
    assert schema["outputKeyword"].default_value == "SSWEIGHT"
    assert SubframeSelector.process_version == 2


def test_check_process_passes():
    check_process(SubframeSelector).raise_if_failed()


def test_an_icon_written_by_procfw_reads_back_equal(measured):
    icon = SubframeSelector(
        routine="OutputSubframes", subframes=[[True, "/data/a.fits", "", ""], [False, "/data/b.xisf", "x.xnml", ""]],
        approvalExpression="FWHM < 4.5 && Eccentricity < 0.6 // sharp",
        weightingExpression="15*(1-(FWHM-FWHMMin)/(FWHMMax-FWHMMin)) + 50", subframeScale=1.25,
        cameraResolution="Bits12", dataUnit="DataNumber", pedestalMode="Pedestal_Literal", pedestal=150,
        sortProperty="SNRWeight", measurements=measured,
    )
    text = dumps_icons({"SS": icon}, "xpsm")
    assert 'class="SubframeSelector" version="2"' in text and 'id="measurementFWHM"' in text
    back = loads_icons(text, "xpsm").icons["SS"]
    assert back.parameters().keys() == icon.parameters().keys()
    for key, value in icon.parameters().items():
        if key != "measurements":
            assert getattr(back, key) == value, key
    for row, back_row in zip(icon.measurements, back.measurements):
        kinds = SubframeSelector.schema()["measurements"].columns
        assert [k.format(v) for k, v in zip(kinds, row)] == [k.format(v) for k, v in zip(kinds, back_row)]


# -- measurements against the truth -------------------------------------------------------------------
def test_fwhm_and_noise_are_measured_within_a_few_percent(measured):
    assert len(measured) == len(TRUTH)
    for row, (sigma, noise) in zip(measured, TRUTH):
        assert row[COL["measurementFWHM"]] == pytest.approx(_fwhm(sigma), rel=0.03)
        assert row[COL["measurementNoise"]] == pytest.approx(noise, rel=0.05)
        assert row[COL["measurementStars"]] >= 25
        # a perfect fit leaves the noise: the Winsorized mean |N(0, σ)| is about 0.75 σ
        assert row[COL["measurementStarResidual"]] == pytest.approx(0.75 * noise, rel=0.1)
        assert row[COL["measurementMedian"]] == pytest.approx(0.1, abs=0.01)
        assert 0 <= row[COL["measurementEccentricity"]] < 0.5
        for name in ("PSFSignalWeight", "PSFSNR", "SNRWeight", "PSFFlux", "MStar", "NStar", "StarResidualMeanDev"):
            assert row[COL[f"measurement{name}"]] > 0, name


def test_weights_follow_the_truth(frames):
    expression = ("20*(1-(FWHM-FWHMMin)/(FWHMMax-FWHMMin)) + 15*(1-(Noise-NoiseMin)/(NoiseMax-NoiseMin))"
                  " + 10*(PSFSignalWeight-PSFSignalWeightMin)/(PSFSignalWeightMax-PSFSignalWeightMin) + 5")
    table = SubframeSelector(subframes=_rows(frames), scaleUnit="Pixel",
                             weightingExpression=expression).execute_global(Workspace()).outputs["measurements"]
    weights = [row[COL["measurementWeight"]] for row in table]
    assert weights == sorted(weights, reverse=True) and len(set(weights)) == len(weights)
    assert weights[0] == pytest.approx(50) and weights[-1] == pytest.approx(5)
    psf = [row[COL["measurementPSFSignalWeight"]] for row in table]
    assert psf == sorted(psf, reverse=True)  # PSF signal weight alone also orders the frames


def test_approval_rejects_exactly_the_blurred_frames_and_output_writes_the_weight(frames, measured, tmp_path):
    limit = 0.5 * (_fwhm(TRUTH[1][0]) + _fwhm(TRUTH[2][0]))
    weighting = "100*(FWHMMax-FWHM)/(FWHMMax-FWHMMin) + Index"
    ss = SubframeSelector(routine="OutputSubframes", measurements=measured, scaleUnit="Pixel",
                          approvalExpression=f"FWHM < {limit:.3f}", weightingExpression=weighting,
                          outputDirectory=str(tmp_path), outputExtension=".fits")
    result = ss.execute_global(Workspace())
    table = result.outputs["measurements"]
    assert [row[COL["measurementEnabled"]] for row in table] == [True, True, False, False]
    assert result.outputs["approved"] == 2 and result.outputs["rejected"] == 2
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["frame0_a.fits", "frame1_a.fits"]
    fwhm = [row[COL["measurementFWHM"]] for row in measured]
    for i in (0, 1):
        expected = 100 * (max(fwhm) - fwhm[i]) / (max(fwhm) - min(fwhm)) + i
        assert table[i][COL["measurementWeight"]] == pytest.approx(expected)
        image = read_image(tmp_path / f"frame{i}_a.fits")
        assert image.keyword("SSWEIGHT") == pytest.approx(expected, abs=1e-6)
        np.testing.assert_array_equal(image.pixels, read_image(frames[i]).pixels)
    # never over an existing file unless asked
    with pytest.raises(ExecutionError):
        ss.execute_global(Workspace())
    again = ss.evolve(overwriteExistingFiles=True, outputKeyword="MYWEIGHT").execute_global(Workspace())
    assert again.outputs["succeeded"] == 2
    image = read_image(tmp_path / "frame0_a.fits")
    assert image.keyword("MYWEIGHT") == pytest.approx(100, abs=1e-6)


def test_output_without_measurements_measures_first_and_writes_xisf(frames, tmp_path):
    ss = SubframeSelector(routine="OutputSubframes", subframes=_rows(frames[:2]), scaleUnit="Pixel",
                          weightingExpression="PSFSignalWeight/PSFSignalWeightMax", outputDirectory=str(tmp_path))
    result = ss.execute_global(Workspace())
    assert result.outputs["succeeded"] == 2
    weights = [row[COL["measurementWeight"]] for row in result.outputs["measurements"]]
    assert weights[0] == pytest.approx(1.0)
    image = read_image(tmp_path / "frame1_a.xisf")
    assert image.keyword("SSWEIGHT") == pytest.approx(round(weights[1], 6), abs=1e-6)


# -- expressions ------------------------------------------------------------------------------------
def test_expression_errors_name_the_variable_and_the_position():
    with pytest.raises(ParameterError) as info:
        SubframeSelector(approvalExpression="FWHM < 4 && Eccentrcity < 0.6")
    message = str(info.value)
    assert "approvalExpression" in message and "'Eccentrcity'" in message and "column 13" in message
    assert "Eccentricity" in message  # the suggestion
    assert info.value.parameter == "approvalExpression"
    with pytest.raises(ParameterError, match=r"weightingExpression .*column 9: unexpected"):
        SubframeSelector(weightingExpression="FWHM * (* 2)")
    with pytest.raises(ExpressionError, match="unexpected end of expression"):
        compile_expression("FWHM < ", "approvalExpression")
    # Python is not what runs: Python's syntax and names are errors
    for text in ("__import__('os').system('true')", "[x for x in ()]", "lambda: 1", "FWHM if 1 else 2"):
        with pytest.raises(ExpressionError):
            compile_expression(text, "approvalExpression").check_names(["FWHM"])


def test_expressions_are_javascript_as_pixinsight_runs_them():
    def value(text: str, **variables: float) -> float | bool:
        expression = compile_expression(text, "weightingExpression")
        expression.check_names(list(variables))
        return expression.evaluate(variables)

    assert value("FWHM < 4.5 && Eccentricity < 0.6 // comment", FWHM=3, Eccentricity=0.5) is True
    assert value("0 || 7") == 7 and value("3 && 0") == 0
    assert value("Math.abs(FWHMSigma) <= 2 ? 1 : 0", FWHMSigma=-1.5) == 1
    assert value("Math.max(1, 5, 2) + Math.min(3, 4) + Math.pow(2, 10) + Math.sqrt(16) + Math.round(2.5)") == 1039
    assert value("2 ** 3 ** 2") == 512 and value("7 % 4") == 3 and value("1 / 0") == math.inf
    assert value("/* a\n comment */ 2 * 3") == 6
    assert value("a; b * 2", a=1, b=4) == 8
    assert value("5 === 5 && 5 !== 6 && !(2 > 3)") is True
    assert value("6 & 3 | 8 ^ 1") == 11  # 32-bit integer bitwise, JavaScript's precedence


def test_the_expression_module_never_evaluates_python():
    tree = ast.parse(inspect.getsource(expr_module))
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert not called & {"eval", "exec", "compile", "__import__"}


def test_sigma_and_aggregates_follow_pixinsight(measured):
    ss = SubframeSelector(scaleUnit="ArcSeconds", subframeScale=2.0,
                          weightingExpression="FWHMSigma", approvalExpression="FWHM > FWHMMedian")
    measured_rows = [(int(r[0]), str(r[3]), {"FWHM": float(r[COL["measurementFWHM"]])}) for r in measured]
    table = ss.evaluate(measured_rows)
    fwhm = np.array([2.0 * r[COL["measurementFWHM"]] for r in measured])  # arcseconds
    median = float(np.median(fwhm))
    sigma = (fwhm - median) / np.mean(np.abs(fwhm - median))
    np.testing.assert_allclose([r[COL["measurementWeight"]] for r in table], sigma)
    assert [r[COL["measurementEnabled"]] for r in table] == list(fwhm > median)


# -- real frames ------------------------------------------------------------------------------------
def test_corpus_seestar_frames_measure_plausibly(corpus):
    files = sorted((corpus / "frames" / "seestar-s50" / "M94_2025-03-27_session1").glob("*.fit"))[:3]
    if len(files) < 3:
        pytest.skip("Seestar frames not in the corpus")
    # the raw CFA frames, measured as PixInsight allows
    result = SubframeSelector(subframes=_rows([str(f) for f in files]), scaleUnit="Pixel",
                              weightingExpression="PSFSignalWeight").execute_global(Workspace())
    table = result.outputs["measurements"]
    assert len(table) == 3 and result.outputs["failed"] == 0
    for row in table:
        values = [float(v) for v in row[4:]]
        assert all(math.isfinite(v) for v in values)
        assert 2.0 <= row[COL["measurementFWHM"]] <= 4.0
        assert 0 < row[COL["measurementNoise"]] < 0.01
        assert row[COL["measurementStars"]] >= 20
        assert row[COL["measurementWeight"]] == pytest.approx(row[COL["measurementPSFSignalWeight"]])


def test_a_missing_file_fails_with_its_name(frames, tmp_path):
    missing = str(tmp_path / "nope.fits")
    result = SubframeSelector(subframes=_rows([frames[0], missing])).execute_global(Workspace())
    assert result.outputs["failed"] == 1 and len(result.outputs["measurements"]) == 1
    assert any("nope.fits" in m for m in result.messages)
    with pytest.raises(ExecutionError, match="nope.fits"):
        SubframeSelector(subframes=_rows([frames[0], missing]), onError="Abort").execute_global(Workspace())


def test_it_runs_only_globally(frames):
    ws = Workspace()
    ok, why = SubframeSelector().can_execute_global()
    assert not ok and "subframes" in why
    blank = SubframeSelector(routine="OutputSubframes", subframes=_rows(frames), outputKeyword=" ")
    ok, why = blank.can_execute_global()
    assert not ok and "outputKeyword" in why
    assert not SubframeSelector().can_execute_on(ws)[0]


def test_read_only_inputs_are_untouched(frames):
    before = Path(frames[0]).read_bytes()
    SubframeSelector(subframes=_rows(frames[:1])).execute_global(Workspace())
    assert Path(frames[0]).read_bytes() == before


def test_a_process_pool_gives_the_same_measurements_and_outputs(frames, measured, tmp_path):
    from procfw.batch import make_executor, use_executor

    ss = SubframeSelector(subframes=_rows(frames[:2]), scaleUnit="Pixel", weightingExpression="FWHM")
    with make_executor("processes", workers=2) as executor, use_executor(executor):
        table = ss.execute_global(Workspace()).outputs["measurements"]
        out = ss.evolve(routine="OutputSubframes", measurements=table, outputDirectory=str(tmp_path))
        result = out.execute_global(Workspace())
    for a, b in zip(table, measured):  # the same numbers as measured in this process (weight aside)
        assert a[5:] == b[5:]
    assert result.outputs["succeeded"] == 2
    assert read_image(tmp_path / "frame1_a.xisf").keyword("SSWEIGHT") == pytest.approx(
        round(table[1][COL["measurementFWHM"]], 6), abs=1e-6)


def test_star_detection_preview_measures_the_first_enabled_frame(frames):
    rows = _rows(frames[:2])
    rows[0][0] = False
    result = SubframeSelector(routine="StarDetectionPreview", subframes=rows).execute_global(Workspace())
    assert result.outputs["subframe"] == frames[1]
    assert result.outputs["FWHM"] == pytest.approx(_fwhm(TRUTH[1][0]), rel=0.03)


def test_locked_rows_keep_their_approval_and_history_is_recorded(measured, tmp_path):
    rows = [list(r) for r in measured]
    rows[0][COL["measurementEnabled"]], rows[0][COL["measurementLocked"]] = False, True  # locked out
    ss = SubframeSelector(routine="OutputSubframes", measurements=rows, approvalExpression="FWHM < 100",
                          weightingExpression="Index + 1", outputDirectory=str(tmp_path), outputExtension=".fits")
    result = ss.execute_global(Workspace())
    table = result.outputs["measurements"]
    assert [r[COL["measurementEnabled"]] for r in table] == [False, True, True, True]
    assert table[0][COL["measurementLocked"]] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frame1_a.fits", "frame2_a.fits", "frame3_a.fits"]
    image = read_image(tmp_path / "frame2_a.fits")
    assert image.keyword("SSWEIGHT") == 3
    assert any(k.name == "HISTORY" and "SubframeSelector" in str(k.value) for k in image.keywords)


def test_pedestal_and_data_units(frames):
    base = SubframeSelector(subframes=_rows(frames[:1]), weightingExpression="Median")
    plain = base.execute_global(Workspace()).outputs["measurements"][0]
    literal = base.evolve(pedestalMode="Pedestal_Literal", pedestal=655).execute_global(Workspace())
    row = literal.outputs["measurements"][0]
    assert row[COL["measurementMedian"]] == pytest.approx(plain[COL["measurementMedian"]] - 655 / 65535)
    assert row[COL["measurementWeight"]] == pytest.approx(row[COL["measurementMedian"]])
    ss = base.evolve(dataUnit="Electron", cameraGain=2.0, cameraResolution="Bits12", weightingExpression="Noise")
    noise_row = ss.execute_global(Workspace()).outputs["measurements"][0]
    assert noise_row[COL["measurementWeight"]] == pytest.approx(noise_row[COL["measurementNoise"]] * 4095 * 2)


# weighting/approval expressions as PixInsight users and scripts write them (PJSR scripts on GitHub)
SCRIPT_EXPRESSIONS = [
    ("FWHM <= 99 && SNRWeight >= 0",
     "(15*(1-(FWHM-FWHMMin)/(FWHMMax-FWHMMin)) + 15*(1-(Eccentricity-EccentricityMin)/(EccentricityMax-"
     "EccentricityMin)) + 20*(SNRWeight-SNRWeightMin)/(SNRWeightMax-SNRWeightMin))+50"),
    ("FWHM < 3.5 && Eccentricity < 0.665",
     "27*(1-(FWHM - FWHMMin)/(FWHMMax- FWHMMin))\n+20*(SNRWeight - SNRWeightMin)/(SNRWeightMax - SNRWeightMin)\n"
     "+3*(1- (Eccentricity - EccentricityMin) / (EccentricityMax-EccentricityMin))\n+50"),
    ("", "10*(1-(FWHM-FWHMMin)/(FWHMMax-FWHMMin)) +\n15*(1-(Eccentricity-EccentricityMin)/(EccentricityMax-"
         "EccentricityMin)) +\n10*(SNRWeight-SNRWeightMin)/(SNRWeightMax-SNRWeightMin) +\n20*(Noise-NoiseMin)/"
         "(NoiseMax-NoiseMin) +\n50"),
]


@pytest.mark.parametrize(("approval", "weighting"), SCRIPT_EXPRESSIONS)
def test_expressions_from_pixinsight_scripts_evaluate(measured, approval, weighting):
    ss = SubframeSelector(scaleUnit="Pixel", approvalExpression=approval, weightingExpression=weighting)
    rows = [(int(r[0]), str(r[3]), dict(zip(("FWHM", "Eccentricity", "SNRWeight", "Noise"),
                                            (r[COL["measurementFWHM"]], r[COL["measurementEccentricity"]],
                                             r[COL["measurementSNRWeight"]], r[COL["measurementNoise"]]))))
            for r in measured]
    weights = [r[COL["measurementWeight"]] for r in ss.evaluate(rows)]
    assert all(math.isfinite(w) and 0 <= w <= 100 for w in weights)
    assert max(weights) > min(weights)


def test_short_subframe_rows_take_the_column_defaults_as_in_pixinsight(frames):
    from procfw.console import Session

    session = Session()
    session.run_text(f'SubframeSelector -subframes=[[true,"{frames[0]}"]] -scaleUnit=Pixel')
    assert SubframeSelector(subframes=[[True, frames[0]]]).subframes == ((True, frames[0], "", ""),)


def test_noise_keywords_are_used_when_present(frames, tmp_path):
    image = read_image(frames[0])
    from procfw.image import FITSKeyword

    tagged = tmp_path / "tagged.fits"
    write_fits(image.with_keywords([FITSKeyword("NOISE00", 1.234e-3, ""), FITSKeyword("NOISEF00", 0.9, "")]), tagged)
    row = SubframeSelector(subframes=_rows([str(tagged)])).execute_global(Workspace()).outputs["measurements"][0]
    assert row[COL["measurementNoise"]] == pytest.approx(1.234e-3) and row[COL["measurementNoiseRatio"]] == 0.9


def test_a_weight_that_is_not_finite_is_an_error_naming_the_expression(frames):
    with pytest.raises(ExecutionError, match=r"weightingExpression '1/\(FWHM-FWHM\)' gives inf"):
        SubframeSelector(subframes=_rows(frames[:1]), weightingExpression="1/(FWHM-FWHM)").execute_global(Workspace())


def test_output_with_a_table_keeps_what_a_blank_expression_does_not_recompute(measured, tmp_path):
    rows = [list(r) for r in measured]
    for i, row in enumerate(rows):
        row[COL["measurementWeight"]] = 10.0 + i
    rows[3][COL["measurementEnabled"]] = False
    ss = SubframeSelector(routine="OutputSubframes", measurements=rows, approvalExpression="Index > 0",
                          outputDirectory=str(tmp_path), outputExtension=".fits")
    table = ss.execute_global(Workspace()).outputs["measurements"]
    assert [r[COL["measurementEnabled"]] for r in table] == [False, True, True, True]
    assert [r[COL["measurementWeight"]] for r in table] == [10.0, 11.0, 12.0, 13.0]
    assert read_image(tmp_path / "frame3_a.fits").keyword("SSWEIGHT") == 13.0
    kept = SubframeSelector(routine="OutputSubframes", measurements=rows, outputDirectory=str(tmp_path),
                            outputPostfix="_b", outputExtension=".fits").execute_global(Workspace())
    assert [r[COL["measurementEnabled"]] for r in kept.outputs["measurements"]] == [True, True, True, False]
