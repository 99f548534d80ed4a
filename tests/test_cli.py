"""The procfw command: --version, --help, listing, and a light import."""

from __future__ import annotations

import subprocess
import sys

from procfw import __version__
from procfw.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "procfw", *args], capture_output=True, text=True, timeout=120)


def test_version_and_help():
    done = run_cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"procfw {__version__}"
    done = run_cli("--help")
    assert done.returncode == 0 and "usage: procfw" in done.stdout and "processes" in done.stdout


def test_import_is_light():
    code = (
        "import sys, procfw, procfw.cli;"
        "print(','.join(m for m in ('numpy', 'scipy', 'astropy', 'dask', 'skimage', 'lark') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "", done.stdout


def test_processes_and_describe(capsys):
    assert main(["processes"]) == 0
    listed = capsys.readouterr().out.split()
    assert {"Invert", "NoOperation", "ProcessContainer"} <= set(listed)
    assert main(["describe", "Invert"]) == 0
    assert "Invert (version 256)" in capsys.readouterr().out


def test_unknown_process_is_a_clean_error(capsys):
    assert main(["describe", "Invret"]) == 1
    err = capsys.readouterr().err
    assert "unknown process 'Invret' (did you mean Invert?)" in err and "Traceback" not in err


def test_the_command_freezes_the_collector_before_exit_and_keeps_main_s_exit_code():
    code = (
        "import gc, sys; from procfw.cli import console_main;"
        "sys.argv = ['procfw', 'run', '-c', 'NoSuchProcess'];"
        "rc = console_main(); print(rc, gc.get_freeze_count() > 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["1", "True"], done.stdout + done.stderr
    assert gc_is_live_here()


def gc_is_live_here() -> bool:
    """main() itself leaves a Python caller's collector alone (nothing frozen in this test process by it)."""
    import gc

    before = gc.get_freeze_count()
    assert main(["processes"]) == 0
    return gc.get_freeze_count() == before


def test_the_entry_point_is_console_main():
    from pathlib import Path

    import tomllib

    scripts = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["procfw"] == "procfw.cli:console_main"


def test_prestart_calls_the_first_command_s_hook_before_the_console_loads():
    """procfw run hands the first statement to its command's prestart hook, before numpy and the session load."""
    code = """
import gc, sys
from procfw.registry import commands

import procfw.batch
seen = []
procfw.batch.reuse_freed_memory = lambda: seen.append(("start-up", gc.isenabled()))
def command(session, *words): seen.append(("ran", gc.isenabled()))
command.prestart = lambda statement: seen.append((statement.name.literal, "numpy" in sys.modules, gc.isenabled()))
commands.register("probe", command)
from procfw.cli import main
text = sys.argv[1]
code = main(["run", "-c", text])
print(code, seen, gc.isenabled())
"""
    def run(text: str) -> str:
        done = subprocess.run([sys.executable, "-c", code, text], capture_output=True, text=True, timeout=120)
        return done.stdout.strip().splitlines()[-1]

    # main's start-up and the hook run with the garbage collector paused (what they make is kept: modules,
    # the parser, the registry), the commands with it on again
    start = "('start-up', False), "
    assert run("probe a b\necho x") == f"0 [{start}('probe', False, False), ('ran', True)] True"
    assert run("echo x\nprobe a") == f"0 [{start}('ran', True)] True"  # only the first statement
    assert run("probe a 'unclosed") == "1 [('start-up', False)] True"  # a syntax error: left to the session


def test_prestart_ignores_texts_without_a_hook():
    from procfw.cli import prestart
    from procfw.registry import commands

    def failing(statement: object) -> None:
        raise RuntimeError("no")

    def command(*words: str) -> None:
        """A command whose hook fails."""

    command.prestart = failing  # type: ignore[attr-defined]
    unregister = commands.register("failingprobe", command)
    try:
        assert not prestart("failingprobe a")  # logged, not raised
        assert not prestart("echo a")  # no hook
        assert not prestart("NoOperation")  # a process, not a command
        assert not prestart("")
        assert not prestart("echo 'unclosed")
    finally:
        unregister()
