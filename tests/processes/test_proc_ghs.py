"""GeneralizedHyperbolicStretch against the published GHS equations; colour modes; corpus icons."""

from __future__ import annotations

import math

import numpy as np
import pytest
from corpus_icons import corpus_instances
from hypothesis import given, settings
from hypothesis import strategies as st

from processes.intensity.ghs import GeneralizedHyperbolicStretch
from processes.kernels.colorspace import rgb_to_hsv, srgb
from procfw.errors import ParameterError
from procfw.image import Image
from procfw.process import ExecutionContext
from procfw.testing import check_process

CTX = ExecutionContext()
GHS = GeneralizedHyperbolicStretch


def published(x: float, sf: float, b: float) -> float:
    """The GHS equations with SP = LP = 0 and HP = 1, normalized to T(1) = 1; D = e^sf − 1."""
    d = math.exp(sf) - 1
    if b == -1:
        t = lambda v: math.log(1 + d * v)  # noqa: E731
    elif b < 0:
        t = lambda v: (1 - (1 - b * d * v) ** ((b + 1) / b)) / (b + 1)  # noqa: E731
    elif b == 0:
        t = lambda v: 1 - math.exp(-d * v)  # noqa: E731
    else:
        t = lambda v: 1 - (1 + b * d * v) ** (-1 / b)  # noqa: E731
    return t(x) / t(1)


def stretch(values, **params) -> np.ndarray:
    pixels = np.asarray(values, dtype=np.float32).reshape(1, 1, -1)
    return GHS(**params).apply(Image(pixels), CTX).pixels.reshape(-1).astype(np.float64)


def test_hand_computed_points():
    # D = e^ln2 − 1 = 1.  b = 1: 2x/(1 + x) → 2/3 at 0.5;  b = −1: ln(1.5)/ln 2;  b = 0: (1 − e^−½)/(1 − e^−1)
    ln2 = math.log(2)
    assert stretch([0.5], stretchFactor=ln2, localIntensity=1)[0] == pytest.approx(2 / 3, abs=1e-6)
    assert stretch([0.5], stretchFactor=ln2, localIntensity=-1)[0] == pytest.approx(0.5849625, abs=1e-6)
    assert stretch([0.5], stretchFactor=ln2, localIntensity=0)[0] == pytest.approx(0.6224593, abs=1e-6)


@pytest.mark.parametrize("b", [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 4.0])
@pytest.mark.parametrize("sf", [0.5, 2.0, 5.0])
def test_published_equations_symmetry_point_zero(b, sf):
    xs = [0.0, 0.01, 0.05, 0.2, 0.5, 0.9, 1.0]
    got = stretch(xs, stretchFactor=sf, localIntensity=b)
    np.testing.assert_allclose(got, [published(x, sf, b) for x in xs], atol=2e-6)


def test_published_equations_with_protection_points():
    # b = 2 hyperbolic around SP = 0.3, with linear runs below LP = 0.1 and above HP = 0.8
    sf, b, sp, lp, hp = 3.0, 2.0, 0.3, 0.1, 0.8
    d = math.exp(sf) - 1

    def t1(v):  # T₁ and its slope
        return 1 - (1 + b * d * v) ** (-1 / b), d * (1 + b * d * v) ** (-(1 + b) / b)

    def t(x):
        if x < lp:
            value, slope = t1(sp - lp)
            return -value + slope * (x - lp)
        if x < sp:
            return -t1(sp - x)[0]
        if x < hp:
            return t1(x - sp)[0]
        value, slope = t1(hp - sp)
        return value + slope * (x - hp)

    xs = [0.0, 0.05, 0.1, 0.2, 0.3, 0.35, 0.6, 0.8, 0.9, 1.0]
    expected = [(t(x) - t(0)) / (t(1) - t(0)) for x in xs]
    got = stretch(xs, stretchFactor=sf, localIntensity=b, symmetryPoint=sp, shadowProtection=lp, highlightProtection=hp)
    np.testing.assert_allclose(got, expected, atol=2e-6)


