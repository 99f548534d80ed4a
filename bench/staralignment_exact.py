"""Bit-for-bit check of StarAlignment's per-frame results between two versions of procfw.

On debayered RGB frames (FITS files of a folder, e.g. the ``debayered`` folder that
``procfw run -c 'preprocess RAW OUT ...'`` writes), with the first frame as the reference:
detected stars (:func:`~processes.staralignment.stars.detect_stars`), the registration
(:func:`~processes.staralignment.engine.align_stars`: matrix, RMS, star pairs) and the
registered pixels and coverage mask (:func:`~processes.staralignment.resample.warp`, one
thread, Lanczos-3 and, for the warp kernels' other paths, bicubic and Mitchell on the
first two frames).  Saves every array to an ``.npz`` file or compares them with one::

    PYTHONPATH=/path/to/old/tree python bench/staralignment_exact.py FOLDER --save old.npz
    python bench/staralignment_exact.py FOLDER --compare old.npz    # exit status 1 on any difference

Arrays are compared by their bytes (NaN and −0.0 included); for differing float arrays
the largest absolute difference is printed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from stars_exact import save_or_compare  # bench/ is this script's folder: on sys.path


def frame_results(files: list[Path]) -> dict[str, np.ndarray]:
    """Every array of the detection, registration and warp of ``files`` onto ``files[0]``."""
    import attrs

    from processes.staralignment import StarAlignment
    from processes.staralignment.engine import align_stars
    from processes.staralignment.frames import detection_plane
    from processes.staralignment.resample import warp
    from processes.staralignment.stars import detect_stars
    from procfw.io import read_image

    process = StarAlignment()
    detection, matching = process.detection_settings(), process.match_settings()
    reference = read_image(files[0])
    ref_stars = detect_stars(detection_plane(reference), detection)
    size = (reference.width, reference.height)
    out: dict[str, np.ndarray] = {}
    for index, path in enumerate(files):
        name = path.stem
        image = read_image(path)
        stars = detect_stars(detection_plane(image), detection)
        for key, value in attrs.asdict(stars, recurse=False).items():
            out[f"{name}/stars/{key}"] = np.asarray(value)
        reg = align_stars(ref_stars, stars, matching)
        for key in ("matrix", "rms", "peak_error_x", "peak_error_y", "overlap", "quality", "ref_index", "tgt_index",
                    "putative_index"):
            out[f"{name}/reg/{key}"] = np.asarray(getattr(reg, key))
        kernels = ("lanczos3", "bicubic", "mitchell") if index < 2 else ("lanczos3",)
        for kernel in kernels:
            pixels, mask = warp(image.pixels, reg.matrix, size, kernel=kernel, radius=2, threads=1)
            out[f"{name}/warp/{kernel}/pixels"] = pixels
            out[f"{name}/warp/{kernel}/mask"] = mask
    return out


def main(argv: list[str] | None = None) -> int:
    """Compute the results and save them or compare them with a saved file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder of debayered RGB frames (FITS)")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--save", type=Path, help="write the results to this .npz file")
    action.add_argument("--compare", type=Path, help="compare the results with this .npz file")
    args = parser.parse_args(argv)
    files = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in (".fit", ".fits", ".fts"))
    found = frame_results(files)
    return save_or_compare(found, args.save, args.compare)


if __name__ == "__main__":
    raise SystemExit(main())
