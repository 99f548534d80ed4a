"""Tests of the clean-room XISF 1.0 reader/writer (procfw.io.xisf)."""

from __future__ import annotations

import base64
import hashlib
import re
import struct
import time
import zlib
from pathlib import Path

import lz4.block
import numpy as np
import pytest
import zstandard
from conftest import CORPUS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from procfw.errors import FileExistsProcfwError, ImageFileError, ParameterError
from procfw.image import FITSKeyword, Image
from procfw.io import read_image, write_image
from procfw.io import xisf_codec as codec
from procfw.io.xisf import (
    COLOR_FILTER_ARRAY_KEY,
    DISPLAY_FUNCTION_KEY,
    PROPERTY_TYPES_KEY,
    RESOLUTION_KEY,
    XISF_FORMAT,
    read_xisf,
    write_xisf,
)
from procfw.io.xisf_properties import MATRIX_TYPES, VECTOR_TYPES, parse_keyword_value

XISF_CORPUS = CORPUS / "xisf"
NS = "http://www.pixinsight.com/xisf"

FORMATS = ("UInt8", "UInt16", "UInt32", "Float32", "Float64")
CODECS = (None, "zlib", "lz4", "lz4hc", "zstd")
MAXIMA = {"UInt8": 255, "UInt16": 65535, "UInt32": 4294967295}


def corpus_file(relative: str) -> Path:
    path = XISF_CORPUS / relative
    if not path.is_file():
        pytest.skip(f"XISF corpus file {path} not available")
    return path


def build_xisf(path: Path, body: str, blob: bytes = b"", *, offset: int = 4096, declared: int | None = None) -> Path:
    """A monolithic XISF file with ``body`` inside the root element and ``blob`` at ``offset``."""
    header = (
        f'<?xml version="1.0" encoding="UTF-8"?><xisf version="1.0" xmlns="{NS}">{body}</xisf>'.encode()
        if not body.startswith("<?xml")
        else body.encode()
    )
    assert 16 + len(header) <= offset or not blob
    length = len(header) if declared is None else declared
    data = b"XISF0100" + struct.pack("<I", length) + bytes(4) + header
    if blob:
        data += bytes(offset - len(data)) + blob
    path.write_bytes(data)
    return path


def sample_pixels(sample_format: str, channels: int, height: int, width: int, seed: int) -> np.ndarray:
    """Pixels that the sample format represents exactly (so round trips compare equal)."""
    rng = np.random.default_rng(seed)
    shape = (channels, height, width)
    if sample_format in MAXIMA:
        top = MAXIMA[sample_format]
        values = rng.integers(0, top, size=shape, endpoint=True, dtype=np.uint64)
        dtype = np.float32 if top <= 65535 else np.float64
        return np.divide(values, top, dtype=dtype)
    dtype = np.float32 if sample_format == "Float32" else np.float64
    return rng.random(shape, dtype=dtype)


def expect_error(path: Path, fragment: str) -> ImageFileError:
    with pytest.raises(ImageFileError) as info:
        read_xisf(path)
    message = str(info.value)
    assert str(path) in message
    assert fragment.lower() in message.lower(), message
    return info.value


# -- the PixInsight-written corpus ----------------------------------------------------


def test_corpus_uint16_embedded() -> None:
    image = read_xisf(corpus_file("libXISF-test/test.xisf"))
    assert (image.channels, image.height, image.width) == (1, 10, 8)
    assert image.pixels.dtype == np.float32
    counts = np.rint(image.pixels * 65535).astype(int)
    assert np.allclose(counts / 65535, image.pixels, atol=0)
    assert counts[0, 0].tolist() == [5, 7, 4, 2, 1, 1, 1, 5]
    # independent decoding of the embedded base64 block: little-endian UInt16, rows of 8
    text = corpus_file("libXISF-test/test.xisf").read_bytes().decode("utf-8", "replace")
    payload = text.split('<Data encoding="base64">', 1)[1].split("</Data>", 1)[0]
    stored = np.frombuffer(base64.b64decode(payload), dtype="<u2").reshape(1, 10, 8)
    assert np.array_equal(counts, stored)
    assert counts.min() == image.keyword("DATAMIN") == 0
    assert counts.max() == image.keyword("DATAMAX") == 9
    names = [card.name for card in image.keywords]
    assert names[:3] == ["SIMPLE", "BITPIX", "NAXIS"] and len(names) == 53
    assert image.keyword("SIMPLE") is True
    assert image.keyword("BITPIX") == 16 and image.keyword("BZERO") == 32768
    assert image.keyword("INSTRUME") == "CCD Simulator"
    assert image.keyword("OBSERVER") == "Unknown"  # FITS: trailing blanks are not significant
    assert image.keyword("FRAME") == "Light"
    assert image.keyword("DATE-OBS") == "2023-01-25T16:26:06.994"
    assert image.keyword("SITELAT") == 48.39958
    card = next(c for c in image.keywords if c.name == "EXPTIME")
    assert card == FITSKeyword("EXPTIME", 1.0, "Total Exposure Time (s)")
    comments = [c.value for c in image.keywords if c.name == "COMMENT"]
    assert comments[1] == "and Astrophysics', volume 376, page 359; bibcode: 2001A&A...376..359H"
    assert image.properties["XISF:CreatorApplication"] == "PixInsight 1.8.9-1"
    assert image.properties["XISF:BlockAlignmentSize"] == 4096
    assert image.properties[PROPERTY_TYPES_KEY]["XISF:BlockAlignmentSize"] == "UInt16"
    assert image.properties[RESOLUTION_KEY] == {"horizontal": 72.0, "vertical": 72.0, "unit": "inch"}


