"""What is under the cursor: the dotted name there, the kind of text around it, and what
the name means in the program.

The kind of text is read from the text itself, not the IR, so that it is right while
the file does not parse: a word in a comment, a description or a prompt's prose is not
a reference; inside a prompt's `{{ }}`, a code block or an expression it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from octolang import ir
from octolang.lsp.incremental import Analysis
from octolang.schema import Schema, fields_of, unwrap_optional
from octolang.syntax.grammar import TOP_LEVEL_KEYWORDS

Context = Literal["template", "code", "syntax", "prose"]
_DECL_START = re.compile(r"^(?:" + "|".join(TOP_LEVEL_KEYWORDS) + r")\b", re.MULTILINE)
_STRING_OR_COMMENT = re.compile(r'"""[\s\S]*?"""|"""[\s\S]*|"(?:[^"\\\n]|\\.)*"?|#[^\n]*')
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass
class Cursor:
    """The dotted name at a position, as written up to and including the cursor's word:
    `line.te|xt` gives `["line", "text"]`, `unit.|` gives `["unit", ""]`."""

    offset: int
    chain: list[str]
    start: int  # the cursor's word, as file offsets (start == end for no word)
    end: int
    context: Context
    after_dot: bool  # the word follows a `.`: a field is being named


def cursor_at(text: str, offset: int) -> Cursor:
    offset = max(0, min(offset, len(text)))
    start = offset
    while start > 0 and text[start - 1] in _WORD_CHARS:
        start -= 1
    end = offset
    while end < len(text) and text[end] in _WORD_CHARS:
        end += 1
    word = text[start:end]
    if word[:1].isdigit():
        word, start, end = "", offset, offset
    chain = [word]
    pos = start
    after_dot = pos > 0 and text[pos - 1] == "."
    while pos > 0 and text[pos - 1] == ".":
        before = pos - 1
        while before > 0 and text[before - 1] in " \t":
            before -= 1
        head = before
        while head > 0 and text[head - 1] in _WORD_CHARS:
            head -= 1
        if head == before or text[head].isdigit():
            break
        chain.insert(0, text[head:before])
        pos = head
    return Cursor(offset, chain, start, end, _context(text, offset), after_dot)


def _context(text: str, offset: int) -> Context:
    """Scan strings and comments from the start of the declaration holding the offset."""
    decl = 0
    for match in _DECL_START.finditer(text, 0, offset):
        decl = match.start()
    for match in _STRING_OR_COMMENT.finditer(text, decl):
        if match.start() >= offset:
            break
        if not (match.start() < offset < match.end() or (offset == match.end() and not _closed(match.group()))):
            continue
        token = match.group()
        if token.startswith("#"):
            return "prose"
        keyword = _WORD.findall(text[max(decl, match.start() - 20) : match.start()])
        last = keyword[-1] if keyword else ""
        if last == "code":
            return "code"
        if last in ("prompt", "system"):
            inner = text[match.start() : offset]
            opened = max(inner.rfind("{{"), inner.rfind("{%"))
            closed = max(inner.rfind("}}"), inner.rfind("%}"))
            return "template" if opened > closed else "prose"
        return "prose"
    return "syntax"


def _closed(token: str) -> bool:
    if token.startswith('"""'):
        return len(token) >= 6 and token.endswith('"""')
    return token.startswith('"') and len(token) >= 2 and token.endswith('"')


# ---------------------------------------------------------------- what a name means


@dataclass
class Target:
    """What a (dotted) name refers to: a declaration, or a field of the units or of a step."""

    kind: Literal[
        "step", "model", "type", "const", "units", "unit_field", "step_field", "local_field", "type_field", "builtin"
    ]
    name: str
    decl: ir.Node | None = None
    owner: ir.StepDecl | None = None  # for fields of a step's output
    schema: Schema | None = None
    unit_field: ir.UnitField | None = None
    field: ir.RecordField | None = None  # for a field of a declared type


# Names a template or code block has besides unit, steps and consts.
BUILTINS = {
    "template": {
        "feedback": "`feedback: string`: why the last answer was sent back (its schema or rule problems, "
        "or a gate's `feedback`); empty on the first attempt",
        "attempt": "`attempt: int`: this request's attempt number, from 1",
    },
    "code": {
        "rng": "`rng`: this unit's own random stream (a `random.Random` seeded from the pipeline's seed "
        "and the unit's id)"
    },
}


