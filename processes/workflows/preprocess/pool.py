"""Starting the local process pool of a pre-processing run early (a light module: no numpy here).

:func:`start_workers` starts the pool's fork server (:func:`procfw.batch.start_workers`)
with :data:`WORKER_PRELOAD`, so that the workers' imports and kernel loading overlap with
the console's own imports, reading the headers and planning.  The console command calls
it before it imports the pipeline.
"""

from __future__ import annotations

from processes.workflows.preprocess.plan import Options

__all__ = ["WORKER_PRELOAD", "start_workers"]

WORKER_PRELOAD = ("processes.workflows.preprocess.worker",)
"""Modules the fork server of the local process pool imports once for all workers: the worker module
imports numpy, astropy's FITS and the per-frame modules and loads the compiled kernels
(:mod:`processes.workflows.preprocess.worker`; it imports them itself, with the garbage collector off)."""


def start_workers(options: Options) -> None:
    """Start the local pool's fork server now, when ``options`` ask for a process pool (else nothing).

    Called before the folder is scanned, so that the workers' imports and kernel loading
    overlap with reading the headers and planning; the pool itself is made later.
    """
    if options.executor == "processes":
        from procfw.batch import start_workers as start

        start(WORKER_PRELOAD, single_thread=options.workers is None or options.workers > 1)
