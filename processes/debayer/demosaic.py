"""Demosaicing (debayering) of 2×2 CFA raw frames, and the inverse (mosaicing).

All functions take a 2-D raw frame (height, width) and a :class:`~processes.kernels.cfa.CFAPattern`
and return planar RGB ``(3, h, w)`` float32 arrays; they never modify their input.

``superpixel``
    Each 2×2 cell becomes one RGB pixel (R and B from their sites, G the mean of the
    green sites): half the width and height, no interpolation.
``bilinear``
    Every missing sample is the mean of the nearest samples of that colour
    (normalized convolution with the 3×3 kernel [1 2 1; 2 4 2; 1 2 1]); measured
    samples are kept.  Works for any 2×2 pattern.
``vng``
    Variable Number of Gradients (Chang, Cheung & Pang, 1999).  For every pixel eight
    gradients (N, NE, E, SE, S, SW, W, NW) are computed in the 5×5 neighbourhood from
    absolute differences of same-colour samples aligned with the direction.  The
    directions whose gradient does not exceed ``T = 1.5·min + 0.5·(max − min)`` are
    selected; for each selected direction the three colours are estimated at the
    neighbour in that direction, and each missing colour is the centre sample plus the
    mean colour difference ``(X_d − C_d)`` over the selected directions.  Along an edge
    only the directions parallel to it are used, which avoids the zipper artefacts and
    false colours of bilinear interpolation.  Designed for Bayer patterns; other 2×2
    patterns use the same rules with the nearest samples of each colour.

Borders are handled by mirror padding that preserves the CFA phase.
"""

from __future__ import annotations

import functools

import numpy as np

from processes.kernels.cfa import CFAPattern

__all__ = ["bilinear", "demosaic", "mosaic", "superpixel", "vng", "vng_tables"]

METHODS = ("SuperPixel", "Bilinear", "VNG")


