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
