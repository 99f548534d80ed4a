"""Pre-processing end to end: ``procfw run -c 'preprocess ...'`` against ``siril-cli`` on the same frames.

Both tools get a copy of the same raw light frames (by default the corpus Seestar S50
session, 12 frames of 1080×1920 GRBG) and do the same steps: debayer, register, stack with
winsorized sigma clipping 3/3, additive-with-scaling normalization and noise weights.
Siril's script (``setext``/``set16bits`` pin Siril's persistent settings to its defaults)::

    convert light -debayer -out=../siril
    register light
    stack r_light rej w 3 3 -norm=addscale -weighted -out=../siril_master

procfw: ``preprocess RAW OUT -allowMissingCalibration+ -rejection=WinsorizedSigmaClip
-progress- -executor=KIND`` for each executor asked (serial, processes, dask against a
2-worker ``distributed.LocalCluster`` on the loopback address).

Printed for each run: wall time (the best of ``--repeat`` runs that nothing samples: reading
every process's ``smaps_rollup`` every 20 ms costs a 2-core machine 11-15% of its wall time,
both tools alike), then, from ``--memory-runs`` more runs sampled every 20 ms (the least CPU time,
the highest peaks: a sampler can only miss a short peak), CPU time and peak memory of the
whole process tree (worker processes included) as the sum of RSS and as the sum of PSS (a page
shared between processes — forked workers' copy-on-write pages — counts once in all: the
honest total; ratios against Siril's are on PSS), the ratios ours/Siril, and for each tool's master:
the background-noise reduction against the tool's own reference frame — the registered frame the others
were aligned to and normalized to (so the master is in its units), as PixInsight's ImageIntegration
reports it: Siril's is the registered frame equal to its debayered source (its first frame), ours the
one the report names, each read as the tool debayered it, not resampled (noise: MAD of the first B3-spline
wavelet layer over background pixels, averaged over channels — the same estimator for both — at pixel
scale and on 4×4 block means, because an interpolation kernel that smooths, as Siril's default does,
lowers pixel-scale noise of registered frames without lowering it at larger scales), the master's own
noise on 4×4 block means (σ 4x4, in its reference frame's units: the tools' reference frames differ, and
a less noisy reference — ours is the best frame — lowers the ratio without a noisier master), the median star FWHM (one
estimator for both: circular Gaussian fits to the brightest isolated stars of the
luminance), and how many frames were stacked.  Then each tool's steps, in seconds: procfw's from
its report, Siril's from its log (:func:`siril_timings`).

    python bench/bench_preprocess.py                      # all executors
    python bench/bench_preprocess.py --executors processes --repeat 2
    python bench/bench_preprocess.py --executors processes --copies 4   # 48 frames
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from scipy import ndimage, optimize

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FRAMES = Path(
    os.environ.get("PROCFW_CORPUS", ROOT.parent / "shared" / "corpus")
) / "frames" / "seestar-s50" / "M94_2025-03-27_session1"
PAGE = os.sysconf("SC_PAGE_SIZE")


# -- measuring a process tree -----------------------------------------------------------------------
def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(stat[1]), []).append(int(entry))
    return children


def _pss(pid: int) -> int:
    """Proportional set size of ``pid`` in bytes (each shared page divided among its sharers)."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def _cpu_ticks(pid: int) -> int:
    """User + system clock ticks ``pid`` itself has used so far (not its children)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _tree_memory(roots: list[int], cpu: dict[int, int] | None = None) -> tuple[int, int]:
    """(sum of RSS, sum of PSS) over the process trees under ``roots``; ``cpu`` gets each pid's CPU ticks.

    The RSS sum counts a page shared by several processes (a forked worker's copy-on-write
    pages, shared libraries) once per process; the PSS sum counts it once in all — the
    honest total of a process tree.
    """
    children = _children_map()
    seen: set[int] = set()
    stack = list(roots)
    rss = pss = 0
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/statm") as f:
                rss += int(f.read().split()[1]) * PAGE
            pss += _pss(pid)
            if cpu is not None:
                cpu[pid] = max(cpu.get(pid, 0), _cpu_ticks(pid))
        except OSError:
            pass
        stack.extend(children.get(pid, ()))
    return rss, pss


class PeakTreeMemory:
    """Samples the summed RSS and PSS of a process tree (plus extra pids) until stopped; keeps the peaks."""

    def __init__(self, extra_pids: list[int] | None = None, interval: float = 0.02) -> None:
        self.extra = list(extra_pids or [])
        self.interval = interval
        self.roots: list[int] = []
        self.peak_rss = 0
        self.peak_pss = 0
        self.cpu_ticks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, pid: int) -> None:
        self.roots = [pid, *self.extra]
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss, pss = _tree_memory(self.roots, self.cpu_ticks)
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            time.sleep(self.interval)

    def stop(self) -> tuple[int, int]:
        self._stop.set()
        self._thread.join()
        return self.peak_rss, self.peak_pss


def run_measured(cmd: list[str], cwd: Path, extra_pids: list[int] | None = None,
                 env: dict[str, str] | None = None, *, sample: bool = True) -> dict[str, Any]:
    """Run ``cmd``: wall seconds, CPU seconds of the tree, peak tree RSS and PSS sums (MB), output.

    Fails loudly.  CPU: the larger of the command's own with its waited-for children
    (``wait4``) and the sum over every process seen in its tree of its last sampled CPU time
    (which sees the workers of a fork server, which the command does not wait for; each
    process's last 20 ms may be missed).
    """
    sampler = PeakTreeMemory(extra_pids)
    start = time.perf_counter()
    before = os.times()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})
    if sample:
        sampler.start(proc.pid)
    out, _ = proc.communicate()
    wall = time.perf_counter() - start
    after = os.times()
    rss, pss = sampler.stop() if sample else (0, 0)
    if proc.returncode != 0 or "Script execution failed" in out:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{out[-4000:]}")
    cpu = max((after.children_user - before.children_user) + (after.children_system - before.children_system),
              sum(t for pid, t in sampler.cpu_ticks.items() if pid not in (extra_pids or ()))
              / os.sysconf("SC_CLK_TCK"))
    return {"wall": wall, "cpu": cpu, "peak_mb": rss / 2**20, "peak_pss_mb": pss / 2**20, "output": out}


# -- quality, one estimator for both tools ------------------------------------------------------------
def read_planes(path: Path) -> np.ndarray:
    """(channels, height, width) float64 in [0, 1]-ish; integer data scaled by its type's range."""
    with fits.open(path, memmap=False) as hdul:
        hdu = next(h for h in hdul if h.data is not None)
        data = np.asarray(hdu.data, dtype=np.float64)
        bitpix = hdu.header.get("BITPIX")
    if bitpix in (8, 16, 32):
        data = data / (2.0 ** abs(bitpix) - 1)
    return data[None] if data.ndim == 2 else data


def _b3_smooth(plane: np.ndarray) -> np.ndarray:
    kernel = np.array([1, 4, 6, 4, 1], float) / 16
    return ndimage.convolve1d(ndimage.convolve1d(plane, kernel, axis=0, mode="reflect"), kernel, axis=1, mode="reflect")


def background_noise(planes: np.ndarray) -> float:
    """Mean over channels of 1.4826·MAD of the first wavelet layer, over background pixels."""
    sigmas = []
    for plane in planes:
        valid = np.isfinite(plane) & (plane > 0)
        smooth = _b3_smooth(np.where(valid, plane, np.median(plane[valid])))
        layer = plane - smooth
        background = valid & (smooth <= np.median(smooth[valid]))
        w = layer[background]
        sigmas.append(1.4826 * np.median(np.abs(w - np.median(w))))
    return float(np.mean(sigmas))


def binned(planes: np.ndarray, k: int) -> np.ndarray:
    """k×k block means: noise at a scale that interpolation kernels do not smooth."""
    c, h, w = planes.shape
    h, w = h - h % k, w - w % k
    return planes[:, :h, :w].reshape(c, h // k, k, w // k, k).mean(axis=(2, 4))


def _gauss(p, yy, xx):
    amp, y0, x0, sigma, base = p
    return base + amp * np.exp(-((yy - y0) ** 2 + (xx - x0) ** 2) / (2 * sigma**2))


def median_fwhm(planes: np.ndarray, max_stars: int = 150, half: int = 7) -> tuple[float, int]:
    """Median FWHM (px) of circular Gaussian fits to the brightest isolated unsaturated stars."""
    lum = np.nanmean(planes, axis=0)
    lum = np.where(np.isfinite(lum), lum, 0.0)
    med = np.median(lum)
    sigma = 1.4826 * np.median(np.abs(lum - med))
    peaks = (lum == ndimage.maximum_filter(lum, size=2 * half + 1)) & (lum > med + 15 * sigma)
    ys, xs = np.nonzero(peaks)
    h, w = lum.shape
    keep = (ys >= half) & (xs >= half) & (ys < h - half) & (xs < w - half) & (lum[ys, xs] < 0.9 * lum.max())
    ys, xs = ys[keep], xs[keep]
    order = np.argsort(lum[ys, xs])[::-1][: max_stars * 2]
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(float)
    fwhms = []
    for y, x in zip(ys[order], xs[order]):
        patch = lum[y - half:y + half + 1, x - half:x + half + 1]
        start = [patch.max() - med, 0.0, 0.0, 1.5, med]
        fit = optimize.least_squares(lambda p, patch=patch: (_gauss(p, yy, xx) - patch).ravel(), start,
                                     bounds=([0, -3, -3, 0.3, -1], [np.inf, 3, 3, 8, 2]))
        if fit.success and 0.5 < 2.3548 * fit.x[3] < 15:
            fwhms.append(2.3548 * fit.x[3])
        if len(fwhms) >= max_stars:
            break
    return (float(np.median(fwhms)) if fwhms else float("nan")), len(fwhms)


def quality(master: Path, reference_frame: Path) -> dict[str, float]:
    """Noise reduction (reference-frame noise / master noise), median FWHM of the master.

    Neither tool rescales its master here (additive-with-scaling normalization maps every
    frame to the reference frame's scale; Siril runs without ``-output_norm``), so the
    two noise figures are in the same units when ``reference_frame`` is the tool's own reference.
    """
    m = read_planes(master)
    r = read_planes(reference_frame)
    fwhm, stars = median_fwhm(m)
    return {"noise_reduction": background_noise(r) / background_noise(m),
            "noise_reduction_4x4": background_noise(binned(r, 4)) / background_noise(binned(m, 4)),
            "master_noise_4x4": background_noise(binned(m, 4)), "fwhm": fwhm, "fwhm_stars": stars}


# -- the two tools ---------------------------------------------------------------------------------
SIRIL_SCRIPT = """requires 1.0.0
setext fit
set16bits
cd raw
convert light -debayer -out=../siril
cd ../siril
register light
stack r_light rej w 3 3 -norm=addscale -weighted -out=../siril_master
close
"""


def run_siril(work: Path, sample: bool = True) -> dict[str, object]:
    siril = shutil.which("siril-cli")
    if siril is None:
        sys.exit("siril-cli is not installed (apt-get install siril)")
    shutil.rmtree(work / "siril", ignore_errors=True)
    (work / "siril_master.fit").unlink(missing_ok=True)
    (work / "run.ssf").write_text(SIRIL_SCRIPT)
    measured = run_measured([siril, "-s", "run.ssf", "-d", str(work)], work, sample=sample)
    registered = sorted((work / "siril").glob("r_light_*.fit"))
    master = next(work.glob("siril_master.fit*"))
    return {**measured, "frames": len(registered), "master": master, "reference": siril_reference(registered),
            "timings": siril_timings(measured["output"])}


_SIRIL_LOG = re.compile(r"^log: (?:Running command: (?P<command>\w+)|(?P<total>Total )?[Ee]xecution time: "
                        r"(?P<value>[\d.]+) (?P<unit>ms|s)\.)", re.MULTILINE)


def siril_timings(output: str) -> dict[str, float]:
    """Siril's own times of its steps, from its log: ``register`` and ``stack`` log their execution time,
    ``convert`` does not (its time is the script's total less those: the other commands take milliseconds)."""
    command, times, total = "", {}, None
    for match in _SIRIL_LOG.finditer(output):
        if match["command"]:
            command = match["command"]
            continue
        seconds = float(match["value"]) / (1000.0 if match["unit"] == "ms" else 1.0)
        if match["total"]:
            total = seconds
        elif command:
            times[command] = seconds
    if total is None or not {"register", "stack"} <= times.keys():
        return {}
    return {"convert -debayer": total - times["register"] - times["stack"], "register": times["register"],
            "stack": times["stack"]}


def siril_reference(registered: list[Path]) -> Path:
    """Siril's reference frame, as it debayered it: the ``light_NNNNN.fit`` whose registered copy
    ``r_light_NNNNN.fit`` has its very pixels (the reference is copied, the others resampled); the first
    frame (Siril's default reference) when none has."""
    for path in registered:
        source = path.with_name(path.name.removeprefix("r_"))
        if np.array_equal(fits.getdata(path), fits.getdata(source)):
            return source
    return registered[0].with_name(registered[0].name.removeprefix("r_"))


def run_procfw(work: Path, executor: str, scheduler: str | None, worker_pids: list[int],
               sample: bool = True) -> dict[str, object]:
    out_dir = work / f"procfw_{executor}"
    shutil.rmtree(out_dir, ignore_errors=True)
    procfw = shutil.which("procfw", path=str(Path(sys.executable).parent)) or "procfw"
    line = (f'preprocess "{work / "raw"}" "{out_dir}" -allowMissingCalibration+ -rejection=WinsorizedSigmaClip '
            f"-progress- -executor={executor}")
    if scheduler:
        line += f' -scheduler="{scheduler}"'
    measured = run_measured([procfw, "run", "-c", line], work, extra_pids=worker_pids, sample=sample)
    report = json.loads((out_dir / "preprocess_report.json").read_text())
    master = report["masters"][0]
    reference = Path(report["reference"]["path"])  # the debayered frame StarAlignment registered the others to
    return {**measured, "frames": master["frames"], "master": Path(master["path"]), "reference": reference,
            "timings": report.get("timings", {})}


def cache_bytecode() -> None:
    """Time procfw as an installed program runs: with its modules' bytecode cached.

    ``pip install .`` compiles the bytecode when it installs; an editable install compiles
    each module on first import and caches it — unless ``PYTHONDONTWRITEBYTECODE`` is set,
    and then every run compiles ~120 modules again (~0.3 s, in the console and in the
    workers' fork server).  The benches compile them once here and run procfw with the
    variable unset (printed when it was set); ``bench_integration`` and ``bench_staralignment``
    call this too.
    """
    import compileall

    if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None:
        print("PYTHONDONTWRITEBYTECODE was set: unset for procfw's runs, its bytecode compiled once first")
    for package in ("procfw", "processes"):
        compileall.compile_dir(str(ROOT / package), quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=Path, default=DEFAULT_FRAMES, help="folder of raw light frames")
    parser.add_argument("--executors", default="processes,serial,dask",
                        help="comma-separated procfw executors to run (serial, processes, dask)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="unsampled runs of each, the fastest printed (then --memory-runs sampled runs)")
    parser.add_argument("--memory-runs", type=int, default=3,
                        help="sampled runs of each: CPU the least, memory the highest peak (a 20 ms sampler can "
                             "only miss a short peak: Siril's was seen at 148 or at 195 MB PSS from run to run)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and print its path")
    parser.add_argument("--copies", type=int, default=1,
                        help="give both tools each frame this many times (renamed copies): per-frame throughput "
                             "on a longer session, with the fixed costs spread")
    args = parser.parse_args()
    cache_bytecode()
    frames = sorted(p for p in args.frames.iterdir() if p.suffix.lower() in (".fit", ".fits", ".fts"))
    if not frames:
        sys.exit(f"no frames in {args.frames}")
    work = Path(tempfile.mkdtemp(prefix="bench_preprocess_"))
    (work / "raw").mkdir()
    copies = max(1, args.copies)
    for f in frames:
        for k in range(copies):
            name = f.name if k == 0 else f"{f.stem}_copy{k}{f.suffix}"
            shutil.copyfile(f, work / "raw" / name)
    print(f"{len(frames) * copies} frames from {args.frames}" + (f" ({copies} copies of each)" if copies > 1 else "")
          + f"; {os.cpu_count()} cores")

    def best(run) -> dict[str, object]:
        """The wall time of the fastest of ``--repeat`` unsampled runs; of ``--memory-runs`` sampled runs, the
        least CPU time and the highest memory peaks (outputs: the last run's)."""
        wall = min(run(False)["wall"] for _ in range(max(1, args.repeat)))
        sampled = [run(True) for _ in range(max(1, args.memory_runs))]
        return {**sampled[-1], "wall": wall, "cpu": min(r["cpu"] for r in sampled),
                "peak_mb": max(r["peak_mb"] for r in sampled), "peak_pss_mb": max(r["peak_pss_mb"] for r in sampled)}

    load_before = " ".join(f"{v:.2f}" for v in os.getloadavg())
    siril = best(lambda sample: run_siril(work, sample))
    siril_q = quality(siril["master"], siril["reference"])
    rows = [("siril-cli", siril, siril_q)]
    for executor in [e.strip() for e in args.executors.split(",") if e.strip()]:
        cluster = client = None
        scheduler, worker_pids = None, []
        if executor == "dask":
            from distributed import Client, LocalCluster

            cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=None)
            client = Client(cluster)
            scheduler = cluster.scheduler_address
            worker_pids = list(client.run(os.getpid).values())
        try:
            ours = best(lambda sample, executor=executor, s=scheduler, w=worker_pids:
                        run_procfw(work, executor, s, w, sample))
        finally:
            if client is not None:
                client.close()
                cluster.close()
        rows.append((f"procfw ({executor})", ours, quality(ours["master"], ours["reference"])))

    print(f"load average before: {load_before}; after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"{'tool':<22}{'wall s':>8}{'ratio':>7}{'CPU s':>7}{'RSS MB':>8}{'ratio':>7}{'PSS MB':>8}{'ratio':>7}"
          f"{'frames':>7}{'noise red.':>11}{'(4x4)':>7}{'σ 4x4':>9}{'FWHM px':>8}{'ratio':>7}")
    for name, r, q in rows:
        print(f"{name:<22}{r['wall']:>8.2f}{r['wall'] / siril['wall']:>7.2f}{r['cpu']:>7.1f}{r['peak_mb']:>8.0f}"
              f"{r['peak_mb'] / siril['peak_mb']:>7.2f}{r['peak_pss_mb']:>8.0f}"
              f"{r['peak_pss_mb'] / siril['peak_pss_mb']:>7.2f}{r['frames']:>7}"
              f"{q['noise_reduction']:>11.3f}{q['noise_reduction_4x4']:>7.3f}{q['master_noise_4x4']:>9.2e}"
              f"{q['fwhm']:>8.2f}{q['fwhm'] / siril_q['fwhm']:>7.3f}")
    print(f"wall s: the fastest of the unsampled runs; CPU s: the least, RSS MB and PSS MB: the highest of "
          f"{max(1, args.memory_runs)} more runs, sampled every 20 ms. "
          "RSS MB: peak of the summed RSS of the process tree (pages shared between processes counted once per "
          "process); PSS MB: peak of the summed PSS (each shared page counted once in all: the honest total). "
          "CPU s: user+system of the tree (dask workers not included)")
    for name, r, _ in rows:
        if r.get("timings"):
            print(f"{name} steps: " + ", ".join(f"{k} {v:.2f} s" for k, v in r["timings"].items()))
    print("noise red.: the tool's reference frame's background noise / its master's (pixel scale, and on 4x4 block "
          "means); σ 4x4: the master's noise on 4x4 block means, in its reference frame's units")
    print("targets: wall ratio <= 1.0, peak-memory ratio <= 1.5 (PSS), noise reduction >= Siril's, "
          "FWHM ratio <= 1.02, no frame lost")
    if args.keep:
        print(f"work folder: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
