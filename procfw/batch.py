"""The executor seam: one way to run a function over many items, serially, on every core, or on a cluster.

Work over many frames is a *module-level* function applied to a list of *simple* items —
strings, numbers, paths and dicts/lists of those, such as ``{"icon": <JSON icon text>,
"index": 3, "path": "lights/L_003.fits"}``; never arrays, never objects read from files —
so that the same call runs in this process, in a local process pool, or on the workers of
a dask.distributed cluster, and each worker reads and writes its own files::

    from procfw.batch import make_executor

    with make_executor("processes", task_memory=600 * 2**20) as executor:
        for index, outcome in executor.map_unordered(calibrate_one, items):
            if isinstance(outcome, BaseException):
                ...  # that item failed (outcome says why); the others go on
            else:
                ...  # outcome is the function's return value

Kinds (:func:`make_executor`):

``serial``
    In this process, one item after another (the default for a single process call
    from Python).
``processes``
    A local :class:`concurrent.futures.ProcessPoolExecutor`.  Its workers are forked from
    a *fork server* (``forkserver`` start method where the platform has it, else
    ``spawn``): a single-threaded process started from a fresh interpreter that imports
    the modules named in ``preload`` once — numpy, scipy, the task modules, and whatever
    those modules load at import — so that every worker starts with them already loaded
    (and shares their pages) instead of importing them again; no state of the calling
    process is inherited.  :func:`start_workers` starts the fork server ahead of time, so
    that its imports overlap with the caller's own work; the pool's workers are started
    (and take a no-op task each) as soon as the executor is made.  By default one worker
    per core, but no more than the available memory allows for ``task_memory`` bytes per
    task.  With more than one worker, each worker limits numba, OpenMP, OpenBLAS and MKL
    to one thread, so the workers do not oversubscribe the cores.
``dask``
    A :class:`distributed.Client` connected to the scheduler at ``scheduler`` (default:
    the environment variable :data:`SCHEDULER_ENV`, ``PROCFW_SCHEDULER``).  Needs the
    ``cluster`` extra (``pip install "procfw[cluster]"``); the workers need procfw and the
    same paths to the files (see docs/cluster.md).

Results come back as they complete, as ``(index, result)``; a failed item comes back as
``(index, exception)`` — in other processes a :class:`TaskError` that carries the original
exception's type, message and traceback text — and never stops the others.

:func:`use_executor` makes an executor the current one for a block of code
(:func:`current_executor`); per-frame processes such as ImageCalibration run their files
through it, and run serially when there is none.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import os
import re
import threading
import time
import traceback
import types
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import PurePath
from typing import Any

from procfw.errors import ProcfwError

__all__ = [
    "EXECUTOR_KINDS",
    "SCHEDULER_ENV",
    "THREAD_LIMIT_VARIABLES",
    "DaskExecutor",
    "Executor",
    "ProcessExecutor",
    "SerialExecutor",
    "TaskError",
    "available_cores",
    "available_memory",
    "current_executor",
    "describe_exception",
    "make_executor",
    "release_library_pages",
    "release_memory",
    "reuse_freed_memory",
    "start_workers",
    "task_threads",
    "stop_workers",
    "use_executor",
    "worker_count",
]

log = logging.getLogger(__name__)

EXECUTOR_KINDS = ("serial", "processes", "dask")
"""The kinds :func:`make_executor` knows."""

SCHEDULER_ENV = "PROCFW_SCHEDULER"
"""Environment variable holding the default dask scheduler address (``tcp://host:8786``)."""

THREAD_LIMIT_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""Set to 1 in worker processes when several workers share the cores."""

WORKER_WAIT_SECONDS = 30.0
"""How long a dask executor waits for the first worker to join the scheduler."""

_MAX_ITEM_DEPTH = 16


class TaskError(ProcfwError):
    """An item failed in another process: the original exception's type, message and traceback text.

    ``str(error)`` is the reason (:func:`describe_exception` of the original); ``kind`` is
    the original exception's qualified class name and ``details`` its traceback text.
    """

    def __init__(self, message: str, kind: str = "", details: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.details = details

    def __reduce__(self) -> tuple[Any, ...]:
        return (TaskError, (str(self), self.kind, self.details))


def describe_exception(exc: BaseException) -> str:
    """A one-line reason for a failure: a procfw error's message, an OS error's file and
    cause, otherwise the exception type and message."""
    if isinstance(exc, ProcfwError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename or ''}: {exc.strerror}".lstrip(": ")
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- resources ---------------------------------------------------------------------------------
def available_cores() -> int:
    """The number of cores this process may use: its CPU affinity where the platform tells,
    and no more than a cgroup CPU quota (``cpu.max`` in a container) allows."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as handle:
            quota, period = handle.read().split()[:2]
        if quota != "max" and int(period) > 0:
            cores = min(cores, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def task_threads(limit: int = 8) -> int:
    """Threads one task may use for its own compiled (GIL-free) work, at most ``limit``.

    1 in a worker process whose cores are shared with other workers (its
    ``OMP_NUM_THREADS`` is 1: :func:`start_workers` and the pools set it so), else the
    cores this process may use (:func:`available_cores`): a task run in the submitting
    process — a serial run — has the machine to itself.
    """
    if os.environ.get("OMP_NUM_THREADS", "").strip() == "1":
        return 1
    return max(1, min(int(limit), available_cores()))


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as handle:
            text = handle.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def available_memory() -> int | None:
    """Bytes of memory available to new work: the smaller of the system's available memory
    (``MemAvailable``) and what the cgroup memory limit leaves; None when unknown."""
    found: list[int] = []
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
                    break
    except (OSError, ValueError, IndexError):
        pass
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, ValueError, OSError):
            pass
    limit = _read_int("/sys/fs/cgroup/memory.max")
    if limit is not None:
        found.append(max(0, limit - (_read_int("/sys/fs/cgroup/memory.current") or 0)))
    return min(found) if found else None


def worker_count(workers: int | None = None, *, task_memory: int | None = None) -> int:
    """How many local worker processes to start.

    ``workers`` given: that many (a warning is logged when ``task_memory`` says they may
    not fit in memory).  Otherwise one per core, capped so that workers × ``task_memory``
    bytes stay within :func:`available_memory`; at least one.
    """
    if workers is not None:
        if workers < 1:
            raise ProcfwError(f"the number of workers must be 1 or more (got {workers})")
        fit = _memory_fit(task_memory)
        if fit is not None and workers > fit:
            log.warning("%d workers × %.0f MiB per task may not fit in the %.0f MiB of available memory",
                        workers, task_memory / 2**20, (available_memory() or 0) / 2**20)
        return workers
    cores = available_cores()
    fit = _memory_fit(task_memory)
    if fit is not None and fit < cores:
        log.info("using %d of %d cores: %.0f MiB per task, %.0f MiB available", max(fit, 1), cores,
                 task_memory / 2**20, (available_memory() or 0) / 2**20)
        return max(fit, 1)
    return cores


def _memory_fit(task_memory: int | None) -> int | None:
    if not task_memory or task_memory <= 0:
        return None
    memory = available_memory()
    return None if memory is None else int(memory // task_memory)


# -- what may be sent -------------------------------------------------------------------------------
def _check_function(fn: Callable[..., Any]) -> None:
    target = getattr(fn, "func", fn)  # functools.partial
    name = getattr(target, "__qualname__", "")
    owner = getattr(target, "__self__", None)
    bound = owner is not None and not isinstance(owner, (type, types.ModuleType))  # would carry its object along
    if not callable(fn) or not name or "<locals>" in name or "<lambda>" in name or bound:
        raise TypeError(f"an executor runs module-level functions (importable by name in a worker); got {fn!r}")


def _check_item(item: Any, where: str, depth: int = 0) -> None:
    if depth > _MAX_ITEM_DEPTH:
        raise TypeError(f"{where}: items nested deeper than {_MAX_ITEM_DEPTH}")
    if item is None or isinstance(item, (str, bool, int, float, PurePath)):
        return
    if isinstance(item, Mapping):
        for key, value in item.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where}: dictionary keys must be strings or integers, not {type(key).__name__}")
            _check_item(value, f"{where}[{key!r}]", depth + 1)
        return
    if isinstance(item, (list, tuple)):
        for i, value in enumerate(item):
            _check_item(value, f"{where}[{i}]", depth + 1)
        return
    raise TypeError(f"{where}: an executor item must be simple data (strings, numbers, paths, lists and dicts of "
                    f"those), not {type(item).__name__}; send file paths and icon text, never arrays or objects")


def _checked(fn: Callable[..., Any], items: Iterable[Any]) -> list[Any]:
    _check_function(fn)
    listed = list(items)
    for i, item in enumerate(listed):
        _check_item(item, f"item {i}")
    return listed


# -- in a worker ----------------------------------------------------------------------------------
def _init_worker(single_thread: bool, log_queue: Any = None, log_level: int = logging.WARNING) -> None:
    """Worker initializer: one thread for numba, OpenMP, OpenBLAS and MKL when several workers
    share the cores; log records go back to the parent process through ``log_queue``."""
    reuse_freed_memory()
    if single_thread:
        for name in THREAD_LIMIT_VARIABLES:
            os.environ[name] = "1"
    if log_queue is not None:
        import logging.handlers

        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        root.addHandler(logging.handlers.QueueHandler(log_queue))
        root.setLevel(log_level)


class _ParentLogHandler(logging.Handler):
    """Hands a worker's log record to the parent's logger of the same name (and its handlers)."""

    def emit(self, record: logging.LogRecord) -> None:
        logger = logging.getLogger(None if record.name == "root" else record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)


def _call(fn: Callable[[Any], Any], item: Any, single_thread: bool, origin_pid: int | None = None) -> Any:
    """Run ``fn(item)`` in a worker; a failure becomes a :class:`TaskError` (always picklable).

    In a worker *process* (not the submitting one: a threaded dask worker may run in it)
    that shares the cores with others, OpenMP/OpenBLAS/MKL are asked for one thread.
    NUMBA_NUM_THREADS is left alone here: numba refuses a change once its threads run,
    and procfw's kernels are single-threaded anyway (local workers get it at start).
    The memory the task freed is given back once the worker is idle (:class:`_IdleRelease`).
    """
    if os.getpid() != origin_pid:
        reuse_freed_memory()
    if single_thread and os.getpid() != origin_pid:
        for name in THREAD_LIMIT_VARIABLES:
            if name != "NUMBA_NUM_THREADS":
                os.environ.setdefault(name, "1")
    _IDLE_RELEASE.busy()
    try:
        return fn(item)
    except Exception as exc:
        kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
        raise TaskError(describe_exception(exc), kind, traceback.format_exc()) from None
    finally:
        _IDLE_RELEASE.idle()


IDLE_RELEASE_SECONDS = 0.2
"""How long a worker waits without a task before it gives its freed memory back (:class:`_IdleRelease`)."""


class _IdleRelease:
    """Gives the memory a worker's tasks freed back to the system once no task has run for ``delay`` seconds.

    Not after every task: a worker of a batch starts its next frame at once, and the pages
    it would give back are the ones that frame needs again — faulted in afresh (zeroed by the
    kernel), ~10,000 page faults and ~20 ms of system time for a registered 1080×1920 RGB
    frame.  The heap a worker keeps while busy is what its largest frame used (so its peak
    does not change); once idle (the batch done, a pool kept open) it holds about its
    modules only, as before.  A thread of its own, started with the first task, waits for
    the idle moment; a task that starts while it trims waits for the trim to end.
    """

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._reset()

    def _reset(self) -> None:
        """No task running, no thread (at start, and in a forked child: the parent's thread is not there)."""
        self._condition = threading.Condition()
        self._running = 0
        self._idle_since: float | None = None
        self._thread: threading.Thread | None = None

    def busy(self) -> None:
        """A task starts."""
        with self._condition:
            self._running += 1
            self._idle_since = None

    def idle(self) -> None:
        """A task ended: the memory goes back once no task has run for :attr:`delay` seconds."""
        with self._condition:
            self._running = max(0, self._running - 1)
            if self._running:
                return
            self._idle_since = time.monotonic()
            if self._thread is None:
                self._thread = threading.Thread(target=self._wait, name="procfw-idle-release", daemon=True)
                self._thread.start()
            self._condition.notify()

    def _wait(self) -> None:
        with self._condition:
            while True:
                if self._idle_since is None:
                    self._condition.wait()
                    continue
                left = self._idle_since + self.delay - time.monotonic()
                if left > 0:
                    self._condition.wait(left)
                    continue
                self._idle_since = None
                release_memory()


_IDLE_RELEASE = _IdleRelease(IDLE_RELEASE_SECONDS)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_IDLE_RELEASE._reset)  # noqa: SLF001 - its own module