def test_corpus_lz4_shuffled_matches_uncompressed() -> None:
    plain = read_xisf(corpus_file("libXISF-test/test.xisf"))
    packed = read_xisf(corpus_file("libXISF-test/test_lz4.xisf"))
    assert np.array_equal(plain.pixels, packed.pixels)
    assert plain.keywords == packed.keywords
    assert packed.properties["XISF:CompressionCodecs"] == "lz4+sh"


def test_corpus_attached_all_zero() -> None:
    path = corpus_file("XisfRename-test/Unit16_0s_200x200.xisf")
    image = read_xisf(path)
    assert image.pixels.shape == (1, 200, 200)
    assert not image.pixels.any()
    assert image.keywords == []
    assert image.properties["XISF:CreatorOS"] == "Windows"


def test_corpus_through_registry_and_rewrite(tmp_path: Path) -> None:
    source = read_image(corpus_file("libXISF-test/test.xisf"))
    target = write_image(source, tmp_path / "copy.xisf")
    again = read_image(target)
    assert np.array_equal(again.pixels, source.pixels)
    assert again.keywords == source.keywords
    assert again.properties["XISF:CreatorApplication"].startswith("procfw")
    assert again.properties[RESOLUTION_KEY] == source.properties[RESOLUTION_KEY]


# -- round trips ----------------------------------------------------------------------


@pytest.mark.parametrize("shuffle", [False, True], ids=["plain", "shuffle"])
@pytest.mark.parametrize("compression", CODECS, ids=[str(c) for c in CODECS])
@pytest.mark.parametrize("sample_format", FORMATS)
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    channels=st.sampled_from([1, 3]),
    height=st.integers(1, 9),
    width=st.integers(1, 13),
    seed=st.integers(0, 2**32 - 1),
)
def test_pixel_round_trip(
    tmp_path: Path,
    sample_format: str,
    compression: str | None,
    shuffle: bool,
    channels: int,
    height: int,
    width: int,
    seed: int,
) -> None:
    pixels = sample_pixels(sample_format, channels, height, width, seed)
    path = tmp_path / "round.xisf"
    write_xisf(
        Image(pixels), path, overwrite=True, sample_format=sample_format, compression=compression, shuffle=shuffle
    )
    back = read_xisf(path)
    assert back.pixels.shape == pixels.shape
    assert back.pixels.dtype == pixels.dtype
    assert np.array_equal(back.pixels, pixels)
    text = path.read_bytes()
    assert (b'colorSpace="RGB"' if channels == 3 else b'colorSpace="Gray"') in text
    if compression:
        assert f'compression="{compression}{"+sh" if shuffle else ""}:'.encode() in text


@pytest.mark.parametrize("item_size", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("length", [0, 1, 7, 64, 1001])
def test_byte_shuffling(item_size: int, length: int) -> None:
    data = bytes(np.random.default_rng(length).integers(0, 256, size=length, dtype=np.uint8))
    shuffled = codec.shuffle(data, item_size).tobytes()
    count = length // item_size
    # the i-th bytes of all items are stored together, in item order; leftover bytes stay at the end
    expected = b"".join(data[k : count * item_size : item_size] for k in range(item_size)) if count else b""
    assert shuffled == (expected + data[count * item_size :] if item_size > 1 else data)
    assert codec.unshuffle(shuffled, item_size).tobytes() == data


def test_integer_writes_clip_round_and_zero_nan(tmp_path: Path) -> None:
    pixels = np.array([[[-0.5, 0.0, 0.4 / 255, 0.6 / 255, 1.0, 7.0, np.nan]]], dtype=np.float32)
    write_xisf(Image(pixels), tmp_path / "c.xisf", sample_format="UInt8")
    back = read_xisf(tmp_path / "c.xisf").pixels * 255
    assert np.rint(back).tolist() == [[[0, 0, 0, 1, 255, 255, 0]]]


def test_float_values_outside_bounds_and_nan_kept(tmp_path: Path) -> None:
    pixels = np.array([[[-0.25, 1.5, np.nan, np.inf]]], dtype=np.float32)
    write_xisf(Image(pixels), tmp_path / "f.xisf", compression="zstd", shuffle=True)
    assert np.array_equal(read_xisf(tmp_path / "f.xisf").pixels, pixels, equal_nan=True)


def test_subblocks_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codec, "MAX_SUBBLOCK_SIZE", 1000)
    pixels = sample_pixels("UInt16", 3, 20, 30, 7)
    for name in ("zlib", "lz4", "zstd"):
        path = write_xisf(
            Image(pixels), tmp_path / f"{name}.xisf", sample_format="UInt16", compression=name, shuffle=True
        )
        assert b'subblocks="' in path.read_bytes()
        assert np.array_equal(read_xisf(path).pixels, pixels)


