"""Hostile image files: each is made here into ``tmp_path`` and opened by a child ``procfw``.

Every case runs ``procfw run -c 'open "FILE"'`` through :func:`hostile.harness.run_case`
(time and address-space limits).  A malformed file must end in a *clean error* whose
message names the file; a decompression bomb must be refused by the decode-size limit
(:mod:`procfw.io.limits`), not by running out of memory; an unusual but valid file may
load.  Nothing hostile is stored in the repository.
"""

from __future__ import annotations

import base64
import gzip
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import lz4.block
import numpy as np
import pytest
import zstandard

from hostile.harness import run_case

NS = "http://www.pixinsight.com/xisf"
MALFORMED, BOMB, UNUSUAL = "malformed", "bomb", "unusual"


# -- builders ---------------------------------------------------------------------------


def card(key: str, value: object = None, *, raw: str | None = None) -> str:
    if raw is not None:
        return f"{key:<8}= {raw}".ljust(80)[:80]
    if value is None:
        return key.ljust(80)
    if isinstance(value, bool):
        text = "T" if value else "F"
    elif isinstance(value, str):
        text = "'" + value.replace("'", "''").ljust(8) + "'"
    else:
        text = str(value)
    return f"{key:<8}= {text:>20}".ljust(80)[:80]


def header(*cards: str, end: bool = True) -> bytes:
    text = "".join(cards) + ("END".ljust(80) if end else "")
    padded = -len(text) % 2880
    return (text + " " * padded).encode("ascii")


def image_cards(bitpix: object, *axes: object, naxis: object = None) -> list[str]:
    cards = [card("SIMPLE", True), card("BITPIX", bitpix), card("NAXIS", len(axes) if naxis is None else naxis)]
    cards += [card(f"NAXIS{i}", n) for i, n in enumerate(axes, start=1)]
    return cards


def fits_image(bitpix: int, *axes: int, extra: tuple[str, ...] = (), data: bytes | None = None) -> bytes:
    size = abs(bitpix) // 8 * int(np.prod(axes))
    body = bytes(size) if data is None else data
    return header(*image_cards(bitpix, *axes), *extra) + body + bytes(-len(body) % 2880)


def gzip_zeros(head: bytes, nbytes: int, level: int = 6) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # gzip wrapper
    parts = [compressor.compress(head)]
    chunk = bytes(1 << 24)
    left = nbytes
    while left > 0:
        parts.append(compressor.compress(chunk[: min(left, len(chunk))]))
        left -= len(chunk)
    parts.append(compressor.flush())
    return b"".join(parts)


def xisf(body: str = "", blob: bytes = b"", *, xml: bytes | None = None, declared: int | None = None) -> bytes:
    if xml is None:
        xml = f'<?xml version="1.0" encoding="UTF-8"?><xisf version="1.0" xmlns="{NS}">{body}</xisf>'.encode()
    length = len(xml) if declared is None else declared
    data = b"XISF0100" + struct.pack("<I", length) + bytes(4) + xml
    if blob:
        data += bytes(max(0, 4096 - len(data))) + blob
    return data


def attached_image(geometry: str, fmt: str, blob: bytes, compression: str = "", extra: str = "") -> bytes:
    where = f"attachment:4096:{len(blob)}"
    comp = f' compression="{compression}"' if compression else ""
    return xisf(f'<Image geometry="{geometry}" sampleFormat="{fmt}"{comp} location="{where}"{extra}/>', blob)


def tiny_image(children: str) -> str:
    return f'<Image geometry="1:1:1" sampleFormat="UInt8" location="inline:hex">00{children}</Image>'


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png(width: int, height: int, depth: int = 8, colour: int = 0, idat: bytes | None = None, end: bool = True) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    if idat is None:
        row = bytes(1 + width * (2 if depth == 16 else 1))
        idat = zlib.compress(row * height)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
    return data + (png_chunk(b"IEND", b"") if end else b"")


def tiff_bytes(array: np.ndarray) -> bytes:
    import io

    import tifffile

    stream = io.BytesIO()
    tifffile.imwrite(stream, array)
    return stream.getvalue()


