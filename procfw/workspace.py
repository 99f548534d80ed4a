"""Workspace: image windows (main view, previews, mask, history) and process icons by id.

It imports :mod:`procfw.display` (views render through it), which also makes every
``Image`` show as a picture in Jupyter once a workspace is in use.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from procfw.display import repr_png, split_display_function
from procfw.errors import ExecutionError, ProcfwError, UnknownNameError
from procfw.history import DEFAULT_HISTORY_BUDGET, History, HistoryBudget
from procfw.image import Image
from procfw.io import read_image
from procfw.names import PREVIEW_SEPARATOR as PREVIEW_SEPARATOR  # re-exported: the id rules live in procfw.names
from procfw.names import is_valid_id as is_valid_id
from procfw.names import make_id as make_id
from procfw.names import suggest
from procfw.names import unique_id as unique_id
from procfw.process import MaskRef as MaskRef  # re-exported: the execution contract defines it
from procfw.process import Process


@attrs.frozen
class Rect:
    """A rectangle of an image in pixels: columns x0..x1-1, rows y0..y1-1."""

    x0: int
    y0: int
    x1: int
    y1: int

    def crop(self, pixels: np.ndarray) -> np.ndarray:
        """The rectangle of planar ``pixels``."""
        return pixels[:, self.y0 : self.y1, self.x0 : self.x1]


class View:
    """A view of an image window: the main view or a preview.

    It has an image, a processing history and a display STF (``display_function``, an
    opaque object set by display processes; the framework does not interpret it).
    """

    def __init__(self, window: ImageWindow, id_: str) -> None:
        self.window = window
        self.id = id_
        workspace = window.workspace
        self.history = History(
            window.history_budget, shared=workspace.history_limits if workspace is not None else None
        )
        self.display_function: Any = None
        self._image: Image | None = None
        self._group_depth = 0
        self._group_before: Image | None = None

    @property
    def workspace(self) -> Workspace | None:
        """The workspace the view's window belongs to."""
        return self.window.workspace

    @property
    def is_preview(self) -> bool:
        """True for a preview."""
        return False

    @property
    def image(self) -> Image:
        """The view's current image."""
        assert self._image is not None
        return self._image

    def replace_image(self, image: Image) -> None:
        """Set the image without a history step (non-history-updating processes)."""
        self._image = image
        self.window.modified = True

    def commit(self, after: Image, process: Process) -> None:
        """A process produced ``after``: record one history step (or fold it into an open group)."""
        before = self.image
        self._image = after
        self.window.modified = True
        if self._group_depth == 0:
            self.history.record(process, before)

    def begin_group(self) -> None:
        """Start collecting commits into one step (a ProcessContainer)."""
        if self._group_depth == 0:
            self._group_before = self.image
        self._group_depth += 1

    def end_group(self, process: Process, *, failed: bool = False) -> None:
        """Close the group: one history step for ``process``, or roll back if it failed."""
        self._group_depth -= 1
        if self._group_depth > 0:
            return
        before, self._group_before = self._group_before, None
        assert before is not None
        if failed:
            self._image = before
        elif self.image is not before:
            self.history.record(process, before)

    def undo(self) -> None:
        """Undo the last processing step."""
        self._image = self.history.undo(self.image)

    def redo(self) -> None:
        """Redo the last undone step."""
        self._image = self.history.redo(self.image)

    def masked(self, before: Image, after: Image, override: MaskRef | None = None) -> Image:
        """Blend ``mask·after + (1−mask)·before`` with the active mask (or ``override``)."""
        mask = override if override is not None else (self.window.mask if self.window.mask_enabled else None)
        if mask is None:
            return after
        if after.pixels.shape != before.pixels.shape:
            raise ExecutionError(f"cannot apply mask {mask.window_id} to {self.id}: the process changed the geometry")
        m = self._mask_pixels(mask)
        if m.shape[0] not in (1, after.channels):
            raise ExecutionError(
                f"mask {mask.window_id} has {m.shape[0]} channels; {self.id} has {after.channels}"
            )
        blended = m * after.pixels + (1 - m) * before.pixels
        return after.with_pixels(blended.astype(after.pixels.dtype, copy=False))

    def _mask_pixels(self, mask: MaskRef) -> np.ndarray:
        if self.workspace is None:
            raise ExecutionError(f"{self.id}: a mask needs a workspace")
        mask_image = self.workspace.window(mask.window_id).main_view.image
        main = self.window.main_view.image
        if (mask_image.width, mask_image.height) != (main.width, main.height):
            raise ExecutionError(
                f"mask {mask.window_id} is {mask_image.width}x{mask_image.height}; "
                f"{self.window.id} is {main.width}x{main.height}"
            )
        m = mask_image.pixels
        if isinstance(self, Preview):
            m = self.rect.crop(m)
        m = np.clip(m, 0, 1)
        return 1 - m if mask.inverted else m

    def _repr_png_(self) -> bytes:
        """The view as displayed, as PNG bytes for Jupyter (see :func:`procfw.display.repr_png`)."""
        return repr_png(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id}>"


