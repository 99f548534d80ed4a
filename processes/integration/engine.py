"""The band-streaming integration engine (numpy), and the entry point of both engines.

:func:`integrate` hands the plans that :mod:`processes.integration.compiled` implements
(Average combination; NoRejection, SigmaClip, WinsorizedSigmaClip) to that compiled
kernel, unless ``plan.compiled`` is False; everything below describes the numpy engine,
which runs every other plan and is the reference the compiled kernel is tested against.

The output image is produced one *band* of rows at a time.  For each channel and band the
engine reads those rows from every frame into one stack buffer ``(N, rows, width)`` (the
files are closed again straight away), then processes the band in *chunks* of whole rows
(cache-sized working sets).  Bands can be shared among worker processes, each reading
its own rows within its share of the budget; band boundaries never change results, so
the output does not depend on the number of workers.  Per chunk:

1. range rejection (``rangeLow``/``rangeHigh``; non-finite values count as low) on the
   pedestal-corrected input values;
2. rejection normalization of a copy of the stack (PixInsight's ``Scale``: ``(v − m_i)·k_i
   + m_0`` for i ≥ 1, zeros kept, then a per-row pedestal that keeps values positive;
   ``EqualizeFluxes``: ``v·m_0/m_i``), range-rejected values set to ∓inf;
3. one sort along the frame axis (sorting network), then the rejection algorithm's first
   pass over the whole chunk (:mod:`processes.integration.rejection`); a per-rank status
   array records what was rejected and why.  Pixels that need further passes (sigma
   clipping iterates while it rejects) are collected over the whole band and finished
   there, grouped by their number of surviving values, so those few pixels cost a few
   large vector operations instead of many small ones;
4. frame attribution only for the pixels that lost a value (a stable argsort of their
   stack: ties go to the lower frame index), giving rejection maps and per-frame counts;
5. combination of the output-normalized values ``A_i·v + B_i`` (weighted average, median,
   minimum or maximum of the kept values; a pixel whose values were all rejected takes the
   median of all of them, as PixInsight does).  Pixels without rejections take a fast path
   (one matrix-vector product for the average).

Peak memory is the stack buffer (with room for the band's pending pixels) plus the chunk
temporaries of each worker, sized from the memory budget (:func:`plan_bands`), plus the
output images themselves.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

import attrs
import numpy as np

from processes.integration.combine import combine_clean, combine_masked
from processes.integration.frames import FrameSource
from processes.integration.rejection import RejectionSettings, make_rejector
from processes.integration.sorting import sort_stack

__all__ = ["BandPlan", "EngineResult", "IntegrationPlan", "integrate", "plan_bands", "worker_pool"]

log = logging.getLogger(__name__)

KEEP, LOW, HIGH, RANGE_LOW, RANGE_HIGH = 0, 1, 2, 3, 4
_PCL_BITS = np.array([0, 2, 1, 8, 4], dtype=np.uint8)
"""PCL's drizzle rejection-map bit of each status code (DrizzleData.h: bit 0 high, 1 low, 2 range high,
3 range low)."""
"""Status codes of a value in a pixel stack."""

CHUNK_PIXELS = 16384
"""Target number of pixels per chunk (cache-sized working set for 16-32 frames)."""

BAND_CAP_BYTES = 64 << 20
"""Largest band stack used even when the budget allows more: bigger bands save nothing
(file reads are already large) and cost first-touch page faults, which are expensive."""


def chunk_bytes_per_pixel(frames: int) -> int:
    """Upper estimate of the transient bytes one chunk needs per pixel (all temporaries).

    Measured with tracemalloc on winsorized sigma clipping (the most demanding algorithm):
    about 130 bytes per value when every pixel has rejections.
    """
    return 160 * frames + 256


@attrs.frozen(kw_only=True)
class IntegrationPlan:
    """Everything the engine needs, as plain arrays and values (built by the process)."""

    frames: Sequence[FrameSource]
    roi: tuple[int, int, int, int]
    """(x0, y0, x1, y1): the region of the frames to integrate."""
    out_scale: np.ndarray
    """(channels, N) factors A of the output normalization v' = A·v + B."""
    out_offset: np.ndarray
    """(channels, N) offsets B of the output normalization."""
    rej_mode: str = "none"
    """Rejection normalization: ``none``, ``scale`` or ``flux``."""
    rej_scale: np.ndarray | None = None
    """(channels, N) factors of the rejection normalization (frame 0 is the reference)."""
    rej_offset: np.ndarray | None = None
    """(channels, N) offsets of the rejection normalization."""
    pedestals: np.ndarray | None = None
    """(N,) values subtracted from every frame on reading (subtractPedestals)."""
    weights: np.ndarray
    """(channels, N) combination weights (Average only)."""
    combination: str = "Average"
    rejection: RejectionSettings = RejectionSettings()
    range_low: float | None = 0.0
    """Values <= this are range-rejected (None: disabled)."""
    range_high: float | None = None
    """Values >= this are range-rejected (None: disabled)."""
    map_range: bool = True
    generate_image: bool = True
    generate_maps: bool = True
    float64: bool = False
    budget_bytes: int = 1 << 30
    threads: int = 1
    frame_maps: bool = False
    """Record which pixels of each frame were rejected (PCL's drizzle rejection-map bits: 1 high, 2 low,
    4 range high, 8 range low), for the drizzle data (the numpy engine then runs in this process;
    the compiled kernel records them as it goes)."""
    compiled: bool = True
    """Use the compiled kernel (:mod:`processes.integration.compiled`) where it implements the
    plan; False forces the numpy engine (the reference the tests compare it with)."""

    @property
    def output_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the integrated image: the frames' channels over the ROI."""
        x0, y0, x1, y1 = self.roi
        return self.frames[0].channels, y1 - y0, x1 - x0


