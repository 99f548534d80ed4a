"""Mask generation (PixInsight's MaskGeneration category): ``starmask`` (StarMask) and
``rangeselection`` (RangeSelection); ``common`` holds their shared helpers.

Both read the target view and open the mask as a new image window (``star_mask``,
``range_mask``); the target is left as it was.
"""
