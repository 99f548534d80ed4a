"""DrizzleIntegration with local normalization (.xnml from LocalNormalization): synthetic truths.

A dithered session of a star field seen through a different transparency ``a_k(x, y)`` and
additive sky ``b_k(x, y)`` per frame (both smooth, defined in reference coordinates, as
LocalNormalization's functions are); the reference frame has its own mild gradient.
LocalNormalization (``scale=64``) fits each registered frame onto the registered reference;
DrizzleIntegration drizzles the *source* frames, each drop normalized by its frame's function
at the drop's reference position.  The master's background is compared with the reference's
noiseless background in 16×16 tiles (the master binned back to the reference grid):

* with LN, the largest tile bias in the central 64×64 pixels is 1.49 σ against the
  reference (the test allows 2 σ; LocalNormalization's own fit leaves about that much: the
  registered frames normalized by the same .xnml files show it too) and 0.79 σ against the
  1× average of the LN-normalized registered frames (allowed: 1 σ), σ = 0.00065 being the
  per-pixel noise of the binned master;
* without LN (the drizzle data carry ImageIntegration's identity normalization, as in LN
  mode), the largest tile bias is 85 σ (the test requires > 10 σ), so it fails if the
  .xnml files are ignored.

Plus: malformed, missing, invalid and wrong-size .xnml files are errors naming the file (and
both sizes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from processes.common.xnml import LocalNormalizationData, read_xnml, write_xnml
from processes.drizzle.process import DrizzleIntegration
from processes.kernels.drizzledata import DrizzleData, write_drizzle_data
from processes.localnormalization.process import LocalNormalization
from procfw.errors import ExecutionError
from procfw.image import Image
from procfw.io import read_image
from procfw.io.fits import write_fits
from procfw.process import ExecutionContext
from procfw.workspace import Workspace

N = 128
FRAMES = 8
NOISE = 0.002
_RNG = np.random.default_rng(11)
_STARS = [(x, y, a) for x, y, a in zip(_RNG.uniform(8, N - 8, 60), _RNG.uniform(8, N - 8, 60),
                                       np.minimum(0.03 * _RNG.pareto(1.5, 60) + 0.03, 0.6))]


def truth(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The noiseless sky + stars at reference coordinates (x, y) (pixel (i, j) centre: j + ½, i + ½)."""
    out = 0.08 + 0.01 * x / N
    for sx, sy, amp in _STARS:
        out = out + amp * np.exp(-((x - sx) ** 2 + (y - sy) ** 2) / (2 * 1.4**2))
    return out


def transparency(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Frame k's transparency a (1 for the reference frame 0; LocalNormalization's default fits one scale)."""
    return np.ones_like(x) if k == 0 else np.full_like(x, 0.85 + 0.02 * k)


def sky(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Frame k's additive b(x, y): the reference's mild tilt, others a plane plus curvature."""
    if k == 0:
        return 0.01 + 0.01 * x / N
    tilt = (0.03 + 0.01 * k) * x / N - (0.02 + 0.005 * k) * y / N
    return 0.03 + 0.005 * k + tilt + 0.02 * ((x - N / 2) ** 2 + (y - N / 3) ** 2) / N**2


