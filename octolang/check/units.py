"""The `units` declaration: its data file read (where the user's file access allows), its
fields inferred, its count known."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

from octolang import ir
from octolang.check.consts import StaticValues, evaluate_static
from octolang.data import DataError, read_rows
from octolang.diagnostics import Diagnostic, did_you_mean, error
from octolang.paths import FileAccess, FileRefused, data_file_path, file_access
from octolang.schema import Schema, infer_schema


@dataclass
class UnitFacts:
    fields: list[ir.UnitField] = field(default_factory=list)
    count: int | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def schema(self) -> Schema:
        properties = {f.name: f.type for f in self.fields}
        return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def check_units(program: ir.Program, values: StaticValues, access: FileAccess | None = None) -> UnitFacts:
    """`access`: the user's word on which files the data may come from (default: the
    pipeline's folder, and what the environment allows)."""
    facts = UnitFacts()
    if not program.units:
        facts.diagnostics.append(
            error(
                "E0203",
                "the pipeline declares no units",
                program.span.model_copy(update={"end": 0, "end_line": 1, "end_col": 1}),
                help='add e.g. `units items from "items.csv"` or `units runs { trials 100 }`',
            )
        )
        return facts
    for extra in program.units[1:]:
        facts.diagnostics.append(
            error(
                "E0203",
                f"a second `units` declaration (`{extra.name}`)",
                extra.name_span,
                help="a pipeline has one set of units; combine sources inside "
                f"`units {program.units[0].name} {{ ... }}`",
            )
        )
    units = program.units[0]
    rows, row_fields = _rows(units, program, values, facts, access)
    names: dict[str, str] = {}
    for name, schema in row_fields.items():
        names[name] = "row"
        facts.fields.append(ir.UnitField(name=name, type=schema, origin="column" if units.source else "row"))
    count = len(rows) if rows is not None else 1
    for vary in units.vary:
        vary_values = _vary_values(vary, values, facts)
        if vary.name in names or (vary.name == "trial" and units.trials is not None):
            facts.diagnostics.append(
                error(
                    "E0101",
                    f"unit field `{vary.name}` is defined twice",
                    vary.name_span,
                    help="a `vary` name must differ from the data's columns",
                )
            )
            continue
        names[vary.name] = "vary"
        vary.resolved = vary_values or []
        facts.fields.append(ir.UnitField(name=vary.name, type=infer_schema(vary_values or []), origin="vary"))
        count *= len(vary_values or [])
    if units.trials is not None:
        if units.trials < 1:
            facts.diagnostics.append(error("E0206", "`trials` must be at least 1", units.trials_span or units.span))
        if "trial" in names:
            facts.diagnostics.append(
                error(
                    "E0101",
                    "unit field `trial` is defined twice",
                    units.trials_span or units.span,
                    help="`trials` adds the field `trial`; rename the column",
                )
            )
        facts.fields.append(ir.UnitField(name="trial", type={"type": "integer"}, origin="trial"))
        count *= max(units.trials, 0)
    facts.count = count
    return facts


def _rows(
    units: ir.UnitsDecl, program: ir.Program, values: StaticValues, facts: UnitFacts, access: FileAccess | None
) -> tuple[list[dict[str, Any]] | None, dict[str, Schema]]:
    rows: list[dict[str, Any]] | None = None
    if units.source is not None and units.rows:
        facts.diagnostics.append(
            error(
                "E0208",
                "units take rows from a file or inline `rows`, not both",
                units.rows[0].span,
                help="move the inline rows into the data file",
            )
        )
    if units.source is not None:
        rows = _read_source(units, program, facts, access)
        if rows is None:
            return None, {}
        if not rows:
            facts.diagnostics.append(
                error(
                    "E0202",
                    f"{units.source.value} holds no rows",
                    units.source.span,
                    help="a data file needs at least one row of units",
                )
            )
    elif units.rows:
        rows = []
        for row in units.rows:
            record: dict[str, Any] = {}
            for row_field in row.fields:
                if row_field.name in record:
                    facts.diagnostics.append(
                        error("E0207", f"field `{row_field.name}` is given twice in this row", row_field.span)
                    )
                record[row_field.name] = evaluate_static(row_field.value, values, facts.diagnostics, what="a row value")
            rows.append(record)
        first = set(rows[0])
        for row, record in zip(units.rows[1:], rows[1:], strict=True):
            if set(record) != first:
                missing = sorted(first - set(record))
                extra = sorted(set(record) - first)
                detail = (
                    (f"missing {', '.join(missing)}" if missing else "")
                    + ("; " if missing and extra else "")
                    + (f"extra {', '.join(extra)}" if extra else "")
                )
                facts.diagnostics.append(
                    error(
                        "E0207",
                        f"this row's fields differ from the first row's: {detail}",
                        row.span,
                        help="every row has the same fields",
                    )
                )
    if rows is None:
        if units.key is not None:
            facts.diagnostics.append(
                error("E0204", "`key` needs rows to pick a column from", units.key_span or units.span)
            )
        return None, {}
    if units.limit is not None:
        rows = rows[: units.limit]
    names: list[str] = []
    for record in rows:
        names.extend(k for k in record if k not in names)
    fields = {n: infer_schema(r.get(n) for r in rows) for n in names}
    if units.key is not None:
        if units.key not in fields:
            facts.diagnostics.append(
                error(
                    "E0204",
                    f"key column `{units.key}` is not a field of the rows",
                    units.key_span or units.span,
                    help=did_you_mean(units.key, fields) or f"fields: {', '.join(fields)}",
                )
            )
        else:
            seen: dict[str, tuple[int, Any]] = {}
            for index, record in enumerate(rows, start=1):
                value = record.get(units.key)
                marker = str(value)  # the unit id holds the value as text: 1 and "1" are one id
                if value is None or marker in seen:
                    first_row, earlier = seen.get(marker, (0, None))
                    if value is None:
                        what = f"is empty in row {index}"
                    elif repr(earlier) == repr(value):
                        what = f"repeats `{value}` (first in row {first_row}) in row {index}"
                    else:
                        what = (
                            f"gives {earlier!r} in row {first_row} and {value!r} in row {index}: "
                            f"both make the unit id `{units.key}={value}`"
                        )
                    facts.diagnostics.append(
                        error(
                            "E0204",
                            f"key `{units.key}` {what}",
                            units.key_span or units.span,
                            help="unit ids are built from the key, so every row needs its own value",
                        )
                    )
                    break
                seen[marker] = (index, value)
    return rows, fields


