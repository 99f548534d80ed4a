"""Parse console text into the typed AST of :mod:`procfw.language.ast`.

The grammar is ``console.lark`` (shipped with the package); Lark's LALR(1) parser with
its contextual lexer reads it, and :class:`AstBuilder` (a Lark Transformer run inline
while parsing) builds the AST nodes.  Every failure becomes a
:class:`~procfw.language.errors.ConsoleSyntaxError` with ``file:line:column``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import lark
from lark import Lark, Token, Transformer
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lark import PostLex

from procfw.language import ast
from procfw.language.errors import ConsoleSyntaxError
from procfw.literals import MAX_LINE_LENGTH

__all__ = ["IDENTIFIER", "MAX_LINE_LENGTH", "PATH_ATTRIBUTES", "MAX_NESTING", "parse", "open_depth"]

MAX_NESTING = 48
"""How deeply brackets, braces and parentheses may nest."""

# MAX_LINE_LENGTH (procfw.literals, shared with the .pcs icon reader): the longest console
# line, in characters (1 MiB of ASCII).  No token spans lines (strings cannot hold a raw
# newline), so this bounds every token too.  Longer text is refused before the lexer sees
# it, naming file, line and the limit: a single 10 MB word once took gigabytes to lex.

_TOO_LONG = re.compile(rf"[^\n]{{{MAX_LINE_LENGTH + 1}}}")
_SHOWN_WIDTH = 160
_SPECIAL = {"string": re.compile(r"[\\$]"), "word": re.compile(r"\$")}

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
PATH_ATTRIBUTES = ("stem", "name", "suffix", "parent")
"""What ``${var.ATTR}`` may ask of a path-valued variable."""

_VAR = re.compile(r"\$(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*|[0-9]+|@)|\{(?P<brace>[^{}\"\n]*)\})")
_BRACE = re.compile(
    r"(?P<name>[A-Za-z_][A-Za-z0-9_]*|[0-9]+|@)(?:\.(?P<attr>[A-Za-z_][A-Za-z0-9_]*))?(?::-(?P<default>.*))?\Z",
    re.DOTALL,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}

_OPENERS = {"LBRACKET": "]", "LPAR": ")", "_LPAR": ")", "LBRACE": "}"}
_CLOSERS = {"RSQB", "RPAR", "_RPAR", "RBRACE"}

_TERMINAL_NAMES = {
    "_NL": "end of line",
    "$END": "end of input",
    "WORD": "a word",
    "NUMBER": "a number",
    "STRING": "a string",
    "RAW_STRING": "a string",
    "OPTION": "-name=value",
    "SWITCH": "a switch (-name+ or -name-)",
    "FLAG": "-name",
    "LITERAL": "--name",
    "LITERAL_OPTION": "--name=value",
    "NAME_EQ": "name=",
    "LBRACKET": "'['",
    "RSQB": "']'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LPAR": "'('",
    "_LPAR": "'('",
    "RPAR": "')'",
    "_RPAR": "')'",
    "COMMA": "','",
    "EQUAL": "'='",
    "SEMICOLON": "';'",
    "ARROW": "'->'",
    "CMP": "a comparison (== != < <= > >=)",
    "ADD_OP": "+ or -",
    "MUL_OP": "*, / or %",
    "MINUS": "'-'",
    "NOT": "'not'",
    "_OR": "'or'",
    "_AND": "'and'",
    "_IN": "'in'",
    "_ELSE": "'else'",
    "LET": "'let'",
    "FOR": "'for'",
    "IF": "'if'",
    "DEF": "'def'",
    "ICON": "'icon'",
}


class _Problem(Exception):
    """A syntax problem found while building the AST (converted by :func:`parse`)."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


class _PostLexer(PostLex):
    """Drops newlines inside [ ] and ( ); bounds nesting depth."""

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        stack: list[str] = []
        for token in stream:
            kind = token.type
            if kind == "_NL":
                if stack and stack[-1] != "}":
                    continue
            elif kind in _OPENERS:
                stack.append(_OPENERS[kind])
                if len(stack) > MAX_NESTING:
                    raise _Problem(f"brackets, braces and parentheses nest deeper than {MAX_NESTING}", token.line,
                                   token.column)
            elif kind in _CLOSERS and stack:
                stack.pop()
            yield token