def test_float32_attached_block_is_a_read_only_memory_map(tmp_path: Path) -> None:
    pixels = sample_pixels("Float32", 3, 16, 16, 3)
    path = write_xisf(Image(pixels), tmp_path / "m.xisf")
    before = path.read_bytes()
    image = read_xisf(path)
    assert isinstance(image.pixels.base, np.memmap) or isinstance(image.pixels, np.memmap)
    assert not image.pixels.flags.writeable
    with pytest.raises(ValueError):
        image.pixels[0, 0, 0] = 0.5
    copy = image.copy()
    copy.pixels[0, 0, 0] = 0.5
    assert path.read_bytes() == before
    assert np.array_equal(image.pixels, pixels)


def test_overwrite_the_file_an_image_is_mapped_from(tmp_path: Path) -> None:
    pixels = sample_pixels("Float32", 3, 8, 8, 4)
    path = write_xisf(Image(pixels), tmp_path / "same.xisf")
    mapped = read_xisf(path)
    write_xisf(mapped.with_pixels(1 - mapped.pixels), path, overwrite=True)
    assert np.array_equal(mapped.pixels, pixels)  # the old map still shows the old file
    assert np.array_equal(read_xisf(path).pixels, 1 - pixels)


def test_writer_layout(tmp_path: Path) -> None:
    path = write_xisf(Image(sample_pixels("Float32", 1, 4, 5, 1)), tmp_path / "l.xisf", checksum="sha256")
    data = path.read_bytes()
    assert data[:8] == b"XISF0100" and data[12:16] == bytes(4)
    (length,) = struct.unpack("<I", data[8:12])
    header = data[16 : 16 + length].decode()
    assert header.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert 'xsi:schemaLocation="http://www.pixinsight.com/xisf http://pixinsight.com/xisf/xisf-1.0.xsd"' in header
    assert 'geometry="5:4:1" sampleFormat="Float32" bounds="0:1" colorSpace="Gray"' in header
    assert 'location="attachment:4096:80"' in header
    assert '<Property id="XISF:CreationTime" type="TimePoint" value="' in header
    assert '<Property id="XISF:CreatorApplication" type="String">procfw ' in header
    digest = hashlib.sha256(data[4096 : 4096 + 80]).hexdigest()
    assert f'checksum="sha256:{digest}"' in header
    assert not any(data[16 + length : 4096])
    no_sum = write_xisf(Image(np.zeros((1, 2, 2))), tmp_path / "n.xisf", checksum=None)
    assert b"checksum=" not in no_sum.read_bytes()


def test_big_header_pushes_data_to_next_alignment(tmp_path: Path) -> None:
    keywords = [FITSKeyword(f"K{i}", "x" * 60, "comment " * 8) for i in range(100)]
    path = write_xisf(Image(sample_pixels("Float32", 1, 3, 3, 2), keywords), tmp_path / "big.xisf")
    data = path.read_bytes()
    (length,) = struct.unpack("<I", data[8:12])
    position = int(re.search(rb'location="attachment:(\d+):36"', data).group(1))  # type: ignore[union-attr]
    assert length > 4096 and position % 4096 == 0 and 16 + length <= position < 16 + length + 4096
    assert len(data) == position + 36
    assert read_xisf(path).keywords == keywords


def test_format_object_and_registry(tmp_path: Path) -> None:
    assert XISF_FORMAT.id == "xisf" and XISF_FORMAT.extensions == (".xisf",)
    assert XISF_FORMAT.can_read and XISF_FORMAT.can_write and XISF_FORMAT.description
    image = Image(sample_pixels("Float32", 3, 5, 4, 9), [FITSKeyword("OBJECT", "M31", "")])
    target = write_image(image, tmp_path / "r.xisf")
    assert np.array_equal(read_image(target).pixels, image.pixels)
    with pytest.raises(FileExistsProcfwError):
        write_image(image, target)
    with pytest.raises(FileExistsProcfwError):
        write_xisf(image, target)
    write_xisf(image.with_pixels(image.pixels / 2), target, overwrite=True)
    assert np.array_equal(read_xisf(target).pixels, image.pixels / 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.xisf"]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("sample_format", "Int16"),
        ("compression", "bzip2"),
        ("checksum", "md5"),
        ("level", 99),
    ],
)
def test_bad_write_options(tmp_path: Path, option: str, value: object) -> None:
    kwargs: dict[str, object] = {option: value}
    if option == "level":
        kwargs["compression"] = "zlib"
    with pytest.raises(ParameterError):
        write_xisf(Image(np.zeros((1, 2, 2))), tmp_path / "x.xisf", **kwargs)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageFileError, match="does not exist"):
        write_xisf(Image(np.zeros((1, 2, 2))), tmp_path / "nope" / "x.xisf")


# -- keywords and properties ----------------------------------------------------------

KEYWORD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.rstrip),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(KEYWORD_VALUES, max_size=6), comment=st.text(max_size=30))
def test_keyword_round_trip(tmp_path: Path, values: list[object], comment: str) -> None:
    comment = "".join(ch for ch in comment if ch.isprintable())
    keywords = [FITSKeyword(f"KEY{i}", value, comment) for i, value in enumerate(values)]
    keywords += [FITSKeyword("HISTORY", "calibrated & <aligned>", ""), FITSKeyword("COMMENT", "a 'note'", "")]
    path = write_xisf(Image(np.zeros((1, 1, 1))), tmp_path / "k.xisf", overwrite=True)
    write_xisf(Image(np.zeros((1, 1, 1)), keywords), path, overwrite=True)
    assert read_xisf(path).keywords == keywords


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("T", True),
        ("F", False),
        ("'It''s   '", "It's"),
        ("''", ""),
        ("42", 42),
        ("-7", -7),
        ("0.", 0.0),
        ("1.5E+03", 1500.0),
        ("2.5D-2", 0.025),
        ("(1.0, -2.5)", complex(1, -2.5)),
        ("", None),
        ("not a value", "not a value"),
    ],
)
def test_keyword_value_parsing(text: str, value: object) -> None:
    parsed = parse_keyword_value(text)
    assert parsed == value and type(parsed) is type(value)


