"""Output and rejection normalization of ImageIntegration as per-frame affine maps.

With ``m_i`` the location (median) and ``s_i`` the scale of frame ``i`` (channel by
channel), frame 0 the reference and ``k_i = s_0/s_i``, every normalization is
``v' = A_i·v + B_i``:

=========================  ==========================  =========================
``normalization``          A_i                          B_i
=========================  ==========================  =========================
NoNormalization            1                            0
Additive                   1                            m_0 − m_i
Multiplicative             m_0/m_i                      0
AdditiveWithScaling        k_i                          m_0 − k_i·m_i
MultiplicativeWithScaling  k_i·m_0/m_i                  0
=========================  ==========================  =========================

Rejection normalization (applied to a copy used only to decide rejections, frames i ≥ 1):
``Scale`` is ``(v − m_i)·k_i + m_0`` (zeros stay zero, then a per-row pedestal keeps values
positive); ``EqualizeFluxes`` is ``v·m_0/m_i`` (PixInsight uses PSF flux ratios; the
median ratio stands in for them here).
"""

from __future__ import annotations

import numpy as np

__all__ = ["OUTPUT_NORMALIZATIONS", "output_normalization", "rejection_normalization"]

OUTPUT_NORMALIZATIONS = (
    "NoNormalization", "Additive", "Multiplicative", "AdditiveWithScaling", "MultiplicativeWithScaling",
)


def _ratios(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = numerator / denominator
    return np.where(np.isfinite(out) & (denominator != 0), out, 1.0)


def output_normalization(mode: str, location: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A, B), each (channels, N), for ``normalization`` = ``mode``; inputs are (channels, N)."""
    location = np.asarray(location, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    m0 = location[:, :1]
    k = _ratios(scale[:, :1], scale)
    ones = np.ones_like(location)
    zeros = np.zeros_like(location)
    if mode == "NoNormalization":
        return ones, zeros
    if mode == "Additive":
        return ones, m0 - location
    if mode == "Multiplicative":
        return _ratios(m0, location), zeros
    if mode == "AdditiveWithScaling":
        return k, m0 - k * location
    if mode == "MultiplicativeWithScaling":
        return k * _ratios(m0, location), zeros
    raise ValueError(f"unsupported normalization {mode!r}")


def rejection_normalization(
    mode: str, location: np.ndarray, scale: np.ndarray
) -> tuple[str, np.ndarray | None, np.ndarray | None]:
    """(engine mode, A, B) for ``rejectionNormalization`` = ``mode``."""
    if mode == "NoRejectionNormalization":
        return "none", None, None
    location = np.asarray(location, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    m0 = location[:, :1]
    if mode == "Scale":
        k = _ratios(scale[:, :1], scale)
        return "scale", k, m0 - k * location
    if mode == "EqualizeFluxes":
        return "flux", _ratios(m0, location), np.zeros_like(location)
    raise ValueError(f"unsupported rejection normalization {mode!r}")