_LIBC: list[Any] = []


def _libc() -> Any:
    """The process's own C library through ctypes (None off POSIX or when it cannot be loaded)."""
    if not _LIBC:
        libc = None
        if os.name == "posix":
            with contextlib.suppress(Exception):
                import ctypes

                libc = ctypes.CDLL(None)
        _LIBC.append(libc)
    return _LIBC[0]


def release_memory() -> None:
    """Give the memory freed by the last task back to the system (glibc's ``malloc_trim``; elsewhere nothing).

    glibc keeps freed heap memory for reuse (see :func:`reuse_freed_memory`), so after a
    frame's buffers are freed a worker would go on holding them (an idle worker the size of
    its largest task).  Workers call this once they are idle (:class:`_IdleRelease`), so that
    between batches a worker holds about its modules only.
    """
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)


_MADV_DONTNEED = 4  # Linux's madvise advice (the same value on every architecture)
_SHARED_OBJECT = re.compile(r"\.so(\.[0-9.]+)?$")


def _clean_library_mappings(smaps: Iterable[str]) -> Iterator[tuple[int, int, int]]:
    """``(start, end, resident kB)`` of each mapping in ``smaps`` (the text of ``/proc/PID/smaps``)
    of a shared library that is not writable and holds no private (copied-on-write) page."""
    header: tuple[int, int, bool] | None = None
    rss = 0
    for line in smaps:
        first, _, rest = line.partition(" ")
        if not first.endswith(":"):  # a mapping's header: start-end perms offset dev inode [path]
            fields = rest.split(maxsplit=4)
            start, _, end = first.partition("-")
            candidate = len(fields) == 5 and "w" not in fields[0] and bool(_SHARED_OBJECT.search(fields[4].rstrip()))
            header = (int(start, 16), int(end, 16), candidate)
        elif first == "Rss:":
            rss = int(rest.split()[0])
        elif first == "Anonymous:" and header is not None:
            if header[2] and rss and not int(rest.split()[0]):
                yield header[0], header[1], rss
            header = None


