"""Shared fixtures and helpers: small images, a workspace, the path of the shared corpus, CIE lightness.

The corpus is found at ``$PROCFW_CORPUS`` or else ``../shared/corpus`` beside the checkout.
Locally a test that needs it skips when it is missing; under CI (``CI`` set to a true value)
such a skip — and a skip for a missing peer program such as ``siril-cli``, which ``.ci/run``
installs before the tests — is turned into a failure, so missing inputs never pass silently.
Under CI, hypothesis is derandomized (the same examples every run).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import settings

from procfw.image import Image
from procfw.workspace import Workspace

CORPUS = Path(os.environ.get("PROCFW_CORPUS") or Path(__file__).resolve().parents[1].parent / "shared" / "corpus")
UNDER_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
_REQUIRED_UNDER_CI = ("corpus", "seestar", "siril-cli", str(CORPUS).lower())

# Under CI, hypothesis draws the same examples on every run and sets no deadline (a shared
# 2-core machine is noisy), so whether a change lands does not depend on luck; local runs
# draw new ones, and what they find is kept as an @example.
settings.register_profile("ci", derandomize=True, deadline=None)
if UNDER_CI:
    settings.load_profile("ci")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: ARG001 - pytest hook signature
    """Under CI, a skip because the corpus or a peer program is missing is a failure."""
    outcome = yield
    report = outcome.get_result()
    if not (UNDER_CI and report.skipped and isinstance(report.longrepr, tuple)):
        return
    reason = str(report.longrepr[2])
    if any(word in reason.lower() for word in _REQUIRED_UNDER_CI):
        report.outcome = "failed"
        report.longrepr = f"required under CI, but missing: {reason}"


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


def pixel(*values: float) -> Image:
    """A one-pixel image with one channel per value: ``pixel(r, g, b)``, ``pixel(grey)``."""
    return Image(np.array(values, dtype=np.float32).reshape(len(values), 1, 1))


# sRGB (D50) as PixInsight's RGBColorSystem::sRGB: luminance coefficients, normalized to sum 1
SRGB_LUMINANCE = np.array([0.222491, 0.716888, 0.060621]) / (0.222491 + 0.716888 + 0.060621)


def cie_lightness(r: Any, g: Any, b: Any) -> np.ndarray:
    """Normalized CIE L* of sRGB values, computed independently of the colour-space kernel:
    sRGB decoding, Y with :data:`SRGB_LUMINANCE`, then L = 1.16·Y^(1/3) − 0.16 (linear below 216/24389)."""

    def linear(v: Any) -> np.ndarray:
        v = np.asarray(v, float)
        return np.where(v > 0.04045, ((v + 0.055) / 1.055) ** 2.4, v / 12.92)

    y = SRGB_LUMINANCE[0] * linear(r) + SRGB_LUMINANCE[1] * linear(g) + SRGB_LUMINANCE[2] * linear(b)
    f = np.where(y > 216 / 24389, np.cbrt(y), (24389 / 27 * y + 16) / 116)
    return 1.16 * f - 0.16


@pytest.fixture
def workspace() -> Workspace:
    """An empty workspace."""
    return Workspace()
