"""What the workers of a local process pool load before their first frame.

The pre-processing pipeline names this module in the *preload* list of
:func:`procfw.batch.start_workers`: the pool's fork server imports it once, and every
worker forked from the server starts with everything a task needs already
loaded — the process modules (Debayer, ImageCalibration, CosmeticCorrection,
StarAlignment, and ImageIntegration for the master light a worker integrates), the star measurement,
the FITS reader and writer (plain files without astropy), and the
compiled kernels (numba loads each kernel's machine code from its on-disk cache on the
first call, about half a second per process; :func:`warm_kernels` does those first
calls here, on a small synthetic frame, so that no worker pays for them).

Importing this module therefore imports :data:`WORKER_MODULES`, runs
:func:`warm_kernels` (a fraction of a second with warm numba caches) and reads the
workers' processes' icons (:func:`read_icons`: the process registry's discovery) with the garbage
collector off, gives the memory it freed back, unmaps the library code only the loading
ran (:func:`procfw.batch.release_library_pages`: ~70 MB of LLVM that the fork server would
otherwise hold while the pool lives) and freezes the garbage collector's
view of the objects loaded so far (:func:`gc.freeze`: the workers' collections then do
not touch — and so do not copy — the pages they share with the fork server); import it
only where that is wanted — the fork server, and a dask worker (its preload task:
:func:`procfw.batch.import_modules`), where the frozen objects are the same loaded modules.
A failure (a module that cannot be imported) is logged and leaves the workers to load
what they need themselves.  The fork server is single-threaded (no numba kernel here
starts threads), so forking it after the warm-up is safe.
"""

from __future__ import annotations

import gc
import importlib
import logging
import math
import tempfile
import time
from pathlib import Path

from processes.workflows.preprocess.synthetic import WARM_FRAME_SIZE, synthetic_cfa
from procfw import collector

__all__ = ["WORKER_MODULES", "WORKER_PROCESSES", "load", "read_icons", "warm_kernels"]

log = logging.getLogger(__name__)

WORKER_MODULES = (
    "numpy",
    "processes.calibration.imagecalibration",
    "processes.calibration.cosmetic",
    "processes.debayer.process",
    "processes.staralignment.process",
    "processes.workflows.preprocess.pipeline",
    "processes.kernels.starmeasure",
    "processes.integration.process",
    "procfw.io.fits",
)
"""What a task needs: the process modules, the per-frame tasks, the star measurement, ImageIntegration
(a master light is integrated on a worker: :func:`processes.workflows.preprocess.pipeline.light_master_task`), FITS."""

WORKER_PROCESSES = ("ImageCalibration", "CosmeticCorrection", "Debayer", "StarAlignment", "ImageIntegration")
"""The processes the workers run (the per-frame steps', and ImageIntegration for the master lights), whose icons
:func:`read_icons` reads once for all workers."""


