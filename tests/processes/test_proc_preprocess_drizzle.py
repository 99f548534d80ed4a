"""`preprocess -drizzle+`: StarAlignment writes a .xdrz per registered light, ImageIntegration
completes them (normalization, weights, rejection maps) and DrizzleIntegration makes
``master_<filter>_drizzle`` beside the plain master."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from processes.kernels.drizzledata import read_drizzle_data
from processes.simulation.session import simulate_session
from processes.workflows.preprocess import Options, plan_session, preprocess
from procfw.io import read_image


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("drizzle")
    simulate_session(root / "raw", filters=("L",), width=192, height=192, bias=3, darks=3, flats=3, lights=5,
                     stars=60, rotation=0.5, seed=8)
    options = Options(drizzle=True, drizzle_scale=2.0, drizzle_drop_shrink=0.8, executor="serial")
    plan = plan_session(root / "raw", root / "pre", options)
    preprocess(root / "raw", root / "pre", options, plan=plan)
    return {"plan": plan, "root": root / "pre",
            "report": json.loads((root / "pre" / "preprocess_report.json").read_text())}


def test_the_plan_and_the_report_name_the_drizzle(run: dict) -> None:
    assert any("drizzle x2, drop shrink 0.8" in line for line in run["plan"].lines())
    (master,) = run["report"]["masters"]
    drizzle = master["drizzle"]
    assert drizzle["frames"] == 5 and drizzle["cfa"] is False and drizzle["scale"] == 2.0
    assert "drizzle x2, drop shrink 0.8" in (run["root"] / "preprocess_report.txt").read_text()
    assert run["report"]["options"]["drizzle"] is True


def test_the_drizzled_master_is_twice_the_size_and_as_sharp(run: dict) -> None:
    (master,) = run["report"]["masters"]
    image = read_image(master["drizzle"]["path"])
    assert (image.height, image.width) == (384, 384)
    assert image.keyword("DRIZSCAL") == 2.0
    fwhm_plain, fwhm_drizzle = master["stars"]["fwhm"], master["drizzle"]["stars"]["fwhm"] / 2
    assert 0.7 * fwhm_plain < fwhm_drizzle < 1.1 * fwhm_plain, (fwhm_plain, fwhm_drizzle)


def test_each_registered_light_has_its_completed_drizzle_data(run: dict) -> None:
    for light in run["report"]["lights"]:
        xdrz = Path(light["registered"]).with_suffix(".xdrz")
        data = read_drizzle_data(xdrz)
        assert data.has_integration_data and not data.cfa_source_file_path


def test_drizzle_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Options(drizzle=True, drizzle_scale=5.0)
    with pytest.raises(ValueError):
        Options(drizzle=True, drizzle_drop_shrink=0.0)
