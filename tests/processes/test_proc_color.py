"""BackgroundNeutralization, SCNR and ColorSaturation."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest
from conftest import cie_lightness, pixel
from corpus_icons import corpus_instances

from processes.color.corrections import SCNR, BackgroundNeutralization, ColorSaturation, background_reference
from processes.kernels.colorspace import srgb
from procfw.errors import ExecutionError, ParameterError
from procfw.image import Image
from procfw.process import ExecutionContext
from procfw.testing import check_process
from procfw.workspace import Workspace

RNG = np.random.default_rng(11)
CTX = ExecutionContext()


@pytest.mark.parametrize("cls", [BackgroundNeutralization, SCNR, ColorSaturation])
def test_conformance(cls: type) -> None:
    check_process(cls).raise_if_failed()


# -- SCNR -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "amount", "expected_g"),
    [
        ("AverageNeutral", 1.0, 0.3),  # min(0.6, (0.2 + 0.4)/2)
        ("MaximumNeutral", 1.0, 0.4),  # min(0.6, max(0.2, 0.4))
        ("MinimumNeutral", 1.0, 0.2),  # min(0.6, min(0.2, 0.4))
        ("AverageNeutral", 0.5, 0.45),  # 0.5·0.6 + 0.5·0.3
        ("MaximumMask", 1.0, 0.24),  # m = 0.4: 0.6·0·0.6 + 0.4·0.6
        ("MaximumMask", 0.5, 0.42),  # 0.6·0.5·0.6 + 0.4·0.6
        ("AdditiveMask", 1.0, 0.36),  # m = min(1, 0.6): 0.6·0.6
        ("AdditiveMask", 0.25, 0.54),  # 0.6·0.75·0.4 + 0.6·0.6
    ],
)
def test_scnr_green_formulas(method: str, amount: float, expected_g: float) -> None:
    out = SCNR(protectionMethod=method, amount=amount, preserveLightness=False).apply(pixel(0.2, 0.6, 0.4), CTX)
    np.testing.assert_allclose(out.pixels[:, 0, 0], [0.2, expected_g, 0.4], atol=1e-6)


def test_scnr_other_colours_and_no_change_when_not_dominant() -> None:
    out = SCNR(colorToRemove="Red", preserveLightness=False).apply(pixel(0.9, 0.3, 0.5), CTX)
    np.testing.assert_allclose(out.pixels[:, 0, 0], [0.4, 0.3, 0.5], atol=1e-6)
    out = SCNR(colorToRemove="Blue", protectionMethod="MaximumNeutral", preserveLightness=False).apply(
        pixel(0.1, 0.2, 0.7), CTX
    )
    np.testing.assert_allclose(out.pixels[:, 0, 0], [0.1, 0.2, 0.2], atol=1e-6)
    grey = pixel(0.3, 0.3, 0.3)
    np.testing.assert_array_equal(SCNR().apply(grey, CTX).pixels, grey.pixels)


def test_scnr_preserve_lightness_keeps_cie_l() -> None:
    img = Image(RNG.uniform(0.2, 0.7, (3, 10, 10)).astype(np.float32))
    out = SCNR().apply(img, CTX).pixels.astype(np.float64)
    before = cie_lightness(*img.pixels.astype(np.float64))
    np.testing.assert_allclose(cie_lightness(*out), before, atol=2e-5)
    # and green was still reduced where it dominated
    green_dominant = img.pixels[1] > (img.pixels[0] + img.pixels[2]) / 2 + 0.05
    assert np.all(out[1][green_dominant] < img.pixels[1][green_dominant])


# -- BackgroundNeutralization ------------------------------------------------------------
def _sky(backgrounds: tuple[float, float, float], size: int = 40) -> Image:
    pixels = np.empty((3, size, size), dtype=np.float32)
    for c, level in enumerate(backgrounds):
        pixels[c] = level + RNG.normal(0, 0.002, (size, size))
    pixels[:, 10:14, 10:14] = 0.9  # a bright "star", excluded by backgroundHigh
    return Image(np.clip(pixels, 0, 1))


def test_background_reference_is_median_of_selected_pixels() -> None:
    pixels = np.array([[[0.02, 0.04, 0.5]], [[0.03, 0.05, 0.5]], [[0.01, 0.09, 0.5]]])
    # third pixel is above high = 0.1 in every channel, so only the first two count
    np.testing.assert_allclose(background_reference(pixels, 0.0, 0.1), [0.03, 0.04, 0.05])
    assert background_reference(pixels, 0.6, 0.7).tolist() == [0.0, 0.0, 0.0]


def test_background_neutralization_target_background() -> None:
    img = _sky((0.05, 0.08, 0.03))
    result = BackgroundNeutralization(mode="TargetBackground", targetBackground=0.01).apply(img, CTX)
    bg = background_reference(img.pixels.astype(np.float64), 0.0, 0.1)
    out = result.image.pixels
    for c in range(3):
        # x' = x + 0.01 − b_c: the background median becomes exactly 0.01
        np.testing.assert_allclose(out[c, 20:, 20:], img.pixels[c, 20:, 20:] + 0.01 - bg[c], atol=1e-6)
        assert np.median(out[c][out[c] < 0.1]) == pytest.approx(0.01, abs=2e-4)
    assert result.outputs["backgroundG"] == pytest.approx(bg[1])


def test_background_neutralization_modes() -> None:
    img = _sky((0.05, 0.08, 0.03))
    bg = background_reference(img.pixels.astype(np.float64), 0.0, 0.1)
    shifted = img.pixels.astype(np.float64) - bg[:, None, None]
    truncated = BackgroundNeutralization(mode="Truncate").apply(img, CTX).image.pixels
    np.testing.assert_allclose(truncated, np.clip(shifted, 0, 1), atol=1e-6)
    rescaled = BackgroundNeutralization(mode="Rescale").apply(img, CTX).image.pixels
    lo, hi = shifted.min(), shifted.max()
    np.testing.assert_allclose(rescaled, (shifted - lo) / (hi - lo), atol=1e-6)
    as_needed = BackgroundNeutralization(mode="RescaleAsNeeded").apply(img, CTX).image.pixels
    np.testing.assert_allclose(as_needed, (shifted - lo) / (hi - lo), atol=1e-6)  # shifted < 0 somewhere
    # equal backgrounds after neutralization: channel medians of the sky agree
    medians = [np.median(as_needed[c, 20:, 20:]) for c in range(3)]
    assert max(medians) - min(medians) < 1e-3


def test_background_neutralization_reference_view_and_roi() -> None:
    ws = Workspace()
    target = _sky((0.05, 0.08, 0.03))
    ws.add_image(target, "target")
    reference = np.zeros((3, 40, 40), dtype=np.float32)
    reference[:, :20, :20] = np.array([0.02, 0.04, 0.06])[:, None, None]
    reference[:, 20:, 20:] = 0.5  # outside (low, high): ignored anyway
    ws.add_image(Image(reference), "ref")
    bn = BackgroundNeutralization(
        backgroundReferenceViewId="ref",
        useROI=True,
        roiX0=0,
        roiY0=0,
        roiX1=20,
        roiY1=20,
        mode="Truncate",
        backgroundLow=0.01,
    )
    bn.execute_on(ws.view("target"))
    out = ws.view("target").image.pixels
    expected = np.clip(target.pixels - np.array([0.02, 0.04, 0.06], np.float32)[:, None, None], 0, 1)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    with pytest.raises(ExecutionError, match="background reference"):
        BackgroundNeutralization(backgroundReferenceViewId="nope").execute_on(ws.view("target"))
    with pytest.raises(ParameterError, match="region of interest"):
        BackgroundNeutralization(useROI=True)


# -- ColorSaturation --------------------------------------------------------------------
def test_color_saturation_bias_factor_and_hue_shift() -> None:
    cs = ColorSaturation(HS=[(0.0, 1.0), (1.0, -1.0)], HSt="Linear")
    np.testing.assert_allclose(cs.bias(np.array([0.0, 0.25, 0.5])), [1.0, 0.5, 0.0])
    shifted = cs.evolve(hueShift=0.25)
    # hue H is read at H + 0.25: H = 0 -> 0.25, H = 0.9 -> 0.15 (wrapped)
    np.testing.assert_allclose(shifted.bias(np.array([0.0, 0.9])), [0.5, 0.7])


def test_color_saturation_doubles_hsv_saturation_and_keeps_lightness() -> None:
    # constant bias 1: S -> 2S (factor 1 + k), then CIE L* restored
    cs = ColorSaturation(HS=[(0.0, 1.0), (1.0, 1.0)], HSt="Linear")
    r, g, b = 0.5, 0.4, 0.35
    out = cs.apply(pixel(r, g, b), CTX).pixels[:, 0, 0].astype(np.float64)
    h0, s0, _ = colorsys.rgb_to_hsv(r, g, b)
    h1, s1, _ = colorsys.rgb_to_hsv(*out)
    assert float(cie_lightness(*out)) == pytest.approx(float(cie_lightness(r, g, b)), abs=1e-5)
    assert s1 > 1.5 * s0  # (the L* restoration changes S a little from exactly 2·S0)
    # before restoring L*, the HSV colour is exactly (H, 2S, V):
    expected = colorsys.hsv_to_rgb(h0, 2 * s0, max(r, g, b))
    restored = srgb().with_lightness(*np.array(expected), cie_lightness(r, g, b))
    np.testing.assert_allclose(out, np.array(restored), atol=1e-6)
    assert h1 == pytest.approx(h0, abs=0.02)


def test_color_saturation_negative_bias_divides_and_grey_is_unchanged() -> None:
    cs = ColorSaturation(HS=[(0.0, -1.0), (1.0, -1.0)], HSt="Linear")  # S -> S/2
    r, g, b = 0.6, 0.3, 0.3
    out = cs.apply(pixel(r, g, b), CTX).pixels[:, 0, 0].astype(np.float64)
    h0, s0, v0 = colorsys.rgb_to_hsv(r, g, b)
    restored = srgb().with_lightness(*np.array(colorsys.hsv_to_rgb(h0, s0 / 2, v0)), cie_lightness(r, g, b))
    np.testing.assert_allclose(out, np.array(restored), atol=1e-6)
    grey = pixel(0.4, 0.4, 0.4)
    np.testing.assert_allclose(cs.apply(grey, CTX).pixels, grey.pixels, atol=1e-6)
    identity = ColorSaturation()
    assert identity.is_identity() and identity.apply(grey, CTX) is grey


def test_color_saturation_rejects_duplicate_hues() -> None:
    with pytest.raises(ParameterError, match="distinct"):
        ColorSaturation(HS=[(0.5, 1.0), (0.5, 0.0)])


# -- corpus icons -----------------------------------------------------------------------
def test_corpus_color_icons_load_and_run() -> None:
    img = Image(np.clip(RNG.normal(0.3, 0.1, (3, 30, 40)), 0, 1).astype(np.float32))
    counts = {}
    for cls in (SCNR, ColorSaturation, BackgroundNeutralization):
        instances = corpus_instances(cls.process_id)
        counts[cls.process_id] = len(instances)
        for name, instance in instances:
            ws = Workspace()
            view = ws.add_image(img, "img").main_view
            instance.execute_on(view)
            out = view.image.pixels
            assert out.dtype == np.float32 and out.shape == img.pixels.shape, name
            assert np.all((out >= 0) & (out <= 1)), name
    assert counts["SCNR"] >= 4 and counts["ColorSaturation"] >= 3 and counts["BackgroundNeutralization"] >= 2
    # the corpus ColorSaturation icon: bias 2 at hue 0 falling linearly to 0 at hue 1 (two points: linear)
    saturate = corpus_instances("ColorSaturation")[0][1]
    np.testing.assert_allclose(saturate.bias(np.array([0.0, 0.5, 1.0])), [2.0, 1.0, 0.0], atol=1e-9)
