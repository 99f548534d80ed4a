"""Compiled (numba) pixel interpolation: every channel of every output pixel in one loop.

The mathematics is that of :mod:`processes.kernels.pixel_interpolation` (PixInsight's
interpolations with their clamping, mirrored taps at the edges, ``fill`` outside the
source), computed per output point in float64 in a compiled loop instead of vectorised
numpy passes over chunks of points: the tap weights of a point are computed once and
applied to all channels, nothing is materialised per point.  One line sampler per kernel
family (nearest, Lanczos-n, bicubic spline with clamping, and the separable bilinear,
B-spline and cubic filters).  Lanczos weights come from a table of L(j − f) at 4096
fractions f per pixel (:func:`lanczos_table`, exact values), linearly interpolated: within
3·10⁻⁸ of the exact weights, far below float32 resolution.  Accumulating three channels
together keeps six independent sums in flight; the clamping split into positive and
negative lobes is fixed by the tap, so each tap is added once.  Lanczos-3 of one to three
channels (registration: RGB frames, and grey ones in one lane) samples the channels interleaved in
float64 (:func:`rgbx_source`), each tap of the three channels one 4-lane vector operation
(:mod:`~processes.kernels.simd4`), its clamping of the three sums too (:func:`_lanczos_combine4`),
its multiplications and additions fused (one rounding per tap instead of two: ~15 % faster): its
float64 sums may differ from the scalar loop's in their last bits, which the float32 result does
not show (the same pixels on the corpus frames; at most one float32 unit apart at a rounding tie).

Two drivers share the line samplers:

:func:`remap_points`
    samples at explicit source coordinates ``(xs, ys)`` (any coordinate map);
:func:`warp_rows`
    samples a band of output rows whose source coordinates come from a 3×3 matrix
    ``H·(x, y, 1)`` (projective), computed on the fly (StarAlignment's resampling).

This module imports numba at import time; import it only when a remap runs (the callers in
:mod:`~processes.kernels.pixel_interpolation` do so inside their functions).  Kernels are
compiled once per dtype and cached on disk (``cache=True``); each kernel family has its own
compiled functions (a Lanczos warp compiles, cold, in about 3 s and loads from the cache in
milliseconds); they hold no GIL while running (``nogil=True``) and are single-threaded:
frames run in parallel processes.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

from processes.kernels.numba_common import mirror
from processes.kernels.simd4 import add4, div4, eq4, ge4, gt4, load4, mul4, ne4, neg4, store4, sub4, where4

__all__ = ["METHOD_CODES", "interleaved_rgb", "method_parameters", "remap_points", "rgbx_source", "sampling_source",
           "warp_rows"]

NEAREST, BILINEAR, BICUBIC, BSPLINE, LANCZOS, CUBIC_FILTER = range(6)

METHOD_CODES: dict[str, int] = {
    "nearest": NEAREST,
    "bilinear": BILINEAR,
    "bicubic": BICUBIC,
    "bicubic_bspline": BSPLINE,
    "lanczos3": LANCZOS,
    "lanczos4": LANCZOS,
    "lanczos5": LANCZOS,
    "mitchell": CUBIC_FILTER,
    "catmull_rom": CUBIC_FILTER,
    "cubic_bspline": CUBIC_FILTER,
}
"""Kernel family of each method name of :data:`~processes.kernels.pixel_interpolation.METHODS`."""

_CUBIC_FILTERS: dict[str, tuple[float, float]] = {
    "mitchell": (1 / 3, 1 / 3),
    "catmull_rom": (0.0, 0.5),
    "cubic_bspline": (1.0, 0.0),
}


LUT_RESOLUTION = 4096
"""Samples per unit of the Lanczos weight tables (linear interpolation between them is
within 3·10⁻⁸ of the exact weights, below float32 resolution)."""

_NO_TABLE = np.zeros((2, 1))


def method_parameters(method: str) -> tuple[int, np.ndarray, float, float]:
    """(family code, Lanczos weight table, filter B, filter C) of an interpolation ``method`` name."""
    code = METHOD_CODES[method]
    table = lanczos_table(int(method[-1])) if code == LANCZOS else _NO_TABLE
    b, c = _CUBIC_FILTERS.get(method, (0.0, 0.0))
    return code, table, b, c


@functools.lru_cache(maxsize=8)
def lanczos_table(n: int) -> np.ndarray:
    """Lanczos-n weights (R + 1, 2n) of taps j = −n+1..n at the fractions f = i/R, i = 0..R (R = LUT_RESOLUTION).

    Row i holds L(j − i/R); the exact values of
    :func:`processes.kernels.pixel_interpolation._lanczos_taps` (read-only array).
    """
    from processes.kernels.pixel_interpolation import _lanczos_taps

    table = np.ascontiguousarray(_lanczos_taps(np.arange(LUT_RESOLUTION + 1) / LUT_RESOLUTION, n))
    table.setflags(write=False)
    return table


# -- 1-D tap weights --------------------------------------------------------------------
@numba.njit(cache=True, nogil=True, inline="always")
def _cubic_filter(t: float, b: float, c: float) -> float:
    a = abs(t)
    if a < 1.0:
        return ((12 - 9 * b - 6 * c) * a**3 + (-18 + 12 * b + 6 * c) * a**2 + (6 - 2 * b)) / 6
    if a < 2.0:
        return ((-b - 6 * c) * a**3 + (6 * b + 30 * c) * a**2 + (-12 * b - 48 * c) * a + (8 * b + 24 * c)) / 6
    return 0.0


@numba.njit(cache=True, nogil=True, inline="always")
def _bspline(t: float) -> float:
    a = abs(t)
    if a < 1.0:
        return 2.0 / 3.0 - a * a + 0.5 * a**3
    if a < 2.0:
        return (2.0 - a) ** 3 / 6.0
    return 0.0


@numba.njit(cache=True, nogil=True, inline="always")
def _axis_weights(x: float, code: int, radius: int, fb: float, fc: float, w: np.ndarray) -> int:
    """Fill ``w`` with the taps' weights along one axis at coordinate ``x``; returns the first tap index.

    For the bilinear, bicubic (Keys), bicubic B-spline and cubic filter families (Lanczos
    weights come from :func:`_lanczos_weights`).
    """
    if code == CUBIC_FILTER:
        base = math.floor(x + 0.5)
        d = x - base
        scale = 2.0 / (radius + 0.5)
        total = 0.0
        for k in range(2 * radius + 1):
            v = _cubic_filter(scale * ((k - radius) - d), fb, fc)
            w[k] = v
            total += v
        for k in range(2 * radius + 1):
            w[k] /= total
        return int(base) - radius
    base = math.floor(x)
    f = x - base
    ib = int(base)
    if code == BILINEAR:
        w[0] = 1.0 - f
        w[1] = f
        return ib
    if code == BICUBIC:
        f2 = f * f
        f3 = f2 * f
        w[0] = -0.5 * f3 + f2 - 0.5 * f
        w[1] = 1.5 * f3 - 2.5 * f2 + 1.0
        w[2] = -1.5 * f3 + 2.0 * f2 + 0.5 * f
        w[3] = 0.5 * f3 - 0.5 * f2
        return ib - 1
    for k in range(4):  # BSPLINE
        w[k] = _bspline((k - 1) - f)
    return ib - 1


@numba.njit(cache=True, nogil=True, inline="always")
def _keys_clamp(f12: float, f03: float, inner_w: float, clamping: float, clamped: bool) -> float:
    if not clamped:
        return f12 + f03
    if -f03 < f12 * clamping:
        return f12 + f03
    return f12 / inner_w


_CLAMP_MARGIN = 1.0 - 1e-9
"""``sn ≤ sp·clamping·(1 − 10⁻⁹)`` proves the rounded ratio ``sn/sp`` ≤ ``clamping`` (rounding errors are ~10⁻¹⁶)."""


@numba.njit(cache=True, nogil=True, inline="always")
def _below_clamping(sp: float, sn: float, clamping: float) -> bool:
    """Whether ``sn/sp``, rounded, is certainly at most ``clamping`` (< 1 then), told without dividing.

    True only for ``sp ≥ 10⁻²⁰⁰`` and ``sn ≤ sp·clamping·(1 − 10⁻⁹)`` (a clamping below 10⁻¹⁰⁰
    counts as 0), products far from underflow whose rounding cannot cross ``clamping``; False
    (undecided) otherwise, and for NaN.
    """
    bound = clamping * _CLAMP_MARGIN if clamping >= 1e-100 else 0.0
    return sp >= 1e-200 and sn <= sp * bound


@numba.njit(cache=True, nogil=True, inline="always")
def _lanczos_combine(sp: float, sn: float, wp: float, wn: float, clamping: float, clamped: bool) -> float:
    if not clamped:
        total = wp - wn
        return (sp - sn) / total if total != 0.0 else 0.0
    if _below_clamping(sp, sn, clamping):  # the usual case: no clamping, one division instead of two
        total = wp - wn
        return (sp - sn) / total if total != 0.0 else 0.0
    if sp == 0.0:
        return 0.0
    r = sn / sp
    if r >= 1.0:
        return sp / wp if wp != 0.0 else 0.0
    factor = 1.0
    if clamping < 1.0 and r > clamping:
        rr = (r - clamping) / (1.0 - clamping)
        factor = 1.0 - rr * rr
    sn_c = sn * factor
    denom = wp - wn * factor
    return (sp - sn_c) / denom if denom != 0.0 else 0.0


@numba.njit(cache=True, nogil=True, inline="always")
def _lanczos_combine4(sp, sn, wp: float, wn: float, clamping: float, clamped: bool):
    """:func:`_lanczos_combine` of four values with the same lobe weights at once (4-vectors ``sp``,
    ``sn``), bit for bit: every lane's quotients are formed and its case selected (the shortcut of
    :func:`_below_clamping` gives the general formula's values, with its factor 1), so that the
    divisions are vector ones; ``sp / wp`` only where some lane's ratio reaches 1 (rare)."""
    if not clamped:
        total = wp - wn
        if total != 0.0:
            return div4(sub4(sp, sn), total)
        return (0.0, 0.0, 0.0, 0.0)
    zero = (0.0, 0.0, 0.0, 0.0)
    r = div4(sn, sp)
    factor = (1.0, 1.0, 1.0, 1.0)
    if clamping < 1.0:
        rr = div4(sub4(r, clamping), 1.0 - clamping)
        factor = where4(gt4(r, clamping), sub4(1.0, mul4(rr, rr)), factor)
    denom = sub4(wp, mul4(wn, factor))
    value = where4(ne4(denom, 0.0), div4(sub4(sp, mul4(sn, factor)), denom), zero)
    big = ge4(r, 1.0)
    if big[0] or big[1] or big[2] or big[3]:  # rare: the negative lobes outweigh the positive ones
        value = where4(big, div4(sp, wp) if wp != 0.0 else zero, value)
    return where4(eq4(sp, 0.0), zero, value)


