"""Telling the system that a file's cached pages will not be read again.

A batch run writes intermediate frames that the next step reads once (a debayered frame
read by registration; a registered frame read by integration) and that nothing reads
afterwards.  Left in the page cache, every such file holds its size in memory, and each
new output file takes fresh pages.  :func:`drop_cached` asks the kernel to drop the
file's clean cached pages (``posix_fadvise(POSIX_FADV_DONTNEED)``), so that the memory is
free for the next output at once.  The file itself is untouched (a later read comes from
the disk).  Pages not yet written back are not dropped; procfw's writes are flushed
(:func:`procfw.io.atomic.atomic_path` calls ``fsync``), so their files' pages are clean.

On a virtual machine whose free memory goes back to the host (free page reporting),
touching fresh pages is slow — about 5 ms per MB measured on a 2-core Firecracker VM —
and writing a 25 MB frame into new page-cache pages took ~0.15–0.25 s, against ~0.03 s
into pages just freed.

Image files are written past the cache (:func:`open_write_through`): with ``O_DIRECT``
where the filesystem takes it (Linux: ext4, xfs, btrfs, …), the bytes go from a small
page-aligned staging buffer straight to the disk and take no page-cache pages at all;
elsewhere every :data:`STAGE_BYTES` written are flushed and dropped at once, so that
writing a frame reuses the pages its own first chunk just left instead of taking a
frame's worth of fresh ones.  Either way a batch of frames (a night of subs is larger
than any page cache) does not push everything else out of memory, and the file's final
``fsync`` (atomic writes) has almost nothing left to flush.  Measured on the 2-core VM
above, a 25 MB float32 frame's bytes: 8–12 ms with ``O_DIRECT``, 16–47 ms flushed and
dropped in 4 MiB chunks, 140–220 ms into fresh pages; reading it back from the disk
later costs ~18 ms instead of ~14 ms from the cache.

Where the platform has no ``posix_fadvise`` (Windows, macOS), nothing is done.
"""

from __future__ import annotations

import errno
import io
import logging
import mmap
import os
import threading
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["STAGE_BYTES", "DirectRegionsFile", "DirectWriteFile", "drop_cached", "drop_cached_files",
           "open_write_through"]

log = logging.getLogger(__name__)


def drop_cached(path: str | os.PathLike[str]) -> bool:
    """Drop the cached pages of the file ``path`` (a hint; the file is not changed); True if the hint was given.

    Errors (a missing file, a platform without ``posix_fadvise``) are ignored: the hint
    only saves memory and time.
    """
    advise = getattr(os, "posix_fadvise", None)
    flag = getattr(os, "POSIX_FADV_DONTNEED", None)
    if advise is None or flag is None:
        return False
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY)
    except OSError:
        return False
    try:
        advise(fd, 0, 0, flag)
        return True
    except OSError as exc:
        log.debug("cannot drop the cached pages of %s: %s", path, exc)
        return False
    finally:
        os.close(fd)


def drop_cached_files(paths: Iterable[str | os.PathLike[str]]) -> int:
    """:func:`drop_cached` for each of ``paths`` (empty names skipped); how many hints were given."""
    return sum(drop_cached(p) for p in paths if os.fspath(p).strip())


STAGE_BYTES = 4 << 20
"""Size of the staging buffer of a :class:`DirectWriteFile`: the bytes written to the disk at a time."""
_ALIGN = 4096  # O_DIRECT transfers: buffer address, file offset and length multiples of the block size
_SPARE_STAGES: list[mmap.mmap] = []  # staging buffers of closed files, reused (fresh pages are slow to fault in)
_SPARE_LOCK = threading.Lock()
_MAX_SPARE_STAGES = 4


def _take_stage(size: int | None = None) -> mmap.mmap:
    """A staging buffer of ``size`` bytes (None: :data:`STAGE_BYTES`), a spare one when there is one."""
    size = size or STAGE_BYTES
    with _SPARE_LOCK:
        for i, stage in enumerate(_SPARE_STAGES):
            if len(stage) == size:
                return _SPARE_STAGES.pop(i)
    if hasattr(mmap, "MAP_PRIVATE"):  # never MAP_SHARED, mmap's default: a forked worker would write into it too
        return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return mmap.mmap(-1, size)  # anonymous, page-aligned


def _forget_spare_stages() -> None:
    """In a new child process: the parent's spare buffers are not this process's to reuse."""
    _SPARE_STAGES.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_spare_stages)


def _give_back_stage(stage: mmap.mmap) -> None:
    with _SPARE_LOCK:
        if len(stage) == STAGE_BYTES and len(_SPARE_STAGES) < _MAX_SPARE_STAGES:
            _SPARE_STAGES.append(stage)
            return
    stage.close()


