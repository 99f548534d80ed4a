"""Deconvolution and noise reduction by variational methods.

Modules: ``deconvolution`` (Deconvolution: Richardson–Lucy and Van Cittert with a
parametric, motion-blur or image PSF, wavelet regularization and deringing), ``tgv``
(TGVDenoise: second-order total generalized variation denoising).
"""
