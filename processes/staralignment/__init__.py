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

from processes.staralignment.process import StarAlignment

__all__ = ["StarAlignment"]
