"""Helpers of the ImageCalibration process: masters, dark optimization, overscan, the calibration itself."""
