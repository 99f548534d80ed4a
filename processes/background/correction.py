"""Applying a background model: subtraction or division, normalization, the output images."""

from __future__ import annotations

import numpy as np

from procfw.errors import ExecutionError
from procfw.image import Image, sample_format_for
from procfw.process import ProcessOutput

__all__ = ["CORRECTIONS", "SAMPLE_FORMATS", "CORRECTED_FORMATS", "apply_model", "build_output"]

CORRECTIONS = ("None", "Subtract", "Divide")
SAMPLE_FORMATS = ("i16", "i32", "f32", "f64")
CORRECTED_FORMATS = ("SameAsTarget", "i16", "i32", "f32", "f64")
_TINY = 1e-12


def apply_model(pixels: np.ndarray, model: np.ndarray, correction: str, normalize: bool,
                out: np.ndarray | None = None) -> np.ndarray:
    """``pixels − model`` or ``pixels / model`` per channel (float32, into ``out`` if given),
    re-normalized to the model's median with ``normalize``; a result outside [0, 1] is
    rescaled into it (nothing is clipped)."""
    if out is None:
        out = np.empty(model.shape, dtype=np.float32)
    for c in range(model.shape[0]):
        m = model[c]
        level = float(np.median(m[:: max(1, m.shape[0] // 256), :: max(1, m.shape[1] // 256)]))
        if correction == "Subtract":
            np.subtract(pixels[c], m, out=out[c])
            if normalize:
                out[c] += np.float32(level)
        else:
            if float(m.min()) <= 0:
                raise ExecutionError(f"the background model of channel {c} reaches {float(m.min()):.3g}: "
                                     "targetCorrection=Divide needs a positive model (try Subtract)")
            np.divide(pixels[c], m, out=out[c])
            if normalize:
                out[c] *= np.float32(level)
    low, high = float(out.min()), float(out.max())
    if low < 0 or high > 1:
        low, high = min(low, 0.0), max(high, 1.0)
        scale = np.float32(1.0 / max(high - low, _TINY))
        for plane in out:  # channel by channel: no full-size temporaries
            plane -= np.float32(low)
            plane *= scale
    return out


def build_output(
    image: Image, model: np.ndarray, *, correction: str, normalize: bool, discard_model: bool, replace_target: bool,
    model_id: str, model_format: str, corrected_id: str, corrected_format: str, outputs: dict | None = None,
    messages: tuple[str, ...] = (),
) -> ProcessOutput:
    """The process output: the corrected target (replaced or as a new image) and the model image."""
    new_images: dict[str, Image] = {}
    corrected: Image | None = None
    nominal = model.shape[0]
    if correction != "None":
        pixels = np.empty(image.pixels.shape, dtype=np.float32)
        apply_model(image.pixels, model, correction, normalize, out=pixels[:nominal])
        pixels[nominal:] = image.pixels[nominal:]
        corrected = image.with_pixels(pixels)
        if not replace_target:
            new_images[corrected_id] = corrected.with_sample_format(sample_format_for(corrected_format, image))
            corrected = None
    if not discard_model:
        new_images[model_id] = Image(np.ascontiguousarray(model, dtype=np.float32),
                                     sample_format=sample_format_for(model_format))
    return ProcessOutput(image=corrected, new_images=new_images, outputs=outputs or {}, messages=messages)
