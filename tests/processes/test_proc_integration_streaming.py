"""ImageIntegration streaming: peak memory follows the budget, not the number of frames;
bands, threads (compiled kernel) and worker processes (numpy engine) do not change results."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from test_proc_integration import integrate, sky, sky_frames, write_stack

pytestmark = pytest.mark.slow


def test_memory_budget_bounds_peak(tmp_path):
    n, h, w = 24, 256, 512
    rng = np.random.default_rng(2)
    frames = [(0.2 + 0.01 * rng.standard_normal((h, w))).astype(np.float32) for _ in range(n)]
    frames[5][100:103, :] = 0.9
    paths = write_stack(tmp_path, frames)
    total = n * h * w * 4  # 12.6 MB of frames
    budget_mb = 4
    params = dict(rejection="WinsorizedSigmaClip", stackSizeMB=3, bufferSizeMB=1, useBufferThreads=False)
    # the unbudgeted run first: it also imports numba and loads the compiled kernel, which the
    # traced run must not count
    big = integrate(paths, rejection="WinsorizedSigmaClip", stackSizeMB=256, useBufferThreads=False)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = integrate(paths, **params)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    outputs = 3 * h * w * 4  # the integrated image and the two maps
    assert out.outputs["bands"] > 4
    assert peak < budget_mb * 2**20 + outputs + 2**20, peak  # budget + results + 1 MiB of small objects
    assert peak < total / 2
    assert big.outputs["bands"] == 1
    for key in ("integration", "rejection_low", "rejection_high"):
        assert np.array_equal(out.new_images[key].pixels, big.new_images[key].pixels), key


def test_worker_processes_do_not_change_results(tmp_path):
    truth = sky(h=64, w=300)
    paths = write_stack(tmp_path, sky_frames(truth, n=10))
    for rejection in ("WinsorizedSigmaClip", "LinearFit"):
        one = integrate(paths, rejection=rejection, maxBufferThreads=1, stackSizeMB=1)
        two = integrate(paths, rejection=rejection, maxBufferThreads=2, stackSizeMB=1)
        assert one.outputs["workers"] == 1 and two.outputs["workers"] == 2
        if rejection == "LinearFit":  # the numpy engine's worker processes (the compiled kernel uses threads)
            assert two.outputs["workerPeakMemoryMB"] > 0
        for key in one.new_images:
            assert np.array_equal(one.new_images[key].pixels, two.new_images[key].pixels), (rejection, key)
        assert one.outputs["imageData"] == two.outputs["imageData"]
