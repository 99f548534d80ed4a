"""PNG and TIFF: registration, exact quantization round trips, files made by other writers, errors."""

from __future__ import annotations

import logging
from pathlib import Path

import attrs
import numpy as np
import png
import pytest
import tifffile
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image as PILImage

from procfw.errors import FileExistsProcfwError, ImageFileError, ParameterError
from procfw.image import Image
from procfw.io import format_for_path, read_image, write_image
from procfw.io.png import read_png, write_png
from procfw.io.raster import PNG_FORMAT, TIFF_FORMAT, PNGFormat
from procfw.io.tiff import read_tiff, write_tiff

RNG = np.random.default_rng(20240501)


def noisy(channels: int, height: int = 7, width: int = 9) -> np.ndarray:
    """Pixels spread over [-0.1, 1.1] (so clipping is exercised) with one NaN."""
    pixels = RNG.uniform(-0.1, 1.1, (channels, height, width)).astype(np.float32)
    pixels[0, 0, 0] = np.nan
    return pixels


def expected_samples(pixels: np.ndarray, bits: int) -> np.ndarray:
    """The quantization rule written out: rint(clip(x, 0, 1)·(2^bits − 1)), NaN → 0."""
    top = 2**bits - 1
    x = np.where(np.isnan(pixels), 0.0, np.clip(pixels.astype(np.float64), 0.0, 1.0))
    return np.rint(x * top).astype(np.int64)


def raw_samples(path: Path, bits: int) -> np.ndarray:
    """The stored samples as planar (c, h, w), read with the libraries directly."""
    if path.suffix == ".png" and bits == 16:
        width, height, rows, info = png.Reader(filename=str(path)).asDirect()
        data = np.stack([np.asarray(r) for r in rows]).reshape(height, width, info["planes"])
    elif path.suffix == ".png":
        with PILImage.open(path) as picture:
            data = np.asarray(picture)
    else:
        data = tifffile.imread(path)
    data = data.reshape(*data.shape[:2], -1)
    return np.moveaxis(data, -1, 0).astype(np.int64)


# -- registration -----------------------------------------------------------------------------
def test_formats_are_registered_by_extension() -> None:
    from procfw.registry import formats

    assert formats.get("png") is PNG_FORMAT and formats.get("tiff") is TIFF_FORMAT
    assert format_for_path("a.png", for_writing=True) is PNG_FORMAT
    for name in ("a.tif", "b.TIFF", "dir.x/c.tiff"):
        assert format_for_path(name, for_writing=True) is TIFF_FORMAT
    assert PNG_FORMAT.bits == 8 and TIFF_FORMAT.bits == 16


# -- exact round trips --------------------------------------------------------------------------
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize(("suffix", "bits"), [(".png", 8), (".png", 16), (".tif", 8), (".tiff", 16)])
def test_round_trip_quantizes_exactly(tmp_path: Path, suffix: str, bits: int, channels: int) -> None:
    pixels = noisy(channels)
    path = tmp_path / f"img{suffix}"
    fmt = attrs.evolve(format_for_path(path, for_writing=True), bits=bits)
    write_image(Image(pixels), path, format=fmt)
    expected = expected_samples(pixels, bits)
    assert np.array_equal(raw_samples(path, bits), expected)
    back = read_image(path)
    assert back.pixels.dtype == np.float32 and back.pixels.shape == pixels.shape
    assert np.array_equal(back.pixels, (expected / (2**bits - 1)).astype(np.float32))


@settings(max_examples=40, deadline=None)
@given(
    pixels=arrays(np.float32, st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5)),
                  elements=st.floats(-2, 2, width=32) | st.just(np.nan)),
    target=st.sampled_from([(".png", 8), (".png", 16), (".tif", 8), (".tif", 16)]),
)
def test_any_pixels_round_trip_to_their_quantized_values(tmp_path_factory, pixels, target) -> None:
    suffix, bits = target
    path = tmp_path_factory.mktemp("rt") / f"x{suffix}"
    write_image(Image(pixels), path, format=attrs.evolve(format_for_path(path), bits=bits))
    expected = (expected_samples(pixels, bits) / (2**bits - 1)).astype(np.float32)
    assert np.array_equal(read_image(path).pixels, expected)


