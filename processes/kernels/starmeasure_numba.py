"""Compiled (numba) hot spots of :mod:`processes.kernels.starmeasure`.

:func:`tile_medians`
    ``np.median`` of every ``ty``×``tx`` tile of a float64 plane (the odd count's middle value,
    the even count's ``(a + b) / 2`` of the two middle values, NaN for a tile holding a NaN),
    by a histogram selection of a copy of each tile in one reused buffer: no transposed
    copy of the plane;
:func:`bilinear_grid`
    the bilinear interpolation of a small grid of tile medians at separable coordinates
    (what ``ndimage.map_coordinates(grid, [yy, xx], order=1, mode="nearest")`` gave on the
    full ``meshgrid``, without building it);
:func:`local_peaks`
    pixels above a threshold that equal the maximum of their 5×5 neighbourhood, edges
    reflected as ``ndimage.maximum_filter`` does (``d c b a | a b c d``), in raster order;
:func:`symmetric_smooth`
    a separable symmetric filter along both axes with scipy's ``reflect`` edges, the
    arithmetic of ``ndimage.correlate1d`` (symmetric weights: ``w₀·x₀`` plus the pairs
    ``(x₋ⱼ + xⱼ)·wⱼ`` from the outermost in) along rows then columns, so that
    ``ndimage.gaussian_filter`` is reproduced bit for bit; both passes one row at a time
    (no intermediate plane);
:func:`channel_mean`
    the float64 mean of the channels of a (C, H, W) float image in one pass (the plane the
    pre-processing measures stars on);
:func:`fit_gaussians`
    the Levenberg–Marquardt fits of elliptical Gaussians to star stamps, one star at a time
    with the same steps, damping and stopping rule as the batched numpy fit.

Import this module only when stars are measured (it imports numba).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from processes.integration.kernel_numba import select_two_binned
from processes.kernels.numba_common import int_pair_arrays, reflect

__all__ = ["bilinear_grid", "channel_mean", "fit_gaussians", "local_peaks", "symmetric_smooth", "tile_medians"]


@numba.njit(cache=True, nogil=True, inline="always")
def _taps9(c, l4, h4, l3, h3, l2, h2, l1, h1, weights):  # pragma: no cover - compiled
    # the 9-tap symmetric sum in correlate1d's order: w₄·x₀, then (x₋ⱼ + xⱼ)·w₄₋ⱼ for j = 4..1
    acc = c * weights[4]
    acc += (l4 + h4) * weights[0]
    acc += (l3 + h3) * weights[1]
    acc += (l2 + h2) * weights[2]
    acc += (l1 + h1) * weights[3]
    return acc


@numba.njit(cache=True, nogil=True, inline="always")
def _smooth_row9(plane, y, weights, line, o):  # pragma: no cover - compiled
    # row y of the radius-4 filter: the column sum into ``line`` (reflected 4 beyond each end), then
    # the row sum into ``o``; each value one expression with its nine taps in registers (one
    # vectorised loop per pass instead of one per tap, same operations in the same order)
    height = plane.shape[0]
    width = o.size
    m = line[4 : 4 + width]
    c = plane[y]
    l1, h1 = plane[reflect(y - 1, height)], plane[reflect(y + 1, height)]
    l2, h2 = plane[reflect(y - 2, height)], plane[reflect(y + 2, height)]
    l3, h3 = plane[reflect(y - 3, height)], plane[reflect(y + 3, height)]
    l4, h4 = plane[reflect(y - 4, height)], plane[reflect(y + 4, height)]
    for x in range(width):
        m[x] = _taps9(c[x], l4[x], h4[x], l3[x], h3[x], l2[x], h2[x], l1[x], h1[x], weights)
    for x in range(4):
        line[x] = m[reflect(x - 4, width)]
        line[4 + width + x] = m[reflect(width + x, width)]
    a4, a3, a2, a1 = line[0:width], line[1 : 1 + width], line[2 : 2 + width], line[3 : 3 + width]
    b1, b2, b3, b4 = line[5 : 5 + width], line[6 : 6 + width], line[7 : 7 + width], line[8 : 8 + width]
    for x in range(width):
        o[x] = _taps9(m[x], a4[x], b4[x], a3[x], b3[x], a2[x], b2[x], a1[x], b1[x], weights)


@numba.njit(cache=True, nogil=True)
def symmetric_smooth(plane, weights):
    """``plane`` (float64, 2-D) filtered along axis 0, then axis 1, by the symmetric ``weights``
    (``2r + 1`` taps, ``weights[r]`` the centre), edges reflected (``d c b a | a b c d``).

    Every output value is ``w_r·x_0``, then ``+= (x_−j + x_j)·w_(r−j)`` for j = r..1, in
    float64: ``ndimage.correlate1d``'s symmetric loop, so the result equals
    ``ndimage.correlate1d(ndimage.correlate1d(plane, weights, 0, mode="reflect"), weights, 1,
    mode="reflect")`` exactly.  Radius 4 (σ = 1, the star measurement's) sums each value's taps
    in one expression (:func:`_smooth_row9`): the same bits, a quarter less time.
    """
    height, width = plane.shape
    r = weights.size // 2
    centre = weights[r]
    out = np.empty((height, width))
    line = np.empty(width + 2 * r)  # one row of the pass along axis 0, reflected r beyond each edge
    if r == 4:
        for y in range(height):
            _smooth_row9(plane, y, weights, line, out[y])
        return out
    rows_lo = np.empty(r, np.int64)
    rows_hi = np.empty(r, np.int64)
    for y in range(height):
        for j in range(1, r + 1):
            rows_lo[j - 1] = reflect(y - j, height)
            rows_hi[j - 1] = reflect(y + j, height)
        m = line[r : r + width]
        c = plane[y]
        for x in range(width):
            m[x] = c[x] * centre
        for j in range(r, 0, -1):
            lo = plane[rows_lo[j - 1]]
            hi = plane[rows_hi[j - 1]]
            w = weights[r - j]
            for x in range(width):
                m[x] += (lo[x] + hi[x]) * w
        for x in range(r):
            line[x] = m[reflect(x - r, width)]
            line[r + width + x] = m[reflect(width + x, width)]
        o = out[y]
        for x in range(width):
            o[x] = m[x] * centre
        for j in range(r, 0, -1):  # shifted views: every index is the loop counter (vectorisable)
            lo = line[r - j : r - j + width]
            hi = line[r + j : r + j + width]
            w = weights[r - j]
            for x in range(width):
                o[x] += (lo[x] + hi[x]) * w
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def channel_mean(pixels):
    """(H, W) float64: the channels of the float ``pixels`` (C, H, W) summed in order from channel 0
    (``((p₀ + p₁) + p₂) + …`` in float64), divided by C; what ``plane = p₀.astype(float64)``,
    ``plane += p₁``, …, ``plane /= C`` gives, row by row in cache instead of three passes over a
    float64 plane (a first one for the copy)."""
    channels, height, width = pixels.shape
    out = np.empty((height, width))
    for y in range(height):
        o = out[y]
        first = pixels[0, y]
        for x in range(width):
            o[x] = np.float64(first[x])
        for c in range(1, channels):
            row = pixels[c, y]
            for x in range(width):
                o[x] += np.float64(row[x])
        for x in range(width):
            o[x] /= channels
    return out


_TILE_BINS = 1024


@numba.njit(cache=True, nogil=True)
def tile_medians(plane, ny, nx, ty, tx):
    """``np.median`` of each ``ty``×``tx`` tile of the float64 ``plane``, bit for bit, and where it is undecided.

    Tile (i, j) is ``plane[i·ty:(i + 1)·ty, j·tx:(j + 1)·tx]``; its median is the middle
    value of an odd count, ``(a + b) / 2`` of the two middle values of an even one (what
    ``np.median``'s mean of the two gives), NaN if the tile holds a NaN.  The middle values
    come from :func:`processes.integration.kernel_numba.select_two_binned` (1024 bins) on a
    copy of the tile in one reused buffer, the tile's extremes found while copying it.
    Returns the (ny, nx) medians and an (ny, nx) bool array, True where the median is zero
    and the tile holds a −0.0: which zero ``np.median`` returns there depends on numpy's
    partition order, so the caller takes ``np.median`` of those tiles.
    """
    n = ty * tx
    buf = np.empty(n)
    counts = np.empty(_TILE_BINS, np.int64)
    out = np.empty((ny, nx))
    undecided = np.zeros((ny, nx), np.bool_)
    for i in range(ny):
        for j in range(nx):
            lo = plane[i * ty, j * tx]
            hi = lo
            nan = False
            m = 0
            for y in range(i * ty, (i + 1) * ty):
                row = plane[y, j * tx : (j + 1) * tx]
                for x in range(tx):  # branch-free: the copy, the extremes, a NaN
                    v = row[x]
                    buf[m + x] = v
                    nan |= v != v
                    lo = v if v < lo else lo
                    hi = v if v > hi else hi
                m += tx
            if nan:
                out[i, j] = np.nan
                continue
            lower, upper = select_two_binned(buf, (n - 1) // 2, n // 2, counts, lo, hi)
            out[i, j] = upper if n % 2 else (lower + upper) / 2.0
            if out[i, j] == 0.0:  # rare: is there a −0.0 among the tile's zeros?
                for k in range(n):
                    if buf[k] == 0.0 and math.copysign(1.0, buf[k]) < 0.0:
                        undecided[i, j] = True
                        break
    return out, undecided


@numba.njit(cache=True, nogil=True)
def bilinear_grid(grid, yy, xx):
    """(len(yy), len(xx)) float64: ``grid`` interpolated bilinearly at rows ``yy`` × columns ``xx``.

    Coordinates are in grid cells, inside ``[0, n − 1]``; the tap beyond the last cell is
    the last cell (its weight is 0 there).  Every value is ``gy·(gx·g₀₀ + fx·g₀₁) + fy·(gx·g₁₀ +
    fx·g₁₁)``; the bracketed interpolations along x depend only on the grid row and the
    column, so they are formed once per grid row and combined row by row.
    """
    ny, nx = grid.shape
    h = yy.size
    w = xx.size
    along = np.empty((ny, w))  # every grid row interpolated at the columns xx
    for j in range(w):
        b = math.floor(xx[j])
        i0 = min(max(int(b), 0), nx - 1)
        i1 = min(max(int(b) + 1, 0), nx - 1)
        fx = xx[j] - b
        gx = 1.0 - fx
        for k in range(ny):
            along[k, j] = gx * grid[k, i0] + fx * grid[k, i1]
    out = np.empty((h, w))
    for i in range(h):
        b = math.floor(yy[i])
        r0 = along[min(max(int(b), 0), ny - 1)]
        r1 = along[min(max(int(b) + 1, 0), ny - 1)]
        fy = yy[i] - b
        gy = 1.0 - fy
        o = out[i]
        for j in range(w):
            o[j] = gy * r0[j] + fy * r1[j]
    return out


@numba.njit(cache=True, nogil=True)
def local_peaks(plane, threshold):
    """(rows, columns) of the pixels > ``threshold`` not exceeded in their reflected 5×5 neighbourhood,
    in raster order; a row is searched only where a vectorised count finds a pixel above the threshold."""
    height, width = plane.shape
    ys = []
    xs = []
    for y in range(height):
        above = 0
        line = plane[y]
        for x in range(width):  # branch-free (vectorised): most rows have no pixel above the threshold
            above += line[x] > threshold
        if above == 0:
            continue
        for x in range(width):
            if not plane[y, x] > threshold:
                continue
            v = plane[y, x]
            is_max = True
            for dy in range(-2, 3):
                row = plane[reflect(y + dy, height)]
                for dx in range(-2, 3):
                    if row[reflect(x + dx, width)] > v:
                        is_max = False
                        break
                if not is_max:
                    break
            if is_max:
                ys.append(y)
                xs.append(x)
    return int_pair_arrays(ys, xs)


@numba.njit(cache=True, nogil=True, inline="always")
def _model(p, gx, gy, data, model, g):
    """Evaluate ``B + A·exp(−q/2)`` at the stamp pixels into model and g; returns the cost Σ(model − data)²."""
    amp, x0, y0, b0, a, b, c = p[0], p[1], p[2], p[3], p[4], p[5], p[6]
    cost = 0.0
    for m in range(gx.size):
        dx = gx[m] - x0
        dy = gy[m] - y0
        q = a * dx * dx + 2 * b * dx * dy + c * dy * dy
        q = min(max(q, 0.0), 700.0)
        e = math.exp(-0.5 * q)
        g[m] = e
        model[m] = b0 + amp * e
        r = model[m] - data[m]
        cost += r * r
    return cost


@numba.njit(cache=True, nogil=True)
def _solve(lhs, rhs, out):
    """Solve the 7×7 system by Gaussian elimination with partial pivoting; False if singular."""
    n = rhs.size
    a = lhs.copy()
    b = rhs.copy()
    for col in range(n):
        piv = col
        best = abs(a[col, col])
        for r in range(col + 1, n):
            if abs(a[r, col]) > best:
                best = abs(a[r, col])
                piv = r
        if best == 0.0 or not math.isfinite(best):
            return False
        if piv != col:
            for k in range(n):
                a[col, k], a[piv, k] = a[piv, k], a[col, k]
            b[col], b[piv] = b[piv], b[col]
        for r in range(col + 1, n):
            f = a[r, col] / a[col, col]
            if f != 0.0:
                for k in range(col, n):
                    a[r, k] -= f * a[col, k]
                b[r] -= f * b[col]
    for r in range(n - 1, -1, -1):
        s = b[r]
        for k in range(r + 1, n):
            s -= a[r, k] * out[k]
        out[r] = s / a[r, r]
    return True


@numba.njit(cache=True, nogil=True, inline="always")
def _normal_equations(p, gx, gy, data, model, g, jtj, jtr):
    """Fill ``jtj`` (7×7, JᵀJ) and ``jtr`` (Jᵀ(data − model)) of the analytic Jacobian J of ``p``'s model
    (``g`` its exponentials).

    Every sum runs over the pixels in order, ``J_i·J_j`` (``J_i·r``) added to an accumulator that
    starts at 0; the 35 accumulators are locals (registers), not array elements stored and
    reloaded at every pixel.
    """
    amp, x0, y0, a, b, c = p[0], p[1], p[2], p[4], p[5], p[6]
    r0 = r1 = r2 = r3 = r4 = r5 = r6 = 0.0
    s00 = s01 = s02 = s03 = s04 = s05 = s06 = 0.0
    s11 = s12 = s13 = s14 = s15 = s16 = 0.0
    s22 = s23 = s24 = s25 = s26 = 0.0
    s33 = s34 = s35 = s36 = 0.0
    s44 = s45 = s46 = 0.0
    s55 = s56 = 0.0
    s66 = 0.0
    for m in range(data.size):
        dx = gx[m] - x0
        dy = gy[m] - y0
        gm = g[m]
        ag = amp * gm
        j0 = gm
        j1 = ag * (a * dx + b * dy)
        j2 = ag * (b * dx + c * dy)
        j3 = 1.0
        j4 = -0.5 * ag * dx * dx
        j5 = -ag * dx * dy
        j6 = -0.5 * ag * dy * dy
        r = data[m] - model[m]
        r0 += j0 * r
        s00 += j0 * j0
        s01 += j0 * j1
        s02 += j0 * j2
        s03 += j0 * j3
        s04 += j0 * j4
        s05 += j0 * j5
        s06 += j0 * j6
        r1 += j1 * r
        s11 += j1 * j1
        s12 += j1 * j2
        s13 += j1 * j3
        s14 += j1 * j4
        s15 += j1 * j5
        s16 += j1 * j6
        r2 += j2 * r
        s22 += j2 * j2
        s23 += j2 * j3
        s24 += j2 * j4
        s25 += j2 * j5
        s26 += j2 * j6
        r3 += j3 * r
        s33 += j3 * j3
        s34 += j3 * j4
        s35 += j3 * j5
        s36 += j3 * j6
        r4 += j4 * r
        s44 += j4 * j4
        s45 += j4 * j5
        s46 += j4 * j6
        r5 += j5 * r
        s55 += j5 * j5
        s56 += j5 * j6
        r6 += j6 * r
        s66 += j6 * j6
    jtr[0], jtr[1], jtr[2], jtr[3], jtr[4], jtr[5], jtr[6] = r0, r1, r2, r3, r4, r5, r6
    rows = ((s00, s01, s02, s03, s04, s05, s06), (s01, s11, s12, s13, s14, s15, s16),
            (s02, s12, s22, s23, s24, s25, s26), (s03, s13, s23, s33, s34, s35, s36),
            (s04, s14, s24, s34, s44, s45, s46), (s05, s15, s25, s35, s45, s55, s56),
            (s06, s16, s26, s36, s46, s56, s66))
    for i in range(7):
        for j in range(7):
            jtj[i, j] = rows[i][j]


@numba.njit(cache=True, nogil=True)
def _fit_one(p, data, gx, gy, iterations, stop_at_convergence, damping):
    """Levenberg–Marquardt iterations on one star from ``p`` (updated in place) and ``damping``; the
    normal equations are formed again only after an accepted step (a rejected one leaves ``p``,
    hence them, unchanged: only the damping differs).

    Returns (iterations done, first iteration (1-based) at which it converged or 0, damping).
    """
    m_count = data.size
    model = np.empty(m_count)
    g = np.empty(m_count)
    trial_model = np.empty(m_count)
    trial_g = np.empty(m_count)
    jtj = np.empty((7, 7))
    jtr = np.empty(7)
    lhs = np.empty((7, 7))
    step = np.empty(7)
    trial = np.empty(7)
    cost = _model(p, gx, gy, data, model, g)
    converged_at = 0
    done = 0
    stale = True  # the normal equations change only with p: after a rejected step they are the same
    for it in range(iterations):
        done = it + 1
        if stale:
            _normal_equations(p, gx, gy, data, model, g, jtj, jtr)
            stale = False
        for i in range(7):
            for j in range(7):
                lhs[i, j] = jtj[i, j]
            lhs[i, i] += damping * max(jtj[i, i], 1e-30)
        if not _solve(lhs, jtr, step):
            for i in range(7):
                step[i] = np.nan
        for i in range(7):
            trial[i] = p[i] + step[i]
        trial_cost = _model(trial, gx, gy, data, trial_model, trial_g)
        better = math.isfinite(trial_cost) and trial_cost <= cost
        if better and abs(cost - trial_cost) <= 1e-10 * max(cost, 1e-300) and converged_at == 0:
            converged_at = it + 1
        if better:
            p[:] = trial
            model[:] = trial_model
            g[:] = trial_g
            cost = trial_cost
            damping = damping / 3
            stale = True
        else:
            damping = damping * 4
        if stop_at_convergence and converged_at:
            break
    return done, converged_at, damping


@numba.njit(cache=True, nogil=True)
def fit_gaussians(data, params, gx, gy, iterations):
    """Fit every row of ``data`` (n, m) from the starting ``params`` (n, 7) (updated in place).

    The batched fit stopped when every star had converged (or after ``iterations``), so each
    star is iterated for that common count: each star runs until it converges, then those
    that converged continue from there up to the latest convergence of all.  Returns
    (converged, final damping) per star.
    """
    n = data.shape[0]
    first = np.zeros(n, np.int64)
    damping = np.full(n, 1e-3)
    rounds = 0
    every = True
    for s in range(n):
        _, at, d = _fit_one(params[s], data[s], gx, gy, iterations, True, damping[s])
        first[s] = at
        damping[s] = d
        if at == 0:
            every = False
        elif at > rounds:
            rounds = at
    if not every:
        rounds = iterations
    for s in range(n):
        if 0 < first[s] < rounds:
            _, _, d = _fit_one(params[s], data[s], gx, gy, rounds - first[s], False, damping[s])
            damping[s] = d
    return first > 0, damping
