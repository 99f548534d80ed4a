"""Registries of processes, console commands and image formats, fed by entry points.

One place to reach all three; each is defined next to the type it holds:

* :data:`processes` — process classes by process id (:mod:`procfw.process`);
* :data:`formats` — image file formats by format id and extension (:mod:`procfw.io`);
* :data:`commands` — console command functions by name (defined here: a command is any
  callable, so it needs no type from above).

``formats`` and ``processes`` are imported on first use (PEP 562), so that importing this
module for :data:`commands` alone does not load numpy (:mod:`procfw.io` and
:mod:`procfw.process` do): ``procfw run`` looks its first command up before the console
loads (:func:`procfw.cli.prestart`).

The machinery (discovery, isolation of broken plugins, clash rule) is
:class:`procfw.entrypoints.Registry`, re-exported here with the rest of its names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from procfw.entrypoints import (
    BUILTIN_DISTRIBUTION,
    Entry,
    PluginFailure,
    PluginWarning,
    Registry,
    describe_plugin_exception,
)
from procfw.names import suggest

if TYPE_CHECKING:
    from procfw.io import formats
    from procfw.process import processes

__all__ = [
    "BUILTIN_DISTRIBUTION",
    "Entry",
    "PluginFailure",
    "PluginWarning",
    "Registry",
    "commands",
    "describe_plugin_exception",
    "formats",
    "processes",
    "suggest",
]


def _check_command(id_: str, function: Any) -> None:
    if not callable(function):
        raise TypeError(f"command '{id_}' is not callable: {function!r}")


commands: Registry[Any] = Registry("procfw.commands", "command", validate=_check_command)
"""Console command functions by command name."""


def __getattr__(name: str) -> Any:
    """``formats`` and ``processes``, imported on first use (their modules load numpy)."""
    if name == "formats":
        from procfw.io import formats as found
    elif name == "processes":
        from procfw.process import processes as found
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = found
    return found
