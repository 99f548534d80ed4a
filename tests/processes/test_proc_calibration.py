"""ImageCalibration: PixInsight ids, calibration against simulated truth, dark scaling, file handling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from processes.calibration.darkopt import DarkOptimizer, golden_section_minimum
from processes.calibration.imagecalibration import ImageCalibration
from processes.common.filelists import FileListTable, expand_paths, output_file_path
from processes.simulation import camera as sim
from procfw.errors import ExecutionError, ParameterError
from procfw.image import FITSKeyword, Image
from procfw.io import read_image
from procfw.testing import check_process
from procfw.workspace import Workspace

# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mono_set(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A mono camera: 3 lights of 120 s, master bias, a 300 s master dark (bias included), a calibrated flat."""
    root = tmp_path_factory.mktemp("mono")
    cam = sim.Camera(width=160, height=128, seed=3, dark_current=0.05, hot_pixel_fraction=0.004, vignetting=0.35)
    scene = sim.random_scene(cam, n_stars=40, seed=1, sky_gradient=(0.3, 0.1))
    lights = [sim.light_frame(cam, scene, exposure=120, seed=10 + i, shift=(i, 0.5 * i)) for i in range(3)]
    paths = [f.write(root / f"light_{i}.fits") for i, f in enumerate(lights)]
    sim.master_bias(cam, seed=1, frames=64).write(root / "bias.fits")
    sim.master_dark(cam, exposure=300, seed=2, frames=32).write(root / "dark300.fits")
    sim.master_dark(cam, exposure=120, seed=4, frames=32).write(root / "dark120.fits")
    sim.master_flat(cam, seed=3, calibrated=True, frames=64).write(root / "flat.fits")
    return {"root": root, "cam": cam, "lights": lights, "paths": paths}


def _calibration(root: Path, out: Path, **extra) -> ImageCalibration:
    params = dict(
        targetFrames=str(root / "light_*.fits"),
        masterBiasPath=str(root / "bias.fits"),
        masterDarkPath=str(root / "dark300.fits"),
        masterFlatPath=str(root / "flat.fits"),
        calibrateDark=True,
        outputDirectory=str(out),
        outputExtension=".fits",
    )
    params.update(extra)
    return ImageCalibration(**params)


# -- schema --------------------------------------------------------------------------------


def test_conformance_default_instance() -> None:
    report = check_process(ImageCalibration)
    report.raise_if_failed()
    assert any("needs master frames" in s for s in report.skipped)


def test_conformance_runs_on_views_when_a_master_is_set(tmp_path: Path) -> None:
    # the conformance views are 48×32: a flat of that size makes the instance runnable on views
    flat = Image(np.full((1, 32, 48), 0.5, dtype=np.float32))
    from procfw.io.fits import write_fits

    write_fits(flat, tmp_path / "flat.fits")
    instance = ImageCalibration(masterBiasEnabled=False, masterDarkEnabled=False,
                                masterFlatPath=str(tmp_path / "flat.fits"), evaluateNoise=False)
    report = check_process(ImageCalibration, instance=instance)
    report.raise_if_failed()
    assert "executes on a 3-channel view" in report.passed


