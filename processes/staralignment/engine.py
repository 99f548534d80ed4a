"""The registration engine: star lists in, a fitted registration (or a reason for failure) out.

:func:`align_stars` matches the brightest stars of both frames by triangle descriptors
(:mod:`~processes.staralignment.matching`), runs RANSAC over the matched triangles and fits
the requested model to every star pair it can then find (:mod:`~processes.staralignment.ransac`).
When the brightest stars do not give a match (little overlap, very different depths) it
retries with more stars.  Failures raise :class:`AlignmentError` with a reason a person can
act on: ``too few stars (3 < 6)``, ``no asterism match: ...``.  A registration is accepted
only when at least :data:`MIN_STARS` star pairs and :data:`MIN_TRIANGLES` matched triangles
agree with it, which rejects chance alignments of unrelated star fields.
"""

from __future__ import annotations

import logging

import attrs
import numpy as np

from processes.staralignment import matching, models
from processes.staralignment.ransac import RansacSettings, Registration, ransac
from processes.staralignment.stars import StarList
from procfw.errors import ExecutionError

__all__ = ["MIN_STARS", "AlignmentError", "MatchSettings", "align_stars"]

log = logging.getLogger(__name__)

MIN_STARS = 6
"""Fewest detected stars a frame needs, and fewest star pairs a registration needs."""

MIN_TRIANGLES = 3
"""Fewest matched triangles whose three star pairs all agree with the final registration.

A true registration is confirmed by many matched triangles (tens to hundreds); a chance
alignment of a few unrelated stars by one or two."""

_TRIANGLE_STARS = (40, 80, 160)
"""How many of the brightest stars build triangles, tried in turn until a match is found."""


class AlignmentError(ExecutionError):
    """A frame could not be registered; the message says why."""


@attrs.frozen(kw_only=True)
class MatchSettings:
    """Star matching parameters (PixInsight's StarAlignment star matching parameters)."""

    model: str = "homography"
    matcher_tolerance: float = 0.05
    ransac: RansacSettings = RansacSettings()
    descriptors_per_star: int = 20
    use_scale_differences: bool = False
    scale_tolerance: float = 0.1
    use_brightness_relations: bool = False

    @property
    def descriptor_tolerance(self) -> float:
        """Distance between triangle invariants accepted as a match (half the matcher tolerance)."""
        return 0.5 * float(self.matcher_tolerance)


def check_star_count(stars: StarList, what: str = "") -> None:
    """Raise AlignmentError when ``stars`` has fewer than :data:`MIN_STARS` stars."""
    if len(stars) < MIN_STARS:
        prefix = f"{what}: " if what else ""
        raise AlignmentError(f"{prefix}too few stars ({len(stars)} < {MIN_STARS})")


def align_stars(ref: StarList, tgt: StarList, settings: MatchSettings | None = None) -> Registration:
    """Register the target star field ``tgt`` onto the reference star field ``ref``.

    Returns the fitted :class:`Registration` (matrix mapping reference → target pixels);
    raises :class:`AlignmentError` when either field has too few stars or no consistent
    asterism match exists.
    """
    settings = settings or MatchSettings()
    check_star_count(ref, "reference image")
    check_star_count(tgt)
    ref_xy, tgt_xy = ref.xy, tgt.xy
    neighbours = matching.neighbours_for(settings.descriptors_per_star)
    reasons: list[str] = []
    tried: set[tuple[int, int]] = set()
    for count in _TRIANGLE_STARS:
        nr, nt = min(count, len(ref)), min(count, len(tgt))
        if (nr, nt) in tried:
            continue
        tried.add((nr, nt))
        result, why = _attempt(ref, tgt, ref_xy, tgt_xy, nr, nt, neighbours, settings)
        if result is not None:
            return result
        reasons.append(why)
    raise AlignmentError(f"no asterism match: {reasons[-1]}")


def _attempt(ref, tgt, ref_xy, tgt_xy, nr, nt, neighbours, settings) -> tuple[Registration | None, str]:
    tri_r = matching.build_triangles(ref_xy[:nr], neighbours)
    tri_t = matching.build_triangles(tgt_xy[:nt], neighbours)
    if len(tri_r) == 0 or len(tri_t) == 0:
        return None, "the stars form no usable triangles"
    found = matching.match_triangles(tri_r, tri_t, settings.descriptor_tolerance)
    if settings.use_scale_differences:
        found = matching.consistent_scale(found, settings.scale_tolerance)
    if settings.use_brightness_relations:
        found = matching.consistent_brightness(found, ref.flux, tgt.flux)
    if len(found) == 0:
        return None, f"no similar triangles between the {nr} brightest reference and {nt} target stars"
    parity = matching.dominant_parity(found)
    found = found.take(np.flatnonzero(found.parity == parity))
    votes = matching.vote_matrix(found, nr, nt)
    support = votes[found.ref, found.tgt].sum(axis=1).astype(np.float64) - found.distance
    result = ransac(
        ref_xy, tgt_xy, found, settings.model, parity, settings.ransac,
        (ref.width, ref.height), (tgt.width, tgt.height), support=support, min_inliers=MIN_STARS,
    )
    if result is None:
        return None, (f"{len(found)} matched triangles, but no transformation maps {MIN_STARS} or more star pairs "
                      f"within ransacTolerance = {settings.ransac.tolerance:g} px")
    mapping = np.full(len(ref_xy), -1, dtype=np.int64)
    mapping[result.ref_index] = result.tgt_index
    consistent = int((mapping[found.ref] == found.tgt).all(axis=1).sum())
    if consistent < MIN_TRIANGLES:
        return None, (f"the best transformation ({result.inliers} star pairs) agrees with only {consistent} of "
                      f"{len(found)} matched triangles (a chance alignment)")
    log.debug("aligned with %d triangle stars: %d pairs, rms %.3f px", nr, result.inliers, result.rms)
    putative = _mutual_best(votes)
    return attrs.evolve(result, putative=int(putative.size), triangles=len(found), putative_index=putative), ""


def _mutual_best(votes: np.ndarray) -> np.ndarray:
    """Target stars whose most-voted reference star votes most for them too (putative star pairs)."""
    if votes.size == 0:
        return np.zeros(0, dtype=np.int64)
    best_ref = votes.argmax(axis=0)
    best_tgt = votes.argmax(axis=1)
    tgt = np.arange(votes.shape[1])
    mutual = (votes[best_ref, tgt] > 0) & (best_tgt[best_ref] == tgt)
    return tgt[mutual]


def describe(registration: Registration) -> dict[str, float]:
    """The registration's matrix decomposed (translation, rotation, scale, skew, mirror)."""
    return models.decompose(registration.matrix)
