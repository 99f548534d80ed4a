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
