"""Per-unit results (`octoc results`): one flat row per unit, read from the run state in
pages of units (keyset on the unit ordinal), so that a run of any size is exported in
bounded memory.

A row's columns, in this order (docs/cli.md lists them for users):
  unit, ordinal, status, reason, failed_step,
  unit.FIELD for every unit field, STEP.KEY for every output key of every step (run order),
  STEP.attempts for every llm step, attempts, input_tokens, output_tokens, cost_usd.

A cell holds a scalar in every format: a list or a record is its JSON text, a missing
value is null (empty in CSV). `cost_usd` is the exact decimal as text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from octolang import ir
from octolang.runtime.store import RunStore

PAGE = 2_000

# a column's type: what the Parquet column holds and what a CSV cell is read back as
Kind = Literal["string", "integer", "number", "boolean", "json"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind


def _kind(schema: dict[str, Any] | None) -> Kind:
    """The column type of a JSON schema; optional (`anyOf` with null) takes its other type."""
    if not schema:
        return "json"
    if "anyOf" in schema:
        options = [_kind(s) for s in schema["anyOf"] if s.get("type") != "null"]
        return options[0] if len(set(options)) == 1 else "json"
    kinds: dict[Any, Kind] = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean"}
    return kinds.get(schema.get("type"), "json")


def columns(program: ir.Program) -> list[Column]:
    cols = [
        Column("unit", "string"),
        Column("ordinal", "integer"),
        Column("status", "string"),
        Column("reason", "string"),
        Column("failed_step", "string"),
    ]
    cols += [Column(f"unit.{f.name}", _kind(f.type)) for f in program.unit_fields]
    steps = [s for s in (program.step(n) for n in program.order) if s is not None]
    for step in steps:
        properties = (step.output_schema or {}).get("properties", {})
        cols += [Column(f"{step.name}.{key}", _kind(schema)) for key, schema in properties.items()]
    cols += [Column(f"{s.name}.attempts", "integer") for s in steps if s.kind == "llm"]
    cols += [
        Column("attempts", "integer"),
        Column("input_tokens", "integer"),
        Column("output_tokens", "integer"),
        Column("cost_usd", "string"),
    ]
    return cols


def _cell(value: Any, kind: Kind) -> Any:
    if value is None:
        return None
    if isinstance(value, (dict, list)) or kind == "json":
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if kind == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def rows(program: ir.Program, store: RunStore, page: int = PAGE) -> Iterator[dict[str, Any]]:
    """Every unit's row, in unit order, `page` units read at a time."""
    cols = columns(program)
    kinds = {c.name: c.kind for c in cols}
    llm = [s.name for s in program.steps if s.kind == "llm"]
    last = -1
    while True:
        units = store.query(
            "SELECT id, ordinal, status, reason, failed_step, fields FROM units WHERE ordinal > ? "
            "ORDER BY ordinal LIMIT ?",
            (last, page),
        )
        if not units:
            return
        low, high = units[0][1], units[-1][1]
        within = "SELECT id FROM units WHERE ordinal BETWEEN ? AND ?"
        outputs: dict[str, dict[str, Any]] = {}
        for uid, step, output in store.query(
            f"SELECT unit_id, step, output FROM results WHERE unit_id IN ({within})", (low, high)
        ):
            outputs.setdefault(uid, {})[step] = json.loads(output)
        spent: dict[str, list[Any]] = {}
        for uid, step, count, input_tokens, output_tokens, costs in store.query(
            "SELECT unit_id, step, COUNT(*), SUM(json_extract(usage, '$.input_tokens')), "
            "SUM(json_extract(usage, '$.output_tokens')), group_concat(cost, ' ') "
            f"FROM attempts WHERE unit_id IN ({within}) GROUP BY unit_id, step",
            (low, high),
        ):
            spent.setdefault(uid, []).append((step, count, input_tokens or 0, output_tokens or 0, costs))
        for uid, ordinal, status, reason, failed_step, fields in units:
            row: dict[str, Any] = dict.fromkeys(kinds)
            row.update(unit=uid, ordinal=ordinal, status=status, reason=reason, failed_step=failed_step)
            for name, value in json.loads(fields).items():
                if f"unit.{name}" in row:
                    row[f"unit.{name}"] = _cell(value, kinds[f"unit.{name}"])
            for step, output in outputs.get(uid, {}).items():
                for key, value in output.items():
                    if f"{step}.{key}" in row:
                        row[f"{step}.{key}"] = _cell(value, kinds[f"{step}.{key}"])
            attempts = input_tokens = output_tokens = 0
            cost = Decimal(0)
            for step in llm:
                row[f"{step}.attempts"] = 0
            for step, count, step_in, step_out, costs in spent.get(uid, []):
                if f"{step}.attempts" in row:
                    row[f"{step}.attempts"] = count
                attempts += count
                input_tokens += int(step_in)
                output_tokens += int(step_out)
                cost += sum((Decimal(c) for c in (costs or "").split()), Decimal(0))
            row.update(attempts=attempts, input_tokens=input_tokens, output_tokens=output_tokens, cost_usd=str(cost))
            yield row
        last = high


def write_jsonl(program: ir.Program, store: RunStore, out: Any) -> int:
    count = 0
    for row in rows(program, store):
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count


def write_csv(program: ir.Program, store: RunStore, out: Any) -> int:
    import csv

    writer = csv.writer(out, lineterminator="\n")
    names = [c.name for c in columns(program)]
    writer.writerow(names)
    count = 0
    for row in rows(program, store):
        writer.writerow(["" if row[n] is None else _csv_text(row[n]) for n in names])
        count += 1
    return count


def _csv_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def write_parquet(program: ir.Program, store: RunStore, path: str) -> int:
    """Parquet through pyarrow (the `parquet` extra), one row group per page of units."""
    import pyarrow as pa  # type: ignore[import-not-found, unused-ignore]
    import pyarrow.parquet as pq  # type: ignore[import-not-found, unused-ignore]

    types = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}
    cols = columns(program)
    schema = pa.schema([(c.name, types.get(c.kind, pa.string())) for c in cols])
    count = 0
    batch: list[dict[str, Any]] = []
    with pq.ParquetWriter(path, schema) as writer:
        for row in rows(program, store):
            batch.append(row)
            if len(batch) == PAGE:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                count, batch = count + len(batch), []
        if batch or not count:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            count += len(batch)
    return count
