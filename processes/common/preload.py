"""What a local pool's fork server does before forking its workers: the shared steps of a preload module.

A process's ``worker_preload`` (:class:`procfw.process.Process`) names a module that the fork
server imports once for all workers (and each dask worker imports first).  Such a module calls
:func:`preload` when it is imported: it imports the modules a task needs, calls the compiled
kernels once (numba loads each from its on-disk cache on its first call), reads the processes'
icons, gives the memory it freed and the library code only the loading ran back, and freezes
the garbage collector's view of what it loaded.  The module itself names what to load and how
to warm it: :mod:`processes.workflows.preprocess.worker` (every per-frame step and ImageIntegration),
:mod:`processes.debayer.worker` and :mod:`processes.staralignment.worker` (one process alone).
"""

from __future__ import annotations

import gc
import importlib
import logging
import math
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from procfw import collector

__all__ = ["load_cached_kernels_lightly", "load_numba_array_math", "preload", "read_icons", "run_warm_ups",
           "start_numba", "warm_fits"]

log = logging.getLogger(__name__)


def run_warm_ups(calls: Iterable[tuple[str, Callable[[], Any]]]) -> None:
    """Call each ``(name, call)``; a failure is logged (debug) and ignored: the first real task then loads it."""
    for name, call in calls:
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - a warm-up must never stop a worker
            log.debug("warm-up of %s failed: %s", name, exc)


def warm_fits(image: Any) -> None:
    """Write ``image`` as a frame and read it back (the registry of formats, the FITS writer and reader);
    a failure is logged (debug) and ignored."""
    from processes.common.filelists import write_frame
    from procfw.io import read_image

    try:
        with tempfile.TemporaryDirectory(prefix="procfw-warm-") as folder:
            path = Path(folder) / "warm.fits"
            write_frame(image, path)
            read_image(path)
    except Exception as exc:  # noqa: BLE001
        log.debug("warm-up of the FITS reader and writer failed: %s", exc)


def read_icons(process_ids: Iterable[str]) -> None:
    """Read the icon of each process of ``process_ids`` (default parameters) as a worker reads a task's.

    The first icon a process reads discovers the process registry's entry points
    (:mod:`procfw.entrypoints`) and imports the icon reader: ~0.05 s of CPU time, once here
    instead of in every worker's first task.  Failures are logged (debug) and ignored.
    """
    from processes.common.filelists import frame_icon, instance_from_icon
    from procfw.process import processes

    for process_id in process_ids:
        try:
            instance_from_icon(frame_icon(processes.get(process_id)()))
        except Exception as exc:  # noqa: BLE001 - a warm-up must never stop a worker
            log.debug("reading the icon of %s failed: %s", process_id, exc)


def _blas_found() -> None:
    """The answer numba's BLAS probe gets in :func:`load_numba_array_math`: scipy's BLAS is there (a dependency)."""


def load_numba_array_math() -> bool:
    """Import numba's array functions with its BLAS probe answered without importing ``scipy.linalg``; whether done.

    numba's first kernel loads ``numba.np.arraymath``, whose import probes for a BLAS by importing
    ``scipy.linalg.cython_blas``, and so all of ``scipy.linalg`` and its OpenBLAS (~0.14 s of CPU time and
    ~0.05 s of the fork server's ~0.7 s preload on the 2-core test machine, on the path to the first
    frame), which no kernel here uses.  scipy is a dependency of procfw, so the probe's answer is known:
    the module is imported with the probe answering yes, and numba's own probe put back afterwards (a
    kernel that did use BLAS would import ``scipy.linalg`` when compiled, as numba does).  Nothing is
    done where the module is already imported or numba has no such probe (numba probes as usual).
    Part of :func:`start_numba`.
    """
    if "numba.np.arraymath" in sys.modules:
        return False
    try:
        from numba.np import linalg
    except ImportError:
        return False
    probe = getattr(linalg, "ensure_blas", None)
    if not callable(probe):
        return False
    linalg.ensure_blas = _blas_found
    try:
        from numba.np import arraymath
    finally:
        linalg.ensure_blas = probe
    if getattr(arraymath, "ensure_blas", None) is _blas_found:
        arraymath.ensure_blas = probe
    return True


