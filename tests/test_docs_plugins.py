"""docs/plugins.md shows the example plugin's files exactly as they are in tests/plugins/example."""

from __future__ import annotations

import re
from pathlib import Path

from procfw.testing import check_process

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "tests" / "plugins" / "example"


def test_docs_show_the_example_files_verbatim():
    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```\w+\n# file: (\S+)\n(.*?)```", text, flags=re.S)
    assert {path for path, _ in blocks} == {
        "pyproject.toml", "procfw_example/process.py", "procfw_example/command.py", "procfw_example/npyformat.py"
    }
    for path, body in blocks:
        assert body == (EXAMPLE / path).read_text(encoding="utf-8"), path


def test_example_process_conforms(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    from procfw_example.process import ExampleGain

    check_process(ExampleGain).raise_if_failed()
