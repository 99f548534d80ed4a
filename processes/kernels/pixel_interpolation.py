"""Pixel interpolation: sample a 2-D plane at arbitrary source coordinates.

(Re-exported by :mod:`processes.kernels.interpolation`, which also holds the 1-D curve
interpolators.)  The kernels follow PixInsight's PCL interpolations (read for semantics;
this is an independent implementation):

``nearest``
    the nearest pixel (``round(x)``).
``bilinear``
    the four nearest pixels, linear weights.
``bicubic``
    PixInsight's *BicubicSpline*: Keys (1981) cubic convolution with ``a = −1/2`` (this
    is the Catmull–Rom spline), 4×4 pixels, with PixInsight's *linear clamping*: in each
    row (then in the column of row results) the interpolation falls back to linear
    between the two central pixels when the outer taps' contribution ``f03`` is too
    negative relative to the inner one ``f12``: cubic is kept while ``−f03 < c·f12``.
``bicubic_bspline``
    PixInsight's *BicubicBSpline*: the cubic B-spline as a (smoothing, non-interpolating)
    4×4 kernel.
``lanczos3``, ``lanczos4``, ``lanczos5``
    Lanczos windowed sinc of order n, (2n)² pixels, normalized by the sum of weights,
    with PixInsight's ringing clamp (below).
``mitchell``, ``catmull_rom``, ``cubic_bspline``
    PixInsight's *cubic filters* (Mitchell–Netravali B=C=1/3, Catmull–Rom B=0 C=1/2,
    cubic B-spline B=1 C=0) stretched over a window of ``2r+1`` pixels (``radius`` r per
    axis; filter argument ``2·d/(r+0.5)``), normalized by the sum of weights.  These are
    the smoothing filters PixInsight uses for downsampling.

Lanczos clamping (``clamping`` c in [0, 1]; None disables it): the filter weights
``L = Ly·Lx`` are split by sign; ``sp = Σ_{L>0} v·L``, ``sn = −Σ_{L<0} v·L`` and the
matching weight sums ``wp``, ``wn``.  With ``r = sn/sp``: ``r ≥ 1`` gives ``sp/wp`` (the
negative lobes are dropped); ``c < r < 1`` scales the negative part by
``1 − ((r − c)/(1 − c))²``; the result is ``(sp − sn)/(wp − wn)``; ``sp = 0`` gives 0.
PixInsight splits by the sign of ``v·L`` rather than of ``L``; both agree for the
non-negative pixel values of normalized images (except for the weight of exact zeros
under a negative lobe, which only matters when clamping is active).

Coordinates: pixel centres are at integer coordinates, ``x`` along columns and ``y``
along rows; the image covers ``[−0.5, W−0.5] × [−0.5, H−0.5]``.  Points outside that
rectangle get ``fill``.  Taps that fall outside the image near its edges are mirrored
about the edge pixel (``−1 → 1``, ``W → W−2``), as PixInsight's Lanczos does.

:func:`remap` handles any coordinate map (:func:`remap_planes` several planes at once,
sharing the tap weights), computed per point by the compiled kernels of
:mod:`processes.kernels.warp_numba` (Lanczos weights from a table of 4096 samples per
pixel, linearly interpolated: within 3·10⁻⁸ of the exact weights; ``_remap_planes_numpy``
keeps the vectorised numpy computation as the reference);
:func:`resize` resamples to a new size with separable sparse passes (same results as
``remap`` on the equivalent grid, much faster).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "METHODS",
    "check_method",
    "kernel_support",
    "remap",
    "remap_planes",
    "resize",
    "resize_coordinates",
    "scaled_radius",
]

METHODS: tuple[str, ...] = (
    "nearest",
    "bilinear",
    "bicubic",
    "bicubic_bspline",
    "lanczos3",
    "lanczos4",
    "lanczos5",
    "mitchell",
    "catmull_rom",
    "cubic_bspline",
)
"""Interpolation method names accepted by :func:`remap` and :func:`resize`."""

_CUBIC_FILTERS: dict[str, tuple[float, float]] = {
    "mitchell": (1 / 3, 1 / 3),
    "catmull_rom": (0.0, 0.5),
    "cubic_bspline": (1.0, 0.0),
}

_CHUNK_POINTS = 1 << 16
"""Points interpolated per chunk by :func:`remap` (bounds temporary memory)."""


# -- 1-D kernels ------------------------------------------------------------------------
def check_method(method: str) -> str:
    """``method`` if it is one of :data:`METHODS`; ValueError naming the choices otherwise."""
    if method not in METHODS:
        raise ValueError(f"unknown interpolation method {method!r}; expected one of {', '.join(METHODS)}")
    return method


def _lanczos_taps(f: np.ndarray, n: int) -> np.ndarray:
    """Lanczos-n weights (P, 2n) for taps j = −n+1..n at fraction f: L(j − f).

    ``L(t) = sinc(t)·sinc(t/n)`` with sin(π(j − f)) = −(−1)^j·sin(πf) and
    sin(π(j − f)/n) = sin(πj/n)·cos(πf/n) − cos(πj/n)·sin(πf/n): three sines/cosines per
    point instead of one per tap.
    """
    taps = np.arange(-n + 1, n + 1)
    offsets = taps.astype(np.float64)
    t = offsets[None, :] - f[:, None]
    sign = -np.where(taps % 2 == 0, 1.0, -1.0)
    sin_pt = sign[None, :] * np.sin(np.pi * f)[:, None]
    phase = np.pi * f / n
    sin_ptn = np.sin(np.pi * offsets / n)[None, :] * np.cos(phase)[:, None] - np.cos(np.pi * offsets / n)[
        None, :
    ] * np.sin(phase)[:, None]
    pt = np.pi * t
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = n * sin_pt * sin_ptn / (pt * pt)
    weights = np.where(np.abs(t) < 1e-12, 1.0, weights)
    return np.where(np.abs(t) < n, weights, 0.0)


def _keys_weights(f: np.ndarray) -> np.ndarray:
    """Keys cubic convolution (a = −1/2) weights for taps −1, 0, 1, 2 at fraction f."""
    f2 = f * f
    f3 = f2 * f
    return np.stack(
        [
            -0.5 * f3 + f2 - 0.5 * f,
            1.5 * f3 - 2.5 * f2 + 1.0,
            -1.5 * f3 + 2.0 * f2 + 0.5 * f,
            0.5 * f3 - 0.5 * f2,
        ],
        axis=-1,
    )


def _bspline(t: np.ndarray) -> np.ndarray:
    """The cubic B-spline kernel (support ]−2, 2[, sums to 1 over integer shifts)."""
    a = np.abs(t)
    inner = 2 / 3 - a * a + 0.5 * a**3
    outer = (2 - a) ** 3 / 6
    return np.where(a < 1, inner, np.where(a < 2, outer, 0.0))


def _cubic_filter(t: np.ndarray, b: float, c: float) -> np.ndarray:
    """Mitchell–Netravali cubic filter with parameters B, C (support ]−2, 2[)."""
    a = np.abs(t)
    near = ((12 - 9 * b - 6 * c) * a**3 + (-18 + 12 * b + 6 * c) * a**2 + (6 - 2 * b)) / 6
    far = ((-b - 6 * c) * a**3 + (6 * b + 30 * c) * a**2 + (-12 * b - 48 * c) * a + (8 * b + 24 * c)) / 6
    return np.where(a < 1, near, np.where(a < 2, far, 0.0))


def kernel_support(method: str, radius: int = 2) -> int:
    """Number of taps per axis of ``method`` (``radius`` applies to the cubic filters)."""
    check_method(method)
    if method == "nearest":
        return 1
    if method == "bilinear":
        return 2
    if method in ("bicubic", "bicubic_bspline"):
        return 4
    if method.startswith("lanczos"):
        return 2 * int(method[-1])
    return 2 * max(1, int(radius)) + 1


def _axis_weights(x: np.ndarray, method: str, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer tap positions (P, n) and weights (P, n) along one axis for coordinates x (P,)."""
    x = np.asarray(x, dtype=np.float64)
    if method == "nearest":
        return np.floor(x + 0.5).astype(np.int64)[:, None], np.ones((x.size, 1))
    if method in _CUBIC_FILTERS:
        r = max(1, int(radius))
        base = np.floor(x + 0.5)
        d = x - base
        offsets = np.arange(-r, r + 1, dtype=np.float64)
        scale = 2.0 / (r + 0.5)
        b, c = _CUBIC_FILTERS[method]
        weights = _cubic_filter(scale * (offsets[None, :] - d[:, None]), b, c)
        weights /= weights.sum(axis=1, keepdims=True)
        return base.astype(np.int64)[:, None] + np.arange(-r, r + 1)[None, :], weights
    base = np.floor(x)
    f = x - base
    ibase = base.astype(np.int64)[:, None]
    if method == "bilinear":
        return ibase + np.arange(2)[None, :], np.stack([1 - f, f], axis=-1)
    if method == "bicubic":
        return ibase + np.arange(-1, 3)[None, :], _keys_weights(f)
    if method == "bicubic_bspline":
        offsets = np.arange(-1, 3, dtype=np.float64)
        return ibase + np.arange(-1, 3)[None, :], _bspline(offsets[None, :] - f[:, None])
    n = int(method[-1])
    return ibase + np.arange(-n + 1, n + 1)[None, :], _lanczos_taps(f, n)


