"""Per-frame statistics for normalization and weighting, computed within a memory budget.

For every frame and channel: the location (median), the scale (the ``weightScale``
estimator), the mean and, when weights need it, the noise (the ``NOISEnn`` keyword that
PixInsight's calibration writes, unless ``ignoreNoiseKeywords``; else the MRS or k-sigma
estimate of :mod:`processes.kernels.noise`).

Location, scale and mean use every row of frames up to ``FRAME_STATS_VALUES`` pixels and
an evenly row-strided subsample of larger frames (or when the budget requires it); the
noise uses the whole channel, or a central band of full rows sized to the budget (wavelet
noise estimation needs contiguous pixels, strided rows would not do).

As in PixInsight, values outside an open range are left out (:func:`statistics_range`):
location, scale and mean take only the values in (1/65535, 1 − 1/65535) — PCL's
``IntegrationFile.cpp`` sets that range clipping on each frame before its statistics —
narrowed to what range rejection keeps (``rangeLow``/``rangeHigh`` when enabled), and the
MRS noise set leaves out the values outside (0.00002, 0.99998) (PCL's ``NoiseMRS``).  The
zero borders that registration leaves are therefore not statistics of the frame: counted,
a frame with a 4 % border would have its median lowered by about 0.05 σ, its scale raised
by about 2 % (BWMV counts every value, only the inliers weigh) and its noise lowered by 2 %.

Beyond PixInsight, location, scale and mean are taken over the *common footprint* (the
sample positions where every frame is in range, :func:`footprint_sample`) when it holds
at least :data:`MIN_FOOTPRINT_FRACTION` of the sample: each frame then describes the same
piece of sky.  Each frame's own in-range pixels would not do on a sky with a gradient:
the frame registration left whole (the reference) would cover the corners the others
lack, and its scale, which the gradient dominates, came out 3 % larger than theirs on the
simulated session of ``tests/processes/test_proc_preprocess_run.py``.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from processes.integration.estimators import in_range, location_and_scale
from processes.integration.frames import FrameSource
from processes.kernels.noise import MRS_VALID_RANGE

__all__ = [
    "FRAME_STATS_VALUES", "MIN_FOOTPRINT_FRACTION", "NOISE_RANGE", "STATS_BYTES_PER_VALUE", "STATS_RANGE",
    "ChannelStats", "channel_statistics", "exposure_time", "footprint_sample", "sample_bytes", "statistics_range",
    "statistics_sample",
]

FRAME_STATS_VALUES = 1 << 20
"""Location, scale and mean of a frame use at most this many values (1 Mi, an even row
subsample of larger frames): the sampling error of the median is then about 1e-3 of the
noise σ and that of the scale about 1e-3 relative, far below what normalization needs."""

STATS_BYTES_PER_VALUE = 128
"""Working memory of the location/scale estimators per value (float64 copies and masks)."""
_NOISE_BYTES_PER_VALUE = 96

STATS_RANGE = (1.0 / 65535, 1.0 - 1.0 / 65535)
"""The open range of the values that enter location, scale and mean (PCL's
``IntegrationFile.cpp``: ``SetRangeClipping( 1.0/65535, 1 - 1.0/65535 )``)."""
NOISE_RANGE = MRS_VALID_RANGE
"""The open range of the values that may enter the MRS noise set (PCL's ``NoiseMRS`` defaults)."""


MIN_FOOTPRINT_FRACTION = 0.25
"""The common footprint is used when it holds at least this fraction of the sample; else
each frame's own in-range values are."""


def statistics_range(range_low: float | None = None, range_high: float | None = None) -> tuple[float, float]:
    """The open range of the values a frame's statistics use: :data:`STATS_RANGE`, narrowed
    to the values range rejection keeps (above ``range_low``, below ``range_high``; None: that
    limit is off), so the statistics describe the pixels that are integrated."""
    low, high = STATS_RANGE
    if range_low is not None:
        low = max(low, float(range_low))
    if range_high is not None:
        high = min(high, float(range_high))
    return low, high


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


def _sample_stride(frame: FrameSource, budget_bytes: int) -> tuple[int, int]:
    """(row stride of the location/scale sample, the stride the budget alone forces)."""
    pixels = frame.height * frame.width
    forced = max(1, math.ceil(pixels * STATS_BYTES_PER_VALUE / max(budget_bytes, 1)))
    return max(forced, math.ceil(pixels / FRAME_STATS_VALUES)), forced


def statistics_sample(frame: FrameSource, channel: int, *, budget_bytes: int = 1 << 30) -> np.ndarray:
    """The rows of ``channel`` that :func:`channel_statistics` takes for location, scale and mean
    (with the same ``budget_bytes``): every row, or every stride-th one (float32, 2-D)."""
    stride, _ = _sample_stride(frame, budget_bytes)
    return frame.read_channel(channel, slice(0, frame.height, stride))


def sample_bytes(frame: FrameSource, *, budget_bytes: int = 1 << 30) -> int:
    """The size of one :func:`statistics_sample` of ``frame``, in bytes."""
    stride, _ = _sample_stride(frame, budget_bytes)
    return len(range(0, frame.height, stride)) * frame.width * 4


def footprint_sample(frame: FrameSource, channel: int, *, budget_bytes: int = 1 << 30,
                     value_range: tuple[float, float] = STATS_RANGE, sample: np.ndarray | None = None) -> np.ndarray:
    """Which values of the row sample :func:`channel_statistics` takes (same ``budget_bytes``)
    lie inside the open ``value_range``: a flat boolean array; the AND over every frame is
    the common footprint.  ``sample``: that :func:`statistics_sample`, when the caller has read it."""
    data = (statistics_sample(frame, channel, budget_bytes=budget_bytes) if sample is None else sample).ravel()
    low, high = (data.dtype.type(v) for v in value_range)
    return (data > low) & (data < high)


def channel_statistics(
    frame: FrameSource,
    channel: int,
    *,
    scale_estimator: str,
    need_noise: bool = False,
    noise_algorithm: str = "MRS",
    use_noise_keywords: bool = True,
    budget_bytes: int = 1 << 30,
    value_range: tuple[float, float] = STATS_RANGE,
    footprint: np.ndarray | None = None,
    noise_frame: FrameSource | None = None,
    sample: np.ndarray | None = None,
) -> ChannelStats:
    """Location, scale, mean (and noise when ``need_noise``) of one channel of ``frame``.

    Only values inside the open ``value_range`` (see :func:`statistics_range`) enter
    location, scale and mean, and of those only the ones where ``footprint`` (the common
    footprint of :func:`footprint_sample`) is true, when given; NaNs never do.  The MRS
    noise set leaves out values outside ``value_range`` ∩ :data:`NOISE_RANGE`.  The noise is
    that of ``noise_frame`` when given (the stored frame under a local normalization, for
    PSFScaleSNR weights), else of ``frame``.  ``sample``: the :func:`statistics_sample` of this
    channel when the caller has read it (else it is read here).
    """
    height, width = frame.height, frame.width
    stride, forced = _sample_stride(frame, budget_bytes)
    data = statistics_sample(frame, channel, budget_bytes=budget_bytes) if sample is None else sample
    if footprint is None:
        location, scale, inside = location_and_scale(in_range(data, *value_range), scale_estimator)
    else:
        location, scale, inside = location_and_scale(data, scale_estimator, mask=footprint)
    mean = float(inside.mean(dtype=np.float64)) if inside.size else 0.0
    del inside
    noise = algorithm = None
    if need_noise:
        source = frame if noise_frame is None else noise_frame
        keyword = _noise_keyword(source, channel) if use_noise_keywords else None
        if keyword is not None:
            noise, algorithm = keyword, "keyword"
        else:
            rows = max(16, int(budget_bytes // max(width * _NOISE_BYTES_PER_VALUE, 1)))
            if stride == 1 and rows >= height and source is frame:
                block = data
            else:
                rows = min(rows, height)
                start = (height - rows) // 2
                del data
                block = source.read_channel(channel, slice(start, start + rows))
            from processes.kernels.noise import estimate_noise

            noise_range = (max(value_range[0], NOISE_RANGE[0]), min(value_range[1], NOISE_RANGE[1]))
            estimate = estimate_noise(np.nan_to_num(block, nan=location), noise_algorithm, noise_range)
            noise, algorithm = float(estimate.sigma), estimate.algorithm
    return ChannelStats(location, scale, mean, noise, algorithm, forced > 1)
