"""The pre-processing run starts ImageIntegration's kernel warm-up at the tail of its last per-frame step
(processes.workflows.preprocess.pipeline._WarmUpAtTail): only once fewer frames are left to finish than
the executor has workers, never while every worker still has frames; results pass through unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from processes.integration import warmup
from processes.workflows.preprocess import pipeline
from procfw.batch import Executor


class _Recorded(Executor):
    """A fake process pool: yields (index, item * 10) in reverse order, noting what was yielded."""

    kind = "processes"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.yielded = 0
        self.closed_early = False
        self.releases: list[int] = []  # results yielded at each release_idle_memory call

    def release_idle_memory(self) -> None:
        self.releases.append(self.yielded)

    def map_unordered(self, fn: Any, items: Any) -> Any:
        listed = list(items)

        def run() -> Any:
            try:
                for index in reversed(range(len(listed))):
                    self.yielded += 1
                    yield index, fn(listed[index])
            except GeneratorExit:
                self.closed_early = True
                raise

        return run()


def _ten_times(value: int) -> int:
    return value * 10


_current: list[_Recorded] = []


@pytest.fixture
def starts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many results the current fake pool had yielded at each start_warm_up call."""
    calls: list[int] = []
    monkeypatch.setattr(warmup, "start_warm_up", lambda then=None: calls.append(_current[-1].yielded))
    return calls


@pytest.mark.parametrize(("frames", "workers", "first"), [(12, 2, 11), (5, 3, 3), (2, 4, 1)])
def test_warm_up_starts_when_fewer_frames_are_left_than_workers(starts: list[int], frames: int, workers: int,
                                                                first: int) -> None:
    inner = _Recorded(workers)
    _current.append(inner)
    wrapped = pipeline._WarmUpAtTail(inner)
    assert (wrapped.kind, wrapped.workers) == ("processes", workers)
    results = list(wrapped.map_unordered(_ten_times, range(frames)))
    assert sorted(results) == [(i, 10 * i) for i in range(frames)]
    assert starts and starts[0] == first  # the first start: with `first` results in, fewer than `workers` left
    assert inner.yielded == frames


def test_leaving_early_closes_the_inner_map_and_starts_nothing(starts: list[int]) -> None:
    inner = _Recorded(2)
    _current.append(inner)
    results = pipeline._WarmUpAtTail(inner).map_unordered(_ten_times, range(6))
    assert next(results) == (5, 50)
    results.close()
    assert inner.closed_early and not starts


def test_the_tail_warm_up_gives_back_the_llvm_code_it_ran(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before and after loading the master's star measurement kernels, the console unmaps the library code
    that loading ImageIntegration's kernels, then those, ran (procfw.batch.release_library_pages): it would
    otherwise hold it beside the integration's frame statistics, then through the integration."""
    calls: list[str] = []
    monkeypatch.setattr(pipeline, "measure_stars", lambda plane: calls.append("measure"))
    monkeypatch.setattr(pipeline, "release_library_pages", lambda: calls.append("release") or 0)
    pipeline._warm_star_measurement()
    assert calls == ["release", "measure", "release"]


@pytest.mark.parametrize(("frames", "workers", "releases"), [(12, 2, [11]), (5, 3, [3, 4]), (2, 4, [1]), (1, 2, [])])
def test_each_worker_left_without_frames_gives_its_memory_back_at_once(starts: list[int], frames: int, workers: int,
                                                                       releases: list[int]) -> None:
    """A worker with no frame left would keep its frames' memory for its idle delay, while the console's
    warm-up grows: the tail asks it to give it back at once (not after the last frame: the pool closes)."""
    inner = _Recorded(workers)
    _current.append(inner)
    list(pipeline._WarmUpAtTail(inner).map_unordered(_ten_times, range(frames)))
    assert inner.releases == releases
