"""Synthetic raw frames with known truth: bias, darks, flats and lights of a simulated camera.

Deterministic by seed; no console, no workspace — only numpy, scipy and procfw's Image/FITS.
Meant for tests of calibration, cosmetic correction, debayering, alignment, integration
and whole pipelines.

Model (all in ADU unless said otherwise; ``gain`` is e⁻/ADU)::

    raw = bias(x) + [ dark_rate(x)·t + response(x)·scene(x)·t ] / gain  + noise,   clipped to 0..65535

* ``bias(x)``: ``bias_level`` plus a fixed column pattern (rms ``bias_column_rms``).
* ``dark_rate(x)``: dark current (e⁻/s) with 10 % pixel-to-pixel variation plus hot
  pixels (a fraction ``hot_pixel_fraction`` with log-uniform rates in ``hot_pixel_rate``);
  dark signal grows linearly with exposure, so a dark of another exposure scales by the
  exposure ratio.
* ``response(x)``: vignetting (radial fall-off, ``vignetting`` at the corners) × pixel
  response non-uniformity (rms ``prnu``) × dead pixels (``dead_pixel_fraction``, response
  ``dead_pixel_response``) × CFA filter transmission; normalized so that its mean over
  each CFA channel is that channel's transmission (mean 1 for mono sensors).
* ``scene(x)``: sky (e⁻/s/px, with a linear gradient) plus stars (Gaussian or Moffat PSF,
  integrated over pixels) plus an optional satellite trail; for CFA sensors the scene is
  RGB and each pixel sees its filter's channel.
* noise: Poisson (shot noise of dark and scene electrons) plus Gaussian read noise,
  then quantization to integers (uint16).

The sensor's fixed pattern (bias pattern, dark map, hot pixels, response) depends only
on ``Camera.seed``; each frame's noise on the frame's own ``seed``.

Coordinates: ``x`` is the column, ``y`` the row (row 0 first in the array and the file),
pixel centres at integers.  A light frame with ``shift=(dx, dy)`` and ``rotation=θ``
(degrees) sees the scene point ``p`` at ``R(θ)·(p − c) + c + (dx, dy)``, with ``c`` the
frame centre and ``R(θ)`` turning +x towards +y (clockwise on a display with row 0 at the
top); ``FrameTruth.stars`` holds the resulting (x, y) positions.

Main entry points::

    cam = Camera(width=256, height=256, bayer_pattern="RGGB", seed=1)
    scene = random_scene(cam, n_stars=60, seed=2)
    bias = bias_frame(cam, seed=10)
    dark = dark_frame(cam, exposure=300, seed=11)
    flat = flat_frame(cam, level=20000, seed=12)
    light = light_frame(cam, scene, exposure=300, seed=13, shift=(3.5, -2.0), rotation=0.2)
    light.write("light_001.fits")           # 16-bit FITS with IMAGETYP, EXPTIME, BAYERPAT, ...
    light.truth.calibrated                   # the photo-signal calibration recovers (ADU), and
    light.truth.expected_calibrated()        # ... scaled exactly as a trimmed-mean flat normalization does
    mb = master_bias(cam, frames=32, seed=20)   # float frames with noise reduced by √frames
    session = write_session("data/", cam, scene, lights=5)   # a whole set on disk

Frames carry their truth in :class:`FrameTruth`; ``Frame.image()`` gives the procfw Image
(ADU / 65535, float32) that reading the written file returns.
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import os
from collections.abc import Sequence
from pathlib import Path

import attrs
import numpy as np
from scipy import special

from processes.kernels.cfa import CFAPattern
from procfw.image import FITSKeyword, Image

__all__ = [
    "Camera",
    "Frame",
    "FrameTruth",
    "SensorMaps",
    "Session",
    "Star",
    "Scene",
    "Trail",
    "bias_frame",
    "dark_frame",
    "flat_frame",
    "light_frame",
    "master_bias",
    "master_dark",
    "master_flat",
    "random_scene",
    "render_scene",
    "write_session",
]

ADU_MAX = 65535
IMAGETYP = {"bias": "Bias Frame", "dark": "Dark Frame", "flat": "Flat Field", "light": "Light Frame"}
"""The IMAGETYP keyword value written for each frame kind."""

_EPOCH = _dt.datetime(2024, 1, 1, 22, 0, 0)


# ---------------------------------------------------------------------------------- camera


@attrs.frozen(kw_only=True)
class Camera:
    """A simulated sensor (see the module docstring for the model).  Hashable and immutable."""

    width: int = 256
    height: int = 256
    gain: float = 1.0
    """Electrons per ADU."""
    read_noise: float = 5.0
    """Read noise, electrons rms."""
    bias_level: float = 1000.0
    """Mean bias, ADU."""
    bias_column_rms: float = 2.0
    """Fixed column pattern of the bias, ADU rms."""
    dark_current: float = 0.02
    """Mean dark current, electrons per second per pixel."""
    hot_pixel_fraction: float = 0.001
    hot_pixel_rate: tuple[float, float] = (5.0, 100.0)
    """Range of hot-pixel dark currents, electrons per second (log-uniform)."""
    dead_pixel_fraction: float = 0.0
    dead_pixel_response: float = 0.1
    prnu: float = 0.01
    """Pixel response non-uniformity, rms fraction."""
    vignetting: float = 0.3
    """Fractional loss of response at the corners (0: none)."""
    bayer_pattern: str | None = None
    """None for a monochrome sensor, else a 2×2 CFA pattern such as ``"RGGB"``."""
    transmission: tuple[float, float, float] = (0.8, 1.0, 0.7)
    """Relative response of the R, G, B filters of a CFA sensor."""
    temperature: float = -10.0
    binning: int = 1
    filter: str = "L"
    """FILTER keyword of the frames (CFA sensors usually say e.g. "UVIR")."""
    seed: int = 0
    """Seed of the fixed pattern (bias pattern, dark map, hot and dead pixels, response)."""

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width)."""
        return (self.height, self.width)

    @property
    def pattern(self) -> CFAPattern | None:
        """The CFA pattern, or None for a monochrome sensor."""
        return CFAPattern.parse(self.bayer_pattern) if self.bayer_pattern else None

    def channel_map(self) -> np.ndarray | None:
        """The channel (0 R, 1 G, 2 B) of every pixel, or None for mono."""
        pattern = self.pattern
        return None if pattern is None else pattern.channel_map(self.height, self.width)

    def maps(self) -> SensorMaps:
        """The sensor's fixed pattern (computed once per camera)."""
        return _sensor_maps(self)


