"""DrizzleIntegration: integrate the source frames of registered images by drizzle (PixInsight's process).

PixInsight's process id, parameter ids, enumeration element ids, defaults and precisions
(``DrizzleIntegrationParameters.cpp`` of the ImageIntegration module, PCL of 2024-06, the
last public source; PixInsight 1.9 kept the ids).  Each enabled row of ``inputData`` names a
drizzle data file (``.xdrz``, :mod:`processes.kernels.drizzledata`) written by StarAlignment
(the registration: source file, reference geometry, alignment matrix) and updated by
ImageIntegration (normalization, weights, rejection maps).  Every *source* frame, never the
interpolated registered one, is drizzled onto an output grid ``scale`` times finer than the
reference (:mod:`processes.kernels.drizzle_numba`), its samples normalized ``(v − L)·S + L0``,
weighted by the image weight (``enableImageWeighting``) and skipped where the rejection map
marks them (``enableRejection``).

``kernelFunction`` (PCL's DrizzleIntegrationInstance.cpp, PixInsight 1.8.9-3): ``Kernel_Square``
distributes a drop (a source pixel shrunk by ``dropShrink``) by exact area overlap;
``Kernel_Circular`` by the exact overlap of the disc inscribed in the drop;
``Kernel_Gaussian`` and ``Kernel_Variable10..60`` (PCL's variable shape ``exp(−rᵏ/(k·σᵏ))``,
``k`` = 1.0 … 6.0, Gaussian ``k`` = 2; ``σ`` such that the kernel is 0.025 of its peak at half
the drop side) by a ``kernelGridSize`` × ``kernelGridSize`` grid of sub-samples over the drop,
each weighted by the kernel, as PCL integrates them.  At the same ``dropShrink`` these drops
are more concentrated than the square one (smaller FWHM).

``enableLocalNormalization``: a row's ``localNormalizationDataPath`` (``.xnml``, written by
LocalNormalization on the registered frame, so defined in reference coordinates) replaces the
drizzle data's normalization for that frame: as PCL, each drop's contribution to an output
pixel is normalized ``v' = A·(v − C) + B`` (then PCL's optional global normalization) with
the function taken at the reference pixel holding that output pixel's top-left corner
(the frame's function evaluated once on the reference grid), per output channel (per CFA
colour with ``enableCFA``).  A missing or malformed file, one tagged invalid, or one whose
geometry is not the drizzle reference's is an error naming the file (and both sizes).
PixInsight's ``.xdrz`` files do not name an ``.xnml`` (PCL's DrizzleData has no such
element); a row without one uses the drizzle data's normalization (PCL would keep the
previous row's function).  The ``.xnml`` relative scale factors are not used (PCL's
DrizzleIntegration does not use them either).

``enableCFA``: the frames drizzled are the raw mosaiced ``CFASourceImage`` files of the
drizzle data (StarAlignment records them for debayered targets); each CFA pixel adds only to
its own colour channel of an RGB result, so a one-shot-colour session integrates without
demosaicing.  ``cfaPattern`` empty takes the pattern from the drizzle data (PixInsight's
"auto"); a pattern given overrides it (with a message when they differ).

Results (global execution only): the new images ``drizzle_integration`` (float32, range
rescaled to [0, 1] when it exceeds it, unless ``truncateOnOutOfRange``) and
``drizzle_weights`` (the accumulated drop weights, normalized to a maximum of 1), and the
read-only outputs ``integrationImageId``, ``weightImageId``, ``numberOfChannels``,
``outputPixels``, ``integratedPixels``, ``outputRangeLow``/``High``, ``totalRejectedLow*``/
``High*``, ``totalData`` and the ``imageData`` table.

Not implemented, refused with a clear message when they would matter: surface-spline /
local-distortion registration (a file that has an alignment matrix too is drizzled with the
matrix, with a message) and adaptive normalization data.  Approximate: the non-square kernels'
weights are in output-pixel area units (PCL's are in fractions of a drop; the result is the
same, ``totalData`` is comparable between kernels); the circular overlap is computed in
source coordinates and scaled by the drop's local area ratio (exact for affine registrations).
``useLUT`` (PixInsight 1.9 scripts set it; not in the public source), ``originX``/``originY``
(deprecated in PCL), ``inputHints``, ``closePreviousImages`` and ``noGUIMessages`` are accepted
without effect.
"""

