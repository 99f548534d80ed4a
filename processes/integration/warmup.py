"""Loading ImageIntegration's compiled kernels ahead of their first use, in a background thread.

The first compiled call in a process pays for numba itself, not for the kernel: importing
numba (≈0.15 s of CPU time) and, on the first call, building its typing and target contexts,
which imports numba's whole library of lowerings (``numba.np.arraymath`` checks for BLAS by
importing ``scipy.linalg``): ≈0.25 s, then ≈3–5 ms per kernel loaded from numba's on-disk
cache.  Without a warm-up that happens inside the integration's frame statistics.
:func:`start_warm_up` runs :func:`warm_kernels` in a daemon thread, for a caller that knows an
integration will follow while its own thread mostly waits: the pre-processing pipeline once
the last frames of its last per-frame step are running and a worker has nothing more to do
(:class:`processes.workflows.preprocess.pipeline._WarmUpAtTail`; earlier, numba in the console
process while every worker runs would raise the run's memory peak by ~40 MB).  This work is
GIL-bound, so a thread only gains where the caller's thread sleeps.

This module imports nothing heavy: numba is imported by the thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["start_warm_up", "warm_kernels"]

log = logging.getLogger(__name__)

_lock = threading.Lock()
_thread: threading.Thread | None = None


def warm_kernels() -> float:
    """Call the compiled kernels an integration of float32 frames with frame statistics (BWMV
    scale, common footprint) uses, once each, on tiny inputs of the types the real calls pass
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
    k.bwmv_sums(chosen, center, 0.3)
    warm_integrate_rows()
    k.finite_median(values)
    k.finite_median(k.abs_dev(values, center))
    noisy = np.random.default_rng(0).normal(0.5, 0.01, (256, 256)).astype(np.float32)  # the compiled path's size
    estimate_noise(noisy, "MRS", NOISE_RANGE)  # with a range, as frames without NOISEnn keywords: one kernel more
    return time.perf_counter() - start


def _run(then: Callable[[], object] | None) -> None:
    try:
        seconds = warm_kernels()
    except Exception as exc:  # noqa: BLE001 - a warm-up must never fail a run: the first real call loads then
        log.debug("ImageIntegration kernel warm-up failed: %s", exc)
    else:
        log.debug("ImageIntegration kernels loaded in %.2f s", seconds)
    if then is not None:
        try:
            then()
        except Exception as exc:  # noqa: BLE001
            log.debug("warm-up after ImageIntegration's kernels failed: %s", exc)


def start_warm_up(then: Callable[[], object] | None = None) -> threading.Thread:
    """Start :func:`warm_kernels` in a daemon thread, once per process, followed by ``then`` (what
    the caller will run after the integration, e.g. its own kernels' warm-up); the thread (the same
    one on later calls, whose ``then`` is then not run).  Kernel calls made meanwhile simply wait
    for numba's compiler lock."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_run, args=(then,), name="integration-warm-up", daemon=True)
            _thread.start()
        return _thread
