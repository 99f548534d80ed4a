"""procfw.collector: freezing only in the procfw command, inside an allowed block; the preprocess command's gate."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np

from procfw import collector

_PROGRAM = """
import gc, json
from procfw import collector
seen = [collector.freeze()]  # a Python program: never
collector.enable()  # as the procfw command does
seen.append(collector.freeze())  # not inside an allowed block
with collector.allowed(False):
    seen.append(collector.freeze())
seen.append(gc.get_freeze_count())
with collector.allowed() as on:
    seen.append([on, collector.freeze(), gc.get_freeze_count() > 0])
seen.append(collector.freeze())
print(json.dumps(seen))
"""


def test_freeze_needs_the_command_and_an_allowed_block() -> None:
    done = subprocess.run([sys.executable, "-c", _PROGRAM], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(done.stdout) == [False, False, False, 0, [True, True, True], False]


def test_preprocess_command_allows_freezing_only_in_a_session_without_images(monkeypatch, tmp_path) -> None:
    from processes.workflows.preprocess import command
    from procfw.console import Session
    from procfw.image import Image

    allowed: list[bool] = []
    monkeypatch.setattr(command, "_plan_and_run", lambda *args, **kwargs: allowed.append(collector._ALLOWED.get()))
    session = Session(out=io.StringIO())
    session.run_text(f'preprocess "{tmp_path}" "{tmp_path / "out"}"')
    session.workspace.add_image(Image(np.zeros((1, 4, 4), np.float32)), "user_image")
    session.run_text(f'preprocess "{tmp_path}" "{tmp_path / "out"}"')
    assert allowed == [True, False]
    assert not collector._ALLOWED.get()


def test_paused_turns_automatic_collections_off_in_the_block_only() -> None:
    """collector.paused(): off inside, back on after (also when the block raises), left off where it was off."""
    import gc

    assert gc.isenabled()
    with collector.paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    try:
        with collector.paused():
            raise KeyError("x")
    except KeyError:
        pass
    assert gc.isenabled()
    gc.disable()
    try:
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # not switched on by the block
    finally:
        gc.enable()
