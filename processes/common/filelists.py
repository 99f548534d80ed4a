"""File-list tables and the per-file loop of processes that run globally over image files.

:class:`FileListTable`
    A :class:`~procfw.params.Table` whose ``convert`` also accepts file names: a string
    that is not a table literal is a glob pattern (``"lights/*.fits"``, ``~`` expanded,
    ``**`` recursive), expanded in sorted order into one row per file with the path in
    ``path_column`` and every other cell at its column default (``enabled`` = true).  A
    list of strings/paths is expanded the same way, item by item.  So on the console
    ``-targetFrames="lights/*.fits"`` works for ImageCalibration, CosmeticCorrection and
    Debayer, and ImageIntegration (``images``) and StarAlignment (``targets``) can reuse
    it by declaring ``FileListTable(columns=..., path_column="path" / "image")``.

:func:`output_file_path`
    PixInsight's output naming: ``directory / prefix + name + postfix + extension``, with
    the input's directory and extension when those are empty.

:func:`run_file_list`
    Runs every enabled row, catching each frame's failure so the others still run;
    returns one :class:`FrameOutcome` per row, in row order (``onError``: ``Continue``
    records and goes on, ``Abort``/``AskUser`` stop at the first failure with an
    ExecutionError).  Files go through an executor (:mod:`procfw.batch`: the one given,
    else the current one of :func:`procfw.batch.use_executor`, else serially here): each
    frame is the item ``{"icon": JSON icon text, "index": i, "path": p, "options": {...}}``
    of the module-level :func:`frame_task`, which rebuilds the process instance from its
    icon and calls its ``process_file(index, path, options)``.  Frames finish in any
    order; progress counts them as they finish.  Work that needs the workspace (views)
    passes a ``work`` closure instead and runs here.

:func:`worker_state`
    Per-process cache of one value (master frames, a reference star list) that every
    frame of a run needs: loaded once per worker, keyed by what it depends on.

:func:`consumed_inputs`
    A context in which the input files of file-list runs are intermediates read for the
    last time (a pipeline's debayered frames, read by registration): each is dropped from
    the page cache (:func:`procfw.io.pagecache.drop_cached`) when its frame is done.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs
import numpy as np

from procfw.errors import ExecutionError, ParameterError, ProcfwError
from procfw.image import Image
from procfw.io.pagecache import drop_cached
from procfw.params import Boolean, String, Table
from procfw.paths import iter_glob
from procfw.process import ExecutionContext, Process

if TYPE_CHECKING:
    from procfw.io.fits import PendingWrite

__all__ = [
    "FRAME_WORKER_PRELOAD",
    "FileListTable",
    "as_written",
    "FileProcess",
    "FrameOutcome",
    "expand_paths",
    "file_list_table",
    "frame_icon",
    "frame_task",
    "instance_from_icon",
    "process_frame",
    "worker_state",
    "clear_worker_state",
    "file_key",
    "output_file_path",
    "run_file_list",
    "runs_remotely",
    "check_output_paths",
    "consumed_inputs",
    "float_fits_bitpix",
    "start_frame_write",
    "summarize",
    "write_frame",
]

log = logging.getLogger(__name__)

FRAME_WORKER_PRELOAD = ("processes.workflows.preprocess.worker",)
"""The ``worker_preload`` (:class:`procfw.process.Process`) of ImageCalibration and CosmeticCorrection: the
module that imports the per-frame processes and loads their compiled kernels in a local pool's fork server,
once for all its workers (:mod:`processes.workflows.preprocess.worker`).  Measured on a 12-frame StarAlignment
run on 2 workers (``-executor=processes``), when StarAlignment named it: process-tree CPU 2.3–2.7 → 1.9 s and
peak PSS 352 → 247 MB.  Debayer and StarAlignment preload their own kernels alone
(:mod:`processes.debayer.worker`, :mod:`processes.staralignment.worker`)."""

_GLOB_CHARS = frozenset("*?[")


def expand_paths(pattern: str | os.PathLike[str]) -> list[str]:
    """File paths for ``pattern``: a glob (sorted, ``~`` expanded, ``**`` recursive) or one path.

    A pattern without wildcard characters is returned as it is (even if the file does not
    exist yet: execution reports missing files); a glob that matches no file raises
    ParameterError.
    """
    text = os.path.expanduser(os.fspath(pattern).strip())
    if not text:
        raise ParameterError("an empty file name or pattern")
    if not (_GLOB_CHARS & set(text)):
        return [text]
    matches = list(iter_glob(text, files_only=True))  # procfw.paths order; ** never loops on symlinks
    if not matches:
        raise ParameterError(f"no file matches the pattern {text!r}")
    return matches


def _looks_like_literal(text: str) -> bool:
    return text.lstrip().startswith("[")


@attrs.frozen(kw_only=True)
class FileListTable(Table):
    """A table of files whose values may also be given as glob patterns or lists of paths."""

    path_column: str = "path"

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.column(self.path_column)  # raises if the column does not exist

    def convert(self, value: Any) -> tuple[tuple[Any, ...], ...]:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if isinstance(value, str):
            if _looks_like_literal(value):
                from procfw.literals import parse_literal

                try:
                    parsed = parse_literal(value)
                except ValueError:
                    return super().convert(self._rows_for([value]))  # a glob such as "[ab]*.fits"
                return self.convert(parsed)  # rows, or a list of names/patterns
            return super().convert(self._rows_for([value]))
        if isinstance(value, Sequence) and value and all(isinstance(v, (str, os.PathLike)) for v in value):
            return super().convert(self._rows_for(value))
        return super().convert(value)

    def _rows_for(self, patterns: Sequence[str | os.PathLike[str]]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for pattern in patterns:
            try:
                paths = expand_paths(pattern)
            except ParameterError as exc:
                raise self._error(os.fspath(pattern), str(exc)) from None
            rows.extend({self.path_column: p} for p in paths)
        return rows


def file_list_table(description: str, *, path_column: str = "path", path_description: str = "") -> FileListTable:
    """The common two-column file table ``(enabled, <path_column>)`` of PixInsight's batch processes."""
    return FileListTable(
        columns=(
            Boolean(id="enabled", default=True, description="Whether this file is processed."),
            String(id=path_column, description=path_description or "Path of the image file."),
        ),
        path_column=path_column,
        description=description,
    )


