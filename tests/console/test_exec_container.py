"""`exec ICON CONTAINER`: a process icon run over every enabled file of an ImageContainer icon."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from procfw.console import Session
from procfw.icons import save_icons
from procfw.registry import processes

from .conftest import procfw, ramp, read_fits, write_fits

OUT = '-outputDirectory=out -outputTemplate="&filename;_inv&extension;"'


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def lights(tmp_path: Path) -> list[Path]:
    """light_1..3.fits and an empty out/ in tmp_path."""
    (tmp_path / "out").mkdir()
    return [write_fits(tmp_path / f"light_{i}.fits", ramp(low=0.1 * i, high=0.9)) for i in (1, 2, 3)]


def test_invert_icon_over_a_container(lights, tmp_path):
    before = {p: digest(p) for p in lights}
    script = f'icon inv = Invert\nicon C = ImageContainer -images="light_*.fits" {OUT}\nexec inv C\n'
    done = procfw("run", "-c", script, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sorted(lines[:3]) == [f"ok      light_{i}.fits -> out/light_{i}_inv.fits" for i in (1, 2, 3)]
    assert lines[3] == "Invert over C: 3 succeeded, 0 failed, 0 skipped"
    for light in lights:
        np.testing.assert_allclose(read_fits(tmp_path / "out" / f"{light.stem}_inv.fits"), 1 - read_fits(light),
                                   atol=1e-6)
        assert digest(light) == before[light]


def test_process_container_icon_over_a_container(lights, tmp_path):
    script = (f'icon half = PixelMath -expression="$T*0.5"\nicon neg = Invert\nicon chain = half, -neg, neg\n'
              f'icon C = ImageContainer -images="light_*.fits" {OUT}\nexec chain C\n')
    done = procfw("run", "-c", script, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ProcessContainer over C: 3 succeeded" in done.stdout
    for light in lights:
        np.testing.assert_allclose(read_fits(tmp_path / "out" / f"{light.stem}_inv.fits"),
                                   1 - 0.5 * read_fits(light), atol=1e-6)


def test_missing_file_is_reported_and_the_others_go_on(lights, tmp_path):
    rows = '[[true,"light_1.fits",""],[true,"gone.fits",""],[false,"light_2.fits",""],[true,"light_3.fits",""]]'
    script = f"icon C = ImageContainer -images={rows} {OUT}\nexec inv C\necho never\n"
    done = procfw("run", "-c", "icon inv = Invert\n" + script, cwd=tmp_path)
    assert done.returncode == 1
    assert "FAILED  gone.fits: no such file" in done.stdout
    assert "skipped light_2.fits (disabled)" in done.stdout
    assert "Invert over C: 2 succeeded, 1 failed, 1 skipped" in done.stdout
    assert "exec inv C: 1 of 4 items failed" in done.stderr and "never" not in done.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["light_1_inv.fits", "light_3_inv.fits"]


def test_existing_outputs_are_not_overwritten(lights, tmp_path):
    script = f'icon inv = Invert\nicon C = ImageContainer -images="light_*.fits" {OUT}\nexec inv C\n'
    assert procfw("run", "-c", script, cwd=tmp_path).returncode == 0
    outputs = sorted((tmp_path / "out").iterdir())
    before = {p: digest(p) for p in outputs}
    again = procfw("run", "-c", script, cwd=tmp_path)
    assert again.returncode == 1
    assert again.stdout.count("file exists; set dontOverwrite=false") == 3
    assert {p: digest(p) for p in outputs} == before
    replaced = procfw("run", "-c", script.replace("exec inv C", "icon C2 = ImageContainer -images=\"light_*.fits\" "
                                                  f"{OUT} -dontOverwrite-\nexec inv C2"), cwd=tmp_path)
    assert replaced.returncode == 0, replaced.stderr


def test_json_report_and_executor_option(lights, tmp_path):
    pytest.importorskip("procfw.batch")
    script = f'icon inv = Invert\nicon C = ImageContainer -images="light_*.fits" {OUT}\nexec inv C -executor=serial'
    done = procfw("run", "--json", "-c", script, cwd=tmp_path)
    report = json.loads(done.stdout)
    assert report["ok"] and report["outputs"][0]["target"] == "C"
    assert report["outputs"][0]["outputs"]["succeeded"] == 3


def test_container_icon_from_an_xpsm_file(lights, tmp_path, monkeypatch):
    made = processes.get("ImageContainer")(
        images=[(True, str(p), "") for p in lights], outputDirectory=str(tmp_path / "out"),
        outputTemplate="&filename;_n.xisf")
    save_icons(tmp_path / "set.xpsm", {"Lights": made, "neg": processes.get("Invert")()})
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    session = Session(out=out, err=out)
    session.run_text('icons load "set.xpsm"\nexec neg Lights\n')
    assert "Invert over Lights: 3 succeeded" in out.getvalue()
    from procfw.io import read_image

    np.testing.assert_allclose(read_image(tmp_path / "out" / "light_2_n.xisf").pixels[0],
                               1 - read_fits(lights[1]), atol=1e-6)


def test_executing_the_container_alone_is_refused(lights, tmp_path):
    done = procfw("run", "-c", 'icon C = ImageContainer -images="light_*.fits"\nexec C', cwd=tmp_path)
    assert done.returncode == 1 and "target, not an action" in done.stderr


def test_executor_options_need_a_container(lights, tmp_path):
    script = 'open "light_1.fits"\nicon inv = Invert\nexec inv light_1 -workers=2'
    done = procfw("run", "-c", script, cwd=tmp_path)
    assert done.returncode == 1 and "apply only when the target is an image container" in done.stderr


def test_exec_on_views_is_unchanged(lights, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    session = Session(out=out, err=out)
    session.run_text('open "light_1.fits"\nicon inv = Invert\nexec inv light_1\n')
    np.testing.assert_allclose(session.workspace.view("light_1").image.pixels[0], 1 - read_fits(lights[0]),
                               atol=1e-6)
