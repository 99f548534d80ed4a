"""One corpus locator: tests find the shared corpus only through ``conftest.CORPUS`` ($PROCFW_CORPUS)."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
HARD_CODED = re.compile(r"""["']shared["']\s*/\s*["']corpus["']|shared/corpus""")


def test_no_test_file_builds_the_corpus_path_itself():
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        if path.name == "conftest.py" and path.parent == TESTS or path == Path(__file__).resolve():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if HARD_CODED.search(line) and not line.lstrip().startswith("#"):
                offenders.append(f"{path.relative_to(TESTS)}:{number}: {line.strip()}")
    assert not offenders, "use conftest.CORPUS (or the corpus fixture):\n" + "\n".join(offenders)