def release_library_pages() -> int:
    """Unmap from this process the pages of shared libraries it read but does not write (kB released).

    Loading numba's compiled kernels runs much of LLVM (``libllvmlite.so``) once: ~70 MB of
    its code, never run again once the kernels are loaded, that would stay in this process's
    memory (and in its PSS) while it lives.  ``madvise(MADV_DONTNEED)`` on every read-only
    mapping of a shared library with no page copied-on-write takes those pages out of this
    process (they stay in the page cache, and a page used again is mapped again from there,
    the same contents); writable mappings, relocated (copied) ones, anonymous memory and mapped
    data files are left alone.  Linux only (elsewhere nothing is done: 0).
    """
    madvise = getattr(_libc(), "madvise", None)
    if madvise is None or not os.path.exists("/proc/self/smaps"):
        return 0
    import ctypes

    madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    with open("/proc/self/smaps", encoding="ascii", errors="replace") as handle:
        mappings = list(_clean_library_mappings(handle))
    return sum(rss for start, end, rss in mappings if madvise(start, end - start, _MADV_DONTNEED) == 0)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8  # glibc's mallopt parameters (malloc.h)
REUSED_BLOCK_BYTES = 32 * 2**20
"""Blocks up to this size come from the heap and are reused once freed (glibc's largest mmap threshold)."""
KEPT_FREE_BYTES = 512 * 2**20
"""Freed heap memory kept for reuse, at most, before glibc gives it back to the system."""


