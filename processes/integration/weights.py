"""Image weights for the average combination (ImageIntegration's ``weightMode``).

``DontCare``         every weight is 1.
``ExposureTime``     EXPTIME (or EXPOSURE) of each frame.
``SNREstimate``      inverse variance of the *normalized* noise: ``1/(A_i·σ_i)²`` with σ_i
                     the frame's noise estimate and A_i its normalization factor; with a
                     scaling normalization this is PixInsight's squared SNR ``(s_i/σ_i)²``
                     up to a constant.
``SignalWeight``     |mean − median| of each frame.
``MedianWeight``     the median; ``AverageWeight`` the mean.
``KeywordWeight``    the numeric value of the FITS keyword ``weightKeyword``.
``PSFSignalWeight``, ``PSFSNR``  each frame's value as SubframeSelector measures it (star PSF
                     photometry and noise: :mod:`processes.kernels.subframe`), computed by
                     the process.
``PSFScaleSNR``      PCL's formula (``IntegrationFile.cpp``): ``1/(s_i·σ_i)²`` with s_i the
                     frame's relative scale factor from its LocalNormalization .xnml (the
                     factor that brings its star fluxes to the reference's) and σ_i the noise
                     of the frame as stored (NOISEnn keyword or MRS estimate); without .xnml
                     scale factors for every frame the process uses SNREstimate (and says so).

A non-empty ``csvWeights`` (comma-separated numbers, one per enabled image) overrides the
mode.  Weights are normalized so that the reference (first) frame has weight 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from processes.integration.frames import FrameSource
from processes.integration.statistics import ChannelStats, exposure_time
from procfw.errors import ExecutionError

__all__ = ["NOISE_MODES", "PSF_MODES", "STAT_MODES", "compute_weights", "normalized_weights", "parse_csv_weights"]

PSF_MODES = ("PSFSignalWeight", "PSFSNR", "PSFScaleSNR")
NOISE_MODES = ("SNREstimate", *PSF_MODES)
STAT_MODES = (*NOISE_MODES, "SignalWeight", "MedianWeight", "AverageWeight")


def parse_csv_weights(text: str, count: int) -> np.ndarray:
    """The numbers of ``csvWeights``; one per enabled image, none negative, some positive."""
    try:
        values = [float(item) for item in text.replace(";", ",").split(",") if item.strip()]
    except ValueError:
        problem = f"ImageIntegration: csvWeights {text!r} is not a comma-separated list of numbers"
        raise ExecutionError(problem) from None
    if len(values) != count:
        raise ExecutionError(f"ImageIntegration: csvWeights has {len(values)} values for {count} enabled images")
    array = np.asarray(values, dtype=np.float64)
    if not (np.isfinite(array).all() and (array >= 0).all() and (array > 0).any()):
        raise ExecutionError(f"ImageIntegration: csvWeights must be non-negative numbers, not all zero; got {text!r}")
    return array


def _keyword_number(frame: FrameSource, name: str) -> float | None:
    value = frame.keyword(name)
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def compute_weights(
    mode: str,
    frames: Sequence[FrameSource],
    stats: Sequence[Sequence[ChannelStats]] | None,
    out_scale: np.ndarray,
    *,
    keyword: str = "",
    relative_scale: np.ndarray | None = None,
) -> np.ndarray:
    """Weights (channels, N) for ``mode``; ``stats[i][c]`` are the statistics of frame i, channel c;
    ``relative_scale`` (channels, N) the LocalNormalization scale factors PSFScaleSNR needs."""
    n = len(frames)
    channels = out_scale.shape[0]
    if mode == "DontCare":
        weights = np.ones((channels, n))
    elif mode in ("ExposureTime", "KeywordWeight"):
        values = []
        for frame in frames:
            value = exposure_time(frame) if mode == "ExposureTime" else _keyword_number(frame, keyword)
            if value is None or not value > 0:
                what = "EXPTIME/EXPOSURE" if mode == "ExposureTime" else f"the keyword {keyword!r}"
                raise ExecutionError(f"ImageIntegration: {frame.path} has no positive {what} for weightMode={mode}")
            values.append(value)
        weights = np.tile(np.asarray(values, dtype=np.float64), (channels, 1))
    elif mode in STAT_MODES:
        if stats is None:
            raise ExecutionError(f"ImageIntegration: weightMode={mode} needs frame statistics")
        if mode == "PSFScaleSNR":
            if relative_scale is None:
                raise ExecutionError("ImageIntegration: weightMode=PSFScaleSNR needs relative scale factors")
            out_scale = relative_scale  # the noise scaled to the reference's signal, as PCL
        weights = np.empty((channels, n))
        for i in range(n):
            for c in range(channels):
                st = stats[i][c]
                if mode in NOISE_MODES:
                    sigma = (st.noise or 0.0) * abs(out_scale[c, i])
                    weights[c, i] = 1.0 / (sigma * sigma) if sigma > 0 else 0.0
                elif mode == "SignalWeight":
                    weights[c, i] = abs(st.mean - st.location)
                elif mode == "MedianWeight":
                    weights[c, i] = st.location
                else:
                    weights[c, i] = st.mean
        if not np.all(np.isfinite(weights)) or np.any(weights <= 0):
            bad = [str(frames[i].path) for i in range(n) if not np.all(weights[:, i] > 0)]
            raise ExecutionError(f"ImageIntegration: weightMode={mode} gives no positive weight for {', '.join(bad)}")
    else:
        raise ExecutionError(f"ImageIntegration: unsupported weightMode {mode}")
    return normalized_weights(weights)


def normalized_weights(weights: np.ndarray) -> np.ndarray:
    """Weights relative to the reference (first) frame, or to the largest when that one is 0."""
    reference = np.where(weights[:, :1] > 0, weights[:, :1], weights.max(axis=1, keepdims=True))
    return weights / reference
