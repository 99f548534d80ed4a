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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="posix_fadvise and mincore: Linux")
@pytest.mark.parametrize("suffix", [".fits", ".xisf"])
def test_image_files_are_written_through_the_cache(tmp_path, suffix) -> None:
    """A frame written by procfw leaves (almost) none of its pages in the page cache — all
    but the last chunk were flushed and dropped as they were written — and reads back
    exactly; a plain write of the same bytes keeps them all cached (the probe works)."""
    from procfw.image import Image
    from procfw.io import read_image, write_image

    pixels = np.random.default_rng(2).random((3, 600, 1000), dtype=np.float32)  # 7.2 MB
    path = tmp_path / f"frame{suffix}"
    write_image(Image(pixels), path)
    cached = _cached_pages(path)
    plain = tmp_path / "plain.bin"
    with open(plain, "wb") as f:
        f.write(path.read_bytes())
        f.flush()
        os.fsync(f.fileno())
    pages = -(-path.stat().st_size // os.sysconf("SC_PAGE_SIZE"))
    kept = _cached_pages(plain)
    if cached is None or kept is None:
        pytest.skip("mincore cannot be asked here")
    assert kept > pages * 3 // 4  # a plain write keeps its pages (the probe works)
    drop_cached(plain)
    if _cached_pages(plain) > pages // 2:
        pytest.skip("this filesystem keeps dropped pages (tmpfs)")
    assert cached < pages // 2, (cached, pages)
    assert np.array_equal(read_image(path).pixels, pixels)


def test_write_through_file_writes_everything_and_can_rewrite(tmp_path, monkeypatch) -> None:
    """Every byte arrives (large writes, small writes, a rewrite after seeking back), also
    with a tiny threshold that flushes on every write."""
    from procfw.io import pagecache

    monkeypatch.setattr(pagecache, "WRITE_THROUGH_BYTES", 1000)
    data = np.random.default_rng(3).integers(0, 255, 50_000, dtype=np.uint8).tobytes()
    path = tmp_path / "out.bin"
    with pagecache.open_write_through(path) as f:
        assert f.write(b"HEADER--") == 8
        for start in range(0, len(data), 7_000):
            f.write(memoryview(data)[start : start + 7_000])
        f.seek(0)
        f.write(b"header++")
    assert path.read_bytes() == b"header++" + data
