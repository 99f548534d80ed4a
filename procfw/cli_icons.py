"""The ``procfw icons`` subcommand: ``convert IN OUT [--overwrite]`` and ``list FILE``.

Kept outside ``procfw.icons`` so that building the CLI parser imports nothing heavy; wired into
:data:`procfw.cli.SUBCOMMANDS` as ``("icons", HELP, configure, run)``.
"""

from __future__ import annotations

import argparse
import re
import sys

__all__ = ["HELP", "configure", "run"]

HELP = "convert and list process icon files (.xpsm, .json, .pcs; .js write-only)"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``convert`` and ``list`` subcommands to ``parser``."""
    sub = parser.add_subparsers(dest="icons_command", metavar="ACTION")
    convert = sub.add_parser(
        "convert", help="convert an icon file to another format (chosen by the output extension)",
        description="Read IN (.xpsm, .json, .pcs) and write OUT (.xpsm, .json, .pcs, .js). Placeholders for "
        "processes that are not installed are written back unchanged.",
    )
    convert.add_argument("input", metavar="IN", help="icon file to read")
    convert.add_argument("output", metavar="OUT", help="icon file to write")
    convert.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    listing = sub.add_parser("list", help="list the icons of a file", description="List the icons of an icon file.")
    listing.add_argument("file", metavar="FILE", help="icon file to read (.xpsm, .json, .pcs)")
    parser.set_defaults(icons_parser=parser)


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _printable(text: str) -> str:
    """``text`` with control characters (terminal escape sequences, line separators) shown as escapes."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else
                        f"\\u{ord(m.group()):04x}", text)


def _print_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        print(f"warning: {_printable(warning)}", file=sys.stderr)


def _convert(args: argparse.Namespace) -> int:
    from procfw.icons import load_icons, save_icons

    result = load_icons(args.input)
    _print_warnings(result.warnings)
    save_icons(args.output, result.icons, overwrite=args.overwrite, meta=result.meta)  # its warnings are logged
    placeholders = result.placeholders
    note = f" ({len(placeholders)} kept as placeholders)" if placeholders else ""
    print(f"{args.input} -> {args.output}: {len(result.icons)} icons{note}")
    missing = result.missing_processes()
    if missing:
        print(f"not installed: {', '.join(missing)}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from procfw.icons import load_icons
    from procfw.unknown import UnknownProcess, placeholders_in

    result = load_icons(args.file)
    _print_warnings(result.warnings)
    width = max((len(i) for i in result.icons), default=0)
    for icon_id, instance in result.icons.items():
        line = f"{icon_id:<{width}}  {instance.process_id}"
        count = len(getattr(instance, "items", ()) or ())
        if count and not isinstance(instance, UnknownProcess):
            line += f" ({count} children)"
        missing = placeholders_in(instance)
        if isinstance(instance, UnknownProcess):
            line += "  [placeholder: not installed]"
        elif missing:
            line += f"  [contains placeholders: {', '.join(sorted(set(missing)))}]"
        meta = result.meta.get(icon_id)
        if meta is not None and meta.instance.description:
            line += f"  -- {meta.instance.description.splitlines()[0]}"
        print(_printable(line))
    print(f"{len(result.icons)} icons, {len(result.placeholders)} with placeholders")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``procfw icons ACTION``; returns the exit code (ProcfwError propagates to the CLI)."""
    action = getattr(args, "icons_command", None)
    if action == "convert":
        return _convert(args)
    if action == "list":
        return _list(args)
    parser = getattr(args, "icons_parser", None)
    if parser is not None:
        parser.print_help(sys.stderr)
    return 2