def output_file_path(
    source: str | os.PathLike[str], *, directory: str = "", prefix: str = "", postfix: str = "", extension: str = ""
) -> Path:
    """Where the output of ``source`` goes (PixInsight's rules).

    ``directory`` empty → the source's directory; ``extension`` empty → the source's
    extension (a missing leading dot is added).
    """
    src = Path(source)
    folder = Path(directory.strip()).expanduser() if directory.strip() else src.parent
    name, source_ext = src.name, src.suffix
    for compound in (".fits.gz", ".fit.gz", ".fts.gz"):
        if name.lower().endswith(compound):
            source_ext = name[-len(compound) :]
            break
    if source_ext:
        name = name[: -len(source_ext)]
    ext = extension.strip() or source_ext
    if not ext:
        raise ExecutionError(f"{src}: cannot determine an output file extension")
    if not ext.startswith("."):
        ext = "." + ext
    return folder / f"{prefix}{name}{postfix}{ext}"


@attrs.frozen(kw_only=True)
class FrameOutcome:
    """What happened to one row of a file list."""

    index: int
    path: str
    enabled: bool = True
    status: str = "skipped"  # "ok", "failed" or "skipped"
    output_path: str = ""
    error: str = ""
    data: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def ok(self) -> bool:
        """True when the frame was processed and written."""
        return self.status == "ok"

    def as_output(self) -> dict[str, Any]:
        """A JSON-friendly dict for ProcessOutput.outputs."""
        return {
            "targetFrame": self.path,
            "enabled": self.enabled,
            "status": self.status,
            "outputFilePath": self.output_path,
            "error": self.error,
            **dict(self.data),
        }


