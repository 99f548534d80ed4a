"""The Process model: schema, immutable validated instances, aliases, execution contexts."""

from __future__ import annotations

import attrs
import numpy as np
import pytest
from conftest import ramp
from doubles import Negate, Pass

from procfw.errors import ExecutionError, ParameterError, UnknownNameError
from procfw.image import FITSKeyword, Image
from procfw.params import Boolean, Double, Enumeration, String, Table, param
from procfw.process import ExecutionContext, Process, ProcessOutput
from procfw.registry import processes
from procfw.testing import check_process


class Scale(Process):
    """Multiply pixels by a factor (a test process)."""

    process_id = "TestScale"
    process_aliases = ("OldTestScale",)
    parameter_aliases = {"k": "factor"}

    factor: float = param(Double(minimum=0, maximum=10, default=1.0, precision=3, description="multiplier"))
    clip: bool = param(Boolean(default=True, description="clip to [0, 1]"))
    mode: str = param(Enumeration(elements=["Fast", "Exact"], default="Fast", description="algorithm"))
    label: str = param(String(default="", max_length=8, description="a label"))
    mean: float = param(Double(read_only=True, default=0.0, description="output: mean of the result"))

    def validate(self) -> None:
        if self.mode == "Exact" and self.factor == 0:
            raise self.invalid("factor", self.factor, "must be non-zero in Exact mode")

    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        out = image.pixels * self.factor
        if self.clip:
            out = np.clip(out, 0, 1)
        return ProcessOutput(image=image.with_pixels(out.astype(np.float32)), outputs={"mean": float(out.mean())})


class MakeImage(Process):
    """Create a constant image globally (a test process)."""

    process_id = "TestMakeImage"
    value: float = param(Double(minimum=0, maximum=1, default=0.5, description="pixel value"))

    def run_global(self, context: ExecutionContext) -> ProcessOutput:
        return ProcessOutput(new_images={"made": Image(np.full((1, 2, 2), self.value, np.float32))})


def test_instances_are_immutable_values():
    a = Scale(factor=2)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        a.factor = 3  # type: ignore[misc]
    b = a.evolve(factor=3)
    assert (a.factor, b.factor) == (2.0, 3.0)
    assert Scale(factor=2) == a and hash(Scale(factor=2)) == hash(a)
    assert a != b
    assert a.parameters() == {"factor": 2.0, "clip": True, "mode": "Fast", "label": "", "mean": 0.0}


def test_construction_validates_eagerly_with_process_parameter_value_and_rule():
    with pytest.raises(ParameterError) as info:
        Scale(factor=11)
    assert str(info.value).startswith("TestScale: parameter factor = 11: out of range")
    with pytest.raises(ParameterError, match="TestScale: parameter mode = 'Slow'"):
        Scale().evolve(mode="Slow")
    with pytest.raises(ParameterError, match="must be non-zero in Exact mode"):
        Scale(mode="Exact", factor=0)
    with pytest.raises(TypeError):
        Scale(2)  # keyword-only


def test_parameter_aliases_and_suggestions():
    assert Scale().evolve(k=4).factor == 4.0
    assert Scale.from_parameters({"k": 5, "clip": "false"}) == Scale(factor=5, clip=False)
    with pytest.raises(UnknownNameError, match="did you mean factor"):
        Scale.parameter_id("facter")


def test_schema_and_metadata():
    schema = Scale.schema()
    assert list(schema) == ["factor", "clip", "mode", "label", "mean"]
    assert schema["factor"].id == "factor" and schema["factor"].precision == 3
    assert schema["mean"].read_only
    assert Scale.description == "Multiply pixels by a factor (a test process)."
    assert repr(Scale(factor=2)) == "TestScale(factor=2.0)"


def test_execute_on_view_records_history_and_returns_outputs(workspace):
    window = workspace.add_image(ramp(), "img")
    result = Scale(factor=2).execute_on(window.main_view)
    assert result.target == "img" and result.outputs["mean"] == pytest.approx(np.clip(ramp().pixels * 2, 0, 1).mean())
    np.testing.assert_allclose(window.image.pixels, np.clip(ramp().pixels * 2, 0, 1))
    assert [type(p) for p in window.main_view.history.processes()] == [Scale]


def test_execution_contexts(workspace):
    window = workspace.add_image(ramp(), "img")
    assert MakeImage().can_execute_on(window.main_view) == (False, "TestMakeImage cannot be executed on views")
    assert Scale().can_execute_global()[0] is False
    with pytest.raises(ExecutionError, match="cannot be executed globally"):
        Scale().execute_global(workspace)
    with pytest.raises(ExecutionError, match="cannot run on img"):
        MakeImage().execute_on(window.main_view)
    result = MakeImage(value=0.25).execute_global(workspace)
    assert result.created == ("made",)
    assert workspace.window("made").image.pixels.mean() == pytest.approx(0.25)
    assert MakeImage().execute_global(workspace).created == ("made_1",)


def test_negate_and_pass(workspace):
    window = workspace.add_image(ramp(3), "rgb")
    Negate().execute_on(window.main_view)
    np.testing.assert_allclose(window.image.pixels, 1 - ramp(3).pixels)
    assert window.image.pixels.dtype == np.float32
    before = window.image
    Pass().execute_on(window.main_view)
    assert window.image is before
    assert Pass().can_execute_global() == (True, "")


def test_registry_registration_and_aliases():
    unregister = processes.register("TestScale", Scale)
    try:
        assert processes.get("OldTestScale") is Scale
    finally:
        unregister()
    assert "TestScale" not in processes and "OldTestScale" not in processes


