"""UnknownProcess placeholders and RawElement trees."""

from __future__ import annotations

import pytest

from processes.intensity.invert import Invert
from procfw.container import ProcessContainer
from procfw.registry import processes
from procfw.testing import test_image
from procfw.unknown import RawElement, UnknownProcess, placeholders_in
from procfw.workspace import Workspace


def test_placeholder_reports_its_class_and_refuses_to_run():
    blur = UnknownProcess(class_id="BlurXTerminator", class_version=256)
    assert blur.process_id == "BlurXTerminator" and UnknownProcess.process_id == "UnknownProcess"
    assert repr(blur) == "UnknownProcess('BlurXTerminator', version=256, 0 elements)"
    view = Workspace().add_image(test_image(1), "img").main_view
    ok, why = blur.can_execute_on(view)
    assert not ok and why.startswith("process BlurXTerminator is not installed")
    assert "BlurXTerminator" not in processes
    assert placeholders_in(ProcessContainer.of(Invert(), blur, ProcessContainer.of(blur))) == ["BlurXTerminator"] * 2
    assert placeholders_in(Invert()) == []


def test_raw_elements_compare_by_content_and_round_trip_json():
    a = RawElement(tag="p", attributes={"id": "x"}, text="1", raw="&#49;", line=3)
    b = RawElement(tag="p", attributes=[("id", "x")], text="1")
    assert a == b and hash(a) == hash(b) and a.get("id") == "x" and a.get("nope") is None
    tree = RawElement(tag="t", children=[a, RawElement(tag="e", text="")])
    assert RawElement.from_json(tree.to_json()) == tree
    assert [e.tag for e in tree.walk()] == ["t", "p", "e"]
    with pytest.raises(ValueError, match="attributes"):
        RawElement.from_json({"tag": "x", "attributes": [["a"]]})
