"""PNG files: 8-bit through Pillow, 16-bit through pypng (Pillow cannot store 16-bit colour).

Writing stores the pixel values as they are — clipped to [0, 1] and quantized to 8 or 16
bits (see :mod:`procfw.io.samples`); grey, grey + alpha, RGB or RGB + alpha.  To save
what a view *looks like* (its screen stretch applied), use
:func:`procfw.display.export_rendered`.

Reading gives planar [0, 1] float32 pixels: grey → 1 channel, grey + alpha → 2, RGB → 3,
RGB + alpha → 4 (palette images are expanded to RGB, or RGB + alpha when they have
transparency).  Pillow and pypng are imported when a file is read or written.  The size
in the IHDR chunk is checked against :mod:`procfw.io.limits` before anything is decoded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from procfw.errors import ImageFileError
from procfw.image import Image
from procfw.io import write_image
from procfw.io.limits import check_image_size
from procfw.io.samples import check_bits, interleaved_samples, planar_from_samples

__all__ = ["PNG_FORMAT", "PNGFormat", "read_png", "write_png", "write_png_file"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IHDR_END = 26  # signature (8) + length (4) + "IHDR" (4) + width (4) + height (4) + depth (1) + colour type (1)
_SAMPLES_PER_PIXEL = {0: 1, 2: 3, 3: 4, 4: 2, 6: 4}  # by colour type (palette: RGBA at most)


def read_png(path: str | os.PathLike[str]) -> Image:
    """Read a PNG file as planar [0, 1] float32 pixels; errors are :class:`~procfw.errors.ImageFileError`."""
    target = Path(path)
    try:
        with open(target, "rb") as stream:
            head = stream.read(_IHDR_END)
    except OSError as exc:
        raise ImageFileError(target, f"cannot read the file: {exc.strerror or exc}") from exc
    if len(head) < _IHDR_END or not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
        raise ImageFileError(target, "not a PNG file (bad signature or header)")
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    samples_per_pixel = _SAMPLES_PER_PIXEL.get(head[25], 4)
    check_image_size(target, (height, width, samples_per_pixel), 2 if head[24] == 16 else 1, "the PNG image")
    try:
        samples = _read_16bit(target) if head[24] == 16 else _read_8bit(target)
        return Image(planar_from_samples(samples))
    except ImageFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure becomes a clean file error
        raise ImageFileError(target, f"cannot decode the PNG file ({type(exc).__name__}: {exc})") from exc


def _read_8bit(path: Path) -> np.ndarray:
    from PIL import Image as PILImage

    with PILImage.open(path, formats=["PNG"]) as picture:
        if picture.mode not in ("L", "LA", "RGB", "RGBA"):
            transparent = "transparency" in picture.info or picture.mode.endswith("A")
            grey = picture.mode in ("1", "I", "I;16", "I;16B", "L;2", "L;4")
            picture = picture.convert(("LA" if grey else "RGBA") if transparent else ("L" if grey else "RGB"))
        return np.asarray(picture)


def _read_16bit(path: Path) -> np.ndarray:
    import png

    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    planes = int(info["planes"])
    samples = np.stack([np.asarray(row) for row in rows]).reshape(height, width, planes)
    depth = int(info["bitdepth"])
    if depth != 16:  # an sBIT chunk made pypng rescale to the significant bits
        samples = np.rint(samples.astype(np.float64) * (65535 / (2**depth - 1))).astype(np.uint16)
    return samples.astype(np.uint16, copy=False) if planes > 1 else samples[..., 0].astype(np.uint16, copy=False)


def write_png_file(image: Image, path: Path, *, bits: int = 8) -> None:
    """Write ``image`` to exactly ``path`` (no atomicity, replaces it) as an 8- or 16-bit PNG."""
    samples = interleaved_samples(image.pixels, check_bits(bits), name=path)
    try:
        if bits == 8:
            from PIL import Image as PILImage

            PILImage.fromarray(samples).save(path, format="PNG", compress_level=6)
        else:
            _write_16bit(samples, path)
    except OSError as exc:
        raise ImageFileError(path, f"cannot write the file: {exc.strerror or exc}") from exc


def _write_16bit(samples: np.ndarray, path: Path) -> None:
    import png

    height, width = samples.shape[:2]
    planes = 1 if samples.ndim == 2 else samples.shape[2]
    writer: Any = png.Writer(
        width=width, height=height, greyscale=planes <= 2, alpha=planes in (2, 4), bitdepth=16, compression=6
    )
    with open(path, "wb") as stream:
        writer.write(stream, samples.reshape(height, width * planes))


def write_png(
    image: Image, path: str | os.PathLike[str], *, bits: int = 8, overwrite: bool = False
) -> Path:
    """Write ``image``'s pixels as an 8- or 16-bit PNG, atomically; return the path.

    An existing file is replaced only when ``overwrite`` is true.
    """
    return write_image(image, path, overwrite=overwrite, format=attrs.evolve(PNG_FORMAT, bits=bits))


def _valid_bits(_instance: object, _attribute: object, value: int) -> None:
    check_bits(value)


@attrs.frozen
class PNGFormat:
    """Portable Network Graphics, 8-bit (default) or 16-bit; ``attrs.evolve(PNG_FORMAT, bits=16)``."""

    id: str = "png"
    extensions: tuple[str, ...] = (".png",)
    description: str = "Portable Network Graphics (PNG), 8 or 16 bits, for display"
    can_read: bool = True
    can_write: bool = True
    bits: int = attrs.field(default=8, validator=_valid_bits)

    def read(self, path: Path) -> Image:
        """Read a PNG file (see :func:`read_png`)."""
        return read_png(path)

    def write(self, image: Image, path: Path) -> None:
        """Write ``image`` to exactly ``path`` at ``bits`` (the caller handles atomicity)."""
        write_png_file(image, Path(path), bits=self.bits)


#: The registered PNG format (8 bits; entry point ``procfw.formats: png``, through :mod:`procfw.io.raster`).
PNG_FORMAT = PNGFormat()
