"""PixelMath: operators and precedence, functions, symbols, per-channel expressions,
rescale/truncate, new images, image references and errors, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from processes.pixelmath import (
    FUNCTIONS,
    NotImplementedFunctionError,
    PixelMath,
    PixelMathEvaluationError,
    PixelMathSyntaxError,
    parse,
)
from processes.pixelmath.nodes import Binary, Number, Unary
from procfw.errors import ProcfwError
from procfw.image import Image
from procfw.process import ExecutionContext
from procfw.testing import check_process
from procfw.workspace import Workspace

RNG = np.random.default_rng(7)
RGB = RNG.random((3, 4, 6), dtype=np.float32)
GRAY = RNG.random((1, 4, 6), dtype=np.float32)


def _workspace(**images: np.ndarray) -> Workspace:
    ws = Workspace()
    for name, pixels in images.items():
        ws.add_image(Image(pixels.copy()), name)
    return ws


def run(expression: str = "", *, target: np.ndarray = RGB, others: dict[str, np.ndarray] | None = None,
        **params: object) -> np.ndarray:
    """Run PixelMath on a copy of ``target`` (view id 'T1') and return the result pixels."""
    ws = _workspace(T1=target, **(others or {}))
    result = PixelMath(expression=expression, **params).execute_on(ws.view("T1"))
    if result.created:
        return ws.view(result.created[0]).image.pixels
    return ws.view("T1").image.pixels


def value(expression: str, **params: object) -> float:
    """The (uniform) raw value of a constant expression, without truncation."""
    params.setdefault("truncate", False)
    out = run(expression, target=GRAY, **params)
    assert np.all(out == out.flat[0]), out
    return float(out.flat[0])


# -- operators and precedence -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("2+3*4^2", 50),  # ^ binds tighter than *, * than +
        ("-2^2", 4),  # PixInsight: prefix operators bind tighter than ^: (-2)^2
        ("2^-1", 0.5),
        ("2^3^2", 64),  # left to right: (2^3)^2
        ("10-2-3", 5),
        ("8/4/2", 1),
        ("2*3%4", 2),  # (2*3) % 4
        ("~0.25", 0.75),
        ("~~0.25", 0.25),
        ("5 -- 8", 3),  # absolute difference
        ("0.5 - -0.25", 0.25),  # PixelMath reads "- -" as "--" (greedy operator tokens)
        ("7 % 3", 1),
        ("-7 % 3", -1),  # fmod: sign of the dividend
        ("5 % 0", 0),  # PixelMath: x % 0 is 0
        ("3 < 4", 1), ("3 <= 3", 1), ("3 > 4", 0), ("3 >= 4", 0), ("2 == 2", 1), ("2 != 2", 0),
        ("1 + 2 == 3", 1),  # == below +
        ("1 < 2 == 1", 1),  # < above ==
        ("1 && 0", 0), ("0 || 2", 1), ("!0", 1), ("!3", 0),
        ("0 || 1 && 0", 0),  # && above ||
        ("6 & 3", 2), ("6 | 3", 7), ("6 &| 3", 5), ("6 !& 3", -3), ("6 !| 3", -8), ("6 !&| 3", -6),
        ("1 | 2 && 0", 0),  # | above &&
        ("2.5 & 7", 2),  # bitwise operators truncate to integers
        ("{1+1}*3", 6),  # braces group like parentheses
        ("1e-1 + .5 + 2.", 2.6),
    ],
)
def test_operators_follow_pixinsight_precedence(expression: str, expected: float) -> None:
    assert value(expression) == pytest.approx(expected, rel=1e-6)


def test_precedence_tree_shapes() -> None:
    (tree,) = parse("-2^2").statements
    assert isinstance(tree, Binary) and tree.op == "^" and isinstance(tree.left, Unary)
    (tree,) = parse("2+3*4").statements
    assert tree == Binary("+", Number(2), Binary("*", Number(3), Number(4)))
    assert parse("a + b") is parse("a + b")  # parsed once per text


def test_division_by_zero_is_the_largest_number() -> None:
    assert value("1/0") == math.inf  # DBL_MAX does not fit a 32-bit sample
    assert value("1/0 > 1e30") == 1
    assert run("$T/0", target=GRAY).max() == 1  # then truncated
    out = run("1/($T - $T)", target=GRAY, truncate=False)
    assert np.all(out == np.finfo(np.float32).max)


def test_comparisons_yield_zero_or_one_per_pixel() -> None:
    out = run("$T > 0.5")
    np.testing.assert_array_equal(out, (RGB > 0.5).astype(np.float32))


def test_iif_per_pixel_and_per_channel() -> None:
    out = run("iif($T > 0.5, $T*0.5, 1 - $T)")
    np.testing.assert_allclose(out, np.where(RGB > 0.5, RGB * 0.5, 1 - RGB), rtol=1e-6)
    assert value("iif(1, 0.2, 0.7)") == pytest.approx(0.2)
    assert value("iif(0, 0.2, 0.7)") == pytest.approx(0.7)
    assert value("iswitch(0, 1, 1, 2, 3)") == 2
    assert value("iswitch(0, 1, 0, 2, 3)") == 3


# -- functions ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("abs(-0.3)", 0.3), ("sqrt(0.25)", 0.5), ("exp(0)", 1), ("ln(exp(2))", 2), ("log(100)", 2),
        ("log10(1000)", 3), ("log2(8)", 3), ("sin(pi()/2)", 1), ("cos(0)", 1), ("tan(0)", 0),
        ("asin(1)", math.pi / 2), ("acos(1)", 0), ("atan(1)", math.pi / 4), ("atan(1, -1)", 3 * math.pi / 4),
        ("sinh(0)", 0), ("cosh(0)", 1), ("tanh(0)", 0),
        ("round(2.5)", 3), ("round(-2.5)", -3), ("round(0.123456, 2)", 0.12), ("trunc(-1.7)", -1),
        ("frac(-1.75)", -0.75), ("floor(-1.5)", -2), ("ceil(1.2)", 2), ("sign(-3)", -1), ("sign(0)", 0),
        ("min(0.2, 0.5, 0.1)", 0.1), ("max(0.2, 0.5, 0.1)", 0.5), ("mean(0.2, 0.4)", 0.3), ("avg(1, 2, 6)", 3),
        ("med(0.1, 0.5, 0.3)", 0.3), ("median(0.1, 0.3)", 0.2), ("med(4, 1, 3, 2)", 2.5),
        ("sdev(1, 2, 3, 4)", math.sqrt(5 / 3)), ("var(1, 2, 3, 4)", 5 / 3),
        ("mdev(1, 2, 3, 4, 100)", 1.4826), ("adev(1, 2, 3, 4, 100)", 20.2 * 1.2533),
        ("sum(1, 2, 3)", 6), ("norm(1, -2)", -1), ("mod(1, -2)", 3), ("ssqr(1, 2)", 5), ("asqr(1, 2)", 2.5),
        ("maxdev(1, 2, 10)", 8), ("Qn(1, 2)", 0.399 * 2.2191),  # d_2 = 0.399
        ("Sn(1, 2, 4)", 1.851 * 1.1926),  # lomed(himed{0,1,3}, himed{1,0,2}, himed{3,2,0}) = 1; c_3 = 1.851
        ("ostat(0, 3, 1, 2)", 1), ("ostat(0.5, 3, 1, 2)", 2), ("ostat(1, 3, 1, 2)", 3),
        ("range(1.5, 0, 1)", 1), ("range(-1, 0, 1)", 0), ("range(0.3, 0, 1)", 0.3),
        ("rescale(0.3, 0.2, 0.6)", 0.25), ("rescale(0.3, 0.6, 0.2)", 0.25), ("rescale(0.1, 0.2, 0.6)", 0),
        ("rescale(0.9, 0.2, 0.6)", 1), ("rescale(0.5, 0.4, 0.4)", 0),
        ("mtf(0.25, 0.5)", 0.75), ("mtf(0.5, 0.3)", 0.3), ("mtf(0.25, 0)", 0), ("mtf(0.25, 1)", 1),
        ("pi()", math.pi), ("Pi()", math.pi),
    ],
)
def test_functions_of_constants(expression: str, expected: float) -> None:
    assert value(expression) == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_elementwise_functions_match_numpy() -> None:
    np.testing.assert_allclose(run("sqrt($T)"), np.sqrt(RGB), rtol=1e-6)
    np.testing.assert_allclose(run("exp(-$T)"), np.exp(-RGB), rtol=1e-6)
    np.testing.assert_allclose(run("max($T, 0.5)"), np.maximum(RGB, 0.5), rtol=1e-6)
    np.testing.assert_allclose(run("min($T[0], $T[2])"), np.broadcast_to(np.minimum(RGB[0], RGB[2]), RGB.shape))
    np.testing.assert_allclose(run("$T^2"), RGB**2, rtol=1e-6)
    np.testing.assert_allclose(run("$T^0.5"), np.sqrt(RGB), rtol=1e-6)
    np.testing.assert_allclose(run("mean($T, 0)"), RGB / 2, rtol=1e-6)  # per pixel: mean of $T and 0


def test_robust_estimators_of_argument_lists_and_images_agree_with_the_kernels() -> None:
    from processes.kernels import robust

    sample = np.array([0.1, 0.2, 0.4, 0.7, 0.11])
    args = ", ".join(str(v) for v in sample)
    assert value(f"Sn({args})") == pytest.approx(robust.sn(sample) * 1.1926, rel=1e-5)
    assert value(f"Qn({args})") == pytest.approx(robust.qn(sample) * 2.2191, rel=1e-5)
    assert value(f"bwmv({args})") == pytest.approx(robust.bwmv(sample), rel=1e-5)
    assert value(f"pbmv({args})") == pytest.approx(robust.pbmv(sample), rel=1e-5)
    out = run("bwmv($T)*1000 + Sn($T[1])", truncate=False)
    assert out[2, 0, 0] == pytest.approx(robust.bwmv(RGB[2]) * 1000 + robust.sn(RGB[1]) * 1.1926, rel=1e-5)


def test_mtf_matches_the_kernel_and_formula() -> None:
    m = 0.2
    expected = (m - 1) * RGB / ((2 * m - 1) * RGB - m)
    np.testing.assert_allclose(run("mtf(0.2, $T)"), expected, rtol=1e-5)
    from processes.kernels.mtf import mtf

    np.testing.assert_allclose(run("mtf($T, 0.3)", truncate=False), mtf(RGB, 0.3), rtol=1e-5)


def test_image_statistics_are_per_channel_constants() -> None:
    out = run("med($T)")
    for c in range(3):
        assert out[c, 0, 0] == pytest.approx(np.median(RGB[c]), rel=1e-6)
    out = run("mdev($T)*10", truncate=False)
    for c in range(3):
        mad = np.median(np.abs(RGB[c] - np.median(RGB[c])))
        assert out[c, 1, 1] == pytest.approx(10 * 1.4826 * mad, rel=1e-5)
    out = run("mean($T[1]) + min($T) + max($T[0])", truncate=False)
    for c in range(3):
        assert out[c, 2, 2] == pytest.approx(RGB[1].mean() + RGB[c].min() + RGB[0].max(), rel=1e-5)
    roi = run("mean($T, 1, 1, 2, 2)", truncate=False)  # region of interest x0, y0, w, h
    assert roi[0, 0, 0] == pytest.approx(RGB[0, 1:3, 1:3].mean(), rel=1e-6)
    assert run("sdev($T[2])", truncate=False)[0, 0, 0] == pytest.approx(RGB[2].std(ddof=1), rel=1e-5)


def test_coordinates_and_geometry() -> None:
    out = run("x()", target=GRAY, truncate=False)
    np.testing.assert_array_equal(out[0], np.broadcast_to(np.arange(6), (4, 6)))
    out = run("y()", target=GRAY, truncate=False)
    np.testing.assert_array_equal(out[0], np.broadcast_to(np.arange(4)[:, None], (4, 6)))
    np.testing.assert_allclose(run("X()", target=GRAY)[0, 0], np.arange(6) / 5, rtol=1e-6)
    assert value("width() + 10*height() + 100*area() + 1000*channels() + 10000*iscolor()") == 6 + 40 + 2400 + 1000
    assert run("iscolor()", target=RGB)[0, 0, 0] == 1
    out = run("rdist()", target=GRAY, truncate=False)  # centre (3, 2)
    assert out[0, 0, 0] == pytest.approx(math.hypot(3, 2), rel=1e-6)
    out = run("inrect(1, 1, 2, 2)", target=GRAY)
    expected = np.zeros((4, 6))
    expected[1:3, 1:3] = 1
    np.testing.assert_array_equal(out[0], expected)
    out = run("inellipse(3, 2, 1, 1)", target=GRAY)
    assert out[0, 2, 3] == 1 and out[0, 2, 4] == 1 and out[0, 1, 4] == 0
    out = run("d2line(0, 0, 1, 0)", target=GRAY, truncate=False)  # distance to the x axis = y
    np.testing.assert_allclose(out[0], np.broadcast_to(np.arange(4)[:, None], (4, 6)))
    out = run("x()%2 == 0 && y()%2 == 0", target=GRAY)
    assert out[0, 0, 0] == 1 and out[0, 0, 1] == 0 and out[0, 1, 0] == 0 and out[0, 2, 2] == 1


def test_pixel_function() -> None:
    assert value("pixel($T, 1, 2)") == pytest.approx(GRAY[0, 2, 1])
    assert value("pixel($T, 99, 2)") == 0  # outside the image
    out = run("pixel($T, x(), y(), 2)")
    np.testing.assert_array_equal(out, np.broadcast_to(RGB[2], RGB.shape))
    out = run("pixel($T, width()-1-x(), y())")  # horizontal mirror through coordinates
    np.testing.assert_array_equal(out, RGB[:, :, ::-1])


def test_colour_functions() -> None:
    def lightness(v: float) -> float:  # CIE L*/100 of a gray sRGB value, written out
        lin = ((v + 0.055) / 1.055) ** 2.4 if v > 0.04045 else v / 12.92
        f = lin ** (1 / 3) if lin > 216 / 24389 else (24389 / 27 * lin + 16) / 116
        return 1.16 * f - 0.16

    gray = np.full((1, 4, 6), 0.5, np.float32)
    assert run("CIEL($T)", target=gray)[0, 0, 0] == pytest.approx(lightness(0.5), rel=1e-5)
    colours = np.zeros((3, 4, 6), np.float32)
    colours[0, :, 0] = 1  # red
    colours[1, :, 1] = 1  # green
    colours[2, :, 2] = 1  # blue
    colours[:, :, 3] = 0.5  # gray
    hue = run("H($T)", target=colours)
    np.testing.assert_allclose(hue[0, 0, :4], [0, 1 / 3, 2 / 3, 0], atol=1e-6)
    lum = run("CIEL($T)", target=colours)
    y_red = 0.222491 / (0.222491 + 0.716888 + 0.060621)
    assert lum[0, 0, 0] == pytest.approx(1.16 * y_red ** (1 / 3) - 0.16, rel=1e-4)
    assert lum[0, 0, 3] == pytest.approx(lightness(0.5), rel=1e-5)
    # CIE c* of pure red, from the sRGB (D50) primaries written out
    x, y = (0.648431, 0.321152, 0.155886), (0.330856, 0.597871, 0.066044)
    lum = np.array([0.222491, 0.716888, 0.060621]) / (0.222491 + 0.716888 + 0.060621)
    row_x = [lum[i] * x[i] / y[i] for i in range(3)]
    row_z = [lum[i] * (1 - x[i] - y[i]) / y[i] for i in range(3)]
    fx, fy, fz = (v ** (1 / 3) for v in (row_x[0] / sum(row_x), lum[0], row_z[0] / sum(row_z)))
    a_star, b_star = 5 * (fx - fy), 2 * (fy - fz)
    c_red = math.hypot(a_star, b_star) / math.hypot(5 * (1 - 16 / 116), 2 * (1 - 16 / 116))
    chroma = run("CIEc($T)", target=colours)
    assert chroma[0, 0, 3] == pytest.approx(0, abs=1e-6)
    assert chroma[0, 0, 0] == pytest.approx(c_red, rel=1e-4)
    hue_red = (math.atan2(b_star, a_star) % (2 * math.pi)) / (2 * math.pi)
    assert run("CIEh($T)", target=colours)[0, 0, 0] == pytest.approx(hue_red, rel=1e-4)
    np.testing.assert_allclose(run("V($T)", target=colours)[0, 0, :4], [1, 1, 1, 0.5])
    np.testing.assert_allclose(run("Sv($T)", target=colours)[0, 0, :4], [1, 1, 1, 0])
    np.testing.assert_allclose(run("CIEY($T)", target=colours)[0, 0, 3], ((0.5 + 0.055) / 1.055) ** 2.4, rtol=1e-5)
    for name in ("CIEa", "CIEb", "CIEh", "CIEX", "CIEZ", "I", "Si"):
        out = run(f"{name}($T)")
        assert np.all((out >= 0) & (out <= 1)), name


def test_random_functions_are_distributed() -> None:
    big = np.zeros((1, 200, 200), np.float32)
    out = run("random()", target=big)
    assert 0.45 < out.mean() < 0.55 and out.min() >= 0 and out.max() < 1
    out = run("gauss()", target=big, truncate=False)
    assert abs(out.mean()) < 0.05 and 0.95 < out.std() < 1.05


def test_generators() -> None:
    big = RNG.random((3, 30, 40), dtype=np.float32)
    from scipy import ndimage

    out = run("gconv($T, 1.5)", target=big)
    expected = np.stack([ndimage.gaussian_filter(c, 1.5, mode="mirror", truncate=math.sqrt(-2 * math.log(0.01)))
                         for c in big])
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(run("hmirror($T)", target=big), big[:, :, ::-1])
    np.testing.assert_allclose(run("combine($T, $T, op_screen())", target=big), 1 - (1 - big) ** 2, rtol=1e-5)
    np.testing.assert_allclose(run("medfilt($T, 3)", target=big)[:, 5:-5, 5:-5],
                               np.stack([ndimage.median_filter(c, 3) for c in big])[:, 5:-5, 5:-5])
    np.testing.assert_allclose(run("binarize($T, 0.5)", target=big), (big >= 0.5).astype(np.float32))


# -- symbols, statements, comments ----------------------------------------------------------------
def test_symbols_and_multiple_statements() -> None:
    out = run("v = $T*k; v + 0.1", symbols="k = 0.5, v")
    np.testing.assert_allclose(out, RGB * 0.5 + 0.1, rtol=1e-6)
    assert value("a = 2; b = a*3; b + 1", symbols="a, b") == 7
    assert value("a", symbols="a = init(0.25)") == 0.25
    assert value("a += 1; a *= 3; a", symbols="a = init(1)") == 6
    out = run("c", symbols="c = 0.1:0.2:0.3")
    np.testing.assert_allclose(out[:, 0, 0], [0.1, 0.2, 0.3], rtol=1e-6)
    out = run("m", symbols="m = median($T, 1), w = width($T)")
    np.testing.assert_allclose(out, np.median(RGB[1]), rtol=1e-6)
    assert value("w + h", symbols="w = width($T); h = height($T)") == 10
    assert value("E[1]", symbols="E") == 0  # an unassigned variable is 0


def test_variable_channel_assignment_and_index() -> None:
    out = run("E = $T; E[1] = 0; E", symbols="E")
    np.testing.assert_allclose(out[[0, 2]], RGB[[0, 2]])
    assert np.all(out[1] == 0)
    out = run("E = $T*2; E[0]", symbols="E", truncate=False)
    np.testing.assert_allclose(out, np.broadcast_to(RGB[0] * 2, RGB.shape), rtol=1e-6)


def test_global_variables_report_output_data() -> None:
    ws = _workspace(T1=RGB)
    pm = PixelMath(expression="n += $T > 0.5; $T", symbols="n = global(+)")
    result = pm.execute_on(ws.view("T1"))
    ((name, r, g, b),) = result.outputs["outputData"]
    assert name == "n"
    assert (r, g, b) == tuple(float((RGB[c] > 0.5).sum()) for c in range(3))


def test_comments_and_directives() -> None:
    assert value("/* block\ncomment */ 0.25 // line comment\n + 0.25") == 0.5
    out = run(".pragma rescale;\n$T*2 + 1")  # the pragma switches rescaling on
    assert out.min() == pytest.approx(0) and out.max() == pytest.approx(1)
    assert value(".symbols q = 0.125;\nq") == 0.125


# -- channels, rescale, truncate, outputs ----------------------------------------------------------
def test_per_channel_expressions() -> None:
    out = run("0.1", expression1="0.2", expression2="$T[2]", useSingleExpression=False)
    np.testing.assert_allclose(out[0], 0.1, rtol=1e-6)
    np.testing.assert_allclose(out[1], 0.2, rtol=1e-6)
    np.testing.assert_array_equal(out[2], RGB[2])
    out = run("$T", expression1="1 - $T", expression2="$T*$T", useSingleExpression=False)
    np.testing.assert_allclose(out, np.stack([RGB[0], 1 - RGB[1], RGB[2] ** 2]), rtol=1e-6)
    out = run("Ha", expression1="", expression2="", useSingleExpression=False, others={"Ha": GRAY})
    np.testing.assert_array_equal(out[0], GRAY[0])
    np.testing.assert_array_equal(out[1:], RGB[1:])  # the target is not referenced: unchanged
    out = run("$T[1]", expression1="", expression2="", useSingleExpression=False)
    assert np.all(out[1:] == 0)  # the target is referenced: PixelMath's zeroed working image
    out = run("$T", expression1="ignored", useSingleExpression=True)
    np.testing.assert_array_equal(out, RGB)
    gray = run("$T*0.5", target=GRAY, expression1="1", useSingleExpression=False)
    np.testing.assert_allclose(gray, GRAY * 0.5, rtol=1e-6)


def test_64_bit_working_image() -> None:
    out = run("($T + 1e-9 - 1e-9)*3/3", use64BitWorkingImage=True)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, RGB, rtol=1e-7)
    assert value("1/3 + 1/3 + 1/3 - 1", use64BitWorkingImage=True) == 0


def test_progress_is_reported_per_expression() -> None:
    ws = _workspace(T1=RGB)
    seen: list[tuple[float, str]] = []
    PixelMath(expression="$T", expression1="0", expression2="1", useSingleExpression=False).execute_on(
        ws.view("T1"), progress=lambda fraction, message: seen.append((fraction, message))
    )
    assert [f for f, _ in seen] == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert "expression1" in seen[1][1]


def test_rescale_and_truncate() -> None:
    out = run("$T*2 + 1", rescale=True)
    expected = (RGB * 2 + 1 - (RGB * 2 + 1).min()) / np.ptp(RGB * 2 + 1)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    out = run("$T*2 + 1", rescale=True, rescaleLower=0.25, rescaleUpper=0.75)
    assert out.min() == pytest.approx(0.25) and out.max() == pytest.approx(0.75)
    out = run("$T", truncateLower=0.2, truncateUpper=0.6)
    np.testing.assert_allclose(out, np.clip(RGB, 0.2, 0.6))
    raw = run("$T*4 - 1", truncate=False)
    np.testing.assert_allclose(raw, RGB * 4 - 1, rtol=1e-6)
    assert run("sqrt(-$T - 1)").max() == 0  # NaN results become the lower truncation bound


def test_create_new_image() -> None:
    ws = _workspace(T1=RGB)
    pm = PixelMath(expression="$T*0.5", createNewImage=True, newImageId="half")
    result = pm.execute_on(ws.view("T1"))
    assert result.created == ("half",)
    np.testing.assert_allclose(ws.view("half").image.pixels, RGB * 0.5, rtol=1e-6)
    np.testing.assert_array_equal(ws.view("T1").image.pixels, RGB)  # target unchanged
    out = run("CIEL($T)", createNewImage=True, newImageColorSpace="Gray", newImageWidth=12, newImageHeight=8)
    assert out.shape == (1, 8, 12)
    out = run("$T", createNewImage=True, newImageSampleFormat="i8")
    np.testing.assert_allclose(out, np.round(RGB * 255) / 255, atol=1e-7)
    out = run("$T", createNewImage=True, newImageSampleFormat="f64")
    assert out.dtype == np.float64
    out = run("0.5", createNewImage=True, newImageAlpha=True, expression3="0.25")
    assert out.shape == (4, 4, 6) and np.all(out[3] == 0.25)
    assert run("1", createNewImage=True, newImageId="Use for mask").shape == RGB.shape  # id sanitized


def test_global_execution() -> None:
    ws = _workspace(Ha=GRAY)
    assert not PixelMath(expression="Ha").can_execute_global()[0]
    pm = PixelMath(expression="Ha*0.5 + X()", createNewImage=True, newImageWidth=6, newImageHeight=4,
                   newImageColorSpace="RGB", newImageSampleFormat="f32", newImageId="made")
    assert pm.can_execute_global() == (True, "")
    result = pm.execute_global(ws)
    out = ws.view(result.created[0]).image.pixels
    assert out.shape == (3, 4, 6)
    np.testing.assert_allclose(out[1], np.clip(GRAY[0] * 0.5 + np.arange(6) / 5, 0, 1), rtol=1e-6)
    with pytest.raises(PixelMathEvaluationError, match=r"\$T.*global"):
        pm.evolve(expression="$T").execute_global(ws)


def test_image_references() -> None:
    others = {"Ha": GRAY, "Color": RGB[::-1].copy(), "Big": RNG.random((1, 8, 12), dtype=np.float32)}
    out = run("Ha", others=others)
    np.testing.assert_array_equal(out, np.broadcast_to(GRAY, RGB.shape))  # gray stands for all channels
    out = run("Color[0]*0.5 + Ha", others=others)
    np.testing.assert_allclose(out, np.clip(np.broadcast_to(RGB[2] * 0.5 + GRAY[0], RGB.shape), 0, 1), rtol=1e-6)
    out = run("Color", target=GRAY, others=others)  # RGB in a gray target: the first channel
    np.testing.assert_array_equal(out[0], RGB[2])
    out = run("Big", others=others)  # another size: resampled to the target's
    assert out.shape == RGB.shape and np.isfinite(out).all()


def test_preview_coordinates_are_image_coordinates() -> None:
    ws = _workspace(T1=np.zeros((1, 6, 8), np.float32))
    preview = ws.window("T1").add_preview(2, 1, 5, 3)
    PixelMath(expression="x() + 10*y()", truncate=False).execute_on(preview)
    np.testing.assert_array_equal(preview.image.pixels[0], [[12, 13, 14], [22, 23, 24]])


def test_input_untouched_and_float32_kept() -> None:
    check_process(PixelMath).raise_if_failed()
    check_process(PixelMath, instance=PixelMath(expression="$T*0.5 + mean($T)")).raise_if_failed()
    check_process(PixelMath, instance=PixelMath(expression="$T", expression1="0.5",
                                                useSingleExpression=False)).raise_if_failed()


def test_parameters_are_pixinsights() -> None:
    schema = PixelMath.schema()
    assert list(schema) == [
        "expression", "expression1", "expression2", "expression3", "useSingleExpression", "symbols",
        "clearImageCacheAndExit", "cacheGeneratedImages", "generateOutput", "singleThreaded", "optimization",
        "use64BitWorkingImage", "rescale", "rescaleLower", "rescaleUpper", "truncate", "truncateLower",
        "truncateUpper", "createNewImage", "showNewImage", "newImageId", "newImageWidth", "newImageHeight",
        "newImageAlpha", "newImageColorSpace", "newImageSampleFormat", "outputData",
    ]
    pm = PixelMath()
    assert pm.useSingleExpression and pm.generateOutput and pm.optimization and pm.truncate and not pm.rescale
    assert pm.newImageColorSpace == "SameAsTarget" and pm.newImageSampleFormat == "SameAsTarget"
    assert schema["outputData"].read_only
    assert PixelMath.from_parameters({"expression0": "1", "variables": "a"}).symbols == "a"  # PixInsight aliases
    with pytest.raises(ProcfwError, match="rescaleLower"):
        PixelMath(rescaleLower=0.8, rescaleUpper=0.2)


# -- errors ------------------------------------------------------------------------------------
def test_unknown_function_names_it_with_a_suggestion() -> None:
    with pytest.raises(PixelMathSyntaxError, match=r"unknown function 'meen' \(did you mean mean") as info:
        run("meen($T)")
    assert info.value.line == 1 and info.value.column == 1 and info.value.where == "expression"
    with pytest.raises(PixelMathSyntaxError, match=r"pow.*x\^y"):
        run("pow($T, 2)")
    with pytest.raises(PixelMathSyntaxError, match=r"case-sensitive: did you mean CIEL"):
        run("ciel($T)")
    with pytest.raises(PixelMathSyntaxError, match="requires at least 3 argument"):
        run("iif($T > 0.5, 1)")


def test_unknown_image_id_suggests_the_nearest() -> None:
    with pytest.raises(PixelMathEvaluationError, match=r"no such image or symbol: 'Hb'; did you mean Ha\?") as info:
        run("Hb*2", others={"Ha": GRAY})
    assert "line 1, column 1" in str(info.value)
    with pytest.raises(PixelMathEvaluationError, match="no such image"):
        run("Ha", expression1="Oiii", useSingleExpression=False, others={"Ha": GRAY})
    with pytest.raises(PixelMathEvaluationError, match="expression1"):
        run("Ha", expression1="Oiii", useSingleExpression=False, others={"Ha": GRAY})


def test_syntax_errors_report_their_position() -> None:
    with pytest.raises(PixelMathSyntaxError) as info:
        run("$T*2 +\n  (1 + )")
    error = info.value
    assert (error.line, error.column) == (2, 8)
    assert "unexpected ')': missing operand" in str(error) and "^" in str(error)
    with pytest.raises(PixelMathSyntaxError, match="mismatched right parenthesis"):
        run("(1 + 2))")
    with pytest.raises(PixelMathSyntaxError, match="unmatched block comment"):
        run("1 /* never closed")
    with pytest.raises(PixelMathSyntaxError, match="expected lvalue"):
        run("$T + 1 = 2")
    with pytest.raises(PixelMathSyntaxError, match="channel index"):
        run("$T[0.5]")
    with pytest.raises(PixelMathSyntaxError, match="symbols: .*duplicate symbol"):
        run("a", symbols="a, a")
    with pytest.raises(PixelMathSyntaxError, match="operator '<<' is not implemented"):
        run("1 << 2")
    with pytest.raises(PixelMathSyntaxError, match="expression2"):
        run("1", expression1="2", expression2="3 +* 4", useSingleExpression=False)


def test_evaluation_errors() -> None:
    with pytest.raises(PixelMathEvaluationError, match="not a declared variable"):
        run("a = 1")
    with pytest.raises(PixelMathEvaluationError, match="is a constant"):
        run("a = 1", symbols="a = 0.5")
    with pytest.raises(PixelMathEvaluationError, match=r"channel index out of range: \$T\[3\]"):
        run("$T[3]")
    with pytest.raises(PixelMathEvaluationError, match="single image reference argument"):
        run("mean(0.5)")
    with pytest.raises(NotImplementedFunctionError, match=r"ra\(\) is not implemented"):
        run("ra($T, 0, 0)")
    with pytest.raises(PixelMathEvaluationError, match="op_screen"):
        run("op_screen()")
    for cls in (PixelMathSyntaxError, PixelMathEvaluationError):
        assert issubclass(cls, ProcfwError)


def test_empty_expression_cannot_execute() -> None:
    ws = _workspace(T1=RGB)
    ok, why = PixelMath(expression="// nothing here").can_execute_on(ws.view("T1"))
    assert not ok and "no applicable PixelMath expression" in why
    with pytest.raises(PixelMathEvaluationError, match="no applicable"):
        PixelMath().apply(Image(RGB), ExecutionContext(workspace=ws, view_id="T1"))


def test_catalogue_covers_the_pixinsight_function_table() -> None:
    for name in ("iif", "mtf", "med", "mdev", "bwmv", "pbmv", "Sn", "Qn", "CIEL", "CIEh", "CIEX", "width", "x",
                 "pixel", "gconv", "combine", "rescale", "range", "adev", "var", "sdev", "avg"):
        assert name in FUNCTIONS or any(name in spec.aliases for spec in FUNCTIONS.values()), name
