"""ImageIntegration: schema, normalization, weights, every rejection algorithm, streaming.

Reference values are computed independently in this file: hand-checked numbers for small
stacks, a plain per-pixel Python transcription of PixInsight's winsorized sigma clipping,
brute-force Sn, and synthetic frames whose truth is known.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import numpy as np
import pytest

from processes.integration import ImageIntegration
from processes.integration.normalization import output_normalization
from processes.integration.rejection import sn_of_sorted
from processes.integration.sorting import sort_stack
from procfw.errors import ExecutionError, ParameterError, ProcfwError
from procfw.image import FITSKeyword, Image
from procfw.io.fits import write_fits
from procfw.process import ExecutionContext
from procfw.testing import check_process
from procfw.workspace import Workspace

FAST = dict(
    weightMode="DontCare", normalization="NoNormalization", rejectionNormalization="NoRejectionNormalization",
    evaluateSNR=False, autoMemorySize=False, stackSizeMB=16, bufferSizeMB=0,
)


def write_stack(folder: Path, frames, keywords=None, name: str = "frame") -> list[str]:
    """Write each (H, W) or (C, H, W) array as a float32 FITS file; returns the paths."""
    paths = []
    for i, pixels in enumerate(frames):
        cards = list(keywords[i]) if keywords else []
        path = folder / f"{name}_{i:03d}.fits"
        write_fits(Image(np.asarray(pixels, dtype=np.float32), cards), path)
        paths.append(str(path))
    return paths


def integrate(paths, **params):
    merged = {**FAST, **params}
    return ImageIntegration(images=paths, **merged).run_global(ExecutionContext(workspace=Workspace()))


def constant_frames(values, shape=(4, 5)):
    """Frames whose every pixel is the given value (one value per frame)."""
    return [np.full(shape, v, dtype=np.float32) for v in values]


def stack_frames(stack, shape=(1, 1)):
    """Frames from a per-pixel stack: stack[i] is frame i's value (broadcast to ``shape``)."""
    return [np.full(shape, v, dtype=np.float32) for v in stack]


# --------------------------------------------------------------------------- schema


def test_conformance_and_global_only():
    check_process(ImageIntegration).raise_if_failed()
    ws = Workspace()
    view = ws.add_image(Image(np.zeros((1, 4, 4), np.float32)), "img").main_view
    ok, why = ImageIntegration().can_execute_on(view)
    assert not ok and "global" in why
    ok, why = ImageIntegration().can_execute_global()
    assert not ok and "less than three" in why


def test_pixinsight_ids_and_defaults():
    schema = ImageIntegration.schema()
    assert schema["rejection"].element_ids() == [
        "NoRejection", "MinMax", "PercentileClip", "SigmaClip", "WinsorizedSigmaClip", "AveragedSigmaClip",
        "LinearFit", "CCDClip", "Rejection_ESD", "Rejection_RCR",
    ]
    assert schema["combination"].element_ids() == ["Average", "Median", "Minimum", "Maximum"]
    assert schema["normalization"].element_ids()[:5] == [
        "NoNormalization", "Additive", "Multiplicative", "AdditiveWithScaling", "MultiplicativeWithScaling",
    ]
    assert schema["rejectionNormalization"].element_ids()[:3] == ["NoRejectionNormalization", "Scale", "EqualizeFluxes"]
    assert schema["weightMode"].element_ids()[:7] == [
        "DontCare", "ExposureTime", "SNREstimate", "SignalWeight", "MedianWeight", "AverageWeight", "KeywordWeight",
    ]
    assert [c.id for c in schema["images"].columns] == ["enabled", "path", "drizzlePath", "localNormalizationDataPath"]
    p = ImageIntegration()
    expected = dict(
        combination="Average", normalization="AdditiveWithScaling", rejection="NoRejection",
        rejectionNormalization="Scale", weightMode="PSFSignalWeight", weightScale="WeightScale_BWMV",
        minMaxLow=1, minMaxHigh=1, pcClipLow=0.2, pcClipHigh=0.1, sigmaLow=4.0, sigmaHigh=3.0,
        winsorizationCutoff=5.0, linearFitLow=5.0, linearFitHigh=4.0, esdOutliersFraction=0.3, esdAlpha=0.05,
        esdLowRelaxation=1.0, clipLow=True, clipHigh=True, rangeClipLow=True, rangeLow=0.0, rangeClipHigh=False,
        rangeHigh=0.98, generateRejectionMaps=True, generateIntegratedImage=True, bufferSizeMB=16,
        stackSizeMB=1024, reportRangeRejection=False, mapRangeRejection=True,
    )
    for key, value in expected.items():
        assert getattr(p, key) == pytest.approx(value) if isinstance(value, float) else getattr(p, key) == value, key
    assert schema["sigmaLow"].precision == 3 and schema["esdAlpha"].precision == 2
    # PixInsight's element alias and convenience aliases
    assert p.evolve(weightMode="NoiseEvaluation").weightMode == "SNREstimate"
    assert p.evolve(rejection="ESD").rejection == "Rejection_ESD"
    with pytest.raises(ParameterError, match="winsorizationCutoff"):
        p.evolve(winsorizationCutoff=2.0)


