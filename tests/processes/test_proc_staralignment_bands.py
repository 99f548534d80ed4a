"""StarAlignment's file route a band of rows at a time: the frame's pixels are not held while its
stars are detected (read again for the resampling), and a float FITS output is resampled and
written a band at a time (:func:`~processes.staralignment.resample.warp_bands`,
:func:`procfw.io.fits.write_fits_bands`) — the same files as the whole-image route, without a whole
registered image in memory."""

from __future__ import annotations

import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from processes.simulation.starfield import random_field, render_stars, seen_through
from processes.staralignment import StarAlignment
from processes.staralignment.frames import detection_plane, read_for_detection, sample_format_of, write_output
from processes.staralignment.resample import warp, warp_bands
from procfw.image import FITSKeyword, Image
from procfw.io import read_image, write_image

W, H = 203, 171  # odd sizes: the planes of a float32 file start and end inside disk blocks
_TH = math.radians(3.0)
MATRIX = np.array([[math.cos(_TH), -math.sin(_TH), 6.3], [math.sin(_TH), math.cos(_TH), -4.1], [0.0, 0.0, 1.0]])
FIELD = random_field(60, W, H, seed=3)


def _rgb(plane: np.ndarray) -> np.ndarray:
    return np.stack([plane, 0.8 * plane + 0.01, 0.6 * plane + 0.02]).astype(np.float32)


@pytest.fixture
def frames(tmp_path: Path) -> dict[str, Path]:
    reference = render_stars(*FIELD, W, H)
    target = seen_through(MATRIX, *FIELD, W, H)
    paths = {"ref": tmp_path / "ref.fits", "rgb": tmp_path / "rgb.fits", "mono": tmp_path / "mono.fits"}
    write_image(Image(_rgb(reference), [FITSKeyword("OBJECT", "synthetic")]), paths["ref"])
    write_image(Image(_rgb(target), [FITSKeyword("OBJECT", "synthetic"), FITSKeyword("EXPTIME", 10.0)]),
                paths["rgb"])
    write_image(Image(target[None].astype(np.float32)), paths["mono"])
    return paths


def _process(frames: dict[str, Path], out: Path, **options) -> StarAlignment:
    out.mkdir(exist_ok=True)
    return StarAlignment(referenceImage=str(frames["ref"]), referenceIsFile=True, outputDirectory=str(out),
                         outputExtension=".fits", inheritAstrometricSolution=True, overwriteExistingFiles=True,
                         **options)


def _whole_route(process: StarAlignment, path: Path, out: Path) -> Path:
    """What the file route wrote before: the whole registered image, then write_output."""
    out.mkdir(exist_ok=True)
    target = read_image(path)
    reference = read_image(Path(process.referenceImage))
    reg, _ = process._register(target, process._file_reference(keep_pixels=False)[1])
    image, mask, _ = process._resample(target, reference, reg)
    written = write_output(image, out / path.name, sample_format_of(target, process.outputSampleFormat),
                           overwrite=True)
    write_output(Image(mask.astype(np.float32)[None]), out / f"mask_{path.name}", "f32", overwrite=True)
    return written


@pytest.mark.parametrize("name", ["rgb", "mono"])
@pytest.mark.parametrize("sample_format", ["f32", "f64"])
def test_the_band_route_writes_the_files_of_the_whole_route(frames, tmp_path: Path, name: str,
                                                            sample_format: str) -> None:
    process = _process(frames, tmp_path / "out", outputSampleFormat=sample_format, generateMasks=True)
    written, data = process.process_file(0, frames[name], {})
    assert data["interpolation"] == "lanczos3" and data["matchedStars"] >= 10
    expected = _whole_route(process, frames[name], tmp_path / "whole")
    assert Path(written).read_bytes() == expected.read_bytes()
    mask = Path(data["outputMaskFilePath"]).read_bytes()
    assert mask == (tmp_path / "whole" / f"mask_{frames[name].name}").read_bytes()


def test_a_frame_is_never_held_twice_nor_registered_whole(tmp_path: Path, monkeypatch) -> None:
    """The traced memory (numpy's and the compiled kernels') of registering an RGB frame in a pool
    worker (one warp thread) stays below two frames: the frame is not held while its stars are
    detected (the plane and the detection's planes: 1.6 frames), and no whole registered image is
    made (the frame, a band and the warp's source window: 1.8 frames).  The whole route held the
    frame with the detection's planes (2.6 frames), then the frame and its registered copy."""
    import processes.staralignment.resample as resample

    monkeypatch.setattr(resample, "warp_threads", lambda: 1)
    width, height = 1100, 1000
    field = random_field(200, width, height, seed=4)
    paths = {"ref": tmp_path / "ref.fits", "rgb": tmp_path / "rgb.fits"}
    write_image(Image(_rgb(render_stars(*field, width, height))), paths["ref"])
    write_image(Image(_rgb(seen_through(MATRIX, *field, width, height))), paths["rgb"])
    process = _process(paths, tmp_path / "out", outputSampleFormat="f32")
    process.process_file(0, paths["rgb"], {})  # the reference is loaded and kept per process
    frame = 3 * width * height * 4
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        written, _ = process.process_file(0, paths["rgb"], {})
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    assert read_image(written).pixels.shape == (3, height, width)
    assert peak < 2 * frame, (peak, frame)


