"""Find references and rename: every place a step, model, const, type or field is named,
in expressions, gates, reports, prompts' `{{ }}` and compute code alike.

A candidate is every occurrence of the name as a word; each is resolved the way hover and
go to definition resolve the cursor (`locate.resolve`, which knows a prompt's prose from
its `{{ }}` and a comment from code), and kept when it names the same thing. A field of a
named type is one thing wherever it is read: `line.text` and `review.text` both name
`Line.text` when both steps output `Line`. Unit fields made by `vary` or inline `rows`
are renamed too; a column of a data file is not (the file would have to change).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

from lsprotocol import types as lsp

from octolang import ir
from octolang.lsp.incremental import Analysis
from octolang.lsp.locate import Target, cursor_at, resolve
from octolang.lsp.positions import to_offset, to_position
from octolang.syntax.grammar import parser

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
Key = tuple[str, ...]


@dataclass(frozen=True)
class Occurrence:
    start: int
    end: int
    declaration: bool


def key_of(target: Target) -> Key | None:
    """What a target is, the same wherever it is named; None for what cannot be renamed."""
    if target.kind in ("step", "model", "type", "const"):
        return (target.kind, target.name)
    if target.kind == "type_field" and target.decl is not None:
        return ("field", getattr(target.decl, "name", ""), target.name)
    if target.kind in ("step_field", "local_field") and target.owner is not None:
        output = target.owner.output
        if isinstance(output, ir.NamedType):
            return ("field", output.name, target.name)
        return ("field", f"step {target.owner.name}", target.name)
    if target.kind == "unit_field" and target.unit_field is not None:
        if target.unit_field.origin in ("vary", "row"):
            return ("unit_field", target.name)
    return None


def target_at(analysis: Analysis, offset: int) -> tuple[Key, int, int] | None:
    """The renameable thing under the cursor, with the word's range."""
    cursor = cursor_at(analysis.source.text, offset)
    if not cursor.chain[-1] or analysis.program is None:
        return None
    target = resolve(analysis, cursor)
    key = key_of(target) if target is not None else _unit_field_declared_at(analysis, cursor.start)
    if key is None:
        return None
    return key, cursor.start, cursor.end


def occurrences(analysis: Analysis, key: Key) -> list[Occurrence]:
    text = analysis.source.text
    name = key[-1]
    declared = _declaration_starts(analysis, key)
    found: dict[int, Occurrence] = {}
    for match in re.finditer(r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])", text):
        start = match.start()
        if start in declared:
            found[start] = Occurrence(start, match.end(), True)
            continue
        cursor = cursor_at(text, start)
        if cursor.context == "code" and _in_python_comment_or_string(text, start):
            continue
        target = resolve(analysis, cursor)
        if target is not None and key_of(target) == key:
            found[start] = Occurrence(start, match.end(), False)
    return [found[s] for s in sorted(found)]


def _in_python_comment_or_string(text: str, offset: int) -> bool:
    """Inside compute code, a word after `#` or inside quotes on its line is not a name."""
    quote = None
    for char in text[text.rfind("\n", 0, offset) + 1 : offset]:
        if quote is None and char == "#":
            return True
        if char in "\"'":
            quote = char if quote is None else (None if quote == char else quote)
    return quote is not None


def _declaration_starts(analysis: Analysis, key: Key) -> set[int]:
    """Where the thing is declared (its name's first character)."""
    program = analysis.program
    if program is None:
        return set()
    starts: set[int] = set()
    kind, name = key[0], key[-1]
    if kind in ("step", "model", "type", "const"):
        for decl in _named(program):
            if decl.name == name and _kind_of(decl) == kind:
                starts.add(analysis.start(decl.name_span))
    elif kind == "field":
        owner = key[1]
        records = [t.record for t in program.types if t.name == owner]
        records += [
            s.output for s in program.steps if f"step {s.name}" == owner and isinstance(s.output, ir.RecordType)
        ]
        for record in records:
            starts |= {analysis.start(f.span) for f in record.fields if f.name == name}
    elif kind == "unit_field":
        for units in program.units:
            starts |= {analysis.start(v.name_span) for v in units.vary if v.name == name}
            for row in units.rows:
                starts |= {analysis.start(f.span) for f in row.fields if f.name == name}
            if units.key == name and units.key_span is not None:
                starts.add(analysis.start(units.key_span))
    return starts


