"""Groups of frames processed together, and their names.

:func:`group_frames` sorts the frames of a session into groups (WBPP's rules, with an
explicit exposure tolerance):

* **bias**: by binning, gain and geometry;
* **darks** and **dark flats**: by binning, gain, geometry and exposure;
* **flats**: by filter (case-insensitive), binning, gain, geometry and exposure;
* **lights**: by filter, binning, gain, geometry, CFA pattern and exposure.

Exposures cluster: sorted, a frame within the tolerance of the first exposure of a cluster
joins it.  Ready-made masters (IMAGETYP 'Master ...') form a group of their own.  Groups
are named after the master they make (``master_bias``, ``master_dark_60s``,
``master_darkflat_1s``, ``master_flat_L``; lights ``lights_L_60s``), with the binning, gain,
size or exposure added only where two groups would share a name.  Filters sort in the
usual order L, R, G, B, Ha, OIII, SII, then by name.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from processes.workflows.preprocess.frames import FrameInfo

__all__ = [
    "KIND_WORDS",
    "FrameGroup",
    "clean_name",
    "filter_order",
    "format_gain",
    "format_seconds",
    "format_temperature",
    "group_frames",
]

KIND_WORDS = {"bias": "bias", "dark": "darks", "darkflat": "dark flats", "flat": "flats", "light": "lights"}
"""How each kind of frame is called in plans and messages."""

_FILTER_ORDER = ("l", "lum", "luminance", "r", "red", "g", "green", "b", "blue", "ha", "h-alpha", "oiii", "o3", "sii",
                 "s2")


def filter_order(name: str) -> tuple[int, str]:
    """Sort key of a filter name: L, R, G, B, Ha, OIII, SII first, then the others by name."""
    folded = name.casefold()
    return (_FILTER_ORDER.index(folded) if folded in _FILTER_ORDER else len(_FILTER_ORDER), folded)


def format_seconds(value: float | None) -> str:
    """'60s', '1.5s', '0.001s' ('?s' when unknown)."""
    if value is None:
        return "?s"
    return f"{value:g}s" if value >= 0.01 else f"{value:.3g}s"


def format_gain(value: float | None) -> str:
    """'gain100' ('' when unknown)."""
    return "" if value is None else f"gain{value:g}"


def format_temperature(value: float | None) -> str:
    """'-10°C', '25.1°C' ('' when unknown)."""
    return "" if value is None else f"{value:.1f}°C".replace(".0°C", "°C")


def _median(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(statistics.median(known)) if known else None


def clean_name(text: str) -> str:
    """``text`` made safe for file names: letters, digits, + - _ (other runs become one _)."""
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9+\-_]", "_", text)).strip("_")


@attrs.frozen(kw_only=True, eq=False)
class FrameGroup:
    """Frames of one kind that are processed together (or one ready-made master)."""

    kind: str
    frames: tuple[FrameInfo, ...]
    filter: str = ""
    exposure: float | None = None
    xbin: int = 1
    ybin: int = 1
    gain: float | None = None
    width: int = 0
    height: int = 0
    channels: int = 1
    bayer: str | None = None
    master: bool = False
    name: str = ""
    """The master's name (master_bias, master_dark_60s, master_flat_L, ...); lights: the group's key."""

    @property
    def temperature(self) -> float | None:
        """Median sensor temperature (None when no frame says)."""
        return _median(f.temperature for f in self.frames)

    @property
    def temperature_range(self) -> tuple[float, float] | None:
        """(lowest, highest) sensor temperature of the frames."""
        known = [f.temperature for f in self.frames if f.temperature is not None]
        return (min(known), max(known)) if known else None

    @property
    def binning(self) -> str:
        """'1', '2', or '1x2'."""
        return str(self.xbin) if self.xbin == self.ybin else f"{self.xbin}x{self.ybin}"

    @property
    def size(self) -> str:
        """'W×H' (×C when not 1 channel)."""
        return f"{self.width}×{self.height}" + (f"×{self.channels}" if self.channels != 1 else "")

    @property
    def short(self) -> str:
        """The group in a few words: 'lights L 120s', 'flats filter R 1.5s', 'bias bin1'."""
        words = [KIND_WORDS[self.kind]]
        if self.kind == "flat":
            words.append(f"filter {self.filter or '(none)'}")
        elif self.kind == "light":
            words.append(self.filter or "(no filter)")
        if self.kind in ("dark", "darkflat", "flat", "light"):
            words.append(format_seconds(self.exposure))
        if self.kind == "bias":
            words.append(f"bin{self.binning}")
        return " ".join(words)

    @property
    def label(self) -> str:
        """The group in full: 'lights L 120s bin1 gain100 -10°C (20 frames)'."""
        words = [KIND_WORDS[self.kind]]
        if self.kind in ("flat", "light"):
            words.append(self.filter or "(no filter)")
        if self.kind != "bias":
            words.append(format_seconds(self.exposure))
        words.append(f"bin{self.binning}")
        words += [w for w in (format_gain(self.gain), format_temperature(self.temperature)) if w]
        if self.bayer:
            words.append(f"CFA {self.bayer}")
        count = "master file" if self.master else f"{len(self.frames)} frame{'s' if len(self.frames) != 1 else ''}"
        return " ".join(words) + f" ({count})"

    def as_json(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            "name": self.name, "kind": self.kind, "label": self.label, "filter": self.filter,
            "exposure": self.exposure, "binning": [self.xbin, self.ybin], "gain": self.gain,
            "temperature": self.temperature, "temperatureRange": self.temperature_range,
            "width": self.width, "height": self.height, "channels": self.channels, "bayer": self.bayer,
            "master": self.master, "frames": [str(f.path) for f in self.frames],
        }


def _cluster_exposures(frames: Sequence[FrameInfo], tolerance: float) -> list[list[FrameInfo]]:
    """Frames split by exposure: a frame within ``tolerance`` of a cluster's first exposure joins it."""
    ordered = sorted(frames, key=lambda f: (f.exposure if f.exposure is not None else -1.0, str(f.path)))
    clusters: list[list[FrameInfo]] = []
    start: float | None = None
    for frame in ordered:
        exp = frame.exposure if frame.exposure is not None else -1.0
        if clusters and start is not None and exp - start <= tolerance + 1e-9:
            clusters[-1].append(frame)
        else:
            clusters.append([frame])
            start = exp
    return clusters


