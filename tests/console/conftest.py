"""Fixtures of the console tests: FITS files, a `procfw` subprocess runner, and a test
process with a parameter of every kind."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from procfw.console import Session
from procfw.image import Image
from procfw.params import (
    Block,
    Boolean,
    Double,
    Enumeration,
    Float,
    Int8,
    Int64,
    String,
    Table,
    UInt16,
    param,
)
from procfw.process import ExecutionContext, Process, ProcessOutput

ROOT = Path(__file__).resolve().parents[2]


def write_fits(path: Path, data: Any) -> Path:
    """A small float32 FITS file (written with astropy directly)."""
    from astropy.io import fits

    fits.writeto(path, np.asarray(data, dtype=np.float32), overwrite=True)
    return path


def read_fits(path: Path) -> np.ndarray:
    """The pixels of a FITS file, as float32."""
    from astropy.io import fits

    return np.asarray(fits.getdata(path), dtype=np.float32)


def ramp(height: int = 4, width: int = 6, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """Distinct values from ``low`` to ``high``."""
    return np.linspace(low, high, height * width, dtype=np.float32).reshape(height, width)


def procfw(*args: str, cwd: Path, stdin: str | None = None, env: dict[str, str] | None = None,
           ) -> subprocess.CompletedProcess[str]:
    """Run ``python -m procfw ARGS`` in ``cwd``."""
    environment = dict(os.environ)
    environment["PROCFW_HISTORY"] = str(cwd / ".history")
    environment.pop("PYTHONWARNINGS", None)
    if env:
        environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "procfw", *args], cwd=cwd, capture_output=True, text=True, input=stdin,
        env=environment, timeout=120,
    )


class KitchenSink(Process):
    """A test process with a parameter of every kind; it scales pixels by ``amount``."""

    process_id = "KitchenSink"
    process_aliases = ("Sink",)
    parameter_aliases = {"oldAmount": "amount"}
    console_literals = ("double",)

    flag: bool = param(Boolean(default=False, description="A switch."))
    small: int = param(Int8(default=0, description="A signed byte."))
    count: int = param(UInt16(default=1, minimum=1, maximum=100, description="How many."))
    big: int = param(Int64(default=0))
    amount: float = param(Double(default=0.5, minimum=0.0, maximum=1.0, precision=3, description="Scale."))
    gain: float = param(Float(default=1.0))
    mode: str = param(Enumeration(elements=("Fast", "Slow", "Exact"), default="Fast",
                                  element_aliases={"Quick": "Fast"}))
    label: str = param(String(default="", max_length=12))
    data: bytes = param(Block())
    H: tuple = param(
        Table(
            columns=(Double(id="c0"), Double(id="m"), Double(id="c1"), Double(id="r0"), Double(id="r1")),
            default=((0, 0.5, 1, 0, 1),) * 5, min_rows=5, max_rows=5,
        )
    )
    mean: float = param(Double(default=0.0, read_only=True, description="Output: mean before scaling."))

    def with_console_literals(self, literals: tuple[str, ...]) -> KitchenSink:
        """``--double`` doubles the count."""
        return self.evolve(count=self.count * 2) if "double" in literals else self

    def apply(self, image: Image, context: ExecutionContext) -> ProcessOutput:
        return ProcessOutput(
            image=image.with_pixels((image.pixels * self.amount).astype(image.pixels.dtype)),
            outputs={"mean": float(image.pixels.mean()), "count": self.count},
        )


@pytest.fixture
def sink() -> Any:
    """KitchenSink registered as a process for the test."""
    from procfw.registry import processes

    unregister = processes.register("KitchenSink", KitchenSink)
    yield KitchenSink
    unregister()


class Console:
    """A session with captured output: ``console("text")`` runs text and returns what it printed."""

    def __init__(self, args: tuple[str, ...] = ()) -> None:
        self.out = io.StringIO()
        self.err = io.StringIO()
        self.session = Session(out=self.out, err=self.err, args=args)

    def __call__(self, text: str, *, file: str = "<string>") -> str:
        start = self.out.tell()
        self.session.run_text(text, file=file)
        return self.out.getvalue()[start:]

    @property
    def workspace(self) -> Any:
        return self.session.workspace

    def pixels(self, view: str) -> np.ndarray:
        return self.session.workspace.view(view).image.pixels

    def add(self, view_id: str, data: Any) -> None:
        self.session.workspace.add_image(Image(np.asarray(data, dtype=np.float32)), view_id)


@pytest.fixture
def console() -> Console:
    """A fresh console session with captured output."""
    return Console()


@pytest.fixture(autouse=True)
def _quiet_plugin_warnings() -> Any:
    """Processes of the library still being written fail to load; that is not these tests' concern."""
    import warnings

    from procfw.registry import PluginWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        yield
