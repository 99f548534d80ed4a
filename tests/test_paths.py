"""procfw.paths.iter_glob: glob semantics, deterministic order, streaming, symlink loops."""

from __future__ import annotations

import glob
import os
import signal
from pathlib import Path

import pytest

from procfw.paths import has_wildcards, iter_glob


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/{b.fits, a.fits, c.txt, .hidden.fits, x/{d.fits, y/e.fits}, x-1/f.fits, .dot/g.fits}."""
    root = tmp_path / "root"
    for rel in ("b.fits", "a.fits", "c.txt", ".hidden.fits", "x/d.fits", "x/y/e.fits", "x-1/f.fits", ".dot/g.fits"):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    return root


class DeadlineExceeded(Exception):
    """Raised by the deadline fixture (not an OSError, which glob would swallow)."""


@pytest.fixture
def deadline():
    """Fail instead of hanging when the test takes more than 10 s."""

    def expired(signum, frame):
        raise DeadlineExceeded("took longer than 10 s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, 10)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("pattern", ["*.fits", "**/*.fits", "*/*.fits", "x*/**/*", "**", "?.fits", "[ab].fits",
                                     ".*", "x/**/e.fits", "**/y/*"])
def test_same_matches_as_glob(tree, pattern):
    ours = list(iter_glob(f"{tree}/{pattern}"))
    theirs = {p.rstrip(os.sep) for p in glob.glob(f"{tree}/{pattern}", recursive=True)} - {str(tree)}
    assert len(ours) == len(set(ours)) and set(ours) == theirs


def test_order_is_sorted_per_directory_depth_first(tree):
    names = [os.path.relpath(p, tree) for p in iter_glob(f"{tree}/**/*.fits")]
    assert names == ["a.fits", "b.fits", "x/d.fits", "x/y/e.fits", "x-1/f.fits"]


def test_files_only_plain_paths_and_relative_patterns(tree, monkeypatch):
    assert list(iter_glob(f"{tree}/x*", files_only=True)) == []
    assert list(iter_glob(f"{tree}/x*")) == [f"{tree}/x", f"{tree}/x-1"]
    assert list(iter_glob(f"{tree}/a.fits")) == [f"{tree}/a.fits"]
    assert list(iter_glob(f"{tree}/none.fits")) == []
    assert list(iter_glob(f"{tree}/none/*.fits")) == []
    monkeypatch.chdir(tree)
    assert list(iter_glob("x/**/*.fits")) == ["x/d.fits", "x/y/e.fits"]
    assert list(iter_glob("*.txt")) == ["c.txt"]
    monkeypatch.setenv("HOME", str(tree))
    assert list(iter_glob("~/*.txt")) == [f"{tree}/c.txt"]
    assert has_wildcards("a[1].fits") and not has_wildcards("a.fits")


def test_symlink_loops_end_and_linked_directories_are_walked_once(tree, deadline):
    (tree / "x" / "y" / "up").symlink_to(tree, target_is_directory=True)
    (tree / "self").symlink_to(tree, target_is_directory=True)
    (tree / "x" / "again").symlink_to(tree / "x" / "y", target_is_directory=True)
    names = [os.path.relpath(p, tree) for p in iter_glob(f"{tree}/**/*.fits")]
    assert names == ["a.fits", "b.fits", "x/d.fits", "x/again/e.fits", "x-1/f.fits"]
    everything = list(iter_glob(f"{tree}/**"))
    assert len(everything) == len(set(everything)) < 30


def test_matches_are_streamed(tmp_path, monkeypatch):
    for i in range(50):
        (tmp_path / f"d{i:02d}").mkdir()
        (tmp_path / f"d{i:02d}" / "x.fits").write_text("x")
    listed = []
    scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path=".": listed.append(path) or scandir(path))
    first = next(iter_glob(f"{tmp_path}/**/*.fits"))
    assert first == f"{tmp_path}/d00/x.fits" and len(listed) < 5


def test_process_file_lists_use_the_loop_safe_glob(tree, deadline):
    from processes.common.filelists import expand_paths

    (tree / "x" / "y" / "up").symlink_to(tree, target_is_directory=True)
    paths = [os.path.relpath(p, tree) for p in expand_paths(f"{tree}/**/*.fits")]
    assert paths == ["a.fits", "b.fits", "x/d.fits", "x/y/e.fits", "x-1/f.fits"]
