"""ImageIntegration's drizzle data: each frame's ``.xdrz`` updated with its normalization, weight and rejections.

As PCL's ``IntegrationFile::ToDrizzleData``: ``LocationEstimates`` (the frame's location
estimate ``L`` per channel), ``ReferenceLocation`` and ``ScaleFactors`` such that the output
normalization ``v' = A·v + B`` reads PCL's ``(v − L)·S + L0`` (``S = A``, ``L0 = A·L + B``:
for AdditiveWithScaling ``L0`` is the reference frame's location), ``Weights`` relative to the
reference frame's, and the frame's ``RejectionMap`` (reference geometry, PCL's bits).  The
registration part of the file is kept; earlier integration data are replaced.  The file is
rewritten in place (atomically), with the ``.xdrz`` extension, as PixInsight does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from processes.kernels.drizzledata import DrizzleDataError, read_drizzle_data, write_drizzle_data

__all__ = ["update_drizzle_files"]


def update_drizzle_files(drizzle_paths: list[str], out_scale: np.ndarray, out_offset: np.ndarray,
                         location: np.ndarray | None, weights: np.ndarray, frame_maps: np.ndarray | None
                         ) -> tuple[list[str], list[str]]:
    """Update each frame's drizzle data file (``""``: none); returns (written paths, messages).

    ``out_scale``/``out_offset``/``weights``/``location``: (channels, N); ``frame_maps``:
    (N, channels, height, width) uint8 or None.
    """
    written: list[str] = []
    messages: list[str] = []
    channels, n = out_scale.shape
    loc = np.zeros((channels, n)) if location is None else np.asarray(location, dtype=np.float64)
    w0 = np.where(weights[:, 0] > 0, weights[:, 0], 1.0)
    for i, path in enumerate(drizzle_paths):
        if not path:
            messages.append(f"generateDrizzleData: frame {i + 1} has no drizzle data file (drizzlePath)")
            continue
        if not Path(path).expanduser().is_file():
            messages.append(f"generateDrizzleData: drizzle data file not found: {path}")
            continue
        try:
            drz = read_drizzle_data(path).without_integration_data()
            rmap = None if frame_maps is None else frame_maps[i]
            if rmap is not None and rmap.shape[1:] != (drz.reference_height, drz.reference_width):
                raise DrizzleDataError(f"{path}: reference geometry {drz.reference_width}x{drz.reference_height} "
                                       f"differs from the integrated images' {rmap.shape[2]}x{rmap.shape[1]}")
            a, b = out_scale[:, i], out_offset[:, i]
            import attrs

            drz = attrs.evolve(drz, location=loc[:, i], reference_location=a * loc[:, i] + b, scale=a,
                               weight=weights[:, i] / w0, rejection_map=rmap)
            target = Path(path).expanduser().with_suffix(".xdrz")
            written.append(str(write_drizzle_data(drz, target, overwrite=True)))
        except DrizzleDataError as exc:
            messages.append(f"generateDrizzleData: {exc}")
    return written, messages