def _named(program: ir.Program) -> list[ir.StepDecl | ir.ModelDecl | ir.TypeDecl | ir.ConstDecl]:
    return [*program.steps, *program.models, *program.types, *program.consts]


def _kind_of(decl: ir.Node) -> str:
    if isinstance(decl, ir.StepDecl):
        return "step"
    if isinstance(decl, ir.ModelDecl):
        return "model"
    if isinstance(decl, ir.TypeDecl):
        return "type"
    return "const"


def _unit_field_declared_at(analysis: Analysis, start: int) -> Key | None:
    """A `vary` name or an inline row's field name under the cursor."""
    program = analysis.program
    if program is None:
        return None
    for units in program.units:
        for vary in units.vary:
            if analysis.start(vary.name_span) == start:
                return ("unit_field", vary.name)
        for row in units.rows:
            for row_field in row.fields:
                if analysis.start(row_field.span) == start:
                    return ("unit_field", row_field.name)
    return None


# ---------------------------------------------------------------- LSP answers


def references(analysis: Analysis, position: lsp.Position, uri: str, include_declaration: bool) -> list[lsp.Location]:
    found = target_at(analysis, to_offset(analysis.source, position, analysis.encoding))
    if found is None:
        return []
    return [
        lsp.Location(uri=uri, range=_range(analysis, o.start, o.end))
        for o in occurrences(analysis, found[0])
        if include_declaration or not o.declaration
    ]


def prepare_rename(analysis: Analysis, position: lsp.Position) -> lsp.Range | None:
    found = target_at(analysis, to_offset(analysis.source, position, analysis.encoding))
    return _range(analysis, found[1], found[2]) if found is not None else None


def rename(analysis: Analysis, position: lsp.Position, uri: str, new_name: str) -> lsp.WorkspaceEdit | None:
    """Every occurrence renamed; None when the new name is not a name, is a word of the
    language, or is taken by another thing of the same kind."""
    found = target_at(analysis, to_offset(analysis.source, position, analysis.encoding))
    if found is None or not valid_new_name(analysis, found[0], new_name):
        return None
    edits = [
        lsp.TextEdit(range=_range(analysis, o.start, o.end), new_text=new_name) for o in occurrences(analysis, found[0])
    ]
    return lsp.WorkspaceEdit(changes={uri: edits})


def valid_new_name(analysis: Analysis, key: Key, new_name: str) -> bool:
    if not _NAME.fullmatch(new_name) or new_name in reserved_words() or new_name == key[-1]:
        return False
    program = analysis.program
    if program is None:
        return False
    if key[0] in ("step", "model", "type", "const"):
        taken = {d.name for d in _named(program)}
        return new_name not in taken | {"unit"}
    if key[0] == "unit_field":
        return new_name not in {f.name for f in program.unit_fields}
    return not _declaration_starts(analysis, (*key[:-1], new_name))


def reserved_words() -> set[str]:
    """The grammar's keywords, Python's (compute code), and the names every scope has."""
    words = {str(getattr(t.pattern, "value", "")) for t in parser().terminals}
    return {w for w in words if w.isidentifier()} | set(keyword.kwlist) | {"unit", "rng", "feedback", "attempt"}


def _range(analysis: Analysis, start: int, end: int) -> lsp.Range:
    source, encoding = analysis.source, analysis.encoding
    return lsp.Range(start=to_position(source, start, encoding), end=to_position(source, end, encoding))
