"""The Process base class: schema, immutable instances and execution contexts.

Subclass :class:`Process`, give it ``process_id`` and parameters declared with
:func:`procfw.params.param`; the class becomes a frozen, keyword-only attrs class whose
constructor signature *is* the schema::

    class Invert(Process):
        process_id = "Invert"

        def apply(self, image, context):
            return image.with_pixels(1 - image.pixels)

The maths lives in :meth:`Process.apply` (one image in, one image out) or
:meth:`Process.run_global`; views, masks, history and undo are applied by the framework.

What a process needs of the view it runs on and of the workspace is written down here as
two protocols, :class:`ViewLike` and :class:`WorkspaceLike` (:mod:`procfw.workspace`
provides both), so this module imports nothing above it.  :data:`processes` is the
registry of process classes (also reachable as :data:`procfw.registry.processes`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol, TypeVar

import attrs

from procfw.entrypoints import Registry
from procfw.errors import ExecutionError, ParameterError, UnknownNameError
from procfw.image import Image
from procfw.names import suggest
from procfw.params import ParameterKind, kind_of

P = TypeVar("P", bound="Process")

ProgressCallback = Callable[[float, str], None]
"""``progress(fraction, message)``: long work reports how far it got (0..1)."""


@attrs.frozen
class MaskRef:
    """A mask: the id of the window whose image is the mask, and whether it is inverted."""

    window_id: str
    inverted: bool = False


class WorkspaceLike(Protocol):
    """What a process sees of the workspace: other views by id, and a place for new images.

    :class:`procfw.workspace.Workspace` is the implementation.
    """

    def view(self, id_: str) -> ViewLike:
        """The view ``id_`` (``window`` or ``window->preview``)."""
        ...

    def add_new_images(self, images: Mapping[str, Image]) -> tuple[str, ...]:
        """Open ``images`` as new windows (by requested id); return the ids they got."""
        ...


class ViewLike(Protocol):
    """What a process needs of the view it runs on (:class:`procfw.workspace.View` is one).

    A view has an id, an image, the workspace it belongs to (or None), applies its mask
    and records history steps.
    """

    id: str

    @property
    def workspace(self) -> WorkspaceLike | None:
        """The workspace the view belongs to, or None."""
        ...

    @property
    def image(self) -> Image:
        """The view's current image."""
        ...

    def masked(self, before: Image, after: Image, override: MaskRef | None = None) -> Image:
        """``after`` blended with ``before`` through the view's mask (or ``override``)."""
        ...

    def commit(self, after: Image, process: Process) -> None:
        """Make ``after`` the view's image as one history step done by ``process``."""
        ...

    def replace_image(self, image: Image) -> None:
        """Make ``image`` the view's image without a history step."""
        ...


@attrs.frozen(kw_only=True)
class ProcessOutput:
    """What :meth:`Process.apply` or :meth:`Process.run_global` may return.

    ``image`` is the new image of the target view (None: pixels unchanged);
    ``outputs`` are read-only results (statistics, coefficients, counts);
    ``new_images`` are images to open as new windows, by requested id.
    """

    image: Image | None = None
    outputs: Mapping[str, Any] = attrs.field(factory=dict)
    new_images: Mapping[str, Image] = attrs.field(factory=dict)
    messages: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class ProcessResult:
    """The outcome of one execution, for the console and for callers.

    ``target`` is the view id (None for global execution); ``created`` are the ids of the
    windows the execution opened (which may differ from the requested ids).
    """

    process_id: str
    target: str | None = None
    outputs: Mapping[str, Any] = attrs.field(factory=dict)
    created: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class ExecutionContext:
    """What a process may see while it runs: the workspace (for other images) and the target."""

    workspace: WorkspaceLike | None = None
    view_id: str | None = None
    progress: ProgressCallback | None = None

    def image(self, view_id: str) -> Image:
        """The current image of another view, by id (e.g. a reference for LinearFit)."""
        if self.workspace is None:
            raise ExecutionError(f"no workspace to look up view '{view_id}' in")
        return self.workspace.view(view_id).image.read_only()

    def report(self, fraction: float, message: str = "") -> None:
        """Report progress (0..1) if someone listens."""
        if self.progress is not None:
            self.progress(fraction, message)


