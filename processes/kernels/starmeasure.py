"""Star measurement: detect stars on one plane and fit each with an elliptical Gaussian (FWHM, eccentricity).

Meant for quality figures (a frame's median FWHM, star count and eccentricity, the
choice of a registration reference), not for registration itself.  The steps:

1. **Background and noise.**  The background is the median of 32×32 pixel tiles,
   smoothed across tiles and interpolated back to full size; the noise σ is 1.4826 × the
   MAD of the background-subtracted plane.
2. **Detection.**  The background-subtracted plane is smoothed with a Gaussian of σ = 1 px;
   local maxima (5×5) of the smoothed plane above ``threshold`` times its own noise are
   candidates, brightest first.  Candidates closer than ``box`` pixels to the edge or to a
   brighter candidate (blends), and those whose peak reaches ``saturation``, are dropped.
3. **Fit.**  Every candidate's ``box``×``box`` stamp is fitted, all stamps at once, with
   ``B + A·exp(−½·(a·dx² + 2b·dx·dy + c·dy²))`` by a batched Levenberg–Marquardt with the
   analytic Jacobian.  The covariance ``Σ = [[a, b], [b, c]]⁻¹`` is corrected for pixel
   integration (a pixel-integrated Gaussian of variance σ² looks like a point-sampled one
   of σ² + 1/12 on each axis, so 1/12 is taken off the diagonal); its eigenvalues give the
   major and minor σ, ``FWHM = 2√(2 ln 2)·√(σ_major·σ_minor)`` and
   ``eccentricity = √(1 − σ_minor²/σ_major²)``.  Fits that fail (not converged, centre more
   than 1.5 px from the peak, FWHM below ``min_fwhm`` — hot pixels, cosmic rays — or above
   the stamp's reach, non-positive amplitude) are not stars.

Coordinates: ``x`` is the column, ``y`` the row, pixel centres at integers.

Example::

    field = measure_stars(image.pixels[0])
    field.count, field.fwhm, field.eccentricity    # medians over the fitted stars
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from processes.kernels.neighbours import close_pairs
from processes.kernels.robust import MAD_TO_SIGMA

__all__ = ["FWHM_PER_SIGMA", "StarField", "background_map", "luminance_plane", "measure_stars"]

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
"""FWHM of a Gaussian in units of its σ (2.3548)."""

_TILE = 32
_COMPILED_MIN = 1 << 16
"""From this many pixels on, the background map's median is selected by its compiled histogram."""


