"""SimulateSession: the simulated raw LRGB session that feeds the pre-processing pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from processes.simulation.session import FILTER_THROUGHPUT, SimulateSession, parse_filters, simulate_session
from procfw.errors import ExecutionError, ParameterError
from procfw.testing import check_process
from procfw.workspace import Workspace

SMALL = {"width": 96, "height": 80, "biasCount": 2, "darkCount": 2, "flatCount": 2, "lightCount": 2,
         "starCount": 30, "filters": "L,R"}


def test_conformance() -> None:
    check_process(SimulateSession).raise_if_failed()


def test_writes_the_session_with_its_keywords(tmp_path: Path) -> None:
    result = SimulateSession(outputDirectory=str(tmp_path / "raw"), darkFlatCount=2, **SMALL).execute_global(
        Workspace())
    assert result.outputs["files"] == 2 + 2 + 2 + 2 * (2 + 2)
    root = tmp_path / "raw"
    expected = {
        "bias/bias_000.fits": ("Bias Frame", 0.0, ""),
        "darks/dark_60s_001.fits": ("Dark Frame", 60.0, ""),
        "darkflats/darkflat_1s_000.fits": ("Dark Flat", 1.0, ""),
        "flats/R/flat_R_001.fits": ("Flat Field", 1.0, "R"),
        "lights/L/light_L_000.fits": ("Light Frame", 60.0, "L"),
        "lights/R/light_R_001.fits": ("Light Frame", 60.0, "R"),
    }
    for name, (imagetyp, exposure, filter_name) in expected.items():
        header = fits.getheader(root / name)
        assert header["IMAGETYP"] == imagetyp
        assert header["EXPTIME"] == exposure
        assert header["FILTER"].strip() == filter_name
        assert (header["NAXIS1"], header["NAXIS2"]) == (96, 80)
        assert header["XBINNING"] == 1 and header["CCD-TEMP"] == -10.0 and header["GAIN"] == 1.0
        assert header["BITPIX"] == 16


def test_deterministic_and_never_overwrites(tmp_path: Path) -> None:
    first = SimulateSession(outputDirectory=str(tmp_path / "a"), **SMALL)
    first.execute_global(Workspace())
    SimulateSession(outputDirectory=str(tmp_path / "b"), **SMALL).execute_global(Workspace())
    for path in (tmp_path / "a").rglob("*.fits"):
        twin = tmp_path / "b" / path.relative_to(tmp_path / "a")
        assert np.array_equal(fits.getdata(path), fits.getdata(twin))
    with pytest.raises(Exception, match="exists"):
        first.execute_global(Workspace())
    first.evolve(overwriteExistingFiles=True).execute_global(Workspace())
    assert not SimulateSession().can_execute_global()[0]
    with pytest.raises(ExecutionError, match="outputDirectory"):
        SimulateSession().execute_global(Workspace())
    with pytest.raises(ParameterError):
        SimulateSession(filters=" , ")


def test_filters_throughput_dither_and_trail(tmp_path: Path) -> None:
    session = simulate_session(tmp_path, filters=("L", "R"), width=128, height=128, bias=0, darks=0, flats=0,
                               lights=3, stars=40, seed=4)
    assert parse_filters("L, R,G  B,L") == ("L", "R", "G", "B")
    l0, r0 = session.light_frames["L"][0], session.light_frames["R"][0]
    assert l0.truth.shift == (0.0, 0.0) and l0.truth.rotation == 0.0  # the first L frame is the scene itself
    assert r0.truth.shift != (0.0, 0.0)
    # the sky of R is the L sky times R's throughput and the sky colour's R weight over its mean
    ratio = np.median(r0.truth.sky) / np.median(l0.truth.sky)
    assert ratio == pytest.approx(FILTER_THROUGHPUT["R"] * 1.0 / np.mean((1.0, 0.9, 0.75)), rel=1e-6)
    # only the second light of each filter crosses the trail: its signal exceeds the stars-only rendering
    for name in ("L", "R"):
        frames = session.light_frames[name]
        excess = [float((f.truth.signal - f.truth.sky).sum()) for f in frames]
        assert excess[1] > 1.5 * max(excess[0], excess[2])