# -- one line of points, all channels, one kernel family per function ------------------
@numba.njit(cache=True, nogil=True, inline="always")
def _taps(x0: int, count: int, size: int, index: np.ndarray) -> None:
    """Tap indices x0..x0+count−1, mirrored at the edges."""
    if x0 >= 0 and x0 + count <= size:
        for k in range(count):
            index[k] = x0 + k
    else:
        for k in range(count):
            index[k] = mirror(x0 + k, size)


@numba.njit(cache=True, nogil=True, inline="always")
def _inside(x: float, y: float, width: int, height: int) -> bool:
    return x >= -0.5 and x <= width - 0.5 and y >= -0.5 and y <= height - 0.5


@numba.njit(cache=True, nogil=True, inline="always")
def _interior(x0: int, y0: int, width: int, height: int) -> bool:
    """Whether the 6×6 taps from (x0, y0) lie inside a ``width`` × ``height`` source (no mirrored tap)."""
    return x0 >= 0 and x0 + 6 <= width and y0 >= 0 and y0 + 6 <= height


@numba.njit(cache=True, nogil=True, inline="always")
def _filled_outside(x: float, y: float, width: int, height: int, fill: float, out: np.ndarray, p: int) -> bool:
    """Whether (x, y) is outside the source; if so, every channel of point ``p`` gets ``fill``."""
    if _inside(x, y, width, height):
        return False
    for c in range(out.shape[0]):
        out[c, p] = fill
    return True


