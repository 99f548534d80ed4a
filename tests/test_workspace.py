"""Workspace: ids, masks, previews, undo/redo with a memory bound, snapshots."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ramp
from doubles import Negate
from test_process import Scale

from procfw.errors import ExecutionError, ProcfwError, UnknownNameError
from procfw.history import History
from procfw.image import FITSKeyword, Image
from procfw.workspace import Workspace, is_valid_id, make_id, unique_id


def test_identifier_rules():
    assert is_valid_id("M31_Ha") and is_valid_id("_x1")
    assert not is_valid_id("1abc") and not is_valid_id("a-b") and not is_valid_id("")
    assert make_id("Light_M_94_10.0s") == "Light_M_94_10_0s"
    assert make_id("2025-03-27") == "_2025_03_27"
    assert unique_id("img", {"img", "img_1"}) == "img_2"


def test_window_ids_get_suffixes_and_typos_get_suggestions(workspace):
    assert workspace.add_image(ramp(), "img").id == "img"
    assert workspace.add_image(ramp(), "img").id == "img_1"
    assert workspace.window_ids() == ["img", "img_1"]
    with pytest.raises(ProcfwError, match="invalid image id"):
        workspace.add_image(ramp(), "9lives")
    with pytest.raises(UnknownNameError, match="did you mean img"):
        workspace.window("imgg")
    workspace.close("img")
    assert workspace.window_ids() == ["img_1"]


def test_image_model():
    image = Image(np.zeros((4, 5), np.float16), [FITSKeyword("EXPTIME", 10.0, "s")])
    assert Image(np.zeros((1, 1, 1))).pixels.dtype == np.float64  # float64 is kept where wanted
    assert (image.channels, image.height, image.width) == (1, 4, 5)
    assert image.pixels.dtype == np.float32 and image.keyword("exptime") == 10.0
    with pytest.raises(ValueError, match="2-D .* or 3-D"):
        Image(np.zeros(5))
    with pytest.raises(ValueError, match="floating point"):
        Image(np.zeros((2, 2), np.uint16))


@pytest.mark.parametrize(("inverted", "expected"), [(False, "m*new+(1-m)*old"), (True, "(1-m)*new+m*old")])
def test_mask_blend(workspace, inverted, expected):
    old = ramp(3)
    window = workspace.add_image(old, "img")
    m = np.linspace(0, 1, 24, dtype=np.float32).reshape(1, 4, 6)
    workspace.add_image(Image(m), "mask")
    workspace.set_mask("img", "mask", inverted=inverted)
    Negate().execute_on(window.main_view)
    new = 1 - old.pixels
    weight = 1 - m if inverted else m
    np.testing.assert_allclose(window.image.pixels, weight * new + (1 - weight) * old.pixels, atol=1e-6)


def test_mask_can_be_disabled_and_rules_are_checked(workspace):
    window = workspace.add_image(ramp(), "img")
    workspace.add_image(Image(np.zeros((1, 4, 6), np.float32)), "black")
    workspace.add_image(Image(np.zeros((1, 2, 2), np.float32)), "small")
    with pytest.raises(ProcfwError, match="mask small is 2x2"):
        workspace.set_mask("img", "small")
    with pytest.raises(ProcfwError, match="its own mask"):
        workspace.set_mask("img", "img")
    workspace.set_mask("img", "black")
    Negate().execute_on(window.main_view)
    np.testing.assert_array_equal(window.image.pixels, ramp().pixels)  # fully protected
    window.mask_enabled = False
    Negate().execute_on(window.main_view)
    np.testing.assert_allclose(window.image.pixels, 1 - ramp().pixels)
    workspace.close("black")
    assert window.mask is None


def test_undo_redo(workspace):
    window = workspace.add_image(ramp(), "img")
    view = window.main_view
    Negate().execute_on(view)
    Scale(factor=0.5).execute_on(view)
    after_both = view.image
    view.undo()
    np.testing.assert_allclose(view.image.pixels, 1 - ramp().pixels)
    view.undo()
    np.testing.assert_array_equal(view.image.pixels, ramp().pixels)
    with pytest.raises(ExecutionError, match="nothing to undo"):
        view.undo()
    view.redo()
    view.redo()
    assert view.image is after_both
    with pytest.raises(ExecutionError, match="nothing to redo"):
        view.redo()
    view.undo()
    Negate().execute_on(view)  # a new step clears the redo list
    with pytest.raises(ExecutionError, match="nothing to redo"):
        view.redo()


def test_history_memory_bound_drops_oldest_undo_states():
    workspace = Workspace(history_budget=2 * ramp().nbytes)
    view = workspace.add_image(ramp(), "img").main_view
    for _ in range(4):
        Negate().execute_on(view)
    assert view.history.stored_bytes() <= 2 * ramp().nbytes
    assert len(view.history.processes()) == 4
    view.undo()
    view.undo()
    with pytest.raises(ExecutionError, match="dropped to keep history under"):
        view.undo()
    assert History(budget_bytes=0).stored_bytes() == 0


def test_history_budget_is_shared_by_every_view_of_the_workspace():
    budget = 3 * ramp().nbytes
    workspace = Workspace(history_budget=budget)
    views = [workspace.add_image(ramp(), f"img{i}").main_view for i in range(20)]
    for view in views:
        Negate().execute_on(view)
        Scale(factor=0.5).execute_on(view)
    assert workspace.history_limits.stored_bytes() <= budget
    assert sum(v.history.stored_bytes() for v in views) <= budget
    assert all(len(v.history.processes()) == 2 for v in views)
    # the three most recent steps (of the last two views) can be undone; the oldest cannot
    views[-1].undo()
    views[-1].undo()
    views[-2].undo()
    np.testing.assert_array_equal(views[-1].image.pixels, ramp().pixels)
    with pytest.raises(ExecutionError, match="dropped to keep history under .*all views together"):
        views[0].undo()
    with pytest.raises(ExecutionError, match="dropped to keep history under"):
        views[-2].undo()


def test_history_budget_drops_the_oldest_step_of_any_view_first():
    workspace = Workspace(history_budget=2 * ramp().nbytes)
    a = workspace.add_image(ramp(), "a").main_view
    b = workspace.add_image(ramp(), "b").main_view
    Negate().execute_on(a)  # oldest
    Negate().execute_on(b)
    Scale(factor=0.5).execute_on(a)  # newest: drops a's first step, not b's
    assert [s.image is None for s in a.history.done] == [True, False]
    assert [s.image is None for s in b.history.done] == [False]
    workspace.history_budget = ramp().nbytes  # lowering the budget applies at once
    assert [s.image is None for s in b.history.done] == [True]
    assert workspace.history_limits.stored_bytes() <= ramp().nbytes
    closed = Workspace(history_budget=ramp().nbytes)
    c = closed.add_image(ramp(), "c").main_view
    Negate().execute_on(c)
    closed.close("c")  # a closed window's history no longer counts
    d = closed.add_image(ramp(), "d").main_view
    Negate().execute_on(d)
    d.undo()


def test_previews_have_their_own_processing(workspace):
    window = workspace.add_image(ramp(1, 4, 6), "img")
    preview = window.add_preview(1, 1, 4, 3)
    assert preview.id == "img->Preview01"
    assert workspace.view("img->Preview01") is preview
    np.testing.assert_array_equal(preview.image.pixels, ramp(1, 4, 6).pixels[:, 1:3, 1:4])
    Negate().execute_on(preview)
    np.testing.assert_allclose(preview.image.pixels, 1 - ramp(1, 4, 6).pixels[:, 1:3, 1:4])
    np.testing.assert_array_equal(window.image.pixels, ramp(1, 4, 6).pixels)  # main view untouched
    assert len(preview.history.done) == 1 and not window.main_view.history.done
    preview.undo()
    np.testing.assert_array_equal(preview.image.pixels, ramp(1, 4, 6).pixels[:, 1:3, 1:4])
    assert window.add_preview(0, 0, 2, 2).id == "img->Preview02"
    assert window.add_preview(0, 0, 2, 2, "stars").id == "img->stars"
    with pytest.raises(ProcfwError, match="not inside img"):
        window.add_preview(0, 0, 7, 2)
    with pytest.raises(UnknownNameError, match="no preview 'nope'"):
        workspace.view("img->nope")


def test_preview_mask_is_cropped(workspace):
    window = workspace.add_image(Image(np.full((1, 4, 6), 0.25, np.float32)), "img")
    m = np.zeros((1, 4, 6), np.float32)
    m[:, 2:, :] = 1
    workspace.add_image(Image(m), "mask")
    workspace.set_mask("img", "mask")
    preview = window.add_preview(0, 1, 6, 4)
    Negate().execute_on(preview)
    expected = np.where(m[:, 1:4, :] > 0, 0.75, 0.25)
    np.testing.assert_allclose(preview.image.pixels, expected)


def test_snapshot_restore_rolls_back_windows_icons_history(workspace):
    window = workspace.add_image(ramp(), "img")
    workspace.add_icon("inv", Negate())
    snap = workspace.snapshot()
    Negate().execute_on(window.main_view)
    window.add_preview(0, 0, 2, 2)
    workspace.add_image(ramp(), "other")
    workspace.add_icon("more", Negate())
    workspace.close("img")
    workspace.restore(snap)
    assert workspace.window_ids() == ["img"] and list(workspace.icons) == ["inv"]
    restored = workspace.window("img")
    np.testing.assert_array_equal(restored.image.pixels, ramp().pixels)
    assert restored.previews == {} and restored.main_view.history.done == []


def test_icons(workspace):
    assert workspace.add_icon("a", Negate()) == "a"
    assert workspace.add_icon("a", Negate()) == "a_1"
    workspace.rename_icon("a_1", "b")
    assert list(workspace.icons) == ["a", "b"]
    with pytest.raises(ProcfwError):
        workspace.rename_icon("a", "b")
    workspace.delete_icon("a")
    with pytest.raises(UnknownNameError, match="did you mean b"):
        workspace.icon("bb")
