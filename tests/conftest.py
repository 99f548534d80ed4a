"""Shared fixtures: small images, a workspace, and the path of the shared corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from procfw.image import Image
from procfw.workspace import Workspace

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


@pytest.fixture
def corpus() -> Path:
    """The shared corpus folder beside the checkout (skips when absent)."""
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    return CORPUS


def ramp(channels: int = 1, height: int = 4, width: int = 6) -> Image:
    """A deterministic image whose pixels are distinct values in [0, 1]."""
    n = channels * height * width
    return Image(np.linspace(0, 1, n, dtype=np.float32).reshape(channels, height, width))


@pytest.fixture
def workspace() -> Workspace:
    """An empty workspace."""
    return Workspace()
