"""The native FITS header cards (procfw.io.fits_cards) against astropy: the same keywords read, the same bytes written.

Wherever the native reader or writer takes a file or a keyword list, its result must be astropy's;
everything else must be left to astropy (None).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from conftest import CORPUS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import procfw.io.fits as fits_module
from procfw.errors import ImageFileError
from procfw.image import FITSKeyword, Image
from procfw.io.fits import primary_header_bytes, read_fits, read_plain_header, write_fits
from procfw.io.fits_cards import format_card, format_float, parse_card, read_header

SEESTAR = CORPUS / "frames" / "seestar-s50" / "M94_2025-03-27_session1"


def _corpus_fits() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name.lower().endswith((".fit", ".fits", ".fts")))


def _astropy_image(path: Path) -> Image:
    """The image as the astropy path reads it."""
    return fits_module._read(path, is_gzip=False)


def _astropy_header_bytes(keywords: list[FITSKeyword], data: np.ndarray) -> bytes:
    """The primary header astropy's path of write_fits makes for ``keywords`` and float ``data``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hdu = fits.PrimaryHDU(data=data, header=fits_module.header_from_keywords(keywords))
        hdu.verify("silentfix")
        return hdu.header.tostring().encode("ascii")


def _same_keywords(a: list[FITSKeyword], b: list[FITSKeyword]) -> bool:
    return a == b and all(type(x.value) is type(y.value) for x, y in zip(a, b, strict=True))


# --------------------------------------------------------------------------- the corpus


@pytest.mark.parametrize("path", _corpus_fits(), ids=lambda p: p.name)
def test_corpus_files_read_natively_as_astropy_reads_them(path: Path) -> None:
    plain = read_plain_header(path)
    if plain is None:
        pytest.skip("not a plain file whose primary HDU the native reader takes")
    native = fits_module._read_plain(path, plain)
    if native is None:
        pytest.skip("no 2-D or 3-D image in the primary HDU")
    reference = _astropy_image(path)
    assert _same_keywords(native.keywords, reference.keywords)
    assert native.pixels.dtype == reference.pixels.dtype
    np.testing.assert_array_equal(native.pixels, reference.pixels)
    assert native.properties == reference.properties
    assert native.sample_format == reference.sample_format


def test_the_raw_frames_and_the_plain_corpus_files_take_the_native_path() -> None:
    files = _corpus_fits()
    if not files:
        pytest.skip(f"shared corpus not found at {CORPUS}")
    native = [p for p in files if read_plain_header(p) is not None]
    assert {p for p in SEESTAR.glob("*.fit")} <= set(native)
    assert len(native) >= len(files) // 2


