"""The compiled path of the integration engine: whole bands through one numba kernel.

For the common configurations (``Average`` combination; ``NoRejection``, ``SigmaClip`` or
``WinsorizedSigmaClip``; any rejection normalization, range rejection, weights, maps,
ROI, pedestals) :func:`integrate_compiled` replaces the array-pass engine of
:mod:`processes.integration.engine`: every pixel's stack is sorted, clipped and combined
in :func:`processes.integration.kernel_numba.integrate_rows` without any full-band
temporaries.

Bands of rows are read into one of two stack buffers ``(N, rows, width)`` (the next band
is read by a reader thread while the current one is integrated), and the rows of a band
are shared among ``plan.threads`` threads (the kernel releases the GIL; a band's pieces are
queued behind the previous band's last ones, so that no thread waits for the band's end), so
the work needs no worker processes and no copies of the results.  The results do not depend on
the band size or the number of threads.  numba is imported only here, on first use.
"""

from __future__ import annotations

import functools
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

__all__ = ["ALGORITHM_CODES", "BUFFER_CAP_BYTES", "integrate_compiled", "sorting_networks", "supported",
           "warm_integrate_rows"]

log = logging.getLogger(__name__)

ALGORITHM_CODES = {"NoRejection": 0, "SigmaClip": 1, "WinsorizedSigmaClip": 2}
"""Rejection algorithms the compiled kernel implements (the others use the numpy engine)."""
_MODE_CODES = {"none": 0, "scale": 1, "flux": 2}

BUFFER_CAP_BYTES = 16 << 20
"""Largest band stack buffer (two are used: one being read, one being integrated)."""


def supported(plan) -> bool:
    """Whether :func:`integrate_compiled` implements ``plan`` (else the numpy engine runs)."""
    return (
        plan.combination == "Average"
        and plan.rejection.algorithm in ALGORITHM_CODES
        and plan.rej_mode in _MODE_CODES
    )


