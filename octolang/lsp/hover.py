"""Hover: what a name holds, in Markdown.

A step: its kind, model and output fields with their types, and for an llm step its
prompt rendered for the first unit (preview.py). A unit field: its type and
where it comes from. A model: provider, id, mode and price (`octolang/pricing.py`). A
type: its fields. A const: its value.
"""

from __future__ import annotations

import json
from decimal import Decimal

from lsprotocol import types as lsp

from octolang import ir
from octolang.lsp.incremental import Analysis
from octolang.lsp.locate import BUILTINS, Target, cursor_at, record_field, resolve
from octolang.lsp.positions import to_offset, to_position
from octolang.lsp.preview import prompt_preview
from octolang.pricing import is_batch, price_for
from octolang.schema import Schema, describe, fields_of, unwrap_optional

_ORIGINS = {
    "column": "a column of {source}",
    "row": "a field of the inline `rows`",
    "vary": "a `vary` value",
    "trial": "the trial number (`trials`)",
}


def hover(analysis: Analysis, position: lsp.Position) -> lsp.Hover | None:
    source = analysis.source
    cursor = cursor_at(source.text, to_offset(source, position, analysis.encoding))
    if not cursor.chain[-1]:
        return None
    target = resolve(analysis, cursor)
    program = analysis.program
    if target is None or program is None:
        return None
    text = describe_target(program, target)
    if not text:
        return None
    if target.kind == "step" and isinstance(target.decl, ir.StepDecl):
        preview = prompt_preview(program, target.decl)
        text += f"\n\n{preview}" if preview else ""
    word = lsp.Range(
        start=to_position(source, cursor.start, analysis.encoding),
        end=to_position(source, cursor.end, analysis.encoding),
    )
    return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text), range=word)


def describe_target(program: ir.Program, target: Target) -> str:
    """The Markdown shown for a target (pure, for the unit tests)."""
    if target.kind == "step" and isinstance(target.decl, ir.StepDecl):
        return _step(program, target.decl)
    if target.kind == "model" and isinstance(target.decl, ir.ModelDecl):
        return _model(target.decl)
    if target.kind == "type" and isinstance(target.decl, ir.TypeDecl):
        return _type(program, target.decl)
    if target.kind == "const" and isinstance(target.decl, ir.ConstDecl):
        value = target.decl.resolved
        shown = json.dumps(value) if value is not None else "(not computable)"
        return f"```octo\nconst {target.name} = {shown}\n```"
    if target.kind == "units":
        return _units(program)
    if target.kind == "builtin":
        return next((text for names in BUILTINS.values() for name, text in names.items() if name == target.name), "")
    if target.kind == "type_field" and isinstance(target.decl, ir.TypeDecl) and target.field is not None:
        type_field = target.field
        lines = [f"```octo\n{target.decl.name}.{type_field.name}: {_type_text(type_field.type)}\n```"]
        if type_field.description:
            lines.append(type_field.description)
        lines.append(f"a field of type `{target.decl.name}`")
        return "\n\n".join(lines)
    if target.kind == "unit_field" and target.unit_field is not None:
        unit_field = target.unit_field
        units = program.units[0] if program.units else None
        where = units.source.value if units is not None and units.source is not None else "the data file"
        origin = _ORIGINS[unit_field.origin].format(source=f"`{where}`")
        return f"```octo\nunit.{unit_field.name}: {describe(unit_field.type)}\n```\n\nfrom {origin}"
    if target.kind in ("step_field", "local_field") and target.owner is not None:
        schema = target.schema or {}
        declared = record_field(program, target.owner, target.name)
        written = _type_text(declared.type) if declared is not None else describe(schema)
        lines = [f"```octo\n{target.owner.name}.{target.name}: {written}\n```"]
        note = schema.get("description") or (declared.description if declared is not None else None)
        if note:
            lines.append(str(note))
        lines.append(f"a field of the output of step `{target.owner.name}`")
        return "\n\n".join(lines)
    return ""


