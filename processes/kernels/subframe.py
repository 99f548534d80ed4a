"""One subframe's SubframeSelector measurements (PCL ``SubframeSelectorMeasureThread``, re-done with procfw's kernels).

:func:`measure_subframe` returns a mapping property -> value (the names of
:mod:`processes.subframeselector.properties`):

``Median``, ``MedianMeanDev``
    The median of the pixels between the extremes (± 1/65535), less the pedestal
    (``pedestal``/65535); the mean absolute deviation from the median of the pixels inside
    the range trimmed by ``trimmingFactor`` on both sides, as PCL.
``Noise``, ``NoiseRatio``
    ``NOISExx``/``NOISEFxx`` keywords when present (written by ImageCalibration or
    Debayer), else the MRS noise estimate (:func:`processes.kernels.noise.noise_mrs`, with
    PixInsight's 4→2 layer and k-sigma fallbacks) and the fraction of pixels it used.
``SNRWeight``
    ``((σ_low + σ_high)/Noise)²`` with the noise scaling factors (``NOISELxx``/``NOISEHxx``
    keywords, else :func:`processes.kernels.noise.noise_scale_factors`).
``Stars``, ``FWHM``, ``Eccentricity`` and their ``MeanDev``
    Stars found and fitted by :func:`processes.kernels.starmeasure.measure_stars` (elliptical
    Gaussian fits, inside the ROI); the value is a robust mean (iterative 3σ rejection about
    the median, in place of PCL's robust Chauvenet rejection) and ``MeanDev`` the mean
    absolute deviation of the kept values from it.  ``Stars`` is the number of fitted stars.
``PSFFlux``, ``PSFFluxPower``, ``PSFTotalMeanFlux``, ``PSFTotalMeanPowerFlux``, ``PSFCount``, ``MStar``, ``NStar``
    PCL's ``PSFSignalEstimator`` sums over the fitted stars: Σ flux, Σ flux², Σ mean flux and
    Σ mean flux² (mean flux = flux over the ellipse of half the FWTM on each axis, Winsorized
    at the 3σ rejection limits), the count; M* = median of (background − pixel) over the
    pixels below the local background, N* = 2.48308 · MAD of the same residuals (PCL's
    ``NStar_MAD``).  The background is procfw's tile background map, not PCL's multiscale
    median transform.
``PSFSignalWeight``, ``PSFSNR``
    PCL's formulas with the frame's noise: ``5.326e-6·ΣF·ΣF̄ / (9e6·σ·M*)`` and
    ``1.316e-7·(ΣF)² / (4.987e6·σ²)``.
``Azimuth``, ``Altitude``
    ``OBJCTAZ``/``CENTAZ`` and ``OBJCTALT``/``CENTALT`` keywords when present, else 0.
``StarResidual``, ``StarResidualMeanDev``
    PCL's goodness of fit per star (the 10 %-Winsorized mean absolute difference between
    the data and the fitted PSF over the stamp, :func:`star_residuals`), robust mean and
    mean absolute deviation over the stars.  The fits do not report the ellipse's
    orientation; the best of 36 angles is used.
``PSFScale``, ``PSFScaleSNR``
    Not computed (0): PSF scales need local normalization files.

Colour frames are measured on their intensity (the mean of the channels, PCL's HSI
intensity), with the mid-range of the per-channel noise keywords.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from procfw.errors import ExecutionError
from procfw.image import Image

__all__ = ["MeasureSettings", "measure_subframe", "robust_mean"]

_FWTM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(10.0))


@attrs.frozen(kw_only=True)
class MeasureSettings:
    """What a measurement depends on: trimming, pedestal, ROI and the star detector's settings."""

    trimming_factor: float = 0.1
    pedestal_mode: str = "Pedestal_Keyword"
    pedestal: int = 0
    pedestal_keyword: str = ""
    roi: tuple[int, int, int, int] = (0, 0, 0, 0)
    upper_limit: float = 1.0
    max_psf_fits: int = 8000
    sensitivity: float = 0.5


def _number(image: Image, name: str) -> float | None:
    value = image.keyword(name)
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _channel_keyword(image: Image, stem: str) -> float:
    """The mid-range of ``<stem>00``.. over the channels (0 when a channel lacks it), as PCL."""
    values = [_number(image, f"{stem}{c:02d}") or 0.0 for c in range(image.channels)]
    return 0.5 * (min(values) + max(values))


def _pedestal(image: Image, settings: MeasureSettings) -> float:
    if settings.pedestal_mode == "Pedestal_Literal":
        return float(settings.pedestal)
    name = "PEDESTAL" if settings.pedestal_mode == "Pedestal_Keyword" else settings.pedestal_keyword.strip()
    value = _number(image, name) if name else None
    if value is None:
        return 0.0
    return abs(value) if settings.pedestal_mode == "Pedestal_Keyword" else value


