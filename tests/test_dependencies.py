"""Dependency floors: no requirement admits a release with a known security fix missing."""

from __future__ import annotations

import re
from importlib.metadata import requires
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

# name -> the first release with the fixes (Pillow 10.3: CVE-2024-28219; setuptools 78.1.1:
# CVE-2025-47273; wheel 0.38.1: CVE-2022-40898)
FLOORS = {"pillow": (10, 3), "setuptools": (78, 1, 1), "wheel": (0, 38, 1)}


def _floor(requirement: str) -> tuple[int, ...] | None:
    match = re.search(r">=\s*([0-9][0-9.]*)", requirement)
    return tuple(int(p) for p in match.group(1).split(".") if p) if match else None


def _requirements() -> list[str]:
    """Install requirements and extras as installed, plus the build-system requirements."""
    text = PYPROJECT.read_text(encoding="utf-8")
    build = re.search(r"\[build-system\]\s*requires\s*=\s*\[([^\]]*)\]", text)
    assert build, "pyproject.toml has no [build-system] requires"
    return [*(requires("procfw") or []), *re.findall(r'"([^"]+)"', build.group(1))]


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_every_mention_has_a_safe_floor(name: str) -> None:
    mentions = [r for r in _requirements() if re.match(rf"{name}\b", r, re.IGNORECASE)]
    assert mentions, f"{name} is not required anywhere"
    for requirement in mentions:
        floor = _floor(requirement)
        assert floor is not None, f"{requirement!r} has no lower bound"
        assert floor >= FLOORS[name], f"{requirement!r} admits releases before {'.'.join(map(str, FLOORS[name]))}"


def test_no_requirement_is_unbounded() -> None:
    unbounded = [r for r in _requirements() if _floor(r.split(";")[0]) is None]
    assert not unbounded, f"requirements without a lower bound: {unbounded}"
