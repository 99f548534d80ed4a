"""Debayer (process) and its demosaicing kernels: bilinear, SuperPixel, VNG (demosaic, demosaic_nb)."""
