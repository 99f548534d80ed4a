"""Console source (written and read back, errors with line and column) and PJSR output."""

from __future__ import annotations

import pytest
from icon_helpers import Curves, KitchenSink, synthetic  # noqa: F401 - fixture

from processes.intensity.invert import Invert
from processes.utility.nooperation import NoOperation
from procfw.container import ContainerItem, ProcessContainer
from procfw.icons import IconFileError, IconMeta, InstanceMeta
from procfw.icons.source import (
    icons_to_console,
    icons_to_pjsr,
    parse_console_command,
    parse_console_source,
    read_console_source,
    to_console,
    to_pjsr,
)
from procfw.unknown import RawElement, UnknownProcess
from procfw.workspace import MaskRef

pytestmark = [pytest.mark.filterwarnings("ignore::procfw.registry.PluginWarning"), pytest.mark.usefixtures("synthetic")]


def test_command_line_form():
    line = to_console(KitchenSink(text='say "hi"\n', mode="Gamma", data=b"\x01\xab"))
    assert line.startswith("TestKitchenSink -flag=true -i8=-3 -u8=200 ")
    assert ' -ratio=0.500 ' in line and " -mode=Gamma " in line
    assert ' -text="say \\"hi\\"\\n" ' in line and ' -data="01ab"' in line
    assert "-result=" not in line  # read-only outputs at their default are not written
    curves = to_console(Curves(pairs=[("a", "b")]))
    assert ' -points=[[0.00000,0.00000,true,Akima,0,"",""],[1.00000,1.00000,true,Akima,0,"",""]] ' in curves
    assert ' -pairs=[["a","b"]] ' in curves
    assert to_console(Invert()) == "Invert"


def test_dollars_are_escaped_so_the_console_does_not_interpolate_them():
    instance = KitchenSink(text="$T * 0.5 + $PXI_SRCDIR")
    line = to_console(instance)
    assert ' -text="\\$T * 0.5 + \\$PXI_SRCDIR" ' in line
    assert parse_console_command(line) == instance
    curves = Curves(pairs=[("$a", "b$")])
    assert '-pairs=[["\\$a","b\\$"]]' in to_console(curves)
    assert parse_console_command(to_console(curves)) == curves
    assert parse_console_command("TestKitchenSink -text='C:\\raw\\$x'").text == "C:\\raw\\$x"


def test_reading_accepts_switches_aliases_and_bare_values():
    got = parse_console_command('TestKitchenSinkOld -oldFlag- -mode=lin -text=bare -i16=-5 -wide=-inf')
    assert got == KitchenSink(flag=False, mode="Linear", text="bare", i16=-5, wide=float("-inf"))
    assert parse_console_command("TestKitchenSink -flag+").flag is True


def test_containers_are_written_as_child_icons_with_disabled_and_masked_children():
    inner = ProcessContainer.of(NoOperation())
    chain = ProcessContainer(items=[
        ContainerItem(instance=Invert()),
        ContainerItem(instance=KitchenSink(), enabled=False),
        ContainerItem(instance=NoOperation(), mask=MaskRef("stars", inverted=True)),
        ContainerItem(instance=inner, mask=MaskRef("m")),
    ])
    icons = {"Chain": chain, "Chain_2": Invert(), "Empty": ProcessContainer()}
    text = icons_to_console(icons, meta={"Chain": IconMeta(instance=InstanceMeta(description="my chain"))})
    lines = text.splitlines()
    assert lines[0] == "icon Chain_1 = Invert"
    assert lines[1].startswith("icon Chain_2_1 = TestKitchenSink ")  # Chain_2 is taken by another icon
    assert lines[3] == "icon Chain_4_1 = NoOperation"
    assert lines[4] == "icon Chain_4 = Chain_4_1,"  # one child: trailing comma
    assert lines[5] == 'icon Chain = Chain_1, -Chain_2_1, Chain_3@~stars, Chain_4@m --description="my chain"'
    assert lines[-1] == "icon Empty = ProcessContainer"
    result = read_console_source(text)
    assert result.icons["Chain"] == chain and result.icons["Empty"] == ProcessContainer()
    assert result.meta["Chain"].instance.description == "my chain"


def test_placeholders_carry_their_xpsm_and_descriptions_their_option():
    blur = UnknownProcess(class_id="BlurXTerminator", class_version=256, elements=[
        RawElement(tag="description", text='sharp "stars"'),
        RawElement(tag="parameter", attributes=[("id", "ai_file")], text="BXT.4\nmlpackage"),
    ])
    text = icons_to_console({"Blur": blur, "Note": NoOperation()},
                            meta={"Note": IconMeta(instance=InstanceMeta(description="line 1\nline 2"))})
    assert text.splitlines()[0].startswith('icon Blur = BlurXTerminator --xpsm="<instance class=\\"BlurXTerminator\\"')
    assert text.splitlines()[1] == 'icon Note = NoOperation --description="line 1\\nline 2"'
    result = read_console_source(text)
    assert result.icons["Blur"] == blur
    assert result.meta["Blur"].instance.description == 'sharp "stars"'
    assert result.meta["Note"].instance.description == "line 1\nline 2"


