"""The interpreter, in-process: parameters of every kind, targets, variables, control flow,
defined commands, icons, history, rollback and error locations."""

from __future__ import annotations

import re

import numpy as np
import pytest

from procfw.console import ConsoleRuntimeError, ConsoleSyntaxError, Session, run_text
from procfw.container import ProcessContainer

from .conftest import Console, KitchenSink, ramp, write_fits

H_TABLE = "[[0,0.5,1,0,1],[0,0.5,1,0,1],[0,0.5,1,0,1],[0,0.5,1,0,1],[0,0.5,1,0,1]]"


def last_instance(console: Console, view: str):
    return console.workspace.view(view).history.processes()[-1]


def error_of(console: Console, text: str, kind: type = ConsoleRuntimeError):
    with pytest.raises(kind) as info:
        console(text)
    return info.value


# -- parameters of every kind -------------------------------------------------------------------
def test_every_parameter_kind_from_the_command_line(console, sink):
    console.add("img", ramp())
    console(
        "KitchenSink -flag+ -small=-5 -count=7 -big=9000000000 -amount=0.25 -gain=2 -mode=Slow "
        '-label="hi there" -data="00ff10" -H=[[0,0.4,1,0,1],[0,0.5,1,0,1],[0,0.5,1,0,1],[0,0.5,1,0,1],'
        "[0.1,0.5,0.9,0,1]] img"
    )
    p = last_instance(console, "img")
    assert p.flag is True and p.small == -5 and p.count == 7 and p.big == 9_000_000_000
    assert p.amount == 0.25 and p.gain == 2.0 and p.mode == "Slow" and p.label == "hi there"
    assert p.data == bytes.fromhex("00ff10")
    assert p.H[0] == (0.0, 0.4, 1.0, 0.0, 1.0) and p.H[4] == (0.1, 0.5, 0.9, 0.0, 1.0)
    np.testing.assert_allclose(console.pixels("img")[0], ramp() * 0.25, rtol=1e-6)


def test_switch_off_enum_alias_integer_element_and_parameter_alias(console, sink):
    console.add("img", ramp())
    console("Sink -flag- -mode=Quick -oldAmount=0.125 img")
    p = last_instance(console, "img")
    assert (p.flag, p.mode, p.amount) == (False, "Fast", 0.125)
    console("KitchenSink -mode=2 -flag=true -label=12 img")
    p = last_instance(console, "img")
    assert (p.mode, p.flag, p.label) == ("Exact", True, "12")


def test_table_literal_may_span_lines_and_use_variables(console, sink):
    console.add("img", ramp())
    console("let row = [0, 0.25, 1, 0, 1]\nKitchenSink -H=[$row,\n  $row, $row,\n  $row, $row] img")
    assert last_instance(console, "img").H == ((0.0, 0.25, 1.0, 0.0, 1.0),) * 5


def test_negative_numbers_and_exponents_as_values(console, sink):
    console.add("img", ramp())
    console("KitchenSink -gain=-2.5e-1 -small=-128 img")
    p = last_instance(console, "img")
    assert (p.gain, p.small) == (-0.25, -128)


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("KitchenSink -amount=2 img", 13, "out of range"),
        ("KitchenSink -mode=Slo img", 13, "did you mean Slow"),
        ('KitchenSink -label="far too long a label" img', 13, "too long"),
        ("KitchenSink -H=[[0,0.5,1,0,1]] img", 13, "needs at least 5 rows"),
        ("KitchenSink -H=[[0,0.5,1,0]] img", 13, "at least 5 rows"),
        ("KitchenSink -count+ img", 13, "is a switch, but count is"),
        ("KitchenSink -flag img", 13, "-flag needs a value: -flag+ or -flag-"),
        ("KitchenSink -mean=1 img", 13, "read-only"),
        ("KitchenSink -amuont=1 img", 13, "did you mean amount"),
        ("KitchenSink --triple img", 13, "unknown option --triple"),
        ("KitchenSink -small=300 img", 13, "out of range"),
        ("KitchenSink -big=1.5 img", 13, "must be an integer"),
        ("KitchenSink -amount=0.5 -amount=0.2 img", 25, "given twice"),
        ("KitchenSink imx", 13, "no image window 'imx' (did you mean img?)"),
        ("KitchenSink nothing*", 13, "no view matches 'nothing*'"),
        ("KitchenSink 5", 13, "not a view id: 5"),
        ("KitchenSnk img", 1, "did you mean KitchenSink?"),
    ],
)
def test_bad_parameters_point_at_the_argument(console, sink, text, column, fragment):
    console.add("img", ramp())
    error = error_of(console, text)
    assert fragment in error.message
    assert (error.line, error.column) == (1, column)
    assert error.source_line == text
    assert error.caret_line() == " " * (column - 1) + "^"
    assert console.workspace.view("img").history.processes() == []


