"""Benchmark: StarAlignment against Siril's ``register`` on the same debayered frames.

The raw Bayer frames (default: the Seestar S50 M94 session of the shared corpus) are
debayered once with ``siril-cli convert -debayer`` into a temporary folder, so both tools
read the same RGB FITS files.  Then, one after the other, each in its own subprocess:

* Siril: ``register deb_`` (global star alignment, registered ``r_deb_*`` files written);
* procfw: StarAlignment over the same files (reference = the first frame, registered FITS
  files written, Lanczos-3 through ``pixelInterpolation=Auto``), run through the Python API
  with file targets, once per executor of ``--executors``: ``serial`` (in the process, as the
  console runs a file list by default) and ``processes`` (a local pool on every core, as
  ``-executor=processes`` asks; Siril too uses every core).

Printed: per-frame wall time of each (the subprocess's wall time divided by the frames,
start-up included, and — where the tool reports it — the registration alone), the ratio
ours/Siril (wall from a run nothing samples), CPU time and peak PSS of each process tree (pool workers
included; from a second run sampled every 20 ms), and our RMS median (reference pixels) with matched star pairs.

    python bench/bench_staralignment.py [--frames DIR] [--count 12] [--copies 1] [--executors serial,processes] [--keep]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

from bench_preprocess import cache_bytecode  # bench/ is this script's folder: on sys.path
from bench_preprocess import run_measured as tree_measured

DEFAULT_FRAMES = Path(__file__).resolve().parents[1].parent / "shared/corpus/frames/seestar-s50/M94_2025-03-27_session1"

_OURS = r"""
import json, sys, time
t0 = time.perf_counter()
from processes.staralignment import StarAlignment
from procfw.batch import make_executor, use_executor
from procfw.workspace import Workspace
files, out, kind = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
process = StarAlignment(referenceImage=files[0], referenceIsFile=True, targets=files, outputDirectory=out,
                        outputExtension=".fits", outputSampleFormat="f32", overwriteExistingFiles=True)
t1 = time.perf_counter()
with make_executor(kind, preload=StarAlignment.worker_preload) as executor, use_executor(executor):  # as -executor=KIND
    result = process.execute_global(Workspace())
t2 = time.perf_counter()
rows = [{k: r.get(k) for k in ("status", "error", "matchedStars", "rmsError", "seconds")}
        for r in result.outputs["outputData"]]