class MainView(View):
    """The view of a whole image window."""


class Preview(View):
    """A rectangle of an image with its own processing, as PixInsight's previews.

    Until it is processed it shows the current pixels of the main view in its rectangle.
    """

    def __init__(self, window: ImageWindow, id_: str, rect: Rect) -> None:
        super().__init__(window, id_)
        self.rect = rect

    @property
    def is_preview(self) -> bool:
        return True

    @property
    def image(self) -> Image:
        if self._image is None:
            main = self.window.main_view.image
            return main.with_pixels(self.rect.crop(main.pixels).copy())
        return self._image

    def commit(self, after: Image, process: Process) -> None:
        before = self.image
        self._image = after
        if self._group_depth == 0:
            self.history.record(process, before)


class ImageWindow:
    """An image window: a main view, previews by id, an optional mask, the file it came from.

    In a workspace, its views' histories share the workspace's undo budget; a window on
    its own gives each view ``history_budget`` bytes.
    """

    def __init__(
        self,
        id_: str,
        image: Image,
        *,
        workspace: Workspace | None = None,
        file_path: str | None = None,
        history_budget: int = DEFAULT_HISTORY_BUDGET,
    ) -> None:
        self.id = id_
        self.workspace = workspace
        self.file_path = file_path
        self.history_budget = history_budget
        self.main_view = MainView(self, id_)
        self.main_view._image = image
        self.previews: dict[str, Preview] = {}
        self.mask: MaskRef | None = None
        self.mask_enabled = True
        self.modified = False

    @property
    def image(self) -> Image:
        """The main view's image."""
        return self.main_view.image

    def add_preview(self, x0: int, y0: int, x1: int, y1: int, id_: str | None = None) -> Preview:
        """Create a preview of the rectangle [x0, x1) × [y0, y1)."""
        img = self.image
        if not (0 <= x0 < x1 <= img.width and 0 <= y0 < y1 <= img.height):
            raise ProcfwError(
                f"preview rectangle ({x0}, {y0}, {x1}, {y1}) is not inside {self.id} ({img.width}x{img.height})"
            )
        base = id_ or "Preview01"
        if not is_valid_id(base):
            raise ProcfwError(f"invalid preview id '{base}': ids are letters, digits and _, not starting with a digit")
        if id_ is None:
            n = 1
            while f"Preview{n:02d}" in self.previews:
                n += 1
            base = f"Preview{n:02d}"
        pid = unique_id(base, self.previews)
        preview = Preview(self, f"{self.id}{PREVIEW_SEPARATOR}{pid}", Rect(x0, y0, x1, y1))
        self.previews[pid] = preview
        return preview

    def remove_preview(self, id_: str) -> None:
        """Delete a preview."""
        if id_ not in self.previews:
            raise UnknownNameError(f"{self.id} has no preview '{id_}'", name=id_)
        del self.previews[id_]

    def views(self) -> list[View]:
        """Main view, then previews."""
        return [self.main_view, *self.previews.values()]

    def _repr_png_(self) -> bytes:
        """The main view as displayed, as PNG bytes for Jupyter."""
        return self.main_view._repr_png_()

    def __repr__(self) -> str:
        return f"<ImageWindow {self.id} {self.image!r}>"


@attrs.frozen
class WorkspaceSnapshot:
    """The state of a workspace at one moment, to roll back a failed statement."""

    windows: dict[str, ImageWindow]
    window_states: dict[str, tuple[Any, ...]]
    icons: dict[str, Any]
    current: str | None


def _set_window_id(window: ImageWindow, id_: str) -> None:
    """Set the id of a window, its main view and its previews (``id->PreviewNN``)."""
    window.id = id_
    window.main_view.id = id_
    for pid, preview in window.previews.items():
        preview.id = f"{id_}{PREVIEW_SEPARATOR}{pid}"


