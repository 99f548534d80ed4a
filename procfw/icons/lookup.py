"""Process classes for ids read from files: from the registry only, never by import."""

from __future__ import annotations

from procfw.container import ProcessContainer
from procfw.errors import UnknownNameError
from procfw.process import Process
from procfw.registry import processes

__all__ = ["is_container", "process_class"]


def process_class(class_id: str) -> type[Process] | None:
    """The registered process class for ``class_id`` (an id or alias), or None when it is not
    installed (or its plugin failed to load)."""
    try:
        cls = processes.get(class_id)
    except UnknownNameError:
        return None
    return cls if isinstance(cls, type) and issubclass(cls, Process) else None


def is_container(cls_or_instance: object) -> bool:
    """Whether a class or instance is a ProcessContainer."""
    cls = cls_or_instance if isinstance(cls_or_instance, type) else type(cls_or_instance)
    return issubclass(cls, ProcessContainer)
