"""SimulateLRGB: determinism, the declared channel gains and offsets, sky gradient, noise, stars and nebula."""

from __future__ import annotations

import math

import numpy as np
import pytest

from processes.color.linearfit import LinearFit
from processes.simulation import lrgb_scene
from processes.simulation.lrgb import SimulateLRGB
from procfw.errors import ParameterError
from procfw.image import Image
from procfw.testing import check_process
from procfw.workspace import Workspace

SMALL = {"width": 160, "height": 120, "starCount": 60}


def _frames(process: SimulateLRGB) -> dict[str, np.ndarray]:
    workspace = Workspace()
    result = process.execute_global(workspace)
    return {view_id: workspace.window(view_id).image.pixels[0] for view_id in result.created}


def _lad_line(x: np.ndarray, y: np.ndarray, iterations: int = 60) -> tuple[float, float]:
    """``y ≈ a + b·x`` by least absolute deviations (iteratively reweighted least squares), written for the tests."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    weights = np.ones_like(x)
    a = b = 0.0
    for _ in range(iterations):
        sw = weights.sum()
        mx, my = (weights * x).sum() / sw, (weights * y).sum() / sw
        b = (weights * (x - mx) * (y - my)).sum() / (weights * (x - mx) ** 2).sum()
        a = my - b * mx
        weights = 1.0 / np.maximum(np.abs(y - a - b * x), 1e-7)
    return a, b


def test_conformance() -> None:
    check_process(SimulateLRGB).raise_if_failed()


def test_four_mono_images_with_truth_outputs_and_keywords() -> None:
    workspace = Workspace()
    process = SimulateLRGB(prefix="M42_", gainR=0.5, offsetB=0.03, **SMALL)
    result = process.execute_global(workspace)
    assert result.created == ("M42_L", "M42_R", "M42_G", "M42_B")
    for view_id, channel in zip(result.created, "LRGB"):
        image = workspace.window(view_id).image
        assert image.pixels.shape == (1, 120, 160) and image.pixels.dtype == np.float32
        assert 0.0 <= float(image.pixels.min()) and float(image.pixels.max()) <= 1.0
        assert image.keyword("FILTER") == channel
        assert result.outputs[channel] == {
            "gain": getattr(process, f"gain{channel}"), "offset": getattr(process, f"offset{channel}")
        }
    assert result.outputs["R"]["gain"] == 0.5 and result.outputs["B"]["offset"] == 0.03
    # defaults: the documented, unequal set
    default = SimulateLRGB()
    assert (default.width, default.height) == (1024, 768)
    assert default.image_ids() == {"L": "L", "R": "R", "G": "G", "B": "B"}
    assert [default.gainL, default.gainR, default.gainG, default.gainB] == [1.8, 0.8, 1.0, 1.3]
    assert [default.offsetL, default.offsetR, default.offsetG, default.offsetB] == [0.008, 0.015, 0.005, 0.01]


def test_deterministic_by_seed() -> None:
    a = _frames(SimulateLRGB(seed=5, **SMALL))
    b = _frames(SimulateLRGB(seed=5, **SMALL))
    c = _frames(SimulateLRGB(seed=6, **SMALL))
    for channel in "LRGB":
        assert np.array_equal(a[channel], b[channel])
        assert not np.array_equal(a[channel], c[channel])
    # each channel has its own noise: two channels with equal gain and offset still differ
    twins = _frames(SimulateLRGB(gainR=1.0, offsetR=0.005, **SMALL))
    assert not np.array_equal(twins["R"], twins["G"])


def test_channels_of_a_plain_sky_obey_the_declared_gains_and_offsets() -> None:
    """No stars, no nebula, no noise: every pixel obeys frame_c = offset_c + gain_c·sky."""
    process = SimulateLRGB(starCount=0, nebulaStrength=0.0, noiseLevel=0.0, width=96, height=64)
    frames = _frames(process)
    sky = (frames["G"].astype(np.float64) - process.offsetG) / process.gainG
    for channel in "LRB":
        gain, offset = getattr(process, f"gain{channel}"), getattr(process, f"offset{channel}")
        np.testing.assert_allclose(frames[channel], offset + gain * sky, atol=2e-7)


def test_sky_level_and_gradient() -> None:
    """The sky is a plane: skyLevel at the centre, changing by the fraction `gradient` across the frame."""
    process = SimulateLRGB(starCount=0, nebulaStrength=0.0, noiseLevel=0.0, width=101, height=81,
                           skyLevel=0.04, gradient=0.5, gainG=1.0, offsetG=0.0, seed=3)
    g = _frames(process)["G"].astype(np.float64)
    y, x = np.mgrid[0:81, 0:101]
    design = np.column_stack([np.ones(x.size), x.ravel() - 50, y.ravel() - 40])
    (c, dx, dy), *_ = np.linalg.lstsq(design, g.ravel(), rcond=None)
    assert np.abs(design @ [c, dx, dy] - g.ravel()).max() < 1e-6
    assert c == pytest.approx(0.04, rel=1e-5)
    assert math.hypot(dx * 101, dy * 81) == pytest.approx(0.04 * 0.5, rel=1e-4)


@pytest.mark.parametrize(
    ("gains", "offsets"),
    [((0.8, 1.0, 1.3), (0.015, 0.005, 0.010)), ((0.5, 1.0, 2.0), (0.0, 0.02, 0.04))],
)
def test_linear_fit_recovers_the_declared_relation(gains: tuple[float, ...], offsets: tuple[float, ...]) -> None:
    """A nebula-free set: LinearFit of R (and B) to G finds b = gain_G/gain_c, a = offset_G − b·offset_c."""
    gr, gg, gb = gains
    orr, og, ob = offsets
    process = SimulateLRGB(width=320, height=240, starCount=150, nebulaStrength=0.0, gradient=0.5,
                           gainR=gr, gainG=gg, gainB=gb, offsetR=orr, offsetG=og, offsetB=ob)
    frames = _frames(process)
    fit = LinearFit(referenceViewId="G")
    for channel, gain, offset in (("R", gr, orr), ("B", gb, ob)):
        a, b, _, _ = fit.fit(Image(frames[channel][None]), Image(frames["G"][None]))[0]
        expected_b = gg / gain
        assert b == pytest.approx(expected_b, rel=0.02)
        assert a == pytest.approx(og - expected_b * offset, abs=0.001)
        # an independent LAD line agrees
        a2, b2 = _lad_line(frames[channel].ravel()[::7], frames["G"].ravel()[::7])
        assert b2 == pytest.approx(expected_b, rel=0.02)


@pytest.mark.slow
def test_the_nebula_biases_the_fit_only_mildly_with_the_defaults() -> None:
    """With the default (coloured) nebula the scene is no longer grey; LinearFit stays within 8 % of the truth."""
    process = SimulateLRGB()
    frames = _frames(process)
    fit = LinearFit(referenceViewId="G")
    for channel in "RB":
        _, b, _, _ = fit.fit(Image(frames[channel][None]), Image(frames["G"][None]))[0]
        assert b == pytest.approx(process.gainG / getattr(process, f"gain{channel}"), rel=0.08)


def test_noise_follows_the_model() -> None:
    """σ² = gain·sky/E + read², E = 10⁶/level², read = 0.0001·level; on a flat sky without stars."""
    for level in (1.0, 3.0):
        process = SimulateLRGB(starCount=0, nebulaStrength=0.0, gradient=0.0, noiseLevel=level, width=256,
                               height=256, skyLevel=0.05)
        frames = _frames(process)
        for channel in "LRGB":
            gain = getattr(process, f"gain{channel}")
            expected = math.sqrt(gain * 0.05 * level**2 / 1e6 + (1e-4 * level) ** 2)
            assert float(frames[channel].std()) == pytest.approx(expected, rel=0.03)
            assert float(frames[channel].mean()) == pytest.approx(
                getattr(process, f"offset{channel}") + gain * 0.05, abs=3 * expected / 256
            )


def test_a_star_carries_the_flux_its_peak_implies() -> None:
    """One Gaussian star of peak P (the brightest is at starPeak): total light P·2πσ²·colour·gain per channel."""
    for seed in range(1, 40):
        process = SimulateLRGB(starCount=1, nebulaStrength=0.0, noiseLevel=0.0, gradient=0.0, psf="Gaussian",
                               fwhm=4.0, starPeak=0.5, width=128, height=128, seed=seed)
        rendered = process.render()
        x, y, peak, *colour = rendered.star_table[0]
        if 20 < x < 107 and 20 < y < 107:
            break
    assert peak == pytest.approx(0.5)
    assert np.mean(colour) == pytest.approx(1.0)
    sigma = 4.0 / (2 * math.sqrt(2 * math.log(2)))
    frames = _frames(process)
    for c, channel in enumerate("RGB"):
        gain, offset = getattr(process, f"gain{channel}"), getattr(process, f"offset{channel}")
        light = (frames[channel].astype(np.float64) - offset - gain * process.skyLevel).sum()
        assert light == pytest.approx(gain * 0.5 * 2 * math.pi * sigma**2 * colour[c], rel=1e-3)
    # L sees the mean of the three bands
    light_l = (frames["L"].astype(np.float64) - process.offsetL - process.gainL * process.skyLevel).sum()
    assert light_l == pytest.approx(process.gainL * 0.5 * 2 * math.pi * sigma**2, rel=1e-3)


def test_star_counts_and_colours() -> None:
    model = SimulateLRGB(starCount=2000, starRange=9.0, starPeak=1.0, width=64, height=64).model()
    stars = lrgb_scene.random_stars(model)
    peaks = np.array([s.flux for s in stars]) * lrgb_scene.peak_per_unit_flux(model)
    mags = -2.5 * np.log10(peaks)
    assert mags.min() == pytest.approx(0.0) and mags.max() <= 9.0 + 1e-9
    # N(<m) ∝ 10^(0.3 m): the faintest magnitude holds half of the stars
    expected = 1 - (10 ** (0.3 * 8) - 1) / (10 ** (0.3 * 9) - 1)
    assert np.mean(mags > 8.0) == pytest.approx(expected, abs=0.04)
    # black-body colours: cool stars red, hot stars blue, each of mean 1
    colours = lrgb_scene.blackbody_colors(np.array([3000.0, 5800.0, 20000.0]))
    np.testing.assert_allclose(colours.mean(axis=1), 1.0)
    assert colours[0, 0] > colours[0, 1] > colours[0, 2]
    assert colours[2, 2] > colours[2, 1] > colours[2, 0]
    assert np.all(np.abs(colours[1] - 1.0) < 0.1)  # a Sun-like star is nearly white


def test_the_nebula_is_coloured_and_scaled() -> None:
    model = lrgb_scene.LRGBModel(width=200, height=150, nebula_strength=0.03, seed=4)
    neb = lrgb_scene.nebula(model)
    assert neb.shape == (3, 150, 200) and neb.min() >= 0
    assert float(neb.mean(axis=0).max()) == pytest.approx(0.03)
    red, teal = neb[0] > 1.5 * neb[1], neb[2] > 1.5 * neb[0]
    assert red.any() and teal.any()  # an H-alpha-red and an OIII-teal part
    assert not lrgb_scene.nebula(attrs_evolve(model, nebula_strength=0.0)).any()


def attrs_evolve(model: lrgb_scene.LRGBModel, **changes: object) -> lrgb_scene.LRGBModel:
    import attrs

    return attrs.evolve(model, **changes)


def test_invalid_parameters_are_rejected() -> None:
    with pytest.raises(ParameterError, match="prefix"):
        SimulateLRGB(prefix="1st_")
    with pytest.raises(ParameterError, match="width"):
        SimulateLRGB(width=0)
    with pytest.raises(ParameterError, match="gainR"):
        SimulateLRGB(gainR=0.0)
    with pytest.raises(ParameterError, match="psf"):
        SimulateLRGB(psf="Airy")
