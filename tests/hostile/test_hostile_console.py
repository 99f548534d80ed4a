"""Hostile console text: ``procfw run FILE``, ``run -c`` and ``console`` (stdin) on long lines,
huge tokens, deep nesting, unbalanced quotes, junk and encodings end cleanly (no traceback,
no time-out, bounded memory) and name the file and line.

Every input is made here, in the test's temporary directory; nothing hostile is stored.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from hostile.harness import run_case

MIB = 1 << 20


def _junk(size: int, seed: int = 11) -> bytes:
    return random.Random(seed).randbytes(size)


# name, script bytes, expected outcome ("error": a clean error naming the script; "ok": success;
# "any": either), and a fragment the error message must hold (None: no check beyond the file name)
SCRIPTS: list[tuple[str, Callable[[], bytes], str, str | None]] = [
    ("token-10mb-word", lambda: b"echo " + b"a" * 10_000_000 + b"\n", "error", "limited to"),
    ("token-10mb-string", lambda: b'echo "' + b"a" * 10_000_000 + b'"\n', "error", "limited to"),
    ("token-10mb-raw-string", lambda: b"echo '" + b"a" * 10_000_000 + b"'\n", "error", "limited to"),
    ("token-10mb-number", lambda: b"echo " + b"9" * 10_000_000 + b"\n", "error", "limited to"),
    ("token-10mb-comment", lambda: b"# " + b"x" * 10_000_000 + b"\necho ok\n", "error", "limited to"),
    ("line-2mb-of-words", lambda: b"echo " + b"ab " * 700_000 + b"\n", "error", "limited to"),
    ("token-just-under-limit", lambda: b"echo " + b"a" * (MIB - 100) + b" > /dev/null\n", "any", None),
    ("token-dashes-under-limit", lambda: b"let x = " + b"a-" * (MIB // 2 - 100) + b"\n", "ok", None),
    ("string-escapes-under-limit", lambda: b'let x = "' + b'\\"' * (MIB // 2 - 100) + b'"\n', "ok", None),
    ("unbalanced-double-quote", lambda: b'echo "abc\necho ok\n', "error", "unterminated string"),
    ("unbalanced-single-quote", lambda: b"echo 'abc\n", "error", "unterminated string"),
    ("quote-at-end-of-file", lambda: b'echo ok\necho "', "error", "unterminated string"),
    ("deep-braces", lambda: b"if 1 { " * 100_000 + b"\n", "error", "nest deeper"),
    ("stacked-braces", lambda: b"if 1 " + b"{ " * 100_000 + b"\n", "error", "unexpected '{'"),
    ("deep-brackets", lambda: b"echo " + b"[" * 100_000 + b"\n", "error", "nest deeper"),
    ("deep-parentheses", lambda: b"if " + b"(" * 100_000 + b"1 { echo }\n", "error", "nest deeper"),
    ("deep-braces-closed", lambda: b"if 1 " + b"{ if 1 " * 60 + b"{ }" + b" }" * 60 + b"\n", "error", "nest deeper"),
    ("unclosed-brace-at-eof", lambda: b"for x in [1, 2] {\n  echo $x\n", "error", "not closed"),
    ("stray-closers", lambda: b"}}}]]])))\n", "error", "unexpected"),
    ("else-without-if", lambda: b"else { echo }\n", "error", None),
    ("dollar-at-end", lambda: b"echo $\n", "error", "'$' must start a variable"),
    ("unterminated-variable-brace", lambda: b"echo ${abc\n", "error", None),
    ("bad-variable-attribute", lambda: b"let p = x.fits\necho ${p.__class__}\n", "error", "unknown attribute"),
    ("undefined-variable", lambda: b"echo $nope\n", "error", "nope"),
    ("recursion", lambda: b"def f() { f }\nf\n", "error", "nest deeper"),
    ("mutual-recursion", lambda: b"def f() { g }\ndef g() { f }\nf\n", "error", "nest deeper"),
    # (runtime errors still quote the whole name: see LONG_MESSAGES)
    ("huge-process-name", lambda: b"A" * 500_000 + b"\n", "error", "unknown command or process"),
    ("huge-option-name", lambda: b"PixelMath -" + b"x" * 500_000 + b"=1\n", "error", "has no parameter"),
    ("huge-number", lambda: b"echo " + b"9" * 500_000 + b"\n", "any", None),
    ("huge-table-literal", lambda: (
        "icon A = CurvesTransformation -K=[\n" + ",\n".join(f"[{i / 200_000:.6f}, 0.5]" for i in range(200_000))
        + "]\n").encode(), "any", None),
    ("huge-loop-list", lambda: ("for x in [" + ",".join(str(i) for i in range(100_000)) + "] { let y = $x }\n")
     .encode(), "ok", None),
    ("many-statements-one-line", lambda: b"let x = 1; " * 50_000 + b"\n", "ok", None),
    ("million-comment-lines", lambda: b"# comment\n" * 1_000_000, "ok", None),
    ("million-blank-lines-then-error", lambda: b"\n" * 1_000_000 + b"echo 'x\n", "error", ":1000001:"),
    ("line-continuations", lambda: b"echo a \\\n" * 100_000 + b"b\n", "any", None),
    ("binary-junk", lambda: _junk(100_000), "error", None),
    ("nul-bytes", lambda: b"echo a\x00b\n", "error", None),
    ("invalid-utf8", lambda: b"echo \xff\xfe\xfd\n", "error", None),
    ("lone-surrogate-bytes", lambda: b"echo \xed\xa0\x80\n", "error", None),
    ("utf16-no-bom", lambda: "echo hello\n".encode("utf-16-le"), "error", None),
    ("utf16-with-bom", lambda: "\ufeffecho hello\n".encode("utf-16-le"), "error", None),
    ("utf8-bom", lambda: "\ufeffecho hello\n".encode(), "ok", None),
    ("cr-only-newlines", lambda: b"echo a\recho b\r", "any", None),
    ("form-feeds-and-tabs", lambda: b"\techo\x0c a\t\x0cb\n", "any", None),
    ("unicode-line-separators", lambda: "echo a\u2028echo INJECTED\u2029\x85\n".encode(), "any", None),
    ("icon-injection-text", lambda: b'icon b = Zz --xpsm="<instance class=\\"Zz; echo INJECTED\\"/>"\n', "error",
     None),
    ("icon-bad-id", lambda: b"icon 1x = Invert\n", "error", "invalid icon id"),
    ("icon-deep-containers", lambda: ("icon A0 = Invert\n" + "".join(f"icon A{i} = A{i - 1},\n"
                                                                       for i in range(1, 1001))).encode(), "any", None),
    ("icons-load-hostile-xpsm", lambda: b'icons load "evil.xpsm"\n', "error", "evil.xpsm"),
    ("run-itself", lambda: b'run "script.pcs"\n', "error", "nest deeper"),
]


# Cases whose (clean) error message still quotes a 500 KB name whole: the messages come from the
# session and Process.parameter_id, outside the reader; reported, not asserted here.
LONG_MESSAGES = {"huge-process-name", "huge-option-name"}


@pytest.mark.parametrize(("name", "make", "expect", "fragment"), SCRIPTS, ids=[c[0] for c in SCRIPTS])
def test_hostile_console_script(tmp_path: Path, name: str, make: Callable[[], bytes], expect: str,
                                fragment: str | None):
    (tmp_path / "script.pcs").write_bytes(make())
    (tmp_path / "evil.xpsm").write_text(
        '<xpsm version="1.0"><instance class="Invert; echo INJECTED #" id="b_instance"/>'
        '<icon id="b" instance="b_instance"/></xpsm>')
    result = run_case(f"run {name}", ["run", "script.pcs"], cwd=tmp_path, timeout_s=60, memory_mb=2048)
    assert result.no_crash, (result.returncode, result.stderr[-2000:])
    if expect == "error":
        assert result.clean_error, (result.returncode, result.stdout[-300:])
        assert "script.pcs" in result.stderr, result.stderr[-1000:]
        if fragment is not None:
            assert fragment in result.stderr, result.stderr[-1000:]
        if name not in LONG_MESSAGES:
            assert len(result.stderr) < 20_000  # a long line is never echoed whole
    elif expect == "ok":
        assert result.returncode == 0, result.stderr[-2000:]
    assert "INJECTED" not in result.stdout.replace("echo INJECTED", "")


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        # (one argument is at most 128 KiB on Linux: longer lines are tried through files and stdin)
        ("c-long-unterminated", 'echo "' + "z" * 120_000, "unterminated string"),
        ("c-unbalanced", 'echo "a', "unterminated string"),
        ("c-deep", "echo " + "[" * 10_000, "nest deeper"),
        ("c-junk", "".join(chr(c) for c in range(1, 0x2000, 7)), None),
    ],
)
def test_hostile_run_c(tmp_path: Path, name: str, text: str, fragment: str | None):
    result = run_case(f"run -c {name}", ["run", "-c", text], cwd=tmp_path, timeout_s=60)
    assert result.clean_error, (result.returncode, result.stderr[-1000:])
    if fragment is not None:
        assert fragment in result.stderr
    assert len(result.stderr) < 20_000


@pytest.mark.parametrize(
    ("name", "stdin"),
    [
        ("stdin-long-line", "echo " + "q" * 3_000_000 + "\necho after\n"),
        ("stdin-unbalanced", 'echo "abc\necho after\n'),
        ("stdin-deep-braces", "if 1 " + "{ " * 10_000 + "\n"),
        ("stdin-junk", "".join(chr(c) for c in range(1, 0x3000, 3)) + "\n"),
    ],
)
def test_hostile_console_stdin(tmp_path: Path, name: str, stdin: str):
    result = run_case(f"console {name}", ["console"], cwd=tmp_path, timeout_s=60, stdin=stdin)
    assert result.no_crash, (result.returncode, result.stderr[-2000:])
    assert len(result.stderr) < 50_000
