"""MorphologicalTransformation: erosion, dilation, opening, closing, median, selection and
midpoint filters over a structuring element (PixInsight's MorphologicalTransformation).

The structuring element is the ``structureWayTable``: one or more *ways*, each a square
mask of ``structureSize``² bytes (non-zero: the pixel takes part), as PixInsight stores it in
icons.  Each way's neighbourhood is filtered with the operator, and several ways are
combined with the same operator.  ``interlacingDistance`` spaces the elements that far
apart.  Following PCL:

* Erosion is the minimum over the element, Dilation the maximum over the *reflected*
  element (scipy's ``grey_erosion`` / ``grey_dilation`` with the same footprint), Median
  the median (the mean of the two middle values for an even count), Selection the value
  of rank ``round(selectionPoint·(n − 1))``, Midpoint (minimum + maximum)/2;
* PixInsight's **Opening** applies the dilation and then the erosion, and its **Closing**
  the erosion and then the dilation (PCL's order, kept so that icons do what they do in
  PixInsight: the reverse of the textbook names);
* ``lowThreshold`` / ``highThreshold`` (when not zero) soften changes smaller than them:
  a pixel lowered (raised) by ``k`` less than the threshold ``t`` moves only ``k/t`` of
  the way;
* each iteration is blended as ``amount·new + (1 − amount)·old``;
* beyond the edges, rows are mirrored about the edge (−1 → 0) and columns about the edge
  pixel (−1 → 1), as PCL's filter does.
"""

from __future__ import annotations

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids
import math

import numpy as np
from scipy import ndimage

from procfw.image import Image
from procfw.params import Block, Double, Enumeration, Float, String, Table, UInt32, param
from procfw.process import ExecutionContext, Process

__all__ = ["MorphologicalTransformation", "OPERATORS", "morphological_filter"]

OPERATORS = ("Erosion", "Dilation", "Opening", "Closing", "Median", "Selection", "Midpoint")
_PASSES = {"Erosion": ("Erosion",), "Dilation": ("Dilation",), "Opening": ("Dilation", "Erosion"),
           "Closing": ("Erosion", "Dilation"), "Median": ("Median",), "Selection": ("Selection",),
           "Midpoint": ("Midpoint",)}
_BOX_3 = ((b"\x01" * 9,),)


def _rank(selection_point: float, n: int) -> int:
    return int(math.floor(selection_point * (n - 1) + 0.5))


