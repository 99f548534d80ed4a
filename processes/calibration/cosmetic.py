"""CosmeticCorrection: replace hot, cold and defective pixels (PixInsight CosmeticCorrection).

Defective pixels are found by up to three methods, then replaced by the median of their
neighbours (the 8 around them; for ``cfa`` images the 8 nearest pixels of the same CFA
colour, two pixels apart), leaving out neighbours that are themselves defective:

*Auto detection* (``useAutoDetect``), on each channel (each CFA colour plane with ``cfa``).
With ``m`` the median of the 8 neighbours, ``a`` their mean, ``b`` the median of the 7×7
ring around the 3×3 neighbourhood, ``σ`` the standard deviation of the noise (k-sigma
estimate from the first wavelet layer, see :mod:`processes.kernels.noise`) and
``S = max(σ, 1.4826·MAD of the 8 neighbours)`` (the local scale, larger on star slopes):

* hot (``hotAutoCheck``): ``x > m + hotAutoValue·S`` and ``x > b + σ`` and
  ``a < b + 1.5·σ`` — brighter than its neighbours, and not inside a bright structure
  (the last test spares stars, whose neighbours are bright too);
* cold (``coldAutoCheck``): ``x + coldAutoValue·S`` below ``m``, below ``b`` and below the
  mean of each pair of opposite neighbours (N–S, W–E and both diagonals), which spares
  the slopes of and valleys between bright stars.

These follow PixInsight's rules, with two changes: PixInsight measures thresholds in the
channel's mean absolute deviation from its median, which grows with gradients,
vignetting and nebulosity (so the same value finds fewer defects in busier images); here
the unit is the noise σ, raised to the local neighbour spread where the image has
structure, so ``hotAutoValue`` is a signal-to-noise threshold.  The cold tests against
opposite neighbours are additions.

*Master dark* (``useMasterDark``, ``masterDarkPath``): pixels whose dark value is above
``hotDarkLevel`` (``hotDarkCheck``) or below ``coldDarkLevel`` (``coldDarkCheck``), in the
normalized [0, 1] range.

*Defect list* (``useDefectList``): whole columns or rows (``defectIsRow``) at
``defectAddress``, optionally only from ``defectBegin`` to ``defectEnd``.

``amount`` blends the correction: ``amount·replacement + (1 − amount)·original``.

The process runs on views and globally over ``targetFrames`` (output
``outputDir/prefix + name + postfix + outputExtension``, never overwriting an existing
file unless ``overwrite``).  Outputs: the number of pixels corrected by each method.
Other differences from PixInsight: hot auto-detected pixels are replaced by the neighbour
median (PixInsight: the mean), and with ``cfa`` the statistics are per CFA colour.
"""

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids
from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from processes.common.filelists import (
    FRAME_WORKER_PRELOAD,
    as_written,
    check_output_paths,
    file_key,
    file_list_table,
    output_file_path,
    run_file_list,
    summarize,
    worker_state,
    write_frame,
)
from processes.kernels.noise import noise_ksigma
from procfw.errors import ExecutionError, ProcfwError
from procfw.image import FITSKeyword, Image
from procfw.io import read_image
from procfw.params import Boolean, Float, String, Table, UInt16, param
from procfw.process import ExecutionContext, Process, ProcessOutput
from procfw.workspace import View

__all__ = ["CosmeticCorrection", "correct_defects", "detect_auto"]

_RING3 = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)
_RING7 = tuple((dy, dx) for dy in range(-3, 4) for dx in range(-3, 4) if max(abs(dy), abs(dx)) >= 2)
_AXES = ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (1, 1), (-1, 1), (1, -1))
_RING3_FOOTPRINT = np.ones((3, 3), dtype=bool)
_RING3_FOOTPRINT[1, 1] = False
COUNT_KEYS = ("hotAutoCount", "coldAutoCount", "hotDarkCount", "coldDarkCount", "defectListCount")


