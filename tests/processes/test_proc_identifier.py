"""ImageIdentifier and Workspace.rename_window."""

from __future__ import annotations

import numpy as np
import pytest
from corpus_icons import corpus_instances, xosm_instances

from processes.intensity.invert import Invert
from processes.utility.identifier import ImageIdentifier
from procfw.container import ProcessContainer
from procfw.errors import ExecutionError, ParameterError, ProcfwError
from procfw.image import Image
from procfw.testing import check_process
from procfw.workspace import Workspace


def _image(value: float = 0.25) -> Image:
    return Image(np.full((1, 4, 6), value, dtype=np.float32))


def test_conformance() -> None:
    check_process(ImageIdentifier).raise_if_failed()


def test_rename_window_keeps_everything_consistent() -> None:
    ws = Workspace()
    ws.add_image(_image(), "first")
    win = ws.add_image(_image(0.5), "old")
    ws.add_image(_image(0.75), "last")
    ws.add_image(_image(1.0), "masked")
    ws.set_mask("masked", "old", inverted=True)
    ws.set_mask("old", "first")
    preview = win.add_preview(0, 0, 2, 2)
    ws.current_view_id = "old->Preview01"
    renamed = ws.rename_window("old", "new")
    assert renamed is win and win.id == "new" and win.main_view.id == "new"
    assert preview.id == "new->Preview01" and ws.view("new->Preview01") is preview
    assert ws.window_ids() == ["first", "new", "last", "masked"]  # keeps its place
    assert "old" not in ws
    assert ws.window("masked").mask.window_id == "new" and ws.window("masked").mask.inverted
    assert win.mask.window_id == "first"  # its own mask is untouched
    assert ws.current_view_id == "new->Preview01"
    assert ws.rename_window("new", "new") is win  # no-op


@pytest.mark.parametrize("bad", ["1abc", "a-b", "", "has space"])
def test_rename_window_rejects_invalid_ids(bad: str) -> None:
    ws = Workspace()
    ws.add_image(_image(), "img")
    with pytest.raises(ProcfwError, match="cannot rename"):
        ws.rename_window("img", bad)


def test_rename_window_rejects_taken_ids_and_unknown_windows() -> None:
    ws = Workspace()
    ws.add_image(_image(), "a")
    ws.add_image(_image(), "b")
    with pytest.raises(ProcfwError, match="already exists"):
        ws.rename_window("a", "b")
    with pytest.raises(ProcfwError, match="no image window"):
        ws.rename_window("zzz", "c")


def test_restore_undoes_a_rename() -> None:
    ws = Workspace()
    win = ws.add_image(_image(), "a")
    win.add_preview(0, 0, 2, 2)
    snap = ws.snapshot()
    ws.rename_window("a", "b")
    ws.restore(snap)
    assert ws.window_ids() == ["a"] and win.id == "a" and win.main_view.id == "a"
    assert ws.view("a->Preview01").id == "a->Preview01"


def test_image_identifier_renames_without_history_step() -> None:
    ws = Workspace()
    win = ws.add_image(_image(), "Image")
    result = ImageIdentifier(id="starless").execute_on(win.main_view)
    assert result.target == "starless" and result.outputs == {"previousId": "Image", "id": "starless"}
    assert ws.window_ids() == ["starless"] and win.main_view.id == "starless"
    assert win.main_view.history.done == []
    np.testing.assert_array_equal(win.image.pixels, _image().pixels)


def test_image_identifier_in_a_container_then_more_processing() -> None:
    ws = Workspace()
    win = ws.add_image(_image(), "Image")
    ProcessContainer.of(ImageIdentifier(id="RGB"), Invert()).execute_on(win.main_view)
    assert ws.window_ids() == ["RGB"]
    np.testing.assert_allclose(ws.view("RGB").image.pixels, 0.75)


def test_image_identifier_refusals() -> None:
    ws = Workspace()
    win = ws.add_image(_image(), "a")
    ws.add_image(_image(), "b")
    preview = win.add_preview(0, 0, 2, 2)
    assert ImageIdentifier(id="b").can_execute_on(win.main_view) == (False, "an image window 'b' already exists")
    assert not ImageIdentifier(id="c").can_execute_on(preview)[0]
    assert not ImageIdentifier().can_execute_on(win.main_view)[0]
    assert ImageIdentifier(id="a").can_execute_on(win.main_view)[0]  # same id: allowed, a no-op
    with pytest.raises(ExecutionError, match="already exists"):
        ImageIdentifier(id="b").execute_on(win.main_view)
    with pytest.raises(ParameterError, match="id"):
        ImageIdentifier(id="9lives")
    with pytest.raises(ParameterError, match="id"):
        ImageIdentifier(id="a b")


def test_corpus_image_identifier_icons_run() -> None:
    # 6 in the .xpsm icons (ids RGB, starless, SHO) and 5 more ids in the .xosm project's window histories
    instances = corpus_instances("ImageIdentifier") + xosm_instances("ImageIdentifier")
    assert len(instances) >= 11
    for label, identifier in instances:
        ws = Workspace()
        win = ws.add_image(_image(), "Image")
        identifier.execute_on(win.main_view)
        assert ws.window_ids() == [identifier.id], label