def test_pixinsight_ids_defaults_and_ranges() -> None:
    # values from PCL ImageCalibrationParameters.cpp (ImageCalibration 1.9.8)
    schema = ImageCalibration.schema()
    expected_defaults = {
        "enableCFA": True, "cfaPattern": "Auto", "pedestal": 0, "pedestalMode": "Keyword",
        "overscanEnabled": False, "masterBiasEnabled": True, "masterDarkEnabled": True, "masterFlatEnabled": True,
        "calibrateBias": False, "calibrateDark": False, "calibrateFlat": False, "optimizeDarks": True,
        "darkOptimizationThreshold": 0.0, "darkOptimizationLow": 3.0, "darkOptimizationWindow": 0,
        "darkCFADetectionMode": "DetectCFA", "separateCFAFlatScalingFactors": True, "evaluateNoise": True,
        "noiseEvaluationAlgorithm": "NoiseEvaluation_MRS", "evaluateSignal": True, "structureLayers": 5,
        "maxStars": 24576, "psfType": "PSFType_Moffat4", "outputExtension": ".xisf", "outputPrefix": "",
        "outputPostfix": "_c", "outputSampleFormat": "f32", "outputPedestal": 0,
        "outputPedestalMode": "OutputPedestal_Literal", "overwriteExistingFiles": False, "onError": "Continue",
        "targetFrames": (),
    }
    instance = ImageCalibration()
    for pid, value in expected_defaults.items():
        assert getattr(instance, pid) == value, pid
    assert instance.flatScaleClippingFactor == pytest.approx(0.05)
    assert instance.autoPedestalLimit == pytest.approx(0.0001)
    assert schema["cfaPattern"].element_ids() == ["Auto", "RGGB", "BGGR", "GBRG", "GRBG", "GRGB", "GBGR", "RGBG",
                                                  "BGRG"]
    assert schema["cfaPattern"].value_of("GRBG") == 4
    assert schema["onError"].element_ids() == ["Continue", "Abort", "AskUser"]
    assert schema["outputSampleFormat"].element_ids() == ["i16", "i32", "f32", "f64"]
    assert schema["darkOptimizationLow"].precision == 4 and schema["darkOptimizationLow"].maximum == 10
    assert schema["darkOptimizationThreshold"].precision == 5 and schema["darkOptimizationThreshold"].maximum == 0.5
    assert schema["darkOptimizationWindow"].maximum == 65536
    assert schema["pedestal"].maximum == 1000
    assert [c.id for c in schema["targetFrames"].columns] == ["enabled", "path"]
    assert [c.id for c in schema["overscanRegions"].columns] == [
        "enabled", "sourceX0", "sourceY0", "sourceX1", "sourceY1", "targetX0", "targetY0", "targetX1", "targetY1"]
    assert len(instance.overscanRegions) == 4
    assert schema["darkOptimizationLow"].format(3.0) == "3.0000"
    with pytest.raises(ParameterError, match="darkOptimizationLow"):
        ImageCalibration(darkOptimizationLow=11)


def test_cannot_run_without_targets_or_masters() -> None:
    ok, why = ImageCalibration().can_execute_global()
    assert not ok and "targetFrames" in why
    ok, why = ImageCalibration(targetFrames=[[True, "x.fits"]]).can_execute_global()
    assert not ok and "masterBiasPath is empty" in why
    ok, why = ImageCalibration(targetFrames=[[True, "x.fits"]], masterBiasEnabled=False, masterDarkEnabled=False,
                               masterFlatEnabled=False).can_execute_global()
    assert not ok and "no master calibration frames" in why
    with pytest.raises(ExecutionError, match="masterBiasPath is empty"):
        ImageCalibration(targetFrames=[[True, "x.fits"]]).execute_global(Workspace())


# -- file lists ----------------------------------------------------------------------------


