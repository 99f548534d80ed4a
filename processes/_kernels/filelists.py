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
    Runs one function per enabled row, catching each frame's failure so the others still
    run; returns one :class:`FrameOutcome` per row (``onError``: ``Continue`` records and
    goes on, ``Abort``/``AskUser`` stop at the first failure with an ExecutionError).
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from procfw.errors import ExecutionError, ParameterError, ProcfwError
from procfw.image import Image
from procfw.params import Boolean, String, Table
from procfw.process import ExecutionContext

__all__ = [
    "FileListTable",
    "FrameOutcome",
    "expand_paths",
    "file_list_table",
    "output_file_path",
    "run_file_list",
    "check_output_paths",
    "summarize",
    "write_frame",
]

log = logging.getLogger(__name__)

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
    matches = sorted(p for p in glob.glob(text, recursive=True) if os.path.isfile(p))
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


FrameWork = Callable[[int, Path], tuple[Path, Mapping[str, Any]]]
"""``work(index, path) -> (output path written, per-frame results)``; raises on failure."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ProcfwError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename or ''}: {exc.strerror}".lstrip(": ")
    return f"{type(exc).__name__}: {exc}"


def run_file_list(
    rows: Sequence[tuple[bool, str]],
    work: FrameWork,
    *,
    process_id: str,
    on_error: str = "Continue",
    context: ExecutionContext | None = None,
) -> list[FrameOutcome]:
    """Run ``work`` for each enabled ``(enabled, path)`` row; one outcome per row.

    A frame that raises is recorded as failed with the reason (the message of a procfw
    error, or the exception type and message).  ``on_error`` other than ``Continue``
    stops at the first failure with an :class:`ExecutionError` naming the frame.  When no
    frame succeeds an ExecutionError lists every failure.
    """
    outcomes: list[FrameOutcome] = []
    todo = [i for i, (enabled, _) in enumerate(rows) if enabled]
    for i, (enabled, path) in enumerate(rows):
        if not enabled:
            outcomes.append(FrameOutcome(index=i, path=path, enabled=False, status="skipped"))
    done = 0
    for i in todo:
        path = rows[i][1]
        if context is not None:
            context.report(done / max(len(todo), 1), f"{process_id}: {Path(path).name}")
        try:
            written, data = work(i, Path(path))
        except Exception as exc:  # noqa: BLE001 - one bad frame must not stop the batch
            reason = _reason(exc)
            log.warning("%s: %s failed: %s", process_id, path, reason)
            log.debug("%s: traceback for %s", process_id, path, exc_info=True)
            outcomes.append(FrameOutcome(index=i, path=path, status="failed", error=reason))
            if on_error != "Continue":
                raise ExecutionError(f"{process_id}: {path}: {reason} (onError={on_error}: stopped)") from exc
        else:
            outcomes.append(FrameOutcome(index=i, path=path, status="ok", output_path=str(written), data=dict(data)))
        done += 1
    if context is not None and todo:
        context.report(1.0, f"{process_id}: done")
    outcomes.sort(key=lambda o: o.index)
    failed = [o for o in outcomes if o.status == "failed"]
    if todo and len(failed) == len(todo):
        details = "; ".join(f"{o.path}: {o.error}" for o in failed)
        raise ExecutionError(f"{process_id}: no image could be processed ({details})")
    return outcomes


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
