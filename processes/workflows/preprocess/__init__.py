"""Headless batch pre-processing, as PixInsight's WeightedBatchPreprocessing (WBPP) script does it.

From a folder of raw frames to one calibrated, registered, integrated master light per
filter, with the calibration masters, the intermediate files and a report::

    from processes.workflows.preprocess import Options, plan_session, preprocess

    plan = plan_session("raw", "pre", Options(allow_missing_flats=True))
    print("\\n".join(plan.lines()))          # groups, and which bias/dark/flat each uses and why
    result = preprocess("raw", "pre", plan.options, plan=plan)
    result.masters                          # {"master_L": Path("pre/master_L.fits"), ...}

On the console: ``preprocess RAW OUT [-plan+] [-allowMissingCalibration+] ...`` (see
:func:`~processes.workflows.preprocess.command.preprocess_command`).

Modules, one job each:

* :mod:`.frames` — typing files from their headers (IMAGETYP, FILTER, EXPTIME, binning, gain,
  temperature, CFA pattern);
* :mod:`.groups` — grouping frames and naming the masters;
* :mod:`.plan` — linking every light and flat group to its calibration masters, with
  tolerances, reasons and problems;
* :mod:`.pipeline` — running the plan with ImageIntegration, ImageCalibration,
  CosmeticCorrection, Debayer and StarAlignment;
* :mod:`.report` — the JSON and text reports;
* :mod:`.progress` — progress bars (terminal) or lines (logs);
* :mod:`.command` — the console command.
"""

from typing import Any

from processes.workflows.preprocess.frames import FrameInfo, ScanResult, classify_imagetyp, frame_info, scan
from processes.workflows.preprocess.groups import FrameGroup, group_frames
from processes.workflows.preprocess.plan import CalibrationLink, IntegrationSet, Link, Options, Plan, make_plan

_PIPELINE_NAMES = frozenset({"PreprocessError", "PreprocessResult", "plan_session", "preprocess", "rejection_for"})


def __getattr__(name: str) -> Any:
    """The pipeline's names, imported on first use (the pipeline loads numpy and scipy; the console command
    starts the worker pool before that)."""
    if name in _PIPELINE_NAMES:
        from processes.workflows.preprocess import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CalibrationLink",
    "FrameGroup",
    "FrameInfo",
    "IntegrationSet",
    "Link",
    "Options",
    "Plan",
    "PreprocessError",
    "PreprocessResult",
    "ScanResult",
    "classify_imagetyp",
    "frame_info",
    "group_frames",
    "make_plan",
    "plan_session",
    "preprocess",
    "rejection_for",
    "scan",
]
