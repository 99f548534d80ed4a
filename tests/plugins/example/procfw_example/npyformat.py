"""The .npy image format: planar float32 arrays saved by numpy (never pickled)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from procfw.errors import ImageFileError
from procfw.image import Image


class NpyFormat:
    """Read and write images as numpy ``.npy`` files (pickles refused)."""

    id = "npy"
    extensions = (".npy",)
    description = "NumPy array file (planar channels × rows × columns)"
    can_read = True
    can_write = True

    def read(self, path: Path) -> Image:
        try:
            data = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ImageFileError(path, f"not a readable .npy array: {exc}") from None
        return Image(data.astype(np.float32, copy=False))

    def write(self, image: Image, path: Path) -> None:
        with open(path, "wb") as stream:
            np.save(stream, image.pixels, allow_pickle=False)


NPY_FORMAT = NpyFormat()
