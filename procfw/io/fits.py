"""FITS image files: reading and writing with astropy.

Reading
    The first HDU that holds image data is read: the primary HDU, else the first image
    extension (tile-compressed ``CompImageHDU`` included).  Gzipped files are read too.
    Pixels are normalized to [0, 1] the way PixInsight does it:

    * integer data (BITPIX 8, 16, 32, 64) maps the full range of the *stored* type onto
      [0, 1].  For unsigned data that follows the FITS convention (BITPIX 16 with
      BZERO = 32768, BITPIX 32 with BZERO = 2147483648) this is ``value / 65535`` and
      ``value / 4294967295``; 8-bit data is ``value / 255``; signed data without the
      convention becomes ``(value - min) / (max - min)`` of the type.  Any other BZERO /
      BSCALE is linear, so it does not change the result (a negative BSCALE flips it).
      8- and 16-bit data become float32; 32- and 64-bit data become float64 (float32
      cannot hold 32 significant bits).
    * floating point data (BITPIX -32, -64) is kept as it is, float32 or float64
      (BZERO / BSCALE applied if present).

    2-D data becomes one channel ``(1, height, width)``; a 3-D cube ``(NAXIS3, height,
    width)`` becomes NAXIS3 channels.  Leading axes of length 1 beyond the third are
    dropped.  Row 0 of the pixel array is the first row stored in the file (astropy's
    order); no vertical flip is done.

    Every header card of that HDU except the structural ones (SIMPLE, BITPIX, NAXIS*,
    EXTEND, BZERO, BSCALE, BLANK, PCOUNT, GCOUNT, XTENSION, CHECKSUM, DATASUM, END and
    the tile-compression Z* cards) becomes a :class:`~procfw.image.FITSKeyword`, in
    order; COMMENT and HISTORY cards keep their text as the value.  The stored BITPIX is
    recorded in ``image.properties["FITS:BITPIX"]`` and the HDU index in
    ``image.properties["FITS:HDU"]``; it sets the image's sample format (BITPIX 8, 16,
    32 -> UInt8, UInt16, UInt32; -32 -> Float32; -64 and 64 -> Float64).

Writing
    One primary HDU: 2-D for a single channel, a 3-D cube for more.  ``bitpix`` is -32
    (float32), -64 (float64), 8 (unsigned byte), 16 or 32 (unsigned, with the BZERO
    convention); by default (None) the image's sample format, so a 16-bit file opened
    and saved stays 16-bit.  Integer writes clip to [0, 1] (a warning says how many
    samples were clipped), scale to the type's range and round.  The image's keywords
    are written back in order, so read -> write -> read keeps them.
    :func:`write_fits_bands` writes the same file from pixels made a band of rows at a
    time (a plain float file takes each band as it comes: no whole image is held).
    :func:`start_write_fits` writes a plain float file's pixels in a thread while the
    caller makes its final keywords, the header written last (:class:`PendingWrite`).

An image whose header declares more data than :mod:`procfw.io.limits` allows is refused
from the header, before any data is read or decompressed.

Every failure (missing, empty, truncated or non-FITS file, corrupt header, no image
data, unsupported dimensionality, unwritable keyword) raises
:class:`~procfw.errors.ImageFileError` naming the file and the problem.

Plain files without astropy
    A file that is not gzipped and whose primary HDU holds the image is read without
    importing astropy when every card of its primary header is one
    :mod:`procfw.io.fits_cards` fully understands (:func:`read_plain_header`); a float
    image written to a plain file gets its header the same way when every keyword is one
    that module writes exactly as astropy does (:func:`primary_header_bytes`).  The
    results are astropy's (the same keywords, value types, pixels and errors; the same
    bytes); everything else goes through astropy.

astropy is imported inside the functions that need it, so importing this module is cheap
(about 0.2 s of CPU time saved in each process that only meets plain files).
"""

from __future__ import annotations

import gzip
import math
import os
import re
import warnings
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from procfw.errors import FileExistsProcfwError, ImageFileError, ParameterError
from procfw.image import FITSKeyword, Image
from procfw.io.atomic import atomic_path
from procfw.io.fits_cards import HeaderCards, format_header, read_header
from procfw.io.limits import check_compression_ratio, check_image_size
from procfw.io.pagecache import DirectRegionsFile
from procfw.io.samples import warn_if_lossy

if TYPE_CHECKING:
    from astropy.io.fits import Card, HDUList, Header
    from astropy.io.fits.hdu.image import _ImageBaseHDU

__all__ = [
    "FITS_FORMAT", "FORMAT_BITPIX", "STORED_TYPES", "FITSFormat", "PlainImageHeader", "WRITE_BITPIX", "bitpix_of",
    "PendingWrite", "keywords_from_cards", "plain_layout", "read_exactly", "read_fits",
    "read_fits_bands", "read_plain_header", "start_write_fits", "write_fits", "write_fits_bands",
]

#: The BITPIX values :func:`write_fits` accepts.
WRITE_BITPIX: tuple[int, ...] = (-32, -64, 8, 16, 32)

#: BITPIX -> the sample format it is read as (64-bit integers: Float64, which no writer refuses).
_BITPIX_FORMATS = {8: "UInt8", 16: "UInt16", 32: "UInt32", 64: "Float64", -32: "Float32", -64: "Float64"}
#: Sample format -> the BITPIX it is written as.
FORMAT_BITPIX = {"UInt8": 8, "UInt16": 16, "UInt32": 32, "Float32": -32, "Float64": -64}

_VALID_BITPIX = frozenset({8, 16, 32, 64, -32, -64})

_STRUCTURAL_NAMES = frozenset(
    {
        "SIMPLE", "BITPIX", "NAXIS", "EXTEND", "BZERO", "BSCALE", "BLANK", "PCOUNT", "GCOUNT",
        "XTENSION", "CHECKSUM", "DATASUM", "END",
        "ZIMAGE", "ZSIMPLE", "ZTENSION", "ZBITPIX", "ZNAXIS", "ZEXTEND", "ZBLOCKED", "ZPCOUNT",
        "ZGCOUNT", "ZHECKSUM", "ZDATASUM", "ZCMPTYPE", "ZQUANTIZ", "ZDITHER0", "ZMASKCMP",
        "ZBLANK", "ZSCALE", "ZZERO",
    }
)  # fmt: skip
_STRUCTURAL_PATTERN = re.compile(r"(NAXIS|ZNAXIS|ZTILE|ZNAME|ZVAL)\d+")
_COMMENTARY_NAMES = frozenset({"COMMENT", "HISTORY", ""})

