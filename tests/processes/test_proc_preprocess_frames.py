"""Pre-processing: typing frames from their headers (FITS and XISF), the spellings of IMAGETYP, scanning folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from processes.workflows.preprocess.frames import classify_imagetyp, frame_info, image_files, scan
from procfw.image import FITSKeyword, Image
from procfw.io.fits import write_fits
from procfw.io.xisf import write_xisf


@pytest.mark.parametrize(
    ("value", "kind", "master"),
    [
        ("Bias Frame", "bias", False), ("BIAS", "bias", False), ("bias", "bias", False), ("Zero", "bias", False),
        ("Dark Frame", "dark", False), ("DARK", "dark", False), ("dark", "dark", False),
        ("Dark Flat", "darkflat", False), ("FlatDark", "darkflat", False), ("DARKFLAT", "darkflat", False),
        ("Flat Dark", "darkflat", False), ("flat-dark", "darkflat", False),
        ("Flat Field", "flat", False), ("FLAT", "flat", False), ("Flat Frame", "flat", False),
        ("Light Frame", "light", False), ("LIGHT", "light", False), ("Light", "light", False),
        ("light frame ", "light", False), ("Object", "light", False), ("Science", "light", False),
        ("Master Bias", "bias", True), ("MasterDark", "dark", True), ("Master Flat", "flat", True),
    ],
)
def test_imagetyp_spellings(value: str, kind: str, master: bool) -> None:
    assert classify_imagetyp(value) == (kind, master)


@pytest.mark.parametrize("value", ["", "Focus", "Tricolour", None, 3])
def test_unknown_imagetyp(value: object) -> None:
    assert classify_imagetyp(value) is None


def _write(path: Path, cards: list[FITSKeyword], *, channels: int = 1, size: tuple[int, int] = (24, 16)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((channels, size[1], size[0]), 0.1, dtype=np.float32)
    image = Image(pixels, cards)
    return write_xisf(image, path) if path.suffix == ".xisf" else write_fits(image, path, bitpix=16)


def _cards(**values: object) -> list[FITSKeyword]:
    return [FITSKeyword(name.replace("_", "-"), value) for name, value in values.items()]


@pytest.mark.parametrize("suffix", [".fits", ".xisf"])
def test_frame_info_from_the_header(tmp_path: Path, suffix: str) -> None:
    path = _write(tmp_path / f"a{suffix}", _cards(IMAGETYP="Light Frame", FILTER="Ha", EXPTIME=300.0, XBINNING=2,
                                                  YBINNING=2, GAIN=100, CCD_TEMP=-9.5, BAYERPAT="RGGB",
                                                  DATE_OBS="2024-01-02T03:04:05"))
    info = frame_info(path)
    assert (info.kind, info.master, info.kind_source) == ("light", False, "IMAGETYP")
    assert (info.filter, info.exposure, info.xbin, info.ybin, info.gain, info.temperature) == \
        ("Ha", 300.0, 2, 2, 100.0, -9.5)
    assert (info.width, info.height, info.channels, info.bayer) == (24, 16, 1, "RGGB")
    assert info.date == "2024-01-02T03:04:05"


def test_fallbacks_and_colour_frames(tmp_path: Path) -> None:
    # EXPOSURE instead of EXPTIME, CCDXBIN instead of XBINNING, no gain, no temperature
    info = frame_info(_write(tmp_path / "x.fits", _cards(IMAGETYP="DARK", EXPOSURE=30, CCDXBIN=3, CCDYBIN=3)))
    assert (info.kind, info.exposure, info.binning, info.gain, info.temperature) == ("dark", 30.0, "3", None, None)
    # a demosaiced RGB frame keeps no CFA pattern even if BAYERPAT survived
    rgb = frame_info(_write(tmp_path / "rgb.fits", _cards(IMAGETYP="Light", BAYERPAT="GRBG"), channels=3))
    assert (rgb.channels, rgb.bayer) == (3, None)
    # no IMAGETYP: the file name or folder says what it is
    by_name = frame_info(_write(tmp_path / "flats" / "Ha_001.fits", _cards(FILTER="Ha")))
    assert (by_name.kind, by_name.kind_source) == ("flat", "file name")
    dark_flat = frame_info(_write(tmp_path / "DarkFlat_2s_001.fits", _cards(EXPTIME=2.0)))
    assert dark_flat.kind == "darkflat"
    with pytest.raises(ValueError, match="IMAGETYP 'Focus'"):
        frame_info(_write(tmp_path / "frame_001.fits", _cards(IMAGETYP="Focus")))


def test_scan_skips_what_it_cannot_type_and_excluded_folders(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    _write(raw / "lights" / "L" / "l1.fits", _cards(IMAGETYP="Light Frame", FILTER="L", EXPTIME=60.0))
    _write(raw / "bias" / "b1.xisf", _cards(IMAGETYP="Bias Frame"))
    _write(raw / "misc" / "frame_9.fits", _cards(IMAGETYP="Focus"))
    (raw / "notes.txt").write_text("not an image")
    (raw / "broken.fits").write_bytes(b"SIMPLE  =                    T" + b" " * 10)
    _write(raw / "pre" / "master" / "old.fits", _cards(IMAGETYP="Master Light"))
    found = scan(raw, exclude=[raw / "pre"])
    assert sorted(f.path.name for f in found.frames) == ["b1.xisf", "l1.fits"]
    assert sorted(s.path.name for s in found.skipped) == ["broken.fits", "frame_9.fits"]
    assert "Focus" in next(s.reason for s in found.skipped if s.path.name == "frame_9.fits")
    assert [p.name for p in image_files(raw)] == ["broken.fits", "b1.xisf", "l1.fits", "frame_9.fits", "old.fits"]
