"""Channel management: ChannelCombination, ChannelExtraction and LRGBCombination (PixInsight ColorSpaces module).

Colour spaces are PixInsight's (RGB, CIE XYZ, CIE L*a*b*, CIE L*c*h*, HSV, HSI), through
the default RGB working space, sRGB D50, with PixInsight's [0, 1] normalization of every
component (:mod:`processes.kernels.colorspace`).

Source images are found by id in the workspace.  An empty id in a ``channels`` table
means the default PixInsight derives from the target view: ``<view>_R``, ``<view>_G``,
``<view>_B`` (``_X``/``_Y``/``_Z``, ``_L``/``_a``/``_b``, ``_L``/``_c``/``_h``,
``_H``/``_Sv``/``_V``, ``_H``/``_Si``/``_I``; ``_L`` for LRGB's luminance).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from processes.kernels import colorspace as cs
from processes.kernels.mtf import mtf
from procfw.errors import ExecutionError, ProcfwError
from procfw.image import FITSKeyword, Image, sample_format_for
from procfw.params import Boolean, Double, Enumeration, Float, String, Table, UInt32, param
from procfw.process import ExecutionContext, Process, ProcessOutput

if TYPE_CHECKING:
    from procfw.workspace import View

log = logging.getLogger(__name__)

__all__ = ["ChannelCombination", "ChannelExtraction", "LRGBCombination", "channel_ids", "from_rgb", "to_rgb"]

COLOR_SPACES = ("RGB", "CIEXYZ", "CIELab", "CIELch", "HSV", "HSI")
"""PixInsight's ColorSpaceId elements, in order."""

_CHANNEL_IDS: dict[str, tuple[str, str, str]] = {
    "RGB": ("R", "G", "B"),
    "CIEXYZ": ("X", "Y", "Z"),
    "CIELab": ("L", "a", "b"),
    "CIELch": ("L", "c", "h"),
    "HSV": ("H", "Sv", "V"),
    "HSI": ("H", "Si", "I"),
}

_ID_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"

_WCS_PREFIXES = (
    "CRPIX",
    "CRVAL",
    "CDELT",
    "CROTA",
    "CTYPE",
    "CUNIT",
    "CD1_",
    "CD2_",
    "PC1_",
    "PC2_",
    "PV1_",
    "PV2_",
    "A_",
    "B_",
    "AP_",
    "BP_",
    "LONPOLE",
    "LATPOLE",
    "RADESYS",
    "WCSAXES",
    "EQUINOX",
)

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


def channel_ids(color_space: str) -> tuple[str, str, str]:
    """The channel id suffixes PixInsight uses for ``color_space`` (e.g. R, G, B)."""
    return _CHANNEL_IDS[color_space]


def from_rgb(r: np.ndarray, g: np.ndarray, b: np.ndarray, color_space: str) -> Planes:
    """The three components of ``color_space`` for RGB planes (float64)."""
    w = cs.SRGB
    converters: dict[str, Callable[..., Planes]] = {
        "RGB": lambda *c: tuple(np.asarray(x, dtype=np.float64) for x in c),  # type: ignore[misc]
        "CIEXYZ": w.rgb_to_xyz,
        "CIELab": w.rgb_to_lab,
        "CIELch": w.rgb_to_lch,
        "HSV": cs.rgb_to_hsv,
        "HSI": cs.rgb_to_hsi,
    }
    return converters[color_space](r, g, b)


def to_rgb(c0: np.ndarray, c1: np.ndarray, c2: np.ndarray, color_space: str) -> Planes:
    """RGB planes (float64) from the three components of ``color_space``."""
    w = cs.SRGB
    converters: dict[str, Callable[..., Planes]] = {
        "RGB": lambda *c: tuple(np.asarray(x, dtype=np.float64) for x in c),  # type: ignore[misc]
        "CIEXYZ": w.xyz_to_rgb,
        "CIELab": w.lab_to_rgb,
        "CIELch": w.lch_to_rgb,
        "HSV": cs.hsv_to_rgb,
        "HSI": cs.hsi_to_rgb,
    }
    return converters[color_space](c0, c1, c2)


def _strip_wcs(keywords: Sequence[FITSKeyword]) -> list[FITSKeyword]:
    return [k for k in keywords if not k.name.upper().startswith(_WCS_PREFIXES)]


def _color_space_kind() -> Enumeration:
    return Enumeration(elements=COLOR_SPACES, default="RGB", description="Colour space of the channels.")