def warm_kernels(size: int = WARM_FRAME_SIZE) -> float:
    """Call each compiled kernel of the per-frame steps and of ImageIntegration
    (:func:`processes.integration.warmup.warm_kernels`) once, on a ``size``² frame; the seconds it took.

    Failures are logged (debug) and ignored: the first real frame then loads the kernel.
    """
    import numpy as np

    from processes.common.filelists import write_frame
    from processes.debayer.process import debayer_image
    from processes.integration import warmup as integration
    from processes.kernels.cfa import CFAPattern
    from processes.kernels.neighbours import nearest_within
    from processes.kernels.noise import MRS_VALID_RANGE, estimate_noise
    from processes.kernels.starmeasure import measure_stars
    from processes.staralignment.frames import detection_plane
    from processes.staralignment.process import StarAlignment
    from processes.staralignment.resample import warp
    from processes.staralignment.stars import detect_stars
    from processes.workflows.preprocess.pipeline import luminance
    from procfw.image import Image
    from procfw.io import read_image

    start = time.perf_counter()
    rgb: Image | None = None
    steps = (
        ("debayer", lambda: debayer_image(Image(synthetic_cfa(size)[None]), CFAPattern.parse("GRBG"), "VNG")),
    )
    for name, step in steps:
        try:
            rgb = step()
        except Exception as exc:  # noqa: BLE001 - a warm-up must never stop a worker
            log.debug("warm-up of %s failed: %s", name, exc)
    if rgb is None:
        rgb = Image(np.repeat(synthetic_cfa(size)[None], 3, axis=0))
    pixels = rgb.pixels
    settings = StarAlignment().detection_settings()
    calls = (
        ("noise", lambda: [estimate_noise(pixels[c], "MRS", MRS_VALID_RANGE) for c in range(pixels.shape[0])]),
        ("star measurement", lambda: measure_stars(luminance(pixels), overwrite=True)),
        ("star detection", lambda: detect_stars(detection_plane(rgb), settings)),
        ("star matching", lambda: nearest_within(np.zeros((2, 2)), np.ones((2, 2)), 2.0)),  # RANSAC's search
        ("warp", lambda: warp(pixels, np.array([[1.0, 0.0, 0.3], [0.0, 1.0, -0.2], [0.0, 0.0, 1.0]]),
                              (pixels.shape[2], pixels.shape[1]), kernel="lanczos3", clamping=0.3, radius=2)),
        ("integration", integration.warm_kernels),
    )
    for name, call in calls:
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - a warm-up must never stop a worker
            log.debug("warm-up of %s failed: %s", name, exc)
    try:  # the file formats: the registry of formats, the FITS reader and writer
        with tempfile.TemporaryDirectory(prefix="procfw-warm-") as folder:
            path = Path(folder) / "warm.fits"
            write_frame(rgb, path)
            read_image(path)
    except Exception as exc:  # noqa: BLE001
        log.debug("warm-up of the FITS reader and writer failed: %s", exc)
    return time.perf_counter() - start


def read_icons() -> None:
    """Read the icon of each of :data:`WORKER_PROCESSES` (default parameters) as a worker reads a task's.

    The first icon a process reads discovers the process registry's entry points
    (:mod:`procfw.entrypoints`) and imports the icon reader: ~0.05 s of CPU time, once here
    instead of in every worker's first task.  Failures are logged (debug) and ignored.
    """
    from processes.common.filelists import frame_icon, instance_from_icon
    from procfw.process import processes

    for process_id in WORKER_PROCESSES:
        try:
            instance_from_icon(frame_icon(processes.get(process_id)()))
        except Exception as exc:  # noqa: BLE001 - a warm-up must never stop a worker
            log.debug("reading the icon of %s failed: %s", process_id, exc)


def load() -> float:
    """Import :data:`WORKER_MODULES`, warm the kernels, give the freed memory and library pages back and freeze the GC.

    The garbage collector is off from the first import to the freeze: nearly every object
    made then is kept (modules, classes, numba's type registries), so the automatic
    collections their numbers trigger found almost nothing to free, yet took about a fifth
    of the preload's time (0.3–0.5 s of the fork server's ≈2 s, on the 2-core test machine),
    and so would one full collection before the freeze (0.15 s).  What is left unreachable
    (about 5,000 small objects, 1.5 MB: functions, tuples and dicts of the imports; no pixel
    buffers) is frozen with the rest: pages the workers share and never copy.

    Returns the seconds the warm-up took (NaN when something failed: a fork server must
    keep running, and the workers then import and load what they need themselves).
    """
    with collector.paused():
        try:
            for name in WORKER_MODULES:
                importlib.import_module(name)
            seconds = warm_kernels()
            read_icons()
            from procfw.batch import release_library_pages, release_memory

            release_memory()  # the warm-up's buffers: not copied into every worker
            release_library_pages()  # LLVM's code, run only to load the kernels: out of the fork server's memory
            gc.freeze()  # the objects loaded so far stay out of the workers' collections: their pages stay shared
        except Exception as exc:  # noqa: BLE001 - e.g. a module being edited: logged, the workers manage alone
            log.warning("the pre-processing workers' preload failed: %s", exc)
            return math.nan
    return seconds


WARM_SECONDS = load()
"""How long the warm-up took at import (NaN: it failed)."""
