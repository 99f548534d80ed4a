"""The workers' preloads (the pre-processing pool's, and Debayer's and StarAlignment's own for their file lists):
each loads every kernel a real frame needs, and nothing heavy it does not.

Each check runs in a fresh interpreter: importing a preload module warms the kernels and
freezes the garbage collector, which a test session must not inherit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS

ROOT = Path(__file__).resolve().parents[2]
SEESTAR = CORPUS / "frames" / "seestar-s50" / "M94_2025-03-27_session1"

_PROGRAM = """
import json, sys
import processes.workflows.preprocess.worker as worker
from processes.kernels.kernel_inventory import loaded_kernels

warmed = loaded_kernels()
worker.warm_kernels(size=640)  # the per-frame steps on a larger frame: the compiled paths of real frames
print(json.dumps({"seconds": worker.WARM_SECONDS, "warmed": warmed, "after": loaded_kernels(),
                  "modules": sorted(sys.modules)}))
"""

HEAVY_UNUSED = ("lark", "scipy.ndimage", "scipy.optimize", "scipy.stats", "scipy.signal", "scipy.interpolate",
                "astropy", "astropy.io.fits", "astropy.table", "distributed", "dask", "matplotlib", "prompt_toolkit")
"""Modules no per-frame step needs: the preload must not import them (each costs every worker memory)."""


def _preload() -> dict:
    out = subprocess.run([sys.executable, "-c", _PROGRAM], cwd=ROOT, capture_output=True, text=True, check=True,
                         timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_worker_preload_warms_the_kernels_of_real_frames_once() -> None:
    # a first run fills numba's on-disk caches when they are empty (a fresh clone run alone): compiling a
    # kernel also compiles its callees for the caller's argument types, adding specializations that a
    # process loading from the caches (every real worker) does not have
    _preload()
    result = _preload()
    assert result["seconds"] == result["seconds"], "the warm-up failed"
    warmed = result["warmed"]
    assert not {k: v for k, v in result["after"].items() if warmed.get(k) != v}, \
        "a frame larger than the warm-up's loads kernels the fork server did not: each worker loads them privately"
    for kernel in ("processes.kernels.noise_nb.mrs_planes", "processes.integration.kernel_numba.median_between",
                   "processes.debayer.demosaic_nb._bayer_green_phase",
                   "processes.kernels.warp_numba._warp_lanczos3_rgb",
                   "processes.kernels.neighbours_nb.nearest_in_sweep"):
        assert kernel in warmed
    # the one-pass median and MAD, median_mad_windows, in three specializations: the star detection's (float32),
    # the star measurement's (float64: its MAD and background level) and ImageIntegration's frame statistics'
    # (float32 values, float64 deviations); finite_median, float32 and float64, for ImageIntegration's result's
    # statistics, whose frame statistics fall back to median_between and abs_dev_median for float32 only
    several = {k: len(sigs) for k, sigs in warmed.items() if len(sigs) > 1}
    assert several == {"processes.integration.kernel_numba.finite_median": 2,
                       "processes.integration.kernel_numba.median_mad_windows": 3}
    for kernel in ("finite_median", "abs_dev_median"):
        assert f"processes.integration.kernel_numba.{kernel}" in warmed
    imported = set(result["modules"])
    assert not imported & set(HEAVY_UNUSED)


_GC_PROGRAM = """
import gc, json, sys
import procfw.batch
from processes.workflows.preprocess.pool import WORKER_PRELOAD
for name in WORKER_PRELOAD:  # as the fork server does
    __import__(name)
llvm_kb = 0  # resident pages of LLVM's library, which loading the kernels runs
with open("/proc/self/smaps") as smaps:
    name = ""
    for line in smaps:
        fields = line.split()
        if not fields[0].endswith(":"):
            name = fields[-1]
        elif fields[0] == "Rss:" and name.endswith("libllvmlite.so"):
            llvm_kb += int(fields[1])
print(json.dumps({"enabled": gc.isenabled(), "frozen": gc.get_freeze_count(), "counts": gc.get_count(),
                  "modules": sorted(sys.modules), "llvm_kb": llvm_kb}))