@pytest.mark.parametrize("path", _corpus_fits(), ids=lambda p: p.name)
@pytest.mark.parametrize("bitpix", [-32, -64])
def test_corpus_keywords_are_written_as_astropy_writes_them(path: Path, bitpix: int, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        image = _astropy_image(path)
    except ImageFileError:
        pytest.skip("no image astropy's path reads")
    data = fits_module.encode_pixels(image.pixels, bitpix)
    native = primary_header_bytes(image.keywords, bitpix, data.shape)
    if native is None:
        pytest.skip("a keyword the native writer leaves to astropy")
    assert native == _astropy_header_bytes(image.keywords, data)
    write_fits(image, tmp_path / "native.fits", bitpix=bitpix)
    monkeypatch.setattr(fits_module, "primary_header_bytes", lambda *args: None)
    write_fits(image, tmp_path / "astropy.fits", bitpix=bitpix)
    assert (tmp_path / "native.fits").read_bytes() == (tmp_path / "astropy.fits").read_bytes()


def test_the_native_writer_writes_the_raw_frames_keywords(tmp_path: Path) -> None:
    frame = next(iter(sorted(SEESTAR.glob("*.fit"))), None)
    if frame is None:
        pytest.skip(f"corpus frames not found at {SEESTAR}")
    image = read_fits(frame)
    history = FITSKeyword("HISTORY", "StarAlignment.referenceImage: " + "/a/long/path" * 20, "")
    keywords = [*image.keywords, history]
    assert primary_header_bytes(keywords, -32, (3, 4, 5)) is not None  # long HISTORY text included


# --------------------------------------------------------------------------- generated keyword lists

_NAMES = st.one_of(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1, max_size=8),
    st.text(alphabet="abcXYZ019_- .=", min_size=0, max_size=10),
    st.sampled_from(["COMMENT", "HISTORY", "comment", "", " ", "END", "CONTINUE", "HIERARCH", "GROUPS", "TFIELDS",
                     "NAXIS", "BZERO", "DATE-OBS", "EXPTIME", "LONGKEYWORD", "A.B"]),
)
_TEXT = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=90),
    st.text(alphabet=" '&/:=abcXYZ019.", max_size=75),
    st.text(max_size=12),  # non-ASCII and control characters
    st.sampled_from(["", " ", "  a  ", "'", "''", "a: 1", "AXIS.1: 5", "x" * 67, "x" * 68, "x" * 69, "x" * 72,
                     "x" * 73, "o'" * 34, "2025-03-27T01:20:32.955368"]),
)
_FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e-300, max_value=1e-300),
    st.sampled_from([0.0, -0.0, 1.0, 0.1, 1e20, 1e-5, 123456789012345678.0, 5e-324, 1.7976931348623157e308,
                     2.90000009536743]),
)
_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**25), max_value=10**25), _FLOATS, _TEXT,
    st.builds(np.float32, st.floats(width=32)), st.builds(np.int16, st.integers(-(2**15), 2**15 - 1)),
    st.builds(np.bool_, st.booleans()), st.builds(complex, st.floats(-10, 10), st.floats(-10, 10)),
)
_PRINTABLE = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
_PLAIN_KEYWORDS = st.lists(st.builds(  # mostly what the native writer takes: names, values and comments near its limits
    FITSKeyword, st.text(alphabet="ABCXYZ019_-", min_size=1, max_size=8) | st.sampled_from(["COMMENT", "HISTORY"]),
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _PRINTABLE,
    _PRINTABLE.map(lambda text: text[:40]) | st.just("")), max_size=8)
_KEYWORDS = st.lists(st.builds(FITSKeyword, _NAMES, _VALUES, _TEXT), max_size=12) | _PLAIN_KEYWORDS


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(keywords=_KEYWORDS)
def test_generated_keywords_are_written_as_astropy_writes_them_or_left_to_it(keywords: list[FITSKeyword]) -> None:
    data = np.zeros((2, 3), dtype=np.float32)
    native = primary_header_bytes(keywords, -32, data.shape)
    try:
        reference = _astropy_header_bytes(keywords, data)
    except Exception:  # noqa: BLE001 - ImageFileError; astropy's own TypeError for a TFIELDS card without a count
        assert native is None
        return
    if native is not None:
        assert native == reference


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(keywords=_KEYWORDS)
def test_headers_astropy_writes_are_read_natively_as_astropy_reads_them(keywords: list[FITSKeyword]) -> None:
    data = np.zeros((2, 3), dtype=np.float32)
    try:
        header = _astropy_header_bytes(keywords, data)
    except Exception:  # noqa: BLE001 - as above
        return
    with _temporary_file(header + b"\0" * 2880) as path:
        plain = read_plain_header(path)
        if plain is None:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path) as hdul:
                expected = fits_module.keywords_from_header(hdul[0].header)
        assert _same_keywords(fits_module.keywords_from_cards(plain.header.cards), expected)


def test_common_keywords_take_the_native_path() -> None:
    keywords = [FITSKeyword("EXPTIME", 10.0, "Exposure time in seconds"), FITSKeyword("GAIN", 80, ""),
                FITSKeyword("IMAGETYP", "Light", "Type of image"), FITSKeyword("FLIPPED", False, ""),
                FITSKeyword("UNDEF", None, "no value"), FITSKeyword("HISTORY", "x" * 150, ""),
                FITSKeyword("COMMENT", "a note", ""), FITSKeyword("XPIXSZ", np.float32(2.9), "um")]
    data = np.zeros((3, 4, 5), dtype=np.float64)
    native = primary_header_bytes(keywords, -64, data.shape)
    assert native is not None and native == _astropy_header_bytes(keywords, data)


