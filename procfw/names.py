"""Names: PixInsight's id rules and the "did you mean" hint, for every layer of procfw.

This is the bottom of the framework (with :mod:`procfw.errors`): it imports nothing from
procfw, so parameters, processes, the workspace, the registries and the console can all
use it.

* :func:`is_valid_id`, :func:`make_id`, :func:`unique_id` — view, window and icon ids are
  C identifiers, unique, with a ``_1``, ``_2``... suffix on collision;
* :func:`suggest` — the `` (did you mean X?)`` suffix of an unknown-name error;
* :func:`option_spellings` — the parameter names a console option name binds to.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["PREVIEW_SEPARATOR", "is_valid_id", "make_id", "option_spellings", "suggest", "unique_id"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

PREVIEW_SEPARATOR = "->"
"""Between a window id and a preview id in a view id: ``image->preview``."""


def is_valid_id(text: str) -> bool:
    """PixInsight's id rule: a C identifier."""
    return bool(_IDENTIFIER.match(text))


def make_id(text: str) -> str:
    """``text`` made a valid identifier: invalid characters become ``_``; a leading digit gets ``_``."""
    ident = re.sub(r"[^A-Za-z0-9_]", "_", text) or "Image"
    return f"_{ident}" if ident[0].isdigit() else ident


def unique_id(base: str, taken: Mapping[str, Any] | set[str]) -> str:
    """``base``, or ``base_1``, ``base_2``... the first one not in ``taken``."""
    if base not in taken:
        return base
    n = 1
    while f"{base}_{n}" in taken:
        n += 1
    return f"{base}_{n}"


def suggest(name: str, candidates: list[str]) -> str:
    """A ' (did you mean X?)' suffix naming the closest candidate, or ''."""
    lowered = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[close[0]]}?)" if close else ""


def option_spellings(name: str) -> list[str]:
    """The parameter names the console option ``name`` binds to, in the order tried: ``name`` and,
    when it is hyphenated (``dry-run``), its camelCase (``dryRun``) and snake_case (``dry_run``) forms."""
    if "-" not in name.strip("-"):
        return [name]
    return [name, re.sub(r"-+(\w)", lambda m: m.group(1).upper(), name), name.replace("-", "_")]
