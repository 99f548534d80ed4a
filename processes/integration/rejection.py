"""Pixel rejection algorithms of PixInsight's ImageIntegration, vectorised over pixel stacks.

Every algorithm works on a *group*: a column-sorted stack ``sub`` of shape ``(m, G)``
holding the ``m`` values still in play for each of ``G`` pixels (rank-major, ascending).
One call of :meth:`Rejector.step` is one pass of PixInsight's per-pixel loop for all the
pixels of the group at once; it returns boolean masks (same shape as ``sub``) of the values
rejected low and high in that pass, and whether each pixel needs another pass.  The
streaming engine (:mod:`processes.integration.engine`) regroups the surviving values by
count between passes, so every pass sees uniform stacks and needs no per-pixel Python.

The semantics follow PixInsight 1.8.9's ImageIntegration module (read for the formulas,
written from scratch here):

``MinMax``
    reject the ``minMaxLow`` lowest and ``minMaxHigh`` highest values.
``PercentileClip``
    reject values whose relative distance to the median, ``(med − x)/med`` (low) or
    ``(x − med)/med`` (high), exceeds ``pcClipLow``/``pcClipHigh``.  One pass.
``SigmaClip``
    iterative: σ is the sample standard deviation, the centre the median; reject
    ``(med − x)/σ > sigmaLow`` and ``(x − med)/σ > sigmaHigh``; repeat on the survivors
    while something was rejected and at least 3 values remain.
``WinsorizedSigmaClip``
    as SigmaClip, but centre and σ come from a Huber-type winsorization: start with the
    median and σ = 1.1926·Sn (Rousseeuw–Croux); repeat ``t = mean ± 1.5σ``, clamp the
    values to [t0, t1], ``σ = 1.134·stddev``, ``mean = mean`` (of the clamped values)
    until σ changes by less than 0.05 % (at least two rounds).  In the first rejection
    pass, values farther than ``winsorizationCutoff``·σ from the mean are replaced by the
    mean instead of being clamped.
``AveragedSigmaClip``
    σ is modelled from the whole stack once, ``s = √(Σ(x − med)²/med / (n − 1))``, and
    scaled by ``√median`` on every pass (Poisson-like noise).
``LinearFit``
    fit the sorted values against their rank with a least-absolute-deviation line,
    ``σ = 2·adev·√(1 + b²)``, reject points ``linearFitLow``/``linearFitHigh`` σ below /
    above the line (≥); needs 5 values to start, 3 to go on.  The slope of the final fit
    (``atan(b)/(π/4)``) feeds the slope map.
``Rejection_ESD``
    generalized extreme Studentized deviate test with up to ``esdOutliersFraction``·n
    outliers, significance ``esdAlpha``, trimmed-mean centre and a relaxed low-side
    deviation (``esdLowRelaxation``); the leading run of significant test statistics is
    rejected, each low or high by its side of the median.
``Rejection_RCR``
    robust Chauvenet rejection in three phases (median + 68.3-percentile deviation from
    a line fit, median + sample 68.3 percentile, mean + standard deviation), removing one
    extreme value at a time while ``n·Q(z) < rcrLimit``.
``CCDClip``
    sigma clipping around the median with σ from the CCD noise model
    (gain, read noise, scale noise; PixInsight's normalization for 16-bit data).

Values are float32 (the module centres each stack on its median first, so deviations
keep full precision); statistics that accumulate squares use float64.
"""

from __future__ import annotations

import math
from functools import lru_cache

import attrs
import numpy as np

from processes.integration.lad import lad_fit
from processes.integration.sorting import block_columns, median_of_sorted, sort_stack

__all__ = [
    "ALGORITHMS",
    "RejectionSettings",
    "Rejector",
    "esd_lambda",
    "make_rejector",
    "sn_of_sorted",
    "winsorize",
]

HUBER_MAX_ITERATIONS = 100
"""Safety bound on winsorization rounds (PixInsight has none; convergence takes ~5-10)."""

