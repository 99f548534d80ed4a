"""Frames of a pre-processing session: what each file is, read from its header only.

:func:`scan` walks a folder (recursively) and returns one :class:`FrameInfo` per image
file (FITS: ``.fits .fit .fts`` and their ``.gz``/``.fz`` forms; XISF), reading headers
only (astropy's ``fits.getheader``; the XML header of an XISF file), and the files it
could not classify with the reason.

The frame type comes from ``IMAGETYP`` (also ``FRAMETYP``/``FRAME``), compared without
case, spaces, dashes or underscores, so ``'Bias Frame'``, ``'BIAS'``, ``'bias'``,
``'Dark Frame'``, ``'Flat Field'``, ``'Light Frame'``, ``'LIGHT'`` and Seestar's ``'Light'``
are all understood, as are ``'Dark Flat'``/``'FlatDark'`` (dark flats), ``'Zero'``/``'Offset'``
(bias), ``'Object'``/``'Science'`` (lights) and ``'Master Bias'``/``'Master Dark'``/
``'Master Flat'`` (ready-made masters, used as they are).  A frame without a usable
IMAGETYP is typed by the words of its file name and folders (``bias``, ``dark``, ``flat``,
``light``; ``darkflat``/``flatdark`` first), which the plan reports.

The other properties: filter (``FILTER``), exposure (``EXPTIME``, else ``EXPOSURE``),
binning (``XBINNING``/``YBINNING``, else ``CCDXBIN``/``CCDYBIN``; 1 when absent), gain
(``GAIN``, else ``ISOSPEED``), sensor temperature (``CCD-TEMP``, else ``CCD_TEMP``,
``SENSOR-T``, ``TEMPERAT``), geometry (``NAXISn``; the XISF ``geometry``) and the CFA pattern
(``BAYERPAT``, else the XISF ColorFilterArray element).
"""

from __future__ import annotations

import math
import os
import re
import struct
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

__all__ = [
    "FRAME_KINDS",
    "FrameInfo",
    "ScanResult",
    "SkippedFile",
    "classify_imagetyp",
    "frame_info",
    "image_files",
    "read_header",
    "scan",
]

FRAME_KINDS = ("bias", "dark", "darkflat", "flat", "light")
"""The kinds of frame a pre-processing session has (in the order they are processed)."""

IMAGE_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz", ".fits.fz", ".fit.fz", ".fz", ".xisf")

_TYPES: dict[str, tuple[str, bool]] = {}
for _kind, _master, _words in (
    ("bias", False, ("bias", "biasframe", "bias frame", "zero", "zeroframe", "offset", "offsetframe")),
    ("dark", False, ("dark", "darkframe", "dark frame", "darkcurrent")),
    ("darkflat", False, ("darkflat", "dark flat", "flatdark", "flat dark", "darkflatframe", "flatdarkframe",
                         "flatdarks", "darkflats")),
    ("flat", False, ("flat", "flatfield", "flat field", "flatframe", "flat frame", "skyflat", "domeflat",
                     "twilightflat", "panelflat")),
    ("light", False, ("light", "lightframe", "light frame", "object", "science", "scienceframe")),
    ("bias", True, ("masterbias", "master bias", "masteroffset")),
    ("dark", True, ("masterdark", "master dark")),
    ("darkflat", True, ("masterdarkflat", "masterflatdark")),
    ("flat", True, ("masterflat", "master flat")),
):
    for _word in _words:
        _TYPES[re.sub(r"[^a-z]", "", _word)] = (_kind, _master)


def classify_imagetyp(value: Any) -> tuple[str, bool] | None:
    """(kind, is_master) for an IMAGETYP value, or None when it names no known frame type.

    ``kind`` is one of :data:`FRAME_KINDS`; ``is_master`` marks ready-made masters.

    >>> classify_imagetyp("Light Frame"), classify_imagetyp("FlatDark"), classify_imagetyp("Master Bias")
    (('light', False), ('darkflat', False), ('bias', True))
    """
    if not isinstance(value, str):
        return None
    return _TYPES.get(re.sub(r"[^a-z]", "", value.lower()))


def _kind_from_path(path: Path) -> str | None:
    """The frame kind named by the words of a file's name and folders (nearest first), or None."""
    for part in (path.stem, *(p.name for p in path.parents)):
        words = re.sub(r"[^a-z]", " ", part.lower())
        squeezed = words.replace(" ", "")
        if "darkflat" in squeezed or "flatdark" in squeezed:
            return "darkflat"
        for kind in ("bias", "dark", "flat", "light"):
            if re.search(rf"\b{kind}s?\b", words) or squeezed.startswith(kind):
                return kind
    return None


