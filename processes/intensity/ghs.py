"""GeneralizedHyperbolicStretch: the GHS process module by Mike Cranfield for PixInsight.

Parameter ids, elements, ranges and defaults are those of the GHS module's icons (class
``GeneralizedHyperbolicStretch``).  The transfer functions are in
:mod:`processes.kernels.ghs`; this module applies them to the channels that
``stretchChannel`` selects:

* ``SC_Red``/``SC_Green``/``SC_Blue``: that channel only; ``SC_RGB``: each channel;
* ``SC_Lightness``: CIE L* in the sRGB working space (a*, b* kept);
* ``SC_Saturation``: HSV saturation, keeping hue, value and CIE L*;
* ``SC_Colour``: the luminance ``Ȳ = wR·R + wG·G + wB·B`` (weights 1/3, or the working
  space's luminance coefficients with ``useRGBWorkingSpace``) is stretched and every
  channel multiplied by T(Ȳ)/Ȳ — blended with the per-channel factors T(x)/x by
  ``colourBlend`` — and out-of-range colours are handled by ``clipType``: clip each
  channel (``CT_Clip``), rescale the pixel by its maximum (``CT_Rescale``), rescale the
  whole image by its maximum (``CT_RescaleGlobal``), or blend the colour-preserving result
  with the per-channel stretch just enough to stay in range (``CT_RGBBlend``).

Grey images are always stretched directly; alpha channels are left alone.
"""

from __future__ import annotations

import numpy as np

from processes.intensity.histogram import nominal_channels
from processes.kernels.colorspace import rgb_to_hsv, srgb
from processes.kernels.ghs import GHSTransform
from procfw.image import Image
from procfw.params import Boolean, Double, Enumeration, param
from procfw.process import ExecutionContext, Process

_BAND_PIXELS = 1 << 20


