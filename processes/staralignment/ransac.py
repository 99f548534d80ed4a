"""RANSAC over matched triangles, then guided matching and a least-squares fit of the model.

Hypotheses come from matched triangles: each gives three star correspondences, enough for a
similarity (rigid and similarity models) or an affine map (affine and projective models).
They are tried in order of *support* (how many other matched triangles vote for the same
three star pairs), at most ``max_iterations`` of them, in vectorized batches: every hypothesis
is counted (target stars hit within ``tolerance``), the best few of a batch are scored.  A
hypothesis is scored on the star fields themselves: reference stars mapped into the target
within ``tolerance`` pixels of a target star (one-to-one) are its inliers, and its quality is

    q = f · (wI + wO·overlap + wR·regularity + wE·(1 − rms/tolerance)) / (wI + wO + wR + wE)

with ``f`` the inlier fraction (inliers / the smaller star count), ``overlap`` the fraction
of the reference frame the target covers, ``regularity`` how evenly the inliers spread over
it (occupied cells of a 4×4 grid over the cells the overlap can fill) and ``rms`` their
residual — PixInsight's ``ransacMaximizeInliers``, ``ransacMaximizeOverlapping``,
``ransacMaximizeRegularity`` and ``ransacMinimizeError`` weights.  The search stops early
once a hypothesis explains a quarter of the stars and a further batch brings no improvement
(or it explains 90 % of them).

The best hypothesis is then refined: pairs are re-matched with the current model (guided
matching over all detected stars), the requested model is fitted to them by least squares,
and this repeats until the pair set no longer changes.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from processes.kernels.neighbours import SortedPoints, nearest_within
from processes.staralignment import models
from processes.staralignment.matching import TriangleMatches

__all__ = ["RansacSettings", "Registration", "guided_pairs", "ransac"]


@attrs.frozen(kw_only=True)
class RansacSettings:
    """RANSAC parameters (tolerance in pixels; the four quality weights)."""

    tolerance: float = 2.0
    max_iterations: int = 2000
    w_inliers: float = 1.0
    w_overlap: float = 1.0
    w_regularity: float = 1.0
    w_error: float = 1.0


@attrs.frozen(kw_only=True, eq=False)
class Registration:
    """A fitted registration: matrix (reference → target), the inlier star pairs and figures of merit.

    ``rms`` is the root mean square distance, in reference pixels, between the reference
    stars and the matched target stars mapped back into the reference frame;
    ``peak_error_x/y`` the largest absolute residuals along each axis; ``putative`` the
    number of putative star pairs (mutually most voted by the ``triangles`` matched
    triangles), whose target stars are ``putative_index``; ``hypotheses`` the RANSAC
    hypotheses tried.
    """

    matrix: np.ndarray
    model: str
    parity: int
    ref_index: np.ndarray
    tgt_index: np.ndarray
    rms: float
    peak_error_x: float
    peak_error_y: float
    overlap: float
    regularity: float
    quality: float
    hypotheses: int
    putative: int
    triangles: int = 0
    putative_index: np.ndarray = attrs.field(factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def inliers(self) -> int:
        """Number of matched star pairs used by the final fit."""
        return int(self.ref_index.size)


def guided_pairs(
    h: np.ndarray, ref_xy: np.ndarray, tgt_points: SortedPoints, tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one pairs (reference index, target index) within ``tolerance`` target pixels under ``h``
    (``tgt_points``: the target stars, :class:`~processes.kernels.neighbours.SortedPoints`)."""
    dist, tgt_i = nearest_within(tgt_points, models.apply(h, ref_xy), tolerance)  # a non-finite one finds none
    ref_i = np.flatnonzero(np.isfinite(dist))
    tgt_i, dist = tgt_i[ref_i], dist[ref_i]
    if ref_i.size == 0:
        return ref_i, tgt_i.astype(np.int64)
    order = np.argsort(dist, kind="stable")
    ref_i, tgt_i = ref_i[order], tgt_i[order]
    _, first = np.unique(tgt_i, return_index=True)  # the closest reference star wins each target star
    first = np.sort(first)
    return ref_i[first], tgt_i[first].astype(np.int64)


def _back_residuals(h: np.ndarray, ref_xy: np.ndarray, tgt_xy: np.ndarray) -> np.ndarray:
    """Target stars mapped back into the reference frame minus the reference stars, (N, 2)."""
    try:
        inv = np.linalg.inv(h)
    except np.linalg.LinAlgError:
        return np.full_like(ref_xy, np.inf)
    return models.apply(inv, tgt_xy) - ref_xy


def _regularity(ref_xy: np.ndarray, size: tuple[int, int], overlap: float) -> float:
    if ref_xy.size == 0:
        return 0.0
    w, h = size
    cx = np.clip((ref_xy[:, 0] + 0.5) / w * 4, 0, 3.999).astype(int)
    cy = np.clip((ref_xy[:, 1] + 0.5) / h * 4, 0, 3.999).astype(int)
    occupied = len(np.unique(cx * 4 + cy))
    return min(1.0, occupied / max(1.0, round(16 * overlap)))


