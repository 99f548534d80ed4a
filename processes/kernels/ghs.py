"""Generalised hyperbolic stretch (GHS) transfer functions (Cranfield & Shelley, ghsastro.co.uk).

The published GHS equations build a stretch around a *symmetry point* SP from a base
function T₁(y), y ≥ 0, of stretch D = e^stretchFactor − 1 and local intensity b:

=========================  ======================================  =============================
family                     T₁(y)                                   T₁'(y)
=========================  ======================================  =============================
b = −1 (logarithmic)       ln(1 + D·y)                             D / (1 + D·y)
b < 0, b ≠ −1 (integral)   (1 − (1 − b·D·y)^((b+1)/b)) / (b + 1)    D·(1 − b·D·y)^(1/b)
b = 0 (exponential)        1 − exp(−D·y)                           D·exp(−D·y)
b > 0 (hyperbolic)         1 − (1 + b·D·y)^(−1/b)                  D·(1 + b·D·y)^(−(1+b)/b)
midtones transfer          (m − 1)·y / ((2m − 1)·y − m)            m·(1 − m) / ((2m − 1)·y − m)²,
                           with m = 1/(2(D + 1))
arcsinh                    asinh(D·y)                              D / √(D²y² + 1)
=========================  ======================================  =============================

The stretch T(x) is T₁(x − SP) above SP and −T₁(SP − x) below it; below the shadow
protection point LP and above the highlight protection point HP it continues as the
tangent line (linear), and it is finally normalized so that T(0) = 0 and T(1) = 1.  The
inverse stretch is the exact inverse of that normalized function.  The linear stretch
maps [BP, WP] to [0, 1] (its inverse maps [0, 1] back to [BP, WP]).  Outputs are clipped
to [0, 1].
"""

from __future__ import annotations

import math

import numpy as np

GENERALISED_HYPERBOLIC = "ST_GeneralisedHyperbolic"
MIDTONES_TRANSFER = "ST_MidtonesTransfer"
ARCSINH = "ST_Arcsinh"
LINEAR = "ST_Linear"


