"""The procfw console: a small language for running processes, icons and scripts.

``Session`` interprets it; :func:`run_text` and :func:`run_file` run text and script
files; :func:`command` turns a Python function into a console command.  The language is
described in ``docs/console.md``; the grammar, parser and binder are :mod:`procfw.language`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from procfw.console.commands import ArgumentError, CommandSpec, command
from procfw.console.session import Session
from procfw.language.errors import ConsoleError, ConsoleRuntimeError, ConsoleSyntaxError
from procfw.language.parser import parse

__all__ = [
    "ArgumentError",
    "CommandSpec",
    "ConsoleError",
    "ConsoleRuntimeError",
    "ConsoleSyntaxError",
    "Session",
    "command",
    "parse",
    "run_file",
    "run_text",
]


def run_text(
    text: str, *, args: Sequence[str] = (), session: Session | None = None, file: str = "<string>"
) -> Session:
    """Run console ``text`` (``$1``... are ``args``) in ``session`` or a new one; returns the session.

    Raises ConsoleSyntaxError or ConsoleRuntimeError on the first error.
    """
    session = session if session is not None else Session()
    session.run_text(text, file=file, args=list(args))
    return session


def run_file(path: str | Path, *, args: Sequence[str] = (), session: Session | None = None) -> Session:
    """Run the script file ``path`` (``$1``... are ``args``) in ``session`` or a new one; returns the session."""
    session = session if session is not None else Session()
    session.run_file(path, list(args))
    return session
