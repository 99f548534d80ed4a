"""Where and when a pre-processing run holds its memory: PSS/RSS of each process of the tree over time.

Runs ``procfw run -c 'preprocess RAW OUT ... -progress+'`` (progress as plain lines, each
timestamped as it arrives, so that every sample falls in a step) and samples every
``--interval`` seconds the RSS and PSS of every process of the tree, each labelled by its
role: ``main`` (the console), ``forkserver`` (the child running multiprocessing's fork server),
``worker`` (the fork server's children), ``other`` (e.g. multiprocessing's resource
tracker).  Printed:

* the peak of the summed PSS (what ``bench/bench_preprocess.py`` reports), when it
  happened (seconds, step), and each process's share at that moment;
* per step: the highest tree PSS seen during it and the roles' shares at that moment;
* with ``--timeline``: every ``--every`` seconds, the tree PSS and each role's, and how many
  cores each role kept busy since the previous row (CPU seconds from ``/proc/PID/stat``): where
  the run waits on one process while a core idles.

    python bench/memory_timeline.py /tmp/raw /tmp/out
    python bench/memory_timeline.py /tmp/raw /tmp/out --timeline --every 0.25 --json timeline.json

Page cache is not counted (it is not in PSS).  The sampler itself reads /proc every
interval; on a loaded machine a short spike between two samples can be missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench_preprocess import _children_map, _cpu_ticks  # bench/ is this script's folder: on sys.path

ROOT = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _memory(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of ``pid`` in MB (``/proc/PID/smaps_rollup``)."""
    rss = pss = 0.0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("Pss:"):
                pss = int(line.split()[1]) / 1024
                break
    return rss, pss


def _category(name: str, anonymous: bool) -> str:
    if "libllvmlite" in name:
        return "llvmlite .so"
    if name in ("[heap]", "[anon]") or anonymous:
        return name if name in ("[heap]", "[anon]") else "file, written (anon)"
    if name.startswith("["):
        return "other"
    return "file-backed"


def smaps_breakdown(pid: int) -> dict[str, float]:
    """PSS (MB) of ``pid`` by kind of mapping: llvmlite, other file-backed, heap, anonymous (big ones apart)."""
    out: dict[str, float] = {}
    name, size, pss, anon = "", 0, 0, 0

    def flush() -> None:
        if not name and not pss:
            return
        key = _category(name, anon > 0 and name not in ("[heap]", "[anon]") and anon * 2 >= pss)
        if key == "[anon]" and size >= 8 * 1024:
            key = "[anon] mappings >= 8 MB"
        out[key] = out.get(key, 0.0) + pss / 1024

    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if parts and "-" in parts[0] and not parts[0].endswith(":"):
                flush()
                name = parts[5] if len(parts) > 5 else "[anon]"
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                size, pss, anon = (hi - lo) // 1024, 0, 0
            elif parts and parts[0] == "Pss:":
                pss = int(parts[1])
            elif parts and parts[0] == "Anonymous:":
                anon = int(parts[1])
    flush()
    return out


