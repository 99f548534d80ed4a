"""Hostile icon files: ``procfw icons list/convert`` on malformed, deep, huge, injected and junk
inputs ends cleanly (no traceback, no time-out, bounded memory) and names the file.

Every input is made here, in the test's temporary directory; nothing hostile is stored.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from hostile.harness import run_case

HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<xpsm version="1.0" xmlns="http://www.pixinsight.com/xpsm">\n'
TAIL = "</xpsm>\n"


def _xpsm(body: str, icons: str = '<icon id="A" instance="A_instance"/>') -> bytes:
    return (HEAD + body + "\n" + icons + "\n" + TAIL).encode("utf-8")


def _instance(cls: str, inner: str = "", iid: str = "A_instance") -> str:
    return f'<instance class="{cls}" id="{iid}">{inner}</instance>'


def _json(icons: object) -> bytes:
    return json.dumps({"format": "procfw-icons", "version": 1, "icons": icons}).encode("utf-8")


def _junk(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def _deep_containers_xpsm(depth: int) -> bytes:
    head = '<instance class="ProcessContainer" enabled="true">'
    body = head * depth + '<instance class="Invert" enabled="true"/>' + "</instance>" * depth
    return _xpsm(body.replace(head, '<instance class="ProcessContainer" id="A_instance">', 1))


def _deep_containers_json(depth: int) -> bytes:
    head = '{"procfw_icon": 1, "process": "ProcessContainer", "items": [{"instance": '
    icon = head * depth + '{"procfw_icon": 1, "process": "Invert"}' + "}]}" * depth
    return ('{"format": "procfw-icons", "version": 1, "icons": {"A": ' + icon + "}}").encode()


def _table_rows(rows: int) -> str:
    return "".join(f'<tr><td id="x" value="{i / rows:.6f}"/><td id="y" value="0.5"/></tr>' for i in range(rows))


_PIXELMATH = '<parameter id="expression">$T*0.5</parameter>'

# name, file name, content, expected outcome ("error": a clean error naming the file; "ok": success;
# "any": either, as long as nothing crashes)
CASES: list[tuple[str, str, Callable[[], bytes], str]] = [
    # -- XPSM: malformed and hostile XML
    ("xml-unclosed", "a.xpsm", lambda: (HEAD + '<instance class="Invert" id="A_instance">').encode(), "error"),
    ("xml-mismatched", "a.xpsm", lambda: _xpsm("<instance></icon>"), "error"),
    ("xml-empty", "a.xpsm", lambda: b"", "error"),
    ("xml-whitespace", "a.xpsm", lambda: b" \n\t\n" * 1000, "error"),
    ("xml-wrong-root", "a.xpsm", lambda: b'<?xml version="1.0"?><html><body/></html>', "error"),
    ("xml-xosm-root", "a.xpsm", lambda: b'<xosm version="1.0"/>', "error"),
    ("xml-wrong-namespace", "a.xpsm",
     lambda: _xpsm(_instance("Invert")).replace(b"http://www.pixinsight.com/xpsm", b"urn:evil"), "ok"),
    ("xml-prefixed-namespace", "a.xpsm",
     lambda: b'<p:xpsm xmlns:p="urn:x" version="1.0"><p:instance class="Invert" id="A_instance"/></p:xpsm>', "any"),
    ("xml-billion-laughs", "a.xpsm", lambda: (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><xpsm version="1.0">&c;</xpsm>'), "error"),
    ("xml-external-entity", "a.xpsm", lambda: (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<xpsm version="1.0"><instance class="PixelMath" id="A_instance"><parameter id="expression">&e;'
        b"</parameter></instance></xpsm>"), "error"),
    ("xml-undefined-entity", "a.xpsm", lambda: _xpsm(_instance("PixelMath", '<parameter id="expression">&zz;'
                                                                           "</parameter>")), "error"),
    ("xml-deep-elements", "a.xpsm", lambda: _xpsm("<a>" * 100_000 + "</a>" * 100_000), "error"),
    ("xml-deep-containers", "a.xpsm", lambda: _deep_containers_xpsm(1000), "error"),
    ("xml-containers-at-limit-plus-one", "a.xpsm", lambda: _deep_containers_xpsm(33), "error"),
    ("xml-huge-attribute", "a.xpsm",
     lambda: _xpsm(_instance("BlurXTerminator", f'<parameter id="p" value="{"A" * 20_000_000}"/>')), "any"),
    ("xml-many-attributes", "a.xpsm",
     lambda: _xpsm('<instance class="X" id="A_instance" ' + " ".join(f'a{i}="{i}"' for i in range(50_000))
                   + "/>"), "ok"),
    ("xml-duplicate-attribute", "a.xpsm", lambda: _xpsm('<instance class="X" class="Y" id="A_instance"/>'), "error"),
    ("xml-many-icons", "a.xpsm", lambda: _xpsm(
        "".join(_instance("BlurXTerminator", iid=f"I{i}_instance") for i in range(20_000)),
        "".join(f'<icon id="I{i}" instance="I{i}_instance"/>' for i in range(20_000))), "ok"),
    ("xml-huge-table", "a.xpsm", lambda: _xpsm(_instance(
        "CurvesTransformation", f'<table id="K" rows="100000">{_table_rows(100_000)}</table>')), "any"),
    ("xml-huge-text", "a.xpsm",
     lambda: _xpsm(_instance("PixelMath", f'<parameter id="expression">{"$T+" * 2_000_000}1</parameter>')), "any"),
    ("xml-truncated", "a.xpsm", lambda: _xpsm(_instance("PixelMath", _PIXELMATH))[:150], "error"),
    ("xml-binary-junk", "a.xpsm", lambda: _junk(100_000), "error"),
    ("xml-junk-after-root", "a.xpsm", lambda: _xpsm(_instance("Invert")) + _junk(1000), "error"),
    ("xml-nul-bytes", "a.xpsm", lambda: _xpsm(_instance("Invert")).replace(b"Invert", b"Inv\x00ert"), "error"),
    ("xml-invalid-utf8", "a.xpsm", lambda: _xpsm(_instance("PixelMath", '<parameter id="expression">x'
                                                                      "</parameter>")).replace(b">x<", b">\xff\xfe<"),
     "error"),
    ("xml-utf16-no-bom", "a.xpsm",
     lambda: _xpsm(_instance("Invert")).decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16-le"),
     "any"),
    ("xml-utf16-bom-declared-utf8", "a.xpsm", lambda: "\ufeff".encode("utf-16-le") + _xpsm(_instance("Invert"))
     .decode().encode("utf-16-le"), "any"),
    ("xml-class-injection", "a.xpsm",
     lambda: _xpsm('<instance class="Invert; echo INJECTED; mkdir &quot;pwned&quot; #" id="A_instance"/>'), "error"),
    ("xml-js-class-injection", "a.xpsm",
     lambda: _xpsm('<instance class="Foo;console.log(&quot;INJECTED&quot;);var z=Object" id="A_instance"/>'),
     "error"),
    ("xml-parameter-id-injection", "a.xpsm",
     lambda: _xpsm(_instance("Foo", '<parameter id="x=1;console.log(&quot;INJ2&quot;);//" value="1"/>')), "error"),
    ("xml-icon-id-injection", "a.xpsm",
     lambda: _xpsm(_instance("Invert"), '<icon id="A&#10;echo INJECTED" instance="A_instance"/>'), "error"),
    ("xml-cell-id-injection", "a.xpsm", lambda: _xpsm(_instance(
        "Foo", '<table id="t" rows="1"><tr><td id="a;b" value="1"/></tr></table>')), "error"),
    ("xml-bad-parameter-values", "a.xpsm", lambda: _xpsm(_instance(
        "HistogramTransformation", '<table id="H" rows="1"><tr><td id="c0" value="nan"/><td id="m" value="zz"/>'
        '</tr></table><parameter id="clipLow" value="1e999999"/>')), "ok"),
    ("xml-bad-version", "a.xpsm",
     lambda: _xpsm('<instance class="Invert" version="99999999999999999999999x" id="A_instance"/>'), "ok"),
    ("xml-icon-missing-instance", "a.xpsm",
     lambda: _xpsm(_instance("Invert"), '<icon id="B" instance="Nope_instance"/>'), "ok"),
    # -- JSON
    ("json-malformed", "a.json", lambda: b'{"format": "procfw-icons", "icons": {', "error"),
    ("json-deep-lists", "a.json", lambda: b"[" * 200_000 + b"]" * 200_000, "error"),
    ("json-deep-containers", "a.json", lambda: _deep_containers_json(1000), "error"),
    ("json-wrong-format", "a.json", lambda: b'{"format": "something-else", "version": 1}', "error"),
    ("json-top-level-list", "a.json", lambda: b"[1, 2, 3]", "error"),
    ("json-process-injection", "a.json", lambda: _json({"A": {"procfw_icon": 1, "process": "Invert; echo X #"}}),
     "error"),
    ("json-icon-id-injection", "a.json", lambda: _json({"A\necho X": {"procfw_icon": 1, "process": "Invert"}}),
     "error"),
    ("json-raw-tag-injection", "a.json", lambda: _json({"A": {"procfw_icon": 1, "process": "Zz", "placeholder": True,
                                                              "xpsm": [{"tag": "a><b", "text": "1"}]}}), "error"),
    ("json-wrong-types", "a.json", lambda: _json({"A": {"procfw_icon": 1, "process": "PixelMath",
                                                        "parameters": {"expression": [1, {"x": None}]}}}), "error"),
    ("json-nan-and-infinity", "a.json",
     lambda: b'{"format": "procfw-icons", "version": 1, "icons": {"A": {"procfw_icon": 1, "process": '
             b'"HistogramTransformation", "parameters": {"clipLow": NaN, "clipHigh": Infinity}}}}', "any"),
    ("json-huge-string", "a.json",
     lambda: _json({"A": {"procfw_icon": 1, "process": "PixelMath", "parameters": {"expression": "x" * 20_000_000}}}),
     "any"),
    ("json-not-utf8", "a.json", lambda: b'{"format": "\xff\xfe"}', "error"),
    ("json-binary-junk", "a.json", lambda: _junk(50_000, seed=3), "error"),
    # -- console source icon files
    ("pcs-injection", "a.pcs", lambda: b'icon b = Invert; echo INJECTED; mkdir "pwned" # --xpsm="x"\n', "error"),
    ("pcs-unterminated-string", "a.pcs", lambda: b'icon A = PixelMath -expression="abc\n', "error"),
    ("pcs-deep-containers", "a.pcs",
     lambda: ("icon A0 = Invert\n" + "".join(f"icon A{i} = A{i - 1},\n" for i in range(1, 1001))).encode(), "error"),
    ("pcs-deep-brackets", "a.pcs", lambda: b"icon A = CurvesTransformation -K=" + b"[" * 100_000 + b"\n", "error"),
    ("pcs-huge-table", "a.pcs", lambda: (
        "icon A = CurvesTransformation -K=[" + ",".join(f"[{i / 200_000:.6f},0.5]" for i in range(200_000))
        + "]\n").encode(), "any"),
    ("pcs-long-line", "a.pcs", lambda: b"icon A = PixelMath -expression=" + b"x" * 10_000_000 + b"\n", "error"),
    ("pcs-fragment-injection", "a.pcs",
     lambda: b'icon A = Zz --xpsm="<instance class=\\"Zz\\"><parameter id=\\"a;b\\" value=\\"1\\"/></instance>"\n',
     "error"),
    ("pcs-binary-junk", "a.pcs", lambda: _junk(20_000, seed=5), "error"),
    ("pcs-utf16-no-bom", "a.pcs", lambda: "icon A = Invert\n".encode("utf-16-le"), "error"),
]


def _worth_converting(name: str, expect: str) -> bool:
    """``convert`` is tried on the files that read, the injections and the deep containers."""
    return expect != "error" or "injection" in name or "deep-containers" in name


RUNS = [("list", *case) for case in CASES]
RUNS += [("convert", *case) for case in CASES if _worth_converting(case[0], case[3])]


@pytest.mark.parametrize(("action", "name", "filename", "make", "expect"), RUNS, ids=[f"{r[0]}-{r[1]}" for r in RUNS])
def test_hostile_icon_file(tmp_path: Path, action: str, name: str, filename: str, make: Callable[[], bytes],
                           expect: str):
    (tmp_path / filename).write_bytes(make())
    if action == "list":
        args = ["icons", "list", filename]
    else:
        target = "out.js" if name.endswith("injection") or "js" in name else "out.pcs"
        args = ["icons", "convert", filename, target]
    result = run_case(f"icons {action} {name}", args, cwd=tmp_path, timeout_s=60, memory_mb=2048)
    assert result.no_crash, (result.returncode, result.stderr[-2000:])
    if expect == "error":
        assert result.clean_error, result.stdout[-500:]
        assert filename in result.stderr, result.stderr[-1000:]
    elif expect == "ok":
        assert result.returncode == 0, result.stderr[-2000:]
    assert not (tmp_path / "pwned").exists()
    assert "INJECTED" not in result.stdout


def test_oversized_file_is_refused_before_reading(tmp_path: Path):
    from procfw.icons.safexml import MAX_FILE_BYTES

    with open(tmp_path / "big.xpsm", "wb") as handle:  # sparse: costs no disk
        handle.truncate(MAX_FILE_BYTES + 1)
    result = run_case("icons list oversized", ["icons", "list", "big.xpsm"], cwd=tmp_path, memory_mb=512)
    assert result.clean_error and "big.xpsm" in result.stderr and "limited to" in result.stderr


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("directory", ["icons", "list", "dir.xpsm"]),
        ("missing", ["icons", "list", "missing.xpsm"]),
        ("unknown-extension", ["icons", "list", "a.txt"]),
        ("write-only-js", ["icons", "list", "a.js"]),
        ("convert-onto-itself", ["icons", "convert", "a.xpsm", "a.xpsm"]),
    ],
)
def test_odd_paths_fail_cleanly(tmp_path: Path, name: str, args: list[str]):
    (tmp_path / "dir.xpsm").mkdir()
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "a.js").write_text("var P = new Invert;")
    (tmp_path / "a.xpsm").write_bytes(_xpsm(_instance("Invert")))
    result = run_case(f"icons {name}", args, cwd=tmp_path)
    assert result.clean_error, (result.returncode, result.stderr[-1000:])
    assert args[2] in result.stderr
    assert (tmp_path / "a.xpsm").read_bytes() == _xpsm(_instance("Invert"))
