"""ArcsinhStretch: PixInsight's parameters, the stretch law, colour kept, highlights protected."""

from __future__ import annotations

import math

import numpy as np
import pytest

from processes.intensity.arcsinh import ArcsinhStretch, asinh_parameter
from procfw.errors import ExecutionError
from procfw.image import Image
from procfw.process import ExecutionContext
from procfw.testing import check_process


def _sky(seed: int = 3) -> Image:
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.01, 0.2, (1, 24, 32))
    colour = np.array([1.0, 0.8, 0.6])[:, None, None]
    pixels = (base * colour).astype(np.float32)
    pixels[:, 5, 7] = [0.9, 0.7, 0.5]  # a star
    return Image(pixels)


def test_schema_is_pixinsights():
    schema = ArcsinhStretch.schema()
    assert list(schema) == ["stretch", "blackPoint", "protectHighlights", "useRGBWS", "previewClipped"]
    assert (schema["stretch"].minimum, schema["stretch"].maximum, schema["stretch"].precision) == (1, 1000, 2)
    assert (schema["blackPoint"].maximum, schema["blackPoint"].precision) == (0.2, 6)
    assert ArcsinhStretch().previewClipped is True and ArcsinhStretch().protectHighlights is False
    check_process(ArcsinhStretch).raise_if_failed()


@pytest.mark.parametrize("stretch", [1.5, 10, 100, 999])
def test_the_parameter_solves_a_over_asinh_a(stretch: float):
    a = asinh_parameter(stretch)
    assert a / math.asinh(a) == pytest.approx(stretch, rel=1e-3)


def test_stretch_one_is_a_linear_rescale_and_faint_pixels_gain_the_stretch_factor():
    image = _sky()
    linear = ArcsinhStretch(stretch=1, blackPoint=0.005).apply(image, ExecutionContext()).pixels
    expected = np.clip((image.pixels - 0.005) / (image.pixels.max() - 0.005), 0, 1)
    np.testing.assert_allclose(linear, expected, rtol=1e-5, atol=1e-7)
    stretched = ArcsinhStretch(stretch=50).apply(image, ExecutionContext()).pixels
    faint = image.pixels[:, 0, 0] / image.pixels.max()
    gain = stretched[:, 0, 0] / faint
    assert 10 < gain.mean() < 50  # amplified, by less than the limit for r -> 0
    star = stretched[:, 5, 7] / (image.pixels[:, 5, 7] / image.pixels.max())
    assert star.mean() < gain.mean()  # bright pixels gain less: a non-linear stretch


def test_colour_ratios_are_kept_and_highlights_protected():
    image = _sky()
    out = ArcsinhStretch(stretch=30, protectHighlights=True).apply(image, ExecutionContext()).pixels
    np.testing.assert_allclose(out[0] / out[1], image.pixels[0] / image.pixels[1], rtol=1e-4)
    np.testing.assert_allclose(out[2] / out[1], image.pixels[2] / image.pixels[1], rtol=1e-4)
    assert out.max() == pytest.approx(1.0, abs=1e-6)
    weighted = ArcsinhStretch(stretch=30, useRGBWS=True).apply(image, ExecutionContext()).pixels
    assert not np.allclose(weighted, ArcsinhStretch(stretch=30).apply(image, ExecutionContext()).pixels)


def test_a_black_point_above_the_maximum_is_a_clear_error():
    with pytest.raises(ExecutionError, match="not above the black point"):
        ArcsinhStretch(blackPoint=0.2).apply(Image(np.full((1, 2, 2), 0.1, np.float32)), ExecutionContext())
