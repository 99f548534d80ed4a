"""The console parser loaded from its saved LALR tables (procfw.language.parser_tables) is the parser
built from console.lark: the tables are current, and both parse (or refuse) any text alike."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import lark
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procfw.language import parser as parser_module
from procfw.language import parser_tables
from procfw.language.errors import ConsoleSyntaxError

ROOT = Path(__file__).resolve().parents[2]

_SAVED = parser_module._saved_parser(parser_module._grammar())
_BUILT = parser_module._build_parser(parser_module._grammar())


def _outcome(parser: lark.Lark, text: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """What parse() makes of ``text`` with ``parser``: the statements' repr, or the error's text."""
    with monkeypatch.context() as patch:
        patch.setattr(parser_module, "_parser", lambda: parser)
        try:
            return repr(parser_module.parse(text, file="t.pcs").statements)
        except ConsoleSyntaxError as exc:
            return f"error: {exc}"


def test_the_saved_tables_are_those_of_the_grammar_and_are_used() -> None:
    if sys.version_info < (3, 11):
        pytest.skip("Python 3.10 reads a variant of the grammar (no possessive loops): its parser is built")
    if parser_tables.LARK_VERSION != lark.__version__:
        pytest.skip(f"tables made by Lark {parser_tables.LARK_VERSION}, Lark {lark.__version__} installed: "
                    "the parser is built (run python -m procfw.language.parser)")
    assert parser_tables.GRAMMAR_SHA256 == parser_module._grammar_digest(parser_module._grammar()), (
        "console.lark changed: run python -m procfw.language.parser")
    assert _SAVED is not None
    assert parser_module._parser().source_path == "<deserialized>"


def test_tables_of_another_grammar_or_lark_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    grammar = parser_module._grammar()
    monkeypatch.setattr(parser_tables, "GRAMMAR_SHA256", "0" * 64)
    assert parser_module._saved_parser(grammar) is None
    monkeypatch.undo()
    monkeypatch.setattr(parser_tables, "LARK_VERSION", "0.0.0")
    assert parser_module._saved_parser(grammar) is None


def test_tables_lark_cannot_read_leave_the_parser_built(monkeypatch: pytest.MonkeyPatch) -> None:
    grammar = parser_module._grammar()
    monkeypatch.setattr(parser_tables, "GRAMMAR_SHA256", parser_module._grammar_digest(grammar))
    monkeypatch.setattr(parser_tables, "LARK_VERSION", lark.__version__)
    monkeypatch.setattr(parser_tables, "DATA", {"broken": True})
    assert parser_module._saved_parser(grammar) is None


def test_written_tables_load_as_a_parser_of_the_grammar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What write_parser_tables writes (Lark's set order varies between runs: not byte for byte the shipped
    file) is read back as a parser that parses like the built one."""
    written = parser_module.write_parser_tables(tmp_path / "tables.py")
    module = runpy.run_path(str(written))
    values = {name: module[name] for name in ("GRAMMAR_SHA256", "LARK_VERSION", "DATA", "MEMO")}
    assert values["GRAMMAR_SHA256"] == parser_module._grammar_digest(parser_module._grammar())
    for name, value in values.items():
        monkeypatch.setattr(parser_tables, name, value)
    loaded = parser_module._saved_parser(parser_module._grammar())
    assert loaded is not None
    text = 'preprocess "raw" out -x+ -y=3\nfor i in 1 2 { print $i }\n'
    assert _outcome(loaded, text, monkeypatch) == _outcome(_BUILT, text, monkeypatch)


@pytest.mark.parametrize("script", sorted((ROOT / "scripts").glob("*.pcs")), ids=lambda p: p.name)
def test_saved_and_built_parsers_read_the_scripts_alike(script: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if _SAVED is None:
        pytest.skip("the shipped tables do not apply here")
    text = script.read_text(encoding="utf-8")
    assert _outcome(_SAVED, text, monkeypatch) == _outcome(_BUILT, text, monkeypatch)


_PIECES = st.sampled_from([
    "preprocess", "exec", "ImageIntegration", " ", " ", "\n", ";", "-", "+", "=", "-x", "-y=3", "--dry-run",
    '"a b"', "'raw'", "$v", "${v}", "$1", "{", "}", "[", "]", "(", ")", ",", "1", "2.5e3", "if", "else", "for",
    "in", "while", "def", "return", "==", "<", "and", "or", "not", "#c", "\\\n", "->", "@", "x", "*",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=25).map("".join))
def test_saved_and_built_parsers_parse_or_refuse_any_text_alike(text: str) -> None:
    if _SAVED is None:
        return
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert _outcome(_SAVED, text, monkeypatch) == _outcome(_BUILT, text, monkeypatch)
