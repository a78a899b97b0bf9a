"""The units of a checked program: their stable ids and fields, in a fixed order.

A unit id is built from what makes the unit unique: the row's key (or its position),
each `vary` value and the trial number, e.g. `name=Tam/style=direct` or
`start=5/trial=17`. Ids do not depend on how many other units there are, so a unit's
random stream (derived from the id) is unchanged when units are added or removed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from octolang import ir
from octolang.data import read_rows
from octolang.expressions import evaluate


@dataclass(frozen=True)
class Unit:
    ordinal: int
    id: str
    fields: dict[str, Any]


def _escape(value: Any) -> str:
    text = str(value)
    return text.replace("%", "%25").replace("/", "%2F").replace("=", "%3D")


def enumerate_units(program: ir.Program, limit: int | None = None) -> Iterator[Unit]:
    """Rows x each `vary` x trials, rows outermost. `limit` keeps the first N (`--max-units`)."""
    decl = program.units[0]
    consts = {c.name: c.resolved for c in program.consts}
    rows: list[tuple[str | None, dict[str, Any]]]
    if decl.source_path is not None:
        data = read_rows(decl.source_path, name=decl.source.value if decl.source else None)
        if decl.limit is not None:
            data = data[: decl.limit]
        rows = [(_row_part(decl, i, r), r) for i, r in enumerate(data, start=1)]
    elif decl.rows:
        evaluated = [{f.name: evaluate(f.value, consts) for f in row.fields} for row in decl.rows]
        if decl.limit is not None:
            evaluated = evaluated[: decl.limit]
        rows = [(_row_part(decl, i, r), r) for i, r in enumerate(evaluated, start=1)]
    else:
        rows = [(None, {})]
    axes = [[(v.name, value) for value in v.resolved] for v in decl.vary]
    trials = range(1, decl.trials + 1) if decl.trials is not None else [None]
    ordinal = 0
    for row_part, row in rows:
        for combo in itertools.product(*axes):
            for trial in trials:
                if limit is not None and ordinal >= limit:
                    return
                parts = [row_part] if row_part else []
                parts += [f"{name}={_escape(value)}" for name, value in combo]
                fields = dict(row)
                fields.update(combo)
                if trial is not None:
                    parts.append(f"trial={trial}")
                    fields["trial"] = trial
                yield Unit(ordinal, "/".join(parts) or "unit", fields)
                ordinal += 1


def _row_part(decl: ir.UnitsDecl, index: int, row: dict[str, Any]) -> str:
    if decl.key is not None:
        return f"{decl.key}={_escape(row.get(decl.key))}"
    return f"row={index}"
