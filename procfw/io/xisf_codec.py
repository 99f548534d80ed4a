"""XISF data-block codecs: compression, byte shuffling and checksums.

Written from the XISF 1.0 specification, sections "XISF Data Block Checksum" and
"XISF Data Block Compression".  Everything here works on bytes; the XML side lives in
:mod:`procfw.io.xisf`.  Problems are reported as :class:`FormatProblem` (a message
without the file name), which the reader turns into an
:class:`~procfw.errors.ImageFileError` naming the file.

Decompression never produces more bytes than the size declared in the header: every
codec is driven with an output limit, and a declared size that no stream of the given
length could possibly expand to (more than the codec's maximum compression ratio) is
refused before any memory is allocated.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from typing import Any

import attrs
import numpy as np

#: Compression codecs this module reads and writes (spec names, without "+sh").
CODECS: tuple[str, ...] = ("zlib", "lz4", "lz4hc", "zstd")

#: Checksum algorithm names accepted in ``checksum="algorithm:digest"`` -> hashlib name.
CHECKSUM_ALGORITHMS: dict[str, str] = {
    "sha-1": "sha1",
    "sha1": "sha1",
    "sha-256": "sha256",
    "sha256": "sha256",
    "sha-512": "sha512",
    "sha512": "sha512",
    "sha3-256": "sha3_256",
    "sha3-512": "sha3_512",
}

#: How the writer spells each algorithm in the ``checksum`` attribute.
CHECKSUM_SPELLING: dict[str, str] = {
    "sha1": "sha1",
    "sha256": "sha256",
    "sha512": "sha512",
    "sha3_256": "sha3-256",
    "sha3_512": "sha3-512",
}

#: Upper bound of output bytes per input byte for each codec's stream format (plus slack).
#: zlib/deflate tops out at 1032:1, an LZ4 block at about 255:1 and a zstd frame at
#: 32768:1 (a 4-byte RLE block per 128 KiB).  A larger declared size is a forged header.
MAX_RATIO: dict[str, int] = {"zlib": 1040, "lz4": 260, "lz4hc": 260, "zstd": 32800}
_RATIO_SLACK = 4096
_ZLIB_PIECE = 1 << 24

#: Largest subblock the writer compresses in one call (LZ4 blocks are limited to ~2 GiB).
MAX_SUBBLOCK_SIZE = 1 << 30

#: Default compression levels used by the writer when ``level`` is None.
DEFAULT_LEVELS: dict[str, int | None] = {"zlib": 6, "lz4": None, "lz4hc": 9, "zstd": 3}
LEVEL_RANGES: dict[str, tuple[int, int]] = {"zlib": (0, 9), "lz4": (1, 65537), "lz4hc": (1, 12), "zstd": (1, 22)}


class FormatProblem(ValueError):
    """Something in an XISF unit is malformed or unsupported; the message says what."""


@attrs.frozen
class Compression:
    """A parsed ``compression`` attribute (with its optional ``subblocks`` attribute)."""

    codec: str
    uncompressed_size: int
    item_size: int = 1
    shuffled: bool = False
    subblocks: tuple[tuple[int, int], ...] = ()

    def attribute(self) -> str:
        """The ``compression`` attribute value: ``codec[+sh]:size[:item-size]``."""
        if self.shuffled:
            return f"{self.codec}+sh:{self.uncompressed_size}:{self.item_size}"
        return f"{self.codec}:{self.uncompressed_size}"

    def subblocks_attribute(self) -> str | None:
        """The ``subblocks`` attribute value, or None for a single block."""
        if not self.subblocks:
            return None
        return ":".join(f"{c},{u}" for c, u in self.subblocks)


_UINT = re.compile(r"\s*(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|\+?[0-9]+)\s*")


def parse_uint(text: str, what: str) -> int:
    """Parse a plain-text unsigned integer (decimal, 0x, 0b or 0o) or raise FormatProblem."""
    match = _UINT.fullmatch(text or "")
    if match is None:
        raise FormatProblem(f"{what}: {text!r} is not an unsigned integer")
    token = match.group(1)
    return int(token, 0) if token[:2].lower() in ("0x", "0b", "0o") else int(token, 10)


def parse_compression(attribute: str, subblocks: str | None = None) -> Compression:
    """Parse ``compression="codec[+sh]:size[:item]"`` and ``subblocks="c,u:c,u:..."``."""
    parts = attribute.strip().split(":")
    name = parts[0].strip().lower()
    shuffled = name.endswith("+sh")
    codec = name[:-3] if shuffled else name
    if codec not in CODECS:
        raise FormatProblem(f"compression codec {parts[0]!r} is not supported (supported: {', '.join(CODECS)})")
    expected = 3 if shuffled else 2
    if len(parts) != expected:
        raise FormatProblem(f"compression attribute {attribute!r} should have {expected} ':'-separated fields")
    size = parse_uint(parts[1], "compression uncompressed size")
    item_size = parse_uint(parts[2], "compression item size") if shuffled else 1
    if item_size < 1:
        raise FormatProblem(f"compression item size must be at least 1, not {item_size}")
    blocks: list[tuple[int, int]] = []
    if subblocks is not None and subblocks.strip():
        for pair in subblocks.strip().split(":"):
            fields = pair.split(",")
            if len(fields) != 2:
                raise FormatProblem(f"subblocks attribute: {pair!r} is not 'compressed,uncompressed'")
            blocks.append((parse_uint(fields[0], "subblock size"), parse_uint(fields[1], "subblock size")))
        if sum(u for _, u in blocks) != size:
            raise FormatProblem(
                f"subblocks declare {sum(u for _, u in blocks)} uncompressed bytes but compression declares {size}"
            )
    return Compression(codec, size, item_size, shuffled, tuple(blocks))


# -- byte shuffling -------------------------------------------------------------------


def shuffle(data: Any, item_size: int) -> np.ndarray:
    """Group the i-th bytes of all items together (XISF byte shuffling).

    Trailing bytes that do not fill a whole item are kept unchanged at the end.
    """
    source = np.frombuffer(data, dtype=np.uint8)
    out = np.empty_like(source)
    count = source.size // item_size if item_size > 0 else 0
    whole = count * item_size
    if item_size <= 1 or count == 0:
        out[...] = source
        return out
    items = source[:whole].reshape(count, item_size)
    for k in range(item_size):  # one strided pass per byte plane: much faster than a transposed copy
        out[k * count : (k + 1) * count] = items[:, k]
    out[whole:] = source[whole:]
    return out


def unshuffle(data: Any, item_size: int) -> np.ndarray:
    """Invert :func:`shuffle`."""
    source = np.frombuffer(data, dtype=np.uint8)
    out = np.empty_like(source)
    count = source.size // item_size if item_size > 0 else 0
    whole = count * item_size
    if item_size <= 1 or count == 0:
        out[...] = source
        return out
    items = out[:whole].reshape(count, item_size)
    for k in range(item_size):
        items[:, k] = source[k * count : (k + 1) * count]
    out[whole:] = source[whole:]
    return out


# -- decompression --------------------------------------------------------------------


def _decompress_one(codec: str, data: Any, size: int) -> Any:
    """Decompress one stream to exactly ``size`` bytes; never produce more."""
    length = memoryview(data).nbytes
    if size > MAX_RATIO[codec] * length + _RATIO_SLACK:
        raise FormatProblem(
            f"declared uncompressed size {size} bytes is impossible for {length} bytes of {codec} data "
            f"(more than {MAX_RATIO[codec]}:1); refusing a likely decompression bomb"
        )
    if codec == "zlib":
        # Decompress in bounded pieces straight into the result (no growing buffer).
        engine = zlib.decompressobj()
        out = bytearray(size)
        view = memoryview(out)
        filled = 0
        pending: Any = data
        try:
            while filled < size:
                piece = engine.decompress(pending, min(_ZLIB_PIECE, size - filled))
                pending = engine.unconsumed_tail
                if not piece:
                    break
                view[filled : filled + len(piece)] = piece
                filled += len(piece)
            if filled == size and pending and engine.decompress(pending, 1):
                raise FormatProblem(f"zlib data expands beyond the declared {size} bytes")
        except zlib.error as exc:
            raise FormatProblem(f"corrupt zlib data: {exc}") from None
        if filled != size:
            out = view[:filled]
    elif codec in ("lz4", "lz4hc"):
        import lz4.block

        try:
            out = lz4.block.decompress(data, uncompressed_size=size)
        except lz4.block.LZ4BlockError as exc:
            raise FormatProblem(f"corrupt LZ4 data, or it expands beyond the declared {size} bytes ({exc})") from None
    elif codec == "zstd":
        import zstandard

        out = bytearray(size)
        view = memoryview(out)
        filled = 0
        try:
            with zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True) as reader:
                while filled < size:
                    got = reader.readinto(view[filled:])
                    if not got:
                        break
                    filled += got
                if filled == size and reader.read(1):
                    raise FormatProblem(f"zstd data expands beyond the declared {size} bytes")
        except zstandard.ZstdError as exc:
            raise FormatProblem(f"corrupt zstd data: {exc}") from None
        if filled != size:
            out = view[:filled]
    else:  # pragma: no cover - parse_compression rejects other codecs
        raise FormatProblem(f"compression codec {codec!r} is not supported")
    if len(out) != size:
        raise FormatProblem(f"{codec} data decompresses to {len(out)} bytes, not the declared {size} (truncated?)")
    return out


def decompress(data: Any, compression: Compression, *, unshuffled: bool = True) -> Any:
    """Decompress (and unshuffle) a data block; the result has exactly the declared size.

    With ``unshuffled=False`` the caller applies :func:`unshuffle` itself (after dropping
    the compressed bytes, to lower peak memory).
    """
    size = compression.uncompressed_size
    if compression.subblocks:
        total = sum(c for c, _ in compression.subblocks)
        if total != memoryview(data).nbytes:
            raise FormatProblem(f"subblocks declare {total} compressed bytes but the block has {len(data)}")
        out: Any = bytearray(size)
        view = memoryview(out)
        src = memoryview(data)
        pos_in = pos_out = 0
        for c_size, u_size in compression.subblocks:
            view[pos_out : pos_out + u_size] = _decompress_one(compression.codec, src[pos_in : pos_in + c_size], u_size)
            pos_in += c_size
            pos_out += u_size
    else:
        out = _decompress_one(compression.codec, data, size)
    if unshuffled and compression.shuffled and compression.item_size > 1:
        out = unshuffle(out, compression.item_size)
    return out


# -- compression ----------------------------------------------------------------------


def check_level(codec: str, level: int | None) -> int | None:
    """The level to use for ``codec`` (default when None); raise ValueError when out of range."""
    if level is None:
        return DEFAULT_LEVELS[codec]
    low, high = LEVEL_RANGES[codec]
    if not low <= int(level) <= high:
        raise ValueError(f"{codec} compression level must be in [{low}, {high}], not {level}")
    return int(level)


def _compress_one(codec: str, data: Any, level: int | None) -> bytes:
    if codec == "zlib":
        return zlib.compress(data, 6 if level is None else level)
    if codec == "lz4":
        import lz4.block

        return lz4.block.compress(data, mode="fast", acceleration=level or 1, store_size=False)
    if codec == "lz4hc":
        import lz4.block

        return lz4.block.compress(data, mode="high_compression", compression=level or 9, store_size=False)
    if codec == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=level or 3, threads=-1).compress(data)
    raise ValueError(f"compression codec {codec!r} is not supported (supported: {', '.join(CODECS)})")


def compress(
    data: Any, codec: str, *, item_size: int = 1, shuffled: bool = False, level: int | None = None
) -> tuple[bytes | bytearray, Compression]:
    """Compress a data block; return the stored bytes and their :class:`Compression`.

    Blocks larger than :data:`MAX_SUBBLOCK_SIZE` are cut into subblocks after shuffling
    the whole block.
    """
    level = check_level(codec, level)
    raw = memoryview(np.frombuffer(data, dtype=np.uint8))
    size = raw.nbytes
    if shuffled and item_size > 1:
        raw = memoryview(shuffle(raw, item_size))
    if size <= MAX_SUBBLOCK_SIZE:
        return _compress_one(codec, raw, level), Compression(codec, size, item_size, shuffled)
    out = bytearray()
    blocks: list[tuple[int, int]] = []
    for start in range(0, size, MAX_SUBBLOCK_SIZE):
        piece = raw[start : start + MAX_SUBBLOCK_SIZE]
        packed = _compress_one(codec, piece, level)
        out += packed
        blocks.append((len(packed), piece.nbytes))
    return out, Compression(codec, size, item_size, shuffled, tuple(blocks))


# -- checksums ------------------------------------------------------------------------


def byte_view(data: Any) -> memoryview:
    """A flat unsigned-byte memoryview of a bytes-like object or contiguous numpy array."""
    if isinstance(data, np.ndarray):
        return memoryview(np.ascontiguousarray(data).reshape(-1).view(np.uint8))
    return memoryview(data).cast("B")


def hasher_for(algorithm: str) -> Any:
    """A fresh hashlib object for a checksum algorithm name (spec or alternate spelling)."""
    name = CHECKSUM_ALGORITHMS.get(algorithm.strip().lower())
    if name is None:
        raise FormatProblem(
            f"checksum algorithm {algorithm!r} is not supported (supported: {', '.join(CHECKSUM_ALGORITHMS)})"
        )
    return hashlib.new(name)


def checksum_attribute(hasher: Any) -> str:
    """The ``checksum`` attribute value for a finished hashlib object."""
    return f"{CHECKSUM_SPELLING[hasher.name]}:{hasher.hexdigest()}"


def placeholder_checksum(algorithm: str) -> str:
    """A ``checksum`` attribute of the final length, for laying out a header before hashing."""
    hasher = hasher_for(algorithm)
    return f"{CHECKSUM_SPELLING[hasher.name]}:{'0' * (2 * hasher.digest_size)}"


def verify_checksum(data: Any, attribute: str) -> None:
    """Raise FormatProblem unless ``data`` has the digest declared by ``checksum="alg:digest"``."""
    algorithm, sep, digest = attribute.partition(":")
    if not sep:
        raise FormatProblem(f"checksum attribute {attribute!r} is not 'algorithm:digest'")
    hasher = hasher_for(algorithm)
    view = byte_view(data)
    step = 1 << 26
    for start in range(0, view.nbytes, step):
        hasher.update(view[start : start + step])
    if hasher.hexdigest() != digest.strip().lower():
        raise FormatProblem(
            f"{algorithm.strip()} checksum mismatch: the data block is corrupt "
            f"(header says {digest.strip()[:16]}..., data gives {hasher.hexdigest()[:16]}...)"
        )