def test_declared_console_literal_is_passed_to_the_process(console, sink):
    console.add("img", ramp())
    console("KitchenSink -count=3 --double img")
    assert last_instance(console, "img").count == 6


def test_outputs_are_printed_and_recorded(console, sink):
    console.add("img", np.full((2, 2), 0.5))
    out = console("KitchenSink img")
    # one line: process, target, time and the outputs, written as their kinds write them
    assert re.fullmatch(r"KitchenSink: img, \d\.\d{3} s, mean 0\.500\d*, count 1\n", out)
    record = console.session.records[-1]
    assert record.pop("seconds") >= 0
    assert record == {"process": "KitchenSink", "target": "img", "created": [], "outputs": {"mean": 0.5, "count": 1}}


def test_help_prints_the_parameters(console, sink):
    out = console("help KitchenSink")
    for fragment in ("-amount: Double in [0.000, 1.000]", "default 0.500", "Scale.", "-mode: Enumeration of Fast",
                     "-H: Table", "-mean:", "read-only", "console switches: --double"):
        assert fragment in out


# -- targets ------------------------------------------------------------------------------------
def test_wildcards_previews_lists_and_the_current_view(console):
    for name in ("light_1", "light_2", "dark"):
        console.add(name, ramp())
    console("Invert light_*")
    assert len(console.workspace.view("light_2").history.done) == 1
    assert len(console.workspace.view("dark").history.done) == 0
    console("Invert light_? dark light_1")
    assert len(console.workspace.view("light_1").history.done) == 2
    console("preview dark 0 0 3 2; preview dark 1 1 4 3 -id=corner")
    console("Invert dark->*")
    assert len(console.workspace.view("dark->Preview01").history.done) == 1
    assert len(console.workspace.view("dark->corner").history.done) == 1
    console("let views = [light_1, light_2]; Invert $views")
    assert len(console.workspace.view("light_2").history.done) == 3
    console("Invert")  # the current view: the one last processed
    assert len(console.workspace.view("light_2").history.done) == 4
    console("NoOperation")  # can run globally: runs globally
    assert console.session.records[-1]["target"] is None


def test_no_target_and_no_image_is_an_error(console):
    error = error_of(console, "Invert")
    assert "needs a target view" in error.message and "no image is open" in error.message


# -- variables ----------------------------------------------------------------------------------
def test_variables_keep_their_type_alone_and_become_text_in_words(console):
    out = console('let x = 0.25; let name = "m13"; let l = [1, "a b", true]\n'
                  'echo $x ${x} "$name.fits" ${name}_inv img_$name "${l}" $l')
    assert out == '0.25 0.25 m13.fits m13_inv img_m13 [1, "a b", true] [1, "a b", true]\n'
    assert console.session.variables == {"x": 0.25, "name": "m13", "l": [1, "a b", True]}


