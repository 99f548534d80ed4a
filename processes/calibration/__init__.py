"""Calibration: ImageCalibration (imagecalibration; masters, dark optimization and overscan in
engine, darkopt, frames) and CosmeticCorrection (cosmetic, cosmetic_nb).
"""
