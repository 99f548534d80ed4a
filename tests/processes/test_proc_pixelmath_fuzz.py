"""PixelMath fuzzing: random text never raises anything but a PixelMath error."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processes.pixelmath import PixelMath, PixelMathError, parse
from procfw.image import Image
from procfw.process import ExecutionContext
from procfw.workspace import Workspace

_TOKENS = [
    "$T", "$T[0]", "$T[1]", "$T[2]", "$T[3]", "Ha", "a", "b", "x()", "y()", "X()", "Y()", "0", "1", "0.5", "2",
    "1e9", "-", "+", "*", "/", "%", "^", "~", "!", "--", "<", "<=", ">", ">=", "==", "!=", "&&", "||", "&", "|",
    "&|", "!&", "=", "+=", "*=", "(", ")", "(", ")", ",", ";", "[", "]", "{", "}", "iif(", "mtf(", "min(",
    "max(", "mean(", "med(", "mdev(", "sqrt(", "ln(", "exp(", "CIEL(", "H(", "pixel(", "rescale(", "range(",
    "gconv(", "bconv(", "medfilt(", "combine(", "op_screen()", "str_star()", "round(", "atan(", "iswitch(",
    "width()", "rdist(", "inrect(", "random()", "gauss()", "ostat(", "sum(", "Sn(", "Qn(", "bwmv(", "pow(",
    "/*", "*/", "//", "\n", ".pragma rescale;", "rotate(", "translate(", "lvar(", "kconv(", "$M", "$foo",
]

_ws = Workspace()
_ws.add_image(Image(np.random.default_rng(1).random((3, 6, 8), dtype=np.float32)), "T1")
_ws.add_image(Image(np.random.default_rng(2).random((1, 6, 8), dtype=np.float32)), "Ha")


_target = _ws.view("T1").image
_before = _target.pixels.copy()
_context = ExecutionContext(workspace=_ws, view_id="T1")


def _check(text: str) -> None:
    try:
        parse(text)
        result = PixelMath(expression=text, symbols="a, b = 0.5").apply(_target, _context)
    except PixelMathError:
        return
    finally:
        np.testing.assert_array_equal(_target.pixels, _before)  # the input is never modified
    out = result.image.pixels
    assert out.dtype == np.float32 and out.shape == (3, 6, 8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list("$T[]()0123456789.+-*/%^~!<>=&|,;{}abxyHeE _\n\"'#@:?\\é")),
               max_size=40))
def test_random_characters_only_raise_pixelmath_errors(text: str) -> None:
    _check(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_TOKENS), max_size=14).map(" ".join))
def test_random_token_sequences_only_raise_pixelmath_errors(text: str) -> None:
    _check(text)
