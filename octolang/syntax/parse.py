"""Text -> Lark parse tree, with syntax errors turned into diagnostics.

Lark stops at the first error; to report several, the declaration holding the error
is blanked out (newlines kept, so positions stay right) and parsing starts again,
up to `MAX_SYNTAX_ERRORS` times.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from octolang.diagnostics import Diagnostic, error, sort_diagnostics
from octolang.source import SourceFile
from octolang.syntax.grammar import TOP_LEVEL_KEYWORDS, parser

if TYPE_CHECKING:
    from lark import Token, Tree
    from lark.exceptions import UnexpectedInput

    from octolang.ir import Program

MAX_SYNTAX_ERRORS = 8
_DECL_START = re.compile(r"^(?:" + "|".join(TOP_LEVEL_KEYWORDS) + r")\b", re.MULTILINE)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# How the grammar's terminals read to a user.
_TERMINAL_WORDS = {
    "NAME": "a name",
    "STRING": "a string",
    "LONG_STRING": "a string",
    "INT": "an integer",
    "FLOAT": "a number",
    "MONEY": "an amount such as `$20`",
    "RATE": "a price per million tokens such as `$0.15/M`",
    "DURATION": "a duration such as `5s`",
    "ADD_OP": "`+` or `-`",
    "MUL_OP": "an operator",
    "POW_OP": "`**`",
    "LBRACE": "`{`",
    "RBRACE": "`}`",
    "LSQB": "`[`",
    "RSQB": "`]`",
    "LPAR": "`(`",
    "RPAR": "`)`",
    "COMMA": "`,`",
    "COLON": "`:`",
    "EQUAL": "`=`",
    "DOT": "`.`",
    "VBAR": "`|`",
    "QMARK": "`?`",
    "LESSTHAN": "`<`",
    "MORETHAN": "`>`",
    "$END": "end of file",
}
_LITERAL_KINDS = {
    "STRING": "string",
    "LONG_STRING": "string",
    "INT": "number",
    "FLOAT": "number",
    "MONEY": "amount",
    "RATE": "price",
    "DURATION": "duration",
}
_OPERATOR_TERMINALS = {
    "ADD_OP",
    "MUL_OP",
    "POW_OP",
    "LESSTHAN",
    "MORETHAN",
    "__ANON_0",
    "__ANON_1",
    "__ANON_2",
    "__ANON_3",
    "__ANON_4",
    "DOT",
    "LSQB",
    "LPAR",
}


def parse_source(source: SourceFile) -> tuple[Tree[Token] | None, list[Diagnostic]]:
    """Parse a file. On syntax errors the tree is None and every error found is returned."""
    from lark.exceptions import UnexpectedInput

    lark_parser = parser()
    text = source.text
    diagnostics: list[Diagnostic] = []
    for _ in range(MAX_SYNTAX_ERRORS):
        try:
            tree = lark_parser.parse(text, on_error=_keyword_as_name)
        except UnexpectedInput as exc:
            diagnostics.append(_with_opening(_syntax_diagnostic(source, exc), source, text, exc))
            blanked = _blank_declaration(text, _error_offset(exc, text))
            if blanked == text:
                break
            text = blanked
            continue
        return (tree if not diagnostics else None), sort_diagnostics(diagnostics)
    return None, sort_diagnostics(diagnostics)


def _keyword_as_name(exc: UnexpectedInput) -> bool:
    """A keyword where only a name fits is a name: `code: string` as a record's field after
    another field. The LALR tables merge the states after a type inside a record with the
    state after `output TYPE`, so the contextual lexer also offers the step keywords there
    and takes `code` for one; the parser then stops at a place that wants a NAME. Feeding
    the word as a NAME goes on exactly as the grammar means."""
    from lark import Token
    from lark.exceptions import UnexpectedToken

    if not isinstance(exc, UnexpectedToken) or exc.interactive_parser is None:
        return False
    token = exc.token
    if token.type == "NAME" or not _WORD.fullmatch(str(token)):
        return False
    acceptable: set[str] = exc.interactive_parser.accepts()  # type: ignore[no-untyped-call]
    if "NAME" not in acceptable:
        return False
    exc.interactive_parser.feed_token(Token.new_borrow_pos("NAME", str(token), token))
    return True


def parse_program(source: SourceFile) -> tuple[Program | None, list[Diagnostic]]:
    """Parse and lower: the IR before any checks, or None when the syntax is broken."""
    from octolang.syntax.lower import lower_tree

    tree, diagnostics = parse_source(source)
    if tree is None:
        return None, diagnostics
    program, lowering = lower_tree(tree, source)
    return program, sort_diagnostics(diagnostics + lowering)


def _error_offset(exc: UnexpectedInput, text: str) -> int:
    pos = getattr(exc, "pos_in_stream", None)
    token = getattr(exc, "token", None)
    if token is not None and getattr(token, "start_pos", None) is not None:
        pos = token.start_pos
    return len(text) if pos is None else int(pos)


def _blank_declaration(text: str, offset: int) -> str:
    """Replace the declaration around `offset` by spaces, keeping newlines.

    An error *at* a declaration keyword means the previous declaration was left open
    (a missing `}`): that one is blanked, up to the keyword."""
    at_keyword = (offset == 0 or text[offset - 1] == "\n") and _DECL_START.match(text, offset) is not None
    start = 0
    for match in _DECL_START.finditer(text, 0, offset if at_keyword else offset + 1):
        start = match.start()
    if at_keyword:
        end = offset
    else:
        following = _DECL_START.search(text, max(offset, start) + 1)
        end = following.start() if following else len(text)
    if start >= end:
        return text
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def _syntax_diagnostic(source: SourceFile, exc: UnexpectedInput) -> Diagnostic:
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    text = source.text
    offset = _error_offset(exc, text)
    if isinstance(exc, UnexpectedCharacters):
        char = text[offset] if offset < len(text) else ""
        opening = next((o for o in (offset - 2, offset) if o >= 0 and text.startswith('"""', o)), None)
        if opening is not None:  # the lexer read `""` as an empty string and stopped at the third quote
            return error(
                "E0003",
                "unterminated string",
                source.span(opening, opening + 3),
                label='this `"""` is never closed',
                help='close the text with `"""`',
            )
        if char == '"':
            end = text.find("\n", offset)
            return error(
                "E0003",
                "unterminated string",
                source.span(offset, end if end != -1 else len(text)),
                label="this string is not closed on its line",
                help='close it with `"` on the same line, or use `"""` for text over several lines',
            )
        if char == "'":
            return error(
                "E0002",
                "strings use double quotes",
                source.span(offset, offset + 1),
                label="single quote",
                help='write "text" (or """text""" for several lines)',
            )
        expected = _describe_expected(exc.allowed or set())
        return error(
            "E0002",
            f"unexpected character `{char}`",
            source.span(offset, offset + 1),
            label=f"expected {expected}" if expected else "not part of the language here",
            help=_hint_for(text, offset, char, exc.allowed or set()),
        )
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        expected = _describe_expected(getattr(exc, "expected", None) or getattr(exc, "accepts", None) or set())
        end = len(text.rstrip())
        return error(
            "E0004",
            "unexpected end of file",
            source.span(end, end),
            label=f"expected {expected}" if expected else "",
            help="a block opened with `{` may be missing its `}`" if text.count("{") > text.count("}") else "",
        )
    assert isinstance(exc, UnexpectedToken)
    token = exc.token
    expected = _describe_expected(exc.accepts or exc.expected or set())
    shown = str(token).split("\n", 1)[0]
    if len(shown) > 24:
        shown = shown[:21] + "..."
    # The token as written, with its kind for literals: "unexpected string `"b"`", not "unexpected a string".
    kind = _LITERAL_KINDS.get(token.type)
    what = f"{kind} `{shown}`" if kind else f"`{shown}`"
    end = token.end_pos if token.end_pos is not None else offset + len(str(token))
    return error(
        "E0001",
        f"unexpected {what}",
        source.span(offset, end),
        label=f"expected {expected}" if expected else "",
        help=_hint_for(text, offset, str(token), exc.accepts or exc.expected or set()),
    )


