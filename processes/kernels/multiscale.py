"""The à trous (starlet) wavelet transform with any separable scaling function.

:func:`atrous` splits an image into detail layers ``w_1..w_n`` and a residual ``c_n``
(``image = sum(w_j) + c_n``): at scale ``j`` the scaling kernel is dilated by ``2**j``
(holes between its taps), applied along rows and columns with mirrored borders, and the
detail layer is the difference between consecutive smoothings.  :data:`B3_SPLINE` is the
5-tap B3 spline (as :func:`processes.kernels.noise.atrous`), :data:`LINEAR_3` the 3-tap
linear interpolation function PixInsight's ColorCalibration uses for structure detection.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy import ndimage

__all__ = ["B3_SPLINE", "LINEAR_3", "atrous", "reconstruct", "smoothings"]

B3_SPLINE = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)
"""The B3 spline scaling function (one axis)."""
LINEAR_3 = (0.25, 0.5, 0.25)
"""The 3×3 linear interpolation scaling function (one axis)."""


def smoothings(image: np.ndarray, layers: int, scaling: tuple[float, ...] = B3_SPLINE) -> Iterator[np.ndarray]:
    """The successive smoothings ``c_1..c_layers`` of a 2-D ``image`` (float64, mirrored borders),
    one at a time: detail layer ``w_j = c_{j-1} − c_j`` with ``c_0 = image``.  Memory stays at a
    few planes however many layers there are."""
    current = np.asarray(image, dtype=np.float64)
    taps = np.asarray(scaling, dtype=np.float64)
    for j in range(layers):
        step = 2**j
        kernel = np.zeros((len(taps) - 1) * step + 1)
        kernel[::step] = taps
        current = ndimage.correlate1d(current, kernel, axis=0, mode="mirror")
        current = ndimage.correlate1d(current, kernel, axis=1, mode="mirror")
        yield current


def atrous(
    image: np.ndarray, layers: int, scaling: tuple[float, ...] = B3_SPLINE
) -> tuple[list[np.ndarray], np.ndarray]:
    """(detail layers w_1..w_layers, residual) of a 2-D ``image`` in float64, mirrored borders."""
    previous = np.asarray(image, dtype=np.float64)
    details: list[np.ndarray] = []
    for smooth in smoothings(previous, layers, scaling):
        details.append(previous - smooth)
        previous = smooth
    return details, previous


def reconstruct(details: list[np.ndarray], residual: np.ndarray | None, enabled: set[int] | None = None) -> np.ndarray:
    """The sum of the enabled detail layers (all if ``enabled`` is None) plus the residual (if given)."""
    out = np.zeros_like(details[0]) if details else np.zeros_like(residual)
    for j, layer in enumerate(details):
        if enabled is None or j in enabled:
            out += layer
    if residual is not None:
        out += residual
    return out
