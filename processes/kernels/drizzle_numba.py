"""Compiled (numba) drizzle: variable-pixel linear reconstruction (Fruchter & Hook 2002).

:func:`drizzle_add` adds one source frame to the output accumulators.  Each source pixel
``(x, y)`` is shrunk to a *drop* ``[x + d0, x + d1] × [y + d0, y + d1]`` (``d0 = (1 −
dropShrink)/2``, ``d1 = 1 − d0``; pixel ``(x, y)`` covers ``[x, x+1] × [y, y+1]``), its four
corners are mapped into the reference frame by ``G`` (the inverse of the alignment matrix,
source → reference, in coordinates whose origin is ``origin``: PCL's alignment origin), then
scaled by ``scale`` onto the output grid (shifted by the region of interest).  The mapped drop
is a convex quadrilateral (exact for an affine or projective ``G``); it is clipped against
every output pixel its bounding box touches (Sutherland–Hodgman against the pixel square)
and the exact overlap area ``a`` distributes the pixel's value::

    num[c, oy, ox] += a · w_c · v'      den[c, oy, ox] += a · w_c

with ``v' = (v − L_c)·S_c + L0_c`` (ImageIntegration's normalization from the drizzle data),
or ``v' = slope_c·v + offset_c`` from local normalization planes on the reference grid, taken
at the output pixel's reference pixel (as PCL), and ``w_c`` the image weight.

Other kernels (``kernel_mode``), as PCL's DrizzleIntegration: *circular*, ``a`` is the exact
area of the disc inscribed in the drop intersected with the output pixel mapped into the
source (``h``), times the drop's area ratio output/source; *grid* (Gaussian and variable
shape), the drop's ``n × n`` sub-samples of :func:`kernel_lut` are mapped one by one and each
adds its kernel weight (times the drop's output footprint) to the output pixel it falls in
(equivalent to PCL's point-in-polygon sum over the output pixel's preimage).

The output is ``num/den``: a surface brightness in the input's units per input pixel, so a
star's total flux is ``Σ out / scale²``.

As in PixInsight's DrizzleIntegration, a sample exactly 0 carries no data and is skipped,
and a channel is skipped for an output pixel whose reference pixel (the one holding the
output pixel's top-left corner) is marked in the rejection map.  With a CFA pattern (a 2×2
or larger square of ``R``, ``G``, ``B`` letters, row major) the source is one mosaiced
channel and each pixel adds only to the output channel of its filter colour.

Single-threaded and GIL-free (``nogil=True``); compiled once and cached on disk.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["KERNEL_CIRCULAR", "KERNEL_GRID", "KERNEL_SQUARE", "drizzle_add", "kernel_lut"]


@numba.njit(cache=True, nogil=True, inline="always")
def _map(g, x, y):  # pragma: no cover - compiled
    w = g[2, 0] * x + g[2, 1] * y + g[2, 2]
    return (g[0, 0] * x + g[0, 1] * y + g[0, 2]) / w, (g[1, 0] * x + g[1, 1] * y + g[1, 2]) / w


@numba.njit(cache=True, nogil=True)
def _clip_area(px, py, n, x0, y0, x1, y1, bx, by, cx, cy):  # pragma: no cover - compiled
    """Area of the convex polygon (px, py)[:n] clipped to [x0, x1] × [y0, y1] (buffers bx..cy)."""
    # four half-planes: x >= x0, x <= x1, y >= y0, y <= y1 ; ping-pong between buffers
    m = n
    for k in range(m):
        bx[k] = px[k]
        by[k] = py[k]
    for edge in range(4):
        if m == 0:
            return 0.0
        out = 0
        for k in range(m):
            ax = bx[k]
            ay = by[k]
            qx = bx[(k + 1) % m]
            qy = by[(k + 1) % m]
            if edge == 0:
                da = ax - x0
                dq = qx - x0
            elif edge == 1:
                da = x1 - ax
                dq = x1 - qx
            elif edge == 2:
                da = ay - y0
                dq = qy - y0
            else:
                da = y1 - ay
                dq = y1 - qy
            if da >= 0.0:
                cx[out] = ax
                cy[out] = ay
                out += 1
            if (da >= 0.0) != (dq >= 0.0):
                t = da / (da - dq)
                cx[out] = ax + t * (qx - ax)
                cy[out] = ay + t * (qy - ay)
                out += 1
        m = out
        for k in range(m):
            bx[k] = cx[k]
            by[k] = cy[k]
    if m < 3:
        return 0.0
    s = 0.0
    for k in range(m):
        j = (k + 1) % m
        s += bx[k] * by[j] - bx[j] * by[k]
    return abs(s) * 0.5


@numba.njit(cache=True, nogil=True, inline="always")
def _deposit(src, y, x, k_cfa, c_first, c_last, ox, oy, a, ref_x, ref_y, norm, weights, rejection, use_rejection,
             ln_slope, ln_offset, use_ln, num, den):  # pragma: no cover - compiled
    """Add source pixel (x, y) with weight ``a`` to output pixel (ox, oy), whose reference pixel is
    (ref_x, ref_y): rejection, then the normalization (``norm``: rows location, reference
    location, scale factor; or the local normalization planes), then the image weight."""
    for c in range(c_first, c_last):
        v = src[0, y, x] if k_cfa > 0 else src[c, y, x]
        if v == 0.0 or not np.isfinite(v):
            continue
        if use_rejection and 0 <= ref_y < rejection.shape[1] and 0 <= ref_x < rejection.shape[2] \
                and rejection[c, ref_y, ref_x] != 0:
            continue
        if use_ln:
            ly = min(max(ref_y, 0), ln_slope.shape[1] - 1)
            lx = min(max(ref_x, 0), ln_slope.shape[2] - 1)
            vn = ln_slope[c, ly, lx] * np.float64(v) + ln_offset[c, ly, lx]
        else:
            vn = (v - norm[0, c]) * norm[2, c] + norm[1, c]
        wa = a * weights[c]
        num[c, oy, ox] += wa * vn
        den[c, oy, ox] += wa


@numba.njit(cache=True, nogil=True, inline="always")
def _polygon_area(px, py, n):  # pragma: no cover - compiled
    s = 0.0
    for k in range(n):
        j = (k + 1) % n
        s += px[k] * py[j] - px[j] * py[k]
    return abs(s) * 0.5


@numba.njit(cache=True, nogil=True)
def _edge_disc_area(ax, ay, bx, by, r):  # pragma: no cover - compiled
    """Signed area of the triangle (0, a, b) intersected with the disc of radius r about 0."""
    dx = bx - ax
    dy = by - ay
    aa = dx * dx + dy * dy
    if aa == 0.0:
        return 0.0
    bb = ax * dx + ay * dy
    disc = bb * bb - aa * (ax * ax + ay * ay - r * r)
    ts = np.zeros(4)
    m = 1
    if disc > 0.0:
        sd = np.sqrt(disc)
        for t in ((-bb - sd) / aa, (-bb + sd) / aa):
            if 0.0 < t < 1.0:
                ts[m] = t
                m += 1
    ts[m] = 1.0
    total = 0.0
    for k in range(m):
        px = ax + ts[k] * dx
        py = ay + ts[k] * dy
        qx = ax + ts[k + 1] * dx
        qy = ay + ts[k + 1] * dy
        cross = px * qy - py * qx
        mx = 0.5 * (px + qx)
        my = 0.5 * (py + qy)
        if mx * mx + my * my <= r * r:
            total += 0.5 * cross
        else:
            total += 0.5 * r * r * np.arctan2(cross, px * qx + py * qy)
    return total


@numba.njit(cache=True, nogil=True)
def _quad_disc_area(qx, qy, cx, cy, r):  # pragma: no cover - compiled
    """Area of the convex quadrilateral (qx, qy) intersected with the disc (cx, cy, r)."""
    s = 0.0
    for k in range(4):
        j = (k + 1) % 4
        s += _edge_disc_area(qx[k] - cx, qy[k] - cy, qx[j] - cx, qy[j] - cy, r)
    return abs(s)


KERNEL_SQUARE = 0
"""``kernel_mode`` of :func:`drizzle_add`: exact area overlap of the square drop."""
KERNEL_CIRCULAR = 1
"""``kernel_mode``: exact area overlap of the disc inscribed in the drop."""
KERNEL_GRID = 2
"""``kernel_mode``: the drop's ``lut`` sub-samples, each weighted by the kernel function."""


