"""Star measurement kernel (processes/kernels/starmeasure.py): FWHM, eccentricity, positions, rejection of hot pixels.

Stars are rendered here independently of the kernel: elliptical Gaussians integrated over
each pixel (products of error-function differences along the axes), so the true FWHM,
eccentricity and centres are known exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage, special

from processes.kernels.starmeasure import FWHM_PER_SIGMA, measure_stars

SIZE = 256


def _star_field(fwhm_x: float, fwhm_y: float, *, count: int = 40, noise: float = 0.001, sky: float = 0.05,
                seed: int = 0, amplitude: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """A plane with ``count`` axis-aligned Gaussian stars (pixel-integrated) on a flat sky with Gaussian noise.

    Returns (plane, star centres (n, 2) as x, y).  Stars lie on a jittered grid, 28 px apart.
    """
    rng = np.random.default_rng(seed)
    sx, sy = fwhm_x / FWHM_PER_SIGMA, fwhm_y / FWHM_PER_SIGMA
    plane = np.full((SIZE, SIZE), sky)
    grid = [(x, y) for y in range(20, SIZE - 20, 28) for x in range(20, SIZE - 20, 28)][:count]
    centres = np.array([(x + rng.uniform(-0.5, 0.5), y + rng.uniform(-0.5, 0.5)) for x, y in grid])
    edges = np.arange(SIZE + 1) - 0.5
    for x0, y0 in centres:
        flux = amplitude * 2 * math.pi * sx * sy * rng.uniform(0.5, 1.0)
        fx = np.diff(special.erf((edges - x0) / (math.sqrt(2) * sx))) / 2
        fy = np.diff(special.erf((edges - y0) / (math.sqrt(2) * sy))) / 2
        plane += flux * np.outer(fy, fx)
    plane += rng.normal(0, noise, plane.shape)
    return plane.astype(np.float32), centres


@pytest.mark.parametrize("fwhm", [2.5, 3.5, 5.0])
def test_round_stars_fwhm_and_positions(fwhm: float) -> None:
    plane, centres = _star_field(fwhm, fwhm)
    field = measure_stars(plane)
    assert field.count == len(centres)
    assert field.median_fwhm == pytest.approx(fwhm, rel=0.02)
    distance = np.hypot(field.x[:, None] - centres[None, :, 0], field.y[:, None] - centres[None, :, 1]).min(axis=1)
    assert np.median(distance) < 0.05
    assert field.median_eccentricity < 0.3  # round stars: only noise makes them look elongated
    # the background σ (MAD of the plane minus its background) is raised a little by the stars' wings
    assert 0.001 <= field.noise <= 0.00115 + 0.00005 * fwhm


def test_elongated_stars_eccentricity() -> None:
    # sigma_x = 2 sigma_y: e = sqrt(1 - 1/4); the FWHM is the geometric mean of the axes
    plane, _ = _star_field(4.0, 2.0, amplitude=0.5)
    field = measure_stars(plane)
    assert field.median_eccentricity == pytest.approx(math.sqrt(0.75), abs=0.02)
    assert field.median_fwhm == pytest.approx(math.sqrt(8.0), rel=0.03)
    assert np.median(field.fwhm_major) == pytest.approx(4.0, rel=0.03)
    assert np.median(field.fwhm_minor) == pytest.approx(2.0, rel=0.04)


def test_hot_pixels_and_saturated_stars_are_not_measured() -> None:
    plane, centres = _star_field(3.0, 3.0, count=30)
    rng = np.random.default_rng(5)
    hot = rng.integers(10, SIZE - 10, size=(60, 2))
    plane[hot[:, 1], hot[:, 0]] += 0.5  # single hot pixels, brighter than the stars' peaks
    field = measure_stars(plane)
    assert field.count <= len(centres)
    assert field.count >= len(centres) - 3  # a hot pixel on a star may spoil it
    assert field.median_fwhm == pytest.approx(3.0, rel=0.03)
    saturated = np.minimum(plane * 8, 1.0)  # every star peaks above 1: saturated
    assert measure_stars(saturated, saturation=0.98).count < 5


def test_empty_and_colour_planes() -> None:
    rng = np.random.default_rng(1)
    flat = (0.1 + rng.normal(0, 0.001, (64, 64))).astype(np.float32)
    field = measure_stars(flat)
    assert field.count == 0 and math.isnan(field.median_fwhm)
    assert field.summary()["fwhm"] is None and field.summary()["stars"] == 0
    plane, centres = _star_field(3.0, 3.0, count=20)
    rgb = np.stack([plane, plane * 0.5, plane * 0.25])  # channels are averaged
    assert measure_stars(rgb).count == len(centres)
    with pytest.raises(ValueError, match="2-D plane"):
        measure_stars(np.zeros((4, 4)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("size", [1 << 16, (1 << 16) + 1, 300_001])
def test_median_and_mad_equal_numpy(size: int, dtype: type) -> None:
    """The compiled median (:func:`fast_median`: the finiteness check in the extremes' pass) is
    numpy's, bit for bit; the star measurement's MAD (:func:`fast_median_mad`'s compiled histogram
    selections on its finite float64 planes) is numpy's median of |x − median| and
    :func:`processes.kernels.robust.median_mad`'s, bit for bit, and so is its fallback on others."""
    from processes.integration.estimators import fast_median, fast_median_mad
    from processes.kernels.robust import median_mad

    rng = np.random.default_rng(size)
    cases = [
        rng.normal(0.0, 1e-3, size),
        np.round(rng.normal(0.0, 4.0, size)) + 0.0,  # many ties (no −0.0: which zero numpy picks is its own)
        np.full(size, 0.25),  # every deviation 0
        np.where(rng.random(size) < 0.5, 1.0, 3.0),  # every deviation 1 (two values)
        np.concatenate([rng.normal(0.0, 1e-3, size - 3), [50.0, -70.0, 1e9]]),  # far outliers: a coarse histogram
        np.concatenate([rng.normal(0.0, 1e-3, size - 1), [np.nan]]),  # numpy's NaN
        np.concatenate([rng.normal(0.0, 1e-3, size - 1), [np.inf]]),
        np.where(np.arange(size) % 17 == 0, 0.5, rng.normal(0.0, 1e-3, size)),  # a constant sample (every 17th)
        np.where(np.arange(size) % 2 == 0, 1e38, -1e38) * rng.random(size),  # float32 deviations overflow
        np.concatenate([np.zeros(size // 2), rng.random(size - size // 2)]),  # a zero median
    ]
    for values in cases:
        data = values.astype(dtype)
        median = float(np.median(data))
        got = fast_median(data)
        np.testing.assert_array_equal(got, median)  # NaN equals NaN, nothing else
        assert math.copysign(1.0, got) == math.copysign(1.0, median)
        strided = data[::3]  # a non-contiguous sample, as robust_sigma takes
        np.testing.assert_array_equal(fast_median(strided), float(np.median(strided)))
        if dtype is np.float64 and np.isfinite(data).all():
            mad = float(np.median(np.abs(data - median)))
            assert median_mad(data) == (median, mad)
            assert math.copysign(1.0, median_mad(data)[1]) == math.copysign(1.0, mad)
            assert fast_median_mad(data) == (median, mad)
            assert math.copysign(1.0, fast_median_mad(data)[1]) == math.copysign(1.0, mad)
        if np.isfinite(data).any():  # the finite values only, as robust.median_mad (float32: its float64 median)
            np.testing.assert_array_equal(fast_median_mad(data), median_mad(data))
            np.testing.assert_array_equal(fast_median_mad(strided), median_mad(strided))


def test_a_float64_plane_is_measured_without_being_changed() -> None:
    plane, centres = _star_field(3.0, 3.0, count=20)
    data = plane.astype(np.float64)
    data[5, 7] = np.nan  # non-finite pixels are replaced in a copy, not in the caller's plane
    before = data.copy()
    field = measure_stars(data)
    np.testing.assert_array_equal(data, before)
    assert field.count == len(centres)
    assert field.median_fwhm == measure_stars(data.astype(np.float32)).median_fwhm


@pytest.mark.parametrize("shape", [(97, 131), (5, 7), (3, 40), (40, 2), (1, 9)])
@pytest.mark.parametrize("sigma", [1.0, 0.7, 2.5])
def test_compiled_gaussian_smoothing_is_scipys(shape: tuple[int, int], sigma: float) -> None:
    """The star measurement's compiled smoothing equals ndimage.gaussian_filter bit for bit (reflected edges,
    planes narrower than the filter included)."""
    from scipy import ndimage

    from processes.kernels.starmeasure import _gaussian_smooth

    plane = np.random.default_rng(shape[0] * 7 + shape[1]).normal(0.1, 0.02, shape)
    np.testing.assert_array_equal(_gaussian_smooth(plane, sigma), ndimage.gaussian_filter(plane, sigma))


@pytest.mark.parametrize("shape", [(23, 37), (9, 1083), (4, 3), (2, 1)])
def test_compiled_radius4_smoothing_keeps_special_values_bit_for_bit(shape: tuple[int, int]) -> None:
    """The radius-4 path (σ = 1, each value's nine taps in one expression) equals scipy's correlate1d
    arithmetic with NaN, ±0, ±∞, subnormals and huge values, on planes shorter than the filter and
    widths that leave a remainder to the vector loops."""
    from scipy import ndimage

    from processes.kernels.starmeasure import _gaussian_smooth

    rng = np.random.default_rng(shape[0] * 31 + shape[1])
    tiny = np.finfo(np.float64).smallest_subnormal
    specials = np.array([np.nan, 0.0, -0.0, np.inf, -np.inf, tiny, -7 * tiny, 1e300, -1e300])
    planes = [rng.normal(0.1, 0.02, shape), rng.normal(0, 1, shape) * 40 * tiny, np.full(shape, -0.0)]
    flat = planes[0].reshape(-1)
    count = max(1, flat.size // 8)
    flat[rng.choice(flat.size, count, replace=False)] = rng.choice(specials, count)
    for plane in planes:
        with np.errstate(all="ignore"):
            got, want = _gaussian_smooth(plane, 1.0), ndimage.gaussian_filter(plane, 1.0)
        nan = np.isnan(want)
        assert np.array_equal(np.isnan(got), nan)
        assert np.array_equal(got[~nan].view(np.uint64), want[~nan].view(np.uint64))


def _numpy_tile_medians(plane: np.ndarray, ny: int, nx: int, ty: int, tx: int) -> np.ndarray:
    """The tile medians as background_map took them before the compiled selection (np.median of a transposed copy)."""
    cropped = plane[: ny * ty, : nx * tx].reshape(ny, ty, nx, tx)
    return np.median(cropped.transpose(0, 2, 1, 3).reshape(ny, nx, -1), axis=2)


def _tile_cases(rng: np.random.Generator, shape: tuple[int, int]) -> list[np.ndarray]:
    """Planes whose tiles are continuous, full of ties, constant, two-valued, with NaNs, a far outlier, ±0."""
    normal = rng.normal(0.1, 0.01, shape)
    outlier = normal.copy()
    outlier[1, 1] = 1e300
    with_nan = normal.copy()
    with_nan[rng.random(shape) < 0.01] = np.nan
    return [normal, np.round(rng.normal(0.0, 2.0, shape)),  # ties, and −0.0 beside 0.0
            np.full(shape, 0.25), rng.integers(0, 2, shape).astype(np.float64), with_nan, outlier,
            np.where(rng.random(shape) < 0.5, -0.0, 0.0)]


@pytest.mark.parametrize("tile", [(1, 1), (1, 2), (3, 3), (4, 5), (7, 7), (16, 16), (32, 32), (33, 31)])
def test_compiled_tile_medians_are_numpys(tile: tuple[int, int]) -> None:
    """background_map's compiled tile medians equal np.median's bit for bit: odd and even counts (the
    float64 mean of the two middle values), ties, constant tiles, NaN tiles, outliers, signed zeros."""
    from processes.kernels import starmeasure_numba
    from processes.kernels.starmeasure import background_map

    ty, tx = tile
    ny, nx = 3, 4
    rng = np.random.default_rng(ty * 100 + tx)
    for plane in _tile_cases(rng, (ny * ty + 2, nx * tx + 1)):  # and a remainder beyond the last tile
        want = _numpy_tile_medians(plane, ny, nx, ty, tx)
        got, undecided = starmeasure_numba.tile_medians(plane, ny, nx, ty, tx)
        decided = ~undecided
        assert got[decided].tobytes() == want[decided].tobytes()
        assert not (undecided & (want != 0)).any()
    # the whole background map, undecided tiles (signed zeros) included, against the numpy tile medians
    for plane in _tile_cases(rng, (3 * 32, 4 * 32)):
        if np.isnan(plane).any():
            continue
        got_map = background_map(plane)
        medians = ndimage.median_filter(_numpy_tile_medians(plane, 3, 4, 32, 32), size=3, mode="nearest")
        yy = np.clip((np.arange(plane.shape[0]) + 0.5) / 32 - 0.5, 0, 2)
        xx = np.clip((np.arange(plane.shape[1]) + 0.5) / 32 - 0.5, 0, 3)
        want_map = starmeasure_numba.bilinear_grid(medians, yy, xx)
        assert got_map.tobytes() == want_map.tobytes()


@pytest.mark.parametrize("shape", [(256, 320), (257, 321), (40, 33)])
def test_background_level_is_the_maps_numpy_median(shape: tuple[int, int]) -> None:
    """measure_stars' background level (the map's median selected between the tile medians' extremes) is
    np.median of the background map bit for bit: smooth, tied, constant, two-valued and signed-zero planes,
    a tile far beyond the others."""
    from processes.kernels.starmeasure import _background, background_map

    rng = np.random.default_rng(shape[0])
    gradient = np.linspace(0.0, 0.3, shape[1])[None, :] + rng.normal(0.1, 0.01, shape)
    far = gradient.copy()
    far[:32, :32] = 1e301
    for plane in [*_tile_cases(rng, shape), gradient, far, np.round(gradient * 20) / 20]:
        if np.isnan(plane).any():
            continue
        background, level = _background(plane)
        assert background.tobytes() == background_map(plane).tobytes()
        median = float(np.median(background))
        assert level == median and math.copysign(1.0, level) == math.copysign(1.0, median)


@pytest.mark.parametrize("values", ["normal", "halves", "three levels"])
def test_tile_grid_median_filter_is_scipys(values: str) -> None:
    """The background's 3×3 median of the tile grid equals ``ndimage.median_filter(size=3, mode="nearest")``,
    ties included, on grids from the smallest filtered (3×3) up."""
    from processes.kernels.starmeasure import _median3_nearest

    rng = np.random.default_rng(7)
    for shape in [(3, 3), (3, 11), (9, 4), (12, 21)]:
        grid = rng.normal(size=shape)
        if values == "halves":
            grid = np.round(grid * 2) / 2
        elif values == "three levels":
            grid = rng.integers(0, 3, size=shape).astype(np.float64)
        assert np.array_equal(_median3_nearest(grid), ndimage.median_filter(grid, size=3, mode="nearest"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_compiled_channel_mean_is_the_sum_of_the_channels_divided(dtype: type, channels: int) -> None:
    """The pre-processing's luminance (compiled channel mean) equals the float64 copy of channel 0 plus
    each further channel, divided by their count, bit for bit: random, tiny, huge (float32 sums beyond
    its range), signed-zero, infinite and NaN values, a strided image."""
    from processes.workflows.preprocess.pipeline import luminance

    rng = np.random.default_rng(channels)
    pixels = rng.random((channels, 23, 37)).astype(dtype)
    special_values = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, 3e38, -3e38, np.finfo(dtype).max]
    flat = pixels.reshape(-1)
    flat[rng.choice(flat.size, 300, replace=False)] = rng.choice(special_values, 300)
    pixels[:, 0, :3] = -0.0  # pixels whose every channel is −0.0
    for image in (pixels, pixels[:, ::2, 1::3]):
        want = image[0].astype(np.float64)
        with np.errstate(all="ignore"):
            for channel in image[1:]:
                want += channel
            want /= channels
        assert luminance(image).tobytes() == want.tobytes()


def _isolated_by_tree(xs: np.ndarray, ys: np.ndarray, half: float) -> np.ndarray:
    """What _isolated computed with scipy's k-d tree: the fainter of each pair within ``half`` (Chebyshev) drops."""
    from scipy.spatial import cKDTree

    keep = np.ones(xs.size, dtype=bool)
    if xs.size > 1:
        for i, j in cKDTree(np.column_stack([xs, ys])).query_pairs(r=half, p=np.inf, output_type="ndarray"):
            keep[max(i, j)] = False
    return keep


@pytest.mark.parametrize("half", [0, 1, 2.5, 3, 7])
def test_isolated_equals_the_k_d_tree_pairs(half):
    from processes.kernels.starmeasure import _isolated

    rng = np.random.default_rng(int(half * 10))
    sets = [
        (rng.integers(0, 60, 400), rng.integers(0, 40, 400)),  # crowded: many pairs, ties and duplicates
        (rng.integers(0, 2000, 3000), rng.integers(0, 1000, 3000)),  # sparse, frame-sized
        (rng.uniform(0, 50, 300), rng.uniform(0, 50, 300)),  # float positions
        (np.arange(30) * half, np.zeros(30, dtype=np.int64)),  # neighbours exactly ``half`` apart, in a row
        (np.array([5, 5, 5, 9]), np.array([5, 5, 5 + 7, 5])),  # duplicates, one at the boundary
        (np.array([3]), np.array([4])),
        (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)),
    ]
    sets.append(((sets[2][0] * 8).round() / 8, (sets[2][1] * 8).round() / 8))  # floats on a grid: exact ties
    for xs, ys in sets:
        np.testing.assert_array_equal(_isolated(xs, ys, half), _isolated_by_tree(xs, ys, half))


def test_the_star_measurement_imports_no_scipy_spatial():
    """The console measures the master's stars: scipy.spatial (and sparse, special) stay out of it."""
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from processes.kernels.starmeasure import measure_stars\n"
            "from processes.common.synthetic import synthetic_cfa\n"
            "field = measure_stars(np.repeat(synthetic_cfa(384)[None], 3, axis=0))\n"
            "print(len(field.x) > 0, [m for m in ('scipy.spatial', 'scipy.sparse') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.split("\n")[0] == "True []", done.stdout + done.stderr


@pytest.mark.parametrize("case", ["plain", "saturated", "nan"])
def test_overwriting_the_plane_measures_the_same_stars(case: str) -> None:
    """``overwrite=True`` forms the residual in the float64 plane itself and keeps only a boolean plane for
    the saturation test: the same star field, bit for bit (saturated peaks skipped, NaN replaced); without
    it the plane is left as it was."""
    import attrs

    plane = _star_field(3.0, 3.0, amplitude=0.5 if case == "plain" else 1.2, seed=3)[0].astype(np.float64)
    if case == "nan":
        plane[40:44, 100] = np.nan
    kept = plane.copy()
    want = attrs.asdict(measure_stars(plane))
    assert np.array_equal(plane, kept, equal_nan=True)
    if case == "saturated":
        assert want["x"].size < measure_stars(plane, saturation=2.0).count  # some peaks reach 0.98
    got = attrs.asdict(measure_stars(plane, overwrite=True))
    assert got.keys() == want.keys()
    assert all(np.array_equal(got[k], want[k]) for k in want)
    assert case == "nan" or not np.array_equal(plane, kept)  # (a NaN plane is measured on a copy)