def _mirror(index: np.ndarray, size: int) -> np.ndarray:
    """Reflect indices about the edge pixels (−1 → 1, size → size − 2), periodic beyond."""
    if size == 1:
        return np.zeros_like(index)
    if index.size and int(index.min()) >= 0 and int(index.max()) < size:
        return index
    period = 2 * size - 2
    index = np.mod(index, period)
    return np.where(index >= size, period - index, index)


# -- combining taps ---------------------------------------------------------------------
def _lanczos_combine(
    sp: np.ndarray, sn: np.ndarray, wp: np.ndarray, wn: np.ndarray, clamping: float | None
) -> np.ndarray:
    """PixInsight's clamped Lanczos convolution from the split sums (sn, wn ≥ 0)."""
    total_w = wp - wn
    with np.errstate(divide="ignore", invalid="ignore"):
        if clamping is None:
            return np.where(total_w != 0, (sp - sn) / np.where(total_w != 0, total_w, 1.0), 0.0)
        c = float(clamping)
        r = np.where(sp != 0, sn / np.where(sp != 0, sp, 1.0), 0.0)
        factor = np.ones_like(r)
        if c < 1:
            middle = (r > c) & (r < 1)
            rr = (r - c) / (1 - c)
            factor = np.where(middle, 1 - rr * rr, 1.0)
        sn_c = sn * factor
        wn_c = wn * factor
        denom = wp - wn_c
        out = np.where(denom != 0, (sp - sn_c) / np.where(denom != 0, denom, 1.0), 0.0)
        out = np.where(r >= 1, np.where(wp != 0, sp / np.where(wp != 0, wp, 1.0), 0.0), out)
        return np.where(sp == 0, 0.0, out)


