"""Compiled (numba) VNG demosaicing pass, imported only when VNG runs.

The gradients are written out term by term (the rules of :mod:`processes._kernels.demosaic`,
``_AXIAL_TERMS``, ``_DIAGONAL_TERMS`` and ``_DIAGONAL_TERMS_SAME`` rotated to the eight
directions N, NE, E, SE, S, SW, W, NW) over the 5×5 neighbourhood held in locals
``q<dy><dx>`` (``m`` minus, ``p`` plus); the estimate sources, which depend on the pattern,
come as small arrays from :func:`processes._kernels.demosaic.vng_tables`.  Everything is
float32 and performs the same operations in the same order as the array formulation
(gradients summed term by term from 0, threshold ``1.5·min + 0.5·(max − min)``, colour
differences summed over the selected directions in direction order), so the result is
bit-identical to it; the tests compare the two.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["vng_bayer_kernel", "vng_kernel"]


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


@numba.njit(cache=True, nogil=True)
def vng_bayer_kernel(padded, centre, row_colour, lo, hi, out):  # pragma: no cover - compiled
    """VNG for a Bayer pattern, with the rules written out: per CFA phase its ``centre``
    channel and, for green sites, the colour of its row neighbours."""
    height = out.shape[1]
    width = out.shape[2]
    for y in range(height):
        for px in range(2):
            phase = 2 * (y & 1) + px
            c0 = centre[phase]
            if c0 == 1:
                c1 = row_colour[phase]
                _bayer_green_row(padded, y, px, 1, c1, 2 - c1, lo, hi, out, width)
            else:
                _bayer_red_blue_row(padded, y, px, c0, 1, 2 - c0, lo, hi, out, width)


@numba.njit(cache=True, nogil=True)
def _bayer_green_row(padded, y, px, c0, c1, c2, lo, hi, out, width):  # pragma: no cover - compiled
    """A row's green sites of a Bayer pattern: c1 is the colour of the row neighbours, c2 of the column ones."""
    f0 = np.float32(0.0)
    f05 = np.float32(0.5)
    f15 = np.float32(1.5)
    f2 = np.float32(2.0)
    f4 = np.float32(4.0)
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
        g0 = (f0 + abs(qm1p0 - qp1p0) + abs(qm2p0 - qp0p0) + f05 * abs(qm1m1 - qp1m1)
              + f05 * abs(qm1p1 - qp1p1) + f05 * abs(qm2m1 - qp0m1) + f05 * abs(qm2p1 - qp0p1))
        g1 = (f0 + abs(qm1p1 - qp1m1) + abs(qm2p2 - qp0p0) + abs(qm2p1 - qp0m1)
              + abs(qm1p2 - qp1p0))
        g2 = (f0 + abs(qp0p1 - qp0m1) + abs(qp0p2 - qp0p0) + f05 * abs(qm1p1 - qm1m1)
              + f05 * abs(qp1p1 - qp1m1) + f05 * abs(qm1p2 - qm1p0) + f05 * abs(qp1p2 - qp1p0))
        g3 = (f0 + abs(qp1p1 - qm1m1) + abs(qp2p2 - qp0p0) + abs(qp1p2 - qm1p0)
              + abs(qp2p1 - qp0m1))
        g4 = (f0 + abs(qp1p0 - qm1p0) + abs(qp2p0 - qp0p0) + f05 * abs(qp1p1 - qm1p1)
              + f05 * abs(qp1m1 - qm1m1) + f05 * abs(qp2p1 - qp0p1) + f05 * abs(qp2m1 - qp0m1))
        g5 = (f0 + abs(qp1m1 - qm1p1) + abs(qp2m2 - qp0p0) + abs(qp2m1 - qp0p1)
              + abs(qp1m2 - qm1p0))
        g6 = (f0 + abs(qp0m1 - qp0p1) + abs(qp0m2 - qp0p0) + f05 * abs(qp1m1 - qp1p1)
              + f05 * abs(qm1m1 - qm1p1) + f05 * abs(qp1m2 - qp1p0) + f05 * abs(qm1m2 - qm1p0))
        g7 = (f0 + abs(qm1m1 - qp1p1) + abs(qm2m2 - qp0p0) + abs(qm1m2 - qp1p0)
              + abs(qm2m1 - qp0p1))
        gmin = min(min(min(g0, g1), min(g2, g3)), min(min(g4, g5), min(g6, g7)))
        gmax = max(max(max(g0, g1), max(g2, g3)), max(max(g4, g5), max(g6, g7)))
        threshold = f15 * gmin + f05 * (gmax - gmin)
        count = 0
        sum1 = f0
        sum2 = f0
        selected = g0 <= threshold
        c_est = (qp0p0 + qm2p0) / f2
        count += selected
        sum1 += ((qm2m1 + qm2p1 + qp0m1 + qp0p1) / f4 - c_est) if selected else f0
        sum2 += (qm1p0 - c_est) if selected else f0
        selected = g1 <= threshold
        c_est = qm1p1
        count += selected
        sum1 += ((qm2p1 + qp0p1) / f2 - c_est) if selected else f0
        sum2 += ((qm1p0 + qm1p2) / f2 - c_est) if selected else f0
        selected = g2 <= threshold
        c_est = (qp0p0 + qp0p2) / f2
        count += selected
        sum1 += (qp0p1 - c_est) if selected else f0
        sum2 += ((qm1p0 + qm1p2 + qp1p0 + qp1p2) / f4 - c_est) if selected else f0
        selected = g3 <= threshold
        c_est = qp1p1
        count += selected
        sum1 += ((qp0p1 + qp2p1) / f2 - c_est) if selected else f0
        sum2 += ((qp1p0 + qp1p2) / f2 - c_est) if selected else f0
        selected = g4 <= threshold
        c_est = (qp0p0 + qp2p0) / f2
        count += selected
        sum1 += ((qp0m1 + qp0p1 + qp2m1 + qp2p1) / f4 - c_est) if selected else f0
        sum2 += (qp1p0 - c_est) if selected else f0
        selected = g5 <= threshold
        c_est = qp1m1
        count += selected
        sum1 += ((qp0m1 + qp2m1) / f2 - c_est) if selected else f0
        sum2 += ((qp1m2 + qp1p0) / f2 - c_est) if selected else f0
        selected = g6 <= threshold
        c_est = (qp0p0 + qp0m2) / f2
        count += selected
        sum1 += (qp0m1 - c_est) if selected else f0
        sum2 += ((qm1m2 + qm1p0 + qp1m2 + qp1p0) / f4 - c_est) if selected else f0
        selected = g7 <= threshold
        c_est = qm1m1
        count += selected
        sum1 += ((qm2m1 + qp0m1) / f2 - c_est) if selected else f0
        sum2 += ((qm1m2 + qm1p0) / f2 - c_est) if selected else f0
        fc = np.float32(count)
        out[c0, y, x] = min(max(qp0p0, lo), hi)
        out[c1, y, x] = min(max(qp0p0 + sum1 / fc, lo), hi)
        out[c2, y, x] = min(max(qp0p0 + sum2 / fc, lo), hi)


