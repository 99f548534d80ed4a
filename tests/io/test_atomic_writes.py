"""Atomic writes: errors name the target, fsync before rename, stale temporary files, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from procfw.errors import ImageFileError
from procfw.image import FITSKeyword, Image
from procfw.io import atomic, write_image
from procfw.io.atomic import atomic_path, remove_stale_temps, temp_prefix

ROOT = Path(__file__).resolve().parents[2]


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp" in p.name)


def small_image(**kwargs: object) -> Image:
    return Image(np.zeros((1, 4, 4), np.float32), **kwargs)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize("name", ["out.fits", "out.xisf", "out.png", "out.tif"])
def test_write_errors_name_the_target_not_the_temporary_file(tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    image = small_image(keywords=[FITSKeyword("OBJECT", "caf\u00e9", "")])
    image.pixels[0, 0, 0] = np.nan

    def broken(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device", str(tmp_path / f"{temp_prefix(target)}1-x{target.suffix}"))

    if name == "out.fits":
        with pytest.raises(ImageFileError) as info:
            write_image(image, target)  # the keyword cannot be written in ASCII FITS
    else:
        import procfw.io.png
        import procfw.io.tiff
        import procfw.io.xisf

        module = {"out.xisf": procfw.io.xisf, "out.png": procfw.io.png, "out.tif": procfw.io.tiff}[name]
        attribute = {"out.xisf": "write_unit", "out.png": "write_png_file", "out.tif": "write_tiff_file"}[name]
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(module, attribute, broken)  # each format object lives next to its writer
            with pytest.raises(ImageFileError) as info:
                write_image(image, target)
    message = str(info.value)
    assert message.startswith(f"{target}:"), message
    assert ".tmp" not in message, message
    assert info.value.path == str(target)
    assert leftovers(tmp_path) == []
    assert not target.exists()


def test_fsync_file_then_rename_then_fsync_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[tuple[str, str]] = []
    real_fsync, real_replace, real_open = os.fsync, os.replace, os.open
    opened: dict[int, str] = {}

    def spy_open(path: object, flags: int, *args: object) -> int:
        fd = real_open(path, flags, *args)
        opened[fd] = os.fspath(path)
        return fd

    def spy_fsync(fd: int) -> None:
        events.append(("fsync", opened.get(fd, "?")))
        real_fsync(fd)

    def spy_replace(src: object, dst: object) -> None:
        events.append(("replace", os.fspath(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "open", spy_open)
    monkeypatch.setattr(atomic.os, "fsync", spy_fsync)
    monkeypatch.setattr(atomic.os, "replace", spy_replace)
    target = tmp_path / "a.txt"
    with atomic_path(target) as temp:
        temp.write_text("hello")
    kinds = [kind for kind, _ in events]
    assert kinds == ["fsync", "replace", "fsync"], events
    assert events[0][1] == str(temp)
    assert events[1][1] == str(target)
    assert Path(events[2][1]) == tmp_path
    assert target.read_text() == "hello"


def test_stale_temporary_files_are_removed_on_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "img.fits"
    prefix = temp_prefix(target)
    dead = tmp_path / f"{prefix}{dead_pid()}-abc.fits"
    old_alive = tmp_path / f"{prefix}{os.getppid()}-old.fits"
    fresh_alive = tmp_path / f"{prefix}{os.getppid()}-new.fits"
    other_target = tmp_path / f"{temp_prefix(tmp_path / 'other.fits')}{dead_pid()}-x.fits"
    for path in (dead, old_alive, fresh_alive, other_target):
        path.write_bytes(b"partial")
    two_minutes_ago = time.time() - 120
    os.utime(old_alive, (two_minutes_ago, two_minutes_ago))
    write_image(small_image(), target)
    remaining = leftovers(tmp_path)
    assert dead.name not in remaining
    assert old_alive.name not in remaining
    assert fresh_alive.name in remaining  # a live process may still be writing it
    assert other_target.name in remaining  # another target's files are not touched
    assert target.exists()


def test_remove_stale_temps_leaves_unrelated_files(tmp_path: Path) -> None:
    target = tmp_path / "x.xisf"
    keep = [tmp_path / ".x.xisf.tmp-notapid-1.xisf", tmp_path / "x.xisf.tmp-1-2", tmp_path / ".x.xisf"]
    for path in keep:
        path.write_bytes(b"")
    assert remove_stale_temps(target, now=time.time() + 3600) == []
    assert all(path.exists() for path in keep)


def test_temporary_file_of_a_killed_writer_is_cleaned_by_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "k.fits"
    ready = tmp_path / "ready"
    code = textwrap.dedent(
        f"""
        import pathlib, time
        from procfw.io.atomic import atomic_path
        with atomic_path({str(target)!r}) as temp:
            temp.write_bytes(b"half a file")
            pathlib.Path({str(ready)!r}).write_text(str(temp))
            time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), "the child never started writing"
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(30)
    ready.unlink()
    assert len(leftovers(tmp_path)) == 1  # kill -9 leaves the temporary file
    write_image(small_image(), target)
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_sigterm_during_a_save_removes_the_temporary_file_and_exits_143(tmp_path: Path) -> None:
    source = tmp_path / "in.fits"
    write_image(small_image(), source)
    ready = tmp_path / "ready"
    code = textwrap.dedent(
        f"""
        import pathlib, sys, time
        from procfw.io import fits

        original = fits.FITSFormat.write

        def slow_write(self, image, path):
            original(self, image, path)
            pathlib.Path({str(ready)!r}).write_text(str(path))
            time.sleep(60)

        fits.FITSFormat.write = slow_write
        from procfw.cli import main
        sys.exit(main(["run", "-c", 'open "in.fits"\\nsave in "out.fits"']))
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], cwd=tmp_path, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), "the save never started"
        temp = Path(ready.read_text())
        assert temp.exists()
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 143, err
    assert "terminated" in err
    assert "Traceback" not in err
    assert not temp.exists()
    assert not (tmp_path / "out.fits").exists()
    ready.unlink()
    assert leftovers(tmp_path) == []
