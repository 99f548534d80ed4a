"""The registry machinery: objects by id and alias for one entry-point group.

The registries themselves live next to the types they hold: process classes in
:data:`procfw.process.processes`, image formats in :data:`procfw.io.formats`, console
commands in :data:`procfw.registry.commands`; :mod:`procfw.registry` gathers all three.

Each registry lists what is installed from entry-point *names* alone (the name is the
id), and imports a plugin's code only when that id is first used.  A plugin that fails
to import (any exception, including ``SystemExit`` from a plugin that calls ``sys.exit``
at import; only ``KeyboardInterrupt`` passes through), or whose id clashes with one already
taken, becomes one warning naming its distribution and version; everything else keeps working.

Clash rule (deterministic): an object registered from Python with :meth:`Registry.register`
wins over entry points; among entry points, procfw's own distribution wins, then the
distribution whose name sorts first.  The losers are reported in ``failures``.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from importlib import metadata
from typing import Generic, TypeVar

import attrs

from procfw.errors import UnknownNameError
from procfw.names import suggest

log = logging.getLogger("procfw.registry")  # the name users configure: warnings of every registry

_DISCOVERY_LOCK = threading.RLock()

T = TypeVar("T")

BUILTIN_DISTRIBUTION = "procfw"


class PluginWarning(UserWarning):
    """A plugin could not be loaded or registered; the message says which and why."""


@attrs.define
class Entry(Generic[T]):
    """One registered id: either an object already loaded or an entry point to load."""

    id: str
    distribution: str
    version: str
    entry_point: metadata.EntryPoint | None = None
    obj: T | None = None
    failed: str | None = None


@attrs.define
class PluginFailure:
    """A plugin that could not be used, and why."""

    group: str
    id: str
    distribution: str
    version: str
    reason: str

    def __str__(self) -> str:
        return f"{self.group} '{self.id}' from {self.distribution} {self.version}: {self.reason}"


def describe_plugin_exception(exc: BaseException) -> str:
    """``Type: message`` for an exception raised by plugin code; SystemExit says it tried to exit."""
    if isinstance(exc, SystemExit):
        return f"SystemExit: the plugin called sys.exit({exc.code!r})"
    return f"{type(exc).__name__}: {exc}"


def _distribution_of(ep: metadata.EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "unknown", "?"
    return dist.metadata["Name"] or "unknown", dist.version or "?"


def _origins(points: Iterable[metadata.EntryPoint]) -> dict[int, tuple[str, str]]:
    """(distribution name, version) of each entry point of ``points``, by ``id`` of the entry point.

    Read once per distribution: every ``Distribution.metadata`` parses the distribution's
    METADATA file again (~0.3 ms), and procfw's own distribution alone holds about 90
    entry points, so reading it for each point took most of a registry's discovery.
    """
    by_distribution: dict[int, tuple[str, str]] = {}
    found: dict[int, tuple[str, str]] = {}
    for ep in points:
        key = id(getattr(ep, "dist", None))
        if key not in by_distribution:
            by_distribution[key] = _distribution_of(ep)
        found[id(ep)] = by_distribution[key]
    return found


def _precedence(distribution: str) -> tuple[int, str]:
    return (0 if distribution.lower() == BUILTIN_DISTRIBUTION else 1, distribution.lower())


class Registry(Generic[T]):
    """Objects by id and alias for one entry-point group.

    ``aliases_of`` returns the aliases an object declares (for process ids), and
    ``validate`` may reject a loaded object (raise) before it is registered.
    ``alias_group`` names a second entry-point group whose entries declare aliases in
    metadata (entry-point name: the alias; value: the id it stands for), so that
    looking a name up never imports a plugin: only the object a name resolves to is
    loaded, and a miss loads nothing.
    """

    def __init__(
        self,
        group: str,
        kind: str,
        *,
        aliases_of: Callable[[T], tuple[str, ...]] | None = None,
        validate: Callable[[str, T], None] | None = None,
        alias_group: str | None = None,
    ) -> None:
        self.group = group
        self.kind = kind
        self.alias_group = alias_group
        self._aliases_of = aliases_of or (lambda obj: ())
        self._validate = validate
        self._entries: dict[str, Entry[T]] = {}
        self._aliases: dict[str, str] = {}
        self._discovered = False
        self.failures: list[PluginFailure] = []

    # -- discovery -------------------------------------------------------------------
    def _discover(self) -> None:
        if self._discovered:
            return
        with _DISCOVERY_LOCK:  # threads (a dask worker's) must not see a half-filled registry
            if not self._discovered:
                try:
                    self._discover_entries()
                finally:
                    self._discovered = True

    def _discover_entries(self) -> None:
        found = list(metadata.entry_points(group=self.group))
        origins = _origins(found)
        points = sorted(found, key=lambda ep: (ep.name, _precedence(origins[id(ep)][0])))
        for ep in points:
            dist, version = origins[id(ep)]
            current = self._entries.get(ep.name)
            if current is not None:
                if current.distribution == dist:
                    continue  # the same distribution seen twice (editable + site)
                self._fail(ep.name, dist, version, f"id clashes with {current.distribution} {current.version}; ignored")
                continue
            self._entries[ep.name] = Entry(ep.name, dist, version, entry_point=ep)
        if self.alias_group is not None:
            for ep in sorted(metadata.entry_points(group=self.alias_group), key=lambda ep: ep.name):
                target = ep.value.strip()
                if target in self._entries and ep.name not in self._entries:
                    self._aliases.setdefault(ep.name, target)

    def _fail(self, id_: str, dist: str, version: str, reason: str) -> None:
        failure = PluginFailure(self.group, id_, dist, version, reason)
        self.failures.append(failure)
        warnings.warn(str(failure), PluginWarning, stacklevel=3)
        log.warning("%s", failure)

    def _load(self, entry: Entry[T]) -> T | None:
        if entry.obj is not None or entry.failed:
            return entry.obj
        assert entry.entry_point is not None
        try:
            obj = entry.entry_point.load()
            if self._validate is not None:
                self._validate(entry.id, obj)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - isolation: any plugin error (even sys.exit) is a warning
            entry.failed = describe_plugin_exception(exc)
            self._fail(entry.id, entry.distribution, entry.version, f"failed to load: {entry.failed}")
            return None
        entry.obj = obj
        for alias in self._aliases_of(obj):
            self._aliases.setdefault(alias, entry.id)
        return obj

    # -- public API ------------------------------------------------------------------
    def register(self, id_: str, obj: T, *, distribution: str = "python", version: str = "") -> Callable[[], None]:
        """Register ``obj`` under ``id_`` from Python; returns a function that unregisters it."""
        self._discover()
        if self._validate is not None:
            self._validate(id_, obj)
        previous = self._entries.get(id_)
        self._entries[id_] = Entry(id_, distribution, version, obj=obj)
        added_aliases = [a for a in self._aliases_of(obj) if a not in self._aliases]
        for alias in added_aliases:
            self._aliases[alias] = id_

        def unregister() -> None:
            if self._entries.get(id_) is not None and self._entries[id_].obj is obj:
                if previous is not None:
                    self._entries[id_] = previous
                else:
                    del self._entries[id_]
                for alias in added_aliases:
                    self._aliases.pop(alias, None)

        return unregister

    def ids(self) -> list[str]:
        """Every registered id, sorted, without importing any plugin."""
        self._discover()
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        """Every entry (loaded or not), sorted by id."""
        self._discover()
        return [self._entries[k] for k in sorted(self._entries)]

    def resolve(self, name: str) -> str | None:
        """The id that ``name`` (an id or an alias) refers to, or None; never imports a plugin.

        Aliases come from the alias entry-point group, from objects registered from
        Python and from objects already loaded.
        """
        self._discover()
        if name in self._entries:
            return name
        return self._aliases.get(name)

    def get(self, name: str) -> T:
        """The object registered under ``name`` (id or alias); loads its plugin on first use."""
        id_ = self.resolve(name)
        entry = self._entries.get(id_) if id_ is not None else None
        obj = self._load(entry) if entry is not None else None
        if obj is None:
            if entry is not None and entry.failed:
                raise UnknownNameError(
                    f"{self.kind} '{name}' is installed but failed to load: {entry.failed}", name=name
                )
            raise UnknownNameError(f"unknown {self.kind} '{name}'{suggest(name, self.ids())}", name=name)
        return obj

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.resolve(name) is not None

    def values(self) -> Iterator[T]:
        """Every object that loads, in id order (imports the plugins)."""
        for entry in self.entries():
            obj = self._load(entry)
            if obj is not None:
                yield obj

    def items(self) -> Iterator[tuple[str, T]]:
        """(id, object) pairs for every object that loads."""
        for entry in self.entries():
            obj = self._load(entry)
            if obj is not None:
                yield entry.id, obj

    def reset(self) -> None:
        """Forget everything and discover again on next use (tests, after installs)."""
        self._entries.clear()
        self._aliases.clear()
        self.failures.clear()
        self._discovered = False
