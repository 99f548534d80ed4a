"""Input frames for ImageIntegration: geometry, keywords and row-band reads.

A :class:`FrameSource` describes one input file without holding its pixels.  Rows are read
on demand, one band at a time, and the file is closed again after every read, so the
number of frames an integration can take is bounded by disk space, not memory:

* FITS files are read with astropy's ``section`` interface, which fetches only the
  requested rows of the image HDU (plain, tile-compressed or gzipped files alike);
* every other format (XISF, ...) is read whole through :func:`procfw.io.read_image` and
  sliced — correct, but each band costs a full read of that file.

Pixels are normalized to [0, 1] with the rules of :mod:`procfw.io.fits` (integer data maps
the stored type's full range onto [0, 1]; floating point data is kept as is) and returned
as float32.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from procfw.errors import ImageFileError
from procfw.image import FITSKeyword
from procfw.io.fits import STORED_TYPES, keywords_from_cards, plain_layout, read_exactly, read_plain_header

__all__ = ["FrameSource", "open_frame"]

_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz", ".fz")


def _is_fits(path: Path) -> bool:
    name = path.name.lower()
    return any(name.endswith(s) for s in _FITS_SUFFIXES)


@attrs.define(eq=False)
class FrameSource:
    """One input image: where it is, its geometry and keywords, and how to read row bands."""

    path: Path
    channels: int
    height: int
    width: int
    keywords: list[FITSKeyword]
    hdu_index: int | None = None
    """Index of the image HDU for FITS files; None for other formats (read whole)."""
    raw: RawLayout | None = None
    """Where the pixels of a plain (uncompressed) FITS image lie in the file: rows are then
    read with one positioned read each, without astropy."""

    def keyword(self, name: str, default: Any = None) -> Any:
        """The value of the first keyword called ``name`` (case-insensitive)."""
        wanted = name.upper()
        for card in self.keywords:
            if card.name.upper() == wanted:
                return card.value
        return default

    @property
    def shape(self) -> tuple[int, int, int]:
        """(channels, height, width)."""
        return (self.channels, self.height, self.width)

    def read_rows(self, channel: int, row0: int, row1: int, out: np.ndarray) -> None:
        """Read rows [row0, row1) of ``channel`` into ``out`` (float32, shape (row1-row0, width))."""
        if self.raw is not None:
            self._read_raw_rows(channel, row0, row1, out)
        elif self.hdu_index is not None:
            self._read_fits_rows(channel, row0, row1, out)
        else:
            from procfw.io import read_image

            pixels = read_image(self.path).pixels
            np.copyto(out, pixels[channel, row0:row1], casting="unsafe")
            del pixels

    def read_channel(self, channel: int, rows: slice | None = None) -> np.ndarray:
        """Rows ``rows`` (default: all) of one channel as a new float32 array."""
        rows = rows or slice(0, self.height)
        start, stop, step = rows.indices(self.height)
        if step == 1:
            out = np.empty((stop - start, self.width), dtype=np.float32)
            self.read_rows(channel, start, stop, out)
            return out
        picked = range(start, stop, step)
        out = np.empty((len(picked), self.width), dtype=np.float32)
        if self.raw is not None:
            self._read_raw_rows(channel, start, stop, out, step=step)
            return out
        if self.hdu_index is not None:
            self._read_fits_rows(channel, start, stop, out, step=step)
            return out
        # read contiguous blocks of about 8 MiB and keep every step-th row of each
        block_rows = max(step, (8 << 20) // max(self.width * 4, 1) // step * step)
        block = np.empty((min(block_rows, stop - start), self.width), dtype=np.float32)
        i = 0
        for row0 in range(start, stop, block_rows):
            row1 = min(stop, row0 + block_rows)
            self.read_rows(channel, row0, row1, block[: row1 - row0])
            kept = block[: row1 - row0 : step]
            out[i : i + kept.shape[0]] = kept
            i += kept.shape[0]
        return out

    def _read_raw_rows(self, channel: int, row0: int, row1: int, out: np.ndarray, step: int = 1) -> None:
        """Rows row0, row0 + step, ... < row1 of a plain FITS image: positioned reads (one for
        contiguous rows; vectored reads of many rows each, or one per row, otherwise:
        :func:`_strided_reads`), then byte order and scaling."""
        layout = self.raw
        rows = len(range(row0, row1, step))
        row_bytes = self.width * layout.dtype.itemsize
        first = layout.offset + (channel * self.height + row0) * row_bytes
        native = layout.dtype.newbyteorder("=")
        direct = native == np.float32 and layout.bscale == 1.0 and layout.bzero == 0.0 and out.flags.c_contiguous
        target = out if direct else np.empty((rows, self.width), dtype=layout.dtype)
        view = memoryview(target.reshape(-1).view(np.uint8))
        reads = [(first, [view])] if step == 1 else _strided_reads(first, rows, row_bytes, step, view)
        try:
            with open(self.path, "rb", buffering=0) as handle:
                fd = handle.fileno()
                for offset, buffers in reads:
                    if not read_exactly(fd, buffers, offset):
                        raise ImageFileError(self.path, f"cannot read rows {row0}..{row1 - 1}: the file is truncated")
        except OSError as exc:
            raise ImageFileError(self.path, f"cannot read rows {row0}..{row1 - 1}: {exc}") from exc
        if direct:
            if layout.dtype.byteorder not in ("=", "|") and layout.dtype != native:
                out.byteswap(inplace=True)
            return
        _to_unit(target, layout.bscale, layout.bzero, out)

    def _read_fits_rows(self, channel: int, row0: int, row1: int, out: np.ndarray, step: int = 1) -> None:
        """Rows row0, row0 + step, ... < row1 (one open; one section read per row when step > 1)."""
        from astropy.io import fits

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with fits.open(self.path, mode="readonly", memmap=False, do_not_scale_image_data=True,
                               lazy_load_hdus=True) as hdul:
                    hdu = hdul[self.hdu_index]
                    header = hdu.header
                    naxis = int(header["NAXIS"])
                    lead: tuple[Any, ...] = (0,) * (naxis - 3) + (channel,) if naxis >= 3 else ()
                    bscale = _number(header, "BSCALE", 1.0)
                    bzero = _number(header, "BZERO", 0.0)
                    if step == 1:
                        _to_unit(np.asarray(hdu.section[(*lead, slice(row0, row1))]), bscale, bzero, out)
                    else:
                        for i, row in enumerate(range(row0, row1, step)):
                            raw = np.asarray(hdu.section[(*lead, slice(row, row + 1))])
                            _to_unit(raw, bscale, bzero, out[i : i + 1])
        except ImageFileError:
            raise
        except Exception as exc:
            problem = f"cannot read rows {row0}..{row1 - 1}: {type(exc).__name__}: {exc}"
            raise ImageFileError(self.path, problem) from exc


GAP_BYTES = 16 << 10
"""A strided read takes the rows it skips into a scratch buffer, reading many rows per call, when
they are no more than this many bytes between two wanted rows (copying them costs less than a
call per row); farther apart, each row is read on its own."""
_MAX_BUFFERS = 1024
"""Buffers per vectored read (Linux's IOV_MAX)."""


def _strided_reads(first: int, rows: int, row_bytes: int, step: int, view: memoryview
                   ) -> list[tuple[int, list[memoryview]]]:
    """(file offset, buffers) of the reads of ``rows`` rows of ``row_bytes`` bytes, ``step`` rows apart,
    from the file offset ``first`` into ``view`` (one after the other): the rows between go to one
    scratch buffer when their bytes allow it (:data:`GAP_BYTES`), else one read per row."""
    rows_of = [view[k * row_bytes : (k + 1) * row_bytes] for k in range(rows)]
    gap_bytes = (step - 1) * row_bytes
    if gap_bytes > GAP_BYTES:
        return [(first + k * step * row_bytes, [row]) for k, row in enumerate(rows_of)]
    gap = memoryview(bytearray(gap_bytes))
    per_read = _MAX_BUFFERS // 2
    reads = []
    for k0 in range(0, rows, per_read):
        buffers = []
        for row in rows_of[k0 : k0 + per_read]:
            buffers += [row, gap]
        reads.append((first + k0 * step * row_bytes, buffers[:-1]))  # not the gap after the last row
    return reads


@attrs.frozen
class RawLayout:
    """The stored pixels of a plain FITS image HDU: data offset, stored type, BSCALE/BZERO."""

    offset: int
    dtype: np.dtype
    bscale: float
    bzero: float


def _raw_layout(hdul: Any, index: int, path: Path, shape: list[int]) -> RawLayout | None:
    """The layout of HDU ``index`` when it is a plain, complete image (else None: astropy reads it)."""
    from astropy.io import fits

    hdu = hdul[index]
    if isinstance(hdu, fits.CompImageHDU) or not isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU)):
        return None
    if path.name.lower().endswith(_PACKED_SUFFIXES) or hdu.header.get("GROUPS"):
        return None
    header = hdu.header
    stored = STORED_TYPES.get(header.get("BITPIX"))
    if stored is None:
        return None
    try:
        offset = int(hdul.fileinfo(index)["datLoc"])
        size = path.stat().st_size
    except (KeyError, TypeError, ValueError, OSError, IndexError):
        return None
    dtype = np.dtype(stored)
    if offset <= 0 or offset + int(np.prod(shape)) * dtype.itemsize > size:
        return None
    return RawLayout(offset, dtype, _number(header, "BSCALE", 1.0), _number(header, "BZERO", 0.0))


