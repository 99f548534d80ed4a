"""Compiled kernels (numba) against the numpy/scipy computations they replace.

The warp and remap kernels (:mod:`processes.kernels.warp_numba`) must equal the
vectorised numpy reference (``pixel_interpolation._remap_planes_numpy``, the previous
implementation) within 1e-5 for every method, clamping and edge case; the star detection
kernels (:mod:`processes.staralignment.stars_numba`) must equal scipy/numpy exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from processes.kernels import pixel_interpolation as pi
from processes.simulation.starfield import random_field, render_stars
from processes.staralignment import resample, stars

RNG = np.random.default_rng(7)


def _grid_reference(planes: np.ndarray, h: np.ndarray, out_size: tuple[int, int], method: str,
                    clamping: float | None, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """The previous warp: coordinates of the whole grid, then the numpy remap."""
    width, height = out_size
    tx, ty = resample._grid(h, slice(0, height), width)
    src_h, src_w = planes.shape[1:]
    inside = (tx >= -0.5) & (tx <= src_w - 0.5) & (ty >= -0.5) & (ty <= src_h - 0.5)
    return pi._remap_planes_numpy(planes, tx, ty, method, clamping, 0.0, radius=radius), inside


@pytest.mark.parametrize("method", pi.METHODS)
@pytest.mark.parametrize("clamping", [None, 0.0, 0.3, 1.0])
def test_remap_planes_equals_numpy_reference(method: str, clamping: float | None) -> None:
    planes = RNG.random((3, 29, 37)).astype(np.float32)
    xs = RNG.uniform(-3.0, 40.0, (20, 31))
    ys = RNG.uniform(-3.0, 32.0, (20, 31))
    xs[0, :4] = [0.0, 36.0, -0.5, 36.5]  # exact pixel centres and the image's edges
    ys[0, :4] = [0.0, 28.0, -0.5, 28.5]
    got = pi.remap_planes(planes, xs, ys, method, clamping, -1.0, radius=3)
    want = pi._remap_planes_numpy(planes, xs, ys, method, clamping, -1.0, radius=3)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("method", ["lanczos3", "lanczos4", "lanczos5", "bicubic", "bilinear", "nearest", "mitchell"])
def test_warp_equals_numpy_reference_on_random_transforms(channels: int, method: str) -> None:
    rng = np.random.default_rng(channels * 100 + len(method))
    planes = rng.random((channels, 41, 53)).astype(np.float32)
    for _ in range(3):
        angle = rng.uniform(-0.5, 0.5)
        scale = rng.uniform(0.8, 1.25)
        h = np.array([
            [scale * np.cos(angle), -scale * np.sin(angle), rng.uniform(-8, 8)],
            [scale * np.sin(angle), scale * np.cos(angle), rng.uniform(-8, 8)],
            [rng.uniform(-1e-4, 1e-4), rng.uniform(-1e-4, 1e-4), 1.0],
        ])
        got, mask = resample.warp(planes, h, (47, 39), kernel=method, clamping=0.3, radius=2, band_rows=7)
        clamp = 0.3 if method in ("bicubic", "lanczos3", "lanczos4", "lanczos5") else None
        want, inside = _grid_reference(planes, h, (47, 39), method, clamp, 2)
        np.testing.assert_array_equal(mask, inside)
        np.testing.assert_allclose(got, np.where(inside[None], want, 0.0), rtol=0, atol=1e-5)


@pytest.mark.parametrize("method", ["lanczos3", "bicubic", "mitchell"])
def test_threaded_warp_equals_single_threaded(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bands shared among threads give bit-identical pixels, mask and a complete progress."""
    rng = np.random.default_rng(11)
    planes = rng.random((3, 67, 45)).astype(np.float32)
    h = np.array([[0.999, -0.02, 2.3], [0.02, 0.999, -1.7], [1e-5, -2e-5, 1.0]])
    one, mask_one = resample.warp(planes, h, (45, 67), kernel=method, radius=2, threads=1)
    seen: list[float] = []
    many, mask_many = resample.warp(planes, h, (45, 67), kernel=method, radius=2, threads=3, band_rows=5,
                                    progress=seen.append)
    np.testing.assert_array_equal(many, one)
    np.testing.assert_array_equal(mask_many, mask_one)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) == 14  # 67 rows in bands of 5
    # a worker whose cores are shared (OMP_NUM_THREADS=1, as procfw.batch sets it) warps on one thread
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert resample.warp_threads() == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert resample.warp_threads() >= 1


