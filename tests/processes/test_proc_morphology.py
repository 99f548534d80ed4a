"""MorphologicalTransformation: PixInsight's parameters and icons; operators equal scipy.ndimage's."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from processes.morphology.transformation import MorphologicalTransformation, morphological_filter
from procfw.icons import dumps_icons, load_icons, loads_icons
from procfw.image import Image
from procfw.process import ExecutionContext
from procfw.testing import check_process

RNG = np.random.default_rng(11)
PLANE = RNG.uniform(0, 1, (40, 50))
CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)
ODD = np.array([[1, 1, 0], [0, 1, 0], [0, 1, 1]], dtype=bool)  # not symmetric: reflection matters


def _pad(plane: np.ndarray, half: int) -> np.ndarray:
    """PCL's borders: rows mirrored about the edge, columns about the edge pixel."""
    return np.pad(np.pad(plane, ((half, half), (0, 0)), mode="symmetric"), ((0, 0), (half, half)), mode="reflect")


def _crop(plane: np.ndarray, half: int) -> np.ndarray:
    return plane[half:-half, half:-half]


def test_schema_is_pixinsights():
    schema = MorphologicalTransformation.schema()
    assert list(schema) == ["operator", "interlacingDistance", "lowThreshold", "highThreshold", "numberOfIterations",
                            "amount", "selectionPoint", "structureName", "structureSize", "structureWayTable"]
    assert [e for e, _ in schema["operator"].elements] == ["Erosion", "Dilation", "Opening", "Closing", "Median",
                                                          "Selection", "Midpoint"]
    assert (schema["lowThreshold"].precision, schema["amount"].precision, schema["amount"].kind_name) == (6, 2, "Float")
    assert (schema["structureSize"].minimum, schema["structureSize"].maximum) == (3, 25)
    assert MorphologicalTransformation().structureWayTable == ((b"\x01" * 9,),)
    check_process(MorphologicalTransformation).raise_if_failed()


@pytest.mark.parametrize("mask", [CROSS, ODD])
def test_erosion_and_dilation_equal_scipys_grey_morphology(mask: np.ndarray):
    padded = _pad(PLANE, 1)
    eroded = morphological_filter(PLANE, [mask], "Erosion")
    np.testing.assert_array_equal(eroded, _crop(ndimage.grey_erosion(padded, footprint=mask), 1))
    dilated = morphological_filter(PLANE, [mask], "Dilation")
    np.testing.assert_array_equal(dilated, _crop(ndimage.grey_dilation(padded, footprint=mask), 1))


def test_opening_and_closing_follow_pcl_order_and_median_selection_midpoint():
    image = Image(PLANE[None].astype(np.float32))
    context = ExecutionContext()
    opened = MorphologicalTransformation(operator="Opening").apply(image, context).pixels[0]
    by_hand = morphological_filter(morphological_filter(PLANE.astype(np.float32).astype(np.float64), [CROSS | True],
                                                        "Dilation"), [CROSS | True], "Erosion")
    np.testing.assert_allclose(opened, by_hand, atol=1e-7)  # PixInsight's Opening: dilation, then erosion
    padded = _pad(PLANE, 1)
    box = np.ones((3, 3), bool)
    np.testing.assert_array_equal(morphological_filter(PLANE, [box], "Median"),
                                  _crop(ndimage.median_filter(padded, footprint=box), 1))
    four = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 0]], dtype=bool)  # an even count: mean of the middle two
    window = np.sort([PLANE[9, 9], PLANE[9, 10], PLANE[10, 9], PLANE[10, 10]])
    assert morphological_filter(PLANE, [four], "Median")[10, 10] == pytest.approx((window[1] + window[2]) / 2)
    np.testing.assert_array_equal(morphological_filter(PLANE, [box], "Selection", selection_point=0.25),
                                  _crop(ndimage.rank_filter(padded, 2, footprint=box), 1))
    low, high = ndimage.minimum_filter(padded, footprint=box), ndimage.maximum_filter(padded, footprint=box)
    np.testing.assert_allclose(morphological_filter(PLANE, [box], "Midpoint"), _crop((low + high) / 2, 1))


def test_ways_interlacing_thresholds_and_amount():
    two = morphological_filter(PLANE, [CROSS, ODD], "Erosion")
    np.testing.assert_array_equal(two, np.minimum(morphological_filter(PLANE, [CROSS], "Erosion"),
                                                  morphological_filter(PLANE, [ODD], "Erosion")))
    spaced = morphological_filter(PLANE, [np.ones((3, 3), bool)], "Erosion", interlacing=2)
    footprint = np.zeros((5, 5), bool)
    footprint[::2, ::2] = True
    np.testing.assert_array_equal(spaced, _crop(ndimage.grey_erosion(_pad(PLANE, 2), footprint=footprint), 2))
    soft = morphological_filter(PLANE, [CROSS], "Erosion", low_threshold=0.2)
    hard = morphological_filter(PLANE, [CROSS], "Erosion")
    small = (PLANE - hard > 0) & (PLANE - hard < 0.2)
    np.testing.assert_allclose(soft[small], PLANE[small] - (PLANE[small] - hard[small]) ** 2 / 0.2)
    image = Image(PLANE[None].astype(np.float32))
    half = MorphologicalTransformation(amount=0.5).apply(image, ExecutionContext()).pixels[0]
    full = MorphologicalTransformation().apply(image, ExecutionContext()).pixels[0]
    np.testing.assert_allclose(half, (full + image.pixels[0]) / 2, atol=1e-6)


def test_the_corpus_icon_loads_typed_writes_back_equal_and_runs(corpus):
    result = load_icons(corpus / "xpsm" / "jamiesmith-pixinsight-icons" / "legacy__Sample_Flow.xpsm")
    (instance,) = [i for i in result.icons.values() if i.process_id == "MorphologicalTransformation"]
    assert isinstance(instance, MorphologicalTransformation)
    assert (instance.operator, instance.amount, instance.structureSize) == ("Erosion", 0.5, 3)
    assert instance.structureWayTable == ((b"\x01" * 9,),)
    text = dumps_icons({"mt": instance}, "xpsm")
    assert '<td id="mask">0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01</td>' in text
    assert loads_icons(text, "xpsm").icons["mt"] == instance
    out = instance.apply(Image(RNG.uniform(0, 1, (3, 30, 20)).astype(np.float32)), ExecutionContext())
    assert out.pixels.shape == (3, 30, 20)
