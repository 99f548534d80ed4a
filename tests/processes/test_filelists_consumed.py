"""filelists.consumed_inputs: the inputs of a file-list run read for the last time leave the page cache,
and nothing else changes (outputs, input bytes)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from pagecache_probe import cached_pages as _cached_pages

from processes.common.filelists import consumed_inputs, frame_icon, frame_task, write_frame
from processes.debayer.process import Debayer
from procfw.image import FITSKeyword, Image
from procfw.io import read_image
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