@numba.njit(cache=True, nogil=True)
def _bayer_red_blue_row(padded, y, px, c0, c1, c2, lo, hi, out, width):  # pragma: no cover - compiled
    """A row's red or blue sites (channel c0) of a Bayer pattern: c1 is green, c2 the diagonal colour."""
    f0 = np.float32(0.0)
    f05 = np.float32(0.5)
    f15 = np.float32(1.5)
    f2 = np.float32(2.0)
    f4 = np.float32(4.0)
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
        g0 = (f0 + abs(qm1p0 - qp1p0) + abs(qm2p0 - qp0p0) + f05 * abs(qm1m1 - qp1m1)
              + f05 * abs(qm1p1 - qp1p1) + f05 * abs(qm2m1 - qp0m1) + f05 * abs(qm2p1 - qp0p1))
        g1 = (f0 + abs(qm1p1 - qp1m1) + abs(qm2p2 - qp0p0) + f05 * abs(qm1p0 - qp0m1)
              + f05 * abs(qp0p1 - qp1p0) + f05 * abs(qm2p1 - qm1p0) + f05 * abs(qm1p2 - qp0p1))
        g2 = (f0 + abs(qp0p1 - qp0m1) + abs(qp0p2 - qp0p0) + f05 * abs(qm1p1 - qm1m1)
              + f05 * abs(qp1p1 - qp1m1) + f05 * abs(qm1p2 - qm1p0) + f05 * abs(qp1p2 - qp1p0))
        g3 = (f0 + abs(qp1p1 - qm1m1) + abs(qp2p2 - qp0p0) + f05 * abs(qp0p1 - qm1p0)
              + f05 * abs(qp1p0 - qp0m1) + f05 * abs(qp1p2 - qp0p1) + f05 * abs(qp2p1 - qp1p0))
        g4 = (f0 + abs(qp1p0 - qm1p0) + abs(qp2p0 - qp0p0) + f05 * abs(qp1p1 - qm1p1)
              + f05 * abs(qp1m1 - qm1m1) + f05 * abs(qp2p1 - qp0p1) + f05 * abs(qp2m1 - qp0m1))
        g5 = (f0 + abs(qp1m1 - qm1p1) + abs(qp2m2 - qp0p0) + f05 * abs(qp1p0 - qp0p1)
              + f05 * abs(qp0m1 - qm1p0) + f05 * abs(qp2m1 - qp1p0) + f05 * abs(qp1m2 - qp0m1))
        g6 = (f0 + abs(qp0m1 - qp0p1) + abs(qp0m2 - qp0p0) + f05 * abs(qp1m1 - qp1p1)
              + f05 * abs(qm1m1 - qm1p1) + f05 * abs(qp1m2 - qp1p0) + f05 * abs(qm1m2 - qm1p0))
        g7 = (f0 + abs(qm1m1 - qp1p1) + abs(qm2m2 - qp0p0) + f05 * abs(qp0m1 - qp1p0)
              + f05 * abs(qm1p0 - qp0p1) + f05 * abs(qm1m2 - qp0m1) + f05 * abs(qm2m1 - qm1p0))
        gmin = min(min(min(g0, g1), min(g2, g3)), min(min(g4, g5), min(g6, g7)))
        gmax = max(max(max(g0, g1), max(g2, g3)), max(max(g4, g5), max(g6, g7)))
        threshold = f15 * gmin + f05 * (gmax - gmin)
        count = 0
        sum1 = f0
        sum2 = f0
        selected = g0 <= threshold
        c_est = (qp0p0 + qm2p0) / f2
        count += selected
        sum1 += (qm1p0 - c_est) if selected else f0
        sum2 += ((qm1m1 + qm1p1) / f2 - c_est) if selected else f0
        selected = g1 <= threshold
        c_est = (qp0p0 + qm2p2) / f2
        count += selected
        sum1 += ((qm2p1 + qm1p0 + qm1p2 + qp0p1) / f4 - c_est) if selected else f0
        sum2 += (qm1p1 - c_est) if selected else f0
        selected = g2 <= threshold
        c_est = (qp0p0 + qp0p2) / f2
        count += selected
        sum1 += (qp0p1 - c_est) if selected else f0
        sum2 += ((qm1p1 + qp1p1) / f2 - c_est) if selected else f0
        selected = g3 <= threshold
        c_est = (qp0p0 + qp2p2) / f2
        count += selected
        sum1 += ((qp0p1 + qp1p0 + qp1p2 + qp2p1) / f4 - c_est) if selected else f0
        sum2 += (qp1p1 - c_est) if selected else f0
        selected = g4 <= threshold
        c_est = (qp0p0 + qp2p0) / f2
        count += selected
        sum1 += (qp1p0 - c_est) if selected else f0
        sum2 += ((qp1m1 + qp1p1) / f2 - c_est) if selected else f0
        selected = g5 <= threshold
        c_est = (qp0p0 + qp2m2) / f2
        count += selected
        sum1 += ((qp0m1 + qp1m2 + qp1p0 + qp2m1) / f4 - c_est) if selected else f0
        sum2 += (qp1m1 - c_est) if selected else f0
        selected = g6 <= threshold
        c_est = (qp0p0 + qp0m2) / f2
        count += selected
        sum1 += (qp0m1 - c_est) if selected else f0
        sum2 += ((qm1m1 + qp1m1) / f2 - c_est) if selected else f0
        selected = g7 <= threshold
        c_est = (qp0p0 + qm2m2) / f2
        count += selected
        sum1 += ((qm2m1 + qm1m2 + qm1p0 + qp0m1) / f4 - c_est) if selected else f0
        sum2 += (qm1m1 - c_est) if selected else f0
        fc = np.float32(count)
        out[c0, y, x] = min(max(qp0p0, lo), hi)
        out[c1, y, x] = min(max(qp0p0 + sum1 / fc, lo), hi)
        out[c2, y, x] = min(max(qp0p0 + sum2 / fc, lo), hi)


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
