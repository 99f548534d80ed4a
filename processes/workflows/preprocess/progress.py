"""Progress display for long workflow steps: a bar on a terminal, plain lines elsewhere.

The workflow calls :meth:`StepProgress.step` around each long step and hands the callback
it yields to the processes (``execute_global(..., progress=callback)``), which report
``(fraction, message)`` through ``context.report``.  The console command chooses the
display with :func:`make_progress`:

* on a terminal (``stream.isatty()``): a ``rich`` progress bar per step (imported only then);
* elsewhere (files, pipes, CI logs): one line when a step starts and one when it ends with
  its duration, plus a line every :data:`TEXT_INTERVAL` seconds for steps that take long —
  readable in a log, never flooding it;
* :class:`NullProgress` shows nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

__all__ = ["NullProgress", "RichProgress", "StepProgress", "TextProgress", "make_progress"]

ProgressCallback = Callable[[float, str], None]

TEXT_INTERVAL = 10.0
"""Seconds between the progress lines of one step in the plain text display."""


class StepProgress:
    """Base of the displays: :meth:`step` yields the callback of one step."""

    @contextmanager
    def step(self, title: str, *, indeterminate: bool = False) -> Iterator[ProgressCallback]:
        """Show ``title`` while the block runs; the yielded callback takes ``(fraction, message)``.

        ``indeterminate``: the step reports no fraction (one task on a worker): a bar shows that it
        runs, not how far."""
        yield _ignore

    def close(self) -> None:
        """Release the display (end the live bar)."""


def _ignore(fraction: float, message: str = "") -> None:
    return None


class NullProgress(StepProgress):
    """Shows nothing."""


class TextProgress(StepProgress):
    """Plain lines on ``stream``: '[preprocess] title ...', '... 40% message', 'title: done in 2.1 s'."""

    def __init__(self, stream: IO[str], *, prefix: str = "preprocess", interval: float = TEXT_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.prefix = prefix
        self.interval = interval
        self.clock = clock

    def _write(self, text: str) -> None:
        print(f"[{self.prefix}] {text}", file=self.stream, flush=True)

    @contextmanager
    def step(self, title: str, *, indeterminate: bool = False) -> Iterator[ProgressCallback]:
        start = last = self.clock()
        self._write(f"{title} ...")

        def update(fraction: float, message: str = "") -> None:
            nonlocal last
            now = self.clock()
            if now - last >= self.interval:
                last = now
                self._write(f"{title}: {100 * min(max(fraction, 0.0), 1.0):.0f}%" + (f" {message}" if message else ""))

        failed = True
        try:
            yield update
            failed = False
        finally:
            self._write(f"{title}: {'failed' if failed else 'done'} in {self.clock() - start:.1f} s")


class RichProgress(StepProgress):
    """A ``rich`` progress bar per step on ``stream`` (a terminal)."""

    def __init__(self, stream: IO[str]) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

        self._progress: Any = Progress(
            TextColumn("[bold]{task.fields[title]}"), BarColumn(),
            TaskProgressColumn("{task.percentage:>3.0f}%", text_format_no_percentage="    "),
            TimeElapsedColumn(), TextColumn("{task.fields[message]}", style="dim"),
            console=Console(file=stream), transient=False,
        )
        self._started = False

    @contextmanager
    def step(self, title: str, *, indeterminate: bool = False) -> Iterator[ProgressCallback]:
        if not self._started:
            self._progress.start()
            self._started = True
        task = self._progress.add_task(title, total=None if indeterminate else 1.0, title=title, message="")

        def update(fraction: float, message: str = "") -> None:
            self._progress.update(task, completed=min(max(fraction, 0.0), 1.0), message=message[:60])

        try:
            yield update
            self._progress.update(task, total=1.0, completed=1.0, message="done")
        except BaseException:
            self._progress.update(task, message="failed")
            raise

    def close(self) -> None:
        if self._started:
            self._progress.stop()
            self._started = False


def make_progress(stream: IO[str] | None, *, enabled: bool = True, prefix: str = "preprocess") -> StepProgress:
    """The display for ``stream``: rich bars on a terminal, plain lines otherwise, nothing when disabled."""
    if not enabled or stream is None:
        return NullProgress()
    isatty = getattr(stream, "isatty", None)
    if callable(isatty) and isatty():
        try:
            return RichProgress(stream)
        except ImportError:  # pragma: no cover - rich is a dependency
            pass
    return TextProgress(stream, prefix=prefix)
