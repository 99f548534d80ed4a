"""Undo/redo history of one view, bounded by memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from procfw.errors import ExecutionError
from procfw.image import Image

if TYPE_CHECKING:
    from procfw.process import Process

DEFAULT_HISTORY_BUDGET = 1 << 30
"""Bytes of pixel data a view's history may keep for undo/redo (1 GiB)."""


@attrs.frozen
class HistoryStep:
    """One processing step: the instance that ran, and the image to restore.

    For a step that is done, ``image`` is the state *before* it (what undo restores);
    for an undone step, the state *after* it (what redo restores).  ``image`` is None
    once the memory bound dropped it: the step is still listed, but cannot be undone.
    """

    process: Process
    image: Image | None


@attrs.define
class History:
    """A view's processing history: done steps (oldest first) and undone steps."""

    budget_bytes: int = DEFAULT_HISTORY_BUDGET
    done: list[HistoryStep] = attrs.field(factory=list)
    undone: list[HistoryStep] = attrs.field(factory=list)

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
            raise ExecutionError(
                f"cannot undo {step.process.process_id}: its image was dropped to keep history under "
                f"{self.budget_bytes} bytes"
            )
        self.done.pop()
        self.undone.append(HistoryStep(step.process, current))
        return step.image

    def redo(self, current: Image) -> Image:
        """Redo the last undone step; returns the image to show."""
        if not self.undone:
            raise ExecutionError("nothing to redo")
        step = self.undone.pop()
        assert step.image is not None
        self.done.append(HistoryStep(step.process, current))
        return step.image

    def processes(self) -> list[Process]:
        """The instances of the done steps, oldest first."""
        return [step.process for step in self.done]

    def copy(self) -> History:
        """An independent copy (steps are immutable, so the lists are copied)."""
        return History(self.budget_bytes, list(self.done), list(self.undone))

    def stored_bytes(self) -> int:
        """Pixel bytes held for undo/redo (shared images counted once)."""
        seen: dict[int, int] = {}
        for step in (*self.done, *self.undone):
            if step.image is not None:
                seen[id(step.image.pixels)] = step.image.nbytes
        return sum(seen.values())

    def _enforce_budget(self) -> None:
        index = 0
        while self.stored_bytes() > self.budget_bytes and index < len(self.done):
            step = self.done[index]
            if step.image is not None:
                self.done[index] = HistoryStep(step.process, None)
            index += 1
