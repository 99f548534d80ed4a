"""Images keep their sample format: a 16-bit file opens as UInt16 and is written back as UInt16,
through processes too (as PixInsight keeps an image's sample type), unless asked otherwise."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from procfw.image import SAMPLE_FORMATS, Image
from procfw.io import read_image, write_image
from procfw.io.fits import FITSFormat, write_fits
from procfw.io.xisf import write_xisf
from procfw.workspace import Workspace


def _raw_frame(corpus: Path) -> Path:
    frames = sorted((corpus / "frames").rglob("*.fit"))
    if not frames:
        pytest.skip("no Seestar raw frame in the corpus")
    return frames[0]


@pytest.mark.parametrize("suffix", [".fits", ".xisf"])
def test_a_16_bit_raw_frame_is_saved_back_as_16_bit(corpus: Path, tmp_path: Path, suffix: str):
    source = _raw_frame(corpus)
    image = read_image(source)
    assert image.sample_format == "UInt16"
    target = write_image(image, tmp_path / f"copy{suffix}")
    assert target.stat().st_size < 1.1 * source.stat().st_size  # not twice the size as float32
    back = read_image(target)
    assert back.sample_format == "UInt16"
    np.testing.assert_array_equal(back.pixels, image.pixels)


def test_processes_keep_the_sample_format_and_writes_follow_it(tmp_path: Path):
    workspace = Workspace()
    image = Image(np.linspace(0, 1, 24, dtype=np.float32).reshape(1, 4, 6), sample_format="UInt16")
    view = workspace.add_image(image, "img").main_view
    from processes.intensity.invert import Invert

    Invert().execute_on(view)
    assert view.image.sample_format == "UInt16"  # as in PixInsight: Invert keeps a 16-bit image 16-bit
    write_image(view.image, tmp_path / "inv.fits")
    from astropy.io import fits

    assert fits.getheader(tmp_path / "inv.fits")["BITPIX"] == 16
    # an explicit format wins; a conversion is explicit
    write_fits(view.image, tmp_path / "f.fits", bitpix=-32)
    assert read_image(tmp_path / "f.fits").sample_format == "Float32"
    write_xisf(view.image.with_sample_format("Float64"), tmp_path / "d.xisf")
    assert read_image(tmp_path / "d.xisf").pixels.dtype == np.float64


def test_float_images_stay_float_and_float64_is_not_narrowed(tmp_path: Path):
    pixels = np.array([[[0.1234567890123, -0.5, 2.0]]])
    image = Image(pixels)
    assert image.sample_format == "Float64" and Image(pixels.astype(np.float32)).sample_format == "Float32"
    write_image(image, tmp_path / "d.fits")
    back = read_image(tmp_path / "d.fits")
    assert back.sample_format == "Float64"
    np.testing.assert_array_equal(back.pixels, pixels)  # nothing lost, out-of-range values kept


def test_clipping_to_an_integer_format_is_never_silent(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    image = Image(np.array([[[0.5, 1.5, -0.1, np.nan]]], np.float32), sample_format="UInt16")
    for name in ("a.fits", "a.xisf"):
        with caplog.at_level(logging.WARNING, logger="procfw.io"):
            write_image(image, tmp_path / name)
        assert "3 samples outside [0, 1]" in caplog.text and "UInt16" in caplog.text
        caplog.clear()
    with caplog.at_level(logging.WARNING, logger="procfw.io"):
        write_image(Image(np.array([[[0.5, 1.0]]], np.float32), sample_format="UInt8"), tmp_path / "b.fits")
    assert not caplog.text


def test_new_images_take_the_format_their_process_names():
    from processes.utility.newimage import NewImage

    assert NewImage(width=2, height=2, sampleFormat="i16").make_image().sample_format == "UInt16"
    assert NewImage(width=2, height=2).make_image().sample_format == "Float32"
    with pytest.raises(ValueError, match="sample format"):
        Image(np.zeros((1, 1, 1), np.float32), sample_format="Int16")
    assert SAMPLE_FORMATS == ("UInt8", "UInt16", "UInt32", "Float32", "Float64")


def test_the_fits_format_object_writes_the_image_s_format_by_default(tmp_path: Path):
    assert FITSFormat().bitpix is None
    write_image(Image(np.zeros((1, 2, 2), np.float32), sample_format="UInt8"), tmp_path / "b.fits")
    assert read_image(tmp_path / "b.fits").sample_format == "UInt8"
