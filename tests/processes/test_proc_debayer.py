"""Debayer: PixInsight ids, CFA pattern detection, demosaicing accuracy, real Seestar S50 frames, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import CORPUS
from hypothesis import given, settings
from hypothesis import strategies as st

from processes.debayer.demosaic import bilinear, mosaic, superpixel, vng
from processes.debayer.process import Debayer
from processes.kernels.cfa import CFAPattern, detect_pattern
from processes.simulation import camera as sim
from procfw.errors import ExecutionError
from procfw.image import FITSKeyword, Image
from procfw.io import read_image
from procfw.io.fits import write_fits
from procfw.testing import check_process
from procfw.workspace import Workspace

SEESTAR = CORPUS / "frames" / "seestar-s50" / "M94_2025-03-27_session1"


def _seestar_frames() -> list[Path]:
    frames = sorted(SEESTAR.glob("*.fit")) if SEESTAR.is_dir() else []
    if not frames:
        pytest.skip(f"Seestar frames not found in {SEESTAR}")
    return frames


def _checkerboard(plane: np.ndarray) -> float:
    """Largest 2×2-periodic component of a plane, relative to its mean (0 for a smooth image)."""
    a, b = plane[0::2, 0::2].mean(), plane[0::2, 1::2].mean()
    c, d = plane[1::2, 0::2].mean(), plane[1::2, 1::2].mean()
    mean = (a + b + c + d) / 4
    return float(max(abs(a - b - c + d), abs(a - b + c - d), abs(a + b - c - d)) / 4 / mean)


def _smooth_rgb(h: int = 64, w: int = 80) -> np.ndarray:
    """A smooth natural-looking image: a luminance pattern times slowly varying colours."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    luminance = 0.5 + 0.3 * np.sin(x / 7.0) * np.cos(y / 9.0)
    colour = np.stack([1.0 + 0.1 * np.sin(x / 40.0), 0.8 + 0.0 * x, 0.6 + 0.1 * np.cos(y / 35.0)])
    return (luminance[None] * colour).astype(np.float32)


# -- schema --------------------------------------------------------------------------------


def test_conformance() -> None:
    report = check_process(Debayer)
    report.raise_if_failed()
    assert any("no BAYERPAT keyword" in s for s in report.skipped)
    assert any("one-channel" in s for s in report.skipped)
    forced = check_process(Debayer, instance=Debayer(cfaPattern="RGGB", evaluateNoise=False))
    forced.raise_if_failed()
    assert "executes on a 1-channel view" in forced.passed


def test_pixinsight_ids_and_enumerations() -> None:
    schema = Debayer.schema()
    cfa = schema["cfaPattern"]
    assert cfa.element_ids() == ["Auto", "RGGB", "BGGR", "GBRG", "GRBG", "GRGB", "GBGR", "RGBG", "BGRG"]
    assert [cfa.value_of(e) for e in cfa.element_ids()] == list(range(9))
    assert Debayer.parameter_id("bayerPattern") == "cfaPattern"
    assert Debayer.parameter_id("DebayerMethod") == "debayerMethod"
    method = schema["debayerMethod"]
    assert method.element_ids() == ["SuperPixel", "Bilinear", "VNG"] and method.default == "VNG"
    assert schema["onError"].element_ids() == ["OnError_Continue", "OnError_Abort", "OnError_AskUser"]
    assert [c.id for c in schema["targetItems"].columns] == ["enabled", "image"]
    d = Debayer()
    assert (d.outputPostfix, d.outputExtension, d.outputRGBImages, d.outputSeparateChannels) == ("_d", ".xisf", True,
                                                                                                 False)
    assert d.inputHints == "raw cfa" and d.memoryLoadLimit == pytest.approx(0.85)
    assert not Debayer.is_history_updater and not Debayer.is_maskable


# -- CFA patterns ----------------------------------------------------------------------------


def _raw(keywords, height: int = 4) -> Image:
    return Image(np.zeros((1, height, 6), dtype=np.float32), [FITSKeyword(k, v) for k, v in keywords])


def test_pattern_detection_rules() -> None:
    assert str(detect_pattern(_raw([("BAYERPAT", "GRBG")]))[0]) == "GRBG"
    # an odd X offset swaps the pattern's columns, an odd Y offset its rows
    assert str(detect_pattern(_raw([("BAYERPAT", "GRBG"), ("XBAYROFF", 1)]))[0]) == "RGGB"
    assert str(detect_pattern(_raw([("BAYERPAT", "GRBG"), ("YBAYROFF", 1)]))[0]) == "BGGR"
    assert str(detect_pattern(_raw([("BAYERPAT", "'rggb '"), ("XBAYROFF", 2), ("YBAYROFF", 3)]))[0]) == "GBRG"
    # bottom-up files store the last sensor row first: even height swaps the rows, odd does not
    assert str(detect_pattern(_raw([("BAYERPAT", "GRBG"), ("ROWORDER", "BOTTOM-UP")], 4))[0]) == "BGGR"
    assert str(detect_pattern(_raw([("BAYERPAT", "GRBG"), ("ROWORDER", "BOTTOM-UP")], 5))[0]) == "GRBG"
    assert str(detect_pattern(_raw([("BAYERPAT", "GRBG"), ("ROWORDER", "TOP-DOWN")]))[0]) == "GRBG"
    image = _raw([("BAYERPAT", "GRBG")])
    image.properties["PCL:CFASourcePattern"] = "BGGR"
    assert str(detect_pattern(image)[0]) == "BGGR"
    none, why = detect_pattern(_raw([]))
    assert none is None and "BAYERPAT" in why
    none, why = detect_pattern(_raw([("BAYERPAT", "TRUE")]))
    assert none is None and "unusable BAYERPAT" in why
    assert CFAPattern("GRBG").channel_map(2, 2).tolist() == [[1, 0], [2, 1]]


