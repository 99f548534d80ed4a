"""A simulated linear LRGB set with known truth: four mono frames of one sky through L, R, G and B filters.

Deterministic by seed; only numpy and scipy.  Stars are drawn with the frame simulator's
PSF renderer (:func:`processes.simulation.camera.render_scene`), so the two simulators
share their star and sky-gradient pieces.

Model, in procfw's normalized units ([0, 1] is the full range of the file)::

    scene_c(x) = sky(x) + nebula_c(x) + stars_c(x)          for c in R, G, B
    scene_L(x) = (scene_R + scene_G + scene_B) / 3          (L sees the three bands)
    frame_c(x) = offset_c + gain_c · scene_c(x) + noise,     clipped to [0, 1]

* ``sky``: ``sky_level`` at the centre with a linear gradient: the sky changes by the
  fraction ``gradient`` across the frame along a direction drawn from the seed.  The sky
  is neutral (grey) in the scene: its colour cast comes from the channel gains and
  offsets alone, so the frames of a neutral patch of sky obey exactly
  ``frame_g = offset_g + gain_g/gain_c · (frame_c − offset_c)`` — the straight line
  that LinearFit finds.
* ``nebula_c``: two emission components (a red, H-alpha-like one and a teal, OIII-like
  one), each a few elliptical Gaussian blobs modulated by log-normal fractal noise
  (power spectrum ∝ k^-3.2), dimmed by a fractal dust lane; scaled so that the largest
  value of the grey mean of the three channels is ``nebula_strength``.
* ``stars_c``: ``star_count`` stars at uniform random positions; magnitudes follow star
  counts ``N(<m) ∝ 10^(0.3·m)`` over ``star_range`` magnitudes below the brightest, whose
  peak (before the gains, the mean of its colour weights being 1) is ``star_peak`` (> 1
  saturates after the gain); colours are
  black bodies of temperatures drawn log-normally around 5500 K, seen at 620, 530 and
  460 nm, normalized to a mean of 1 (so the lightness of a star does not depend on its
  colour); Moffat (β = 4) or Gaussian PSF of ``fwhm`` pixels.
* noise: shot noise as a Gaussian with variance ``gain_c·scene_c / E`` where
  ``E = 10⁶ / noise²`` (photo-electrons per unit, a Poisson approximation fit for
  large counts), plus read noise of σ ``0.0001·noise``; ``noise = 0`` gives noiseless
  frames.  Each channel has its own noise stream.

The default gains and offsets (see :data:`DEFAULT_GAINS`, :data:`DEFAULT_OFFSETS`) give
a red-tinted, unequal set: R is weaker and lifted, B stronger, L the strongest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import attrs
import numpy as np

from processes.simulation.camera import Scene, Star, render_scene

__all__ = [
    "CHANNELS",
    "DEFAULT_GAINS",
    "DEFAULT_OFFSETS",
    "LRGBModel",
    "LRGBSet",
    "blackbody_colors",
    "fractal_noise",
    "nebula",
    "peak_per_unit_flux",
    "random_stars",
    "render_lrgb",
]

CHANNELS = ("L", "R", "G", "B")
"""The filters of a set, in the order of the returned frames."""

DEFAULT_GAINS = {"L": 1.8, "R": 0.8, "G": 1.0, "B": 1.3}
"""Default scale of each channel (filter throughput × exposure, relative to G)."""

DEFAULT_OFFSETS = {"L": 0.008, "R": 0.015, "G": 0.005, "B": 0.010}
"""Default pedestal of each channel (light pollution, calibration residue), normalized units."""

BAND_WAVELENGTHS_NM = (620.0, 530.0, 460.0)
"""Effective wavelengths at which star colours are evaluated for R, G and B."""

ELECTRONS_PER_UNIT = 1_000_000.0
"""Photo-electrons per normalized unit at ``noise = 1`` (sets the shot noise)."""

READ_NOISE = 0.0001
"""Read noise σ (normalized units) at ``noise = 1``."""

_HALPHA = (1.0, 0.32, 0.42)
_OIII = (0.30, 0.85, 1.0)
_MOFFAT_BETA = 4.0


@attrs.frozen(kw_only=True)
class LRGBModel:
    """What to simulate (see the module docstring); every field has the documented default."""

    width: int = 1024
    height: int = 768
    seed: int = 1
    star_count: int = 1500
    star_peak: float = 1.5
    star_range: float = 9.0
    """Magnitudes between the brightest and the faintest star."""
    fwhm: float = 3.0
    psf: str = "moffat"
    sky_level: float = 0.05
    gradient: float = 0.3
    nebula_strength: float = 0.02
    noise: float = 1.0
    gains: Mapping[str, float] = attrs.field(factory=lambda: dict(DEFAULT_GAINS))
    offsets: Mapping[str, float] = attrs.field(factory=lambda: dict(DEFAULT_OFFSETS))

    def __attrs_post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"the frame size must be positive, not {self.width}x{self.height}")
        if self.psf not in ("moffat", "gaussian"):
            raise ValueError(f"psf must be 'moffat' or 'gaussian', not {self.psf!r}")
        for name in ("gains", "offsets"):
            table = getattr(self, name)
            missing = [c for c in CHANNELS if c not in table]
            if missing:
                raise ValueError(f"{name} lacks channel(s) {', '.join(missing)}")


@attrs.frozen(kw_only=True, eq=False)
class LRGBSet:
    """A rendered set: the frames and the noiseless truth.

    ``frames`` maps L, R, G, B to (height, width) float32 arrays in [0, 1]; ``scene`` is
    the noiseless R, G, B scene before gains and offsets, (3, height, width) float32;
    ``sky``, ``nebula`` (3, h, w) and ``stars`` (3, h, w) are its parts; ``star_table``
    is an (n, 6) array of x, y, peak and the R, G, B colour weights.
    """

    model: LRGBModel
    frames: dict[str, np.ndarray]
    scene: np.ndarray
    sky: np.ndarray
    nebula: np.ndarray
    stars: np.ndarray
    star_table: np.ndarray

    def expected(self, channel: str) -> np.ndarray:
        """The noiseless frame of ``channel`` (before clipping), float64."""
        gain, offset = self.model.gains[channel], self.model.offsets[channel]
        scene = self.scene.mean(axis=0, dtype=np.float64) if channel == "L" else self.scene[
            "RGB".index(channel)
        ].astype(np.float64)
        return offset + gain * scene

    def background_mask(self, fraction: float = 0.02) -> np.ndarray:
        """Pixels where neither nebula nor stars add more than ``fraction`` of the sky level."""
        extra = self.nebula.max(axis=0) + self.stars.max(axis=0)
        return extra < fraction * max(self.model.sky_level, 1e-12)


def _rng(seed: int, tag: int, *more: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), tag, *more]))


def blackbody_colors(temperatures: np.ndarray) -> np.ndarray:
    """R, G, B weights (n, 3) of black bodies at ``temperatures`` (K), each row of mean 1."""
    t = np.asarray(temperatures, dtype=np.float64)[:, None]
    wl = np.asarray(BAND_WAVELENGTHS_NM)[None, :] * 1e-9
    hc_k = 1.438776877e-2  # h·c/k_B, m·K
    radiance = wl**-5 / np.expm1(hc_k / (wl * t))
    return radiance / radiance.mean(axis=1, keepdims=True)


def random_stars(model: LRGBModel) -> list[Star]:
    """The stars of ``model``: positions, fluxes from the count law, black-body colours."""
    rng = _rng(model.seed, 0x57A2)
    n = int(model.star_count)
    xs = rng.uniform(-0.5, model.width - 0.5, n)
    ys = rng.uniform(-0.5, model.height - 0.5, n)
    # N(<m) ∝ 10^(0.3 m) on [0, range]: invert the truncated exponential distribution
    slope = 0.3 * math.log(10)
    u = rng.uniform(0.0, 1.0, n)
    mags = np.log1p(u * math.expm1(slope * model.star_range)) / slope
    if n:
        mags[int(np.argmin(mags))] = 0.0  # the brightest star is the top of the range
    peaks = model.star_peak * 10.0 ** (-0.4 * mags)
    temperatures = np.clip(np.exp(rng.normal(math.log(5500.0), 0.28, n)), 2800.0, 25000.0)
    colors = blackbody_colors(temperatures)
    flux = peaks / peak_per_unit_flux(model)
    return [
        Star(x=float(x), y=float(y), flux=float(f), color=(float(c[0]), float(c[1]), float(c[2])))
        for x, y, f, c in zip(xs, ys, flux, colors)
    ]


def peak_per_unit_flux(model: LRGBModel) -> float:
    """The central value of a unit-flux star of ``model``'s PSF (continuous profile, before pixel integration)."""
    if model.psf == "gaussian":
        sigma = model.fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
        return 1.0 / (2.0 * math.pi * sigma**2)
    alpha = model.fwhm / (2.0 * math.sqrt(2.0 ** (1.0 / _MOFFAT_BETA) - 1.0))
    return (_MOFFAT_BETA - 1.0) / (math.pi * alpha**2)


