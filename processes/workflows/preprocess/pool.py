"""Starting the local process pool of a pre-processing run early (a light module: no numpy here).

:func:`start_workers` starts the pool's fork server (:func:`procfw.batch.start_workers`)
with :data:`WORKER_PRELOAD`, so that the workers' imports and kernel loading overlap with
the console's own imports, reading the headers and planning.  The console command calls
it before it imports the pipeline; :func:`prestart` (the command's *prestart* hook, see
:func:`procfw.cli.prestart`) calls it sooner still, when ``procfw run`` starts with a
``preprocess`` command line that plainly asks for a local pool: before the console has
loaded numpy and its session (~0.1–0.2 s sooner).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from processes.workflows.preprocess.plan import Options
from procfw.names import option_spellings

if TYPE_CHECKING:
    from procfw.language import ast

__all__ = ["WORKER_PRELOAD", "prestart", "start_workers"]

WORKER_PRELOAD = ("processes.workflows.preprocess.worker",)
"""Modules the fork server of the local process pool imports once for all workers: the worker module
imports numpy, the FITS reader and writer and the per-frame modules and loads the compiled kernels
(:mod:`processes.workflows.preprocess.worker`; it imports them itself, with the garbage collector off)."""

_ONLY_PLAN = ("plan", "dryRun")
"""The command's switches that only print the plan (no pool)."""


def start_workers(options: Options) -> None:
    """Start the local pool's fork server now, when ``options`` ask for a process pool (else nothing).

    Called before the folder is scanned, so that the workers' imports and kernel loading
    overlap with reading the headers and planning; the pool itself is made later.
    """
    if options.executor == "processes":
        _start(options.workers)


def _start(workers: int | None) -> None:
    """Start the fork server for a pool of ``workers`` processes (None: every core)."""
    from procfw.batch import start_workers as start

    start(WORKER_PRELOAD, single_thread=workers is None or workers > 1)


def _literal(value: ast.Node) -> str | None:
    """The text of an option's value when it is written out (no variable, no list), else None."""
    from procfw.language import ast

    if isinstance(value, ast.Number):
        return value.text
    return value.literal if isinstance(value, ast.Text) else None


def pool_workers(command: ast.Command) -> tuple[bool, int | None]:
    """(whether the ``preprocess`` statement ``command`` will start a local pool, its -workers=, None if unset).

    Read from the unevaluated statement: only what is plainly written counts.  False when
    the statement only plans (``-plan+``, ``--dry-run``), lacks the output folder, names
    another executor, or sets -executor= or -workers= through a variable or an odd value
    (the command then starts its pool itself, as it always does).
    """
    from procfw.language import ast

    positional = 0
    executor, workers = "processes", None
    for arg in command.args:
        if not isinstance(arg, ast.Option | ast.Switch | ast.Flag | ast.Literal):
            positional += 1
            continue
        names = option_spellings(arg.name)  # as the console binds it: dry-run names dryRun
        value = getattr(arg, "value", None)  # -name=value or --name=value; None for a switch or a flag
        if any(name in _ONLY_PLAN for name in names):
            if value is not None or getattr(arg, "on", True):
                return False, None  # only the plan (-plan=VALUE too: left to the command)
            continue
        text = _literal(value) if value is not None else None
        if "executor" in names:
            if text is None:
                return False, None
            executor = text.casefold()
        elif "workers" in names:
            if text is None or not text.isdigit():
                return False, None
            workers = int(text) or None
    return executor == "processes" and positional >= 2, workers


def prestart(command: ast.Command) -> None:
    """The ``preprocess`` command's prestart hook: start the pool's fork server if the statement will want it.

    :func:`procfw.cli.prestart` calls it before the console loads, so that the fork server's
    preload (~1 s) starts that much sooner; the command's own :func:`start_workers` then
    finds the server running.  See :func:`pool_workers` for what counts.
    """
    wanted, workers = pool_workers(command)
    if wanted:
        _start(workers)