_GZIP_MAGIC = b"\x1f\x8b"
_FITS_MAGIC = b"SIMPLE  ="
_OTHER_FORMATS: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"XISF0100", "an XISF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
)


def is_structural(name: str) -> bool:
    """True for header cards that describe the data layout rather than the image.

    These are produced by the writer from the pixel array and never become keywords.
    """
    upper = name.strip().upper()
    return upper in _STRUCTURAL_NAMES or _STRUCTURAL_PATTERN.fullmatch(upper) is not None


# --------------------------------------------------------------------------- reading


def read_fits(path: str | os.PathLike[str]) -> Image:
    """Read the first image HDU of a FITS file as an :class:`~procfw.image.Image`.

    The file is opened read-only and never modified.  See the module docstring for the
    normalization rules.  Raises :class:`~procfw.errors.ImageFileError` on any problem.
    """
    target = Path(path)
    is_gzip = _check_signature(target)
    plain = None if is_gzip else read_plain_header(target)
    if plain is not None:
        image = _read_plain(target, plain)
        if image is not None:
            return image
    _check_primary_size(target, is_gzip=is_gzip)
    try:
        return _read(target, is_gzip=is_gzip)
    except ImageFileError:
        raise
    except Exception as exc:  # astropy/numpy raise many types on damaged files
        problem = f"cannot read the FITS file: its header or data is damaged or truncated ({_describe(exc)})"
        raise ImageFileError(target, problem) from exc


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _check_signature(path: Path) -> bool:
    """Check that ``path`` is a readable FITS file (plain or gzipped); return whether gzipped."""
    if not path.exists():
        raise ImageFileError(path, "no such file")
    if path.is_dir():
        raise ImageFileError(path, "is a directory, not a FITS file")
    head = _read_head(path, 80)
    is_gzip = head.startswith(_GZIP_MAGIC)
    if is_gzip:
        head = _read_gzip_head(path, 80)
    if not head:
        raise ImageFileError(path, "the file is empty" if not is_gzip else "the gzip file contains no data")
    if not head.startswith(_FITS_MAGIC):
        raise ImageFileError(path, _not_fits_problem(head))
    return is_gzip


def _read_head(path: Path, size: int) -> bytes:
    try:
        with path.open("rb") as stream:
            return stream.read(size)
    except OSError as exc:
        raise ImageFileError(path, f"cannot open the file ({exc.strerror or exc})") from exc


def _read_gzip_head(path: Path, size: int) -> bytes:
    try:
        with gzip.open(path, "rb") as stream:
            return stream.read(size)
    except (OSError, EOFError) as exc:
        raise ImageFileError(path, f"the file is a damaged gzip archive ({exc})") from exc


def _not_fits_problem(head: bytes) -> str:
    for magic, what in _OTHER_FORMATS:
        if head.startswith(magic):
            return f"not a FITS file: it looks like {what}"
    return "not a FITS file: it does not begin with the 'SIMPLE  =' card every FITS file starts with"


def _read(path: Path, *, is_gzip: bool) -> Image:
    from astropy.io import fits

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(path, mode="readonly", memmap=not is_gzip, do_not_scale_image_data=True) as hdul:
            index, hdu = _first_image_hdu(hdul, path)
            _check_size(hdu, path, index)
            if not is_gzip:
                _check_not_truncated(hdu, path)
            pixels = _pixels(hdu, path, direct=not is_gzip)
            keywords = keywords_from_header(hdu.header)
            bitpix = int(hdu.header["BITPIX"])
    return Image(pixels, keywords, {"FITS:BITPIX": bitpix, "FITS:HDU": index},
                 sample_format=_BITPIX_FORMATS.get(bitpix, "Float64"))


@attrs.frozen
class PlainImageHeader:
    """The primary header of a plain (uncompressed, not gzipped) FITS file whose primary HDU holds
    an image, read without astropy (:mod:`procfw.io.fits_cards`): its cards, BITPIX and NAXIS1..n."""

    header: HeaderCards
    bitpix: int
    axes: tuple[int, ...]

    @property
    def data_offset(self) -> int:
        """The file offset of the first pixel."""
        return self.header.data_offset

    def number(self, name: str, default: float) -> float:
        """The value of a numeric card (BSCALE, BZERO) as a float, else ``default``."""
        return _number_value(self.header.get(name, default), default)


_UNIQUE_NAMES = ("SIMPLE", "BITPIX", "NAXIS")


def read_plain_header(path: str | os.PathLike[str]) -> PlainImageHeader | None:
    """The primary header of ``path`` when the native reader fully understands it (every card, see
    :func:`procfw.io.fits_cards.read_header`) and it describes an image of NAXIS >= 1 axes, each
    counted once: ``SIMPLE = T`` first, a valid BITPIX, no GROUPS or XTENSION card.  None
    otherwise (a gzipped or damaged file, an unusual header: astropy reads it)."""
    try:
        header = read_header(path)
    except OSError:
        return None
    if header is None or not header.cards or header.cards[0][:2] != ("SIMPLE", True):
        return None
    bitpix, naxis = header.get("BITPIX"), header.get("NAXIS")
    if not _is_count(naxis) or not 0 < naxis <= 999 or isinstance(bitpix, bool) or bitpix not in _VALID_BITPIX:
        return None
    names = (*_UNIQUE_NAMES, *(f"NAXIS{i}" for i in range(1, naxis + 1)))
    if any(header.count(name) != 1 for name in names) or header.count("GROUPS") or header.count("XTENSION"):
        return None
    axes = tuple(header.get(f"NAXIS{i}") for i in range(1, naxis + 1))
    return PlainImageHeader(header, bitpix, axes) if all(_is_count(n) for n in axes) else None


def _read_plain(path: Path, plain: PlainImageHeader) -> Image | None:
    """The image of a plain file's primary HDU read without astropy (the same image as :func:`_read`),
    or None when its data is not a non-empty 2-D image or 3-D cube (astropy then reports or reads it)."""
    layout = plain_layout(path, plain)
    if layout is None:
        return None
    planar, stored = layout
    pixels = _read_converted(path, plain.data_offset, planar, stored)
    _scale(pixels, stored, plain.number("BSCALE", 1.0), plain.number("BZERO", 0.0))
    return _plain_image(plain, pixels)