def test_file_list_glob_conversion(tmp_path: Path) -> None:
    for name in ("b.fits", "a.fits", "c.fit", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    instance = ImageCalibration(targetFrames=str(tmp_path / "*.fit*"))
    assert instance.targetFrames == (
        (True, str(tmp_path / "a.fits")), (True, str(tmp_path / "b.fits")), (True, str(tmp_path / "c.fit")))
    # a list of patterns and plain paths, and a table literal, are accepted too
    mixed = ImageCalibration(targetFrames=[str(tmp_path / "c.fit"), tmp_path / "a.fits"])
    assert [row[1] for row in mixed.targetFrames] == [str(tmp_path / "c.fit"), str(tmp_path / "a.fits")]
    literal = ImageCalibration(targetFrames='[[false, "one.fits"], [true, "two.fits"]]')
    assert literal.targetFrames == ((False, "one.fits"), (True, "two.fits"))
    names = ImageCalibration(targetFrames=f'["{tmp_path / "b.fits"}", "{tmp_path / "a*.fits"}"]')
    assert [row[1] for row in names.targetFrames] == [str(tmp_path / "b.fits"), str(tmp_path / "a.fits")]
    # the console literal of a value reads back as the same rows
    kind = ImageCalibration.parameter("targetFrames")
    assert kind.convert(kind.console(instance.targetFrames)) == instance.targetFrames
    with pytest.raises(ParameterError, match=r"ImageCalibration.*targetFrames.*no file matches"):
        ImageCalibration(targetFrames=str(tmp_path / "*.xisf"))
    # a bracket glob that is not a table literal is still a glob
    assert [r[1] for r in ImageCalibration(targetFrames=str(tmp_path / "[ab].fits")).targetFrames] == [
        str(tmp_path / "a.fits"), str(tmp_path / "b.fits")]


def test_file_list_table_other_columns() -> None:
    from procfw.params import Boolean, String

    # StarAlignment-like targets table: (enabled, isFile, image)
    table = FileListTable(
        columns=(Boolean(id="enabled", default=True), Boolean(id="isFile", default=True), String(id="image")),
        path_column="image", id="targets",
    )
    assert table.convert(["x.fits", "y.fits"]) == ((True, True, "x.fits"), (True, True, "y.fits"))
    assert expand_paths("  plain.fits ") == ["plain.fits"]


def test_output_file_path_rules() -> None:
    assert output_file_path("/d/light.fits", postfix="_c", extension=".xisf") == Path("/d/light_c.xisf")
    assert output_file_path("/d/light.fits", directory="/o", prefix="p_", postfix="_c") == Path("/o/p_light_c.fits")
    assert output_file_path("/d/light.fits.gz", postfix="_c") == Path("/d/light_c.fits.gz")
    assert output_file_path("/d/light.fit", extension="fits") == Path("/d/light.fits")


# -- calibration accuracy ----------------------------------------------------------------------


def test_calibration_recovers_truth_within_noise(mono_set: dict, tmp_path: Path) -> None:
    result = _calibration(mono_set["root"], tmp_path).execute_global(Workspace())
    assert result.outputs["succeeded"] == 3 and result.outputs["failed"] == 0
    for i, frame in enumerate(mono_set["lights"]):
        out = read_image(tmp_path / f"light_{i}_c.fits").pixels[0].astype(np.float64) * 65535
        expected = frame.truth.expected_calibrated(0.05)
        z = (out - expected) / frame.truth.noise_sigma
        assert abs(float(np.mean(out - expected))) < 3 * float(np.mean(frame.truth.noise_sigma)) / np.sqrt(out.size)
        assert 0.95 < float(np.std(z)) < 1.08
        assert float(np.max(np.abs(z))) < 6.0
    row = result.outputs["outputData"][0]
    assert row["status"] == "ok" and row["outputFilePath"].endswith("light_0_c.fits")
    header = {k.name: k.value for k in read_image(tmp_path / "light_0_c.fits").keywords}
    assert header["IMAGETYP"] == "Light Frame" and "NOISE00" in header


def test_dark_scaling_finds_the_exposure_ratio(mono_set: dict, tmp_path: Path) -> None:
    result = _calibration(mono_set["root"], tmp_path).execute_global(Workspace())
    factors = [row["darkScalingFactors"][0] for row in result.outputs["outputData"]]
    assert factors == pytest.approx([120 / 300] * 3, abs=0.01)
    (tmp_path / "x").mkdir()
    same = _calibration(mono_set["root"], tmp_path / "x", masterDarkPath=str(mono_set["root"] / "dark120.fits"))
    factors = [row["darkScalingFactors"][0] for row in same.execute_global(Workspace()).outputs["outputData"]]
    assert factors == pytest.approx([1.0] * 3, abs=0.01)


def test_dark_optimization_window_and_absolute_threshold(mono_set: dict, tmp_path: Path) -> None:
    windowed = _calibration(mono_set["root"], tmp_path, darkOptimizationWindow=96, evaluateNoise=False)
    result = windowed.execute_global(Workspace())
    assert [r["darkScalingFactors"][0] for r in result.outputs["outputData"]] == pytest.approx([0.4] * 3, abs=0.015)
    assert result.outputs["darkOptimizationPixels"][0] < 0.03 * 96 * 96
    # the deprecated absolute threshold (normalized units) replaces median + k·sigma
    threshold = _calibration(mono_set["root"], tmp_path, darkOptimizationThreshold=0.003, evaluateNoise=False,
                             overwriteExistingFiles=True).execute_global(Workspace())
    assert threshold.outputs["darkOptimizationThresholds"] == [pytest.approx(0.003)]
    assert threshold.outputs["outputData"][0]["darkScalingFactors"][0] == pytest.approx(0.4, abs=0.01)


def test_without_optimization_an_unscaled_dark_leaves_hot_pixels(mono_set: dict, tmp_path: Path) -> None:
    result = _calibration(mono_set["root"], tmp_path, optimizeDarks=False, evaluateNoise=False).execute_global(
        Workspace())
    assert result.outputs["outputData"][0]["darkScalingFactors"] == [1.0]
    out = read_image(tmp_path / "light_0_c.fits").pixels[0].astype(np.float64) * 65535
    hot = mono_set["cam"].maps().hot_pixels
    truth = mono_set["lights"][0].truth
    # the 300 s dark over-subtracts 180 s of hot-pixel current: those pixels end up far too low
    deficit = (truth.expected_calibrated() - out)[hot[:, 0], hot[:, 1]]
    assert np.median(deficit) > 10 * np.median(truth.noise_sigma)


def test_golden_section_and_dark_optimizer_known_factor() -> None:
    assert golden_section_minimum(lambda k: (k - 0.3) ** 2 + 1) == pytest.approx(0.3, abs=5e-4)
    assert golden_section_minimum(lambda k: abs(k - 3.7)) == pytest.approx(3.7, abs=5e-4)
    rng = np.random.default_rng(0)
    dark = rng.uniform(100, 5000, 400)
    target = 0.37 * dark + rng.normal(0, 5, 400)
    target[:10] += 10000  # a few stars on hot pixels do not pull k
    assert DarkOptimizer(target, dark).optimize() == pytest.approx(0.37, abs=0.002)


def test_cfa_calibration_with_separate_flat_scaling(tmp_path: Path) -> None:
    cam = sim.Camera(width=128, height=96, bayer_pattern="RGGB", seed=8, transmission=(0.6, 1.0, 0.5))
    scene = sim.random_scene(cam, n_stars=20, seed=2)
    light = sim.light_frame(cam, scene, exposure=60, seed=5)
    light.write(tmp_path / "cfa.fits")
    sim.master_bias(cam, seed=1, frames=64).write(tmp_path / "bias.fits")
    sim.master_dark(cam, exposure=60, seed=2, frames=32, bias_subtracted=True).write(tmp_path / "dark.fits")
    sim.master_flat(cam, seed=3, frames=64, calibrated=True).write(tmp_path / "flat.fits")
    (tmp_path / "out").mkdir()
    instance = ImageCalibration(
        targetFrames=str(tmp_path / "cfa.fits"), masterBiasPath=str(tmp_path / "bias.fits"),
        masterDarkPath=str(tmp_path / "dark.fits"), masterFlatPath=str(tmp_path / "flat.fits"),
        outputDirectory=str(tmp_path / "out"), outputExtension=".fits",
    )
    result = instance.execute_global(Workspace())
    flat_factors = result.outputs["flatScalingFactors"]
    # per-colour scaling: the flat's R and B levels relative to G follow the filter transmissions
    assert len(flat_factors) == 3
    assert flat_factors[0] / flat_factors[1] == pytest.approx(0.6, rel=0.02)
    assert flat_factors[2] / flat_factors[1] == pytest.approx(0.5, rel=0.02)
    out = read_image(tmp_path / "out" / "cfa_c.fits")
    assert out.keyword("BAYERPAT") == "RGGB"  # still a raw CFA frame
    values = out.pixels[0].astype(np.float64) * 65535
    z = (values - light.truth.expected_calibrated(0.05, separate_cfa=True)) / light.truth.noise_sigma
    assert 0.95 < float(np.std(z)) < 1.1 and abs(float(np.mean(z))) < 0.1
    assert result.outputs["outputData"][0]["darkScalingFactors"][0] == pytest.approx(1.0, abs=0.02)


def test_noise_estimate_matches_the_simulated_noise(mono_set: dict, tmp_path: Path) -> None:
    result = _calibration(mono_set["root"], tmp_path).execute_global(Workspace())
    truth = mono_set["lights"][0].truth
    # the sky dominates: noise of a sky pixel, normalized, scaled by the flat correction
    sigma = float(np.median(truth.noise_sigma / (truth.response / 1.0))) / 65535
    estimate = result.outputs["outputData"][0]["noiseEstimates"][0]
    assert estimate == pytest.approx(sigma, rel=0.1)
    assert result.outputs["outputData"][0]["noiseAlgorithms"] == ["MRS"]


# -- file handling ---------------------------------------------------------------------------


def test_failed_frame_is_reported_and_others_succeed(mono_set: dict, tmp_path: Path) -> None:
    bad = tmp_path / "light_bad.fits"
    bad.write_bytes(b"SIMPLE  = this is not a FITS file")
    frames = [[True, str(p)] for p in mono_set["paths"]] + [[True, str(bad)], [False, str(tmp_path / "off.fits")]]
    instance = _calibration(mono_set["root"], tmp_path, targetFrames=frames, evaluateNoise=False)
    result = instance.execute_global(Workspace())
    rows = result.outputs["outputData"]
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", "failed", "skipped"]
    assert "light_bad.fits" in rows[3]["error"] and rows[3]["outputFilePath"] == ""
    assert (result.outputs["succeeded"], result.outputs["failed"], result.outputs["skipped"]) == (3, 1, 1)
    assert any("1 failed" in m for m in result.messages)
    with pytest.raises(ExecutionError, match="light_bad.fits"):
        instance.evolve(onError="Abort", overwriteExistingFiles=True).execute_global(Workspace())


def test_existing_outputs_are_never_overwritten_unless_asked(mono_set: dict, tmp_path: Path) -> None:
    existing = tmp_path / "light_1_c.fits"
    existing.write_bytes(b"keep me")
    instance = _calibration(mono_set["root"], tmp_path, evaluateNoise=False)
    rows = instance.execute_global(Workspace()).outputs["outputData"]
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    assert "file exists" in rows[1]["error"]
    assert existing.read_bytes() == b"keep me"
    rows = instance.evolve(overwriteExistingFiles=True).execute_global(Workspace()).outputs["outputData"]
    assert [r["status"] for r in rows] == ["ok", "ok", "ok"]
    assert read_image(existing).height == 128


def test_missing_output_directory_and_duplicate_outputs_fail_early(mono_set: dict, tmp_path: Path) -> None:
    with pytest.raises(ExecutionError, match="output directory does not exist"):
        _calibration(mono_set["root"], tmp_path / "missing").execute_global(Workspace())
    twice = [[True, str(mono_set["paths"][0])], [True, str(mono_set["paths"][0])]]
    with pytest.raises(ExecutionError, match="would both be written"):
        _calibration(mono_set["root"], tmp_path, targetFrames=twice).execute_global(Workspace())


def test_output_sample_format_and_xisf(mono_set: dict, tmp_path: Path) -> None:
    _calibration(mono_set["root"], tmp_path, outputSampleFormat="i16", evaluateNoise=False,
                 targetFrames=str(mono_set["paths"][0])).execute_global(Workspace())
    assert read_image(tmp_path / "light_0_c.fits").properties["FITS:BITPIX"] == 16
    _calibration(mono_set["root"], tmp_path, outputExtension=".xisf", evaluateNoise=False,
                 targetFrames=str(mono_set["paths"][0])).execute_global(Workspace())
    assert read_image(tmp_path / "light_0_c.xisf").pixels.dtype == np.float32


def test_view_execution_matches_global(mono_set: dict, tmp_path: Path) -> None:
    instance = _calibration(mono_set["root"], tmp_path, evaluateNoise=False,
                            targetFrames=str(mono_set["paths"][0]))
    instance.execute_global(Workspace())
    workspace = Workspace()
    window = workspace.open(mono_set["paths"][0])
    before = window.image.pixels.copy()
    result = instance.execute_on(window.main_view)
    assert result.outputs["darkScalingFactors"][0] == pytest.approx(0.4, abs=0.01)
    assert np.array_equal(window.image.pixels, read_image(tmp_path / "light_0_c.fits").pixels)
    window.main_view.undo()
    assert np.array_equal(window.image.pixels, before)


# -- pedestals and overscan ----------------------------------------------------------------------


def _constant(value_dn: float, shape=(1, 20, 30), keywords=()) -> Image:
    return Image(np.full(shape, value_dn / 65535, dtype=np.float32), list(keywords))


def test_input_and_output_pedestals(tmp_path: Path) -> None:
    from procfw.io.fits import write_fits

    write_fits(_constant(100), tmp_path / "bias.fits")
    write_fits(_constant(1300, keywords=[FITSKeyword("PEDESTAL", -200)]), tmp_path / "light.fits")
    instance = ImageCalibration(
        targetFrames=str(tmp_path / "light.fits"), masterBiasPath=str(tmp_path / "bias.fits"),
        masterDarkEnabled=False, masterFlatEnabled=False, outputExtension=".fits", outputPedestal=50,
        evaluateNoise=False,
    )
    instance.execute_global(Workspace())
    out = read_image(tmp_path / "light_c.fits")
    # 1300 − |−200| (PEDESTAL keyword, Keyword mode) − 100 (bias) + 50 (output pedestal) = 1050 DN
    assert float(out.pixels.mean()) * 65535 == pytest.approx(1050, abs=0.01)
    assert out.keyword("PEDESTAL") == 50
    literal = instance.evolve(pedestalMode="Literal", pedestal=30, outputPedestal=0, overwriteExistingFiles=True)
    literal.execute_global(Workspace())
    # Literal mode subtracts 30 DN from the light and from the master bias: 1270 − 70 = 1200
    assert float(read_image(tmp_path / "light_c.fits").pixels.mean()) * 65535 == pytest.approx(1200, abs=0.01)


def test_auto_output_pedestal_lifts_negative_pixels(tmp_path: Path) -> None:
    from procfw.io.fits import write_fits

    light = np.full((1, 40, 50), 1000 / 65535, dtype=np.float32)
    light[0, :2, :] = 900 / 65535  # 100 pixels end 100 DN below zero
    write_fits(Image(light), tmp_path / "light.fits")
    write_fits(_constant(1000, shape=(1, 40, 50)), tmp_path / "bias.fits")
    instance = ImageCalibration(
        targetFrames=str(tmp_path / "light.fits"), masterBiasPath=str(tmp_path / "bias.fits"),
        masterDarkEnabled=False, masterFlatEnabled=False, outputExtension=".fits", evaluateNoise=False,
        outputPedestalMode="OutputPedestal_Auto", autoPedestalLimit=0.001,
    )
    row = instance.execute_global(Workspace()).outputs["outputData"][0]
    assert row["outputPedestal"] == 100
    out = read_image(tmp_path / "light_c.fits").pixels[0] * 65535
    assert out[0, 0] == pytest.approx(0, abs=0.01) and out[10, 10] == pytest.approx(100, abs=0.01)


def test_overscan_correction_and_crop(tmp_path: Path) -> None:
    from procfw.io.fits import write_fits

    rng = np.random.default_rng(2)
    frame = np.full((1, 30, 44), 500.0) + rng.normal(0, 1, (1, 30, 44))
    frame[0, :, :40] += 1000  # image area; columns 40..43 are the overscan strip at 500 DN
    write_fits(Image((frame / 65535).astype(np.float32)), tmp_path / "raw.fits")
    regions = [[True, 40, 0, 44, 30, 0, 0, 40, 30]] + [[False, 0, 0, 0, 0, 0, 0, 0, 0]] * 3
    instance = ImageCalibration(
        targetFrames=str(tmp_path / "raw.fits"), masterBiasEnabled=False, masterDarkEnabled=False,
        masterFlatEnabled=False, overscanEnabled=True, overscanImageX1=40, overscanImageY1=30,
        overscanRegions=regions, outputExtension=".fits", evaluateNoise=False,
    )
    instance.execute_global(Workspace())
    out = read_image(tmp_path / "raw_c.fits")
    assert (out.width, out.height) == (40, 30)
    expected = frame[0, :, :40] - np.median(frame[0, :, 40:])
    assert np.allclose(out.pixels[0] * 65535, expected, atol=0.05)
    bad = instance.evolve(overscanImageX1=0)
    assert not bad.can_execute_global()[0] and "overscan" in bad.can_execute_global()[1]


def test_geometry_mismatch_is_reported(tmp_path: Path) -> None:
    from procfw.io.fits import write_fits

    write_fits(_constant(100, shape=(1, 10, 10)), tmp_path / "bias.fits")
    write_fits(_constant(300, shape=(1, 12, 10)), tmp_path / "light.fits")
    instance = ImageCalibration(targetFrames=str(tmp_path / "light.fits"), masterBiasPath=str(tmp_path / "bias.fits"),
                                masterDarkEnabled=False, masterFlatEnabled=False, outputExtension=".fits")
    with pytest.raises(ExecutionError, match="incompatible image geometry"):
        instance.execute_global(Workspace())


# -- dark optimization: the high pass at the dark-significant pixels only --------------------------


@pytest.mark.parametrize("shape", [(1, 5), (2, 7), (3, 3), (40, 33)])
def test_high_pass_at_equals_the_filtered_plane(shape: tuple[int, int]) -> None:
    from processes.calibration import darkopt

    plane = np.random.default_rng(shape[0]).random(shape)
    rows, cols = np.divmod(np.arange(plane.size), shape[1])
    assert np.array_equal(darkopt.high_pass_at(plane, rows, cols), darkopt.high_pass(plane).ravel())


@pytest.mark.parametrize(("cfa", "window"), [(False, 0), (True, 0), (False, 24), (True, 16)])
def test_prepared_values_equal_the_prepared_plane(cfa: bool, window: int) -> None:
    from processes.calibration import darkopt

    rng = np.random.default_rng(5)
    dark = (0.01 + rng.normal(0, 0.001, (1, 60, 50))).astype(np.float32)
    dark.reshape(-1)[rng.integers(0, dark.size, 200)] += 0.1
    target = (0.1 + rng.normal(0, 0.002, (1, 60, 50))).astype(np.float32) + dark
    opt = darkopt.optimizing_dark(dark, low=3.0, window=window, cfa=cfa)
    assert opt.counts[0] > 0
    expected = opt.prepare(target[0]).ravel()[opt.indices[0]]
    assert np.array_equal(opt.prepared_values(target[0], 0), expected)
    assert np.array_equal(opt.values[0], opt.prepare(dark[0]).ravel()[opt.indices[0]])


# -- automatic cosmetic correction (PixInsight 1.9) ------------------------------------------------------
def test_automatic_cosmetic_correction_replaces_the_hot_and_cold_pixels_of_the_master_dark(tmp_path: Path) -> None:
    from procfw.io.fits import write_fits

    rng = np.random.default_rng(7)
    shape = (1, 40, 50)
    dark = (0.01 + rng.normal(0, 0.0005, shape)).astype(np.float32)
    hot = [(5, 7), (20, 30), (33, 44)]
    cold = [(12, 9)]
    for y, x in hot:
        dark[0, y, x] = 0.4
    for y, x in cold:
        dark[0, y, x] = 0.0
    sky = (0.2 + rng.normal(0, 0.001, shape)).astype(np.float32)
    light = sky + 1.5 * dark  # hot pixels that the dark does not remove exactly
    write_fits(Image(dark), tmp_path / "dark.fits")
    write_fits(Image(light), tmp_path / "light.fits")
    common = dict(targetFrames=str(tmp_path / "light.fits"), masterBiasEnabled=False, masterFlatEnabled=False,
                  masterDarkPath=str(tmp_path / "dark.fits"), optimizeDarks=False, evaluateNoise=False,
                  outputDirectory=str(tmp_path), overwriteExistingFiles=True)
    plain = ImageCalibration(**common).execute_global(Workspace())
    before = read_image(tmp_path / "light_c.xisf").pixels[0]
    assert all(before[y, x] > 0.3 for y, x in hot)  # 0.5 × 0.4 left over

    process = ImageCalibration(**common, cosmeticCorrectionLow=True, cosmeticCorrectionHigh=True,
                               cosmeticShowMap=True)
    result = process.execute_global(Workspace())
    after = read_image(tmp_path / "light_c.xisf").pixels[0]
    assert all(abs(after[y, x] - 0.2) < 0.01 for y, x in hot)
    row = result.outputs["outputData"][0]
    assert row["cosmeticCorrectionHighCounts"] == [3] and row["cosmeticCorrectionLowCounts"] == [1]
    assert result.created == ("IC_CC_map",) and result.outputs["cosmeticCorrectionMapId"] == "IC_CC_map"
    icon = process.evolve(**process.icon_outputs(result.outputs))
    cells = dict(zip((c.id for c in icon.schema()["outputData"].columns), icon.outputData[0]))
    assert (cells["cosmeticCorrectionHighCountRK"], cells["cosmeticCorrectionLowCountRK"]) == (3, 1)
    assert icon.cosmeticCorrectionMapId == "IC_CC_map"
    assert not plain.outputs["outputData"][0].get("cosmeticCorrectionHighCounts")
    # the map only, no frame calibrated
    stop = ImageCalibration(**common, cosmeticCorrectionHigh=True, cosmeticShowMap=True,
                            cosmeticShowMapAndStop=True, outputPostfix="_stop").execute_global(Workspace())
    assert stop.created == ("IC_CC_map",) and not (tmp_path / "light_stop.xisf").exists()
