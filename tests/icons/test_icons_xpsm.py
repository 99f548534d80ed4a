"""XPSM reading and writing details: aliases, defaults, unknown parameters, placeholders, order, precision."""

from __future__ import annotations

import pytest
from icon_helpers import Curves, KitchenSink, synthetic  # noqa: F401 - fixture

from processes.intensity.invert import Invert
from processes.utility.nooperation import NoOperation
from procfw.container import ContainerItem, ProcessContainer
from procfw.icons import IconMeta, InstanceMeta, xpsm
from procfw.unknown import UnknownProcess
from procfw.workspace import MaskRef

pytestmark = [pytest.mark.filterwarnings("ignore::procfw.registry.PluginWarning"), pytest.mark.usefixtures("synthetic")]

HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<xpsm version="1.0" xmlns="{ns}">\n'

KNOWN = """   <instance class="TestKitchenSinkOld" version="2" id="K_instance">
      <description>multi
line &amp; &lt;described&gt;</description>
      <time start="2025-01-21T13:11:26.626Z" span="1.68"/>
      <parameter id="oldFlag" value="false"/>
      <parameter id="i16" value="-42"/>
      <parameter id="ratio" value="0.25"/>
      <parameter id="mode" value="Lin"/>
      <parameter id="text">// a comment
x = iif($T &gt; .5, &quot;a&quot;, 'b'); /* é */</parameter>
      <parameter id="label" value="viavalue"/>
      <parameter id="data">0x00,0xff,0x10</parameter>
      <parameter id="noSuchParameter" value="1"/>
      <gizmo/>
   </instance>
   <instance class="TestCurves" version="1" id="C_instance">
      <table id="points" rows="2">
         <tr>
            <td id="x" value="0.00000"/>
            <td id="y" value="0.50000"/>
            <td id="shape" value="Cubic"/>
            <td id="note">a &lt;b&gt;</td>
         </tr>
         <tr>
            <td id="x" value="1"/>
            <td id="y" value="1"/>
            <td id="zzz" value="1"/>
         </tr>
      </table>
   </instance>
   <icon id="K" instance="K_instance" xpos="10" ypos="20" workspace="Workspace02"/>
   <icon id="C" instance="C_instance" xpos="10" ypos="47" workspace="Workspace01"/>
</xpsm>
"""


@pytest.mark.parametrize("ns", ["http://www.pixinsight.com/xpsm", "http://www.pixinsight.com"])
def test_known_processes_load_typed_with_aliases_defaults_and_warnings(ns: str):
    result = xpsm.loads(HEAD.format(ns=ns) + KNOWN, source="k.xpsm")
    k, c = result.icons["K"], result.icons["C"]
    assert isinstance(k, KitchenSink) and isinstance(c, Curves)
    assert (k.flag, k.i16, k.ratio, k.mode) == (False, -42, 0.25, "Linear")
    assert (k.label, k.data) == ("viavalue", b"\x00\xff\x10")
    assert k.text == "// a comment\nx = iif($T > .5, \"a\", 'b'); /* é */"
    assert k.u8 == 200 and k.scale == 1.0  # missing parameters take defaults
    assert c.points == ((0.0, 0.5, True, "Akima", 0, "a <b>", b""), (1.0, 1.0, True, "Akima", 0, "", b""))
    assert result.placeholders == []
    meta = result.meta["K"]
    assert (meta.xpos, meta.ypos, meta.workspace) == (10, 20, "Workspace02")
    assert meta.instance == InstanceMeta(
        class_id="TestKitchenSink", version=2, description="multi\nline & <described>",
        time=("2025-01-21T13:11:26.626Z", "1.68"),
    )
    joined = "\n".join(result.warnings)
    assert "unknown parameter 'noSuchParameter'" in joined and "<gizmo>" in joined
    assert "unknown column 'zzz'" in joined


