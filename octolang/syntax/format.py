"""`octoc fmt`: the one canonical layout of a `.octo` file, printed from its parse tree.

The layout comes from the grammar's rules (grammar/octo.lark), never from the text's
own spacing, with two exceptions a writer chooses: blank lines between items are kept
(several become one), and a record type, a model's settings, `rows` or a list written
over several lines stays so (written on one line, it stays on one line while it fits).
Strings are kept byte for byte, so prompts and code never change.

Comments are not in the tree (the lexer drops them): they are read from the gaps
between tokens. A comment on a line of its own is printed before the line that holds
the next token; a comment after code stays after that line's code. A comment the
layout cannot keep where it was (inside an expression printed on one line) moves to
just before the line, so that no comment is ever lost.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from lark import Token, Tree

from octolang.diagnostics import Diagnostic, error
from octolang.source import SourceFile
from octolang.syntax.layout import INDENT, LINE_WIDTH, Comment, Line, align, with_trailing_comments
from octolang.syntax.parse import parse_source

if TYPE_CHECKING:
    from collections.abc import Sequence

_GAP = re.compile(r"#[^\n]*|\n")

Node = Tree[Token] | Token | None

# Rules laid out as words of a declaration; every other rule is an expression or a type.
_DECLARATION_RULES = frozenset(
    {
        "pipeline_decl", "seed_decl", "budget_decl", "const_decl", "setting", "price_rate", "price_kind",
        "units_from", "unit_key", "unit_vary", "unit_trials", "unit_limit", "row_field", "step_system",
        "step_prompt", "step_output", "step_retries", "step_code", "step_timeout", "gate_decl", "gate_retry",
        "gate_max", "gate_feedback", "gate_skip", "report_group", "report_where", "field",
    }
)  # fmt: skip


class FormatError(Exception):
    """The text does not parse: it is reported, never formatted."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__(f"{len(diagnostics)} syntax error(s)")
        self.diagnostics = diagnostics


def format_source(source: SourceFile) -> str:
    """The file in its canonical layout; FormatError when its syntax is broken."""
    tree, diagnostics = parse_source(source)
    if tree is None:
        raise FormatError(diagnostics)
    try:
        printed = _Printer(source.text, tree).print()
    except RecursionError:
        raise FormatError(
            [
                error(
                    "E0006",
                    "expressions are nested too deeply to format",
                    source.span(0, 0),
                    help="split long chains of operators or brackets (hundreds of levels) into consts or steps",
                )
            ]
        ) from None
    check, _ = parse_source(SourceFile(source.path, printed))
    if check is None:  # the printer broke the file: a bug, never written over the user's text
        raise AssertionError(f"formatting {source.path} gave text that does not parse")
    return printed


