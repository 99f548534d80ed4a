"""preprocess and the per-frame processes through every executor: serial, a local process pool and a real
dask.distributed cluster (LocalCluster with worker processes, no mocks) give bit-identical results; a frame
that fails on a worker is rejected with its reason and the others go on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from processes.kernels.drizzledata import read_drizzle_data
from processes.simulation.session import simulate_session
from processes.workflows.preprocess import Options, preprocess
from procfw.batch import make_executor, use_executor
from procfw.io import read_image
from procfw.registry import processes

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny one-filter session: 3 bias, 3 darks, 3 flats and 4 lights, 96×96."""
    folder = tmp_path_factory.mktemp("executors") / "raw"
    simulate_session(folder, filters=("L",), width=96, height=96, bias=3, darks=3, flats=3, lights=4, stars=25,
                     dither=3.0, seed=2)
    return folder


def _masters(out: Path) -> dict[str, np.ndarray]:
    """Every master (calibration masters, rejection maps, master lights) of a run, by relative path."""
    found = {str(p.relative_to(out)): fits.getdata(p) for p in sorted(out.rglob("master*.fits"))}
    assert found
    return found


def _frames(out: Path) -> dict[str, dict]:
    """The per-frame records of the report, without timings."""
    report = json.loads((out / "preprocess_report.json").read_text())
    frames = {}
    for record in report["lights"]:
        record = dict(record)
        alignment = dict(record.get("alignment") or {})
        alignment.pop("seconds", None)
        record["alignment"] = alignment
        frames[Path(record["path"]).name] = record
    return frames


