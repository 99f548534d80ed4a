"""Loading StarAlignment's compiled kernels ahead of their first use (no heavy imports here).

:func:`warm_kernels` calls each kernel a registration of a frame uses once, on a small frame: the
preload modules of a local pool's fork server call it (:mod:`processes.staralignment.worker`, for a
StarAlignment run over files, and :mod:`processes.workflows.preprocess.worker`), so that no worker
loads them itself.
"""

from __future__ import annotations

from typing import Any

__all__ = ["warm_kernels"]


def warm_kernels(image: Any) -> None:
    """Call the star detection's, the matching's (its neighbour search) and the Lanczos-3 warp's kernels once
    on ``image`` (a :class:`procfw.image.Image` of float32 pixels, as a debayered frame); failures are logged
    (debug) and ignored (:func:`processes.common.preload.run_warm_ups`)."""
    import numpy as np

    from processes.common.preload import run_warm_ups
    from processes.kernels.neighbours import nearest_within
    from processes.staralignment.frames import detection_plane
    from processes.staralignment.process import StarAlignment
    from processes.staralignment.resample import warp
    from processes.staralignment.stars import detect_stars

    pixels = image.pixels
    shift = np.array([[1.0, 0.0, 0.3], [0.0, 1.0, -0.2], [0.0, 0.0, 1.0]])
    settings = StarAlignment().detection_settings()
    run_warm_ups((
        ("star detection", lambda: detect_stars(detection_plane(image), settings)),
        ("star matching", lambda: nearest_within(np.zeros((2, 2)), np.ones((2, 2)), 2.0)),  # RANSAC's search
        ("warp", lambda: warp(pixels, shift, (pixels.shape[2], pixels.shape[1]), kernel="lanczos3", clamping=0.3,
                              radius=2)),
    ))
