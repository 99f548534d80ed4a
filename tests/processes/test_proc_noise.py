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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(17, 16), (16, 40), (9, 7), (5, 3), (33, 2), (40, 23), (300, 257)])
@pytest.mark.parametrize("layers", [1, 2, 3, 4])
def test_compiled_starlet_planes_are_bit_identical(shape: tuple[int, int], layers: int, dtype) -> None:
    """The streamed levels (planes of more than 2^layers rows: every mirrored row inside the rings) and the
    level-by-level ones (shorter planes) equal scipy's transform bit for bit."""
    from processes.kernels import noise_nb

    image = _scene(shape, 0.01, 1).astype(dtype)
    details, residual = noise.atrous(image, layers)
    w1, significance, signal = (np.empty_like(image) for _ in range(3))
    coefficients = np.asarray(noise.B3_NOISE_COEFFICIENTS[:layers], dtype=dtype)
    noise_nb.mrs_planes(image, layers, coefficients, w1, significance, signal)
    expected = np.abs(details[0]) / noise.B3_NOISE_COEFFICIENTS[0]
    for j, w in enumerate(details[1:], start=1):
        np.maximum(expected, np.abs(w) / noise.B3_NOISE_COEFFICIENTS[j], out=expected)
    assert np.array_equal(w1, details[0])
    assert np.array_equal(significance, expected)
    assert np.array_equal(signal, image - residual)


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
