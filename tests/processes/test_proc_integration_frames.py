"""ImageIntegration's frame sources: strided row reads of plain FITS files."""

from __future__ import annotations

import os

import numpy as np
import pytest

from processes.integration import frames as frames_module
from processes.integration.frames import open_frame
from procfw.errors import ImageFileError
from procfw.image import Image
from procfw.io.fits import write_fits


@pytest.fixture
def frame(tmp_path):
    pixels = np.random.default_rng(7).random((3, 61, 40), dtype=np.float32)
    write_fits(Image(pixels), tmp_path / "frame.fits")
    return open_frame(tmp_path / "frame.fits"), pixels


@pytest.mark.parametrize("step", [2, 3, 7, 60])
def test_strided_rows_read_in_vectored_reads_equal_the_rows(frame, monkeypatch, step):
    """Rows a few apart come in vectored reads of many rows (the rows between into a scratch buffer),
    rows far apart one read each; both give exactly the rows, at most IOV_MAX buffers a read."""
    source, pixels = frame
    monkeypatch.setattr(frames_module, "_MAX_BUFFERS", 8)  # several reads per channel
    monkeypatch.setattr(frames_module, "GAP_BYTES", 3 * 40 * 4)  # rows more than 4 apart: one read per row
    calls: list[int] = []
    preadv = os.preadv

    def counted(fd, buffers, offset):
        calls.append(len(buffers))
        return preadv(fd, buffers, offset)

    monkeypatch.setattr(frames_module.os, "preadv", counted)
    for channel in range(3):
        assert np.array_equal(source.read_channel(channel, slice(1, 61, step)), pixels[channel, 1::step])
    rows = len(range(1, 61, step))
    per_channel = -(-rows // 4) if step <= 4 else rows
    assert len(calls) == 3 * per_channel and max(calls) <= 8


def test_short_vectored_reads_are_resumed_and_a_truncated_file_is_an_error(frame, monkeypatch, tmp_path):
    source, pixels = frame
    preadv = os.preadv

    def short(fd, buffers, offset):  # at most 1000 bytes a call, ending inside a buffer
        wanted, total = [], 0
        for b in buffers:
            wanted.append(b[: max(0, min(len(b), 1000 - total))])
            total += len(wanted[-1])
            if total >= 1000:
                break
        return preadv(fd, wanted, offset)

    monkeypatch.setattr(frames_module.os, "preadv", short)
    assert np.array_equal(source.read_channel(2, slice(0, 61, 2)), pixels[2, ::2])
    with open(source.path, "r+b") as f:
        f.truncate(os.path.getsize(source.path) - 61 * 40 * 4 // 2)
    with pytest.raises(ImageFileError, match="truncated"):
        source.read_channel(2, slice(0, 61, 2))
