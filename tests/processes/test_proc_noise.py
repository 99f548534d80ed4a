"""Noise estimation kernels: the compiled à trous / k-sigma / MRS passes against the numpy/scipy code."""

from __future__ import annotations

import numpy as np
import pytest

from processes.kernels import noise


def _scene(shape: tuple[int, int], sigma: float, seed: int) -> np.ndarray:
    """Sky gradient, a few bright stars and Gaussian noise, float32."""
    rng = np.random.default_rng(seed)
    h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    image = 0.1 + 0.02 * x / w + 0.01 * y / h
    for _ in range(40):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        image += rng.uniform(0.05, 0.8) * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * rng.uniform(1, 3) ** 2))
    return (image + rng.normal(0, sigma, shape)).astype(np.float32)


@pytest.fixture
def numpy_path(monkeypatch):
    """Run the estimators through the numpy/scipy code (the previous implementation)."""
    def run(func, image):
        with monkeypatch.context() as m:
            m.setattr(noise, "_COMPILED_MIN", 1 << 62)
            return func(image)
    return run


def _compiled_planes(image: np.ndarray, layers: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(w₁, significance, signal) of the compiled passes: :func:`noise_nb.first_level`, then (w₁ copied)
    :func:`noise_nb.mrs_planes` turning its two planes into the significance and the signal."""
    from processes.kernels import noise_nb

    w1, smooth = np.empty_like(image), np.empty_like(image)
    noise_nb.first_level(image, w1, smooth)
    first = w1.copy()
    noise_nb.mrs_planes(image, layers, np.asarray(noise.B3_NOISE_COEFFICIENTS[:layers], dtype=image.dtype),
                        w1, smooth)
    return first, w1, smooth


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(17, 16), (16, 40), (9, 7), (5, 3), (33, 2), (40, 23), (300, 257)])
@pytest.mark.parametrize("layers", [1, 2, 3, 4])
def test_compiled_starlet_planes_are_bit_identical(shape: tuple[int, int], layers: int, dtype) -> None:
    """The streamed levels (planes of more than 2^layers rows: every mirrored row inside the rings; with
    two levels, signal rows held back until the second level no longer reads the first's rows) and the
    level-by-level ones (shorter planes) equal scipy's transform bit for bit."""
    image = _scene(shape, 0.01, 1).astype(dtype)
    details, residual = noise.atrous(image, layers)
    w1, significance, signal = _compiled_planes(image, layers)
    expected = np.abs(details[0]) / noise.B3_NOISE_COEFFICIENTS[0]
    for j, w in enumerate(details[1:], start=1):
        np.maximum(expected, np.abs(w) / noise.B3_NOISE_COEFFICIENTS[j], out=expected)
    assert np.array_equal(w1, details[0])
    assert np.array_equal(significance, expected)
    assert np.array_equal(signal, image - residual)


def _special_plane(shape: tuple[int, int], dtype, infinities: bool) -> np.ndarray:
    """A scene with a constant block and 40 special values: NaN, ±0, subnormals, the smallest normal,
    huge values and, with ``infinities``, ±∞."""
    rng = np.random.default_rng(7)
    info = np.finfo(dtype)
    image = _scene(shape, 0.01, 2).astype(dtype)
    image[:6, :7] = 0.25
    specials = [np.nan, 0.0, -0.0, info.smallest_subnormal, -3 * info.smallest_subnormal, info.tiny,
                info.max / 4, -info.max / 3] + ([np.inf, -np.inf] if infinities else [])
    flat = image.reshape(-1)
    flat[rng.choice(flat.size, 40, replace=False)] = rng.choice(np.array(specials, dtype=dtype), 40)
    return image


def _same_bits(got: np.ndarray, want: np.ndarray) -> bool:
    """NaN where ``want`` has NaN, the same bits elsewhere (−0 is not +0)."""
    nan = np.isnan(want)
    bits = np.uint32 if want.dtype == np.float32 else np.uint64
    return np.array_equal(np.isnan(got), nan) and np.array_equal(got[~nan].view(bits), want[~nan].view(bits))


def _b3_pass_reference(plane: np.ndarray, step: int, axis: int) -> np.ndarray:
    """One B3 pass of the kernels' arithmetic in numpy: mirrored taps widened to float64, centre·6/16,
    then (far pair)·1/16 and (near pair)·4/16 added, each sum rounded to the plane's type."""
    n = plane.shape[axis]
    period = max(2 * n - 2, 1)

    def tap(offset: int) -> np.ndarray:
        index = np.abs(np.arange(n) + offset) % period
        return np.take(plane, np.where(index >= n, period - index, index), axis=axis).astype(np.float64)

    acc = tap(0) * (6 / 16)
    acc += (tap(-2 * step) + tap(2 * step)) * (1 / 16)
    acc += (tap(-step) + tap(step)) * (4 / 16)
    return acc.astype(plane.dtype)


def _mrs_planes_reference(plane: np.ndarray, layers: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(w₁, max_j |w_j|/k_j with NaN levels skipped as the kernel's max skips them, image − residual)."""
    k = np.asarray(noise.B3_NOISE_COEFFICIENTS[:layers], dtype=plane.dtype)
    current, w1, significance = plane, None, None
    for j in range(layers):
        smooth = _b3_pass_reference(_b3_pass_reference(current, 1 << j, 0), 1 << j, 1)
        level = np.abs(current - smooth) / k[j]
        if j == 0:
            w1, significance = current - smooth, level
        else:
            significance = np.where(level > significance, level, significance)
        current = smooth
    return w1, significance, plane - current


def _special_plane(shape: tuple[int, int], dtype, seed: int) -> np.ndarray:
    """A scene with a constant block and special values: NaN, ±0, ±∞, subnormals, the smallest normal,
    huge values."""
    rng = np.random.default_rng(seed)
    info = np.finfo(dtype)
    image = _scene(shape, 0.01, 2).astype(dtype)
    image[:6, :7] = 0.25
    specials = [np.nan, 0.0, -0.0, np.inf, -np.inf, info.smallest_subnormal, -3 * info.smallest_subnormal,
                info.tiny, info.max / 4, -info.max / 3]
    flat = image.reshape(-1)
    count = min(40, flat.size // 4)
    flat[rng.choice(flat.size, count, replace=False)] = rng.choice(np.array(specials, dtype=dtype), count)
    return image


def _same_bits(got: np.ndarray, want: np.ndarray) -> bool:
    """NaN where ``want`` has NaN, the same bits elsewhere (−0 is not +0)."""
    nan = np.isnan(want)
    bits = np.uint32 if want.dtype == np.float32 else np.uint64
    return np.array_equal(np.isnan(got), nan) and np.array_equal(got[~nan].view(bits), want[~nan].view(bits))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(37, 21), (40, 1080 + 3), (18, 9), (9, 7), (33, 2)])
def test_compiled_starlet_planes_keep_special_values_bit_for_bit(shape: tuple[int, int], dtype) -> None:
    """NaN, ±0, ±∞, subnormals and huge values go through the streamed passes (a float64 buffer between
    the column and the row pass, rounded to the plane's type) and the level-by-level ones as through
    the same arithmetic in numpy, bit for bit; the widths leave a remainder to every vector loop."""
    rng = np.random.default_rng(3)
    info = np.finfo(dtype)
    planes = [_special_plane(shape, dtype, 5), _special_plane(shape, dtype, 6),
              (rng.standard_normal(shape) * 50 * info.smallest_subnormal).astype(dtype), np.full(shape, -0.0, dtype)]
    for plane, layers in ((plane, layers) for plane in planes for layers in (2, 3, 4)):
        with np.errstate(all="ignore"):
            got = _compiled_planes(plane, layers)
            want = _mrs_planes_reference(plane, layers)
        assert all(_same_bits(g, w) for g, w in zip(got, want))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_estimates_equal_the_numpy_estimates(seed: int, dtype, numpy_path) -> None:
    image = _scene((400, 333), 0.002 * (seed + 1), seed).astype(dtype)
    assert image.size >= noise._COMPILED_MIN
    for func in (noise.noise_mrs, noise.noise_ksigma):
        got, ref = func(image), numpy_path(func, image)
        assert got.algorithm == ref.algorithm
        # float64 sums instead of numpy's float32 ones: equal to float32 precision
        assert got.sigma == pytest.approx(ref.sigma, rel=2e-6), func.__name__
        assert got.fraction == pytest.approx(ref.fraction, abs=2e-5), func.__name__


def test_compiled_estimates_measure_white_noise() -> None:
    rng = np.random.default_rng(5)
    image = (0.2 + rng.normal(0, 0.01, (512, 512))).astype(np.float32)
    assert noise.noise_mrs(image).sigma == pytest.approx(0.01, rel=0.02)
    assert noise.noise_ksigma(image).sigma == pytest.approx(0.01, rel=0.02)
    assert noise.noise_mrs(np.zeros((300, 300), np.float32)).sigma == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mrs_leaves_out_values_outside_the_valid_range(dtype, numpy_path) -> None:
    """The zero border of a registered frame passes for noiseless sky unless it is left out of
    the noise set (PCL's NoiseMRS low/high): with 30 % of zeros σ came out 27 % low, left out 0.02 %."""
    image = _scene((400, 333), 0.01, 4).astype(dtype)
    whole = noise.noise_mrs(image).sigma
    image[:, :100] = 0  # a registration border
    valid = (0.00002, 0.99998)
    bordered = noise.noise_mrs(image, valid)
    assert bordered.sigma == pytest.approx(whole, rel=0.03)
    assert noise.noise_mrs(image).sigma < 0.8 * whole  # the border counted
    reference = numpy_path(lambda x: noise.noise_mrs(x, valid), image)
    assert bordered.sigma == pytest.approx(reference.sigma, rel=2e-6)  # the compiled path leaves out the same
    assert bordered.fraction == pytest.approx(reference.fraction, abs=2e-5)
    assert noise.estimate_noise(image, "MRS", valid) == bordered
    assert noise.noise_mrs(image, (-1.0, 2.0)) == noise.noise_mrs(image)  # nothing outside: unchanged


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(300, 257), (640, 512)])
def test_compiled_noise_scale_factors_equal_numpy(shape: tuple[int, int], dtype, numpy_path) -> None:
    image = _scene(shape, 0.003, 4).astype(dtype)
    image[::97, ::3] = 0.0  # clipped black and white samples
    image[5::101, ::7] = 1.0
    got = noise.noise_scale_factors(image)
    ref = numpy_path(noise.noise_scale_factors, image)
    assert got == pytest.approx(ref, rel=1e-12)
    assert all(s > 0 for s in got)


def test_mrs_estimate_holds_two_planes_besides_the_image() -> None:
    """The compiled MRS estimate allocates two planes of the image's size (the first level's detail and
    smoothing, then the significance and the signal in their place), not three."""
    import tracemalloc

    image = _scene((512, 384), 0.01, 4)
    noise.noise_mrs(image)  # kernels loaded before tracing
    tracemalloc.start()
    try:
        noise.noise_mrs(image)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 2 * image.nbytes <= peak < 2.5 * image.nbytes
