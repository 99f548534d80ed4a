"""Running a pre-processing plan: masters, calibration, debayering, registration and integration.

Every step is a normal execution of a registered process, looked up by its PixInsight id
(``ImageIntegration``, ``ImageCalibration``, ``CosmeticCorrection``, ``Debayer``,
``StarAlignment``) and configured by parameter ids, as WBPP configures them:

1. **Calibration masters** (only those the plan uses).  Bias, darks and dark flats are
   integrated raw — Average, no normalization, no weights, rejection by
   :func:`rejection_for` — so master darks include the bias (WBPP's default).  Flats are
   calibrated first (ImageCalibration with the matching dark flat, which includes the
   bias, or else the master bias) and integrated with Multiplicative normalization and
   EqualizeFluxes rejection normalization.  Masters go to
   ``master/<name>.fits`` with IMAGETYP 'Master Bias' / 'Master Dark' / 'Master Flat'.
2. **Light calibration** per light group: ImageCalibration with the linked masters
   (``calibrateDark`` when a bias is subtracted from a dark that includes it,
   ``optimizeDarks`` when a master bias makes dark scaling possible) into ``calibrated/``;
   optionally **CosmeticCorrection** (auto-detected hot and cold pixels) into ``cosmetized/``;
   **Debayer** of CFA lights into ``debayered/``.
3. **Star measurement** of every processed light
   (:func:`processes.kernels.starmeasure.measure_stars`: count, median FWHM and
   eccentricity, background noise), reported per frame.
4. **Reference**: the given ``reference``, or the best frame: among the lights of the
   smallest binning, the one with the highest score ``stars × (FWHM_typical / FWHM)²``
   (the number of stars detected, weighted by how sharp they are against the median FWHM
   of all candidates: many stars mean a transparent sky and good focus, a small FWHM good
   seeing); of the frames within 5 % of the best score, the one whose stars have the
   highest median peak signal-to-noise ratio (a deep frame, such as L in an LRGB set).
   Without measurable stars, the first frame of the largest group.
5. **Registration** of each filter's lights to that one reference (so the masters of all
   filters are aligned with each other) with StarAlignment into ``registered/<filter>/``.
   A frame that cannot be registered is rejected, with StarAlignment's reason.
6. **Integration** per filter: ImageIntegration Average with AdditiveWithScaling
   normalization, Scale rejection normalization, noise-based weights (SNREstimate: inverse
   noise variance), the biweight midvariance as scale estimator (ImageIntegration's
   default; WBPP 1.x used IKSS, which costs much more time here for the same result),
   rejection by :func:`rejection_for` (WinsorizedSigmaClip from 8 frames), range
   rejection of the zeros registration leaves at the borders, and rejection maps.  The
   master light is ``master_<filter>.fits`` in the output directory; the rejection maps
   go to ``master/``.
7. **Report**: ``preprocess_report.txt`` and ``preprocess_report.json`` — the plan (groups,
   links and why), per-frame calibration, star and registration results, rejected frames
   with reasons, integration weights and rejection statistics, noise estimates and
   timings.

Nothing existing is replaced unless ``options.overwrite``: the run checks for earlier
results before any work.

**Where the work runs.**  The per-frame steps — flat and light calibration, cosmetic
correction, debayering, star measurement and registration — run through one executor of
:mod:`procfw.batch` for the whole run: ``options.executor`` ``processes`` (the default:
a local pool of ``options.workers`` processes, by default one per core, no more than the
memory allows for the frame size), ``serial`` (this process) or ``dask`` (the cluster at
``options.scheduler`` or ``$PROCFW_SCHEDULER``), or the ``executor`` given to
:func:`preprocess`.  Frames finish in any order; the records, the reports and the
masters do not depend on it: every executor gives bit-identical masters.  A frame that
fails on a worker is rejected with its reason and the others go on.  The paths handed to
the steps are absolute, so that workers elsewhere find the files (the input and output
folders must then be shared, at the same paths: docs/cluster.md).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from processes.common.filelists import consumed_inputs, frame_icon
from processes.kernels.noise import estimate_noise
from processes.kernels.starmeasure import measure_stars
from processes.workflows.preprocess.crop import Rectangle, common_area
from processes.workflows.preprocess.frames import read_header, scan
from processes.workflows.preprocess.plan import CalibrationLink, FrameGroup, IntegrationSet, Options, Plan, make_plan
from processes.workflows.preprocess.pool import WORKER_PRELOAD, start_workers
from processes.workflows.preprocess.progress import NullProgress, StepProgress
from processes.workflows.preprocess.report import REPORT_JSON, REPORT_TEXT, build_report, rounded, write_reports
from procfw import collector
from procfw.batch import (
    Executor,
    describe_exception,
    make_executor,
    release_memory,
    stop_workers,
    use_executor,
)
from procfw.errors import ProcfwError
from procfw.image import FITSKeyword, Image
from procfw.io import read_image
from procfw.io.pagecache import drop_cached_files
from procfw.process import Process, ProcessResult
from procfw.workspace import Workspace

__all__ = [
    "PreprocessError",
    "PreprocessResult",
    "REPORT_JSON",
    "REPORT_TEXT",
    "SUBFOLDERS",
    "plan_session",
    "preprocess",
    "light_task",
    "rejection_for",
    "start_workers",
    "task_memory",
]

log = logging.getLogger(__name__)

SUBFOLDERS = ("master", "calibrated", "cosmetized", "debayered", "registered")
"""Folders of intermediate files under the output directory (WBPP's layout)."""

_MASTER_IMAGETYP = {"bias": "Master Bias", "dark": "Master Dark", "darkflat": "Master Dark Flat",
                    "flat": "Master Flat", "light": "Master Light"}


class PreprocessError(ProcfwError):
    """The session cannot be (or could not be fully) pre-processed; ``problems`` says why, one line each."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)


def rejection_for(frames: int, requested: str = "Auto") -> str:
    """The ImageIntegration rejection algorithm for ``frames`` images.

    ``Auto``: PercentileClip below 8 frames (sigma clipping needs a minimally reliable σ),
    WinsorizedSigmaClip from 8 — PixInsight's own guidance for its batch scripts.
    """
    if requested != "Auto":
        return requested
    return "PercentileClip" if frames < 8 else "WinsorizedSigmaClip"


@attrs.frozen(kw_only=True)
class PreprocessResult:
    """What a run produced: the plan, the masters written, the report (also on disk) and failures."""

    plan: Plan
    output: Path | None
    masters: Mapping[str, Path] = attrs.field(factory=dict)
    """Master lights by name (master_L, ...)."""
    calibration_masters: Mapping[str, Path] = attrs.field(factory=dict)
    report: Mapping[str, Any] = attrs.field(factory=dict)
    report_paths: tuple[Path, ...] = ()
    failures: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every master light was written."""
        return not self.failures

    def summary_lines(self) -> list[str]:
        """A short summary of the results (what the console prints after the plan)."""
        return list(self.report.get("summary", []))


# -- helpers ----------------------------------------------------------------------------------
TASK_BASE_MEMORY = 320 * 2**20
"""Bytes a worker process needs before its first frame (interpreter, numpy, scipy, numba, procfw)."""

TASK_FRAME_COPIES = 24
"""Float32 frame-sized buffers one per-frame task may hold at its peak (masters, the frame, the
demosaiced RGB frame and its working copies, the registration reference and warp buffers)."""


def task_memory(plan: Plan) -> int:
    """The estimated peak bytes of one per-frame task of ``plan`` (largest frame; what sizes the local pool)."""
    pixels = max((g.width * g.height for g in plan.groups), default=0)
    return TASK_BASE_MEMORY + TASK_FRAME_COPIES * 4 * pixels


_SUBFRAME_KEYS = ("Weight", "FWHM", "Eccentricity", "PSFSignalWeight", "PSFSNR", "SNRWeight", "Noise", "Stars")
"""SubframeSelector's measurements kept in a light's record (``measurement<KEY>`` columns)."""

def _processed_noise(record: Mapping[str, Any]) -> list[float]:
    """The noise estimates of a processed light, per channel, as Debayer or ImageCalibration gave them."""
    for step in ("debayer", "calibration"):
        values = (record.get(step) or {}).get("noiseEstimates") or []
        if values and all(isinstance(v, (int, float)) for v in values):
            return [float(v) for v in values]
    return []


MIN_CROP_FRACTION = 0.5
"""A master is cropped to the area every frame covers only when that keeps at least this fraction of it."""


def _cropped(image: Image, area: Rectangle) -> Image:
    """``image`` cut to ``area`` (the same keywords, properties and sample format): a view of its pixels,
    not a copy (the FITS writer writes a view as it is)."""
    return image.with_pixels(image.pixels[:, area.y0 : area.y1, area.x0 : area.x1])


def luminance(pixels: np.ndarray) -> np.ndarray:
    """The plane stars are measured on, as :func:`processes.kernels.starmeasure.luminance_plane` makes it
    (the same float64 values: ``((c0 + c1) + c2) / 3``), without a float64 copy of every channel: a float
    image in one compiled pass (:func:`processes.kernels.starmeasure_numba.channel_mean`)."""
    if pixels.dtype in (np.float32, np.float64):
        from processes.kernels import starmeasure_numba

        return starmeasure_numba.channel_mean(np.ascontiguousarray(pixels))
    plane = pixels[0].astype(np.float64)
    for channel in pixels[1:]:
        plane += channel
    plane /= pixels.shape[0]
    return plane


def _star_summary(plane: np.ndarray) -> dict[str, Any]:
    """Star measurement of one processed light (its luminance ``plane``, which it overwrites): its summary,
    or ``{"error": reason}``."""
    try:
        field = measure_stars(plane, overwrite=True)
    except (ProcfwError, ValueError, OSError) as exc:
        return {"error": str(exc)}
    return {k: rounded(v) for k, v in field.summary().items()}


def light_task(item: Mapping[str, Any]) -> dict[str, Any]:
    """One light frame through its per-frame steps (an executor task, on any worker).

    ``item``: ``{"path": raw light, "index": i, "steps": [JSON icon, ...], "names": [step name, ...]}``.
    The frame is read once; each step's ``process_image`` gets the previous step's result
    (as its file holds it) and writes its own output; the stars are measured on the last
    result.  Returns ``{"steps": [{"output", "data"}, ...], "stars": summary}``, or with
    ``"failed": step name, "error": reason`` after the steps that succeeded.
    """
    from processes.common.filelists import instance_from_icon

    names = list(item["names"])
    path = Path(str(item["path"]))
    index = int(item["index"])
    done: list[dict[str, Any]] = []
    step = names[0] if names else "measuring stars"
    try:
        # the frame is handed to each step (popped from ``frame``), so that the step holds its only
        # reference and may drop it once done with it (Debayer: the raw frame once demosaiced and its noise
        # components taken)
        frame = [read_image(path)]
        current = path
        for k, icon in enumerate(item["steps"]):
            step = names[k]
            instance = instance_from_icon(icon)
            result, written, data = instance.process_image(index, frame.pop(), current, {})  # type: ignore[attr-defined]
            frame.append(result)
            del result
            done.append({"output": str(written), "data": dict(data)})
            current = Path(written)
        image = frame.pop()
    except Exception as exc:  # noqa: BLE001 - this frame is rejected with the reason; the others go on
        log.warning("preprocess: %s: %s failed: %s", path, step, describe_exception(exc))
        return {"steps": done, "failed": step, "error": describe_exception(exc)}
    subframe = _subframe_values(image) if item.get("subframe") else None
    plane = luminance(image.pixels)
    del image  # the frame's buffers go before the star measurement's
    return {"steps": done, "stars": _star_summary(plane), **({"subframe": subframe} if subframe else {})}


def write_master(image: Image, path: Path, kind: str, extra: Sequence[FITSKeyword] = (), *,
                 overwrite: bool = False) -> Path:
    """Write the master ``image`` of frames of ``kind`` (``light``, ``flat``, …) to ``path`` as 32-bit floats:
    its keywords, with IMAGETYP first (``Master Light``, …), ``extra`` (replacing keywords of the same
    names) and a HISTORY line; the path written."""
    from processes.common.filelists import write_frame

    drop = {"IMAGETYP", *(k.name for k in extra)}
    cards = [k for k in image.keywords if k.name.upper() not in drop]
    cards.insert(0, FITSKeyword("IMAGETYP", _MASTER_IMAGETYP[kind], "Type of image"))
    cards += list(extra)
    cards.append(FITSKeyword("HISTORY", "Master frame made by procfw preprocess", ""))
    return write_frame(Image(image.pixels, cards, dict(image.properties)), path, sample_format="f32",
                       overwrite=overwrite)


_MASTER_OUTPUTS = ("numberOfChannels", "totalPixels", "frames", *(f"{key}{s}" for s in ("RK", "G", "B") for key in (
    "finalNoiseEstimate", "totalRejectedLow", "totalRejectedHigh")))
"""ImageIntegration's outputs the run reports of a master light (:func:`light_master_task`)."""


def light_master_task(item: Mapping[str, Any]) -> dict[str, Any]:
    """One master light, made where the per-frame steps ran (an executor task): ImageIntegration of the
    registered lights, the result cut to the run's common area and written with its rejection maps, and
    its stars measured.

    On a local pool its worker (the only one: :func:`_integration_pool`) was forked from a server that
    had already loaded the integration's and the star measurement's compiled kernels
    (:mod:`processes.workflows.preprocess.worker`): the console process never loads numba (~0.7 s of
    CPU time and ~40 MB on the 2-core test machine).  ImageIntegration runs its own threads
    (``maxBufferThreads``: one per core), whose results do not depend on their number.

    ``item``: ``{"images": ImageIntegration's images (paths, or drizzle rows), "parameters": its other
    parameters, "path": the master's path, "maps": {"low": path, "high": path} (the rejection maps'),
    "crop": [x0, y0, x1, y1] or None, "keywords": [[name, value, comment], ...] (added to the master's),
    "overwrite": bool}``.  Returns ``{"path": the master's path, "maps": [rejection maps written],
    "outputs": ImageIntegration's outputs the report uses, "messages": [...], "stars": summary}``.
    """
    instance = _process("ImageIntegration", images=list(item["images"]), **dict(item["parameters"]))
    workspace = Workspace()
    result = instance.execute_global(workspace)
    outputs = result.outputs
    image_id = outputs.get("integrationImageId", "integration")
    window_id = image_id if image_id in workspace.window_ids() else (result.created[0] if result.created else "")
    crop = Rectangle(*item["crop"]) if item.get("crop") else None
    overwrite = bool(item.get("overwrite"))
    image = workspace.window(window_id).image
    pixels = image.pixels  # the whole result
    if crop is not None:
        image = _cropped(image, crop)
    extra = [FITSKeyword(str(name), value, str(comment)) for name, value, comment in item.get("keywords", ())]
    path = write_master(image, Path(str(item["path"])), "light", extra, overwrite=overwrite)
    maps = [str(_write_rejection_map(workspace, outputs[key], crop, Path(str(item["maps"][side])), overwrite))
            for key, side in (("lowRejectionMapImageId", "low"), ("highRejectionMapImageId", "high"))
            if outputs.get(key) in workspace.window_ids()]
    # the result and rejection maps are written: the maps' memory goes back to the heap (the workspace's
    # windows and views form reference cycles, which only a collection frees: on a pool worker it visits only
    # what the task made, the preload's objects being frozen; elsewhere, one full collection per master),
    # where the luminance plane and the star measurement's arrays take it again: kept, not given back to the
    # system only for them to fault fresh pages in (9-33 ms of system time on the 2-core VM; the task's peak
    # is the integration's, with every map and band buffer); the stars are measured on the luminance of the
    # whole result cut to the crop (the values of the cropped result's luminance, without a contiguous copy
    # of its channels)
    del workspace, image
    gc.collect()
    plane = luminance(pixels)
    del pixels
    if crop is not None:
        plane = np.ascontiguousarray(plane[crop.y0 : crop.y1, crop.x0 : crop.x1])
    field = measure_stars(plane, overwrite=True)
    return {"path": str(path), "maps": maps, "outputs": {k: outputs[k] for k in _MASTER_OUTPUTS if k in outputs},
            "messages": list(result.messages), "stars": {k: rounded(v) for k, v in field.summary().items()}}


def _write_rejection_map(workspace: Workspace, view: str, crop: Rectangle | None, path: Path,
                         overwrite: bool) -> Path:
    """Write the rejection map ``view`` of ``workspace`` to ``path``, cut to ``crop``; the path written."""
    from processes.common.filelists import write_frame

    rejection_map = workspace.window(view).image
    return write_frame(rejection_map if crop is None else _cropped(rejection_map, crop), path, overwrite=overwrite)


def _subframe_values(image: Image) -> dict[str, Any]:
    """SubframeSelector's measurements of one processed light (its default settings), or ``{"error": reason}``."""
    from processes.kernels.subframe import as_row_values, measure_subframe

    try:
        return as_row_values(measure_subframe(image, _process("SubframeSelector").settings()))
    except (ProcfwError, ValueError) as exc:
        return {"error": str(exc)}


def _process(process_id: str, **parameters: Any) -> Any:
    from procfw.registry import processes

    return processes.get(process_id).from_parameters(parameters)


def load_step_processes(plan: Plan) -> list[str]:
    """Load the classes of the processes ``plan``'s run will use (their modules imported); their ids.

    Called while the local pool's workers are still starting (this process would only wait):
    otherwise each class is loaded when its step begins, while the workers wait for their first
    frame of that step — StarAlignment's modules take ~0.2 s, Debayer's ~0.08 s.
    """
    from procfw.registry import processes

    options = plan.options
    wanted = []
    if plan.used_masters():  # frames are calibrated
        wanted.append("ImageCalibration")
    if options.cosmetic_correction:
        wanted.append("CosmeticCorrection")
    if any(plan.debayers(link.target) for link in plan.lights):
        wanted.append("Debayer")
    if options.align:
        wanted.append("StarAlignment")
    if options.local_normalization:
        wanted.append("LocalNormalization")
    if options.integrate:
        wanted.append("ImageIntegration")
    if options.drizzle:
        wanted.append("DrizzleIntegration")
    for process_id in wanted:
        processes.get(process_id)
    return wanted


def plan_session(
    input_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str] | None = None,
    options: Options | None = None,
    *,
    progress: StepProgress | None = None,
) -> Plan:
    """Scan ``input_dir`` (leaving out ``output_dir`` when it lies inside) and make the plan."""
    source = Path(input_dir)
    if not source.is_dir():
        raise PreprocessError(f"preprocess: the input folder {source} does not exist or is not a folder")
    progress = progress or NullProgress()
    if output_dir is not None and os.path.abspath(output_dir) == os.path.abspath(source):
        raise PreprocessError(f"preprocess: the output folder must not be the input folder ({source}); "
                              "write the results into a folder of their own")
    exclude = [output_dir] if output_dir is not None else []
    with progress.step("reading headers") as report:
        found = scan(source, exclude=exclude, progress=report)
    return make_plan(found, options or Options(), directory=str(source))


