"""Statistics: location and scale estimates of each channel, as PixInsight's Statistics tool.

Per nominal (colour or grey) channel: count, mean, median, variance, stdDev, avgDev, MAD,
minimum and maximum; and, only when their parameters ask for them (``computeBWMV``,
``computePBMV``, ``computeSn``, ``computeQn``; PixInsight's Statistics leaves these items
unchecked by default too), BWMV, PBMV, Sn and Qn.  As in PixInsight:

* samples equal to 0 (black) or 1 (white) are ignored unless ``unclipped`` is set;
* variance is the sample variance (n − 1); avgDev and MAD are taken from the median;
* BWMV and PBMV are reported as √BWMV (k = 9) and √PBMV (β = 0.2), scale estimates;
* Sn and Qn are Rousseeuw & Croux's, with finite-sample corrections, computed exactly;
* with ``normalized`` the scale estimates are multiplied by the factors that make them
  estimate σ of a normal distribution: avgDev × 1.2533, MAD × 1.4826, √BWMV × 0.9909,
  √PBMV × 0.9711, Sn × 1.1926, Qn × 2.2219 (variance and stdDev are already in σ units).

The results come back as outputs (one dict per channel, the computed estimators in the
order of :data:`ESTIMATORS`); the image is not changed.  Large channels are measured by
compiled passes (:mod:`processes.kernels.robust_nb`): count, mean, variance, extremes,
the exact median, avgDev and the exact MAD usually in a single pass over the channel (a
second one when its MAD windows cannot be trusted), without copying it; BWMV and PBMV
take one or two more passes, and Sn and Qn, which need the sorted samples, copy them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from processes.intensity.histogram import nominal_channels
from processes.intensity.stf import channel_names
from processes.kernels import robust
from procfw.errors import ExecutionError
from procfw.image import Image
from procfw.params import Boolean, param
from procfw.process import ExecutionContext, Process, ProcessOutput

ESTIMATORS = (
    "count", "mean", "median", "variance", "stdDev", "avgDev", "MAD", "BWMV", "PBMV", "Sn", "Qn", "minimum", "maximum",
)
"""Every estimator a channel's dict can hold, in the order they are reported."""

DEFAULT_ESTIMATORS = ("count", "mean", "median", "variance", "stdDev", "avgDev", "MAD", "minimum", "maximum")
"""The estimators computed unless more are asked for (the cheap ones: a few passes over the data)."""

_SCALE_FACTORS = {
    "avgDev": robust.AVGDEV_TO_SIGMA,
    "MAD": robust.MAD_TO_SIGMA,
    "BWMV": robust.BWMV_TO_SIGMA,
    "PBMV": robust.PBMV_TO_SIGMA,
    "Sn": robust.SN_TO_SIGMA,
    "Qn": robust.QN_TO_SIGMA,
}
_COMPILED_MIN = 1 << 17


def _kept(values: np.ndarray, clip: bool) -> np.ndarray:
    keep = np.isfinite(values)
    if clip:
        keep &= (values != 0) & (values != 1)
    return values if keep.all() else values[keep]


def channel_statistics(
    values: np.ndarray, *, normalized: bool = False, estimators: Iterable[str] = ESTIMATORS, clip: bool = False
) -> dict[str, Any]:
    """The ``estimators`` (names of :data:`ESTIMATORS`) of one channel's samples.

    Non-finite samples are ignored, and with ``clip`` samples equal to 0 or 1 too.  The
    dict holds the requested estimators only, in :data:`ESTIMATORS` order.
    """
    wanted = set(estimators)
    unknown = wanted - set(ESTIMATORS)
    if unknown:
        raise ValueError(f"unknown estimators {sorted(unknown)}; expected names of {', '.join(ESTIMATORS)}")
    values = np.asarray(values).ravel()
    if values.size > _COMPILED_MIN and values.dtype.kind == "f" and values.dtype.itemsize in (4, 8):
        result = _compiled_statistics(values, wanted, clip)
    else:
        result = _numpy_statistics(_kept(values, clip), wanted)
    if normalized:
        for key, factor in _SCALE_FACTORS.items():
            if key in result:
                result[key] *= factor
    return {k: result.get(k, 0.0) for k in ESTIMATORS if k in wanted}


def _numpy_statistics(values: np.ndarray, wanted: set[str]) -> dict[str, Any]:
    """Every wanted estimator of already selected samples, with numpy (small channels)."""
    n = values.size
    result: dict[str, Any] = {"count": n}
    if n == 0:
        return result
    mean = float(values.mean(dtype=np.float64))
    variance = 0.0
    if n > 1:
        for chunk in range(0, n, 1 << 20):
            d = values[chunk : chunk + (1 << 20)].astype(np.float64) - mean
            variance += float(np.dot(d, d))
        variance /= n - 1
    med, mad = robust.median_mad(values)
    result.update(mean=mean, median=med, variance=variance, stdDev=math.sqrt(variance), MAD=mad,
                  avgDev=robust.avg_dev(values, med), minimum=float(values.min()), maximum=float(values.max()))
    _expensive(values, wanted, med, mad, result)
    return result


