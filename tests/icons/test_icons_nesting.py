"""Deeply nested ProcessContainers: every reader refuses them with a clear message, every
writer refuses to write them, and nothing recurses without bound (item 7 of the hardening issue)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from procfw.container import ContainerItem, ProcessContainer
from procfw.icons import IconFileError, dumps_icons, load_icons
from procfw.icons.model import MAX_NESTING, container_depth
from procfw.unknown import RawElement, UnknownProcess, placeholders_in

pytestmark = pytest.mark.filterwarnings("ignore::procfw.registry.PluginWarning")

DEPTH = 1000


def _nested(depth: int) -> ProcessContainer:
    instance: ProcessContainer | UnknownProcess = UnknownProcess(class_id="BlurXTerminator")
    for _ in range(depth):
        instance = ProcessContainer(items=[ContainerItem(instance=instance)])
    assert isinstance(instance, ProcessContainer)
    return instance


def _pcs(depth: int) -> str:
    lines = ["icon A0 = Invert"] + [f"icon A{i} = A{i - 1}," for i in range(1, depth + 1)]
    return "\n".join(lines) + "\n"


def _json(depth: int) -> str:
    # built as text: json.dumps itself would recurse
    inner = '{"procfw_icon": 1, "process": "Invert", "parameters": {}}'
    head = '{"procfw_icon": 1, "process": "ProcessContainer", "items": [{"instance": '
    icon = head * depth + inner + "}]}" * depth
    return '{"format": "procfw-icons", "version": 1, "icons": {"A": ' + icon + "}}"


def _xpsm(depth: int) -> str:
    inner = '<instance class="Invert" enabled="true"/>'
    head = '<instance class="ProcessContainer" enabled="true">'
    body = head * depth + inner + "</instance>" * depth
    body = body.replace(head, '<instance class="ProcessContainer" id="A_instance">', 1)
    return f'<xpsm version="1.0">\n{body}\n<icon id="A" instance="A_instance"/></xpsm>\n'


@pytest.mark.parametrize(("name", "maker"), [("deep.pcs", _pcs), ("deep.json", _json), ("deep.xpsm", _xpsm)])
def test_deep_files_are_refused_by_the_readers(tmp_path: Path, name: str, maker):
    path = tmp_path / name
    path.write_text(maker(DEPTH))
    with pytest.raises(IconFileError, match="nested deeper than|nested too deeply") as info:
        load_icons(path)
    assert str(info.value).startswith(str(path))


@pytest.mark.parametrize(("name", "maker"), [("ok.pcs", _pcs), ("ok.json", _json), ("ok.xpsm", _xpsm)])
def test_nesting_up_to_the_limit_reads(tmp_path: Path, name: str, maker):
    path = tmp_path / name
    path.write_text(maker(MAX_NESTING))
    result = load_icons(path)
    deepest = max(container_depth(instance) for instance in result.icons.values())
    assert deepest == MAX_NESTING
    path.with_suffix(".over" + path.suffix).write_text(maker(MAX_NESTING + 1))
    with pytest.raises(IconFileError, match="nested"):
        load_icons(path.with_suffix(".over" + path.suffix))


@pytest.mark.parametrize("action", ["list", "convert"])
@pytest.mark.parametrize(("name", "maker"), [("deep.pcs", _pcs), ("deep.json", _json), ("deep.xpsm", _xpsm)])
def test_the_cli_fails_cleanly_on_deep_files(tmp_path: Path, name: str, maker, action: str):
    (tmp_path / name).write_text(maker(DEPTH))
    args = ["list", name] if action == "list" else ["convert", name, "out.xpsm"]
    done = subprocess.run([sys.executable, "-m", "procfw", "icons", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1, done.stdout
    assert "Traceback" not in done.stderr and "RecursionError" not in done.stderr
    assert name in done.stderr and "nest" in done.stderr


@pytest.mark.parametrize("fmt", ["xpsm", "json", "console", "pjsr"])
def test_writers_refuse_deep_containers_built_in_python(fmt: str):
    with pytest.raises(IconFileError, match=f"nested deeper than {MAX_NESTING}"):
        dumps_icons({"A": _nested(DEPTH)}, fmt)
    assert dumps_icons({"A": _nested(MAX_NESTING)}, fmt)


def test_placeholders_in_and_walk_do_not_recurse():
    deep = _nested(5 * DEPTH)
    assert placeholders_in(deep) == ["BlurXTerminator"]
    assert container_depth(deep) > MAX_NESTING
    element = RawElement(tag="leaf")
    for _ in range(5 * DEPTH):
        element = RawElement(tag="e", children=[element])
    assert sum(1 for _ in element.walk()) == 5 * DEPTH + 1


def test_raw_elements_from_json_are_bounded():
    data: dict = {"tag": "leaf"}
    for _ in range(200):
        data = {"tag": "e", "children": [data]}
    with pytest.raises(ValueError, match="nested deeper than 64"):
        RawElement.from_json(data)


def test_console_source_lines_are_limited_in_the_reader_and_the_writer(tmp_path: Path):
    from procfw.literals import MAX_LINE_LENGTH

    path = tmp_path / "long.pcs"
    path.write_text("icon A = Invert\nicon B = PixelMath -expression=" + "x" * MAX_LINE_LENGTH + "\n")
    with pytest.raises(IconFileError, match=f"{path}:2:1: line 2 is .* limited to {MAX_LINE_LENGTH}"):
        load_icons(path)
    big = UnknownProcess(class_id="BlurXTerminator", elements=[
        RawElement(tag="parameter", attributes=[("id", "p")], text="y" * MAX_LINE_LENGTH)])
    with pytest.raises(IconFileError, match=r"icon B would be a line of .* \(write .xpsm or .json instead\)"):
        dumps_icons({"B": big}, "console")
    assert dumps_icons({"B": big}, "xpsm")