def _group_key(frame: FrameInfo) -> tuple[Any, ...]:
    gain = None if frame.gain is None else round(frame.gain, 3)
    key: tuple[Any, ...] = (frame.kind, frame.xbin, frame.ybin, gain, frame.width, frame.height, frame.channels)
    if frame.kind in ("flat", "light"):
        key += (frame.filter.casefold(),)
    if frame.kind == "light":
        key += (frame.bayer,)
    return key


def _make_group(kind: str, frames: Sequence[FrameInfo], master: bool) -> FrameGroup:
    first = frames[0]
    return FrameGroup(
        kind=kind, frames=tuple(sorted(frames, key=lambda f: str(f.path))), filter=first.filter,
        exposure=_median(f.exposure for f in frames) if kind != "bias" else (first.exposure or 0.0),
        xbin=first.xbin, ybin=first.ybin, gain=first.gain, width=first.width, height=first.height,
        channels=first.channels, bayer=first.bayer, master=master,
    )


def group_frames(frames: Iterable[FrameInfo], exposure_tolerance: float) -> list[FrameGroup]:
    """The groups of a session's frames (unnamed), in kind order then by their properties."""
    buckets: dict[tuple[Any, ...], list[FrameInfo]] = {}
    groups: list[FrameGroup] = []
    for frame in frames:
        if frame.master:
            groups.append(_make_group(frame.kind, [frame], True))
        else:
            buckets.setdefault(_group_key(frame), []).append(frame)
    for key, members in buckets.items():
        kind = key[0]
        clusters = [members] if kind == "bias" else _cluster_exposures(members, exposure_tolerance)
        groups.extend(_make_group(kind, cluster, False) for cluster in clusters)
    order = {"bias": 0, "dark": 1, "darkflat": 2, "flat": 3, "light": 4}
    groups.sort(key=lambda g: (order[g.kind], filter_order(g.filter), g.xbin, g.ybin, g.exposure or 0.0,
                               g.gain or 0.0, g.width, g.height, not g.master))
    return _named(groups)


def _named(groups: list[FrameGroup]) -> list[FrameGroup]:
    """Give every group its master name, adding binning, gain, size and a counter only where names collide."""

    def base(g: FrameGroup) -> str:
        if g.kind == "bias":
            return "master_bias"
        if g.kind in ("dark", "darkflat"):
            return f"master_{g.kind}_{clean_name(format_seconds(g.exposure))}"
        if g.kind == "flat":
            return f"master_flat_{clean_name(g.filter) or 'nofilter'}"
        return f"lights_{clean_name(g.filter) or 'nofilter'}_{clean_name(format_seconds(g.exposure))}"

    names = [base(g) for g in groups]
    for extra in (lambda g: f"bin{g.binning}", lambda g: clean_name(format_gain(g.gain)) or "gainNA",
                  lambda g: f"{g.width}x{g.height}", lambda g: clean_name(format_seconds(g.exposure)),
                  lambda g: "cfa" if g.bayer else ""):
        counts: dict[str, int] = {}
        for n in names:
            counts[n] = counts.get(n, 0) + 1
        for i, g in enumerate(groups):
            if counts[names[i]] > 1:
                suffix = extra(g)
                if suffix and not names[i].endswith("_" + suffix):
                    names[i] = f"{names[i]}_{suffix}"
    seen: dict[str, int] = {}
    out = []
    for g, n in zip(groups, names):
        seen[n] = seen.get(n, 0) + 1
        out.append(attrs.evolve(g, name=n if seen[n] == 1 else f"{n}_{seen[n]}"))
    return out