def fractal_noise(rng: np.random.Generator, shape: tuple[int, int], beta: float = 3.2) -> np.ndarray:
    """Gaussian fractal noise of power spectrum ∝ k^-beta, zero mean and unit σ, float64 (h, w)."""
    h, w = shape
    white = rng.standard_normal((h, w))
    spectrum = np.fft.rfft2(white)
    ky = np.fft.fftfreq(h)[:, None]
    kx = np.fft.rfftfreq(w)[None, :]
    k = np.hypot(ky, kx)
    k[0, 0] = np.inf
    spectrum *= k ** (-beta / 2.0)
    field = np.fft.irfft2(spectrum, s=(h, w))
    field -= field.mean()
    std = field.std()
    return field / std if std > 0 else field


def _blobs(rng: np.random.Generator, h: int, w: int, count: int) -> np.ndarray:
    """A sum of ``count`` elliptical Gaussians placed in the central part of the frame, peak ≈ 1."""
    y = np.arange(h, dtype=np.float64)[:, None]
    x = np.arange(w, dtype=np.float64)[None, :]
    size = min(h, w)
    out = np.zeros((h, w))
    for _ in range(count):
        cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
        sa, sb = rng.uniform(0.05, 0.14, 2) * size
        angle = rng.uniform(0.0, math.pi)
        amplitude = rng.uniform(0.5, 1.0)
        ca, sn = math.cos(angle), math.sin(angle)
        u = (x - cx) * ca + (y - cy) * sn
        v = -(x - cx) * sn + (y - cy) * ca
        out += amplitude * np.exp(-0.5 * ((u / sa) ** 2 + (v / sb) ** 2))
    return out


