"""StarAlignment (PixInsight's star-based image registration) and its engine.

Modules, one job each:

:mod:`~processes.staralignment.stars`
    star detection (multiscale structures, hot-pixel and shape rejection, centroids);
:mod:`~processes.staralignment.matching`
    triangle (asterism) descriptors matched by their invariants (:mod:`processes.kernels.neighbours`);
:mod:`~processes.staralignment.models`
    transformation models (rigid, similarity, affine, homography) and their fits;
:mod:`~processes.staralignment.ransac`
    RANSAC over matched triangles, guided matching and the final least-squares fit;
:mod:`~processes.staralignment.engine`
    star lists in, a registration (or the reason for failure) out;
:mod:`~processes.staralignment.resample`
    resampling a target onto the reference grid;
:mod:`~processes.staralignment.frames`
    keywords, frame adaptation and output files;
:mod:`~processes.simulation.starfield`
    synthetic star fields with known transformations (tests, demonstrations);
:mod:`~processes.staralignment.process`
    the StarAlignment process.
"""

from typing import Any

__all__ = ["StarAlignment"]


def __getattr__(name: str) -> Any:
    """``StarAlignment``, imported on first use: importing a module of the package (the workers' preload,
    :mod:`processes.staralignment.worker`, which imports the process itself with the garbage collector
    paused) does not import the process and numpy first."""
    if name == "StarAlignment":
        from processes.staralignment.process import StarAlignment

        return StarAlignment
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
