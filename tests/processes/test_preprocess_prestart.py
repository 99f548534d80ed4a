"""The preprocess command's prestart hook: which command lines start the local pool's fork server early."""

from __future__ import annotations

import pytest

from processes.workflows.preprocess import pool
from processes.workflows.preprocess.command import preprocess_command
from procfw.language.parser import parse


def _statement(text: str):
    return parse(text).statements[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("preprocess raw out", (True, None)),
        ("preprocess raw out -allowMissingCalibration+ -rejection=WinsorizedSigmaClip -progress+ "
         "-executor=processes", (True, None)),
        ("preprocess raw out -executor=Processes -workers=3", (True, 3)),
        ("preprocess raw out -workers=1", (True, 1)),
        ("preprocess raw out --workers=2", (True, 2)),
        ("preprocess raw out -executor", (False, None)),  # no value: the command refuses it
        ("preprocess raw out -workers=0", (True, None)),
        ("preprocess raw out -executor=serial", (False, None)),
        ("preprocess raw out -executor=dask", (False, None)),
        ("preprocess raw out -executor=$1", (False, None)),
        ("preprocess raw out -workers=$n", (False, None)),
        ("preprocess raw out -workers=1.5", (False, None)),
        ("preprocess raw out -plan+", (False, None)),
        ("preprocess raw out -plan", (False, None)),
        ("preprocess raw out -plan-", (True, None)),
        ("preprocess raw out --dry-run", (False, None)),
        ("preprocess raw out -plan=false", (False, None)),
        ("preprocess raw -plan+", (False, None)),
        ("preprocess raw", (False, None)),  # no output folder: the command refuses
    ],
)
def test_pool_workers_reads_what_the_command_line_plainly_asks(text, expected):
    assert pool.pool_workers(_statement(text)) == expected


def test_the_command_carries_the_hook_and_it_starts_the_fork_server(monkeypatch):
    started = []
    monkeypatch.setattr("procfw.batch.start_workers", lambda preload, single_thread: started.append(
        (tuple(preload), single_thread)))
    assert preprocess_command.prestart is pool.prestart
    pool.prestart(_statement("preprocess raw out -workers=1"))
    pool.prestart(_statement("preprocess raw out -executor=serial"))
    pool.prestart(_statement("preprocess raw out"))
    assert started == [(pool.WORKER_PRELOAD, False), (pool.WORKER_PRELOAD, True)]
