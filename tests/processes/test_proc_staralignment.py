"""StarAlignment engine: star detection, asterism matching, RANSAC, models and registration.

Synthetic star fields with known transformations (reference → target pixel coordinates):
stars are rendered as pixel-integrated Gaussians at exactly known positions, so the recovered
registration matrix is compared with the truth element by element, and the registered image
with the reference pixel by pixel.  Process-level tests: test_proc_staralignment_files.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from processes.kernels.pixel_interpolation import remap, remap_planes
from processes.simulation.starfield import random_field, render_stars, seen_through
from processes.staralignment import StarAlignment, models
from processes.staralignment.engine import AlignmentError, MatchSettings, align_stars
from processes.staralignment.matching import build_triangles, match_triangles
from processes.staralignment.resample import choose_kernel
from processes.staralignment.stars import DetectionSettings, StarList, detect_stars
from procfw.errors import ExecutionError
from procfw.image import Image
from procfw.workspace import Workspace

W, H = 480, 400
SIGMA = 1.5
BACKGROUND = 0.05


# -- synthetic star fields ---------------------------------------------------------------------
def render(xy: np.ndarray, flux: np.ndarray, width: int = W, height: int = H, **kw) -> np.ndarray:
    return render_stars(xy, flux, width, height, sigma=SIGMA, background=BACKGROUND, **kw)


def star_field(n: int = 140, seed: int = 1, margin: float = -60.0) -> tuple[np.ndarray, np.ndarray]:
    """Star positions over (and a little beyond) the frame, peaks log-uniform in [0.01, 0.7]."""
    return random_field(n, W, H, seed=seed, margin=margin, sigma=SIGMA)


def transform(h: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Hand-written projective mapping (independent of models.apply)."""
    p = np.column_stack([xy, np.ones(len(xy))]) @ h.T
    return p[:, :2] / p[:, 2:]


