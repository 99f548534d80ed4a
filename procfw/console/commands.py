"""Console commands written in Python: the :func:`command` decorator and argument binding.

A command is a plain function; its signature *is* its command line::

    from pathlib import Path
    from procfw.console import Session, command

    @command
    def stack(session: Session, output: Path, *inputs: str, sigma: float = 3.0, verbose: bool = False):
        '''Stack the views INPUTS into OUTPUT.'''

Gives ``stack OUTPUT [INPUTS...] [-sigma=FLOAT] [-verbose+|-verbose-]``:

* a first parameter annotated ``Session`` receives the running session;
* positional parameters take positional arguments in order, converted by their type
  hint (``int``, ``float``, ``bool``, ``str``, ``Path``, ``list[str]``; no hint: the value
  as written); a parameter with a default is optional; ``*args`` and a ``list[...]``
  parameter take all the remaining ones; any of them may also be given as ``-name=value``;
* keyword-only parameters are options ``-name=value``; a ``bool`` keyword-only parameter
  is a switch, ``-name+`` / ``-name-`` (``-name`` and ``--name`` turn it on);
* a keyword-only parameter called ``into`` receives ``NAME`` from ``command ... -> NAME``;
* the docstring is the help text; a returned value other than None is printed.

``@command`` registers the function in :data:`procfw.registry.commands` (under the
function's name, or the name given as ``@command("name")``) and returns the function
itself with two attributes: ``unregister()`` and ``__procfw_command__`` (its
:class:`CommandSpec`).  Plugins list plain or decorated functions in the
``procfw.commands`` entry-point group; the entry-point name is the command name.
"""

from __future__ import annotations

import inspect
import math
import re
import typing
from collections.abc import Callable, Sequence
from pathlib import Path, PurePath
from typing import Any, TypeVar, overload

import attrs

from procfw.language import ast
from procfw.language.errors import ArgumentError
from procfw.language.values import ArgValue, format_value
from procfw.names import option_spellings, suggest

__all__ = ["ArgValue", "ArgumentError", "CommandParam", "CommandSpec", "command", "format_value", "spec_of"]

F = TypeVar("F", bound=Callable[..., Any])

REQUIRED: Any = inspect.Parameter.empty
_TRUE = {"true", "yes", "on", "1", "+"}
_FALSE = {"false", "no", "off", "0", "-"}


# -- converters -----------------------------------------------------------------------------
def _to_text(value: Any, text: str | None) -> str:
    if text is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        return text
    return format_value(value)


def _to_int(value: Any, text: str | None) -> int:
    if isinstance(value, bool):
        raise ValueError("an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+\-]?[0-9]{1,30}\s*", value):
        return int(value)
    raise ValueError("an integer")


def _to_float(value: Any, text: str | None) -> float:
    if isinstance(value, bool):
        raise ValueError("a number")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ValueError("a number")


def _to_bool(value: Any, text: str | None) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("true or false")


def _to_path(value: Any, text: str | None) -> Path:
    if isinstance(value, (str, PurePath)):
        return Path(value)
    raise ValueError("a path (a string)")


def _identity(value: Any, text: str | None) -> Any:
    return value


class _NotAChoice(ValueError):
    """A value that is not one of a Literal's choices (its message: ``one of a, b, c``)."""


def _choices(allowed: tuple[str, ...]) -> Converter:
    """A converter to one of ``allowed`` (a ``Literal[...]`` hint), matched without regard to case."""

    def convert(value: Any, text: str | None) -> str:
        given = _to_text(value, text)
        for item in allowed:
            if given.casefold() == item.casefold():
                return item
        raise _NotAChoice(f"one of {', '.join(allowed)}{suggest(given, list(allowed))}")

    return convert


Converter = Callable[[Any, "str | None"], Any]
_SIMPLE: dict[Any, tuple[Converter, str]] = {
    int: (_to_int, "INT"),
    float: (_to_float, "FLOAT"),
    bool: (_to_bool, "BOOL"),
    str: (lambda v, t: _to_text(v, t), "TEXT"),
    Path: (_to_path, "PATH"),
}
_SIMPLE_NAMES = {"int": int, "float": float, "bool": bool, "str": str, "Path": Path, "pathlib.Path": Path}


def _is_session(hint: Any) -> bool:
    if isinstance(hint, str):
        return hint.strip("'\"").split(".")[-1] == "Session"
    return getattr(hint, "__name__", None) == "Session" and "procfw.console" in getattr(hint, "__module__", "")