def reuse_freed_memory() -> bool:
    """Let glibc's malloc reuse freed image-sized blocks instead of unmapping them, in one heap (True if set).

    By default glibc maps big blocks on their own and unmaps them when freed, and trims the
    heap's free top, so each new frame-sized temporary is page-faulted in afresh (zeroed by the kernel):
    on a 12-frame pre-processing run, ~150,000 page faults and ~2 s of system time.  Blocks
    up to :data:`REUSED_BLOCK_BYTES` are served from the heap instead, and up to
    :data:`KEPT_FREE_BYTES` of freed heap stay mapped for the next ones; peak memory is
    unchanged (what is kept was in use just before).

    Every thread then allocates from the one main heap (glibc's ``M_ARENA_MAX`` of 1), so that
    :func:`release_memory` can give back what threads freed: glibc gives other threads arenas
    of their own, and ``malloc_trim`` leaves an arena's free top in memory, which such an arena
    gives back only past the trim threshold (:data:`KEPT_FREE_BYTES`), i.e. never.  In the
    console of a pre-processing run the frame statistics' threads, the integration's reader
    and the kernels' warm-up thread left ~50-70 MB so held through the integration.  Threads
    that allocate big blocks rarely (numpy arrays, compiled kernels that release the GIL)
    hardly ever wait on the one heap's lock.

    Off glibc, nothing is done.  The environment variables ``MALLOC_MMAP_THRESHOLD_``,
    ``MALLOC_TRIM_THRESHOLD_`` and ``MALLOC_ARENA_MAX``, when set, win.  The ``procfw`` command
    and local workers call this at start, before starting threads (a thread that already has
    an arena keeps it).
    """
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:
        return False
    done = True
    for variable, parameter, value in (("MALLOC_MMAP_THRESHOLD_", _M_MMAP_THRESHOLD, REUSED_BLOCK_BYTES),
                                       ("MALLOC_TRIM_THRESHOLD_", _M_TRIM_THRESHOLD, KEPT_FREE_BYTES),
                                       ("MALLOC_ARENA_MAX", _M_ARENA_MAX, 1)):
        if variable not in os.environ:
            done = bool(mallopt(parameter, value)) and done
    return done


