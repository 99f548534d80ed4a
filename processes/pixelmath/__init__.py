"""PixelMath: PixInsight's pixel expression language, evaluated on whole images with numpy.

``PixelMath`` is the process; :func:`parse` parses one expression (cached by text) into
the node classes of :mod:`processes.pixelmath.nodes`; :data:`FUNCTIONS` is the function
catalogue.  Errors are :class:`PixelMathSyntaxError` and :class:`PixelMathEvaluationError`
(both :class:`PixelMathError`, a procfw error).
"""

from processes.pixelmath.catalog import FUNCTIONS
from processes.pixelmath.errors import (
    NotImplementedFunctionError,
    PixelMathError,
    PixelMathEvaluationError,
    PixelMathSyntaxError,
)
from processes.pixelmath.parser import parse
from processes.pixelmath.process import PixelMath
from processes.pixelmath.symbols import parse_symbols

__all__ = [
    "FUNCTIONS",
    "NotImplementedFunctionError",
    "PixelMath",
    "PixelMathError",
    "PixelMathEvaluationError",
    "PixelMathSyntaxError",
    "parse",
    "parse_symbols",
]