def test_no_namespace_is_read_too():
    result = xpsm.loads('<xpsm version="1.0">\n' + KNOWN)
    assert isinstance(result.icons["K"], KitchenSink)


def test_writing_uses_pixinsight_order_precision_indentation_and_text():
    result = xpsm.loads(HEAD.format(ns=xpsm.XPSM_NAMESPACE) + KNOWN)
    text = xpsm.dumps(result.icons, meta=result.meta, generated="2025-01-01T00:00:00.000Z")
    lines = text.splitlines()
    start = lines.index('   <instance class="TestKitchenSink" version="2" id="K_instance">')
    body = lines[start + 1 : start + 8]
    assert body[0] == "      <description>multi"
    assert body[1] == "line &amp; &lt;described&gt;</description>"
    assert body[2] == '      <time start="2025-01-21T13:11:26.626Z" span="1.68"/>'
    assert body[3] == '      <parameter id="flag" value="false"/>'
    assert body[4] == '      <parameter id="i8" value="-3"/>'
    assert '      <parameter id="ratio" value="0.250"/>' in lines  # precision 3
    assert '      <parameter id="amount" value="0.00000000"/>' in lines  # precision 8
    assert '      <parameter id="mode" value="Linear"/>' in lines
    assert '      <parameter id="data">0x00,0xff,0x10</parameter>' in lines
    assert "x = iif($T &gt; .5, &quot;a&quot;, 'b'); /* é */</parameter>" in lines
    ids = [line.split('id="')[1].split('"')[0] for line in lines[start + 3 :] if "<parameter " in line][:19]
    assert ids == list(KitchenSink.schema())  # schema declaration order, read-only output included
    assert '         <tr>' in lines and '            <td id="note">a &lt;b&gt;</td>' in lines
    assert '   <icon id="K" instance="K_instance" xpos="10" ypos="20" workspace="Workspace02"/>' in lines
    assert text.endswith("</xpsm>\n")
    assert "Generated on 2025-01-01T00:00:00.000Z" in text


def test_invalid_instance_of_a_known_process_is_kept_as_a_placeholder():
    text = ('<xpsm version="1.0"><instance class="TestKitchenSink" id="K_instance">'
            '<parameter id="ratio" value="7"/></instance><icon id="K" instance="K_instance"/></xpsm>')
    result = xpsm.loads(text, source="bad.xpsm")
    assert isinstance(result.icons["K"], UnknownProcess)
    assert result.placeholders == ["K"]
    assert any("kept as a placeholder" in w and "ratio" in w for w in result.warnings)
    again = xpsm.loads(xpsm.dumps(result.icons))
    assert again.icons == result.icons


PLACEHOLDER = """   <instance class="BlurXTerminator" version="256" id="BlurX_instance">
      <time start="2024-12-11T16:13:27.840Z" span="27.869938"/>
      <parameter id="ai_file">BlurXTerminator.4.mlpackage</parameter>
      <parameter id="sharpen_stars" value="0.50"/>
      <table id="t" rows="1">
         <tr>
            <td id="id">x &amp; y</td>
            <td id="value" value="1.0000000000"/>
         </tr>
      </table>
      <view enabled="true">Red</view>
   </instance>
"""


def test_a_process_that_is_not_installed_loads_as_a_placeholder_and_writes_back_unchanged():
    text = HEAD.format(ns=xpsm.XPSM_NAMESPACE) + PLACEHOLDER + \
        '   <icon id="BlurX" instance="BlurX_instance" xpos="1" ypos="2" workspace="Workspace01"/>\n</xpsm>\n'
    result = xpsm.loads(text)
    blur = result.icons["BlurX"]
    assert isinstance(blur, UnknownProcess) and blur.process_id == "BlurXTerminator"
    assert result.placeholders == ["BlurX"] and result.missing_processes() == ["BlurXTerminator"]
    assert blur.raw_parameters() == {"ai_file": "BlurXTerminator.4.mlpackage", "sharpen_stars": "0.50"}
    assert blur.raw_tables() == {"t": [{"id": "x & y", "value": "1.0000000000"}]}
    ok, why = blur.can_execute_global()
    assert not ok and "BlurXTerminator is not installed" in why
    written = xpsm.dumps(result.icons, meta=result.meta)
    assert PLACEHOLDER in written
    container = ProcessContainer.of(NoOperation(), blur)
    assert "BlurXTerminator is not installed" in container.can_execute_global()[1]


