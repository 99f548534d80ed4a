"""Location and scale estimators of whole frames (ImageIntegration's ``weightScale``).

All estimators return *unnormalized* values (no consistency factor for the normal
distribution): normalization only uses ratios between frames, so the factors cancel.

``WeightScale_AvgDev``   mean absolute deviation from the median.
``WeightScale_MAD``      median absolute deviation from the median.
``WeightScale_BWMV``     square root of the biweight midvariance (Tukey biweight, k = 9,
                         MAD-scaled), PixInsight's default.
``WeightScale_PBMV``     square root of the percentage bend midvariance (β = 0.2).
``WeightScale_IKSS``     iterative k-sigma estimator of scale: √BWMV of the values within
                         ±4σ of the median, iterated to convergence, × 0.991.
``WeightScale_Sn``/``Qn`` Rousseeuw–Croux estimators (deprecated in PixInsight); computed
                         exactly on an evenly strided subsample of at most 2001 values,
                         since the exact O(n log n) algorithms would dominate run time.
"""

from __future__ import annotations

import numpy as np

from processes.kernels.robust import avg_dev, mad, median_mad

__all__ = [
    "SCALE_ESTIMATORS", "bwmv", "fast_median", "fast_median_mad", "ikss", "in_range", "location_and_scale", "pbmv",
    "qn", "scale_estimate", "sn", "windowed_median_mad",
]

_SUBSAMPLE = 2001
_COMPILED_MIN = 1 << 16
"""From this many values on, BWMV's sums run in one compiled pass (numba, imported then)."""


def _finite(values: np.ndarray) -> np.ndarray:
    data = np.asarray(values, dtype=np.float64).ravel()
    if data.size and not np.isfinite(data).all():
        data = data[np.isfinite(data)]
    return data