def mosaic(rgb: np.ndarray, pattern: CFAPattern) -> np.ndarray:
    """The raw CFA frame a sensor with ``pattern`` records from planar ``rgb`` (3, h, w)."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[0] != 3:
        raise ValueError(f"mosaic needs planar RGB (3, height, width); got shape {rgb.shape}")
    cmap = pattern.channel_map(rgb.shape[1], rgb.shape[2])
    return np.take_along_axis(rgb, cmap[np.newaxis].astype(np.intp), axis=0)[0]


def _check_raw(raw: np.ndarray, minimum: int) -> np.ndarray:
    raw = np.asarray(raw)
    if raw.ndim != 2:
        raise ValueError(f"a CFA frame must be 2-D (height, width); got shape {raw.shape}")
    if raw.shape[0] < minimum or raw.shape[1] < minimum:
        raise ValueError(f"a CFA frame must be at least {minimum}×{minimum} pixels; got {raw.shape[1]}×{raw.shape[0]}")
    return raw.astype(np.float32, copy=False)


def superpixel(raw: np.ndarray, pattern: CFAPattern) -> np.ndarray:
    """Half-size RGB: one pixel per 2×2 cell (an odd last row/column is dropped); also the CFA components
    Debayer estimates the noise on, as PixInsight's Debayer does."""
    raw = _check_raw(raw, 2)
    h, w = (raw.shape[0] // 2) * 2, (raw.shape[1] // 2) * 2
    out = np.zeros((3, h // 2, w // 2), dtype=np.float32)
    for channel in range(3):
        sites = pattern.sites(channel)
        for y, x in sites:
            out[channel] += raw[y:h:2, x:w:2]
        if len(sites) > 1:
            out[channel] /= len(sites)
    return out


_BILINEAR_KERNEL = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.float32)


def bilinear(raw: np.ndarray, pattern: CFAPattern) -> np.ndarray:
    """Full-size RGB by bilinear interpolation of each colour's samples."""
    raw = _check_raw(raw, 2)
    from scipy import ndimage  # imported where used (~0.15 s)

    masks = pattern.masks(*raw.shape)
    out = np.empty((3,) + raw.shape, dtype=np.float32)
    for channel in range(3):
        mask = masks[channel].astype(np.float32)
        num = ndimage.convolve(raw * mask, _BILINEAR_KERNEL, mode="constant", cval=0.0)
        den = ndimage.convolve(mask, _BILINEAR_KERNEL, mode="constant", cval=0.0)
        plane = num / np.maximum(den, np.float32(1e-12))
        out[channel] = np.where(masks[channel], raw, plane)
    return out


# -- VNG ------------------------------------------------------------------------------------

Offset = tuple[int, int]
Term = tuple[float, Offset, Offset]

# Gradient terms (weight, a, b) meaning weight·|p(a) − p(b)|, for the north and north-east
# directions; the other six are rotations of these by multiples of 90°.
_AXIAL_TERMS: tuple[Term, ...] = (
    (1.0, (-1, 0), (1, 0)),
    (1.0, (-2, 0), (0, 0)),
    (0.5, (-1, -1), (1, -1)),
    (0.5, (-1, 1), (1, 1)),
    (0.5, (-2, -1), (0, -1)),
    (0.5, (-2, 1), (0, 1)),
)
# Diagonal terms where the centre's diagonal neighbours have another colour (R/B centre).
_DIAGONAL_TERMS: tuple[Term, ...] = (
    (1.0, (-1, 1), (1, -1)),
    (1.0, (-2, 2), (0, 0)),
    (0.5, (-1, 0), (0, -1)),
    (0.5, (0, 1), (1, 0)),
    (0.5, (-2, 1), (-1, 0)),
    (0.5, (-1, 2), (0, 1)),
)
# Diagonal terms where the diagonal neighbours share the centre's colour (G centre).
_DIAGONAL_TERMS_SAME: tuple[Term, ...] = (
    (1.0, (-1, 1), (1, -1)),
    (1.0, (-2, 2), (0, 0)),
    (1.0, (-2, 1), (0, -1)),
    (1.0, (-1, 2), (1, 0)),
)
_NEIGHBOURS: tuple[Offset, ...] = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)


def _rotate(offset: Offset, quarter_turns: int) -> Offset:
    dy, dx = offset
    for _ in range(quarter_turns % 4):
        dy, dx = dx, -dy
    return dy, dx


def _directions() -> list[tuple[Offset, bool]]:
    """The eight unit directions (N, NE, E, SE, S, SW, W, NW) and whether each is diagonal."""
    out: list[tuple[Offset, bool]] = []
    for turn in range(4):
        out.append((_rotate((-1, 0), turn), False))
        out.append((_rotate((-1, 1), turn), True))
    return out


def _estimate_sources(colour_at, d: Offset, channel: int, centre: int) -> list[Offset]:
    """The samples whose mean estimates ``channel`` at the neighbour ``d`` of the centre."""
    if colour_at(d) == channel:
        return [d]
    far = (2 * d[0], 2 * d[1])
    if channel == centre and colour_at(far) == channel:
        return [(0, 0), far]
    near = [(d[0] + e[0], d[1] + e[1]) for e in _NEIGHBOURS]
    found = [o for o in near if colour_at(o) == channel]
    if found:
        return found
    ring = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if colour_at((dy, dx)) == channel]
    best = min((oy - d[0]) ** 2 + (ox - d[1]) ** 2 for oy, ox in ring)
    return [o for o in ring if (o[0] - d[0]) ** 2 + (o[1] - d[1]) ** 2 == best]