FrameWork = Callable[[int, Path], tuple[Path | str, Mapping[str, Any]]]
"""``work(index, path) -> (output path written, per-frame results)``; raises on failure."""


@runtime_checkable
class FileProcess(Protocol):
    """A process whose files can be processed one by one, by any worker."""

    process_id: str

    def process_file(self, index: int, path: Path, options: Mapping[str, Any]) -> tuple[Path | str, Mapping[str, Any]]:
        """Process row ``index`` (file ``path``): ``(output written, per-frame results)``; raises on failure."""
        ...


def _reason(exc: BaseException) -> str:
    from procfw.batch import describe_exception

    return describe_exception(exc)


# -- one frame, anywhere ---------------------------------------------------------------------------
def frame_icon(instance: Process) -> str:
    """``instance`` as procfw JSON icon text (an envelope), the form sent to workers."""
    from procfw.icons.json import to_envelope

    return json.dumps(to_envelope(instance), ensure_ascii=False, allow_nan=False, separators=(",", ":"))


_ICONS: dict[str, Process] = {}


def instance_from_icon(icon: str) -> Process:
    """The process instance of JSON icon text (from :func:`frame_icon`); the process must be installed."""
    cached = _ICONS.get(icon)
    if cached is not None:
        return cached
    from procfw.icons.json import from_envelope
    from procfw.unknown import UnknownProcess

    instance, _ = from_envelope(json.loads(icon))
    if isinstance(instance, UnknownProcess):
        raise ExecutionError(f"the process {instance.process_id} is not installed in this worker "
                             "(install procfw and the plugin that provides it)")
    if len(_ICONS) >= 8:
        _ICONS.clear()
    _ICONS[icon] = instance
    return instance