def frame(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Frame k's noiseless signal at reference coordinates."""
    return transparency(x, y, k) * truth(x, y) + sky(x, y, k)


def _session(tmp_path: Path) -> tuple[list[str], list[str]]:
    """Source frames with .xdrz (dithered by a translation) and their LocalNormalization .xnml files."""
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:N, 0:N] + 0.5
    shifts = [(0.0, 0.0)] + [tuple(rng.uniform(-2.5, 2.5, 2)) for _ in range(FRAMES - 1)]
    registered, drizzle = [], []
    for k, (dx, dy) in enumerate(shifts):
        # the source sees reference point p at p + (dx, dy); the registered frame is on the reference grid
        src = frame(xx - dx, yy - dy, k) + rng.normal(0, NOISE, (N, N))
        reg = frame(xx, yy, k) + rng.normal(0, NOISE, (N, N))
        write_fits(Image(src.astype(np.float32)[None]), tmp_path / f"f{k}.fits")
        write_fits(Image(reg.astype(np.float32)[None]), tmp_path / f"f{k}_r.fits")
        registered.append(str(tmp_path / f"f{k}_r.fits"))
        h = np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], dtype=np.float64)
        data = DrizzleData(source_file_path=str(tmp_path / f"f{k}.fits"), reference_width=N, reference_height=N,
                           alignment_matrix=h, location=np.zeros(1), reference_location=np.zeros(1),
                           scale=np.ones(1), weight=np.ones(1))
        write_drizzle_data(data, tmp_path / f"f{k}_r.xdrz")
        drizzle.append(str(tmp_path / f"f{k}_r.xdrz"))
    result = LocalNormalization(scale=64, referencePathOrViewId=registered[0], referenceIsView=False,
                                targetItems=registered).execute_global(Workspace())
    assert [r["status"] for r in result.outputs["outputData"]] == ["ok"] * FRAMES
    return drizzle, [str(Path(p).with_suffix(".xnml")) for p in registered]


def run(rows, **params):
    return DrizzleIntegration(inputData=rows, **params).run_global(ExecutionContext(workspace=Workspace()))


def _binned(out) -> np.ndarray:
    """The ×2 master binned 2×2 back onto the reference grid (surface brightness kept)."""
    img = out.new_images["drizzle_integration"].pixels[0].astype(np.float64)
    if out.outputs["outputRangeHigh"] > 1:
        img = img * out.outputs["outputRangeHigh"]
    return img.reshape(N, 2, N, 2).mean(axis=(1, 3))


def _worst_tile_bias(image: np.ndarray, target: np.ndarray, border: int = 32) -> tuple[float, float]:
    """(largest |median| of image − target in 16×16 tiles, per-pixel σ of the difference), borders left out."""
    residual = (image - target)[border:-border, border:-border]
    t = residual.shape[0] // 16
    tiles = residual.reshape(t, 16, t, 16).transpose(0, 2, 1, 3).reshape(t * t, 256)
    medians = np.median(tiles, axis=1)
    sigma = 1.4826 * float(np.median(np.abs(tiles - medians[:, None])))
    return float(np.abs(medians).max()), sigma


def _normalized_average(xnml: list[str]) -> np.ndarray:
    """The registered frames normalized by their .xnml functions and averaged (a 1× LN master)."""
    acc = np.zeros((N, N))
    for path in xnml:
        values = read_image(path.replace(".xnml", ".fits")).pixels[0].astype(np.float64)
        read_xnml(path).normalize_rows(values, 0, np.arange(N))
        acc += values
    return acc / len(xnml)


def test_local_normalization_brings_the_background_to_the_reference(tmp_path):
    drizzle, xnml = _session(tmp_path)
    with_ln = run([(True, d, x) for d, x in zip(drizzle, xnml)], scale=2.0, enableRejection=False)
    without = run([(True, d, "") for d, x in zip(drizzle, xnml)], scale=2.0, enableRejection=False)
    off = run([(True, d, x) for d, x in zip(drizzle, xnml)], scale=2.0, enableRejection=False,
              enableLocalNormalization=False)
    yy, xx = np.mgrid[0:N, 0:N] + 0.5
    reference = frame(xx, yy, 0)
    bias_ln, sigma = _worst_tile_bias(_binned(with_ln), reference)
    bias_raw, _ = _worst_tile_bias(_binned(without), reference)
    bias_1x, _ = _worst_tile_bias(_binned(with_ln), _normalized_average(xnml))
    print(f"worst tile bias / sigma against the reference: with LN {bias_ln / sigma:.2f}, without "
          f"{bias_raw / sigma:.2f}; with LN against the 1x LN average {bias_1x / sigma:.2f} (sigma {sigma:.5f})")
    assert bias_ln < 2.0 * sigma
    assert bias_raw > 10 * sigma
    assert bias_1x < 1.0 * sigma
    np.testing.assert_array_equal(off.new_images["drizzle_integration"].pixels,
                                  without.new_images["drizzle_integration"].pixels)
    assert any("not used" in m for m in off.messages)


