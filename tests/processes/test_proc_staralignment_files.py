"""StarAlignment as a process: global execution over files and views, working modes, outputs,
failures with reasons, parameters and icons.  Synthetic star fields with known transformations
(reference → target pixel coordinates) come from :mod:`processes.simulation.starfield`."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from processes.simulation.starfield import random_field, render_stars, seen_through
from processes.staralignment import StarAlignment
from procfw.errors import ExecutionError, ParameterError
from procfw.icons import dumps_icons, loads_icons
from procfw.image import FITSKeyword, Image
from procfw.io import read_image, write_image
from procfw.testing import check_process
from procfw.workspace import Workspace

W, H = 360, 300
BACKGROUND = 0.05
_C = np.array([(W - 1) / 2, (H - 1) / 2])
_TH = math.radians(37.0)
_R = np.array([[math.cos(_TH), -math.sin(_TH)], [math.sin(_TH), math.cos(_TH)]])
CASES = {
    "shift": np.array([[1.0, 0.0, 12.3], [0.0, 1.0, -7.8], [0.0, 0.0, 1.0]]),
    "rotation37": np.vstack([np.column_stack([_R, _C - _R @ _C + (4.2, -3.1)]), (0.0, 0.0, 1.0)]),
    "mirror": np.array([[-1.0, 0.0, W - 1.0 + 2.5], [0.0, 1.0, 1.5], [0.0, 0.0, 1.0]]),
}
FIELD = random_field(100, W, H, seed=1)


def target_for(h: np.ndarray) -> np.ndarray:
    return seen_through(h, *FIELD, W, H)


def three_stars() -> np.ndarray:
    return render_stars(np.array([[100.2, 100.7], [250.5, 150.1], [180.0, 250.3]]), np.full(3, 5.0), W, H)


def mapping_error(h1: np.ndarray, h2: np.ndarray) -> float:
    """Largest distance between the mappings of two matrices over the frame (pixels)."""
    gy, gx = np.mgrid[0:H:20, 0:W:20]
    p = np.column_stack([gx.ravel(), gy.ravel(), np.ones(gx.size)])
    a, b = p @ h1.T, p @ h2.T
    return float(np.max(np.hypot(*(a[:, :2] / a[:, 2:] - b[:, :2] / b[:, 2:]).T)))


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return render_stars(*FIELD, W, H)


@pytest.fixture
def frames(tmp_path: Path, reference: np.ndarray) -> dict[str, Path]:
    paths = {"ref": tmp_path / "ref.fits"}
    write_image(Image(reference, [FITSKeyword("OBJECT", "synthetic"), FITSKeyword("CRVAL1", 10.0),
                                  FITSKeyword("CTYPE1", "RA---TAN")]), paths["ref"])
    for name in ("rotation37", "mirror", "shift"):
        paths[name] = tmp_path / f"light_{name}.fits"
        write_image(Image(target_for(CASES[name]), [FITSKeyword("CRVAL1", 99.0)]), paths[name])
    paths["few"] = tmp_path / "light_few.fits"
    write_image(Image(three_stars()), paths["few"])
    (tmp_path / "out").mkdir()
    return paths


def test_global_registers_files_and_reports_failures(frames: dict[str, Path], reference: np.ndarray) -> None:
    out_dir = frames["ref"].parent / "out"
    process = StarAlignment(referenceImage=str(frames["ref"]), referenceIsFile=True,
                            targets=str(frames["ref"].parent / "light_*.fits"), outputDirectory=str(out_dir),
                            outputExtension=".fits", outputSampleFormat="f32", generateMasks=True,
                            inheritAstrometricSolution=True)  # PixInsight 1.9's default is false
    progress: list[float] = []
    result = process.execute_global(Workspace(), progress=lambda f, m: progress.append(f))
    data = {Path(o["targetFrame"]).stem: o for o in result.outputs["outputData"]}
    assert result.outputs["succeeded"] == 3 and result.outputs["failed"] == 1
    assert data["light_few"]["status"] == "failed"
    assert data["light_few"]["error"] == "too few stars (3 < 6)"
    assert any("light_few" in m and "too few stars" in m for m in result.messages)
    assert progress and progress[-1] == 1.0
    for name in ("rotation37", "mirror", "shift"):
        row = data[f"light_{name}"]
        assert row["status"] == "ok" and row["rmsError"] < 0.1 and row["matchedStars"] >= 30
        assert mapping_error(np.array(row["matrix"]), CASES[name]) < 0.05
        written = Path(row["outputFilePath"])
        assert written == out_dir / f"light_{name}_r.fits"
        image = read_image(written)
        assert image.keyword("ALIGNSTR") == row["matchedStars"]
        assert image.keyword("CRVAL1") == 10.0 and image.keyword("CTYPE1") == "RA---TAN"  # inherited WCS
        history = [str(k.value) for k in image.keywords if k.name == "HISTORY"]
        matrix_rows = [h.split(": ", 1)[1] for h in history if h.startswith("StarAlignment.matrix.row")]
        parsed = np.array([[float(v) for v in r.split(",")] for r in matrix_rows])
        np.testing.assert_allclose(parsed, np.array(row["matrix"]), rtol=1e-7, atol=1e-9)
        mask = read_image(out_dir / f"light_{name}_r_m.fits").pixels[0] > 0.5
        inner = ndimage.binary_erosion(mask, iterations=6) & (reference > BACKGROUND + 0.01)
        assert np.corrcoef(image.pixels[0][inner], reference[inner])[0, 1] > 0.99
    # a second run refuses to replace the files unless asked
    with pytest.raises(ExecutionError, match="light_shift_r.fits: file exists"):
        process.execute_global(Workspace())
    replaced = process.evolve(overwriteExistingFiles=True).execute_global(Workspace())
    assert replaced.outputs["succeeded"] == 3


def test_all_frames_failing_is_an_error(frames: dict[str, Path]) -> None:
    process = StarAlignment(referenceImage=str(frames["ref"]), referenceIsFile=True, targets=[str(frames["few"])])
    with pytest.raises(ExecutionError, match=r"too few stars \(3 < 6\)"):
        process.execute_global(Workspace())
    abort = StarAlignment(referenceImage=str(frames["ref"]), referenceIsFile=True, onError="Abort",
                          targets=[str(frames["few"]), str(frames["shift"])], mode="OutputMatrix")
    with pytest.raises(ExecutionError, match="onError=Abort"):
        abort.execute_global(Workspace())


def test_output_matrix_mode_writes_nothing(frames: dict[str, Path]) -> None:
    out_dir = frames["ref"].parent / "out"
    process = StarAlignment(referenceImage=str(frames["ref"]), referenceIsFile=True, mode="OutputMatrix",
                            targets=[str(frames["shift"])], outputDirectory=str(out_dir))
    result = process.execute_global(Workspace())
    row = result.outputs["outputData"][0]
    assert row["status"] == "ok" and row["outputFilePath"] == ""
    assert row["H13"] == pytest.approx(12.3, abs=0.05) and row["H23"] == pytest.approx(-7.8, abs=0.05)
    assert list(out_dir.iterdir()) == []


def test_view_targets_and_view_reference_in_global(reference: np.ndarray) -> None:
    ws = Workspace()
    ws.add_image(Image(reference), "ref")
    ws.add_image(Image(target_for(CASES["mirror"])), "flipped")
    process = StarAlignment(referenceImage="ref", targets=[[True, False, "flipped"]])
    result = process.execute_global(ws)
    assert result.created == ("flipped_r",)
    row = result.outputs["outputData"][0]
    assert row["mirror"] is True and row["outputFilePath"] == "flipped_r"
    assert ws.view("flipped_r").image.pixels.shape == (1, H, W)


def test_reference_previews_restrict_the_reference_stars(reference: np.ndarray) -> None:
    ws = Workspace()
    window = ws.add_image(Image(reference), "ref")
    view = ws.add_image(Image(target_for(CASES["shift"])), "tgt").main_view
    full = StarAlignment(referenceImage="ref", mode="OutputMatrix").execute_on(view).outputs["referenceStars"]
    window.add_preview(0, 0, W // 2, H, "left")
    half = StarAlignment(referenceImage="ref", mode="OutputMatrix").execute_on(view).outputs
    assert half["referenceStars"] < 0.7 * full
    assert mapping_error(np.array(half["matrix"]), CASES["shift"]) < 0.1
    ignored = StarAlignment(referenceImage="ref", mode="OutputMatrix", restrictToPreviews=False).execute_on(view)
    assert ignored.outputs["referenceStars"] == full


# -- other modes ------------------------------------------------------------------------------------------------------
def test_union_modes(reference: np.ndarray) -> None:
    truth = CASES["shift"]  # target content shifted by (12.3, -7.8): the union grows left and down
    ws = Workspace()
    ws.add_image(Image(reference), "ref")
    view = ws.add_image(Image(target_for(truth)), "tgt").main_view
    separate = StarAlignment(referenceImage="ref", mode="RegisterUnionSeparate").execute_on(view)
    assert separate.created == ("tgt_mosaic_1", "tgt_mosaic_2")
    first = ws.view("tgt_mosaic_1").image.pixels[0]
    second = ws.view("tgt_mosaic_2").image.pixels[0]
    # the target's frame reaches 12.8 px left of and 7.8 px below the reference's
    assert first.shape == second.shape == (H + 8, W + 13)
    np.testing.assert_array_equal(first[:H, 13:], reference)
    assert np.all(first[H:] == 0) and np.all(second[:, -1] == 0)
    overlap = (slice(20, H - 20), slice(40, W - 20))
    stars = reference[20:-20, 27:-33] > BACKGROUND + 0.01
    assert np.corrcoef(second[overlap][stars], first[overlap][stars])[0, 1] > 0.99
    mosaic = StarAlignment(referenceImage="ref", mode="RegisterUnion").execute_on(view)
    assert mosaic.created == ()
    assert view.image.pixels.shape == (1, H + 8, W + 13)


def test_diagnostic_modes(reference: np.ndarray) -> None:
    ws = Workspace()
    view = ws.add_image(Image(reference), "ref").main_view
    stars = StarAlignment(referenceImage="ref", mode="DrawStars").execute_on(view)
    assert stars.created == ("ref_stars",) and stars.outputs["starsDetected"] > 30
    structure = StarAlignment(referenceImage="ref", mode="StructureMap").execute_on(view)
    assert set(np.unique(ws.view(structure.created[0]).image.pixels)) <= {0.0, 1.0}
    matched = StarAlignment(referenceImage="ref", mode="DrawMatchedStars").execute_on(view)
    assert matched.created == ("ref_matched_stars",)
    np.testing.assert_array_equal(view.image.pixels[0], reference)


# -- the process contract --------------------------------------------------------------------------------------------
def test_conformance() -> None:
    check_process(StarAlignment).raise_if_failed()


def test_pixinsight_defaults_and_rules() -> None:
    p = StarAlignment()
    assert (p.mode, p.pixelInterpolation, p.outputPostfix, p.maskPostfix) == ("RegisterMatch", "Auto", "_r", "_m")
    assert p.clampingThreshold == pytest.approx(0.3)
    assert (p.structureLayers, p.hotPixelFilterRadius, p.sensitivity, p.peakResponse) == (5, 1, 0.5, 0.5)
    assert (p.maxStarDistortion, p.matcherTolerance) == pytest.approx((0.6, 0.05))
    assert (p.ransacTolerance, p.ransacMaxIterations, p.descriptorsPerStar) == (pytest.approx(1.9), 2000, 20)
    assert (p.generateDrizzleData, p.inheritAstrometricSolution, p.targetCSVFilePath) == (True, False, "")
    assert (p.intersection, p.fitPSF, p.onError, p.outputExtension) == (
        "MosaicOnly", "FitPSF_DistortionOnly", "Continue", ".xisf")
    assert StarAlignment.parameter("pixelInterpolation").value_of("Auto") == 10
    assert StarAlignment.parameter("mode").value_of("RegisterUnionSeparate") == 2
    assert p.model() == "homography" and p.evolve(rigidTransformations=True).model() == "rigid"
    with pytest.raises(ParameterError, match="StarAlignment.*ransacTolerance"):
        p.evolve(ransacTolerance=0.0)
    ok, why = StarAlignment(referenceImage="x", mode="RegisterUnion", targets=["a.fits"]).can_execute_global()
    assert not ok and "RegisterMatch and OutputMatrix" in why
    ok, why = StarAlignment(targets=["a.fits"]).can_execute_global()
    assert not ok and "referenceImage is empty" in why


def test_targets_accept_globs(tmp_path: Path) -> None:
    for name in ("b.fits", "a.fits"):
        (tmp_path / name).write_bytes(b"")
    p = StarAlignment(targets=str(tmp_path / "*.fits"))
    assert p.targets == ((True, True, str(tmp_path / "a.fits")), (True, True, str(tmp_path / "b.fits")))


def test_pixinsight_icon_loads() -> None:
    text = """<?xml version="1.0" encoding="UTF-8"?>
