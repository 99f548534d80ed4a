"""ImageContainer: PixInsight's schema and XPSM form, output names, and running icons over files and views."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from corpus_icons import corpus_instances, raw_instances, xosm_instances

from processes.utility.imagecontainer import ImageContainer, process_file
from procfw.container import ContainerItem, ProcessContainer
from procfw.errors import ExecutionError, ParameterError
from procfw.icons import dumps_icons, loads_icons
from procfw.icons.json import to_envelope
from procfw.icons.xpsm import element_to_instance, instance_to_element
from procfw.image import Image
from procfw.registry import processes
from procfw.testing import check_process
from procfw.unknown import RawElement, UnknownProcess
from procfw.workspace import Workspace

WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


def write_fits(path: Path, value: float, shape: tuple[int, int] = (4, 5)) -> Path:
    from astropy.io import fits

    data = np.linspace(value, value + 0.3, shape[0] * shape[1], dtype=np.float32).reshape(shape)
    fits.writeto(path, data)
    return path


def read_fits(path: Path) -> np.ndarray:
    from astropy.io import fits

    return np.asarray(fits.getdata(path), dtype=np.float32)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def frames(tmp_path: Path) -> list[Path]:
    """Three small FITS files in tmp_path/in, and an empty tmp_path/out."""
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    return [write_fits(tmp_path / "in" / f"light_{i}.fits", 0.1 * i) for i in (1, 2, 3)]


def container(frames: list[Path], out: Path, **changes) -> ImageContainer:
    rows = [(True, str(p), "") for p in frames]
    return ImageContainer(images=rows, outputDirectory=str(out), outputTemplate="&filename;_inv&extension;", **changes)


def invert():
    return processes.get("Invert")()


# -- schema ------------------------------------------------------------------------------------
def test_registered_with_pixinsight_ids_and_defaults():
    assert processes.get("ImageContainer") is ImageContainer
    schema = ImageContainer.schema()
    assert list(schema) == ["images", "outputDirectory", "outputTemplate", "onError", "dontOverwrite",
                            "overrideMasks", "continueAfterAbort"]
    assert [c.id for c in schema["images"].columns] == ["enabled", "path", "viewId"]
    made = ImageContainer()
    assert made.outputTemplate == "&filename;_&datetime;&extension;"
    assert (made.onError, made.dontOverwrite, made.overrideMasks, made.continueAfterAbort) == (
        "Continue", True, True, True)


def test_conforms():
    report = check_process(ImageContainer)
    report.raise_if_failed()
    assert any("target, not an action" in s for s in report.skipped)


@pytest.mark.parametrize("rows, rule", [
    ([(True, "", "")], "exactly one of path"),
    ([(True, "a.fits", "img")], "exactly one of path"),
    ([(True, "", "1bad")], "not a view id"),
])
def test_rows_need_a_file_or_a_view(rows, rule):
    with pytest.raises(ParameterError, match=rule) as caught:
        ImageContainer(images=rows)
    assert "ImageContainer" in str(caught.value) and "images" in str(caught.value)


@pytest.mark.parametrize("template, rule", [
    ("&filename;&ext;", "unknown token"),
    ("sub/&filename;&extension;", "names a file, not a path"),
    ("", "too short"),
])
def test_output_template_is_checked(template, rule):
    with pytest.raises(ParameterError, match=rule):
        ImageContainer(outputTemplate=template)


def test_a_glob_pattern_stands_for_rows(frames):
    made = ImageContainer(images=str(frames[0].parent / "light_*.fits"))
    assert made.images == tuple((True, str(p), "") for p in frames)


def test_output_path_tokens(tmp_path):
    made = ImageContainer(outputTemplate="&filename;_&datetime;&extension;")
    assert made.output_path("/data/a.fits", when=WHEN) == Path("/data/a_20260102030405.fits")
    assert made.output_path("/data/b.fits.gz", when=WHEN).name == "b_20260102030405.fits.gz"
    moved = made.evolve(outputDirectory=str(tmp_path), outputTemplate="&filename;.xisf")
    assert moved.output_path("/data/a.fits") == tmp_path / "a.xisf"


def test_executing_the_container_itself_is_refused():
    made = ImageContainer()
    view = Workspace().add_image(Image(np.zeros((1, 2, 2), np.float32)), "img").main_view
    for ok, why in (made.can_execute_global(), made.can_execute_on(view)):
        assert not ok and "target, not an action" in why and "exec ICON CONTAINER" in why
    with pytest.raises(ExecutionError, match="target, not an action"):
        made.execute_global(Workspace())


# -- XPSM --------------------------------------------------------------------------------------
def test_corpus_icons_load_typed_and_write_back_unchanged():
    found = corpus_instances("ImageContainer")
    assert len(found) >= 2
    raw = dict((label.split(":")[0], element) for label, element in raw_instances("ImageContainer"))
    for label, instance in found:
        assert isinstance(instance, ImageContainer), label
        assert [v for _, _, v in instance.images] and all(e for e, _, _ in instance.images)
        assert instance.onError == "Continue" and instance.dontOverwrite
        written = instance_to_element(instance, extra=[("id", "x")])
        original = raw[label.split(":")[0]]
        assert written.get("version") is None  # PixInsight writes no version for ImageContainer
        assert written.children == original.children, label
        for fmt in ("json", "console"):
            again = loads_icons(dumps_icons({"C": instance}, fmt), fmt).icons["C"]
            assert again == instance


def test_xosm_instance_with_numeric_flags_loads():
    found = xosm_instances("ImageContainer")
    assert found
    for _, instance in found:
        assert isinstance(instance, ImageContainer)
        assert instance.images == () and instance.dontOverwrite and instance.continueAfterAbort


def test_file_items_and_output_directory_round_trip_through_xpsm(tmp_path):
    made = ImageContainer(images=[(True, "/data/a.fits", ""), (False, "", "Ha")], outputDirectory="/data/out",
                          outputTemplate="&filename;_x.xisf", onError="Abort", dontOverwrite=False)
    text = dumps_icons({"C": made}, "xpsm")
    assert '<image enabled="true">/data/a.fits</image>' in text
    assert '<view enabled="false">Ha</view>' in text
    assert '<policies onError="abort"/>' in text and "<outputDirectory>/data/out</outputDirectory>" in text
    assert loads_icons(text, "xpsm").icons["C"] == made


@pytest.mark.parametrize("odd", [
    RawElement(tag="somethingNew", text="data"),
    RawElement(tag="image", attributes=[("enabled", "true"), ("somethingNew", "1")], text="a.fits"),
    RawElement(tag="image", attributes=[("enabled", "maybe")], text="a.fits"),
    RawElement(tag="view", children=[RawElement(tag="somethingNew")], text="Ha"),
    RawElement(tag="outputTemplate", text="../&filename;.fits"),
])
def test_anything_unknown_keeps_the_instance_as_a_placeholder(odd):
    element = RawElement(tag="instance", attributes=[("class", "ImageContainer")], children=[
        RawElement(tag="policies", attributes=[("onError", "continue")]), odd,
    ])
    warnings: list[str] = []
    instance, _ = element_to_instance(element, warnings)
    assert isinstance(instance, UnknownProcess) and instance.elements == element.children
    assert any("kept as a placeholder" in w for w in warnings)


# -- running over files --------------------------------------------------------------------------
def test_invert_over_three_files(frames, tmp_path):
    before = {p: digest(p) for p in frames}
    seen = []
    run = container(frames, tmp_path / "out").execute_process(invert(), on_item=seen.append)
    assert run.ok and run.count("ok") == 3 and not run.stopped
    assert sorted(o.index for o in seen) == [0, 1, 2]
    for frame in frames:
        out = tmp_path / "out" / f"{frame.stem}_inv.fits"
        np.testing.assert_allclose(read_fits(out), 1 - read_fits(frame), atol=1e-6)
        assert digest(frame) == before[frame]
    assert run.summary() == "Invert over ImageContainer: 3 succeeded, 0 failed, 0 skipped"
    assert [o["status"] for o in run.outputs()["items"]] == ["ok"] * 3


def test_a_process_container_icon_over_files(frames, tmp_path):
    pixel_math = processes.get("PixelMath")
    chain = ProcessContainer(items=[
        ContainerItem(instance=pixel_math(expression="$T*0.5")),
        ContainerItem(instance=invert(), enabled=False),
        ContainerItem(instance=invert()),
    ])
    run = container(frames, tmp_path / "out").execute_process(chain)
    assert run.ok
    for frame in frames:
        out = read_fits(tmp_path / "out" / f"{frame.stem}_inv.fits")
        np.testing.assert_allclose(out, 1 - 0.5 * read_fits(frame), atol=1e-6)


def test_missing_and_disabled_items(frames, tmp_path):
    rows = [(True, str(frames[0]), ""), (True, str(tmp_path / "in" / "gone.fits"), ""),
            (False, str(frames[1]), ""), (True, str(frames[2]), "")]
    made = ImageContainer(images=rows, outputDirectory=str(tmp_path / "out"), outputTemplate="&filename;_i.fits")
    run = made.execute_process(invert())
    assert [o.status for o in run.outcomes] == ["ok", "failed", "skipped", "ok"]
    assert "no such file" in run.outcomes[1].error
    assert "FAILED" in run.outcomes[1].line() and "skipped" in run.outcomes[2].line()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["light_1_i.fits", "light_3_i.fits"]
    with pytest.raises(ExecutionError, match="gone.fits"):
        run.raise_if_failed()


def test_existing_outputs_are_not_replaced_unless_asked(frames, tmp_path):
    made = container(frames, tmp_path / "out")
    assert made.execute_process(invert()).ok
    outputs = sorted((tmp_path / "out").iterdir())
    before = {p: digest(p) for p in outputs}
    again = made.execute_process(invert())
    assert again.count("failed") == 3
    assert all("file exists" in o.error and "dontOverwrite" in o.error for o in again.outcomes)
    assert {p: digest(p) for p in outputs} == before
    nop = processes.get("PixelMath")(expression="0.25")
    assert made.evolve(dontOverwrite=False).execute_process(nop).ok
    np.testing.assert_allclose(read_fits(outputs[0]), 0.25)


def test_inputs_are_never_replaced(frames):
    made = ImageContainer(images=[(True, str(p), "") for p in frames], outputTemplate="&filename;&extension;",
                          dontOverwrite=False)
    before = {p: digest(p) for p in frames}
    run = made.execute_process(invert())
    assert run.count("failed") == 3 and all("never modified" in o.error for o in run.outcomes)
    assert {p: digest(p) for p in frames} == before


def test_two_inputs_with_one_output_are_refused_before_anything_runs(frames, tmp_path):
    made = container(frames, tmp_path / "out").evolve(outputTemplate="same.fits")
    with pytest.raises(ExecutionError, match="would both be written"):
        made.execute_process(invert())
    assert not list((tmp_path / "out").iterdir())


def test_missing_output_directory_is_refused(frames, tmp_path):
    with pytest.raises(ExecutionError, match="does not exist"):
        container(frames, tmp_path / "nowhere").execute_process(invert())


def test_on_error_abort_stops_at_the_first_failure(frames, tmp_path):
    rows = [(True, str(tmp_path / "gone.fits"), "")] + [(True, str(p), "") for p in frames]
    made = ImageContainer(images=rows, outputDirectory=str(tmp_path / "out"), outputTemplate="&filename;_i.fits",
                          onError="Abort")
    run = made.execute_process(invert(), executor="serial")
    assert run.stopped and [o.status for o in run.outcomes] == ["failed", "skipped", "skipped", "skipped"]
    assert "onError=Abort" in run.outcomes[1].error
    assert not list((tmp_path / "out").iterdir())


def test_placeholders_and_containers_are_not_actions(frames, tmp_path):
    made = container(frames, tmp_path / "out")
    with pytest.raises(ExecutionError, match="not installed"):
        made.execute_process(UnknownProcess(class_id="BlurXTerminator"))
    with pytest.raises(ExecutionError, match="target, not an action"):
        made.execute_process(ImageContainer())


def test_a_process_that_cannot_run_on_views_fails_each_file(frames, tmp_path):
    run = container(frames, tmp_path / "out").execute_process(processes.get("NewImage")())
    assert run.count("failed") == 3 and "cannot run on" in run.outcomes[0].error


def test_process_file_job_never_raises(frames, tmp_path):
    icon = json.dumps(to_envelope(invert()))
    out = tmp_path / "out" / "one.fits"
    assert process_file(icon, str(frames[0]), str(out)) == {"ok": True, "output": str(out), "messages": []}
    assert process_file(icon, str(frames[0]), str(out))["error"].endswith("to replace it")
    assert "not supported" in process_file(icon, str(frames[0]), str(tmp_path / "x.fits"), False, "raw")["error"]
    assert process_file("{not json", str(frames[0]), str(tmp_path / "y.fits"))["ok"] is False


def test_a_process_pool_gives_the_same_outputs(frames, tmp_path):
    pytest.importorskip("procfw.batch")
    run = container(frames, tmp_path / "out").execute_process(invert(), executor="processes", workers=1)
    assert run.ok, run.outputs()
    for frame in frames:
        np.testing.assert_allclose(read_fits(tmp_path / "out" / f"{frame.stem}_inv.fits"), 1 - read_fits(frame),
                                   atol=1e-6)


# -- running over views (the corpus containers hold views) ----------------------------------------
def test_corpus_container_runs_over_workspace_views():
    label, made = next((lb, i) for lb, i in corpus_instances("ImageContainer") if "SHO" in lb)
    workspace = Workspace()
    for index, view_id in enumerate(("Sii", "Ha", "Oiii")):
        workspace.add_image(Image(np.full((1, 3, 3), 0.1 * (index + 1), np.float32)), view_id)
    run = made.execute_process(invert(), workspace=workspace)
    assert run.ok and run.count("ok") == 3, label
    np.testing.assert_allclose(workspace.view("Ha").image.pixels, 0.8, atol=1e-6)
    assert len(workspace.view("Ha").history.done) == 1
    missing = made.execute_process(invert(), workspace=Workspace())
    assert missing.count("failed") == 3
    assert made.execute_process(invert()).outcomes[0].error.startswith("a view item needs a workspace")


def test_a_dask_cluster_with_threaded_workers(frames, tmp_path):
    distributed = pytest.importorskip("distributed")
    batch = pytest.importorskip("procfw.batch")
    cluster = distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=3, dashboard_address=None)
    with cluster:
        with distributed.Client(cluster) as client:
            executor = batch.DaskExecutor(client)
            try:
                run = container(frames, tmp_path / "out").execute_process(invert(), executor=executor)
            finally:
                executor.close()
    assert run.ok, run.outputs()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"light_{i}_inv.fits" for i in (1, 2, 3)]


def test_a_path_with_white_space_at_either_end_is_refused():
    """The XPSM form keeps a path as element text, which readers trim: " " would come back as no
    path at all (found by the icon round-trip property test)."""
    for path in (" ", " light.fits", "light.fits\t"):
        with pytest.raises(ParameterError, match="begins or ends with white space"):
            ImageContainer(images=[[True, path, ""]])
    assert ImageContainer(images=[[True, "my light.fits", ""]]).images[0][1] == "my light.fits"
