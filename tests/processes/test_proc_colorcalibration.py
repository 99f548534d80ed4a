"""ColorCalibration: PCL's parameters; known channel factors restored from a simulated RGB star
field; PCL's calibration formula; references as other views, previews and ROIs; reference masks;
errors that name what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from processes.color.calibration import ColorCalibration, structure_map
from processes.simulation.starfield import random_field, render_stars
from procfw.errors import ExecutionError, ParameterError
from procfw.icons import dumps_icons, loads_icons
from procfw.image import Image
from procfw.registry import processes
from procfw.testing import check_process
from procfw.workspace import Workspace

FACTORS = np.array([0.8, 1.0, 0.55])  # what the "camera" did to each channel of white stars
OFFSETS = np.array([0.01, 0.02, 0.005])
SKY = 0.03


def field(seed: int = 5, size: int = 256, factors: np.ndarray = FACTORS) -> tuple[np.ndarray, np.ndarray]:
    """(RGB pixels, star-only signal): white stars on a grey sky, times ``factors``, plus OFFSETS and noise."""
    xy, flux = random_field(150, size, size, seed=seed, margin=5, peaks=(0.02, 0.5))
    stars = render_stars(xy, flux, size, size, sigma=1.5, background=0.0)
    rng = np.random.default_rng(seed)
    rgb = np.stack([factors[c] * (stars + SKY) + OFFSETS[c] + rng.normal(0, 0.002, stars.shape) for c in range(3)])
    return np.clip(rgb, 0, 1).astype(np.float32), stars


def run(process: ColorCalibration, pixels: np.ndarray, **others: np.ndarray):
    workspace = Workspace()
    view = workspace.add_image(Image(pixels), "img").main_view
    for name, data in others.items():
        workspace.add_image(Image(data), name)
    result = process.execute_on(view)
    return workspace, view, result


def factors_of(result) -> np.ndarray:
    return np.array([result.outputs[f"factor{c}"] for c in "RGB"])


# -- schema, icons, describe ---------------------------------------------------------------
PCL_IDS = ["whiteReferenceViewId", "whiteLow", "whiteHigh", "whiteUseROI", "whiteROIX0", "whiteROIY0", "whiteROIX1",
           "whiteROIY1", "structureDetection", "structureLayers", "noiseLayers", "manualWhiteBalance",
           "manualRedFactor", "manualGreenFactor", "manualBlueFactor", "backgroundReferenceViewId", "backgroundLow",
           "backgroundHigh", "backgroundUseROI", "backgroundROIX0", "backgroundROIY0", "backgroundROIX1",
           "backgroundROIY1", "outputWhiteReferenceMask", "outputBackgroundReferenceMask"]


def test_schema_is_pcls():
    schema = ColorCalibration.schema()
    assert list(schema) == PCL_IDS
    d = ColorCalibration()
    assert (d.whiteHigh, d.backgroundHigh) == (pytest.approx(0.9), pytest.approx(0.1))
    assert (d.structureDetection, d.structureLayers, d.noiseLayers, d.manualWhiteBalance) == (True, 5, 1, False)
    assert (schema["structureLayers"].minimum, schema["structureLayers"].maximum) == (2, 8)
    assert (schema["noiseLayers"].minimum, schema["noiseLayers"].maximum) == (0, 4)
    assert schema["whiteROIX1"].maximum == 2**31 - 1 and schema["manualRedFactor"].precision == 4
    assert processes.get("ColorCalibration") is ColorCalibration
    check_process(ColorCalibration).raise_if_failed()
    with pytest.raises(ParameterError, match="ColorCalibration: parameter structureLayers"):
        ColorCalibration(structureLayers=9)


def test_icon_round_trip_and_describe(capsys):
    from procfw.cli import main

    cc = ColorCalibration(whiteReferenceViewId="ref->stars", whiteLow=0.0012345, whiteUseROI=True, whiteROIX1=40,
                          whiteROIY1=30, structureLayers=6, noiseLayers=2, manualBlueFactor=0.5,
                          backgroundReferenceViewId="sky", outputWhiteReferenceMask=True)
    text = dumps_icons({"CC": cc}, "xpsm")
    assert 'class="ColorCalibration" version="256"' in text and '<parameter id="whiteLow" value="0.0012345"/>' in text
    assert loads_icons(text, "xpsm").icons["CC"] == cc
    assert main(["describe", "ColorCalibration"]) in (0, None)
    shown = capsys.readouterr().out
    assert all(f"-{pid}" in shown for pid in PCL_IDS)


# -- the calibration --------------------------------------------------------------------------
def test_known_channel_factors_are_restored_within_one_percent():
    pixels, stars = field()
    workspace, view, result = run(ColorCalibration(), pixels)
    factors = factors_of(result)
    # PCL normalizes to the channel with the largest white reference: green here (factor 1)
    assert factors[1] == 1.0
    restored = factors * FACTORS / FACTORS[1]  # 1 for every channel when the camera's factors are undone
    np.testing.assert_allclose(restored, 1, rtol=0.01)
    background = np.array([result.outputs[f"background{c}"] for c in "RGB"])
    np.testing.assert_allclose(background, FACTORS * SKY + OFFSETS, atol=5e-4)
    # the calibrated image: star light equal in R, G, B; the background where it was
    out = view.image.pixels.astype(np.float64)
    bright = stars > 0.1
    light = [(out[c][bright] - background[c]).sum() for c in range(3)]
    np.testing.assert_allclose(np.array(light) / light[1], 1, rtol=0.01)
    sky = stars < 1e-4
    np.testing.assert_allclose([np.median(out[c][sky]) for c in range(3)], background, atol=5e-4)
    assert view.image.pixels.dtype == np.float32 and len(view.history.processes()) == 1
    history = [k.value for k in view.image.keywords if k.name == "HISTORY"]
    assert history == [f"ColorCalibration: factors {factors[0]:.5f} 1.00000 {factors[2]:.5f}, background "
                       + " ".join(f"{b:.5e}" for b in background)]


def test_without_structure_detection_the_whole_image_is_the_white_reference():
    pixels, _ = field()
    cc = ColorCalibration(structureDetection=False)
    _, _, result = run(cc, pixels)
    rgb = pixels.astype(np.float64)
    inside = np.all((rgb > 0) & (rgb < 0.9), axis=0)
    white = np.array([rgb[c][inside].mean() for c in range(3)])
    background = np.array([result.outputs[f"background{c}"] for c in "RGB"])
    w = np.abs(white - background)
    np.testing.assert_allclose(factors_of(result), w.max() / w, rtol=1e-9)


def test_manual_white_balance_is_pcls_formula():
    rgb = np.random.default_rng(4).uniform(0.02, 0.6, (3, 20, 30)).astype(np.float32)
    cc = ColorCalibration(manualWhiteBalance=True, manualRedFactor=0.5, manualGreenFactor=1, manualBlueFactor=0.75,
                          backgroundHigh=0.2)
    _, view, result = run(cc, rgb)
    data = rgb.astype(np.float64)
    selected = np.all((data > 0) & (data < 0.2), axis=0)
    bg = np.array([np.median(data[c][selected]) for c in range(3)])
    k = np.array([0.5, 1, 0.75])
    np.testing.assert_allclose(view.image.pixels, (data - bg[:, None, None]) * k[:, None, None] + bg[:, None, None],
                               atol=1e-6)
    np.testing.assert_array_equal(factors_of(result), k)
    none = ColorCalibration(manualWhiteBalance=True, manualRedFactor=0.9, backgroundLow=0.7, backgroundHigh=0.8)
    _, view, _ = run(none, rgb)  # no background pixel: b = 0
    np.testing.assert_allclose(view.image.pixels, data * np.array([0.9, 1, 1])[:, None, None], atol=1e-6)


def test_results_out_of_range_are_rescaled_together_as_pcls_normalize():
    pixels, _ = field()
    pixels[:, 5:8, 5:8] = 0.95  # saturated: outside the white reference, and pushed above 1 by the blue factor
    _, view, result = run(ColorCalibration(), pixels)
    bg = np.array([result.outputs[f"background{c}"] for c in "RGB"])[:, None, None]
    raw = (pixels.astype(np.float64) - bg) * factors_of(result)[:, None, None] + bg
    assert raw.max() > 1
    np.testing.assert_allclose(view.image.pixels, (raw - raw.min()) / (raw.max() - raw.min()), atol=1e-6)


def test_references_from_other_views_previews_and_rois():
    pixels, _ = field()
    other, _ = field(seed=8)  # other stars, the same camera and sky
    # white reference: another image; background: the target
    _, _, result = run(ColorCalibration(whiteReferenceViewId="ref"), pixels, ref=other)
    np.testing.assert_allclose(factors_of(result) * FACTORS / FACTORS[1], 1.0, rtol=0.01)
    # a preview as the white reference equals the same rectangle as a ROI of the view
    workspace = Workspace()
    window = workspace.add_image(Image(pixels), "img")
    window.add_preview(0, 0, 128, 256, "left")
    by_preview = ColorCalibration(whiteReferenceViewId="img->left", structureDetection=False).execute_on(
        window.main_view)
    _, _, by_roi = run(ColorCalibration(structureDetection=False, whiteUseROI=True, whiteROIX1=128, whiteROIY1=256),
                       pixels)
    np.testing.assert_allclose(factors_of(by_preview), factors_of(by_roi), rtol=1e-12)
    # background ROI in a patch of pure sky: the same background as the sky pixels' medians
    sky = np.full((3, 64, 64), 0.0, np.float32) + (FACTORS * SKY + OFFSETS)[:, None, None].astype(np.float32)
    _, _, result = run(ColorCalibration(backgroundReferenceViewId="sky", backgroundUseROI=True, backgroundROIX0=10,
                                        backgroundROIY0=10, backgroundROIX1=20, backgroundROIY1=20), pixels, sky=sky)
    np.testing.assert_allclose([result.outputs[f"background{c}"] for c in "RGB"], sky[:, 0, 0], rtol=1e-6)


def test_reference_masks_open_as_windows():
    pixels, _ = field()
    cc = ColorCalibration(outputWhiteReferenceMask=True, outputBackgroundReferenceMask=True)
    workspace, _, result = run(cc, pixels)
    assert set(result.created) == {"img_white", "img_background"}
    white = workspace.view("img_white").image.pixels[0]
    background = workspace.view("img_background").image.pixels[0]
    assert set(np.unique(white)) == {0.0, 1.0} and set(np.unique(background)) == {0.0, 1.0}
    detected = structure_map(pixels.astype(np.float64).mean(axis=0), 5, 1)
    assert np.all(white <= detected) and 0.01 < white.mean() < 0.3  # stars only
    assert background.mean() > 0.5 and not np.any((white == 1) & (background == 1) & (pixels.max(axis=0) > 0.1))


def test_errors_name_what_is_wrong():
    grey = np.random.default_rng(0).uniform(0, 1, (1, 8, 8)).astype(np.float32)
    workspace = Workspace()
    view = workspace.add_image(Image(grey), "mono").main_view
    ok, why = ColorCalibration().can_execute_on(view)
    assert not ok and "color images" in why
    with pytest.raises(ExecutionError, match="color images"):
        ColorCalibration().execute_on(view)
    pixels, _ = field(size=64)
    with pytest.raises(ExecutionError, match="no such view \\(white reference\\).*nowhere"):
        run(ColorCalibration(whiteReferenceViewId="nowhere"), pixels)
    with pytest.raises(ExecutionError, match="background reference view must be a color image: mono"):
        run(ColorCalibration(backgroundReferenceViewId="mono"), pixels, mono=grey)
    with pytest.raises(ExecutionError, match="empty white reference ROI"):
        run(ColorCalibration(whiteUseROI=True, whiteROIX0=5, whiteROIX1=5, whiteROIY1=9), pixels)
    with pytest.raises(ExecutionError, match="no significant white reference pixels for channel #0 \\(R\\)"):
        run(ColorCalibration(structureDetection=False, whiteLow=0.95), pixels)


def test_structure_map_is_pcls_four_passes():
    """The streamed structure map equals PCL's passes written out with every layer held."""
    from processes.kernels.multiscale import LINEAR_INTERPOLATION, starlet

    pixels, _ = field(size=96)
    m = pixels.astype(np.float64).mean(axis=0)
    expected = m.copy()
    for _ in range(4):
        details, residual = starlet(expected, 5, scaling_function=LINEAR_INTERPOLATION)
        np.testing.assert_allclose(sum(details) + residual, expected, atol=1e-12)  # a perfect split
        noise = np.clip(details[0] + residual, 0, 1)
        expected = np.clip(expected - noise, 0, 1)
        expected = (expected - expected.min()) / (expected.max() - expected.min())
    np.testing.assert_array_equal(structure_map(m, 5, 1), (expected >= 0.0005).astype(float))
