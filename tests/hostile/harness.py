"""Run one hostile case in a child ``procfw`` process under time and memory limits.

Every hostile-input test goes through :func:`run_case`: the input is made by the test
(nothing hostile is stored in the repository), procfw runs on it in a subprocess with an
address-space limit and a wall-clock limit, and the case passes when procfw ends with a
*clean error* (exit status 1 or 2, a message on stderr, no Python traceback) or succeeds
when the input is merely unusual.  Results are collected in :data:`RESULTS` so the
session summary can print how many cases were tried, how many ended cleanly, and the
worst time and peak memory among them.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MEMORY_MB = 2048


@dataclass(frozen=True)
class CaseResult:
    """What one hostile case did."""

    name: str
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float
    timed_out: bool

    @property
    def clean_error(self) -> bool:
        """Ended by procfw's own error handling: status 1 or 2, a message, no traceback."""
        return (
            not self.timed_out
            and self.returncode in (1, 2)
            and bool(self.stderr.strip())
            and "Traceback (most recent call last)" not in self.stderr
        )

    @property
    def no_crash(self) -> bool:
        """Succeeded or failed cleanly: never a traceback, a signal or a time-out."""
        return not self.timed_out and (self.returncode == 0 or self.clean_error)


RESULTS: list[CaseResult] = []


def _limit(memory_mb: int):
    def apply() -> None:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def run_case(
    name: str,
    args: list[str],
    *,
    cwd: str | Path | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_mb: int = DEFAULT_MEMORY_MB,
    stdin: str | None = None,
) -> CaseResult:
    """Run ``python -m procfw ARGS`` on a hostile input; record and return what happened."""
    env = {**os.environ, "PYTHONFAULTHANDLER": "0", "NO_COLOR": "1", "COLUMNS": "200"}
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "procfw", *args],
            cwd=cwd,
            input=stdin,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout_s,
            env=env,
            preexec_fn=_limit(memory_mb),
        )
        rc, out, err, timed_out = proc.returncode, proc.stdout, proc.stderr, False
    except subprocess.TimeoutExpired as exc:
        rc, timed_out = -9, True
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
    seconds = time.perf_counter() - start
    # ru_maxrss of children is the largest child so far (KiB on Linux): a lower bound per case.
    peak = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024.0
    result = CaseResult(name, rc, out, err, seconds, peak, timed_out)
    RESULTS.append(result)
    return result


def summary() -> str:
    """One line: cases tried, clean endings, worst time and peak RSS."""
    if not RESULTS:
        return "hostile cases: none run"
    clean = sum(1 for r in RESULTS if r.no_crash)
    slowest = max(RESULTS, key=lambda r: r.seconds)
    return (
        f"hostile cases: {len(RESULTS)} tried, {clean} ended cleanly; worst time {slowest.seconds:.2f} s "
        f"({slowest.name}); peak RSS of any case ≤ {max(r.peak_rss_mb for r in RESULTS):.0f} MB"
    )