def plain_layout(path: Path, plain: PlainImageHeader) -> tuple[tuple[int, int, int], np.dtype] | None:
    """The planar shape (channels, height, width) and stored sample type of the image of ``path``, whose
    header is ``plain``; None when its data is not a non-empty 2-D image or 3-D cube (leading axes of
    length 1 beyond the third dropped).  The declared size is checked (:mod:`procfw.io.limits`) and so
    is the file's length (:class:`~procfw.errors.ImageFileError` when it is truncated)."""
    shape = list(reversed(plain.axes))
    while len(shape) > 3 and shape[0] == 1:
        shape.pop(0)
    if len(shape) not in (2, 3) or not all(shape):
        return None
    check_image_size(path, tuple(reversed(plain.axes)), abs(plain.bitpix) // 8, "the image in HDU 0")
    stored = np.dtype(STORED_TYPES[plain.bitpix])
    _check_data_present(path, plain.data_offset, stored.itemsize * math.prod(shape))
    planar = (1, *shape) if len(shape) == 2 else (shape[0], shape[1], shape[2])
    return planar, stored


def _plain_image(plain: PlainImageHeader, pixels: np.ndarray) -> Image:
    """The image of a plain file with ``pixels``: its keywords, BITPIX, HDU and sample format."""
    return Image(pixels, keywords_from_cards(plain.header.cards), {"FITS:BITPIX": plain.bitpix, "FITS:HDU": 0},
                 sample_format=_BITPIX_FORMATS[plain.bitpix])


def read_fits_bands(path: str | os.PathLike[str], rows: int) -> tuple[Image, Iterator[np.ndarray]] | None:
    """A plain FITS file's image read a band of ``rows`` rows at a time, without the whole image in memory.

    Returns the image as :func:`read_fits` reads it but with its pixels a read-only zero view of
    their shape and type (keywords, properties and sample format as read), and an iterator of
    the pixels' consecutive ``(C, rows, W)`` bands (the last one shorter), each holding the values
    :func:`read_fits` gives.  The bands are views of one buffer, overwritten by the next band.
    None when the file is not one the native reader reads (gzipped, an unusual header or data):
    :func:`read_fits` then reads it.
    """
    target = Path(path)
    plain = None if _check_signature(target) else read_plain_header(target)
    layout = None if plain is None else plain_layout(target, plain)
    if plain is None or layout is None:
        return None
    planar, stored = layout
    zeros = np.broadcast_to(np.zeros((), _work_type(stored)), planar)
    return _plain_image(plain, zeros), _plain_bands(target, plain, planar, stored, max(1, rows))


def _plain_bands(path: Path, plain: PlainImageHeader, shape: tuple[int, int, int], stored: np.dtype,
                 rows: int) -> Iterator[np.ndarray]:
    """The converted and scaled bands of :func:`read_fits_bands`: each channel's rows read with one
    positioned read into a stored-type buffer, then cast into the band buffer."""
    channels, height, width = shape
    raw = np.empty((channels, min(rows, height), width), dtype=stored)
    band = np.empty(raw.shape, dtype=_work_type(stored))
    bscale, bzero = plain.number("BSCALE", 1.0), plain.number("BZERO", 0.0)
    with path.open("rb", buffering=0) as stream:
        for first in range(0, height, rows):
            count = min(rows, height - first)
            for channel in range(channels):
                offset = plain.data_offset + (channel * height + first) * width * stored.itemsize
                with memoryview(raw[channel, :count].reshape(-1).view(np.uint8)) as view:
                    if not read_exactly(stream.fileno(), [view], offset):
                        raise ImageFileError(path, "the file is truncated")
            np.copyto(band[:, :count], raw[:, :count], casting="unsafe")
            _scale(band[:, :count], stored, bscale, bzero)
            yield band[:, :count]


def _iter_hdus(hdul: HDUList) -> Iterator[tuple[int, Any]]:
    """The HDUs one at a time (astropy loads them lazily), stopping at unreadable trailing data."""
    index = 0
    while True:
        try:
            hdu = hdul[index]
        except IndexError:
            return
        yield index, hdu
        index += 1


def _first_image_hdu(hdul: HDUList, path: Path) -> tuple[int, _ImageBaseHDU]:
    from astropy.io import fits

    seen: list[str] = []
    for index, hdu in _iter_hdus(hdul):
        is_image = isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU)) and not isinstance(hdu, fits.GroupsHDU)
        if is_image:
            axes = _validated_axes(hdu.header, index, path)
            if axes and all(n > 0 for n in axes):
                return index, hdu
        seen.append(_hdu_summary(hdu, is_image))
    found = ", ".join(seen) if seen else "none"
    raise ImageFileError(path, f"contains no image data (HDUs found: {found})")


def _hdu_summary(hdu: Any, is_image: bool) -> str:
    name = type(hdu).__name__
    return f"{name} without data" if is_image else name


