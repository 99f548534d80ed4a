"""The multiscale engine (starlet, multiscale linear, multiscale median) and the wavelet
processes MultiscaleLinearTransform and ATrousWaveletTransform."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from processes.kernels import multiscale as ms
from processes.multiscale.common import B3_5
from processes.multiscale.wavelets import ATrousWaveletTransform, MultiscaleLinearTransform
from procfw.errors import ExecutionError, ParameterError
from procfw.icons import dumps_icons, loads_icons
from procfw.image import Image
from procfw.process import ExecutionContext
from procfw.testing import check_process

RNG = np.random.default_rng(17)
KNOWN_B3 = (0.8907, 0.2007, 0.0856, 0.0413, 0.0205)


@pytest.mark.parametrize("transform", [ms.starlet, ms.multiscale_linear, ms.multiscale_median])
def test_layers_and_residual_add_up_to_the_plane(transform):
    plane = RNG.uniform(0, 1, (96, 80)).astype(np.float32)
    details, residual = transform(plane, 5)
    assert len(details) == 5 and all(w.dtype == np.float32 for w in details)
    error = np.abs(np.sum(details, axis=0) + residual - plane).max()
    assert error < 4 * np.finfo(np.float32).eps  # float32 rounding only


def test_the_starlet_level_is_the_b3_spline_with_pcl_s_symmetric_edges():
    plane = RNG.uniform(0, 1, (40, 52)).astype(np.float32)
    (w1, w2), residual = ms.starlet(plane, 2)
    b3 = np.array(ms.B3_SPLINE)
    c1 = ndimage.correlate1d(ndimage.correlate1d(plane.astype(np.float64), b3, axis=0, mode="reflect"),
                             b3, axis=1, mode="reflect")
    np.testing.assert_allclose(plane - w1, c1, atol=2e-7)
    holes = np.zeros(9)
    holes[::2] = b3
    c2 = ndimage.correlate1d(ndimage.correlate1d(c1, holes, axis=0, mode="reflect"), holes, axis=1, mode="reflect")
    np.testing.assert_allclose(residual, c2, atol=3e-7)


def test_a_filter_wider_than_the_plane_leaves_zeros_as_pcl_s_does():
    plane = RNG.uniform(0, 1, (20, 20)).astype(np.float32)
    details, residual = ms.starlet(plane, 4)  # scale 8: the B3 spline spans 33 pixels
    assert not residual.any()
    np.testing.assert_allclose(np.sum(details, axis=0), plane, atol=1e-6)


def test_white_noise_layers_have_the_known_starlet_noise_coefficients():
    noise = RNG.normal(0, 1, (1024, 1024)).astype(np.float32)
    details, _ = ms.starlet(noise, 5)
    measured = [float(w[64:-64, 64:-64].std()) for w in details]
    np.testing.assert_allclose(measured, KNOWN_B3, rtol=0.04)
    np.testing.assert_allclose(ms.noise_coefficients("starlet", 5), KNOWN_B3, atol=1e-4)  # rounded in print
    linear3 = ms.noise_coefficients("starlet", 4, ms.LINEAR_INTERPOLATION)
    np.testing.assert_allclose(linear3, (0.8003, 0.2729, 0.1198, 0.0578), atol=1e-4)  # PixInsight's icons


def _star_field(noise_sigma: float, seed: int = 5) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float]]]:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:256, :256]
    clean = np.full((256, 256), 0.1)
    stars = []
    for _ in range(25):
        cy, cx = rng.uniform(20, 236, 2)
        flux, s = rng.uniform(5, 15), 1.8
        clean += flux / (2 * np.pi * s * s) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s))
        stars.append((cy, cx))
    return clean, (clean + rng.normal(0, noise_sigma, clean.shape)).astype(np.float32), stars


def _b3(**values) -> MultiscaleLinearTransform:
    noise = tuple(round(k, 4) for k in ms.noise_coefficients("starlet", 8))
    return MultiscaleLinearTransform(scalingFunctionData=B3_5["data"], scalingFunctionRowFilter=B3_5["row"],
                                     scalingFunctionColFilter=B3_5["row"], scalingFunctionNoiseSigma=noise,
                                     scalingFunctionName=B3_5["name"], **values)


def test_mlt_noise_reduction_lowers_the_background_noise_and_keeps_star_flux():
    _, noisy, stars = _star_field(0.003)
    reduce = (True, True, 0.0, True, 3.0, 1.0, 1)
    keep = (True, True, 0.0, False, 3.0, 1.0, 1)
    process = _b3(layers=(reduce, reduce, reduce, keep, keep))
    out = process.apply(Image(noisy[None]), ExecutionContext()).pixels[0]
    y, x = np.mgrid[:256, :256]
    background = np.ones(noisy.shape, bool)
    for cy, cx in stars:
        background &= (x - cx) ** 2 + (y - cy) ** 2 > 12**2
    before, after = float(noisy[background].std()), float(out[background].std())
    assert after < 0.65 * before  # measured: 0.00300 -> 0.00177
    for cy, cx in stars:
        aperture = (x - cx) ** 2 + (y - cy) ** 2 <= 8**2
        flux_in, flux_out = (noisy[aperture] - 0.1).sum(), (out[aperture] - 0.1).sum()
        assert abs(flux_out / flux_in - 1) < 0.01  # measured: at most 0.45 % (25 stars)
    assert abs(float(out.mean()) - float(noisy.mean())) < 1e-4


def test_disabled_layers_bias_and_the_residual():
    plane = RNG.uniform(0.2, 0.6, (64, 64)).astype(np.float32)
    details, residual = ms.starlet(plane, 4, scaling_function=ms.LINEAR_INTERPOLATION)
    image = Image(plane[None])
    on, off = (True, True, 0.0, False, 3.0, 1.0, 1), (False, True, 0.0, False, 3.0, 1.0, 1)
    boosted = (True, True, 0.5, False, 3.0, 1.0, 1)
    out = MultiscaleLinearTransform(layers=(off, boosted, on, on, on)).apply(image, ExecutionContext()).pixels[0]
    expected = 1.5 * details[1] + details[2] + details[3] + residual
    np.testing.assert_allclose(out, np.clip(expected, 0, 1), atol=2e-6)
    structures = MultiscaleLinearTransform(layers=(on, on, on, on, off)).apply(image, ExecutionContext())
    np.testing.assert_allclose(structures.pixels[0], np.clip(np.sum(details, axis=0), 0, 1), atol=2e-6)
    atwt = ATrousWaveletTransform(layers=(off, boosted, on, on, on)).apply(image, ExecutionContext()).pixels[0]
    np.testing.assert_allclose(atwt, out, atol=1e-7)


def test_the_gaussian_transform_and_the_targets():
    rgb = Image(RNG.uniform(0.2, 0.8, (3, 48, 40)).astype(np.float32))
    on, off = (True, True, 0.0, False, 3.0, 1.0, 1), (False, True, 0.0, False, 3.0, 1.0, 1)
    smooth = MultiscaleLinearTransform(transform="MultiscaleLinearTransform", layers=(off, off, on, on))
    out = smooth.apply(rgb, ExecutionContext()).pixels
    details, residual = ms.multiscale_linear(rgb.pixels[1], 3)
    np.testing.assert_allclose(out[1], details[2] + residual, atol=2e-6)
    luminance_only = smooth.evolve(toChrominance=False).apply(rgb, ExecutionContext()).pixels
    assert luminance_only.shape == rgb.pixels.shape and not np.allclose(luminance_only, out)
    with pytest.raises(ExecutionError, match="toLuminance and toChrominance"):
        smooth.evolve(toLuminance=False, toChrominance=False).apply(rgb, ExecutionContext())
    with pytest.raises(ExecutionError, match="largeScaleFunction=Log10 is not implemented"):
        smooth.evolve(largeScaleFunction="Log10").apply(rgb, ExecutionContext())


@pytest.mark.parametrize("process", [MultiscaleLinearTransform, ATrousWaveletTransform])
def test_deringing_fills_the_dark_ring_of_a_sharpened_star(process):
    yy, xx = np.mgrid[:64, :64]
    star = (0.1 + 0.6 * np.exp(-((xx - 32) ** 2 + (yy - 32) ** 2) / (2 * 2.0**2))).astype(np.float32)
    boost = (True, True, 0.5, False, 3.0, 1.0, 1)
    keep = (True, True, 0.0, False, 3.0, 1.0, 1)
    sharpen = process(layers=(boost, boost, boost, keep, keep), highRange=1.0)  # no rescaling of the peak
    ring = (np.hypot(xx - 32, yy - 32) > 4) & (np.hypot(xx - 32, yy - 32) < 12)

    def run(dark: float) -> tuple[float, float, float]:
        out = sharpen.evolve(deringing=dark > 0, deringingDark=dark).apply(Image(star[None]), ExecutionContext())
        plane = out.pixels[0]  # how far the ring dips under the background; the background; the peak
        return 0.1 - float(plane[ring].min()), float(np.median(plane)), float(plane.max())

    plain, light, strong = run(0.0), run(0.02), run(0.1)
    assert plain[0] > 0.012  # the bias digs a ring (0.017 deep)
    assert light[0] < 0.1 * plain[0] and strong[0] < light[0]  # lifted: 0.017 -> -0.0007 -> -0.0048
    for background, peak in (light[1:], strong[1:]):
        assert background == pytest.approx(0.1, abs=1e-4) and peak == pytest.approx(plain[2], rel=1e-4)


def test_schema_icons_and_bad_values():
    schema = MultiscaleLinearTransform.schema()
    assert list(schema)[:8] == ["layers", "transform", "scaleDelta", "scalingFunctionData", "scalingFunctionRowFilter",
                                "scalingFunctionColFilter", "scalingFunctionNoiseSigma", "scalingFunctionName"]
    assert [c.id for c in schema["layers"].columns] == [
        "enabled", "biasEnabled", "bias", "noiseReductionEnabled", "noiseReductionThreshold", "noiseReductionAmount",
        "noiseReductionIterations"]
    for cls in (MultiscaleLinearTransform, ATrousWaveletTransform):
        check_process(cls).raise_if_failed()
        text = dumps_icons({"w": cls()}, "xpsm")
        assert "<parameter id=\"scalingFunctionRowFilter\">0.5,1,0.5</parameter>" in text
        assert loads_icons(text, "xpsm").icons["w"] == cls()
    js = dumps_icons({"m": MultiscaleLinearTransform()}, "pjsr")
    assert "m.scalingFunctionRowFilter = [0.5,1,0.5];" in js  # as PixInsight's generated code has it
    kind = MultiscaleLinearTransform.schema()["scalingFunctionData"]
    assert kind.parse("0.003906,0.015625, 1") == (0.003906, 0.015625, 1.0)
    assert kind.format((1 / 256, 0.0625, 1.0)) == "0.003906,0.0625,1"  # PixInsight's 6 decimals, no trailing 0
    with pytest.raises(ParameterError, match="scalingFunctionNoiseSigma"):
        MultiscaleLinearTransform(scalingFunctionNoiseSigma="0.8,zz")
    with pytest.raises(ParameterError, match="scalingFunctionRowFilter"):
        MultiscaleLinearTransform(scalingFunctionRowFilter=(0.5, 0.5), scalingFunctionColFilter=(0.5, 0.5))
    with pytest.raises(ParameterError, match="layers"):
        MultiscaleLinearTransform(layers=((True, True, 0.0, False, 3.0, 2.0, 1),) * 3)


def test_mmt_removes_impulses_keeps_edges_and_reduces_noise():
    from processes.multiscale.median import MultiscaleMedianTransform

    plane = np.full((64, 64), 0.2, np.float32)
    plane[:, 32:] = 0.6  # an edge
    spiky = plane.copy()
    spiky[10, 10] = spiky[40, 50] = 1.0  # two hot pixels: all in the first median layer
    on, off = (True, True, 0.0, False, 1.0, 1.0, 0.0), (False, True, 0.0, False, 1.0, 1.0, 0.0)
    out = MultiscaleMedianTransform(layers=(off, on, on, on, on)).apply(Image(spiky[None]), ExecutionContext())
    np.testing.assert_allclose(out.pixels[0], plane, atol=1e-6)  # the median transform keeps the edge exactly
    noisy = (plane + RNG.normal(0, 0.01, plane.shape)).astype(np.float32)
    reduce = (True, True, 0.0, True, 3.0, 1.0, 0.0)
    for transform in ("MultiscaleMedianTransform", "MedianWaveletTransform"):
        process = MultiscaleMedianTransform(transform=transform, layers=(reduce, reduce, on, on))
        smooth = process.apply(Image(noisy[None]), ExecutionContext()).pixels[0]
        assert float((smooth - plane)[4:-4, 4:28].std()) < 0.8 * float((noisy - plane)[4:-4, 4:28].std())
    check_process(MultiscaleMedianTransform).raise_if_failed()
    with pytest.raises(ExecutionError, match="noiseReductionAdaptive"):
        MultiscaleMedianTransform(layers=((True, True, 0.0, True, 1.0, 1.0, 0.2), on)).apply(
            Image(noisy[None]), ExecutionContext())


ATWT_ICON = """<?xml version="1.0" encoding="UTF-8"?>
<xpsm version="1.0" xmlns="http://www.pixinsight.com/xpsm" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" \
xsi:schemaLocation="http://www.pixinsight.com/xpsm http://pixinsight.com/xpsm/xpsm-1.0.xsd">
   <instance class="ATrousWaveletTransform" version="256" id="Wavelets_instance">
      <table id="layers" rows="3">
         <tr>
            <td id="enabled" value="false"/>
            <td id="biasEnabled" value="true"/>
            <td id="bias" value="0.000"/>
            <td id="noiseReductionEnabled" value="false"/>
            <td id="noiseReductionThreshold" value="3.000"/>
            <td id="noiseReductionAmount" value="1.00"/>
            <td id="noiseReductionIterations" value="1"/>
         </tr>
         <tr>
            <td id="enabled" value="true"/>
            <td id="biasEnabled" value="true"/>
            <td id="bias" value="0.250"/>
            <td id="noiseReductionEnabled" value="true"/>
            <td id="noiseReductionThreshold" value="2.500"/>
            <td id="noiseReductionAmount" value="0.50"/>
            <td id="noiseReductionIterations" value="2"/>
         </tr>
         <tr>
            <td id="enabled" value="true"/>
            <td id="biasEnabled" value="true"/>
            <td id="bias" value="0.000"/>
            <td id="noiseReductionEnabled" value="false"/>
            <td id="noiseReductionThreshold" value="3.000"/>
            <td id="noiseReductionAmount" value="1.00"/>
            <td id="noiseReductionIterations" value="1"/>
         </tr>
      </table>
      <parameter id="scaleDelta" value="0"/>
      <parameter id="scalingFunctionData">0.003906,0.015625,0.023438,0.015625,0.003906,0.015625,0.0625,0.09375,\
