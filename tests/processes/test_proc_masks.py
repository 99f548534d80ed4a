"""StarMask and RangeSelection: PixInsight's parameters, masks as new windows, the formulas,
stars found where a simulated field has them, and the masks used by the mask machinery."""

from __future__ import annotations

import io

import numpy as np
import pytest
from scipy import ndimage

from processes.kernels.colorspace import SRGB
from processes.masks.rangeselection import RangeSelection, range_mask
from processes.masks.starmask import StarMask
from processes.simulation.starfield import render_stars
from procfw.console import Session
from procfw.errors import ParameterError
from procfw.icons import dumps_icons, loads_icons
from procfw.image import Image
from procfw.process import MaskRef
from procfw.registry import processes
from procfw.testing import check_process
from procfw.workspace import Workspace

STAR_SIGMA = 1.5


def star_field(seed: int = 3, noise: float = 0.005) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 240×200 field of 30 separated stars (peaks 0.15..0.8): (pixels, positions, peaks)."""
    rng = np.random.default_rng(seed)
    gx, gy = np.meshgrid(np.arange(6) * 40 + 20, np.arange(5) * 40 + 20)
    xy = np.column_stack([gx.ravel(), gy.ravel()]).astype(float) + rng.uniform(-5, 5, (30, 2))
    peaks = 10 ** rng.uniform(np.log10(0.15), np.log10(0.8), 30)
    flux = peaks * 2 * np.pi * STAR_SIGMA**2
    return render_stars(xy, flux, 240, 200, sigma=STAR_SIGMA, background=0.05, noise=noise, seed=seed + 1), xy, peaks


# -- schemas, icons, describe --------------------------------------------------------------
def test_starmask_schema_is_pixinsights():
    schema = StarMask.schema()
    assert list(schema) == ["shadowsClipping", "midtonesBalance", "highlightsClipping", "waveletLayers",
                            "structureContours", "noiseThreshold", "aggregateStructures", "binarizeStructures",
                            "largeScaleGrowth", "smallScaleGrowth", "growthCompensation", "smoothness", "invert",
                            "truncation", "limit", "mode"]
    assert [e for e, _ in schema["mode"].elements] == ["StarMask", "StarMaskOverlay", "StructureMap",
                                                      "StructureMapOverlay"]
    d = StarMask()
    assert d.noiseThreshold == pytest.approx(0.1)
    assert (d.waveletLayers, d.largeScaleGrowth, d.smallScaleGrowth, d.growthCompensation,
            d.smoothness, d.mode) == (5, 2, 1, 2, 16, "StarMask")
    reals = ("shadowsClipping", "midtonesBalance", "highlightsClipping", "noiseThreshold", "truncation", "limit")
    assert {k: schema[k].precision for k in reals} == dict.fromkeys(reals, 5)
    check_process(StarMask).raise_if_failed()


def test_rangeselection_schema_is_pixinsights():
    assert list(RangeSelection.schema()) == ["lowRange", "highRange", "fuzziness", "smoothness", "screening",
                                             "toLightness", "invert"]
    d = RangeSelection()
    assert (d.lowRange, d.highRange, d.fuzziness, d.smoothness, d.screening, d.toLightness, d.invert) == (
        0, 1, 0, 0, False, True, False)
    check_process(RangeSelection).raise_if_failed()


def test_registered_and_bad_values_are_named():
    assert processes.get("StarMask") is StarMask and processes.get("RangeSelection") is RangeSelection
    with pytest.raises(ParameterError, match="RangeSelection: parameter lowRange = 0.8.*must not exceed highRange"):
        RangeSelection(lowRange=0.8, highRange=0.2)
    with pytest.raises(ParameterError, match="StarMask: parameter waveletLayers"):
        StarMask(waveletLayers=0)
    with pytest.raises(ParameterError, match="StarMask: parameter mode"):
        StarMask(mode="Stars")


@pytest.mark.parametrize("instance", [
    StarMask(noiseThreshold=0.05, waveletLayers=6, binarizeStructures=True, smoothness=8, truncation=0.8,
             mode="StructureMapOverlay"),
    RangeSelection(lowRange=0.123456, highRange=0.9, fuzziness=0.25, smoothness=3.5, screening=True, invert=True),
])
def test_icons_round_trip(instance):
    text = dumps_icons({"M": instance}, "xpsm")
    assert f'class="{instance.process_id}" version="256"' in text
    assert loads_icons(text, "xpsm").icons["M"] == instance
    assert loads_icons(dumps_icons({"M": instance}, "console"), "console").icons["M"] == instance


def test_describe_lists_every_parameter(capsys):
    from procfw.cli import main

    for cls in (StarMask, RangeSelection):
        assert main(["describe", cls.process_id]) in (0, None)
        shown = capsys.readouterr().out
        for pid in cls.schema():
            assert f"-{pid}" in shown


# -- RangeSelection ------------------------------------------------------------------------
VALUES = np.array([0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.6, 0.65, 0.7, 0.8, 1.0])


def test_range_mask_is_the_formula():
    # [0.2, 0.6] with fuzziness 0.1: ramps over (0.1, 0.2) and (0.6, 0.7)
    expected = [0, 0, 0, 0.5, 1, 1, 1, 1, 0.5, 0, 0, 0]
    np.testing.assert_allclose(range_mask(VALUES, 0.2, 0.6, 0.1), expected, atol=1e-12)
    np.testing.assert_array_equal(range_mask(VALUES, 0.2, 0.6, 0.0), [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0])


def _run(process, pixels: np.ndarray) -> tuple[Workspace, np.ndarray, tuple[str, ...]]:
    workspace = Workspace()
    view = workspace.add_image(Image(np.asarray(pixels, dtype=np.float32)), "img").main_view
    before = view.image.pixels.copy()
    result = process.execute_on(view)
    np.testing.assert_array_equal(view.image.pixels, before)  # the target is untouched
    assert len(view.history.processes()) == 0  # and no history step
    return workspace, workspace.view(result.created[0]).image.pixels, result.created


def test_rangeselection_opens_range_mask_with_fuzziness_and_invert():
    grey = VALUES.reshape(1, 1, -1)
    _, mask, created = _run(RangeSelection(lowRange=0.2, highRange=0.6, fuzziness=0.1), grey)
    assert created == ("range_mask",) and mask.shape == (1, 1, 12) and mask.dtype == np.float32
    np.testing.assert_allclose(mask[0, 0], [0, 0, 0, 0.5, 1, 1, 1, 1, 0.5, 0, 0, 0], atol=1e-6)
    _, inverted, _ = _run(RangeSelection(lowRange=0.2, highRange=0.6, fuzziness=0.1, invert=True), grey)
    np.testing.assert_allclose(inverted, 1 - mask, atol=1e-6)
    _, screened, _ = _run(RangeSelection(lowRange=0.2, highRange=0.6, fuzziness=0.1, screening=True), grey)
    np.testing.assert_allclose(screened[0, 0], mask[0, 0] * VALUES, atol=1e-6)


def test_rangeselection_smoothness_is_a_gaussian_of_that_sigma():
    step = np.zeros((1, 40, 40))
    step[:, :, 20:] = 0.8
    _, mask, _ = _run(RangeSelection(lowRange=0.5, highRange=1.0, smoothness=3), step)
    hard = (step[0] >= 0.5).astype(float)
    np.testing.assert_allclose(mask[0], ndimage.gaussian_filter(hard, 3, mode="mirror"), atol=1e-6)
    assert mask[0, 20, 19] == pytest.approx(0.5, abs=0.07) and mask[0, 20, 0] < 1e-3 and mask[0, 20, 39] > 0.999


def test_rangeselection_on_colour_uses_lightness_or_each_channel():
    rgb = np.random.default_rng(2).uniform(0, 1, (3, 8, 9))
    _, mask, _ = _run(RangeSelection(lowRange=0.3, highRange=0.7), rgb)
    lightness = SRGB.lightness(*rgb.astype(np.float32).astype(np.float64))
    assert mask.shape == (1, 8, 9)
    np.testing.assert_array_equal(mask[0], ((lightness >= 0.3) & (lightness <= 0.7)).astype(np.float32))
    _, per_channel, _ = _run(RangeSelection(lowRange=0.3, highRange=0.7, toLightness=False), rgb)
    rgb32 = rgb.astype(np.float32)
    assert per_channel.shape == (3, 8, 9)
    np.testing.assert_array_equal(per_channel, ((rgb32 >= np.float32(0.3)) & (rgb32 <= np.float32(0.7))))


# -- StarMask ------------------------------------------------------------------------------
def test_starmask_finds_the_stars_of_a_simulated_field():
    pixels, xy, peaks = star_field()
    _, mask, created = _run(StarMask(binarizeStructures=True), pixels[None])
    assert created == ("star_mask",) and mask.shape == (1, 200, 240)
    labels, count = ndimage.label(mask[0] > 0.5)
    assert count == len(xy)
    centres = np.array(ndimage.center_of_mass(mask[0] > 0.5, labels, range(1, count + 1)))[:, ::-1]
    nearest = np.min(np.hypot(*(centres[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)), axis=1)
    assert nearest.max() < 1.0  # every blob sits on a star
    at_stars = mask[0][np.round(xy[:, 1]).astype(int), np.round(xy[:, 0]).astype(int)]
    assert at_stars.min() > 0.85
    yy, xx = np.mgrid[:200, :240]
    distance = np.min([np.hypot(xx - x, yy - y) for x, y in xy], axis=0)
    assert np.abs(mask[0][distance > 12]).max() < 0.01  # background: 0


def test_starmask_unbinarized_follows_star_brightness_and_threshold_rejects_noise():
    pixels, xy, peaks = star_field()
    mask = StarMask(smoothness=0, largeScaleGrowth=0, smallScaleGrowth=0).mask(Image(pixels[None]))
    at_stars = mask[np.round(xy[:, 1]).astype(int), np.round(xy[:, 0]).astype(int)]
    # the profile above the background, up to the pixel integration of the simulated star
    assert np.corrcoef(at_stars, peaks)[0, 1] > 0.98
    assert np.all(at_stars > 0.5 * peaks)
    noise_only = Image(render_stars(np.zeros((0, 2)), np.zeros(0), 120, 100, noise=0.01, seed=9)[None])
    assert StarMask().mask(noise_only).max() == 0  # noise is below the default 0.1 threshold
    assert StarMask(noiseThreshold=0.0, binarizeStructures=True, smoothness=0).mask(noise_only).mean() > 0.2


def test_starmask_modes_growth_invert_and_numbered_windows():
    pixels, xy, _ = star_field()
    image = Image(pixels[None])
    support = StarMask(mode="StructureMap").mask(image)
    assert set(np.unique(support)) == {0.0, 1.0}
    grown = [StarMask(binarizeStructures=True, smoothness=0, largeScaleGrowth=g, smallScaleGrowth=0).mask(image).sum()
             for g in (0, 1, 3)]
    assert grown[0] < grown[1] < grown[2]
    normal = StarMask(binarizeStructures=True).mask(image)
    np.testing.assert_allclose(StarMask(binarizeStructures=True, invert=True).mask(image), 1 - normal)
    limited = StarMask(binarizeStructures=True, limit=0.5).mask(image)
    assert limited.max() == pytest.approx(0.5)
    workspace = Workspace()
    view = workspace.add_image(image, "img").main_view
    assert StarMask().execute_on(view).created == ("star_mask",)
    assert StarMask().execute_on(view).created == ("star_mask_1",)
    assert StarMask(mode="StructureMap").execute_on(view).created == ("structure_map",)
    overlay = StarMask(mode="StarMaskOverlay").execute_on(view).created[0]
    assert workspace.view(overlay).image.channels == 3


# -- the masks drive the mask machinery -------------------------------------------------------
def test_star_mask_and_its_inverse_blend_a_process_in_the_console():
    pixels, xy, _ = star_field()
    out = io.StringIO()
    session = Session(out=out, err=io.StringIO())
    session.workspace.add_image(Image(pixels[None]), "img")
    session.run_text("StarMask -binarizeStructures+ img\nmask img star_mask\nInvert img")
    mask = session.workspace.view("star_mask").image.pixels
    inverted = session.workspace.view("img").image.pixels
    np.testing.assert_allclose(inverted, mask * (1 - pixels[None]) + (1 - mask) * pixels[None], atol=1e-6)
    star = (int(round(xy[0, 1])), int(round(xy[0, 0])))
    assert inverted[0][star] == pytest.approx(1 - pixels[star], abs=0.1)  # stars: inverted
    assert mask[0, 40, 40] == 0 and inverted[0, 40, 40] == pixels[40, 40]  # sky between stars: kept
    session.run_text("undo img\nmask img star_mask -inverted+\nInvert img")
    protected = session.workspace.view("img").image.pixels
    np.testing.assert_allclose(protected, (1 - mask) * (1 - pixels[None]) + mask * pixels[None], atol=1e-6)
    assert protected[0][star] == pytest.approx(pixels[star], abs=0.1)  # stars: protected


def test_range_mask_as_a_workspace_mask_override():
    ramp = np.linspace(0, 1, 50, dtype=np.float32).reshape(1, 1, 50).repeat(4, axis=1)
    workspace = Workspace()
    view = workspace.add_image(Image(ramp), "img").main_view
    RangeSelection(lowRange=0.5, highRange=1.0).execute_on(view)
    processes.get("Invert")().execute_on(view, mask=MaskRef("range_mask", inverted=True))
    result = view.image.pixels
    bright = ramp >= 0.5
    np.testing.assert_allclose(result[bright], ramp[bright], atol=1e-6)  # selected range protected
    np.testing.assert_allclose(result[~bright], 1 - ramp[~bright], atol=1e-6)
