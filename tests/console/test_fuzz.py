"""Fuzzing: whatever the text, the console raises nothing but its own two errors."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from procfw.console import ConsoleRuntimeError, ConsoleSyntaxError, Session, parse

from .conftest import write_fits

TOKENS = [
    # statements and punctuation
    "let", "for", "in", "if", "else", "def", "icon", "and", "or", "not", "=", "==", "!=", "<", ">=", "->", ",",
    ";", "\n", "{", "}", "[", "]", "(", ")", "#", "\\\n", "$", "@",
    # commands
    "echo", "open", "save", "close", "windows", "processes", "help", "undo", "redo", "history", "icons", "exec",
    "run", "preview", "mask", "delete", "vars", "exit", "ProcessContainer",
    # processes
    "Invert", "NoOperation", "NewImage", "Invrt",
    # arguments
    "-id=img", "-width=3", "-height=2", "-v0=0.5", "-numberOfChannels=1", "-colorSpace=Grayscale", "-x=",
    "-flag+", "-flag-", "-flag", "--overwrite", "--x=1", "--description=\"d\"", "-A", "-A@M",
    # values
    "img", "img2", "a", "b", "A", "B", "M", "x", "f", "*", "img*", "img->Preview01", "img->*", "0", "1", "-1",
    "0.5", "1e309", "-.5", "true", "false", "$x", "${x}", "$1", "$@", "${f.stem}", "${1:-d}", "$T", '"a.fits"',
    '"*.fits"', '"a.pcs"', '"out.fits"', '"$x"', "'raw $x'", '"unterminated', "[1, 2]", "[[0,0.5,1,0,1]]", "[]",
]


def _grammar_literals() -> list[str]:
    """Every fixed-text terminal of console.lark (keywords, punctuation, comparison operators)."""
    from lark.lexer import PatternStr

    from procfw.language.parser import _parser

    return sorted({t.pattern.value for t in _parser().terminals if isinstance(t.pattern, PatternStr)})


TOKENS += _grammar_literals()


@pytest.fixture(scope="module")
def playground(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory with two FITS files and a script that runs itself."""
    root = tmp_path_factory.mktemp("fuzz")
    write_fits(root / "a.fits", np.full((2, 3), 0.25))
    write_fits(root / "b.fits", np.full((2, 3), 0.75))
    (root / "a.pcs").write_text('echo $1; run "a.pcs" again\n')
    old = os.getcwd()
    os.chdir(root)
    try:
        yield root
    finally:
        os.chdir(old)


def run_safely(text: str) -> None:
    session = Session(out=io.StringIO(), err=io.StringIO(), args=["arg"])
    try:
        session.run_text(text, file="fuzz")
    except (ConsoleSyntaxError, ConsoleRuntimeError) as error:
        assert error.render().startswith(f"{error.file}:{error.line}:{error.column}: ")
        assert error.caret_line().endswith("^")


FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@FUZZ
@given(st.text(max_size=80))
def test_arbitrary_text(playground: Path, text: str) -> None:
    run_safely(text)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=25), st.lists(st.sampled_from(["", " ", "  "]), min_size=25,
                                                                 max_size=25))
def test_token_soups(playground: Path, tokens: list[str], gaps: list[str]) -> None:
    text = "".join(token + (gap or " " if i % 3 else gap) for i, (token, gap) in enumerate(zip(tokens, gaps)))
    run_safely(text)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=25))
def test_soups_after_a_setup(playground: Path, tokens: list[str]) -> None:
    prefix = "NewImage -id=img -width=3 -height=2; icon A = Invert; icon M = NoOperation; let x = 1\n"
    run_safely(prefix + " ".join(tokens))


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="[]{}()\"'$#\\\n ;,-=+a1", max_size=200))
def test_the_parser_alone_on_bracket_storms(text: str) -> None:
    try:
        parse(text)
    except ConsoleSyntaxError:
        pass


# The WORD and STRING terminals were rewritten as possessive unrolled loops (so that a long token
# costs little memory); these are the patterns they replaced, which must match exactly the same.
_OLD_TERMINALS = {
    "WORD": r'(?:[A-Za-z0-9_.*?\/~]|\$(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+|@|\{[^{}"\n]*\}))(?:[A-Za-z0-9_.*?\/~:+%@]|-'
            r'(?!>)|=(?!=)|\$(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+|@|\{[^{}"\n]*\}))*(?:->(?:[A-Za-z0-9_*?]|\$(?:[A-Za-z_]'
            r'[A-Za-z0-9_]*|[0-9]+|\{[^{}"\n]*\}))+)?',
    "STRING": r'"(?:[^"\\\n]|\\.)*"',
}


@settings(max_examples=600, deadline=None)
@given(st.text(alphabet='ab1_.*?/~:+%@-=>${}"\\\n x', max_size=30))
def test_rewritten_terminals_match_what_the_old_ones_matched(text: str) -> None:
    import re

    from procfw.language.parser import _parser

    terminals = {t.name: t.pattern.to_regexp() for t in _parser().terminals}
    for name, old in _OLD_TERMINALS.items():
        before, after = re.match(old, text), re.match(terminals[name], text)
        assert (before and before.end()) == (after and after.end()), (name, text)
