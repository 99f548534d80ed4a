"""Four float64 lanes at a time in compiled (numba) code: explicit LLVM vector operations.

numba leaves LLVM's SLP vectoriser off, so scalar code that does the same thing to four
values (the channels of a pixel) stays scalar.  These intrinsics give such code vector
instructions: a 4-vector is a ``UniTuple(float64, 4)`` that the intrinsics turn into an LLVM
``<4 x double>`` and back (the round trips fold away once inlined).  Each lane is an IEEE
operation of its own — no fast-math flags, no fused multiply-add — so the lanes hold exactly
what the scalar operations give:

:func:`load4`
    four consecutive values of a 1-D C-contiguous float64 array;
:func:`mul4`
    each lane times one scalar;
:func:`add4`
    lane-wise sum; :func:`sub4` the difference.

Import it only from compiled kernel modules (it imports numba and llvmlite).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["VEC4", "add4", "load4", "mul4", "sub4"]

VEC4 = types.UniTuple(types.float64, 4)
"""The numba type of a 4-vector."""

_LLVM_VEC4 = ir.VectorType(ir.DoubleType(), 4)
_I32 = ir.IntType(32)


def _to_vector(builder: ir.IRBuilder, value: ir.Value) -> ir.Value:
    """The ``[4 x double]`` tuple ``value`` as a ``<4 x double>`` vector."""
    vector = ir.Constant(_LLVM_VEC4, ir.Undefined)
    for lane in range(4):
        vector = builder.insert_element(vector, builder.extract_value(value, lane), ir.Constant(_I32, lane))
    return vector


def _to_tuple(context, builder: ir.IRBuilder, vector: ir.Value) -> ir.Value:
    """The ``<4 x double>`` ``vector`` as numba's ``UniTuple(float64, 4)``."""
    value = cgutils.get_null_value(context.get_value_type(VEC4))
    for lane in range(4):
        value = builder.insert_value(value, builder.extract_element(vector, ir.Constant(_I32, lane)), lane)
    return value


@intrinsic
def load4(typingctx, array, index):
    """``(array[index], …, array[index + 3])`` of a 1-D C-contiguous float64 ``array`` (no bounds check)."""
    if not (isinstance(array, types.Array) and array.ndim == 1 and array.layout == "C"
            and array.dtype == types.float64 and isinstance(index, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        pointer = builder.bitcast(builder.gep(data, [args[1]]), _LLVM_VEC4.as_pointer())
        return _to_tuple(context, builder, builder.load(pointer, align=8))

    return VEC4(array, index), codegen


@intrinsic
def mul4(typingctx, vector, scalar):
    """``vector`` times ``scalar``, lane by lane."""
    if vector != VEC4 or not isinstance(scalar, types.Float):
        return None

    def codegen(context, builder, signature, args):
        value = context.cast(builder, args[1], signature.args[1], types.float64)
        splat = builder.insert_element(ir.Constant(_LLVM_VEC4, ir.Undefined), value, ir.Constant(_I32, 0))
        splat = builder.shuffle_vector(splat, splat, ir.Constant(ir.VectorType(_I32, 4), [0, 0, 0, 0]))
        return _to_tuple(context, builder, builder.fmul(_to_vector(builder, args[0]), splat))

    return VEC4(vector, types.float64), codegen


def _lanewise(instruction: str, doc: str):
    """An intrinsic ``f(a, b)`` applying the IRBuilder ``instruction`` (``fadd``, ``fsub``) lane by lane."""

    @intrinsic
    def operation(typingctx, a, b):
        if a != VEC4 or b != VEC4:
            return None

        def codegen(context, builder, signature, args):
            vector = getattr(builder, instruction)(_to_vector(builder, args[0]), _to_vector(builder, args[1]))
            return _to_tuple(context, builder, vector)

        return VEC4(a, b), codegen

    operation.__doc__ = doc
    return operation


add4 = _lanewise("fadd", "``a + b``, lane by lane.")
sub4 = _lanewise("fsub", "``a − b``, lane by lane.")
