"""Geometry processes: DynamicCrop, Resample, IntegerResample, FastRotation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from corpus_icons import corpus_instances

from processes.geometry.transforms import DynamicCrop, FastRotation, IntegerResample, Resample, choose_interpolation
from procfw.image import FITSKeyword, Image
from procfw.process import ExecutionContext
from procfw.testing import check_process
from procfw.workspace import Workspace

CTX = ExecutionContext()
RNG = np.random.default_rng(7)
IMG = Image(RNG.random((3, 6, 8)).astype(np.float32))  # 8 wide, 6 high


@pytest.mark.parametrize("cls", [DynamicCrop, Resample, IntegerResample, FastRotation])
def test_conformance(cls: type) -> None:
    check_process(cls).raise_if_failed()
    assert cls.is_maskable is False


# -- FastRotation -----------------------------------------------------------------------
SMALL = Image(np.array([[[1, 2, 3], [4, 5, 6]]], dtype=np.float32) / 10)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("Rotate180", [[6, 5, 4], [3, 2, 1]]),
        ("Rotate90CW", [[4, 1], [5, 2], [6, 3]]),
        ("Rotate90CCW", [[3, 6], [2, 5], [1, 4]]),
        ("HorizontalMirror", [[3, 2, 1], [6, 5, 4]]),
        ("VerticalMirror", [[4, 5, 6], [1, 2, 3]]),
    ],
)
def test_fast_rotation_hand_arrays(mode: str, expected: list[list[int]]) -> None:
    out = FastRotation(mode=mode).apply(SMALL, CTX)
    np.testing.assert_array_equal(out.pixels[0], np.array(expected, dtype=np.float32) / 10)


def test_fast_rotation_accepts_long_element_names() -> None:
    assert FastRotation(mode="Rotate90Clockwise").mode == "Rotate90CW"
    assert FastRotation(mode="Rotate90CounterClockwise").mode == "Rotate90CCW"


# -- DynamicCrop ------------------------------------------------------------------------
def _turn(angle_deg: float, **extra: Any) -> DynamicCrop:
    """A DynamicCrop turning the whole 8x6 image by ``angle_deg`` (output 6x8 for ±90°)."""
    quarter = abs(angle_deg) == 90
    return DynamicCrop(
        angle=math.radians(angle_deg),
        refWidth=8,
        outWidth=6 if quarter else 8,
        refHeight=6,
        outHeight=8 if quarter else 6,
        **extra,
    )


@pytest.mark.parametrize(
    ("angle", "mode"), [(90, "Rotate90CW"), (-90, "Rotate90CCW"), (180, "Rotate180"), (-180, "Rotate180")]
)
@pytest.mark.parametrize(
    "extra",
    [{}, {"optimizeFast": False, "interpolation": "Bilinear"}, {"optimizeFast": False, "interpolation": "Lanczos3"}],
)
def test_dynamic_crop_quarter_turns_equal_fast_rotation(angle: int, mode: str, extra: dict[str, Any]) -> None:
    turned = _turn(angle, **extra).apply(IMG, CTX)
    reference = FastRotation(mode=mode).apply(IMG, CTX)
    assert turned.pixels.shape == reference.pixels.shape
    np.testing.assert_allclose(turned.pixels, reference.pixels, atol=1e-6)


def test_dynamic_crop_plain_crop_is_exact() -> None:
    # centre (0.5·8, 0.5·6) = (4, 3); 4x2 crop -> columns 2..5, rows 2..3
    out = DynamicCrop(refWidth=8, outWidth=4, refHeight=6, outHeight=2).apply(IMG, CTX)
    np.testing.assert_array_equal(out.pixels, IMG.pixels[:, 2:4, 2:6])
    # off-centre: centre (0.25·8, 0.5·6) = (2, 3), 4x6 crop -> columns 0..3, all rows
    out = DynamicCrop(centerX=0.25, refWidth=8, outWidth=4).apply(IMG, CTX)
    np.testing.assert_array_equal(out.pixels, IMG.pixels[:, :, 0:4])


def test_dynamic_crop_fills_outside_with_fill_colour() -> None:
    # centre at the left edge: the left half of the 4-wide crop is outside the image
    crop = DynamicCrop(centerX=0.0, refWidth=8, outWidth=4, red=0.1, green=0.2, blue=0.3)
    out = crop.apply(IMG, CTX)
    assert out.pixels.shape == (3, 6, 4)
    for c, fill in enumerate((0.1, 0.2, 0.3)):
        np.testing.assert_allclose(out.pixels[c, :, :2], fill)
    np.testing.assert_array_equal(out.pixels[:, :, 2:], IMG.pixels[:, :, 0:2])


def test_dynamic_crop_v1_width_fraction_and_scale() -> None:
    # old icons: width/height fractions when refWidth == outWidth (PixInsight's compatibility rule)
    crop = DynamicCrop(width=0.5, height=0.5)
    assert crop.fractions() == (0.5, 0.5)
    assert crop.output_size(8, 6) == (4, 3)
    scaled = DynamicCrop(scaleX=2.0, scaleY=2.0, interpolation="Bilinear").apply(IMG, CTX)
    assert scaled.pixels.shape == (3, 12, 16)
    # 2x bilinear upscale of a ramp keeps the ramp (interior): out(j) = src((j + 0.5)/2 − 0.5)
    ramp = Image(np.tile(np.arange(8, dtype=np.float32) / 10, (1, 6, 1)))
    up = DynamicCrop(scaleX=2.0, scaleY=2.0, interpolation="Bilinear").apply(ramp, CTX)
    j = np.arange(2, 14)
    np.testing.assert_allclose(up.pixels[0, 5, 2:14], ((j + 0.5) / 2 - 0.5) / 10, atol=1e-6)


def test_dynamic_crop_small_rotation_keeps_centre_pixel() -> None:
    # rotating about the centre of an odd-sized image keeps the central pixel
    img = Image(RNG.random((1, 9, 9)).astype(np.float32))
    out = DynamicCrop(angle=math.radians(30), interpolation="Lanczos3").apply(img, CTX)
    assert out.pixels[0, 4, 4] == pytest.approx(img.pixels[0, 4, 4], abs=1e-6)
    assert out.pixels[0, 0, 0] == 0.0  # corner rotated outside the source: fill (red = 0)


def test_dynamic_crop_rejects_bad_values() -> None:
    from procfw.errors import ParameterError

    with pytest.raises(ParameterError, match="scaleX"):
        DynamicCrop(scaleX=0.0)
    with pytest.raises(ParameterError, match="angle"):
        DynamicCrop(angle=4.0)


# -- Resample ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "size"),
    [
        ({"xSize": 0.5, "ySize": 0.5}, (50, 30)),
        ({"xSize": 0.3133, "ySize": 0.3133}, (31, 19)),  # round(31.33), round(18.798)
        ({"xSize": 2.0, "ySize": 1.5}, (200, 90)),
        ({"mode": "AbsolutePixels", "xSize": 40, "ySize": 25}, (40, 25)),
        ({"mode": "AbsolutePixels", "absoluteMode": "ForceWidth", "xSize": 50}, (50, 30)),
        ({"mode": "AbsolutePixels", "absoluteMode": "ForceHeight", "ySize": 12}, (20, 12)),
        ({"mode": "AbsoluteInches", "xSize": 1, "ySize": 0.5, "xResolution": 72, "yResolution": 72}, (72, 36)),
        ({"mode": "AbsoluteCentimeters", "xSize": 2.54, "ySize": 2.54}, (72, 72)),
        ({"mode": "ForceArea", "xSize": 1500}, (50, 30)),  # sqrt(1500·100/60), sqrt(1500·60/100)
    ],
)
def test_resample_sizes(params: dict[str, Any], size: tuple[int, int]) -> None:
    assert Resample(**params).new_size(100, 60) == size


def test_resample_output_and_kernel_choice() -> None:
    img = Image(np.full((3, 60, 100), 0.4, dtype=np.float32))
    out = Resample(xSize=0.5, ySize=0.5).apply(img, CTX)
    assert out.pixels.shape == (3, 30, 50) and out.pixels.dtype == np.float32
    np.testing.assert_allclose(out.pixels, 0.4, atol=1e-6)
    # PixInsight's Auto: Mitchell-Netravali over trunc(1.5·ratio) px when that exceeds 2, else bicubic spline
    assert choose_interpolation("Auto", 50, 30, 100, 60, False, 1.5) == ("mitchell", (3, 3))
    assert choose_interpolation("Auto", 75, 45, 100, 60, False, 1.5) == ("bicubic", (2, 2))
    assert choose_interpolation("Auto", 200, 120, 100, 60, False, 1.5) == ("bicubic", (2, 2))
    assert choose_interpolation("CatmullRomSplineFilter", 100, 60, 100, 60, False, 1.5) == ("catmull_rom", (2, 2))
    assert choose_interpolation("Lanczos4", 10, 10, 100, 60, False, 1.5) == ("lanczos4", (2, 2))


def test_resample_bilinear_half_is_block_mean_and_wcs_moves() -> None:
    pixels = RNG.random((1, 8, 10)).astype(np.float32)
    img = Image(
        pixels,
        [
            FITSKeyword("CRPIX1", 5.5),
            FITSKeyword("CRPIX2", 4.5),
            FITSKeyword("CDELT1", -0.001),
            FITSKeyword("CDELT2", 0.001),
        ],
    )
    out = Resample(xSize=0.5, ySize=0.5, interpolation="Bilinear").apply(img, CTX)
    np.testing.assert_allclose(out.pixels[0], pixels[0].reshape(4, 2, 5, 2).mean(axis=(1, 3)), atol=1e-6)
    # FITS pixel p (1-based) -> (p − 0.5)/2 + 0.5: the same sky point
    assert out.keyword("CRPIX1") == pytest.approx((5.5 - 0.5) / 2 + 0.5)
    assert out.keyword("CRPIX2") == pytest.approx((4.5 - 0.5) / 2 + 0.5)
    assert out.keyword("CDELT1") == pytest.approx(-0.002)


# -- IntegerResample --------------------------------------------------------------------
BLOCKS = Image(np.array([[[1, 2, 5, 9], [3, 4, 7, 7], [0, 0, 2, 2], [0, 8, 2, 6]]], dtype=np.float32) / 10)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("Average", [[2.5, 7.0], [2.0, 3.0]]),
        ("Median", [[2.5, 7.0], [0.0, 2.0]]),
        ("Maximum", [[4, 9], [8, 6]]),
        ("Minimum", [[1, 5], [0, 2]]),
    ],
)
def test_integer_resample_downsampling_modes(mode: str, expected: list[list[float]]) -> None:
    out = IntegerResample(zoomFactor=-2, downsamplingMode=mode).apply(BLOCKS, CTX)
    np.testing.assert_allclose(out.pixels[0], np.array(expected) / 10, atol=1e-7)


def test_integer_resample_upsampling_and_remainder() -> None:
    up = IntegerResample(zoomFactor=3).apply(SMALL, CTX)
    assert up.pixels.shape == (1, 6, 9)
    np.testing.assert_array_equal(up.pixels[0, 0:3, 0:3], np.float32(0.1))
    np.testing.assert_array_equal(up.pixels[0, 3:6, 6:9], np.float32(0.6))
    # 3 columns downsampled by 2: the third column is dropped
    down = IntegerResample(zoomFactor=-2).apply(SMALL, CTX)
    np.testing.assert_allclose(down.pixels[0], [[(1 + 2 + 4 + 5) / 40]], atol=1e-7)
    assert IntegerResample(zoomFactor=1).apply(SMALL, CTX) is SMALL


def test_integer_resample_alias_and_wcs() -> None:
    assert IntegerResample.from_parameters({"subsampleMode": "Median"}).downsamplingMode == "Median"
    img = Image(np.zeros((1, 8, 8), np.float32), [FITSKeyword("CRPIX1", 10.5), FITSKeyword("CRPIX2", 3.0)])
    out = IntegerResample(zoomFactor=-2).apply(img, CTX)
    assert out.keyword("CRPIX1") == pytest.approx((10.5 - 0.5) / 2 + 0.5)
    assert out.keyword("CRPIX2") == pytest.approx((3.0 - 0.5) / 2 + 0.5)


# -- framework behaviour ----------------------------------------------------------------
def test_geometry_change_drops_previews_and_mask_and_refuses_previews() -> None:
    ws = Workspace()
    win = ws.add_image(Image(RNG.random((1, 8, 8)).astype(np.float32)), "img")
    ws.add_image(Image(np.ones((1, 8, 8), np.float32)), "mask")
    ws.set_mask("img", "mask")
    preview = win.add_preview(0, 0, 4, 4)
    ok, why = IntegerResample().can_execute_on(preview)
    assert not ok and "previews" in why
    IntegerResample(zoomFactor=-2).execute_on(win.main_view)
    assert win.image.pixels.shape == (1, 4, 4)
    assert win.previews == {} and win.mask is None
    win.main_view.undo()
    assert win.image.pixels.shape == (1, 8, 8)


def test_corpus_geometry_icons_load_and_run() -> None:
    img = Image(RNG.random((3, 80, 100)).astype(np.float32))
    counts = {}
    for cls in (DynamicCrop, Resample, IntegerResample, FastRotation):
        instances = corpus_instances(cls.process_id)
        counts[cls.process_id] = len(instances)
        for name, instance in instances:
            out = instance.apply(img, CTX)
            assert out.pixels.dtype == np.float32, name
            if cls is Resample:
                assert (out.width, out.height) == instance.new_size(100, 80), name
            if cls is IntegerResample:
                assert out.pixels.shape == (3, 40, 50), name
            if cls is DynamicCrop:  # the corpus crops are identities
                np.testing.assert_array_equal(out.pixels, img.pixels)
    assert counts["DynamicCrop"] >= 4 and counts["Resample"] >= 4 and counts["IntegerResample"] >= 1


@pytest.mark.parametrize(
    "process",
    [
        FastRotation(mode="Rotate90CW"),
        FastRotation(mode="HorizontalMirror"),
        DynamicCrop(angle=math.radians(30), interpolation="Bilinear"),
        DynamicCrop(angle=math.radians(-90), refWidth=4, outWidth=3, refHeight=3, outHeight=4),
        DynamicCrop(centerX=0.4, centerY=0.6, refWidth=8, outWidth=5, scaleX=1.5, scaleY=1.5, interpolation="Bilinear"),
        IntegerResample(zoomFactor=3),
        Resample(xSize=0.5, ySize=0.75),
        Resample(xSize=2.0, ySize=2.0, interpolation="Lanczos3"),
    ],
)
def test_wcs_follows_the_pixels(process: Any) -> None:
    """The sky position of an image feature is the same before and after (checked with astropy.wcs)."""
    from astropy.wcs import WCS

    cards = [
        FITSKeyword("CTYPE1", "RA---TAN"), FITSKeyword("CTYPE2", "DEC--TAN"),
        FITSKeyword("CRVAL1", 150.0), FITSKeyword("CRVAL2", 30.0),
        FITSKeyword("CRPIX1", 3.2), FITSKeyword("CRPIX2", 4.1),
        FITSKeyword("CD1_1", -2e-4), FITSKeyword("CD1_2", 1e-5), FITSKeyword("CD2_1", 2e-5), FITSKeyword("CD2_2", 2e-4),
    ]  # fmt: skip
    yy, xx = np.mgrid[0:30, 0:40]
    # a well-sampled "star" (Gaussian, sigma 2 px) at x = 21.3, y = 13.6 (0-based), away from the edges
    pixels = np.exp(-((xx - 21.3) ** 2 + (yy - 13.6) ** 2) / 8.0).astype(np.float32)[None]
    before = Image(pixels, cards)
    after = process.apply(before, CTX)

    def wcs_of(image: Image) -> WCS:
        return WCS({card.name: card.value for card in image.keywords})

    star_sky = wcs_of(before).pixel_to_world_values(21.3, 13.6)
    # where the star landed: intensity-weighted centroid of the output
    p = after.pixels[0].astype(np.float64)
    ys, xs = np.mgrid[0 : p.shape[0], 0 : p.shape[1]]
    cx, cy = (p * xs).sum() / p.sum(), (p * ys).sum() / p.sum()
    moved_sky = wcs_of(after).pixel_to_world_values(cx, cy)
    np.testing.assert_allclose(moved_sky, star_sky, atol=4e-6)  # 0.02 px


# -- output size against the memory limit ------------------------------------------------------
@pytest.mark.parametrize(
    ("process", "fragment"),
    [
        (Resample(xSize=1_000_000, ySize=1_000_000), "Resample -xSize=1000000.0 -ySize=1000000.0"),
        (Resample(xSize=1e9, ySize=3, mode="AbsolutePixels"), "-mode=AbsolutePixels -absoluteMode="),
        (IntegerResample(zoomFactor=16), "IntegerResample -zoomFactor=16"),
        (DynamicCrop(scaleX=10_000, scaleY=10_000, angle=0.1), "DynamicCrop -outWidth=1.0"),
        (DynamicCrop(outWidth=100_000, outHeight=100_000), "-scaleY=1.0"),
    ],
)
def test_geometry_output_over_the_memory_limit_fails_before_allocating(process: Any, fragment: str) -> None:
    import time

    from procfw.errors import ExecutionError
    from procfw.io.limits import limits

    workspace = Workspace()
    view = workspace.add_image(Image(np.full((3, 64, 64), 0.25, np.float32)), "img").main_view
    started = time.perf_counter()
    with limits(image_bytes=1 << 20), pytest.raises(ExecutionError) as info:
        process.execute_on(view)
    assert time.perf_counter() - started < 2
    message = str(info.value)
    assert fragment in message and "bytes" in message and str(1 << 20) in message, message
    assert "PROCFW_MAX_IMAGE_BYTES" in message
    assert view.history.processes() == [] and view.image.pixels.shape == (3, 64, 64)


def test_default_limit_refuses_a_million_squared_resample(monkeypatch: pytest.MonkeyPatch) -> None:
    from procfw.errors import ExecutionError

    monkeypatch.delenv("PROCFW_MAX_IMAGE_BYTES", raising=False)
    view = Workspace().add_image(Image(np.zeros((1, 8, 8), np.float32)), "img").main_view
    with pytest.raises(ExecutionError, match=r"1000000x1000000 float32 image of 4000000000000 bytes"):
        Resample(xSize=1_000_000, ySize=1_000_000, mode="AbsolutePixels").execute_on(view)


def test_fast_rotation_and_new_image_check_their_size(monkeypatch: pytest.MonkeyPatch) -> None:
    from processes.utility.newimage import NewImage
    from procfw.errors import ExecutionError

    monkeypatch.setenv("PROCFW_MAX_IMAGE_BYTES", "1K")
    view = Workspace().add_image(Image(np.zeros((1, 20, 20), np.float32)), "img").main_view
    with pytest.raises(ExecutionError, match="FastRotation -mode=Rotate90CW: the result would be a 1x20x20 float32"):
        FastRotation(mode="Rotate90CW").execute_on(view)
    workspace = Workspace()
    with pytest.raises(ExecutionError, match=r"NewImage -width=100000 -height=100000 -numberOfChannels=1 "
                                             r"-sampleFormat=f64: .* 80000000000 bytes"):
        NewImage(width=100_000, height=100_000, sampleFormat="f64").execute_global(workspace)
    assert len(workspace) == 0
    monkeypatch.setenv("PROCFW_MAX_IMAGE_BYTES", "1M")
    NewImage(width=16, height=16).execute_global(workspace)
    FastRotation(mode="Rotate90CW").execute_on(view)
    assert view.image.pixels.shape == (1, 20, 20)
