"""A quick exit for the fork server of local process pools (imported first by its preload only).

Importing it also drops ``PYTHONSAFEPATH`` from the server's environment when
:func:`procfw.batch.start_workers` set it only to start the server without the working
directory on its module path (``PROCFW_FORKSERVER_SAFE_PATH``), so that the workers' own
subprocesses see the user's environment.

:func:`procfw.batch.start_workers` names this module first in the fork server's preload,
and nothing else imports it.  When the pool is no longer needed
(:func:`procfw.batch.stop_workers`, or the parent process going away), the fork server
leaves its loop with ``SystemExit`` and the interpreter tears itself down: it frees, one by
one, every object of the modules its preload loaded (for the pre-processing workers:
numpy, scipy, astropy, numba, the process modules and their compiled kernels), ~0.1 s
that :func:`procfw.batch.stop_workers` — and so the run — waits for.  The fork server
keeps no state worth that: its workers are separate processes, and the operating system
takes its memory back at once.

Importing this module registers an :mod:`atexit` handler that flushes the standard
streams and ends the process with :func:`os._exit` (status 0: the fork server leaves its
loop only to stop, and its parent does not read the status).  It is registered before the preload's
modules register theirs, so theirs (run last-registered first) still run before it; the
only ones it skips are those registered before it, in the fork server only
multiprocessing's own (the fork server has no child ``Process`` objects and no finalizers
for it to run).  The workers, forked from the fork server, end by :func:`os._exit`
themselves and never run atexit handlers.
"""

from __future__ import annotations

import atexit
import os
import sys

__all__ = ["quick_exit"]


def quick_exit() -> None:
    """Flush stdout and stderr and end the process now, without the interpreter's teardown."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: nothing more to say there
            pass
    os._exit(0)


atexit.register(quick_exit)
if os.environ.pop("PROCFW_FORKSERVER_SAFE_PATH", None):
    os.environ.pop("PYTHONSAFEPATH", None)
