"""Display functions: the seam between views, files and the installed screen-stretch processes.

The framework does not know what a screen stretch is.  A view's ``display_function`` is
any object that offers :class:`DisplayFunction`'s methods; the process library's
``ScreenTransferFunction`` is one.  Files store it as a neutral dict, the one XISF's
``DisplayFunction`` element holds (``image.properties["XISF:DisplayFunction"]``)::

    {"m": [4 floats], "s": [...], "h": [...], "l": [...], "r": [...]}

midtones balance, shadows and highlights clipping points, low and high dynamic range
bounds, one component each for R/K, G, B and lightness.  Turning a dict back into an
object is the job of the ``from_display_dict`` class method of the installed
``ScreenTransferFunction`` process, found through :data:`procfw.registry.processes`
(never imported); the automatic stretch comes from the installed ``AutoStretch``
process (``AutoStretch().compute_stf(image)``), or when it is missing from a linked
percentile stretch (:class:`LinearStretch`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import attrs
import numpy as np

from procfw.errors import ProcfwError
from procfw.image import Image
from procfw.io.samples import clip_unit
from procfw.process import processes

log = logging.getLogger(__name__)

DISPLAY_FUNCTION_KEY = "XISF:DisplayFunction"
"""The image property that holds a display function dict (as the XISF reader/writer use it)."""

DISPLAY_FUNCTION_PROCESS = "ScreenTransferFunction"
"""Process id whose class turns display dicts into display functions (``from_display_dict``)."""

AUTO_STRETCH_PROCESS = "AutoStretch"
"""Process id whose instances compute an automatic display function (``compute_stf(image)``)."""

DISPLAY_KEYS = ("m", "s", "h", "l", "r")
"""The keys of a display dict, each a list of 4 components (R/K, G, B, L)."""

@runtime_checkable
class DisplayFunction(Protocol):
    """What a view's display function offers.

    Its class should also offer ``from_display_dict(values) -> instance`` (a class method)
    so that files can give one back.
    """

    def render(self, image: Image) -> Image:
        """The image as displayed: pixels stretched to [0, 1]."""
        ...

    def to_display_dict(self) -> dict[str, list[float]]:
        """The neutral dict ``{m, s, h, l, r}`` (4 components each) that files store."""
        ...


def nominal_channels(channels: int) -> int:
    """Colour channels among ``channels``: 3 (RGB) for three or more, else 1; the rest are alpha."""
    return 3 if channels >= 3 else 1


@attrs.frozen
class LinearStretch:
    """Clip to ``[low, high]`` and scale to [0, 1], the same for every colour channel.

    The fallback automatic stretch when no ``AutoStretch`` process is installed; alpha
    channels are copied.
    """

    low: float
    high: float

    def render(self, image: Image) -> Image:
        """The image with its colour channels stretched linearly from [low, high] to [0, 1]."""
        out = np.array(image.pixels, dtype=np.float32)
        nominal = nominal_channels(image.channels)
        span = self.high - self.low
        colour = out[:nominal]
        if span > 0:
            colour -= np.float32(self.low)
            colour *= np.float32(1 / span)
        np.clip(colour, 0, 1, out=colour)
        return image.with_pixels(out)

    def to_display_dict(self) -> dict[str, list[float]]:
        """The equal display dict (midtones 0.5, no range expansion; lightness identity)."""
        low, high = (self.low, self.high) if self.high > self.low else (0.0, 1.0)
        return {"m": [0.5] * 4, "s": [low] * 3 + [0.0], "h": [high] * 3 + [1.0], "l": [0.0] * 4, "r": [1.0] * 4}


def percentile_stretch(image: Image, low: float = 0.5, high: float = 99.5) -> LinearStretch:
    """A :class:`LinearStretch` between two percentiles of the colour channels' finite values."""
    values = image.pixels[: nominal_channels(image.channels)]
    step = max(1, math.isqrt(values.size // 1_000_000))  # about a million samples are plenty
    sample = values[:, ::step, ::step]
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return LinearStretch(0.0, 1.0)
    lo, hi = np.percentile(sample, [low, high])
    return LinearStretch(float(lo), float(hi)) if hi > lo else LinearStretch(0.0, 1.0)


def installed_process(process_id: str) -> Any | None:
    """The class of installed process ``process_id``, or None when it is missing or broken."""
    if process_id not in processes:
        return None
    try:
        return processes.get(process_id)
    except ProcfwError:
        return None


def display_function_from_dict(values: Mapping[str, Any]) -> DisplayFunction | None:
    """The installed display function class's instance for ``values``, or None if none is installed.

    A dict the class rejects raises its error (ProcfwError, ValueError...).
    """
    factory = getattr(installed_process(DISPLAY_FUNCTION_PROCESS), "from_display_dict", None)
    return None if factory is None else factory(values)


def auto_display_function(image: Image) -> DisplayFunction:
    """The automatic stretch of ``image``: the installed ``AutoStretch``'s, else a percentile stretch."""
    process = installed_process(AUTO_STRETCH_PROCESS)
    if process is not None:
        try:
            return process().compute_stf(image)
        except (ProcfwError, ValueError) as exc:
            log.debug("%s could not stretch the image (%s); using a percentile stretch", AUTO_STRETCH_PROCESS, exc)
    return percentile_stretch(image)


def split_display_function(image: Image) -> tuple[DisplayFunction | None, Image]:
    """Take the display function out of an image read from a file, for its view.

    Returns ``(display function, image without the property)``.  An identity display
    dict stays an (identity) display function: the file says "show the pixels as they
    are", which matters for an image already stretched.  When the dict cannot be turned
    into an object (no display function process installed, invalid values: logged), the
    image is returned unchanged with None, so the property is not lost.
    """
    values = image.properties.get(DISPLAY_FUNCTION_KEY)
    if values is None:
        return None, image
    try:
        function = display_function_from_dict(values)
    except (ProcfwError, ValueError, TypeError, KeyError, IndexError) as exc:
        log.warning("the image's display function %r is not usable: %s", values, exc)
        return None, image
    if function is None:
        return None, image
    properties = {k: v for k, v in image.properties.items() if k != DISPLAY_FUNCTION_KEY}
    return function, image.with_properties(properties)


def with_display_function(image: Image, function: object) -> Image:
    """``image`` with ``function``'s display dict as its property, to save it with the pixels.

    ``function`` None (or one without ``to_display_dict``) leaves the image as it is.
    """
    to_dict = getattr(function, "to_display_dict", None)
    if to_dict is None:
        return image
    return image.with_properties({**image.properties, DISPLAY_FUNCTION_KEY: to_dict()})


def image_of(target: Any) -> Image:
    """The image of ``target``: an Image, or anything with an ``image`` (a view, an image window)."""
    if isinstance(target, Image):
        return target
    image = getattr(target, "image", None)
    if not isinstance(image, Image):
        raise TypeError(f"expected an Image or a view, got {type(target).__name__}")
    return image


def display_function_of(target: Any, stf: object = None) -> DisplayFunction:
    """How ``target`` (an Image or a view) is displayed.

    In order: ``stf`` when given; the view's ``display_function``; the image's own
    display dict property (when the display function process is installed); else the
    automatic stretch of the image.
    """
    if stf is not None:
        return stf  # type: ignore[return-value]
    view_function = getattr(target, "display_function", None)
    if view_function is None and not isinstance(target, Image):
        view_function = getattr(getattr(target, "main_view", None), "display_function", None)
    if view_function is not None:
        return view_function  # type: ignore[no-any-return]
    image = image_of(target)
    function, _ = split_display_function(image)
    return function if function is not None else auto_display_function(image)


def render(target: Any, stf: object = None) -> Image:
    """``target`` (an Image or a view) as displayed: float32 pixels in [0, 1], NaN shown as 0.

    See :func:`display_function_of` for which stretch is used.
    """
    image = image_of(target)
    rendered = np.asarray(display_function_of(target, stf).render(image).pixels, dtype=np.float32)
    return image.with_pixels(clip_unit(rendered, out=None if np.shares_memory(rendered, image.pixels) else rendered))