def _view_state(view: View) -> tuple[Any, ...]:
    return (view._image, view.display_function, view.history.copy())


def _set_view_state(view: View, state: tuple[Any, ...]) -> None:
    view._image, view.display_function, view.history = state[0], state[1], state[2].copy()


class Workspace:
    """Image windows and process icons, each by a unique PixInsight-style id.

    ``history_budget`` bounds the undo/redo pixel data of *all* views together, so memory
    does not grow with the number of windows: when a step goes over it, the undo images of
    the oldest steps of any view are dropped first.
    """

    def __init__(self, *, history_budget: int = DEFAULT_HISTORY_BUDGET) -> None:
        self._windows: dict[str, ImageWindow] = {}
        self.history_limits = HistoryBudget(history_budget, self._histories)
        """The undo budget shared by the histories of every view (oldest steps dropped first)."""
        self.icons: dict[str, Process] = {}
        self.current_view_id: str | None = None

    @property
    def history_budget(self) -> int:
        """Bytes of pixel data the histories of all views together may keep for undo/redo."""
        return self.history_limits.budget_bytes

    @history_budget.setter
    def history_budget(self, value: int) -> None:
        self.history_limits.budget_bytes = value
        self.history_limits.enforce()

    def _histories(self) -> list[History]:
        return [view.history for view in self.views()]

    # -- windows -----------------------------------------------------------------------
    def __iter__(self) -> Iterator[ImageWindow]:
        return iter(list(self._windows.values()))

    def __len__(self) -> int:
        return len(self._windows)

    def __contains__(self, id_: object) -> bool:
        return id_ in self._windows

    def window_ids(self) -> list[str]:
        """Window ids in the order the windows were opened."""
        return list(self._windows)

    def add_image(self, image: Image, id_: str | None = None, *, file_path: str | None = None) -> ImageWindow:
        """Open ``image`` in a new window; the id gets a ``_N`` suffix if taken."""
        base = id_ if id_ is not None else "Image"
        if not is_valid_id(base):
            raise ProcfwError(f"invalid image id '{base}': ids are letters, digits and _, not starting with a digit")
        wid = unique_id(base, self._windows)
        window = ImageWindow(wid, image, workspace=self, file_path=file_path, history_budget=self.history_budget)
        self._windows[wid] = window
        self.current_view_id = wid
        return window

    def open(self, path: str | os.PathLike[str], id_: str | None = None) -> ImageWindow:
        """Read an image file into a new window named after the file (or ``id_``).

        A display function stored in the file (XISF ``DisplayFunction``) becomes the main
        view's ``display_function`` (see :func:`procfw.display.split_display_function`).
        """
        display_function, image = split_display_function(read_image(path))
        stem = Path(path).name.split(".")[0]
        window = self.add_image(image, id_ or make_id(stem), file_path=str(path))
        window.main_view.display_function = display_function
        return window

    def add_new_images(self, images: Mapping[str, Image]) -> tuple[str, ...]:
        """Open images produced by a process; returns the ids they got."""
        return tuple(self.add_image(img, make_id(name) if name else None).id for name, img in images.items())

    def window(self, id_: str) -> ImageWindow:
        """The window ``id_``; suggests the nearest id on a typo."""
        try:
            return self._windows[id_]
        except KeyError:
            raise UnknownNameError(f"no image window '{id_}'{suggest(id_, list(self._windows))}", name=id_) from None

    def view(self, id_: str) -> View:
        """The view ``image`` or ``image->preview``."""
        if PREVIEW_SEPARATOR in id_:
            wid, pid = id_.split(PREVIEW_SEPARATOR, 1)
            window = self.window(wid)
            if pid not in window.previews:
                raise UnknownNameError(
                    f"{wid} has no preview '{pid}'{suggest(pid, list(window.previews))}", name=id_
                )
            return window.previews[pid]
        return self.window(id_).main_view

    def views(self) -> list[View]:
        """Every view of every window."""
        return [v for w in self._windows.values() for v in w.views()]

    def close(self, id_: str) -> None:
        """Close a window (and any mask references to it)."""
        self.window(id_)
        del self._windows[id_]
        for window in self._windows.values():
            if window.mask is not None and window.mask.window_id == id_:
                window.mask = None
        if self.current_view_id and self.current_view_id.split(PREVIEW_SEPARATOR)[0] == id_:
            self.current_view_id = next(reversed(self._windows), None) if self._windows else None

    def rename_window(self, old: str, new: str) -> ImageWindow:
        """Give window ``old`` the id ``new``: its views, preview ids, masks naming it and the current view follow.

        ``new`` must be a valid identifier not used by another window; renaming a window to
        its own id does nothing.  The window keeps its place in the window order.
        """
        window = self.window(old)
        if new == old:
            return window
        if not is_valid_id(new):
            raise ProcfwError(
                f"cannot rename {old} to '{new}': ids are letters, digits and _, not starting with a digit"
            )
        if new in self._windows:
            raise ProcfwError(f"cannot rename {old} to '{new}': an image window '{new}' already exists")
        self._windows = {(new if wid == old else wid): w for wid, w in self._windows.items()}
        _set_window_id(window, new)
        for other in self._windows.values():
            if other.mask is not None and other.mask.window_id == old:
                other.mask = MaskRef(new, other.mask.inverted)
        if self.current_view_id is not None:
            wid, sep, pid = self.current_view_id.partition(PREVIEW_SEPARATOR)
            if wid == old:
                self.current_view_id = f"{new}{sep}{pid}"
        return window

    def set_mask(self, window_id: str, mask_id: str | None, *, inverted: bool = False) -> None:
        """Set (or with None, remove) the mask of a window; geometries must match."""
        window = self.window(window_id)
        if mask_id is None:
            window.mask = None
            return
        if mask_id == window_id:
            raise ProcfwError(f"{window_id} cannot be its own mask")
        mask = self.window(mask_id).image
        if (mask.width, mask.height) != (window.image.width, window.image.height):
            target = window.image
            raise ProcfwError(
                f"mask {mask_id} is {mask.width}x{mask.height}; {window_id} is {target.width}x{target.height}"
            )
        window.mask = MaskRef(mask_id, inverted)

    @property
    def current_view(self) -> View | None:
        """The last opened or last processed view, if it still exists."""
        if self.current_view_id is None:
            return None
        try:
            return self.view(self.current_view_id)
        except UnknownNameError:
            return None

    # -- icons -------------------------------------------------------------------------
    def add_icon(self, id_: str, instance: Process) -> str:
        """Keep ``instance`` as icon ``id_`` (suffixed if taken); returns the id used."""
        if not is_valid_id(id_):
            raise ProcfwError(f"invalid icon id '{id_}': ids are letters, digits and _, not starting with a digit")
        iid = unique_id(id_, self.icons)
        self.icons[iid] = instance
        return iid

    def icon(self, id_: str) -> Process:
        """The icon ``id_``; suggests the nearest id on a typo."""
        try:
            return self.icons[id_]
        except KeyError:
            raise UnknownNameError(f"no process icon '{id_}'{suggest(id_, list(self.icons))}", name=id_) from None

    def rename_icon(self, old: str, new: str) -> None:
        """Rename an icon; the new id must be valid and free."""
        instance = self.icon(old)
        if not is_valid_id(new) or new in self.icons:
            raise ProcfwError(f"cannot rename icon {old} to '{new}': invalid or taken")
        self.icons = {(new if k == old else k): v for k, v in self.icons.items()}
        self.icons[new] = instance

    def delete_icon(self, id_: str) -> None:
        """Delete an icon."""
        self.icon(id_)
        del self.icons[id_]

    # -- transactions ------------------------------------------------------------------
    def snapshot(self) -> WorkspaceSnapshot:
        """The whole state, cheaply (images are shared values, never modified in place)."""
        states = {}
        for wid, w in self._windows.items():
            previews = {pid: (p, _view_state(p)) for pid, p in w.previews.items()}
            states[wid] = (_view_state(w.main_view), previews, w.mask, w.mask_enabled, w.modified, w.file_path)
        return WorkspaceSnapshot(dict(self._windows), states, dict(self.icons), self.current_view_id)

    def restore(self, snap: WorkspaceSnapshot) -> None:
        """Put back a state taken by :meth:`snapshot`."""
        self._windows = dict(snap.windows)
        for wid, w in self._windows.items():
            main, previews, w.mask, w.mask_enabled, w.modified, w.file_path = snap.window_states[wid]
            _set_view_state(w.main_view, main)
            w.previews = {pid: p for pid, (p, _) in previews.items()}
            for p, state in previews.values():
                _set_view_state(p, state)
            if w.id != wid:  # renamed since the snapshot
                _set_window_id(w, wid)
        self.icons = dict(snap.icons)
        self.current_view_id = snap.current
