"""The ``procfw`` command.

Subcommands are registered in :data:`SUBCOMMANDS` as (name, help, configure, handler),
and heavy modules are imported only inside handlers so ``procfw --version`` starts fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from procfw import __version__, cli_icons, cli_plugins

Handler = Callable[[argparse.Namespace], int]

#: Exit status after SIGTERM (128 + 15, as a shell reports a process ended by that signal).
TERMINATED_STATUS = 143


class Terminated(SystemExit):
    """Raised in the main thread when SIGTERM arrives: unwinds like Ctrl-C (temporary files
    of a save in progress are removed) and ends the command with status 143."""

    def __init__(self) -> None:
        super().__init__(TERMINATED_STATUS)


def _raise_terminated(_signum: int, _frame: object) -> None:
    raise Terminated()


def _handle_sigterm() -> Callable[[], None]:
    """Make SIGTERM raise :class:`Terminated`; returns a function that restores the old handler."""
    import signal

    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except (ValueError, OSError):  # not the main thread, or no SIGTERM here
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, previous)
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


def _quiet_plugin_warnings(*, deferred: bool = False) -> list[str]:
    """Plugin failures become 'procfw: warning: ...' lines instead of Python warnings.

    With ``deferred``, the lines are collected in the returned list (printed by the caller
    after the run, so that a script's error stays the first line on stderr).
    """
    import logging
    import warnings

    from procfw.registry import PluginWarning

    warnings.simplefilter("ignore", PluginWarning)
    collected: list[str] = []
    if deferred:

        class _Collect(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                collected.append(record.getMessage())

        logger = logging.getLogger("procfw")
        logger.addHandler(_Collect(level=logging.WARNING))
        logger.propagate = False
    elif not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="procfw: warning: %(message)s")
    return collected


def _configure_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", dest="text", metavar="TEXT", help="run TEXT (console statements) instead of a file")
    parser.add_argument(
        "--json", action="store_true", help="print a JSON report on stdout (process outputs, windows, errors); "
        "what the script prints goes to stderr"
    )
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no line per execution and no report of what commands did (as 'set quiet true')")
    parser.add_argument("script", nargs="?", help="the script file (omit with -c)")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="script arguments: $1, $2, ... ($@ is all of them)")


def _run_run(args: argparse.Namespace) -> int:
    plugin_warnings = _quiet_plugin_warnings(deferred=True)
    try:
        return _run_script(args)
    finally:
        for line in dict.fromkeys(plugin_warnings):
            print(f"procfw: warning: {line}", file=sys.stderr)


def prestart(text: str, file: str = "<command>") -> bool:
    """Call the *prestart* hook of the command that ``text`` (a script) starts with; True if one was called.

    A console command function may carry a ``prestart`` attribute: a quick function that
    takes the command's statement (:class:`procfw.language.ast.Command`, unevaluated) and
    starts what the command will wait for (the ``preprocess`` command starts its process
    pool's fork server, whose imports and kernel loading take about a second).  ``procfw
    run`` calls it here, before the console loads (numpy, the session), so that this work
    overlaps with the console's own start-up; the command, when it runs, finds it started.
    Only the first statement counts, and only when it names a registered command (as the
    console would resolve it: a script's first statement cannot call a ``def`` of its own).
    Nothing is reported here: a text that does not parse, or a hook that fails, is left to
    the session (the failure is logged at debug level).
    """
    from procfw import collector

    with collector.paused():  # the parser's tables and the registry are kept: nothing to collect before the hook
        return _call_prestart(text, file)


def _call_prestart(text: str, file: str) -> bool:
    """:func:`prestart`'s work: parse ``text``, look its first command up and call that command's hook."""
    import logging

    from procfw.language import ast
    from procfw.language.errors import ConsoleError
    from procfw.language.parser import parse
    from procfw.registry import commands

    try:
        statements = parse(text, file=file).statements
    except ConsoleError:
        return False
    first = statements[0] if statements else None
    name = first.name.literal if isinstance(first, ast.Command) else None
    if not name or commands.resolve(name) is None:
        return False
    try:
        hook = getattr(commands.get(name), "prestart", None)
        if not callable(hook):
            return False
        hook(first)
    except Exception as exc:  # noqa: BLE001 - a hint only: the command itself runs (and reports) as usual
        logging.getLogger("procfw").debug("the prestart hook of %s failed: %s", name, exc)
        return False
    return True


def _read_script(file: str) -> tuple[str | None, str]:
    """(the text of script ``file``, "") or (None, why it cannot be read)."""
    try:
        with open(file, encoding="utf-8-sig") as handle:
            return handle.read(), ""
    except (OSError, UnicodeDecodeError) as exc:
        return None, exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def _run_script(args: argparse.Namespace) -> int:
    import json

    script_args = list(args.args)
    text: str | None
    if args.text is not None:
        if args.script is not None:
            script_args.insert(0, args.script)
        file, text, reason = "<command>", args.text, ""
    elif args.script is None:
        print("procfw run: give a script file, or -c TEXT", file=sys.stderr)
        return 2
    else:
        file = args.script
        text, reason = _read_script(file)
    if text is not None:
        prestart(text, file)  # before the console's imports (numpy, the session)

    from procfw.console import ConsoleError, ConsoleRuntimeError, Session

    session = Session(out=sys.stderr if args.json else sys.stdout, err=sys.stderr, args=script_args, script=file,
                      quiet=args.quiet)
    error: ConsoleError | None = None
    try:
        if text is None:
            error = ConsoleRuntimeError(f"cannot read script: {reason}", file=file)
            print(f"procfw run: {file}: cannot read script: {reason}", file=sys.stderr)
        else:
            session.run_text(text, file=file, args=script_args)
    except ConsoleError as exc:
        error = exc
        print(exc.render(), file=sys.stderr)
    except KeyboardInterrupt:
        print("procfw: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `procfw processes | head`: the reader left; say nothing more
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    if args.json:
        print(json.dumps(session.report(error), indent=2))
    if error is not None:
        return 1
    return session.exit_code or 0


def _configure_console(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--history", metavar="FILE", help="history file (default: $PROCFW_HISTORY, else ~/.procfw_history)"
    )
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no line per execution and no report of what commands did (as 'set quiet true')")


def _run_console(args: argparse.Namespace) -> int:
    from procfw.console import Session
    from procfw.console.repl import run_console

    interactive = sys.stdin.isatty()
    plugin_warnings = _quiet_plugin_warnings(deferred=not interactive)
    try:
        return run_console(Session(quiet=args.quiet), history=args.history)
    finally:
        for line in dict.fromkeys(plugin_warnings):
            print(f"procfw: warning: {line}", file=sys.stderr)


SUBCOMMANDS: list[tuple[str, str, Configure, Handler]] = [
    ("processes", "list the installed processes", _configure_processes, _run_processes),
    ("describe", "describe a process: its parameters, kinds, defaults and ranges", _configure_help_process,
     _run_help_process),
    ("run", "run a console script file (or -c TEXT) with arguments", _configure_run, _run_run),
    ("console", "the interactive console (reads lines plainly when stdin is not a terminal)", _configure_console,
     _run_console),
    ("icons", cli_icons.HELP, cli_icons.configure, cli_icons.run),
    ("plugins", cli_plugins.HELP, cli_plugins.configure, cli_plugins.run),
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
    from procfw import collector

    with collector.paused():  # start-up (argparse, the registry's modules): what it makes is kept
        parser = build_parser()
        args = parser.parse_args(argv)
        handler: Handler | None = getattr(args, "handler", None)
        if handler is None:
            parser.print_help()
            return 0
        from procfw.batch import reuse_freed_memory
        from procfw.errors import ProcfwError

        reuse_freed_memory()
        _quiet_plugin_warnings()
    restore = _handle_sigterm()
    try:
        return handler(args)
    except Terminated:
        print("procfw: terminated", file=sys.stderr)
        return TERMINATED_STATUS
    except ProcfwError as exc:
        print(f"procfw: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("procfw: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `procfw processes | head`: the reader left; say nothing more
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    finally:
        restore()


def console_main() -> int:
    """The ``procfw`` console script: :func:`main`, then a quick interpreter exit; returns the exit code.

    When the interpreter exits, CPython runs full garbage collections while it tears the
    modules down; after a run that loaded numpy, scipy, astropy and numba (~170,000
    objects) they took ~0.5 s of a 10 s pre-processing run.  Here the garbage left is
    collected once (its finalizers run), then every object still alive is frozen
    (:func:`gc.freeze`), so that those collections skip them: the exit takes ~0.15 s.
    atexit handlers run as usual.  Only for the command: a Python caller of :func:`main`
    keeps its garbage collector as it is.  The command also lets long runs freeze what they
    have loaded as they go (:func:`procfw.collector.enable`), so that this last collection and
    the ones before it skip those objects.
    """
    from procfw import collector

    collector.enable()
    code = main()
    import gc

    gc.collect()
    gc.freeze()
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console_main())
