"""Hostile and broken XML fails cleanly (a procfw IconFileError naming file, line and problem) and fast."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from icon_helpers import corpus_files

from procfw.icons import IconFileError, load_icons, xpsm
from procfw.icons.safexml import parse_xml
from procfw.unknown import UnknownProcess

pytestmark = pytest.mark.filterwarnings("ignore::procfw.registry.PluginWarning")

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<xpsm version="1.0"><instance class="PixelMath" id="P_instance"><parameter id="expression">&lol9;</parameter>
</instance></xpsm>
"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE xpsm [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xpsm version="1.0"><instance class="PixelMath" id="P_instance"><parameter id="expression">&xxe;</parameter>
</instance></xpsm>
"""


def _fails_fast(func, match: str) -> IconFileError:
    start = time.perf_counter()
    with pytest.raises(IconFileError, match=match) as info:
        func()
    assert time.perf_counter() - start < 2.0
    return info.value


def test_entity_expansion_is_refused_before_parsing():
    error = _fails_fast(lambda: xpsm.loads(BILLION_LAUGHS, source="lol.xpsm"), "DOCTYPE declarations are not allowed")
    assert str(error).startswith("lol.xpsm:2:")


def test_external_entity_is_refused():
    error = _fails_fast(lambda: xpsm.loads(XXE, source="xxe.xpsm"), "not allowed")
    assert "root:" not in str(error)


def test_declarations_are_refused_by_the_parser_too_when_the_precheck_cannot_see_them():
    # UTF-16 hides "<!DOCTYPE" from a byte search; the expat handlers still refuse it.
    data = XXE.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>').encode("utf-16")
    _fails_fast(lambda: parse_xml(data, source="utf16.xpsm"), "not allowed")


def test_undefined_entity_reference_is_a_clean_error():
    error = _fails_fast(lambda: xpsm.loads('<xpsm version="1.0">\n  <a>&xxe;</a></xpsm>', source="u.xpsm"),
                        "undefined entity")
    assert (error.line, error.column) == (2, 6)


def test_deep_nesting_is_refused():
    data = "<xpsm>" + "<a>" * 100_000 + "</a>" * 100_000 + "</xpsm>"
    _fails_fast(lambda: xpsm.loads(data, source="deep.xpsm"), "nested deeper than 64")


def test_oversized_input_is_refused_without_parsing(tmp_path: Path):
    huge = '<xpsm version="1.0"><instance class="X" id="a" v="' + "A" * 50_000 + '"/></xpsm>'
    _fails_fast(lambda: xpsm.loads(huge, max_bytes=10_000), "limited to 10000 bytes")
    path = tmp_path / "huge.xpsm"
    path.write_text(huge)
    _fails_fast(lambda: xpsm.load(path, max_bytes=10_000), "huge.xpsm: file is 50")


def test_truncated_file_names_file_line_and_problem(tmp_path: Path):
    files = corpus_files()
    fallback = b'<xpsm version="1.0">\n<instance class="X" id="a">\n</instance>\n</xpsm>\n'
    text = files[0].read_bytes() if files else fallback
    path = tmp_path / "truncated.xpsm"
    path.write_bytes(text[: len(text) // 2])
    error = _fails_fast(lambda: load_icons(path), "malformed XML")
    assert error.source == str(path) and error.line is not None and error.line > 1
    assert str(error).startswith(f"{path}:{error.line}:")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "no element found"),
        ("<xpsm><instance></xpsm>", "mismatched tag"),
        ("<foo/>", "not an XPSM file"),
        ('<xosm version="1.0"/>', "XOSM"),
        ('<xpsm version="1.0"><instance id="a_instance"/><icon id="a" instance="a_instance"/></xpsm>',
         "without a class"),
        ("\xff\xfe garbage", "malformed XML"),
    ],
)
def test_malformed_documents_raise_procfw_errors(text: str, match: str):
    _fails_fast(lambda: xpsm.loads(text.encode("latin-1"), source="bad.xpsm"), match)


def test_class_names_are_never_imported():
    name = "procfw_icons_evil_module_that_must_not_load"
    text = (f'<xpsm version="1.0"><instance class="{name}" id="a_instance"/>'
            f'<instance class="os_system" id="b_instance"/>'
            f'<icon id="a" instance="a_instance"/><icon id="b" instance="b_instance"/></xpsm>')
    result = xpsm.loads(text)
    assert all(isinstance(i, UnknownProcess) for i in result.icons.values())
    assert name not in sys.modules


@pytest.mark.parametrize("bad", [f"{'procfw_icons_evil'}:Thing", "os.system"])
def test_class_names_that_are_not_identifiers_are_refused(bad: str):
    text = (f'<xpsm version="1.0">\n<instance class="{bad}" id="a_instance"/>'
            f'<icon id="a" instance="a_instance"/></xpsm>')
    error = _fails_fast(lambda: xpsm.loads(text, source="bad.xpsm"), "invalid process id")
    assert str(error).startswith("bad.xpsm:2:") and repr(bad) in str(error)
