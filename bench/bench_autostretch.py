"""Benchmark: AutoStretch (linked) against a plain numpy AutoSTF on the same RGB float32 image.

The numpy baseline is what a numpy user would write inline: ``np.median`` and the MAD per
channel, the linked shadows clipping and midtones balance, then clipping and the midtones
transfer function over the whole array.  Both run in the same process on the same image;
the script prints wall times (best of ``--repeat``), the ratio ours/numpy, the peak
memory each allocates (tracemalloc, which numpy reports to), and the largest difference
between the two results.

    python bench/bench_autostretch.py [--size 6000x4000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from processes.intensity.stf import AutoStretch
from procfw.image import Image
from procfw.process import ExecutionContext


def synthetic_image(width: int, height: int, seed: int = 1) -> np.ndarray:
    """A (3, height, width) float32 sky: per-channel background + noise + a few bright stars."""
    rng = np.random.default_rng(seed)
    pixels = np.empty((3, height, width), dtype=np.float32)
    for c, level in enumerate((0.012, 0.010, 0.015)):
        channel = rng.standard_normal((height, width), dtype=np.float32)
        channel *= np.float32(0.0015)
        channel += np.float32(level)
        pixels[c] = channel
    stars = rng.integers(0, height * width, size=max(1, height * width // 2000))
    pixels.reshape(3, -1)[:, stars] = rng.uniform(0.2, 1.0, size=(3, stars.size)).astype(np.float32)
    np.clip(pixels, 0, 1, out=pixels)
    return pixels


def numpy_autostretch(pixels: np.ndarray, clipping: float = -2.8, target: float = 0.25) -> np.ndarray:
    """A straightforward numpy linked AutoSTF (normal, non-inverted images)."""
    medians = np.array([np.median(pixels[c]) for c in range(3)])
    mads = np.array([np.median(np.abs(pixels[c] - medians[c])) for c in range(3)]) * 1.4826
    c0 = min(max(float(np.mean(medians + clipping * mads)), 0.0), 1.0)
    x = float(np.mean(medians)) - c0
    m = (target - 1) * x / ((2 * target - 1) * x - target)
    out = np.clip((pixels - np.float32(c0)) / np.float32(1 - c0), 0, 1)
    return (np.float32(m - 1) * out) / (np.float32(2 * m - 1) * out - np.float32(m))


def ours(pixels: np.ndarray) -> np.ndarray:
    """procfw's AutoStretch, linked, applied through its HistogramTransformation."""
    output = AutoStretch(linked=True).apply(Image(pixels), ExecutionContext())
    assert output.image is not None
    return output.image.pixels


def measure(func: Callable[[np.ndarray], np.ndarray], pixels: np.ndarray, repeat: int) -> tuple[float, int, np.ndarray]:
    """Best wall time, peak traced allocation (bytes) and the result of ``func(pixels)``."""
    best = float("inf")
    result = func(pixels)  # warm-up (imports, caches)
    del result
    for _ in range(repeat):
        start = time.perf_counter()
        result = func(pixels)
        best = min(best, time.perf_counter() - start)
        del result
    tracemalloc.start()
    result = func(pixels)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return best, peak, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="6000x4000", help="image size WIDTHxHEIGHT (default 6000x4000)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per implementation (best is kept)")
    args = parser.parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size must look like 6000x4000, not {args.size!r}")
    pixels = synthetic_image(width, height)
    mib = 1 << 20
    print(f"image: 3 x {height} x {width} float32 ({pixels.nbytes / mib:.0f} MiB)")
    t_numpy, m_numpy, r_numpy = measure(numpy_autostretch, pixels, args.repeat)
    t_ours, m_ours, r_ours = measure(ours, pixels, args.repeat)
    diff = float(np.max(np.abs(r_numpy.astype(np.float64) - r_ours)))
    print(f"numpy baseline : {t_numpy:8.3f} s   peak {m_numpy / mib:8.1f} MiB")
    print(f"procfw         : {t_ours:8.3f} s   peak {m_ours / mib:8.1f} MiB")
    print(f"ratio ours/numpy: time {t_ours / t_numpy:.2f}   memory {m_ours / m_numpy:.2f}")
    print(f"max |difference| of the stretched images: {diff:.2e}")


if __name__ == "__main__":
    main()
