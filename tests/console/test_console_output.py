"""The console talks as PixInsight's does: one line per execution, tables aligned, commands
that say what they did, --help/-h, cd/pwd/ls, settings and -q, console words in errors."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from procfw.image import Image
from procfw.params import Double, String, Table, param
from procfw.process import ExecutionContext, Process, ProcessOutput
from procfw.registry import processes

from .conftest import Console, procfw, write_fits

LINE = r"\d+\.\d{2,3} s"  # an elapsed time


class Noisy(Process):
    """A test double that declares its key outputs and returns tables."""

    process_id = "TestNoisy"
    key_outputs = ("pattern", ("noise", ("noiseR", "noiseG", "noiseB")))

    rows: tuple = param(Table(columns=(String(id="name"), Double(id="value", precision=2)), default=(),
                              read_only=True))

    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        return ProcessOutput(image=image, outputs={
            "pattern": "GRBG", "noiseR": 0.00213, "noiseG": 0.0015, "noiseB": 0.0019, "hidden": 7,
            "rows": [("first", 1.5), ("second_and_longer", 22.25)],
            "frames": [{"file": "a.fits", "weight": [1.0, 0.5, 0.25], "model": [[0.1] * 5] * 5},
                       {"file": "much_longer_name.fits", "weight": [0.123456, 1.0, 1.0], "model": [0.5] * 12}],
            "grid": [[1, 22.5], [333, 4.0]],
        })


@pytest.fixture
def noisy() -> Any:
    unregister = processes.register(Noisy.process_id, Noisy)
    yield Noisy
    unregister()


def test_an_execution_is_one_line_with_its_key_outputs_then_tables(console: Console, noisy: Any):
    console.add("raw", np.full((2, 2), 0.5))
    lines = console("TestNoisy raw").splitlines()
    assert re.fullmatch(rf"TestNoisy: raw, {LINE}, pattern GRBG, noise 0\.00213 0\.0015 0\.0019", lines[0])
    assert "hidden" not in lines[0]  # not a declared key output: --json has it
    assert lines[1:] == [
        "  rows: 2 rows",
        "    name               value",
        "    first               1.50",
        "    second_and_longer  22.25",
        "  frames: 2 rows",  # long lists in a cell: their shape (--json has the values)
        "    file                   weight      model",
        "    a.fits                 1 0.5 0.25  [5x5 values]",
        "    much_longer_name.fits  0.1235 1 1  [12 values]",
        "  grid: 2 rows",
        "      0     1",
        "      1  22.5",
        "    333     4",
    ]


def test_statistics_print_an_aligned_table_per_channel(console: Console):
    console.add("rgb", np.stack([np.full((2, 3), v) for v in (0.2, 0.3, 0.4)]))
    lines = console("Statistics rgb").splitlines()
    assert re.fullmatch(rf"Statistics: rgb, {LINE}", lines[0])
    header = lines[1].split()
    assert header[:2] == ["count", "mean"] and "{" not in console("Statistics rgb")
    assert [line.split()[:3] for line in lines[2:5]] == [["R", "6", "0.2"], ["G", "6", "0.3"], ["B", "6", "0.4"]]
    assert len({len(line) for line in lines[1:5]}) == 1  # aligned


def test_a_global_execution_names_what_it_created(console: Console):
    out = console("NewImage -id=made -width=4 -height=4")
    assert re.fullmatch(rf"NewImage: global -> made, {LINE}\n", out)


def test_commands_say_what_they_did(console: Console, tmp_path: Path):
    source = write_fits(tmp_path / "in.fits", np.full((3, 5), 0.25))
    out = console(f'open "{source}" -id=img; Invert img; undo img; redo img; save img "{tmp_path / "out.fits"}"; '
                  f'icon I = Invert; icons save "{tmp_path / "i.xpsm"}"; icons load "{tmp_path / "i.xpsm"}"')
    lines = out.splitlines()
    assert lines[0] == f"open: {source} -> img (5x3x1, Float32)"
    assert re.fullmatch(rf"Invert: img, {LINE}", lines[1])
    assert lines[2:] == ["undo: img (Invert)", "redo: img (Invert)", f"save: img -> {tmp_path / 'out.fits'}",
                         f"icons save: 1 icon -> {tmp_path / 'i.xpsm'}",
                         f"icons load: 1 icon from {tmp_path / 'i.xpsm'}: I_1",
                         "icon I loaded as I_1 (the id was taken)"]


def test_quiet_turns_the_reports_off(console: Console, tmp_path: Path):
    console("set quiet true")
    assert console("NewImage -id=a -width=2 -height=2; Invert a; undo a; echo done") == "done\n"
    assert console("set quiet") == "quiet = true\n"
    console("set quiet false")
    assert console("Invert a").startswith("Invert: a, ")
    result = procfw("run", "-q", "-c", "NewImage -id=a -width=2 -height=2; Invert a; echo done", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == "done\n"


def test_help_switches_print_the_help(console: Console):
    assert console("Invert --help") == console("help Invert") != ""
    assert console("Invert -h") == console("help Invert")
    assert console("save -h").startswith("usage: save VIEW PATH")


def test_cd_pwd_and_ls(console: Console, tmp_path: Path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.fits").write_text("")
    (tmp_path / "a.fits").write_text("")
    before = os.getcwd()
    try:
        assert console(f'cd "{tmp_path}"') == f"{tmp_path}\n"
        assert console("pwd") == f"{tmp_path}\n"
        assert console("ls") == "a.fits\nb.fits\nsub/\n"
        assert console("ls *.fits") == "a.fits\nb.fits\n"
        with pytest.raises(Exception, match="no such file or directory: 'nope'"):
            console("ls nope")
        with pytest.raises(Exception, match="cd: cannot change to 'nope'"):
            console("cd nope")
    finally:
        os.chdir(before)


def test_the_overwrite_error_speaks_console(console: Console, tmp_path: Path):
    console("NewImage -id=a -width=2 -height=2")
    console(f'save a "{tmp_path / "a.fits"}"')
    with pytest.raises(Exception, match=re.escape(f"{tmp_path / 'a.fits'}: file exists; add --overwrite to replace")):
        console(f'save a "{tmp_path / "a.fits"}"')
    console(f'save a "{tmp_path / "a.fits"}" --overwrite')


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("1 + 2 * 3", "7"), ("(1 + 2) * 3", "9"), ("7 / 2", "3.5"), ("6 / 3", "2"), ("7 % 3", "1"),
        ("-2 * 3", "-6"), ("- $n", "-4"), ("$n - 1", "3"), ("$n -1", "3"), ("$n * 0.5", "2.0"),
        ('"a" + "b"', "ab"), ("$n > 3", "true"), ("$n + 1 > 5 or $n == 4", "true"),
        ("not $n >= 4", "false"), ("$n+1", "4+1"),  # no spaces: one word, as before
    ],
)
def test_let_computes(console: Console, expression: str, value: str):
    assert console(f"let n = 4\nlet x = {expression}\necho $x") == f"{value}\n"


def test_if_computes_and_script_arguments_are_numbers_there(console: Console, tmp_path: Path):
    script = tmp_path / "count.pcs"
    script.write_text("let n = $1 + 1\nif $n * 2 > 10 { echo big $n } else { echo small $n }\n")
    assert console(f'run "{script}" 5') == "big 6\n"
    assert console(f'run "{script}" 1') == "small 2\n"


@pytest.mark.parametrize(
    ("text", "match"),
    [("let x = 1 / 0", "division by zero"), ('let x = "a" + 1', "arithmetic needs numbers"),
     ("let x = [1] * 2", "arithmetic needs numbers")],
)
def test_bad_arithmetic_is_a_clear_error(console: Console, text: str, match: str):
    with pytest.raises(Exception, match=match) as info:
        console(text)
    assert info.value.column == 9


def test_help_aligns_every_row_and_usage_shows_choices(console: Console):
    rows = [line for line in console("help").splitlines() if line.startswith("  ")]
    starts = {len(line) - len(line[2:].split(" ", 1)[1].lstrip()) for line in rows}
    assert len(starts) == 1 and any(line.startswith("  preprocess ") for line in rows)
    assert "-executor=serial|processes|dask" in console("help preprocess")
    assert "-debayerMethod=SuperPixel|Bilinear|VNG" in console("help preprocess")
    assert console("help icons").startswith("usage: icons [list|save|load] [PATH]")
    with pytest.raises(Exception, match="exec: -executor=cluster is not one of serial, processes, dask"):
        console("exec X -executor=cluster")
