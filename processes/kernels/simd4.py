"""Four float64 lanes at a time in compiled (numba) code: explicit LLVM vector operations.

numba leaves LLVM's SLP vectoriser off, so scalar code that does the same thing to four
values (the channels of a pixel) stays scalar.  These intrinsics give such code vector
instructions: a 4-vector is a ``UniTuple(float64, 4)`` that the intrinsics turn into an LLVM
``<4 x double>`` and back (the round trips fold away once inlined).  Each lane is an IEEE
operation of its own — no fast-math flags, no fused multiply-add (unless the calling kernel asks
LLVM to fuse: ``fastmath={"contract"}``) — so the lanes hold exactly what the scalar operations give:

:func:`load4`
    four consecutive values of a 1-D C-contiguous float64 array;
:func:`add4`, :func:`sub4`, :func:`mul4`, :func:`div4`
    lane-wise arithmetic; a float operand stands for four equal lanes; :func:`neg4` the negation;
:func:`eq4`, :func:`ne4`, :func:`gt4`, :func:`ge4`
    lane-wise comparisons, a mask of four booleans;
:func:`where4`
    lane-wise selection by a mask.

Import it only from compiled kernel modules (it imports numba and llvmlite).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["MASK4", "VEC4", "add4", "div4", "eq4", "ge4", "gt4", "load4", "mul4", "ne4", "neg4", "store4", "sub4",
           "where4"]

VEC4 = types.UniTuple(types.float64, 4)
"""The numba type of a 4-vector."""

MASK4 = types.UniTuple(types.boolean, 4)
"""The numba type of a lane mask (what the comparisons give, what :func:`where4` selects by)."""

_DOUBLE = ir.DoubleType()
_LLVM_VEC4 = ir.VectorType(_DOUBLE, 4)
_I32 = ir.IntType(32)


def _to_vector(builder: ir.IRBuilder, value: ir.Value, lane_type: ir.Type = _DOUBLE) -> ir.Value:
    """The 4-tuple ``value`` (lanes of ``lane_type``) as an LLVM vector."""
    vector = ir.Constant(ir.VectorType(lane_type, 4), ir.Undefined)
    for lane in range(4):
        vector = builder.insert_element(vector, builder.extract_value(value, lane), ir.Constant(_I32, lane))
    return vector


def _to_tuple(context, builder: ir.IRBuilder, vector: ir.Value, kind: types.Type = VEC4) -> ir.Value:
    """The LLVM 4-lane ``vector`` as numba's 4-tuple ``kind`` (:data:`VEC4` or :data:`MASK4`)."""
    value = cgutils.get_null_value(context.get_value_type(kind))
    for lane in range(4):
        value = builder.insert_value(value, builder.extract_element(vector, ir.Constant(_I32, lane)), lane)
    return value


def _operand(context, builder: ir.IRBuilder, value: ir.Value, kind: types.Type) -> ir.Value:
    """A :data:`VEC4` operand as a ``<4 x double>``, a float scalar splat into one."""
    if kind == VEC4:
        return _to_vector(builder, value)
    scalar = context.cast(builder, value, kind, types.float64)
    splat = builder.insert_element(ir.Constant(_LLVM_VEC4, ir.Undefined), scalar, ir.Constant(_I32, 0))
    return builder.shuffle_vector(splat, splat, ir.Constant(ir.VectorType(_I32, 4), [0, 0, 0, 0]))


def _lanes(a: types.Type, b: types.Type, vector: bool = True) -> bool:
    """Whether ``(a, b)`` are operands of a lane-wise operation: 4-vectors or floats (with ``vector``, one
    a vector at least)."""
    return all(t == VEC4 or isinstance(t, types.Float) for t in (a, b)) and (VEC4 in (a, b) or not vector)


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
def store4(typingctx, array, index, vector):
    """``array[index : index + 4] = vector`` in a 1-D C-contiguous float64 ``array`` (no bounds check)."""
    if not (isinstance(array, types.Array) and array.ndim == 1 and array.layout == "C"
            and array.dtype == types.float64 and isinstance(index, types.Integer) and vector == VEC4):
        return None

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        pointer = builder.bitcast(builder.gep(data, [args[1]]), _LLVM_VEC4.as_pointer())
        builder.store(_to_vector(builder, args[2]), pointer, align=8)
        return context.get_dummy_value()

    return types.none(array, index, vector), codegen


def _arithmetic(instruction: str, doc: str):
    """An intrinsic ``f(a, b)`` applying the IRBuilder ``instruction`` (``fadd``, ``fmul``, …) lane by lane;
    a float operand stands for four equal lanes."""

    @intrinsic
    def operation(typingctx, a, b):
        if not _lanes(a, b):
            return None

        def codegen(context, builder, signature, args):
            x, y = (_operand(context, builder, v, t) for v, t in zip(args, signature.args, strict=True))
            return _to_tuple(context, builder, getattr(builder, instruction)(x, y))

        return VEC4(a, b), codegen

    operation.__doc__ = doc
    return operation


def _comparison(op: str, doc: str):
    """An intrinsic ``f(a, b)``: the lane-wise comparison ``a op b`` as a :data:`MASK4` (Python's
    semantics: with a NaN, ``!=`` holds and every other comparison fails)."""

    @intrinsic
    def operation(typingctx, a, b):
        if not _lanes(a, b):
            return None

        def codegen(context, builder, signature, args):
            x, y = (_operand(context, builder, v, t) for v, t in zip(args, signature.args, strict=True))
            compare = builder.fcmp_unordered if op == "!=" else builder.fcmp_ordered
            return _to_tuple(context, builder, compare(op, x, y), MASK4)

        return MASK4(a, b), codegen

    operation.__doc__ = doc
    return operation


@intrinsic
def where4(typingctx, mask, a, b):
    """``a`` in the lanes where ``mask`` (a :data:`MASK4`) holds, ``b`` elsewhere (each a 4-vector or a float)."""
    if mask != MASK4 or not _lanes(a, b, vector=False):
        return None

    def codegen(context, builder, signature, args):
        condition = _to_vector(builder, args[0], ir.IntType(1))
        x, y = (_operand(context, builder, v, t) for v, t in zip(args[1:], signature.args[1:], strict=True))
        return _to_tuple(context, builder, builder.select(condition, x, y))

    return VEC4(mask, a, b), codegen


@intrinsic
def neg4(typingctx, vector):
    """``−vector``, lane by lane (the sign flipped, zeros and NaNs included)."""
    if vector != VEC4:
        return None

    def codegen(context, builder, signature, args):
        return _to_tuple(context, builder, builder.fneg(_to_vector(builder, args[0])))

    return VEC4(vector), codegen


add4 = _arithmetic("fadd", "``a + b``, lane by lane.")
sub4 = _arithmetic("fsub", "``a − b``, lane by lane.")
mul4 = _arithmetic("fmul", "``a × b``, lane by lane.")
div4 = _arithmetic("fdiv", "``a / b``, lane by lane.")
eq4 = _comparison("==", "``a == b``, lane by lane.")
ne4 = _comparison("!=", "``a != b``, lane by lane.")
gt4 = _comparison(">", "``a > b``, lane by lane.")
ge4 = _comparison(">=", "``a >= b``, lane by lane.")
