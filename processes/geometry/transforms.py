"""Geometry processes: DynamicCrop, Resample, IntegerResample and FastRotation (PixInsight Geometry module).

Conventions shared by the four processes:

* Pixel centres sit at integer coordinates of the pixel grid (see
  :mod:`processes.kernels.pixel_interpolation`); resampling grids are centre-aligned, so a
  resampled image stays centred on the same sky.  PixInsight's Resample samples the
  source at ``j·(w0/w)`` instead, which shifts the image by ``(w0/w − 1)/2`` source
  pixels; procfw does not reproduce that shift.
* ``interpolation`` chooses the kernel as PixInsight does (``Auto``: the Mitchell–
  Netravali filter over ``trunc(smoothness·ratio)`` pixels when downsampling by enough,
  otherwise the clamped bicubic spline).
* Geometry changes are not maskable; they make the window's previews and mask invalid,
  so those are removed (as PixInsight does), and WCS keywords of the image are updated
  for the affine pixel mapping (CRPIX, and CD/PC/CDELT scaled or rotated).
* ``gammaCorrection`` interpolates in linear light (sRGB transfer function inverted
  before, re-applied after).
* Resolution parameters (``xResolution``, ``yResolution``, ``metric``,
  ``forceResolution``) are kept for icon compatibility; they size Resample's absolute
  centimetre/inch modes.  ``noGUIMessages`` has no effect headless.
* The size of the result (and an estimate of the working arrays) is checked against the
  memory limit before anything is allocated (:func:`procfw.limits.check_output_size`,
  ``PROCFW_MAX_IMAGE_BYTES``): ``Resample -xSize=1000000 -ySize=1000000`` fails at once,
  naming the process, the parameters, the bytes and the limit.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from processes.kernels.colorspace import linear_to_srgb, srgb_to_linear
from processes.kernels.pixel_interpolation import remap, resize
from procfw.errors import ExecutionError
from procfw.image import FITSKeyword, Image
from procfw.limits import check_output_size
from procfw.params import Boolean, Double, Enumeration, Float, Int32, param
from procfw.process import ExecutionContext, Process, ProcessResult, ProgressCallback

log = logging.getLogger(__name__)

__all__ = ["DynamicCrop", "FastRotation", "IntegerResample", "Resample", "choose_interpolation"]

INTERPOLATIONS = (
    "NearestNeighbor",
    "Bilinear",
    "BicubicSpline",
    "BicubicBSpline",
    "Lanczos3",
    "Lanczos4",
    "MitchellNetravaliFilter",
    "CatmullRomSplineFilter",
    "CubicBSplineFilter",
    "Auto",
)
"""PixInsight's InterpolationAlgorithm elements, in order (values 0..9)."""

_FIXED_KERNELS = {
    "NearestNeighbor": "nearest",
    "Bilinear": "bilinear",
    "BicubicSpline": "bicubic",
    "BicubicBSpline": "bicubic_bspline",
    "Lanczos3": "lanczos3",
    "Lanczos4": "lanczos4",
}
_FILTER_KERNELS = {
    "MitchellNetravaliFilter": "mitchell",
    "CatmullRomSplineFilter": "catmull_rom",
    "CubicBSplineFilter": "cubic_bspline",
}
_ROUND_PI = round(math.pi, 10)


def _round_int(x: float) -> int:
    """PixInsight's RoundInt (round half up)."""
    return int(math.floor(x + 0.5))


def choose_interpolation(
    element: str, new_w: int, new_h: int, old_w: int, old_h: int, rotate: bool, smoothness: float
) -> tuple[str, tuple[int, int]]:
    """The interpolation kernel (and filter radii) PixInsight uses for ``element``.

    ``new_*`` is the output size, ``old_*`` the size of the source region it maps from.
    """
    if element in _FIXED_KERNELS:
        return _FIXED_KERNELS[element], (2, 2)
    fx, fy = old_w / new_w, old_h / new_h
    if element == "Auto":
        if new_w < old_w or new_h < old_h:
            rx, ry = math.trunc(smoothness * fx), math.trunc(smoothness * fy)
            if rx > 2 or ry > 2:
                return "mitchell", (max(1, rx), max(1, ry))
        return "bicubic", (2, 2)
    radius = (max(2, math.trunc(smoothness * fx)), max(2, math.trunc(smoothness * fy)))
    return _FILTER_KERNELS[element], radius


