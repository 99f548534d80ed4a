"""`procfw run` and `procfw console` in a subprocess: the contract as users meet it."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from .conftest import ROOT, procfw, ramp, read_fits, write_fits


@pytest.fixture
def frames(tmp_path: Path) -> Path:
    """tmp_path with frames/a-1.fits (ramp) and frames/b_2.fits (ramp from 0.5)."""
    (tmp_path / "frames").mkdir()
    write_fits(tmp_path / "frames" / "a-1.fits", ramp())
    write_fits(tmp_path / "frames" / "b_2.fits", ramp(low=0.5))
    return tmp_path


def lines_of(text: str) -> list[str]:
    return text.splitlines()


def test_a_script_file_with_arguments_end_to_end(frames: Path) -> None:
    (frames / "sub.pcs").write_text("echo sub got $1 $2 from $0\nlet from_sub = done\n")
    script = frames / "e2e.pcs"
    script.write_text(textwrap.dedent("""\
        # end-to-end: every statement kind once
        let out = "$1"
        mkdir $out
        open "frames/*.fits"                      # a_1 and b_2: stems made identifiers
        open "frames/a-1.fits" -id=copy
        windows
        processes Inv*
        help Invert
        help save
        Invert a_1
        save a_1 "$out/a_inv.fits"
        for f in "frames/*.fits" {
            open $f -id=loop
            Invert loop
            save loop "$out/${f.stem}_loop.fits" --overwrite
            close loop
        }
        for v in [copy, b_2] { NoOperation $v }
        def neg(view, suffix="_neg") {
            Invert $view
            save $view "$out/${view}${suffix}.fits"
        }
        neg b_2
        neg copy -suffix=_x
        undo b_2; redo b_2; undo b_2
        history b_2
        history copy -> H
        icon I = Invert; icon N = NoOperation; icon C = I, -N
        icons
        exec C copy
        preview copy 0 0 2 2
        Invert copy->Preview01
        if $2 > 1 { echo big $2 } else { echo small $2 }
        echo args: $@
        run "sub.pcs" x "y z"
        echo $from_sub
        close b_*
        windows
        """))
    result = procfw("run", "e2e.pcs", "results", "5", cwd=frames)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert lines_of(out)[0:3] == ["open: frames/a-1.fits -> a_1 (6x4x1, Float32)",  # open says what it did
                                  "open: frames/b_2.fits -> b_2 (6x4x1, Float32)",
                                  "open: frames/a-1.fits -> copy (6x4x1, Float32)"]
    assert "  a_1  6x4x1  Float32  frames/a-1.fits" in lines_of(out)
    assert "  b_2  6x4x1  Float32  frames/b_2.fits" in out and "* copy  6x4x1" in out
    assert "Invert\nInvert (version 256)" in out  # `processes Inv*`, then `help Invert`
    assert "usage: save VIEW PATH [-overwrite+|-overwrite-]" in out
    assert "history of b_2: 1 step\n  1. NoOperation\n  (undone) Invert\n" in out
    assert "C = ProcessContainer [Invert, -NoOperation]\nH = " not in out  # icons are listed in creation order
    assert "H = ProcessContainer [NoOperation, Invert]\nI = Invert\nN = NoOperation\n" \
           "C = ProcessContainer [Invert, -NoOperation]" in out
    assert "big 5\nargs: results 5\nsub got x y z from sub.pcs\ndone\n" in out
    assert lines_of(out)[-3:] == ["  a_1  6x4x1  Float32  results/a_inv.fits",  # saved: not modified
                                  "  copy  6x4x1  Float32  results/copy_x.fits  (modified)",
                                  "  * copy->Preview01  [0, 0, 2, 2]"]  # the current view
    results = frames / "results"
    np.testing.assert_allclose(read_fits(results / "a_inv.fits"), 1 - ramp(), atol=1e-6)
    np.testing.assert_allclose(read_fits(results / "a-1_loop.fits"), 1 - ramp(), atol=1e-6)
    np.testing.assert_allclose(read_fits(results / "b_2_loop.fits"), 1 - ramp(low=0.5), atol=1e-6)
    np.testing.assert_allclose(read_fits(results / "b_2_neg.fits"), 1 - ramp(low=0.5), atol=1e-6)
    np.testing.assert_allclose(read_fits(results / "copy_x.fits"), 1 - ramp(), atol=1e-6)
    np.testing.assert_allclose(read_fits(frames / "frames" / "a-1.fits"), ramp())  # inputs untouched


def test_runtime_error_of_command_text(tmp_path: Path) -> None:
    result = procfw("run", "-c", 'echo ok\nNewImage -id=img\nInvert -amount=1 img', cwd=tmp_path)
    assert result.returncode == 1
    assert lines_of(result.stdout)[0] == "ok"
    assert re.fullmatch(r"NewImage: global -> img, \d\.\d{3} s", lines_of(result.stdout)[1])
    assert lines_of(result.stderr)[:3] == [
        "<command>:3:8: Invert has no parameter 'amount'", "Invert -amount=1 img", "       ^"]
    assert "Traceback" not in result.stderr


def test_syntax_error_in_a_script_runs_nothing(tmp_path: Path) -> None:
    (tmp_path / "bad.pcs").write_text('echo first\nlet x = 1\nsave x "unterminated\n')
    result = procfw("run", "bad.pcs", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert lines_of(result.stderr)[:3] == [
        'bad.pcs:3:8: unterminated string (a " is not closed on this line)', 'save x "unterminated', "       ^"]


def test_error_inside_a_script_run_by_a_script(tmp_path: Path) -> None:
    (tmp_path / "inner.pcs").write_text("echo inner $1\n\n  Invert $1\n")
    (tmp_path / "outer.pcs").write_text('echo outer\nrun "inner.pcs" img\n')
    result = procfw("run", "outer.pcs", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == "outer\ninner img\n"
    assert lines_of(result.stderr)[:4] == [
        "inner.pcs:3:10: no image window 'img'", "  Invert $1", "         ^",
        "  in script run at outer.pcs:2:5"]


def test_exit_code_and_missing_script(tmp_path: Path) -> None:
    exited = procfw("run", "-c", "echo a; exit 3; echo b", cwd=tmp_path)
    assert exited.returncode == 3 and exited.stdout == "a\n"
    missing = procfw("run", "missing.pcs", cwd=tmp_path)
    assert missing.returncode == 1 and "missing.pcs: cannot read script" in missing.stderr


PLUGIN = '''
from procfw.console import command
from procfw.process import Process, ProcessOutput


class Measure(Process):
    """Measures the mean of a view."""

    process_id = "Measure"
    is_history_updater = False

    def apply(self, image, context):
        return ProcessOutput(outputs={"mean": float(image.pixels.mean()), "shape": list(image.pixels.shape)})


def hello(session, who: str = "world", *, loud: bool = False):
    """Say hello."""
    text = f"hello {who}"
    session.print(text.upper() if loud else text)


@command("shout")
def shout(word: str) -> str:
    """Shout a word."""
    return word.upper() + "!"
'''


@pytest.fixture
def plugin(tmp_path: Path) -> dict[str, str]:
    """A plugin distribution on PYTHONPATH: a process and two commands through entry points."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "procfw_console_testplugin.py").write_text(PLUGIN)
    info = site / "procfw_console_testplugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: procfw-console-testplugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[procfw.processes]\nMeasure = procfw_console_testplugin:Measure\n\n"
        "[procfw.commands]\nhello = procfw_console_testplugin:hello\nyell = procfw_console_testplugin:shout\n"
    )
    return {"PYTHONPATH": f"{site}"}