def _literal_hint(text: str, names: dict[str, Any]) -> Any:
    """``Literal[NAME]`` (NAME a tuple of strings in the function's module) or ``Literal["a", "b"]``,
    read without evaluating anything; None when ``text`` is neither."""
    match = re.fullmatch(r"(?:typing\.)?Literal\[(.*)\]", text)
    if match is None:
        return None
    inner = match.group(1).strip()
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", inner):
        value = names.get(inner)
        return typing.Literal[tuple(value)] if isinstance(value, tuple) and value else None
    items = re.findall(r"""\s*(?:"([^"]*)"|'([^']*)')\s*(?:,|$)""", inner)
    return typing.Literal[tuple(a or b for a, b in items)] if items else None


def _resolve_string_hint(text: str, names: dict[str, Any] | None = None) -> Any:
    """Best effort for annotations that get_type_hints could not evaluate."""
    text = text.strip().strip("'\"")
    parts = [p.strip() for p in text.split("|")]
    parts = [p for p in parts if p != "None"]
    if len(parts) == 1:
        text = parts[0]
    match = re.fullmatch(r"Optional\[(.*)\]", text)
    if match:
        text = match.group(1)
    literal = _literal_hint(text, names or {})
    if literal is not None:
        return literal
    match = re.fullmatch(r"(?:list|List|typing\.List|Sequence)\[(.*)\]", text)
    if match:
        inner = _SIMPLE_NAMES.get(match.group(1).strip(), Any)
        return list[inner]  # type: ignore[valid-type]
    return _SIMPLE_NAMES.get(text, Any)