def load_cached_kernels_lightly() -> bool:
    """Let numba load kernels from its on-disk cache without loading its compiler's registries first; whether done.

    Before numba loads a cached kernel it refreshes its target context (``Cache.load_overload``), and the
    first refresh imports some 50 more of its modules (its implementations of Python's and numpy's functions,
    the typed containers, jitclass, the random generators…) and installs their implementations and typing
    templates: what compiling needs, not loading machine code, which needs only numba's runtime (NRT), still
    started here.  Skipping that refresh, the pool's preload takes ~0.07 s less CPU time and the workers start
    ~0.06 s sooner (0.78 → 0.71 s of CPU on the 2-core test machine, ``bench/bench_startup.py --cpu``).
    Compiling is unchanged: numba's compiler refreshes the contexts itself, so a kernel missing from the cache
    compiles as before; a load on another target, or one that fails this way, is left to numba's own method.
    Nothing is done where numba has no such method (numba loads as usual).  Part of :func:`start_numba`.
    """
    try:
        from numba.core import caching, cpu
        from numba.core.runtime import rtsys
    except ImportError:
        return False
    original = getattr(caching.Cache, "load_overload", None)
    if not callable(original) or not hasattr(caching.Cache, "_load_overload") or hasattr(original, "numba_method"):
        return False

    def load_overload(self: Any, sig: Any, target_context: Any) -> Any:
        if isinstance(target_context, cpu.CPUContext):
            try:
                rtsys.initialize(target_context)  # the runtime the cached machine code calls
                return self._load_overload(sig, target_context)
            except Exception:  # noqa: BLE001 - numba's own way below reports what is wrong
                log.debug("numba's cache: loading %s without the registries failed; loading it numba's way", sig)
        return original(self, sig, target_context)

    load_overload.numba_method = original  # type: ignore[attr-defined]
    caching.Cache.load_overload = load_overload
    return True


def start_numba() -> None:
    """Prepare this process to load the compiled kernels from numba's cache: its array functions without
    ``scipy.linalg`` (:func:`load_numba_array_math`), its cached kernels without its compiler's registries
    (:func:`load_cached_kernels_lightly`).  Called by :func:`preload`, and by a serial pre-processing run,
    whose kernels load in its own process."""
    load_numba_array_math()
    load_cached_kernels_lightly()


def preload(modules: Sequence[str], warm_kernels: Callable[[], object], process_ids: Sequence[str]) -> float:
    """Import ``modules``, call ``warm_kernels``, read the icons of ``process_ids``, give the freed memory and
    library pages back and freeze the GC; the seconds ``warm_kernels`` took (NaN when something failed).

    The garbage collector is off from the first import to the freeze: nearly every object
    made then is kept (modules, classes, numba's type registries), so the automatic
    collections their numbers trigger found almost nothing to free, yet took about a fifth
    of the preload's time (0.3–0.5 s of the fork server's ≈2 s, on the 2-core test machine),
    and so would one full collection before the freeze (0.15 s).  What is left unreachable
    (about 5,000 small objects, 1.5 MB: functions, tuples and dicts of the imports; no pixel
    buffers) is frozen with the rest: pages the workers share and never copy.  The memory the
    warm-up freed is given back (not copied into every worker), and so is LLVM's code, run only
    to load the kernels (:func:`procfw.batch.release_library_pages`: ~70 MB that the fork server
    would otherwise hold while the pool lives).  A failure (e.g. a module being edited) is logged
    and leaves the workers to load what they need themselves: a fork server must keep running.
    """
    with collector.paused():
        try:
            start_numba()
            for name in modules:
                importlib.import_module(name)
            start = time.perf_counter()
            warm_kernels()
            seconds = time.perf_counter() - start
            read_icons(process_ids)
            from procfw.batch import release_library_pages, release_memory

            release_memory()
            release_library_pages()
            gc.freeze()  # the objects loaded so far stay out of the workers' collections: their pages stay shared
        except Exception as exc:  # noqa: BLE001
            log.warning("the workers' preload failed: %s", exc)
            return math.nan
    return seconds

