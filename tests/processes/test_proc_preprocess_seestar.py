"""Pre-processing of real frames: 12 raw Seestar S50 subs of M 94 (1080×1920 Bayer GRBG, IMAGETYP 'Light').

There are no calibration frames, so the run needs ``allow_missing_*`` (each a warning).
The lights are demosaiced (SuperPixel, 540×960 RGB, to keep the test short), registered
to the best frame and integrated into one colour master.  Checked independently of the
pipeline's own figures: the master's stars are as sharp as a single frame's (the
registration is good), and its background noise — measured here as the MAD of the image
minus its 5×5 median — is lower than a single registered frame's by about √12.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import CORPUS
from scipy import ndimage

from processes.kernels.starmeasure import measure_stars
from processes.workflows.preprocess import Options, plan_session, preprocess
from procfw.io import read_image

FRAMES = CORPUS / "frames" / "seestar-s50" / "M94_2025-03-27_session1"

log = logging.getLogger(__name__)


def _noise(plane: np.ndarray) -> float:
    """σ of the noise: 1.4826·MAD of the plane minus its 5×5 median, over the central half of the frame."""
    h, w = plane.shape
    centre = plane[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].astype(np.float64)
    residual = centre - ndimage.median_filter(centre, size=5)
    return float(1.4826 * np.median(np.abs(residual - np.median(residual))))


@pytest.mark.slow
def test_seestar_lights_make_a_colour_master(tmp_path: Path) -> None:
    raw = sorted(FRAMES.glob("*.fit"))
    if len(raw) < 12:
        pytest.skip(f"Seestar frames not found in {FRAMES}")
    options = Options(debayer_method="SuperPixel")  # lights only: runs, a warning per missing kind
    plan = plan_session(FRAMES, tmp_path / "pre", options)
    assert plan.ok and len(plan.warnings) == 3 and all("frames in the set" in w for w in plan.warnings)
    assert plan.lights[0].target.label.startswith("lights IRCUT 10s bin1 gain80 ")
    assert plan.lights[0].target.label.endswith("CFA GRBG (12 frames)") and plan.debayers(plan.lights[0].target)
    result = preprocess(FRAMES, tmp_path / "pre", options, plan=plan)
    report = result.report

    master = read_image(result.masters["master_IRCUT"])
    crop = report["masters"][0]["crop"]  # the area every frame covers (the session drifts by a few pixels)
    assert crop["of"] == [540, 960] and 0.9 * 540 * 960 < crop["width"] * crop["height"] < 540 * 960
    assert (master.channels, master.height, master.width) == (3, crop["height"], crop["width"])
    assert master.keyword("IMAGETYP") == "Master Light" and master.keyword("NCOMBINE") == 12
    assert report["rejected"] == []
    frames = report["lights"]
    assert [f["status"] for f in frames] == ["integrated"] * 12
    rms = [f["alignment"]["rmsError"] for f in frames]
    matched = [f["alignment"]["matchedStars"] for f in frames]
    assert max(rms) < 0.3 and min(matched) >= 15  # superpixels (2 raw pixels)

    # stars: the master's are as sharp as a single frame's, so the frames were well aligned
    single_fwhm = float(np.median([f["stars"]["fwhm"] for f in frames]))
    field = measure_stars(master.pixels)
    assert 1.0 < field.median_fwhm < 1.15 * single_fwhm
    assert field.count > np.median([f["stars"]["stars"] for f in frames])  # deeper: more stars

    # noise: about 1/sqrt(12) of a single registered frame's, per channel
    registered = [read_image(f["registered"]).pixels for f in frames]
    ratios = []
    for c in range(3):
        single = float(np.median([_noise(p[c]) for p in registered]))
        ratios.append(single / _noise(master.pixels[c]))
    for ratio in ratios:
        assert 0.7 * math.sqrt(12) < ratio < 1.3 * math.sqrt(12)
    for ratio in report["masters"][0]["noiseReduction"]:
        assert 0.7 * math.sqrt(12) < ratio < 1.3 * math.sqrt(12)
    _post_process(result.masters["master_IRCUT"], tmp_path)
    _multiscale(result.masters["master_IRCUT"])
    _deconvolution(result.masters["master_IRCUT"], tmp_path)
    log.info("Seestar M94: FWHM single %.2f px, master %.2f px (%d stars); RMS median %.3f px (max %.3f); "
             "noise ratio %s (sqrt 12 = %.2f); %.1f s", single_fwhm, field.median_fwhm, field.count,
             float(np.median(rms)), max(rms), ", ".join(f"{r:.2f}" for r in ratios), math.sqrt(12), report["seconds"])


def _background(pixels: np.ndarray, box: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """(median of each channel, median of each channel in each of the four corner boxes: 4 × C)."""
    _, h, w = pixels.shape
    bh, bw = int(h * box), int(w * box)
    boxes = [pixels[:, :bh, :bw], pixels[:, :bh, -bw:], pixels[:, -bh:, :bw], pixels[:, -bh:, -bw:]]
    return (np.median(pixels, axis=(1, 2)),
            np.array([[float(np.median(b[c])) for c in range(pixels.shape[0])] for b in boxes]))


def _post_process(master: Path, folder: Path) -> None:
    """After stacking, as a PixInsight user goes on: gradient removal, colour calibration, a linked
    stretch.  Stretched as it comes (linked), the OSC master is green and its corners differ; after
    ABE, ColorCalibration and BackgroundNeutralization the same stretch gives a neutral, flat
    background (measured on the SuperPixel master: channel medians 0.095/0.535/0.0 before, 0.2513
    each after; corner spread per channel 0.037/0.011/0.0 before, 0.0076/0.0032/0.0022 after)."""
    import io

    from procfw.console import Session

    stretched = {}
    for name, steps in (("before", []), ("after", [
            "AutomaticBackgroundExtractor -targetCorrection=Subtract -replaceTarget+ m94",
            "ColorCalibration m94", "BackgroundNeutralization m94"])):
        session = Session(out=io.StringIO())
        session.run_text(f'open "{master}" -id=m94')
        for step in steps:
            session.run_text(step)
        session.run_text(f'AutoStretch m94\nsave m94 "{folder / f"m94_{name}.png"}"')
        stretched[name] = _background(session.workspace.view("m94").image.pixels)
    (before, before_corners), (after, after_corners) = stretched["before"], stretched["after"]
    spread_before = before_corners.max(axis=0) - before_corners.min(axis=0)
    spread_after = after_corners.max(axis=0) - after_corners.min(axis=0)
    log.info("Seestar M94 stretched: channel medians %s -> %s; corner spread per channel %s -> %s",
             np.round(before, 4), np.round(after, 4), np.round(spread_before, 4), np.round(spread_after, 4))
    assert before.max() - before.min() > 0.2  # green
    assert after.max() - after.min() < 0.01  # neutral
    assert 0.15 < after.mean() < 0.35  # the stretch's target background
    assert spread_after.max() < 0.015 and spread_after.max() < spread_before.max()  # flat
    assert (folder / "m94_after.png").stat().st_size > 0


def _multiscale(master: Path) -> None:
    """Issue 17 on real data: MultiscaleLinearTransform noise reduction of the linear master lowers
    its background noise and keeps its stars (measured on the SuperPixel master: noise 2.78e-4,
    2.26e-4, 2.61e-4 -> 1.54e-4, 1.25e-4, 1.46e-4, −45 %; FWHM 1.694 -> 1.735 px, +2.4 %)."""
    import io

    from processes.kernels.noise import estimate_noise
    from procfw.console import Session

    session = Session(out=io.StringIO())
    session.run_text(f'open "{master}" -id=m')

    def measured() -> tuple[list[float], float]:
        pixels = session.workspace.view("m").image.pixels
        return [float(estimate_noise(pixels[c], "MRS").sigma) for c in range(3)], measure_stars(pixels).median_fwhm

    noise_before, fwhm_before = measured()
    session.run_text("MultiscaleLinearTransform -layers=[[true,true,0,true,3,1,1],[true,true,0,true,2,0.8,1],"
                     "[true,true,0,true,1.5,0.5,1],[true,true,0,false,3,1,1],[true,true,0,false,3,1,1]] m")
    noise_after, fwhm_after = measured()
    log.info("Seestar M94 MLT: noise %s -> %s; FWHM %.3f -> %.3f px", np.round(noise_before, 7),
             np.round(noise_after, 7), fwhm_before, fwhm_after)
    assert all(a < 0.75 * b for a, b in zip(noise_after, noise_before))
    assert fwhm_after < 1.06 * fwhm_before


def _deconvolution(master: Path, folder: Path) -> None:
    """Issue 17 on real data: Deconvolution with a Gaussian PSF of the stars' own FWHM (measured on
    the master) sharpens them; before/after crops of the galaxy are saved as stretched PNGs
    (measured on the SuperPixel master, PSF σ 0.72 px, 30 iterations: FWHM 1.694 -> 1.529 px,
    noise 2.78e-4, 2.26e-4, 2.61e-4 -> 2.91e-4, 2.60e-4, 2.67e-4)."""
    import io

    from processes.kernels.noise import estimate_noise
    from procfw.console import Session

    session = Session(out=io.StringIO())
    session.run_text(f'open "{master}" -id=m')
    pixels = session.workspace.view("m").image.pixels
    before = measure_stars(pixels).median_fwhm
    noise_before = [float(estimate_noise(pixels[c], "MRS").sigma) for c in range(3)]
    _, h, w = pixels.shape
    crop = f"-refWidth={w} -refHeight={h} -outWidth=200 -outHeight=200"  # the central 200×200: the galaxy
    session.run_text(f'open "{master}" -id=before\nDynamicCrop {crop} before\nAutoStretch before\n'
                     f'save before "{folder / "deconvolution_before.png"}"')
    session.run_text(f"Deconvolution -psfSigma={before / 2.3548:.2f} -psfShape=2 -numberOfIterations=30 m")
    pixels = session.workspace.view("m").image.pixels
    after = measure_stars(pixels).median_fwhm
    noise_after = [float(estimate_noise(pixels[c], "MRS").sigma) for c in range(3)]
    session.run_text(f'DynamicCrop {crop} m\nAutoStretch m\nsave m "{folder / "deconvolution_after.png"}"')
    log.info("Seestar M94 Deconvolution (PSF sigma %.2f px, 30 iterations): FWHM %.3f -> %.3f px; noise %s -> %s",
             before / 2.3548, before, after, np.round(noise_before, 7), np.round(noise_after, 7))
    assert after < 0.95 * before
    assert (folder / "deconvolution_after.png").stat().st_size > 0


@pytest.mark.slow
def test_seestar_cfa_drizzle_with_subframe_weights(tmp_path: Path) -> None:
    """-drizzle+ -subframeWeighting+ on the real session: the lights are registered on their VNG
    copies and drizzled ×2 from the raw Bayer frames (CFA drizzle), beside the plain master."""
    raw = sorted(FRAMES.glob("*.fit"))
    if len(raw) < 12:
        pytest.skip(f"Seestar frames not found in {FRAMES}")
    result = preprocess(FRAMES, tmp_path / "pre", Options(drizzle=True, subframe_weighting=True))
    (plain,) = result.report["masters"]
    drizzle = plain["drizzle"]
    assert drizzle["cfa"] and drizzle["frames"] == 12 and (drizzle["width"], drizzle["height"]) == (2160, 3840)
    master = read_image(drizzle["path"])
    assert (master.channels, master.height, master.width) == (3, 3840, 2160)
    # every frame's weight is in the report (SubframeSelector's PSF signal weight, used by the integration)
    assert plain["weights"] == "SubframeSelector: PSFSignalWeight"
    assert all(light["subframe"]["Weight"] > 0 and light["integration"]["weight"] for light in result.report["lights"])
    # the raw frames' colours land in the right channels: the background of each channel as in the plain master
    plain_pixels = read_image(plain["path"]).pixels
    for c in range(3):
        assert np.median(master.pixels[c]) == pytest.approx(np.median(plain_pixels[c]), rel=0.03)
    # as sharp as the plain master in input pixels, with more stars resolved or as many
    fwhm_plain, fwhm_drizzle = plain["stars"]["fwhm"], drizzle["stars"]["fwhm"] / 2
    log.info("FWHM plain %.3f px, drizzle %.3f input px; noise plain %s, drizzle %s per drizzled pixel",
             fwhm_plain, fwhm_drizzle, plain["noise"], drizzle["noise"])
    assert fwhm_drizzle < 1.02 * fwhm_plain
    text = Path(result.report_paths[0]).read_text() if str(result.report_paths[0]).endswith(".txt") else \
        Path(result.report_paths[1]).read_text()
    assert "drizzle (CFA) x2, drop shrink 0.9" in text