def _score(
    h: np.ndarray,
    ref_xy: np.ndarray,
    tgt_xy: np.ndarray,
    tgt_points: SortedPoints,
    settings: RansacSettings,
    ref_size: tuple[int, int],
    tgt_size: tuple[int, int],
    possible: int,
) -> tuple[float, int, np.ndarray, np.ndarray, float, float, float]:
    ri, ti = guided_pairs(h, ref_xy, tgt_points, settings.tolerance)
    count = int(ri.size)
    if count == 0:
        return 0.0, 0, ri, ti, 0.0, 0.0, math.inf
    res = models.residuals(h, ref_xy[ri], tgt_xy[ti])
    rms = float(np.sqrt(np.mean(res * res)))
    overlap = models.overlap_fraction(h, ref_size, tgt_size)
    regularity = _regularity(ref_xy[ri], ref_size, overlap)
    weights = (settings.w_inliers, settings.w_overlap, settings.w_regularity, settings.w_error)
    total = sum(weights)
    fraction = count / max(1, possible)
    if total <= 0:
        return fraction, count, ri, ti, overlap, regularity, rms
    merit = (
        settings.w_inliers
        + settings.w_overlap * overlap
        + settings.w_regularity * regularity
        + settings.w_error * max(0.0, 1.0 - rms / settings.tolerance)
    ) / total
    return fraction * merit, count, ri, ti, overlap, regularity, rms


def _batch_hypotheses(model: str, src: np.ndarray, dst: np.ndarray, parity: int) -> np.ndarray:
    """Matrices (B, 3, 3) of ``model`` through B triplets of point pairs ``src``/``dst`` (B, 3, 2).

    ``affine`` solves each exactly determined system; ``similarity``/``rigid`` are batched
    Umeyama fits with the given parity.  Degenerate triplets give NaN matrices.
    """
    b = src.shape[0]
    out = np.full((b, 3, 3), np.nan)
    if model == "affine":
        design = np.concatenate([src, np.ones((b, 3, 1))], axis=2)
        ok = np.abs(np.linalg.det(design)) > 1e-9
        coef = np.linalg.solve(design[ok], dst[ok])  # (b, 3, 2): rows x, y, 1
        h = np.zeros((int(ok.sum()), 3, 3))
        h[:, :2, :] = np.transpose(coef, (0, 2, 1))
        h[:, 2, 2] = 1.0
        out[ok] = h
        return out
    mu_s, mu_d = src.mean(axis=1), dst.mean(axis=1)
    a, d = src - mu_s[:, None], dst - mu_d[:, None]
    var_s = (a * a).sum(axis=(1, 2)) / 3.0
    cov = np.einsum("bki,bkj->bij", d, a) / 3.0
    u, sv, vt = np.linalg.svd(cov)
    sign = parity * np.sign(np.linalg.det(u) * np.linalg.det(vt))
    sign = np.where(sign == 0, 1.0, sign)
    dd = np.stack([np.ones(b), sign], axis=1)
    rot = np.einsum("bij,bj,bjk->bik", u, dd, vt)
    scale = (sv * dd).sum(axis=1) / np.where(var_s > 0, var_s, np.nan) if model == "similarity" else np.ones(b)
    out[:, :2, :2] = scale[:, None, None] * rot
    out[:, :2, 2] = mu_d - scale[:, None] * np.einsum("bij,bj->bi", rot, mu_s)
    out[:, 2] = (0.0, 0.0, 1.0)
    return out