"""


def _fork_server_preload() -> dict:
    """What a fork server holds after the preload (a fresh interpreter: :data:`_GC_PROGRAM`)."""
    out = subprocess.run([sys.executable, "-c", _GC_PROGRAM], cwd=ROOT, capture_output=True, text=True, check=True,
                         timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_fork_server_preload_leaves_the_collector_on_and_its_objects_frozen() -> None:
    """The preload runs with the garbage collector off: the workers forked after it must find it on again
    (else their frames' reference cycles would never be freed), with the preloaded objects frozen."""
    result = _fork_server_preload()
    assert result["enabled"]
    assert result["frozen"] > 100_000  # numpy, scipy, numba and the process modules
    assert result["counts"][0] < 1000  # nothing left pending for the first collection in a worker
    imported = set(result["modules"])
    # the workers need ImageIntegration: a worker integrates each master light
    assert {"processes.integration.kernel_numba", "processes.integration.process"} <= imported
    # StarAlignment's neighbour searches are numpy's and one numba kernel: no scipy.spatial (nor the sparse and
    # special modules it brings) in the fork server or its workers; nor scipy.linalg, which only numba's BLAS probe
    # would import (processes.common.preload.load_numba_array_math answers it)
    assert not imported & {"scipy.spatial", "scipy.sparse", "scipy.special", "scipy.linalg"}
    assert not imported & set(HEAVY_UNUSED)


def test_the_console_loads_the_step_processes_without_scipy() -> None:
    """The console loads StarAlignment's class (load_step_processes) but never matches stars: no scipy.spatial
    (with scipy.sparse and scipy.special, ~25 MB and ~0.18 s in a process without numba)."""
    code = ("import sys\nfrom procfw.registry import processes\n"
            "for name in ('Debayer', 'StarAlignment', 'ImageIntegration'):\n    processes.get(name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         timeout=300)
    assert out.stdout.strip() == "[]"


def test_numba_array_math_loads_without_scipy_linalg_and_blas_kernels_still_compile() -> None:
    """The preload's answer to numba's BLAS probe: numba's array functions load without ``scipy.linalg``, numba
    knows a BLAS is there, its own probe is back in place, and a kernel that uses BLAS compiles and runs (numba
    imports scipy's BLAS for it then)."""
    code = ("import sys, numpy as np, numba\n"
            "from processes.common.preload import load_numba_array_math\n"
            "done = load_numba_array_math()\n"
            "from numba.np import arraymath, linalg\n"
            "before = 'scipy.linalg' in sys.modules\n"
            "probe = linalg.ensure_blas\n"
            "restored = arraymath.ensure_blas is probe and probe.__module__ == 'numba.np.linalg'\n"
            "dot = numba.njit(lambda a, b: np.dot(a, b))\n"
            "value = float(dot(np.arange(3.0), np.arange(3.0)))\n"
            "print(done, before, arraymath._HAVE_BLAS, restored, value, load_numba_array_math())")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         timeout=300)
    assert out.stdout.split() == ["True", "False", "True", "True", "5.0", "False"]


_ICON_PROGRAM = """
import json, sys
import procfw.batch
from processes.workflows.preprocess.pool import WORKER_PRELOAD
for name in WORKER_PRELOAD:  # as the fork server does
    __import__(name)
from procfw.process import processes
from processes.workflows.preprocess.worker import WORKER_PROCESSES
print(json.dumps({"discovered": processes._discovered, "modules": sorted(sys.modules),
                  "loaded": {e.id: e.obj is not None for e in processes.entries() if e.id in WORKER_PROCESSES}}))
"""


_CACHED_KERNEL = """
import numba
import numpy as np


@numba.njit(cache=True)
def total(values):
    return np.sort(values).cumsum()[-1]
"""

_LOAD_CACHED = """
import json, sys
import numpy as np
from processes.common.preload import load_cached_kernels_lightly
done = load_cached_kernels_lightly() if sys.argv[1] != "numba" else False
if sys.argv[1] == "failing":  # the light load fails once: numba's own way loads the kernel
    from numba.core.caching import Cache
    light_load = Cache._load_overload
    def fail_once(self, sig, target_context):
        Cache._load_overload = light_load
        raise OSError("a failing load")
    Cache._load_overload = fail_once
import kernel
value = float(kernel.total(np.array([3.0, 1.0, 2.0])))
registries = ("numba.np.polynomial.polynomial_core", "numba.typed.typeddict", "numba.np.random.generator_core")
print(json.dumps({"done": done, "value": value, "hits": sum(kernel.total.stats.cache_hits.values()),
                  "registries": [name for name in registries if name in sys.modules],
                  "again": load_cached_kernels_lightly()}))
"""


def test_cached_kernels_load_without_numbas_registries_and_missing_ones_still_compile(tmp_path: Path) -> None:
    """The preload's light cache loads (processes.common.preload.load_cached_kernels_lightly): a kernel missing
    from numba's cache compiles as before (the registries loaded), then loads from the cache in a fresh
    process without them, with the same result; numba's own way loads them, and so does a light load that fails."""
    (tmp_path / "kernel.py").write_text(_CACHED_KERNEL)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}

    def run(mode: str) -> dict:
        out = subprocess.run([sys.executable, "-c", _LOAD_CACHED, mode], cwd=ROOT, env=env, capture_output=True,
                             text=True, check=True, timeout=300)
        return json.loads(out.stdout.strip().splitlines()[-1])

    compiled, light, numbas, failing = run("light"), run("light"), run("numba"), run("failing")
    assert compiled["done"] and compiled["hits"] == 0 and compiled["value"] == 6.0
    assert compiled["registries"]  # compiling loads them
    assert light == {"done": True, "value": 6.0, "hits": 1, "registries": [], "again": False}
    assert numbas["hits"] == 1 and numbas["value"] == 6.0 and len(numbas["registries"]) == 3
    assert failing["hits"] == 1 and failing["value"] == 6.0 and len(failing["registries"]) == 3