def _compiled_statistics(values: np.ndarray, wanted: set[str], clip: bool) -> dict[str, Any]:
    """The wanted estimators of a large channel by compiled passes (no copy for the cheap ones)."""
    from processes.kernels import robust_nb

    if wanted & {"avgDev", "MAD", "BWMV"}:
        m = robust_nb.channel_summary(values, clip)
        mad = m.mad
    else:
        m = robust_nb.channel_moments(values, clip)
        mad = 0.0
    result: dict[str, Any] = {"count": m.count}
    if m.count == 0:
        return result
    result.update(mean=m.mean, median=m.median, variance=m.variance, stdDev=math.sqrt(m.variance),
                  minimum=m.minimum, maximum=m.maximum)
    if isinstance(m, robust_nb.ChannelSummary):
        result.update(avgDev=m.avg_dev, MAD=m.mad)
    if wanted & {"BWMV", "PBMV", "Sn", "Qn"}:
        _expensive(_kept(values, clip), wanted, m.median, mad, result)
    return result


def _expensive(values: np.ndarray, wanted: set[str], med: float, mad: float, result: dict[str, Any]) -> None:
    """BWMV, PBMV, Sn and Qn of selected samples, those of them that are ``wanted``."""
    if "BWMV" in wanted:
        result["BWMV"] = math.sqrt(robust.bwmv(values, med, mad))
    if "PBMV" in wanted:
        result["PBMV"] = math.sqrt(robust.pbmv(values, med))
    if "Sn" in wanted:
        result["Sn"] = robust.sn(values)
    if "Qn" in wanted:
        result["Qn"] = robust.qn(values)


class Statistics(Process):
    """Measure each channel: count, mean, median, variance, standard deviation and robust scale estimates.

    Reports (as outputs, one dict per channel) count, mean, median, variance, stdDev,
    avgDev, MAD, minimum and maximum, and √BWMV, √PBMV, Sn and Qn when ``computeBWMV``,
    ``computePBMV``, ``computeSn`` or ``computeQn`` asks for them; the image is not changed.
    """

    process_id = "Statistics"
    pixinsight = False  # PixInsight's Statistics is an interface: StatisticsProcess::Create() returns no instance
    categories = ("ImageInspection",)
    is_history_updater = False
    is_maskable = False

    normalized: bool = param(
        Boolean(
            default=False,
            description=(
                "Multiply the scale estimates by the factors that make them estimate σ of a normal distribution "
                "(avgDev 1.2533, MAD 1.4826, √BWMV 0.9909, √PBMV 0.9711, Sn 1.1926, Qn 2.2219)."
            ),
        )
    )
    unclipped: bool = param(
        Boolean(
            default=False,
            description="Use every sample; by default samples equal to 0 or 1 (black, saturated) are ignored.",
        )
    )

    computeBWMV: bool = param(  # noqa: N815 - PixInsight-style camelCase id
        Boolean(default=False, description="Also report √BWMV, the biweight midvariance (k = 9) scale estimate.")
    )
    computePBMV: bool = param(  # noqa: N815
        Boolean(default=False, description="Also report √PBMV, the percentage bend midvariance (β = 0.2) scale "
                "estimate.")
    )
    computeSn: bool = param(  # noqa: N815
        Boolean(default=False, description="Also report Rousseeuw and Croux's Sn scale estimate (exact; slow on "
                "large images).")
    )
    computeQn: bool = param(  # noqa: N815
        Boolean(default=False, description="Also report Rousseeuw and Croux's Qn scale estimate (exact; slow on "
                "large images).")
    )

    def estimators(self) -> tuple[str, ...]:
        """The names of the estimators this instance reports, in :data:`ESTIMATORS` order."""
        extra = {"BWMV": self.computeBWMV, "PBMV": self.computePBMV, "Sn": self.computeSn, "Qn": self.computeQn}
        return tuple(k for k in ESTIMATORS if k in DEFAULT_ESTIMATORS or extra.get(k, False))

    def measure(self, image: Image) -> dict[str, dict[str, Any]]:
        """Statistics of each nominal channel of ``image``, by channel name (K, or R, G, B)."""
        nominal = nominal_channels(image.channels)
        estimators = self.estimators()
        result = {}
        for c, name in zip(range(nominal), channel_names(nominal)):
            try:
                result[name] = channel_statistics(image.pixels[c], normalized=self.normalized, estimators=estimators,
                                                  clip=not self.unclipped)
            except ValueError as exc:
                raise ExecutionError(f"{self.process_id}: channel {name}: {exc}") from None
        return result

    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        return ProcessOutput(outputs=self.measure(image))
