"""procfw.io.pagecache: dropping a file's cached pages changes nothing in the file."""

from __future__ import annotations

import errno
import io
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
    """A frame written by procfw leaves (almost) none of its pages in the page cache — written
    with O_DIRECT, or flushed and dropped chunk by chunk — and reads back
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


@pytest.mark.parametrize("direct", [True, False])
def test_direct_write_file_writes_everything_and_can_rewrite(tmp_path, monkeypatch, direct) -> None:
    """Every byte arrives — large writes, small writes, rewrites after seeking back (into bytes
    already on the disk, and into bytes still staged), a partial last block cut back to the
    file's length — with O_DIRECT and without (a filesystem that refuses it), with a tiny
    staging buffer that writes on almost every call."""
    from procfw.io import pagecache

    monkeypatch.setattr(pagecache, "STAGE_BYTES", 8192)
    if not direct:
        monkeypatch.delattr(os, "O_DIRECT", raising=False)
    data = np.random.default_rng(3).integers(0, 255, 50_001, dtype=np.uint8).tobytes()
    path = tmp_path / "out.bin"
    with pagecache.open_write_through(path) as f:
        assert f.write(b"HEADER--") == 8
        for start in range(0, len(data), 7_000):
            f.write(memoryview(data)[start : start + 7_000])
        assert f.tell() == 8 + len(data)
        f.seek(0)
        f.write(b"header++")
        f.seek(-3, os.SEEK_END)
        f.write(b"END")
        f.seek(0, os.SEEK_END)
        f.write(b"+tail")
        with pytest.raises(io.UnsupportedOperation):
            f.seek(10, os.SEEK_END)
    assert path.read_bytes() == b"header++" + data[:-3] + b"END+tail"


@pytest.mark.parametrize("direct", [True, False])
def test_arrays_are_cast_straight_into_the_staging_buffer(tmp_path, monkeypatch, direct) -> None:
    """write_array: the values cast to the file's type (big-endian floats) across many staging
    buffers, after bytes that leave the buffer on a sample boundary (cast in place) and after
    bytes that do not, or after seeking back (through a converted copy); the array unchanged."""
    from procfw.io import pagecache

    monkeypatch.setattr(pagecache, "STAGE_BYTES", 8192)
    if not direct:
        monkeypatch.delattr(os, "O_DIRECT", raising=False)
    values = np.random.default_rng(4).normal(size=10_001).astype(np.float32)
    kept = values.copy()
    path = tmp_path / "out.bin"
    with pagecache.open_write_through(path) as f:
        f.write(b"HEAD")
        assert f.write_array(values, ">f4") == values.nbytes  # on a sample boundary: in place
        f.write(b"x")
        f.write_array(values[:5], ">f8")  # off the boundary: a converted copy
        f.seek(4)
        f.write_array(values[:3] * 2, ">f4")  # a rewrite
    expected = b"HEAD" + (values[:3] * 2).astype(">f4").tobytes() + values[3:].astype(">f4").tobytes()
    assert path.read_bytes() == expected + b"x" + values[:5].astype(">f8").tobytes()
    assert np.array_equal(values, kept)


def test_a_refused_direct_transfer_falls_back_to_plain_writes(tmp_path, monkeypatch) -> None:
    """A filesystem that takes O_DIRECT at open but refuses the transfer (EINVAL): the bytes
    are written without it."""
    from procfw.io import pagecache

    if not hasattr(os, "O_DIRECT"):
        pytest.skip("no O_DIRECT here")
    real_write = os.write
    calls = []

    def refusing(fd, data):
        import fcntl

        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            calls.append(len(data))
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(pagecache.os, "write", refusing)
    data = bytes(range(256)) * 100
    path = tmp_path / "out.bin"
    with pagecache.open_write_through(path) as f:
        if not f._direct:
            pytest.skip("this filesystem refuses O_DIRECT when the file is opened")
        f.write(data)
    monkeypatch.undo()
    assert calls and not f._direct and path.read_bytes() == data


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork: POSIX")
def test_a_forked_child_and_its_parent_write_through_their_own_buffers(tmp_path) -> None:
    """A pool worker forked from a process that wrote a frame (the fork server's warm-up) must
    not stage its bytes in the parent's buffer: the child stages its file, the parent then
    writes and closes its own, and only then the child closes — each file keeps its bytes."""
    from procfw.io import pagecache

    with pagecache.open_write_through(tmp_path / "warm.bin") as f:  # leaves a spare staging buffer
        f.write(b"w" * 10_000)
    size = pagecache.STAGE_BYTES // 2
    staged_r, staged_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        status = 1
        try:
            with pagecache.open_write_through(tmp_path / "child.bin") as f:
                f.write(b"c" * size)
                os.write(staged_w, b"1")
                os.read(done_r, 1)
            status = 0
        finally:
            os._exit(status)
    os.read(staged_r, 1)
    with pagecache.open_write_through(tmp_path / "parent.bin") as f:
        f.write(b"p" * size)
    os.write(done_w, b"1")
    _, status = os.waitpid(pid, 0)
    for fd in (staged_r, staged_w, done_r, done_w):
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert (tmp_path / "parent.bin").read_bytes() == b"p" * size
    assert (tmp_path / "child.bin").read_bytes() == b"c" * size


@pytest.mark.parametrize("direct", [True, False])
def test_regions_written_at_the_same_time_make_up_the_file(tmp_path, monkeypatch, direct) -> None:
    """DirectRegionsFile: regions of any sizes (empty, inside one block, across many staging
    slices), filled a piece at a time in any interleaving, with bytes and with arrays cast to
    big-endian floats, make up exactly the expected file, with O_DIRECT and without."""
    from procfw.io import pagecache

    monkeypatch.setattr(pagecache, "STAGE_BYTES", 3 * 8192)
    if not direct:
        monkeypatch.delattr(os, "O_DIRECT", raising=False)
    rng = np.random.default_rng(5)
    for trial in range(30):
        sizes = [int(s) * 4 for s in rng.integers(0, 12_000, int(rng.integers(1, 5)))]
        starts = list(np.cumsum([0, *sizes[:-1]]))
        data = rng.integers(0, 255, sum(sizes), dtype=np.uint8).tobytes()
        position = list(starts)
        ends = [*starts[1:], len(data)]
        path = tmp_path / f"out{trial}.bin"
        with pagecache.DirectRegionsFile(path, starts, len(data)) as f:
            while any(p < e for p, e in zip(position, ends)):
                i = int(rng.integers(0, len(sizes)))
                count = min(ends[i] - position[i], int(rng.integers(1, 3000)) * 4)
                piece = data[position[i] : position[i] + count]
                if rng.random() < 0.5:
                    f.write_array(i, np.frombuffer(piece, dtype=">f4").astype(np.float32), ">f4")
                else:
                    f.write(i, piece)
                position[i] += count
        assert path.read_bytes() == data, trial


def test_a_region_cannot_overflow(tmp_path) -> None:
    from procfw.io.pagecache import DirectRegionsFile

    with DirectRegionsFile(tmp_path / "out.bin", [0, 10], 20) as f:
        f.write(0, b"0123456789")
        with pytest.raises(ValueError, match="do not fit"):
            f.write(0, b"x")
        f.write(1, b"abcdefghij")
    assert (tmp_path / "out.bin").read_bytes() == b"0123456789abcdefghij"
