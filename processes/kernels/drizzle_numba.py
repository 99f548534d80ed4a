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

with ``v' = (v − L_c)·S_c + L0_c`` (ImageIntegration's normalization from the drizzle data)
and ``w_c`` the image weight.  The output is ``num/den``: a surface brightness in the
input's units per input pixel, so a star's total flux is ``Σ out / scale²``.

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

__all__ = ["drizzle_add"]


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


@numba.njit(cache=True, nogil=True)
def drizzle_add(src, g, origin_x, origin_y, scale, roi_x0, roi_y0, shrink, location, ref_location, scale_factors,
                weights, rejection, use_rejection, cfa, num, den):  # pragma: no cover - compiled
    """Drizzle one frame into ``num``/``den`` (float64 ``(channels, H, W)``); return the total drop area.

    ``src``: float32 ``(channels, h, w)`` (one mosaiced channel with ``cfa``); ``g``: 3×3
    source → reference; ``location``/``ref_location``/``scale_factors``/``weights``: per
    output channel; ``rejection``: uint8 ``(channels, ref h, ref w)`` used when
    ``use_rejection``; ``cfa``: int64 ``(k, k)`` output channel of each mosaic position, or
    an empty ``(0, 0)`` array.
    """
    channels, out_h, out_w = num.shape
    n_src, h, w = src.shape
    d0 = (1.0 - shrink) * 0.5
    if d0 < 1e-5:
        d0 = 1e-5
    d1 = 1.0 - d0
    k_cfa = cfa.shape[0]
    rej_h = rejection.shape[1]
    rej_w = rejection.shape[2]
    px = np.empty(4)
    py = np.empty(4)
    bx = np.empty(16)
    by = np.empty(16)
    cx = np.empty(16)
    cy = np.empty(16)
    corners_x = np.array([d0, d1, d1, d0])
    corners_y = np.array([d0, d0, d1, d1])
    total = 0.0
    for y in range(h):
        for x in range(w):
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
            for oy in range(iy0, iy1 + 1):
                for ox in range(ix0, ix1 + 1):
                    a = _clip_area(px, py, 4, float(ox), float(oy), ox + 1.0, oy + 1.0, bx, by, cx, cy)
                    if a <= 0.0:
                        continue
                    total += a
                    ry = int(np.floor((oy + roi_y0) / scale + 1e-6))
                    rx = int(np.floor((ox + roi_x0) / scale + 1e-6))
                    for c in range(c_first, c_last):
                        v = src[0, y, x] if k_cfa > 0 else src[c, y, x]
                        if v == 0.0 or not np.isfinite(v):
                            continue
                        if use_rejection and 0 <= ry < rej_h and 0 <= rx < rej_w and rejection[c, ry, rx] != 0:
                            continue
                        vn = (v - location[c]) * scale_factors[c] + ref_location[c]
                        wa = a * weights[c]
                        num[c, oy, ox] += wa * vn
                        den[c, oy, ox] += wa
    return total