@attrs.frozen(eq=False)
class SensorMaps:
    """The fixed pattern of a :class:`Camera`: arrays of shape (height, width)."""

    bias: np.ndarray
    """Bias level of every pixel, ADU."""
    dark_rate: np.ndarray
    """Dark current of every pixel, e⁻/s (hot pixels included)."""
    response: np.ndarray
    """Relative response (vignetting × PRNU × dead pixels × filter transmission)."""
    hot_pixels: np.ndarray
    """(n, 2) array of (y, x) of the hot pixels."""
    dead_pixels: np.ndarray
    """(n, 2) array of (y, x) of the dead (low-response) pixels."""
    vignetting: np.ndarray
    """The vignetting factor alone (1 at the centre)."""


@functools.lru_cache(maxsize=16)
def _sensor_maps(cam: Camera) -> SensorMaps:
    rng = np.random.default_rng(np.random.SeedSequence([cam.seed, 0x5E115]))
    h, w = cam.shape
    columns = rng.normal(0.0, cam.bias_column_rms, size=w) if cam.bias_column_rms > 0 else np.zeros(w)
    bias = np.broadcast_to(cam.bias_level + columns, (h, w)).astype(np.float64)

    dark = cam.dark_current * np.clip(rng.normal(1.0, 0.1, size=(h, w)), 0.0, None)
    n_hot = int(round(cam.hot_pixel_fraction * h * w))
    flat_index = rng.choice(h * w, size=n_hot + int(round(cam.dead_pixel_fraction * h * w)), replace=False)
    hot_index, dead_index = flat_index[:n_hot], flat_index[n_hot:]
    lo, hi = cam.hot_pixel_rate
    rates = np.exp(rng.uniform(math.log(lo), math.log(hi), size=n_hot)) if n_hot else np.zeros(0)
    dark.ravel()[hot_index] = rates

    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r2 = ((x - (w - 1) / 2) ** 2 + (y - (h - 1) / 2) ** 2) / (((w - 1) / 2) ** 2 + ((h - 1) / 2) ** 2)
    vignetting = 1.0 - cam.vignetting * r2
    response = vignetting * np.clip(rng.normal(1.0, cam.prnu, size=(h, w)), 0.05, None)
    response.ravel()[dead_index] *= cam.dead_pixel_response
    cmap = cam.channel_map()
    if cmap is None:
        response /= response.mean()
    else:
        for c in range(3):
            sel = cmap == c
            if sel.any():
                response[sel] *= cam.transmission[c] / response[sel].mean()

    def coords(index: np.ndarray) -> np.ndarray:
        return np.stack(np.unravel_index(np.sort(index), (h, w)), axis=1) if index.size else np.zeros((0, 2), int)

    maps = SensorMaps(bias, dark, response, coords(hot_index), coords(dead_index), vignetting)
    for arr in (maps.bias, maps.dark_rate, maps.response, maps.vignetting):
        arr.setflags(write=False)
    return maps


