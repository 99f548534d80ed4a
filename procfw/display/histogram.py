"""Histogram plots as PNG files, drawn with Pillow (no plotting library).

The plot fills the whole picture, ``size = (width, height)`` pixels, black background:
bin ``i`` of ``bins`` covers columns ``i·width // bins`` to ``(i+1)·width // bins − 1``
(at least one column) and is a bar ``round(count / peak · height)`` rows high, drawn up
from the bottom row (``log=True``: ``round(ln(1 + count) / ln(1 + peak) · height)``),
where ``peak`` is the largest count of all channels, so channels share one scale.
Colour images draw their R, G and B histograms additively in red, green and blue (white
where all three overlap); grey images in white.  Faint vertical lines mark 0.25, 0.5 and
0.75.  Alpha channels are not plotted; non-finite pixels are not counted and values
outside [0, 1] count in the first or last bin.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from procfw.display.functions import image_of, nominal_channels
from procfw.errors import ImageFileError, ParameterError
from procfw.image import Image
from procfw.io.atomic import atomic_path

GRID_LEVEL = 48
"""Brightness (0-255) of the quarter grid lines."""

BAR_LEVEL = 255
"""Brightness (0-255) of the bars in their channel's colour."""

MAX_BINS = 65536
MAX_SIDE = 16384


def histogram_counts(image: Image, bins: int = 256) -> np.ndarray:
    """Counts ``(colour channels, bins)`` of each colour channel's finite values over [0, 1]."""
    _check_int("bins", bins, 2, MAX_BINS)
    rows = []
    for plane in image.pixels[: nominal_channels(image.channels)]:
        values = plane[np.isfinite(plane)]
        index = np.clip((np.clip(values, 0, 1) * bins).astype(np.int64), 0, bins - 1)
        rows.append(np.bincount(index, minlength=bins))
    return np.stack(rows)


def bar_heights(counts: np.ndarray, height: int, *, log: bool = False) -> np.ndarray:
    """Bar heights in rows for ``counts`` in a plot ``height`` rows high (see the module docstring)."""
    peak = float(counts.max(initial=0))
    if peak <= 0:
        return np.zeros(counts.shape, dtype=np.int64)
    scaled = np.log1p(counts) / np.log1p(peak) if log else counts / peak
    return np.rint(scaled * height).astype(np.int64)


def export_histogram(
    target: Any,
    path: str | os.PathLike[str],
    *,
    bins: int = 256,
    log: bool = False,
    size: tuple[int, int] = (512, 256),
    overwrite: bool = False,
) -> Path:
    """Draw the histograms of ``target`` (an Image or a view's image) to a PNG file; return the path.

    ``size`` is ``(width, height)`` in pixels.  The file is written atomically and an
    existing one is replaced only when ``overwrite`` is true.
    """
    from PIL import Image as PILImage
    from PIL import ImageDraw

    width, height = (size[0], size[1]) if isinstance(size, (tuple, list)) and len(size) == 2 else (0, 0)
    _check_int("size width", width, 16, MAX_SIDE)
    _check_int("size height", height, 16, MAX_SIDE)
    target_path = Path(path)
    if target_path.suffix.lower() != ".png":
        raise ImageFileError(target_path, "histogram plots are written as PNG: use a .png file name")
    if str(target_path.parent) and not target_path.parent.is_dir():
        raise ImageFileError(target_path, f"directory {target_path.parent} does not exist")
    heights = bar_heights(histogram_counts(image_of(target), bins), height, log=log)
    layers = []
    for channel_heights in heights:
        layer = PILImage.new("L", (width, height), 0)
        draw = ImageDraw.Draw(layer)
        for quarter in (1, 2, 3):
            x = quarter * width // 4
            draw.line([(x, 0), (x, height - 1)], fill=GRID_LEVEL)
        for i, h in enumerate(channel_heights.tolist()):
            if h > 0:
                x0 = i * width // bins
                x1 = max(x0, (i + 1) * width // bins - 1)
                draw.rectangle([x0, height - h, x1, height - 1], fill=BAR_LEVEL)
        layers.append(layer)
    planes = layers if len(layers) == 3 else layers * 3
    with atomic_path(target_path, overwrite=overwrite) as temp:
        try:
            PILImage.merge("RGB", planes).save(temp, format="PNG")
        except OSError as exc:
            raise ImageFileError(target_path, f"cannot write the file: {exc.strerror or exc}") from exc
    return target_path


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ParameterError(f"{name} must be an integer from {low} to {high}; got {value!r}")
