"""NewImage (processes/utility/newimage.py): PixInsight's parameters, global execution, conformance."""

from __future__ import annotations

import numpy as np
import pytest

from processes.utility.newimage import NewImage
from procfw.errors import ParameterError
from procfw.registry import processes
from procfw.testing import check_process
from procfw.workspace import Workspace


def test_registered_and_conformant():
    assert processes.get("NewImage") is NewImage
    check_process(NewImage).raise_if_failed()
    assert list(NewImage.schema()) == ["id", "width", "height", "numberOfChannels", "colorSpace", "sampleFormat",
                                       "v0", "v1", "v2", "va"]


def test_creates_a_window_globally():
    workspace = Workspace()
    result = NewImage(id="rgb", width=5, height=3, v0=0.1, v1=0.2, v2=0.3, numberOfChannels=4,
                      colorSpace="RGB").execute_global(workspace)
    assert result.created == ("rgb",) and workspace.current_view_id == "rgb"
    pixels = workspace.view("rgb").image.pixels
    assert pixels.shape == (4, 3, 5) and pixels.dtype == np.float32
    np.testing.assert_allclose(pixels[:, 0, 0], [0.1, 0.2, 0.3, 1.0], rtol=1e-6)
    gray = NewImage(colorSpace="Grayscale", numberOfChannels=1, width=2, height=2, v0=0.5, sampleFormat="f64")
    assert gray.make_image().pixels.dtype == np.float64
    assert NewImage(width=8, height=8).execute_global(workspace).created == ("Image",)


def test_defaults_and_elements_are_pixinsight_s():
    # PCL NewImageParameters.cpp / NewImageInstance.cpp: 1024 x 1024, one channel, a new instance in
    # Grayscale; colorSpace RGB = 0, Grayscale = 1; up to 1024 channels; fill values with 8 decimals
    made = NewImage()
    assert (made.width, made.height, made.numberOfChannels, made.colorSpace) == (1024, 1024, 1, "Grayscale")
    kind = NewImage.schema()["colorSpace"]
    assert kind.value_of("RGB") == 0 and kind.value_of("Grayscale") == 1
    assert NewImage.schema()["numberOfChannels"].bounds() == (1, 1024)
    assert NewImage(numberOfChannels=1024, width=1, height=1).numberOfChannels == 1024
    assert NewImage.schema()["v0"].format(0.123456789) == "0.12345679"
    image = NewImage(width=2, height=2).make_image()
    assert image.pixels.shape == (1, 2, 2)


def test_integer_formats_quantize_and_rules_hold():
    assert NewImage(v0=0.3, sampleFormat="i8").fill_values()[0] == round(0.3 * 255) / 255
    with pytest.raises(ParameterError, match="needs at least 3"):
        NewImage(numberOfChannels=2, colorSpace="RGB")
    with pytest.raises(ParameterError):
        NewImage(v0=1.5)
    with pytest.raises(ParameterError):
        NewImage(width=0)
    ok, _ = NewImage().can_execute_global()
    assert ok
