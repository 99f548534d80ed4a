"""ExampleGain: multiply pixel values by a gain, optionally clipping to [0, 1]."""

from __future__ import annotations

import numpy as np

from procfw.image import Image
from procfw.params import Boolean, Double, param
from procfw.process import ExecutionContext, Process, ProcessOutput


class ExampleGain(Process):
    """Multiply every pixel by a gain factor."""

    process_id = "ExampleGain"
    categories = ("Examples",)

    gain: float = param(Double(minimum=0, maximum=100, default=2.0, precision=3, description="the factor"))
    clip: bool = param(Boolean(default=True, description="clip the result to [0, 1]"))

    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        out = image.pixels * np.float32(self.gain)
        if self.clip:
            np.clip(out, 0, 1, out=out)
        return ProcessOutput(image=image.with_pixels(out), outputs={"gain": self.gain})