def _unwrap_optional(hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is typing.Union or (origin is not None and getattr(origin, "__name__", "") == "UnionType"):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    if type(hint).__name__ == "UnionType":
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _converter(hint: Any, names: dict[str, Any] | None = None) -> tuple[Converter, str, bool, bool]:
    """(convert, type name for usage, is_bool, is_list) for a type hint (``names``: the
    function's module globals, for hints left as text)."""
    if isinstance(hint, str):
        hint = _resolve_string_hint(hint, names)
    hint = _unwrap_optional(hint)
    if hint is inspect.Parameter.empty or hint is Any or hint is object:
        return _identity, "VALUE", False, False
    origin = typing.get_origin(hint)
    if origin in (list, tuple, Sequence, typing.Sequence) or hint in (list, tuple):
        args = typing.get_args(hint)
        inner_convert, inner_name, _, _ = _converter(args[0] if args else Any)

        def convert_list(value: Any, text: str | None) -> list[Any]:
            items = value if isinstance(value, (list, tuple)) else [value]
            return [inner_convert(item, text if len(items) == 1 else None) for item in items]

        return convert_list, inner_name, False, True
    if origin is typing.Literal:
        return _choices(tuple(str(a) for a in typing.get_args(hint))), "|".join(map(str, typing.get_args(hint))), \
            False, False
    if hint in _SIMPLE:
        convert, name = _SIMPLE[hint]
        return convert, name, hint is bool, False
    if isinstance(hint, type) and issubclass(hint, PurePath):
        return _to_path, "PATH", False, False
    return _identity, getattr(hint, "__name__", "VALUE").upper(), False, False


# -- the spec ---------------------------------------------------------------------------------
@attrs.frozen
class CommandParam:
    """One parameter of a command: how it is given and converted.

    ``role`` is ``positional``, ``rest`` (``*args`` or a list parameter: all remaining
    positional arguments) or ``option`` (keyword-only).
    """

    name: str
    role: str
    convert: Converter = attrs.field(eq=False, repr=False)
    type_name: str = "VALUE"
    default: Any = REQUIRED
    is_bool: bool = False
    is_list: bool = False
    var_positional: bool = False

    @property
    def required(self) -> bool:
        """True when the command line must give it."""
        return self.default is REQUIRED and self.role != "rest"


@attrs.frozen
class CommandSpec:
    """A command's name, parameters, help and the callable that runs it."""

    name: str
    function: Callable[..., Any] = attrs.field(eq=False, repr=False)
    params: tuple[CommandParam, ...] = ()
    wants_session: bool = False
    takes_into: bool = False
    doc: str = ""

    # -- building --------------------------------------------------------------------------
    @classmethod
    def from_function(cls, function: Callable[..., Any], name: str | None = None) -> CommandSpec:
        """Read the command line from ``function``'s signature, type hints and docstring."""
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"cannot read the signature of command {name or function!r}: {exc}") from None
        try:
            hints = typing.get_type_hints(function)
        except Exception:  # noqa: BLE001 - unresolvable annotations: fall back to their text
            hints = {}
        params: list[CommandParam] = []
        wants_session = False
        takes_into = False
        for index, p in enumerate(signature.parameters.values()):
            hint = hints.get(p.name, p.annotation)
            if index == 0 and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and (
                _is_session(hint) or (p.name == "session" and hint is inspect.Parameter.empty)
            ):
                wants_session = True
                continue
            if p.kind is p.VAR_KEYWORD:
                continue
            if p.kind is p.KEYWORD_ONLY and p.name == "into":
                takes_into = True
                continue
            convert, type_name, is_bool, is_list = _converter(hint, getattr(function, "__globals__", None))
            if p.kind is p.VAR_POSITIONAL:
                params.append(CommandParam(p.name, "rest", convert, type_name, REQUIRED, is_bool, False, True))
            elif p.kind is p.KEYWORD_ONLY:
                params.append(CommandParam(p.name, "option", convert, type_name, p.default, is_bool, is_list))
            else:
                role = "rest" if is_list else "positional"
                params.append(CommandParam(p.name, role, convert, type_name, p.default, is_bool, is_list))
        command_name = name or getattr(function, "__name__", "command").rstrip("_")
        doc = inspect.getdoc(function) or ""
        return cls(command_name, function, tuple(params), wants_session, takes_into, doc)

    @classmethod
    def from_params(cls, name: str, function: Callable[..., Any], names_defaults: Sequence[tuple[str, Any]],
                    doc: str = "") -> CommandSpec:
        """A spec of untyped positional parameters (commands defined with ``def``)."""
        params = tuple(CommandParam(n, "positional", _identity, "VALUE", d) for n, d in names_defaults)
        return cls(name, function, params, False, False, doc)

    # -- help ------------------------------------------------------------------------------
    def usage(self) -> str:
        """``name ARG [OPT] [REST...] [-option=TYPE] [-switch+|-switch-]``."""
        words = [self.name]
        for p in self.params:
            if p.role == "positional":
                shown = p.type_name if "|" in p.type_name else p.name.upper()  # the choices of a Literal
                words.append(shown if p.required else f"[{shown}]")
            elif p.role == "rest":
                words.append(f"[{p.name.upper()}...]")
        for p in self.params:
            if p.role == "option":
                words.append(f"[-{p.name}+|-{p.name}-]" if p.is_bool else f"[-{p.name}={p.type_name}]")
        if self.takes_into:
            words.append("[-> NAME]")
        return " ".join(words)

    def help(self) -> str:
        """Usage line and docstring."""
        return f"usage: {self.usage()}" + (f"\n\n{self.doc}" if self.doc else "")

    def option_names(self) -> list[str]:
        """Names that ``-name=value`` accepts."""
        return [p.name for p in self.params if not p.var_positional]

    # -- binding ---------------------------------------------------------------------------
    def _param(self, name: str, node: ast.Node | None, dashes: str = "-") -> CommandParam:
        # a hyphenated option (--dry-run) names the camelCase or snake_case parameter (dryRun, dry_run)
        for spelling in option_spellings(name):
            for p in self.params:
                if p.name == spelling and not p.var_positional:
                    return p
        hint = suggest(name, self.option_names()).replace("(did you mean ", f"(did you mean {dashes}")
        raise ArgumentError(f"{self.name}: unknown option {dashes}{name}{hint} (usage: {self.usage()})", node)

    def _convert(self, p: CommandParam, arg: ArgValue) -> Any:
        try:
            return p.convert(arg.value, arg.text)
        except ValueError as exc:
            shown = format_value(arg.value)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            if isinstance(exc, _NotAChoice):
                given = f"{p.name.upper()} {shown}" if arg.kind == "value" else f"-{p.name}={shown}"
                raise ArgumentError(f"{self.name}: {given} is not {exc}", arg.node) from None
            raise ArgumentError(f"{self.name}: {p.name} must be {exc}, not {shown}", arg.node) from None

    def bind(self, args: Sequence[ArgValue]) -> tuple[list[Any], dict[str, Any]]:
        """Positional and keyword arguments for the function (session and into excluded)."""
        named: dict[str, Any] = {}
        positional_values: list[ArgValue] = []
        for arg in args:
            if arg.kind == "value":
                positional_values.append(arg)
                continue
            assert arg.name is not None
            dashes = "--" if arg.kind == "literal" else "-"
            p = self._param(arg.name, arg.node, dashes)
            if p.name in named:
                raise ArgumentError(f"{self.name}: option -{p.name} given twice", arg.node)
            if arg.kind == "option" or (arg.kind == "literal" and arg.value is not None):
                named[p.name] = self._convert(p, arg)
            elif p.is_bool:
                named[p.name] = bool(arg.value) if arg.kind == "switch" else True
            elif arg.kind == "literal":
                raise ArgumentError(f"{self.name}: unknown option --{arg.name} (usage: {self.usage()})", arg.node)
            else:
                raise ArgumentError(f"{self.name}: -{p.name} needs a value: -{p.name}={p.type_name}", arg.node)
        call_args: list[Any] = []
        call_kwargs: dict[str, Any] = {}
        queue = list(positional_values)
        for p in self.params:
            if p.role == "option":
                if p.name in named:
                    call_kwargs[p.name] = named.pop(p.name)
                elif p.default is REQUIRED:
                    raise ArgumentError(f"{self.name}: missing option -{p.name}={p.type_name} (usage: {self.usage()})")
                continue
            if p.role == "rest":
                if p.name in named:
                    value = named.pop(p.name)
                    items = value if isinstance(value, list) else [value]
                else:
                    items = []
                    for arg in queue:
                        converted = self._convert(p, arg)
                        items.extend(converted if p.is_list else [converted])
                    queue = []
                if p.var_positional:
                    call_args.extend(items)
                elif items or p.default is REQUIRED:
                    call_args.append(items)
                else:
                    call_args.append(p.default)
                continue
            if p.name in named:
                call_args.append(named.pop(p.name))
            elif queue:
                call_args.append(self._convert(p, queue.pop(0)))
            elif p.default is not REQUIRED:
                call_args.append(p.default)
            else:
                raise ArgumentError(f"{self.name}: missing argument {p.name.upper()} (usage: {self.usage()})")
        if queue:
            count = sum(1 for p in self.params if p.role == "positional")
            raise ArgumentError(
                f"{self.name}: too many arguments (takes {count}; usage: {self.usage()})", queue[0].node
            )
        # Defaults that were skipped positionally but then named can't happen: named ones were placed.
        return call_args, call_kwargs