def test_script_arguments_defaults_and_path_attributes():
    console = Console(args=("data/m13.fits", "7"))
    out = console('echo $0 $1 $2 "${3:-none}" ${1.stem} ${1.name} ${1.suffix} ${1.parent}; echo [$@]; echo $@')
    assert out.splitlines() == [
        "<string> data/m13.fits 7 none m13 m13.fits .fits data",
        '["data/m13.fits", "7"]',
        "data/m13.fits 7",
    ]


def test_undefined_variables_point_at_the_variable(console):
    error = error_of(console, "let width = 3\necho ok $widht")
    assert error.message == "undefined variable $widht (did you mean $width?)"
    assert (error.line, error.column) == (2, 9)
    error = error_of(console, 'echo "a/${nope}/b"')
    assert (error.column, error.message) == (9, "undefined variable $nope")
    error = error_of(console, "echo $3")
    assert "script argument $3 is not given" in error.message


def test_an_unset_dollar_name_inside_a_string_stays_text(console):
    assert console('echo "$T * 0.5" \'raw $x\' "\\$1"') == "$T * 0.5 raw $x $1\n"


# -- loops and conditionals ---------------------------------------------------------------------
def test_for_over_files_is_sorted(console, tmp_path):
    for name in ("b.fits", "a.fits", "c.txt"):
        (tmp_path / name).write_text("x")
    out = console(f'for f in "{tmp_path}/*.fits" {{ echo ${{f.name}} }}')
    assert out == "a.fits\nb.fits\n"


def test_for_over_lists_views_and_nested_blocks(console):
    console.add("img_a", ramp())
    console.add("img_b", ramp())
    out = console("for v in img_* {\n  for n in [1, 2] { echo $v $n }\n}")
    assert out.splitlines() == ["img_a 1", "img_a 2", "img_b 1", "img_b 2"]


def test_for_with_no_matching_file_warns(console, tmp_path):
    assert console(f'for f in "{tmp_path}/*.none" {{ echo $f }}') == ""
    assert "no file matches" in console.err.getvalue()


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("1 < 2", True), ("2 <= 1", False), ('"10" > 9', True), ("abc == abc", True), ('"a" != "a"', False),
        ("$x", True), ("not $x", False), ("not not $x", True), ("$x and 0", False), ("0 or $x", True),
        ("(1 > 2) or (2 > 1)", True), ("[1, 2] == [1, 2]", True), ("false", False), ('""', False),
        ('"b" > "a"', True), ("$x == true", True),
    ],
)
def test_conditions(console, condition, expected):
    console("let x = true")
    assert console(f"if {condition} {{ echo yes }} else {{ echo no }}") == ("yes\n" if expected else "no\n")


def test_else_if_chain(console):
    text = "for v in [1, 5, 9] { if $v < 3 { echo low } else if $v < 6 { echo mid } else { echo high } }"
    assert console(text).split() == ["low", "mid", "high"]


def test_ordering_lists_is_an_error(console):
    assert "cannot order lists" in error_of(console, "if [1] < [2] { echo x }").message


# -- defined commands ---------------------------------------------------------------------------
def test_def_positional_named_and_default_arguments(console):
    console('def show(a, b=2, c="three") { echo $a $b $c }')
    assert console("show 1") == "1 2 three\n"
    assert console("show 1 5 -c=six") == "1 5 six\n"
    assert console("show -b=7 1") == "1 7 three\n"
    assert console("show -a=x") == "x 2 three\n"
    assert console("help show") == "usage: show A [B] [C]   (defined with def)\n"


def test_def_arguments_are_local(console):
    console("let a = outer; def f(a) { let b = inner; echo $a $b }; f arg")
    assert console.session.variables["a"] == "outer" and "b" not in console.session.variables


