"""PixelMath errors: syntax errors with a source position, evaluation errors naming what failed."""

from __future__ import annotations

from procfw.errors import ExecutionError, ProcfwError

__all__ = ["PixelMathError", "PixelMathEvaluationError", "PixelMathSyntaxError", "NotImplementedFunctionError"]


def locate(text: str, pos: int) -> tuple[int, int, str]:
    """(line, column, the source line) of offset ``pos`` in ``text``; line and column count from 1."""
    pos = max(0, min(pos, len(text)))
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    if line_end < 0:
        line_end = len(text)
    line = text.count("\n", 0, pos) + 1
    return line, pos - line_start + 1, text[line_start:line_end]


def _excerpt(text: str, pos: int) -> str:
    _, column, source = locate(text, pos)
    shown = source.replace("\t", " ")
    if len(shown) > 100:  # keep the caret in view on very long lines
        start = max(0, column - 60)
        shown = shown[start : start + 100]
        column -= start
    return f"\n    {shown}\n    {' ' * (column - 1)}^"


class PixelMathError(ProcfwError):
    """Base of the errors raised for a PixelMath expression or its symbols."""


class PixelMathSyntaxError(PixelMathError, ValueError):
    """An expression (or symbol definition) that does not parse.

    ``pos`` is the offset of the offending character in ``text``; ``line`` and ``column``
    count from 1; ``where`` names the parameter the text came from (``expression1``...).
    """

    def __init__(self, message: str, text: str = "", pos: int = 0, where: str = "") -> None:
        self.message = message
        self.text = text
        self.pos = pos
        self.where = where
        self.line, self.column, _ = locate(text, pos)
        super().__init__(self._render())

    def _render(self) -> str:
        origin = f"{self.where}: " if self.where else ""
        if not self.text:
            return f"PixelMath syntax error: {origin}{self.message}"
        return (
            f"PixelMath syntax error: {origin}line {self.line}, column {self.column}: {self.message}"
            f"{_excerpt(self.text, self.pos)}"
        )

    def located_in(self, where: str) -> PixelMathSyntaxError:
        """The same error, naming the parameter the text came from."""
        return PixelMathSyntaxError(self.message, self.text, self.pos, where)


class PixelMathEvaluationError(PixelMathError, ExecutionError):
    """An expression that parses but cannot be evaluated (unknown image, bad argument...)."""

    def __init__(self, message: str, text: str = "", pos: int | None = None, where: str = "") -> None:
        self.message = message
        self.text = text
        self.pos = pos
        self.where = where
        origin = f"{where}: " if where else ""
        if text and pos is not None:
            line, column, _ = locate(text, pos)
            rendered = f"PixelMath: {origin}line {line}, column {column}: {message}{_excerpt(text, pos)}"
        else:
            rendered = f"PixelMath: {origin}{message}"
        super().__init__(rendered)

    def located_in(self, text: str, where: str) -> PixelMathEvaluationError:
        """The same error with the source text and parameter name attached."""
        return type(self)(self.message, text, self.pos, where)


class NotImplementedFunctionError(PixelMathEvaluationError):
    """A PixelMath function (or symbol function) that procfw does not implement."""