def _overrides(cls: type, name: str) -> bool:
    return getattr(cls, name) is not getattr(Process, name)


def _is_read_only_write(exc: BaseException) -> bool:
    """True for numpy's error on writing a read-only array (``assignment destination is read-only``)."""
    return isinstance(exc, ValueError) and "read-only" in str(exc)


def _in_place_error(process_id: str, exc: BaseException) -> ExecutionError:
    return ExecutionError(
        f"{process_id} wrote into a read-only array ({exc}): the image a process is handed, and the images "
        "of other views, cannot be modified in place (processes are pure functions); work on a copy "
        "(image.writable_copy() or image.pixels.copy()) and return it"
    )


def _unchanged(returned: Image, handed: Image, handed_pixels: object, before: Image) -> bool:
    """True when a process gave back the very image it was handed, pixels, keywords and properties untouched."""
    if returned is not handed or handed.pixels is not handed_pixels or len(handed.keywords) != len(before.keywords):
        return False
    if any(a is not b for a, b in zip(handed.keywords, before.keywords)):
        return False
    props, old = handed.properties, before.properties
    return props.keys() == old.keys() and all(props[k] is old[k] for k in props)


def _checked_output(process_id: str, method: str, produced: object, *, image_allowed: bool) -> ProcessOutput:
    """``produced`` as a ProcessOutput, or an ExecutionError naming the process and what it returned."""
    expected = "an Image or a ProcessOutput" if image_allowed else "a ProcessOutput"
    if isinstance(produced, Image) and image_allowed:
        return ProcessOutput(image=produced)
    if not isinstance(produced, ProcessOutput):
        raise ExecutionError(f"{process_id}.{method} returned {type(produced).__name__}; it must return {expected}")
    if produced.image is not None and not isinstance(produced.image, Image):
        raise ExecutionError(
            f"{process_id}.{method} returned ProcessOutput.image of type {type(produced.image).__name__}; "
            "it must be an Image or None"
        )
    for name, image in produced.new_images.items():
        if not isinstance(image, Image):
            raise ExecutionError(
                f"{process_id}.{method} returned new image {name!r} of type {type(image).__name__}; "
                "it must be an Image"
            )
    return produced