def _existing_outputs(out: Path, plan: Plan, extension: str) -> list[Path]:
    """Earlier results in ``out`` that a run would replace."""
    existing: list[Path] = []
    drizzled = [f"{s.name}_drizzle{extension}" for s in plan.integrations] if plan.options.drizzle else []
    for name in (REPORT_TEXT, REPORT_JSON, *(f"{s.name}{extension}" for s in plan.integrations), *drizzled):
        if (out / name).exists():
            existing.append(out / name)
    for folder in SUBFOLDERS:
        path = out / folder
        if path.is_dir() and any(path.iterdir()):
            existing.append(path)
    return existing


# -- the run ----------------------------------------------------------------------------------
def _release_workers(executor: Executor) -> None:
    """Close ``executor`` (waiting for its workers to end) and stop the local pools' fork server."""
    executor.close()
    stop_workers()


def _integration_pool(executor: Executor) -> Executor:
    """A local pool of one worker for the master lights, in place of the per-frame steps' ``executor`` (closed).

    The master light task (:func:`light_master_task`) takes one worker and ImageIntegration's threads
    the cores; the others would idle through it holding ~30 MB each (copy-on-write pages, measured on
    the 2-core test machine).  The new worker is forked from the same fork server (kept: it preloaded
    every module the pool names): it starts with every kernel loaded.  The per-frame workers end
    first, so that the three never hold their memory at once (the memory they give back is free for
    the new worker's).
    """
    executor.close()
    return make_executor("processes", workers=1, preload=WORKER_PRELOAD)


