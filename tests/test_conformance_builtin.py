"""Every built-in process passes the conformance checks plugin authors run."""

from __future__ import annotations

from typing import Any

import pytest

from procfw.registry import processes
from procfw.testing import check_process

# Processes whose PixInsight defaults do not fit the conformance image (a ramp over [0, 1]):
# the parameters to run them with instead.
FITTING_THE_RAMP: dict[str, dict[str, Any]] = {
    "MaskedStretch": {"backgroundHigh": 0.5, "targetBackground": 0.7},  # its background is 0.25, not < 0.05
}


@pytest.mark.parametrize("process_id", processes.ids())
def test_builtin_process_conforms(process_id):
    cls = processes.get(process_id)
    values = FITTING_THE_RAMP.get(process_id)
    check_process(cls, instance=cls(**values) if values else None).raise_if_failed()
