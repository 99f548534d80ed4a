"""HDRMultiscaleTransform and LocalHistogramEqualization: the corpus icons load typed, write
back as PixInsight wrote them, and run on an image of another size; CLAHE behaves as such."""

from __future__ import annotations

import re

import numpy as np
import pytest

from processes.multiscale.hdr import HDRMultiscaleTransform
from processes.multiscale.lhe import LocalHistogramEqualization
from procfw.icons import dumps_icons, load_icons, loads_icons
from procfw.image import Image
from procfw.process import ExecutionContext
from procfw.testing import check_process

FILES = ("SHO-Workflow.xpsm", "legacy__TweakedFlow.xpsm")
RNG = np.random.default_rng(29)


def _parameter_lines(text: str, class_id: str) -> list[str]:
    block = re.search(rf'<instance class="{class_id}".*?</instance>', text, re.S)
    assert block is not None
    return [line.strip() for line in block.group(0).splitlines() if line.strip().startswith("<parameter")]


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("cls", [HDRMultiscaleTransform, LocalHistogramEqualization])
def test_corpus_icons_load_typed_write_back_equal_and_run(corpus, name: str, cls):
    path = corpus / "xpsm" / "jamiesmith-pixinsight-icons" / name
    result = load_icons(path)
    assert not result.warnings
    (icon_id, instance), = [(k, v) for k, v in result.icons.items() if v.process_id == cls.process_id]
    assert isinstance(instance, cls)
    written = dumps_icons({icon_id: instance}, "xpsm")
    assert _parameter_lines(written, cls.process_id) == _parameter_lines(path.read_text(), cls.process_id)
    assert loads_icons(written, "xpsm").icons[icon_id] == instance
    image = Image(RNG.uniform(0.05, 0.6, (3, 50, 70)).astype(np.float32))
    out = instance.apply(image, ExecutionContext()).pixels
    assert out.shape == (3, 50, 70) and out.dtype == np.float32 and np.isfinite(out).all()
    assert 0 <= out.min() and out.max() <= 1 and not np.allclose(out, image.pixels)


def test_the_corpus_values():
    hdr = HDRMultiscaleTransform(numberOfLayers=6, toLightness=False, lightnessMask=False)
    assert hdr.scalingFunctionRowFilter == (0.0625, 0.25, 0.375, 0.25, 0.0625)
    assert HDRMultiscaleTransform.parameter_id("luminanceMask") == "lightnessMask"  # the older id
    lhe = LocalHistogramEqualization()
    assert (lhe.radius, lhe.histogramBins, lhe.slopeLimit, lhe.amount, lhe.circularKernel) == (64, "Bit8", 2, 1, True)
    for cls in (HDRMultiscaleTransform, LocalHistogramEqualization):
        check_process(cls).raise_if_failed()


def test_clahe_spreads_a_low_contrast_image_and_respects_the_slope_limit():
    plane = (0.4 + 0.05 * RNG.uniform(0, 1, (48, 48))).astype(np.float32)
    image = Image(plane[None])
    full = LocalHistogramEqualization(radius=16, slopeLimit=64).apply(image, ExecutionContext()).pixels[0]
    limited = LocalHistogramEqualization(radius=16, slopeLimit=1.5).apply(image, ExecutionContext()).pixels[0]
    half = LocalHistogramEqualization(radius=16, slopeLimit=64, amount=0.5).apply(image, ExecutionContext()).pixels[0]
    assert full.std() > 5 * plane.std()  # equalized: spread over [0, 1]
    assert plane.std() < limited.std() < full.std()  # the slope limit holds it back
    np.testing.assert_allclose(half, 0.5 * full + 0.5 * plane, atol=1e-6)


def test_hdr_compresses_a_large_scale_gradient_and_keeps_small_details():
    y, x = np.mgrid[:64, :64]
    gradient = 0.1 + 0.8 * x / 63
    detail = 0.03 * np.sin(y / 1.5)
    plane = (gradient + detail).astype(np.float32)
    out = HDRMultiscaleTransform(numberOfLayers=3, lightnessMask=False).apply(Image(plane[None]), ExecutionContext())
    result = out.pixels[0]
    assert np.ptp(result[32, 8:56]) < 0.5 * np.ptp(plane[32, 8:56])  # the large-scale ramp is compressed
    small = result[8:56, 32] - result[8:56, 32].mean()
    assert np.corrcoef(small, detail[8:56, 32])[0, 1] > 0.9  # the small-scale structure survives