class Process:
    """Base of every process: a typed, immutable, serializable instance.

    Class metadata (plain class attributes): ``process_id``, ``process_aliases``,
    ``categories``, ``process_version``, ``description`` (defaults to the docstring),
    ``parameter_aliases`` (old parameter id -> id), the capability flags
    ``is_history_updater`` and ``is_maskable``, and ``pixinsight``.  ``key_outputs`` names
    the outputs the console shows on an execution's line: output ids, or ``(label, (id, id,
    ...))`` to show several under one label (``("noise", ("noiseR", "noiseG", "noiseB"))``);
    None shows every scalar output.

    ``process_version`` is the version written with new instances (XPSM ``version``):
    PixInsight's default, 0x100 = 256, unless the process declares another (as PCL's
    ``MetaProcess::Version()``).  ``pixinsight`` is False for a process that PixInsight
    cannot load (a process of procfw's own, or one PixInsight does not let you
    instantiate): writing it to a PixInsight file warns.
    ``conformance_parameters`` are the values :func:`procfw.testing.check_process` runs the
    process with, for one whose defaults do not suit its test image (a ramp over [0, 1]).
    ``worker_preload`` names modules that a run of the process over files on a local pool
    (``-executor=processes``) has the pool's fork server import before it forks the workers
    (each dask worker imports them first): a module that loads the process's compiled code
    there, once for all workers, whose pages they then share (:func:`procfw.batch.start_workers`).
    Empty by default (opt in: a module imported there must start no thread).
    """

    process_id: ClassVar[str] = ""
    process_aliases: ClassVar[tuple[str, ...]] = ()
    categories: ClassVar[tuple[str, ...]] = ()
    process_version: ClassVar[int] = 0x100
    description: ClassVar[str] = ""
    parameter_aliases: ClassVar[Mapping[str, str]] = {}
    is_history_updater: ClassVar[bool] = True
    is_maskable: ClassVar[bool] = True
    key_outputs: ClassVar[tuple[str | tuple[str, tuple[str, ...]], ...] | None] = None
    pixinsight: ClassVar[bool] = True
    conformance_parameters: ClassVar[Mapping[str, Any]] = {}
    worker_preload: ClassVar[tuple[str, ...]] = ()

    __procfw_schema__: ClassVar[dict[str, ParameterKind]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__attrs_attrs__" in cls.__dict__:
            return
        attrs.frozen(cls, kw_only=True, slots=False, repr=False)
        if not cls.process_id:
            cls.process_id = cls.__name__
        if not cls.__dict__.get("description"):
            cls.description = inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0].replace("\n", " ")
        schema: dict[str, ParameterKind] = {}
        for field in attrs.fields(cls):
            kind = kind_of(field)
            if kind is not None:
                schema[field.name] = kind
        cls.__procfw_schema__ = schema

    def __attrs_post_init__(self) -> None:
        self.validate()

    # -- schema ----------------------------------------------------------------------
    @classmethod
    def schema(cls) -> dict[str, ParameterKind]:
        """Parameter kinds by id, in declaration order."""
        return dict(cls.__procfw_schema__)

    @classmethod
    def parameter_id(cls, name: str) -> str:
        """The canonical id of parameter ``name`` (an id or an alias); suggests on typos."""
        schema = cls.__procfw_schema__
        if name in schema:
            return name
        if name in cls.parameter_aliases:
            return cls.parameter_aliases[name]
        for id_, kind in schema.items():
            if name in kind.aliases:
                return id_
        raise UnknownNameError(f"{cls.process_id} has no parameter '{name}'{suggest(name, list(schema))}", name=name)

    @classmethod
    def parameter(cls, name: str) -> ParameterKind:
        """The kind of parameter ``name`` (id or alias)."""
        return cls.__procfw_schema__[cls.parameter_id(name)]

    @classmethod
    def from_parameters(cls: type[P], values: Mapping[str, Any], **extra: Any) -> P:
        """An instance from parameter values keyed by id or alias."""
        return cls(**{cls.parameter_id(k): v for k, v in values.items()}, **extra)

    def parameters(self) -> dict[str, Any]:
        """Parameter values by id, in declaration order."""
        return {name: getattr(self, name) for name in self.__procfw_schema__}

    def evolve(self: P, **changes: Any) -> P:
        """A copy with some parameters changed (ids or aliases); validated like a new one."""
        return attrs.evolve(self, **{type(self).parameter_id(k): v for k, v in changes.items()})

    def validate(self) -> None:
        """Cross-parameter checks; override and raise :func:`self.invalid` on failure."""

    def invalid(self, parameter: str, value: Any, rule: str) -> ParameterError:
        """A ParameterError naming this process, the parameter, the value and the rule."""
        return ParameterError(f"{self.process_id}: parameter {parameter} = {value!r}: {rule}", parameter=parameter)

    # -- the maths (override one or both) ----------------------------------------------
    def apply(self, image: Image, context: ExecutionContext) -> Image | ProcessOutput:
        """The process as a pure function of one image; override to run on views."""
        raise NotImplementedError

    def run_global(self, context: ExecutionContext) -> ProcessOutput:
        """Global execution (no target view); override to run globally."""
        raise NotImplementedError

    # -- execution contexts ------------------------------------------------------------
    def can_execute_on(self, view: ViewLike) -> tuple[bool, str]:
        """Whether this instance can run on ``view``, and why not."""
        if not _overrides(type(self), "apply"):
            return False, f"{self.process_id} cannot be executed on views"
        return True, ""

    def can_execute_global(self) -> tuple[bool, str]:
        """Whether this instance can run globally, and why not."""
        if not _overrides(type(self), "run_global"):
            return False, f"{self.process_id} cannot be executed globally"
        return True, ""

    def require_executable_on(self, view: ViewLike) -> None:
        """Raise ExecutionError, saying why, unless this instance can run on ``view``."""
        ok, why = self.can_execute_on(view)
        if not ok:
            raise ExecutionError(f"{self.process_id} cannot run on {view.id}: {why}")

    def require_executable_global(self) -> None:
        """Raise ExecutionError, saying why, unless this instance can run globally."""
        ok, why = self.can_execute_global()
        if not ok:
            raise ExecutionError(f"{self.process_id} cannot run globally: {why}")

    def execute_on(
        self, view: ViewLike, *, mask: MaskRef | None = None, progress: ProgressCallback | None = None
    ) -> ProcessResult:
        """Run on ``view``: transform its image, apply the mask, record one history step.

        The process is handed a read-only image (:meth:`Image.read_only`): it cannot change
        the view's pixels, so undo restores exactly what was there, and a process that
        fails leaves the view and its history as they were.  It must return an Image or a
        :class:`ProcessOutput`; anything else is an ExecutionError naming the process.

        ``mask`` overrides the window's own mask for this run (as a container child's mask does).
        """
        self.require_executable_on(view)
        context = ExecutionContext(workspace=view.workspace, view_id=view.id, progress=progress)
        before = view.image
        handed = before.read_only()
        handed_pixels = handed.pixels
        try:
            produced = self.apply(handed, context)
        except ValueError as exc:
            if _is_read_only_write(exc):
                raise _in_place_error(self.process_id, exc) from exc
            raise
        output = _checked_output(self.process_id, "apply", produced, image_allowed=True)
        created = view.workspace.add_new_images(output.new_images) if view.workspace else ()
        if output.image is not None:
            after = before if _unchanged(output.image, handed, handed_pixels, before) else output.image
            if self.is_maskable:
                after = view.masked(before, after, mask)
            if self.is_history_updater:
                view.commit(after, self)
            else:
                view.replace_image(after)
        elif self.is_history_updater:
            view.commit(before, self)
        return ProcessResult(
            process_id=self.process_id, target=view.id, outputs=dict(output.outputs), created=created,
            messages=output.messages,
        )

    def execute_global(self, workspace: WorkspaceLike, *, progress: ProgressCallback | None = None) -> ProcessResult:
        """Run globally over ``workspace``; new images open as windows."""
        self.require_executable_global()
        try:
            produced = self.run_global(ExecutionContext(workspace=workspace, progress=progress))
        except ValueError as exc:
            if _is_read_only_write(exc):
                raise _in_place_error(self.process_id, exc) from exc
            raise
        output = _checked_output(self.process_id, "run_global", produced, image_allowed=False)
        created = workspace.add_new_images(output.new_images)
        return ProcessResult(
            process_id=self.process_id, outputs=dict(output.outputs), created=created, messages=output.messages
        )

    # -- presentation ------------------------------------------------------------------
    def __repr__(self) -> str:
        changed = {k: v for k, v in self.parameters().items() if v != self.schema()[k].default_value}
        inner = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        return f"{self.process_id}({inner})"


def _process_aliases(cls: Any) -> tuple[str, ...]:
    return tuple(getattr(cls, "process_aliases", ()))


def _check_process(id_: str, cls: Any) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Process)):
        raise TypeError(f"entry point '{id_}' is not a Process subclass: {cls!r}")
    if cls.process_id != id_:
        raise TypeError(f"entry point name '{id_}' differs from the class's process id '{cls.process_id}'")


processes: Registry[Any] = Registry(
    "procfw.processes", "process", aliases_of=_process_aliases, validate=_check_process,
    alias_group="procfw.process_aliases",
)
"""Process classes by process id, and by the aliases declared in ``procfw.process_aliases``."""
