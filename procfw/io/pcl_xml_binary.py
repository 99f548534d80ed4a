"""Binary data inside PCL's XML files (``.xnml``, ``.xdrz``): Base64 text, or compressed
``Subblock`` children.

PCL writes a block of bytes either as Base64 element text, or with
``compression="codec[+sh]"`` as ``<Subblock uncompressedSize="N">BASE64</Subblock>``
children whose decompressed contents, concatenated and then unshuffled (``+sh``), are the
data.  A subblock that did not compress is stored as it is.  The codecs are XISF's
(:mod:`procfw.io.xisf_codec`).  Callers pass the element's parts, so that any XML tree
serves, and turn :class:`~procfw.io.xisf_codec.FormatProblem` into their own file error.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Sequence

from procfw.io.xisf_codec import CODECS, Compression, FormatProblem, compress, decompress, unshuffle

__all__ = ["b64decode", "decode_subblocks", "encode_subblock", "split_codec"]


def b64decode(text: str | None, what: str) -> bytes:
    """The bytes of Base64 ``text`` (whitespace ignored); FormatProblem naming ``what`` if invalid."""
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise FormatProblem(f"{what}: invalid Base64 data") from None


def split_codec(compression: str, what: str) -> tuple[str, bool]:
    """``"lz4+sh"`` -> ``("lz4", True)``; FormatProblem for a codec XISF does not have."""
    text = compression.strip().lower()
    shuffled = text.endswith("+sh")
    codec = text[:-3] if shuffled else text
    if codec not in CODECS:
        raise FormatProblem(f"{what}: unknown or unsupported compression codec {compression!r}")
    return codec, shuffled


def decode_subblocks(compression: str, subblocks: Sequence[tuple[int, str | None]], *, allowed: Collection[int],
                     item_size: int, what: str) -> bytes:
    """Decode ``(uncompressedSize, Base64 text)`` subblocks compressed with ``compression``.

    The declared sizes must add up to one of ``allowed`` — checked before anything is
    decoded, so a file cannot make us allocate what it merely declares.
    """
    codec, shuffled = split_codec(compression, what)
    if not subblocks:
        raise FormatProblem(f"{what}: missing Subblock child element(s)")
    total = sum(size for size, _ in subblocks)
    if total not in allowed:
        expected = " or ".join(str(n) for n in sorted(allowed))
        raise FormatProblem(f"{what}: the subblocks declare {total} bytes; {expected} expected")
    out = bytearray()
    for size, text in subblocks:
        packed = b64decode(text, f"{what} Subblock")
        if len(packed) >= size:  # PCL stores a subblock that does not compress as it is
            if len(packed) != size:
                raise FormatProblem(f"{what}: {len(packed)} stored bytes for a Subblock of {size}")
            out += packed
            continue
        try:
            out += bytes(decompress(packed, Compression(codec, size)))
        except ImportError:
            raise FormatProblem(f"{what}: the {codec} codec needs a package that is not installed "
                                "(lz4 or zstandard)") from None
    if shuffled and item_size > 1:
        return bytes(unshuffle(bytes(out), item_size))
    return bytes(out)


def encode_subblock(data: bytes, compression: str, item_size: int) -> str | None:
    """The Base64 text of one Subblock holding ``data`` compressed with ``compression``
    (``+sh``: shuffled by ``item_size`` first), or None when compressing does not pay."""
    codec, shuffled = split_codec(compression, "compression")
    packed, _ = compress(data, codec, item_size=item_size, shuffled=shuffled and item_size > 1)
    if len(packed) >= len(data):
        return None
    return base64.b64encode(bytes(packed)).decode("ascii")
