"""The PixelMath process: PixInsight's parameters and execution model around the evaluator."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from processes.pixelmath.errors import PixelMathError, PixelMathEvaluationError, PixelMathSyntaxError
from processes.pixelmath.evaluator import Evaluator, can_slice_channels
from processes.pixelmath.nodes import Program
from processes.pixelmath.parser import parse
from processes.pixelmath.scope import Geometry, Scope
from processes.pixelmath.symbols import parse_symbols
from procfw.errors import ProcfwError
from procfw.image import Image, sample_format_for
from procfw.params import Boolean, Double, Enumeration, Int32, String, Table, param
from procfw.process import ExecutionContext, Process, ProcessOutput
from procfw.workspace import make_id

__all__ = ["PixelMath"]

logger = logging.getLogger(__name__)

_EXPRESSIONS = ("expression", "expression1", "expression2", "expression3")
_INTEGER_SCALE = {"i8": 255.0, "i16": 65535.0, "i32": 4294967295.0}


@dataclass(frozen=True)
class ExecutionSettings:
    """The parameters an execution uses, after the expressions' ``.pragma``/``.symbols`` directives."""

    single: bool
    symbols: str
    rescale: bool
    truncate: bool
    use64: bool
    create_new: bool
    alpha: bool
    generate: bool


_PRAGMA_FIELDS = {
    "rescale": ("rescale", True), "no-rescale": ("rescale", False),
    "truncate": ("truncate", True), "no-truncate": ("truncate", False),
    "64_bit": ("use64", True), "no-64_bit": ("use64", False),
    "single_expr": ("single", True), "no-single_expr": ("single", False),
    "new_image": ("create_new", True), "no-new_image": ("create_new", False),
    "alpha": ("alpha", True), "no-alpha": ("alpha", False),
}


def _component(value: Any, channel: int) -> Any:
    if isinstance(value, np.ndarray):
        return value[channel] if value.shape[0] == 3 else value[0]
    return value