def test_def_errors(console):
    console("def f(a) { echo $a }")
    assert "missing argument A" in error_of(console, "f").message
    error = error_of(console, "f 1 2")
    assert "too many arguments" in error.message and error.column == 5
    error = error_of(console, "f -b=2 1")
    assert "unknown option -b" in error.message and error.column == 3
    console("def g(n) {\n  Invrt $n\n}")
    error = error_of(console, "g 1")
    assert (error.line, error.column) == (2, 3) and "in 'g' called at <string>:1:1" in error.notes[0]
    console("def loop() { loop }")
    assert "nest deeper" in error_of(console, "loop").message


def test_def_processes_views(console):
    console.add("img", ramp())
    console("def twice(view) { Invert $view; Invert $view }")
    console("twice img")
    np.testing.assert_allclose(console.pixels("img")[0], ramp(), atol=1e-6)
    assert len(console.workspace.view("img").history.done) == 2


# -- icons, history, undo -----------------------------------------------------------------------
def test_icons_containers_and_exec(console, sink):
    console.add("img", ramp())
    console.add("M", np.ones((4, 6)))
    console(f"icon S = KitchenSink -amount=0.5 -H={H_TABLE}; icon N = NoOperation; icon C = S, -N, S@M; icon D = S,")
    icons = console.workspace.icons
    assert isinstance(icons["C"], ProcessContainer)
    assert [(i.instance.process_id, i.enabled) for i in icons["C"].items] == [
        ("KitchenSink", True), ("NoOperation", False), ("KitchenSink", True)]
    assert icons["C"].items[2].mask.window_id == "M"
    assert [i.instance for i in icons["D"].items] == [icons["S"]]
    console("exec C img")
    np.testing.assert_allclose(console.pixels("img")[0], ramp() * 0.25, rtol=1e-6)
    assert len(console.workspace.view("img").history.done) == 1
    out = console("icons")
    assert "C = ProcessContainer [KitchenSink, -NoOperation, KitchenSink@M]" in out


def test_icon_of_an_icon_and_icon_errors(console):
    console("icon A = Invert; icon B = A; icon E = -A")
    assert console.workspace.icons["B"].items[0].instance is console.workspace.icons["A"]
    assert console.workspace.icons["E"].items[0].enabled is False
    error = error_of(console, "icon C = A, Bx")
    assert "no process icon 'Bx'" in error.message and error.column == 13
    assert "no target views" in error_of(console, "icon X = Invert img").message
    error = error_of(console, "exec Nope")
    assert error.column == 6 and "no process icon 'Nope'" in error.message


def test_history_undo_redo_and_extraction(console):
    console.add("img", ramp())
    out = console("Invert img; NoOperation img; history img")
    assert out.endswith("history of img: 2 steps\n  1. Invert\n  2. NoOperation\n")
    console("undo img")
    np.testing.assert_allclose(console.pixels("img")[0], 1 - ramp(), atol=1e-6)
    assert "(undone) NoOperation" in console("history")
    console("redo")
    console("history img -> H")
    assert [i.instance.process_id for i in console.workspace.icons["H"].items] == ["Invert", "NoOperation"]
    console.add("other", ramp())
    console("exec H other")
    np.testing.assert_allclose(console.pixels("other")[0], 1 - ramp(), atol=1e-6)
    assert "nothing to undo" in error_of(console, "undo img; undo img; undo img").message
    error = error_of(console, "history img->H")
    assert "history img -> H" in error.message


# -- rollback and error reporting ---------------------------------------------------------------
def test_a_failing_statement_leaves_windows_and_icons_as_they_were(console):
    console.add("img", ramp())
    console("icon A = Invert; let x = 1")
    text = "for i in [1] { Invert img; icon Z = Invert; let x = 5; NewImage -id=w; Invert nope }"
    error = error_of(console, text)
    assert error.column == text.index("nope") + 1
    assert console.workspace.window_ids() == ["img"]
    assert list(console.workspace.icons) == ["A"]
    assert console.session.variables == {"x": 1}
    np.testing.assert_array_equal(console.pixels("img"), ramp()[None])
    assert console.workspace.view("img").history.done == []


