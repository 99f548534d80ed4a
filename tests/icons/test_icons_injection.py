"""Icon files cannot smuggle code into the console source (.pcs) or PJSR (.js) written from them.

Ids read from files are validated (identifiers only) and refused with file, line and id;
writers emit only identifiers and checked, escaped literals.  Hypothesis generates hostile
ids and values: the written script either is refused or reads back to the same data and
holds nothing but icon definitions (console) or object construction and assignment (PJSR).
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icon_helpers import KitchenSink, synthetic  # noqa: F401 - fixture

from procfw.container import ContainerItem, ProcessContainer
from procfw.icons import IconFileError, dumps_icons, load_icons, loads_icons, save_icons
from procfw.icons.model import is_identifier
from procfw.icons.source import read_console_source
from procfw.language import ast
from procfw.language.parser import parse
from procfw.process import Process
from procfw.unknown import RawElement, UnknownProcess
from procfw.workspace import MaskRef

pytestmark = pytest.mark.filterwarnings("ignore::procfw.registry.PluginWarning")

EVIL_CLASS = 'Invert; echo INJECTED; mkdir &quot;pwned&quot; #'
EVIL_XPSM = (f'<xpsm version="1.0" xmlns="http://www.pixinsight.com/xpsm"><instance class="{EVIL_CLASS}" '
             'id="b_instance"/><icon id="b" instance="b_instance"/></xpsm>')
PJSR_CLASS = 'Foo;console.log(&quot;INJECTED&quot;);var z=Object'
PJSR_PARAMETER = 'x=1;console.log(&quot;INJ2&quot;);//'


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    import sys

    return subprocess.run([sys.executable, "-m", "procfw", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


# -- the reported attacks --------------------------------------------------------------------
def test_xpsm_class_injection_is_refused_by_convert_and_nothing_runs(tmp_path: Path):
    (tmp_path / "evil.xpsm").write_text(EVIL_XPSM)
    done = _cli(["icons", "convert", "evil.xpsm", "evil.pcs"], tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "evil.xpsm:1:" in done.stderr and "invalid process id 'Invert; echo INJECTED" in done.stderr
    assert not (tmp_path / "evil.pcs").exists()
    assert not (tmp_path / "pwned").exists()


def test_the_old_injected_pcs_does_not_run_either(tmp_path: Path):
    # what the old writer produced: the class id sits on the command line unquoted
    (tmp_path / "evil.pcs").write_text(
        'icon b = Invert; echo INJECTED; mkdir "pwned" # --xpsm="<instance class=\\"Invert\\"/>"\n')
    with pytest.raises(IconFileError):
        load_icons(tmp_path / "evil.pcs")


@pytest.mark.parametrize(
    ("document", "match"),
    [
        ({"A": {"procfw_icon": 1, "process": "Invert; echo X #"}}, "invalid process id 'Invert; echo X #'"),
        ({"A; echo X": {"procfw_icon": 1, "process": "Invert"}}, "invalid icon id 'A; echo X'"),
        ({"A": {"procfw_icon": 1, "process": "Nope", "parameters": {"x=1;echo": 1}}}, "invalid parameter id"),
        ({"A": {"procfw_icon": 1, "process": "Nope", "placeholder": True,
                "xpsm": [{"tag": "parameter", "attributes": [["id", "x=1;//"]], "text": "1"}]}},
         "invalid <parameter> id 'x=1;//'"),
        ({"A": {"procfw_icon": 1, "process": "Nope", "placeholder": True,
                "xpsm": [{"tag": "p\n-->", "text": "1"}]}}, "not an XML name"),
        ({"A": {"procfw_icon": 1, "process": "ProcessContainer", "items": [
            {"mask": {"window": "M\nicon X = Invert"}, "instance": {"procfw_icon": 1, "process": "Invert"}}]}},
         "invalid mask view id"),
    ],
)
def test_json_with_bad_ids_is_refused(tmp_path: Path, document: dict[str, Any], match: str):
    path = tmp_path / "evil.json"
    path.write_text(json.dumps({"format": "procfw-icons", "version": 1, "icons": document}))
    with pytest.raises(IconFileError, match=re.escape(match)) as info:
        load_icons(path)
    assert str(info.value).startswith(str(path))


@pytest.mark.parametrize(
    ("body", "line", "match"),
    [
        (f'<instance class="{PJSR_CLASS}" id="a_instance"/>', 3, "invalid process id 'Foo;console.log"),
        (f'<instance class="Foo" id="a_instance">\n<parameter id="{PJSR_PARAMETER}" value="1"/></instance>', 4,
         "invalid <parameter> id 'x=1;console.log"),
        ('<instance class="Foo" id="a_instance"><table id="t" rows="1">\n<tr><td id="a b" value="1"/></tr>'
         "</table></instance>", 4, "invalid <td> id 'a b'"),
        ('<instance class="Foo" id="a_instance;"/>', 3, "invalid instance id 'a_instance;'"),
        ('<instance class="ProcessContainer" id="a_instance">\n<instance class="x y" enabled="true"/></instance>', 4,
         "invalid process id 'x y'"),
    ],
)
def test_xpsm_with_bad_ids_is_refused_naming_file_line_and_id(tmp_path: Path, body: str, line: int, match: str):
    path = tmp_path / "bad.xpsm"
    path.write_text(f'<?xml version="1.0"?>\n<xpsm version="1.0">\n{body}\n'
                    '<icon id="a" instance="a_instance"/></xpsm>\n')
    with pytest.raises(IconFileError, match=re.escape(match)) as info:
        load_icons(path)
    assert str(info.value).startswith(f"{path}:{line}:")


def test_bad_icon_id_in_xpsm_is_refused(tmp_path: Path):
    path = tmp_path / "bad.xpsm"
    path.write_text('<xpsm version="1.0"><instance class="Foo" id="a_instance"/>\n'
                    '<icon id="a = Invert; echo X" instance="a_instance"/></xpsm>')
    with pytest.raises(IconFileError, match=re.escape(f"{path}:2:1: invalid icon id 'a = Invert; echo X'")):
        load_icons(path)


def test_placeholders_with_valid_ids_keep_their_bytes(tmp_path: Path):
    text = ('<xpsm version="1.0">\n<instance class="BlurXTerminator" version="2" id="B_instance">\n'
            '<parameter id="sharpen" value="0.5 ; echo x"/><parameter id="note">a &amp; "b" $x\n;echo</parameter>'
            '</instance>\n<icon id="B" instance="B_instance"/></xpsm>')
    result = loads_icons(text, "xpsm")
    placeholder = result.icons["B"]
    assert isinstance(placeholder, UnknownProcess)
    for fmt in ("console", "json", "xpsm"):
        again = loads_icons(dumps_icons(result.icons, fmt), fmt).icons["B"]
        assert again == placeholder
    source = dumps_icons(result.icons, "console")
    assert [type(s) for s in parse(source).statements] == [ast.IconDef]


# -- writers refuse what readers would have refused --------------------------------------------
@pytest.mark.parametrize("fmt", ["console", "pjsr", "xpsm", "json"])
@pytest.mark.parametrize(
    "icons",
    [
        {"A": UnknownProcess(class_id="Invert; echo X #")},
        {"A": UnknownProcess(class_id="Foo", elements=[RawElement(tag="parameter", attributes=[("id", "x=1;//")],
                                                                  text="1")])},
        {"A": ProcessContainer(items=[ContainerItem(instance=UnknownProcess(class_id="Foo"),
                                                    mask=MaskRef("M\n;echo X"))])},
    ],
    ids=["class", "parameter", "mask"],
)
def test_writers_refuse_unvalidated_ids(icons: dict[str, Process], fmt: str):
    if fmt == "xpsm" and any(getattr(i, "items", None) for i in icons.values()):
        pytest.skip("XPSM cannot hold masks: they are dropped with a warning, never written")
    with pytest.raises(IconFileError, match=r"is not an identifier|invalid (process|<parameter>) id"):
        dumps_icons(icons, fmt)


def test_console_writer_refuses_a_bad_icon_id_and_pjsr_comments_it_safely():
    icons = {"A\nconsole.log(1)": UnknownProcess(class_id="Foo")}
    with pytest.raises(IconFileError, match="icon id"):
        dumps_icons(icons, "console")
    script = dumps_icons(icons, "pjsr")
    assert _js_statements(script) == [("var", "icon_A_console_log_1_", "Foo")]


def test_icons_save_from_the_console_refuses_an_injected_placeholder(tmp_path: Path):
    from procfw.console import Session

    session = Session()
    session.workspace.icons["b"] = UnknownProcess(class_id="Invert; echo INJECTED #")
    with pytest.raises(Exception, match="is not an identifier"):
        session.run_text(f'icons save "{tmp_path / "x.pcs"}"')
    assert not (tmp_path / "x.pcs").exists()
    with pytest.raises(IconFileError):
        save_icons(tmp_path / "x.js", session.workspace.icons)


# -- a static check of PJSR: only `var V = new Id;`, `V.id = VALUE;` and `V.add(W);` ---------------
_JS_TOKEN = re.compile(
    r"""(?P<space>[ \t]+)|(?P<newline>\r\n|[\n\r\u2028\u2029])|(?P<comment>//[^\n\r\u2028\u2029]*)
    |(?P<block>/\*(?:[^*]|\*(?!/))*\*/)
    |(?P<string>"(?:[^"\\\n\r\u2028\u2029]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*")
    |(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_$][A-Za-z0-9_$]*)|(?P<punct>[=;.,\[\]()+-])""",
    re.VERBOSE,
)


def _js_tokens(script: str) -> list[tuple[str, str]]:
    tokens = []
    pos = 0
    while pos < len(script):
        match = _JS_TOKEN.match(script, pos)
        assert match is not None, f"unexpected JavaScript at {pos}: {script[pos:pos + 40]!r}"
        if match.lastgroup not in ("space", "newline", "comment", "block"):
            tokens.append((match.lastgroup or "", match.group()))
        pos = match.end()
    return tokens


class _Js:
    """A parser for the statement forms PJSR output may contain; anything else fails the test."""

    def __init__(self, script: str) -> None:
        self.tokens = _js_tokens(script)
        self.i = 0
        self.names: set[str] = set()

    def peek(self, ahead: int = 0) -> tuple[str, str]:
        return self.tokens[self.i + ahead] if self.i + ahead < len(self.tokens) else ("end", "")

    def take(self, kind: str, text: str | None = None) -> str:
        got = self.peek()
        assert got[0] == kind and (text is None or got[1] == text), f"expected {text or kind}, got {got!r}"
        self.i += 1
        return got[1]

    def value(self) -> Any:
        kind, text = self.peek()
        if kind == "string":
            parts = [json.loads(self.take("string"))]
            while self.peek() == ("punct", "+"):
                self.take("punct", "+")
                parts.append(json.loads(self.take("string")))
            return "".join(parts)
        if (kind, text) == ("punct", "-"):
            self.take("punct")
            return -float(self.take("number") if self.peek()[0] == "number" else self.take("name", "Infinity"))
        if kind == "number":
            return float(self.take("number"))
        if kind == "name" and text in ("true", "false", "NaN", "Infinity"):
            return self.take("name")
        if (kind, text) == ("punct", "["):
            self.take("punct")
            items = []
            while self.peek() != ("punct", "]"):
                items.append(self.value())
                if self.peek() == ("punct", ","):
                    self.take("punct")
            self.take("punct", "]")
            return items
        owner = self.take("name")
        self.take("punct", ".")
        element = self.take("name")
        assert element != "prototype", "PixInsight 1.9.4's runtime has no ProcessId.prototype.Element"
        return f"{owner}.{element}"

    def statements(self) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        while self.peek()[0] != "end":
            if self.peek() == ("name", "var"):
                self.take("name")
                var = self.take("name")
                self.take("punct", "=")
                self.take("name", "new")
                out.append(("var", var, self.take("name")))
                self.names.add(var)
            else:
                var = self.take("name")
                assert var in self.names, f"{var} used before its var"
                self.take("punct", ".")
                prop = self.take("name")
                if prop == "add" and self.peek() == ("punct", "("):
                    self.take("punct")
                    out.append(("add", var, self.take("name")))
                    self.take("punct", ")")
                else:
                    self.take("punct", "=")
                    out.append(("set", var, prop, self.value()))
            self.take("punct", ";")
        return out


def _js_statements(script: str) -> list[tuple[Any, ...]]:
    return _Js(script).statements()


# -- hypothesis: hostile ids and values ----------------------------------------------------------
_PAYLOADS = ['"', "'", "\\", "$", "${x}", "$1", ";", "#", "\n", "\r", "\r\n", "\u2028", "\u2029", "\x85", "\x0b",
             "\x0c", "\x00", "//", "/*", "*/", "`", "{", "}", "[", "]", "<", "&quot;", "-->", " -x=1", "--xpsm=",
             "echo INJECTED", "console.log(1)", "icon Z = Invert", "\\n", "\\\"", "\ufeff"]
HOSTILE_TEXT = st.lists(st.one_of(st.sampled_from(_PAYLOADS), st.text(max_size=3)), max_size=8).map("".join)
VALID_ID = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
ANY_ID = st.one_of(VALID_ID, VALID_ID, HOSTILE_TEXT)
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@st.composite
def hostile_icons(draw: st.DrawFn) -> tuple[dict[str, Process], bool, bool]:
    """Icons built from hostile ids and values; whether console source and PJSR must refuse them."""
    icons: dict[str, Process] = {}
    refusals: dict[str, tuple[bool, bool]] = {}
    for _ in range(draw(st.integers(1, 3))):
        name = draw(ANY_ID)
        shape = draw(st.sampled_from(["typed", "placeholder", "container"]))
        if shape == "typed":
            instance: Process = KitchenSink(text=draw(HOSTILE_TEXT))
            bad_ids: list[str] = []
            xml_bad = False
        else:
            cid, pid, tid, cell = draw(ANY_ID), draw(ANY_ID), draw(ANY_ID), draw(ANY_ID)
            text, value = draw(HOSTILE_TEXT), draw(HOSTILE_TEXT)
            instance = UnknownProcess(class_id=cid, elements=[
                RawElement(tag="parameter", attributes=[("id", pid)], text=text),
                RawElement(tag="table", attributes=[("id", tid), ("rows", "1")], children=[
                    RawElement(tag="tr", children=[RawElement(tag="td", attributes=[("id", cell), ("value", value)])])
                ]),
            ])
            bad_ids = [cid, pid, tid, cell]
            xml_bad = bool(_XML_ILLEGAL.search(text + value + cid + pid + tid + cell))
            if shape == "container":
                mask = draw(st.one_of(st.none(), ANY_ID))
                item = ContainerItem(instance=instance, mask=None if mask is None else MaskRef(mask))
                instance = ProcessContainer(items=[item, ContainerItem(instance=KitchenSink(text=text))])
                bad_ids += [] if mask is None else [mask]
        ids_bad = not all(is_identifier(i) for i in bad_ids)
        refusals[name] = (ids_bad or xml_bad or not is_identifier(name), ids_bad)
        icons[name] = instance  # a repeated name replaces the icon (and what it implies)
    return icons, any(c for c, _ in refusals.values()), any(p for _, p in refusals.values())


_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                               HealthCheck.too_slow])


@_SETTINGS
@given(hostile_icons())
def test_console_source_is_refused_or_reads_back_the_same_and_only_defines_icons(synthetic, case):  # noqa: F811
    from procfw.console import Session

    icons, must_refuse, _ = case
    try:
        text = dumps_icons(icons, "console")
    except IconFileError:
        assert must_refuse, "refused icons whose ids and values are all writable"
        return
    assert not must_refuse, f"wrote an unvalidated id or value:\n{text}"
    program = parse(text, "hostile.pcs")
    assert all(isinstance(s, ast.IconDef) for s in program.statements), program.statements
    lines = [line for line in text.split("\n") if line.strip()]
    assert len(program.statements) == len(lines)
    back = read_console_source(text, source="hostile.pcs").icons
    for name, instance in icons.items():
        assert back[name] == instance
    session = Session()
    session.run_text(text, file="hostile.pcs")
    assert set(session.workspace.icons) == set(back)
    for name, instance in icons.items():
        assert session.workspace.icons[name] == instance


@_SETTINGS
@given(hostile_icons())
def test_pjsr_is_refused_or_only_builds_objects_with_the_same_values(synthetic, case):  # noqa: F811
    icons, _, must_refuse = case
    try:
        script = dumps_icons(icons, "pjsr")
    except IconFileError:
        assert must_refuse
        return
    assert not must_refuse, f"wrote an unvalidated id:\n{script}"
    statements = _js_statements(script)
    texts = {s[3] for s in statements if s[0] == "set" and isinstance(s[3], str)}
    for instance in icons.values():
        for leaf in getattr(instance, "items", None) or [ContainerItem(instance=instance)]:
            if isinstance(leaf.instance, KitchenSink):
                assert leaf.instance.text in texts
            else:
                for element in leaf.instance.elements:
                    if element.tag == "parameter":
                        assert element.text in texts


# -- PJSR under a JavaScript runtime -----------------------------------------------------------
_NODE_RUNNER = r"""
const vm = require('vm'), fs = require('fs');
const code = fs.readFileSync(process.argv[2], 'utf8');
const ids = JSON.parse(process.argv[3]);
const sandbox = {};
for (const id of ids) {
  const ctor = function () { this.__process__ = id; };
  const add = function (child) {
    if (!Object.prototype.hasOwnProperty.call(this, '__items__')) this.__items__ = [];
    this.__items__.push(child.__process__);
  };
  ctor.prototype = { add };  // no enumeration elements here: PixInsight 1.9.4's runtime has none
  sandbox[id] = new Proxy(ctor,  // elements are static members of the constructor: ProcessId.Element
    { get(target, key) {
        return key in target ? target[key] : (typeof key === 'string' ? id + '.' + key : undefined); } });
}
vm.createContext(sandbox);
vm.runInContext(code, sandbox, { timeout: 5000 });
const out = {};
for (const key of Object.keys(sandbox)) if (!ids.includes(key)) out[key] = sandbox[key];
process.stdout.write(JSON.stringify(out));
"""


def _hostile_strings(count: int) -> list[str]:
    rng = random.Random(1234)
    fixed = ['";console.log("INJECTED");//', "\u2028console.log('INJ')", "*/console.log(1)/*", "\\",
             "a\nb\r\nc\u2029d", "${process.exit(3)}", "`${1}`", "</script>", "\x00\x1f\x7f"]
    alphabet = _PAYLOADS + list("abc xyz=()+")
    return fixed + ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(count)]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (the static checks still run)")
def test_pjsr_runs_under_node_and_only_sets_the_values(tmp_path: Path, synthetic):  # noqa: F811
    strings = _hostile_strings(60)
    icons: dict[str, Process] = {}
    for index, text in enumerate(strings):
        icons[f"K{index}"] = KitchenSink(text=text)
        icons[f"U{index}"] = UnknownProcess(class_id="BlurXTerminator", elements=[
            RawElement(tag="parameter", attributes=[("id", "note")], text=text),
            RawElement(tag="parameter", attributes=[("id", "mode")], text=None),
        ])
    icons["C"] = ProcessContainer(items=[ContainerItem(instance=KitchenSink(text=strings[0])),
                                         ContainerItem(instance=UnknownProcess(class_id="BlurXTerminator"))])
    script = tmp_path / "icons.js"
    script.write_text(dumps_icons(icons, "pjsr"), encoding="utf-8")
    runner = tmp_path / "runner.js"
    runner.write_text(_NODE_RUNNER)
    ids = json.dumps(["TestKitchenSink", "BlurXTerminator", "ProcessContainer"])
    done = subprocess.run(["node", str(runner), str(script), ids], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    objects = json.loads(done.stdout)
    assert set(objects) == {*icons, "C1", "C2"}
    for index, text in enumerate(strings):
        assert objects[f"K{index}"]["text"] == text
        assert objects[f"K{index}"]["__process__"] == "TestKitchenSink"
        assert objects[f"U{index}"]["note"] == text
    assert objects["C"]["__items__"] == ["TestKitchenSink", "BlurXTerminator"]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_reported_pjsr_attacks_never_reach_node(tmp_path: Path):
    for body in (f'<instance class="{PJSR_CLASS}" id="a_instance"/>',
                 f'<instance class="Foo" id="a_instance"><parameter id="{PJSR_PARAMETER}" value="1"/></instance>'):
        path = tmp_path / "evil.xpsm"
        path.write_text(f'<xpsm version="1.0">{body}<icon id="a" instance="a_instance"/></xpsm>')
        done = _cli(["icons", "convert", "evil.xpsm", "evil.js", "--overwrite"], tmp_path)
        assert done.returncode == 1 and "invalid" in done.stderr and "Traceback" not in done.stderr
        assert not (tmp_path / "evil.js").exists()


def test_icons_list_does_not_pass_terminal_escapes_through(tmp_path: Path):
    (tmp_path / "esc.json").write_text(json.dumps({"format": "procfw-icons", "version": 1, "icons": {"A": {
        "procfw_icon": 1, "process": "Invert", "description": "\x1b]0;owned\x07\x1b[2J red\u2028x"}}}))
    done = _cli(["icons", "list", "esc.json"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout and "\u2028" not in done.stdout
    assert "\\x1b]0;owned\\x07\\x1b[2J red" in done.stdout


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_pjsr_icons_named_after_their_process_keep_the_class_usable_under_node(tmp_path: Path, synthetic):  # noqa: F811
    icons: dict[str, Process] = {"TestKitchenSink": KitchenSink(text="a"), "Second": KitchenSink(text="b")}
    script = tmp_path / "icons.js"
    script.write_text(dumps_icons(icons, "pjsr"), encoding="utf-8")
    runner = tmp_path / "runner.js"
    runner.write_text(_NODE_RUNNER)
    done = subprocess.run(["node", str(runner), str(script), json.dumps(["TestKitchenSink"])],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    objects = json.loads(done.stdout)
    assert objects["TestKitchenSink_icon"]["text"] == "a" and objects["Second"]["text"] == "b"
    assert objects["Second"]["__process__"] == "TestKitchenSink"
    assert objects["Second"]["mode"] == "TestKitchenSink.Linear"
