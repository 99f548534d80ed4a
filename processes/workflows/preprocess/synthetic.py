"""A small synthetic star field for warming compiled kernels up (no heavy imports here).

Used by the workers' preload (:mod:`processes.workflows.preprocess.worker`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["WARM_FRAME_SIZE", "synthetic_cfa"]

WARM_FRAME_SIZE = 384
"""Side of the warm-up's synthetic frame: 384² pixels, above the sizes from which the noise estimators,
the medians and the star measurement's MAD take their compiled paths (2¹⁶ values in
``processes.kernels.noise`` and ``processes.integration.estimators``, 2¹⁷ in
``processes.kernels.robust``), so that the warm-up loads every kernel a real frame uses.  A smaller
frame left some of them to each worker's first frame: loaded there privately, once per worker,
instead of once in the fork server."""


def synthetic_cfa(size: int = WARM_FRAME_SIZE) -> Any:
    """A small float32 CFA plane: a sky gradient, noise and a few Gaussian stars."""
    import numpy as np

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    plane = 0.1 + 0.0005 * xx + rng.normal(0.0, 0.002, (size, size)).astype(np.float32)
    for y, x in rng.uniform(12, size - 12, (12, 2)):
        plane += np.float32(0.3) * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / np.float32(2 * 1.3**2))
    return plane.astype(np.float32)