print("@@RESULT@@" + json.dumps({"import_s": t1 - t0, "run_s": t2 - t1, "rows": rows}))
"""


def run_measured(cmd: list[str], cwd: Path | None = None) -> tuple[float, float, float, str]:
    """Run ``cmd`` twice: (wall s of a run nothing samples, CPU s and peak PSS MiB of the whole process tree —
    a pool's workers, which the command does not wait for, included — from a run sampled every 20 ms
    (:func:`bench_preprocess.run_measured`), the first run's output)."""
    timed = tree_measured(cmd, cwd or Path.cwd(), sample=False)
    sampled = tree_measured(cmd, cwd or Path.cwd(), sample=True)
    return timed["wall"], sampled["cpu"], sampled["peak_pss_mb"], timed["output"]


def _row(label: str, siril_value: float, ours_value: float, unit: str = "ms") -> None:
    """One line of the table: Siril's value, ours, and the ratio ours/Siril."""
    ratio = ours_value / siril_value if siril_value > 0 else float("nan")
    print(f"{label:34s}{siril_value:13.1f} {unit}{ours_value:19.1f} {unit}{ratio:12.2f}")


def siril_script(path: Path, lines: list[str]) -> Path:
    path.write_text("requires 1.0.0\nsetext fits\n" + "\n".join(lines) + "\n")
    return path


def debayer(frames: list[Path], work: Path, siril: str) -> list[Path]:
    """Debayer ``frames`` with Siril into ``work/deb/deb_00001.fits``..."""
    raw = work / "raw"
    raw.mkdir(parents=True)
    for i, frame in enumerate(frames):
        (raw / f"{i + 1:05d}_{frame.name}").symlink_to(frame.resolve())
    (work / "deb").mkdir()
    # convert <output basename>: every image of the working directory, in name order
    script = siril_script(work / "convert.ssf", [f"convert deb -debayer -out={work / 'deb'}"])
    tree_measured([siril, "-d", str(raw), "-s", str(script)], raw, sample=False)
    files = sorted((work / "deb").glob("deb_*.fits"))
    if len(files) != len(frames):
        raise SystemExit(f"siril convert produced {len(files)} files for {len(frames)} frames")
    return files


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Prints per-frame wall times, the ratio ours/siril, peak RSS and our "
                                            "RMS median.")
    parser.add_argument("--frames", type=Path, default=DEFAULT_FRAMES, help="folder of raw Bayer FITS frames "
                        "(default: %(default)s)")
    parser.add_argument("--count", type=int, default=12, help="frames to use, the first in name order (default 12)")
    parser.add_argument("--copies", type=int, default=1,
                        help="register each frame this many times (links under other names): per-frame throughput on "
                             "a longer session, with the fixed costs spread (default 1)")
    parser.add_argument("--workdir", type=Path, help="folder for the debayered and registered files "
                        "(default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--executors", default="serial,processes",
                        help="procfw executors to run, comma-separated (default: serial,processes — the console's "
                             "default for a file list, and -executor=processes: local processes on every core, as "
                             "Siril uses every core)")
    parser.add_argument("--siril", default="siril-cli", help="the Siril command-line executable (default siril-cli)")
    args = parser.parse_args(argv)
    cache_bytecode()

    siril = shutil.which(args.siril)
    if siril is None:
        raise SystemExit(f"{args.siril} not found: install Siril (siril-cli) to run this comparison")
    frames = sorted(p for p in args.frames.iterdir() if p.suffix.lower() in (".fit", ".fits", ".fts"))[: args.count]
    frames = [f for f in frames for _ in range(max(1, args.copies))]  # debayer() links each under its own name
    if len(frames) < 3:
        raise SystemExit(f"need at least 3 frames in {args.frames}, found {len(frames)}")
    work = Path(tempfile.mkdtemp(prefix="bench_sa_", dir=args.workdir))
    try:
        files = debayer(frames, work, siril)
        n = len(files)
        print(f"{n} frames debayered by siril into {work / 'deb'} ({files[0].name} ...)")

        script = siril_script(work / "register.ssf", [f"cd {work / 'deb'}", "register deb_"])
        s_wall, s_cpu, s_rss, s_log = run_measured([siril, "-s", str(script)])
        times = re.findall(r"Execution time: ([\d.]+) (m?s)", s_log)  # Siril prints ms below a second
        s_reg = float(times[0][0]) / (1000.0 if times[0][1] == "ms" else 1.0) if times else float("nan")
        registered = len(list((work / "deb").glob("r_deb_*.fits")))
        print(f"siril: {registered} registered files, registration {s_reg:.2f} s of {s_wall:.2f} s")
        for kind in [k.strip() for k in args.executors.split(",") if k.strip()]:
            out = work / f"ours_{kind}"
            out.mkdir()
            o_wall, o_cpu, o_rss, o_log = run_measured(
                [sys.executable, "-c", _OURS, json.dumps([str(f) for f in files]), str(out), kind],
                cwd=Path(__file__).resolve().parents[1])
            line = next(x for x in o_log.splitlines() if x.startswith("@@RESULT@@"))
            ours = json.loads(line.removeprefix("@@RESULT@@"))
            rows = ours["rows"]
            ok = [r for r in rows if r["status"] == "ok"]
            rms = sorted(r["rmsError"] for r in ok)
            rms_median = (rms[len(rms) // 2] + rms[(len(rms) - 1) // 2]) / 2 if rms else float("nan")
            pairs = sorted(r["matchedStars"] for r in ok)

            title = f"procfw ({kind})"
            print(f"\n{'':34s}{'siril register':>16s}{title:>22s}{'ours/siril':>12s}")

            _row("per frame, process wall", 1000 * s_wall / n, 1000 * o_wall / n)
            _row("per frame, registration wall", 1000 * s_reg / n, 1000 * ours["run_s"] / n)
            _row("per frame, CPU (user+sys)", 1000 * s_cpu / n, 1000 * o_cpu / n)
            _row("peak PSS (process tree)", s_rss, o_rss, "MiB")
            print(f"ours:  {len(ok)}/{len(rows)} frames ok, imports {ours['import_s']:.2f} s, run "
                  f"{ours['run_s']:.2f} s, process {o_wall:.2f} s; star pairs "
                  f"{pairs[0] if pairs else 0}..{pairs[-1] if pairs else 0}")
            print(f"ours:  RMS median {rms_median:.3f} px (reference pixels), frame seconds "
                  + ", ".join(f"{r['seconds']:.2f}" for r in rows))
            for r in rows:
                if r["status"] != "ok":
                    print(f"  failed: {r['error']}")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
