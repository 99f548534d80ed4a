"""ImageContainer: a list of image files (and views) that a process icon runs over (PixInsight ImageContainer).

In PixInsight an ImageContainer is a *target*, not an action: dropping a process icon on
it runs that process on every enabled item.  A file item is opened, processed and written
to a new file; a view item is processed in place.  procfw does the same with
:meth:`ImageContainer.execute_process` (console: ``exec ICON CONTAINER``).

Parameters (PixInsight's XPSM form, as in the icon files of the shared corpus)::

    <instance class="ImageContainer" id="Lights_instance">
       <policies onError="continue"/>
       <flags dontOverwrite="true" overrideMasks="true" continueAfterAbort="true"/>
       <outputDirectory>/data/out</outputDirectory>       (written only when set)
       <outputTemplate>&amp;filename;_&amp;datetime;&amp;extension;</outputTemplate>
       <image enabled="true">/data/lights/a.fits</image>
       <view enabled="true">Ha</view>
    </instance>

* ``images`` — one row per item: ``enabled``, ``path`` (a file) or ``viewId`` (a view of
  the workspace); exactly one of the two is set.  On the console a file name or glob
  pattern stands for rows (``-images="lights/*.fits"``).
* ``outputDirectory`` — where output files go (empty: each input's own directory).
* ``outputTemplate`` — the output file name: ``&filename;`` (the input's name without
  extension), ``&extension;`` (the input's extension, ``.fits.gz`` kept whole),
  ``&datetime;`` (UTC time the run started, ``YYYYMMDDhhmmss``); anything else is literal
  text, so ``&filename;_inv.xisf`` converts to XISF.
* ``onError`` — ``Continue`` (report the item and go on) or ``Abort`` (stop at the first
  failure); ``AskUser`` stops like ``Abort``: there is nobody to ask.
* ``dontOverwrite`` — an existing output file is never replaced unless this is false;
  an *input* file is never replaced, whatever it says.
* ``overrideMasks``, ``continueAfterAbort`` — kept so that PixInsight's icons round-trip;
  they change nothing here (a file opened by the container has no mask, and a run
  cannot be aborted interactively).

The PixInsight element names for file items (``<image>``) and for ``outputDirectory``
are not in any public icon we have seen (the corpus holds view items only); they are
procfw's best reading.  An ImageContainer element holding anything else is kept as a
placeholder by the XPSM reader, so nothing is lost.

File items run in separate, self-contained jobs: :func:`process_file` takes the icon as
JSON text and the paths, reads the file into a fresh workspace, runs the icon on its main
view and writes the output atomically — so the jobs can go to the executors of
``procfw.batch`` (serial, a local process pool, a dask cluster).
"""

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import re
from collections.abc import Callable, Generator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from processes.common.filelists import FileListTable
from procfw.errors import ExecutionError, ProcfwError
from procfw.params import Boolean, Enumeration, String, param
from procfw.process import Process
from procfw.unknown import RawElement, UnknownProcess
from procfw.workspace import is_valid_id

if TYPE_CHECKING:
    from procfw.workspace import Workspace

__all__ = ["ContainerRun", "ImageContainer", "ItemOutcome", "process_file", "process_file_job"]

log = logging.getLogger(__name__)

TOKENS = ("&filename;", "&extension;", "&datetime;")
"""The output-template tokens procfw understands."""

_TOKEN = re.compile(r"&[A-Za-z_][A-Za-z0-9_]*;")
_COMPOUND_SUFFIXES = (".fits.gz", ".fit.gz", ".fts.gz")
_ON_ERROR_XPSM = {"Continue": "continue", "Abort": "abort", "AskUser": "askUser"}
_FLAGS = ("dontOverwrite", "overrideMasks", "continueAfterAbort")
_TRUE_TEXT = {"true": True, "1": True, "false": False, "0": False}
EXECUTORS = ("serial", "processes", "dask")
"""The executor kinds :meth:`ImageContainer.execute_process` accepts."""


def _split_name(path: Path) -> tuple[str, str]:
    """``(name without extension, extension)``; ``.fits.gz`` and the like count as one extension."""
    name = path.name
    for compound in _COMPOUND_SUFFIXES:
        if name.lower().endswith(compound):
            return name[: -len(compound)], name[-len(compound):]
    suffix = path.suffix
    return (name[: -len(suffix)] if suffix else name), suffix


