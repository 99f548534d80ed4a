"""PixInsight's filter library source (``.filters`` files; Convolution's ``filterSource``).

The format, as PCL's ``FilterParser`` (``src/modules/processes/Convolution/FilterLibrary.cpp``)
reads it: whitespace-separated tokens, ``{`` and ``}`` tokens of their own, ``//`` line and
``/* … */`` block comments; a sequence of filters, each ::

    KernelFilter {                      SeparableFilter {
       name { Name of the filter }         name { Name }
       coefficients {                      row-vector { 0.25 0.5 0.25 }
          a b c  d e f  g h i              col-vector { 0.25 0.5 0.25 }
       }                                }
    }

A parameter's value is one token or the tokens between braces.  A kernel is square with an
odd side of at least 3 (row by row); a separable filter's row and column vectors (``col-vector``
or ``column-vector``) have one odd length of at least 3.  Errors name the source, line and
column, and the rule broken, as PCL's do.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

__all__ = ["FilterSourceError", "LibraryFilter", "parse_filters", "read_filter_library"]

MAX_LIBRARY_BYTES = 16 * 2**20
"""The largest filter library file read (PixInsight's default library is about 20 KiB)."""


class FilterSourceError(ValueError):
    """A filter library source that PCL's parser would refuse (``where:line:col: message``)."""


@dataclass(frozen=True)
class _Token:
    text: str
    line: int  # 0-based, as PCL counts them (messages add 1)
    col: int


@dataclass(frozen=True)
class LibraryFilter:
    """One filter of a library: a kernel (``coefficients``, 2-D) or a separable filter
    (``row`` and ``col`` vectors)."""

    name: str
    coefficients: np.ndarray | None = None
    row: np.ndarray | None = None
    col: np.ndarray | None = None

    @property
    def separable(self) -> bool:
        """Whether this is a SeparableFilter."""
        return self.coefficients is None

    @property
    def size(self) -> int:
        """The filter's side (pixels)."""
        return int(self.row.size if self.coefficients is None else self.coefficients.shape[0])  # type: ignore[union-attr]

    @property
    def weight(self) -> float:
        """PCL's filter weight: the sum of the coefficients (row sum × column sum when separable)."""
        if self.coefficients is None:
            return float(self.row.sum() * self.col.sum())  # type: ignore[union-attr]
        return float(self.coefficients.sum())

    @property
    def high_pass(self) -> bool:
        """PCL's rule: a kernel with a negative coefficient; a separable filter whose nonzero
        coefficients (both vectors) do not all have one sign."""
        if self.coefficients is not None:
            return bool(np.any(self.coefficients < 0))
        values = np.concatenate([self.row, self.col])  # type: ignore[list-item]
        values = values[values != 0]
        return bool(values.size and np.any(values < 0) and np.any(values > 0))

    def kernel(self) -> np.ndarray:
        """The 2-D coefficients (column vector × row vector for a separable filter)."""
        if self.coefficients is None:
            return np.outer(self.col, self.row)  # type: ignore[arg-type]
        return self.coefficients

    def to_source(self) -> str:
        """The filter as PCL writes it (``Filter::ToSource``: six decimals)."""

        def numbers(values: np.ndarray) -> str:
            return "".join(f"{v:.6f} " if v < 0 else f" {v:.6f} " for v in values)

        if self.coefficients is None:
            return (f"SeparableFilter {{\n   name {{ {self.name} }}\n   row-vector {{ {numbers(self.row)}}}\n"
                    f"   col-vector {{ {numbers(self.col)}}}\n}}\n")
        rows = "".join("      " + " ".join(f"{v:.6f}" if v < 0 else f" {v:.6f}" for v in r) + " \n"
                       for r in self.coefficients)
        return f"KernelFilter {{\n   name {{ {self.name} }}\n   coefficients {{\n{rows}   }}\n}}\n"


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    block = False
    for row, line in enumerate(text.splitlines()):
        line = line.rstrip()
        token, start, j = "", 0, 0
        while j < len(line):
            ch = line[j]
            if block:
                if ch == "*" and j + 1 < len(line) and line[j + 1] == "/":
                    block = False
                    j += 1
                j += 1
                continue
            if ch in " \t":
                if token:
                    tokens.append(_Token(token, row, start))
                    token = ""
                while j + 1 < len(line) and line[j + 1] in " \t":
                    j += 1
                start = j + 1
            elif ch in "{}":
                if token:
                    tokens.append(_Token(token, row, start))
                    token = ""
                tokens.append(_Token(ch, row, j))
                start = j + 1
            elif ch == "/" and j + 1 < len(line) and line[j + 1] in "/*":
                if line[j + 1] == "/":
                    break
                block = True
                j += 1
            elif ch == "/" and j + 1 >= len(line):
                pass  # PCL drops a '/' that ends a line
            else:
                token += ch
            j += 1
        if token:
            tokens.append(_Token(token, row, start))
    return tokens


def _numbers(values: list[_Token], where: str) -> np.ndarray:
    out = np.empty(len(values), dtype=np.float64)
    for i, token in enumerate(values):
        try:
            out[i] = float(token.text)
        except ValueError:
            raise _error(where, token, f"'{token.text}' is not a number") from None
        if not math.isfinite(out[i]):
            raise _error(where, token, f"'{token.text}' is not a finite number")
    return out


def _error(where: str, token: _Token, message: str) -> FilterSourceError:
    return FilterSourceError(f"{where}:{token.line + 1}:{token.col + 1}: {message}")


def _value(tokens: list[_Token], i: int, where: str) -> tuple[list[_Token], int]:
    """The value tokens of the parameter at ``i`` and the index after them."""
    if i + 1 >= len(tokens):
        raise _error(where, tokens[i], "Missing right bracket")
    first = tokens[i + 1]
    if first.text == "}":
        raise _error(where, first, "Unexpected right bracket")
    if first.text != "{":
        return [first], i + 2
    for k in range(i + 2, len(tokens)):
        if tokens[k].text == "}":
            return tokens[i + 2 : k], k + 1
        if tokens[k].text == "{":
            raise _error(where, tokens[k], "Unexpected left bracket")
    raise _error(where, first, "Missing right bracket")


def parse_filters(text: str, where: str = "filterSource") -> list[LibraryFilter]:
    """The filters of a library source, in order (PCL's ``FilterParser``); ``where`` names the
    source in errors."""
    tokens = _tokenize(text)
    filters: list[LibraryFilter] = []
    i = 0
    while i < len(tokens):
        kind = tokens[i]
        if kind.text in ("{", "}"):
            raise _error(where, kind, "Misplaced bracket")
        if kind.text not in ("KernelFilter", "SeparableFilter"):
            raise _error(where, kind, f"Unknown filter type '{kind.text}' (KernelFilter or SeparableFilter)")
        if i + 1 >= len(tokens) or tokens[i + 1].text != "{":
            raise _error(where, tokens[min(i + 1, len(tokens) - 1)], "Expected left bracket")
        i += 2
        name = ""
        matrix = row = col = None
        size = 0
        while True:
            if i >= len(tokens):
                raise _error(where, tokens[-1], "Missing right bracket")
            key = tokens[i]
            if key.text == "}":
                if not name:
                    raise _error(where, key, "Missing filter name")
                if size == 0:
                    raise _error(where, key, "Empty filter definition")
                if kind.text == "KernelFilter":
                    filters.append(LibraryFilter(name, coefficients=matrix))
                else:
                    if row is None or col is None:
                        raise _error(where, key, "Missing separable filter coefficients")
                    filters.append(LibraryFilter(name, row=row, col=col))
                i += 1
                break
            values, after = _value(tokens, i, where)
            if key.text == "name":
                if not values:
                    raise _error(where, key, "Expected a filter name")
                if name:
                    raise _error(where, key, "Duplicate filter name")
                name = " ".join(t.text for t in values)
            elif key.text == "coefficients":
                if kind.text != "KernelFilter":
                    raise _error(where, key, "Invalid separable filter parameter 'coefficients'")
                if matrix is not None:
                    raise _error(where, key, "Duplicate kernel filter coefficients")
                n = len(values)
                side = math.isqrt(n)
                at = values[0] if values else key
                if side * side != n:
                    raise _error(where, at, f"Non-square kernel filter defined ({n} coefficients)")
                if side < 3:
                    raise _error(where, at, "The kernel filter is too small - 3x3 is the minimum required")
                if side % 2 == 0:
                    raise _error(where, at, f"Invalid even kernel filter dimension ({side})")
                matrix = _numbers(values, where).reshape(side, side)
                size = side
            elif key.text in ("row-vector", "col-vector", "column-vector"):
                if kind.text != "SeparableFilter":
                    raise _error(where, key, f"Invalid kernel filter parameter '{key.text}'")
                is_row = key.text == "row-vector"
                if (row if is_row else col) is not None:
                    raise _error(where, key, f"Duplicate {'row' if is_row else 'column'} vector specification")
                n = len(values)
                at = values[0] if values else key
                which = "row" if is_row else "column"
                if size:
                    if n != size:
                        raise _error(where, at, f"Incongruent separable {which} filter length; expected {size} "
                                                "coefficients")
                else:
                    if n < 3:
                        raise _error(where, at, f"Too few {which} filter coefficients specified - three or more "
                                                "coefficients are required")
                    if n % 2 == 0:
                        raise _error(where, at, f"Invalid even {which} filter length ({n})")
                    size = n
                vector = _numbers(values, where)
                if is_row:
                    row = vector
                else:
                    col = vector
            else:
                raise _error(where, key, f"Unknown filter parameter '{key.text}'")
            i = after
    return filters


def read_filter_library(path: str | os.PathLike[str]) -> list[LibraryFilter]:
    """The filters of the library file ``path`` (UTF-8 text, at most :data:`MAX_LIBRARY_BYTES`)."""
    size = os.path.getsize(path)
    if size > MAX_LIBRARY_BYTES:
        raise FilterSourceError(f"{os.fspath(path)}: {size} bytes; a filter library may have at most "
                                f"{MAX_LIBRARY_BYTES}")
    with open(path, "rb") as fh:
        data = fh.read(MAX_LIBRARY_BYTES + 1)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FilterSourceError(f"{os.fspath(path)}: not UTF-8 text (byte {exc.start})") from None
    return parse_filters(text, os.fspath(path))