def in_range(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """The values inside the open range (``low``, ``high``), in order, as a 1-D array (NaNs never are).

    Compared in the values' own precision; large float arrays in one compiled pass
    (:func:`~processes.integration.kernel_numba.in_range_values`), with the same result.
    """
    data = np.asarray(values).ravel()
    if data.dtype not in (np.float32, np.float64):
        data = data.astype(np.float64)
    kind = data.dtype.type
    if data.size < _COMPILED_MIN:
        return data[(data > kind(low)) & (data < kind(high))]
    from processes.integration.kernel_numba import in_range_values

    return in_range_values(data, kind(low), kind(high))


def fast_median(values: np.ndarray) -> float:
    """``float(np.median(values))``, bit for bit.

    Large float arrays use a compiled histogram selection (:func:`~processes.integration.
    kernel_numba.finite_median`: three passes, the first also checking that every value is
    finite, no copy) instead of numpy's partition of a copy.
    """
    data = np.asarray(values).ravel()
    if data.size >= _COMPILED_MIN and data.dtype in (np.float32, np.float64):
        from processes.integration.kernel_numba import finite_median

        median, finite = finite_median(data)
        if finite:
            return float(median)
    return float(np.median(data))


def fast_median_mad(values: np.ndarray) -> tuple[float, float]:
    """:func:`processes.kernels.robust.median_mad`'s ``(median, MAD)`` of the finite ``values``, bit for bit
    (but for the sign of a zero median, which is numpy's partition order's).

    Large float64 arrays whose values are all finite take :func:`windowed_median_mad` (one pass), or
    where it finds nothing the histogram selections of :func:`_median_mad_between` between their
    extremes (:func:`_finite_bounds`): no sample to sort, no array of deviations, instead of the
    subsample brackets; for float64 data both are numpy's ``m = np.median(x)`` and
    ``np.median(np.abs(x − m))``.
    """
    data = np.asarray(values).ravel()
    if data.size >= _COMPILED_MIN and data.dtype == np.float64:
        found = windowed_median_mad(data)
        if found is not None:
            return found
        bounds = _finite_bounds(data)
        if bounds is not None:
            return _median_mad_between(data, bounds)
    return median_mad(data)


def windowed_median_mad(values: np.ndarray, step: int = 1, mad: bool = True, *, float64_deviations: bool = False
                        ) -> tuple[float, float] | None:
    """(median, MAD) of ``values.ravel()[::step]`` (MAD 0.0 without ``mad``) by the one-pass compiled
    selection :func:`~processes.integration.kernel_numba.median_mad_windows`, or None where it does not
    apply (fewer than 2¹⁶ values, not float32/float64, a zero median) or finds nothing (a value not
    finite, an unlucky estimate): the caller then takes its own path.

    Bit for bit :func:`fast_median`'s median of those values and its median of ``|x − median|`` formed
    in their type (as numpy forms ``np.abs(x − m)`` with a Python float ``m`` of a float32 median), or
    with ``float64_deviations`` in float64 (:func:`_median_mad_between`'s MAD); a zero median is left to
    the caller, whose selection decides its sign.
    """
    data = np.asarray(values).ravel()
    if (data.size + step - 1) // step < _COMPILED_MIN or data.dtype not in (np.float32, np.float64):
        return None
    from processes.integration.kernel_numba import median_mad_windows

    like = np.empty(0, np.float64 if float64_deviations else data.dtype)
    median, spread, found = median_mad_windows(data, int(step), bool(mad), like)
    if not found or median == 0.0:
        return None
    return float(median), float(spread)


def _finite_bounds(data: np.ndarray) -> np.ndarray | None:
    """``[smallest, largest]`` of the non-empty float ``data`` in its dtype, or None unless every value is
    finite: numpy's vectorized reductions propagate a NaN, and an infinity is an extreme."""
    bounds = np.array([data.min(), data.max()])
    return bounds if np.isfinite(bounds).all() else None


def _median_mad_between(data: np.ndarray, bounds: np.ndarray) -> tuple[float, float]:
    """(median, median of |x − median| in float64) of the non-empty, finite 1-D float ``data`` whose
    extremes are ``bounds``, by the compiled histogram selections (two passes each)."""
    from processes.integration.kernel_numba import abs_dev_median, median_between

    location = float(median_between(data, bounds))
    return location, float(abs_dev_median(data, location, bounds))


def bwmv(values: np.ndarray, center: float | None = None, k: float = 9.0) -> float:
    """Square root of the biweight midvariance around ``center`` (default: the median)."""
    raw = np.asarray(values).ravel()
    if raw.size >= _COMPILED_MIN and raw.dtype in (np.float32, np.float64):
        # large samples: no float64 copy of the data; one compiled pass for |x − c|, one for the sums
        from processes.integration.kernel_numba import abs_dev

        data = raw if np.isfinite(raw).all() else raw[np.isfinite(raw)]
        if data.size < 2:
            return 0.0
        c = fast_median(data.astype(np.float64)) if center is None else float(center)
        return _bwmv_from(data, c, fast_median(abs_dev(data, c)), k)
    data = _finite(values)
    if data.size < 2:
        return 0.0
    c = float(np.median(data)) if center is None else center
    d = data - c
    spread = float(np.median(np.abs(d)))
    if spread == 0:
        return 0.0
    u = d / (k * spread)
    inside = np.abs(u) < 1
    u2 = u[inside] ** 2
    di = d[inside]
    num = data.size * float(np.sum(di * di * (1 - u2) ** 4))
    den = float(np.sum((1 - u2) * (1 - 5 * u2))) ** 2
    return float(np.sqrt(num / den)) if den > 0 else 0.0


def _bwmv_from(data: np.ndarray, center: float, spread: float, k: float = 9.0) -> float:
    """:func:`bwmv`'s value from the median absolute deviation ``spread`` around ``center``
    (the compiled path's last pass: the sums)."""
    from processes.integration.kernel_numba import bwmv_sums

    if spread == 0:  # (both callers pass at least 2 values)
        return 0.0
    num, den = bwmv_sums(data, center, k * spread)
    num *= data.size
    den *= den
    return float(np.sqrt(num / den)) if den > 0 else 0.0


def location_and_scale(values: np.ndarray, estimator: str, *, mask: np.ndarray | None = None
                       ) -> tuple[float, float, np.ndarray]:
    """(median, scale by ``estimator``, the values used) of the flat ``values`` where ``mask``
    is true (all of them without a mask): ``fast_median`` and ``scale_estimate(..., center=median)``
    of ``values[mask]``, bit for bit.

    For large float samples with the BWMV estimator (PixInsight's default) the selection, its
    extremes, the median, the median absolute deviation and the midvariance sums take three
    compiled passes over the selected values (one for the selection and its extremes, one for
    both medians (:func:`windowed_median_mad`; where it finds nothing, two per median), one for
    the sums) and no other full-size array (the deviations are formed on the fly); every other
    case selects with numpy and calls the estimators.
    """
    data = np.asarray(values).ravel()
    if data.size >= _COMPILED_MIN and data.dtype in (np.float32, np.float64) and estimator == "WeightScale_BWMV":
        from processes.integration.kernel_numba import extremes, masked_values

        if mask is None:
            inside = data
            bounds, finite = extremes(inside)
        else:
            inside, bounds, finite = masked_values(data, np.asarray(mask, dtype=np.bool_).ravel())
        if finite and inside.size >= _COMPILED_MIN:
            found = windowed_median_mad(inside, float64_deviations=True)
            location, spread = found if found is not None else _median_mad_between(inside, bounds)
            return location, _bwmv_from(inside, location, spread), inside
    else:
        inside = data if mask is None else data[mask]
    if inside.size == 0:
        return 0.0, 0.0, inside
    location = fast_median(inside)
    return location, scale_estimate(inside, estimator, center=location), inside


def pbmv(values: np.ndarray, beta: float = 0.2) -> float:
    """Square root of the percentage bend midvariance (Wilcox)."""
    data = _finite(values)
    n = data.size
    if n < 2:
        return 0.0
    c = float(np.median(data))
    w = np.sort(np.abs(data - c))
    index = int(np.floor((1 - beta) * n + 0.5)) - 1
    omega = float(w[min(max(index, 0), n - 1)])
    if omega == 0:
        return 0.0
    y = (data - c) / omega
    inside = int(np.count_nonzero(np.abs(y) < 1))
    if inside == 0:
        return 0.0
    psi = np.clip(y, -1, 1)
    return float(np.sqrt(n * omega * omega * float(np.sum(psi * psi)) / inside**2))


def ikss(values: np.ndarray, eps: float = 1e-6) -> tuple[float, float]:
    """Iterative k-sigma (location, scale): √BWMV within ±4σ of the median until stable."""
    data = np.sort(_finite(values))
    i, j = 0, data.size
    s0 = 1.0
    location = scale = 0.0
    while True:
        if j - i < 1:
            return 0.0, 0.0
        part = data[i:j]
        m = float(np.median(part))
        s = bwmv(part, m)
        if s < eps:
            return m, 0.0
        if s0 - s < s * eps:
            return m, 0.991 * s
        s0 = s
        i = int(np.searchsorted(data, m - 4 * s, side="left"))
        j = int(np.searchsorted(data, m + 4 * s, side="right"))
        location, scale = m, 0.991 * s
    return location, scale  # pragma: no cover


def _subsample(values: np.ndarray) -> np.ndarray:
    data = _finite(values)
    if data.size > _SUBSAMPLE:
        data = data[np.linspace(0, data.size - 1, _SUBSAMPLE).astype(np.intp)]
    return np.sort(data)


def sn(values: np.ndarray) -> float:
    """Rousseeuw–Croux Sn (unnormalized): lomed_i himed_j |x_i − x_j| (on ≤ 2001 values)."""
    x = _subsample(values)
    n = x.size
    if n < 2:
        return 0.0
    dist = np.abs(x[:, None] - x[None, :])
    himed = np.partition(dist, n // 2, axis=1)[:, n // 2]
    return float(np.partition(himed, (n + 1) // 2 - 1)[(n + 1) // 2 - 1])


def qn(values: np.ndarray) -> float:
    """Rousseeuw–Croux Qn (unnormalized): the k-th smallest |x_i − x_j|, i < j (on ≤ 2001 values)."""
    x = _subsample(values)
    n = x.size
    if n < 2:
        return 0.0
    h = n // 2 + 1
    k = h * (h - 1) // 2
    i, j = np.triu_indices(n, 1)
    diffs = np.abs(x[j] - x[i])
    return float(np.partition(diffs, k - 1)[k - 1])


SCALE_ESTIMATORS = {
    "WeightScale_AvgDev": lambda v, c=None: avg_dev(v, c),
    "WeightScale_MAD": lambda v, c=None: mad(v, c),
    "WeightScale_BWMV": lambda v, c=None: bwmv(v, c),
    "WeightScale_PBMV": lambda v, c=None: pbmv(v),
    "WeightScale_Sn": lambda v, c=None: sn(v),
    "WeightScale_Qn": lambda v, c=None: qn(v),
    "WeightScale_IKSS": lambda v, c=None: ikss(v)[1],
}
"""Scale estimator by element id of the ``weightScale`` parameter: ``f(values, centre=None)``."""


def scale_estimate(values: np.ndarray, estimator: str, center: float | None = None) -> float:
    """The scale of ``values`` by the estimator named by its ``weightScale`` element id.

    ``center`` is the median of ``values`` when the caller has it (saves recomputing it).
    """
    try:
        func = SCALE_ESTIMATORS[estimator]
    except KeyError:
        raise ValueError(f"unknown scale estimator {estimator!r}") from None
    return float(func(values, center))
