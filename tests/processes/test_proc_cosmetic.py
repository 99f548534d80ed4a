"""CosmeticCorrection: PixInsight ids (checked against a real icon), hot/cold detection, dark maps, defect lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from corpus_icons import ICONS, raw_instances

from processes.calibration.cosmetic import CosmeticCorrection, correct_defects, detect_auto
from processes.debayer.demosaic import mosaic
from processes.kernels.cfa import CFAPattern
from processes.simulation import camera as sim
from procfw.errors import ExecutionError
from procfw.image import Image
from procfw.io import read_image
from procfw.io.fits import write_fits
from procfw.testing import check_process
from procfw.workspace import Workspace

ICON = ICONS / "jamiesmith-pixinsight-icons" / "legacy__Sample_Flow.xpsm"

AUTO = dict(useAutoDetect=True, hotAutoCheck=True, hotAutoValue=10.0, coldAutoCheck=True, coldAutoValue=10.0)


@pytest.fixture(scope="module")
def star_field() -> dict:
    """A simulated mono light (stars, sky, noise) with 60 hot and 60 cold pixels injected away from stars."""
    cam = sim.Camera(width=192, height=160, seed=4, hot_pixel_fraction=0.0)
    scene = sim.random_scene(cam, n_stars=40, seed=3, flux_range=(300, 20000))
    frame = sim.light_frame(cam, scene, exposure=60, seed=1)
    clean = frame.image().pixels[0].astype(np.float64)
    rng = np.random.default_rng(5)
    stars = frame.truth.stars
    picks: list[tuple[int, int]] = []
    while len(picks) < 120:
        y, x = int(rng.integers(4, 156)), int(rng.integers(4, 188))
        far = np.all(np.hypot(stars[:, 0] - x, stars[:, 1] - y) > 8)
        if far and all(max(abs(y - py), abs(x - px)) > 2 for py, px in picks):
            picks.append((y, x))
    hot, cold = picks[:60], picks[60:]
    damaged = clean.copy()
    for y, x in hot:
        damaged[y, x] += 0.05 + 0.2 * rng.random()
    for y, x in cold:
        damaged[y, x] = 0.0
    return {"clean": clean, "damaged": damaged, "hot": hot, "cold": cold, "frame": frame}


# -- schema --------------------------------------------------------------------------------


def test_conformance() -> None:
    check_process(CosmeticCorrection).raise_if_failed()
    report = check_process(CosmeticCorrection, instance=CosmeticCorrection(**AUTO))
    report.raise_if_failed()
    assert "executes on a 3-channel view" in report.passed


def test_parameters_match_a_real_pixinsight_icon() -> None:
    _, instance = raw_instances("CosmeticCorrection", ICON.name)[0]  # the <instance> element as written
    schema = CosmeticCorrection.schema()
    ids = [child.get("id") for child in instance.children if child.get("id")]
    assert ids == list(schema), "parameter ids and order differ from PixInsight's icon"
    for child in instance.children:
        pid = child.get("id")
        if child.tag == "parameter" and child.get("value") is not None:
            text = child.get("value")
            kind = schema[pid]
            assert kind.format(kind.parse(text)) == text, f"{pid}: precision differs from the icon ({text})"
    assert schema["postfix"].default == "_cc" and schema["outputExtension"].default == ".xisf"
    assert schema["amount"].aliases == ("transferFn",)
    assert [c.id for c in schema["defects"].columns] == [
        "defectEnabled", "defectIsRow", "defectAddress", "defectIsRange", "defectBegin", "defectEnd"]
    assert schema["hotAutoValue"].maximum == 50 and schema["hotAutoValue"].default == 3.0


def test_real_icon_round_trips_through_xpsm() -> None:
    if not ICON.is_file():
        pytest.skip(f"corpus icon not found: {ICON}")
    from procfw.icons import xpsm

    original = ICON.read_text(encoding="utf-8")
    start = original.index('<instance class="CosmeticCorrection"')
    block = original[start : original.index("</instance>", start) + len("</instance>")]
    loaded = xpsm.load(ICON)
    icon = loaded.icons["CosmeticCorrection_Auto_3"]
    assert icon == CosmeticCorrection(useAutoDetect=True, hotAutoCheck=True)
    text = xpsm.dumps({"CosmeticCorrection_Auto_3": icon}, meta={"CosmeticCorrection_Auto_3":
                                                                  loaded.meta["CosmeticCorrection_Auto_3"]})
    written = text[text.index("<instance") : text.index("</instance>") + len("</instance>")]
    assert written == block


def test_no_method_means_no_execution() -> None:
    ok, why = CosmeticCorrection().can_execute_global()
    assert not ok and "targetFrames" in why
    ok, why = CosmeticCorrection(targetFrames=[[True, "x.fits"]]).can_execute_global()
    assert not ok and "no correction method" in why
    ok, why = CosmeticCorrection(targetFrames=[[True, "x.fits"]], useMasterDark=True, hotDarkCheck=True)\
        .can_execute_global()
    assert not ok and "masterDarkPath is empty" in why


# -- auto detection ---------------------------------------------------------------------------


def test_auto_detection_removes_injected_defects_and_nothing_else(star_field: dict) -> None:
    damaged = star_field["damaged"]
    out, counts = CosmeticCorrection(**AUTO).correct(Image(damaged[np.newaxis].astype(np.float32)))
    result = out.pixels[0].astype(np.float64)
    changed = result != damaged.astype(np.float32)
    injected = np.zeros(damaged.shape, dtype=bool)
    for y, x in star_field["hot"] + star_field["cold"]:
        injected[y, x] = True
    assert counts["hotAutoCount"] == 60 and counts["coldAutoCount"] == 60 and counts["totalCount"] == 120
    assert np.array_equal(changed, injected)
    # each repaired pixel is the median of its 8 (undamaged) neighbours in the damaged frame
    for y, x in star_field["hot"][:10] + star_field["cold"][:10]:
        ring = np.delete(damaged[y - 1 : y + 2, x - 1 : x + 2].ravel(), 4)
        assert result[y, x] == pytest.approx(float(np.median(ring)), abs=1e-6)
    sigma = float(np.median(star_field["frame"].truth.noise_sigma)) / 65535
    assert np.max(np.abs(result - star_field["clean"])[injected]) < 6 * sigma


def test_stars_are_not_hot_pixels(star_field: dict) -> None:
    clean = star_field["clean"].astype(np.float32)
    out, counts = CosmeticCorrection(useAutoDetect=True, hotAutoCheck=True, hotAutoValue=3.0).correct(Image(clean))
    stars = star_field["frame"].truth.stars
    peaks = [(int(round(y)), int(round(x))) for x, y in stars if 2 < x < 189 and 2 < y < 157]
    changed = out.pixels[0] != clean
    assert not any(changed[y, x] for y, x in peaks)
    assert counts["hotAutoCount"] < 0.005 * clean.size  # at 3σ only a few noise peaks are touched


def test_detect_auto_rules_on_a_hand_made_plane() -> None:
    plane = np.full((9, 9), 0.1) + np.tile([0.0, 0.001], (9, 5))[:, :9]
    plane[4, 4] = 0.2  # isolated hot pixel: 0.1 above its neighbours, 100σ
    plane[2, 6] = 0.0  # isolated cold pixel
    hot, cold = detect_auto(plane, hot=3.0, cold=3.0, sigma=0.001)
    assert list(zip(*np.nonzero(hot))) == [(4, 4)]
    assert list(zip(*np.nonzero(cold))) == [(2, 6)]
    # a bright 3×3 blob (a star) is left alone: its neighbours are bright too
    plane[4, 4] = 0.1
    plane[3:6, 3:6] = 0.5
    plane[4, 4] = 0.9
    hot, _ = detect_auto(plane, hot=3.0, cold=None, sigma=0.001)
    assert not hot.any()
    # the thresholds are in noise σ: 0.1 above the neighbours is not hot at 120σ
    plane[3:6, 3:6] = 0.1
    plane[4, 4] = 0.2
    assert detect_auto(plane, hot=99.0, cold=None, sigma=0.001)[0].sum() == 1
    assert detect_auto(plane, hot=101.0, cold=None, sigma=0.001)[0].sum() == 0


def test_clustered_defects_use_good_neighbours_only() -> None:
    plane = np.arange(49, dtype=np.float64).reshape(7, 7)
    mask = np.zeros((7, 7), dtype=bool)
    mask[3, 3] = mask[3, 4] = True
    out = correct_defects(plane, mask)
    # (3,3): good neighbours are (2,2),(2,3),(2,4),(3,2),(4,2),(4,3),(4,4) = 16,17,18,23,30,31,32 → median 23
    assert out[3, 3] == 23
    # (3,4): good neighbours 17,18,19,26,31,32,33 → median 26
    assert out[3, 4] == 26
    assert np.array_equal(np.delete(out.ravel(), [24, 25]), np.delete(plane.ravel(), [24, 25]))
    half = correct_defects(plane, mask, amount=0.5)
    assert half[3, 3] == pytest.approx(0.5 * 23 + 0.5 * 24)


def test_cfa_mode_uses_same_colour_neighbours() -> None:
    pattern = CFAPattern("RGGB")
    rgb = np.stack([np.full((16, 16), 0.6), np.full((16, 16), 0.3), np.full((16, 16), 0.1)])
    raw = mosaic(rgb, pattern)
    raw = raw + np.random.default_rng(1).normal(0, 0.002, raw.shape)
    raw[8, 8] = 0.95  # an R site (even row, even column): hot
    raw[9, 8] = 0.0  # a G site: cold
    image = Image(raw[np.newaxis].astype(np.float32))
    out, counts = CosmeticCorrection(cfa=True, **AUTO).correct(image)
    assert counts["hotAutoCount"] == 1 and counts["coldAutoCount"] == 1
    assert out.pixels[0, 8, 8] == pytest.approx(0.6, abs=0.01)  # R neighbours, not G
    assert out.pixels[0, 9, 8] == pytest.approx(0.3, abs=0.01)
    # without cfa the R pixel's neighbours are G and B: the colour pattern looks like defects
    plain, _ = CosmeticCorrection(**AUTO).correct(image)
    assert abs(float(plain.pixels[0, 8, 8]) - 0.6) > 0.1


# -- master dark and defect list ----------------------------------------------------------------


def test_master_dark_maps(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    dark = np.full((1, 40, 50), 0.01, dtype=np.float32)
    hot = [(5, 7), (20, 30), (33, 44)]
    for y, x in hot:
        dark[0, y, x] = 0.2
    dark[0, 10, 10] = 0.0001  # a cold (dead) pixel in the dark
    write_fits(Image(dark), tmp_path / "dark.fits")
    light = (0.1 + rng.normal(0, 0.001, (1, 40, 50))).astype(np.float32)
    for y, x in hot:
        light[0, y, x] = 0.5
    instance = CosmeticCorrection(useMasterDark=True, masterDarkPath=str(tmp_path / "dark.fits"), hotDarkCheck=True,
                                  hotDarkLevel=0.1, coldDarkCheck=True, coldDarkLevel=0.001)
    out, counts = instance.correct(Image(light), read_image(tmp_path / "dark.fits").pixels)
    assert counts["hotDarkCount"] == 3 and counts["coldDarkCount"] == 1
    for y, x in hot:
        assert out.pixels[0, y, x] == pytest.approx(0.1, abs=0.005)
    changed = out.pixels[0] != light[0]
    assert changed.sum() == 4
    with pytest.raises(ExecutionError, match="master dark"):
        instance.correct(Image(light[:, :20]), read_image(tmp_path / "dark.fits").pixels)


def test_defect_list_columns_rows_and_ranges() -> None:
    plane = np.tile(np.linspace(0.1, 0.2, 30, dtype=np.float32), (20, 1))
    plane[:, 12] = 0.9  # bad column
    plane[5, :] = 0.0  # bad row, only columns 3..9 listed
    defects = [[True, False, 12, False, 0, 0], [True, True, 5, True, 9, 3], [False, False, 2, False, 0, 0]]
    out, counts = CosmeticCorrection(useDefectList=True, defects=defects).correct(Image(plane[np.newaxis]))
    result = out.pixels[0]
    assert counts["defectListCount"] == 20 + 7  # the column, plus row 5 columns 3..9
    # away from row 5 (whose other pixels are zero too), the column becomes the mean of columns 11 and 13
    rows = [0, 1, 2, 3, 7, 8, 12, 19]
    assert np.allclose(result[rows, 12], (plane[0, 11] + plane[0, 13]) / 2, atol=1e-6)
    assert np.allclose(result[5, 3:10], plane[4, 3:10], atol=2e-3)
    assert np.array_equal(result[5, 10:12], plane[5, 10:12])  # outside the listed range: untouched


# -- files ----------------------------------------------------------------------------------------


def test_global_execution_names_outputs_and_reports_failures(star_field: dict, tmp_path: Path) -> None:
    for i in range(2):
        write_fits(Image(star_field["damaged"][np.newaxis].astype(np.float32)), tmp_path / f"raw_{i}.fits")
    (tmp_path / "raw_9.fits").write_bytes(b"")
    (tmp_path / "out").mkdir()
    instance = CosmeticCorrection(targetFrames=str(tmp_path / "raw_*.fits"), outputDir=str(tmp_path / "out"),
                                  outputExtension=".fits", **AUTO)
    result = instance.execute_global(Workspace())
    rows = result.outputs["outputData"]
    assert [r["status"] for r in rows] == ["ok", "ok", "failed"]
    assert rows[0]["outputFilePath"] == str(tmp_path / "out" / "raw_0_cc.fits")
    assert rows[0]["totalCount"] == 120
    assert "empty" in rows[2]["error"]
    repaired = read_image(tmp_path / "out" / "raw_0_cc.fits").pixels[0]
    y, x = star_field["hot"][0]
    assert abs(float(repaired[y, x]) - star_field["clean"][y, x]) < 0.01
    # a second run refuses to overwrite, unless asked
    with pytest.raises(ExecutionError, match="no image could be processed"):
        instance.evolve(targetFrames=[[True, str(tmp_path / "raw_0.fits")]]).execute_global(Workspace())
    rows = instance.evolve(overwrite=True).execute_global(Workspace()).outputs["outputData"]
    assert [r["status"] for r in rows] == ["ok", "ok", "failed"]


def test_view_execution_is_undoable(star_field: dict) -> None:
    workspace = Workspace()
    window = workspace.add_image(Image(star_field["damaged"][np.newaxis].astype(np.float32)), "raw")
    before = window.image.pixels.copy()
    result = CosmeticCorrection(**AUTO).execute_on(window.main_view)
    assert result.outputs["totalCount"] == 120
    assert not np.array_equal(window.image.pixels, before)
    window.main_view.undo()
    assert np.array_equal(window.image.pixels, before)


@pytest.mark.parametrize("shape", [(1, 7), (7, 1), (2, 5), (3, 3), (64, 47)])
def test_compiled_ring_median_equals_scipy(shape) -> None:
    """The compiled 8-neighbour median (auto detection) is scipy's median_filter, ties included."""
    from scipy import ndimage

    from processes.calibration.cosmetic import _RING3_FOOTPRINT
    from processes.calibration.cosmetic_nb import ring_median

    rng = np.random.default_rng(sum(shape))
    for plane in (rng.random(shape), np.round(rng.random(shape) * 4) / 4):
        out = np.empty_like(plane)
        ring_median(plane, out)
        assert np.array_equal(out, ndimage.median_filter(plane, footprint=_RING3_FOOTPRINT, mode="mirror"))