SCALAR_CASES = [
    ("Boolean", True),
    ("Int8", -128),
    ("UInt8", 255),
    ("Int16", -32768),
    ("UInt16", 65535),
    ("Int32", -(2**31)),
    ("UInt32", 2**32 - 1),
    ("Int64", -(2**63)),
    ("UInt64", 2**64 - 1),
    ("Int128", -(2**127)),
    ("UInt128", 2**128 - 1),
    ("Float32", 0.1),
    ("Float64", 1 / 3),
    ("Complex32", complex(0.5, -0.25)),
    ("Complex64", complex(1 / 3, 2e-300)),
    ("String", '  Ünïcödé\n\tline two & <tags> "quoted" \r\n '),
    ("String", ""),
    ("String", "control \x01 char"),
    ("TimePoint", "2015-01-23T19:52:31.46Z"),
]


@pytest.mark.parametrize(("kind", "value"), SCALAR_CASES, ids=[f"{k}-{i}" for i, (k, _) in enumerate(SCALAR_CASES)])
def test_scalar_property_round_trip(tmp_path: Path, kind: str, value: object) -> None:
    properties = {"Test:Value": value, PROPERTY_TYPES_KEY: {"Test:Value": kind}}
    path = write_xisf(Image(np.zeros((1, 1, 1)), properties=properties), tmp_path / "p.xisf")
    back = read_xisf(path).properties
    assert back[PROPERTY_TYPES_KEY]["Test:Value"] == kind
    if kind == "Float32":
        assert np.float32(back["Test:Value"]) == np.float32(value)  # type: ignore[arg-type]
    else:
        assert back["Test:Value"] == value and type(back["Test:Value"]) is type(value)


ARRAY_TYPES = sorted(VECTOR_TYPES) + sorted(MATRIX_TYPES)


