"""Benchmark: the two star detections of ``preprocess``, per frame, single-threaded.

On each raw CFA frame (by default the 12 Seestar S50 frames of the shared corpus,
1080×1920 GRBG), debayered in memory with Debayer's VNG, the benchmark times:

* ``measure_stars``: :func:`processes.kernels.starmeasure.measure_stars` on the float64
  luminance plane, as ``preprocess`` measures every calibrated light
  (:func:`processes.workflows.preprocess.pipeline.luminance`);
* ``detect_stars``: StarAlignment's :func:`processes.staralignment.stars.detect_stars` with
  StarAlignment's default detection settings on its :func:`~processes.staralignment.frames.
  detection_plane` (the float32 mean of the channels);
* ``detection_plane``: that plane itself.

Each call is repeated ``--repeat`` times per frame after one warm-up call (the compiled
kernels load outside the timing); printed per frame: the minimum wall time
(``perf_counter``) and the minimum CPU time (``process_time``) over the repeats, in ms,
with the star counts, then the mean and median of those minima over the frames.

    python bench/bench_stars.py [--frames DIR] [--count 12] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CORPUS = (Path(__file__).resolve().parents[2] / "shared" / "corpus" / "frames" / "seestar-s50"
          / "M94_2025-03-27_session1")


def best_of(call: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """(minimum wall ms, minimum CPU ms, last result) of ``repeat`` calls of ``call``."""
    walls, cpus = [], []
    result = None
    for _ in range(max(1, repeat)):
        wall, cpu = time.perf_counter(), time.process_time()
        result = call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return 1e3 * min(walls), 1e3 * min(cpus), result


def main(argv: list[str] | None = None) -> int:
    """Time the star detections on every frame and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=Path, default=CORPUS, help="folder of raw CFA frames (FITS)")
    parser.add_argument("--count", type=int, default=12, help="at most this many frames")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per frame and function")
    args = parser.parse_args(argv)

    from processes.debayer.process import debayer_image, resolve_pattern
    from processes.kernels.starmeasure import measure_stars
    from processes.staralignment.frames import detection_plane
    from processes.staralignment.process import StarAlignment
    from processes.staralignment.stars import detect_stars
    from processes.workflows.preprocess.pipeline import luminance
    from procfw.io import read_image

    frames = sorted(p for p in args.frames.iterdir() if p.suffix.lower() in (".fit", ".fits", ".fts"))[: args.count]
    if not frames:
        print(f"no FITS frames in {args.frames}", file=sys.stderr)
        return 1
    settings = StarAlignment().detection_settings()
    names = ("measure_stars", "detect_stars", "detection_plane")
    minima: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    print(f"{len(frames)} frames, min of {args.repeat} calls each (ms: wall / CPU)")
    print(f"{'frame':<44}" + "".join(f"{name:>22}" for name in names) + f"{'stars':>8}{'aligned':>9}")
    for index, path in enumerate(frames):
        image = read_image(path)
        pattern, _ = resolve_pattern(image, "Auto")
        rgb = debayer_image(image, pattern, "VNG")
        plane = luminance(rgb.pixels)
        aligned = detection_plane(rgb)
        if index == 0:  # load the compiled kernels outside the timing
            measure_stars(plane)
            detect_stars(aligned, settings)
        calls: dict[str, Callable[[], Any]] = {
            "measure_stars": lambda: measure_stars(plane),  # noqa: B023 - called at once
            "detect_stars": lambda: detect_stars(aligned, settings),  # noqa: B023
            "detection_plane": lambda: detection_plane(rgb),  # noqa: B023
        }
        results = {}
        for name in names:
            wall, cpu, results[name] = best_of(calls[name], args.repeat)
            minima[name].append((wall, cpu))
        row = "".join(f"{wall:>13.1f} /{cpu:>7.1f}" for wall, cpu in (minima[n][-1] for n in names))
        print(f"{path.name[:43]:<44}{row}{results['measure_stars'].count:>8}{len(results['detect_stars']):>9}")
    for label, reduce in (("mean", statistics.fmean), ("median", statistics.median)):
        row = "".join(f"{reduce(w for w, _ in minima[n]):>13.1f} /{reduce(c for _, c in minima[n]):>7.1f}"
                      for n in names)
        print(f"{label:<44}{row}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