def test_images_accepts_a_glob(tmp_path):
    write_stack(tmp_path, constant_frames([0.1, 0.2, 0.3]))
    p = ImageIntegration(images=str(tmp_path / "frame_*.fits"))
    assert [row[1] for row in p.images] == [str(tmp_path / f"frame_{i:03d}.fits") for i in range(3)]
    assert all(row[0] for row in p.images)
    with pytest.raises(ParameterError, match="images"):
        ImageIntegration(images=str(tmp_path / "nothing_*.fits"))


# --------------------------------------------------------------------------- kernels


@pytest.mark.parametrize("m", list(range(1, 34)))
def test_sort_stack_matches_numpy(m):
    rng = np.random.default_rng(m)
    x = rng.random((m, 300), dtype=np.float32)
    x[:, :40] = np.round(x[:, :40] * 3)  # ties
    assert np.array_equal(sort_stack(x), np.sort(x, axis=0))


def brute_sn(values):
    """Sn = lomed_i himed_j |x_i - x_j| by its definition (ranks n/2+1 and (n+1)/2, 1-based)."""
    n = len(values)
    himed = [sorted(abs(a - b) for b in values)[n // 2] for a in values]
    return sorted(himed)[(n + 1) // 2 - 1]


@pytest.mark.parametrize("m", [2, 3, 4, 5, 8, 9, 16, 17])
def test_sn_matches_definition(m):
    rng = np.random.default_rng(100 + m)
    x = np.sort(rng.normal(size=(m, 60)), axis=0)
    x[:, 0] = np.arange(m) ** 2  # a deterministic column
    got = sn_of_sorted(x)
    want = [brute_sn(list(x[:, j])) for j in range(x.shape[1])]
    assert np.allclose(got, want, rtol=0, atol=1e-12)


def test_normalization_formulas():
    loc = np.array([[0.1, 0.2, 0.15]])
    scale = np.array([[0.01, 0.02, 0.005]])
    a, b = output_normalization("Additive", loc, scale)
    assert np.allclose(a, 1) and np.allclose(b, [[0, -0.1, -0.05]])
    a, b = output_normalization("Multiplicative", loc, scale)
    assert np.allclose(a, [[1, 0.5, 0.1 / 0.15]]) and np.allclose(b, 0)
    a, b = output_normalization("AdditiveWithScaling", loc, scale)
    assert np.allclose(a, [[1, 0.5, 2]]) and np.allclose(b, [[0, 0.1 - 0.5 * 0.2, 0.1 - 2 * 0.15]])
    a, b = output_normalization("MultiplicativeWithScaling", loc, scale)
    assert np.allclose(a, [[1, 0.5 * 0.5, 2 * 0.1 / 0.15]]) and np.allclose(b, 0)


# --------------------------------------------------------------------------- hand-made stacks


def test_minmax_exact_counts(tmp_path):
    # 5 frames, each a constant: minMaxLow=1 rejects frame 0 (lowest), minMaxHigh=2 frames 3 and 4.
    paths = write_stack(tmp_path, constant_frames([0.10, 0.20, 0.30, 0.40, 0.50]))
    out = integrate(paths, rejection="MinMax", minMaxLow=1, minMaxHigh=2)
    pixels = 20
    assert out.outputs["totalRejectedLowRK"] == pixels
    assert out.outputs["totalRejectedHighRK"] == 2 * pixels
    frames = out.outputs["frames"]
    assert [f["rejectedLow"][0] for f in frames] == [pixels, 0, 0, 0, 0]
    assert [f["rejectedHigh"][0] for f in frames] == [0, 0, 0, pixels, pixels]
    assert frames[3]["rejectedHighPercent"][0] == pytest.approx(100.0)
    assert np.allclose(out.new_images["integration"].pixels, (0.2 + 0.3) / 2)
    assert np.allclose(out.new_images["rejection_low"].pixels, 1 / 5)
    assert np.allclose(out.new_images["rejection_high"].pixels, 2 / 5)


def test_percentile_clip_exact_counts(tmp_path):
    # median 0.40; low limit 0.2: (0.40 - 0.30)/0.40 = 0.25 > 0.2 -> rejected, 0.34 (0.15) kept;
    # high limit 0.1: (0.45 - 0.40)/0.40 = 0.125 > 0.1 -> rejected, 0.43 (0.075) kept.
    stack = [0.30, 0.34, 0.40, 0.43, 0.45, 0.39, 0.41]
    paths = write_stack(tmp_path, stack_frames(stack, (3, 2)))
    out = integrate(paths, rejection="PercentileClip", pcClipLow=0.2, pcClipHigh=0.1)
    assert out.outputs["totalRejectedLowRK"] == 6 and out.outputs["totalRejectedHighRK"] == 6
    assert [f["rejectedLow"][0] for f in out.outputs["frames"]] == [6, 0, 0, 0, 0, 0, 0]
    assert [f["rejectedHigh"][0] for f in out.outputs["frames"]] == [0, 0, 0, 0, 6, 0, 0]
    kept = [0.34, 0.40, 0.43, 0.39, 0.41]
    assert np.allclose(out.new_images["integration"].pixels, sum(kept) / len(kept), atol=1e-6)


def test_esd_hand_checked(tmp_path):
    stack = [0.50, 0.51, 0.49, 0.50, 0.52, 0.48, 0.50, 0.90]
    # Hand check of the first test statistic: n = 8, k = int(0.3*8) = 2; th = tl = max(1, 2) = 2 and
    # th + tl = 4 < n - 2 = 6 -> trimmed mean of the 4 central values; sh = sample std of all 8.
    x = sorted(stack)
    centre = sum(x[2:6]) / 4
    sh = statistics.stdev(x)
    r_high = (x[-1] - centre) / sh
    from scipy import stats

    t = stats.t.isf(0.05 / 2 / 8, 8 - 2)
    lam0 = t * (8 - 1) / math.sqrt((8 - 2 + t * t) * 8)
    assert r_high > lam0  # 0.90 is an outlier
    # second statistic: without 0.90, n=7, th=max(1, int(2.1)-1)=1, tl=1 -> trimmed mean of 5
    y = x[:-1]
    centre2 = sum(y[1:6]) / 5
    sh2 = statistics.stdev(y)
    r2 = max((centre2 - y[0]) / sh2, (y[-1] - centre2) / sh2)
    t1 = stats.t.isf(0.05 / 2 / 7, 8 - 1 - 2)
    lam1 = t1 * (8 - 2) / math.sqrt((8 - 1 - 2 + t1 * t1) * 7)
    assert r2 < lam1  # nothing else
    paths = write_stack(tmp_path, stack_frames(stack, (2, 3)))
    out = integrate(paths, rejection="Rejection_ESD")
    assert out.outputs["totalRejectedHighRK"] == 6 and out.outputs["totalRejectedLowRK"] == 0
    assert out.outputs["frames"][7]["rejectedHigh"][0] == 6
    assert np.allclose(out.new_images["integration"].pixels, sum(stack[:-1]) / 7, atol=1e-6)


def test_linear_fit_hand_checked(tmp_path):
    # Six values on the line 0.30 + 0.01·rank and one outlier at rank 6 (0.90 instead of 0.36).
    # The L1 line goes through the six: a = 0.30, b = 0.01, adev = (0.90 - 0.36)/7,
    # sigma = 2·adev·sqrt(1 + b²) = 0.15429; the outlier sits (0.90 - 0.36)/sigma = 3.4997 sigma above.
    stack = [0.33, 0.30, 0.35, 0.90, 0.31, 0.34, 0.32]
    adev = (0.90 - 0.36) / 7
    z = (0.90 - 0.36) / (2 * adev * math.sqrt(1 + 0.01**2))
    assert 3.49 < z < 3.51
    paths = write_stack(tmp_path, stack_frames(stack, (2, 2)))
    kept = integrate(paths, rejection="LinearFit", linearFitHigh=4.0)
    assert kept.outputs["totalRejectedHighRK"] == 0
    out = integrate(paths, rejection="LinearFit", linearFitHigh=3.4, generateSlopeMaps=True)
    assert out.outputs["totalRejectedHighRK"] == 4 and out.outputs["totalRejectedLowRK"] == 0
    assert out.outputs["frames"][3]["rejectedHigh"][0] == 4
    # then the six collinear values fit exactly: adev = 0 stops the iteration
    assert np.allclose(out.new_images["integration"].pixels, 0.325, atol=1e-6)
    slope = out.new_images["slope_map"].pixels
    assert np.allclose(slope, math.atan(0.01) / (math.pi / 4), atol=1e-5)


def test_exposure_time_weights_exact(tmp_path):
    values, times = [0.2, 0.4, 0.6], [1.0, 2.0, 3.0]
    keywords = [[FITSKeyword("EXPTIME", t)] for t in times]
    paths = write_stack(tmp_path, constant_frames(values), keywords)
    out = integrate(paths, weightMode="ExposureTime")
    assert np.allclose(out.new_images["integration"].pixels, (0.2 * 1 + 0.4 * 2 + 0.6 * 3) / 6, atol=1e-7)
    assert [f["weight"][0] for f in out.outputs["frames"]] == pytest.approx([1, 2, 3])
    assert [row[0] for row in out.outputs["imageData"]] == pytest.approx([1, 2, 3])
    with pytest.raises(ExecutionError, match="EXPTIME"):
        integrate(write_stack(tmp_path, constant_frames(values), name="noexp"), weightMode="ExposureTime")


def test_keyword_and_csv_weights(tmp_path):
    values = [0.2, 0.4, 0.6]
    keywords = [[FITSKeyword("MYWGT", w)] for w in (3, 1, 1)]
    paths = write_stack(tmp_path, constant_frames(values), keywords)
    out = integrate(paths, weightMode="KeywordWeight", weightKeyword="MYWGT")
    assert np.allclose(out.new_images["integration"].pixels, (0.6 + 0.4 + 0.6) / 5, atol=1e-7)
    out = integrate(paths, csvWeights="1, 0, 1", minWeight=0.0)
    assert np.allclose(out.new_images["integration"].pixels, 0.4, atol=1e-7)


def test_median_minimum_maximum(tmp_path):
    paths = write_stack(tmp_path, constant_frames([0.5, 0.1, 0.3, 0.9]))
    assert np.allclose(integrate(paths, combination="Median").new_images["integration"].pixels, 0.4)
    assert np.allclose(integrate(paths, combination="Minimum").new_images["integration"].pixels, 0.1)
    assert np.allclose(integrate(paths, combination="Maximum").new_images["integration"].pixels, 0.9)
    # with rejection: MinMax 1/1 leaves 0.3 and 0.5
    out = integrate(paths, combination="Median", rejection="MinMax")
    assert np.allclose(out.new_images["integration"].pixels, 0.4)


def test_range_rejection_ignores_zeros(tmp_path):
    frames = constant_frames([0.2, 0.3, 0.4, 0.5])
    frames[1][:, :2] = 0.0  # a registration border
    paths = write_stack(tmp_path, frames)
    out = integrate(paths, rejection="SigmaClip")
    pixels = out.new_images["integration"].pixels[0]
    assert np.allclose(pixels[:, :2], (0.2 + 0.4 + 0.5) / 3, atol=1e-6)
    assert np.allclose(pixels[:, 2:], 0.35, atol=1e-6)
    assert out.outputs["frames"][1]["rangeRejectedLow"][0] == 8
    assert out.outputs["totalRejectedLowRK"] == 0  # range rejections are not reported by default
    assert np.allclose(out.new_images["rejection_low"].pixels[0, :, :2], 1 / 4)  # but mapped
    reported = integrate(paths, rejection="SigmaClip", reportRangeRejection=True, mapRangeRejection=False)
    assert reported.outputs["totalRejectedLowRK"] == 8
    assert np.allclose(reported.new_images["rejection_low"].pixels, 0)


def test_all_rejected_takes_median_of_all(tmp_path):
    paths = write_stack(tmp_path, constant_frames([0.1, 0.2, 0.6]))
    out = integrate(paths, rejection="MinMax", minMaxLow=2, minMaxHigh=2)
    assert np.allclose(out.new_images["integration"].pixels, 0.2)


# --------------------------------------------------------------------------- winsorized vs a transcription


def _median(x):
    n = len(x)
    return x[n // 2] if n % 2 else (x[n // 2 - 1] + x[n // 2]) / 2


def _winsorization(x, cutoff):
    mean, sigma = _median(x), 1.1926 * brute_sn(x)
    v = list(x)
    it = 0
    while True:
        if 1 + sigma == 1:
            break
        t0, t1 = mean - 1.5 * sigma, mean + 1.5 * sigma
        c0, c1 = mean - cutoff * sigma, mean + cutoff * sigma
        for i, e in enumerate(v):
            if e < t0:
                v[i] = (t0 if e > c0 else mean) if cutoff > 0 else t0
            elif e > t1:
                v[i] = (t1 if e < c1 else mean) if cutoff > 0 else t1
        s0 = sigma
        sigma = 1.134 * statistics.stdev(v)
        mean = statistics.fmean(v)
        it += 1
        if it > 1 and abs(s0 - sigma) / s0 < 0.0005:
            break
    return mean, sigma


def reference_winsorized(values, low_k, high_k, cutoff):
    """(rejected low, rejected high): PixInsight's loop, one pixel, in plain Python."""
    r = sorted(values)
    low = high = 0
    it = 0
    while len(r) >= 3:
        mean, sigma = _winsorization(r, cutoff if it == 0 else 0.0)
        if 1 + sigma == 1:
            break
        nl = 0
        while nl < len(r) and (mean - r[nl]) / sigma > low_k:
            nl += 1
        nh = 0
        while nh < len(r) - nl and (r[len(r) - 1 - nh] - mean) / sigma > high_k:
            nh += 1
        if nl + nh == 0:
            break
        r = r[nl : len(r) - nh]
        low, high, it = low + nl, high + nh, it + 1
    return low, high


@pytest.mark.parametrize("n, h, w", [(12, 8, 30), (40, 3, 7)])
def test_winsorized_matches_per_pixel_transcription(tmp_path, n, h, w):
    rng = np.random.default_rng(7)
    data = (0.3 + 0.01 * rng.standard_normal((n, h, w))).astype(np.float32)
    hits = rng.random((n, h, w)) < 0.06
    data[hits] += rng.uniform(0.05, 0.5, size=hits.sum()).astype(np.float32)
    cold = rng.random((n, h, w)) < 0.03
    data[cold] -= rng.uniform(0.04, 0.2, size=cold.sum()).astype(np.float32)
    paths = write_stack(tmp_path, list(data))
    out = integrate(paths, rejection="WinsorizedSigmaClip", sigmaLow=3.0, sigmaHigh=2.5, stackSizeMB=1)
    low_map = np.rint(out.new_images["rejection_low"].pixels[0] * n).astype(int)
    high_map = np.rint(out.new_images["rejection_high"].pixels[0] * n).astype(int)
    want_low = np.zeros((h, w), int)
    want_high = np.zeros((h, w), int)
    for y in range(h):
        for x in range(w):
            want_low[y, x], want_high[y, x] = reference_winsorized(
                [float(v) for v in data[:, y, x]], 3.0, 2.5, 5.0
            )
    assert want_high.sum() > 0.2 * h * w and want_low.sum() > 0.02 * h * w
    assert np.array_equal(low_map, want_low)
    assert np.array_equal(high_map, want_high)


# --------------------------------------------------------------------------- synthetic sky


def sky(h=96, w=120, seed=3):
    """Truth: gradient background plus Gaussian stars (values ~0.1 .. 0.6)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    truth = 0.1 + 0.03 * xx / w + 0.02 * yy / h
    for _ in range(12):
        x0, y0, amp = rng.uniform(5, w - 5), rng.uniform(5, h - 5), rng.uniform(0.1, 0.4)
        truth += amp * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * 1.5**2))
    return truth


def sky_frames(truth, n=12, sigma=0.01, seed=5, scales=None, offsets=None, outliers=True):
    """Frames a_i·(truth + noise) + b_i; with ``outliers``, dithered hot pixels in every frame
    (never two at one pixel, none on the trails), a horizontal trail in frame 3 (rows 40-41)
    and a diagonal one in frame 8 (rows >= 50, so the trails never cross)."""
    rng = np.random.default_rng(seed)
    h, w = truth.shape
    scales = scales if scales is not None else np.ones(n)
    offsets = offsets if offsets is not None else np.zeros(n)
    yy, xx = np.mgrid[0:h, 0:w]
    diagonal = (np.abs(yy - 0.5 * xx - 50) < 1.0) & (yy >= 50)
    free = np.flatnonzero(~(diagonal | ((yy >= 40) & (yy < 42))).ravel())
    hot = rng.permutation(free)[: 20 * n].reshape(n, 20)
    frames = []
    for i in range(n):
        f = truth + sigma * rng.standard_normal((h, w))
        if outliers:
            f.reshape(-1)[hot[i]] = 0.95
            if i == 3:
                f[40:42, :] = 0.9  # satellite trail
            if i == 8:
                f[diagonal] = 0.85  # a second, diagonal trail
        frames.append((scales[i] * f + offsets[i]).astype(np.float32))
    return frames


TRAIL = (slice(40, 42), slice(None))


@pytest.mark.parametrize(
    "rejection, extra",
    [
        ("MinMax", {}),
        ("PercentileClip", {"pcClipLow": 0.3, "pcClipHigh": 0.3}),
        ("SigmaClip", {"sigmaHigh": 2.5}),
        ("WinsorizedSigmaClip", {}),
        ("AveragedSigmaClip", {"sigmaHigh": 2.5}),
        ("LinearFit", {"linearFitHigh": 3.0}),
        ("CCDClip", {}),
        ("Rejection_ESD", {}),
        ("Rejection_RCR", {}),
    ],
)
def test_every_rejection_removes_trails_and_hot_pixels(tmp_path, rejection, extra):
    truth = sky()
    scales = np.linspace(0.8, 1.2, 12)
    offsets = np.linspace(0.05, -0.03, 12)
    paths = write_stack(tmp_path, sky_frames(truth, scales=scales, offsets=offsets))
    out = integrate(paths, rejection=rejection, normalization="AdditiveWithScaling",
                    rejectionNormalization="Scale", **extra)
    result = out.new_images["integration"].pixels[0].astype(np.float64)
    reference = scales[0] * truth + offsets[0]  # the result is on the reference frame's scale
    error = result - reference
    noise = 0.01 * scales[0]
    assert np.abs(error[TRAIL]).mean() < 3 * noise / np.sqrt(10), rejection
    assert np.abs(error[TRAIL]).max() < 8 * noise, rejection
    assert np.abs(error).max() < 8 * noise, rejection  # no hot pixel or trail pixel survives
    assert out.outputs["totalRejectedHighRK"] >= 2 * 120  # at least the horizontal trail
    high = out.new_images["rejection_high"].pixels[0]
    assert (high[TRAIL] >= 1 / 12 - 1e-6).all()
    assert 0 <= high.min() and high.max() <= 1


def test_noise_of_plain_average_is_sigma_over_sqrt_n(tmp_path):
    n, sigma = 16, 0.02
    rng = np.random.default_rng(11)
    truth = np.full((80, 100), 0.3)
    frames = [(truth + sigma * rng.standard_normal(truth.shape)).astype(np.float32) for _ in range(n)]
    out = integrate(write_stack(tmp_path, frames))
    residual = out.new_images["integration"].pixels[0] - truth
    assert np.std(residual) == pytest.approx(sigma / np.sqrt(n), rel=0.05)
    assert "rejection_low" not in out.new_images  # no rejection, no maps


def test_normalization_makes_offset_and_scaled_frames_consistent(tmp_path):
    truth = sky(seed=8)
    scales = np.array([1.0, 1.3, 0.7, 1.1, 0.9, 1.2])
    offsets = np.array([0.0, 0.08, -0.02, 0.05, 0.1, -0.04])
    frames = sky_frames(truth, n=6, sigma=0.002, scales=scales, offsets=offsets, outliers=False)
    paths = write_stack(tmp_path, frames)
    plain = integrate(paths, rejection="NoRejection").new_images["integration"].pixels[0]
    norm = integrate(paths, normalization="AdditiveWithScaling").new_images["integration"].pixels[0]
    background = sky(seed=8) < 0.16
    # unnormalized: the average of the scalings; normalized: the reference frame's scale
    assert np.abs(norm - truth)[background].mean() < 0.003
    assert np.abs(plain - truth)[background].mean() > 0.01
    # the same frames already matched give the same result with or without normalization
    same = write_stack(tmp_path, sky_frames(truth, n=6, sigma=0.002, outliers=False), name="same")
    a = integrate(same).new_images["integration"].pixels
    b = integrate(same, normalization="AdditiveWithScaling").new_images["integration"].pixels
    assert np.abs(a - b).max() < 2e-4


def test_snr_weights_favour_quiet_frames(tmp_path):
    rng = np.random.default_rng(4)
    truth = np.full((128, 128), 0.25)
    sigmas = [0.005, 0.005, 0.02, 0.02]
    frames = [(truth + s * rng.standard_normal(truth.shape)).astype(np.float32) for s in sigmas]
    # (with scaling normalization, pure-noise frames would be scaled to equal noise: use Additive)
    out = integrate(write_stack(tmp_path, frames), weightMode="SNREstimate", normalization="Additive")
    weights = [f["weight"][0] for f in out.outputs["frames"]]
    # inverse variance: (0.005/0.02)^2 = 1/16
    assert weights[1] == pytest.approx(1, rel=0.1)
    assert weights[2] == pytest.approx(1 / 16, rel=0.25) and weights[3] == pytest.approx(1 / 16, rel=0.25)
    psf = integrate(write_stack(tmp_path, frames, name="psf"), weightMode="PSFSignalWeight")
    assert any("no stars detected" in m and "SNREstimate" in m for m in psf.messages)  # pure noise: no stars


def _star_field(noise: float, seed: int, size: int = 160) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    plane = np.full((size, size), 0.1)
    for y, x, peak in zip(*np.random.default_rng(1).uniform(10, size - 10, (2, 40)), np.linspace(0.05, 0.6, 40)):
        plane += peak * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 1.4**2))
    return (plane + noise * rng.standard_normal(plane.shape)).astype(np.float32)


def test_psf_signal_weights_are_measured_as_subframe_selector_measures_them(tmp_path):
    """PixInsight's default weight mode: each frame's PSF signal weight (star photometry over
    noise); the noisier frames weigh less, by the measured ratio."""
    from processes.kernels.subframe import MeasureSettings, measure_subframe

    frames = [_star_field(noise, seed) for seed, noise in enumerate((0.002, 0.002, 0.008, 0.008))]
    paths = write_stack(tmp_path, frames)
    out = integrate(paths, weightMode="PSFSignalWeight", normalization="Additive")
    assert not any("weights were used" in m for m in out.messages), out.messages
    weights = [f["weight"][0] for f in out.outputs["frames"]]
    measured = [measure_subframe(Image(f[None]), MeasureSettings())["PSFSignalWeight"] for f in frames]
    assert weights == pytest.approx([m / measured[0] for m in measured], rel=1e-6)
    assert max(weights[2:]) < 0.5 * min(weights[:2])
    scale = integrate(paths, weightMode="PSFScaleSNR")
    assert any("PSFScaleSNR needs local normalization data" in m for m in scale.messages)  # no .xnml files


# --------------------------------------------------------------------------- streaming and execution


def test_rgb_roi_and_64bit(tmp_path):
    rng = np.random.default_rng(9)
    base = np.stack([np.full((20, 30), v) for v in (0.2, 0.3, 0.4)])
    frames = [(base + 0.01 * rng.standard_normal(base.shape)).astype(np.float32) for _ in range(5)]
    paths = write_stack(tmp_path, frames)
    out = integrate(paths, useROI=True, roiX0=5, roiY0=2, roiX1=25, roiY1=12, generate64BitResult=True,
                    rejection="SigmaClip")
    image = out.new_images["integration"]
    assert image.pixels.shape == (3, 10, 20) and image.pixels.dtype == np.float64
    assert np.allclose(image.pixels.mean(axis=(1, 2)), [0.2, 0.3, 0.4], atol=0.002)
    want = np.mean([f[:, 2:12, 5:25] for f in frames], axis=0)
    assert np.abs(image.pixels - want).max() < 0.02
    assert out.outputs["numberOfChannels"] == 3 and out.outputs["numberOfPixels"] == 200


def test_execute_global_opens_windows_and_reports(tmp_path):
    truth = sky(h=40, w=50)
    paths = write_stack(tmp_path, sky_frames(truth, n=6)[:6])
    ws = Workspace()
    seen = []
    params = {**FAST, "rejection": "WinsorizedSigmaClip", "evaluateSNR": True}
    result = ImageIntegration(images=paths, **params).execute_global(ws, progress=lambda f, m: seen.append(f))
    assert set(result.created) == {"integration", "rejection_low", "rejection_high"}
    assert seen and seen[-1] >= 0.95 and all(0 <= f <= 1 for f in seen)
    assert result.outputs["finalNoiseEstimateRK"] > 0
    image = ws.view("integration").image
    assert image.keyword("NCOMBINE") == 6
    assert any("WinsorizedSigmaClip" in str(k.value) for k in image.keywords if k.name == "HISTORY")


def test_errors_are_clear(tmp_path):
    paths = write_stack(tmp_path, constant_frames([0.1, 0.2, 0.3]))
    with pytest.raises(ExecutionError, match="LocalNormalization"):
        integrate(paths, normalization="LocalNormalization")
    odd = write_stack(tmp_path, [np.zeros((3, 3))], name="odd")
    with pytest.raises(ExecutionError, match="same geometry"):
        integrate(paths + odd)
    with pytest.raises(ProcfwError, match="no such file"):
        integrate(paths + [str(tmp_path / "missing.fits")])
    with pytest.raises(ExecutionError, match="less than three"):
        integrate(paths[:2])


def test_non_fits_input(tmp_path):
    from procfw.io import write_image

    paths = []
    for i, v in enumerate([0.2, 0.4, 0.6]):
        path = tmp_path / f"f{i}.xisf"
        write_image(Image(np.full((1, 6, 8), v, np.float32)), path)
        paths.append(str(path))
    out = integrate(paths, stackSizeMB=0, bufferSizeMB=0)
    assert np.allclose(out.new_images["integration"].pixels, 0.4)
    assert out.outputs["bands"] == 6  # one row per band: each band reads the files whole


def test_xpsm_icon_round_trip_and_pixinsight_text():
    from procfw.icons import dumps_icons, loads_icons

    p = ImageIntegration(
        images=[(True, "/data/a.fits", "", ""), (False, "/data/b.fits", "", "")],
        rejection="Rejection_ESD", sigmaLow=2.5, weightMode="ExposureTime",
    )
    again = loads_icons(dumps_icons({"II": p}, "xpsm"), "xpsm")
    assert again.icons["II"] == p and not again.warnings
    # the way PixInsight writes it, output properties included (those are ignored with a warning)
    text = """<?xml version="1.0" encoding="UTF-8"?>
<xpsm version="1.0" xmlns="http://www.pixinsight.com/xpsm">
   <instance class="ImageIntegration" id="II_instance">
      <table id="images" rows="1">
         <tr>
            <td id="enabled" value="true"/>
            <td id="path" value="/lights/r_0001.xisf"/>
            <td id="drizzlePath" value=""/>
            <td id="localNormalizationDataPath" value=""/>
         </tr>
      </table>
      <parameter id="combination" value="Median"/>
      <parameter id="weightMode" value="NoiseEvaluation"/>
      <parameter id="rejection" value="WinsorizedSigmaClip"/>
      <parameter id="sigmaHigh" value="2.500"/>
      <parameter id="integrationImageId" value="integration"/>
   </instance>
</xpsm>"""
    loaded = loads_icons(text, "xpsm")
    (icon,) = loaded.icons.values()
    assert icon.combination == "Median" and icon.weightMode == "SNREstimate"
    assert icon.rejection == "WinsorizedSigmaClip" and icon.sigmaHigh == pytest.approx(2.5)
    assert icon.images == ((True, "/lights/r_0001.xisf", "", ""),)


def test_min_weight_leaves_out_bad_frames(tmp_path):
    rng = np.random.default_rng(12)
    truth = np.full((96, 96), 0.25)
    sigmas = [0.05, 0.004, 0.004, 0.004]  # the reference frame itself is the bad one
    frames = [(truth + s * rng.standard_normal(truth.shape)).astype(np.float32) for s in sigmas]
    out = integrate(write_stack(tmp_path, frames), weightMode="SNREstimate", normalization="Additive",
                    minWeight=0.05)
    assert len(out.outputs["frames"]) == 3
    assert any("frame_000" in m and "minWeight" in m for m in out.messages)
    assert out.outputs["frames"][0]["weight"][0] == pytest.approx(1.0)
    residual = out.new_images["integration"].pixels[0] - truth
    assert np.std(residual) == pytest.approx(0.004 / np.sqrt(3), rel=0.1)


def test_final_statistics_of_each_channel_in_threads_equal_one_thread(tmp_path):
    """The result's location, scale and noise, one channel per thread, are the one-thread values in the
    same order of outputs; a grey result reports zeros for G and B after its own channel."""
    rng = np.random.default_rng(5)
    colour = np.clip(0.2 + 0.01 * rng.standard_normal((3, 64, 80)), 0, 1).astype(np.float32)
    image = ImageIntegration(maxBufferThreads=2)
    outputs = {name: {} for name in ("one", "two")}
    ImageIntegration(maxBufferThreads=1)._final_statistics(colour, outputs["one"], 1 << 30)
    image._final_statistics(colour, outputs["two"], 1 << 30)
    assert list(outputs["one"].items()) == list(outputs["two"].items())
    assert all(outputs["two"][f"finalNoiseEstimate{c}"] > 0 for c in ("RK", "G", "B"))
    grey: dict = {}
    image._final_statistics(colour[:1], grey, 1 << 30)
    assert list(grey)[:4] == ["finalLocationEstimateRK", "finalScaleEstimateRK", "finalNoiseEstimateRK",
                              "finalNoiseAlgorithmRK"]
    assert all(grey[f"{key}{c}"] == 0.0 for key in ("finalNoiseEstimate", "finalScaleEstimate",
                                                     "finalLocationEstimate") for c in ("G", "B"))