def _clamping_for(kernel: str, threshold: float) -> float | None:
    return threshold if kernel in ("bicubic", "lanczos3", "lanczos4", "lanczos5") else None


# -- shared parameter kinds -------------------------------------------------------------
def _interpolation_kind() -> Enumeration:
    return Enumeration(
        elements=INTERPOLATIONS,
        default="Auto",
        description="Pixel interpolation algorithm (Auto: Mitchell-Netravali filter to downsample, else bicubic).",
    )


def _clamping_kind() -> Float:
    return Float(
        default=0.3,
        minimum=0.0,
        maximum=1.0,
        precision=2,
        description="Deringing clamping threshold of bicubic spline and Lanczos interpolation (lower: stronger).",
    )


def _smoothness_kind() -> Float:
    return Float(
        default=1.5,
        minimum=1.0,
        maximum=5.0,
        precision=2,
        description="Smoothness of the cubic filter interpolations (filter radius factor when downsampling).",
    )


def _gamma_kind() -> Boolean:
    return Boolean(
        default=False, description="Interpolate in linear light (invert the sRGB gamma before, reapply after)."
    )


def _resolution_kind(axis: str) -> Double:
    return Double(
        default=72.0,
        minimum=1.0,
        maximum=10000.0,
        precision=3,
        description=f"{axis} resolution in pixels per inch (or per cm with metric); metadata and absolute sizes.",
    )


def _metric_kind() -> Boolean:
    return Boolean(default=False, description="Resolution is in pixels per centimetre (else per inch).")


def _force_resolution_kind() -> Boolean:
    return Boolean(default=False, description="Set the image resolution to xResolution/yResolution.")


def _no_gui_kind() -> Boolean:
    return Boolean(default=False, description="Suppress interactive warnings (no effect headless).")


def _fill_kind(name: str, default: float) -> Double:
    return Double(
        default=default,
        minimum=0.0,
        maximum=1.0,
        precision=6,
        description=f"{name} value of pixels outside the source image.",
    )


# -- WCS keywords -----------------------------------------------------------------------
_WCS_MATRIX = ("CD", "PC")