# -- executors ------------------------------------------------------------------------------------
class Executor:
    """Runs a module-level function over simple items; results as they complete.

    ``kind`` is ``serial``, ``processes`` or ``dask``; ``workers`` how many items can run at
    once.  Use as a context manager, or call :meth:`close`.
    """

    kind: str = ""
    workers: int = 1

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(items[index]))`` as items complete, or ``(index, exception)`` for a failure.

        ``fn`` must be a module-level function and every item simple data (see the module
        docstring); TypeError otherwise, before anything runs.  Leaving the loop early
        cancels the items that have not started.
        """
        raise NotImplementedError

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """``fn`` over ``items``, results (or exceptions) in input order."""
        listed = list(items)
        out: list[Any] = [None] * len(listed)
        for index, outcome in self.map_unordered(fn, listed):
            out[index] = outcome
        return out

    def release_idle_memory(self) -> None:
        """Ask a worker that has nothing more to do to give back now the memory its tasks freed,
        instead of once its idle delay has passed (:data:`IDLE_RELEASE_SECONDS`); not waited for.

        For a caller about to need memory itself while the last items of a map still run.  Here: nothing.
        """

    def close(self) -> None:
        """Release the workers (idempotent)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} kind={self.kind} workers={self.workers}>"


class SerialExecutor(Executor):
    """Runs every item in this process, in order."""

    kind = "serial"

    def __init__(self) -> None:
        self.workers = 1

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[tuple[int, Any]]:
        listed = _checked(fn, items)

        def run() -> Iterator[tuple[int, Any]]:
            for index, item in enumerate(listed):
                try:
                    outcome = fn(item)
                except Exception as exc:  # noqa: BLE001 - reported to the caller, the others go on
                    outcome = exc
                yield index, outcome

        return run()


def _noop() -> None:
    """The task that starts each worker of a new pool (so that workers start before real work)."""


def _give_back_memory(_item: Any = None) -> None:
    """The task :meth:`ProcessExecutor.release_idle_memory` sends: :func:`release_memory` in the worker taking it."""
    release_memory()


def import_modules(names: Iterable[str]) -> list[str]:
    """Import the modules ``names`` here (a worker's preload); those that could be imported.

    One that cannot be imported is skipped (logged at debug level): the tasks then import
    what they need themselves, and report their own errors.
    """
    import importlib

    done = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a preload must never fail a worker
            log.debug("preload of %s failed: %s", name, exc)
        else:
            done.append(name)
    return done


SAFE_PATH_MARK = "PROCFW_FORKSERVER_SAFE_PATH"
"""Set with ``PYTHONSAFEPATH`` for the fork server's start only, so that it drops both again
(:mod:`procfw.forkserver_exit`): its workers' own subprocesses see the user's environment."""
_FORKSERVER_LOCK = threading.Lock()
_FORKSERVER_PRELOAD: tuple[str, ...] | None = None
"""What the running fork server was started with (None: not started by :func:`start_workers`)."""


