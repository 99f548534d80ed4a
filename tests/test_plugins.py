"""Plugins: a real example package (process, command, format), a broken one and one that calls
``sys.exit()`` at import, installed with pip.

Both packages are installed with pip into a temporary target directory that the
subprocesses put on their path, so the developer's environment is left as it was.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from procfw.icons import load_icons, save_icons
from procfw.unknown import UnknownProcess

PLUGINS = Path(__file__).parent / "plugins"

pytestmark = pytest.mark.slow


def pip_install(target: Path, *packages: Path) -> None:
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
               str(target), *map(str, packages)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> Path:
    """A directory holding the example, broken and exiting plugins, installed by pip."""
    target = tmp_path_factory.mktemp("site")
    pip_install(target, PLUGINS / "example", PLUGINS / "broken", PLUGINS / "exiting")
    return target


def procfw(plugin_path: Path | None, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if plugin_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(plugin_path), env.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "procfw", *args], capture_output=True, text=True, timeout=300,
                          env=env, cwd=cwd)


def test_plugin_process_command_and_format_through_procfw_run(plugin_path, tmp_path):
    script = tmp_path / "plugin.pcs"
    script.write_text(
        'NewImage -id=flat -width=8 -height=4 -numberOfChannels=1 -colorSpace=Grayscale -v0=0.2\n'
        "ExampleGain -gain=3 flat\n"
        'save flat "flat.npy"\n'
        'open "flat.npy" -id=again\n'
        "greet Ada -times=2\n"
        "greet -shout+\n"
    )
    done = procfw(plugin_path, "run", str(script), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "hello, Ada hello, Ada" in done.stdout and "HELLO, WORLD" in done.stdout
    saved = np.load(tmp_path / "flat.npy", allow_pickle=False)
    assert saved.shape == (1, 4, 8)
    np.testing.assert_allclose(saved, 0.6, rtol=1e-6)


def test_broken_plugin_gives_warnings_and_breaks_nothing(plugin_path):
    done = procfw(plugin_path, "plugins")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "procfw-example-plugin 1.2.0" in out
    assert "processes: ExampleGain" in out and "commands: greet" in out and "formats: npy" in out
    assert "procfw-broken-plugin 0.0.1" in out
    failures = out.split("failures:")[1]
    assert "BrokenProcess' from procfw-broken-plugin 0.0.1: failed to load: ModuleNotFoundError" in failures
    assert "broken-command' from procfw-broken-plugin 0.0.1: failed to load" in failures
    assert "'Invert' from procfw-broken-plugin 0.0.1: id clashes with procfw" in failures
    assert "ExitingProcess' from procfw-exiting-plugin 0.3.0: failed to load: SystemExit" in failures
    assert "exiting-command' from procfw-exiting-plugin 0.3.0: failed to load: SystemExit" in failures
    assert len(failures.strip().splitlines()) == 5

    inverted = procfw(plugin_path, "run", "--json", "-c",
                      "NewImage -id=a -width=2 -height=2 -v0=0.25 -colorSpace=Grayscale\nInvert a\nStatistics a")
    assert inverted.returncode == 0, inverted.stderr
    report = json.loads(inverted.stdout)
    mean = report["outputs"][-1]["outputs"]
    assert "0.75" in json.dumps(mean)


def test_unknown_command_from_broken_plugin_is_a_clean_error(plugin_path):
    done = procfw(plugin_path, "run", "-c", "broken-command")
    assert done.returncode != 0
    assert "failed to load" in done.stderr and "Traceback" not in done.stderr


def test_plugins_check(plugin_path):
    done = procfw(plugin_path, "plugins", "--check")
    assert "FAIL ExampleGain" not in done.stdout
    assert "FAIL BrokenProcess: does not load" in done.stdout
    assert "FAIL ExitingProcess: does not load" in done.stdout and "sys.exit(3)" in done.stdout
    assert done.returncode == 1


def test_plugin_calling_sys_exit_at_import_is_one_warning_and_breaks_nothing(plugin_path):
    done = procfw(plugin_path, "run", "-c",
                  "NewImage -id=a -width=2 -height=2 -v0=0.25 -colorSpace=Grayscale\nInvert a\nExampleGain a")
    assert done.returncode == 0, done.stderr
    assert "procfw-exiting-plugin" not in done.stderr  # looking names up imports no unrelated plugin

    called = procfw(plugin_path, "run", "-c", "exiting-command\necho still here")
    exits = [line for line in called.stderr.splitlines() if "procfw-exiting-plugin 0.3.0" in line]
    assert len(exits) == 1 and "exiting-command" in exits[0], called.stderr
    assert "failed to load: SystemExit: the plugin called sys.exit(3)" in exits[0]
    assert called.returncode == 1 and "Traceback" not in called.stderr

    used = procfw(plugin_path, "run", "-c", "NewImage -id=a -width=2 -height=2\nExitingProcess a")
    assert used.returncode == 1, used.stderr
    assert "'ExitingProcess' is installed but failed to load: SystemExit" in used.stderr
    assert "Traceback" not in used.stderr


def test_icon_of_missing_plugin_is_a_placeholder_written_back_unchanged(plugin_path, tmp_path):
    xpsm = tmp_path / "gain.xpsm"
    xpsm.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<xpsm version="1.0" xmlns="http://www.pixinsight.com/xpsm">\n'
        '   <instance class="ExampleGain" version="1" id="gain_instance">\n'
        '      <parameter id="gain" value="4.500"/>\n'
        '      <parameter id="clip" value="false"/>\n'
        "   </instance>\n"
        '   <icon id="gain" instance="gain_instance" xpos="8" ypos="8"/>\n'
        "</xpsm>\n",
        encoding="utf-8",
    )
    loaded = load_icons(xpsm)  # this test process does not have the plugin on its path
    placeholder = loaded.icons["gain"]
    assert isinstance(placeholder, UnknownProcess) and placeholder.process_id == "ExampleGain"
    out = tmp_path / "again.xpsm"
    save_icons(out, loaded.icons, meta=loaded.meta)
    assert load_icons(out).icons["gain"] == placeholder
    assert '<parameter id="gain" value="4.500"/>' in out.read_text(encoding="utf-8")

    listed = procfw(plugin_path, "icons", "list", str(xpsm))
    assert listed.returncode == 0 and "[placeholder" not in listed.stdout and "ExampleGain" in listed.stdout


def test_every_builtin_process_passes_the_plugin_check():
    """`procfw plugins --check --builtin` (issue 15 names it): exit 0, every built-in process passes."""
    done = procfw(None, "plugins", "--check", "--builtin")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    passed = re.search(r"conformance: (\d+) of (\d+) plugin processes pass", done.stdout)
    assert passed and passed.group(1) == passed.group(2), done.stdout[-500:]
