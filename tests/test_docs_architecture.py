"""docs/architecture.md: its three examples (a process, a command, a format) work as shown."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from procfw.console import run_text
from procfw.io import read_image
from procfw.registry import commands, formats, processes
from procfw.testing import check_process

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


@pytest.fixture
def examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, object]]:
    """The doc's Python blocks as modules arch_process, arch_command, arch_format; registered."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 3
    names = ["arch_process", "arch_command", "arch_format"]
    for name, body in zip(names, blocks):
        (tmp_path / f"{name}.py").write_text(body, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    from arch_command import sizes  # type: ignore[import-not-found]
    from arch_format import RAW_FORMAT  # type: ignore[import-not-found]
    from arch_process import Offset  # type: ignore[import-not-found]

    undo = [
        processes.register("Offset", Offset),
        formats.register("raw", RAW_FORMAT),
        commands.register("sizes", sizes),
    ]
    yield {"Offset": Offset, "RAW_FORMAT": RAW_FORMAT, "sizes": sizes}
    for unregister in reversed(undo):
        unregister()
    for name in names:
        sys.modules.pop(name, None)


def test_the_process_example_conforms(examples: dict[str, object]) -> None:
    """The Offset example passes the conformance suite plugin processes must pass."""
    check_process(examples["Offset"]).raise_if_failed()  # type: ignore[arg-type]


def test_the_examples_run_in_a_console_session(
    examples: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Offset runs on a view, the raw format saves and opens it, sizes prints both windows."""
    path = tmp_path / "a.3x4x8.raw"
    session = run_text(
        "NewImage -id=a -width=8 -height=4 -colorSpace=RGB -numberOfChannels=3\n"
        f'Offset -offset=0.25 a\nsave a "{path}"\nopen "{path}" -id=b\n'
        "sizes -channels+"
    )
    assert np.allclose(read_image(path).pixels, 0.25)
    assert session.workspace.window("b").image.pixels.shape == (3, 4, 8)
    assert capsys.readouterr().out.splitlines()[-2:] == ["a: 8x4x3", "b: 8x4x3"]
