"""DynamicBackgroundExtraction: a smoothed thin-plate spline recovers a flat sky; icons run on any size.

Figures measured (360×540 synthetic sky, σ = 0.004; automatic samples, 15 per row, radius 12,
smoothing 0.25; residual = peak-to-peak of the 24×24-block medians of corrected − matched
truth, in σ): linear 28.4 → 0.44, quadratic 19.0 → 0.45, vignetting (Divide) 13.0 → 0.76,
no gradient 0.40.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from processes.background.dbe import DynamicBackgroundExtraction
from procfw.errors import ExecutionError, ParameterError
from procfw.icons import dumps_icons, loads_icons
from procfw.image import Image
from procfw.process import ExecutionContext
from procfw.testing import check_process
from procfw.workspace import Workspace

sys.path.insert(0, str(Path(__file__).parent))
from background_synthetic import LEVEL, SIGMA, gradient, residual_ratio, sky  # noqa: E402

TRUTH = sky("none")
AUTO = {"defaultSampleRadius": 12, "samplesPerRow": 15}


def _correct(pixels: np.ndarray, **params) -> Image:
    process = DynamicBackgroundExtraction(replaceTarget=True, discardModel=True, normalize=True, **params)
    return process.apply(Image(pixels), ExecutionContext()).image


def test_schema_is_pixinsights():
    schema = DynamicBackgroundExtraction.schema()
    assert list(schema)[:6] == ["data", "numberOfChannels", "derivativeOrder", "smoothing", "ignoreWeights", "modelId"]
    assert [c.id for c in schema["data"].columns] == ["x", "y", "z0", "w0", "z1", "w1", "z2", "w2"]
    assert [c.id for c in schema["samples"].columns] == ["x", "y", "radius", "symmetries", "axialCount", "isFixed",
                                                         "z0", "w0", "z1", "w1", "z2", "w2"]
    assert list(schema)[-6:] == ["sampleColor", "selectedSampleColor", "selectedSampleFillColor", "badSampleColor",
                                 "badSampleFillColor", "axisColor"]
    precisions = {"smoothing": 3, "symmetryCenterX": 6, "symmetryCenterY": 6, "tolerance": 3, "shadowsRelaxation": 3,
                  "minSampleFraction": 3, "minWeight": 3}
    assert {k: schema[k].precision for k in precisions} == precisions
    assert [c.precision for c in schema["data"].columns] == [8, 8, 8, 3, 8, 3, 8, 3]
    assert [c.precision for c in schema["samples"].columns[6:]] == [6, 3, 6, 3, 6, 3]
    check_process(DynamicBackgroundExtraction).raise_if_failed()


@pytest.mark.parametrize("kind", ["none", "linear", "quadratic"])
def test_subtraction_recovers_the_flat_background_within_the_noise(kind: str):
    pixels = sky(kind)
    after = residual_ratio(_correct(pixels, targetCorrection="Subtract", **AUTO).pixels[0], TRUTH[0])
    assert after < 0.8, after  # measured: none 0.40, linear 0.44, quadratic 0.45


def test_division_recovers_a_vignetted_sky_within_the_noise():
    pixels = sky("vignetting")
    after = residual_ratio(_correct(pixels, targetCorrection="Divide", **AUTO).pixels[0], TRUTH[0])
    assert after < 1.2, after  # measured 0.76


def test_too_much_smoothing_cannot_follow_a_curved_gradient():
    after = residual_ratio(_correct(sky("quadratic"), targetCorrection="Subtract", smoothing=10, **AUTO).pixels[0],
                           TRUTH[0])
    assert after > 1.5, after  # the figure above can fail


def _placed(height: int, width: int) -> tuple:
    rng = np.random.default_rng(3)
    rows = []
    for _ in range(40):
        x, y = int(rng.integers(10, width - 10)), int(rng.integers(10, height - 10))
        rows.append((x, y, 8, 0, 6, 0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0))
    return tuple(rows)


def test_a_procfw_icon_runs_on_an_image_of_another_size():
    instance = DynamicBackgroundExtraction(samples=_placed(360, 540), imageWidth=540, imageHeight=360,
                                           targetCorrection="Subtract", normalize=True, replaceTarget=True,
                                           discardModel=True)
    text = dumps_icons({"dbe": instance}, "xpsm")
    assert '<table id="samples" rows="40">' in text
    back = loads_icons(text, "xpsm").icons["dbe"]
    assert back == instance
    for fmt in ("json", "console"):
        assert loads_icons(dumps_icons({"dbe": instance}, fmt), fmt).icons["dbe"] == instance
    for height, width in [(360, 540), (180, 270), (500, 333)]:
        pixels = sky("linear", height, width, seed=4)
        out = back.apply(Image(pixels), ExecutionContext()).image.pixels[0]
        truth = sky("none", height, width, seed=4)[0]
        assert residual_ratio(out, truth, block=12) < 1.5, (height, width)
        assert residual_ratio(pixels[0], truth, block=12) > 10


def test_the_data_table_and_fixed_samples():
    rows = [(x, y, LEVEL, 1.0, LEVEL, 1.0, LEVEL, 1.0) for x in (0.1, 0.5, 0.9) for y in (0.1, 0.5, 0.9)]
    out = DynamicBackgroundExtraction(data=rows, defaultSampleRadius=10).apply(Image(sky("linear")),
                                                                               ExecutionContext())
    model = out.new_images["image_background"].pixels[0]
    truth = LEVEL + gradient("linear", 360, 540)
    assert np.abs(model - truth)[20:-20, 20:-20].max() < 0.25 * 0.04  # a plane through measured samples
    fixed = [(int(x * 539), int(y * 359), 5, 0, 6, 1, 0.2, 1.0, 0.2, 1.0, 0.2, 1.0) for x, y, *_ in rows]
    flat = DynamicBackgroundExtraction(samples=fixed, imageWidth=540, imageHeight=360).apply(
        Image(sky("linear")), ExecutionContext()).new_images["image_background"].pixels[0]
    np.testing.assert_allclose(flat, 0.2, atol=1e-5)  # fixed samples keep their stored values


def test_bad_input_is_named():
    with pytest.raises(ParameterError, match="imageWidth"):
        DynamicBackgroundExtraction(samples=_placed(100, 100))
    with pytest.raises(ParameterError, match="smoothing"):
        DynamicBackgroundExtraction(smoothing=-1)
    with pytest.raises(ExecutionError, match="usable samples"):
        DynamicBackgroundExtraction(data=[(0.5, 0.5, 0, 1, 0, 1, 0, 1)]).apply(Image(sky("none", 60, 80)),
                                                                              ExecutionContext())


def test_model_and_corrected_images_open_as_named():
    ws = Workspace()
    window = ws.add_image(Image(sky("quadratic", channels=3)), "NGC7000")
    result = DynamicBackgroundExtraction(targetCorrection="Subtract", **AUTO).execute_on(window.main_view)
    assert set(result.created) == {"NGC7000_background", "NGC7000_DBE"}
    model = ws.window("NGC7000_background").main_view.image.pixels
    truth = LEVEL * np.array([1, 1.2, 1.4])[:, None, None] + gradient("quadratic", 360, 540)[None]
    assert np.abs(model - truth)[:, 12:-12, 12:-12].max() < 4 * SIGMA