def test_hand_checked_quantization(tmp_path: Path) -> None:
    pixels = np.array([[[0.0, 0.2, 0.6, 1.0, 1.5, -0.25, np.nan]]], dtype=np.float32)
    write_png(Image(pixels), tmp_path / "a.png")
    write_png(Image(pixels), tmp_path / "b.png", bits=16)
    write_tiff(Image(pixels), tmp_path / "c.tif")
    assert raw_samples(tmp_path / "a.png", 8).ravel().tolist() == [0, 51, 153, 255, 255, 0, 0]
    assert raw_samples(tmp_path / "b.png", 16).ravel().tolist() == [0, 13107, 39321, 65535, 65535, 0, 0]
    assert raw_samples(tmp_path / "c.tif", 16).ravel().tolist() == [0, 13107, 39321, 65535, 65535, 0, 0]


def test_sixteen_bits_keep_what_eight_bits_lose(tmp_path: Path) -> None:
    pixels = np.full((1, 2, 2), 1000 / 65535, dtype=np.float32)
    assert read_image(write_png(Image(pixels), tmp_path / "a.png", bits=16)).pixels[0, 0, 0] == np.float32(1000 / 65535)
    assert read_image(write_png(Image(pixels), tmp_path / "b.png")).pixels[0, 0, 0] == np.float32(4 / 255)


def test_png_and_tiff_files_are_what_other_programs_expect(tmp_path: Path) -> None:
    write_png(Image(noisy(3)), tmp_path / "rgb.png", bits=16)
    write_tiff(Image(noisy(4)), tmp_path / "rgba.tif")
    info = png.Reader(filename=str(tmp_path / "rgb.png")).read()[3]
    assert (info["bitdepth"], info["planes"], info["greyscale"], info["alpha"]) == (16, 3, False, False)
    with tifffile.TiffFile(tmp_path / "rgba.tif") as tif:
        page = tif.pages[0]
        assert page.photometric == tifffile.PHOTOMETRIC.RGB and page.bitspersample == 16
        assert page.extrasamples == (tifffile.EXTRASAMPLE.UNASSALPHA,)
    with PILImage.open(write_png(Image(noisy(2)), tmp_path / "la.png")) as picture:
        assert picture.mode == "LA"


def test_extra_channels_are_left_out_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pixels = noisy(5)
    with caplog.at_level(logging.WARNING):
        back = read_image(write_png(Image(pixels), tmp_path / "five.png"))
    assert back.channels == 4 and "keeps the first 4" in caplog.text
    assert np.array_equal(back.pixels, (expected_samples(pixels[:4], 8) / 255).astype(np.float32))


# -- files from other writers -------------------------------------------------------------------
def test_palette_png_with_transparency_reads_as_rgba(tmp_path: Path) -> None:
    picture = PILImage.new("P", (3, 1))
    picture.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    picture.putdata([0, 1, 2])
    picture.save(tmp_path / "p.png", transparency=1)
    back = read_png(tmp_path / "p.png")
    assert back.channels == 4
    assert back.pixels[:, 0, :].T.tolist() == [[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 1]]


def test_one_bit_png_reads_as_grey(tmp_path: Path) -> None:
    PILImage.fromarray(np.array([[True, False]])).save(tmp_path / "b.png")
    back = read_png(tmp_path / "b.png")
    assert back.channels == 1 and back.pixels.ravel().tolist() == [1.0, 0.0]