def _number(header: Any, name: str, default: float) -> float:
    value = header.get(name, default)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def _to_unit(raw: np.ndarray, bscale: float, bzero: float, out: np.ndarray) -> None:
    """Normalize stored FITS data to [0, 1] into ``out`` (the rules of procfw.io.fits)."""
    raw = raw.reshape(out.shape)
    if raw.dtype.kind in "iu":
        info = np.iinfo(raw.dtype)
        np.copyto(out, raw, casting="unsafe")
        out -= np.float32(info.min)
        out /= np.float32(float(info.max) - float(info.min))
        if bscale < 0:
            np.subtract(np.float32(1), out, out=out)
        return
    np.copyto(out, raw, casting="unsafe")
    if bscale != 1.0:
        out *= np.float32(bscale)
    if bzero != 0.0:
        out += np.float32(bzero)


def open_frame(path: str | os.PathLike[str]) -> FrameSource:
    """Describe the image file ``path`` (geometry and keywords); no pixels are kept."""
    target = Path(path)
    if not target.exists():
        raise ImageFileError(target, "no such file")
    if target.is_dir():
        raise ImageFileError(target, "is a directory, not an image file")
    if _is_fits(target):
        return _open_fits(target)
    from procfw.io import read_image

    image = read_image(target)
    channels, height, width = image.pixels.shape
    return FrameSource(target, channels, height, width, list(image.keywords), None)


