"""Numeric kernels shared by the built-in processes (MTF, robust statistics, interpolation)."""
