"""CPU time and page faults of the pre-processing run's per-frame tasks, as a pool worker runs them.

Runs ``preprocess RAW OUT -allowMissingCalibration+`` without integration in this process,
with an executor that calls each per-frame task (the light task: debayer, noise and star
measurement; the registration task: StarAlignment's ``frame_task``) the way a pool worker
does (``procfw.batch._call``, back to back), after importing the workers' preload module
(imports and kernel warm-up, as the fork server does).  Prints, per kind of task, the CPU
time (user + system) and minor page faults per frame: the first frame (one-off costs) and
the minimum and median of the others, the size of a result (as JSON, standing in for its
pickled size) and each task's peak resident memory (VmHWM, reset before each task).
``--profile FILE`` writes a cProfile (CPU time) of the tasks after the first of each kind
(``python -m pstats FILE``).

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python bench/bench_frame_tasks.py RAW [--repeat 2] [--profile FILE]
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import json
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from procfw.batch import Executor, _call, reuse_freed_memory


def _reset_peak() -> None:
    """Start this process's resident-memory high-water mark afresh (Linux: /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_mb() -> float:
    """This process's resident-memory high-water mark (VmHWM), MB; NaN where unknown."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class MeasuringExecutor(Executor):
    """Runs each task here as a pool worker would, and records its CPU time and page faults."""

    kind = "processes"  # so that StarAlignment sends its frames as tasks (frame_task), as with a pool

    def __init__(self, profile: cProfile.Profile | None) -> None:
        self.workers = 2
        self.profile = profile
        self.samples: dict[str, list[tuple[float, int, int, float]]] = collections.defaultdict(list)
        self.peaks: dict[str, list[float]] = collections.defaultdict(list)

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[tuple[int, Any]]:
        listed = list(items)

        def run() -> Iterator[tuple[int, Any]]:
            for index, item in enumerate(listed):
                kind = fn.__name__
                first = not self.samples[kind]
                _reset_peak()
                before = resource.getrusage(resource.RUSAGE_SELF)
                if self.profile is not None and not first:
                    self.profile.enable()
                try:
                    outcome = _call(fn, item, True)
                except Exception as exc:  # noqa: BLE001 - reported as the pool would
                    outcome = exc
                finally:
                    if self.profile is not None:
                        self.profile.disable()
                after = resource.getrusage(resource.RUSAGE_SELF)
                system = after.ru_stime - before.ru_stime
                cpu = (after.ru_utime - before.ru_utime) + system
                size = len(json.dumps(outcome, default=str)) if not isinstance(outcome, BaseException) else 0
                self.samples[kind].append((cpu, after.ru_minflt - before.ru_minflt, size, system))
                self.peaks[kind].append(_peak_mb())
                yield index, outcome

        return run()


def main(argv: list[str] | None = None) -> int:
    """Run the per-frame steps and print the per-frame figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path, help="folder of raw light frames")
    parser.add_argument("--repeat", type=int, default=1, help="runs (each writes a fresh output folder)")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the tasks (all but the first) here")
    args = parser.parse_args(argv)

    reuse_freed_memory()
    t0 = time.process_time()
    import processes.workflows.preprocess.worker  # noqa: F401 - the fork server's preload
    from processes.workflows.preprocess.pipeline import preprocess
    from processes.workflows.preprocess.plan import Options

    print(f"preload {time.process_time() - t0:.2f} s CPU")
    profile = cProfile.Profile(time.process_time) if args.profile else None  # CPU time, not wall
    for _ in range(max(1, args.repeat)):
        executor = MeasuringExecutor(profile)
        with tempfile.TemporaryDirectory(prefix="procfw-frame-tasks-") as out:
            options = Options(allow_missing_bias=True, allow_missing_darks=True, allow_missing_flats=True,
                              integrate=False, executor="serial")
            preprocess(args.raw, out, options, executor=executor)
        for kind, samples in executor.samples.items():
            cpu = [s[0] * 1000 for s in samples[1:]] or [0.0]
            faults = [s[1] for s in samples[1:]] or [0]
            system = [s[3] * 1000 for s in samples[1:]] or [0.0]
            print(f"{kind:12s} frames {len(samples):2d}  first {samples[0][0] * 1000:6.1f} ms {samples[0][1]:6d} faults"
                  f"  | others: min {min(cpu):6.1f} median {statistics.median(cpu):6.1f} ms CPU"
                  f" (system {statistics.median(system):5.1f}),"
                  f" median {statistics.median(faults):6.0f} faults, result {samples[-1][2]} B JSON")
            print(f"{'':12s} peak RSS MB per task: " + " ".join(f"{p:.0f}" for p in executor.peaks[kind]))
    if profile is not None:
        profile.dump_stats(os.fspath(args.profile))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