def _start_method() -> str:
    import multiprocessing

    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def start_workers(preload: Iterable[str] = (), *, single_thread: bool = True) -> bool:
    """Start the fork server of local process pools now, importing the modules ``preload``.

    Returns at once: the fork server (one per calling process, shared by every
    :class:`ProcessExecutor` it makes) imports the modules while the caller goes on, and
    the first pool forks its workers from it when the imports are done.  ``preload``
    names importable modules (``"numpy"``, ``"mypackage.tasks"``); one that cannot be
    imported is skipped.  ``single_thread``: the server (and so every worker) limits
    numba, OpenMP, OpenBLAS and MKL to one thread (several workers share the cores) —
    set before those libraries load, which is the only time it takes effect.

    The fork server imports :mod:`procfw.forkserver_exit` first, so that when it is
    stopped it exits at once instead of tearing its interpreter down object by object.

    A fork server that is already running is kept as it is (its modules and thread limits
    stay those it was started with) when it preloaded every module of ``preload``, or while
    a pool of this process is open (its workers report through it).  Otherwise it is stopped
    and a new one preloads its modules and ``preload``: processes that name different modules
    (a session running Debayer over files, then StarAlignment, then ``preprocess``) each find
    theirs loaded, and a later pool of any of them reuses the server.  Returns False where the
    platform has no fork server (Windows: pools then start fresh ``spawn`` interpreters).
    """
    global _FORKSERVER_PRELOAD

    if _start_method() != "forkserver":
        return False
    import multiprocessing
    from multiprocessing import forkserver

    # procfw.forkserver_exit first: the fork server's own exit skips the interpreter's teardown
    modules = tuple(dict.fromkeys(["procfw.forkserver_exit", "procfw.batch", *(str(m) for m in preload)]))
    with _FORKSERVER_LOCK:
        server = forkserver._forkserver  # type: ignore[attr-defined]  # the stdlib's per-process singleton
        running = _FORKSERVER_PRELOAD if getattr(server, "_forkserver_pid", None) is not None else None
        if running is not None:
            if set(modules) <= set(running) or not _stop_server():
                return True
            modules = tuple(dict.fromkeys([*running, *modules]))  # the union: both kinds of pool find theirs
        multiprocessing.get_context("forkserver").set_forkserver_preload(list(modules))
        saved = {name: os.environ.get(name) for name in (*THREAD_LIMIT_VARIABLES, "PYTHONSAFEPATH", SAFE_PATH_MARK)}
        try:
            if single_thread:
                for name in THREAD_LIMIT_VARIABLES:
                    os.environ[name] = "1"
            if saved["PYTHONSAFEPATH"] is None:
                # the server is a `python -c` process: without it the working directory would come first on
                # its module path, and a `numpy/` or `procfw/` folder there would be imported (Python >= 3.11)
                os.environ["PYTHONSAFEPATH"] = os.environ[SAFE_PATH_MARK] = "1"
            forkserver.ensure_running()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        _FORKSERVER_PRELOAD = modules
    log.debug("fork server started, preloading %s", ", ".join(modules))
    return True


def stop_workers() -> bool:
    """Stop the fork server of local process pools (its memory goes back to the system); True if stopped.

    Only when no :class:`ProcessExecutor` of this process is open (a pool's workers report
    to it through the fork server): otherwise nothing is done and False is returned.  A
    pool made later starts a fork server again (with the same ``preload``).
    """
    if _start_method() != "forkserver":
        return False
    with _FORKSERVER_LOCK:
        return _stop_server()


def _stop_server() -> bool:
    """:func:`stop_workers`' work, the lock held: stop the fork server unless a pool is open; True if stopped."""
    global _FORKSERVER_PRELOAD
    from multiprocessing import forkserver

    if _OPEN_POOLS:
        return False
    server = forkserver._forkserver  # type: ignore[attr-defined]
    stop = getattr(server, "_stop", None)  # CPython's own way to stop it (3.8 and later)
    if stop is None or getattr(server, "_forkserver_pid", None) is None:
        return False
    with contextlib.suppress(OSError):
        stop()
    _FORKSERVER_PRELOAD = None
    return True


_OPEN_POOLS: weakref.WeakSet[Any] = weakref.WeakSet()
"""The process executors of this process whose pools are open."""


