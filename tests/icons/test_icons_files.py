"""Icon files: format by extension, atomic writes that never replace unasked, workspaces, JSON, the CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from icon_helpers import corpus_files

from processes.intensity.invert import Invert
from processes.utility.nooperation import NoOperation
from procfw import cli_icons as icons_cli
from procfw.container import ContainerItem, ProcessContainer
from procfw.errors import FileExistsProcfwError
from procfw.icons import (
    IconFileError,
    IconMeta,
    InstanceMeta,
    add_loaded,
    dumps_icons,
    format_of,
    load_icons,
    loads_icons,
    save_icons,
)
from procfw.icons import json as icons_json
from procfw.unknown import RawElement, UnknownProcess
from procfw.workspace import MaskRef, Workspace

pytestmark = pytest.mark.filterwarnings("ignore::procfw.registry.PluginWarning")

BLUR = UnknownProcess(class_id="BlurXTerminator", class_version=256, elements=[
    RawElement(tag="parameter", attributes=[("id", "sharpen_stars"), ("value", "0.50")]),
])
ICONS = {
    "Neg": Invert(),
    "Blur": BLUR,
    "Chain": ProcessContainer(items=[NoOperation(), ContainerItem(instance=BLUR, enabled=False)]),
}


@pytest.mark.parametrize("suffix", [".xpsm", ".json", ".pcs"])
def test_save_and_load_by_extension(tmp_path: Path, suffix: str):
    path = tmp_path / f"icons{suffix}"
    assert save_icons(path, ICONS) == []
    result = load_icons(path)
    assert {k: result.icons[k] for k in ICONS} == ICONS
    assert result.placeholders == ["Blur", "Chain"] or suffix == ".pcs"
    assert result.missing_processes() == ["BlurXTerminator"]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


def test_existing_files_are_replaced_only_when_asked(tmp_path: Path):
    path = tmp_path / "icons.json"
    path.write_text("keep me")
    with pytest.raises(FileExistsProcfwError):
        save_icons(path, ICONS)
    assert path.read_text() == "keep me"
    save_icons(path, ICONS, overwrite=True)
    assert load_icons(path).icons == ICONS


def test_pjsr_is_write_only_and_unknown_extensions_are_refused(tmp_path: Path):
    save_icons(tmp_path / "icons.js", ICONS)
    assert "var Neg = new Invert;" in (tmp_path / "icons.js").read_text()
    with pytest.raises(IconFileError, match="write-only"):
        load_icons(tmp_path / "icons.js")
    with pytest.raises(IconFileError, match="unknown icon file extension '.txt'"):
        save_icons(tmp_path / "icons.txt", ICONS)
    assert format_of("A.XPSM") == "xpsm"
    with pytest.raises(IconFileError, match="cannot read"):
        load_icons(tmp_path / "missing.xpsm")


def test_a_failed_write_leaves_nothing(tmp_path: Path):
    bad = {"Bad": UnknownProcess(class_id="Zq", elements=[RawElement(tag="p", text="\x01")])}
    with pytest.raises(IconFileError, match="U\\+0001 cannot be written"):
        save_icons(tmp_path / "bad.xpsm", bad)
    assert list(tmp_path.iterdir()) == []


def test_add_loaded_suffixes_taken_ids_and_reports_them():
    workspace = Workspace()
    workspace.add_icon("Neg", NoOperation())
    result = loads_icons(dumps_icons(ICONS, "json"), "json")
    result.icons["not valid"] = Invert()
    used = add_loaded(workspace, result)
    assert used == {"Neg": "Neg_1", "Blur": "Blur", "Chain": "Chain", "not valid": "not_valid"}
    assert workspace.icons["Neg"] == NoOperation() and workspace.icons["Neg_1"] == Invert()
    assert workspace.icons["Blur"] == BLUR


def test_json_envelopes():
    chain = ProcessContainer(items=[ContainerItem(instance=Invert(), mask=MaskRef("m", True))])
    meta = {"Chain": IconMeta(xpos=5, ypos=6, workspace="W", instance=InstanceMeta(description="d"))}
    document = json.loads(icons_json.dumps({"Chain": chain, "Blur": BLUR}, meta=meta))
    assert document["format"] == "procfw-icons" and document["version"] == 1
    envelope = document["icons"]["Chain"]
    assert envelope["procfw_icon"] == 1 and envelope["process"] == "ProcessContainer"
    assert envelope["description"] == "d" and envelope["position"] == {"xpos": 5, "ypos": 6, "workspace": "W"}
    assert envelope["items"] == [{"enabled": True, "mask": {"window": "m", "inverted": True},
                                  "instance": {"procfw_icon": 1, "process": "Invert", "version": 256,
                                               "parameters": {}}}]
    blur = document["icons"]["Blur"]
    assert blur["placeholder"] is True and blur["xpsm"][0]["tag"] == "parameter"
    single = icons_json.loads(json.dumps(envelope))
    assert single.icons == {"Process01": chain}


@pytest.mark.parametrize(
    ("document", "match"),
    [
        ("{", "malformed JSON"),
        ('{"format": "other"}', "not a procfw icons file"),
        ('{"format": "procfw-icons", "version": 2, "icons": {}}', "unsupported procfw icons file version 2"),
        ('{"format": "procfw-icons", "version": 1, "icons": {"A": {"procfw_icon": 9}}}', "envelope version 1"),
        ('{"format": "procfw-icons", "version": 1, "icons": {"A": {"procfw_icon": 1, "process": "NoOperation", '
         '"parameters": 3}}}', "'parameters' must be an object"),
        ('{"format": "procfw-icons", "version": 1, "icons": {"A": {"procfw_icon": 1, "process": "ProcessContainer", '
         '"items": [{"enabled": "yes"}]}}}', "'enabled' must be true or false"),
        ('{"format": "procfw-icons", "version": 1, "icons": {"A": {"procfw_icon": 1, "process": "Zq", '
         '"placeholder": true, "xpsm": [{"tag": 5}]}}}', "must be an object with a 'tag'"),
    ],
)
def test_json_errors_are_clean(document: str, match: str):
    with pytest.raises(IconFileError, match=match):
        icons_json.loads(document, source="x.json")


def test_json_unknown_parameters_are_ignored_with_a_warning_and_missing_processes_keep_parameters():
    text = json.dumps({"format": "procfw-icons", "version": 1, "icons": {
        "A": {"procfw_icon": 1, "process": "NoOperation", "parameters": {"ghost": 1}},
        "B": {"procfw_icon": 1, "process": "ZqGone", "parameters": {"x": 0.5, "s": "t", "tab": [[1, "a"]]}},
    }})
    result = icons_json.loads(text)
    assert result.icons["A"] == NoOperation()
    assert any("unknown parameter 'ghost'" in w for w in result.warnings)
    gone = result.icons["B"]
    assert isinstance(gone, UnknownProcess)
    assert gone.raw_parameters() == {"x": "0.5", "s": "t"}
    assert gone.raw_tables() == {"tab": [{"c0": "1", "c1": "a"}]}


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="procfw icons")
    icons_cli.configure(parser)
    return icons_cli.run(parser.parse_args(argv))


def test_cli_convert_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    source = tmp_path / "in.xpsm"
    save_icons(source, ICONS)
    target = tmp_path / "out.pcs"
    assert _cli(["convert", str(source), str(target)]) == 0
    assert "3 icons (2 kept as placeholders)" in capsys.readouterr().out
    assert load_icons(target).icons["Chain"] == ICONS["Chain"]
    with pytest.raises(FileExistsProcfwError):
        _cli(["convert", str(source), str(target)])
    assert _cli(["convert", str(source), str(target), "--overwrite"]) == 0
    capsys.readouterr()
    assert _cli(["list", str(source)]) == 0
    out = capsys.readouterr().out
    assert "Blur   BlurXTerminator  [placeholder: not installed]" in out
    assert "Chain  ProcessContainer (2 children)  [contains placeholders: BlurXTerminator]" in out
    assert _cli([]) == 2


def test_cli_lists_a_corpus_file(capsys: pytest.CaptureFixture[str]):
    files = corpus_files()
    if not files:
        pytest.skip("no corpus")
    assert _cli(["list", str(files[0])]) == 0
    assert "icons," in capsys.readouterr().out
