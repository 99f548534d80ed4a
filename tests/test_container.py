"""ProcessContainer: order, nesting, disabled children, masks, one history step."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ramp
from doubles import Negate, Pass
from test_process import MakeImage, Scale

from procfw.container import ContainerItem, ProcessContainer
from procfw.errors import ExecutionError
from procfw.image import Image
from procfw.workspace import MaskRef


def test_children_run_in_order(workspace):
    window = workspace.add_image(ramp(), "img")
    ProcessContainer.of(Scale(factor=0.5), Negate()).execute_on(window.main_view)
    np.testing.assert_allclose(window.image.pixels, 1 - ramp().pixels * 0.5, rtol=1e-6)


def test_disabled_child_is_skipped(workspace):
    window = workspace.add_image(ramp(), "img")
    container = ProcessContainer(items=[ContainerItem(instance=Negate(), enabled=False), Scale(factor=0.5)])
    container.execute_on(window.main_view)
    np.testing.assert_allclose(window.image.pixels, ramp().pixels * 0.5)
    assert container.with_enabled(0, True).enabled_items()[0].instance == Negate()


def test_nested_containers_and_one_undo_reverses_everything(workspace):
    window = workspace.add_image(ramp(), "img")
    inner = ProcessContainer.of(Negate(), Scale(factor=0.5))
    outer = ProcessContainer.of(inner, Negate(), Pass())
    outer.execute_on(window.main_view)
    np.testing.assert_allclose(window.image.pixels, 1 - (1 - ramp().pixels) * 0.5, rtol=1e-6)
    assert window.main_view.history.processes() == [outer]
    window.main_view.undo()
    np.testing.assert_array_equal(window.image.pixels, ramp().pixels)
    window.main_view.redo()
    np.testing.assert_allclose(window.image.pixels, 1 - (1 - ramp().pixels) * 0.5, rtol=1e-6)


def test_executable_only_if_every_enabled_child_is(workspace):
    window = workspace.add_image(ramp(), "img")
    container = ProcessContainer.of(Negate(), MakeImage())
    ok, why = container.can_execute_on(window.main_view)
    assert not ok and "child 1 (TestMakeImage)" in why
    with pytest.raises(ExecutionError):
        container.execute_on(window.main_view)
    disabled = container.with_enabled(1, False)
    assert disabled.can_execute_on(window.main_view) == (True, "")
    assert not container.can_execute_global()[0]
    assert ProcessContainer.of(MakeImage(value=0.1), Pass()).execute_global(workspace).created == ("made",)


def test_a_failing_child_rolls_the_view_back(workspace):
    window = workspace.add_image(ramp(3), "img")
    workspace.add_image(Image(np.ones((1, 2, 2), np.float32)), "tiny")
    bad_mask = ContainerItem(instance=Scale(factor=0.5), mask=MaskRef("tiny"))
    with pytest.raises(ExecutionError):
        ProcessContainer(items=[Negate(), bad_mask]).execute_on(window.main_view)
    np.testing.assert_array_equal(window.image.pixels, ramp(3).pixels)
    assert window.main_view.history.done == []


def test_child_mask_applies_to_that_child_only(workspace):
    window = workspace.add_image(Image(np.full((1, 2, 2), 0.2, np.float32)), "img")
    mask = np.array([[[1.0, 0.0], [0.5, 0.0]]], np.float32)
    workspace.add_image(Image(mask), "m")
    container = ProcessContainer(items=[ContainerItem(instance=Negate(), mask=MaskRef("m")), Scale(factor=2)])
    container.execute_on(window.main_view)
    inverted = mask * 0.8 + (1 - mask) * 0.2
    np.testing.assert_allclose(window.image.pixels, np.clip(inverted * 2, 0, 1), rtol=1e-6)


def test_history_extracts_as_a_container(workspace):
    window = workspace.add_image(ramp(), "img")
    for step in (Negate(), Scale(factor=0.5), Negate()):
        step.execute_on(window.main_view)
    extracted = ProcessContainer.from_history(window.main_view)
    assert [i.instance for i in extracted.items] == [Negate(), Scale(factor=0.5), Negate()]
    other = workspace.add_image(ramp(), "other")
    extracted.execute_on(other.main_view)
    np.testing.assert_allclose(other.image.pixels, window.image.pixels)
