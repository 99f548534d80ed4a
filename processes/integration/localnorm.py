"""Local normalization of ImageIntegration's frames: each frame read through its .xnml model.

With ``normalization=LocalNormalization`` (and/or ``rejectionNormalization=
LocalRejectionNormalization``) every frame's pixels are mapped by its local normalization
function (:class:`processes.common.xnml.LocalNormalizationData`, written by
LocalNormalization) *as they are read*, band by band: :class:`LocallyNormalizedFrame`
wraps a :class:`~processes.integration.frames.FrameSource` and evaluates the function's
matrices for the rows read only, so memory stays bounded by the band, never the image.
Both engines (numpy and compiled) and the frame statistics see normalized values; the
global output and rejection normalizations are then the identity.  Zero pixels stay zero
(so range rejection still drops them).

The .xnml file of a frame is the ``localNormalizationDataPath`` of its row in ``images``,
or, when that is empty, ``NAME.xnml`` beside the frame (LocalNormalization's default
output).  A frame without one is an error naming the frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import numpy as np

from processes.common.xnml import LocalNormalizationData, XnmlFileError, read_xnml
from processes.integration.frames import FrameSource
from procfw.errors import ExecutionError

__all__ = ["LocallyNormalizedFrame", "load_normalization_data", "normalization_data_path", "relative_scale_factors",
           "stored_frame", "wrap_frames"]


@attrs.define(eq=False)
class LocallyNormalizedFrame:
    """A frame whose rows come back normalized by ``data`` (same interface as FrameSource)."""

    base: FrameSource
    data: LocalNormalizationData
    data_path: str = ""

    @property
    def path(self) -> Path:
        """The frame's file."""
        return self.base.path

    @property
    def channels(self) -> int:
        """Number of channels."""
        return self.base.channels

    @property
    def height(self) -> int:
        """Rows."""
        return self.base.height

    @property
    def width(self) -> int:
        """Columns."""
        return self.base.width

    @property
    def keywords(self) -> list:
        """The frame's FITS keywords."""
        return self.base.keywords

    @property
    def hdu_index(self) -> int | None:
        """The frame's FITS image HDU (None for other formats)."""
        return self.base.hdu_index

    @property
    def shape(self) -> tuple[int, int, int]:
        """(channels, height, width)."""
        return self.base.shape

    def keyword(self, name: str, default: Any = None) -> Any:
        """The value of the first keyword called ``name``."""
        return self.base.keyword(name, default)

    def read_rows(self, channel: int, row0: int, row1: int, out: np.ndarray) -> None:
        """Rows [row0, row1) of ``channel``, normalized, into ``out``."""
        self.base.read_rows(channel, row0, row1, out)
        self.data.normalize_rows(out, channel, np.arange(row0, row1))

    def read_channel(self, channel: int, rows: slice | None = None) -> np.ndarray:
        """Rows ``rows`` (default: all) of one channel, normalized, as a new float32 array."""
        rows = rows or slice(0, self.height)
        out = self.base.read_channel(channel, rows)
        self.data.normalize_rows(out, channel, np.arange(*rows.indices(self.height)))
        return out


def normalization_data_path(frame_path: str | Path, given: str = "") -> Path:
    """The .xnml of a frame: ``given`` when not empty, else ``NAME.xnml`` beside the frame."""
    if given.strip():
        return Path(given.strip()).expanduser()
    frame = Path(frame_path)
    name = frame.name
    for suffix in (".fits.gz", ".fit.gz", ".fts.gz"):
        if name.lower().endswith(suffix):
            return frame.with_name(name[: -len(suffix)] + ".xnml")
    return frame.with_suffix(".xnml")


def load_normalization_data(path: str | Path, width: int, height: int, channels: int,
                            what: str) -> LocalNormalizationData:
    """Read the .xnml ``path`` and check it is for ``what``, a ``width``×``height``×``channels``
    image; XnmlFileError (naming the file, or both geometries) when it cannot be used."""
    data = read_xnml(path)
    data.check_geometry(width, height, channels, what)
    return data


def wrap_frames(frames: list[FrameSource], data_paths: list[str]) -> list[LocallyNormalizedFrame]:
    """Each frame with its normalization data; ExecutionError naming the frame when they are missing or unusable."""
    out = []
    for frame, given in zip(frames, data_paths):
        path = normalization_data_path(frame.path, given)
        if not path.is_file():
            raise ExecutionError(
                f"ImageIntegration: {frame.path}: no local normalization data file ({path} does not exist); "
                "run LocalNormalization on the frames first, or set the localNormalizationDataPath column of images"
            )
        try:
            data = load_normalization_data(path, frame.width, frame.height, frame.channels, f"the frame {frame.path}")
        except XnmlFileError as exc:
            raise ExecutionError(f"ImageIntegration: {frame.path}: local normalization data {path}: "
                                 f"{exc.problem}") from None
        out.append(LocallyNormalizedFrame(base=frame, data=data, data_path=str(path)))
    return out


def stored_frame(frame: FrameSource | LocallyNormalizedFrame) -> FrameSource:
    """The frame as stored: the frame a :class:`LocallyNormalizedFrame` wraps, else ``frame``."""
    return frame.base if isinstance(frame, LocallyNormalizedFrame) else frame


def relative_scale_factors(frames: list, data_paths: list[str]) -> tuple[np.ndarray | None, str]:
    """((channels, N) relative scale factors, "") from each frame's .xnml (LocalNormalization's
    ``RelativeScaleFactors``: the factor that brings the frame's signal to the reference's),
    or (None, why not) when a frame has no usable data file or no such factors.

    Frames read through their local normalization (:func:`wrap_frames`) use the data they
    carry; other frames the file :func:`normalization_data_path` names.
    """
    columns = []
    for frame, given in zip(frames, data_paths):
        if isinstance(frame, LocallyNormalizedFrame):
            data, path = frame.data, Path(frame.data_path)
        else:
            path = normalization_data_path(frame.path, given)
            if not path.is_file():
                return None, f"{frame.path.name} has no local normalization data file ({path.name})"
            try:
                data = read_xnml(path)
                data.check_geometry(frame.width, frame.height, frame.channels, f"the frame {frame.path.name}")
            except XnmlFileError as exc:
                return None, f"{path.name}: {exc.problem}"
        factors = data.relative_scale_factors
        if factors is None or factors.size < frame.channels:
            return None, f"{path.name} has no relative scale factors (LocalNormalization without scaling?)"
        factors = np.asarray(factors[: frame.channels], dtype=np.float64)
        if not (np.isfinite(factors).all() and (factors > 0).all()):
            return None, f"{path.name}: relative scale factors {factors.tolist()} are not positive numbers"
        columns.append(factors)
    return np.stack(columns, axis=1), ""
