"""Statistics of PixelMath's ``stat`` functions: of a whole image channel, or across arguments.

``image_statistic(name, samples)`` reduces the samples of one channel (a 1-D array) to a
number; ``list_statistic(name, stack)`` reduces a stack of argument values ``(n, ...)``
pixel by pixel along axis 0.  Scale estimators carry PixInsight's normalizations: mdev is
MAD x 1.4826, adev the mean absolute deviation from the median x 1.2533, Sn x 1.1926,
Qn x 2.2191 (PixelMath's factors; Sn and Qn include the finite-sample corrections
c_n, d_n); sdev and var are the sample (n - 1) estimates; bwmv and pbmv are raw
midvariances (biweight with k = 9 around the median and MAD; percentage bend with
beta = 0.2).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from processes.kernels import robust
from processes.pixelmath.errors import NotImplementedFunctionError

__all__ = ["image_statistic", "list_statistic", "order_statistic"]

SN_FACTOR = 1.1926
QN_FACTOR = 2.2191

_ROBUST_NAMES = {
    "bwmv": ("bwmv", "biweight_midvariance"),
    "pbmv": ("pbmv", "bend_midvariance", "percentage_bend_midvariance"),
    "Sn": ("sn", "Sn"),
    "Qn": ("qn", "Qn"),
}


def _robust_estimator(name: str) -> Callable[[np.ndarray], float]:
    for candidate in _ROBUST_NAMES[name]:
        func = getattr(robust, candidate, None)
        if callable(func):
            return func  # type: ignore[no-any-return]
    raise NotImplementedFunctionError(
        f"{name}() of an image is not implemented: it needs the {_ROBUST_NAMES[name][0]}() estimator in "
        "processes.kernels.robust, which this installation does not provide"
    )


def _correction(name: str, n: int) -> float:
    """Rousseeuw & Croux's finite-sample factor for n values (1 if robust does not provide it)."""
    func = getattr(robust, name, None)
    return float(func(n)) if callable(func) else 1.0


def _finite(samples: np.ndarray) -> np.ndarray:
    values = np.asarray(samples).ravel()
    if values.size and not np.isfinite(values).all():
        values = values[np.isfinite(values)]
    return values


def image_statistic(name: str, samples: np.ndarray) -> float:
    """The statistic ``name`` (mean, med, mdev, ...) of a channel's samples."""
    values = _finite(samples)
    if values.size == 0:
        return 0.0
    if name == "mean":
        return float(np.mean(values, dtype=np.float64))
    if name == "med":
        return robust.median(values)
    if name == "mdev":
        return robust.mad(values) * robust.MAD_TO_SIGMA
    if name == "adev":
        return robust.avg_dev(values) * robust.AVGDEV_TO_SIGMA
    if name == "min":
        return float(values.min())
    if name == "max":
        return float(values.max())
    if name == "sdev":
        return float(np.std(values, dtype=np.float64, ddof=1)) if values.size > 1 else 0.0
    if name == "var":
        return float(np.var(values, dtype=np.float64, ddof=1)) if values.size > 1 else 0.0
    if name == "mod":
        return float(np.sum(np.abs(values), dtype=np.float64))
    if name == "norm":
        return float(np.sum(values, dtype=np.float64))
    if name == "ssqr":
        return float(np.dot(values.astype(np.float64), values.astype(np.float64)))
    if name == "asqr":
        return float(np.dot(values.astype(np.float64), values.astype(np.float64)) / values.size)
    if name in _ROBUST_NAMES:
        value = float(_robust_estimator(name)(values))
        return value * {"Sn": SN_FACTOR, "Qn": QN_FACTOR}.get(name, 1.0)
    raise NotImplementedFunctionError(f"{name}() of an image is not implemented")


def order_statistic(k: float, samples: np.ndarray) -> float:
    """The order statistic at fraction ``k`` of the samples (0: minimum, 0.5: median, 1: maximum)."""
    values = _finite(samples)
    if values.size == 0:
        return 0.0
    index = int(round(min(max(k, 0.0), 1.0) * (values.size - 1)))
    return float(np.partition(values, index)[index])


# -- statistics across arguments, pixel by pixel -------------------------------------------
def _median(stack: np.ndarray) -> np.ndarray:
    n = stack.shape[0]
    if n == 1:
        return stack[0].copy()
    if n == 2:
        out = stack[0] + stack[1]
        out *= out.dtype.type(0.5)
        return out
    if n == 3:
        a, b, c = stack
        return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))
    return np.median(stack, axis=0).astype(stack.dtype, copy=False)