def test_rollback_is_per_top_level_statement():
    console = Console()
    console.add("img", ramp())
    console("icon A = Invert")
    with pytest.raises(ConsoleRuntimeError) as info:
        console("NewImage -id=kept -width=2 -height=2\n"
                "for i in [1, 2] { NewImage -id=tmp$i -width=4 -height=4; Invert img; icon B$i = NoOperation; "
                "let y = $i }\nInvert nope")
    assert info.value.line == 3
    # statements 1 and 2 succeeded and stay; statement 3 failed and changed nothing
    assert console.workspace.window_ids() == ["img", "kept", "tmp1", "tmp2"]
    with pytest.raises(ConsoleRuntimeError):
        console("for i in [3] { NewImage -id=tmp$i -width=4 -height=4; Invert img; icon C$i = NoOperation; "
                "let z = 1; delete A; Invert nope }")
    assert console.workspace.window_ids() == ["img", "kept", "tmp1", "tmp2"]
    assert list(console.workspace.icons) == ["A", "B1", "B2"]
    assert "z" not in console.session.variables
    np.testing.assert_allclose(console.pixels("img")[0], ramp(), atol=1e-6)  # inverted twice by statement 2
    assert len(console.workspace.view("img").history.done) == 2


def test_syntax_errors_run_nothing(console):
    console.add("img", ramp())
    with pytest.raises(ConsoleSyntaxError) as info:
        console('Invert img\necho "unterminated')
    assert (info.value.line, info.value.column) == (2, 6)
    assert console.workspace.view("img").history.done == []


def test_python_exceptions_in_commands_become_console_errors(console):
    from procfw.console import command

    @command("explode")
    def explode(value: int = 0) -> None:
        raise ZeroDivisionError("boom")

    try:
        error = error_of(console, "echo ok\nexplode 1")
        assert error.message == "ZeroDivisionError: boom" and error.line == 2
    finally:
        explode.unregister()


def test_exit_stops_with_a_code(console):
    assert console("echo a; exit 3; echo b") == "a\n"
    assert console.session.exit_code == 3


def test_run_another_script_with_its_own_arguments(console, tmp_path):
    lib = tmp_path / "lib.pcs"
    lib.write_text('def hello(who) { echo hello $who }\nlet from_lib = "$1"\necho lib got $@\n')
    bad = tmp_path / "bad.pcs"
    bad.write_text("echo fine\n  Invert nope\n")
    out = console(f'run "{lib}" a b; hello world; echo $from_lib')
    assert out == "lib got a b\nhello world\na\n"
    error = error_of(console, f'\nrun "{bad}"')
    assert (error.file, error.line, error.column) == (str(bad), 2, 10)
    assert error.source_line == "  Invert nope"
    assert error.notes == ["in script run at <string>:2:5"]
    error = error_of(console, 'run "no/such/script.pcs"')
    assert "cannot read script" in error.message and error.column == 5


def test_keywords_are_words_where_no_keyword_goes(console):
    assert console("echo for in if else let def icon and or not") == "for in if else let def icon and or not\n"


def test_open_save_and_glob(console, tmp_path):
    write_fits(tmp_path / "b_2.fits", ramp())
    write_fits(tmp_path / "a-1.fits", ramp(low=0.5))
    console(f'open "{tmp_path}/*.fits"')
    assert console.workspace.window_ids() == ["a_1", "b_2"]
    console(f'open "{tmp_path}/b_2.fits" -id=again; Invert again; save again "{tmp_path}/out.fits"')
    from .conftest import read_fits

    np.testing.assert_allclose(read_fits(tmp_path / "out.fits"), 1 - ramp(), atol=1e-6)
    error = error_of(console, f'save again "{tmp_path}/out.fits"')
    assert "file exists" in error.message
    console(f'save again "{tmp_path}/out.fits" --overwrite; close a_* again')
    assert console.workspace.window_ids() == ["b_2"]
    assert "no file matches" in error_of(console, f'open "{tmp_path}/*.nothing"').message