# ruff: noqa: N815 - parameter names are PixInsight's camelCase ids
from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from processes.common import outputs as ro
from processes.common.filelists import FileListTable
from processes.kernels.drizzledata import DrizzleData, DrizzleDataError, read_drizzle_data
from procfw.errors import ExecutionError, ProcfwError
from procfw.image import Image
from procfw.io import read_image
from procfw.params import Boolean, Double, Enumeration, Float, Int32, ParameterKind, String, UInt64, param
from procfw.process import ExecutionContext, Process, ProcessOutput
from procfw.workspace import View

__all__ = ["KERNELS", "DrizzleIntegration", "cfa_channel_map"]

log = logging.getLogger(__name__)

KERNELS = ("Kernel_Square", "Kernel_Circular", "Kernel_Gaussian", "Kernel_Variable10", "Kernel_Variable15",
           "Kernel_Variable30", "Kernel_Variable40", "Kernel_Variable50", "Kernel_Variable60")
"""kernelFunction elements, PixInsight's order (values 0..8)."""
KERNEL_SHAPES = {"Kernel_Gaussian": 2.0, "Kernel_Variable10": 1.0, "Kernel_Variable15": 1.5, "Kernel_Variable30": 3.0,
                 "Kernel_Variable40": 4.0, "Kernel_Variable50": 5.0, "Kernel_Variable60": 6.0}
"""Shape parameter of PCL's variable-shape kernel ``exp(−rᵏ/(k·σᵏ))`` per kernel (Gaussian: k = 2)."""
ON_ERROR = ("Continue", "Abort", "AskUser")
INT32_MAX = 2**31 - 1
_NAMES = {"RK": "red or gray", "G": "green", "B": "blue"}


def _input_table() -> FileListTable:
    return FileListTable(
        columns=(
            Boolean(id="enabled", default=True, description="Whether the file takes part in the integration."),
            String(id="path", description="Drizzle data file (.xdrz)."),
            String(id="localNormalizationDataPath", description="Local normalization data file (.xnml)."),
        ),
        path_column="path",
        description="Input drizzle data files: rows of (enabled, path, localNormalizationDataPath); also a glob "
                    "such as \"registered/*.xdrz\".",
    )


def _image_data_columns() -> tuple[ParameterKind, ...]:
    cols: list[ParameterKind] = [String(id="filePath", read_only=True, description="Source image file.")]
    cols += [Float(id=f"weight{c}", read_only=True, precision=5, description=f"Image weight, {_NAMES[c]}.")
             for c in ro.CHANNELS_RK]
    for stem, what in (("location", "Location estimate"), ("referenceLocation", "Reference location"),
                       ("scalingFactor", "Scaling factor")):
        cols += [Double(id=f"{stem}{c}", read_only=True, precision=3, scientific=True,
                        description=f"{what}, {_NAMES[c]}.") for c in ro.CHANNELS_RK]
    cols += [UInt64(id=f"rejected{side}{c}", read_only=True, description=f"{side} rejected pixels, {_NAMES[c]}.")
             for side in ("Low", "High") for c in ro.CHANNELS_RK]
    cols.append(Float(id="totalData", read_only=True, precision=3, description="Data gathered from this image."))
    return tuple(cols)


_IMAGE_DATA_COLUMNS = _image_data_columns()


def cfa_channel_map(pattern: str, where: str) -> np.ndarray:
    """The output channel (0 R, 1 G, 2 B) of each position of a square CFA pattern such as ``RGGB``."""
    p = pattern.strip().upper()
    k = int(round(len(p) ** 0.5))
    if k < 2 or k * k != len(p) or set(p) - set("RGB"):
        raise ExecutionError(f"DrizzleIntegration: {where}: CFA pattern {pattern!r} is not a square pattern of "
                             "R, G and B letters (such as RGGB)")
    return np.array(["RGB".index(ch) for ch in p], dtype=np.int64).reshape(k, k)