def process_frame(icon: str, index: int, path: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One frame of a batch run, by any worker: ``{"output": path written, "data": per-frame results}``.

    ``icon`` is the process instance as JSON icon text; the instance's
    ``process_file(index, Path(path), options)`` does the work.
    """
    instance = instance_from_icon(icon)
    if not isinstance(instance, FileProcess):
        raise ExecutionError(f"{instance.process_id} cannot process files one by one")
    written, data = instance.process_file(index, Path(path), dict(options or {}))
    return {"output": str(written), "data": dict(data)}


def frame_task(item: Mapping[str, Any]) -> dict[str, Any]:
    """The executor task of one frame: ``item`` = ``{"icon", "index", "path", "options"}`` (:func:`process_frame`);
    with ``"dropInput": True`` the input file is then dropped from the page cache (:func:`consumed_inputs`)."""
    try:
        return process_frame(item["icon"], int(item["index"]), str(item["path"]), item.get("options"))
    finally:
        if item.get("dropInput"):
            drop_cached(str(item["path"]))


_CONSUMED: contextvars.ContextVar[bool] = contextvars.ContextVar("procfw_consumed_inputs", default=False)


@contextlib.contextmanager
def consumed_inputs() -> Iterator[None]:
    """Inside this context, the input files of :func:`run_file_list` runs with a process instance are read for
    the last time: each is dropped from the page cache once its frame is done, wherever it ran.

    For a pipeline's intermediate frames (nothing changes in the files; a later read comes
    from the disk): their memory goes to the next frames' outputs instead of fresh pages
    (see :mod:`procfw.io.pagecache`).
    """
    token = _CONSUMED.set(True)
    try:
        yield
    finally:
        _CONSUMED.reset(token)


_STATE: dict[Any, tuple[Any, Any]] = {}
"""Per slot (the key's first element, a process id): (key, value)."""


def worker_state(key: Any, factory: Callable[[], Any]) -> Any:
    """The value ``factory()`` made for ``key``, kept for the next frames this process runs.

    One value is kept per *slot* — the first element of a tuple ``key``, by convention the
    process id — and a new key for the same slot replaces it, so a worker holds the
    masters or the reference of the steps it is working on (a chain of steps applied to
    each frame in one task, such as calibration then cosmetic correction, keeps one value
    each), never those of earlier runs of the same process.  Make ``key`` say everything
    the value depends on (parameters, file names, sizes and times).
    """
    slot = key[0] if isinstance(key, tuple) and key else key
    kept = _STATE.get(slot)
    if kept is not None and kept[0] == key:
        return kept[1]
    _STATE.pop(slot, None)  # the old value goes before the new one is made
    value = factory()
    _STATE[slot] = (key, value)
    return value


def clear_worker_state() -> None:
    """Forget the values kept by :func:`worker_state` in this process."""
    _STATE.clear()


def file_key(*paths: str | os.PathLike[str]) -> tuple[Any, ...]:
    """A cache key naming files by absolute path, size and modification time ('' for an empty name)."""
    out: list[Any] = []
    for path in paths:
        text = os.fspath(path).strip()
        if not text:
            out.append("")
            continue
        full = os.path.abspath(os.path.expanduser(text))
        try:
            stat = os.stat(full)
        except OSError:
            out.append((full, None))
        else:
            out.append((full, stat.st_size, stat.st_mtime_ns))
    return tuple(out)


def _resolved_executor(executor: Any) -> Any:
    if executor is not None:
        return executor
    from procfw.batch import current_executor

    return current_executor()


def _remote_instance_ok(instance: Process) -> bool:
    """Whether ``instance`` survives the trip through its icon (else its frames run here)."""
    try:
        return instance_from_icon(frame_icon(instance)) == instance
    except (ProcfwError, ValueError, TypeError) as exc:
        log.warning("%s: the instance cannot be sent to workers (%s); its frames run in this process",
                    instance.process_id, exc)
        return False


def runs_remotely(instance: Process, executor: Any = None) -> bool:
    """Whether :func:`run_file_list` would send ``instance``'s frames to other processes (``executor``, default
    the current one, is not serial and the instance survives the trip through its icon)."""
    chosen = _resolved_executor(executor)
    return chosen is not None and chosen.kind != "serial" and _remote_instance_ok(instance)


def run_file_list(
    rows: Sequence[tuple[bool, str]],
    work: FrameWork | None = None,
    *,
    process_id: str,
    on_error: str = "Continue",
    context: ExecutionContext | None = None,
    instance: Process | None = None,
    options: Mapping[str, Any] | None = None,
    executor: Any = None,
) -> list[FrameOutcome]:
    """Run each enabled ``(enabled, path)`` row; one outcome per row, in row order.

    With ``instance`` (a :class:`FileProcess`), each frame is
    ``instance.process_file(index, path, options)``, run through ``executor`` (default:
    :func:`procfw.batch.current_executor`; none: serially in this process); ``options``
    must be simple data.  Otherwise ``work(index, path)`` runs here, frame by frame.

    A frame that raises is recorded as failed with the reason (the message of a procfw
    error, or the exception type and message).  ``on_error`` other than ``Continue``
    stops at the first failure with an :class:`ExecutionError` naming the frame (frames
    not yet started are cancelled).  When no frame succeeds an ExecutionError lists every
    failure.
    """
    if (work is None) == (instance is None):
        raise TypeError("run_file_list needs either work or instance")
    outcomes: dict[int, FrameOutcome] = {}
    todo = [i for i, (enabled, _) in enumerate(rows) if enabled]
    for i, (enabled, path) in enumerate(rows):
        if not enabled:
            outcomes[i] = FrameOutcome(index=i, path=path, enabled=False, status="skipped")
    total = max(len(todo), 1)
    if context is not None and todo:
        context.report(0.0, f"{process_id}: {len(todo)} frame{'s' if len(todo) != 1 else ''}")
    frames = _frames(rows, todo, work, instance, options, executor)
    try:
        for done, (i, outcome) in enumerate(frames, start=1):
            path = rows[i][1]
            if isinstance(outcome, BaseException):
                reason = _reason(outcome)
                log.warning("%s: %s failed: %s", process_id, path, reason)
                details = getattr(outcome, "details", "")
                log.debug("%s: traceback for %s:\n%s", process_id, path, details,
                          exc_info=None if details else outcome)
                outcomes[i] = FrameOutcome(index=i, path=path, status="failed", error=reason)
                if on_error != "Continue":
                    raise ExecutionError(f"{process_id}: {path}: {reason} (onError={on_error}: stopped)") from outcome
            else:
                written, data = outcome
                outcomes[i] = FrameOutcome(index=i, path=path, status="ok", output_path=str(written),
                                           data=dict(data))
            if context is not None:
                context.report(done / total, f"{Path(path).name} ({done}/{len(todo)})")
    finally:
        frames.close()
        clear_worker_state()
    if context is not None and todo:
        context.report(1.0, f"{process_id}: done")
    ordered = [outcomes[i] for i in sorted(outcomes)]
    failed = [o for o in ordered if o.status == "failed"]
    if todo and len(failed) == len(todo):
        details = "; ".join(f"{o.path}: {o.error}" for o in failed)
        raise ExecutionError(f"{process_id}: no image could be processed ({details})")
    return ordered


def _frames(
    rows: Sequence[tuple[bool, str]], todo: list[int], work: FrameWork | None, instance: Process | None,
    options: Mapping[str, Any] | None, executor: Any,
) -> Generator[tuple[int, Any], None, None]:
    """``(row index, (written, data) or exception)`` for each row of ``todo``, as frames finish."""
    if instance is not None:
        chosen = _resolved_executor(executor)
        drop = _CONSUMED.get()
        if chosen is not None and chosen.kind != "serial" and len(todo) > 0 and _remote_instance_ok(instance):
            icon = frame_icon(instance)
            # absolute input paths: a worker elsewhere (dask) does not share this process's working directory
            items = [{"icon": icon, "index": i, "path": os.path.abspath(os.path.expanduser(rows[i][1])),
                      "options": dict(options or {}), **({"dropInput": True} if drop else {})} for i in todo]
            with contextlib.closing(chosen.map_unordered(frame_task, items)) as results:
                for k, outcome in results:
                    if not isinstance(outcome, BaseException):
                        outcome = (outcome["output"], outcome["data"])
                    yield todo[k], outcome
            return
        process_file = instance.process_file  # type: ignore[attr-defined]
        options_copy = dict(options or {})

        def local(index: int, path: Path) -> tuple[Path | str, Mapping[str, Any]]:
            try:
                return process_file(index, path, options_copy)
            finally:
                if drop:
                    drop_cached(path)

        work = local
    assert work is not None
    for i in todo:
        try:
            outcome: Any = work(i, Path(rows[i][1]))
        except Exception as exc:  # noqa: BLE001 - one bad frame must not stop the batch
            outcome = exc
        yield i, outcome


def summarize(process_id: str, outcomes: Sequence[FrameOutcome]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The ``outputs`` and ``messages`` of a batch run: per-frame data and a summary line."""
    counts = {s: sum(1 for o in outcomes if o.status == s) for s in ("ok", "failed", "skipped")}
    outputs = {
        "outputData": [o.as_output() for o in outcomes],
        "succeeded": counts["ok"],
        "failed": counts["failed"],
        "skipped": counts["skipped"],
    }
    lines = [f"{o.path}: failed: {o.error}" for o in outcomes if o.status == "failed"]
    lines.append(f"{process_id}: {counts['ok']} succeeded, {counts['failed']} failed, {counts['skipped']} skipped")
    return outputs, tuple(lines)


_FITS_BITPIX = {"i16": 16, "i32": 32, "f32": -32, "f64": -64}
_XISF_SAMPLES = {"i16": "UInt16", "i32": "UInt32", "f32": "Float32", "f64": "Float64"}
_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")


def write_frame(
    image: Image, path: str | os.PathLike[str], *, sample_format: str = "f32", overwrite: bool = False
) -> Path:
    """Write ``image`` atomically at ``sample_format`` (``i16``, ``i32``, ``f32``, ``f64``).

    FITS and XISF honour the sample format; other formats use their defaults.  An
    existing file is replaced only when ``overwrite`` is true.
    """
    target = Path(path)
    name = target.name.lower()
    if name.endswith(_FITS_SUFFIXES):
        from procfw.io.fits import write_fits

        return write_fits(image, target, overwrite=overwrite, bitpix=_FITS_BITPIX[sample_format])
    if name.endswith(".xisf"):
        from procfw.io.xisf import write_xisf

        return write_xisf(image, target, overwrite=overwrite, sample_format=_XISF_SAMPLES[sample_format])
    from procfw.io import write_image

    return write_image(image, target, overwrite=overwrite)


def float_fits_bitpix(path: str | os.PathLike[str], sample_format: str) -> int | None:
    """The BITPIX (-32 or -64) of the file :func:`write_frame` writes to ``path`` at ``sample_format``
    when it is a FITS file of floating point samples (gzipped or not); None otherwise."""
    bitpix = _FITS_BITPIX[sample_format]
    return bitpix if bitpix < 0 and Path(path).name.lower().endswith(_FITS_SUFFIXES) else None


def start_frame_write(image: Image, path: str | os.PathLike[str], *, sample_format: str = "f32",
                      overwrite: bool = False) -> PendingWrite | None:
    """Start :func:`write_frame` of ``image`` in a thread, its keywords given later (``finish``), when
    ``path`` is a plain FITS file of float samples (:func:`procfw.io.fits.start_write_fits`: the
    header written last, so ``image``'s keywords must make as many cards as the final ones);
    None otherwise (nothing started: the caller writes with :func:`write_frame`)."""
    bitpix = float_fits_bitpix(path, sample_format)
    if bitpix is None:
        return None
    from procfw.io.fits import start_write_fits

    return start_write_fits(image, path, overwrite=overwrite, bitpix=bitpix)  # None for a gzipped file


def as_written(image: Image, written: str | os.PathLike[str], sample_format: str = "f32") -> Image:
    """``image`` as a reader of the file ``written`` (just written from it at ``sample_format``) would see it.

    A FITS file of float32 samples written from float32 pixels holds exactly those
    pixels, so ``image`` itself is returned (with the properties the FITS reader gives);
    in every other case (integer or 64-bit samples, other formats) the file is read back.
    A chain of steps applied to a frame in one task uses this to hand each step exactly
    what it would have read from the previous step's output.
    """
    name = Path(written).name.lower()
    if sample_format == "f32" and image.pixels.dtype == np.float32 and name.endswith(_FITS_SUFFIXES) \
            and not name.endswith(".gz"):
        return Image(image.pixels, image.keywords, {**image.properties, "FITS:BITPIX": -32, "FITS:HDU": 0})
    from procfw.io import read_image

    return read_image(written)


def check_output_paths(process_id: str, pairs: Sequence[tuple[str, Path]], directory: str) -> None:
    """Fail before any work when the output directory is missing or two inputs share an output."""
    if directory.strip() and not Path(directory.strip()).expanduser().is_dir():
        raise ExecutionError(f"{process_id}: the output directory does not exist: {directory}")
    seen: dict[Path, str] = {}
    for source, out in pairs:
        key = Path(os.path.abspath(out))
        if key in seen:
            raise ExecutionError(
                f"{process_id}: {seen[key]} and {source} would both be written to {out}; "
                "use different output directories, prefixes or postfixes"
            )
        seen[key] = source
