"""ImageIntegration weightMode=PSFScaleSNR: PCL's ``1/(s·σ)²`` from LocalNormalization's scale factors.

Frames of one scene seen through transparencies 1.0, 0.8 and 0.5 (and a fourth at 1.0 with
more noise) with the same sky noise; their .xnml files carry the relative scale factors
LocalNormalization finds (1/transparency: the factor that brings a frame's star fluxes to
the reference's) and matrices that apply them.  The weights must follow the formula
computed here from the frames' known noise (NOISE00 keywords: exactly; MRS estimates:
within their error), in the order of the transparencies.
"""

from __future__ import annotations

import numpy as np
import pytest

from processes.common.xnml import LocalNormalizationData, write_xnml
from processes.integration import ImageIntegration
from procfw.image import FITSKeyword, Image
from procfw.io.fits import write_fits
from procfw.process import ExecutionContext
from procfw.workspace import Workspace

HEIGHT, WIDTH = 256, 320
TRANSPARENCY = (1.0, 0.8, 0.5, 1.0)
NOISE = (0.004, 0.004, 0.004, 0.008)


def _scene(rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    scene = np.full((HEIGHT, WIDTH), 0.05)
    rows, columns, peaks = rng.uniform(10, HEIGHT - 10, 60), rng.uniform(10, WIDTH - 10, 60), rng.uniform(0.05, 0.5, 60)
    for y, x, peak in zip(rows, columns, peaks):
        scene += peak * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 1.3**2))
    return scene


def _write(folder, keywords: bool, xnml: bool = True) -> list[str]:
    rng = np.random.default_rng(8)
    scene = _scene(rng)
    paths = []
    for i, (t, sigma) in enumerate(zip(TRANSPARENCY, NOISE)):
        frame = (t * scene + 0.02 + sigma * rng.standard_normal(scene.shape)).astype(np.float32)
        cards = [FITSKeyword("NOISE00", sigma, "noise")] if keywords else []
        path = folder / f"frame_{i}.fits"
        write_fits(Image(frame, cards), path)
        if xnml:
            s = 1.0 / t  # LocalNormalization's relative scale factor; the matrices apply it
            write_xnml(LocalNormalizationData(
                scale=128, reference_width=WIDTH, reference_height=HEIGHT,
                scale_matrices=np.full((1, 2, 3), s, np.float32),
                offset_matrices=np.full((1, 2, 3), 0.02 * (1 - s), np.float32),
                relative_scale_factors=[s]), folder / f"frame_{i}.xnml")
        paths.append(str(path))
    return paths


def _run(paths, **params):
    settings = dict(weightMode="PSFScaleSNR", normalization="LocalNormalization",
                    rejectionNormalization="LocalRejectionNormalization", rejection="NoRejection",
                    evaluateSNR=False, autoMemorySize=False, stackSizeMB=64, bufferSizeMB=0)
    return ImageIntegration(images=paths, **{**settings, **params}).run_global(ExecutionContext(workspace=Workspace()))


def _expected() -> list[float]:
    raw = [1.0 / ((1.0 / t) * sigma) ** 2 for t, sigma in zip(TRANSPARENCY, NOISE)]  # 1/(s·σ)²
    return [w / raw[0] for w in raw]


@pytest.mark.parametrize("normalization", ["LocalNormalization", "AdditiveWithScaling"])
def test_weights_are_pcls_formula_with_noise_keywords(tmp_path, normalization) -> None:
    """Expected weights 1, 0.64, 0.25, 0.25 (relative to the first frame)."""
    params = {} if normalization == "LocalNormalization" else {
        "normalization": normalization, "rejectionNormalization": "Scale"}  # .xnml files beside the frames
    out = _run(_write(tmp_path, keywords=True), **params)
    assert not any("PSFScaleSNR" in m for m in out.messages), out.messages
    weights = [row["weight"][0] for row in out.outputs["frames"]]
    assert weights == pytest.approx(_expected(), rel=1e-9)
    assert weights[0] > weights[1] > weights[2]
    assert "HISTORY" in {k.name for k in out.new_images["integration"].keywords}
    assert any("weightMode: PSFScaleSNR" in str(k.value) for k in out.new_images["integration"].keywords)


def test_weights_with_estimated_noise_of_the_stored_frames(tmp_path) -> None:
    """MRS noise of each frame as stored (not as normalized: that would count s twice)."""
    out = _run(_write(tmp_path, keywords=False))
    weights = [row["weight"][0] for row in out.outputs["frames"]]
    assert weights == pytest.approx(_expected(), rel=0.05)
    assert weights[0] > weights[1] > weights[2]
    noise = [row["noise"][0] for row in out.outputs["frames"]]
    assert noise == pytest.approx(list(NOISE), rel=0.05)


def test_without_scale_factors_snr_estimate_is_used_with_a_message(tmp_path) -> None:
    paths = _write(tmp_path, keywords=True)
    (tmp_path / "frame_2.xnml").unlink()
    out = _run(paths, normalization="AdditiveWithScaling", rejectionNormalization="Scale")
    assert any("PSFScaleSNR needs local normalization data" in m and "frame_2" in m and "SNREstimate" in m
               for m in out.messages), out.messages
    reference = _run(paths, normalization="AdditiveWithScaling", rejectionNormalization="Scale",
                     weightMode="SNREstimate")
    assert [r["weight"] for r in out.outputs["frames"]] == [r["weight"] for r in reference.outputs["frames"]]
