"""The interactive console: a prompt_toolkit prompt with history and completion.

``procfw console`` runs :func:`run_console`: on a terminal, a :class:`Repl` (history in
``~/.procfw_history`` or ``$PROCFW_HISTORY``; Tab completes commands, process ids,
``-parameter`` ids after a process id, view ids, icon ids and ``$variables``; a
statement continues on the next line while a ``{``, ``[`` or ``(`` is open).  When stdin
is not a terminal, lines are read plainly and run the same way.  An error is printed and
the session goes on.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from procfw.console.builtins import KEYWORDS
from procfw.console.session import Session
from procfw.language.errors import ConsoleError
from procfw.language.parser import open_depth

__all__ = ["ConsoleCompleter", "Repl", "history_path", "run_console", "run_plain"]

PROMPT = "procfw> "
CONTINUATION = "...     "
HISTORY_ENV = "PROCFW_HISTORY"


def history_path() -> Path:
    """Where the REPL keeps its history: ``$PROCFW_HISTORY`` or ``~/.procfw_history``."""
    configured = os.environ.get(HISTORY_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".procfw_history"


_WORD = re.compile(r'"(?:[^"\\]|\\.)*"?|\'[^\']*\'?|\S+')


def _words(statement: str) -> list[str]:
    return _WORD.findall(statement)


def _current_statement(text: str) -> str:
    """The text of the statement the cursor is in (after the last ; { } or newline outside strings)."""
    start = 0
    in_string = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if in_string:
            if ch == "\\" and in_string == '"':
                i += 2
                continue
            if ch == in_string:
                in_string = ""
        elif ch in "\"'":
            in_string = ch
        elif ch in ";{}\n":
            start = i + 1
        elif ch == "#":
            newline = text.find("\n", i)
            if newline == -1:
                return ""
            i = newline
            continue
        i += 1
    return text[start:]


class ConsoleCompleter(Completer):
    """Completes the console language from the live session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- what there is --------------------------------------------------------------------
    def _process_ids(self) -> list[str]:
        from procfw.registry import processes

        return processes.ids()

    def _process(self, name: str) -> Any:
        import warnings

        from procfw.registry import processes

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return processes.get(name) if processes.resolve(name) is not None else None
            except Exception:  # noqa: BLE001 - completion never fails
                return None

    def _view_ids(self) -> list[str]:
        return [view.id for view in self.session.workspace.views()]

    def _icon_ids(self) -> list[str]:
        return list(self.session.workspace.icons)

    def _options(self, head: str) -> list[str]:
        cls = self._process(head)
        if cls is not None:
            from procfw.params import Boolean

            out = []
            for pid, kind in cls.schema().items():
                if kind.read_only:
                    continue
                out += [f"-{pid}+", f"-{pid}-"] if isinstance(kind, Boolean) else [f"-{pid}="]
            out += [f"--{lit}" for lit in getattr(cls, "console_literals", ()) or ()]
            return out
        if head in self.session.defined:
            definition, _ = self.session.defined[head]
            return [f"-{p.name}=" for p in definition.params]
        try:
            function = self.session.find_command(head)
        except Exception:  # noqa: BLE001
            function = None
        if function is None:
            return []
        from procfw.console.commands import spec_of

        try:
            spec = spec_of(function, head)
        except Exception:  # noqa: BLE001
            return []
        out = []
        for p in spec.params:
            if p.var_positional:
                continue
            out += [f"-{p.name}+", f"-{p.name}-", f"--{p.name}"] if p.is_bool else [f"-{p.name}="]
        return out

    def _values(self, head: str, current: str) -> Iterator[Completion]:
        """After ``-param=``: the elements of an enumeration parameter (or a command's choices)."""
        name, _, partial = current.lstrip("-").partition("=")
        for value in self._choices(head, name):
            if value.lower().startswith(partial.lower()):
                yield Completion(value, start_position=-len(partial))

    def _choices(self, head: str, name: str) -> list[str]:
        from procfw.params import Boolean, Enumeration

        cls = self._process(head)
        if cls is not None:
            try:
                kind = cls.schema()[cls.parameter_id(name)]
            except Exception:  # noqa: BLE001 - no such parameter: nothing to offer
                return []
            if isinstance(kind, Enumeration):
                return [element for element, _value in kind.elements]
            return ["true", "false"] if isinstance(kind, Boolean) else []
        try:
            from procfw.console.commands import spec_of

            function = self.session.find_command(head)
            spec = spec_of(function, head) if function is not None else None
        except Exception:  # noqa: BLE001
            return []
        for p in spec.params if spec is not None else ():
            if p.name == name and "|" in p.type_name:
                return p.type_name.split("|")
        return []

    def candidates(self, before: list[str], current: str) -> list[str]:
        """The words that may stand at ``current`` after the words ``before``."""
        if current.startswith("$"):
            names = list(self.session.variables) + [str(i) for i in range(1, len(self.session.argv))] + ["@"]
            return [f"${n}" for n in names]
        if not before:
            return sorted(set(self.session.command_names()) | set(self._process_ids()) | set(KEYWORDS))
        head = before[0]
        if head == "icon":
            if len(before) >= 3 and before[2] == "=":
                if len(before) == 3 or before[-1].endswith(","):
                    return self._process_ids() + self._icon_ids()
                if current.startswith("-") and len(before) >= 4:
                    return self._options(before[3])
            return []
        if head in ("for", "let", "def"):
            return []
        if current.startswith("-"):
            return self._options(head)
        if head in ("exec", "delete") and len(before) == 1:
            return self._icon_ids()
        if head == "help":
            return sorted(set(self.session.command_names()) | set(self._process_ids()) | set(self._icon_ids()))
        if head == "icons":
            if len(before) == 1:
                return ["list", "save", "load"]
            if len(before) >= 3 and before[1] == "save":
                return self._icon_ids()
            return []
        if head == "history" and before[-1] == "->":
            return self._icon_ids()
        return self._view_ids() + (self._icon_ids() if head in ("exec", "help") else [])

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        statement = _current_statement(document.text_before_cursor)
        words = _words(statement)
        if statement and not statement[-1].isspace() and words:
            before, current = words[:-1], words[-1]
        else:
            before, current = words, ""
        if current.startswith(('"', "'")):
            yield from self._paths(current)
            return
        if "=" in current and current.startswith("-"):
            yield from self._values(words[0] if before else "", current)
            return
        seen: set[str] = set()
        lowered = current.lower()
        for candidate in self.candidates(before, current):
            if candidate in seen or not candidate.lower().startswith(lowered):
                continue
            seen.add(candidate)
            yield Completion(candidate, start_position=-len(current))

    @staticmethod
    def _paths(current: str) -> Iterable[Completion]:
        quote, partial = current[0], current[1:]
        directory, _, stem = partial.rpartition("/")
        base = Path(directory or ".").expanduser()
        try:
            entries = sorted(base.iterdir())
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith(stem) and not (entry.name.startswith(".") and not stem.startswith(".")):
                text = (f"{directory}/" if directory else "") + entry.name + ("/" if entry.is_dir() else "")
                yield Completion(quote + text, start_position=-len(current), display=entry.name)


