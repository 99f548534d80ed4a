"""docs/console.md: every ```procfw example runs, and every built-in command is documented."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest

from procfw.console import Session, parse
from procfw.console.builtins import BUILTINS

from .conftest import ROOT, ramp, write_fits

DOC = ROOT / "docs" / "console.md"
EXAMPLES = re.findall(r"```procfw\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def test_the_reference_has_examples():
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"example{i}" for i in range(len(EXAMPLES))])
def test_example_runs(example: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if "icons save" in example or "icons load" in example:
        icons = pytest.importorskip("procfw.icons")
        if not hasattr(icons, "save_icons"):
            pytest.skip("procfw.icons cannot save icons yet")
    for index in (1, 2, 3):
        write_fits(tmp_path / f"light_{index}.fits", ramp(low=0.1 * index, high=0.5))
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    session = Session(out=out, err=out)
    session.run_text(example, file="docs/console.md")
    assert session.exit_code is None


def test_the_loop_example_writes_inverted_frames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    example = next(e for e in EXAMPLES if "calibrated" in e)
    write_fits(tmp_path / "light_1.fits", ramp())
    monkeypatch.chdir(tmp_path)
    Session(out=io.StringIO()).run_text(example)
    from astropy.io import fits

    np.testing.assert_allclose(fits.getdata(tmp_path / "calibrated" / "light_1_inv.fits"), 1 - ramp(), atol=1e-6)


def test_every_builtin_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [name for name in BUILTINS if f"`{name}" not in text]
    assert missing == []


def test_the_demo_script_parses() -> None:
    source = (ROOT / "scripts" / "demo.pcs").read_text(encoding="utf-8")
    assert parse(source, "demo.pcs").statements
