"""procfw's built-in process library, one package per process family.

``calibration``, ``debayer``, ``staralignment``, ``integration`` (pre-processing);
``intensity``, ``color``, ``geometry``, ``morphology``, ``pixelmath``, ``utility`` (the other
processes);
``simulation`` (procfw's simulators); ``workflows`` (console commands that chain processes).
Shared numeric kernels live in the public :mod:`processes.kernels`; non-numeric helpers
shared by several families in :mod:`processes.common`.  Package ``__init__`` modules import
nothing, so looking up one process never loads its family's neighbours.
"""
