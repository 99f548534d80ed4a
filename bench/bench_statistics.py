"""Benchmark: Statistics (default items) against numpy and astropy computing the same estimators.

The image is a synthetic RGB float32 sky (default 6000×4000): background, noise, stars,
a few saturated (1.0) and black (0.0) pixels.  Every contender computes, per channel and
over the samples that are finite and neither 0 nor 1 (PixInsight's clipped statistics):
count, mean, median, variance and standard deviation (n − 1), average absolute deviation
from the median, MAD, minimum and maximum.

* ``ours``: ``Statistics().measure`` (compiled passes; no copy of the channel);
* ``numpy``: boolean selection, ``np.mean``/``np.var`` in float64, ``np.median`` of the
  samples and of their absolute deviations;
* ``astropy``: the same selection, ``astropy.stats.median_absolute_deviation`` for median
  and MAD, numpy for the rest.

Prints wall and CPU time (best of ``--repeat``), the ratio ours/numpy and ours/astropy,
the peak memory each allocates beyond the image (tracemalloc), and the largest relative
difference from numpy's values.  ``--expensive`` also times BWMV and PBMV (ours only).

    python bench/bench_statistics.py [--size 6000x4000] [--repeat 3] [--expensive]
"""

from __future__ import annotations

import argparse
import math
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from processes.utility.statistics import DEFAULT_ESTIMATORS, Statistics
from procfw.image import Image


def synthetic_image(width: int, height: int, seed: int = 1) -> np.ndarray:
    """A (3, height, width) float32 sky with stars, a few saturated and black pixels."""
    rng = np.random.default_rng(seed)
    pixels = np.empty((3, height, width), dtype=np.float32)
    for c, level in enumerate((0.012, 0.010, 0.015)):
        channel = rng.standard_normal((height, width), dtype=np.float32)
        channel *= np.float32(0.0015)
        channel += np.float32(level)
        pixels[c] = channel
    flat = pixels.reshape(3, -1)
    stars = rng.integers(0, height * width, size=max(1, height * width // 2000))
    flat[:, stars] = rng.uniform(0.2, 1.0, size=(3, stars.size)).astype(np.float32)
    flat[:, stars[::50]] = 1.0
    np.clip(pixels, 0, 1, out=pixels)
    flat[:, rng.integers(0, height * width, size=1000)] = 0.0
    return pixels


def _selected(channel: np.ndarray) -> np.ndarray:
    v = channel.ravel()
    return v[np.isfinite(v) & (v != 0) & (v != 1)]


def _numpy_channel(v: np.ndarray, median_mad: Callable[[np.ndarray], tuple[float, float]]) -> dict[str, Any]:
    med, mad = median_mad(v)
    variance = float(np.var(v, dtype=np.float64, ddof=1))
    return {
        "count": v.size, "mean": float(np.mean(v, dtype=np.float64)), "median": med, "variance": variance,
        "stdDev": math.sqrt(variance), "avgDev": float(np.mean(np.abs(v - np.float32(med)), dtype=np.float64)),
        "MAD": mad, "minimum": float(v.min()), "maximum": float(v.max()),
    }


def numpy_statistics(pixels: np.ndarray) -> dict[str, dict[str, Any]]:
    """Per channel, with numpy only."""
    def median_mad(v: np.ndarray) -> tuple[float, float]:
        med = float(np.median(v))
        return med, float(np.median(np.abs(v - np.float32(med))))

    return {name: _numpy_channel(_selected(pixels[c]), median_mad) for c, name in enumerate("RGB")}


def astropy_statistics(pixels: np.ndarray) -> dict[str, dict[str, Any]]:
    """Per channel, with astropy.stats for the median and the MAD."""
    from astropy.stats import median_absolute_deviation

    def median_mad(v: np.ndarray) -> tuple[float, float]:
        return float(np.median(v)), float(median_absolute_deviation(v))

    return {name: _numpy_channel(_selected(pixels[c]), median_mad) for c, name in enumerate("RGB")}


def ours(pixels: np.ndarray, instance: Statistics | None = None) -> dict[str, dict[str, Any]]:
    """procfw's Statistics."""
    return (instance or Statistics()).measure(Image(pixels))


def measure(func: Callable[[], Any], repeat: int) -> tuple[float, float, int, Any]:
    """(best wall s, best CPU s, peak bytes allocated, result) over ``repeat`` runs."""
    best_wall = best_cpu = math.inf
    result = None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = func()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    tracemalloc.start()
    func()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best_wall, best_cpu, peak, result


def max_relative_difference(a: dict, b: dict) -> float:
    """Largest |a − b| / |b| over channels and the default estimators."""
    worst = 0.0
    for channel in b:
        for key in DEFAULT_ESTIMATORS:
            x, y = float(a[channel][key]), float(b[channel][key])
            worst = max(worst, abs(x - y) / abs(y) if y else abs(x))
    return worst


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a small table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="6000x4000", help="image size WIDTHxHEIGHT (default 6000x4000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender; the best time is kept")
    parser.add_argument("--expensive", action="store_true", help="also time ours with BWMV and PBMV")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    pixels = synthetic_image(width, height)
    ours(pixels[:, :64, :64].copy())  # load the compiled kernels (numba cache) outside the timing
    ours(pixels)
    print(f"Statistics on a {width}x{height} RGB float32 image ({pixels.nbytes / 2**20:.0f} MiB), "
          f"best of {args.repeat}")
    rows = [("ours", lambda: ours(pixels)), ("numpy", lambda: numpy_statistics(pixels)),
            ("astropy", lambda: astropy_statistics(pixels))]
    if args.expensive:
        both = Statistics(computeBWMV=True, computePBMV=True)
        rows.append(("ours+BWMV+PBMV", lambda: ours(pixels, both)))
    results = {}
    for name, func in rows:
        results[name] = measure(func, args.repeat)
    print(f"{'contender':<16}{'wall s':>10}{'CPU s':>10}{'peak MiB':>10}{'max rel diff':>14}")
    for name, (wall, cpu, peak, result) in results.items():
        diff = max_relative_difference(result, results["numpy"][3])
        print(f"{name:<16}{wall:>10.3f}{cpu:>10.3f}{peak / 2**20:>10.1f}{diff:>14.2e}")
    for base in ("numpy", "astropy"):
        print(f"ratio ours/{base}: wall {results['ours'][0] / results[base][0]:.3f}, "
              f"CPU {results['ours'][1] / results[base][1]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
