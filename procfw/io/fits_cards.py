"""FITS header cards without astropy: the common case, read and written as astropy does.

A small native reader and writer of the 80-column header cards of a plain FITS file, so that
the frequent case (an uncompressed file whose image is its primary HDU, with ordinary cards)
is read and written without importing :mod:`astropy.io.fits` (~0.2 s of CPU time to import).

It handles only what it fully understands, and gives what astropy gives for it:

* :func:`parse_card` reads a card as astropy's ``Card`` does (keyword, value, comment; the
  same value grammar and number conversion), returning None for anything unusual: lower-case
  or odd keywords, HIERARCH, CONTINUE, record-valued cards, complex values, cards astropy
  cannot parse, non-printable or non-ASCII text;
* :func:`read_header` reads a primary header's blocks up to its END card (None when any card
  is unusual, the END card is not clean or no END is found in a bounded number of blocks);
* :func:`format_card` formats a card as astropy's ``Card`` writes it (``_format_value``,
  ``_format_float``, the comment separator, padding, long commentary text on several cards),
  returning None for anything astropy would write as CONTINUE cards, truncate, refuse or rewrite.

The callers (:mod:`procfw.io.fits` and the readers of frame headers) fall back to astropy
whenever these return None, so every unusual file still goes through astropy.  An undefined
value is None.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

import attrs

__all__ = [
    "BLOCK_BYTES", "CARD_BYTES", "COMMENTARY_KEYWORDS", "Card", "HeaderCards", "format_card", "format_header",
    "parse_card", "read_header",
]

CARD_BYTES = 80
"""Bytes of one header card."""
BLOCK_BYTES = 2880
"""Bytes of one FITS block (36 cards)."""
MAX_HEADER_BLOCKS = 4096
"""Header blocks read before giving up on finding the END card (about 150,000 cards)."""
COMMENTARY_KEYWORDS = frozenset({"", "COMMENT", "HISTORY"})
"""Keywords whose cards hold free text instead of a value."""

_VALUE_LENGTH = CARD_BYTES - 10
_COMMENTARY_LENGTH = CARD_BYTES - 8
_END_CARD = "END".ljust(CARD_BYTES)
_KEYWORD = re.compile(r"[A-Z0-9_-]{0,8} *")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,8}")
_PRINTABLE = re.compile(r"[ -~]*")
# astropy's Card grammar of a value and comment (Card._value_NFSC_RE), without complex values
_DIGITS = r"(\.\d+|\d+(\.\d*)?) *([deDE] *[+-]? *\d+)?"
_VALUE = re.compile(
    r" *(?P<value>\'(?P<strg>([ -~]+?|\'\'|) *?)\'(?=$|/| )|(?P<bool>[FT])|(?P<numr>[+-]? *" + _DIGITS + r"))? *"
    r"(?P<comm_field>(?P<sepr>/ *)(?P<comm>(.|\n)*))?"
)
_NUMBER = re.compile(r"(?P<sign>[+-])? *0*?(?P<digt>" + _DIGITS + ")")
# a string value that astropy could read as a record-valued keyword card ('field.spec: number'): left to it
_RECORD_VALUED = re.compile(r" *'[A-Za-z_][\w.]*: ")
_EXPONENT = str.maketrans({"d": "e", "D": "e", " ": None})
# keywords astropy's Header.strip removes from a header given to a new HDU (the others are structural)
_STRIPPED = frozenset({"GROUPS", "THEAP", "TFIELDS", "END", "CONTINUE", "HIERARCH"})


class Card(NamedTuple):
    """One header card: upper-case keyword, value (None: undefined; commentary cards: their text), comment."""

    keyword: str
    value: Any
    comment: str = ""


@attrs.frozen
class HeaderCards:
    """A primary header read natively: its cards (END excluded) and where its data starts."""

    cards: tuple[Card, ...]
    data_offset: int

    def get(self, keyword: str, default: Any = None) -> Any:
        """The value of the first card named ``keyword``, else ``default``."""
        return next((card.value for card in self.cards if card.keyword == keyword), default)

    def count(self, keyword: str) -> int:
        """How many cards are named ``keyword``."""
        return sum(card.keyword == keyword for card in self.cards)


def parse_card(image: str) -> Card | None:
    """The card of an 80-character card image as astropy reads it, or None when it is unusual.

    The image must be printable ASCII.  A commentary card's value is its text from column 9
    (trailing spaces dropped); a valued card needs ``= `` in columns 9-10.
    """
    if len(image) != CARD_BYTES or not _PRINTABLE.fullmatch(image):
        return None
    field = image[:8]
    if not _KEYWORD.fullmatch(field):
        return None
    keyword = field.rstrip()
    if keyword in COMMENTARY_KEYWORDS:
        return Card(keyword, image[8:].rstrip())
    if keyword in _STRIPPED or image[8:10] != "= " or _RECORD_VALUED.match(image, 10):
        return None
    match = _VALUE.fullmatch(image[10:].strip())
    if match is None:
        return None
    comment = (match.group("comm") or "").rstrip()
    return Card(keyword, _value_of(match), comment)


def _value_of(match: re.Match[str]) -> Any:
    """A card's value from its match of the value grammar, as astropy's ``Card._parse_value`` converts it."""
    if match.group("bool") is not None:
        return match.group("bool") == "T"
    if match.group("strg") is not None:
        return match.group("strg").replace("''", "'").rstrip()
    if match.group("numr") is not None:
        number = _NUMBER.match(match.group("numr"))
        assert number is not None  # the value grammar's numbers are numbers
        text = (number.group("sign") or "") + number.group("digt").translate(_EXPONENT)
        try:
            return int(text)
        except ValueError:
            return float(text)
    return None


def read_header(path: str | os.PathLike[str]) -> HeaderCards | None:
    """The primary header of the plain FITS file ``path``, or None when any part of it is unusual.

    Reads 2880-byte blocks until the one with the END card (at most :data:`MAX_HEADER_BLOCKS`);
    the END card and the rest of its block must be blank.  OSError propagates.
    """
    cards: list[Card] = []
    with open(path, "rb") as stream:
        for blocks in range(1, MAX_HEADER_BLOCKS + 1):
            block = stream.read(BLOCK_BYTES)
            if len(block) < BLOCK_BYTES:
                return None
            try:
                text = block.decode("ascii")
            except UnicodeDecodeError:
                return None
            for start in range(0, BLOCK_BYTES, CARD_BYTES):
                image = text[start : start + CARD_BYTES]
                if image == _END_CARD:
                    clean = not text[start + CARD_BYTES :].strip()
                    return HeaderCards(tuple(cards), blocks * BLOCK_BYTES) if clean else None
                card = parse_card(image)
                if card is None:
                    return None
                cards.append(card)
    return None


def format_card(keyword: str, value: Any, comment: str = "") -> str | None:
    """The image astropy's ``Card(keyword, value, comment)`` writes, or None when astropy would
    write it otherwise (a long string's CONTINUE cards, a truncated comment, HIERARCH), refuse it,
    or it is not plain: a value of another type than bool, int, finite float, str or None;
    non-printable text.

    ``keyword`` is a name of 1-8 letters, digits, ``_`` or ``-`` (upper-cased as astropy does).
    A COMMENT or HISTORY card's value is its text; text longer than 72 characters is written, as
    astropy writes it, on as many cards of that keyword as it takes (so the image is 80 characters
    or a multiple of them).
    """
    if not _NAME.fullmatch(keyword):
        return None
    keyword = keyword.upper()
    if keyword in _STRIPPED or not isinstance(comment, str) or not _PRINTABLE.fullmatch(comment):
        return None
    if keyword in COMMENTARY_KEYWORDS:
        text = "" if value is None else value if type(value) is str else None
        if text is None or not _PRINTABLE.fullmatch(text):
            return None
        pieces = range(0, len(text), _COMMENTARY_LENGTH) if text else [0]  # long text: one card per 72 characters
        return "".join(f"{keyword:8}{text[i : i + _COMMENTARY_LENGTH]}".ljust(CARD_BYTES) for i in pieces)
    formatted = format_value(value)
    if formatted is None:
        return None
    image = f"{keyword:8}= {formatted}" + (f" / {comment}" if comment.rstrip() else "")
    return image.ljust(CARD_BYTES) if len(image) <= CARD_BYTES else None


def format_value(value: Any) -> str | None:
    """A card's value field as astropy's ``_format_value`` writes it, or None for what :func:`format_card` refuses."""
    kind = type(value)
    if value is None:
        return ""
    if kind is str:
        if not _PRINTABLE.fullmatch(value) or _RECORD_VALUED.match(f"'{value}"):
            return None
        if not value:
            return "''"
        quoted = "'{:8}'".format(value.replace("'", "''"))
        return f"{quoted:20}" if len(quoted) <= _VALUE_LENGTH else None
    if kind is bool:
        return f"{'T' if value else 'F':>20}"
    if kind is int:
        return f"{value:>20d}"
    if kind is float and value - value == 0.0:  # finite
        return f"{format_float(value):>20}"
    return None


def format_float(value: float) -> str:
    """A float as astropy's ``_format_float`` writes it: ``str`` with an upper-case E, cut to 20 characters."""
    text = str(value).replace("e", "E")
    if len(text) > 20:
        exponent = text.find("E")
        text = text[:20] if exponent < 0 else text[: 20 - (len(text) - exponent)] + text[exponent:]
    return text


def format_header(cards: Iterable[tuple[str, Any, str]]) -> bytes | None:
    """The header bytes of ``(keyword, value, comment)`` cards: each card (:func:`format_card`), the END
    card, blanks to a multiple of 2880 bytes; None when a card cannot be formatted."""
    images = []
    for keyword, value, comment in cards:
        image = format_card(keyword, value, comment)
        if image is None:
            return None
        images.append(image)
    images.append(_END_CARD)
    text = "".join(images)
    return (text + " " * (-len(text) % BLOCK_BYTES)).encode("ascii")
