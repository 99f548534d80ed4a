"""Pixel interpolation kernel: exact cases, hand-computed weights, clamping, resize == remap."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processes.kernels.interpolation import METHODS, remap, resize, resize_coordinates
from processes.kernels.pixel_interpolation import kernel_support

INTERPOLATING = ("nearest", "bilinear", "bicubic", "lanczos3", "lanczos4", "lanczos5")
"""Methods that return the pixel values exactly at pixel centres (the others smooth)."""

RNG = np.random.default_rng(42)
IMAGE = RNG.random((23, 31)).astype(np.float32)
YY, XX = np.mgrid[0:23, 0:31].astype(np.float64)


@pytest.mark.parametrize("method", INTERPOLATING)
def test_identity_mapping_returns_the_input(method: str) -> None:
    out = remap(IMAGE, XX, YY, method)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, IMAGE, atol=1e-6)


@pytest.mark.parametrize("method", INTERPOLATING)
@pytest.mark.parametrize(("dx", "dy"), [(1, 0), (0, 2), (-3, 1)])
def test_integer_shift_moves_pixels(method: str, dx: int, dy: int) -> None:
    out = remap(IMAGE, XX + dx, YY + dy, method, fill=-1.0)
    # out[i, j] = IMAGE[i + dy, j + dx] where that pixel exists, fill elsewhere.
    expected = np.full_like(IMAGE, -1.0)
    h, w = IMAGE.shape
    ys, xs = slice(max(0, -dy), min(h, h - dy)), slice(max(0, -dx), min(w, w - dx))
    expected[ys, xs] = IMAGE[max(0, dy) : min(h, h + dy), max(0, dx) : min(w, w + dx)]
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_points_outside_get_fill() -> None:
    xs = np.array([-0.6, -0.5, 30.5, 30.6, 5.0])
    ys = np.array([5.0, 5.0, 5.0, 5.0, 22.7])
    out = remap(IMAGE, xs, ys, "bilinear", fill=0.25)
    assert out[0] == pytest.approx(0.25) and out[3] == pytest.approx(0.25) and out[4] == pytest.approx(0.25)
    assert out[1] != 0.25 and out[2] != 0.25  # the image covers [-0.5, W-0.5]


def test_bilinear_hand_value() -> None:
    plane = np.array([[0.0, 1.0], [2.0, 3.0]], dtype=np.float32)
    # (1-fy)[(1-fx)·0 + fx·1] + fy[(1-fx)·2 + fx·3] at fx = 0.25, fy = 0.5 = 0.125 + 1.125
    assert remap(plane, np.array([0.25]), np.array([0.5]), "bilinear")[0] == pytest.approx(1.25)


def test_bicubic_is_keys_catmull_rom() -> None:
    # Keys a = -1/2 at f = 1/2: weights (-1/16, 9/16, 9/16, -1/16); a unit step 0 0 1 1 gives 1/2,
    # and 0 1 0 0 at f = 1/2 between taps 1 and 2 gives 9/16 (no clamping: f03 = 0).
    row = np.array([0.0, 0.0, 1.0, 1.0, 1.0, 1.0], dtype=np.float32)
    plane = np.tile(row, (6, 1))
    assert remap(plane, np.array([1.5]), np.array([2.0]), "bicubic", None)[0] == pytest.approx(0.5)
    plane = np.tile(np.array([0.0, 0.0, 1.0, 0.0, 0.0, 0.0], dtype=np.float32), (6, 1))
    assert remap(plane, np.array([1.5]), np.array([2.0]), "bicubic", None)[0] == pytest.approx(9 / 16)


def test_bicubic_linear_clamping_hand_case() -> None:
    # Row 1 0 0 1 at f = 1/2: f12 = 0, f03 = 2·(-1/16) = -1/8.  Cubic gives -1/8; since
    # -f03 = 1/8 is not < c·f12 = 0, PixInsight's clamping falls back to linear: f12/(C1+C2) = 0.
    plane = np.tile(np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0], dtype=np.float32), (6, 1))
    x, y = np.array([1.5]), np.array([2.0])
    assert remap(plane, x, y, "bicubic", None)[0] == pytest.approx(-0.125)
    assert remap(plane, x, y, "bicubic", 0.3)[0] == pytest.approx(0.0)


def test_lanczos3_hand_weights() -> None:
    # A single bright pixel sampled half a pixel away: weight L(1/2) = sinc(1/2)·sinc(1/6)
    # normalized by the sum of the six weights along each axis (product for 2-D).
    n = 3
    taps = np.arange(-n + 1, n + 1) - 0.5
    lanczos = np.array([np.sinc(t) * np.sinc(t / n) for t in taps])
    assert lanczos[2] == pytest.approx((2 / math.pi) * (math.sin(math.pi / 6) / (math.pi / 6)))
    expected = lanczos[2] / lanczos.sum()  # x-weight of the bright pixel; y weight is exactly 1
    plane = np.zeros((9, 9), dtype=np.float32)
    plane[4, 4] = 1.0
    out = remap(plane, np.array([3.5]), np.array([4.0]), "lanczos3", None)[0]
    assert out == pytest.approx(expected, rel=1e-6)


def test_lanczos_clamping_removes_ringing_around_a_star() -> None:
    plane = np.full((15, 15), 0.01, dtype=np.float32)
    plane[7, 7] = 1.0
    ys, xs = np.mgrid[0:15, 0:15].astype(np.float64)
    ringing = remap(plane, xs + 0.5, ys + 0.5, "lanczos3", None)
    clamped = remap(plane, xs + 0.5, ys + 0.5, "lanczos3", 0.3)
    assert ringing.min() < 0  # negative lobes over the star: undershoot below zero
    assert clamped.min() >= 0.0
    # far from the star both agree with the flat background
    assert clamped[1, 1] == pytest.approx(0.01, abs=1e-6)


@pytest.mark.parametrize("method", ["bilinear", "bicubic", "bicubic_bspline"])
def test_linear_functions_reproduced_exactly(method: str) -> None:
    ramp = (0.01 * XX + 0.02 * YY + 0.05).astype(np.float64)
    xs, ys = XX[5:18, 5:26] + 0.37, YY[5:18, 5:26] + 0.61
    out = remap(ramp, xs, ys, method)
    np.testing.assert_allclose(out, 0.01 * xs + 0.02 * ys + 0.05, atol=1e-6)


@pytest.mark.parametrize("method", ["lanczos3", "lanczos4", "lanczos5", "mitchell", "catmull_rom", "cubic_bspline"])
def test_constants_exact_and_linear_functions_close(method: str) -> None:
    constant = np.full((23, 31), 0.3, dtype=np.float32)
    xs, ys = XX[6:17, 6:25] + 0.37, YY[6:17, 6:25] + 0.61
    np.testing.assert_allclose(remap(constant, xs, ys, method), 0.3, atol=1e-6)
    # Normalized Lanczos/cubic filters are not exactly linear-preserving: the residual is
    # a small fraction of the slope (here slope 0.01 and 0.02 per pixel).
    ramp = 0.01 * XX + 0.02 * YY + 0.05
    np.testing.assert_allclose(remap(ramp, xs, ys, method), 0.01 * xs + 0.02 * ys + 0.05, atol=6e-4)


@pytest.mark.parametrize("method", METHODS)
def test_mirror_symmetry(method: str) -> None:
    xs = RNG.uniform(-0.5, 30.5, 200)
    ys = RNG.uniform(-0.5, 22.5, 200)
    direct = remap(IMAGE, xs, ys, method)
    flipped = remap(IMAGE[::-1, ::-1].copy(), 30 - xs, 22 - ys, method)
    np.testing.assert_allclose(direct, flipped, atol=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_resize_equals_remap_on_the_same_grid(method: str) -> None:
    out = resize(IMAGE, 11, 47, method)
    ys, xs = np.meshgrid(resize_coordinates(23, 11), resize_coordinates(31, 47), indexing="ij")
    np.testing.assert_allclose(out, remap(IMAGE, xs, ys, method), atol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_resize_keeps_constants(method: str) -> None:
    constant = np.full((20, 30), 0.7, dtype=np.float32)
    np.testing.assert_allclose(resize(constant, 7, 13, method), 0.7, atol=1e-6)


def test_resize_coordinates_are_centre_aligned() -> None:
    # halving: output pixel j sits between source pixels 2j and 2j+1
    np.testing.assert_allclose(resize_coordinates(8, 4), [0.5, 2.5, 4.5, 6.5])
    np.testing.assert_allclose(resize_coordinates(2, 4), [-0.25, 0.25, 0.75, 1.25])


def test_bilinear_halving_averages_pixel_pairs() -> None:
    plane = np.arange(16, dtype=np.float32).reshape(4, 4)
    out = resize(plane, 2, 2, "bilinear")
    blocks = plane.reshape(2, 2, 2, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(out, blocks, atol=1e-6)


def test_chunking_does_not_change_results() -> None:
    xs = RNG.uniform(0, 30, (17, 13))
    ys = RNG.uniform(0, 22, (17, 13))
    whole = remap(IMAGE, xs, ys, "lanczos3")
    chunked = remap(IMAGE, xs, ys, "lanczos3", chunk_points=7)
    assert whole.shape == (17, 13)
    np.testing.assert_array_equal(whole, chunked)


def test_kernel_support_and_bad_arguments() -> None:
    assert [kernel_support(m) for m in ("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5")] == [1, 2, 4, 6, 10]
    assert kernel_support("mitchell", radius=3) == 7
    with pytest.raises(ValueError, match="unknown interpolation method"):
        remap(IMAGE, XX, YY, "sinc")
    with pytest.raises(ValueError, match="clamping"):
        remap(IMAGE, XX, YY, "lanczos3", clamping=1.5)
    with pytest.raises(ValueError, match="same shape"):
        remap(IMAGE, XX, YY[:3], "bilinear")


@settings(max_examples=25, deadline=None)
@given(
    fx=st.floats(0.0, 0.999),
    fy=st.floats(0.0, 0.999),
    method=st.sampled_from(["bilinear", "bicubic", "lanczos3"]),
)
def test_smooth_data_is_followed_at_any_fraction(fx: float, fy: float, method: str) -> None:
    # Within 3% of the steepest slope (0.02/pixel): Lanczos' normalized weights are not
    # exactly linear-preserving; bilinear and bicubic are exact.
    ramp = (0.01 * XX + 0.02 * YY).astype(np.float32)
    x, y = np.array([10 + fx]), np.array([10 + fy])
    value = remap(ramp, x, y, method)[0]
    tolerance = 6e-4 if method == "lanczos3" else 1e-6
    assert 0.01 * x[0] + 0.02 * y[0] == pytest.approx(value, abs=tolerance)