class ProcessExecutor(Executor):
    """A local pool of ``workers`` processes, forked from the fork server (see :func:`start_workers`).

    ``preload``: modules the fork server imports once for all workers (used only when
    this executor starts the fork server).  The workers start at once, each with a no-op
    task.
    """

    kind = "processes"

    def __init__(self, workers: int, preload: Iterable[str] = ()) -> None:
        self.workers = workers
        self.single_thread = workers > 1
        self.preload = tuple(preload)
        self._broken = False
        self._log_queue: Any = None
        self._listener: Any = None
        self._pool: Any = self._new_pool()

    def _new_pool(self) -> Any:
        import logging.handlers
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        method = _start_method()
        if method == "forkserver":
            start_workers(self.preload, single_thread=self.single_thread)
        context = multiprocessing.get_context(method)
        if self._listener is None:
            self._log_queue = context.Queue()
            self._listener = logging.handlers.QueueListener(self._log_queue, _ParentLogHandler())
            self._listener.start()
        level = min(logging.getLogger(name).getEffectiveLevel() for name in (None, "procfw", "processes"))
        pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=context, initializer=_init_worker,
            initargs=(self.single_thread, self._log_queue, level),
        )
        for _ in range(self.workers):  # starts every worker now (a pool otherwise starts them on demand)
            pool.submit(_noop)
        _OPEN_POOLS.add(self)
        return pool

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[tuple[int, Any]]:
        listed = _checked(fn, items)
        if self._pool is None:
            raise ProcfwError("this executor is closed")
        if self._broken:  # a worker died in an earlier map: start afresh
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            self._broken = False
        pool = self._pool

        def run() -> Iterator[tuple[int, Any]]:
            from concurrent.futures import as_completed

            futures = {pool.submit(_call, fn, item, self.single_thread): i for i, item in enumerate(listed)}
            try:
                for future in as_completed(futures):
                    try:
                        outcome = future.result()
                    except Exception as exc:  # noqa: BLE001 - a failed item (or a dead worker) is reported
                        outcome = _worker_failure(exc)
                        if isinstance(outcome, TaskError) and outcome is not exc:
                            self._broken = True
                    yield futures[future], outcome
            finally:
                for future in futures:
                    future.cancel()

        return run()

    def release_idle_memory(self) -> None:
        """One task that gives its worker's freed memory back (:func:`release_memory`), queued after
        every item already submitted: the next worker to be free — an idle one, at a map's tail —
        runs it at once."""
        if self._pool is not None and not self._broken:
            self._pool.submit(_call, _give_back_memory, None, self.single_thread)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        _OPEN_POOLS.discard(self)
        if self._listener is not None:
            self._listener.stop()  # after the workers: their last records are handled
            self._listener = None
            self._log_queue.close()
            self._log_queue.join_thread()


def _worker_failure(exc: BaseException) -> BaseException:
    from concurrent.futures.process import BrokenProcessPool

    if isinstance(exc, BrokenProcessPool):
        return TaskError("a worker process stopped unexpectedly (out of memory? then fewer workers use less: "
                         "-workers=N; a Python script that starts workers needs `if __name__ == \"__main__\":`)",
                         type(exc).__qualname__, str(exc))
    return exc