def _open_fits(path: Path) -> FrameSource:
    """A FITS frame's source: from its primary header read natively (:func:`_open_plain`) when it can be,
    else from astropy's first image HDU."""
    plain = _open_plain(path)
    return plain if plain is not None else _open_astropy(path)


_PACKED_SUFFIXES = (".gz", ".fz", ".bz2", ".zip")


def _open_plain(path: Path) -> FrameSource | None:
    """The source of a plain FITS file whose primary HDU is a non-empty 2-D image or 3-D cube, read
    without astropy (procfw.io.fits.read_plain_header and plain_layout); None for any other file."""
    if path.name.lower().endswith(_PACKED_SUFFIXES):
        return None
    plain = read_plain_header(path)
    layout = None if plain is None else plain_layout(path, plain)
    if plain is None or layout is None:
        return None
    (channels, height, width), stored = layout
    raw = RawLayout(plain.data_offset, stored, plain.number("BSCALE", 1.0), plain.number("BZERO", 0.0))
    return FrameSource(path, channels, height, width, keywords_from_cards(plain.header.cards), 0, raw)


def _open_astropy(path: Path) -> FrameSource:
    from astropy.io import fits

    from procfw.io.fits import keywords_from_header, read_fits

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, mode="readonly", memmap=False, lazy_load_hdus=True) as hdul:
                for index, hdu in enumerate(hdul):
                    is_image = isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU))
                    if not is_image or int(hdu.header.get("NAXIS", 0)) < 2:
                        continue
                    axes = [int(hdu.header[f"NAXIS{i}"]) for i in range(1, int(hdu.header["NAXIS"]) + 1)]
                    if not all(axes):
                        continue
                    shape = list(reversed(axes))
                    while len(shape) > 3 and shape[0] == 1:
                        shape.pop(0)
                    if len(shape) == 2:
                        shape.insert(0, 1)
                    if len(shape) != 3:
                        raise ImageFileError(path, f"the data has {len(axes)} axes; only 2-D images and 3-D cubes "
                                             "can be integrated")
                    return FrameSource(path, shape[0], shape[1], shape[2], keywords_from_header(hdu.header), index,
                                       _raw_layout(hdul, index, path, shape))
    except ImageFileError:
        raise
    except Exception:
        read_fits(path)  # raises the reader's precise ImageFileError for damaged files
        raise
    raise ImageFileError(path, "contains no image data")
