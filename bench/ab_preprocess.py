"""A/B of the pre-processing run: this checkout against another revision, in alternating pairs.

Machines are noisy: a change of a few percent shows only in pairs run back to back, each
side as often first as second.  The script checks ``--base`` out into a temporary git
worktree, then runs the same ``procfw run -c 'preprocess RAW OUT ...'`` with each side's
code first on ``PYTHONPATH`` (both with this interpreter and its installed packages),
``--pairs`` times, alternating which side goes first.  Before the pairs each side runs once
unmeasured (numba fills the worktree's kernel caches; the page cache holds the frames).

Printed per run: wall time and CPU time (user + system) of the whole process tree, the pool
workers included (:func:`bench_preprocess.run_measured`, unsampled).  Then per side the median
and minimum of each, and whether the two sides' masters hold the same pixels (SHA-256 of each
master's data as stored).

    python bench/ab_preprocess.py --base 31fe7f0 --pairs 8
    python bench/ab_preprocess.py --base HEAD~1 --extra "-executor=serial"
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_preprocess import DEFAULT_FRAMES, cache_bytecode, run_measured  # bench/: on sys.path

ROOT = Path(__file__).resolve().parents[1]


def run_once(tree: Path, raw: Path, out: Path, extra: str) -> tuple[float, float]:
    """One pre-processing run with ``tree``'s code; (wall s, CPU s of the process tree)."""
    shutil.rmtree(out, ignore_errors=True)
    line = f'preprocess "{raw}" "{out}" -allowMissingCalibration+ -rejection=WinsorizedSigmaClip -progress- {extra}'
    measured = run_measured([sys.executable, "-m", "procfw", "run", "-c", line], out.parent,
                            env={"PYTHONPATH": str(tree)}, sample=False)
    return measured["wall"], measured["cpu"]


def masters_digest(out: Path) -> str:
    """SHA-256 of the data of every master FITS file in ``out`` (by name), as stored."""
    from astropy.io import fits

    digest = hashlib.sha256()
    for path in sorted(out.glob("master_*.fits")):
        digest.update(path.name.encode())
        digest.update(fits.getdata(path).tobytes())
    return digest.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the revision to compare this checkout with (e.g. HEAD~1)")
    parser.add_argument("--pairs", type=int, default=6, help="measured pairs (default 6)")
    parser.add_argument("--raw", type=Path, default=DEFAULT_FRAMES, help="folder of raw light frames")
    parser.add_argument("--extra", default="-executor=processes", help="more preprocess arguments")
    args = parser.parse_args()
    cache_bytecode()  # and PYTHONDONTWRITEBYTECODE unset: each side's bytecode cached by its first run
    with tempfile.TemporaryDirectory(prefix="procfw-ab-") as folder:
        work = Path(folder)
        base = work / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(base), args.base],
                       check=True)
        try:
            raw = work / "raw"
            shutil.copytree(args.raw, raw)
            trees = {"base": base, "head": ROOT}
            outs = {name: work / f"out_{name}" for name in trees}
            for name, tree in trees.items():  # unmeasured: kernel caches filled, frames in the page cache
                run_once(tree, raw, outs[name], args.extra)
            digests = {name: masters_digest(outs[name]) for name in trees}
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
            for i in range(args.pairs):
                for name in ("base", "head") if i % 2 == 0 else ("head", "base"):
                    wall, cpu = run_once(trees[name], raw, outs[name], args.extra)
                    results[name].append((wall, cpu))
                    print(f"pair {i + 1} {name}: wall {wall:.2f} s, CPU {cpu:.2f} s", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    print(f"{args.pairs} pairs, base {args.base} vs this checkout; {args.extra}")
    for name, rows in results.items():
        walls = [w for w, _ in rows]
        cpus = [c for _, c in rows]
        print(f"{name}: wall median {statistics.median(walls):.2f} s (min {min(walls):.2f}); "
              f"CPU median {statistics.median(cpus):.2f} s (min {min(cpus):.2f}); masters {digests[name]}")
    print("masters identical" if digests["base"] == digests["head"] else "masters differ")


if __name__ == "__main__":
    main()
