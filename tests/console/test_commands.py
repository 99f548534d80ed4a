"""Console commands from Python: the @command decorator, argument binding, help and registration."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from procfw.console import ConsoleRuntimeError, Session, command
from procfw.console.commands import CommandSpec, spec_of
from procfw.language.errors import ArgumentError
from procfw.language.values import ArgValue
from procfw.registry import commands

from .conftest import Console


@pytest.fixture
def registered():
    """Unregisters the commands a test registers."""
    handles = []
    yield handles.append
    for unregister in handles:
        unregister()


def test_decorator_builds_usage_conversion_and_help(console, registered):
    seen = {}

    @command
    def stack(session: Session, output: Path, count: int, *inputs: str, sigma: float = 3.0,
              verbose: bool = False, names: list[str] | None = None) -> None:
        """Stack INPUTS into OUTPUT.

        More words.
        """
        seen.update(session=session, output=output, count=count, inputs=inputs, sigma=sigma, verbose=verbose,
                    names=names)

    registered(stack.unregister)
    assert commands.get("stack") is stack
    spec = stack.__procfw_command__
    assert spec.usage() == "stack OUTPUT COUNT [INPUTS...] [-sigma=FLOAT] [-verbose+|-verbose-] [-names=TEXT]"
    console('stack "out/master.fits" 3 a b c -sigma=2.5 -verbose+ -names=[x, y]')
    assert seen == {"session": console.session, "output": Path("out/master.fits"), "count": 3,
                    "inputs": ("a", "b", "c"), "sigma": 2.5, "verbose": True, "names": ["x", "y"]}
    console("stack o 4.0 --verbose")
    assert seen["count"] == 4 and seen["inputs"] == () and seen["verbose"] is True and seen["sigma"] == 3.0
    console("stack o 1 -verbose- -sigma=1")
    assert seen["verbose"] is False and seen["sigma"] == 1.0
    help_text = console("help stack")
    assert help_text.startswith("usage: stack OUTPUT COUNT") and "Stack INPUTS into OUTPUT." in help_text
    assert "stack" in console("help")


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("conv x", 6, "n must be an integer, not x"),
        ("conv 1.5", 6, "n must be an integer, not 1.5"),
        ("conv 1 -ratio=fast", 8, "ratio must be a number, not fast"),
        ("conv 1 -on=maybe", 8, "on must be true or false"),
        ("conv 1 -ratio", 8, "-ratio needs a value: -ratio=FLOAT"),
        ("conv 1 -ration=2", 8, "unknown option -ration (did you mean -ratio?)"),
        ("conv 1 2", 8, "too many arguments"),
        ("conv", 1, "missing argument N"),
        ("conv 1 --nope", 8, "unknown option --nope"),
        ("conv 1 -ratio=1 -ratio=2", 17, "given twice"),
    ],
)
def test_binding_errors_point_at_the_argument(console, registered, text, column, fragment):
    @command("conv")
    def conv(n: int, *, ratio: float = 1.0, on: bool = False) -> None:
        """Converts."""

    registered(conv.unregister)
    with pytest.raises(ConsoleRuntimeError) as info:
        console(text)
    assert fragment in info.value.message
    assert info.value.column == column


def test_conversions_keep_number_text_and_accept_strings(registered):
    got = []

    @command("conv2")
    def conv2(text: str, number: float, flag: bool, path: Path, anything=None) -> None:
        got.append((text, number, flag, path, anything))

    registered(conv2.unregister)
    Console()('conv2 0.10 "2.5" yes "a b" [1, two]')
    assert got == [("0.10", 2.5, True, Path("a b"), [1, "two"])]


def test_returned_values_are_printed_and_into_receives_the_arrow_name(console, registered):
    @command("answer")
    def answer(*, into: str | None = None) -> str:
        return f"42 into {into}"

    registered(answer.unregister)
    assert console("answer") == "42 into None\n"
    assert console("answer -> x") == "42 into x\n"
    assert "does not take '-> NAME'" in pytest.raises(ConsoleRuntimeError, console, "echo a -> b").value.message


def test_string_annotations_and_plain_functions(console, registered):
    def plain(session, count: "int" = 1, *, mode: "str | None" = None) -> None:  # noqa: UP037 - tested on purpose
        session.print(f"plain {count + 1} {mode}")

    registered(commands.register("plain", plain))
    assert console("plain 2 -mode=x") == "plain 3 x\n"
    spec = spec_of(plain, "plain")
    assert spec.wants_session and spec.usage() == "plain [COUNT] [-mode=TEXT]"


def test_command_registered_under_another_name_by_entry_point(console, registered):
    @command("original", register=False)
    def original(word: str) -> str:
        """Echo a word."""
        return word.upper()

    registered(commands.register("renamed", original))
    assert console("renamed hi") == "HI\n"
    assert spec_of(original, "renamed").usage() == "renamed WORD"


def test_unregister_removes_the_command(console):
    @command("gone")
    def gone() -> None:
        """Soon gone."""

    assert console("gone") == ""
    gone.unregister()
    with pytest.raises(ConsoleRuntimeError, match="unknown command or process 'gone'"):
        console("gone")


def test_bad_command_names_are_refused():
    with pytest.raises(ValueError):
        command("not-an-id")(lambda: None)
    with pytest.raises(TypeError):
        command(3)


def test_spec_binding_directly():
    def f(a, b=2, *rest, c: int = 0):
        return a, b, rest, c

    spec = CommandSpec.from_function(f)
    args, kwargs = spec.bind([ArgValue("value", 1), ArgValue("value", 5), ArgValue("value", 6),
                              ArgValue("option", "7", "c")])
    assert f(*args, **kwargs) == (1, 5, (6,), 7)
    with pytest.raises(ArgumentError):
        spec.bind([])


def test_builtins_are_registered_by_their_entry_points_only():
    from importlib import metadata

    import procfw.console.builtins as builtins

    listed = {ep.name for ep in metadata.entry_points(group="procfw.commands")
              if ep.value.startswith("procfw.console.builtins:")}
    assert listed == set(builtins.BUILTINS)
    commands.reset()
    importlib.reload(builtins)  # importing the module registers nothing ...
    entries = {entry.id: entry for entry in commands.entries()}
    for name in builtins.BUILTINS:  # ... every built-in is its entry point
        assert entries[name].entry_point is not None and entries[name].distribution == "procfw", name


def test_builtins_come_back_after_a_registry_reset():
    from procfw.console.builtins import BUILTINS

    commands.reset()
    Session()
    assert set(BUILTINS) <= set(commands.ids())