def test_run_text_and_session_api(tmp_path):
    session = run_text("let x = 2", args=["a"])
    assert isinstance(session, Session) and session.variables["x"] == 2 and session.argv == ["<string>", "a"]
    assert KitchenSink.process_id == "KitchenSink"


def test_run_file_with_arguments(tmp_path):
    from procfw.console import run_file

    script = tmp_path / "s.pcs"
    script.write_text("let got = [$@]\nlet me = $0\n")
    session = run_file(script, args=["a", "b"])
    assert session.variables == {"got": ["a", "b"], "me": str(script)}


def test_exit_code_outside_0_to_255_is_an_error(console):
    error = error_of(console, "exit 300")
    assert "exit code 300 is outside 0..255" in error.message
    assert "exit code -1 is outside 0..255" in error_of(console, "exit -1").message
    assert console.session.exit_code != 44
    console("exit 255")
    assert console.session.exit_code == 255


# -- recursive globs: symlink loops, streaming -------------------------------------------------
@pytest.fixture
def looped_tree(tmp_path):
    """L/a.fits, L/sub/b.fits, with L/self -> L and L/sub/up -> L: ``**`` that follows them never ends."""
    root = tmp_path / "L"
    (root / "sub").mkdir(parents=True)
    write_fits(root / "a.fits", ramp())
    write_fits(root / "sub" / "b.fits", ramp(low=0.5))
    (root / "self").symlink_to(root, target_is_directory=True)
    (root / "sub" / "up").symlink_to(root, target_is_directory=True)
    return root


class DeadlineExceeded(Exception):
    """Raised by the deadline fixture (not an OSError, which glob would swallow)."""


@pytest.fixture
def deadline():
    """Fail (instead of hanging) when the test body runs longer than 10 s."""
    import signal

    def expired(signum, frame):
        raise DeadlineExceeded("took longer than 10 s: the glob followed a symlink loop")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, 10)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def test_for_over_recursive_glob_does_not_follow_symlink_loops(console, looped_tree, deadline):
    out = console(f'for f in "{looped_tree}/**/*.fits" {{ echo ${{f.name}} }}')
    assert out == "a.fits\nb.fits\n"
    names = console(f'for f in "{looped_tree}/**" {{ echo $f }}').splitlines()
    assert len(names) == len(set(names)) and f"{looped_tree}/sub/b.fits" in names


def test_open_and_process_file_lists_with_recursive_glob_over_a_symlink_loop(console, looped_tree, deadline):
    console(f'open "{looped_tree}/**/*.fits"')
    assert console.workspace.window_ids() == ["a", "b"]


def test_for_over_files_streams_matches(console, tmp_path, monkeypatch):
    import os

    for i in range(30):
        (tmp_path / f"d{i:02d}").mkdir()
        (tmp_path / f"d{i:02d}" / "x.fits").write_text("x")
    listed = []
    scandir = os.scandir

    def counting_scandir(path="."):
        listed.append(path)
        return scandir(path)

    monkeypatch.setattr(os, "scandir", counting_scandir)
    assert console(f'for f in "{tmp_path}/**/*.fits" {{ echo ${{f.name}}; exit 0 }}') == "x.fits\n"
    assert len(listed) < 10, "the loop collected every match before it started"


def test_a_script_over_the_size_limit_is_refused_before_reading(tmp_path, monkeypatch):
    import procfw.literals

    script = tmp_path / "big.pcs"
    script.write_text("echo hi\n" * 100)
    monkeypatch.setattr(procfw.literals, "MAX_SCRIPT_BYTES", 200)
    with pytest.raises(ConsoleRuntimeError, match=r"800 bytes, more than the limit of 200 bytes"):
        run_text(f'run "{script}"')
