"""Convolution and UnsharpMask: PixInsight's parameters; Gaussian convolution equals
scipy.ndimage.gaussian_filter; the unsharp mask equals its formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from processes.multiscale.convolution import Convolution, UnsharpMask, variable_shape_kernel
from procfw.errors import ExecutionError
from procfw.icons import dumps_icons, loads_icons
from procfw.image import Image
from procfw.process import ExecutionContext
from procfw.testing import check_process
from procfw.workspace import Workspace

RNG = np.random.default_rng(23)
IMAGE = Image(RNG.uniform(0.1, 0.9, (3, 60, 70)).astype(np.float32))


@pytest.mark.parametrize("sigma", [0.7, 2.0, 5.5])
def test_gaussian_convolution_equals_scipys_gaussian_filter(sigma: float):
    out = Convolution(sigma=sigma).apply(IMAGE, ExecutionContext()).pixels
    radius = max(1, round(math.sqrt(-2 * sigma * sigma * math.log(0.01))))  # truncated at 1 %, as PCL
    for c in range(3):
        expected = ndimage.gaussian_filter(IMAGE.pixels[c].astype(np.float64), sigma, mode="reflect",
                                           truncate=radius / sigma)
        np.testing.assert_allclose(out[c], expected, atol=2e-6)


def test_elliptical_rotated_and_peaky_kernels():
    round_ = variable_shape_kernel(3.0)
    assert round_.shape == (19, 19) and round_.sum() == pytest.approx(1)
    flat = variable_shape_kernel(3.0, aspect_ratio=0.25)
    rows, cols = flat.sum(axis=1), flat.sum(axis=0)
    spread = lambda w: float(np.sqrt((w * (np.arange(w.size) - w.size // 2) ** 2).sum()))  # noqa: E731
    assert spread(rows) == pytest.approx(0.25 * spread(cols), rel=0.1)  # squeezed along y
    turned = variable_shape_kernel(3.0, aspect_ratio=0.25, rotation_deg=90)
    np.testing.assert_allclose(turned, flat.T, atol=1e-12)
    peaky = Convolution(sigma=2.0, shape=1.0).apply(IMAGE, ExecutionContext()).pixels
    expected = ndimage.correlate(IMAGE.pixels[0].astype(np.float64), variable_shape_kernel(2.0, 1.0), mode="reflect")
    np.testing.assert_allclose(peaky[0], expected, atol=2e-6)


def test_image_mode_uses_the_view():
    workspace = Workspace()
    kernel = np.zeros((1, 5, 5), np.float32)
    kernel[0, 2, 1:4] = 1
    workspace.add_image(Image(kernel), "psf")
    view = workspace.add_image(Image(IMAGE.pixels.copy()), "target").main_view
    Convolution(mode="Image", viewId="psf").execute_on(view)
    expected = ndimage.correlate1d(IMAGE.pixels[1].astype(np.float64), np.ones(3) / 3, axis=1, mode="reflect")
    np.testing.assert_allclose(view.image.pixels[1], expected, atol=2e-6)


_LIBRARY = """// a PixInsight filter library (.filters), as PCL's FilterParser reads it
KernelFilter {
   name { Skewed 3x3 }
   coefficients {
       1.000000  2.000000  0.000000
       0.000000  4.000000  0.000000   /* a block
       comment */  0.000000  0.000000  1.000000
   }
}
SeparableFilter {
   name { Binomial 5 }
   row-vector { 1 4 6 4 1 }
   col-vector { 1 2 1 0 0 }
}
KernelFilter {
   name { Laplacian }
   coefficients { 0 -1 0  -1 4 -1  0 -1 0 }
}
"""


def test_library_mode_convolves_as_pcl_does(tmp_path):
    from processes.multiscale.convolution import library_filter_source

    path = tmp_path / "test.filters"
    path.write_text(_LIBRARY)
    planes = IMAGE.pixels.astype(np.float64)
    # KernelFilter: a true convolution (the kernel rotated by 180°) divided by its weight (8)
    skewed = np.array([[1, 2, 0], [0, 4, 0], [0, 0, 1]], dtype=np.float64)
    out = Convolution(mode="Library", filterSource=library_filter_source(str(path), "Skewed 3x3")).apply(
        IMAGE, ExecutionContext()).pixels
    np.testing.assert_allclose(out[2], ndimage.convolve(planes[2], skewed, mode="reflect") / 8, atol=2e-6)
    # SeparableFilter: row vector along the rows, column vector down the columns, / (16·4)
    source = library_filter_source(str(path), "Binomial 5")
    out = Convolution(mode="Library", filterSource=source).apply(IMAGE, ExecutionContext()).pixels
    expected = ndimage.correlate(planes[0], np.outer([1, 2, 1, 0, 0], [1, 4, 6, 4, 1]), mode="reflect") / 64
    np.testing.assert_allclose(out[0], expected, atol=2e-6)
    # high pass (weight 0 -> 1): truncated to [0, 1], or rescaled into it over all channels
    laplacian = np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], dtype=np.float64)
    raw = np.stack([ndimage.convolve(p, laplacian, mode="reflect") for p in planes])
    source = library_filter_source(str(path), "Laplacian")
    out = Convolution(mode="Library", filterSource=source).apply(IMAGE, ExecutionContext()).pixels
    np.testing.assert_allclose(out, np.clip(raw, 0, 1), atol=2e-6)
    out = Convolution(mode="Library", filterSource=source, rescaleHighPass=True).apply(IMAGE, ExecutionContext())
    np.testing.assert_allclose(out.pixels, (raw - raw.min()) / (raw.max() - raw.min()), atol=2e-6)
    # the source written back parses to the same filter, and icons keep it
    icon = Convolution(mode="Library", filterSource=source)
    back = loads_icons(dumps_icons({"C": icon}, "xpsm"), "xpsm").icons["C"]
    assert back.filterSource == source
    with pytest.raises(ExecutionError, match="no filter named 'Gauss'.*'Skewed 3x3', 'Binomial 5', 'Laplacian'"):
        library_filter_source(str(path), "Gauss")


@pytest.mark.parametrize("source,message", [
    ("", "needs filterSource"),
    ("// nothing", "defines no filter"),
    ("KernelFilter { name { A } coefficients { 1 2 3 4 } }", r"filterSource:1:\d+: The kernel filter is too small"),
    ("KernelFilter { name { A } coefficients { 1 1 1 1 1 1 1 1 } }", "Non-square kernel filter"),
    ("SeparableFilter { name { A } row-vector { 1 2 1 } col-vector { 1 1 1 1 1 } }", "Incongruent separable column"),
    ("SeparableFilter { name { A } row-vector { 1 2 1 1 } }", "Invalid even row filter length"),
    ("KernelFilter {\n name { A }\n coefficients { 1 x 1 1 1 1 1 1 1 }\n}", r":3:\d+: 'x' is not a number"),
    ("KernelFilter { name { A } row-vector { 1 2 1 } }", "Invalid kernel filter parameter 'row-vector'"),
    ("BoxFilter { name { A } }", "Unknown filter type 'BoxFilter'"),
    ("KernelFilter { coefficients { 1 1 1 1 1 1 1 1 1 } }", "Missing filter name"),
    ("KernelFilter { name { A } coefficients { 1 1 1 1 1 1 1 1 1 }", "Missing right bracket"),
])
def test_library_mode_errors_name_the_rule_broken(source: str, message: str):
    with pytest.raises(ExecutionError, match=message):
        Convolution(mode="Library", filterSource=source).apply(IMAGE, ExecutionContext())


def test_unsharp_mask_equals_its_formula_and_dering_and_ranges():
    grey = Image(IMAGE.pixels[:1])
    out = UnsharpMask(sigma=2.5, amount=0.6, rangeLow=0.5, rangeHigh=0.5).apply(grey, ExecutionContext()).pixels[0]
    half = max(1, round(math.sqrt(-2 * 2.5**2 * math.log(0.05))))
    blurred = ndimage.gaussian_filter(grey.pixels[0].astype(np.float64), 2.5, mode="reflect", truncate=half / 2.5)
    a = 1 - 0.499 * 0.6
    expected = (a * grey.pixels[0] - (1 - a) * blurred) / (2 * a - 1)
    if expected.min() < 0 or expected.max() > 1:  # PCL's Normalize
        expected = (expected - expected.min()) / (expected.max() - expected.min())
    np.testing.assert_allclose(out, expected, atol=3e-6)
    plain = UnsharpMask(useLuminance=False).apply(IMAGE, ExecutionContext()).pixels
    dering = UnsharpMask(useLuminance=False, deringing=True, deringingDark=0.05).apply(IMAGE, ExecutionContext())
    assert plain.shape == dering.pixels.shape and not np.allclose(plain, dering.pixels)
    assert 0 <= plain.min() and plain.max() <= 1
    lightness = UnsharpMask().apply(IMAGE, ExecutionContext()).pixels
    assert not np.allclose(lightness, plain)


def test_schema_versions_and_icons():
    assert list(Convolution.schema()) == ["mode", "sigma", "shape", "aspectRatio", "rotationAngle", "filterSource",
                                          "rescaleHighPass", "viewId"]
    assert list(UnsharpMask.schema()) == ["sigma", "amount", "useLuminance", "linear", "deringing", "deringingDark",
                                          "deringingBright", "outputDeringingMaps", "rangeLow", "rangeHigh"]
    assert Convolution(mode="Gaussian").mode == "Parametric"  # PCL's element alias
    for cls in (Convolution, UnsharpMask):
        check_process(cls).raise_if_failed()
        text = dumps_icons({"c": cls()}, "xpsm")
        assert f'class="{cls.process_id}" version="256"' in text
        assert loads_icons(text, "xpsm").icons["c"] == cls()


def test_a_wide_kernel_goes_through_fft_and_still_equals_the_direct_convolution():
    plane = IMAGE.pixels[0]
    out = Convolution(sigma=12.0, shape=1.5).apply(Image(plane[None]), ExecutionContext()).pixels[0]
    kernel = variable_shape_kernel(12.0, 1.5)
    assert kernel.shape[0] > 31
    padded = np.pad(plane.astype(np.float64), kernel.shape[0] // 2, mode="symmetric")
    direct = ndimage.correlate(padded, kernel, mode="constant")[kernel.shape[0] // 2 : -(kernel.shape[0] // 2),
                                                              kernel.shape[0] // 2 : -(kernel.shape[0] // 2)]
    np.testing.assert_allclose(out, direct, atol=2e-6)