<xpsm version="1.0" xmlns="http://www.pixinsight.com/xpsm">
   <instance class="StarAlignment" id="SA_instance">
      <parameter id="structureLayers" value="6"/>
      <parameter id="sensitivity" value="0.10"/>
      <parameter id="ransacTolerance" value="1.9000"/>
      <parameter id="pixelInterpolation" value="Lanczos4"/>
      <parameter id="intersection" value="Always"/>
      <parameter id="referenceImage">/data/ref.xisf</parameter>
      <parameter id="referenceIsFile" value="true"/>
      <table id="targets" rows="1">
         <tr><td id="enabled" value="true"/><td id="isFile" value="true"/><td id="image">/data/a.xisf</td></tr>
      </table>
   </instance>
</xpsm>
"""
    result = loads_icons(text, "xpsm")
    icon = result.icons["SA"]
    assert isinstance(icon, StarAlignment)
    assert icon.structureLayers == 6
    assert (icon.sensitivity, icon.ransacTolerance) == pytest.approx((0.1, 1.9))
    assert icon.pixelInterpolation == "Lanczos4" and icon.intersection == "Always"
    assert icon.referenceImage == "/data/ref.xisf" and icon.targets == ((True, True, "/data/a.xisf"),)


@pytest.mark.parametrize("fmt", ["xpsm", "json", "console"])
def test_icon_round_trips(fmt: str) -> None:
    p = StarAlignment(referenceImage="/d/ref.fits", referenceIsFile=True,
                      targets=[[True, True, "/d/a.fits"], [False, False, "view1"]], sensitivity=0.3,
                      pixelInterpolation="Lanczos5", mode="OutputMatrix")
    loaded = loads_icons(dumps_icons({"SA": p}, fmt), fmt)
    assert loaded.icons["SA"] == p and not loaded.warnings


def test_a_reference_file_given_as_a_view_id_gets_a_hint(tmp_path):
    import io

    from procfw.console import ConsoleRuntimeError, Session
    from procfw.io.fits import write_fits

    frame = tmp_path / "t.fits"
    write_fits(Image(np.zeros((1, 8, 8), np.float32)), frame)
    session = Session(out=io.StringIO())
    with pytest.raises(ConsoleRuntimeError, match=r"looks like a file: for a reference file, set referenceIsFile"):
        session.run_text(f'StarAlignment -referenceImage="{tmp_path}/ref.fits" -targets="{frame}" '
                         f'-outputDirectory="{tmp_path}"')
