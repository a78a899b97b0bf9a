"""Go to definition: from a reference to the name in its declaration.

Steps, types, models, consts and unit sets go to their declared name; `unit.x` to the
`vary` that makes it, the inline row field, or the column's name in the data file; a
step's field to the field in its output type.
"""

from __future__ import annotations

import re
from pathlib import Path

from lsprotocol import types as lsp

from octolang import ir
from octolang.lsp.incremental import Analysis
from octolang.lsp.locate import Target, cursor_at, record_field, resolve
from octolang.lsp.positions import to_offset, to_position
from octolang.paths import open_regular
from octolang.source import Span


def definition(analysis: Analysis, position: lsp.Position, uri: str) -> lsp.Location | None:
    source = analysis.source
    cursor = cursor_at(source.text, to_offset(source, position, analysis.encoding))
    if not cursor.chain[-1] or analysis.program is None:
        return None
    target = resolve(analysis, cursor)
    if target is None:
        return None
    if target.unit_field is not None and target.unit_field.origin == "column":
        column = _column_location(analysis.program, target.unit_field.name)
        if column is not None:
            return column
    span = target_span(analysis.program, target)
    if span is None:
        return None
    start, end = analysis.start(span), analysis.end(span)
    encoding = analysis.encoding
    where = lsp.Range(start=to_position(source, start, encoding), end=to_position(source, end, encoding))
    return lsp.Location(uri=uri, range=where)


def target_span(program: ir.Program, target: Target) -> Span | None:
    """The span (in the IR's coordinates) a target is declared at."""
    decl = target.decl
    if target.kind in ("step", "model", "type", "const", "units"):
        name_span = getattr(decl, "name_span", None)
        return name_span if isinstance(name_span, Span) else None
    if target.kind == "type_field" and target.field is not None:
        return target.field.span
    if target.kind == "unit_field" and target.unit_field is not None:
        return _unit_field_span(program, target.unit_field)
    if target.kind in ("step_field", "local_field") and target.owner is not None:
        declared = record_field(program, target.owner, target.name)
        return declared.span if declared is not None else target.owner.name_span
    return None


def _column_location(program: ir.Program, name: str) -> lsp.Location | None:
    """The column's name in the first line of the data file (a CSV header, or the first
    JSONL record), when the file can be read."""
    path = next((u.source_path for u in program.units if u.source_path), None)
    if path is None:
        return None
    try:  # the file the checker read: still a regular file (not swapped for a FIFO since)
        with open_regular(path) as handle:
            header = handle.readline(1 << 16).decode("utf-8-sig", errors="replace")
    except OSError:
        return None
    match = re.search(r"(?<![\w])" + re.escape(name) + r"(?![\w])", header)
    if match is None:
        return None
    start = lsp.Position(line=0, character=match.start())
    end = lsp.Position(line=0, character=match.end())
    return lsp.Location(uri=Path(path).as_uri(), range=lsp.Range(start=start, end=end))


def _unit_field_span(program: ir.Program, unit_field: ir.UnitField) -> Span | None:
    for units in program.units:
        for vary in units.vary:
            if vary.name == unit_field.name:
                return vary.name_span
        for row in units.rows:
            for row_field in row.fields:
                if row_field.name == unit_field.name:
                    return row_field.span
        if unit_field.origin == "trial" and units.trials_span is not None:
            return units.trials_span
        if units.source is not None:
            return units.source.span
        return units.name_span
    return None