# ---------------------------------------------------------------------------------- scene


@attrs.frozen(kw_only=True)
class Star:
    """A star at (x, y) (pixels, scene coordinates) with total ``flux`` e⁻/s and RGB ``color`` weights."""

    x: float
    y: float
    flux: float
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)


@attrs.frozen(kw_only=True)
class Trail:
    """A satellite trail: a line through (x, y) at ``angle`` degrees, Gaussian profile of ``fwhm``.

    ``flux`` is e⁻/s per pixel of length along the line.
    """

    x: float
    y: float
    angle: float
    flux: float = 500.0
    fwhm: float = 2.0


@attrs.frozen(kw_only=True)
class Scene:
    """What the camera looks at: sky, stars, PSF and an optional satellite trail."""

    stars: tuple[Star, ...] = ()
    sky: float = 20.0
    """Sky brightness at the centre, e⁻/s/px."""
    sky_gradient: tuple[float, float] = (0.0, 0.0)
    """Fractional change of the sky across the full width (x) and height (y)."""
    sky_color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    psf: str = "gaussian"
    """``gaussian`` or ``moffat``."""
    fwhm: float = 3.0
    moffat_beta: float = 4.0
    trail: Trail | None = None

    def __attrs_post_init__(self) -> None:
        if self.psf not in ("gaussian", "moffat"):
            raise ValueError(f"psf must be 'gaussian' or 'moffat', not {self.psf!r}")
        if self.fwhm <= 0:
            raise ValueError(f"fwhm must be positive, not {self.fwhm}")


def random_scene(
    camera: Camera,
    *,
    n_stars: int = 50,
    seed: int = 0,
    flux_range: tuple[float, float] = (50.0, 5000.0),
    sky: float = 20.0,
    sky_gradient: tuple[float, float] = (0.0, 0.0),
    psf: str = "gaussian",
    fwhm: float = 3.0,
    moffat_beta: float = 4.0,
    colored: bool | None = None,
    margin: float = 8.0,
    trail: Trail | None = None,
) -> Scene:
    """A field of ``n_stars`` stars at random positions with log-uniform fluxes (e⁻/s).

    ``colored`` (default: True for CFA cameras) gives each star a random colour.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5C3E]))
    colored = camera.pattern is not None if colored is None else colored
    xs = rng.uniform(margin, camera.width - 1 - margin, n_stars)
    ys = rng.uniform(margin, camera.height - 1 - margin, n_stars)
    lo, hi = flux_range
    fluxes = np.exp(rng.uniform(math.log(lo), math.log(hi), n_stars))
    stars = []
    for x, y, f in zip(xs, ys, fluxes):
        color = tuple(float(c) for c in rng.uniform(0.6, 1.4, 3)) if colored else (1.0, 1.0, 1.0)
        stars.append(Star(x=float(x), y=float(y), flux=float(f), color=color))  # type: ignore[arg-type]
    return Scene(
        stars=tuple(stars), sky=sky, sky_gradient=sky_gradient, psf=psf, fwhm=fwhm, moffat_beta=moffat_beta,
        trail=trail,
    )


def _transform(x: float, y: float, cx: float, cy: float, shift: tuple[float, float], rotation: float) -> tuple[
    float, float
]:
    a = math.radians(rotation)
    dx, dy = x - cx, y - cy
    return (cx + math.cos(a) * dx - math.sin(a) * dy + shift[0], cy + math.sin(a) * dx + math.cos(a) * dy + shift[1])


def _gaussian_stamp(x0: float, y0: float, sigma: float, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Pixel-integrated unit-flux Gaussian on the grid cells centred on xs (cols) and ys (rows)."""
    s = sigma * math.sqrt(2.0)
    fx = 0.5 * (special.erf((xs + 0.5 - x0) / s) - special.erf((xs - 0.5 - x0) / s))
    fy = 0.5 * (special.erf((ys + 0.5 - y0) / s) - special.erf((ys - 0.5 - y0) / s))
    return np.outer(fy, fx)