def _channel_table(description: str) -> Table:
    return Table(
        columns=(
            Boolean(id="enabled", default=True, description="Whether this channel takes part."),
            String(
                id="id",
                default="",
                allowed_characters=_ID_CHARACTERS,
                description="Image id of the channel ('' for <view>_<channel>).",
            ),
        ),
        default=((True, ""), (True, ""), (True, "")),
        min_rows=3,
        max_rows=3,
        description=description,
    )


def _inherit_kind() -> Boolean:
    return Boolean(default=True, description="Copy the astrometric solution (WCS keywords) to the result.")


class _SourceLookup:
    """Finds mono source images for a view (main view geometry; preview rectangles cropped)."""

    def __init__(self, process: Process, context: ExecutionContext, view: View | None) -> None:
        self.process = process
        self.context = context
        self.view = view

    def base_id(self) -> str | None:
        """The target window id that default source ids derive from (None without a view)."""
        return self.view.window.id if self.view is not None else None

    def geometry(self) -> tuple[int, int] | None:
        if self.view is None:
            return None
        main = self.view.window.main_view.image
        return main.width, main.height

    def get(self, view_id: str) -> Image:
        """The source image ``view_id`` (cropped to the target preview), checked to be mono and sized right."""
        if self.context.workspace is None:
            raise ExecutionError(f"{self.process.process_id}: no workspace to find source image '{view_id}' in")
        try:
            source = self.context.workspace.view(view_id).image
        except ProcfwError as exc:
            raise ExecutionError(f"{self.process.process_id}: source image not found: {exc}") from None
        if source.channels != 1:
            raise ExecutionError(
                f"{self.process.process_id}: source image {view_id} has {source.channels} channels; "
                "a channel source must be a grayscale (1-channel) image"
            )
        size = self.geometry()
        if size is not None and (source.width, source.height) != size:
            raise ExecutionError(
                f"{self.process.process_id}: source image {view_id} is {source.width}x{source.height}; "
                f"the target is {size[0]}x{size[1]}"
            )
        if self.view is not None and self.view.is_preview:
            return source.with_pixels(self.view.rect.crop(source.pixels).copy())  # type: ignore[attr-defined]
        return source

    def get_all(self, ids: list[str | None]) -> tuple[list[Image | None], Image]:
        """The sources named by ``ids`` (None: no source), all of one size; also the first one found."""
        sources = [self.get(sid) if sid else None for sid in ids]
        first = next(s for s in sources if s is not None)
        for sid, source in zip(ids, sources):
            if source is not None and (source.width, source.height) != (first.width, first.height):
                raise ExecutionError(
                    f"{self.process.process_id}: source image {sid} is {source.width}x{source.height}; "
                    f"the other sources are {first.width}x{first.height}"
                )
        return sources, first


def _target_color_check(process: Process, view: View) -> tuple[bool, str]:
    if view.image.channels < 3:
        return False, f"{process.process_id} cannot be executed on grayscale images"
    return True, ""


def _sources_available(process: Process, view: View, ids: Sequence[str]) -> tuple[bool, str]:
    workspace = view.workspace
    if workspace is None:
        return False, "the view belongs to no workspace"
    main = view.window.main_view.image
    for sid in ids:
        try:
            source = workspace.view(sid).image
        except ProcfwError:
            return False, f"source image '{sid}' not found"
        if source.channels != 1:
            return False, f"source image '{sid}' is not a grayscale image"
        if (source.width, source.height) != (main.width, main.height):
            return (
                False,
                f"source image '{sid}' is {source.width}x{source.height}; the target is {main.width}x{main.height}",
            )
    return True, ""


