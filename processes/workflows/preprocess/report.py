"""The report of a pre-processing run: JSON (everything) and text (for people).

``preprocess_report.json`` holds the options, the plan (groups, links and the reasons),
the calibration masters, per-frame records of the lights (calibration: dark scaling and
noise; stars: count, FWHM, eccentricity; registration: matched stars, RMS, shift and
rotation; integration: weight, noise and rejected fractions), the rejected frames with
the step and reason, the master lights (frames, rejection algorithm, effective number of
frames, noise and its reduction against single frames, rejected fractions, stars and
FWHM, rejection maps), timings and a summary.  ``preprocess_report.txt`` shows the plan,
the summary, the calibration masters, a table of the light frames and the timings.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from processes.workflows.preprocess.plan import Options, Plan

__all__ = ["REPORT_JSON", "REPORT_TEXT", "RunRecord", "build_report", "executor_text", "frame_table", "jsonable",
           "rounded", "write_reports"]

REPORT_TEXT = "preprocess_report.txt"
REPORT_JSON = "preprocess_report.json"


class RunRecord(Protocol):
    """What a run records (the pipeline's run state)."""

    plan: Plan
    options: Options
    out: Path
    timings: dict[str, float]
    master_reports: list[dict[str, Any]]
    lights: dict[str, dict[str, Any]]
    flat_frames: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    messages: list[str]
    results: dict[str, dict[str, Any]]
    failures: list[str]
    reference: dict[str, Any]
    executor: Any


def jsonable(value: Any) -> Any:
    """``value`` with Paths, numpy values, tuples and non-finite floats made JSON-friendly."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def rounded(value: Any, digits: int = 4) -> Any:
    """A finite float rounded to ``digits`` significant digits (anything else as it is)."""
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.{digits}g}")
    return value



def build_report(run: RunRecord, seconds: float) -> dict[str, Any]:
    """The JSON report of a run (also the source of the text report)."""
    plan = run.plan
    summary = []
    for name, result in run.results.items():
        if "error" in result:
            summary.append(f"{name}: FAILED: {result['error']}")
            continue
        stars = result["stars"]
        noise = ", ".join(f"{v:.3g}" for v in result["noise"] if v is not None)
        reduction = ", ".join(f"{v:.2f}" for v in result["noiseReduction"] if v is not None)
        fwhm = f"{stars['fwhm']:.2f} px" if stars.get("fwhm") else "n/a"
        summary.append(
            f"{name}: {result['frames']} frames ({result['rejection']}), {result['path']}; noise {noise} "
            f"(single frames / master: {reduction}, √N_eff = {math.sqrt(result['effectiveFrames'] or 0):.2f}); "
            f"{stars['stars']} stars, FWHM {fwhm}; rejected {result['rejectedLowPercent']:.3g}% low, "
            f"{result['rejectedHighPercent']:.3g}% high"
        )
        if result.get("crop"):
            crop = result["crop"]
            kept = crop["width"] * crop["height"] / (crop["of"][0] * crop["of"][1])
            summary.append(f"  cropped to the area every registered light covers: {crop['width']}x{crop['height']} at "
                           f"({crop['x']}, {crop['y']}) of {crop['of'][0]}x{crop['of'][1]} ({kept:.1%} kept)")
        if result.get("drizzle"):
            drizzle = result["drizzle"]
            fwhm = drizzle["stars"].get("fwhm")
            summary.append(
                f"  drizzle{' (CFA)' if drizzle['cfa'] else ''} x{drizzle['scale']:g}, drop shrink "
                f"{drizzle['dropShrink']:g}: {drizzle['path']}, {drizzle['width']}x{drizzle['height']}; noise "
                + ", ".join(f"{v:.3g}" for v in drizzle["noise"]) + f" per drizzled pixel; {drizzle['stars']['stars']} "
                f"stars, FWHM " + (f"{fwhm:.2f} px ({fwhm / drizzle['scale']:.2f} input px)" if fwhm else "n/a"))
    if run.reference:
        summary.append(f"reference: {run.reference['raw'] or run.reference['path']} ({run.reference['reason']})")
    aligned = [r["alignment"] for r in run.lights.values() if r.get("alignment")]
    if aligned:
        rms = [a["rmsError"] for a in aligned if a.get("rmsError") is not None]
        matched = [a["matchedStars"] for a in aligned if a.get("matchedStars") is not None]
        summary.append(f"registration: {len(aligned)} frames, RMS median {np.median(rms):.3f} px (max "
                       f"{max(rms):.3f}), matched stars median {int(np.median(matched))}")
    summary.append(f"rejected frames: {len(run.rejected)}")
    for item in run.rejected:
        summary.append(f"  {Path(item['path']).name}: {item['step']}: {item['reason']}")
    summary.append(f"total time {seconds:.1f} s; per-frame steps: {executor_text(run.executor)}")
    return jsonable({
        "version": 1,
        "input": plan.directory,
        "output": str(run.out),
        "options": plan.options.as_json(),
        "plan": plan.as_json(),
        "planText": plan.lines(),
        "calibrationMasters": run.master_reports,
        "flatFrames": run.flat_frames,
        "reference": run.reference,
        "lights": list(run.lights.values()),
        "rejected": run.rejected,
        "masters": list(run.results.values()),
        "messages": run.messages,
        "failures": run.failures,
        "timings": {k: round(v, 3) for k, v in run.timings.items()},
        "seconds": round(seconds, 3),
        "executor": {"kind": getattr(run.executor, "kind", "serial"), "workers": getattr(run.executor, "workers", 1),
                     "scheduler": getattr(run.executor, "address", None)},
        "summary": summary,
    })


def executor_text(executor: Any) -> str:
    """Where the per-frame steps ran, in words."""
    kind = getattr(executor, "kind", "serial")
    workers = getattr(executor, "workers", 1)
    if kind == "processes":
        return f"{workers} local worker process{'es' if workers != 1 else ''}"
    if kind == "dask":
        return f"dask cluster at {getattr(executor, 'address', '?')} ({workers} worker threads)"
    return "serial, in this process"


def frame_table(run: RunRecord) -> list[str]:
    """One line per light frame: group, status, stars, FWHM, eccentricity, matched stars, RMS, weight,
    rejection; every column as wide as its widest cell (file names are never cut)."""

    def num(value: Any, fmt: str) -> str:
        return format(value, fmt) if isinstance(value, (int, float)) else "-"

    header = ["frame", "group", "status", "stars", "FWHM", "ecc", "match", "RMS", "weight", "rej hi%"]
    rows = []
    for record in run.lights.values():
        stars = record.get("stars") or {}
        align = record.get("alignment") or {}
        integ = record.get("integration") or {}
        weight = integ.get("weight", [None])[0] if integ else None
        high = integ.get("rejectedHighPercent", [None])[0] if integ else None
        rows.append([
            Path(record["path"]).name, record["group"], record["status"], num(stars.get("stars"), "d"),
            num(stars.get("fwhm"), ".2f"), num(stars.get("eccentricity"), ".2f"),
            num(align.get("matchedStars"), "d"), num(align.get("rmsError"), ".3f"), num(weight, ".3f"),
            num(high, ".3f"),
        ])
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    text_columns = 3  # frame, group, status: left-aligned; the numbers right-aligned

    def line(cells: list[str]) -> str:
        return " ".join(c.ljust(w) if i < text_columns else c.rjust(w)
                        for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(header), *(line(row) for row in rows)]


def write_reports(run: RunRecord, report: Mapping[str, Any]) -> tuple[Path, Path]:
    """Write the text and JSON reports atomically into the run's output folder; returns their paths."""
    from procfw.io.atomic import atomic_path

    text = ["procfw preprocess report", "", *report["planText"], "", "results:",
            *(f"  {line}" for line in report["summary"]), "", "calibration masters:"]
    for master in report["calibrationMasters"]:
        text.append(f"  {master['name']}: {master['path']}" + ("" if master.get("readyMade") else
                                                              f" ({master['frames']} frames, {master['rejection']})"))
    text += ["", "light frames:", *(f"  {line}" for line in frame_table(run)), "", "timings:"]
    text += [f"  {k}: {v:.1f} s" for k, v in report["timings"].items()]
    paths = (run.out / REPORT_TEXT, run.out / REPORT_JSON)
    with atomic_path(paths[0], overwrite=run.options.overwrite) as temp:
        temp.write_text("\n".join(text) + "\n", encoding="utf-8")
    with atomic_path(paths[1], overwrite=run.options.overwrite) as temp:
        temp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return paths
