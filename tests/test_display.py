"""procfw.display: rendered exports, the XISF DisplayFunction ↔ view STF seam, histograms, notebook PNGs."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import png
import pytest
import tifffile
from PIL import Image as PILImage

import procfw.display.functions as display_functions
from processes.intensity.stf import AutoStretch, ScreenTransferFunction
from procfw.console import Session
from procfw.display import (
    DISPLAY_FUNCTION_KEY,
    LinearStretch,
    downsample,
    export_histogram,
    export_rendered,
    render,
    repr_png,
    save_view,
)
from procfw.errors import FileExistsProcfwError, ImageFileError, ParameterError
from procfw.image import Image
from procfw.io.xisf import read_xisf, write_xisf
from procfw.workspace import Workspace

RNG = np.random.default_rng(7)

# R/K, G, B, L rows (c0, c1, m, r0, r1): different per channel, one with range expansion
ROWS = (
    (0.02, 0.95, 0.12, 0.0, 1.0),
    (0.05, 1.0, 0.3, -0.1, 1.2),
    (0.0, 0.8, 0.6, 0.0, 1.0),
    (0.0, 1.0, 0.5, 0.0, 1.0),
)
DISPLAY_DICT = {  # the same stretch as XISF stores it
    "m": [0.12, 0.3, 0.6, 0.5],
    "s": [0.02, 0.05, 0.0, 0.0],
    "h": [0.95, 1.0, 0.8, 1.0],
    "l": [0.0, -0.1, 0.0, 0.0],
    "r": [1.0, 1.2, 1.0, 1.0],
}


def stf_reference(x: np.ndarray, c0: float, c1: float, m: float, r0: float, r1: float) -> np.ndarray:
    """PixInsight's STF written out: clip to [c0, c1], MTF (m−1)x/((2m−1)x−m), range expansion."""
    y = np.clip((np.clip(x.astype(np.float64), 0, 1) - c0) / (c1 - c0), 0, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(y <= 0, 0.0, np.where(y >= 1, 1.0, (m - 1) * y / ((2 * m - 1) * y - m)))
    return (y - r0) / (r1 - r0)


def quantized(values: np.ndarray, bits: int) -> np.ndarray:
    """rint(clip(x, 0, 1)·(2^bits − 1)), computed in float64."""
    return np.rint(np.clip(np.asarray(values, dtype=np.float64), 0, 1) * (2**bits - 1)).astype(np.int64)


def png_samples(data: bytes | Path) -> np.ndarray:
    """Planar samples of a PNG (any depth), read with pypng."""
    reader = png.Reader(bytes=data) if isinstance(data, bytes) else png.Reader(filename=str(data))
    width, height, rows, info = reader.asDirect()
    samples = np.stack([np.asarray(r) for r in rows]).reshape(height, width, info["planes"])
    return np.moveaxis(samples, -1, 0).astype(np.int64)


def sky(channels: int = 3, height: int = 31, width: int = 41) -> Image:
    """A linear 'sky': background about 0.1 with noise, a few bright pixels."""
    pixels = 0.1 + 0.01 * RNG.standard_normal((channels, height, width))
    pixels[:, height // 2, width // 3] = 0.9
    return Image(np.clip(pixels, 0, 1).astype(np.float32))


def assert_close_samples(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal samples, but for float32 rounding at a half step (never more than one step)."""
    assert actual.shape == expected.shape
    diff = np.abs(actual - expected)
    assert diff.max() <= 1 and np.mean(diff == 0) > 0.99


# -- the STF's display dict ---------------------------------------------------------------------
def test_stf_display_dict_maps_columns_and_round_trips() -> None:
    stf = ScreenTransferFunction(STF=ROWS)
    assert {k: np.float32(v).tolist() for k, v in stf.to_display_dict().items()} == {
        k: np.float32(v).tolist() for k, v in DISPLAY_DICT.items()
    }
    assert ScreenTransferFunction.from_display_dict(DISPLAY_DICT) == stf
    assert ScreenTransferFunction.from_display_dict(stf.to_display_dict()) == stf


@pytest.mark.parametrize(
    "bad", [{"m": [0.5] * 4}, {**DISPLAY_DICT, "m": [0.5, 0.5]}, {**DISPLAY_DICT, "l": [0.5, 0, 0, 0]}]
)
def test_malformed_display_dicts_are_rejected(bad: dict) -> None:
    with pytest.raises(ParameterError):
        ScreenTransferFunction.from_display_dict(bad)


# -- rendered exports -----------------------------------------------------------------------------
def test_rendered_export_applies_the_views_stf(tmp_path: Path, workspace: Workspace) -> None:
    image = sky()
    view = workspace.add_image(image, "sky").main_view
    ScreenTransferFunction(STF=ROWS).execute_on(view)
    export_rendered(view, tmp_path / "sky.tif")
    export_rendered(view, tmp_path / "sky.png", bits=16)
    export_rendered(view, tmp_path / "sky8.png")
    expected = np.stack([stf_reference(image.pixels[c], *ROWS[c]) for c in range(3)])
    assert_close_samples(np.moveaxis(tifffile.imread(tmp_path / "sky.tif"), -1, 0).astype(np.int64),
                         quantized(expected, 16))
    assert_close_samples(png_samples(tmp_path / "sky.png"), quantized(expected, 16))
    assert_close_samples(png_samples(tmp_path / "sky8.png"), quantized(expected, 8))
    assert view.image is image and np.all(image.pixels <= 1)  # the view is untouched


def test_explicit_stf_wins_and_grey_uses_the_first_row(tmp_path: Path) -> None:
    image = sky(channels=1)
    export_rendered(image, tmp_path / "g.png", bits=16, stf=ScreenTransferFunction(STF=ROWS))
    assert_close_samples(png_samples(tmp_path / "g.png"), quantized(stf_reference(image.pixels, *ROWS[0]), 16))


def test_auto_stretch_when_the_view_has_no_stf(tmp_path: Path, workspace: Workspace) -> None:
    image = sky(channels=1)
    view = workspace.add_image(image, "sky").main_view
    export_rendered(view, tmp_path / "auto.png", bits=16)
    samples = png_samples(tmp_path / "auto.png")
    stf = AutoStretch().compute_stf(image)
    assert np.array_equal(samples, quantized(stf.render(image).pixels, 16))
    # AutoSTF written out: c0 = median − 2.8·1.4826·MAD, m = mtf(0.25, median − c0), c1 = 1
    x = image.pixels.astype(np.float64)
    median = np.median(x)
    c0 = median - 2.8 * 1.4826 * np.median(np.abs(x - median))
    d = median - c0
    m = (0.25 - 1) * d / ((2 * 0.25 - 1) * d - 0.25)
    assert_close_samples(samples, quantized(stf_reference(x, c0, 1.0, m, 0.0, 1.0), 16))


def test_percentile_stretch_without_autostretch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = display_functions.installed_process
    monkeypatch.setattr(display_functions, "installed_process", lambda pid: None if pid == "AutoStretch" else real(pid))
    image = sky(channels=3)
    low, high = np.percentile(image.pixels, [0.5, 99.5])
    export_rendered(image, tmp_path / "p.png", bits=16)
    expected = np.clip((image.pixels.astype(np.float64) - low) / (high - low), 0, 1)
    assert_close_samples(png_samples(tmp_path / "p.png"), quantized(expected, 16))
    assert LinearStretch(0.2, 0.6).to_display_dict()["s"] == [0.2, 0.2, 0.2, 0.0]


def test_render_handles_nan_and_keeps_alpha() -> None:
    pixels = np.stack([np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)] * 4)
    pixels[0, 0, 0] = np.nan
    out = render(Image(pixels), ScreenTransferFunction(STF=ROWS)).pixels
    assert out.dtype == np.float32 and out[0, 0, 0] == 0 and np.all((out >= 0) & (out <= 1))
    assert np.array_equal(out[3], pixels[3])


def test_export_errors(tmp_path: Path) -> None:
    image = sky(1, 4, 4)
    export_rendered(image, tmp_path / "a.png")
    with pytest.raises(FileExistsProcfwError):
        export_rendered(image, tmp_path / "a.png")
    export_rendered(image, tmp_path / "a.png", overwrite=True)
    with pytest.raises(ImageFileError, match="does not exist"):
        export_rendered(image, tmp_path / "no" / "a.png")
    with pytest.raises(ImageFileError, match="no installed format"):
        export_rendered(image, tmp_path / "a.bmp")
    with pytest.raises(ParameterError, match="bits"):
        export_rendered(image, tmp_path / "b.png", bits=12)
    with pytest.raises(ParameterError, match="fits files have no bit depth"):
        export_rendered(image, tmp_path / "b.fits", bits=16)


# -- XISF DisplayFunction ↔ view STF -------------------------------------------------------------
def _xisf_with_display(path: Path, display: dict) -> Path:
    return write_xisf(Image(sky().pixels, properties={DISPLAY_FUNCTION_KEY: display}), path)


def _rows_of(display: dict) -> np.ndarray:
    return np.array([[display[k][i] for k in "shmlr"] for i in range(4)])


def test_opening_xisf_gives_the_view_its_display_function(tmp_path: Path, workspace: Workspace) -> None:
    window = workspace.open(_xisf_with_display(tmp_path / "in.xisf", DISPLAY_DICT))
    stf = window.main_view.display_function
    assert isinstance(stf, ScreenTransferFunction)
    np.testing.assert_allclose(np.array(stf.STF), _rows_of(DISPLAY_DICT), atol=1e-7)
    assert DISPLAY_FUNCTION_KEY not in window.image.properties  # the view owns it now
    export_rendered(window.main_view, tmp_path / "shown.png", bits=16)
    expected = np.stack([stf_reference(window.image.pixels[c], *ROWS[c]) for c in range(3)])
    assert_close_samples(png_samples(tmp_path / "shown.png"), quantized(expected, 16))


def test_saving_a_view_to_xisf_writes_its_stf(tmp_path: Path, workspace: Workspace) -> None:
    window = workspace.open(_xisf_with_display(tmp_path / "in.xisf", DISPLAY_DICT))
    save_view(window.main_view, tmp_path / "same.xisf")
    np.testing.assert_allclose(_rows_of(read_xisf(tmp_path / "same.xisf").properties[DISPLAY_FUNCTION_KEY]),
                               _rows_of(DISPLAY_DICT), atol=1e-7)
    new = AutoStretch(display=True)
    new.execute_on(window.main_view)
    save_view(window.main_view, tmp_path / "auto.xisf")
    assert b"<DisplayFunction " in (tmp_path / "auto.xisf").read_bytes()
    written = read_xisf(tmp_path / "auto.xisf").properties[DISPLAY_FUNCTION_KEY]
    assert written == window.main_view.display_function.to_display_dict()
    assert workspace.open(tmp_path / "auto.xisf").main_view.display_function == window.main_view.display_function


def test_a_view_without_stf_saves_no_display_function(tmp_path: Path, workspace: Workspace) -> None:
    view = workspace.add_image(sky(), "plain").main_view
    save_view(view, tmp_path / "plain.xisf")
    assert DISPLAY_FUNCTION_KEY not in read_xisf(tmp_path / "plain.xisf").properties


def test_identity_display_function_shows_pixels_as_they_are(tmp_path: Path, workspace: Workspace) -> None:
    identity = {"m": [0.5] * 4, "s": [0.0] * 4, "h": [1.0] * 4, "l": [0.0] * 4, "r": [1.0] * 4}
    window = workspace.open(_xisf_with_display(tmp_path / "id.xisf", identity))  # e.g. a stretched image
    assert window.main_view.display_function == ScreenTransferFunction()
    export_rendered(window.main_view, tmp_path / "id.png", bits=16)
    assert np.array_equal(png_samples(tmp_path / "id.png"), quantized(window.image.pixels, 16))  # no second stretch


def test_unusable_display_function_is_kept_in_the_image(
    tmp_path: Path, workspace: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    bad = {**DISPLAY_DICT, "l": [0.5, 0.0, 0.0, 0.0]}  # r0 must be <= 0
    with caplog.at_level(logging.WARNING):
        window = workspace.open(_xisf_with_display(tmp_path / "bad.xisf", bad))
    assert window.main_view.display_function is None and "not usable" in caplog.text
    assert window.image.properties[DISPLAY_FUNCTION_KEY] == bad
    save_view(window.main_view, tmp_path / "again.xisf")  # written back unchanged
    assert read_xisf(tmp_path / "again.xisf").properties[DISPLAY_FUNCTION_KEY] == bad


def test_an_image_uses_its_own_display_property(tmp_path: Path) -> None:
    image = read_xisf(_xisf_with_display(tmp_path / "in.xisf", DISPLAY_DICT))
    expected = np.stack([stf_reference(image.pixels[c], *ROWS[c]) for c in range(3)])
    assert_close_samples(quantized(render(image).pixels, 16), quantized(expected, 16))


def test_console_save_writes_pixels_renders_with_stretch_and_keeps_stf_in_xisf(tmp_path: Path) -> None:
    source = _xisf_with_display(tmp_path / "in.xisf", DISPLAY_DICT)
    session = Session(out=io.StringIO(), err=io.StringIO())
    session.run_text(
        f'open "{source}"\nsave in "{tmp_path / "out.png"}"\nsave in "{tmp_path / "shown.png"}" -stretch\n'
        f'save in "{tmp_path / "out.xisf"}"\nsave in "{tmp_path / "out.fits"}"'
    )
    image = session.workspace.window("in").image
    assert_close_samples(png_samples(tmp_path / "out.png"), quantized(image.pixels, 8))  # the pixels, as PixInsight
    expected = np.stack([stf_reference(image.pixels[c], *ROWS[c]) for c in range(3)])
    assert_close_samples(png_samples(tmp_path / "shown.png"), quantized(expected, 8))  # as displayed, when asked
    np.testing.assert_allclose(_rows_of(read_xisf(tmp_path / "out.xisf").properties[DISPLAY_FUNCTION_KEY]),
                               _rows_of(DISPLAY_DICT), atol=1e-7)
    assert (tmp_path / "out.fits").stat().st_size > 0


def test_save_view_bits(tmp_path: Path, workspace: Workspace) -> None:
    view = workspace.add_image(sky(1, 5, 5), "v").main_view
    save_view(view, tmp_path / "v.png", bits=16)
    assert png.Reader(filename=str(tmp_path / "v.png")).read()[3]["bitdepth"] == 16
    with pytest.raises(ParameterError, match="xisf files have no bit depth"):
        save_view(view, tmp_path / "v.xisf", bits=8)


# -- histogram plots ------------------------------------------------------------------------------
def _bar_rows(path: Path, channel: int) -> list[int]:
    """For each column, how many rows are lit at full brightness in ``channel``."""
    with PILImage.open(path) as picture:
        plane = np.asarray(picture.convert("RGB"))[..., channel]
    return (plane == 255).sum(axis=0).tolist()


def test_histogram_bars_follow_a_two_valued_image(tmp_path: Path) -> None:
    pixels = np.full((1, 10, 20), 0.25, dtype=np.float32)
    pixels[0, :5, :10] = 0.75  # 150 pixels in bin 1 of 4, 50 in bin 3
    path = export_histogram(Image(pixels), tmp_path / "h.png", bins=4, size=(64, 32))
    with PILImage.open(path) as picture:
        assert picture.size == (64, 32) and picture.format == "PNG"
    tall, short = 32, round(50 / 150 * 32)  # 11
    assert _bar_rows(path, 0) == [0] * 16 + [tall] * 16 + [0] * 16 + [short] * 16
    assert _bar_rows(path, 0) == _bar_rows(path, 2)  # grey: drawn white
    log_path = export_histogram(Image(pixels), tmp_path / "log.png", bins=4, size=(64, 32), log=True)
    assert _bar_rows(log_path, 1)[48:] == [round(np.log1p(50) / np.log1p(150) * 32)] * 16


def test_histogram_draws_each_colour_channel_in_its_colour(tmp_path: Path) -> None:
    pixels = np.zeros((3, 4, 4), dtype=np.float32)
    pixels[0] = 0.9  # red: all 16 in the last bin
    pixels[1, :2] = 0.1  # green: 8 in bin 0, 8 in bin 1
    pixels[1, 2:] = 0.3
    pixels[2] = np.nan  # blue: nothing counted
    pixels[2, 0, 0] = 0.3
    path = export_histogram(Image(pixels), tmp_path / "rgb.png", bins=4, size=(40, 20))
    assert _bar_rows(path, 0) == [0] * 30 + [20] * 10
    assert _bar_rows(path, 1) == [10] * 20 + [0] * 20
    assert _bar_rows(path, 2) == [0] * 10 + [round(20 / 16)] * 10 + [0] * 20


def test_histogram_errors(tmp_path: Path) -> None:
    image = sky(1, 4, 4)
    export_histogram(image, tmp_path / "h.png")
    with pytest.raises(FileExistsProcfwError):
        export_histogram(image, tmp_path / "h.png")
    with pytest.raises(ParameterError, match="bins"):
        export_histogram(image, tmp_path / "b.png", bins=1)
    with pytest.raises(ParameterError, match="size width"):
        export_histogram(image, tmp_path / "b.png", size=(2, 100))
    with pytest.raises(ImageFileError, match="as PNG"):
        export_histogram(image, tmp_path / "h.tif")
    with pytest.raises(ImageFileError, match="does not exist"):
        export_histogram(image, tmp_path / "no" / "h.png")


# -- notebook display ------------------------------------------------------------------------------
def _decoded(data: bytes) -> np.ndarray:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    with PILImage.open(io.BytesIO(data)) as picture:
        return np.asarray(picture)


def test_repr_png_downsamples_large_images() -> None:
    image = Image(RNG.random((3, 600, 2000), dtype=np.float32))
    shown = _decoded(image._repr_png_())
    assert shown.shape == (round(600 * 1024 / 2000), 1024, 3)
    assert _decoded(Image(RNG.random((1, 10, 20), dtype=np.float32))._repr_png_()).shape == (10, 20)


def test_downsample_averages_areas() -> None:
    pixels = RNG.random((1, 1024, 2048), dtype=np.float32)
    small = downsample(Image(pixels), 1024).pixels
    blocks = pixels.reshape(1, 512, 2, 1024, 2).astype(np.float64).mean(axis=(2, 4))
    np.testing.assert_allclose(small, blocks, atol=1e-6)


def test_repr_png_of_views_uses_their_stf(workspace: Workspace) -> None:
    image = sky(3, 300, 1500)
    window = workspace.add_image(image, "big")
    stf = ScreenTransferFunction(STF=ROWS)
    stf.execute_on(window.main_view)
    expected = np.moveaxis(quantized(stf.render(downsample(image, 1024)).pixels, 8), 0, -1)
    assert np.array_equal(_decoded(window.main_view._repr_png_()), expected)
    assert window._repr_png_() == window.main_view._repr_png_()
    preview = window.add_preview(0, 0, 100, 50)
    assert _decoded(preview._repr_png_()).shape == (50, 100, 3)


def test_repr_png_auto_stretch_is_computed_on_the_full_image() -> None:
    image = sky(1, 200, 3000)
    stf = AutoStretch().compute_stf(image)
    expected = quantized(stf.render(downsample(image, 1024)).pixels[0], 8)
    assert np.array_equal(_decoded(repr_png(image)), expected)


def test_import_procfw_does_not_load_pillow() -> None:
    code = (
        "import sys, procfw, procfw.image, procfw.workspace, procfw.io, procfw.display, procfw.io.raster;"
        "print(sorted(m for m in ('PIL', 'png', 'tifffile') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