def robust_mean(values: np.ndarray, k: float = 3.0) -> tuple[float, float]:
    """(mean, mean absolute deviation from it) of ``values`` after iterative k·σ rejection about the median."""
    data = np.asarray(values, dtype=np.float64)
    data = data[np.isfinite(data)]
    if data.size == 0:
        return 0.0, 0.0
    for _ in range(10):
        median = float(np.median(data))
        sigma = 1.4826 * float(np.median(np.abs(data - median)))
        if not sigma > 0:
            break
        kept = data[np.abs(data - median) <= k * sigma]
        if kept.size == data.size or kept.size < 3:
            break
        data = kept
    mean = float(data.mean())
    return mean, float(np.mean(np.abs(data - mean)))


def _location_scale(plane: np.ndarray, trimming: float) -> tuple[float, float]:
    """PCL's Median and MedianMeanDev (before the pedestal)."""
    low, high = float(plane.min()), float(plane.max())
    inside = plane[(plane >= low + 1 / 65535) & (plane <= high - 1 / 65535)]
    if inside.size == 0:
        inside = plane.ravel()
    median = float(np.median(inside))
    lo = median - (1 - trimming) * (median - low)
    hi = median + (1 - trimming) * (high - median)
    trimmed = plane[(plane >= lo) & (plane <= hi)]
    deviation = float(np.mean(np.abs(trimmed - median))) if trimmed.size else 0.0
    return median, deviation