def _batch_counts(hs: np.ndarray, ref_xy: np.ndarray, tgt_points: SortedPoints, tolerance: float) -> np.ndarray:
    """For each matrix of ``hs`` (B, 3, 3): distinct target stars within ``tolerance`` of a mapped reference star."""
    b, n = hs.shape[0], ref_xy.shape[0]
    x, y = ref_xy[:, 0], ref_xy[:, 1]
    # h·(x, y, 1) per hypothesis and star, (B, n) per row, summed in the order einsum("bij,nj->bni") summed
    # it, (h_i0·x + h_i2) + h_i1·y, a tenth of its time
    mapped = [(hs[:, i, 0, None] * x + hs[:, i, 2, None]) + hs[:, i, 1, None] * y for i in range(3)]
    with np.errstate(divide="ignore", invalid="ignore"):
        px = (mapped[0] / mapped[2]).ravel()
        py = (mapped[1] / mapped[2]).ravel()
    _, idx = nearest_within(tgt_points, np.column_stack([px, py]), tolerance)  # non-finite points hit nothing
    hit = np.flatnonzero(idx < len(tgt_points))
    seen = np.zeros((b, len(tgt_points)), dtype=bool)  # which target stars each hypothesis hits
    seen[hit // n, idx[hit]] = True
    return np.count_nonzero(seen, axis=1).astype(np.int64)


def ransac(
    ref_xy: np.ndarray,
    tgt_xy: np.ndarray,
    matches: TriangleMatches,
    model: str,
    parity: int,
    settings: RansacSettings,
    ref_size: tuple[int, int],
    tgt_size: tuple[int, int],
    *,
    support: np.ndarray | None = None,
    min_inliers: int = 6,
    batch: int = 256,
    finalists: int = 4,
) -> Registration | None:
    """The best registration explained by the triangle ``matches`` (None when none reaches ``min_inliers``).

    ``ref_xy``/``tgt_xy`` are all the stars of each frame (brightest first); ``support``
    orders the hypotheses (default: as given).  Hypotheses are evaluated in batches: all are
    counted (distinct target stars hit), the ``finalists`` best of each batch get the full
    quality evaluation.
    """
    if len(matches) == 0 or len(ref_xy) < 2 or len(tgt_xy) < 2:
        return None
    tgt_points = SortedPoints.of(tgt_xy)
    possible = min(len(ref_xy), len(tgt_xy))
    order = np.argsort(-support, kind="stable") if support is not None else np.arange(len(matches))
    keys = np.concatenate([matches.ref, matches.tgt], axis=1)[order]
    _, first = np.unique(keys, axis=0, return_index=True)
    order = order[np.sort(first)][: max(1, settings.max_iterations)]
    hyp_model = {"rigid": "rigid", "similarity": "similarity"}.get(model, "affine")
    best: tuple | None = None
    tried = 0
    for start in range(0, len(order), batch):
        chunk = order[start : start + batch]
        tried += len(chunk)
        hs = _batch_hypotheses(hyp_model, ref_xy[matches.ref[chunk]], tgt_xy[matches.tgt[chunk]], parity)
        valid = np.all(np.isfinite(hs), axis=(1, 2))
        counts = np.where(valid, _batch_counts(np.where(valid[:, None, None], hs, np.eye(3)), ref_xy, tgt_points,
                                               settings.tolerance), 0)
        improved = False
        for k in np.argsort(-counts, kind="stable")[:finalists]:
            if counts[k] < 3 or (best is not None and counts[k] < best[0][1] // 2):
                break
            scored = _score(hs[k], ref_xy, tgt_xy, tgt_points, settings, ref_size, tgt_size, possible)
            if best is None or scored[0] > best[0][0]:
                best = (scored, hs[k])
                improved = True
        count = best[0][1] if best is not None else 0
        if count >= max(min_inliers, 0.25 * possible) and (not improved or count >= 0.9 * possible):
            break
    if best is None or best[0][1] < max(min_inliers, models.MIN_POINTS[model]):
        return None
    return _refine(best[1], ref_xy, tgt_xy, tgt_points, model, parity, settings, ref_size, tgt_size, possible,
                   tried, len(matches), min_inliers)


def _refine(h, ref_xy, tgt_xy, tgt_points, model, parity, settings, ref_size, tgt_size, possible, tried, putative,
            min_inliers) -> Registration | None:
    ri, ti = guided_pairs(h, ref_xy, tgt_points, settings.tolerance)
    previous: tuple[bytes, bytes] | None = None
    for _ in range(20):
        if ri.size < max(min_inliers, models.MIN_POINTS[model]):
            return None
        try:
            h_new = models.fit(model, ref_xy[ri], tgt_xy[ti], parity=parity)
        except (ValueError, np.linalg.LinAlgError):
            break
        h = h_new
        ri_new, ti_new = guided_pairs(h, ref_xy, tgt_points, settings.tolerance)
        key = (ri_new.tobytes(), ti_new.tobytes())
        if key == previous or (ri_new.size == ri.size and np.array_equal(ri_new, ri) and np.array_equal(ti_new, ti)):
            ri, ti = ri_new, ti_new
            break
        previous = (ri.tobytes(), ti.tobytes())
        ri, ti = ri_new, ti_new
    if ri.size < max(min_inliers, models.MIN_POINTS[model]):
        return None
    h = models.fit(model, ref_xy[ri], tgt_xy[ti], parity=parity)
    h = h / h[2, 2]
    back = _back_residuals(h, ref_xy[ri], tgt_xy[ti])
    rms = float(np.sqrt(np.mean((back * back).sum(axis=1))))
    quality, _, _, _, overlap, regularity, _ = _score(h, ref_xy, tgt_xy, tgt_points, settings, ref_size, tgt_size,
                                                      possible)
    return Registration(
        matrix=h,
        model=model,
        parity=int(np.sign(np.linalg.det(h[:2, :2]))) or 1,
        ref_index=ri,
        tgt_index=ti,
        rms=rms,
        peak_error_x=float(np.abs(back[:, 0]).max()),
        peak_error_y=float(np.abs(back[:, 1]).max()),
        overlap=overlap,
        regularity=regularity,
        quality=quality,
        hypotheses=tried,
        putative=putative,
    )