def test_tiff_sample_types_and_layouts(tmp_path: Path) -> None:
    planar = RNG.integers(0, 65536, (3, 4, 5), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "planar.tif", planar, photometric="rgb", planarconfig="separate")
    assert np.array_equal(read_tiff(tmp_path / "planar.tif").pixels, (planar / 65535).astype(np.float32))

    floats = np.array([[0.25, -0.5], [1.5, 0.75]], dtype=np.float32)
    tifffile.imwrite(tmp_path / "f.tif", floats)
    assert np.array_equal(read_tiff(tmp_path / "f.tif").pixels[0], floats)  # floats kept, not clipped

    signed = np.array([[-32768, 0, 32767]], dtype=np.int16)
    tifffile.imwrite(tmp_path / "s.tif", signed)
    assert read_tiff(tmp_path / "s.tif").pixels.ravel().tolist() == [0.0, np.float32(32768 / 65535), 1.0]

    wide = np.array([[0, 4294967295, 123456789]], dtype=np.uint32)
    tifffile.imwrite(tmp_path / "u32.tif", wide)
    back = read_tiff(tmp_path / "u32.tif")
    assert back.pixels.dtype == np.float64 and back.pixels[0, 0, 2] == 123456789 / 4294967295

    tifffile.imwrite(tmp_path / "white.tif", np.array([[0, 255]], dtype=np.uint8), photometric="miniswhite")
    assert read_tiff(tmp_path / "white.tif").pixels.ravel().tolist() == [1.0, 0.0]


def test_palette_tiff_reads_as_rgb(tmp_path: Path) -> None:
    colormap = np.zeros((3, 256), dtype=np.uint16)
    colormap[:, 1] = (65535, 0, 32768)
    tifffile.imwrite(tmp_path / "p.tif", np.array([[0, 1]], dtype=np.uint8), photometric="palette", colormap=colormap)
    back = read_tiff(tmp_path / "p.tif")
    assert back.channels == 3
    assert back.pixels[:, 0, 1].tolist() == [1.0, 0.0, np.float32(32768 / 65535)]


# -- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["x.png", "x.tif"])
def test_existing_files_are_kept_unless_overwrite(tmp_path: Path, name: str) -> None:
    path = write_image(Image(noisy(1)), tmp_path / name)
    before = path.read_bytes()
    with pytest.raises(FileExistsProcfwError):
        write_image(Image(noisy(1)), path)
    assert path.read_bytes() == before
    write_image(Image(noisy(1)), path, overwrite=True)
    assert path.read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary files left


@pytest.mark.parametrize("name", ["x.png", "x.tiff"])
def test_bad_paths_and_corrupt_files_are_clean_errors(tmp_path: Path, name: str) -> None:
    with pytest.raises(ImageFileError, match="does not exist"):
        write_image(Image(noisy(1)), tmp_path / "missing" / name)
    with pytest.raises(ImageFileError, match="no such file"):
        read_image(tmp_path / name)
    (tmp_path / name).write_bytes(b"not an image at all, just text" * 4)
    with pytest.raises(ImageFileError, match=name):
        read_image(tmp_path / name)
    good = write_image(Image(noisy(3, 40, 40)), tmp_path / f"good{Path(name).suffix}")
    good.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])  # truncated
    with pytest.raises(ImageFileError, match="good"):
        read_image(good)


def test_a_png_named_tif_is_a_clean_error(tmp_path: Path) -> None:
    path = write_png(Image(noisy(1)), tmp_path / "a.png")
    path.rename(tmp_path / "a.tif")
    with pytest.raises(ImageFileError, match="a.tif"):
        read_image(tmp_path / "a.tif")


def test_bit_depth_is_checked() -> None:
    with pytest.raises(ParameterError, match="bits must be one of 8, 16"):
        PNGFormat(bits=12)
    with pytest.raises(ParameterError, match="bits"):
        write_png(Image(noisy(1)), "never.png", bits=32)
    with pytest.raises(ParameterError, match="bits"):
        write_tiff(Image(noisy(1)), "never.tif", bits=True)