def spec_of(function: Callable[..., Any], name: str | None = None) -> CommandSpec:
    """The :class:`CommandSpec` of a command function (decorated or plain), named ``name``."""
    spec = getattr(function, "__procfw_command__", None)
    if isinstance(spec, CommandSpec) and (name is None or spec.name == name):
        return spec
    if isinstance(spec, CommandSpec):
        return attrs.evolve(spec, name=name)
    return CommandSpec.from_function(function, name)


@overload
def command(function: F, /) -> F: ...


@overload
def command(name: str | None = None, /, *, register: bool = True) -> Callable[[F], F]: ...


def command(name: Any = None, /, *, register: bool = True) -> Any:
    """Make a function a console command (``@command`` or ``@command("name")``).

    Returns the function itself, with ``__procfw_command__`` (its :class:`CommandSpec`)
    and ``unregister()`` (removes it from :data:`procfw.registry.commands`; a no-op when
    ``register=False``).
    """

    def decorate(function: F, command_name: str | None) -> F:
        spec = CommandSpec.from_function(function, command_name)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", spec.name):
            raise ValueError(f"command name '{spec.name}' is not an identifier")
        function.__procfw_command__ = spec  # type: ignore[attr-defined]
        if register:
            from procfw.registry import commands

            module = getattr(function, "__module__", "") or ""
            distribution = "procfw" if module.startswith("procfw.") else "python"
            unregister = commands.register(spec.name, function, distribution=distribution)
        else:

            def unregister() -> None:
                return None

        function.unregister = unregister  # type: ignore[attr-defined]
        return function

    if callable(name):
        return decorate(name, None)
    if name is not None and not isinstance(name, str):
        raise TypeError(f"@command takes a command name (str), got {name!r}")
    return lambda function: decorate(function, name)