def test_simd4_lanes_equal_the_scalar_operations() -> None:
    """load4/mul4/add4/sub4 give, lane by lane, the bits of the scalar float64 operations (no fused
    multiply-add, no fast-math): random, tiny, subnormal, signed-zero, infinite and NaN values."""
    import numba

    from processes.kernels.simd4 import add4, load4, mul4, sub4

    @numba.njit
    def lanes(values, start, s, t):
        a = load4(values, start)
        b = load4(values, start + 4)
        r = add4(mul4(a, s), mul4(sub4(b, a), t))
        return np.array([r[0], r[1], r[2], r[3]])

    rng = np.random.default_rng(2)
    values = np.concatenate([rng.standard_normal(40), [1e-310, -5e-324, 0.0, -0.0, np.inf, -np.inf, np.nan, 1e308]])
    values = np.concatenate([values, rng.permutation(values)])
    for start in range(0, values.size - 8):
        for s, t in ((0.37, -1.9), (1e-300, 1e300), (np.float32(0.1), 3.0)):
            got = lanes(values, start, s, t)
            a, b = values[start : start + 4], values[start + 4 : start + 8]
            with np.errstate(all="ignore"):
                want = a * np.float64(s) + (b - a) * np.float64(t)
            assert got.tobytes() == want.tobytes()


def test_simd4_vector_operations_equal_the_scalar_ones() -> None:
    """div4, neg4, the comparisons and where4 (with vector or float operands), and store4 give, lane by
    lane, the bits of numpy's scalar operations: random, tiny, subnormal, signed-zero, infinite, NaN."""
    import numba

    from processes.kernels.simd4 import div4, eq4, ge4, gt4, load4, mul4, ne4, neg4, store4, sub4, where4

    @numba.njit
    def lanes(values, start, s, out):
        a = load4(values, start)
        b = load4(values, start + 4)
        store4(out, 0, div4(a, b))
        store4(out, 4, div4(sub4(s, a), s))
        store4(out, 8, neg4(a))
        store4(out, 12, mul4(a, b))
        store4(out, 16, where4(gt4(a, b), a, s))
        store4(out, 20, where4(ge4(a, s), b, neg4(b)))
        store4(out, 24, where4(eq4(a, b), 1.0, 2.0 * s))
        store4(out, 28, where4(ne4(a, s), a, b))

    rng = np.random.default_rng(4)
    values = np.concatenate([rng.standard_normal(40), [1e-310, -5e-324, 0.0, -0.0, np.inf, -np.inf, np.nan, 1e308]])
    values = np.concatenate([values, rng.permutation(values), [0.5, 0.5, -0.0, 0.0, 0.5, 0.0, 0.0, -0.0]])
    out = np.empty(32)
    for start in range(0, values.size - 8):
        for s in (0.5, -0.0, np.nan, 1e-300):
            lanes(values, start, s, out)
            a, b = values[start : start + 4], values[start + 4 : start + 8]
            with np.errstate(all="ignore"):
                want = np.concatenate([a / b, (s - a) / s, -a, a * b, np.where(a > b, a, s), np.where(a >= s, b, -b),
                                       np.where(a == b, 1.0, 2.0 * s), np.where(a != s, a, b)])
            assert out.tobytes() == want.tobytes(), (start, s)