_CLOSERS = {"RBRACE": "}", "RPAR": ")", "RSQB": "]"}
_PAIRS = {"{": "}", "(": ")", "[": "]"}


def _with_opening(diagnostic: Diagnostic, source: SourceFile, text: str, exc: UnexpectedInput) -> Diagnostic:
    """A note at the delimiter left open, when the parser stopped where its closer could go:
    a missing `}` is otherwise told at the next declaration, far from where it is missing."""
    if diagnostic.code not in ("E0001", "E0004"):
        return diagnostic
    expected = set(getattr(exc, "accepts", None) or getattr(exc, "expected", None) or ())
    offset = _error_offset(exc, text)
    opening = _unclosed(text, min(offset, len(text)))
    if opening is None or (_PAIRS[text[opening]] not in {_CLOSERS.get(t) for t in expected} and expected):
        return diagnostic
    from octolang.diagnostics import Label

    closer = _PAIRS[text[opening]]
    line = source.position(opening)[0]
    return diagnostic.model_copy(
        update={
            "labels": (*diagnostic.labels, Label(span=source.span(opening, opening + 1), message="opened here")),
            "help": diagnostic.help
            or f"the `{text[opening]}` on line {line} is not closed: add `{closer}` where it ends",
        }
    )


def _unclosed(text: str, end: int) -> int | None:
    """The offset of the innermost `{`, `(` or `[` still open at `end`, outside strings and
    comments; None when all are closed."""
    stack: list[int] = []
    i = 0
    while i < end:
        char = text[i]
        if char == "#":
            newline = text.find("\n", i)
            i = end if newline == -1 else newline
        elif text.startswith('"""', i):
            close = text.find('"""', i + 3)
            i = end if close == -1 else close + 3
            continue
        elif char == '"':
            i += 1
            while i < end and text[i] not in '"\n':
                i += 2 if text[i] == "\\" else 1
        elif char in _PAIRS:
            stack.append(i)
        elif char in ("}", ")", "]") and stack and _PAIRS[text[stack[-1]]] == char:
            stack.pop()
        i += 1
    return stack[-1] if stack else None


