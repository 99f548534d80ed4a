"""Registries: discovery without import, isolation of failures, the clash rule, validation."""

from __future__ import annotations

from importlib import metadata

import pytest

from procfw.errors import UnknownNameError
from procfw.registry import PluginWarning, Registry, formats


class FakeDist:
    def __init__(self, name: str, version: str) -> None:
        self.metadata = {"Name": name}
        self.version = version


def entry_point(name: str, value: str, dist: str, version: str = "1.0") -> metadata.EntryPoint:
    ep = metadata.EntryPoint(name, value, "test.group")
    return ep._for(FakeDist(dist, version))  # type: ignore[attr-defined]


@pytest.fixture
def fake_group(monkeypatch):
    points: list[metadata.EntryPoint] = []
    real = metadata.entry_points

    def entry_points(**kwargs):
        if kwargs.get("group") == "test.group":
            return points
        return real(**kwargs)

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    return points


def test_listing_does_not_import_and_loading_is_lazy(fake_group):
    fake_group.append(entry_point("later", "json:dumps", "some-plugin"))
    fake_group.append(entry_point("missing", "no_such_module_xyz:thing", "bad-plugin", "2.1"))
    registry: Registry = Registry("test.group", "thing")
    assert registry.ids() == ["later", "missing"]
    assert all(e.obj is None for e in registry.entries())
    import json

    assert registry.get("later") is json.dumps
    with pytest.warns(PluginWarning, match="'missing' from bad-plugin 2.1: failed to load: ModuleNotFoundError"):
        with pytest.raises(UnknownNameError, match="installed but failed to load"):
            registry.get("missing")
    assert len(registry.failures) == 1


def test_clash_rule_is_deterministic(fake_group):
    fake_group.append(entry_point("x", "json:loads", "zeta-plugin"))
    fake_group.append(entry_point("x", "json:dumps", "alpha-plugin"))
    fake_group.append(entry_point("y", "json:loads", "zeta-plugin"))
    fake_group.append(entry_point("y", "json:dumps", "procfw", "0.1.0"))
    registry: Registry = Registry("test.group", "thing")
    with pytest.warns(PluginWarning, match="id clashes"):
        ids = registry.ids()
    import json

    assert ids == ["x", "y"]
    assert registry.get("x") is json.dumps  # alpha-plugin sorts before zeta-plugin
    assert registry.get("y") is json.dumps  # procfw's own wins
    unregister = registry.register("x", json.JSONDecoder)
    assert registry.get("x") is json.JSONDecoder  # Python registration wins
    unregister()
    assert registry.get("x") is json.dumps


def test_validation_rejects_bad_objects(fake_group):
    fake_group.append(entry_point("notafunction", "json:__name__", "odd-plugin"))
    registry: Registry = Registry("test.group", "command", validate=lambda i, o: None if callable(o) else 1 / 0)
    with pytest.warns(PluginWarning, match="odd-plugin 1.0: failed to load"):
        with pytest.raises(UnknownNameError):
            registry.get("notafunction")


def test_builtin_formats_are_registered():
    assert {"fits", "xisf"} <= set(formats.ids())
    assert ".fits" in formats.get("fits").extensions
    with pytest.raises(TypeError, match="lacks"):
        formats.register("bogus", object())
