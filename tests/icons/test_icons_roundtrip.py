"""Property tests: every registered process (and synthetic processes of every parameter kind)
round-trips through XPSM, JSON and console source.

JSON and console source keep every value exactly; XPSM rounds each real value to its
parameter's precision, as PixInsight writes it (``as_written``), and what it wrote reads
back to that and writes again to the same text."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icon_helpers import SYNTHETIC, KitchenSink, as_written, synthetic  # noqa: F401 - fixture
from icon_strategies import containers, instances, placeholders

from procfw.container import ProcessContainer
from procfw.icons import dumps_icons, loads_icons
from procfw.icons.source import parse_console_command, to_console
from procfw.process import Process
from procfw.registry import PluginWarning, processes

pytestmark = [pytest.mark.filterwarnings("ignore::procfw.registry.PluginWarning"), pytest.mark.usefixtures("synthetic")]

with warnings.catch_warnings():
    warnings.simplefilter("ignore", PluginWarning)
    REGISTERED = sorted(pid for pid, _ in processes.items())

FORMATS = ["xpsm", "json", "console"]
PROPERTY = settings(
    max_examples=15, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


def round_trip(icons: dict[str, Process], fmt: str) -> dict[str, Process]:
    """Write ``icons`` in ``fmt`` and read them back (XPSM: and check writing that again changes nothing)."""
    text = dumps_icons(icons, fmt)
    result = loads_icons(text, fmt)
    assert not [w for w in result.warnings if "placeholder" in w], result.warnings
    if fmt == "xpsm":
        again = dumps_icons(result.icons, fmt)
        assert again.split("-->", 1)[1] == text.split("-->", 1)[1]
    return result.icons


def expected(instance: Process, fmt: str) -> Process:
    """What reading ``instance`` back from ``fmt`` gives."""
    return as_written(instance) if fmt == "xpsm" else instance


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("process_id", REGISTERED)
@PROPERTY
@given(data=st.data())
def test_every_registered_process_round_trips(process_id: str, fmt: str, data: st.DataObject):
    cls = processes.get(process_id)
    if issubclass(cls, ProcessContainer):
        instance = data.draw(containers(with_masks=fmt != "xpsm", written=fmt == "xpsm"))
    else:
        instance = data.draw(instances(cls, fmt == "xpsm"))
    back = round_trip({"Icon01": instance}, fmt)
    assert back["Icon01"] == expected(instance, fmt)
    if not isinstance(instance, ProcessContainer):
        assert parse_console_command(to_console(instance)) == instance


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("cls", SYNTHETIC, ids=[c.process_id for c in SYNTHETIC])
@PROPERTY
@given(data=st.data())
def test_synthetic_processes_of_every_kind_round_trip(cls: type[Process], fmt: str, data: st.DataObject):
    instance = data.draw(instances(cls, fmt == "xpsm"))
    assert round_trip({"Icon01": instance}, fmt)["Icon01"] == expected(instance, fmt)
    assert parse_console_command(to_console(instance)) == instance


@pytest.mark.parametrize("fmt", FORMATS)
@PROPERTY
@given(data=st.data())
def test_containers_of_synthetic_processes_and_placeholders_round_trip(fmt: str, data: st.DataObject):
    container = data.draw(containers(SYNTHETIC, with_masks=fmt != "xpsm", written=fmt == "xpsm"))
    extra = data.draw(placeholders())
    icons = {"Chain": container, "Chain_1": extra, "Other": KitchenSink()}
    back = round_trip(icons, fmt)
    for name, instance in icons.items():
        assert back[name] == expected(instance, fmt)
    assert [name for name in back if name in icons] == list(icons)


@pytest.mark.parametrize("fmt", FORMATS)
@PROPERTY
@given(instance=placeholders())
def test_placeholders_round_trip_unchanged(fmt: str, instance: Process):
    assert round_trip({"Missing": instance}, fmt)["Missing"] == instance
