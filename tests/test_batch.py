"""procfw.batch: the executor seam (serial, local process pool, dask), its checks and its clear errors."""

from __future__ import annotations

import copy
import logging
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from procfw import batch
from procfw.batch import (
    SCHEDULER_ENV,
    TaskError,
    current_executor,
    describe_exception,
    make_executor,
    use_executor,
    worker_count,
)
from procfw.errors import ImageFileError, ProcfwError


def _collect(executor: batch.Executor, fn, items) -> dict[int, object]:
    return dict(executor.map_unordered(fn, items))


def test_serial_runs_in_order_and_reports_failures_without_stopping() -> None:
    with make_executor("serial") as executor:
        assert executor.kind == "serial" and executor.workers == 1
        pairs = list(executor.map_unordered(math.sqrt, [4.0, -1.0, 9.0]))
    assert [i for i, _ in pairs] == [0, 1, 2]
    assert pairs[0][1] == 2.0 and pairs[2][1] == 3.0
    assert isinstance(pairs[1][1], ValueError)  # the original exception, in this process
    assert describe_exception(pairs[1][1]) == "ValueError: math domain error"


def test_process_pool_yields_as_items_complete_with_failures_as_task_errors() -> None:
    with make_executor("processes", workers=2) as executor:
        assert executor.kind == "processes" and executor.workers == 2
        # the first item sleeps: the second (instant) one completes first
        order = [i for i, _ in executor.map_unordered(time.sleep, [1.5, 0.0])]
        assert order == [1, 0]
        results = _collect(executor, math.sqrt, [16.0, -1.0, 25.0])
        assert results[0] == 4.0 and results[2] == 5.0
        failure = results[1]
        assert isinstance(failure, TaskError) and isinstance(failure, ProcfwError)
        assert str(failure) == "ValueError: math domain error"
        assert failure.kind == "builtins.ValueError" and "Traceback" in failure.details
        # several workers: each limited to one thread (no oversubscription)
        limits = _collect(executor, os.getenv, list(batch.THREAD_LIMIT_VARIABLES))
        assert set(limits.values()) == {"1"}
        assert executor.map(abs, [-3, 4]) == [3, 4]
    with pytest.raises(ProcfwError, match="closed"):
        executor.map_unordered(abs, [1])


def test_worker_log_records_reach_the_parent(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    with make_executor("processes", workers=1) as executor:
        assert executor.map(logging.warning, ["a warning from a worker"]) == [None]
    assert "a warning from a worker" in caplog.messages


def test_task_error_survives_the_trip_between_processes() -> None:
    original = ImageFileError("/data/x.fits", "truncated")  # its __init__ takes two arguments
    error = TaskError(describe_exception(original), "procfw.errors.ImageFileError", "tb")
    clone = copy.deepcopy(error)  # uses __reduce__, as pickling does
    assert (str(clone), clone.kind, clone.details) == ("/data/x.fits: truncated", "procfw.errors.ImageFileError", "tb")
    assert describe_exception(FileNotFoundError(2, "No such file or directory", "a.fits")) == \
        "a.fits: No such file or directory"


def test_only_module_level_functions_and_simple_items_are_accepted() -> None:
    with make_executor("serial") as executor:
        with pytest.raises(TypeError, match="module-level"):
            executor.map_unordered(lambda x: x, [1])

        def local(x: int) -> int:
            return x

        with pytest.raises(TypeError, match="module-level"):
            executor.map_unordered(local, [1])
        with pytest.raises(TypeError, match="module-level"):  # a bound method would send its object
            executor.map_unordered(np.zeros(3).sum, [1])
        with pytest.raises(TypeError, match=r"item 1.*not ndarray.*never arrays"):
            executor.map_unordered(str, ["a", np.zeros(3)])
        with pytest.raises(TypeError, match=r"item 0\['frame'\]"):
            executor.map_unordered(str, [{"frame": object()}])
        ok = dict(executor.map_unordered(len, [{"icon": "{}", "index": 1, "path": "a.fits", "options": {}}]))
        assert ok == {0: 4}


def test_unknown_kind_and_bad_worker_counts() -> None:
    with pytest.raises(ProcfwError, match="unknown executor kind 'threads'; use one of serial, processes, dask"):
        make_executor("threads")
    with pytest.raises(ProcfwError, match="1 or more"):
        make_executor("processes", workers=0)


def test_default_workers_are_all_cores_capped_by_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "available_cores", lambda: 16)
    monkeypatch.setattr(batch, "available_memory", lambda: 8 * 2**30)
    assert worker_count() == 16
    assert worker_count(task_memory=2**30) == 8  # 8 GiB available, 1 GiB per task
    assert worker_count(task_memory=100 * 2**30) == 1  # never fewer than one
    assert worker_count(task_memory=2**20) == 16  # never more than the cores
    assert worker_count(3, task_memory=2**30) == 3  # an explicit count is kept
    monkeypatch.setattr(batch, "available_memory", lambda: None)
    assert worker_count(task_memory=2**30) == 16  # unknown memory: no cap
    assert batch.available_cores() >= 1