def _position(token: Token) -> tuple[int, int]:
    return int(token.line or 1), int(token.column or 1)


def split_text(raw: str, line: int, column: int, kind: str) -> tuple[str | ast.VarRef, ...]:
    """The literal pieces and variable references of a word or string body.

    ``raw`` is the token text (with quotes for strings); ``line``/``column`` where it starts.
    """
    if kind == "raw":
        return (raw[1:-1],)
    body, offset = (raw[1:-1], 1) if kind == "string" else (raw, 0)
    parts: list[str | ast.VarRef] = []
    chunk: list[str] = []
    special = _SPECIAL["string" if kind == "string" else "word"]
    i = 0
    while i < len(body):
        found = special.search(body, i)  # copy plain runs at once: linear in the token's length
        if found is None:
            chunk.append(body[i:])
            break
        if found.start() > i:
            chunk.append(body[i : found.start()])
            i = found.start()
        ch = body[i]
        if ch == "\\" and kind == "string" and i + 1 < len(body):
            chunk.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
            continue
        if ch == "$":
            match = _VAR.match(body, i)
            if match is not None:
                ref = _var_ref(match, line, column + offset + i)
                if chunk:
                    parts.append("".join(chunk))
                    chunk = []
                parts.append(ref)
                i = match.end()
                continue
        chunk.append(ch)
        i += 1
    if chunk or not parts:
        parts.append("".join(chunk))
    return tuple(parts)


def _var_ref(match: re.Match[str], line: int, column: int) -> ast.VarRef:
    if match.group("name") is not None:
        return ast.VarRef(line, column, match.group("name"))
    inner = match.group("brace")
    brace = _BRACE.match(inner)
    if brace is None:
        raise _Problem(
            f"bad variable reference '${{{inner}}}': expected ${{name}}, ${{name.attribute}} or ${{name:-default}}",
            line, column,
        )
    attr = brace.group("attr")
    if attr is not None and attr not in PATH_ATTRIBUTES:
        raise _Problem(
            f"unknown attribute '.{attr}' in '${{{inner}}}': one of {', '.join(PATH_ATTRIBUTES)}", line, column
        )
    return ast.VarRef(line, column, brace.group("name"), attr, brace.group("default"), True)


def _identifier(token: Token, what: str) -> str:
    text = str(token)
    if not IDENTIFIER.match(text):
        line, column = _position(token)
        raise _Problem(f"invalid {what} '{text}': names are letters, digits and _, not starting with a digit",
                       line, column)
    return text


def _number(token: Token) -> ast.Number:
    text = str(token)
    line, column = _position(token)
    try:
        value: int | float = int(text) if re.fullmatch(r"[+\-]?[0-9]+", text) else float(text)
    except ValueError:
        raise _Problem(f"number {text[:20]}... is too long", line, column) from None
    return ast.Number(line, column, value, text)


def _text(token: Token, kind: str) -> ast.Text:
    line, column = _position(token)
    return ast.Text(line, column, split_text(str(token), line, column, kind), kind, str(token))


def _without_equals(token: Token) -> Token:
    """A NAME_EQ token (``x=``) as the WORD ``x``."""
    if token.type == "NAME_EQ":
        return Token("WORD", str(token)[:-1], line=token.line, column=token.column)
    return token


def _pos(node: Any) -> tuple[int, int]:
    return node.line, node.column


