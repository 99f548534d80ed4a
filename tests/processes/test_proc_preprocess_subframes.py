"""`preprocess -subframeWeighting+ -approval=...`: SubframeSelector measures the processed lights,
its approval expression rejects frames, and its weights weigh the integration."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from processes.simulation import camera as sim
from processes.simulation.session import filter_scene, simulate_session
from processes.workflows.preprocess import Options, preprocess


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("subframes")
    session = simulate_session(root / "raw", filters=("L",), width=192, height=192, bias=3, darks=3, flats=3,
                               lights=5, stars=60, rotation=0.5, seed=8)
    cam = attrs.evolve(session.camera, filter="L")
    blurred = attrs.evolve(filter_scene(session.scene, "L"), fwhm=6.0)  # bad seeing: twice the others' FWHM
    sim.light_frame(cam, blurred, exposure=60.0, seed=91, shift=(1.5, -1.0)).write(
        root / "raw" / "lights" / "L" / "light_L_blurred.fits")
    result = preprocess(root / "raw", root / "pre", Options(subframe_weighting=True, approval="FWHM < 4.5",
                                                            executor="serial"))
    return {"result": result, "report": json.loads((root / "pre" / "preprocess_report.json").read_text())}


def test_the_approval_expression_rejects_the_blurred_frame_with_its_reason(run: dict) -> None:
    report = run["report"]
    (rejected,) = report["rejected"]
    assert Path(rejected["path"]).name == "light_L_blurred.fits" and rejected["step"] == "subframe selection"
    assert "the approval expression 'FWHM < 4.5' is false (FWHM " in rejected["reason"]
    measured = {Path(light["path"]).name: light["subframe"] for light in report["lights"]}
    assert measured["light_L_blurred.fits"]["FWHM"] > 5.0
    assert all(2.5 < m["FWHM"] < 3.5 for name, m in measured.items() if name != "light_L_blurred.fits")
    assert report["options"]["subframeWeighting"] is True and report["options"]["approval"] == "FWHM < 4.5"


def test_the_integration_is_weighted_by_the_subframe_weights(run: dict) -> None:
    report = run["report"]
    (master,) = report["masters"]
    assert master["weights"] == "SubframeSelector: PSFSignalWeight" and master["frames"] == 5
    integrated = [light for light in report["lights"] if light["status"] == "integrated"]
    psf_weights = [light["subframe"]["PSFSignalWeight"] for light in integrated]
    used = [light["integration"]["weight"][0] for light in integrated]
    # ImageIntegration normalizes the weights: the ratios are the PSF signal weights'
    reference = psf_weights[0] / used[0]
    assert [w / reference for w in psf_weights] == pytest.approx(used, rel=1e-4)
    assert all(r is not None and r > 1.5 for r in master["noiseReduction"])  # per-frame noise still reported
