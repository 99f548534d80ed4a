"""Benchmark: ImageIntegration through ``procfw run`` against Siril's ``stack`` (siril-cli).

For each size in ``--sizes`` (default ``16x4096,12x2048``: frames x pixels) the script writes
synthetic float32 FITS frames (gradient, stars, noise, hot pixels, a satellite trail) into a
temporary folder, then runs, as separate processes on the *same files*:

* ``procfw run SCRIPT`` where SCRIPT is::

      ImageIntegration -images="DIR/light_*.fit" -rejection=WinsorizedSigmaClip -sigmaLow=3 -sigmaHigh=3
          -normalization=AdditiveWithScaling -rejectionNormalization=Scale -weightMode=DontCare
          -evaluateSNR- -generateRejectionMaps-
      save integration "DIR/ours.fits" --overwrite

  (PixInsight's winsorized sigma clipping 3/3, additive + scaling normalization, no weights);
* ``siril-cli -s SCRIPT`` with ``setext fit``, ``set32bits`` and
  ``stack light_ rej w 3 3 -norm=addscale -out=siril_result`` (winsorized sigma clipping 3/3,
  additive + scaling normalization, no weighting: the closest equivalent; ``setext`` makes
  the run independent of the user's Siril settings).

Everything a user waits for is timed: start-up, imports, reading, statistics, integration,
writing.  The wall time and the peak resident set size (``ru_maxrss`` from ``wait4``) of each
process are printed with the ratios ours/Siril.  Before the timed runs ours runs once
untimed, so that numba's on-disk cache of the compiled kernel is filled (a user pays the
compilation once per installation, not per run).  With ``--repeat R`` the contenders run R
times, interleaved, and the best wall time of each is kept (the machine may be shared).

Run: ``.venv/bin/python bench/bench_integration.py [--sizes 16x4096,12x2048] [--repeat 1]
[--dir DIR] [--keep]``
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

import numpy as np
from bench_preprocess import cache_bytecode  # bench/ is this script's folder: on sys.path

ROOT = Path(__file__).resolve().parents[1]

OURS_SCRIPT = (
    'ImageIntegration -images="{folder}/light_*.fit" -rejection=WinsorizedSigmaClip -sigmaLow=3 -sigmaHigh=3 '
    "-normalization=AdditiveWithScaling -rejectionNormalization=Scale -weightMode=DontCare -evaluateSNR- "
    "-generateRejectionMaps-\n"
    'save integration "{folder}/ours.fits" --overwrite\n'
)
SIRIL_SCRIPT = "requires 1.0.0\nsetext fit\nset32bits\nstack light_ rej w 3 3 -norm=addscale -out=siril_result\n"


def make_frames(folder: Path, frames: int, size: int, seed: int = 1) -> None:
    """Synthetic lights named light_00001.fit ... (the names Siril's ``stack`` expects)."""
    from astropy.io import fits

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    truth = 0.1 + 0.03 * xx / size + 0.02 * yy / size
    for _ in range(max(10, size * size // 40000)):
        x0, y0 = rng.uniform(8, size - 8, 2)
        r0, r1 = int(max(0, y0 - 8)), int(min(size, y0 + 9))
        c0, c1 = int(max(0, x0 - 8)), int(min(size, x0 + 9))
        patch = (yy[r0:r1, c0:c1] - y0) ** 2 + (xx[r0:r1, c0:c1] - x0) ** 2
        truth[r0:r1, c0:c1] += rng.uniform(0.05, 0.5) * np.exp(-patch / (2 * 1.6**2))
    del yy, xx
    for i in range(frames):
        frame = truth + 0.01 * rng.standard_normal((size, size), dtype=np.float32)
        frame.reshape(-1)[rng.integers(0, size * size, size * size // 20000 + 1)] = 0.97
        if i == frames // 3:
            frame[size // 3 : size // 3 + 3, :] = 0.9
        fits.PrimaryHDU(np.clip(frame, 0.001, 1)).writeto(folder / f"light_{i + 1:05d}.fit", overwrite=True)


def run(command: list[str], cwd: Path | None = None) -> tuple[float, float, float, str]:
    """(wall s, peak RSS MiB, CPU s (user + system), output) of a subprocess, measured with wait4."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({proc.returncode}):\n{output[-3000:]}")
    return wall, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime, output


def helper(*args: object) -> str:
    """Run a step that needs much memory (writing frames, comparing results) in a subprocess.

    The peak RSS that wait4 reports for a child includes the memory of the parent it was
    forked from, so the parent must stay small for the measurements to be fair.
    """
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--helper", *map(str, args)],
                          check=True, capture_output=True, text=True)
    return done.stdout


def compare(folder: Path) -> str:
    """Median and 99th percentile of |ours − Siril| (data units)."""
    from astropy.io import fits

    ours = fits.getdata(folder / "ours.fits").astype(np.float64)
    theirs = fits.getdata(folder / "siril_result.fit").astype(np.float64)
    diff = np.abs(ours - theirs)
    return f"median |diff| {np.median(diff):.2e}, 99th percentile {np.quantile(diff, 0.99):.2e}"


def procfw_command() -> list[str]:
    """The ``procfw`` console command of this environment."""
    script = Path(sys.executable).with_name("procfw")
    return [str(script)] if script.exists() else [sys.executable, "-m", "procfw.cli"]


def run_ours(folder: Path) -> tuple[float, float, float]:
    """(wall s, peak RSS MiB, CPU s) of ``procfw run`` integrating ``folder``."""
    script = folder / "ours.pcon"
    script.write_text(OURS_SCRIPT.format(folder=folder))
    return run([*procfw_command(), "run", str(script)], cwd=ROOT)[:3]


def run_siril(siril: str, folder: Path) -> tuple[float, float, float]:
    """(wall s, peak RSS MiB, CPU s) of ``siril-cli`` stacking ``folder`` (its sequence file made afresh)."""
    for old in (folder / "light_.seq", folder / "siril_result.fit"):
        old.unlink(missing_ok=True)
    script = folder / "stack.ssf"
    script.write_text(SIRIL_SCRIPT)
    return run([siril, "-d", str(folder), "-s", str(script)])[:3]


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"16x4096,12x2048"`` -> [(16, 4096), (12, 2048)] (frames x pixels per side)."""
    sizes = []
    for item in text.split(","):
        frames, size = item.lower().split("x")
        sizes.append((int(frames), int(size)))
    return sizes


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--helper"]:
        if argv[1] == "make":
            make_frames(Path(argv[2]), int(argv[3]), int(argv[4]))
        else:
            print(compare(Path(argv[2])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("16x4096,12x2048"),
                        help="comma-separated FRAMESxPIXELS (default 16x4096,12x2048)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the frames (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the frames and results")
    parser.add_argument("--repeat", type=int, default=1, help="interleaved runs per contender; the best is kept")
    args = parser.parse_args(argv)
    cache_bytecode()

    siril = shutil.which("siril-cli")
    if siril is None:
        print("siril: not installed (apt-get install siril); only ours is timed")
    base = args.dir or Path(tempfile.mkdtemp(prefix="bench_integration_"))
    base.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for frames, size in args.sizes:
            folder = base / f"{frames}x{size}"
            folder.mkdir(exist_ok=True)
            if len(list(folder.glob("light_*.fit"))) != frames:
                for old in folder.glob("light_*.fit"):
                    old.unlink()
                print(f"writing {frames} frames of {size}x{size} float32 to {folder} ...", flush=True)
                helper("make", folder, frames, size)
            print(f"{frames} x {size}x{size} float32 ({frames * size * size * 4 / 2**20:.0f} MiB), "
                  f"{os.cpu_count()} CPU(s): warm-up run of ours (numba cache) ...", flush=True)
            run_ours(folder)
            best: dict[str, tuple[float, float, float]] = {}
            for _ in range(args.repeat):
                for name in ("ours", "siril") if siril is not None else ("ours",):
                    result = run_ours(folder) if name == "ours" else run_siril(siril, folder)
                    print(f"  {name}: wall {result[0]:.2f} s, CPU {result[2]:.2f} s, peak RSS {result[1]:.0f} MiB",
                          flush=True)
                    if name not in best or result[0] < best[name][0]:
                        best[name] = result
            rows.append((frames, size, best))
            if "siril" in best and (folder / "siril_result.fit").exists():
                print("  ours vs Siril:", helper("compare", folder).strip())
        print(f"\n{'input':>14s} {'ours s':>7s} {'siril s':>7s} {'ratio':>6s} {'ours CPU':>8s} {'siril CPU':>9s} "
              f"{'ratio':>6s} {'ours MiB':>8s} {'siril MiB':>9s} {'ratio':>6s}")
        for frames, size, best in rows:
            ours_wall, ours_rss, ours_cpu = best["ours"]
            if "siril" in best:
                siril_wall, siril_rss, siril_cpu = best["siril"]
                print(f"{frames:>3d} x {size:>4d}^2 {ours_wall:7.2f} {siril_wall:7.2f} {ours_wall / siril_wall:6.2f} "
                      f"{ours_cpu:8.2f} {siril_cpu:9.2f} {ours_cpu / siril_cpu:6.2f} "
                      f"{ours_rss:8.0f} {siril_rss:9.0f} {ours_rss / siril_rss:6.2f}")
            else:
                print(f"{frames:>3d} x {size:>4d}^2 {ours_wall:7.2f} {'-':>7s} {'-':>6s} {ours_cpu:8.2f} {'-':>9s} "
                      f"{'-':>6s} {ours_rss:8.0f}")
        print("wall: seconds the user waits; CPU: user + system seconds (fairer on a shared machine); "
              "ratio: ours/Siril (wall time of the best run)")
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
