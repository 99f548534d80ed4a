"""The area every registered frame covers (the master's auto-crop), from the registration matrices."""

from __future__ import annotations

import math

import numpy as np
import pytest

from processes.workflows.preprocess.crop import Rectangle, common_area

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
