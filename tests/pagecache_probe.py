"""Test helper: how many pages of a file the page cache holds (Linux ``mincore``)."""

from __future__ import annotations

import os


def cached_pages(path) -> int | None:
    """Pages of ``path`` in the page cache (``mincore`` on a private mapping), None where it cannot be asked."""
    import ctypes
    import mmap

    size = os.path.getsize(path)
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    vec = (ctypes.c_ubyte * pages)()
    libc = ctypes.CDLL(None, use_errno=True)
    with open(path, "rb") as f:
        mapped = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY)  # writable view, for its address
        try:
            anchor = ctypes.c_char.from_buffer(mapped)
            status = libc.mincore(ctypes.c_void_p(ctypes.addressof(anchor)), ctypes.c_size_t(size), vec)
            del anchor
        finally:
            mapped.close()
    return None if status != 0 else sum(v & 1 for v in vec)