def test_available_memory_is_known_here() -> None:
    memory = batch.available_memory()
    assert memory is None or memory > 0


def test_use_executor_sets_the_current_one() -> None:
    assert current_executor() is None
    with make_executor("serial") as executor, use_executor(executor):
        assert current_executor() is executor
        with use_executor(None):
            assert current_executor() is None
        assert current_executor() is executor
    assert current_executor() is None


def test_dask_without_distributed_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` now raises ImportError
    with pytest.raises(ProcfwError, match=r'pip install "procfw\[cluster\]"'):
        make_executor("dask", scheduler="tcp://127.0.0.1:8786")


def test_dask_without_an_address_says_where_to_give_one(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("distributed")
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    with pytest.raises(ProcfwError, match=r"-scheduler=tcp://HOST:8786.*PROCFW_SCHEDULER"):
        make_executor("dask")


def test_dask_runs_items_on_a_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:  # in this process: quick to start
        monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_address)
        with make_executor("dask") as executor:  # the address from PROCFW_SCHEDULER
            assert executor.kind == "dask" and executor.workers == 2
            results = _collect(executor, math.sqrt, [4.0, -1.0])
            assert results[0] == 2.0
            assert isinstance(results[1], TaskError) and str(results[1]) == "ValueError: math domain error"
        with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
            with make_executor("dask", scheduler=client) as executor:  # an existing client stays open
                assert executor.map(abs, [-1, -2, 3]) == [1, 2, 3]
            assert client.status == "running"


def _imported(name: str) -> bool:
    return name in sys.modules


def _add_to_path(folder: str) -> None:
    sys.path.insert(0, folder)


def test_dask_workers_import_the_preload_first(tmp_path: Path) -> None:
    """Each worker present imports the preload modules as a task of its own, before the
    real tasks (a module missing there is skipped); the import is not left to the first task."""
    distributed = pytest.importorskip("distributed")
    module = tmp_path / "procfw_preload_probe.py"
    module.write_text("LOADED = True\n")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        client.run(_add_to_path, str(tmp_path))
        assert client.submit(_imported, "procfw_preload_probe", pure=False).result() is False
        with make_executor("dask", scheduler=client,
                           preload=["procfw_preload_probe", "no_such_module_here"]) as executor:
            assert executor.map(_imported, ["procfw_preload_probe"]) == [True]
        assert batch.import_modules(["json", "no_such_module_here"]) == ["json"]


_FORK_SERVER_SCRIPT = """
import sys
from procfw import batch

def modules(_):
    return "xml.dom.minidom" in sys.modules, "procfw.batch" in sys.modules, "procfw.forkserver_exit" in sys.modules

if __name__ == "__main__":
    assert batch.start_workers(["xml.dom.minidom", "no_such_module_here"]) is True
    assert "xml.dom.minidom" not in sys.modules  # imported by the fork server, not here
    with batch.make_executor("processes", workers=2) as executor:
        assert executor.map(modules, [0, 1]) == [(True, True, True), (True, True, True)]
        assert "procfw.forkserver_exit" not in sys.modules  # the fork server's quick exit only
        assert batch.stop_workers() is False  # a pool is open: its workers report through the server
        assert executor.map(abs, [-3, -4]) == [3, 4]
    assert batch.stop_workers() is True
    with batch.make_executor("processes", workers=1) as executor:  # a fork server starts again
        assert executor.map(abs, [-2]) == [2]
    assert batch.stop_workers() is True
    print("ok")
"""


@pytest.mark.skipif(sys.platform == "win32", reason="no fork server on Windows")
def test_workers_fork_from_a_server_that_preloads_modules(tmp_path) -> None:
    script = tmp_path / "pool.py"
    script.write_text(_FORK_SERVER_SCRIPT)

    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "ok"


_UNION_SCRIPT = """
import os, sys
from procfw import batch

def state(_):
    return os.getppid(), "xml.dom.minidom" in sys.modules, "json.decoder" in sys.modules

if __name__ == "__main__":
    assert batch.start_workers(["xml.dom.minidom"]) is True
    with batch.make_executor("processes", workers=1) as executor:
        (server, dom, decoder), = executor.map(state, [0])
    assert (dom, decoder) == (True, False)
    with batch.make_executor("processes", workers=1, preload=["json.decoder"]) as executor:
        (second, dom, decoder), = executor.map(state, [0])
        # while a pool is open its server stays: a third preload is not loaded
        with batch.make_executor("processes", workers=1, preload=["xml.sax"]) as inner:
            (third, _, _), = inner.map(state, [0])
    assert second != server and (dom, decoder) == (True, True)  # a new server preloads both
    assert third == second
    with batch.make_executor("processes", workers=1, preload=["xml.dom.minidom"]) as executor:
        (fourth, _, _), = executor.map(state, [0])
    assert fourth == second  # every module preloaded already: the server is kept
    assert batch.stop_workers() is True
    print("ok")
"""


@pytest.mark.skipif(sys.platform == "win32", reason="no fork server on Windows")
def test_a_pool_naming_other_modules_gets_a_server_that_preloads_them_too(tmp_path) -> None:
    """A fork server started for one process's modules is replaced, when no pool is open, by one that
    preloads those and a later pool's (a session running Debayer, then StarAlignment, then preprocess),
    and kept when it preloaded them already or while a pool is open."""
    script = tmp_path / "union.py"
    script.write_text(_UNION_SCRIPT)

    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "ok"


_SHADOW_SCRIPT = """
import os
from procfw import batch

if __name__ == "__main__":
    assert batch.start_workers(["shadow_probe"]) is True
    with batch.make_executor("processes", workers=1) as executor:
        print(executor.map(os.getenv, ["PYTHONSAFEPATH", "PROCFW_FORKSERVER_SAFE_PATH"]))
    print(os.getenv("PYTHONSAFEPATH"), os.getenv("PROCFW_FORKSERVER_SAFE_PATH"))
"""


@pytest.mark.skipif(sys.platform == "win32" or sys.version_info < (3, 11),
                    reason="no fork server on Windows; PYTHONSAFEPATH is Python 3.11's")
def test_the_fork_server_does_not_import_from_the_working_directory(tmp_path) -> None:
    """The fork server is a ``python -c`` process: its module path would start with the working
    directory, so a module there (a stray ``numpy/`` folder, or anything planted) would be
    imported by every pool instead of the real one.  It starts without it; neither the workers
    nor the caller keep the variables that did it."""

    marker = tmp_path / "imported"
    (tmp_path / "shadow_probe.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    script = tmp_path / "pool.py"
    script.write_text(_SHADOW_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSAFEPATH"}
    done = subprocess.run([sys.executable, "pool.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not marker.exists(), "the fork server imported a module from the working directory"
    assert done.stdout.split("\n")[:2] == ["[None, None]", "None None"], done.stdout


_QUICK_EXIT_SCRIPT = """
import atexit, sys
import procfw.forkserver_exit

class Teardown:
    def __del__(self):
        print("torn down")

KEPT = Teardown()  # freed only by the interpreter's teardown
atexit.register(print, "later handler ran")  # registered after the module: runs before its exit
print("unflushed", end="")
raise SystemExit(3)
"""


def test_the_fork_server_exits_without_the_interpreters_teardown(tmp_path) -> None:
    """procfw.forkserver_exit (the fork server's preload, first): at exit the handlers registered after it
    run, the streams are flushed, and the process ends there (status 0), skipping the teardown."""

    script = tmp_path / "quick.py"
    script.write_text(_QUICK_EXIT_SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == "unflushedlater handler ran\n"
    plain = subprocess.run([sys.executable, "-c", _QUICK_EXIT_SCRIPT.replace("import procfw.forkserver_exit", "")],
                           capture_output=True, text=True, timeout=120)
    assert plain.returncode == 3 and "torn down" in plain.stdout  # what the module skips


def test_release_memory_is_harmless_anywhere() -> None:
    batch.release_memory()
    batch.release_memory()
    assert isinstance(batch._LIBC, list) and len(batch._LIBC) == 1



def test_a_worker_gives_its_freed_memory_back_once_idle_not_after_each_task(monkeypatch: pytest.MonkeyPatch) -> None:
    """Back-to-back tasks keep the heap their frames freed (the next frame reuses it without page
    faults); the memory goes back once no task has run for the idle delay."""
    released: list[int] = []
    monkeypatch.setattr(batch, "release_memory", lambda: released.append(1))
    monkeypatch.setattr(batch, "_IDLE_RELEASE", batch._IdleRelease(3600.0))
    assert batch._call(math.sqrt, 4.0, True, None) == 2.0
    assert batch._call(math.sqrt, 9.0, True, None) == 3.0
    assert not released  # not after each task

    idle = batch._IdleRelease(0.05)
    idle.busy()
    idle.busy()  # two tasks at once (a threaded dask worker)
    idle.idle()
    time.sleep(0.2)
    assert not released  # one task still runs
    idle.idle()
    deadline = time.monotonic() + 30
    while not released and time.monotonic() < deadline:
        time.sleep(0.01)
    assert released == [1]
    time.sleep(0.2)
    assert released == [1]  # once per idle spell


def test_release_idle_memory_runs_release_memory_in_a_worker_and_the_pool_goes_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    released: list[int] = []
    monkeypatch.setattr(batch, "release_memory", lambda: released.append(1))
    assert batch._call(batch._give_back_memory, None, True, os.getpid()) is None  # the task it sends
    assert released == [1]
    batch.SerialExecutor().release_idle_memory()  # nothing to ask
    with make_executor("processes", workers=1) as executor:
        executor.release_idle_memory()
        assert _collect(executor, math.sqrt, [4.0, 9.0]) == {0: 2.0, 1: 3.0}
        executor.release_idle_memory()
    executor.release_idle_memory()  # closed: nothing


_SMAPS = """\
7f0000000000-7f0000100000 r--p 00000000 08:01 11 /usr/lib/libfoo.so.1.2
Rss:                  40 kB
Anonymous:             0 kB
7f0000100000-7f0000200000 r-xp 00100000 08:01 11 /usr/lib/libfoo.so.1.2
Size:               1024 kB
Rss:                 900 kB
Pss:                 900 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
7f0000200000-7f0000300000 r--p 00200000 08:01 11 /usr/lib/libfoo.so.1.2
Rss:                  12 kB
Anonymous:            12 kB
7f0000300000-7f0000301000 rw-p 00300000 08:01 11 /usr/lib/libfoo.so.1.2
Rss:                   4 kB
Anonymous:             4 kB
7f0000400000-7f0000500000 r--p 00000000 08:01 12 /data/frame.fits
Rss:                 200 kB
Anonymous:             0 kB
7f0000500000-7f0000600000 r-xp 00000000 08:01 13 /opt/my libs/libbar.so
Rss:                   8 kB
Anonymous:             0 kB
7f0000600000-7f0000700000 r-xp 00000000 08:01 14 /usr/lib/libgone.so (deleted)
Rss:                   8 kB
Anonymous:             0 kB
7f0000700000-7f0000800000 r-xp 00000000 08:01 15 /usr/lib/libidle.so
Rss:                   0 kB
Anonymous:             0 kB
7f0000800000-7f0000900000 rw-p 00000000 00:00 0
Rss:                1024 kB
Anonymous:          1024 kB
"""


def test_clean_library_mappings_are_read_only_never_copied_shared_libraries() -> None:
    found = list(batch._clean_library_mappings(_SMAPS.splitlines(keepends=True)))
    assert found == [(0x7F0000000000, 0x7F0000100000, 40), (0x7F0000100000, 0x7F0000200000, 900),
                     (0x7F0000500000, 0x7F0000600000, 8)]  # not: relocated, writable, data file, deleted, idle, anon


_RELEASE_PROGRAM = """
import json
import numpy as np
from procfw.batch import _clean_library_mappings, release_library_pages

def resident():
    with open("/proc/self/smaps") as f:
        return sum(kb for _, _, kb in _clean_library_mappings(f))

a = np.random.default_rng(1).random((200, 200))
expected = (a @ a.T).sum(), np.fft.rfft(a).real.sum()
before = resident()
released = release_library_pages()
after = resident()
print(json.dumps({"before": before, "released": released, "after": after,
                  "same": [(a @ a.T).sum(), np.fft.rfft(a).real.sum()] == list(expected)}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps; madvise is Linux's")
def test_release_library_pages_unmaps_clean_library_pages_and_the_code_still_runs() -> None:
    import json

    done = subprocess.run([sys.executable, "-c", _RELEASE_PROGRAM], capture_output=True, text=True, timeout=120,
                          check=True)
    result = json.loads(done.stdout)
    assert result["released"] > 1024 and result["released"] <= result["before"]
    assert result["after"] < result["before"] // 2  # only what reading smaps and printing touched again
    assert result["same"]


def test_a_task_run_in_the_submitting_process_leaves_its_threads_and_environment_alone(monkeypatch):
    """A threaded dask worker runs tasks in the submitting process: that process's numba
    thread pool and environment stay as they were (numba refuses a NUMBA_NUM_THREADS
    change once its threads run, which broke every later compile)."""
    import math
    import os

    from numba.np.ufunc import parallel

    from procfw.batch import THREAD_LIMIT_VARIABLES, _call

    threads_were_running = parallel._is_initialized  # a parallel kernel run by an earlier test starts them
    for name in THREAD_LIMIT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert _call(math.sqrt, 4.0, True, os.getpid()) == 2.0
    assert not any(name in os.environ for name in THREAD_LIMIT_VARIABLES)
    assert _call(math.sqrt, 9.0, True, None) == 3.0  # as in another worker process
    assert "NUMBA_NUM_THREADS" not in os.environ and os.environ.get("OMP_NUM_THREADS") == "1"
    assert parallel._is_initialized == threads_were_running


def test_task_threads_one_in_a_shared_worker_else_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    from procfw import batch

    monkeypatch.setattr(batch, "available_cores", lambda: 6)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert batch.task_threads() == 6 and batch.task_threads(4) == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what start_workers and the pools set in their workers
    assert batch.task_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert batch.task_threads(8) == 6


_FAULTS_OF_FRAME_TEMPORARIES = """
import resource, sys
import numpy as np
from procfw.batch import reuse_freed_memory
if sys.argv[1] == "reuse":
    assert reuse_freed_memory()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
sizes = [6_220_800, 8_294_400, 16_588_800, 24_883_200]  # a Seestar frame's planes and buffers (bytes)
for _ in range(20):  # 20 frames: each step holds a few buffers, frees them, takes new ones
    held = []
    for k, size in enumerate(sizes * 2):
        held.append(np.ones(size // 4, np.float32))
        if k % 3 == 2:
            held.pop(0)
    del held
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(resource.getrlimit(resource.RLIMIT_AS), resource.getrlimit(resource.RLIMIT_DATA), file=sys.stderr)
print(open("/proc/self/maps").read()[:3000], file=sys.stderr)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc tuning (elsewhere a no-op)")
def test_freed_frame_sized_blocks_are_reused_not_faulted_in_again() -> None:
    """Frame-sized temporaries of a few sizes: faulted in afresh frame after frame by default,
    only the peak working set's pages once freed blocks are reused (4 KiB pages counted)."""
    import resource

    def unlimited() -> None:  # whatever limits this test process runs under, the child has none
        for limit in (resource.RLIMIT_AS, resource.RLIMIT_DATA):
            resource.setrlimit(limit, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_"))}
    environment["NUMPY_MADVISE_HUGEPAGE"] = "0"  # 4 KiB pages only: counts that do not depend on the kernel's THP

    def faults(mode: str) -> int:
        done = subprocess.run([sys.executable, "-c", _FAULTS_OF_FRAME_TEMPORARIES, mode], capture_output=True,
                              text=True, check=True, env=environment, preexec_fn=unlimited)
        diagnostics.append(done.stderr)
        return int(done.stdout)

    diagnostics: list[str] = []

    frame_pages = 1080 * 1920 * 3 * 4 // os.sysconf("SC_PAGE_SIZE")  # 6,075
    default, reused = faults("default"), faults("reuse")
    assert default > 40 * frame_pages  # every temporary faulted in afresh (here ~515,000)
    assert reused < 6 * frame_pages, diagnostics[-1]  # the peak working set, touched once (here ~26,000)



_HELD_AFTER_A_THREAD_FREES = """
import threading
import numpy as np
from procfw.batch import release_memory, reuse_freed_memory

def resident_mb():
    with open("/proc/self/smaps_rollup") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Rss:")) / 1024

assert reuse_freed_memory()
before = resident_mb()
freed, go_on = threading.Event(), threading.Event()

def work():  # a statistics thread's samples: blocks under the mmap threshold, touched, then freed
    held = [np.ones(4 << 20, np.float32) for _ in range(3)]  # 3 x 16 MiB
    del held
    freed.set()
    go_on.wait()  # the thread lives on (a pool's thread), as its arena would

thread = threading.Thread(target=work)
thread.start()
freed.wait()
release_memory()
print(resident_mb() - before)
go_on.set()
thread.join()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc tuning (elsewhere a no-op)")
def test_memory_a_thread_freed_goes_back_with_release_memory() -> None:
    """After :func:`reuse_freed_memory` a thread allocates from the one heap, so :func:`release_memory`
    gives back the blocks it freed (with an arena of its own, glibc's default, ~15 of the 48 MiB stayed)."""

    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_"))}
    done = subprocess.run([sys.executable, "-c", _HELD_AFTER_A_THREAD_FREES], capture_output=True, text=True,
                          check=True, env=environment)
    held = float(done.stdout)
    assert held < 4, held
