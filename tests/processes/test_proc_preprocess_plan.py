"""Pre-processing plan: grouping, links to calibration masters with their reasons, and refusals with the right reason.

The frames are described directly (FrameInfo, as the header scan makes them), so every
case is a few lines; one test reads a simulated session from disk end to end.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from processes.simulation.session import simulate_session
from processes.workflows.preprocess import (
    FrameInfo,
    Options,
    PreprocessError,
    ScanResult,
    make_plan,
    plan_session,
    preprocess,
    rejection_for,
)


def frames(kind: str, count: int = 5, *, filter: str = "", exposure: float | None = 60.0, binning: int = 1,  # noqa: A002
           gain: float | None = 100.0, temperature: float | None = -10.0, size: tuple[int, int] = (64, 64),
           bayer: str | None = None, master: bool = False, tag: str = "") -> list[FrameInfo]:
    """``count`` frames of one kind with the given header values."""
    exposure = 0.0 if kind == "bias" else exposure
    return [
        FrameInfo(path=Path(f"/raw/{kind}{tag}_{filter}_{exposure}_{binning}_{i:03d}.fits"), kind=kind, master=master,
                  imagetyp=kind, filter=filter, exposure=exposure, xbin=binning, ybin=binning, gain=gain,
                  temperature=temperature, width=size[0], height=size[1], bayer=bayer)
        for i in range(count)
    ]


def plan_of(*groups: list[FrameInfo], **options: object):
    return make_plan(ScanResult(tuple(f for g in groups for f in g)), Options(**options), directory="/raw")


def lrgb(**overrides: list[FrameInfo]) -> dict[str, list[FrameInfo]]:
    """A complete session: bias, 120 s darks, flats and lights in L, R, G, B."""
    parts = {"bias": frames("bias", 8), "darks": frames("dark", 8, exposure=120.0)}
    for f in "LRGB":
        parts[f"flats{f}"] = frames("flat", 8, filter=f, exposure=1.5)
        parts[f"lights{f}"] = frames("light", 20 if f == "L" else 10, filter=f, exposure=120.0)
    parts.update(overrides)
    return parts


def test_complete_session_links_every_group() -> None:
    plan = plan_of(*lrgb().values())
    assert plan.ok, plan.problems
    text = "\n".join(plan.lines())
    assert ("lights L 120s bin1 gain100 -10°C (20 frames): bias master_bias (bin1 gain100 -10°C), dark "
            "master_dark_120s (exposure 120s matches within 0.5s), flat master_flat_L (filter L)") in text
    for f in "RGB":
        assert f"lights {f} 120s bin1 gain100 -10°C (10 frames): bias master_bias" in text
        assert f"flat master_flat_{f} (filter {f})" in text
        assert f"flats {f} 1.5s bin1 gain100 -10°C (8 frames): bias master_bias" in text
    assert [s.name for s in plan.integrations] == ["master_L", "master_R", "master_G", "master_B"]
    assert [g.name for g in plan.used_masters()] == ["master_bias", "master_dark_120s", "master_flat_L",
                                                     "master_flat_R", "master_flat_G", "master_flat_B"]
    link = plan.lights[0]
    assert link.calibrate_dark and link.optimize_darks and not link.dark.scaled  # WBPP: dark includes the bias


def test_dark_flats_of_another_exposure_are_refused() -> None:
    parts = lrgb(darkflats=frames("darkflat", 5, exposure=2.5))
    plan = plan_of(*parts.values())
    assert not plan.ok
    assert ("flats filter R 1.5s: dark flats have exposure 2.5s, flats 1.5s — no matching dark flat "
            "(tolerance 0.5s)") in plan.problems
    # within the tolerance the dark flats are used, without a separate bias
    plan = plan_of(*lrgb(darkflats=frames("darkflat", 5, exposure=1.6)).values())
    assert plan.ok
    flat_link = plan.flats[0]
    assert flat_link.dark.group is not None and flat_link.dark.group.name == "master_darkflat_1_6s"
    assert flat_link.bias.group is None
    assert "matches the flats' 1.5s within 0.5s" in flat_link.line()


def test_lights_without_flats_of_their_filter_are_refused() -> None:
    parts = lrgb(lightsHa=frames("light", 6, filter="Ha", exposure=300.0), darks300=frames("dark", 5, exposure=300.0))
    plan = plan_of(*parts.values())
    assert plan.problems == ("lights Ha 300s: no flat with filter Ha (flats: L, R, G, B)",)
    with pytest.raises(PreprocessError, match="no flat with filter Ha"):
        preprocess("/raw", "/nonexistent/out", plan.options, plan=plan)
    assert not Path("/nonexistent/out").exists()
    allowed = plan_of(*parts.values(), allow_missing_flats=True)
    assert allowed.ok
    assert any("no flat with filter Ha" in w and "allowMissingFlats" in w for w in allowed.warnings)


def test_binning_gain_and_temperature_mismatches() -> None:
    parts = lrgb(lightsL=frames("light", 6, filter="L", exposure=120.0, binning=2, size=(32, 32)))
    plan = plan_of(*parts.values())
    assert "lights L 120s: no bias matches (master_bias: binning 1, lights 2)" in plan.problems
    assert "lights L 120s: no dark matches (master_dark_120s: binning 1, lights 2)" in plan.problems
    assert "lights L 120s: no flat matches (master_flat_L: binning 1, lights 2)" in plan.problems
    plan = plan_of(*lrgb(lightsR=frames("light", 6, filter="R", exposure=120.0, gain=200.0)).values())
    assert "lights R 120s: no dark matches (master_dark_120s: gain 100, lights 200)" in plan.problems
    warm = lrgb(lightsG=frames("light", 6, filter="G", exposure=120.0, temperature=0.0))
    assert "lights G 120s: no dark matches (master_dark_120s: temperature -10°C, lights 0°C (tolerance 5°C))" \
        in plan_of(*warm.values()).problems
    assert plan_of(*warm.values(), temperature_tolerance=10.0).ok
    # unknown gain or temperature does not prevent a link, but the plan says so
    unknown = plan_of(*lrgb(lightsB=frames("light", 6, filter="B", exposure=120.0, gain=None)).values())
    assert unknown.ok and "gain unknown" in unknown.lights[-1].line()


def test_dark_exposure_tolerance_and_scaling() -> None:
    lights = frames("light", 6, filter="L", exposure=120.3)
    flats = frames("flat", 5, filter="L", exposure=1.0)
    plan = plan_of(frames("bias"), frames("dark", exposure=120.0), flats, lights)
    assert plan.ok and not plan.lights[0].dark.scaled  # 120.3 s lights, 120 s darks: within 0.5 s
    assert "dark master_dark_120s (exposure 120s matches within 0.5s)" in plan.lights[0].line()
    assert not plan_of(frames("bias"), frames("dark", exposure=120.0), flats, lights, exposure_tolerance=0.2,
                       optimize_darks=False).ok
    # 300 s darks scaled to 120 s lights with dark optimization and a bias ...
    plan = plan_of(frames("bias"), frames("dark", exposure=60.0), frames("dark", exposure=300.0), flats,
                   frames("light", 6, filter="L", exposure=120.0))
    link = plan.lights[0]
    assert plan.ok and link.dark.scaled and link.dark.group.name == "master_dark_300s"
    assert "exposure 300s scaled to 120s by dark optimization" in link.line()
    # ... but not without the bias, nor without optimization
    no_bias = plan_of(frames("dark", exposure=300.0), flats, frames("light", 6, filter="L", exposure=120.0))
    assert no_bias.problems[0] == ("lights L 120s: no dark of 120s ±0.5s (darks: 300s); scaling a dark of another "
                                   "exposure needs a master bias")
    off = plan_of(frames("bias"), frames("dark", exposure=300.0), flats, frames("light", 6, filter="L",
                                                                              exposure=120.0), optimize_darks=False)
    assert "needs -optimizeDarks+" in off.problems[0]


def test_bias_is_optional_with_a_matching_dark_and_darks_can_serve_as_dark_flats() -> None:
    plan = plan_of(frames("dark", exposure=60.0), frames("dark", exposure=2.0), frames("flat", filter="L",
                                                                                        exposure=2.0),
                   frames("light", 5, filter="L", exposure=60.0))
    assert plan.ok, plan.problems
    assert "no bias (not needed: the master dark includes the bias" in plan.lights[0].line()
    assert not plan.lights[0].optimize_darks and not plan.lights[0].calibrate_dark
    assert "a dark used as dark flat" in plan.flats[0].line()
    assert plan.flats[0].dark.group.name == "master_dark_2s"


def test_missing_calibration_allowed_and_too_few_frames() -> None:
    lights = frames("light", 12, filter="IRCUT", exposure=10.0, gain=80.0, temperature=25.0, bayer="GRBG")
    plan = plan_of(lights)  # a lights-only set (a smart telescope's): it runs, with a warning per kind
    assert plan.ok and set(plan.warnings) == {
        f"lights IRCUT 10s: no {kind} frames — calibrated without a {kind} (no {kind} frames in the set)"
        for kind in ("bias", "dark", "flat")}
    assert any("no bias (no bias frames in the set), no dark (no dark frames in the set), no flat (no flat "
               "frames in the set)" in line for line in plan.lines())
    broken = plan_of(lights, frames("bias", 3, binning=2, size=(32, 32)))  # bias given, none matches: refused
    assert [p for p in broken.problems if "bias" in p] and not [w for w in broken.warnings if "bias" in w]
    allowed = plan_of(lights, allow_missing_bias=True, allow_missing_darks=True, allow_missing_flats=True)
    assert allowed.ok and len(allowed.warnings) == 3
    assert allowed.debayers(allowed.lights[0].target)
    assert any("lights IRCUT 10s bin1 gain80 25°C CFA GRBG (12 frames): no bias (allowMissingBias), no dark "
               "(allowMissingDarks), no flat (allowMissingFlats)" in line for line in allowed.lines())
    few = plan_of(frames("bias", 2), frames("dark", 3), frames("flat", 3, filter="L"), frames("light", 2, filter="L"))
    assert "bias bin1 gain100 -10°C (2 frames): at least 3 frames are needed to integrate master_bias" in few.problems
    assert "lights L: 2 frames; ImageIntegration needs at least 3" in few.problems


def test_grouping_names_and_ready_made_masters() -> None:
    plan = plan_of(frames("bias", 4), frames("bias", 4, binning=2, size=(32, 32)),
                   frames("dark", 3, exposure=300.0), frames("dark", 3, exposure=300.2, tag="b"),
                   frames("dark", 3, exposure=301.0, tag="c"),
                   frames("flat", 1, filter="L", exposure=1.0, master=True),
                   frames("light", 4, filter="L", exposure=300.0))
    names = [g.name for g in plan.groups]
    # 300 s and 300.2 s join (median 300.1 s); 301 s is another group
    assert names[:5] == ["master_bias_bin1", "master_bias_bin2", "master_dark_300_1s", "master_dark_301s",
                         "master_flat_L"]
    assert len(plan.of_kind("dark")[0].frames) == 6
    flat = plan.of_kind("flat")[0]
    assert flat.master and plan.lights[0].flat.group is flat
    assert plan.flats[0].bias.reason == "ready-made master flat"
    assert flat not in [g for g in plan.used_masters() if not g.master]


def test_rejection_choice() -> None:
    assert rejection_for(5) == "PercentileClip" and rejection_for(8) == "WinsorizedSigmaClip"
    assert rejection_for(20, "LinearFit") == "LinearFit"


def test_plan_from_a_simulated_session_on_disk(tmp_path: Path) -> None:
    simulate_session(tmp_path / "raw", filters=("L", "R"), width=48, height=40, bias=3, darks=3, darkflats=3,
                     flats=3, lights=3, stars=5)
    (tmp_path / "raw" / "pre").mkdir()  # an output folder inside the input folder is not scanned
    plan = plan_session(tmp_path / "raw", tmp_path / "raw" / "pre")
    assert plan.ok, plan.problems
    labels = [g.label for g in plan.groups]
    assert labels == ["bias bin1 gain1 -10°C (3 frames)", "darks 60s bin1 gain1 -10°C (3 frames)",
                      "dark flats 1s bin1 gain1 -10°C (3 frames)", "flats L 1s bin1 gain1 -10°C (3 frames)",
                      "flats R 1s bin1 gain1 -10°C (3 frames)", "lights L 60s bin1 gain1 -10°C (3 frames)",
                      "lights R 60s bin1 gain1 -10°C (3 frames)"]
    assert plan.flats[0].dark.group.name == "master_darkflat_1s"
    with pytest.raises(PreprocessError, match="must not be the input folder"):
        plan_session(tmp_path / "raw", tmp_path / "raw")


def test_the_processes_a_run_uses_are_loaded_ahead() -> None:
    """``load_step_processes``: the classes of the steps the plan runs (loaded while a pool's workers start)."""
    from processes.workflows.preprocess.pipeline import load_step_processes

    lights = frames("light", 12, filter="IRCUT", exposure=10.0, gain=80.0, temperature=25.0, bayer="GRBG")
    smart = plan_of(lights, allow_missing_bias=True, allow_missing_darks=True, allow_missing_flats=True)
    assert load_step_processes(smart) == ["Debayer", "StarAlignment", "ImageIntegration"]
    full = plan_of(*lrgb().values(), cosmetic_correction=True, local_normalization=True, drizzle=True)
    assert load_step_processes(full) == ["ImageCalibration", "CosmeticCorrection", "StarAlignment",
                                         "LocalNormalization", "ImageIntegration", "DrizzleIntegration"]
    assert load_step_processes(plan_of(*lrgb().values(), align=False, integrate=False)) == ["ImageCalibration"]