def test_container_children_enabled_masks_and_metadata():
    child_meta = InstanceMeta(class_id="NoOperation", version=256, description="a label")
    container = ProcessContainer(items=[
        ContainerItem(instance=NoOperation()),
        ContainerItem(instance=Invert(), enabled=False, mask=MaskRef("m")),
        ProcessContainer.of(KitchenSink()),
    ])
    meta = {"Chain": IconMeta(instance=InstanceMeta(children=[child_meta]))}
    warnings: list[str] = []
    text = xpsm.dumps({"Chain": container}, meta=meta, warnings=warnings)
    assert '   <instance class="ProcessContainer" id="Chain_instance">' in text
    assert '      <instance class="NoOperation" version="256" enabled="true">' in text
    assert "         <description>a label</description>" in text
    assert '      <instance class="Invert" version="256" enabled="false"/>' in text
    assert '      <instance class="ProcessContainer" enabled="true">' in text
    assert any("mask 'm' cannot be stored in XPSM" in w for w in warnings)
    again = xpsm.loads(text)
    without_mask = container.with_enabled(1, False)
    items = list(without_mask.items)
    items[1] = ContainerItem(instance=Invert(), enabled=False)
    assert again.icons["Chain"] == ProcessContainer(items=items)
    assert again.meta["Chain"].instance.children[0].description == "a label"


def test_instances_without_icons_and_broken_icon_references_are_reported():
    text = ('<xpsm version="1.0"><instance class="Invert" id="Lonely_instance"/>'
            '<icon id="Ghost" instance="Missing_instance"/><stray/></xpsm>')
    result = xpsm.loads(text, source="s.xpsm")
    assert list(result.icons) == ["Lonely"] and isinstance(result.icons["Lonely"], Invert)
    joined = "\n".join(result.warnings)
    assert "has no <icon>" in joined and "missing instance" in joined and "<stray>" in joined


def test_empty_and_self_closing_text_are_kept_apart():
    element_text = '<a></a><b/><c>  </c>'
    instance = f'<instance class="ZqThing" id="Z_instance">{element_text}</instance>'
    result = xpsm.loads(f'<xpsm version="1.0">{instance}<icon id="Z" instance="Z_instance"/></xpsm>')
    z = result.icons["Z"]
    assert [(e.tag, e.text) for e in z.elements] == [("a", ""), ("b", None), ("c", "  ")]
    text = xpsm.dumps(result.icons)
    assert "      <a></a>\n      <b/>\n      <c>  </c>\n" in text


@pytest.mark.parametrize(
    ("content", "text", "exact"),
    [
        ("it&apos;s &#65; &#x42; 'q' &gt;", "it's A B 'q' >", True),  # another writer's escaping: kept
        ("a <![CDATA[<raw>]]> b", "a <raw> b", False),  # CDATA: rewritten with procfw's escaping
    ],
)
def test_unusual_escaping_in_placeholders(content: str, text: str, exact: bool):
    body = f'      <parameter id="expression">{content}</parameter>\n'
    document = (HEAD.format(ns=xpsm.XPSM_NAMESPACE) + '   <instance class="ZqOdd" version="1" id="O_instance">\n'
                + body + "   </instance>\n" + '   <icon id="O" instance="O_instance"/>\n</xpsm>\n')
    result = xpsm.loads(document)
    assert result.icons["O"].elements[0].text == text
    written = xpsm.dumps(result.icons)
    assert (body in written) is exact
    assert xpsm.loads(written).icons == result.icons
