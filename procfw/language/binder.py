"""Console arguments bound to a process's parameters: the one place they are converted.

:func:`bind_process` turns the evaluated arguments of ``ProcessId -p=v -s+ --lit target``
into an instance and its targets.  Each value is converted once, by the process's own
parameter fields (:func:`procfw.params.param`); an error names the process, the parameter,
the value and the rule, and is raised as an :class:`~procfw.language.errors.ArgumentError`
at the argument that set that parameter (the error's ``parameter``), not found again by
searching its message.  The console and the icon source reader both bind through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from procfw.errors import ParameterError, UnknownNameError
from procfw.language import ast
from procfw.language.errors import ArgumentError
from procfw.language.values import ArgValue, format_value
from procfw.names import suggest
from procfw.params import Boolean, String
from procfw.process import Process

__all__ = ["DESCRIPTION_OPTION", "bind_process"]

P = TypeVar("P", bound=Process)

DESCRIPTION_OPTION = "description"
"""``--description="..."``: an icon's description, accepted where an icon is defined."""


def bind_process(cls: type[P], args: Sequence[ArgValue], *, for_icon: bool = False) -> tuple[P, list[ArgValue]]:
    """An instance of ``cls`` from a command line's named arguments; the positional ones
    are returned, in order, as targets.

    ``for_icon`` (an ``icon NAME = ...`` definition) also accepts read-only parameters, as
    an icon may carry them, and ``--description="..."`` (left for the caller to read).
    """
    schema = cls.schema()
    values: dict[str, Any] = {}
    where: dict[str, ast.Node | None] = {}
    targets: list[ArgValue] = []
    literals: list[str] = []
    accepted = tuple(getattr(cls, "console_literals", ()) or ())
    for arg in args:
        if arg.kind == "value":
            targets.append(arg)
            continue
        assert arg.name is not None
        if arg.kind == "literal":
            if for_icon and arg.name == DESCRIPTION_OPTION:
                continue
            if arg.name not in accepted:
                raise ArgumentError(
                    f"{cls.process_id}: unknown option --{arg.name}{suggest(arg.name, list(accepted))}", arg.node
                )
            literals.append(arg.name)
            continue
        try:
            pid = cls.parameter_id(arg.name)
        except UnknownNameError as exc:
            raise ArgumentError(str(exc), arg.node) from None
        kind = schema[pid]
        if kind.read_only and not for_icon:
            raise ArgumentError(f"{cls.process_id}: {pid} is a read-only output; it cannot be set", arg.node)
        if pid in values:
            raise ArgumentError(f"{cls.process_id}: parameter {pid} given twice", arg.node)
        is_boolean = isinstance(kind, Boolean)
        if arg.kind == "switch" and not is_boolean:
            raise ArgumentError(
                f"{cls.process_id}: -{arg.name}{'+' if arg.value else '-'} is a switch, but {pid} is "
                f"{kind.rule()}: write -{pid}=value", arg.node,
            )
        if arg.kind == "flag":
            form = f"-{pid}+ or -{pid}-" if is_boolean else f"-{pid}=value"
            raise ArgumentError(f"{cls.process_id}: -{arg.name} needs a value: {form}", arg.node)
        raw = arg.value
        if isinstance(kind, String) and not isinstance(raw, str):
            raw = arg.text if arg.text is not None else format_value(raw)
        values[pid] = raw
        where[pid] = arg.node
    try:
        instance = cls.from_parameters(values)
    except ParameterError as exc:
        raise ArgumentError(str(exc), where.get(exc.parameter or "")) from None
    if literals:
        configure = getattr(instance, "with_console_literals", None)
        if callable(configure):
            instance = configure(tuple(literals))
    return instance, targets
