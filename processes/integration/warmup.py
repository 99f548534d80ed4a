"""Loading ImageIntegration's compiled kernels ahead of their first use, in a background thread.

The first compiled call in a process pays for numba itself, not for the kernel: importing
numba (≈0.2–0.4 s) and, on the first call, building its typing and target contexts, which
imports numba's whole library of lowerings (``numba.np.arraymath`` checks for BLAS by
importing ``scipy.linalg``) — ≈0.5 s on the 2-core VM, then ≈5 ms per kernel loaded from
numba's on-disk cache.  Without a warm-up that second happens inside the integration's
frame statistics.  :func:`start_warm_up` runs :func:`warm_kernels` in a daemon thread, for
a caller that knows an integration will follow while its own thread mostly waits (the
pre-processing pipeline while its workers debayer and register the lights); this work is
GIL-bound, so a thread only gains where the caller's thread sleeps.

This module imports nothing heavy: numba is imported by the thread.
"""

from __future__ import annotations

import logging
import threading
import time

__all__ = ["start_warm_up", "warm_kernels"]

log = logging.getLogger(__name__)

_lock = threading.Lock()
_thread: threading.Thread | None = None


def warm_kernels() -> float:
    """Call each compiled kernel an integration with frame statistics uses once, on tiny inputs of
    the types the real calls pass (so the same specializations load); the seconds it took."""
    import numpy as np

    from processes.integration import kernel_numba as k
    from processes.integration.compiled import warm_integrate_rows

    start = time.perf_counter()
    for dtype in (np.float32, np.float64):
        values = np.linspace(0.1, 0.9, 64).astype(dtype)
        k.finite_median(values)
        bounds, _ = k.extremes(values)
        k.median_between(values, bounds)
    values = np.linspace(0.1, 0.9, 64).astype(np.float32)
    chosen, bounds, _ = k.masked_values(values, values > 0.2)
    k.abs_dev_median(chosen, 0.5, bounds)
    k.abs_dev(values, 0.5)  # the final statistics' BWMV
    k.bwmv_sums(chosen, 0.5, 0.3)
    k.in_range_values(values, np.float32(0.2), np.float32(0.8))
    warm_integrate_rows()
    return time.perf_counter() - start


def _run() -> None:
    try:
        seconds = warm_kernels()
    except Exception as exc:  # noqa: BLE001 - a warm-up must never fail a run: the first real call loads then
        log.debug("ImageIntegration kernel warm-up failed: %s", exc)
        return
    log.debug("ImageIntegration kernels loaded in %.2f s", seconds)


def start_warm_up() -> threading.Thread:
    """Start :func:`warm_kernels` in a daemon thread, once per process; the thread (the same one
    on later calls).  Kernel calls made meanwhile simply wait for numba's compiler lock."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_run, name="integration-warm-up", daemon=True)
            _thread.start()
        return _thread
