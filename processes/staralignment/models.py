"""Transformation models: least-squares fits of point correspondences and their geometry.

Every model is a 3×3 matrix ``H`` acting on homogeneous pixel coordinates (pixel centres at
integer coordinates, x along columns, y along rows) that maps *reference* positions to
*target* positions: ``[x', y', w]ᵀ = H·[x, y, 1]ᵀ``, target = ``(x'/w, y'/w)``.  That is the
direction resampling needs (for each output pixel of the reference grid, where to sample the
target) and the one PixInsight stores in its registration matrices.

Models, by degrees of freedom:

``rigid`` (3 + mirror)
    rotation and translation, optionally mirrored (orthogonal Procrustes, Umeyama 1991
    without scale).
``similarity`` (4 + mirror)
    rotation, uniform scale and translation, optionally mirrored (Umeyama 1991).
``affine`` (6)
    any linear map plus translation (shear, anisotropic scale, mirror included).
``homography`` (8)
    the projective transformation, PixInsight's registration model: normalized direct linear
    transformation (Hartley 1997) refined by Gauss–Newton on the target-plane transfer error.

``parity`` (+1 proper, −1 mirrored, None either) constrains the rigid and similarity fits;
the affine and projective models include reflections by themselves.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "MIN_POINTS",
    "MODELS",
    "apply",
    "decompose",
    "fit",
    "jacobian_scale",
    "overlap_fraction",
    "residuals",
]

MODELS: tuple[str, ...] = ("rigid", "similarity", "affine", "homography")
MIN_POINTS: dict[str, int] = {"rigid": 2, "similarity": 2, "affine": 3, "homography": 4}
"""Smallest number of correspondences that determines each model."""


def apply(h: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Transform (N, 2) points by ``h``; points mapped to infinity come back as NaN."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    x, y = xy[:, 0], xy[:, 1]
    xp = h[0, 0] * x + h[0, 1] * y + h[0, 2]
    yp = h[1, 0] * x + h[1, 1] * y + h[1, 2]
    w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.column_stack([xp / w, yp / w])
    out[np.abs(w) < 1e-12] = np.nan
    return out


def residuals(h: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Distances |H(src) − dst| in target pixels, (N,)."""
    d = apply(h, src) - dst
    return np.hypot(d[:, 0], d[:, 1])


def _normalizer(xy: np.ndarray) -> np.ndarray:
    """Hartley normalization: centroid to the origin, mean distance √2."""
    c = xy.mean(axis=0)
    d = np.sqrt(((xy - c) ** 2).sum(axis=1)).mean()
    s = math.sqrt(2.0) / d if d > 0 else 1.0
    return np.array([[s, 0.0, -s * c[0]], [0.0, s, -s * c[1]], [0.0, 0.0, 1.0]])