def _gather(plane: np.ndarray, ys: np.ndarray, xs: np.ndarray, offsets, pad: int) -> np.ndarray:
    """(n, len(offsets)) samples at (ys + dy, xs + dx), mirror borders."""
    padded = np.pad(plane, pad, mode="reflect") if min(plane.shape) > pad else np.pad(plane, pad, mode="edge")
    dy = np.array([o[0] for o in offsets])
    dx = np.array([o[1] for o in offsets])
    return padded[ys[:, None] + pad + dy[None, :], xs[:, None] + pad + dx[None, :]]


def detect_auto(
    plane: np.ndarray, *, hot: float | None, cold: float | None, sigma: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (hot, cold) masks of one 2-D plane by the auto-detection rules.

    ``hot``/``cold`` are the thresholds in units of the plane's noise σ (None: that test
    is off); ``sigma`` overrides the estimate.  See the module docstring.
    """
    p = np.asarray(plane, dtype=np.float64)
    hot_mask = np.zeros(p.shape, dtype=bool)
    cold_mask = np.zeros(p.shape, dtype=bool)
    if p.shape[0] < 3 or p.shape[1] < 3:
        return hot_mask, cold_mask
    s = noise_ksigma(p).sigma if sigma is None else sigma
    if not s > 0:
        return hot_mask, cold_mask
    med = _ring_median(p)
    if hot is not None:
        ys, xs = np.nonzero(p > med + hot * s)
        if ys.size:
            x, m, spread, ring = _local(p, ys, xs, s)
            bkg = np.median(_gather(p, ys, xs, _RING7, 3), axis=1)
            avr = np.mean(ring, axis=1)
            keep = (x > m + hot * spread) & (x > bkg + s) & (avr < bkg + 1.5 * s)
            hot_mask[ys[keep], xs[keep]] = True
    if cold is not None:
        ys, xs = np.nonzero(p + cold * s < med)
        if ys.size:
            x, m, spread, _ = _local(p, ys, xs, s)
            bkg = np.median(_gather(p, ys, xs, _RING7, 3), axis=1)
            pairs = _gather(p, ys, xs, _AXES, 1)  # opposite pairs: N/S, W/E, NW/SE, NE/SW
            axis_floor = np.min(0.5 * (pairs[:, 0::2] + pairs[:, 1::2]), axis=1)
            low = x + cold * spread
            keep = (low < m) & (low < bkg) & (low < axis_floor)
            cold_mask[ys[keep], xs[keep]] = True
    return hot_mask, cold_mask


def _ring_median(p: np.ndarray) -> np.ndarray:
    """``median_filter(p, footprint=_RING3_FOOTPRINT, mode="mirror")`` of a float64 plane, by
    the compiled kernel (:mod:`processes.calibration.cosmetic_nb`) for planes of 2¹⁶ pixels or more."""
    if p.size < 1 << 16 or p.dtype != np.float64:
        from scipy import ndimage  # imported where used (~0.15 s)
        return ndimage.median_filter(p, footprint=_RING3_FOOTPRINT, mode="mirror")
    from processes.calibration.cosmetic_nb import ring_median

    out = np.empty_like(p)
    ring_median(np.ascontiguousarray(p), out)
    return out


def _local(p: np.ndarray, ys: np.ndarray, xs: np.ndarray, sigma: float):
    """(x, neighbour median, max(σ, neighbour spread), the 8 neighbours) at the candidates."""
    ring = _gather(p, ys, xs, _RING3, 1)
    m = np.median(ring, axis=1)
    spread = 1.4826 * np.median(np.abs(ring - m[:, None]), axis=1)
    return p[ys, xs], m, np.maximum(spread, sigma), ring


def correct_defects(plane: np.ndarray, mask: np.ndarray, amount: float = 1.0) -> np.ndarray:
    """A copy of ``plane`` with the ``mask`` pixels replaced by the median of their good neighbours.

    Neighbours flagged in ``mask`` are left out; a pixel whose 8 neighbours are all
    defective uses the ring at distance 2, then 3, then the plane's median.
    """
    out = np.array(plane, dtype=np.float64, copy=True)
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return out
    flagged = np.where(mask, np.nan, out)
    values = np.full(ys.size, np.nan)
    todo = np.arange(ys.size)
    for radius in (1, 2, 3):
        ring = [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)
                if max(abs(dy), abs(dx)) == radius]
        samples = _gather(flagged, ys[todo], xs[todo], ring, radius)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            found = np.nanmedian(samples, axis=1)
        values[todo] = found
        todo = todo[np.isnan(found)]
        if todo.size == 0:
            break
    if todo.size:
        good = out[~mask]
        values[todo] = float(np.median(good)) if good.size else 0.0
    out[ys, xs] = amount * values + (1.0 - amount) * out[ys, xs]
    return out


def _phases(cfa: bool) -> list[tuple[int, int, int]]:
    """(y0, x0, step) of the sub-planes processed independently: the 4 CFA phases, or the whole plane."""
    return [(y, x, 2) for y in (0, 1) for x in (0, 1)] if cfa else [(0, 0, 1)]


class CosmeticCorrection(Process):
    """Replace hot, cold and defective pixels by the median of their neighbours."""

    process_id = "CosmeticCorrection"
    worker_preload = FRAME_WORKER_PRELOAD
    categories = ("ImageCalibration", "Preprocessing")

    targetFrames: tuple = param(file_list_table(
        "Target frames to correct: rows (enabled, path). On the console also a glob such as \"lights/*.fits\"."))
    masterDarkPath: str = param(String(description="Master dark frame used to find hot/cold pixels (useMasterDark)."))
    outputDir: str = param(String(description="Directory of the output files (empty: each target's own)."))
    outputExtension: str = param(String(default=".xisf", description="Output file extension, which selects the "
                                        "format (.xisf, .fits, .fit)."))
    prefix: str = param(String(default="", description="Prefix of the output file names."))
    postfix: str = param(String(default="_cc", description="Postfix of the output file names."))
    overwrite: bool = param(Boolean(default=False, description="Replace existing output files (else a frame whose "
                                    "output exists fails)."))
    amount: float = param(Float(minimum=0.0, maximum=1.0, default=1.0, precision=2, aliases=("transferFn",),
                                description="Strength of the correction: amount·replacement + (1 − amount)·original."))
    cfa: bool = param(Boolean(default=False, description="The images are raw CFA frames: compare and replace pixels "
                              "with their same-colour neighbours (two pixels apart)."))
    useMasterDark: bool = param(Boolean(default=False, description="Find defects from the master dark frame."))
    hotDarkCheck: bool = param(Boolean(default=False, description="Correct pixels whose dark value is above "
                                       "hotDarkLevel."))
    hotDarkLevel: float = param(Float(minimum=0.0, maximum=1.0, default=1.0, precision=10,
                                      description="Dark level (normalized 0..1) above which a pixel is hot."))
    coldDarkCheck: bool = param(Boolean(default=False, description="Correct pixels whose dark value is below "
                                        "coldDarkLevel."))
    coldDarkLevel: float = param(Float(minimum=0.0, maximum=1.0, default=0.0, precision=10,
                                       description="Dark level (normalized 0..1) below which a pixel is cold."))
    useAutoDetect: bool = param(Boolean(default=False, description="Detect hot/cold pixels from the image itself."))
    hotAutoCheck: bool = param(Boolean(default=False, description="Detect hot pixels automatically."))
    hotAutoValue: float = param(Float(minimum=0.0, maximum=50.0, default=3.0, precision=1,
                                      description="Hot pixel threshold above the neighbour median, in units of the "
                                      "noise standard deviation."))
    coldAutoCheck: bool = param(Boolean(default=False, description="Detect cold pixels automatically."))
    coldAutoValue: float = param(Float(minimum=0.0, maximum=50.0, default=3.0, precision=1,
                                       description="Cold pixel threshold below the neighbour median, in units of the "
                                       "noise standard deviation."))
    useDefectList: bool = param(Boolean(default=False, description="Correct the columns/rows of the defects table."))
    defects: tuple = param(Table(
        columns=(
            Boolean(id="defectEnabled", default=True, description="Whether this defect is corrected."),
            Boolean(id="defectIsRow", default=False, description="A row (true) or a column (false)."),
            UInt16(id="defectAddress", default=0, description="Row or column index (0-based)."),
            Boolean(id="defectIsRange", default=False, description="Only from defectBegin to defectEnd."),
            UInt16(id="defectBegin", default=0, description="First pixel of the defective range."),
            UInt16(id="defectEnd", default=0, description="Last pixel of the defective range."),
        ),
        description="Defective columns and rows: (defectEnabled, defectIsRow, defectAddress, defectIsRange, "
        "defectBegin, defectEnd).",
    ))

    # -- capability ---------------------------------------------------------------------------
    def _methods_problem(self) -> str:
        auto = self.useAutoDetect and (self.hotAutoCheck or self.coldAutoCheck)
        dark = self.useMasterDark and (self.hotDarkCheck or self.coldDarkCheck)
        listed = self.useDefectList and any(row[0] for row in self.defects)
        if self.useMasterDark and (self.hotDarkCheck or self.coldDarkCheck) and not self.masterDarkPath.strip():
            return "useMasterDark is set but masterDarkPath is empty"
        if not (auto or dark or listed):
            return ("no correction method is enabled: set useAutoDetect with hotAutoCheck/coldAutoCheck, "
                    "useMasterDark with hotDarkCheck/coldDarkCheck, or useDefectList with enabled defects")
        return ""

    def can_execute_on(self, view: View) -> tuple[bool, str]:
        problem = self._methods_problem()
        return (False, problem) if problem else (True, "")

    def can_execute_global(self) -> tuple[bool, str]:
        if not self.targetFrames:
            return False, "no target frames have been specified (targetFrames is empty)"
        problem = self._methods_problem()
        return (False, problem) if problem else (True, "")

    # -- the maths ---------------------------------------------------------------------------
    def _dark(self) -> np.ndarray | None:
        if not (self.useMasterDark and (self.hotDarkCheck or self.coldDarkCheck)):
            return None
        try:
            return read_image(Path(os.path.expanduser(self.masterDarkPath.strip()))).pixels
        except ProcfwError as exc:
            raise ExecutionError(f"{self.process_id}: cannot load the master dark frame: {exc}") from None

    def correct(self, image: Image, dark: np.ndarray | None = None) -> tuple[Image, dict[str, int]]:
        """The corrected image and the number of pixels each method corrected."""
        if dark is not None and dark.shape[1:] != image.pixels.shape[1:]:
            raise ExecutionError(
                f"{self.process_id}: the master dark is {dark.shape[2]}×{dark.shape[1]} pixels; "
                f"the image is {image.width}×{image.height}"
            )
        out = np.empty(image.pixels.shape, dtype=np.float32)
        counts = dict.fromkeys(COUNT_KEYS, 0)
        for c in range(image.channels):
            plane = image.pixels[c]
            masks = self._channel_masks(plane, None if dark is None else dark[min(c, dark.shape[0] - 1)])
            for key, mask in masks.items():
                counts[key] += int(mask.sum())
            combined = np.logical_or.reduce(list(masks.values()))
            result = np.array(plane, dtype=np.float64)
            for y0, x0, step in _phases(self.cfa):
                sub = (slice(y0, None, step), slice(x0, None, step))
                result[sub] = correct_defects(plane[sub], combined[sub], self.amount)
            out[c] = result
        counts["totalCount"] = int(sum(counts[k] for k in COUNT_KEYS))
        note = FITSKeyword("HISTORY", "CosmeticCorrection: " + ", ".join(f"{k}={v}" for k, v in counts.items()), "")
        return Image(out, [*image.keywords, note], dict(image.properties)), counts

    def _channel_masks(self, plane: np.ndarray, dark: np.ndarray | None) -> dict[str, np.ndarray]:
        shape = plane.shape
        masks = {key: np.zeros(shape, dtype=bool) for key in COUNT_KEYS}
        if self.useAutoDetect and (self.hotAutoCheck or self.coldAutoCheck):
            for y0, x0, step in _phases(self.cfa):
                sub = (slice(y0, None, step), slice(x0, None, step))
                hot, cold = detect_auto(
                    plane[sub], hot=self.hotAutoValue if self.hotAutoCheck else None,
                    cold=self.coldAutoValue if self.coldAutoCheck else None,
                )
                masks["hotAutoCount"][sub] = hot
                masks["coldAutoCount"][sub] = cold
        if dark is not None:
            if self.hotDarkCheck:
                masks["hotDarkCount"] = dark > self.hotDarkLevel
            if self.coldDarkCheck:
                masks["coldDarkCount"] = dark < self.coldDarkLevel
        if self.useDefectList:
            masks["defectListCount"] = self._defect_mask(shape)
        # a pixel is counted once, by the first method that found it
        seen = np.zeros(shape, dtype=bool)
        for key in ("hotDarkCount", "coldDarkCount", "hotAutoCount", "coldAutoCount", "defectListCount"):
            masks[key] &= ~seen
            seen |= masks[key]
        return masks

    def _defect_mask(self, shape: tuple[int, int]) -> np.ndarray:
        mask = np.zeros(shape, dtype=bool)
        height, width = shape
        for enabled, is_row, address, is_range, begin, end in self.defects:
            if not enabled:
                continue
            length, limit = (width, height) if is_row else (height, width)
            if address >= limit:
                continue
            lo, hi = (min(begin, end), min(max(begin, end), length - 1)) if is_range else (0, length - 1)
            if lo >= length:
                continue
            if is_row:
                mask[address, lo : hi + 1] = True
            else:
                mask[lo : hi + 1, address] = True
        return mask

    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        corrected, counts = self.correct(image, self._dark())
        return ProcessOutput(image=corrected, outputs=counts)

    def run_global(self, context: ExecutionContext) -> ProcessOutput:
        self.require_executable_global()
        rows = [(bool(r[0]), str(r[1])) for r in self.targetFrames]
        outputs = {i: self._output_path(path) for i, (enabled, path) in enumerate(rows) if enabled}
        check_output_paths(self.process_id, [(rows[i][1], p) for i, p in outputs.items()], self.outputDir)
        self._frame_dark()  # fails early on a bad master dark
        outcomes = run_file_list(rows, process_id=self.process_id, context=context, instance=self)
        result, messages = summarize(self.process_id, outcomes)
        return ProcessOutput(outputs=result, messages=messages)

    def _output_path(self, source: str) -> Path:
        return output_file_path(source, directory=self.outputDir, prefix=self.prefix, postfix=self.postfix,
                                extension=self.outputExtension)

    def check_frame_state(self) -> None:
        """Load the master dark as a worker would (an error when it cannot be used)."""
        self._frame_dark()

    def _frame_dark(self) -> np.ndarray | None:
        """The master dark pixels, kept per worker process for the frames of one run."""
        return worker_state((self.process_id, self, file_key(self.masterDarkPath)), self._dark)

    def process_file(self, index: int, path: Path, options: Mapping[str, Any]) -> tuple[Path, dict[str, int]]:
        """Correct one target file and write it (any worker; see :func:`run_file_list`)."""
        _, written, counts = self.process_image(index, read_image(path), path, options)
        return written, counts

    def process_image(self, index: int, image: Image, path: Path, options: Mapping[str, Any]
                      ) -> tuple[Image, Path, dict[str, int]]:
        """Correct ``image`` (the content of target ``path``) and write it: ``(corrected, written, counts)``.

        The image returned is the file's content (:func:`as_written`), for a next step
        applied in the same task.
        """
        corrected, counts = self.correct(image, self._frame_dark())
        written = write_frame(corrected, self._output_path(str(path)), overwrite=self.overwrite)
        return as_written(corrected, written), written, counts
