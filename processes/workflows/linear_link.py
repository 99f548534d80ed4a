"""The linear-link LRGB workflow: LinearFit, ChannelCombination, BackgroundNeutralization, AutoStretch, LRGB.

Given three linear mono images R, G and B (and optionally a luminance L) of one target:

1. **LinearFit** the two non-reference channels to the reference (G by default), so all
   three share its scale and offset (the "linear link");
2. **ChannelCombination** (global) of the three into a new RGB image, renamed ``output``;
3. **BackgroundNeutralization** of it, the background being the pixels whose R, G and B
   all lie below an upper bound found from the image itself (an iterated
   ``median + 2.5·σ`` of the candidate background pixels, σ = 1.4826·MAD) unless given;
4. a linked **AutoStretch**, applied permanently (the display STF is then reset);
5. with a luminance: **AutoStretch** of L, its median placed exactly at the median CIE L*
   of the stretched RGB (so the two lightnesses match; see :func:`autostretch_target_for`),
   then **LRGBCombination** of L into the RGB image (L replaces the CIE L*, colour comes
   from RGB).

Every step is a normal process execution: the changes are in the views' histories
(``history RGB``) and the instances are in :attr:`LinearLinkReport.steps`, to be kept as
icons or replayed.  :func:`linear_link` works on a :class:`~procfw.workspace.Workspace`;
:func:`linear_link_command` is the console command ``linear-link`` (registered through
the ``procfw.commands`` entry-point group)::

    linear-link R G B -luminance=L -output=RGB
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from processes.color.channels import ChannelCombination, LRGBCombination
from processes.color.corrections import BackgroundNeutralization
from processes.color.linearfit import LinearFit
from processes.intensity.stf import AutoStretch, ScreenTransferFunction
from processes.kernels import colorspace as cs
from processes.kernels.mtf import mtf
from processes.kernels.robust import MAD_TO_SIGMA, median_mad
from procfw.errors import ExecutionError, ProcfwError, UnknownNameError
from procfw.process import Process, ProcessResult
from procfw.workspace import ImageWindow, Workspace, is_valid_id

if TYPE_CHECKING:
    from procfw.console import Session

__all__ = [
    "ChannelFit",
    "LinearLinkError",
    "LinearLinkReport",
    "Step",
    "autostretch_target_for",
    "background_upper_bound",
    "linear_link",
    "linear_link_command",
]

BACKGROUND_KAPPA = 2.5
"""The automatic background bound is the median plus this many σ of the background pixels."""

_SAMPLE_PIXELS = 1 << 19
"""About this many pixels are sampled to find the background bound."""


class LinearLinkError(ProcfwError):
    """A linear-link argument is wrong; ``parameter`` names which (red, green, blue, reference, luminance, output)."""

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


@attrs.frozen
class Step:
    """One process execution of the workflow: the instance, its target view (None: global) and its result."""

    process: Process
    target: str | None
    result: ProcessResult


@attrs.frozen
class ChannelFit:
    """LinearFit of one channel to the reference: ``reference ≈ a + b·channel`` over ``fraction`` of the pixels."""

    view: str
    a: float
    b: float
    adev: float
    fraction: float


@attrs.frozen(kw_only=True)
class LinearLinkReport:
    """What :func:`linear_link` did and measured."""

    output: str
    channels: tuple[str, str, str]
    reference: str
    fits: tuple[ChannelFit, ...]
    background: tuple[float, float, float]
    """Background of R, G, B measured by BackgroundNeutralization (after the fit)."""
    background_high: float
    """Upper bound of the background pixels used."""
    stf: tuple[float, float, float]
    """The linked stretch applied to the RGB image: (c0, m, c1)."""
    luminance: str | None = None
    luminance_stf: tuple[float, float, float] | None = None
    luminance_target: float | None = None
    """Where the background of L was placed (the median CIE L* of the stretched RGB)."""
    steps: tuple[Step, ...] = ()

    def lines(self) -> list[str]:
        """The short text report the console prints."""
        r, g, b = self.channels
        lines = [f"linear-link: {r} {g} {b}{' + ' + self.luminance if self.luminance else ''} -> {self.output}"
                 f" (reference {self.reference})"]
        for fit in self.fits:
            lines.append(
                f"  LinearFit {fit.view} -> {self.reference}: a = {fit.a:+.6f}  b = {fit.b:.6f}"
                f"  (adev {fit.adev:.3g}, {100 * fit.fraction:.1f}% of the pixels)"
            )
        bg = self.background
        lines.append(
            f"  BackgroundNeutralization: background R {bg[0]:.6f}  G {bg[1]:.6f}  B {bg[2]:.6f}"
            f"  (pixels below {self.background_high:.6f})"
        )
        c0, m, c1 = self.stf
        lines.append(f"  AutoStretch (linked) {self.output}: c0 = {c0:.6f}  m = {m:.6f}  c1 = {c1:.6f}")
        if self.luminance is not None and self.luminance_stf is not None:
            c0, m, c1 = self.luminance_stf
            lines.append(
                f"  AutoStretch {self.luminance} (background at L* {self.luminance_target:.4f}): "
                f"c0 = {c0:.6f}  m = {m:.6f}  c1 = {c1:.6f}"
            )
            lines.append(f"  LRGBCombination: {self.luminance} -> {self.output}")
        return lines


# -- measurements ----------------------------------------------------------------------------
def _sample(pixels: np.ndarray) -> np.ndarray:
    """A regular subsample of (3, h, w) pixels, about :data:`_SAMPLE_PIXELS` per channel, as (3, n) float64."""
    h, w = pixels.shape[1:]
    step = max(1, int(np.sqrt(h * w / _SAMPLE_PIXELS)))
    return pixels[:3, ::step, ::step].reshape(3, -1).astype(np.float64)


def background_upper_bound(pixels: np.ndarray, *, kappa: float = BACKGROUND_KAPPA, iterations: int = 20) -> float:
    """An upper bound of the background of planar RGB ``pixels``, as BackgroundNeutralization's ``backgroundHigh``.

    Starting from every pixel, the candidates are the pixels whose R, G and B all lie in
    (0, bound); the bound becomes the largest over the channels of ``median + kappa·σ``
    of the candidates (σ = 1.4826·MAD), until it settles.  Stars and nebulosity, which
    lie above the background, are peeled off; the result stays above the background's
    noise.
    """
    values = _sample(pixels)
    bound = 1.0
    for _ in range(iterations):
        selected = np.all((values > 0) & (values < bound), axis=0)
        if np.count_nonzero(selected) < 16:
            break
        new = 0.0
        for c in range(3):
            med, mad = median_mad(values[c, selected])
            new = max(new, med + kappa * MAD_TO_SIGMA * mad)
        new = min(new, 1.0)
        if abs(new - bound) <= 1e-7:
            bound = new
            break
        bound = new
    return float(bound)


def lightness_median(pixels: np.ndarray) -> float:
    """The median CIE L* (PixInsight's normalized, sRGB working space) of planar RGB ``pixels``."""
    values = _sample(pixels)
    return float(np.median(cs.SRGB.lightness(values[0], values[1], values[2])))


def autostretch_target_for(stretch: AutoStretch, pixels: np.ndarray, wanted: float) -> float:
    """The ``targetBackground`` that makes ``stretch`` put the median of mono ``pixels`` exactly at ``wanted``.

    AutoStretch (as PixInsight's AutoSTF) chooses the midtones balance that sends
    ``median − c0`` to its target, but the stretch rescales ``x − c0`` by ``1/(1 − c0)``
    first, so the median lands a little above the target when the shadows are clipped.
    This returns the target that compensates for it (``wanted`` itself when c0 is 0).
    """
    med, raw_mad = median_mad(pixels)
    clipping, _ = stretch.effective_parameters()
    c0 = min(max(med + clipping * MAD_TO_SIGMA * raw_mad, 0.0), 1.0) if 1 + raw_mad != 1 else 0.0
    if not 0 < c0 < med < 0.5 or not 0 < wanted < 1:
        return wanted
    x0 = med - c0
    balance = float(mtf(wanted, x0 / (1 - c0)))  # the midtones balance that sends the rescaled median to `wanted`
    return float(np.clip(mtf(balance, x0), 1e-4, 1.0))  # where that balance sends median − c0


# -- the workflow ----------------------------------------------------------------------------
def _window(workspace: Workspace, view_id: str, parameter: str, role: str) -> ImageWindow:
    try:
        window = workspace.window(view_id)
    except UnknownNameError as exc:
        raise LinearLinkError(f"linear-link: {role}: {exc}", parameter) from None
    if window.image.channels != 1:
        raise LinearLinkError(
            f"linear-link: {role} '{view_id}' has {window.image.channels} channels; it must be a grayscale image",
            parameter,
        )
    return window


def _resolve_reference(reference: str, ids: tuple[str, str, str]) -> str:
    if reference in ids:
        return reference
    if reference in ("R", "G", "B"):
        return ids["RGB".index(reference)]
    raise LinearLinkError(
        f"linear-link: reference '{reference}' is neither R, G, B nor one of the channel views "
        f"{', '.join(ids)}", "reference",
    )


def linear_link(
    workspace: Workspace,
    red: str = "R",
    green: str = "G",
    blue: str = "B",
    *,
    reference: str = "G",
    luminance: str | None = None,
    output: str = "RGB",
    reject_low: float = 0.0,
    reject_high: float = 0.92,
    background_high: float | None = None,
    shadows_clipping: float = -2.8,
    target_background: float = 0.25,
    on_step: Callable[[Step], None] | None = None,
) -> LinearLinkReport:
    """Run the linear-link workflow on the mono windows ``red``, ``green``, ``blue`` (and ``luminance``).

    ``reference`` is one of the three view ids, or R, G or B for the channel; the other
    two are fitted to it with LinearFit (``reject_low``, ``reject_high``) and changed in
    place.  The colour result is the new window ``output`` (which must not exist);
    ``background_high`` (None: found from the image, see :func:`background_upper_bound`)
    bounds the background pixels of BackgroundNeutralization; ``shadows_clipping`` and
    ``target_background`` are the AutoStretch parameters.  With ``luminance``, that window
    is stretched (changed in place) and combined into ``output`` with LRGBCombination.
    ``on_step`` is called after every process execution.

    Raises :class:`LinearLinkError` (a ProcfwError naming the argument) for bad
    arguments, before anything is changed.  A process that fails part-way (ExecutionError)
    leaves the steps done so far in place; the console undoes the whole statement.
    """
    ids = (red, green, blue)
    windows = [
        _window(workspace, view_id, parameter, f"{name} channel")
        for view_id, parameter, name in zip(ids, ("red", "green", "blue"), ("red", "green", "blue"))
    ]
    if len(set(ids)) != 3:
        raise LinearLinkError(f"linear-link: the R, G and B views must be three different images, not {' '.join(ids)}")
    reference_id = _resolve_reference(reference, ids)
    size = (windows[0].image.width, windows[0].image.height)
    for view_id, window, parameter in zip(ids, windows, ("red", "green", "blue")):
        if (window.image.width, window.image.height) != size:
            raise LinearLinkError(
                f"linear-link: {view_id} is {window.image.width}x{window.image.height}; "
                f"{ids[0]} is {size[0]}x{size[1]}", parameter,
            )
    if luminance is not None:
        lum = _window(workspace, luminance, "luminance", "luminance")
        if luminance in ids:
            raise LinearLinkError(f"linear-link: the luminance {luminance} is also a colour channel", "luminance")
        if (lum.image.width, lum.image.height) != size:
            raise LinearLinkError(
                f"linear-link: the luminance {luminance} is {lum.image.width}x{lum.image.height}; "
                f"the channels are {size[0]}x{size[1]}", "luminance",
            )
    if not is_valid_id(output):
        raise LinearLinkError(
            f"linear-link: invalid output id '{output}': ids are letters, digits and _, not starting with a digit",
            "output",
        )
    if output in workspace:
        raise LinearLinkError(
            f"linear-link: an image window '{output}' already exists; close it or choose another output id", "output"
        )
    if background_high is not None and not 0 < background_high <= 1:
        raise LinearLinkError(f"linear-link: backgroundHigh {background_high} must be in (0, 1]", "backgroundHigh")
    # Parameter errors surface here, before anything runs.
    fit_process = LinearFit(referenceViewId=reference_id, rejectLow=reject_low, rejectHigh=reject_high)
    stretch = AutoStretch(shadowsClipping=shadows_clipping, targetBackground=target_background, linked=True)

    steps: list[Step] = []

    def run(process: Process, target: str | None, *, name: str | None = None) -> ProcessResult:
        if target is None:
            result = process.execute_global(workspace)
            if name is not None:  # the one image it opened becomes ``name``
                if len(result.created) != 1:  # pragma: no cover - ChannelCombination opens exactly one image
                    raise ExecutionError(f"linear-link: {process.process_id} opened {result.created}, not one image")
                workspace.rename_window(result.created[0], name)
                workspace.current_view_id = name
                result = attrs.evolve(result, created=(name,))
        else:
            result = process.execute_on(workspace.view(target))
            workspace.current_view_id = target
        step = Step(process, target, result)
        steps.append(step)
        if on_step is not None:
            on_step(step)
        return result

    # 1. the linear link
    fits = []
    for view_id in ids:
        if view_id == reference_id:
            continue
        out = run(fit_process, view_id).outputs["K"]
        fits.append(ChannelFit(view_id, float(out["a"]), float(out["b"]), float(out["adev"]), float(out["fraction"])))

    # 2. the colour image
    run(ChannelCombination(channels=((True, red), (True, green), (True, blue))), None, name=output)

    # 3. a neutral background
    high = background_high
    if high is None:
        high = background_upper_bound(workspace.window(output).image.pixels)
    neutralized = run(BackgroundNeutralization(backgroundLow=0.0, backgroundHigh=high), output).outputs
    background = (
        float(neutralized["backgroundR"]), float(neutralized["backgroundG"]), float(neutralized["backgroundB"])
    )

    # 4. the linked stretch, made permanent; the display STF goes back to identity
    stretched = run(stretch, output).outputs["R"]
    run(ScreenTransferFunction(), output)
    stf = (float(stretched["c0"]), float(stretched["m"]), float(stretched["c1"]))

    # 5. the luminance, stretched to the lightness of the RGB image, then combined
    luminance_stf = luminance_target = None
    if luminance is not None:
        luminance_target = lightness_median(workspace.window(output).image.pixels)
        l_background = autostretch_target_for(stretch, workspace.window(luminance).image.pixels[0], luminance_target)
        l_out = run(stretch.evolve(targetBackground=l_background), luminance).outputs["K"]
        run(ScreenTransferFunction(), luminance)
        luminance_stf = (float(l_out["c0"]), float(l_out["m"]), float(l_out["c1"]))
        blank = (False, "", 1.0)
        run(LRGBCombination(channels=(blank, blank, blank, (True, luminance, 1.0))), output)
    workspace.current_view_id = output

    return LinearLinkReport(
        output=output, channels=ids, reference=reference_id, fits=tuple(fits), background=background,
        background_high=float(high), stf=stf, luminance=luminance, luminance_stf=luminance_stf,
        luminance_target=luminance_target, steps=tuple(steps),
    )


# -- the console command -----------------------------------------------------------------------
def linear_link_command(
    session: Session,
    red: str = "R",
    green: str = "G",
    blue: str = "B",
    *,
    reference: str = "G",
    luminance: str | None = None,
    output: str = "RGB",
    rejectLow: float = 0.0,  # noqa: N803 - LinearFit's parameter id
    rejectHigh: float = 0.92,  # noqa: N803
    backgroundHigh: float | None = None,  # noqa: N803 - BackgroundNeutralization's parameter id
    shadowsClipping: float = -2.8,  # noqa: N803 - AutoStretch's parameter id
    targetBackground: float = 0.25,  # noqa: N803
) -> None:
    """Linear-link LRGB: LinearFit to the reference, ChannelCombination, BackgroundNeutralization, AutoStretch, LRGB.

    R G B are the linear mono views (default R G B).  The non-reference channels are fitted
    to -reference= (a view id, or R/G/B; default G) with LinearFit (-rejectLow=,
    -rejectHigh=) and changed in place; they are combined into the new RGB image
    -output= (default RGB), whose background is neutralized (-backgroundHigh=: upper bound
    of the background pixels, found from the image when not given) and which is stretched
    permanently with a linked AutoStretch (-shadowsClipping=, -targetBackground=).  With
    -luminance=L, L is stretched to the lightness of the RGB image and combined with
    LRGBCombination.  Every step is in the views' history.
    """
    from procfw.console.formatting import jsonable
    from procfw.language.errors import ArgumentError

    def record(step: Step) -> None:
        session.records.append(
            {"process": step.result.process_id, "target": step.result.target,
             "outputs": jsonable(dict(step.result.outputs))}
        )

    try:
        report = linear_link(
            session.workspace, red, green, blue, reference=reference, luminance=luminance, output=output,
            reject_low=rejectLow, reject_high=rejectHigh, background_high=backgroundHigh,
            shadows_clipping=shadowsClipping, target_background=targetBackground, on_step=record,
        )
    except LinearLinkError as exc:
        raise ArgumentError(str(exc), _argument_node(session, exc.parameter)) from None
    session.created.append(report.output)
    for line in report.lines():
        session.print(line)


_POSITIONS = {"red": 0, "green": 1, "blue": 2}


def _argument_node(session: Session, parameter: str | None) -> Any:
    """The node of the command-line argument that gave ``parameter`` (None: the statement)."""
    if parameter is None:
        return None
    args = list(getattr(session, "current_args", ()) or ())
    for arg in args:
        if arg.kind != "value" and arg.name == parameter:
            return arg.node
    if parameter in _POSITIONS:
        positional = [arg for arg in args if arg.kind == "value"]
        index = _POSITIONS[parameter]
        if index < len(positional):
            return positional[index].node
    return None
