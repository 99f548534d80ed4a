"""The PixelMath function catalogue: names, aliases, argument counts and one-line descriptions.

This is PixInsight's function table (PCL PixelMath module 1.9, ``Function.h``); the parser
uses it to resolve aliases, check argument counts and suggest names, the evaluator to
dispatch.  ``kind`` groups functions by how they evaluate:

``map``        element-wise on pixel values (``abs``, ``mtf``, ``iif``...)
``stat``       statistics of an argument list, or of an image (``mean($T)``)
``pixelwise``  image-only per-pixel colour functions (``CIEL($T)``, ``H($T)``...)
``info``       image geometry (``width()``, ``iscolor()``...)
``coord``      functions of the pixel position (``x()``, ``rdist()``, ``inrect(...)``...)
``random``     random deviates (``random()``, ``gauss()``...)
``pixel``      ``pixel(image, x, y[, c])``
``generator``  image generators (``gconv``, ``medfilt``, ``combine``...)
``token``      symbolic arguments of generators (``op_screen()``, ``str_circular()``...)
``astrometry`` functions of an astrometric solution (not implemented in procfw)
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

__all__ = ["FUNCTIONS", "FunctionSpec", "HINTS", "lookup", "suggest_function"]

MANY = 1 << 30


@dataclass(frozen=True)
class FunctionSpec:
    """One PixelMath function: canonical name, aliases, argument counts, kind, signature, summary."""

    name: str
    kind: str
    min_args: int
    max_args: int
    signature: str
    summary: str
    aliases: tuple[str, ...] = ()

    def arity_error(self, n: int) -> str | None:
        """PixInsight's message when ``n`` arguments are not acceptable, else None."""
        if n < self.min_args:
            return f"the {self.name} function requires at least {self.min_args} argument(s): {self.signature}"
        if n > self.max_args:
            if self.max_args == 0:
                return f"the {self.name} function does not take arguments: {self.signature}"
            return f"the {self.name} function does not take more than {self.max_args} argument(s): {self.signature}"
        return None


def _f(name: str, kind: str, lo: int, hi: int, signature: str, summary: str, aliases: str = "") -> FunctionSpec:
    return FunctionSpec(name, kind, lo, hi, signature, summary, tuple(a for a in aliases.split(",") if a))


_STAT = "{0}(a, b[, ...]) | {0}(image[, x0, y0, w, h])"