@numba.njit(cache=True, nogil=True)
def _line_nearest(planes, xs, ys, fill, out):
    channels, height, width = planes.shape
    for p in range(xs.size):
        x = xs[p]
        y = ys[p]
        if _filled_outside(x, y, width, height, fill, out, p):
            continue
        ix = mirror(int(math.floor(x + 0.5)), width)
        iy = mirror(int(math.floor(y + 0.5)), height)
        for c in range(channels):
            out[c, p] = planes[c, iy, ix]


@numba.njit(cache=True, nogil=True, inline="always")
def _lanczos_weights(x: float, table: np.ndarray, w: np.ndarray) -> int:
    """Lanczos-n weights L(j − f) of the taps j = −n+1..n at x = base + f, from ``table``
    (:func:`lanczos_table`) by linear interpolation in f; returns the first tap index."""
    base = math.floor(x)
    u = (x - base) * LUT_RESOLUTION
    i = int(u)
    if i >= LUT_RESOLUTION:  # x − floor(x) rounds up to 1 for x just below an integer
        i = LUT_RESOLUTION - 1
    t = u - i
    n2 = table.shape[1]
    for k in range(n2):
        lo = table[i, k]
        w[k] = lo + t * (table[i + 1, k] - lo)
    return int(base) - n2 // 2 + 1


@numba.njit(cache=True, nogil=True, inline="always")
def _lanczos3_weights(x: float, flat: np.ndarray) -> tuple[int, float, float, float, float, float, float]:
    """:func:`_lanczos_weights` for Lanczos-3: (first tap index, the six weights), kept in registers.

    ``flat`` is the weight table flattened (rows of six values).  The same interpolation
    ``lo + t·(hi − lo)`` of two rows, as two 4-lane vector operations (taps 0–3 and 2–5,
    overlapping) instead of six scalar ones.
    """
    base = np.floor(x)
    u = (x - base) * LUT_RESOLUTION
    i = min(int(u), LUT_RESOLUTION - 1)  # x − floor(x) rounds up to 1 for x just below an integer
    t = u - i
    lo_a = load4(flat, 6 * i)
    lo_b = load4(flat, 6 * i + 2)
    a = add4(lo_a, mul4(sub4(load4(flat, 6 * i + 6), lo_a), t))
    b = add4(lo_b, mul4(sub4(load4(flat, 6 * i + 8), lo_b), t))
    return int(base) - 2, a[0], a[1], a[2], a[3], b[2], b[3]


def interleaved_rgb(code: int, table: np.ndarray, channels: int, whole_planes: bool = False) -> bool:
    """Whether the kernels sample an :func:`rgbx_source` (Lanczos-3 of one to three channels) rather than planes.

    One or two channels take the three-channel sampler too when a warp interleaves band by band
    (:func:`warp_rows`), their lanes 1 and 2 repeating the last channel: its vector operations do a
    grey frame's 36 taps in less than half the time of the general loop's scalar ones, with the same
    values (mono cameras' frames: most registrations).  ``whole_planes`` (:func:`remap_points`, which
    interleaves the whole image): three channels only, whose copy is 4/3 of their float64 planes (one
    channel's would take 4 times its plane's memory)."""
    return code == LANCZOS and table.shape[1] == 6 and (channels == 3 if whole_planes else 1 <= channels <= 3)


