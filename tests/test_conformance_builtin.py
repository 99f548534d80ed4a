"""Every built-in process passes the conformance checks plugin authors run."""

from __future__ import annotations

import pytest

from procfw.registry import processes
from procfw.testing import check_process


@pytest.mark.parametrize("process_id", processes.ids())
def test_builtin_process_conforms(process_id):
    check_process(processes.get(process_id)).raise_if_failed()
