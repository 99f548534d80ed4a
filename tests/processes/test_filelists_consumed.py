"""filelists.consumed_inputs: the inputs of a file-list run read for the last time leave the page cache,
and nothing else changes (outputs, input bytes)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from pagecache_probe import cached_pages as _cached_pages

from processes.common.filelists import consumed_inputs, frame_icon, frame_task, run_file_list, write_frame
from processes.debayer.process import Debayer
from procfw.batch import Executor
from procfw.image import FITSKeyword, Image
from procfw.io import read_image
from procfw.io.pagecache import drop_cached
from procfw.workspace import Workspace

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="posix_fadvise and mincore: Linux")


def _raws(folder, count: int = 2) -> list[str]:
    rng = np.random.default_rng(3)
    paths = []
    for i in range(count):
        image = Image(rng.random((1, 256, 256), dtype=np.float32), [FITSKeyword("BAYERPAT", "GRBG", "")])
        paths.append(str(write_frame(image, folder / f"raw_{i}.fits")))
    return paths


def _debayer(out, raws=()) -> Debayer:
    return Debayer(outputDirectory=str(out), outputExtension=".fits", evaluateNoise=False,
                   targetItems=[[True, p] for p in raws])


def test_a_run_inside_consumed_inputs_drops_its_inputs_and_writes_the_same_outputs(tmp_path) -> None:
    raws = _raws(tmp_path)
    before = [read_image(p).pixels.copy() for p in raws]
    plain, dropping = tmp_path / "plain", tmp_path / "dropping"
    plain.mkdir(), dropping.mkdir()
    _debayer(plain, raws).execute_global(Workspace())
    assert all((_cached_pages(p) or 0) > 0 for p in raws)  # an ordinary run leaves the inputs cached
    with consumed_inputs():
        _debayer(dropping, raws).execute_global(Workspace())
    assert all(_cached_pages(p) == 0 for p in raws)
    for p, pixels in zip(raws, before):
        assert np.array_equal(read_image(p).pixels, pixels)  # inputs untouched
    for p in raws:
        name = p.rsplit("/", 1)[1].replace(".fits", "_d.fits")
        assert np.array_equal(read_image(plain / name).pixels, read_image(dropping / name).pixels)


def test_a_worker_task_drops_its_input_only_when_asked(tmp_path) -> None:
    raws = _raws(tmp_path)
    icon = frame_icon(_debayer(tmp_path))
    frame_task({"icon": icon, "index": 0, "path": raws[0], "options": {}})
    assert (_cached_pages(raws[0]) or 0) > 0
    frame_task({"icon": icon, "index": 1, "path": raws[1], "options": {}, "dropInput": True})
    assert _cached_pages(raws[1]) == 0


def test_a_worker_task_reads_the_next_frames_ahead(tmp_path) -> None:
    """``readAhead``: the task asks for the next frames' files first (their pages arrive in the
    background), and still writes its own output as before."""
    import time

    raws = _raws(tmp_path, 3)
    icon = frame_icon(_debayer(tmp_path))
    for p in raws[1:]:
        drop_cached(p)
    if any((_cached_pages(p) or 0) > 0 for p in raws[1:]):
        pytest.skip("this filesystem keeps dropped pages (tmpfs)")
    result = frame_task({"icon": icon, "index": 0, "path": raws[0], "options": {}, "readAhead": raws[1:]})
    assert result["output"].endswith("raw_0_d.fits")
    deadline = time.monotonic() + 5
    while not all(_cached_pages(p) for p in raws[1:]) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all((_cached_pages(p) or 0) > 0 for p in raws[1:])


class _Recording(Executor):
    """A two-worker executor that runs tasks here and keeps the items it was given."""

    kind = "processes"

    def __init__(self) -> None:
        self.workers = 2
        self.items: list[dict] = []

    def map_unordered(self, fn, items):
        self.items = list(items)
        return ((k, fn(item)) for k, item in enumerate(self.items))


def test_each_frame_task_reads_ahead_as_many_next_frames_as_there_are_workers(tmp_path) -> None:
    raws = _raws(tmp_path, 4)
    executor = _Recording()
    run_file_list([(True, p) for p in raws], process_id="Debayer", on_error="Continue",
                  instance=_debayer(tmp_path, raws), executor=executor)
    assert [item["readAhead"] for item in executor.items] == [raws[1:3], raws[2:4], raws[3:], []]