def _validated_axes(header: Header, index: int, path: Path) -> list[int]:
    """NAXIS1..NAXISn of an image header, after checking BITPIX and NAXIS make sense."""
    bitpix = header.get("BITPIX")
    if isinstance(bitpix, bool) or bitpix not in _VALID_BITPIX:
        raise ImageFileError(
            path, f"corrupt header in HDU {index}: BITPIX is {bitpix!r}, not one of 8, 16, 32, 64, -32, -64"
        )
    naxis = header.get("NAXIS")
    if not _is_count(naxis) or naxis > 999:
        raise ImageFileError(path, f"corrupt header in HDU {index}: NAXIS is {naxis!r}, not a number of axes")
    axes = [header.get(f"NAXIS{i}") for i in range(1, naxis + 1)]
    for i, length in enumerate(axes, start=1):
        if not _is_count(length):
            raise ImageFileError(path, f"corrupt header in HDU {index}: NAXIS{i} is {length!r}, not an axis length")
    return axes


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_not_truncated(hdu: _ImageBaseHDU, path: Path) -> None:
    """Compare the data an uncompressed HDU needs with what the file holds."""
    from astropy.io import fits

    if isinstance(hdu, fits.CompImageHDU):
        return
    info = hdu.fileinfo()
    if not info:
        return
    _check_data_present(path, int(info["datLoc"]), abs(int(hdu.header["BITPIX"])) // 8 * math.prod(_axes(hdu.header)))


def _check_data_present(path: Path, data_offset: int, needed: int) -> None:
    """Refuse a file shorter than its header's ``needed`` bytes of pixel data from ``data_offset``."""
    available = path.stat().st_size - data_offset
    if available < needed:
        raise ImageFileError(
            path,
            f"the file is truncated: the image needs {needed} bytes of pixel data but only "
            f"{max(available, 0)} are present",
        )


_BLOCK = 2880
_CARD = 80
#: Header blocks scanned by :func:`_check_primary_size` (about 100,000 cards).
_MAX_SCANNED_BLOCKS = 4096
_SIZE_CARDS = re.compile(rb"(BITPIX|NAXIS[0-9]{0,3}) *")


def _primary_layout(path: Path, *, is_gzip: bool) -> tuple[int, list[int]] | None:
    """BITPIX and NAXIS1..n of the primary header, read from the first header blocks only.

    Returns None when the header is unusual in any way; astropy then reports the problem.
    """
    numbers: dict[str, int] = {}
    with (gzip.open(path, "rb") if is_gzip else path.open("rb")) as stream:
        for _ in range(_MAX_SCANNED_BLOCKS):
            block = stream.read(_BLOCK)
            if len(block) < _BLOCK:
                return None
            for start in range(0, _BLOCK, _CARD):
                card = block[start : start + _CARD]
                if card[:8] == b"END     ":
                    return _layout_from(numbers)
                match = _SIZE_CARDS.fullmatch(card[:8])
                if match and card[8:10] == b"= ":
                    text = card[10:].split(b"/", 1)[0].strip()
                    if re.fullmatch(rb"[+-]?[0-9]{1,30}", text):
                        numbers.setdefault(match.group(1).decode(), int(text))
    return None


def _layout_from(numbers: dict[str, int]) -> tuple[int, list[int]] | None:
    bitpix, naxis = numbers.get("BITPIX"), numbers.get("NAXIS")
    if bitpix not in _VALID_BITPIX or naxis is None or not 0 < naxis <= 999:
        return None
    axes = [numbers.get(f"NAXIS{i}") for i in range(1, naxis + 1)]
    if any(n is None or n < 0 for n in axes):
        return None
    return bitpix, [int(n) for n in axes if n is not None]


def _check_primary_size(path: Path, *, is_gzip: bool) -> None:
    """Refuse a primary image over :mod:`procfw.io.limits` from its header, before astropy
    opens the file (astropy skips past the data by seeking, which decompresses a gzip
    stream, and cannot seek past sizes beyond the file system's range)."""
    try:
        layout = _primary_layout(path, is_gzip=is_gzip)
    except (OSError, EOFError, zlib.error):
        return  # astropy reports the damage
    if layout is not None:
        bitpix, axes = layout
        check_image_size(path, tuple(reversed(axes)), abs(bitpix) // 8, "the image in HDU 0")
        if is_gzip:
            declared = abs(bitpix) // 8 * math.prod(axes) if axes else 0
            check_compression_ratio(path, declared, path.stat().st_size, "the gzip-compressed image in HDU 0")


def _check_size(hdu: _ImageBaseHDU, path: Path, index: int) -> None:
    """Refuse, from the header alone, an image larger than :mod:`procfw.io.limits` allows.

    Runs before any pixel data is read or decompressed (gzip files, tile compression).
    """
    header = hdu.header
    shape = tuple(reversed(_axes(header)))
    check_image_size(path, shape, abs(int(header["BITPIX"])) // 8, f"the image in HDU {index}")


def _axes(header: Header) -> list[int]:
    return [int(header[f"NAXIS{i}"]) for i in range(1, int(header["NAXIS"]) + 1)]


def _planar_shape(header: Header, path: Path) -> tuple[int, int, int]:
    """(channels, height, width) for the HDU's axes, or an error for other dimensionalities."""
    shape = list(reversed(_axes(header)))  # numpy order: slowest axis first
    while len(shape) > 3 and shape[0] == 1:
        shape.pop(0)
    if len(shape) == 2:
        return (1, shape[0], shape[1])
    if len(shape) == 3:
        return (shape[0], shape[1], shape[2])
    naxis = int(header["NAXIS"])
    if len(shape) < 2:
        raise ImageFileError(path, f"the data is 1-dimensional (NAXIS={naxis}), not an image")
    raise ImageFileError(
        path,
        f"the data has {naxis} axes (shape {tuple(_axes(header))}); only 2-D images and 3-D cubes "
        "(NAXIS3 channels) can be read",
    )


def _pixels(hdu: _ImageBaseHDU, path: Path, *, direct: bool = False) -> np.ndarray:
    """The HDU's data as a new planar float array in [0, 1] (float data kept as is).

    ``direct`` (a file that is not gzipped): an uncompressed HDU's samples are read from
    the file and converted a piece at a time (:func:`_read_converted`) instead of through
    astropy's memory map of the whole file.
    """
    shape = _planar_shape(hdu.header, path)
    header = hdu.header
    stored = np.dtype(STORED_TYPES[int(header["BITPIX"])])
    data_start = _plain_data_start(hdu) if direct else None
    if data_start is not None:
        pixels = _read_converted(path, data_start, shape, stored)
    else:
        raw = hdu.data
        if raw is None:
            raise ImageFileError(path, "the image HDU has no data")
        stored = raw.dtype  # a tile-compressed HDU's data may differ from its BITPIX
        pixels = raw.reshape(shape).astype(_work_type(stored))  # always a copy, in native byte order
    _scale(pixels, stored, _header_number(header, "BSCALE", 1.0), _header_number(header, "BZERO", 0.0))
    return pixels


def _scale(pixels: np.ndarray, stored: np.dtype, bscale: float, bzero: float) -> None:
    """Normalize samples read as ``stored`` in place: integers to [0, 1], floats by BSCALE and BZERO."""
    if stored.kind in "iu":
        _normalize_integer(pixels, np.iinfo(stored), flip=bscale < 0)
    else:
        _scale_float(pixels, bscale, bzero)


STORED_TYPES = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
"""BITPIX -> the stored (big-endian) sample type, as astropy gives it without scaling."""

_READ_CHUNK_BYTES = 1 << 20
"""Bytes of stored samples read and converted at a time by :func:`_read_converted`."""


def _work_type(stored: np.dtype) -> type[np.floating]:
    """The float type stored samples are read as: float32 for 8- and 16-bit integers and float32, else float64."""
    return np.float32 if stored.itemsize <= (2 if stored.kind in "iu" else 4) else np.float64


def _plain_data_start(hdu: _ImageBaseHDU) -> int | None:
    """The file offset of an uncompressed HDU's data (None for a tile-compressed HDU)."""
    from astropy.io import fits

    if isinstance(hdu, fits.CompImageHDU):
        return None
    info = hdu.fileinfo()
    return int(info["datLoc"]) if info else None


def _read_converted(path: Path, data_start: int, shape: tuple[int, int, int], stored: np.dtype) -> np.ndarray:
    """Stored samples of an uncompressed image from ``data_start`` on, read from ``path`` and cast to a new
    array of ``shape`` in their float type (:func:`_work_type`): the values ``astype`` gives from astropy's data.

    Astropy's memory map would add the whole file's pages to the process's resident memory
    while the samples are converted (a frame's size, on top of what the process holds then);
    read :data:`_READ_CHUNK_BYTES` at a time into one small buffer, they take the new array's
    memory only, and each byte is converted once, from a buffer still in the cache.
    """
    pixels = np.empty(shape, dtype=_work_type(stored))
    flat = pixels.reshape(-1)
    buffer = np.empty(max(1, _READ_CHUNK_BYTES // stored.itemsize), dtype=stored)
    with path.open("rb", buffering=0) as stream, memoryview(buffer.view(np.uint8)) as view:
        for start in range(0, flat.size, buffer.size):
            count = min(buffer.size, flat.size - start)
            piece = [view[: count * stored.itemsize]]
            if not read_exactly(stream.fileno(), piece, data_start + start * stored.itemsize):
                raise ImageFileError(path, f"the file is truncated: the image needs {flat.size * stored.itemsize} "
                                           f"bytes of pixel data, from byte {data_start} on")
            np.copyto(flat[start : start + count], buffer[:count], casting="unsafe")
    return pixels


def read_exactly(fd: int, buffers: list[memoryview], offset: int) -> bool:
    """Fill ``buffers`` (in order) from the file ``fd`` at ``offset``, with as many positioned
    vectored reads (``os.preadv``) as it takes; False when the file ends first."""
    done = 0  # buffers filled
    while done < len(buffers):
        got = os.preadv(fd, buffers[done:] if done else buffers, offset)
        if not got:
            return False
        offset += got
        while done < len(buffers) and got >= len(buffers[done]):
            got -= len(buffers[done])
            done += 1
        if got:  # a short read ended inside this buffer
            buffers[done] = buffers[done][got:]
    return True


def _header_number(header: Header, name: str, default: float) -> float:
    return _number_value(header.get(name, default), default)


def _number_value(value: object, default: float) -> float:
    """A card's value as a float when it is a number (not a bool), else ``default``."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def _normalize_integer(pixels: np.ndarray, info: np.iinfo, *, flip: bool) -> None:
    """Map the stored integer type's full range (``info``) onto [0, 1], in place."""
    work = pixels.dtype.type
    pixels -= work(info.min)
    pixels /= work(float(info.max) - float(info.min))
    if flip:
        np.subtract(work(1), pixels, out=pixels)


def _scale_float(pixels: np.ndarray, bscale: float, bzero: float) -> None:
    """Apply BSCALE and BZERO to float samples, in place."""
    dtype = pixels.dtype.type
    if bscale != 1.0:
        pixels *= dtype(bscale)
    if bzero != 0.0:
        pixels += dtype(bzero)


def keywords_from_header(header: Header) -> list[FITSKeyword]:
    """The non-structural cards of an astropy header as FITS keywords, in order.

    COMMENT and HISTORY cards keep their text as the value; blank cards without text are
    dropped; a card without a value gets ``None``.
    """
    return keywords_from_cards(
        (card.keyword, str(card.value), "") if card.keyword.upper() in _COMMENTARY_NAMES
        else (card.keyword, _card_value(card), card.comment or "")
        for card in header.cards if not is_structural(card.keyword)
    )


def keywords_from_cards(cards: Iterable[tuple[str, Any, str]]) -> list[FITSKeyword]:
    """FITS keywords of ``(keyword, value, comment)`` header cards (a commentary card's value: its text),
    in order: structural cards are skipped, and blank cards without text dropped."""
    keywords: list[FITSKeyword] = []
    for name, value, comment in cards:
        if is_structural(name):
            continue
        if name.upper() in _COMMENTARY_NAMES:
            if name or value.strip():
                keywords.append(FITSKeyword(name, value, ""))
            continue
        keywords.append(FITSKeyword(name, value, comment))
    return keywords


def _card_value(card: Card) -> Any:
    """The card's value; a card astropy cannot parse is repaired, else its raw text is kept."""
    from astropy.io.fits.card import Undefined

    try:
        value = card.value
    except Exception:  # astropy VerifyError: "Unparsable card"
        value = _repaired_value(card)
    if isinstance(value, Undefined):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _repaired_value(card: Card) -> Any:
    try:
        card.verify("silentfix")
        return card.value
    except Exception:
        return card.image[10:].split("/", 1)[0].strip()


# --------------------------------------------------------------------------- writing


def write_fits(
    image: Image, path: str | os.PathLike[str], *, overwrite: bool = False, bitpix: int | None = None
) -> Path:
    """Write ``image`` to a FITS file atomically and return the path written.

    The file is written beside ``path`` under a temporary name and renamed into place, so
    a failed write leaves nothing behind.  An existing file is replaced only when
    ``overwrite`` is true (otherwise :class:`~procfw.errors.FileExistsProcfwError`).
    ``bitpix`` is one of -32, -64, 8, 16, 32, or None (the default) for the image's sample
    format.  A name ending in ``.gz`` is gzip-compressed.
    """
    if bitpix is not None:
        _check_bitpix(bitpix)
    return _write_new(image, Path(path), overwrite=overwrite, bitpix=bitpix)


def write_fits_bands(
    keywords: list[FITSKeyword], shape: tuple[int, int, int], bands: Iterable[np.ndarray],
    path: str | os.PathLike[str], *, overwrite: bool = False, bitpix: int = -32,
) -> Path:
    """Write the image of planar ``shape`` (channels, height, width) whose pixels are ``bands``:
    float arrays (channels, rows, width) of consecutive rows, top to bottom; the same file as
    :func:`write_fits` of the whole image with ``keywords`` (atomic, never replacing a file
    unless ``overwrite``).

    Floating point data to a plain (uncompressed) file is written as the bands come (each
    may be a buffer the caller reuses for the next one): no whole image is held; anything
    else is first put together into one.  Bands that do not make up ``shape`` raise
    ValueError (and leave nothing written).
    """
    _check_bitpix(bitpix)
    target = Path(path)
    if bitpix not in (-32, -64) or target.suffix.lower() not in _PLAIN_SUFFIXES:
        return write_fits(Image(_joined_bands(bands, shape), keywords), target, overwrite=overwrite, bitpix=bitpix)
    stand_in = np.broadcast_to(np.zeros((), np.float32 if bitpix == -32 else np.float64), shape)  # for the header
    return _write_new(Image(stand_in, keywords), target, overwrite=overwrite, bitpix=bitpix, bands=bands)


def _joined_bands(bands: Iterable[np.ndarray], shape: tuple[int, int, int]) -> np.ndarray:
    """The image of planar ``shape`` made of ``bands`` (see :func:`write_fits_bands`), in their type."""
    pixels: np.ndarray | None = None
    row = 0
    for band in bands:
        if pixels is None:
            pixels = np.empty(shape, dtype=band.dtype)
        _check_band(band, shape, row)
        pixels[:, row : row + band.shape[1]] = band
        row += band.shape[1]
    if row != shape[1] or pixels is None:
        raise ValueError(f"bands of {row} rows for an image of shape {shape}")
    return pixels


def _check_band(band: np.ndarray, shape: tuple[int, int, int], row: int) -> None:
    """Refuse a band that is not (channels, rows, width) of ``shape`` or runs past its last row."""
    if band.ndim != 3 or band.shape[0] != shape[0] or band.shape[2] != shape[2] or row + band.shape[1] > shape[1]:
        raise ValueError(f"a band of shape {band.shape} from row {row} does not fit an image of shape {shape}")


def _write_new(image: Image, target: Path, *, overwrite: bool, bitpix: int | None,
               bands: Iterable[np.ndarray] | None = None, late_header: _LateHeader | None = None) -> Path:
    """:func:`write_fits` (with ``bands``: :func:`write_fits_bands`, ``image`` giving keywords and shape;
    with ``late_header``: :func:`start_write_fits`'s thread)."""
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise ImageFileError(target, f"directory {directory} does not exist")
    with atomic_path(target, overwrite=overwrite) as temp:
        _write(image, temp, bitpix=bitpix, name=target, bands=bands, late_header=late_header)
    return target


def _check_bitpix(bitpix: int) -> None:
    if isinstance(bitpix, bool) or bitpix not in WRITE_BITPIX:
        raise ParameterError(f"FITS bitpix must be one of {', '.join(map(str, WRITE_BITPIX))}; got {bitpix!r}")


def bitpix_of(image: Image) -> int:
    """The BITPIX that stores ``image`` in its sample format."""
    return FORMAT_BITPIX[image.sample_format]


_PLAIN_SUFFIXES = frozenset({".fits", ".fit", ".fts"})
"""Suffixes astropy writes uncompressed (a ``.gz`` name is gzipped by astropy)."""


def _write(image: Image, path: Path, *, bitpix: int | None, name: Path,
           bands: Iterable[np.ndarray] | None = None, late_header: _LateHeader | None = None) -> None:
    """Write ``image`` to exactly ``path`` (replacing it) at ``bitpix`` (None: its sample
    format); errors name ``name``.

    Floating point data to a plain (uncompressed) file: the header is made without astropy
    when :func:`primary_header_bytes` can (the bytes astropy writes), else astropy makes and
    verifies it; the pixels are written by :func:`_write_float_data` (the same bytes as
    astropy's ``writeto``, which byte-swaps the whole array in place and back), or ``bands``
    by :func:`_write_float_bands` when given (plain float files only; ``image`` then gives
    the keywords and the shape).  Anything else goes through astropy's ``writeto``.
    ``late_header`` (plain float files whose header is made natively): the header block
    written after the pixels, of the size of ``image``'s (:func:`start_write_fits`).
    """
    if bitpix is None:
        bitpix = bitpix_of(image)
    if bitpix > 0:
        warn_if_lossy(image.pixels, {8: "UInt8", 16: "UInt16", 32: "UInt32"}[bitpix], name)

    plain_float = bitpix in (-32, -64) and path.suffix.lower() in _PLAIN_SUFFIXES
    data = encode_pixels(image.pixels, bitpix, contiguous=not plain_float)
    block = primary_header_bytes(image.keywords, bitpix, data.shape) if plain_float else None
    if block is None:
        from astropy.io import fits

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            header = header_from_keywords(image.keywords, name)
            try:
                hdu = fits.PrimaryHDU(data=data, header=header)  # may refuse the keywords (TFIELDS without a count)
                if not plain_float:
                    hdu.writeto(path, overwrite=True, output_verify="silentfix")
                    return
                hdu.verify("silentfix")  # what writeto's output_verify does
                block = hdu.header.tostring().encode("ascii")
            except Exception as exc:  # OSError, astropy VerifyError, TypeError, ...
                raise ImageFileError(name, f"cannot write the FITS file ({_describe(exc)})") from exc
    try:
        if bands is None:
            _write_float_data(path, block, data, late_header=late_header)
        else:
            _write_float_bands(path, block, image.pixels.shape, bands, data.dtype, late_header=late_header)
    except OSError as exc:
        raise ImageFileError(name, f"cannot write the FITS file ({_describe(exc)})") from exc


def _write_float_data(path: Path, header: bytes, data: np.ndarray, *, late_header: _LateHeader | None = None
                      ) -> None:
    """Write a primary HDU: the ``header`` block, then ``data`` (native float32/float64, 2-D or 3-D,
    possibly a strided view such as a crop) big-endian, zero-padded to a multiple of 2880 bytes
    (:func:`_write_float_bands` of one band: all its rows; ``late_header`` as there)."""
    planes = data.reshape((-1, *data.shape[-2:]))  # (channels, rows, width): a view
    _write_float_bands(path, header, planes.shape, [planes], data.dtype, late_header=late_header)


def _write_float_bands(path: Path, header: bytes, shape: tuple[int, int, int], bands: Iterable[np.ndarray],
                       dtype: np.dtype, *, late_header: _LateHeader | None = None) -> None:
    """Write a primary HDU: the ``header`` block, then the pixels of planar ``shape`` in ``dtype``
    (float32/float64) big-endian, zero-padded to a multiple of 2880 bytes.

    ``bands`` (channels, rows, width) are consecutive rows of the image, top to bottom (one
    band of all rows: a whole image, possibly a strided view such as a crop); each is cast
    at once into the file's planes (:class:`procfw.io.pagecache.DirectRegionsFile`, one
    region a plane, written past the page cache): one byte-swapping pass straight into the
    writer's staging buffer, the arrays not modified.  With ``late_header`` the header is a
    region of its own, filled once the pixels are written with the block ``late_header``
    is given (:meth:`PendingWrite.finish` gives only a block as long as ``header``).
    """
    channels, height, width = shape
    plane = height * width * dtype.itemsize
    planes = [len(header) + c * plane for c in range(channels)]  # where each plane starts
    # the regions: the header with plane 0, then each other plane; or, with a late header, the header alone first
    starts = [0, *planes] if late_header is not None else [0, *planes[1:]]
    first = len(starts) - channels  # the region of plane 0
    end = len(header) + channels * plane
    big_endian = dtype.newbyteorder(">")
    row = 0
    with DirectRegionsFile(path, starts, end + (-end % 2880)) as f:
        if late_header is None:
            f.write(0, header)
        else:
            late_header.started.set_result(None)
        for band in bands:
            _check_band(band, shape, row)
            for channel in range(channels):
                for piece in _c_order_pieces(band[channel]):
                    f.write_array(first + channel, piece, big_endian)
            row += band.shape[1]
        if row != height:
            raise ValueError(f"bands of {row} rows for an image of shape {shape}")
        f.write(first + channels - 1, memoryview(_ZERO_BLOCK)[: -end % 2880])
        if late_header is not None:
            final = late_header.block.result()
            if final is None:
                raise _Abandoned
            f.write(0, final)


class _Abandoned(Exception):
    """A write started by :func:`start_write_fits` was abandoned (:meth:`PendingWrite.abandon`)."""


class _LateHeader:
    """What the thread of a started write (:class:`PendingWrite`) tells and is told: that its pixels
    are being written (``started``: the file and its writer made), and the final header block
    (``block``; None: the write is abandoned)."""

    def __init__(self) -> None:
        from concurrent.futures import Future

        self.started: Future[None] = Future()
        self.block: Future[bytes | None] = Future()


class PendingWrite:
    """A plain float FITS file whose pixels are being written in a thread of their own while its final
    keywords are made (:func:`start_write_fits`); :meth:`finish` gives them, :meth:`abandon` drops it."""

    def __init__(self, image: Image, target: Path, *, overwrite: bool, bitpix: int, shape: tuple[int, ...],
                 header_size: int) -> None:
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

        self._bitpix = bitpix
        self._shape = shape  # the data's axes, as the header gives them
        self._size = header_size
        self._late = _LateHeader()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="fits-write")
        self._written = self._pool.submit(_write_new, image, target, overwrite=overwrite, bitpix=bitpix,
                                          late_header=self._late)
        # the thread's setup (temporary file, header, writer) done while this thread waits: only the
        # pixels' writing, which allocates nothing, overlaps the caller's work
        wait([self._written, self._late.started], return_when=FIRST_COMPLETED)
        if not self._late.started.done():
            try:
                self._written.result()  # its error
            finally:
                self._pool.shutdown()

    def finish(self, keywords: list[FITSKeyword]) -> Path | None:
        """Complete the file with ``keywords`` (its header made as :func:`write_fits` makes it) and wait
        for it: the path written, the same bytes as :func:`write_fits` of the image with ``keywords``;
        its error (:class:`~procfw.errors.ImageFileError` naming the file) if the write failed.  None
        when ``keywords`` make a header of another size (or one astropy must make): nothing is left
        written, and the caller writes the file itself."""
        try:
            block = primary_header_bytes(keywords, self._bitpix, self._shape)
        except BaseException:
            self.abandon()
            raise
        if block is None or len(block) != self._size:
            self.abandon()
            return None
        self._late.block.set_result(block)
        try:
            return self._written.result()
        finally:
            self._pool.shutdown()

    def abandon(self) -> None:
        """Stop the write and wait for its thread: nothing is left written (the temporary file removed)."""
        if not self._late.block.done():
            self._late.block.set_result(None)
        try:
            self._written.result()
        except _Abandoned:
            pass
        finally:
            self._pool.shutdown()


def start_write_fits(image: Image, path: str | os.PathLike[str], *, overwrite: bool = False,
                     bitpix: int = -32) -> PendingWrite | None:
    """Start writing ``image`` (float ``bitpix``) to the plain FITS file ``path`` in a thread, its header
    left for :meth:`PendingWrite.finish` to give once the final keywords are known (e.g. measured on
    the pixels meanwhile: the disk's time hides behind that work).

    The pixels go after a header of the size ``image``'s keywords make (stand-ins of the final
    ones: as many cards), so the final header, of the same size, is written last at offset 0.
    ``image``'s pixels must not change until the write is finished.  None (nothing started)
    when this is not a plain float file whose header procfw makes itself (see :func:`write_fits`).
    An existing file is refused first (:class:`~procfw.errors.FileExistsProcfwError`) unless
    ``overwrite``.
    """
    _check_bitpix(bitpix)
    target = Path(path)
    if bitpix not in (-32, -64) or target.suffix.lower() not in _PLAIN_SUFFIXES:
        return None
    pixels = image.pixels
    shape = pixels.shape[1:] if pixels.shape[0] == 1 else pixels.shape  # encode_pixels's, without its cast
    block = primary_header_bytes(image.keywords, bitpix, shape)
    if block is None:
        return None
    if target.exists() and not overwrite:
        raise FileExistsProcfwError(target)
    return PendingWrite(image, target, overwrite=overwrite, bitpix=bitpix, shape=shape, header_size=len(block))


_ZERO_BLOCK = bytes(2880)
"""The zeros a FITS data unit is padded with (a slice of them: nothing allocated while writing)."""

PIECE_BYTES = 1 << 20
"""Bytes of the rows a strided array is gathered into at a time on writing (one small buffer, reused)."""


def _c_order_pieces(data: np.ndarray) -> Iterator[np.ndarray]:
    """The values of ``data`` in C order as 1-D arrays: ``data`` itself when it is contiguous; else
    (a crop's view) whole rows at a time gathered into one buffer of about :data:`PIECE_BYTES`,
    reused for every piece (each must be consumed before the next), instead of a copy of it all."""
    if data.flags.c_contiguous:
        yield data.reshape(-1)
        return
    planes = data.reshape((-1, *data.shape[-2:]))  # (planes, rows, width): a view for 2-D and 3-D data
    height, width = planes.shape[1:]
    rows = max(1, min(height, PIECE_BYTES // max(width * data.itemsize, 1)))
    buffer = np.empty((rows, width), dtype=data.dtype)
    for plane in planes:
        for row in range(0, height, rows):
            part = buffer[: min(rows, height - row)]
            np.copyto(part, plane[row : row + part.shape[0]])
            yield part.reshape(-1)


def encode_pixels(pixels: np.ndarray, bitpix: int, *, contiguous: bool = True) -> np.ndarray:
    """The array to store for planar ``pixels`` at ``bitpix``: 2-D for one channel, else 3-D.

    Float types are stored as they are (``contiguous`` False: ``pixels`` of the type itself
    come back as they are, a strided view included, for :func:`_write_float_data`); integer
    types are clipped to [0, 1], scaled to the unsigned type's range and rounded (NaN becomes 0).
    """
    _check_bitpix(bitpix)
    data = pixels[0] if pixels.shape[0] == 1 else pixels
    if bitpix in (-32, -64):
        dtype = np.float32 if bitpix == -32 else np.float64
        return np.ascontiguousarray(data, dtype=dtype) if contiguous else np.asarray(data, dtype=dtype)
    dtype = {8: np.uint8, 16: np.uint16, 32: np.uint32}[bitpix]
    scaled = np.nan_to_num(np.clip(data.astype(np.float64), 0.0, 1.0), nan=0.0)
    scaled *= float(np.iinfo(dtype).max)
    return np.rint(scaled).astype(dtype)


_PRIMARY_COMMENTS = {"SIMPLE": "conforms to FITS standard", "BITPIX": "array data type",
                     "NAXIS": "number of array dimensions"}
"""The comments astropy gives the first cards of a primary header it makes."""


def primary_header_bytes(keywords: Iterable[FITSKeyword], bitpix: int, shape: tuple[int, ...]) -> bytes | None:
    """The primary header astropy writes for ``keywords`` and data of ``bitpix`` and numpy ``shape``
    (``PrimaryHDU(data, header_from_keywords(keywords))``, verified with silentfix), made without
    astropy (:func:`procfw.io.fits_cards.format_header`); None when a keyword is not one the native
    writer reproduces exactly (astropy then writes it) or the data is empty."""
    if not shape or not all(shape):
        return None
    cards: list[tuple[str, Any, str]] = [
        ("SIMPLE", True, _PRIMARY_COMMENTS["SIMPLE"]), ("BITPIX", bitpix, _PRIMARY_COMMENTS["BITPIX"]),
        ("NAXIS", len(shape), _PRIMARY_COMMENTS["NAXIS"]),
    ]
    cards += [(f"NAXIS{i}", int(n), "") for i, n in enumerate(reversed(shape), start=1)]
    for keyword in keywords:
        if is_structural(keyword.name):
            continue
        name, value = keyword.name.strip(), keyword.value
        if name.upper() in _COMMENTARY_NAMES:  # as _card makes them
            cards.append((name, "" if value is None else str(value), ""))
        else:
            value = value.item() if isinstance(value, np.generic) else value
            cards.append((name, value, "" if keyword.comment is None else keyword.comment))
    return format_header(cards)


def header_from_keywords(keywords: list[FITSKeyword], name: object = "<header>") -> Header:
    """An astropy header holding ``keywords`` in order (structural names are skipped).

    A keyword astropy cannot represent raises :class:`~procfw.errors.ImageFileError`
    naming ``name`` and the keyword.
    """
    from astropy.io import fits

    header = fits.Header()
    for keyword in keywords:
        if is_structural(keyword.name):
            continue
        try:
            header.append(_card(keyword), end=True)
        except Exception as exc:  # ValueError, VerifyError, ...
            raise ImageFileError(
                name, f"cannot write keyword {keyword.name!r} = {keyword.value!r} ({_describe(exc)})"
            ) from exc
    return header


def _card(keyword: FITSKeyword) -> Card:
    from astropy.io import fits

    name = keyword.name.strip()
    if name.upper() in _COMMENTARY_NAMES:
        return fits.Card(name, "" if keyword.value is None else str(keyword.value))
    value = fits.card.UNDEFINED if keyword.value is None else keyword.value
    if isinstance(value, np.generic):
        value = value.item()
    card = fits.Card(name, value, keyword.comment)
    card.verify("exception")
    str(card)  # formats the card image now, so unrepresentable values fail here
    return card


# --------------------------------------------------------------------------- format object


@attrs.frozen
class FITSFormat:
    """The FITS format for the procfw format registry (entry point ``fits``).

    ``write`` writes to exactly the path it is given (replacing it) at ``bitpix``, by
    default (None) the image's sample format; :func:`procfw.io.write_image` adds
    atomicity and overwrite protection.
    """

    id: str = "fits"
    extensions: tuple[str, ...] = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz")
    description: str = "Flexible Image Transport System (FITS), plain or gzipped"
    can_read: bool = True
    can_write: bool = True
    bitpix: int | None = attrs.field(default=None)

    @bitpix.validator
    def _validate_bitpix(self, _attribute: object, value: int | None) -> None:
        if value is not None:
            _check_bitpix(value)

    def read(self, path: Path) -> Image:
        """Read the first image HDU of ``path``."""
        return read_fits(path)

    def write(self, image: Image, path: Path) -> None:
        """Write ``image`` to exactly ``path``, replacing whatever is there."""
        _write(image, Path(path), bitpix=self.bitpix, name=Path(path))


#: The registered FITS format (writes each image in its sample format).
FITS_FORMAT = FITSFormat()