def _update_wcs(image: Image, matrix: np.ndarray, offset: np.ndarray) -> list[FITSKeyword]:
    """Keywords with the WCS moved through ``p_in = matrix·p_out + offset`` (0-based pixels, x then y).

    CRPIX moves; a CD or PC matrix is multiplied by ``matrix``; plain CDELT is scaled when
    ``matrix`` is diagonal.  A WCS this cannot express (CROTA with rotation) is removed,
    with a log message.
    """
    keys = {card.name.upper(): card.value for card in image.keywords}
    if "CRPIX1" not in keys or "CRPIX2" not in keys:
        return list(image.keywords)
    try:
        crpix = np.array([float(keys["CRPIX1"]), float(keys["CRPIX2"])])
    except (TypeError, ValueError):
        return list(image.keywords)
    new_values: dict[str, Any] = {}
    inverse = np.linalg.inv(matrix)
    new_crpix = inverse @ (crpix - 1 - offset) + 1
    new_values["CRPIX1"], new_values["CRPIX2"] = float(new_crpix[0]), float(new_crpix[1])
    diagonal = abs(matrix[0, 1]) < 1e-12 and abs(matrix[1, 0]) < 1e-12
    prefix = next((p for p in _WCS_MATRIX if f"{p}1_1" in keys or f"{p}1_2" in keys), None)
    drop: set[str] = set()
    if prefix is not None:
        default = 1.0 if prefix == "PC" else 0.0
        old = np.array(
            [[float(keys.get(f"{prefix}{i}_{j}", default if i == j else 0.0)) for j in (1, 2)] for i in (1, 2)]
        )
        new = old @ matrix
        for i in (1, 2):
            for j in (1, 2):
                new_values[f"{prefix}{i}_{j}"] = float(new[i - 1, j - 1])
    elif "CDELT1" not in keys and "CDELT2" not in keys:
        pass  # no scale keywords: only the reference pixel moves
    elif diagonal and "CDELT1" in keys and "CDELT2" in keys:
        new_values["CDELT1"] = float(keys["CDELT1"]) * matrix[0, 0]
        new_values["CDELT2"] = float(keys["CDELT2"]) * matrix[1, 1]
    elif "CDELT1" in keys and "CDELT2" in keys and "CROTA2" not in keys:
        for i in (1, 2):
            for j in (1, 2):
                new_values[f"PC{i}_{j}"] = float(matrix[i - 1, j - 1])
    else:
        log.warning("geometry change: WCS keywords removed (this WCS form cannot follow the transformation)")
        drop = {"CRPIX1", "CRPIX2", "CRVAL1", "CRVAL2", "CDELT1", "CDELT2", "CROTA1", "CROTA2", "CTYPE1", "CTYPE2"}
        new_values.clear()
    cards = []
    for card in image.keywords:
        name = card.name.upper()
        if name in drop:
            continue
        if name in new_values:
            cards.append(FITSKeyword(card.name, new_values.pop(name), card.comment))
        else:
            cards.append(card)
    cards += [FITSKeyword(name, value, "updated by procfw geometry") for name, value in new_values.items()]
    return cards


def _with_geometry(image: Image, pixels: np.ndarray, matrix: np.ndarray, offset: np.ndarray) -> Image:
    """A new image with ``pixels`` and WCS keywords moved through the pixel map."""
    return Image(pixels, _update_wcs(image, matrix, offset), dict(image.properties))


# -- the base of geometry processes -----------------------------------------------------
class _GeometryProcess(Process):
    """Shared behaviour: not maskable, main views only, previews and mask dropped on resize."""

    is_maskable = False

    def can_execute_on(self, view: Any) -> tuple[bool, str]:
        if view.is_preview:
            return False, f"{self.process_id} cannot be executed on previews"
        return super().can_execute_on(view)

    def execute_on(self, view: Any, *, mask: Any = None, progress: ProgressCallback | None = None) -> ProcessResult:
        before = view.image
        result = super().execute_on(view, mask=mask, progress=progress)
        after = view.image
        if (after.width, after.height) != (before.width, before.height):
            window = view.window
            if window.previews:
                log.info("%s: previews of %s removed (geometry changed)", self.process_id, window.id)
                window.previews.clear()
            if window.mask is not None:
                log.info("%s: mask of %s removed (geometry changed)", self.process_id, window.id)
                window.mask = None
        return result


def _map_channels(image: Image, func: Any, gamma: bool, context: ExecutionContext, message: str) -> list[np.ndarray]:
    """Apply ``func(plane, channel)`` to each channel, in linear light if ``gamma``."""
    planes = []
    for c in range(image.channels):
        plane = image.pixels[c]
        if gamma:
            plane = srgb_to_linear(np.clip(plane, 0, 1))
        out = func(plane, c)
        if gamma:
            out = linear_to_srgb(np.clip(out, 0, 1))
        planes.append(np.asarray(out, dtype=np.float32))
        context.report((c + 1) / image.channels, message)
    return planes


