"""SimulateSession: write a raw, simulated mono LRGB imaging session (bias, darks, flats, lights) to disk.

procfw's own process, for demonstrations and tests of pre-processing pipelines.  Executed
globally it writes 16-bit FITS files, with PixInsight/NINA-style keywords (IMAGETYP,
EXPTIME, FILTER, XBINNING, GAIN, CCD-TEMP, ...), into ``outputDirectory``::

    bias/bias_000.fits ...                    biasCount bias frames
    darks/dark_60s_000.fits ...               darkCount darks of the light exposure
    darkflats/darkflat_1s_000.fits ...        darkFlatCount darks of the flat exposure (IMAGETYP 'Dark Flat')
    flats/<F>/flat_<F>_000.fits ...           flatCount flats per filter
    lights/<F>/light_<F>_000.fits ...         lightCount lights per filter

One monochrome camera (:class:`processes.simulation.camera.Camera`: bias with a column
pattern, dark current with hot pixels, vignetting and pixel response non-uniformity,
shot and read noise) looks at one star field through each filter.  The filters pass
``FILTER_THROUGHPUT`` of the light; the stars have random colours (a star's L flux is the
mean of its R, G and B fluxes) and the sky has a linear gradient.  Lights are dithered by
random shifts up to ``dither`` pixels and rotations up to ``rotation`` degrees (the first
L frame is the undisturbed scene), and with ``satelliteTrail`` the second light of every
filter crosses a satellite trail.  Deterministic by ``seed``.

The truth (the scene, each frame's shift and rotation, the sensor maps) is available from
Python through :func:`simulate_session`, which this process calls.
"""

# ruff: noqa: N815 - parameter names are procfw's camelCase ids
from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
import numpy as np

from processes.simulation import camera as sim
from procfw.errors import ExecutionError
from procfw.image import FITSKeyword
from procfw.params import Boolean, Double, Int32, String, UInt32, param
from procfw.process import ExecutionContext, Process, ProcessOutput

__all__ = ["FILTER_THROUGHPUT", "SimulateSession", "SimulatedSession", "filter_scene", "simulate_session"]

FILTER_THROUGHPUT = {"L": 1.0, "R": 0.45, "G": 0.5, "B": 0.4, "Ha": 0.08, "OIII": 0.06, "SII": 0.05}
"""Fraction of the light each filter passes (other filter names pass 0.5)."""

_COLOUR_INDEX = {"R": 0, "G": 1, "B": 2}
_SKY_COLOUR = (1.0, 0.9, 0.75)
_FILTER_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+, "


def parse_filters(text: str) -> tuple[str, ...]:
    """Filter names from a comma- or space-separated list ("L,R,G,B"), without repeats."""
    names = [f for f in re.split(r"[,\s]+", text.strip()) if f]
    return tuple(dict.fromkeys(names))


def filter_scene(base: sim.Scene, name: str) -> sim.Scene:
    """``base`` seen through filter ``name``: star fluxes and sky scaled by throughput and colour.

    R, G and B take the star's colour weight of that channel; L (and any other filter) the
    mean of the three.
    """
    throughput = FILTER_THROUGHPUT.get(name, 0.5)
    index = _COLOUR_INDEX.get(name)

    def weight(colour: Sequence[float]) -> float:
        return float(colour[index]) if index is not None else float(np.mean(colour))

    stars = tuple(attrs.evolve(s, flux=s.flux * throughput * weight(s.color)) for s in base.stars)
    trail = base.trail if base.trail is None else attrs.evolve(base.trail, flux=base.trail.flux * throughput)
    return attrs.evolve(base, stars=stars, sky=base.sky * throughput * weight(_SKY_COLOUR), trail=trail)