def _combine_cases(clamping: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(sp, sn, wp, wn) for the clamped Lanczos combination: ratios sn/sp just around the threshold,
    tiny, subnormal, negative, zero, infinite and NaN sums."""
    rng = np.random.default_rng(3)
    sp = np.concatenate([rng.uniform(-0.2, 1.5, 400), [1e-310, 5e-324, 1e-200, 2e-200, 1e-150, 0.0, -0.0, np.nan,
                                                        np.inf, 1.0, 0.5, 3.0]])
    values = []
    for p in sp:
        with np.errstate(invalid="ignore"):  # inf × 0
            base = p * clamping
        near = [np.nextafter(base, -np.inf), base, np.nextafter(base, np.inf), base * (1 - 1e-9), base * (1 + 1e-9)]
        values += [(p, s) for s in near + [rng.uniform(-0.5, 1.5) * abs(p), -abs(p), p, 0.0, -0.0, np.nan]]
    p, s = np.ascontiguousarray(np.array(values).T)
    wp, wn = rng.uniform(0.9, 1.3, p.size), rng.uniform(0.0, 0.2, p.size)
    wp[::97], wn[::89], wn[::83] = 0.0, 0.0, wp[::83]  # zero weights and a zero total
    return p, s, wp, wn


@pytest.mark.parametrize("clamping", [0.0, 1e-120, 1e-9, 0.3, float(np.float32(0.3)), 0.5, 1.0 - 1e-12, 1.0])
def test_lanczos_combine_without_the_ratio_division_is_bit_identical(clamping: float) -> None:
    """The combination skips the division sn/sp only where it provably leaves the clamping off:
    the same bits as dividing, at ratios just around the threshold, tiny, subnormal, negative, NaN sums."""
    from processes.kernels import warp_numba

    p, s, wp, wn = _combine_cases(clamping)
    with np.errstate(all="ignore"):  # (overflow of x/5e-324 warns)
        want = pi._lanczos_combine(p, s, wp, wn, clamping)  # the numpy engine's: always divides sn/sp
    for k in range(p.size):
        got = warp_numba._lanczos_combine(p[k], s[k], wp[k], wn[k], clamping, True)
        assert np.float64(got).tobytes() == want[k].tobytes(), (p[k], s[k], clamping, got, want[k])


@pytest.mark.parametrize("clamping", [0.0, 1e-120, 1e-9, 0.3, float(np.float32(0.3)), 0.5, 1.0 - 1e-12, 1.0])
@pytest.mark.parametrize("clamped", [True, False])
def test_lanczos_combine4_lanes_equal_the_scalar_combination(clamping: float, clamped: bool) -> None:
    """The 4-lane combination of the RGB sampler gives every lane the scalar combination's bits,
    whichever case its neighbours take (lanes of four consecutive cases sharing one point's weights)."""
    import numba

    from processes.kernels import warp_numba
    from processes.kernels.simd4 import load4, store4

    @numba.njit
    def combine(sp, sn, wp, wn, clamping, clamped, out4, out1):
        for k in range(sp.size - 3):
            store4(out4, 4 * k, warp_numba._lanczos_combine4(load4(sp, k), load4(sn, k), wp[k], wn[k], clamping,
                                                             clamped))
            for lane in range(4):
                out1[4 * k + lane] = warp_numba._lanczos_combine(sp[k + lane], sn[k + lane], wp[k], wn[k], clamping,
                                                                 clamped)

    p, s, wp, wn = _combine_cases(clamping)
    out4, out1 = np.empty(4 * p.size), np.empty(4 * p.size)
    combine(p, s, wp, wn, clamping, clamped, out4, out1)
    assert out4[: -12].tobytes() == out1[: -12].tobytes()


@pytest.mark.parametrize("clamping", [None, 0.3, 1.0])
def test_lanczos3_rgb_line_equals_the_general_loop(clamping: float | None) -> None:
    """The written-out Lanczos-3 sampler of three channels gives what the general Lanczos loop gives
    each channel alone (points inside, at the edges with mirrored taps, outside): the same float32 values,
    its fused multiply-adds changing at most the last bits of its float64 sums (one float32 unit at a
    rounding tie, none here)."""
    rng = np.random.default_rng(5)
    planes = rng.random((3, 37, 45)).astype(np.float32)
    h = np.array([[0.97, -0.21, 3.4], [0.21, 0.97, -6.2], [2e-4, -1e-4, 1.0]])
    rgb, mask = resample.warp(planes, h, (51, 43), kernel="lanczos3", clamping=clamping, threads=1)
    assert mask.any() and not mask.all()
    for c in range(3):
        alone, _ = resample.warp(planes[c : c + 1], h, (51, 43), kernel="lanczos3", clamping=clamping, threads=1)
        assert rgb[c].tobytes() == alone[0].tobytes()
    xs = rng.uniform(-2.0, 46.0, 300)
    ys = rng.uniform(-2.0, 38.0, 300)
    got = pi.remap_planes(planes, xs, ys, "lanczos3", clamping, -1.0)
    for c in range(3):
        assert got[c].tobytes() == pi.remap_planes(planes[c : c + 1], xs, ys, "lanczos3", clamping, -1.0)[0].tobytes()


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("clamping", [None, 0.3])
def test_lanczos3_of_one_or_two_channels_takes_the_vector_sampler_with_the_general_loops_values(
        channels: int, clamping: float | None) -> None:
    """Grey (and two-channel) frames are warped by the interleaved Lanczos-3 sampler (their last channel in
    the spare lanes, interleaved band by band) with the values the general loop gives."""
    from processes.kernels import warp_numba

    rng = np.random.default_rng(6)
    planes = rng.random((channels, 37, 45)).astype(np.float32)
    code, table, _, _ = warp_numba.method_parameters("lanczos3")
    assert warp_numba.interleaved_rgb(code, table, channels)
    assert warp_numba.sampling_source(planes, code, table) is planes  # no float64 copy: interleaved by bands
    h = np.array([[0.97, -0.21, 3.4], [0.21, 0.97, -6.2], [2e-4, -1e-4, 1.0]])
    got, mask = resample.warp(planes, h, (51, 43), kernel="lanczos3", clamping=clamping, threads=1)
    want = np.empty_like(got)
    want_mask = np.empty_like(mask)
    warp_numba._warp_lanczos(planes.astype(np.float64), h, 0, 43, 0, table, clamping or 0.0, clamping is not None,
                             want, want_mask)
    assert mask.any() and not mask.all()
    assert np.array_equal(mask, want_mask)
    assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("angle", [0.0, 0.02, 0.5, np.pi / 4, np.pi / 2, np.pi, -2.0])
@pytest.mark.parametrize("shape", [(37, 45), (150, 41), (5, 4), (2, 3)])
def test_lanczos3_rgb_warp_band_windows_equal_the_general_loop(angle: float, shape: tuple[int, int]) -> None:
    """The RGB warp interleaves only the source pixels each band's taps read (mirrored edges included):
    the same bits as the general loop of each channel for rotations, shifts off the frame, tiny
    frames, bands of 1 to all rows (windows of up to 64 output rows), with one or several threads."""
    rng = np.random.default_rng(int(abs(angle) * 100) + shape[0])
    planes = rng.random((3, *shape)).astype(np.float32)
    height, width = shape
    c, s = np.cos(angle), np.sin(angle)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    for shift in (0.0, 0.37 * width):
        h = np.array([[c, -s, cx - c * cx + s * cy + shift], [s, c, cy - s * cx - c * cy - 0.3], [1e-4, -2e-4, 1.0]])
        alone = [resample.warp(planes[k : k + 1], h, (width + 3, height + 2), kernel="lanczos3", threads=1)
                 for k in range(3)]
        for band_rows, threads in ((1, 1), (3, 2), (256, 1)):
            rgb, mask = resample.warp(planes, h, (width + 3, height + 2), kernel="lanczos3", band_rows=band_rows,
                                      threads=threads)
            np.testing.assert_array_equal(mask, alone[0][1])
            for k in range(3):
                assert rgb[k].tobytes() == alone[k][0][0].tobytes(), (band_rows, threads, k)


def test_warp_of_a_star_field_and_degenerate_mappings() -> None:
    xy, flux = random_field(60, 120, 90, seed=3)
    image = render_stars(xy, flux, 120, 90)[None]
    h = np.array([[0.999, 0.02, 3.3], [-0.02, 0.999, -2.7], [2e-6, -1e-6, 1.0]])
    got, mask = resample.warp(image, h, (120, 90))
    want, inside = _grid_reference(image, h, (120, 90), "lanczos3", 0.3, 2)
    np.testing.assert_array_equal(mask, inside)
    np.testing.assert_allclose(got, np.where(inside[None], want, 0.0), rtol=0, atol=1e-5)
    # a mapping that sends part of the grid behind the projection plane (w <= 0) or to infinity
    bad = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-0.02, 0.0, 1.0]])
    got, mask = resample.warp(image, bad, (120, 90))
    want, inside = _grid_reference(image, bad, (120, 90), "lanczos3", 0.3, 2)
    np.testing.assert_array_equal(mask, inside)
    assert not mask[:, 50:].any() and np.all(got[:, ~mask] == 0)
    np.testing.assert_allclose(got, np.where(inside[None], want, 0.0), rtol=0, atol=1e-5)


