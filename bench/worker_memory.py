"""Resident memory of the pre-processing workers, measured directly (no frames, no peers).

Two parts:

stages
    a fresh interpreter per stage, each importing a little more, up to what the local
    pool's fork server holds: bare Python, numpy, scipy.ndimage + astropy.io.fits, numba,
    the per-frame modules (:data:`processes.workflows.preprocess.worker.WORKER_MODULES`),
    then the worker preload itself (the kernels warmed).  Printed: RSS and PSS (MB) after
    each stage, and the compiled kernels (signatures) loaded.
pool
    a real local pool of ``--workers`` processes forked from the fork server with the
    preprocess preload, each having run one task: RSS, PSS and private memory of the fork
    server and of each worker, and whether a worker loaded a kernel after the fork (it
    should load none: whatever a worker loads itself is private to it).

    python bench/worker_memory.py
    python bench/worker_memory.py --workers 2 --skip-stages
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("bare python", ()),
    ("+ numpy", ("numpy",)),
    ("+ scipy.ndimage, astropy.io.fits", ("scipy.ndimage", "astropy.io.fits")),
    ("+ numba", ("numba",)),
    ("+ per-frame modules", ("<WORKER_MODULES>",)),
    ("+ worker preload (kernels warmed)", ("processes.workflows.preprocess.worker",)),
]
"""(label, modules imported on top of the previous stages); ``<WORKER_MODULES>`` stands for the
worker's list, read from its source (importing the worker module would warm the kernels)."""


def _worker_modules() -> tuple[str, ...]:
    """:data:`processes.workflows.preprocess.worker.WORKER_MODULES`, without importing the module."""
    tree = ast.parse((ROOT / "processes" / "workflows" / "preprocess" / "worker.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "WORKER_MODULES" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise LookupError("WORKER_MODULES not found in the worker module")


def memory(pid: int | str = "self") -> dict[str, float]:
    """``{"Rss", "Pss", "Private"}`` of process ``pid`` in MB (``/proc/PID/smaps_rollup``)."""
    values = {"Rss": 0.0, "Pss": 0.0, "Private": 0.0}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss"):
                values[key] = int(rest.split()[0]) / 1024
            elif key in ("Private_Clean", "Private_Dirty"):
                values["Private"] += int(rest.split()[0]) / 1024
    return values


def _stage(upto: int) -> None:
    """(In a fresh interpreter) import stages 0..``upto``, print the memory and kernels as JSON."""
    sys.path.insert(0, str(ROOT))
    for _, modules in _STAGES[: upto + 1]:
        for name in modules:
            for module in (_worker_modules() if name == "<WORKER_MODULES>" else (name,)):
                importlib.import_module(module)
    from processes.kernels.kernel_inventory import loaded_kernels

    print(json.dumps({"memory": memory(), "kernels": loaded_kernels()}))


def run_stages() -> None:
    """Print RSS/PSS and the loaded kernels after each stage, each in a fresh interpreter."""
    print(f"{'stage':40s} {'RSS MB':>7s} {'PSS MB':>7s} {'kernels':>7s} {'signatures':>10s}")
    for k, (label, _) in enumerate(_STAGES):
        out = subprocess.run([sys.executable, __file__, "--stage", str(k)], cwd=ROOT, capture_output=True,
                             text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        mem, kernels = result["memory"], result["kernels"]
        print(f"{label:40s} {mem['Rss']:7.1f} {mem['Pss']:7.1f} {len(kernels):7d} "
              f"{sum(len(s) for s in kernels.values()):10d}")


def run_pool(workers: int) -> None:
    """Start a pool with the preprocess preload, run one task per worker, print each process's memory."""
    sys.path.insert(0, str(ROOT))
    from bench_preprocess import _children_map  # imports numpy, scipy and astropy: only here, not in the stages

    from processes.kernels.kernel_inventory import loaded_kernels
    from processes.workflows.preprocess.pool import WORKER_PRELOAD
    from procfw.batch import make_executor, start_workers, stop_workers

    start_workers(WORKER_PRELOAD, single_thread=True)
    with make_executor("processes", workers=workers, preload=WORKER_PRELOAD) as executor:
        loaded = executor.map(loaded_kernels, ["processes."] * workers)
        time.sleep(0.5)
        children = _children_map()
        rows: list[tuple[str, int]] = []
        for pid in children.get(os.getpid(), []):
            grandchildren = children.get(pid, [])
            if grandchildren:  # the fork server: its children are the workers
                rows.append(("fork server", pid))
                rows += [("worker", g) for g in grandchildren]
        print(f"\n{'process':12s} {'pid':>7s} {'RSS MB':>7s} {'PSS MB':>7s} {'private MB':>10s}")
        total = 0.0
        for label, pid in rows:
            mem = memory(pid)
            total += mem["Pss"]
            print(f"{label:12s} {pid:7d} {mem['Rss']:7.1f} {mem['Pss']:7.1f} {mem['Private']:10.1f}")
        print(f"{'total PSS':12s} {'':7s} {'':7s} {total:7.1f}")
        for i, extra in enumerate(loaded):
            print(f"worker {i}: {len(extra)} kernels loaded, "
                  f"{sum(len(v) for v in extra.values())} signatures (all from the fork server)")
    stop_workers()


def main() -> None:
    """Command line: the stages, then the pool."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2, help="workers of the measured pool")
    parser.add_argument("--skip-stages", action="store_true", help="only the pool")
    parser.add_argument("--stage", type=int, help=argparse.SUPPRESS)  # one stage, in a child interpreter
    args = parser.parse_args()
    if args.stage is not None:
        _stage(args.stage)
        return
    if not args.skip_stages:
        run_stages()
    run_pool(args.workers)


if __name__ == "__main__":
    main()
