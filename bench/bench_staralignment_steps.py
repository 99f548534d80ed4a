"""CPU time of each step of StarAlignment per frame, in this process (no start-up, no pool).

On debayered RGB frames (FITS files of a folder, e.g. the ``debayered`` folder that
``procfw run -c 'preprocess RAW OUT ...'`` writes), with the first frame as the reference:
read, detection plane, star detection, matching, resampling (``StarAlignment._resample``:
the warp with its clipping and keywords) and writing, each timed with ``time.process_time``
over ``--repeats`` passes over the frames.  Printed: the median of the later passes (the
first warms the caches) and the minimum, in ms per frame.  ``OMP_NUM_THREADS=1`` gives the
single-threaded warp of a pool worker; otherwise the warp shares the cores among threads.

    python bench/bench_staralignment_steps.py FOLDER [--repeats 3]
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    """Time the steps and print one line per step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder of debayered RGB frames (FITS)")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the frames (the first warms up)")
    args = parser.parse_args(argv)

    from processes.staralignment import StarAlignment
    from processes.staralignment.engine import align_stars
    from processes.staralignment.frames import detection_plane, write_output
    from processes.staralignment.stars import detect_stars
    from procfw.io import read_image

    files = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in (".fit", ".fits", ".fts"))
    out = Path(tempfile.mkdtemp(prefix="procfw-sa-steps-"))
    process = StarAlignment(referenceImage=str(files[0]), referenceIsFile=True, outputDirectory=str(out))
    reference = read_image(files[0])
    ref_stars = detect_stars(detection_plane(reference), process.detection_settings())
    times: dict[str, list[float]] = collections.defaultdict(list)
    for _ in range(max(1, args.repeats)):
        for path in files:
            t0 = time.process_time()
            image = read_image(path)
            t1 = time.process_time()
            plane = detection_plane(image)
            t2 = time.process_time()
            stars = detect_stars(plane, process.detection_settings())
            t3 = time.process_time()
            reg = align_stars(ref_stars, stars, process.match_settings())
            t4 = time.process_time()
            registered, _, _ = process._resample(image, reference, reg)
            t5 = time.process_time()
            write_output(registered, out / path.name, "f32", overwrite=True)
            t6 = time.process_time()
            for step, seconds in zip(("read", "plane", "detect", "match", "warp", "write"),
                                     np.diff([t0, t1, t2, t3, t4, t5, t6]), strict=True):
                times[step].append(float(seconds))
    later = len(files) if args.repeats > 1 else 0
    total = 0.0
    for step, values in times.items():
        median = float(np.median(values[later:]))
        total += median
        print(f"{step:7s} median {1000 * median:6.1f} ms   min {1000 * min(values):6.1f} ms")
    print(f"total   median {1000 * total:6.1f} ms per frame ({len(files)} frames)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
