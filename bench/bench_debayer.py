"""Benchmark: Debayer (VNG + MRS noise evaluation) per frame against ``siril-cli convert -debayer``.

Both run, in one invocation, on copies of the same raw CFA frames (by default the 12
Seestar S50 frames of the shared corpus, 1080×1920 GRBG uint16):

* ``siril``: a Siril script ``requires 1.0.0`` / ``cd DIR`` / ``convert light -debayer
  -out=OUT`` run by ``siril-cli -s script -d DIR`` (reads, demosaics and writes every
  frame; Siril's own default interpolation and its OpenMP threads);
* ``ours``: per frame, ``read_image`` + :func:`processes.debayer.process.debayer_image` (VNG) +
  the noise evaluation Debayer reports (MRS, three channels), single-threaded, in this
  process; ``--write`` also writes each RGB result (FITS float32) to a scratch folder.

Prints, per frame, wall and CPU time of each (Siril's CPU time is its user + system time
from the kernel's child accounting), the ratios ours/siril, and the peak resident memory
of each (Siril's measured by GNU ``/usr/bin/time`` when installed, ours of this process,
which includes the Python interpreter, numpy and numba).  The compiled kernels are loaded on a warm-up
frame first, outside the timing.

    python bench/bench_debayer.py [--frames DIR] [--siril siril-cli] [--repeat 1] [--write]
"""

from __future__ import annotations

import argparse
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CORPUS = (Path(__file__).resolve().parents[2] / "shared" / "corpus" / "frames" / "seestar-s50"
          / "M94_2025-03-27_session1")


def run_siril(siril: str, frames: list[Path], work: Path) -> tuple[float, float, int]:
    """(wall s, CPU s, peak RSS KiB) of Siril converting ``frames`` with -debayer."""
    src = work / "siril_in"
    out = work / "siril_out"
    src.mkdir()
    out.mkdir()
    for f in frames:
        shutil.copy2(f, src / f.name)
    script = work / "debayer.ssf"
    script.write_text(f"requires 1.0.0\ncd {src}\nconvert light -debayer -out={out}\n")
    command = [siril, "-s", str(script), "-d", str(src)]
    # a forked child's peak RSS counts this process's pages until it execs, so Siril's own
    # peak comes from GNU time (a small process) when it is installed
    gnu_time = Path("/usr/bin/time")
    rss_file = work / "siril_rss.txt"
    if gnu_time.exists():
        command = [str(gnu_time), "-f", "%M", "-o", str(rss_file), *command]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or len(list(out.glob("*.fit*"))) != len(frames):
        raise RuntimeError(f"siril failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rss = int(rss_file.read_text().split()[-1]) if rss_file.exists() else 0
    return wall, cpu, rss


def run_ours(frames: list[Path], write_dir: Path | None,
             steps: dict[str, float] | None = None) -> tuple[list[float], list[float], dict]:
    """Per-frame wall and CPU times of read + VNG + noise (+ write), and the last noise outputs;
    ``steps`` accumulates the CPU time of each step."""
    from processes.debayer.process import _noise, debayer_image, resolve_pattern
    from procfw.io import read_image

    walls, cpus = [], []
    noise: dict = {}
    steps = {} if steps is None else steps

    def timed(name, func):
        start = time.process_time()
        result = func()
        steps[name] = steps.get(name, 0.0) + time.process_time() - start
        return result

    for path in frames:
        wall, cpu = time.perf_counter(), time.process_time()
        image = timed("read", lambda: read_image(path))  # noqa: B023 - called at once
        pattern, _ = resolve_pattern(image, "Auto")
        rgb = timed("VNG", lambda: debayer_image(image, pattern, "VNG"))  # noqa: B023
        noise = timed("MRS noise (3 channels)", lambda: _noise(rgb, "NoiseEvaluation_MRS"))  # noqa: B023
        if write_dir is not None:
            from procfw.io import write_image

            timed("write", lambda: write_image(rgb, write_dir / f"{path.stem}_d.fits"))  # noqa: B023
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus, noise


def main(argv: list[str] | None = None) -> int:
    """Run both and print a small table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=Path, default=CORPUS, help="folder of raw CFA FITS frames (*.fit, *.fits)")
    parser.add_argument("--siril", default="siril-cli", help="the siril-cli executable")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best per-frame time is kept")
    parser.add_argument("--write", action="store_true", help="ours also writes each RGB frame (FITS float32)")
    args = parser.parse_args(argv)
    frames = sorted([*args.frames.glob("*.fit"), *args.frames.glob("*.fits")])
    if not frames:
        print(f"no frames in {args.frames}", file=sys.stderr)
        return 2
    if shutil.which(args.siril) is None:
        print(f"{args.siril} not found", file=sys.stderr)
        return 2
    n = len(frames)
    run_ours(frames[:1], None)  # warm-up: import numpy/numba, load the cached kernels
    best = {"siril": (math.inf, math.inf), "ours": (math.inf, math.inf)}
    siril_rss = 0
    steps: dict[str, float] = {}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="bench_debayer_") as tmp:
            wall, cpu, siril_rss = run_siril(args.siril, frames, Path(tmp))
            best["siril"] = (min(best["siril"][0], wall / n), min(best["siril"][1], cpu / n))
            write_dir = Path(tmp) / "ours_out" if args.write else None
            if write_dir is not None:
                write_dir.mkdir()
            walls, cpus, noise = run_ours(frames, write_dir, steps)
            best["ours"] = (min(best["ours"][0], sum(walls) / n), min(best["ours"][1], sum(cpus) / n))
    ours_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    what = "read + VNG + MRS noise" + (" + write" if args.write else "")
    print(f"{n} frames from {args.frames}")
    print(f"{'per frame':<44}{'wall s':>10}{'CPU s':>10}{'peak RSS MiB':>14}")
    rss_text = f"{siril_rss / 1024:>14.0f}" if siril_rss else f"{'n/a':>14}"
    print(f"{'siril convert -debayer (read+debayer+write)':<44}{best['siril'][0]:>10.3f}{best['siril'][1]:>10.3f}"
          f"{rss_text}")
    print(f"{'ours (' + what + ')':<44}{best['ours'][0]:>10.3f}{best['ours'][1]:>10.3f}{ours_rss / 1024:>14.0f}")
    ratio_wall = best["ours"][0] / best["siril"][0]
    ratio_cpu = best["ours"][1] / best["siril"][1]
    print(f"ratio ours/siril: wall {ratio_wall:.2f}, CPU {ratio_cpu:.2f}")
    runs = n * args.repeat
    print("ours, CPU s per frame by step: " + ", ".join(f"{k} {v / runs:.3f}" for k, v in steps.items()))
    print("last frame noise (R, G, B): " + ", ".join(f"{noise[f'noiseEstimate{c}']:.4e}" for c in "RGB"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
