"""SimulateLRGB: a simulated, linear, unequal LRGB set of four mono images (procfw's own process).

Executed globally, it opens four grayscale windows ``<prefix>L``, ``<prefix>R``,
``<prefix>G`` and ``<prefix>B`` holding the same simulated sky (stars, a nebula, a sky
gradient) seen through four filters, each with its own gain and offset and its own
noise, so that the channels are *not* linearly matched: what LinearFit is for.  The
model is :mod:`processes.simulation.lrgb_scene`; the read-only outputs are the truth
(each channel's id, gain and offset).
"""

from __future__ import annotations

from typing import Any

from processes.simulation.lrgb_scene import CHANNELS, DEFAULT_GAINS, DEFAULT_OFFSETS, LRGBModel, LRGBSet, render_lrgb
from procfw.image import FITSKeyword, Image
from procfw.params import Double, Enumeration, Int32, String, UInt32, param
from procfw.process import ExecutionContext, Process, ProcessOutput

__all__ = ["SimulateLRGB"]

_ID_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
_MAX_SIDE = 8192
_CHANNEL_NAMES = {"L": "luminance", "R": "red", "G": "green", "B": "blue"}


def _gain(channel: str) -> Double:
    return Double(
        default=DEFAULT_GAINS[channel], minimum=0.01, maximum=100.0, precision=4,
        description=f"Scale of the {_CHANNEL_NAMES[channel]} channel (filter throughput × exposure).",
    )


def _offset(channel: str) -> Double:
    return Double(
        default=DEFAULT_OFFSETS[channel], minimum=0.0, maximum=0.5, precision=6,
        description=f"Pedestal added to the {_CHANNEL_NAMES[channel]} channel, normalized units.",
    )


