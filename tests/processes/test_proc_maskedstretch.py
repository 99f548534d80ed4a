"""MaskedStretch: PixInsight's parameters; the background reaches the target, stars are not blown out."""

from __future__ import annotations

import numpy as np
import pytest

from processes.intensity.maskedstretch import MaskedStretch, clipping_point, initial_background, stretch_balances
from processes.kernels.mtf import mtf
from procfw.errors import ExecutionError
from procfw.image import Image
from procfw.process import ExecutionContext
from procfw.testing import check_process


def _field(channels: int = 3, seed: int = 5) -> Image:
    rng = np.random.default_rng(seed)
    sky = 0.01 + 0.0005 * rng.standard_normal((64, 64))
    yy, xx = np.mgrid[:64, :64]
    for y, x, peak in ((16, 20, 0.6), (40, 44, 0.9), (50, 12, 0.3)):
        sky = sky + peak * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 1.5**2))
    colour = np.array([1.0, 0.9, 0.8][:channels])[:, None, None]
    return Image(np.clip(sky[None] * colour, 0, 1).astype(np.float32))


def test_schema_is_pixinsights():
    schema = MaskedStretch.schema()
    assert list(schema)[:6] == ["targetBackground", "numberOfIterations", "clippingFraction",
                                "backgroundReferenceViewId", "backgroundLow", "backgroundHigh"]
    assert MaskedStretch().targetBackground == 0.125 and MaskedStretch().numberOfIterations == 100
    assert MaskedStretch().clippingFraction == 0.0005 and MaskedStretch().backgroundHigh == 0.05
    assert [e for e, _ in schema["maskType"].elements] == ["MaskType_Intensity", "MaskType_Value"]
    # the conformance image is a ramp over [0, 1]: a background range and target that fit it
    check_process(MaskedStretch, instance=MaskedStretch(backgroundHigh=0.5, targetBackground=0.7)).raise_if_failed()


def test_the_balances_walk_the_background_to_the_target():
    background = 0.01
    for m in stretch_balances(background, 0.125, 50):
        background = background * background + (1 - background) * float(mtf(m, background))
    assert background == pytest.approx(0.125, rel=0.01)  # PixInsight's walk ends close to, not at, the target


def test_clipping_point_clips_the_asked_fraction():
    samples = np.linspace(0, 1, 100001)[None]
    assert clipping_point(samples, 0.01) == pytest.approx(0.01, abs=2e-5)
    assert initial_background(np.array([[[0.02, 0.03, 0.5]]]), 0, 0.05) == pytest.approx(0.025)


@pytest.mark.parametrize("channels", [1, 3])
def test_background_reaches_the_target_and_stars_keep_their_shape(channels: int):
    image = _field(channels)
    result = MaskedStretch(numberOfIterations=50).apply(image, ExecutionContext())
    out = result.image.pixels
    background = np.median(out.mean(axis=0))
    assert background == pytest.approx(0.125, abs=0.02)
    assert out.max() < 0.999  # the brightest star is not blown out to white
    star = out[:, 40, 44].mean()
    assert star > 0.9 * image.pixels[:, 40, 44].mean()  # bright pixels barely change
    clip = result.outputs["clippingPoint"]
    assert 0 < (image.pixels < clip).mean() <= 0.0005 * channels  # the darkest samples of a channel go black
    shifted = (image.pixels.astype(np.float64) - clip) / (1 - clip)
    assert result.outputs["initialBackground"] == pytest.approx(np.median(shifted.mean(axis=0)), rel=0.05)
    if channels == 3:  # colour order kept
        assert (out[0] >= out[2] - 1e-6).mean() > 0.99


def test_value_mask_differs_and_errors_are_clear():
    image = _field(3)
    a = MaskedStretch(numberOfIterations=20).apply(image, ExecutionContext()).image.pixels
    b = MaskedStretch(numberOfIterations=20, maskType="MaskType_Value").apply(image, ExecutionContext()).image.pixels
    assert not np.allclose(a, b)
    with pytest.raises(ExecutionError, match="not below targetBackground"):
        MaskedStretch(targetBackground=0.001).apply(image, ExecutionContext())
    with pytest.raises(ExecutionError, match="black image"):
        MaskedStretch().apply(Image(np.zeros((1, 8, 8), np.float32)), ExecutionContext())
