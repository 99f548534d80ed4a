"""ImageIntegration on registered frames: the zero borders registration leaves are not statistics.

StarAlignment leaves zeros where a registered frame has no data; each frame's border has its
own width.  PixInsight computes a frame's normalization statistics with range clipping
(PCL's ``IntegrationFile.cpp``: values in (1/65535, 1 − 1/65535) only) and its MRS noise
over the values in (0.00002, 0.99998), so the borders change neither.  The frames here are
one scene (sky, stars) with their own gain, sky offset, noise and border (5 to 40 pixels on
one or two sides); the master must be the reference frame's scene, background and star
fluxes alike.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from processes.integration import ImageIntegration
from procfw.image import Image
from procfw.io.fits import write_fits
from procfw.process import ExecutionContext
from procfw.workspace import Workspace

HEIGHT, WIDTH = 360, 512
SKY, SIGMA = 0.1, 0.01
GAINS = (1.0, 0.85, 1.2, 0.9, 1.1, 0.8, 1.25, 0.95)
OFFSETS = (0.02, 0.06, 0.0, 0.09, 0.03, 0.12, 0.01, 0.05)
BORDERS = ((5, 0), (40, 0), (12, 30), (0, 25), (35, 8), (20, 40), (8, 15), (30, 30))
"""(columns, rows) of zeros of each frame: columns at the right (even frames) or left (odd), rows at the top."""


def _scene(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(sky + stars, stars only): 150 Gaussian stars (FWHM 3 px) on a flat sky."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    stars = np.zeros((HEIGHT, WIDTH))
    sigma = 3.0 / 2.3548
    for y, x, peak in zip(rng.uniform(45, HEIGHT - 45, 150), rng.uniform(45, WIDTH - 45, 150),
                          0.6 * rng.uniform(0.05, 1.0, 150) ** 2):
        stars += peak * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma * sigma))
    return SKY + stars, stars


def _frames(rng: np.random.Generator, scene: np.ndarray) -> list[np.ndarray]:
    """Each frame: gain·(scene + noise) + offset, clipped to [0, 1], with its zero border."""
    out = []
    for i, (gain, offset, (cols, rows)) in enumerate(zip(GAINS, OFFSETS, BORDERS)):
        frame = np.clip(gain * (scene + SIGMA * rng.standard_normal(scene.shape)) + offset, 0, 1).astype(np.float32)
        frame[:, slice(0, cols) if i % 2 else slice(WIDTH - cols, WIDTH)] = 0  # left or right
        frame[:rows] = 0  # top
        out.append(frame)
    return out


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> dict:
    rng = np.random.default_rng(15)
    scene, stars = _scene(rng)
    frames = _frames(rng, scene)
    folder = tmp_path_factory.mktemp("registered")
    paths = []
    for i, frame in enumerate(frames):
        path = folder / f"registered_{i}.fits"
        write_fits(Image(frame), path)
        paths.append(str(path))
    return {"paths": paths, "frames": frames, "scene": scene, "stars": stars}


def _integrate(paths: list[str], **params) -> object:
    settings = dict(normalization="AdditiveWithScaling", rejectionNormalization="Scale", weightMode="SNREstimate",
                    evaluateSNR=False, autoMemorySize=False, stackSizeMB=64, bufferSizeMB=0)
    return ImageIntegration(images=paths, **{**settings, **params}).run_global(ExecutionContext(workspace=Workspace()))


def _common(frames: list[np.ndarray]) -> np.ndarray:
    """Pixels every frame covers."""
    return np.logical_and.reduce([f > 0 for f in frames])


@pytest.mark.parametrize("rejection", ["WinsorizedSigmaClip", "LinearFit", "NoRejection"])
def test_master_of_frames_with_different_borders_matches_the_reference(stack: dict, rejection: str) -> None:
    """Background and star fluxes of the master are the reference frame's.

    Measured on this stack (8 frames, borders of 5–40 px, 3–18 % of a frame): with the
    borders counted in the statistics (procfw before issue 15's fix) the master's background
    was off by +0.29 to +0.32 master σ, its star fluxes by −5.1 % and the SNREstimate weights,
    which should all be 1 (every frame's normalized noise is the same), ranged up to 1.37;
    with the borders left out: background within 0.03 master σ, star fluxes −0.2 % (the
    sampling error of the scale estimates), weights within 1 % of 1.  Asserted: background
    within 0.15 master σ, star fluxes within 0.5 %, weights within 3 %.
    """
    out = _integrate(stack["paths"], rejection=rejection)
    master = out.new_images["integration"].pixels[0].astype(np.float64)
    gain, offset = GAINS[0], OFFSETS[0]
    expected = gain * stack["scene"] + offset
    common = _common(stack["frames"])
    sky = common & (stack["stars"] < 1e-4)
    stars = common & (stack["stars"] > 0.01)
    sigma_master = gain * SIGMA / math.sqrt(len(GAINS))
    background = float(np.mean((master - expected)[sky]))
    flux = float(np.sum(master[stars] - np.median(master[sky])))
    true_flux = float(np.sum(gain * stack["stars"][stars]))
    assert abs(background) < 0.15 * sigma_master
    assert flux == pytest.approx(true_flux, rel=0.005)
    weights = [row["weight"][0] for row in out.outputs["frames"]]
    assert weights == pytest.approx([1.0] * len(GAINS), rel=0.03)


def test_statistics_range_is_pixinsights_narrowed_to_range_rejection() -> None:
    from processes.integration.statistics import STATS_RANGE, statistics_range

    assert STATS_RANGE == (1 / 65535, 1 - 1 / 65535)  # PCL's IntegrationFile.cpp
    assert statistics_range() == STATS_RANGE  # rangeClipLow/High off: PixInsight's range still applies
    assert statistics_range(0.0, None) == STATS_RANGE
    assert statistics_range(0.01, 0.98) == (0.01, 0.98)


def test_frame_statistics_leave_out_zeros_saturation_and_nans(tmp_path) -> None:
    from processes.integration.frames import open_frame
    from processes.integration.statistics import channel_statistics, statistics_range

    rng = np.random.default_rng(2)
    sky = (0.2 + 0.01 * rng.standard_normal((200, 300))).astype(np.float32)
    frame = sky.copy()
    frame[:, :40] = 0  # registration border
    frame[:10] = 1.0  # saturated
    frame[50, 50:60] = np.nan
    frame[60, 60:70] = 0.5 / 65535  # below 1/65535
    write_fits(Image(frame), tmp_path / "f.fits")
    stats = channel_statistics(open_frame(tmp_path / "f.fits"), 0, scale_estimator="WeightScale_MAD",
                               need_noise=True, use_noise_keywords=False)
    kept = frame[(frame > 1 / 65535) & (frame < 1 - 1 / 65535)]
    assert stats.location == pytest.approx(float(np.median(kept)), abs=1e-7)
    assert stats.mean == pytest.approx(float(np.mean(kept, dtype=np.float64)), rel=1e-9)
    assert stats.scale == pytest.approx(float(np.median(np.abs(kept - np.median(kept)))), rel=1e-6)
    assert stats.noise == pytest.approx(0.01, rel=0.05)
    narrowed = channel_statistics(open_frame(tmp_path / "f.fits"), 0, scale_estimator="WeightScale_MAD",
                                  value_range=statistics_range(0.2, None))
    assert narrowed.location == pytest.approx(float(np.median(kept[kept > 0.2])), abs=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_range_selection_equals_numpys(dtype) -> None:
    from processes.integration.estimators import in_range

    rng = np.random.default_rng(3)
    values = rng.uniform(-0.1, 1.1, 1 << 17).astype(dtype)
    values[::97] = np.nan
    values[::89] = 0
    low, high = 1 / 65535, 1 - 1 / 65535
    expected = values[(values > dtype(low)) & (values < dtype(high))]
    got = in_range(values, low, high)  # compiled: 2^17 values
    assert got.dtype == values.dtype and np.array_equal(got, expected)
    assert np.array_equal(in_range(values[:1000], low, high), expected[: np.count_nonzero(
        (values[:1000] > dtype(low)) & (values[:1000] < dtype(high)))])


def test_frame_samples_are_read_once_when_they_fit_in_the_budget(tmp_path, monkeypatch) -> None:
    """When one channel's samples of every frame (8 x 32 KiB) take no more than a quarter of the
    budget and than the result (image and rejection maps: 288 KiB), each frame's statistics sample
    is read once, for its footprint and its statistics (one thread or two); without the maps (96
    KiB) it is read twice.  The statistics, weights and the result are the same every way."""
    from processes.integration.frames import FrameSource

    rng = np.random.default_rng(4)
    paths = []
    for i in range(8):
        frame = (0.2 + 0.01 * rng.standard_normal((3, 32, 256))).astype(np.float32)
        frame[:, :, : 3 + i] = 0  # registration borders: the common footprint leaves them out
        frame[:, 5 + i, 40] = 0.9
        paths.append(tmp_path / f"f{i}.fits")
        write_fits(Image(frame), paths[-1])
    reads: list[tuple[str, int]] = []
    read_channel = FrameSource.read_channel

    def counted(self, channel, rows=None):
        reads.append((self.path.name, channel))
        return read_channel(self, channel, rows)

    monkeypatch.setattr(FrameSource, "read_channel", counted)
    outputs = []
    for threads, maps, times in ((1, True, 1), (2, True, 1), (1, False, 2)):
        reads.clear()
        process = ImageIntegration(
            images=[str(p) for p in paths], rejection="WinsorizedSigmaClip", normalization="AdditiveWithScaling",
            rejectionNormalization="Scale", weightMode="SignalWeight", evaluateSNR=False, autoMemorySize=False,
            stackSizeMB=64, bufferSizeMB=0, maxBufferThreads=threads, generateRejectionMaps=maps)
        out = process.run_global(ExecutionContext(workspace=Workspace()))
        assert len(reads) == times * 3 * len(paths), (threads, maps)
        assert sorted(set(reads)) == sorted((p.name, c) for p in paths for c in range(3))
        assert not any("subsample" in m for m in out.messages)
        outputs.append(out)
    for out in outputs[1:]:
        assert out.outputs["frames"] == outputs[0].outputs["frames"]
        assert np.array_equal(out.new_images["integration"].pixels, outputs[0].new_images["integration"].pixels)