class DirectWriteFile(io.RawIOBase):
    """A new binary file written past the page cache (see the module docstring).

    Bytes are gathered in a page-aligned staging buffer of :data:`STAGE_BYTES` and written
    a full buffer at a time — with ``O_DIRECT`` where the filesystem accepts it, else
    followed by ``fdatasync`` and ``posix_fadvise(DONTNEED)`` where the platform has it.
    The last, partial buffer is written padded to a block and the file cut back to its
    length.  Seeking back and rewriting works (an XISF header rewritten after its
    checksum): bytes still staged are changed in place, bytes already on the disk are
    rewritten when the file is closed, through the cache.  Seeking past the end is not
    supported.  Not thread-safe: one writer per file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.name = os.fspath(path)
        self._stage: mmap.mmap | None = None
        self._fd, self._direct = _open_new(self.name)
        self._advise = getattr(os, "posix_fadvise", None)
        self._stage = _take_stage()
        self._staged = 0  # bytes in the staging buffer
        self._flushed = 0  # bytes on the disk (a multiple of STAGE_BYTES until close)
        self._position = 0
        self._patches: list[tuple[int, bytes]] = []  # rewrites of bytes already on the disk

    # -- io.RawIOBase -------------------------------------------------------------------------
    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._end}[whence]
        target = base + offset
        if not 0 <= target <= self._end:
            raise io.UnsupportedOperation(f"{self.name}: seeking to {target} (the file has {self._end} bytes)")
        self._position = target
        return target

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        """Write all of ``data`` at the current position; the number of bytes."""
        view = memoryview(data).cast("B")
        size = len(view)
        if self._position < self._end:  # a rewrite of earlier bytes
            count = min(size, self._end - self._position)
            self._rewrite(self._position, view[:count])
            self._position += count
            view = view[count:]
        while len(view):
            count = min(len(view), STAGE_BYTES - self._staged)
            self._stage[self._staged : self._staged + count] = view[:count]
            self._staged += count
            self._position += count
            view = view[count:]
            if self._staged == STAGE_BYTES:
                self._write_stage(STAGE_BYTES)
        return size

    def close(self) -> None:
        """Write what is staged, cut the file to its length, apply the rewrites and close."""
        if self.closed:
            return
        if self._stage is None:  # the file could not be opened
            super().close()
            return
        try:
            if self._staged:
                length = self._end
                self._write_stage(-(-self._staged // _ALIGN) * _ALIGN)
                os.ftruncate(self._fd, length)
            if self._patches:
                fd = os.open(self.name, os.O_WRONLY)
                try:
                    for offset, data in self._patches:
                        os.lseek(fd, offset, os.SEEK_SET)
                        os.write(fd, data)
                finally:
                    os.close(fd)
        finally:
            os.close(self._fd)
            _give_back_stage(self._stage)
            super().close()

    def write_array(self, values: Any, dtype: Any) -> int:
        """Write the 1-D numpy array ``values`` cast to ``dtype`` (e.g. big-endian float32) at the current
        position; the number of bytes.

        The values are cast straight into the staging buffer (no intermediate copy) when the
        file is being appended to and the staged bytes are a whole number of samples;
        otherwise through a converted copy and :meth:`write`.
        """
        import numpy as np

        dtype = np.dtype(dtype)
        size = dtype.itemsize
        if self._position < self._end or self._staged % size or self._stage is None:
            return self.write(values.astype(dtype).view(np.uint8))
        stage = np.frombuffer(self._stage, dtype=dtype)
        try:
            done = 0
            while done < values.size:
                start = self._staged // size
                count = min(values.size - done, stage.size - start)
                np.copyto(stage[start : start + count], values[done : done + count])
                self._staged += count * size
                self._position += count * size
                done += count
                if self._staged == STAGE_BYTES:
                    self._write_stage(STAGE_BYTES)
        finally:
            del stage  # the buffer is exported while a view of it lives (it could not be closed)
        return values.size * size

    # -- staging ------------------------------------------------------------------------------
    @property
    def _end(self) -> int:
        return self._flushed + self._staged

    def _rewrite(self, offset: int, view: memoryview) -> None:
        on_disk = max(0, min(len(view), self._flushed - offset))
        if on_disk:
            self._patches.append((offset, bytes(view[:on_disk])))
        if on_disk < len(view):
            start = offset + on_disk - self._flushed
            self._stage[start : start + len(view) - on_disk] = view[on_disk:]

    def _write_stage(self, length: int) -> None:
        """Write the first ``length`` bytes of the staging buffer (zero-padded past what is staged)."""
        if length > self._staged:
            self._stage[self._staged : length] = bytes(length - self._staged)
        with memoryview(self._stage)[:length] as view:
            self._direct = _write_at(self._fd, view, self._flushed, self._direct)
        if not self._direct and self._advise is not None:
            self._advise = _write_back(self._fd, self._advise, 0, self._flushed + length, self.name)
        self._flushed += self._staged if length > self._staged else length
        self._staged = 0


class DirectRegionsFile:
    """A new file of known size whose regions are filled at the same time, each in order, past the page cache.

    ``starts`` (increasing, the first 0) cut the file's ``size`` bytes into regions: region
    ``i`` holds the bytes from ``starts[i]`` to the next start (the last to ``size``), and
    :meth:`write` / :meth:`write_array` append to one region — the planes of a planar image
    given a band of rows at a time, each band adding rows to every plane.  The regions
    share one staging buffer of :data:`STAGE_BYTES` (a slice of whole blocks each, so the
    same memory as a :class:`DirectWriteFile`); a region's full slice goes to the disk at
    once, as :class:`DirectWriteFile` writes its buffer (``O_DIRECT`` where the filesystem
    takes it, else written, flushed and dropped).  Direct transfers write whole blocks, so
    the bytes of the blocks where two regions meet (a few KB) are kept and written, put
    together, when the file is closed.  Writing past a region's end raises ValueError; a
    region left short leaves zeros.  Not thread-safe: one writer per file.
    """

    def __init__(self, path: str | os.PathLike[str], starts: Sequence[int], size: int) -> None:
        self.name = os.fspath(path)
        self._ends = [*starts[1:], size]
        if not starts or starts[0] != 0 or any(b < a for a, b in zip(starts, self._ends)):
            raise ValueError(f"{self.name}: regions must start at 0 and increase up to the size ({starts}, {size})")
        self._starts = list(starts)
        self._size = size
        self._stage: mmap.mmap | None = None
        self._fd, self._direct = _open_new(self.name)
        self._advise = getattr(os, "posix_fadvise", None)
        count = len(starts)
        self._slice = max(_ALIGN, STAGE_BYTES // count // _ALIGN * _ALIGN)
        self._stage = _take_stage(max(STAGE_BYTES, count * self._slice))
        self._slices = [memoryview(self._stage)[i * self._slice : (i + 1) * self._slice] for i in range(count)]
        self._position = list(starts)  # the next byte of each region
        self._base = [min(end, -(-start // _ALIGN) * _ALIGN) for start, end in zip(starts, self._ends)]
        # the bytes up to a region's first whole block, kept for the close (its slice stages from there),
        # and a block for casting values into before they are written: both made now, so that writing
        # allocates nothing (a writer thread's small blocks taken while the caller frees and allocates
        # frame-sized ones could split the holes those need)
        self._heads = [bytearray(base - start) for start, base in zip(starts, self._base)]
        self._scratch = bytearray(_ALIGN)
        self._staged = [0] * count
        self.closed = False

    def __enter__(self) -> DirectRegionsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, region: int, data: bytes | bytearray | memoryview) -> int:
        """Append all of ``data`` to region ``region``; the number of bytes."""
        view = memoryview(data).cast("B")
        size = len(view)
        self._claim(region, size)
        head = min(size, self._base[region] - self._position[region])
        if head > 0:
            at = self._position[region] - self._starts[region]
            self._heads[region][at : at + head] = view[:head]
            self._position[region] += head
            view = view[head:]
        stage = self._slices[region]
        while len(view):
            staged = self._staged[region]
            count = min(len(view), self._slice - staged)
            stage[staged : staged + count] = view[:count]
            self._staged[region] = staged + count
            self._position[region] += count
            view = view[count:]
            if self._staged[region] == self._slice:
                self._write_slice(region, self._slice)
        return size

    def write_array(self, region: int, values: Any, dtype: Any) -> int:
        """Append the 1-D numpy array ``values`` cast to ``dtype`` (e.g. big-endian float32) to region
        ``region``; the number of bytes.

        The values are cast straight into the region's slice of the staging buffer; those of
        its first partial block, or all of them when the slice does not end on a sample
        boundary, through small converted copies and :meth:`write`.
        """
        import numpy as np

        dtype = np.dtype(dtype)
        size = dtype.itemsize
        self._claim(region, values.size * size)
        done = 0
        while done < values.size:
            staged = self._staged[region]
            if self._position[region] < self._base[region] or staged % size:
                count = min(values.size - done, max(1, len(self._scratch) // size))
                cast = np.frombuffer(self._scratch, dtype=dtype, count=count)
                np.copyto(cast, values[done : done + count], casting="unsafe")  # as astype casts
                del cast  # the scratch block is exported while a view of it lives
                self.write(region, memoryview(self._scratch)[: count * size])
                done += count
                continue
            stage = np.frombuffer(self._slices[region], dtype=dtype, count=self._slice // size)
            count = min(values.size - done, stage.size - staged // size)
            np.copyto(stage[staged // size : staged // size + count], values[done : done + count])
            del stage  # the slice is exported while a view of it lives
            done += count
            self._staged[region] = staged + count * size
            self._position[region] += count * size
            if self._staged[region] == self._slice:
                self._write_slice(region, self._slice)
        return values.size * size

    def close(self) -> None:
        """Write what is staged and the blocks the regions share, set the file's size, close."""
        if self.closed:
            return
        self.closed = True
        if self._stage is None:  # the file could not be opened
            return
        try:
            pieces: list[tuple[int, bytes]] = []  # the bytes of the blocks not written whole by one region
            for region, head in enumerate(self._heads):
                filled = min(self._position[region] - self._starts[region], len(head))  # of the head's bytes
                if filled:
                    pieces.append((self._starts[region], bytes(memoryview(head)[:filled])))
                whole = self._staged[region] // _ALIGN * _ALIGN
                tail = bytes(self._slices[region][whole : self._staged[region]])
                if tail:
                    pieces.append((self._base[region] + whole, tail))
                if whole:
                    self._write_slice(region, whole)
            self._write_blocks(pieces)
            os.ftruncate(self._fd, self._size)
        finally:
            self._release()

    def _write_blocks(self, pieces: list[tuple[int, bytes]]) -> None:
        """Put ``pieces`` (offset, bytes) together into the whole blocks they fill (zeros past the
        file's end) and write each from the staging buffer, as the slices are written."""
        blocks: dict[int, bytearray] = {}
        for offset, data in pieces:
            done = 0
            while done < len(data):
                index, at = divmod(offset + done, _ALIGN)
                count = min(len(data) - done, _ALIGN - at)
                blocks.setdefault(index, bytearray(_ALIGN))[at : at + count] = data[done : done + count]
                done += count
        with self._slices[0][:_ALIGN] as block:
            for index in sorted(blocks):
                block[:] = blocks[index]
                self._direct = _write_at(self._fd, block, index * _ALIGN, self._direct)
                if not self._direct and self._advise is not None:
                    self._advise = _write_back(self._fd, self._advise, index * _ALIGN, _ALIGN, self.name)

    def _claim(self, region: int, size: int) -> None:
        if self._position[region] + size > self._ends[region]:
            raise ValueError(f"{self.name}: {size} bytes do not fit in region {region} (at {self._position[region]}, "
                             f"ending at {self._ends[region]})")

    def _write_slice(self, region: int, length: int) -> None:
        """Write the first ``length`` bytes (whole blocks, or a full slice) of a region's slice at its place."""
        base = self._base[region]
        with self._slices[region][:length] as view:
            self._direct = _write_at(self._fd, view, base, self._direct)
        if not self._direct and self._advise is not None:
            self._advise = _write_back(self._fd, self._advise, base, length, self.name)
        self._base[region] = base + length
        self._staged[region] -= length

    def _release(self) -> None:
        for view in self._slices:
            view.release()
        os.close(self._fd)
        stage, self._stage = self._stage, None
        if stage is not None:
            _give_back_stage(stage)