class AstBuilder(Transformer):
    """Builds :mod:`procfw.language.ast` nodes from the parse of ``console.lark``."""

    # -- values -------------------------------------------------------------------------
    def number(self, children: list[Any]) -> ast.Number:
        return _number(children[0])

    def string(self, children: list[Any]) -> ast.Text:
        return _text(children[0], "string")

    def raw_string(self, children: list[Any]) -> ast.Text:
        return _text(children[0], "raw")

    def word(self, children: list[Any]) -> ast.Text:
        return _text(children[0], "word")

    def list(self, children: list[Any]) -> ast.ListValue:
        bracket = children[0]
        line, column = _position(bracket)
        return ast.ListValue(line, column, tuple(c for c in children[1:] if c is not None and not isinstance(c, Token)))

    # -- arguments ----------------------------------------------------------------------
    def option(self, children: list[Any]) -> ast.Option:
        token, value = children
        return ast.Option(*_position(token), str(token)[1:-1], value)

    def switch(self, children: list[Any]) -> ast.Switch:
        token = children[0]
        return ast.Switch(*_position(token), str(token)[1:-1], str(token).endswith("+"))

    def flag(self, children: list[Any]) -> ast.Flag:
        token = children[0]
        return ast.Flag(*_position(token), str(token)[1:])

    def literal(self, children: list[Any]) -> ast.Literal:
        token = children[0]
        if token.type == "LITERAL_OPTION":
            return ast.Literal(*_position(token), str(token)[2:-1], children[1])
        return ast.Literal(*_position(token), str(token)[2:])

    # -- conditions ---------------------------------------------------------------------
    def comparison(self, children: list[Any]) -> ast.Compare:
        left, op, right = children
        return ast.Compare(*_pos(left), left, None if op is None else str(op), right)

    def arith(self, children: list[Any]) -> Any:
        node = children[0]
        for op, right in zip(children[1::2], children[2::2]):
            node = ast.Arith(*_pos(children[0]), str(op), node, right)
        return node

    def negate(self, children: list[Any]) -> ast.Negate:
        sign, operand = children
        return ast.Negate(*_position(sign), operand)

    def not_cond(self, children: list[Any]) -> ast.Not:
        nots = [c for c in children if isinstance(c, Token)]
        return ast.Not(*_position(nots[0]), children[-1], len(nots))

    def and_cond(self, children: list[Any]) -> ast.And:
        return ast.And(*_pos(children[0]), tuple(children))

    def or_cond(self, children: list[Any]) -> ast.Or:
        return ast.Or(*_pos(children[0]), tuple(children))

    # -- statements ---------------------------------------------------------------------
    def start(self, children: list[Any]) -> tuple[Any, ...]:
        return tuple(c for c in children if not isinstance(c, Token))

    def block(self, children: list[Any]) -> ast.Block:
        statements = tuple(c for c in children if not isinstance(c, Token))
        line, column = _pos(statements[0]) if statements else (0, 0)
        return ast.Block(line, column, statements)

    def command(self, children: list[Any]) -> ast.Command:
        name, *rest = children
        into = None
        if len(rest) >= 2 and (rest[-2] is None or isinstance(rest[-2], Token)):
            arrow, into_token = rest[-2], rest[-1]
            rest = rest[:-2]
            if arrow is not None:
                into = _text(into_token, "word")
        return ast.Command(*_position(name), _text(name, "word"), tuple(rest), into)

    def let_stmt(self, children: list[Any]) -> ast.Let:
        keyword, name, value = children
        name = _without_equals(name)
        return ast.Let(*_position(keyword), _identifier(name, "variable name"), value)

    def for_stmt(self, children: list[Any]) -> ast.For:
        keyword, name, iterable, body = children
        return ast.For(*_position(keyword), _identifier(name, "loop variable"), iterable, body)

    def if_stmt(self, children: list[Any]) -> ast.If:
        keyword, condition, body, orelse = children
        return ast.If(*_position(keyword), condition, body, orelse)

    def def_param(self, children: list[Any]) -> ast.DefParam:
        name, default = children
        name = _without_equals(name)
        return ast.DefParam(*_position(name), _identifier(name, "parameter name"), default)

    def def_stmt(self, children: list[Any]) -> ast.Def:
        keyword, name, *params, body = children
        plist = tuple(p for p in params if isinstance(p, ast.DefParam))
        seen: set[str] = set()
        for p in plist:
            if p.name in seen:
                raise _Problem(f"parameter '{p.name}' appears twice", p.line, p.column)
            seen.add(p.name)
        required_after_default = [p for i, p in enumerate(plist) if p.default is None and any(
            q.default is not None for q in plist[:i])]
        if required_after_default:
            p = required_after_default[0]
            raise _Problem(f"parameter '{p.name}' without a default follows one with a default", p.line, p.column)
        return ast.Def(*_position(keyword), _identifier(name, "command name"), plist, body)

    def icon_ref(self, children: list[Any]) -> ast.IconRef:
        token = children[0]
        line, column = _position(token)
        text = str(token)
        enabled = token.type != "FLAG"
        body = text if enabled else text[1:]
        name, _, mask = body.partition("@")
        inverted = mask.startswith("~")
        mask = mask[1:] if inverted else mask
        offset = 0 if enabled else 1
        _identifier(Token("WORD", name, line=line, column=column + offset), "icon id")
        if "@" in body:
            _identifier(Token("WORD", mask, line=line, column=column + offset + len(name) + 1 + inverted),
                        "mask view id")
        return ast.IconRef(line, column, name, enabled, mask or None, inverted)

    def _icon_list(self, children: list[Any]) -> tuple[tuple[ast.IconRef, ...], tuple[ast.Literal, ...]]:
        refs = tuple(c for c in children if isinstance(c, ast.IconRef))
        options: list[ast.Literal] = []
        for index, child in enumerate(children):
            if isinstance(child, Token) and child.type == "LITERAL_OPTION":
                options.append(self.literal([child, children[index + 1]]))
        return refs, tuple(options)

    def icon_list(self, children: list[Any]) -> tuple[tuple[ast.IconRef, ...], tuple[ast.Literal, ...]]:
        return self._icon_list(children)

    def icon_list_single(self, children: list[Any]) -> tuple[tuple[ast.IconRef, ...], tuple[ast.Literal, ...]]:
        return self._icon_list([self.icon_ref([children[0]]), *children[1:]])

    def icon_stmt(self, children: list[Any]) -> ast.IconDef:
        keyword, name, definition = children
        line, column = _position(keyword)
        name = _without_equals(name)
        icon_id = _text(name, "word")
        if icon_id.literal is not None:
            _identifier(name, "icon id")
        if isinstance(definition, ast.Command):
            return ast.IconDef(line, column, icon_id, command=definition)
        refs, options = definition
        return ast.IconDef(line, column, icon_id, items=refs, options=options)