class DaskExecutor(Executor):
    """Items run as tasks on a dask.distributed cluster, through a :class:`distributed.Client`.

    ``scheduler`` is the scheduler address (``tcp://host:8786``) or an existing Client
    (then :meth:`close` leaves it open).  ``preload``: modules each worker present now
    imports first, as one task of its own (:func:`import_modules`), so that the imports run
    while the caller is still planning instead of inside the first real tasks; a worker
    that joins later imports what it needs on demand.
    """

    kind = "dask"

    def __init__(self, scheduler: Any = None, preload: Iterable[str] = ()) -> None:
        distributed = _import_distributed()
        self._owned = not isinstance(scheduler, distributed.Client)
        if self._owned:
            address = str(scheduler or "").strip() or os.environ.get(SCHEDULER_ENV, "").strip()
            if not address:
                raise ProcfwError(
                    "the dask executor needs the address of a dask scheduler: give -scheduler=tcp://HOST:8786 "
                    f"(Python: scheduler=...) or set the environment variable {SCHEDULER_ENV}"
                )
            try:
                client = distributed.Client(address, timeout="10s", set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise ProcfwError(f"cannot connect to the dask scheduler at {address}: {exc}") from None
            self.address = address
        else:
            client = scheduler
            self.address = str(getattr(client.scheduler, "address", ""))
        self.client: Any = client
        try:
            self.workers = self._threads()
            if self.workers == 0:
                try:
                    client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
                except (TimeoutError, OSError) as exc:
                    raise ProcfwError(f"no dask worker joined the scheduler at {self.address} within "
                                      f"{WORKER_WAIT_SECONDS:.0f} s ({exc}); start some: dask worker {self.address}"
                                      ) from None
                self.workers = max(self._threads(), 1)
            self._preload(tuple(str(m) for m in preload))
        except BaseException:
            self.close()
            raise

    def _preload(self, modules: tuple[str, ...]) -> None:
        """One :func:`import_modules` task on each worker present (not waited for)."""
        if not modules:
            return
        batch = uuid.uuid4().hex[:12]
        self._preloads = [  # kept: a future dropped at once may be forgotten before it runs
            self.client.submit(import_modules, modules, workers=[address], allow_other_workers=False, pure=False,
                               key=f"procfw-preload-{batch}-{address}")
            for address in self.client.scheduler_info().get("workers", {})]

    def _threads(self) -> int:
        info = self.client.scheduler_info()
        return int(sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[tuple[int, Any]]:
        listed = _checked(fn, items)
        if self.client is None:
            raise ProcfwError("this executor is closed")
        client = self.client

        def run() -> Iterator[tuple[int, Any]]:
            from distributed import as_completed

            batch = uuid.uuid4().hex[:12]
            name = getattr(getattr(fn, "func", fn), "__name__", "task")
            futures = [client.submit(_call, fn, item, True, os.getpid(), key=f"procfw-{name}-{batch}-{i}", pure=False)
                       for i, item in enumerate(listed)]
            index = {future.key: i for i, future in enumerate(futures)}
            try:
                for future in as_completed(futures, loop=client.loop):
                    try:
                        outcome = future.result()
                    except Exception as exc:  # noqa: BLE001 - a failed task is reported, the others go on
                        outcome = exc
                    yield index[future.key], outcome
            finally:
                pending = [f for f in futures if not f.done()]
                if pending:
                    client.cancel(pending)
                for future in futures:
                    future.release()

        return run()

    def close(self) -> None:
        for future in getattr(self, "_preloads", ()):
            with contextlib.suppress(Exception):
                future.release()
        self._preloads = []
        if self.client is not None and self._owned:
            with contextlib.suppress(Exception):
                self.client.close()
        self.client = None


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ProcfwError(
            'the dask executor needs dask.distributed, which is not installed: pip install "procfw[cluster]"'
        ) from None
    return distributed


def make_executor(
    kind: str = "processes", *, workers: int | None = None, scheduler: Any = None, task_memory: int | None = None,
    preload: Iterable[str] = (),
) -> Executor:
    """An executor of ``kind`` (``serial``, ``processes`` or ``dask``; see the module docstring).

    ``workers``: local processes (default: every core, capped by memory when
    ``task_memory``, the caller's estimate of one task's peak bytes, is given).
    ``scheduler``: the dask scheduler address (default ``$PROCFW_SCHEDULER``) or a
    :class:`distributed.Client`.  ``preload``: modules a local pool's fork server imports
    for all its workers (:func:`start_workers`), or that each dask worker imports first.
    A ``processes`` executor of one worker still runs in a worker process; ask for
    ``serial`` to stay in this process.
    """
    chosen = str(kind).strip().lower()
    if chosen == "serial":
        return SerialExecutor()
    if chosen == "processes":
        return ProcessExecutor(worker_count(workers, task_memory=task_memory), preload)
    if chosen == "dask":
        return DaskExecutor(scheduler, preload)
    raise ProcfwError(f"unknown executor kind {kind!r}; use one of {', '.join(EXECUTOR_KINDS)}")


# -- the current executor --------------------------------------------------------------------------
_CURRENT: contextvars.ContextVar[Executor | None] = contextvars.ContextVar("procfw_executor", default=None)


def current_executor() -> Executor | None:
    """The executor set by the innermost :func:`use_executor` block, or None (run serially)."""
    return _CURRENT.get()


@contextlib.contextmanager
def use_executor(executor: Executor | None) -> Iterator[Executor | None]:
    """Make ``executor`` the current one inside the block (None: serial); it is not closed on exit."""
    token = _CURRENT.set(executor)
    try:
        yield executor
    finally:
        _CURRENT.reset(token)