def _umeyama(src: np.ndarray, dst: np.ndarray, *, scale: bool, parity: int | None) -> np.ndarray:
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - mu_s, dst - mu_d
    var_s = (a * a).sum() / len(src)
    cov = b.T @ a / len(src)
    u, sv, vt = np.linalg.svd(cov)
    best: tuple[float, np.ndarray] | None = None
    for sign in (1, -1) if parity is None else (parity,):
        # choose D so that det(U D Vᵀ) = sign
        d = np.array([1.0, sign * np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
        rot = u @ np.diag(d) @ vt
        s = float((sv * d).sum() / var_s) if scale and var_s > 0 else 1.0
        h = np.eye(3)
        h[:2, :2] = s * rot
        h[:2, 2] = mu_d - s * rot @ mu_s
        err = float((residuals(h, src, dst) ** 2).sum())
        if best is None or err < best[0]:
            best = (err, h)
    assert best is not None
    return best[1]


def _affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    ts, td = _normalizer(src), _normalizer(dst)
    s = apply(ts, src)
    d = apply(td, dst)
    design = np.column_stack([s, np.ones(len(s))])
    coef, *_ = np.linalg.lstsq(design, d, rcond=None)
    hn = np.eye(3)
    hn[:2, :] = coef.T
    return np.linalg.inv(td) @ hn @ ts


def _dlt(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    ts, td = _normalizer(src), _normalizer(dst)
    s = apply(ts, src)
    d = apply(td, dst)
    n = len(s)
    rows = np.zeros((2 * n, 9))
    x, y = s[:, 0], s[:, 1]
    u, v = d[:, 0], d[:, 1]
    rows[0::2, 0:3] = np.column_stack([x, y, np.ones(n)])
    rows[0::2, 6:9] = -u[:, None] * np.column_stack([x, y, np.ones(n)])
    rows[1::2, 3:6] = np.column_stack([x, y, np.ones(n)])
    rows[1::2, 6:9] = -v[:, None] * np.column_stack([x, y, np.ones(n)])
    _, _, vt = np.linalg.svd(rows, full_matrices=False)
    hn = vt[-1].reshape(3, 3)
    h = np.linalg.inv(td) @ hn @ ts
    return h / h[2, 2] if abs(h[2, 2]) > 1e-15 else h


def _refine_homography(h: np.ndarray, src: np.ndarray, dst: np.ndarray, iterations: int = 10) -> np.ndarray:
    """Gauss–Newton on the transfer error in normalized coordinates (h33 = 1)."""
    ts, td = _normalizer(src), _normalizer(dst)
    s = apply(ts, src)
    d = apply(td, dst)
    hn = td @ h @ np.linalg.inv(ts)
    if abs(hn[2, 2]) < 1e-15:
        return h
    p = (hn / hn[2, 2]).ravel()[:8].copy()
    x, y = s[:, 0], s[:, 1]

    def model(q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        w = q[6] * x + q[7] * y + 1.0
        u = (q[0] * x + q[1] * y + q[2]) / w
        v = (q[3] * x + q[4] * y + q[5]) / w
        return u, v, w

    u, v, w = model(p)
    cost = float(((u - d[:, 0]) ** 2 + (v - d[:, 1]) ** 2).sum())
    for _ in range(iterations):
        one = np.ones_like(x)
        zero = np.zeros_like(x)
        ju = np.column_stack([x / w, y / w, one / w, zero, zero, zero, -u * x / w, -u * y / w])
        jv = np.column_stack([zero, zero, zero, x / w, y / w, one / w, -v * x / w, -v * y / w])
        jac = np.vstack([ju, jv])
        r = np.concatenate([u - d[:, 0], v - d[:, 1]])
        step, *_ = np.linalg.lstsq(jac, -r, rcond=None)
        trial = p + step
        tu, tv, tw = model(trial)
        new_cost = float(((tu - d[:, 0]) ** 2 + (tv - d[:, 1]) ** 2).sum())
        if not math.isfinite(new_cost) or new_cost >= cost:
            break
        p, u, v, w, cost = trial, tu, tv, tw, new_cost
        if float(np.abs(step).max()) < 1e-12:
            break
    hn = np.append(p, 1.0).reshape(3, 3)
    out = np.linalg.inv(td) @ hn @ ts
    return out / out[2, 2]


def fit(model: str, src: np.ndarray, dst: np.ndarray, *, parity: int | None = None) -> np.ndarray:
    """The ``model`` matrix mapping ``src`` (reference) points onto ``dst`` (target) points.

    Least squares over all pairs; raises ValueError with fewer than :data:`MIN_POINTS`
    pairs or degenerate (collinear, coincident) points.
    """
    src = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    if model not in MIN_POINTS:
        raise ValueError(f"unknown transformation model {model!r}; expected one of {', '.join(MODELS)}")
    if len(src) != len(dst):
        raise ValueError("src and dst must have the same number of points")
    if len(src) < MIN_POINTS[model]:
        raise ValueError(f"a {model} transformation needs {MIN_POINTS[model]} point pairs, got {len(src)}")
    if model in ("rigid", "similarity"):
        h = _umeyama(src, dst, scale=model == "similarity", parity=parity)
    elif model == "affine":
        h = _affine(src, dst)
    else:
        h = _refine_homography(_dlt(src, dst), src, dst)
    if not np.all(np.isfinite(h)) or abs(np.linalg.det(h[:2, :2])) < 1e-12:
        raise ValueError(f"degenerate point configuration for a {model} transformation")
    return h


def jacobian_scale(h: np.ndarray, x: float, y: float) -> float:
    """√|det J| of the mapping at (x, y): target pixels per reference pixel (linear scale)."""
    w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    p = apply(h, np.array([[x, y]]))[0]
    j = (h[:2, :2] - np.outer(p, h[2, :2])) / w
    return math.sqrt(abs(float(np.linalg.det(j))))


def decompose(h: np.ndarray) -> dict[str, float]:
    """Translation, rotation (degrees), scale, shear and mirror of the linear part of ``h`` (at the origin).

    ``A = R·S·K`` style: rotation of the first column, ``scale`` = √|det A|, ``scaleX``/``scaleY``
    the column norms, ``skew`` the angle between the transformed axes minus 90°, ``mirror``
    true when det A < 0.  For a homography the projective terms are reported as h31, h32.
    """
    a = h[:2, :2] / h[2, 2]
    det = float(np.linalg.det(a))
    c0, c1 = a[:, 0], a[:, 1]
    rotation = math.degrees(math.atan2(c0[1], c0[0]))
    angle = math.degrees(math.acos(max(-1.0, min(1.0, float(c0 @ c1) / (np.linalg.norm(c0) * np.linalg.norm(c1))))))
    return {
        "dx": float(h[0, 2] / h[2, 2]),
        "dy": float(h[1, 2] / h[2, 2]),
        "rotation": rotation,
        "scale": math.sqrt(abs(det)),
        "scaleX": float(np.linalg.norm(c0)),
        "scaleY": float(np.linalg.norm(c1)),
        "skew": angle - 90.0,
        "mirror": det < 0,
        "h31": float(h[2, 0] / h[2, 2]),
        "h32": float(h[2, 1] / h[2, 2]),
    }


def _clip_polygon(poly: list[tuple[float, float]], x0: float, y0: float, x1: float, y1: float):
    """Sutherland–Hodgman clipping of a polygon by an axis-aligned rectangle."""

    def clip(points, inside, intersect):
        out = []
        for i, cur in enumerate(points):
            prev = points[i - 1]
            if inside(cur):
                if not inside(prev):
                    out.append(intersect(prev, cur))
                out.append(cur)
            elif inside(prev):
                out.append(intersect(prev, cur))
        return out

    def at_x(xc):
        return lambda p, q: (xc, p[1] + (q[1] - p[1]) * (xc - p[0]) / (q[0] - p[0]))

    def at_y(yc):
        return lambda p, q: (p[0] + (q[0] - p[0]) * (yc - p[1]) / (q[1] - p[1]), yc)

    for inside, cut in (
        (lambda p: p[0] >= x0, at_x(x0)),
        (lambda p: p[0] <= x1, at_x(x1)),
        (lambda p: p[1] >= y0, at_y(y0)),
        (lambda p: p[1] <= y1, at_y(y1)),
    ):
        if not poly:
            break
        poly = clip(poly, inside, cut)
    return poly


def _area(poly: list[tuple[float, float]]) -> float:
    if len(poly) < 3:
        return 0.0
    p = np.asarray(poly)
    return 0.5 * abs(float(np.dot(p[:, 0], np.roll(p[:, 1], -1)) - np.dot(p[:, 1], np.roll(p[:, 0], -1))))


def overlap_fraction(h: np.ndarray, ref_size: tuple[int, int], tgt_size: tuple[int, int]) -> float:
    """Fraction of the reference frame covered by the target frame mapped into it (0..1).

    ``ref_size``/``tgt_size`` are (width, height).  The target's corners go through H⁻¹
    (exact for affine maps; a good approximation for the mild homographies of registration).
    """
    try:
        inv = np.linalg.inv(h)
    except np.linalg.LinAlgError:
        return 0.0
    tw, th = tgt_size
    corners = np.array([[-0.5, -0.5], [tw - 0.5, -0.5], [tw - 0.5, th - 0.5], [-0.5, th - 0.5]])
    mapped = apply(inv, corners)
    if not np.all(np.isfinite(mapped)):
        return 0.0
    rw, rh = ref_size
    poly = _clip_polygon([tuple(p) for p in mapped], -0.5, -0.5, rw - 0.5, rh - 0.5)
    return min(1.0, _area(poly) / float(rw * rh))
