"""Parameter kinds of PixInsight's PSF signal evaluation, shared by the processes that declare them.

ImageCalibration and Debayer carry the same PSF signal-evaluation parameters (PCL ids,
ranges and defaults); procfw accepts and round-trips them but does not evaluate PSF signal.
"""

from __future__ import annotations

from procfw.params import Boolean, Enumeration, Float, Int32

EVALUATE_SIGNAL = Boolean(default=True, description="PSF signal evaluation (accepted; not performed).")
STRUCTURE_LAYERS = Int32(minimum=1, maximum=8, default=5,
                         description="PSF signal evaluation: structure layers (no effect).")
SATURATION_THRESHOLD = Float(minimum=0.10, maximum=1.00, default=1.00, precision=2,
                             description="PSF signal evaluation: saturation threshold (no effect).")
SATURATION_RELATIVE = Boolean(default=False, description="PSF signal evaluation: relative saturation (no effect).")
NOISE_LAYERS = Int32(minimum=0, maximum=4, default=1, description="PSF signal evaluation: noise layers (no effect).")
HOT_PIXEL_FILTER_RADIUS = Int32(minimum=0, maximum=2, default=1,
                                description="PSF signal evaluation: hot pixel filter radius (no effect).")
NOISE_REDUCTION_FILTER_RADIUS = Int32(minimum=0, maximum=50, default=0,
                                      description="PSF signal evaluation: noise reduction filter radius (no effect).")
MIN_STRUCTURE_SIZE = Int32(minimum=0, maximum=999999, default=0,
                           description="PSF signal evaluation: minimum structure size (no effect).")
PSF_TYPE = Enumeration(
    elements=("PSFType_Gaussian", "PSFType_Moffat15", "PSFType_Moffat4", "PSFType_Moffat6", "PSFType_Moffat8",
              "PSFType_MoffatA", "PSFType_Auto"),
    default="PSFType_Moffat4", description="PSF signal evaluation: PSF type (no effect).")
PSF_GROWTH = Float(minimum=0.5, maximum=4.0, default=1.0, precision=2,
                   description="PSF signal evaluation: growth factor (no effect).")
MAX_STARS = Int32(minimum=256, maximum=999999, default=24 * 1024,
                  description="PSF signal evaluation: maximum number of stars (no effect).")
