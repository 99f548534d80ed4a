"""The grammar and the AST: the tricky tokens, positions and syntax errors."""

from __future__ import annotations

import pytest

from procfw.language import ast
from procfw.language.errors import ConsoleSyntaxError
from procfw.language.parser import open_depth, parse


def only(text: str):
    program = parse(text)
    assert len(program.statements) == 1
    return program.statements[0]


def test_process_command_line_tokens():
    cmd = only("Curves -H=[[0,0.5,1,0,1],[0,0.5,1,0,1]] -x=-0.5 -s+ -t- --lit --name=3 img->Preview01 light_* a?c")
    assert isinstance(cmd, ast.Command) and cmd.name.literal == "Curves"
    option, x, on, off, lit, lit_value, preview, star, question = cmd.args
    assert isinstance(option, ast.Option) and option.name == "H" and (option.line, option.column) == (1, 8)
    table = option.value
    assert isinstance(table, ast.ListValue) and [n.value for n in table.items[0].items] == [0, 0.5, 1, 0, 1]
    assert isinstance(x, ast.Option) and x.value == ast.Number(1, 44, -0.5, "-0.5")
    assert (on.name, on.on, off.name, off.on) == ("s", True, "t", False)
    assert isinstance(lit, ast.Literal) and lit.name == "lit" and lit.value is None
    assert lit_value.name == "name" and lit_value.value.value == 3
    assert [a.literal for a in (preview, star, question)] == ["img->Preview01", "light_*", "a?c"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1), ("-3", -3), ("+2", 2), ("0.25", 0.25), ("-.5", -0.5), ("1e3", 1000.0), ("2.5E-2", 0.025),
    ],
)
def test_numbers(text, expected):
    value = only(f"echo {text}").args[0]
    assert isinstance(value, ast.Number) and value.value == expected and value.text == text


@pytest.mark.parametrize("word", ["a-b", "2024-01-01", "out/a.fits", "x+y", "1abc", "a:b", "~/data", "../up"])
def test_words(word):
    assert only(f"echo {word}").args[0].literal == word


def test_strings_escapes_and_variables():
    value = only(r'echo "a \"q\" \\ \n \$x $y ${z.stem} ${1:-def ault}"').args[0]
    assert value.kind == "string"
    parts = value.parts
    assert parts[0] == 'a "q" \\ \n $x '
    assert parts[1] == ast.VarRef(1, 25, "y")
    assert parts[3] == ast.VarRef(1, 28, "z", "stem", None, True)
    assert parts[5] == ast.VarRef(1, 38, "1", None, "def ault", True)
    raw = only(r"echo 'C:\data\$x'").args[0]
    assert raw.kind == "raw" and raw.parts == ("C:\\data\\$x",)


def test_word_templates_and_single_variables():
    a, b, c = only("echo $x img_$i ${f.stem}_inv").args
    assert a.single_var == ast.VarRef(1, 6, "x")
    assert b.single_var is None and b.parts == ("img_", ast.VarRef(1, 13, "i"))
    assert c.parts[1] == "_inv"


def test_statements_separators_comments_and_continuations():
    program = parse("echo a; echo b # comment\n\n# only a comment\necho c \\\n  d\nlet x = [1,\n 2]\n")
    assert [s.name.literal for s in program.statements[:3]] == ["echo", "echo", "echo"]
    assert [a.literal for a in program.statements[2].args] == ["c", "d"]
    assert isinstance(program.statements[3], ast.Let)


def test_control_statements():
    program = parse(
        'for f in "*.fits" {\n  open $f\n}\nif $x > 1 and not $y or (a == b) { echo 1 } else if $z { echo 2 } '
        "else { echo 3 }\ndef f(a, b=2) { echo $a }\nicon C = A, -B@M, D@~N --description=\"d\"\nicon E = A,\n"
        "icon F = Invert -p=1\nhistory img -> H"
    )
    loop, cond, definition, container, single, process, history = program.statements
    assert isinstance(loop, ast.For) and loop.var == "f" and loop.body.statements[0].name.literal == "open"
    assert isinstance(cond, ast.If) and isinstance(cond.condition, ast.Or) and isinstance(cond.orelse, ast.If)
    first = cond.condition.items[0]
    assert isinstance(first, ast.And) and isinstance(first.items[1], ast.Not)
    assert isinstance(definition, ast.Def) and [(p.name, p.default) for p in definition.params] == [
        ("a", None), ("b", ast.Number(5, 12, 2, "2"))]
    assert [(r.name, r.enabled, r.mask, r.mask_inverted) for r in container.items] == [
        ("A", True, None, False), ("B", False, "M", False), ("D", True, "N", True)]
    assert container.options[0].name == "description"
    assert [r.name for r in single.items] == ["A"]
    assert process.command.name.literal == "Invert"
    assert history.into.literal == "H"