class _Run:
    """State of one run: paths, per-frame records, timings and the report."""

    def __init__(self, plan: Plan, out: Path, progress: StepProgress, executor: Executor | None = None) -> None:
        self.plan = plan
        self.executor = executor
        self.options = plan.options
        self.out = out
        self.progress = progress
        self.ext = self.options.output_extension if self.options.output_extension.startswith(".") \
            else "." + self.options.output_extension
        self.timings: dict[str, float] = {}
        self.masters: dict[str, Path] = {}
        self.master_reports: list[dict[str, Any]] = []
        self.lights: dict[str, dict[str, Any]] = {}
        """Per raw light path: its record."""
        self.flat_frames: list[dict[str, Any]] = []
        self.rejected: list[dict[str, Any]] = []
        self.messages: list[str] = []
        self.results: dict[str, dict[str, Any]] = {}
        self.failures: list[str] = []
        self.measurements: dict[str, dict[str, Any]] = {}
        """Per raw light, SubframeSelector's measurements made by its per-frame task (-subframeWeighting+)."""
        self.crop_area: tuple[Rectangle | None] | None = None
        """The area every registered light covers, once computed (in a 1-tuple: None is an answer)."""
        self.crops: dict[str, dict[str, Any]] = {}
        """Per light master cropped to its common area: the rectangle kept."""
        self.registrations: dict[str, tuple[list[list[float]], tuple[int, int]]] = {}
        """Per raw light registered: (matrix from the reference grid to the frame, the frame's (width, height))."""
        self.reference: dict[str, Any] = {}
        self.master_executor: Executor | None = None
        """Where the master lights are made once the per-frame steps are done (:func:`_integration_pool`);
        ``executor`` when None."""

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def local_normalization(self) -> bool:
        """Whether the lights are integrated through LocalNormalization's .xnml functions."""
        return self.options.local_normalization and self.options.align

    @property
    def drizzle(self) -> bool:
        """Whether the registered lights are also drizzled (``-drizzle+``)."""
        return self.options.drizzle and self.options.align

    @property
    def cfa_drizzle(self) -> bool:
        """Whether debayered lights are drizzled from their CFA frames: not after SuperPixel
        debayering, whose frames (and registration matrices) are half the CFA frame's size."""
        return self.drizzle and self.options.debayer_method != "SuperPixel"

    def folder(self, *parts: str) -> Path:
        path = self.out.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def execute(self, title: str, process_id: str, *, inputs_read_last: bool = False,
                **parameters: Any) -> tuple[ProcessResult, Workspace]:
        """Run a process globally in a workspace of its own, with a progress step; time it.

        ``inputs_read_last``: the process reads its input files for the last time in this run;
        each is dropped from the page cache once done (:func:`processes.common.filelists.consumed_inputs`).
        """
        instance = _process(process_id, **parameters)
        workspace = Workspace()
        start = time.perf_counter()
        consumed = consumed_inputs() if inputs_read_last else contextlib.nullcontext()
        with self.progress.step(title) as report, use_executor(self.master_executor or self.executor), consumed:
            result = instance.execute_global(workspace, progress=report)
        self.timings[title] = self.timings.get(title, 0.0) + time.perf_counter() - start
        for message in result.messages:
            log.info("%s", message)
        return result, workspace

    def reject(self, raw: str, step: str, reason: str) -> None:
        record = self.lights[raw]
        record["status"] = "rejected"
        record["rejectedAt"] = step
        record["reason"] = reason
        self.rejected.append({"path": raw, "step": step, "reason": reason})

    def active(self, group: FrameGroup) -> list[str]:
        """Raw paths of the group's lights not rejected so far."""
        return [str(f.path) for f in group.frames if self.lights[str(f.path)]["status"] != "rejected"]

    # -- masters ------------------------------------------------------------------------------
    def integration_parameters(self, kind: str, count: int) -> dict[str, Any]:
        common = {"combination": "Average", "rejection": rejection_for(count, self.options.rejection),
                  "clipLow": True, "clipHigh": True, "generate64BitResult": False, "useCache": False}
        if kind in ("bias", "dark", "darkflat"):
            return {**common, "normalization": "NoNormalization", "rejectionNormalization": "NoRejectionNormalization",
                    "weightMode": "DontCare", "weightScale": "WeightScale_MAD", "evaluateSNR": False,
                    "rangeClipLow": False, "rangeClipHigh": False, "generateRejectionMaps": False}
        if kind == "flat":
            return {**common, "normalization": "Multiplicative", "rejectionNormalization": "EqualizeFluxes",
                    "weightMode": "DontCare", "weightScale": "WeightScale_BWMV", "evaluateSNR": False,
                    "rangeClipLow": False, "rangeClipHigh": False, "generateRejectionMaps": False}
        return {**common, "normalization": "AdditiveWithScaling", "rejectionNormalization": "Scale",
                "weightMode": "SNREstimate", "weightScale": "WeightScale_BWMV", "evaluateSNR": True,
                "noiseEvaluationAlgorithm": "NoiseEvaluation_MRS", "rangeClipLow": True, "rangeLow": 0.0,
                "rangeClipHigh": False, "generateRejectionMaps": True}

    def integrate(self, title: str, kind: str, files: Sequence[Any], **overrides: Any
                  ) -> tuple[ProcessResult, Workspace, Image]:
        params = {**self.integration_parameters(kind, len(files)), **overrides}
        result, workspace = self.execute(title, "ImageIntegration", images=list(files), **params)
        image_id = result.outputs.get("integrationImageId", "integration")
        window_id = image_id if image_id in workspace.window_ids() else (result.created[0] if result.created else "")
        return result, workspace, workspace.window(window_id).image

    def write_master(self, image: Image, path: Path, kind: str, extra: Sequence[FITSKeyword] = ()) -> Path:
        """:func:`write_master` with this run's ``overwrite`` option."""
        return write_master(image, path, kind, extra, overwrite=self.options.overwrite)

    def build_master(self, group: FrameGroup) -> None:
        if group.master:
            self.masters[group.name] = group.frames[0].path
            self.master_reports.append({"name": group.name, "kind": group.kind, "path": str(group.frames[0].path),
                                        "readyMade": True})
            return
        files = [str(f.path) for f in group.frames]
        calibrated: list[str] = files
        link = self.plan.flat_link(group) if group.kind == "flat" else None
        if link is not None and (link.bias.group or link.dark.group):
            calibrated = self.calibrate_flats(group, link, files)
        result, _, image = self.integrate(f"integrating {group.name}", group.kind, calibrated)
        extra = []
        if group.kind == "flat":
            extra.append(FITSKeyword("FILTER", group.filter, "Filter"))
        path = self.write_master(image, self.folder("master") / f"{group.name}{self.ext}", group.kind, extra)
        self.masters[group.name] = path
        outputs = result.outputs
        self.master_reports.append({
            "name": group.name, "kind": group.kind, "path": str(path), "frames": len(calibrated),
            "rejection": self.integration_parameters(group.kind, len(calibrated))["rejection"],
            "median": float(np.median(image.pixels)),
            "rejectedLowPercent": 100.0 * outputs.get("totalRejectedLowRK", 0) / max(outputs.get("totalPixels", 1), 1),
            "rejectedHighPercent": 100.0 * outputs.get("totalRejectedHighRK", 0) / max(outputs.get("totalPixels", 1),
                                                                                      1),
        })

    def calibrate_flats(self, group: FrameGroup, link: CalibrationLink, files: list[str]) -> list[str]:
        bias, dark = link.bias.group, link.dark.group
        result, _ = self.execute(
            f"calibrating flats {group.filter or ''}".rstrip(), "ImageCalibration", targetFrames=files,
            masterBiasEnabled=bias is not None, masterBiasPath=str(self.masters[bias.name]) if bias else "",
            masterDarkEnabled=dark is not None, masterDarkPath=str(self.masters[dark.name]) if dark else "",
            masterFlatEnabled=False, calibrateDark=False, calibrateFlat=False, optimizeDarks=False,
            evaluateNoise=False, evaluateSignal=False, outputDirectory=str(self.folder("calibrated", group.name)),
            outputExtension=self.ext, outputPostfix="_c", outputSampleFormat="f32",
            overwriteExistingFiles=self.options.overwrite, onError="Continue",
        )
        out = []
        for row in result.outputs["outputData"]:
            self.flat_frames.append({"path": row["targetFrame"], "group": group.name, "status": row["status"],
                                     "calibrated": row["outputFilePath"], "error": row["error"]})
            if row["status"] == "ok":
                out.append(row["outputFilePath"])
        if len(out) < 3:
            raise PreprocessError(f"preprocess: {group.name}: only {len(out)} flats could be calibrated "
                                  f"({'; '.join(str(r['error']) for r in result.outputs['outputData'] if r['error'])})")
        return out

    # -- lights ---------------------------------------------------------------------------------
    def light_steps(self, link: CalibrationLink) -> list[tuple[str, Process]]:
        """The per-frame steps of ``link``'s lights, in order: (step name, configured process instance)."""
        group = link.target
        bias, dark, flat = link.bias.group, link.dark.group, link.flat.group if link.flat else None
        steps: list[tuple[str, Process]] = []
        if bias or dark or flat:
            steps.append(("calibration", _process(
                "ImageCalibration", targetFrames=[],
                masterBiasEnabled=bias is not None, masterBiasPath=str(self.masters[bias.name]) if bias else "",
                masterDarkEnabled=dark is not None, masterDarkPath=str(self.masters[dark.name]) if dark else "",
                masterFlatEnabled=flat is not None, masterFlatPath=str(self.masters[flat.name]) if flat else "",
                calibrateDark=link.calibrate_dark, calibrateFlat=False, optimizeDarks=link.optimize_darks,
                # CFA frames: noise is evaluated by Debayer (on the calibrated CFA components), as WBPP does
                evaluateNoise=not self.plan.debayers(group), evaluateSignal=False,
                outputDirectory=str(self.folder("calibrated", group.name)),
                outputExtension=self.ext, outputPostfix="_c", outputSampleFormat="f32",
                overwriteExistingFiles=self.options.overwrite, onError="Continue",
            )))
        if self.options.cosmetic_correction:
            steps.append(("cosmetic correction", _process(
                "CosmeticCorrection", targetFrames=[], useAutoDetect=True, hotAutoCheck=True,
                hotAutoValue=self.options.hot_sigma, coldAutoCheck=True, coldAutoValue=self.options.hot_sigma,
                cfa=group.bayer is not None, outputDir=str(self.folder("cosmetized", group.name)),
                outputExtension=self.ext, postfix="_cc", overwrite=self.options.overwrite,
            )))
        if self.plan.debayers(group):
            steps.append(("debayering", _process(
                "Debayer", targetItems=[], cfaPattern=self.options.cfa_pattern,
                debayerMethod=self.options.debayer_method, evaluateNoise=True,
                outputDirectory=str(self.folder("debayered", group.name)), outputExtension=self.ext,
                outputPostfix="_d", overwriteExistingFiles=self.options.overwrite, onError="OnError_Continue",
            )))
        return steps

    def process_lights(self, link: CalibrationLink) -> None:
        """Calibration, cosmetic correction, debayering and star measurement of ``link``'s lights.

        Each frame is one executor task (:func:`light_task`): read once, every step applied
        to the previous step's result in memory, each step's output written where WBPP
        writes it (calibrated/, cosmetized/, debayered/), the stars measured on the last
        result.  Bad masters and clashing output names stop the run before any frame.
        """
        group = link.target
        raws = self.active(group)
        steps = self.light_steps(link)
        names = [name for name, _ in steps]
        if "calibration" not in names:
            for raw in raws:
                self.lights[raw]["calibration"] = {"status": "not calibrated (no masters)"}
            self.messages.append(f"{group.short}: no calibration masters; the raw lights are used")
        if not raws:
            return
        self.check_light_steps(steps, raws)
        verbs = {"calibration": "calibrating", "cosmetic correction": "cosmetic correction",
                 "debayering": "debayering"}
        title = " + ".join([*(verbs[name] for name in names), "measuring stars"]) + f" {group.short}"
        icons = [frame_icon(instance) for _, instance in steps]
        items = [{"steps": icons, "names": names, "index": i, "path": os.path.abspath(raw),
                  "subframe": self.options.subframe_weighting} for i, raw in enumerate(raws)]
        executor = self.executor if self.executor is not None else make_executor("serial")
        start = time.perf_counter()
        with self.progress.step(title) as report:
            report(0.0, f"{len(raws)} frames")
            for done, (i, outcome) in enumerate(executor.map_unordered(light_task, items), start=1):
                self.record_light(raws[i], names, outcome)
                report(done / len(raws), f"{Path(raws[i]).name} ({done}/{len(raws)})")
        self.timings[title] = self.timings.get(title, 0.0) + time.perf_counter() - start

    def check_light_steps(self, steps: list[tuple[str, Process]], raws: list[str]) -> None:
        """Fail before any frame: a master that cannot be loaded, two frames with the same output file."""
        from processes.common.filelists import check_output_paths, clear_worker_state

        sources = list(raws)
        try:
            for _, instance in steps:
                prepare = getattr(instance, "check_frame_state", None)
                if prepare is not None:
                    prepare()
                outputs = [instance._output_path(source) for source in sources]  # noqa: SLF001 - its naming rule
                check_output_paths(instance.process_id, list(zip(sources, outputs)), "")
                sources = [str(o) for o in outputs]
        except ProcfwError as exc:
            raise PreprocessError(f"preprocess: {exc}") from None
        finally:
            clear_worker_state()

    def record_light(self, raw: str, names: list[str], outcome: Any) -> None:
        """Put the results of one frame's :func:`light_task` in its record (or reject it)."""
        record = self.lights[raw]
        if isinstance(outcome, BaseException):  # the task itself failed (a worker died)
            self.reject(raw, names[0] if names else "measuring stars", describe_exception(outcome))
            return
        for name, step in zip(names, outcome["steps"]):
            output, row = step["output"], step["data"]
            record["current"] = output
            if name == "calibration":
                record["calibrated"] = output
                record["calibration"] = {"darkScalingFactors": row.get("darkScalingFactors"),
                                         "noiseEstimates": row.get("noiseEstimates"),
                                         "outputPedestal": row.get("outputPedestal")}
            elif name == "cosmetic correction":
                record["cosmetized"] = output
                record["cosmetic"] = {k: v for k, v in row.items() if isinstance(v, int) and not isinstance(v, bool)}
            elif name == "debayering":
                record["debayered"] = output
                record["debayer"] = {"cfaPattern": row.get("cfaPattern"),
                                     "noiseEstimates": [row.get(f"noiseEstimate{c}") for c in "RGB"]}
        if outcome.get("failed"):
            self.reject(raw, outcome["failed"], outcome["error"])
            return
        record["stars"] = outcome["stars"]
        if "subframe" in outcome:
            self.measurements[raw] = outcome["subframe"]

    def choose_reference(self) -> str:
        """The processed file all lights are registered to (see the module docstring)."""
        wanted = self.options.reference.strip()
        if wanted:
            target = os.path.abspath(os.path.expanduser(wanted))
            for raw, record in self.lights.items():
                if os.path.abspath(raw) == target:
                    if record["status"] == "rejected":
                        raise PreprocessError(f"preprocess: the reference {wanted} was rejected: {record['reason']}")
                    self.reference = {"path": record["current"], "raw": raw, "reason": "given (-reference)",
                                      "stars": record.get("stars")}
                    return record["current"]
            if not Path(target).is_file():
                raise PreprocessError(f"preprocess: the reference image {wanted} does not exist")
            self.reference = {"path": target, "raw": None, "reason": "given (-reference), an external image"}
            return target
        groups = [link.target for link in self.plan.lights if self.active(link.target)]
        if not groups:
            raise PreprocessError("preprocess: every light frame was rejected; nothing to register")
        smallest = min(g.xbin * g.ybin for g in groups)
        candidates = [raw for g in groups if g.xbin * g.ybin == smallest for raw in self.active(g)]

        def stars(raw: str) -> int:
            return int((self.lights[raw].get("stars") or {}).get("stars") or 0)

        most = max(stars(r) for r in candidates)
        if most == 0:
            largest = max(groups, key=lambda g: len(self.active(g)))
            raw = self.active(largest)[0]
            reason = f"no stars measured; the first frame of the largest group ({largest.short})"
        else:
            measured = [r for r in candidates if stars(r) > 0 and self.lights[r]["stars"].get("fwhm")]
            typical = float(np.median([self.lights[r]["stars"]["fwhm"] for r in measured]))

            def score(r: str) -> float:
                fwhm = self.lights[r]["stars"].get("fwhm")
                return stars(r) * (typical / fwhm) ** 2 if fwhm else 0.0

            best = max(score(r) for r in candidates)
            pool = [r for r in candidates if score(r) >= 0.95 * best]
            raw = max(pool, key=lambda r: (self.lights[r]["stars"].get("snr") or 0.0, -candidates.index(r)))
            fwhm = self.lights[raw]["stars"].get("fwhm")
            reason = (f"best frame: {stars(raw)} stars (most: {most}), FWHM {fwhm:.2f} px (median {typical:.2f}), "
                      f"star SNR {self.lights[raw]['stars'].get('snr') or 0:.1f}; the highest star SNR among the "
                      f"{len(pool)} frames within 5% of the best score stars × (median FWHM / FWHM)², binning "
                      f"{smallest}")
        record = self.lights[raw]
        self.reference = {"path": record["current"], "raw": raw, "reason": reason, "stars": record.get("stars")}
        return record["current"]

    def weigh(self, target: IntegrationSet) -> None:
        """SubframeSelector's weights and approval for ``target``'s processed lights, from the
        measurements their per-frame tasks made (before registration, as WBPP): each frame's
        values and weight (:attr:`Options.weighting`) go into its record; a frame the approval
        expression (:attr:`Options.approval`) refuses, or that could not be measured, is rejected
        with the reason."""
        raws = [r for g in target.groups for r in self.active(g)]
        measured = []
        for index, raw in enumerate(raws):
            values = self.measurements.get(raw) or {"error": "not measured"}
            if "error" in values:
                self.reject(raw, "subframe selection", str(values["error"]))
            else:
                measured.append((index, self.lights[raw]["current"], values))
        if not measured:
            return
        selector = _process("SubframeSelector", weightingExpression=self.options.weighting,
                            approvalExpression=self.options.approval)
        columns = [c.id for c in type(selector).schema()["measurements"].columns]
        for cells in selector.evaluate(measured):
            row = dict(zip(columns, cells))
            raw = raws[int(row["measurementIndex"])]
            self.lights[raw]["subframe"] = {key: rounded(float(row[f"measurement{key}"]), 6) for key in _SUBFRAME_KEYS}
            if not row["measurementEnabled"]:
                self.reject(raw, "subframe selection", f"the approval expression {self.options.approval!r} is false "
                            f"(FWHM {row['measurementFWHM']:.2f} px, weight {row['measurementWeight']:.4g})")

    def subframe_weights(self, raws: Sequence[str]) -> str:
        """``csvWeights`` for ImageIntegration from the frames' SubframeSelector weights ('' when there are
        none, or when they cannot weigh: a negative or non-finite one, or all zero; then a message says so)."""
        if not self.options.subframe_weighting or not raws:
            return ""
        weights = [float(self.lights[r].get("subframe", {}).get("Weight", math.nan)) for r in raws]
        if not all(math.isfinite(w) and w >= 0 for w in weights) or not any(w > 0 for w in weights):
            self.messages.append(f"the weighting expression {self.options.weighting!r} gave weights that cannot "
                                 "weigh frames (negative, not a number or all zero); noise weights were used")
            return ""
        return ",".join(repr(w) for w in weights)

    def register(self, target: IntegrationSet, reference: str) -> None:
        """StarAlignment of ``target``'s lights onto ``reference``."""
        raws = [r for g in target.groups for r in self.active(g)]
        if not raws:
            return
        folder = self.folder("registered", target.name.removeprefix("master_"))
        result, _ = self.execute(
            f"registering {target.name.removeprefix('master_')}", "StarAlignment", referenceImage=reference,
            referenceIsFile=True, targets=[self.lights[r]["current"] for r in raws], outputDirectory=str(folder),
            outputExtension=self.ext, outputPostfix="_r", outputSampleFormat="f32",
            overwriteExistingFiles=self.options.overwrite, onError="Continue",
            inputs_read_last=all(self.lights[r]["current"] != r for r in raws),  # files of this run, not the raws
            # not PixInsight's default: the masters keep the reference's WCS; drizzle data only with -drizzle+
            inheritAstrometricSolution=True, generateDrizzleData=self.drizzle,
        )
        for raw, row in zip(raws, result.outputs["outputData"]):
            if row["status"] != "ok":
                self.reject(raw, "registration", row["error"] or row["status"])
                continue
            record = self.lights[raw]
            if row.get("matrix"):
                _, (width, height, _channels), _ = read_header(record["current"])
                self.registrations[raw] = (row["matrix"], (width, height))
            record["registered"] = record["current"] = row["outputFilePath"]
            if self.drizzle and row.get("drizzleDataPath"):
                record["drizzleData"] = row["drizzleDataPath"]
                if record.get("debayered") and self.cfa_drizzle:
                    self.link_cfa_source(record)
            record["alignment"] = {key: rounded(row[key], 6) if isinstance(row.get(key), float) else row.get(key)
                                   for key in ("starsDetected", "matchedStars", "rmsError", "dx", "dy", "rotation",
                                               "scale", "interpolation") if key in row}

    def link_cfa_source(self, record: dict[str, Any]) -> None:
        """Name, in a debayered light's .xdrz, the CFA frame it was debayered from (the last
        file before debayering) and its pattern, for CFA drizzle.  A FITS output of Debayer
        cannot carry this link (PixInsight keeps it in XISF properties); the run knows it."""
        from processes.kernels.drizzledata import read_drizzle_data, write_drizzle_data

        path = record["drizzleData"]
        source = record.get("cosmetized") or record.get("calibrated") or record["path"]
        pattern = str((record.get("debayer") or {}).get("cfaPattern") or "")
        data = attrs.evolve(read_drizzle_data(path), cfa_source_file_path=os.path.abspath(source),
                            cfa_source_pattern=pattern)
        write_drizzle_data(data, path, overwrite=True)

    def drizzle_lights(self, target: IntegrationSet, raws: Sequence[str]) -> None:
        """DrizzleIntegration of ``raws`` (their .xdrz files, completed by ImageIntegration) into
        ``master_<filter>_drizzle``; CFA drizzle when the lights were debayered; with
        ``-localNormalization+`` each frame's ``.xnml`` normalizes its drops."""
        records = [self.lights[r] for r in raws if self.lights[r]["status"] == "integrated"]
        # with -localNormalization+, each frame's .xnml normalizes its drops (PixInsight's rows)
        rows = [(True, rec["drizzleData"], rec.get("localNormalization", "") if self.local_normalization else "")
                for rec in records if rec.get("drizzleData")]
        sources = [row[1] for row in rows]
        if len(sources) < 3:
            self.messages.append(f"{target.name}: no drizzle integration ({len(sources)} frames with drizzle data)")
            return
        cfa = self.cfa_drizzle and all(self.lights[r].get("debayered") for r in raws)
        result, workspace = self.execute(
            f"drizzling {target.name}", "DrizzleIntegration", inputData=rows,
            scale=self.options.drizzle_scale, dropShrink=self.options.drizzle_drop_shrink, enableCFA=cfa,
        )
        image = workspace.window(result.outputs.get("integrationImageId", "drizzle_integration")).image
        extra = [FITSKeyword("FILTER", target.filter, "Filter"),
                 FITSKeyword("DRIZSCAL", float(self.options.drizzle_scale), "Drizzle scale"),
                 FITSKeyword("DRIZSHRK", float(self.options.drizzle_drop_shrink), "Drizzle drop shrink")]
        path = self.write_master(image, self.out / f"{target.name}_drizzle{self.ext}", "light", extra)
        with self.progress.step(f"measuring stars {target.name}_drizzle"):
            field = measure_stars(luminance(image.pixels))
        noise = [estimate_noise(image.pixels[c]).sigma for c in range(image.channels)]
        self.results[target.name]["drizzle"] = {
            "path": str(path), "frames": len(sources), "scale": self.options.drizzle_scale,
            "dropShrink": self.options.drizzle_drop_shrink, "cfa": cfa,
            "width": image.width, "height": image.height, "noise": [rounded(v, 6) for v in noise],
            "stars": {k: rounded(v) for k, v in field.summary().items()},
            "messages": list(result.messages),
        }

    def normalize_locally(self, target: IntegrationSet, reference: str) -> None:
        """LocalNormalization of the registered lights of ``target`` onto the registered reference
        (``-localNormalization+``): one ``.xnml`` beside each registered frame, which
        ImageIntegration then reads (``normalization=LocalNormalization``)."""
        raws = [r for g in target.groups for r in self.active(g) if self.lights[r].get("registered")]
        reference_file = self.lights.get(reference, {}).get("registered") or reference
        if not raws:
            return
        folder = Path(self.lights[raws[0]]["registered"]).parent
        result, _ = self.execute(
            f"normalizing {target.name.removeprefix('master_')} locally", "LocalNormalization",
            referencePathOrViewId=reference_file, referenceIsView=False, scale=self.options.local_normalization_scale,
            targetItems=[self.lights[r]["registered"] for r in raws], outputDirectory=str(folder),
            generateNormalizedImages="GenerateNormalizedImages_Never", generateNormalizationData=True,
            overwriteExistingFiles=self.options.overwrite, onError="OnError_Continue",
        )
        for raw, row in zip(raws, result.outputs["outputData"]):  # one row per target, in order
            xnml = Path(self.lights[raw]["registered"]).with_suffix(".xnml")
            if row["status"] != "ok" or not xnml.is_file():
                self.reject(raw, "local normalization", row["error"] or "no .xnml file was written")
                continue
            self.lights[raw]["localNormalization"] = str(xnml)

    def integrate_lights(self, target: IntegrationSet) -> None:
        raws = [r for g in target.groups for r in self.active(g)]
        files = [self.lights[r]["current"] for r in raws]
        if len(files) < 3:
            reason = (f"{target.name}: only {len(files)} frame{'s' if len(files) != 1 else ''} left after "
                      f"rejections; ImageIntegration needs at least 3")
            self.failures.append(reason)
            self.results[target.name] = {"name": target.name, "filter": target.filter, "error": reason}
            return
        subframe_weights = self.subframe_weights(raws)
        overrides: dict[str, Any] = {"csvWeights": subframe_weights} if subframe_weights else {}
        if self.local_normalization:
            overrides.update(normalization="LocalNormalization", rejectionNormalization="LocalRejectionNormalization")
        if self.drizzle:  # ImageIntegration completes each .xdrz: normalization, weight, rejection map
            overrides.update(generateDrizzleData=True)
            images: list[Any] = [[True, f, self.lights[r].get("drizzleData", ""), ""] for f, r in zip(files, raws)]
        else:
            images = list(files)
        _, (width, height, _channels), _ = read_header(files[0])  # the master's size: the registered frames'
        crop = self.common_area(target, raws, (width, height))
        release_memory()  # the area's search (~30 MB of row chunks) freed: not held while the master is made
        exposure = sum(self.lights[r]["exposure"] or 0.0 for r in raws)
        item = {
            "images": images, "parameters": {**self.integration_parameters("light", len(files)), **overrides},
            "path": str(self.out / f"{target.name}{self.ext}"),
            "maps": {"low": str(self.folder("master") / f"{target.name}_rejection_low{self.ext}"),
                     "high": str(self.folder("master") / f"{target.name}_rejection_high{self.ext}")},
            "crop": None if crop is None else [crop.x0, crop.y0, crop.x1, crop.y1],
            "keywords": [["FILTER", target.filter, "Filter"],
                         ["TOTALEXP", float(exposure), "Total exposure of the integrated frames, s"]],
            "overwrite": self.options.overwrite,
        }
        title = f"integrating {target.name}"
        start = time.perf_counter()
        with self.progress.step(title, indeterminate=True):
            master = self.run_task(light_master_task, item)
        self.timings[title] = self.timings.get(title, 0.0) + time.perf_counter() - start
        messages = master["messages"]
        for message in messages:
            log.info("%s", message)
        if not self.drizzle:  # files of this run read for the last time (procfw.io.pagecache)
            drop_cached_files(f for f, r in zip(files, raws) if f != r)
        path = Path(master["path"])
        self.masters[target.name] = path
        outputs = master["outputs"]
        channels = int(outputs.get("numberOfChannels", 1))
        suffixes = ("RK", "G", "B")[:channels]
        noise = [float(outputs.get(f"finalNoiseEstimate{s}", math.nan)) for s in suffixes]
        rows = {os.path.abspath(str(row.get("path", ""))): row for row in outputs.get("frames", [])}
        weights: list[float] = []
        frame_noise: list[list[float]] = []
        for raw, file in zip(raws, files):
            row = rows.get(os.path.abspath(file))
            record = self.lights[raw]
            if row is None and rows:
                self.reject(raw, "integration", "left out by ImageIntegration (" + "; ".join(
                    m for m in messages if Path(file).name in m) + ")")
                continue
            record["status"] = "integrated"
            if row is None:
                continue
            weight = list(row.get("weight") or [])
            # ImageIntegration's frame noise (NOISEnn keywords); with SubframeSelector weights it measures none
            noise_values = [v for v in row.get("noise") or [] if v is not None] or _processed_noise(record)
            weights += weight[:1]
            if noise_values:
                frame_noise.append(noise_values)
            record["integration"] = {
                "weight": [rounded(w, 6) for w in weight], "noise": [rounded(v, 6) for v in noise_values],
                "rejectedLowPercent": [rounded(v) for v in row.get("rejectedLowPercent") or []],
                "rejectedHighPercent": [rounded(v) for v in row.get("rejectedHighPercent") or []],
            }
        w = np.asarray(weights or [1.0] * len(files), dtype=float)
        n_eff = float(w.sum() ** 2 / (w**2).sum()) if (w**2).sum() > 0 else 0.0
        median_noise = [float(np.median([fn[c] for fn in frame_noise if len(fn) > c] or [math.nan]))
                        for c in range(channels)]
        total = max(int(outputs.get("totalPixels", 1)), 1)
        self.results[target.name] = {
            "name": target.name, "filter": target.filter, "path": str(path), "frames": len(files),
            "totalExposure": exposure, "rejection": self.integration_parameters("light", len(files))["rejection"],
            "normalization": "LocalNormalization" if self.local_normalization else "AdditiveWithScaling",
            "weights": f"SubframeSelector: {self.options.weighting}" if subframe_weights
            else "SNREstimate (inverse noise variance)",
            "effectiveFrames": rounded(n_eff), "noise": [rounded(v, 6) for v in noise],
            "medianFrameNoise": [rounded(v, 6) for v in median_noise],
            "noiseReduction": [rounded(f / m) if m > 0 else None for f, m in zip(median_noise, noise)],
            "rejectedLowPercent": rounded(100.0 * sum(outputs.get(f"totalRejectedLow{s}", 0) for s in suffixes)
                                         / (total * channels)),
            "rejectedHighPercent": rounded(100.0 * sum(outputs.get(f"totalRejectedHigh{s}", 0) for s in suffixes)
                                          / (total * channels)),
            "stars": master["stars"], "rejectionMaps": master["maps"],
            "messages": list(messages), "crop": self.crops.get(target.name),
        }
        if self.drizzle:
            self.drizzle_lights(target, raws)

    def run_task(self, fn: Any, item: Mapping[str, Any]) -> Any:
        """``fn(item)`` on the run's executor (in this process without one); its result, or its failure raised."""
        executor = self.master_executor or self.executor
        if executor is None:
            return fn(item)
        (outcome,) = executor.map(fn, [item])
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def common_area(self, target: IntegrationSet, raws: list[str], size: tuple[int, int]) -> Rectangle | None:
        """The area of ``target``'s master (``size``: its width and height; integrated from ``raws``) to crop
        it to (:attr:`Options.auto_crop`), or None.

        One area for every light master: the one every registered light of every filter covers,
        so that masters of different filters stay the same size and pixel for pixel aligned
        (they are combined later).  Not cropped when it is the whole image, or when it keeps
        less than :data:`MIN_CROP_FRACTION` of it (then a message says so).  Recorded in the report.
        """
        if not self.options.auto_crop or not raws or any(r not in self.registrations for r in raws):
            return None
        if self.crop_area is None:
            lights = [r for t in self.plan.integrations for g in t.groups for r in self.active(g)
                      if r in self.registrations]
            self.crop_area = (common_area((self.registrations[r] for r in lights), size),)
        (area,) = self.crop_area
        full = size[0] * size[1]
        if area is None or area.width * area.height < MIN_CROP_FRACTION * full:
            kept = 0.0 if area is None else area.width * area.height / full
            self.messages.append(f"{target.name}: not cropped: the area every frame covers is {kept:.0%} of the "
                                 f"frame (less than {MIN_CROP_FRACTION:.0%}); check the registration")
            return None
        if (area.width, area.height) == size:
            return None
        self.crops[target.name] = {"x": area.x0, "y": area.y0, "width": area.width, "height": area.height,
                                   "of": list(size)}
        return area