def kernel_lut(shape: float, grid_size: int, drop_size: float) -> np.ndarray:
    """PCL's micro-drop table of a variable-shape kernel (Gaussian: ``shape`` 2): float64 (3, n²).

    Rows: x and y offsets of the ``n × n`` sub-sample centres from the drop's top-left corner
    (``(i + ½)·drop_size/n``) and the kernel value there, ``exp(−rᵏ/(k·σᵏ))`` with ``k`` =
    ``shape`` and ``σ`` such that the value is 0.025 at half the drop size from the centre
    (Gaussian: ``σ = drop_size/2/√(−2 ln 0.025)``), divided by ``n²`` (PCL's normalization:
    a flat kernel would sum to 1).
    """
    n = int(grid_size)
    eps = 0.025  # PCL's DRIZZLE_KERNEL_EPSILON
    sigma = drop_size / 2 / (-shape * np.log(eps)) ** (1 / shape)
    centres = (np.arange(n) + 0.5) * (drop_size / n)
    xs, ys = np.meshgrid(centres, centres, indexing="ij")
    r = np.hypot(xs - drop_size / 2, ys - drop_size / 2)
    z = np.exp(-(r**shape) / (shape * sigma**shape)) / (n * n)
    return np.stack([xs.ravel(), ys.ravel(), z.ravel()])


