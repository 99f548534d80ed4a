"""The Process model: schema, immutable validated instances, aliases, execution contexts."""

from __future__ import annotations

import attrs
import numpy as np
import pytest
from conftest import ramp

from processes.invert import Invert
from processes.nooperation import NoOperation
from procfw.errors import ExecutionError, ParameterError, UnknownNameError
from procfw.image import Image
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


def test_invert_and_nooperation(workspace):
    window = workspace.add_image(ramp(3), "rgb")
    Invert().execute_on(window.main_view)
    np.testing.assert_allclose(window.image.pixels, 1 - ramp(3).pixels)
    assert window.image.pixels.dtype == np.float32
    before = window.image
    NoOperation().execute_on(window.main_view)
    assert window.image is before
    assert NoOperation().can_execute_global() == (True, "")


def test_registry_finds_builtins_by_id():
    assert processes.get("Invert") is Invert
    assert "NoOperation" in processes.ids()
    with pytest.raises(UnknownNameError, match="did you mean Invert"):
        processes.get("Invret")


def test_registry_registration_and_aliases():
    unregister = processes.register("TestScale", Scale)
    try:
        assert processes.get("OldTestScale") is Scale
    finally:
        unregister()
    assert "TestScale" not in processes and "OldTestScale" not in processes


@pytest.mark.parametrize("cls", [Invert, NoOperation, Scale])
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
    assert any("modified in place" in f for f in report.failures)


def test_conformance_catches_undocumented_and_lenient_parameters():
    class Loose(Process):
        process_id = "TestLoose"
        table: tuple = param(Table(columns=[Double(id="x")]))

    report = check_process(Loose)
    assert any("no description" in f for f in report.failures)