0.0625,0.015625,0.023438,0.09375,0.140625,0.09375,0.023438,0.015625,0.0625,0.09375,0.0625,0.015625,0.003906,0.015625,\
0.023438,0.015625,0.003906</parameter>
      <parameter id="scalingFunctionRowFilter">0.0625,0.25,0.375,0.25,0.0625</parameter>
      <parameter id="scalingFunctionColFilter">0.0625,0.25,0.375,0.25,0.0625</parameter>
      <parameter id="scalingFunctionNoiseSigma">0.8907,0.2007,0.0856,0.0413,0.0205,0.0103,0.0052,0.0026,\
0.0013,0.0007</parameter>
      <parameter id="scalingFunctionName">B3 Spline (5)</parameter>
      <parameter id="largeScaleFunction" value="NoFunction"/>
      <parameter id="curveBreakPoint" value="0.75"/>
      <parameter id="noiseThresholding" value="false"/>
      <parameter id="noiseThresholdingAmount" value="1.00"/>
      <parameter id="noiseThreshold" value="3.00"/>
      <parameter id="softThresholding" value="true"/>
      <parameter id="useMultiresolutionSupport" value="false"/>
      <parameter id="deringing" value="false"/>
      <parameter id="deringingDark" value="0.1000"/>
      <parameter id="deringingBright" value="0.0000"/>
      <parameter id="outputDeringingMaps" value="false"/>
      <parameter id="lowRange" value="0.0000"/>
      <parameter id="highRange" value="0.0000"/>
      <parameter id="previewMode" value="Disabled"/>
      <parameter id="previewLayer" value="0"/>
      <parameter id="toLuminance" value="true"/>
      <parameter id="toChrominance" value="true"/>
      <parameter id="linear" value="false"/>
   </instance>
   <icon id="Wavelets" instance="Wavelets_instance" xpos="8" ypos="8" workspace="Workspace01"/>