# -- ChannelCombination -----------------------------------------------------------------
class ChannelCombination(Process):
    """Combine grayscale images as the channels of a colour image in RGB, CIE XYZ/L*a*b*/L*c*h*, HSV or HSI.

    Executed on an RGB view, the enabled channels replace the view's components in the
    chosen colour space (disabled ones keep the view's own).  Executed globally, it
    creates a new RGB image from the enabled sources (ids required; missing components
    are zero).
    """

    process_id = "ChannelCombination"
    categories = ("ChannelManagement",)

    colorSpace: str = param(_color_space_kind())  # noqa: N815
    channels: tuple[tuple[Any, ...], ...] = param(_channel_table("The three channels: enabled and source image id."))
    inheritAstrometricSolution: bool = param(_inherit_kind())  # noqa: N815

    def validate(self) -> None:
        if not any(enabled for enabled, _ in self.channels):
            raise self.invalid("channels", self.channels, "no channel is enabled")
        for _, cid in self.channels:
            if cid and cid[0].isdigit():
                raise self.invalid("channels", cid, "an image id must not start with a digit")

    def _ids_for(self, base: str | None) -> list[str | None]:
        suffixes = channel_ids(self.colorSpace)
        ids: list[str | None] = []
        for (enabled, cid), suffix in zip(self.channels, suffixes):
            if not enabled:
                ids.append(None)
            else:
                ids.append(cid or (f"{base}_{suffix}" if base is not None else None))
        return ids

    def can_execute_on(self, view: View) -> tuple[bool, str]:
        ok, why = _target_color_check(self, view)
        if not ok:
            return ok, why
        return _sources_available(self, view, [i for i in self._ids_for(view.window.id) if i])

    def _combine(self, sources: list[Image | None], base: np.ndarray) -> np.ndarray:
        comps = list(from_rgb(base[0], base[1], base[2], self.colorSpace))
        for c, source in enumerate(sources):
            if source is not None:
                comps[c] = source.pixels[0].astype(np.float64)
        rgb = to_rgb(comps[0], comps[1], comps[2], self.colorSpace)
        return np.stack(rgb).astype(np.float32)

    def apply(self, image: Image, context: ExecutionContext) -> Image:
        view = context.workspace.view(context.view_id) if context.workspace and context.view_id else None
        if image.channels < 3:
            raise ExecutionError("ChannelCombination cannot be executed on grayscale images")
        lookup = _SourceLookup(self, context, view)
        base_id = lookup.base_id()
        if base_id is None and any(enabled and not cid for enabled, cid in self.channels):
            raise ExecutionError("ChannelCombination: default source ids (<view>_R ...) need a target view")
        sources = [lookup.get(sid) if sid else None for sid in self._ids_for(base_id)]
        rgb = self._combine(sources, image.pixels[:3].astype(np.float64))
        pixels = np.concatenate([rgb, image.pixels[3:]]).astype(image.pixels.dtype, copy=False)
        return image.with_pixels(pixels)

    def run_global(self, context: ExecutionContext) -> ProcessOutput:
        ids = [cid if enabled and cid else None for enabled, cid in self.channels]
        if not any(ids):
            raise ExecutionError("ChannelCombination: global execution needs the id of at least one enabled channel")
        sources, first = _SourceLookup(self, context, None).get_all(ids)
        base = np.zeros((3, first.height, first.width))
        pixels = self._combine(sources, base)
        keywords = list(first.keywords) if self.inheritAstrometricSolution else _strip_wcs(first.keywords)
        return ProcessOutput(new_images={"Image": Image(pixels, keywords, dict(first.properties))})


# -- ChannelExtraction ------------------------------------------------------------------
_SAMPLE_FORMATS = ("SameAsSource", "i8", "i16", "i32", "f32", "f64")
_LEVELS = {"i8": 255, "i16": 65535, "i32": 4294967295}