def _grammar() -> str:
    """The text of ``console.lark`` as this Python's ``re`` takes it."""
    grammar = resources.files("procfw.language").joinpath("console.lark").read_text(encoding="utf-8")
    if sys.version_info < (3, 11):  # no possessive loops: the same tokens, matched with backtracking state
        grammar = grammar.replace(")*+", ")*")
    return grammar


def _grammar_digest(grammar: str) -> str:
    return hashlib.sha256(grammar.encode("utf-8")).hexdigest()


def _build_parser(grammar: str) -> Lark:
    """Lark's parser of ``grammar``, its LALR(1) tables computed (~50 ms)."""
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        postlex=_PostLexer(),
        transformer=AstBuilder(),
        maybe_placeholders=True,
        propagate_positions=False,
    )


def _saved_parser(grammar: str) -> Lark | None:
    """The parser rebuilt from :mod:`procfw.language.parser_tables` (~5 ms), or None unless those tables were
    made from ``grammar`` by the installed version of Lark (the parser is then built from the grammar).

    The tables are Lark's own serialization of the parser (as its ``standalone`` tool embeds them), written as
    plain Python literals by :func:`write_parser_tables`: no pickle, nothing run but the module's import.
    """
    try:
        from procfw.language import parser_tables
    except ImportError:
        return None
    if parser_tables.GRAMMAR_SHA256 != _grammar_digest(grammar) or parser_tables.LARK_VERSION != lark.__version__:
        return None
    try:
        return Lark._load_from_dict(  # noqa: SLF001 - the loader of Lark's standalone parsers
            parser_tables.DATA, parser_tables.MEMO, transformer=AstBuilder(), postlex=_PostLexer())
    except Exception as exc:  # noqa: BLE001 - tables Lark no longer reads: build the parser instead
        logging.getLogger(__name__).debug("the saved parser tables cannot be loaded: %s", exc)
        return None


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = _grammar()
    return _saved_parser(grammar) or _build_parser(grammar)