def test_keywords_only_where_keywords_go():
    cmd = only("echo for in if else let def icon and or not")
    assert [a.literal for a in cmd.args] == "for in if else let def icon and or not".split()


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ('echo "abc', 1, 6, "unterminated string"),
        ("echo 'abc", 1, 6, "unterminated string"),
        ("for x in [1, 2 {", 1, 16, "unexpected '{'"),
        ("for x in [1,2", 1, 14, "not closed"),
        ("echo a\nif x { echo } \nelse { }", 3, 6, "'else' must follow"),
        ("let 5 = 2", 1, 5, "invalid variable name '5'"),
        ("echo ${x.foo}", 1, 6, "unknown attribute '.foo'"),
        ("echo ${x!}", 1, 6, "bad variable reference"),
        ("echo $", 1, 6, "'$' must start a variable"),
        ("echo a | b", 1, 8, "unexpected character '|'"),
        ("def f(a=1, b) { }", 1, 12, "without a default follows"),
        ("def f(a, a) { }", 1, 10, "appears twice"),
        ("icon 1x = Invert", 1, 6, "invalid icon id"),
        ("echo " + "[" * 60, 1, 54, "nest deeper"),
        ("let x = ", 1, 8, "unexpected end of input"),
        ("if x {\n", 1, 7, "not closed"),
        ("}", 1, 1, "unexpected '}'"),
        ("echo " + "9" * 5000, 1, 6, "too long"),
    ],
)
def test_syntax_errors(text, line, column, fragment):
    with pytest.raises(ConsoleSyntaxError) as info:
        parse(text, "f.pcs")
    error = info.value
    assert fragment in error.message
    assert (error.file, error.line, error.column) == ("f.pcs", line, column)
    rendered = error.render().splitlines()
    assert rendered[0] == f"f.pcs:{line}:{column}: {error.message}"
    source = text.splitlines()[line - 1]
    if len(source) <= 160:
        assert rendered[1] == source
        assert rendered[2] == " " * (column - 1) + "^"
    else:  # a long line is shown as a window around the column, the caret inside it
        assert len(rendered[1]) <= 166 and rendered[2].strip() == "^"
        assert rendered[1][len(rendered[2]) - 1] == source[column - 1]


def test_caret_keeps_tabs():
    with pytest.raises(ConsoleSyntaxError) as info:
        parse('\techo\t"abc')
    assert info.value.caret_line() == "\t" + " " * 4 + "\t^"


@pytest.mark.parametrize(
    ("text", "depth"),
    [("for x in [1] {", 1), ("{ [ (", 3), ('echo "{"', 0), ("echo a # {", 0), ("echo a \\", 1), ("{ }", 0),
     ("echo ${x}", 0)],
)
def test_open_depth(text, depth):
    assert open_depth(text) == depth


def test_byte_order_mark_and_crlf():
    program = parse("\ufeffecho a\r\necho b\r\n")
    assert len(program.statements) == 2


# -- limits: line length, and the cost of long tokens ----------------------------------------
def test_a_line_over_the_limit_is_refused_before_lexing_naming_file_line_and_limit():
    from procfw.language.parser import MAX_LINE_LENGTH

    text = "echo a\n\necho " + "a" * MAX_LINE_LENGTH + "\necho b\n"
    with pytest.raises(ConsoleSyntaxError) as info:
        parse(text, "long.pcs")
    error = info.value
    assert (error.file, error.line, error.column) == ("long.pcs", 3, 1)
    assert f"limited to {MAX_LINE_LENGTH} characters" in error.message
    assert str(MAX_LINE_LENGTH + 5) in error.message  # the line's length
    assert len(error.render()) < 500  # the offending line is not echoed whole


@pytest.mark.parametrize(
    "token",
    [
        "a" * 1_000_000,  # one word
        "a-" * 500_000,  # a word of many pieces (each '-' was one backtracking step)
        "a=" * 500_000,
        '"' + "x" * 1_000_000 + '"',  # one string
        '"' + 'x\\"' * 100_000 + '"',  # a string of many escapes
    ],
    ids=["word", "dashes", "equals", "string", "escapes"],
)
def test_a_long_token_under_the_limit_costs_little_memory(token):
    import tracemalloc

    parse("echo a")  # build the parser first
    tracemalloc.start()
    try:
        program = parse("echo " + token)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(program.statements) == 1
    # a 10 MB token once took 3.3 GB (about 330 bytes a character); now a few bytes a character
    assert peak < 64 * 2**20, peak


def test_a_syntax_error_on_a_long_line_shows_a_window_with_the_caret_on_the_column():
    text = "echo " + "a" * 100_000 + " | b"
    with pytest.raises(ConsoleSyntaxError) as info:
        parse(text, "w.pcs")
    error = info.value
    assert (error.line, error.column) == (1, 100_007)
    shown, caret = error.render().splitlines()[1:3]
    assert len(shown) < 200 and shown[len(caret) - 1] == "|"