def _is_forkserver(pid: int) -> bool:
    """Whether ``pid`` runs multiprocessing's fork server (before it has forked any worker)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"multiprocessing.forkserver" in f.read()
    except OSError:
        return False


def sample_tree(root: int) -> list[dict[str, Any]]:
    """One sample: ``[{"pid", "role", "rss", "pss", "cpu"}, ...]`` for every process under ``root``."""
    children = _children_map()
    rows: list[dict[str, Any]] = []

    def visit(pid: int, role: str) -> None:
        try:
            rss, pss = _memory(pid)
            cpu = _cpu_ticks(pid) / CLOCK_TICKS
        except OSError:
            return
        rows.append({"pid": pid, "role": role, "rss": rss, "pss": pss, "cpu": cpu})
        for child in children.get(pid, ()):
            if role == "main":
                visit(child, "forkserver" if children.get(child) or _is_forkserver(child) else "other")
            elif role == "forkserver":
                visit(child, "worker")
            else:
                visit(child, role)

    visit(root, "main")
    return rows


def run(raw: Path, out: Path, extra: str, interval: float, breakdown: bool = False
        ) -> tuple[list[dict[str, Any]], list[tuple[float, str]]]:
    """Run the pre-processing; the samples ``{"t", "procs"}`` and the timestamped progress lines."""
    shutil.rmtree(out, ignore_errors=True)
    procfw = shutil.which("procfw", path=str(Path(sys.executable).parent)) or "procfw"
    line = f'preprocess "{raw}" "{out}" -allowMissingCalibration+ -rejection=WinsorizedSigmaClip -progress+ {extra}'
    start = time.perf_counter()
    proc = subprocess.Popen([procfw, "run", "-c", line], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1)
    samples: list[dict[str, Any]] = []
    lines: list[tuple[float, str]] = []
    stop = threading.Event()
    best = [0.0, 0]

    def sampler() -> None:
        while not stop.is_set():
            t = time.perf_counter() - start
            procs = sample_tree(proc.pid)
            if procs:
                samples.append({"t": t, "procs": procs})
                total = sum(p["pss"] for p in procs)
                if len(lines) != best[1]:  # a new progress line: a new step, its own peak
                    best[:] = [0.0, len(lines)]
                if breakdown and total > best[0]:  # a new peak of this step: what each process's memory is made of
                    best[0] = total
                    for p in procs:
                        try:
                            p["smaps"] = smaps_breakdown(p["pid"])
                        except OSError:
                            pass
            time.sleep(interval)

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    assert proc.stdout is not None
    for text in proc.stdout:
        lines.append((time.perf_counter() - start, text.rstrip()))
    proc.wait()
    stop.set()
    thread.join()
    if proc.returncode != 0:
        sys.exit("failed:\n" + "\n".join(t for _, t in lines[-30:]))
    return samples, lines


def _roles(procs: list[dict[str, Any]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for p in procs:
        totals[p["role"]] = totals.get(p["role"], 0.0) + p["pss"]
    return totals


def _step_at(t: float, lines: list[tuple[float, str]]) -> str:
    """The progress step running at ``t`` (the last '... started' line before it not yet done)."""
    current = "start-up"
    for when, text in lines:
        if when > t:
            break
        if text.endswith(" ..."):
            current = text.removeprefix("[preprocess] ").removesuffix(" ...")
        elif ": done in " in text:
            current = "after " + text.removeprefix("[preprocess] ").split(": done in ")[0]
    return current


def _busy(procs: list[dict[str, Any]], previous: dict[int, float], seconds: float) -> dict[str, float]:
    """Cores each role kept busy over the last ``seconds``: CPU seconds since ``previous`` (by pid; a
    process not seen then counts from 0) over ``seconds``."""
    busy: dict[str, float] = {}
    for p in procs:
        used = p["cpu"] - previous.get(p["pid"], 0.0)
        busy[p["role"]] = busy.get(p["role"], 0.0) + used / max(seconds, 1e-9)
    return busy


def _fmt_roles(roles: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:6.1f}" for k, v in sorted(roles.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("raw", type=Path, help="folder of raw light frames")
    parser.add_argument("out", type=Path, help="output folder (removed first)")
    parser.add_argument("--extra", default="-executor=processes", help="more preprocess arguments")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between samples")
    parser.add_argument("--timeline", action="store_true", help="print the tree's PSS over time")
    parser.add_argument("--every", type=float, default=0.25, help="seconds between timeline rows")
    parser.add_argument("--breakdown", action="store_true",
                        help="at each new peak, read each process's smaps: its PSS by kind of mapping")
    parser.add_argument("--json", type=Path, help="write the samples and progress lines here")
    args = parser.parse_args()
    samples, lines = run(args.raw.resolve(), args.out.resolve(), args.extra, args.interval, args.breakdown)
    if args.json:
        args.json.write_text(json.dumps({"samples": samples, "lines": lines}))
    totals = [sum(p["pss"] for p in s["procs"]) for s in samples]
    k = max(range(len(samples)), key=totals.__getitem__)
    peak = samples[k]
    print(f"{len(samples)} samples over {samples[-1]['t']:.2f} s; wall {lines[-1][0] if lines else 0:.2f} s")
    print(f"peak tree PSS {totals[k]:.1f} MB at {peak['t']:.2f} s, during: {_step_at(peak['t'], lines)}")
    for p in peak["procs"]:
        print(f"  {p['role']:10s} pid {p['pid']:7d}  RSS {p['rss']:7.1f}  PSS {p['pss']:7.1f}")
        if "smaps" in p:
            print("      " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(p["smaps"].items(), key=lambda kv: -kv[1])))
    print("\nper step: highest tree PSS (MB) and the roles' PSS then")
    steps: dict[str, tuple[float, int]] = {}
    for i, s in enumerate(samples):
        step = _step_at(s["t"], lines)
        if step not in steps or totals[i] > steps[step][0]:
            steps[step] = (totals[i], i)
    for step, (total, i) in sorted(steps.items(), key=lambda kv: samples[kv[1][1]]["t"]):
        print(f"  {step[:48]:48s} {total:7.1f} at {samples[i]['t']:5.2f} s  {_fmt_roles(_roles(samples[i]['procs']))}")
        for p in samples[i]["procs"]:
            if "smaps" in p and p["pss"] > 20:
                print(f"      {p['role']}: " + ", ".join(f"{k} {v:.1f}" for k, v in
                                                     sorted(p["smaps"].items(), key=lambda kv: -kv[1]) if v >= 0.5))
    if args.timeline:
        print("\n   t s  tree PSS  roles (PSS MB)  |  cores busy since the previous row, by role  [step]")
        next_t = 0.0
        previous: dict[int, float] = {}
        previous_t = 0.0
        for i, s in enumerate(samples):
            if s["t"] >= next_t:
                next_t = s["t"] + args.every
                busy = _busy(s["procs"], previous, s["t"] - previous_t)
                previous, previous_t = {p["pid"]: p["cpu"] for p in s["procs"]}, s["t"]
                print(f"{s['t']:6.2f} {totals[i]:9.1f}  {_fmt_roles(_roles(s['procs']))}  |  "
                      f"{'  '.join(f'{k} {v:.2f}' for k, v in sorted(busy.items()))}  [{_step_at(s['t'], lines)[:40]}]")
    for when, text in lines:
        if "done in" in text or "timings" in text.lower():
            print(f"{when:6.2f} {text}")


if __name__ == "__main__":
    main()
