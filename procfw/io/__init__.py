"""Image file formats: a registry of readers/writers chosen by file extension.

A format is any object with ``id``, ``extensions`` (lower-case, with the dot),
``description``, ``can_read``/``can_write`` flags and the methods
``read(path) -> Image`` and ``write(image, path) -> None``.  ``write`` writes to the
path it is given; :func:`write_image` makes that atomic and refuses to replace an
existing file unless asked.

Every format writes the pixels it is given, as PixInsight does; writing a view *as
displayed* (stretched) is the explicit :func:`procfw.display.export_rendered`.

:data:`formats` is the registry of formats (entry-point group ``procfw.formats``; also
reachable as :data:`procfw.registry.formats`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from procfw.entrypoints import Registry
from procfw.errors import ImageFileError
from procfw.image import Image
from procfw.io.atomic import atomic_path


@runtime_checkable
class ImageFormat(Protocol):
    """What an image file format provides (built-in or plugin)."""

    id: str
    extensions: tuple[str, ...]
    description: str
    can_read: bool
    can_write: bool

    def read(self, path: Path) -> Image:
        """Read the image stored in ``path``."""
        ...

    def write(self, image: Image, path: Path) -> None:
        """Write ``image`` to ``path`` (a fresh temporary file chosen by the caller)."""
        ...


def _check_format(id_: str, fmt: Any) -> None:
    missing = [a for a in ("id", "extensions", "description", "can_read", "can_write", "read", "write")
               if not hasattr(fmt, a)]
    if missing:
        raise TypeError(f"image format '{id_}' lacks {', '.join(missing)}")
    if any(not (isinstance(e, str) and e.startswith(".") and e == e.lower()) for e in fmt.extensions):
        raise TypeError(f"image format '{id_}': extensions must be lower-case and start with '.': {fmt.extensions}")


def _format_extensions(fmt: Any) -> tuple[str, ...]:
    return tuple(getattr(fmt, "extensions", ()))


formats: Registry[Any] = Registry(
    "procfw.formats", "image format", aliases_of=_format_extensions, validate=_check_format,
    alias_group="procfw.format_extensions",
)
"""Image file formats by format id, and by the file extensions declared in ``procfw.format_extensions``."""


def format_for_path(path: str | os.PathLike[str], *, for_writing: bool = False) -> ImageFormat:
    """The registered format that handles ``path``'s extension."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    candidates = ["".join(suffixes[i:]) for i in range(len(suffixes))]
    for suffix in candidates:  # an extension declared in metadata loads that format alone
        id_ = formats.resolve(suffix)
        if id_ is not None:
            fmt = formats.get(id_)
            if suffix in fmt.extensions and (fmt.can_write if for_writing else fmt.can_read):
                return fmt
    for suffix in candidates:  # plugins that declare no extensions in metadata
        for fmt in formats.values():
            if suffix in fmt.extensions and (fmt.can_write if for_writing else fmt.can_read):
                return fmt
    known = sorted({ext for fmt in formats.values() for ext in fmt.extensions})
    action = "write" if for_writing else "read"
    raise ImageFileError(
        path, f"no installed format can {action} files of this extension (known: {', '.join(known) or 'none'})"
    )


def read_image(path: str | os.PathLike[str]) -> Image:
    """Read an image file, choosing the format by extension."""
    target = Path(path)
    if not target.exists():
        raise ImageFileError(target, "no such file")
    if target.is_dir():
        raise ImageFileError(target, "is a directory, not an image file")
    return format_for_path(target).read(target)


def write_image(
    image: Image, path: str | os.PathLike[str], *, overwrite: bool = False, format: ImageFormat | None = None
) -> Path:
    """Write ``image`` atomically; an existing file is replaced only if ``overwrite``.

    The format follows the extension, or is ``format`` when given (e.g. a format object
    with other options, such as ``attrs.evolve(PNG_FORMAT, bits=16)``).
    """
    target = Path(path)
    fmt = format if format is not None else format_for_path(target, for_writing=True)
    if not target.parent.exists() and str(target.parent):
        raise ImageFileError(target, f"directory {target.parent} does not exist")
    with atomic_path(target, overwrite=overwrite) as temp:
        fmt.write(image, temp)
    return target
