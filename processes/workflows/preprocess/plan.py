"""The pre-processing plan: frames grouped, and every light and flat group linked to its calibration masters.

Frames are grouped by :func:`~processes.workflows.preprocess.groups.group_frames` (kind,
filter, exposure within ``exposure_tolerance``, binning, gain, geometry).  Ready-made
masters (IMAGETYP 'Master ...') are used as they are, in preference to raw frames that
would make an equivalent master.

Linking.  A calibration group is *compatible* with a target group when binning, geometry
(width, height, channels) and gain are equal and the median sensor temperatures differ by
at most ``temperature_tolerance`` (an unknown gain or temperature does not prevent a
link; the plan says so).  Then, as WBPP does by default:

* a **light** group takes the compatible **bias** of nearest temperature and the compatible
  **dark** whose exposure matches within ``exposure_tolerance`` — the master dark keeps the
  bias (darks are integrated raw), so the master bias is subtracted from it during
  calibration (ImageCalibration ``calibrateDark``) and the dark can be scaled
  (``optimizeDarks``).  Without a matching exposure, a dark of another exposure is scaled
  to the light's when ``optimize_darks`` is on and a master bias is available (the
  shortest longer dark, else the longest); otherwise the link is broken.  The bias is
  required when there is no dark or the dark is scaled; with a matching dark it only
  enables dark optimization;
* a light group takes the **flat** of the same filter, binning and geometry (gain and
  temperature are not compared: a normalized flat does not depend on them);
* a **flat** group is calibrated with the compatible **dark flat** of matching exposure, else
  a compatible **dark** of matching exposure (a dark flat in all but name), else the
  master **bias** (the dark current of short flats is neglected) — but when dark flats
  were given and none matches the flats' exposure the link is broken, as the user
  evidently meant them to be used.

A missing or mismatched link is a *problem* that stops the run, unless
``allow_missing_bias`` / ``allow_missing_darks`` / ``allow_missing_flats`` turn it into a
warning (the frames are then calibrated without it).  A set with no frames of a kind at
all — a smart telescope's lights-only session — is not a broken link: it runs, with a
warning in the plan and the report that the lights are calibrated without that kind.  Every link and problem carries a
sentence saying why.  Only the groups that some light group needs are built.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from processes.workflows.preprocess.frames import ScanResult
from processes.workflows.preprocess.groups import (
    KIND_WORDS,
    FrameGroup,
    clean_name,
    filter_order,
    format_gain,
    format_seconds,
    format_temperature,
    group_frames,
)

__all__ = [
    "DEBAYER_MODES",
    "EXECUTORS",
    "REJECTIONS",
    "CalibrationLink",
    "FrameGroup",
    "IntegrationSet",
    "Link",
    "Options",
    "Plan",
    "make_plan",
]

MIN_INTEGRATION_FRAMES = 3
"""ImageIntegration combines at least three images."""

DEBAYER_MODES = ("Auto", "Always", "Never")
EXECUTORS = ("serial", "processes", "dask")
REJECTIONS = ("Auto", "NoRejection", "PercentileClip", "SigmaClip", "WinsorizedSigmaClip", "AveragedSigmaClip",
              "LinearFit", "Rejection_ESD")


@attrs.frozen(kw_only=True)
class Options:
    """Tolerances, permissions and choices of a pre-processing run (defaults follow WBPP)."""

    exposure_tolerance: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    """Seconds: darks match a light or flat group (and frames join a group) within this."""
    temperature_tolerance: float = attrs.field(default=5.0, validator=attrs.validators.ge(0))
    """°C: bias and darks match a group whose median sensor temperature is within this."""
    optimize_darks: bool = True
    """Scale master darks to each frame (ImageCalibration optimizeDarks); also allows darks of other exposures."""
    allow_missing_bias: bool = False
    allow_missing_darks: bool = False
    allow_missing_flats: bool = False
    cosmetic_correction: bool = False
    """Run CosmeticCorrection (auto-detected hot and cold pixels) on the calibrated lights."""
    hot_sigma: float = 3.0
    """CosmeticCorrection hotAutoValue / coldAutoValue (noise σ)."""
    debayer: str = attrs.field(default="Auto", validator=attrs.validators.in_(DEBAYER_MODES))
    """Auto: lights with a CFA pattern (BAYERPAT) are demosaiced; Always: every mono light; Never: none."""
    cfa_pattern: str = "Auto"
    debayer_method: str = "VNG"
    reference: str = ""
    """Registration reference: a file path (a raw light of the session or any image); empty: the best frame."""
    align: bool = True
    integrate: bool = True
    auto_crop: bool = True
    """Crop each light master to the area every registered frame covers (WBPP's auto-crop)."""
    local_normalization: bool = False
    """Map each registered light onto the registration reference with LocalNormalization (.xnml
    files beside the registered frames) and integrate with local normalization."""
    local_normalization_scale: int = attrs.field(default=1024, validator=attrs.validators.ge(32))
    """LocalNormalization's ``scale`` (pixels; PixInsight's and WBPP's default 1024)."""
    drizzle: bool = False
    """Also integrate the registered lights by DrizzleIntegration (CFA drizzle of the undebayered
    frames for one-shot-colour lights) into ``master_<filter>_drizzle``."""
    drizzle_scale: float = attrs.field(default=2.0, validator=[attrs.validators.ge(1.0), attrs.validators.le(4.0)])
    """DrizzleIntegration's ``scale``."""
    drizzle_drop_shrink: float = attrs.field(default=0.9, validator=[attrs.validators.gt(0.0),
                                                                    attrs.validators.le(1.0)])
    """DrizzleIntegration's ``dropShrink``."""
    subframe_weighting: bool = False
    """Measure the processed lights with SubframeSelector and integrate them with its weights."""
    weighting: str = "PSFSignalWeight"
    """SubframeSelector's weighting expression (WBPP's default weight: PSF signal weight)."""
    approval: str = ""
    """SubframeSelector's approval expression (empty: every measured frame is approved)."""
    rejection: str = attrs.field(default="Auto", validator=attrs.validators.in_(REJECTIONS))
    """Light and flat integration rejection; Auto: PercentileClip below 8 frames, WinsorizedSigmaClip from 8."""
    output_extension: str = ".fits"
    overwrite: bool = False
    executor: str = attrs.field(default="processes", validator=attrs.validators.in_(EXECUTORS))
    """Where the per-frame steps run: ``serial`` (here), ``processes`` (every core) or ``dask`` (a cluster)."""
    workers: int | None = attrs.field(default=None, validator=attrs.validators.optional(attrs.validators.ge(1)))
    """Local worker processes (``processes``); None: every core, as many as the memory allows."""
    scheduler: str = ""
    """The dask scheduler address (``dask``); empty: the environment variable PROCFW_SCHEDULER."""

    def as_json(self) -> dict[str, Any]:
        """The options as a JSON-friendly dict (camelCase, as the console options)."""
        return {
            "exposureTolerance": self.exposure_tolerance, "temperatureTolerance": self.temperature_tolerance,
            "optimizeDarks": self.optimize_darks, "allowMissingBias": self.allow_missing_bias,
            "allowMissingDarks": self.allow_missing_darks, "allowMissingFlats": self.allow_missing_flats,
            "cosmeticCorrection": self.cosmetic_correction, "debayer": self.debayer, "cfaPattern": self.cfa_pattern,
            "debayerMethod": self.debayer_method, "reference": self.reference, "align": self.align,
            "integrate": self.integrate, "autoCrop": self.auto_crop, "localNormalization": self.local_normalization,
            "localNormalizationScale": self.local_normalization_scale, "drizzle": self.drizzle,
            "drizzleScale": self.drizzle_scale, "drizzleDropShrink": self.drizzle_drop_shrink,
            "subframeWeighting": self.subframe_weighting, "weighting": self.weighting, "approval": self.approval,
            "rejection": self.rejection,
            "outputExtension": self.output_extension,
            "overwrite": self.overwrite, "executor": self.executor, "workers": self.workers,
            "scheduler": self.scheduler,
        }


# -- links --------------------------------------------------------------------------------
@attrs.frozen(kw_only=True)
class Link:
    """One calibration frame a group uses (``group`` None: none), and why."""

    role: str
    """bias, dark or flat."""
    group: FrameGroup | None
    reason: str
    scaled: bool = False
    """A dark of another exposure, scaled by dark optimization."""

    def as_json(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {"role": self.role, "master": self.group.name if self.group else None, "reason": self.reason,
                "scaled": self.scaled}


@attrs.frozen(kw_only=True)
class CalibrationLink:
    """How one light or flat group is calibrated."""

    target: FrameGroup
    bias: Link
    dark: Link
    flat: Link | None = None
    """Lights only."""
    optimize_darks: bool = False
    calibrate_dark: bool = False
    """Subtract the master bias from the master dark before use (the dark includes the bias)."""
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def masters(self) -> list[FrameGroup]:
        """The calibration groups used."""
        return [link.group for link in (self.bias, self.dark, self.flat) if link is not None and link.group]

    def line(self) -> str:
        """'lights L 120s bin1 ... (20 frames): bias master_bias (...), dark ..., flat ...'."""
        parts = []
        for link in (self.bias, self.dark, self.flat):
            if link is None:
                continue
            if link.group is None:
                parts.append(f"no {link.role} ({link.reason})")
            else:
                parts.append(f"{link.role} {link.group.name} ({link.reason})")
        return f"{self.target.label}: " + ", ".join(parts)

    def as_json(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            "group": self.target.name, "label": self.target.label, "bias": self.bias.as_json(),
            "dark": self.dark.as_json(), "flat": self.flat.as_json() if self.flat else None,
            "optimizeDarks": self.optimize_darks, "calibrateDark": self.calibrate_dark,
            "problems": list(self.problems), "warnings": list(self.warnings), "line": self.line(),
        }


@attrs.frozen(kw_only=True)
class IntegrationSet:
    """Light groups integrated into one master light (one filter and binning)."""

    name: str
    """master_L, master_R_bin2, ..."""
    filter: str
    groups: tuple[FrameGroup, ...]

    @property
    def frame_count(self) -> int:
        """Number of light frames."""
        return sum(len(g.frames) for g in self.groups)


@attrs.frozen(kw_only=True)
class Plan:
    """Groups, links, integration sets, problems and warnings of a session."""

    directory: str
    groups: tuple[FrameGroup, ...]
    lights: tuple[CalibrationLink, ...]
    flats: tuple[CalibrationLink, ...]
    integrations: tuple[IntegrationSet, ...]
    options: Options
    skipped: tuple[Any, ...] = ()
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when nothing stops the run."""
        return not self.problems

    def of_kind(self, kind: str) -> list[FrameGroup]:
        """The groups of one kind."""
        return [g for g in self.groups if g.kind == kind]

    def flat_link(self, group: FrameGroup) -> CalibrationLink | None:
        """The calibration of a flat group (None when the flat group is not used)."""
        return next((link for link in self.flats if link.target is group), None)

    def used_masters(self) -> list[FrameGroup]:
        """Calibration groups some light group needs (directly or through its flat), in processing order."""
        used: list[FrameGroup] = []
        for link in (*self.lights, *self.flats):
            for g in link.masters:
                if g not in used:
                    used.append(g)
        order = {"bias": 0, "dark": 1, "darkflat": 2, "flat": 3}
        return sorted(used, key=lambda g: (order[g.kind], self.groups.index(g)))

    def debayers(self, group: FrameGroup) -> bool:
        """Whether the lights of ``group`` are demosaiced."""
        if self.options.debayer == "Never" or group.channels != 1:
            return False
        return self.options.debayer == "Always" or group.bayer is not None

    def lines(self) -> list[str]:
        """The plan as text: frames, groups, links (with reasons), integrations, warnings and problems."""
        frames = sum(len(g.frames) for g in self.groups)
        out = [f"preprocess plan: {frames} frames in {self.directory}"
               + (f" ({len(self.skipped)} files skipped)" if self.skipped else "")]
        used = self.used_masters()
        calibration = [g for g in self.groups if g.kind != "light"]
        if calibration:
            out.append("calibration frames:")
            for g in calibration:
                status = f"-> {g.name}" if g in used else "(not used)"
                out.append(f"  {g.label} {status}")
        if self.flats:
            out.append("flat calibration:")
            out += [f"  {link.line()}" for link in self.flats]
        out.append("light frames:")
        if not self.lights:
            out.append("  (none)")
        for link in self.lights:
            out.append(f"  {link.line()}")
            if self.debayers(link.target):
                out.append(f"    debayered ({self.options.debayer_method}, pattern "
                           f"{self.options.cfa_pattern if self.options.cfa_pattern != 'Auto' else link.target.bayer})")
        if self.integrations and self.options.integrate:
            o = self.options
            extras = [*(["local normalization to the registration reference (LocalNormalization)"]
                        if o.local_normalization and o.align else []),
                      *([f"drizzle x{o.drizzle_scale:g}, drop shrink {o.drizzle_drop_shrink:g} "
                         "(DrizzleIntegration; CFA drizzle for CFA lights)"] if o.drizzle and o.align else [])]
            out.append("integration:" + "".join(f" {e};" for e in extras).rstrip(";"))
            for s in self.integrations:
                groups = ", ".join(g.short for g in s.groups)
                out.append(f"  {s.name}: {s.frame_count} frames ({groups})")
        for note in self.notes:
            out.append(f"note: {note}")
        for path in self.skipped:
            out.append(f"skipped: {path.path}: {path.reason}")
        for warning in self.warnings:
            out.append(f"warning: {warning}")
        for problem in self.problems:
            out.append(f"problem: {problem}")
        return out

    def as_json(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            "directory": self.directory, "ok": self.ok, "groups": [g.as_json() for g in self.groups],
            "lights": [link.as_json() for link in self.lights], "flats": [link.as_json() for link in self.flats],
            "integrations": [{"name": s.name, "filter": s.filter, "frames": s.frame_count,
                              "groups": [g.name for g in s.groups]} for s in self.integrations],
            "skipped": [{"path": str(s.path), "reason": s.reason} for s in self.skipped],
            "problems": list(self.problems), "warnings": list(self.warnings), "notes": list(self.notes),
            "options": self.options.as_json(),
        }


# -- compatibility --------------------------------------------------------------------------
def _mismatch(candidate: FrameGroup, target: FrameGroup, options: Options, *, check_gain: bool = True,
              check_temperature: bool = True) -> str:
    """Why ``candidate`` cannot calibrate ``target`` ("" when it can)."""
    what = KIND_WORDS[target.kind]
    if (candidate.xbin, candidate.ybin) != (target.xbin, target.ybin):
        return f"binning {candidate.binning}, {what} {target.binning}"
    if (candidate.width, candidate.height, candidate.channels) != (target.width, target.height, target.channels):
        return f"size {candidate.size}, {what} {target.size}"
    if check_gain and candidate.gain is not None and target.gain is not None and \
            not math.isclose(candidate.gain, target.gain, rel_tol=1e-6, abs_tol=1e-6):
        return f"gain {candidate.gain:g}, {what} {target.gain:g}"
    if check_temperature:
        ct, tt = candidate.temperature, target.temperature
        if ct is not None and tt is not None and abs(ct - tt) > options.temperature_tolerance + 1e-9:
            return (f"temperature {format_temperature(ct)}, {what} {format_temperature(tt)} "
                    f"(tolerance {options.temperature_tolerance:g}°C)")
    return ""


def _unknowns(candidate: FrameGroup, target: FrameGroup) -> list[str]:
    out = []
    if candidate.gain is None or target.gain is None:
        out.append("gain unknown")
    if candidate.temperature is None or target.temperature is None:
        out.append("temperature unknown")
    return out


def _properties(g: FrameGroup) -> str:
    words = [f"bin{g.binning}"] + [w for w in (format_gain(g.gain), format_temperature(g.temperature)) if w]
    return " ".join(words)


def _best(candidates: list[FrameGroup], target: FrameGroup) -> FrameGroup:
    """Ready-made masters first, then the nearest temperature, then the most frames."""
    def key(g: FrameGroup) -> tuple[Any, ...]:
        dt = abs(g.temperature - target.temperature) if g.temperature is not None and target.temperature is not None \
            else 0.0
        return (not g.master, dt, -len(g.frames), g.name)
    return min(candidates, key=key)


def _explain_none(role: str, target: FrameGroup, pool: list[FrameGroup], reasons: dict[str, str]) -> str:
    if not pool:
        return f"{target.short}: no {role} frames"
    detail = "; ".join(f"{g.name}: {reasons[g.name]}" for g in pool[:4])
    return f"{target.short}: no {role} matches ({detail})"


def _link_bias(target: FrameGroup, bias: list[FrameGroup], options: Options) -> tuple[FrameGroup | None, str]:
    """(compatible bias, reason); reason explains the failure when None."""
    reasons = {g.name: _mismatch(g, target, options) for g in bias}
    compatible = [g for g in bias if not reasons[g.name]]
    if not compatible:
        return None, _explain_none("bias", target, bias, reasons)
    chosen = _best(compatible, target)
    why = ", ".join([_properties(chosen), *_unknowns(chosen, target)])
    return chosen, why


def _link_light_dark(
    target: FrameGroup, darks: list[FrameGroup], bias: FrameGroup | None, options: Options
) -> tuple[FrameGroup | None, str, bool, str]:
    """(dark, reason, scaled, failure) for a light group."""
    tol = options.exposure_tolerance
    reasons = {g.name: _mismatch(g, target, options) for g in darks}
    compatible = [g for g in darks if not reasons[g.name]]
    if not compatible:
        return None, "", False, _explain_none("dark", target, darks, reasons)
    exp = target.exposure
    if exp is None:
        return None, "", False, f"{target.short}: the lights have no exposure time (EXPTIME), so no dark can be chosen"
    exact = [g for g in compatible if g.exposure is not None and abs(g.exposure - exp) <= tol + 1e-9]
    if exact:
        best_dt = min(abs(g.exposure - exp) for g in exact)  # type: ignore[operator]
        chosen = _best([g for g in exact if abs(g.exposure - exp) <= best_dt + 1e-9], target)  # type: ignore[operator]
        extra = _unknowns(chosen, target)
        why = f"exposure {format_seconds(chosen.exposure)} matches within {tol:g}s"
        return chosen, ", ".join([why, *extra]), False, ""
    exposures = ", ".join(sorted({format_seconds(g.exposure) for g in compatible}))
    if options.optimize_darks and bias is not None:
        longer = [g for g in compatible if g.exposure is not None and g.exposure >= exp]
        pool = longer or [g for g in compatible if g.exposure is not None]
        if pool:
            pick = min(pool, key=lambda g: g.exposure) if longer else max(pool, key=lambda g: g.exposure)  # type: ignore
            chosen = _best([g for g in pool if g.exposure == pick.exposure], target)
            why = f"exposure {format_seconds(chosen.exposure)} scaled to {format_seconds(exp)} by dark optimization"
            return chosen, why, True, ""
    if not options.optimize_darks:
        hint = "scaling a dark of another exposure needs -optimizeDarks+"
    else:
        hint = "scaling a dark of another exposure needs a master bias"
    return None, "", False, (f"{target.short}: no dark of {format_seconds(exp)} ±{tol:g}s (darks: {exposures}); {hint}")


def _link_flat(target: FrameGroup, flats: list[FrameGroup], options: Options) -> tuple[FrameGroup | None, str, str]:
    """(flat, reason, failure) for a light group: same filter, binning and geometry."""
    if not flats:
        return None, "", f"{target.short}: no flat frames"
    same_filter = [g for g in flats if g.filter.casefold() == target.filter.casefold()]
    if not same_filter:
        filters = ", ".join(sorted({g.filter or "(none)" for g in flats}, key=filter_order))
        return None, "", f"{target.short}: no flat with filter {target.filter or '(none)'} (flats: {filters})"
    reasons = {g.name: _mismatch(g, target, options, check_gain=False, check_temperature=False) for g in same_filter}
    compatible = [g for g in same_filter if not reasons[g.name]]
    if not compatible:
        return None, "", _explain_none("flat", target, same_filter, reasons)
    chosen = min(compatible, key=lambda g: (not g.master, -len(g.frames), g.name))
    return chosen, f"filter {chosen.filter or '(none)'}", ""


def _link_flat_dark(
    target: FrameGroup, darkflats: list[FrameGroup], darks: list[FrameGroup], options: Options
) -> tuple[FrameGroup | None, str, str]:
    """(dark flat, reason, failure) for a flat group; failure only when dark flats exist and none matches."""
    tol = options.exposure_tolerance
    exp = target.exposure
    for pool, what in ((darkflats, "dark flat"), (darks, "dark")):
        compatible = [g for g in pool if not _mismatch(g, target, options)]
        exact = [g for g in compatible if exp is not None and g.exposure is not None
                 and abs(g.exposure - exp) <= tol + 1e-9]
        if exact:
            chosen = _best(exact, target)
            why = f"exposure {format_seconds(chosen.exposure)} matches the flats' {format_seconds(exp)} within {tol:g}s"
            if what == "dark":
                why = f"a dark used as dark flat: {why}"
            return chosen, why, ""
    if darkflats:
        compatible = [g for g in darkflats if not _mismatch(g, target, options)]
        if compatible:
            exposures = ", ".join(sorted({format_seconds(g.exposure) for g in compatible}))
            return None, "", (f"{target.short}: dark flats have exposure {exposures}, flats {format_seconds(exp)} "
                              f"— no matching dark flat (tolerance {tol:g}s)")
        reasons = {g.name: _mismatch(g, target, options) for g in darkflats}
        return None, "", _explain_none("dark flat", target, darkflats, reasons)
    return None, "", ""


# -- the plan -----------------------------------------------------------------------------

def _missing_link(message: str, what: str, allowed: bool, option: str, problems: list[str],
                  warnings: list[str]) -> str:
    """Record a missing calibration master: a warning if ``option`` allows it, else a broken link; the note."""
    if allowed:
        warnings.append(f"{message} — calibrated without a {what} ({option})")
        return option
    problems.append(message)
    return "broken link"

def make_plan(scan: ScanResult, options: Options | None = None, *, directory: str = "") -> Plan:
    """Group the scanned frames and link every light group (and the flats it uses) to its masters."""
    options = options or Options()
    groups = group_frames(scan.frames, options.exposure_tolerance)
    by_kind = {kind: [g for g in groups if g.kind == kind] for kind in ("bias", "dark", "darkflat", "flat", "light")}
    problems: list[str] = []
    warnings: list[str] = []
    notes: list[str] = []
    light_links: list[CalibrationLink] = []
    flats_needed: list[FrameGroup] = []

    def allowance(kind: str, flag: bool, option: str) -> tuple[bool, str]:
        """Whether a missing ``kind`` is allowed, and the note saying why (the option, or none given)."""
        if flag:
            return True, option
        if not by_kind[kind]:
            return True, f"no {kind} frames in the set"
        return False, option

    allow_bias, bias_option = allowance("bias", options.allow_missing_bias, "allowMissingBias")
    allow_darks, dark_option = allowance("dark", options.allow_missing_darks, "allowMissingDarks")
    allow_flats, flat_option = allowance("flat", options.allow_missing_flats, "allowMissingFlats")

    for target in by_kind["light"]:
        link_problems: list[str] = []
        link_warnings: list[str] = []
        dark_note = ""
        bias, bias_why = _link_bias(target, by_kind["bias"], options)
        dark, dark_why, scaled, dark_fail = _link_light_dark(target, by_kind["dark"], bias, options)
        if dark is None:
            dark_note = _missing_link(dark_fail, "dark", allow_darks, dark_option, link_problems, link_warnings)
        if bias is None:
            if not (dark is None or scaled):
                bias_why = "not needed: the master dark includes the bias; dark optimization is off without it"
            else:
                bias_why = _missing_link(bias_why, "bias", allow_bias, bias_option, link_problems, link_warnings)
        flat, flat_why, flat_fail = _link_flat(target, by_kind["flat"], options)
        if flat is None:
            flat_why = _missing_link(flat_fail, "flat", allow_flats, flat_option, link_problems, link_warnings)
        elif flat not in flats_needed:
            flats_needed.append(flat)
        light_links.append(CalibrationLink(
            target=target,
            bias=Link(role="bias", group=bias, reason=bias_why),
            dark=Link(role="dark", group=dark, reason=dark_why if dark is not None else dark_note, scaled=scaled),
            flat=Link(role="flat", group=flat, reason=flat_why),
            optimize_darks=bool(options.optimize_darks and dark is not None and bias is not None),
            calibrate_dark=bool(dark is not None and bias is not None),
            problems=tuple(link_problems), warnings=tuple(link_warnings),
        ))
        problems += link_problems
        warnings += link_warnings

    flat_links: list[CalibrationLink] = []
    for target in flats_needed:
        if target.master:
            flat_links.append(CalibrationLink(
                target=target, bias=Link(role="bias", group=None, reason="ready-made master flat"),
                dark=Link(role="dark", group=None, reason="ready-made master flat")))
            continue
        link_problems, link_warnings = [], []
        darkflat, df_why, df_fail = _link_flat_dark(target, by_kind["darkflat"], by_kind["dark"], options)
        bias: FrameGroup | None = None
        bias_why = "not needed: the dark flat includes the bias"
        if darkflat is None:
            if df_fail and not options.allow_missing_darks:
                link_problems.append(df_fail)
                df_why = "broken link"
            else:
                if df_fail:
                    link_warnings.append(f"{df_fail} — flats calibrated without a dark flat (allowMissingDarks)")
                df_why = df_why or "the dark current of the flats is neglected"
                bias, bias_why = _link_bias(target, by_kind["bias"], options)
                if bias is None:
                    message = f"{bias_why} (and no dark flat): nothing removes the flats' bias pedestal"
                    if allow_bias:
                        link_warnings.append(f"{message} — flats used uncalibrated ({bias_option})")
                        bias_why = bias_option
                    else:
                        link_problems.append(message)
                        bias_why = "broken link"
        flat_links.append(CalibrationLink(
            target=target, bias=Link(role="bias", group=bias, reason=bias_why),
            dark=Link(role="dark flat", group=darkflat, reason=df_why),
            problems=tuple(link_problems), warnings=tuple(link_warnings),
        ))
        problems += link_problems
        warnings += link_warnings

    plan_links = [*light_links, *flat_links]
    for g in dict.fromkeys(m for link in plan_links for m in link.masters):
        if not g.master and len(g.frames) < MIN_INTEGRATION_FRAMES:
            problems.append(f"{g.label}: at least {MIN_INTEGRATION_FRAMES} frames are needed to integrate "
                            f"{g.name}")

    integrations = _integration_sets(by_kind["light"])
    if options.integrate:
        for s in integrations:
            if s.frame_count < MIN_INTEGRATION_FRAMES:
                problems.append(f"lights {s.filter or '(no filter)'}: {s.frame_count} frame"
                                f"{'s' if s.frame_count != 1 else ''}; ImageIntegration needs at least "
                                f"{MIN_INTEGRATION_FRAMES}")
    if not by_kind["light"]:
        problems.append("no light frames found")
    for frame in scan.frames:
        if frame.kind_source != "IMAGETYP":
            notes.append(f"{frame.path.name}: no usable IMAGETYP ('{frame.imagetyp}'); typed as {frame.kind} from "
                         "its file name")
    for g in groups:
        if g.kind == "light" and g.bayer is None and options.debayer == "Always" and options.cfa_pattern == "Auto":
            problems.append(f"{g.short}: debayer=Always but the frames carry no BAYERPAT; give -cfaPattern=")
    return Plan(
        directory=directory, groups=tuple(groups), lights=tuple(light_links), flats=tuple(flat_links),
        integrations=tuple(integrations), options=options, skipped=tuple(scan.skipped),
        problems=tuple(dict.fromkeys(problems)), warnings=tuple(dict.fromkeys(warnings)), notes=tuple(notes),
    )


def _integration_sets(lights: list[FrameGroup]) -> list[IntegrationSet]:
    """One set per filter and binning (and geometry, CFA-ness): master_<filter>, with _bin2 etc. where needed."""
    sets: dict[tuple[Any, ...], list[FrameGroup]] = {}
    for g in sorted(lights, key=lambda g: filter_order(g.filter)):
        sets.setdefault((g.filter.casefold(), g.xbin, g.ybin, g.width, g.height, g.bayer is not None), []).append(g)
    out: list[IntegrationSet] = []
    for key, groups in sets.items():
        first = groups[0]
        name = f"master_{clean_name(first.filter) or 'light'}"
        twins = [k for k in sets if k[0] == key[0] and k != key]
        if any(k[1:3] != key[1:3] for k in twins):
            name += f"_bin{first.binning}"
        if any(k[3:5] != key[3:5] for k in twins):
            name += f"_{first.width}x{first.height}"
        if any(k[5] != key[5] for k in twins):
            name += "_cfa" if key[5] else "_mono"
        out.append(IntegrationSet(name=name, filter=first.filter, groups=tuple(groups)))
    return out