# 4.8 million characters from a 1 kB header: under expat's own amplification guard (8 MiB),
# so only procfw's refusal of the DTD stops it.
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">'
    + "".join(f'<!ENTITY {b} "{("&" + a + ";") * 10}">' for a, b in zip("abcde", "bcdef"))
    + f']><xisf version="1.0" xmlns="{NS}">'
    + tiny_image('<FITSKeyword name="BIG" value="&f;" comment=""/>')
    + "</xisf>"
)
EXTERNAL = (
    f'<?xml version="1.0"?><!DOCTYPE xisf [<!ENTITY e SYSTEM "file:///etc/passwd">]><xisf version="1.0" '
    f'xmlns="{NS}">' + tiny_image('<FITSKeyword name="E" value="&e;" comment=""/>') + "</xisf>"
)


# -- the cases --------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One hostile file: its name, how to make its bytes, what must happen."""

    name: str
    make: Callable[[], bytes]
    expect: str = MALFORMED
    env: dict[str, str] = field(default_factory=dict)
    memory_mb: int = 1536


def _valid_fits_then(tail: bytes) -> bytes:
    return fits_image(8, 4, 4) + tail


def _zlib_zeros(nbytes: int) -> bytes:
    return zlib.compress(bytes(nbytes), 9)


CASES: list[Case] = [
    # ---- FITS, plain
    Case("empty.fits", lambda: b""),
    Case("simple-card-only.fits", lambda: card("SIMPLE", True).encode()),
    Case("no-end-card.fits", lambda: header(*image_cards(8, 4, 4), end=False) + bytes(2880)),
    Case("truncated-data.fits", lambda: header(*image_cards(-32, 100, 100)) + bytes(2880)),
    Case("truncated-header.fits", lambda: header(*image_cards(8, 4, 4))[:1000]),
    Case("bitpix-7.fits", lambda: fits_image(8, 4, 4).replace(card("BITPIX", 8).encode(), card("BITPIX", 7).encode())),
    Case("bitpix-string.fits", lambda: header(*image_cards("abc", 4, 4)) + bytes(2880)),
    Case("bitpix-missing.fits", lambda: header(card("SIMPLE", True), card("NAXIS", 2), card("NAXIS1", 4),
                                               card("NAXIS2", 4)) + bytes(2880)),
    Case("bitpix-float.fits", lambda: header(*image_cards(16.5, 4, 4)) + bytes(2880)),
    Case("naxis-1000.fits", lambda: header(*image_cards(8, naxis=1000)) + bytes(2880)),
    Case("naxis-negative.fits", lambda: header(*image_cards(8, naxis=-1)) + bytes(2880)),
    Case("naxis1-negative.fits", lambda: header(*image_cards(8, -5, 4)) + bytes(2880)),
    Case("naxis-huge.fits", lambda: header(*image_cards(-64, 10**9, 10**9)) + bytes(2880)),
    Case("naxis-overflow.fits", lambda: header(*image_cards(16, 2**62, 8)) + bytes(2880)),
    Case("naxis-missing-axis.fits", lambda: header(*image_cards(8, 4, naxis=2)) + bytes(2880)),
    Case("naxis-1d.fits", lambda: fits_image(8, 16)),
    Case("naxis-4d.fits", lambda: fits_image(8, 2, 2, 2, 2)),
    Case("naxis-0-only.fits", lambda: header(*image_cards(8))),
    Case("zero-width.fits", lambda: header(*image_cards(8, 0, 4))),
    Case("bzero-string.fits", lambda: fits_image(16, 4, 4, extra=(card("BZERO", "xyz"),)), UNUSUAL),
    Case("bzero-garbage.fits", lambda: fits_image(16, 4, 4, extra=(card("BZERO", raw="1.0.0.0"),)), UNUSUAL),
    Case("bscale-zero.fits", lambda: fits_image(16, 4, 4, extra=(card("BSCALE", 0),)), UNUSUAL),
    Case("bscale-nan.fits", lambda: fits_image(-32, 4, 4, extra=(card("BSCALE", raw="NAN"),)), UNUSUAL),
    Case("blank-on-float.fits", lambda: fits_image(-32, 4, 4, extra=(card("BLANK", 5),)), UNUSUAL),
    Case("nan-and-inf.fits", lambda: fits_image(-32, 2, 2, data=np.array([np.nan, np.inf, -np.inf, 1e38],
                                                                           ">f4").tobytes()), UNUSUAL),
    Case("random-junk.fits", lambda: np.random.default_rng(1).bytes(5000)),
    Case("png-named.fits", lambda: png(4, 4)),
    Case("long-header.fits", lambda: fits_image(8, 4, 4, extra=tuple(card("COMMENT") for _ in range(20000))),
         UNUSUAL),
    Case("bad-extension.fits", lambda: _valid_fits_then(b"XTENSION= 'GARBAGE' " + bytes(2860)), UNUSUAL),
    Case("huge-extension.fits", lambda: header(*image_cards(8), card("EXTEND", True))
         + header(card("XTENSION", "IMAGE"), card("BITPIX", -64), card("NAXIS", 2), card("NAXIS1", 10**9),
                  card("NAXIS2", 10**9), card("PCOUNT", 0), card("GCOUNT", 1))),
    Case("unparsable-cards.fits", lambda: fits_image(8, 4, 4, extra=("OBJECT  = 'unterminated".ljust(80),
                                                                     "\x01\x02junk".ljust(80))), UNUSUAL),
    # ---- FITS, gzipped
    Case("bomb-header-only.fits.gz", lambda: gzip.compress(header(*image_cards(-32, 16384, 16384))), BOMB,
         {"PROCFW_MAX_IMAGE_BYTES": "64M"}),
    Case("bomb-1gib.fits.gz", lambda: gzip_zeros(header(*image_cards(-32, 16384, 16384)), 1 << 30, 9), BOMB,
         {"PROCFW_MAX_IMAGE_BYTES": "256M"}, memory_mb=512),
    Case("bomb-huge-naxis.fits.gz", lambda: gzip.compress(header(*image_cards(-64, 10**9, 10**9)) + bytes(1 << 20)),
         BOMB),
    Case("gzip-truncated.fits.gz", lambda: gzip_zeros(header(*image_cards(16, 512, 512)), 2 * 512 * 512)[:300]),
    Case("gzip-bad-crc.fits.gz", lambda: (lambda d: d[:-8] + b"\0\0\0\0" + d[-4:])(gzip.compress(fits_image(8, 4, 4))),
         UNUSUAL),
    Case("gzip-junk.fits.gz", lambda: gzip.compress(np.random.default_rng(2).bytes(4000))),
    Case("gzip-empty.fits.gz", lambda: gzip.compress(b"")),
    Case("gzip-not-gzip.fits.gz", lambda: b"\x1f\x8b" + np.random.default_rng(3).bytes(500)),
    Case("gzip-two-members.fits.gz", lambda: gzip.compress(fits_image(8, 4, 4)) + gzip.compress(b"trailing"),
         UNUSUAL),
    Case("gzip-short-data.fits.gz", lambda: gzip.compress(header(*image_cards(-32, 64, 64)) + bytes(100))),
    # ---- XISF structure
    Case("empty.xisf", lambda: b""),
    Case("signature-only.xisf", lambda: b"XISF0100"),
    Case("bad-signature.xisf", lambda: b"XISF0200" + bytes(200)),
    Case("header-past-eof.xisf", lambda: xisf(tiny_image(""), declared=100000)),
    Case("header-4gib.xisf", lambda: xisf(tiny_image(""), declared=0xFFFFFFFF)),
    Case("bad-xml.xisf", lambda: xisf(xml=b'<?xml version="1.0"?><xisf version="1.0"><Image</xisf>')),
    Case("not-xisf-root.xisf", lambda: xisf(xml=b'<?xml version="1.0"?><html/>')),
    Case("version-2.xisf", lambda: xisf(xml=f'<xisf version="2.0" xmlns="{NS}"/>'.encode())),
    Case("no-image.xisf", lambda: xisf("<Metadata/>")),
    Case("deep-nesting.xisf", lambda: xisf("<a>" * 50000 + "</a>" * 50000 + tiny_image("")), UNUSUAL),
    Case("zero-geometry.xisf", lambda: xisf('<Image geometry="0:0:1" sampleFormat="UInt8" location="inline:hex"/>')),
    Case("text-geometry.xisf", lambda: xisf('<Image geometry="a:b:c" sampleFormat="UInt8" location="inline:hex"/>')),
    Case("negative-geometry.xisf", lambda: attached_image("-5:5:1", "UInt8", bytes(25))),
    Case("huge-geometry.xisf", lambda: attached_image("4294967295:4294967295:4294967295", "Float64", bytes(64))),
    Case("bad-sample-format.xisf", lambda: attached_image("4:4:1", "Int8", bytes(16))),
    Case("offset-past-eof.xisf", lambda: xisf('<Image geometry="4:4:1" sampleFormat="UInt8" '
                                              'location="attachment:999999999:16"/>')),
    Case("size-past-eof.xisf", lambda: xisf('<Image geometry="4:4:1" sampleFormat="UInt8" '
                                            'location="attachment:4096:16"/>', bytes(8))),
    Case("size-mismatch.xisf", lambda: attached_image("4:4:1", "UInt16", bytes(16))),
    Case("offset-into-header.xisf", lambda: xisf('<Image geometry="4:4:1" sampleFormat="UInt8" '
                                                 'location="attachment:0:16"/>'), UNUSUAL),
    Case("external-block.xisf", lambda: xisf('<Image geometry="4:4:1" sampleFormat="UInt8" '
                                             'location="url(http://example.invalid/x)"/>')),
    Case("odd-hex.xisf", lambda: xisf('<Image geometry="1:1:1" sampleFormat="UInt8" location="inline:hex">0</Image>')),
    Case("checksum-mismatch.xisf", lambda: attached_image("4:4:1", "UInt8", bytes(16),
                                                          extra=' checksum="sha1:' + "0" * 40 + '"')),
    # ---- XISF compression
    Case("zlib-bomb.xisf", lambda: attached_image("16384:16384:1", "UInt8", _zlib_zeros(1 << 28),
                                                  f"zlib:{1 << 28}"), BOMB, {"PROCFW_MAX_IMAGE_BYTES": "64M"}),
    Case("lz4-bomb.xisf", lambda: attached_image("8192:8192:1", "UInt16", lz4.block.compress(
        bytes(1 << 27), store_size=False), f"lz4:{1 << 27}"), BOMB, {"PROCFW_MAX_IMAGE_BYTES": "32M"}),
    Case("zstd-bomb.xisf", lambda: attached_image("16384:16384:1", "Float32", zstandard.ZstdCompressor(
        level=3).compress(bytes(1 << 30)), f"zstd:{1 << 30}"), BOMB, {"PROCFW_MAX_IMAGE_BYTES": "64M"}),
    Case("zstd-impossible-size.xisf", lambda: attached_image(
        "65536:65536:1", "UInt8", zstandard.ZstdCompressor().compress(bytes(100)), f"zstd:{1 << 32}")),
    Case("zlib-expands-past-declared.xisf", lambda: attached_image("4:4:1", "UInt8", zlib.compress(bytes(4096)),
                                                                   "zlib:16")),
    Case("zlib-corrupt.xisf", lambda: attached_image("4:4:1", "UInt8", b"\x78\x9c" + bytes(30), "zlib:16")),
    Case("unknown-codec.xisf", lambda: attached_image("4:4:1", "UInt8", bytes(16), "brotli:16")),
    Case("bad-subblocks.xisf", lambda: attached_image("4:4:1", "UInt8", zlib.compress(bytes(16)), "zlib:16",
                                                      ' subblocks="5,8:3,9"')),
    # ---- XISF XML attacks
    Case("utf16be-no-bom-entities.xisf", lambda: xisf(xml=LAUGHS.encode("utf-16-be"))),
    Case("utf16le-bom-entities.xisf", lambda: xisf(xml=LAUGHS.encode("utf-16"))),
    Case("utf16-declared.xisf", lambda: xisf(xml=LAUGHS.replace('version="1.0"?>', 'version="1.0" encoding="UTF-16"?>',
                                                                 1).encode("utf-16-be"))),
    Case("billion-laughs.xisf", lambda: xisf(xml=LAUGHS.encode())),
    Case("external-entity.xisf", lambda: xisf(xml=EXTERNAL.encode())),
    Case("utf32-header.xisf", lambda: xisf(xml=LAUGHS.encode("utf-32"))),
    Case("undefined-entity.xisf", lambda: xisf(tiny_image('<FITSKeyword name="X" value="&nope;" comment=""/>'))),
    # ---- XISF properties
    Case("huge-string-property.xisf", lambda: xisf(tiny_image(
        f'<Property id="Huge" type="String" compression="zstd:{1 << 30}" location="attachment:4096:40000"/>'),
        zstandard.ZstdCompressor(level=3).compress(bytes(1 << 30)).ljust(40000, b"\0")), BOMB),
    Case("huge-vector-property.xisf", lambda: xisf(tiny_image(
        '<Property id="V" type="F64Vector" length="1000000000000" location="inline:base64">AAAA</Property>')), BOMB),
    Case("bad-base64-property.xisf", lambda: xisf(tiny_image(
        '<Property id="B" type="UI8Vector" length="4" location="inline:base64">!!!!</Property>'))),
    Case("property-bad-types.xisf", lambda: xisf(tiny_image(
        '<Property id="A" type="Int32" value="x"/><Property id="B" type="Nope" value="1"/>'
        '<Property type="Int32" value="1"/>')), UNUSUAL),
    Case("many-keywords.xisf", lambda: xisf(tiny_image(
        '<FITSKeyword name="K" value="1" comment=""/>' * 50000)), UNUSUAL),
    Case("inline-string.xisf", lambda: xisf(tiny_image(
        '<Property id="S" type="String" location="inline:base64">'
        + base64.b64encode("\u00e9t\u00e9".encode()).decode() + "</Property>")), UNUSUAL),
    # ---- PNG
    Case("empty.png", lambda: b""),
    Case("signature-only.png", lambda: b"\x89PNG\r\n\x1a\n"),
    Case("junk-after-signature.png", lambda: b"\x89PNG\r\n\x1a\n" + np.random.default_rng(4).bytes(2000)),
    Case("huge-dimensions.png", lambda: png(100000, 100000, idat=zlib.compress(bytes(1000)))),
    Case("truncated-idat.png", lambda: png(256, 256, idat=zlib.compress(b"".join(
        b"\0" + np.random.default_rng(row).bytes(256) for row in range(256))))[:2000]),
    Case("zero-size.png", lambda: png(0, 0, idat=b"")),
    Case("16bit-truncated.png", lambda: png(64, 64, depth=16, idat=zlib.compress(bytes(100)))),
    Case("bad-colour-type.png", lambda: png(4, 4, colour=9)),
    Case("png-bomb.png", lambda: png(20000, 20000), BOMB, {"PROCFW_MAX_IMAGE_BYTES": "64M"}),
    # ---- TIFF
    Case("junk.tif", lambda: b"II*\x00" + np.random.default_rng(5).bytes(3000)),
    Case("truncated.tif", lambda: tiff_bytes(np.zeros((256, 256), np.uint16))[:5000]),
    Case("bad-ifd-offset.tif", lambda: b"II*\x00" + struct.pack("<I", 0x7FFFFFFF) + bytes(100)),
    Case("empty.tif", lambda: b""),
    Case("png-named.tif", lambda: png(4, 4)),
    Case("tiff-over-limit.tif", lambda: tiff_bytes(np.zeros((512, 512), np.uint16)), BOMB,
         {"PROCFW_MAX_IMAGE_BYTES": "64K"}),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_image(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / case.name
    path.write_bytes(case.make())
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    result = run_case(case.name, ["run", "-c", f'open "{path}"'], cwd=tmp_path, timeout_s=60,
                      memory_mb=case.memory_mb)
    report = f"rc={result.returncode} stderr={result.stderr[-2000:]!r}"
    assert result.no_crash, report
    if case.expect in (MALFORMED, BOMB):
        assert result.clean_error, report
        assert case.name in result.stderr, report
    if case.expect == BOMB:
        assert "limit" in result.stderr and "declares" in result.stderr, report
        assert "MemoryError" not in result.stderr, report


def test_enough_hostile_cases() -> None:
    assert len(CASES) >= 60
    assert len({case.name for case in CASES}) == len(CASES)


def test_zstd_bomb_is_refused_at_the_default_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A small zstd stream declaring 8 GiB of pixels: over the default 4 GiB limit without any variable.
    for key in list(os.environ):
        if key.startswith("PROCFW_MAX_"):
            monkeypatch.delenv(key)
    stream = zstandard.ZstdCompressor().compress(bytes(1 << 28))
    path = tmp_path / "default-limit.xisf"
    path.write_bytes(attached_image("65536:32768:1", "Float32", stream, f"zstd:{8 << 30}"))
    result = run_case("default-limit.xisf", ["run", "-c", f'open "{path}"'], cwd=tmp_path, memory_mb=1024)
    assert result.clean_error, result.stderr
    assert "limit of 4294967296" in result.stderr, result.stderr