def about_centre(a: np.ndarray, t: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Linear map ``a`` about the frame centre, then translation ``t``."""
    c = np.array([(W - 1) / 2, (H - 1) / 2])
    h = np.eye(3)
    h[:2, :2] = a
    h[:2, 2] = c - a @ c + np.asarray(t)
    return h


def rotation(deg: float, scale: float = 1.0) -> np.ndarray:
    th = math.radians(deg)
    return scale * np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])


CASES = {
    "shift": (np.array([[1.0, 0.0, 12.3], [0.0, 1.0, -7.8], [0.0, 0.0, 1.0]]), "Projective"),
    "rotation37": (about_centre(rotation(37.0), (4.2, -3.1)), "Similarity"),
    "mirror": (np.array([[-1.0, 0.0, W - 1.0 + 2.5], [0.0, 1.0, 1.5], [0.0, 0.0, 1.0]]), "Similarity"),
    "scale108": (about_centre(rotation(-8.0, 1.08), (3.0, 5.0)), "Similarity"),
    "shear": (about_centre(np.array([[1.0, 0.12], [0.03, 0.97]]), (-6.0, 2.0)), "Affine"),
    "homography": (np.array([[1.01, 0.02, 6.0], [-0.015, 0.995, -4.0], [4e-5, -3e-5, 1.0]]), "Projective"),
}


def target_for(h: np.ndarray, *, noise: float = 0.0, seed: int = 2) -> np.ndarray:
    """The target frame seen through ``h`` (star PSFs scaled with the local scale, so the
    registered image should reproduce the reference exactly)."""
    xy, flux = star_field()
    return seen_through(h, xy, flux, W, H, sigma=SIGMA, background=BACKGROUND, noise=noise, seed=seed)


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    xy, flux = star_field()
    return render(xy, flux)


@pytest.fixture(scope="module")
def noisy_reference() -> np.ndarray:
    xy, flux = star_field()
    return render(xy, flux, noise=0.003, seed=11)


def mapping_error(h1: np.ndarray, h2: np.ndarray) -> float:
    """Largest distance between the mappings of two matrices over the frame (pixels)."""
    gy, gx = np.mgrid[0:H:20, 0:W:20]
    pts = np.column_stack([gx.ravel(), gy.ravel()]).astype(float)
    return float(np.max(np.hypot(*(transform(h1, pts) - transform(h2, pts)).T)))


# -- models ----------------------------------------------------------------------------------------
RNG = np.random.default_rng(7)
POINTS = RNG.uniform(0, 400, (25, 2))


@pytest.mark.parametrize(("model", "truth"), [
    ("rigid", about_centre(rotation(25.0), (3, 4))),
    ("similarity", about_centre(rotation(-70.0, 1.3), (-5, 8))),
    ("affine", about_centre(np.array([[0.9, 0.2], [-0.1, 1.1]]), (1, 2))),
    ("homography", np.array([[1.0, 0.1, 3.0], [0.05, 0.9, -2.0], [1e-4, 2e-4, 1.0]])),
])
def test_fit_recovers_exact_transformations(model: str, truth: np.ndarray) -> None:
    fitted = models.fit(model, POINTS, transform(truth, POINTS))
    np.testing.assert_allclose(fitted / fitted[2, 2], truth, atol=1e-9)
    assert models.residuals(fitted, POINTS, transform(truth, POINTS)).max() < 1e-8


@settings(max_examples=40, deadline=None)
@given(angle=st.floats(-180, 180), scale=st.floats(0.5, 2.0), mirror=st.booleans(),
       tx=st.floats(-300, 300), ty=st.floats(-300, 300))
def test_similarity_fit_is_exact_for_any_similarity(angle: float, scale: float, mirror: bool, tx: float,
                                                    ty: float) -> None:
    a = rotation(angle, scale) @ (np.diag([-1.0, 1.0]) if mirror else np.eye(2))
    truth = about_centre(a, (tx, ty))
    fitted = models.fit("similarity", POINTS, transform(truth, POINTS))
    np.testing.assert_allclose(fitted, truth, atol=1e-8)
    d = models.decompose(fitted)
    assert d["mirror"] is mirror and d["scale"] == pytest.approx(scale)


def test_similarity_fit_handles_mirrors_by_parity() -> None:
    truth = np.diag([-1.0, 1.0, 1.0]) @ about_centre(rotation(20.0, 0.8), (7, 1))
    assert np.linalg.det(truth[:2, :2]) < 0
    fitted = models.fit("similarity", POINTS, transform(truth, POINTS), parity=-1)
    np.testing.assert_allclose(fitted, truth, atol=1e-9)
    free = models.fit("similarity", POINTS, transform(truth, POINTS))  # parity chosen by the fit
    np.testing.assert_allclose(free, truth, atol=1e-9)
    proper = models.fit("similarity", POINTS, transform(truth, POINTS), parity=1)
    assert models.residuals(proper, POINTS, transform(truth, POINTS)).max() > 1.0


def test_fit_rejects_too_few_or_degenerate_points() -> None:
    with pytest.raises(ValueError, match="needs 4 point pairs"):
        models.fit("homography", POINTS[:3], POINTS[:3])
    line = np.column_stack([np.arange(5.0), 2 * np.arange(5.0)])
    with pytest.raises(ValueError, match="degenerate"):
        models.fit("affine", line, line)


def test_decompose_hand_values() -> None:
    h = np.array([[2 * math.cos(math.pi / 6), -2 * math.sin(math.pi / 6), 3.0],
                  [2 * math.sin(math.pi / 6), 2 * math.cos(math.pi / 6), 4.0], [0.0, 0.0, 1.0]])
    d = models.decompose(h)
    assert d["dx"] == pytest.approx(3.0) and d["dy"] == pytest.approx(4.0)
    assert d["rotation"] == pytest.approx(30.0) and d["scale"] == pytest.approx(2.0)
    assert d["skew"] == pytest.approx(0.0, abs=1e-9) and d["mirror"] is False
    assert models.decompose(np.diag([-1.0, 1.0, 1.0]))["mirror"] is True


def test_overlap_fraction_and_local_scale() -> None:
    assert models.overlap_fraction(np.eye(3), (100, 50), (100, 50)) == pytest.approx(1.0)
    half = np.array([[1.0, 0.0, 50.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert models.overlap_fraction(half, (100, 50), (100, 50)) == pytest.approx(0.5)
    assert models.jacobian_scale(about_centre(rotation(33.0, 1.08)), 10.0, 20.0) == pytest.approx(1.08)


# -- star detection ------------------------------------------------------------------------------------
def test_centroids_of_isolated_stars_are_exact() -> None:
    xy = np.array([[60.3, 50.7], [150.55, 90.1], [40.9, 150.45], [220.25, 160.8], [120.0, 130.0]])
    flux = np.array([1.0, 0.5, 2.0, 0.3, 1.2])
    stars = detect_stars(render(xy, flux, 260, 200))
    assert len(stars) == 5
    assert np.all(np.diff(stars.flux) <= 0), "brightest first"
    found = stars.xy[np.argsort(stars.x)]
    truth = xy[np.argsort(xy[:, 0])]
    assert np.abs(found - truth).max() < 0.01
    assert np.allclose(stars.fwhm, 2 * math.sqrt(2 * math.log(2)) * SIGMA, rtol=0.25)


def test_psf_fit_centroids_are_exact() -> None:
    xy = np.array([[60.3, 50.7], [150.55, 90.1], [40.9, 150.45]])
    stars = detect_stars(render(xy, np.array([1.0, 0.5, 2.0]), 200, 200), DetectionSettings(fit_psf=True))
    found = stars.xy[np.argsort(stars.x)]
    assert np.abs(found - xy[np.argsort(xy[:, 0])]).max() < 0.01


def test_hot_pixels_and_noise_are_not_stars() -> None:
    xy = np.array([[60.3, 50.7], [150.55, 90.1], [40.9, 150.45]])
    img = render(xy, np.array([1.0, 0.5, 2.0]), 200, 200, noise=0.002, seed=3)
    rng = np.random.default_rng(4)
    hot = rng.integers(5, 195, (60, 2))
    img[hot[:, 1], hot[:, 0]] = 0.9
    stars = detect_stars(img)
    assert len(stars) == 3
    without_filter = detect_stars(img, DetectionSettings(hot_pixel_radius=0, min_structure_size=1))
    assert len(without_filter) > 3, "the hot pixel filter is what removes them"


def test_upper_limit_and_invert() -> None:
    xy = np.array([[60.3, 50.7], [150.55, 90.1], [40.9, 150.45]])
    flux = np.array([0.3, 3.0, 0.6]) * 2 * math.pi * SIGMA**2  # peaks about 0.3, 3 (saturated) and 0.6
    img = render(xy, flux, 200, 200)
    assert len(detect_stars(img)) == 3
    assert len(detect_stars(img, DetectionSettings(upper_limit=0.5))) == 1
    dark = 1.0 - img
    assert len(detect_stars(dark)) == 0
    assert len(detect_stars(dark, DetectionSettings(invert=True))) == 3


# -- asterism matching --------------------------------------------------------------------------------
def test_triangle_invariants_survive_rotation_scale_and_mirror() -> None:
    pts = RNG.uniform(0, 300, (30, 2))
    mirrored = transform(np.diag([-1.0, 1.0, 1.0]) @ about_centre(rotation(50.0, 1.3)), pts)
    a, b = build_triangles(pts, 5), build_triangles(mirrored, 5)
    matches = match_triangles(a, b, 1e-9)
    assert len(matches) >= len(a) * 0.9
    assert np.all(matches.parity == -1), "every matched triangle is mirrored"
    assert np.allclose(matches.scale, 1.3)
    assert np.array_equal(matches.ref, matches.tgt), "vertices correspond in canonical order"


def _stars(xy: np.ndarray, flux: np.ndarray, width: int = W, height: int = H) -> StarList:
    z = np.zeros(len(xy))
    return StarList(x=xy[:, 0].copy(), y=xy[:, 1].copy(), flux=flux, peak=flux, background=z, size=z + 9,
                    fwhm=z + 3, width=width, height=height)


@pytest.mark.parametrize("case", list(CASES))
def test_noise_free_centroids_give_the_exact_transformation(case: str) -> None:
    truth, model = CASES[case]
    xy, flux = star_field(160, seed=5, margin=10)
    order = np.argsort(-flux)
    xy, flux = xy[order], flux[order]
    target = transform(truth, xy)
    inside = (target[:, 0] > 0) & (target[:, 0] < W) & (target[:, 1] > 0) & (target[:, 1] < H)
    extra = RNG.uniform(0, [W, H], (15, 2))  # unmatched stars in the target
    ref = _stars(xy, flux)
    tgt = _stars(np.vstack([target[inside], extra]), np.concatenate([flux[inside], np.full(15, 0.01)]))
    reg = align_stars(ref, tgt, MatchSettings(model={"Projective": "homography"}.get(model, model.lower())))
    assert reg.rms < 1e-6
    np.testing.assert_allclose(reg.matrix, truth, atol=1e-6)
    assert reg.inliers == int(inside.sum())


# -- registration of rendered frames ------------------------------------------------------------------------
def _register(ref_img: np.ndarray, tgt_img: np.ndarray, model: str, **params):
    ws = Workspace()
    ws.add_image(Image(ref_img), "ref")
    view = ws.add_image(Image(tgt_img), "tgt").main_view
    # PixInsight 1.9 fits the projective model (or a rigid one): ``model`` names the truth's kind only
    result = StarAlignment(referenceImage="ref", **params).execute_on(view)
    return result, view


@pytest.mark.parametrize("case", list(CASES))
def test_recovers_known_transformations_noise_free(case: str, reference: np.ndarray) -> None:
    truth, model = CASES[case]
    result, view = _register(reference, target_for(truth), model, mode="OutputMatrix")
    out = result.outputs
    h = np.array(out["matrix"])
    assert out["rmsError"] < 0.1
    assert out["matchedStars"] >= 30
    np.testing.assert_allclose(h[:2, :2], truth[:2, :2], atol=2e-4)
    np.testing.assert_allclose(h[:2, 2], truth[:2, 2], atol=0.05)
    np.testing.assert_allclose(h[2], truth[2], atol=2e-7)
    assert mapping_error(h, truth) < 0.05
    assert view.image.height == H and view.image.width == W  # OutputMatrix leaves the pixels alone


@pytest.mark.parametrize("case", list(CASES))
def test_recovers_known_transformations_with_noise(case: str, noisy_reference: np.ndarray) -> None:
    truth, model = CASES[case]
    result, _ = _register(noisy_reference, target_for(truth, noise=0.003, seed=12), model, mode="OutputMatrix")
    out = result.outputs
    h = np.array(out["matrix"])
    assert out["rmsError"] < 0.3
    np.testing.assert_allclose(h[:2, :2], truth[:2, :2], atol=2e-3)
    np.testing.assert_allclose(h[2], truth[2], atol=5e-6)
    assert mapping_error(h, truth) < 0.3
    decomposed = models.decompose(truth)
    assert out["mirror"] == decomposed["mirror"]
    assert out["rotation"] == pytest.approx(decomposed["rotation"], abs=0.05)
    assert out["scale"] == pytest.approx(decomposed["scale"], abs=1e-3)


@pytest.mark.parametrize("case", ["rotation37", "mirror", "scale108", "homography"])
def test_registered_image_matches_the_reference(case: str, reference: np.ndarray) -> None:
    truth, model = CASES[case]
    result, view = _register(reference, target_for(truth), model, generateMasks=True)
    registered = view.image.pixels[0]
    assert registered.shape == reference.shape and view.image.pixels.dtype == np.float32
    covered = view.workspace.view(result.created[0]).image.pixels[0] > 0.5
    covered = ndimage.binary_erosion(covered, iterations=6)
    stars = covered & (reference > BACKGROUND + 0.01)
    assert stars.sum() > 500
    assert np.corrcoef(registered[stars], reference[stars])[0, 1] > 0.99
    outside = ~ndimage.binary_dilation(view.workspace.view(result.created[0]).image.pixels[0] > 0.5, iterations=2)
    if outside.any():
        assert np.all(registered[outside] == 0.0), "pixels outside the target are 0"
    assert view.image.keyword("ALIGNSTR") == result.outputs["matchedStars"]
    assert view.image.keyword("ALIGNRMS") == pytest.approx(result.outputs["rmsError"], abs=1e-4)


def test_colour_target_on_mono_reference_and_frame_adaptation(noisy_reference: np.ndarray) -> None:
    truth, _ = CASES["rotation37"]
    tgt = target_for(truth, noise=0.003, seed=5)
    rgb = np.stack([0.5 * tgt + 0.1, tgt, 0.8 * tgt])  # channel c = a_c + b_c * reference
    result, view = _register(noisy_reference, rgb, "Similarity", frameAdaptation=True)
    out = view.image.pixels
    assert out.shape == (3, H, W)
    centre = (slice(150, 250), slice(170, 310))
    for c in range(3):
        assert np.median(out[c][centre]) == pytest.approx(np.median(noisy_reference[centre]), abs=1e-3)
    # the fit inverts each channel's intensity map (scale 1/b_c, offset -a_c/b_c)
    adaptation = result.outputs["frameAdaptation"]
    assert [a["scale"] for a in adaptation] == pytest.approx([2.0, 1.0, 1.25], rel=0.05)
    assert adaptation[0]["offset"] == pytest.approx(-0.2, abs=0.02)


@pytest.mark.parametrize("method", ["nearest", "bilinear", "bicubic", "lanczos3", "lanczos5", "mitchell"])
def test_remap_planes_equals_remap_of_each_plane(method: str) -> None:
    planes = RNG.random((3, 40, 30)).astype(np.float32)
    yy, xx = np.mgrid[0:40, 0:30].astype(np.float64)
    xs, ys = 0.95 * xx - 0.3 * yy + 8.3, 0.3 * xx + 0.95 * yy - 4.6  # partly outside the source
    together = remap_planes(planes, xs, ys, method, 0.3, -1.0, radius=3, chunk_points=333)
    for c in range(3):
        np.testing.assert_array_equal(together[c], remap(planes[c], xs, ys, method, 0.3, -1.0, radius=3))
    tiny = RNG.random((2, 3, 4)).astype(np.float32)  # smaller than the kernel: taps mirrored periodically
    ty, tx = np.mgrid[0:3, 0:4] * 0.7
    np.testing.assert_array_equal(remap_planes(tiny, tx, ty, method)[1], remap(tiny[1], tx, ty, method))


def test_auto_interpolation_choice() -> None:
    assert choose_kernel("Auto", np.eye(3), (100, 100)) == ("lanczos3", 2)
    assert choose_kernel("Auto", np.diag([2.0, 2.0, 1.0]), (100, 100)) == ("mitchell", 3)
    assert choose_kernel("Auto", np.diag([0.5, 0.5, 1.0]), (100, 100)) == ("bicubic", 2)
    assert choose_kernel("BicubicSpline", np.eye(3), (100, 100)) == ("bicubic", 2)
    assert choose_kernel("Lanczos5", np.eye(3), (100, 100)) == ("lanczos5", 2)


# -- failures ---------------------------------------------------------------------------------------------------
def test_too_few_stars_and_no_match_are_reported(reference: np.ndarray) -> None:
    few = render(np.array([[100.2, 100.7], [300.5, 200.1], [200.0, 320.3]]), np.full(3, 5.0))
    with pytest.raises(ExecutionError, match=r"too few stars \(3 < 6\)"):
        _register(reference, few, "Projective")
    rng = np.random.default_rng(99)
    other = render(rng.uniform(0, [W, H], (60, 2)), 10 ** rng.uniform(-1.5, -0.3, 60) * 14)
    with pytest.raises(ExecutionError, match="no asterism match"):
        _register(reference, other, "Projective")
    few_ref = StarList(x=np.arange(3.0), y=np.arange(3.0), flux=np.ones(3), peak=np.ones(3),
                       background=np.zeros(3), size=np.ones(3), fwhm=np.ones(3), width=W, height=H)
    with pytest.raises(AlignmentError, match=r"reference image: too few stars \(3 < 6\)"):
        align_stars(few_ref, few_ref)


def _batch_counts_by_einsum(hs: np.ndarray, ref_xy: np.ndarray, tgt_tree, tolerance: float) -> np.ndarray:
    """The hypothesis counts as computed before (einsum mapping, np.unique of hypothesis/target keys)."""
    b, n = hs.shape[0], ref_xy.shape[0]
    homog = np.concatenate([ref_xy, np.ones((n, 1))], axis=1)
    mapped = np.einsum("bij,nj->bni", hs, homog)
    with np.errstate(divide="ignore", invalid="ignore"):
        pts = (mapped[:, :, :2] / mapped[:, :, 2:]).reshape(-1, 2)
    finite = np.all(np.isfinite(pts), axis=1)
    counts = np.zeros(b, dtype=np.int64)
    if not finite.any():
        return counts
    dist, idx = tgt_tree.query(pts[finite], k=1, distance_upper_bound=tolerance)
    hit = np.isfinite(dist)
    owner = (np.flatnonzero(finite) // n)[hit]
    keys = np.unique(owner * (tgt_tree.n + 1) + idx[hit])
    np.add.at(counts, keys // (tgt_tree.n + 1), 1)
    return counts


@pytest.mark.parametrize("seed", range(6))
def test_ransac_batch_counts_equal_the_einsum_mapping(seed: int) -> None:
    """Hypothesis counts are those of the einsum mapping (same sums, so the same points at the tolerance's
    edge, and the target stars the k-d tree finds): affine and projective matrices, several reference stars on
    one target, NaN and zero denominators."""
    from scipy.spatial import cKDTree

    from processes.kernels.neighbours import SortedPoints
    from processes.staralignment import ransac

    rng = np.random.default_rng(seed)
    ref = rng.uniform(-20, 1100, (int(rng.integers(1, 90)), 2))
    tgt = np.concatenate([ref + rng.normal(0, 1.0, ref.shape), rng.uniform(0, 1080, (30, 2))])
    tree = cKDTree(tgt)
    b = int(rng.integers(1, 300))
    hs = np.repeat(np.eye(3)[None], b, axis=0)
    hs[:, :2, :] += rng.normal(0, 1e-3, (b, 2, 3)) * rng.choice([1.0, 100.0], (b, 1, 1))
    hs[::3, 2, :2] = rng.normal(0, 1e-6, (len(hs[::3]), 2))  # projective
    hs[1::7] = np.nan
    hs[2::11, 2] = 0.0  # zero denominators
    hs[3::13, :2, :2] *= 0.5  # several stars onto one target
    for tolerance in (0.5, 2.0, 6.0):
        got = ransac._batch_counts(hs, ref, SortedPoints.of(tgt), tolerance)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, _batch_counts_by_einsum(hs, ref, tree, tolerance))
