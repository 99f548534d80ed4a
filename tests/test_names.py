"""procfw.names.option_spellings: the parameter names a console option name binds to."""

import pytest

from procfw.names import option_spellings


@pytest.mark.parametrize(("name", "expected"), [
    ("plan", ["plan"]),
    ("dry-run", ["dry-run", "dryRun", "dry_run"]),
    ("max--depth-x", ["max--depth-x", "maxDepthX", "max__depth_x"]),
    ("executor", ["executor"]),
])
def test_option_spellings(name: str, expected: list[str]) -> None:
    assert option_spellings(name) == expected