def _is_view_id(text: str) -> bool:
    main, _, preview = text.partition("->")
    return is_valid_id(main) and (not preview or is_valid_id(preview))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ProcfwError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename or ''}: {exc.strerror}".lstrip(": ")
    return f"{type(exc).__name__}: {exc}"


# -- one file: the job an executor runs ------------------------------------------------------
def process_file(
    icon_json: str,
    input_path: str,
    output_path: str,
    overwrite: bool = False,
    input_hints: str = "",
    output_hints: str = "",
) -> dict[str, Any]:
    """Run the icon ``icon_json`` (a procfw JSON icon envelope) on one image file.

    Reads ``input_path`` into a fresh workspace, runs the icon on its main view and writes
    the result to ``output_path`` atomically (replacing an existing file only when
    ``overwrite``; never the input).  Format hints are not supported by procfw's image
    formats yet: non-empty ``input_hints``/``output_hints`` fail the file.

    Never raises: returns ``{"ok": True, "output": path, "messages": [...]}`` or
    ``{"ok": False, "error": reason}``, plain values that cross process boundaries.
    """
    try:
        return {"ok": True, **_process_file(icon_json, input_path, output_path, overwrite, input_hints, output_hints)}
    except Exception as exc:  # noqa: BLE001 - every failure becomes this file's reason
        log.debug("ImageContainer: %s failed", input_path, exc_info=True)
        return {"ok": False, "error": _reason(exc)}


def process_file_job(job: Sequence[Any]) -> dict[str, Any]:
    """:func:`process_file` with its arguments as one tuple (the form executors map over)."""
    return process_file(*job)


def _process_file(
    icon_json: str, input_path: str, output_path: str, overwrite: bool, input_hints: str, output_hints: str
) -> dict[str, Any]:
    from procfw.icons.json import from_envelope
    from procfw.io import write_image
    from procfw.workspace import Workspace, make_id

    if input_hints or output_hints:
        raise ExecutionError(
            f"format hints are not supported (input hints {input_hints!r}, output hints {output_hints!r})"
        )
    source, target = Path(input_path), Path(output_path)
    if os.path.abspath(source) == os.path.abspath(target) or (
        source.exists() and target.exists() and os.path.samefile(source, target)
    ):
        raise ExecutionError(f"{target}: the output would replace the input; input files are never modified")
    if target.exists() and not overwrite:
        raise ExecutionError(f"{target}: file exists; set dontOverwrite=false (console: -dontOverwrite-) to replace it")
    instance, _ = from_envelope(json.loads(icon_json), where="icon")
    workspace = Workspace()
    window = workspace.open(source, make_id(_split_name(source)[0] or "image"))
    result = instance.execute_on(window.main_view)
    written = write_image(window.main_view.image, target, overwrite=overwrite)
    log.info("ImageContainer: %s -> %s", source, written)
    return {"output": str(written), "messages": list(result.messages)}