@attrs.frozen(kw_only=True, eq=False)
class SimulatedSession:
    """What :func:`simulate_session` wrote, by kind (lights and flats by filter), with the truth."""

    directory: Path
    camera: sim.Camera
    scene: sim.Scene
    """The scene without filter (unit throughput, the stars' mean colour)."""
    bias: tuple[Path, ...]
    darks: tuple[Path, ...]
    darkflats: tuple[Path, ...]
    flats: dict[str, tuple[Path, ...]]
    lights: dict[str, tuple[Path, ...]]
    light_frames: dict[str, tuple[sim.Frame, ...]]
    exposure: float
    flat_exposure: float

    @property
    def files(self) -> list[Path]:
        """Every file written."""
        out = [*self.bias, *self.darks, *self.darkflats]
        for paths in (*self.flats.values(), *self.lights.values()):
            out.extend(paths)
        return out


def simulate_session(
    directory: str | os.PathLike[str],
    *,
    filters: Sequence[str] = ("L", "R", "G", "B"),
    width: int = 512,
    height: int = 512,
    bias: int = 8,
    darks: int = 8,
    darkflats: int = 0,
    flats: int = 8,
    lights: int = 8,
    exposure: float = 60.0,
    flat_exposure: float = 1.0,
    flat_level: float = 20000.0,
    stars: int = 200,
    max_flux: float = 8000.0,
    fwhm: float = 3.0,
    sky: float = 20.0,
    dither: float = 8.0,
    rotation: float = 0.5,
    satellite_trail: bool = True,
    hot_pixel_fraction: float = 0.001,
    temperature: float = -10.0,
    gain: float = 1.0,
    binning: int = 1,
    seed: int = 1,
    overwrite: bool = False,
    progress: Callable[[float, str], None] | None = None,
) -> SimulatedSession:
    """Write a simulated LRGB session into ``directory`` (see the module docstring); returns the files and truth.

    Star fluxes are log-uniform from 100 to ``max_flux`` e⁻/s without filter (8000: the
    brightest star of a 60 s L frame peaks near 47000 ADU, below saturation at FWHM 3).
    """
    root = Path(directory)
    camera = sim.Camera(width=width, height=height, gain=gain, temperature=temperature, binning=binning,
                        hot_pixel_fraction=hot_pixel_fraction, seed=seed)
    base = sim.random_scene(camera, n_stars=stars, seed=seed + 1, fwhm=fwhm, sky=sky, sky_gradient=(0.25, -0.15),
                            colored=True, flux_range=(100.0, max_flux))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5E55]))
    total = bias + darks + darkflats + len(filters) * (flats + lights)
    done = 0

    def write(frame: sim.Frame, path: Path) -> Path:
        nonlocal done
        if progress is not None:
            progress(done / max(total, 1), f"SimulateSession: {path.name}")
        done += 1
        path.parent.mkdir(parents=True, exist_ok=True)
        return frame.write(path, overwrite=overwrite)

    def tagged(frame: sim.Frame, imagetyp: str | None = None) -> sim.Frame:
        if imagetyp is None:
            return frame
        cards = tuple(FITSKeyword("IMAGETYP", imagetyp, k.comment) if k.name == "IMAGETYP" else k
                      for k in frame.keywords)
        return attrs.evolve(frame, keywords=cards)

    no_filter = attrs.evolve(camera, filter="")
    bias_paths = [write(sim.bias_frame(no_filter, seed=seed * 100_000 + i), root / "bias" / f"bias_{i:03d}.fits")
                  for i in range(bias)]
    dark_paths = [
        write(sim.dark_frame(no_filter, exposure=exposure, seed=seed * 100_000 + 1000 + i),
              root / "darks" / f"dark_{_seconds(exposure)}_{i:03d}.fits")
        for i in range(darks)
    ]
    darkflat_paths = [
        write(tagged(sim.dark_frame(no_filter, exposure=flat_exposure, seed=seed * 100_000 + 2000 + i), "Dark Flat"),
              root / "darkflats" / f"darkflat_{_seconds(flat_exposure)}_{i:03d}.fits")
        for i in range(darkflats)
    ]
    flat_paths: dict[str, tuple[Path, ...]] = {}
    light_paths: dict[str, tuple[Path, ...]] = {}
    light_frames: dict[str, tuple[sim.Frame, ...]] = {}
    for f_index, name in enumerate(filters):
        cam = attrs.evolve(camera, filter=name)
        flat_paths[name] = tuple(
            write(sim.flat_frame(cam, level=flat_level, exposure=flat_exposure,
                                 seed=seed * 100_000 + 3000 + 100 * f_index + i),
                  root / "flats" / name / f"flat_{name}_{i:03d}.fits")
            for i in range(flats)
        )
        scene = filter_scene(base, name)
        paths, frames = [], []
        for i in range(lights):
            first = f_index == 0 and i == 0
            shift = (0.0, 0.0) if first else (float(rng.uniform(-dither, dither)), float(rng.uniform(-dither, dither)))
            angle = 0.0 if first or not rotation else float(rng.uniform(-rotation, rotation))
            frame_scene = scene
            if satellite_trail and i == 1:
                trail = sim.Trail(x=width * (0.3 + 0.15 * f_index), y=height * 0.5, angle=25.0 + 40.0 * f_index,
                                  flux=1500.0 * FILTER_THROUGHPUT.get(name, 0.5), fwhm=2.0)
                frame_scene = attrs.evolve(scene, trail=trail)
            frame = sim.light_frame(cam, frame_scene, exposure=exposure, seed=seed * 100_000 + 5000 + 100 * f_index + i,
                                    shift=shift, rotation=angle, object_name="SIMULATED LRGB")
            frames.append(frame)
            paths.append(write(frame, root / "lights" / name / f"light_{name}_{i:03d}.fits"))
        light_paths[name] = tuple(paths)
        light_frames[name] = tuple(frames)
    if progress is not None:
        progress(1.0, "SimulateSession: done")
    return SimulatedSession(
        directory=root, camera=camera, scene=base, bias=tuple(bias_paths), darks=tuple(dark_paths),
        darkflats=tuple(darkflat_paths), flats=flat_paths, lights=light_paths, light_frames=light_frames,
        exposure=float(exposure), flat_exposure=float(flat_exposure),
    )


