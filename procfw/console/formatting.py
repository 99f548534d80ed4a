"""How the console shows things: process instances as command lines, outputs, JSON values."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from procfw.language.values import format_value
from procfw.params import ParameterKind, Table
from procfw.process import Process, ProcessResult

_KEY_ITEMS = 4
"""How many numbers an output may hold to be shown on the execution line itself."""

__all__ = ["aligned_table", "command_line", "elapsed", "execution_lines", "instance_lines", "jsonable", "show_output"]


def command_line(instance: Process) -> str:
    """``ProcessId -param=value ...`` for the parameters that differ from their defaults.

    A ProcessContainer shows its children in brackets: ``ProcessContainer [Invert, -NoOperation]``
    (``-`` marks a disabled child).
    """
    from procfw.container import ProcessContainer

    if isinstance(instance, ProcessContainer):
        inner = ", ".join(
            ("" if item.enabled else "-") + command_line(item.instance)
            + (f"@{'~' if item.mask.inverted else ''}{item.mask.window_id}" if item.mask is not None else "")
            for item in instance.items
        )
        return f"{instance.process_id} [{inner}]"
    words = [instance.process_id]
    schema = type(instance).schema()
    for pid, kind in schema.items():
        value = getattr(instance, pid)
        try:
            changed = value != kind.default_value
        except Exception:  # noqa: BLE001 - arrays and odd values: show them
            changed = True
        if kind.read_only or not changed:
            continue
        try:
            shown = kind.console(value)
        except Exception:  # noqa: BLE001 - a value its kind cannot format: show it as text
            shown = format_value(value)
        if isinstance(value, bool) and type(kind).__name__ == "Boolean":
            words.append(f"-{pid}{'+' if value else '-'}")
        else:
            words.append(f"-{pid}={shown}")
    return " ".join(words)


def instance_lines(instance: Process, indent: str = "") -> list[str]:
    """One line per instance; a container's children follow, indented."""
    from procfw.container import ProcessContainer

    if not isinstance(instance, ProcessContainer):
        return [indent + command_line(instance)]
    lines = [f"{indent}{instance.process_id} ({len(instance.items)} item{'s' if len(instance.items) != 1 else ''})"]
    for item in instance.items:
        child = instance_lines(item.instance, indent + "    ")
        if not item.enabled:
            child[0] = f"{indent}  - {child[0].lstrip()}  (disabled)"
        lines += child
    return lines


def jsonable(value: Any) -> Any:
    """A JSON-compatible form of a process output or console value."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return jsonable(value.tolist())
    if isinstance(value, Process):
        return command_line(value)
    return str(value)


def show_output(value: Any) -> str:
    """A process output value as one short line of text."""
    if hasattr(value, "shape") and hasattr(value, "tolist") and getattr(value, "ndim", 0) > 0:
        import numpy as np

        return np.array2string(np.asarray(value), threshold=12, precision=6)
    if hasattr(value, "item") and hasattr(value, "dtype"):
        value = value.item()
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show_output(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.8g}"  # outputs are for reading; --json keeps every digit
    return format_value(value)


def elapsed(seconds: float) -> str:
    """A duration as PixInsight's console shows it: ``0.012 s``, ``1.62 s``, ``01:02.35``."""
    if seconds >= 60:
        minutes, rest = divmod(seconds, 60)
        hours, minutes = divmod(int(minutes), 60)
        return (f"{hours}:" if hours else "") + f"{minutes:02d}:{rest:05.2f}"
    return f"{seconds:.3f} s" if seconds < 1 else f"{seconds:.2f} s"


