"""The calibration itself: master frames prepared once, then ``(T − B − k·D) / F`` per target.

:class:`Settings` holds the parameter values the engine needs (built by the
ImageCalibration process); :func:`load_masters` reads and prepares the master frames;
:func:`calibrate_image` calibrates one image.  No files are written here.

Order of operations (PixInsight's):

1. input pedestal subtracted from every frame (``pedestalMode``), overscan correction;
2. master dark: minus master bias when ``calibrateDark``; the optimizing dark is built
   from it (:mod:`processes.calibration.darkopt`);
3. master flat: minus bias and k·dark when ``calibrateFlat`` (k optimized on the flat),
   then divided by its per-channel trimmed mean (per CFA colour with
   ``separateCFAFlatScalingFactors``), so that it is ~1;
4. target: ``(T − B − k·D) / max(F, 1e-15)`` with k per channel (1 without optimization);
5. output pedestal added (literal or automatic), result truncated to [0, 1];
6. noise evaluation (MRS or k-sigma; on the 2×2-binned frame for CFA data).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from processes.calibration.autocosmetic import correct as correct_defects
from processes.calibration.autocosmetic import cosmetic_map
from processes.calibration.darkopt import OptimizingDark, bin2x2, optimizing_dark, scaling_factors
from processes.calibration.frames import Overscan, input_pedestal, planes_for, to_planes
from processes.kernels.cfa import CFAPattern, detect_pattern
from processes.kernels.noise import estimate_noise, noise_scale_factors
from procfw.errors import ExecutionError, ProcfwError
from procfw.image import FITSKeyword, Image
from procfw.io import read_image

__all__ = ["Masters", "Settings", "calibrate_image", "load_masters"]

log = logging.getLogger(__name__)

TINY = 1.0e-15
HUGE_PEDESTAL = 1000
"""Upper limit of an automatic output pedestal, DN."""
DARK_COUNT_SMALL = 16
"""Fewer optimizing-dark pixels than this disables dark optimization."""


@attrs.frozen(kw_only=True)
class Settings:
    """The parameter values the calibration engine uses (see ImageCalibration's parameters)."""

    enable_cfa: bool = True
    cfa_pattern: str = "Auto"
    pedestal: int = 0
    pedestal_mode: str = "Keyword"
    pedestal_keyword: str = ""
    overscan: Overscan = Overscan()
    bias_path: str = ""
    dark_path: str = ""
    flat_path: str = ""
    calibrate_bias: bool = False
    calibrate_dark: bool = False
    calibrate_flat: bool = False
    optimize_darks: bool = True
    dark_optimization_threshold: float = 0.0
    dark_optimization_low: float = 3.0
    dark_optimization_window: int = 0
    dark_cfa_detection_mode: str = "DetectCFA"
    separate_cfa_flat_scaling_factors: bool = True
    flat_scale_clipping_factor: float = 0.05
    evaluate_noise: bool = True
    noise_algorithm: str = "MRS"
    output_pedestal: int = 0
    output_pedestal_mode: str = "OutputPedestal_Literal"
    auto_pedestal_limit: float = 0.0001
    cosmetic_low: bool = False
    cosmetic_low_sigma: int = 5
    cosmetic_high: bool = False
    cosmetic_high_sigma: int = 10
    cosmetic_kernel_radius: int = 1


@attrs.frozen(kw_only=True, eq=False)
class Masters:
    """Prepared master frames (planar float32, pedestal/overscan/bias handled)."""

    bias: np.ndarray | None = None
    dark: np.ndarray | None = None
    flat: np.ndarray | None = None
    optimizing: OptimizingDark | None = None
    dark_cfa: bool = False
    flat_pattern: CFAPattern | None = None
    flat_scaling: tuple[float, ...] = ()
    flat_dark_scaling: tuple[float, ...] = ()
    shape: tuple[int, int] | None = None
    history: tuple[str, ...] = ()
    cosmetic: np.ndarray | None = None  # automatic cosmetic correction map (see processes.calibration.autocosmetic)


def _cfa_pattern(image: Image, settings: Settings) -> CFAPattern | None:
    """The CFA pattern of a frame as PixInsight decides it (enableCFA, cfaPattern, keywords)."""
    if not settings.enable_cfa or image.channels != 1:
        return None
    if settings.cfa_pattern != "Auto":
        return CFAPattern.parse(settings.cfa_pattern)
    return detect_pattern(image)[0]


def _read_master(path: str, what: str, settings: Settings, apply_overscan: bool) -> tuple[np.ndarray, Image]:
    if not path.strip():
        raise ExecutionError(f"no master {what} frame file has been specified")
    try:
        image = read_image(Path(os.path.expanduser(path.strip())))
    except ProcfwError as exc:
        raise ExecutionError(f"cannot load the master {what} frame: {exc}") from None
    pedestal = input_pedestal(image, settings.pedestal_mode, settings.pedestal, settings.pedestal_keyword)
    pixels = to_planes(image, pedestal)
    if apply_overscan:
        pixels = settings.overscan.apply(pixels)
    return pixels, image


def _check_shape(shape: tuple[int, int] | None, pixels: np.ndarray, what: str) -> tuple[int, int]:
    here = (pixels.shape[1], pixels.shape[2])
    if shape is not None and here != shape:
        raise ExecutionError(
            f"incompatible image geometry: the {what} is {here[1]}×{here[0]} pixels, expected {shape[1]}×{shape[0]}"
        )
    return here


def _trimmed_mean(values: np.ndarray, fraction: float) -> float:
    data = np.sort(values.astype(np.float64).ravel())
    t = max(1, int(fraction * data.size))
    if data.size <= 2 * t:
        return float(np.mean(data))
    return float(np.mean(data[t:-t]))


def load_masters(settings: Settings) -> Masters:
    """Read and prepare the enabled master frames (paths in ``settings``; empty path = not used)."""
    history: list[str] = []
    shape: tuple[int, int] | None = None
    bias = dark = flat = None
    dark_image = flat_image = None
    if settings.bias_path:
        bias, _ = _read_master(settings.bias_path, "bias", settings, settings.calibrate_bias)
        shape = _check_shape(shape, bias, "master bias frame")
        history.append(f"ImageCalibration.masterBias.fileName: {Path(settings.bias_path).name}")
    if settings.dark_path:
        dark, dark_image = _read_master(settings.dark_path, "dark", settings, settings.calibrate_dark)
        shape = _check_shape(shape, dark, "master dark frame")
        history.append(f"ImageCalibration.masterDark.fileName: {Path(settings.dark_path).name}")
    if settings.flat_path:
        flat, flat_image = _read_master(settings.flat_path, "flat", settings, settings.calibrate_flat)
        shape = _check_shape(shape, flat, "master flat frame")
        history.append(f"ImageCalibration.masterFlat.fileName: {Path(settings.flat_path).name}")

    dark_pattern = _cfa_pattern(dark_image, settings) if dark_image is not None else None
    flat_pattern = _cfa_pattern(flat_image, settings) if flat_image is not None else None
    if dark_pattern is not None and flat_pattern is not None and dark_pattern != flat_pattern:
        raise ExecutionError(
            f"mismatched CFA patterns between the master dark and flat frames: '{dark_pattern}', '{flat_pattern}'"
        )
    dark_cfa = {"ForceCFA": dark is not None and dark.shape[0] == 1, "IgnoreCFA": False}.get(
        settings.dark_cfa_detection_mode, dark_pattern is not None
    )

    optimizing = None
    if dark is not None:
        if settings.calibrate_dark and bias is not None:
            dark = dark - planes_for_stack(bias, dark.shape[0])
        if settings.optimize_darks:
            optimizing = optimizing_dark(
                dark, low=settings.dark_optimization_low, threshold=settings.dark_optimization_threshold,
                window=settings.dark_optimization_window, cfa=dark_cfa,
            )
            if min(optimizing.counts) < DARK_COUNT_SMALL:
                log.warning("too few pixels above the dark optimization threshold: dark optimization disabled")
                history.append("ImageCalibration.masterDark.optimization: disabled (too few pixels above threshold)")
                optimizing = None

    cosmetic = None
    if dark is not None and (settings.cosmetic_low or settings.cosmetic_high):
        cosmetic = cosmetic_map(dark, low=settings.cosmetic_low, low_sigma=settings.cosmetic_low_sigma,
                                high=settings.cosmetic_high, high_sigma=settings.cosmetic_high_sigma)
        history.append("ImageCalibration.cosmeticCorrection: " + ", ".join(
            f"{np.count_nonzero(plane == 1)} cold, {np.count_nonzero(plane == 2)} hot" for plane in cosmetic))

    flat_scaling: tuple[float, ...] = ()
    flat_k: tuple[float, ...] = ()
    if flat is not None:
        if settings.calibrate_flat and (bias is not None or dark is not None):
            use_k = dark is not None and optimizing is not None
            ks = scaling_factors(flat, optimizing) if use_k else [1.0] * len(flat)
            flat_k = tuple(ks)
            flat = _subtract(flat, bias, dark, ks)
        flat, flat_scaling = _scale_flat(flat, flat_pattern, settings)
        history.append("ImageCalibration.masterFlat.scalingFactors: " + " ".join(f"{s:.6f}" for s in flat_scaling))
    return Masters(
        bias=bias, dark=dark, flat=flat, optimizing=optimizing, dark_cfa=dark_cfa, flat_pattern=flat_pattern,
        flat_scaling=flat_scaling, flat_dark_scaling=flat_k, shape=shape, history=tuple(history), cosmetic=cosmetic,
    )


def planes_for_stack(master: np.ndarray, channels: int) -> np.ndarray:
    """The master broadcast to ``channels`` planes (min(c, n − 1) rule)."""
    return np.stack(list(planes_for(master, channels)))


def _subtract(pixels: np.ndarray, bias: np.ndarray | None, dark: np.ndarray | None, ks) -> np.ndarray:
    out = pixels.astype(np.float32, copy=True)
    n = out.shape[0]
    if bias is not None:
        out -= planes_for_stack(bias, n)
    if dark is not None:
        for c, plane in enumerate(planes_for(dark, n)):
            out[c] -= np.float32(ks[c]) * plane
    return out


def _scale_flat(
    flat: np.ndarray, pattern: CFAPattern | None, settings: Settings
) -> tuple[np.ndarray, tuple[float, ...]]:
    fraction = settings.flat_scale_clipping_factor
    out = flat.astype(np.float32, copy=True)
    factors: list[float] = []
    if pattern is not None and settings.separate_cfa_flat_scaling_factors:
        cmap = pattern.channel_map(flat.shape[1], flat.shape[2])
        for c in range(3):
            sel = cmap == c
            s = _trimmed_mean(out[0][sel], fraction)
            if 1 + s == 1:
                raise ExecutionError(f"zero or insignificant scaling factor for master flat CFA component {c}")
            out[0][sel] /= np.float32(s)
            factors.append(s)
    else:
        for c in range(out.shape[0]):
            s = _trimmed_mean(out[c], fraction)
            if 1 + s == 1:
                raise ExecutionError(f"zero or insignificant scaling factor for master flat channel {c}")
            out[c] /= np.float32(s)
            factors.append(s)
    return out, tuple(factors)


def _auto_pedestal(pixels: np.ndarray, limit: float) -> int:
    eps2 = 2 * float(np.finfo(np.float32).eps)
    if float(pixels.min()) >= eps2:
        return 0
    low = np.sort(pixels[pixels < eps2].astype(np.float64))
    n = int(limit * pixels.shape[1] * pixels.shape[2])
    if n < 1 or low.size < n:
        return 0
    return min(max(1, int(round(65535 * abs(low[n - 1])))), HUGE_PEDESTAL)


def calibrate_image(
    image: Image, masters: Masters, settings: Settings, *, source: str = ""
) -> tuple[Image, dict[str, Any]]:
    """Calibrate one image with prepared masters; returns the new image and its results.

    Results: ``darkScalingFactors`` (per channel), ``noiseEstimates``, ``noiseFractions``,
    ``noiseAlgorithms``, ``noiseScaleLow``, ``noiseScaleHigh``, ``outputPedestal`` (DN),
    ``calibrationRange`` (min, max before truncation).
    """
    pedestal_in = input_pedestal(image, settings.pedestal_mode, settings.pedestal, settings.pedestal_keyword)
    pixels = to_planes(image, pedestal_in)
    pixels = settings.overscan.apply(pixels)
    what = f"target frame{' ' + source if source else ''}"
    _check_shape(masters.shape, pixels, what)
    channels = pixels.shape[0]
    for name, master in (("bias", masters.bias), ("dark", masters.dark), ("flat", masters.flat)):
        if master is not None and master.shape[0] not in (1, channels):
            raise ExecutionError(
                f"the master {name} frame has {master.shape[0]} channels; the {what} has {channels}"
            )

    if masters.dark is not None and masters.optimizing is not None:
        ks = scaling_factors(pixels, masters.optimizing)
    else:
        ks = [1.0] * channels
    out = _subtract(pixels, masters.bias, masters.dark, ks)
    if masters.flat is not None:
        for c, plane in enumerate(planes_for(masters.flat, channels)):
            out[c] /= np.maximum(plane, np.float32(TINY))

    cosmetic_counts: dict[str, list[int]] = {}
    if masters.cosmetic is not None:
        lows, highs = correct_defects(out, masters.cosmetic, radius=settings.cosmetic_kernel_radius,
                                      cfa=masters.dark_cfa)
        cosmetic_counts = {"cosmeticCorrectionLowCounts": lows, "cosmeticCorrectionHighCounts": highs}

    if settings.output_pedestal_mode == "OutputPedestal_Auto":
        pedestal_out = _auto_pedestal(out, settings.auto_pedestal_limit)
    else:
        pedestal_out = int(settings.output_pedestal)
    if pedestal_out:
        out += np.float32(pedestal_out / 65535.0)
    value_range = (float(out.min()), float(out.max()))
    np.clip(out, 0.0, 1.0, out=out)

    results: dict[str, Any] = {
        "darkScalingFactors": [round(float(k), 6) for k in ks] if masters.dark is not None else [],
        "outputPedestal": pedestal_out,
        "calibrationRange": list(value_range),
        **cosmetic_counts,
    }
    keywords = [k for k in image.keywords if k.name.upper() != "PEDESTAL"]
    history = ["Calibration with procfw ImageCalibration process", *masters.history]
    if masters.dark is not None and masters.optimizing is not None:
        history.append("ImageCalibration.masterDark.scalingFactors: " + " ".join(f"{k:.3f}" for k in ks))
    if pedestal_in:
        history.append(f"ImageCalibration.inputPedestal: {pedestal_in:g} DN subtracted")
    if settings.evaluate_noise:
        keywords = [k for k in keywords if not k.name.upper().startswith("NOISE")]
        target_pattern = _cfa_pattern(image, settings)
        noise = _evaluate_noise(out, target_pattern is not None, settings.noise_algorithm)
        results.update(noise)
        history.append("ImageCalibration.noiseEstimates: " + " ".join(f"{s:.4e}" for s in noise["noiseEstimates"]))
    keywords.extend(FITSKeyword("HISTORY", line, "") for line in history)
    if settings.evaluate_noise:
        for i, (s, f, lo, hi, a) in enumerate(
            zip(results["noiseEstimates"], results["noiseFractions"], results["noiseScaleLow"],
                results["noiseScaleHigh"], results["noiseAlgorithms"])
        ):
            keywords += [
                FITSKeyword(f"NOISE{i:02d}", float(f"{s:.4e}"), f"Noise estimate, channel #{i}"),
                FITSKeyword(f"NOISEF{i:02d}", float(f"{f:.3f}"), f"Fraction of noise pixels, channel #{i}"),
                FITSKeyword(f"NOISEL{i:02d}", float(f"{lo:.6e}"), f"Noise scaling factor, low pixels, channel #{i}"),
                FITSKeyword(f"NOISEH{i:02d}", float(f"{hi:.6e}"), f"Noise scaling factor, high pixels, channel #{i}"),
                FITSKeyword(f"NOISEA{i:02d}", a, f"Noise evaluation algorithm, channel #{i}"),
            ]
    if pedestal_out:
        keywords.append(FITSKeyword("PEDESTAL", pedestal_out, "Value in DN added to enforce positivity"))
    return Image(out, keywords, dict(image.properties)), results


def _evaluate_noise(pixels: np.ndarray, cfa: bool, algorithm: str) -> dict[str, list]:
    estimates, fractions, algorithms, lows, highs = [], [], [], [], []
    for plane in pixels:
        p = bin2x2(plane) if cfa and min(plane.shape) >= 2 else plane
        est = estimate_noise(p, "K-Sigma" if algorithm == "KSigma" else "MRS")
        lo, hi = noise_scale_factors(p)
        estimates.append(est.sigma)
        fractions.append(est.fraction)
        algorithms.append(est.algorithm)
        lows.append(lo)
        highs.append(hi)
    return {
        "noiseEstimates": estimates, "noiseFractions": fractions, "noiseAlgorithms": algorithms,
        "noiseScaleLow": lows, "noiseScaleHigh": highs,
    }