@attrs.define
class EngineResult:
    """Pixels and counts produced by :func:`integrate` (arrays are (channels, height, width))."""

    image: np.ndarray | None
    low_map: np.ndarray | None
    high_map: np.ndarray | None
    slope_map: np.ndarray | None
    rejected_low: np.ndarray
    """(channels, N) values rejected low by the algorithm, per frame."""
    rejected_high: np.ndarray
    range_low: np.ndarray
    """(channels, N) values rejected by the range limits (low side), per frame."""
    range_high: np.ndarray
    bands: int = 0
    band_rows: int = 0
    workers: int = 1
    worker_rss_mb: float = 0.0
    """Sum over the worker processes of their peak resident set size (0 without workers)."""
    frame_maps: np.ndarray | None = None
    """(N, channels, height, width) uint8 per-frame rejection bits (``plan.frame_maps``), else None."""


@attrs.frozen
class BandPlan:
    """How a region of ``height`` rows is cut: rows per band and rows per chunk."""

    band_rows: int
    chunk_rows: int
    threads: int

    def bands(self, height: int) -> list[tuple[int, int]]:
        """[(row0, row1), ...] covering ``height`` rows."""
        return [(r, min(r + self.band_rows, height)) for r in range(0, height, self.band_rows)]


ITERATIVE = frozenset({"SigmaClip", "WinsorizedSigmaClip", "AveragedSigmaClip", "LinearFit", "CCDClip",
                       "Rejection_RCR"})
"""Rejection algorithms that may need more than one pass (so pixels can be pending)."""


