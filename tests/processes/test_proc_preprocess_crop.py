"""The area every registered frame covers (the master's auto-crop), from the registration matrices."""

from __future__ import annotations

import math

import numpy as np
import pytest

from processes.workflows.preprocess.crop import Rectangle, common_area, covered_columns

IDENTITY = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
SIZE = (120, 80)


def _covered(matrix, source=SIZE, size=SIZE) -> np.ndarray:
    """Brute force: the reference pixels whose mapped position lies in the frame (the warp's own test)."""
    h = np.asarray(matrix, dtype=float)
    ys, xs = np.mgrid[0 : size[1], 0 : size[0]].astype(float)
    d = h[2, 0] * xs + h[2, 1] * ys + h[2, 2]
    u = (h[0, 0] * xs + h[0, 1] * ys + h[0, 2]) / d
    v = (h[1, 0] * xs + h[1, 1] * ys + h[1, 2]) / d
    return (d > 0) & (u >= -0.5) & (u <= source[0] - 0.5) & (v >= -0.5) & (v <= source[1] - 0.5)


def _rotation(degrees: float, dx: float = 0.0, dy: float = 0.0, scale: float = 1.0) -> list[list[float]]:
    a = math.radians(degrees)
    c, s = scale * math.cos(a), scale * math.sin(a)
    return [[c, -s, dx], [s, c, dy], [0.0, 0.0, 1.0]]


def test_a_translation_keeps_what_both_frames_cover():
    shifted = [[1.0, 0.0, 5.0], [0.0, 1.0, -3.0], [0.0, 0.0, 1.0]]  # reference (x, y) is the frame's (x+5, y-3)
    assert common_area([(IDENTITY, SIZE), (shifted, SIZE)], SIZE) == Rectangle(0, 3, 115, 80)
    assert common_area([(IDENTITY, SIZE)], SIZE) == Rectangle(0, 0, 120, 80)


@pytest.mark.parametrize("seed", range(6))
def test_the_rectangle_is_covered_by_every_frame_and_cannot_grow(seed):
    rng = np.random.default_rng(seed)
    frames = [(IDENTITY, SIZE)]
    for _ in range(4):
        matrix = _rotation(rng.uniform(-3, 3), *rng.uniform(-6, 6, 2), scale=rng.uniform(0.98, 1.02))
        matrix[2][:2] = list(rng.uniform(-2e-5, 2e-5, 2))  # a little perspective
        frames.append((matrix, SIZE))
    area = common_area(frames, SIZE)
    assert area is not None
    mask = np.logical_and.reduce([_covered(m) for m, _ in frames])
    assert mask[area.y0 : area.y1, area.x0 : area.x1].all()
    # no side can move out by one pixel and stay covered
    for grown in (Rectangle(area.x0 - 1, area.y0, area.x1, area.y1), Rectangle(area.x0, area.y0 - 1, area.x1, area.y1),
                  Rectangle(area.x0, area.y0, area.x1 + 1, area.y1), Rectangle(area.x0, area.y0, area.x1, area.y1 + 1)):
        inside = 0 <= grown.x0 and 0 <= grown.y0 and grown.x1 <= SIZE[0] and grown.y1 <= SIZE[1]
        assert not inside or not mask[grown.y0 : grown.y1, grown.x0 : grown.x1].all()
    # and no covered rectangle is larger (brute force over every band of rows)
    best = 0
    for y0 in range(SIZE[1]):
        columns = np.ones(SIZE[0], dtype=bool)
        for y1 in range(y0, SIZE[1]):
            columns &= mask[y1]
            run = longest = 0
            for c in columns:
                run = run + 1 if c else 0
                longest = max(longest, run)
            best = max(best, longest * (y1 - y0 + 1))
    assert area.width * area.height == best


def test_frames_that_share_no_pixel_have_no_common_area():
    far = [[1.0, 0.0, 500.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    assert common_area([(IDENTITY, SIZE), (far, SIZE)], SIZE) is None


def test_a_smaller_frame_registered_onto_the_grid():
    half = [[0.5, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 1.0]]  # a frame of half the size (superpixel), scale 2
    area = common_area([(half, (60, 40))], SIZE)
    assert area == Rectangle(0, 0, 120, 80)


def _largest_by_every_band(frames, size) -> Rectangle | None:
    """Brute force: the first largest rectangle over every band of rows [i, j], j >= i, in (i, j) order."""
    width, height = size
    first, last = np.zeros(height), np.full(height, float(width - 1))
    for matrix, source in frames:
        lo, hi = covered_columns(matrix, source, size)
        first, last = np.maximum(first, lo), np.minimum(last, hi)
    best, found = 0, None
    for i in range(height):
        for j in range(i, height):
            left, right = first[i : j + 1].max(), last[i : j + 1].min()
            area = (j - i + 1) * max(int(right - left) + 1, 0)
            if area > best:
                best, found = area, Rectangle(int(left), i, int(right) + 1, j + 1)
    return found


@pytest.mark.parametrize("seed", range(4))
def test_the_largest_rectangle_is_the_first_of_every_band_of_rows(seed, monkeypatch):
    """Bands are searched a chunk of first rows at a time, each from its own first row on (small chunks here)."""
    from processes.workflows.preprocess import crop

    monkeypatch.setattr(crop, "_BAND_CHUNK", 3)
    rng = np.random.default_rng(seed)
    size = (50, 40)
    frames = []
    for degrees in rng.uniform(-35, 35, 2):  # rotated about the centre: the best band starts well below the top
        a = math.radians(degrees)
        dx, dy = 25 - (25 * math.cos(a) - 20 * math.sin(a)), 20 - (25 * math.sin(a) + 20 * math.cos(a))
        frames.append((_rotation(degrees, dx + rng.normal(0, 2), dy + rng.normal(0, 2)), size))
    expected = _largest_by_every_band(frames, size)
    assert expected is not None and common_area(frames, size) == expected


def test_a_master_is_cropped_as_a_view_of_its_pixels():
    """The crop shares the integrated image's pixels (the FITS writer writes a view as it is): no copy."""
    from processes.workflows.preprocess.pipeline import _cropped
    from procfw.image import FITSKeyword, Image

    image = Image(np.random.default_rng(0).random((3, 40, 50), dtype=np.float32), [FITSKeyword("FILTER", "L", "")])
    cropped = _cropped(image, Rectangle(3, 4, 45, 38))
    assert cropped.pixels.shape == (3, 34, 42) and np.shares_memory(cropped.pixels, image.pixels)
    assert np.array_equal(cropped.pixels, image.pixels[:, 4:38, 3:45]) and cropped.keyword("FILTER") == "L"