class Repl:
    """The interactive loop over a prompt_toolkit PromptSession.

    ``input``/``output`` are prompt_toolkit Input/Output objects (tests pass a pipe input and
    a DummyOutput); ``history`` a file path, a prompt_toolkit History, or None for
    :func:`history_path`.
    """

    def __init__(
        self,
        session: Session | None = None,
        *,
        input: Any = None,  # noqa: A002 - prompt_toolkit's name
        output: Any = None,
        history: Any = None,
    ) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, History, InMemoryHistory

        self.session = session if session is not None else Session()
        if isinstance(history, History):
            store = history
        else:
            path = Path(history) if history is not None else history_path()
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch(exist_ok=True)
                store = FileHistory(str(path))
            except OSError:
                store = InMemoryHistory()
        self.completer = ConsoleCompleter(self.session)
        self.prompt_session: PromptSession[str] = PromptSession(
            history=store, completer=self.completer, input=input, output=output, complete_while_typing=False
        )
        self.errors = 0

    def read(self) -> str | None:
        """One complete entry (lines joined while brackets are open); None at end of input."""
        lines: list[str] = []
        while True:
            try:
                line = self.prompt_session.prompt(CONTINUATION if lines else PROMPT)
            except EOFError:
                return "\n".join(lines) if lines else None
            lines.append(line)
            text = "\n".join(lines)
            if open_depth(text) <= 0:
                return text

    def run(self) -> int:
        """Read and run entries until end of input or ``exit``; returns the exit code."""
        while True:
            try:
                text = self.read()
            except KeyboardInterrupt:
                continue
            if text is None:
                return 0
            if text.strip() in ("quit", "exit()", "quit()"):
                return 0
            if not text.strip():
                continue
            code = _run_entry(self.session, text, "<console>", 1)
            if code is not None:
                return code
            if self.session.exit_code is not None:
                return self.session.exit_code


def _run_entry(session: Session, text: str, file: str, first_line: int) -> int | None:
    """Run one entry; prints an error and returns None, or an exit code on Ctrl-C."""
    try:
        session.run_text("\n" * (first_line - 1) + text, file=file)
    except ConsoleError as exc:
        print(exc.render(), file=session.err)
        session.failures += 1
    except KeyboardInterrupt:
        print("interrupted", file=session.err)
    return None


def run_plain(session: Session, stream: IO[str], file: str = "<stdin>") -> int:
    """Run lines from a non-terminal stream like the REPL would (errors printed, reading goes on).

    Returns the exit code: that of ``exit``, else 1 if any entry failed, else 0.
    """
    buffer: list[str] = []
    start = 1
    number = 0
    for line in stream:
        number += 1
        if not buffer:
            start = number
        buffer.append(line.rstrip("\r\n"))
        text = "\n".join(buffer)
        if open_depth(text) > 0:
            continue
        buffer = []
        if text.strip():
            _run_entry(session, text, file, start)
        if session.exit_code is not None:
            return session.exit_code
    if buffer:
        _run_entry(session, "\n".join(buffer), file, start)
        if session.exit_code is not None:
            return session.exit_code
    return 1 if session.failures else 0


def run_console(session: Session | None = None, *, stdin: IO[str] | None = None, history: Any = None) -> int:
    """``procfw console``: the REPL on a terminal, plain line reading otherwise."""
    session = session if session is not None else Session()
    stream = stdin if stdin is not None else sys.stdin
    if not stream.isatty():
        return run_plain(session, stream)
    print("procfw console — 'help' lists the commands, 'help ProcessId' a process; Ctrl-D quits.")
    return Repl(session, history=history).run()
