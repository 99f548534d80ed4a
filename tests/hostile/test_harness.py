"""The harness itself: a clean error is recognised as one."""

from __future__ import annotations

from hostile.harness import run_case


def test_a_missing_file_is_a_clean_error(tmp_path):
    result = run_case("missing file", ["run", "-c", f'open "{tmp_path / "nope.fits"}"'])
    assert result.clean_error, result.stderr
    assert "nope.fits" in result.stderr

