"""The compiled ImageIntegration kernel against the numpy engine it replaces.

:func:`processes.integration.engine.integrate` runs the numba kernel
(:mod:`processes.integration.compiled`) where it implements the plan and the numpy engine
with ``compiled=False``; the numpy engine stays as the reference (and as the path of the
other algorithms).  On random stacks with outliers, zeros and saturated values both must
reject exactly the same values (maps and per-frame counts equal) and combine to within a
few float32 rounding steps.
"""

from __future__ import annotations

import attrs
import numpy as np
import pytest

from processes.integration.compiled import supported
from processes.integration.engine import IntegrationPlan, integrate
from processes.integration.frames import open_frame
from processes.integration.rejection import RejectionSettings
from procfw.image import Image
from procfw.io.fits import write_fits


def _stack(folder, n, h, w, seed, zeros=True, channels=1):
    """Random frames: noise around a smooth sky, hot and cold outliers, a trail, zero borders."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    paths = []
    for i in range(n):
        scale, offset = 1 + 0.05 * rng.standard_normal(), 0.02 * rng.standard_normal()
        frame = (0.2 + 0.05 * xx / w + 0.02 * yy / h) * scale + offset
        frame = frame + 0.01 * rng.standard_normal((channels, h, w))
        hits = rng.random(frame.shape) < 0.02
        frame[hits] += rng.uniform(0.05, 0.6, hits.sum())
        cold = rng.random(frame.shape) < 0.01
        frame[cold] -= rng.uniform(0.05, 0.15, cold.sum())
        if i == 1:
            frame[:, h // 2, :] = 0.9
        if zeros and i % 3 == 2:
            frame[:, :, : 1 + i % 5] = 0  # registration borders
        frame[rng.random(frame.shape) < 0.003] = 0.995  # saturated
        path = folder / f"f{i:03d}.fits"
        write_fits(Image(np.clip(frame, 0, 1).astype(np.float32)), path)
        paths.append(path)
    return [open_frame(p) for p in paths]


def _plan(frames, seed, **kw):
    rng = np.random.default_rng(seed)
    n, c = len(frames), frames[0].channels
    location = 0.2 + 0.02 * rng.standard_normal((c, n))
    scale = 0.01 * (1 + 0.1 * rng.random((c, n)))
    k = scale[:, :1] / scale
    defaults = dict(
        frames=frames, roi=(0, 0, frames[0].width, frames[0].height),
        out_scale=k, out_offset=location[:, :1] - k * location, rej_mode="scale", rej_scale=k,
        rej_offset=location[:, :1] - k * location, weights=0.5 + rng.random((c, n)),
        rejection=RejectionSettings(algorithm="WinsorizedSigmaClip", sigma_low=3.0, sigma_high=2.5),
        budget_bytes=1 << 20, threads=1,
    )
    defaults.update(kw)
    return IntegrationPlan(**defaults)


def _compare(plan):
    assert supported(plan)
    fast = integrate(plan)
    reference = integrate(attrs.evolve(plan, compiled=False))
    for key in ("rejected_low", "rejected_high", "range_low", "range_high"):
        assert np.array_equal(getattr(fast, key), getattr(reference, key)), key
    for key in ("low_map", "high_map"):
        a, b = getattr(fast, key), getattr(reference, key)
        assert (a is None) == (b is None)
        if a is not None:
            assert np.array_equal(a, b), key
    if plan.generate_image:
        assert fast.image.dtype == reference.image.dtype
        # the numpy engine normalizes the values of pixels with rejections in float32, also for
        # 64-bit results (the kernel uses the precision of the result): float32 rounding either way
        assert np.allclose(fast.image, reference.image, rtol=2e-7, atol=2e-7)
    return fast


@pytest.mark.parametrize("n, h, w", [(12, 20, 53), (3, 9, 40), (16, 12, 64), (40, 6, 33), (64, 4, 70), (240, 2, 40)])
@pytest.mark.parametrize("algorithm", ["WinsorizedSigmaClip", "SigmaClip", "NoRejection"])
def test_compiled_equals_numpy_engine(tmp_path, n, h, w, algorithm):
    frames = _stack(tmp_path, n, h, w, seed=n + h)
    plan = _plan(frames, seed=w, rejection=RejectionSettings(algorithm=algorithm, sigma_low=3.0, sigma_high=2.5))
    out = _compare(plan)
    if algorithm != "NoRejection" and n >= 8:
        assert out.rejected_high.sum() > 0 and out.rejected_low.sum() > 0
    assert out.range_low.sum() > 0  # the zero borders


@pytest.mark.parametrize("n", [3, 7, 24, 48, 64])
def test_compiled_equals_numpy_engine_on_tied_values(tmp_path, n):
    """Values on a coarse grid (many equal values in every pixel's stack, some whole stacks
    constant), NaNs, and the frame order of ties (the per-frame bits): the same rejections as
    the numpy engine."""
    rng = np.random.default_rng(n)
    h, w = 6, 75
    raw = np.round((0.3 + 0.02 * rng.standard_normal((n, 1, h, w))) * 64) / 64
    raw[:, :, :, 40:44] = 0.5  # constant stacks
    raw[rng.random(raw.shape) < 0.01] = 0.9
    nan_row = raw[:, :, 0]  # NaNs in one row: the other rows' pixels are integrated in blocks
    nan_row[rng.random(nan_row.shape) < 0.02] = np.nan
    paths = []
    for i, f in enumerate(raw.astype(np.float32)):
        path = tmp_path / f"tie{i:03d}.fits"
        write_fits(Image(f), path)
        paths.append(open_frame(path))
    plan = _plan(paths, seed=n, rej_mode="none", rej_scale=None, rej_offset=None, frame_maps=True)
    out = _compare(plan)
    reference = integrate(attrs.evolve(plan, compiled=False))
    assert np.array_equal(out.frame_maps, reference.frame_maps)


def test_sn_sweep_equals_the_window_scan():
    """The kernel's Sn (the scan of every window, or sweeps over the sorted values, then the
    selection: by counting, a quickselect, or from a guess near it) equals the numpy engine's scan of
    every window bit for bit, on sorted float32 stacks of 2..64, 100, 128, 129, 240 and 301 values with ties."""
    from processes.integration.compiled import sorting_networks
    from processes.integration.kernel_numba import NEAR_RANKS, _sn_sorted
    from processes.integration.rejection import sn_of_sorted

    rng = np.random.default_rng(11)
    kept = np.empty(NEAR_RANKS, np.float32)
    for m in [*range(2, 65), 100, 128, 129, 240, 301]:
        pairs, start = sorting_networks(m)
        himed = np.empty(m, np.float32)
        for case in range(12):
            if case % 3 == 0:
                y = np.round(rng.standard_normal(m) * 4) / 4  # ties
            elif case % 3 == 1:
                y = rng.standard_normal(m) * 10.0 ** rng.integers(-6, 6)
            else:
                y = np.where(rng.random(m) < 0.3, 1.0, rng.exponential(1.0, m))  # a heavy tie and a tail
            y = np.sort(y.astype(np.float32))
            y -= np.float32(np.median(y))
            expected = sn_of_sorted(y[:, None])[0]
            assert _sn_sorted(y.copy(), m, himed, pairs, start, np.float32(-1), kept) == expected, (m, case)
            for guess in (expected, expected * np.float32(0.97), expected * np.float32(1.02), np.float32(0)):
                # from the last pass's Sn: the same value whether the guess is near, equal or far
                assert _sn_sorted(y.copy(), m, himed, pairs, start, guess, kept) == expected, (m, case, guess)
        flat = np.zeros(m, np.float32)
        assert _sn_sorted(flat, m, himed, pairs, start, np.float32(-1), kept) == 0
        assert _sn_sorted(flat, m, himed, pairs, start, np.float32(0), kept) == 0


def _textbook_batcher_pairs(n):
    """Batcher's odd-even merge sort for n inputs, comparator by comparator (the loops of the textbook form)."""
    size = 1
    while size < n:
        size *= 2
    pairs = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p) and i + j + k < n:
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return pairs