def write_parser_tables(path: str | os.PathLike[str] | None = None) -> Path:
    """Write :mod:`procfw.language.parser_tables` (or ``path``) from the grammar, for :func:`_saved_parser`;
    the path written.  Run ``python -m procfw.language.parser`` after changing ``console.lark`` or Lark."""
    from lark.grammar import Rule
    from lark.lexer import TerminalDef

    grammar = _grammar()
    data, memo = _build_parser(grammar).memo_serialize([TerminalDef, Rule])
    data["options"] = {k: v for k, v in data["options"].items() if k not in ("postlex", "transformer")}
    target = Path(path) if path is not None else Path(__file__).with_name("parser_tables.py")
    text = ('"""LALR(1) tables of ``console.lark``, made by ``python -m procfw.language.parser``: do not edit.\n\n'
            'See :func:`procfw.language.parser._saved_parser`.\n"""\n\n'
            f"GRAMMAR_SHA256 = {_grammar_digest(grammar)!r}\nLARK_VERSION = {lark.__version__!r}\n"
            f"DATA = {data!r}\nMEMO = {memo!r}\n")
    target.write_text(text, encoding="utf-8")
    return target


def _describe_token(token: Token) -> str:
    if token.type == "$END":
        return "end of input"
    if token.type == "_NL":
        return "end of line"
    text = str(token)
    return f"'{text if len(text) <= 30 else text[:27] + '...'}'"


def _expected(names: set[str]) -> str:
    described = sorted({_TERMINAL_NAMES.get(n, n.lower()) for n in names if not n.startswith("__")})
    if not described or len(described) > 7:
        return ""
    return "; expected " + (described[0] if len(described) == 1 else ", ".join(described[:-1]) + " or " +
                            described[-1])


def _syntax_error(exc: UnexpectedInput, text: str) -> tuple[str, int, int]:
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            # $END borrows the position of the last token: point just after it (at a final
            # newline itself rather than at the start of the next, empty line)
            line, column = int(token.end_line or token.line or 1), int(token.end_column or token.column or 1)
            if token.line is not None and line > int(token.line):
                line, column = int(token.line), int(token.column or 1)
            depth = open_depth(text)
            hint = " (an opening '{', '[' or '(' is not closed)" if depth > 0 else ""
            return f"unexpected end of input{hint}{_expected(set(exc.expected))}", line, column
        line, column = _position(token)
        message = f"unexpected {_describe_token(token)}"
        if re.match(r"\s*else\b", source_line(text, line)):
            message += " ('else' must follow the '}' of its 'if' block on the same line)"
        elif token.type == "_NL" and "_RPAR" in exc.expected:
            message = "unexpected end of line (a '(' is not closed)"
        return message + _expected(set(exc.expected)), line, column
    if isinstance(exc, UnexpectedCharacters):
        line, column = int(exc.line or 1), int(exc.column or 1)
        char = exc.char
        if char == '"':
            return "unterminated string (a \" is not closed on this line)", line, column
        if char == "'":
            return "unterminated string (a ' is not closed on this line)", line, column
        if char == "$":
            return "'$' must start a variable: $name, ${name}, $1 or $@ (write \\$ inside a string)", line, column
        shown = repr(char)
        return f"unexpected character {shown}", line, column
    return str(exc).splitlines()[0] if str(exc) else "syntax error", int(getattr(exc, "line", 1) or 1), int(
        getattr(exc, "column", 1) or 1)


