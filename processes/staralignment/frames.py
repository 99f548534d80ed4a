"""Frame helpers for StarAlignment: detection planes, keywords, frame adaptation, output writing."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from procfw.errors import ExecutionError
from procfw.image import FITSKeyword, Image
from procfw.io import read_image

__all__ = [
    "adapt_frame",
    "detection_plane",
    "is_wcs_keyword",
    "output_keywords",
    "read_for_detection",
    "sample_format_of",
    "without_pixels",
    "write_output",
]

_WCS = re.compile(
    r"^(WCSAXES|WCSNAME|CTYPE\d|CRVAL\d|CRPIX\d|CDELT\d|CUNIT\d|CROTA\d|CD\d_\d|PC\d_\d|PV\d_\d+|LONPOLE|LATPOLE|"
    r"RADESYS|RADECSYS|A_ORDER|B_ORDER|AP_ORDER|BP_ORDER|A_\d+_\d+|B_\d+_\d+|AP_\d+_\d+|BP_\d+_\d+|PLTSOLVD|"
    r"CTYPE\d+|CRVAL\d+|CRPIX\d+)$"
)
_ASTROMETRY_PROPERTY = "PCL:AstrometricSolution"
_BITPIX_FORMATS = {8: "i8", 16: "i16", 32: "i32", -32: "f32", -64: "f64"}


_MEAN_ROWS = 64
"""Rows of the channels' mean formed at a time by :func:`detection_plane` (a band stays in the cache)."""
_FITS_SUFFIXES = (".fits", ".fit", ".fts")


def detection_plane(image: Image) -> np.ndarray:
    """The plane stars are detected on: the image itself, or the mean of its first three channels.

    The mean is ``pixels[:3].mean(axis=0, dtype=np.float32)`` bit for bit (:func:`_mean_plane`,
    a band of :data:`_MEAN_ROWS` rows at a time).
    """
    pixels = image.pixels
    if pixels.shape[0] == 1:
        return pixels[0]
    height = pixels.shape[1]
    return _mean_plane((pixels[:, first : first + _MEAN_ROWS] for first in range(0, height, _MEAN_ROWS)),
                       pixels.shape[1:])


