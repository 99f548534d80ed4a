"""The console command ``preprocess``: WBPP-style batch pre-processing of a folder of raw frames.

::

    preprocess RAW_DIR OUT_DIR [-plan+|--dry-run] [-overwrite+] [-allowMissingCalibration+]
               [-executor=serial|processes|dask] [-workers=N] [-scheduler=tcp://HOST:8786] ...

Registered through the ``procfw.commands`` entry-point group.  It prints the plan (groups,
and for every light and flat group which bias, dark and flat it uses and why), refuses to
run when a link is broken (naming what is missing or mismatched), then runs the pipeline
of :mod:`processes.workflows.preprocess.pipeline` with progress bars on stderr and prints
a summary; the masters and the reports are in OUT_DIR.
"""

# ruff: noqa: N803 - option names are console camelCase ids
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from processes.workflows.preprocess.plan import DEBAYER_MODES, EXECUTORS, REJECTIONS, Options
from processes.workflows.preprocess.pool import prestart, start_workers
from processes.workflows.preprocess.progress import StepProgress, make_progress
from procfw import collector

if TYPE_CHECKING:
    from procfw.console import Session

__all__ = ["preprocess_command"]

_DEBAYER_METHODS = ("SuperPixel", "Bilinear", "VNG")
_CFA_PATTERNS = ("Auto", "RGGB", "BGGR", "GBRG", "GRBG")
_EXTENSIONS = (".fits", ".fit", ".fts", ".xisf")


def _node(session: Session, name: str) -> Any:
    """The node of option ``name`` on the command line (for the error caret), or None."""
    for arg in getattr(session, "current_args", ()) or ():
        if arg.kind != "value" and arg.name == name:
            return arg.node
    return None


def _choice(session: Session, name: str, value: str, allowed: tuple[str, ...]) -> str:
    from procfw.language.errors import ArgumentError

    for item in allowed:
        if value.casefold() == item.casefold():
            return item
    raise ArgumentError(f"preprocess: -{name}={value} is not one of {', '.join(allowed)}", _node(session, name))


def _non_negative(session: Session, name: str, value: float) -> float:
    from procfw.language.errors import ArgumentError

    if not value >= 0:
        raise ArgumentError(f"preprocess: -{name}={value:g} must be zero or more", _node(session, name))
    return float(value)


def _at_least(session: Session, name: str, value: int, minimum: int) -> int:
    from procfw.language.errors import ArgumentError

    if value < minimum:
        raise ArgumentError(f"preprocess: -{name}={value} must be at least {minimum}", _node(session, name))
    return value


def _within(session: Session, name: str, value: float, low: float, high: float) -> float:
    from procfw.language.errors import ArgumentError

    if not low <= value <= high:
        raise ArgumentError(f"preprocess: -{name}={value:g} must be between {low:g} and {high:g}",
                            _node(session, name))
    return float(value)


