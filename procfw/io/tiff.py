"""TIFF files through tifffile: 16-bit (or 8-bit) writing, reading of common baseline TIFFs.

Writing stores the pixel values as they are — clipped to [0, 1] and quantized (see
:mod:`procfw.io.samples`) — uncompressed, contiguous samples: grey (``minisblack``),
grey + alpha, RGB, RGB + alpha (unassociated alpha).  To save what a view *looks like*,
use :func:`procfw.display.export_rendered`.

Reading takes the first page: grey, RGB or palette colour, contiguous or planar samples,
any integer or floating point sample type (normalized as :func:`procfw.io.samples.unit_range`
says: integers scaled to [0, 1], floats kept); ``miniswhite`` grey is inverted.
Compressed files need the codecs tifffile has (zlib and LZW built in, more with
imagecodecs).  Anything else (CMYK, CIELab, YCbCr...) is an :class:`~procfw.errors.ImageFileError`.
tifffile is imported when a file is read or written.  The first page's declared size is
checked against :mod:`procfw.io.limits` before it is decoded.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs
import numpy as np

from procfw.errors import ImageFileError
from procfw.image import Image
from procfw.io import write_image
from procfw.io.limits import check_image_size
from procfw.io.samples import check_bits, interleaved_samples, planar_from_samples, unit_range

__all__ = ["TIFF_FORMAT", "TIFFFormat", "read_tiff", "write_tiff", "write_tiff_file"]

_GREY, _RGB, _PALETTE, _WHITE_IS_ZERO = 1, 2, 3, 0  # TIFF PhotometricInterpretation values


def read_tiff(path: str | os.PathLike[str]) -> Image:
    """Read the first page of a TIFF file as planar [0, 1] pixels."""
    import tifffile

    target = Path(path)
    try:
        with tifffile.TiffFile(target) as tiff:
            page = tiff.pages[0]
            photometric = int(page.photometric)
            if photometric not in (_GREY, _RGB, _PALETTE, _WHITE_IS_ZERO):
                name = getattr(page.photometric, "name", photometric)
                raise ImageFileError(target, f"unsupported TIFF colour space (PhotometricInterpretation {name})")
            itemsize = page.dtype.itemsize if page.dtype is not None else 1
            check_image_size(target, tuple(page.shape), itemsize, "the TIFF image")
            data, axes = page.asarray(), page.axes
            colormap = page.colormap if photometric == _PALETTE else None
    except ImageFileError:
        raise
    except OSError as exc:
        raise ImageFileError(target, f"cannot read the file: {exc.strerror or exc}") from exc
    except Exception as exc:  # noqa: BLE001 - any decoder failure becomes a clean file error
        raise ImageFileError(target, f"cannot decode the TIFF file ({type(exc).__name__}: {exc})") from exc
    if axes not in ("YX", "YXS", "SYX"):
        raise ImageFileError(target, f"unsupported TIFF layout (axes {axes}, shape {data.shape})")
    try:
        if colormap is not None:
            return Image(unit_range(np.asarray(colormap)[:, data]))
        pixels = planar_from_samples(data, channels_last=axes != "SYX")
    except (ValueError, IndexError) as exc:
        raise ImageFileError(target, f"cannot decode the TIFF samples ({exc})") from exc
    if photometric == _WHITE_IS_ZERO and data.dtype.kind in "uib":
        pixels = 1 - pixels
    return Image(pixels)


def write_tiff_file(image: Image, path: Path, *, bits: int = 16) -> None:
    """Write ``image`` to exactly ``path`` (no atomicity, replaces it) as an 8- or 16-bit TIFF."""
    import tifffile

    samples = interleaved_samples(image.pixels, check_bits(bits), name=path)
    planes = 1 if samples.ndim == 2 else samples.shape[2]
    try:
        tifffile.imwrite(
            path,
            samples,
            photometric="rgb" if planes >= 3 else "minisblack",
            planarconfig="contig" if planes > 1 else None,
            extrasamples=["unassalpha"] if planes in (2, 4) else None,
            software="procfw",
            metadata=None,
        )
    except OSError as exc:
        raise ImageFileError(path, f"cannot write the file: {exc.strerror or exc}") from exc


def write_tiff(
    image: Image, path: str | os.PathLike[str], *, bits: int = 16, overwrite: bool = False
) -> Path:
    """Write ``image``'s pixels as a 16-bit (or 8-bit) TIFF, atomically; return the path.

    An existing file is replaced only when ``overwrite`` is true.
    """
    return write_image(image, path, overwrite=overwrite, format=attrs.evolve(TIFF_FORMAT, bits=bits))


def _valid_bits(_instance: object, _attribute: object, value: int) -> None:
    check_bits(value)


@attrs.frozen
class TIFFFormat:
    """Tagged Image File Format, 16-bit (default) or 8-bit, uncompressed."""

    id: str = "tiff"
    extensions: tuple[str, ...] = (".tif", ".tiff")
    description: str = "Tagged Image File Format (TIFF), 16 or 8 bits, for display"
    can_read: bool = True
    can_write: bool = True
    bits: int = attrs.field(default=16, validator=_valid_bits)

    def read(self, path: Path) -> Image:
        """Read the first page of a TIFF file (see :func:`read_tiff`)."""
        return read_tiff(path)

    def write(self, image: Image, path: Path) -> None:
        """Write ``image`` to exactly ``path`` at ``bits`` (the caller handles atomicity)."""
        write_tiff_file(image, Path(path), bits=self.bits)


#: The registered TIFF format (16 bits; entry point ``procfw.formats: tiff``, through :mod:`procfw.io.raster`).
TIFF_FORMAT = TIFFFormat()