def test_sorting_networks_are_batchers_and_sort():
    """The networks built a (p, k) grid at a time are Batcher's, comparator for comparator and in order; the
    table of every size up to n holds network m at [start[m], start[m + 1]); each one sorts."""
    from processes.integration.compiled import sorting_networks
    from processes.integration.sorting import batcher_pairs, network_pairs

    rng = np.random.default_rng(5)
    pairs, start = sorting_networks(70)
    assert start.shape == (72,) and start[0] == start[1] == start[2] == 0
    for m in [*range(0, 71), 127, 128, 129, 300]:
        expected = _textbook_batcher_pairs(m)
        assert network_pairs(m).tolist() == [list(p) for p in expected], m
        assert batcher_pairs(m) == tuple(expected), m
        if m <= 70:
            assert pairs[start[m] : start[m + 1]].tolist() == [list(p) for p in expected], m
        values = rng.standard_normal(m)
        for a, b in expected:
            values[a], values[b] = min(values[a], values[b]), max(values[a], values[b])
        assert np.all(np.diff(values) >= 0), m


def test_indexed_network_sorts_are_stable_sorts():
    """The sorts that carry each value's frame (a pixel alone, and the pixels of a block side by side)
    give numpy's stable argsort: ties (±0 and ∓inf too) in frame order."""
    from processes.integration.compiled import sorting_networks
    from processes.integration.kernel_numba import _sort_columns_indexed

    rng = np.random.default_rng(3)
    for m in (2, 3, 12, 25, 64, 130):
        pairs, start = sorting_networks(m)
        block = np.round(rng.standard_normal((m, 32)) * 2).astype(np.float32) / 2  # many ties
        block[rng.random(block.shape) < 0.1] = -0.0
        block[rng.random(block.shape) < 0.05] = np.inf
        block[rng.random(block.shape) < 0.05] = -np.inf
        expected = np.argsort(block, axis=0, kind="stable")
        values, frames = block.copy(), np.empty((m, 32), np.int32)
        _sort_columns_indexed(values, frames, m, 32, pairs, start)
        assert np.array_equal(frames, expected), m
        assert np.array_equal(values, np.take_along_axis(block, expected, axis=0)), m
        for b in range(32):
            column, order = block[:, b].copy().reshape(m, 1), np.empty((m, 1), np.int32)
            _sort_columns_indexed(column, order, m, 1, pairs, start)
            assert np.array_equal(order[:, 0], expected[:, b]), (m, b)


