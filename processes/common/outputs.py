"""Read-only output parameters as PixInsight declares them (kinds, precisions), shared by processes.

PixInsight writes the read-only parameters of an instance (what its last execution
produced: image ids, per-frame tables, noise estimates) into its icons.  procfw declares
them with PixInsight's ids, kinds and precisions so that such icons load typed and write
back unchanged.  Values are zero or empty until an execution fills them (see
``Process.icon_outputs`` of each process).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from procfw.errors import ProcfwError
from procfw.params import Double, Float, Int32, ParameterKind, String, Table, param

__all__ = [
    "CHANNELS_RGB",
    "CHANNELS_RK",
    "integer",
    "real",
    "scalars",
    "signal_noise_columns",
    "table",
    "table_rows",
    "text",
]

# PixInsight's channel suffixes: "RK" (red or gray) in ImageCalibration and ImageIntegration, "R" in Debayer
CHANNELS_RK = ("RK", "G", "B")
CHANNELS_RGB = ("R", "G", "B")
_CHANNEL_NAMES = {"RK": "red or gray", "R": "red", "G": "green", "B": "blue"}


def text(description: str) -> Any:
    """A read-only String parameter."""
    return param(String(read_only=True, description=description))


def real(description: str, precision: int, *, scientific: bool = False, general: bool = False,
         single: bool = False) -> Any:
    """A read-only Double (``single``: Float) parameter with PixInsight's precision and notation."""
    kind = Float if single else Double
    return param(kind(read_only=True, precision=precision, scientific=scientific, general=general,
                      description=description))


def integer(description: str, kind: type[ParameterKind] = Int32) -> Any:
    """A read-only integer parameter (Int32, UInt32 or UInt64)."""
    return param(kind(read_only=True, description=description))


def table(columns: tuple[ParameterKind, ...], description: str) -> Any:
    """A read-only Table parameter (every column read-only too, as PixInsight declares them)."""
    return param(Table(columns=columns, read_only=True, description=description))


def signal_noise_columns(channels: tuple[str, ...]) -> tuple[ParameterKind, ...]:
    """PSF signal and noise estimates per channel, as ImageCalibration's ``outputData`` and
    Debayer's ``outputFileData`` columns (and Debayer's scalar outputs) declare them."""
    cols: list[ParameterKind] = []

    def each(stem: str, make: Any, what: str) -> None:
        cols.extend(make(f"{stem}{c}", f"{what}, {_CHANNEL_NAMES[c]}.") for c in channels)

    def psf(id_: str, what: str) -> Double:
        return Double(id=id_, read_only=True, precision=4, scientific=True, description=what)

    each("psfTotalFluxEstimate", psf, "PSF total flux estimate")
    each("psfTotalPowerFluxEstimate", psf, "PSF total power flux estimate")
    each("psfTotalMeanFluxEstimate", psf, "PSF total mean flux estimate")
    each("psfTotalMeanPowerFluxEstimate", psf, "PSF total mean power flux estimate")
    each("psfMStarEstimate", psf, "M* mean background estimate")
    each("psfNStarEstimate", psf, "N* noise estimate")
    each("psfCount", lambda i, d: Int32(id=i, read_only=True, description=d), "Number of PSF fits")
    each("noiseEstimate", lambda i, d: Double(id=i, read_only=True, precision=3, scientific=True, description=d),
         "Noise estimate (standard deviation of Gaussian noise)")
    each("noiseFraction", lambda i, d: Double(id=i, read_only=True, precision=3, description=d),
         "Fraction of noise pixels")
    each("noiseScaleLow", lambda i, d: Double(id=i, read_only=True, precision=6, scientific=True, description=d),
         "Noise scaling factor, low pixels")
    each("noiseScaleHigh", lambda i, d: Double(id=i, read_only=True, precision=6, scientific=True, description=d),
         "Noise scaling factor, high pixels")
    each("noiseAlgorithm", lambda i, d: String(id=i, read_only=True, description=d), "Noise evaluation algorithm")
    return tuple(cols)



def table_rows(kind: Table, rows: Iterable[Any],
               cells: Callable[[Any], Mapping[str, Any]] = dict) -> tuple[tuple[Any, ...], ...]:
    """The rows of read-only Table ``kind`` from a process's run rows (dicts): ``cells(row)``
    gives values by column id; a missing value, or one the column cannot hold (a NaN, a
    number where text is due), takes the column default."""
    out = []
    for row in rows:
        given = cells(row)
        out.append(tuple(_value(col, given.get(col.id)) for col in kind.columns))
    return tuple(out)


def scalars(schema: Mapping[str, ParameterKind], values: Mapping[str, Any]) -> dict[str, Any]:
    """The read-only scalar parameters of ``schema`` found in ``values`` (run outputs), converted."""
    return {pid: _value(kind, values[pid]) for pid, kind in schema.items()
            if kind.read_only and not isinstance(kind, Table) and pid in values}


def _value(kind: ParameterKind, value: Any) -> Any:
    if value is None:
        return kind.default_value
    try:
        return kind.convert(value)
    except ProcfwError:
        return kind.default_value
