"""StarMask: a mask of stars (small, bright structures) found by multiscale analysis
(PixInsight's StarMask).

PixInsight has never published StarMask's sources; the parameter ids, defaults and the
mode names are those of its scripting object.  procfw's algorithm, step by step:

1. the source is the target's intensity (CIE L* of a colour image, the channel of a grey
   one) through a histogram transformation (``shadowsClipping``, ``midtonesBalance``,
   ``highlightsClipping``);
2. an à trous B3-spline transform of ``waveletLayers`` layers; the structure strength ``S``
   is, per pixel, the sum of the detail layers (the source above its large-scale residual),
   or with ``aggregateStructures`` the sum of their positive coefficients, never below 0;
3. structures are where ``S > noiseThreshold`` (in units of the stretched intensity); mode
   StructureMap stops here (1 on structures, 0 elsewhere; ``structureContours`` keeps
   only their one-pixel outlines);
4. the mask is ``S`` (clipped to 1) on the structures, or 1 there with
   ``binarizeStructures``; it grows by ``largeScaleGrowth`` 3×3 dilations, and the
   structures found in the first ``growthCompensation`` layers (the small ones) grow by
   ``smallScaleGrowth`` more;
5. it is smoothed by a Gaussian of σ = ``smoothness``/8 pixels (16, the default, is σ = 2),
   truncated (``m/truncation``, clipped to 1), limited (``min(m, limit)``) and inverted
   with ``invert``.

It opens as a new window ``star_mask`` (``structure_map`` in the StructureMap modes);
the overlay modes give an RGB image: the stretched source in G and B, and in R the
source brightened by the mask (``max(source, mask)``).
"""

from __future__ import annotations

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids
import numpy as np
from scipy import ndimage

from processes.kernels.mtf import histogram_transform
from processes.kernels.multiscale import smoothings
from processes.masks.common import gaussian_smooth, intensity_planes
from procfw.image import Image
from procfw.params import Boolean, Enumeration, Float, Int32, param
from procfw.process import ExecutionContext, Process, ProcessOutput

__all__ = ["MODES", "StarMask"]

MODES = ("StarMask", "StarMaskOverlay", "StructureMap", "StructureMapOverlay")
_BOX = np.ones((3, 3), dtype=bool)


def _grow(mask: np.ndarray, times: int) -> np.ndarray:
    for _ in range(times):
        mask = ndimage.grey_dilation(mask, footprint=_BOX, mode="nearest")
    return mask


def _strengths(source: np.ndarray, layers: int, small_layers: int, aggregate: bool) -> tuple[np.ndarray, np.ndarray]:
    """(strength over all ``layers``, strength over the first ``small_layers``) of ``source``.

    The strength is the sum of the detail layers (``source`` minus the smoothing), or with
    ``aggregate`` the sum of their positive coefficients; never below 0.  The layers are
    visited one at a time (:func:`smoothings`), never all held at once.
    """
    previous = source
    positive = np.zeros_like(source)
    small = np.zeros_like(source)
    for j, smooth in enumerate(smoothings(source, layers), start=1):
        if aggregate:
            positive += np.maximum(previous - smooth, 0)
        previous = smooth
        if j == small_layers:
            small = positive.copy() if aggregate else np.maximum(source - smooth, 0)
    return (positive if aggregate else np.maximum(source - previous, 0)), small