class SimulateLRGB(Process):
    """Render a simulated linear LRGB set: four mono images of one sky with unequal channel gains and offsets.

    Stars (Moffat or Gaussian PSF, star-count flux law, black-body colours), a two-colour
    emission nebula with fractal structure and dust, a linear sky gradient and shot plus
    read noise; each channel c is ``offset_c + gain_c·scene_c + noise`` (L sees the mean
    of R, G and B).  The sky is neutral, so the channels of its background differ exactly
    by their gains and offsets.  Deterministic by ``seed``.
    """

    process_id = "SimulateLRGB"
    pixinsight = False  # procfw's own simulator
    categories = ("Image",)
    is_maskable = False

    prefix: str = param(
        String(
            default="", allowed_characters=_ID_CHARACTERS, max_length=64,
            description="Prefix of the new image ids: <prefix>L, <prefix>R, <prefix>G and <prefix>B.",
        )
    )
    width: int = param(Int32(default=1024, minimum=16, maximum=_MAX_SIDE, description="Width in pixels."))
    height: int = param(Int32(default=768, minimum=16, maximum=_MAX_SIDE, description="Height in pixels."))
    seed: int = param(UInt32(default=1, description="Seed of the random scene and noise (same seed, same images)."))
    starCount: int = param(  # noqa: N815
        Int32(default=1500, minimum=0, maximum=200_000, description="Number of stars.")
    )
    starPeak: float = param(  # noqa: N815
        Double(
            default=1.5, minimum=0.0, maximum=100.0, precision=4,
            description="Peak of the brightest star before the channel gains (above 1/gain it saturates).",
        )
    )
    starRange: float = param(  # noqa: N815
        Double(
            default=9.0, minimum=0.0, maximum=20.0, precision=2,
            description="Magnitudes from the brightest to the faintest star (counts grow as 10^(0.3 m)).",
        )
    )
    fwhm: float = param(
        Double(default=3.0, minimum=0.5, maximum=30.0, precision=3, description="Star FWHM in pixels.")
    )
    psf: str = param(
        Enumeration(elements=("Moffat", "Gaussian"), default="Moffat", description="Star profile (Moffat β = 4).")
    )
    skyLevel: float = param(  # noqa: N815
        Double(
            default=0.05, minimum=0.0, maximum=0.5, precision=6,
            description="Sky background at the centre of the frame, before the channel gains.",
        )
    )
    gradient: float = param(
        Double(
            default=0.3, minimum=0.0, maximum=2.0, precision=4,
            description="Fractional change of the sky across the frame (direction drawn from the seed).",
        )
    )
    nebulaStrength: float = param(  # noqa: N815
        Double(
            default=0.02, minimum=0.0, maximum=1.0, precision=6,
            description="Brightest value of the nebula (grey mean of its colour), before the channel gains; 0: none.",
        )
    )
    noiseLevel: float = param(  # noqa: N815
        Double(
            default=1.0, minimum=0.0, maximum=100.0, precision=4,
            description="Scale of the noise: shot noise (10^6 e-/unit at 1) plus read noise 0.0001 × level; 0: none.",
        )
    )
    gainL: float = param(_gain("L"))  # noqa: N815
    gainR: float = param(_gain("R"))  # noqa: N815
    gainG: float = param(_gain("G"))  # noqa: N815
    gainB: float = param(_gain("B"))  # noqa: N815
    offsetL: float = param(_offset("L"))  # noqa: N815
    offsetR: float = param(_offset("R"))  # noqa: N815
    offsetG: float = param(_offset("G"))  # noqa: N815
    offsetB: float = param(_offset("B"))  # noqa: N815

    def validate(self) -> None:
        if self.prefix and self.prefix[0].isdigit():
            raise self.invalid("prefix", self.prefix, "image ids must not start with a digit")

    # -- the model -------------------------------------------------------------------------
    def image_ids(self) -> dict[str, str]:
        """The requested id of each channel's image (L, R, G, B)."""
        return {channel: f"{self.prefix}{channel}" for channel in CHANNELS}

    def model(self) -> LRGBModel:
        """The simulation model these parameters describe."""
        return LRGBModel(
            width=self.width, height=self.height, seed=self.seed, star_count=self.starCount, star_peak=self.starPeak,
            star_range=self.starRange, fwhm=self.fwhm, psf=self.psf.lower(), sky_level=self.skyLevel,
            gradient=self.gradient, nebula_strength=self.nebulaStrength, noise=self.noiseLevel,
            gains={c: getattr(self, f"gain{c}") for c in CHANNELS},
            offsets={c: getattr(self, f"offset{c}") for c in CHANNELS},
        )

    def truth(self) -> dict[str, Any]:
        """The read-only outputs: each channel's gain and offset, ``{"L": {"gain": ..., "offset": ...}, ...}``."""
        return {
            c: {"gain": float(getattr(self, f"gain{c}")), "offset": float(getattr(self, f"offset{c}"))}
            for c in CHANNELS
        }

    def render(self) -> LRGBSet:
        """The rendered set with its truth (frames, noiseless scene, parts, star table)."""
        return render_lrgb(self.model())

    def images(self, rendered: LRGBSet | None = None) -> dict[str, Image]:
        """The four images by requested id, with FILTER and truth keywords."""
        rendered = rendered if rendered is not None else self.render()
        out: dict[str, Image] = {}
        for channel, view_id in self.image_ids().items():
            keywords = [
                FITSKeyword("IMAGETYP", "Light Frame", "Type of image"),
                FITSKeyword("FILTER", channel, "Filter used"),
                FITSKeyword("OBJECT", "SIMULATED LRGB", "Target"),
                FITSKeyword("SIMSEED", int(self.seed), "procfw SimulateLRGB seed"),
                FITSKeyword("SIMGAIN", float(getattr(self, f"gain{channel}")), "Simulated channel gain"),
                FITSKeyword("SIMOFFS", float(getattr(self, f"offset{channel}")), "Simulated channel offset"),
            ]
            out[view_id] = Image(rendered.frames[channel][None].copy(), keywords)
        return out

    # -- execution -------------------------------------------------------------------------
    def run_global(self, context: ExecutionContext) -> ProcessOutput:
        context.report(0.0, "rendering the scene")
        rendered = self.render()
        context.report(0.9, "opening the images")
        return ProcessOutput(new_images=self.images(rendered), outputs=self.truth())