@pytest.mark.parametrize("cls", [Negate, Pass, Scale])
def test_conformance(cls):
    check_process(cls).raise_if_failed()


def test_conformance_catches_a_process_that_modifies_its_input():
    class Bad(Process):
        """Modifies its input in place (wrong)."""

        process_id = "TestBad"

        def apply(self, image, context):
            image.pixels *= 0.5
            return image

    report = check_process(Bad)
    assert not report.ok
    assert any("in place" in f for f in report.failures)


class HalveInPlace(Process):
    """Halves its input's pixels in place (wrong: processes are pure functions)."""

    process_id = "TestHalveInPlace"

    def apply(self, image, context):
        image.pixels *= 2
        return image


class HalveThenFail(Process):
    """Writes into its input, then raises."""

    process_id = "TestHalveThenFail"

    def apply(self, image, context):
        image.pixels[...] = 0.5
        raise RuntimeError("boom")


class ScratchCopy(Process):
    """Works on a scratch copy, the right way to modify pixels in place."""

    process_id = "TestScratchCopy"

    def apply(self, image, context):
        scratch = image.writable_copy()
        scratch.pixels *= 2
        scratch.keywords.append(FITSKeyword("HISTORY", "doubled"))
        return scratch


def _constant(value: float) -> Image:
    return Image(np.full((1, 2, 2), value, np.float32))


def test_process_that_mutates_its_input_in_place_fails_and_undo_is_intact(workspace):
    window = workspace.add_image(_constant(0.25), "img")
    with pytest.raises(ExecutionError, match="TestHalveInPlace wrote into a read-only array.*in place.*copy"):
        HalveInPlace().execute_on(window.main_view)
    np.testing.assert_array_equal(window.image.pixels, 0.25)
    assert window.main_view.history.processes() == []


def test_process_that_mutates_then_raises_leaves_image_and_history_unchanged(workspace):
    window = workspace.add_image(_constant(0.25), "img")
    with pytest.raises(ExecutionError, match="TestHalveThenFail"):
        HalveThenFail().execute_on(window.main_view)
    np.testing.assert_array_equal(window.image.pixels, 0.25)
    assert window.main_view.history.processes() == []


def test_scratch_copy_is_writable_and_undo_restores_the_original(workspace):
    image = _constant(0.25)
    window = workspace.add_image(image, "img")
    ScratchCopy().execute_on(window.main_view)
    np.testing.assert_array_equal(window.image.pixels, 0.5)
    assert window.image.keyword("HISTORY") == "doubled"
    window.main_view.undo()
    np.testing.assert_array_equal(window.image.pixels, 0.25)
    assert window.image.keywords == [] and image.pixels.flags.writeable


def test_reference_images_from_the_context_are_read_only(workspace):
    class WriteReference(Process):
        """Writes into another view's image (wrong)."""

        process_id = "TestWriteReference"

        def apply(self, image, context):
            context.image("ref").pixels[...] = 1
            return image

    workspace.add_image(_constant(0.25), "ref")
    window = workspace.add_image(_constant(0.5), "img")
    with pytest.raises(ExecutionError, match="TestWriteReference"):
        WriteReference().execute_on(window.main_view)
    np.testing.assert_array_equal(workspace.window("ref").image.pixels, 0.25)


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        (None, "TestReturns.apply returned NoneType; it must return an Image or a ProcessOutput"),
        (np.zeros((1, 2, 2), np.float32), "TestReturns.apply returned ndarray"),
        (ProcessOutput(image=np.zeros((1, 2, 2))), "ProcessOutput.image of type ndarray"),  # type: ignore[arg-type]
        (ProcessOutput(new_images={"x": 3}), "new image 'x' of type int"),  # type: ignore[dict-item]
    ],
)
def test_process_returning_something_else_is_a_clear_error_and_history_is_untouched(workspace, returned, message):
    class Returns(Process):
        """Returns whatever the test says."""

        process_id = "TestReturns"

        def apply(self, image, context):
            return returned

    window = workspace.add_image(_constant(0.25), "img")
    with pytest.raises(ExecutionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Returns().execute_on(window.main_view)
    assert window.main_view.history.processes() == [] and workspace.window_ids() == ["img"]


def test_global_process_returning_an_image_is_a_clear_error(workspace):
    class GlobalImage(Process):
        """Returns an Image from run_global (wrong: a ProcessOutput is expected)."""

        process_id = "TestGlobalImage"

        def run_global(self, context):
            return _constant(0.5)

    with pytest.raises(ExecutionError, match="TestGlobalImage.run_global returned Image; it must return a Process"):
        GlobalImage().execute_global(workspace)


def test_conformance_catches_undocumented_and_lenient_parameters():
    class Loose(Process):
        process_id = "TestLoose"
        table: tuple = param(Table(columns=[Double(id="x")]))

    report = check_process(Loose)
    assert any("no description" in f for f in report.failures)


def test_check_process_runs_with_the_declared_conformance_parameters():
    class Picky(Process):
        """Needs a low threshold to run on the conformance ramp."""

        process_id = "TestPicky"
        threshold: float = param(Double(default=2.0, minimum=0, maximum=10, description="Above this: refused."))

        def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
            if self.threshold > 1:
                raise ExecutionError("TestPicky: nothing to do above 1")
            return ProcessOutput(image=image.with_pixels(np.minimum(image.pixels, self.threshold)))

    assert not check_process(Picky).ok
    Picky.conformance_parameters = {"threshold": 0.5}
    report = check_process(Picky)
    assert report.ok, report.failures
    assert "constructible with its conformance parameters" in report.passed
