"""`-executor=`, `-workers=`, `-scheduler=` on a process command line: where its files run."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from procfw.console import ConsoleError, Session

from .conftest import read_fits


def _raw_frames(folder: Path, count: int = 3) -> list[Path]:
    """Small GRBG Bayer frames (32×32, distinct noise each)."""
    from astropy.io import fits

    paths = []
    for i in range(count):
        rng = np.random.default_rng(i)
        data = (1000 + 200 * rng.random((32, 32))).astype(np.uint16)
        header = fits.Header()
        header["BAYERPAT"] = "GRBG"
        path = folder / f"raw_{i}.fits"
        fits.writeto(path, data, header)
        paths.append(path)
    return paths


def _debayer(session: Session, out: Path, options: str = "") -> None:
    out.mkdir()
    session.run_text(f'Debayer -targetItems="raw_*.fits" -outputDirectory="{out}" -outputExtension=".fits" {options}')


def test_a_file_list_runs_on_local_processes_with_the_results_of_a_serial_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    frames = _raw_frames(tmp_path)
    session = Session(out=io.StringIO())
    _debayer(session, tmp_path / "serial")
    _debayer(session, tmp_path / "pool", "-executor=processes -workers=2")
    for frame in frames:
        name = f"{frame.stem}_d.fits"
        pooled, serial = read_fits(tmp_path / "pool" / name), read_fits(tmp_path / "serial" / name)
        assert pooled.shape == (3, 32, 32)
        np.testing.assert_array_equal(pooled, serial)
    assert [r["outputs"]["succeeded"] for r in session.records] == [3, 3]


def test_run_options_are_checked_and_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _raw_frames(tmp_path, 1)
    session = Session(out=io.StringIO())
    with pytest.raises(ConsoleError, match=r"-executor=proceses: expected one of serial\|processes\|dask "
                                           r"\(did you mean processes\?\)"):
        session.run_text('Debayer -targetItems="raw_*.fits" -executor=proceses')
    with pytest.raises(ConsoleError, match="-workers=0: expected a whole number of processes, at least 1"):
        session.run_text('Debayer -targetItems="raw_*.fits" -workers=0')
    with pytest.raises(ConsoleError, match="NewImage: -executor applies only to a run over files"):
        session.run_text("NewImage -id=a -executor=processes")
    with pytest.raises(ConsoleError, match="-executor given twice"):
        session.run_text('Debayer -targetItems="raw_*.fits" -executor=serial -executor=serial')
    assert session.records == []  # nothing ran


def test_a_file_list_pool_preloads_the_modules_the_process_names(tmp_path, monkeypatch):
    """``-executor=processes`` makes the pool with the process's ``worker_preload`` (Debayer: the module
    that loads its kernels in the fork server, once for all workers)."""
    from procfw import batch
    from procfw.console import session as session_module
    from procfw.registry import processes

    made = []

    def make_executor(kind, **options):
        made.append((kind, options))
        return batch.SerialExecutor()

    monkeypatch.setattr(session_module, "make_executor", make_executor)
    monkeypatch.chdir(tmp_path)
    _raw_frames(tmp_path, 1)
    session = Session(out=io.StringIO())
    _debayer(session, tmp_path / "out", "-executor=processes -workers=2")
    preload = processes.get("Debayer").worker_preload
    assert preload and made == [("processes", {"workers": 2, "scheduler": None, "preload": preload})]
    assert (tmp_path / "out" / "raw_0_d.fits").exists()

