"""Registries of processes, console commands and image formats, fed by entry points.

One place to reach all three; each is defined next to the type it holds:

* :data:`processes` — process classes by process id (:mod:`procfw.process`);
* :data:`formats` — image file formats by format id and extension (:mod:`procfw.io`);
* :data:`commands` — console command functions by name (defined here: a command is any
  callable, so it needs no type from above).

The machinery (discovery, isolation of broken plugins, clash rule) is
:class:`procfw.entrypoints.Registry`, re-exported here with the rest of its names.
"""

from __future__ import annotations

from typing import Any

from procfw.entrypoints import (
    BUILTIN_DISTRIBUTION,
    Entry,
    PluginFailure,
    PluginWarning,
    Registry,
    describe_plugin_exception,
)
from procfw.io import formats
from procfw.names import suggest
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