def test_midtones_arcsinh_and_linear_types():
    sf = math.log(2)  # midtones balance m = e^−sf / 2 = 0.25: mtf(0.25, 0.1) = 0.25
    assert stretch([0.1], stretchType="ST_MidtonesTransfer", stretchFactor=sf)[0] == pytest.approx(0.25, abs=1e-6)
    d = math.exp(2.0) - 1
    x = np.array([0.05, 0.3, 0.7])
    np.testing.assert_allclose(
        stretch(x, stretchType="ST_Arcsinh", stretchFactor=2.0), np.arcsinh(d * x) / np.arcsinh(d), atol=2e-6
    )
    lin = stretch([0.05, 0.35, 0.6, 0.9], stretchType="ST_Linear", blackPoint=0.1, whitePoint=0.6)
    np.testing.assert_allclose(lin, [0.0, 0.5, 1.0, 1.0], atol=1e-6)
    back = stretch([0.5], stretchType="ST_Linear", blackPoint=0.1, whitePoint=0.6, inverse=True)
    assert back[0] == pytest.approx(0.35, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["ST_GeneralisedHyperbolic", "ST_MidtonesTransfer", "ST_Arcsinh"]),
    st.floats(0.1, 8), st.floats(-4, 10), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1),
)
def test_inverse_undoes_the_stretch(kind, sf, b, p1, p2, p3):
    lp, sp, hp = sorted((p1, p2, p3))
    params = dict(stretchType=kind, stretchFactor=sf, localIntensity=b, symmetryPoint=sp,
                  shadowProtection=lp, highlightProtection=hp)
    x = np.linspace(0, 1, 41)
    t = GHS(**params).transfer_function()
    forward = t(x)
    back = GHS(**params, inverse=True).transfer_function()(forward)
    np.testing.assert_allclose(t(back), forward, atol=1e-9)
    h = 1e-6
    slope = (t(np.clip(x + h, 0, 1)) - t(np.clip(x - h, 0, 1))) / (2 * h)
    keep = slope > 1e-2  # where the stretch is well conditioned, x itself comes back
    np.testing.assert_allclose(back[keep], x[keep], atol=1e-6)


def colour_image() -> Image:
    rng = np.random.default_rng(5)
    base = rng.uniform(0.05, 0.3, (1, 12, 12))
    tint = np.array([1.0, 0.8, 0.6]).reshape(3, 1, 1)
    return Image((base * tint + rng.uniform(0, 0.02, (3, 12, 12))).astype(np.float32))


def test_single_channel_and_rgb_modes():
    image = colour_image()
    params = dict(stretchFactor=3.0, localIntensity=1.0, symmetryPoint=0.05)
    t = GHS(**params).transfer_function()
    red = GHS(**params, stretchChannel="SC_Red").apply(image, CTX).pixels
    np.testing.assert_allclose(red[0], t(image.pixels[0]), atol=1e-6)
    np.testing.assert_array_equal(red[1:], image.pixels[1:])
    rgb = GHS(**params).apply(image, CTX).pixels
    np.testing.assert_allclose(rgb, t(image.pixels), atol=1e-6)
    grey = Image(image.pixels[:1])
    np.testing.assert_allclose(GHS(**params, stretchChannel="SC_Colour").apply(grey, CTX).pixels, t(grey.pixels),
                               atol=1e-6)


def test_lightness_mode_stretches_l_and_keeps_a_b():
    image = colour_image()
    params = dict(stretchFactor=2.0, localIntensity=0.0, stretchChannel="SC_Lightness")
    t = GHS(**params).transfer_function()
    out = GHS(**params).apply(image, CTX).pixels.astype(np.float64)
    ws = srgb()
    l0, a0, b0 = ws.rgb_to_lab(*image.pixels.astype(np.float64))
    l1, a1, b1 = ws.rgb_to_lab(*out)
    np.testing.assert_allclose(l1, t(l0), atol=2e-5)
    np.testing.assert_allclose(a1, a0, atol=2e-5)
    np.testing.assert_allclose(b1, b0, atol=2e-5)


