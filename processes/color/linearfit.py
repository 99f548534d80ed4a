"""LinearFit: match an image's channels to a reference image with robust straight lines.

PixInsight's LinearFit (ids ``referenceViewId``, ``rejectLow``, ``rejectHigh``).  For each
colour channel, the pixels whose values lie strictly inside (rejectLow, rejectHigh) in both
the target and the reference are fitted by a least-absolute-deviation line
``reference ≈ a + b·target``; the whole target channel is then replaced by ``a + b·target``
(clipped to [0, 1]).  This is the "linear link" that gives separately acquired R, G and B
frames the same scale before they are combined.

A preview target is fitted on its whole image (as PixInsight does) and the fit applied to
the preview.
"""

from __future__ import annotations

import numpy as np

from processes.intensity.histogram import nominal_channels
from processes.intensity.stf import channel_names
from processes.kernels.robust import lad_fit
from procfw.errors import ExecutionError, ProcfwError
from procfw.image import Image
from procfw.params import Float, String, param
from procfw.process import ExecutionContext, Process, ProcessOutput
from procfw.workspace import PREVIEW_SEPARATOR, View


class LinearFit(Process):
    """Scale and offset each channel to match a reference image (robust least-absolute-deviation fit).

    Fits ``reference ≈ a + b·target`` per channel over the pixels inside
    (rejectLow, rejectHigh) in both images, then replaces the target by ``a + b·target``.
    """

    process_id = "LinearFit"
    categories = ("ColorCalibration",)

    referenceViewId: str = param(  # noqa: N815
        String(default="", description="Id of the reference view whose levels the target is matched to.")
    )
    rejectLow: float = param(  # noqa: N815
        Float(
            default=0.0, minimum=0.0, maximum=1.0, precision=6,
            description="Pixels at or below this value (in either image) are left out of the fit.",
        )
    )
    rejectHigh: float = param(  # noqa: N815
        Float(
            default=0.92, minimum=0.0, maximum=1.0, precision=6,
            description="Pixels at or above this value (in either image) are left out of the fit.",
        )
    )

    def validate(self) -> None:
        if self.rejectLow >= self.rejectHigh:
            raise self.invalid(
                "rejectLow", self.rejectLow, f"must be below rejectHigh ({self.rejectHigh}): empty sampling interval"
            )

    def can_execute_on(self, view: View) -> tuple[bool, str]:
        if not self.referenceViewId.strip():
            return False, "this instance does not specify a reference view (referenceViewId)"
        return super().can_execute_on(view)

    # -- the maths ------------------------------------------------------------------------------
    def fit(self, target: Image, reference: Image) -> list[tuple[float, float, float, int]]:
        """Per colour channel ``(a, b, adev, count)`` of the fit ``reference ≈ a + b·target``."""
        same_size = (target.width, target.height) == (reference.width, reference.height)
        if not same_size or target.is_color != reference.is_color:
            raise ExecutionError(
                f"{self.process_id}: incompatible image geometry: the target is "
                f"{target.width}x{target.height}x{target.channels}, the reference {self.referenceViewId} is "
                f"{reference.width}x{reference.height}x{reference.channels}"
            )
        low, high = np.float32(self.rejectLow), np.float32(self.rejectHigh)
        fits = []
        for c in range(nominal_channels(target.channels)):
            x = target.pixels[c].ravel()
            y = reference.pixels[c].ravel()
            inside = (x > low) & (x < high) & (y > low) & (y < high)
            count = int(np.count_nonzero(inside))
            if count < 3:
                raise ExecutionError(
                    f"{self.process_id}: insufficient data in channel {c}: {count} pixels inside "
                    f"({self.rejectLow:g}, {self.rejectHigh:g}) in both images; at least 3 are needed"
                )
            a, b, adev = lad_fit(x[inside], y[inside], tolerance=1e-7)
            if not (np.isfinite(a) and np.isfinite(b)):
                raise ExecutionError(f"{self.process_id}: invalid linear fit in channel {c}")
            fits.append((a, b, adev, count))
        return fits

    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        reference_id = self.referenceViewId.strip()
        view_id = context.view_id or ""
        if reference_id == view_id:
            raise ExecutionError(f"{self.process_id}: the reference and target images must be different ({view_id})")
        try:
            reference = context.image(reference_id)
        except ProcfwError as exc:
            raise ExecutionError(f"{self.process_id}: reference view {reference_id!r} not found: {exc}") from None
        fitted = image
        if PREVIEW_SEPARATOR in view_id:
            fitted = context.image(view_id.split(PREVIEW_SEPARATOR, 1)[0])
        context.report(0.0, "fitting")
        fits = self.fit(fitted, reference)
        context.report(0.8, "applying the fit")
        out = image.pixels.copy()
        for c, (a, b, _adev, _count) in enumerate(fits):
            channel = out[c]
            channel *= channel.dtype.type(b)
            channel += channel.dtype.type(a)
            np.clip(channel, 0, 1, out=channel)
        total = fitted.width * fitted.height
        outputs = {
            name: {"a": a, "b": b, "adev": adev, "count": count, "fraction": count / total}
            for name, (a, b, adev, count) in zip(channel_names(len(fits)), fits)
        }
        return ProcessOutput(image=image.with_pixels(out), outputs=outputs)