@functools.lru_cache(maxsize=4)
def sorting_networks(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(pairs, start): Batcher's networks for 0..n inputs, network m = pairs[start[m]:start[m + 1]].

    The arrays are kept for the next integration of as many frames (callers must not change them; they
    stay writable: the compiled kernels take writable arrays, and a read-only one would be another
    specialization to compile)."""
    from processes.integration.sorting import network_pairs

    networks = [network_pairs(m) for m in range(n + 1)]  # none below 2 inputs
    start = np.zeros(n + 2, dtype=np.int64)
    start[1:] = np.cumsum([len(pairs) for pairs in networks])
    return np.concatenate(networks), start


def _band_rows(frames: int, width: int, height: int, budget: int, cap: int = BUFFER_CAP_BYTES) -> int:
    """Rows per band: two stack buffers within the budget and ``cap``, at least one row."""
    row_bytes = max(1, frames * width * 4)
    rows = min(budget // 2, cap) // row_bytes
    return int(max(1, min(height, rows)))


def integrate_compiled(plan, progress: Callable[[float, str], None] | None = None):
    """Integrate ``plan`` (an :class:`~processes.integration.engine.IntegrationPlan`) band by band."""
    from processes.integration.engine import EngineResult, output_arrays
    from processes.integration.kernel_numba import integrate_rows

    frames = list(plan.frames)
    n = len(frames)
    shape = channels, height, width = plan.output_shape
    x0, y0, x1, _ = plan.roi
    out_dtype = np.float64 if plan.float64 else np.float32
    image, low_map, high_map, _ = output_arrays(plan, shape, np.empty, slope=False)
    # per-frame rejection bits for the drizzle data (zero where nothing is rejected)
    frame_maps = np.zeros((len(frames), channels, height, width), dtype=np.uint8) if plan.frame_maps else None
    dummy_bits = np.zeros((1, 1, 1), dtype=np.uint8)
    dummy32 = np.zeros((1, 1), dtype=np.float32)
    dummy_image = np.zeros((1, 1), dtype=out_dtype)
    threads = max(1, int(plan.threads))
    # frames without row access (non-FITS) are read whole for every band: then the bands are as
    # large as the budget allows
    cap = BUFFER_CAP_BYTES if all(f.hdu_index is not None for f in frames) else plan.budget_bytes
    band_rows = _band_rows(n, width, height, plan.budget_bytes, cap)
    bands = [(r, min(r + band_rows, height)) for r in range(0, height, band_rows)]
    tasks = [(c, r0, r1) for c in range(channels) for r0, r1 in bands]
    log.info("ImageIntegration (compiled): %d frames, %dx%dx%d, %d band(s) of %d rows, %d thread(s)",
             n, channels, height, width, len(bands), band_rows, threads)

    settings = plan.rejection
    algorithm = ALGORITHM_CODES[settings.algorithm]
    rej_mode = _MODE_CODES[plan.rej_mode] if plan.rej_scale is not None and plan.rej_offset is not None else 0
    ones, zeros = np.ones(n, dtype=np.float32), np.zeros(n, dtype=np.float32)
    full_width = frames[0].width
    buffers = [np.empty((n, band_rows, width), dtype=np.float32) for _ in range(2 if len(tasks) > 1 else 1)]
    scratch = [np.empty((band_rows, full_width), dtype=np.float32) for _ in buffers] if width != full_width else None
    pedestals = None if plan.pedestals is None else plan.pedestals.astype(np.float32)
    counts = np.zeros((4, channels, n), dtype=np.int64)

    def read(slot: int, c: int, r0: int, r1: int) -> np.ndarray:
        # always a C-contiguous (N, rows, width) view: one compiled specialization of the kernel
        band = buffers[slot].reshape(-1)[: n * (r1 - r0) * width].reshape(n, r1 - r0, width)
        for i, frame in enumerate(frames):
            if scratch is None:
                frame.read_rows(c, y0 + r0, y0 + r1, band[i])
            else:
                part = scratch[slot][: r1 - r0]
                frame.read_rows(c, y0 + r0, y0 + r1, part)
                band[i] = part[:, x0:x1]
            if pedestals is not None and pedestals[i]:
                band[i] -= pedestals[i]
        return band

    def channel_arrays(c: int):
        if rej_mode:
            rej_scale = plan.rej_scale[c].astype(np.float32)
            rej_offset = plan.rej_offset[c].astype(np.float32)
        else:
            rej_scale, rej_offset = ones, zeros
        # the output normalization in the precision of the result (float64 for 64-bit results)
        return (rej_scale, rej_offset, plan.out_scale[c].astype(out_dtype), plan.out_offset[c].astype(out_dtype),
                plan.weights[c].astype(np.float32))

    per_channel = [channel_arrays(c) for c in range(channels)]
    net_pairs, net_start = sorting_networks(n)
    range_low = np.float32(plan.range_low if plan.range_low is not None else 0.0)
    range_high = np.float32(plan.range_high if plan.range_high is not None else 0.0)

    def compute(band: np.ndarray, c: int, r0: int, r1: int, a: int, b: int) -> np.ndarray:
        rej_scale, rej_offset, out_scale, out_offset, weights = per_channel[c]
        part_counts = np.zeros((4, n), dtype=np.int64)
        integrate_rows(
            band, a, b, rej_mode, rej_scale, rej_offset, plan.range_low is not None, range_low,
            plan.range_high is not None, range_high, algorithm, bool(settings.clip_low), bool(settings.clip_high),
            float(settings.sigma_low), float(settings.sigma_high), float(settings.winsorization_cutoff),
            out_scale, out_offset, weights,
            image[c, r0:r1] if image is not None else dummy_image, image is not None,
            low_map[c, r0:r1] if low_map is not None else dummy32,
            high_map[c, r0:r1] if high_map is not None else dummy32,
            low_map is not None, bool(plan.map_range), part_counts, net_pairs, net_start,
            frame_maps[:, c, r0:r1] if frame_maps is not None else dummy_bits, frame_maps is not None,
        )
        return part_counts

    in_flight: deque[list[tuple[int, Future]]] = deque()  # the bands being integrated, oldest first: their pieces

    finished = 0  # bands integrated (they finish in order)

    def finish_oldest() -> None:
        """Wait for the pieces of the oldest band in flight (its buffer is then free) and count them."""
        nonlocal finished
        for c, future in in_flight.popleft():
            counts[:, c] += future.result()
        c, r0, r1 = tasks[finished]
        finished += 1
        if progress is not None:
            progress(finished / len(tasks), f"channel {c}, rows {y0 + r0}..{y0 + r1 - 1} of {frames[0].height}")

    with ThreadPoolExecutor(threads, thread_name_prefix="integration") as pool, \
            ThreadPoolExecutor(1, thread_name_prefix="integration-read") as reader:
        pending = reader.submit(read, 0, *tasks[0])
        for done, (c, r0, r1) in enumerate(tasks, start=1):
            band = pending.result()
            rows = r1 - r0
            pieces = min(rows, 4 * threads) if threads > 1 else 1
            edges = np.linspace(0, rows, pieces + 1).astype(int)
            # queued behind the previous band's last pieces: no thread idles at the end of a band
            in_flight.append([(c, pool.submit(compute, band, c, r0, r1, int(a), int(b)))
                              for a, b in zip(edges[:-1], edges[1:]) if b > a])
            if done < len(tasks):
                if len(in_flight) == len(buffers):
                    finish_oldest()  # its buffer takes the next band
                pending = reader.submit(read, done % len(buffers), *tasks[done])
        while in_flight:
            finish_oldest()
    return EngineResult(
        image=image, low_map=low_map, high_map=high_map, slope_map=None,
        rejected_low=counts[0], rejected_high=counts[1], range_low=counts[2], range_high=counts[3],
        bands=len(bands), band_rows=band_rows, workers=threads, worker_rss_mb=0.0, frame_maps=frame_maps,
    )


def warm_integrate_rows(n: int = 3) -> None:
    """Call :func:`~processes.integration.kernel_numba.integrate_rows` once on a tiny band, with
    the argument types :func:`integrate_compiled` passes (float32 result, no per-frame bits), so
    that a later integration finds that specialization loaded."""
    from processes.integration.kernel_numba import integrate_rows

    band = np.linspace(0.1, 0.9, n * 8, dtype=np.float32).reshape(n, 1, 8)
    ones, zeros = np.ones(n, dtype=np.float32), np.zeros(n, dtype=np.float32)
    image, low, high = (np.zeros((1, 8), dtype=np.float32) for _ in range(3))
    net_pairs, net_start = sorting_networks(n)
    integrate_rows(
        band, 0, 1, _MODE_CODES["scale"], ones, zeros, True, np.float32(0.0), False, np.float32(0.0),
        ALGORITHM_CODES["WinsorizedSigmaClip"], True, True, 3.0, 3.0, 1.5, ones, zeros, ones,
        image, True, low, high, True, False, np.zeros((4, n), dtype=np.int64), net_pairs, net_start,
        np.zeros((1, 1, 1), dtype=np.uint8), False,
    )