def test_float64_and_integer_planes() -> None:
    planes = RNG.random((2, 12, 15))
    xs, ys = RNG.uniform(-1, 15, 50), RNG.uniform(-1, 12, 50)
    for data in (planes, (planes * 1000).astype(np.uint16)):
        got = pi.remap_planes(data, xs, ys, "lanczos4", 0.3)
        want = pi._remap_planes_numpy(data, xs, ys, "lanczos4", 0.3)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5 * float(np.max(data)))


def test_tiny_planes_mirror_periodically() -> None:
    for shape in ((1, 1, 1), (1, 1, 5), (1, 2, 3), (2, 3, 2)):
        planes = RNG.random(shape).astype(np.float32)
        xs = RNG.uniform(-0.5, shape[2] - 0.5, 40)
        ys = RNG.uniform(-0.5, shape[1] - 0.5, 40)
        for method in pi.METHODS:
            got = pi.remap_planes(planes, xs, ys, method, 0.3, radius=2)
            want = pi._remap_planes_numpy(planes, xs, ys, method, 0.3, radius=2)
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-5, err_msg=f"{shape} {method}")


# -- star detection kernels ---------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 6), (6, 1), (2, 2), (9, 7), (40, 33)])
def test_median3_and_b3_smooth_equal_scipy_and_numpy(shape: tuple[int, int]) -> None:
    from processes.staralignment import stars_numba

    plane = RNG.random(shape).astype(np.float32)
    plane[plane > 0.7] = 0.5  # ties
    np.testing.assert_array_equal(stars_numba.median3(plane), ndimage.median_filter(plane, size=3, mode="mirror"))
    for step in (1, 2, 8, 32):
        got = stars.b3_smooth(plane, step)
        want = stars._b3_smooth_numpy(plane, step)
        assert got.dtype == want.dtype == np.float32
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("scale", [1.0, -1.0, 1e-20, 1e-30, 1e-36, 1e-39, 1e-44])
def test_b3_smooth_in_float32_arithmetic_equals_the_float64_terms(scale: float) -> None:
    """The float32 shortcut (large enough values) and the float64 terms (tiny values, whose products
    fall among the subnormals) both give the numpy passes' bits: mixed signs, NaN, infinities, zeros."""
    from processes.staralignment import stars_numba

    rng = np.random.default_rng(int(-np.log10(abs(scale)) * 10) + (scale < 0))
    plane = (rng.standard_normal((37, 45)) * scale).astype(np.float32)
    plane[3, :5] = [0.0, -0.0, np.nan, np.inf, -np.inf] if scale == 1.0 else 0.0
    plane[10, 10] = 1.0  # a bright pixel beside tiny ones
    assert stars_numba._float32_exact(plane) == (abs(scale) >= 1e-20)
    for step in (1, 2, 4, 16):
        got = stars.b3_smooth(plane, step)
        want = stars._b3_smooth_numpy(plane, step)
        assert got.tobytes() == want.tobytes(), step