def _step(program: ir.Program, step: ir.StepDecl) -> str:
    head = f"step {step.name} = llm {step.model}" if step.kind == "llm" else f"step {step.name} = compute"
    lines = [f"```octo\n{head}\n```"]
    fields = output_fields(program, step)
    if fields:
        lines.append("output:\n" + "\n".join(f"- `{name}`: `{written}`" for name, written in fields))
    else:
        lines.append("output: not known (see the diagnostics)")
    if step.depends_on:
        lines.append("reads " + ", ".join(f"`{name}`" for name in step.depends_on))
    return "\n\n".join(lines)


def output_fields(program: ir.Program, step: ir.StepDecl) -> list[tuple[str, str]]:
    """A step's output fields with their types as written (bounds included), else as checked."""
    schema: Schema = step.output_schema or {}
    fields = fields_of(unwrap_optional(schema)) if schema else None
    out = []
    for name, field in (fields or {}).items():
        declared = record_field(program, step, name)
        out.append((name, _type_text(declared.type) if declared is not None else describe(field)))
    return out


def _model(model: ir.ModelDecl) -> str:
    mode = model.mode
    lines = [
        f"```octo\nmodel {model.name} = {model.provider} {json.dumps(model.model_id)}\n```",
        f"provider `{model.provider}`, model id `{model.model_id}`, mode `{mode}`",
    ]
    price = price_for(model)
    if price is None:
        lines.append("price: not known (add `price in = $x/M, out = $y/M`)")
    else:
        batch = is_batch(model)
        per_in = price.batch_input if batch else price.input
        per_out = price.batch_output if batch else price.output
        lines.append(
            f"price ({'batch' if batch else 'realtime'}): {_usd(per_in)} per million input tokens, "
            f"{_usd(per_out)} per million output tokens ({price.source})"
        )
    return "\n\n".join(lines)


def _usd(value: Decimal) -> str:
    return f"${value.normalize():f}"


def _type(program: ir.Program, decl: ir.TypeDecl) -> str:
    rows = []
    for field in decl.record.fields:
        rows.append(f"  {field.name}: {_type_text(field.type)}")
    body = "\n".join(rows)
    used = [s.name for s in program.steps if isinstance(s.output, ir.NamedType) and s.output.name == decl.name]
    lines = [f"```octo\ntype {decl.name} {{\n{body}\n}}\n```"]
    if used:
        lines.append("the output of " + ", ".join(f"`{name}`" for name in used))
    return "\n\n".join(lines)


def _type_text(node: ir.TypeExpr) -> str:
    """A type expression written back as in the source (for named types, lists, unions)."""
    if isinstance(node, ir.NamedType):
        bounds = ""
        if node.has_range:
            low = "" if node.low is None else f"{node.low:g}"
            high = "" if node.high is None else f"{node.high:g}"
            bounds = f"[{low}..{high}]"
        return node.name + bounds
    if isinstance(node, ir.ListType):
        return f"list<{_type_text(node.item)}>"
    if isinstance(node, ir.LiteralType):
        return json.dumps(node.value)
    if isinstance(node, ir.UnionType):
        return " | ".join(_type_text(o) for o in node.options)
    if isinstance(node, ir.OptionalType):
        return _type_text(node.inner) + "?"
    return "{" + ", ".join(f"{f.name}: {_type_text(f.type)}" for f in node.fields) + "}"


def _units(program: ir.Program) -> str:
    if not program.units:
        return ""
    units = program.units[0]
    count = f"{program.unit_count:,} units" if program.unit_count is not None else "units"
    where = f' from "{units.source.value}"' if units.source is not None else ""
    rows = [f"- `unit.{f.name}`: `{describe(f.type)}` ({f.origin})" for f in program.unit_fields]
    return f"```octo\nunits {units.name}{where}\n```\n\n{count}\n\n" + "\n".join(rows)