class StarMask(Process):
    """Build a star mask (or a structure map) by multiscale structure detection."""

    process_id = "StarMask"
    categories = ("MaskGeneration",)
    is_history_updater = False  # the target is not changed: the mask opens as a new window

    shadowsClipping: float = param(Float(minimum=0, maximum=1, default=0, precision=5,
                                         description="Shadows clipping point of the initial histogram transform."))
    midtonesBalance: float = param(Float(minimum=0, maximum=1, default=0.5, precision=5,
                                         description="Midtones balance of the initial histogram transform."))
    highlightsClipping: float = param(Float(minimum=0, maximum=1, default=1, precision=5,
                                            description="Highlights clipping point of the initial histogram stretch."))
    waveletLayers: int = param(Int32(minimum=1, maximum=12, default=5,
                                     description="Scale: number of dyadic wavelet layers searched for structures."))
    structureContours: bool = param(Boolean(default=False,
                                            description="StructureMap modes: keep only the outlines of structures."))
    noiseThreshold: float = param(Float(minimum=0, maximum=1, default=0.1, precision=5,
                                        description="Structures fainter than this (stretched intensity) are noise."))
    aggregateStructures: bool = param(Boolean(default=False, description="Sum only the layers' positive "
                                                                         "coefficients (brighter small structures)."))
    binarizeStructures: bool = param(Boolean(default=False,
                                             description="Structures are 1 in the mask instead of their strength."))
    largeScaleGrowth: int = param(Int32(minimum=0, maximum=20, default=2,
                                        description="3×3 dilations applied to every structure of the mask."))
    smallScaleGrowth: int = param(Int32(minimum=0, maximum=20, default=1,
                                        description="Further dilations of the small-scale structures."))
    growthCompensation: int = param(Int32(minimum=0, maximum=11, default=2,
                                          description="Layers (from the smallest) whose structures are small-scale."))
    smoothness: int = param(Int32(minimum=0, maximum=40, default=16,
                                  description="Smoothing of the mask: a Gaussian of σ = smoothness/8 pixels."))
    invert: bool = param(Boolean(default=False, description="Invert the mask."))
    truncation: float = param(Float(minimum=0, maximum=1, default=1, precision=5,
                                    description="Mask values above this become 1; the rest are rescaled."))
    limit: float = param(Float(minimum=0, maximum=1, default=1, precision=5,
                               description="Mask values above this are set to it."))
    mode: str = param(Enumeration(elements=MODES, default="StarMask",
                                  description="What to build: the star mask, the structure map, or an overlay "
                                              "of either on the image."))

    def validate(self) -> None:
        if self.shadowsClipping > self.highlightsClipping:
            raise self.invalid("shadowsClipping", self.shadowsClipping,
                               f"must not exceed highlightsClipping ({self.highlightsClipping})")

    def source(self, image: Image) -> np.ndarray:
        """The stretched intensity the structures are found in, float64 ``(height, width)``."""
        plane = intensity_planes(image, lightness=True)[0]
        return histogram_transform(plane, self.shadowsClipping, self.midtonesBalance, self.highlightsClipping)

    def structures(self, source: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(structure strength ``S``, structure support, small-scale support) of the stretched ``source``."""
        compensation = min(self.growthCompensation, self.waveletLayers - 1)  # at most all but the largest layer
        strength, small = _strengths(source, self.waveletLayers, compensation, self.aggregateStructures)
        support = strength > self.noiseThreshold
        return strength, support, support & (small > self.noiseThreshold)

    def mask(self, image: Image) -> np.ndarray:
        """The mask (or structure map) of ``image`` as a float64 ``(height, width)`` plane."""
        strength, support, small = self.structures(self.source(image))
        if self.mode.startswith("StructureMap"):
            m = support.astype(np.float64)
            if self.structureContours:
                m = (support & ~ndimage.binary_erosion(support, structure=_BOX, border_value=1)).astype(np.float64)
        else:
            m = support.astype(np.float64) if self.binarizeStructures else np.where(support, np.minimum(strength, 1), 0)
            grown = _grow(m, self.largeScaleGrowth)
            if self.smallScaleGrowth and small.any():
                grown = np.maximum(grown, _grow(np.where(small, m, 0), self.largeScaleGrowth + self.smallScaleGrowth))
            m = gaussian_smooth(grown[None], self.smoothness / 8)[0]
            if self.truncation < 1:
                m = m / self.truncation if self.truncation > 0 else (m > 0).astype(np.float64)
            m = np.minimum(np.clip(m, 0, 1), self.limit)
        if self.invert:
            m = 1 - m
        return m

    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        m = self.mask(image).astype(np.float32)
        name = "structure_map" if self.mode.startswith("StructureMap") else "star_mask"
        if self.mode.endswith("Overlay"):
            base = self.source(image).astype(np.float32)
            pixels = np.stack([np.maximum(base, m), base, base])
        else:
            pixels = m[None]
        return ProcessOutput(new_images={name: Image(np.ascontiguousarray(pixels))})
