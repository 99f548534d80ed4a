"""Benchmark: ImageIntegration (winsorized sigma clipping) against Siril and ccdproc.

Writes ``--frames`` synthetic float32 FITS frames of ``--size``×``--size`` pixels
(gradient, stars, noise, hot pixels, a satellite trail), then integrates them with

* procfw's ImageIntegration: WinsorizedSigmaClip, sigma 3/3, average, no normalization,
  no weights, memory budget ``--budget-mb`` (``stackSizeMB``), no rejection maps;
* Siril (``siril-cli``): ``stack light_ rej w 3 3 -nonorm`` in 32-bit mode;
* ccdproc: ``ccdproc.combine(method="average", sigma_clip=True, 3/3)`` with
  ``mem_limit`` = the same budget (ccdproc has no winsorized clipping: median/MAD-std
  sigma clipping is the closest it offers).

Each contender runs in its own subprocess; the wall time and the peak resident set size
(``ru_maxrss`` from ``wait4``) of that subprocess are reported, with the ratios
ours/peer.  Ours shares the bands among worker processes (one per core, each with its
share of the budget); its peak is reported as the parent's plus every worker's peak RSS
(an upper bound: the peaks need not coincide).  A peer that is not installed is skipped with a message.  With
``--normalize`` ours uses AdditiveWithScaling (+ Scale rejection normalization) and Siril
``-norm=addscale``.

With ``--repeat R`` the contenders run R times, interleaved, and the best wall time of each
is reported (useful on a shared machine).

Run: ``.venv/bin/python bench/bench_integration.py [--frames 16] [--size 4096] [--budget-mb 1024]
[--dir DIR] [--keep] [--normalize] [--repeat 3] [--skip ccdproc]``
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

ROOT = Path(__file__).resolve().parents[1]

OURS = """
import sys, time, glob
from procfw.process import ExecutionContext
from procfw.io.fits import write_fits
from processes.integration import ImageIntegration
folder, budget, normalize, out = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
params = dict(rejection="WinsorizedSigmaClip", sigmaLow=3.0, sigmaHigh=3.0, weightMode="DontCare",
              normalization="AdditiveWithScaling" if normalize else "NoNormalization",
              rejectionNormalization="Scale" if normalize else "NoRejectionNormalization",
              evaluateSNR=False, generateRejectionMaps=False, autoMemorySize=False,
              stackSizeMB=budget, bufferSizeMB=0)
