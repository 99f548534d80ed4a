"""Print the hostile-case summary at the end of the session."""

from __future__ import annotations

from hostile.harness import summary


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001 - pytest hook signature
    terminalreporter.write_line(summary())
