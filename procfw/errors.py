"""The exceptions procfw raises: each names what was wrong and the rule it broke."""

from __future__ import annotations


class ProcfwError(Exception):
    """Base class of every error procfw raises on purpose."""


class ParameterError(ProcfwError, ValueError):
    """A parameter value broke its parameter's rule (range, length, enumeration, ...).

    ``parameter`` is the id of the parameter, where the error is about one.
    """

    def __init__(self, message: str, *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class SchemaError(ProcfwError, TypeError):
    """A process class declares an inconsistent parameter schema."""


class UnknownNameError(ProcfwError, LookupError):
    """A process, parameter, command or format id that is not registered; ``name`` is the
    name asked for, where the raiser knows it."""

    def __init__(self, message: str, *, name: str | None = None) -> None:
        super().__init__(message)
        self.name = name


class ExecutionError(ProcfwError, RuntimeError):
    """A process cannot run in the context it was asked to run in."""


class ImageFileError(ProcfwError, OSError):
    """An image file cannot be read or written; the message names the file and the problem."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class FileExistsProcfwError(ImageFileError):
    """An output file exists and the caller did not ask to overwrite it."""

    def __init__(self, path: object) -> None:
        super().__init__(path, "file exists; pass overwrite=True (console: --overwrite) to replace it")
