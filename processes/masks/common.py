"""Helpers shared by the mask generators: the intensity a mask is built from, smoothing."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from procfw.image import Image

__all__ = ["gaussian_smooth", "intensity_planes"]


def intensity_planes(image: Image, *, lightness: bool) -> np.ndarray:
    """The planes a mask is computed from, float64 ``(n, height, width)``.

    A grey image gives its one channel; a colour image gives its CIE L* (in PixInsight's
    default RGB working space, sRGB D50) when ``lightness`` is set, else its three nominal
    channels.  Alpha channels are ignored.
    """
    pixels = image.pixels
    if pixels.shape[0] < 3:
        return pixels[:1].astype(np.float64)
    rgb = np.clip(pixels[:3].astype(np.float64), 0, 1)
    if not lightness:
        return rgb
    from processes.kernels.colorspace import SRGB

    return SRGB.lightness(rgb[0], rgb[1], rgb[2])[None]


def gaussian_smooth(planes: np.ndarray, sigma: float) -> np.ndarray:
    """Each plane convolved with a Gaussian of standard deviation ``sigma`` pixels (mirrored borders)."""
    if sigma <= 0:
        return planes
    return np.stack([ndimage.gaussian_filter(p, sigma, mode="mirror") for p in planes])
