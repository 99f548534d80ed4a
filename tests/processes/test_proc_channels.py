"""ChannelCombination, ChannelExtraction and LRGBCombination, and the colour space kernel."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import cie_lightness, pixel
from corpus_icons import corpus_instances

from processes.color.channels import COLOR_SPACES, ChannelCombination, ChannelExtraction, LRGBCombination
from processes.kernels.colorspace import srgb
from procfw.errors import ExecutionError, ParameterError
from procfw.image import Image
from procfw.testing import check_process
from procfw.workspace import Workspace

RNG = np.random.default_rng(3)


def rgb_image(h: int = 12, w: int = 16, low: float = 0.05, high: float = 0.95) -> Image:
    return Image(RNG.uniform(low, high, (3, h, w)).astype(np.float32))


@pytest.mark.parametrize("cls", [ChannelCombination, ChannelExtraction, LRGBCombination])
def test_conformance(cls: type) -> None:
    check_process(cls).raise_if_failed()


# -- colour space kernel ------------------------------------------------------------------
def test_colorspace_reference_values() -> None:
    w = srgb()
    # white -> XYZ (1, 1, 1), L* = 1, a* = b* = neutral (0.5 with PCL's normalization)
    np.testing.assert_allclose(w.rgb_to_xyz(1.0, 1.0, 1.0), (1, 1, 1), atol=1e-12)
    np.testing.assert_allclose(w.rgb_to_lab(1.0, 1.0, 1.0), (1, 0.5, 0.5), atol=1e-12)
    # PCL's a*, b*, c* normalization: a in [5(f0−1), 5(1−f0)], b in [2(f0−1), 2(1−f0)], f0 = 16/116
    f0 = 16 / 116
    assert w.a_offset == pytest.approx(5 * (1 - f0)) and w.a_delta == pytest.approx(10 * (1 - f0))
    assert w.b_offset == pytest.approx(2 * (1 - f0)) and w.b_delta == pytest.approx(4 * (1 - f0))
    assert w.c_delta == pytest.approx(np.hypot(5 * (1 - f0), 2 * (1 - f0)))
    # mid grey 0.5: L = 1.16·cbrt(((0.5 + 0.055)/1.055)^2.4) − 0.16 = 0.533890
    assert float(w.lightness(0.5, 0.5, 0.5)) == pytest.approx(0.5338896, abs=1e-6)
    r, g, b = RNG.random((3, 500))
    np.testing.assert_allclose(w.lightness(r, g, b), cie_lightness(r, g, b), atol=1e-12)


@pytest.mark.parametrize("space", COLOR_SPACES)
def test_extraction_combination_round_trip(space: str) -> None:
    ws = Workspace()
    source = rgb_image(low=0.2, high=0.8)
    ws.add_image(source, "img")
    ChannelExtraction(colorSpace=space).execute_on(ws.view("img"))
    suffixes = {"RGB": "RGB", "CIEXYZ": "XYZ", "CIELab": "Lab", "CIELch": "Lch", "HSV": "H Sv V", "HSI": "H Si I"}
    names = suffixes[space].split() if " " in suffixes[space] else list(suffixes[space])
    ids = [f"img_{n}" for n in names]
    assert all(i in ws for i in ids), ws.window_ids()
    assert np.array_equal(ws.view("img").image.pixels, source.pixels)  # extraction leaves the target alone
    assert len(ws.view("img").history.done) == 0
    # combine globally into a new image
    combo = ChannelCombination(colorSpace=space, channels=[(True, i) for i in ids])
    result = combo.execute_global(ws)
    np.testing.assert_allclose(ws.view(result.created[0]).image.pixels, source.pixels, atol=2e-6)


def test_rgb_extraction_is_exact_and_sample_formats() -> None:
    img = rgb_image()
    out = ChannelExtraction().extract(img, "x")
    for c, name in enumerate(("x_R", "x_G", "x_B")):
        np.testing.assert_array_equal(out[name].pixels[0], img.pixels[c])
    i8 = ChannelExtraction(sampleFormat="i8", channels=[(True, "red"), (False, ""), (False, "")]).extract(img, "x")
    assert list(i8) == ["red"]
    np.testing.assert_allclose(i8["red"].pixels[0], np.round(img.pixels[0] * 255) / 255, atol=1e-7)
    f64 = ChannelExtraction(sampleFormat="f64").extract(img, "x")
    assert f64["x_R"].pixels.dtype == np.float64


def test_lab_extraction_hand_values() -> None:
    # pure white and mid grey: L = 1 and 0.533890, a = b = 0.5 (neutral)
    img = Image(np.stack([np.array([[1.0, 0.5]], np.float32)] * 3))
    out = ChannelExtraction(colorSpace="CIELab").extract(img, "x")
    np.testing.assert_allclose(out["x_L"].pixels[0, 0], [1.0, 0.5338896], atol=1e-6)
    np.testing.assert_allclose(out["x_a"].pixels[0, 0], [0.5, 0.5], atol=1e-6)
    hsv = ChannelExtraction(colorSpace="HSV").extract(pixel(1.0, 0.5, 0.0), "y")
    # orange (1, 0.5, 0): H = (G − B)/Δ/6 = 1/12, S = 1, V = 1
    assert hsv["y_H"].pixels[0, 0, 0] == pytest.approx(1 / 12)
    assert hsv["y_Sv"].pixels[0, 0, 0] == pytest.approx(1.0)


def test_channel_combination_on_view_uses_default_ids_and_keeps_disabled() -> None:
    ws = Workspace()
    target = rgb_image()
    ws.add_image(target, "rgb")
    red = RNG.random((1, 12, 16)).astype(np.float32)
    blue = RNG.random((1, 12, 16)).astype(np.float32)
    ws.add_image(Image(red), "rgb_R")
    ws.add_image(Image(blue), "rgb_B")
    combo = ChannelCombination(channels=[(True, ""), (False, ""), (True, "")])
    assert combo.can_execute_on(ws.view("rgb"))[0]
    combo.execute_on(ws.view("rgb"))
    out = ws.view("rgb").image.pixels
    np.testing.assert_array_equal(out[0], red[0])
    np.testing.assert_array_equal(out[1], target.pixels[1])
    np.testing.assert_array_equal(out[2], blue[0])
    assert len(ws.view("rgb").history.done) == 1


def test_channel_combination_errors() -> None:
    ws = Workspace()
    ws.add_image(rgb_image(), "rgb")
    ws.add_image(Image(np.zeros((1, 5, 5), np.float32)), "small")
    ok, why = ChannelCombination().can_execute_on(ws.view("rgb"))
    assert not ok and "rgb_R" in why
    with pytest.raises(ExecutionError, match="5x5"):
        ChannelCombination(channels=[(True, "small"), (False, ""), (False, "")]).execute_on(ws.view("rgb"))
    with pytest.raises(ParameterError, match="no channel is enabled"):
        ChannelCombination(channels=[(False, ""), (False, ""), (False, "")])
    with pytest.raises(ParameterError, match="channels"):
        ChannelCombination(channels=[(True, "")])  # a table of exactly 3 rows


# -- LRGBCombination --------------------------------------------------------------------
def test_lrgb_keeps_the_luminance_lightness() -> None:
    ws = Workspace()
    ws.add_image(rgb_image(low=0.3, high=0.6), "rgb")  # moderate colours: the new L stays in gamut
    lum = RNG.uniform(0.35, 0.65, (1, 12, 16)).astype(np.float32)
    ws.add_image(Image(lum), "L")
    lrgb = LRGBCombination(channels=[(False, "", 1.0), (False, "", 1.0), (False, "", 1.0), (True, "L", 1.0)])
    lrgb.execute_on(ws.view("rgb"))
    out = ws.view("rgb").image.pixels.astype(np.float64)
    np.testing.assert_allclose(cie_lightness(out[0], out[1], out[2]), lum[0], atol=2e-5)


def test_lrgb_rgb_only_is_identity_at_default_midtones() -> None:
    # mL = mc = 0.5: mtf(0.5, x) = x, so with no L source the colours come back unchanged
    ws = Workspace()
    img = rgb_image()
    ws.add_image(img, "rgb")
    ws.add_image(Image(img.pixels[0:1].copy()), "r")
    LRGBCombination(channels=[(True, "r", 1.0), (False, "", 1.0), (False, "", 1.0), (False, "", 1.0)]).execute_on(
        ws.view("rgb")
    )
    np.testing.assert_allclose(ws.view("rgb").image.pixels, img.pixels, atol=2e-6)


def test_lrgb_weights_and_clip_highlights_hand_values() -> None:
    # k = (1, 0.5, 1): normalized by the largest; clip value = smallest weight 0.5;
    # R: 0.2 -> 0.2/0.5 = 0.4; G: 0.3·0.5 = 0.15 -> 0.3; B: 0.6 >= 0.5 -> 1.  mL = mc = 1: no CIE step.
    img = pixel(0.2, 0.3, 0.6)
    lrgb = LRGBCombination(mL=1.0, mc=1.0, channels=[(True, "", 1.0), (True, "", 0.5), (True, "", 1.0), (False, "", 1)])
    out = lrgb.combine(img.pixels, [None, None, None, None])
    np.testing.assert_allclose(out[:, 0, 0], [0.4, 0.3, 1.0], atol=1e-7)
    no_clip = lrgb.evolve(clipHighlights=False).combine(img.pixels, [None] * 4)
    np.testing.assert_allclose(no_clip[:, 0, 0], [0.2, 0.15, 0.6], atol=1e-7)


def test_lrgb_saturation_mtf_changes_chroma_not_lightness() -> None:
    img = pixel(0.6, 0.4, 0.3)
    w = srgb()
    out = LRGBCombination(mc=0.3, channels=[(True, "", 1.0)] * 3 + [(False, "", 1.0)]).combine(img.pixels, [None] * 4)
    l0, c0, h0 = (float(v) for v in w.rgb_to_lch(0.6, 0.4, 0.3))
    l1, c1, h1 = (float(v) for v in w.rgb_to_lch(*out[:, 0, 0]))
    # c' = mtf(0.3, c)·L + c·(1 − L), mtf(m, x) = (m − 1)x/((2m − 1)x − m)
    expected_c = (0.3 - 1) * c0 / ((2 * 0.3 - 1) * c0 - 0.3) * l0 + c0 * (1 - l0)
    assert l1 == pytest.approx(l0, abs=1e-6) and h1 == pytest.approx(h0, abs=1e-6)
    assert c1 == pytest.approx(expected_c, abs=1e-6) and c1 > c0


def test_lrgb_noise_reduction_is_refused_clearly() -> None:
    ws = Workspace()
    ws.add_image(rgb_image(), "rgb")
    lrgb = LRGBCombination(noiseReduction=True)  # loads (icons carry it) ...
    ok, why = lrgb.can_execute_on(ws.view("rgb"))
    assert not ok and "noiseReduction" in why  # ... but does not run
    with pytest.raises(ExecutionError, match="noiseReduction"):
        lrgb.execute_global(ws)


def test_corpus_lrgb_icons_run_globally_and_on_views() -> None:
    instances = corpus_instances("LRGBCombination")
    assert len(instances) >= 5
    for name, lrgb in instances:
        ws = Workspace()
        for _, cid, _ in lrgb.channels:
            if cid not in ws:
                ws.add_image(Image(RNG.uniform(0.1, 0.9, (1, 10, 12)).astype(np.float32)), cid)
        result = lrgb.execute_global(ws)
        new = ws.view(result.created[0]).image
        assert new.pixels.shape == (3, 10, 12), name
        enabled = [row for row in lrgb.channels[:3] if row[0]]
        if not lrgb.channels[3][0] and len(enabled) == 3:  # plain RGB combination (mL = mc = 0.5)
            expected = np.stack([ws.view(row[1]).image.pixels[0] for row in lrgb.channels[:3]])
            np.testing.assert_allclose(new.pixels, expected, atol=2e-6, err_msg=name)
        target = ws.add_image(Image(RNG.random((3, 10, 12)).astype(np.float32)), "target")
        lrgb.execute_on(target.main_view)
        assert target.image.pixels.dtype == np.float32
