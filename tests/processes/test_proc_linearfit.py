"""LinearFit: robust recovery of a known line, errors, the corpus icon."""

from __future__ import annotations

import numpy as np
import pytest
from corpus_icons import corpus_instances

from processes.color.linearfit import LinearFit
from processes.kernels.robust import lad_fit
from procfw.errors import ExecutionError, ParameterError
from procfw.image import Image
from procfw.testing import check_process
from procfw.workspace import Workspace


def pair(channels: int = 3, size: int = 200, seed: int = 0) -> tuple[Image, Image, np.ndarray]:
    """A target and a reference = 0.02 + 1.7·target (+ small noise) with 5 % wild outliers."""
    rng = np.random.default_rng(seed)
    target = rng.uniform(0.01, 0.45, (channels, size, size))
    reference = 0.02 + 1.7 * target + rng.normal(0, 0.001, target.shape)
    outliers = rng.random(target.shape) < 0.05
    reference[outliers] = rng.uniform(0.0, 0.9, int(outliers.sum()))
    return Image(target.astype(np.float32)), Image(reference.astype(np.float32)), outliers


def test_lad_fit_by_hand():
    # four points on y = 1 + 2x and one outlier: the L1 line ignores the outlier exactly
    a, b, adev = lad_fit(np.array([0.0, 1, 2, 3, 4]), np.array([1.0, 3, 5, 7, 100]))
    assert (a, b) == pytest.approx((1.0, 2.0), abs=1e-7)
    assert adev == pytest.approx((100 - 9) / 5, abs=1e-6)
    # ordinary least squares would be pulled far away
    assert np.polyfit([0, 1, 2, 3, 4], [1, 3, 5, 7, 100], 1)[0] > 15


def test_recovers_a_known_line_despite_outliers():
    target, reference, outliers = pair()
    ws = Workspace()
    view = ws.add_image(target, "target").main_view
    ws.add_image(reference, "reference")
    result = LinearFit(referenceViewId="reference").execute_on(view)
    for name in "RGB":
        fit = result.outputs[name]
        assert fit["a"] == pytest.approx(0.02, abs=1e-3)
        assert fit["b"] == pytest.approx(1.7, abs=5e-3)
        assert 0.9 < fit["fraction"] <= 1.0
    # the target now matches the reference where the reference is not an outlier
    matched = view.image.pixels
    np.testing.assert_allclose(matched[~outliers], reference.pixels[~outliers], atol=0.01)
    assert len(view.history.processes()) == 1


def test_applied_values_follow_the_reported_line_and_are_clipped():
    target, reference, _ = pair(channels=1, size=100, seed=3)
    ws = Workspace()
    view = ws.add_image(target, "t").main_view
    ws.add_image(reference, "r")
    out = LinearFit(referenceViewId="r").execute_on(view).outputs["K"]
    expected = np.clip(out["a"] + out["b"] * target.pixels.astype(np.float64), 0, 1)
    np.testing.assert_allclose(view.image.pixels, expected, atol=1e-6)


def test_reject_interval_selects_samples():
    target, reference, _ = pair(channels=1, size=100, seed=5)
    ws = Workspace()
    view = ws.add_image(target, "t").main_view
    ws.add_image(reference, "r")
    out = LinearFit(referenceViewId="r", rejectLow=0.1, rejectHigh=0.4).execute_on(view).outputs["K"]
    t, r = target.pixels.ravel(), reference.pixels.ravel()
    inside = (t > np.float32(0.1)) & (t < np.float32(0.4)) & (r > np.float32(0.1)) & (r < np.float32(0.4))
    assert out["count"] == int(inside.sum())


def test_errors_are_clear():
    target, reference, _ = pair(channels=3, size=20)
    ws = Workspace()
    view = ws.add_image(target, "target").main_view
    ws.add_image(Image(reference.pixels[:, :10, :]), "small")
    ws.add_image(Image(reference.pixels[:1]), "grey")
    with pytest.raises(ExecutionError, match="reference view"):
        LinearFit().execute_on(view)
    with pytest.raises(ExecutionError, match="nosuch"):
        LinearFit(referenceViewId="nosuch").execute_on(view)
    with pytest.raises(ExecutionError, match="geometry"):
        LinearFit(referenceViewId="small").execute_on(view)
    with pytest.raises(ExecutionError, match="geometry"):
        LinearFit(referenceViewId="grey").execute_on(view)
    with pytest.raises(ExecutionError, match="different"):
        LinearFit(referenceViewId="target").execute_on(view)
    with pytest.raises(ParameterError, match="rejectLow"):
        LinearFit(rejectLow=0.5, rejectHigh=0.5)
    ws.add_image(Image(np.ones((3, 20, 20), dtype=np.float32)), "white")
    with pytest.raises(ExecutionError, match="insufficient"):
        LinearFit(referenceViewId="white").execute_on(view)
    assert view.image is target  # nothing changed on failure


def test_preview_is_fitted_on_its_whole_image():
    target, reference, _ = pair(channels=1, size=60, seed=8)
    ws = Workspace()
    window = ws.add_image(target, "t")
    ws.add_image(reference, "r")
    preview = window.add_preview(0, 0, 10, 10)
    out = LinearFit(referenceViewId="r").execute_on(preview).outputs["K"]
    assert out["count"] > 3000  # the whole 60×60 image, not the 10×10 preview
    assert out["b"] == pytest.approx(1.7, abs=0.02)


def test_corpus_linearfit_icon():
    icons = corpus_instances("LinearFit")
    assert len(icons) == 1
    _, icon = icons[0]
    assert icon.referenceViewId == "" and icon.rejectLow == 0.0 and icon.rejectHigh == pytest.approx(0.92)
    target, reference, _ = pair(channels=3, size=50)
    ws = Workspace()
    view = ws.add_image(target, "target").main_view
    ws.add_image(reference, "ref")
    ok, why = icon.can_execute_on(view)
    assert not ok and "reference" in why  # as saved, the icon names no reference
    out = icon.evolve(referenceViewId="ref").execute_on(view).outputs
    assert out["R"]["b"] == pytest.approx(1.7, abs=0.02)


def test_conformance():
    check_process(LinearFit).raise_if_failed()
