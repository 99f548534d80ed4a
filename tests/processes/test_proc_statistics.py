"""Statistics and the robust estimators behind it: hand-computed values, normal samples, brute force."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processes._kernels import robust
from processes.statistics import ESTIMATORS, Statistics
from procfw.image import Image
from procfw.process import ExecutionContext
from procfw.testing import check_process
from procfw.workspace import Workspace

SMALL = np.array([0.1, 0.2, 0.3, 0.4, 0.9])


def image_of(values, shape=None) -> Image:
    values = np.asarray(values, dtype=np.float32)
    return Image(values.reshape(shape or (1, 1, values.size)))


def sn_brute(x) -> float:
    """Sn by its definition: c_n · lomed_i himed_j |x_i − x_j| (j over all points)."""
    x = np.asarray(x, float)
    n = x.size
    inner = np.sort(np.sort(np.abs(x[:, None] - x[None, :]), axis=1)[:, n // 2])
    return robust.sn_correction(n) * inner[(n + 1) // 2 - 1]


def qn_brute(x) -> float:
    """Qn by its definition: d_n · the C(h, 2)-th smallest |x_i − x_j|, i < j, h = ⌊n/2⌋ + 1."""
    x = np.asarray(x, float)
    n = x.size
    d = np.sort(np.abs(x[:, None] - x[None, :])[np.triu_indices(n, 1)])
    h = n // 2 + 1
    return robust.qn_correction(n) * d[h * (h - 1) // 2 - 1]


def test_hand_computed_small_sample():
    s = Statistics().measure(image_of(SMALL))["K"]
    assert list(s) == list(ESTIMATORS)
    assert s["count"] == 5
    assert s["mean"] == pytest.approx(0.38)
    assert s["median"] == pytest.approx(0.3)
    # deviations from the mean: −.28 −.18 −.08 .02 .52 → Σd² = 0.388 → /(n − 1)
    assert s["variance"] == pytest.approx(0.097)
    assert s["stdDev"] == pytest.approx(math.sqrt(0.097))
    # |x − median| = .2 .1 0 .1 .6 → mean 0.2, median 0.1
    assert s["avgDev"] == pytest.approx(0.2)
    assert s["MAD"] == pytest.approx(0.1)
    # himed distances per point .2 .1 .1 .2 .6 → lomed 0.2, × c₅ = 1.351
    assert s["Sn"] == pytest.approx(0.2 * 1.351, rel=1e-6)
    # pairwise differences .1 .1 .1 .2 .2 .3 .5 .6 .7 .8; h = 3, k = 3 → 0.1, × d₅ = 0.844
    assert s["Qn"] == pytest.approx(0.1 * 0.844, rel=1e-6)
    # BWMV: u = d/(9·MAD); n·Σd²(1−u²)⁴ / (Σ(1−u²)(1−5u²))²
    d = SMALL - 0.3
    u2 = (d / 0.9) ** 2
    bwmv = 5 * np.sum(d * d * (1 - u2) ** 4) / np.sum((1 - u2) * (1 - 5 * u2)) ** 2
    assert s["BWMV"] == pytest.approx(math.sqrt(bwmv), rel=1e-6)
    assert s["BWMV"] == pytest.approx(0.2268661, rel=1e-6)
    # PBMV: bend ω = 0.6 (0-based order statistic ⌊0.8·5 + 0.5⌋ = 4 of |d|); Σψ² = 1/9 + 2/36 + 1; 4 inside
    assert s["PBMV"] == pytest.approx(math.sqrt(5 * 0.36 * (1 / 9 + 2 / 36 + 1) / 16), rel=1e-6)
    assert (s["minimum"], s["maximum"]) == pytest.approx((0.1, 0.9))


def test_even_count_median_and_normalization():
    s = Statistics().measure(image_of([0.2, 0.4, 0.6, 0.9]))["K"]
    assert s["median"] == pytest.approx(0.5)
    assert s["MAD"] == pytest.approx(0.2)  # |x − 0.5| = .3 .1 .1 .4 → (.1 + .3)/2
    n = Statistics(normalized=True).measure(image_of([0.2, 0.4, 0.6, 0.9]))["K"]
    assert n["MAD"] == pytest.approx(0.2 * 1.4826)
    assert n["avgDev"] == pytest.approx(s["avgDev"] * 1.2533)
    assert n["Sn"] == pytest.approx(s["Sn"] * 1.1926)
    assert n["Qn"] == pytest.approx(s["Qn"] * 2.2219)
    assert n["BWMV"] == pytest.approx(s["BWMV"] * robust.BWMV_TO_SIGMA)
    assert n["PBMV"] == pytest.approx(s["PBMV"] * robust.PBMV_TO_SIGMA)
    assert (n["variance"], n["mean"]) == (s["variance"], s["mean"])


def test_black_and_white_samples_are_ignored_unless_unclipped():
    values = [0.0, 0.1, 0.2, 0.3, 1.0, 1.0]
    clipped = Statistics().measure(image_of(values))["K"]
    assert clipped["count"] == 3 and clipped["median"] == pytest.approx(0.2)
    unclipped = Statistics(unclipped=True).measure(image_of(values))["K"]
    assert unclipped["count"] == 6 and unclipped["median"] == pytest.approx(0.25)
    assert unclipped["minimum"] == 0.0 and unclipped["maximum"] == 1.0


def test_per_channel_outputs_and_nothing_changes():
    rng = np.random.default_rng(1)
    ws = Workspace()
    image = Image(rng.uniform(0.1, 0.9, (3, 20, 20)).astype(np.float32))
    view = ws.add_image(image, "img").main_view
    result = Statistics().execute_on(view)
    assert set(result.outputs) == {"R", "G", "B"}
    for c, name in enumerate("RGB"):
        assert result.outputs[name]["mean"] == pytest.approx(float(image.pixels[c].astype(np.float64).mean()))
    assert view.image is image and view.history.processes() == []
    assert Statistics().apply(image, ExecutionContext()).image is None


@pytest.mark.slow
def test_normalized_scale_estimators_estimate_sigma_on_a_big_normal_sample():
    rng = np.random.default_rng(42)
    sigma = 0.02
    image = Image(rng.normal(0.3, sigma, (1, 1000, 1000)).astype(np.float32))
    start = time.perf_counter()
    s = Statistics(normalized=True).measure(image)["K"]
    elapsed = time.perf_counter() - start
    for key in ("stdDev", "avgDev", "MAD", "BWMV", "PBMV", "Sn", "Qn"):
        assert s[key] == pytest.approx(sigma, rel=0.01), key
    assert s["count"] == 1_000_000
    assert elapsed < 15  # exact Sn and Qn on a million samples stay fast


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=2, max_size=70), st.booleans())
def test_sn_qn_against_brute_force(ints, spread):
    x = np.asarray(ints, float) / 40 if spread else np.asarray(ints, float)  # ties included
    assert robust.sn(x) == pytest.approx(sn_brute(x), abs=1e-12)
    assert robust.qn(x) == pytest.approx(qn_brute(x), abs=1e-12)


@pytest.mark.parametrize("n", [999, 2000, 3001])
def test_sn_qn_large_paths_against_brute_force(n):
    rng = np.random.default_rng(n)
    x = np.round(rng.lognormal(0, 1, n), 3)  # skewed, with ties
    assert robust.sn(x) == pytest.approx(sn_brute(x), abs=1e-12)
    assert robust.qn(x) == pytest.approx(qn_brute(x), abs=1e-12)


def test_exact_selection_on_large_float32_arrays():
    rng = np.random.default_rng(0)
    x = rng.gamma(2.0, 0.01, 600_001).astype(np.float32)
    assert robust.median(x) == float(np.median(x))
    dev = np.abs(x - np.float32(np.median(x)))
    assert robust.mad(x) == pytest.approx(float(np.median(dev)), rel=1e-6)
    ranks = [0, 17, 300_000, 600_000]
    assert robust.order_statistics(x, ranks) == [float(v) for v in np.sort(x)[ranks]]
    assert robust.median(np.append(x, [np.nan, np.inf])) == float(np.median(x))


def test_estimators_on_degenerate_data():
    flat = np.full(10, 0.5)
    assert robust.mad(flat) == 0 and robust.bwmv(flat) == 0 and robust.pbmv(flat) == 0
    assert robust.sn(flat) == 0 and robust.qn(flat) == 0
    assert robust.sn([0.3]) == 0 and robust.qn([0.3]) == 0
    with pytest.raises(ValueError):
        robust.median(np.array([np.nan]))


def test_conformance():
    check_process(Statistics).raise_if_failed()


@pytest.mark.parametrize("levels", [2, 5, 40])
def test_qn_with_heavy_ties_matches_brute_force(levels):
    """Integer-valued data (many equal differences) once made the Qn selection loop forever."""
    from processes._kernels.robust import _kth_pairwise_difference

    x = np.sort(np.random.default_rng(levels).integers(0, levels, 3000) / 65535.0)
    n = x.size
    h = n // 2 + 1
    k = h * (h - 1) // 2
    pairs = (x[None, :] - x[:, None])[np.triu_indices(n, 1)]
    assert _kth_pairwise_difference(x, k) == np.partition(pairs, k - 1)[k - 1]
