"""Star detection for registration: multiscale structure detection plus accurate centroids.

The detector follows the design of PixInsight's StarDetector (read for semantics; this is an
independent implementation):

1. *Filters*: an optional median filter of radius ``hot_pixel_radius`` removes hot pixels and
   cosmic-ray hits (isolated outliers cannot form structures); an optional Gaussian filter of
   radius ``noise_reduction_radius`` smooths noisy data.
2. *Structures*: an à trous wavelet decomposition with the B3 spline kernel
   ``[1, 4, 6, 4, 1]/16``.  The smoothed plane at scale ``2^structure_layers`` is the
   background (large-scale gradients, nebulosity, vignetting); the detail left above it,
   without the ``noise_layers`` smallest scales, is the *structure map*.  Structures are the
   connected groups of pixels of the structure map above ``k·σ``, where σ is a robust (MAD)
   estimate of the map's noise and ``k = 2 + 6·(1 − sensitivity)`` (sensitivity 0.5 → 5σ).
3. *Rejection*: structures smaller than ``min_structure_size`` pixels (3 when 0: smaller ones
   are noise or residual hot pixels); touching the image border; elongated or irregular ones
   whose coverage of their bounding square is below ``(1 − max_distortion)·π/4`` (a round
   star covers π/4); flat ones whose mean structure-map value exceeds
   ``0.75 + 0.2·peak_response`` of their peak (plateaus: saturated blobs, flat nebular
   features; only structures of 9 pixels or more, as small faint stars are flat at the
   threshold); those whose peak pixel exceeds ``upper_limit``; and, unless
   ``allow_clustered``, blends with more than one significant local maximum (local maxima of
   pixels brighter than ``local_maxima_limit`` are not tested, as saturated cores are flat).
4. *Centroids*: an iterated Gaussian-windowed barycentre of the background-subtracted
   (unfiltered) pixels, the window width matched to the star (SExtractor's XWIN idea); with
   ``fit_psf`` a circular 2-D Gaussian (amplitude, centre, width, local background) is then
   fitted by damped Gauss–Newton and its centre is used when it stays within
   ``psf_tolerance`` pixels of the barycentre.  Both are unbiased for symmetric PSFs, to
   a few thousandths of a pixel on noise-free stars.

Stars are ranked by flux (the sum of the structure map over the structure), brightest first,
and the list is cut to ``max_stars`` (0: no limit).
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from processes.kernels.neighbours import close_pairs

__all__ = [
    "DetectionSettings",
    "StarList",
    "b3_smooth",
    "detect_stars",
    "robust_sigma",
    "structure_map",
    "windowed_centroids",
]

_B3 = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
_MAD_TO_SIGMA = 1.4826


@attrs.frozen(kw_only=True)
class DetectionSettings:
    """Star detection parameters (PixInsight's StarAlignment star detection parameters)."""

    structure_layers: int = 5
    noise_layers: int = 0
    hot_pixel_radius: int = 1
    noise_reduction_radius: int = 0
    min_structure_size: int = 0
    sensitivity: float = 0.5
    peak_response: float = 0.5
    max_distortion: float = 0.6
    allow_clustered: bool = False
    local_maxima_limit: float = 0.75
    upper_limit: float = 1.0
    invert: bool = False
    max_stars: int = 0
    fit_psf: bool = False
    psf_tolerance: float = 0.5

    @property
    def threshold_sigmas(self) -> float:
        """Detection threshold in units of the structure map's noise."""
        return 2.0 + 6.0 * (1.0 - float(self.sensitivity))


@attrs.frozen(kw_only=True, eq=False)
class StarList:
    """Detected stars, brightest first: positions (pixel centres at integer coordinates), flux,
    peak (above background), background, structure size (pixels) and Gaussian-equivalent FWHM."""

    x: np.ndarray
    y: np.ndarray
    flux: np.ndarray
    peak: np.ndarray
    background: np.ndarray
    size: np.ndarray
    fwhm: np.ndarray
    width: int
    height: int
    noise: float = 0.0
    structures: int = 0

    def __len__(self) -> int:
        return int(self.x.size)

    @property
    def xy(self) -> np.ndarray:
        """Positions as an (N, 2) float64 array of (x, y)."""
        return np.column_stack([self.x, self.y])

    def take(self, index: np.ndarray | slice) -> StarList:
        """The stars selected by ``index`` (same image geometry)."""
        return attrs.evolve(
            self,
            x=self.x[index],
            y=self.y[index],
            flux=self.flux[index],
            peak=self.peak[index],
            background=self.background[index],
            size=self.size[index],
            fwhm=self.fwhm[index],
        )

    def brightest(self, count: int) -> StarList:
        """The ``count`` brightest stars (all of them when count <= 0)."""
        return self if count <= 0 or count >= len(self) else self.take(slice(0, count))

    def inside(self, rects: list[tuple[int, int, int, int]]) -> StarList:
        """The stars inside any of the rectangles ``(x0, y0, x1, y1)`` (half-open pixel ranges)."""
        keep = np.zeros(len(self), dtype=bool)
        for x0, y0, x1, y1 in rects:
            keep |= (self.x >= x0 - 0.5) & (self.x < x1 - 0.5) & (self.y >= y0 - 0.5) & (self.y < y1 - 0.5)
        return self.take(np.flatnonzero(keep))


def b3_smooth(plane: np.ndarray, step: int) -> np.ndarray:
    """One à trous smoothing: the separable B3 spline kernel with holes ``step`` apart (mirrored edges).

    Float32 planes go through the compiled kernel (:func:`processes.staralignment.stars_numba.b3_smooth`,
    bit-identical to the numpy passes); other dtypes through :func:`_b3_smooth_numpy`.
    """
    if plane.ndim == 2 and plane.dtype == np.float32:
        from processes.staralignment import stars_numba

        return stars_numba.b3_smooth(np.ascontiguousarray(plane), int(step))
    return _b3_smooth_numpy(plane, step)


def _b3_smooth_numpy(plane: np.ndarray, step: int) -> np.ndarray:
    """:func:`b3_smooth` with numpy (reference of the compiled kernel; any dtype)."""
    out = plane
    for axis in (0, 1):
        size = out.shape[axis]
        pad = 2 * step
        if size == 1:
            continue
        mode = "reflect" if pad < size else "symmetric"
        widths = [(0, 0), (0, 0)]
        widths[axis] = (pad, pad)
        padded = np.pad(out, widths, mode=mode) if pad < size else _pad_periodic_mirror(out, pad, axis)
        acc = np.zeros_like(out)
        for k, w in enumerate(_B3):
            start = k * step
            sl = [slice(None), slice(None)]
            sl[axis] = slice(start, start + size)
            acc += w * padded[tuple(sl)]
        out = acc
    return out


def _pad_periodic_mirror(plane: np.ndarray, pad: int, axis: int) -> np.ndarray:
    """Mirror padding wider than the plane (indices reflected repeatedly about the edges)."""
    size = plane.shape[axis]
    index = np.arange(-pad, size + pad)
    period = 2 * size - 2 if size > 1 else 1
    index = np.mod(index, period)
    index = np.where(index >= size, period - index, index)
    return np.take(plane, index, axis=axis)


def structure_map(plane: np.ndarray, settings: DetectionSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The filtered plane, its large-scale background and the structure map (detail above it)."""
    work = np.asarray(plane, dtype=np.float32)
    if settings.invert:
        work = 1.0 - work
    if settings.hot_pixel_radius == 1:
        from processes.staralignment import stars_numba

        work = stars_numba.median3(np.ascontiguousarray(work))
    elif settings.hot_pixel_radius > 1:
        from scipy import ndimage  # imported where used (~0.15 s)

        work = ndimage.median_filter(work, size=2 * settings.hot_pixel_radius + 1, mode="mirror")
    if settings.noise_reduction_radius > 0:
        from scipy import ndimage

        work = ndimage.gaussian_filter(work, sigma=settings.noise_reduction_radius / 2.0, mode="mirror")
    smooth = work
    low = work
    for j in range(max(1, settings.structure_layers)):
        smooth = b3_smooth(smooth, 1 << j)
        if j + 1 == settings.noise_layers:
            low = smooth
    return work, smooth, low - smooth


def robust_sigma(values: np.ndarray) -> float:
    """1.4826 × MAD of ``values`` (subsampled beyond a million values); the standard deviation if that is 0.

    The median and the MAD of the ``np.abs(sample − median)`` numpy forms (in the sample's type) are those
    of :func:`processes.integration.estimators.windowed_median_mad` where it finds them, else of
    :func:`~processes.integration.estimators.fast_median`.
    """
    sample = values.ravel()
    step = sample.size // 1_000_000 + 1 if sample.size > 1_000_000 else 1
    from processes.integration.estimators import fast_median, windowed_median_mad

    found = windowed_median_mad(sample, step)  # one compiled pass over the sample, no copy of it
    sample = sample[::step]
    if found is not None:
        sigma = _MAD_TO_SIGMA * found[1]
    else:
        med = fast_median(sample)  # np.median, bit for bit, without sorting a copy
        sigma = _MAD_TO_SIGMA * fast_median(np.abs(sample - med))
    if sigma <= 0:
        sigma = float(np.std(sample))
    return sigma


def detect_stars(plane: np.ndarray, settings: DetectionSettings | None = None) -> StarList:
    """Detect the stars of a 2-D plane (values in [0, 1]); brightest first."""
    settings = settings or DetectionSettings()
    data = np.asarray(plane, dtype=np.float32)
    if data.ndim != 2:
        raise ValueError(f"star detection needs a 2-D plane, got shape {data.shape}")
    height, width = data.shape
    raw = 1.0 - data if settings.invert else data
    background, detail = structure_map(data, settings)[1:]  # the filtered plane (a frame-sized array) goes now
    sigma = robust_sigma(detail)
    empty = _empty(width, height, sigma)
    if not math.isfinite(sigma) or sigma <= 0:
        return empty
    threshold = settings.threshold_sigmas * sigma
    from processes.staralignment import stars_numba

    # ndimage.label(detail > threshold, structure=np.ones((3, 3))): the same labels, compiled, compared
    # as numpy compares a float32 plane with a Python float (in float32)
    labels, count = stars_numba.label8(detail, detail.dtype.type(threshold))
    if count == 0:
        return attrs.evolve(empty, structures=0)
    detail = np.ascontiguousarray(detail, dtype=np.float32)
    raw = np.ascontiguousarray(raw, dtype=np.float32)
    index = np.arange(1, count + 1)
    area, y0, y1, x0, x1, peak_detail, peak_y, peak_x, detail_sum, peak_value = stars_numba.label_stats(
        labels, detail, raw, count)
    min_size = settings.min_structure_size if settings.min_structure_size > 0 else 3
    keep = area >= min_size
    keep &= (x0 > 0) & (y0 > 0) & (x1 < width) & (y1 < height)
    side = np.maximum(x1 - x0, y1 - y0)
    coverage = area / (side * side).astype(np.float64)
    keep &= coverage >= (1.0 - settings.max_distortion) * (math.pi / 4.0)
    mean_detail = detail_sum / area
    with np.errstate(divide="ignore", invalid="ignore"):
        flatness = np.where(peak_detail > 0, mean_detail / peak_detail, 1.0)
    keep &= (flatness <= 0.75 + 0.2 * settings.peak_response) | (area < 9)
    keep &= peak_value <= settings.upper_limit
    if not settings.allow_clustered:
        keep &= _single_peaked(detail, raw, labels, count, peak_detail, threshold, settings.local_maxima_limit,
                               np.column_stack([peak_y, peak_x]).astype(np.float64))
    chosen = index[keep]
    if chosen.size == 0:
        return attrs.evolve(empty, structures=int(count))
    flux = detail_sum[chosen - 1]
    order = np.argsort(-flux, kind="stable")
    chosen, flux = chosen[order], flux[order]
    if settings.max_stars > 0:
        chosen, flux = chosen[: settings.max_stars], flux[: settings.max_stars]
    cy = peak_y[chosen - 1].astype(np.float64)
    cx = peak_x[chosen - 1].astype(np.float64)
    areas = area[chosen - 1].astype(np.float64)
    half_area = np.maximum(stars_numba.half_maximum_counts(detail, labels, peak_detail)[chosen - 1], 1).astype(
        np.float64)
    # a Gaussian's pixels above half maximum cover π(FWHM/2)², FWHM = 2.3548σ
    sigma_hm = np.sqrt(half_area / math.pi) * 2.0 / 2.3548
    # the signal is raw − background (float64), taken only at the stars' stamps
    x, y, width_sigma, bg_local, ok = windowed_centroids(raw, cx, cy, sigma_hm, background=background)
    if settings.fit_psf:
        x, y, width_sigma = _refine_with_psf(raw, x, y, width_sigma, settings.psf_tolerance, background=background)
    peak_above = peak_detail[chosen - 1]
    bg = background[np.clip(np.rint(y).astype(int), 0, height - 1), np.clip(np.rint(x).astype(int), 0, width - 1)]
    stars = StarList(
        x=x,
        y=y,
        flux=flux.astype(np.float64),
        peak=peak_above.astype(np.float64),
        background=bg.astype(np.float64) + bg_local,
        size=areas,
        fwhm=2.0 * math.sqrt(2.0 * math.log(2.0)) * width_sigma,
        width=width,
        height=height,
        noise=float(sigma),
        structures=int(count),
    )
    inside = ok & (stars.x >= 0) & (stars.x <= width - 1) & (stars.y >= 0) & (stars.y <= height - 1)
    stars = stars.take(np.flatnonzero(inside))
    return stars.take(_unique_positions(stars.xy))


def _unique_positions(xy: np.ndarray, radius: float = 1.0) -> np.ndarray:
    """Indices of the stars (brightest first) not within ``radius`` of a brighter one."""
    drop = np.zeros(len(xy), dtype=bool)
    drop[close_pairs(xy, radius)[1]] = True  # the fainter (later) star of each pair
    return np.flatnonzero(~drop)


def _empty(width: int, height: int, sigma: float) -> StarList:
    z = np.zeros(0)
    return StarList(x=z, y=z, flux=z, peak=z, background=z, size=z, fwhm=z, width=width, height=height,
                    noise=float(sigma) if math.isfinite(sigma) else 0.0)


def _single_peaked(
    detail: np.ndarray,
    raw: np.ndarray,
    labels: np.ndarray,
    count: int,
    peak_detail: np.ndarray,
    threshold: float,
    limit: float,
    main: np.ndarray,
) -> np.ndarray:
    """True for structures without a second significant local maximum (radius-2 filter).

    A second maximum counts when it is above twice the threshold and 30 % of the structure's
    peak, lies more than 2.5 pixels from that peak (``main``: (row, column) of each
    structure's peak; plateaus left by the hot pixel filter tie next to it) and is fainter
    than ``limit`` (saturated cores are flat).
    """
    from processes.staralignment import stars_numba

    ys, xs = stars_numba.local_maxima(detail, labels)
    lab = labels[ys, xs]
    value = detail[ys, xs]
    significant = (value > 2.0 * threshold) & (value > 0.3 * peak_detail[lab - 1]) & (raw[ys, xs] < limit)
    main = main[lab - 1]
    apart = np.hypot(ys - main[:, 0], xs - main[:, 1]) > 2.5
    others = np.bincount(lab[significant & apart], minlength=count + 1)[1:]
    return others == 0


def _stamps(signal: np.ndarray, ix: np.ndarray, iy: np.ndarray, radius: int,
            background: np.ndarray | None = None) -> np.ndarray:
    """(N, 2R+1, 2R+1) float64 stamps of ``signal`` (minus ``background``, when given) centred on
    integer pixels (mirrored at the edges)."""
    offsets = np.arange(-radius, radius + 1)
    height, width = signal.shape
    if min(height, width) > radius:
        # mirror about the edge pixels (np.pad's "reflect"): one reflection suffices
        rows = np.abs(iy[:, None] + offsets[None, :])
        rows = np.where(rows >= height, 2 * (height - 1) - rows, rows)[:, :, None]
        cols = np.abs(ix[:, None] + offsets[None, :])
        cols = np.where(cols >= width, 2 * (width - 1) - cols, cols)[:, None, :]
        stamps = signal[rows, cols].astype(np.float64)
        if background is not None:
            stamps -= background[rows, cols]
        return stamps
    if background is not None:
        signal = signal.astype(np.float64) - background.astype(np.float64)
    padded = np.pad(signal, radius, mode="symmetric")
    rows = (iy[:, None] + radius + offsets[None, :])[:, :, None]
    cols = (ix[:, None] + radius + offsets[None, :])[:, None, :]
    return padded[rows, cols].astype(np.float64)


def windowed_centroids(
    signal: np.ndarray, x: np.ndarray, y: np.ndarray, sigma_hint: np.ndarray, iterations: int = 40,
    *, background: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Iterated Gaussian-windowed barycentres of background-subtracted ``signal``.

    With ``background``, ``signal`` is the raw plane and ``signal − background`` (float64) is
    formed only where the stamps need it.

    Starts at the integer pixels nearest to (x, y).  Returns (x, y, σ, local background
    offset, ok).  The window σ is the star's Gaussian-equivalent σ (``sigma_hint``, bounded to
    [0.6, 6] px); a local background offset (the median of the stamp's outer ring) is removed
    first.  ``ok`` is false where the iteration left the stamp or drifted more than
    max(1.5, σ) pixels from the start (a blend or a brighter neighbour).
    """
    n = x.size
    if n == 0:
        z = np.zeros(0)
        return z, z, z, z, np.zeros(0, dtype=bool)
    ix = np.rint(x).astype(np.int64)
    iy = np.rint(y).astype(np.int64)
    radius = int(np.clip(math.ceil(4.0 * float(np.percentile(np.clip(sigma_hint, 0.6, 6.0), 90))), 5, 16))
    stamps = _stamps(signal, ix, iy, radius, background)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    gx = offsets[None, None, :]
    gy = offsets[None, :, None]
    ring = (np.maximum(np.abs(gx), np.abs(gy)) >= radius - 1)[0]
    local_bg = np.median(stamps[:, ring], axis=1)
    stamps = stamps - local_bg[:, None, None]
    sigma = np.clip(np.asarray(sigma_hint, dtype=np.float64), 0.6, 6.0)
    cx = np.zeros(n)
    cy = np.zeros(n)
    ok = np.ones(n, dtype=bool)
    for _ in range(iterations):
        w = np.exp(-((gx - cx[:, None, None]) ** 2 + (gy - cy[:, None, None]) ** 2) / (2 * sigma[:, None, None] ** 2))
        wi = w * stamps
        s = wi.sum(axis=(1, 2))
        good = s > 0
        s = np.where(good, s, 1.0)
        nx = (wi * gx).sum(axis=(1, 2)) / s
        ny = (wi * gy).sum(axis=(1, 2)) / s
        step = 1.5  # over-relaxation (XWIN uses 2 for a window matched to a Gaussian star); stable for any width
        nx = cx + step * (nx - cx)
        ny = cy + step * (ny - cy)
        lim = radius - 2.0
        bad = ~good | (np.abs(nx) > lim) | (np.abs(ny) > lim) | ~np.isfinite(nx) | ~np.isfinite(ny)
        ok &= ~bad
        delta = np.maximum(np.abs(nx - cx), np.abs(ny - cy))
        cx = np.where(bad, cx, nx)
        cy = np.where(bad, cy, ny)
        if float(np.max(np.where(ok, delta, 0.0), initial=0.0)) < 1e-6:
            break
    ok &= np.hypot(cx, cy) <= np.maximum(1.5, sigma)
    return ix + cx, iy + cy, sigma, local_bg, ok


def _refine_with_psf(
    signal: np.ndarray, x: np.ndarray, y: np.ndarray, sigma: np.ndarray, tolerance: float, iterations: int = 25,
    *, background: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit circular Gaussians (B, A, x0, y0, σ) by damped Gauss–Newton; keep fits within ``tolerance``."""
    n = x.size
    if n == 0:
        return x, y, sigma
    ix = np.rint(x).astype(np.int64)
    iy = np.rint(y).astype(np.int64)
    radius = int(np.clip(math.ceil(3.0 * float(np.percentile(sigma, 90))), 3, 12))
    stamps = _stamps(signal, ix, iy, radius, background).reshape(n, -1)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    gy, gx = np.meshgrid(offsets, offsets, indexing="ij")
    gx, gy = gx.ravel()[None, :], gy.ravel()[None, :]
    p = np.column_stack([
        np.median(stamps, axis=1),
        stamps.max(axis=1),
        x - ix,
        y - iy,
        sigma,
    ])
    lam = np.full(n, 1e-3)

    def residual(params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b, a, x0, y0, s = (params[:, i : i + 1] for i in range(5))
        dx, dy = gx - x0, gy - y0
        e = np.exp(-(dx * dx + dy * dy) / (2 * s * s))
        return b + a * e - stamps, e

    res, e = residual(p)
    cost = (res * res).sum(axis=1)
    for _ in range(iterations):
        b, a, x0, y0, s = (p[:, i : i + 1] for i in range(5))
        dx, dy = gx - x0, gy - y0
        jac = np.stack([
            np.ones_like(e),
            e,
            a * e * dx / (s * s),
            a * e * dy / (s * s),
            a * e * (dx * dx + dy * dy) / (s * s * s),
        ], axis=2)
        jtj = np.einsum("nmi,nmj->nij", jac, jac)
        jtr = np.einsum("nmi,nm->ni", jac, res)
        diag = np.einsum("nii->ni", jtj)
        damped = jtj + (lam[:, None] * np.maximum(diag, 1e-12))[:, :, None] * np.eye(5)[None]
        try:
            step = np.linalg.solve(damped, -jtr[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            break
        trial = p + step
        trial[:, 4] = np.clip(trial[:, 4], 0.3, 20.0)
        new_res, new_e = residual(trial)
        new_cost = (new_res * new_res).sum(axis=1)
        better = np.isfinite(new_cost) & (new_cost < cost)
        p = np.where(better[:, None], trial, p)
        res = np.where(better[:, None], new_res, res)
        e = np.where(better[:, None], new_e, e)
        cost = np.where(better, new_cost, cost)
        lam = np.where(better, lam * 0.3, lam * 10.0)
    fx, fy = ix + p[:, 2], iy + p[:, 3]
    good = (np.hypot(fx - x, fy - y) <= tolerance) & (p[:, 1] > 0) & np.isfinite(fx) & np.isfinite(fy)
    return np.where(good, fx, x), np.where(good, fy, y), np.where(good, np.abs(p[:, 4]), sigma)
