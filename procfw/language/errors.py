"""The errors of the console language: each knows where it happened.

Both kinds carry the file name, the 1-based line and column, and the text of the source
line, and :meth:`ConsoleError.render` draws them the way compilers do::

    script.pcs:3:8: unknown process 'Invrt' (did you mean Invert?)
    Invrt img
    ^
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from procfw.errors import ProcfwError

if TYPE_CHECKING:
    from procfw.language.ast import Node

__all__ = ["ArgumentError", "ConsoleError", "ConsoleRuntimeError", "ConsoleSyntaxError"]


class ConsoleError(ProcfwError):
    """An error in a console statement, located at ``file:line:column``.

    ``message`` is the bare message; ``source_line`` the text of the line (without its
    newline); ``notes`` are extra lines printed after the caret (e.g. where a command
    defined with ``def`` or a script started with ``run`` was called from).
    """

    def __init__(
        self,
        message: str,
        *,
        file: str = "<string>",
        line: int = 1,
        column: int = 1,
        source_line: str = "",
        notes: tuple[str, ...] | list[str] = (),
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.source_line = source_line
        self.notes = list(notes)
        super().__init__(f"{file}:{line}:{column}: {message}")

    @property
    def location(self) -> str:
        """``file:line:column``."""
        return f"{self.file}:{self.line}:{self.column}"

    def caret_line(self) -> str:
        """Spaces (tabs kept) up to the column, then ``^``."""
        prefix = self.source_line[: max(self.column - 1, 0)]
        pad = "".join("\t" if ch == "\t" else " " for ch in prefix)
        pad += " " * max(self.column - 1 - len(prefix), 0)
        return pad + "^"

    def render(self) -> str:
        """The message as printed: location and message, the source line, a caret, the notes."""
        lines = [f"{self.location}: {self.message}", self.source_line, self.caret_line()]
        lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        """A JSON-compatible description (``procfw run --json``)."""
        return {
            "type": type(self).__name__,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "source_line": self.source_line,
            "notes": list(self.notes),
        }


class ConsoleSyntaxError(ConsoleError):
    """The text is not a valid console program (nothing of it ran)."""


class ConsoleRuntimeError(ConsoleError):
    """A statement failed while running (the workspace is as it was before the statement)."""


class ArgumentError(Exception):
    """A command-line argument does not fit its command or process; ``node`` is where
    (None: the statement).  The console turns it into a :class:`ConsoleRuntimeError` at
    ``node``; the icon source reader into an error at the same line and column."""

    def __init__(self, message: str, node: Node | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.node = node