def _keys_clamp(f12: np.ndarray, f03: np.ndarray, inner_w: np.ndarray, clamping: float | None) -> np.ndarray:
    """PixInsight's linear clamping of one cubic row: cubic if −f03 < c·f12, else linear."""
    if clamping is None:
        return f12 + f03
    with np.errstate(divide="ignore", invalid="ignore"):
        linear = f12 / inner_w
    return np.where(-f03 < f12 * float(clamping), f12 + f03, linear)


# -- remap ------------------------------------------------------------------------------
def remap(
    plane: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    method: str = "lanczos3",
    clamping: float | None = 0.3,
    fill: float = 0.0,
    *,
    radius: tuple[int, int] | int = 2,
    chunk_points: int = _CHUNK_POINTS,
) -> np.ndarray:
    """Sample ``plane`` (H, W) at source coordinates ``(xs, ys)``; output shape is ``xs.shape``.

    ``method`` is one of :data:`METHODS`; ``clamping`` the ringing clamp threshold of the
    bicubic and Lanczos methods (None: off); ``fill`` the value of points outside the
    source; ``radius`` (rx, ry) the window radius of the cubic filters.  The result is
    float32 (computed in float64), processed ``chunk_points`` points at a time.
    """
    plane = np.asarray(plane)
    if plane.ndim != 2:
        raise ValueError(f"remap needs a 2-D plane, got shape {plane.shape}")
    return remap_planes(plane[np.newaxis], xs, ys, method, clamping, fill, radius=radius,
                        chunk_points=chunk_points)[0]


