"""ScreenTransferFunction, AutoStretch and the midtones transfer function."""

from __future__ import annotations

import math

import numpy as np
import pytest
from corpus_icons import CORPUS, corpus_instances
from hypothesis import given, settings
from hypothesis import strategies as st

from processes.intensity.histogram import HistogramTransformation
from processes.intensity.stf import AutoStretch, ScreenTransferFunction
from processes.kernels.mtf import midtones_balance, mtf, mtf_inplace
from procfw.errors import ExecutionError, ParameterError
from procfw.image import Image
from procfw.process import ExecutionContext
from procfw.testing import check_process
from procfw.workspace import Workspace

M13 = CORPUS / "fits-samples" / "astropy" / "m13.fits"


def mtf_formula(m: float, x: float) -> float:
    """PixInsight's MTF, written out: (m − 1)x / ((2m − 1)x − m)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    return (m - 1) * x / ((2 * m - 1) * x - m)


# -- the midtones transfer function -------------------------------------------------------------
unit = st.floats(min_value=0.001, max_value=0.999)


@given(unit)
def test_mtf_maps_m_to_one_half(m):
    assert mtf(m, m) == pytest.approx(0.5, abs=1e-12)


@given(unit)
def test_mtf_keeps_the_ends(m):
    assert mtf(m, 0.0) == 0.0
    assert mtf(m, 1.0) == 1.0


@given(st.floats(min_value=0, max_value=1))
def test_mtf_half_is_identity(x):
    assert mtf(0.5, x) == pytest.approx(x, abs=1e-15)


@given(unit, st.floats(min_value=0, max_value=1))
def test_mtf_inverse_relation(m, x):
    assert mtf(1 - m, mtf(m, x)) == pytest.approx(x, abs=1e-9)


@given(unit, st.floats(min_value=0, max_value=1))
def test_mtf_equals_the_pixinsight_formula(m, x):
    assert mtf(m, x) == pytest.approx(mtf_formula(m, x), rel=1e-9, abs=1e-12)


def test_mtf_hand_values():
    # (0.25 − 1)·0.1 / ((0.5 − 1)·0.1 − 0.25) = −0.075 / −0.3 = 0.25
    assert mtf(0.25, 0.1) == pytest.approx(0.25)
    assert midtones_balance(0.1, 0.25) == pytest.approx(0.25)
    # extreme balances
    assert mtf(0.0, 0.3) == 1.0 and mtf(1.0, 0.3) == 0.0


def test_mtf_inplace_float32_matches():
    x = np.linspace(0, 1, 1001, dtype=np.float32)
    for m in (0.0, 0.002, 0.25, 0.5, 0.75, 1.0):
        y = x.copy()
        mtf_inplace(m, y)
        assert y.dtype == np.float32
        expected = np.array([mtf_formula(m, float(v)) if 0 < m < 1 else mtf(m, float(v)) for v in x])
        np.testing.assert_allclose(y, expected, atol=2e-7)


# -- ScreenTransferFunction ----------------------------------------------------------------------
def test_stf_defaults_are_pixinsight_identity():
    stf = ScreenTransferFunction()
    assert stf.STF == ((0.0, 1.0, 0.5, 0.0, 1.0),) * 4
    assert stf.interaction == "SeparateChannels"
    assert ScreenTransferFunction.schema()["interaction"].element_ids() == ["SeparateChannels", "Grayscale"]
    columns = [c.id for c in ScreenTransferFunction.schema()["STF"].columns]
    assert columns == ["c0", "c1", "m", "r0", "r1"]


def test_stf_sets_the_display_function_and_leaves_pixels(workspace):
    image = Image(np.linspace(0, 1, 48, dtype=np.float32).reshape(1, 6, 8))
    view = workspace.add_image(image, "img").main_view
    stf = ScreenTransferFunction(STF=[(0.1, 0.9, 0.3, 0, 1)] * 3 + [(0, 1, 0.5, 0, 1)], interaction="Grayscale")
    result = stf.execute_on(view)
    assert view.display_function is stf
    assert view.image is image
    assert view.history.processes() == []
    assert result.target == "img"
    assert not ScreenTransferFunction.is_history_updater and not ScreenTransferFunction.is_maskable


def test_stf_rejects_crossed_clipping_points():
    with pytest.raises(ParameterError, match="c0"):
        ScreenTransferFunction(STF=[(0.6, 0.4, 0.5, 0, 1)] + [(0, 1, 0.5, 0, 1)] * 3)


def test_stf_to_ht_linked_goes_to_the_combined_row():
    rows = [(0.01, 1.0, 0.2, 0.0, 1.0)] * 3 + [(0, 1, 0.5, 0, 1)]
    ht = ScreenTransferFunction(STF=rows).to_histogram_transformation()
    c0, c1, m = np.float32(0.01), 1.0, np.float32(0.2)
    assert ht.H[3] == pytest.approx((c0, m, c1, 0.0, 1.0))
    assert all(ht.H[i] == (0.0, 0.5, 1.0, 0.0, 1.0) for i in (0, 1, 2, 4))


def test_stf_to_ht_separate_rows_and_grayscale():
    rows = [(0.01, 1.0, 0.2, 0, 1), (0.02, 0.9, 0.3, 0, 1), (0.03, 1.0, 0.4, 0, 1), (0, 1, 0.5, 0, 1)]
    ht = ScreenTransferFunction(STF=rows).to_histogram_transformation()
    for c in range(3):
        c0, c1, m, r0, r1 = rows[c]
        assert ht.H[c] == pytest.approx((c0, m, c1, r0, r1))
    assert ht.H[3] == (0.0, 0.5, 1.0, 0.0, 1.0)
    grey = ScreenTransferFunction(STF=rows, interaction="Grayscale").to_histogram_transformation()
    assert grey.H[3] == pytest.approx((0.01, 0.2, 1.0, 0, 1))
    assert grey.H[0] == (0.0, 0.5, 1.0, 0.0, 1.0)


@pytest.mark.parametrize("rows", [
    [(0.01, 1.0, 0.2, 0, 1)] * 3 + [(0, 1, 0.5, 0, 1)],
    [(0.01, 1.0, 0.2, 0, 1), (0.02, 0.9, 0.3, 0, 1), (0.03, 1.0, 0.4, 0, 1), (0, 1, 0.5, 0, 1)],
])
def test_stf_display_equals_its_histogram_transformation(rows):
    rng = np.random.default_rng(3)
    image = Image(rng.random((3, 20, 30), dtype=np.float32))
    stf = ScreenTransferFunction(STF=rows)
    shown = stf.render(image).pixels
    stretched = stf.to_histogram_transformation().apply(image, ExecutionContext()).pixels
    np.testing.assert_allclose(shown, stretched, atol=1e-6)
    # and both equal the formula: clip to [c0, c1], then the MTF
    for c in range(3):
        c0, c1, m, _, _ = (float(v) for v in stf.row(c))
        x = np.clip((image.pixels[c].astype(np.float64) - c0) / (c1 - c0), 0, 1)
        expected = np.vectorize(mtf_formula)(m, x)
        np.testing.assert_allclose(shown[c], expected, atol=2e-6)


def test_corpus_stf_icons_run():
    icons = corpus_instances("ScreenTransferFunction")
    assert len(icons) == 3
    rng = np.random.default_rng(0)
    for label, stf in icons:
        assert stf.STF[0] == pytest.approx((0.00391, 1.0, 0.00237, 0.0, 1.0)), label
        assert stf.interaction == "SeparateChannels"
        ws = Workspace()
        view = ws.add_image(Image(rng.random((3, 16, 16), dtype=np.float32) * 0.05), "img").main_view
        before = view.image.pixels.copy()
        stf.execute_on(view)
        assert view.display_function is stf
        np.testing.assert_array_equal(view.image.pixels, before)
        ht = stf.to_histogram_transformation()  # three different rows: individual R, G, B rows
        assert ht.H[1] == pytest.approx((0.00407, 0.00173, 1.0, 0.0, 1.0))


# -- AutoStretch -----------------------------------------------------------------------------------
def median_sigma(channel: np.ndarray) -> tuple[float, float]:
    """Median and 1.4826·MAD written out with numpy (float64)."""
    v = channel.astype(np.float64).ravel()
    med = float(np.median(v))
    return med, 1.4826 * float(np.median(np.abs(v - med)))


def m13() -> Image:
    if not M13.exists():
        pytest.skip(f"{M13} not found")
    from procfw.io import read_image

    return read_image(M13)


def test_autostretch_m13_grey_normal_branch():
    # m13 is signed 16-bit: as read its median sits just above 0.5.  Shifted by −0.5 it is
    # the physical data on the unsigned scale, a normal (non-inverted) image.
    image = m13()
    shifted = Image(image.pixels - np.float32(0.5))
    med, sigma = median_sigma(shifted.pixels[0])
    c0 = max(med - 2.8 * sigma, 0.0)
    m = mtf_formula(0.25, med - c0)
    for linked in (True, False):
        stf = AutoStretch(linked=linked).compute_stf(shifted)
        got_c0, got_c1, got_m, _, _ = stf.row(0)
        assert got_c0 == pytest.approx(c0, rel=1e-6)
        assert got_m == pytest.approx(m, rel=1e-5)
        assert got_c1 == 1.0
        assert stf.interaction == "Grayscale"
    # the stretched median lands on the target background
    out = AutoStretch().apply(shifted, ExecutionContext()).image.pixels
    assert float(np.median(out)) == pytest.approx(0.25, abs=2e-3)


def test_autostretch_m13_as_read_takes_pixinsights_inverted_branch():
    image = m13()
    med, sigma = median_sigma(image.pixels[0])
    assert med > 0.5
    c1 = min(med + 2.8 * sigma, 1.0)
    m = mtf_formula(c1 - med, 0.25)
    stf = AutoStretch().compute_stf(image)
    c0_got, c1_got, m_got, _, _ = stf.row(0)
    assert (c0_got, c1_got, m_got) == pytest.approx((0.0, c1, m), rel=1e-6)


def test_autostretch_m13_rgb_linked_and_unlinked():
    grey = m13().pixels[0] - np.float32(0.5)
    rgb = np.stack([grey, grey * np.float32(0.8), grey * np.float32(0.6) + np.float32(0.01)])
    image = Image(rgb)
    stats = [median_sigma(rgb[c]) for c in range(3)]
    # linked: c0 averages the per-channel clipping points, m uses the average median
    c0 = sum(med - 2.8 * s for med, s in stats) / 3
    m = mtf_formula(0.25, sum(med for med, _ in stats) / 3 - c0)
    linked = AutoStretch(linked=True).compute_stf(image)
    for c in range(3):
        assert linked.row(c)[0] == pytest.approx(c0, rel=1e-6)
        assert linked.row(c)[2] == pytest.approx(m, rel=1e-5)
    assert linked.row(3) == (0.0, 1.0, 0.5, 0.0, 1.0)
    unlinked = AutoStretch(linked=False).compute_stf(image)
    for c, (med, s) in enumerate(stats):
        assert unlinked.row(c)[0] == pytest.approx(med - 2.8 * s, rel=1e-6)
        assert unlinked.row(c)[2] == pytest.approx(mtf_formula(0.25, 2.8 * s), rel=1e-5)
    # applying the linked stretch = the formula on every channel
    out = AutoStretch(linked=True).apply(image, ExecutionContext())
    cf, mf = float(np.float32(c0)), float(np.float32(m))
    x = np.clip((rgb.astype(np.float64) - cf) / (1 - cf), 0, 1)
    np.testing.assert_allclose(out.image.pixels, np.vectorize(mtf_formula)(mf, x), atol=3e-6)
    assert out.outputs["G"] == pytest.approx({"c0": cf, "m": mf, "c1": 1.0})


def test_autostretch_boost_and_parameters():
    rng = np.random.default_rng(7)
    image = Image((rng.normal(0.05, 0.004, (1, 200, 200))).astype(np.float32))
    med, sigma = median_sigma(image.pixels[0])
    stf = AutoStretch(boost=2.0).compute_stf(image)
    c0 = med - 2.8 * 0.75 * sigma
    assert stf.row(0)[0] == pytest.approx(c0, rel=1e-6)
    assert stf.row(0)[2] == pytest.approx(mtf_formula(0.5, med - c0), rel=1e-5)
    with pytest.raises(ParameterError, match="boost"):
        AutoStretch(targetBackground=0.4, boost=3)
    custom = AutoStretch(shadowsClipping=-1.5, targetBackground=0.1).compute_stf(image)
    assert custom.row(0)[0] == pytest.approx(med - 1.5 * sigma, rel=1e-6)


def test_autostretch_display_mode_sets_only_the_stf():
    rng = np.random.default_rng(1)
    ws = Workspace()
    image = Image(rng.normal(0.1, 0.01, (3, 32, 32)).astype(np.float32))
    view = ws.add_image(image, "img").main_view
    result = AutoStretch(display=True).execute_on(view)
    assert isinstance(view.display_function, ScreenTransferFunction)
    assert view.image is image and view.history.processes() == []
    assert set(result.outputs) == {"R", "G", "B"}
    assert view.display_function == AutoStretch().compute_stf(image)
    # without display: a history step and stretched pixels
    AutoStretch().execute_on(view)
    assert len(view.history.processes()) == 1
    assert float(np.median(view.image.pixels)) == pytest.approx(0.25, abs=0.02)


def test_autostretch_flat_image_and_empty_channel():
    flat = Image(np.full((1, 8, 8), 0.2, dtype=np.float32))
    stf = AutoStretch().compute_stf(flat)  # zero MAD: no shadows clipping
    assert stf.row(0)[0] == 0.0
    assert stf.row(0)[2] == pytest.approx(mtf_formula(0.25, 0.2), rel=1e-6)
    with pytest.raises(ExecutionError, match="finite"):
        AutoStretch().compute_stf(Image(np.full((1, 4, 4), np.nan, dtype=np.float32)))


def test_autostretch_outputs_for_grey():
    image = Image(np.linspace(0.01, 0.2, 400, dtype=np.float32).reshape(1, 20, 20))
    out = AutoStretch().apply(image, ExecutionContext())
    assert set(out.outputs) == {"K"} and set(out.outputs["K"]) == {"c0", "m", "c1"}
    assert math.isfinite(out.outputs["K"]["m"])


@settings(max_examples=25, deadline=None)
@given(st.floats(0.001, 0.2), st.floats(0.0005, 0.02))
def test_autostretch_maps_the_median_by_the_formula(level, noise):
    # PixInsight's AutoSTF aims mtf(m, med − c0) = target; the HT also rescales by 1/(1 − c0),
    # so the stretched median is mtf(m, (med − c0)/(1 − c0)): the target when c0 is small.
    rng = np.random.default_rng(11)
    pixels = np.clip(rng.normal(level, noise, (1, 65, 65)), 0, 1).astype(np.float32)
    out = AutoStretch().apply(Image(pixels), ExecutionContext()).image.pixels
    med, sigma = median_sigma(pixels[0])
    c0 = max(med - 2.8 * sigma, 0.0)
    m = mtf_formula(0.25, med - c0)
    assert float(np.median(out)) == pytest.approx(mtf_formula(m, (med - c0) / (1 - c0)), abs=1e-5)
    if c0 < 1e-3:
        assert float(np.median(out)) == pytest.approx(0.25, abs=2e-3)


@pytest.mark.parametrize("cls", [ScreenTransferFunction, AutoStretch, HistogramTransformation])
def test_conformance(cls):
    check_process(cls).raise_if_failed()
