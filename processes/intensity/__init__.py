"""Intensity transformations: Invert, ScreenTransferFunction and AutoStretch (stf),
HistogramTransformation, GeneralizedHyperbolicStretch (ghs), CurvesTransformation,
ArcsinhStretch (arcsinh), MaskedStretch (maskedstretch).
"""
