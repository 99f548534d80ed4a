"""A small synthetic star field for warming compiled kernels up (no heavy imports here).

Used by the workers' preloads (:mod:`processes.workflows.preprocess.worker`, :mod:`processes.debayer.worker`,
:mod:`processes.staralignment.worker`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["STAR_REACH", "WARM_FRAME_SIZE", "synthetic_cfa"]

WARM_FRAME_SIZE = 384
"""Side of the warm-up's synthetic frame: 384² pixels, above the sizes from which the noise estimators,
the medians and the star measurement's MAD take their compiled paths (2¹⁶ values in
``processes.kernels.noise`` and ``processes.integration.estimators``, 2¹⁷ in
``processes.kernels.robust``), so that the warm-up loads every kernel a real frame uses.  A smaller
frame left some of them to each worker's first frame: loaded there privately, once per worker,
instead of once in the fork server."""


STAR_REACH = 12
"""How far (pixels) from its centre a synthetic star is drawn: beyond, its Gaussian (0.3·exp(−d²/3.38) <
1e-19 at 12 pixels) is far below half a float32 step of the sky (~4e-9 at 0.1), so adding it there changes
no pixel; drawing each star in its window alone gives the same plane as drawing it everywhere, and the
preload's frame costs ~2 ms instead of ~17 ms (twelve exponentials of the whole plane)."""


def synthetic_cfa(size: int = WARM_FRAME_SIZE) -> Any:
    """A small float32 CFA plane: a sky gradient, noise and a few Gaussian stars (each drawn within
    :data:`STAR_REACH` pixels of its centre)."""
    import numpy as np

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    plane = 0.1 + 0.0005 * xx + rng.normal(0.0, 0.002, (size, size)).astype(np.float32)
    for y, x in rng.uniform(12, size - 12, (12, 2)):
        window = (slice(max(int(y) - STAR_REACH, 0), int(y) + STAR_REACH + 2),
                  slice(max(int(x) - STAR_REACH, 0), int(x) + STAR_REACH + 2))
        plane[window] += np.float32(0.3) * np.exp(
            -((yy[window] - y) ** 2 + (xx[window] - x) ** 2) / np.float32(2 * 1.3**2))
    return plane.astype(np.float32)