def remap_planes(
    planes: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    method: str = "lanczos3",
    clamping: float | None = 0.3,
    fill: float = 0.0,
    *,
    radius: tuple[int, int] | int = 2,
    chunk_points: int = _CHUNK_POINTS,
) -> np.ndarray:
    """:func:`remap` of every plane of ``planes`` (C, H, W) at the same coordinates; (C, *xs.shape).

    The tap positions and weights of a point are computed once for all planes (an RGB image
    costs little more than one channel); each plane's result equals :func:`remap` of that
    plane.  Computed by the compiled kernel of :mod:`processes.kernels.warp_numba` (float64
    arithmetic, float32 result); ``chunk_points`` is accepted for compatibility (the kernel
    needs no temporary memory per point).
    """
    planes, xs, ys = _remap_arguments(planes, xs, ys, method, clamping)
    from processes.kernels import warp_numba

    rx, ry = _radii(radius, planes.shape[2], planes.shape[1])
    code, table, fb, fc = warp_numba.method_parameters(method)
    out = np.empty((planes.shape[0], xs.size), dtype=np.float32)
    warp_numba.remap_points(
        kernel_planes(planes), np.ascontiguousarray(xs.ravel()), np.ascontiguousarray(ys.ravel()),
        code, table, rx, ry, fb, fc, 0.0 if clamping is None else float(clamping), clamping is not None,
        float(fill), out,
    )
    return out.reshape((planes.shape[0], *xs.shape))


def kernel_planes(planes: np.ndarray) -> np.ndarray:
    """``planes`` as a C-contiguous float32 or float64 array (what the compiled kernels take)."""
    planes = np.asarray(planes)
    if planes.dtype not in (np.float32, np.float64):
        planes = planes.astype(np.float64)
    return np.ascontiguousarray(planes)


