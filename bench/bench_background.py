"""Benchmark: ABE and DBE against plain numpy/scipy solutions of the same models.

On a synthetic RGB float32 sky (default 6000×4000: a gradient, stars, noise):

* **ABE** (defaults, degree 4, Subtract) against numpy's ``lstsq`` of a degree-4 polynomial
  on every pixel of an 8-pixel subsample grid, evaluated term by term on every pixel and
  subtracted;
* **DBE** with a 200-sample table (Subtract, smoothing 0.25) against
  ``scipy.interpolate.RBFInterpolator`` (thin plate, the same smoothing) through the same
  200 box means, evaluated on every pixel and subtracted.  A thin plate on 24 million
  pixels × 200 centres takes minutes per channel, so by default the plain DBE evaluates the
  spline on a band of ``--band`` rows and its time is scaled to the full height (printed as
  such); it still builds every pixel's coordinates and the full output, so its peak RSS is
  a lower bound of the full run's.  ``--band 0`` evaluates every row.

Each run happens in its own child process, so the peak RSS (``ru_maxrss``) printed is that
run's own; "added" is the peak minus the RSS once the image was built.

    python bench/bench_background.py [--size 6000x4000] [--repeat 2] [--band 200]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

SAMPLES = 200
MIB = 1024  # ru_maxrss is in KiB on Linux


def synthetic_image(width: int, height: int, seed: int = 1) -> np.ndarray:
    """(3, height, width) float32: level + quadratic gradient + sparse stars + noise."""
    rng = np.random.default_rng(seed)
    y = np.linspace(-1, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
    pixels = np.empty((3, height, width), dtype=np.float32)
    for c, level in enumerate((0.10, 0.12, 0.14)):
        channel = rng.standard_normal((height, width), dtype=np.float32)
        channel *= np.float32(0.004)
        channel += np.float32(level) + np.float32(0.03) * x * x + np.float32(0.02) * y + np.float32(0.01) * x * y
        pixels[c] = channel
    stars = rng.integers(0, height * width, size=height * width // 3000)
    pixels.reshape(3, -1)[:, stars] += rng.uniform(0.05, 0.5, size=(3, stars.size)).astype(np.float32)
    return pixels


def sample_table(width: int, height: int) -> list[tuple]:
    """200 samples (x, y, radius, symmetries, axialCount, fixed, z0, w0, z1, w1, z2, w2) on a jittered grid."""
    rng = np.random.default_rng(7)
    rows = []
    for k in range(SAMPLES):
        gx, gy = k % 20, k // 20
        x = int((gx + 0.5) * width / 20 + rng.uniform(-5, 5))
        y = int((gy + 0.5) * height / 10 + rng.uniform(-5, 5))
        rows.append((x, y, 10, 0, 6, 0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0))
    return rows


# -- procfw ---------------------------------------------------------------------------------
def ours_abe(pixels: np.ndarray) -> np.ndarray:
    from processes.background.abe import AutomaticBackgroundExtractor
    from procfw.image import Image
    from procfw.process import ExecutionContext

    process = AutomaticBackgroundExtractor(targetCorrection="Subtract", replaceTarget=True, discardModel=True)
    return process.apply(Image(pixels), ExecutionContext()).image.pixels


def ours_dbe(pixels: np.ndarray) -> np.ndarray:
    from processes.background.dbe import DynamicBackgroundExtraction
    from procfw.image import Image
    from procfw.process import ExecutionContext

    height, width = pixels.shape[1:]
    process = DynamicBackgroundExtraction(samples=sample_table(width, height), imageWidth=width, imageHeight=height,
                                          targetCorrection="Subtract", replaceTarget=True, discardModel=True)
    return process.apply(Image(pixels), ExecutionContext()).image.pixels


# -- plain numpy / scipy ----------------------------------------------------------------------
def plain_abe(pixels: np.ndarray, step: int = 8, degree: int = 4) -> np.ndarray:
    _, height, width = pixels.shape
    terms = [(i, j) for j in range(degree + 1) for i in range(degree + 1 - j)]
    ys, xs = np.mgrid[0:height:step, 0:width:step]
    u, v = 2 * xs.ravel() / (width - 1) - 1, 2 * ys.ravel() / (height - 1) - 1
    design = np.stack([u**i * v**j for i, j in terms], axis=1)
    x = np.linspace(-1, 1, width)[None, :]
    y = np.linspace(-1, 1, height)[:, None]
    out = np.empty_like(pixels)
    for c in range(pixels.shape[0]):
        coefficients, *_ = np.linalg.lstsq(design, pixels[c, ::step, ::step].ravel(), rcond=None)
        model = sum(k * x**i * y**j for k, (i, j) in zip(coefficients, terms))
        out[c] = pixels[c] - model
    return out


def plain_dbe(pixels: np.ndarray, band: int = 0) -> np.ndarray:
    from scipy.interpolate import RBFInterpolator

    _, height, width = pixels.shape
    rows = height if band <= 0 else min(band, height)
    table = np.array([r[:3] for r in sample_table(width, height)], dtype=np.float64)
    unit = max(height, width) - 1
    points = table[:, [1, 0]] / unit
    out = np.empty_like(pixels)
    yy, xx = np.mgrid[0:height, 0:width]  # every pixel's coordinates, as the plain solution needs them
    grid = np.column_stack([yy.ravel(), xx.ravel()]) / unit
    del yy, xx
    for c in range(pixels.shape[0]):
        values = [pixels[c, int(y) - 10: int(y) + 11, int(x) - 10: int(x) + 11].mean() for x, y, _ in table]
        rbf = RBFInterpolator(points, np.array(values), kernel="thin_plate_spline", smoothing=0.25**2 * 0.02)
        out[c, :rows] = pixels[c, :rows] - rbf(grid[: rows * width]).reshape(rows, width)
        out[c, rows:] = pixels[c, rows:]  # (with --band: the rows not evaluated are copied, for the memory)
    return out


def child(which: str, width: int, height: int, repeat: int, band: int) -> None:
    pixels = synthetic_image(width, height)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    func = {"ours-abe": ours_abe, "plain-abe": plain_abe, "ours-dbe": ours_dbe,
            "plain-dbe": lambda p: plain_dbe(p, band)}[which]
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func(pixels)
        best = min(best, time.perf_counter() - start)
    if which == "plain-dbe" and 0 < band < height:
        best *= height / band
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"time": best, "peak": peak, "base": base}))


def run(which: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--child", which, "--size", args.size, "--repeat", str(args.repeat),
               "--band", str(args.band)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="6000x4000", help="image size WIDTHxHEIGHT (default 6000x4000)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per implementation (best is kept)")
    parser.add_argument("--band", type=int, default=200, help="rows the plain DBE evaluates (0: all; time scaled)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    if args.child:
        child(args.child, width, height, args.repeat, args.band)
        return
    print(f"image: 3 x {height} x {width} float32 ({3 * height * width * 4 / (1 << 20):.0f} MiB)")
    for name in ("abe", "dbe"):
        plain, ours = run(f"plain-{name}", args), run(f"ours-{name}", args)
        note = f" ({args.band} rows evaluated, time scaled)" if name == "dbe" and 0 < args.band < height else ""
        for label, r in ((f"plain {name.upper()}{note}", plain), (f"procfw {name.upper()}", ours)):
            print(f"{label:<48} {r['time']:8.2f} s   peak RSS {r['peak'] / MIB:7.0f} MiB "
                  f"(added {(r['peak'] - r['base']) / MIB:6.0f} MiB)")
        print(f"ratio ours/plain {name.upper()}: time {ours['time'] / plain['time']:.3f}   "
              f"peak RSS {ours['peak'] / plain['peak']:.2f}")


if __name__ == "__main__":
    main()
