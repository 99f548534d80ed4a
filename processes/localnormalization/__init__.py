"""LocalNormalization (PixInsight's process of the same id).

Modules: ``process`` (the process: parameters, execution on views and over files),
``model`` (the normalization functions: backgrounds, rejection, scale estimation, the
coefficient matrices) and ``backgrounds`` (the large-scale background kernels).  The
``.xnml`` file format lives in :mod:`processes.common.xnml` (ImageIntegration reads it too).
"""