class GHSTransform:
    """One GHS transfer function of PixInsight's GeneralizedHyperbolicStretch parameters."""

    def __init__(
        self,
        stretch_type: str = GENERALISED_HYPERBOLIC,
        stretch_factor: float = 0.0,
        local_intensity: float = 0.0,
        symmetry_point: float = 0.0,
        shadow_protection: float = 0.0,
        highlight_protection: float = 1.0,
        black_point: float = 0.0,
        white_point: float = 1.0,
        inverse: bool = False,
    ) -> None:
        if stretch_type not in (GENERALISED_HYPERBOLIC, MIDTONES_TRANSFER, ARCSINH, LINEAR):
            raise ValueError(f"unknown GHS stretch type {stretch_type!r}")
        self.stretch_type = stretch_type
        self.D = math.expm1(float(stretch_factor))
        b = float(local_intensity)
        self.b = 0.0 if abs(b) < 1e-9 else -1.0 if abs(b + 1) < 1e-12 else b  # the limits, numerically
        self.sp = float(symmetry_point)
        self.lp = min(float(shadow_protection), self.sp)
        self.hp = max(float(highlight_protection), self.sp)
        self.bp = float(black_point)
        self.wp = float(white_point)
        self.inverse = bool(inverse)
        if not self.is_identity() and stretch_type != LINEAR:
            self._t_lp = -self.base(self.sp - self.lp)
            self._s_lp = self.slope(self.sp - self.lp)
            self._t_hp = self.base(self.hp - self.sp)
            self._s_hp = self.slope(self.hp - self.sp)
            self._t0 = self._t_lp - self.lp * self._s_lp
            self._t1 = self._t_hp + (1 - self.hp) * self._s_hp

    def is_identity(self) -> bool:
        """True when the function is x ↦ clip(x, 0, 1)."""
        if self.stretch_type == LINEAR:
            return self.bp == 0 and self.wp == 1
        return self.D == 0

    # -- the base function and its inverse ------------------------------------------------------
    def base(self, y: np.ndarray | float) -> np.ndarray:
        """T₁(y) for y ≥ 0."""
        y = np.asarray(y, dtype=np.float64)
        d, b = self.D, self.b
        if self.stretch_type == MIDTONES_TRANSFER:
            m = 1 / (2 * (d + 1))
            return (m - 1) * y / ((2 * m - 1) * y - m)
        if self.stretch_type == ARCSINH:
            return np.arcsinh(d * y)
        if b == -1:
            return np.log1p(d * y)
        # log1p/expm1 forms of the power laws stay accurate for |b| → 0 and b → −1
        if b < 0:
            return -np.expm1((b + 1) / b * np.log1p(-b * d * y)) / (b + 1)
        if b == 0:
            return -np.expm1(-d * y)
        return -np.expm1(-np.log1p(b * d * y) / b)

    def slope(self, y: np.ndarray | float) -> np.ndarray:
        """T₁'(y) for y ≥ 0."""
        y = np.asarray(y, dtype=np.float64)
        d, b = self.D, self.b
        if self.stretch_type == MIDTONES_TRANSFER:
            m = 1 / (2 * (d + 1))
            return m * (1 - m) / ((2 * m - 1) * y - m) ** 2
        if self.stretch_type == ARCSINH:
            return d / np.sqrt(d * d * y * y + 1)
        if b == -1:
            return d / (1 + d * y)
        if b < 0:
            return d * np.exp(np.log1p(-b * d * y) / b)
        if b == 0:
            return d * np.exp(-d * y)
        return d * np.exp(-(1 + b) / b * np.log1p(b * d * y))

    def base_inverse(self, v: np.ndarray) -> np.ndarray:
        """T₁⁻¹(v) for v ≥ 0."""
        v = np.asarray(v, dtype=np.float64)
        d, b = self.D, self.b
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            if self.stretch_type == MIDTONES_TRANSFER:
                m = 1 / (2 * (d + 1))
                return m * v / ((2 * m - 1) * v + 1 - m)
            if self.stretch_type == ARCSINH:
                return np.sinh(v) / d
            if b == -1:
                return np.expm1(v) / d
            if b < 0:
                return -np.expm1(b / (b + 1) * np.log1p(-(b + 1) * v)) / (b * d)
            if b == 0:
                return -np.log1p(-v) / d
            return np.expm1(-b * np.log1p(-v)) / (b * d)

    # -- the stretch -----------------------------------------------------------------------------
    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The stretch (or its inverse) of ``x``, float64, clipped to [0, 1]."""
        x = np.asarray(x, dtype=np.float64)
        if self.is_identity():
            return np.clip(x, 0, 1)
        if self.stretch_type == LINEAR:
            if self.inverse:
                return np.clip(x * (self.wp - self.bp) + self.bp, 0, 1)
            return np.clip((x - self.bp) / (self.wp - self.bp), 0, 1)
        y = self._inverse(x) if self.inverse else self._forward(x)
        return np.clip(y, 0, 1)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        sp, lp, hp = self.sp, self.lp, self.hp
        t = np.empty_like(x)
        low = x < lp
        mid_low = (x >= lp) & (x < sp)
        mid_high = (x >= sp) & (x < hp)
        high = x >= hp
        t[low] = self._t_lp + self._s_lp * (x[low] - lp)
        t[mid_low] = -self.base(sp - x[mid_low])
        t[mid_high] = self.base(x[mid_high] - sp)
        t[high] = self._t_hp + self._s_hp * (x[high] - hp)
        return (t - self._t0) / (self._t1 - self._t0)

    def _inverse(self, y: np.ndarray) -> np.ndarray:
        sp, lp, hp = self.sp, self.lp, self.hp
        u = self._t0 + y * (self._t1 - self._t0)
        x = np.empty_like(u)
        low = u < self._t_lp
        mid_low = (u >= self._t_lp) & (u < 0)
        mid_high = (u >= 0) & (u < self._t_hp)
        high = u >= self._t_hp
        x[low] = lp + _safe_divide(u[low] - self._t_lp, self._s_lp)
        x[mid_low] = sp - self.base_inverse(-u[mid_low])
        x[mid_high] = sp + self.base_inverse(u[mid_high])
        x[high] = hp + _safe_divide(u[high] - self._t_hp, self._s_hp)
        return x


def _safe_divide(num: np.ndarray, den: float) -> np.ndarray:
    """num/den, or 0 where the slope underflowed to 0 (a flat linear run has no inverse spread)."""
    den = float(den)
    return num / den if den > 0 else np.zeros_like(num)