def test_saturation_mode():
    image = colour_image()
    params = dict(stretchFactor=1.5, localIntensity=0.0, stretchChannel="SC_Saturation")
    t = GHS(**params).transfer_function()
    out = GHS(**params).apply(image, CTX).pixels.astype(np.float64)
    _, s0, _ = rgb_to_hsv(*image.pixels.astype(np.float64))
    _, s1, _ = rgb_to_hsv(*out)
    ws = srgb()
    np.testing.assert_allclose(ws.lightness(*out), ws.lightness(*image.pixels.astype(np.float64)), atol=2e-5)
    assert np.all(s1 > s0)  # saturation increased by the stretch (exact S is not kept: L* is restored)
    assert np.all(t(s0) > s0)


@pytest.mark.parametrize("weights_from_ws", [False, True])
def test_colour_mode_keeps_colour_ratios(weights_from_ws):
    image = Image(colour_image().pixels * np.float32(0.5))
    params = dict(stretchFactor=1.0, localIntensity=0.0, stretchChannel="SC_Colour", clipType="CT_Clip",
                  useRGBWorkingSpace=weights_from_ws)
    t = GHS(**params).transfer_function()
    rgb = image.pixels.astype(np.float64)
    w = srgb().luminance if weights_from_ws else np.full(3, 1 / 3)
    lum = np.tensordot(w, rgb, axes=1)
    expected = np.clip(rgb * (t(lum) / lum), 0, 1)
    out = GHS(**params).apply(image, CTX).pixels
    np.testing.assert_allclose(out, expected, atol=2e-6)


def test_colour_clip_types():
    image = colour_image()
    strong = dict(stretchFactor=6.0, localIntensity=2.0, stretchChannel="SC_Colour")
    rgb = image.pixels.astype(np.float64)
    t = GHS(**strong).transfer_function()
    lum = rgb.mean(axis=0)
    scaled = rgb * (t(lum) / lum)
    rescaled = GHS(**strong, clipType="CT_Rescale").apply(image, CTX).pixels
    peak = scaled.max(axis=0)
    np.testing.assert_allclose(rescaled, np.where(peak > 1, scaled / np.maximum(peak, 1), scaled), atol=2e-6)
    global_ = GHS(**strong, clipType="CT_RescaleGlobal").apply(image, CTX).pixels
    np.testing.assert_allclose(global_, scaled / max(1.0, scaled.max()), atol=2e-6)
    per_channel = GHS(**strong, clipType="CT_RGBBlend", colourBlend=0.0).apply(image, CTX).pixels
    np.testing.assert_allclose(per_channel, t(rgb), atol=2e-6)
    blended = GHS(**strong, clipType="CT_RGBBlend").apply(image, CTX).pixels
    assert blended.max() <= 1.0 and blended.min() >= 0.0


def test_validation():
    with pytest.raises(ParameterError, match="symmetryPoint"):
        GHS(symmetryPoint=0.5, highlightProtection=0.4)
    with pytest.raises(ParameterError, match="blackPoint"):
        GHS(blackPoint=0.5, whitePoint=0.5)
    with pytest.raises(ParameterError, match="stretchFactor"):
        GHS(stretchFactor=21)
    assert GHS.schema()["stretchChannel"].element_ids() == [
        "SC_Red", "SC_Green", "SC_Blue", "SC_RGB", "SC_Lightness", "SC_Saturation", "SC_Colour"
    ]


def test_corpus_ghs_icons_run():
    icons = corpus_instances("GeneralizedHyperbolicStretch")
    assert len(icons) == 5
    image = colour_image()
    for label, ghs in icons:
        assert ghs.stretchType == "ST_GeneralisedHyperbolic" and ghs.clipType == "CT_RGBBlend", label
        out = ghs.apply(image, CTX)  # stretchFactor 0: the identity stretch
        np.testing.assert_array_equal(out.pixels, image.pixels)
        stretched = ghs.evolve(stretchFactor=2.5, localIntensity=1.5).apply(image, CTX).pixels
        assert stretched.dtype == np.float32 and float(stretched.mean()) > float(image.pixels.mean())


def test_conformance():
    check_process(GHS).raise_if_failed()
