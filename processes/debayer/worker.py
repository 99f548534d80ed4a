"""What the workers of a local pool demosaicing files with Debayer load before their first frame.

Debayer's ``worker_preload``: the pool's fork server imports this module once for all workers (a
dask worker imports it first).  Importing it imports :data:`WORKER_MODULES`, demosaics a small
synthetic raw frame through Debayer's own file path (:func:`warm_kernels`: the FITS reader, VNG,
the noise evaluation of the CFA components, the FITS writer), reads Debayer's icon and frees and
freezes what it can (:func:`processes.common.preload.preload`).  It loads Debayer alone: about a
fifth of the kernels of :mod:`processes.workflows.preprocess.worker`, which loads every per-frame
step and ImageIntegration.  Import it only where that is wanted (the fork server, a dask worker's
preload).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from processes.common.preload import preload
from processes.common.synthetic import WARM_FRAME_SIZE, synthetic_cfa

__all__ = ["WORKER_MODULES", "WORKER_PROCESSES", "warm_kernels"]

WORKER_MODULES = ("numpy", "processes.debayer.process", "procfw.io.fits")
"""What a Debayer task needs: its module (the demosaicing and the noise evaluation) and FITS."""

WORKER_PROCESSES = ("Debayer",)
"""The process whose icon the preload reads once for all workers."""


def warm_kernels(size: int = 2 * WARM_FRAME_SIZE) -> None:
    """Demosaic a ``size``² synthetic GRBG frame written as FITS, with VNG and the noise evaluation, through
    :meth:`Debayer.process_file <processes.debayer.process.Debayer.process_file>` (into a temporary folder).
    Twice :data:`~processes.common.synthetic.WARM_FRAME_SIZE` by default: Debayer evaluates the noise of the CFA
    components, each a quarter of the frame, which must be as large as a warm-up frame for the estimators'
    compiled paths.  A failure is logged (debug) and ignored (:func:`processes.common.preload.run_warm_ups`)."""
    from processes.common.preload import run_warm_ups
    from processes.debayer.process import Debayer
    from procfw.image import Image
    from procfw.io.fits import write_fits

    with tempfile.TemporaryDirectory(prefix="procfw-warm-") as folder:
        raw = Path(folder) / "warm.fits"

        def demosaic() -> None:
            write_fits(Image(synthetic_cfa(size)[None]), raw)
            Debayer(cfaPattern="GRBG", debayerMethod="VNG", outputDirectory=folder,
                    outputExtension=".fits").process_file(0, raw, {})

        run_warm_ups((("debayer", demosaic),))


WARM_SECONDS = preload(WORKER_MODULES, warm_kernels, WORKER_PROCESSES)
"""How long the warm-up took at import (NaN: it failed)."""
