"""Evaluate a parsed PixelMath program over whole images with numpy.

Values are Python floats (invariant values) or arrays shaped ``(k, h, w)`` where ``k`` is
1 (gray) or 3 (RGB) and ``h``/``w`` are the output size or 1 (broadcast), so ``x()`` is
(1, 1, W), a per-channel statistic (3, 1, 1), ``$T`` on an RGB image (3, H, W).  As in
PixelMath every operation works channel by channel, a gray operand standing for all three.

Speed: temporaries are reused in place (each evaluation returns whether its array is a
fresh temporary), invariant values stay scalars, a repeated pure subexpression is
computed once, and in per-channel mode RGB operands are cut to the channel being computed.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from typing import Any

import numpy as np

from processes.kernels.mtf import mtf as mtf_kernel
from processes.pixelmath import catalog, generators
from processes.pixelmath import statistics as stats
from processes.pixelmath.errors import NotImplementedFunctionError, PixelMathEvaluationError
from processes.pixelmath.nodes import Assign, Binary, Call, Meta, Name, Node, Number, Program, Unary, walk
from processes.pixelmath.scope import Scope

__all__ = ["Evaluator", "can_slice_channels"]

Value = Any  # float | np.ndarray
Result = tuple[Value, bool]  # (value, owned): owned arrays are fresh temporaries we may overwrite

DBL_EPSILON = sys.float_info.epsilon
DBL_MAX = sys.float_info.max

_ARITH = {"+": np.add, "-": np.subtract, "*": np.multiply}
_COMPARE = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal, "==": np.equal,
            "!=": np.not_equal}
_BITWISE = {
    "&": np.bitwise_and, "|": np.bitwise_or, "&|": np.bitwise_xor,
    "!&": lambda a, b: np.invert(np.bitwise_and(a, b)),
    "!|": lambda a, b: np.invert(np.bitwise_or(a, b)),
    "!&|": lambda a, b: np.invert(np.bitwise_xor(a, b)),
}
_UFUNCS = {
    "abs": np.abs, "acos": np.arccos, "acosh": np.arccosh, "asin": np.arcsin, "asinh": np.arcsinh,
    "atanh": np.arctanh, "ceil": np.ceil, "cos": np.cos, "cosh": np.cosh, "exp": np.exp, "floor": np.floor,
    "ln": np.log, "log": np.log10, "log2": np.log2, "sign": np.sign, "sin": np.sin, "sinh": np.sinh,
    "sqrt": np.sqrt, "tan": np.tan, "tanh": np.tanh, "trunc": np.trunc,
}
_CIE = frozenset({"CIEL", "CIEa", "CIEb", "CIEc", "CIEh", "CIEhr", "CIEhd", "CIEX", "CIEY", "CIEZ"})


def _is_array(v: Value) -> bool:
    return isinstance(v, np.ndarray)


def _assignment_operator(op: str) -> str:
    return op[:-1]


def can_slice_channels(program: Program, variables: set[str], globals_: set[str]) -> bool:
    """Whether a per-channel expression may be computed on one channel of RGB operands.

    Not when it reads or writes one channel of a variable (``E7[0]``), nor when it
    accumulates a global variable (which sums all channels).
    """
    for statement in program.statements:
        for node in walk(statement):
            if isinstance(node, Name) and node.index is not None and node.id in variables:
                return False
            if isinstance(node, Assign) and node.target.id in globals_:
                return False
    return True


class Evaluator:
    """Evaluates one parsed expression in a :class:`Scope`.

    ``channel`` is the output channel when the expression computes one channel of an RGB
    image and may cut RGB operands to it (see :func:`can_slice_channels`); ``rgb_random``
    makes random functions draw independent values for the three channels.
    """

    def __init__(self, scope: Scope, program: Program, *, channel: int | None = None,
                 rgb_random: bool = False) -> None:
        self.scope = scope
        self.program = program
        self.channel = channel
        self.rgb_random = rgb_random
        self.dtype = scope.dtype
        self.big = float(np.finfo(self.dtype).max)
        self._memo: dict[int, Value] = {}
        self._canonical = self._repeated_subexpressions()

    # -- common subexpressions ---------------------------------------------------------------
    def _pure(self, node: Node) -> bool:
        for n in walk(node):
            if isinstance(n, Assign):
                return False
            if isinstance(n, Name) and n.id in self.scope.symbols and self.scope.symbols[n.id].kind != "constant":
                return False
            if isinstance(n, Call) and catalog.FUNCTIONS[n.name].kind == "random":
                return False
        return True

    def _repeated_subexpressions(self) -> dict[int, int]:
        counts: Counter[Node] = Counter()
        nodes: list[Node] = []
        for statement in self.program.statements:
            for n in walk(statement):
                if isinstance(n, (Unary, Binary, Call)) and not (isinstance(n, Call) and not n.args):
                    counts[n] += 1
                    nodes.append(n)
        repeated = {n for n, c in counts.items() if c > 1 and self._pure(n)}
        canonical: dict[Node, int] = {}
        out: dict[int, int] = {}
        for n in nodes:
            if n in repeated:
                out[id(n)] = canonical.setdefault(n, id(n))
        return out

    # -- entry point -----------------------------------------------------------------------
    def run(self) -> Value:
        """Evaluate every statement; the value of the last one is the result."""
        return self.run_result()[0]

    def run_result(self) -> Result:
        """As :meth:`run`, with whether the result is a fresh array the caller may keep and modify."""
        result: Result = (0.0, False)
        with np.errstate(all="ignore"):
            for statement in self.program.statements:
                result = self.eval(statement)
        return result

    def eval(self, node: Node) -> Result:
        """Evaluate ``node``: (value, owned)."""
        key = self._canonical.get(id(node))
        if key is not None:
            if key in self._memo:
                return self._memo[key], False
            value, _ = self._eval(node)
            self._memo[key] = value
            return value, False
        return self._eval(node)

    def _eval(self, node: Node) -> Result:
        if isinstance(node, Number):
            return node.value, False
        if isinstance(node, Binary):
            return self.binary(node.op, self.eval(node.left), self.eval(node.right), node.pos)
        if isinstance(node, Name):
            return self.name(node)
        if isinstance(node, Meta):
            image_id = self.scope.meta_image_id(node.id, node.pos)
            return self.image_value(image_id, node.index, node.pos, f"${node.id}"), False
        if isinstance(node, Unary):
            return self.unary(node.op, self.eval(node.operand))
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Assign):
            return self.assign(node)
        raise PixelMathEvaluationError(f"cannot evaluate {type(node).__name__}")

    # -- values ----------------------------------------------------------------------------
    def _component(self, value: Value) -> Value:
        if self.channel is not None and _is_array(value) and value.ndim == 3 and value.shape[0] == 3:
            return value[self.channel : self.channel + 1]
        return value

    def _num(self, r: Result) -> Result:
        value, owned = r
        if _is_array(value) and value.dtype != self.dtype:
            return value.astype(self.dtype), True
        if isinstance(value, (bool, np.bool_, np.floating, np.integer)):
            return float(value), False
        return value, owned

    def _out(self, shape: tuple[int, ...], *candidates: Result) -> np.ndarray | None:
        for value, owned in candidates:
            if owned and _is_array(value) and value.shape == shape and value.dtype == self.dtype:
                return value
        return None

    def _full(self, shape: tuple[int, ...], fill: float) -> np.ndarray:
        return np.full(shape, fill, dtype=self.dtype)

    def name(self, node: Name) -> Result:
        """A symbol's value or an image's pixels."""
        symbol = self.scope.symbols.get(node.id)
        if symbol is None:
            return self.image_value(node.id, node.index, node.pos, node.id), False
        value = symbol.value
        if symbol.kind == "global":
            value = float(symbol.accumulator.value[0]) if symbol.accumulator is not None else value
        if node.index is not None:
            if node.index > 2:
                raise PixelMathEvaluationError(f"channel index out of range: {node.id}[{node.index}]", pos=node.pos)
            if _is_array(value) and value.shape[0] == 3:
                return value[node.index : node.index + 1], False
            return value, False
        return self._component(value), False

    def image_value(self, image_id: str, index: int | None, pos: int, label: str) -> Value:
        """The pixels of an image (RGB, gray, or one channel with ``index``)."""
        planes = self.scope.planes(image_id, pos)
        if index is not None:
            if index >= planes.shape[0]:
                raise PixelMathEvaluationError(f"channel index out of range: {label}[{index}]", pos=pos)
            return planes[index : index + 1]
        return self._component(planes[:3] if planes.shape[0] >= 3 else planes[:1])

    # -- operators -------------------------------------------------------------------------
    def unary(self, op: str, r: Result) -> Result:
        """A prefix operator."""
        if op == "!":
            value = r[0]
            if not _is_array(value):
                return (1.0 if value == 0 else 0.0), False
            return (np.logical_not(value) if value.dtype == np.bool_ else value == 0), True
        value, owned = self._num(r)
        if op == "+":
            return value, owned
        if not _is_array(value):
            return (-value if op == "-" else 1.0 - value), False
        out = value if owned else None
        if op == "-":
            return np.negative(value, out=out), True
        return np.subtract(1, value, out=out, dtype=self.dtype), True  # "~"

    def _arith(self, ufunc: Any, a: Result, b: Result) -> Result:
        a, b = self._num(a), self._num(b)
        if not _is_array(a[0]) and not _is_array(b[0]):
            return float(ufunc(a[0], b[0])), False
        shape = np.broadcast_shapes(np.shape(a[0]), np.shape(b[0]))
        out = self._out(shape, a, b)
        return ufunc(a[0], b[0], out=out), True

    def binary(self, op: str, a: Result, b: Result, pos: int = 0) -> Result:
        """A binary operator, with PixelMath's conventions for division by zero and so on."""
        ufunc = _ARITH.get(op)
        if ufunc is not None:
            return self._arith(ufunc, a, b)
        if op == "/":
            return self._divide(a, b)
        if op == "^":
            return self._power(a, b)
        if op == "--":
            value, _ = self._arith(np.subtract, a, b)
            if not _is_array(value):
                return abs(value), False
            return np.abs(value, out=value), True
        if op == "%":
            return self._modulus(a, b)
        compare = _COMPARE.get(op)
        if compare is not None:
            a, b = self._num(a), self._num(b)
            if not _is_array(a[0]) and not _is_array(b[0]):
                return (1.0 if compare(a[0], b[0]) else 0.0), False
            return compare(a[0], b[0]), True
        if op in ("&&", "||"):
            ta, tb = self._truth(a[0]), self._truth(b[0])
            func = np.logical_and if op == "&&" else np.logical_or
            if not _is_array(ta) and not _is_array(tb):
                return (1.0 if func(ta, tb) else 0.0), False
            return func(ta, tb), True
        bitwise = _BITWISE.get(op)
        if bitwise is not None:
            ia, ib = self._integer(a[0]), self._integer(b[0])
            result = bitwise(ia, ib)
            if not _is_array(result):
                return float(result), False
            return result.astype(self.dtype), True
        raise PixelMathEvaluationError(f"operator '{op}' is not implemented", pos=pos)

    @staticmethod
    def _truth(value: Value) -> Value:
        if _is_array(value):
            return value if value.dtype == np.bool_ else value != 0
        return value != 0

    @staticmethod
    def _integer(value: Value) -> Value:
        if _is_array(value):
            v = np.nan_to_num(value.astype(np.float64), nan=0.0, posinf=2**62, neginf=-(2**62))
            return np.trunc(np.clip(v, -(2**62), 2**62)).astype(np.int64)
        if not math.isfinite(value):
            return 0 if math.isnan(value) else int(math.copysign(2**62, value))
        return int(max(-(2**62), min(2**62, math.trunc(value))))

    def _divide(self, a: Result, b: Result) -> Result:
        a, b = self._num(a), self._num(b)
        bv = b[0]
        if not _is_array(bv):
            if abs(bv) <= DBL_EPSILON:  # PixelMath: division by zero gives the largest number
                if _is_array(a[0]):
                    return self._full(a[0].shape, self.big), True
                return DBL_MAX, False
            return self._arith(np.true_divide, a, b)
        low, high = float(bv.min()), float(bv.max())
        tiny = None
        if not (low > DBL_EPSILON or high < -DBL_EPSILON):  # before dividing: the result may reuse b
            tiny = (bv <= DBL_EPSILON) & (bv >= -DBL_EPSILON)
        result, _ = self._arith(np.true_divide, a, b)
        if tiny is not None:
            if result.shape != np.broadcast_shapes(result.shape, tiny.shape):
                result = np.broadcast_to(result, np.broadcast_shapes(result.shape, tiny.shape)).copy()
            np.copyto(result, self.big, where=tiny)
        return result, True

    def _modulus(self, a: Result, b: Result) -> Result:
        a, b = self._num(a), self._num(b)
        bv = b[0]
        if not _is_array(bv) and abs(bv) <= DBL_EPSILON:  # PixelMath: x % 0 is 0
            if _is_array(a[0]):
                return self._full(a[0].shape, 0.0), True
            return 0.0, False
        if not _is_array(a[0]) and not _is_array(bv):
            return float(np.fmod(np.float64(a[0]), np.float64(bv))), False
        tiny = (bv <= DBL_EPSILON) & (bv >= -DBL_EPSILON) if _is_array(bv) else None
        result, _ = self._arith(np.fmod, a, b)
        if tiny is not None:
            if tiny.any():
                result = np.broadcast_to(result, np.broadcast_shapes(np.shape(result), tiny.shape)).copy()
                np.copyto(result, 0, where=tiny)
        return result, True

    def _power(self, a: Result, b: Result) -> Result:
        a, b = self._num(a), self._num(b)
        base, exponent = a[0], b[0]
        if not _is_array(base) and not _is_array(exponent):
            return float(np.power(np.float64(base), np.float64(exponent))), False
        if _is_array(base) and not _is_array(exponent):
            out = base if a[1] else None
            if exponent == 2:
                return np.multiply(base, base, out=out), True
            if exponent == 1:
                return base, a[1]
            if exponent == 0.5:
                return np.sqrt(base, out=out), True
            if exponent == 0:
                return self._full(base.shape, 1.0), True
        return self._arith(np.power, a, b)

    # -- assignment ------------------------------------------------------------------------
    def assign(self, node: Assign) -> Result:
        """``variable op= value``: variables and globals declared in the symbols parameter."""
        target = node.target
        symbol = self.scope.symbols.get(target.id)
        if symbol is None or symbol.kind == "constant":
            why = "is a constant" if symbol is not None else "is not a declared variable"
            raise PixelMathEvaluationError(
                f"cannot assign to '{target.id}': it {why}; declare variables in the symbols parameter, "
                f"e.g. symbols = \"{target.id}\" (or \"{target.id} = init(0)\")", pos=target.pos,
            )
        value, owned = self._num(self.eval(node.value))
        if symbol.kind == "global":
            return self._accumulate(symbol, node, value)
        if node.op != "=":
            current = (symbol.value, False)
            if target.index is not None:
                current = self.name(Name(target.id, target.index, target.pos))
            value, owned = self.binary(_assignment_operator(node.op), current, (value, owned), node.pos)
            value, owned = self._num((value, owned))
        if target.index is not None:
            if target.index > 2:
                raise PixelMathEvaluationError(f"channel index out of range: {target.id}[{target.index}]",
                                               pos=target.pos)
            old = np.asarray(symbol.value, dtype=self.dtype).reshape(-1, *np.shape(symbol.value)[-2:]) \
                if _is_array(symbol.value) else np.full((1, 1, 1), symbol.value, dtype=self.dtype)
            new = value if _is_array(value) else np.full((1, 1, 1), value, dtype=self.dtype)
            shape = np.broadcast_shapes((3, *old.shape[1:]), (1, *new.shape[1:]))
            full = np.empty(shape, dtype=self.dtype)
            full[...] = old
            full[target.index] = new[target.index if new.shape[0] == 3 else 0]
            symbol.value = full
            return full, False
        symbol.value = value
        return value, False

    def _accumulate(self, symbol: Any, node: Assign, value: Value) -> Result:
        if node.op not in ("+=", "-=", "*=", "/="):
            kind = "additive (+=, -=)" if symbol.accumulator.op == "+" else "multiplicative (*=, /=)"
            raise PixelMathEvaluationError(
                f"global variable '{symbol.name}' requires an {kind} assignment operator", pos=node.pos
            )
        if (node.op in ("+=", "-=")) != (symbol.accumulator.op == "+"):
            kind = "additive (+=, -=)" if symbol.accumulator.op == "+" else "multiplicative (*=, /=)"
            raise PixelMathEvaluationError(
                f"global variable '{symbol.name}' requires an {kind} assignment operator", pos=node.pos
            )
        g = self.scope.geometry
        if _is_array(value):
            k = value.shape[0]
            full = np.broadcast_to(value, (k, g.height, g.width)).astype(np.float64)
            per_channel = full.sum(axis=(1, 2)) if node.op in ("+=", "-=") else full.prod(axis=(1, 2))
            contribution = np.broadcast_to(per_channel, (3,)) if k == 1 else per_channel[:3]
        else:
            n = g.height * g.width
            total = value * n if node.op in ("+=", "-=") else np.power(np.float64(value), n)
            contribution = np.full(3, float(total))
        symbol.accumulator.accumulate(node.op, np.asarray(contribution, dtype=np.float64))
        return float(symbol.accumulator.value[0]), False

    # -- functions -------------------------------------------------------------------------
    def call(self, node: Call) -> Result:
        """Dispatch a function call by its kind."""
        spec = catalog.FUNCTIONS[node.name]
        return getattr(self, f"_call_{spec.kind}")(node)

    def _scalar(self, node: Node, function: str, position: int) -> float:
        value, _ = self._num(self.eval(node))
        if _is_array(value):
            if value.size == 1:
                return float(value.reshape(-1)[0])
            raise PixelMathEvaluationError(
                f"{function}() argument #{position} must be a constant (an invariant scalar), not a per-pixel value",
                pos=node.pos,
            )
        return float(value)

    def _is_image(self, node: Node) -> bool:
        if isinstance(node, Meta):
            return True
        if isinstance(node, Name):
            return node.id not in self.scope.symbols
        return isinstance(node, Call) and catalog.FUNCTIONS[node.name].kind == "generator"

    def _image_id(self, node: Node) -> str:
        if isinstance(node, Meta):
            return self.scope.meta_image_id(node.id, node.pos)
        assert isinstance(node, Name)
        return node.id

    def _source_pixels(self, node: Node, function: str) -> np.ndarray:
        """The full-resolution pixels of an image argument (an image, a metasymbol or a generator)."""
        if isinstance(node, Call):
            return self._generate(node)
        if not self._is_image(node):
            raise PixelMathEvaluationError(
                f"{function}() argument #1 must be an image (an image id, $T or an image generator)", pos=node.pos
            )
        pixels = self.scope.image(self._image_id(node), node.pos).pixels
        index = node.index  # type: ignore[union-attr]
        if index is not None:
            if index >= pixels.shape[0]:
                raise PixelMathEvaluationError(f"channel index out of range: {self._image_id(node)}[{index}]",
                                               pos=node.pos)
            return pixels[index : index + 1]
        return pixels

    def _matched_pixels(self, node: Node, function: str) -> np.ndarray:
        """An image argument matched to the output geometry (all its channels)."""
        if isinstance(node, Call):
            return self.scope.match(self._generate(node))
        if not self._is_image(node) or getattr(node, "index", None) is not None:
            raise PixelMathEvaluationError(
                f"{function}() takes a single image reference argument without a channel index", pos=node.pos
            )
        return self.scope.planes(self._image_id(node), node.pos)

    def _call_map(self, node: Call) -> Result:
        name, args = node.name, node.args
        if name in _UFUNCS:
            value, owned = self._num(self.eval(args[0]))
            if not _is_array(value):
                return float(_UFUNCS[name](np.float64(value))), False
            return _UFUNCS[name](value, out=value if owned else None), True
        if name == "pi":
            return math.pi, False
        if name == "frac":
            value, owned = self._num(self.eval(args[0]))
            if not _is_array(value):
                return value - math.trunc(value) if math.isfinite(value) else math.nan, False
            whole = np.trunc(value)
            return np.subtract(value, whole, out=whole), True
        if name == "atan":
            if len(args) == 1:
                value, owned = self._num(self.eval(args[0]))
                if not _is_array(value):
                    return math.atan(value), False
                return np.arctan(value, out=value if owned else None), True
            return self._arith(np.arctan2, self.eval(args[0]), self.eval(args[1]))
        if name == "round":
            return self._round(node)
        if name == "mtf":
            return self._mtf(self._num(self.eval(args[0])), self._num(self.eval(args[1])))
        if name == "iif":
            return self._iif(args)
        if name == "iswitch":
            return self._iswitch(node)
        if name == "range":
            return self._range(*(self._num(self.eval(a)) for a in args))
        if name == "rescale":
            return self._rescale(*(self._num(self.eval(a)) for a in args))
        if name == "sum":
            total = self._num(self.eval(args[0]))
            for a in args[1:]:
                total = self._arith(np.add, total, self.eval(a))
            return total
        if name == "maxdev":
            return self._list_statistic("maxdev", [self._num(self.eval(a))[0] for a in args])
        raise NotImplementedFunctionError(f"function {name}() is not implemented", pos=node.pos)

    def _round(self, node: Call) -> Result:
        value, owned = self._num(self.eval(node.args[0]))
        digits = 0
        if len(node.args) > 1:
            arg = node.args[1]
            if not isinstance(arg, Number) or arg.value != int(arg.value):
                raise PixelMathEvaluationError(
                    "round() argument #2: the number of decimal digits must be an integer literal", pos=arg.pos
                )
            digits = int(arg.value)
        scale = 10.0 ** max(-300, min(300, digits))
        if not _is_array(value):
            if not math.isfinite(value):
                return value, False
            return math.copysign(math.floor(abs(value) * scale + 0.5), value) / scale, False
        magnitude = np.abs(value)
        if digits:
            magnitude *= self.dtype.type(scale)
        magnitude += self.dtype.type(0.5)
        np.floor(magnitude, out=magnitude)
        if digits:
            magnitude /= self.dtype.type(scale)
        return np.copysign(magnitude, value, out=magnitude), True

    def _mtf(self, m: Result, x: Result) -> Result:
        mv, xv = m[0], x[0]
        if not _is_array(mv) and not _is_array(xv):
            return float(mtf_kernel(mv, xv)), False
        m_values = np.asarray(mv, dtype=np.float64)
        if _is_array(xv) and m_values.size <= 3 and bool(np.all((m_values > 0) & (m_values < 1))):
            # fast path: 0 < m < 1, so the denominator (2m-1)x - m < 0 on [0, 1]; clipping x
            # to [0, 1] reproduces mtf(m, 0) = 0 and mtf(m, 1) = 1
            mm = mv if not _is_array(mv) else mv.astype(self.dtype)
            shape = np.broadcast_shapes(xv.shape, np.shape(mm))
            if x[1] and xv.shape == shape:
                out = np.clip(xv, 0, 1, out=xv)
            else:
                out = np.clip(np.broadcast_to(xv, shape), 0, 1).astype(self.dtype, copy=False)
            den = out * (2 * mm - 1)
            den -= mm
            out *= mm - 1
            out /= den
            return out, True
        return np.asarray(mtf_kernel(mv, xv), dtype=self.dtype), True

    def _iif(self, args: tuple[Node, ...]) -> Result:
        condition, _ = self.eval(args[0])
        if not _is_array(condition):
            return self.eval(args[1] if condition != 0 else args[2])
        truth = self._truth(condition)
        a, b = self._num(self.eval(args[1])), self._num(self.eval(args[2]))
        return self._where(truth, a, b)

    def _where(self, truth: np.ndarray, a: Result, b: Result) -> Result:
        shape = np.broadcast_shapes(truth.shape, np.shape(a[0]), np.shape(b[0]))
        if b[1] and _is_array(b[0]) and b[0].shape == shape and b[0].dtype == self.dtype:
            np.copyto(b[0], a[0], where=truth)
            return b[0], True
        av = a[0] if _is_array(a[0]) else self.dtype.type(a[0])
        bv = b[0] if _is_array(b[0]) else self.dtype.type(b[0])
        return np.where(truth, av, bv).astype(self.dtype, copy=False), True

    def _iswitch(self, node: Call) -> Result:
        args = node.args
        if len(args) % 2 == 0:
            raise PixelMathEvaluationError(
                "iswitch() takes pairs of (condition, value) arguments and a default value: an odd number of "
                "arguments", pos=node.pos,
            )
        result = self._num(self.eval(args[-1]))
        for i in range(len(args) - 3, -1, -2):
            condition, _ = self.eval(args[i])
            if not _is_array(condition):
                if condition != 0:
                    result = self._num(self.eval(args[i + 1]))
                continue
            result = self._where(self._truth(condition), self._num(self.eval(args[i + 1])), result)
        return result

    def _range(self, x: Result, a: Result, b: Result) -> Result:
        xv, av, bv = x[0], a[0], b[0]
        if not _is_array(av) and not _is_array(bv) and av <= bv:
            if not _is_array(xv):
                return min(max(xv, av), bv), False
            return np.clip(xv, av, bv, out=xv if x[1] else None), True
        if not any(_is_array(v) for v in (xv, av, bv)):
            return (av if xv < av else bv if xv > bv else xv), False
        lo = av if _is_array(av) else self.dtype.type(av)
        hi = bv if _is_array(bv) else self.dtype.type(bv)
        xs = xv if _is_array(xv) else self.dtype.type(xv)
        return np.where(xs < lo, lo, np.where(xs > hi, hi, xs)).astype(self.dtype, copy=False), True

    def _rescale(self, x: Result, a: Result, b: Result) -> Result:
        xv, av, bv = x[0], a[0], b[0]
        if not _is_array(av) and not _is_array(bv):
            lo, hi = min(av, bv), max(av, bv)
            d = hi - lo
            if not _is_array(xv):
                if xv < lo or d <= DBL_EPSILON:
                    return 0.0, False
                return (1.0 if xv > hi else (xv - lo) / d), False
            if d <= DBL_EPSILON:
                return self._full(xv.shape, 0.0), True
            out = np.subtract(xv, lo, out=xv if x[1] else None)
            out /= self.dtype.type(d)
            return np.clip(out, 0, 1, out=out), True
        lo, hi = np.minimum(av, bv), np.maximum(av, bv)
        d = hi - lo
        with np.errstate(all="ignore"):
            scaled = (np.asarray(xv) - lo) / d
        out = np.where((np.asarray(xv) < lo) | (d <= DBL_EPSILON), 0, np.where(np.asarray(xv) > hi, 1, scaled))
        return np.asarray(out, dtype=self.dtype), True

    # -- statistics ------------------------------------------------------------------------
    def _list_statistic(self, name: str, values: list[Value]) -> Result:
        if not any(_is_array(v) for v in values):
            stack = np.asarray(values, dtype=np.float64).reshape(len(values), 1)
            return float(stats.list_statistic(name, stack)[0]), False
        arrays = np.broadcast_arrays(*[v if _is_array(v) else self.dtype.type(v) for v in values])
        stack = np.stack(arrays).astype(self.dtype, copy=False)
        return np.asarray(stats.list_statistic(name, stack), dtype=self.dtype), True

    def _call_stat(self, node: Call) -> Result:
        name, args = node.name, node.args
        order = None
        if name == "ostat":
            if len(args) < 2:
                raise PixelMathEvaluationError("ostat() takes an order k in [0,1] and an image or 3+ values",
                                               pos=node.pos)
            order = self._scalar(args[0], "ostat", 1)
            args = args[1:]
        if len(args) == 1 or (len(args) == 5 and self._is_image(args[0])):
            if not self._is_image(args[0]):
                raise PixelMathEvaluationError(
                    f"{node.written or name}() takes either a single image reference argument or a set of 2 or "
                    "more arguments", pos=args[0].pos,
                )
            roi = None
            if len(args) == 5:
                coords = [self.eval(a)[0] for a in args[1:]]
                if any(_is_array(c) for c in coords):
                    return self._list_form(name, args, order)
                roi = tuple(int(c) for c in coords)
            return self._component(self._image_statistic(name, args[0], roi, order)), False
        return self._list_form(name, args, order)

    def _image_statistic(self, name: str, node: Node, roi: tuple[int, ...] | None, order: float | None) -> Value:
        if isinstance(node, Call):
            pixels = self._generate(node)
            return self.scope.statistic_of(pixels, name, None, roi, node.pos, order, node.name)
        image_id = self._image_id(node)
        return self.scope.statistic(image_id, name, node.index, roi, node.pos, order)  # type: ignore[union-attr]

    def _list_form(self, name: str, args: tuple[Node, ...], order: float | None) -> Result:
        if name in ("min", "max"):
            func = np.fmin if name == "min" else np.fmax
            result = self._num(self.eval(args[0]))
            for a in args[1:]:
                result = self._arith(func, result, self.eval(a))
            return result
        if name == "mean":
            total = self._num(self.eval(args[0]))
            for a in args[1:]:
                total = self._arith(np.add, total, self.eval(a))
            return self._arith(np.true_divide, total, (float(len(args)), False))
        values = [self._num(self.eval(a))[0] for a in args]
        if order is not None:
            if not any(_is_array(v) for v in values):
                return float(stats.list_order_statistic(order, np.asarray(values, dtype=np.float64))), False
            arrays = np.broadcast_arrays(*[v if _is_array(v) else self.dtype.type(v) for v in values])
            return np.asarray(stats.list_order_statistic(order, np.stack(arrays)), dtype=self.dtype), True
        return self._list_statistic(name, values)

    # -- colour and image information --------------------------------------------------------
    def _call_pixelwise(self, node: Call) -> Result:
        pixels = self._matched_pixels(node.args[0], node.name)
        rgb = pixels[:3] if pixels.shape[0] >= 3 else pixels[:1]
        ws = self.scope.rgbws
        name = node.name
        if name in _CIE:
            out = getattr(ws, name)(rgb)
        elif name == "H":
            out = ws.hue(rgb)
        elif name == "Hr":
            out = ws.hue(rgb) * self.dtype.type(2 * math.pi)
        elif name == "Hd":
            out = ws.hue(rgb) * self.dtype.type(360)
        elif name == "Sv":
            out = ws.hsv_saturation(rgb)
        elif name == "Si":
            out = ws.hsi_saturation(rgb)
        elif name in ("V", "maxsample"):
            out = rgb.max(axis=0)
        elif name == "minsample":
            out = rgb.min(axis=0)
        else:  # "I"
            out = ws.intensity(rgb)
        return np.asarray(out, dtype=self.dtype)[np.newaxis], True

    def _call_info(self, node: Call) -> Result:
        g = self.scope.geometry
        if not node.args:
            values = {
                "width": g.full_width, "height": g.full_height, "area": g.full_width * g.full_height,
                "channels": self.scope.target_channels or (3 if self.scope.colour_output else 1),
                "iscolor": 1 if self.scope.colour_output else 0,
            }
            return float(values[node.name]), False
        arg = node.args[0]
        if not self._is_image(arg) or getattr(arg, "index", None) is not None:
            raise PixelMathEvaluationError(
                f"{node.name}() takes either no argument or a single image reference argument", pos=arg.pos
            )
        pixels = self._source_pixels(arg, node.name)
        c, h, w = pixels.shape
        values = {"width": w, "height": h, "area": w * h, "channels": c, "iscolor": 1 if c >= 3 else 0}
        return float(values[node.name]), False

    # -- coordinates -----------------------------------------------------------------------
    def _call_coord(self, node: Call) -> Result:
        g = self.scope.geometry
        name = node.name
        if name == "x":
            return self.scope.coordinate("x"), False
        if name == "y":
            return self.scope.coordinate("y"), False
        if name in ("X", "Y"):
            axis = name.lower()
            size = (g.full_width if axis == "x" else g.full_height) - 1
            return self.scope.coordinate(axis) / self.dtype.type(max(size, 1)), True
        args = [self._scalar(a, name, i + 1) for i, a in enumerate(node.args)]
        x, y = self.scope.coordinate("x"), self.scope.coordinate("y")
        if name in ("rdist", "pangle"):
            if len(args) == 1:
                raise PixelMathEvaluationError(f"{name}() takes either no argument or 2 center coordinates",
                                               pos=node.pos)
            xc, yc = args if args else (0.5 * g.full_width, 0.5 * g.full_height)
            dx, dy = x - self.dtype.type(xc), y - self.dtype.type(yc)
            out = np.hypot(dx, dy) if name == "rdist" else np.arctan2(dy, dx)
            return out.astype(self.dtype, copy=False), True
        if name in ("inrect", "mind2rect", "maxd2rect"):
            x0, y0 = math.trunc(args[0]), math.trunc(args[1])
            x1, y1 = x0 + abs(math.trunc(args[2])), y0 + abs(math.trunc(args[3]))
            inside = (x >= x0) & (x < x1) & (y >= y0) & (y < y1)
            if name == "inrect":
                return inside.astype(self.dtype), True
            if name == "mind2rect":
                d = np.minimum(np.minimum(x - x0, y - y0), np.minimum(x1 - x - 1, y1 - y - 1))
            else:
                d = np.maximum(np.maximum(x - x0, y - y0), np.maximum(x1 - x, y1 - y))
            return np.where(inside, d, -1).astype(self.dtype), True
        if name == "inellipse":
            xc, yc, rx, ry = args
            with np.errstate(all="ignore"):
                inside = ((x - xc) ** 2 / (rx * rx) + (y - yc) ** 2 / (ry * ry)) <= 1
            return inside.astype(self.dtype), True
        return self._line(name, args, x, y), True

    def _line(self, name: str, args: list[float], x: np.ndarray, y: np.ndarray) -> np.ndarray:
        x1, y1, x2, y2 = args
        dx, dy = x2 - x1, y2 - y1
        shape = np.broadcast_shapes(x.shape, y.shape)
        xs, ys = np.broadcast_to(x, shape).astype(np.float64), np.broadcast_to(y, shape).astype(np.float64)
        if name == "d2seg":
            t = dx * (xs - x1) + dy * (ys - y1)
            d2 = dx * dx + dy * dy
            dist2 = (xs - x1) ** 2 + (ys - y1) ** 2
            if d2 > 0:
                dist2 = np.where(t <= 0, dist2, np.where(t >= d2, (xs - x2) ** 2 + (ys - y2) ** 2, dist2 - t * t / d2))
            return np.sqrt(np.maximum(dist2, 0)).astype(self.dtype)
        if 1 + dy == 1:  # horizontal line
            foot_x, foot_y = xs, np.full(shape, y1)
        elif 1 + dx == 1:  # vertical line
            foot_x, foot_y = np.full(shape, x1), ys
        else:
            m = dy / dx
            b = y1 - m * x1
            foot_x = (xs + m * ys - m * b) / (m * m + 1)
            foot_y = m * foot_x + b
        if name == "xperp2line":
            return foot_x.astype(self.dtype)
        if name == "yperp2line":
            return foot_y.astype(self.dtype)
        return np.hypot(foot_x - xs, foot_y - ys).astype(self.dtype)  # d2line

    # -- random deviates -------------------------------------------------------------------
    def _random_shape(self) -> tuple[int, int, int]:
        g = self.scope.geometry
        return (3 if self.rgb_random else 1, g.height, g.width)

    def _call_random(self, node: Call) -> Result:
        rng, shape, name = self.scope.rng, self._random_shape(), node.name
        if name == "random":
            return rng.random(shape, dtype=np.float64).astype(self.dtype), True
        if name == "gauss":
            return rng.standard_normal(shape).astype(self.dtype), True
        if name == "rndselect":
            values = [self._num(self.eval(a))[0] for a in node.args]
            if len(values) < 2:
                raise PixelMathEvaluationError("rndselect() takes a set of 2 or more arguments", pos=node.pos)
            arrays = np.broadcast_arrays(*[np.broadcast_to(np.asarray(v, self.dtype), shape) for v in values])
            choice = rng.integers(len(values), size=shape)
            return np.choose(choice, arrays).astype(self.dtype), True
        if name == "poisson":
            mean, _ = self._num(self.eval(node.args[0]))
            lam = np.broadcast_to(np.clip(np.nan_to_num(np.asarray(mean, np.float64)), 0, 1e12), shape)
            return rng.poisson(lam).astype(self.dtype), True
        first = self._scalar(node.args[0], name, 1)
        if first <= 0:
            raise PixelMathEvaluationError(f"{name}() argument #1 must be > 0, got {first}", pos=node.pos)
        if name == "gamma":
            scale = self._scalar(node.args[1], name, 2) if len(node.args) > 1 else 1.0
            if scale <= 0:
                raise PixelMathEvaluationError(f"gamma() argument #2 (scale) must be > 0, got {scale}", pos=node.pos)
            return rng.gamma(first, scale, size=shape).astype(self.dtype), True
        if name == "chisq":
            return rng.chisquare(first, size=shape).astype(self.dtype), True
        return rng.standard_t(first, size=shape).astype(self.dtype), True  # studentt

    # -- pixel() ---------------------------------------------------------------------------
    def _call_pixel(self, node: Call) -> Result:
        image_node, x_node, y_node = node.args[:3]
        if not self._is_image(image_node) or isinstance(image_node, Call) or image_node.index is not None:
            raise PixelMathEvaluationError("pixel() argument #1 must be an image reference without channel index",
                                           pos=image_node.pos)
        channel: Value = None
        if len(node.args) == 4:
            channel = self._num(self.eval(node.args[3]))[0]
            if not _is_array(channel) and (channel < 0 or channel != int(channel)):
                raise PixelMathEvaluationError("pixel() argument #4: channel indexes must be integers >= 0",
                                               pos=node.args[3].pos)
        image_id = self._image_id(image_node)
        at_current = (
            isinstance(x_node, Call) and x_node.name == "x" and isinstance(y_node, Call) and y_node.name == "y"
        )
        pixels = self.scope.image(image_id, image_node.pos).pixels
        n_channels = pixels.shape[0]
        if channel is not None and not _is_array(channel) and channel >= n_channels:
            raise PixelMathEvaluationError(f"pixel(): channel index out of range: {int(channel)}",
                                           pos=node.args[3].pos)
        if at_current and not _is_array(channel):
            # pixel(image, x(), y()[, c]) reads the current pixel: the image itself
            return self.image_value(image_id, None if channel is None else int(channel), node.pos, image_id), False
        xv, yv = self._num(self.eval(x_node))[0], self._num(self.eval(y_node))[0]
        return self._gather(pixels, xv, yv, channel), True

    def _gather(self, pixels: np.ndarray, xv: Value, yv: Value, channel: Value) -> Value:
        n, h, w = pixels.shape
        xs = np.trunc(np.nan_to_num(np.asarray(xv, np.float64), nan=-1.0)).clip(-1, w).astype(np.intp)
        ys = np.trunc(np.nan_to_num(np.asarray(yv, np.float64), nan=-1.0)).clip(-1, h).astype(np.intp)
        inside = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
        xs, ys = np.where(inside, xs, 0), np.where(inside, ys, 0)
        if channel is None:
            planes = pixels[:3] if n >= 3 else pixels[:1]
            if xs.ndim == 0 and ys.ndim == 0:
                sample = planes[:, int(ys), int(xs)] if inside else np.zeros(planes.shape[0])
                return float(sample[0]) if planes.shape[0] == 1 else self._component(
                    np.asarray(sample, dtype=self.dtype).reshape(3, 1, 1))
            ys2, xs2 = np.broadcast_arrays(ys[0] if ys.ndim == 3 else ys, xs[0] if xs.ndim == 3 else xs)
            inside2 = np.broadcast_to(inside[0] if inside.ndim == 3 else inside, ys2.shape)
            out = planes[:, ys2, xs2].astype(self.dtype)
            out[:, ~inside2] = 0
            return self._component(out)
        cs = np.clip(np.trunc(np.asarray(channel, np.float64)), 0, n - 1).astype(np.intp)
        ys, xs, cs, inside = np.broadcast_arrays(ys, xs, cs, inside)
        out = pixels[cs, ys, xs].astype(self.dtype)
        out[~inside] = 0
        if out.ndim == 0:
            return float(out)
        return out

    # -- generators ------------------------------------------------------------------------
    def _call_generator(self, node: Call) -> Result:
        pixels = self.scope.match(self._generate(node))
        value = pixels[:3] if pixels.shape[0] >= 3 else pixels[:1]
        return self._component(value), False

    def _token(self, node: Node, prefix: str, function: str, position: int) -> str:
        if not (isinstance(node, Call) and node.name.startswith(prefix)):
            raise PixelMathEvaluationError(
                f"{function}() argument #{position} must be one of the {prefix}xxx() functions", pos=node.pos
            )
        return node.name[len(prefix) :]

    def _generate(self, node: Call) -> np.ndarray:
        key = node
        cached = self.scope.generated.get(key)
        if cached is not None:
            return cached
        name, args = node.name, node.args
        if name == "urotate":
            raise NotImplementedFunctionError("function urotate() (unclipped rotation) is not implemented",
                                              pos=node.pos)
        source = self._source_pixels(args[0], name)
        try:
            result = self._run_generator(node, source)
        except (ValueError, KeyError) as exc:
            raise PixelMathEvaluationError(str(exc), pos=node.pos) from None
        result = np.asarray(result)
        if result.dtype not in (np.float32, np.float64):
            result = result.astype(self.dtype)
        self.scope.generated[key] = result
        return result

    def _run_generator(self, node: Call, source: np.ndarray) -> np.ndarray:
        name, args = node.name, node.args
        numbers = [] if name == "combine" else [
            self._scalar(a, name, i + 2) for i, a in enumerate(args[1:]) if not self._is_token(a)
        ]
        limit = 4 * max(source.shape[1:]) + 1
        if name == "gconv":
            if numbers and numbers[0] * 3.1 > limit:
                raise ValueError(f"gconv(): sigma {numbers[0]} is too large for a {source.shape[2]}x{source.shape[1]} "
                                 "image")
            return generators.gaussian_convolution(source, *numbers)
        if name == "bconv":
            n = int(numbers[0]) if numbers else 3
            self._check_size(n, limit, name)
            return generators.box_convolution(source, n)
        if name == "kconv":
            return generators.kernel_convolution(source, numbers)
        if name in ("medfilt", "erosion", "dilation"):
            n = int(numbers[0]) if numbers else 3
            self._check_size(n, min(limit, 255), name)
            element = self._token(args[2], "str_", name, 3) if len(args) > 2 else "square"
            if element == "threeway":
                raise NotImplementedFunctionError("str_threeway() structuring elements are not implemented",
                                                  pos=args[2].pos)
            operation = {"medfilt": "median"}.get(name, name)
            return generators.morphology(source, operation, n, element)
        if name == "translate":
            return generators.translate(source, numbers[0], numbers[1])
        if name == "rotate":
            return generators.rotate(source, *numbers)
        if name == "hmirror":
            return source[:, :, ::-1].copy()
        if name == "vmirror":
            return source[:, ::-1, :].copy()
        if name == "normalize":
            return generators.normalize(source, *numbers)
        if name == "truncate":
            return generators.truncate(source, *numbers)
        if name == "binarize":
            return generators.binarize(source, *numbers)
        if name == "lvar":
            d = int(numbers[0]) if numbers else 3
            self._check_size(d, min(limit, 255), name)
            kernel = self._token(args[2], "krn_", name, 3) if len(args) > 2 else "flat"
            return generators.local_variance(source, d, "gauss" if kernel == "gauss" else "flat")
        if name == "combine":
            other = self._source_pixels(args[1], name)
            if other.shape[1:] != source.shape[1:]:
                from processes.pixelmath.scope import resample

                other = resample(other, *source.shape[1:])
            operation = self._token(args[2], "op_", name, 3)
            a = source[:3] if source.shape[0] >= 3 else source[:1]
            b = other[:3] if other.shape[0] >= 3 else other[:1]
            return generators.combine(a, b, operation)
        raise NotImplementedFunctionError(f"image generator {name}() is not implemented", pos=node.pos)

    @staticmethod
    def _is_token(node: Node) -> bool:
        return isinstance(node, Call) and catalog.FUNCTIONS[node.name].kind == "token"

    @staticmethod
    def _check_size(n: int, limit: int, name: str) -> None:
        if n > limit:
            raise ValueError(f"{name}(): filter size {n} is too large (at most {limit})")

    def _call_token(self, node: Call) -> Result:
        users = {"str_": "medfilt(), erosion() or dilation()", "krn_": "lvar()", "op_": "combine()"}
        prefix = node.name.split("_")[0] + "_"
        raise PixelMathEvaluationError(
            f"{node.name}() is a symbolic argument: it can only be used as an argument of {users[prefix]}",
            pos=node.pos,
        )

    def _call_astrometry(self, node: Call) -> Result:
        raise NotImplementedFunctionError(
            f"function {node.name}() is not implemented (it needs an astrometric solution, which procfw images "
            "do not carry)", pos=node.pos,
        )