@functools.lru_cache(maxsize=16)
def vng_tables(pattern_text: str) -> tuple[np.ndarray, ...]:
    """The VNG rules of a 2×2 pattern as arrays, per CFA phase ``2·(y mod 2) + (x mod 2)``.

    Returns ``(centre, others, same_diagonal, n_sources, source_offsets)``: the phase's own
    channel and its two missing ones; whether its diagonal neighbours share its colour
    (which selects the diagonal gradient terms); and for each of the eight directions the
    samples whose mean estimates, at the neighbour in that direction, the centre's channel
    (slot 0) and the two missing channels (slots 1, 2).  The gradient terms themselves are
    written out in :mod:`processes.debayer.demosaic_nb`.
    """
    pattern = CFAPattern(pattern_text)
    directions = _directions()
    centre = np.zeros(4, dtype=np.int64)
    others = np.zeros((4, 2), dtype=np.int64)
    same = np.zeros(4, dtype=np.bool_)
    sources: dict[tuple[int, int, int], list[Offset]] = {}
    for phase in range(4):
        py, px = divmod(phase, 2)

        def colour_at(o: Offset, py: int = py, px: int = px) -> int:
            return pattern.channel_at(py + o[0], px + o[1])

        c0 = colour_at((0, 0))
        centre[phase] = c0
        rest = [c for c in range(3) if c != c0]
        others[phase] = rest
        same[phase] = colour_at((1, 1)) == c0
        for t, (d, _diagonal) in enumerate(directions):
            for slot, channel in enumerate([c0, *rest]):
                sources[phase, t, slot] = _estimate_sources(colour_at, d, channel, c0)
    width = max(len(v) for v in sources.values())
    n_sources = np.zeros((4, 8, 3), dtype=np.int64)
    source_offsets = np.zeros((4, 8, 3, width, 2), dtype=np.int64)
    for (phase, t, slot), offsets in sources.items():
        n_sources[phase, t, slot] = len(offsets)
        source_offsets[phase, t, slot, : len(offsets)] = offsets
    return centre, others, same, n_sources, source_offsets


def vng(raw: np.ndarray, pattern: CFAPattern) -> np.ndarray:
    """Full-size RGB by Variable Number of Gradients interpolation (see the module docstring).

    Compiled passes (:mod:`processes.debayer.demosaic_nb`) compute, per pixel, the eight
    gradients, the threshold and the colour-difference means, in float32 with the same
    operations in the same order as the array formulation, so results are bit-identical;
    Bayer patterns run vectorized per CFA phase, other 2×2 patterns through rule tables.
    """
    from processes.debayer import demosaic_nb

    raw = _check_raw(raw, 3)
    height, width = raw.shape
    lo, hi = np.float32(min(float(raw.min()), 0.0)), np.float32(max(float(raw.max()), 1.0))
    if pattern.is_bayer:  # the padded frame's phase planes, made from raw (no padded copy), before the output
        planes = _phase_planes(raw)
        out = np.empty((3, height, width), dtype=np.float32)
        _vng_bayer(planes, pattern, lo, hi, out)
    else:
        out = np.empty((3, height, width), dtype=np.float32)
        demosaic_nb.vng_kernel(_padded(raw), *vng_tables(pattern.text), lo, hi, out)
    return out


def _padded(raw: np.ndarray) -> np.ndarray:
    """``raw`` with 2 mirrored pixels on every side (``reflect`` keeps the CFA phase at the borders)."""
    return np.pad(raw, 2, mode="reflect")


def _reflected(size: int) -> np.ndarray:
    """The index along an axis of ``size`` (≥ 3) of each of the ``size + 4`` positions that ``_padded`` makes."""
    index = np.abs(np.arange(-2, size + 2))
    return np.where(index > size - 1, 2 * (size - 1) - index, index)