</xpsm>
"""


def _body(text: str) -> list[str]:
    start = text.index("<instance")
    return [line.strip() for line in text[start : text.index("</instance>")].splitlines()[1:]]


def test_an_atwt_icon_as_pixinsight_writes_it_loads_typed_writes_back_and_runs():
    """A hand-written icon in PixInsight's form (the corpus has none of this process): the
    B3 scaling function as PixInsight stores it, 2 layers and the residual."""
    result = loads_icons(ATWT_ICON, "xpsm")
    assert not result.warnings
    instance = result.icons["Wavelets"]
    assert isinstance(instance, ATrousWaveletTransform)
    assert instance.layers[1] == (True, True, 0.25, True, 2.5, 0.5, 2)
    assert instance.scalingFunctionRowFilter == B3_5["row"] and instance.scalingFunctionData == B3_5["data"]
    assert _body(dumps_icons({"Wavelets": instance}, "xpsm")) == _body(ATWT_ICON)
    plane = RNG.uniform(0.2, 0.4, (40, 36)).astype(np.float32)
    out = instance.apply(Image(plane[None]), ExecutionContext()).pixels[0]
    details, residual = ms.starlet(plane, 2)
    assert np.abs(out - plane).max() > 0 and np.abs(out - (details[1] * 1.25 + residual)).max() < 0.05


def test_linear_mask_and_dynamic_range_extension():
    plane = RNG.uniform(0.0, 0.004, (48, 48)).astype(np.float32)
    plane[10:20, 10:20] = 0.9  # a bright area: the inverted linear mask protects it
    image = Image(plane[None])
    off = (False, True, 0.0, False, 3.0, 1.0, 1)
    on = (True, True, 0.0, False, 3.0, 1.0, 1)
    process = MultiscaleLinearTransform(layers=(off, off, on), linearMask=True, linearMaskAmpFactor=200,
                                        linearMaskSmoothness=0)
    out = process.apply(image, ExecutionContext()).pixels[0]
    np.testing.assert_allclose(out[12:18, 12:18], plane[12:18, 12:18], atol=1e-6)  # mask 0: untouched
    unmasked = process.evolve(linearMask=False).apply(image, ExecutionContext()).pixels[0]
    assert not np.allclose(unmasked[12:18, 12:18], plane[12:18, 12:18])
    boosted = (True, True, 2.0, False, 3.0, 1.0, 1)
    ranged = MultiscaleLinearTransform(layers=(boosted, on, on), highRange=0.5, lowRange=0.5)
    result = ranged.apply(image, ExecutionContext()).pixels[0]
    assert result.min() == pytest.approx(0) and result.max() == pytest.approx(1)  # rescaled into [0, 1]