def _read_source(
    units: ir.UnitsDecl, program: ir.Program, facts: UnitFacts, access: FileAccess | None
) -> list[dict[str, Any]] | None:
    """The rows of the units' data file, read only where the user's file access allows."""
    assert units.source is not None
    name = units.source.value
    folder = os.path.dirname(os.path.abspath(program.file)) if program.file not in ("", "<stdin>") else os.getcwd()
    if access is None:
        try:
            access = file_access()
        except ValueError as exc:
            facts.diagnostics.append(error("E0211", str(exc), units.source.span))
            return None
    try:
        path = data_file_path(name, folder, access)
    except FileRefused as exc:
        facts.diagnostics.append(error(exc.code, exc.message, units.source.span, help=exc.help or ""))
        return None
    try:
        rows = read_rows(path, access.max_bytes, name)
    except DataError as exc:
        where = f"{name}:{exc.line}: " if exc.line else ""
        hint = exc.help or "paths are relative to the .octo file"
        if exc.code == "E0201":
            target = os.path.normpath(os.path.join(folder, name))
            parent = os.path.dirname(target)
            try:
                nearby = os.listdir(parent)
            except OSError:  # no such folder, or not one we may list
                nearby = []
            hint = did_you_mean(os.path.basename(target), nearby) or hint
        facts.diagnostics.append(error(exc.code, f"{where}{exc.message}", units.source.span, help=hint))
        return None
    units.source_path = path  # the real path, read by the runner and the language server's definitions
    return rows


_NONE = object()


def _vary_values(vary: ir.Vary, values: StaticValues, facts: UnitFacts) -> list[Any] | None:
    result = evaluate_static(vary.values, values, facts.diagnostics, what="`vary` values")
    if result is None:
        return None
    if isinstance(result, range):
        result = list(result)
    if not isinstance(result, (list, tuple)):
        facts.diagnostics.append(
            error(
                "E0205",
                f"`vary {vary.name}` needs a list of values",
                vary.values.span,
                help=f"write e.g. `vary {vary.name} in [1, 2, 3]`",
            )
        )
        return None
    items = list(result)
    if not items:
        facts.diagnostics.append(error("E0205", f"`vary {vary.name}` has no values", vary.values.span))
        return None
    seen: dict[str, Any] = {}  # by the text a unit id holds: 1 and "1", or true and "True", are one id
    for item in items:
        if not isinstance(item, (str, int, float, bool)) or (isinstance(item, float) and not math.isfinite(item)):
            facts.diagnostics.append(
                error(
                    "E0205",
                    f"`vary {vary.name}` values must be strings, numbers or booleans, not {type(item).__name__}",
                    vary.values.span,
                )
            )
            return None
        earlier = seen.get(str(item), _NONE)
        if earlier is not _NONE:
            same = (type(earlier), earlier) == (type(item), item)
            facts.diagnostics.append(
                error(
                    "E0205",
                    f"`vary {vary.name}` lists {item!r} twice"
                    if same
                    else f"`vary {vary.name}` lists {earlier!r} and {item!r}: both make the unit id "
                    f"`{vary.name}={item}`",
                    vary.values.span,
                    help="each value makes its own units; list it once" if same else "keep one of the two values",
                )
            )
            return None
        seen[str(item)] = item
    return items
