"""A run's units as rows of its state: inserted when the run is made, and those the data
file gained added when it resumes."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from octolang import ir
from octolang.paths import open_regular
from octolang.runtime.runs import RunRefused
from octolang.runtime.store import RunStore
from octolang.runtime.unitset import Unit, enumerate_units, explain_changed

UNIT_BATCH = 20_000
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def add_units(store: RunStore, program: ir.Program, limit: int | None) -> None:
    """Insert the units the run does not have yet (all of them, or the first `limit`).

    Units are matched by id (key column, row number, vary values, trial): rows appended to
    the data file, or inserted anywhere when it has a key column, are added on resume. A
    unit whose fields changed under the same id refuses the resume: its results so far
    would belong to other data."""
    digest = _units_digest(program, limit)
    if store.meta().get("units_digest") == digest:
        return  # nothing changed since the last tick: skip reading every unit back
    existing = dict(store.query("SELECT id, fields FROM units"))
    next_ordinal = int(store.query("SELECT COALESCE(MAX(ordinal) + 1, 0) FROM units")[0][0])
    changed: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    added: list[Unit] = []
    batch: list[tuple[str, int, str]] = []
    seen: set[str] = set()
    # Into a run without units, every unit goes in streaming: nothing is kept per unit (a
    # duplicate id shows as a row the insert ignored).
    fresh = not existing
    for unit in enumerate_units(program, limit):
        if not fresh:
            if unit.id in seen:  # the checker refuses such data (E0204, E0205); never merge two units into one
                raise RunRefused(f"two units have the id `{unit.id}`; run `octoc check` on the file")
            seen.add(unit.id)
        fields = _COMPACT.encode(unit.fields)  # json.dumps(fields, separators=(",", ":")), its encoder built once
        old = existing.get(unit.id)
        if old is None:
            if not fresh:
                added.append(unit)
            batch.append((unit.id, next_ordinal, fields))
            next_ordinal += 1
            if len(batch) >= UNIT_BATCH and not changed:
                insert_units(store, batch)
                batch = []
        elif old != fields:
            changed.append((unit.id, json.loads(old), unit.fields))
    if changed:
        raise RunRefused(explain_changed(program.units[0], changed, added))
    if batch:
        insert_units(store, batch)
    with store.transaction() as db:
        store.set_meta(db, units_digest=digest)


def _units_digest(program: ir.Program, limit: int | None) -> str:
    decl = program.units[0]
    h = hashlib.sha256(json.dumps([limit, decl.model_dump(mode="json", exclude={"span"})], default=str).encode())
    if decl.source_path is not None:
        try:
            with open_regular(decl.source_path) as f:  # not a FIFO swapped in since the check
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        except OSError:
            pass  # the units are read (and the error reported) by enumerate_units
    return h.hexdigest()


def insert_units(store: RunStore, rows: list[tuple[str, int, str]]) -> None:
    with store.transaction() as db:
        before = db.total_changes
        db.executemany("INSERT OR IGNORE INTO units (id, ordinal, fields) VALUES (?, ?, ?)", rows)
        if db.total_changes - before < len(rows):  # an ignored row: its id was taken by another unit
            for uid, ordinal, _ in rows:
                if db.execute("SELECT ordinal FROM units WHERE id = ?", (uid,)).fetchone() != (ordinal,):
                    # the checker refuses such data (E0204, E0205); never merge two units into one
                    raise RunRefused(f"two units have the id `{uid}`; run `octoc check` on the file")
