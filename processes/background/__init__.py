"""Background modelling: AutomaticBackgroundExtractor, DynamicBackgroundExtraction, GradientCorrection.

Shared pieces: :mod:`.sampling` (sample boxes on a grid, with PixInsight-style rejection of
stars and nebulosity), :mod:`.polynomial` (least-squares polynomial surfaces in normalized
coordinates), :mod:`.spline` (smoothed thin-plate splines) and :mod:`.correction`
(subtraction or division, normalization, output images).
"""