def test_comments_blank_lines_and_existing_icons():
    text = "# a comment\n\n// another\r\n   icon B = A, -A\n"
    got = parse_console_source(text, icons={"A": Invert()})
    assert got == {"B": ProcessContainer(items=[Invert(), ContainerItem(instance=Invert(), enabled=False)])}


@pytest.mark.parametrize(
    ("text", "line", "column", "match"),
    [
        ("icon A = Invrt", 1, 10, "unknown process 'Invrt' \\(did you mean Invert\\?\\)"),
        ("\nicon A = TestKitchenSink -ratio=2", 2, 26, "out of range"),
        ("icon A = TestKitchenSink -ratoi=0.5", 1, 26, "did you mean ratio"),
        ('icon A = TestKitchenSink -text="open', 1, 32, "unterminated string"),
        ("icon A = TestCurves -points=[[0,0]", 1, 35, "is not closed"),
        ("icon A = X, Y", 1, 10, "unknown icon 'X'"),
        ("Invert", 1, 1, "only icon definitions"),
        ("icon A Invert", 1, 8, "expected '='"),
        ("icon A = Invert --frobnicate=\"x\"", 1, 17, "unknown option --frobnicate"),
        ("icon A = TestKitchenSink -i8-", 1, 26, "is a switch, but i8 is Int8"),
        ('icon A = ZqMissing --xpsm="<instance class=\\"Other\\"/>"', 1, 20, "must hold an <instance"),
        ('icon A = ZqMissing --xpsm="<instance class=\\"ZqMissing\\">"', 1, 20, "malformed XML"),
    ],
)
def test_errors_name_line_and_column(text: str, line: int, column: int, match: str):
    with pytest.raises(IconFileError, match=match) as info:
        parse_console_source(text, source="icons.pcs")
    assert (info.value.line, info.value.column) == (line, column)
    assert str(info.value).startswith(f"icons.pcs:{line}:{column}: ")


def test_to_console_of_a_container_defines_icons():
    text = to_console(ProcessContainer.of(Invert(), NoOperation()), icon="Pair")
    assert text == "icon Pair_1 = Invert\nicon Pair_2 = NoOperation\nicon Pair = Pair_1, Pair_2"


def test_pjsr_output():
    js = to_pjsr(KitchenSink(text="a\nb", wide=float("inf")))
    lines = js.splitlines()
    assert lines[0] == "var P = new TestKitchenSink;"
    assert "P.flag = true;" in lines and "P.mode = TestKitchenSink.Linear;" in lines
    assert 'P.text = "a\\n" +' in lines and '"b";' in lines
    assert "P.wide = Infinity;" in lines and "P.ratio = 0.500;" in lines
    table = to_pjsr(Curves())
    head = "P.points = [ // x, y, on, shape, n, note, blob\n"
    assert head + "   [0.00000, 0.00000, true, TestCurves.Akima" in table
    assert "P.pairs = [ // id, value\n];" in table
    chain = to_pjsr(ProcessContainer(items=[Invert(), ContainerItem(instance=NoOperation(), enabled=False)]))
    assert chain.splitlines() == [
        "var P = new ProcessContainer;", "var P1 = new Invert;", "P.add(P1);", "var P2 = new NoOperation;",
        "// P.add(P2); // disabled child",
    ]
    blur = UnknownProcess(class_id="BlurX", elements=[RawElement(tag="parameter", attributes=[("id", "a"),
                                                                                             ("value", "0.5")])])
    script = icons_to_pjsr({"var": Invert(), "Blur": blur})
    assert "var icon_var = new Invert;" in script and "Blur.a = 0.5;" in script


def test_pjsr_is_what_pixinsight_1_9_4_runs():
    # no ProcessId.prototype.Element (gone from the V8 runtime of PixInsight 1.9.4): ProcessId.Element
    js = to_pjsr(KitchenSink())
    assert "prototype" not in js and "P.mode = TestKitchenSink.Linear;" in js
    # an icon named after its process (or another process, or a core object) does not hide the class
    script = icons_to_pjsr({"Invert": Invert(), "NoOperation": Invert(), "View": NoOperation(), "Neg": Invert(),
                            "Invert_icon": NoOperation()})
    assert "var Invert_icon = new Invert;" in script and "var NoOperation_icon = new Invert;" in script
    assert "var View_icon = new NoOperation;" in script and "var Neg = new Invert;" in script
    assert "var Invert_icon_icon = new NoOperation;" in script
    assert "var Invert = " not in script and "var View = " not in script


def test_pjsr_tables_are_arrays_of_rows_rounded_as_pixinsight_writes_them():
    from processes.intensity.stf import ScreenTransferFunction

    js = to_pjsr(ScreenTransferFunction(STF=[[0, 1, 0.123456789, 0, 1]] * 4))
    assert "P.STF = [ // c0, c1, m, r0, r1\n   [0.00000, 1.00000, 0.12346, 0.00000, 1.00000],\n" in js
    assert "P.interaction = ScreenTransferFunction.SeparateChannels;" in js
