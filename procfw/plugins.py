"""What plugins are installed, what each provides, what failed, and whether their processes conform.

Discovery reads entry-point metadata only; no plugin code is imported until a
process, command or format is used (or :func:`check_plugins` is asked for).
"""

from __future__ import annotations

import warnings
from collections import defaultdict

import attrs

from procfw.registry import (
    BUILTIN_DISTRIBUTION,
    PluginFailure,
    Registry,
    commands,
    describe_plugin_exception,
    formats,
    processes,
)

GROUPS: dict[str, Registry] = {"processes": processes, "commands": commands, "formats": formats}


@attrs.define
class PluginInfo:
    """One distribution that provides processes, commands or formats."""

    distribution: str
    version: str
    provides: dict[str, list[str]] = attrs.field(factory=dict)

    @property
    def is_builtin(self) -> bool:
        """True for procfw itself."""
        return self.distribution.lower() == BUILTIN_DISTRIBUTION


def installed_plugins(*, include_builtin: bool = True) -> list[PluginInfo]:
    """Distributions and what they provide, from entry-point metadata alone."""
    found: dict[str, PluginInfo] = {}
    for group_name, registry in GROUPS.items():
        for entry in registry.entries():
            info = found.setdefault(entry.distribution, PluginInfo(entry.distribution, entry.version))
            info.provides.setdefault(group_name, []).append(entry.id)
    plugins = sorted(found.values(), key=lambda p: (not p.is_builtin, p.distribution.lower()))
    return [p for p in plugins if include_builtin or not p.is_builtin]


def load_all() -> list[PluginFailure]:
    """Import every plugin (to find the ones that fail); returns every failure so far."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for registry in GROUPS.values():
            list(registry.values())
    return [f for registry in GROUPS.values() for f in registry.failures]


def check_plugins(*, include_builtin: bool = False) -> dict[str, list[str]]:
    """Run :func:`procfw.testing.check_process` on every plugin process; failures by process id."""
    from procfw.testing import check_process

    results: dict[str, list[str]] = defaultdict(list)
    for entry in processes.entries():
        if entry.distribution.lower() == BUILTIN_DISTRIBUTION and not include_builtin:
            continue
        try:
            cls = processes.get(entry.id)
        except Exception as exc:  # noqa: BLE001 - a plugin that fails to load fails its check
            results[entry.id].append(f"does not load: {exc}")
            continue
        try:
            results[entry.id].extend(check_process(cls).failures)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - plugin code that exits or escapes the checks fails them
            results[entry.id].append(f"conformance checks aborted: {describe_plugin_exception(exc)}")
    return dict(results)
