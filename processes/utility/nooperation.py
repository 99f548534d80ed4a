"""NoOperation: a process that does nothing (PixInsight NoOperation)."""

from __future__ import annotations

from procfw.image import Image
from procfw.process import ExecutionContext, Process, ProcessOutput


class NoOperation(Process):
    """Does nothing: a placeholder, a separator in containers, a marker in history."""

    process_id = "NoOperation"
    categories = ("Process",)
    is_maskable = False

    def apply(self, image: Image, context: ExecutionContext) -> Image:
        return image

    def run_global(self, context: ExecutionContext) -> ProcessOutput:
        return ProcessOutput()
