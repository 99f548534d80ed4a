"""HistogramTransformation: table ids, the per-row formula, the channel order, corpus icons."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import pixel
from corpus_icons import corpus_instances
from hypothesis import given
from hypothesis import strategies as st

from processes.intensity.histogram import HistogramTransformation, transform_value
from procfw.errors import ParameterError
from procfw.image import Image
from procfw.process import ExecutionContext
from procfw.testing import check_process

IDENTITY = (0.0, 0.5, 1.0, 0.0, 1.0)


def ht_formula(x: float, c0: float, m: float, c1: float, r0: float, r1: float) -> float:
    """PixInsight's histogram transformation of one value, written out."""
    x = min(max(x, 0.0), 1.0)
    x = 0.0 if x <= c0 else 1.0 if x >= c1 else (x - c0) / (c1 - c0)
    if m != 0.5 and 0 < x < 1:
        x = (m - 1) * x / ((2 * m - 1) * x - m)
    return (x - r0) / (r1 - r0)


def test_table_ids_and_defaults_match_pixinsight():
    table = HistogramTransformation.schema()["H"]
    assert [c.id for c in table.columns] == ["c0", "m", "c1", "r0", "r1"]
    assert (table.min_rows, table.max_rows) == (4, 5)
    assert HistogramTransformation().H == (IDENTITY,) * 5
    assert all(c.precision == 8 for c in table.columns)


def test_hand_computed_row():
    # (0.5 − 0.1)/0.8 = 0.5; mtf(0.3, 0.5) = −0.35/−0.5 = 0.7; expansion (0.7 + 0.5)/2 = 0.6
    assert float(transform_value(0.5, (0.1, 0.3, 0.9, 0.0, 1.0))) == pytest.approx(0.7)
    assert float(transform_value(0.5, (0.1, 0.3, 0.9, -0.5, 1.5))) == pytest.approx(0.6)
    assert float(transform_value(0.05, (0.1, 0.3, 0.9, 0, 1))) == 0.0
    assert float(transform_value(0.95, (0.1, 0.3, 0.9, 0, 1))) == 1.0


@given(
    st.floats(0, 1), st.floats(0, 0.45), st.floats(0.55, 1), st.floats(0.01, 0.99),
    st.floats(-2, 0), st.floats(1, 3),
)
def test_row_equals_formula(x, c0, c1, m, r0, r1):
    assert float(transform_value(x, (c0, m, c1, r0, r1))) == pytest.approx(ht_formula(x, c0, m, c1, r0, r1), abs=1e-9)


def test_known_table_on_colour_image_channel_then_combined():
    rng = np.random.default_rng(2)
    pixels = rng.random((4, 10, 12), dtype=np.float32)  # RGB + alpha
    rows = [
        (0.05, 0.4, 1.0, 0.0, 1.0),
        (0.0, 0.6, 0.9, 0.0, 1.0),
        (0.1, 0.5, 1.0, -0.2, 1.0),
        (0.02, 0.3, 0.98, 0.0, 1.0),  # RGB/K, after each channel's row
        (0.0, 0.7, 1.0, 0.0, 1.0),  # alpha
    ]
    out = HistogramTransformation(H=rows).apply(Image(pixels), ExecutionContext()).pixels
    assert out.dtype == np.float32
    f = np.vectorize(ht_formula)
    for c in range(3):
        expected = f(f(pixels[c].astype(np.float64), *rows[c]), *rows[3])
        np.testing.assert_allclose(out[c], expected, atol=2e-6)
    np.testing.assert_allclose(out[3], f(pixels[3].astype(np.float64), *rows[4]), atol=2e-6)


def test_grey_image_uses_only_the_combined_row():
    pixels = np.linspace(0, 1, 60, dtype=np.float32).reshape(1, 6, 10)
    rows = [(0.5, 0.1, 1.0, 0, 1), IDENTITY, IDENTITY, (0.1, 0.3, 0.9, 0, 1), IDENTITY]
    out = HistogramTransformation(H=rows).apply(Image(pixels), ExecutionContext()).pixels
    expected = np.vectorize(ht_formula)(pixels.astype(np.float64), *rows[3])
    np.testing.assert_allclose(out, expected, atol=2e-6)


def test_identity_leaves_out_of_range_values_alone_and_four_rows_accepted():
    pixels = np.array([[[-0.1, 0.5, 1.2]]], dtype=np.float32)
    out = HistogramTransformation().apply(Image(pixels), ExecutionContext()).pixels
    np.testing.assert_array_equal(out, pixels)
    vintage = HistogramTransformation(H=[IDENTITY] * 3 + [(0.1, 0.5, 1.0, 0, 1)])
    assert vintage.row(4) == IDENTITY
    out = vintage.apply(pixel(0.55), ExecutionContext()).pixels
    assert float(out[0, 0, 0]) == pytest.approx(0.5, abs=1e-6)


def test_collapsed_clipping_gives_c0_as_pcl():
    assert float(transform_value(0.7, (0.4, 0.5, 0.4, 0, 1))) == pytest.approx(0.4)


def test_invalid_tables_are_rejected():
    with pytest.raises(ParameterError, match="c0"):
        HistogramTransformation(H=[(0.6, 0.5, 0.4, 0, 1)] + [IDENTITY] * 4)
    with pytest.raises(ParameterError, match="r0"):
        HistogramTransformation(H=[(0, 0.5, 1, 0.5, 1)] + [IDENTITY] * 4)
    with pytest.raises(ParameterError):
        HistogramTransformation(H=[IDENTITY] * 3)


def test_corpus_ht_icons_run():
    icons = corpus_instances("HistogramTransformation")
    assert len(icons) == 2
    rng = np.random.default_rng(0)
    image = Image(rng.random((3, 16, 16), dtype=np.float32))
    for label, ht in icons:
        assert ht.H == (IDENTITY,) * 5, label
        out = ht.apply(image, ExecutionContext())
        np.testing.assert_array_equal(out.pixels, image.pixels)


def test_conformance():
    check_process(HistogramTransformation).raise_if_failed()
