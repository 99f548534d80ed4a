"""HistogramTransformation: shadows/highlights clipping, midtones transfer, range expansion.

PixInsight's process, with its ids: one table ``H`` of five rows — R, G, B, RGB/K and
alpha — each ``(c0, m, c1, r0, r1)``.  Per row (PCL ``HistogramTransformation``), values are
clipped to [c0, c1] and rescaled to [0, 1], passed through the midtones transfer function
with balance m, then mapped by the dynamic range expansion ``(x − r0)/(r1 − r0)``.

On a colour image channel k gets its own row followed by the RGB/K row; a grey image gets
the RGB/K row only; the first alpha channel gets the alpha row.  Older icons with four rows
(no alpha row) are accepted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from processes.kernels.mtf import histogram_transform, is_identity
from procfw.image import Image
from procfw.params import Double, Table, param
from procfw.process import ExecutionContext, Process

ROW_NAMES = ("R", "G", "B", "RGB/K", "alpha")
"""What each row of the ``H`` table transforms."""

RGBK_ROW = 3
ALPHA_ROW = 4
IDENTITY_ROW = (0.0, 0.5, 1.0, 0.0, 1.0)
"""An identity row: ``(c0, m, c1, r0, r1)``."""


def _column(id_: str, default: float, minimum: float, maximum: float, description: str) -> Double:
    return Double(id=id_, default=default, minimum=minimum, maximum=maximum, precision=8, description=description)


H_TABLE = Table(
    columns=(
        _column("c0", 0.0, 0.0, 1.0, "Shadows clipping point: values at or below it become 0."),
        _column("m", 0.5, 0.0, 1.0, "Midtones balance: the input value the midtones transfer function maps to 0.5."),
        _column("c1", 1.0, 0.0, 1.0, "Highlights clipping point: values at or above it become 1."),
        _column("r0", 0.0, -10.0, 0.0, "Low dynamic range expansion bound (≤ 0)."),
        _column("r1", 1.0, 1.0, 11.0, "High dynamic range expansion bound (≥ 1)."),
    ),
    default=(IDENTITY_ROW,) * 5,
    min_rows=4,
    max_rows=5,
    description="Histogram transformations (c0, m, c1, r0, r1) for R, G, B, RGB/K and alpha, in that order.",
)


def nominal_channels(channels: int) -> int:
    """Colour channels of an image with ``channels`` channels: 3 for RGB, else 1 (the rest are alpha)."""
    return 3 if channels >= 3 else 1


class HistogramTransformation(Process):
    """Clip shadows and highlights, apply a midtones transfer function and expand the dynamic range.

    PixInsight's HistogramTransformation: table ``H`` holds one ``(c0, m, c1, r0, r1)`` row
    for each of R, G, B, the combined RGB/K channel and alpha.  Colour channels get their
    own row, then the RGB/K row; grey images get the RGB/K row only.
    """

    process_id = "HistogramTransformation"
    categories = ("IntensityTransformations",)

    H: tuple[tuple[float, ...], ...] = param(H_TABLE)

    def validate(self) -> None:
        for index, (c0, _m, c1, _r0, _r1) in enumerate(self.H):
            if c0 > c1:
                raise self.invalid("H", self.H, f"row {index} ({ROW_NAMES[index]}): c0 = {c0} exceeds c1 = {c1}")

    # -- construction helpers ------------------------------------------------------------
    @classmethod
    def from_rows(cls, rows: dict[int, tuple[float, float, float, float, float]]) -> HistogramTransformation:
        """An instance whose rows ``{index: (c0, m, c1, r0, r1)}`` are set and the others identity."""
        table = [rows.get(i, IDENTITY_ROW) for i in range(5)]
        return cls(H=table)

    def row(self, index: int) -> tuple[float, float, float, float, float]:
        """Row ``index`` (0..4) as ``(c0, m, c1, r0, r1)``; a missing alpha row is identity."""
        if index < len(self.H):
            c0, m, c1, r0, r1 = self.H[index]
            return (c0, m, c1, r0, r1)
        return IDENTITY_ROW

    def is_identity(self) -> bool:
        """True when no row changes anything."""
        return all(is_identity(*self.row(i)) for i in range(5))

    # -- the maths -----------------------------------------------------------------------
    def transform(self, pixels: np.ndarray) -> np.ndarray:
        """The transformation of planar ``pixels`` (channels, height, width); a new array, same dtype."""
        pixels = np.asarray(pixels)
        if pixels.ndim == 2:
            pixels = pixels[np.newaxis]
        out = np.empty_like(pixels)
        scratch = np.empty_like(pixels[0])
        nominal = nominal_channels(pixels.shape[0])
        for c in range(pixels.shape[0]):
            if c < nominal:
                rows = [self.row(c), self.row(RGBK_ROW)] if nominal == 3 else [self.row(RGBK_ROW)]
            elif c == nominal:
                rows = [self.row(ALPHA_ROW)]
            else:
                rows = []
            _apply_rows(pixels[c], out[c], rows, scratch)
        return out

    def apply(self, image: Image, context: ExecutionContext) -> Image:
        return image.with_pixels(self.transform(image.pixels))


def _apply_rows(
    src: np.ndarray, dst: np.ndarray, rows: list[tuple[float, float, float, float, float]], scratch: np.ndarray
) -> None:
    """dst ← the chain of ``rows`` applied to src (a plain copy when every row is identity)."""
    active = [r for r in rows if not is_identity(*r)]
    if not active:
        np.copyto(dst, src)
        return
    first = True
    for c0, m, c1, r0, r1 in active:
        histogram_transform(src if first else dst, c0, m, c1, r0, r1, out=dst, scratch=scratch)
        first = False


def transform_value(value: Any, row: tuple[float, float, float, float, float]) -> Any:
    """One row applied to a scalar or array (float64), for tests and previews."""
    return histogram_transform(np.asarray(value, dtype=np.float64), *row)
