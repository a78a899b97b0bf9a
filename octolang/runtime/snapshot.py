"""One read of the run state, shaped for the scheduler's decisions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from octolang.runtime.store import RunStore

Key = tuple[str, str]  # (unit id, step)


@dataclass(slots=True)
class UnitRow:
    ordinal: int
    fields: dict[str, Any]
    status: str
    reason: str | None


@dataclass
class Snapshot:
    units: dict[str, UnitRow] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # step -> unit -> output
    open: dict[Key, int] = field(default_factory=dict)  # in-flight attempt number
    attempts: dict[Key, int] = field(default_factory=dict)  # highest attempt number
    generation: dict[Key, tuple[int, str | None]] = field(default_factory=dict)  # (gen, pending feedback)
    invalid: dict[Key, tuple[int, int, str | None]] = field(default_factory=dict)  # in this generation
    last_error: dict[Key, float] = field(default_factory=dict)  # when the latest provider error came back
    # errors that were the provider's fault (expiry, a 5xx inside the results): how many in
    # this generation, since when; never counted toward the unit, bounded by a pause
    lost: dict[Key, tuple[int, float]] = field(default_factory=dict)
    gates: dict[tuple[str, int], tuple[int, bool]] = field(default_factory=dict)  # (retries, passed)

    def done(self, unit: str, step: str) -> bool:
        outputs = self.results.get(step)
        return outputs is not None and unit in outputs


_DECODER = json.JSONDecoder()


def read_json(text: str) -> Any:
    """`json.loads` of a text the store holds, which the runtime wrote compact (nothing
    around the value): read without scanning for whitespace first, as `loads` does."""
    try:
        value, end = _DECODER.raw_decode(text)
    except ValueError:
        return json.loads(text)  # raises the error json.loads would
    return value if end == len(text) else json.loads(text)


def load_snapshot(
    store: RunStore, steps: list[str], pending_only: bool = True, *, after: int = -1, limit: int | None = None
) -> Snapshot:
    """The state of the units (pending ones, by default) in ordinal order; with `limit`,
    only a page of them: up to `limit` units whose ordinal is past `after`, and only their
    rows of the other tables (each read through the unit's key, never the whole table)."""
    snap = Snapshot()
    where = "u.status = 'pending'" if pending_only else "TRUE"
    page = ""
    args: tuple[Any, ...] = ()
    if limit is not None:
        rows = store.query(
            f"SELECT u.id, u.ordinal, u.fields, u.status, u.reason FROM units u WHERE {where} AND u.ordinal > ? "
            "ORDER BY u.ordinal LIMIT ?",
            (after, limit),
        )
        if rows:
            page = " AND u.ordinal > ? AND u.ordinal <= ?"
            args = (after, rows[-1][1])
    else:
        rows = store.query(
            f"SELECT u.id, u.ordinal, u.fields, u.status, u.reason FROM units u WHERE {where} ORDER BY u.ordinal"
        )
    loads = read_json
    for uid, ordinal, fields, status, reason in rows:
        snap.units[uid] = UnitRow(ordinal, loads(fields), status, reason)
    for step in steps:
        snap.results[step] = {}
    if limit is not None and not snap.units:
        return snap
    # A page reads only its units' rows; a whole snapshot reads every row, as it always did.
    units = f"JOIN units u ON u.id = {{table}}.unit_id WHERE {where}{page}" if page else "WHERE TRUE"

    def scoped(sql: str, table: str) -> list[Any]:
        return store.query(sql.replace("{units}", units.format(table=table)), args)

    results = snap.results
    for uid, step, output in scoped("SELECT r.unit_id, r.step, r.output FROM results r {units}", "r"):
        outputs = results.get(step)
        if outputs is not None and uid in snap.units:
            outputs[uid] = loads(output)
    for uid, step, attempt in scoped(
        "SELECT x.unit_id, x.step, x.attempt FROM attempts x {units} AND x.status IN ('queued', 'submitted')", "x"
    ):
        snap.open[(uid, step)] = attempt
    for uid, step, attempt in scoped(
        "SELECT x.unit_id, x.step, MAX(x.attempt) FROM attempts x {units} GROUP BY x.unit_id, x.step", "x"
    ):
        snap.attempts[(uid, step)] = attempt
    for uid, step, gen, feedback in scoped(
        "SELECT g.unit_id, g.step, g.generation, g.feedback FROM generations g {units}", "g"
    ):
        snap.generation[(uid, step)] = (gen, feedback)
    for uid, step, invalid, errors, lost, first_lost, last_error, problems in scoped(
        "SELECT a.unit_id, a.step, SUM(a.status = 'invalid'), "
        "SUM(a.status = 'error' AND json_extract(a.problems, '$.fault') IS NULL), "
        "SUM(a.status = 'error' AND json_extract(a.problems, '$.fault') IS NOT NULL), "
        "MIN(CASE WHEN json_extract(a.problems, '$.fault') IS NOT NULL THEN a.created_at END), "
        "MAX(CASE WHEN a.status = 'error' THEN a.finished_at END), "
        "(SELECT b.problems FROM attempts b WHERE b.unit_id = a.unit_id AND b.step = a.step "
        " ORDER BY b.attempt DESC LIMIT 1) "
        "FROM attempts a LEFT JOIN generations g ON g.unit_id = a.unit_id AND g.step = a.step "
        "{units} AND a.generation = COALESCE(g.generation, 0) AND a.status IN ('invalid', 'error') "
        "GROUP BY a.unit_id, a.step",
        "a",
    ):
        snap.invalid[(uid, step)] = (int(invalid or 0), int(errors or 0), problems)
        if lost:
            snap.lost[(uid, step)] = (int(lost), float(first_lost))
        if last_error is not None:
            snap.last_error[(uid, step)] = float(last_error)
    for uid, gate, retries, passed in scoped("SELECT t.unit_id, t.gate, t.retries, t.passed FROM gates t {units}", "t"):
        snap.gates[(uid, gate)] = (retries, bool(passed))
    return snap
