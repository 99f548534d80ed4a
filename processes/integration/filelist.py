"""The ``images`` table of ImageIntegration (a :class:`~processes.common.filelists.FileListTable`).

Besides PixInsight's table value (rows of ``enabled, path, drizzlePath,
localNormalizationDataPath``) it takes a glob such as ``"lights/*.fits"`` or a list of
paths, expanded into enabled rows in sorted order (see :mod:`processes.common.filelists`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from processes.common.filelists import FileListTable
from procfw.params import Boolean, String

__all__ = ["enabled_paths", "enabled_xnml_paths", "image_table"]


def image_table(description: str) -> FileListTable:
    """The ``images`` parameter kind: enabled, path, drizzlePath, localNormalizationDataPath."""
    return FileListTable(
        columns=(
            Boolean(id="enabled", default=True, description="Whether the image takes part in the integration."),
            String(id="path", description="Path of the image file (FITS, XISF, ...)."),
            String(id="drizzlePath", description="Drizzle data file (.xdrz), updated with generateDrizzleData."),
            String(id="localNormalizationDataPath",
                   description="Local normalization data file (.xnml) of the image, used with "
                          "normalization=LocalNormalization (empty: NAME.xnml beside the image)."),
        ),
        path_column="path",
        description=description,
    )


def enabled_paths(rows: Sequence[Sequence[Any]]) -> list[Path]:
    """Paths of the enabled rows, in table order."""
    return [Path(row[1]) for row in rows if row[0] and str(row[1]).strip()]


def enabled_xnml_paths(rows: Sequence[Sequence[Any]]) -> list[str]:
    """The localNormalizationDataPath of the enabled rows (as :func:`enabled_paths`; "" when not given)."""
    return [str(row[3]) if len(row) > 3 else "" for row in rows if row[0] and str(row[1]).strip()]