class DrizzleIntegration(Process):
    """Drizzle-integrate the source frames described by drizzle data files (``.xdrz``).

    Reconstructs a finer-sampled (``scale``) master from dithered, undersampled frames, or
    an RGB master straight from raw one-shot-colour frames (``enableCFA``), using the
    registration of StarAlignment and the normalization, weights and rejection maps of
    ImageIntegration stored in the drizzle data.  Global execution only.
    """

    process_id = "DrizzleIntegration"
    categories = ("ImageIntegration", "Preprocessing")
    is_history_updater = False
    is_maskable = False

    inputData: tuple = param(_input_table())
    inputHints: str = param(String(default="fits-keywords normalize raw cfa signed-is-physical",
                                   description="Format hints for reading the source files (no effect)."))
    inputDirectory: str = param(String(default="", description="If not empty, the source files are read from this "
                                       "directory instead of the directories recorded in the drizzle data."))
    scale: float = param(Float(default=2.0, minimum=1.0, maximum=10.0, precision=2,
                               description="Output scale: input pixel size / output pixel size."))
    dropShrink: float = param(Float(default=0.90, minimum=0.1, maximum=1.0, precision=2,
                                    description="Drop shrink factor: the side of a drop relative to its input pixel."))
    kernelFunction: str = param(Enumeration(elements=KERNELS, default="Kernel_Square",
                                            description="Drop kernel function: square, circular, Gaussian or "
                                                        "variable shape 1.0-6.0."))
    kernelGridSize: int = param(Int32(default=16, minimum=4, maximum=100,
                                      description="Sub-samples per side of a drop for the Gaussian and "
                                                  "variable-shape kernels."))
    originX: float = param(Float(default=0.50, minimum=0.0, maximum=1.0, precision=2,
                                 description="Deprecated in PixInsight (the drizzle data carry the origin)."))
    originY: float = param(Float(default=0.50, minimum=0.0, maximum=1.0, precision=2,
                                 description="Deprecated in PixInsight (the drizzle data carry the origin)."))
    enableCFA: bool = param(Boolean(default=False, description="CFA drizzle: integrate the raw mosaiced source "
                                    "frames (CFASourceImage) into an RGB image without demosaicing."))
    cfaPattern: str = param(String(default="", description="CFA pattern (e.g. RGGB); empty: from the drizzle data."))
    enableRejection: bool = param(Boolean(default=True, description="Skip pixels marked in the rejection maps."))
    enableImageWeighting: bool = param(Boolean(default=True, description="Weight each image by its weights."))
    enableSurfaceSplines: bool = param(Boolean(default=True, description="Use surface-spline registration "
                                               "(not implemented: the alignment matrix is used)."))
    enableLocalDistortion: bool = param(Boolean(default=True, description="Apply local distortion models "
                                                "(not implemented)."))
    enableLocalNormalization: bool = param(Boolean(default=True, description="Use local normalization data "
                                                   "(.xnml) when rows name them."))
    enableAdaptiveNormalization: bool = param(Boolean(default=False, description="Use adaptive normalization "
                                                      "data of the drizzle files (not implemented: refused)."))
    useROI: bool = param(Boolean(default=False, description="Integrate only a region of interest (reference pixels)."))
    roiX0: int = param(Int32(default=0, minimum=0, maximum=INT32_MAX, description="ROI left (reference pixels)."))
    roiY0: int = param(Int32(default=0, minimum=0, maximum=INT32_MAX, description="ROI top (reference pixels)."))
    roiX1: int = param(Int32(default=0, minimum=0, maximum=INT32_MAX, description="ROI right, exclusive."))
    roiY1: int = param(Int32(default=0, minimum=0, maximum=INT32_MAX, description="ROI bottom, exclusive."))
    closePreviousImages: bool = param(Boolean(default=False, description="Close previous results (no effect)."))
    useLUT: bool = param(Boolean(default=False, description="PixInsight 1.9 option seen in scripts; no effect."))
    truncateOnOutOfRange: bool = param(Boolean(default=False, description="Truncate an out-of-range result to "
                                               "[0, 1] instead of rescaling it."))
    noGUIMessages: bool = param(Boolean(default=True, description="Only show errors on the console (no effect)."))
    onError: str = param(Enumeration(elements=ON_ERROR, default="Continue",
                                     description="What to do when a file fails (AskUser stops like Abort)."))

    integrationImageId: str = ro.text("Identifier of the drizzle integrated image.")
    weightImageId: str = ro.text("Identifier of the drizzle weight image.")
    numberOfChannels: int = ro.integer("Number of channels of the result.")
    outputPixels: int = ro.integer("Area of the result in square pixels.", UInt64)
    integratedPixels: int = ro.integer("Source pixels integrated.", UInt64)
    outputRangeLow: float = ro.real("Lowest value of the result before rescaling.", 15, general=True)
    outputRangeHigh: float = ro.real("Highest value of the result before rescaling.", 15, general=True)
    totalRejectedLowRK: int = ro.integer("Low rejected pixels, red or gray.", UInt64)
    totalRejectedLowG: int = ro.integer("Low rejected pixels, green.", UInt64)
    totalRejectedLowB: int = ro.integer("Low rejected pixels, blue.", UInt64)
    totalRejectedHighRK: int = ro.integer("High rejected pixels, red or gray.", UInt64)
    totalRejectedHighG: int = ro.integer("High rejected pixels, green.", UInt64)
    totalRejectedHighB: int = ro.integer("High rejected pixels, blue.", UInt64)
    totalData: float = ro.real("Total data gathered, in output image units.", 3, single=True)
    imageData: tuple = ro.table(_IMAGE_DATA_COLUMNS, "Per integrated image: weights, normalization and rejected "
                                "pixel counts per channel.")

    # -- outputs for icons --------------------------------------------------------------------
    def icon_outputs(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """PixInsight's read-only parameters from the ``outputs`` of an execution."""
        schema = type(self).schema()
        values = ro.scalars(schema, outputs)
        if "imageData" in outputs:
            ids = [c.id for c in _IMAGE_DATA_COLUMNS]
            values["imageData"] = ro.table_rows(schema["imageData"], outputs["imageData"],
                                                lambda row: {k: row.get(k, 0) for k in ids})
        return values

    # -- execution contexts -------------------------------------------------------------------
    def can_execute_on(self, view: View) -> tuple[bool, str]:
        return False, "DrizzleIntegration can only be executed in the global context."

    def can_execute_global(self) -> tuple[bool, str]:
        if not self._rows():
            return False, "No input drizzle data files have been specified."
        return True, ""

    def _rows(self) -> list[tuple[str, str]]:
        return [(str(r[1]).strip(), str(r[2]).strip()) for r in self.inputData if r[0] and str(r[1]).strip()]

    # -- the work -----------------------------------------------------------------------------
    def run_global(self, context: ExecutionContext) -> ProcessOutput:
        self.require_executable_global()
        rows = self._rows()
        messages: list[str] = []
        start = time.perf_counter()
        acc: _Accumulator | None = None
        image_rows: list[dict[str, Any]] = []
        failed = 0
        for i, (path, xnml) in enumerate(rows):
            context.report(i / len(rows), f"DrizzleIntegration: {Path(path).name}")
            try:
                drz = read_drizzle_data(path)
                source, where = self._source(drz, path)
                if acc is None:
                    acc = self._accumulator(drz, source, path, messages)
                if xnml and not self.enableLocalNormalization:
                    messages.append(f"{path}: local normalization data {xnml} not used (enableLocalNormalization off)")
                image_rows.append(acc.add(drz, source, where, self, messages,
                                          xnml if self.enableLocalNormalization else ""))
            except (ProcfwError, OSError) as exc:
                if self.onError != "Continue":
                    raise ExecutionError(f"DrizzleIntegration: {path}: {exc}") from None
                failed += 1
                messages.append(f"{path}: skipped: {exc}")
        if acc is None or not image_rows:
            raise ExecutionError("DrizzleIntegration: no file could be integrated" +
                                 (f" ({messages[-1]})" if messages else ""))
        result, weights, low, high = acc.finish(self.truncateOnOutOfRange)
        out = self._outputs(acc, image_rows, low, high)
        messages.insert(0, f"{len(image_rows)} image(s) drizzled at scale {self.scale:.2f}, drop shrink "
                           f"{self.dropShrink:.2f}{' (CFA drizzle)' if self.enableCFA else ''}: "
                           f"{acc.width}x{acc.height}x{acc.channels}, {time.perf_counter() - start:.1f} s"
                        + (f"; {failed} failed" if failed else ""))
        keywords = [("HISTORY", f"DrizzleIntegration: {len(image_rows)} images, scale {self.scale:.2f}, "
                                f"dropShrink {self.dropShrink:.2f}, kernel {self.kernelFunction}"
                                + (f", CFA {acc.pattern}" if self.enableCFA else ""))]
        from procfw.image import FITSKeyword

        image = Image(result, [FITSKeyword(k, "", v) for k, v in keywords],
                      {"DrizzleIntegration:numberOfImages": len(image_rows)})
        return ProcessOutput(outputs=out, new_images={"drizzle_integration": image,
                                                      "drizzle_weights": Image(weights)},
                             messages=tuple(messages))

    def _source(self, drz: DrizzleData, xdrz: str) -> tuple[Image, str]:
        if self.enableCFA:
            if not drz.cfa_source_file_path:
                raise DrizzleDataError(f"{xdrz}: missing CFA source file path (CFASourceImage): the registered frame "
                                       "was not debayered from a known raw CFA file")
            path = drz.cfa_source_file_path
        else:
            path = drz.source_file_path
        if self.inputDirectory.strip():
            path = str(Path(self.inputDirectory.strip()).expanduser() / Path(path).name)
        if not Path(path).expanduser().is_file():
            raise DrizzleDataError(f"{xdrz}: no such source file: {path}")
        image = read_image(Path(path).expanduser())
        if self.enableCFA and image.channels != 1:
            raise DrizzleDataError(f"{path}: a CFA source must have one (mosaiced) channel, it has {image.channels}")
        return image, path

    def _accumulator(self, drz: DrizzleData, source: Image, where: str, messages: list[str]) -> _Accumulator:
        pattern = ""
        if self.enableCFA:
            pattern = self.cfaPattern.strip() or drz.cfa_source_pattern
            if not pattern:
                raise DrizzleDataError(f"{where}: missing CFA pattern information (set cfaPattern)")
            if drz.cfa_source_channel >= 0:
                raise DrizzleDataError(f"{where}: the drizzle data select CFA source channel "
                                       f"{drz.cfa_source_channel}; single-channel CFA drizzle is not implemented")
            channels = 3
        else:
            channels = source.channels
        x0, y0, x1, y1 = 0, 0, drz.reference_width, drz.reference_height
        if self.useROI:
            x0, x1 = sorted((min(self.roiX0, x1), min(self.roiX1, x1)))
            y0, y1 = sorted((min(self.roiY0, y1), min(self.roiY1, y1)))
            if x1 - x0 < 1 or y1 - y0 < 1:
                raise ExecutionError(f"DrizzleIntegration: the region of interest ({self.roiX0},{self.roiY0})-"
                                     f"({self.roiX1},{self.roiY1}) is empty within the {drz.reference_width}x"
                                     f"{drz.reference_height} reference")
        return _Accumulator(drz.reference_width, drz.reference_height, channels, float(self.scale), (x0, y0, x1, y1),
                            pattern, self._kernel())

    def _kernel(self) -> tuple[int, np.ndarray]:
        """(kernel mode, micro-drop table) of :func:`processes.kernels.drizzle_numba.drizzle_add`."""
        from processes.kernels.drizzle_numba import KERNEL_CIRCULAR, KERNEL_GRID, KERNEL_SQUARE, kernel_lut

        shape = KERNEL_SHAPES.get(self.kernelFunction)
        if shape is None:
            mode = KERNEL_CIRCULAR if self.kernelFunction == "Kernel_Circular" else KERNEL_SQUARE
            return mode, np.zeros((3, 0))
        drop = 1.0 - 2.0 * max(1e-5, (1.0 - self.dropShrink) / 2)  # the drop side, as drizzle_add forms it
        return KERNEL_GRID, kernel_lut(shape, self.kernelGridSize, drop)

    def _outputs(self, acc: _Accumulator, image_rows: list[dict[str, Any]], low, high) -> dict[str, Any]:
        out: dict[str, Any] = {
            "integrationImageId": "drizzle_integration", "weightImageId": "drizzle_weights",
            "numberOfChannels": acc.channels, "outputPixels": acc.width * acc.height,
            "integratedPixels": int(sum(r.pop("_pixels") for r in image_rows)),
            "outputRangeLow": low, "outputRangeHigh": high, "totalData": float(acc.total_data),
            "imageData": image_rows,
        }
        for side in ("Low", "High"):
            for c in ro.CHANNELS_RK:
                out[f"totalRejected{side}{c}"] = int(sum(r.get(f"rejected{side}{c}", 0) for r in image_rows))
        return out


class _Accumulator:
    """The output sums of a drizzle integration (float64 numerator and weight per channel)."""

    def __init__(self, ref_w: int, ref_h: int, channels: int, scale: float, roi: tuple[int, int, int, int],
                 pattern: str, kernel: tuple[int, np.ndarray]) -> None:
        self.ref_w, self.ref_h, self.channels = ref_w, ref_h, channels
        self.scale, self.roi, self.pattern, self.kernel = scale, roi, pattern, kernel
        x0, y0, x1, y1 = roi
        self.width = max(1, int(round((x1 - x0) * scale)))
        self.height = max(1, int(round((y1 - y0) * scale)))
        need = 2 * 8 * channels * self.width * self.height
        if need > (48 << 30):
            raise ExecutionError(f"DrizzleIntegration: a {self.width}x{self.height}x{channels} result needs "
                                 f"{need >> 20} MiB of accumulators; use a smaller scale or a region of interest")
        self.num = np.zeros((channels, self.height, self.width))
        self.den = np.zeros_like(self.num)
        self.total_data = 0.0

    def add(self, drz: DrizzleData, source: Image, where: str, p: DrizzleIntegration,
            messages: list[str], xnml: str = "") -> dict[str, Any]:
        """Drizzle one source frame (normalized by the local normalization data ``xnml`` when
        given, else by the drizzle data's); its ``imageData`` row."""
        from processes.kernels.drizzle_numba import drizzle_add

        if (drz.reference_width, drz.reference_height) != (self.ref_w, self.ref_h):
            raise DrizzleDataError(f"{where}: reference geometry {drz.reference_width}x{drz.reference_height} differs "
                                   f"from the first file's {self.ref_w}x{self.ref_h}")
        if drz.has_splines and p.enableSurfaceSplines:
            messages.append(f"{where}: surface-spline registration is not implemented; the alignment matrix was used")
        if any("AdaptiveNormalization" in x.split(">", 1)[0] for x in drz.extra) and p.enableAdaptiveNormalization:
            raise DrizzleDataError(f"{where}: adaptive normalization data are not supported; "
                                   "set -enableAdaptiveNormalization-")
        h = drz.require_matrix(where)
        try:
            g = np.linalg.inv(h)
        except np.linalg.LinAlgError:
            raise DrizzleDataError(f"{where}: the alignment matrix is singular") from None
        if not p.enableCFA and source.channels != self.channels:
            raise DrizzleDataError(f"{where}: {source.channels} channel(s), the first source has {self.channels}")
        if not drz.has_integration_data:
            raise DrizzleDataError(f"{where}: missing image integration data (run ImageIntegration with "
                                   "-generateDrizzleData+ on the registered frames first)")
        n = drz.location.size
        if n != self.channels:
            raise DrizzleDataError(f"{where}: integration data for {n} channel(s); the result has {self.channels}")
        loc, ref = drz.location, drz.reference_location
        sf = drz.scale if drz.scale is not None else np.ones(n)
        if p.enableImageWeighting and drz.weight is None:
            messages.append(f"{where}: no image weights in the drizzle data; weight 1 assumed")
        w = drz.weight if (p.enableImageWeighting and drz.weight is not None) else np.ones(n)
        use_rej = bool(p.enableRejection and drz.rejection_map is not None)
        rej = drz.rejection_map if use_rej else np.zeros((n, 1, 1), np.uint8)
        cfa = cfa_channel_map(self.pattern, where) if self.pattern else np.zeros((0, 0), np.int64)
        if self.pattern and p.cfaPattern.strip() and drz.cfa_source_pattern and \
                drz.cfa_source_pattern.upper() != p.cfaPattern.strip().upper():
            messages.append(f"{where}: CFA pattern mismatch: the drizzle data say {drz.cfa_source_pattern}, "
                            f"{p.cfaPattern} was used as the instance says")
        ln_slope, ln_offset = self._local_normalization(xnml, where)
        pixels = np.ascontiguousarray(source.pixels, dtype=np.float32)
        if drz.pedestal > 0:
            pixels = pixels - np.float32(drz.pedestal)
        x0, y0 = self.roi[0] * self.scale, self.roi[1] * self.scale
        norm = np.stack([loc, ref, sf]).astype(np.float64)
        area = drizzle_add(pixels, np.ascontiguousarray(g, dtype=np.float64), np.ascontiguousarray(h, dtype=np.float64),
                           float(drz.alignment_origin[0]), float(drz.alignment_origin[1]), self.scale, float(x0),
                           float(y0), float(p.dropShrink), self.kernel[0], self.kernel[1], norm,
                           np.asarray(w, dtype=np.float64), np.ascontiguousarray(rej), use_rej, ln_slope, ln_offset,
                           bool(xnml), cfa, self.num, self.den)
        data = area / (self.width * self.height) / self.scale**2
        self.total_data += data
        row: dict[str, Any] = {"filePath": str(source.properties.get("filePath", "")) or where,
                               "totalData": float(data), "_pixels": int(pixels.shape[-1] * pixels.shape[-2])}
        for k, c in enumerate(ro.CHANNELS_RK[:n] if n <= 3 else ()):
            row[f"weight{c}"] = float(w[k])
            row[f"location{c}"] = float(loc[k])
            row[f"referenceLocation{c}"] = float(ref[k])
            row[f"scalingFactor{c}"] = float(sf[k])
            if drz.rejection_map is not None:
                row[f"rejectedLow{c}"] = int(np.count_nonzero(drz.rejection_map[k] & 0x0A))
                row[f"rejectedHigh{c}"] = int(np.count_nonzero(drz.rejection_map[k] & 0x05))
        row["filePath"] = where
        return row

    def _local_normalization(self, xnml: str, where: str) -> tuple[np.ndarray, np.ndarray]:
        """The (slope, offset) planes, float32 (channels, reference height, width), of the .xnml
        ``xnml`` (empty 1×1×1 planes when none): PCL applies a frame's function at each output
        pixel's reference pixel, so it is evaluated once on the reference grid."""
        if not xnml:
            empty = np.zeros((1, 1, 1), np.float32)
            return empty, empty
        from processes.common.xnml import XnmlFileError
        from processes.integration.localnorm import load_normalization_data

        try:
            data = load_normalization_data(Path(xnml).expanduser(), self.ref_w, self.ref_h, self.channels,
                                           f"the drizzle reference geometry of {where}")
        except XnmlFileError as exc:
            raise DrizzleDataError(f"{where}: local normalization data {xnml}: {exc.problem}") from None
        planes = [data.coefficient_planes(c) for c in range(self.channels)]
        return np.stack([a for a, _ in planes]), np.stack([b for _, b in planes])

    def finish(self, truncate: bool) -> tuple[np.ndarray, np.ndarray, float, float]:
        """(result float32, weights float32 in [0, 1], range low, range high) as PixInsight forms them."""
        covered = self.den > 0
        result = np.zeros_like(self.num)
        np.divide(self.num, self.den, out=result, where=covered)
        low = float(result[covered].min()) if covered.any() else 0.0
        high = float(result[covered].max()) if covered.any() else 0.0
        if low < 0 or high > 1:
            if truncate:
                np.clip(result, 0.0, 1.0, out=result)
            elif low < 0:
                result = np.where(covered, (result - low) / (high - low), 0.0)
            else:
                result /= high
        wmax = float(self.den.max()) or 1.0
        return result.astype(np.float32), (self.den / wmax).astype(np.float32), low, high
