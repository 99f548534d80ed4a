"""CurvesTransformation: interpolations through the points, channel order, colour spaces, icons."""

from __future__ import annotations

import numpy as np
import pytest
from corpus_icons import corpus_instances
from scipy.interpolate import Akima1DInterpolator, CubicSpline

from processes.intensity.curves import CURVE_IDS, CurvesTransformation
from processes.kernels.colorspace import rgb_to_hsv, srgb
from processes.kernels.interpolation import akima, curve_interpolator, natural_cubic_spline
from procfw.errors import ParameterError
from procfw.image import Image
from procfw.process import ExecutionContext
from procfw.testing import check_process

CTX = ExecutionContext()
POINTS = [(0.0, 0.0), (0.15, 0.3), (0.4, 0.45), (0.6, 0.7), (0.85, 0.8), (1.0, 1.0)]


def test_ids_order_and_enumeration():
    schema = CurvesTransformation.schema()
    expected = [p for cid in CURVE_IDS for p in (cid, cid + "t")]
    assert list(schema) == expected
    assert schema["Kt"].elements == (("CubicSpline", 0), ("Linear", 1), ("AkimaSubsplines", 2))
    assert CurvesTransformation().Kt == "AkimaSubsplines"
    assert [c.id for c in schema["R"].columns] == ["x", "y"]


@pytest.mark.parametrize("kind", ["AkimaSubsplines", "CubicSpline", "Linear"])
def test_curves_pass_through_their_points(kind):
    xs, ys = np.array(POINTS).T
    f = curve_interpolator(kind, xs, ys)
    np.testing.assert_allclose(f(xs), ys, atol=1e-12)
    pixels = xs.reshape(1, 1, -1).astype(np.float32)
    out = CurvesTransformation(K=POINTS, Kt=kind).apply(Image(pixels), CTX).pixels
    np.testing.assert_allclose(out.ravel(), ys, atol=1e-6)


def test_linear_between_points_by_hand():
    f = curve_interpolator("Linear", np.array([0, 0.4, 1.0]), np.array([0, 0.2, 1.0]))
    # halfway from (0, 0) to (0.4, 0.2): 0.1; from (0.4, 0.2) to (1, 1) at 0.7: 0.6
    np.testing.assert_allclose(f(np.array([0.2, 0.7])), [0.1, 0.6])


def test_three_point_akima_is_the_natural_cubic_spline_by_hand():
    # (0, 0), (0.5, 0.25), (1, 1): M₁ = 3 from (h/3)·M₁ = Δ slopes = 1; on [0, 0.5] S(x) = x³ + x/4
    xs, ys = np.array([0, 0.5, 1.0]), np.array([0, 0.25, 1.0])
    f = curve_interpolator("AkimaSubsplines", xs, ys)
    assert float(f(0.25)) == pytest.approx(0.25**3 + 0.25 / 4)
    assert float(curve_interpolator("CubicSpline", xs, ys)(0.25)) == pytest.approx(0.078125)
    two = curve_interpolator("AkimaSubsplines", np.array([0, 1.0]), np.array([0.2, 0.8]))
    assert float(two(0.5)) == pytest.approx(0.5)  # two points: the straight line


def test_akima_matches_the_standard_algorithm_and_keeps_corners():
    xs, ys = np.array(POINTS).T
    x = np.linspace(0, 1, 501)
    np.testing.assert_allclose(akima(xs, ys)(x), Akima1DInterpolator(xs, ys)(x), atol=1e-12)
    np.testing.assert_allclose(natural_cubic_spline(xs, ys)(x), CubicSpline(xs, ys, bc_type="natural")(x), atol=1e-12)
    # a knot between two straight runs stays a corner (PixInsight), not Akima's averaged slope
    corner = akima(np.array([0, 0.2, 0.4, 0.6, 0.8, 1.0]), np.array([0, 0.2, 0.4, 0.4, 0.4, 1.0]))
    np.testing.assert_allclose(corner(np.array([0.1, 0.3, 0.5, 0.7])), [0.1, 0.3, 0.4, 0.4], atol=1e-12)


def test_channel_curves_then_combined_curve():
    rng = np.random.default_rng(4)
    pixels = rng.random((4, 8, 8), dtype=np.float32)
    red = [(0, 0), (0.5, 0.7), (1, 1)]
    k = [(0, 0.1), (1, 0.9)]
    alpha = [(0, 1), (1, 0)]
    out = CurvesTransformation(R=red, Rt="Linear", K=k, Kt="Linear", A=alpha).apply(Image(pixels), CTX).pixels
    lin_red = np.interp(pixels[0], [0, 0.5, 1], [0, 0.7, 1])
    np.testing.assert_allclose(out[0], 0.1 + 0.8 * lin_red, atol=1e-6)
    np.testing.assert_allclose(out[1:3], 0.1 + 0.8 * pixels[1:3], atol=1e-6)
    np.testing.assert_allclose(out[3], 1 - pixels[3], atol=1e-6)


