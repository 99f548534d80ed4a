"""Pre-processing end to end on a simulated session with known truth.

A mono camera (bias with a column pattern, dark current with hot pixels, vignetting and
PRNU, shot and read noise) takes 5 bias, 5 darks, 5 flats per filter and 8 dithered,
rotated lights in L and R; the second light of each filter crosses a satellite trail, and a
ninth L frame is clouded out (no stars: it cannot be registered).  The masters are compared
with the truth computed independently from the simulator's noiseless model:

* master bias ≈ the bias map, master flat (normalized) ≈ the response map, within their noise;
* master light ≈ the calibrated signal of the reference frame (the first L frame, the
  scene itself), pixel by pixel within the noise of an 8-frame mean, with the trail and the
  hot pixels gone and stars at the simulated FWHM of 3 px.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

from processes.kernels.starmeasure import measure_stars
from processes.simulation import camera as sim
from processes.simulation.session import filter_scene, simulate_session
from processes.workflows.preprocess import Options, PreprocessError, preprocess
from procfw.io import read_image

SIZE = 256
LIGHTS = 8
BORDER = 16
"""Pixels at the edges left out of comparisons (dithers up to 8 px and 1° rotations)."""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("preprocess")
    session = simulate_session(root / "raw", filters=("L", "R"), width=SIZE, height=SIZE, bias=5, darks=5, flats=5,
                               lights=LIGHTS, stars=80, rotation=1.0, seed=3)
    cam = attrs.evolve(session.camera, filter="L")
    clouded = sim.light_frame(cam, attrs.evolve(filter_scene(session.scene, "L"), stars=()), exposure=60.0, seed=77,
                              shift=(2.0, 1.0))
    clouded.write(root / "raw" / "lights" / "L" / "light_L_clouded.fits")
    reference = session.lights["L"][0]
    result = preprocess(root / "raw", root / "pre", Options(reference=str(reference)))
    return {"root": root, "session": session, "result": result,
            "report": json.loads((root / "pre" / "preprocess_report.json").read_text())}


def _truth(session: Any, name: str) -> sim.Frame:
    """A noiseless model of the reference frame (no shift, no rotation) through filter ``name``."""
    cam = attrs.evolve(session.camera, filter=name)
    return sim.light_frame(cam, filter_scene(session.scene, name), exposure=60.0, seed=1)


def _crop(run: dict[str, Any], name: str) -> tuple[int, int, int, int]:
    """(x, y, width, height) of master_NAME in the reference frame: the area every frame covers."""
    (master,) = [m for m in run["report"]["masters"] if m["name"] == f"master_{name}"]
    crop = master["crop"]
    return crop["x"], crop["y"], crop["width"], crop["height"]


def _on_master(run: dict[str, Any], name: str, a: np.ndarray) -> np.ndarray:
    """A reference-frame array cut to master_NAME's area."""
    x, y, w, h = _crop(run, name)
    return a[y : y + h, x : x + w]


def _inner(a: np.ndarray) -> np.ndarray:
    return a[BORDER:-BORDER, BORDER:-BORDER]