# -- outcomes ---------------------------------------------------------------------------------
@attrs.frozen(kw_only=True)
class ItemOutcome:
    """What happened to one item of a container: ``status`` is ``ok``, ``failed`` or ``skipped``."""

    index: int
    source: str
    kind: str = "file"  # "file" or "view"
    status: str = "skipped"
    output: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        """True when the item was processed (and, for a file, written)."""
        return self.status == "ok"

    def line(self) -> str:
        """One line for people: ``ok a.fits -> out/a_inv.fits``, ``FAILED b.fits: reason``..."""
        if self.status == "ok":
            return f"ok      {self.source} -> {self.output}" if self.output else f"ok      {self.source}"
        if self.status == "failed":
            error = self.error.removeprefix(f"{self.source}: ")  # the reason often starts with the path
            return f"FAILED  {self.source}: {error}"
        return f"skipped {self.source}" + (f" ({self.error})" if self.error else "")

    def as_json(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return attrs.asdict(self)


@attrs.frozen(kw_only=True)
class ContainerRun:
    """The outcome of running a process over a container: one :class:`ItemOutcome` per item, in item order."""

    process_id: str
    container: str = "ImageContainer"
    outcomes: tuple[ItemOutcome, ...] = ()
    stopped: bool = False

    def count(self, status: str) -> int:
        """How many items ended with ``status``."""
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def ok(self) -> bool:
        """True when no item failed."""
        return not self.count("failed")

    def summary(self) -> str:
        """``Invert over ImageContainer: 2 succeeded, 1 failed, 1 skipped``."""
        text = (f"{self.process_id} over {self.container}: {self.count('ok')} succeeded, "
                f"{self.count('failed')} failed, {self.count('skipped')} skipped")
        return text + (" (stopped at the first failure)" if self.stopped else "")

    def outputs(self) -> dict[str, Any]:
        """A JSON-friendly summary: per-item outcomes and counts."""
        return {
            "items": [o.as_json() for o in self.outcomes],
            "succeeded": self.count("ok"),
            "failed": self.count("failed"),
            "skipped": self.count("skipped"),
        }

    def raise_if_failed(self) -> None:
        """Raise ExecutionError naming every failed item."""
        failed = [o for o in self.outcomes if o.status == "failed"]
        if failed:
            details = "; ".join(f"{o.source}: {o.error}" for o in failed)
            raise ExecutionError(f"{self.summary()}: {details}")


ItemCallback = Callable[[ItemOutcome], None]
"""Called with each item's outcome as soon as it is known (in completion order)."""


# -- executors ----------------------------------------------------------------------------------
def _map_jobs(
    jobs: list[tuple[Any, ...]], executor: Any, workers: int | None, scheduler: str | None,
    preload: Sequence[str] = (),
) -> Generator[tuple[int, Any], None, None]:
    """``(job index, result or exception)`` for each job, in completion order.

    The one place that chooses how file jobs run, through :mod:`procfw.batch`:
    ``executor`` is a kind (``serial``, ``processes``, ``dask``: an executor made for this
    run and closed after it, its workers importing ``preload`` first), an executor object
    (used, not closed), or None (the current one of ``procfw.batch.use_executor``, else
    serially in this process).
    """
    try:
        from procfw import batch
    except ImportError:  # pragma: no cover - an older procfw without the executor seam
        batch = None
    if executor is None and batch is not None:
        executor = batch.current_executor()
    if executor is None or (batch is None and executor == "serial"):
        for index, job in enumerate(jobs):
            yield index, process_file_job(job)
        return
    if batch is None:  # pragma: no cover
        raise ExecutionError(f"executor {executor!r} needs procfw.batch, which this procfw does not have")
    if not isinstance(executor, str):
        yield from executor.map_unordered(process_file_job, jobs)
        return
    options: dict[str, Any] = {"workers": workers, "preload": tuple(preload)}
    if scheduler is not None:
        options["scheduler"] = scheduler
    with batch.make_executor(executor, **options) as pool:
        yield from pool.map_unordered(process_file_job, jobs)


# -- the process ------------------------------------------------------------------------------
class ImageContainer(Process):
    """A list of image files and views that a process icon runs over, one output file per input.

    It is a target, not an action: ``exec ICON CONTAINER`` (Python:
    :meth:`execute_process`) runs ICON on every enabled item; executing the container
    itself is refused.
    """

    process_id = "ImageContainer"
    categories = ("ImageContainer",)
    is_history_updater = False
    is_maskable = False

    images: tuple[tuple[Any, ...], ...] = param(FileListTable(
        columns=(
            Boolean(id="enabled", default=True, description="Whether this item is processed."),
            String(id="path", description="Path of the image file (empty for a view item)."),
            String(id="viewId", description="Id of a workspace view (empty for a file item)."),
        ),
        path_column="path",
        description="The items: image files (path) or views (viewId); a file name or glob pattern "
                    "stands for one row per matching file.",
    ))
    outputDirectory: str = param(String(description="Directory of the output files (empty: each input's own)."))
    outputTemplate: str = param(String(
        default="&filename;_&datetime;&extension;", min_length=1,
        description="Output file name: &filename; (input name without extension), &extension; (input "
                    "extension), &datetime; (UTC start time, YYYYMMDDhhmmss); other text is literal.",
    ))
    onError: str = param(Enumeration(
        elements=("Continue", "Abort", "AskUser"), default="Continue",
        description="What a failing item does: Continue (report it and go on) or Abort (stop); AskUser "
                    "stops like Abort (there is nobody to ask).",
    ))
    dontOverwrite: bool = param(Boolean(default=True, description="Never replace an existing output file "
                                                                  "(input files are never replaced)."))
    overrideMasks: bool = param(Boolean(default=True, description="PixInsight's mask override flag; kept for "
                                                                  "icon round trips, no effect in procfw."))
    continueAfterAbort: bool = param(Boolean(default=True, description="PixInsight's continue-after-abort flag; "
                                                                       "kept for icon round trips, no effect."))

    is_target_container: ClassVar[bool] = True
    """Marks a process whose icons are targets of ``exec ICON CONTAINER`` (see :meth:`execute_process`)."""

    def validate(self) -> None:
        for index, (_, path, view_id) in enumerate(self.images):
            if path != path.strip():
                raise self.invalid("images", self.images, f"row {index}: the path {path!r} begins or ends with "
                                   "white space, which an icon file cannot keep (PixInsight trims it)")
            if bool(path) == bool(view_id):
                raise self.invalid("images", self.images,
                                   f"row {index} needs exactly one of path (a file) and viewId (a view)")
            if view_id and not _is_view_id(view_id):
                raise self.invalid("images", self.images, f"row {index}: {view_id!r} is not a view id")
            if "\x00" in path:
                raise self.invalid("images", self.images, f"row {index}: a path cannot contain NUL")
        unknown = sorted(set(_TOKEN.findall(self.outputTemplate)) - set(TOKENS))
        if unknown:
            raise self.invalid("outputTemplate", self.outputTemplate,
                               f"unknown token(s) {', '.join(unknown)}; known: {', '.join(TOKENS)}")
        if any(sep in self.outputTemplate for sep in ("/", "\\", "\x00")) or self.outputTemplate in (".", ".."):
            raise self.invalid("outputTemplate", self.outputTemplate,
                               "it names a file, not a path (put directories in outputDirectory)")
        if "\x00" in self.outputDirectory:
            raise self.invalid("outputDirectory", self.outputDirectory, "a path cannot contain NUL")

    # -- execution contexts: a target, not an action --------------------------------------------
    def can_execute_on(self, view: Any) -> tuple[bool, str]:
        return False, self._not_an_action()

    def can_execute_global(self) -> tuple[bool, str]:
        return False, self._not_an_action()

    def _not_an_action(self) -> str:
        return ("ImageContainer is a target, not an action: run a process icon over it with "
                "'exec ICON CONTAINER' (Python: container.execute_process(instance))")

    # -- output names -----------------------------------------------------------------------------
    def output_path(self, source: str | os.PathLike[str], *, when: _dt.datetime | None = None) -> Path:
        """Where the output of input file ``source`` goes (``when`` fills ``&datetime;``)."""
        src = Path(source).expanduser()
        name, extension = _split_name(src)
        stamp = (when or _dt.datetime.now(_dt.timezone.utc)).strftime("%Y%m%d%H%M%S")
        values = {"&filename;": name, "&extension;": extension, "&datetime;": stamp}
        file_name = _TOKEN.sub(lambda m: values.get(m.group(0), m.group(0)), self.outputTemplate)
        folder = Path(self.outputDirectory.strip()).expanduser() if self.outputDirectory.strip() else src.parent
        return folder / file_name

    # -- running a process over the items ----------------------------------------------------------
    def execute_process(
        self,
        instance: Process,
        *,
        workspace: Workspace | None = None,
        executor: Any = None,
        workers: int | None = None,
        scheduler: str | None = None,
        on_item: ItemCallback | None = None,
        name: str = "ImageContainer",
        when: _dt.datetime | None = None,
    ) -> ContainerRun:
        """Run ``instance`` over every enabled item; one :class:`ItemOutcome` per item.

        File items go through :func:`process_file` on ``executor``: a kind (``serial``,
        ``processes`` — a local pool of ``workers`` — or ``dask`` at ``scheduler``), an
        executor of :mod:`procfw.batch`, or None (the current one, else serially); view
        items run in this process on ``workspace``'s views, as one history step each.
        A failing item is recorded with its reason and, with ``onError=Continue``, the
        others go on.  Problems that concern the whole run (``instance`` is a placeholder
        or a container itself, the output directory is missing, two inputs would share an
        output) raise ExecutionError before anything runs.  ``name`` (the icon id) labels
        the summary.
        """
        self._check_runnable(instance)
        if isinstance(executor, str) and executor not in EXECUTORS:
            raise ExecutionError(f"{self.process_id}: unknown executor {executor!r}; use one of {', '.join(EXECUTORS)}")
        if workers is not None and workers < 1:
            raise ExecutionError(f"{self.process_id}: workers = {workers}: must be at least 1")
        when = when or _dt.datetime.now(_dt.timezone.utc)
        outcomes: dict[int, ItemOutcome] = {}

        def done(outcome: ItemOutcome) -> None:
            outcomes[outcome.index] = outcome
            if on_item is not None:
                on_item(outcome)

        for index, (enabled, path, view_id) in enumerate(self.images):
            if not enabled:
                done(ItemOutcome(index=index, source=path or view_id, kind="file" if path else "view",
                                 error="disabled"))
        files = self._plan_files(when, done)
        stop = self.onError != "Continue"
        if stop and any(o.status == "failed" for o in outcomes.values()):
            stopped = True
            for index, path, out in files:
                done(ItemOutcome(index=index, source=path, output=str(out),
                                 error=f"not run: stopped by onError={self.onError}"))
        else:
            stopped = self._run_files(instance, files, executor, workers, scheduler, done, stop)
        views = [(i, v) for i, (enabled, _, v) in enumerate(self.images) if enabled and v]
        for index, view_id in views:
            if stopped:
                done(ItemOutcome(index=index, source=view_id, kind="view",
                                 error=f"not run: stopped by onError={self.onError}"))
                continue
            outcome = self._run_view(instance, index, view_id, workspace)
            done(outcome)
            stopped = stop and outcome.status == "failed"
        ordered = tuple(outcomes[i] for i in sorted(outcomes))
        return ContainerRun(process_id=instance.process_id, container=name, outcomes=ordered, stopped=stopped)

    def _check_runnable(self, instance: Process) -> None:
        if getattr(instance, "is_target_container", False):
            raise ExecutionError(f"{instance.process_id} is a target, not an action: it cannot run over a container")
        if isinstance(instance, UnknownProcess):
            _, why = instance.can_execute_global()
            raise ExecutionError(f"{instance.process_id} cannot run over a container: {why}")

    def _plan_files(self, when: _dt.datetime, done: ItemCallback) -> list[tuple[int, str, Path]]:
        """``(index, input, output)`` of the enabled file items; refuses runs that would clash."""
        directory = self.outputDirectory.strip()
        if directory and not Path(directory).expanduser().is_dir():
            raise ExecutionError(f"{self.process_id}: outputDirectory {directory!r} does not exist")
        rows = [(i, os.path.expanduser(p)) for i, (enabled, p, _) in enumerate(self.images) if enabled and p]
        inputs = {os.path.abspath(p): p for _, p in rows}
        planned: list[tuple[int, str, Path]] = []
        taken: dict[str, str] = {}
        for index, path in rows:
            out = self.output_path(path, when=when)
            key = os.path.abspath(out)
            if key in inputs:
                done(ItemOutcome(index=index, source=path, status="failed", output=str(out),
                                 error=f"the output {out} would replace the input file {inputs[key]}; input files "
                                       "are never modified (change outputTemplate or outputDirectory)"))
                continue
            if key in taken:
                raise ExecutionError(
                    f"{self.process_id}: {taken[key]} and {path} would both be written to {out}; "
                    f"outputTemplate {self.outputTemplate!r} needs &filename;"
                )
            taken[key] = path
            planned.append((index, path, out))
        return planned

    def _run_files(
        self, instance: Process, files: list[tuple[int, str, Path]], executor: Any, workers: int | None,
        scheduler: str | None, done: ItemCallback, stop: bool,
    ) -> bool:
        if not files:
            return False
        from procfw.icons.json import to_envelope

        icon_json = json.dumps(to_envelope(instance))
        jobs = [(icon_json, path, str(out), not self.dontOverwrite, "", "") for _, path, out in files]
        stopped = False
        reported: set[int] = set()
        results = _map_jobs(jobs, executor, workers, scheduler, type(instance).worker_preload)
        try:
            for job_index, result in results:
                index, path, out = files[job_index]
                if isinstance(result, BaseException):
                    outcome = ItemOutcome(index=index, source=path, status="failed", output=str(out),
                                          error=_reason(result))
                elif isinstance(result, Mapping) and result.get("ok"):
                    outcome = ItemOutcome(index=index, source=path, status="ok", output=str(result.get("output", out)))
                else:
                    error = result.get("error", "failed") if isinstance(result, Mapping) else f"unexpected {result!r}"
                    outcome = ItemOutcome(index=index, source=path, status="failed", output=str(out), error=error)
                if outcome.status == "failed":
                    log.info("%s: %s failed: %s", self.process_id, path, outcome.error)
                done(outcome)
                reported.add(index)
                if stop and outcome.status == "failed":
                    stopped = True
                    break
        finally:
            results.close()  # stops the executor: jobs not started never run
        if stopped:  # jobs that never reported: not run (a pool may have finished a few already)
            for index, path, out in files:
                if index not in reported:
                    done(ItemOutcome(index=index, source=path, output=str(out),
                                     error=f"not run: stopped by onError={self.onError}"))
        return stopped

    def _run_view(self, instance: Process, index: int, view_id: str, workspace: Workspace | None) -> ItemOutcome:
        if workspace is None:
            return ItemOutcome(index=index, source=view_id, kind="view", status="failed",
                               error="a view item needs a workspace (no workspace was given)")
        try:
            view = workspace.view(view_id)
            instance.execute_on(view)
        except Exception as exc:  # noqa: BLE001 - one failing item must not stop the others
            return ItemOutcome(index=index, source=view_id, kind="view", status="failed", error=_reason(exc))
        return ItemOutcome(index=index, source=view_id, kind="view", status="ok")

    # -- PixInsight XPSM form ----------------------------------------------------------------------
    @classmethod
    def from_xpsm_elements(cls, elements: Sequence[RawElement], warnings: list[str], where: str) -> dict[str, Any]:
        """Parameter values from the child elements of an XPSM ``<instance class="ImageContainer">``.

        Raises ValueError on an element or attribute procfw does not know (the reader then
        keeps the instance as a placeholder, so nothing is lost).
        """
        values: dict[str, Any] = {}
        rows: list[tuple[bool, str, str]] = []
        for element in elements:
            if element.tag in ("description", "time"):
                continue
            if element.tag == "policies":
                _only_attributes(element, ("onError",))
                if element.get("onError") is not None:
                    values["onError"] = element.get("onError")
            elif element.tag == "flags":
                _only_attributes(element, _FLAGS)
                for flag in _FLAGS:
                    text = element.get(flag)
                    if text is not None:
                        values[flag] = _flag(text, element, flag)
            elif element.tag in ("outputDirectory", "outputTemplate"):
                _only_attributes(element, ())
                values[element.tag] = element.text or ""
            elif element.tag in ("image", "view"):
                _only_attributes(element, ("enabled",))
                enabled = _flag(element.get("enabled") or "true", element, "enabled")
                text = (element.text or "").strip()
                rows.append((enabled, text, "") if element.tag == "image" else (enabled, "", text))
            else:
                raise ValueError(f"element <{element.tag}> (line {element.line}) is not part of an ImageContainer")
        values["images"] = tuple(rows)
        return values

    def to_xpsm_elements(self) -> list[RawElement]:
        """The child elements of this instance in PixInsight's XPSM form."""
        out = [
            RawElement(tag="policies", attributes=[("onError", _ON_ERROR_XPSM[self.onError])]),
            RawElement(tag="flags", attributes=[(f, "true" if getattr(self, f) else "false") for f in _FLAGS]),
        ]
        if self.outputDirectory:
            out.append(RawElement(tag="outputDirectory", text=self.outputDirectory))
        out.append(RawElement(tag="outputTemplate", text=self.outputTemplate))
        for enabled, path, view_id in self.images:
            tag, text = ("image", path) if path else ("view", view_id)
            out.append(RawElement(tag=tag, attributes=[("enabled", "true" if enabled else "false")], text=text))
        return out


def _only_attributes(element: RawElement, allowed: Sequence[str]) -> None:
    """Refuse (ValueError) attributes other than ``allowed`` and any child element: nothing may be lost."""
    extra = [name for name, _ in element.attributes if name not in allowed]
    if extra:
        raise ValueError(f"<{element.tag}> (line {element.line}) has unknown attribute(s) {', '.join(extra)}")
    if element.children:
        raise ValueError(f"<{element.tag}> (line {element.line}) has unexpected child element "
                         f"<{element.children[0].tag}>")


def _flag(text: str, element: RawElement, name: str) -> bool:
    try:
        return _TRUE_TEXT[text.strip().lower()]
    except KeyError:
        raise ValueError(f"<{element.tag}> (line {element.line}) {name}={text!r} is not true/false") from None
