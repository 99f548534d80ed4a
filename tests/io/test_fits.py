"""Tests of procfw.io.fits: FITS reading/writing checked against astropy and the real corpus."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from conftest import CORPUS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from procfw.errors import FileExistsProcfwError, ImageFileError, ParameterError
from procfw.image import FITSKeyword, Image
from procfw.io import ImageFormat, read_image, write_image
from procfw.io.fits import FITS_FORMAT, FITSFormat, read_fits, read_fits_bands, write_fits

FITS_SAMPLES = CORPUS / "fits-samples"
SEESTAR = CORPUS / "frames" / "seestar-s50" / "M94_2025-03-27_session1"

RNG = np.random.default_rng(20250327)


def _corpus_files(folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    return sorted({p for pattern in patterns for p in folder.glob(pattern)}) if folder.is_dir() else []


SAMPLE_FILES = _corpus_files(
    FITS_SAMPLES, ("astropy/*.fits", "astropy/*.fits.gz", "ccdproc/*.fit*", "photutils-datasets/*.fits")
)
SEESTAR_FILES = _corpus_files(SEESTAR, ("*.fit",))


def _require(paths: list[Path], what: str) -> None:
    if not paths:
        pytest.skip(f"corpus {what} not found beside the repository ({CORPUS})")


def _astropy_write(path: Path, data: np.ndarray, header: fits.Header | None = None) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits.PrimaryHDU(data, header=header).writeto(path)
    return path


def _astropy_read(path: Path, index: int = 0) -> tuple[np.ndarray, fits.Header]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(path) as hdul:
            return np.array(hdul[index].data), hdul[index].header.copy()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _planar(data: np.ndarray) -> np.ndarray:
    return data[np.newaxis] if data.ndim == 2 else data


# --------------------------------------------------------------------------- format object


def test_module_import_does_not_import_astropy() -> None:
    code = "import sys, procfw.io.fits; print('astropy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_format_object_describes_fits() -> None:
    assert isinstance(FITS_FORMAT, ImageFormat)
    assert FITS_FORMAT.id == "fits"
    assert FITS_FORMAT.extensions == (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz")
    assert FITS_FORMAT.can_read and FITS_FORMAT.can_write
    assert FITS_FORMAT.description


def test_format_is_registered_and_used_by_read_write_image(tmp_path: Path) -> None:
    from procfw.registry import formats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # other plugins may not be installed yet
        assert formats.get("fits") is FITS_FORMAT
        image = Image(RNG.random((3, 5, 4), dtype=np.float32), [FITSKeyword("OBJECT", "M 94", "target")])
        target = write_image(image, tmp_path / "via-registry.fits.gz")
        back = read_image(target)
    assert np.array_equal(back.pixels, image.pixels)
    assert back.keywords == image.keywords
    assert sorted(p.name for p in tmp_path.iterdir()) == ["via-registry.fits.gz"]


def test_format_write_writes_exactly_the_given_path(tmp_path: Path) -> None:
    target = tmp_path / "exact.fit"
    target.write_bytes(b"placeholder from the caller")
    FITS_FORMAT.write(Image(np.full((2, 3), 0.25, dtype=np.float32)), target)
    data, header = _astropy_read(target)
    assert header["BITPIX"] == -32
    assert np.array_equal(data, np.full((2, 3), 0.25, dtype=np.float32))


def test_format_with_other_bitpix(tmp_path: Path) -> None:
    FITSFormat(bitpix=16).write(Image(np.full((2, 2), 1.0, dtype=np.float32)), tmp_path / "u16.fits")
    data, header = _astropy_read(tmp_path / "u16.fits")
    assert header["BITPIX"] == 16 and header["BZERO"] == 32768
    assert data.dtype == np.uint16 and int(data.max()) == 65535


@pytest.mark.parametrize("bitpix", [0, 12, 64, -16, True])
def test_unsupported_write_bitpix_is_a_parameter_error(tmp_path: Path, bitpix: int) -> None:
    image = Image(np.zeros((2, 2), dtype=np.float32))
    with pytest.raises(ParameterError, match="bitpix"):
        write_fits(image, tmp_path / "x.fits", bitpix=bitpix)
    with pytest.raises(ParameterError, match="bitpix"):
        FITSFormat(bitpix=bitpix)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- reading files astropy wrote


def _signed_expected(data: np.ndarray) -> np.ndarray:
    info = np.iinfo(data.dtype)
    return (data.astype(np.float64) - info.min) / (float(info.max) - float(info.min))


INTEGER_CASES = {
    # dtype -> (BITPIX astropy stores, BZERO it writes, expected normalization, result dtype)
    "uint8": (8, None, lambda d: d.astype(np.float64) / 255.0, np.float32),
    "int16": (16, None, _signed_expected, np.float32),
    "uint16": (16, 32768, lambda d: d.astype(np.float64) / 65535.0, np.float32),
    "int32": (32, None, _signed_expected, np.float64),
    "uint32": (32, 2147483648, lambda d: d.astype(np.float64) / 4294967295.0, np.float64),
}


@pytest.mark.parametrize("shape", [(7, 5), (3, 7, 5)], ids=["mono", "rgb"])
@pytest.mark.parametrize("dtype", list(INTEGER_CASES))
def test_read_integer_data_written_by_astropy(tmp_path: Path, dtype: str, shape: tuple[int, ...]) -> None:
    bitpix, bzero, expected_of, result_dtype = INTEGER_CASES[dtype]
    info = np.iinfo(dtype)
    data = RNG.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    data.flat[0], data.flat[1] = info.min, info.max
    path = _astropy_write(tmp_path / f"{dtype}.fits", data)
    _, header = _astropy_read(path)
    assert header["BITPIX"] == bitpix and header.get("BZERO") == bzero

    image = read_fits(path)

    assert image.pixels.shape == _planar(data).shape
    assert image.pixels.dtype == result_dtype
    assert image.properties["FITS:BITPIX"] == bitpix
    expected = _planar(expected_of(data))
    np.testing.assert_allclose(image.pixels, expected, rtol=0, atol=1e-7)
    assert image.pixels.flat[0] == 0.0 and image.pixels.flat[1] == 1.0


@pytest.mark.parametrize("shape", [(6, 4), (3, 6, 4)], ids=["mono", "rgb"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_read_float_data_is_kept_as_is(tmp_path: Path, dtype: str, shape: tuple[int, ...]) -> None:
    data = RNG.normal(0.3, 0.5, size=shape).astype(dtype)  # out-of-range values are not rescaled
    data.flat[2] = np.nan
    path = _astropy_write(tmp_path / f"{dtype}.fits", data)

    image = read_fits(path)

    assert image.pixels.dtype == np.dtype(dtype)
    assert image.properties["FITS:BITPIX"] == (-32 if dtype == "float32" else -64)
    assert np.array_equal(image.pixels, _planar(data), equal_nan=True)


def test_read_applies_bscale_bzero_to_float_data(tmp_path: Path) -> None:
    path = _astropy_write(tmp_path / "scaled-float.fits", np.arange(12, dtype=np.float32).reshape(3, 4))
    with fits.open(path, mode="update", do_not_scale_image_data=True) as hdul:
        hdul[0].header["BSCALE"] = 0.5
        hdul[0].header["BZERO"] = 0.25
    physical, _ = _astropy_read(path)
    assert physical[0, 1] == 0.75  # astropy applies the scaling too
    assert np.array_equal(read_fits(path).pixels[0], physical)


@pytest.mark.parametrize(("bscale", "bzero"), [(2.0, 100.0), (0.01, -5.0), (-1.0, 0.0)])
def test_read_arbitrary_integer_scaling_maps_type_range(tmp_path: Path, bscale: float, bzero: float) -> None:
    raw = np.array([[-32768, -1, 0, 32767]], dtype=np.int16)
    hdu = fits.PrimaryHDU(raw.copy(), do_not_scale_image_data=True)
    hdu.header["BSCALE"] = bscale
    hdu.header["BZERO"] = bzero
    hdu.writeto(tmp_path / "scaled.fits")
    with fits.open(tmp_path / "scaled.fits", do_not_scale_image_data=True) as hdul:
        assert np.array_equal(hdul[0].data, raw)

    pixels = read_fits(tmp_path / "scaled.fits").pixels[0, 0]

    expected = (raw[0].astype(np.float64) + 32768) / 65535
    if bscale < 0:
        expected = 1 - expected
    np.testing.assert_allclose(pixels, expected, atol=1e-7)


def test_read_first_image_extension_after_empty_primary(tmp_path: Path) -> None:
    data = RNG.integers(0, 65535, size=(4, 6), dtype=np.uint16, endpoint=True)
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, name="SCI")])
    hdul[1].header["FILTER"] = ("Ha", "narrowband")
    hdul.writeto(tmp_path / "mef.fits")

    image = read_fits(tmp_path / "mef.fits")

    assert image.properties["FITS:HDU"] == 1
    np.testing.assert_allclose(image.pixels[0], data / 65535.0, atol=1e-7)
    assert image.keyword("FILTER") == "Ha"
    assert image.keyword("EXTNAME") == "SCI"


def test_read_tile_compressed_image(tmp_path: Path) -> None:
    data = RNG.integers(0, 65535, size=(3, 16, 12), dtype=np.uint16, endpoint=True)
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, compression_type="RICE_1")])
    hdul.writeto(tmp_path / "rice.fits")

    image = read_fits(tmp_path / "rice.fits")

    assert image.pixels.shape == (3, 16, 12)
    np.testing.assert_allclose(image.pixels, data / 65535.0, atol=1e-7)
    assert not [k for k in image.keywords if k.name.startswith(("ZIMAGE", "ZCMPTYPE", "ZBITPIX", "ZTILE"))]


def test_read_gzipped_file(tmp_path: Path) -> None:
    data = RNG.random((5, 5), dtype=np.float32)
    raw = tmp_path / "plain.fits"
    _astropy_write(raw, data)
    packed = tmp_path / "packed.fits.gz"
    packed.write_bytes(gzip.compress(raw.read_bytes()))
    assert np.array_equal(read_fits(packed).pixels[0], data)


def test_read_drops_degenerate_leading_axes(tmp_path: Path) -> None:
    data = RNG.random((1, 3, 4, 5), dtype=np.float32)
    _astropy_write(tmp_path / "radio.fits", data)
    assert np.array_equal(read_fits(tmp_path / "radio.fits").pixels, data[0])


def test_read_any_channel_count(tmp_path: Path) -> None:
    data = RNG.random((5, 4, 3), dtype=np.float32)
    _astropy_write(tmp_path / "cube.fits", data)
    assert read_fits(tmp_path / "cube.fits").pixels.shape == (5, 4, 3)


def test_read_returns_an_owned_array_not_a_file_mapping(tmp_path: Path) -> None:
    import mmap

    data = RNG.random((4, 4), dtype=np.float32)
    image = read_fits(_astropy_write(tmp_path / "x.fits", data))
    base: object = image.pixels
    while base is not None:  # no view chain may end in the file's memory map
        assert not isinstance(base, (np.memmap, mmap.mmap))
        base = getattr(base, "base", None)
    assert image.pixels.flags.writeable and image.pixels.dtype.isnative
    assert np.array_equal(image.pixels[0], data)



@pytest.mark.parametrize("dtype", ["uint8", "int16", "uint16", "int32", "uint32", "float32", "float64"])
def test_plain_file_is_read_piece_by_piece_to_the_values_of_astropys_data(
    tmp_path: Path, dtype: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An uncompressed file's samples are read in pieces (here 24 bytes: pieces end inside a row and a
    plane) without a memory map of the file, and give exactly what astropy's data gives."""
    import mmap

    import procfw.io.fits as fits_io

    kind = np.dtype(dtype)
    data = (RNG.normal(0.4, 0.3, size=(3, 7, 5)) if kind.kind == "f" else
            RNG.integers(np.iinfo(kind).min, np.iinfo(kind).max, size=(3, 7, 5), endpoint=True)).astype(dtype)
    path = _astropy_write(tmp_path / f"{dtype}.fits", data)
    with fits.open(path, do_not_scale_image_data=True) as hdul:
        expected = fits_io._pixels(hdul[0], path)  # from astropy's data (a memory map: allowed here)

    def no_map(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was memory-mapped")

    monkeypatch.setattr(fits_io, "_READ_CHUNK_BYTES", 24)
    monkeypatch.setattr(mmap, "mmap", no_map)
    monkeypatch.setattr(np, "memmap", no_map)
    pixels = fits_io.read_fits(path).pixels

    assert pixels.dtype == expected.dtype and pixels.dtype.isnative
    assert pixels.tobytes() == expected.tobytes()

# --------------------------------------------------------------------------- our writer, read by astropy


@pytest.mark.parametrize("shape", [(1, 5, 6), (3, 5, 6)], ids=["mono", "rgb"])
@pytest.mark.parametrize(
    ("bitpix", "dtype", "bzero", "scale"),
    [(-32, np.float32, None, None), (-64, np.float64, None, None), (8, np.uint8, None, 255),
     (16, np.uint16, 32768, 65535), (32, np.uint32, 2147483648, 4294967295)],
)  # fmt: skip
def test_written_file_as_astropy_sees_it(
    tmp_path: Path, shape: tuple[int, ...], bitpix: int, dtype: type, bzero: int | None, scale: int | None
) -> None:
    pixels = RNG.random(shape, dtype=np.float32)
    pixels.flat[0], pixels.flat[1] = 0.0, 1.0
    path = write_fits(Image(pixels), tmp_path / "ours.fits", bitpix=bitpix)

    data, header = _astropy_read(path)

    assert header["SIMPLE"] is True
    assert header["BITPIX"] == bitpix
    assert header.get("BZERO") == bzero
    expected_shape = shape[1:] if shape[0] == 1 else shape
    assert header["NAXIS"] == len(expected_shape)
    assert data.shape == expected_shape and data.dtype.newbyteorder("=") == dtype
    if scale is None:
        assert np.array_equal(data, pixels.reshape(expected_shape).astype(dtype))
    else:
        expected = np.rint(pixels.astype(np.float64) * scale).reshape(expected_shape)
        assert np.array_equal(data.astype(np.float64), expected)
        assert int(data.flat[0]) == 0 and int(data.flat[1]) == scale


@pytest.mark.parametrize(("bitpix", "top"), [(8, 255), (16, 65535), (32, 4294967295)])
def test_integer_writes_clip_and_round(tmp_path: Path, bitpix: int, top: int) -> None:
    pixels = np.array([[-0.5, 0.0, 0.5, 1.0, 1.5, np.nan, np.inf, -np.inf]], dtype=np.float32)
    write_fits(Image(pixels), tmp_path / "clip.fits", bitpix=bitpix)
    data, _ = _astropy_read(tmp_path / "clip.fits")
    half = int(np.rint(0.5 * top))
    assert data[0].tolist() == [0, 0, half, top, top, 0, top, 0]


def test_float64_image_written_in_its_sample_format(tmp_path: Path) -> None:
    pixels = np.array([[0.1, 0.2]], dtype=np.float64)
    write_fits(Image(pixels), tmp_path / "f.fits")  # a float64 image is Float64: nothing is narrowed
    data, header = _astropy_read(tmp_path / "f.fits")
    assert header["BITPIX"] == -64
    write_fits(Image(pixels, sample_format="Float32"), tmp_path / "g.fits")
    data, header = _astropy_read(tmp_path / "g.fits")
    assert header["BITPIX"] == -32
    assert np.array_equal(data[0], pixels[0].astype(np.float32))


def test_write_gzip_by_extension(tmp_path: Path) -> None:
    image = Image(RNG.random((3, 4, 4), dtype=np.float32))
    path = write_fits(image, tmp_path / "out.fits.gz")
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert np.array_equal(read_fits(path).pixels, image.pixels)
    data, _ = _astropy_read(path)
    assert np.array_equal(data, image.pixels)


# --------------------------------------------------------------------------- keywords


KEYWORDS = [
    FITSKeyword("OBJECT", "M 94", "name of the object"),
    FITSKeyword("HISTORY", "calibrated with master dark", ""),
    FITSKeyword("EXPTIME", 10.0, "[s] exposure time"),
    FITSKeyword("GAIN", 80, "gain"),
    FITSKeyword("FLIPPED", True, "a bool"),
    FITSKeyword("NOTFLIP", False, ""),
    FITSKeyword("COMMENT", "a comment card", ""),
    FITSKeyword("CCD-TEMP", -10.125, "sensor temperature in C"),
    FITSKeyword("TINY", 1.5e-300, ""),
    FITSKeyword("BIGINT", 12345678901234, ""),
    # FITS string values lose trailing blanks by definition, so this one ends in a letter
    FITSKeyword("LONGSTR", "a long string value " * 6 + "end", "continued over CONTINUE cards"),
    FITSKeyword("QUOTES", "it's 'quoted'", ""),
    FITSKeyword("EMPTY", "", "empty string"),
    FITSKeyword("UNDEF", None, "no value"),
    FITSKeyword("HISTORY", "second history card", ""),
    FITSKeyword("OBJECT", "duplicate names are kept", ""),
    FITSKeyword("ESO DET CHIP TEMP", 150.5, "a HIERARCH keyword"),
]


def test_keywords_round_trip_exactly(tmp_path: Path) -> None:
    image = Image(np.zeros((1, 2, 2), dtype=np.float32), KEYWORDS)
    path = write_fits(image, tmp_path / "kw.fits")

    first = read_fits(path)
    assert first.keywords == KEYWORDS
    write_fits(first, tmp_path / "kw2.fits")
    assert read_fits(tmp_path / "kw2.fits").keywords == KEYWORDS

    _, header = _astropy_read(path)
    assert header["LONGSTR"] == "a long string value " * 6 + "end"
    assert list(header["HISTORY"]) == ["calibrated with master dark", "second history card"]
    assert header["FLIPPED"] is True


def test_keywords_from_astropy_header_in_order(tmp_path: Path) -> None:
    header = fits.Header(
        [
            ("TELESCOP", "S50", "telescope"),
            ("COMMENT", "first comment"),
            ("DATE-OBS", "2025-03-27T01:20:32"),
            ("HISTORY", "history text"),
        ]
    )
    data = np.zeros((2, 2), dtype=np.uint16)
    path = _astropy_write(tmp_path / "h.fits", data, header)
    with fits.open(path, mode="update") as hdul:  # add the cards a reader must hide
        hdul[0].add_checksum()

    keywords = read_fits(path).keywords

    assert keywords == [
        FITSKeyword("TELESCOP", "S50", "telescope"),
        FITSKeyword("COMMENT", "first comment", ""),
        FITSKeyword("DATE-OBS", "2025-03-27T01:20:32", ""),
        FITSKeyword("HISTORY", "history text", ""),
    ]


def test_structural_keywords_are_not_written(tmp_path: Path) -> None:
    cards = [FITSKeyword(name, 99, "") for name in ("BITPIX", "NAXIS", "NAXIS1", "BZERO", "BSCALE", "SIMPLE")]
    image = Image(np.full((2, 3), 0.5, dtype=np.float32), [*cards, FITSKeyword("OBJECT", "x", "")])
    write_fits(image, tmp_path / "s.fits", bitpix=16)
    data, header = _astropy_read(tmp_path / "s.fits")
    assert header["BITPIX"] == 16 and header["NAXIS1"] == 3 and header["BZERO"] == 32768
    assert data.shape == (2, 3)
    assert read_fits(tmp_path / "s.fits").keywords == [FITSKeyword("OBJECT", "x", "")]


@pytest.mark.parametrize(
    "keyword",
    [FITSKeyword("BADFLOAT", float("nan"), ""), FITSKeyword("UNICODE", "température", ""), FITSKeyword("A=B", 1, "")],
    ids=["nan", "non-ascii", "bad-name"],
)
def test_unwritable_keyword_is_a_clean_error_and_leaves_nothing(tmp_path: Path, keyword: FITSKeyword) -> None:
    image = Image(np.zeros((2, 2), dtype=np.float32), [keyword])
    target = tmp_path / "bad.fits"
    with pytest.raises(ImageFileError) as caught:
        write_fits(image, target)
    assert str(target) in str(caught.value)
    assert keyword.name in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_keyword_astropy_refuses_while_making_the_hdu_is_a_clean_error(tmp_path: Path) -> None:
    # astropy's PrimaryHDU raises TypeError on a TFIELDS card without a count: not a traceback from astropy
    image = Image(np.zeros((2, 2), dtype=np.float32), [FITSKeyword("TFIELDS", None, "")])
    target = tmp_path / "bad.fits"
    with pytest.raises(ImageFileError) as caught:
        write_fits(image, target)
    assert str(target) in str(caught.value)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- overwrite and atomicity


def test_overwrite_refused_and_existing_file_untouched(tmp_path: Path) -> None:
    target = tmp_path / "keep.fits"
    write_fits(Image(np.full((2, 2), 0.25, dtype=np.float32)), target)
    before = _sha256(target)

    with pytest.raises(FileExistsProcfwError) as caught:
        write_fits(Image(np.full((2, 2), 0.75, dtype=np.float32)), target)

    assert str(target) in str(caught.value)
    assert _sha256(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.fits"]


def test_overwrite_true_replaces(tmp_path: Path) -> None:
    target = tmp_path / "replace.fits"
    write_fits(Image(np.full((2, 2), 0.25, dtype=np.float32)), target)
    write_fits(Image(np.full((3, 3), 0.75, dtype=np.float32)), target, overwrite=True)
    assert np.array_equal(read_fits(target).pixels, np.full((1, 3, 3), 0.75, dtype=np.float32))
    assert [p.name for p in tmp_path.iterdir()] == ["replace.fits"]


def test_failed_write_leaves_no_temp_file_and_target_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "stay.fits"
    write_fits(Image(np.full((2, 2), 0.25, dtype=np.float32)), target)
    before = _sha256(target)

    def broken_writeto(self: object, *args: object, **kwargs: object) -> None:
        Path(args[0]).write_bytes(b"partial")
        raise OSError("disk full")

    def broken_float_write(path: Path, header: bytes, data: np.ndarray, **kwargs: object) -> None:
        broken_writeto(None, path)

    monkeypatch.setattr(fits.PrimaryHDU, "writeto", broken_writeto)
    monkeypatch.setattr("procfw.io.fits._write_float_data", broken_float_write)  # float data's own writer
    with pytest.raises(ImageFileError, match="disk full") as caught:
        write_fits(Image(np.zeros((2, 2), dtype=np.float32)), target, overwrite=True)

    assert str(target) in str(caught.value)
    assert _sha256(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["stay.fits"]


def test_write_into_missing_directory(tmp_path: Path) -> None:
    target = tmp_path / "nope" / "x.fits"
    with pytest.raises(ImageFileError, match="does not exist") as caught:
        write_fits(Image(np.zeros((2, 2), dtype=np.float32)), target)
    assert str(target) in str(caught.value)


# --------------------------------------------------------------------------- damaged and unusual files


def _good_file(tmp_path: Path) -> Path:
    return _astropy_write(tmp_path / "good.fits", RNG.integers(0, 1000, size=(60, 50), dtype=np.int16))


def _truncated_data(tmp_path: Path) -> Path:
    data = _good_file(tmp_path).read_bytes()
    return _write_bytes(tmp_path / "truncated.fits", data[: 2880 + 1000])


def _truncated_header(tmp_path: Path) -> Path:
    return _write_bytes(tmp_path / "truncated-header.fits", _good_file(tmp_path).read_bytes()[:400])


def _corrupt_naxis(tmp_path: Path) -> Path:
    data = bytearray(_good_file(tmp_path).read_bytes())
    data[160:240] = b"\x00\x01garbage".ljust(80, b"\xff")  # the NAXIS card
    return _write_bytes(tmp_path / "corrupt-naxis.fits", bytes(data))


def _corrupt_bitpix(tmp_path: Path) -> Path:
    data = bytearray(_good_file(tmp_path).read_bytes())
    data[80 + 10 : 80 + 30] = b"'abc'".ljust(20)
    return _write_bytes(tmp_path / "corrupt-bitpix.fits", bytes(data))


def _odd_bitpix(tmp_path: Path) -> Path:
    data = bytearray(_good_file(tmp_path).read_bytes())
    data[80 + 10 : 80 + 30] = b"12".rjust(20)
    return _write_bytes(tmp_path / "odd-bitpix.fits", bytes(data))


def _table_only(tmp_path: Path) -> Path:
    table = fits.BinTableHDU.from_columns([fits.Column(name="flux", format="E", array=np.arange(3.0))])
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(tmp_path / "table.fits")
    return tmp_path / "table.fits"


def _empty_primary(tmp_path: Path) -> Path:
    fits.PrimaryHDU().writeto(tmp_path / "empty-primary.fits")
    return tmp_path / "empty-primary.fits"


def _one_dimensional(tmp_path: Path) -> Path:
    return _astropy_write(tmp_path / "spectrum.fits", np.arange(10, dtype=np.float32))


def _four_dimensional(tmp_path: Path) -> Path:
    return _astropy_write(tmp_path / "4d.fits", np.zeros((2, 3, 4, 5), dtype=np.float32))


def _text_file(tmp_path: Path) -> Path:
    return _write_bytes(tmp_path / "notes.fits", b"these are my observing notes\n")


def _png_renamed(tmp_path: Path) -> Path:
    return _write_bytes(tmp_path / "image.fits", b"\x89PNG\r\n\x1a\n" + bytes(100))


def _empty_file(tmp_path: Path) -> Path:
    return _write_bytes(tmp_path / "empty.fits", b"")


def _truncated_gzip(tmp_path: Path) -> Path:
    packed = gzip.compress(_good_file(tmp_path).read_bytes())
    return _write_bytes(tmp_path / "cut.fits.gz", packed[: len(packed) // 2])


def _gzip_of_text(tmp_path: Path) -> Path:
    return _write_bytes(tmp_path / "text.fits.gz", gzip.compress(b"not fits at all " * 20))


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "missing.fits"


def _directory(tmp_path: Path) -> Path:
    (tmp_path / "folder.fits").mkdir()
    return tmp_path / "folder.fits"


def _write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


BAD_FILES = {
    "missing": (_missing, "no such file"),
    "directory": (_directory, "directory"),
    "empty": (_empty_file, "empty"),
    "text": (_text_file, "not a FITS file"),
    "png": (_png_renamed, "PNG"),
    "truncated-data": (_truncated_data, "truncated"),
    "truncated-header": (_truncated_header, "damaged or truncated"),
    "corrupt-naxis": (_corrupt_naxis, "corrupt header"),
    "corrupt-bitpix": (_corrupt_bitpix, "damaged"),
    "odd-bitpix": (_odd_bitpix, "BITPIX"),
    "table-only": (_table_only, "no image data"),
    "empty-primary": (_empty_primary, "no image data"),
    "1-d": (_one_dimensional, "1-dimensional"),
    "4-d": (_four_dimensional, "4 axes"),
    "truncated-gzip": (_truncated_gzip, "damaged"),
    "gzipped-text": (_gzip_of_text, "not a FITS file"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_gives_clean_image_file_error(tmp_path: Path, case: str) -> None:
    make, problem = BAD_FILES[case]
    path = make(tmp_path)
    before = _sha256(path) if path.is_file() else None

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may leak out as a warning either
        with pytest.raises(ImageFileError) as caught:
            read_fits(path)

    message = str(caught.value)
    assert message.startswith(str(path))
    assert problem in message
    assert caught.value.path == str(path)
    if before is not None:
        assert _sha256(path) == before


def test_no_image_error_lists_what_was_found(tmp_path: Path) -> None:
    with pytest.raises(ImageFileError, match="PrimaryHDU without data, BinTableHDU"):
        read_fits(_table_only(tmp_path))


# --------------------------------------------------------------------------- real corpus


def _expected_from_astropy(path: Path, index: int) -> np.ndarray:
    """Normalization computed from astropy's own (physically scaled) data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(path) as hdul:
            data = np.array(hdul[index].data)
            header = hdul[index].header
            bitpix, bzero = header["BITPIX"], header.get("BZERO", 0)
    if data.dtype == np.uint16:
        return data / 65535.0
    if bitpix == 16 and bzero == 0:
        return (data.astype(np.float64) + 32768) / 65535.0
    raise AssertionError(f"corpus file with unexpected encoding: BITPIX={bitpix} BZERO={bzero} {data.dtype}")


@pytest.mark.parametrize("path", SAMPLE_FILES or [None], ids=lambda p: p.name if p else "absent")
def test_read_corpus_fits_samples(path: Path | None, tmp_path: Path) -> None:
    if path is None:
        pytest.skip(f"corpus fits-samples not found ({FITS_SAMPLES})")
    before = _sha256(path)

    image = read_fits(path)

    index = image.properties["FITS:HDU"]
    expected = _expected_from_astropy(path, index)
    assert image.pixels.shape == _planar(expected).shape
    np.testing.assert_allclose(image.pixels, _planar(expected), atol=1e-7)
    assert 0.0 <= float(image.pixels.min()) <= float(image.pixels.max()) <= 1.0
    assert _sha256(path) == before  # read-only

    # read -> write -> read keeps keywords exactly and pixels within 16-bit rounding
    write_fits(image, tmp_path / "copy.fits", bitpix=16)
    again = read_fits(tmp_path / "copy.fits")
    assert again.keywords == image.keywords
    np.testing.assert_allclose(again.pixels, image.pixels, atol=0.5 / 65535 + 1e-7)


def test_corpus_compressed_and_multi_extension_files_use_the_image_hdu() -> None:
    _require(SAMPLE_FILES, "fits-samples")
    by_name = {p.name: p for p in SAMPLE_FILES}
    assert read_fits(by_name["m13_rice.fits"]).properties["FITS:HDU"] == 1
    assert read_fits(by_name["comp.fits"]).properties["FITS:HDU"] == 1
    assert read_fits(by_name["test0.fits"]).properties["FITS:HDU"] == 1
    # the Rice-compressed M13 is the same picture as the uncompressed one
    assert np.array_equal(read_fits(by_name["m13_rice.fits"]).pixels, read_fits(by_name["m13.fits"]).pixels)


def test_corpus_unparsable_card_is_repaired() -> None:
    _require(SAMPLE_FILES, "fits-samples")
    dss = FITS_SAMPLES / "astropy" / "dss.14.29.56-62.41.05.fits.gz"
    if not dss.exists():
        pytest.skip("dss sample absent")
    assert read_fits(dss).keyword("SKEW") == "-1.3869888376036E+00, -1.6912592180432E+00"


@pytest.mark.parametrize("path", SEESTAR_FILES or [None], ids=lambda p: p.name[-19:] if p else "absent")
def test_read_seestar_raw_frames(path: Path | None) -> None:
    if path is None:
        pytest.skip(f"Seestar frames not found ({SEESTAR})")

    image = read_fits(path)

    assert image.pixels.shape == (1, 1920, 1080)
    assert image.pixels.dtype == np.float32
    assert image.properties["FITS:BITPIX"] == 16
    data, header = _astropy_read(path)
    assert data.dtype == np.uint16
    np.testing.assert_allclose(image.pixels[0], data / 65535.0, atol=1e-7)
    if "BAYERPAT" in header:
        assert image.keyword("BAYERPAT") == header["BAYERPAT"]
    assert image.keyword("IMAGETYP") == "Light"
    assert image.keyword("EXPTIME") == 10.0
    assert image.keyword("INSTRUME") == "Seestar S50"


def test_seestar_frame_round_trip_keeps_keywords_and_uint16_values(tmp_path: Path) -> None:
    _require(SEESTAR_FILES, "Seestar frames")
    image = read_fits(SEESTAR_FILES[0])
    write_fits(image, tmp_path / "frame.fit", bitpix=16)
    again = read_fits(tmp_path / "frame.fit")
    assert again.keywords == image.keywords
    assert again.keyword("BAYERPAT") == "GRBG"
    assert np.array_equal(again.pixels, image.pixels)  # 16-bit data survives 16-bit writing exactly


# --------------------------------------------------------------------------- properties


_SHAPES = st.tuples(st.sampled_from([1, 3]), st.integers(1, 6), st.integers(1, 6))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hnp.arrays(np.float32, _SHAPES, elements=st.floats(width=32, allow_nan=False)))
def test_float32_round_trip_is_bit_exact(pixels: np.ndarray) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write_fits(Image(pixels), Path(folder) / "p.fits")
        back = read_fits(path).pixels
        assert sorted(p.name for p in Path(folder).iterdir()) == ["p.fits"]
    assert back.dtype == np.float32 and back.shape == pixels.shape
    assert np.array_equal(back.view(np.uint32), pixels.view(np.uint32))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hnp.arrays(np.float32, _SHAPES, elements=st.floats(0.0, 1.0, width=32)))
def test_uint16_round_trip_within_half_a_step(pixels: np.ndarray) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write_fits(Image(pixels), Path(folder) / "p.fits", bitpix=16)
        back = read_fits(path).pixels
    assert back.shape == pixels.shape
    assert float(np.max(np.abs(back.astype(np.float64) - pixels))) <= 0.5 / 65535 + 1e-7


def test_written_files_get_ordinary_permissions(tmp_path):
    """Atomic writes go through a private temporary file; the result must not stay private."""
    umask = os.umask(0o022)
    try:
        out = write_image(Image(np.zeros((1, 2, 2), np.float32)), tmp_path / "a.fits")
    finally:
        os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("bitpix", [-32, -64])
@pytest.mark.parametrize("shape", [(1, 5, 7), (3, 40, 33), (2, 1, 1)])
def test_float_writes_are_astropys_bytes_and_leave_the_pixels_alone(tmp_path: Path, bitpix: int,
                                                                    shape: tuple[int, ...]) -> None:
    """Float data to a plain file is written by procfw (one byte-swapping pass through a buffer):
    byte for byte what astropy's writeto writes, and the image's own array is never touched."""
    from procfw.io import fits as fits_module

    rng = np.random.default_rng(len(shape) - bitpix)
    pixels = rng.random(shape).astype(np.float32 if bitpix == -32 else np.float64)
    pixels.flat[0] = np.nan
    keywords = [FITSKeyword("OBJECT", "M 94", "target"), FITSKeyword("EXPTIME", 10.0, "s"),
                FITSKeyword("HISTORY", "h" * 150, ""), FITSKeyword("LONGSTR", "s" * 120, "continued"),
                FITSKeyword("UNDEF", None, "undefined")]
    image = Image(pixels, keywords)
    before = pixels.copy()
    ours = write_fits(image, tmp_path / "ours.fits", bitpix=bitpix)
    np.testing.assert_array_equal(pixels, before)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hdu = fits.PrimaryHDU(data=fits_module.encode_pixels(pixels, bitpix),
                              header=fits_module.header_from_keywords(keywords))
        hdu.writeto(tmp_path / "astropy.fits", output_verify="silentfix")
    assert ours.read_bytes() == (tmp_path / "astropy.fits").read_bytes()
    assert ours.stat().st_size % 2880 == 0
    np.testing.assert_array_equal(read_fits(ours).pixels, pixels if bitpix == -64 else before)


@pytest.mark.parametrize("channels", [1, 3])
def test_a_strided_view_is_written_in_small_pieces_with_the_bytes_of_its_copy(tmp_path, monkeypatch, channels):
    """A crop's view is written without a copy of it all (rows gathered PIECE_BYTES at a time), the same file."""
    from procfw.io import fits as fits_module

    monkeypatch.setattr(fits_module, "PIECE_BYTES", 7 * 40 * 4)  # 7 rows of 40 values: several pieces per plane
    pixels = np.random.default_rng(3).random((channels, 50, 60), dtype=np.float32)
    view = pixels[:, 5:48, 11:51]
    pieces = list(fits_module._c_order_pieces(view[0] if channels == 1 else view))
    assert max(p.size for p in pieces) == 7 * 40 and sum(p.size for p in pieces) == view.size
    write_fits(Image(view), tmp_path / "view.fits")
    write_fits(Image(np.ascontiguousarray(view)), tmp_path / "copy.fits")
    assert (tmp_path / "view.fits").read_bytes() == (tmp_path / "copy.fits").read_bytes()
    assert np.array_equal(read_fits(tmp_path / "view.fits").pixels, view)


# --------------------------------------------------------------------------- writing a band of rows at a time


def _bands(pixels: np.ndarray, rows: list[int]):
    """``pixels`` as consecutive bands of ``rows`` rows each (cycled), each in one reused buffer as a
    producer that makes the pixels a band at a time hands them out."""
    buffer = np.empty((pixels.shape[0], max(rows), pixels.shape[2]), dtype=pixels.dtype)
    first, k = 0, 0
    while first < pixels.shape[1]:
        count = min(rows[k % len(rows)], pixels.shape[1] - first)
        band = buffer[:, :count]
        band[...] = pixels[:, first : first + count]
        yield band
        band[...] = np.nan  # the buffer is reused: the writer must have taken the band already
        first += count
        k += 1


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("bitpix", [-32, -64])
@pytest.mark.parametrize("rows", [[1], [7, 1, 30], [1000]])
def test_fits_written_in_bands_equals_the_whole_image_written(tmp_path: Path, channels: int, bitpix: int,
                                                              rows: list[int]) -> None:
    """write_fits_bands: byte for byte the file write_fits makes of the whole image — odd sizes whose
    planes start and end inside disk blocks, 1 and 3 channels, float32 and float64 samples, bands of
    one row, of uneven sizes and one band of everything; the keywords kept."""
    from procfw.io.fits import write_fits_bands

    pixels = RNG.random((channels, 211, 97), dtype=np.float32)
    pixels[0, 3, 5] = np.nan
    keywords = [FITSKeyword("OBJECT", "M94", "target"), FITSKeyword("HISTORY", "registered", "")]
    write_fits(Image(pixels, keywords), tmp_path / "whole.fits", bitpix=bitpix)
    written = write_fits_bands(keywords, pixels.shape, _bands(pixels, rows), tmp_path / "bands.fits", bitpix=bitpix)
    assert written == tmp_path / "bands.fits"
    assert (tmp_path / "bands.fits").read_bytes() == (tmp_path / "whole.fits").read_bytes()


@pytest.mark.parametrize(("name", "bitpix"), [("out.fits.gz", -32), ("out.fits", 16)])
def test_fits_bands_that_cannot_be_streamed_are_put_together(tmp_path: Path, name: str, bitpix: int) -> None:
    """A gzipped name or integer samples: the bands make up the whole image first, the same file."""
    from procfw.io.fits import write_fits_bands

    pixels = RNG.random((3, 40, 33), dtype=np.float32)
    write_fits(Image(pixels), tmp_path / f"whole-{name}", bitpix=bitpix)
    write_fits_bands([], pixels.shape, _bands(pixels, [6]), tmp_path / name, bitpix=bitpix)
    assert np.array_equal(read_fits(tmp_path / name).pixels, read_fits(tmp_path / f"whole-{name}").pixels)


def test_fits_bands_keep_the_writes_rules(tmp_path: Path) -> None:
    """Bands that do not make up the image raise ValueError and leave no file; an existing file is
    not replaced unless asked (checked before any band is made); nothing temporary is left."""
    from procfw.io.fits import write_fits_bands

    pixels = RNG.random((3, 20, 11), dtype=np.float32)
    with pytest.raises(ValueError, match="rows"):
        write_fits_bands([], pixels.shape, [pixels[:, :19]], tmp_path / "short.fits")
    with pytest.raises(ValueError, match="does not fit"):
        write_fits_bands([], pixels.shape, [pixels[:2]], tmp_path / "wrong.fits")
    assert list(tmp_path.iterdir()) == []
    write_fits_bands([], pixels.shape, [pixels], tmp_path / "x.fits")

    def never():
        raise AssertionError("no band is made for a file that may not be replaced")
        yield

    with pytest.raises(FileExistsProcfwError):
        write_fits_bands([], pixels.shape, never(), tmp_path / "x.fits")
    write_fits_bands([], pixels.shape, [pixels * 0], tmp_path / "x.fits", overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["x.fits"]
    assert not read_fits(tmp_path / "x.fits").pixels.any()


# --------------------------------------------------------------------------- the header written last


def _stand_ins(count: int) -> list[FITSKeyword]:
    """OBJECT and ``count`` NOISExx cards (header cards: 6 structural, these, END)."""
    return [FITSKeyword("OBJECT", "M94", "target"),
            *(FITSKeyword(f"NOISE{i:02d}", 1.0, "stand-in") for i in range(count))]


@pytest.mark.parametrize(("shape", "bitpix"), [((3, 1000, 600), -32), ((1, 211, 97), -64), ((3, 211, 97), -32)])
def test_a_started_write_is_the_file_write_fits_makes_with_the_final_keywords(tmp_path: Path, shape, bitpix) -> None:
    """start_write_fits + finish: byte for byte write_fits of the image with the final keywords (values
    other than the stand-ins', as many cards), pixels written in the thread before the keywords are
    given (a frame of 7.2 MB: its first chunks reach the temporary file while finish is not called)."""
    import time

    from procfw.io.fits import start_write_fits

    pixels = RNG.random(shape, dtype=np.float32)
    pixels[0, 3, 5] = np.nan
    final = [FITSKeyword("OBJECT", "M94", "target"), FITSKeyword("NOISE00", 3.25e-4, "measured"),
             FITSKeyword("NOISE01", 0.5, "x")]
    write_fits(Image(pixels, final), tmp_path / "whole.fits", bitpix=bitpix)
    pending = start_write_fits(Image(pixels, _stand_ins(2)), tmp_path / "late.fits", bitpix=bitpix)
    assert pending is not None
    assert any(p.name.startswith(".late.fits.tmp-") for p in tmp_path.iterdir())  # set up before returning
    if pixels.nbytes > 4 << 20:  # more than the writer's staging buffer: written before finish
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
                p.name.startswith(".late.fits.tmp-") and p.stat().st_size for p in tmp_path.iterdir()):
            time.sleep(0.002)
        assert any(p.name.startswith(".late.fits.tmp-") and p.stat().st_size for p in tmp_path.iterdir())
        assert not (tmp_path / "late.fits").exists()
    assert pending.finish(final) == tmp_path / "late.fits"
    assert (tmp_path / "late.fits").read_bytes() == (tmp_path / "whole.fits").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["late.fits", "whole.fits"]


def test_a_started_write_whose_header_changes_size_or_is_abandoned_leaves_nothing(tmp_path: Path) -> None:
    """finish with keywords of another header size returns None (the caller writes the file itself),
    abandon stops the write; neither leaves a file or a temporary one; a file that exists is refused
    before anything starts; other files than plain float FITS are not started."""
    from procfw.io.fits import start_write_fits

    pixels = RNG.random((3, 300, 200), dtype=np.float32)
    pending = start_write_fits(Image(pixels, _stand_ins(29)), tmp_path / "a.fits")  # 37 cards: 2 blocks
    assert pending is not None and pending.finish(_stand_ins(28)) is None  # one card fewer: 1 block
    pending = start_write_fits(Image(pixels, _stand_ins(40)), tmp_path / "b.fits")
    assert pending is not None and pending.finish(_stand_ins(3)) is None  # a block fewer
    pending = start_write_fits(Image(pixels, _stand_ins(3)), tmp_path / "c.fits")
    assert pending is not None
    pending.abandon()
    assert list(tmp_path.iterdir()) == []
    assert start_write_fits(Image(pixels), tmp_path / "d.fits.gz") is None
    assert start_write_fits(Image(pixels), tmp_path / "d.fits", bitpix=16) is None
    write_fits(Image(pixels), tmp_path / "e.fits")
    with pytest.raises(FileExistsProcfwError):
        start_write_fits(Image(pixels), tmp_path / "e.fits")
    with pytest.raises(ImageFileError, match="does not exist"):  # raised at once, not by finish
        start_write_fits(Image(pixels), tmp_path / "missing" / "f.fits")
    pending = start_write_fits(Image(pixels * 0), tmp_path / "e.fits", overwrite=True)
    assert pending is not None and pending.finish([]) == tmp_path / "e.fits"
    assert not read_fits(tmp_path / "e.fits").pixels.any()
    assert [p.name for p in tmp_path.iterdir()] == ["e.fits"]


def test_a_started_write_that_fails_raises_from_finish_naming_the_file(tmp_path: Path, monkeypatch) -> None:
    """An error of the writer thread (the disk full) is raised by finish as an ImageFileError naming
    the file (not the temporary one), and nothing is left."""
    from procfw.io import pagecache
    from procfw.io.fits import start_write_fits

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pagecache, "_write_at", full)
    pending = start_write_fits(Image(RNG.random((3, 1000, 700), dtype=np.float32), _stand_ins(1)),
                               tmp_path / "full.fits")
    assert pending is not None
    with pytest.raises(ImageFileError, match="No space left") as error:
        pending.finish(_stand_ins(1))
    assert str(tmp_path / "full.fits") in str(error.value) and ".tmp-" not in str(error.value)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- reading in bands


@pytest.mark.parametrize("rows", [1, 4, 7, 50])
@pytest.mark.parametrize(("dtype", "shape"), [("float32", (3, 7, 5)), ("float64", (2, 9, 4)), ("int16", (3, 7, 5)),
                                              ("uint8", (7, 5)), ("int32", (1, 1, 3, 8, 3))])
def test_read_fits_bands_gives_the_pixels_of_read_fits(tmp_path: Path, dtype: str, shape: tuple[int, ...],
                                                       rows: int) -> None:
    """Consecutive bands (one buffer, reused) make up read_fits's pixels bit for bit; the image
    read with them holds read_fits's keywords, properties and sample format and a zero view."""
    data = (RNG.normal(0.3, 0.5, size=shape) * (1 if dtype.startswith("float") else 100)).astype(dtype)
    header = fits.Header([("OBJECT", "M94"), ("HISTORY", "made here")])
    if dtype == "float32":
        header["BSCALE"], header["BZERO"] = 0.5, 0.25
    path = _astropy_write(tmp_path / f"{dtype}.fits", data, header)
    whole = read_fits(path)
    image, bands = read_fits_bands(path, rows)
    assert (image.keywords, image.properties, image.sample_format) == (whole.keywords, whole.properties,
                                                                         whole.sample_format)
    assert image.pixels.shape == whole.pixels.shape and image.pixels.dtype == whole.pixels.dtype
    assert not image.pixels.flags.writeable and not image.pixels.any()
    pieces = [band.copy() for band in bands]
    assert all(piece.shape[1] == rows for piece in pieces[:-1]) and 0 < pieces[-1].shape[1] <= rows
    assert np.concatenate(pieces, axis=1).tobytes() == whole.pixels.tobytes()


def test_read_fits_bands_leaves_other_files_to_read_fits(tmp_path: Path) -> None:
    data = np.ones((3, 4, 5), dtype=np.float32)
    path = _astropy_write(tmp_path / "plain.fits", data)
    packed = tmp_path / "packed.fits.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    assert read_fits_bands(packed, 2) is None
    with pytest.raises(ImageFileError, match="no such file"):
        read_fits_bands(tmp_path / "missing.fits", 2)
    truncated = tmp_path / "truncated.fits"
    truncated.write_bytes(path.read_bytes()[: 2880 + 100])  # the header and 100 of 240 bytes of pixels
    with pytest.raises(ImageFileError):
        read_fits_bands(truncated, 2)