@pytest.mark.parametrize("kind", ARRAY_TYPES)
@pytest.mark.parametrize("size", [0, 7, 2000], ids=["empty", "inline", "attached"])
def test_array_property_round_trip(tmp_path: Path, kind: str, size: int) -> None:
    dtype = VECTOR_TYPES.get(kind, MATRIX_TYPES.get(kind))
    assert dtype is not None
    rng = np.random.default_rng(size)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        flat = rng.integers(info.min, info.max, size=size, endpoint=True, dtype=dtype)
    elif dtype.kind == "f":
        flat = rng.normal(size=size).astype(dtype)
    else:
        flat = (rng.normal(size=size) + 1j * rng.normal(size=size)).astype(dtype)
    value = flat if kind in VECTOR_TYPES else flat.reshape((size // 10, 10) if size % 10 == 0 else (1, size))
    properties = {"Array": value}
    path = write_xisf(Image(np.zeros((1, 1, 1)), properties=properties), tmp_path / "a.xisf", compression="zlib")
    back = read_xisf(path).properties
    assert back[PROPERTY_TYPES_KEY]["Array"] == kind
    assert back["Array"].dtype == dtype and back["Array"].shape == value.shape
    assert np.array_equal(back["Array"], value)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(max_size=50),
    number=st.floats(),
    single=st.floats(width=32),
    vector=st.lists(st.floats(allow_nan=False), max_size=8),
)
def test_property_values_round_trip(
    tmp_path: Path, text: str, number: float, single: float, vector: list[float]
) -> None:
    properties = {
        "Text": text,
        "Number": number,
        "Single": np.float32(single),
        "Vector": np.array(vector, dtype=np.float64),
    }
    path = write_xisf(Image(np.zeros((1, 1, 1)), properties=properties), tmp_path / "h.xisf", overwrite=True)
    back = read_xisf(path).properties
    assert back["Text"] == text
    assert back["Number"] == number or (np.isnan(number) and np.isnan(back["Number"]))
    assert np.array_equal(np.float32(back["Single"]), np.float32(single), equal_nan=True)
    assert back[PROPERTY_TYPES_KEY]["Single"] == "Float32"
    assert np.array_equal(back["Vector"], properties["Vector"])


def test_recorded_types_and_inference(tmp_path: Path) -> None:
    properties = {
        "Small": 3,
        "Big": 2**40,
        "Huge": 2**63 + 5,
        "Flag": False,
        "Ratio": 0.5,
        "Single": np.float32(0.5),
        "Short": np.int16(-3),
        "Z": 1 + 2j,
        "When": __import__("datetime").datetime(2024, 5, 1, 12, 0, 0),
        "Bytes": b"\x00\x01\xff",
        "List": [1.5, 2.5],
        "Grid": [[1, 2], [3, 4]],
        "Kept:Int16": 12,
        "Changed:Int16": 1e6,  # no longer fits Int16: inferred again
        "bad id!": 1,
        "Unstorable": {"a": 1},
        PROPERTY_TYPES_KEY: {"Kept:Int16": "Int16", "Changed:Int16": "Int16"},
    }
    path = write_xisf(Image(np.zeros((1, 1, 1)), properties=properties), tmp_path / "t.xisf")
    back = read_xisf(path).properties
    types = back[PROPERTY_TYPES_KEY]
    expected = {
        "Small": "Int32",
        "Big": "Int64",
        "Huge": "UInt64",
        "Flag": "Boolean",
        "Ratio": "Float64",
        "Single": "Float32",
        "Short": "Int16",
        "Z": "Complex64",
        "When": "TimePoint",
        "Bytes": "UI8Vector",
        "List": "F64Vector",
        "Grid": "I64Matrix",
        "Kept:Int16": "Int16",
        "Changed:Int16": "Float64",
    }
    assert {key: types[key] for key in expected} == expected
    assert back["When"] == "2024-05-01T12:00:00Z"
    assert back["Bytes"].tolist() == [0, 1, 255]
    assert back["Grid"].tolist() == [[1, 2], [3, 4]]
    assert "bad id!" not in back and "Unstorable" not in back


def test_special_elements_round_trip(tmp_path: Path) -> None:
    display = {
        "m": [0.000735, 0.000735, 0.000735, 0.5],
        "s": [0.003758, 0.003758, 0.003758, 0.0],
        "h": [1.0, 1.0, 1.0, 1.0],
        "l": [0.0, 0.0, 0.0, 0.0],
        "r": [1.0, 1.0, 1.0, 1.0],
        "name": "AutoStretch",
    }
    cfa = {"pattern": "GRBG", "width": 2, "height": 2, "name": "GRBG Bayer Filter"}
    resolution = {"horizontal": 300.0, "vertical": 150.0, "unit": "cm"}
    properties = {
        DISPLAY_FUNCTION_KEY: display,
        COLOR_FILTER_ARRAY_KEY: cfa,
        RESOLUTION_KEY: resolution,
        "XISF:Title": "A title for the unit",
        "XISF:CreatorApplication": "Something else",
    }
    path = write_xisf(Image(np.zeros((1, 2, 2)), properties=properties), tmp_path / "s.xisf")
    text = path.read_bytes()
    assert b"<DisplayFunction " in text and b'<ColorFilterArray pattern="GRBG"' in text
    back = read_xisf(path).properties
    assert back[DISPLAY_FUNCTION_KEY] == display
    assert back[COLOR_FILTER_ARRAY_KEY] == cfa
    assert back[RESOLUTION_KEY] == resolution
    assert back["XISF:Title"] == "A title for the unit"
    assert back["XISF:CreatorApplication"].startswith("procfw")
    metadata = text[text.index(b"<Metadata>") :]
    assert b'id="XISF:Title"' in metadata


def test_malformed_special_values_are_skipped(tmp_path: Path) -> None:
    properties = {DISPLAY_FUNCTION_KEY: {"m": [0.5]}, COLOR_FILTER_ARRAY_KEY: {"pattern": "RGB", "width": 2}}
    path = write_xisf(Image(np.zeros((1, 2, 2)), properties=properties), tmp_path / "s.xisf")
    back = read_xisf(path).properties
    assert DISPLAY_FUNCTION_KEY not in back and COLOR_FILTER_ARRAY_KEY not in back


# -- files written by hand: features our writer does not produce ---------------------


def test_big_endian_normal_storage_and_bounds(tmp_path: Path) -> None:
    rgb = np.arange(2 * 3 * 3, dtype=np.uint16).reshape(2, 3, 3)  # (height, width, channels)
    blob = rgb.astype(">u2").tobytes()
    body = (
        f'<Image geometry="3:2:3" sampleFormat="UInt16" colorSpace="RGB" pixelStorage="Normal" '
        f'byteOrder="big" bounds="0:17" location="attachment:4096:{len(blob)}"/>'
    )
    image = read_xisf(build_xisf(tmp_path / "be.xisf", body, blob))
    assert image.pixels.shape == (3, 2, 3)
    assert np.allclose(image.pixels, rgb.transpose(2, 0, 1) / 17)


@pytest.mark.parametrize("encoding", ["base64", "hex"])
def test_embedded_and_inline_blocks(tmp_path: Path, encoding: str) -> None:
    values = np.array([0.0, 0.25, 0.5, 1.0], dtype="<f8")
    raw = values.tobytes()
    text = base64.b64encode(raw).decode() if encoding == "base64" else raw.hex()
    spaced = " \n ".join(text[i : i + 7] for i in range(0, len(text), 7))
    body = (
        f'<Image geometry="2:2:1" sampleFormat="Float64" bounds="0:1" location="embedded">'
        f'<Data encoding="{encoding}">{spaced}</Data></Image>'
    )
    assert np.array_equal(read_xisf(build_xisf(tmp_path / "e.xisf", body)).pixels.ravel(), values)
    body = f'<Image geometry="2:2:1" sampleFormat="Float64" bounds="0:1" location="inline:{encoding}">{spaced}</Image>'
    assert np.array_equal(read_xisf(build_xisf(tmp_path / "i.xisf", body)).pixels.ravel(), values)


def test_float_bounds_rescaled(tmp_path: Path) -> None:
    blob = np.array([0, 16384, 65535], dtype="<f4").tobytes()
    body = f'<Image geometry="3:1:1" sampleFormat="Float32" bounds="0:65535" location="attachment:4096:{len(blob)}"/>'
    pixels = read_xisf(build_xisf(tmp_path / "b.xisf", body, blob)).pixels
    assert np.allclose(pixels.ravel(), [0, 16384 / 65535, 1])


def test_embedded_zlib_with_checksum_and_uint32(tmp_path: Path) -> None:
    raw = np.array([0, 2**31, 2**32 - 1], dtype="<u4").tobytes()
    packed = zlib.compress(raw)
    digest = hashlib.sha512(packed).hexdigest()
    body = (
        f'<Image geometry="3:1:1" sampleFormat="UInt32" location="embedded">'
        f'<Data encoding="base64" compression="zlib:{len(raw)}" checksum="sha-512:{digest}">'
        f"{base64.b64encode(packed).decode()}</Data></Image>"
    )
    pixels = read_xisf(build_xisf(tmp_path / "z.xisf", body)).pixels
    assert pixels.dtype == np.float64
    assert pixels.ravel().tolist() == [0.0, 2**31 / (2**32 - 1), 1.0]


def test_properties_aliases_references_and_first_image_only(tmp_path: Path) -> None:
    vector = np.array([1.5, -2.0], dtype="<f8")
    body = (
        '<Image geometry="1:1:1" sampleFormat="UInt8" location="inline:hex">80'
        '<Property id="Flags" type="UInt" value="0x8000FFA0"/>'
        '<Property id="Neg" type="Short" value="0xFFFF"/>'
        '<Property id="Bits" type="Byte" value="0b101"/>'
        '<Property id="Coefficients" type="Vector" length="2" location="inline:base64">'
        f"{base64.b64encode(vector).decode()}</Property>"
        '<Property id="Note" type="String" location="inline:base64">VGhlIHF1aWNrIGJyb3duIGZveA==</Property>'
        '<Property id="Odd" type="Table" value="1"/>'
        '<Property id="Broken" type="Int32" value="twelve"/>'
        '<Property id="Far" type="String" location="url(http://example.com/x.txt)"/>'
        '<Reference ref="KW1"/><Reference ref="DF"/>'
        '<Thumbnail geometry="1:1:1" sampleFormat="UInt8" location="attachment:999999:1"/>'
        "</Image>"
        '<Image geometry="5:5:1" sampleFormat="UInt8" location="attachment:999999:25"/>'
        '<FITSKeyword uid="KW1" name="OBJECT" value="\'M 51\'" comment="target"/>'
        '<DisplayFunction uid="DF" m="0.5:0.5:0.5:0.5" s="0:0:0:0" h="1:1:1:1" l="0:0:0:0" r="1:1:1:1"/>'
    )
    image = read_xisf(build_xisf(tmp_path / "a.xisf", body))
    assert image.pixels.shape == (1, 1, 1) and image.pixels[0, 0, 0] == np.float32(128 / 255)
    props = image.properties
    assert props["Flags"] == 0x8000FFA0 and props["Neg"] == -1 and props["Bits"] == 5
    assert props[PROPERTY_TYPES_KEY]["Coefficients"] == "F64Vector"
    assert props["Coefficients"].tolist() == [1.5, -2.0]
    assert props["Note"] == "The quick brown fox"
    assert "Odd" not in props and "Broken" not in props and "Far" not in props
    assert image.keywords == [FITSKeyword("OBJECT", "M 51", "target")]
    assert props[DISPLAY_FUNCTION_KEY]["m"] == [0.5] * 4


# -- hostile and corrupt files --------------------------------------------------------


def good_file(tmp_path: Path, **options: object) -> Path:
    pixels = sample_pixels("Float32", 1, 32, 32, 5)
    return write_xisf(Image(pixels), tmp_path / "good.xisf", overwrite=True, **options)  # type: ignore[arg-type]


def test_bad_signature(tmp_path: Path) -> None:
    path = tmp_path / "bad.xisf"
    path.write_bytes(b"SIMPLE  =                    T" + bytes(100))
    expect_error(path, "bad signature")
    path.write_bytes(b"")
    expect_error(path, "bad signature")


def test_header_file_and_external_blocks_unsupported(tmp_path: Path) -> None:
    xish = tmp_path / "unit.xish"
    xish.write_text('<?xml version="1.0" encoding="UTF-8"?><xisf version="1.0"/>')
    expect_error(xish, ".xish")
    body = '<Image geometry="4:4:1" sampleFormat="UInt16" location="path(@header_dir/data.xisb):0x1a"/>'
    expect_error(build_xisf(tmp_path / "ext.xisf", body), "external data blocks")


@pytest.mark.parametrize(
    ("attributes", "fragment"),
    [
        ('sampleFormat="Complex32"', "sampleFormat 'Complex32'"),
        ('sampleFormat="UInt16" colorSpace="CIELab"', "colorSpace 'CIELab'"),
        ('sampleFormat="UInt16" compression="bzip2:32"', "codec 'bzip2'"),
        ('sampleFormat="UInt16" checksum="md5:00"', "checksum algorithm 'md5'"),
        ('sampleFormat="UInt16" pixelStorage="Tiled"', "pixelStorage"),
        ('sampleFormat="Float32" bounds="1:0"', "bounds"),
    ],
)
def test_unsupported_image_features(tmp_path: Path, attributes: str, fragment: str) -> None:
    body = f'<Image geometry="4:4:1" {attributes} location="attachment:4096:32"/>'
    expect_error(build_xisf(tmp_path / "u.xisf", body, bytes(32)), fragment)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("", "no Image element"),
        ('<Image geometry="4:0:1" sampleFormat="UInt8" location="attachment:4096:0"/>', "geometry"),
        ('<Image geometry="4:4:4:1" sampleFormat="UInt8" location="attachment:4096:64"/>', "3-dimensional"),
        ('<Image geometry="4:4:1" sampleFormat="UInt8"/>', "no location"),
        ('<Image geometry="4:4:1" sampleFormat="UInt8" location="attachment:4096:15"/>', "geometry needs 16"),
        ('<Image geometry="4:4:1" sampleFormat="UInt8" location="inline:base64">!!!!</Image>', "malformed base64"),
    ],
)
def test_malformed_images(tmp_path: Path, body: str, fragment: str) -> None:
    expect_error(build_xisf(tmp_path / "m.xisf", body, bytes(16)), fragment)


