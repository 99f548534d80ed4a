"""Bit-for-bit check of the star detections between two versions of procfw.

Runs :func:`processes.kernels.starmeasure.measure_stars` and StarAlignment's
:func:`processes.staralignment.stars.detect_stars` (with its
:func:`~processes.staralignment.stars.structure_map`) on the raw CFA frames of a folder
(by default the 12 Seestar S50 frames of the shared corpus, debayered in memory with
Debayer's VNG) and on synthetic star fields (odd and even sizes, ties, a NaN), and
writes every returned array to an ``.npz`` file, or compares them with such a file::

    PYTHONPATH=/path/to/old/tree python bench/stars_exact.py --save old.npz
    python bench/stars_exact.py --compare old.npz       # exit status 1 on any difference

Arrays are compared by their bytes (NaN and −0.0 included) and dtypes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

CORPUS = (Path(__file__).resolve().parents[2] / "shared" / "corpus" / "frames" / "seestar-s50"
          / "M94_2025-03-27_session1")


def synthetic_planes(seed: int = 19) -> Iterator[tuple[str, np.ndarray]]:
    """(name, float32 plane) of synthetic star fields: odd and even sizes, quantised values (ties), a NaN."""
    rng = np.random.default_rng(seed)
    for height, width in ((257, 384), (300, 301), (96, 97)):
        yy, xx = np.mgrid[0:height, 0:width]
        plane = 0.1 + 0.02 * rng.standard_normal((height, width))
        for _ in range(40):
            y, x = rng.uniform(0, height), rng.uniform(0, width)
            amplitude, sigma = rng.uniform(0.05, 0.8), rng.uniform(0.8, 2.5)
            plane += amplitude * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma**2))
        plane = np.clip(plane, 0, 1).astype(np.float32)
        yield f"synthetic{height}x{width}", plane
        yield f"quantised{height}x{width}", (np.round(plane * 4096) / 4096).astype(np.float32)
    with_nan = plane.copy()
    with_nan[40, 50] = np.nan
    yield "nan", with_nan


def real_planes(folder: Path, count: int) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(name, float64 luminance, float32 detection plane) of the raw CFA frames of ``folder``."""
    from processes.debayer.process import debayer_image, resolve_pattern
    from processes.staralignment.frames import detection_plane
    from processes.workflows.preprocess.pipeline import luminance
    from procfw.io import read_image

    frames = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".fit", ".fits", ".fts"))[:count]
    for path in frames:
        image = read_image(path)
        pattern, _ = resolve_pattern(image, "Auto")
        rgb = debayer_image(image, pattern, "VNG")
        yield path.stem, luminance(rgb.pixels), detection_plane(rgb)


def results(name: str, luminance: np.ndarray, detection: np.ndarray) -> dict[str, np.ndarray]:
    """Every array and scalar the two detections return for one frame, keyed ``name/...``."""
    import attrs

    from processes.kernels.starmeasure import measure_stars
    from processes.staralignment.process import StarAlignment
    from processes.staralignment.stars import detect_stars, structure_map

    out: dict[str, np.ndarray] = {}
    field = measure_stars(luminance)
    for key, value in attrs.asdict(field, recurse=False).items():
        out[f"{name}/measure/{key}"] = np.asarray(value)
    settings = StarAlignment().detection_settings()
    if np.isfinite(detection).all():
        for key, value in zip(("work", "background", "detail"), structure_map(detection, settings), strict=True):
            out[f"{name}/structure/{key}"] = value
    stars = detect_stars(detection, settings)
    for key, value in attrs.asdict(stars, recurse=False).items():
        out[f"{name}/detect/{key}"] = np.asarray(value)
    return out


def differences(expected: dict[str, np.ndarray], found: dict[str, np.ndarray]) -> list[str]:
    """A line for each key whose arrays differ (missing, dtype, shape or bytes)."""
    lines = []
    for key in sorted(expected.keys() | found.keys()):
        if key not in expected or key not in found:
            lines.append(f"{key}: only in one")
            continue
        a, b = expected[key], found[key]
        if a.dtype != b.dtype or a.shape != b.shape:
            lines.append(f"{key}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}")
        elif a.tobytes() != b.tobytes():
            extra = ""
            if a.dtype.kind == "f":
                d = np.abs(a.astype(np.float64) - b.astype(np.float64))
                extra = f" max |diff| {np.nanmax(d):.3g}, {int(np.count_nonzero(d))} values"
            lines.append(f"{key}: bytes differ{extra}")
    return lines


def save_or_compare(found: dict[str, np.ndarray], save: Path | None, compare: Path | None) -> int:
    """Write ``found`` to the ``.npz`` file ``save``, or compare it with the file ``compare`` (printing each
    difference); the exit status: 1 when something differs."""
    if save:
        np.savez(save, **found)
        print(f"{len(found)} arrays saved to {save}")
        return 0
    with np.load(compare) as saved:
        expected = {key: saved[key] for key in saved.files}
    lines = differences(expected, found)
    for line in lines:
        print(f"differs: {line}", file=sys.stderr)
    print(f"{len(found)} arrays compared, {len(lines)} differ")
    return 1 if lines else 0


def main(argv: list[str] | None = None) -> int:
    """Compute the results and save them or compare them with a saved file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=Path, default=CORPUS, help="folder of raw CFA frames (FITS)")
    parser.add_argument("--count", type=int, default=12, help="at most this many frames")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--save", type=Path, help="write the results to this .npz file")
    action.add_argument("--compare", type=Path, help="compare the results with this .npz file")
    args = parser.parse_args(argv)

    found: dict[str, np.ndarray] = {}
    for name, plane in synthetic_planes():
        found.update(results(name, plane.astype(np.float64), plane))
    for name, luminance, detection in real_planes(args.frames, args.count):
        found.update(results(name, luminance, detection))
    return save_or_compare(found, args.save, args.compare)

if __name__ == "__main__":
    raise SystemExit(main())
