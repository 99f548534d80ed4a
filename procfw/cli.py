"""The ``procfw`` command.

Subcommands are registered in :data:`SUBCOMMANDS` as (name, help, configure, handler),
and heavy modules are imported only inside handlers so ``procfw --version`` starts fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from procfw import __version__

Handler = Callable[[argparse.Namespace], int]
Configure = Callable[[argparse.ArgumentParser], None]


def _configure_processes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--all", action="store_true", help="include aliases and categories")


def _run_processes(args: argparse.Namespace) -> int:
    from procfw.registry import processes

    for entry in processes.entries():
        line = entry.id
        if args.all:
            cls = processes.get(entry.id)
            extra = []
            if cls.process_aliases:
                extra.append("aliases: " + ", ".join(cls.process_aliases))
            if cls.categories:
                extra.append("categories: " + ", ".join(cls.categories))
            line += f"  ({'; '.join(extra)})" if extra else ""
        print(line)
    for failure in processes.failures:
        print(f"warning: {failure}", file=sys.stderr)
    return 0


def _configure_help_process(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("process_id", help="a process id or alias")


def _run_help_process(args: argparse.Namespace) -> int:
    from procfw.describe import describe_process
    from procfw.registry import processes

    print(describe_process(processes.get(args.process_id)))
    return 0


SUBCOMMANDS: list[tuple[str, str, Configure, Handler]] = [
    ("processes", "list the installed processes", _configure_processes, _run_processes),
    ("describe", "describe a process: its parameters, kinds, defaults and ranges", _configure_help_process,
     _run_help_process),
]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``procfw`` command."""
    parser = argparse.ArgumentParser(
        prog="procfw",
        description="PixInsight's process model, headless: processes, icons, containers and a console.",
    )
    parser.add_argument("--version", action="version", version=f"procfw {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text, configure, handler in SUBCOMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        configure(p)
        p.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``procfw`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    from procfw.errors import ProcfwError

    try:
        return handler(args)
    except ProcfwError as exc:
        print(f"procfw: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("procfw: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