def test_wrong_root_and_version(tmp_path: Path) -> None:
    expect_error(build_xisf(tmp_path / "r.xisf", '<?xml version="1.0"?><fits/>'), "not <xisf>")
    expect_error(build_xisf(tmp_path / "v.xisf", f'<?xml version="1.0"?><xisf version="2.0" xmlns="{NS}"/>'), "2.0")


def test_truncated_block(tmp_path: Path) -> None:
    path = good_file(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    expect_error(path, "truncated")
    packed = good_file(tmp_path, compression="zstd")
    data = packed.read_bytes()
    packed.write_bytes(data[:-3])
    expect_error(packed, "truncated")


def test_wrong_checksum(tmp_path: Path) -> None:
    for options in ({}, {"compression": "lz4", "shuffle": True}):
        path = good_file(tmp_path, **options)
        data = bytearray(path.read_bytes())
        data[4096 + 10] ^= 0x40
        path.write_bytes(bytes(data))
        expect_error(path, "checksum mismatch")


@pytest.mark.parametrize(
    ("spelling", "algorithm"),
    [
        ("sha1", "sha1"),
        ("sha-1", "sha1"),
        ("sha256", "sha256"),
        ("sha-256", "sha256"),
        ("sha512", "sha512"),
        ("sha-512", "sha512"),
        ("sha3-256", "sha3_256"),
        ("sha3-512", "sha3_512"),
    ],
)
def test_checksum_algorithms(tmp_path: Path, spelling: str, algorithm: str) -> None:
    blob = np.arange(16, dtype=np.uint8).tobytes()
    digest = hashlib.new(algorithm, blob).hexdigest()
    for name, value in (("ok", digest), ("bad", digest[::-1])):
        body = (
            f'<Image geometry="4:4:1" sampleFormat="UInt8" location="attachment:4096:16" '
            f'checksum="{spelling}:{value}"/>'
        )
        path = build_xisf(tmp_path / f"{name}.xisf", body, blob)
        if name == "ok":
            assert np.array_equal(np.rint(read_xisf(path).pixels.ravel() * 255), np.arange(16))
        else:
            expect_error(path, "checksum mismatch")
    if "-" not in spelling or spelling.startswith("sha3"):
        written = write_xisf(Image(np.zeros((1, 2, 2))), tmp_path / "w.xisf", checksum=spelling)
        assert f'checksum="{spelling}:'.encode() in written.read_bytes()
        read_xisf(written)


def test_oversized_and_truncated_header(tmp_path: Path) -> None:
    path = good_file(tmp_path)
    data = bytearray(path.read_bytes())
    data[8:12] = struct.pack("<I", 0xFFFFFFF0)
    path.write_bytes(bytes(data))
    start = time.perf_counter()
    expect_error(path, "exceeds the 64 MiB limit")
    assert time.perf_counter() - start < 1
    data[8:12] = struct.pack("<I", len(data))
    path.write_bytes(bytes(data))
    expect_error(path, "exceeds the file size")


def test_malformed_xml(tmp_path: Path) -> None:
    expect_error(build_xisf(tmp_path / "x.xisf", '<Image geometry="1:1:1"'), "malformed XML")
    path = build_xisf(tmp_path / "y.xisf", '<?xml version="1.0" encoding="UTF-16"?><xisf version="1.0"/>')
    expect_error(path, "not UTF-8")
    path = build_xisf(tmp_path / "z.xisf", "<Image geometry='\xff'/>")
    data = bytearray(path.read_bytes())
    data[data.index(b"\xc3\xbf")] = 0xFF
    path.write_bytes(bytes(data))
    expect_error(path, "not valid UTF-8")


BILLION_LAUGHS = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE xisf [\n<!ENTITY lol "lol">\n'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i else "&lol;" * 10}">\n' for i in range(10))
    + f']>\n<xisf version="1.0" xmlns="{NS}"><Image geometry="1:1:1" sampleFormat="UInt8" '
    'location="inline:hex">00<FITSKeyword name="X" value="&lol9;" comment=""/></Image></xisf>'
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE xisf [<!ENTITY leak SYSTEM "file:///etc/passwd">]>'
    f'<xisf version="1.0" xmlns="{NS}"><Image geometry="1:1:1" sampleFormat="UInt8" location="inline:hex">00'
    '<FITSKeyword name="X" value="&leak;" comment=""/></Image></xisf>'
)


