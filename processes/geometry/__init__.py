"""Geometry: DynamicCrop, Resample, IntegerResample, FastRotation (transforms)."""
