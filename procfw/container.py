"""ProcessContainer: an ordered list of instances that runs as one process and one history step."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from procfw.process import Process, ProcessResult, ProgressCallback

if TYPE_CHECKING:
    from procfw.workspace import MaskRef, View, Workspace


@attrs.frozen(kw_only=True)
class ContainerItem:
    """One child of a container: the instance, whether it runs, and an optional mask for it."""

    instance: Process
    enabled: bool = True
    mask: MaskRef | None = None


def _as_items(values: Iterable[Any]) -> tuple[ContainerItem, ...]:
    items = []
    for value in values:
        if isinstance(value, ContainerItem):
            items.append(value)
        elif isinstance(value, Process):
            items.append(ContainerItem(instance=value))
        else:
            raise TypeError(f"ProcessContainer children must be process instances, got {value!r}")
    return tuple(items)


def _merge(results: list[ProcessResult]) -> tuple[dict[str, Any], tuple[str, ...], tuple[str, ...]]:
    outputs = {f"{i}:{r.process_id}": dict(r.outputs) for i, r in enumerate(results) if r.outputs}
    created = tuple(c for r in results for c in r.created)
    messages = tuple(m for r in results for m in r.messages)
    return outputs, created, messages


class ProcessContainer(Process):
    """Runs its enabled children in order, as one history step (PixInsight ProcessContainer).

    It can run on a view (or globally) only if every enabled child can.  A child's mask,
    if set, replaces the window's mask for that child.
    """

    process_id = "ProcessContainer"
    categories = ("Process",)
    is_maskable = False

    items: tuple[ContainerItem, ...] = attrs.field(default=(), converter=_as_items)

    @classmethod
    def of(cls, *instances: Process | ContainerItem) -> ProcessContainer:
        """A container of ``instances``, all enabled."""
        return cls(items=instances)

    @classmethod
    def from_history(cls, view: View) -> ProcessContainer:
        """The processing history of ``view`` (done steps, oldest first) as a container."""
        return cls(items=view.history.processes())

    def enabled_items(self) -> list[ContainerItem]:
        """The children that run."""
        return [item for item in self.items if item.enabled]

    def with_enabled(self, index: int, enabled: bool) -> ProcessContainer:
        """A copy with child ``index`` enabled or disabled."""
        items = list(self.items)
        items[index] = attrs.evolve(items[index], enabled=enabled)
        return attrs.evolve(self, items=items)

    def can_execute_on(self, view: View) -> tuple[bool, str]:
        for index, item in enumerate(self.enabled_items()):
            ok, why = item.instance.can_execute_on(view)
            if not ok:
                return False, f"child {index} ({item.instance.process_id}): {why}"
        return True, ""

    def can_execute_global(self) -> tuple[bool, str]:
        for index, item in enumerate(self.enabled_items()):
            ok, why = item.instance.can_execute_global()
            if not ok:
                return False, f"child {index} ({item.instance.process_id}): {why}"
        return True, ""

    def execute_on(
        self, view: View, *, mask: MaskRef | None = None, progress: ProgressCallback | None = None
    ) -> ProcessResult:
        self.require_executable_on(view)
        results: list[ProcessResult] = []
        view.begin_group()
        try:
            for item in self.enabled_items():
                results.append(item.instance.execute_on(view, mask=item.mask or mask, progress=progress))
        except BaseException:
            view.end_group(self, failed=True)
            raise
        view.end_group(self)
        outputs, created, messages = _merge(results)
        return ProcessResult(
            process_id=self.process_id, target=view.id, outputs=outputs, created=created, messages=messages
        )

    def execute_global(self, workspace: Workspace, *, progress: ProgressCallback | None = None) -> ProcessResult:
        self.require_executable_global()
        results = [item.instance.execute_global(workspace, progress=progress) for item in self.enabled_items()]
        outputs, created, messages = _merge(results)
        return ProcessResult(process_id=self.process_id, outputs=outputs, created=created, messages=messages)

    def __repr__(self) -> str:
        inner = ", ".join(("" if i.enabled else "-") + repr(i.instance) for i in self.items)
        return f"ProcessContainer({inner})"
