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

Importing this module therefore runs :func:`processes.common.preload.preload`: it imports
:data:`WORKER_MODULES`, runs :func:`warm_kernels` (a fraction of a second with warm numba caches),
reads the workers' processes' icons (the process registry's discovery) with the garbage collector
off, gives back the memory it freed and the library code only the loading ran, and freezes the
garbage collector's view of the objects loaded so far (the workers' collections then do not
touch — and so do not copy — the pages they share with the fork server); import it only where
that is wanted — the fork server, and a dask worker (its preload task:
:func:`procfw.batch.import_modules`), where the frozen objects are the same loaded modules.  A
pool of Debayer or StarAlignment alone preloads the process's own module instead
(:mod:`processes.debayer.worker`, :mod:`processes.staralignment.worker`).  The fork
server is single-threaded (no numba kernel here starts threads), so forking it after the warm-up
is safe.
"""

from __future__ import annotations

import logging

from processes.common.preload import preload
from processes.common.synthetic import WARM_FRAME_SIZE, synthetic_cfa

__all__ = ["WORKER_MODULES", "WORKER_PROCESSES", "warm_kernels"]

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
:func:`processes.common.preload.preload` reads once for all workers."""


def warm_kernels(size: int = WARM_FRAME_SIZE) -> None:
    """Call each compiled kernel of the per-frame steps (StarAlignment's:
    :func:`processes.staralignment.warmup.warm_kernels`) and of ImageIntegration
    (:func:`processes.integration.warmup.warm_kernels`) once, on a ``size``² frame, and write and read
    a FITS frame.

    Failures are logged (debug) and ignored: the first real frame then loads the kernel.
    """
    import numpy as np

    from processes.common.preload import run_warm_ups, warm_fits
    from processes.debayer.process import debayer_image
    from processes.integration import warmup as integration
    from processes.kernels.cfa import CFAPattern
    from processes.kernels.noise import MRS_VALID_RANGE, estimate_noise
    from processes.kernels.starmeasure import measure_stars
    from processes.staralignment import warmup as staralignment
    from processes.workflows.preprocess.pipeline import luminance
    from procfw.image import Image

    rgb: Image | None = None
    try:
        rgb = debayer_image(Image(synthetic_cfa(size)[None]), CFAPattern.parse("GRBG"), "VNG")
    except Exception as exc:  # noqa: BLE001 - a warm-up must never stop a worker
        log.debug("warm-up of debayer failed: %s", exc)
    if rgb is None:
        rgb = Image(np.repeat(synthetic_cfa(size)[None], 3, axis=0))
    pixels = rgb.pixels
    run_warm_ups((
        ("noise", lambda: [estimate_noise(pixels[c], "MRS", MRS_VALID_RANGE) for c in range(pixels.shape[0])]),
        ("star measurement", lambda: measure_stars(luminance(pixels), overwrite=True)),
        ("registration", lambda: staralignment.warm_kernels(rgb)),
        ("integration", integration.warm_kernels),
    ))
    warm_fits(rgb)


WARM_SECONDS = preload(WORKER_MODULES, warm_kernels, WORKER_PROCESSES)
"""How long the warm-up took at import (NaN: it failed)."""