def rgbx_source(planes: np.ndarray) -> np.ndarray:
    """One to three planes (C, H, W) as the float64 pixels (H, W, 4) that :func:`_line_lanczos3_rgb` samples:
    R, G, B and a zero, each pixel's channels one 32-byte vector (fewer channels: the last one repeated)."""
    source = np.empty((planes.shape[1], planes.shape[2], 4))
    _interleave(planes, 0, 0, source)
    return source


@numba.njit(cache=True, nogil=True)
def _interleave(planes, y_first, x_first, source):
    """``source[y, x] = (planes[0], planes[1], planes[2], 0)`` at ``(y_first + y, x_first + x)``, in float64
    (one or two planes: the last one in the lanes of the missing ones)."""
    rows, columns = source.shape[:2]
    last = planes.shape[0] - 1
    for y in range(rows):
        r = planes[0, y_first + y, x_first : x_first + columns]
        g = planes[min(1, last), y_first + y, x_first : x_first + columns]
        b = planes[min(2, last), y_first + y, x_first : x_first + columns]
        o = source[y]
        for x in range(columns):
            o[x, 0] = r[x]
            o[x, 1] = g[x]
            o[x, 2] = b[x]
            o[x, 3] = 0.0


@numba.njit(cache=True, nogil=True)
def _tap_window(tx, ty, height, width):
    """(first row, last row, first column, last column) of the source pixels the Lanczos-3 taps of the
    points ``(tx, ty)`` inside the source read, mirrored taps included (six pixels of margin)."""
    y_lo = x_lo = 1 << 62
    y_hi = x_hi = -(1 << 62)
    for i in range(tx.shape[0]):
        for j in range(tx.shape[1]):
            x = tx[i, j]
            y = ty[i, j]
            if _inside(x, y, width, height):
                fx = int(np.floor(x))
                fy = int(np.floor(y))
                x_lo, x_hi = min(x_lo, fx), max(x_hi, fx)
                y_lo, y_hi = min(y_lo, fy), max(y_hi, fy)
    if y_hi < y_lo:  # no point inside: one pixel, never read
        return 0, 0, 0, 0
    return max(0, y_lo - 6), min(height - 1, y_hi + 6), max(0, x_lo - 6), min(width - 1, x_hi + 6)


@numba.njit(cache=True, nogil=True, inline="always")
def _rgb_taps(flat, r, o0, o1, o2, o3, o4, o5, w0, w1, w2, w3, w4, w5):  # pragma: no cover - compiled
    # one source row's taps (row offset ``r``, pixel offsets ``o0..o5``): the positive lobes' sum
    # ((p₀ + p₂) + p₃) + p₅ and the negative ones' n₁ + n₄, three channels a vector
    pos = add4(add4(add4(mul4(load4(flat, r + o0), w0), mul4(load4(flat, r + o2), w2)),
                    mul4(load4(flat, r + o3), w3)), mul4(load4(flat, r + o5), w5))
    neg = add4(mul4(load4(flat, r + o1), w1), mul4(load4(flat, r + o4), w4))
    return pos, neg


@numba.njit(cache=True, nogil=True, inline="always")
def _rgb_sums(flat, r0, r1, r2, r3, r4, r5, o0, o1, o2, o3, o4, o5, w0, w1, w2, w3, w4, w5,
              v0, v1, v2, v3, v4, v5):  # pragma: no cover - compiled
    # (positive, negative) sums of the 6×6 taps: rows ``r0..r5`` weighted ``v0..v5`` (rows 1 and 4
    # the negative lobes, which swap the parts), added from row 0 on to a zero start
    zero = (0.0, 0.0, 0.0, 0.0)
    pos, neg = _rgb_taps(flat, r0, o0, o1, o2, o3, o4, o5, w0, w1, w2, w3, w4, w5)
    sp = add4(zero, mul4(pos, v0))
    sn = add4(zero, mul4(neg, v0))
    pos, neg = _rgb_taps(flat, r1, o0, o1, o2, o3, o4, o5, w0, w1, w2, w3, w4, w5)
    sp = add4(sp, mul4(neg, v1))
    sn = add4(sn, mul4(pos, v1))
    pos, neg = _rgb_taps(flat, r2, o0, o1, o2, o3, o4, o5, w0, w1, w2, w3, w4, w5)
    sp = add4(sp, mul4(pos, v2))
    sn = add4(sn, mul4(neg, v2))
    pos, neg = _rgb_taps(flat, r3, o0, o1, o2, o3, o4, o5, w0, w1, w2, w3, w4, w5)
    sp = add4(sp, mul4(pos, v3))
    sn = add4(sn, mul4(neg, v3))
    pos, neg = _rgb_taps(flat, r4, o0, o1, o2, o3, o4, o5, w0, w1, w2, w3, w4, w5)
    sp = add4(sp, mul4(neg, v4))
    sn = add4(sn, mul4(pos, v4))
    pos, neg = _rgb_taps(flat, r5, o0, o1, o2, o3, o4, o5, w0, w1, w2, w3, w4, w5)
    sp = add4(sp, mul4(pos, v5))
    sn = add4(sn, mul4(neg, v5))
    return sp, sn


@numba.njit(cache=True, nogil=True, inline="always")
def _interior_sums(flat, o, r, row_step, w0, w1, w2, w3, w4, w5, v0, v1, v2, v3, v4, v5):  # pragma: no cover
    # :func:`_rgb_sums` of a point whose 6×6 taps are consecutive: from pixel offset ``o`` of row offset ``r``
    return _rgb_sums(flat, r, r + row_step, r + 2 * row_step, r + 3 * row_step, r + 4 * row_step, r + 5 * row_step,
                     o, o + 4, o + 8, o + 12, o + 16, o + 20, w0, w1, w2, w3, w4, w5, v0, v1, v2, v3, v4, v5)


