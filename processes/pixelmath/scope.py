"""What a PixelMath evaluation can see: the images, the output geometry and the symbols.

A :class:`Scope` is built once per execution.  It resolves image ids (and the ``$T``,
``$M``, ``$A`` metasymbols) to pixel planes matched to the output geometry (cropped to a
target preview, resampled bicubically when the sizes differ, in the working precision),
caches them and their statistics, and holds the symbol table built from the ``symbols``
parameter.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from processes.pixelmath import catalog
from processes.pixelmath.colour import SRGB, RGBWorkingSpace
from processes.pixelmath.errors import NotImplementedFunctionError, PixelMathEvaluationError
from processes.pixelmath.statistics import image_statistic
from processes.pixelmath.symbols import SymbolDefinition
from procfw.errors import ProcfwError
from procfw.image import Image

__all__ = ["Geometry", "GlobalVariable", "Scope", "Symbol"]

Value = Any  # float | np.ndarray


@dataclass
class Geometry:
    """The output geometry and the target's place in its image.

    ``height``/``width``: the pixels evaluated; ``x0``/``y0``: the position of the first one
    in the full image (a preview's origin); ``full_width``/``full_height``: the size x()/X()
    and rdist() refer to; ``crop``: (x0, y0, x1, y1) to cut from images of the full size
    when the target is a preview.
    """

    height: int
    width: int
    x0: int = 0
    y0: int = 0
    full_width: int = 0
    full_height: int = 0
    crop: tuple[int, int, int, int] | None = None

    def __post_init__(self) -> None:
        self.full_width = self.full_width or self.width
        self.full_height = self.full_height or self.height


@dataclass
class GlobalVariable:
    """A global variable: an accumulator over all pixels (``op`` is ``+`` or ``*``)."""

    name: str
    op: str
    value: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def accumulate(self, assignment: str, contribution: np.ndarray) -> None:
        """Fold per-channel totals (sums or products over pixels) into the value."""
        if assignment == "+=":
            self.value = self.value + contribution
        elif assignment == "-=":
            self.value = self.value - contribution
        elif assignment == "*=":
            self.value = self.value * contribution
        elif assignment == "/=":
            with np.errstate(divide="ignore", invalid="ignore"):
                self.value = np.where(contribution != 0, self.value / contribution, np.finfo(np.float64).max)


@dataclass
class Symbol:
    """A symbol: ``kind`` is ``variable``, ``constant`` or ``global``; ``value`` its current value."""

    name: str
    kind: str
    value: Value = 0.0
    accumulator: GlobalVariable | None = None
    definition: SymbolDefinition | None = None


class Scope:
    """Images, geometry, working precision and symbols of one PixelMath execution."""

    def __init__(
        self,
        *,
        geometry: Geometry,
        dtype: np.dtype,
        target: Image | None,
        target_id: str | None,
        resolve: Callable[[str], Image] | None,
        image_ids: Iterable[str] = (),
        colour_output: bool = False,
        target_channels: int = 0,
        mask_id: str | None = None,
        active_id: str | None = None,
        rgbws: RGBWorkingSpace = SRGB,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.geometry = geometry
        self.dtype = np.dtype(dtype)
        self.target = target
        self.target_id = target_id
        self._resolve = resolve
        self.image_ids = list(image_ids)
        self.colour_output = colour_output
        self.target_channels = target_channels or (target.channels if target is not None else 0)
        self.mask_id = mask_id
        self.active_id = active_id
        self.rgbws = rgbws
        self.rng = rng if rng is not None else np.random.default_rng()
        self.symbols: dict[str, Symbol] = {}
        self.referenced: set[str] = set()
        self._images: dict[str, Image] = {}
        self._planes: dict[str, np.ndarray] = {}
        self._statistics: dict[tuple[Any, ...], Value] = {}
        self.generated: dict[Any, np.ndarray] = {}
        self._coords: dict[str, np.ndarray] = {}

    # -- images ----------------------------------------------------------------------------
    def meta_image_id(self, name: str, pos: int) -> str:
        """The image id a metasymbol ($T, $target, $T<suffix>, $M, $mask, $A, $active) stands for."""
        if name in ("T", "target") or name.startswith("T"):
            if self.target_id is None:
                raise PixelMathEvaluationError(
                    f"${name} cannot be used here: global execution has no target image", pos=pos
                )
            return self.target_id if name in ("T", "target") else self.target_id + name[1:]
        if name in ("M", "mask"):
            if self.mask_id is None:
                raise PixelMathEvaluationError(f"${name}: the target image has no mask", pos=pos)
            return self.mask_id
        if name in ("A", "active"):
            if self.active_id is None:
                raise PixelMathEvaluationError(f"${name}: there is no active image", pos=pos)
            return self.active_id
        raise PixelMathEvaluationError(
            f"unknown metasymbol ${name} (PixelMath knows $T, $target, $M, $mask, $A, $active)", pos=pos
        )

    def image(self, image_id: str, pos: int | None = None, *, reference: bool = True) -> Image:
        """The image called ``image_id`` (the target for the target's id).

        ``reference`` records that the expressions read it (symbol definitions do not count).
        """
        if reference:
            self.referenced.add(image_id)
        if image_id in self._images:
            return self._images[image_id]
        if image_id == self.target_id and self.target is not None:
            found = self.target
        else:
            if self._resolve is None:
                raise PixelMathEvaluationError(self._unknown(image_id), pos=pos)
            try:
                found = self._resolve(image_id)
            except ProcfwError:
                raise PixelMathEvaluationError(self._unknown(image_id), pos=pos) from None
        self._images[image_id] = found
        return found

    def _unknown(self, name: str) -> str:
        message = f"no such image or symbol: '{name}'"
        spec = catalog.lookup(name)
        if spec is not None:
            return f"{message} ({name} is a function: call it as {spec.signature})"
        if name.lower() in catalog.HINTS:
            return f"{message} ({catalog.HINTS[name.lower()]})"
        candidates = [*self.image_ids, *self.symbols]
        close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
        if close:
            return f"{message}; did you mean {' or '.join(close)}?"
        if self.image_ids:
            shown = ", ".join(self.image_ids[:8]) + (", ..." if len(self.image_ids) > 8 else "")
            return f"{message}; open images: {shown}; declare variables in the symbols parameter"
        return f"{message}; declare variables in the symbols parameter"

    def planes(self, image_id: str, pos: int | None = None) -> np.ndarray:
        """The pixels of ``image_id`` matched to the output: (channels, height, width), working dtype."""
        cached = self._planes.get(image_id)
        if cached is not None:
            return cached
        image = self.image(image_id, pos)
        self._planes[image_id] = planes = self.match(image.pixels, cropped=image_id == self.target_id)
        return planes

    def match(self, pixels: np.ndarray, *, cropped: bool = False) -> np.ndarray:
        """``pixels`` cut to a target preview, resampled to the output size, in the working dtype."""
        g = self.geometry
        if g.crop is not None and not cropped and pixels.shape[1:] == (g.full_height, g.full_width):
            x0, y0, x1, y1 = g.crop
            pixels = pixels[:, y0:y1, x0:x1]
        if pixels.shape[1:] != (g.height, g.width):
            pixels = resample(pixels, g.height, g.width)
        return pixels if pixels.dtype == self.dtype else pixels.astype(self.dtype)

    # -- statistics ------------------------------------------------------------------------
    def statistic(self, image_id: str, name: str, channel: int | None, roi: tuple[int, ...] | None = None,
                  pos: int | None = None, order: float | None = None, *, reference: bool = True) -> Value:
        """A statistic of an image (cached): per channel as (3, 1, 1) for RGB, else a float."""
        key = (image_id, name, channel, roi, order)
        if key in self._statistics:
            return self._statistics[key]
        pixels = self.image(image_id, pos, reference=reference).pixels
        value = self.statistic_of(pixels, name, channel, roi, pos, order, image_id)
        self._statistics[key] = value
        return value

    def statistic_of(self, pixels: np.ndarray, name: str, channel: int | None, roi: tuple[int, ...] | None,
                     pos: int | None, order: float | None, label: str) -> Value:
        """A statistic of planar ``pixels`` (see :meth:`statistic`)."""
        from processes.pixelmath.statistics import order_statistic

        if channel is not None and channel >= pixels.shape[0]:
            raise PixelMathEvaluationError(f"{name}(): channel index out of range: {label}[{channel}]", pos=pos)
        channels = [channel] if channel is not None else ([0, 1, 2] if pixels.shape[0] >= 3 else [0])
        if roi is not None:
            x0, y0, w, h = roi
            xa, xb = sorted((x0, x0 + w))
            ya, yb = sorted((y0, y0 + h))
            pixels = pixels[:, max(0, ya) : max(0, yb), max(0, xa) : max(0, xb)]
        try:
            if order is not None:
                values = [order_statistic(order, pixels[c]) for c in channels]
            else:
                values = [image_statistic(name, pixels[c]) for c in channels]
        except NotImplementedFunctionError as exc:
            raise NotImplementedFunctionError(exc.message, pos=pos) from None
        if len(values) == 1:
            return float(values[0])
        return np.asarray(values, dtype=self.dtype).reshape(3, 1, 1)

    # -- coordinates -----------------------------------------------------------------------
    def coordinate(self, axis: str) -> np.ndarray:
        """x() as (1, 1, width) or y() as (1, height, 1), in pixels of the full image."""
        cached = self._coords.get(axis)
        if cached is None:
            g = self.geometry
            if axis == "x":
                cached = (np.arange(g.width, dtype=self.dtype) + g.x0).reshape(1, 1, g.width)
            else:
                cached = (np.arange(g.height, dtype=self.dtype) + g.y0).reshape(1, g.height, 1)
            cached.flags.writeable = False
            self._coords[axis] = cached
        return cached

    # -- symbols ---------------------------------------------------------------------------
    def define_symbols(self, definitions: Iterable[SymbolDefinition]) -> None:
        """Build the symbol table from parsed ``symbols`` definitions (computing symbol functions)."""
        for d in definitions:
            if d.kind == "variable":
                self.symbols[d.name] = Symbol(d.name, "variable", float(d.value), definition=d)  # type: ignore[arg-type]
            elif d.kind == "global":
                acc = GlobalVariable(d.name, d.op, np.full(3, float(d.value)))  # type: ignore[arg-type]
                self.symbols[d.name] = Symbol(d.name, "global", float(d.value), acc, d)  # type: ignore[arg-type]
            elif d.kind == "constant":
                value: Value = d.value
                if isinstance(value, tuple):
                    value = np.asarray(value, dtype=self.dtype).reshape(3, 1, 1)
                self.symbols[d.name] = Symbol(d.name, "constant", value, definition=d)
            else:
                self.symbols[d.name] = Symbol(d.name, "constant", self._symbol_function(d), definition=d)

    def _symbol_image(self, d: SymbolDefinition) -> tuple[str, Image]:
        if not d.image:
            if self.target_id is None:
                raise PixelMathEvaluationError(
                    f"in symbol '{d.name}' definition: the {d.function} function needs an explicit image "
                    "identifier in global execution", pos=d.pos,
                )
            return self.target_id, self.image(self.target_id, d.pos, reference=False)
        return d.image, self.image(d.image, d.pos, reference=False)

    def _symbol_function(self, d: SymbolDefinition) -> Value:
        f = d.function
        if f in ("envvar_value", "envvar_defined"):
            raw = os.environ.get(d.args[0], "").strip()
            if f == "envvar_defined":
                return 1.0 if raw else 0.0
            try:
                return float(raw)
            except ValueError:
                raise PixelMathEvaluationError(
                    f"in symbol '{d.name}' definition: environment variable '{d.args[0]}' is not defined "
                    "or not a number", pos=d.pos,
                ) from None
        image_id, image = self._symbol_image(d)
        if f == "width":
            return float(image.width)
        if f == "height":
            return float(image.height)
        if f == "area":
            return float(image.width * image.height)
        if f == "invarea":
            return 1.0 / (image.width * image.height)
        if f == "iscolor":
            return 1.0 if image.is_color else 0.0
        if f in ("keyword_value", "keyword_defined"):
            return self._keyword(d, image, image_id)
        if f in ("property_value", "property_defined"):
            return self._property(d, image, image_id)
        if f == "pixel":
            return self._pixel_constant(d, image)
        channel = None
        if d.args and d.args[0]:
            try:
                channel = int(d.args[0])
            except ValueError:
                raise PixelMathEvaluationError(
                    f"in symbol '{d.name}' definition: invalid channel index '[{d.args[0]}]'", pos=d.pos
                ) from None
        return self.statistic(image_id, f, channel, pos=d.pos, reference=False)

    def _keyword(self, d: SymbolDefinition, image: Image, image_id: str) -> float:
        name = d.args[0]
        for card in image.keywords:
            if card.name.upper() == name.upper():
                if d.function == "keyword_defined":
                    return 1.0
                value = card.value
                if isinstance(value, bool):
                    return 1.0 if value else 0.0
                if isinstance(value, (int, float)):
                    return float(value)
                text = str(value).strip().strip("'").strip()
                if text in ("T", "t"):
                    return 1.0
                if text in ("F", "f"):
                    return 0.0
                try:
                    return float(text)
                except ValueError:
                    raise PixelMathEvaluationError(
                        f"in symbol '{d.name}' definition: keyword '{name}' of '{image_id}' is not numeric",
                        pos=d.pos,
                    ) from None
        if d.function == "keyword_defined":
            return 0.0
        raise PixelMathEvaluationError(
            f"in symbol '{d.name}' definition: no keyword '{name}' defined for image '{image_id}'", pos=d.pos
        )

    def _property(self, d: SymbolDefinition, image: Image, image_id: str) -> Value:
        name = d.args[0]
        if d.function == "property_defined":
            return 1.0 if name in image.properties else 0.0
        if name not in image.properties:
            raise PixelMathEvaluationError(
                f"in symbol '{d.name}' definition: property '{name}' is not defined for image '{image_id}'",
                pos=d.pos,
            )
        try:
            vector = np.atleast_1d(np.asarray(image.properties[name], dtype=np.float64)).ravel()
        except (TypeError, ValueError):
            raise PixelMathEvaluationError(
                f"in symbol '{d.name}' definition: property '{name}' cannot be converted to a number", pos=d.pos
            ) from None
        if vector.size == 0:
            raise PixelMathEvaluationError(f"in symbol '{d.name}' definition: property '{name}' is empty", pos=d.pos)
        if vector.size < 3:
            return float(vector[0])
        return vector[:3].astype(self.dtype).reshape(3, 1, 1)

    def _pixel_constant(self, d: SymbolDefinition, image: Image) -> Value:
        try:
            x, y = int(d.args[0]), int(d.args[1])
            channel = int(d.args[2]) if len(d.args) > 2 and d.args[2] else None
        except ValueError:
            raise PixelMathEvaluationError(
                f"in symbol '{d.name}' definition: invalid pixel coordinates or channel {d.args}", pos=d.pos
            ) from None
        pixels = image.pixels
        if channel is not None and not 0 <= channel < pixels.shape[0]:
            raise PixelMathEvaluationError(
                f"in symbol '{d.name}' definition: channel index '[{channel}]' out of range", pos=d.pos
            )
        if not (0 <= x < image.width and 0 <= y < image.height):
            return 0.0
        if channel is None:
            if pixels.shape[0] < 3:
                return float(pixels[0, y, x])
            return pixels[:3, y, x].astype(self.dtype).reshape(3, 1, 1)
        return float(pixels[channel, y, x])


def resample(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bicubic resampling of planar pixels to ``height`` x ``width``.

    As PixelMath, output pixel (x, y) samples the source at (x * W_src / width, y * H_src / height).
    """
    src_h, src_w = pixels.shape[1:]
    scale = np.array([src_h / height, src_w / width])
    out = np.empty((pixels.shape[0], height, width), dtype=np.result_type(pixels.dtype, np.float32))
    for c in range(pixels.shape[0]):
        ndimage.affine_transform(pixels[c], scale, output_shape=(height, width), output=out[c], order=3,
                                 mode="nearest")
    return out