def preprocess(
    input_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    options: Options | None = None,
    *,
    progress: StepProgress | None = None,
    plan: Plan | None = None,
    executor: Executor | None = None,
) -> PreprocessResult:
    """Pre-process the session in ``input_dir`` into ``output_dir`` (see the module docstring).

    ``plan`` (from :func:`plan_session`, e.g. already shown to the user) saves scanning the
    folder again; its options are then the run's options.  ``executor`` (from
    :func:`procfw.batch.make_executor`; left open) runs the per-frame steps; by default one
    is made from ``options.executor``, ``options.workers`` and ``options.scheduler`` and
    closed at the end.

    Raises :class:`PreprocessError` before any work when the plan has problems (broken
    links, too few frames) or when ``output_dir`` holds earlier results and
    ``options.overwrite`` is off; after the run when a master light could not be made
    (the report and the other masters are written first).
    """
    out = Path(os.path.abspath(os.path.expanduser(os.fspath(output_dir))))
    progress = progress or NullProgress()
    started = time.perf_counter()
    if plan is None:
        if executor is None:
            start_workers(options or Options())
        plan = plan_session(input_dir, out, options or Options(), progress=progress)
    options = plan.options
    if not plan.ok:
        raise PreprocessError(
            f"preprocess: cannot run: {len(plan.problems)} problem{'s' if len(plan.problems) != 1 else ''} in the "
            f"plan: " + "; ".join(plan.problems), plan.problems,
        )
    if out.exists() and not out.is_dir():
        raise PreprocessError(f"preprocess: the output path {out} exists and is not a folder")
    ext = options.output_extension if options.output_extension.startswith(".") else "." + options.output_extension
    existing = _existing_outputs(out, plan, ext)
    if existing and not options.overwrite:
        shown = ", ".join(str(p) for p in existing[:4]) + (" ..." if len(existing) > 4 else "")
        raise PreprocessError(f"preprocess: {out} already holds results of an earlier run ({shown}); "
                              "give -overwrite+ to replace them, or choose another output folder")
    owned = executor is None
    collector.freeze()  # the plan and astropy (read the headers), then the process modules: out of the
    load_step_processes(plan)  # full collections (in the procfw command); loaded while a local pool's workers start
    collector.freeze()
    if executor is None:  # before anything is written: a missing scheduler or extra stops here
        executor = make_executor(options.executor, workers=options.workers, scheduler=options.scheduler or None,
                                 task_memory=task_memory(plan), preload=WORKER_PRELOAD)
    log.info("preprocess: per-frame steps run on %s", executor)
    if executor.kind == "serial":  # the kernels run here: numba's start as a pool's preload makes it
        from processes.common.preload import start_numba

        start_numba()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError:
        if owned:
            executor.close()
        raise
    run = _Run(plan, out, progress, executor)
    stopping: ThreadPoolExecutor | None = None
    for link in plan.lights:
        for frame in link.target.frames:
            run.lights[str(frame.path)] = {
                "path": str(frame.path), "group": link.target.name, "filter": frame.filter,
                "exposure": frame.exposure, "temperature": frame.temperature, "status": "pending",
                "current": str(frame.path),
            }
    try:
        for group in plan.used_masters():
            run.build_master(group)
        for link in plan.lights:
            run.process_lights(link)
        if options.subframe_weighting:
            for target in plan.integrations:
                run.weigh(target)
        reference = ""
        if options.align:
            reference = run.choose_reference()
            for target in plan.integrations:
                run.register(target, reference)
            if options.local_normalization:
                for target in plan.integrations:
                    run.normalize_locally(target, reference)
        release_memory()  # what this process freed (the frames it ran itself when serial)
        collector.freeze()  # and what it loaded meanwhile: out of the integration's collections
        if owned and options.integrate and executor.kind == "processes" and executor.workers > 1:
            run.master_executor = _integration_pool(executor)
        if options.integrate:
            for target in plan.integrations:
                run.integrate_lights(target)
        if owned and executor.kind == "processes":  # the workers are done: they (and the fork server) stop and
            # their memory goes back now; their ends (~0.03-0.08 s) are waited for in a thread while the report is
            # written
            stopping = ThreadPoolExecutor(1, thread_name_prefix="preprocess-stop")
            stopped = stopping.submit(_release_workers, run.master_executor or executor)
        elif owned:
            _release_workers(executor)
        for record in run.lights.values():
            if record["status"] == "pending":
                record["status"] = "processed"
        report = build_report(run, time.perf_counter() - started)
        paths = write_reports(run, report)
    finally:
        if stopping is not None:
            stopping.shutdown()  # the workers have ended
        if owned:
            executor.close()
            if run.master_executor is not None:
                run.master_executor.close()
        progress.close()
    if stopping is not None:
        stopped.result()  # a failure to stop them, once the run has succeeded
    result = PreprocessResult(
        plan=plan, output=out, masters={k: v for k, v in run.masters.items() if k in run.results},
        calibration_masters={k: v for k, v in run.masters.items() if k not in run.results}, report=report,
        report_paths=paths, failures=tuple(run.failures),
    )
    if run.failures:
        raise PreprocessError("preprocess: " + "; ".join(run.failures) + f" (report: {paths[0]})", run.failures)
    return result
