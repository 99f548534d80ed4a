"""Human-readable descriptions of processes and their parameters (for help)."""

from __future__ import annotations

from procfw.process import Process


def describe_process(cls: type[Process]) -> str:
    """A help text: id, aliases, description, and one line per parameter (id, kind, default, range)."""
    lines = [f"{cls.process_id} (version {cls.process_version})"]
    if cls.process_aliases:
        lines.append(f"  aliases: {', '.join(cls.process_aliases)}")
    if cls.categories:
        lines.append(f"  categories: {', '.join(cls.categories)}")
    if cls.description:
        lines.append(f"  {cls.description}")
    flags = []
    if not cls.is_history_updater:
        flags.append("not a history updater")
    if not cls.is_maskable:
        flags.append("not maskable")
    if flags:
        lines.append(f"  ({'; '.join(flags)})")
    schema = cls.schema()
    if schema:
        lines.append("  parameters:")
        for id_, kind in schema.items():
            lines.append(f"    -{id_}: {kind.describe()}")
            if kind.description:
                lines.append(f"        {kind.description}")
    else:
        lines.append("  no parameters")
    return "\n".join(lines)
