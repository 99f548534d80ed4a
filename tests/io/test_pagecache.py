"""procfw.io.pagecache: dropping a file's cached pages changes nothing in the file."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from pagecache_probe import cached_pages as _cached_pages

from procfw.io.pagecache import drop_cached, drop_cached_files


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="posix_fadvise and mincore: Linux")
def test_dropping_a_flushed_file_empties_its_cache_and_keeps_its_bytes(tmp_path) -> None:
    data = np.random.default_rng(1).integers(0, 255, 4 << 20, dtype=np.uint8).tobytes()
    path = tmp_path / "frame.bin"
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())  # as procfw's atomic writes do: clean pages can be dropped
    before = _cached_pages(path)
    assert drop_cached(path) is True
    after = _cached_pages(path)
    if before is not None and after is not None:
        assert before > 0 and after < before // 4
    assert path.read_bytes() == data  # the file is untouched; read back from the disk


def test_missing_files_and_empty_names_are_ignored(tmp_path) -> None:
    assert drop_cached(tmp_path / "none.fits") is False
    (tmp_path / "a.bin").write_bytes(b"x")
    expected = 1 if hasattr(os, "posix_fadvise") else 0
    assert drop_cached_files(["", str(tmp_path / "a.bin"), tmp_path / "missing"]) == expected
