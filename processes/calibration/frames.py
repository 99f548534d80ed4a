"""Input pedestals, overscan, and geometry checks shared by targets and master frames."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np

from procfw.errors import ExecutionError
from procfw.image import Image

__all__ = ["Overscan", "Rect", "input_pedestal", "planes_for", "to_planes"]

Rect = tuple[int, int, int, int]
"""(x0, y0, x1, y1): columns x0..x1-1, rows y0..y1-1."""


def _valid(rect: Rect) -> bool:
    x0, y0, x1, y1 = rect
    return 0 <= x0 < x1 and 0 <= y0 < y1


@attrs.frozen(kw_only=True)
class Overscan:
    """Overscan correction: subtract the median of source regions from target regions, crop to the image.

    ``regions`` are the enabled (source, target) rectangle pairs.  Regions sharing a target
    rectangle are averaged, as PixInsight does.  Samples at 0 or saturated (outside
    [0.00002, 0.99998]) are ignored by the medians.
    """

    enabled: bool = False
    image_rect: Rect = (0, 0, 0, 0)
    regions: tuple[tuple[Rect, Rect], ...] = ()

    def problem(self) -> str:
        """Why this overscan definition is unusable ("" when fine or disabled)."""
        if not self.enabled:
            return ""
        if not _valid(self.image_rect):
            return f"invalid overscan image rectangle {self.image_rect}"
        if not self.regions:
            return "overscan is enabled but no overscan region is enabled"
        for source, target in self.regions:
            if not _valid(source) or not _valid(target):
                return f"invalid overscan region: source {source}, target {target}"
        return ""

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """Correct and crop planar ``pixels``; a new array."""
        if not self.enabled:
            return pixels
        _, h, w = pixels.shape
        for rect in [self.image_rect, *[r for pair in self.regions for r in pair]]:
            if rect[2] > w or rect[3] > h:
                raise ExecutionError(f"overscan rectangle {rect} is outside the {w}×{h} frame")
        out = pixels.astype(np.float32, copy=True)
        groups: dict[Rect, list[Rect]] = {}
        for source, target in self.regions:
            groups.setdefault(target, []).append(source)
        for target, sources in groups.items():
            tx0, ty0, tx1, ty1 = target
            for c in range(out.shape[0]):
                levels = []
                for sx0, sy0, sx1, sy1 in sources:
                    values = pixels[c, sy0:sy1, sx0:sx1].ravel()
                    values = values[(values > 0.00002) & (values < 0.99998)]
                    levels.append(float(np.median(values)) if values.size else 0.0)
                level = float(np.mean(levels))
                if 1 + level != 1:
                    out[c, ty0:ty1, tx0:tx1] -= np.float32(level)
        x0, y0, x1, y1 = self.image_rect
        return out[:, y0:y1, x0:x1]


def input_pedestal(image: Image, mode: str, literal: int, keyword: str) -> float:
    """The input pedestal in DN to subtract from ``image`` (PixInsight's pedestalMode rules).

    ``Literal``: ``literal``; ``Keyword``: the PEDESTAL keyword (its absolute value, as
    some capture programs write it negative); ``CustomKeyword``: the keyword ``keyword``.
    """
    if mode == "Literal":
        return float(literal)
    name = "PEDESTAL" if mode == "Keyword" else keyword.strip()
    if not name:
        return 0.0
    value = image.keyword(name)
    if isinstance(value, bool) or value is None:
        return 0.0
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return abs(number) if mode == "Keyword" else number


def to_planes(image: Image, pedestal_dn: float = 0.0) -> np.ndarray:
    """The image's pixels as a new float32 planar array, minus ``pedestal_dn``/65535."""
    pixels = image.pixels.astype(np.float32, copy=True)
    if pedestal_dn:
        pixels -= np.float32(pedestal_dn / 65535.0)
    return pixels


def planes_for(master: np.ndarray, channels: int) -> Sequence[np.ndarray]:
    """The master plane used for each of ``channels`` target channels (min(c, n − 1), as PixInsight)."""
    return [master[min(c, master.shape[0] - 1)] for c in range(channels)]