def _filter_way(plane: np.ndarray, footprint: np.ndarray, operator: str, selection_point: float) -> np.ndarray:
    """One way of the structure over a padded plane (scipy's filters; the padding makes the mode moot)."""
    n = int(footprint.sum())
    if operator == "Erosion":
        return ndimage.minimum_filter(plane, footprint=footprint, mode="nearest")
    if operator == "Dilation":
        return ndimage.maximum_filter(plane, footprint=footprint[::-1, ::-1], mode="nearest")
    if operator == "Midpoint":
        low = ndimage.minimum_filter(plane, footprint=footprint, mode="nearest")
        return (low + ndimage.maximum_filter(plane, footprint=footprint, mode="nearest")) / 2
    if operator == "Selection":
        return ndimage.rank_filter(plane, _rank(selection_point, n), footprint=footprint, mode="nearest")
    if n % 2:  # Median
        return ndimage.rank_filter(plane, n // 2, footprint=footprint, mode="nearest")
    upper = ndimage.rank_filter(plane, n // 2, footprint=footprint, mode="nearest")
    return (upper + ndimage.rank_filter(plane, n // 2 - 1, footprint=footprint, mode="nearest")) / 2


def _combine(ways: list[np.ndarray], operator: str, selection_point: float) -> np.ndarray:
    if len(ways) == 1:
        return ways[0]
    stack = np.stack(ways)
    if operator == "Erosion":
        return stack.min(axis=0)
    if operator == "Dilation":
        return stack.max(axis=0)
    if operator == "Midpoint":
        return (stack.min(axis=0) + stack.max(axis=0)) / 2
    ordered = np.sort(stack, axis=0)
    n = len(ways)
    if operator == "Selection":
        return ordered[_rank(selection_point, n)]
    return ordered[n // 2] if n % 2 else (ordered[n // 2] + ordered[n // 2 - 1]) / 2


def morphological_filter(
    plane: np.ndarray, masks: list[np.ndarray], operator: str, *, interlacing: int = 1,
    selection_point: float = 0.5, low_threshold: float = 0.0, high_threshold: float = 0.0,
) -> np.ndarray:
    """One pass of ``operator`` (Erosion, Dilation, Median, Selection, Midpoint) over a 2-D
    float64 ``plane`` with the structure ``masks`` (one boolean square per way)."""
    size = masks[0].shape[0]
    extent = (size - 1) * interlacing + 1
    half = extent // 2
    if extent > plane.shape[0] or extent > plane.shape[1]:
        return np.zeros_like(plane)  # PCL: a structure larger than the image leaves nothing
    padded = np.pad(plane, ((half, half), (0, 0)), mode="symmetric")
    padded = np.pad(padded, ((0, 0), (half, half)), mode="reflect")
    ways = []
    for mask in masks:
        footprint = np.zeros((extent, extent), dtype=bool)
        footprint[::interlacing, ::interlacing] = mask
        if not footprint.any():
            ways.append(np.zeros_like(plane))
            continue
        ways.append(_filter_way(padded, footprint, operator, selection_point)[half:-half or None, half:-half or None])
    result = _combine(ways, operator, selection_point)
    if low_threshold > 0:
        lowered = plane - result
        soft = (result < plane) & (lowered < low_threshold)
        k = lowered[soft] / low_threshold
        result[soft] = k * result[soft] + (1 - k) * plane[soft]
    if high_threshold > 0:
        raised = result - plane
        soft = (result >= plane) & (raised < high_threshold)
        k = raised[soft] / high_threshold
        result[soft] = k * result[soft] + (1 - k) * plane[soft]
    return result


class MorphologicalTransformation(Process):
    """Morphological filters (erosion, dilation, opening, closing, median, selection, midpoint) over a structure."""

    process_id = "MorphologicalTransformation"
    categories = ("Morphology",)

    operator: str = param(Enumeration(elements=OPERATORS, default="Erosion", description="The morphological operator."))
    interlacingDistance: int = param(UInt32(minimum=1, maximum=4096, default=1,
                                            description="Distance between the elements of the structure."))
    lowThreshold: float = param(Double(minimum=0, maximum=1, default=0, precision=6,
                                       description="Changes darker than this are softened (0: off)."))
    highThreshold: float = param(Double(minimum=0, maximum=1, default=0, precision=6,
                                        description="Changes brighter than this are softened (0: off)."))
    numberOfIterations: int = param(UInt32(minimum=1, maximum=10, default=1, description="Times the operator runs."))
    amount: float = param(Float(minimum=0, maximum=1, default=1, precision=2,
                                description="Blend of each iteration's result with its input."))
    selectionPoint: float = param(Float(minimum=0, maximum=1, default=0.5, precision=2,
                                        description="Rank of the Selection operator (0: minimum, 1: maximum)."))
    structureName: str = param(String(default="", description="Name of the structuring element (informative)."))
    structureSize: int = param(UInt32(minimum=3, maximum=25, default=3,
                                      description="Width and height of the structuring element (odd)."))
    structureWayTable: tuple = param(Table(
        columns=(Block(id="mask", description="structureSize² bytes, row by row: non-zero where the element is."),),
        default=_BOX_3, min_rows=1,
        description="The ways of the structuring element (a 3×3 box by default)."))

    def validate(self) -> None:
        if self.structureSize % 2 == 0:
            raise self.invalid("structureSize", self.structureSize, "must be odd")
        expected = self.structureSize**2
        for index, (mask,) in enumerate(self.structureWayTable):
            if len(mask) != expected:
                raise self.invalid("structureWayTable", f"row {index}: {len(mask)} bytes",
                                   f"each way is structureSize² = {expected} bytes")

    def masks(self) -> list[np.ndarray]:
        """The ways as boolean squares."""
        size = self.structureSize
        return [np.frombuffer(mask, dtype=np.uint8).reshape(size, size) != 0 for (mask,) in self.structureWayTable]

    def apply(self, image: Image, context: ExecutionContext) -> Image:
        masks = self.masks()
        out = image.pixels.copy()
        nominal = 3 if image.channels >= 3 else 1
        for c in range(nominal):
            plane = out[c].astype(np.float64)
            for _ in range(self.numberOfIterations):
                before = plane
                for operator in _PASSES[self.operator]:
                    plane = morphological_filter(
                        plane, masks, operator, interlacing=self.interlacingDistance,
                        selection_point=self.selectionPoint, low_threshold=self.lowThreshold,
                        high_threshold=self.highThreshold)
                if self.amount != 1:
                    plane = self.amount * plane + (1 - self.amount) * before
            out[c] = plane
        return image.with_pixels(out)