def test_grey_image_ignores_colour_curves():
    pixels = np.linspace(0, 1, 30, dtype=np.float32).reshape(1, 5, 6)
    curves = CurvesTransformation(R=[(0, 1), (1, 1)], L=[(0, 1), (1, 1)], S=[(0, 1), (1, 1)])
    np.testing.assert_array_equal(curves.apply(Image(pixels), CTX).pixels, pixels)


def pastel() -> Image:
    rng = np.random.default_rng(9)
    return Image((0.35 + 0.3 * rng.random((3, 10, 10))).astype(np.float32))


def test_lightness_curve_in_cie_lab():
    image = pastel()
    curve = [(0, 0), (0.5, 0.6), (1, 1)]
    out = CurvesTransformation(L=curve, Lt="Linear").apply(image, CTX).pixels.astype(np.float64)
    ws = srgb()
    l0, a0, b0 = ws.rgb_to_lab(*image.pixels.astype(np.float64))
    l1, a1, b1 = ws.rgb_to_lab(*out)
    np.testing.assert_allclose(l1, np.interp(l0, [0, 0.5, 1], [0, 0.6, 1]), atol=3e-6)
    np.testing.assert_allclose(a1, a0, atol=3e-6)
    np.testing.assert_allclose(b1, b0, atol=3e-6)


def test_chroma_and_hsv_curves():
    image = pastel()
    ws = srgb()
    rgb = image.pixels.astype(np.float64)
    chroma = CurvesTransformation(c=[(0, 0), (1, 0.8)], ct="Linear").apply(image, CTX).pixels.astype(np.float64)
    l0, c0, h0 = ws.rgb_to_lch(*rgb)
    l1, c1, h1 = ws.rgb_to_lch(*chroma)
    np.testing.assert_allclose(c1, 0.8 * c0, atol=3e-6)
    np.testing.assert_allclose(l1, l0, atol=3e-6)
    sat = CurvesTransformation(S=[(0, 0), (1, 0.5)], St="Linear").apply(image, CTX).pixels.astype(np.float64)
    np.testing.assert_allclose(ws.lightness(*sat), ws.lightness(*rgb), atol=3e-6)  # CIE L* kept
    assert np.all(rgb_to_hsv(*sat)[1] < rgb_to_hsv(*rgb)[1] + 1e-9)
    ab = CurvesTransformation(a=[(0, 0), (1, 1)], b=[(0, 0.1), (1, 0.9)], bt="Linear")
    out = ab.apply(image, CTX).pixels.astype(np.float64)
    _, _, b_in = ws.rgb_to_lab(*rgb)
    _, _, b_out = ws.rgb_to_lab(*out)
    np.testing.assert_allclose(b_out, 0.1 + 0.8 * b_in, atol=3e-6)


def test_invalid_curves_are_rejected():
    with pytest.raises(ParameterError, match="K"):
        CurvesTransformation(K=[(0.1, 0), (1, 1)])
    with pytest.raises(ParameterError, match="increasing"):
        CurvesTransformation(G=[(0, 0), (0.5, 0.2), (0.5, 0.6), (1, 1)])
    with pytest.raises(ParameterError):
        CurvesTransformation(B=[(0, 0)])
    with pytest.raises(ParameterError):
        CurvesTransformation(Kt="Bezier")


def test_corpus_curves_icons_run():
    icons = corpus_instances("CurvesTransformation")
    assert len(icons) == 5
    rng = np.random.default_rng(0)
    image = Image(rng.random((3, 16, 16), dtype=np.float32))
    for label, curves in icons:
        out = curves.apply(image, CTX).pixels
        if len(curves.K) == 3:  # "CurvesForStars": a 3-point Akima curve = natural cubic spline
            xs, ys = np.array(curves.K).T
            assert (xs[1], ys[1]) == (0.34517, 0.16512), label
            expected = np.clip(CubicSpline(xs, ys, bc_type="natural")(image.pixels.astype(np.float64)), 0, 1)
            np.testing.assert_allclose(out, expected, atol=1e-6)
        else:
            np.testing.assert_array_equal(out, image.pixels)


def test_conformance():
    check_process(CurvesTransformation).raise_if_failed()
