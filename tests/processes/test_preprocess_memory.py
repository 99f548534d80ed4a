"""Memory the pre-processing run's integration step gives back: the frame statistics' freed samples
returned before the integration's images are allocated, the band buffers and the result's statistics'
samples once those statistics are done, and the integration's images (result and rejection maps)
freed before the master's star measurement (pipeline.light_master_task)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from processes.common.synthetic import WARM_FRAME_SIZE
from processes.integration import process as integration_process
from procfw.image import Image
from procfw.io.fits import write_fits
from procfw.process import ExecutionContext
from procfw.workspace import Workspace


def test_integration_gives_the_statistics_memory_back_before_integrating_and_after_its_result(
        tmp_path: Path, monkeypatch) -> None:
    events: list[str] = []
    monkeypatch.setattr(integration_process, "release_memory", lambda: events.append("release"))
    statistics = integration_process.ImageIntegration._statistics
    monkeypatch.setattr(integration_process.ImageIntegration, "_statistics",
                        lambda *a, **k: (events.append("statistics"), statistics(*a, **k))[1])
    integrate = integration_process.integrate
    monkeypatch.setattr(integration_process, "integrate", lambda *a, **k: (events.append("integrate"),
                                                                          integrate(*a, **k))[1])
    final = integration_process.ImageIntegration._final_statistics
    monkeypatch.setattr(integration_process.ImageIntegration, "_final_statistics",
                        lambda *a, **k: (events.append("final statistics"), final(*a, **k))[1])
    rng = np.random.default_rng(2)
    paths = []
    for i in range(4):
        paths.append(str(tmp_path / f"f{i}.fits"))
        write_fits(Image((0.2 + 0.01 * rng.standard_normal((1, 24, 20))).astype(np.float32)), Path(paths[-1]))
    integration_process.ImageIntegration(images=paths, evaluateSNR=False).run_global(
        ExecutionContext(workspace=Workspace()))
    assert events == ["statistics", "release", "integrate", "final statistics", "release"]


_PROGRAM = r"""
import gc, json, sys, weakref
from pathlib import Path
from processes.simulation.session import simulate_session
from processes.workflows.preprocess import Options, pipeline, preprocess
from procfw import collector

root = Path(sys.argv[1])
simulate_session(root / "raw", filters=("L",), width=96, height=96, bias=0, darks=0, flats=0, lights=4,
                 stars=40, rotation=0.5, seed=5)
images = []
write_map = pipeline._write_rejection_map

def recording(workspace, *args, **kwargs):
    if not images:
        images.extend(weakref.ref(workspace.window(w).image.pixels) for w in workspace.window_ids())
    return write_map(workspace, *args, **kwargs)

alive = []
measure = pipeline.measure_stars

def measuring(plane, *args, **kwargs):
    if images:  # the master's star measurement
        alive.append(sum(ref() is not None for ref in images))
    return measure(plane, *args, **kwargs)

pipeline._write_rejection_map = recording
pipeline.measure_stars = measuring
collector.enable()  # as the procfw command does
with collector.allowed():
    preprocess(root / "raw", root / "out", Options(executor="serial", allow_missing_bias=True,
                                                   allow_missing_darks=True, allow_missing_flats=True))
print(json.dumps({"images": len(images), "alive": alive}))
"""


def test_integration_images_are_freed_before_the_master_star_measurement(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", _PROGRAM, str(tmp_path)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["images"] == 3  # the result and the two rejection maps
    assert seen["alive"] == [0]  # the stars are measured on the result's luminance plane


def _debayer_item(tmp_path: Path) -> dict:
    """A light task's item: a synthetic GRBG frame (written as FITS) through a Debayer step."""
    from processes.common.filelists import frame_icon
    from processes.common.synthetic import synthetic_cfa
    from processes.workflows.preprocess.pipeline import _process
    from procfw.image import FITSKeyword

    raw = tmp_path / "light.fits"
    write_fits(Image(synthetic_cfa()[None], [FITSKeyword("BAYERPAT", "GRBG", "")]), raw)
    (tmp_path / "debayered").mkdir()
    debayer = _process("Debayer", targetItems=[], evaluateNoise=True, outputDirectory=str(tmp_path / "debayered"),
                       outputPostfix="_d", overwriteExistingFiles=True, onError="OnError_Continue")
    return {"steps": [frame_icon(debayer)], "names": ["debayering"], "index": 0, "path": str(raw)}


def test_light_task_frees_the_raw_frame_before_the_noise_planes(tmp_path: Path, monkeypatch) -> None:
    """The light task hands the frame to its step: once demosaiced, the raw frame is gone before the noise
    estimates allocate their planes (its pixels are no longer referenced by the task or by Debayer)."""
    import weakref

    from processes.debayer import process as debayer_process
    from processes.workflows.preprocess import pipeline

    raw_pixels: list[weakref.ref] = []
    alive: list[bool] = []

    def read(path):  # noqa: ANN001, ANN202 - stands in for procfw.io.read_image
        image = read_image(path)
        raw_pixels.append(weakref.ref(image.pixels))
        return image

    def noise(rgb, algorithm):  # noqa: ANN001, ANN202 - records, then estimates
        alive.append(raw_pixels[0]() is not None)
        return estimate(rgb, algorithm)

    estimate = debayer_process._noise
    read_image = pipeline.read_image
    monkeypatch.setattr(pipeline, "read_image", read)
    monkeypatch.setattr(debayer_process, "_noise", noise)
    outcome = pipeline.light_task(_debayer_item(tmp_path))
    assert "failed" not in outcome and outcome["stars"]["stars"] > 0
    assert alive == [False]


def test_light_task_measures_stars_in_the_luminance_planes_buffer(tmp_path: Path, monkeypatch) -> None:
    """The light task lets the star measurement form the residual in the luminance plane (one float64
    plane less at its peak, traced by tracemalloc), with the same measurements."""
    import tracemalloc

    from processes.workflows.preprocess import pipeline

    item = _debayer_item(tmp_path)
    peaks: dict[bool, int] = {}
    summaries: dict[bool, dict] = {}
    measure = pipeline.measure_stars
    for overwrite in (False, True):
        def traced(plane, *, allowed=overwrite, **kwargs):  # noqa: ANN001, ANN202 - the task's star measurement
            assert kwargs.pop("overwrite") is True  # the light task lets it overwrite the plane
            tracemalloc.reset_peak()
            start = tracemalloc.get_traced_memory()[0]
            field = measure(plane, overwrite=allowed, **kwargs)
            peaks[allowed] = tracemalloc.get_traced_memory()[1] - start
            return field

        monkeypatch.setattr(pipeline, "measure_stars", traced)
        tracemalloc.start()
        try:
            summaries[overwrite] = pipeline.light_task(item)["stars"]
        finally:
            tracemalloc.stop()
    plane = WARM_FRAME_SIZE**2 * 8
    assert summaries[True] == summaries[False] and summaries[True]["stars"] > 0
    assert peaks[True] <= peaks[False] - plane + plane // 4
