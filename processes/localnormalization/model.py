"""Local normalization functions: reference ≈ A(x, y)·target + B(x, y), as PixInsight builds them.

Following PixInsight's LocalNormalization (``LocalNormalizationInstance.cpp``, PixInsight
1.8.9), channel by channel:

1. **Rejection.**  Pixels ≤ ``lowClippingLevel`` or ≥ ``highClippingLevel`` are zeroed and
   replaced by the coarse background (:func:`~.backgrounds.coarse_background`).  On the
   target, an optional median filter (``hotPixelFilterRadius``) and Gaussian
   (``noiseReductionFilterRadius``) come next; then, with ``rejection``, every target pixel
   above its coarse background by more than ``targetRejectionThreshold``·σ_T where the
   reference is *not* significant (not above its background by
   ``referenceRejectionThreshold``·σ_R) is rejected — what is in the target only
   (satellite and plane trails, cosmic rays, hot pixels) does not bend the background.
   σ is the K-Sigma noise estimate.
2. **Backgrounds.**  RB and TB, the large-scale components at ``scale``
   (:func:`~.backgrounds.large_scale`).
3. **Scale.**  ``PSFSignal``: the stars of both images (:func:`processes.kernels.starmeasure.measure_stars`,
   elliptical Gaussian fits) are matched by position (the frames are registered) and the
   scale is the robust mean of the flux ratios reference/target after Robust Chauvenet
   Rejection (``rejectionLimit``, Maples et al. 2018, as PixInsight).  With
   ``localScaleCorrections`` the ratios' deviations from that mean are smoothed into a
   surface (Gaussian kernel regression at the model nodes, width ``scale``/2, shrunk toward
   zero where stars are few) and added to it.  ``MultiscaleAnalysis``: the robust mean of
   (R − RB)/(T − TB) over pixels significant in both images and below the saturation
   threshold.  ``noScale``: A = 1.
4. **Functions.**  ``A = s (+ δ(x, y))``, ``B = RB − A·TB``, as matrices of
   ``round(W·f/scale) × round(H·f/scale)`` nodes (``f`` = ``modelScalingFactor``; node
   ``(i, j)`` at image pixel ``(j·W/w, i·H/h)``), the .xnml file's matrices: they are
   fitted (least squares) to samples of the functions taken 4 per node spacing, borders
   included, so that PCL's bicubic B-spline evaluation of the matrices reproduces the
   functions up to the image borders.
5. **Global location** (``globalLocationNormalization``): the median of the normalized
   target is matched to the reference's median (``(v' − T)·1 + R``).

Differences from PixInsight: PSF photometry is procfw's Gaussian fit (PixInsight's
PSFScaleEstimator fits Moffat/Gaussian families: ``psfType``, ``psfGrowth``,
``psfNoiseLayers``, ``psfMinStructureSize``, ``psfMinSNR``, ``psfAllowClusteredSources``
are not used); the multiscale structure map of ``MultiscaleAnalysis`` is replaced by the
significance test above; PixInsight resamples the full-resolution functions with a
B-spline filter of ``scale`` pixels, procfw samples its (already smooth) backgrounds at
the nodes.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from processes.common.xnml import LocalNormalizationData
from processes.kernels.bspline_grid import fit_matrix
from processes.localnormalization import backgrounds as bg

__all__ = ["ReferenceModel", "Settings", "build_normalization", "prepare_reference", "robust_chauvenet"]

MAX_PSF_STARS = 2000
"""Most stars fitted per image and channel for the PSF scale (brightest first)."""


@attrs.frozen(kw_only=True)
class Settings:
    """The parameters of the algorithm (LocalNormalization's, by meaning)."""

    scale: int = 1024
    no_scale: bool = False
    global_location: bool = False
    sampling_delta: int = 32
    rejection: bool = True
    low_clipping: float = 4.5e-5
    high_clipping: float = 0.85
    reference_threshold: float = 3.0
    target_threshold: float = 3.2
    hot_pixel_radius: int = 2
    noise_reduction_radius: int = 0
    model_scaling_factor: float = 8.0
    scale_method: str = "PSFSignal"
    local_scale_corrections: bool = False
    saturation_threshold: float = 0.75
    saturation_relative: bool = True
    rejection_limit: float = 0.3
    max_stars: int = 24576


@attrs.frozen(kw_only=True, eq=False)
class _ReferenceChannel:
    background: np.ndarray  # decimated RB
    ratio: int
    significant: np.ndarray | None  # full-resolution bool: reference above background + k·σ
    location: float
    stars: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # x, y, flux
    plane: np.ndarray | None  # the clipped reference, for MultiscaleAnalysis


@attrs.frozen(kw_only=True, eq=False)
class ReferenceModel:
    """What every target of a run needs from the reference image (made once per worker)."""

    width: int
    height: int
    channels: tuple[_ReferenceChannel, ...]
    path: str = ""


def _noise(plane: np.ndarray) -> float:
    from processes.kernels.noise import estimate_noise

    return float(estimate_noise(np.asarray(plane, dtype=np.float32), "K-Sigma").sigma)


def _location(plane: np.ndarray) -> float:
    values = plane[(plane > 0) & (plane < 1)]
    return float(np.median(values)) if values.size else 0.0


def _clip(plane: np.ndarray, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """(float32 copy with clipped pixels zeroed, mask of those pixels)."""
    out = np.array(plane, dtype=np.float32, copy=True)
    bad = ~np.isfinite(out) | (out <= settings.low_clipping) | (out >= settings.high_clipping)
    out[bad] = 0
    return out, bad


def _fill(plane: np.ndarray, settings: Settings, what: str) -> np.ndarray:
    """Replace the zero pixels of ``plane`` (in place) by the coarse background; returns that background."""
    try:
        model = bg.coarse_background(plane, settings.sampling_delta)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None
    zero = plane == 0
    plane[zero] = model[zero]
    return model


def _saturation(plane: np.ndarray, settings: Settings) -> float:
    level = settings.saturation_threshold
    if settings.saturation_relative:
        level *= float(np.max(plane)) if plane.size else 1.0
    return level


def _stars(plane: np.ndarray, settings: Settings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from processes.kernels.starmeasure import measure_stars

    field = measure_stars(plane.astype(np.float64), max_stars=min(settings.max_stars, MAX_PSF_STARS),
                          saturation=_saturation(plane, settings))
    keep = np.isfinite(field.flux) & (field.flux > 0)
    return field.x[keep], field.y[keep], field.flux[keep]


def prepare_reference(pixels: np.ndarray, settings: Settings, path: str = "") -> ReferenceModel:
    """The reference's backgrounds, significance maps, locations and stars, channel by channel."""
    pixels = np.asarray(pixels)
    channels = []
    for c in range(pixels.shape[0]):
        original = pixels[c]
        plane, _ = _clip(original, settings)
        clipped = plane.copy()
        sigma = _noise(plane) if settings.rejection else 0.0
        _fill(plane, settings, f"reference channel {c}")
        background, ratio = bg.large_scale(plane, settings.scale)
        significant = None
        if settings.rejection:
            full = bg.upsample(background, ratio, *plane.shape)
            significant = ~((clipped != 0) & (clipped < full + np.float32(settings.reference_threshold * sigma)))
            del full
        stars = None
        if not settings.no_scale and settings.scale_method == "PSFSignal":
            stars = _stars(original, settings)
        channels.append(_ReferenceChannel(
            background=background, ratio=ratio, significant=significant, location=_location(original),
            stars=stars, plane=clipped if not settings.no_scale and settings.scale_method != "PSFSignal" else None,
        ))
    return ReferenceModel(width=int(pixels.shape[2]), height=int(pixels.shape[1]), channels=tuple(channels),
                          path=path)


def _reject_target(original: np.ndarray, reference: _ReferenceChannel, settings: Settings, c: int) -> np.ndarray:
    from scipy import ndimage

    plane, _ = _clip(original, settings)
    coarse = _fill(plane, settings, f"target channel {c}")
    radius = settings.hot_pixel_radius
    if radius > 0:
        if radius == 1:
            plane = ndimage.median_filter(plane, size=3, mode="reflect")
        else:
            size = 2 * radius + 1
            yy, xx = np.mgrid[:size, :size] - radius
            plane = ndimage.median_filter(plane, footprint=(xx * xx + yy * yy) <= radius * radius + radius,
                                          mode="reflect")
    if settings.noise_reduction_radius > 0:
        size = 2 * settings.noise_reduction_radius + 1
        plane = ndimage.gaussian_filter(plane, sigma=size / (2 * math.sqrt(-2 * math.log(0.01))), mode="reflect")
    if settings.rejection and reference.significant is not None:
        limit = coarse + np.float32(settings.target_threshold * _noise(plane))
        reject = ~reference.significant & (plane > limit)
        plane[reject] = 0
        _fill(plane, settings, f"target channel {c}")
    return plane


def robust_chauvenet(values: np.ndarray, limit: float) -> tuple[float, float, int]:
    """PixInsight's Robust Chauvenet Rejection of a sample: (mean, σ, kept count).

    Three phases, as ``LocalNormalizationInstance.cpp``: median and the 68.3-percentile
    deviation (line fit, then plain), then mean and standard deviation; in each phase the
    more extreme end value is dropped while ``N·Q(|x − m|/σ) < limit`` (Q: the normal tail).
    """
    from scipy.special import erf

    s = np.sort(np.asarray(values, dtype=np.float64))
    i, j = 0, s.size
    m, d = (float(np.median(s)), 0.0) if s.size else (math.nan, 0.0)

    def fn(n: int) -> float:
        return 1.0 / (1.0 - 2.9442 * n ** -1.073) if n > 2 else 1.0

    def q(x: float) -> float:
        return 0.5 * (1.0 - float(erf(x / math.sqrt(2.0))))

    for phase in range(3):
        while True:
            part = s[i:j]
            n = part.size
            if n < 3:
                return m, d, n
            if phase < 2:
                m = float(np.median(part))
                dev = np.sort(np.abs(part - m))
                d = fn(n) * float(dev[int(0.683 * n)])
            else:
                m = float(part.mean())
                d = float(part.std(ddof=1))
            if not 1 + d != 1:
                return m, d, n
            low, high = n * q((m - s[i]) / d), n * q((s[j - 1] - m) / d)
            if low >= limit and high >= limit:
                break
            if high < low:
                j -= 1
            else:
                i += 1
    return m, d, j - i


def _match(ref: tuple[np.ndarray, np.ndarray, np.ndarray], tgt: tuple[np.ndarray, np.ndarray, np.ndarray],
           radius: float = 1.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, flux ratio reference/target) of the stars found at the same place in both images."""
    from scipy.spatial import cKDTree

    if ref[0].size == 0 or tgt[0].size == 0:
        return np.empty(0), np.empty(0), np.empty(0)
    tree = cKDTree(np.column_stack([ref[0], ref[1]]))
    dist, index = tree.query(np.column_stack([tgt[0], tgt[1]]), distance_upper_bound=radius)
    ok = np.isfinite(dist)
    # one target star per reference star
    _, first = np.unique(index[ok], return_index=True)
    sel = np.nonzero(ok)[0][first]
    return tgt[0][sel], tgt[1][sel], ref[2][index[sel]] / tgt[2][sel]


def _local_corrections(x: np.ndarray, y: np.ndarray, residual: np.ndarray, xs: np.ndarray, ys: np.ndarray,
                       width: float) -> np.ndarray:
    """Gaussian kernel regression of ``residual`` at the nodes ys × xs, shrunk toward 0 (prior weight 1)."""
    gx = np.exp(-0.5 * ((xs[None, :] - x[:, None]) / width) ** 2)  # (stars, nx)
    gy = np.exp(-0.5 * ((ys[None, :] - y[:, None]) / width) ** 2)  # (stars, ny)
    weights = np.einsum("sy,sx->yx", gy, gx)
    sums = np.einsum("sy,sx,s->yx", gy, gx, residual)
    return sums / (weights + 1.0)


@attrs.frozen(kw_only=True)
class ScaleEstimate:
    """A channel's global scale and how it was found."""

    scale: float
    sigma: float
    total: int
    count: int


def _psf_scale(original: np.ndarray, reference: _ReferenceChannel, settings: Settings, c: int,
               nodes: tuple[np.ndarray, np.ndarray]) -> tuple[ScaleEstimate, np.ndarray | None]:
    assert reference.stars is not None
    x, y, ratio = _match(reference.stars, _stars(original, settings))
    good = np.isfinite(ratio) & (ratio > 0)
    x, y, ratio = x[good], y[good], ratio[good]
    if ratio.size < 3:
        raise ValueError(f"unable to compute a valid scale estimate (channel {c}): {ratio.size} star(s) matched "
                         "between the reference and the target")
    scale, sigma, count = robust_chauvenet(ratio, settings.rejection_limit)
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"unable to compute a valid scale estimate (channel {c})")
    local = None
    if settings.local_scale_corrections and count >= 16:
        keep = np.abs(ratio - scale) <= 3 * max(sigma, 1e-12)
        ys, xs = nodes
        local = _local_corrections(x[keep], y[keep], ratio[keep] - scale, xs, ys, settings.scale / 2)
    return ScaleEstimate(scale=scale, sigma=sigma, total=int(ratio.size), count=count), local


def _multiscale_scale(target: np.ndarray, target_bg: np.ndarray, ratio_bg: int, reference: _ReferenceChannel,
                      settings: Settings, c: int) -> ScaleEstimate:
    assert reference.plane is not None
    rb = bg.upsample(reference.background, reference.ratio, *target.shape)
    tb = bg.upsample(target_bg, ratio_bg, *target.shape)
    r = reference.plane - rb
    t = target - tb
    kr = 3 * _noise(reference.plane)
    kt = 3 * _noise(target)
    sat_r, sat_t = _saturation(reference.plane, settings), _saturation(target, settings)
    use = (r > kr) & (t > kt) & (reference.plane < sat_r) & (target < sat_t) & (reference.plane != 0)
    values = r[use] / t[use]
    if values.size < 64:
        raise ValueError(f"unable to compute a valid scale estimate (channel {c}): {values.size} significant pixels")
    scale, sigma, count = robust_chauvenet(values[:: max(1, values.size // 20000)], settings.rejection_limit)
    return ScaleEstimate(scale=scale, sigma=sigma, total=int(values.size), count=count)


def model_shape(width: int, height: int, settings: Settings) -> tuple[int, int]:
    """(w, h) of the coefficient matrices: PixInsight resamples by modelScalingFactor/scale."""
    factor = settings.model_scaling_factor / settings.scale
    return max(1, round(width * factor)), max(1, round(height * factor))


def build_normalization(target: np.ndarray, reference: ReferenceModel, settings: Settings, *,
                        target_path: str = "") -> tuple[LocalNormalizationData, list[ScaleEstimate | None]]:
    """The normalization data mapping ``target`` (channels, H, W) onto the reference.

    Raises ValueError (with the reason) when the images differ in geometry or a scale
    cannot be estimated.
    """
    target = np.asarray(target)
    channels, height, width = target.shape
    if (width, height) != (reference.width, reference.height) or channels != len(reference.channels):
        raise ValueError(f"the target is {channels}x{height}x{width} (channels x height x width) but the reference "
                         f"is {len(reference.channels)}x{reference.height}x{reference.width}; LocalNormalization "
                         "needs registered images of the same geometry")
    if width < settings.scale or height < settings.scale:
        raise ValueError(f"the {width}x{height} images are smaller than the normalization scale {settings.scale} "
                         "pixels; use a smaller scale")
    mw, mh = model_shape(width, height, settings)
    # the functions are sampled densely (4 samples per node spacing, borders included) and the
    # matrices fitted to those samples, so that PCL's B-spline evaluation reproduces them
    xs = np.linspace(0, width - 1, 4 * mw + 1)
    ys = np.linspace(0, height - 1, 4 * mh + 1)
    a_all = np.empty((channels, mh, mw), dtype=np.float32)
    b_all = np.empty((channels, mh, mw), dtype=np.float32)
    estimates: list[ScaleEstimate | None] = []
    for c in range(channels):
        ref = reference.channels[c]
        cleaned = _reject_target(target[c], ref, settings, c)
        target_bg, ratio = bg.large_scale(cleaned, settings.scale)
        del cleaned
        rb = bg.sample_at(ref.background, ref.ratio, ys, xs)
        tb = bg.sample_at(target_bg, ratio, ys, xs)
        if settings.no_scale:
            a = np.ones_like(rb)
            estimates.append(None)
        elif settings.scale_method == "PSFSignal":
            estimate, local = _psf_scale(target[c], ref, settings, c, (ys, xs))
            a = np.full_like(rb, estimate.scale) + (local if local is not None else 0.0)
            estimates.append(estimate)
        else:
            plane, _ = _clip(target[c], settings)
            estimate = _multiscale_scale(plane, target_bg, ratio, ref, settings, c)
            a = np.full_like(rb, estimate.scale)
            estimates.append(estimate)
        a_all[c] = fit_matrix(a, ys, xs, width, height, mw, mh)
        b_all[c] = fit_matrix(rb - a * tb, ys, xs, width, height, mw, mh)
    relative = None if settings.no_scale else [e.scale if e is not None else 1.0 for e in estimates]
    data = LocalNormalizationData(
        scale=settings.scale, reference_width=width, reference_height=height, scale_matrices=a_all,
        offset_matrices=b_all, relative_scale_factors=relative, reference_path=reference.path,
        target_path=target_path,
    )
    if settings.global_location:
        locations = []
        for c in range(channels):
            normalized = np.array(target[c], dtype=np.float32, copy=True)
            data.normalize_rows(normalized, c, np.arange(height))
            locations.append(_location(normalized))
        data = attrs.evolve(data, global_scale=np.ones(channels),
                            reference_location=[ch.location for ch in reference.channels],
                            target_location=locations)
    return data, estimates


def apply_normalization(pixels: np.ndarray, data: LocalNormalizationData, *, truncate: bool) -> np.ndarray:
    """``pixels`` (channels, H, W) normalized by ``data`` (a new float32 array; zeros stay zero)."""
    out = np.array(pixels, dtype=np.float32, copy=True)
    rows = np.arange(out.shape[1])
    for c in range(out.shape[0]):
        data.normalize_rows(out[c], c, rows)
    if truncate:
        np.clip(out, 0, 1, out=out)
    return out