def test_fork_server_preload_reads_the_per_frame_icons() -> None:
    """A worker's first task reads icons: the preload has discovered the process registry, loaded the
    per-frame process classes and imported the icon reader, so that no worker does it again."""
    out = subprocess.run([sys.executable, "-c", _ICON_PROGRAM], cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=600)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["discovered"]
    assert result["loaded"] == {"CosmeticCorrection": True, "Debayer": True, "ImageCalibration": True,
                                "StarAlignment": True, "ImageIntegration": True}
    assert "procfw.icons.json" in result["modules"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps; madvise is Linux's")
def test_fork_server_preload_gives_back_the_llvm_code_it_ran() -> None:
    """Loading the kernels runs ~70 MB of LLVM's code once; the preload unmaps it again
    (procfw.batch.release_library_pages), so the fork server does not hold it while the pool lives."""
    assert _fork_server_preload()["llvm_kb"] < 8 * 1024


_RUN_PROGRAM = """
import json, sys
from processes.workflows.preprocess.pipeline import preprocess
from processes.workflows.preprocess.plan import Options
if __name__ == "__main__":
    options = Options(allow_missing_bias=True, allow_missing_darks=True, allow_missing_flats=True,
                      executor=sys.argv[3], workers=2)
    preprocess(sys.argv[1], sys.argv[2], options)
    print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("astropy", "numba"))))
"""


def _run_on_corpus_frames(tmp_path: Path, executor: str) -> list[str]:
    """Pre-process 4 corpus frames in a fresh interpreter with ``executor``; the astropy and numba modules
    its main process imported."""
    frames = sorted(SEESTAR.glob("*.fit"))[:4]
    if len(frames) < 4:
        pytest.skip(f"corpus frames not found at {SEESTAR}")
    raw = tmp_path / "raw"
    raw.mkdir()
    for frame in frames:
        (raw / frame.name).symlink_to(frame)
    out = subprocess.run([sys.executable, "-c", _RUN_PROGRAM, str(raw), str(tmp_path / "out"), executor], cwd=ROOT,
                         capture_output=True, text=True, check=True, timeout=600)
    assert (tmp_path / "out" / "master_IRCUT.fits").is_file()
    assert (tmp_path / "out" / "registered").is_dir()
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_run_of_plain_fits_frames_imports_no_astropy(tmp_path: Path) -> None:
    """The raw frames' headers, the light and registration tasks' reads and writes, ImageIntegration's frame
    headers and the master's write all go through the native FITS cards (procfw.io.fits_cards): a run on
    plain FITS frames never imports astropy (~0.2 s of CPU time and ~14 MB in each process that does)."""
    assert [m for m in _run_on_corpus_frames(tmp_path, "serial") if m.startswith("astropy")] == []


def test_a_local_pool_run_integrates_on_a_worker_and_its_console_loads_no_numba(tmp_path: Path) -> None:
    """With a local pool the master light is integrated (and its stars measured) on a worker, whose fork
    server loaded every kernel: the console never imports numba (~0.7 s of CPU time and ~40 MB there)."""
    assert _run_on_corpus_frames(tmp_path, "processes") == []


@pytest.mark.parametrize("size", [384, 256, 64, 25])
def test_the_synthetic_frame_draws_each_star_only_near_it_with_the_same_pixels(size: int) -> None:
    """synthetic_cfa draws a star within STAR_REACH pixels of its centre: the plane is bit for bit the one of
    drawing every star over the whole plane (beyond, a star adds less than half a float32 step)."""
    import numpy as np

    from processes.common.synthetic import synthetic_cfa

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    whole = 0.1 + 0.0005 * xx + rng.normal(0.0, 0.002, (size, size)).astype(np.float32)
    for y, x in rng.uniform(12, size - 12, (12, 2)):
        whole += np.float32(0.3) * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / np.float32(2 * 1.3**2))
    plane = synthetic_cfa(size)
    assert plane.dtype == np.float32
    assert plane.tobytes() == whole.astype(np.float32).tobytes()


