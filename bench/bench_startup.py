"""The fixed costs of a pre-processing run: start-up until the first frame task, integration end until exit.

Runs ``procfw run -c 'preprocess RAW OUT -allowMissingCalibration+ -rejection=WinsorizedSigmaClip
-progress- -executor=processes'`` (by default on the corpus Seestar S50 session) several
times and prints, for each run, seconds since the command was started:

``planned``
    when the main process asked for its executor (its imports, the headers and the plan done);
``pool``
    when the main process's executor was made (the fork server's preload done, the
    workers started);
``first task``
    when the first per-frame task (``light_task``) began on a worker;
``integrated``
    when the last integration returned in the main process;
``exit``
    when the command had exited (``exit - integrated`` is the tail: report, shutdown);

and the minimum of each over the runs.  The marks come from a ``sitecustomize`` module put
on ``PYTHONPATH`` for the run only (every Python process of the run loads it: the main
process, the fork server and the workers): it wraps those three functions with a
timestamp, and changes nothing else.  Timings on a loaded machine vary a lot: take the
minimum of several runs and compare A/B back to back.

Where ``PYTHONDONTWRITEBYTECODE=1`` is set and the project is installed editable (no
``.pyc`` files), every run compiles the project's modules again: ~0.19 s in the fork server
(72 modules) and ~0.1 s in the console before the first task.  Compile them once
(``python -m compileall -q procfw processes``: existing ``.pyc`` files are read even when
writing them is off), or point ``PYTHONPYCACHEPREFIX`` at a writable folder and unset
``PYTHONDONTWRITEBYTECODE``, to time what an installed procfw does.

    python bench/bench_startup.py --repeat 5
    python bench/bench_startup.py --cpu --repeat 5    # CPU seconds of the two start-up paths

With ``--cpu``, the two paths that run side by side before the first task are timed in
CPU seconds (``time.process_time``: far less sensitive than wall time to other work on
the machine), each in a fresh interpreter: the console's, from interpreter start until the
fork server is started (by the ``preprocess`` command's prestart hook, before the console
loads), and the fork server's preload (what
``multiprocessing``'s fork server imports: ``procfw.batch``, then
:data:`processes.workflows.preprocess.pool.WORKER_PRELOAD`).  The CPU seconds include the interpreter's
own start; the wall seconds (printed in brackets) do not.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FRAMES = Path(
    os.environ.get("PROCFW_CORPUS", ROOT.parent / "shared" / "corpus")
) / "frames" / "seestar-s50" / "M94_2025-03-27_session1"

_SITECUSTOMIZE = '''
import functools, importlib.abc, importlib.machinery, os, sys, time

_LOG = os.environ["PROCFW_STARTUP_LOG"]
_TARGETS = {"processes.workflows.preprocess.pipeline": ("light_task",), "procfw.batch": ("make_executor",)}


def _mark(name):
    with open(_LOG, "a", encoding="ascii") as handle:
        handle.write(f"{name} {time.time():.6f} {os.getpid()}\\n")


def _wrap(fn, name, when):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if when == "before":
            _mark(name)
        result = fn(*args, **kwargs)
        if when == "after":
            _mark(name)
        return result
    return wrapper


class _Loader(importlib.abc.Loader):
    def __init__(self, inner):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        self.inner.exec_module(module)
        if module.__name__ == "processes.workflows.preprocess.pipeline":
            module.light_task = _wrap(module.light_task, "first_task", "before")
            run = module._Run
            run.integrate_lights = _wrap(run.integrate_lights, "integrated", "after")
        elif module.__name__ == "procfw.batch":
            module.make_executor = _wrap(_wrap(module.make_executor, "pool", "after"), "planned", "before")


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in _TARGETS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    break
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


sys.meta_path.insert(0, _Finder())
'''


def run_once(procfw: str, raw: Path, work: Path) -> dict[str, float]:
    """One run; the marks in seconds after the start."""
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    log = work / "marks.txt"
    log.unlink(missing_ok=True)
    env = dict(os.environ, PROCFW_STARTUP_LOG=str(log),
               PYTHONPATH=os.pathsep.join(filter(None, [str(work / "site"), os.environ.get("PYTHONPATH", "")])))
    command = (f"preprocess {raw} {out} -allowMissingCalibration+ -rejection=WinsorizedSigmaClip -progress- "
               "-executor=processes")
    start = time.time()
    subprocess.run([procfw, "run", "-c", command], env=env, check=True, stdout=subprocess.DEVNULL)
    end = time.time()
    marks: dict[str, float] = {"exit": end - start}
    for line in log.read_text(encoding="ascii").splitlines():
        name, stamp, _pid = line.split()
        seconds = float(stamp) - start
        if name == "integrated":
            marks[name] = max(marks.get(name, 0.0), seconds)
        else:
            marks[name] = min(marks.get(name, float("inf")), seconds)
    return marks


_CONSOLE_CPU = """
import os, sys, time
import procfw.batch