def test_select_near_is_the_order_statistic_or_declines():
    """Selection from a guess: the k-th smallest exactly (ties, the guess itself one of the values, guesses
    below and above), or a refusal when the guess is more than NEAR_RANKS ranks away or absent."""
    from processes.integration.kernel_numba import NEAR_RANKS, _select_near

    rng = np.random.default_rng(17)
    kept = np.empty(NEAR_RANKS, np.float32)
    for m in (3, 25, 96, 240):
        for case in range(40):
            values = np.round(rng.standard_normal(m) * 8) / 8 if case % 2 else rng.exponential(1.0, m)
            values = values.astype(np.float32)
            k = int(rng.integers(0, m))
            ordered = np.sort(values)
            shift = int(rng.integers(-NEAR_RANKS - 3, NEAR_RANKS + 4))
            guess = ordered[min(max(k + shift, 0), m - 1)] + np.float32(rng.choice([0.0, 1e-3, -1e-3]))
            guess = np.float32(abs(guess))
            value, found = _select_near(values.copy(), m, k, guess, kept)
            less, not_more = int(np.count_nonzero(ordered < guess)), int(np.count_nonzero(ordered <= guess))
            near = less - k <= NEAR_RANKS if k < less else k - not_more + 1 <= NEAR_RANKS
            assert found == near, (m, case)
            if found:
                assert value == ordered[k], (m, case)
    assert not _select_near(np.ones(5, np.float32), 5, 2, np.float32(-1), kept)[1]