def test_label_statistics_equal_scipy() -> None:
    from processes.staralignment import stars_numba

    detail = RNG.random((50, 60)).astype(np.float32)
    raw = RNG.random((50, 60)).astype(np.float32)
    labels, count = ndimage.label(detail > 0.6, structure=np.ones((3, 3), dtype=bool))
    index = np.arange(1, count + 1)
    area, y0, y1, x0, x1, peak, py, px, total, peak_raw = stars_numba.label_stats(labels, detail, raw, count)
    boxes = ndimage.find_objects(labels)
    np.testing.assert_array_equal(area, np.bincount(labels.ravel())[1:])
    np.testing.assert_array_equal(y0, [b[0].start for b in boxes])
    np.testing.assert_array_equal(y1, [b[0].stop for b in boxes])
    np.testing.assert_array_equal(x0, [b[1].start for b in boxes])
    np.testing.assert_array_equal(x1, [b[1].stop for b in boxes])
    np.testing.assert_array_equal(peak, ndimage.maximum(detail, labels, index))
    np.testing.assert_array_equal(np.column_stack([py, px]), ndimage.maximum_position(detail, labels, index))
    np.testing.assert_array_equal(total, ndimage.sum(detail, labels, index))
    np.testing.assert_array_equal(peak_raw, ndimage.maximum(raw, labels, index))
    ys, xs = stars_numba.local_maxima(detail, labels)
    want = np.nonzero((ndimage.maximum_filter(detail, size=5, mode="mirror") == detail) & (labels > 0))
    np.testing.assert_array_equal(ys, want[0])
    np.testing.assert_array_equal(xs, want[1])
    peak_map = np.concatenate([[np.inf], peak])[labels]
    counts = np.bincount(labels[(labels > 0) & (detail >= 0.5 * peak_map)], minlength=count + 1)[1:]
    np.testing.assert_array_equal(stars_numba.half_maximum_counts(detail, labels, peak), counts)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (2, 2), (7, 8), (64, 65), (301, 300)])
