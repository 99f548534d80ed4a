"""NewImage: a new image window filled with constant values (PixInsight NewImage)."""

from __future__ import annotations

import numpy as np

from procfw.image import Image, sample_format_for
from procfw.limits import check_output_size
from procfw.params import Double, Enumeration, Int32, String, param
from procfw.process import ExecutionContext, Process, ProcessOutput

_LEVELS = {"i8": 255, "i16": 65535, "i32": 4294967295}
"""Integer sample formats: the values are quantized to this many steps."""


class NewImage(Process):
    """Create a new image of a given size, colour space and sample format, filled with constant values.

    As in PixInsight (``NewImageParameters.cpp``, ``NewImageInstance.cpp``): a new instance
    makes a 1024 x 1024 Grayscale image of one channel, in f32; ``colorSpace`` elements are
    RGB = 0 and Grayscale = 1; up to 1024 channels; fill values have 8 decimals.  The new
    image's sample format (:attr:`procfw.image.Image.sample_format`) is ``sampleFormat``.

    Channels beyond the colour space's nominal ones (1 for Grayscale, 3 for RGB) are alpha
    channels, filled with ``va``.  Pixels are stored as float32 (float64 for ``f64``);
    integer sample formats quantize the fill values to their number of levels.  An image
    over the memory limit (:func:`procfw.limits.check_output_size`) is refused before it is
    allocated.
    """

    process_id = "NewImage"
    categories = ("Image",)
    is_maskable = False

    id: str = param(String(default="", description="Id of the new image window ('' for an automatic id)."))
    width: int = param(Int32(default=1024, minimum=1, description="Width in pixels."))
    height: int = param(Int32(default=1024, minimum=1, description="Height in pixels."))
    numberOfChannels: int = param(  # noqa: N815 - PixInsight's parameter id
        Int32(default=1, minimum=1, maximum=1024, description="Channels, alpha channels included.")
    )
    colorSpace: str = param(  # noqa: N815 - PixInsight's parameter id
        Enumeration(elements=(("RGB", 0), ("Grayscale", 1)), default="Grayscale",
                    description="Colour space of the image.")
    )
    sampleFormat: str = param(  # noqa: N815 - PixInsight's parameter id
        Enumeration(elements=("i8", "i16", "i32", "f32", "f64"), default="f32", description="Sample data format.")
    )
    v0: float = param(Double(precision=8, default=0.0, minimum=0.0, maximum=1.0,
                               description="Value of channel 0 (red or gray)."))
    v1: float = param(Double(precision=8, default=0.0, minimum=0.0, maximum=1.0,
                               description="Value of channel 1 (green)."))
    v2: float = param(Double(precision=8, default=0.0, minimum=0.0, maximum=1.0,
                               description="Value of channel 2 (blue)."))
    va: float = param(Double(precision=8, default=1.0, minimum=0.0, maximum=1.0,
                               description="Value of the alpha channels."))

    def validate(self) -> None:
        nominal = 3 if self.colorSpace == "RGB" else 1
        if self.numberOfChannels < nominal:
            raise self.invalid(
                "numberOfChannels", self.numberOfChannels, f"an {self.colorSpace} image needs at least {nominal}"
            )

    def fill_values(self) -> list[float]:
        """The value of each channel, alpha channels included, after quantization."""
        nominal = [self.v0, self.v1, self.v2] if self.colorSpace == "RGB" else [self.v0]
        values = nominal + [self.va] * (self.numberOfChannels - len(nominal))
        levels = _LEVELS.get(self.sampleFormat)
        if levels is not None:
            values = [round(v * levels) / levels for v in values]
        return values

    def make_image(self) -> Image:
        """The new image."""
        dtype = np.float64 if self.sampleFormat == "f64" else np.float32
        given = {n: getattr(self, n) for n in ("width", "height", "numberOfChannels", "sampleFormat")}
        check_output_size(self.process_id, given, (self.numberOfChannels, self.height, self.width), dtype)
        pixels = np.empty((self.numberOfChannels, self.height, self.width), dtype=dtype)
        for channel, value in enumerate(self.fill_values()):
            pixels[channel] = value
        return Image(pixels, sample_format=sample_format_for(self.sampleFormat))

    def run_global(self, context: ExecutionContext) -> ProcessOutput:
        return ProcessOutput(new_images={self.id or "Image": self.make_image()})
