"""The linear-link LRGB workflow: the Python function, the `linear-link` console command and scripts/linear_link.pcs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from processes.kernels import colorspace as cs
from processes.simulation.lrgb import SimulateLRGB
from processes.workflows.linear_link import LinearLinkError, background_upper_bound, linear_link
from procfw.console import ConsoleRuntimeError
from procfw.container import ProcessContainer
from procfw.image import Image
from procfw.workspace import Workspace

from .conftest import ROOT, Console, procfw

SIM = SimulateLRGB(width=512, height=384, starCount=400)


def _mtf(m: float, x: np.ndarray | float) -> Any:
    """PixInsight's midtones transfer function, written out for the tests."""
    return (m - 1) * x / ((2 * m - 1) * x - m)


def _lad_line(x: np.ndarray, y: np.ndarray, iterations: int = 60) -> tuple[float, float]:
    """``y ≈ a + b·x`` by least absolute deviations (iteratively reweighted least squares)."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    weights = np.ones_like(x)
    a = b = 0.0
    for _ in range(iterations):
        sw = weights.sum()
        mx, my = (weights * x).sum() / sw, (weights * y).sum() / sw
        b = (weights * (x - mx) * (y - my)).sum() / (weights * (x - mx) ** 2).sum()
        a = my - b * mx
        weights = 1.0 / np.maximum(np.abs(y - a - b * x), 1e-7)
    return a, b


class Run:
    """One linear-link run on a simulated set, with the images after every step."""

    def __init__(self) -> None:
        self.truth = SIM.render()
        self.workspace = Workspace()
        SIM.execute_global(self.workspace)
        self.originals = {v: self.workspace.window(v).image for v in "LRGB"}
        self.after: list[tuple[str, np.ndarray]] = []

        def keep(step: Any) -> None:
            if "RGB" in self.workspace:
                self.after.append((step.process.process_id, self.workspace.window("RGB").image.pixels.copy()))

        self.report = linear_link(self.workspace, luminance="L", on_step=keep)

    def rgb_after(self, process_id: str) -> np.ndarray:
        return next(pixels for pid, pixels in self.after if pid == process_id).astype(np.float64)

    def view(self, view_id: str) -> np.ndarray:
        return self.workspace.window(view_id).image.pixels.astype(np.float64)


@pytest.fixture(scope="module")
def run() -> Run:
    return Run()


def test_the_fitted_channels_match_the_reference(run: Run) -> None:
    g = run.view("G")[0].ravel()[::5]
    for channel in ("R", "B"):
        fitted = run.view(channel)[0].ravel()[::5]
        a, b = _lad_line(fitted, g)
        assert b == pytest.approx(1.0, abs=0.01) and a == pytest.approx(0.0, abs=0.0005)
        # the original did not match: the fit changed it by the reported line
        fit = next(f for f in run.report.fits if f.view == channel)
        original = run.originals[channel].pixels[0].astype(np.float64)
        np.testing.assert_allclose(run.view(channel)[0], np.clip(fit.a + fit.b * original, 0, 1), atol=2e-6)
        assert abs(fit.b - 1) > 0.1
    assert np.array_equal(run.view("G"), run.originals["G"].pixels)  # the reference is untouched
    assert {f.view for f in run.report.fits} == {"R", "B"} and run.report.reference == "G"


def test_fit_coefficients_approach_the_simulated_truth(run: Run) -> None:
    for fit in run.report.fits:
        gain, offset = getattr(SIM, f"gain{fit.view}"), getattr(SIM, f"offset{fit.view}")
        expected_b = SIM.gainG / gain
        assert fit.b == pytest.approx(expected_b, rel=0.1)
        assert fit.a == pytest.approx(SIM.offsetG - expected_b * offset, abs=0.006)


def test_the_background_is_neutral(run: Run) -> None:
    mask = run.truth.background_mask()
    assert mask.mean() > 0.3
    before = run.rgb_after("ChannelCombination")
    after = run.rgb_after("BackgroundNeutralization")
    medians_before = [float(np.median(before[c][mask])) for c in range(3)]
    medians_after = [float(np.median(after[c][mask])) for c in range(3)]
    assert max(medians_after) - min(medians_after) < 5e-4
    # the reported levels are what BackgroundNeutralization measured below the reported bound
    high = run.report.background_high
    selected = np.all((before > 0) & (before < high), axis=0)
    expected = [float(np.median(before[c][selected])) for c in range(3)]
    np.testing.assert_allclose(run.report.background, expected, rtol=1e-6)
    assert min(medians_before) < high < 2 * max(medians_before)


def test_the_stretch_is_linked_and_puts_the_background_at_the_target(run: Run) -> None:
    neutral = run.rgb_after("BackgroundNeutralization")
    stretched = run.rgb_after("AutoStretch")
    # the STF computed independently: linked AutoStretch of the neutralized image
    medians = [float(np.median(neutral[c])) for c in range(3)]
    sigmas = [1.4826 * float(np.median(np.abs(neutral[c] - medians[c]))) for c in range(3)]
    c0 = min(max(sum(m - 2.8 * s for m, s in zip(medians, sigmas)) / 3, 0.0), 1.0)
    m = float(_mtf(0.25, np.mean(medians) - c0))
    assert run.report.stf == pytest.approx((c0, m, 1.0), abs=2e-6)
    expected = np.clip(_mtf(m, np.clip((neutral - c0) / (1 - c0), 0, 1)), 0, 1)
    np.testing.assert_allclose(stretched, expected, atol=2e-5)
    for c in range(3):
        assert float(np.median(stretched[c])) == pytest.approx(0.25, abs=0.005)
    mask = run.truth.background_mask()
    background = [float(np.median(stretched[c][mask])) for c in range(3)]
    assert all(0.15 < level < 0.26 for level in background)
    assert max(background) - min(background) < 0.006
    # the display STF is back to identity after the permanent stretch
    stf = run.workspace.window("RGB").main_view.display_function
    assert stf is not None and all(row == (0.0, 1.0, 0.5, 0.0, 1.0) for row in stf.STF)


def test_the_luminance_keeps_its_lightness(run: Run) -> None:
    final = run.view("RGB")
    stretched_l = run.view("L")[0]
    lightness = cs.SRGB.lightness(final[0], final[1], final[2])
    difference = np.abs(lightness - stretched_l)
    assert float(np.median(difference)) < 1e-4 and float(np.percentile(difference, 99.9)) < 0.01
    # L was stretched so its median sits at the median CIE L* of the stretched RGB
    before_l = run.rgb_after("AutoStretch")
    target = float(np.median(cs.SRGB.lightness(before_l[0], before_l[1], before_l[2])))
    assert run.report.luminance_target == pytest.approx(target, abs=1e-3)
    assert float(np.median(stretched_l)) == pytest.approx(target, abs=2e-3)
    # the colour comes from the RGB image: the red nebula stays red, the background grey
    red = run.truth.nebula[0] > 2 * run.truth.nebula[1] + 0.004
    assert red.sum() > 100
    assert float(np.median(final[0][red] - final[1][red])) > 0.02
    mask = run.truth.background_mask()
    grey = [float(np.median(final[c][mask])) for c in range(3)]
    assert max(grey) - min(grey) < 0.01


def test_history_and_replay(run: Run) -> None:
    ws = run.workspace
    assert [s.process.process_id for s in ws.window("R").main_view.history.done] == ["LinearFit"]
    assert ws.window("R").main_view.history.done[0].process.referenceViewId == "G"
    assert [s.process.process_id for s in ws.window("RGB").main_view.history.done] == [
        "BackgroundNeutralization", "AutoStretch", "LRGBCombination",
    ]
    assert [s.process.process_id for s in ws.window("L").main_view.history.done] == ["AutoStretch"]
    assert [s.process.process_id for s in run.report.steps] == [
        "LinearFit", "LinearFit", "ChannelCombination", "BackgroundNeutralization", "AutoStretch",
        "ScreenTransferFunction", "AutoStretch", "ScreenTransferFunction", "LRGBCombination",
    ]
    # the steps, replayed on fresh copies of the inputs, give the same result
    fresh = Workspace()
    for view_id, image in run.originals.items():
        fresh.add_image(image, view_id)
    for step in run.report.steps:
        if step.target is None:
            created = step.process.execute_global(fresh).created
            fresh.rename_window(created[0], "RGB")
        else:
            step.process.execute_on(fresh.view(step.target))
    for view_id in ("RGB", "L", "R", "B"):
        np.testing.assert_array_equal(fresh.window(view_id).image.pixels, ws.window(view_id).image.pixels)
    # the output's history kept as a container (history RGB -> steps) holds those three steps
    container = ProcessContainer.from_history(ws.window("RGB").main_view)
    assert [item.instance.process_id for item in container.items] == [
        "BackgroundNeutralization", "AutoStretch", "LRGBCombination",
    ]


def test_report_lines(run: Run) -> None:
    text = "\n".join(run.report.lines())
    assert text.startswith("linear-link: R G B + L -> RGB (reference G)")
    for fit in run.report.fits:
        assert f"LinearFit {fit.view} -> G: a = {fit.a:+.6f}  b = {fit.b:.6f}" in text
    assert f"c0 = {run.report.stf[0]:.6f}  m = {run.report.stf[1]:.6f}" in text
    assert "LRGBCombination: L -> RGB" in text


def _mono_set(workspace: Workspace, ids: str = "RGB", size: tuple[int, int] = (64, 48), seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    base = 0.05 + 0.05 * rng.random((size[1], size[0]))
    for k, view_id in enumerate(ids):
        workspace.add_image(Image((base * (0.8 + 0.2 * k) + 0.01 * k)[None].astype(np.float32)), view_id)


def test_reference_and_no_luminance() -> None:
    workspace = Workspace()
    _mono_set(workspace, "RGB")
    report = linear_link(workspace, reference="R", output="Colour")
    assert report.reference == "R" and {f.view for f in report.fits} == {"G", "B"}
    assert report.luminance is None and report.luminance_stf is None
    assert [s.process.process_id for s in workspace.window("Colour").main_view.history.done] == [
        "BackgroundNeutralization", "AutoStretch",
    ]
    assert workspace.current_view_id == "Colour"
    # other view ids, and the reference named by its view id
    other = Workspace()
    _mono_set(other, "XYZ")
    assert linear_link(other, "X", "Y", "Z", reference="Z").reference == "Z"


@pytest.mark.parametrize(
    ("kwargs", "parameter", "message"),
    [
        ({"green": "Gx"}, "green", "no image window 'Gx'"),
        ({"luminance": "Lx"}, "luminance", "no image window 'Lx'"),
        ({"reference": "Q"}, "reference", "neither R, G, B"),
        ({"output": "G"}, "output", "already exists"),
        ({"output": "2x"}, "output", "invalid output id"),
        ({"luminance": "RGBIMG"}, "luminance", "3 channels"),
        ({"luminance": "Small"}, "luminance", "is 8x8"),
        ({"blue": "G"}, None, "three different images"),
    ],
)
def test_argument_errors_change_nothing(kwargs: dict[str, str], parameter: str | None, message: str) -> None:
    workspace = Workspace()
    _mono_set(workspace, "RGB")
    workspace.add_image(Image(np.zeros((3, 48, 64), np.float32)), "RGBIMG")
    workspace.add_image(Image(np.zeros((1, 8, 8), np.float32)), "Small")
    before = {w.id: w.image for w in workspace}
    with pytest.raises(LinearLinkError, match=message) as caught:
        linear_link(workspace, **kwargs)
    assert caught.value.parameter == parameter
    assert {w.id: w.image for w in workspace} == before
    assert all(not w.main_view.history.done for w in workspace)


def test_background_upper_bound_sits_above_the_noise() -> None:
    rng = np.random.default_rng(3)
    sky = 0.02 + 0.001 * rng.standard_normal((3, 200, 300))
    sky[:, 50:120, 80:200] += 0.05  # a bright patch (nebula) over a fifth of the frame
    bound = background_upper_bound(sky.astype(np.float32))
    assert 0.02 + 1.5 * 0.001 < bound < 0.02 + 4 * 0.001


# -- the console command ---------------------------------------------------------------------
def test_the_console_command(console: Console) -> None:
    console.session.workspace.add_image(Image(np.zeros((1, 2, 2), np.float32)), "dummy")
    out = console("SimulateLRGB -width=128 -height=96 -starCount=30\nlinear-link R G B -luminance=L -output=M")
    assert "linear-link: R G B + L -> M (reference G)" in out
    assert "LinearFit R -> G: a = " in out and "BackgroundNeutralization: background R " in out
    assert console.workspace.window("M").image.pixels.shape == (3, 96, 128)
    assert console.workspace.current_view_id == "M"
    processes = [r["process"] for r in console.session.records]
    assert processes[:3] == ["SimulateLRGB", "LinearFit", "LinearFit"] and processes[-1] == "LRGBCombination"
    fit = console.session.records[1]
    assert fit["target"] == "R" and set(fit["outputs"]["K"]) >= {"a", "b", "adev"}
    assert "M" in console.session.created
    help_text = console("help linear-link")
    assert help_text.startswith("usage: linear-link [RED] [GREEN] [BLUE] [-reference=TEXT] [-luminance=TEXT]")


@pytest.mark.parametrize(
    ("line", "column", "message"),
    [
        ("linear-link R Gx B", 15, "no image window 'Gx' (did you mean G?)"),
        ("linear-link R G B -luminance=Lx", 19, "no image window 'Lx' (did you mean L?)"),
        ("linear-link R G B -reference=Q", 19, "reference 'Q' is neither R, G, B"),
        ("linear-link R G B -output=L", 19, "an image window 'L' already exists"),
        ("linear-link R G B -bogus=1", 19, "unknown option -bogus"),
        ("linear-link Rx", 13, "no image window 'Rx'"),
    ],
)
def test_console_errors_are_located(console: Console, line: str, column: int, message: str) -> None:
    console("SimulateLRGB -width=32 -height=24 -starCount=5")
    before = console.workspace.window_ids()
    with pytest.raises(ConsoleRuntimeError) as caught:
        console(f"echo start\n{line}", file="job.pcs")
    error = caught.value
    assert (error.file, error.line, error.column) == ("job.pcs", 2, column)
    assert message in error.message
    assert error.render().startswith(f"job.pcs:2:{column}: ")
    assert console.workspace.window_ids() == before
    assert all(not console.workspace.window(v).main_view.history.done for v in before)


# -- the script ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_script_writes_fits_and_png(tmp_path: Path) -> None:
    from PIL import Image as PILImage

    from procfw.io import read_image

    start = time.perf_counter()
    result = procfw("run", str(ROOT / "scripts" / "linear_link.pcs"), str(tmp_path / "out"), cwd=tmp_path)
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    assert elapsed < 60
    assert "linear-link: R G B + L -> RGB (reference G)" in result.stdout
    image = read_image(tmp_path / "out" / "lrgb.fits")
    assert image.pixels.shape == (3, 768, 1024)
    assert 0.2 < float(np.median(image.pixels)) < 0.32
    with PILImage.open(tmp_path / "out" / "lrgb.png") as png:
        assert png.size == (1024, 768) and png.mode == "RGB"
        shown = np.asarray(png, dtype=np.float64) / 255
    # the PNG shows the stretched pixels as they are (no second stretch)
    np.testing.assert_allclose(shown.transpose(2, 0, 1), image.pixels, atol=1 / 255 + 1e-6)


@pytest.mark.slow
def test_the_script_opens_files_and_rejects_a_partial_set(tmp_path: Path) -> None:
    workspace = Workspace()
    SimulateLRGB(width=96, height=64, starCount=20, seed=9).execute_global(workspace)
    from procfw.io import write_image

    files = []
    for view_id in "LRGB":
        files.append(str(write_image(workspace.window(view_id).image, tmp_path / f"{view_id}.fits")))
    script = str(ROOT / "scripts" / "linear_link.pcs")
    result = procfw("run", script, "res", *files, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "SimulateLRGB" not in result.stdout
    from procfw.io import read_image

    assert read_image(tmp_path / "res" / "lrgb.fits").pixels.shape == (3, 64, 96)
    partial = procfw("run", script, "res2", files[0], cwd=tmp_path)
    assert partial.returncode != 0
    assert "four files" in partial.stdout + partial.stderr