def _mad(stack: np.ndarray) -> np.ndarray:
    return _median(np.abs(stack - _median(stack)))


def _bwmv(stack: np.ndarray) -> np.ndarray:
    n = stack.shape[0]
    m = _median(stack)
    mad = _mad(stack)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = (stack - m) / (9 * mad)
        inside = np.abs(u) < 1
        u2 = u * u
        num = n * np.sum(np.where(inside, (stack - m) ** 2 * (1 - u2) ** 4, 0), axis=0)
        den = np.sum(np.where(inside, (1 - u2) * (1 - 5 * u2), 0), axis=0) ** 2
        out = np.where((mad > 0) & (den > 0), num / den, 0)
    return out.astype(stack.dtype, copy=False)


def _pbmv(stack: np.ndarray, beta: float = 0.2) -> np.ndarray:
    n = stack.shape[0]
    m = _median(stack)
    w = np.sort(np.abs(stack - m), axis=0)
    index = min(math.floor((1 - beta) * n + 0.5), n - 1)  # 0-based bend point, as PCL
    omega = w[index]
    with np.errstate(divide="ignore", invalid="ignore"):
        y = (stack - m) / omega
        psi = np.clip(y, -1, 1)
        count = np.sum(np.abs(y) < 1, axis=0)
        out = np.where((omega > 0) & (count > 0), n * omega * omega * np.sum(psi * psi, axis=0) / (count * count), 0)
    return out.astype(stack.dtype, copy=False)


def _sn(stack: np.ndarray) -> np.ndarray:
    n = stack.shape[0]
    distances = np.abs(stack[:, None] - stack[None, :])  # (n, n, ...)
    inner = np.sort(distances, axis=1)[:, n // 2]  # high median over j (j = i included: distance 0)
    value = np.sort(inner, axis=0)[(n + 1) // 2 - 1]  # low median over i
    return value * stack.dtype.type(SN_FACTOR * _correction("sn_correction", n))


def _qn(stack: np.ndarray) -> np.ndarray:
    n = stack.shape[0]
    i, j = np.triu_indices(n, 1)
    distances = np.abs(stack[i] - stack[j])
    h = n // 2 + 1
    k = h * (h - 1) // 2
    k = min(max(k, 1), distances.shape[0])
    value = np.partition(distances, k - 1, axis=0)[k - 1]
    return value * stack.dtype.type(QN_FACTOR * _correction("qn_correction", n))


def _var(stack: np.ndarray) -> np.ndarray:
    if stack.shape[0] < 2:
        return np.zeros_like(stack[0])
    return np.var(stack, axis=0, ddof=1).astype(stack.dtype, copy=False)


_LIST: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean": lambda s: np.mean(s, axis=0).astype(s.dtype, copy=False),
    "med": _median,
    "mdev": lambda s: _mad(s) * s.dtype.type(robust.MAD_TO_SIGMA),
    "adev": lambda s: np.mean(np.abs(s - _median(s)), axis=0).astype(s.dtype, copy=False)
    * s.dtype.type(robust.AVGDEV_TO_SIGMA),
    "sdev": lambda s: np.sqrt(_var(s)),
    "var": _var,
    "mod": lambda s: np.sum(np.abs(s), axis=0).astype(s.dtype, copy=False),
    "norm": lambda s: np.sum(s, axis=0).astype(s.dtype, copy=False),
    "ssqr": lambda s: np.sum(s * s, axis=0).astype(s.dtype, copy=False),
    "asqr": lambda s: np.mean(s * s, axis=0).astype(s.dtype, copy=False),
    "bwmv": _bwmv,
    "pbmv": _pbmv,
    "Sn": _sn,
    "Qn": _qn,
    "maxdev": lambda s: np.maximum(_median(s) - s.min(axis=0), s.max(axis=0) - _median(s)),
}


def list_statistic(name: str, stack: np.ndarray) -> np.ndarray:
    """The statistic ``name`` of a stack of argument values, along axis 0."""
    return _LIST[name](stack)


def list_order_statistic(k: np.ndarray | float, stack: np.ndarray) -> np.ndarray:
    """ostat(k, a, b, c...): the order statistic at fraction ``k`` along axis 0."""
    n = stack.shape[0]
    ordered = np.sort(stack, axis=0)
    index = np.rint(np.clip(np.asarray(k, dtype=np.float64), 0, 1) * (n - 1)).astype(np.intp)
    if index.ndim == 0:
        return ordered[int(index)]
    index = np.broadcast_to(index, ordered.shape[1:])
    return np.take_along_axis(ordered, index[None], axis=0)[0]
