"""Per-frame statistics for normalization and weighting, computed within a memory budget.

For every frame and channel: the location (median), the scale (the ``weightScale``
estimator), the mean and, when weights need it, the noise (the ``NOISEnn`` keyword that
PixInsight's calibration writes, unless ``ignoreNoiseKeywords``; else the MRS or k-sigma
estimate of :mod:`processes.kernels.noise`).

Location, scale and mean use every row of frames up to ``FRAME_STATS_VALUES`` pixels and
an evenly row-strided subsample of larger frames (or when the budget requires it); the
noise uses the whole channel, or a central band of full rows sized to the budget (wavelet
noise estimation needs contiguous pixels, strided rows would not do).
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from processes.integration.estimators import fast_median, scale_estimate
from processes.integration.frames import FrameSource

__all__ = ["FRAME_STATS_VALUES", "STATS_BYTES_PER_VALUE", "ChannelStats", "channel_statistics", "exposure_time"]

FRAME_STATS_VALUES = 1 << 20
"""Location, scale and mean of a frame use at most this many values (1 Mi, an even row
subsample of larger frames): the sampling error of the median is then about 1e-3 of the
noise σ and that of the scale about 1e-3 relative, far below what normalization needs."""

STATS_BYTES_PER_VALUE = 128
"""Working memory of the location/scale estimators per value (float64 copies and masks)."""
_NOISE_BYTES_PER_VALUE = 96


@attrs.frozen
class ChannelStats:
    """Statistics of one channel of one frame (values in [0, 1] units)."""

    location: float
    scale: float
    mean: float
    noise: float | None = None
    noise_algorithm: str | None = None
    sampled: bool = False
    """True when location/scale/mean came from a row subsample (budget too small)."""


def exposure_time(frame: FrameSource) -> float | None:
    """EXPTIME (or EXPOSURE) in seconds, or None."""
    for name in ("EXPTIME", "EXPOSURE"):
        value = frame.keyword(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                continue
            if number > 0:
                return number
    return None


def _noise_keyword(frame: FrameSource, channel: int) -> float | None:
    value = frame.keyword(f"NOISE{channel:02d}")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def channel_statistics(
    frame: FrameSource,
    channel: int,
    *,
    scale_estimator: str,
    need_noise: bool = False,
    noise_algorithm: str = "MRS",
    use_noise_keywords: bool = True,
    budget_bytes: int = 1 << 30,
) -> ChannelStats:
    """Location, scale, mean (and noise when ``need_noise``) of one channel of ``frame``."""
    height, width = frame.height, frame.width
    forced = max(1, math.ceil(height * width * STATS_BYTES_PER_VALUE / max(budget_bytes, 1)))
    stride = max(forced, math.ceil(height * width / FRAME_STATS_VALUES))
    data = frame.read_channel(channel, slice(0, height, stride))
    finite = data[np.isfinite(data)] if not np.isfinite(data).all() else data.ravel()
    if finite.size == 0:
        location = scale = mean = 0.0
    else:
        location = fast_median(finite)
        scale = scale_estimate(finite, scale_estimator, center=location)
        mean = float(finite.mean(dtype=np.float64))
    noise = algorithm = None
    if need_noise:
        keyword = _noise_keyword(frame, channel) if use_noise_keywords else None
        if keyword is not None:
            noise, algorithm = keyword, "keyword"
        else:
            rows = max(16, int(budget_bytes // max(width * _NOISE_BYTES_PER_VALUE, 1)))
            if stride == 1 and rows >= height:
                block = data
            else:
                rows = min(rows, height)
                start = (height - rows) // 2
                del data
                block = frame.read_channel(channel, slice(start, start + rows))
            from processes.kernels.noise import estimate_noise

            estimate = estimate_noise(np.nan_to_num(block, nan=location), noise_algorithm)
            noise, algorithm = float(estimate.sigma), estimate.algorithm
    return ChannelStats(location, scale, mean, noise, algorithm, forced > 1)