@pytest.mark.parametrize("document", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"])
def test_dtd_and_entities_refused(tmp_path: Path, document: str) -> None:
    path = build_xisf(tmp_path / "dtd.xisf", document)
    start = time.perf_counter()
    expect_error(path, "DOCTYPE")
    assert time.perf_counter() - start < 1


def test_undeclared_entity_is_malformed(tmp_path: Path) -> None:
    body = '<Image geometry="1:1:1" sampleFormat="UInt8" location="inline:hex">00&lol;</Image>'
    expect_error(build_xisf(tmp_path / "e.xisf", body), "malformed XML")


def _bomb_stream(name: str, size: int) -> bytes:
    zeros = bytes(size)
    if name == "zlib":
        return zlib.compress(zeros, 9)
    if name == "lz4":
        return lz4.block.compress(zeros, store_size=False)
    return zstandard.ZstdCompressor().compress(zeros)


@pytest.mark.parametrize("name", ["zlib", "lz4", "zstd"])
def test_decompression_bomb_expanding_beyond_declared_size(tmp_path: Path, name: str) -> None:
    stream = _bomb_stream(name, 64 << 20)  # 64 MiB of zeros behind a 16-byte image
    body = (
        f'<Image geometry="4:4:1" sampleFormat="UInt8" compression="{name}:16" '
        f'location="attachment:4096:{len(stream)}"/>'
    )
    path = build_xisf(tmp_path / "bomb.xisf", body, stream)
    start = time.perf_counter()
    expect_error(path, "expands beyond the declared 16 bytes")
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize("name", ["zlib", "lz4", "zstd"])
def test_decompression_bomb_impossible_declared_size(tmp_path: Path, name: str) -> None:
    stream = _bomb_stream(name, 4096)
    size = 200_000 * 200_000 * 4
    body = (
        f'<Image geometry="200000:200000:1" sampleFormat="Float32" bounds="0:1" compression="{name}:{size}" '
        f'location="attachment:4096:{len(stream)}"/>'
    )
    path = build_xisf(tmp_path / "bomb.xisf", body, stream)
    start = time.perf_counter()
    expect_error(path, "decompression bomb")
    assert time.perf_counter() - start < 1


def test_unsized_compressed_property_is_capped(tmp_path: Path) -> None:
    stream = zstandard.ZstdCompressor().compress(bytes(1 << 16))
    body = (
        '<Image geometry="1:1:1" sampleFormat="UInt8" location="inline:hex">00'
        f'<Property id="Text" type="String" compression="zstd:{1 << 31}" location="attachment:4096:{len(stream)}"/>'
        "</Image>"
    )
    expect_error(build_xisf(tmp_path / "p.xisf", body, stream), "for one property")


def test_declared_size_must_match_geometry(tmp_path: Path) -> None:
    stream = zlib.compress(bytes(64))
    where = f"attachment:4096:{len(stream)}"
    body = f'<Image geometry="4:4:1" sampleFormat="UInt8" compression="zlib:64" location="{where}"/>'
    expect_error(build_xisf(tmp_path / "s.xisf", body, stream), "geometry needs 16")


def test_corrupt_compressed_streams(tmp_path: Path) -> None:
    for name in ("zlib", "lz4", "zstd"):
        stream = bytes(range(200))
        body = (
            f'<Image geometry="10:10:1" sampleFormat="UInt8" compression="{name}:100" '
            f'location="attachment:4096:{len(stream)}"/>'
        )
        error = expect_error(build_xisf(tmp_path / f"{name}.xisf", body, stream), name)
        assert "corrupt" in error.problem or "decompresses to" in error.problem


def test_missing_file(tmp_path: Path) -> None:
    expect_error(tmp_path / "absent.xisf", "cannot read")


# -- interoperability with procfw's FITS format -------------------------------------


def test_fits_to_xisf_to_fits(tmp_path: Path) -> None:
    fits = pytest.importorskip("procfw.io.fits")
    pixels = sample_pixels("UInt16", 3, 6, 5, 11)
    keywords = [
        FITSKeyword("OBJECT", "M 42", "target name"),
        FITSKeyword("EXPTIME", 300.0, "seconds"),
        FITSKeyword("XBINNING", 2, ""),
        FITSKeyword("ISCOLOR", True, "flag"),
        FITSKeyword("HISTORY", "calibrated", ""),
        FITSKeyword("COMMENT", "a comment card", ""),
    ]
    first = fits.write_fits(Image(pixels, keywords), tmp_path / "a.fits", bitpix=16)
    from_fits = fits.read_fits(first)
    xisf_path = write_xisf(from_fits, tmp_path / "b.xisf", sample_format="UInt16", compression="zstd", shuffle=True)
    from_xisf = read_xisf(xisf_path)
    assert np.array_equal(from_xisf.pixels, from_fits.pixels)
    assert from_xisf.keywords == from_fits.keywords
    second = fits.read_fits(fits.write_fits(from_xisf, tmp_path / "c.fits", bitpix=16))
    assert np.array_equal(second.pixels, from_fits.pixels)
    assert second.keywords == from_fits.keywords
    for card in keywords:
        assert any(k.name == card.name and k.value == card.value for k in second.keywords), card