def plan_bands(frames: int, width: int, height: int, budget_bytes: int, threads: int,
               iterative: bool = True) -> BandPlan:
    """Cut the work to fit ``budget_bytes``: band stack + one chunk working set per thread.

    At least one row per chunk and per band is always used (PixInsight's "zero means a
    one-row stack"), so tiny budgets degrade to row-by-row streaming.
    """
    threads = max(1, threads)
    per_pixel = chunk_bytes_per_pixel(frames)
    chunk_pixels = min(CHUNK_PIXELS, max(width, budget_bytes // (3 * threads * per_pixel)))
    chunk_rows = max(1, min(height, chunk_pixels // max(width, 1)))
    chunk_total = threads * chunk_rows * width * per_pixel
    # the band stack (4 bytes a value) plus, for iterative rejection and in the worst case,
    # a copy of every pixel's sorted, normalized and raw values and status (13 bytes)
    row_bytes = frames * width * (4 + (13 if iterative else 0))
    band_rows = max(chunk_rows, (budget_bytes - chunk_total) // max(row_bytes, 1))
    band_rows = min(band_rows, max(chunk_rows, BAND_CAP_BYTES // max(frames * width * 4, 1)))
    band_rows = int(min(height, band_rows))
    if threads > 1 and band_rows < threads * chunk_rows:
        # too little room for every worker: fewer workers rather than a blown budget
        threads = max(1, band_rows // chunk_rows)
    return BandPlan(band_rows=band_rows, chunk_rows=int(chunk_rows), threads=threads)


def output_arrays(plan: IntegrationPlan, shape: tuple[int, ...], alloc: Callable[..., np.ndarray] = np.zeros,
                  slope: bool = True) -> tuple[np.ndarray | None, ...]:
    """(image, low rejection map, high rejection map, slope map) of ``shape``, each made by
    ``alloc`` where ``plan`` asks for it, else None: the image float64 or float32 as
    ``plan.float64`` says, the maps float32, the slope map (``slope``) only for LinearFit."""
    maps = plan.generate_maps
    image = alloc(shape, dtype=np.float64 if plan.float64 else np.float32) if plan.generate_image else None
    low = alloc(shape, dtype=np.float32) if maps else None
    high = alloc(shape, dtype=np.float32) if maps else None
    fit = alloc(shape, dtype=np.float32) if slope and maps and plan.rejection.algorithm == "LinearFit" else None
    return image, low, high, fit


def integrate(plan: IntegrationPlan, progress: Callable[[float, str], None] | None = None) -> EngineResult:
    """Integrate ``plan.frames`` band by band within ``plan.budget_bytes``.

    With ``plan.threads`` > 1 the bands are shared among that many worker *processes*
    (each with its share of the budget), which read their rows themselves and send back
    the finished output rows: numpy releases the GIL only inside each operation, so
    threads would serialize on the many small calls of the rejection passes.  Results
    do not depend on the number of workers (bands never change results).
    """
    if plan.compiled:
        from processes.integration.compiled import integrate_compiled, supported

        if supported(plan):
            return integrate_compiled(plan, progress)
    frames = list(plan.frames)
    n = len(frames)
    shape = channels, height, width = plan.output_shape
    y0 = plan.roi[1]
    image, low_map, high_map, slope_map = output_arrays(plan, shape)
    counts = np.zeros((4, channels, n), dtype=np.int64)
    frame_maps = np.zeros((n, channels, height, width), dtype=np.uint8) if plan.frame_maps else None
    workers = 1 if plan.frame_maps else max(1, plan.threads)
    bands_plan = plan_bands(n, width, height, plan.budget_bytes // workers, 1,
                            iterative=plan.rejection.algorithm in ITERATIVE)
    if workers > 1:
        # at least two bands per worker, so that the work spreads evenly
        rows = max(bands_plan.chunk_rows, -(-height * channels // (2 * workers)))
        bands_plan = attrs.evolve(bands_plan, band_rows=min(bands_plan.band_rows, rows))
    bands = bands_plan.bands(height)
    tasks = [(c, r0, r1) for c in range(channels) for r0, r1 in bands]
    if len(tasks) < 2:
        workers = 1
    log.info("ImageIntegration: %d frames, %dx%dx%d, %d band(s) of %d rows, chunks of %d rows, %d worker(s)",
             n, channels, height, width, len(bands), bands_plan.band_rows, bands_plan.chunk_rows, workers)

    def report(done: int, c: int, r0: int, r1: int) -> None:
        if progress is not None:
            progress(done / len(tasks), f"channel {c}, rows {y0 + r0}..{y0 + r1 - 1} of {frames[0].height}")

    rss = 0.0
    if workers == 1:
        stack = np.empty((n, bands_plan.band_rows, width), dtype=np.float32)
        scratch = np.empty((bands_plan.band_rows, frames[0].width), dtype=np.float32) if width != frames[0].width \
            else None
        for done, (c, r0, r1) in enumerate(tasks, start=1):
            out = _BandOutputs(image, low_map, high_map, slope_map, c, r0, r1, frame_maps)
            counts[:, c] += _run_band(plan, bands_plan, c, r0, r1, stack, scratch, out)
            report(done, c, r0, r1)
    else:
        from concurrent.futures import as_completed

        peaks: dict[int, float] = {}
        with worker_pool(workers) as pool:
            futures = [pool.submit(_band_task, plan, bands_plan, c, r0, r1) for c, r0, r1 in tasks]
            for done, future in enumerate(as_completed(futures), start=1):
                part = future.result()
                c, r0, r1 = part["task"]
                for array, key in ((image, "image"), (low_map, "low"), (high_map, "high"), (slope_map, "slope")):
                    if array is not None and part[key] is not None:
                        array[c, r0:r1] = part[key]
                counts[:, c] += part["counts"]
                peaks[part["pid"]] = max(peaks.get(part["pid"], 0.0), part["rss_mb"])
                report(done, c, r0, r1)
        rss = sum(peaks.values())
    return EngineResult(
        image=image, low_map=low_map, high_map=high_map, slope_map=slope_map,
        rejected_low=counts[0], rejected_high=counts[1], range_low=counts[2], range_high=counts[3],
        bands=len(bands), band_rows=bands_plan.band_rows, workers=workers, worker_rss_mb=rss, frame_maps=frame_maps,
    )


def worker_pool(workers: int):
    """A process pool of ``workers`` (forked where the platform allows: no re-imports)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    methods = multiprocessing.get_all_start_methods()
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork" if "fork" in methods else None))


def _band_task(plan: IntegrationPlan, bands_plan: BandPlan, c: int, r0: int, r1: int) -> dict:
    """One band in a worker process: its output rows, counts and the worker's peak RSS."""
    import os
    import resource

    rows = r1 - r0
    n = len(plan.frames)
    width = plan.roi[2] - plan.roi[0]
    image, low, high, slope = output_arrays(plan, (1, rows, width))
    stack = _worker_buffer("stack", (n, bands_plan.band_rows, width))
    full = plan.frames[0].width
    scratch = _worker_buffer("scratch", (bands_plan.band_rows, full)) if width != full else None
    out = _BandOutputs(image, low, high, slope, 0, 0, rows)
    counts = _run_band(plan, bands_plan, c, r0, r1, stack, scratch, out, shift=r0)
    return {
        "task": (c, r0, r1), "counts": counts, "pid": os.getpid(),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "image": None if image is None else image[0], "low": None if low is None else low[0],
        "high": None if high is None else high[0], "slope": None if slope is None else slope[0],
    }


_WORKER_BUFFERS: dict[str, np.ndarray] = {}


def _worker_buffer(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A float32 buffer kept for the life of a worker process (reused by its next bands)."""
    buffer = _WORKER_BUFFERS.get(name)
    if buffer is None or buffer.shape != shape:
        buffer = _WORKER_BUFFERS[name] = np.empty(shape, dtype=np.float32)
    return buffer


def _run_band(plan: IntegrationPlan, bands_plan: BandPlan, c: int, r0: int, r1: int, stack: np.ndarray,
              scratch: np.ndarray | None, out: _BandOutputs, shift: int = 0) -> np.ndarray:
    """Read rows [r0, r1) of channel ``c`` of every frame and integrate them into ``out``.

    ``out`` addresses the band's rows from ``r0 - shift``; returns the (4, N) counts.
    """
    x0, y0, x1, _ = plan.roi
    rows = r1 - r0
    width = x1 - x0
    band = stack[:, :rows]
    for i, frame in enumerate(plan.frames):
        if scratch is None:
            frame.read_rows(c, y0 + r0, y0 + r1, band[i])
        else:
            frame.read_rows(c, y0 + r0, y0 + r1, scratch[:rows])
            band[i] = scratch[:rows, x0:x1]
    if plan.pedestals is not None:
        band -= plan.pedestals.astype(np.float32)[:, None, None]
    out = attrs.evolve(out, row0=r0 - shift, row1=r1 - shift)
    counts = np.zeros((4, len(plan.frames)), dtype=np.int64)
    pending = []
    for a in range(0, rows, bands_plan.chunk_rows):
        part_counts, part_pending = _first_pass(plan, c, (band[:, a : min(a + bands_plan.chunk_rows, rows)], a), out)
        counts += part_counts
        if part_pending is not None:
            pending.append(part_pending)
    if pending:
        counts += _finish_pending(plan, c, _Pending.merge(pending), out, bands_plan.chunk_rows * width)
    return counts


@attrs.frozen
class _BandOutputs:
    """The output arrays and where the current band goes in them."""

    image: np.ndarray | None
    low_map: np.ndarray | None
    high_map: np.ndarray | None
    slope_map: np.ndarray | None
    channel: int
    row0: int
    row1: int
    frame_maps: np.ndarray | None = None

    def record(self, where: slice | np.ndarray, codes: np.ndarray) -> None:
        """Store the per-frame rejection codes (N, k) of the band's flat positions ``where`` as PCL's bits."""
        if self.frame_maps is None:
            return
        bits = _PCL_BITS[codes]
        band = self.frame_maps[:, self.channel, self.row0 : self.row1].reshape(self.frame_maps.shape[0], -1)
        band[:, where] = bits

    def flat(self, array: np.ndarray | None) -> np.ndarray | None:
        """The band of ``array`` as a flat (rows·width) view, or None."""
        return None if array is None else array[self.channel, self.row0 : self.row1].reshape(-1)

    def store(self, where: slice | np.ndarray, result: np.ndarray | None, low_count: np.ndarray | None,
              high_count: np.ndarray | None, frames: int, rejector: object) -> None:
        """Write combined values, rejection fractions and (LinearFit) slopes at flat band positions ``where``."""
        if result is not None:
            self.flat(self.image)[where] = result
        if low_count is not None:
            self.flat(self.low_map)[where] = low_count * np.float32(1.0 / frames)
            self.flat(self.high_map)[where] = high_count * np.float32(1.0 / frames)
        slope = getattr(rejector, "slope", None)
        if self.slope_map is not None and slope is not None:
            self.flat(self.slope_map)[where] = slope


@attrs.define
class _Pending:
    """Pixels of a band that need more rejection passes (flat band indices and their stacks)."""

    index: np.ndarray
    ordered: np.ndarray
    status: np.ndarray
    values: np.ndarray
    raw: np.ndarray
    state: dict[str, np.ndarray]

    @staticmethod
    def merge(parts: list[_Pending]) -> _Pending:
        if len(parts) == 1:
            return parts[0]
        return _Pending(
            index=np.concatenate([p.index for p in parts]),
            ordered=np.concatenate([p.ordered for p in parts], axis=1),
            status=np.concatenate([p.status for p in parts], axis=1),
            values=np.concatenate([p.values for p in parts], axis=1),
            raw=np.concatenate([p.raw for p in parts], axis=1),
            state={k: np.concatenate([p.state[k] for p in parts]) for k in parts[0].state},
        )


def _first_pass(plan: IntegrationPlan, channel: int, job, out: _BandOutputs):
    """Rows of one chunk: the first rejection pass, and everything for the pixels it settles.

    Returns ((4, N) counts: low, high, range low, range high; the pixels needing more passes).
    """
    block, a = job
    n, rows, width = block.shape
    raw = block.reshape(n, rows * width)
    p = raw.shape[1]
    counts = np.zeros((4, n), dtype=np.int64)
    range_low, range_high = _range_masks(plan, raw)
    uniform = range_low is None and range_high is None

    status = values = rejector = None
    again = None
    if plan.rejection.algorithm != "NoRejection":
        values = _rejection_values(plan, channel, raw, rows, width, range_low, range_high)
        ordered = sort_stack(values)
        status = _initial_status(ordered, uniform)
        rejector = make_rejector(plan.rejection, p)
        again = np.zeros(p, dtype=bool)
        active = np.flatnonzero(_kept(status, uniform, n) >= rejector.min_count)
        if active.size:
            for cols, ranks, sub in _groups(ordered, status, active, uniform):
                low, high, more = rejector.step(sub, 0, cols)
                _mark(status, low, LOW, cols, ranks)
                _mark(status, high, HIGH, cols, ranks)
                again[cols] = more
    elif not uniform:
        values = _range_coded(raw, range_low, range_high)
        status = _initial_status(sort_stack(values), uniform)

    scale, offset, weights = plan.out_scale[channel], plan.out_offset[channel], plan.weights[channel]
    result = (
        combine_clean(plan.combination, raw, scale, offset, weights, plan.float64) if plan.generate_image else None
    )
    low_count = np.zeros(p, dtype=np.float32) if plan.generate_maps else None
    high_count = np.zeros(p, dtype=np.float32) if plan.generate_maps else None
    pending = None
    if status is not None:
        settled = status.any(axis=0)
        if again is not None:
            settled &= ~again
        touched = np.flatnonzero(settled)
        if touched.size:
            counts += _settle(plan, touched, values[:, touched], status[:, touched], raw[:, touched], channel,
                              result, low_count, high_count, out, touched + a * width)
        if again is not None and again.any():
            cols = np.flatnonzero(again)
            pending = _Pending(
                index=cols + a * width, ordered=ordered[:, cols], status=status[:, cols], values=values[:, cols],
                raw=raw[:, cols], state=rejector.export(cols),
            )
    out.store(slice(a * width, (a + rows) * width), result, low_count, high_count, n, rejector)
    return counts, pending


def _finish_pending(plan: IntegrationPlan, channel: int, pending: _Pending, out: _BandOutputs,
                    piece_size: int) -> np.ndarray:
    """Further rejection passes for the band's pending pixels, then their combination."""
    k = pending.index.size
    rejector = make_rejector(plan.rejection, k)
    rejector.load(pending.state)
    if plan.rejection.algorithm == "LinearFit":
        _general_passes(rejector, pending.ordered, pending.status, piece_size)
    else:
        _contiguous_passes(rejector, pending.ordered, pending.status, piece_size)
    status = pending.status
    p = pending.index
    result = np.zeros(k) if plan.generate_image else None
    low_count = np.zeros(k, dtype=np.float32) if plan.generate_maps else None
    high_count = np.zeros(k, dtype=np.float32) if plan.generate_maps else None
    counts = _settle(plan, np.arange(k), pending.values, status, pending.raw, channel, result, low_count, high_count,
                     out, p)
    out.store(p, result, low_count, high_count, status.shape[0], rejector)
    return counts


def _run_pieces(rejector, sub, it, cols, piece_size):
    """rejector.step over column pieces of a group (bounded working memory)."""
    pieces = _split(cols.size, piece_size)
    if len(pieces) == 1:
        return pieces, [rejector.step(sub, it, cols)]
    return pieces, [rejector.step(sub[:, part], it, cols[part]) for part in pieces]


def _general_passes(rejector, ordered, status, piece_size) -> None:
    """Passes 1, 2, ... for any algorithm: survivors found from the per-rank status."""
    k = ordered.shape[1]
    active = np.arange(k)
    it = 1
    while active.size:
        next_active = np.zeros(k, dtype=bool)
        for cols, ranks, sub in _groups(ordered, status, active, False):
            pieces, results = _run_pieces(rejector, sub, it, cols, piece_size)
            for part, (low, high, more) in zip(pieces, results):
                _mark(status, low, LOW, cols[part], ranks[:, part])
                _mark(status, high, HIGH, cols[part], ranks[:, part])
                next_active[cols[part]] = more
        active = np.flatnonzero(next_active)
        it += 1


def _contiguous_passes(rejector, ordered, status, piece_size) -> None:
    """Passes 1, 2, ... for algorithms that reject the lowest and highest values only.

    The survivors of each pixel are the sorted ranks [lo, hi): groups are gathered with
    flat indices and the rejections applied by moving lo and hi.
    """
    n, k = ordered.shape
    kept = status == KEEP
    lo = np.argmax(kept, axis=0)
    hi = n - np.argmax(kept[::-1], axis=0)
    first_lo, first_hi = lo.copy(), hi.copy()
    flat = ordered.reshape(-1)
    active = np.arange(k)
    it = 1
    while active.size:
        count = hi[active] - lo[active]
        next_active = np.zeros(k, dtype=bool)
        for m in np.unique(count):
            cols = active[count == m]
            sub = flat.take((lo[cols][None, :] + np.arange(m)[:, None]) * k + cols[None, :])
            pieces, results = _run_pieces(rejector, sub, it, cols, piece_size)
            for part, (low, high, more) in zip(pieces, results):
                lo[cols[part]] += np.count_nonzero(low, axis=0)
                hi[cols[part]] -= np.count_nonzero(high, axis=0)
                next_active[cols[part]] = more
        active = np.flatnonzero(next_active)
        it += 1
    ranks = np.arange(n)[:, None]
    status[(ranks >= first_lo) & (ranks < lo)] = LOW
    status[(ranks >= hi) & (ranks < first_hi)] = HIGH


def _split(size: int, piece: int) -> list[slice]:
    """Column slices of at most about ``piece`` columns (the chunk working-set size)."""
    parts = max(1, math.ceil(size / max(piece, 1)))
    edges = np.linspace(0, size, parts + 1).astype(int)
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def _settle(plan, touched, values, status, raw, channel, result, low_count, high_count, out=None,
            where=None) -> np.ndarray:
    """Attribution, counts, maps and combination for pixels whose status is final."""
    n = status.shape[0]
    counts = np.zeros((4, n), dtype=np.int64)
    codes = _frame_codes(values, status)
    if out is not None and where is not None:
        out.record(where, codes)
    lows, highs = codes == LOW, codes == HIGH
    range_lows, range_highs = codes == RANGE_LOW, codes == RANGE_HIGH
    counts[0] = lows.sum(axis=1)
    counts[1] = highs.sum(axis=1)
    counts[2] = range_lows.sum(axis=1)
    counts[3] = range_highs.sum(axis=1)
    if low_count is not None:
        if plan.map_range:
            lows |= range_lows
            highs |= range_highs
        low_count[touched] = lows.sum(axis=0)
        high_count[touched] = highs.sum(axis=0)
    if result is not None:
        result[touched] = combine_masked(
            plan.combination, raw, codes == KEEP, plan.out_scale[channel], plan.out_offset[channel],
            plan.weights[channel],
        )
    return counts


def _range_masks(plan: IntegrationPlan, raw: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Masks of range-rejected values (None when there are none); non-finite values count as low."""
    low = None
    if plan.range_low is not None:
        low = ~(raw > np.float32(plan.range_low))  # NaN compares False: counted as low
    else:
        finite = np.isfinite(raw)
        if not finite.all():
            low = ~finite
    high = None
    if plan.range_high is not None:
        high = raw >= np.float32(plan.range_high)
        if low is not None:
            high &= ~low
    if low is not None and not low.any():
        low = None
    if high is not None and not high.any():
        high = None
    return low, high


def _range_coded(values: np.ndarray, low: np.ndarray | None, high: np.ndarray | None) -> np.ndarray:
    out = values.copy()
    if low is not None:
        out[low] = -np.inf
    if high is not None:
        out[high] = np.inf
    return out


def _rejection_values(plan, channel, raw, rows, width, range_low, range_high) -> np.ndarray:
    """The rejection-normalized stack (a new array), range-rejected values at ∓inf."""
    if plan.rej_mode == "none" or plan.rej_scale is None or plan.rej_offset is None:
        return _range_coded(raw, range_low, range_high)
    scale = plan.rej_scale[channel].astype(np.float32)[:, None]
    offset = plan.rej_offset[channel].astype(np.float32)[:, None]
    values = raw * scale
    if plan.rej_mode == "scale":
        values += offset
        zero = raw == 0
        values[zero] = 0
        values[0] = raw[0]
        rejected = zero.copy()
        if range_low is not None:
            rejected |= range_low
        if range_high is not None:
            rejected |= range_high
        n = raw.shape[0]
        cube = values.reshape(n, rows, width)
        candidates = np.where(rejected.reshape(n, rows, width)[1:], np.inf, cube[1:])
        if candidates.size:
            row_min = candidates.min(axis=(0, 2))
            shift = np.where(row_min < 0, -row_min, 0).astype(np.float32)
            if shift.any():
                cube += shift[None, :, None]
    else:  # flux
        values[0] = raw[0]
    if range_low is not None:
        values[range_low] = -np.inf
    if range_high is not None:
        values[range_high] = np.inf
    return values


def _initial_status(ordered: np.ndarray, uniform: bool) -> np.ndarray:
    """Per-rank status of a sorted stack: range-rejected values (at ∓inf) marked."""
    status = np.zeros(ordered.shape, dtype=np.uint8)
    if not uniform:
        status[np.isneginf(ordered)] = RANGE_LOW
        status[np.isposinf(ordered)] = RANGE_HIGH
    return status


def _kept(status: np.ndarray, uniform: bool, n: int) -> np.ndarray:
    if uniform:
        return np.full(status.shape[1], n)
    return (status == KEEP).sum(axis=0)


def _groups(ordered: np.ndarray, status: np.ndarray, cols: np.ndarray, uniform: bool):
    """Yield (cols, ranks, sub): the surviving values of ``cols``, grouped by their count."""
    n, p = ordered.shape
    if uniform:
        sub = ordered if cols.size == p else ordered[:, cols]
        yield cols, None, sub
        return
    kept = status[:, cols] == KEEP
    count = np.count_nonzero(kept, axis=0)
    order = np.argsort(~kept.T, axis=1, kind="stable").T  # kept ranks first, in rank order
    for m in np.unique(count):
        if m == 0:
            continue
        sel = np.flatnonzero(count == m)
        group_cols = cols[sel]
        ranks = order[:m, sel]
        yield group_cols, ranks, ordered[ranks, group_cols[None, :]]


def _mark(status: np.ndarray, mask: np.ndarray, code: int, cols: np.ndarray, ranks) -> None:
    if ranks is None and cols.size == status.shape[1]:
        status[mask] = code  # the whole stack in rank order (the common first pass)
        return
    if not mask.any():
        return
    r, j = np.nonzero(mask)
    if ranks is None:
        status[r, cols[j]] = code
    else:
        status[ranks[r, j], cols[j]] = code


def _frame_codes(values: np.ndarray, status: np.ndarray) -> np.ndarray:
    """Map per-rank status codes back to frame order (stable: ties keep frame order)."""
    order = np.argsort(values.T, axis=1, kind="stable").T
    codes = np.empty_like(status)
    np.put_along_axis(codes, order, status, axis=0)
    return codes


def budget_from_memory(fraction: float) -> int:
    """``fraction`` of the physical memory available now, in bytes (a fallback of 1 GiB)."""
    try:
        import os

        pages = os.sysconf("SC_AVPHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
        return int(max(64 << 20, fraction * pages * size))
    except (ValueError, OSError, AttributeError):
        return 1 << 30


def mib(value: float) -> int:
    """``value`` MiB in bytes."""
    return int(math.ceil(value * (1 << 20)))