_TABLE = [
    # -- element-wise mathematics ----------------------------------------------------------
    _f("abs", "map", 1, 1, "abs(x)", "absolute value", "Abs"),
    _f("acos", "map", 1, 1, "acos(x)", "arc cosine", "ArcCos"),
    _f("acosh", "map", 1, 1, "acosh(x)", "hyperbolic arc cosine", "ArcCosh"),
    _f("asin", "map", 1, 1, "asin(x)", "arc sine", "ArcSin"),
    _f("asinh", "map", 1, 1, "asinh(x)", "hyperbolic arc sine", "ArcSinh"),
    _f("atan", "map", 1, 2, "atan(y[, x=1])", "arc tangent of y/x (quadrant-aware with two arguments)", "ArcTan"),
    _f("atanh", "map", 1, 1, "atanh(x)", "hyperbolic arc tangent", "ArcTanh"),
    _f("ceil", "map", 1, 1, "ceil(x)", "lowest integer >= x", "Ceil"),
    _f("cos", "map", 1, 1, "cos(x)", "cosine", "Cos"),
    _f("cosh", "map", 1, 1, "cosh(x)", "hyperbolic cosine", "Cosh"),
    _f("exp", "map", 1, 1, "exp(x)", "e raised to x", "Exp"),
    _f("floor", "map", 1, 1, "floor(x)", "highest integer <= x", "Floor"),
    _f("frac", "map", 1, 1, "frac(x)", "fractional part of x, in (-1,+1)", "Frac"),
    _f("ln", "map", 1, 1, "ln(x)", "natural logarithm", "Ln"),
    _f("log", "map", 1, 1, "log(x)", "base-10 logarithm", "log10,Log10,Log"),
    _f("log2", "map", 1, 1, "log2(x)", "base-2 logarithm", "Log2"),
    _f("mtf", "map", 2, 2, "mtf(m, x)", "midtones transfer function of x for midtones balance m", "MTF"),
    _f("pi", "map", 0, 0, "pi()", "the constant pi", "Pi,PI"),
    _f("range", "map", 3, 3, "range(x, a, b)", "x constrained to [a, b]"),
    _f("rescale", "map", 3, 3, "rescale(x, a, b)", "x rescaled linearly from [a, b] to [0, 1]"),
    _f("round", "map", 1, 2, "round(x[, n=0])", "x rounded to n decimal digits", "Round"),
    _f("sign", "map", 1, 1, "sign(x)", "-1, 0 or +1", "Sign"),
    _f("sin", "map", 1, 1, "sin(x)", "sine", "Sin"),
    _f("sinh", "map", 1, 1, "sinh(x)", "hyperbolic sine", "Sinh"),
    _f("sqrt", "map", 1, 1, "sqrt(x)", "square root", "Sqrt"),
    _f("tan", "map", 1, 1, "tan(x)", "tangent", "Tan"),
    _f("tanh", "map", 1, 1, "tanh(x)", "hyperbolic tangent", "Tanh"),
    _f("trunc", "map", 1, 1, "trunc(x)", "integer part of x", "Trunc"),
    _f("iif", "map", 3, 3, "iif(cond, expr_true, expr_false)", "expr_true where cond is nonzero, else expr_false"),
    _f(
        "iswitch", "map", 3, MANY, "iswitch(cond_1, expr_1[, ..., cond_n, expr_n], expr_default)",
        "the first expr_i whose cond_i is nonzero, else expr_default",
    ),
    _f("sum", "map", 2, MANY, "sum(a, b[, ...])", "sum of the arguments", "Sum"),
    _f("maxdev", "map", 3, MANY, "maxdev(a, b, c[, ...])", "maximum absolute deviation from the median",
       "maxDev,MaxDev"),
    # -- statistics of argument lists or images ---------------------------------------------
    _f("mean", "stat", 1, MANY, _STAT.format("mean"), "arithmetic mean", "avg,Avg"),
    _f("adev", "stat", 1, MANY, _STAT.format("adev"), "average absolute deviation from the median x 1.2533",
       "avgDev,AvgDev"),
    _f("mdev", "stat", 1, MANY, _STAT.format("mdev"), "median absolute deviation from the median x 1.4826",
       "MAD,medDev,MedDev"),
    _f("bwmv", "stat", 1, MANY, _STAT.format("bwmv"), "biweight midvariance", "BWMV,biweightMidvariance"),
    _f("pbmv", "stat", 1, MANY, _STAT.format("pbmv"), "percentage bend midvariance", "PBMV,bendMidvariance"),
    _f("Sn", "stat", 1, MANY, _STAT.format("Sn"), "Rousseeuw-Croux Sn scale estimate x 1.1926"),
    _f("Qn", "stat", 1, MANY, _STAT.format("Qn"), "Rousseeuw-Croux Qn scale estimate x 2.2191"),
    _f("mod", "stat", 1, MANY, _STAT.format("mod"), "modulus: sum of absolute values", "modulus,Mod,Modulus"),
    _f("norm", "stat", 1, MANY, _STAT.format("norm"), "norm: sum of values", "Norm"),
    _f("ssqr", "stat", 1, MANY, _STAT.format("ssqr"), "sum of squares", "sumOfSquares,SumOfSquares"),
    _f("asqr", "stat", 1, MANY, _STAT.format("asqr"), "mean of squares", "meanOfSquares,MeanOfSquares"),
    _f("max", "stat", 1, MANY, _STAT.format("max"), "maximum", "Max,maximum"),
    _f("min", "stat", 1, MANY, _STAT.format("min"), "minimum", "Min,minimum"),
    _f("med", "stat", 1, MANY, _STAT.format("med"), "median", "Med,median"),
    _f("sdev", "stat", 1, MANY, _STAT.format("sdev"), "standard deviation", "stdDev,StdDev"),
    _f("var", "stat", 1, MANY, _STAT.format("var"), "variance", "variance,Var"),
    _f(
        "ostat", "stat", 1, MANY, "ostat(k, a, b, c[, ...]) | ostat(k, image[, x0, y0, w, h])",
        "k-th order statistic, k in [0,1] (0.5 is the median)",
    ),
    # -- per-pixel colour functions of an image ---------------------------------------------
    _f("CIEL", "pixelwise", 1, 1, "CIEL(image)", "normalized CIE L* (lightness)"),
    _f("CIEa", "pixelwise", 1, 1, "CIEa(image)", "normalized CIE a*"),
    _f("CIEb", "pixelwise", 1, 1, "CIEb(image)", "normalized CIE b*"),
    _f("CIEc", "pixelwise", 1, 1, "CIEc(image)", "normalized CIE c* (chroma)"),
    _f("CIEh", "pixelwise", 1, 1, "CIEh(image)", "normalized CIE h* (hue), in [0,1)"),
    _f("CIEhr", "pixelwise", 1, 1, "CIEhr(image)", "CIE h* in radians"),
    _f("CIEhd", "pixelwise", 1, 1, "CIEhd(image)", "CIE h* in degrees"),
    _f("CIEX", "pixelwise", 1, 1, "CIEX(image)", "normalized CIE X"),
    _f("CIEY", "pixelwise", 1, 1, "CIEY(image)", "CIE Y (relative luminance)"),
    _f("CIEZ", "pixelwise", 1, 1, "CIEZ(image)", "normalized CIE Z"),
    _f("H", "pixelwise", 1, 1, "H(image)", "normalized HSV/HSI hue, in [0,1)"),
    _f("Hr", "pixelwise", 1, 1, "Hr(image)", "hue in radians"),
    _f("Hd", "pixelwise", 1, 1, "Hd(image)", "hue in degrees"),
    _f("Sv", "pixelwise", 1, 1, "Sv(image)", "HSV saturation"),
    _f("Si", "pixelwise", 1, 1, "Si(image)", "HSI saturation"),
    _f("V", "pixelwise", 1, 1, "V(image)", "HSV value"),
    _f("I", "pixelwise", 1, 1, "I(image)", "HSI intensity"),
    _f("maxsample", "pixelwise", 1, 1, "maxsample(image)", "largest sample of the current pixel",
       "maxSample,MaxSample"),
    _f("minsample", "pixelwise", 1, 1, "minsample(image)", "smallest sample of the current pixel",
       "minSample,MinSample"),
    # -- image geometry -----------------------------------------------------------------------
    _f("width", "info", 0, 1, "width([image=$T])", "width in pixels", "w,Width"),
    _f("height", "info", 0, 1, "height([image=$T])", "height in pixels", "h,Height"),
    _f("area", "info", 0, 1, "area([image=$T])", "area in square pixels", "Area"),
    _f("channels", "info", 0, 1, "channels([image=$T])", "number of channels",
       "n,numberOfChannels,NumberOfChannels"),
    _f("iscolor", "info", 0, 1, "iscolor([image=$T])", "1 for an RGB image, 0 for grayscale", "isColor,IsColor"),
    # -- pixel position -----------------------------------------------------------------------
    _f("x", "coord", 0, 0, "x()", "current X coordinate in pixels", "xpos,xPos,XPos"),
    _f("y", "coord", 0, 0, "y()", "current Y coordinate in pixels", "ypos,yPos,YPos"),
    _f("X", "coord", 0, 0, "X()", "current normalized X coordinate in [0,1]"),
    _f("Y", "coord", 0, 0, "Y()", "current normalized Y coordinate in [0,1]"),
    _f("rdist", "coord", 0, 2, "rdist([xc, yc])", "distance to (xc, yc), default the image centre", "r,RDist"),
    _f("pangle", "coord", 0, 2, "pangle([xc, yc])", "polar angle around (xc, yc) in radians", "a,PAngle"),
    _f("d2line", "coord", 4, 4, "d2line(x1, y1, x2, y2)", "distance to the line through two points", "DistToLine"),
    _f("d2seg", "coord", 4, 4, "d2seg(x1, y1, x2, y2)", "distance to a line segment", "DistToSegment"),
    _f("xperp2line", "coord", 4, 4, "xperp2line(x1, y1, x2, y2)", "X of the foot of the perpendicular to a line",
       "XPerpToLine"),
    _f("yperp2line", "coord", 4, 4, "yperp2line(x1, y1, x2, y2)", "Y of the foot of the perpendicular to a line",
       "YPerpToLine"),
    _f("inrect", "coord", 4, 4, "inrect(x0, y0, width, height)", "1 inside the rectangle, else 0", "inRect,InRect"),
    _f("mind2rect", "coord", 4, 4, "mind2rect(x0, y0, width, height)", "distance to the nearest rectangle side inside",
       "MinDistToRect"),
    _f("maxd2rect", "coord", 4, 4, "maxd2rect(x0, y0, width, height)", "distance to the farthest rectangle side inside",
       "MaxDistToRect"),
    _f("inellipse", "coord", 4, 4, "inellipse(xc, yc, rx, ry)", "1 inside the ellipse, else 0", "inEllipse,InEllipse"),
    # -- random deviates -----------------------------------------------------------------------
    _f("random", "random", 0, 0, "random()", "uniform deviate in [0,1)", "Random,rnd"),
    _f("gauss", "random", 0, 0, "gauss()", "standard normal deviate", "Gauss"),
    _f("poisson", "random", 1, 1, "poisson(x)", "Poisson deviate of mean x (DN units)", "Poisson"),
    _f("gamma", "random", 1, 2, "gamma(k[, t=1])", "Gamma deviate, shape k, scale t", "Gamma"),
    _f("chisq", "random", 1, 1, "chisq(k)", "chi-squared deviate with k degrees of freedom", "ChiSquare"),
    _f("studentt", "random", 1, 1, "studentt(n)", "Student's t deviate with n degrees of freedom", "StudentT"),
    _f("rndselect", "random", 1, MANY, "rndselect(a, b[, ...])", "one of the arguments, chosen at random",
       "RandomSelect"),
    # -- pixel access ---------------------------------------------------------------------------
    _f("pixel", "pixel", 3, 4, "pixel(image, x, y[, c])", "sample of image at (x, y), channel c", "p,Pixel"),
    # -- image generators -----------------------------------------------------------------------
    _f("gconv", "generator", 1, 5, "gconv(image[, sigma=2[, rho=1[, theta=0[, eps=0.01]]]])",
       "convolution with an elliptical Gaussian filter"),
    _f("bconv", "generator", 1, 2, "bconv(image[, n=3])", "convolution with an n x n box filter"),
    _f("kconv", "generator", 10, MANY, "kconv(image, k11, k12, k13, k21, ..., k33[, ...])",
       "convolution with a custom square kernel (row order)"),
    _f("medfilt", "generator", 1, 3, "medfilt(image[, n=3[, str=str_square()]])", "median filter", "medfilter"),
    _f("erosion", "generator", 1, 3, "erosion(image[, n=3[, str=str_square()]])", "erosion (minimum) filter",
       "minfilt,minfilter"),
    _f("dilation", "generator", 1, 3, "dilation(image[, n=3[, str=str_square()]])", "dilation (maximum) filter",
       "maxfilt,maxfilter"),
    _f("translate", "generator", 3, 3, "translate(image, dx, dy)", "image translated by (dx, dy)"),
    _f("rotate", "generator", 2, 4, "rotate(image, angle[, cx=width()/2, cy=height()/2])",
       "image rotated by angle degrees around (cx, cy)"),
    _f("urotate", "generator", 2, 2, "urotate(image, angle)", "unclipped rotation"),
    _f("hmirror", "generator", 1, 1, "hmirror(image)", "horizontal mirror"),
    _f("vmirror", "generator", 1, 1, "vmirror(image)", "vertical mirror"),
    _f("normalize", "generator", 1, 3, "normalize(image[, a=0, b=1])", "image scaled linearly to [a, b]"),
    _f("truncate", "generator", 1, 3, "truncate(image[, a=0, b=1])", "image truncated to [a, b]"),
    _f("binarize", "generator", 1, 2, "binarize(image[, t=0.5])", "1 where image >= t, else 0"),
    _f("lvar", "generator", 1, 3, "lvar(image[, d=3[, k=krn_flat()]])", "local variance map"),
    _f("combine", "generator", 3, 3, "combine(image1, image2, op)", "image1 op image2 with an op_xxx() operator"),
    # -- symbolic arguments ---------------------------------------------------------------------
    *[
        _f(f"str_{s}", "token", 0, 0, f"str_{s}()", f"{s} structuring element for medfilt/erosion/dilation")
        for s in ("square", "circular", "orthogonal", "diagonal", "star", "threeway")
    ],
    _f("krn_flat", "token", 0, 0, "krn_flat()", "flat kernel for lvar()"),
    _f("krn_gauss", "token", 0, 0, "krn_gauss()", "Gaussian kernel for lvar()"),
    *[
        _f(f"op_{o}", "token", 0, 0, f"op_{o}()", f"{o.replace('_', ' ')} operation for combine()")
        for o in (
            "mov", "add", "sub", "mul", "div", "pow", "dif", "min", "max", "atan2", "color_burn", "linear_burn",
            "screen", "color_dodge", "overlay", "soft_light", "hard_light", "vivid_light", "linear_light",
            "pin_light", "exclusion",
        )
    ],
    # -- astrometry -----------------------------------------------------------------------------
    _f("ra", "astrometry", 3, 3, "ra(image, x, y)", "right ascension at (x, y) in degrees", "RA"),
    _f("rra", "astrometry", 3, 3, "rra(image, x, y)", "unconstrained right ascension at (x, y)", "RawRA"),
    _f("dec", "astrometry", 3, 3, "dec(image, x, y)", "declination at (x, y) in degrees", "Dec"),
]

