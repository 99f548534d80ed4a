"""Undo/redo histories of views, bounded by memory: per workspace, oldest steps dropped first."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import attrs
import numpy as np

from procfw.errors import ExecutionError
from procfw.image import Image

if TYPE_CHECKING:
    from procfw.process import Process

DEFAULT_HISTORY_BUDGET = 1 << 30
"""Bytes of pixel data the histories of a workspace (all views together) may keep for undo/redo (1 GiB)."""

_SERIALS = itertools.count(1)


def _next_serial() -> int:
    return next(_SERIALS)


def _buffer_key(pixels: np.ndarray) -> int:
    """The id of the array that owns ``pixels``' memory, so views of one buffer count once."""
    while isinstance(pixels.base, np.ndarray):
        pixels = pixels.base
    return id(pixels)


@attrs.frozen
class HistoryStep:
    """One processing step: the instance that ran, and the image to restore.

    For a step that is done, ``image`` is the state *before* it (what undo restores);
    for an undone step, the state *after* it (what redo restores).  ``image`` is None
    once the memory bound dropped it: the step is still listed, but cannot be undone.
    ``serial`` orders steps across every view (smaller: recorded earlier).
    """

    process: Process
    image: Image | None
    serial: int = attrs.field(factory=_next_serial, eq=False)


class HistoryBudget:
    """One memory bound shared by several histories (every view of a workspace).

    ``histories`` returns the histories that count now (the workspace's live views).  When
    their stored pixel bytes exceed ``budget_bytes``, the undo images of the oldest done
    steps, whatever their view, are dropped first (by :attr:`HistoryStep.serial`).
    """

    def __init__(self, budget_bytes: int, histories: Callable[[], Iterable[History]]) -> None:
        self.budget_bytes = budget_bytes
        self._histories = histories

    def histories(self) -> list[History]:
        """The histories under this budget."""
        return list(self._histories())

    def stored_bytes(self) -> int:
        """Pixel bytes held for undo/redo by all of them (shared buffers counted once)."""
        return _stored_bytes(self.histories())

    def enforce(self) -> None:
        """Drop undo images, oldest step first, until the histories fit the budget."""
        _enforce(self.histories(), self.budget_bytes)


def _stored_bytes(histories: Iterable[History]) -> int:
    seen: dict[int, int] = {}
    for history in histories:
        for step in (*history.done, *history.undone):
            if step.image is not None:
                seen[_buffer_key(step.image.pixels)] = step.image.nbytes
    return sum(seen.values())


def _enforce(histories: list[History], budget_bytes: int) -> None:
    """Drop the images of the oldest done steps of ``histories`` until their bytes fit ``budget_bytes``."""
    refs: dict[int, int] = {}
    sizes: dict[int, int] = {}
    for history in histories:
        for step in (*history.done, *history.undone):
            if step.image is not None:
                key = _buffer_key(step.image.pixels)
                refs[key] = refs.get(key, 0) + 1
                sizes[key] = step.image.nbytes
    total = sum(sizes.values())
    if total <= budget_bytes:
        return
    candidates = sorted(
        (step.serial, n, index)
        for n, history in enumerate(histories)
        for index, step in enumerate(history.done)
        if step.image is not None
    )
    for _, n, index in candidates:
        if total <= budget_bytes:
            break
        history = histories[n]
        step = history.done[index]
        assert step.image is not None
        key = _buffer_key(step.image.pixels)
        history.done[index] = attrs.evolve(step, image=None)
        refs[key] -= 1
        if refs[key] == 0:
            total -= sizes[key]


@attrs.define
class History:
    """A view's processing history: done steps (oldest first) and undone steps.

    Its memory bound is ``shared`` (the workspace's :class:`HistoryBudget`, over every
    view) when set, else its own ``budget_bytes``.
    """

    budget_bytes: int = DEFAULT_HISTORY_BUDGET
    done: list[HistoryStep] = attrs.field(factory=list)
    undone: list[HistoryStep] = attrs.field(factory=list)
    shared: HistoryBudget | None = attrs.field(default=None, eq=False, repr=False, kw_only=True)

    @property
    def limit_bytes(self) -> int:
        """The bound that applies: the shared budget's, or this history's own."""
        return self.shared.budget_bytes if self.shared is not None else self.budget_bytes

    def record(self, process: Process, before: Image) -> None:
        """A step ran; ``before`` is the image it replaced.  Clears the redo list."""
        self.done.append(HistoryStep(process, before))
        self.undone.clear()
        self._enforce_budget()

    def undo(self, current: Image) -> Image:
        """Undo the last step; returns the image to show."""
        if not self.done:
            raise ExecutionError("nothing to undo")
        step = self.done[-1]
        if step.image is None:
            scope = " (the workspace's undo budget, all views together)" if self.shared is not None else ""
            raise ExecutionError(
                f"cannot undo {step.process.process_id}: its image was dropped to keep history under "
                f"{self.limit_bytes} bytes{scope}"
            )
        self.done.pop()
        self.undone.append(HistoryStep(step.process, current, step.serial))
        return step.image

    def redo(self, current: Image) -> Image:
        """Redo the last undone step; returns the image to show."""
        if not self.undone:
            raise ExecutionError("nothing to redo")
        step = self.undone.pop()
        assert step.image is not None
        self.done.append(HistoryStep(step.process, current, step.serial))
        self._enforce_budget()
        return step.image

    def processes(self) -> list[Process]:
        """The instances of the done steps, oldest first."""
        return [step.process for step in self.done]

    def copy(self) -> History:
        """An independent copy (steps are immutable, so the lists are copied); same shared budget."""
        return History(self.budget_bytes, list(self.done), list(self.undone), shared=self.shared)

    def stored_bytes(self) -> int:
        """Pixel bytes this history holds for undo/redo (shared buffers counted once)."""
        return _stored_bytes([self])

    def _enforce_budget(self) -> None:
        if self.shared is not None:
            self.shared.enforce()
        else:
            _enforce([self], self.budget_bytes)