def _mean_plane(bands: Iterable[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """The float32 mean of the first three channels of an image of planar ``shape[1:]`` rows and
    columns that comes as consecutive ``(C, rows, W)`` bands.

    numpy's sum (``np.add.reduce`` in float32), then the division by the count, each band while
    its sum is still in the cache: ``pixels[:3].mean(axis=0, dtype=np.float32)`` bit for bit.
    numpy divides by its integer count in float64 and rounds to float32; dividing in float32
    gives the same bits (a quotient computed with 53 bits and rounded to 24 is the correctly
    rounded one), faster.
    """
    plane = np.empty(shape, dtype=np.float32)
    first = 0
    for band in bands:
        channels = band[: min(3, band.shape[0])]
        out = plane[first : first + band.shape[1]]
        np.add.reduce(channels, axis=0, dtype=np.float32, out=out)
        np.divide(out, np.float32(channels.shape[0]), out=out)
        first += band.shape[1]
    return plane


def read_for_detection(path: Path) -> tuple[Image, np.ndarray, bool]:
    """The image of the file ``path``, its :func:`detection_plane`, and whether the image was read
    without its pixels (a read-only zero view of their shape and type: read the file again for them).

    A plain FITS file of several channels is read a band at a time straight into the plane
    (:func:`procfw.io.fits.read_fits_bands`): the frame's pixels are never all in memory, and
    each band is averaged while it is in the cache.  Any other file is read whole; its pixels are
    left out when the plane is a new array.
    """
    if path.suffix.lower() in _FITS_SUFFIXES:
        from procfw.io.fits import read_fits_bands

        streamed = read_fits_bands(path, _MEAN_ROWS)
        if streamed is not None and streamed[0].pixels.shape[0] > 1:
            image, bands = streamed
            return image, _mean_plane(bands, image.pixels.shape[1:]), True
    image = read_image(path)
    plane = detection_plane(image)
    if np.may_share_memory(plane, image.pixels):
        return image, plane, False
    return without_pixels(image), plane, True


def without_pixels(image: Image) -> Image:
    """``image``'s size, keywords, properties and sample format, its pixels a read-only zero view
    (what registering needs of a reference or of a target whose stars are being detected)."""
    return Image(np.broadcast_to(np.zeros((), image.pixels.dtype), image.pixels.shape), image.keywords,
                 image.properties, sample_format=image.sample_format)


def is_wcs_keyword(name: str) -> bool:
    """True for FITS keywords of a world coordinate system (astrometric solution)."""
    return bool(_WCS.match(name.upper()))


def output_keywords(
    target: Image,
    reference: Image,
    *,
    inherit_astrometry: bool,
    history: list[str],
    extra: list[FITSKeyword],
) -> tuple[list[FITSKeyword], dict]:
    """Keywords and properties of a registered image.

    The target's own astrometric solution no longer applies (the pixels now lie on the
    reference grid): its WCS keywords and properties are dropped, and with
    ``inherit_astrometry`` the reference's are copied.
    """
    cards = [k for k in target.keywords if not is_wcs_keyword(k.name)]
    properties = {k: v for k, v in target.properties.items() if not k.startswith(_ASTROMETRY_PROPERTY)}
    if inherit_astrometry:
        cards += [k for k in reference.keywords if is_wcs_keyword(k.name)]
        properties.update({k: v for k, v in reference.properties.items() if k.startswith(_ASTROMETRY_PROPERTY)})
    cards += [FITSKeyword("HISTORY", text) for text in history]
    cards += extra
    return cards, properties


def adapt_frame(
    registered: np.ndarray, mask: np.ndarray, reference: np.ndarray, *, high: float = 0.92
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Frame adaptation: match each registered channel to the reference over their overlap.

    A least-squares line ``reference ≈ a + b·registered`` per channel (as LinearFit does),
    fitted on the pixels covered by the target where both values lie in ]0, ``high``[
    (saturated pixels and empty borders left out), then applied to the covered pixels.
    Returns the adapted pixels and the (offset a, scale b) of each channel.
    """
    out = registered.copy()
    coefficients: list[tuple[float, float]] = []
    for c in range(registered.shape[0]):
        ref_plane = reference[min(c, reference.shape[0] - 1)]
        x = registered[c][mask].astype(np.float64)
        y = ref_plane[mask].astype(np.float64)
        use = (x > 0) & (x < high) & (y > 0) & (y < high)
        x, y = x[use], y[use]
        if x.size < 16 or float(np.var(x)) <= 0:
            coefficients.append((0.0, 1.0))
            continue
        mx, my = x.mean(), y.mean()
        b = float(((x - mx) * (y - my)).sum() / ((x - mx) ** 2).sum())
        a = float(my - b * mx)
        plane = out[c]
        plane[mask] = np.clip(a + b * plane[mask], 0.0, 1.0)
        coefficients.append((a, b))
    return out, coefficients


def sample_format_of(image: Image, element: str) -> str:
    """The sample format to write: ``element`` or, for SameAsTarget, the one the target was read with."""
    if element != "SameAsTarget":
        return element
    bitpix = image.properties.get("FITS:BITPIX")
    return _BITPIX_FORMATS.get(bitpix, "f32") if isinstance(bitpix, int) else "f32"


def write_output(image: Image, path: Path, sample_format: str, *, overwrite: bool) -> Path:
    """Write ``image`` atomically in ``sample_format`` (i8, i16, i32, f32, f64); never replaces unless asked."""
    name = path.name.lower()
    if sample_format == "i8":
        if name.endswith((".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")):
            from procfw.io.fits import write_fits

            return write_fits(image, path, overwrite=overwrite, bitpix=8)
        if name.endswith(".xisf"):
            from procfw.io.xisf import write_xisf

            return write_xisf(image, path, overwrite=overwrite, sample_format="UInt8")
        raise ExecutionError(f"{path}: outputSampleFormat=i8 needs a FITS or XISF output file")
    from processes.common.filelists import write_frame

    return write_frame(image, path, sample_format=sample_format, overwrite=overwrite)