class ChannelExtraction(Process):
    """Extract the components of a colour image (RGB, CIE XYZ/L*a*b*/L*c*h*, HSV, HSI) as new grayscale images.

    Each enabled channel becomes a new image window named by its id (or
    ``<view>_<channel>``).  The target view is not modified.  Integer sample formats
    quantize the values to their number of levels (pixels stay floating point).
    """

    process_id = "ChannelExtraction"
    categories = ("ChannelManagement",)
    is_history_updater = False
    is_maskable = False

    colorSpace: str = param(_color_space_kind())  # noqa: N815
    channels: tuple[tuple[Any, ...], ...] = param(_channel_table("The three channels: enabled and output image id."))
    sampleFormat: str = param(  # noqa: N815
        Enumeration(elements=_SAMPLE_FORMATS, default="SameAsSource", description="Sample format of the new images.")
    )
    inheritAstrometricSolution: bool = param(_inherit_kind())  # noqa: N815

    def validate(self) -> None:
        if not any(enabled for enabled, _ in self.channels):
            raise self.invalid("channels", self.channels, "no channel is enabled")
        for _, cid in self.channels:
            if cid and cid[0].isdigit():
                raise self.invalid("channels", cid, "an image id must not start with a digit")

    def can_execute_on(self, view: View) -> tuple[bool, str]:
        return _target_color_check(self, view)

    def extract(self, image: Image, base_id: str) -> dict[str, Image]:
        """The new images by id, from the first three channels of ``image``."""
        if image.channels < 3:
            raise ExecutionError("ChannelExtraction cannot be executed on grayscale images")
        px = image.pixels
        comps = from_rgb(px[0], px[1], px[2], self.colorSpace)
        dtype = (
            np.float64
            if self.sampleFormat == "f64" or (self.sampleFormat == "SameAsSource" and px.dtype == np.float64)
            else np.float32
        )
        keywords = list(image.keywords) if self.inheritAstrometricSolution else _strip_wcs(image.keywords)
        out: dict[str, Image] = {}
        for (enabled, cid), suffix, comp in zip(self.channels, channel_ids(self.colorSpace), comps):
            if not enabled:
                continue
            plane = comp
            levels = _LEVELS.get(self.sampleFormat)
            if levels is not None:
                plane = np.round(np.clip(plane, 0, 1) * levels) / levels
            out[cid or f"{base_id}_{suffix}"] = Image(plane.astype(dtype)[None], list(keywords), dict(image.properties),
                                                      sample_format=sample_format_for(self.sampleFormat, image))
        return out

    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        base = context.view_id or "Image"
        if context.workspace is not None and context.view_id:
            base = context.workspace.view(context.view_id).window.id
        return ProcessOutput(new_images=self.extract(image, base))