def stop(*args, **kwargs):
    print(time.process_time(), time.perf_counter() - START)
    sys.stdout.flush()
    os._exit(0)

procfw.batch.start_workers = stop  # whoever starts the fork server first: the command's prestart hook, or the command
from procfw.cli import console_main
sys.argv = ["procfw", "run", "-c", sys.argv[1]]
console_main()
"""

_PRELOAD_CPU = """
import sys, time
import procfw.batch
from processes.workflows.preprocess.pool import WORKER_PRELOAD
for name in WORKER_PRELOAD:
    __import__(name)
print(time.process_time(), time.perf_counter() - START)
"""


def cpu_once(raw: Path, out: Path) -> tuple[float, float, float, float]:
    """(console CPU s, console wall s, preload CPU s, preload wall s) in fresh interpreters."""
    command = f"preprocess {raw} {out} -allowMissingCalibration+ -rejection=WinsorizedSigmaClip -progress-"
    found = []
    for program, args in ((_CONSOLE_CPU, [command]), (_PRELOAD_CPU, [])):
        text = "import time; START = time.perf_counter()\n" + program
        done = subprocess.run([sys.executable, "-c", text, *args], check=True, capture_output=True, text=True)
        cpu, wall = (float(v) for v in done.stdout.split()[-2:])
        found += [cpu, wall]
    return found[0], found[1], found[2], found[3]


def main() -> None:
    """Run the bench (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=Path, default=DEFAULT_FRAMES, help="folder of raw frames")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--procfw", default=str(Path(sys.executable).with_name("procfw")))
    parser.add_argument("--cpu", action="store_true", help="CPU seconds of the console's and the fork server's "
                        "start-up paths instead of whole runs")
    args = parser.parse_args()
    if args.cpu:
        print(f"{'run':>4} {'console CPU':>12} {'(wall)':>8} {'preload CPU':>12} {'(wall)':>8}")
        rows = []
        for i in range(args.repeat):
            rows.append(cpu_once(args.frames, Path(tempfile.gettempdir()) / "procfw-startup-unused"))
            print(f"{i + 1:>4} " + " ".join(f"{v:{w}.3f}" for v, w in zip(rows[-1], (12, 8, 12, 8))))
        print(f"{'min':>4} " + " ".join(f"{min(r[k] for r in rows):{w}.3f}" for k, w in enumerate((12, 8, 12, 8))))
        return
    with tempfile.TemporaryDirectory(prefix="procfw-startup-") as folder:
        work = Path(folder)
        (work / "site").mkdir()
        (work / "site" / "sitecustomize.py").write_text(_SITECUSTOMIZE, encoding="utf-8")
        raw = work / "raw"
        raw.mkdir()
        for path in sorted(args.frames.iterdir()):
            if path.is_file():
                shutil.copy(path, raw / path.name)
        names = ("planned", "pool", "first_task", "integrated", "exit")
        print(f"{'run':>4} " + " ".join(f"{n:>11}" for n in names) + "        tail")
        rows = []
        for i in range(args.repeat):
            marks = run_once(args.procfw, raw, work)
            rows.append(marks)
            tail = marks["exit"] - marks.get("integrated", float("nan"))
            print(f"{i + 1:>4} " + " ".join(f"{marks.get(n, float('nan')):11.2f}" for n in names) + f" {tail:11.2f}")
        best = {n: min(r.get(n, float("inf")) for r in rows) for n in names}
        tail = min(r["exit"] - r.get("integrated", float("nan")) for r in rows)
        print(f"{'min':>4} " + " ".join(f"{best[n]:11.2f}" for n in names) + f" {tail:11.2f}")


if __name__ == "__main__":
    main()
