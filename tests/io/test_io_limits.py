"""Decode-size limits (procfw.io.limits) and the XISF header's refusal of DTDs in any encoding."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import zstandard

from procfw.errors import ImageFileError
from procfw.io import limits, read_image
from procfw.io.xisf import read_xisf

NS = "http://www.pixinsight.com/xisf"


def fits_header(*cards: str) -> bytes:
    return "".join(card.ljust(80) for card in (*cards, "END")).ljust(2880).encode("ascii")


def image_header(bitpix: int, *axes: int) -> bytes:
    cards = ["SIMPLE  =                    T", f"BITPIX  = {bitpix:>20}", f"NAXIS   = {len(axes):>20}"]
    cards += [f"{f'NAXIS{i}':<8}= {n:>20}" for i, n in enumerate(axes, start=1)]
    return fits_header(*cards)


def xisf_file(path: Path, body: str, blob: bytes = b"", *, header: bytes | None = None) -> Path:
    """A monolithic XISF file: ``body`` inside <xisf>, ``blob`` attached at 4096."""
    if header is None:
        header = f'<?xml version="1.0" encoding="UTF-8"?><xisf version="1.0" xmlns="{NS}">{body}</xisf>'.encode()
    data = b"XISF0100" + struct.pack("<I", len(header)) + bytes(4) + header
    if blob:
        assert len(data) <= 4096
        data += bytes(4096 - len(data)) + blob
    path.write_bytes(data)
    return path


def refused(path: Path, *fragments: str) -> str:
    with pytest.raises(ImageFileError) as info:
        read_image(path)
    message = str(info.value)
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment.lower() in message.lower(), message
    return message


# -- item 3: entities refused whatever the encoding ----------------------------------------

LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">'
    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    f'<xisf version="1.0" xmlns="{NS}"><Image geometry="1:1:1" sampleFormat="UInt8" location="inline:hex">00'
    '<FITSKeyword name="BIG" value="&c;" comment=""/></Image></xisf>'
)


@pytest.mark.parametrize(
    "encoding", ["utf-16-be", "utf-16-le", "utf-16", "utf-8", "utf-8-sig", "utf-32-be"]
)
def test_xisf_doctype_and_entities_refused_in_any_encoding(tmp_path: Path, encoding: str) -> None:
    path = xisf_file(tmp_path / f"ent-{encoding}.xisf", "", header=LAUGHS.encode(encoding))
    message = refused(path)
    assert "BIG" not in message


def test_xisf_utf16_header_without_bom_does_not_expand_entities(tmp_path: Path) -> None:
    # The report's case: the raw-bytes check missed '<!DOCTYPE' between the NUL bytes of UTF-16BE.
    path = xisf_file(tmp_path / "utf16.xisf", "", header=LAUGHS.encode("utf-16-be"))
    refused(path, "not UTF-8")


def test_xisf_doctype_refused_by_the_parser(tmp_path: Path) -> None:
    # Refused by the expat handler (the message says which declaration), not by a byte search.
    header = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE xisf SYSTEM "file:///etc/passwd">'
        f'<xisf version="1.0" xmlns="{NS}"/>'
    ).encode()
    refused(xisf_file(tmp_path / "dtd.xisf", "", header=header), "document type declaration")


def test_xisf_internal_entity_in_utf8_is_refused(tmp_path: Path) -> None:
    refused(xisf_file(tmp_path / "e.xisf", "", header=LAUGHS.encode()), "declaration")


def test_xisf_header_still_parses_namespaces_and_attributes(tmp_path: Path) -> None:
    body = (
        '<Image geometry="2:1:1" sampleFormat="UInt8" location="inline:hex">00ff'
        '<FITSKeyword name="OBJECT" value="\'M31 &amp; M32\'" comment="tab&#9;here"/></Image>'
    )
    image = read_xisf(xisf_file(tmp_path / "ok.xisf", body))
    assert image.keywords[0].value == "M31 & M32"
    assert image.keywords[0].comment == "tab\there"
    assert np.allclose(image.pixels.ravel(), [0, 1])


# -- item 4: declared sizes checked against the limits before allocation -------------------


def test_limits_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(limits.IMAGE_BYTES_VARIABLE, raising=False)
    monkeypatch.delenv(limits.PROPERTY_BYTES_VARIABLE, raising=False)
    assert limits.max_image_bytes() == 4 << 30
    assert limits.max_property_bytes() == 256 << 20
    monkeypatch.setenv(limits.IMAGE_BYTES_VARIABLE, "512M")
    monkeypatch.setenv(limits.PROPERTY_BYTES_VARIABLE, "1024")
    assert limits.max_image_bytes() == 512 << 20
    assert limits.max_property_bytes() == 1024
    with limits.limits(image_bytes=7):
        assert limits.max_image_bytes() == 7
        assert limits.max_property_bytes() == 1024
    assert limits.max_image_bytes() == 512 << 20
    monkeypatch.setenv(limits.IMAGE_BYTES_VARIABLE, "lots")
    with pytest.raises(ImageFileError, match="PROCFW_MAX_IMAGE_BYTES='lots' is not a byte count"):
        limits.max_image_bytes()
    with pytest.raises(ValueError, match="byte count"):
        limits.set_limits(image_bytes=-1)


def test_gzip_fits_bomb_refused_from_the_header_before_decompressing(tmp_path: Path) -> None:
    # Only the header is stored: if the data were decompressed first this would be a
    # 'truncated' error; the limit must answer from NAXISn x BITPIX alone.
    path = tmp_path / "bomb.fits.gz"
    path.write_bytes(gzip.compress(image_header(-32, 16384, 16384)))
    with limits.limits(image_bytes=64 << 20):
        message = refused(path, "16384x16384", "1073741824", "67108864", "PROCFW_MAX_IMAGE_BYTES", "set_limits")
    assert "truncated" not in message


def test_gzip_fits_bomb_with_data(tmp_path: Path) -> None:
    path = tmp_path / "zeros.fits.gz"
    with gzip.open(path, "wb", compresslevel=1) as stream:
        stream.write(image_header(16, 2048, 2048))
        stream.write(bytes(2 * 2048 * 2048))
    with limits.limits(image_bytes=1 << 20):
        refused(path, "8388608 bytes", "limit of 1048576")
    assert read_image(path).pixels.shape == (1, 2048, 2048)  # within the default limit


def test_environment_variable_limits_fits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "small.fits"
    path.write_bytes(image_header(8, 64, 64) + bytes(2880 * 2))
    monkeypatch.setenv("PROCFW_MAX_IMAGE_BYTES", "1K")
    refused(path, "4096 bytes", "limit of 1024")
    monkeypatch.setenv("PROCFW_MAX_IMAGE_BYTES", "4K")
    assert read_image(path).pixels.shape == (1, 64, 64)


def test_fits_huge_naxis_refused_by_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.fits"
    path.write_bytes(image_header(-64, 10**9, 10**9) + bytes(2880))
    refused(path, "declares 8000000000000000000 bytes")


def test_xisf_zstd_bomb_refused_before_decompressing(tmp_path: Path) -> None:
    size = 64 << 20
    stream = zstandard.ZstdCompressor(level=3).compress(bytes(size))
    assert len(stream) < 40_000
    body = (
        f'<Image geometry="4096:4096:1" sampleFormat="Float32" compression="zstd:{size}" '
        f'location="attachment:4096:{len(stream)}"/>'
    )
    path = xisf_file(tmp_path / "zbomb.xisf", body, stream)
    with limits.limits(image_bytes=16 << 20):
        refused(path, "geometry 4096:4096:1", str(size), "limit of 16777216", "PROCFW_MAX_IMAGE_BYTES")


@pytest.mark.parametrize("codec", ["zlib", "lz4"])
def test_xisf_compressed_image_over_limit(tmp_path: Path, codec: str) -> None:
    raw = bytes(1 << 20)
    if codec == "zlib":
        stream = zlib.compress(raw)
    else:
        import lz4.block

        stream = lz4.block.compress(raw, store_size=False)
    body = (
        f'<Image geometry="1024:1024:1" sampleFormat="UInt8" compression="{codec}:{len(raw)}" '
        f'location="attachment:4096:{len(stream)}"/>'
    )
    path = xisf_file(tmp_path / f"{codec}.xisf", body, stream)
    with limits.limits(image_bytes=1000):
        refused(path, "1048576 bytes")
    assert read_xisf(path).pixels.shape == (1, 1024, 1024)


def test_xisf_uncompressed_geometry_over_limit_refused_before_reading(tmp_path: Path) -> None:
    body = '<Image geometry="100000:100000:3" sampleFormat="Float64" location="attachment:4096:240000000000"/>'
    refused(xisf_file(tmp_path / "geo.xisf", body), "240000000000 bytes", "limit of 4294967296")


def test_xisf_string_property_over_property_limit(tmp_path: Path) -> None:
    size = 4 << 20
    stream = zstandard.ZstdCompressor().compress(b"x" * size)
    body = (
        '<Image geometry="1:1:1" sampleFormat="UInt8" location="inline:hex">00'
        f'<Property id="Big" type="String" compression="zstd:{size}" location="attachment:4096:{len(stream)}"/>'
        "</Image>"
    )
    path = xisf_file(tmp_path / "str.xisf", body, stream)
    with limits.limits(property_bytes=1 << 20):
        refused(path, "property 'Big'", str(size), "PROCFW_MAX_PROPERTY_BYTES")
    assert read_xisf(path).properties["Big"] == "x" * size


def test_xisf_default_property_limit_refuses_a_gigabyte_string(tmp_path: Path) -> None:
    size = 1 << 30
    stream = b"\0" * 40_000  # long enough that the codec's ratio bound alone would not refuse it
    body = (
        '<Image geometry="1:1:1" sampleFormat="UInt8" location="inline:hex">00'
        f'<Property id="Huge" type="String" compression="zstd:{size}" location="attachment:4096:{len(stream)}"/>'
        "</Image>"
    )
    refused(xisf_file(tmp_path / "gib.xisf", body, stream), "1073741824", "limit of 268435456")


def test_xisf_vector_property_length_over_limit(tmp_path: Path) -> None:
    body = (
        '<Image geometry="1:1:1" sampleFormat="UInt8" location="inline:hex">00'
        '<Property id="V" type="F64Vector" length="100000000" location="inline:base64">AAAA</Property>'
        "</Image>"
    )
    refused(xisf_file(tmp_path / "vec.xisf", body), "property 'V'", "800000000")


def test_png_dimensions_over_limit(tmp_path: Path) -> None:
    ihdr = struct.pack(">IIBBBBB", 70000, 70000, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    path = tmp_path / "wide.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk)
    refused(path, "70000x70000x3", "PROCFW_MAX_IMAGE_BYTES")


def test_tiff_dimensions_over_limit(tmp_path: Path) -> None:
    import tifffile

    path = tmp_path / "t.tif"
    tifffile.imwrite(path, np.zeros((64, 64), np.uint16))
    with limits.limits(image_bytes=1024):
        refused(path, "8192 bytes", "limit of 1024")


# -- the reproducers at default settings: refused by the compression-ratio rule ----------


def test_default_settings_refuse_a_megabyte_gzip_fits_of_a_gigabyte(tmp_path: Path) -> None:
    path = tmp_path / "bomb.fits.gz"
    with gzip.open(path, "wb", compresslevel=9) as stream:
        stream.write(image_header(-32, 16384, 16384))
        zeros = bytes(64 << 20)
        for _ in range(16):
            stream.write(zeros)
    assert path.stat().st_size < 1_200_000
    refused(path, "1073741824", "times", "PROCFW_MAX_COMPRESSION_RATIO")


def test_default_settings_refuse_a_small_zstd_xisf_of_a_gigabyte(tmp_path: Path) -> None:
    size = 1 << 30
    compressor = zstandard.ZstdCompressor(level=3).compressobj()
    chunk = bytes(64 << 20)
    stream = b"".join(compressor.compress(chunk) for _ in range(16)) + compressor.flush()
    assert len(stream) < 60_000
    body = (
        f'<Image geometry="16384:16384:1" sampleFormat="Float32" compression="zstd:{size}" '
        f'location="attachment:4096:{len(stream)}"/>'
    )
    path = xisf_file(tmp_path / "zbomb.xisf", body, stream)
    refused(path, str(size), "times", "PROCFW_MAX_COMPRESSION_RATIO")


def test_the_ratio_rule_can_be_turned_off_and_spares_small_data(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "zeros.fits.gz"
    with gzip.open(path, "wb", compresslevel=9) as stream:  # 16 MiB of zeros: far over 100x, under the floor
        stream.write(image_header(16, 4096, 2048))
        stream.write(bytes(2 * 4096 * 2048))
    assert read_image(path).pixels.shape == (1, 2048, 4096)
    assert limits.max_compression_ratio() == limits.DEFAULT_MAX_COMPRESSION_RATIO
    monkeypatch.setenv("PROCFW_MAX_COMPRESSION_RATIO", "0")
    assert limits.max_compression_ratio() == 0
    monkeypatch.setenv("PROCFW_MAX_COMPRESSION_RATIO", "lots")
    with pytest.raises(ImageFileError, match="whole number"):
        limits.max_compression_ratio()
