"""Keeping what a run has loaded out of the garbage collector's full collections, in the ``procfw`` command.

A full collection (generation 2) visits every container object alive; once numpy, scipy,
astropy and numba are loaded that is ~170,000 objects and 0.05–0.1 s each time.  CPython
starts one whenever the objects that survived the younger collections have grown by a
quarter since the last one: in a pre-processing run, after each big batch of imports
(reading the first headers loads astropy, loading the step processes, the integration's
kernels), and once more as the command exits (:func:`procfw.cli.console_main`); about
0.3 s of the console process's CPU time, some of it inside the integration.

:func:`freeze` collects what is garbage, then moves every object alive into the collector's
permanent generation (:func:`gc.freeze`), which the collections skip, so that the later ones
(and its own next collection) visit only what was made since.  A frozen object is never
collected, so a reference cycle frozen while in use stays in memory once dropped (a closed
image window is such a cycle): harmless for loaded
modules, classes and a plan, not for a user's images, nor what a Python program calling
procfw expects of its own objects.  So it freezes only where both say so: the process is
the ``procfw`` command (:func:`enable`, called at its start) and the caller runs inside an
:func:`allowed` block — a console command whose session holds no image.  Library code calls
:func:`freeze` where what it has alive itself is long-lived (modules loaded, no image).
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
from collections.abc import Iterator

__all__ = ["allowed", "collect", "enable", "freeze", "paused"]

_ENABLED = [False]
_ALLOWED: contextvars.ContextVar[bool] = contextvars.ContextVar("procfw_collector_allowed", default=False)


def enable() -> None:
    """Let :func:`freeze` freeze in this process, inside :func:`allowed` blocks (the ``procfw`` command)."""
    _ENABLED[0] = True


@contextlib.contextmanager
def allowed(allow: bool = True) -> Iterator[bool]:
    """Inside the block (this thread's context), :func:`freeze` freezes where :func:`enable` was called
    and ``allow``: what the caller holds may be frozen (no image).  Yields whether freezing is on."""
    token = _ALLOWED.set(allow)
    try:
        yield _ENABLED[0] and allow
    finally:
        _ALLOWED.reset(token)


def collect() -> bool:
    """Collect the garbage now, where :func:`freeze` would freeze (enabled and allowed); True if done.

    The collection visits only what the last freeze left out, so it is cheap: for library code
    that has just dropped a reference cycle holding big buffers (a workspace whose windows hold
    images) and wants their memory back before it allocates more.  Elsewhere nothing is done
    (a full collection would visit every object alive): the cycle goes at CPython's next one.
    """
    if not (_ENABLED[0] and _ALLOWED.get()):
        return False
    gc.collect()
    return True


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No automatic collection inside the block; the collector is on again after it if it was on before.

    For start-up code that only makes what it keeps (modules, classes, a parser's tables): the
    collections its allocations would start find nothing to free, yet at the ``procfw`` command's
    start, until the first statement's prestart hook has run, they took ~0.01 s of the ~0.18 s
    before the hook (about 70 collections, the later ones visiting every module loaded so far).
    What the block leaves unreachable is collected by the next collection after it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def freeze() -> bool:
    """Collect the garbage, then move every object alive into the collector's permanent generation,
    where enabled and allowed (see the module docstring); True if done.

    The collection visits only what the last freeze left out (it skips the permanent
    generation), and frees what is already garbage (a frame's reference cycles, in a serial
    run) instead of keeping it frozen for good.
    """
    if not collect():
        return False
    gc.freeze()
    return True