def test_json_report_and_plugin_commands(tmp_path: Path, plugin: dict[str, str]) -> None:
    text = ("NewImage -id=img -width=4 -height=2 -numberOfChannels=1 -colorSpace=Grayscale -v0=0.25\n"
            "Measure img; Invert img; Measure img\nhello; hello you --loud; yell hey; help hello")
    result = procfw("run", "--json", "-c", text, cwd=tmp_path, env=plugin)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["exit_code"] == 0 and report["errors"] == []
    assert all(isinstance(record.pop("seconds"), float) for record in report["outputs"])  # each one's time
    assert report["outputs"] == [
        {"process": "NewImage", "target": None, "created": ["img"], "outputs": {}},
        {"process": "Measure", "target": "img", "created": [], "outputs": {"mean": 0.25, "shape": [1, 2, 4]}},
        {"process": "Invert", "target": "img", "created": [], "outputs": {}},
        {"process": "Measure", "target": "img", "created": [], "outputs": {"mean": 0.75, "shape": [1, 2, 4]}},
    ]
    assert report["created"] == ["img"] and report["windows"] == ["img"]
    assert "Measure: img, " in result.stderr and ", mean 0.25, shape 1 2 4\n" in result.stderr  # stderr with --json
    assert "hello world\nHELLO YOU\nHEY!\nusage: hello [WHO] [-loud+|-loud-]\n\nSay hello." in result.stderr