def _one_frame(tmp_path: Path, size: tuple[int, int] = (32, 24)) -> str:
    w, h = size
    write_fits(Image(np.full((1, h, w), 0.5, np.float32)), tmp_path / "a.fits")
    data = DrizzleData(source_file_path=str(tmp_path / "a.fits"), reference_width=w, reference_height=h,
                       alignment_matrix=np.eye(3), location=np.zeros(1), reference_location=np.zeros(1),
                       scale=np.ones(1), weight=np.ones(1))
    write_drizzle_data(data, tmp_path / "a.xdrz")
    return str(tmp_path / "a.xdrz")


def _xnml(path: Path, width: int, height: int, a: float = 1.0, b: float = 0.0, channels: int = 1) -> str:
    ones = np.ones((channels, 2, 2), np.float32)
    write_xnml(LocalNormalizationData(scale=16, reference_width=width, reference_height=height,
                                      scale_matrices=a * ones, offset_matrices=b * ones), path)
    return str(path)


def test_a_flat_function_is_applied_exactly(tmp_path):
    """A constant function v' = 2v − 0.3 (with a bias and a global normalization folded in)."""
    f = _one_frame(tmp_path)
    ones = np.ones((1, 3, 3), np.float32)
    write_xnml(LocalNormalizationData(scale=16, reference_width=32, reference_height=24, scale_matrices=2 * ones,
                                      offset_matrices=0.1 * ones, bias=[0.05], global_scale=[0.5],
                                      reference_location=[0.2], target_location=[0.1]), tmp_path / "a.xnml")
    out = run([(True, f, str(tmp_path / "a.xnml"))], scale=1.0, dropShrink=1.0)
    expected = ((2 * (0.5 - 0.05) + 0.1) - 0.1) * 0.5 + 0.2
    np.testing.assert_allclose(out.new_images["drizzle_integration"].pixels, expected, atol=1e-6)


@pytest.mark.parametrize("case, message", [
    ("missing", r"nope\.xnml.*cannot read"),
    ("garbage", r"bad\.xnml"),
    ("size", r"32x24.*40x24"),
    ("channels", r"1 channel\(s\) but the normalization data have 3"),
    ("invalid", r"invalid"),
])
def test_malformed_xnml_is_an_error_naming_the_file(tmp_path, case, message):
    f = _one_frame(tmp_path)
    if case == "missing":
        xnml = str(tmp_path / "nope.xnml")
    elif case == "garbage":
        xnml = str(tmp_path / "bad.xnml")
        Path(xnml).write_text("<xnml version='1.0'><ReferenceGeometry width='x'/></xnml>")
    elif case == "size":
        xnml = _xnml(tmp_path / "s.xnml", 40, 24)
    elif case == "channels":
        xnml = _xnml(tmp_path / "c.xnml", 32, 24, channels=3)
    else:
        xnml = str(tmp_path / "i.xnml")
        write_xnml(LocalNormalizationData(scale=16, reference_width=32, reference_height=24, valid=False), xnml)
    with pytest.raises(ExecutionError, match=message) as info:
        run([(True, f, xnml)], onError="Abort")
    assert Path(xnml).name in str(info.value) and "a.xdrz" in str(info.value)
    with pytest.raises(ExecutionError, match="no file could be integrated.*" + Path(xnml).name):
        run([(True, f, xnml)])  # onError=Continue: the frame is skipped, nothing is left