def _remap_arguments(planes: np.ndarray, xs: np.ndarray, ys: np.ndarray, method: str,
                     clamping: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked :func:`remap_planes` arguments: ``planes`` (C, H, W) and the coordinates as float64."""
    check_method(method)
    planes = np.asarray(planes)
    if planes.ndim != 3:
        raise ValueError(f"remap_planes needs planes of shape (C, H, W), got shape {planes.shape}")
    xs = np.asarray(xs, dtype=np.float64)
    ys = np.asarray(ys, dtype=np.float64)
    if xs.shape != ys.shape:
        raise ValueError(f"xs and ys must have the same shape, got {xs.shape} and {ys.shape}")
    if clamping is not None and not 0 <= clamping <= 1:
        raise ValueError(f"clamping threshold {clamping} must be in [0, 1] (or None)")
    return planes, xs, ys


def _radii(radius: tuple[int, int] | int, width: int, height: int) -> tuple[int, int]:
    rx, ry = (radius, radius) if isinstance(radius, int) else radius
    return min(max(1, int(rx)), width), min(max(1, int(ry)), height)


def _remap_planes_numpy(
    planes: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    method: str = "lanczos3",
    clamping: float | None = 0.3,
    fill: float = 0.0,
    *,
    radius: tuple[int, int] | int = 2,
    chunk_points: int = _CHUNK_POINTS,
) -> np.ndarray:
    """The vectorised numpy :func:`remap_planes` (reference for the compiled kernel, used by tests).

    The tap positions and weights are computed once for all planes (an RGB image costs
    little more than one channel); each plane's result equals :func:`remap` of that plane.
    """
    planes, xs, ys = _remap_arguments(planes, xs, ys, method, clamping)
    channels, height, width = planes.shape
    rx, ry = _radii(radius, width, height)
    pad = max(kernel_support(method, rx), kernel_support(method, ry)) + 1
    if pad < min(height, width):
        # Mirror-pad once: every tap then lies inside the padded planes and the (ny, nx)
        # window of a point is one slice of a strided view (same values as mirroring taps).
        padded = np.pad(planes, ((0, 0), (pad, pad), (pad, pad)), mode="reflect")
        source: np.ndarray | tuple[np.ndarray, int] = (padded, pad)
    else:
        source = np.ascontiguousarray(planes).reshape(channels, -1)
    out = np.empty((channels, xs.size), dtype=np.float32)
    xflat, yflat = xs.ravel(), ys.ravel()
    step = max(1, int(chunk_points))
    for start in range(0, xflat.size, step):
        x = xflat[start : start + step]
        y = yflat[start : start + step]
        inside = (x >= -0.5) & (x <= width - 0.5) & (y >= -0.5) & (y <= height - 0.5)
        xc = np.where(inside, x, 0.0)
        yc = np.where(inside, y, 0.0)
        values = _sample_points(source, height, width, xc, yc, method, clamping, rx, ry)
        out[:, start : start + step] = np.where(inside[None, :], values, fill)
    return out.reshape((channels, *xs.shape))


def _sample_points(
    source: np.ndarray | tuple[np.ndarray, int],
    height: int,
    width: int,
    x: np.ndarray,
    y: np.ndarray,
    method: str,
    clamping: float | None,
    rx: int,
    ry: int,
) -> np.ndarray:
    """Interpolated values (C, P) at the points (x, y) of the planes in ``source``.

    ``source`` is either the flattened planes (C, H·W), whose taps are mirrored here, or
    ``(padded planes, pad)`` mirror-padded by ``pad`` pixels on every side.
    """
    ix, wx = _axis_weights(x, method, rx)
    iy, wy = _axis_weights(y, method, ry)
    if isinstance(source, tuple):
        padded, pad = source
        windows = np.lib.stride_tricks.sliding_window_view(padded, (iy.shape[1], ix.shape[1]), axis=(1, 2))
        block = windows[:, iy[:, 0] + pad, ix[:, 0] + pad]  # (C, P, ny, nx)
    else:
        ix = _mirror(ix, width)
        rows = _mirror(iy, height) * width
        block = source[:, rows[:, :, None] + ix[:, None, :]]  # (C, P, ny, nx)
    channels = block.shape[0]

    if method == "bicubic":
        inner_wx = wx[:, 1] + wx[:, 2]
        row_values = []
        for a in range(4):
            v = block[:, :, a, :]
            f12 = v[:, :, 1] * wx[:, 1] + v[:, :, 2] * wx[:, 2]
            f03 = v[:, :, 0] * wx[:, 0] + v[:, :, 3] * wx[:, 3]
            row_values.append(_keys_clamp(f12, f03, inner_wx, clamping))
        f12 = row_values[1] * wy[:, 1] + row_values[2] * wy[:, 2]
        f03 = row_values[0] * wy[:, 0] + row_values[3] * wy[:, 3]
        return _keys_clamp(f12, f03, wy[:, 1] + wy[:, 2], clamping)
    if method.startswith("lanczos"):
        px, nx = np.maximum(wx, 0.0), np.minimum(wx, 0.0)
        pos_rows = np.einsum("cpyx,px->cpy", block, px)
        neg_rows = np.einsum("cpyx,px->cpy", block, nx)
        sp = np.zeros((channels, x.size))
        sneg = np.zeros((channels, x.size))
        for a in range(wy.shape[1]):
            pos_row = pos_rows[:, :, a]
            neg_row = neg_rows[:, :, a]
            w = wy[:, a]
            wpos, wneg = np.maximum(w, 0.0), np.minimum(w, 0.0)
            sp += wpos * pos_row + wneg * neg_row
            sneg += wpos * neg_row + wneg * pos_row
        spx, snx = px.sum(axis=1), nx.sum(axis=1)
        spy, sny = np.maximum(wy, 0.0).sum(axis=1), np.minimum(wy, 0.0).sum(axis=1)
        wp = spy * spx + sny * snx
        wn = -(spy * snx + sny * spx)
        return _lanczos_combine(sp, -sneg, wp, wn, clamping)
    row_sums = np.einsum("cpyx,px->cpy", block, wx)
    acc = np.zeros((channels, x.size))
    for a in range(wy.shape[1]):
        acc += wy[:, a] * row_sums[:, :, a]
    return acc


# -- resize (separable) -----------------------------------------------------------------
def resize_coordinates(old: int, new: int) -> np.ndarray:
    """Source coordinates of the ``new`` output samples along an axis of ``old`` pixels.

    Centre-aligned: output pixel j covers the same fraction of the image as source
    pixels ``(j + 0.5)·old/new − 0.5``, so the image stays centred.
    """
    return (np.arange(new, dtype=np.float64) + 0.5) * (old / new) - 0.5


def _sparse(index: np.ndarray, weights: np.ndarray, size: int):  # noqa: ANN202 - scipy sparse matrix
    """A CSR matrix (n_out × size) with ``weights`` at ``index`` (duplicates summed)."""
    from scipy import sparse

    n_out, taps = index.shape
    rows = np.repeat(np.arange(n_out), taps)
    return sparse.csr_matrix((weights.ravel(), (rows, index.ravel())), shape=(n_out, size))


def resize(
    plane: np.ndarray,
    new_h: int,
    new_w: int,
    method: str = "lanczos3",
    clamping: float | None = 0.3,
    *,
    radius: tuple[int, int] | int = 2,
) -> np.ndarray:
    """``plane`` (H, W) resampled to (new_h, new_w) with centre-aligned pixel grids.

    Equivalent to :func:`remap` at :func:`resize_coordinates` but computed with separable
    sparse passes (horizontal, then vertical).  Returns float32.
    """
    check_method(method)
    plane = np.asarray(plane)
    if plane.ndim != 2:
        raise ValueError(f"resize needs a 2-D plane, got shape {plane.shape}")
    if new_h < 1 or new_w < 1:
        raise ValueError(f"new size {new_w}x{new_h} must be at least 1x1")
    if clamping is not None and not 0 <= clamping <= 1:
        raise ValueError(f"clamping threshold {clamping} must be in [0, 1] (or None)")
    height, width = plane.shape
    rx, ry = (radius, radius) if isinstance(radius, int) else radius
    rx, ry = min(max(1, rx), width), min(max(1, ry), height)
    ix, wx = _axis_weights(resize_coordinates(width, new_w), method, rx)
    iy, wy = _axis_weights(resize_coordinates(height, new_h), method, ry)
    ix, iy = _mirror(ix, width), _mirror(iy, height)
    data = plane.astype(np.float64, copy=False)

    def horizontal(weights: np.ndarray, taps: slice = slice(None)) -> np.ndarray:
        # (H, W) @ (W, new_w), computed as ((new_w, W) @ (W, H))ᵀ.
        return np.asarray((_sparse(ix[:, taps], weights[:, taps], width) @ data.T).T)

    def vertical(rows: np.ndarray, weights: np.ndarray, taps: slice = slice(None)) -> np.ndarray:
        return np.asarray(_sparse(iy[:, taps], weights[:, taps], height) @ rows)

    if method == "bicubic":
        f12 = horizontal(wx, slice(1, 3))
        f03 = horizontal(wx, slice(0, 4, 3))
        rows = _keys_clamp(f12, f03, (wx[:, 1] + wx[:, 2])[None, :], clamping)
        f12 = vertical(rows, wy, slice(1, 3))
        f03 = vertical(rows, wy, slice(0, 4, 3))
        out = _keys_clamp(f12, f03, (wy[:, 1] + wy[:, 2])[:, None], clamping)
    elif method.startswith("lanczos"):
        px, nx = np.maximum(wx, 0.0), np.minimum(wx, 0.0)
        py, ny = np.maximum(wy, 0.0), np.minimum(wy, 0.0)
        a, b = horizontal(px), horizontal(nx)
        sp = vertical(a, py) + vertical(b, ny)
        sneg = vertical(b, py) + vertical(a, ny)
        spx, snx, spy, sny = px.sum(1), nx.sum(1), py.sum(1), ny.sum(1)
        wp = np.outer(spy, spx) + np.outer(sny, snx)
        wn = -(np.outer(spy, snx) + np.outer(sny, spx))
        out = _lanczos_combine(sp, -sneg, wp, wn, clamping)
    else:
        out = vertical(horizontal(wx), wy)
    return out.astype(np.float32)


def scaled_radius(smoothness: float, ratio: float) -> int:
    """PixInsight's cubic-filter radius for a downsampling ``ratio`` (source/target > 1)."""
    return max(2, math.trunc(smoothness * ratio))
