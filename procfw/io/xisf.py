"""XISF 1.0 (Extensible Image Serialization Format) reader and writer.

A clean-room implementation of the public XISF 1.0 specification (monolithic files).

Reading (:func:`read_xisf`, ``XISF_FORMAT.read``):

* the first ``Image`` element of a monolithic ``.xisf`` file (other images, thumbnails,
  ICC profiles, RGB working spaces and tables are ignored and logged);
* data blocks attached (``attachment:pos:size``), inline (``inline:base64|hex``) and
  embedded (``<Data encoding=...>``); compression zlib, lz4, lz4hc and zstd, each with
  or without byte shuffling and with optional ``subblocks``; ``byteOrder`` little or
  big; checksums sha1/sha256/sha512/sha3-256/sha3-512, verified before decompressing;
* sample formats UInt8/16/32/64 and Float32/64, Gray and RGB (extra channels are
  alpha), planar and normal (interleaved) pixel storage.  The image's sample format
  (``Image.sample_format``) is the file's (UInt64, which PixInsight does not write,
  becomes Float64), and is what the writer writes unless told otherwise.

Pixel values: the representable range (``bounds``; for integers by default
``[0, 2**n - 1]``) is mapped linearly to [0, 1], so UInt16 samples are divided by
65535 as PixInsight does and a Float32 image with ``bounds="0:65535"`` is rescaled.
Float samples outside the bounds are kept, not clipped.  UInt8/UInt16 give float32
pixels; UInt32/UInt64 give float64 pixels (float32 cannot hold 32-bit samples
exactly); Float32 gives float32 and Float64 gives float64.

Memory mapping: an uncompressed attached block is mapped read-only
(``numpy.memmap`` mode ``'r'``).  A Float32/Float64 planar image in native byte order
with bounds 0:1 is returned as a read-only view of that map: nothing is read until
pixels are used, and the file can never be modified through it (copy the pixels
before changing them in place).  Other sample formats are converted straight from the
map into a new float array.

Image metadata:

* ``FITSKeyword`` elements -> ``Image.keywords`` (values parsed: quoted strings
  unquoted, T/F -> bool, integers, reals, empty -> None); the text of COMMENT and
  HISTORY keywords (their ``comment`` attribute) becomes the keyword's value, as in
  :mod:`procfw.io.fits`, and is written back to the ``comment`` attribute;
* ``Property`` elements of the image and of ``Metadata`` -> ``Image.properties`` with
  their types recorded in ``properties["XISF:PropertyTypes"]`` (see
  :mod:`procfw.io.xisf_properties`);
* ``DisplayFunction`` -> ``properties["XISF:DisplayFunction"]`` =
  ``{"m": [4 floats], "s": [...], "h": [...], "l": [...], "r": [...], "name": str}``
  (components in the spec's order R/K, G, B, L);
* ``ColorFilterArray`` -> ``properties["XISF:ColorFilterArray"]`` =
  ``{"pattern": "RGGB", "width": 2, "height": 2, "name": str}``;
* ``Resolution`` -> ``properties["XISF:Resolution"]`` =
  ``{"horizontal": 72.0, "vertical": 72.0, "unit": "inch"}``;
* ``Reference`` elements are resolved to the element with that ``uid``.

Unsupported features (XISF header files ``.xish``, external blocks ``url(...)`` /
``path(...)``, CIELab images, complex samples, unknown codecs) raise
:class:`~procfw.errors.ImageFileError` naming the feature, as do corrupt files: bad
signature, oversized or truncated header, malformed XML, a header that is not UTF-8, a
DTD or entity declaration (refused by the XML parser, whatever the encoding), truncated
block, checksum mismatch, decompression bomb.  Declared sizes (geometry x sample size,
uncompressed sizes of compressed blocks, property lengths) are charged against the
limits of :mod:`procfw.io.limits` before anything is allocated or decompressed.

Writing (:func:`write_xisf`, ``XISF_FORMAT.write``) produces a monolithic XISF 1.0 file
with one ``Image`` whose pixel block is attached at a 4096-byte boundary, optional
compression (+ byte shuffling) and checksum, FITS keywords, properties (with their
recorded types), display function / CFA / resolution, and a ``Metadata`` element with
``XISF:CreationTime`` and ``XISF:CreatorApplication``.  Properties whose id starts
with ``XISF:`` go to ``Metadata`` (except the ones describing the old file itself,
such as its creation time or creator, which are replaced).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from procfw.errors import ImageFileError
from procfw.image import Image
from procfw.io.atomic import atomic_path
from procfw.io.xisf_codec import FormatProblem
from procfw.io.xisf_properties import PROPERTY_TYPES_KEY
from procfw.io.xisf_reader import (
    BLOCK_ALIGNMENT,
    COLOR_FILTER_ARRAY_KEY,
    DISPLAY_FUNCTION_KEY,
    MAX_HEADER_LENGTH,
    RESOLUTION_KEY,
    SAMPLE_FORMATS,
    read_unit,
)
from procfw.io.xisf_writer import WRITE_SAMPLE_FORMATS, WriteOptions, write_unit

__all__ = [
    "BLOCK_ALIGNMENT",
    "COLOR_FILTER_ARRAY_KEY",
    "DISPLAY_FUNCTION_KEY",
    "MAX_HEADER_LENGTH",
    "PROPERTY_TYPES_KEY",
    "RESOLUTION_KEY",
    "SAMPLE_FORMATS",
    "WRITE_SAMPLE_FORMATS",
    "XISF_FORMAT",
    "XISFFormat",
    "read_xisf",
    "write_xisf",
]


def read_xisf(path: str | os.PathLike[str]) -> Image:
    """Read the first image of a monolithic XISF 1.0 file.

    Raises :class:`~procfw.errors.ImageFileError` naming the file and the problem for
    unreadable, corrupt or unsupported files.
    """
    target = Path(path)
    try:
        return read_unit(target)
    except ImageFileError:
        raise
    except FormatProblem as exc:
        raise ImageFileError(target, str(exc)) from exc
    except (ValueError, TypeError, KeyError, IndexError, struct.error) as exc:  # defensive: never leak these
        raise ImageFileError(target, f"cannot decode the file ({type(exc).__name__}: {exc})") from exc
    except MemoryError as exc:
        raise ImageFileError(target, "not enough memory for the image size declared in the header") from exc
    except OSError as exc:
        raise ImageFileError(target, f"cannot read the file: {exc.strerror or exc}") from exc


def write_xisf(
    image: Image,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    sample_format: str | None = None,
    compression: str | None = None,
    shuffle: bool = False,
    checksum: str | None = "sha1",
    level: int | None = None,
) -> Path:
    """Write ``image`` as a monolithic XISF 1.0 file, atomically; return the path.

    ``sample_format``: UInt8, UInt16, UInt32 (pixels clipped to [0, 1] and scaled to
    the integer range; a warning says how many samples were clipped), Float32 or Float64
    (written as is, ``bounds="0:1"``); None (the default): the image's sample format.
    ``compression``: None, "zlib", "lz4", "lz4hc" or "zstd"; ``shuffle`` adds byte
    shuffling (no effect without compression); ``level`` is the codec's own level
    (zlib 0-9, lz4 acceleration, lz4hc 1-12, zstd 1-22; None for the default).
    ``checksum``: "sha1" (default), "sha256", "sha512", "sha3-256", "sha3-512" or None.
    An existing file is replaced only when ``overwrite`` is true.
    """
    options = WriteOptions.checked(sample_format, compression, shuffle, checksum, level)
    target = Path(path)
    if str(target.parent) and not target.parent.is_dir():
        raise ImageFileError(target, f"directory {target.parent} does not exist")
    with atomic_path(target, overwrite=overwrite) as temp:
        try:
            write_unit(image, temp, options)
        except OSError as exc:
            raise ImageFileError(target, f"cannot write the file: {exc.strerror or exc}") from exc
    return target


class XISFFormat:
    """The XISF image format for :mod:`procfw.io`'s registry (id ``xisf``, ``.xisf`` files).

    ``write`` uses :func:`write_xisf`'s defaults: the image's sample format, no
    compression, SHA-1 checksum.
    """

    id = "xisf"
    extensions: tuple[str, ...] = (".xisf",)
    description = "XISF 1.0 - Extensible Image Serialization Format (PixInsight), monolithic files"
    can_read = True
    can_write = True

    def read(self, path: Path) -> Image:
        """Read the first image of an XISF file (see :func:`read_xisf`)."""
        return read_xisf(path)

    def write(self, image: Image, path: Path) -> None:
        """Write ``image`` to exactly ``path`` (the caller handles atomicity and overwriting)."""
        target = Path(path)
        try:
            write_unit(image, target, WriteOptions())
        except OSError as exc:
            raise ImageFileError(target, f"cannot write the file: {exc.strerror or exc}") from exc

    def __repr__(self) -> str:
        return "XISFFormat(id='xisf')"


#: The registered XISF format object (entry point ``procfw.formats: xisf``).
XISF_FORMAT = XISFFormat()
