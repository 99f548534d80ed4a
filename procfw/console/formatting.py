"""How the console shows things: process instances as command lines, outputs, JSON values."""

from __future__ import annotations

import math
from typing import Any

from procfw.console.commands import format_value
from procfw.process import Process

__all__ = ["command_line", "instance_lines", "jsonable", "show_output"]


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
