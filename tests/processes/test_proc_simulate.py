"""The synthetic frame simulator (processes.simulation.camera): determinism, physics, keywords, files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from processes.simulation import camera as sim
from procfw.io import read_image


def test_frames_are_deterministic_by_seed() -> None:
    cam = sim.Camera(width=64, height=48, seed=7)
    scene = sim.random_scene(cam, n_stars=10, seed=1)
    a = sim.light_frame(cam, scene, seed=3)
    b = sim.light_frame(cam, scene, seed=3)
    c = sim.light_frame(cam, scene, seed=4)
    assert np.array_equal(a.data, b.data) and not np.array_equal(a.data, c.data)
    assert sim.random_scene(cam, n_stars=10, seed=1) == scene
    # the fixed pattern belongs to the camera: same hot pixels for every frame, others for another camera
    assert np.array_equal(cam.maps().hot_pixels, sim.Camera(width=64, height=48, seed=7).maps().hot_pixels)
    assert not np.array_equal(cam.maps().hot_pixels, sim.Camera(width=64, height=48, seed=8).maps().hot_pixels)


def test_keywords_and_fits_round_trip(tmp_path: Path) -> None:
    cam = sim.Camera(width=40, height=30, bayer_pattern="GRBG", gain=1.5, temperature=-5.0, filter="UVIR", seed=1)
    kinds = {
        "Bias Frame": sim.bias_frame(cam, seed=1),
        "Dark Frame": sim.dark_frame(cam, exposure=120, seed=2),
        "Flat Field": sim.flat_frame(cam, seed=3),
        "Light Frame": sim.light_frame(cam, sim.random_scene(cam, n_stars=3, seed=1), exposure=30, seed=4),
    }
    for imagetyp, frame in kinds.items():
        path = frame.write(tmp_path / f"{frame.kind}.fits")
        image = read_image(path)
        assert image.keyword("IMAGETYP") == imagetyp
        assert image.keyword("BAYERPAT") == "GRBG" and image.keyword("XBINNING") == 1
        assert image.keyword("GAIN") == 1.5 and image.keyword("CCD-TEMP") == -5.0 and image.keyword("FILTER") == "UVIR"
        assert image.properties["FITS:BITPIX"] == 16
        assert np.array_equal(np.rint(image.pixels[0].astype(np.float64) * 65535), frame.data)  # exact ADU
    assert kinds["Dark Frame"].keywords[1].value == 120.0  # EXPTIME
    master = sim.master_bias(cam, frames=8)
    assert master.data.dtype == np.float32 and read_image(master.write(tmp_path / "mb.fits")).keyword("NCOMBINE") == 8


def test_bias_dark_and_noise_levels() -> None:
    cam = sim.Camera(width=200, height=150, gain=2.0, read_noise=6.0, dark_current=0.1, seed=2)
    bias = sim.bias_frame(cam, seed=1)
    residual = bias.data - bias.truth.bias
    assert float(np.std(residual)) == pytest.approx(6.0 / 2.0, rel=0.05)  # read noise in ADU
    assert float(np.mean(bias.data)) == pytest.approx(cam.bias_level, abs=1.0)
    maps = cam.maps()
    normal = np.ones(cam.shape, dtype=bool)
    normal[maps.hot_pixels[:, 0], maps.hot_pixels[:, 1]] = False
    for exposure in (100.0, 400.0):
        dark = sim.dark_frame(cam, exposure=exposure, seed=5)
        signal = dark.data.astype(np.float64) - bias.truth.bias
        assert float(np.mean(signal[normal])) == pytest.approx(0.1 * exposure / 2.0, rel=0.05)
        # hot pixels grow linearly with the exposure: their expected values scale exactly
        hot = dark.truth.dark[maps.hot_pixels[:, 0], maps.hot_pixels[:, 1]]
        assert np.allclose(hot, maps.dark_rate[maps.hot_pixels[:, 0], maps.hot_pixels[:, 1]] * exposure / 2.0)
    dark = sim.dark_frame(cam, exposure=400, seed=6)
    z = (dark.data - dark.truth.expected) / dark.truth.noise_sigma
    assert float(np.std(z)) == pytest.approx(1.0, abs=0.05)  # Poisson + read noise, as the truth says


def test_flat_vignetting_and_response_normalization() -> None:
    cam = sim.Camera(width=120, height=100, vignetting=0.4, bayer_pattern="RGGB", transmission=(0.7, 1.0, 0.5), seed=3)
    maps = cam.maps()
    cmap = cam.channel_map()
    for c, t in enumerate((0.7, 1.0, 0.5)):
        assert float(maps.response[cmap == c].mean()) == pytest.approx(t, rel=1e-9)
    assert maps.vignetting[50, 60] > 0.99 and maps.vignetting[0, 0] == pytest.approx(0.6, abs=1e-9)
    flat = sim.master_flat(cam, level=20000, frames=64, calibrated=True)
    assert float(flat.data.mean()) == pytest.approx(20000, rel=0.01)
    assert float(flat.data[0, 0]) < float(flat.data[50, 60])


def test_star_rendering_conserves_flux_and_follows_transforms() -> None:
    star = sim.Star(x=40.3, y=30.7, flux=1000.0)
    for psf in ("gaussian", "moffat"):
        scene = sim.Scene(stars=(star,), sky=0.0, psf=psf, fwhm=3.0)
        _, objects = sim.render_scene(scene, 64, 80)
        assert float(objects.sum()) == pytest.approx(1000.0, rel=0.01 if psf == "moffat" else 1e-6)
        yy, xx = np.mgrid[0:64, 0:80]
        cx = float((objects[0] * xx).sum() / objects.sum())
        cy = float((objects[0] * yy).sum() / objects.sum())
        assert (cx, cy) == pytest.approx((40.3, 30.7), abs=0.02)
    # a shift moves it, a rotation turns it about the frame centre (39.5, 31.5)
    scene = sim.Scene(stars=(star,), sky=0.0)
    _, moved = sim.render_scene(scene, 64, 80, shift=(2.5, -1.0), rotation=90.0)
    yy, xx = np.mgrid[0:64, 0:80]
    cx, cy = float((moved[0] * xx).sum() / moved.sum()), float((moved[0] * yy).sum() / moved.sum())
    expected = (39.5 - (30.7 - 31.5) + 2.5, 31.5 + (40.3 - 39.5) - 1.0)
    assert (cx, cy) == pytest.approx(expected, abs=0.02)
    cam = sim.Camera(width=80, height=64)
    frame = sim.light_frame(cam, scene, shift=(2.5, -1.0), rotation=90.0)
    assert frame.truth.stars[0] == pytest.approx(expected) and frame.truth.rotation == 90.0


def test_sky_gradient_trail_and_cfa_colours() -> None:
    trail = sim.Trail(x=40, y=32, angle=0.0, flux=300.0, fwhm=2.0)
    scene = sim.Scene(sky=100.0, sky_gradient=(0.2, 0.0), trail=trail, sky_color=(1.0, 0.5, 0.25))
    sky, objects = sim.render_scene(scene, 64, 80)
    assert float(sky[0, 10, 79] / sky[0, 10, 0]) == pytest.approx((1 + 0.2 * 39.5 / 80) / (1 - 0.2 * 39.5 / 80))
    profile = objects[0, :, 10]
    assert int(np.argmax(profile)) == 32 and float(profile.sum()) == pytest.approx(300.0, rel=1e-3)
    cam = sim.Camera(width=80, height=64, bayer_pattern="BGGR", transmission=(1.0, 1.0, 1.0), seed=1)
    light = sim.light_frame(cam, sim.Scene(sky=100.0, sky_color=(1.0, 0.5, 0.25)), exposure=10)
    signal = light.truth.signal  # ADU, gain 1: sky·colour·t
    assert signal[1, 1] == pytest.approx(1000.0) and signal[0, 1] == pytest.approx(500.0)
    assert signal[0, 0] == pytest.approx(250.0)  # B site of BGGR


def test_write_session(tmp_path: Path) -> None:
    cam = sim.Camera(width=48, height=40, seed=1)
    session = sim.write_session(tmp_path / "night", cam, bias=2, darks=2, flats=1, lights=3, dither=3.0, seed=5)
    assert [len(session.bias), len(session.darks), len(session.flats), len(session.lights)] == [2, 2, 1, 3]
    assert all(p.is_file() for p in session.lights)
    shifts = [f.truth.shift for f in session.light_frames]
    assert shifts[0] == (0.0, 0.0) and all(max(abs(a), abs(b)) <= 3.0 for a, b in shifts)
    assert len({read_image(p).keyword("DATE-OBS") for p in session.lights}) == 3
    assert math.isclose(read_image(session.darks[0]).keyword("EXPTIME"), 60.0)
