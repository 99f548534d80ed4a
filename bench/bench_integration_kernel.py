"""Benchmark: the compiled ImageIntegration kernel's CPU time per pixel as the frame count grows.

For each N in ``--frames`` (default ``8,16,32,48,64,128``) the script makes a synthetic band
stack ``(N, rows, width)`` float32 — a sky gradient, stars, noise, hot pixels, a satellite
trail in one frame, zero registration borders in some frames — and times
:func:`processes.integration.kernel_numba.integrate_rows` on it as ImageIntegration runs it
for the corpus (winsorized sigma clipping 3/3, cutoff 5, Scale rejection normalization, range
rejection of zeros, weights, rejection maps), in this thread only: CPU time, best of
``--repeat``.  It prints ns per pixel, ns per pixel and frame, the fraction of pixels with
a rejection, and a SHA-256 of the outputs (image, maps, counts) so that two versions of
the kernel can be compared bit for bit.  ``--kernel PATH`` times another copy of the
kernel module (e.g. the previous commit's ``kernel_numba.py`` copied elsewhere).

Run: ``.venv/bin/python bench/bench_integration_kernel.py [--frames 8,16,32] [--rows 16]
[--width 1920] [--repeat 3] [--kernel PATH] [--border 192]``
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import sys
import time
from pathlib import Path

import numpy as np


def load_kernel(path: str | None):
    """The kernel module: the package's, or the copy at ``path``."""
    if path is None:
        from processes.integration import kernel_numba

        return kernel_numba
    # imported by its own name from its folder (numba's cache reloads the module by name)
    folder = str(Path(path).resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(Path(path).stem)


def make_stack(n: int, rows: int, width: int, seed: int = 1, border: int = 2
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(stack, scale, offset): (N, rows, width) float32 frames of one sky with noise, stars,
    outliers and zero borders (every fourth frame: the first ``border`` + 0..6 columns), frame i being
    ``sky·a_i + b_i`` (a_0 = 1, b_0 = 0), and the normalization ``v·scale + offset`` that brings every
    frame back to frame 0's sky."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:rows, 0:width].astype(np.float32)
    sky = 0.1 + 0.03 * xx / width + 0.02 * yy / max(rows, 1)
    for x0 in rng.uniform(0, width, max(1, width // 60)):
        y0 = rng.uniform(0, rows)
        sky += rng.uniform(0.02, 0.4) * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * 1.8**2))
    stack = np.empty((n, rows, width), np.float32)
    a = 1 + 0.03 * rng.standard_normal(n)
    b = 0.005 * rng.standard_normal(n)
    a[0], b[0] = 1, 0
    for i in range(n):
        frame = sky * a[i] + b[i]
        frame = frame + 0.01 * rng.standard_normal((rows, width))
        hot = rng.random((rows, width)) < 2e-3
        frame[hot] = rng.uniform(0.3, 1.0, hot.sum())
        if i == n // 3:
            frame[rows // 2] = 0.9
        if i % 4 == 3:
            frame[:, : border + i % 7] = 0.0
        stack[i] = np.clip(frame, 0.0, 1.0)
    return stack, (1 / a).astype(np.float32), (-b / a).astype(np.float32)


def run_kernel(kernel, stack: np.ndarray, k: np.ndarray, offset: np.ndarray, seed: int = 2):
    """integrate_rows over the whole stack as ImageIntegration runs it, with the normalization
    ``v·k + offset`` for rejection and output; (image, low, high, counts)."""
    from processes.integration.compiled import sorting_networks

    n, rows, width = stack.shape
    rng = np.random.default_rng(seed)
    weights = (0.5 + rng.random(n)).astype(np.float32)
    image = np.zeros((rows, width), np.float32)
    low = np.zeros((rows, width), np.float32)
    high = np.zeros((rows, width), np.float32)
    counts = np.zeros((4, n), np.int64)
    pairs, start = sorting_networks(n)
    kernel.integrate_rows(stack, 0, rows, 1, k, offset, True, np.float32(0.0), False, np.float32(0.0), 2, True, True,
                          3.0, 3.0, 5.0, k, offset, weights, image, True, low, high, True, True, counts, pairs, start,
                          np.zeros((1, 1, 1), np.uint8), False)
    return image, low, high, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", default="8,16,32,48,64,128")
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--kernel", default=None, help="path of another copy of kernel_numba.py to time")
    parser.add_argument("--border", type=int, default=2,
                        help="zero columns of every fourth frame (+0..6), as registration leaves: the pixels such a "
                             "border touches are integrated one by one")
    args = parser.parse_args()
    kernel = load_kernel(args.kernel)
    print(f"{'N':>5} {'ns/px':>9} {'ns/px/N':>8} {'rejecting':>9}  sha256")
    for n in (int(v) for v in args.frames.split(",")):
        stack, k, offset = make_stack(n, args.rows, args.width, border=args.border)
        run_kernel(kernel, stack[:, :1], k, offset)  # compile / load
        best = float("inf")
        for _ in range(args.repeat):
            start = time.process_time()
            image, low, high, counts = run_kernel(kernel, stack, k, offset)
            best = min(best, time.process_time() - start)
        digest = hashlib.sha256(b"".join(a.tobytes() for a in (image, low, high, counts))).hexdigest()[:16]
        pixels = args.rows * args.width
        rejecting = float(((low > 0) | (high > 0)).mean())
        print(f"{n:>5} {best / pixels * 1e9:>9.1f} {best / pixels / n * 1e9:>8.2f} {rejecting:>9.3f}  {digest}")


if __name__ == "__main__":
    main()
