"""What the workers of a local pool registering files with StarAlignment load before their first frame.

StarAlignment's ``worker_preload``: the pool's fork server imports this module once for all
workers (a dask worker imports it first).  Importing it imports :data:`WORKER_MODULES`, loads
StarAlignment's compiled kernels (:func:`warm_kernels`: detection, matching, the warp, and the
FITS reader and writer, on a small synthetic RGB frame), reads StarAlignment's icon and frees and
freezes what it can (:func:`processes.common.preload.preload`).  It loads StarAlignment alone, not
:mod:`processes.workflows.preprocess.worker`, which loads every per-frame step and ImageIntegration
(twice the kernels: ~0.1 s more of the server's start on the 2-core test machine, and the memory of
kernels a registration never runs).
Import it only where that is wanted (the fork server, a dask worker's preload).
"""

from __future__ import annotations

from processes.common.preload import preload
from processes.common.synthetic import WARM_FRAME_SIZE, synthetic_cfa

__all__ = ["WORKER_MODULES", "WORKER_PROCESSES", "warm_kernels"]

WORKER_MODULES = ("numpy", "processes.staralignment.process", "procfw.io.fits")
"""What a registration task needs: StarAlignment's module (with its star detection, matching and warp) and FITS."""

WORKER_PROCESSES = ("StarAlignment",)
"""The process whose icon the preload reads once for all workers."""


def warm_kernels(size: int = WARM_FRAME_SIZE) -> None:
    """Call StarAlignment's compiled kernels once (:func:`processes.staralignment.warmup.warm_kernels`) and
    write and read a FITS frame, on a ``size``² synthetic RGB frame."""
    import numpy as np

    from processes.common.preload import warm_fits
    from processes.staralignment import warmup
    from procfw.image import Image

    rgb = Image(np.repeat(synthetic_cfa(size)[None], 3, axis=0))
    warmup.warm_kernels(rgb)
    warm_fits(rgb)


WARM_SECONDS = preload(WORKER_MODULES, warm_kernels, WORKER_PROCESSES)
"""How long the warm-up took at import (NaN: it failed)."""