TINY = 2.0**-53
"""Below this a positive value x satisfies PixInsight's ``1 + x == 1`` (double precision)."""


@attrs.frozen(kw_only=True)
class RejectionSettings:
    """The rejection parameters of an ImageIntegration instance, as plain values."""

    algorithm: str = "NoRejection"
    clip_low: bool = True
    clip_high: bool = True
    minmax_low: int = 1
    minmax_high: int = 1
    pc_low: float = 0.2
    pc_high: float = 0.1
    sigma_low: float = 4.0
    sigma_high: float = 3.0
    winsorization_cutoff: float = 5.0
    linear_fit_low: float = 5.0
    linear_fit_high: float = 4.0
    esd_outliers_fraction: float = 0.3
    esd_alpha: float = 0.05
    esd_low_relaxation: float = 1.0
    rcr_limit: float = 0.1
    ccd_gain: float = 1.0
    ccd_read_noise: float = 10.0
    ccd_scale_noise: float = 0.0


def _tiny(values: np.ndarray) -> np.ndarray:
    """PixInsight's ``1 + x == 1`` test (in double precision)."""
    return np.abs(values) <= TINY


def _safe(values: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """``values`` with the ``bad`` entries replaced by 1 (to divide by harmlessly)."""
    return np.where(bad, values.dtype.type(1), values)


def _prefix(cond: np.ndarray) -> np.ndarray:
    """Leading run of True along axis 0 (a loop from the lowest value that stops at the first False)."""
    return np.logical_and.accumulate(cond, axis=0)


def _suffix(cond: np.ndarray) -> np.ndarray:
    """Trailing run of True along axis 0 (a loop from the highest value down)."""
    return np.logical_and.accumulate(cond[::-1], axis=0)[::-1]


def _sample_sigma(y: np.ndarray) -> np.ndarray:
    """Sample standard deviation of each column (n − 1), float64, compensated two-pass."""
    m = y.shape[0]
    d = y.astype(np.float64)
    d -= d.mean(axis=0)
    eps = d.sum(axis=0)
    var = ((d * d).sum(axis=0) - eps * eps / m) / (m - 1)
    return np.sqrt(np.maximum(var, 0.0))


def sn_of_sorted(y: np.ndarray) -> np.ndarray:
    """Rousseeuw–Croux Sn of each column of a column-sorted stack (unnormalized, c = 1).

    ``Sn = lomed_i himed_j |x_i − x_j|`` with ``himed`` the order statistic of rank
    ``n/2 + 1`` and ``lomed`` of rank ``(n + 1)/2`` (1-based, integer division), as in
    PCL.  For sorted data the ``h + 1`` nearest values to ``x_i`` form a window of
    consecutive ranks, so ``himed_i = min over windows [a, a + h] ∋ i of
    max(x_i − x_a, x_{a+h} − x_i)``: O(n²/2) vector operations, no per-pixel sorting.
    """
    m, g = y.shape
    out = np.zeros(g, dtype=y.dtype)
    if m < 2:
        return out
    h = m // 2
    w = m - h
    blocks = block_columns(m, g)
    width = blocks[0][1] - blocks[0][0]
    himed_buf = np.empty((m, width), dtype=y.dtype)
    t1_buf = np.empty((w, width), dtype=y.dtype)
    t2_buf = np.empty((w, width), dtype=y.dtype)
    rank = (m + 1) // 2 - 1
    for c0, c1 in blocks:
        yb = y[:, c0:c1]
        himed = himed_buf[:, : c1 - c0]
        t1 = t1_buf[:, : c1 - c0]
        t2 = t2_buf[:, : c1 - c0]
        left = yb[0:w]
        right = yb[h:m]
        # k = 0 and k = h: the distance is the window width itself
        np.subtract(right, left, out=t2)
        himed[h:m] = t2
        himed[0:h] = np.inf
        np.minimum(himed[0:w], t2, out=himed[0:w])
        for k in range(1, h):
            xi = yb[k : k + w]
            np.subtract(xi, left, out=t1)
            np.subtract(right, xi, out=t2)
            np.maximum(t1, t2, out=t1)
            np.minimum(himed[k : k + w], t1, out=himed[k : k + w])
        out[c0:c1] = sort_stack(himed, out=himed)[rank]
    return out


def winsorize(y: np.ndarray, sigma0: np.ndarray, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """PixInsight's rejection winsorization of each column of ``y`` (centred on its median).

    Starts from mean 0 (the median) and ``sigma0``; returns the winsorized (mean, σ).
    Columns with σ ≈ 0 return (0, σ).  The element-wise work runs over cache-sized column
    blocks; converged columns are dropped from the working set as they go.
    """
    m, g = y.shape
    out_mean = np.zeros(g, dtype=np.float32)
    out_sigma = np.asarray(sigma0, dtype=np.float32).copy()
    idx = np.flatnonzero(~_tiny(out_sigma))
    if idx.size == 0:
        return out_mean, out_sigma
    v = y[:, idx] if idx.size < g else y.copy()
    mean = out_mean[idx]
    sigma = out_sigma[idx]
    live = np.ones(idx.size, dtype=bool)
    width = block_columns(m, idx.size)[0][1]
    cut = np.empty((m, width), dtype=bool) if cutoff > 0 else None
    more = np.empty((m, width), dtype=bool) if cutoff > 0 else None
    one_five, k, inv_m, inv_m1 = np.float32(1.5), np.float32(cutoff), np.float32(1 / m), np.float32(1 / (m - 1))
    tiny = np.float32(TINY)
    tolerance = np.float32(0.0005)
    bound_low = bound_high = None
    for rounds in range(1, HUBER_MAX_ITERATIONS + 1):
        spread = one_five * sigma
        low = mean - spread
        high = mean + spread
        cutting = cut is not None
        if cutting:
            spread = k * sigma
            cut_low = mean - spread
            cut_high = mean + spread
            if bound_low is not None:
                # After the first round every value lies in the previous [t0, t1] (or equals a
                # previous mean inside it): skip the cut-off test when it cannot trigger.
                cutting = bool(np.any(bound_low <= cut_low) or np.any(bound_high >= cut_high))
            bound_low, bound_high = low, high
        total = np.empty_like(mean)
        squares = np.empty_like(mean)
        for c0, c1 in block_columns(m, idx.size):
            vb = v[:, c0:c1]
            if cutting:
                # PixInsight: x < t0 -> (x > c0 ? t0 : mean); x > t1 -> (x < c1 ? t1 : mean)
                cb, mb = cut[:, : c1 - c0], more[:, : c1 - c0]
                np.less_equal(vb, cut_low[c0:c1], out=cb)
                np.greater_equal(vb, cut_high[c0:c1], out=mb)
                cb |= mb
            np.maximum(vb, low[c0:c1], out=vb)
            np.minimum(vb, high[c0:c1], out=vb)
            if cutting:
                np.copyto(vb, np.broadcast_to(mean[c0:c1], vb.shape), where=cb)
            np.add.reduce(vb, axis=0, out=total[c0:c1])
            squares[c0:c1] = np.einsum("ij,ij->j", vb, vb)
        new_mean = total * inv_m
        total *= new_mean
        squares -= total
        squares *= inv_m1
        np.maximum(squares, 0, out=squares)
        new_sigma = np.sqrt(squares, out=squares)
        new_sigma *= np.float32(1.134)
        done = new_sigma < tiny
        if rounds > 1:
            change = np.abs(sigma - new_sigma)
            done |= change < tolerance * sigma
        np.copyto(mean, new_mean, where=live)
        np.copyto(sigma, new_sigma, where=live)
        live &= ~done
        count = int(np.count_nonzero(live))
        if count == 0:
            break
        if count < 0.7 * live.size:
            out_mean[idx] = mean
            out_sigma[idx] = sigma
            keep = np.flatnonzero(live)
            v, idx, mean, sigma = v.take(keep, axis=1), idx[keep], mean[keep], sigma[keep]
            if bound_low is not None:
                bound_low, bound_high = bound_low[keep], bound_high[keep]
            live = np.ones(idx.size, dtype=bool)
    out_mean[idx] = mean
    out_sigma[idx] = sigma
    return out_mean, out_sigma


@lru_cache(maxsize=256)
def esd_lambda(n: int, k: int, alpha: float) -> np.ndarray:
    """Critical values λ_i (i = 0..k−1) of the two-sided generalized ESD test for ``n`` values."""
    from scipy import stats

    out = np.empty(k)
    for i in range(k):
        p = alpha / 2.0 / (n - i)
        nu = n - i - 2
        t = float(stats.t.isf(p, nu)) if p < 0.5 else 0.0
        out[i] = t * (n - i - 1) / math.sqrt((n - i - 2 + t * t) * (n - i))
    return out


class Rejector:
    """One rejection algorithm for one chunk of pixels (it may keep per-pixel state).

    ``min_count``: a stack needs at least this many values for the algorithm to run.
    """

    min_count = 3
    state_names: tuple[str, ...] = ()
    """Names of per-pixel state arrays carried from one pass to the next."""

    def __init__(self, settings: RejectionSettings, size: int) -> None:
        self.settings = settings
        self.size = size

    def export(self, cols: np.ndarray) -> dict[str, np.ndarray]:
        """The per-pixel state of ``cols`` (to continue them in another rejector)."""
        return {name: getattr(self, name)[cols] for name in self.state_names}

    def load(self, state: dict[str, np.ndarray]) -> None:
        """Take over state exported by :meth:`export` (one entry per pixel of this rejector)."""
        for name in self.state_names:
            setattr(self, name, np.array(state[name]))

    def step(self, sub: np.ndarray, it: int, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One rejection pass over the group ``sub`` (m, G) of pixels ``cols`` (chunk indices).

        Returns (low, high, again): rejection masks like ``sub`` and the pixels to pass again.
        """
        raise NotImplementedError

    def _again(self, low: np.ndarray, high: np.ndarray, minimum: int = 3) -> np.ndarray:
        count = np.count_nonzero(low, axis=0) + np.count_nonzero(high, axis=0)
        return (count > 0) & (low.shape[0] - count >= minimum)

    def _sigma_masks(
        self, y: np.ndarray, centre: np.ndarray, sigma: np.ndarray, low_k: float, high_k: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Masks of (centre − x)/σ > low_k and (x − centre)/σ > high_k (σ ≈ 0: nothing).

        Evaluated as ``x < centre − low_k·σ`` and ``x > centre + high_k·σ``.
        """
        s = self.settings
        bad = _tiny(sigma)
        dtype = y.dtype.type
        if s.clip_low:
            limit = np.where(bad, dtype(-np.inf), centre - dtype(low_k) * sigma).astype(y.dtype, copy=False)
            low = y < limit
        else:
            low = np.zeros(y.shape, dtype=bool)
        if s.clip_high:
            limit = np.where(bad, dtype(np.inf), centre + dtype(high_k) * sigma).astype(y.dtype, copy=False)
            high = y > limit
        else:
            high = np.zeros(y.shape, dtype=bool)
        return low, high


class MinMaxRejector(Rejector):
    """Reject a fixed number of the lowest and highest values."""

    min_count = 1

    def step(self, sub, it, cols):
        s = self.settings
        m, g = sub.shape
        nl = min(s.minmax_low, m) if s.clip_low else 0
        nh = min(s.minmax_high, m - nl) if s.clip_high else 0
        ranks = np.arange(m)[:, None]
        low = np.broadcast_to(ranks < nl, (m, g)).copy()
        high = np.broadcast_to(ranks >= m - nh, (m, g)).copy()
        return low, high, np.zeros(g, dtype=bool)


class PercentileRejector(Rejector):
    """Reject values too far from the median, relative to the median."""

    min_count = 2

    def step(self, sub, it, cols):
        s = self.settings
        m, g = sub.shape
        med = median_of_sorted(sub)
        bad = _tiny(med)
        safe = _safe(med, bad)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = (sub - med) / safe
        rel[:, bad] = 0
        low = _prefix(-rel > s.pc_low) if s.clip_low else np.zeros((m, g), dtype=bool)
        high = (_suffix(rel > s.pc_high) & ~low) if s.clip_high else np.zeros((m, g), dtype=bool)
        return low, high, np.zeros(g, dtype=bool)


class SigmaClipRejector(Rejector):
    """Iterative sigma clipping around the median."""

    def step(self, sub, it, cols):
        s = self.settings
        y = sub - median_of_sorted(sub)
        sigma = _sample_sigma(y).astype(np.float32)
        low, high = self._sigma_masks(y, np.float32(0), sigma, s.sigma_low, s.sigma_high)
        return low, high, self._again(low, high)


class WinsorizedRejector(Rejector):
    """Winsorized sigma clipping (PixInsight 1.8.9 semantics, module docstring)."""

    def step(self, sub, it, cols):
        s = self.settings
        y = sub - median_of_sorted(sub)
        sigma0 = np.float32(1.1926) * sn_of_sorted(y)
        cutoff = s.winsorization_cutoff if it == 0 else 0.0
        mean, sigma = winsorize(y, sigma0, cutoff)
        low, high = self._sigma_masks(y, mean, sigma, s.sigma_low, s.sigma_high)
        return low, high, self._again(low, high)


class AveragedSigmaClipRejector(Rejector):
    """Averaged sigma clipping: σ = s·√median with s modelled once from the whole stack."""

    state_names = ("model",)

    def __init__(self, settings: RejectionSettings, size: int) -> None:
        super().__init__(settings, size)
        self.model = np.zeros(size, dtype=np.float64)

    def step(self, sub, it, cols):
        s = self.settings
        m, g = sub.shape
        med = median_of_sorted(sub).astype(np.float64)
        if it == 0:
            bad = _tiny(med)
            with np.errstate(divide="ignore", invalid="ignore"):
                d = sub.astype(np.float64) - med
                model = np.sqrt((d * d / _safe(med, bad)).sum(axis=0) / (m - 1))
            self.model[cols] = np.where(bad, 0.0, model)
        with np.errstate(invalid="ignore"):
            sigma = (self.model[cols] * np.sqrt(med)).astype(np.float32)
        sigma = np.nan_to_num(sigma, nan=0.0)
        low, high = self._sigma_masks(sub, med.astype(np.float32), sigma, s.sigma_low, s.sigma_high)
        return low, high, self._again(low, high)


class LinearFitRejector(Rejector):
    """Linear fit clipping against the rank of the sorted values; records the slope."""

    min_count = 5
    state_names = ("slope",)

    def __init__(self, settings: RejectionSettings, size: int) -> None:
        super().__init__(settings, size)
        self.slope = np.zeros(size, dtype=np.float32)

    def step(self, sub, it, cols):
        s = self.settings
        m, g = sub.shape
        y = (sub - median_of_sorted(sub)).astype(np.float64)
        ranks = np.arange(m, dtype=np.float64)
        a, b, adev = lad_fit(ranks, y)
        sigma = 2.0 * adev * np.sqrt(1.0 + b * b)
        bad = _tiny(sigma)
        sigma = _safe(sigma, bad)
        fit = a + b * ranks[:, None]
        below = y < fit
        low = below & ((fit - y) / sigma >= s.linear_fit_low) if s.clip_low else np.zeros((m, g), dtype=bool)
        high = ~below & ((y - fit) / sigma >= s.linear_fit_high) if s.clip_high else np.zeros((m, g), dtype=bool)
        low[:, bad] = False
        high[:, bad] = False
        clean = ~bad & ~(low.any(axis=0) | high.any(axis=0))
        with np.errstate(over="ignore"):
            slope = np.where(b > 0, np.where(b < 1e7, np.arctan(b) / (math.pi / 4), 1.0), 0.0)
        self.slope[cols[clean]] = slope[clean]
        return low, high, self._again(low, high)


class ESDRejector(Rejector):
    """Generalized extreme Studentized deviate rejection (one pass)."""

    def step(self, sub, it, cols):
        s = self.settings
        m, g = sub.shape
        frac, relax = s.esd_outliers_fraction, s.esd_low_relaxation
        k = min(max(int(frac * m), 1), m - 2)
        y = sub.astype(np.float64) - median_of_sorted(sub).astype(np.float64)
        s1 = np.zeros((m + 1, g))
        s2 = np.zeros((m + 1, g))
        np.cumsum(y, axis=0, out=s1[1:])
        np.cumsum(y * y, axis=0, out=s2[1:])
        col = np.arange(g)
        lo = np.zeros(g, dtype=np.intp)
        hi = np.full(g, m, dtype=np.intp)
        los, his = [lo], [hi]
        tests = np.empty((k, g))
        for i in range(k):
            nn = m - i
            th = max(1, int(frac * nn) - i)
            tl = max(1, int(frac / relax * nn) - i)
            if th + tl < nn - 2:
                a, b = lo + tl, hi - th
                centre = (s1[b, col] - s1[a, col]) / (b - a)
            else:
                half = lo + nn // 2
                centre = y[half, col] if nn % 2 else (y[half - 1, col] + y[half, col]) / 2
            t1 = s1[hi, col] - s1[lo, col]
            t2 = s2[hi, col] - s2[lo, col]
            sh = np.sqrt(np.maximum((t2 - t1 * t1 / nn) / (nn - 1), 0.0))
            bad = _tiny(sh)
            sh = _safe(sh, bad)
            sl = relax * sh
            xlo = y[lo, col] - centre
            xhi = y[hi - 1, col] - centre
            rlo = np.where(xlo >= 0, xlo / sh, -xlo / sl)
            rhi = np.where(xhi >= 0, xhi / sh, -xhi / sl)
            take_low = rlo >= rhi
            tests[i] = np.where(bad, -np.inf, np.maximum(rlo, rhi))
            lo = np.where(take_low & ~bad, lo + 1, lo)
            hi = np.where(~take_low & ~bad, hi - 1, hi)
            los.append(lo)
            his.append(hi)
        passed = _prefix(tests >= esd_lambda(m, k, float(s.esd_alpha))[:, None])
        count = passed.sum(axis=0)
        lo_final = np.stack(los)[count, col]
        hi_final = np.stack(his)[count, col]
        ranks = np.arange(m)[:, None]
        removed = (ranks < lo_final) | (ranks >= hi_final)
        above = y > 0
        low = removed & ~above if s.clip_low else np.zeros((m, g), dtype=bool)
        high = removed & above if s.clip_high else np.zeros((m, g), dtype=bool)
        return low, high, np.zeros(g, dtype=bool)


class RCRRejector(Rejector):
    """Robust Chauvenet rejection: one extreme value per pass, three phases."""

    state_names = ("phase",)

    def __init__(self, settings: RejectionSettings, size: int) -> None:
        super().__init__(settings, size)
        self.phase = np.zeros(size, dtype=np.int8)

    @staticmethod
    def _fn(n: int) -> float:
        return 1.0 / (1.0 - 2.9442 * n**-1.073)

    def _sample_deviation(self, y: np.ndarray, centre: np.ndarray) -> np.ndarray:
        n = y.shape[0]
        dev = np.sort(np.abs(y - centre), axis=0)
        return self._fn(n) * dev[int(0.683 * n)]

    def _line_fit_deviation(self, y: np.ndarray, centre: np.ndarray) -> np.ndarray:
        from scipy import special

        n = y.shape[0]
        n_ = int(0.683 * n + 0.317)
        if n_ < 8:
            return self._sample_deviation(y, centre)
        dev = np.sort(np.abs(y - centre), axis=0)[:n_]
        x = math.sqrt(2) * special.erfinv((np.arange(n_) + 1 - 0.317) / n)
        a, b, _ = lad_fit(x, dev)
        return self._fn(n) * (a + b)

    def step(self, sub, it, cols):
        from scipy import special

        s = self.settings
        m, g = sub.shape
        y = sub.astype(np.float64) - median_of_sorted(sub).astype(np.float64)
        phase = self.phase[cols]
        centre = np.zeros(g)
        dev = np.zeros(g)
        for p in (0, 1, 2):
            sel = phase == p
            if not sel.any():
                continue
            ys = y[:, sel]
            if p == 2:
                c = ys.mean(axis=0)
                dev[sel] = _sample_sigma(ys)
            else:
                c = np.zeros(ys.shape[1])
                dev[sel] = self._line_fit_deviation(ys, c) if p == 0 else self._sample_deviation(ys, c)
            centre[sel] = c
        bad = _tiny(dev)
        dev = _safe(dev, bad)
        qf_low = m * 0.5 * special.erfc((centre - y[0]) / dev / math.sqrt(2)) if s.clip_low else np.zeros(g)
        qf_high = m * 0.5 * special.erfc((y[-1] - centre) / dev / math.sqrt(2)) if s.clip_high else np.zeros(g)
        c0 = (qf_low < s.rcr_limit) if s.clip_low else np.zeros(g, dtype=bool)
        c1 = (qf_high < s.rcr_limit) if s.clip_high else np.zeros(g, dtype=bool)
        reject_high = c1 & (~c0 | (qf_high < qf_low)) & ~bad
        reject_low = ((c1 & c0 & ~(qf_high < qf_low)) | (c0 & ~c1)) & ~bad
        low = np.zeros((m, g), dtype=bool)
        high = np.zeros((m, g), dtype=bool)
        low[0] = reject_low
        high[-1] = reject_high
        removed = reject_low | reject_high
        next_phase = np.where(removed, phase, phase + 1).astype(np.int8)
        self.phase[cols] = next_phase
        again = ~bad & np.where(removed, m - 1 >= 3, next_phase <= 2)
        return low, high, again


class CCDClipRejector(Rejector):
    """Sigma clipping around the median with σ from a CCD noise model (deprecated in PixInsight)."""

    min_count = 2

    def step(self, sub, it, cols):
        s = self.settings
        full = 65535.0
        r2g2 = (s.ccd_read_noise / s.ccd_gain) ** 2 / full
        gk = 1.0 / s.ccd_gain / full
        sn2 = s.ccd_scale_noise**2 / full
        med = median_of_sorted(sub).astype(np.float64)
        with np.errstate(invalid="ignore"):
            sigma = np.sqrt(r2g2 + gk * med + (sn2 * med * med if sn2 else 0.0))
        sigma = np.nan_to_num(sigma, nan=0.0).astype(np.float32)
        low, high = self._sigma_masks(sub, med.astype(np.float32), sigma, s.sigma_low, s.sigma_high)
        return low, high, self._again(low, high)


ALGORITHMS: dict[str, type[Rejector]] = {
    "MinMax": MinMaxRejector,
    "PercentileClip": PercentileRejector,
    "SigmaClip": SigmaClipRejector,
    "WinsorizedSigmaClip": WinsorizedRejector,
    "AveragedSigmaClip": AveragedSigmaClipRejector,
    "LinearFit": LinearFitRejector,
    "CCDClip": CCDClipRejector,
    "Rejection_ESD": ESDRejector,
    "Rejection_RCR": RCRRejector,
}
"""Rejector class by PixInsight's element id of the ``rejection`` parameter."""


def make_rejector(settings: RejectionSettings, size: int) -> Rejector | None:
    """The rejector for ``settings.algorithm`` sized for ``size`` pixels (None: NoRejection)."""
    cls = ALGORITHMS.get(settings.algorithm)
    return None if cls is None else cls(settings, size)