# -- DynamicCrop ------------------------------------------------------------------------
class DynamicCrop(_GeometryProcess):
    """Crop, rotate and scale an image: a (possibly rotated) rectangle becomes the new image.

    The rectangle is centred at (``centerX``·W, ``centerY``·H) (fractions of the image
    size), its size is ``outWidth/refWidth`` × W by ``outHeight/refHeight`` × H (older
    icons: ``width`` × W by ``height`` × H), it is rotated by ``angle`` (radians; a
    positive angle gives the image turned clockwise, as PixInsight) and the result is
    scaled by ``scaleX``, ``scaleY``.  Pixels falling outside the source are filled with
    the red/green/blue(/alpha) fill colour.  Plain crops and 90°/180° rotations (with
    ``optimizeFast``) copy pixels exactly; anything else interpolates.
    """

    process_id = "DynamicCrop"
    categories = ("Geometry",)
    process_version = 2

    refWidth: int = param(Int32(default=1, description="Reference width the crop width is relative to."))  # noqa: N815
    refHeight: int = param(Int32(default=1, description="Reference height the crop height is relative to."))  # noqa: N815
    outWidth: float = param(  # noqa: N815
        Double(default=1.0, precision=2, description="Crop width in units of refWidth (width fraction × refWidth).")
    )
    outHeight: float = param(  # noqa: N815
        Double(default=1.0, precision=2, description="Crop height in units of refHeight (height fraction × refHeight).")
    )
    centerX: float = param(  # noqa: N815
        Double(default=0.5, precision=8, description="Horizontal centre of the crop, as a fraction of the width.")
    )
    centerY: float = param(  # noqa: N815
        Double(default=0.5, precision=8, description="Vertical centre of the crop, as a fraction of the height.")
    )
    width: float = param(
        Double(default=1.0, precision=8, description="Deprecated: crop width as a fraction of the image width.")
    )
    height: float = param(
        Double(default=1.0, precision=8, description="Deprecated: crop height as a fraction of the image height.")
    )
    angle: float = param(
        Double(
            default=0.0,
            minimum=-_ROUND_PI,
            maximum=_ROUND_PI,
            precision=10,
            description="Rotation angle in radians (positive: image turned clockwise).",
        )
    )
    scaleX: float = param(Double(default=1.0, precision=8, description="Horizontal scaling factor."))  # noqa: N815
    scaleY: float = param(Double(default=1.0, precision=8, description="Vertical scaling factor."))  # noqa: N815
    optimizeFast: bool = param(  # noqa: N815
        Boolean(default=True, description="Copy pixels exactly for ±90° and 180° rotations.")
    )
    interpolation: str = param(_interpolation_kind())
    clampingThreshold: float = param(_clamping_kind())  # noqa: N815
    smoothness: float = param(_smoothness_kind())
    gammaCorrection: bool = param(_gamma_kind())  # noqa: N815
    xResolution: float = param(_resolution_kind("Horizontal"))  # noqa: N815
    yResolution: float = param(_resolution_kind("Vertical"))  # noqa: N815
    metric: bool = param(_metric_kind())
    forceResolution: bool = param(_force_resolution_kind())  # noqa: N815
    red: float = param(_fill_kind("Red (or gray)", 0.0))
    green: float = param(_fill_kind("Green", 0.0))
    blue: float = param(_fill_kind("Blue", 0.0))
    alpha: float = param(_fill_kind("Alpha", 1.0))
    noGUIMessages: bool = param(_no_gui_kind())  # noqa: N815

    def validate(self) -> None:
        for name in ("refWidth", "refHeight"):
            if getattr(self, name) < 1:
                raise self.invalid(name, getattr(self, name), "must be at least 1")
        for name in ("outWidth", "outHeight", "width", "height", "scaleX", "scaleY"):
            if not getattr(self, name) > 0:
                raise self.invalid(name, getattr(self, name), "must be greater than zero")

    def fractions(self) -> tuple[float, float]:
        """The crop size as fractions of the image size (PixInsight's v1 compatibility rule)."""
        fx = self.width if (self.refWidth == self.outWidth and self.width != 1) else self.outWidth / self.refWidth
        fy = self.height if (self.refHeight == self.outHeight and self.height != 1) else self.outHeight / self.refHeight
        return fx, fy

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of the result for a source of ``width`` × ``height``."""
        fx, fy = self.fractions()
        return max(1, _round_int(width * self.scaleX * fx)), max(1, _round_int(height * self.scaleY * fy))

    def _check_size(self, shape: tuple[int, int, int], dtype: Any, working: int) -> None:
        names = ("outWidth", "outHeight", "refWidth", "refHeight", "width", "height", "scaleX", "scaleY")
        check_output_size(self.process_id, {n: getattr(self, n) for n in names}, shape, dtype, working_bytes=working)

    def fill_values(self, channels: int) -> list[float]:
        """Fill value of each channel (grey images: red, then alpha)."""
        colour = [self.red, self.green, self.blue, self.alpha] if channels >= 3 else [self.red, self.alpha]
        return (colour + [0.0] * channels)[:channels]

    def apply(self, image: Image, context: ExecutionContext) -> Image:
        width, height = image.width, image.height
        new_w, new_h = self.output_size(width, height)
        degrees = round(math.degrees(self.angle), 4)
        rotate = self.angle != 0
        scale = self.scaleX != 1 or self.scaleY != 1
        crop = (new_w, new_h) != (width, height) or self.centerX != 0.5 or self.centerY != 0.5
        if not (crop or rotate or scale):
            return image
        fast = rotate and self.optimizeFast and degrees in (90, -90, 180, -180)
        cx, cy = self.centerX * width, self.centerY * height
        copies = not scale and (fast or not rotate)
        # interpolation: four float64 coordinate grids, then the planes and their stack
        working = 0 if copies else 32 * new_w * new_h + 4 * image.channels * new_w * new_h
        self._check_size((image.channels, new_h, new_w), image.pixels.dtype, working)
        if copies:
            return self._copy_crop(image, new_w, new_h, cx, cy, int(degrees) if fast else 0)
        # Output pixel centre (j, i) -> source point (centre-based coordinates):
        # src = c + R(−angle)·((j + ½ − w/2)/sx, (i + ½ − h/2)/sy) − ½
        ca, sa = math.cos(-self.angle), math.sin(-self.angle)
        fx, fy = self.fractions()
        kernel, radius = choose_interpolation(
            self.interpolation,
            new_w,
            new_h,
            max(1, _round_int(width * fx)),
            max(1, _round_int(height * fy)),
            rotate,
            self.smoothness,
        )
        matrix = np.array([[ca / self.scaleX, -sa / self.scaleY], [sa / self.scaleX, ca / self.scaleY]])
        offset = np.array([cx - 0.5, cy - 0.5]) - matrix @ np.array([new_w / 2 - 0.5, new_h / 2 - 0.5])
        jj, ii = np.meshgrid(np.arange(new_w, dtype=np.float64), np.arange(new_h, dtype=np.float64))
        xs = matrix[0, 0] * jj + matrix[0, 1] * ii + offset[0]
        ys = matrix[1, 0] * jj + matrix[1, 1] * ii + offset[1]
        fills = self.fill_values(image.channels)
        clamping = _clamping_for(kernel, self.clampingThreshold)

        def one(plane: np.ndarray, c: int) -> np.ndarray:
            return remap(plane, xs, ys, kernel, clamping, fills[c], radius=radius)

        planes = _map_channels(image, one, self.gammaCorrection, context, "DynamicCrop")
        if self.gammaCorrection:
            outside = (xs < -0.5) | (xs > width - 0.5) | (ys < -0.5) | (ys > height - 0.5)
            for c, plane in enumerate(planes):
                plane[outside] = fills[c]
        return _with_geometry(image, np.stack(planes), matrix, offset)

    def _copy_crop(self, image: Image, new_w: int, new_h: int, cx: float, cy: float, degrees: int) -> Image:
        """Exact crop (after an exact ±90°/180° turn about the crop centre), filled outside."""
        pixels = image.pixels
        width, height = image.width, image.height
        if degrees in (90, -270):
            pixels = np.rot90(pixels, k=-1, axes=(1, 2))  # clockwise
            cx, cy = height - cy, cx
        elif degrees in (-90, 270):
            pixels = np.rot90(pixels, k=1, axes=(1, 2))  # counter-clockwise
            cx, cy = cy, width - cx
        elif degrees in (180, -180):
            pixels = pixels[:, ::-1, ::-1]
            cx, cy = width - cx, height - cy
        src_h, src_w = pixels.shape[1:]
        x0, y0 = math.trunc(cx - new_w / 2), math.trunc(cy - new_h / 2)
        fills = self.fill_values(image.channels)
        out = np.empty((image.channels, new_h, new_w), dtype=pixels.dtype)
        for c in range(image.channels):
            out[c] = fills[c]
        sx0, sy0 = max(0, x0), max(0, y0)
        sx1, sy1 = min(src_w, x0 + new_w), min(src_h, y0 + new_h)
        if sx1 > sx0 and sy1 > sy0:
            out[:, sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = pixels[:, sy0:sy1, sx0:sx1]
        # Output (j, i) -> source pixel: undo the turn, then the crop origin.
        turn = {
            0: (np.eye(2), np.zeros(2)),
            90: (np.array([[0.0, 1.0], [-1.0, 0.0]]), np.array([0.0, height - 1.0])),
            -90: (np.array([[0.0, -1.0], [1.0, 0.0]]), np.array([width - 1.0, 0.0])),
            180: (-np.eye(2), np.array([width - 1.0, height - 1.0])),
        }[{270: -90, -270: 90, -180: 180}.get(degrees, degrees)]
        matrix, base = turn
        offset = matrix @ np.array([x0, y0], dtype=np.float64) + base
        return _with_geometry(image, out, matrix, offset)


# -- Resample ---------------------------------------------------------------------------
class Resample(_GeometryProcess):
    """Resample an image to a new size: relative, absolute pixels/cm/inches, or a forced area.

    Sizes follow PixInsight: ``RelativeDimensions`` multiplies the size by xSize, ySize;
    ``AbsolutePixels`` (and centimetres/inches through the resolution) sets them, with
    ``absoluteMode`` forcing width and height, or one of them keeping the aspect ratio;
    ``ForceArea`` makes an image of xSize pixels of the same aspect ratio.
    """

    process_id = "Resample"
    categories = ("Geometry",)

    xSize: float = param(  # noqa: N815
        Double(
            default=1.0,
            precision=4,
            description="Horizontal size (factor, pixels, cm or inches; area in pixels for ForceArea).",
        )
    )
    ySize: float = param(Double(default=1.0, precision=4, description="Vertical size (factor, pixels, cm or inches)."))  # noqa: N815
    mode: str = param(
        Enumeration(
            elements=("RelativeDimensions", "AbsolutePixels", "AbsoluteCentimeters", "AbsoluteInches", "ForceArea"),
            default="RelativeDimensions",
            description="How xSize/ySize are read.",
        )
    )
    absoluteMode: str = param(  # noqa: N815
        Enumeration(
            elements=("ForceWidthAndHeight", "ForceWidth", "ForceHeight"),
            default="ForceWidthAndHeight",
            description="Absolute modes: force both dimensions, or one keeping the aspect ratio.",
        )
    )
    xResolution: float = param(_resolution_kind("Horizontal"))  # noqa: N815
    yResolution: float = param(_resolution_kind("Vertical"))  # noqa: N815
    metric: bool = param(_metric_kind())
    forceResolution: bool = param(_force_resolution_kind())  # noqa: N815
    interpolation: str = param(_interpolation_kind())
    clampingThreshold: float = param(_clamping_kind())  # noqa: N815
    smoothness: float = param(_smoothness_kind())
    gammaCorrection: bool = param(_gamma_kind())  # noqa: N815
    noGUIMessages: bool = param(_no_gui_kind())  # noqa: N815

    def validate(self) -> None:
        for name in ("xSize", "ySize"):
            if not getattr(self, name) > 0:
                raise self.invalid(name, getattr(self, name), "must be greater than zero")

    def new_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of the result for a ``width`` × ``height`` source (PixInsight's rules)."""
        if self.mode == "RelativeDimensions":
            return _round_int(self.xSize * width), _round_int(self.ySize * height)
        if self.mode == "ForceArea":
            k = width / height
            return _round_int(math.sqrt(self.xSize * k)), _round_int(math.sqrt(self.xSize / k))
        x, y = self.xSize, self.ySize
        if self.mode != "AbsolutePixels":
            x, y = x * self.xResolution, y * self.yResolution
            if self.mode == "AbsoluteCentimeters" and not self.metric:
                x, y = x / 2.54, y / 2.54
            elif self.mode == "AbsoluteInches" and self.metric:
                x, y = x * 2.54, y * 2.54
        if self.absoluteMode == "ForceWidth":
            new_w = _round_int(x)
            return new_w, _round_int(new_w / (width / height))
        if self.absoluteMode == "ForceHeight":
            new_h = _round_int(y)
            return _round_int(new_h / (height / width)), new_h
        return _round_int(x), _round_int(y)

    def apply(self, image: Image, context: ExecutionContext) -> Image:
        new_w, new_h = self.new_size(image.width, image.height)
        if new_w < 1 or new_h < 1:
            raise ExecutionError(
                f"Resample: the result would be {new_w}x{new_h} pixels (from {image.width}x{image.height})"
            )
        if (new_w, new_h) == (image.width, image.height):
            return image
        # working arrays: float64 passes (rows x new width, then two of the new size) and the stack
        working = 8 * (image.height * new_w + 2 * new_h * new_w) + image.channels * 4 * new_h * new_w
        given = {"xSize": self.xSize, "ySize": self.ySize, "mode": self.mode}
        if self.mode not in ("RelativeDimensions", "ForceArea"):
            given["absoluteMode"] = self.absoluteMode
        check_output_size(self.process_id, given, (image.channels, new_h, new_w), np.float32, working_bytes=working)
        kernel, radius = choose_interpolation(
            self.interpolation, new_w, new_h, image.width, image.height, False, self.smoothness
        )
        clamping = _clamping_for(kernel, self.clampingThreshold)

        def one(plane: np.ndarray, c: int) -> np.ndarray:
            return resize(plane, new_h, new_w, kernel, clamping, radius=radius)

        planes = _map_channels(image, one, self.gammaCorrection, context, "Resample")
        sx, sy = image.width / new_w, image.height / new_h
        matrix = np.diag([sx, sy])
        offset = np.array([0.5 * sx - 0.5, 0.5 * sy - 0.5])
        return _with_geometry(image, np.stack(planes), matrix, offset)