def _describe_expected(terminals: set[str] | frozenset[str]) -> str:
    """Lark's expected terminals in words: keywords quoted, an expression said as one."""
    from octolang.syntax.grammar import parser as get_parser

    patterns = {t.name: t.pattern for t in get_parser().terminals}
    names = set(terminals)
    words: list[str] = []
    if {"NAME", "INT", "STRING", "LPAR"} <= names:
        words.append("an expression")
        names -= {"NAME", "INT", "FLOAT", "STRING", "LONG_STRING", "LPAR", "LSQB", "ADD_OP"}
        names = {n for n in names if getattr(patterns.get(n), "value", None) != "not"}
    keywords: list[str] = []
    operators = False
    for name in sorted(names):
        pattern = patterns.get(name)
        literal = getattr(pattern, "value", None) if type(pattern).__name__ == "PatternStr" else None
        if name in _TERMINAL_WORDS and name not in _OPERATOR_TERMINALS:
            word = _TERMINAL_WORDS[name]
        elif literal is not None and str(literal).isidentifier():
            keywords.append(f"`{literal}`")
            continue
        elif name in _OPERATOR_TERMINALS or literal is not None:
            operators = True
            continue
        else:
            word = _TERMINAL_WORDS.get(name, name.lower())
        if word not in words:
            words.append(word)
    parts = keywords + words + (["an operator"] if operators else [])
    if not parts:
        return ""
    if len(parts) > 12:
        parts = [*parts[:11], "..."]
    if len(parts) == 1:
        return parts[0]
    return "one of " + ", ".join(parts[:-1]) + " or " + parts[-1]


def _hint_for(text: str, offset: int, token: str, expected: set[str] | frozenset[str]) -> str:
    line_start = text.rfind("\n", 0, offset) + 1
    before = text[line_start:offset].strip()
    if token in ("import", "from") and not before:
        return "a `.octo` file cannot import; declare everything in this file"
    if token == ":" and "EQUAL" in expected:
        return "settings are written `name = value`"
    if token == "=" and "COLON" in expected:
        return 'fields and rules use `:`, as in `name: string` or `len(text) < 200 : "message"`'
    if token == "=" and before.startswith("gate"):
        return "compare with `==`"
    if before.endswith("llm") and token == "{":
        return "name the model to call: `step x = llm writer { ... }` with `model writer = ...` declared"
    return ""