class GeneralizedHyperbolicStretch(Process):
    """Generalised hyperbolic stretch (and its midtones, arcsinh and linear variants) of an image.

    The GHS process of Mike Cranfield and Mark Shelley (ghsastro.co.uk): a stretch of
    strength ln(D + 1) and local intensity b focused on a symmetry point, with shadow and
    highlight protection, applied to RGB, a single channel, lightness, saturation or
    colour-preserving luminance.
    """

    process_id = "GeneralizedHyperbolicStretch"
    categories = ("IntensityTransformations",)

    stretchType: str = param(  # noqa: N815
        Enumeration(
            elements=("ST_GeneralisedHyperbolic", "ST_MidtonesTransfer", "ST_Arcsinh", "ST_Linear"),
            default="ST_GeneralisedHyperbolic",
            description="Stretch family: generalised hyperbolic, midtones transfer, arcsinh or linear (black/white).",
        )
    )
    stretchChannel: str = param(  # noqa: N815
        Enumeration(
            elements=("SC_Red", "SC_Green", "SC_Blue", "SC_RGB", "SC_Lightness", "SC_Saturation", "SC_Colour"),
            default="SC_RGB",
            description="What is stretched: one channel, each RGB channel, CIE L*, HSV saturation or colour luminance.",
        )
    )
    inverse: bool = param(Boolean(default=False, description="Apply the inverse of the stretch."))
    stretchFactor: float = param(  # noqa: N815
        Double(
            default=0.0, minimum=0.0, maximum=20.0, precision=3,
            description="Stretch factor ln(D + 1): 0 is no stretch, larger values stretch harder.",
        )
    )
    localIntensity: float = param(  # noqa: N815
        Double(
            default=0.0, minimum=-5.0, maximum=15.0, precision=3,
            description="Local intensity b: how concentrated the stretch is around the symmetry point.",
        )
    )
    symmetryPoint: float = param(  # noqa: N815
        Double(
            default=0.0, minimum=0.0, maximum=1.0, precision=6,
            description="Symmetry point SP: the level where the stretch adds most contrast.",
        )
    )
    highlightProtection: float = param(  # noqa: N815
        Double(
            default=1.0, minimum=0.0, maximum=1.0, precision=6,
            description="Highlight protection point HP (≥ SP): above it the stretch is linear.",
        )
    )
    shadowProtection: float = param(  # noqa: N815
        Double(
            default=0.0, minimum=0.0, maximum=1.0, precision=6,
            description="Shadow protection point LP (≤ SP): below it the stretch is linear.",
        )
    )
    blackPoint: float = param(  # noqa: N815
        Double(
            default=0.0, minimum=-1.0, maximum=1.0, precision=6,
            description="Black point of the linear stretch: it maps to 0.",
        )
    )
    whitePoint: float = param(  # noqa: N815
        Double(
            default=1.0, minimum=0.0, maximum=2.0, precision=6,
            description="White point of the linear stretch: it maps to 1.",
        )
    )
    colourBlend: float = param(  # noqa: N815
        Double(
            default=1.0, minimum=0.0, maximum=1.0, precision=3,
            description="Colour stretch: 1 keeps colour ratios (luminance factor), 0 uses per-channel factors.",
        )
    )
    clipType: str = param(  # noqa: N815
        Enumeration(
            elements=("CT_Clip", "CT_Rescale", "CT_RGBBlend", "CT_RescaleGlobal"),
            default="CT_RGBBlend",
            description="Colour stretch: how out-of-range values are brought back (clip, rescale, blend, global).",
        )
    )
    useRGBWorkingSpace: bool = param(  # noqa: N815
        Boolean(
            default=False,
            description="Colour stretch: weight the luminance by the working space's coefficients instead of 1/3 each.",
        )
    )

    def validate(self) -> None:
        if not self.shadowProtection <= self.symmetryPoint <= self.highlightProtection:
            raise self.invalid(
                "symmetryPoint",
                self.symmetryPoint,
                f"must satisfy shadowProtection ({self.shadowProtection}) ≤ symmetryPoint ≤ "
                f"highlightProtection ({self.highlightProtection})",
            )
        if self.blackPoint >= self.whitePoint:
            raise self.invalid(
                "blackPoint", self.blackPoint, f"must be less than whitePoint ({self.whitePoint})"
            )

    def transfer_function(self) -> GHSTransform:
        """The scalar stretch of this instance (see :mod:`processes.kernels.ghs`)."""
        return GHSTransform(
            self.stretchType, self.stretchFactor, self.localIntensity, self.symmetryPoint,
            self.shadowProtection, self.highlightProtection, self.blackPoint, self.whitePoint, self.inverse,
        )

    # -- the maths ---------------------------------------------------------------------------
    def apply(self, image: Image, context: ExecutionContext) -> Image:
        t = self.transfer_function()
        pixels = image.pixels
        out = pixels.copy()
        nominal = nominal_channels(image.channels)
        mode = self.stretchChannel
        if nominal == 1 or mode in ("SC_Red", "SC_Green", "SC_Blue", "SC_RGB"):
            channels = {"SC_Red": [0], "SC_Green": [1], "SC_Blue": [2]}.get(mode, list(range(nominal)))
            if nominal == 1:
                channels = [0]
            for c in channels:
                _banded(lambda v: t(v), pixels[c], out[c])
            return image.with_pixels(out)
        rgb_in, rgb_out = pixels[:3].reshape(3, -1), out[:3].reshape(3, -1)
        if mode == "SC_Colour" and self.clipType == "CT_RescaleGlobal":
            peak = 1.0
            for start in range(0, rgb_in.shape[1], _BAND_PIXELS):
                band = slice(start, start + _BAND_PIXELS)
                stretched = self._colour(t, rgb_in[:, band].astype(np.float64))
                peak = max(peak, float(stretched.max()))
                rgb_out[:, band] = stretched
            if peak > 1:
                rgb_out /= np.float32(peak) if rgb_out.dtype == np.float32 else peak
            return image.with_pixels(out)
        for start in range(0, rgb_in.shape[1], _BAND_PIXELS):
            band = slice(start, start + _BAND_PIXELS)
            rgb = rgb_in[:, band].astype(np.float64)
            if mode == "SC_Lightness":
                result = self._lightness(t, rgb)
            elif mode == "SC_Saturation":
                result = self._saturation(t, rgb)
            else:
                result = self._colour(t, rgb)
            rgb_out[:, band] = result
        return image.with_pixels(out)

    @staticmethod
    def _lightness(t: GHSTransform, rgb: np.ndarray) -> np.ndarray:
        ws = srgb()
        lum, a, b = ws.rgb_to_lab(*rgb)
        return np.stack(ws.lab_to_rgb(t(lum), a, b))

    @staticmethod
    def _saturation(t: GHSTransform, rgb: np.ndarray) -> np.ndarray:
        ws = srgb()
        h, s, v = rgb_to_hsv(*rgb)
        return np.stack(ws.hsvl_to_rgb(h, t(s), v, ws.lightness(*rgb)))

    def _colour(self, t: GHSTransform, rgb: np.ndarray) -> np.ndarray:
        weights = srgb().luminance if self.useRGBWorkingSpace else np.full(3, 1 / 3)
        weights = weights / weights.sum()
        lum = np.tensordot(weights, rgb, axes=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(lum == 0, 0.0, t(lum) / lum)
        blend = self.colourBlend
        if self.clipType == "CT_RGBBlend":
            luminance_stretch = rgb * factor
            channel_stretch = t(rgb)
            d = luminance_stretch.max(axis=0) - channel_stretch.max(axis=0)
            t_max = channel_stretch.max(axis=0)
            with np.errstate(divide="ignore", invalid="ignore"):
                k = np.where(d != 0, np.minimum(blend, (1 - t_max) / d), blend)
            k = np.where(t_max + blend * d > 1, k, blend)
            return np.clip((1 - k) * channel_stretch + k * luminance_stretch, 0, 1)
        if blend != 1:
            with np.errstate(divide="ignore", invalid="ignore"):
                channel_factor = np.where(rgb == 0, 0.0, t(rgb) / rgb)
            factor = blend * factor + (1 - blend) * channel_factor
        stretched = rgb * factor
        if self.clipType == "CT_Clip":
            return np.clip(stretched, 0, 1)
        if self.clipType == "CT_Rescale":
            peak = stretched.max(axis=0)
            return np.where(peak > 1, stretched / np.where(peak > 1, peak, 1), stretched)
        return stretched  # CT_RescaleGlobal: the caller divides by the global peak


def _banded(func, src: np.ndarray, dst: np.ndarray) -> None:
    """dst ← func(src) in bands of about a million pixels, computed in float64."""
    flat_in, flat_out = src.reshape(-1), dst.reshape(-1)
    for start in range(0, flat_in.size, _BAND_PIXELS):
        band = slice(start, start + _BAND_PIXELS)
        flat_out[band] = func(flat_in[band])
