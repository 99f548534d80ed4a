"""Benchmark: Debayer's two per-frame kernels, VNG demosaicing and the MRS noise estimate.

On the raw CFA frames (by default the 12 Seestar S50 frames of the shared corpus, 1080×1920
GRBG uint16), per frame and single-threaded:

* ``VNG``: :func:`processes.debayer.process.debayer_image` with method ``VNG``;
* ``MRS``: :func:`processes.kernels.noise.estimate_noise` (``MRS``) of each of the three
  RGB channels of that result, the work Debayer's noise evaluation does.

Each is timed ``--repeat`` times per frame (after a warm-up frame that loads the compiled
kernels); the minimum wall and CPU time per frame is kept, and the mean over the frames of
those minima is printed.  ``--fingerprint FILE`` also writes, as JSON, a SHA-256 of every
RGB result and every noise estimate (σ as ``float.hex``, fraction, algorithm), so two
versions of the code can be compared exactly (run each with its own tree on ``PYTHONPATH``).

    python bench/bench_vng_noise.py [--frames DIR] [--repeat 5] [--fingerprint out.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from bench_stars import CORPUS, best_of  # bench/ is this script's folder: on sys.path


def main(argv: list[str] | None = None) -> int:
    """Time both kernels on every frame and print the per-frame means of the best times."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=Path, default=CORPUS, help="folder of raw CFA FITS frames (*.fit, *.fits)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per frame; the minimum is kept")
    parser.add_argument("--fingerprint", type=Path, help="write hashes of the results and the noise estimates here")
    args = parser.parse_args(argv)
    from processes.debayer.process import debayer_image, resolve_pattern
    from processes.kernels.noise import estimate_noise
    from procfw.io import read_image

    frames = sorted([*args.frames.glob("*.fit"), *args.frames.glob("*.fits")])
    if not frames:
        print(f"no frames in {args.frames}", file=sys.stderr)
        return 2
    images = [read_image(path) for path in frames]
    patterns = [resolve_pattern(image, "Auto")[0] for image in images]
    rgb = debayer_image(images[0], patterns[0], "VNG")  # warm-up: load the compiled kernels
    estimate_noise(rgb.pixels[0], "MRS")
    totals = {"VNG": [0.0, 0.0], "MRS (3 channels)": [0.0, 0.0]}
    prints: list[dict[str, Any]] = []
    for image, pattern in zip(images, patterns):
        wall, cpu, rgb = best_of(lambda: debayer_image(image, pattern, "VNG"), args.repeat)  # noqa: B023
        totals["VNG"][0] += wall
        totals["VNG"][1] += cpu
        pixels = rgb.pixels
        wall, cpu, estimates = best_of(lambda: [estimate_noise(pixels[c], "MRS") for c in range(3)],  # noqa: B023
                                       args.repeat)
        totals["MRS (3 channels)"][0] += wall
        totals["MRS (3 channels)"][1] += cpu
        prints.append({"rgb": hashlib.sha256(pixels.tobytes()).hexdigest(),
                       "noise": [[e.sigma.hex(), e.fraction.hex(), e.algorithm] for e in estimates]})
    n = len(frames)
    print(f"{n} frames from {args.frames}, best of {args.repeat} per frame, single-threaded")
    print(f"{'per frame':<20}{'wall ms':>10}{'CPU ms':>10}")
    for name, (wall, cpu) in totals.items():
        print(f"{name:<20}{wall / n:>10.1f}{cpu / n:>10.1f}")  # best_of gives ms
    if args.fingerprint is not None:
        args.fingerprint.write_text(json.dumps(prints, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
