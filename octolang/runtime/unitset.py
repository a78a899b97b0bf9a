"""The units of a checked program: their stable ids and fields, in a fixed order.

A unit id is built from what makes the unit unique: the row's key (or its position),
each `vary` value and the trial number, e.g. `name=Tam/style=direct` or
`start=5/trial=17`. Ids do not depend on how many other units there are, so a unit's
random stream (derived from the id) is unchanged when units are added or removed.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any, NamedTuple

from octolang import ir
from octolang.data import read_rows
from octolang.expressions import evaluate


class Unit(NamedTuple):  # a tuple: made hundreds of thousands of times per run
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
            # what the trials of this row and combination share, made once
            parts = [row_part] if row_part else []
            parts += [f"{name}={_escape(value)}" for name, value in combo]
            prefix = "/".join(parts)
            shared = dict(row)
            shared.update(combo)
            for trial in trials:
                if limit is not None and ordinal >= limit:
                    return
                if trial is None:
                    yield Unit(ordinal, prefix or "unit", shared.copy())
                else:
                    fields = shared.copy()
                    fields["trial"] = trial
                    yield Unit(ordinal, f"{prefix}/trial={trial}" if prefix else f"trial={trial}", fields)
                ordinal += 1


def _row_part(decl: ir.UnitsDecl, index: int, row: dict[str, Any]) -> str:
    if decl.key is not None:
        return f"{decl.key}={_escape(row.get(decl.key))}"
    return f"row={index}"


def _same_text(old: Any, new: Any) -> bool:
    """The same cell read as another type (`1` as text, `1` as `1.0`)."""
    if isinstance(old, bool) or isinstance(new, bool):
        return str(old).lower() == str(new).lower()
    if isinstance(old, (int, float)) and isinstance(new, (int, float)):
        return bool(old == new)
    return str(old) == str(new)


def retyped_columns(old: dict[str, Any], new: dict[str, Any]) -> set[str] | None:
    """The columns whose value differs only by its type between two readings of one unit's
    row; None when the row itself was edited."""
    if set(old) != set(new):
        return None
    columns = set()
    for name, value in old.items():
        if value == new[name] and type(value) is type(new[name]):
            continue
        if value is None or new[name] is None or not _same_text(value, new[name]):
            return None
        columns.add(name)
    return columns


def explain_changed(
    decl: ir.UnitsDecl, changed: list[tuple[str, dict[str, Any], dict[str, Any]]], added: list[Unit]
) -> str:
    """Why units' data differ from the run's: a value of an added row retyped a whole column,
    or rows were edited (or moved, without a key)."""
    retyped: set[str] = set()
    for _, old, new in changed:
        columns = retyped_columns(old, new)
        if columns is None:
            retyped = set()
            break
        retyped |= columns
    source = os.path.basename(decl.source_path) if decl.source_path else "the data"
    if retyped:
        column = sorted(retyped)[0]
        kind = type(changed[0][1][column]).__name__
        culprit = next((u for u in added if not _fits(u.fields.get(column), kind)), None)
        now_read = _NOUNS.get(type(changed[0][2][column]).__name__, "text")
        where = f" (first: unit `{culprit.id}`, `{column}` = {culprit.fields.get(column)!r})" if culprit else ""
        return (
            f"a row added to {source} has a value in column `{column}` that is not {_article(kind)}{where}, so the "
            f"whole column would now be read as {now_read}, changing the data of "
            f"{len(changed)} unit(s) already in the run. Fix that value, or start a new run with `--fresh`."
        )
    first = changed[0][0]
    if decl.key is not None:
        return (
            f"the data of {len(changed)} unit(s) changed since the run started (first: `{first}`): rows were "
            f"edited in {source}. Their results so far belong to the old data: undo the edit, give an edited "
            "row a new key to make it a new unit, or start a new run with `--fresh`."
        )
    return (
        f"the data of {len(changed)} unit(s) changed since the run started (first: `{first}`): "
        "rows moved or were edited. Give the units a `key` column so that rows keep their identity, "
        "or start a new run with `--fresh`."
    )


def _fits(value: Any, kind: str) -> bool:
    """Whether a cell would have been read as `kind` on its own."""
    if value is None:
        return True
    text = str(value).strip()
    try:
        if kind == "int":
            return text.lstrip("+-").isdigit()
        if kind == "float":
            float(text)
            return True
    except ValueError:
        return False
    if kind == "bool":
        return text.lower() in ("true", "false")
    return True


_NOUNS = {"str": "text", "float": "numbers", "int": "whole numbers", "bool": "true or false"}


def _article(kind: str) -> str:
    return {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "text"}.get(kind, kind)
