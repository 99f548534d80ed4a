"""Invert and NoOperation: their maths, and the registry finding them by id."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ramp

from processes.intensity.invert import Invert
from processes.utility.nooperation import NoOperation
from procfw.errors import UnknownNameError
from procfw.registry import processes


def test_invert_and_nooperation(workspace):
    window = workspace.add_image(ramp(3), "rgb")
    Invert().execute_on(window.main_view)
    np.testing.assert_allclose(window.image.pixels, 1 - ramp(3).pixels)
    assert window.image.pixels.dtype == np.float32
    before = window.image
    NoOperation().execute_on(window.main_view)
    assert window.image is before
    assert NoOperation().can_execute_global() == (True, "")


def test_registry_finds_the_library_by_id():
    assert processes.get("Invert") is Invert
    assert "NoOperation" in processes.ids()
    with pytest.raises(UnknownNameError, match="did you mean Invert"):
        processes.get("Invret")