# -- IntegerResample --------------------------------------------------------------------
class IntegerResample(_GeometryProcess):
    """Resize by an integer factor: downsample by |zoomFactor| (block average, median, max or min) or upsample.

    A negative ``zoomFactor`` −n turns each n×n block into one pixel (a partial block at
    the right or bottom edge is dropped); a positive n replicates every pixel n×n times.
    Factors −1, 0 and 1 leave the image unchanged.
    """

    process_id = "IntegerResample"
    categories = ("Geometry",)

    zoomFactor: int = param(  # noqa: N815
        Int32(default=-2, minimum=-256, maximum=256, description="Zoom factor: −n downsamples by n, +n upsamples by n.")
    )
    downsamplingMode: str = param(  # noqa: N815
        Enumeration(
            elements=("Average", "Median", "Maximum", "Minimum"),
            default="Average",
            aliases=("subsampleMode",),
            description="How an n×n block becomes one pixel when downsampling.",
        )
    )
    xResolution: float = param(_resolution_kind("Horizontal"))  # noqa: N815
    yResolution: float = param(_resolution_kind("Vertical"))  # noqa: N815
    metric: bool = param(_metric_kind())
    forceResolution: bool = param(_force_resolution_kind())  # noqa: N815
    gammaCorrection: bool = param(_gamma_kind())  # noqa: N815
    noGUIMessages: bool = param(_no_gui_kind())  # noqa: N815

    def apply(self, image: Image, context: ExecutionContext) -> Image:
        n = abs(self.zoomFactor)
        if n <= 1:
            return image
        if self.zoomFactor > 0:
            shape = (image.channels, image.height * n, image.width * n)
            check_output_size(  # the first np.repeat makes an array 1/n of the result
                self.process_id, {"zoomFactor": self.zoomFactor}, shape, image.pixels.dtype,
                working_bytes=image.nbytes * n,
            )
            out = np.repeat(np.repeat(image.pixels, n, axis=1), n, axis=2)
            matrix = np.diag([1 / n, 1 / n])
            offset = np.array([(1 - n) / (2 * n)] * 2)
            return _with_geometry(image, out, matrix, offset)
        new_h, new_w = image.height // n, image.width // n
        if new_h < 1 or new_w < 1:
            raise ExecutionError(
                f"IntegerResample: cannot downsample {image.width}x{image.height} by {n} (result would be empty)"
            )
        reducer = {"Average": np.mean, "Median": np.median, "Maximum": np.max, "Minimum": np.min}[self.downsamplingMode]

        def one(plane: np.ndarray, c: int) -> np.ndarray:
            blocks = plane[: new_h * n, : new_w * n].reshape(new_h, n, new_w, n)
            return reducer(blocks.astype(np.float64), axis=(1, 3))

        planes = _map_channels(image, one, self.gammaCorrection, context, "IntegerResample")
        matrix = np.diag([float(n), float(n)])
        offset = np.array([(n - 1) / 2] * 2)
        return _with_geometry(image, np.stack(planes).astype(image.pixels.dtype), matrix, offset)