@attrs.frozen(kw_only=True)
class FrameInfo:
    """One image file of a session, as its header describes it."""

    path: Path
    kind: str
    """bias, dark, darkflat, flat or light."""
    master: bool = False
    """A ready-made master frame (IMAGETYP 'Master ...'), used as it is."""
    imagetyp: str = ""
    """IMAGETYP as written ("" when absent)."""
    kind_source: str = "IMAGETYP"
    """Where the kind came from: IMAGETYP, or "file name"."""
    filter: str = ""
    exposure: float | None = None
    xbin: int = 1
    ybin: int = 1
    gain: float | None = None
    temperature: float | None = None
    width: int = 0
    height: int = 0
    channels: int = 1
    bayer: str | None = None
    """The CFA pattern (BAYERPAT) of a raw colour frame, None for mono or RGB frames."""
    date: str = ""

    @property
    def binning(self) -> str:
        """'1', '2', or '1x2' for unequal binning."""
        return str(self.xbin) if self.xbin == self.ybin else f"{self.xbin}x{self.ybin}"

    @property
    def geometry(self) -> tuple[int, int, int]:
        """(width, height, channels)."""
        return (self.width, self.height, self.channels)

    def as_json(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            "path": str(self.path), "kind": self.kind, "master": self.master, "imagetyp": self.imagetyp,
            "kindSource": self.kind_source, "filter": self.filter, "exposure": self.exposure,
            "binning": [self.xbin, self.ybin], "gain": self.gain, "temperature": self.temperature,
            "width": self.width, "height": self.height, "channels": self.channels, "bayer": self.bayer,
            "date": self.date,
        }


@attrs.frozen
class SkippedFile:
    """A file that is not part of the session, and why."""

    path: Path
    reason: str


@attrs.frozen
class ScanResult:
    """The frames found under a folder and the files left out."""

    frames: tuple[FrameInfo, ...]
    skipped: tuple[SkippedFile, ...] = ()

    def of_kind(self, kind: str) -> list[FrameInfo]:
        """The frames of one kind."""
        return [f for f in self.frames if f.kind == kind]


# -- headers ----------------------------------------------------------------------------
def read_header(path: str | os.PathLike[str]) -> tuple[dict[str, Any], tuple[int, int, int], str | None]:
    """(keywords by upper-case name, (width, height, channels), XISF CFA pattern) from a file's header only."""
    p = Path(path)
    if p.name.lower().endswith(".xisf"):
        return _xisf_header(p)
    return _fits_header(p)


def _fits_header(path: Path) -> tuple[dict[str, Any], tuple[int, int, int], str | None]:
    """A FITS file's header: its primary header read natively when it holds an image of 2 or more axes
    (procfw.io.fits.read_plain_header; an undefined value is None), else astropy's first image header."""
    from procfw.io.fits import read_plain_header

    plain = read_plain_header(path)
    if plain is not None and len(plain.axes) >= 2:
        keys: dict[str, Any] = {}
        for name, value, _comment in plain.header.cards:
            if name and name not in keys and name not in ("COMMENT", "HISTORY"):
                keys[name] = value
        channels = plain.axes[2] if len(plain.axes) >= 3 else 1
        return keys, (plain.axes[0], plain.axes[1], channels), None
    return _astropy_fits_header(path)


def _astropy_fits_header(path: Path) -> tuple[dict[str, Any], tuple[int, int, int], str | None]:
    from astropy.io import fits

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
            header = next((hdu.header for hdu in hdul if getattr(hdu, "is_image", False)
                           and int(hdu.header.get("NAXIS", 0)) >= 2), None)
            if header is None:
                raise ValueError("the file holds no image")
            keys = {}
            for card in header.cards:
                name = str(card.keyword).upper()
                if name and name not in keys and name not in ("COMMENT", "HISTORY"):
                    try:
                        keys[name] = card.value
                    except Exception:  # noqa: BLE001 - an unparsable card is left out
                        continue
            naxis = int(header.get("NAXIS", 0))
            width, height = int(header.get("NAXIS1", 0)), int(header.get("NAXIS2", 0))
            channels = int(header.get("NAXIS3", 1)) if naxis >= 3 else 1
    return keys, (width, height, channels), None


_XISF_SIGNATURE = b"XISF0100"
_MAX_XISF_HEADER = 64 << 20


