"""Test doubles: the smallest processes the framework tests need, so that those tests never
import the process library (``processes/``)."""

from __future__ import annotations

from procfw.image import Image
from procfw.process import ExecutionContext, Process, ProcessOutput


class Negate(Process):
    """``1 - x`` on every sample (a test double with Invert's maths)."""

    process_id = "TestNegate"

    def apply(self, image: Image, context: ExecutionContext) -> Image:
        return image.with_pixels((1 - image.pixels).astype(image.pixels.dtype, copy=False))


class Pass(Process):
    """Does nothing, on a view or globally (a test double with NoOperation's behaviour)."""

    process_id = "TestPass"
    is_maskable = False

    def apply(self, image: Image, context: ExecutionContext) -> Image:
        return image

    def run_global(self, context: ExecutionContext) -> ProcessOutput:
        return ProcessOutput()