def _robust_sigma(values: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def test_calibration_masters_match_the_sensor(run: dict[str, Any]) -> None:
    session, pre = run["session"], run["root"] / "pre"
    maps = session.camera.maps()
    bias = read_image(pre / "master" / "master_bias.fits")
    assert bias.keyword("IMAGETYP") == "Master Bias"
    residual = bias.pixels[0] * 65535 - maps.bias
    expected = session.camera.read_noise / session.camera.gain / math.sqrt(5)  # 5 frames averaged
    assert abs(float(np.median(residual))) < 0.5  # ADU: the rounding of the raw frames is below this
    assert _robust_sigma(residual) == pytest.approx(expected, rel=0.2)
    flat = read_image(pre / "master" / "master_flat_L.fits")
    assert flat.keyword("IMAGETYP") == "Master Flat" and flat.keyword("FILTER") == "L"
    ratio = flat.pixels[0] / np.median(flat.pixels[0])
    response = maps.response / np.median(maps.response)
    # 5 flats of 20000 ADU: shot noise 1/sqrt(5 * 20000) of the level
    assert _robust_sigma(ratio - response) == pytest.approx(1 / math.sqrt(5 * 20000), rel=0.25)
    dark = read_image(pre / "master" / "master_dark_60s.fits")
    hot = maps.hot_pixels
    hot_adu = dark.pixels[0][hot[:, 0], hot[:, 1]] * 65535 - maps.bias[hot[:, 0], hot[:, 1]]
    truth = maps.dark_rate[hot[:, 0], hot[:, 1]] * 60.0 / session.camera.gain
    assert np.allclose(hot_adu, truth, rtol=0.1, atol=20)  # the master dark holds the hot pixels (bias included)


@pytest.mark.parametrize("name", ["L", "R"])
def test_master_light_recovers_the_truth(run: dict[str, Any], name: str) -> None:
    master = read_image(run["result"].masters[f"master_{name}"])
    assert master.keyword("IMAGETYP") == "Master Light" and master.keyword("FILTER") == name
    assert master.keyword("NCOMBINE") == LIGHTS
    truth = _truth(run["session"], name)
    # the trimmed-mean flat normalization included; the master is cropped to the area every frame covers
    expected = _on_master(run, name, truth.truth.expected_calibrated(normalized=True))
    sigma = _on_master(run, name, truth.truth.noise_sigma) / 65535 / math.sqrt(LIGHTS)
    z = _inner((master.pixels[0] - expected) / sigma)
    assert 0.8 < _robust_sigma(z) < 1.15  # below 1: the registration's interpolation smooths the noise a little
    sky = _inner(_on_master(run, name, truth.truth.signal - truth.truth.sky)) < 1.0  # background: no star, no trail
    offset = float(np.mean(_inner(master.pixels[0] - expected)[sky]))
    single = float(np.median(truth.truth.noise_sigma)) / 65535
    # ImageIntegration takes its location estimates over the registration borders too, which biases
    # the additive normalization by a fraction of a single frame's sigma
    assert abs(offset) < 0.15 * single
    assert np.percentile(np.abs(z), 99.9) < 6
    # photometry: the flux of the stars (above the sky) agrees within 2 %
    stars = ~sky & (_inner(expected) > np.median(expected))
    measured = float(np.sum(_inner(master.pixels[0])[stars] - np.median(master.pixels[0])))
    true_flux = float(np.sum(_inner(expected)[stars] - np.median(expected)))
    assert measured == pytest.approx(true_flux, rel=0.02)
    field = measure_stars(master.pixels)
    assert field.median_fwhm == pytest.approx(3.0, abs=0.2)
    assert field.count >= 50


def _trail_in_reference(session: Any, name: str) -> tuple[np.ndarray, np.ndarray, float]:
    """(rows, cols) in reference coordinates of the trail's core, and its peak in single-frame sigma."""
    frame = session.light_frames[name][1]
    cam = attrs.evolve(session.camera, filter=name)
    plain = sim.light_frame(cam, filter_scene(session.scene, name), exposure=60.0, seed=5, shift=frame.truth.shift,
                            rotation=frame.truth.rotation)
    trail = frame.truth.signal - plain.truth.signal
    sigma = float(np.median(frame.truth.noise_sigma))
    ys, xs = np.nonzero(trail > 20 * sigma)
    # frame pixel q = R(θ)(p − c) + c + shift  =>  p = R(−θ)(q − c − shift) + c
    c = (SIZE - 1) / 2
    a = math.radians(frame.truth.rotation)
    dx, dy = xs - c - frame.truth.shift[0], ys - c - frame.truth.shift[1]
    px, py = c + math.cos(a) * dx + math.sin(a) * dy, c - math.sin(a) * dx + math.cos(a) * dy
    keep = (px > BORDER) & (px < SIZE - BORDER) & (py > BORDER) & (py < SIZE - BORDER)
    return np.rint(py[keep]).astype(int), np.rint(px[keep]).astype(int), float(trail.max() / sigma)


@pytest.mark.parametrize("name", ["L", "R"])
def test_trail_and_hot_pixels_are_rejected(run: dict[str, Any], name: str) -> None:
    session = run["session"]
    master = read_image(run["result"].masters[f"master_{name}"]).pixels[0]
    truth = _truth(session, name)
    expected = _on_master(run, name, truth.truth.expected_calibrated(normalized=True))
    sigma = _on_master(run, name, truth.truth.noise_sigma) / 65535 / math.sqrt(LIGHTS)
    z = (master - expected) / sigma
    x0, y0, _, _ = _crop(run, name)
    rows, cols, peak = _trail_in_reference(session, name)
    rows, cols = rows - y0, cols - x0  # BORDER keeps them inside the crop
    assert rows.size > 200
    # a plain mean would keep 1/8 of the trail: peak/8 single-frame sigmas, sqrt(8) times more in master sigmas
    assert peak / LIGHTS * math.sqrt(LIGHTS) > 50
    assert abs(float(np.median(z[rows, cols]))) < 1.0
    assert np.percentile(np.abs(z[rows, cols]), 95) < 4
    high = read_image(run["root"] / "pre" / "master" / f"master_{name}_rejection_high.fits").pixels[0]
    assert float(np.mean(high[rows, cols])) > 0.1  # one frame of eight rejected along the trail
    assert float(np.median(high)) < 0.01
    hot = session.camera.maps().hot_pixels  # where they sit in the reference frame (sensor = scene coordinates)
    inside = (hot[:, 0] > BORDER) & (hot[:, 0] < SIZE - BORDER) & (hot[:, 1] > BORDER) & (hot[:, 1] < SIZE - BORDER)
    assert np.abs(z[hot[inside, 0] - y0, hot[inside, 1] - x0]).max() < 5


def test_report_lists_groups_links_frames_and_rejections(run: dict[str, Any]) -> None:
    report = run["report"]
    labels = [g["label"] for g in report["plan"]["groups"]]
    assert labels == ["bias bin1 gain1 -10°C (5 frames)", "darks 60s bin1 gain1 -10°C (5 frames)",
                      "flats L 1s bin1 gain1 -10°C (5 frames)", "flats R 1s bin1 gain1 -10°C (5 frames)",
                      "lights L 60s bin1 gain1 -10°C (9 frames)", "lights R 60s bin1 gain1 -10°C (8 frames)"]
    assert report["plan"]["lights"][0]["line"] == (
        "lights L 60s bin1 gain1 -10°C (9 frames): bias master_bias (bin1 gain1 -10°C), dark master_dark_60s "
        "(exposure 60s matches within 0.5s), flat master_flat_L (filter L)")
    assert report["reference"]["raw"].endswith("light_L_000.fits")
    rejected = report["rejected"]
    assert [Path(r["path"]).name for r in rejected] == ["light_L_clouded.fits"]
    assert rejected[0]["step"] == "registration" and "star" in rejected[0]["reason"]
    frames = [f for f in report["lights"] if f["status"] == "integrated"]
    assert len(frames) == 2 * LIGHTS
    for frame in frames:
        assert frame["alignment"]["matchedStars"] >= 30
        assert frame["alignment"]["rmsError"] < 0.15
        assert frame["stars"]["fwhm"] == pytest.approx(3.0, abs=0.15)
        assert len(frame["calibration"]["darkScalingFactors"]) == 1
        assert frame["integration"]["weight"][0] > 0
    for master in report["masters"]:
        assert master["frames"] == LIGHTS and master["rejection"] == "WinsorizedSigmaClip"
        assert 0.7 * math.sqrt(LIGHTS) < master["noiseReduction"][0] < 1.3 * math.sqrt(LIGHTS)
        assert 0.01 < master["rejectedHighPercent"] < 5
    text = (run["root"] / "pre" / "preprocess_report.txt").read_text()
    assert "dark master_dark_60s (exposure 60s matches within 0.5s)" in text
    assert "light_L_clouded.fits: registration:" in text
    for folder in ("master", "calibrated", "registered"):
        assert any((run["root"] / "pre" / folder).rglob("*.fits"))


def test_earlier_results_are_never_replaced(run: dict[str, Any]) -> None:
    pre = run["root"] / "pre"
    before = (pre / "master_L.fits").stat().st_mtime_ns
    with pytest.raises(PreprocessError, match="already holds results .*-overwrite"):
        preprocess(run["root"] / "raw", pre)
    assert (pre / "master_L.fits").stat().st_mtime_ns == before


@pytest.mark.parametrize("name", ["L", "R"])
def test_master_is_cropped_to_the_area_every_registered_frame_covers(run: dict[str, Any], name: str) -> None:
    x, y, w, h = _crop(run, name)
    master = read_image(run["result"].masters[f"master_{name}"])
    assert (master.width, master.height) == (w, h) and (w, h) != (SIZE, SIZE)
    high = read_image(run["root"] / "pre" / "master" / f"master_{name}_rejection_high.fits")
    assert (high.width, high.height) == (w, h)  # the rejection maps are cut alike
    assert _crop(run, "L") == _crop(run, "R")  # one area for every filter: the masters stay aligned
    registered = sorted((run["root"] / "pre" / "registered").glob("*/*"))  # every filter's
    covered = np.logical_and.reduce([(read_image(p).pixels > 0).all(axis=0) for p in registered])
    assert covered[y : y + h, x : x + w].all()  # registration left no zero inside
    grown = [covered[y - 1, x : x + w], covered[y + h, x : x + w], covered[y : y + h, x - 1], covered[y : y + h, x + w]]
    assert not any(edge.all() for edge in grown)  # and each side is as far out as it can go
    assert f"cropped to the area every registered light covers: {w}x{h} at ({x}, {y}) of {SIZE}x{SIZE}" in "\n".join(
        run["report"]["summary"])
