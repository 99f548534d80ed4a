"""Colour filter array (CFA) patterns: parsing, detection from image metadata, site masks.

A 2×2 pattern is written as four letters in row-major order, as PixInsight and the FITS
``BAYERPAT`` keyword do: ``"GRBG"`` means

    row 0:  G R
    row 1:  B G

with row 0 the first row of the pixel array (the first row stored in the file) and
column 0 its first column.  The pixel at (y, x) has the colour of letter
``2·(y mod 2) + (x mod 2)``.  Channels are numbered R=0, G=1, B=2.

:func:`pattern_from_image` reads the pattern of a raw frame the way PixInsight's
``Auto`` mode does: the XISF property ``PCL:CFASourcePattern`` first, else the FITS
keyword ``BAYERPAT`` shifted by ``XBAYROFF``/``YBAYROFF`` (an odd offset swaps the
pattern's columns/rows).  In addition it honours ``ROWORDER = 'BOTTOM-UP'``: such files
store the sensor's last row first, so for an even number of rows the pattern's rows swap.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

from procfw.image import Image

__all__ = [
    "BAYER_PATTERNS",
    "CFAPattern",
    "CHANNEL_OF",
    "PATTERNS",
    "detect_pattern",
    "pattern_from_image",
]

CHANNEL_OF = {"R": 0, "G": 1, "B": 2}
"""Channel index of each CFA letter."""

BAYER_PATTERNS = ("RGGB", "BGGR", "GBRG", "GRBG")
"""The four Bayer arrangements (greens on a diagonal)."""

PATTERNS = ("RGGB", "BGGR", "GBRG", "GRBG", "GRGB", "GBGR", "RGBG", "BGRG")
"""Every 2×2 pattern PixInsight's ``cfaPattern`` enumerations name (Auto excluded)."""


@attrs.frozen
class CFAPattern:
    """A 2×2 colour filter array pattern (four letters R/G/B, row-major)."""

    text: str

    def __attrs_post_init__(self) -> None:
        text = self.text
        if len(text) != 4 or any(c not in CHANNEL_OF for c in text) or len(set(text)) != 3:
            raise ValueError(
                f"invalid CFA pattern {text!r}: expected four letters of R, G and B with every colour present "
                f"(one of {', '.join(PATTERNS)})"
            )

    @classmethod
    def parse(cls, text: str) -> CFAPattern:
        """A pattern from text such as ``"rggb"`` or ``" GRBG "`` (quotes and spaces ignored)."""
        return cls(str(text).strip().strip("'\"").strip().upper())

    @property
    def is_bayer(self) -> bool:
        """True for the four Bayer arrangements (two greens on a diagonal)."""
        return self.text in BAYER_PATTERNS

    def channel_at(self, y: int, x: int) -> int:
        """The channel (0=R, 1=G, 2=B) of pixel (y, x)."""
        return CHANNEL_OF[self.text[2 * (y % 2) + (x % 2)]]

    def grid(self) -> np.ndarray:
        """The 2×2 array of channel indices."""
        return np.array([[self.channel_at(y, x) for x in (0, 1)] for y in (0, 1)])

    def shifted(self, dx: int = 0, dy: int = 0) -> CFAPattern:
        """The pattern of the same sensor seen from pixel (dx, dy) on (a crop, or an offset origin)."""
        t = self.text
        if dx % 2:
            t = t[1] + t[0] + t[3] + t[2]
        if dy % 2:
            t = t[2] + t[3] + t[0] + t[1]
        return CFAPattern(t)

    def sites(self, channel: int) -> list[tuple[int, int]]:
        """The (row, column) positions within the 2×2 cell that carry ``channel``."""
        return [(y, x) for y in (0, 1) for x in (0, 1) if self.channel_at(y, x) == channel]

    def channel_map(self, height: int, width: int) -> np.ndarray:
        """An (height, width) int8 array of the channel of every pixel."""
        tile = self.grid().astype(np.int8)
        reps = (math.ceil(height / 2), math.ceil(width / 2))
        return np.tile(tile, reps)[:height, :width]

    def masks(self, height: int, width: int) -> np.ndarray:
        """A (3, height, width) boolean array: True where a pixel samples R, G, B."""
        cmap = self.channel_map(height, width)
        return np.stack([cmap == c for c in range(3)])

    def __str__(self) -> str:
        return self.text


def _keyword_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    try:
        return float(str(value).strip().strip("'\""))
    except ValueError:
        return None


def detect_pattern(image: Image) -> tuple[CFAPattern | None, str]:
    """The CFA pattern recorded in ``image``'s metadata, and where it came from (or why not).

    Returns ``(pattern, source)`` on success, ``(None, reason)`` when the image carries
    no usable pattern.  See the module docstring for the rules.
    """
    prop = image.properties.get("PCL:CFASourcePattern")
    if isinstance(prop, str) and prop.strip():
        try:
            return CFAPattern.parse(prop), "property PCL:CFASourcePattern"
        except ValueError as exc:
            return None, f"unsupported PCL:CFASourcePattern property: {exc}"
    raw = image.keyword("BAYERPAT")
    if raw is None or not str(raw).strip():
        return None, "the image has no BAYERPAT keyword (nor a PCL:CFASourcePattern property)"
    try:
        pattern = CFAPattern.parse(str(raw))
    except ValueError as exc:
        return None, f"unusable BAYERPAT keyword: {exc}"
    dx = _keyword_number(image.keyword("XBAYROFF", 0))
    dy = _keyword_number(image.keyword("YBAYROFF", 0))
    if dx is None or dy is None:
        return None, "XBAYROFF/YBAYROFF keywords are not numbers"
    offset_x, offset_y = math.trunc(dx), math.trunc(dy)
    source = f"keyword BAYERPAT={pattern.text}"
    if offset_x or offset_y:
        source += f" with XBAYROFF={offset_x}, YBAYROFF={offset_y}"
    order = image.keyword("ROWORDER")
    if isinstance(order, str) and order.strip().upper() == "BOTTOM-UP":
        offset_y += image.height - 1
        source += ", ROWORDER=BOTTOM-UP"
    return pattern.shifted(offset_x, offset_y), source


def pattern_from_image(image: Image) -> CFAPattern | None:
    """The CFA pattern recorded in ``image``'s metadata, or None (see :func:`detect_pattern`)."""
    return detect_pattern(image)[0]
