"""Document symbols: the outline of a pipeline (models, types, units, steps, gates,
reports and consts), each with its whole range and the range of its name."""

from __future__ import annotations

from lsprotocol import types as lsp

from octolang import ir
from octolang.lsp.hover import output_fields
from octolang.lsp.incremental import Analysis
from octolang.lsp.positions import to_position
from octolang.source import Span

_GATE_NAME_WIDTH = 60


def document_symbols(analysis: Analysis) -> list[lsp.DocumentSymbol]:
    program = analysis.program
    if program is None:
        return []
    kind = lsp.SymbolKind
    out: list[tuple[int, lsp.DocumentSymbol]] = []

    def add(
        decl: ir.Node,
        name: str,
        symbol_kind: lsp.SymbolKind,
        detail: str,
        name_span: Span | None = None,
        children: list[lsp.DocumentSymbol] | None = None,
    ) -> None:
        symbol = _symbol(analysis, name, symbol_kind, detail, decl.span, name_span or decl.span, children)
        out.append((analysis.start(decl.span), symbol))

    for const in program.consts:
        add(const, const.name, kind.Constant, "const", const.name_span)
    for model in program.models:
        add(model, model.name, kind.Class, f"model: {model.provider} {model.model_id}", model.name_span)
    for type_decl in program.types:
        fields = [_symbol(analysis, f.name, kind.Field, "", f.span, f.span, None) for f in type_decl.record.fields]
        add(type_decl, type_decl.name, kind.Struct, "type", type_decl.name_span, fields)
    for units in program.units:
        varies = [_symbol(analysis, v.name, kind.Variable, "vary", v.span, v.name_span, None) for v in units.vary]
        count = f"{program.unit_count:,} units" if program.unit_count is not None else "units"
        add(units, units.name, kind.Module, count, units.name_span, varies)
    for step in program.steps:
        outputs = output_fields(program, step)
        detail = f"llm {step.model}" if step.kind == "llm" else "compute"
        if outputs:
            detail += " -> {" + ", ".join(f"{name}: {written}" for name, written in outputs) + "}"
        add(step, step.name, kind.Function, detail, step.name_span)
    for gate in program.gates:
        condition = analysis.source.text[analysis.start(gate.condition.span) : analysis.end(gate.condition.span)]
        condition = " ".join(condition.split())
        if len(condition) > _GATE_NAME_WIDTH:
            condition = condition[: _GATE_NAME_WIDTH - 3] + "..."
        action = f"else retry {gate.target}" if gate.action == "retry" else "else skip"
        add(gate, f"gate {condition}", kind.Event, action, gate.condition.span)
    for report in program.reports:
        metrics = [_symbol(analysis, m.name, kind.Property, "", m.span, m.name_span, None) for m in report.metrics]
        add(report, report.name, kind.Object, "report", report.name_span, metrics)
    return [symbol for _, symbol in sorted(out, key=lambda pair: pair[0])]


def _symbol(
    analysis: Analysis,
    name: str,
    symbol_kind: lsp.SymbolKind,
    detail: str,
    span: Span,
    name_span: Span,
    children: list[lsp.DocumentSymbol] | None,
) -> lsp.DocumentSymbol:
    source = analysis.source
    encoding = analysis.encoding
    whole = lsp.Range(
        start=to_position(source, analysis.start(span), encoding), end=to_position(source, analysis.end(span), encoding)
    )
    # LSP requires the name's range inside the whole range
    start = max(analysis.start(name_span), analysis.start(span))
    end = min(max(analysis.end(name_span), start), analysis.end(span))
    selection = lsp.Range(start=to_position(source, start, encoding), end=to_position(source, end, encoding))
    return lsp.DocumentSymbol(
        name=name or "?", kind=symbol_kind, range=whole, selection_range=selection, detail=detail, children=children
    )
