"""PixInsight's ImageIntegration for procfw: band-streamed stacking with pixel rejection.

Modules: :mod:`.process` (the process and its parameters), :mod:`.engine` (row-band
streaming under a memory budget), :mod:`.rejection` (the rejection algorithms),
:mod:`.combine` (pixel combination), :mod:`.normalization`, :mod:`.weights`, :mod:`.statistics` and :mod:`.estimators`
(frame statistics), :mod:`.frames` (band reads of input files), :mod:`.sorting` and
:mod:`.lad` (vectorised kernels), :mod:`.filelist` (the glob-accepting ``images`` table).
"""

from processes.integration.process import ImageIntegration

__all__ = ["ImageIntegration"]
