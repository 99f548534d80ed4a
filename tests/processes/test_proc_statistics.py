"""Statistics and the robust estimators behind it: hand-computed values, normal samples, brute force."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processes.kernels import robust
from processes.utility.statistics import DEFAULT_ESTIMATORS, ESTIMATORS, Statistics, channel_statistics
from procfw.image import Image
from procfw.process import ExecutionContext
from procfw.testing import check_process
from procfw.workspace import Workspace

SMALL = np.array([0.1, 0.2, 0.3, 0.4, 0.9])
ALL = {"computeBWMV": True, "computePBMV": True, "computeSn": True, "computeQn": True}


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
    s = Statistics(**ALL).measure(image_of(SMALL))["K"]
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
    s = Statistics(**ALL).measure(image_of([0.2, 0.4, 0.6, 0.9]))["K"]
    assert s["median"] == pytest.approx(0.5)
    assert s["MAD"] == pytest.approx(0.2)  # |x − 0.5| = .3 .1 .1 .4 → (.1 + .3)/2
    n = Statistics(normalized=True, **ALL).measure(image_of([0.2, 0.4, 0.6, 0.9]))["K"]
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
    s = Statistics(normalized=True, **ALL).measure(image)["K"]
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
    from processes.kernels.robust import _kth_pairwise_difference

    x = np.sort(np.random.default_rng(levels).integers(0, levels, 3000) / 65535.0)
    n = x.size
    h = n // 2 + 1
    k = h * (h - 1) // 2
    pairs = (x[None, :] - x[:, None])[np.triu_indices(n, 1)]
    assert _kth_pairwise_difference(x, k) == np.partition(pairs, k - 1)[k - 1]


# -- estimators on demand, and the compiled passes against numpy ---------------------------------


def test_default_items_do_not_compute_the_expensive_estimators(monkeypatch):
    """Like PixInsight's Statistics (BWMV, PBMV, Sn, Qn unchecked by default): absent unless asked."""
    def forbidden(*args, **kwargs):
        raise AssertionError("an expensive estimator was computed without being asked for")

    for name in ("sn", "qn", "bwmv", "pbmv"):
        monkeypatch.setattr(robust, name, forbidden)
    rng = np.random.default_rng(3)
    for shape in ((1, 30, 40), (3, 400, 500)):  # the numpy path and the compiled path
        result = Statistics().measure(Image(rng.uniform(0.1, 0.9, shape).astype(np.float32)))
        for stats in result.values():
            assert tuple(stats) == DEFAULT_ESTIMATORS
            assert not {"Sn", "Qn", "BWMV", "PBMV"} & set(stats)
    schema = Statistics.schema()
    for pid in ("computeBWMV", "computePBMV", "computeSn", "computeQn"):
        assert schema[pid].default is False
    assert Statistics(computeSn=True).estimators() == (*DEFAULT_ESTIMATORS[:7], "Sn", "minimum", "maximum")


