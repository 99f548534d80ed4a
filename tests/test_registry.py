"""Registries: discovery without import, isolation of failures, the clash rule, validation."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest

from procfw.errors import UnknownNameError
from procfw.registry import PluginWarning, Registry, formats


class FakeDist:
    def __init__(self, name: str, version: str) -> None:
        self.metadata = {"Name": name}
        self.version = version


def entry_point(name: str, value: str, dist: str, version: str = "1.0", group: str = "test.group"
                ) -> metadata.EntryPoint:
    ep = metadata.EntryPoint(name, value, group)
    return ep._for(FakeDist(dist, version))  # type: ignore[attr-defined]


@pytest.fixture
def fake_group(monkeypatch):
    points: list[metadata.EntryPoint] = []
    real = metadata.entry_points

    def entry_points(**kwargs):
        if kwargs.get("group") in ("test.group", "test.aliases"):
            return [p for p in points if p.group == kwargs["group"]]
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


class CountingDist:
    """A distribution that counts how often its METADATA is read (each read parses the file again)."""

    def __init__(self, name: str, version: str) -> None:
        self.name_, self.version_, self.reads = name, version, 0

    @property
    def metadata(self) -> dict[str, str]:
        self.reads += 1
        return {"Name": self.name_}

    @property
    def version(self) -> str:
        self.reads += 1
        return self.version_


def test_discovery_reads_each_distributions_metadata_once(fake_group):
    plugin, builtin = CountingDist("some-plugin", "3.2"), CountingDist("procfw", "0.1.0")
    for i in range(5):
        fake_group.append(metadata.EntryPoint(f"p{i}", "json:dumps", "test.group")._for(plugin))  # type: ignore[attr-defined]
    fake_group.append(metadata.EntryPoint("p0", "json:loads", "test.group")._for(builtin))  # type: ignore[attr-defined]
    registry: Registry = Registry("test.group", "thing")
    with pytest.warns(PluginWarning, match="'p0' from some-plugin 3.2: id clashes with procfw 0.1.0"):
        assert registry.ids() == ["p0", "p1", "p2", "p3", "p4"]
    assert (plugin.reads, builtin.reads) == (2, 2)  # name and version, once each
    assert {(e.id, e.distribution, e.version) for e in registry.entries()} == {
        ("p0", "procfw", "0.1.0"), *((f"p{i}", "some-plugin", "3.2") for i in range(1, 5))}


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


def test_aliases_come_from_metadata_and_a_miss_imports_nothing(fake_group):
    fake_group.append(entry_point("dumps", "json:dumps", "some-plugin"))
    fake_group.append(entry_point("broken", "no_such_module_xyz:thing", "bad-plugin"))
    fake_group.append(entry_point("old_dumps", "dumps", "some-plugin", group="test.aliases"))
    fake_group.append(entry_point("stray", "not_an_id", "some-plugin", group="test.aliases"))
    registry: Registry = Registry("test.group", "thing", alias_group="test.aliases")
    assert registry.resolve("old_dumps") == "dumps"
    assert registry.resolve("stray") is None  # an alias of nothing is ignored
    assert registry.resolve("nothing_like_it") is None
    assert all(e.obj is None and not e.failed for e in registry.entries())  # nothing was imported
    import json

    assert registry.get("old_dumps") is json.dumps
    assert not registry.failures


def _fresh_interpreter(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_did_you_mean_miss_loads_no_plugin():
    out = _fresh_interpreter(
        "import sys\n"
        "from procfw.console import Session\n"
        "try:\n    Session().run_text('Invertt')\nexcept Exception as exc:\n    print(exc)\n"
        "print(sorted(m for m in sys.modules if m.startswith('processes')))\n"
    )
    assert "did you mean Invert?" in out
    assert out.splitlines()[-1] == "[]"


def test_running_a_process_imports_that_process_only():
    out = _fresh_interpreter(
        "import sys\n"
        "from procfw.console import Session\n"
        "Session().run_text('NewImage -id=a -width=64 -height=64\\nInvert a')\n"
        "print(sorted(m for m in sys.modules if m.startswith('processes')))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'scipy', 'astropy', 'numba'}))\n"
    )
    loaded = str(["processes", "processes.intensity", "processes.intensity.invert", "processes.utility",
                  "processes.utility.newimage"])
    assert out.splitlines()[-2:] == [loaded, "[]"]


def test_a_format_is_found_by_extension_without_loading_the_others():
    out = _fresh_interpreter(
        "from procfw.io import format_for_path\n"
        "from procfw.registry import formats\n"
        "print(format_for_path('a.fits.gz').id, format_for_path('b.tif', for_writing=True).id)\n"
        "print(sorted(e.id for e in formats.entries() if e.obj is not None))\n"
    )
    assert out.splitlines() == ["fits tiff", "['fits', 'tiff']"]