def source_line(text: str, line: int) -> str:
    """Line ``line`` (1-based) of ``text``, without its newline ('' past the end)."""
    lines = text.splitlines()
    return lines[line - 1] if 1 <= line <= len(lines) else ""


class _WindowedSyntaxError(ConsoleSyntaxError):
    """A syntax error on a long line: ``source_line`` is a window of it, and the caret is placed
    at ``caret_column`` inside the window (``column`` stays the real column)."""

    caret_column = 1

    def caret_line(self) -> str:
        prefix = self.source_line[: max(self.caret_column - 1, 0)]
        return "".join("\t" if ch == "\t" else " " for ch in prefix) + "^"


def _error(message: str, file: str, text: str, line: int, column: int) -> ConsoleSyntaxError:
    """A syntax error showing its line, or a window of a long line around ``column``."""
    shown = source_line(text, line)
    if len(shown) > _SHOWN_WIDTH:
        start = max(0, min(column - 1 - _SHOWN_WIDTH // 2, len(shown) - _SHOWN_WIDTH))
        window = shown[start : start + _SHOWN_WIDTH]
        prefix = "..." if start > 0 else ""
        suffix = "..." if start + _SHOWN_WIDTH < len(shown) else ""
        # the caret still points at the column, inside the window; the message keeps the real column
        error = _WindowedSyntaxError(message, file=file, line=line, column=column,
                                     source_line=prefix + window + suffix)
        error.caret_column = column - start + len(prefix)
        return error
    return ConsoleSyntaxError(message, file=file, line=line, column=column, source_line=shown)


def _check_line_lengths(text: str, file: str) -> None:
    """Refuse a line longer than :data:`MAX_LINE_LENGTH` before the lexer sees it."""
    found = _TOO_LONG.search(text)
    if found is None:
        return
    line = text.count("\n", 0, found.start()) + 1
    end = text.find("\n", found.start())
    length = (len(text) if end == -1 else end) - found.start()
    error = _WindowedSyntaxError(
        f"line {line} is {length} characters long; console lines (and so tokens) are limited to "
        f"{MAX_LINE_LENGTH} characters", file=file, line=line, column=1,
        source_line=text[found.start() : found.start() + 60] + "...",
    )
    raise error


def parse(text: str, file: str = "<string>") -> ast.Program:
    """Parse ``text``; raises :class:`ConsoleSyntaxError` naming ``file:line:column``.

    Lines longer than :data:`MAX_LINE_LENGTH` characters are refused before lexing.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    _check_line_lengths(text, file)
    parser = _parser()
    try:
        statements = parser.parse(text)
    except _Problem as exc:
        raise _error(exc.message, file, text, exc.line, exc.column) from None
    except UnexpectedInput as exc:
        message, line, column = _syntax_error(exc, text)
        raise _error(message, file, text, line, column) from None
    except LarkError as exc:  # anything else Lark may raise on odd input
        inner = getattr(exc, "orig_exc", None)
        if isinstance(inner, _Problem):
            raise _error(inner.message, file, text, inner.line, inner.column) from None
        raise _error(f"syntax error: {exc}", file, text, 1, 1) from None
    return ast.Program(tuple(statements), file, text)


def open_depth(text: str) -> int:
    """How many '{', '[' and '(' are open at the end of ``text`` (strings and comments skipped).

    A line ending in a backslash counts as open too.  The REPL keeps reading lines while
    this is positive.
    """
    depth = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            i += 1
            while i < n and text[i] not in '"\n':
                i += 2 if text[i] == "\\" else 1
        elif ch == "'":
            i += 1
            while i < n and text[i] not in "'\n":
                i += 1
        elif ch == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        elif ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth = max(depth - 1, 0)
        elif ch == "$" and i + 1 < n and text[i + 1] == "{":
            close = text.find("}", i)
            if close != -1:
                i = close
        i += 1
    if re.search(r"\\[ \t]*\Z", text.rstrip("\r\n")):
        return max(depth, 1)
    return depth


if __name__ == "__main__":
    print(write_parser_tables())
