"""Benchmark: MultiscaleLinearTransform (6 starlet layers, B3 spline) against the same maths
in plain numpy/scipy on one float32 plane.

The baseline is what a numpy user would write: for each scale, ``scipy.ndimage.convolve``
with the 2-D B3 kernel whose taps are ``2^j`` apart (symmetric edges), the detail layer as
the difference of two levels, each layer scaled by its bias and added up with the residual.
Both run in the same process on the same image; the script prints wall times (best of
``--repeat``), the ratio ours/plain, the peak memory each allocates (tracemalloc, which
numpy reports to; procfw's compiled pass allocates only row buffers), the process's peak
RSS, and the largest difference between the two results.

    python bench/bench_multiscale.py [--size 4096] [--repeat 1]
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
from scipy import ndimage

from processes.kernels import multiscale as ms
from processes.multiscale.common import B3_5
from processes.multiscale.wavelets import MultiscaleLinearTransform

LAYERS = 6
BIAS = (0.0, 0.2, 0.1, 0.0, 0.0, 0.0)


def plain(plane: np.ndarray) -> np.ndarray:
    """The starlet transform and reconstruction with 2-D convolutions, in plain numpy/scipy."""
    b3 = np.array(ms.B3_SPLINE, dtype=np.float32)
    current = plane
    out = np.zeros_like(plane)
    for j in range(LAYERS):
        step = 1 << j
        kernel = np.zeros((4 * step + 1, 4 * step + 1), dtype=np.float32)
        kernel[::step, ::step] = np.outer(b3, b3)
        smooth = ndimage.convolve(current, kernel, mode="reflect")
        out += (current - smooth) * np.float32(1 + BIAS[j])
        current = smooth
    out += current
    return np.clip(out, 0, 1)


def ours(plane: np.ndarray) -> np.ndarray:
    """procfw's MultiscaleLinearTransform on the plane (the starlet with B3 spline)."""
    rows = tuple((True, True, b, False, 3.0, 1.0, 1) for b in BIAS) + ((True, True, 0.0, False, 3.0, 1.0, 1),)
    process = MultiscaleLinearTransform(layers=rows, scalingFunctionData=B3_5["data"],
                                        scalingFunctionRowFilter=B3_5["row"], scalingFunctionColFilter=B3_5["row"],
                                        scalingFunctionName=B3_5["name"])
    return process.process_plane(plane)


def measure(func: Callable[[np.ndarray], np.ndarray], plane: np.ndarray, repeat: int) -> tuple[float, int, np.ndarray]:
    """(best wall time, peak traced bytes, result)."""
    best = float("inf")
    result = plane
    peak = 0
    for _ in range(repeat):
        tracemalloc.start()
        start = time.perf_counter()
        result = func(plane)
        best = min(best, time.perf_counter() - start)
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return best, peak, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(3)
    plane = rng.uniform(0.05, 0.3, (args.size, args.size)).astype(np.float32)
    ours(plane[:256, :256])  # compile the numba pass outside the timing
    mib = plane.nbytes / 2**20
    rss_base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # with the input image
    t_ours, m_ours, r_ours = measure(ours, plane, args.repeat)
    rss_ours = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t_plain, m_plain, r_plain = measure(plain, plane, args.repeat)
    rss_all = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"image {args.size}x{args.size} float32 ({mib:.0f} MiB), MultiscaleLinearTransform, {LAYERS} starlet layers")
    print(f"ours : {t_ours:8.3f} s   peak allocated {m_ours / 2**20:8.0f} MiB ({m_ours / plane.nbytes:.2f}x image)"
          f"   process peak RSS {rss_ours:.0f} MiB (+{rss_ours - rss_base:.0f} MiB over the loaded input: "
          f"{(rss_ours - rss_base) / mib:.2f}x image)")
    print(f"plain: {t_plain:8.3f} s   peak allocated {m_plain / 2**20:8.0f} MiB ({m_plain / plane.nbytes:.2f}x image)"
          f"   process peak RSS {rss_all:.0f} MiB")
    print(f"ratio ours/plain: time {t_ours / t_plain:.3f}, memory {m_ours / max(m_plain, 1):.2f}")
    print(f"max |ours - plain| = {float(np.abs(r_ours - r_plain).max()):.2e}")


if __name__ == "__main__":
    main()
