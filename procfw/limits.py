"""Memory budget of the images processes make: checked *before* anything is allocated.

A process whose output size comes from its parameters (Resample, IntegerResample,
DynamicCrop, FastRotation, NewImage) calls :func:`check_output_size` with the shape and
sample type it is about to allocate, plus an estimate of its temporary arrays.  Over the
limit, it fails at once with an :class:`~procfw.errors.ExecutionError` naming the process,
the parameters, the size in bytes and the limit, instead of running for seconds towards
an out-of-memory kill.

The limit is the one image files are held to, :func:`procfw.io.limits.max_image_bytes`:
environment variable ``PROCFW_MAX_IMAGE_BYTES`` (a byte count, ``512M``, ``8G``; default
4 GiB), or :func:`procfw.io.limits.set_limits` / :func:`procfw.io.limits.limits` from
Python.  One number governs what a file may declare and what a process may make.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from procfw.errors import ExecutionError
from procfw.io import limits as io_limits

__all__ = ["check_output_size", "image_bytes", "max_image_bytes"]


def max_image_bytes() -> int:
    """The largest image (plus its working arrays) one process may allocate, in bytes."""
    return io_limits.max_image_bytes()  # the one reader of PROCFW_MAX_IMAGE_BYTES


def image_bytes(shape: Sequence[int], dtype: Any = np.float32) -> int:
    """Bytes of an array of ``shape`` and ``dtype`` (exact, in Python integers: no overflow)."""
    count = 1
    for length in shape:
        count *= int(length)
    return count * np.dtype(dtype).itemsize


def check_output_size(
    process_id: str,
    parameters: Mapping[str, Any],
    shape: Sequence[int],
    dtype: Any = np.float32,
    *,
    working_bytes: int = 0,
) -> int:
    """Raise ExecutionError unless an output of ``shape`` × ``dtype`` (+ ``working_bytes``) fits the limit.

    ``parameters`` are the ones that set the size (shown as ``-id=value`` in the error);
    ``working_bytes`` estimates the temporary arrays the process needs on top of the
    result.  Returns the bytes counted.
    """
    output = image_bytes(shape, dtype)
    total = output + int(working_bytes)
    limit = max_image_bytes()
    if total > limit:
        given = " ".join(f"-{name}={value}" for name, value in parameters.items())
        geometry = "x".join(str(int(n)) for n in shape)
        working = f" plus {working_bytes} bytes of working arrays" if working_bytes else ""
        raise ExecutionError(
            f"{process_id} {given}: the result would be a {geometry} {np.dtype(dtype).name} image of {output} bytes"
            f"{working} ({io_limits.human_bytes(total)} in all), more than the limit of {limit} bytes "
            f"({io_limits.human_bytes(limit)}) for one "
            "image; change the parameters, or raise the limit with the environment variable "
            f"PROCFW_MAX_IMAGE_BYTES={total} (or procfw.io.limits.set_limits(image_bytes={total}))"
        )
    return total