class _Printer:
    def __init__(self, text: str, tree: Tree[Token]) -> None:
        self.text = text
        self.tree = tree
        self.tokens = [t for t in tree.scan_values(lambda v: isinstance(v, Token))]
        self.index = {id(t): i for i, t in enumerate(self.tokens)}
        n = len(self.tokens)
        self.leading: list[list[Comment]] = [[] for _ in range(n + 1)]
        self.trailing: list[str | None] = [None] * (n + 1)
        self.blank: list[bool] = [False] * (n + 1)
        self._read_comments()
        self.lines: list[Line] = []

    # ------------------------------------------------------------ comments
    def _read_comments(self) -> None:
        previous_end = 0
        for i in range(len(self.tokens) + 1):
            start = self.tokens[i].start_pos if i < len(self.tokens) else len(self.text)
            assert start is not None
            newlines = 0
            for match in _GAP.finditer(self.text, previous_end, start):
                if match.group() == "\n":
                    newlines += 1
                    continue
                comment = match.group().rstrip()
                if newlines == 0 and i > 0:
                    self.trailing[i - 1] = comment
                else:
                    self.leading[i].append(Comment(comment, newlines >= 2))
                newlines = 0
            self.blank[i] = newlines >= 2
            if i < len(self.tokens):
                end = self.tokens[i].end_pos
                assert end is not None
                previous_end = end

    def _first(self, node: Node) -> int:
        if isinstance(node, Token):
            return self.index[id(node)]
        assert node is not None
        for value in node.scan_values(lambda v: isinstance(v, Token)):
            return self.index[id(value)]
        raise AssertionError("a rule without tokens")

    def _last(self, node: Node) -> int:
        if isinstance(node, Token):
            return self.index[id(node)]
        assert node is not None
        return max(self.index[id(v)] for v in node.scan_values(lambda v: isinstance(v, Token)))

    def _breaks_after(self, token: Token) -> bool:
        """The source has a line break right after this token (the writer's choice of layout)."""
        i = self.index[id(token)]
        if i + 1 >= len(self.tokens):
            return False
        end, start = token.end_pos, self.tokens[i + 1].start_pos
        return "\n" in self.text[end:start]

    def _quiet(self, first: int, last: int) -> bool:
        """No comment inside tokens first..last (around them does not count)."""
        return not any(self.trailing[i] for i in range(first, last)) and not any(
            self.leading[i] for i in range(first + 1, last + 1)
        )

    # ------------------------------------------------------------ output
    def print(self) -> str:
        for declaration in self.tree.children:
            assert isinstance(declaration, Tree)
            self._declaration(declaration)
        self._attach_comments()
        return self._render()

    def _attach_comments(self) -> None:
        for n, line in enumerate(self.lines):
            first = line.first
            last = self.lines[n + 1].first - 1 if n + 1 < len(self.lines) else len(self.tokens) - 1
            line.leading = list(self.leading[first])
            for i in range(first, last + 1):  # comments inside the line move before it
                if i > first:
                    line.leading += self.leading[i]
                if i < last and self.trailing[i]:
                    line.leading.append(Comment(self.trailing[i] or "", False))
            line.trailing = self.trailing[last]

    def _render(self) -> str:
        align(self.lines, self.blank)
        rows: list[tuple[str, str | None]] = []  # (code, trailing comment) per printed line; "" is a blank
        opened = True
        for line in self.lines:
            comment_indent = INDENT * (line.comment_depth if line.comment_depth is not None else line.depth)
            for comment in line.leading:
                if comment.blank_before and not opened:
                    rows.append(("", None))
                rows.append((comment_indent + comment.text, None))
                opened = False
            if line.item and self.blank[line.first] and not opened:
                rows.append(("", None))
            rows.append((INDENT * line.depth + line.text, line.trailing))
            opened = line.text.endswith(("{", "["))
        for comment in self.leading[len(self.tokens)]:
            if comment.blank_before and rows:
                rows.append(("", None))
            rows.append((comment.text, None))
        return with_trailing_comments(rows)

    def _line(
        self,
        depth: int,
        text: str,
        first: int,
        *,
        item: bool = True,
        align: tuple[str, str, str] | None = None,
        comment_depth: int | None = None,
    ) -> None:
        self.lines.append(Line(depth, text, first, item, align, comment_depth))

    # ------------------------------------------------------------ declarations
    def _declaration(self, tree: Tree[Token]) -> None:
        kind = tree.data
        first = self._first(tree)
        if kind == "model_decl" and tree.children[-1] is not None:
            *head, body = tree.children
            self._flexible(0, first, self._words(head), body, "settings")
        elif kind == "type_decl":
            *head, record = tree.children
            self._flexible(0, first, self._words(head), record, "fields")
        elif kind in ("units_decl", "llm_step", "compute_step") and isinstance(tree.children[-1], Tree):
            *head, body = tree.children
            assert isinstance(body, Tree)
            self._block(0, first, self._words(head), body.children)
        elif kind == "report_decl":
            self._block(0, first, self._words(tree.children[:2]), tree.children[2:])
        else:
            self._line(0, self._words(tree.children), first)

    def _block(self, depth: int, first: int, head: str, bracketed: Sequence[Node]) -> None:
        """`head {`, one item a line, `}`."""
        opening, *items, closing = bracketed
        assert isinstance(opening, Token) and isinstance(closing, Token)
        self._lift_comment(opening, closing)
        self._line(depth, f"{head} {opening}", first)
        for item in items:
            assert isinstance(item, Tree)
            self._item(depth + 1, item)
        self._line(depth, str(closing), self._first(closing), item=False, comment_depth=depth + 1)

    def _lift_comment(self, opening: Token, closing: Token) -> None:
        """A block written on one line and laid out over several: the comment after its
        `}` is about the whole line, so it goes after the `{` that now starts it."""
        first, last = self._first(opening), self._first(closing)
        if opening.line == closing.line and self.trailing[last] and not self.trailing[first]:
            self.trailing[first], self.trailing[last] = self.trailing[last], None

    def _item(self, depth: int, item: Tree[Token]) -> None:
        first = self._first(item)
        kind = item.data
        if kind == "step_validate":
            self._block(depth, first, "validate", item.children[1:])
        elif kind == "rule":
            condition, _colon, message = item.children
            self._line(depth, "", first, align=(self._expr(condition, depth), " : ", self._expr(message, depth)))
        elif kind == "report_metric":
            name, _equal, value = item.children
            self._line(depth, "", first, align=(str(name), " = ", self._expr(value, depth)))
        elif kind == "step_output" and _is_record(item.children[1]):
            self._flexible(depth, first, "output", item.children[1], "fields")
        elif kind == "unit_rows":
            self._flexible(depth, first, "rows", item, "rows")
        elif kind == "field" and _is_record(item.children[2]):
            name, _colon, record, description = item.children
            tail = f" {self._expr(description, depth)}" if description is not None else ""
            self._flexible(depth, first, f"{name}:", record, "fields", tail)
        elif kind == "field":  # a field of a record laid out one field a line: descriptions line up
            name, _colon, field_type, description = item.children
            left = f"{name}: {self._expr(field_type, depth)}"
            self._line(depth, "", first, align=(left, " ", self._expr(description, depth)))
        else:
            self._line(depth, self._words(item.children), first)

    def _flexible(self, depth: int, first: int, head: str, node: Node, kind: str, tail: str = "") -> None:
        """A bracketed list of fields, settings or rows: on one line as the writer had it
        (while it fits and holds no comment), else one entry a line."""
        assert isinstance(node, Tree)
        children = node.children[1:] if kind == "rows" else node.children  # `rows` before the `[`
        opening, closing = children[0], children[-1]
        assert isinstance(opening, Token) and isinstance(closing, Token)
        entries = [c for c in children[1:-1] if isinstance(c, Tree)]
        if kind == "rows":
            shown = [self._row(row, depth) for row in entries]
            one_line = f"[ {', '.join(shown)} ]" if shown else "[]"
        else:
            shown = [self._words([entry]) for entry in entries]
            one_line = f"{{ {', '.join(shown)} }}" if shown else "{}"
        one_line = f"{head} {one_line}{tail}"
        fits = len(INDENT * depth + one_line) <= LINE_WIDTH and "\n" not in one_line
        if not entries or (
            fits and not self._breaks_after(opening) and self._quiet(self._first(opening), self._first(closing))
        ):
            self._line(depth, one_line, first)
            return
        self._lift_comment(opening, closing)
        self._line(depth, f"{head} {opening}", first)
        for entry, text in zip(entries, shown, strict=True):
            if _continues_price(entry) and self.lines[-1].text.startswith("price "):
                self.lines[-1].text += f", {text}"  # `price in = $1/M, out = $4/M` stays one line
            elif kind == "rows":
                self._line(depth + 1, text + ",", self._first(entry))
            elif kind == "fields":
                self._item(depth + 1, entry)
            else:
                self._line(depth + 1, text, self._first(entry))
        self._line(depth, f"{closing}{tail}", self._first(closing), item=False, comment_depth=depth + 1)

    def _row(self, row: Tree[Token], depth: int) -> str:
        fields = [self._words([c]) for c in row.children if isinstance(c, Tree)]
        return f"{{ {', '.join(fields)} }}" if fields else "{}"

    def _words(self, nodes: Sequence[Node], depth: int = 0) -> str:
        """Declaration words: one space apart, `,` and `:` against the word before."""
        out = ""
        for node in nodes:
            if node is None:
                continue
            if isinstance(node, Tree) and node.data in _DECLARATION_RULES:
                part = self._words(node.children, depth)
            elif isinstance(node, Tree):
                part = self._expr(node, depth)
            else:
                part = str(node)
            if not part:
                continue
            out = out + part if not out or part in (",", ":") else f"{out} {part}"
        return out

    # ------------------------------------------------------------ expressions and types
    def _expr(self, node: Node, depth: int) -> str:
        if node is None:
            return ""
        if isinstance(node, Token):
            return str(node)
        kind = node.data
        parts = node.children
        text = self._expr
        if kind in ("binary", "comparison", "and_expr", "or_expr", "if_expr", "not_expr", "comp_for", "comp_if"):
            return " ".join(text(c, depth) for c in parts if c is not None)
        if kind == "comp_op":
            return " ".join(str(c) for c in parts)
        if kind in ("unary", "signed_int", "signed_number", "attribute", "call", "index", "keyword_argument"):
            return "".join(text(c, depth) for c in parts if c is not None)
        if kind in ("arguments", "comp_target"):
            return ", ".join(text(c, depth) for c in parts if c is not None and c != ",")
        if kind == "generator_argument":
            return f"{text(parts[0], depth)} {text(parts[1], depth)}"
        if kind == "slice":
            return f"{text(parts[0], depth)}:{text(parts[2], depth)}"
        if kind == "list_comprehension":
            return f"[{text(parts[1], depth)} {text(parts[2], depth)}]"
        if kind in ("list_expr", "tuple_expr"):
            return self._sequence(node, depth)
        if kind == "union_type":
            return " | ".join(text(c, depth) for c in parts if c != "|")
        if kind in ("named_type", "list_type", "optional_type", "range"):
            return "".join(text(c, depth) for c in parts if c is not None)
        if kind == "record_type":
            fields = [self._words([c]) for c in parts if isinstance(c, Tree)]
            return f"{{ {', '.join(fields)} }}" if fields else "{}"
        # a bracketed expression or type, a literal, a string: its pieces as they are
        return "".join(text(c, depth) for c in parts if c is not None)

    def _sequence(self, node: Tree[Token], depth: int) -> str:
        opening = node.children[0]
        assert isinstance(opening, Token)
        items = [self._expr(c, depth + 1) for c in node.children[1:-1] if c is not None and c != ","]
        if node.data == "tuple_expr":
            return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
        if items and self._breaks_after(opening):
            inner = "".join(f"\n{INDENT * (depth + 1)}{item}," for item in items)
            return f"[{inner}\n{INDENT * depth}]"
        return f"[{', '.join(items)}]"


def _continues_price(entry: Tree[Token]) -> bool:
    return entry.data == "price_rate" and entry.children[0] != "price"


def _is_record(node: Node) -> bool:
    return isinstance(node, Tree) and node.data == "record_type"