def test_radix_sort_is_the_stable_sort_of_the_network():
    """A pixel sorted alone from RADIX_MIN values on (a byte at a time) gives numpy's stable argsort, as the
    sorting network does: ties (±0, ∓inf) in frame order, the values themselves kept (−0 too), with
    bytes every value shares (skipped passes); a NaN leaves the values to the network."""
    import numba

    from processes.integration.kernel_numba import RADIX_MIN, _radix_sort_indexed

    @numba.njit
    def radix(values, frames, n):
        return _radix_sort_indexed(values, frames, n, np.empty(n, np.uint32), np.empty(n, np.uint32),
                                   np.empty(n, np.int32), np.empty(256, np.int64))

    rng = np.random.default_rng(8)
    for m in (RADIX_MIN, RADIX_MIN + 1, 100, 257, 384):
        for case in range(30):
            values = (np.round(rng.standard_normal(m) * 3) / 3).astype(np.float32)
            values[rng.random(m) < 0.1] = -0.0
            values[rng.random(m) < 0.05] = np.inf
            values[rng.random(m) < 0.05] = -np.inf
            if case % 3 == 0:
                values = np.abs(values) + np.float32(0.5)  # one sign and exponent: passes skipped
            expected = np.argsort(values, kind="stable")
            got, frames = values.copy(), np.empty(m, np.int32)
            assert radix(got, frames, m)
            assert np.array_equal(frames, expected), (m, case)
            assert np.array_equal(got.view(np.uint32), values[expected].view(np.uint32)), (m, case)
    with_nan = np.arange(RADIX_MIN, dtype=np.float32)[::-1].copy()
    with_nan[5] = np.nan  # left to the network, untouched
    got = with_nan.copy()
    assert not radix(got, np.empty(RADIX_MIN, np.int32), RADIX_MIN)
    assert np.array_equal(got, with_nan, equal_nan=True)


