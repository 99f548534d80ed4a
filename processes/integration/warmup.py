"""Loading ImageIntegration's compiled kernels ahead of their first use.

The first compiled call in a process pays for numba itself, not for the kernel: importing
numba (≈0.15 s of CPU time) and, on the first call, building its typing and target contexts,
which imports numba's whole library of lowerings (``numba.np.arraymath`` checks for BLAS by
importing ``scipy.linalg``; a preload loads cached kernels without either:
:func:`processes.common.preload.start_numba`): ≈0.25 s, then ≈3–5 ms per kernel loaded from numba's on-disk
cache.  Without a warm-up the kernels load inside the integration's frame statistics.
:func:`warm_kernels` loads them: the pre-processing pipeline's pool workers call it in their
fork server's preload (:mod:`processes.workflows.preprocess.worker`), where numba is already
started for the per-frame kernels, so that the worker that integrates a master light loads nothing.

This module imports nothing heavy: numba is imported by :func:`warm_kernels`.
"""

from __future__ import annotations

import time

__all__ = ["warm_kernels"]


def warm_kernels() -> float:
    """Call the compiled kernels an integration of float32 frames with frame statistics (BWMV
    scale, common footprint) uses, once each, on small inputs of the types the real calls pass
    (so that the same specializations load), in the order the integration needs them: the
    frame statistics' (:func:`~processes.integration.estimators.location_and_scale`), the
    integration's (:func:`~processes.integration.compiled.warm_integrate_rows`), then the
    result's statistics' (:func:`~processes.integration.estimators.fast_median` of float32
    and float64 values, :func:`~processes.integration.estimators.bwmv`, and the MRS noise of a
    float32 plane for ``evaluateSNR``, which is also the frames' noise when they carry no
    ``NOISEnn`` keywords); the seconds it took."""
    import numpy as np

    from processes.integration import kernel_numba as k
    from processes.integration.compiled import warm_integrate_rows
    from processes.integration.statistics import NOISE_RANGE
    from processes.kernels.noise import estimate_noise

    start = time.perf_counter()
    values = np.linspace(0.1, 0.9, 64).astype(np.float32)
    chosen, bounds, _ = k.masked_values(values, values > 0.2)
    center = float(k.median_between(chosen, bounds))
    k.abs_dev_median(chosen, center, bounds)
    sample = np.linspace(0.1, 0.9, 1 << 16).astype(np.float32)  # the size the one-pass selection starts at
    k.median_mad_windows(sample, 1, True, np.empty(0, np.float64))
    k.bwmv_sums(chosen, center, 0.3)
    warm_integrate_rows()
    k.finite_median(values)
    k.finite_median(k.abs_dev(values, center))
    noisy = np.random.default_rng(0).normal(0.5, 0.01, (256, 256)).astype(np.float32)  # the compiled path's size
    estimate_noise(noisy, "MRS", NOISE_RANGE)  # with a range, as frames without NOISEnn keywords: one kernel more
    return time.perf_counter() - start