def test_label8_equals_scipy_label(shape: tuple[int, int]) -> None:
    """Same labels, numbering (raster order of each structure's first pixel), dtype and count, of the
    pixels above the threshold (NaN below it)."""
    from processes.staralignment import stars_numba

    square = np.ones((3, 3), dtype=bool)
    cases = [RNG.random(shape) < density for density in (0.0, 0.05, 0.3, 0.5, 0.6, 0.9, 1.0)]
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    cases.append((yy + xx) % 2 == 0)  # diagonal-only contacts: one structure
    cases.append(((yy - shape[0] // 2) ** 2 + (xx - shape[1] // 2) ** 2) % 17 < 6)  # rings, U shapes: late joins
    for binary in cases:
        want, want_count = ndimage.label(binary, structure=square)
        values = np.where(binary, RNG.uniform(0.51, 2.0, shape), RNG.uniform(-1.0, 0.5, shape)).astype(np.float32)
        values[~binary & (RNG.random(shape) < 0.3)] = np.nan
        got, count = stars_numba.label8(values, 0.5)
        assert count == want_count and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_detection_labels_pixels_above_the_threshold_as_numpy_compares_them() -> None:
    """detect_stars labels ``detail > threshold`` as numpy compares a float32 plane with a Python
    float (in float32): a value equal to the float32 threshold is not above it."""
    from processes.staralignment import stars_numba

    values = np.full((5, 6), np.float32(0.1))
    values[2, 2:4] = np.nextafter(np.float32(0.1), np.float32(1))
    got, count = stars_numba.label8(values, values.dtype.type(0.1))
    want, want_count = ndimage.label(values > 0.1, structure=np.ones((3, 3), dtype=bool))
    assert count == want_count == 1 and np.array_equal(got, want)


# -- star measurement kernels -------------------------------------------------------------------
def test_bilinear_grid_and_local_peaks_equal_scipy() -> None:
    from processes.kernels import starmeasure_numba

    grid = RNG.random((5, 7))
    yy = np.clip((np.arange(40) + 0.5) / 8 - 0.5, 0, 4)
    xx = np.clip((np.arange(57) + 0.5) / 8 - 0.5, 0, 6)
    gy, gx = np.meshgrid(yy, xx, indexing="ij")
    np.testing.assert_allclose(starmeasure_numba.bilinear_grid(grid, yy, xx),
                               ndimage.map_coordinates(grid, [gy, gx], order=1, mode="nearest"), rtol=1e-13)
    plane = ndimage.gaussian_filter(RNG.random((45, 38)), 1.0)
    plane[0, :3] = plane.max() + 1  # a plateau on the edge
    for percentile in (60, 99.5):  # most rows with a pixel above the threshold; most rows skipped
        threshold = float(np.percentile(plane, percentile))
        ys, xs = starmeasure_numba.local_peaks(plane, threshold)
        want = np.nonzero((plane == ndimage.maximum_filter(plane, size=5)) & (plane > threshold))
        assert ys.size
        np.testing.assert_array_equal(ys, want[0])
        np.testing.assert_array_equal(xs, want[1])


@pytest.mark.parametrize("shape", [(5, 7), (1, 6), (4, 1), (1, 1), (33, 60)])
def test_bilinear_grid_is_the_previous_formula(shape: tuple[int, int]) -> None:
    """bilinear_grid (x interpolation once per grid row) equals gy·(gx·g00 + fx·g01) + fy·(gx·g10 + fx·g11)
    evaluated pixel by pixel, bit for bit: at tile centres, cell edges and the clamped last cell."""
    from processes.kernels import starmeasure_numba

    ny, nx = shape
    grid = RNG.normal(0.1, 0.02, shape)
    yy = np.clip((np.arange(ny * 9 + 2) + 0.5) / 9 - 0.5, 0, ny - 1)
    xx = np.clip((np.arange(nx * 8 + 1) + 0.5) / 8 - 0.5, 0, nx - 1)
    by, bx = np.floor(yy), np.floor(xx)
    r0 = np.clip(by.astype(int), 0, ny - 1)[:, None]
    r1 = np.clip(by.astype(int) + 1, 0, ny - 1)[:, None]
    c0 = np.clip(bx.astype(int), 0, nx - 1)[None, :]
    c1 = np.clip(bx.astype(int) + 1, 0, nx - 1)[None, :]
    fy, fx = (yy - by)[:, None], (xx - bx)[None, :]
    gy, gx = 1.0 - fy, 1.0 - fx
    want = gy * (gx * grid[r0, c0] + fx * grid[r0, c1]) + fy * (gx * grid[r1, c0] + fx * grid[r1, c1])
    assert starmeasure_numba.bilinear_grid(grid, yy, xx).tobytes() == want.tobytes()


def _normal_equations_python(p: np.ndarray, gx: np.ndarray, gy: np.ndarray, data: np.ndarray, model: np.ndarray,
                             g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """JᵀJ and Jᵀr of the fit's Jacobian as the fit formed them before: Python floats, pixel by pixel."""
    amp, x0, y0, _, a, b, c = (float(v) for v in p)
    jtj = [[0.0] * 7 for _ in range(7)]
    jtr = [0.0] * 7
    for m in range(len(data)):
        dx, dy = float(gx[m]) - x0, float(gy[m]) - y0
        gm = float(g[m])
        ag = amp * gm
        jac = [gm, ag * (a * dx + b * dy), ag * (b * dx + c * dy), 1.0, -0.5 * ag * dx * dx, -ag * dx * dy,
               -0.5 * ag * dy * dy]
        r = float(data[m]) - float(model[m])
        for i in range(7):
            jtr[i] += jac[i] * r
            for j in range(i, 7):
                jtj[i][j] += jac[i] * jac[j]
    for i in range(7):
        for j in range(i):
            jtj[i][j] = jtj[j][i]
    return np.array(jtj), np.array(jtr)


def test_normal_equations_equal_the_pixel_loop() -> None:
    """The fit's JᵀJ and Jᵀr (35 register accumulators) equal the element-by-element loop bit for bit,
    NaN and overflowing inputs included."""
    from processes.kernels.starmeasure_numba import _normal_equations

    rng = np.random.default_rng(11)
    coords = np.arange(15) - 7.0
    gy, gx = (v.ravel() for v in np.meshgrid(coords, coords, indexing="ij"))
    for case in range(6):
        p = np.array([rng.uniform(0.01, 1), *rng.uniform(-1, 1, 2), 0.05, rng.uniform(0.1, 1), rng.uniform(-0.1, 0.1),
                      rng.uniform(0.1, 1)])
        g = np.exp(-0.5 * p[4] * (gx - p[1]) ** 2 - 0.5 * p[6] * (gy - p[2]) ** 2)
        model = p[3] + p[0] * g
        data = model + rng.normal(0, 0.01, g.size)
        if case == 4:
            data[17] = np.nan
        if case == 5:
            p[0] = 1e300  # squares overflow to inf
        jtj, jtr = np.empty((7, 7)), np.empty(7)
        _normal_equations(p, gx, gy, data, model, g, jtj, jtr)
        want_jtj, want_jtr = _normal_equations_python(p, gx, gy, data, model, g)
        np.testing.assert_array_equal(jtj, want_jtj)
        np.testing.assert_array_equal(jtr, want_jtr)
        assert jtj.tobytes() == want_jtj.tobytes() or np.isnan(jtj).any()


def _fit_gaussians_numpy(stamps: np.ndarray, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """The previous batched numpy Levenberg–Marquardt fit (reference), from the same initial guess."""
    from processes.kernels.starmeasure import _initial_guess

    data, gx, gy, params = _initial_guess(stamps)
    n = len(stamps)
    damping = np.full(n, 1e-3)

    def evaluate(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        amp, x0, y0, b0, a, b, c = (p[:, i : i + 1] for i in range(7))
        dx, dy = gx[None, :] - x0, gy[None, :] - y0
        g = np.exp(-0.5 * np.clip(a * dx * dx + 2 * b * dx * dy + c * dy * dy, 0, 700))
        return b0 + amp * g, g

    model, g = evaluate(params)
    cost = ((model - data) ** 2).sum(axis=1)
    converged = np.zeros(n, dtype=bool)
    for _ in range(iterations):
        amp, x0, y0, _, a, b, c = (params[:, i : i + 1] for i in range(7))
        dx, dy = gx[None, :] - x0, gy[None, :] - y0
        ag = amp * g
        jac = np.stack([g, ag * (a * dx + b * dy), ag * (b * dx + c * dy), np.ones_like(g),
                        -0.5 * ag * dx * dx, -ag * dx * dy, -0.5 * ag * dy * dy], axis=2)
        jtj = np.einsum("nmi,nmj->nij", jac, jac)
        jtr = np.einsum("nmi,nm->ni", jac, data - model)
        diag = np.einsum("nii->ni", jtj)
        lhs = jtj + damping[:, None, None] * np.eye(7)[None] * np.maximum(diag, 1e-30)[:, :, None]
        trial = params + np.linalg.solve(lhs, jtr[:, :, None])[:, :, 0]
        trial_model, trial_g = evaluate(trial)
        trial_cost = ((trial_model - data) ** 2).sum(axis=1)
        better = np.isfinite(trial_cost) & (trial_cost <= cost)
        converged |= better & (np.abs(cost - trial_cost) <= 1e-10 * np.maximum(cost, 1e-300))
        params[better] = trial[better]
        model[better], g[better], cost[better] = trial_model[better], trial_g[better], trial_cost[better]
        damping = np.where(better, damping / 3, damping * 4)
        if converged.all():
            break
    return params, np.isfinite(params).all(axis=1) & (converged | (damping < 1e6))


def test_gaussian_fits_equal_the_batched_numpy_fit() -> None:
    from processes.kernels.starmeasure import _fit_gaussians

    rng = np.random.default_rng(5)
    k = 15
    coords = np.arange(k) - k // 2
    gy, gx = np.meshgrid(coords, coords, indexing="ij")
    stamps = []
    for _ in range(40):
        sx, sy, theta = rng.uniform(0.8, 2.5), rng.uniform(0.8, 2.5), rng.uniform(0, np.pi)
        x0, y0 = rng.uniform(-0.5, 0.5, 2)
        u = (gx - x0) * np.cos(theta) + (gy - y0) * np.sin(theta)
        v = -(gx - x0) * np.sin(theta) + (gy - y0) * np.cos(theta)
        star = rng.uniform(0.05, 0.5) * np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2)) + 0.02
        stamps.append(star + rng.normal(0, 0.002, star.shape))
    stamps = np.array(stamps)
    got, ok = _fit_gaussians(stamps, 30)
    want, want_ok = _fit_gaussians_numpy(stamps, 30)
    np.testing.assert_array_equal(ok, want_ok)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


def _fit_every_step(data: np.ndarray, params: np.ndarray, gx: np.ndarray, gy: np.ndarray,
                    iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """starmeasure_numba.fit_gaussians driven from Python with its compiled pieces, the normal equations
    formed at every iteration (reference: a rejected step leaves them unchanged)."""
    from processes.kernels import starmeasure_numba as sn

    def fit_one(p, d, count, stop, damping):
        model, g, trial_model, trial_g = (np.empty(d.size) for _ in range(4))
        jtj, jtr, step = np.empty((7, 7)), np.empty(7), np.empty(7)
        cost = sn._model(p, gx, gy, d, model, g)
        converged_at = 0
        for it in range(count):
            sn._normal_equations(p, gx, gy, d, model, g, jtj, jtr)
            lhs = jtj.copy()
            for i in range(7):
                lhs[i, i] += damping * max(jtj[i, i], 1e-30)
            if not sn._solve(lhs, jtr, step):
                step[:] = np.nan
            trial = p + step
            trial_cost = sn._model(trial, gx, gy, d, trial_model, trial_g)
            better = math.isfinite(trial_cost) and trial_cost <= cost
            if better and abs(cost - trial_cost) <= 1e-10 * max(cost, 1e-300) and converged_at == 0:
                converged_at = it + 1
            if better:
                p[:], model[:], g[:], cost, damping = trial, trial_model, trial_g, trial_cost, damping / 3
            else:
                damping = damping * 4
            if stop and converged_at:
                break
        return converged_at, damping

    n = data.shape[0]
    first, damping = np.zeros(n, np.int64), np.full(n, 1e-3)
    for s in range(n):
        first[s], damping[s] = fit_one(params[s], data[s], iterations, True, damping[s])
    rounds = first.max() if (first > 0).all() else iterations
    for s in range(n):
        if 0 < first[s] < rounds:
            _, damping[s] = fit_one(params[s], data[s], rounds - first[s], False, damping[s])
    return first > 0, damping


def test_gaussian_fits_reuse_the_normal_equations_after_a_rejected_step() -> None:
    """fit_gaussians forms the normal equations only after accepted steps: the same parameters,
    convergence and damping, bit for bit, as forming them at every iteration (noisy, faint, flat and
    hot-pixel stamps, so that steps are rejected)."""
    from processes.kernels import starmeasure_numba
    from processes.kernels.starmeasure import _initial_guess

    rng = np.random.default_rng(11)
    k = 15
    gy, gx = np.meshgrid(np.arange(k) - k // 2, np.arange(k) - k // 2, indexing="ij")
    stamps = []
    for i in range(30):
        s = rng.uniform(0.7, 3.0)
        star = rng.uniform(0.0, 0.3) * np.exp(-0.5 * ((gx - rng.uniform(-1, 1)) ** 2 + (gy - rng.uniform(-1, 1)) ** 2)
                                              / s**2)
        stamp = star + 0.05 + rng.normal(0, 0.01 if i % 3 else 0.05, star.shape)
        if i % 7 == 0:
            stamp[k // 2, k // 2] += 1.0  # a hot pixel
        stamps.append(stamp)
    data, gx1, gy1, params = _initial_guess(np.array(stamps))
    want_params = params.copy()
    want = _fit_every_step(data, want_params, gx1, gy1, 30)
    got = starmeasure_numba.fit_gaussians(np.ascontiguousarray(data), params, gx1, gy1, 30)
    assert params.tobytes() == want_params.tobytes()
    assert got[0].tobytes() == want[0].tobytes() and got[1].tobytes() == want[1].tobytes()