@pytest.mark.parametrize("keyword", [
    FITSKeyword("LONGSTR", "y" * 69, ""),  # CONTINUE cards
    FITSKeyword("CMT", "z", "c" * 80),  # astropy truncates the comment
    FITSKeyword("NONASCII", "é", ""),
    FITSKeyword("NAN", float("nan"), ""),
    FITSKeyword("CPLX", 1 + 2j, ""),
    FITSKeyword("RECORD", "AXIS.1: 1", ""),
    FITSKeyword("LONGNAME9", 1, ""),
    FITSKeyword("", "blank card", ""),
])
def test_what_the_native_writer_leaves_to_astropy(keyword: FITSKeyword) -> None:
    assert primary_header_bytes([keyword], -32, (2, 2)) is None


@pytest.mark.parametrize("value", [1.0, 0.1, -2.5e-7, 1e20, 123456789.123456789, 1.2345678901234567e-300, 5e-324])
def test_format_float_is_astropys(value: float) -> None:
    assert format_float(value) == fits.card._format_float(value)


# --------------------------------------------------------------------------- the parser

_CARD_TEXT = st.one_of(
    st.builds(lambda k, v: (f"{k:8}= {v}")[:80].ljust(80), st.text(alphabet="ABCZ019_-", max_size=8),
              st.text(alphabet=" '&/:=.+-0123456789EeDdTFabcXYZ()", max_size=75)),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=80, max_size=80),
    st.builds(lambda v: (f"COMMENT {v}")[:80].ljust(80), _TEXT),
)


@settings(max_examples=1500, deadline=None)
@given(image=_CARD_TEXT)
def test_a_card_read_natively_is_the_card_astropy_reads(image: str) -> None:
    card = parse_card(image)
    if card is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a card astropy warns about must not be read natively
        reference = fits.Card.fromstring(image)
        value = reference.value
        expected = (reference.keyword, None if isinstance(value, fits.card.Undefined) else value, reference.comment)
    assert card == expected
    assert type(card.value) is type(expected[1])


def test_format_card_writes_what_it_reads() -> None:
    for name, value, comment in [("A", "it's", "c"), ("B", 1.5e-10, ""), ("C", -(10**19), "n"), ("D", True, "")]:
        image = format_card(name, value, comment)
        assert image is not None and parse_card(image) == (name, value, comment)


@contextlib.contextmanager
def _temporary_file(data: bytes) -> Iterator[Path]:
    """A file holding ``data`` for a ``with`` block (hypothesis tests cannot take pytest's tmp_path)."""
    handle, name = tempfile.mkstemp(suffix=".fits")
    with os.fdopen(handle, "wb") as stream:
        stream.write(data)
    try:
        yield Path(name)
    finally:
        os.unlink(name)


_BLOCK = 2880


def _raw_header(cards: list[str]) -> bytes:
    text = "".join(c[:80].ljust(80) for c in [*cards, "END"])
    return (text + " " * (-len(text) % _BLOCK)).encode("utf-8")


_GOOD_START = ["SIMPLE  =                    T", "BITPIX  =                  -32", "NAXIS   =                    2",
               "NAXIS1  =                    3", "NAXIS2  =                    2"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cards=st.lists(st.one_of(_CARD_TEXT, st.text(max_size=80)), max_size=6),
       tail=st.binary(max_size=40), cut=st.integers(0, 3 * _BLOCK + 30))
def test_fuzzed_headers_read_or_fail_with_an_image_file_error(cards: list[str], tail: bytes, cut: int) -> None:
    raw = (_raw_header(_GOOD_START + cards) + np.zeros(6, ">f4").tobytes()).ljust(2 * _BLOCK, b"\0") + tail
    data = raw[:cut] if cut < len(raw) else raw
    with _temporary_file(data) as path:
        read_header(path)  # None or the cards: never an exception
        plain = read_plain_header(path)
        try:
            image = read_fits(path)
        except ImageFileError:
            return
        if plain is not None:
            assert image.pixels.shape == (1, 2, 3)