def _console(command: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PROCFW_HISTORY": str(cwd / ".history"), **env}
    return subprocess.run([sys.executable, "-m", "procfw", "run", "-c", command], cwd=cwd, capture_output=True,
                          text=True, env=environment, timeout=600)


@pytest.mark.slow
def test_serial_processes_and_dask_give_bit_identical_masters(raw: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    serial = tmp_path / "serial"
    preprocess(raw, serial, Options(executor="serial", cosmetic_correction=True))
    expected = _masters(serial)
    assert {"master/master_bias.fits", "master/master_dark_60s.fits", "master/master_flat_L.fits",
            "master_L.fits"} <= set(expected)

    # the console contract: -executor=processes -workers=N
    done = _console(f'preprocess "{raw}" "{tmp_path / "pool"}" -cosmeticCorrection+ -executor=processes -workers=2',
                    tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[preprocess] calibrating + cosmetic correction + measuring stars lights L 60s: done in" in done.stderr

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        done = _console(f'preprocess "{raw}" "{tmp_path / "dask"}" -cosmeticCorrection+ -executor=dask '
                        f"-scheduler={address}", tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]

    for name in ("pool", "dask"):
        got = _masters(tmp_path / name)
        assert set(got) == set(expected), name
        for key, data in expected.items():
            assert got[key].dtype == data.dtype and got[key].tobytes() == data.tobytes(), f"{name}: {key} differs"
    reference = _frames(serial)
    for name in ("pool", "dask"):
        frames = _frames(tmp_path / name)
        assert set(frames) == set(reference)
        for frame, record in reference.items():
            assert frames[frame]["status"] == record["status"] == "integrated"
            assert frames[frame]["stars"] == record["stars"]
            assert frames[frame]["alignment"] == record["alignment"]
            assert frames[frame]["cosmetic"] == record["cosmetic"]
            assert frames[frame]["calibration"] == record["calibration"]
            assert frames[frame]["integration"] == record["integration"]
    report = json.loads((tmp_path / "dask" / "preprocess_report.json").read_text())
    assert report["options"]["executor"] == "dask"
    assert report["executor"] == {"kind": "dask", "workers": 2, "scheduler": address}
    assert f"per-frame steps: dask cluster at {address} (2 worker threads)" in report["summary"][-1]


@pytest.mark.slow
def test_a_frame_failing_on_a_worker_is_rejected_with_its_reason(raw: Path, tmp_path: Path) -> None:
    session = tmp_path / "raw"
    shutil.copytree(raw, session)
    lights = sorted((session / "lights" / "L").glob("*.fits"))
    broken = lights[1]
    size = broken.stat().st_size
    with open(broken, "r+b") as handle:  # the header stays readable (the plan sees the frame); the data does not
        handle.truncate(size - 2 * 2880)
    out = tmp_path / "out"
    with make_executor("processes", workers=2) as executor:
        result = preprocess(session, out, Options(), executor=executor)
    report = result.report
    assert [r["path"] for r in report["rejected"]] == [str(broken)]
    rejected = report["rejected"][0]
    assert rejected["step"] == "calibration"
    assert rejected["reason"].startswith(f"{broken}: the file is truncated")  # the worker's reason
    assert "worker process stopped" not in rejected["reason"]
    assert (out / "master_L.fits").is_file()
    statuses = {Path(r["path"]).name: r["status"] for r in report["lights"]}
    assert statuses[broken.name] == "rejected"
    assert sum(s == "integrated" for s in statuses.values()) == 3
    assert report["summary"][-1].endswith("per-frame steps: 2 local worker processes")


def test_per_frame_processes_give_the_same_files_through_a_process_pool(raw: Path, tmp_path: Path) -> None:
    lights = [str(p) for p in sorted((raw / "lights" / "L").glob("*.fits"))]
    debayer = processes.get("Debayer").from_parameters({
        "targetItems": lights, "cfaPattern": "RGGB", "debayerMethod": "VNG", "evaluateNoise": True,
        "outputPostfix": "_d",
    })
    cosmetic = processes.get("CosmeticCorrection").from_parameters({
        "targetFrames": lights, "useAutoDetect": True, "hotAutoCheck": True, "coldAutoCheck": True,
        "postfix": "_cc",
    })
    results = {}
    for kind in ("serial", "processes"):
        folder = tmp_path / kind
        folder.mkdir()
        executor = make_executor(kind, workers=2) if kind == "processes" else make_executor(kind)
        with executor, use_executor(executor):
            d = debayer.evolve(outputDirectory=str(folder)).execute_global(_workspace())
            c = cosmetic.evolve(outputDir=str(folder)).execute_global(_workspace())
        results[kind] = (d.outputs, c.outputs, {p.name: read_image(p).pixels for p in sorted(folder.iterdir())})
    (d0, c0, files0), (d1, c1, files1) = results["serial"], results["processes"]
    assert set(files0) == set(files1) and len(files0) == 2 * len(lights)
    for name, data in files0.items():
        assert data.tobytes() == files1[name].tobytes(), name
    for serial_out, pool_out in ((d0, d1), (c0, c1)):
        assert serial_out["succeeded"] == pool_out["succeeded"] == len(lights)
        for a, b in zip(serial_out["outputData"], pool_out["outputData"]):
            a, b = dict(a), dict(b)
            assert Path(a.pop("outputFilePath")).name == Path(b.pop("outputFilePath")).name
            assert a == b


def test_a_missing_file_fails_alone_in_a_process_pool(raw: Path, tmp_path: Path) -> None:
    lights = [str(p) for p in sorted((raw / "lights" / "L").glob("*.fits"))]
    missing = str(tmp_path / "missing.fits")
    cosmetic = processes.get("CosmeticCorrection").from_parameters({
        "targetFrames": [lights[0], missing, lights[1]], "useAutoDetect": True, "hotAutoCheck": True,
        "outputDir": str(tmp_path), "postfix": "_cc",
    })
    reports: list[tuple[float, str]] = []
    with make_executor("processes", workers=2) as executor, use_executor(executor):
        result = cosmetic.execute_global(_workspace(), progress=lambda f, m="": reports.append((f, m)))
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0  # frames as they finish
    assert sum(m.endswith(("(1/3)", "(2/3)", "(3/3)")) for _, m in reports) == 3
    rows = result.outputs["outputData"]
    assert [r["targetFrame"] for r in rows] == [lights[0], missing, lights[1]]  # input order
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    assert "missing.fits" in rows[1]["error"]
    assert result.outputs["succeeded"] == 2 and result.outputs["failed"] == 1


def test_on_error_abort_stops_a_process_pool_run(raw: Path, tmp_path: Path) -> None:
    from procfw.errors import ExecutionError

    lights = [str(p) for p in sorted((raw / "lights" / "L").glob("*.fits"))]
    debayer = processes.get("Debayer").from_parameters({
        "targetItems": [str(tmp_path / "missing.fits"), *lights], "cfaPattern": "RGGB", "debayerMethod": "SuperPixel",
        "outputDirectory": str(tmp_path), "onError": "OnError_Abort",
    })
    with make_executor("processes", workers=2) as executor, use_executor(executor):
        with pytest.raises(ExecutionError, match=r"missing\.fits: .*\(onError=Abort: stopped\)"):
            debayer.execute_global(_workspace())


def test_star_measurement_plane_is_the_luminance_of_starmeasure() -> None:
    from processes.kernels.starmeasure import luminance_plane
    from processes.workflows.preprocess.pipeline import luminance

    rng = np.random.default_rng(5)
    for shape in ((3, 37, 53), (1, 20, 30), (4, 9, 11)):
        pixels = rng.random(shape, dtype=np.float32)
        assert np.array_equal(luminance(pixels), luminance_plane(pixels)), shape


def test_debayer_writes_noise_keywords_for_integration(raw: Path, tmp_path: Path) -> None:
    light = sorted((raw / "lights" / "L").glob("*.fits"))[0]
    debayer = processes.get("Debayer").from_parameters({
        "targetItems": [str(light)], "cfaPattern": "RGGB", "debayerMethod": "VNG", "evaluateNoise": True,
        "outputDirectory": str(tmp_path), "outputSeparateChannels": True, "outputExtension": ".fits",
    })
    row = debayer.execute_global(_workspace()).outputs["outputData"][0]
    header = fits.getheader(row["outputFilePath"])
    source = fits.getheader(light)
    names = [k for k in header if k not in ("COMMENT", "HISTORY", "")]
    assert len(names) == len(set(names))  # each keyword once (the input's are copied, not repeated)
    assert [k for k in source if k.startswith("NOISE")] == []
    for i, letter in enumerate("RGB"):
        assert header[f"NOISE{i:02d}"] == float(f"{row[f'noiseEstimate{letter}']:.4e}") > 0
        assert header[f"NOISEA{i:02d}"] == row[f"noiseAlgorithm{letter}"]
        channel = fits.getheader(row[f"outputChannelFilePath{letter}"])  # its own channel's noise, as channel #0
        assert channel["NOISE00"] == header[f"NOISE{i:02d}"] and "NOISE01" not in channel
    quiet = debayer.evolve(evaluateNoise=False, outputSeparateChannels=False, outputDirectory=str(tmp_path / "q"))
    (tmp_path / "q").mkdir()
    row = quiet.execute_global(_workspace()).outputs["outputData"][0]
    assert not any(k.startswith("NOISE") for k in fits.getheader(row["outputFilePath"]))


def test_star_alignment_on_a_pool_loads_the_reference_in_the_workers_only(raw: Path, tmp_path: Path) -> None:
    lights = [str(p) for p in sorted((raw / "lights" / "L").glob("*.fits"))]
    align = processes.get("StarAlignment").from_parameters({
        "referenceImage": lights[0], "referenceIsFile": True, "targets": lights, "outputExtension": ".fits",
    })
    results = {}
    for kind in ("serial", "processes"):
        folder = tmp_path / kind
        folder.mkdir()
        executor = make_executor(kind, workers=2) if kind == "processes" else make_executor(kind)
        with executor, use_executor(executor):
            out = align.evolve(outputDirectory=str(folder)).execute_global(_workspace()).outputs
        drizzle = {p.name: read_drizzle_data(p) for p in sorted(folder.glob("*.xdrz"))}
        results[kind] = (out, {p.name: fits.getdata(p) for p in sorted(folder.glob("*.fits"))}, drizzle)
    (serial, files0, drizzle0), (pool, files1, drizzle1) = results["serial"], results["processes"]
    assert pool["referenceStars"] == serial["referenceStars"] > 0
    assert pool["succeeded"] == serial["succeeded"] == len(lights)
    assert set(files0) == set(files1) and len(files0) == len(lights)
    for name, data in files0.items():
        assert data.tobytes() == files1[name].tobytes(), name
    # generateDrizzleData (PixInsight's default): one .xdrz per registered file, the same matrices on any executor
    assert set(drizzle0) == set(drizzle1) == {name.removesuffix(".fits") + ".xdrz" for name in files0}
    for name, data in drizzle0.items():
        assert Path(data.source_file_path).name in {Path(p).name for p in lights}
        assert np.array_equal(data.alignment_matrix, drizzle1[name].alignment_matrix), name
    missing = align.evolve(referenceImage=str(tmp_path / "missing.fits"), outputDirectory=str(tmp_path))
    with make_executor("processes", workers=2) as executor, use_executor(executor):
        with pytest.raises(Exception, match="missing.fits"):
            missing.execute_global(_workspace())


def test_worker_state_keeps_one_value_per_process_id() -> None:
    from processes.common.filelists import clear_worker_state, worker_state

    made: list[str] = []

    def make(value: str):
        return lambda: made.append(value) or value

    try:
        assert worker_state(("ImageCalibration", 1), make("masters 1")) == "masters 1"
        assert worker_state(("CosmeticCorrection", 1), make("dark 1")) == "dark 1"
        # a chain of steps per frame: each keeps its own value
        assert worker_state(("ImageCalibration", 1), make("again")) == "masters 1"
        assert worker_state(("CosmeticCorrection", 1), make("again")) == "dark 1"
        assert worker_state(("ImageCalibration", 2), make("masters 2")) == "masters 2"  # replaced in its slot
        assert made == ["masters 1", "dark 1", "masters 2"]
    finally:
        clear_worker_state()


def _workspace():
    from procfw.workspace import Workspace

    return Workspace()


def test_a_process_pool_integrates_the_master_then_is_stopped_in_a_thread(raw: Path, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The master light is integrated by a task on the run's own pool (pipeline.light_master_task, in a
    worker process); then the pool is closed and the fork server stopped by a thread (their ends are waited
    for there), while the report is written; both are done when the run returns, with the master made."""
    import os
    import threading

    from processes.workflows.preprocess import pipeline
    from procfw import batch

    events: list[tuple[str, bool]] = []
    release, run_task = pipeline._release_workers, pipeline._Run.run_task

    def released(executor) -> None:
        events.append(("stopping", threading.current_thread() is threading.main_thread()))
        release(executor)
        events.append(("stopped", executor._pool is None))

    def running(self, fn, item):
        outcome = run_task(self, _task_pid, {"fn": fn.__name__})
        events.append(("integrated elsewhere", outcome != os.getpid()))
        return run_task(self, fn, item)

    monkeypatch.setattr(pipeline, "_release_workers", released)
    monkeypatch.setattr(pipeline._Run, "run_task", running)
    result = preprocess(raw, tmp_path / "pool", Options(executor="processes", workers=2))
    assert result.ok and (tmp_path / "pool" / "master_L.fits").is_file()
    assert events[0] == ("integrated elsewhere", True)
    assert events[1] == ("stopping", False) and ("stopped", True) in events
    assert not batch._OPEN_POOLS


def _task_pid(item: dict) -> int:
    """The process a task runs in."""
    import os

    return os.getpid()


def test_a_master_light_failing_on_a_worker_fails_the_run_with_its_reason(raw: Path, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The master light task fails on a pool worker (here: its images table names a file that is gone):
    the run stops with ImageIntegration's reason, naming the file, and leaves no pool behind."""
    from processes.workflows.preprocess import pipeline
    from procfw import batch
    from procfw.errors import ProcfwError

    run_task = pipeline._Run.run_task
    missing = str(tmp_path / "gone" / "frame_r.fits")

    def with_a_missing_frame(self, fn, item):
        return run_task(self, fn, {**item, "images": [*item["images"][:-1], missing]})

    monkeypatch.setattr(pipeline._Run, "run_task", with_a_missing_frame)
    with pytest.raises(ProcfwError) as failure:
        preprocess(raw, tmp_path / "out", Options(executor="processes", workers=2))
    assert "frame_r.fits" in str(failure.value)
    assert not batch._OPEN_POOLS


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and has not ended (an ended one its parent has not reaped yet is a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_master_light_worker_starts_once_the_per_frame_workers_have_ended(monkeypatch) -> None:
    """The per-frame pool is closed, its workers ended, before the master light's one-worker pool starts: the
    three workers never hold their memory at once."""
    from processes.workflows.preprocess import pipeline

    per_frame = make_executor("processes", workers=2)
    pids = {pid for _, pid in per_frame.map_unordered(_task_pid, [{}] * 8)}
    started = []

    def make(kind: str, **options: object) -> object:
        started.append(sorted(pid for pid in pids if _running(pid)))
        return make_executor(kind, workers=int(options["workers"]))  # the running fork server, kept

    monkeypatch.setattr(pipeline, "make_executor", make)
    master = pipeline._integration_pool(per_frame)
    try:
        assert pids and started == [[]]
        assert master.workers == 1
        (_, pid), = master.map_unordered(_task_pid, [{}])
        assert pid not in pids
    finally:
        master.close()


def test_a_serial_run_loads_numbas_kernels_without_scipy_linalg(raw: Path, tmp_path: Path) -> None:
    """Serial, the kernels load in the calling process: numba's BLAS probe is answered there as a pool's preload
    answers it, so that it does not import scipy.linalg (and start OpenBLAS) for kernels that use no BLAS."""
    code = ("import sys\nfrom processes.workflows.preprocess import Options, preprocess\n"
            f"preprocess({str(raw)!r}, {str(tmp_path / 'out')!r}, Options(executor='serial'))\n"
            "print('numba.np.arraymath' in sys.modules, 'scipy.linalg' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         timeout=600)
    assert out.stdout.split()[-2:] == ["True", "False"]