def _roi(plane: np.ndarray, roi: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = roi
    if x1 <= x0 or y1 <= y0:
        return plane
    h, w = plane.shape
    x0, x1, y0, y1 = max(0, x0), min(w, x1), max(0, y0), min(h, y1)
    if x1 - x0 < 16 or y1 - y0 < 16:
        raise ExecutionError(f"SubframeSelector: the ROI ({roi[0]}, {roi[1]}, {roi[2]}, {roi[3]}) leaves less than "
                             f"16×16 pixels of a {w}×{h} frame")
    return plane[y0:y1, x0:x1]


def _threshold(sensitivity: float) -> float:
    """Detection level in σ for the normalized ``sensitivity`` (0.5 → 5σ; 1 → 2σ, 0 → 20σ, logarithmic)."""
    base = 4.0 if sensitivity <= 0.5 else 2.5
    return float(5.0 * base ** (1.0 - 2.0 * sensitivity))


def _psf_signal(field: Any, plane: np.ndarray) -> dict[str, float]:
    """PCL's PSFSignalEstimator sums over ``field``'s stars and M*/N* of ``plane`` (module docstring)."""
    from processes.kernels.starmeasure import FWHM_PER_SIGMA, background_map

    out = {"PSFFlux": 0.0, "PSFFluxPower": 0.0, "PSFTotalMeanFlux": 0.0, "PSFTotalMeanPowerFlux": 0.0,
           "PSFCount": 0.0, "MStar": 0.0, "NStar": 0.0, "StarResidual": 0.0, "StarResidualMeanDev": 0.0}
    if field.count == 0:
        return out
    flux = np.asarray(field.flux, dtype=np.float64)
    sx = np.asarray(field.fwhm_major, dtype=np.float64) / FWHM_PER_SIGMA
    sy = np.asarray(field.fwhm_minor, dtype=np.float64) / FWHM_PER_SIGMA
    k = 0.5 * _FWTM_PER_SIGMA
    mean_flux = flux / (math.pi * k * k * sx * sy)
    median = float(np.median(mean_flux))
    sigma = 1.4826 * float(np.median(np.abs(mean_flux - median)))
    if sigma > 0:
        mean_flux = np.clip(mean_flux, median - 3 * sigma, median + 3 * sigma)
    out.update(PSFFlux=float(math.fsum(flux)), PSFFluxPower=float(math.fsum(flux * flux)),
               PSFTotalMeanFlux=float(math.fsum(mean_flux)), PSFTotalMeanPowerFlux=float(math.fsum(mean_flux**2)),
               PSFCount=float(field.count))
    data = np.ascontiguousarray(plane, dtype=np.float64)
    background = background_map(data)
    residual = background - data
    below = residual[(residual > 0) & (data != 0)]
    if below.size:
        m_star = float(np.median(below))
        out["MStar"] = m_star
        out["NStar"] = 2.48308 * float(np.median(np.abs(below - m_star)))
    out["StarResidual"], out["StarResidualMeanDev"] = robust_mean(star_residuals(field, -residual))
    return out


def star_residuals(field: Any, signal: np.ndarray, box: int = 15, angles: int = 36) -> np.ndarray:
    """Per star, PCL's goodness of fit: the 10 %-Winsorized mean of |data − model| over a ``box`` stamp.

    ``signal`` is the background-subtracted plane; the model is the elliptical Gaussian of
    the star's amplitude, centre and axes (point-sampled: the pixel-integration 1/12 px² is
    added back), its orientation, which the fits do not report, the best of ``angles``.
    """
    from processes.kernels.starmeasure import FWHM_PER_SIGMA

    if field.count == 0:
        return np.zeros(0)
    half = box // 2
    h, w = signal.shape
    ix = np.clip(np.rint(field.x).astype(np.int64), half, w - half - 1)
    iy = np.clip(np.rint(field.y).astype(np.int64), half, h - half - 1)
    offsets = np.arange(-half, half + 1)
    stamps = signal[iy[:, None, None] + offsets[None, :, None], ix[:, None, None] + offsets[None, None, :]]
    dx = (ix - field.x)[:, None, None] + offsets[None, None, :]
    dy = (iy - field.y)[:, None, None] + offsets[None, :, None]
    var_major = (np.asarray(field.fwhm_major) / FWHM_PER_SIGMA) ** 2 + 1 / 12
    var_minor = (np.asarray(field.fwhm_minor) / FWHM_PER_SIGMA) ** 2 + 1 / 12
    amplitude = np.asarray(field.amplitude)[:, None, None]
    best = np.full(field.count, np.inf)
    best_dev = np.zeros((field.count, box * box))
    for theta in np.linspace(0.0, np.pi, angles, endpoint=False):
        c, s = math.cos(theta), math.sin(theta)
        u, v = c * dx + s * dy, -s * dx + c * dy
        model = amplitude * np.exp(-0.5 * (u * u / var_major[:, None, None] + v * v / var_minor[:, None, None]))
        dev = np.abs(stamps - model).reshape(field.count, -1)
        mean = dev.mean(axis=1)
        better = mean < best
        best[better] = mean[better]
        best_dev[better] = dev[better]
    ordered = np.sort(best_dev, axis=1)
    m = int(0.1 * ordered.shape[1])
    if m:
        ordered[:, :m] = ordered[:, m : m + 1]
        ordered[:, -m:] = ordered[:, -m - 1 : -m]
    return ordered.mean(axis=1)


def measure_subframe(image: Image, settings: MeasureSettings) -> dict[str, float]:
    """The measurements of one frame (module docstring); ExecutionError when no star can be measured."""
    from processes.kernels.noise import noise_mrs, noise_scale_factors
    from processes.kernels.starmeasure import luminance_plane, measure_stars

    plane = luminance_plane(image.pixels)
    if min(plane.shape) < 16:
        raise ExecutionError(f"SubframeSelector: a {plane.shape[1]}×{plane.shape[0]} frame is too small to measure")
    finite = np.isfinite(plane)
    if not finite.all():
        plane = np.where(finite, plane, 0.0)
    out: dict[str, float] = {}
    median, deviation = _location_scale(plane, settings.trimming_factor)
    out["Median"] = median - _pedestal(image, settings) / 65535.0
    out["MedianMeanDev"] = deviation

    noise, ratio = _channel_keyword(image, "NOISE"), _channel_keyword(image, "NOISEF")
    if not (noise > 0 and ratio > 0):
        estimate = noise_mrs(plane)
        noise, ratio = float(estimate.sigma), float(estimate.fraction)
    out["Noise"], out["NoiseRatio"] = noise, ratio

    low, high = _channel_keyword(image, "NOISEL"), _channel_keyword(image, "NOISEH")
    if low == 0 or high == 0:
        low, high = noise_scale_factors(plane)
    snr = (low + high) / noise if noise > 0 else math.nan
    out["SNRWeight"] = snr * snr if math.isfinite(snr) and 1 + snr * snr != 1 else 0.0

    region = _roi(plane, settings.roi)
    field = measure_stars(region, threshold=_threshold(settings.sensitivity),
                          max_stars=max(1, settings.max_psf_fits) if settings.max_psf_fits > 0 else 100000,
                          saturation=settings.upper_limit if settings.upper_limit < 1 else 0.98)
    if field.count == 0:
        raise ExecutionError(f"SubframeSelector: no stars detected ({field.candidates} candidates, none could be "
                             "fitted)")
    out["Stars"] = float(field.count)
    out["FWHM"], out["FWHMMeanDev"] = robust_mean(field.fwhm)
    out["Eccentricity"], out["EccentricityMeanDev"] = robust_mean(field.eccentricity)

    signal = _psf_signal(field, region)
    out.update(signal)
    if noise > 0 and signal["MStar"] > 0:
        out["PSFSignalWeight"] = 5.326e-6 * signal["PSFFlux"] * signal["PSFTotalMeanFlux"] / (9.0e6 * noise
                                                                                               * signal["MStar"])
    else:
        out["PSFSignalWeight"] = 0.0
    out["PSFSNR"] = 1.316e-7 * signal["PSFFlux"] ** 2 / (4.987e6 * noise * noise) if noise > 0 else 0.0
    out["PSFScale"] = out["PSFScaleSNR"] = 0.0
    out["Azimuth"] = _angle(image, ("OBJCTAZ", "CENTAZ"), 360.0)
    out["Altitude"] = _angle(image, ("OBJCTALT", "CENTALT"), 90.0)
    out["Weight"] = 0.0
    return out


def _angle(image: Image, names: tuple[str, ...], limit: float) -> float:
    for name in names:
        value = _number(image, name)
        if value is not None and 0 <= value <= limit:
            return value
    return 0.0


def as_row_values(measured: Mapping[str, float]) -> dict[str, float]:
    """``measured`` with every property present (missing ones 0)."""
    from processes.subframeselector.properties import PROPERTIES

    return {name: float(measured.get(name, 0.0)) for name in PROPERTIES}
