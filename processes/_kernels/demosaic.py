"""Demosaicing (debayering) of 2×2 CFA raw frames, and the inverse (mosaicing).

All functions take a 2-D raw frame (height, width) and a :class:`~processes._kernels.cfa.CFAPattern`
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

import numpy as np
from scipy import ndimage

from processes._kernels.cfa import CFAPattern

__all__ = ["bilinear", "demosaic", "mosaic", "superpixel", "vng"]

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
    """Half-size RGB: one pixel per 2×2 cell (an odd last row/column is dropped)."""
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


def vng(raw: np.ndarray, pattern: CFAPattern) -> np.ndarray:
    """Full-size RGB by Variable Number of Gradients interpolation (see the module docstring)."""
    raw = _check_raw(raw, 3)
    height, width = raw.shape
    padded = np.pad(raw, 2, mode="reflect")  # 'reflect' keeps the CFA phase at the borders
    out = np.empty((3, height, width), dtype=np.float32)
    directions = _directions()
    for py in (0, 1):
        for px in (0, 1):
            if py >= height or px >= width:
                continue

            def colour_at(o: Offset, py: int = py, px: int = px) -> int:
                return pattern.channel_at(py + o[0], px + o[1])

            def sample(o: Offset, py: int = py, px: int = px) -> np.ndarray:
                y0, x0 = 2 + py + o[0], 2 + px + o[1]
                return padded[y0 : y0 + height - py : 2, x0 : x0 + width - px : 2]

            _vng_phase(sample, colour_at, directions, out[:, py::2, px::2])
    lo, hi = min(float(raw.min()), 0.0), max(float(raw.max()), 1.0)
    np.clip(out, lo, hi, out=out)
    return out


def _vng_phase(sample, colour_at, directions, target: np.ndarray) -> None:
    """VNG for the pixels of one CFA phase (one of the four positions of the 2×2 cell)."""
    centre = colour_at((0, 0))
    same_diagonal = colour_at((1, 1)) == centre
    p0 = sample((0, 0))
    cache: dict[Offset, np.ndarray] = {}

    def s(o: Offset) -> np.ndarray:
        if o not in cache:
            cache[o] = sample(o)
        return cache[o]

    gradients = []
    for turn_index, (_d, diagonal) in enumerate(directions):
        turn = turn_index // 2
        terms = (_DIAGONAL_TERMS_SAME if same_diagonal else _DIAGONAL_TERMS) if diagonal else _AXIAL_TERMS
        g = np.zeros_like(p0)
        for weight, a, b in terms:
            diff = np.abs(s(_rotate(a, turn)) - s(_rotate(b, turn)))
            g += diff if weight == 1.0 else np.float32(weight) * diff
        gradients.append(g)
    grads = np.stack(gradients)
    gmin = grads.min(axis=0)
    gmax = grads.max(axis=0)
    threshold = np.float32(1.5) * gmin + np.float32(0.5) * (gmax - gmin)
    selected = grads <= threshold
    count = selected.sum(axis=0).astype(np.float32)

    others = [c for c in range(3) if c != centre]
    sums = {c: np.zeros_like(p0) for c in others}
    for (d, _), chosen in zip(directions, selected):
        centre_est = _mean_of(s, _estimate_sources(colour_at, d, centre, centre))
        for c in others:
            est = _mean_of(s, _estimate_sources(colour_at, d, c, centre))
            sums[c] += np.where(chosen, est - centre_est, np.float32(0))
    target[centre] = p0
    for c in others:
        target[c] = p0 + sums[c] / count


def _mean_of(s, offsets: list[Offset]) -> np.ndarray:
    total = s(offsets[0]).copy()
    for o in offsets[1:]:
        total += s(o)
    if len(offsets) > 1:
        total /= np.float32(len(offsets))
    return total


def demosaic(raw: np.ndarray, pattern: CFAPattern, method: str = "VNG") -> np.ndarray:
    """Demosaic ``raw`` with ``method`` (``SuperPixel``, ``Bilinear`` or ``VNG``)."""
    funcs = {"SuperPixel": superpixel, "Bilinear": bilinear, "VNG": vng}
    if method not in funcs:
        raise ValueError(f"unknown demosaicing method {method!r}; expected one of {', '.join(METHODS)}")
    return funcs[method](raw, pattern)
