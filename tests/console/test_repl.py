"""The REPL, driven through prompt_toolkit pipe input, and its completer."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from procfw.console import Session
from procfw.console.repl import ConsoleCompleter, Repl, history_path, run_plain

from .conftest import ramp


def drive(session: Session, chunks: list[str], *, history=None, pause: float = 0.0) -> tuple[int, Repl]:
    """Run a Repl on pipe input: the chunks are typed one after another (with a pause, for Tab)."""
    with create_pipe_input() as pipe:
        repl = Repl(session, input=pipe, output=DummyOutput(), history=history or InMemoryHistory())
        if pause:
            def feed() -> None:
                for chunk in chunks:
                    time.sleep(pause)
                    pipe.send_text(chunk)
                time.sleep(pause)
                pipe.close()

            thread = threading.Thread(target=feed)
            thread.start()
            code = repl.run()
            thread.join()
        else:
            pipe.send_text("".join(chunks))
            pipe.close()
            code = repl.run()
    return code, repl


def new_session() -> tuple[Session, io.StringIO]:
    out = io.StringIO()
    return Session(out=out, err=out), out


def test_repl_runs_entries_multi_line_blocks_and_goes_on_after_errors():
    session, out = new_session()
    code, repl = drive(session, ["let x = 3\n", "for v in [1,\n", "2] {\n", "echo $v $x\n", "}\n", "Invrt\n",
                                 "echo still here\n"])
    assert code == 0
    text = out.getvalue()
    assert "1 3\n2 3\n" in text
    assert "<console>:1:1: unknown command or process 'Invrt' (did you mean Invert?)\nInvrt\n^" in text
    assert text.endswith("still here\n")
    assert session.failures == 1
    assert list(repl.prompt_session.history.get_strings())[:2] == ["let x = 3", "for v in [1,"]


def test_repl_exit_code():
    session, _ = new_session()
    code, _ = drive(session, ["echo a\n", "exit 5\n", "echo never\n"])
    assert code == 5


def test_repl_tab_completion_of_process_ids_parameters_and_views():
    session, out = new_session()
    code, repl = drive(session, ["NewIma\t", " -id=img -wid\t", "8 -height=4 -numberOfCh\t", "1 ",
                                 "-colorSpace=Grayscale\n", "Inv\t", " im\t", "\n", "history img\n"], pause=0.25)
    assert code == 0
    assert list(repl.prompt_session.history.get_strings()) == [
        "NewImage -id=img -width=8 -height=4 -numberOfChannels=1 -colorSpace=Grayscale", "Invert img", "history img"]
    assert "1. Invert" in out.getvalue()
    assert session.workspace.view("img").image.pixels.shape == (1, 4, 8)


def test_history_file_from_the_environment(tmp_path, monkeypatch):
    target = tmp_path / "hist" / "procfw_history"
    monkeypatch.setenv("PROCFW_HISTORY", str(target))
    assert history_path() == target
    session, _ = new_session()
    with create_pipe_input() as pipe:
        repl = Repl(session, input=pipe, output=DummyOutput())
        pipe.send_text("echo remembered\n")
        pipe.close()
        repl.run()
    assert "echo remembered" in target.read_text()
    monkeypatch.delenv("PROCFW_HISTORY")
    assert history_path().name == ".procfw_history"


def test_plain_reading_when_not_a_terminal():
    session, out = new_session()
    code = run_plain(session, io.StringIO("echo a\nfor v in [1, 2] {\n  echo $v\n}\n\nzzz\necho b\n"))
    assert code == 1
    assert out.getvalue().startswith("a\n1\n2\n<stdin>:6:1: unknown command or process 'zzz'\nzzz\n^\n")
    assert out.getvalue().endswith("b\n")


# -- the completer, with Document objects -------------------------------------------------------
@pytest.fixture
def completer(sink):
    session = Session(out=io.StringIO())
    session.workspace.add_image(__import__("procfw.image", fromlist=["Image"]).Image(ramp()), "light_1")
    session.workspace.add_image(__import__("procfw.image", fromlist=["Image"]).Image(ramp()), "light_2")
    session.workspace.window("light_1").add_preview(0, 0, 2, 2)
    session.workspace.icons["Stretch"] = sink(amount=0.25)
    session.variables["level"] = 0.5
    session.run_text("def mine(a, depth=1) { echo $a }")
    return ConsoleCompleter(session)


def complete(completer: ConsoleCompleter, text: str) -> list[str]:
    return [c.text for c in completer.get_completions(Document(text, len(text)), CompleteEvent())]


def test_completes_commands_processes_keywords_and_defined_commands(completer):
    assert complete(completer, "Inv") == ["Invert"]
    assert "open" in complete(completer, "op") and "for" in complete(completer, "f")
    assert complete(completer, "mi") == ["mine"]
    assert complete(completer, "KitchenS") == ["KitchenSink"]
    assert complete(completer, "echo a; Inv") == ["Invert"]
    assert complete(completer, "for f in [1] { Inv") == ["Invert"]


def test_completes_parameters_after_a_process_id(completer):
    assert complete(completer, "KitchenSink -am") == ["-amount="]
    assert complete(completer, "KitchenSink -fl") == ["-flag+", "-flag-"]
    assert "-mean=" not in complete(completer, "KitchenSink -")  # read-only
    assert "--double" in complete(completer, "KitchenSink --")
    assert complete(completer, "save img out --over") == ["--overwrite"]
    assert complete(completer, "open x -i") == ["-id="]
    assert complete(completer, "mine x -de") == ["-depth="]
    assert complete(completer, "KitchenSink -amount=0") == []


def test_completes_enumeration_elements_and_command_choices_after_the_equals(completer):
    assert complete(completer, "KitchenSink -mode=") == ["Fast", "Slow", "Exact"]
    assert complete(completer, "KitchenSink -mode=s") == ["Slow"]
    assert complete(completer, "KitchenSink -flag=") == ["true", "false"]
    assert complete(completer, "exec Stretch -executor=p") == ["processes"]
    assert complete(completer, "Invert -nothing=") == []


def test_completes_views_icons_and_variables(completer):
    assert complete(completer, "Invert light") == ["light_1", "light_1->Preview01", "light_2"]
    assert complete(completer, "Invert -amount=1 light_2 li") == ["light_1", "light_1->Preview01", "light_2"]
    assert complete(completer, "exec ") == ["Stretch"]
    assert complete(completer, "exec Stretch light_1-") == ["light_1->Preview01"]
    assert complete(completer, "icon X = Stre") == ["Stretch"]
    assert complete(completer, "icon X = Stretch, -") == []
    assert complete(completer, "icons save \"f.xpsm\" S") == ["Stretch"]
    assert complete(completer, "echo $le") == ["$level"]
    assert complete(completer, "help Stre") == ["Stretch"]
    assert complete(completer, "history light_1 -> ") == ["Stretch"]


def test_completes_paths_in_strings(completer, tmp_path, monkeypatch):
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "m13.fits").write_text("x")
    monkeypatch.chdir(tmp_path)
    assert complete(completer, 'open "fr') == ['"frames/']
    assert complete(completer, 'open "frames/m') == ['"frames/m13.fits']


def test_repl_session_is_a_session(completer):
    assert isinstance(completer.session, Session)
    assert np.all(completer.session.workspace.view("light_2").image.pixels >= 0)
