"""Converting between planar [0, 1] pixels and the interleaved integer samples of raster files.

Writing (:func:`interleaved_samples`): pixels are clipped to [0, 1] (NaN becomes 0),
scaled to ``2**bits - 1`` and rounded to the nearest integer, so a sample ``q`` is
``rint(clip(x, 0, 1) · (2**bits − 1))``.  Channel layout follows PixInsight: one
channel is grey, two are grey + alpha, three are RGB, four are RGB + alpha; channels
beyond the fourth cannot be stored in a raster file and are left out (logged).

Reading (:func:`planar_from_samples`): unsigned integers are divided by their type's
maximum (``q / 255``, ``q / 65535``), signed integers map their type's range onto
[0, 1], floating point samples are kept as they are.  8- and 16-bit samples become
float32; 32- and 64-bit integers become float64 (float32 cannot hold them exactly).

Sample formats (:func:`stored_format`, :func:`warn_if_lossy`): an image keeps the sample
format of the file it came from (``Image.sample_format``) and is written back in it.  An
integer format holds [0, 1] quantized to its levels; writing clips what lies outside
(NaN becomes 0), and that loss beyond the format's quantization is logged as a warning
naming the file and how many samples were clipped.
"""

from __future__ import annotations

import logging

import numpy as np

from procfw.errors import ParameterError

log = logging.getLogger(__name__)

RASTER_BITS: tuple[int, ...] = (8, 16)
"""The bit depths the raster writers accept."""

MAX_RASTER_CHANNELS = 4
"""Grey, grey + alpha, RGB or RGB + alpha."""


_DTYPE_FORMATS = {"u1": "UInt8", "u2": "UInt16", "u4": "UInt32", "f4": "Float32", "f8": "Float64"}


def stored_format(dtype: object) -> str:
    """The sample format that keeps samples of ``dtype`` read from a file: UInt8/16/32 for
    unsigned (and signed) 8/16/32-bit integers, Float32, Float64 (for 64-bit integers too,
    which no image writer stores)."""
    kind = np.dtype(dtype)  # type: ignore[call-overload]
    if kind.kind in "ui" and kind.itemsize <= 4:
        return _DTYPE_FORMATS[f"u{kind.itemsize}"]
    if kind.kind == "f" and kind.itemsize <= 4:
        return "Float32"
    return "Float64"


def warn_if_lossy(pixels: np.ndarray, sample_format: str, name: object) -> None:
    """Log a warning when writing ``pixels`` as the integer ``sample_format`` clips samples
    (outside [0, 1], or NaN): information lost beyond the format's quantization."""
    if not sample_format.startswith("UInt"):
        return
    outside = 0
    for plane in pixels:  # plane by plane: no full-size temporary
        outside += int(np.count_nonzero(~((plane >= 0) & (plane <= 1))))
    if outside:
        log.warning("%s: %d samples outside [0, 1] (or NaN) are clipped: the image is stored as %s; "
                    "convert it to Float32 to keep them", name, outside, sample_format)


def check_bits(bits: object) -> int:
    """``bits`` if it is 8 or 16, else a :class:`~procfw.errors.ParameterError`."""
    if isinstance(bits, bool) or bits not in RASTER_BITS:
        raise ParameterError(f"bits must be one of {', '.join(map(str, RASTER_BITS))}; got {bits!r}")
    return int(bits)  # type: ignore[call-overload]


def clip_unit(values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``values`` clipped to [0, 1] with NaN as 0 (into ``out``, which may be ``values``)."""
    out = np.fmax(values, 0, out=out)  # fmax ignores NaN: NaN becomes 0
    return np.minimum(out, 1, out=out)


def quantize(pixels: np.ndarray, bits: int) -> np.ndarray:
    """``rint(clip(pixels, 0, 1) · (2**bits − 1))`` (in float64) as uint8 or uint16; NaN becomes 0."""
    dtype = np.uint8 if check_bits(bits) == 8 else np.uint16
    pixels = np.asarray(pixels)
    out = np.empty(pixels.shape, dtype=dtype)
    for index in np.ndindex(pixels.shape[:1]):  # plane by plane: a float64 copy of one plane at a time
        scaled = clip_unit(np.array(pixels[index], dtype=np.float64))
        scaled *= float(np.iinfo(dtype).max)
        out[index] = np.rint(scaled, out=scaled)
    return out


def storable_channels(channels: int) -> int:
    """How many of an image's channels a raster file keeps (at most four)."""
    return min(channels, MAX_RASTER_CHANNELS)


def interleaved_samples(pixels: np.ndarray, bits: int, *, name: object = "<image>") -> np.ndarray:
    """Planar ``(c, h, w)`` pixels as quantized ``(h, w)`` (grey) or ``(h, w, c)`` samples."""
    channels = pixels.shape[0]
    kept = storable_channels(channels)
    if kept < channels:
        log.warning("%s: %d channels; a raster file keeps the first %d (RGB + alpha)", name, channels, kept)
    samples = quantize(pixels[:kept], bits)
    return samples[0] if kept == 1 else np.ascontiguousarray(np.moveaxis(samples, 0, -1))


def unit_range(samples: np.ndarray) -> np.ndarray:
    """Samples of any integer, boolean or float type mapped to [0, 1] floats (see module docstring)."""
    kind = samples.dtype.kind
    if kind == "b":
        return samples.astype(np.float32)
    if kind in "ui":
        info = np.iinfo(samples.dtype)
        out_dtype = np.float32 if info.bits <= 16 else np.float64
        out = samples.astype(np.float64) if info.bits > 16 else samples.astype(np.float32)
        if kind == "i":
            out -= info.min
        out /= float(info.max) - float(info.min)
        return out.astype(out_dtype, copy=False)
    if kind == "f":
        return samples.astype(np.float64 if samples.dtype.itemsize > 4 else np.float32)
    raise ValueError(f"unsupported sample type {samples.dtype}")


def planar_from_samples(samples: np.ndarray, *, channels_last: bool = True) -> np.ndarray:
    """``(h, w)``, ``(h, w, c)`` (or with ``channels_last=False`` ``(c, h, w)``) samples as planar [0, 1]."""
    values = unit_range(samples)
    if values.ndim == 2:
        return values[np.newaxis]
    if values.ndim == 3 and channels_last:
        return np.ascontiguousarray(np.moveaxis(values, -1, 0))
    if values.ndim == 3:
        return values
    raise ValueError(f"unsupported sample array shape {samples.shape}")
