"""PixInsight's ImageIntegration for procfw: band-streamed stacking with pixel rejection.

Modules: :mod:`.process` (the process and its parameters), :mod:`.engine` (row-band
streaming under a memory budget), :mod:`.rejection` (the rejection algorithms),
:mod:`.combine` (pixel combination), :mod:`.normalization`, :mod:`.weights`, :mod:`.statistics` and :mod:`.estimators`
(frame statistics), :mod:`.frames` (band reads of input files), :mod:`.sorting` and
:mod:`.lad` (vectorised kernels), :mod:`.filelist` (the glob-accepting ``images`` table).

Importing the package imports none of them: ``from processes.integration import
ImageIntegration`` loads :mod:`.process` on first use (PEP 562), so that a module that
needs only a kernel (the star measurement uses :mod:`.kernel_numba`; the pre-processing
workers import it) does not load the whole process.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ImageIntegration"]


def __getattr__(name: str) -> Any:
    if name == "ImageIntegration":
        from processes.integration.process import ImageIntegration

        return ImageIntegration
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