def test_quickselect_is_the_order_statistic():
    """The O(m) selection of large stacks' Sn returns the k-th smallest value, ties and all."""
    from processes.integration.kernel_numba import _quickselect

    rng = np.random.default_rng(4)
    for m in (1, 2, 3, 25, 97, 400):
        for case in range(6):
            values = rng.standard_normal(m).astype(np.float32)
            if case % 2:
                values = np.round(values * 2) / 2  # ties
            if case == 4:
                values[:] = 1.5
            for k in {0, m // 2, (m + 1) // 2 - 1, m - 1}:
                assert _quickselect(values.copy(), m, k) == np.sort(values)[k], (m, case, k)


@pytest.mark.parametrize(
    "changes",
    [
        dict(rej_mode="none", rej_scale=None, rej_offset=None),
        dict(rej_mode="flux"),
        dict(range_low=None),
        dict(range_high=0.98),
        dict(map_range=False),
        dict(generate_maps=False),
        dict(generate_image=False),
        dict(float64=True),
        dict(rejection=RejectionSettings(algorithm="WinsorizedSigmaClip", clip_low=False, sigma_high=2.0)),
        dict(rejection=RejectionSettings(algorithm="WinsorizedSigmaClip", clip_high=False, sigma_low=2.0,
                                         winsorization_cutoff=3.0)),
        dict(pedestals=np.full(12, 0.01)),
    ],
)
def test_compiled_equals_numpy_engine_options(tmp_path, changes):
    frames = _stack(tmp_path, 12, 14, 45, seed=3)
    plan = _plan(frames, seed=4, **changes)
    if plan.rej_mode == "flux":
        plan = attrs.evolve(plan, rej_offset=np.zeros_like(plan.rej_scale))
    _compare(plan)


def test_compiled_rgb_roi_and_non_finite(tmp_path):
    frames = _stack(tmp_path, 8, 16, 40, seed=9, channels=3)
    plan = _plan(frames, seed=2, roi=(3, 2, 37, 15))
    _compare(plan)
    # NaN and inf count as range-rejected low without a low range limit
    raw = np.full((8, 1, 4, 20), 0.3, dtype=np.float32) + np.random.default_rng(1).normal(0, 0.01, (8, 1, 4, 20))
    raw[2, 0, 1, 3] = np.nan
    raw[5, 0, 2, 7] = np.inf
    paths = []
    for i, f in enumerate(raw):
        path = tmp_path / f"nan{i}.fits"
        write_fits(Image(f.astype(np.float32)), path)
        paths.append(open_frame(path))
    out = _compare(_plan(paths, seed=1, range_low=None, rej_mode="none", rej_scale=None, rej_offset=None))
    assert out.range_low.sum() == 2


@pytest.mark.parametrize("algorithm", ["WinsorizedSigmaClip", "SigmaClip"])
def test_compiled_per_frame_rejection_bits_match_its_rejections_and_the_numpy_engine(tmp_path, algorithm):
    """The drizzle data's per-frame rejection maps (PCL's bits: 1 high, 2 low, 8 range low)
    come from the compiled kernel: on any number of threads and bands they add up to its
    per-frame counts and its rejection maps, and they equal the numpy engine's bits wherever
    the two engines reject the same values (here all but a few borderline pixels, where
    float rounding at the clipping limit differs between the engines)."""
    frames = _stack(tmp_path, 12, 18, 50, seed=7, channels=3)
    plan = _plan(frames, seed=8, frame_maps=True, threads=2, budget_bytes=30000,
                 rejection=RejectionSettings(algorithm=algorithm, sigma_low=3.0, sigma_high=2.5))
    fast = integrate(plan)
    assert fast.frame_maps is not None and fast.frame_maps.shape == (12, 3, 18, 50)
    assert set(np.unique(fast.frame_maps)) == {0, 1, 2, 8}
    for bit, key in ((2, "rejected_low"), (1, "rejected_high"), (8, "range_low")):
        assert np.array_equal((fast.frame_maps == bit).sum(axis=(2, 3)).T, getattr(fast, key)), key
    ranged = (fast.frame_maps == 8).sum(axis=0)
    assert np.array_equal((fast.frame_maps == 1).sum(axis=0), np.rint(fast.high_map * 12) - 0)
    assert np.array_equal((fast.frame_maps == 2).sum(axis=0) + ranged, np.rint(fast.low_map * 12))
    one = integrate(attrs.evolve(plan, threads=1, budget_bytes=1 << 30))
    assert np.array_equal(one.frame_maps, fast.frame_maps)
    reference = integrate(attrs.evolve(plan, compiled=False))
    same = (fast.low_map == reference.low_map) & (fast.high_map == reference.high_map)
    assert same.mean() > 0.99
    assert np.array_equal(fast.frame_maps[:, same], reference.frame_maps[:, same])


def test_bands_and_threads_do_not_change_compiled_results(tmp_path):
    frames = _stack(tmp_path, 12, 40, 70, seed=5)
    plan = _plan(frames, seed=6)
    one = integrate(attrs.evolve(plan, budget_bytes=1 << 30, threads=1))
    reports: list[tuple[float, str]] = []
    many = integrate(attrs.evolve(plan, budget_bytes=20000, threads=3), lambda f, text: reports.append((f, text)))
    assert one.bands == 1 and many.bands > 5
    # a band's pieces start while the previous band's last ones run; each band is reported once, in order
    assert [f for f, _ in reports] == [k / many.bands for k in range(1, many.bands + 1)]
    assert reports[0][1].startswith("channel 0, rows 0..") and reports[-1][1].endswith("..39 of 40")
    for key in ("image", "low_map", "high_map", "rejected_low", "rejected_high", "range_low", "range_high"):
        assert np.array_equal(getattr(one, key), getattr(many, key)), key



@pytest.mark.parametrize("threads", [1, 3])
def test_a_band_buffer_is_read_again_only_once_its_band_is_integrated(tmp_path, monkeypatch, threads):
    """The next band's pieces queue behind the current band's: the first band's pieces are held back here,
    so a reader that refilled their buffer before they ran would change the result; it does not."""
    import threading

    from processes.integration import kernel_numba

    frames = _stack(tmp_path, 12, 40, 70, seed=5)
    plan = _plan(frames, seed=6)
    one = integrate(attrs.evolve(plan, budget_bytes=1 << 30, threads=1))
    kernel = kernel_numba.integrate_rows
    released = threading.Event()

    def held_back(*args):
        released.wait(0.3)  # the pieces that start first wait; the reads and the queueing go on meanwhile
        return kernel(*args)

    monkeypatch.setattr(kernel_numba, "integrate_rows", held_back)
    timer = threading.Timer(0.3, released.set)
    timer.start()
    many = integrate(attrs.evolve(plan, budget_bytes=20000, threads=threads))
    timer.cancel()
    assert many.bands > 5
    for key in ("image", "low_map", "high_map", "rejected_low", "rejected_high"):
        assert np.array_equal(getattr(one, key), getattr(many, key)), key


def _kernel_run(band, rej_scale, rej_offset, weights):
    """integrate_rows on the whole ``band`` (N, rows, width) as ImageIntegration runs it for the corpus
    (WinsorizedSigmaClip 4/3, Scale rejection normalization, range rejection of zeros, maps)."""
    from processes.integration.compiled import sorting_networks
    from processes.integration.kernel_numba import integrate_rows

    n, rows, width = band.shape
    image, low, high = (np.zeros((rows, width), dtype=np.float32) for _ in range(3))
    counts = np.zeros((4, n), dtype=np.int64)
    pairs, start = sorting_networks(n)
    integrate_rows(band, 0, rows, 1, rej_scale, rej_offset, True, np.float32(0.0), False, np.float32(0.0), 2, True,
                   True, 4.0, 3.0, 5.0, rej_scale, rej_offset, weights, image, True, low, high, True, True, counts,
                   pairs, start, np.zeros((1, 1, 1), dtype=np.uint8), False)
    return image, low, high, counts


@pytest.mark.parametrize("n", [5, 12, 24, 40, 100, 137, 240])
def test_block_path_equals_the_pixel_path_bit_for_bit(n):
    """Winsorized clipping of 32 pixels side by side (their rounds in lock step while more than
    LOCK_STEP_MIN_LANES iterate, the last ones one by one) gives what each pixel alone gives: the
    same stacks, once as rows of 256 pixels (blocks) and once as rows of one pixel (too narrow for
    a block), bit for bit; the stacks have outliers, so pixels take very different numbers of rounds."""
    rng = np.random.default_rng(n)
    values = 0.2 + 0.01 * rng.standard_normal((n, 4 * 256)) * rng.uniform(0.2, 3.0, 4 * 256)
    hits = rng.random(values.shape) < 0.04
    values[hits] += rng.uniform(0.01, 0.5, hits.sum())
    values = values.astype(np.float32)
    k = (1 + 0.05 * rng.standard_normal(n)).astype(np.float32)
    k[0] = 1
    offset = (0.01 * rng.standard_normal(n)).astype(np.float32)
    offset[0] = 0
    weights = rng.uniform(0.5, 1.5, n).astype(np.float32)
    blocks = _kernel_run(values.reshape(n, 4, 256).copy(), k, offset, weights)
    pixels = _kernel_run(values.reshape(n, 4 * 256, 1).copy(), k, offset, weights)
    for a, b in zip(blocks[:3], pixels[:3]):
        assert np.array_equal(a.reshape(-1), b.reshape(-1))
    assert np.array_equal(blocks[3], pixels[3])
    assert blocks[3][:2].sum() > 0  # rejections happened

def test_fast_median_is_numpys_median_bit_for_bit():
    from processes.integration.estimators import fast_median

    rng = np.random.default_rng(0)
    cases = [
        rng.standard_normal(1 << 17).astype(np.float32),
        rng.standard_normal((1 << 17) + 1),
        rng.integers(0, 50, 1 << 17).astype(np.float32),  # heavy ties
        np.full(1 << 17, 0.3, np.float32),
        (rng.integers(0, 65535, 1 << 17) / 65535).astype(np.float32),
        np.concatenate([np.zeros(70000, np.float32), rng.random(70001).astype(np.float32)]),
        np.array([1e308, -1e308] * 40000),
        np.array([np.nan] + [1.0] * 70000),
        np.array([np.inf] + [0.5] * 70000, np.float32),
        rng.random(100).astype(np.float32),
    ]
    for values in cases:
        want = float(np.median(values))
        got = fast_median(values)
        assert got == want or (np.isnan(got) and np.isnan(want)), (values.dtype, values.size)


def _stats_cases():
    rng = np.random.default_rng(5)
    n = 1 << 17
    return [
        ("normal f32 even", rng.normal(0.1, 0.01, n).astype(np.float32), None),
        ("normal f64 odd", rng.normal(0.1, 0.01, n + 1), None),
        ("ties f32", (rng.integers(0, 40, n + 3) / 65535).astype(np.float32), None),
        ("constant", np.full(n, 0.25, np.float32), None),
        ("masked", rng.random(3 * n).astype(np.float32), rng.random(3 * n) < 0.6),
        ("masked odd f64", rng.random(3 * n + 1), rng.random(3 * n + 1) < 0.7),
        ("mask keeps few", rng.random(n).astype(np.float32), rng.random(n) < 0.01),
        ("mask keeps none", rng.random(n).astype(np.float32), np.zeros(n, bool)),
        ("masked NaN", np.where(np.arange(n) == 7, np.nan, rng.random(n)).astype(np.float32), np.ones(n, bool)),
        ("huge range f64", np.array([-1e308] * 70000 + [1e308] * 70001), None),
    ]


@pytest.mark.parametrize("case", range(10))
def test_location_and_scale_equal_the_numpy_selection_and_estimators(case):
    """The fused compiled passes give fast_median / scale_estimate of values[mask] bit for bit, the
    median is numpy's, the MAD numpy's median of the float64 deviations, the scale the BWMV formula."""
    from processes.integration.estimators import fast_median, location_and_scale, scale_estimate

    name, values, mask = _stats_cases()[case]
    location, scale, inside = location_and_scale(values, "WeightScale_BWMV", mask=mask)
    want = values if mask is None else values[mask]
    assert np.array_equal(inside, want, equal_nan=True), name
    if want.size == 0:
        assert (location, scale) == (0.0, 0.0)
        return
    old_location = fast_median(want)
    assert location == old_location or (np.isnan(location) and np.isnan(old_location)), name
    old_scale = scale_estimate(want, "WeightScale_BWMV", center=old_location)
    assert scale == old_scale or (np.isnan(scale) and np.isnan(old_scale)), name
    if not np.isfinite(want).all():
        return
    assert location == float(np.median(want)), name
    with np.errstate(over="ignore"):
        d = want.astype(np.float64) - location
    spread = float(np.median(np.abs(d)))
    if spread == 0 or not np.isfinite(spread):
        assert scale == 0.0 or not np.isfinite(spread), name
        return
    u = d / (9 * spread)
    inner = np.abs(u) < 1
    num = want.size * np.sum(d[inner] ** 2 * (1 - u[inner] ** 2) ** 4)
    den = np.sum((1 - u[inner] ** 2) * (1 - 5 * u[inner] ** 2)) ** 2
    assert scale == pytest.approx(np.sqrt(num / den), rel=1e-9), name


def test_selection_kernels_equal_numpy():
    """masked_values / extremes / median_between / abs_dev_median against numpy on each case."""
    from processes.integration.kernel_numba import abs_dev_median, extremes, masked_values, median_between

    for name, values, mask in _stats_cases():
        mask = np.ones(values.size, bool) if mask is None else mask
        got, bounds, finite = masked_values(values, mask)
        want = values[mask]
        assert got.dtype == values.dtype and bounds.dtype == values.dtype
        assert np.array_equal(got, want, equal_nan=True), name
        assert finite == bool(np.isfinite(want).all()), name
        if want.size == 0 or not finite:
            continue
        assert (bounds[0], bounds[1]) == (want.min(), want.max()), name
        assert np.array_equal(extremes(want)[0], bounds), name
        median = median_between(want, bounds)
        assert type(median) is float and median == float(np.median(want)), name
        center = float(median) + 1e-4
        mad = abs_dev_median(want, center, bounds)
        with np.errstate(over="ignore"):
            assert mad == np.median(np.abs(want.astype(np.float64) - center)), name


def _window_cases():
    """(name, values, step, found): large samples the one-pass selection must find its ranks in, and
    samples where it must give up (ties or an estimate its subsample misleads, NaN, infinity, a zero
    median, a constant, too few values)."""
    rng = np.random.default_rng(11)
    n = 1 << 18
    field = rng.normal(0.0, 1e-3, (512, 515))
    field[rng.integers(0, 512, 300), rng.integers(0, 515, 300)] += rng.uniform(0.01, 0.9, 300)  # stars
    aligned = np.where(np.arange(1 << 20) % 4 == 0, 0.0, 1.0) + rng.normal(0, 0.01, 1 << 20)
    return [
        ("normal f64 even", rng.normal(0.1, 0.01, n), 1, True),
        ("normal f64 odd", rng.normal(-0.2, 0.3, n + 1), 1, True),
        ("normal f32 strided", rng.normal(0.1, 0.01, 3 * n + 2).astype(np.float32), 3, True),
        ("stars f64", field.ravel(), 1, True),
        ("stars f32", field.astype(np.float32), 2, True),
        ("skewed", rng.exponential(1.0, n + 7), 1, True),
        ("heavy tails", rng.standard_cauchy(n), 1, True),
        ("quantised", (np.round(rng.normal(0.3, 0.02, n) * 4096) / 4096).astype(np.float32), 1, True),
        ("few levels", (rng.integers(0, 40, n + 3) / 65535).astype(np.float32), 1, False),
        ("stride-aligned", aligned, 1, False),
        ("NaN", np.where(np.arange(n) == 5, np.nan, rng.random(n)), 1, False),
        ("infinity", np.where(np.arange(n) == 9, np.inf, rng.random(n)).astype(np.float32), 1, False),
        ("zero median", np.concatenate([-rng.random(n), [0.0], rng.random(n)]), 1, False),
        ("constant", np.full(n, 0.25), 1, False),
        ("too few", rng.random(60_000), 1, False),
    ]


@pytest.mark.parametrize("case", range(15))
def test_windowed_median_mad_equals_the_histogram_selections(case):
    """The one-pass selection gives fast_median's median of values[::step] and the median of the
    deviations numpy forms from it (np.abs(sample − median), in the sample's type), bit for bit, or
    None; fast_median_mad (which takes it first) stays numpy's median and MAD."""
    from processes.integration.estimators import fast_median, fast_median_mad, windowed_median_mad

    name, values, step, found = _window_cases()[case]
    sample = values.ravel()[::step]
    result = windowed_median_mad(values, step)
    assert (result is not None) == found, name
    median_only = windowed_median_mad(values, step, mad=False)
    if result is not None:
        median = fast_median(sample)
        assert result[0] == median == float(np.median(sample)), name
        want = fast_median(np.abs(sample - median))
        assert result[1] == want == float(np.median(np.abs(sample - median))), name
        assert median_only == (median, 0.0), name
    if sample.dtype == np.float64 and np.isfinite(sample).all():
        median = float(np.median(sample))
        assert fast_median_mad(sample) == (median, float(np.median(np.abs(sample - median)))), name


@pytest.mark.parametrize("case", range(15))
def test_windowed_median_mad_with_float64_deviations_equals_the_frame_statistics_selections(case):
    """With float64 deviations the one-pass selection gives the frame statistics' median and MAD
    (_median_mad_between: median_between, then abs_dev_median's |x − m| in float64) bit for bit, or None;
    for float32 samples those deviations are not numpy's float32 ones."""
    from processes.integration.estimators import _median_mad_between, windowed_median_mad

    name, values, step, found = _window_cases()[case]
    sample = np.ascontiguousarray(values.ravel()[::step])
    result = windowed_median_mad(values, step, float64_deviations=True)
    assert (result is not None) == found, name
    if result is not None:
        bounds = np.array([sample.min(), sample.max()])
        assert result == _median_mad_between(sample, bounds), name
        assert result[1] == float(np.median(np.abs(sample.astype(np.float64) - result[0]))), name


def test_median_mad_windows_reports_a_miss_instead_of_a_wrong_value():
    """Where the subsample misleads the windows (every 4th value of another population, the subsample's
    stride), the kernel says so (found False): its answer is never an approximation."""
    from processes.integration.kernel_numba import median_mad_windows

    values = _window_cases()[9][1]
    for like in (np.empty(0, values.dtype), np.empty(0, np.float32)):
        assert median_mad_windows(values, 1, True, like)[2] is False
        assert median_mad_windows(values, 1, False, like)[2] is False