@numba.njit(cache=True, nogil=True, inline="always")
def _lobes(w0, w1, w2, w3, w4, w5, v0, v1, v2, v3, v4, v5):  # pragma: no cover - compiled
    # (positive, negative) lobe weights of the 6×6 taps: the products of the axes' positive and negative parts
    spx = w0 + w2 + w3 + w5
    snx = w1 + w4
    spy = v0 + v2 + v3 + v5
    sny = v1 + v4
    return spy * spx + sny * snx, -(spy * snx + sny * spx)


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def _line_lanczos3_rgb(source, y_first, x_first, height, width, xs, ys, table, clamping, clamped, fill, out):
    """:func:`_line_lanczos` for Lanczos-3 and one to three channels (registration) on
    interleaved pixels (:func:`rgbx_source`): ``source`` holds the pixels from row ``y_first`` and
    column ``x_first`` on of a ``height`` × ``width`` frame, every pixel the taps of the points read.
    The three channels of a tap are one 4-lane vector operation (:mod:`~processes.kernels.simd4`),
    the lobe of each tap is a constant (taps 1 and 4 negative), and every lane forms its sums in
    the order of the general loop, with fused multiply-adds (``fastmath={"contract"}``: LLVM fuses
    the vector products and sums, one rounding fewer each), so that the float32 values are those of the
    general loop (at most one unit apart where the float64 sums fall at a float32 rounding tie) in
    less than half its time.  The taps of a point inside the frame by three pixels are consecutive
    (offsets in registers), and two such points in a row are summed in one step (their chains of
    additions independent: ~10 % faster); those of a point nearer the edges are mirrored (:func:`_taps`).  The
    line's sums are kept (``sums``: per point the positive, then the negative parts) and combined
    in a second loop (:func:`_lanczos_combine4`, vector divisions), whose iterations are short and
    independent: the divisions of one point no longer wait on its sums."""
    flat = source.reshape(-1)
    weights = table.reshape(-1)
    row_step = 4 * source.shape[1]
    channels = out.shape[0]  # 1 to 3: the lanes written
    ix = np.empty(6, np.int64)
    iy = np.empty(6, np.int64)
    sums = np.empty(8 * xs.size)
    lobes = np.empty((2, xs.size))
    inside = np.empty(xs.size, np.bool_)
    p = 0
    while p < xs.size:
        inside[p] = _inside(xs[p], ys[p], width, height)
        if not inside[p]:
            p += 1
            continue
        x0, w0, w1, w2, w3, w4, w5 = _lanczos3_weights(xs[p], weights)
        y0, v0, v1, v2, v3, v4, v5 = _lanczos3_weights(ys[p], weights)
        lobes[0, p], lobes[1, p] = _lobes(w0, w1, w2, w3, w4, w5, v0, v1, v2, v3, v4, v5)
        q = p + 1
        if q < xs.size and _interior(x0, y0, width, height) and _inside(xs[q], ys[q], width, height):
            # two points at once where both read consecutive taps: their sums are independent chains in one
            # basic block, which the core overlaps (one point alone waits on its own additions)
            xq0, u0, u1, u2, u3, u4, u5 = _lanczos3_weights(xs[q], weights)
            yq0, t0, t1, t2, t3, t4, t5 = _lanczos3_weights(ys[q], weights)
            if _interior(xq0, yq0, width, height):
                inside[q] = True
                lobes[0, q], lobes[1, q] = _lobes(u0, u1, u2, u3, u4, u5, t0, t1, t2, t3, t4, t5)
                sp, sn = _interior_sums(flat, 4 * (x0 - x_first), (y0 - y_first) * row_step, row_step,
                                        w0, w1, w2, w3, w4, w5, v0, v1, v2, v3, v4, v5)
                spq, snq = _interior_sums(flat, 4 * (xq0 - x_first), (yq0 - y_first) * row_step, row_step,
                                          u0, u1, u2, u3, u4, u5, t0, t1, t2, t3, t4, t5)
                store4(sums, 8 * p, sp)
                store4(sums, 8 * p + 4, neg4(sn))
                store4(sums, 8 * q, spq)
                store4(sums, 8 * q + 4, neg4(snq))
                p += 2
                continue
        if _interior(x0, y0, width, height):  # consecutive taps
            sp, sn = _interior_sums(flat, 4 * (x0 - x_first), (y0 - y_first) * row_step, row_step,
                                    w0, w1, w2, w3, w4, w5, v0, v1, v2, v3, v4, v5)
        else:
            _taps(x0, 6, width, ix)
            _taps(y0, 6, height, iy)
            for k in range(6):
                ix[k] = 4 * (ix[k] - x_first)
                iy[k] = (iy[k] - y_first) * row_step
            sp, sn = _rgb_sums(flat, iy[0], iy[1], iy[2], iy[3], iy[4], iy[5], ix[0], ix[1], ix[2], ix[3], ix[4],
                               ix[5], w0, w1, w2, w3, w4, w5, v0, v1, v2, v3, v4, v5)
        store4(sums, 8 * p, sp)
        store4(sums, 8 * p + 4, neg4(sn))
        p += 1
    for p in range(xs.size):
        if inside[p]:
            value = _lanczos_combine4(load4(sums, 8 * p), load4(sums, 8 * p + 4), lobes[0, p], lobes[1, p],
                                      clamping, clamped)
            out[0, p] = value[0]
            if channels > 1:
                out[1, p] = value[1]
            if channels > 2:
                out[2, p] = value[2]
        else:
            for c in range(channels):
                out[c, p] = fill