def _moffat_stamp(x0: float, y0: float, fwhm: float, beta: float, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Unit-flux Moffat sampled 5×5 per pixel (pixel-integrated to good accuracy)."""
    alpha = fwhm / (2.0 * math.sqrt(2.0 ** (1.0 / beta) - 1.0))
    sub = (np.arange(5) - 2) / 5.0
    gx = (xs[:, None] + sub[None, :]).ravel()
    gy = (ys[:, None] + sub[None, :]).ravel()
    r2 = (gx[None, :] - x0) ** 2 + (gy[:, None] - y0) ** 2
    val = (beta - 1.0) / (math.pi * alpha**2) * (1.0 + r2 / alpha**2) ** (-beta)
    return val.reshape(ys.size, 5, xs.size, 5).mean(axis=(1, 3))


def render_scene(
    scene: Scene,
    height: int,
    width: int,
    *,
    shift: tuple[float, float] = (0.0, 0.0),
    rotation: float = 0.0,
    channels: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """(sky, stars+trail) in e⁻/s per pixel, each (channels, height, width) float64.

    Star positions are rotated by ``rotation`` degrees about the frame centre and then
    shifted by ``shift`` = (dx, dy) pixels.  With ``channels=3`` star and sky colours
    weight the R, G, B planes.
    """
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    gx, gy = scene.sky_gradient
    sky_plane = scene.sky * (1.0 + gx * (x - cx) / width + gy * (y - cy) / height)
    sky_color = scene.sky_color if channels == 3 else (1.0,)
    sky = np.stack([sky_plane * c for c in sky_color[:channels]])
    objects = np.zeros((channels, height, width))
    sigma = scene.fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    radius = int(math.ceil(4.0 * scene.fwhm if scene.psf == "gaussian" else 8.0 * scene.fwhm))
    for star in scene.stars:
        sx, sy = _transform(star.x, star.y, cx, cy, shift, rotation)
        x0, x1 = max(0, int(math.floor(sx)) - radius), min(width, int(math.floor(sx)) + radius + 1)
        y0, y1 = max(0, int(math.floor(sy)) - radius), min(height, int(math.floor(sy)) + radius + 1)
        if x0 >= x1 or y0 >= y1:
            continue
        xs, ys = np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64)
        if scene.psf == "gaussian":
            stamp = _gaussian_stamp(sx, sy, sigma, xs, ys)
        else:
            stamp = _moffat_stamp(sx, sy, scene.fwhm, scene.moffat_beta, xs, ys)
        weights = star.color if channels == 3 else (1.0,)
        for c in range(channels):
            objects[c, y0:y1, x0:x1] += star.flux * weights[c] * stamp
    if scene.trail is not None:
        t = scene.trail
        tx, ty = _transform(t.x, t.y, cx, cy, shift, rotation)
        a = math.radians(t.angle + rotation)
        distance = np.abs(-(x - tx) * math.sin(a) + (y - ty) * math.cos(a))
        s = t.fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
        line = t.flux / (s * math.sqrt(2 * math.pi)) * np.exp(-0.5 * (distance / s) ** 2)
        objects += line[np.newaxis]
    return sky, objects


# ---------------------------------------------------------------------------------- frames


@attrs.frozen(kw_only=True, eq=False)
class FrameTruth:
    """The noiseless components of a simulated frame (arrays (height, width), ADU).

    ``signal``: expected photo-signal before the sensor response, ``scene·t/gain`` (for CFA
    the channel each pixel sees, times its filter transmission);
    ``dark``: expected dark signal ``dark_rate·t/gain``; ``bias``; ``response``;
    ``expected``: the noiseless raw frame;
    ``stars``: (n, 2) array of the (x, y) star positions in this frame;
    ``shift``/``rotation``: the frame's offset from the scene.
    """

    kind: str
    exposure: float
    bias: np.ndarray
    dark: np.ndarray
    response: np.ndarray
    signal: np.ndarray
    expected: np.ndarray
    sky: np.ndarray
    stars: np.ndarray = attrs.field(factory=lambda: np.zeros((0, 2)))
    shift: tuple[float, float] = (0.0, 0.0)
    rotation: float = 0.0
    noise_sigma: np.ndarray | None = None
    """Per-pixel σ of the frame's noise (ADU), shot noise + read noise."""
    channel_map: np.ndarray | None = None
    """The CFA channel of every pixel (None for mono sensors)."""

    @property
    def calibrated(self) -> np.ndarray:
        """What ``(light − bias − dark) / (flat / mean(flat))`` gives, ADU (mean per CFA channel).

        The response is normalized to mean 1 per CFA channel, so this is ``signal`` itself:
        the photo-signal through the filter, free of vignetting, PRNU and dead pixels.
        """
        return self.signal

    def expected_calibrated(self, clip: float = 0.05, *, separate_cfa: bool = True, normalized: bool = False) -> (
        np.ndarray
    ):
        """The calibrated frame expected when the flat is normalized by a trimmed mean.

        PixInsight (and ImageCalibration here) divide the master flat by its mean after
        discarding the fraction ``clip`` of lowest and highest pixels (per CFA colour with
        ``separate_cfa``), so the result is ``signal × trimmed_mean(response)`` rather than
        ``signal``.  ``normalized`` gives procfw's [0, 1] units (ADU / 65535).
        """
        def trimmed(values: np.ndarray) -> float:
            data = np.sort(values.ravel())
            t = max(1, int(clip * data.size))
            return float(data[t:-t].mean()) if data.size > 2 * t else float(data.mean())

        # light = signal · response / transmission; the flat is divided by a trimmed mean of the response
        out = self.signal.copy()
        if self.channel_map is None:
            out *= trimmed(self.response) / float(self.response.mean())
            return out / ADU_MAX if normalized else out
        overall = trimmed(self.response)
        for c in range(3):
            sel = self.channel_map == c
            if sel.any():
                transmission = float(self.response[sel].mean())
                out[sel] *= (trimmed(self.response[sel]) if separate_cfa else overall) / transmission
        return out / ADU_MAX if normalized else out

    def calibrated_normalized(self) -> np.ndarray:
        """:attr:`calibrated` in procfw's [0, 1] units (ADU / 65535)."""
        return self.signal / ADU_MAX


@attrs.frozen(kw_only=True, eq=False)
class Frame:
    """A simulated frame: ``data`` (ADU; uint16 for single frames, float32 for masters),
    its FITS ``keywords`` and its ``truth``."""

    data: np.ndarray
    keywords: tuple[FITSKeyword, ...]
    truth: FrameTruth

    @property
    def kind(self) -> str:
        """``bias``, ``dark``, ``flat`` or ``light``."""
        return self.truth.kind

    def image(self) -> Image:
        """The frame as a procfw Image: ADU / 65535 as float32 (as reading its FITS file gives)."""
        pixels = (self.data.astype(np.float64) / ADU_MAX).astype(np.float32)
        return Image(pixels, list(self.keywords))

    def write(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write a FITS file: 16-bit unsigned for raw frames, 32-bit float for masters."""
        from procfw.io.fits import write_fits

        bitpix = 16 if self.data.dtype == np.uint16 else -32
        return write_fits(self.image(), path, overwrite=overwrite, bitpix=bitpix)


def _keywords(cam: Camera, kind: str, exposure: float, seed: int, extra: Sequence[FITSKeyword] = ()) -> tuple[
    FITSKeyword, ...
]:
    when = _EPOCH + _dt.timedelta(seconds=int(seed) % (10 * 365 * 86400))
    cards = [
        FITSKeyword("IMAGETYP", IMAGETYP[kind], "Type of image"),
        FITSKeyword("EXPTIME", float(exposure), "Exposure time in seconds"),
        FITSKeyword("EXPOSURE", float(exposure), "Exposure time in seconds"),
        FITSKeyword("FILTER", cam.filter, "Filter used"),
        FITSKeyword("XBINNING", int(cam.binning), "Binning factor in width"),
        FITSKeyword("YBINNING", int(cam.binning), "Binning factor in height"),
        FITSKeyword("GAIN", float(cam.gain), "Sensor gain, e-/ADU"),
        FITSKeyword("EGAIN", float(cam.gain), "Electrons per ADU"),
        FITSKeyword("CCD-TEMP", float(cam.temperature), "Sensor temperature, C"),
        FITSKeyword("DATE-OBS", when.strftime("%Y-%m-%dT%H:%M:%S"), "Start of exposure (UTC)"),
        FITSKeyword("INSTRUME", "procfw simulator", "Simulated camera"),
    ]
    if cam.bayer_pattern:
        cards.append(FITSKeyword("BAYERPAT", CFAPattern.parse(cam.bayer_pattern).text, "Bayer color pattern"))
        cards.append(FITSKeyword("XBAYROFF", 0, "X offset of Bayer array"))
        cards.append(FITSKeyword("YBAYROFF", 0, "Y offset of Bayer array"))
    cards.extend(extra)
    cards.append(FITSKeyword("SIMSEED", int(seed), "procfw simulator frame seed"))
    return tuple(cards)


def _rng(cam: Camera, kind: str, seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, cam.seed, sum(map(ord, kind))]))


def _observe(
    cam: Camera, kind: str, exposure: float, seed: int, photo: np.ndarray | None, *, frames: int = 1,
    extra: Sequence[FITSKeyword] = (), stars: np.ndarray | None = None, shift=(0.0, 0.0), rotation: float = 0.0,
    sky: np.ndarray | None = None,
) -> Frame:
    """Expose the sensor to ``photo`` (e⁻/s per pixel before the response) for ``exposure`` seconds."""
    if exposure < 0:
        raise ValueError(f"exposure must be >= 0, not {exposure}")
    maps = cam.maps()
    rng = _rng(cam, kind, seed)
    dark_e = maps.dark_rate * exposure
    photo_e = np.zeros(cam.shape) if photo is None else photo * maps.response * exposure
    mean_e = dark_e + photo_e
    expected = maps.bias + mean_e / cam.gain
    noise_sigma = np.sqrt(mean_e + cam.read_noise**2) / cam.gain
    if frames == 1:
        electrons = rng.poisson(mean_e).astype(np.float64) + rng.normal(0.0, cam.read_noise, cam.shape)
        data = np.clip(np.rint(maps.bias + electrons / cam.gain), 0, ADU_MAX).astype(np.uint16)
    else:
        data = (expected + rng.normal(0.0, 1.0, cam.shape) * noise_sigma / math.sqrt(frames)).astype(np.float32)
        np.clip(data, 0, ADU_MAX, out=data)
        noise_sigma = noise_sigma / math.sqrt(frames)
    signal = np.zeros(cam.shape) if photo is None else photo * _transmission_map(cam) * exposure / cam.gain
    truth = FrameTruth(
        kind=kind, exposure=float(exposure), bias=maps.bias, dark=dark_e / cam.gain, response=maps.response,
        signal=signal, expected=expected, sky=np.zeros(cam.shape) if sky is None else sky,
        stars=np.zeros((0, 2)) if stars is None else stars, shift=tuple(shift), rotation=float(rotation),
        noise_sigma=noise_sigma, channel_map=cam.channel_map(),
    )
    extra = list(extra)
    if frames > 1:
        extra.append(FITSKeyword("NCOMBINE", int(frames), "Number of frames combined (simulated master)"))
    return Frame(data=data, keywords=_keywords(cam, kind, exposure, seed, extra), truth=truth)


def _transmission_map(cam: Camera) -> np.ndarray:
    cmap = cam.channel_map()
    if cmap is None:
        return np.ones(cam.shape)
    return np.asarray(cam.transmission, dtype=np.float64)[cmap]


def bias_frame(camera: Camera, *, seed: int = 0) -> Frame:
    """A bias frame (zero exposure): bias pattern + read noise."""
    return _observe(camera, "bias", 0.0, seed, None)


def dark_frame(camera: Camera, *, exposure: float = 60.0, seed: int = 0) -> Frame:
    """A dark frame of ``exposure`` seconds: bias + dark current (hot pixels) + noise."""
    return _observe(camera, "dark", exposure, seed, None)


def _flat_illumination(camera: Camera, level: float, exposure: float) -> np.ndarray:
    """Uniform illumination (e⁻/s) giving a mean photo-signal of ``level`` ADU."""
    return np.full(camera.shape, level * camera.gain / exposure / float(np.mean(_transmission_map(camera))))


def flat_frame(camera: Camera, *, level: float = 20000.0, exposure: float = 1.0, seed: int = 0) -> Frame:
    """A flat field: uniform illumination with a mean photo-signal of ``level`` ADU above bias."""
    return _observe(camera, "flat", exposure, seed, _flat_illumination(camera, level, exposure))


def light_frame(
    camera: Camera,
    scene: Scene,
    *,
    exposure: float = 60.0,
    seed: int = 0,
    shift: tuple[float, float] = (0.0, 0.0),
    rotation: float = 0.0,
    object_name: str = "SIMULATED",
) -> Frame:
    """A light frame of ``scene``, offset by ``shift`` (dx, dy) pixels and ``rotation`` degrees."""
    photo, sky, stars = _scene_photons(camera, scene, shift, rotation)
    extra = [FITSKeyword("OBJECT", object_name, "Target")]
    return _observe(
        camera, "light", exposure, seed, photo, extra=extra, stars=stars, shift=shift, rotation=rotation,
        sky=sky * _transmission_map(camera) * exposure / camera.gain,
    )


def _scene_photons(camera: Camera, scene: Scene, shift, rotation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scene e⁻/s per pixel, sky-only e⁻/s, star positions) for the camera's pixels."""
    h, w = camera.shape
    cmap = camera.channel_map()
    channels = 1 if cmap is None else 3
    sky, objects = render_scene(scene, h, w, shift=shift, rotation=rotation, channels=channels)
    total = sky + objects
    if cmap is None:
        photo, sky_px = total[0], sky[0]
    else:
        photo = np.take_along_axis(total, cmap[np.newaxis].astype(np.intp), axis=0)[0]
        sky_px = np.take_along_axis(sky, cmap[np.newaxis].astype(np.intp), axis=0)[0]
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    positions = np.array([_transform(s.x, s.y, cx, cy, shift, rotation) for s in scene.stars]).reshape(-1, 2)
    return photo, sky_px, positions


def master_bias(camera: Camera, *, frames: int = 32, seed: int = 0) -> Frame:
    """A master bias: the mean of ``frames`` bias frames (float32; noise reduced by √frames)."""
    return _observe(camera, "bias", 0.0, seed, None, frames=max(2, frames))


def _minus(frame: Frame, offset: np.ndarray) -> Frame:
    """The frame with ``offset`` (ADU) subtracted from its data and its expected values."""
    data = (frame.data.astype(np.float64) - offset).astype(np.float32)
    truth = attrs.evolve(frame.truth, expected=frame.truth.expected - offset)
    return attrs.evolve(frame, data=data, truth=truth)


def master_dark(
    camera: Camera, *, exposure: float = 60.0, frames: int = 16, seed: int = 0, bias_subtracted: bool = False
) -> Frame:
    """A master dark of ``exposure`` seconds.

    By default the bias is included (as a master made from raw darks: calibrate it with
    ImageCalibration's ``calibrateDark``); ``bias_subtracted`` removes the exact bias.
    Values below zero are possible then (float data).
    """
    frame = _observe(camera, "dark", exposure, seed, None, frames=max(2, frames))
    return _minus(frame, camera.maps().bias) if bias_subtracted else frame


def master_flat(
    camera: Camera, *, level: float = 20000.0, exposure: float = 1.0, frames: int = 16, seed: int = 0,
    calibrated: bool = False,
) -> Frame:
    """A master flat with a mean photo-signal of ``level`` ADU.

    By default bias and the flat exposure's dark signal are included (as from raw flats);
    ``calibrated`` removes them exactly (as a master integrated from calibrated flats).
    """
    frame = _observe(camera, "flat", exposure, seed, _flat_illumination(camera, level, exposure), frames=max(2, frames))
    if calibrated:
        return _minus(frame, camera.maps().bias + frame.truth.dark)
    return frame


# ---------------------------------------------------------------------------------- sessions


@attrs.frozen(kw_only=True, eq=False)
class Session:
    """Files written by :func:`write_session`, by kind, with the frames' truth."""

    directory: Path
    bias: tuple[Path, ...]
    darks: tuple[Path, ...]
    flats: tuple[Path, ...]
    lights: tuple[Path, ...]
    light_frames: tuple[Frame, ...]
    camera: Camera
    scene: Scene


def write_session(
    directory: str | os.PathLike[str],
    camera: Camera,
    scene: Scene | None = None,
    *,
    bias: int = 5,
    darks: int = 5,
    flats: int = 5,
    lights: int = 5,
    exposure: float = 60.0,
    flat_level: float = 20000.0,
    dither: float = 5.0,
    rotation: float = 0.0,
    seed: int = 0,
    overwrite: bool = False,
) -> Session:
    """Write a calibration session into ``directory`` (created if needed).

    Sub-folders ``bias``, ``darks``, ``flats``, ``lights``; lights are dithered by random
    shifts up to ``dither`` pixels and rotations up to ``rotation`` degrees.
    """
    root = Path(directory)
    scene = scene if scene is not None else random_scene(camera, seed=seed)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xD17]))
    out: dict[str, list[Path]] = {"bias": [], "darks": [], "flats": [], "lights": []}
    light_frames: list[Frame] = []
    for folder in out:
        (root / folder).mkdir(parents=True, exist_ok=True)
    for i in range(bias):
        out["bias"].append(bias_frame(camera, seed=seed * 1000 + i).write(root / "bias" / f"bias_{i:03d}.fits",
                                                                          overwrite=overwrite))
    for i in range(darks):
        frame = dark_frame(camera, exposure=exposure, seed=seed * 1000 + 100 + i)
        out["darks"].append(frame.write(root / "darks" / f"dark_{i:03d}.fits", overwrite=overwrite))
    for i in range(flats):
        frame = flat_frame(camera, level=flat_level, seed=seed * 1000 + 200 + i)
        out["flats"].append(frame.write(root / "flats" / f"flat_{i:03d}.fits", overwrite=overwrite))
    for i in range(lights):
        shift = (float(rng.uniform(-dither, dither)), float(rng.uniform(-dither, dither))) if i else (0.0, 0.0)
        angle = float(rng.uniform(-rotation, rotation)) if i and rotation else 0.0
        frame = light_frame(camera, scene, exposure=exposure, seed=seed * 1000 + 300 + i, shift=shift, rotation=angle)
        light_frames.append(frame)
        out["lights"].append(frame.write(root / "lights" / f"light_{i:03d}.fits", overwrite=overwrite))
    return Session(
        directory=root, bias=tuple(out["bias"]), darks=tuple(out["darks"]), flats=tuple(out["flats"]),
        lights=tuple(out["lights"]), light_frames=tuple(light_frames), camera=camera, scene=scene,
    )
