"""Every real PixInsight XPSM file of the shared corpus loads, validates and writes back equivalent XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: N817 - trusted corpus files and our own output only
from pathlib import Path
from typing import Any

import pytest
from icon_helpers import CORPUS, corpus_files, instance_elements, need_corpus

from procfw.container import ProcessContainer
from procfw.errors import UnknownNameError
from procfw.icons import IconFileError, InstanceMeta, dumps_icons, load_icons, loads_icons, save_icons
from procfw.icons.lookup import process_class
from procfw.params import Table
from procfw.process import Process
from procfw.unknown import UnknownProcess

pytestmark = pytest.mark.filterwarnings("ignore::procfw.registry.PluginWarning")

FILES = corpus_files() or [None]


@pytest.fixture(params=FILES, ids=[p.name if p else "no-corpus" for p in FILES])
def corpus_file(request: pytest.FixtureRequest) -> Path:
    """One corpus .xpsm file."""
    if request.param is None:
        need_corpus()
    return request.param


def _walk(instance: Process) -> list[Process]:
    out = [instance]
    for item in getattr(instance, "items", ()) or ():
        out.extend(_walk(item.instance))
    return out


def _same_meta(a: InstanceMeta | None, b: InstanceMeta | None) -> bool:
    """Equal metadata; a version the file did not give may be filled in (procfw writes its own)."""
    if a is None or b is None:
        return a is b
    return (
        (a.class_id, a.description, a.time) == (b.class_id, b.description, b.time)
        and (b.version is None or a.version == b.version)
        and len(a.children) == len(b.children)
        and all(_same_meta(x, y) for x, y in zip(a.children, b.children))
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _known(cls: type[Process], name: str | None) -> str | None:
    try:
        return cls.parameter_id(name or "")
    except UnknownNameError:
        return None  # PixInsight ignores parameters a process does not know; so does procfw


def _normalize_typed(raw: bytes, cls: type[Process]) -> Any:
    """(class, id, parameters parsed by their kinds, tables, description, children) of an instance element."""
    element = ET.fromstring(raw)
    params, children, description = [], [], None
    for child in element:
        tag = _local(child.tag)
        pid = _known(cls, child.get("id")) if tag in ("parameter", "table") else None
        if tag == "parameter" and pid is not None:
            text = child.get("value") if child.get("value") is not None else (child.text or "")
            params.append((pid, cls.schema()[pid].parse(text)))
        elif tag == "table" and pid is not None:
            kind = cls.schema()[pid]
            assert isinstance(kind, Table)
            rows = [
                [(td.get("id"), kind.column(td.get("id")).parse(td.get("value") or td.text or "")) for td in tr]
                for tr in child
            ]
            params.append((pid, rows))
        elif tag == "instance":
            children.append((child.get("class"), child.get("enabled")))
        elif tag == "description":
            description = child.text or ""
    return (element.get("class"), element.get("id"), params, description, children)


def _assert_equivalent(before: Any, after: Any) -> None:
    """Same class, id, description and children; the file's parameters and tables with the same
    values in the same order; parameters the file lacked (a newer schema) written with defaults."""
    assert before[0:2] == after[0:2]
    assert before[3:] == after[3:]
    cls = process_class(before[0])
    assert cls is not None
    given = {pid for pid, _ in before[2]}
    assert [p for p in after[2] if p[0] in given] == before[2], f"{before[0]} {before[1]}"
    for pid, value in after[2]:
        if pid not in given and not isinstance(cls.schema()[pid], Table):
            assert value == cls.schema()[pid].default_value, f"{pid} was not in the file but is not the default"


def normalized(data: bytes) -> Any:
    """Instances in document order (typed ones by value, others as exact bytes) and icons."""
    instances = []
    for class_id, raw in instance_elements(data):
        cls = process_class(class_id)
        instances.append(("raw", raw) if cls is None else ("typed", _normalize_typed(raw, cls)))
    root = ET.fromstring(data)
    icons = [
        tuple(e.get(k) for k in ("id", "instance", "xpos", "ypos", "workspace"))
        for e in root if _local(e.tag) == "icon"
    ]
    return instances, icons


def test_every_corpus_file_loads(corpus_file: Path):
    result = load_icons(corpus_file)
    root = ET.parse(corpus_file).getroot()
    icon_ids = [e.get("id") for e in root if _local(e.tag) == "icon"]
    assert list(result.icons) == icon_ids
    assert result.format == "xpsm"
    for icon_id in result.placeholders:
        assert any(isinstance(i, UnknownProcess) for i in _walk(result.icons[icon_id]))


def test_every_registered_instance_validates(corpus_file: Path):
    """An instance whose class is registered loads typed; only missing processes become placeholders."""
    result = load_icons(corpus_file)
    invalid = [w for w in result.warnings if "kept as a placeholder" in w]
    assert not invalid, "\n".join(invalid)
    for icon_id, instance in result.icons.items():
        for each in _walk(instance):
            if isinstance(each, UnknownProcess):
                assert process_class(each.class_id) is None, f"{icon_id}: {each.class_id} is registered"
            elif not isinstance(each, ProcessContainer):
                assert type(each).from_parameters(each.parameters()) == each


def test_xpsm_write_and_read_again_gives_equal_instances(corpus_file: Path, tmp_path: Path):
    result = load_icons(corpus_file)
    out = tmp_path / "again.xpsm"
    assert save_icons(out, result.icons, meta=result.meta) == []
    again = load_icons(out)
    assert list(again.icons) == list(result.icons)
    assert again.icons == result.icons
    for icon_id, meta in result.meta.items():
        assert _same_meta(again.meta[icon_id].instance, meta.instance)
        assert (again.meta[icon_id].xpos, again.meta[icon_id].ypos) == (meta.xpos, meta.ypos)
        assert again.meta[icon_id].workspace == meta.workspace
    assert again.placeholders == result.placeholders


def test_written_xml_is_equivalent_and_placeholders_are_byte_identical(corpus_file: Path, tmp_path: Path):
    result = load_icons(corpus_file)
    out = tmp_path / "again.xpsm"
    save_icons(out, result.icons, meta=result.meta)
    before, after = normalized(corpus_file.read_bytes()), normalized(out.read_bytes())
    assert before[1] == after[1]  # icons: ids, instance ids, positions, workspaces
    assert len(before[0]) == len(after[0])
    for (kind_a, a), (kind_b, b) in zip(before[0], after[0]):
        assert kind_a == kind_b
        if kind_a == "raw":
            assert a == b  # placeholders: byte for byte
        else:
            _assert_equivalent(a, b)


def test_written_header_is_pixinsight_style(corpus_file: Path):
    result = load_icons(corpus_file)
    text = dumps_icons(result.icons, "xpsm", meta=result.meta)
    lines = text.splitlines()
    assert lines[0] == '<?xml version="1.0" encoding="UTF-8"?>'
    assert "PixInsight XML Process Serialization Module - XPSM 1.0" in lines[3]
    assert any(line.startswith("procfw ") for line in lines[:9])
    assert 'xmlns="http://www.pixinsight.com/xpsm"' in lines[9]
    assert lines[10].startswith("   <instance ")


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_corpus_round_trips_through_json_and_console_source(corpus_file: Path, fmt: str):
    result = load_icons(corpus_file)
    again = loads_icons(dumps_icons(result.icons, fmt, meta=result.meta), fmt)
    for icon_id, instance in result.icons.items():
        assert again.icons[icon_id] == instance
        described = result.meta[icon_id].instance.description
        if described is not None:
            assert again.meta[icon_id].instance.description == described


def test_xosm_project_file_is_refused_cleanly():
    path = CORPUS / "PixInsight-PJSR" / "TestPropagatePreviews.xosm"
    if not path.is_file():
        pytest.skip("no .xosm file in the corpus")
    from procfw.icons import xpsm

    with pytest.raises(IconFileError, match="XOSM"):
        xpsm.load(path)
