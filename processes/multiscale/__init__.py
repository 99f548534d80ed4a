"""Multiscale processing (PixInsight's MultiscaleProcessing and Convolution families).

``wavelets``
    MultiscaleLinearTransform, ATrousWaveletTransform;
``median``
    MultiscaleMedianTransform;
``convolution``
    Convolution, UnsharpMask;
``hdr``
    HDRMultiscaleTransform;
``lhe``
    LocalHistogramEqualization;
``common``
    what they share (parameter kinds, target components, linear mask, thresholding).

The transforms themselves are :mod:`processes.kernels.multiscale`.
"""