@attrs.frozen(kw_only=True, eq=False)
class StarField:
    """The stars measured on one plane: per-star arrays and their medians.

    Arrays (one value per fitted star, brightest first): ``x``, ``y`` (centre),
    ``amplitude`` (peak above background), ``flux`` (``2π·A·σ_major·σ_minor``), ``fwhm``,
    ``fwhm_major``, ``fwhm_minor``, ``eccentricity``, ``snr`` (peak over the noise).
    """

    x: np.ndarray
    y: np.ndarray
    amplitude: np.ndarray
    flux: np.ndarray
    fwhm: np.ndarray
    fwhm_major: np.ndarray
    fwhm_minor: np.ndarray
    eccentricity: np.ndarray
    snr: np.ndarray
    background: float
    """Median of the background map."""
    noise: float
    """σ of the background-subtracted plane (1.4826·MAD)."""
    candidates: int
    """Local maxima above the threshold (before the fits)."""

    @property
    def count(self) -> int:
        """Number of fitted stars."""
        return int(self.x.size)

    @property
    def median_fwhm(self) -> float:
        """Median FWHM in pixels (NaN without stars)."""
        return float(np.median(self.fwhm)) if self.count else math.nan

    @property
    def median_eccentricity(self) -> float:
        """Median eccentricity (NaN without stars)."""
        return float(np.median(self.eccentricity)) if self.count else math.nan

    @property
    def median_snr(self) -> float:
        """Median peak signal-to-noise ratio of the stars (NaN without stars)."""
        return float(np.median(self.snr)) if self.count else math.nan

    def summary(self) -> dict[str, float | int | None]:
        """JSON-friendly medians: stars, fwhm, eccentricity, snr, background, noise."""
        return {
            "stars": self.count,
            "fwhm": _finite_or_none(self.median_fwhm),
            "eccentricity": _finite_or_none(self.median_eccentricity),
            "snr": _finite_or_none(self.median_snr),
            "background": float(self.background),
            "noise": float(self.noise),
        }


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def luminance_plane(pixels: np.ndarray) -> np.ndarray:
    """One plane to measure stars on: the only channel, or the mean of the channels, as float64."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        return pixels.astype(np.float64)
    if pixels.shape[0] == 1:
        return pixels[0].astype(np.float64)
    return pixels.astype(np.float64).mean(axis=0)


def background_map(plane: np.ndarray, tile: int = _TILE) -> np.ndarray:
    """A smooth background: medians of ``tile``×``tile`` tiles, 3×3-median filtered, interpolated bilinearly.

    A float64 plane's tile medians come from the compiled selection
    (:func:`processes.kernels.starmeasure_numba.tile_medians`, ``np.median``'s values).
    """
    return _background_and_grid(plane, tile)[0]


def _median3_nearest(grid: np.ndarray) -> np.ndarray:
    """``ndimage.median_filter(grid, size=3, mode="nearest")`` of a finite grid, value for value (a median
    of mixed ±0.0 may differ in the sign of its zero): the median of each 3×3 neighbourhood, the edge
    rows and columns repeated outwards.  The tile grid is small: numpy's selection is enough, and
    scipy.ndimage (~0.15 s to import) is not needed for it."""
    from numpy.lib.stride_tricks import sliding_window_view

    windows = sliding_window_view(np.pad(grid, 1, mode="edge"), (3, 3))
    return np.median(windows.reshape(*grid.shape, 9), axis=-1)


def _background_and_grid(plane: np.ndarray, tile: int = _TILE) -> tuple[np.ndarray, np.ndarray | None]:
    """(:func:`background_map`, the filtered tile medians it interpolates; None for a single tile)."""
    h, w = plane.shape
    ny, nx = max(1, h // tile), max(1, w // tile)
    ty, tx = h // ny, w // nx
    from processes.kernels import starmeasure_numba

    cropped = plane[: ny * ty, : nx * tx].reshape(ny, ty, nx, tx)
    if plane.dtype == np.float64:  # the compiled selection: np.median's values, no transposed copy
        medians, undecided = starmeasure_numba.tile_medians(plane, ny, nx, ty, tx)
        for i, j in zip(*np.nonzero(undecided), strict=True):  # a zero median of a tile with −0.0: numpy's own
            medians[i, j] = np.median(cropped[i, :, j, :].ravel())
    else:
        medians = np.median(cropped.transpose(0, 2, 1, 3).reshape(ny, nx, -1), axis=2)
    if ny >= 3 and nx >= 3:
        medians = _median3_nearest(medians)
    if ny == 1 and nx == 1:
        return np.full_like(plane, medians[0, 0], dtype=np.float64), None
    # tile centres at (i + 0.5)·t − 0.5; map every pixel to fractional tile coordinates
    yy = np.clip((np.arange(h) + 0.5) / ty - 0.5, 0, ny - 1)
    xx = np.clip((np.arange(w) + 0.5) / tx - 0.5, 0, nx - 1)
    grid = np.ascontiguousarray(medians, dtype=np.float64)
    return starmeasure_numba.bilinear_grid(grid, yy, xx), grid


def _background(plane: np.ndarray, tile: int = _TILE) -> tuple[np.ndarray, float]:
    """(:func:`background_map`, its median ``float(np.median(map))`` bit for bit).

    The median is selected in one pass by
    :func:`processes.integration.estimators.windowed_median_mad`; where that finds nothing, by the
    compiled histogram selection (:func:`processes.integration.kernel_numba.median_between`), whose
    range is the extremes of the filtered tile medians: the map interpolates them, so its values
    lie between them (up to rounding), and no pass is needed to find the map's own.
    """
    background, grid = _background_and_grid(plane, tile)
    if grid is not None:
        from processes.integration.estimators import windowed_median_mad

        found = windowed_median_mad(background, mad=False)  # one pass, where its estimate holds
        if found is not None:
            return background, found[0]
        lo, hi = float(grid.min()), float(grid.max())
        if background.size >= _COMPILED_MIN and lo < hi and max(-lo, hi) < 1e300:  # finite, far from overflow
            from processes.integration.kernel_numba import median_between

            return background, float(median_between(background.ravel(), np.array([lo, hi])))
    return background, _median(background)


def measure_stars(
    plane: np.ndarray,
    *,
    threshold: float = 5.0,
    max_stars: int = 300,
    box: int = 0,
    saturation: float = 0.98,
    min_fwhm: float = 1.0,
    iterations: int = 30,
    overwrite: bool = False,
) -> StarField:
    """Detect and fit the stars of a 2-D ``plane`` (or a planar image: channels are averaged).

    ``threshold``: detection level in noise σ of the smoothed plane; ``max_stars``: at most
    this many candidates (brightest first) are fitted; ``box``: stamp size (0: 15 px);
    ``saturation``: candidates whose peak reaches this value are skipped; ``min_fwhm``:
    narrower fits are not stars (hot pixels); ``overwrite``: a float64 ``plane`` may be
    overwritten (its residual is formed in place: one plane-sized array less).
    """
    # a float64 plane is used as it is (written to only with ``overwrite``), anything else as a float64 copy
    data = plane if isinstance(plane, np.ndarray) and plane.ndim == 2 and plane.dtype == np.float64 \
        else luminance_plane(plane)
    if data.ndim != 2 or min(data.shape) < 8:
        raise ValueError(f"measure_stars needs a 2-D plane of at least 8×8 pixels, not {data.shape}")
    box = int(box) or 15
    box += 1 - box % 2  # odd
    half = box // 2
    finite = np.isfinite(data)
    if not finite.all():
        data = np.where(finite, data, np.nanmedian(data) if finite.any() else 0.0)
    background, background_level = _background(data)
    residual, unsaturated = _residual(data, background, saturation, overwrite or data is not plane)
    del background
    noise = MAD_TO_SIGMA * _mad(residual)
    smooth = _gaussian_smooth(residual, 1.0)
    smooth_noise = MAD_TO_SIGMA * _mad(smooth)
    empty = _empty_field(background_level, noise, 0)
    if not smooth_noise > 0:
        return empty
    from processes.kernels import starmeasure_numba

    # local maxima of a 5×5 window (reflected edges, as ndimage.maximum_filter) above the threshold
    ys, xs = starmeasure_numba.local_peaks(np.ascontiguousarray(smooth), float(threshold * smooth_noise))
    candidates = int(ys.size)
    h, w = data.shape
    inside = (ys >= half) & (ys < h - half) & (xs >= half) & (xs < w - half)
    ys, xs = ys[inside], xs[inside]
    order = np.argsort(-smooth[ys, xs], kind="stable")
    ys, xs = ys[order], xs[order]
    keep = _isolated(xs, ys, half) & (data[ys, xs] < saturation if unsaturated is None else unsaturated[ys, xs])
    ys, xs = ys[keep][:max_stars], xs[keep][:max_stars]
    if ys.size == 0:
        return _empty_field(background_level, noise, candidates)
    offsets = np.arange(-half, half + 1)
    stamps = residual[ys[:, None, None] + offsets[None, :, None], xs[:, None, None] + offsets[None, None, :]]
    params, ok = _fit_gaussians(stamps, iterations)
    amp, x0, y0, _, a, b, c = params.T
    det = a * c - b * b
    good = ok & (amp > 0) & (a > 0) & (c > 0) & (det > 0) & (np.abs(x0) <= 1.5) & (np.abs(y0) <= 1.5)
    with np.errstate(divide="ignore", invalid="ignore"):
        sxx, syy, sxy = c / det - 1 / 12, a / det - 1 / 12, -b / det
        trace, diff = sxx + syy, np.sqrt((sxx - syy) ** 2 + 4 * sxy**2)
        var_major, var_minor = (trace + diff) / 2, (trace - diff) / 2
        good &= var_minor > 0
        s_major, s_minor = np.sqrt(np.where(good, var_major, 1.0)), np.sqrt(np.where(good, var_minor, 1.0))
    fwhm = FWHM_PER_SIGMA * np.sqrt(s_major * s_minor)
    good &= (fwhm >= min_fwhm) & (FWHM_PER_SIGMA * s_major <= 0.8 * box)
    eccentricity = np.sqrt(np.clip(1 - (s_minor / s_major) ** 2, 0, 1))
    sel = np.nonzero(good)[0]
    return StarField(
        x=xs[sel] + x0[sel], y=ys[sel] + y0[sel], amplitude=amp[sel],
        flux=2 * math.pi * amp[sel] * s_major[sel] * s_minor[sel], fwhm=fwhm[sel],
        fwhm_major=FWHM_PER_SIGMA * s_major[sel], fwhm_minor=FWHM_PER_SIGMA * s_minor[sel],
        eccentricity=eccentricity[sel], snr=amp[sel] / noise if noise > 0 else np.full(sel.size, np.inf),
        background=background_level, noise=noise, candidates=candidates,
    )


def _residual(data: np.ndarray, background: np.ndarray, saturation: float, in_place: bool
              ) -> tuple[np.ndarray, np.ndarray | None]:
    """(``data − background``, ``data < saturation`` or None): the residual in ``data``'s buffer when
    ``in_place`` (``data`` is then no longer the plane: its saturation test is kept as a boolean plane,
    an eighth of the size), else in ``background``'s (three plane-sized float64 arrays in all)."""
    if in_place:
        unsaturated = data < saturation
        return np.subtract(data, background, out=data), unsaturated
    return np.subtract(data, background, out=background), None


def _median(values: np.ndarray) -> float:
    """``float(np.median(values))`` bit for bit, by the compiled histogram selection of
    :func:`processes.integration.estimators.fast_median` on large arrays (no sorted copy)."""
    from processes.integration.estimators import fast_median

    return fast_median(values)


def _gaussian_weights(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """The taps of ``ndimage.gaussian_filter(·, sigma)`` (its radius, values and order of operations)."""
    radius = int(truncate * float(sigma) + 0.5)
    sigma2 = sigma * sigma
    x = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / sigma2 * x**2)
    return np.ascontiguousarray((phi / phi.sum())[::-1])


def _gaussian_smooth(plane: np.ndarray, sigma: float) -> np.ndarray:
    """``ndimage.gaussian_filter(plane, sigma)`` bit for bit; a float64 plane by the compiled
    separable pass (:func:`processes.kernels.starmeasure_numba.symmetric_smooth`, a third of the time)."""
    if plane.ndim != 2 or plane.dtype != np.float64:
        from scipy import ndimage  # imported where used (~0.15 s)

        return ndimage.gaussian_filter(plane, sigma)
    from processes.kernels import starmeasure_numba

    return starmeasure_numba.symmetric_smooth(np.ascontiguousarray(plane), _gaussian_weights(sigma))


def _mad(values: np.ndarray) -> float:
    """``float(np.median(np.abs(values − m)))``, m the median of the finite float64 ``values``, bit for bit,
    by :func:`processes.integration.estimators.fast_median_mad` (a compiled one-pass selection, else
    histogram selections: no sample to sort, no array of deviations)."""
    from processes.integration.estimators import fast_median_mad

    return fast_median_mad(values)[1]


def _empty_field(background: float, noise: float, candidates: int) -> StarField:
    nothing = np.zeros(0)
    return StarField(x=nothing, y=nothing, amplitude=nothing, flux=nothing, fwhm=nothing, fwhm_major=nothing,
                     fwhm_minor=nothing, eccentricity=nothing, snr=nothing, background=background, noise=noise,
                     candidates=candidates)


def _isolated(xs: np.ndarray, ys: np.ndarray, half: float) -> np.ndarray:
    """True for candidates (brightest first) with no brighter candidate within ``half`` pixels (Chebyshev).

    The fainter of each pair (higher index) with ``max(|Δx|, |Δy|) ≤ half`` is a blend or a
    neighbour's wing: the pairs of ``scipy.spatial.cKDTree.query_pairs(half, p=inf)``, found
    by :func:`processes.kernels.neighbours.close_pairs` (numpy alone: scipy.spatial, ~0.07–0.18 s
    to import and ~8–25 MB, stays out of the console and the workers).
    """
    keep = np.ones(np.size(xs), dtype=bool)
    keep[close_pairs(np.column_stack([xs, ys]), half, p=np.inf)[1]] = False
    return keep


def _initial_guess(stamps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(data (n, k·k) float64, gx, gy (k·k) pixel offsets from the centre, initial parameters
    (n, 7)) of (n, k, k) stamps: background the median of the border, amplitude the centre
    above it, the width from the second moments of the pixels above the background."""
    n, k, _ = stamps.shape
    coords = np.arange(k, dtype=np.float64) - k // 2
    gy, gx = np.meshgrid(coords, coords, indexing="ij")
    gx, gy = gx.ravel(), gy.ravel()
    data = stamps.reshape(n, -1).astype(np.float64)
    border = np.concatenate([stamps[:, 0, :], stamps[:, -1, :], stamps[:, :, 0], stamps[:, :, -1]], axis=1)
    bkg = np.median(border, axis=1)
    peak = data[:, (k * k) // 2] - bkg
    weights = np.clip(data - bkg[:, None], 0, None)
    total = weights.sum(axis=1) + 1e-30
    var = np.clip((weights * (gx**2 + gy**2)).sum(axis=1) / total / 2, 0.5, (k / 4) ** 2)
    params = np.column_stack([np.maximum(peak, 1e-12), np.zeros(n), np.zeros(n), bkg, 1 / var, np.zeros(n), 1 / var])
    return data, gx, gy, params


def _fit_gaussians(stamps: np.ndarray, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Levenberg–Marquardt fit of ``B + A·exp(−q/2)`` to (n, k, k) stamps centred on their peaks.

    Parameters per stamp: (A, x0, y0, B, a, b, c), x0/y0 relative to the stamp centre.
    Returns the parameters (n, 7) and whether each fit converged to a finite solution.
    The iterations run in :func:`processes.kernels.starmeasure_numba.fit_gaussians`
    (analytic Jacobian, damping ×1/3 on success and ×4 on failure, all stars iterated until
    the last one converges, as a batch).
    """
    data, gx, gy, params = _initial_guess(stamps)
    from processes.kernels import starmeasure_numba

    converged, damping = starmeasure_numba.fit_gaussians(np.ascontiguousarray(data), params, gx, gy, int(iterations))
    ok = np.isfinite(params).all(axis=1) & (converged | (damping < 1e6))
    return params, ok