# -- FastRotation -----------------------------------------------------------------------
class FastRotation(_GeometryProcess):
    """Rotate by 180° or ±90°, or mirror, exactly (no interpolation)."""

    process_id = "FastRotation"
    categories = ("Geometry",)

    mode: str = param(
        Enumeration(
            elements=("Rotate180", "Rotate90CW", "Rotate90CCW", "HorizontalMirror", "VerticalMirror"),
            default="Rotate180",
            element_aliases={"Rotate90Clockwise": "Rotate90CW", "Rotate90CounterClockwise": "Rotate90CCW"},
            description="Rotation or mirror to apply.",
        )
    )
    noGUIMessages: bool = param(_no_gui_kind())  # noqa: N815

    def apply(self, image: Image, context: ExecutionContext) -> Image:
        p = image.pixels
        w, h = image.width, image.height
        shape = (image.channels, w, h) if self.mode in ("Rotate90CW", "Rotate90CCW") else p.shape
        check_output_size(self.process_id, {"mode": self.mode}, shape, p.dtype)
        if self.mode == "Rotate180":
            out, matrix, offset = p[:, ::-1, ::-1], -np.eye(2), np.array([w - 1.0, h - 1.0])
        elif self.mode == "Rotate90CW":
            out, matrix, offset = (
                np.rot90(p, k=-1, axes=(1, 2)),
                np.array([[0.0, 1.0], [-1.0, 0.0]]),
                np.array([0.0, h - 1.0]),
            )
        elif self.mode == "Rotate90CCW":
            out, matrix, offset = (
                np.rot90(p, k=1, axes=(1, 2)),
                np.array([[0.0, -1.0], [1.0, 0.0]]),
                np.array([w - 1.0, 0.0]),
            )
        elif self.mode == "HorizontalMirror":
            out, matrix, offset = p[:, :, ::-1], np.diag([-1.0, 1.0]), np.array([w - 1.0, 0.0])
        else:
            out, matrix, offset = p[:, ::-1, :], np.diag([1.0, -1.0]), np.array([0.0, h - 1.0])
        return _with_geometry(image, np.ascontiguousarray(out), matrix, offset)