def _median64(v: np.ndarray) -> float:
    """The median with the two middle values averaged in float64 (as robust.median)."""
    n = v.size
    part = np.partition(v, [(n - 1) // 2, n // 2])
    return (float(part[(n - 1) // 2]) + float(part[n // 2])) / 2


def _reference_statistics(values: np.ndarray, clip: bool) -> dict:
    """The previous numpy implementation: select the samples, then numpy reductions."""
    v = values.ravel()
    keep = np.isfinite(v)
    if clip:
        keep &= (v != 0) & (v != 1)
    v = v[keep]
    mean = float(v.mean(dtype=np.float64))
    d = v.astype(np.float64) - mean
    variance = float(np.dot(d, d)) / (v.size - 1)
    med = _median64(v)
    dev = np.abs(v - np.float32(med)) if v.dtype == np.float32 else np.abs(v - med)
    return {"count": v.size, "mean": mean, "median": med, "variance": variance, "stdDev": math.sqrt(variance),
            "avgDev": float(np.abs(v.astype(np.float64) - med).mean()), "MAD": _median64(dev),
            "minimum": float(v.min()), "maximum": float(v.max())}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["gamma", "integers", "odd", "specials", "few-levels"])
def test_compiled_channel_statistics_equal_numpy(dtype, kind):
    rng = np.random.default_rng(7)
    n = 700_001 if kind == "odd" else 600_000
    if kind == "integers":  # 16-bit data: heavy ties at the median and at the MAD
        x = (rng.poisson(900, n) / 65535.0).astype(dtype)
    elif kind == "few-levels":  # a handful of values: the one-pass MAD windows overlap (two-pass path)
        x = (rng.poisson(3, n) / 65535.0).astype(dtype)
    else:
        x = rng.gamma(3.0, 0.02, n).astype(dtype)
    if kind == "specials":
        x[::97] = 0
        x[5::101] = 1
        x[7::1001] = np.nan
        x[11::2003] = np.inf
    for clip in (False, True):
        got = channel_statistics(x, clip=clip, estimators=DEFAULT_ESTIMATORS)
        ref = _reference_statistics(x, clip)
        assert got["count"] == ref["count"]
        for key in ("median", "MAD", "minimum", "maximum"):
            assert got[key] == ref[key], (key, clip)  # exact order statistics
        for key in ("mean", "variance", "stdDev", "avgDev"):
            assert got[key] == pytest.approx(ref[key], rel=1e-9, abs=1e-15), (key, clip)


def test_compiled_midvariances_equal_numpy():
    rng = np.random.default_rng(11)
    x = rng.normal(0.3, 0.02, 400_000).astype(np.float32)
    small = robust._SMALL
    try:
        compiled = (robust.bwmv(x), robust.pbmv(x), robust.avg_dev(x), robust.mad(x))
        robust._SMALL = 10**9  # force the numpy path
        reference = (robust.bwmv(x), robust.pbmv(x), robust.avg_dev(x), robust.mad(x))
    finally:
        robust._SMALL = small
    assert compiled == pytest.approx(reference, rel=1e-9)
    assert compiled[3] == reference[3]


def test_compiled_selection_survives_a_missed_bracket():
    """A subsample that misrepresents the data (periodic structure at the sampling stride)."""
    from processes.kernels import robust_nb

    n = 1_000_000
    step = n // robust_nb._SAMPLE
    x = np.full(n, 0.5, dtype=np.float32)
    x[::step] = 0.9  # every sampled value is 0.9, the data are mostly 0.5
    x[1::7] = np.linspace(0.1, 0.2, x[1::7].size, dtype=np.float32)
    ranks = [0, n // 3, n // 2, n - 1]
    assert robust_nb.select(x, ranks) == [float(v) for v in np.sort(x)[ranks]]
    med = _median64(x)
    assert robust_nb.dev_select(x, med)[2][0] == _median64(np.abs(x - np.float32(med)))
    moments = robust_nb.channel_moments(x, False)
    assert moments.median == med and moments.count == n


def test_continuous_data_take_the_one_pass_summary(monkeypatch):
    """Median, MAD and avgDev of ordinary data come from a single compiled pass (no second pass)."""
    from processes.kernels import robust_nb

    def second_pass(*args, **kwargs):
        raise AssertionError("a second pass over the data was made")

    rng = np.random.default_rng(2)
    x = rng.normal(0.1, 0.01, 500_000).astype(np.float32)
    x[::1000] = 1.0
    reference = _reference_statistics(x, True)
    monkeypatch.setattr(robust_nb, "_two_pass_summary", second_pass)
    monkeypatch.setattr(robust_nb, "dev_select", second_pass)
    got = channel_statistics(x, clip=True, estimators=DEFAULT_ESTIMATORS)
    for key in ("median", "MAD", "minimum", "maximum", "count"):
        assert got[key] == reference[key], key
    assert got["avgDev"] == pytest.approx(reference["avgDev"], rel=1e-9)
