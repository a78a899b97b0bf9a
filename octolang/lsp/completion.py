"""Completion: fields after `unit.` and `<step>.`, names and keywords elsewhere.

Keywords are the grammar's own (`grammar/octo.lark`), so the list cannot drift from the
language. While the text does not parse, names come from the last version that did.
"""

from __future__ import annotations

import functools

from lsprotocol import types as lsp

from octolang import ir
from octolang.expressions import EXPRESSION_FUNCTIONS
from octolang.lsp.incremental import Analysis
from octolang.lsp.locate import BUILTINS, Cursor, cursor_at, resolve
from octolang.lsp.positions import to_offset
from octolang.schema import PRIMITIVES, Schema, describe, fields_of, unwrap_optional
from octolang.syntax.grammar import parser


@functools.lru_cache(maxsize=1)
def grammar_keywords() -> tuple[str, ...]:
    """Every word the grammar spells out (`"step"`, `"vary"`, `"else"`...): the parser's
    string terminals that are identifiers."""
    from lark.lexer import PatternStr

    words = {
        str(t.pattern.value)
        for t in parser().terminals
        if isinstance(t.pattern, PatternStr) and str(t.pattern.value).isidentifier()
    }
    return tuple(sorted(words))


def completion(analysis: Analysis, position: lsp.Position) -> lsp.CompletionList:
    source = analysis.source
    cursor = cursor_at(source.text, to_offset(source, position, analysis.encoding))
    return lsp.CompletionList(is_incomplete=False, items=completion_items(analysis, cursor))


def completion_items(analysis: Analysis, cursor: Cursor) -> list[lsp.CompletionItem]:
    if cursor.context == "prose":
        return []
    program = analysis.program or analysis.names_from
    if program is None:
        return _keywords() if cursor.context == "syntax" and not cursor.after_dot else []
    if cursor.after_dot:
        return _fields(analysis, program, cursor)
    items = _names(program)
    if cursor.context == "template":
        items += [_item(n, lsp.CompletionItemKind.Variable, "built-in", d) for n, d in BUILTINS["template"].items()]
    elif cursor.context == "code":
        items += [_item(n, lsp.CompletionItemKind.Variable, "built-in", d) for n, d in BUILTINS["code"].items()]
    else:
        items += [_item(n, lsp.CompletionItemKind.Function, "function") for n in sorted(EXPRESSION_FUNCTIONS)]
        items += [_item(m.name, lsp.CompletionItemKind.Class, f"model: {m.provider}") for m in program.models]
        items += [_item(t.name, lsp.CompletionItemKind.Struct, "type") for t in program.types]
        items += [_item(p, lsp.CompletionItemKind.TypeParameter, "built-in type") for p in PRIMITIVES]
        items += _keywords()
    unique: dict[str, lsp.CompletionItem] = {}
    for item in items:  # `int` is a function and a type, `max` a function and a keyword: offer each once
        unique.setdefault(item.label, item)
    return list(unique.values())


def _names(program: ir.Program) -> list[lsp.CompletionItem]:
    items = [_item("unit", lsp.CompletionItemKind.Module, "the unit being processed")]
    for step in program.steps:
        items.append(_item(step.name, lsp.CompletionItemKind.Function, f"step ({step.kind})"))
    for const in program.consts:
        items.append(_item(const.name, lsp.CompletionItemKind.Constant, "const"))
    return items


def _keywords() -> list[lsp.CompletionItem]:
    return [_item(word, lsp.CompletionItemKind.Keyword, "keyword") for word in grammar_keywords()]


def _fields(analysis: Analysis, program: ir.Program, cursor: Cursor) -> list[lsp.CompletionItem]:
    """Fields of what the chain before the cursor's word names."""
    owner = cursor.chain[:-1]
    schema: Schema | None = None
    if analysis.program is not None:
        target = resolve(analysis, cursor, index=len(owner) - 1)
        if target is not None and target.kind == "units":
            return [
                _item(f.name, lsp.CompletionItemKind.Field, f"{describe(f.type)} ({f.origin})")
                for f in program.unit_fields
            ]
        schema = target.schema if target is not None else None
    else:  # the text does not parse: read the chain against the last program that did
        if owner[:1] == ["unit"]:
            schema = {"type": "object", "properties": {f.name: f.type for f in program.unit_fields}}
        else:
            step = program.step(owner[0]) if owner else None
            schema = step.output_schema if step is not None else None
        for attr in owner[1:]:
            fields = fields_of(unwrap_optional(schema)) if schema else None
            schema = fields.get(attr) if fields else None
    fields = fields_of(unwrap_optional(schema)) if schema else None
    if not fields:
        return []
    return [_item(name, lsp.CompletionItemKind.Field, describe(field)) for name, field in fields.items()]


def _item(label: str, kind: lsp.CompletionItemKind, detail: str, documentation: str = "") -> lsp.CompletionItem:
    about = lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=documentation) if documentation else None
    return lsp.CompletionItem(label=label, kind=kind, detail=detail, documentation=about)