def _open_new(name: str) -> tuple[int, bool]:
    """Create (or truncate) the file ``name`` for writing: its descriptor, and whether with ``O_DIRECT``
    (where the platform has it and the filesystem takes it)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
    direct = getattr(os, "O_DIRECT", 0)
    if direct:
        try:
            return os.open(name, flags | direct, 0o666), True
        except OSError as exc:
            if exc.errno != errno.EINVAL:  # EINVAL: this filesystem does not take O_DIRECT
                raise
    return os.open(name, flags, 0o666), False


def _write_at(fd: int, view: memoryview, offset: int, direct: bool) -> bool:
    """Write all of ``view`` at ``offset`` of ``fd``; whether ``fd`` is still ``O_DIRECT`` afterwards
    (the flag is dropped when the filesystem took it at open but refuses the transfer)."""
    done = 0
    os.lseek(fd, offset, os.SEEK_SET)
    while done < len(view):
        try:
            done += os.write(fd, view[done:])
        except OSError as exc:
            if not (direct and exc.errno == errno.EINVAL):
                raise
            import fcntl

            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_DIRECT)
            direct = False
    return direct


def _write_back(fd: int, advise: Any, offset: int, length: int, name: str) -> Any:
    """Flush the bytes [offset, offset + length) of ``fd`` and drop them from the cache (``advise``:
    ``os.posix_fadvise``); ``advise`` again, or None once the filesystem refused (a hint only)."""
    try:
        os.fdatasync(fd)
        advise(fd, offset, length, os.POSIX_FADV_DONTNEED)
    except OSError as exc:  # a hint: a filesystem that refuses it only keeps its pages
        log.debug("cannot write %s past the page cache: %s", name, exc)
        return None
    return advise


def open_write_through(path: str | os.PathLike[str]) -> DirectWriteFile:
    """Create (or truncate) ``path`` for writing past the page cache (:class:`DirectWriteFile`)."""
    return DirectWriteFile(path)