def _seconds(value: float) -> str:
    return f"{value:g}s".replace(".", "p")


class SimulateSession(Process):
    """Write a simulated raw mono LRGB session (bias, darks, flats and lights per filter) as FITS files.

    One camera (bias pattern, dark current, hot pixels, vignetting, shot and read noise)
    looks at one star field with a sky gradient through each filter; lights are dithered
    and rotated, and one light per filter crosses a satellite trail.  Deterministic by
    ``seed``.  Files go to ``outputDirectory``/bias, darks, darkflats, flats/<filter> and
    lights/<filter>.
    """

    process_id = "SimulateSession"
    pixinsight = False  # procfw's own simulator
    categories = ("Preprocessing", "Image")
    is_history_updater = False
    is_maskable = False

    outputDirectory: str = param(String(description="Directory the session is written into (created if needed)."))
    filters: str = param(String(default="L,R,G,B", allowed_characters=_FILTER_CHARACTERS, min_length=1,
                                max_length=200, description="Filters, comma separated (L, R, G, B, Ha, OIII, SII "
                                "have their own throughput; others pass 0.5)."))
    width: int = param(Int32(default=512, minimum=32, maximum=8192, description="Width of the frames in pixels."))
    height: int = param(Int32(default=512, minimum=32, maximum=8192, description="Height of the frames in pixels."))
    biasCount: int = param(Int32(default=8, minimum=0, maximum=1000, description="Number of bias frames."))
    darkCount: int = param(Int32(default=8, minimum=0, maximum=1000, description="Number of dark frames (of the "
                                 "light exposure)."))
    darkFlatCount: int = param(Int32(default=0, minimum=0, maximum=1000, description="Number of dark flats (darks of "
                                     "the flat exposure, IMAGETYP 'Dark Flat')."))
    flatCount: int = param(Int32(default=8, minimum=0, maximum=1000, description="Number of flat frames per filter."))
    lightCount: int = param(Int32(default=8, minimum=0, maximum=1000, description="Number of light frames per "
                                  "filter."))
    exposure: float = param(Double(default=60.0, minimum=0.001, maximum=36000.0, precision=3,
                                   description="Exposure of lights and darks, seconds."))
    flatExposure: float = param(Double(default=1.0, minimum=0.001, maximum=3600.0, precision=3,
                                       description="Exposure of flats and dark flats, seconds."))
    starCount: int = param(Int32(default=200, minimum=0, maximum=100_000, description="Number of stars."))
    fwhm: float = param(Double(default=3.0, minimum=0.8, maximum=30.0, precision=3,
                               description="FWHM of the (Gaussian) stars in pixels."))
    skyLevel: float = param(Double(default=20.0, minimum=0.0, maximum=100_000.0, precision=3,
                                   description="Sky brightness at the centre without filter, electrons per second "
                                   "per pixel."))
    dither: float = param(Double(default=8.0, minimum=0.0, maximum=1000.0, precision=3,
                                 description="Largest random shift of the lights, pixels."))
    rotation: float = param(Double(default=0.5, minimum=0.0, maximum=180.0, precision=4,
                                   description="Largest random rotation of the lights, degrees."))
    satelliteTrail: bool = param(Boolean(default=True, description="The second light of every filter crosses a "
                                         "satellite trail."))
    hotPixelFraction: float = param(Double(default=0.001, minimum=0.0, maximum=0.1, precision=6,
                                           description="Fraction of hot pixels of the sensor."))
    temperature: float = param(Double(default=-10.0, minimum=-100.0, maximum=100.0, precision=2,
                                      description="Sensor temperature written in CCD-TEMP, °C."))
    gain: float = param(Double(default=1.0, minimum=0.01, maximum=100.0, precision=4,
                               description="Sensor gain in electrons per ADU (GAIN and EGAIN keywords)."))
    binning: int = param(Int32(default=1, minimum=1, maximum=8, description="Binning written in XBINNING/YBINNING."))
    seed: int = param(UInt32(default=1, description="Seed of the camera, the scene and the noise."))
    overwriteExistingFiles: bool = param(Boolean(default=False, description="Replace existing files (else an "
                                                 "existing file is an error)."))

    def validate(self) -> None:
        if not parse_filters(self.filters):
            raise self.invalid("filters", self.filters, "give at least one filter name, e.g. \"L,R,G,B\"")

    def can_execute_global(self) -> tuple[bool, str]:
        if not self.outputDirectory.strip():
            return False, "outputDirectory is empty: say where to write the session"
        return True, ""

    def run_global(self, context: ExecutionContext) -> ProcessOutput:
        self.require_executable_global()
        directory = Path(os.path.expanduser(self.outputDirectory.strip()))
        filters = parse_filters(self.filters)
        try:
            session = simulate_session(
                directory, filters=filters, width=self.width, height=self.height, bias=self.biasCount,
                darks=self.darkCount, darkflats=self.darkFlatCount, flats=self.flatCount, lights=self.lightCount,
                exposure=self.exposure, flat_exposure=self.flatExposure, stars=self.starCount, fwhm=self.fwhm,
                sky=self.skyLevel, dither=self.dither, rotation=self.rotation, satellite_trail=self.satelliteTrail,
                hot_pixel_fraction=self.hotPixelFraction, temperature=self.temperature, gain=self.gain,
                binning=self.binning, seed=self.seed, overwrite=self.overwriteExistingFiles, progress=context.report,
            )
        except OSError as exc:
            raise ExecutionError(f"{self.process_id}: cannot write the session into {directory}: "
                                 f"{exc.strerror or exc}") from None
        outputs = {
            "outputDirectory": str(directory), "files": len(session.files), "bias": len(session.bias),
            "darks": len(session.darks), "darkFlats": len(session.darkflats),
            "flats": sum(len(p) for p in session.flats.values()),
            "lights": sum(len(p) for p in session.lights.values()),
        }
        message = (f"SimulateSession: wrote {len(session.files)} frames into {directory} "
                   f"(filters {', '.join(filters)}; {self.exposure:g} s lights)")
        return ProcessOutput(outputs=outputs, messages=(message,))