@numba.njit(cache=True, nogil=True)
def drizzle_add(src, g, h, origin_x, origin_y, scale, roi_x0, roi_y0, shrink, kernel_mode, lut, norm, weights,
                rejection, use_rejection, ln_slope, ln_offset, use_ln, cfa, num, den):  # pragma: no cover - compiled
    """Drizzle one frame into ``num``/``den`` (float64 ``(channels, H, W)``); return the total drop weight.

    ``src``: float32 ``(channels, h, w)`` (one mosaiced channel with ``cfa``); ``g``: 3×3
    source → reference, ``h`` its inverse; ``kernel_mode``: :data:`KERNEL_SQUARE`,
    :data:`KERNEL_CIRCULAR` or :data:`KERNEL_GRID` (with ``lut`` from :func:`kernel_lut`);
    ``norm``: float64 (3, channels) location, reference location and scale factor;
    ``weights``: per output channel; ``rejection``: uint8 ``(channels, ref h, ref w)`` used
    when ``use_rejection``; ``ln_slope``/``ln_offset``: float32 ``(channels, ref h, ref w)``
    local normalization used (instead of ``norm``) when ``use_ln``; ``cfa``: int64 ``(k, k)``
    output channel of each mosaic position, or an empty ``(0, 0)`` array.
    """
    channels, out_h, out_w = num.shape
    n_src, h_src, w_src = src.shape
    d0 = (1.0 - shrink) * 0.5
    if d0 < 1e-5:
        d0 = 1e-5
    d1 = 1.0 - d0
    side = d1 - d0
    k_cfa = cfa.shape[0]
    px = np.empty(4)
    py = np.empty(4)
    qx = np.empty(4)
    qy = np.empty(4)
    bx = np.empty(16)
    by = np.empty(16)
    cx = np.empty(16)
    cy = np.empty(16)
    corners_x = np.array([d0, d1, d1, d0])
    corners_y = np.array([d0, d0, d1, d1])
    unit_x = np.array([0.0, 1.0, 1.0, 0.0])
    unit_y = np.array([0.0, 0.0, 1.0, 1.0])
    total = 0.0
    for y in range(h_src):
        for x in range(w_src):
            qx0 = 1e300
            qy0 = 1e300
            qx1 = -1e300
            qy1 = -1e300
            for k in range(4):
                rx, ry = _map(g, x + corners_x[k] - origin_x, y + corners_y[k] - origin_y)
                ox = (rx + origin_x) * scale - roi_x0
                oy = (ry + origin_y) * scale - roi_y0
                px[k] = ox
                py[k] = oy
                qx0 = min(qx0, ox)
                qy0 = min(qy0, oy)
                qx1 = max(qx1, ox)
                qy1 = max(qy1, oy)
            if not (qx1 > 0.0 and qy1 > 0.0 and qx0 < out_w and qy0 < out_h):
                continue
            ix0 = max(0, int(np.floor(qx0)))
            iy0 = max(0, int(np.floor(qy0)))
            ix1 = min(out_w - 1, int(np.floor(qx1)))
            iy1 = min(out_h - 1, int(np.floor(qy1)))
            if k_cfa > 0:
                c_first = cfa[y % k_cfa, x % k_cfa]
                c_last = c_first + 1
            else:
                c_first = 0
                c_last = channels
            if kernel_mode == KERNEL_GRID:
                footprint = _polygon_area(px, py, 4)
                for k in range(lut.shape[1]):
                    rx, ry = _map(g, x + d0 + lut[0, k] - origin_x, y + d0 + lut[1, k] - origin_y)
                    fx = (rx + origin_x) * scale - roi_x0
                    fy = (ry + origin_y) * scale - roi_y0
                    if not (0.0 <= fx < out_w and 0.0 <= fy < out_h):
                        continue
                    ox = int(fx)
                    oy = int(fy)
                    a = lut[2, k] * footprint
                    total += a
                    _deposit(src, y, x, k_cfa, c_first, c_last, ox, oy, a,
                             int(np.floor((ox + roi_x0) / scale + 1e-6)), int(np.floor((oy + roi_y0) / scale + 1e-6)),
                             norm, weights, rejection, use_rejection, ln_slope, ln_offset, use_ln, num, den)
                continue
            jacobian = _polygon_area(px, py, 4) / (side * side) if kernel_mode == KERNEL_CIRCULAR else 0.0
            for oy in range(iy0, iy1 + 1):
                for ox in range(ix0, ix1 + 1):
                    if kernel_mode == KERNEL_CIRCULAR:
                        for k in range(4):
                            sx, sy = _map(h, (ox + unit_x[k] + roi_x0) / scale - origin_x,
                                          (oy + unit_y[k] + roi_y0) / scale - origin_y)
                            qx[k] = sx + origin_x
                            qy[k] = sy + origin_y
                        a = _quad_disc_area(qx, qy, x + 0.5, y + 0.5, 0.5 * side) * jacobian
                    else:
                        a = _clip_area(px, py, 4, float(ox), float(oy), ox + 1.0, oy + 1.0, bx, by, cx, cy)
                    if a <= 0.0:
                        continue
                    total += a
                    _deposit(src, y, x, k_cfa, c_first, c_last, ox, oy, a,
                             int(np.floor((ox + roi_x0) / scale + 1e-6)), int(np.floor((oy + roi_y0) / scale + 1e-6)),
                             norm, weights, rejection, use_rejection, ln_slope, ln_offset, use_ln, num, den)
    return total