def test_json_report_of_a_failure(tmp_path: Path) -> None:
    result = procfw("run", "--json", "-c", "NewImage -id=a -width=2 -height=2\nInvert b", cwd=tmp_path)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["windows"] == ["a"]
    (error,) = report["errors"]
    assert error["file"] == "<command>" and (error["line"], error["column"]) == (2, 8)
    assert error["message"] == "no image window 'b'"
    assert lines_of(result.stderr)[1] == "<command>:2:8: no image window 'b'"  # after NewImage's line


def test_console_reads_plain_lines_when_stdin_is_not_a_terminal(tmp_path: Path) -> None:
    stdin = "let x = 2\nfor v in [1, 2] {\n  echo v=$v x=$x\n}\nInvert\necho after\n"
    result = procfw("console", cwd=tmp_path, stdin=stdin)
    assert result.returncode == 1  # a statement failed; the console went on
    assert result.stdout == "v=1 x=2\nv=2 x=2\nafter\n"
    assert lines_of(result.stderr)[:3] == [
        "<stdin>:5:1: Invert needs a target view (Invert cannot be executed globally), and no image is open",
        "Invert", "^"]


def test_the_demo_script_runs_with_no_arguments(tmp_path: Path) -> None:
    result = procfw("run", str(ROOT / "scripts" / "demo.pcs"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "history of field: 2 steps\n  1. PixelMath" in result.stdout
    field = read_fits(tmp_path / "out" / "field.fits")
    assert field.shape == (48, 64)
    row = field[10]
    assert np.all(np.diff(row) < 0) and 0.09 < row.min() < row.max() < 0.91  # the inverted gradient
    np.testing.assert_allclose(field, np.broadcast_to(row, field.shape))
    color = read_fits(tmp_path / "out" / "color.fits")
    np.testing.assert_allclose(color[:, 0, 0], [0.9, 0.7, 0.4], atol=1e-6)


def test_icons_save_and_load_through_the_cli(tmp_path: Path) -> None:
    icons = pytest.importorskip("procfw.icons")
    if not hasattr(icons, "save_icons"):
        pytest.skip("procfw.icons has no save_icons yet")
    first = procfw("run", "-c", 'icon I = Invert; icon N = NoOperation; icon C = I, -N\nicons save "set.xpsm"\n'
                   'icons save "set.pcs" C', cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = procfw("run", "-c", 'NewImage -id=img -width=2 -height=2 -v0=0.25 -v1=0.25 -v2=0.25\n'
                    'icons load "set.xpsm"; icons; exec C img; run "set.pcs"; icons', cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "C = ProcessContainer [Invert, -NoOperation]" in second.stdout
    assert "C_1 = Invert" in second.stdout  # set.pcs defines C's children as icons C_1, C_2