# -- demosaicing accuracy ------------------------------------------------------------------------


def test_hand_computed_bilinear_and_superpixel() -> None:
    raw = np.arange(16, dtype=np.float32).reshape(4, 4)  # RGGB: R at (0,0),(0,2),(2,0),(2,2)
    rgb = bilinear(raw, CFAPattern("RGGB"))
    # G at the R site (2,2): mean of 6, 9, 11, 14; B at (2,2): mean of 5, 7, 13, 15
    assert rgb[1, 2, 2] == pytest.approx((6 + 9 + 11 + 14) / 4)
    assert rgb[2, 2, 2] == pytest.approx((5 + 7 + 13 + 15) / 4)
    # R at the G site (1,2): mean of the R above and below, 2 and 10; R at B site (1,1): 0, 2, 8, 10
    assert rgb[0, 1, 2] == pytest.approx(6.0)
    assert rgb[0, 1, 1] == pytest.approx(5.0)
    # measured samples are kept
    assert rgb[0, 2, 2] == 10 and rgb[1, 1, 2] == 6 and rgb[2, 1, 1] == 5
    sp = superpixel(raw, CFAPattern("RGGB"))
    assert sp.shape == (3, 2, 2)
    assert sp[:, 0, 0].tolist() == [0.0, 2.5, 5.0]  # R=0, G=(1+4)/2, B=5
    assert superpixel(raw, CFAPattern("GRBG"))[:, 1, 1].tolist() == [11.0, 12.5, 14.0]


