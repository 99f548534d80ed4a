"""The literal parser (procfw.literals): values, errors, limits, and linear cost."""

from __future__ import annotations

import gc
import time

import pytest

from procfw.literals import MAX_DEPTH, parse_literal


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("-0.5", -0.5),
        (".25", 0.25),
        ("1e-3", 0.001),
        ("+inf", float("inf")),
        ("true", True),
        ("false", False),
        ("null", "null"),
        ("word.with.dots", "word.with.dots"),
        ('"a \\"quoted\\" \\n text"', 'a "quoted" \n text'),
        ('"\\$T"', "$T"),
        ("[]", []),
        ("[ [0, 0.5, 1] , [a, \"b\"] ]", [[0, 0.5, 1], ["a", "b"]]),
        ("  [1]  ", [1]),
    ],
)
def test_values(text: str, value: object):
    assert parse_literal(text) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty value"),
        ("   ", "empty value"),
        ("[1", "missing ']'"),
        ("[1,", "value ends too early"),
        ("[", "value ends too early"),
        ("[1,]", "unexpected ']' at position 3"),
        ("[1 2]", "expected ',' or ']' at position 3"),
        ("1 2", "unexpected '2' at position 2"),
        ("[1] $", "unexpected character '\\$' at position 3"),
        ('"unterminated', "unexpected character '\"'"),
        ("{1}", "unexpected character '{'"),
    ],
)
def test_errors_name_the_position(text: str, message: str):
    with pytest.raises(ValueError, match=message.replace("[", "\\[").replace("]", "\\]")):
        parse_literal(text)


def test_nesting_is_bounded_in_both_readers():
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert parse_literal(ok) is not None
    for deep in ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),  # JSON-shaped: the fast reader
                 "[" * (MAX_DEPTH + 1) + "a" + "]" * (MAX_DEPTH + 1),  # not JSON: the scanner
                 "[" * 100_000):
        with pytest.raises(ValueError, match=f"nested deeper than {MAX_DEPTH}"):
            parse_literal(deep)


def test_json_shaped_and_scanned_text_give_the_same_values():
    rows = [[i, 0.5, "x y", True, -1e-3] for i in range(50)]
    as_json = "[" + ",".join(f'[{r[0]},0.5,"x y",true,-0.001]' for r in rows) + "]"
    scanned = as_json.replace("true", "true ").replace(",0.5,", ", .5,")  # .5 is not JSON
    assert parse_literal(as_json) == rows == parse_literal(scanned)


def _table(rows: int, *, plain: bool) -> str:
    if plain:
        return "[" + ",".join(f"[{i},0.5,1]" for i in range(rows)) + "]"
    return "[" + ",".join(f'[a{i}, .5, "x\\n"]' for i in range(rows)) + "]"


def _cpu(func) -> float:
    """CPU seconds of ``func()``, without garbage collection (its pauses are not the parser's cost)."""
    gc.collect()
    gc.disable()
    try:
        start = time.process_time()
        func()
        return time.process_time() - start
    finally:
        gc.enable()


def test_a_200k_row_table_is_refused_at_the_row_limit_without_reading_the_rest():
    text = _table(200_000, plain=False)
    seconds = _cpu(lambda: pytest.raises(ValueError, parse_literal, text, max_items=1000))
    assert seconds < 0.5
    with pytest.raises(ValueError, match="more than 1000 items"):
        parse_literal(text, max_items=1000)


def test_a_200k_row_plain_table_parses_quickly():
    text = _table(200_000, plain=True)
    result: list = []
    seconds = _cpu(lambda: result.append(parse_literal(text)))
    assert len(result[0]) == 200_000 and result[0][-1] == [199_999, 0.5, 1]
    assert seconds < 1.0  # was ~30 s with the quadratic scanner
    with pytest.raises(ValueError, match="more than 10 items"):
        parse_literal(text, max_items=10)


@pytest.mark.parametrize("plain", [False, True])
def test_cost_is_linear(plain: bool):
    rows = 20_000 if plain else 10_000  # enough work to measure on a busy machine
    small, large = _table(rows, plain=plain), _table(10 * rows, plain=plain)
    parse_literal(small)  # warm up
    t_small = min(_cpu(lambda: parse_literal(small)) for _ in range(5))
    t_large = min(_cpu(lambda: parse_literal(large)) for _ in range(3))
    # 10x the input: ~10x the time (the quadratic scanner took ~100x); loose for noisy machines
    assert t_large < 30 * max(t_small, 1e-3), (t_small, t_large)


def test_a_long_string_costs_little_memory():
    import tracemalloc

    text = '"' + "a" * 5_000_000 + '\\n\\"b"'  # escapes: not JSON-shaped, read by the scanner
    tracemalloc.start()
    try:
        value = parse_literal(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert value == "a" * 5_000_000 + '\n"b'
    # the string (5 MB) and its value; the old pattern kept ~100 bytes of backtracking state a character
    assert peak < 40 * 2**20, peak


def test_the_string_token_matches_what_the_old_pattern_matched():
    import random
    import re

    from procfw.literals import _TOKEN

    old = re.compile(r'\s*(?P<string>"(?:[^"\\]|\\.)*")')
    rng = random.Random(5)
    for _ in range(3000):
        text = '"' + "".join(rng.choice('ab"\\\n $') for _ in range(rng.randint(0, 12)))
        before, after = old.match(text), _TOKEN.match(text)
        assert (before and before.end()) == (after and after.lastgroup == "string" and after.end()), text