def _scalar_text(value: Any) -> str | None:
    if hasattr(value, "item") and hasattr(value, "dtype") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, bool) or value is None:
        return None if value is None else format_value(value)
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else format_value(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and "\n" not in value and len(value) <= 60:
        return value
    return None


def _key_text(value: Any) -> str | None:
    """The output as words on the execution line, when it is a scalar or a few numbers."""
    if hasattr(value, "tolist") and getattr(value, "ndim", 0) == 1:
        value = value.tolist()
    if isinstance(value, (list, tuple)) and 0 < len(value) <= _KEY_ITEMS:
        words = [_scalar_text(v) for v in value]
        if all(w is not None and not isinstance(v, str) for w, v in zip(words, value)):
            return " ".join(w for w in words if w is not None)
        return None
    return _scalar_text(value)


def aligned_table(header: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    """Rows under a header, each column as wide as its widest cell; numbers right-aligned."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]

    def numeric(text: str) -> bool:
        try:
            float(text)
        except ValueError:
            return False
        return True

    def line(cells: list[str]) -> str:
        parts = [c.rjust(w) if numeric(c) else c.ljust(w) for c, w in zip(cells, widths)]
        return (indent + "  ".join(parts)).rstrip()

    return [line(header), *(line(row) for row in rows)]


CELL_WIDTH = 40
"""A table cell holding a list longer than this is shown by its shape (``--json`` has the values)."""


def _cell(value: Any) -> str:
    text = _key_text(value)  # a scalar, or a few numbers as words
    if text is not None:
        return text
    text = show_output(value)
    if isinstance(value, (list, tuple)) and len(text) > CELL_WIDTH:
        return f"[{_shape(value)} values]"
    return text


def _shape(value: Any) -> str:
    """``5`` for a list of five, ``5x5`` for five lists of five (ragged: the outer length)."""
    inner = {len(v) for v in value if isinstance(v, (list, tuple))}
    if len(inner) == 1 and all(isinstance(v, (list, tuple)) for v in value):
        return f"{len(value)}x{inner.pop()}"
    return str(len(value))


def _column_cell(column: ParameterKind, value: Any) -> str:
    """A table cell as its column's kind writes it (a Double at its precision); text as it is."""
    if isinstance(value, str) or _scalar_text(value) is None:
        return _cell(value)
    try:
        return column.console(value)
    except Exception:  # noqa: BLE001 - a cell its column cannot format: show it plainly
        return _cell(value)


def _is_record(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(_scalar_text(v) is not None for v in value.values())


def _table_lines(name: str, value: Any, kind: ParameterKind | None) -> list[str] | None:
    """An output that is a table (a Table parameter, rows of dicts, or a dict of dicts) as aligned lines."""
    if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
        columns = list(dict.fromkeys(k for v in value.values() for k in v))
        rows = [[str(key), *(_cell(v.get(c, "")) for c in columns)] for key, v in value.items()]
        return [f"  {name}:", *aligned_table(["", *columns], rows, indent="    ")]
    # rows of dicts first: a run output may be richer than the read-only Table of the same id
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, dict) for v in value):
        columns = list(dict.fromkeys(k for v in value for k in v))
        rows = [[_cell(v.get(c, "")) for c in columns] for v in value]
        return [f"  {name}: {len(rows)} row{'s' if len(rows) != 1 else ''}", *aligned_table(columns, rows, "    ")]
    if isinstance(kind, Table) and isinstance(value, (list, tuple)):
        header = [c.id for c in kind.columns]
        rows = [[_column_cell(column, cell) for column, cell in zip(kind.columns, row)] for row in value]
        return [f"  {name}: {len(rows)} row{'s' if len(rows) != 1 else ''}", *aligned_table(header, rows, "    ")]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (list, tuple)) for v in value) \
            and len({len(v) for v in value}) == 1:  # rows of cells with no column names: numbered columns
        rows = [[_cell(cell) for cell in row] for row in value]
        header = [str(i) for i in range(len(rows[0]))]
        return [f"  {name}: {len(rows)} row{'s' if len(rows) != 1 else ''}", *aligned_table(header, rows, "    ")]
    return None


def _output_text(key: str, value: Any, schema: Mapping[str, ParameterKind]) -> str | None:
    """An output's words on the execution line: a read-only parameter's value as its kind
    writes it into files (its precision: ImageIntegration's noise ``1.734e-02``), the value of
    another parameter of the same id as a console literal, else :func:`_key_text`."""
    kind = schema.get(key)
    if kind is not None and not isinstance(kind, Table) and _scalar_text(value) is not None:
        try:
            return kind.format(value) if kind.read_only else kind.console(value)
        except Exception:  # noqa: BLE001 - a value its kind cannot format: show it plainly
            pass
    return _key_text(value)


def _declared_key_words(
    outputs: Mapping[str, Any], keys: Sequence[Any], schema: Mapping[str, ParameterKind]
) -> list[str]:
    words = []
    for key in keys:
        label, ids = (key, (key,)) if isinstance(key, str) else key
        texts = [_output_text(i, outputs[i], schema) for i in ids if i in outputs]
        if texts and all(t is not None for t in texts):
            words.append(f"{label} {' '.join(t for t in texts if t is not None)}")
    return words


def execution_lines(result: ProcessResult, seconds: float, process: type[Process]) -> list[str]:
    """What the console prints for one execution, as PixInsight's Process Console does: one
    line ``ProcessId: target -> created, time, key outputs``, then any table output aligned
    under it and any other output on a line of its own.

    The key outputs are those the process declares (``Process.key_outputs``; its other
    scalar outputs are left to ``--json``), else every scalar or short list of numbers."""
    where = result.target or "global"
    if result.created:
        where += " -> " + ", ".join(result.created)
    words = [f"{result.process_id}: {where}", elapsed(seconds)]
    schema = process.schema()
    extra: list[str] = []
    declared = process.key_outputs
    if declared is not None:
        words += _declared_key_words(result.outputs, declared, schema)
    records = {k: v for k, v in result.outputs.items() if _is_record(v)}
    if records:  # outputs that are records of scalars (Statistics' channels): one table, a row each
        columns = list(dict.fromkeys(c for v in records.values() for c in v))
        rows = [[key, *(_cell(v.get(c, "")) for c in columns)] for key, v in records.items()]
        extra += aligned_table(["", *columns], rows)
    for key, value in result.outputs.items():
        if key in records:
            continue
        kind = schema.get(key)
        table = _table_lines(key, value, kind)
        if table is not None:
            extra += table
            continue
        text = _output_text(key, value, schema)
        if text is None:
            extra.append(f"  {key} = {show_output(value)}")
        elif declared is None:
            words.append(f"{key} {text}")
    return [", ".join(words), *extra]
