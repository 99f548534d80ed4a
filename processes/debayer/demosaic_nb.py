"""Compiled (numba) VNG demosaicing pass, imported only when VNG runs.

The gradients are written out term by term (the rules of :mod:`processes.debayer.demosaic`,
``_AXIAL_TERMS``, ``_DIAGONAL_TERMS`` and ``_DIAGONAL_TERMS_SAME`` rotated to the eight
directions N, NE, E, SE, S, SW, W, NW) over the 5×5 neighbourhood held in locals
``q<dy><dx>`` (``m`` minus, ``p`` plus).  Everything is float32 and performs the same
operations in the same order as the array formulation (gradients summed term by term from
0, threshold ``1.5·min + 0.5·(max − min)``, colour differences summed over the selected
directions in direction order, unselected ones adding +0), so the result is bit-identical
to it; the tests compare the two.

Bayer patterns (:func:`bayer_phase_kernels`) also have their estimate sources written out:
one kernel body (``_bayer_phase``) for both kinds of site, compiled twice with the kind a
constant (green sites; red/blue sites), so each copy keeps only its own diagonal gradients and
estimate sources; it runs on one CFA phase at a time over the four phase planes of the padded
frame, so every neighbour is a unit-stride load and the compiler vectorizes the loop.  Other
2×2 patterns (:func:`vng_kernel`) take their estimate sources as small arrays from
:func:`processes.debayer.demosaic.vng_tables` (about ten times slower, as the loads are not
known when compiling).  Both share the gradients (``_gradients``).

The written-out rules are those tables (the Bayer estimate sources of a green and a red/blue
site); the tests check the kernels against the array formulation for every pattern.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["bayer_phase_kernels", "interleave_phases", "vng_kernel"]


def bayer_phase_kernels():
    """(green-site kernel, red/blue-site kernel) of the Bayer VNG, one CFA phase per call:
    ``kernel(planes, py, px, lo, hi, out)`` with ``planes`` the four phase planes of the
    padded frame (4, H, W) and ``out`` the phase's two interpolated channels (2, h, w),
    clipped to [lo, hi].  The kernels store two planes only and use numpy's division
    semantics (no zero-division check): both keep the loop vectorizable."""
    return _bayer_green_phase, _bayer_red_blue_phase


@numba.njit(cache=True, nogil=True)
def interleave_phases(even, odd, even_slots, odd_slots, py, out):  # pragma: no cover - compiled
    """Rows ``py, py + 2, …`` of ``out`` (3, h, w) from the two CFA phases of those rows:
    ``out[c, py::2, 0::2] = even[even_slots[c]]`` and ``out[c, py::2, 1::2] = odd[odd_slots[c]]``
    (``even`` (3, ny, ⌈w/2⌉), ``odd`` (3, ny, ⌊w/2⌋)), each output row written in order."""
    ny = even.shape[1]
    n_odd = odd.shape[2]
    tail = even.shape[2] > n_odd
    for i in range(ny):
        y = py + 2 * i
        for c in range(3):
            a = even[even_slots[c], i]
            b = odd[odd_slots[c], i]
            row = out[c, y]
            for j in range(n_odd):
                row[2 * j] = a[j]
                row[2 * j + 1] = b[j]
            if tail:
                row[2 * n_odd] = a[n_odd]


@numba.njit(cache=True, nogil=True)
def vng_kernel(padded, centre, others, same_diagonal, n_sources, source_offsets, lo, hi, out):  # pragma: no cover
    """Demosaic ``padded`` (the raw frame with a 2-pixel phase-preserving border) into ``out``
    (3, h, w), clipping to [lo, hi]; per CFA phase: ``centre`` channel, ``others`` (2),
    ``same_diagonal`` (diagonal neighbours share the centre's colour), estimate sources."""
    height = out.shape[1]
    width = out.shape[2]
    for y in range(height):
        for px in range(2):
            phase = 2 * (y & 1) + px
            _vng_row(padded, y, px, same_diagonal[phase], centre[phase], others[phase, 0], others[phase, 1],
                     n_sources[phase], source_offsets[phase], lo, hi, out, width)


@numba.njit(cache=True, nogil=True)
def _vng_row(padded, y, px, same, c0, c1, c2, n_sources, source_offsets, lo, hi, out, width):  # pragma: no cover
    f0 = np.float32(0.0)
    f05 = np.float32(0.5)
    f15 = np.float32(1.5)
    yy = y + 2
    for x in range(px, width, 2):
        xx = x + 2
        qm2m2 = padded[yy - 2, xx - 2]
        qm2m1 = padded[yy - 2, xx - 1]
        qm2p0 = padded[yy - 2, xx + 0]
        qm2p1 = padded[yy - 2, xx + 1]
        qm2p2 = padded[yy - 2, xx + 2]
        qm1m2 = padded[yy - 1, xx - 2]
        qm1m1 = padded[yy - 1, xx - 1]
        qm1p0 = padded[yy - 1, xx + 0]
        qm1p1 = padded[yy - 1, xx + 1]
        qm1p2 = padded[yy - 1, xx + 2]
        qp0m2 = padded[yy + 0, xx - 2]
        qp0m1 = padded[yy + 0, xx - 1]
        qp0p0 = padded[yy + 0, xx + 0]
        qp0p1 = padded[yy + 0, xx + 1]
        qp0p2 = padded[yy + 0, xx + 2]
        qp1m2 = padded[yy + 1, xx - 2]
        qp1m1 = padded[yy + 1, xx - 1]
        qp1p0 = padded[yy + 1, xx + 0]
        qp1p1 = padded[yy + 1, xx + 1]
        qp1p2 = padded[yy + 1, xx + 2]
        qp2m2 = padded[yy + 2, xx - 2]
        qp2m1 = padded[yy + 2, xx - 1]
        qp2p0 = padded[yy + 2, xx + 0]
        qp2p1 = padded[yy + 2, xx + 1]
        qp2p2 = padded[yy + 2, xx + 2]
        g0, g1, g2, g3, g4, g5, g6, g7 = _gradients(same, qm2m2, qm2m1, qm2p0, qm2p1, qm2p2,
                                                    qm1m2, qm1m1, qm1p0, qm1p1, qm1p2,
                                                    qp0m2, qp0m1, qp0p0, qp0p1, qp0p2,
                                                    qp1m2, qp1m1, qp1p0, qp1p1, qp1p2,
                                                    qp2m2, qp2m1, qp2p0, qp2p1, qp2p2)
        gmin = min(min(min(g0, g1), min(g2, g3)), min(min(g4, g5), min(g6, g7)))
        gmax = max(max(max(g0, g1), max(g2, g3)), max(max(g4, g5), max(g6, g7)))
        threshold = f15 * gmin + f05 * (gmax - gmin)
        sum1 = f0
        sum2 = f0
        count = 0
        # every direction is evaluated and added under a select (no data-dependent branches);
        # an unselected direction adds +0, which leaves the sums unchanged
        count, sum1, sum2 = _direction(padded, yy, xx, g0 <= threshold, n_sources[0], source_offsets[0], count, sum1,
                                       sum2)
        count, sum1, sum2 = _direction(padded, yy, xx, g1 <= threshold, n_sources[1], source_offsets[1], count, sum1,
                                       sum2)
        count, sum1, sum2 = _direction(padded, yy, xx, g2 <= threshold, n_sources[2], source_offsets[2], count, sum1,
                                       sum2)
        count, sum1, sum2 = _direction(padded, yy, xx, g3 <= threshold, n_sources[3], source_offsets[3], count, sum1,
                                       sum2)
        count, sum1, sum2 = _direction(padded, yy, xx, g4 <= threshold, n_sources[4], source_offsets[4], count, sum1,
                                       sum2)
        count, sum1, sum2 = _direction(padded, yy, xx, g5 <= threshold, n_sources[5], source_offsets[5], count, sum1,
                                       sum2)
        count, sum1, sum2 = _direction(padded, yy, xx, g6 <= threshold, n_sources[6], source_offsets[6], count, sum1,
                                       sum2)
        count, sum1, sum2 = _direction(padded, yy, xx, g7 <= threshold, n_sources[7], source_offsets[7], count, sum1,
                                       sum2)
        fc = np.float32(count)
        out[c0, y, x] = min(max(qp0p0, lo), hi)
        out[c1, y, x] = min(max(qp0p0 + sum1 / fc, lo), hi)
        out[c2, y, x] = min(max(qp0p0 + sum2 / fc, lo), hi)


@numba.njit(cache=True, nogil=True, inline="always")
def _min8(a, b, c, d, e, f, g, h):  # pragma: no cover - compiled
    ab = a if a < b else b
    cd = c if c < d else d
    ef = e if e < f else f
    gh = g if g < h else h
    abcd = ab if ab < cd else cd
    efgh = ef if ef < gh else gh
    return abcd if abcd < efgh else efgh


@numba.njit(cache=True, nogil=True, inline="always")
def _max8(a, b, c, d, e, f, g, h):  # pragma: no cover - compiled
    ab = a if a > b else b
    cd = c if c > d else d
    ef = e if e > f else f
    gh = g if g > h else h
    abcd = ab if ab > cd else cd
    efgh = ef if ef > gh else gh
    return abcd if abcd > efgh else efgh


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _bayer_green_phase(planes, py, px, lo, hi, out):  # pragma: no cover - compiled
    """Green sites of a Bayer phase: out[0] the row neighbours' colour, out[1] the column ones'."""
    _bayer_phase(planes, py, px, lo, hi, out, True)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _bayer_red_blue_phase(planes, py, px, lo, hi, out):  # pragma: no cover - compiled
    """Red or blue sites of a Bayer phase: out[0] green, out[1] the diagonal colour."""
    _bayer_phase(planes, py, px, lo, hi, out, False)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _bayer_phase(planes, py, px, lo, hi, out, green):  # pragma: no cover - compiled
    # one body for both site kinds; ``green`` is a constant in each caller, so the compiler
    # keeps only its branch (the diagonal gradients and the estimate sources)
    f0 = np.float32(0.0)
    f05 = np.float32(0.5)
    f15 = np.float32(1.5)
    f2 = np.float32(2.0)
    f4 = np.float32(4.0)
    tym2 = 2 * ((py + 0) & 1)
    oym2 = (py + 0) >> 1
    tym1 = 2 * ((py + 1) & 1)
    oym1 = (py + 1) >> 1
    typ0 = 2 * ((py + 2) & 1)
    oyp0 = (py + 2) >> 1
    typ1 = 2 * ((py + 3) & 1)
    oyp1 = (py + 3) >> 1
    typ2 = 2 * ((py + 4) & 1)
    oyp2 = (py + 4) >> 1
    txm2 = (px + 0) & 1
    oxm2 = (px + 0) >> 1
    txm1 = (px + 1) & 1
    oxm1 = (px + 1) >> 1
    txp0 = (px + 2) & 1
    oxp0 = (px + 2) >> 1
    txp1 = (px + 3) & 1
    oxp1 = (px + 3) >> 1
    txp2 = (px + 4) & 1
    oxp2 = (px + 4) >> 1
    nx = out.shape[2]
    for y in range(out.shape[1]):
        wm2m2 = planes[tym2 + txm2, y + oym2, oxm2 : oxm2 + nx]
        wm2m1 = planes[tym2 + txm1, y + oym2, oxm1 : oxm1 + nx]
        wm2p0 = planes[tym2 + txp0, y + oym2, oxp0 : oxp0 + nx]
        wm2p1 = planes[tym2 + txp1, y + oym2, oxp1 : oxp1 + nx]
        wm2p2 = planes[tym2 + txp2, y + oym2, oxp2 : oxp2 + nx]
        wm1m2 = planes[tym1 + txm2, y + oym1, oxm2 : oxm2 + nx]
        wm1m1 = planes[tym1 + txm1, y + oym1, oxm1 : oxm1 + nx]
        wm1p0 = planes[tym1 + txp0, y + oym1, oxp0 : oxp0 + nx]
        wm1p1 = planes[tym1 + txp1, y + oym1, oxp1 : oxp1 + nx]
        wm1p2 = planes[tym1 + txp2, y + oym1, oxp2 : oxp2 + nx]
        wp0m2 = planes[typ0 + txm2, y + oyp0, oxm2 : oxm2 + nx]
        wp0m1 = planes[typ0 + txm1, y + oyp0, oxm1 : oxm1 + nx]
        wp0p0 = planes[typ0 + txp0, y + oyp0, oxp0 : oxp0 + nx]
        wp0p1 = planes[typ0 + txp1, y + oyp0, oxp1 : oxp1 + nx]
        wp0p2 = planes[typ0 + txp2, y + oyp0, oxp2 : oxp2 + nx]
        wp1m2 = planes[typ1 + txm2, y + oyp1, oxm2 : oxm2 + nx]
        wp1m1 = planes[typ1 + txm1, y + oyp1, oxm1 : oxm1 + nx]
        wp1p0 = planes[typ1 + txp0, y + oyp1, oxp0 : oxp0 + nx]
        wp1p1 = planes[typ1 + txp1, y + oyp1, oxp1 : oxp1 + nx]
        wp1p2 = planes[typ1 + txp2, y + oyp1, oxp2 : oxp2 + nx]
        wp2m2 = planes[typ2 + txm2, y + oyp2, oxm2 : oxm2 + nx]
        wp2m1 = planes[typ2 + txm1, y + oyp2, oxm1 : oxm1 + nx]
        wp2p0 = planes[typ2 + txp0, y + oyp2, oxp0 : oxp0 + nx]
        wp2p1 = planes[typ2 + txp1, y + oyp2, oxp1 : oxp1 + nx]
        wp2p2 = planes[typ2 + txp2, y + oyp2, oxp2 : oxp2 + nx]
        out0 = out[0, y]
        out1 = out[1, y]
        for x in range(nx):
            qm2m2 = wm2m2[x]
            qm2m1 = wm2m1[x]
            qm2p0 = wm2p0[x]
            qm2p1 = wm2p1[x]
            qm2p2 = wm2p2[x]
            qm1m2 = wm1m2[x]
            qm1m1 = wm1m1[x]
            qm1p0 = wm1p0[x]
            qm1p1 = wm1p1[x]
            qm1p2 = wm1p2[x]
            qp0m2 = wp0m2[x]
            qp0m1 = wp0m1[x]
            qp0p0 = wp0p0[x]
            qp0p1 = wp0p1[x]
            qp0p2 = wp0p2[x]
            qp1m2 = wp1m2[x]
            qp1m1 = wp1m1[x]
            qp1p0 = wp1p0[x]
            qp1p1 = wp1p1[x]
            qp1p2 = wp1p2[x]
            qp2m2 = wp2m2[x]
            qp2m1 = wp2m1[x]
            qp2p0 = wp2p0[x]
            qp2p1 = wp2p1[x]
            qp2p2 = wp2p2[x]
            g0, g1, g2, g3, g4, g5, g6, g7 = _gradients(green, qm2m2, qm2m1, qm2p0, qm2p1, qm2p2,
                                                       qm1m2, qm1m1, qm1p0, qm1p1, qm1p2,
                                                       qp0m2, qp0m1, qp0p0, qp0p1, qp0p2,
                                                       qp1m2, qp1m1, qp1p0, qp1p1, qp1p2,
                                                       qp2m2, qp2m1, qp2p0, qp2p1, qp2p2)
            gmin = _min8(g0, g1, g2, g3, g4, g5, g6, g7)
            gmax = _max8(g0, g1, g2, g3, g4, g5, g6, g7)
            threshold = f15 * gmin + f05 * (gmax - gmin)
            count = f0
            sum1 = f0
            sum2 = f0
            if green:
                c0, a0, b0 = (qp0p0 + qm2p0) / f2, (qm2m1 + qm2p1 + qp0m1 + qp0p1) / f4, qm1p0
                c1, a1, b1 = qm1p1, (qm2p1 + qp0p1) / f2, (qm1p0 + qm1p2) / f2
                c2, a2, b2 = (qp0p0 + qp0p2) / f2, qp0p1, (qm1p0 + qm1p2 + qp1p0 + qp1p2) / f4
                c3, a3, b3 = qp1p1, (qp0p1 + qp2p1) / f2, (qp1p0 + qp1p2) / f2
                c4, a4, b4 = (qp0p0 + qp2p0) / f2, (qp0m1 + qp0p1 + qp2m1 + qp2p1) / f4, qp1p0
                c5, a5, b5 = qp1m1, (qp0m1 + qp2m1) / f2, (qp1m2 + qp1p0) / f2
                c6, a6, b6 = (qp0p0 + qp0m2) / f2, qp0m1, (qm1m2 + qm1p0 + qp1m2 + qp1p0) / f4
                c7, a7, b7 = qm1m1, (qm2m1 + qp0m1) / f2, (qm1m2 + qm1p0) / f2
            else:
                c0, a0, b0 = (qp0p0 + qm2p0) / f2, qm1p0, (qm1m1 + qm1p1) / f2
                c1, a1, b1 = (qp0p0 + qm2p2) / f2, (qm2p1 + qm1p0 + qm1p2 + qp0p1) / f4, qm1p1
                c2, a2, b2 = (qp0p0 + qp0p2) / f2, qp0p1, (qm1p1 + qp1p1) / f2
                c3, a3, b3 = (qp0p0 + qp2p2) / f2, (qp0p1 + qp1p0 + qp1p2 + qp2p1) / f4, qp1p1
                c4, a4, b4 = (qp0p0 + qp2p0) / f2, qp1p0, (qp1m1 + qp1p1) / f2
                c5, a5, b5 = (qp0p0 + qp2m2) / f2, (qp0m1 + qp1m2 + qp1p0 + qp2m1) / f4, qp1m1
                c6, a6, b6 = (qp0p0 + qp0m2) / f2, qp0m1, (qm1m1 + qp1m1) / f2
                c7, a7, b7 = (qp0p0 + qm2m2) / f2, (qm2m1 + qm1m2 + qm1p0 + qp0m1) / f4, qm1m1
            count, sum1, sum2 = _accumulate(g0 <= threshold, c0, a0, b0, count, sum1, sum2)
            count, sum1, sum2 = _accumulate(g1 <= threshold, c1, a1, b1, count, sum1, sum2)
            count, sum1, sum2 = _accumulate(g2 <= threshold, c2, a2, b2, count, sum1, sum2)
            count, sum1, sum2 = _accumulate(g3 <= threshold, c3, a3, b3, count, sum1, sum2)
            count, sum1, sum2 = _accumulate(g4 <= threshold, c4, a4, b4, count, sum1, sum2)
            count, sum1, sum2 = _accumulate(g5 <= threshold, c5, a5, b5, count, sum1, sum2)
            count, sum1, sum2 = _accumulate(g6 <= threshold, c6, a6, b6, count, sum1, sum2)
            count, sum1, sum2 = _accumulate(g7 <= threshold, c7, a7, b7, count, sum1, sum2)
            out0[x] = min(max(qp0p0 + sum1 / count, lo), hi)
            out1[x] = min(max(qp0p0 + sum2 / count, lo), hi)


@numba.njit(cache=True, nogil=True, inline="always")
def _accumulate(selected, c_est, e1, e2, count, sum1, sum2):  # pragma: no cover - compiled
    # a direction's colour differences, added under a select (an unselected one adds +0)
    f0 = np.float32(0.0)
    f1 = np.float32(1.0)
    count += f1 if selected else f0
    sum1 += (e1 - c_est) if selected else f0
    sum2 += (e2 - c_est) if selected else f0
    return count, sum1, sum2


@numba.njit(cache=True, nogil=True, inline="always")
def _gradients(same, qm2m2, qm2m1, qm2p0, qm2p1, qm2p2,
               qm1m2, qm1m1, qm1p0, qm1p1, qm1p2,
               qp0m2, qp0m1, qp0p0, qp0p1, qp0p2,
               qp1m2, qp1m1, qp1p0, qp1p1, qp1p2,
               qp2m2, qp2m1, qp2p0, qp2p1, qp2p2):  # pragma: no cover - compiled
    """The eight directional gradients N, NE, E, SE, S, SW, W, NW over the 5×5 neighbourhood
    ``q<dy><dx>``; ``same``: the diagonal neighbours share the centre's colour."""
    f0 = np.float32(0.0)
    f05 = np.float32(0.5)
    g0 = (f0 + abs(qm1p0 - qp1p0) + abs(qm2p0 - qp0p0) + f05 * abs(qm1m1 - qp1m1)
          + f05 * abs(qm1p1 - qp1p1) + f05 * abs(qm2m1 - qp0m1) + f05 * abs(qm2p1 - qp0p1))
    g2 = (f0 + abs(qp0p1 - qp0m1) + abs(qp0p2 - qp0p0) + f05 * abs(qm1p1 - qm1m1)
          + f05 * abs(qp1p1 - qp1m1) + f05 * abs(qm1p2 - qm1p0) + f05 * abs(qp1p2 - qp1p0))
    g4 = (f0 + abs(qp1p0 - qm1p0) + abs(qp2p0 - qp0p0) + f05 * abs(qp1p1 - qm1p1)
          + f05 * abs(qp1m1 - qm1m1) + f05 * abs(qp2p1 - qp0p1) + f05 * abs(qp2m1 - qp0m1))
    g6 = (f0 + abs(qp0m1 - qp0p1) + abs(qp0m2 - qp0p0) + f05 * abs(qp1m1 - qp1p1)
          + f05 * abs(qm1m1 - qm1p1) + f05 * abs(qp1m2 - qp1p0) + f05 * abs(qm1m2 - qm1p0))
    if same:
        g1 = (f0 + abs(qm1p1 - qp1m1) + abs(qm2p2 - qp0p0) + abs(qm2p1 - qp0m1)
              + abs(qm1p2 - qp1p0))
        g3 = (f0 + abs(qp1p1 - qm1m1) + abs(qp2p2 - qp0p0) + abs(qp1p2 - qm1p0)
              + abs(qp2p1 - qp0m1))
        g5 = (f0 + abs(qp1m1 - qm1p1) + abs(qp2m2 - qp0p0) + abs(qp2m1 - qp0p1)
              + abs(qp1m2 - qm1p0))
        g7 = (f0 + abs(qm1m1 - qp1p1) + abs(qm2m2 - qp0p0) + abs(qm1m2 - qp1p0)
              + abs(qm2m1 - qp0p1))
    else:
        g1 = (f0 + abs(qm1p1 - qp1m1) + abs(qm2p2 - qp0p0) + f05 * abs(qm1p0 - qp0m1)
              + f05 * abs(qp0p1 - qp1p0) + f05 * abs(qm2p1 - qm1p0) + f05 * abs(qm1p2 - qp0p1))
        g3 = (f0 + abs(qp1p1 - qm1m1) + abs(qp2p2 - qp0p0) + f05 * abs(qp0p1 - qm1p0)
              + f05 * abs(qp1p0 - qp0m1) + f05 * abs(qp1p2 - qp0p1) + f05 * abs(qp2p1 - qp1p0))
        g5 = (f0 + abs(qp1m1 - qm1p1) + abs(qp2m2 - qp0p0) + f05 * abs(qp1p0 - qp0p1)
              + f05 * abs(qp0m1 - qm1p0) + f05 * abs(qp2m1 - qp1p0) + f05 * abs(qp1m2 - qp0m1))
        g7 = (f0 + abs(qm1m1 - qp1p1) + abs(qm2m2 - qp0p0) + f05 * abs(qp0m1 - qp1p0)
              + f05 * abs(qm1p0 - qp0p1) + f05 * abs(qm1m2 - qp0m1) + f05 * abs(qm2m1 - qm1p0))
    return g0, g1, g2, g3, g4, g5, g6, g7


@numba.njit(cache=True, nogil=True, inline="always")
def _direction(padded, yy, xx, selected, n_sources, source_offsets, count, sum1, sum2):  # pragma: no cover
    c_est = _source_mean(padded, yy, xx, n_sources[0], source_offsets[0])
    d1 = _source_mean(padded, yy, xx, n_sources[1], source_offsets[1]) - c_est
    d2 = _source_mean(padded, yy, xx, n_sources[2], source_offsets[2]) - c_est
    zero = np.float32(0.0)
    return count + selected, sum1 + (d1 if selected else zero), sum2 + (d2 if selected else zero)


@numba.njit(cache=True, nogil=True, inline="always")
def _source_mean(padded, yy, xx, n, offsets):  # pragma: no cover - compiled
    total = padded[yy + offsets[0, 0], xx + offsets[0, 1]]
    for k in range(1, n):
        total += padded[yy + offsets[k, 0], xx + offsets[k, 1]]
    if n > 1:
        total /= np.float32(n)
    return total