@numba.njit(cache=True, nogil=True)
def _line_lanczos(planes, xs, ys, table, clamping, clamped, fill, out):
    """Clamped Lanczos-n.  The weight L(j − f) is ≥ 0 for the taps m = j (j ≥ 1) or 1 − j (j ≤ 0)
    odd and ≤ 0 for m even (the lobes of the sinc), so the split of PixInsight's clamping into
    positive and negative parts is fixed by the tap (``positive[k]``, computed once).  Three
    channels (RGB) are accumulated together, which keeps six independent sums in flight."""
    channels, height, width = planes.shape
    n2 = table.shape[1]
    order = n2 // 2
    positive = np.empty(n2, np.bool_)
    for k in range(n2):
        j = k - order + 1
        m = j if j >= 1 else 1 - j
        positive[k] = (m & 1) == 1
    wx = np.empty(n2)
    wy = np.empty(n2)
    px = np.empty(n2)
    nx = np.empty(n2)
    ix = np.empty(n2, np.uint64)  # unsigned: no negative-index wraparound in the loads
    iy = np.empty(n2, np.uint64)
    three = channels == 3
    for p in range(xs.size):
        x = xs[p]
        y = ys[p]
        if _filled_outside(x, y, width, height, fill, out, p):
            continue
        x0 = _lanczos_weights(x, table, wx)
        y0 = _lanczos_weights(y, table, wy)
        _taps(x0, n2, width, ix)
        _taps(y0, n2, height, iy)
        spx = 0.0
        snx = 0.0
        spy = 0.0
        sny = 0.0
        for k in range(n2):
            if positive[k]:
                px[k] = wx[k]
                nx[k] = 0.0
                spx += wx[k]
                spy += wy[k]
            else:
                px[k] = 0.0
                nx[k] = wx[k]
                snx += wx[k]
                sny += wy[k]
        wp = spy * spx + sny * snx
        wn = -(spy * snx + sny * spx)
        if three:
            sp0 = sp1 = sp2 = 0.0
            sn0 = sn1 = sn2 = 0.0
            for a in range(n2):
                r = iy[a]
                p0 = p1 = p2 = 0.0
                q0 = q1 = q2 = 0.0
                for k in range(n2):
                    xk = ix[k]
                    wk = wx[k]
                    v0 = planes[0, r, xk] * wk
                    v1 = planes[1, r, xk] * wk
                    v2 = planes[2, r, xk] * wk
                    if positive[k]:
                        p0 += v0
                        p1 += v1
                        p2 += v2
                    else:
                        q0 += v0
                        q1 += v1
                        q2 += v2
                w = wy[a]
                if positive[a]:
                    sp0 += w * p0
                    sp1 += w * p1
                    sp2 += w * p2
                    sn0 += w * q0
                    sn1 += w * q1
                    sn2 += w * q2
                else:
                    sp0 += w * q0
                    sp1 += w * q1
                    sp2 += w * q2
                    sn0 += w * p0
                    sn1 += w * p1
                    sn2 += w * p2
            out[0, p] = _lanczos_combine(sp0, -sn0, wp, wn, clamping, clamped)
            out[1, p] = _lanczos_combine(sp1, -sn1, wp, wn, clamping, clamped)
            out[2, p] = _lanczos_combine(sp2, -sn2, wp, wn, clamping, clamped)
            continue
        for c in range(channels):
            sp = 0.0
            sneg = 0.0
            for a in range(n2):
                row = planes[c, iy[a]]
                pos = 0.0
                neg = 0.0
                for k in range(n2):
                    v = row[ix[k]]
                    pos += v * px[k]
                    neg += v * nx[k]
                w = wy[a]
                if positive[a]:
                    sp += w * pos
                    sneg += w * neg
                else:
                    sp += w * neg
                    sneg += w * pos
            out[c, p] = _lanczos_combine(sp, -sneg, wp, wn, clamping, clamped)


@numba.njit(cache=True, nogil=True, inline="always")
def _keys_row(r, ix, wx0: float, wx1: float, wx2: float, wx3: float, inner_x: float, clamping: float,
              clamped: bool) -> float:
    """The clamped Keys cubic along one source row ``r`` at the taps ``ix``."""
    return _keys_clamp(r[ix[1]] * wx1 + r[ix[2]] * wx2, r[ix[0]] * wx0 + r[ix[3]] * wx3, inner_x, clamping, clamped)


