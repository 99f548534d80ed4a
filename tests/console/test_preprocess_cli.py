"""The `preprocess` console command and scripts/preprocess.pcs, run as users run them (subprocesses), and the
progress display."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from processes.simulation.session import simulate_session
from processes.workflows.preprocess.progress import RichProgress, TextProgress, make_progress
from procfw.console import command

from .conftest import ROOT, Console, procfw


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny L/R session: 3 bias, 3 darks, 3 flats and 3 lights per filter, 96×96."""
    folder = tmp_path_factory.mktemp("cli") / "raw"
    simulate_session(folder, filters=("L", "R"), width=96, height=96, bias=3, darks=3, flats=3, lights=3, stars=25,
                     dither=3.0, seed=2)
    return folder


def test_plan_only(raw: Path, tmp_path: Path) -> None:
    for switch in ("-plan+", "--dry-run", "--plan"):
        done = procfw("run", "-c", f'preprocess "{raw}" "{tmp_path / "out"}" {switch}', cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"preprocess plan: 18 frames in {raw}" in done.stdout
        assert ("lights L 60s bin1 gain1 -10°C (3 frames): bias master_bias (bin1 gain1 -10°C), dark master_dark_60s "
                "(exposure 60s matches within 0.5s), flat master_flat_L (filter L)") in done.stdout
        assert "  master_R: 3 frames (lights R 60s)" in done.stdout
        assert "[preprocess] reading headers: done in" in done.stderr  # not a terminal: plain progress lines
        assert not (tmp_path / "out").exists()


def test_broken_links_are_refused_with_the_reason(raw: Path, tmp_path: Path) -> None:
    lights_only = tmp_path / "lights_only"
    lights_only.mkdir()
    for path in (raw / "lights" / "L").glob("*.fits"):
        os.symlink(path, lights_only / path.name)
    for path in (raw / "flats" / "R").glob("*.fits"):
        os.symlink(path, lights_only / path.name)
    done = procfw("run", "-c", f'preprocess "{lights_only}" out -progress-', cwd=tmp_path)
    assert done.returncode == 1
    first = done.stderr.splitlines()[0]
    assert first.startswith("<command>:1:1: preprocess: cannot run: ")
    assert "lights L 60s: no flat with filter L (flats: R)" in first  # flats exist, none matches: refused
    assert "no bias frames" not in first and "no dark frames" not in first  # none at all: not a broken link
    assert "no dark (no dark frames in the set)" in done.stdout
    assert "[preprocess]" not in done.stderr  # -progress- hides the progress lines
    assert not (tmp_path / "out").exists()
    done = procfw("run", "-c", f'preprocess "{lights_only}" out -debayer=Sometimes', cwd=tmp_path)
    assert done.returncode == 1
    assert "preprocess: -debayer=Sometimes is not one of Auto, Always, Never" in done.stderr
    assert done.stderr.splitlines()[2].index("^") == len(f'preprocess "{lights_only}" out ')
    done = procfw("run", "-c", f'preprocess "{lights_only}"', cwd=tmp_path)
    assert done.returncode == 1 and "give the output folder" in done.stderr


def test_command_runs_in_a_session(raw: Path, tmp_path: Path, console: Console) -> None:
    out = console(f'preprocess "{raw}" "{tmp_path / "pre"}" -rejection=PercentileClip -progress-')
    assert "master_L: 3 frames (PercentileClip)" in out
    assert f"preprocess: masters {tmp_path / 'pre' / 'master_L.fits'}, {tmp_path / 'pre' / 'master_R.fits'}" in out
    record = console.session.records[-1]
    assert record["process"] == "preprocess" and record["outputs"]["ran"]
    assert set(record["outputs"]["masters"]) == {"master_L", "master_R"}
    report = json.loads((tmp_path / "pre" / "preprocess_report.json").read_text())
    assert report["options"]["rejection"] == "PercentileClip"
    with pytest.raises(Exception, match="already holds results"):
        console(f'preprocess "{raw}" "{tmp_path / "pre"}" -progress-')
    console(f'preprocess "{raw}" "{tmp_path / "pre"}" -overwrite+ -align- -autoCrop- -progress-')
    report = json.loads((tmp_path / "pre" / "preprocess_report.json").read_text())
    assert report["options"]["align"] is False and report["reference"] == {}
    assert report["options"]["autoCrop"] is False and [m["crop"] for m in report["masters"]] == [None, None]


def test_executor_options_are_checked(raw: Path, tmp_path: Path) -> None:
    command = f'preprocess "{raw}" out -progress-'
    done = procfw("run", "-c", f"{command} -executor=threads", cwd=tmp_path)
    assert done.returncode == 1
    assert "preprocess: -executor=threads is not one of serial, processes, dask" in done.stderr
    assert done.stderr.splitlines()[2].index("^") == len(command) + 1
    done = procfw("run", "-c", f"{command} -workers=-2", cwd=tmp_path)
    assert done.returncode == 1 and "-workers=-2 must be zero (every core) or more" in done.stderr
    environment = {k: v for k, v in os.environ.items() if k != "PROCFW_SCHEDULER"}
    done = subprocess.run([sys.executable, "-m", "procfw", "run", "-c", f"{command} -executor=dask"], cwd=tmp_path,
                          capture_output=True, text=True, env=environment, timeout=300)
    assert done.returncode == 1
    assert "needs the address of a dask scheduler: give -scheduler=tcp://HOST:8786" in done.stderr
    assert "PROCFW_SCHEDULER" in done.stderr
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_command_runs_serially_and_on_a_process_pool(raw: Path, tmp_path: Path, console: Console) -> None:
    for executor in ("serial", "processes -workers=2"):
        out = tmp_path / executor.split()[0]
        console(f'preprocess "{raw}" "{out}" -executor={executor} -align- -progress-')
        report = json.loads((out / "preprocess_report.json").read_text())
        assert report["options"]["executor"] == executor.split()[0]
        assert report["rejected"] == []
    from astropy.io import fits

    for name in ("master_L.fits", "master_R.fits", "master/master_flat_L.fits"):
        assert fits.getdata(tmp_path / "serial" / name).tobytes() == fits.getdata(tmp_path / "processes" / name
                                                                                  ).tobytes()


def test_hyphenated_options_name_camel_case_parameters(console: Console) -> None:
    seen: list[bool] = []

    @command("probe_dry_run")
    def probe(*, dryRun: bool = False) -> None:  # noqa: N803
        seen.append(dryRun)

    try:
        console("probe_dry_run --dry-run")
        console("probe_dry_run -dryRun-")
    finally:
        probe.unregister()  # type: ignore[attr-defined]
    assert seen == [True, False]


def test_progress_displays() -> None:
    ticks = iter([0.0, 4.0, 12.0, 13.0, 20.0])  # start, three updates, end
    stream = io.StringIO()
    text = TextProgress(stream, interval=10.0, clock=lambda: next(ticks))
    with text.step("integrating master_L") as report:
        report(0.25, "band 1")  # 4 s: too soon for a line
        report(0.5, "band 2")  # 12 s: a line
        report(0.75, "band 3")  # 13 s: too soon again
    assert stream.getvalue().splitlines() == [
        "[preprocess] integrating master_L ...",
        "[preprocess] integrating master_L: 50% band 2",
        "[preprocess] integrating master_L: done in 20.0 s",
    ]

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    display = make_progress(terminal)
    assert isinstance(display, RichProgress)
    with display.step("registering L") as report:
        report(0.5, "frame 4")
    display.close()
    assert "registering L" in terminal.getvalue()
    assert isinstance(make_progress(io.StringIO()), TextProgress)
    assert type(make_progress(terminal, enabled=False)).__name__ == "NullProgress"


def test_an_indeterminate_step_shows_no_percentage_until_done() -> None:
    """A step that reports no fraction (a master light made by one task on a worker) shows a running
    bar without a percentage — not a bar stuck at 0 % — and 100 % once done."""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    display = make_progress(terminal)
    with display.step("integrating master_L", indeterminate=True):
        display._progress.refresh()
        running = terminal.getvalue()
    display.close()
    assert "integrating master_L" in running and "%" not in running
    assert "100%" in terminal.getvalue()


@pytest.mark.slow
def test_script_runs_end_to_end(tmp_path: Path) -> None:
    environment = dict(os.environ)
    environment["PROCFW_HISTORY"] = str(tmp_path / ".history")
    done = subprocess.run(
        [sys.executable, "-m", "procfw", "run", str(ROOT / "scripts" / "preprocess.pcs"), str(tmp_path / "out"), "",
         "256"],
        cwd=tmp_path, capture_output=True, text=True, env=environment, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "out"
    for name in ("L", "R", "G", "B"):
        assert (out / "pre" / f"master_{name}.fits").is_file()
    report = json.loads((out / "pre" / "preprocess_report.json").read_text())
    assert [m["name"] for m in report["masters"]] == ["master_L", "master_R", "master_G", "master_B"]
    assert report["rejected"] == []
    assert (out / "lrgb.fits").is_file() and (out / "lrgb.png").is_file()
    assert "linear-link: R G B + L -> RGB" in done.stdout
    assert f"wrote {out}/lrgb.fits and {out}/lrgb.png" in done.stdout