@pytest.mark.parametrize(("kernel", "channels"), [("lanczos3", 3), ("lanczos3", 1), ("bicubic", 3),
                                                  ("mitchell", 2), ("nearest", 3)])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("ahead", [False, True])
def test_warp_bands_give_the_rows_of_warp(kernel: str, channels: int, threads: int, ahead: bool) -> None:
    rng = np.random.default_rng(7)
    pixels = rng.random((channels, 61, 47), dtype=np.float32)
    h = np.array([[0.98, 0.05, 1.7], [-0.04, 1.01, -2.3], [1e-4, -2e-4, 1.0]])
    whole, mask = warp(pixels, h, (53, 58), kernel=kernel, radius=3, threads=threads)
    rows = 0
    for first, values, covered in warp_bands(pixels, h, (53, 58), kernel=kernel, radius=3, band_rows=9,
                                             threads=threads, ahead=ahead):
        assert first == rows and values.shape == (channels, covered.shape[0], 53)
        assert np.array_equal(values, whole[:, first : first + values.shape[1]])
        assert np.array_equal(covered, mask[first : first + covered.shape[0]])
        rows += values.shape[1]
    assert rows == 58


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", [2, 3, 4])
def test_the_detection_plane_is_numpys_mean_bit_for_bit(dtype, channels: int) -> None:
    rng = np.random.default_rng(channels)
    pixels = (rng.standard_normal((channels, 150, 37)) * 10.0 ** rng.integers(-46, 38, (channels, 150, 37)))
    pixels = pixels.astype(dtype)
    pixels[0, 0, 0] = np.nan
    pixels[1, 1, 1] = np.inf
    pixels[:, 2, 2] = -0.0
    pixels[0, 3, 3], pixels[1, 3, 3] = np.inf, -np.inf
    with np.errstate(all="ignore"):
        expected = pixels[:3].mean(axis=0, dtype=np.float32)
        plane = detection_plane(Image(pixels))
    assert plane.dtype == np.float32
    assert np.array_equal(plane.view(np.uint32), expected.view(np.uint32))


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", ["frame.fits", "frame.xisf"])
def test_read_for_detection_streams_a_fits_frame_into_its_plane(tmp_path: Path, channels: int, name: str) -> None:
    """The plane and image read_for_detection gives are those of read_image; an RGB FITS frame is read a
    band at a time into the plane (traced peak: the plane and two bands' buffers, not the frame and the plane)."""
    rng = np.random.default_rng(channels)
    path = tmp_path / name
    write_image(Image(rng.random((channels, 600, 500), dtype=np.float32), [FITSKeyword("OBJECT", "M94")]), path)
    whole = read_image(path)
    tracemalloc.start()
    try:
        image, plane, reread = read_for_detection(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.array_equal(plane, detection_plane(whole)) and plane.dtype == np.float32
    assert (image.keywords, image.properties, image.sample_format) == (whole.keywords, whole.properties,
                                                                         whole.sample_format)
    assert image.pixels.shape == whole.pixels.shape and reread == (channels > 1)
    assert not reread or not image.pixels.any()
    if channels > 1 and name.endswith(".fits"):
        assert peak < plane.nbytes + whole.pixels.nbytes / 2, (peak, plane.nbytes)  # the whole read: frame + plane


def test_ahead_the_next_band_is_made_while_the_caller_holds_the_current_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """warp_bands(ahead=True): while the caller holds a band, the next one is being made in a thread
    (the caller's slow use of a band, e.g. its write, overlaps the resampling), in other buffers
    (the band held is not overwritten); without ahead nothing is made until asked for."""
    import threading
    import time

    from processes.staralignment import resample

    rng = np.random.default_rng(8)
    pixels = rng.random((3, 40, 30), dtype=np.float32)
    h = np.array([[1.0, 0.01, 0.5], [-0.01, 1.0, 0.3], [0.0, 0.0, 1.0]])
    original = resample._BandSampler.__call__
    for ahead in (False, True):
        made: list[tuple[int, str]] = []

        def recording(self, row0, row1, out, mask, first, made=made):
            made.append((row0, threading.current_thread().name))
            original(self, row0, row1, out, mask, first)

        monkeypatch.setattr(resample._BandSampler, "__call__", recording)
        bands = warp_bands(pixels, h, (30, 40), band_rows=10, threads=1, ahead=ahead)
        first, values, _ = next(bands)
        kept = values.copy()
        deadline = time.monotonic() + 5
        while ahead and len(made) < 2 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert [row for row, _ in made] == ([0, 10] if ahead else [0])
        assert np.array_equal(values, kept)  # the band held is untouched by the next one
        assert sum(1 for _ in bands) == 3
        assert all(name.startswith("warp-ahead") for _, name in made) == ahead
