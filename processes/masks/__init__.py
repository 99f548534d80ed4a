"""Mask generation: StarMask and RangeSelection (PixInsight's MaskGeneration category).

Both read the target view and open the mask as a new image window (``star_mask``,
``range_mask``); the target is left as it was.
"""

from processes.masks.rangeselection import RangeSelection
from processes.masks.starmask import StarMask

__all__ = ["RangeSelection", "StarMask"]
