"""StarAlignment on real data: 12 raw Seestar S50 subs of M 94 (1080×1920 Bayer GRBG, alt-az mount).

The frames are demosaiced with Debayer (SuperPixel: 540×960 RGB, no interpolation) and
registered to the first one.  Expected from the corpus notes: translations of 0–10 raw pixels
(0–5 superpixels) and a little field rotation.  Checked independently of the registration's
own figures: bright stars of every registered frame sit where they are in the reference
(barycentres measured here with scipy, not with the star detector).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from conftest import CORPUS
from scipy import ndimage

from processes.debayer.process import Debayer
from processes.staralignment import StarAlignment
from procfw.io import read_image
from procfw.workspace import Workspace

FRAMES = CORPUS / "frames" / "seestar-s50" / "M94_2025-03-27_session1"

log = logging.getLogger(__name__)


def _bright_star_centroids(plane: np.ndarray, count: int = 15) -> np.ndarray:
    """Barycentres (x, y) of the ``count`` brightest isolated peaks in 9×9 boxes, each box minus the
    median of the 21×21 square around it."""
    smooth = ndimage.median_filter(plane, size=3)
    signal = smooth - np.median(smooth)
    noise = 1.4826 * np.median(np.abs(signal))
    peaks = (ndimage.maximum_filter(signal, size=15) == signal) & (signal > 10 * noise)
    ys, xs = np.nonzero(peaks)
    keep = (xs > 12) & (ys > 12) & (xs < plane.shape[1] - 12) & (ys < plane.shape[0] - 12)
    ys, xs = ys[keep], xs[keep]
    order = np.argsort(-signal[ys, xs])
    out: list[tuple[float, float]] = []
    for y, x in zip(ys[order], xs[order]):
        local = np.median(plane[y - 10 : y + 11, x - 10 : x + 11])
        box = np.clip(plane[y - 4 : y + 5, x - 4 : x + 5] - local, 0, None)
        cy, cx = ndimage.center_of_mass(box)
        star = (x - 4 + cx, y - 4 + cy)
        if all(np.hypot(star[0] - a, star[1] - b) > 3 for a, b in out):  # plateaus tie in the maximum filter
            out.append(star)
        if len(out) == count:
            break
    return np.array(out)


@pytest.mark.slow
def test_seestar_frames_register_with_subpixel_residuals(tmp_path: Path) -> None:
    raw = sorted(FRAMES.glob("*.fit"))
    if len(raw) < 12:
        pytest.skip(f"Seestar frames not found in {FRAMES}")
    debayered = tmp_path / "debayered"
    registered = tmp_path / "registered"
    debayered.mkdir()
    registered.mkdir()
    Debayer(targetItems=str(FRAMES / "*.fit"), debayerMethod="SuperPixel", outputDirectory=str(debayered),
            outputExtension=".fits", evaluateNoise=False).execute_global(Workspace())
    frames = sorted(debayered.glob("*_d.fits"))
    assert len(frames) == 12

    process = StarAlignment(referenceImage=str(frames[0]), referenceIsFile=True,
                            targets=str(debayered / "*_d.fits"), outputDirectory=str(registered),
                            outputExtension=".fits", outputSampleFormat="f32")
    result = process.execute_global(Workspace())
    rows = result.outputs["outputData"]
    assert result.outputs["succeeded"] == 12, result.messages
    report = []
    for row in rows:
        report.append(f"{Path(row['targetFrame']).name}: {row['matchedStars']}/{row['starsDetected']} stars, "
                      f"rms {row['rmsError']:.3f} px, dx {row['dx']:+.2f} dy {row['dy']:+.2f} "
                      f"rot {row['rotation']:+.3f} deg, {row['seconds']:.2f} s")
        assert row["matchedStars"] >= 20
        assert row["rmsError"] < 0.3  # superpixels: < 0.6 raw pixels
        assert abs(row["dx"]) < 8 and abs(row["dy"]) < 8
        assert abs(row["rotation"]) < 0.5 and abs(row["scale"] - 1) < 0.003
    log.info("Seestar registration:\n%s", "\n".join(report))
    first = rows[0]
    np.testing.assert_allclose(np.array(first["matrix"]), np.eye(3), atol=1e-9)  # the reference itself
    assert max(abs(r["dx"]) + abs(r["dy"]) for r in rows) > 2.0, "the frames really are shifted"

    reference = read_image(frames[0]).pixels[1]
    ref_stars = _bright_star_centroids(reference, 30)
    assert len(ref_stars) >= 15
    for row in rows[1:]:
        image = read_image(row["outputFilePath"])
        assert image.pixels.shape == (3, 960, 540)
        stars = _bright_star_centroids(image.pixels[1], 12)
        dist = np.hypot(*(stars[:, None, :] - ref_stars[None, :, :]).transpose(2, 0, 1))
        nearest = dist.min(axis=1)
        matched = nearest < 2.0
        assert matched.sum() >= 0.75 * len(stars)
        assert np.median(nearest[matched]) < 0.3
        shift = np.hypot(row["dx"], row["dy"])
        log.info("%s: bright stars %.3f px from the reference's (the frame was %.2f px away)",
                 Path(row["targetFrame"]).name, np.median(nearest[matched]), shift)