start = time.perf_counter()
result = ImageIntegration(images=sorted(glob.glob(folder + "/light_*.fit")), **params).run_global(ExecutionContext())
print(f"INTEGRATION_SECONDS {time.perf_counter() - start:.3f}")
write_fits(result.new_images["integration"], out, overwrite=True)
import resource
print(f"PARENT_RSS_MB {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
print(f"WORKER_RSS_MB {result.outputs['workerPeakMemoryMB']:.1f} WORKERS {result.outputs['workers']}")
"""

CCDPROC = """
import sys, glob, time, warnings
import numpy as np
warnings.simplefilter("ignore")
import ccdproc
from astropy.stats import mad_std
folder, budget, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
start = time.perf_counter()
combined = ccdproc.combine(sorted(glob.glob(folder + "/light_*.fit")), method="average", sigma_clip=True,
                           sigma_clip_low_thresh=3, sigma_clip_high_thresh=3, sigma_clip_func=np.ma.median,
                           sigma_clip_dev_func=mad_std, mem_limit=budget * 2**20, unit="adu", dtype=np.float32)
print(f"INTEGRATION_SECONDS {time.perf_counter() - start:.3f}")
combined.write(out, overwrite=True)
"""


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


def run(command: list[str], cwd: Path | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB, output) of a subprocess, measured with wait4."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({proc.returncode}):\n{output[-3000:]}")
    return wall, usage.ru_maxrss / 1024.0, output


def inner_seconds(output: str) -> float | None:
    for line in output.splitlines():
        if line.startswith("INTEGRATION_SECONDS"):
            return float(line.split()[1])
        if "Execution time:" in line and "Total" not in line and line.strip().startswith("log: Execution"):
            text = line.split("Execution time:")[1].strip().rstrip(".")
            value, unit = text.split()[:2]
            return float(value) * {"s": 1.0, "ms": 1e-3, "min": 60.0}.get(unit, 1.0)
    return None


def measured(result: tuple[float, float, str]) -> tuple[float, float, float | None]:
    """(wall, peak RSS MiB, inner seconds) of a :func:`run` result."""
    wall, rss, out = result
    return wall, rss, inner_seconds(out)


def run_ours(folder: Path, args: argparse.Namespace) -> tuple[float, float, float | None]:
    """Ours in a subprocess; with worker processes the peak is the parent's plus the workers'."""
    wall, rss, out = run([sys.executable, "-c", OURS, str(folder), str(args.budget_mb),
                          "1" if args.normalize else "0", str(folder / "ours.fits")], cwd=ROOT)
    fields = dict(zip(out.split()[::2], out.split()[1::2]))
    if "WORKER_RSS_MB" in fields and float(fields["WORKER_RSS_MB"]) > 0:
        rss = float(fields["PARENT_RSS_MB"]) + float(fields["WORKER_RSS_MB"])
    return wall, rss, inner_seconds(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--budget-mb", type=int, default=1024, help="memory budget for ours and ccdproc (MiB)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the frames (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the frames and results")
    parser.add_argument("--normalize", action="store_true", help="additive + scaling normalization (Siril addscale)")
    parser.add_argument("--skip", action="append", default=[], choices=["siril", "ccdproc"])
    parser.add_argument("--repeat", type=int, default=1, help="interleaved runs per contender; the best is kept")
    args = parser.parse_args(argv)

    folder = args.dir or Path(tempfile.mkdtemp(prefix="bench_integration_"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if len(list(folder.glob("light_*.fit"))) != args.frames:
            for old in folder.glob("light_*.fit"):
                old.unlink()
            print(f"writing {args.frames} frames of {args.size}x{args.size} float32 to {folder} ...", flush=True)
            make_frames(folder, args.frames, args.size)
        data_mb = args.frames * args.size * args.size * 4 / 2**20
        norm = "additive+scaling" if args.normalize else "none"
        print(f"{args.frames} frames x {args.size}x{args.size} float32 = {data_mb:.0f} MiB; "
              f"budget {args.budget_mb} MiB; {os.cpu_count()} CPU(s); normalization: {norm}")
        contenders = {"procfw ImageIntegration": lambda: run_ours(folder, args)}
        siril = shutil.which("siril-cli")
        if "siril" in args.skip:
            print("siril: skipped (--skip)")
        elif siril is None:
            print("siril: skipped, siril-cli is not installed (apt-get install siril)")
        else:
            script = folder / "stack.ssf"
            norm = "-norm=addscale" if args.normalize else "-nonorm"
            script.write_text(f"requires 1.0.0\nset32bits\nstack light_ rej w 3 3 {norm} -out=siril_result\n")
            contenders["Siril stack (siril-cli)"] = lambda: measured(run([siril, "-d", str(folder), "-s", str(script)]))
        if "ccdproc" in args.skip:
            print("ccdproc: skipped (--skip)")
        else:
            try:
                import ccdproc  # noqa: F401
            except ImportError:
                print("ccdproc: skipped, not installed (.venv/bin/pip install ccdproc)")
            else:
                contenders["ccdproc.combine"] = lambda: measured(run(
                    [sys.executable, "-c", CCDPROC, str(folder), str(args.budget_mb), str(folder / "ccdproc.fits")]
                ))
        # interleaved repeats; the best wall time of each contender is kept (the machine may be shared)
        results: dict[str, tuple[float, float, float | None]] = {}
        for _ in range(args.repeat):
            for name, contender in contenders.items():
                wall, rss, inner = contender()
                best = results.get(name)
                results[name] = (wall, rss, inner) if best is None or wall < best[0] else best
        print(f"\n{'contender':28s} {'wall s':>8s} {'inner s':>8s} {'peak RSS MiB':>13s}")
        for name, (wall, rss, inner) in results.items():
            inner_text = f"{inner:8.2f}" if inner is not None else f"{'-':>8s}"
            print(f"{name:28s} {wall:8.2f} {inner_text} {rss:13.0f}")
        ours_wall, ours_rss, _ = results["procfw ImageIntegration"]
        for name, (wall, rss, _) in results.items():
            if name.startswith("procfw"):
                continue
            print(f"ours/{name.split()[0]}: wall time x{ours_wall / wall:.2f}, peak memory x{ours_rss / rss:.2f}")
        if "Siril stack (siril-cli)" in results and (folder / "siril_result.fit").exists():
            from astropy.io import fits

            ours = fits.getdata(folder / "ours.fits").astype(np.float64)
            theirs = fits.getdata(folder / "siril_result.fit").astype(np.float64)
            diff = np.abs(ours - theirs)
            print(f"ours vs Siril: median |diff| {np.median(diff):.2e}, 99th percentile {np.quantile(diff, 0.99):.2e}")
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
