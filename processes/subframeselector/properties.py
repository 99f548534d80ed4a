"""The measured properties of SubframeSelector: the measurements table, aggregates and expression variables.

A frame's measurements are a mapping from property name (``FWHM``, ``Noise``, ...) to a
number.  :data:`PROPERTIES` lists them with the column of the read-only ``measurements``
table that stores each one.  :func:`expression_variables` gives, for one frame, every
variable PixInsight declares before an expression (``MeasureItem::JavaScriptParameters``):
the property itself, and its ``Min``, ``Max``, ``Median`` and ``Sigma`` across all frames
(``Sigma`` = (value − median) / mean absolute deviation from the median), with
``PSFSignal`` = ``PSFSignalWeight`` and ``SNR`` = ``SNRWeight`` as aliases.  ``FWHM`` and
``FWHMMeanDev`` are in arcseconds with ``scaleUnit = ArcSeconds`` (× ``subframeScale``);
``Median``, ``MedianMeanDev`` and ``Noise`` in DN or electrons with ``dataUnit``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["ALIASES", "PROPERTIES", "TABLE_COLUMNS", "Units", "aggregates", "expression_variables",
           "variable_names"]

PROPERTIES: tuple[str, ...] = (
    "Weight", "FWHM", "Eccentricity", "PSFSignalWeight", "PSFSNR", "PSFScale", "PSFScaleSNR", "PSFFlux",
    "PSFFluxPower", "PSFTotalMeanFlux", "PSFTotalMeanPowerFlux", "PSFCount", "MStar", "NStar", "SNRWeight",
    "Median", "MedianMeanDev", "Noise", "NoiseRatio", "Stars", "StarResidual", "FWHMMeanDev",
    "EccentricityMeanDev", "StarResidualMeanDev", "Azimuth", "Altitude",
)
"""Every property of a frame, besides ``Index`` (PCL's order of declaration in the expressions)."""

ALIASES: Mapping[str, str] = {"PSFSignal": "PSFSignalWeight", "SNR": "SNRWeight"}
"""Second names PixInsight declares for two properties."""

TABLE_COLUMNS: tuple[str, ...] = (
    "measurementIndex", "measurementEnabled", "measurementLocked", "measurementPath", "measurementWeight",
    "measurementFWHM", "measurementEccentricity", "measurementPSFSignalWeight", "measurementUnused01",
    "measurementSNRWeight", "measurementMedian", "measurementMedianMeanDev", "measurementNoise",
    "measurementNoiseRatio", "measurementStars", "measurementStarResidual", "measurementFWHMMeanDev",
    "measurementEccentricityMeanDev", "measurementStarResidualMeanDev", "measurementAzimuth",
    "measurementAltitude", "measurementPSFFlux", "measurementPSFFluxPower", "measurementPSFTotalMeanFlux",
    "measurementPSFTotalMeanPowerFlux", "measurementPSFCount", "measurementMStar", "measurementNStar",
    "measurementPSFSNR", "measurementPSFScale", "measurementPSFScaleSNR",
)
"""The columns of the ``measurements`` table, in PCL's order (SubframeSelectorProcess.cpp)."""

_BITS = {"Bits8": 255, "Bits10": 1023, "Bits12": 4095, "Bits14": 16383, "Bits16": 65535}


class Units:
    """The unit conversions of the expressions: ``scaleUnit``/``subframeScale`` and ``dataUnit``/camera."""

    def __init__(self, *, scale_unit: str = "ArcSeconds", subframe_scale: float = 1.0, data_unit: str = "Normalized",
                 camera_gain: float = 1.0, camera_resolution: str = "Bits16") -> None:
        self.scale = subframe_scale if scale_unit == "ArcSeconds" else 1.0
        resolution = _BITS[camera_resolution]
        self.data = {"Normalized": 1.0, "DataNumber": float(resolution),
                     "Electron": resolution * camera_gain}[data_unit]

    def convert(self, name: str, value: float) -> float:
        """``value`` of property ``name`` in the units of the expressions."""
        if name in ("FWHM", "FWHMMeanDev"):
            return value * self.scale
        if name in ("Median", "MedianMeanDev", "Noise"):
            return value * self.data
        return value


def aggregates(frames: Sequence[Mapping[str, float]], units: Units) -> dict[str, tuple[float, float, float, float]]:
    """Per property, over ``frames``: (min, max, median, mean absolute deviation from the median)."""
    out: dict[str, tuple[float, float, float, float]] = {}
    for name in PROPERTIES:
        values = np.array([units.convert(name, float(f.get(name, 0.0))) for f in frames], dtype=np.float64)
        if values.size == 0:
            out[name] = (0.0, 0.0, 0.0, 0.0)
            continue
        median = float(np.median(values))
        out[name] = (float(values.min()), float(values.max()), median, float(np.mean(np.abs(values - median))))
    return out


def expression_variables(frame: Mapping[str, float], index: int,
                         stats: Mapping[str, tuple[float, float, float, float]], units: Units) -> dict[str, float]:
    """The variables of one frame's expressions (module docstring); ``index`` is the frame's row (from 0)."""
    variables: dict[str, float] = {"Index": float(index)}
    names = list(PROPERTIES) + list(ALIASES)
    for name in names:
        source = ALIASES.get(name, name)
        value = units.convert(source, float(frame.get(source, 0.0)))
        low, high, median, deviation = stats[source]
        variables[name] = value
        variables[f"{name}Min"] = low
        variables[f"{name}Max"] = high
        variables[f"{name}Median"] = median
        variables[f"{name}Sigma"] = (value - median) / (deviation if 1 + deviation != 1 else 1.0)
    return variables


def variable_names() -> list[str]:
    """Every variable an expression may use."""
    names = ["Index"]
    for name in list(PROPERTIES) + list(ALIASES):
        names += [name, f"{name}Min", f"{name}Max", f"{name}Median", f"{name}Sigma"]
    return names