class PixelMath(Process):
    """Compute pixel values from PixInsight PixelMath expressions.

    Expressions combine images by id (``$T`` is the target), numbers, symbols, PixelMath's
    operators (``^`` power, ``~x`` = 1 - x, ``--`` absolute difference, comparisons and
    logical operators giving 0 or 1...) and functions (``iif``, ``mtf``, ``med``, ``CIEL``...),
    in ``;``-separated statements; one expression for all channels or one per channel.
    Results are rescaled or truncated to [0, 1], written to the target or to a new image.
    """

    process_id = "PixelMath"
    categories = ("PixelMath",)
    process_version = 256

    expression: str = param(String(
        aliases=("expression0",),
        description="Expression for the combined RGB/K channels (useSingleExpression), else for red or gray.",
    ))
    expression1: str = param(String(description="Expression for the green channel (when not useSingleExpression)."))
    expression2: str = param(String(description="Expression for the blue channel (when not useSingleExpression)."))
    expression3: str = param(String(description="Expression for the alpha channel, if the image has one."))
    useSingleExpression: bool = param(Boolean(  # noqa: N815 - PixInsight parameter id
        default=True, description="Use the first expression for all channels of a color image."
    ))
    symbols: str = param(String(
        aliases=("variables",),
        description="Symbol declarations separated by commas: variables (a, b = init(0.5)), constants "
                    "(k = 0.5, c = 0.1:0.2:0.3), symbol functions (m = median($T, 0)), globals (n = global(+)).",
    ))
    clearImageCacheAndExit: bool = param(Boolean(  # noqa: N815
        description="Only clear the cache of generated images and exit (no pixels are computed)."
    ))
    cacheGeneratedImages: bool = param(Boolean(  # noqa: N815
        description="Keep images made by generators (gconv, medfilt...) for later executions (accepted; procfw "
                    "caches them within one execution)."
    ))
    generateOutput: bool = param(Boolean(  # noqa: N815
        default=True, description="Write the results; when false only global variables are computed."
    ))
    singleThreaded: bool = param(Boolean(  # noqa: N815
        description="Run on one thread (accepted for compatibility; evaluation is vectorized)."
    ))
    optimization: bool = param(Boolean(
        default=True, description="Optimize expressions (accepted; procfw always folds invariants and evaluates "
                                  "repeated subexpressions once)."
    ))
    use64BitWorkingImage: bool = param(Boolean(  # noqa: N815
        description="Compute in 64-bit floating point instead of 32-bit."
    ))
    rescale: bool = param(Boolean(description="Rescale the result to [rescaleLower, rescaleUpper]."))
    rescaleLower: float = param(Double(  # noqa: N815
        minimum=0, maximum=1, default=0, precision=16, general=True, description="Lower bound of the rescaled result."
    ))
    rescaleUpper: float = param(Double(  # noqa: N815
        minimum=0, maximum=1, default=1, precision=16, general=True, description="Upper bound of the rescaled result."
    ))
    truncate: bool = param(Boolean(
        default=True, description="Truncate the result to [truncateLower, truncateUpper] (when not rescaling)."
    ))
    truncateLower: float = param(Double(  # noqa: N815
        default=0, precision=16, general=True, description="Lower truncation bound."
    ))
    truncateUpper: float = param(Double(  # noqa: N815
        default=1, precision=16, general=True, description="Upper truncation bound."
    ))
    createNewImage: bool = param(Boolean(  # noqa: N815
        description="Write the result to a new image instead of the target (on a preview: to the preview)."
    ))
    showNewImage: bool = param(Boolean(  # noqa: N815
        default=True, description="Show the new image (accepted; procfw opens it in the workspace)."
    ))
    newImageId: str = param(String(  # noqa: N815
        description="Id of the new image (empty: automatic). PixInsight's GUI allows letters, digits and _; "
                    "other characters (which real icons contain) are replaced by _ when the image is created."
    ))
    newImageWidth: int = param(Int32(  # noqa: N815
        minimum=0, default=0, description="Width of the new image in pixels (0: as the target)."
    ))
    newImageHeight: int = param(Int32(  # noqa: N815
        minimum=0, default=0, description="Height of the new image in pixels (0: as the target)."
    ))
    newImageAlpha: bool = param(Boolean(description="Give the new image an alpha channel."))  # noqa: N815
    newImageColorSpace: str = param(Enumeration(  # noqa: N815
        elements=("SameAsTarget", "RGB", "Gray"), default="SameAsTarget", description="Color space of the new image."
    ))
    newImageSampleFormat: str = param(Enumeration(  # noqa: N815
        elements=("SameAsTarget", "i8", "i16", "i32", "f32", "f64"), default="SameAsTarget",
        description="Sample format of the new image (integer formats are quantized to their levels).",
    ))
    outputData: tuple = param(Table(  # noqa: N815
        columns=(
            String(id="globalVariableId", read_only=True, description="Global variable id."),
            Double(id="globalVariableRK", precision=16, general=True, allow_nonfinite=True, read_only=True,
                   description="Final value, red or gray."),
            Double(id="globalVariableG", precision=16, general=True, allow_nonfinite=True, read_only=True,
                   description="Final value, green."),
            Double(id="globalVariableB", precision=16, general=True, allow_nonfinite=True, read_only=True,
                   description="Final value, blue."),
        ),
        read_only=True,
        description="Final values of the global variables of the last execution (read-only output).",
    ))

    def validate(self) -> None:
        if self.rescaleLower > self.rescaleUpper:
            raise self.invalid("rescaleLower", self.rescaleLower, f"must not exceed rescaleUpper ({self.rescaleUpper})")
        if self.truncateLower > self.truncateUpper:
            raise self.invalid(
                "truncateLower", self.truncateLower, f"must not exceed truncateUpper ({self.truncateUpper})"
            )

    # -- parsing ---------------------------------------------------------------------------
    def _parse(self, parameter: str) -> Program:
        try:
            return parse(getattr(self, parameter))
        except PixelMathSyntaxError as exc:
            raise exc.located_in(parameter) from None

    def parsed(self) -> tuple[ExecutionSettings, dict[str, Program]]:
        """The effective settings and the parsed expressions this instance evaluates.

        Raises :class:`PixelMathSyntaxError` (naming the parameter) for an expression that
        does not parse.
        """
        settings = ExecutionSettings(
            single=self.useSingleExpression, symbols=self.symbols, rescale=self.rescale, truncate=self.truncate,
            use64=self.use64BitWorkingImage, create_new=self.createNewImage, alpha=self.newImageAlpha,
            generate=self.generateOutput,
        )
        names = ["expression"] + ([] if settings.single else ["expression1", "expression2"]) + ["expression3"]
        programs = {name: self._parse(name) for name in names}
        for program in programs.values():
            for directive in program.directives:
                if directive.name == "symbols":
                    settings = replace(settings, symbols=", ".join(directive.args))
                else:
                    for arg in directive.args:
                        field_name, value = _PRAGMA_FIELDS.get(arg, ("", None))
                        if field_name:
                            settings = replace(settings, **{field_name: value})
        if not settings.single:
            for name in ("expression1", "expression2"):
                programs.setdefault(name, self._parse(name))
        return settings, programs

    # -- execution contexts ----------------------------------------------------------------
    def can_execute_on(self, view: Any) -> tuple[bool, str]:
        if self.createNewImage and view.is_preview and (self.newImageWidth > 0 or self.newImageHeight > 0):
            return False, ("this instance cannot be executed on previews because some of its parameters have been "
                           "set to generate a new image with specific dimensions")
        try:
            _, programs = self.parsed()
        except PixelMathError:
            return True, ""  # executing reports the syntax error with its position
        if all(p.is_empty for p in programs.values()):
            return False, "no applicable PixelMath expression has been defined"
        return True, ""

    def can_execute_global(self) -> tuple[bool, str]:
        if (
            (self.generateOutput and not self.createNewImage)
            or self.newImageWidth <= 0
            or self.newImageHeight <= 0
            or self.newImageColorSpace == "SameAsTarget"
            or (self.generateOutput and self.newImageSampleFormat == "SameAsTarget")
        ):
            return False, (
                "PixelMath cannot be executed globally because some of its parameters depend on a target image: "
                "global execution needs createNewImage, newImageWidth and newImageHeight > 0, and a "
                "newImageColorSpace and newImageSampleFormat other than SameAsTarget"
            )
        return True, ""

    def apply(self, image: Image, context: ExecutionContext) -> Image | ProcessOutput:
        return self._execute(image, context)

    def run_global(self, context: ExecutionContext) -> ProcessOutput:
        return self._execute(None, context)

    # -- the work ----------------------------------------------------------------------------
    def _execute(self, target: Image | None, context: ExecutionContext) -> ProcessOutput:
        if self.clearImageCacheAndExit:
            return ProcessOutput(messages=("PixelMath: image cache cleared; no pixels computed",))
        if target is None:
            self.require_executable_global()
        settings, programs = self.parsed()
        view = self._view(context) if target is not None else None
        preview = view is not None and view.is_preview
        geometry, colour, alpha, target_id = self._geometry(target, context, view, settings)
        scope = self._scope(target, target_id, context, view, geometry, colour, settings)
        where_symbols = "symbols"
        try:
            scope.define_symbols(parse_symbols(settings.symbols))
        except PixelMathSyntaxError as exc:
            raise exc.located_in(where_symbols) from None
        except PixelMathEvaluationError as exc:
            raise exc.located_in(settings.symbols, where_symbols) from None

        nominal = 3 if colour else 1
        plan: list[tuple[int, str]] = []
        if colour and not settings.single:
            plan += [(c, name) for c, name in enumerate(_EXPRESSIONS[:3]) if not programs[name].is_empty]
        elif not programs["expression"].is_empty:
            plan.append((-1, "expression"))
        if alpha and not programs["expression3"].is_empty:
            plan.append((nominal, "expression3"))
        if not plan:
            raise PixelMathEvaluationError("no applicable PixelMath expression has been defined")

        out, written = self._evaluate(scope, programs, plan, geometry, nominal + (1 if alpha else 0), colour,
                                      context)
        new_image = settings.create_new and not preview
        self._fill_unwritten(out, written, target, target_id, scope, new_image)
        outputs = self._output_data(scope)
        if not settings.generate:
            return ProcessOutput(outputs=outputs)
        self._finish(out, settings)
        if target is None or new_image:
            fmt = self.newImageSampleFormat
            pixels = self._sample_format(out, fmt, target)
            image_id = make_id(self.newImageId) if self.newImageId else "Image"
            logger.info("PixelMath: new image %s (%dx%dx%d)", image_id, pixels.shape[2], pixels.shape[1],
                        pixels.shape[0])
            new = Image(pixels, sample_format=sample_format_for(fmt, target))
            return ProcessOutput(new_images={image_id: new}, outputs=outputs)
        pixels = out if out.dtype == target.pixels.dtype else out.astype(target.pixels.dtype)
        return ProcessOutput(image=target.with_pixels(pixels), outputs=outputs)

    @staticmethod
    def _view(context: ExecutionContext) -> Any:
        if context.workspace is None or context.view_id is None:
            return None
        try:
            return context.workspace.view(context.view_id)
        except ProcfwError:
            return None

    def _geometry(self, target: Image | None, context: ExecutionContext, view: Any,
                  settings: ExecutionSettings) -> tuple[Geometry, bool, bool, str | None]:
        if target is None:
            colour = self.newImageColorSpace == "RGB"
            geometry = Geometry(self.newImageHeight, self.newImageWidth)
            return geometry, colour, settings.alpha, None
        preview = view is not None and view.is_preview
        if preview:
            main = view.window.main_view.image
            r = view.rect
            geometry = Geometry(target.height, target.width, r.x0, r.y0, main.width, main.height,
                                (r.x0, r.y0, r.x1, r.y1))
            return geometry, target.is_color, target.channels in (2, 4), view.window.id
        target_id = context.view_id or "$T"
        if settings.create_new:
            width = self.newImageWidth or target.width
            height = self.newImageHeight or target.height
            colour = {"SameAsTarget": target.is_color, "RGB": True, "Gray": False}[self.newImageColorSpace]
            return Geometry(height, width), colour, settings.alpha, target_id
        return Geometry(target.height, target.width), target.is_color, target.channels in (2, 4), target_id

    def _scope(self, target: Image | None, target_id: str | None, context: ExecutionContext, view: Any,
               geometry: Geometry, colour: bool, settings: ExecutionSettings) -> Scope:
        workspace = context.workspace
        resolve: Callable[[str], Image] | None = None
        image_ids: list[str] = []
        active_id = None
        if workspace is not None:
            resolve = context.image
            image_ids = list(workspace.window_ids())
            active_id = getattr(workspace, "current_view_id", None)
        mask_id = None
        if view is not None and getattr(view.window, "mask", None) is not None:
            mask_id = view.window.mask.window_id
        return Scope(
            geometry=geometry,
            dtype=np.dtype(np.float64 if settings.use64 else np.float32),
            target=target,
            target_id=target_id,
            resolve=resolve,
            image_ids=image_ids,
            colour_output=colour,
            target_channels=target.channels if target is not None else (3 if colour else 1),
            mask_id=mask_id,
            active_id=active_id,
        )

    def _evaluate(self, scope: Scope, programs: dict[str, Program], plan: list[tuple[int, str]],
                  geometry: Geometry, channels: int, colour: bool,
                  context: ExecutionContext) -> tuple[np.ndarray, set[int]]:
        variables = {n for n, s in scope.symbols.items() if s.kind == "variable"}
        globals_ = {n for n, s in scope.symbols.items() if s.kind == "global"}
        shape = (geometry.height, geometry.width)
        out: np.ndarray | None = None
        written: set[int] = set()
        for step, (channel, name) in enumerate(plan):
            context.report(step / len(plan), f"PixelMath: evaluating {name}")
            program = programs[name]
            sliced = channel in (0, 1, 2) and colour and can_slice_channels(program, variables, globals_)
            evaluator = Evaluator(scope, program, channel=channel if sliced else None,
                                  rgb_random=channel == -1 and colour)
            value, owned = self._run(evaluator, program, name)
            if channel == -1 and colour:
                full = (3, *shape)
                if (out is None and owned and isinstance(value, np.ndarray) and value.shape == full
                        and value.dtype == scope.dtype and channels == 3):
                    out = value
                else:
                    if out is None:
                        out = np.empty((channels, *shape), dtype=scope.dtype)
                    with np.errstate(over="ignore"):
                        out[:3] = value
                written.update((0, 1, 2))
                continue
            if out is None:
                out = np.empty((channels, *shape), dtype=scope.dtype)
            with np.errstate(over="ignore"):  # DBL_MAX (x/0) becomes inf in a 32-bit sample
                out[max(channel, 0)] = _component(value, 0 if channel in (-1, 3) or sliced else channel)
            written.add(max(channel, 0))
        context.report(1.0, "PixelMath: done")
        assert out is not None
        return out, written

    @staticmethod
    def _run(evaluator: Evaluator, program: Program, where: str) -> tuple[Any, bool]:
        try:
            return evaluator.run_result()
        except PixelMathEvaluationError as exc:
            raise exc.located_in(program.text, where) from None
        except RecursionError:
            raise PixelMathEvaluationError("expression too deeply nested", where=where) from None
        except (ValueError, TypeError, ArithmeticError, IndexError, MemoryError) as exc:
            raise PixelMathEvaluationError(f"cannot evaluate: {exc}", where=where) from None

    @staticmethod
    def _fill_unwritten(out: np.ndarray, written: set[int], target: Image | None, target_id: str | None,
                        scope: Scope, new_image: bool) -> None:
        missing = [c for c in range(out.shape[0]) if c not in written]
        if not missing:
            return
        keep = target is not None and not new_image and target_id not in scope.referenced
        for c in missing:
            if keep and c < target.channels and target.pixels.shape[1:] == out.shape[1:]:  # type: ignore[union-attr]
                out[c] = target.pixels[c]  # type: ignore[union-attr]
            else:
                out[c] = 0  # PixelMath's zeroed working image

    def _finish(self, out: np.ndarray, settings: ExecutionSettings) -> None:
        if settings.rescale:
            low, high = float(np.nanmin(out)), float(np.nanmax(out))
            r0, r1 = self.rescaleLower, self.rescaleUpper
            if not (np.isfinite(low) and np.isfinite(high)) or high <= low:
                out[...] = r0
                return
            out -= out.dtype.type(low)
            out *= out.dtype.type((r1 - r0) / (high - low))
            out += out.dtype.type(r0)
            np.fmax(out, r0, out=out)  # NaN -> lower bound
        elif settings.truncate:
            np.fmax(out, self.truncateLower, out=out)  # also maps NaN to the lower bound
            np.fmin(out, self.truncateUpper, out=out)

    @staticmethod
    def _sample_format(out: np.ndarray, fmt: str, target: Image | None) -> np.ndarray:
        if fmt in _INTEGER_SCALE:
            scale = _INTEGER_SCALE[fmt]
            quantized = np.rint(np.clip(out.astype(np.float64), 0, 1) * scale) / scale
            return quantized.astype(np.float32)
        if fmt == "f64":
            return out.astype(np.float64, copy=False)
        if fmt == "SameAsTarget" and target is not None:
            return out.astype(target.pixels.dtype, copy=False)
        return out.astype(np.float32, copy=False)

    @staticmethod
    def _output_data(scope: Scope) -> dict[str, Any]:
        rows = [
            (s.name, *(float(v) for v in s.accumulator.value[:3]))
            for s in scope.symbols.values()
            if s.kind == "global" and s.accumulator is not None
        ]
        return {"outputData": tuple(rows)} if rows else {}