@numba.njit(cache=True, nogil=True)
def _line_bicubic(planes, xs, ys, clamping, clamped, fill, out):
    channels, height, width = planes.shape
    wx = np.empty(4)
    wy = np.empty(4)
    ix = np.empty(4, np.uint64)
    iy = np.empty(4, np.uint64)
    for p in range(xs.size):
        x = xs[p]
        y = ys[p]
        if _filled_outside(x, y, width, height, fill, out, p):
            continue
        x0 = _axis_weights(x, BICUBIC, 0, 0.0, 0.0, wx)
        y0 = _axis_weights(y, BICUBIC, 0, 0.0, 0.0, wy)
        _taps(x0, 4, width, ix)
        _taps(y0, 4, height, iy)
        wx0, wx1, wx2, wx3 = wx[0], wx[1], wx[2], wx[3]
        inner_x = wx1 + wx2
        inner_y = wy[1] + wy[2]
        for c in range(channels):
            r0 = _keys_row(planes[c, iy[0]], ix, wx0, wx1, wx2, wx3, inner_x, clamping, clamped)
            r1 = _keys_row(planes[c, iy[1]], ix, wx0, wx1, wx2, wx3, inner_x, clamping, clamped)
            r2 = _keys_row(planes[c, iy[2]], ix, wx0, wx1, wx2, wx3, inner_x, clamping, clamped)
            r3 = _keys_row(planes[c, iy[3]], ix, wx0, wx1, wx2, wx3, inner_x, clamping, clamped)
            out[c, p] = _keys_clamp(r1 * wy[1] + r2 * wy[2], r0 * wy[0] + r3 * wy[3], inner_y, clamping, clamped)


@numba.njit(cache=True, nogil=True)
def _line_separable(planes, xs, ys, code, rx, ry, fb, fc, fill, out):
    """Bilinear, bicubic B-spline and the cubic filters: Σ_rows wy·Σ_cols wx·v."""
    channels, height, width = planes.shape
    if code == BILINEAR:
        kx = 2
        ky = 2
    elif code == BSPLINE:
        kx = 4
        ky = 4
    else:
        kx = 2 * rx + 1
        ky = 2 * ry + 1
    wx = np.empty(kx)
    wy = np.empty(ky)
    ix = np.empty(kx, np.uint64)
    iy = np.empty(ky, np.uint64)
    for p in range(xs.size):
        x = xs[p]
        y = ys[p]
        if _filled_outside(x, y, width, height, fill, out, p):
            continue
        x0 = _axis_weights(x, code, rx, fb, fc, wx)
        y0 = _axis_weights(y, code, ry, fb, fc, wy)
        _taps(x0, kx, width, ix)
        _taps(y0, ky, height, iy)
        for c in range(channels):
            total = 0.0
            for a in range(ky):
                row = planes[c, iy[a]]
                s = 0.0
                for k in range(kx):
                    s += row[ix[k]] * wx[k]
                total += wy[a] * s
            out[c, p] = total


def remap_points(planes, xs, ys, code, table, rx, ry, fb, fc, clamping, clamped, fill, out) -> None:
    """Sample ``planes`` (C, H, W) at the points ``(xs[p], ys[p])`` into ``out`` (C, P) float32.

    ``code``/``table``/``fb``/``fc`` from :func:`method_parameters`; ``rx``/``ry`` the cubic
    filters' radii; ``clamped`` whether ``clamping`` applies.  Points outside
    ``[−0.5, W−0.5] × [−0.5, H−0.5]`` (or NaN) get ``fill``.  Each kernel family is a
    separate compiled function, compiled (or loaded from the cache) when first used.
    """
    if code == NEAREST:
        _line_nearest(planes, xs, ys, fill, out)
    elif interleaved_rgb(code, table, planes.shape[0], whole_planes=True):
        _line_lanczos3_rgb(rgbx_source(planes), 0, 0, planes.shape[1], planes.shape[2], xs, ys, table, clamping,
                           clamped, fill, out)
    elif code == LANCZOS:
        _line_lanczos(planes, xs, ys, table, clamping, clamped, fill, out)
    elif code == BICUBIC:
        _line_bicubic(planes, xs, ys, clamping, clamped, fill, out)
    else:
        _line_separable(planes, xs, ys, code, rx, ry, fb, fc, fill, out)


def sampling_source(planes: np.ndarray, code: int, table: np.ndarray) -> np.ndarray:
    """What :func:`warp_rows` samples for the C-contiguous ``planes`` (C, H, W): the planes
    themselves for Lanczos-3 of three channels (the driver interleaves each band's source
    pixels in float64), else the planes in float64.

    The kernels form their sums in float64 in any case; converting each float32 sample once
    (exactly) instead of at each tap that reads it (36 for Lanczos-3) takes about a quarter
    off a warp's time, for a transient copy of twice the planes' float32 size.
    """
    if interleaved_rgb(code, table, planes.shape[0]):
        return planes  # interleaved band by band (_warp_lanczos3_rgb)
    return np.ascontiguousarray(planes, dtype=np.float64)