def declaration_at(analysis: Analysis, offset: int) -> ir.Node | None:
    program = analysis.program
    if program is None:
        return None
    for group in _declarations(program):
        for decl in group:
            if analysis.start(decl.span) <= offset <= analysis.end(decl.span):
                return decl
    return None


def _declarations(program: ir.Program) -> list[list[ir.Node]]:
    return [
        list(program.consts),
        list(program.models),
        list(program.types),
        list(program.units),
        list(program.steps),
        list(program.gates),
        list(program.reports),
    ]


def resolve(analysis: Analysis, cursor: Cursor, index: int | None = None) -> Target | None:
    """What `cursor.chain[: index + 1]` names (the whole chain by default); None for a
    word that is not a reference here (prose, a keyword, a setting's name)."""
    program = analysis.program
    if program is None or cursor.context == "prose":
        return None
    chain = cursor.chain if index is None else cursor.chain[: index + 1]
    if not chain or not chain[0]:
        return None
    decl = declaration_at(analysis, cursor.offset)
    if len(chain) == 1 and cursor.context == "syntax":
        declared = _field_declaration(analysis, decl, cursor)
        if declared is not None:
            return declared
    if len(chain) == 1 and chain[0] in BUILTINS.get(cursor.context, {}):
        return Target("builtin", chain[0])
    target = _root(program, chain[0], decl, analysis, cursor)
    for attr in chain[1:]:
        if target is None:
            return None
        target = _field(program, target, attr)
    return target


def _field_declaration(analysis: Analysis, decl: ir.Node | None, cursor: Cursor) -> Target | None:
    """The cursor on the name of a field in a `type` or in a step's inline output record."""
    if isinstance(decl, ir.TypeDecl):
        fields = decl.record.fields
    elif isinstance(decl, ir.StepDecl) and isinstance(decl.output, ir.RecordType):
        fields = decl.output.fields
    else:
        return None
    for declared in fields:
        if declared.name == cursor.chain[0] and analysis.start(declared.span) == cursor.start:
            if isinstance(decl, ir.TypeDecl):
                return Target("type_field", declared.name, decl, field=declared)
            assert isinstance(decl, ir.StepDecl)
            schema = (fields_of(decl.output_schema or {}) or {}).get(declared.name)
            return Target("step_field", declared.name, decl, owner=decl, schema=schema)
    return None


def _root(program: ir.Program, name: str, decl: ir.Node | None, analysis: Analysis, cursor: Cursor) -> Target | None:
    if isinstance(decl, ir.StepDecl) and cursor.context == "syntax" and decl.output_schema:
        in_rule = any(analysis.contains(rule.condition.span, cursor.offset) for rule in decl.validate_rules)
        own = fields_of(decl.output_schema) or {}
        if in_rule and name in own:
            return Target("local_field", name, owner=decl, schema=own[name])
    if name == "unit":
        return Target("units", name, program.units[0] if program.units else None)
    for step in program.steps:
        if step.name == name:
            return Target("step", name, step, schema=step.output_schema)
    for const in program.consts:
        if const.name == name:
            return Target("const", name, const)
    if cursor.context != "syntax":
        return None  # models, types and unit sets are not values in templates or code
    for model in program.models:
        if model.name == name:
            return Target("model", name, model)
    for type_decl in program.types:
        if type_decl.name == name:
            return Target("type", name, type_decl)
    for units in program.units:
        if units.name == name:
            return Target("units", name, units)
    return None


def _field(program: ir.Program, target: Target, attr: str) -> Target | None:
    if target.kind == "units":
        for unit_field in program.unit_fields:
            if unit_field.name == attr:
                return Target("unit_field", attr, target.decl, schema=unit_field.type, unit_field=unit_field)
        return None
    if target.kind in ("step", "step_field", "local_field") and target.schema:
        owner = target.owner if target.kind != "step" else target.decl
        fields = fields_of(unwrap_optional(target.schema)) or {}
        if attr in fields and isinstance(owner, ir.StepDecl):
            return Target("step_field", attr, owner, owner=owner, schema=fields[attr])
    return None


def record_field(program: ir.Program, step: ir.StepDecl, name: str) -> ir.RecordField | None:
    """The declaration of a field of a step's output: in its inline record or its named type."""
    output = step.output
    if isinstance(output, ir.NamedType):
        decl = next((t for t in program.types if t.name == output.name), None)
        record: ir.RecordType | None = decl.record if decl is not None else None
    elif isinstance(output, ir.RecordType):
        record = output
    else:
        record = None
    if record is None:
        return None
    return next((f for f in record.fields if f.name == name), None)
