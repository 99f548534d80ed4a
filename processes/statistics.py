"""Statistics: location and scale estimates of each channel, as PixInsight's Statistics tool.

Per nominal (colour or grey) channel: count, mean, median, variance, stdDev, avgDev, MAD,
BWMV, PBMV, Sn, Qn, minimum and maximum.  As in PixInsight:

* samples equal to 0 (black) or 1 (white) are ignored unless ``unclipped`` is set;
* variance is the sample variance (n − 1); avgDev and MAD are taken from the median;
* BWMV and PBMV are reported as √BWMV (k = 9) and √PBMV (β = 0.2), scale estimates;
* Sn and Qn are Rousseeuw & Croux's, with finite-sample corrections, computed exactly;
* with ``normalized`` the scale estimates are multiplied by the factors that make them
  estimate σ of a normal distribution: avgDev × 1.2533, MAD × 1.4826, √BWMV × 0.9909,
  √PBMV × 0.9711, Sn × 1.1926, Qn × 2.2219 (variance and stdDev are already in σ units).

The results come back as outputs (one dict per channel); the image is not changed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from processes._kernels import robust
from processes.histogram import nominal_channels
from processes.stf import channel_names
from procfw.errors import ExecutionError
from procfw.image import Image
from procfw.params import Boolean, param
from procfw.process import ExecutionContext, Process, ProcessOutput

ESTIMATORS = (
    "count", "mean", "median", "variance", "stdDev", "avgDev", "MAD", "BWMV", "PBMV", "Sn", "Qn", "minimum", "maximum",
)
"""The keys of each channel's dict, in the order they are reported."""


def channel_statistics(values: np.ndarray, *, normalized: bool = False) -> dict[str, Any]:
    """Every estimator for one set of sample values (already selected: finite, clipped or not)."""
    values = np.asarray(values).ravel()
    n = values.size
    result: dict[str, Any] = dict.fromkeys(ESTIMATORS, 0.0)
    result["count"] = n
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
    scales = {
        "avgDev": robust.avg_dev(values, med),
        "MAD": mad,
        "BWMV": math.sqrt(robust.bwmv(values, med, mad)),
        "PBMV": math.sqrt(robust.pbmv(values, med)),
        "Sn": robust.sn(values),
        "Qn": robust.qn(values),
    }
    if normalized:
        factors = {
            "avgDev": robust.AVGDEV_TO_SIGMA,
            "MAD": robust.MAD_TO_SIGMA,
            "BWMV": robust.BWMV_TO_SIGMA,
            "PBMV": robust.PBMV_TO_SIGMA,
            "Sn": robust.SN_TO_SIGMA,
            "Qn": robust.QN_TO_SIGMA,
        }
        scales = {k: v * factors[k] for k, v in scales.items()}
    result.update(
        mean=mean,
        median=med,
        variance=variance,
        stdDev=math.sqrt(variance),
        minimum=float(values.min()),
        maximum=float(values.max()),
        **scales,
    )
    return result


class Statistics(Process):
    """Measure each channel: count, mean, median, variance, standard deviation and robust scale estimates.

    Reports (as outputs, one dict per channel) count, mean, median, variance, stdDev,
    avgDev, MAD, √BWMV, √PBMV, Sn, Qn, minimum and maximum; the image is not changed.
    """

    process_id = "Statistics"
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

    def measure(self, image: Image) -> dict[str, dict[str, Any]]:
        """Statistics of each nominal channel of ``image``, by channel name (K, or R, G, B)."""
        nominal = nominal_channels(image.channels)
        result = {}
        for c, name in zip(range(nominal), channel_names(nominal)):
            values = image.pixels[c].ravel()
            keep = np.isfinite(values)
            if not self.unclipped:
                keep &= (values != 0) & (values != 1)
            if not keep.all():
                values = values[keep]
            try:
                result[name] = channel_statistics(values, normalized=self.normalized)
            except ValueError as exc:
                raise ExecutionError(f"{self.process_id}: channel {name}: {exc}") from None
        return result

    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        return ProcessOutput(outputs=self.measure(image))