def warp_rows(planes, h, row0, row1, code, table, rx, ry, fb, fc, clamping, clamped, out, mask, first=0) -> None:
    """Resample output rows ``row0 ≤ y < row1`` through the matrix ``h`` (output → source pixels).

    ``out`` (C, rows, W_out) float32 and ``mask`` (rows, W_out) bool hold the output rows
    from ``first`` on (``first`` 0: the whole output; ``row0``: a band's own buffers), and
    are written for rows ``row0..row1``: the interpolated values where ``h·(x, y, 1)`` falls
    inside the source (mask true), 0 elsewhere, including where the projective denominator
    is not positive or the mapping is not finite (as
    :func:`processes.staralignment.resample.warp` always did).  ``planes`` is the
    :func:`sampling_source` of the image; other arguments as :func:`remap_points`; one
    compiled driver per kernel family.
    """
    if code == NEAREST:
        _warp_nearest(planes, h, row0, row1, first, out, mask)
    elif interleaved_rgb(code, table, out.shape[0]):
        _warp_lanczos3_rgb(planes, h, row0, row1, first, table, clamping, clamped, out, mask)
    elif code == LANCZOS:
        _warp_lanczos(planes, h, row0, row1, first, table, clamping, clamped, out, mask)
    elif code == BICUBIC:
        _warp_bicubic(planes, h, row0, row1, first, clamping, clamped, out, mask)
    else:
        _warp_separable(planes, h, row0, row1, first, code, rx, ry, fb, fc, out, mask)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _row_coordinates(h, yo, height, width, tx, ty, mask):
    """Source coordinates (tx, ty) of output row ``yo`` through ``h`` and its coverage ``mask`` (that row's).

    Points where the projective denominator is not positive or the mapping is not finite
    get (−1e9, −1e9): outside.  Without branches (a zero denominator gives an infinity or a
    NaN, which is not finite), so that the loop vectorizes.
    """
    y = float(yo)
    for xo in range(tx.size):
        x = float(xo)
        d = h[2, 0] * x + h[2, 1] * y + h[2, 2]
        u = (h[0, 0] * x + h[0, 1] * y + h[0, 2]) / d
        v = (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / d
        ok = (d > 0.0) & math.isfinite(u) & math.isfinite(v)
        u = u if ok else -1e9
        v = v if ok else -1e9
        tx[xo] = u
        ty[xo] = v
        mask[xo] = (u >= -0.5) & (u <= width - 0.5) & (v >= -0.5) & (v <= height - 0.5)


@numba.njit(cache=True, nogil=True, inline="always")
def _row_buffers(out):
    """Source x and y (float64) of one output row of ``out`` (C, H_out, W_out); the line
    samplers write each row's values straight into its view ``out[:, yo]``."""
    return np.empty(out.shape[2]), np.empty(out.shape[2])


@numba.njit(cache=True, nogil=True)
def _warp_nearest(planes, h, row0, row1, first, out, mask):
    height, width = planes.shape[1:]
    tx, ty = _row_buffers(out)
    for yo in range(row0, row1):
        _row_coordinates(h, yo, height, width, tx, ty, mask[yo - first])
        _line_nearest(planes, tx, ty, 0.0, out[:, yo - first])


@numba.njit(cache=True, nogil=True)
def _warp_lanczos(planes, h, row0, row1, first, table, clamping, clamped, out, mask):
    height, width = planes.shape[1:]
    tx, ty = _row_buffers(out)
    for yo in range(row0, row1):
        _row_coordinates(h, yo, height, width, tx, ty, mask[yo - first])
        _line_lanczos(planes, tx, ty, table, clamping, clamped, 0.0, out[:, yo - first])


_WINDOW_ROWS = 64
"""Output rows whose source window :func:`_warp_lanczos3_rgb` interleaves at a time (a few MB)."""


@numba.njit(cache=True, nogil=True)
def _warp_lanczos3_rgb(planes, h, row0, row1, first, table, clamping, clamped, out, mask):
    """Each :data:`_WINDOW_ROWS` output rows: their coordinates first, then only the source pixels
    their taps read interleaved (:func:`_tap_window`: little more than those rows' worth for
    near-identity mappings, a few times it for steep rotations) into buffers small enough for
    the allocator to reuse, instead of the whole frame."""
    height, width = planes.shape[1:]
    tx = np.empty((_WINDOW_ROWS, out.shape[2]))
    ty = np.empty((_WINDOW_ROWS, out.shape[2]))
    for start in range(row0, row1, _WINDOW_ROWS):
        stop = min(row1, start + _WINDOW_ROWS)
        for yo in range(start, stop):
            _row_coordinates(h, yo, height, width, tx[yo - start], ty[yo - start], mask[yo - first])
        y_first, y_last, x_first, x_last = _tap_window(tx[: stop - start], ty[: stop - start], height, width)
        source = np.empty((y_last - y_first + 1, x_last - x_first + 1, 4))
        _interleave(planes, y_first, x_first, source)
        for yo in range(start, stop):
            _line_lanczos3_rgb(source, y_first, x_first, height, width, tx[yo - start], ty[yo - start], table,
                               clamping, clamped, 0.0, out[:, yo - first])


@numba.njit(cache=True, nogil=True)
def _warp_bicubic(planes, h, row0, row1, first, clamping, clamped, out, mask):
    height, width = planes.shape[1:]
    tx, ty = _row_buffers(out)
    for yo in range(row0, row1):
        _row_coordinates(h, yo, height, width, tx, ty, mask[yo - first])
        _line_bicubic(planes, tx, ty, clamping, clamped, 0.0, out[:, yo - first])


@numba.njit(cache=True, nogil=True)
def _warp_separable(planes, h, row0, row1, first, code, rx, ry, fb, fc, out, mask):
    height, width = planes.shape[1:]
    tx, ty = _row_buffers(out)
    for yo in range(row0, row1):
        _row_coordinates(h, yo, height, width, tx, ty, mask[yo - first])
        _line_separable(planes, tx, ty, code, rx, ry, fb, fc, 0.0, out[:, yo - first])