def preprocess_command(
    session: Session,
    input: Path,  # noqa: A002 - the command's own word
    output: Path | None = None,
    *,
    plan: bool = False,
    dryRun: bool = False,
    overwrite: bool = False,
    exposureTolerance: float = 0.5,
    temperatureTolerance: float = 5.0,
    optimizeDarks: bool = True,
    allowMissingBias: bool = False,
    allowMissingDarks: bool = False,
    allowMissingFlats: bool = False,
    allowMissingCalibration: bool = False,
    cosmeticCorrection: bool = False,
    debayer: Literal[DEBAYER_MODES] = "Auto",
    cfaPattern: Literal[_CFA_PATTERNS] = "Auto",
    debayerMethod: Literal[_DEBAYER_METHODS] = "VNG",
    reference: str = "",
    align: bool = True,
    integrate: bool = True,
    autoCrop: bool = True,
    localNormalization: bool = False,
    localNormalizationScale: int = 1024,
    drizzle: bool = False,
    drizzleScale: float = 2.0,
    drizzleDropShrink: float = 0.9,
    subframeWeighting: bool = False,
    weighting: str = "PSFSignalWeight",
    approval: str = "",
    rejection: Literal[REJECTIONS] = "Auto",
    outputExtension: str = ".fits",
    executor: Literal[EXECUTORS] = "processes",
    workers: int = 0,
    scheduler: str = "",
    progress: bool = True,
) -> None:
    """Batch pre-processing (as PixInsight's WBPP): calibrate, debayer, register and integrate a folder of frames.

    INPUT is a folder of raw frames (searched recursively; typed by IMAGETYP: bias, dark,
    dark flat, flat, light; grouped by filter, exposure, binning, gain and temperature).
    The plan is printed first: each light and flat group with the bias, dark and flat it
    uses and why.  A broken link stops the command, naming what is missing.  -plan+ (or
    --dry-run) only prints the plan.  Otherwise OUTPUT gets master/ (calibration masters),
    calibrated/, debayered/, registered/, master_<filter>.fits per filter and
    preprocess_report.txt/.json; nothing is replaced unless -overwrite+.

    Matching: -exposureTolerance= (s, default 0.5) for darks and grouping,
    -temperatureTolerance= (°C, default 5); binning, size and gain must match; flats
    match by filter.  -optimizeDarks- turns off dark scaling (also of darks of another
    exposure).  -allowMissingBias+, -allowMissingDarks+, -allowMissingFlats+ (or all three:
    -allowMissingCalibration+) calibrate without them, with a warning.
    -cosmeticCorrection+ removes hot/cold pixels; -debayer=Auto|Always|Never with
    -cfaPattern= and -debayerMethod=SuperPixel|Bilinear|VNG; -reference=FILE sets the
    registration reference (default: the best frame); -align- and -integrate- skip
    steps; -autoCrop- keeps each light master whole (default: cropped to the area every
    registered frame covers, when that is at least half of it); -localNormalization+ maps
    each registered light onto the registration reference with LocalNormalization (.xnml
    files beside the registered frames) and integrates with local normalization
    (-localNormalizationScale=, pixels, default 1024); -drizzle+ also integrates the
    registered lights by DrizzleIntegration into master_<filter>_drizzle (-drizzleScale=,
    1 to 4, default 2; -drizzleDropShrink=, default 0.9; CFA lights are drizzled from their
    undebayered frames, CFA drizzle);
    -subframeWeighting+
    measures the processed lights with SubframeSelector and integrates them with the weights
    of -weighting= (an expression; default PSFSignalWeight), and -approval="FWHM < 4"
    rejects the frames it refuses (it implies -subframeWeighting+); -rejection= sets the
    integration rejection (default Auto: percentile clipping below 8 frames, winsorized
    sigma clipping from 8); -outputExtension=.fits|.xisf;
    -progress- hides the progress display (stderr).

    Where the per-frame steps (calibration, cosmetic correction, debayering, star
    measurement, registration) run: -executor=processes (default: a local process pool),
    -executor=serial (one frame after another, in this process) or -executor=dask (a
    dask.distributed cluster; pip install "procfw[cluster]").  -workers=N sets the number
    of local processes (default 0: every core, as many as the memory allows);
    -scheduler=tcp://HOST:8786 the dask scheduler (default: the environment variable
    PROCFW_SCHEDULER).  The masters do not depend on the executor.
    """
    from procfw.language.errors import ArgumentError

    ext = outputExtension if outputExtension.startswith(".") else "." + outputExtension
    if workers < 0:
        raise ArgumentError(f"preprocess: -workers={workers} must be zero (every core) or more",
                            _node(session, "workers"))
    options = Options(
        exposure_tolerance=_non_negative(session, "exposureTolerance", exposureTolerance),
        temperature_tolerance=_non_negative(session, "temperatureTolerance", temperatureTolerance),
        optimize_darks=optimizeDarks,
        allow_missing_bias=allowMissingBias or allowMissingCalibration,
        allow_missing_darks=allowMissingDarks or allowMissingCalibration,
        allow_missing_flats=allowMissingFlats or allowMissingCalibration,
        cosmetic_correction=cosmeticCorrection,
        debayer=debayer,
        cfa_pattern=cfaPattern,
        debayer_method=debayerMethod,
        reference=reference, align=align, integrate=integrate, auto_crop=autoCrop,
        local_normalization=localNormalization,
        local_normalization_scale=_at_least(session, "localNormalizationScale", localNormalizationScale, 32),
        drizzle=drizzle, drizzle_scale=_within(session, "drizzleScale", drizzleScale, 1.0, 4.0),
        drizzle_drop_shrink=_within(session, "drizzleDropShrink", drizzleDropShrink, 0.01, 1.0),
        subframe_weighting=subframeWeighting or bool(approval.strip()), weighting=weighting, approval=approval,
        rejection=rejection,
        output_extension=_choice(session, "outputExtension", ext, _EXTENSIONS), overwrite=overwrite,
        executor=executor, workers=workers or None,
        scheduler=scheduler.strip(),
    )
    only_plan = plan or dryRun
    if output is None and not only_plan:
        raise ArgumentError("preprocess: give the output folder: preprocess INPUT OUTPUT (or -plan+ to see the plan)")
    display = make_progress(session.err, enabled=progress)
    # a session without images: what the run loads may be frozen out of the garbage collections (procfw command)
    with collector.allowed(not session.workspace.window_ids()):
        _plan_and_run(session, input, output, options, display, only_plan=only_plan)


preprocess_command.prestart = prestart  # type: ignore[attr-defined]  # procfw.cli.prestart: the pool starts sooner


def _plan_and_run(session: Session, input: Path, output: Path | None, options: Options,  # noqa: A002
                  display: StepProgress, *, only_plan: bool) -> None:
    """Print the plan of ``input`` and, unless ``only_plan``, run it into ``output`` (:func:`preprocess_command`)."""
    if not only_plan:
        start_workers(options)  # the pool's imports overlap with ours, reading the headers and planning
        collector.freeze()  # the console's modules: out of the full collections (in the procfw command)
    from processes.workflows.preprocess.pipeline import PreprocessError, plan_session, preprocess

    the_plan = plan_session(input, output, options, progress=display)
    for line in the_plan.lines():
        session.print(line)
    if not the_plan.ok:
        display.close()
        raise PreprocessError(
            f"preprocess: cannot run: {'; '.join(the_plan.problems)} (allow what is missing with "
            "-allowMissingBias+/-allowMissingDarks+/-allowMissingFlats+ where that is what you want)",
            the_plan.problems,
        )
    if only_plan:
        display.close()
        session.records.append({"process": "preprocess", "target": None,
                                "outputs": {"plan": the_plan.as_json(), "ran": False}})
        return
    assert output is not None
    try:
        result = preprocess(input, output, options, progress=display, plan=the_plan)
    except PreprocessError:
        raise
    finally:
        display.close()
    for line in result.summary_lines():
        session.print(line)
    masters = ", ".join(str(p) for p in result.masters.values()) or "none (-integrate-)"
    session.print(f"preprocess: masters {masters}; report {result.report_paths[0]}")
    session.records.append({
        "process": "preprocess", "target": None,
        "outputs": {"masters": {k: str(v) for k, v in result.masters.items()},
                    "calibrationMasters": {k: str(v) for k, v in result.calibration_masters.items()},
                    "report": [str(p) for p in result.report_paths], "summary": result.summary_lines(),
                    "ran": True},
    })

