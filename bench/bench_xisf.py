"""Benchmark: procfw's XISF writer/reader against astropy FITS on one large RGB image.

Writes and reads a synthetic float32 RGB image (default 6000x4000, 288 MB of pixels)
as XISF (uncompressed, zlib+shuffle, zstd+shuffle; SHA-1 checksums, the writer's
default) and as FITS with astropy, all in one run, and prints wall times, the ratio
ours/astropy and the peak memory of each step.

"read" means opening the file and materializing all pixels as a native float32 array in
memory (our reader memory-maps uncompressed Float32 data and astropy memory-maps FITS
data, so both are forced to touch every pixel); "open" is the lazy open alone.

Peak memory per step is the largest traced allocation (``tracemalloc``; numpy buffers
are traced, memory-mapped file pages are not); the process-wide peak resident set size
(``ru_maxrss``) is printed at the end.

Run: ``.venv/bin/python bench/bench_xisf.py [--size 6000x4000] [--repeat 1] [--dir DIR]``
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from procfw.image import FITSKeyword, Image
from procfw.io.xisf import read_xisf, write_xisf


def synthetic_image(width: int, height: int, seed: int = 1) -> Image:
    """An RGB image that looks like a calibrated 16-bit frame: gradient, noise, stars."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    background = 1000 + 0.05 * x + 0.03 * y
    planes = []
    for channel in range(3):
        counts = background * (1 + 0.1 * channel) + rng.normal(0, 20, size=(height, width)).astype(np.float32)
        stars = rng.integers(0, width * height, size=max(1, width * height // 5000))
        counts.reshape(-1)[stars] += rng.uniform(2000, 60000, size=stars.size).astype(np.float32)
        planes.append(np.clip(np.rint(counts), 0, 65535) / np.float32(65535))
    pixels = np.stack(planes).astype(np.float32)
    keywords = [FITSKeyword("OBJECT", "Synthetic field", ""), FITSKeyword("EXPTIME", 300.0, "seconds")]
    return Image(pixels, keywords)


def measure(step: Callable[[], Any], repeat: int) -> tuple[float, int, Any]:
    """Best wall time over ``repeat`` runs and the traced allocation peak of the last run."""
    best = float("inf")
    result: Any = None
    peak = 0
    for _ in range(repeat):
        result = None
        gc.collect()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        start = time.perf_counter()
        result = step()
        best = min(best, time.perf_counter() - start)
        peak = tracemalloc.get_traced_memory()[1] - base
    return best, peak, result


def fits_write(image: Image, path: Path) -> None:
    """Write the pixels as a float32 FITS primary HDU with astropy."""
    from astropy.io import fits

    fits.PrimaryHDU(data=image.pixels).writeto(path, overwrite=True)


def fits_read(path: Path) -> np.ndarray:
    """Read a FITS file with astropy and materialize native float32 pixels."""
    from astropy.io import fits

    with fits.open(path) as hdul:
        return np.array(hdul[0].data, dtype=np.float32)


def fits_open(path: Path) -> Any:
    """Open a FITS file with astropy (lazy, memory-mapped data)."""
    from astropy.io import fits

    with fits.open(path) as hdul:
        return hdul[0].data.shape


def bench_xisf(
    image: Image, label: str, path: Path, options: dict[str, Any], repeat: int
) -> list[tuple[str, str, float, int, int]]:
    """Write, open and read ``image`` as XISF with ``options``; one row per step."""
    t_w, m_w, _ = measure(lambda: write_xisf(image, path, overwrite=True, **options), repeat)
    t_o, m_o, _ = measure(lambda: read_xisf(path).pixels.shape, repeat)
    t_r, m_r, back = measure(lambda: np.array(read_xisf(path).pixels, dtype=np.float32), repeat)
    assert np.array_equal(back, image.pixels)
    size = path.stat().st_size
    return [(label, "write", t_w, m_w, size), (label, "open", t_o, m_o, size), (label, "read", t_r, m_r, size)]


def warm_up() -> None:
    """Import the codecs and astropy before timing anything."""
    import lz4.block  # noqa: F401
    import zstandard  # noqa: F401
    from astropy.io import fits  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size", default="6000x4000", help="image size WIDTHxHEIGHT (default 6000x4000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per step; the best time is reported")
    parser.add_argument("--dir", default=None, help="directory for the temporary files (default: system temp)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))

    warm_up()
    image = synthetic_image(width, height)
    megabytes = image.nbytes / 1e6
    print(f"image: {width}x{height} RGB float32, {megabytes:.0f} MB of pixels; Python {sys.version.split()[0]}")
    tracemalloc.start()
    rows: list[tuple[str, str, float, int, int]] = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        fits_path = folder / "bench.fits"
        t_fw, m_fw, _ = measure(lambda: fits_write(image, fits_path), args.repeat)
        t_fo, m_fo, _ = measure(lambda: fits_open(fits_path), args.repeat)
        t_fr, m_fr, back = measure(lambda: fits_read(fits_path), args.repeat)
        assert np.array_equal(back, image.pixels)
        del back
        fits_size = fits_path.stat().st_size
        rows.append(("astropy FITS", "write", t_fw, m_fw, fits_size))
        rows.append(("astropy FITS", "open", t_fo, m_fo, fits_size))
        rows.append(("astropy FITS", "read", t_fr, m_fr, fits_size))
        reference = {"write": t_fw, "open": t_fo, "read": t_fr}

        for label, options in (
            ("XISF raw", {}),
            ("XISF zlib+sh", {"compression": "zlib", "shuffle": True}),
            ("XISF zstd+sh", {"compression": "zstd", "shuffle": True}),
        ):
            path = folder / f"bench-{label.split()[-1].replace('+', '')}.xisf"
            rows.extend(bench_xisf(image, label, path, options, args.repeat))
            os.unlink(path)
    tracemalloc.stop()

    print(f"{'format':<14}{'step':<7}{'seconds':>9}{'vs astropy':>12}{'peak MB':>10}{'file MB':>10}")
    for label, step, seconds, peak, size in rows:
        ratio = seconds / reference[step] if reference[step] > 0 else float("nan")
        print(f"{label:<14}{step:<7}{seconds:>9.3f}{ratio:>11.2f}x{peak / 1e6:>10.0f}{size / 1e6:>10.1f}")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"process peak RSS (ru_maxrss): {maxrss / 1024:.0f} MB (includes the {megabytes:.0f} MB source image)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
