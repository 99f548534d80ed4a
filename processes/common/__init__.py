"""Helpers shared by processes that are not numeric kernels: file-list tables and the per-file loop (filelists)."""