def _assigned_tuple(module: str, name: str) -> set[str]:
    """The strings of the tuple assigned to ``name`` in ``module``'s source (importing a preload module
    would warm the kernels here)."""
    import ast

    source = (ROOT / (module.replace(".", "/") + ".py")).read_text()
    assignment = next(node for node in ast.parse(source).body if isinstance(node, ast.Assign)
                      and any(getattr(t, "id", "") == name for t in node.targets))
    return set(ast.literal_eval(assignment.value))


def test_the_per_frame_processes_name_the_worker_module_that_loads_them():
    """A file-list pool of ImageCalibration or CosmeticCorrection preloads the pre-processing worker module
    (their ``worker_preload``), one of Debayer or StarAlignment its own; each module reads the icons of the
    processes that name it and loads their kernels (its WORKER_PROCESSES, read from the source)."""
    from processes.common.filelists import FRAME_WORKER_PRELOAD
    from procfw.registry import processes

    assert FRAME_WORKER_PRELOAD == ("processes.workflows.preprocess.worker",)
    preloads = {pid: processes.get(pid).worker_preload
                for pid in ("ImageCalibration", "CosmeticCorrection", "Debayer", "StarAlignment")}
    assert preloads == {"ImageCalibration": FRAME_WORKER_PRELOAD, "CosmeticCorrection": FRAME_WORKER_PRELOAD,
                        "Debayer": ("processes.debayer.worker",),
                        "StarAlignment": ("processes.staralignment.worker",)}
    for pid, (module,) in preloads.items():
        assert pid in _assigned_tuple(module, "WORKER_PROCESSES")


_OWN_PRELOAD_PROGRAM = """
import importlib, json, sys
import numpy as np
worker = importlib.import_module(sys.argv[1])
from processes.kernels.kernel_inventory import loaded_kernels
from procfw.image import Image
from procfw.io.fits import write_fits
from processes.common.synthetic import synthetic_cfa
from procfw.registry import processes
from procfw.workspace import Workspace

warmed = loaded_kernels()
folder = sys.argv[2]
plane = synthetic_cfa(640)
if sys.argv[1] == "processes.staralignment.worker":  # two RGB frames, one registered onto the other
    for name, frame in (("ref", plane), ("target", np.roll(plane, (3, -2), axis=(0, 1)))):
        write_fits(Image(np.repeat(frame[None], 3, axis=0)), f"{folder}/{name}.fits")
    instance = processes.get("StarAlignment")(referenceImage=f"{folder}/ref.fits", referenceIsFile=True,
        targets=[[True, True, f"{folder}/target.fits"]], outputDirectory=folder, generateDrizzleData=False)
else:  # a raw GRBG frame
    write_fits(Image(plane[None]), f"{folder}/raw.fits")
    instance = processes.get("Debayer")(cfaPattern="GRBG", targetItems=[[True, f"{folder}/raw.fits"]],
                                        outputDirectory=folder)
rows = instance.execute_global(Workspace()).outputs["outputData"]
print(json.dumps({"seconds": worker.WARM_SECONDS, "warmed": warmed, "after": loaded_kernels(),
                  "status": [row["status"] for row in rows], "modules": sorted(sys.modules)}))
"""


@pytest.mark.parametrize(("module", "kernel", "not_imported"), [
    ("processes.staralignment.worker", "processes.kernels.warp_numba._warp_lanczos3_rgb",
     {"processes.debayer.demosaic_nb", "processes.integration.compiled", "processes.kernels.starmeasure_numba"}),
    ("processes.debayer.worker", "processes.kernels.noise_nb.mrs_planes",
     {"processes.staralignment.process", "processes.integration.compiled", "processes.kernels.starmeasure_numba"}),
])
def test_a_process_own_preload_loads_what_its_task_runs_and_no_other_step(tmp_path: Path, module: str, kernel: str,
                                                                         not_imported: set[str]) -> None:
    """StarAlignment's and Debayer's own preloads load every kernel that their task on a real frame (640²,
    through the file path a worker runs) uses, and none of the other steps'."""
    def run(folder: Path) -> dict:
        folder.mkdir()
        out = subprocess.run([sys.executable, "-c", _OWN_PRELOAD_PROGRAM, module, str(folder)], cwd=ROOT,
                             capture_output=True, text=True, check=True, timeout=600)
        return json.loads(out.stdout.strip().splitlines()[-1])

    run(tmp_path / "first")  # fills numba's caches where they are empty (see the test above)
    result = run(tmp_path / "second")
    assert result["seconds"] == result["seconds"], "the warm-up failed"
    assert result["status"] == ["ok"]
    warmed = result["warmed"]
    assert kernel in warmed
    assert not {k: v for k, v in result["after"].items() if warmed.get(k) != v}, \
        "a task loads kernels the fork server did not: each worker loads them privately"
    imported = set(result["modules"])
    assert not imported & (not_imported | {"processes.workflows.preprocess.worker"})
    assert not imported & set(HEAVY_UNUSED)