# -- LRGBCombination --------------------------------------------------------------------
class LRGBCombination(Process):
    """Combine luminance and RGB: PixInsight's LRGB method in CIE L*a*b* / L*c*h*.

    Per pixel: R, G, B come from the sources (or the target's own channels), weighted by
    their ``k`` normalized to the largest; ``clipHighlights`` rescales them so that the
    smallest weight maps to 1 (values above clip).  Then the CIE L* is replaced by the
    luminance source (or kept), passed through the midtones transfer function of ``mL``
    and weighted by the L ``k`` (``L·k + (1 − k)·L0``); chroma becomes
    ``mtf(mc, c)·L + c·(1 − L)``; the result returns to RGB keeping a*b* (or c*h*).
    ``noiseReduction`` (PixInsight's wavelet chrominance noise reduction) is not
    implemented: an instance with it enabled loads but refuses to run.
    """

    process_id = "LRGBCombination"
    categories = ("ColorSpaces",)

    channels: tuple[tuple[Any, ...], ...] = param(
        Table(
            columns=(
                Boolean(id="enabled", default=True, description="Whether this channel takes part."),
                String(
                    id="id",
                    default="",
                    allowed_characters=_ID_CHARACTERS,
                    description="Image id of the channel ('' for <view>_R, _G, _B, _L).",
                ),
                Double(id="k", default=1.0, minimum=0.0, maximum=1.0, precision=5, description="Channel weight."),
            ),
            default=((True, "", 1.0),) * 4,
            min_rows=4,
            max_rows=4,
            description="The R, G, B and L channels: enabled, source image id and weight.",
        )
    )
    mL: float = param(  # noqa: N815
        Float(default=0.5, minimum=0.001, maximum=1.0, precision=3, description="Lightness midtones balance (MTF).")
    )
    mc: float = param(
        Float(default=0.5, minimum=0.001, maximum=1.0, precision=3, description="Saturation (chroma) midtones balance.")
    )
    clipHighlights: bool = param(  # noqa: N815
        Boolean(default=True, description="Rescale weighted RGB channels so the smallest weight reaches 1.")
    )
    noiseReduction: bool = param(  # noqa: N815
        Boolean(default=False, description="Wavelet chrominance noise reduction (not implemented in procfw).")
    )
    layersRemoved: int = param(  # noqa: N815
        UInt32(default=4, minimum=1, maximum=6, description="Noise reduction: wavelet layers removed.")
    )
    layersProtected: int = param(  # noqa: N815
        UInt32(default=2, minimum=0, maximum=5, description="Noise reduction: wavelet layers protected.")
    )
    inheritAstrometricSolution: bool = param(_inherit_kind())  # noqa: N815

    def validate(self) -> None:
        if not any(row[0] for row in self.channels):
            raise self.invalid("channels", self.channels, "no channel is enabled")
        for row in self.channels:
            if row[1] and row[1][0].isdigit():
                raise self.invalid("channels", row[1], "an image id must not start with a digit")

    def _unsupported(self) -> str | None:
        if self.noiseReduction:
            return "noiseReduction (wavelet chrominance noise reduction) is not implemented in procfw; disable it"
        return None

    def _ids_for(self, base: str | None, global_: bool) -> list[str | None]:
        ids: list[str | None] = []
        for (enabled, cid, _), suffix in zip(self.channels, ("R", "G", "B", "L")):
            if not enabled or (global_ and not cid):
                ids.append(None)
            else:
                ids.append(cid or f"{base}_{suffix}")
        return ids

    def can_execute_on(self, view: View) -> tuple[bool, str]:
        why = self._unsupported()
        if why:
            return False, why
        ok, why = _target_color_check(self, view)
        if not ok:
            return ok, why
        return _sources_available(self, view, [i for i in self._ids_for(view.window.id, False) if i])

    def can_execute_global(self) -> tuple[bool, str]:
        why = self._unsupported()
        return (False, why) if why else (True, "")

    def combine(self, rgb: np.ndarray, sources: list[Image | None]) -> np.ndarray:
        """The LRGB combination of ``rgb`` (3, H, W) with optional R, G, B, L source images."""
        planes = [
            sources[c].pixels[0].astype(np.float64) if sources[c] is not None else rgb[c].astype(np.float64)
            for c in range(3)
        ]
        k = [row[2] for row in self.channels]
        kmax = max(k[:3])
        weights = [kc / kmax for kc in k[:3]] if 1 + kmax != 1 else list(k[:3])
        weighted = [w != 1 for w in weights]
        clip = self.clipHighlights and any(weighted)
        clip_value = min((w if w != 0 else 1.0) for w in weights) if clip else 1.0
        for c in range(3):
            if weighted[c]:
                planes[c] = planes[c] * weights[c]
            if clip:
                planes[c] = np.where(planes[c] >= clip_value, 1.0, planes[c] / clip_value)
        r, g, b = planes
        luminance = sources[3]
        kl = k[3]
        use_cie = luminance is not None or self.mL != 1 or self.mc != 1 or kl != 1
        if not use_cie:
            return np.stack(planes)
        w = cs.SRGB
        light0, chroma, hue = w.rgb_to_lch(r, g, b)
        light = luminance.pixels[0].astype(np.float64) if luminance is not None else light0
        if self.mL != 1:
            light = mtf(float(self.mL), light)
        if kl != 1:
            light = light * kl + (1 - kl) * light0
        if self.mc != 1:
            chroma = mtf(float(self.mc), chroma) * light + chroma * (1 - light)
            return np.stack(w.lch_to_rgb(light, chroma, hue))
        _, a, bb = w.rgb_to_lab(r, g, b)
        return np.stack(w.lab_to_rgb(light, a, bb))

    def apply(self, image: Image, context: ExecutionContext) -> Image:
        why = self._unsupported()
        if why:
            raise ExecutionError(f"LRGBCombination: {why}")
        if image.channels < 3:
            raise ExecutionError("LRGBCombination cannot be executed on grayscale images")
        view = context.workspace.view(context.view_id) if context.workspace and context.view_id else None
        lookup = _SourceLookup(self, context, view)
        base_id = lookup.base_id()
        if base_id is None and any(row[0] and not row[1] for row in self.channels):
            raise ExecutionError("LRGBCombination: default source ids (<view>_R ...) need a target view")
        sources = [lookup.get(sid) if sid else None for sid in self._ids_for(base_id, False)]
        rgb = self.combine(image.pixels[:3], sources).astype(image.pixels.dtype)
        return image.with_pixels(np.concatenate([rgb, image.pixels[3:]]))

    def run_global(self, context: ExecutionContext) -> ProcessOutput:
        why = self._unsupported()
        if why:
            raise ExecutionError(f"LRGBCombination: {why}")
        ids = self._ids_for(None, True)
        if not any(ids):
            raise ExecutionError("LRGBCombination: global execution needs the id of at least one enabled channel")
        sources, first = _SourceLookup(self, context, None).get_all(ids)
        base = np.zeros((3, first.height, first.width), dtype=np.float32)
        pixels = self.combine(base, sources).astype(np.float32)
        as_source = next((s for s in (sources[3], sources[1], sources[0], sources[2]) if s is not None), first)
        keywords = list(as_source.keywords) if self.inheritAstrometricSolution else _strip_wcs(as_source.keywords)
        return ProcessOutput(new_images={"Image": Image(pixels, keywords, dict(as_source.properties))})