def _phase_planes(raw: np.ndarray) -> np.ndarray:
    """The four CFA phase planes of ``_padded(raw)`` (4, ⌈(H + 4)/2⌉, ⌈(W + 4)/2⌉):
    ``planes[2·qy + qx] = padded[qy::2, qx::2]``, zero where a phase has a row or column fewer, made
    from ``raw`` itself: no padded copy (one frame less while the planes are made, and no hole of a
    frame's size left in the heap below the output).  A phase plane's first and last rows and columns
    are mirrored ones; its inside is ``raw[qy::2, qx::2]``."""
    height, width = raw.shape
    planes = np.zeros((4, (height + 5) // 2, (width + 5) // 2), dtype=np.float32)
    ys, xs = _reflected(height), _reflected(width)
    for qy in (0, 1):
        rows = ys[qy::2]
        for qx in (0, 1):
            cols = xs[qx::2]
            plane = planes[2 * qy + qx]
            plane[1 : rows.size - 1, 1 : cols.size - 1] = raw[qy::2, qx::2]
            for i in (0, rows.size - 1):
                plane[i, : cols.size] = raw[rows[i], cols]
            for j in (0, cols.size - 1):
                plane[: rows.size, j] = raw[rows, cols[j]]
    return planes


_BAND_ROWS = 32
"""Rows of a CFA phase (64 rows of the frame) the Bayer VNG interpolates before interleaving them into the
output: the phases' values (3 channels × 2 phases × band) stay in cache and take ~0.5 MB, not 12 MB."""


def _vng_bayer(planes: np.ndarray, pattern: CFAPattern, lo: np.float32, hi: np.float32, out: np.ndarray) -> None:
    """Bayer VNG by the compiled per-phase kernels (the rules written out), which read the
    four phase planes of the padded frame (:func:`_phase_planes`) with unit stride, so the
    compiler vectorizes them; each pair of row phases is then interleaved into ``out`` in one
    compiled pass that writes the output rows in order (no strided copies).  A site's own
    sample, ``padded[2 + y, 2 + x]``, is ``planes[2·(y % 2) + x % 2, 1 + y // 2, 1 + x // 2]``.

    Both kernels work in bands of :data:`_BAND_ROWS` phase rows: a kernel called with row phase
    ``py + 2·b`` reads (and the interleaving writes) the rows of phase ``py`` from phase row ``b``
    on, as the frame's rows ``py + 2·b, py + 2·b + 2, …`` are those of the same phase."""
    from processes.debayer import demosaic_nb

    green_kernel, red_blue_kernel = demosaic_nb.bayer_phase_kernels()
    height, width = out.shape[1:]
    for py in (0, 1):
        ny = (height - py + 1) // 2
        slots = np.zeros((2, 3), dtype=np.int64)  # slots[px, channel]: where that channel is
        for first in range(0, ny, _BAND_ROWS):
            rows = min(_BAND_ROWS, ny - first)
            phase_row = py + 2 * first
            # per phase of the row: its two interpolated channels, then its own (clipped) sample
            phases = []
            for px in (0, 1):
                nx = (width - px + 1) // 2
                values = np.empty((3, rows, nx), dtype=np.float32)
                c0 = pattern.channel_at(py, px)
                if c0 == 1:  # green: the colour of the row neighbours, then of the column ones
                    c1 = pattern.channel_at(py, px + 1)
                    green_kernel(planes, phase_row, px, lo, hi, values[:2])
                else:  # red or blue: green, then the colour on the diagonals
                    c1 = 1
                    red_blue_kernel(planes, phase_row, px, lo, hi, values[:2])
                np.clip(planes[2 * py + px, 1 + first : 1 + first + rows, 1 : 1 + nx], lo, hi, out=values[2])
                slots[px, [c1, 3 - c0 - c1, c0]] = (0, 1, 2)
                phases.append(values)
            demosaic_nb.interleave_phases(phases[0], phases[1], slots[0], slots[1], phase_row, out)


def demosaic(raw: np.ndarray, pattern: CFAPattern, method: str = "VNG") -> np.ndarray:
    """Demosaic ``raw`` with ``method`` (``SuperPixel``, ``Bilinear`` or ``VNG``)."""
    funcs = {"SuperPixel": superpixel, "Bilinear": bilinear, "VNG": vng}
    if method not in funcs:
        raise ValueError(f"unknown demosaicing method {method!r}; expected one of {', '.join(METHODS)}")
    return funcs[method](raw, pattern)