def nebula(model: LRGBModel) -> np.ndarray:
    """The nebula of ``model``: (3, h, w) float64 R, G, B, grey mean peaking at ``nebula_strength``."""
    h, w = model.height, model.width
    if model.nebula_strength <= 0:
        return np.zeros((3, h, w))
    rng = _rng(model.seed, 0x4EB1)
    out = np.zeros((3, h, w))
    for colour, count in ((_HALPHA, 3), (_OIII, 2)):
        envelope = _blobs(rng, h, w, count)
        structure = np.exp(0.9 * fractal_noise(rng, (h, w)) - 0.405)  # log-normal, mean ≈ 1
        component = envelope * structure
        for c in range(3):
            out[c] += colour[c] * component
    dust = 1.0 - 0.6 * np.clip(fractal_noise(rng, (h, w), 3.5) - 0.5, 0.0, 1.0)
    out *= dust[None]
    peak = float(out.mean(axis=0).max())
    if peak > 0:
        out *= model.nebula_strength / peak
    return out


def _sky(model: LRGBModel) -> tuple[Scene, float]:
    rng = _rng(model.seed, 0x5C1E)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    gx, gy = model.gradient * math.cos(angle), model.gradient * math.sin(angle)
    return Scene(sky=model.sky_level, sky_gradient=(gx, gy), psf=model.psf, fwhm=model.fwhm,
                 moffat_beta=_MOFFAT_BETA), angle


def render_lrgb(model: LRGBModel) -> LRGBSet:
    """Render the frames and the truth of ``model``."""
    h, w = model.height, model.width
    stars = random_stars(model)
    scene_spec, _ = _sky(model)
    scene_spec = attrs.evolve(scene_spec, stars=tuple(stars))
    sky3, star_light = render_scene(scene_spec, h, w, channels=3)
    sky = sky3[0]
    del sky3
    neb = nebula(model)
    scene = (sky[None] + neb + star_light).astype(np.float32)
    frames: dict[str, np.ndarray] = {}
    electrons = ELECTRONS_PER_UNIT / model.noise**2 if model.noise > 0 else 0.0
    for index, channel in enumerate(CHANNELS):
        gain, offset = float(model.gains[channel]), float(model.offsets[channel])
        signal = scene.mean(axis=0, dtype=np.float64) if channel == "L" else scene[index - 1].astype(np.float64)
        signal *= gain
        if model.noise > 0:
            rng = _rng(model.seed, 0x0415E, index)
            noise = rng.standard_normal((h, w))
            noise *= np.sqrt(np.maximum(signal, 0.0) / electrons + (READ_NOISE * model.noise) ** 2)
            signal += noise
        signal += offset
        np.clip(signal, 0.0, 1.0, out=signal)
        frames[channel] = signal.astype(np.float32)
    table = np.array([(s.x, s.y, s.flux * peak_per_unit_flux(model), *s.color) for s in stars]).reshape(-1, 6)
    return LRGBSet(
        model=model, frames=frames, scene=scene, sky=sky.astype(np.float32), nebula=neb.astype(np.float32),
        stars=star_light.astype(np.float32), star_table=table,
    )