@pytest.mark.parametrize("pattern", ["RGGB", "BGGR", "GBRG", "GRBG"])
@pytest.mark.parametrize("shape", [(6, 8), (7, 9)])
def test_cfa_components_are_each_channels_own_samples(pattern: str, shape: tuple[int, int]) -> None:
    """The CFA components Debayer's noise is evaluated on (the SuperPixel demosaic): R from the R sites and
    B from the B sites of each 2×2 cell (not from each other's, as PCL 1.9.2's transposed lookup takes them
    for GRBG/GBRG), G the mean of its two sites; a last odd row or column is left out."""
    rng = np.random.default_rng(7)
    rows, columns = shape
    cells = rng.random((3, 2, rows // 2 + 1, columns // 2 + 1)).astype(np.float32)  # per channel, per site
    cfa = CFAPattern(pattern)
    raw = np.empty(shape, dtype=np.float32)
    seen = {0: 0, 1: 0, 2: 0}
    for y, x in ((0, 0), (0, 1), (1, 0), (1, 1)):
        c = cfa.channel_at(y, x)
        plane = cells[c, seen[c]]
        raw[y::2, x::2] = plane[: len(range(y, rows, 2)), : len(range(x, columns, 2))]
        seen[c] += 1
    components = superpixel(raw, cfa)
    cut = (slice(0, rows // 2), slice(0, columns // 2))
    assert components.shape == (3, rows // 2, columns // 2) and components.dtype == np.float32
    assert np.array_equal(components[0], cells[0, 0][cut])
    assert np.array_equal(components[2], cells[2, 0][cut])
    exact_mean = ((cells[1, 0].astype(np.float64) + cells[1, 1]) / 2).astype(np.float32)
    assert np.array_equal(components[1], exact_mean[cut])  # the exact mean rounded once, as PCL's double sum


@pytest.mark.parametrize("pattern", ["RGGB", "BGGR", "GBRG", "GRBG"])
def test_mosaic_then_demosaic_reconstructs_smooth_images(pattern: str) -> None:
    rgb = _smooth_rgb()
    cfa = CFAPattern(pattern)
    raw = mosaic(rgb, cfa)
    assert np.array_equal(raw, np.take_along_axis(rgb, cfa.channel_map(64, 80)[None].astype(int), 0)[0])
    inner = (slice(None), slice(3, -3), slice(3, -3))
    for method in (bilinear, vng):
        error = np.abs(method(raw, cfa) - rgb)[inner]
        # the curvature error of a 2-pixel interpolation: |f''|·1²/2 ≈ 0.3·0.8/7² ≈ 0.005 at most
        assert float(error.max()) < 0.008, method.__name__
        assert float(np.sqrt(np.mean(error**2))) < 0.002, method.__name__
    # linear ramps are reproduced exactly (to float32 precision) by both methods
    y, x = np.mgrid[0:32, 0:40].astype(np.float32)
    ramp = np.stack([0.2 + 0.003 * x + 0.001 * y, 0.3 + 0.002 * x - 0.002 * y, 0.5 - 0.001 * x + 0.004 * y])
    for method in (bilinear, vng):
        assert np.abs(method(mosaic(ramp, cfa), cfa) - ramp)[:, 2:-2, 2:-2].max() < 1e-6
    # SuperPixel of an image constant over each 2×2 cell is exact
    cells = np.repeat(np.repeat(rgb[:, ::2, ::2], 2, axis=1), 2, axis=2)
    assert np.allclose(superpixel(mosaic(cells, cfa), cfa), rgb[:, ::2, ::2], atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(pattern=st.sampled_from(["RGGB", "BGGR", "GBRG", "GRBG", "GRGB", "GBGR", "RGBG", "BGRG"]),
       height=st.integers(3, 12), width=st.integers(3, 12), seed=st.integers(0, 2**16))
def test_measured_samples_are_kept_and_values_stay_in_range(pattern: str, height: int, width: int, seed: int) -> None:
    cfa = CFAPattern(pattern)
    raw = np.random.default_rng(seed).random((height, width), dtype=np.float32)
    masks = cfa.masks(height, width)
    for method in (bilinear, vng):
        rgb = method(raw, cfa)
        assert rgb.shape == (3, height, width) and rgb.dtype == np.float32
        for c in range(3):
            assert np.array_equal(rgb[c][masks[c]], raw[masks[c]])
        assert float(rgb.min()) >= 0.0 and float(rgb.max()) <= 1.0
    # bilinear interpolates: every value lies within the range of the raw samples
    assert float(bilinear(raw, cfa).max()) <= float(raw.max()) + 1e-7


def _vng_reference(raw: np.ndarray, pattern: CFAPattern) -> np.ndarray:
    """The previous array formulation of VNG (one CFA phase at a time, whole-image temporaries)."""
    from processes.debayer import demosaic as dm

    raw = raw.astype(np.float32)
    height, width = raw.shape
    padded = np.pad(raw, 2, mode="reflect")
    out = np.empty((3, height, width), dtype=np.float32)
    directions = dm._directions()
    for py in (0, 1):
        for px in (0, 1):
            def colour_at(o, py=py, px=px):
                return pattern.channel_at(py + o[0], px + o[1])

            cache: dict = {}

            def s(o, py=py, px=px, cache=cache):
                if o not in cache:
                    y0, x0 = 2 + py + o[0], 2 + px + o[1]
                    cache[o] = padded[y0 : y0 + height - py : 2, x0 : x0 + width - px : 2]
                return cache[o]

            def mean_of(offsets):
                total = s(offsets[0]).copy()
                for o in offsets[1:]:
                    total += s(o)
                if len(offsets) > 1:
                    total /= np.float32(len(offsets))
                return total

            target = out[:, py::2, px::2]
            centre = colour_at((0, 0))
            same_diagonal = colour_at((1, 1)) == centre
            p0 = s((0, 0))
            gradients = []
            for turn_index, (_d, diagonal) in enumerate(directions):
                turn = turn_index // 2
                terms = ((dm._DIAGONAL_TERMS_SAME if same_diagonal else dm._DIAGONAL_TERMS) if diagonal
                         else dm._AXIAL_TERMS)
                g = np.zeros_like(p0)
                for weight, a, b in terms:
                    diff = np.abs(s(dm._rotate(a, turn)) - s(dm._rotate(b, turn)))
                    g += diff if weight == 1.0 else np.float32(weight) * diff
                gradients.append(g)
            grads = np.stack(gradients)
            gmin, gmax = grads.min(axis=0), grads.max(axis=0)
            selected = grads <= np.float32(1.5) * gmin + np.float32(0.5) * (gmax - gmin)
            count = selected.sum(axis=0).astype(np.float32)
            others = [c for c in range(3) if c != centre]
            sums = {c: np.zeros_like(p0) for c in others}
            for (d, _), chosen in zip(directions, selected):
                centre_est = mean_of(dm._estimate_sources(colour_at, d, centre, centre))
                for c in others:
                    est = mean_of(dm._estimate_sources(colour_at, d, c, centre))
                    sums[c] += np.where(chosen, est - centre_est, np.float32(0))
            target[centre] = p0
            for c in others:
                target[c] = p0 + sums[c] / count
    np.clip(out, min(float(raw.min()), 0.0), max(float(raw.max()), 1.0), out=out)
    return out


@pytest.mark.parametrize("pattern", ["RGGB", "BGGR", "GBRG", "GRBG", "GRGB", "GBGR", "RGBG", "BGRG"])
@pytest.mark.parametrize("shape", [(3, 3), (4, 7), (7, 4), (5, 6), (37, 41), (64, 50), (65, 9), (151, 12), (193, 7)])
def test_compiled_vng_equals_the_array_formulation(pattern: str, shape: tuple[int, int]) -> None:
    """The compiled kernel (written-out Bayer rules, table-driven others) is bit-identical."""
    rng = np.random.default_rng(sum(map(ord, pattern)) + shape[0])
    cfa = CFAPattern(pattern)
    raw = rng.random(shape, dtype=np.float32)
    raw[rng.random(shape) < 0.05] = 0.0  # ties between gradients
    assert np.array_equal(vng(raw, cfa), _vng_reference(raw, cfa))
    stars = (rng.random(shape) ** 8).astype(np.float32) * 1.3 - 0.1  # out of [0, 1]: the clipping range
    assert np.array_equal(vng(stars, cfa), _vng_reference(stars, cfa))


@pytest.mark.parametrize("pattern", ["RGGB", "GRBG"])
@pytest.mark.parametrize("value", [0.0, 0.25, 1.0])
def test_compiled_vng_of_a_constant_frame_equals_the_array_formulation(pattern: str, value: float) -> None:
    """Constant frames: every gradient ties at zero, every direction is selected."""
    cfa = CFAPattern(pattern)
    raw = np.full((9, 12), value, dtype=np.float32)
    assert np.array_equal(vng(raw, cfa), _vng_reference(raw, cfa))


def test_compiled_vng_of_a_seestar_crop_equals_the_array_formulation() -> None:
    """A real GRBG frame (a crop with odd height and width, so both phase widths differ)."""
    raw = read_image(_seestar_frames()[0]).pixels[0][:301, :257]
    cfa = CFAPattern("GRBG")
    assert np.array_equal(vng(raw, cfa), _vng_reference(raw, cfa))


@pytest.mark.parametrize("shape", [(3, 3), (3, 4), (4, 3), (5, 8), (8, 5), (9, 12), (64, 51)])
def test_phase_planes_are_those_of_the_padded_frame(shape: tuple[int, int]) -> None:
    """The phase planes made from the raw frame are those of its mirrored padding split by phase
    (``np.pad(raw, 2, mode="reflect")[qy::2, qx::2]``), zero where a phase has a row or column fewer."""
    from processes.debayer import demosaic

    raw = np.random.default_rng(shape[0] * 100 + shape[1]).random(shape, dtype=np.float32)
    padded = np.pad(raw, 2, mode="reflect")
    planes = demosaic._phase_planes(raw)
    assert planes.shape == (4, (shape[0] + 5) // 2, (shape[1] + 5) // 2) and planes.dtype == np.float32
    for qy in (0, 1):
        for qx in (0, 1):
            phase = padded[qy::2, qx::2]
            expected = np.zeros(planes.shape[1:], dtype=np.float32)
            expected[: phase.shape[0], : phase.shape[1]] = phase
            assert np.array_equal(planes[2 * qy + qx], expected)


def test_bayer_vng_frees_the_padded_copy_before_the_phase_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """The padded frame's phase planes are made from the raw frame, before the output and the phases'
    values: while a phase kernel runs, what VNG holds is the planes, the output and one band of a row
    phase's values (traced by tracemalloc, as numpy reports its buffers), not a padded copy nor a
    whole row phase's values; and no padded copy is made at all."""
    import tracemalloc

    from processes.debayer import demosaic, demosaic_nb

    height, width = 400, 600
    raw = np.random.default_rng(3).random((height, width), dtype=np.float32)
    green, red_blue = demosaic_nb.bayer_phase_kernels()
    held: list[int] = []

    def traced(kernel):  # noqa: ANN001, ANN202 - wraps a compiled kernel
        def run(*args):  # noqa: ANN002, ANN202
            held.append(tracemalloc.get_traced_memory()[0])
            return kernel(*args)
        return run

    def padded(raw):  # noqa: ANN001, ANN202 - a Bayer frame is never padded
        raise AssertionError("a padded copy of a Bayer frame")

    monkeypatch.setattr(demosaic_nb, "bayer_phase_kernels", lambda: (traced(green), traced(red_blue)))
    monkeypatch.setattr(demosaic, "_padded", padded)
    expected = vng(raw, CFAPattern("GRBG"))  # compiled kernels loaded before tracing
    assert np.array_equal(expected, _vng_reference(raw, CFAPattern("GRBG")))
    held.clear()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        rgb = vng(raw, CFAPattern("GRBG"))
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert np.array_equal(rgb, expected)
    planes = 4 * ((height + 5) // 2) * ((width + 5) // 2) * 4
    values = 2 * 3 * ((height + 1) // 2) * ((width + 1) // 2) * 4  # both column phases of a row phase
    padded = (height + 4) * (width + 4) * 4
    assert held and max(held) - base < planes + rgb.nbytes + values + padded // 2
    band = 2 * 3 * demosaic._BAND_ROWS * ((width + 1) // 2) * 4
    assert (height + 1) // 2 > 2 * demosaic._BAND_ROWS  # several bands
    small = 65536  # index arrays, the kernels' slots and the like
    assert max(held) - base <= planes + rgb.nbytes + band + small
    assert peak <= planes + rgb.nbytes + band + small


def test_vng_beats_bilinear_at_edges() -> None:
    h, w = 64, 64
    y, x = np.mgrid[0:h, 0:w]
    cfa = CFAPattern("RGGB")
    inner = (slice(None), slice(3, -3), slice(3, -3))
    shapes = {"vertical": x < 31, "horizontal": y < 30, "diagonal": x + y < 63,
              "disc": (x - 32) ** 2 + (y - 30) ** 2 < 300}
    # luminance edges (the colour keeps its hue across the edge, as in astronomical images)
    for bright, dark in (((0.8, 0.8, 0.8), (0.1, 0.1, 0.1)), ((0.8, 0.6, 0.4), (0.2, 0.15, 0.1))):
        for name, inside in shapes.items():
            rgb = np.where(inside[None], np.array(bright)[:, None, None], np.array(dark)[:, None, None])
            rgb = rgb.astype(np.float32)
            raw = mosaic(rgb, cfa)
            e_bil = float(np.sqrt(np.mean((bilinear(raw, cfa) - rgb)[inner] ** 2)))
            e_vng = float(np.sqrt(np.mean((vng(raw, cfa) - rgb)[inner] ** 2)))
            assert e_vng < 0.85 * e_bil, (name, bright, e_bil, e_vng)
    # even an edge between two different hues is reconstructed better
    rgb = np.where((x + y < 63)[None], np.array([0.9, 0.7, 0.4])[:, None, None],
                   np.array([0.1, 0.15, 0.3])[:, None, None]).astype(np.float32)
    raw = mosaic(rgb, cfa)
    assert np.mean((vng(raw, cfa) - rgb)[inner] ** 2) < np.mean((bilinear(raw, cfa) - rgb)[inner] ** 2)


def test_simulated_cfa_light_debayers_to_the_scene_colours() -> None:
    cam = sim.Camera(width=96, height=80, bayer_pattern="GBRG", seed=2, prnu=0.0, vignetting=0.0,
                     transmission=(1.0, 1.0, 1.0), read_noise=0.0)
    scene = sim.Scene(stars=(), sky=500.0, sky_color=(1.0, 0.5, 0.25))
    frame = sim.light_frame(cam, scene, exposure=10, seed=1)
    result = Debayer(evaluateNoise=False).apply(frame.image(), _context())
    rgb = next(iter(result.new_images.values())).pixels.astype(np.float64) * 65535
    means = [float(np.mean(rgb[c] - frame.truth.bias.mean())) for c in range(3)]
    assert means[0] / means[1] == pytest.approx(2.0, rel=0.02) and means[2] / means[1] == pytest.approx(0.5, rel=0.02)


def _context():
    from procfw.process import ExecutionContext

    return ExecutionContext()


# -- the real Seestar S50 frames -------------------------------------------------------------------


@pytest.mark.slow
def test_seestar_auto_pattern_and_sensible_channels() -> None:
    path = _seestar_frames()[0]
    workspace = Workspace()
    window = workspace.open(path)
    raw = window.image.pixels[0]
    result = Debayer(evaluateNoise=False).execute_on(window.main_view)
    assert result.outputs["cfaPattern"] == "GRBG"
    assert result.created == (f"{window.id}_RGB_VNG",)
    rgb = workspace.window(result.created[0]).image.pixels
    assert rgb.shape == (3, 1920, 1080) and rgb.dtype == np.float32
    assert window.image.pixels.shape == (1, 1920, 1080)  # the raw view is unchanged
    assert window.main_view.history.processes() == []  # not a history updater
    pattern = CFAPattern("GRBG")
    masks = pattern.masks(1920, 1080)
    # measured samples are kept: G at the G sites, R at the R sites, B at the B sites
    for c in range(3):
        assert np.array_equal(rgb[c][masks[c]], raw[masks[c]])
    # interpolated green follows the raw greens around it
    from scipy import ndimage

    cross = ndimage.convolve(raw, np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], np.float32) / 4, mode="mirror")
    assert np.corrcoef(rgb[1][~masks[1]], cross[~masks[1]])[0, 1] > 0.8
    # no checkerboard on the sky: the raw 2×2 modulation (R/B vs G levels) is gone
    sky = (slice(128, 384), slice(576, 832))
    assert _checkerboard(raw[sky]) > 0.05
    assert max(_checkerboard(rgb[c][sky]) for c in range(3)) < 0.002
    # the wrong pattern leaves a strong checkerboard: Auto picked the right one
    wrong = vng(raw[sky], CFAPattern("RGGB"))  # the crop starts at even offsets: same pattern
    assert max(_checkerboard(wrong[c]) for c in range(3)) > 0.01


def test_seestar_superpixel_and_bilinear_agree_on_levels() -> None:
    path = _seestar_frames()[0]
    image = read_image(path)
    crop = image.with_pixels(image.pixels[:, 600:856, 300:556].copy())  # even offsets keep the pattern
    pattern = detect_pattern(crop)[0]
    sp = superpixel(crop.pixels[0], pattern)
    bl = bilinear(crop.pixels[0], pattern)
    for c in range(3):
        assert float(np.median(sp[c])) == pytest.approx(float(np.median(bl[c])), rel=0.02)
    # R and B levels of this sky differ from G (raw site medians, hand-checked: R 0.0128, G 0.0152, B 0.0121)
    assert float(np.median(sp[1])) > float(np.median(sp[0])) > float(np.median(sp[2]))


# -- views and previews -------------------------------------------------------------------------------


def test_preview_pattern_follows_the_origin() -> None:
    rgb = _smooth_rgb(40, 50)
    cfa = CFAPattern("RGGB")
    image = Image(mosaic(rgb, cfa)[None], [FITSKeyword("BAYERPAT", "RGGB")])
    workspace = Workspace()
    window = workspace.add_image(image, "raw")
    preview = window.add_preview(3, 5, 33, 35, "odd")
    result = Debayer(evaluateNoise=False, debayerMethod="Bilinear").execute_on(preview)
    assert result.outputs["cfaPattern"] == "BGGR"  # RGGB seen from (3, 5): columns and rows swapped
    out = workspace.window(result.created[0]).image.pixels
    full = bilinear(image.pixels[0], cfa)[:, 5:35, 3:33]
    assert np.allclose(out[:, 2:-2, 2:-2], full[:, 2:-2, 2:-2], atol=1e-6)


def test_multichannel_views_are_refused() -> None:
    workspace = Workspace()
    window = workspace.add_image(Image(np.zeros((3, 8, 8), dtype=np.float32)), "rgb")
    ok, why = Debayer(cfaPattern="RGGB").can_execute_on(window.main_view)
    assert not ok and "one-channel" in why
    with pytest.raises(ExecutionError, match="one-channel"):
        Debayer(cfaPattern="RGGB").execute_on(window.main_view)


def test_separate_channels_on_a_view() -> None:
    workspace = Workspace()
    window = workspace.add_image(Image(mosaic(_smooth_rgb(16, 16), CFAPattern("BGGR"))[None]), "raw")
    result = Debayer(cfaPattern="BGGR", debayerMethod="SuperPixel", outputSeparateChannels=True,
                     evaluateNoise=False).execute_on(window.main_view)
    assert result.created == ("raw_RGB_SuperPixel", "raw_RGB_SuperPixel_R", "raw_RGB_SuperPixel_G",
                              "raw_RGB_SuperPixel_B")
    assert workspace.window("raw_RGB_SuperPixel_G").image.pixels.shape == (1, 8, 8)


# -- files ----------------------------------------------------------------------------------------------


def test_global_execution_over_a_glob(tmp_path: Path) -> None:
    cam = sim.Camera(width=64, height=48, bayer_pattern="GRBG", seed=1)
    scene = sim.random_scene(cam, n_stars=5, seed=1)
    for i in range(2):
        sim.light_frame(cam, scene, seed=i).write(tmp_path / f"raw_{i}.fits")
    write_fits(Image(np.zeros((3, 8, 8), dtype=np.float32)), tmp_path / "raw_rgb.fits")
    write_fits(Image(np.zeros((1, 8, 8), dtype=np.float32)), tmp_path / "raw_nokeyword.fits")
    (tmp_path / "out").mkdir()
    instance = Debayer(targetItems=str(tmp_path / "raw_*.fits"), outputDirectory=str(tmp_path / "out"),
                       outputExtension=".fits")
    result = instance.execute_global(Workspace())
    rows = {Path(r["targetFrame"]).name: r for r in result.outputs["outputData"]}
    assert [rows[f"raw_{i}.fits"]["status"] for i in range(2)] == ["ok", "ok"]
    assert rows["raw_0.fits"]["outputFilePath"] == str(tmp_path / "out" / "raw_0_d.fits")
    assert rows["raw_0.fits"]["cfaPattern"] == "GRBG" and rows["raw_0.fits"]["noiseEstimateG"] > 0
    assert "one-channel" in rows["raw_rgb.fits"]["error"]
    assert "BAYERPAT" in rows["raw_nokeyword.fits"]["error"]
    out = read_image(tmp_path / "out" / "raw_0_d.fits")
    assert out.channels == 3 and out.keyword("BAYERPAT") is None and out.keyword("IMAGETYP") == "Light Frame"
    # outputs exist now: a second run refuses to overwrite them, unless asked
    again = instance.evolve(targetItems=str(tmp_path / "raw_0.fits"))
    with pytest.raises(ExecutionError, match="file exists"):
        again.execute_global(Workspace())
    assert again.evolve(overwriteExistingFiles=True).execute_global(Workspace()).outputs["succeeded"] == 1
    with pytest.raises(ExecutionError, match="raw_nokeyword"):
        instance.evolve(targetItems=str(tmp_path / "raw_nok*.fits"), onError="OnError_Abort").execute_global(
            Workspace())


@pytest.mark.parametrize("algorithm", ["NoiseEvaluation_MRS", "NoiseEvaluation_KSigma"])
def test_noise_estimates_in_threads_equal_the_single_threaded_ones(algorithm: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A task with the machine to itself (a serial run) estimates the three channels in threads; a pool
    worker (OMP_NUM_THREADS=1) one after the other; the estimates are the same."""
    from processes.debayer import process as debayer_process

    monkeypatch.setattr("procfw.batch.available_cores", lambda: 3)
    cam = sim.Camera(width=160, height=120, bayer_pattern="GRBG", seed=4)
    raw = sim.light_frame(cam, sim.random_scene(cam, n_stars=20, seed=4), seed=2)
    components = superpixel(raw.data.astype(np.float32) / 65535, CFAPattern.parse("GRBG"))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    threaded = debayer_process._noise(components, algorithm)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    single = debayer_process._noise(components, algorithm)
    assert threaded == single
    assert all(threaded[f"noiseEstimate{c}"] > 0 for c in "RGB")


def _estimates(outputs: dict, letters: str = "RGB") -> list[tuple[float, float, str]]:
    return [(outputs[f"noiseEstimate{c}"], outputs[f"noiseFraction{c}"], outputs[f"noiseAlgorithm{c}"])
            for c in letters]


def _expected_estimates(raw: np.ndarray, pattern: str, algorithm: str = "MRS") -> list[tuple[float, float, str]]:
    """estimate_noise of each CFA component of ``raw`` (the SuperPixel demosaic), black and saturated samples
    out of the MRS noise set (PCL's NoiseMRS defaults)."""
    from processes.kernels.noise import MRS_VALID_RANGE, estimate_noise

    components = superpixel(raw, CFAPattern(pattern))
    return [(e.sigma, e.fraction, e.algorithm)
            for e in (estimate_noise(p, algorithm, MRS_VALID_RANGE) for p in components)]


@pytest.mark.parametrize(("method", "algorithm"),
                         [("VNG", "NoiseEvaluation_MRS"), ("Bilinear", "NoiseEvaluation_KSigma")])
def test_noise_is_evaluated_on_the_cfa_components(method: str, algorithm: str) -> None:
    """As PixInsight's Debayer: the noise estimates of a view (and of a preview, its pattern shifted by the
    origin) are those of the raw frame's CFA components, whatever the demosaicing method."""
    cam = sim.Camera(width=161, height=121, bayer_pattern="GRBG", seed=6)
    raw = sim.light_frame(cam, sim.random_scene(cam, n_stars=20, seed=6), seed=1).data.astype(np.float32) / 65535
    workspace = Workspace()
    window = workspace.add_image(Image(raw[None], [FITSKeyword("BAYERPAT", "GRBG")]), "raw")
    instance = Debayer(debayerMethod=method, noiseEvaluationAlgorithm=algorithm)
    name = "K-Sigma" if algorithm == "NoiseEvaluation_KSigma" else "MRS"
    assert _estimates(instance.execute_on(window.main_view).outputs) == _expected_estimates(raw, "GRBG", name)
    preview = window.add_preview(3, 5, 150, 110, "odd")
    outputs = instance.execute_on(preview).outputs
    assert outputs["cfaPattern"] == "GBRG"  # GRBG seen from (3, 5)
    assert _estimates(outputs) == _expected_estimates(raw[5:110, 3:150], "GBRG", name)


def test_each_channels_noise_is_that_of_its_own_sites() -> None:
    """Gaussian noise of σ 0.01 at the R sites, 0.02 at both G sites, 0.03 at the B sites of a GRBG frame:
    the estimates are 0.01 (R), 0.02/√2 (G: the mean of two sites) and 0.03 (B) — PCL 1.9.2's transposed
    lookup would report R and B swapped."""
    rng = np.random.default_rng(3)
    raw = np.empty((512, 640), dtype=np.float32)
    sigmas = {0: 0.01, 1: 0.02, 2: 0.03}
    cfa = CFAPattern("GRBG")
    for y, x in ((0, 0), (0, 1), (1, 0), (1, 1)):
        raw[y::2, x::2] = 0.2 + sigmas[cfa.channel_at(y, x)] * rng.standard_normal((256, 320))
    outputs = Debayer(cfaPattern="GRBG").apply(Image(raw[None]), _context()).outputs
    assert outputs["noiseEstimateR"] == pytest.approx(0.01, rel=0.03)
    assert outputs["noiseEstimateG"] == pytest.approx(0.02 / np.sqrt(2), rel=0.03)
    assert outputs["noiseEstimateB"] == pytest.approx(0.03, rel=0.03)


def test_saturated_samples_stay_out_of_the_mrs_noise_set() -> None:
    """As PCL's NoiseMRS (low 0.00002, high 0.99998 by default): a saturated patch (1.0) and a black one (0.0)
    leave the estimate that of the sky around them, not the one that counts them as noiseless pixels."""
    from processes.kernels.noise import estimate_noise

    rng = np.random.default_rng(4)
    raw = (0.2 + 0.01 * rng.standard_normal((512, 640))).astype(np.float32)
    raw[100:300, 100:400] = 1.0
    raw[350:500, 50:250] = 0.0
    outputs = Debayer(cfaPattern="GRBG").apply(Image(raw[None]), _context()).outputs
    green = superpixel(raw, CFAPattern("GRBG"))[1]
    assert outputs["noiseAlgorithmG"] == "MRS"
    assert outputs["noiseEstimateG"] == pytest.approx(0.01 / np.sqrt(2), rel=0.03)
    assert outputs["noiseEstimateG"] != estimate_noise(green, "MRS").sigma  # ~0.0064 with the patches counted


def test_corpus_sized_components_take_the_compiled_noise_kernels() -> None:
    """The components of a 1080×1920 frame (540×960 planes) are evaluated by the compiled passes."""
    from processes.kernels import noise

    components = superpixel(np.zeros((1920, 1080), dtype=np.float32), CFAPattern("GRBG"))
    assert components.shape == (3, 960, 540)
    assert all(noise._compiled(components[c]) for c in range(3))


def _raw_file(tmp_path: Path) -> Path:
    cam = sim.Camera(width=640, height=480, bayer_pattern="GRBG", seed=5)
    raw = sim.light_frame(cam, sim.random_scene(cam, n_stars=30, seed=5), seed=3)
    path = tmp_path / "raw.fits"
    write_fits(Image(raw.data.astype(np.float32)[None] / 65535, [FITSKeyword("BAYERPAT", "GRBG", "")]), path)
    return path


@pytest.mark.parametrize("blank", [False, True])
def test_the_output_written_while_the_noise_is_evaluated_is_the_file_written_after(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blank: bool) -> None:
    """With evaluateNoise, the RGB output's pixels are written while the noise is evaluated, its header
    (with the NOISExx cards) last: the same bytes as write_fits of the result; an estimate that is not
    finite (a blank channel: its cards left out, a shorter header) falls back to writing it after."""
    from processes.debayer import process as debayer_process
    from procfw.io import fits as fits_module

    started = []
    original, noise = fits_module.start_write_fits, debayer_process._noise
    monkeypatch.setattr(fits_module, "start_write_fits", lambda *a, **k: started.append(1) or original(*a, **k))
    if blank:
        monkeypatch.setattr(debayer_process, "_noise", lambda components, algorithm: {
            **noise(components, algorithm), "noiseEstimateG": float("nan")})
    instance = Debayer(outputDirectory=str(tmp_path), outputExtension=".fits", evaluateNoise=True)
    raw = _raw_file(tmp_path)
    rgb, written, data = instance.process_image(0, read_image(raw), raw, {})
    assert started == [1]
    expected = _expected_estimates(read_image(raw).pixels[0], "GRBG")
    assert _estimates(data, "RB") == [expected[0], expected[2]]
    assert [rgb.keyword(f"NOISE{i:02d}") for i in (0, 2)] == [float(f"{e[0]:.4e}") for e in (expected[0], expected[2])]
    assert sum(k.name.startswith("NOISE0") for k in rgb.keywords) == (2 if blank else 3)
    write_fits(rgb, tmp_path / "expected.fits")
    assert Path(written).read_bytes() == (tmp_path / "expected.fits").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["expected.fits", "raw.fits", "raw_d.fits"]


@pytest.mark.parametrize("step", ["_noise", "_noise_keywords"])
def test_a_failed_noise_evaluation_leaves_no_output(step: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure between the start of the output's write and its header (the noise evaluation, or making
    the noise keywords) abandons the write: no file, no temporary file, no writer thread left waiting."""
    import threading

    from processes.debayer import process as debayer_process

    real, calls = getattr(debayer_process, step), []

    def broken(*args, **kwargs):
        calls.append(step)
        if step == "_noise_keywords" and len(calls) == 1:  # the write's stand-in keywords: made as usual
            return real(*args, **kwargs)
        raise RuntimeError("noise failed")

    monkeypatch.setattr(debayer_process, step, broken)
    raw = _raw_file(tmp_path)
    with pytest.raises(RuntimeError, match="noise failed"):
        Debayer(outputDirectory=str(tmp_path), outputExtension=".fits", evaluateNoise=True).process_image(
            0, read_image(raw), raw, {})
    assert [p.name for p in tmp_path.iterdir()] == ["raw.fits"]
    assert not [t for t in threading.enumerate() if t.name.startswith("fits-write")]