FUNCTIONS: dict[str, FunctionSpec] = {spec.name: spec for spec in _TABLE}
"""Function specifications by canonical name."""

_INDEX: dict[str, FunctionSpec] = {}
for _spec in _TABLE:
    for _token in (_spec.name, *_spec.aliases):
        _INDEX[_token] = _spec

HINTS: dict[str, str] = {
    "pow": "PixelMath has no pow(); write x^y",
    "power": "PixelMath has no power(); write x^y",
    "atan2": "write atan(y, x) (two-argument arc tangent)",
    "lum": "use CIEL(image) for CIE L* lightness or CIEY(image) for relative luminance",
    "luminance": "use CIEL(image) for CIE L* lightness or CIEY(image) for relative luminance",
    "clip": "use range(x, a, b)",
    "clamp": "use range(x, a, b)",
    "if": "use iif(cond, a, b)",
    "e": "use exp(1)",
    "avgdev": "use adev()",
    "stddev": "use sdev()",
}


def lookup(token: str) -> FunctionSpec | None:
    """The function called ``token`` (canonical name or alias; names are case-sensitive)."""
    return _INDEX.get(token)


def suggest_function(token: str) -> str:
    """A hint for an unknown function name: a PixelMath idiom, or the nearest known names."""
    hint = HINTS.get(token.lower())
    if hint:
        return f" ({hint})"
    folded = {name.lower(): name for name in _INDEX}
    if token.lower() in folded:
        return f" (function names are case-sensitive: did you mean {folded[token.lower()]}?)"
    close = difflib.get_close_matches(token, list(_INDEX), n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(close)}?)" if close else ""