def _xisf_header(path: Path) -> tuple[dict[str, Any], tuple[int, int, int], str | None]:
    from procfw.io.xisf_xml import local_name, parse_header

    with open(path, "rb") as handle:
        start = handle.read(16)
        if len(start) < 16 or start[:8] != _XISF_SIGNATURE:
            raise ValueError("not a monolithic XISF file")
        (length,) = struct.unpack("<I", start[8:12])
        if length > _MAX_XISF_HEADER:
            raise ValueError(f"XISF header of {length} bytes is too large")
        root = parse_header(handle.read(length))
    image = next((el for el in root.iter() if isinstance(el.tag, str) and local_name(el) == "Image"), None)
    if image is None:
        raise ValueError("the XISF file holds no image")
    dims = [int(v) for v in (image.get("geometry") or "0:0:1").split(":")]
    width, height = (dims + [0, 0])[:2]
    channels = dims[2] if len(dims) > 2 else 1
    keys: dict[str, Any] = {}
    pattern: str | None = None
    for el in image.iter():
        if not isinstance(el.tag, str):
            continue
        name = local_name(el)
        if name == "FITSKeyword":
            key = (el.get("name") or "").strip().upper()
            if key and key not in keys and key not in ("COMMENT", "HISTORY"):
                keys[key] = _fits_value(el.get("value") or "")
        elif name == "ColorFilterArray":
            pattern = (el.get("pattern") or "").strip().upper() or None
    return keys, (width, height, channels), pattern


def _fits_value(text: str) -> Any:
    """The value of a FITS card value text as written in an XISF FITSKeyword element."""
    text = text.strip()
    if text.startswith("'"):
        return text.strip("'").replace("''", "'").rstrip()
    if text in ("T", "F"):
        return text == "T"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _number(keys: Mapping[str, Any], *names: str) -> float | None:
    for name in names:
        value = keys.get(name)
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)) and math.isfinite(float(value)):
            return float(value)
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                continue
            if math.isfinite(number):
                return number
    return None


def _text(keys: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = keys.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"{value:g}"
    return ""


def frame_info(path: str | os.PathLike[str]) -> FrameInfo:
    """The :class:`FrameInfo` of one file (header only); ValueError when it cannot be typed or read."""
    p = Path(path)
    keys, (width, height, channels), xisf_cfa = read_header(p)
    imagetyp = _text(keys, "IMAGETYP", "FRAMETYP", "FRAME")
    found = classify_imagetyp(imagetyp)
    source = "IMAGETYP"
    if found is None:
        kind = _kind_from_path(p)
        if kind is None:
            what = f"IMAGETYP '{imagetyp}' is not a frame type" if imagetyp else "no IMAGETYP keyword"
            raise ValueError(f"{what}, and the file name does not say bias, dark, flat or light")
        found, source = (kind, False), "file name"
    kind, master = found
    xbin = _number(keys, "XBINNING", "CCDXBIN", "BINNING")
    ybin = _number(keys, "YBINNING", "CCDYBIN", "BINNING")
    bayer = _text(keys, "BAYERPAT", "COLORTYP") or xisf_cfa or None
    if bayer is not None:
        bayer = bayer.upper()
        if channels != 1 or not re.fullmatch(r"[RGB]{4}", bayer):
            bayer = None  # already demosaiced, or a colour type such as 'RGB'
    return FrameInfo(
        path=p, kind=kind, master=master, imagetyp=imagetyp, kind_source=source,
        filter=_text(keys, "FILTER", "FILTNAM", "FILTER1"),
        exposure=_number(keys, "EXPTIME", "EXPOSURE"),
        xbin=max(1, int(xbin)) if xbin else 1, ybin=max(1, int(ybin)) if ybin else (max(1, int(xbin)) if xbin else 1),
        gain=_number(keys, "GAIN", "ISOSPEED"),
        temperature=_number(keys, "CCD-TEMP", "CCD_TEMP", "SENSOR-T", "TEMPERAT"),
        width=width, height=height, channels=channels, bayer=bayer, date=_text(keys, "DATE-OBS", "DATE-LOC"),
    )


def image_files(folder: str | os.PathLike[str], *, exclude: Iterable[str | os.PathLike[str]] = ()) -> list[Path]:
    """Image files under ``folder`` (recursively, sorted), leaving out the ``exclude`` folders and hidden ones."""
    root = Path(folder)
    excluded = {Path(os.path.abspath(e)) for e in exclude}
    out: list[Path] = []
    for current, dirs, files in os.walk(root):
        here = Path(os.path.abspath(current))
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and here / d not in excluded)
        for name in sorted(files):
            if name.lower().endswith(IMAGE_SUFFIXES) and not name.startswith("."):
                out.append(Path(current) / name)
    return out


def scan(
    folder: str | os.PathLike[str],
    *,
    exclude: Iterable[str | os.PathLike[str]] = (),
    progress: Callable[[float, str], None] | None = None,
) -> ScanResult:
    """Every image file under ``folder`` typed from its header; files that cannot be typed are skipped."""
    files = image_files(folder, exclude=exclude)
    frames: list[FrameInfo] = []
    skipped: list[SkippedFile] = []
    for i, path in enumerate(files):
        if progress is not None:
            progress(i / max(len(files), 1), f"reading headers: {path.name}")
        try:
            frames.append(frame_info(path))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            skipped.append(SkippedFile(path, reason or type(exc).__name__))
    if progress is not None:
        progress(1.0, f"read {len(files)} headers")
    return ScanResult(tuple(frames), tuple(skipped))
