"""Benchmark: ImageIntegration alone on registered frames, as ``preprocess`` runs it for lights, phase by phase.

Keep the ``registered`` folder of a ``preprocess`` run (e.g. ``procfw run -c 'preprocess RAW OUT
-allowMissingCalibration+ -rejection=WinsorizedSigmaClip -progress- -executor=processes -overwrite+'``
then ``cp -r OUT/registered/IRCUT DIR``) and time ImageIntegration on the ``*.fits`` files of DIR with
the parameters :meth:`processes.workflows.preprocess.pipeline._Run.integration_parameters` gives
lights (WinsorizedSigmaClip, AdditiveWithScaling, Scale, SNREstimate weights from the NOISE
keywords, rejection maps), with glibc's malloc tuned as the ``procfw`` command tunes it
(:func:`procfw.batch.reuse_freed_memory`).  Each run prints its wall and process CPU (all threads) in all and in
the phases: the frame statistics (``_statistics``: footprints, location, scale), the integration
proper (``integrate``: band reads and the compiled kernel) and the result's statistics
(``_final_statistics``), and a SHA-256 of the result's pixels, so that two versions can be
compared bit for bit.  Timings on a shared machine vary a lot: compare the minimum of several
runs, A/B back to back.

Run: ``.venv/bin/python bench/bench_integration_phases.py DIR [--repeat 3] [--threads 0]
[--rejection WinsorizedSigmaClip]``
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import resource
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

PHASES = ("_statistics", "integrate", "_final_statistics")


def process_cpu() -> float:
    """User + system CPU seconds of this process, every thread included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(owner, name: str, totals: dict[str, list[float]]) -> None:
    """Wrap ``owner.name`` so that each call adds its wall and CPU seconds to ``totals[name]``."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        wall, cpu = time.perf_counter(), process_cpu()
        try:
            return original(*args, **kwargs)
        finally:
            spent = totals.setdefault(name, [0.0, 0.0])
            spent[0] += time.perf_counter() - wall
            spent[1] += process_cpu() - cpu

    setattr(owner, name, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder of registered FITS frames")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="maxBufferThreads (0: one per core)")
    parser.add_argument("--rejection", default="WinsorizedSigmaClip", help="preprocess's -rejection")
    args = parser.parse_args()

    from procfw.batch import reuse_freed_memory

    reuse_freed_memory()  # glibc's malloc as the procfw command sets it (before any thread starts)
    from processes.integration import process
    from processes.integration.compiled import warm_integrate_rows
    from processes.workflows.preprocess.pipeline import _Run
    from procfw.workspace import Workspace

    files = sorted(str(p) for p in args.folder.glob("*.fits"))
    run = SimpleNamespace(options=SimpleNamespace(rejection=args.rejection))  # what integration_parameters reads
    params = {**_Run.integration_parameters(run, "light", len(files)), "maxBufferThreads": args.threads}
    totals: dict[str, list[float]] = {}
    timed(process.ImageIntegration, "_statistics", totals)
    timed(process, "integrate", totals)
    timed(process.ImageIntegration, "_final_statistics", totals)
    warm_integrate_rows(len(files))
    runs = []
    for _ in range(args.repeat):
        totals.clear()
        workspace = Workspace()
        wall, cpu = time.perf_counter(), process_cpu()
        process.ImageIntegration(images=files, **params).execute_global(workspace)
        wall, cpu = time.perf_counter() - wall, process_cpu() - cpu
        pixels = np.ascontiguousarray(workspace.window("integration").image.pixels)
        runs.append((wall, cpu))
        phases = "  ".join(f"{name} {totals[name][0]:.3f}/{totals[name][1]:.3f}" for name in PHASES if name in totals)
        print(f"wall/CPU s: all {wall:.3f}/{cpu:.3f}  {phases}  sha256 {hashlib.sha256(pixels).hexdigest()[:16]}",
              flush=True)
    print(f"min of {len(runs)}: wall {min(r[0] for r in runs):.3f} s, CPU {min(r[1] for r in runs):.3f} s")


if __name__ == "__main__":
    main()
